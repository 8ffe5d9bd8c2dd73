using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# examples of docs/bregman.md: a deep Bregman model trained and evaluated on held-out classes, and a
/// convex generator trained directly with the toolkit's miner and triplet loss.</summary>
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
    public void TrainADeepBregmanModelAndEvaluateOnHeldOutClasses()
    {
        using var scope = torch.NewDisposeScope();
        var (trainX, trainY) = Points([0, 1, 2, 3, 4], perClass: 40, seed: 1);
        var (testX, testY) = Points([5, 6, 7], perClass: 20, seed: 2);          // classes never seen in training
        #region snippet:bregman-deep
        // An MLP backbone (6 → 32 → 8, L2-normalised) with a learned ICNN generator φ on the embeddings.
        var options = new DeepBregmanOptions
        {
            Divergence = "icnn", Hidden = 32, EmbeddingDimension = 8, Generator = new GeneratorOptions { Hidden = [16] },
            Epochs = 4, ClassesPerBatch = 5, ItemsPerClass = 8, LearningRate = 5e-3, Seed = 0,
        };
        using var model = new DeepBregmanModel(inputDimension: 6, options, torch.CPU);
        EpochReport[] epochs = model.Fit(trainX, trainY, e => Console.WriteLine($"epoch {e.Epoch}: loss {e.MeanLoss:F4}"));

        // Leave-one-out retrieval on held-out classes under the learned divergence D_φ.
        RetrievalReport report = model.Evaluate(testX, testY);
        Console.WriteLine($"P@1 {report.PrecisionAt1:F3}  R-precision {report.RPrecision:F3}  MAP@R {report.MapAtR:F3}");

        // The learned divergence is an IDistance: D[i, j] = D_φ(e_i, e_j) between embeddings (not symmetric).
        using var embeddings = VectorBatch.FromTensor(model.Embed(testX, batchSize: 256));
        Tensor d = model.Distance.Pairwise(embeddings, embeddings);       // [60, 60], zero diagonal
        #endregion
        Assert.Equal(4, epochs.Length);
        Assert.All(epochs, e => Assert.True(double.IsFinite(e.MeanLoss)));
        Assert.Equal("bregman-icnn", model.Distance.Name);
        Assert.True(report.PrecisionAt1 > 0.6, $"P@1 on held-out classes = {report.PrecisionAt1}");
        Assert.Equal(new long[] { 60, 60 }, d.shape);
        Assert.True(d.min().item<float>() >= -1e-5f, "a Bregman divergence is ≥ 0");
        Assert.Equal(0.0, d.diagonal().abs().max().item<float>(), 1e-5);
    }

    [Fact]
    public void TrainAConvexGeneratorWithTheTripletLoss()
    {
        using var scope = torch.NewDisposeScope();
        var (x, labels) = Points([0, 1, 2], perClass: 12, seed: 3);   // neighbouring classes: the loss starts above 0
        #region snippet:bregman-generator
        // φ: an input-convex network on ℝ⁶; D_φ(x, y) = φ(x) − φ(y) − ⟨∇φ(y), x − y⟩ is an IDistance on VectorBatch.
        using var generator = ConvexGenerators.Create("icnn", 6, new GeneratorOptions { Hidden = [16], Seed = 1 }, ScalarType.Float32, null);
        var divergence = new BregmanDivergence(generator);
        var batch = VectorBatch.FromTensor(x);                              // x: [N, 6] float32
        var y = torch.tensor(labels);
        using var optimizer = torch.optim.AdamW(generator.parameters(), lr: 0.02);
        var lossOptions = new TripletMarginLossOptions { Margin = 1.0 };
        for (var step = 0; step < 30; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            var triplets = Miners.BatchHard(batch, y, divergence);          // mined under D_φ
            var loss = TripletMarginLoss.Compute(batch, y, divergence, triplets, lossOptions);
            optimizer.zero_grad();
            loss.backward();                                                // through ∇φ (create_graph)
            optimizer.step();
        }
        #endregion
        using var _ = torch.no_grad();
        var after = TripletMarginLoss.Compute(batch, y, divergence, null, lossOptions).item<float>();
        using var fresh = ConvexGenerators.Create("icnn", 6, new GeneratorOptions { Hidden = [16], Seed = 1 }, ScalarType.Float32, null);
        var before = TripletMarginLoss.Compute(batch, y, new BregmanDivergence(fresh), null, lossOptions).item<float>();
        Assert.True(before > 0, $"the untrained loss should be positive ({before})");
        Assert.True(after < before, $"the triplet loss should go down ({before} → {after})");
    }
}
