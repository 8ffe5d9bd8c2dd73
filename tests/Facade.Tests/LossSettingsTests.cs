using System.Text.Json;
using DistEmbed.Cli;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.Facade.Tests.DocExamples;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The loss-specific settings and the cross-batch memory: one name and one default each (the core's), reachable from
/// the generic and the sequence trainer and from <c>train sequence</c>; the memory is in the resumable checkpoint, so a
/// resumed <c>xbm</c> run ends exactly as the uninterrupted one.
/// </summary>
[Collection("Console")]
public sealed class LossSettingsTests
{
    private static string Root([System.Runtime.CompilerServices.CallerFilePath] string path = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));

    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    [Fact]
    public void DefaultsAreTheCoresAndTheSameInBothTrainers()
    {
        var core = new LossOptions();
        var s = new LossSettings();
        Assert.Equal((core.Contrastive.PositiveMargin, core.Contrastive.NegativeMargin), (s.ContrastivePositiveMargin, s.ContrastiveNegativeMargin));
        Assert.Equal((core.NTXent.Temperature, core.SupCon.Temperature, core.Prototype.Temperature), (s.NTXentTemperature, s.SupConTemperature, s.PrototypeTemperature));
        Assert.Equal((core.MultiSimilarity.Alpha, core.MultiSimilarity.Beta, core.MultiSimilarity.Threshold), (s.MultiSimilarityAlpha, s.MultiSimilarityBeta, s.MultiSimilarityThreshold));
        Assert.Equal((core.Circle.Margin, core.Circle.Gamma), (s.CircleMargin, s.CircleGamma));
        Assert.Equal((core.ProxyAnchor.Alpha, core.ProxyAnchor.Delta), (s.ProxyAnchorAlpha, s.ProxyAnchorDelta));
        var m = new MetricLearningOptions();
        var t = new TrainerOptions();
        Assert.Equal((core.CrossBatchMemory.Loss, core.CrossBatchMemory.Size), (m.MemoryLoss, m.MemorySize));
        Assert.Equal((core.Triplet.Margin, false), (m.Margin, m.SoftMargin));
        Assert.Equal((m.Margin, m.SoftMargin, m.MemoryLoss, m.MemorySize, m.LossSettings), (t.Margin, t.SoftMargin, t.MemoryLoss, t.MemorySize, t.LossSettings));
    }

    [Fact]
    public void TheSequenceTrainersSettingsReachTheCoresLossOptions()
    {
        var settings = new LossSettings
        {
            ContrastivePositiveMargin = 0.11, ContrastiveNegativeMargin = 0.9, NTXentTemperature = 0.2, SupConTemperature = 0.07,
            PrototypeTemperature = 0.5, MultiSimilarityAlpha = 3, MultiSimilarityBeta = 40, MultiSimilarityThreshold = 0.4,
            CircleMargin = 0.3, CircleGamma = 64, ProxyAnchorAlpha = 16, ProxyAnchorDelta = 0.2,
        };
        var trainer = new TrainerOptions { Loss = "xbm", Miner = "semi-hard", Margin = 0.35, SoftMargin = true, MemoryLoss = "supcon", MemorySize = 48, LossSettings = settings };
        var generic = trainer.ToMetricLearning("euclidean");
        Assert.Equal((0.35, true, "supcon", 48, settings), (generic.Margin, generic.SoftMargin, generic.MemoryLoss, generic.MemorySize, generic.LossSettings));
        var o = generic.LossSettings.ToCore(generic.Margin, generic.SoftMargin, generic.MemoryLoss, generic.MemorySize, generic.Miner);
        Assert.Equal((0.35, TripletPenalty.SoftPlus), (o.Triplet.Margin, o.Triplet.Penalty));
        Assert.Equal((0.11, 0.9), (o.Contrastive.PositiveMargin, o.Contrastive.NegativeMargin));
        Assert.Equal((0.2, 0.07, 0.5), (o.NTXent.Temperature, o.SupCon.Temperature, o.Prototype.Temperature));
        Assert.Equal((3.0, 40.0, 0.4), (o.MultiSimilarity.Alpha, o.MultiSimilarity.Beta, o.MultiSimilarity.Threshold));
        Assert.Equal((0.3, 64.0), (o.Circle.Margin, o.Circle.Gamma));
        Assert.Equal((16.0, 0.2), (o.ProxyAnchor.Alpha, o.ProxyAnchor.Delta));
        Assert.Equal(("supcon", 48, "semi-hard", 0.35), (o.CrossBatchMemory.Loss, o.CrossBatchMemory.Size, o.CrossBatchMemory.Miner, o.CrossBatchMemory.MinerMargin));

        // The loss the trainer makes computes with them: supcon at τ = 0.07 is the core's supcon at τ = 0.07, not at the default.
        using var scope = NewDisposeScope();
        var g = new Generator().manual_seed(5);
        var batch = VectorBatch.FromTensor(randn([12, 4], generator: g));
        var labels = tensor(Enumerable.Range(0, 12).Select(i => (long)(i % 3)).ToArray());
        var distance = Distances.Create("euclidean", null);
        double Value(IMetricLoss loss) => loss.Compute(batch, labels, distance, null).item<float>();
        var ours = Value((trainer with { Loss = "supcon" }).ToMetricLearning("euclidean").CreateLoss());
        Assert.Equal(Value(Losses.Create("supcon", new LossOptions { SupCon = new SupConLossOptions { Temperature = 0.07 } })), ours);
        Assert.NotEqual(Value(Losses.Create("supcon", null)), ours);
    }

    [Fact]
    public void OutOfRangeSettingsNameTheSetting()
    {
        foreach (var (settings, name) in new (LossSettings, string)[]
                 {
                     (new() { NTXentTemperature = 0 }, "LossSettings.NTXentTemperature"),
                     (new() { SupConTemperature = double.NaN }, "LossSettings.SupConTemperature"),
                     (new() { ContrastiveNegativeMargin = -1 }, "LossSettings.ContrastiveNegativeMargin"),
                     (new() { MultiSimilarityThreshold = double.PositiveInfinity }, "LossSettings.MultiSimilarityThreshold"),
                     (new() { CircleGamma = 0 }, "LossSettings.CircleGamma"),
                     (new() { ProxyAnchorDelta = -0.1 }, "LossSettings.ProxyAnchorDelta"),
                     (null!, "LossSettings"),
                 })
        {
            Assert.Equal(name, Assert.Throws<ArgumentException>(() => new TrainerOptions { LossSettings = settings }.Validate()).ParamName);
            Assert.Equal(name, Assert.Throws<ArgumentException>(() => new MetricLearningOptions { Distance = "euclidean", LossSettings = settings }.Validate()).ParamName);
        }
    }

    [Fact]
    public void AResumedXbmRunEndsAsTheUninterruptedOne()
    {
        // A memory of 40 items (more than one batch of 12, fewer than an epoch of 48): a resumed run that started with an
        // empty memory would mine other tuples in its first steps and end with other weights.
        using var train = OwnEncoderGuideExamples.Clusters(classes: 6, perClass: 8, seed: 5);
        var options = new MetricLearningOptions
        {
            Distance = "euclidean", Loss = "xbm", MemoryLoss = "contrastive", MemorySize = 40, Miner = "all",
            Epochs = 4, ClassesPerBatch = 3, ItemsPerClass = 4, LearningRate = 1e-2,
        };
        var folder = Path.Combine(Path.GetTempPath(), "distembed-xbm-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            torch.manual_seed(9);
            using var whole = new VectorEncoder(16, 8);
            var uninterrupted = MetricLearningTrainer.Train(whole, train, null, options);
            torch.manual_seed(9);
            using var first = new VectorEncoder(16, 8);
            using var cancel = new CancellationTokenSource();
            var stopAfterTwo = new SynchronousProgress(p => { if (p.EpochResult is { Epoch: 2 }) cancel.Cancel(); });
            Assert.Throws<OperationCanceledException>(() =>
                MetricLearningTrainer.Train(first, train, null, options, checkpointDirectory: folder, progress: stopAfterTwo, cancellationToken: cancel.Token));
            Assert.True(File.Exists(Path.Combine(folder, "loss.dat")), "the checkpoint stores the memory");
            // The same checkpoint with an empty memory (what a resumed run had before the memory was checkpointed) ends elsewhere.
            var emptied = folder + "-empty";
            Directory.CreateDirectory(emptied);
            foreach (var file in Directory.GetFiles(folder)) File.Copy(file, Path.Combine(emptied, Path.GetFileName(file)));
            using (var empty = (CrossBatchMemory)Losses.Create("xbm", new LossOptions { CrossBatchMemory = new CrossBatchMemoryOptions { Size = 40 } }))
            using (var stream = File.Create(Path.Combine(emptied, "loss.dat")))
                empty.SaveState(stream);
            using var second = new VectorEncoder(16, 8);
            var resumed = MetricLearningTrainer.Resume(second, folder, train, null, epochs: 4);
            Assert.Equal(uninterrupted.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
            Assert.Equal(ModuleWeights.ToBytes(whole), ModuleWeights.ToBytes(second));

            using var withoutMemory = new VectorEncoder(16, 8);
            var restarted = MetricLearningTrainer.Resume(withoutMemory, emptied, train, null, epochs: 4);
            Assert.NotEqual(uninterrupted.History.Select(h => h.TrainLoss), restarted.History.Select(h => h.TrainLoss));

            File.Delete(Path.Combine(folder, "loss.dat"));
            using var third = new VectorEncoder(16, 8);
            var missing = Assert.Throws<FileNotFoundException>(() => MetricLearningTrainer.Resume(third, folder, train, null, epochs: 5));
            Assert.Contains("loss.dat", missing.Message);
            Assert.Contains("memory", missing.Message);
        }
        finally
        {
            foreach (var d in new[] { folder, folder + "-empty" }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Fact]
    public void AResumedSequenceXbmRunOverDistributionsEndsBitForBit()
    {
        // Distribution embeddings: the memory's weights are restored bit for bit (not renormalised on load).
        var tiny = new EmbedderOptions { InputChannels = 2, Hidden = 8, Features = 4, Layers = 2, Head = "distribution" };
        var options = new TrainerOptions
        {
            Loss = "xbm", MemoryLoss = "triplet", MemorySize = 20, Miner = "batch-hard",   // the head's distance, marginal-w2
            Epochs = 2, ClassesPerBatch = 4, ItemsPerClass = 3, LearningRate = 5e-3, Seed = 17, CheckpointEverySteps = 2,
        };
        var train = SequenceTestData.Make(6, 8, 1);
        var dirA = Path.Combine(Path.GetTempPath(), "distembed-seq-xbm-" + Guid.NewGuid().ToString("N"));
        var dirB = dirA + "-b";
        try
        {
            var modelA = SequenceEmbedder.Create(tiny, 5);
            var a = SequenceTrainer.Train(modelA, train, null, options, dirA);
            var modelB = SequenceEmbedder.Create(tiny, 5);
            using var cts = new CancellationTokenSource();
            var progress = new SynchronousProgress(p => { if (p.Epoch == 2 && p.Step == 3 && p.EpochResult is null) cts.Cancel(); });
            Assert.Throws<OperationCanceledException>(() => SequenceTrainer.Train(modelB, train, null, options, dirB, null, progress, cts.Token));
            Assert.Equal((1, 2), (Checkpoint.ReadManifest(dirB).State.Epoch, Checkpoint.ReadManifest(dirB).State.StepInEpoch));
            var (modelC, c) = SequenceTrainer.Resume(dirB, train, null);
            Assert.Equal(a.History, c.History);
            Assert.Equal(ModuleWeights.ToBytes(modelA), ModuleWeights.ToBytes(modelC));
            Assert.Equal(options.LossSettings, Checkpoint.ReadManifest(dirB).Trainer.LossSettings);
            Assert.Equal((20, "triplet"), (Checkpoint.ReadManifest(dirB).Trainer.MemorySize, Checkpoint.ReadManifest(dirB).Trainer.MemoryLoss));
        }
        finally
        {
            foreach (var d in new[] { dirA, dirB }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    [Fact]
    public void TheMemoryStateRoundTripsEveryRepresentationBitForBit()
    {
        using var scope = NewDisposeScope();
        var g = new Generator().manual_seed(11);
        IEmbeddingBatch Batch(string kind, int count, int length) => kind switch
        {
            "vectors" => VectorBatch.FromTensor(randn([count, 3], ScalarType.Float64, generator: g)),
            "quantiles" => QuantileBatch.FromTensor(randn([count, 3, 5], generator: g).sort(2).Item1, null),
            _ => DistributionBatch.FromTensors(randn([count, length, 2], generator: g), rand([count, length], generator: g).add(0.1)),
        };
        Tensor[] Tensors(IEmbeddingBatch b) => b switch
        {
            VectorBatch v => [v.Values],
            QuantileBatch q => [q.Values, q.Levels],
            DistributionBatch d => [d.Points, d.Weights],
            _ => [],
        };
        foreach (var kind in new[] { "vectors", "quantiles", "distributions" })
        {
            using var memory = (CrossBatchMemory)Losses.Create("xbm", new LossOptions { CrossBatchMemory = new CrossBatchMemoryOptions { Size = 7 } });
            memory.Enqueue(Batch(kind, 4, 3), tensor(new long[] { 0, 1, 2, 3 }));
            memory.Enqueue(Batch(kind, 5, 6), tensor(new long[] { 4, 5, 6, 7, 8 }));   // 9 items: the oldest 2 dropped; distributions padded to 6
            using var stream = new MemoryStream();
            memory.SaveState(stream);
            using var restored = (CrossBatchMemory)Losses.Create("xbm", new LossOptions { CrossBatchMemory = new CrossBatchMemoryOptions { Size = 7 } });
            restored.LoadState(new MemoryStream(stream.ToArray()), CPU);
            Assert.Equal(memory.MemoryLabels, restored.MemoryLabels);
            var (a, b) = (Tensors(memory.Memory), Tensors(restored.Memory));
            Assert.Equal(a.Length, b.Length);
            for (var i = 0; i < a.Length; i++)
            {
                Assert.Equal(a[i].shape, b[i].shape);
                Assert.Equal(a[i].dtype, b[i].dtype);
                Assert.True(a[i].eq(b[i]).all().item<bool>(), $"{kind}: tensor {i} of the restored memory differs");
            }
        }
        using var none = (CrossBatchMemory)Losses.Create("xbm", null);
        using var emptyStream = new MemoryStream();
        none.SaveState(emptyStream);
        none.LoadState(new MemoryStream(emptyStream.ToArray()), CPU);
        Assert.Equal(0, none.Count);
    }

    [Fact]
    public void ACorruptMemoryStateIsRefusedWithTheFileNamed()
    {
        using var memory = (CrossBatchMemory)Losses.Create("xbm", new LossOptions { CrossBatchMemory = new CrossBatchMemoryOptions { Size = 4 } });
        using var scope = NewDisposeScope();
        memory.Enqueue(VectorBatch.FromTensor(randn(3, 2)), tensor(new long[] { 0, 1, 2 }));
        using var stream = new MemoryStream();
        memory.SaveState(stream);
        var bytes = stream.ToArray();
        using var copy = (CrossBatchMemory)Losses.Create("xbm", new LossOptions { CrossBatchMemory = new CrossBatchMemoryOptions { Size = 4 } });
        copy.LoadState(new MemoryStream(bytes), CPU);
        Assert.Equal(memory.MemoryLabels, copy.MemoryLabels);
        Assert.Equal(((VectorBatch)memory.Memory).Values.data<float>().ToArray(), ((VectorBatch)copy.Memory).Values.data<float>().ToArray());
        Assert.Throws<InvalidDataException>(() => copy.LoadState(new MemoryStream(bytes[..^5]), CPU));
        using var smaller = (CrossBatchMemory)Losses.Create("xbm", new LossOptions { CrossBatchMemory = new CrossBatchMemoryOptions { Size = 2 } });
        Assert.Contains("Size = 2", Assert.Throws<InvalidDataException>(() => smaller.LoadState(new MemoryStream(bytes), CPU)).Message);
        var wrong = (byte[])bytes.Clone();
        wrong[0] ^= 0xFF;
        Assert.Contains("header", Assert.Throws<InvalidDataException>(() => copy.LoadState(new MemoryStream(wrong), CPU)).Message);
    }

    [Fact]
    public void TheLossSettingsTableOfTheLossGuideIsTheLibrarys()
    {
        var text = File.ReadAllText(Path.Combine(Root(), "docs", "losses.md")).ReplaceLineEndings("\n");
        var start = text.IndexOf("<!-- loss-settings:begin -->", StringComparison.Ordinal);
        var end = text.IndexOf("<!-- loss-settings:end -->", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "docs/losses.md has no loss-settings table");
        var rows = text[start..end].Split('\n').Where(l => l.StartsWith("| `", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).ToArray();
        var defaults = new TrainerOptions();
        var seen = new List<string>();
        foreach (var cells in rows)
        {
            var name = cells[1].Trim('`');
            var option = cells[2].Trim('`');
            seen.Add(name);
            object? value = defaults;
            foreach (var part in name.Split('.')) value = value!.GetType().GetProperty(part)!.GetValue(value);
            Assert.Equal(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!.ToLowerInvariant(), cells[4]);
            Assert.Equal(name == nameof(TrainerOptions.SoftMargin) ? "--soft-margin" : LossSettingsOptions.OptionNames[name], option);
        }
        Assert.Equal(LossSettingsOptions.OptionNames.Keys.Append(nameof(TrainerOptions.SoftMargin)).Order(), seen.Order());
    }

    [Fact]
    public void TrainSequenceTakesEveryLossSettingWithTheLibraryDefault()
    {
        var command = CliCommandLineTests.Commands().Single(c => c.Path == "train sequence").Command;
        var names = command.Options.Select(o => o.Name).ToHashSet();
        foreach (var name in LossSettingsOptions.OptionNames.Values) Assert.Contains(name, names);
        Assert.Contains("--soft-margin", names);
        // One option per LossSettings property and per loss field of TrainerOptions.
        Assert.Equal(typeof(LossSettings).GetProperties().Length + 3, LossSettingsOptions.OptionNames.Count);
        var parsed = Program.CreateRoot().Parse(["train", "sequence"]);
        var t = new TrainerOptions();
        Assert.Equal(t.Margin, parsed.GetValue<double>("--margin"));
        Assert.Equal(t.MemoryLoss, parsed.GetValue<string>("--memory-loss"));
        Assert.Equal(t.MemorySize, parsed.GetValue<int>("--memory-size"));
        Assert.Equal(t.LossSettings.NTXentTemperature, parsed.GetValue<double>("--ntxent-temperature"));
        Assert.Equal(t.LossSettings.CircleGamma, parsed.GetValue<double>("--circle-gamma"));
        Assert.Equal(t.LossSettings.ProxyAnchorAlpha, parsed.GetValue<double>("--proxy-anchor-alpha"));
        Assert.Equal(t.LossSettings.MultiSimilarityThreshold, parsed.GetValue<double>("--multi-similarity-threshold"));
    }

    [Fact]
    public void TrainSequenceWritesTheLossSettingsAndNamesABadOne()
    {
        const string train = "synthetic:noise-laws?classes=10&per-class=6&seed=1&min-length=8&max-length=12";
        var dir = Directory.CreateTempSubdirectory("distembed-loss-cli-").FullName;
        try
        {
            var model = Path.Combine(dir, "model");
            var (code, _, stderr) = CliRunner.Run("train", "sequence", "--train", train, "--loss", "supcon", "--supcon-temperature", "0.07",
                "--epochs", "1", "--batch-size", "16", "--hidden", "8", "--features", "3", "--quantiles", "5", "--device", "cpu", "--out", model, "--json");
            Assert.True(code == 0, stderr);
            var manifest = Checkpoint.ReadManifest(model);
            Assert.Equal(("supcon", 0.07), (manifest.Trainer.Loss, manifest.Trainer.LossSettings.SupConTemperature));
            Assert.Equal(new LossSettings().NTXentTemperature, manifest.Trainer.LossSettings.NTXentTemperature);

            (code, _, stderr) = CliRunner.Run("train", "sequence", "--train", train, "--out", model, "--resume", "--supcon-temperature", "0.5");
            Assert.NotEqual(0, code);
            Assert.Contains("--supcon-temperature 0.5 differs from the checkpoint's 0.07", stderr);

            (code, _, stderr) = CliRunner.Run("train", "sequence", "--train", train, "--loss", "ntxent", "--ntxent-temperature", "0",
                "--out", Path.Combine(dir, "bad"));
            Assert.NotEqual(0, code);
            Assert.Contains("--ntxent-temperature = 0", stderr);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
    [Fact]
    public void TrainBregmanAndTrainSequenceShareTheLossOptionsWithTheLibraryDefaults()
    {
        var commands = CliCommandLineTests.Commands();
        var sequence = commands.Single(c => c.Path == "train sequence").Command.Options.Select(o => o.Name).ToHashSet();
        var bregman = commands.Single(c => c.Path == "train bregman").Command.Options.Select(o => o.Name).ToHashSet();
        var names = LossSettingsOptions.OptionNames.Values.Concat(["--loss", "--miner", "--soft-margin"]).ToArray();
        Assert.Equal(typeof(LossSettings).GetProperties().Length + 6, names.Length);
        foreach (var name in names)
        {
            Assert.Contains(name, sequence);
            Assert.Contains(name, bregman);
        }
        // train bregman's defaults are DeepBregmanTrainer.DefaultOptions' (the CLI writes none of its own).
        var parsed = Program.CreateRoot().Parse(["train", "bregman"]);
        var d = DeepBregmanTrainer.DefaultOptions;
        Assert.Equal(d.Loss, parsed.GetValue<string>("--loss"));
        Assert.Equal(d.Miner, parsed.GetValue<string>("--miner"));
        Assert.Equal(d.Margin, parsed.GetValue<double>("--margin"));
        Assert.Equal(d.SoftMargin, parsed.GetValue<bool>("--soft-margin"));
        Assert.Equal(d.MemoryLoss, parsed.GetValue<string>("--memory-loss"));
        Assert.Equal(d.MemorySize, parsed.GetValue<int>("--memory-size"));
        Assert.Equal(d.LossSettings.CircleGamma, parsed.GetValue<double>("--circle-gamma"));
        Assert.Equal(d.LossSettings.ContrastiveNegativeMargin, parsed.GetValue<double>("--contrastive-negative-margin"));
        Assert.Equal(d.LearningRate, parsed.GetValue<double>("--lr"));
        Assert.Equal(d.Epochs, parsed.GetValue<int>("--epochs"));
        var settings = new BregmanTrainSettings();
        Assert.Equal(d, settings.Trainer);
        Assert.Equal((new DeepBregmanArchitecture().EmbeddingDimension, new DeepBregmanArchitecture().Hidden), (settings.EmbeddingDimension, settings.Hidden));
        Assert.Equal(settings.EmbeddingDimension, parsed.GetValue<int>("--embedding-dim"));
        Assert.Equal((settings.TrainPerClass, settings.TestPerClass), (parsed.GetValue<int>("--train-per-class"), parsed.GetValue<int>("--test-per-class")));
    }

    [Fact]
    public void TrainBregmanHonoursTheLossSettingsKeepsTheMemoryAndNamesABadOne()
    {
        var dir = Directory.CreateTempSubdirectory("distembed-breg-loss-").FullName;
        try
        {
            var data = Path.Combine(dir, "idx");
            Directory.CreateDirectory(data);
            BregmanConsumerTests.WriteTinySet(data, "train", 12, 1);
            BregmanConsumerTests.WriteTinySet(data, "t10k", 4, 2);
            string[] Args(string outDir, params string[] more) =>
                ["train", "bregman", "--data", "idx:" + data, "--generator", "euclidean", "--epochs", "1", "--train-per-class", "0",
                 "--test-per-class", "0", "--embedding-dim", "4", "--device", "cpu", "--out", Path.Combine(dir, outDir), "--json", .. more];
            double[] Losses(string stdout) => JsonDocument.Parse(stdout).RootElement.GetProperty("epoch_losses").EnumerateArray().Select(e => e.GetDouble()).ToArray();

            // The margin reaches the trainer: recorded in the manifest, and another margin gives another loss.
            var (code, stdout, stderr) = CliRunner.Run(Args("default"));
            Assert.True(code == 0, stderr);
            var byDefault = Losses(stdout);
            (code, stdout, stderr) = CliRunner.Run(Args("wide", "--margin", "1.5"));
            Assert.True(code == 0, stderr);
            Assert.Equal(1.5, DeepBregmanTrainer.ReadManifest(Path.Combine(dir, "wide")).Trainer.Margin);
            Assert.Equal(DeepBregmanTrainer.DefaultOptions.Margin, DeepBregmanTrainer.ReadManifest(Path.Combine(dir, "default")).Trainer.Margin);
            Assert.NotEqual(byDefault, Losses(stdout));

            // A loss other than the triplet loss, with its settings and a cross-batch memory kept in the checkpoint.
            (code, _, stderr) = CliRunner.Run(Args("xbm", "--loss", "xbm", "--memory-loss", "contrastive", "--memory-size", "40",
                "--contrastive-negative-margin", "0.8"));
            Assert.True(code == 0, stderr);
            var manifest = DeepBregmanTrainer.ReadManifest(Path.Combine(dir, "xbm"));
            Assert.Equal(("xbm", "contrastive", 40, 0.8), (manifest.Trainer.Loss, manifest.Trainer.MemoryLoss, manifest.Trainer.MemorySize,
                manifest.Trainer.LossSettings.ContrastiveNegativeMargin));
            Assert.True(File.Exists(Path.Combine(dir, "xbm", "loss.dat")), "the memory of the xbm loss is not in the checkpoint");
            string[] resume = ["train", "bregman", "--data", "idx:" + data, "--train-per-class", "0", "--test-per-class", "0", "--device", "cpu",
                "--out", Path.Combine(dir, "xbm"), "--resume", "--generator", "euclidean", "--epochs", "2", "--loss", "xbm", "--json"];
            (code, _, stderr) = CliRunner.Run([.. resume, "--memory-size", "8"]);
            Assert.Equal(1, code);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("--memory-size 8 differs from the checkpoint's 40", stderr);
            (code, stdout, stderr) = CliRunner.Run(resume);
            Assert.True(code == 0, stderr);
            Assert.Equal(2, Losses(stdout).Length);

            // A bad value: one line naming the option, before any data is read (the data folder does not exist).
            foreach (var (option, value, expected) in new[]
                     {
                         ("--circle-gamma", "0", "--circle-gamma = 0"), ("--margin", "0", "--margin = 0"), ("--loss", "arcface", "--loss"),
                         ("--miner", "hardest", "--miner"), ("--memory-size", "-1", "--memory-size = -1"), ("--lr", "0", "--lr = 0"),
                     })
            {
                var extra = option == "--memory-size" ? new[] { "--loss", "xbm" } : [];
                (code, _, stderr) = CliRunner.Run(["train", "bregman", "--data", "idx:" + Path.Combine(dir, "missing"), "--generator", "icnn", "--device", "cpu",
                    option, value, .. extra]);
                Assert.Equal(1, code);
                Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                Assert.Contains(expected, stderr);
                Assert.DoesNotContain("missing", stderr);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
