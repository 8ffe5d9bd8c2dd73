using DistEmbed.Core;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests;

/// <summary>The metric-learning toolkit (losses, miners, samplers, metrics) used from C#, as a user would.</summary>
public sealed class ToolkitConsumerTests
{
    /// <summary>Three classes of 2-D points hidden among 6 noisy dimensions.</summary>
    private static (Tensor X, long[] Labels) Blobs(int perClass, int seed)
    {
        var rng = new Random(seed);
        var labels = new long[3 * perClass];
        var x = new float[3 * perClass * 8];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = i % 3;
            for (var k = 0; k < 8; k++)
                x[i * 8 + k] = (float)((k < 2 ? 0.6 * Math.Cos(2 * Math.PI * labels[i] / 3 + k * Math.PI / 2) : 0.0) + 1.5 * (rng.NextDouble() - 0.5));
        }
        return (torch.tensor(x).reshape(labels.Length, 8), labels);
    }

    [Fact]
    public void BatchHardTripletTrainingImprovesRetrieval()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        var (x, labels) = Blobs(20, 3);
        var y = torch.tensor(labels);
        var w = new TorchSharp.Modules.Parameter(torch.randn(8, 4).mul_(0.3));
        var distance = Distances.Create("euclidean", null);
        var optimizer = torch.optim.Adam([w], lr: 0.05);
        double Evaluate()
        {
            using var _ = torch.no_grad();
            using var e = VectorBatch.FromTensor(x.matmul(w));
            return EmbeddingMetrics.RetrievalWithin(distance, e, labels, [1]).MapAtR;
        }
        var before = Evaluate();
        double firstLoss = double.NaN, lastLoss = double.NaN;
        for (var step = 0; step < 60; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            optimizer.zero_grad();
            using var embeddings = VectorBatch.FromTensor(x.matmul(w));
            using var triplets = Miners.BatchHard(embeddings, y, distance);
            var loss = TripletMarginLoss.Compute(embeddings, y, distance, triplets, new TripletMarginLossOptions { Margin = 0.5 });
            loss.backward();
            optimizer.step();
            if (step == 0) firstLoss = loss.ToDouble();
            lastLoss = loss.ToDouble();
        }
        var after = Evaluate();
        Assert.True(lastLoss < firstLoss, $"loss {firstLoss} → {lastLoss}");
        Assert.True(after > before, $"MAP@R {before} → {after}");
    }

    [Fact]
    public void ContrastiveLossOnDistributionsBackpropagatesToThePoints()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(2);
        var points = torch.randn(new long[] { 6, 5, 3 }, dtype: ScalarType.Float64).requires_grad_(true);
        using var batch = DistributionBatch.FromTensors(points, null);
        var labels = torch.tensor(new long[] { 0, 0, 1, 1, 2, 2 });
        var loss = ContrastiveLoss.Compute(batch, labels, Distances.Create("marginal-w2", null), null, null);
        loss.backward();
        Assert.True(double.IsFinite(loss.ToDouble()));
        Assert.True(points.grad is not null && points.grad.abs().sum().ToDouble() > 0);
    }

    [Fact]
    public void SamplersAreDeterministicPerSeed()
    {
        var labels = Enumerable.Range(0, 40).Select(i => (long)(i % 5)).ToArray();
        var first = Samplers.MPerClassEpoch(labels, 4, 3, 11, 0);
        var again = Samplers.MPerClassEpoch(labels, 4, 3, 11, 0);
        Assert.Equal(first.Select(b => string.Join(",", b)), again.Select(b => string.Join(",", b)));
        Assert.All(first, batch => Assert.Equal(12, batch.Length));
        var triplets = Samplers.TvaeTriplets(labels, 50, 3);
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(labels[triplets.Anchor[i]], labels[triplets.Positive[i]]);
            Assert.NotEqual(labels[triplets.Anchor[i]], labels[triplets.Negative[i]]);
        }
    }

    [Fact]
    public void RetrievalMetricsFromADistanceMatrix()
    {
        var d = new double[,] { { 0, 1, 5, 6 }, { 1, 0, 6, 5 }, { 5, 6, 0, 1 }, { 6, 5, 1, 0 } };
        long[] labels = [0, 0, 1, 1];
        var report = RetrievalMetrics.Evaluate(d, labels, labels, true, [1]);
        Assert.Equal(1.0, report.PrecisionAt1);
        Assert.Equal(1.0, report.MapAtR);
        var verification = VerificationMetrics.EvaluateMatrix(d, labels, labels, true);
        Assert.Equal(1.0, verification.RocAuc);
        Assert.Equal(0.0, verification.EqualErrorRate);
    }

    [Fact]
    public void LabelsOfTheWrongTypeAreRejectedByName()
    {
        using var scope = torch.NewDisposeScope();
        using var batch = VectorBatch.FromTensor(torch.randn(4, 2));
        var e = Assert.Throws<ArgumentException>(() =>
            TripletMarginLoss.Compute(batch, torch.tensor(new float[] { 0, 0, 1, 1 }), Distances.Create("euclidean", null), null, null));
        Assert.Equal("labels", e.ParamName);
    }
}

