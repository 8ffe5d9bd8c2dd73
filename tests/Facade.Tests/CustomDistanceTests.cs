using DistEmbed.Evaluation;
using DistEmbed.Facade.Tests.DocExamples;
using DistEmbed.Sequences;
using DistEmbed.Training;
using DistEmbed.Verification;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// A user's own distance written in facade terms only (<see cref="CustomDistance"/>, <see cref="Distance.Custom"/>):
/// it passes the verification kit's laws, a broken one is caught with a clear message, bad definitions and inputs are
/// rejected by name, and it evaluates embeddings exactly like the catalog distance it re-implements.
/// </summary>
public sealed class CustomDistanceTests
{
    private static VerificationOptions Few(int cases = 30) => new() { Cases = cases, MaxPoints = 8 };

    /// <summary>The Chebyshev distance max_k |x_k − y_k| with a broadcast Pairwise.</summary>
    private sealed class Chebyshev : CustomDistance
    {
        public override string Name => "chebyshev";
        public override bool IsMetric => true;
        public override Representation Accepts => Representation.Vectors;
        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => (a.Values - b.Values).abs().amax([1]);
        public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) => (a.Values.unsqueeze(1) - b.Values.unsqueeze(0)).abs().amax([2]);
    }

    /// <summary>‖Σ_t w_t x_t − Σ_t w'_t y_t‖ between the weighted means of two distributions (a pseudo-metric), with
    /// only Paired written: Pairwise is the default one.</summary>
    private sealed class MeanEmbedding : CustomDistance
    {
        public override string Name => "mean-embedding";
        public override bool IsMetric => true;
        public override Representation Accepts => Representation.Distributions;
        private static Tensor Mean(EmbeddingBatch x) => (x.Points * x.Weights.unsqueeze(2)).sum(1) / x.Weights.sum(1, keepdim: true);
        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => (Mean(a) - Mean(b)).pow(2).sum(1).sqrt();
    }

    private static double MeanReference(DistributionSample x, DistributionSample y)
    {
        double[] Mean(DistributionSample s)
        {
            var w = s.NormalizedWeights();
            return Enumerable.Range(0, s.Dimension).Select(k => Enumerable.Range(0, s.Count).Sum(t => w[t] * s[t, k])).ToArray();
        }
        var (mx, my) = (Mean(x), Mean(y));
        return Math.Sqrt(mx.Zip(my, (p, q) => (p - q) * (p - q)).Sum());
    }

    [Fact]
    public void UserDistancesPassTheirDeclaredLawsGradientsAndReference()
    {
        var o = Few();
        Laws.Declared(new Chebyshev(), o);
        Laws.TranslationInvariance(new Chebyshev(), o);
        Laws.Gradients(new Chebyshev(), o);
        Laws.AgreesWithReference(new Chebyshev(),
            (VectorSample x, VectorSample y) => Enumerable.Range(0, x.Dimension).Max(k => Math.Abs(x[k] - y[k])), o);
        // Distributions through the default Pairwise: padded multi-item batches, points and weights differentiated.
        Laws.Declared(new MeanEmbedding(), o);
        Laws.MeasureInvariances(new MeanEmbedding(), o);
        Laws.Gradients(new MeanEmbedding(), Few(20));
        Laws.AgreesWithReference(new MeanEmbedding(), MeanReference, o);
    }

    [Fact]
    public void TheDefaultPairwiseComparesEveryPairAndKeepsTheGradient()
    {
        var l1 = Distance.Custom("l1", Representation.Vectors, (a, b) => (a.Values - b.Values).abs().sum(1), isMetric: true);
        using var scope = NewDisposeScope();
        var x = torch.tensor(new double[] { 0, 1, 2, 3, -1, 5 }).reshape(3, 2).requires_grad_(true);
        var y = torch.tensor(new double[] { 1, 1, 0, -2, 4, 4, 7, 0 }).reshape(4, 2);
        var d = l1.Pairwise(EmbeddingBatch.Vectors(x), EmbeddingBatch.Vectors(y));
        Assert.Equal(new long[] { 3, 4 }, d.shape);
        var (xs, ys) = (x.detach().data<double>().ToArray(), y.data<double>().ToArray());
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 4; j++)
                Assert.Equal(Math.Abs(xs[2 * i] - ys[2 * j]) + Math.Abs(xs[2 * i + 1] - ys[2 * j + 1]), d[i, j].item<double>(), 12);
        d.sum().backward();
        // ∂/∂x_ik Σ_j |x_ik − y_jk| = Σ_j sign(x_ik − y_jk): for x_00 = 0 against 1, 0, 4, 7 that is −1 + 0 − 1 − 1 = −3.
        Assert.Equal(-3.0, x.grad!.data<double>()[0], 12);
        Laws.Declared(l1, Few());
    }

    [Fact]
    public void ACustomDistanceThatBreaksTheTriangleInequalityIsCaught()
    {
        var claimed = Distance.Custom("sqeuclidean-claimed-metric", Representation.Vectors,
            (a, b) => (a.Values - b.Values).pow(2).sum(1), isMetric: true);
        var e = Assert.Throws<LawViolationException>(() => Laws.Declared(claimed, Few(100)));
        Assert.Equal("triangle inequality", e.Law);
        Assert.Equal("sqeuclidean-claimed-metric", e.Distance);
        Assert.Contains("for distance 'sqeuclidean-claimed-metric'", e.Message);
        var observed = e.Observed.Select(p => p.Value).ToArray();
        Assert.True(observed[0] > observed[1] + observed[2] + e.Tolerance, e.Message);
    }

    [Fact]
    public void AResultOfTheWrongShapeOrTypeFailsWithTheDistanceAndTheExpectedShape()
    {
        using var scope = NewDisposeScope();
        using var a = EmbeddingBatch.Vectors(torch.randn(3, 2, dtype: ScalarType.Float64));
        using var b = EmbeddingBatch.Vectors(torch.randn(3, 2, dtype: ScalarType.Float64));
        using var c = EmbeddingBatch.Vectors(torch.randn(2, 2, dtype: ScalarType.Float64));

        var column = Distance.Custom("column", Representation.Vectors, (x, y) => (x.Values - y.Values).abs().sum(1, keepdim: true));
        var paired = Assert.Throws<InvalidOperationException>(() => column.Paired(a, b));
        Assert.Equal("distance 'column': Paired returned a tensor of shape [3, 1]; it must have shape [B] = [3] (one value per pair a[i], b[i]).", paired.Message);
        // The default Pairwise calls Paired on all pairs and says so.
        var pairwise = Assert.Throws<InvalidOperationException>(() => column.Pairwise(a, c));
        Assert.Contains("distance 'column': Paired returned a tensor of shape [6, 1]", pairwise.Message);
        Assert.Contains("[B·B'] = [6]", pairwise.Message);
        // The law checks report it as the case's failure, with the distance's own message.
        var law = Assert.Throws<LawViolationException>(() => Laws.Declared(column, Few()));
        Assert.IsType<InvalidOperationException>(law.InnerException);
        Assert.Contains("it must have shape [B] = [1]", law.Message);
        Assert.Equal(0, law.CasesPassed);

        var transposed = Distance.Custom("transposed", Representation.Vectors, (x, y) => (x.Values - y.Values).abs().sum(1),
            (x, y) => (x.Values.unsqueeze(1) - y.Values.unsqueeze(0)).abs().sum(2).t());
        var t = Assert.Throws<InvalidOperationException>(() => transposed.Pairwise(a, c));
        Assert.Equal("distance 'transposed': Pairwise returned a tensor of shape [2, 3]; it must have shape [B, B'] = [3, 2] (one value per a[i], b[j]).", t.Message);

        var integer = Distance.Custom("rounded", Representation.Vectors, (x, y) => (x.Values - y.Values).abs().sum(1).to_type(ScalarType.Int64));
        Assert.Contains("returned a tensor of dtype Int64; distances are floating point",
            Assert.Throws<InvalidOperationException>(() => integer.Paired(a, b)).Message);
        var nothing = Distance.Custom("nothing", Representation.Vectors, (x, y) => null!);
        Assert.Equal("distance 'nothing': Paired returned null; it must return a tensor of shape [B] = [3] (one value per pair a[i], b[i]).",
            Assert.Throws<InvalidOperationException>(() => nothing.Paired(a, b)).Message);
    }

    private sealed class Nameless : CustomDistance
    {
        public override string Name => " ";
        public override Representation Accepts => Representation.Vectors;
        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => (a.Values - b.Values).abs().sum(1);
    }

    private sealed class AsymmetricMetric : CustomDistance
    {
        public override string Name => "asymmetric-metric";
        public override bool IsMetric => true;
        public override bool IsSymmetric => false;
        public override Representation Accepts => Representation.Vectors;
        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => (a.Values - b.Values).abs().sum(1);
    }

    [Fact]
    public void BadDefinitionsAndInputsAreRejectedByName()
    {
        Tensor L1(EmbeddingBatch a, EmbeddingBatch b) => (a.Values - b.Values).abs().sum(1);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => Distance.Custom("", Representation.Vectors, L1)).ParamName);
        Assert.Equal("paired", Assert.Throws<ArgumentNullException>(() => Distance.Custom("l1", Representation.Vectors, null!)).ParamName);
        Assert.Equal("accepts", Assert.Throws<ArgumentException>(() => Distance.Custom("l1", (Representation)7, L1)).ParamName);
        var metric = Assert.Throws<ArgumentException>(() => Distance.Custom("l1", Representation.Vectors, L1, isMetric: true, isSymmetric: false));
        Assert.Equal("isSymmetric", metric.ParamName);
        Assert.Contains("a metric is symmetric", metric.Message);
        Assert.Contains("Nameless.Name is empty", Assert.Throws<ArgumentException>(() => new Nameless().ToDistance()).Message);
        Assert.Contains("distance 'asymmetric-metric' claims IsMetric but not IsSymmetric",
            Assert.Throws<ArgumentException>(() => Laws.Declared(new AsymmetricMetric())).Message);
        Assert.Throws<ArgumentNullException>(() => Laws.Declared((CustomDistance)null!));

        var l1 = Distance.Custom("l1", Representation.Vectors, L1, isMetric: true);
        using var scope = NewDisposeScope();
        using var v3 = EmbeddingBatch.Vectors(torch.zeros(3, 2, dtype: ScalarType.Float64));
        using var v2 = EmbeddingBatch.Vectors(torch.zeros(2, 2, dtype: ScalarType.Float64));
        using var wide = EmbeddingBatch.Vectors(torch.zeros(3, 5, dtype: ScalarType.Float64));
        using var p = EmbeddingBatch.Distributions(torch.zeros(3, 4, 2, dtype: ScalarType.Float64));
        var rep = Assert.Throws<ArgumentException>(() => l1.Paired(p, v3));
        Assert.Equal("a", rep.ParamName);
        Assert.Contains("distance 'l1' accepts vectors", rep.Message);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => l1.Pairwise(v3, p)).ParamName);
        var count = Assert.Throws<ArgumentException>(() => l1.Paired(v3, v2));
        Assert.Equal("b", count.ParamName);
        Assert.Contains("b has 2 embeddings but a has 3", count.Message);
        var dimension = Assert.Throws<ArgumentException>(() => l1.Pairwise(v3, wide));
        Assert.Equal("b", dimension.ParamName);
        Assert.Contains("b has dimension 5 but a has 2", dimension.Message);
    }

    [Fact]
    public void ACustomDistanceIsOneDistanceWithItsDeclaredProperties()
    {
        var chebyshev = new Chebyshev();
        Distance first = chebyshev;
        Distance again = chebyshev;
        Assert.Same(first, again);
        Assert.Same(first, chebyshev.ToDistance());
        Assert.Equal("chebyshev", first.Name);
        Assert.True(first.IsMetric);
        Assert.True(first.IsSymmetric);
        Assert.Equal(Representation.Vectors, first.Accepts);
        Assert.False(first.HasRandomDirections);
        Assert.Null(first.SinkhornConvergence);
        Assert.Contains("has no random directions", Assert.Throws<InvalidOperationException>(() => first.WithFreshDirections(1)).Message);
        var divergence = DelegateDistance.ForVectors("half-l1", (x, y) => 0.5 * Enumerable.Range(0, x.Dimension).Sum(k => Math.Abs(x[k] - y[k])), isSymmetric: false);
        Distance d = divergence;
        Assert.False(d.IsMetric);
        Assert.False(d.IsSymmetric);
    }

    /// <summary>Three noisy classes in 3-D (30 items): well inside (0, 1) for every retrieval metric.</summary>
    private static (EmbeddingBatch Batch, long[] Labels) Blobs()
    {
        var rng = new Random(4);
        var values = new double[30 * 3];
        var labels = new long[30];
        for (var i = 0; i < 30; i++)
        {
            labels[i] = i % 3;
            for (var k = 0; k < 3; k++) values[i * 3 + k] = (k == labels[i] ? 1.0 : 0.0) + 1.2 * (rng.NextDouble() - 0.5);
        }
        return (EmbeddingBatch.Vectors(torch.tensor(values).reshape(30, 3)), labels);
    }

    [Fact]
    public void ACustomDistanceEvaluatesEmbeddingsLikeTheCatalogDistanceItReimplements()
    {
        // A user's Euclidean distance (Paired only; Pairwise by default) against the catalog's, on the same embeddings.
        var mine = Distance.Custom("my-euclidean", Representation.Vectors, (a, b) => (a.Values - b.Values).pow(2).sum(1).sqrt(), isMetric: true);
        var (batch, labels) = Blobs();
        using (batch)
        {
            var ours = EmbeddingEvaluation.Evaluate(batch, labels, mine);
            var catalog = EmbeddingEvaluation.Evaluate(batch, labels, Distance.Create("euclidean"));
            Assert.Equal("my-euclidean", ours.Distance);
            Assert.InRange(ours.MapAtR, 0.2, 0.95);
            Assert.Equal(catalog.PrecisionAt1, ours.PrecisionAt1, 12);
            Assert.Equal(catalog.RPrecision, ours.RPrecision, 12);
            Assert.Equal(catalog.MapAtR, ours.MapAtR, 12);
            Assert.Equal(catalog.MeanAveragePrecision, ours.MeanAveragePrecision, 12);
            Assert.Equal(catalog.MeanReciprocalRank, ours.MeanReciprocalRank, 12);
            Assert.Equal(catalog.RocAuc, ours.RocAuc, 12);
            Assert.Equal(catalog.EqualErrorRate, ours.EqualErrorRate, 12);
            // The streamed path (bands of query rows selected from the batch) agrees too.
            var streamed = EmbeddingEvaluation.EvaluateRetrieval(batch, labels, mine, new EvaluationOptions { BandElements = 64 });
            Assert.Equal(catalog.MapAtR, streamed.MapAtR, 12);
            Assert.Equal(catalog.PrecisionAt1, streamed.PrecisionAt1, 12);
            // A Chebyshev distance ranks differently from the Euclidean one, and the report says whose it is.
            var chebyshev = EmbeddingEvaluation.Evaluate(batch, labels, new Chebyshev());
            Assert.Equal("chebyshev", chebyshev.Distance);
            Assert.InRange(chebyshev.MapAtR, 0.0, 1.0);
        }
    }

    [Fact]
    public void ArrayDistancesTakeACatalogOrACustomDistance()
    {
        var rng = new Random(9);
        float R() => (float)(4 * rng.NextDouble() - 2);
        var a = new float[3, 2];
        var b = new float[4, 2];
        for (var i = 0; i < 3; i++) for (var k = 0; k < 2; k++) a[i, k] = R();
        for (var j = 0; j < 4; j++) for (var k = 0; k < 2; k++) b[j, k] = R();
        var chebyshev = ArrayDistances.Pairwise(a, b, new Chebyshev());
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 4; j++)
                Assert.Equal(Math.Max(Math.Abs((double)a[i, 0] - b[j, 0]), Math.Abs((double)a[i, 1] - b[j, 1])), chebyshev[i, j], 12);
        Assert.Equal(ArrayDistances.Pairwise(a, b, "euclidean"), ArrayDistances.Pairwise(a, b, Distance.Create("euclidean")));

        // Distributions with a mask: the weighted-mean distance sees only the unmasked points.
        var p = new float[2, 3, 1] { { { 0 }, { 2 }, { 100 } }, { { 1 }, { 1 }, { 1 } } };
        var q = new float[2, 2, 1] { { { 4 }, { 6 } }, { { -1 }, { 3 } } };
        var pMask = new float[2, 3] { { 1, 1, 0 }, { 1, 1, 1 } };
        var pairwise = ArrayDistances.Pairwise(p, q, new MeanEmbedding(), pMask);
        Assert.Equal(new double[,] { { 4, 0 }, { 4, 0 } }, pairwise);
        Assert.Equal(new double[] { 4, 0 }, ArrayDistances.Paired(p, q, new MeanEmbedding(), pMask));
        var wrong = Assert.Throws<ArgumentException>(() => ArrayDistances.Pairwise(p, q, new Chebyshev()));
        Assert.Equal("a", wrong.ParamName);
        Assert.Contains("distance 'chebyshev' accepts vectors", wrong.Message);
    }

    /// <summary>A module without parameters: the first two input coordinates as the embedding.</summary>
    private sealed class FirstTwo() : nn.Module<Tensor, EmbeddingBatch>(nameof(FirstTwo))
    {
        public override EmbeddingBatch forward(Tensor x) => EmbeddingBatch.Vectors(x.narrow(1, 0, 2));
    }

    [Fact]
    public void TheTrainersDistanceMatrixTakesACustomDistanceBlockByBlock()
    {
        var values = new float[7, 3];
        var rng = new Random(12);
        for (var i = 0; i < 7; i++) for (var k = 0; k < 3; k++) values[i, k] = (float)(2 * rng.NextDouble() - 1);
        using var data = LabelledData.FromArrays(values, [0, 1, 0, 1, 2, 2, 0]);
        using var model = new FirstTwo();
        var (d, labels) = MetricLearningTrainer.DistanceMatrix(model, data, new Chebyshev(), batchSize: 3);
        Assert.Equal(new long[] { 0, 1, 0, 1, 2, 2, 0 }, labels);
        for (var i = 0; i < 7; i++)
            for (var j = 0; j < 7; j++)
                Assert.Equal(Math.Max(Math.Abs((double)values[i, 0] - values[j, 0]), Math.Abs((double)values[i, 1] - values[j, 1])), d[i, j], 6);
    }

    /// <summary>A linear encoder 16 → 3 (vectors) whose weights come from a seeded stream.</summary>
    private sealed class LinearEncoder : nn.Module<Tensor, EmbeddingBatch>
    {
        private readonly TorchSharp.Modules.Linear layer = nn.Linear(16, 3);

        public LinearEncoder(int seed) : base(nameof(LinearEncoder))
        {
            RegisterComponents();
            var random = new Random(seed);
            using var _ = torch.no_grad();
            foreach (var (_, p) in named_parameters())
            {
                var values = Enumerable.Range(0, (int)p.numel()).Select(_ => (float)((2 * random.NextDouble() - 1) * 0.25)).ToArray();
                using var t = torch.tensor(values).reshape(p.shape);
                p.copy_(t);
            }
        }

        public override EmbeddingBatch forward(Tensor x) => EmbeddingBatch.Vectors(layer.forward(x));
    }

    /// <summary>The user's squared Euclidean distance (Paired only: Pairwise by default), named apart from the catalog's.</summary>
    private static Distance MySquaredEuclidean() =>
        Distance.Custom("my-sqeuclidean", Representation.Vectors, (a, b) => (a.Values - b.Values).pow(2).sum(1));

    private static MetricLearningOptions TrainerOptions(int epochs) => new()
    {
        Epochs = epochs, ClassesPerBatch = 4, ItemsPerClass = 3, LearningRate = 2e-2, Seed = 23, Margin = 0.5, CheckpointEverySteps = 0,
    };

    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "distembed-custom-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void TrainingUnderACustomDistanceFollowsTheCatalogDistanceItReimplements()
    {
        using var train = OwnEncoderGuideExamples.Clusters(8, 12, 1);
        using var valid = OwnEncoderGuideExamples.Clusters(4, 10, 2, labelOffset: 100);
        using var ours = new LinearEncoder(5);
        using var theirs = new LinearEncoder(5);
        var mine = MySquaredEuclidean();
        var a = MetricLearningTrainer.Train(ours, mine, train, valid, TrainerOptions(3));
        var b = MetricLearningTrainer.Train(theirs, train, valid, TrainerOptions(3) with { Distance = "sqeuclidean" });
        Assert.Equal(3, a.History.Count);
        Assert.True(a.History[^1].TrainLoss < a.History[0].TrainLoss, $"loss {a.History[0].TrainLoss} → {a.History[^1].TrainLoss}");
        for (var e = 0; e < 3; e++)
        {
            Assert.Equal(b.History[e].TrainLoss, a.History[e].TrainLoss, 1e-5 * Math.Max(1, b.History[e].TrainLoss));
            Assert.Equal(b.History[e].ValidMapAtR!.Value, a.History[e].ValidMapAtR!.Value, 1e-6);
        }
        // The trained model is scored under the user's distance like any other.
        var (d, y) = MetricLearningTrainer.DistanceMatrix(ours, valid, mine);
        Assert.Equal(a.BestMapAtR!.Value, Core.RetrievalMetrics.Evaluate(d, y, y, true, [1]).MapAtR, 9);
    }

    [Fact]
    public void ARunUnderACustomDistanceCheckpointsAndResumesOnlyWithThatDistance()
    {
        using var train = OwnEncoderGuideExamples.Clusters(8, 12, 3);
        var dir = TempDir();
        try
        {
            var options = TrainerOptions(3) with { CheckpointEverySteps = 2 };
            using var straight = new LinearEncoder(8);
            var full = MetricLearningTrainer.Train(straight, MySquaredEuclidean(), train, null, options);

            // The same run, cancelled in its second epoch: the last checkpoint stays.
            using var first = new LinearEncoder(8);
            using var cts = new CancellationTokenSource();
            var progress = new SyncProgress(p => { if (p.Epoch == 2 && p.Step == 3 && p.EpochResult is null) cts.Cancel(); });
            Assert.Throws<OperationCanceledException>(() =>
                MetricLearningTrainer.Train(first, MySquaredEuclidean(), train, null, options, dir, progress, cts.Token));
            var manifest = MetricLearningTrainer.ReadManifest(dir);
            Assert.Equal(1, manifest.State.Epoch);
            Assert.Equal("my-sqeuclidean", manifest.Distance);
            Assert.Null(manifest.Trainer.Distance);

            using var again = new LinearEncoder(99);
            var plain = Assert.Throws<ArgumentException>(() => MetricLearningTrainer.Resume(again, dir, train, null));
            Assert.Equal("distance", plain.ParamName);
            Assert.Contains("your own distance 'my-sqeuclidean'", plain.Message);
            var other = Distance.Custom("my-l1", Representation.Vectors, (x, z) => (x.Values - z.Values).abs().sum(1));
            var wrong = Assert.Throws<ArgumentException>(() => MetricLearningTrainer.Resume(again, other, dir, train, null));
            Assert.Equal("distance", wrong.ParamName);
            Assert.Contains("differs from the checkpoint's distance 'my-sqeuclidean'", wrong.Message);

            var resumed = MetricLearningTrainer.Resume(again, MySquaredEuclidean(), dir, train, null);
            Assert.Equal(3, resumed.History.Count);
            // On the CPU a resumed run ends bit-identically to the uninterrupted one.
            Assert.Equal(full.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TheCustomDistanceTrainerRefusesCatalogDistancesAndNames()
    {
        using var train = OwnEncoderGuideExamples.Clusters(6, 9, 3);
        using var model = new LinearEncoder(1);
        var catalog = Assert.Throws<ArgumentException>(() => MetricLearningTrainer.Train(model, Distance.Create("euclidean"), train, null, TrainerOptions(1)));
        Assert.Equal("distance", catalog.ParamName);
        Assert.Contains("naming it in options.Distance", catalog.Message);
        var named = Distance.Custom("Euclidean", Representation.Vectors, (a, b) => (a.Values - b.Values).pow(2).sum(1).sqrt());
        var clash = Assert.Throws<ArgumentException>(() => MetricLearningTrainer.Train(model, named, train, null, TrainerOptions(1)));
        Assert.Equal("distance", clash.ParamName);
        Assert.Contains("a name of the catalog", clash.Message);
        var both = Assert.Throws<ArgumentException>(() =>
            MetricLearningTrainer.Train(model, MySquaredEuclidean(), train, null, TrainerOptions(1) with { Distance = "sqeuclidean" }));
        Assert.Equal("options", both.ParamName);
        Assert.Contains("leave options.Distance null", both.Message);
    }
}
