using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Autoencoders;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using DistEmbed.IO;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// One training shape: the deep Bregman trainer runs on the generic metric-learning loop and writes the one checkpoint
/// layout (save, reload, resume after cancellation); the TVAE shares the optimiser and the layout; old layouts load or
/// fail in one line naming the file.
/// </summary>
public sealed class TrainingShapeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-shape-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>n items of 6 features in <paramref name="classes"/> classes: class c is e_(c mod 6) · 2 (+ e_((c+1) mod 6) for c ≥ 6) plus N(0, 0.3²) noise.</summary>
    private static LabelledData Blobs(int[] classes, int perClass, int seed)
    {
        var random = new Random(seed);
        var n = classes.Length * perClass;
        var x = new float[n, 6];
        var y = new int[n];
        for (var i = 0; i < n; i++)
        {
            var c = classes[i % classes.Length];
            y[i] = c;
            for (var j = 0; j < 6; j++)
            {
                var u1 = 1.0 - random.NextDouble();
                var u2 = random.NextDouble();
                x[i, j] = (float)(0.3 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
            x[i, c % 6] += 2f;
            if (c >= 6) x[i, (c + 1) % 6] += 2f;
        }
        return LabelledData.FromArrays(x, y);
    }

    private static Bregman.BregmanModel TinyModel(string divergence = "max-affine") =>
        Bregman.BregmanModel.Create(new DeepBregmanArchitecture { InputDimension = 6, Divergence = divergence, Hidden = 16, EmbeddingDimension = 4, Seed = 7, GeneratorPieces = 4 });

    private static MetricLearningOptions TinyOptions(int epochs = 3) => DeepBregmanTrainer.DefaultOptions with
    {
        Epochs = epochs, ClassesPerBatch = 4, ItemsPerClass = 4, LearningRate = 1e-2, Seed = 5, Device = "cpu", WarmupFraction = 0.3,
    };

    private static byte[] Bytes(string file) => File.ReadAllBytes(file);

    /// <summary>Reports synchronously (a <see cref="Progress{T}"/> posts to the thread pool) and cancels after a given epoch.</summary>
    private sealed class CancelAfter(int epoch, CancellationTokenSource cts) : IProgress<TrainingProgress>
    {
        public List<TrainingProgress> Reports { get; } = [];

        public void Report(TrainingProgress value)
        {
            Reports.Add(value);
            if (value.EpochResult?.Epoch == epoch) cts.Cancel();
        }
    }

    private static double[] Divergences(Bregman.BregmanModel model, LabelledData data)
    {
        using var scope = torch.NewDisposeScope();
        using var e = EmbeddingBatch.Vectors(model.Embed(data.Inputs, 64));
        return model.Distance.Pairwise(e, e).to_type(torch.ScalarType.Float64).data<double>().ToArray();
    }

    [Fact]
    public void DeepBregmanTrainerTrainsThroughTheGenericLoopSavesAndReloadsIdenticalDivergences()
    {
        using var train = Blobs([0, 1, 2, 3, 4], 12, 1);
        using var valid = Blobs([6, 7, 8], 8, 2);
        using var model = TinyModel();
        var dir = Path.Combine(_dir, "bregman");
        var before = Divergences(model, valid);
        var progress = new CancelAfter(-1, new CancellationTokenSource());
        var result = DeepBregmanTrainer.Train(model, train, valid, TinyOptions(), dir, progress);
        // The generic loop's conventions: per-step and per-epoch reports, warm-up then cosine decay, validation MAP@R.
        Assert.Equal(3, result.History.Count);
        Assert.Equal(3, progress.Reports.Count(p => p.EpochResult is not null));
        Assert.All(result.History, h => Assert.InRange(h.ValidMapAtR!.Value, 0.0, 1.0));
        Assert.InRange(result.BestEpoch, 1, 3);
        var rates = progress.Reports.Where(p => p.EpochResult is null).Select(p => p.LearningRate).ToArray();
        Assert.True(rates[0] < rates.Max(), "warm-up: the first step's rate is below the peak");
        Assert.True(rates[^1] < rates.Max(), "cosine decay: the last step's rate is below the peak");
        Assert.NotEqual(before, Divergences(model, valid)); // the backbone and the generator were trained

        // The one layout: manifest + weights + best weights + optimiser state, and nothing else.
        Assert.Equal(new[] { "best.dat", "manifest.json", "model.dat", "optimizer.dat" }, Directory.GetFiles(dir).Select(p => Path.GetFileName(p)!).Order().ToArray());
        Assert.Equal(CheckpointKind.DeepBregman, CheckpointFolder.KindOf(dir));
        var manifest = DeepBregmanTrainer.ReadManifest(dir);
        Assert.Equal("max-affine", manifest.Model.Divergence);
        Assert.Equal(4, manifest.Model.GeneratorPieces);
        Assert.Equal(model.Distance.Name, manifest.Distance);
        Assert.Null(manifest.Trainer.Distance);
        Assert.Equal(3, manifest.State.Epoch);

        // Reloaded (architecture from the manifest, best weights): identical divergences.
        using var loaded = DeepBregmanTrainer.Load(dir);
        Assert.Equal(Divergences(model, valid), Divergences(loaded, valid));
        Assert.Equal(Divergences(model, train), Divergences(loaded, train));

        // The distance is the model's divergence: a catalog distance name is refused, naming the option.
        using var other = TinyModel();
        var ex = Assert.Throws<ArgumentException>(() => DeepBregmanTrainer.Train(other, train, null, TinyOptions() with { Distance = "euclidean" }));
        Assert.Equal("Distance", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => DeepBregmanTrainer.Train(other, train, null, TinyOptions(), dir));
        Assert.Contains("already holds a deep-bregman checkpoint", ex.Message);
        using var wide = LabelledData.FromArrays(new float[8, 5], [0, 0, 1, 1, 2, 2, 3, 3]);
        ex = Assert.Throws<ArgumentException>(() => DeepBregmanTrainer.Train(other, wide, null, TinyOptions()));
        Assert.Equal("train", ex.ParamName);
    }

    [Fact]
    public void DeepBregmanRunResumedAfterCancellationEndsBitIdenticallyToTheUninterruptedRun()
    {
        using var train = Blobs([0, 1, 2, 3, 4], 12, 3);
        using var valid = Blobs([6, 7, 8], 8, 4);
        var whole = Path.Combine(_dir, "whole");
        var parts = Path.Combine(_dir, "parts");
        using var a = TinyModel("icnn");
        var uninterrupted = DeepBregmanTrainer.Train(a, train, valid, TinyOptions(), whole);

        using var cts = new CancellationTokenSource();
        using var b = TinyModel("icnn");
        Assert.ThrowsAny<OperationCanceledException>(() => DeepBregmanTrainer.Train(b, train, valid, TinyOptions(), parts, new CancelAfter(1, cts), cts.Token));
        Assert.Equal(1, DeepBregmanTrainer.ReadManifest(parts).State.Epoch); // the checkpoint of epoch 1 stayed valid
        var (resumed, result) = DeepBregmanTrainer.Resume(parts, train, valid);
        using (resumed)
        {
            Assert.Equal(uninterrupted.History, result.History);
            Assert.Equal(uninterrupted.BestEpoch, result.BestEpoch);
            foreach (var file in new[] { "model.dat", "best.dat", "optimizer.dat" })
                Assert.True(Bytes(Path.Combine(whole, file)).SequenceEqual(Bytes(Path.Combine(parts, file))), file);
            Assert.Equal(Divergences(a, valid), Divergences(resumed, valid));
        }

        // Other data are refused on resume, naming the argument and what differs.
        using var otherData = Blobs([0, 1, 2, 3, 4], 12, 99);
        var ex = Assert.Throws<ArgumentException>(() => DeepBregmanTrainer.Resume(parts, otherData, valid));
        Assert.Equal("train", ex.ParamName);
        Assert.Throws<ArgumentException>(() => DeepBregmanTrainer.Resume(parts, train, null));
    }

    [Fact]
    public void TrainBregmanCommandResumesAnInterruptedRunToTheSameResult()
    {
        var folder = Path.Combine(_dir, "idx");
        Directory.CreateDirectory(folder);
        BregmanConsumerTests.WriteTinySet(folder, "train", 20, 1);
        BregmanConsumerTests.WriteTinySet(folder, "t10k", 8, 2);
        BregmanTrainSettings Settings(string outDir, int? epochs = 3, bool resume = false, bool overwrite = false) => new()
        {
            Data = "idx:" + folder, Generator = "icnn", Epochs = epochs, Seed = 2, Device = "cpu", Out = outDir, Resume = resume, Overwrite = overwrite,
            TrainPerClass = 0, TestPerClass = 0, EmbeddingDimension = 4, Hidden = 16, ItemsPerClass = 4,
        };
        var whole = BregmanTrainCommand.Run(Settings(Path.Combine(_dir, "cli-whole")));
        using var cts = new CancellationTokenSource();
        var partsDir = Path.Combine(_dir, "cli-parts");
        Assert.ThrowsAny<OperationCanceledException>(() => BregmanTrainCommand.Run(Settings(partsDir), line => { if (line.StartsWith("epoch 1:", StringComparison.Ordinal)) cts.Cancel(); }, cts.Token));
        var resumed = BregmanTrainCommand.Run(Settings(partsDir, null, resume: true));
        Assert.Equal(whole.EpochLosses, resumed.EpochLosses);
        Assert.Equal(whole.MapAtR, resumed.MapAtR);
        Assert.Equal(whole.PrecisionAt1, resumed.PrecisionAt1);
        Assert.Equal(Bytes(Path.Combine(_dir, "cli-whole", "model.dat")), Bytes(Path.Combine(partsDir, "model.dat")));
        var ex = Assert.Throws<ArgumentException>(() => BregmanTrainCommand.Run(Settings(partsDir, resume: true, overwrite: true)));
        Assert.Equal("overwrite", ex.ParamName);

        // Through the command line: an explicit setting other than the checkpoint's is refused in one line naming it
        // (before any training), and the run resumed with the checkpoint's settings is accepted.
        var args = new[] { "train", "bregman", "--data", "idx:" + folder, "--out", partsDir, "--resume", "--device", "cpu", "--train-per-class", "0", "--test-per-class", "0" };
        var (code, _, stderr) = CliRunner.Run([.. args, "--generator", "icnn", "--lr", "0.5"]);
        Assert.Equal(1, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--lr 0.5 differs from the checkpoint's 0.001", stderr);
        (code, var stdout, stderr) = CliRunner.Run([.. args, "--generator", "icnn", "--json"]);
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(whole.EpochLosses, json.RootElement.GetProperty("epoch_losses").EnumerateArray().Select(e => e.GetDouble()).ToArray());
    }

    [Fact]
    public void AnOldDeepBregmanCheckpointFailsInOneLineNamingTheManifest()
    {
        var dir = Path.Combine(_dir, "old-bregman");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "manifest.json"),
            "{\"format\": \"distembed-checkpoint/1\", \"kind\": \"deep-bregman\", \"model\": \"deep-bregman\", \"divergence\": \"icnn\", \"state_dict\": \"model.pt\"}");
        File.WriteAllBytes(Path.Combine(dir, "model.pt"), [1, 2, 3]);
        var manifest = Path.Combine(dir, "manifest.json");
        foreach (var load in new Action[] { () => DeepBregmanTrainer.Load(dir), () => DeepBregmanTrainer.ReadManifest(dir) })
        {
            var ex = Assert.Throws<InvalidDataException>(load);
            Assert.Contains(manifest, ex.Message);
            Assert.Contains("earlier layout", ex.Message);
            Assert.DoesNotContain('\n', ex.Message);
        }
        using var train = Blobs([0, 1, 2, 3, 4], 4, 1);
        var resume = Assert.Throws<InvalidDataException>(() => DeepBregmanTrainer.Resume(dir, train, null));
        Assert.Contains(manifest, resume.Message);
        // Still recognised as a deep-Bregman folder: a new run replaces it only when asked to.
        using var model = TinyModel();
        Assert.Throws<ArgumentException>(() => DeepBregmanTrainer.Train(model, train, null, TinyOptions(1) with { ClassesPerBatch = 2, ItemsPerClass = 2 }, dir));
        DeepBregmanTrainer.Train(model, train, null, TinyOptions(1) with { ClassesPerBatch = 2, ItemsPerClass = 2 }, dir, overwrite: true);
        Assert.False(File.Exists(Path.Combine(dir, "model.pt")));
        Assert.Equal(1, DeepBregmanTrainer.ReadManifest(dir).State.Epoch);
    }

    // ---- TVAE: the shared optimiser and checkpoint layout ----------------------------------------------------------

    private static TvaeOptions SmallTvae(int epochs) => new()
    {
        Variant = TvaeVariant.Tvae, LatentSize = 4, HiddenSize = 16, BatchSize = 16, Epochs = epochs, TripletsPerEpoch = 64, Seed = 3, LearningRate = 3e-3,
    };

    /// <summary>n synthetic 8 × 8 images of 4 classes (class c lights quadrant c) with noise.</summary>
    private static (float[,] Images, int[] Labels) Images(int n)
    {
        var random = new Random(11);
        var images = new float[n, 64];
        var labels = new int[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = i % 4;
            for (var p = 0; p < 64; p++)
                images[i, p] = (float)(0.2 * random.NextDouble() + (((p / 8 < 4 ? 0 : 2) + (p % 8 < 4 ? 0 : 1)) == labels[i] ? 0.7 : 0.0));
        }
        return (images, labels);
    }

    [Fact]
    public void TvaeCheckpointsInTheSharedLayoutAndAResumedFitEqualsTheUninterruptedOne()
    {
        var (images, labels) = Images(64);
        var whole = Path.Combine(_dir, "tvae-whole");
        using var a = Tvae.Create(8, 8, SmallTvae(3));
        a.Fit(images, labels, checkpointDirectory: whole);
        Assert.Equal(new[] { "manifest.json", "model.dat", "noise.dat", "optimizer.dat" }, Directory.GetFiles(whole).Select(p => Path.GetFileName(p)!).Order().ToArray());
        Assert.Equal(CheckpointKind.Tvae, CheckpointFolder.KindOf(whole));

        // Round trip: identical outputs.
        using (var loaded = Tvae.Load(whole))
        {
            Assert.Equal(3, loaded.EpochsTrained);
            Assert.Equal(a.Encode(images).Means, loaded.Encode(images).Means);
        }

        // Interrupted after epoch 1 by cancellation, resumed: the same weights and optimiser state as the uninterrupted call.
        var parts = Path.Combine(_dir, "tvae-parts");
        using var cts = new CancellationTokenSource();
        using (var b = Tvae.Create(8, 8, SmallTvae(3)))
            Assert.ThrowsAny<OperationCanceledException>(() => b.Fit(images, labels, new CancelAfter(1, cts), cts.Token, parts));
        var (resumed, report) = Tvae.Resume(parts, images, labels);
        using (resumed)
        {
            Assert.Equal(2, report.EpochLoss.Length);
            Assert.Equal(3, resumed.EpochsTrained);
            Assert.Equal(a.Encode(images).Means, resumed.Encode(images).Means);
            foreach (var file in new[] { "model.dat", "optimizer.dat", "noise.dat" })
                Assert.True(Bytes(Path.Combine(whole, file)).SequenceEqual(Bytes(Path.Combine(parts, file))), file);
        }

        // A damaged optimiser state fails in one line naming the file.
        File.WriteAllBytes(Path.Combine(parts, "optimizer.dat"), [1, 2, 3]);
        var ex = Assert.Throws<InvalidDataException>(() => Tvae.Load(parts));
        Assert.Contains(Path.Combine(parts, "optimizer.dat"), ex.Message);
    }

    [Fact]
    public void AnOldTvaeCheckpointStillLoadsButCannotBeResumed()
    {
        var (images, labels) = Images(40);
        var dir = Path.Combine(_dir, "tvae-old");
        using var model = Tvae.Create(8, 8, SmallTvae(1));
        model.Fit(images, labels);
        model.Save(dir);
        // Rewrite it into the earlier layout: weights in model.bin, format distembed-tvae/1, no optimiser or noise state.
        File.Move(Path.Combine(dir, "model.dat"), Path.Combine(dir, "model.bin"));
        File.Delete(Path.Combine(dir, "optimizer.dat"));
        File.Delete(Path.Combine(dir, "noise.dat"));
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")))!.AsObject();
        manifest["format"] = Tvae.PreviousCheckpointFormat;
        manifest.Remove("target_epochs");
        File.WriteAllText(Path.Combine(dir, "manifest.json"), manifest.ToJsonString());
        using (var old = Tvae.Load(dir))
        {
            Assert.Equal(1, old.EpochsTrained);
            Assert.Equal(model.Encode(images).Means, old.Encode(images).Means);
        }
        var ex = Assert.Throws<InvalidDataException>(() => Tvae.Resume(dir, images, labels));
        Assert.Contains(Path.Combine(dir, "manifest.json"), ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        // Overwriting an old-layout folder with a new checkpoint leaves only the new layout's files.
        model.Save(dir, overwrite: true);
        Assert.Equal(new[] { "manifest.json", "model.dat", "noise.dat", "optimizer.dat" }, Directory.GetFiles(dir).Select(p => Path.GetFileName(p)!).Order().ToArray());
    }
}
