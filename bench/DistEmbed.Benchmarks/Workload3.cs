using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>W3: paired log-domain Sinkhorn, squared Euclidean cost, ε = 0.05·mean(C), exactly 100 iterations.</summary>
public static class Workload3
{
    public static torch.Tensor Run(DistributionBatch x, DistributionBatch y)
    {
        double epsilon;
        using (torch.no_grad())
        using (var c = Sinkhorn.Cost(x, y, 2))
            epsilon = 0.05 * c.mean().ToDouble();
        // No early stop: the tolerance is never reached and the single check falls after the last iteration.
        var options = new SinkhornOptions(epsilon, 2, 100, 1e-300, 100, 0.0, SinkhornGradient.Envelope, 256, false);
        using var _ = torch.no_grad();
        using var result = Sinkhorn.Solve(x, y, options);
        return result.TransportCost.alias();
    }
}
