using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using DistEmbed.Verification;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace VerificationSample;

/// <summary>A learned Bregman divergence (an input-convex network as its generator φ), trained for a few steps
/// with a triplet loss, then verified: the divergence laws, the convexity and gradient of φ, autograd of D.</summary>
public sealed class TrainedBregmanTests
{
    private const int Dimension = 4;

    /// <summary>Three classes in 4 dimensions: class means on a circle in the first two axes, uniform noise.</summary>
    private static (Tensor X, Tensor Labels) Blobs(int perClass, int seed)
    {
        var rng = new Random(seed);
        var n = 3 * perClass;
        var x = new double[n * Dimension];
        var labels = new long[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = i % 3;
            for (var k = 0; k < Dimension; k++)
                x[i * Dimension + k] = (k < 2 ? 1.2 * Math.Cos(2 * Math.PI * labels[i] / 3 + k * Math.PI / 2) : 0.0) + rng.NextDouble() - 0.5;
        }
        return (torch.tensor(x).reshape(n, Dimension), torch.tensor(labels));
    }

    private static ConvexGenerator Train()
    {
        var generator = ConvexGenerators.Create("icnn", Dimension, new GeneratorOptions { Hidden = [16, 16], Seed = 3 }, ScalarType.Float64, null);
        var divergence = new BregmanDivergence(generator);
        var (x, y) = Blobs(12, 5);
        var batch = VectorBatch.FromTensor(x);
        using var optimizer = torch.optim.AdamW(generator.parameters(), lr: 0.02);
        var options = new TripletMarginLossOptions { Margin = 0.5 };
        for (var step = 0; step < 40; step++)
        {
            using var scope = torch.NewDisposeScope();
            var triplets = Miners.BatchHard(batch, y, divergence);
            var loss = TripletMarginLoss.Compute(batch, y, divergence, triplets, options);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        return generator;
    }

    private static readonly Lazy<ConvexGenerator> Trained = new(Train);

    private static readonly VerificationOptions Options = new() { Cases = 100, Seed = 11, MaxScale = 10 };

    [Fact]
    public void TheTrainedDivergenceIsNonNegativeAndZeroOnTheDiagonal() =>
        Laws.Divergence(new BregmanDivergence(Trained.Value), Options);

    [Fact]
    public void TheTrainedDivergenceKeepsItsDeclaredLawsAndPairwiseAgreesWithPaired() =>
        Laws.Declared(new BregmanDivergence(Trained.Value), Options);

    [Fact]
    public void TheTrainedGeneratorIsConvexAndItsGradientIsRight()
    {
        Laws.GeneratorConvexity(Trained.Value, Options);
        Laws.GeneratorGradient(Trained.Value, Options);
    }

    [Fact]
    public void TheTrainedDivergenceGradientsMatchFiniteDifferences() =>
        Laws.Gradients(new BregmanDivergence(Trained.Value), Options);
}
