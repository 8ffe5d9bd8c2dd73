using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.Sequences;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

public class SequenceTrainerTests
{
    private static readonly EmbedderOptions Tiny = new() { InputChannels = 2, Hidden = 8, Features = 4, Layers = 2, Quantiles = 6 };

    private static TrainerOptions Options(int epochs) => new()
    {
        Epochs = epochs, ClassesPerBatch = 4, ItemsPerClass = 3, LearningRate = 5e-3, Seed = 17, CheckpointEverySteps = 2,
    };

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "distembed-seq-" + Guid.NewGuid().ToString("N"));

    private static float[] Flat(EmbeddingBatch batch) => batch.Representation switch
    {
        Representation.Distributions => batch.Points.data<float>().ToArray(),
        _ => batch.Values.data<float>().ToArray(),
    };

    [Fact]
    public void ResumedRunEndsBitForBitLikeAnUninterruptedRun()
    {
        var train = SequenceTestData.Make(6, 8, 1);
        var valid = SequenceTestData.Make(3, 5, 2, labelOffset: 100);
        var dirA = TempDir();
        var dirB = TempDir();
        try
        {
            var modelA = SequenceEmbedder.Create(Tiny, 5);
            var a = SequenceTrainer.Train(modelA, train, valid, Options(3), dirA);

            var modelB = SequenceEmbedder.Create(Tiny, 5);
            using var cts = new CancellationTokenSource();
            var reports = new List<TrainingProgress>();
            var progress = new SyncProgress(p =>
            {
                reports.Add(p);
                if (p.Epoch == 2 && p.Step == 3 && p.EpochResult is null) cts.Cancel();
            });
            Assert.Throws<OperationCanceledException>(() => SequenceTrainer.Train(modelB, train, valid, Options(3), dirB, null, progress, cts.Token));
            var mid = Checkpoint.ReadManifest(dirB);
            Assert.Equal(1, mid.State.Epoch);
            Assert.Equal(2, mid.State.StepInEpoch);
            var (modelC, c) = SequenceTrainer.Resume(dirB, train, valid);

            Assert.Equal(a.History.Count, c.History.Count);
            for (var i = 0; i < a.History.Count; i++) Assert.Equal(a.History[i], c.History[i]);
            Assert.Equal(a.BestEpoch, c.BestEpoch);
            Assert.Equal(a.Steps, c.Steps);
            using var ea = modelA.EmbedAll(valid);
            using var ec = modelC.EmbedAll(valid);
            Assert.Equal(Flat(ea), Flat(ec));
            Assert.True(File.Exists(Path.Combine(dirA, Checkpoint.OptimizerFile)));
            Assert.Equal(3, Checkpoint.ReadManifest(dirA).State.History.Count);
        }
        finally
        {
            if (Directory.Exists(dirA)) Directory.Delete(dirA, true);
            if (Directory.Exists(dirB)) Directory.Delete(dirB, true);
        }
    }

    [Theory]
    [InlineData("tcn", "quantile", "triplet", "batch-hard")]
    [InlineData("gru", "distribution", "contrastive", "all")]
    [InlineData("tcn", "stats", "multi-similarity", "semi-hard")]
    [InlineData("tcn", "attention", "ntxent", "batch-hard")]
    [InlineData("tcn", "quantile", "prototype", "batch-hard")]
    [InlineData("gru", "distribution", "prototype", "all")]
    public void TrainSaveLoadGivesIdenticalEmbeddingsAndEvaluates(string encoder, string head, string loss, string miner)
    {
        var train = SequenceTestData.Make(5, 6, 3);
        var test = SequenceTestData.Make(3, 4, 4, labelOffset: 50);
        var dir = TempDir();
        try
        {
            var model = SequenceEmbedder.Create(Tiny with { Encoder = encoder, Head = head }, 1);
            var result = SequenceTrainer.Train(model, train, null, Options(1) with { Loss = loss, Miner = miner, CheckpointEverySteps = 0 }, dir, "{\"means\":[0,0],\"stds\":[1,1]}");
            Assert.Single(result.History);
            Assert.True(double.IsFinite(result.History[0].TrainLoss));
            var (loaded, manifest) = Checkpoint.LoadModel(dir);
            Assert.Equal(model.Options, loaded.Options);
            Assert.Equal("{\"means\":[0,0],\"stds\":[1,1]}", manifest.Standardizer);
            using var e1 = model.EmbedAll(test);
            using var e2 = loaded.EmbedAll(test);
            Assert.Equal(model.Representation, e2.Representation);
            Assert.Equal(Flat(e1), Flat(e2));
            var distance = Distance.Create(model.Options.DefaultDistance());
            var (d, y) = SequenceTrainer.DistanceMatrix(loaded, test, distance);
            var report = RetrievalMetrics.Evaluate(d, y, y, true, [1]);
            Assert.InRange(report.MapAtR, 0.0, 1.0);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void LearningRateWarmsUpLinearlyThenDecaysByCosine()
    {
        Assert.Equal(0.25, SequenceTrainer.LearningRateAt(1.0, 0, 100, 4), 12);
        Assert.Equal(1.0, SequenceTrainer.LearningRateAt(1.0, 4, 100, 4), 12);
        Assert.Equal(0.5, SequenceTrainer.LearningRateAt(1.0, 52, 100, 4), 12);
        Assert.Equal(0.0, SequenceTrainer.LearningRateAt(1.0, 100, 100, 4), 12);
    }

    [Fact]
    public void SplitMix64MatchesTheReferenceStream()
    {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var r = new SplitMix64(0);
        Assert.Equal(0xE220A8397B1DCDAFUL, r.NextUInt64());
        Assert.Equal(0x6E789E6AA1B965F4UL, r.NextUInt64());
        var saved = r.State;
        var x = r.NextUInt64();
        Assert.Equal(x, new SplitMix64(saved).NextUInt64());
    }

    [Fact]
    public void BadTrainerInputsNameTheArgument()
    {
        var train = SequenceTestData.Make(4, 4, 1);
        var model = SequenceEmbedder.Create(Tiny, 0);
        var ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, null, new TrainerOptions { Loss = "hinge" }));
        Assert.Equal("Loss", ex.ParamName);
        Assert.Contains("unknown loss 'hinge'", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, null, new TrainerOptions { Miner = "hardest" }));
        Assert.Equal("Miner", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, null, new TrainerOptions { Distance = "wasserstein-9" }));
        Assert.Equal("Distance", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, null, new TrainerOptions { Distance = "euclidean", ClassesPerBatch = 4 }));
        Assert.Equal("options", ex.ParamName);
        Assert.Contains("accepts Vectors", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, null, new TrainerOptions { ClassesPerBatch = 8 }));
        Assert.Equal("train", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(SequenceEmbedder.Create(Tiny with { InputChannels = 3 }, 0), train, null, new TrainerOptions { ClassesPerBatch = 4 }));
        Assert.Equal("train", ex.ParamName);
        Assert.Contains("3", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, null, new TrainerOptions { Epochs = 0 }));
        Assert.Equal("Epochs", ex.ParamName);
        Assert.Throws<DirectoryNotFoundException>(() => Checkpoint.LoadModel("/nonexistent/distembed-model"));
        var empty = TempDir();
        Directory.CreateDirectory(empty);
        try
        {
            var fnf = Assert.Throws<FileNotFoundException>(() => Checkpoint.LoadModel(empty));
            Assert.Contains("manifest.json", fnf.Message);
        }
        finally { Directory.Delete(empty, true); }
    }

    [Fact]
    public void DistanceSettingsReachTheDistanceAndAreValidated()
    {
        var o = new TrainerOptions
        {
            Seed = 9,
            DistanceSettings = new DistanceSettings { Seed = 3, Projections = 12, Epsilon = 0.5, SinkhornIterations = 7, Tolerance = 1e-4, EpsilonScaling = 0.25 },
        };
        var d = o.EffectiveDistanceSettings().ToCore();
        Assert.Equal((9L, 12, 0.5, 7, 1e-4, 0.25), (d.Seed, d.Projections, d.Epsilon, d.MaxIterations, d.Tolerance, d.EpsilonScaling));
        Assert.Equal(Core.SinkhornNonConvergence.Ignore, d.OnNonConvergence);

        var train = SequenceTestData.Make(4, 4, 1);
        var model = SequenceEmbedder.Create(Tiny with { Head = "distribution" }, 0);
        foreach (var (bad, name) in new (TrainerOptions, string)[]
                 {
                     (new() { DistanceSettings = new() { Epsilon = 0 } }, "DistanceSettings.Epsilon"),
                     (new() { DistanceSettings = new() { Epsilon = double.NaN } }, "DistanceSettings.Epsilon"),
                     (new() { DistanceSettings = new() { SinkhornIterations = 0 } }, "DistanceSettings.SinkhornIterations"),
                     (new() { DistanceSettings = new() { Tolerance = -1 } }, "DistanceSettings.Tolerance"),
                     (new() { DistanceSettings = new() { EpsilonScaling = 1.0 } }, "DistanceSettings.EpsilonScaling"),
                     (new() { DistanceSettings = new() { Projections = 0 } }, "DistanceSettings.Projections"),
                     (new() { DistanceSettings = null! }, "DistanceSettings"),
                 })
        {
            var ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, null, bad with { ClassesPerBatch = 4 }));
            Assert.Equal(name, ex.ParamName);
        }
    }

    [Fact]
    public void SinkhornDivergenceTrainingWithEpsilonScalingLowersTheLoss()
    {
        // The regime the comparison trains in: ε small against the feature costs, annealed from the largest cost down
        // to ε, a few iterations at ε. The loss must stay finite and fall.
        var train = SequenceTestData.Make(4, 6, 1);
        using var model = SequenceEmbedder.Create(Tiny with { Head = "distribution" }, 3);
        var options = Options(4) with
        {
            Distance = "sinkhorn-divergence", Miner = "all", CheckpointEverySteps = 0,
            DistanceSettings = new DistanceSettings { Epsilon = 0.01, EpsilonScaling = 0.5, SinkhornIterations = 5, Tolerance = 1e-3 },
        };
        var result = SequenceTrainer.Train(model, train, null, options);
        Assert.All(result.History, e => Assert.True(double.IsFinite(e.TrainLoss), $"epoch {e.Epoch} loss {e.TrainLoss}"));
        Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss,
            $"loss {result.History[0].TrainLoss} → {result.History[^1].TrainLoss}");
    }

    [Fact]
    public void UnconvergedSinkhornSolvesAreReportedInProgressAndManifest()
    {
        // Two iterations at ε = 1e-3 never meet a 1e-9 tolerance: every solve is unconverged and must be counted.
        var train = SequenceTestData.Make(4, 6, 1);
        using var model = SequenceEmbedder.Create(Tiny with { Head = "distribution" }, 3);
        var options = Options(1) with
        {
            Distance = "sinkhorn", Miner = "all", CheckpointEverySteps = 0,
            DistanceSettings = new DistanceSettings { Epsilon = 1e-3, SinkhornIterations = 2, Tolerance = 1e-9 },
        };
        var reports = new List<TrainingProgress>();
        var dir = TempDir();
        try
        {
            SequenceTrainer.Train(model, train, null, options, dir, progress: new SyncProgress(reports.Add));
            var last = reports[^1];
            Assert.True(last.SinkhornSolves > 0, "solves counted");
            Assert.Equal(last.SinkhornSolves, last.UnconvergedSinkhornSolves);
            Assert.True(last.MaxSinkhornMarginalError > 1e-9, $"max marginal error {last.MaxSinkhornMarginalError}");
            Assert.True(reports[0].UnconvergedSinkhornSolves > 0 && reports[0].UnconvergedSinkhornSolves <= last.UnconvergedSinkhornSolves, "cumulative");
            var manifest = Checkpoint.ReadManifest(dir);
            Assert.Equal(last.UnconvergedSinkhornSolves, manifest.State.UnconvergedSinkhornSolves);
            Assert.Equal(last.SinkhornSolves, manifest.State.SinkhornSolves);
            Assert.Equal(last.MaxSinkhornMarginalError, manifest.State.MaxSinkhornMarginalError);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    /// <summary>The user's own quantile W2, computed by the catalog's <c>quantile-w2</c> (Paired and Pairwise), under another name.</summary>
    private static Distance MyQuantileW2(string name = "my-quantile-w2")
    {
        var inner = Distance.Create("quantile-w2");
        return Distance.Custom(name, Representation.Quantiles, inner.Paired, inner.Pairwise, isMetric: true);
    }

    [Fact]
    public void TrainingUnderACustomDistanceEqualsTrainingUnderTheCatalogDistanceItComputes()
    {
        var train = SequenceTestData.Make(6, 8, 1);
        var valid = SequenceTestData.Make(3, 5, 2, labelOffset: 100);
        var options = Options(2) with { CheckpointEverySteps = 0 };
        var ours = SequenceEmbedder.Create(Tiny, 5);
        var theirs = SequenceEmbedder.Create(Tiny, 5);
        var a = SequenceTrainer.Train(ours, MyQuantileW2(), train, valid, options);
        var b = SequenceTrainer.Train(theirs, train, valid, options with { Distance = "quantile-w2" });
        Assert.Equal(2, a.History.Count);
        Assert.Equal(b.History, a.History);
        Assert.Equal(b.BestEpoch, a.BestEpoch);
        using var ea = ours.EmbedAll(valid);
        using var eb = theirs.EmbedAll(valid);
        Assert.Equal(Flat(eb), Flat(ea));
    }

    [Fact]
    public void ARunUnderACustomDistanceResumesOnlyWithThatDistance()
    {
        var train = SequenceTestData.Make(6, 8, 1);
        var valid = SequenceTestData.Make(3, 5, 2, labelOffset: 100);
        var dir = TempDir();
        var catalogDir = TempDir();
        try
        {
            var full = SequenceTrainer.Train(SequenceEmbedder.Create(Tiny, 5), MyQuantileW2(), train, valid, Options(3));

            using var cts = new CancellationTokenSource();
            var progress = new SyncProgress(p => { if (p.Epoch == 2 && p.Step == 3 && p.EpochResult is null) cts.Cancel(); });
            Assert.Throws<OperationCanceledException>(() =>
                SequenceTrainer.Train(SequenceEmbedder.Create(Tiny, 5), MyQuantileW2(), train, valid, Options(3), dir, null, progress, cts.Token));
            var manifest = Checkpoint.ReadManifest(dir);
            Assert.Equal(1, manifest.State.Epoch);
            Assert.True(manifest.DistanceIsCustom);
            Assert.Equal("my-quantile-w2", manifest.Distance);
            Assert.Null(manifest.Trainer.Distance);

            // A checkpoint cannot hold the distance's code: resuming without it names the missing argument.
            var missing = Assert.Throws<ArgumentException>(() => SequenceTrainer.Resume(dir, train, valid));
            Assert.Equal("distance", missing.ParamName);
            Assert.Contains("your own distance 'my-quantile-w2'", missing.Message);
            Assert.Contains("SequenceTrainer.Resume(checkpointDirectory, distance,", missing.Message);
            var other = Assert.Throws<ArgumentException>(() => SequenceTrainer.Resume(dir, MyQuantileW2("my-other-w2"), train, valid));
            Assert.Equal("distance", other.ParamName);
            Assert.Contains("differs from the checkpoint's distance 'my-quantile-w2'", other.Message);

            var (model, resumed) = SequenceTrainer.Resume(dir, MyQuantileW2(), train, valid);
            Assert.Equal(full.History, resumed.History);
            Assert.Equal(full.Steps, resumed.Steps);
            // The folder is a model folder like any other: it loads without the distance.
            var (loaded, _) = Checkpoint.LoadModel(dir);
            using var e1 = model.EmbedAll(valid);
            using var e2 = loaded.EmbedAll(valid);
            Assert.Equal(Flat(e1), Flat(e2));

            // A catalog run is resumed without a distance; passing one is refused by name.
            SequenceTrainer.Train(SequenceEmbedder.Create(Tiny, 5), train, valid, Options(1), catalogDir);
            var catalog = Assert.Throws<ArgumentException>(() => SequenceTrainer.Resume(catalogDir, MyQuantileW2(), train, valid));
            Assert.Equal("distance", catalog.ParamName);
            Assert.Contains("catalog distance 'quantile-w2'", catalog.Message);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            if (Directory.Exists(catalogDir)) Directory.Delete(catalogDir, true);
        }
    }

    [Fact]
    public void TheCustomDistanceSequenceTrainerRefusesBadDistancesByName()
    {
        var train = SequenceTestData.Make(4, 4, 1);
        var model = SequenceEmbedder.Create(Tiny, 0);
        var options = Options(1) with { CheckpointEverySteps = 0 };
        var catalog = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, Distance.Create("quantile-w2"), train, null, options));
        Assert.Equal("distance", catalog.ParamName);
        Assert.Contains("naming it in options.Distance", catalog.Message);
        var clash = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, MyQuantileW2("Quantile-W2"), train, null, options));
        Assert.Equal("distance", clash.ParamName);
        Assert.Contains("a name of the catalog", clash.Message);
        var both = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, MyQuantileW2(), train, null, options with { Distance = "quantile-w2" }));
        Assert.Equal("options", both.ParamName);
        var vectors = Distance.Custom("my-l1", Representation.Vectors, (x, y) => (x.Values - y.Values).abs().sum(1));
        var representation = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, vectors, train, null, options));
        Assert.Equal("distance", representation.ParamName);
        Assert.Contains("accepts Vectors but the 'quantile' head gives Quantiles", representation.Message);
    }

    /// <summary>A progress sink that runs synchronously on the reporting thread.</summary>
    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
