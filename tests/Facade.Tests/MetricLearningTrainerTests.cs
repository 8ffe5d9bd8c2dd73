using DistEmbed.Core;
using DistEmbed.Facade.Tests.DocExamples;
using DistEmbed.IO;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

public class MetricLearningTrainerTests
{
    private static MetricLearningOptions Options(int epochs) => new()
    {
        Distance = "sliced-w2", DistanceSettings = new DistanceSettings { Projections = 16 }, Epochs = epochs, ClassesPerBatch = 4, ItemsPerClass = 3,
        LearningRate = 2e-2, Seed = 23, CheckpointEverySteps = 2, Margin = 0.5,
    };

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "distembed-ml-" + Guid.NewGuid().ToString("N"));

    private static byte[] Weights(torch.nn.Module m)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) m.save(w);
        return ms.ToArray();
    }

    /// <summary>An encoder whose weights come from a seeded stream (uniform ±1/√fan-in), independent of torch's global generator.</summary>
    private static PointCloudEncoder Seeded(int seed)
    {
        var model = new PointCloudEncoder(16, 4, 2);
        var random = new Random(seed);
        using var _ = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            var fanIn = name.EndsWith("bias", StringComparison.Ordinal) ? 32 : p.shape[^1];
            var bound = 1 / Math.Sqrt(fanIn);
            var values = Enumerable.Range(0, (int)p.numel()).Select(_ => (float)((2 * random.NextDouble() - 1) * bound)).ToArray();
            using var t = torch.tensor(values).reshape(p.shape);
            p.copy_(t);
        }
        return model;
    }

    private static PointCloudEncoder CopyOf(PointCloudEncoder source)
    {
        var copy = new PointCloudEncoder(16, 4, 2);
        using var r = new BinaryReader(new MemoryStream(Weights(source)));
        copy.load(r);
        return copy;
    }

    private static double MapAtR(PointCloudEncoder model, LabelledData data, string distanceName)
    {
        var distance = Catalog.CreateDistance(distanceName, new DistanceSettings { Projections = 16, Seed = 23 });
        var (d, y) = MetricLearningTrainer.DistanceMatrix(model, data, distance, 7);
        return RetrievalMetrics.Evaluate(d, y, y, true, [1]).MapAtR;
    }

    [Fact]
    public void SlicedW2TripletTrainingLowersTheLossAndBeatsTheUntrainedEncoder()
    {
        using var train = OwnEncoderGuideExamples.Clusters(8, 12, 1);
        using var valid = OwnEncoderGuideExamples.Clusters(4, 10, 2, labelOffset: 100);
        using var model = Seeded(11);
        var before = MapAtR(model, valid, "sliced-w2");
        var reports = new List<TrainingProgress>();
        var result = MetricLearningTrainer.Train(model, train, valid, Options(6) with { CheckpointEverySteps = 0 }, progress: new SyncProgress(reports.Add));
        Assert.Equal(6, result.History.Count);
        Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss,
            $"loss {result.History[0].TrainLoss} → {result.History[^1].TrainLoss}");
        var after = MapAtR(model, valid, "sliced-w2");
        Assert.True(after > before + 0.1, $"validation MAP@R {before:F3} untrained → {after:F3} trained");
        // A random ranking of 4 classes of 10 items has an expected MAP@R of about 0.106.
        Assert.True(after > 0.3, $"validation MAP@R {after:F3} is far above chance (about 0.106 for 4 classes of 10)");
        Assert.Equal(result.BestMapAtR!.Value, after, 12);
        Assert.Equal(result.Steps * 1 + 6, reports.Count);           // one report per step and one per epoch
        Assert.All(reports, p => Assert.Equal(0, p.SinkhornSolves));
    }

    [Fact]
    public void ResumedRunEndsBitForBitLikeAnUninterruptedRunAndCancellationLeavesAValidCheckpoint()
    {
        using var train = OwnEncoderGuideExamples.Clusters(6, 8, 3);
        using var valid = OwnEncoderGuideExamples.Clusters(3, 5, 4, labelOffset: 100);
        var dirA = TempDir();
        var dirB = TempDir();
        try
        {
            using var modelA = new PointCloudEncoder(16, 4, 2);
            using var modelB = CopyOf(modelA);
            var a = MetricLearningTrainer.Train(modelA, train, valid, Options(3), dirA);

            using var cts = new CancellationTokenSource();
            var progress = new SyncProgress(p =>
            {
                if (p.Epoch == 2 && p.Step == 3 && p.EpochResult is null) cts.Cancel();
            });
            Assert.Throws<OperationCanceledException>(() => MetricLearningTrainer.Train(modelB, train, valid, Options(3), dirB, progress, cts.Token));
            var mid = MetricLearningTrainer.ReadManifest(dirB);
            Assert.Equal(CheckpointKind.MetricLearning, CheckpointFolder.KindOf(dirB));
            Assert.Equal(1, mid.State.Epoch);
            Assert.Equal(2, mid.State.StepInEpoch);
            Assert.Equal("sliced-w2", mid.Distance);

            using var modelC = new PointCloudEncoder(16, 4, 2);                 // other initial weights: the checkpoint's replace them
            var c = MetricLearningTrainer.Resume(modelC, dirB, train, valid);
            Assert.Equal(a.History, c.History);
            Assert.Equal(a.BestEpoch, c.BestEpoch);
            Assert.Equal(a.Steps, c.Steps);
            Assert.Equal(Weights(modelA), Weights(modelC));
            Assert.Equal(3, MetricLearningTrainer.ReadManifest(dirA).State.History.Count);
        }
        finally
        {
            if (Directory.Exists(dirA)) Directory.Delete(dirA, true);
            if (Directory.Exists(dirB)) Directory.Delete(dirB, true);
        }
    }

    [Fact]
    public void SinkhornDivergenceTrainingReportsItsSolves()
    {
        using var train = OwnEncoderGuideExamples.Clusters(4, 6, 5);
        using var model = new PointCloudEncoder(16, 4, 2);
        var reports = new List<TrainingProgress>();
        var options = Options(1) with
        {
            Distance = "sinkhorn-divergence", CheckpointEverySteps = 0, DistanceSettings = new DistanceSettings { SinkhornIterations = 20, EpsilonScaling = 0.5 },
        };
        var result = MetricLearningTrainer.Train(model, train, null, options, progress: new SyncProgress(reports.Add));
        Assert.Null(result.BestMapAtR);
        Assert.True(double.IsFinite(result.History[0].TrainLoss));
        Assert.True(reports[^1].SinkhornSolves > 0, "the Sinkhorn solves of the steps are counted");
        Assert.True(reports[^1].MaxSinkhornMarginalError >= 0);
    }

    [Fact]
    public void BadInputsNameTheArgument()
    {
        using var train = OwnEncoderGuideExamples.Clusters(4, 6, 6);
        using var oneClass = OwnEncoderGuideExamples.Clusters(1, 6, 7);
        using var model = new PointCloudEncoder(16, 4, 2);
        void Bad(string param, Action act) => Assert.Equal(param, Assert.Throws<ArgumentException>(act).ParamName);

        Bad("Distance", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { Distance = null }));
        Bad("Distance", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { Distance = "no-such" }));
        Bad("Distance", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { Distance = "euclidean" }));   // vectors, not distributions
        Bad("Loss", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { Loss = "hinge" }));
        Bad("Miner", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { Miner = "hardest" }));
        Bad("Epochs", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { Epochs = 0 }));
        Bad("ClipNorm", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { ClipNorm = double.NaN }));
        Bad("WarmupFraction", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { WarmupFraction = 1 }));
        Bad("DistanceSettings.Projections", () => MetricLearningTrainer.Train(model, train, null,
            Options(1) with { DistanceSettings = new DistanceSettings { Projections = 0 } }));
        Bad("train", () => MetricLearningTrainer.Train(model, train, null, Options(1) with { ClassesPerBatch = 5 }));
        Bad("valid", () => MetricLearningTrainer.Train(model, train, oneClass, Options(1)));
        Bad("labels", () => new LabelledData(torch.zeros(3, 16), [0, 1]));
        Bad("inputs", () => new LabelledData(torch.zeros(new long[] { 3, 16 }, dtype: torch.int64), [0, 1, 2]));
        Bad("inputs", () => new LabelledData(torch.full(2, 16, double.NaN), [0, 1]));

        var dir = TempDir();
        try
        {
            MetricLearningTrainer.Train(model, train, null, Options(1), dir);
            Bad("checkpointDirectory", () => MetricLearningTrainer.Train(model, train, null, Options(1), dir));   // kept without overwrite
            using var otherData = OwnEncoderGuideExamples.Clusters(4, 6, 8);
            Bad("train", () => MetricLearningTrainer.Resume(model, dir, otherData, null, epochs: 2));
            using var otherModel = new PointCloudEncoder(16, 3, 2);
            Bad("model", () => MetricLearningTrainer.Resume(otherModel, dir, train, null, epochs: 2));
            Bad("valid", () => MetricLearningTrainer.Resume(model, dir, train, train, epochs: 2));
            // A sequence checkpoint folder is not a metric-learning one, and the other way round.
            Assert.Throws<ArgumentException>(() => CheckpointFolder.Prepare(dir, CheckpointKind.SequenceEmbedder, CheckpointMode.Overwrite));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void DamagedCheckpointFilesAreNamedOnResume()
    {
        using var train = OwnEncoderGuideExamples.Clusters(4, 6, 9);
        using var model = new PointCloudEncoder(16, 4, 2);
        var dir = TempDir();
        try
        {
            MetricLearningTrainer.Train(model, train, null, Options(1), dir);
            var weights = Path.Combine(dir, Checkpoint.ModelFile);
            var bytes = File.ReadAllBytes(weights);
            File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
            var e = Assert.Throws<InvalidDataException>(() => MetricLearningTrainer.Resume(model, dir, train, null, epochs: 2));
            Assert.Contains(weights, e.Message);
            File.WriteAllBytes(weights, bytes);
            File.Delete(Path.Combine(dir, Checkpoint.OptimizerFile));
            Assert.Throws<FileNotFoundException>(() => MetricLearningTrainer.Resume(model, dir, train, null, epochs: 2));
            File.WriteAllText(Path.Combine(dir, CheckpointFolder.ManifestFile), "{\"kind\": \"metric-learning\", \"format\": 7}");
            var m = Assert.Throws<InvalidDataException>(() => MetricLearningTrainer.ReadManifest(dir));
            Assert.Contains("format 7", m.Message);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void TheSequenceTrainerSharesTheDefaultsAndTheSchedule()
    {
        var generic = new MetricLearningOptions();
        var sequence = new TrainerOptions();
        Assert.Equal(generic with { Distance = "x" }, sequence.ToMetricLearning("x"));
        foreach (var (s, total, warm) in new[] { (0L, 100L, 10L), (9L, 100L, 10L), (55L, 100L, 10L), (99L, 100L, 0L) })
            Assert.Equal(MetricLearningTrainer.LearningRateAt(1e-3, s, total, warm), SequenceTrainer.LearningRateAt(1e-3, s, total, warm));
    }

    private sealed class SyncProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
