using DistEmbed;
using DistEmbed.Bregman;
using DistEmbed.Evaluation;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# examples of docs/bregman.md: convex generators and their Bregman divergences through the facade, and
/// a convex generator trained directly with a triplet loss over its divergence.</summary>
[Collection("Console")]
public sealed class BregmanGuideExamples
{
    /// <summary>
    /// Inputs [N, 6] of the given classes: class k has its mean at angle 2πk/8 on a circle of radius 2 in the first two
    /// coordinates; every coordinate carries uniform noise in [−½, ½].
    /// </summary>
    private static (Tensor X, long[] Labels) Points(int[] classes, int perClass, int seed)
    {
        var rng = new Random(seed);
        var labels = new long[classes.Length * perClass];
        var x = new float[labels.Length * 6];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = classes[i % classes.Length];
            var angle = 2 * Math.PI * labels[i] / 8;
            for (var k = 0; k < 6; k++)
                x[i * 6 + k] = (float)((k == 0 ? 2 * Math.Cos(angle) : k == 1 ? 2 * Math.Sin(angle) : 0.0) + rng.NextDouble() - 0.5);
        }
        return (torch.tensor(x).reshape(labels.Length, 6), labels);
    }

    [Fact]
    public void EvaluateConvexGeneratorsAndTheirDivergences()
    {
        using var scope = torch.NewDisposeScope();
        var (x, labels) = Points([0, 1, 2, 3, 4], perClass: 12, seed: 1);
        var y = x.roll(1, 0);                                                    // other points of ℝ⁶
        #region snippet:bregman-divergence
        // φ(x) = max_k (w_kᵀx + c_k) + ½ε‖x‖² with K = 8 pieces on ℝ⁶, and an input-convex network; ε = 1 by default.
        using var maxAffine = ConvexGenerator.MaxAffine(dimension: 6, pieces: 8, seed: 1);
        using var icnn = ConvexGenerator.Icnn(dimension: 6, hidden: [32, 32], seed: 1);

        Tensor phi = icnn.Value(x);                                // [N]: φ(x_i)
        Tensor paired = icnn.Divergence(x, y);                     // [N]: D_φ(x_i, y_i) ≥ 0, y_i the point of linearisation
        Tensor pairwise = maxAffine.PairwiseDivergence(x, x);      // [N, N]: D_φ(x_i, x_j), zero diagonal, not symmetric

        // The divergence is a Distance: retrieval of each point among the others under D_φ(query, gallery item).
        EvaluationReport report = EmbeddingEvaluation.Evaluate(EmbeddingBatch.Vectors(x), labels, maxAffine.Distance);
        Console.WriteLine($"{maxAffine.Distance.Name}: P@1 {report.PrecisionAt1:F3}, MAP@R {report.MapAtR:F3}");
        #endregion
        Assert.Equal(new long[] { 60 }, phi.shape);
        Assert.True(paired.min().item<float>() >= -1e-5f, "a Bregman divergence is ≥ 0");
        Assert.Equal(new long[] { 60, 60 }, pairwise.shape);
        Assert.Equal(0.0, pairwise.diagonal().abs().max().item<float>(), 1e-5);
        Assert.Equal("bregman-max-affine", maxAffine.Distance.Name);
        Assert.True(report.PrecisionAt1 > 0.8, $"P@1 {report.PrecisionAt1}: the ½‖x − y‖² term alone separates these classes");
    }

    /// <summary>The batch-hard triplet loss with margin 1 under D_φ (the loss of the example), without gradient.</summary>
    private static float BatchHardLoss(ConvexGenerator generator, Tensor x, long[] labels)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var y = torch.tensor(labels);
        var same = y.unsqueeze(1).eq(y.unsqueeze(0));
        var d = generator.PairwiseDivergence(x, x);
        var (hardestPositive, _) = d.masked_fill(same.logical_not(), float.NegativeInfinity).max(1);
        var (hardestNegative, _) = d.masked_fill(same, float.PositiveInfinity).min(1);
        return (hardestPositive - hardestNegative + 1.0).relu().mean().item<float>();
    }

    [Fact]
    public void TrainAConvexGeneratorWithTheTripletLoss()
    {
        using var scope = torch.NewDisposeScope();
        var (x, labels) = Points([0, 1, 2], perClass: 12, seed: 3);   // neighbouring classes: the loss starts above 0
        #region snippet:bregman-generator
        // φ: an input-convex network on ℝ⁶ (x: [N, 6] float32, labels: long[]); its parameters are a TorchSharp module.
        using var generator = ConvexGenerator.Icnn(dimension: 6, hidden: [16], seed: 1);
        using var optimizer = torch.optim.AdamW(generator.Module.parameters(), lr: 0.02);
        var y = torch.tensor(labels);
        var same = y.unsqueeze(1).eq(y.unsqueeze(0));                     // [N, N]: same class
        for (var step = 0; step < 30; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            var d = generator.PairwiseDivergence(x, x);                    // D_φ(anchor, other), differentiable through ∇φ
            var (hardestPositive, _) = d.masked_fill(same.logical_not(), float.NegativeInfinity).max(1);
            var (hardestNegative, _) = d.masked_fill(same, float.PositiveInfinity).min(1);
            var loss = (hardestPositive - hardestNegative + 1.0).relu().mean();   // batch-hard triplet loss, margin 1
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        #endregion
        var after = BatchHardLoss(generator, x, labels);
        using var fresh = ConvexGenerator.Icnn(dimension: 6, hidden: [16], seed: 1);
        var before = BatchHardLoss(fresh, x, labels);
        Assert.True(before > 0, $"the untrained loss should be positive ({before})");
        Assert.True(after < before, $"the triplet loss should go down ({before} → {after})");
    }
}
