using DistEmbed;
using DistEmbed.Core.Reference;
using DistEmbed.Data;
using DistEmbed.Evaluation;
using DistEmbed.IO;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# examples of docs/getting-started.md.</summary>
[Collection("Console")]
public sealed class GettingStartedExamples : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-getting-started-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ThreeLines()
    {
        #region snippet:getting-started-three-lines
        float[,,] a = { { { 0f, 0f }, { 1f, 0f }, { 0f, 1f } }, { { 2f, 2f }, { 3f, 2f }, { 2f, 3f } } };  // 2 distributions of 3 points in ℝ²
        float[,,] b = { { { 0f, 0f }, { 1f, 1f } }, { { 5f, 5f }, { 6f, 5f } } };                         // 2 distributions of 2 points
        double[,] d = ArrayDistances.Pairwise(a, b, "marginal-w2");                                       // d[i, j] = MW₂(a_i, b_j)
        #endregion
        Assert.Equal((2, 2), (d.GetLength(0), d.GetLength(1)));
        // b_1 is a_0 shifted far away, so it is farther from a_0 than b_0 is.
        Assert.True(d[0, 1] > d[0, 0]);
        var expected = MarginalWasserstein.Wasserstein(2.0, Empirical.Uniform(new double[,] { { 0, 0 }, { 1, 0 }, { 0, 1 } }),
            Empirical.Uniform(new double[,] { { 0, 0 }, { 1, 1 } }));
        Assert.Equal(expected, d[0, 0], 9);
    }

    [Fact]
    public void MasksAndPairedDistances()
    {
        #region snippet:getting-started-masks
        // 8 distributions in ℝ³ of 10 to 30 points each, padded to 30: points [8, 30, 3], mask [8, 30] (1 = point, 0 = padding).
        var (x, xMask) = RandomDistributions.Generate(count: 8, minLength: 10, maxLength: 30, dimension: 3, seed: 1);
        var (y, yMask) = RandomDistributions.Generate(count: 8, minLength: 10, maxLength: 30, dimension: 3, seed: 2);

        double[] paired = ArrayDistances.Paired(x, y, "sliced-w2",
            new DistanceSettings { Projections = 128, Seed = 7 }, xMask, yMask);                // SW₂(x_i, y_i), 8 values
        double[,] self = ArrayDistances.Pairwise(x, x, "energy", aMask: xMask, bMask: xMask);   // 8 × 8, zero diagonal
        #endregion
        Assert.Equal(8, paired.Length);
        Assert.All(paired, v => Assert.True(v > 0));
        for (var i = 0; i < 8; i++) Assert.InRange(Math.Abs(self[i, i]), 0, 1e-9);
    }

    [Fact]
    public void BadInputSaysWhatIsWrong()
    {
        float[,,] a = new float[2, 3, 2], b = new float[2, 3, 2];
        #region snippet:getting-started-errors
        try
        {
            ArrayDistances.Pairwise(a, b, "wasserstein");
        }
        catch (ArgumentException e)
        {
            Console.WriteLine($"{e.ParamName}: {e.Message}");   // name: distance 'wasserstein' is unknown; valid names: euclidean, …
        }
        #endregion
        var error = Assert.Throws<ArgumentException>(() => ArrayDistances.Pairwise(a, b, "wasserstein"));
        Assert.Equal("name", error.ParamName);
        Assert.Contains("marginal-w2", error.Message);
    }

    [Fact]
    public void TensorsAndGradients()
    {
        #region snippet:getting-started-tensors
        var distance = Distance.Create("sinkhorn-divergence", new DistanceSettings { Epsilon = 0.5 });
        var points = torch.randn(new long[] { 6, 20, 2 }, dtype: torch.float64, generator: torch.manual_seed(3)).requires_grad_(true);
        var targets = torch.randn(new long[] { 6, 15, 2 }, dtype: torch.float64, generator: torch.manual_seed(4));
        using var a = EmbeddingBatch.Distributions(points);             // uniform weights
        using var b = EmbeddingBatch.Distributions(targets);
        using var loss = distance.Paired(a, b).sum();                   // Σ_i S_ε(a_i, b_i)
        loss.backward();                                                // ∂loss/∂points in points.grad
        #endregion
        Assert.Equal(new long[] { 6, 20, 2 }, points.grad!.shape);
        Assert.True(loss.item<double>() > 0);
        Assert.True(points.grad.abs().sum().item<double>() > 0);
    }

    [Fact]
    public void NumPyFiles()
    {
        var folder = _dir;
        #region snippet:getting-started-npy
        var (p, mask) = RandomDistributions.Generate(count: 5, minLength: 4, maxLength: 9, dimension: 2, seed: 11);
        var pointsFile = Path.Combine(folder, "points.npy");
        var maskFile = Path.Combine(folder, "points.mask.npy");
        Npy.Write(pointsFile, p.Cast<float>().ToArray(), [5, 9, 2]);    // float32 [5, 9, 2], written atomically
        Npy.Write(maskFile, mask.Cast<float>().ToArray(), [5, 9]);

        var distance = Distance.Create("marginal-w1");
        using var batch = Embeddings.Load(pointsFile, maskFile, distance.Accepts);   // distributions [5, 9, 2]
        using var matrix = distance.Pairwise(batch, batch);                           // [5, 5] tensor
        #endregion
        Assert.Equal(new long[] { 5, 5 }, matrix.shape);
        var fromArrays = ArrayDistances.Pairwise(p, p, "marginal-w1", aMask: mask, bMask: mask);
        Assert.Equal(fromArrays[1, 3], matrix[1, 3].item<float>(), 4);
    }

    [Fact]
    public void EvaluateYourOwnEmbeddings()
    {
        var random = new Random(3);
        int[] labels = Enumerable.Range(0, 60).Select(i => i % 6).ToArray();
        float[,] embeddings = new float[60, 16];
        for (var i = 0; i < 60; i++)
            for (var k = 0; k < 16; k++) embeddings[i, k] = (float)(labels[i] == k % 6 ? 1.0 : 0.0) + (float)random.NextDouble();
        #region snippet:getting-started-evaluate
        // embeddings: float[N, d] from any model; labels: int[N] class ids.
        EvaluationReport report = EmbeddingEvaluation.Evaluate(embeddings, labels);             // euclidean
        Console.WriteLine($"P@1 {report.PrecisionAt1:F3}  R-precision {report.RPrecision:F3}  MAP@R {report.MapAtR:F3}");
        Console.WriteLine($"recall@5 {report.RecallAtK[5]:F3}  MRR {report.MeanReciprocalRank:F3}  AUC {report.RocAuc:F3}  EER {report.EqualErrorRate:F3}  NMI {report.Nmi:F3}");

        var cosine = EmbeddingEvaluation.Evaluate(embeddings, labels, new EvaluationOptions { Distance = "cosine" });
        #endregion
        Assert.InRange(report.MapAtR, 0.0, 1.0);
        Assert.Equal("cosine", cosine.Distance);
        Assert.True(report.PrecisionAt1 > 1.0 / 6, "the class signal is visible");
    }
}