/// <summary>Each loss and miner of the toolkit, called from C# on one small labelled batch.</summary>
public sealed class ToolkitEachPieceTests
{
    private static (VectorBatch Batch, Tensor Points, Tensor Labels) Batch()
    {
        torch.manual_seed(5);
        var points = torch.randn(new long[] { 8, 3 }, dtype: ScalarType.Float64).requires_grad_(true);
        return (VectorBatch.FromTensor(points), points, torch.tensor(new long[] { 0, 0, 1, 1, 2, 2, 3, 3 }));
    }

    public static TheoryData<string> Losses => new() { "contrastive", "triplet-hinge", "triplet-softplus", "ntxent", "multi-similarity", "margin" };

    [Theory]
    [MemberData(nameof(Losses))]
    public void EveryLossGivesAFiniteScalarWithAGradient(string loss)
    {
        using var scope = torch.NewDisposeScope();
        var (batch, points, labels) = Batch();
        var distance = Distances.Create("euclidean", null);
        var beta = torch.tensor(1.0, dtype: ScalarType.Float64).requires_grad_(true);
        var value = loss switch
        {
            "contrastive" => ContrastiveLoss.Compute(batch, labels, distance, null, new ContrastiveLossOptions { NegativeMargin = 2.0 }),
            "triplet-hinge" => TripletMarginLoss.Compute(batch, labels, distance, null, new TripletMarginLossOptions { Margin = 1.0 }),
            "triplet-softplus" => TripletMarginLoss.Compute(batch, labels, distance, null, new TripletMarginLossOptions { Penalty = TripletPenalty.SoftPlus }),
            "ntxent" => NTXentLoss.Compute(batch, labels, distance, null, new NTXentLossOptions { Temperature = 0.5 }),
            "multi-similarity" => MultiSimilarityLoss.Compute(batch, labels, distance, null, null),
            _ => MarginLoss.Compute(batch, labels, distance, beta, null, null),
        };
        value.backward();
        Assert.Equal(0, value.dim());
        Assert.True(double.IsFinite(value.ToDouble()) && value.ToDouble() > 0, $"{loss} = {value.ToDouble()}");
        Assert.True(points.grad is not null && double.IsFinite(points.grad.abs().sum().ToDouble()));
    }

    [Fact]
    public void EveryMinerReturnsValidTriplets()
    {
        using var scope = torch.NewDisposeScope();
        var (batch, _, labels) = Batch();
        var distance = Distances.Create("euclidean", null);
        var y = labels.data<long>().ToArray();
        foreach (var triplets in new[]
                 {
                     Miners.AllTriplets(labels), Miners.BatchHard(batch, labels, distance), Miners.SemiHard(batch, labels, distance, 10.0),
                     Miners.DistanceWeighted(batch, labels, distance, 3, 7, null),
                 })
        {
            var (a, p, n) = triplets.ToArrays();
            Assert.NotEmpty(a);
            for (var i = 0; i < a.Length; i++)
            {
                Assert.Equal(y[a[i]], y[p[i]]);
                Assert.NotEqual(a[i], p[i]);
                Assert.NotEqual(y[a[i]], y[n[i]]);
            }
            triplets.Dispose();
        }
        using var pairs = Miners.AllPairs(labels);
        // Four classes of two: every positive pair has six negative pairs for each anchor (ordered or not).
        Assert.Contains(pairs.PositiveCount, new[] { 4, 8 });
        Assert.Equal(6 * pairs.PositiveCount, pairs.NegativeCount);
    }

    [Fact]
    public void EveryMetricFromEmbeddings()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new double[,] { { 0, 0 }, { 0.1, 0 }, { 5, 5 }, { 5.1, 5 }, { -5, 5 }, { -5.1, 5 } });
        long[] labels = [0, 0, 1, 1, 2, 2];
        using var batch = VectorBatch.FromTensor(x);
        var distance = Distances.Create("euclidean", null);
        var retrieval = EmbeddingMetrics.RetrievalWithin(distance, batch, labels, [1, 2]);
        Assert.Equal(1.0, retrieval.PrecisionAt1);
        Assert.Equal(1.0, retrieval.RPrecision);
        Assert.Equal(1.0, retrieval.MapAtR);
        Assert.Equal([1.0, 1.0], retrieval.RecallAtK);
        Assert.Equal(1.0, retrieval.MeanReciprocalRank);
        var verification = EmbeddingMetrics.Verification(distance, batch, labels);
        Assert.Equal(1.0, verification.RocAuc);
        Assert.Equal(1.0, EmbeddingMetrics.KMeansNmi(batch, labels, 3, 1), 9);
        using var anchors = VectorBatch.FromTensor(x.narrow(0, 0, 2));
        using var positives = VectorBatch.FromTensor(x.narrow(0, 0, 2).flip(0));
        using var negatives = VectorBatch.FromTensor(x.narrow(0, 2, 2));
        Assert.Equal(1.0, EmbeddingMetrics.TripletAccuracy(distance, anchors, positives, negatives));
    }
}
