using DistEmbed.Core;
using DistEmbed.Evaluation;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// Retrieval at scale through the facade: the bounded-memory retrieval metrics equal the in-memory ones, and the
/// Euclidean exports are isometries of the Wasserstein distances they stand for.
/// </summary>
public sealed class RetrievalAtScaleTests
{
    private static (float[,] X, int[] Labels) Clusters(int n, int d, int classes, int seed)
    {
        var random = new Random(seed);
        var x = new float[n, d];
        var labels = new int[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = random.Next(classes);
            for (var k = 0; k < d; k++)
                x[i, k] = (float)(labels[i] * (k % 2 == 0 ? 0.5 : -0.3) + random.NextDouble() * 2 - 1);
        }
        return (x, labels);
    }

    [Fact]
    public void EvaluateRetrievalEqualsTheInMemoryEvaluationWhateverTheBand()
    {
        var (x, labels) = Clusters(90, 5, 4, 7);
        using var values = torch.tensor(x).to_type(torch.ScalarType.Float64);
        using var batch = EmbeddingBatch.Vectors(values);
        var longLabels = labels.Select(l => (long)l).ToArray();
        foreach (var name in new[] { "euclidean", "cosine" })
        {
            var d = Catalog.CreateDistance(name, null);
            var full = EmbeddingEvaluation.Evaluate(batch, longLabels, d, new EvaluationOptions { RecallAtK = [1, 4, 89] });
            foreach (var band in new long[] { 0, 1, 89, 500 })
            {
                var streamed = EmbeddingEvaluation.EvaluateRetrieval(batch, longLabels, d, new EvaluationOptions { RecallAtK = [1, 4, 89], BandElements = band });
                Assert.Equal(full.PrecisionAt1, streamed.PrecisionAt1);
                Assert.Equal(full.RPrecision, streamed.RPrecision);
                Assert.Equal(full.MapAtR, streamed.MapAtR);
                Assert.Equal(full.MeanAveragePrecision, streamed.MeanAveragePrecision);
                Assert.Equal(full.MeanReciprocalRank, streamed.MeanReciprocalRank);
                Assert.Equal(full.RecallAtK, streamed.RecallAtK);
                Assert.Equal(full.EvaluatedQueries, streamed.EvaluatedQueries);
                Assert.Equal(90, streamed.Count);
                Assert.Equal(name, streamed.Distance);
            }
        }
        var fromArray = EmbeddingEvaluation.EvaluateRetrieval(x, labels, new EvaluationOptions { BandElements = 200 });
        Assert.InRange(fromArray.PrecisionAt1, 0.0, 1.0);
        Assert.Equal([1, 5, 10], fromArray.RecallAtK.Keys.Order().ToArray());
    }

    [Fact]
    public void EvaluateRetrievalRejectsBadOptionsNamingThem()
    {
        var (x, labels) = Clusters(10, 2, 2, 1);
        var e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.EvaluateRetrieval(x, labels, new EvaluationOptions { BandElements = -5 }));
        Assert.Equal("options", e.ParamName);
        Assert.Contains("BandElements", e.Message);
        e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.EvaluateRetrieval(x, labels, new EvaluationOptions { Distance = "marginal-w2" }));
        Assert.Equal("options", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.EvaluateRetrieval(x, labels.Take(3).ToArray()));
        Assert.Equal("labels", e.ParamName);
    }

    private static double[,] L2(torch.Tensor exported)
    {
        using var scope = torch.NewDisposeScope();
        var x = exported.to_type(torch.ScalarType.Float64);
        var n = (int)x.shape[0];
        var d = x.unsqueeze(1).sub(x.unsqueeze(0)).pow(2).sum(2).sqrt().contiguous().data<double>().ToArray();
        var m = new double[n, n];
        for (var i = 0; i < n; i++) for (var j = 0; j < n; j++) m[i, j] = d[i * n + j];
        return m;
    }

    private static void AssertSameMatrix(torch.Tensor expected, double[,] actual, double tolerance)
    {
        using var scope = torch.NewDisposeScope();
        var e = expected.to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray();
        var n = actual.GetLength(0);
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                Assert.True(Math.Abs(e[i * n + j] - actual[i, j]) <= tolerance, $"[{i},{j}]: distance {e[i * n + j]}, export {actual[i, j]}");
    }

    [Fact]
    public void ToEuclideanIsAnIsometryOfQuantileMarginalAndSlicedW2()
    {
        using var scope = torch.NewDisposeScope();
        var g = new torch.Generator(11);
        var quantiles = EmbeddingBatch.Quantiles(torch.randn([6, 3, 8], generator: g, dtype: torch.ScalarType.Float64).sort(2).Values);
        AssertSameMatrix(Catalog.CreateDistance("quantile-w2", null).Pairwise(quantiles, quantiles), L2(quantiles.ToEuclidean()), 1e-9);
        AssertSameMatrix(Catalog.CreateDistance("quantile-w2", null).Pairwise(quantiles, quantiles),
            L2(quantiles.ToEuclidean(Catalog.CreateDistance("quantile-w2", null))), 1e-9);

        var points = EmbeddingBatch.Distributions(torch.randn([5, 7, 2], generator: g, dtype: torch.ScalarType.Float64));
        AssertSameMatrix(Catalog.CreateDistance("marginal-w2", null).Pairwise(points, points), L2(points.ToEuclidean()), 1e-9);

        var directions = torch.randn([4, 2], generator: g, dtype: torch.ScalarType.Float64);
        var sliced = Catalog.CreateDistance("sliced-w2", new DistanceSettings { Directions = directions });
        AssertSameMatrix(sliced.Pairwise(points, points), L2(points.ToEuclidean(directions)), 1e-9);

        var e = Assert.Throws<ArgumentException>(() => points.ToEuclidean(Catalog.CreateDistance("sinkhorn", null)));
        Assert.Equal("distance", e.ParamName);
        Assert.Contains("re-rank", e.Message);
        var padded = EmbeddingBatch.Distributions(torch.ones([2, 3, 1], dtype: torch.ScalarType.Float64), torch.tensor(new double[,] { { 1, 1, 1 }, { 1, 1, 0 } }));
        e = Assert.Throws<ArgumentException>(() => padded.ToEuclidean());
        Assert.Equal("batch", e.ParamName);
        Assert.Contains("row 1 has padding", e.Message);
    }
}
