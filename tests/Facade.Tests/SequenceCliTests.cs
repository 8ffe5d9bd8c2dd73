using System.Text.Json;
using DistEmbed.Cli.Commands;
using DistEmbed.IO;
using DistEmbed.Sequences;
using Xunit;

namespace DistEmbed.Facade.Tests;

[Collection("Console")]
public sealed class SequenceCliTests : IDisposable
{
    private const string Train = "synthetic:noise-laws?classes=10&per-class=6&seed=1&min-length=8&max-length=12";
    private const string Test = "synthetic:noise-laws?classes=4&per-class=5&seed=2&min-length=8&max-length=12";
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-seqcli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Stdout, string Stderr) RunCli(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("quantile", 3)]
    [InlineData("distribution", 3)]
    [InlineData("stats", 2)]
    public void TrainEmbedEvaluateRoundTrip(string head, int rank)
    {
        var model = Path.Combine(_dir, "model-" + head);
        var (code, stdout, stderr) = RunCli("train", "sequence", "--train", Train, "--encoder", "tcn", "--head", head,
            "--epochs", "2", "--batch-size", "16", "--hidden", "8", "--features", "3", "--quantiles", "5", "--seed", "3", "--device", "cpu",
            "--out", model, "--json");
        Assert.True(code == 0, stderr);
        using var trained = JsonDocument.Parse(stdout.Trim());
        Assert.Equal(2, trained.RootElement.GetProperty("epochs").GetInt32());
        Assert.True(File.Exists(Path.Combine(model, "manifest.json")));

        var emb = Path.Combine(_dir, head + ".npy");
        (code, stdout, stderr) = RunCli("embed", "--model", model, "--data", Test, "--out", emb, "--json");
        Assert.True(code == 0, stderr);
        var array = Npy.Read(emb);
        Assert.Equal(rank, array.Rank);
        Assert.Equal(20, array.Shape[0]);
        Assert.True(File.Exists(Path.Combine(_dir, head + ".labels.npy")));
        Assert.Equal(20, File.ReadAllLines(Path.Combine(_dir, head + ".ids.txt")).Length);
        if (head == "distribution") Assert.True(File.Exists(Path.Combine(_dir, head + ".mask.npy")));

        (code, stdout, stderr) = RunCli("evaluate", "--model", model, "--query", Test, "--json");
        Assert.True(code == 0, stderr);
        using var metrics = JsonDocument.Parse(stdout.Trim());
        foreach (var key in new[] { "precision_at_1", "r_precision", "map_at_r", "auc", "eer" })
            Assert.InRange(metrics.RootElement.GetProperty(key).GetDouble(), 0.0, 1.0);
        Assert.True(metrics.RootElement.GetProperty("recall_at_k").TryGetProperty("1", out _));

        // Same metrics through the API (the CLI is a thin layer over it).
        var direct = SequenceCommands.EvaluateModel(model, Test, null);
        Assert.Equal(metrics.RootElement.GetProperty("map_at_r").GetDouble(), (double)direct["map_at_r"], 12);

        // A separate gallery (here the queries themselves, nothing left out): every query finds itself first.
        (code, stdout, stderr) = RunCli("evaluate", "--model", model, "--query", Test, "--gallery", Test, "--json");
        Assert.True(code == 0, stderr);
        using var withGallery = JsonDocument.Parse(stdout.Trim());
        Assert.Equal(1.0, withGallery.RootElement.GetProperty("precision_at_1").GetDouble());
        Assert.Equal(20, withGallery.RootElement.GetProperty("queries").GetInt32());
    }

    [Fact]
    public void ResumeContinuesACheckpointedRun()
    {
        var model = Path.Combine(_dir, "resumable");
        var (code, _, stderr) = RunCli("train", "--train", Train, "--epochs", "1", "--batch-size", "16", "--hidden", "8", "--features", "3",
            "--device", "cpu", "--out", model, "--json");
        Assert.True(code == 0, stderr);
        (code, var stdout, stderr) = RunCli("train", "--train", Train, "--out", model, "--resume", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout.Trim());
        Assert.Equal(1, doc.RootElement.GetProperty("epochs").GetInt32());
    }

    [Fact]
    public void TheOptimiserAndCheckpointSettingsReachTheTrainerAreKeptOnResumeAndAreCheckedByName()
    {
        var model = Path.Combine(_dir, "optimiser");
        var (code, _, stderr) = RunCli("train", "sequence", "--train", Train, "--epochs", "1", "--batch-size", "16", "--hidden", "8",
            "--features", "3", "--weight-decay", "0.25", "--warmup-fraction", "0.5", "--clip-norm", "2.5", "--checkpoint-every", "1",
            "--device", "cpu", "--out", model, "--json");
        Assert.True(code == 0, stderr);
        var trainer = Checkpoint.ReadManifest(model).Trainer;
        Assert.Equal(0.25, trainer.WeightDecay);
        Assert.Equal(0.5, trainer.WarmupFraction);
        Assert.Equal(2.5, trainer.ClipNorm);
        Assert.Equal(1, trainer.CheckpointEverySteps);

        (code, _, stderr) = RunCli("train", "sequence", "--train", Train, "--out", model, "--resume", "--clip-norm", "1");
        Assert.Equal(1, code);
        Assert.Contains("--clip-norm 1 differs from the checkpoint's 2.5", stderr);
        (code, _, stderr) = RunCli("train", "sequence", "--train", Train, "--out", model, "--resume", "--weight-decay", "0.25", "--json");
        Assert.True(code == 0, stderr);

        var bad = Path.Combine(_dir, "bad-optimiser");
        foreach (var (option, value, message, field) in new[]
                 {
                     ("--warmup-fraction", "1", "--warmup-fraction = 1; it must lie in [0, 1)", "WarmupFraction"),
                     ("--clip-norm", "0", "--clip-norm = 0; it must be finite and > 0", "ClipNorm"),
                     ("--weight-decay", "-0.5", "--weight-decay = -0.5; it must be finite and ≥ 0", "WeightDecay"),
                     ("--checkpoint-every", "-2", "--checkpoint-every = -2; it must be ≥ 0", "CheckpointEverySteps"),
                 })
        {
            (code, _, stderr) = RunCli("train", "sequence", "--train", Train, option + "=" + value, "--out", bad);
            Assert.Equal(1, code);
            Assert.Contains(message, stderr);
            Assert.DoesNotContain(field, stderr);
            Assert.False(Directory.Exists(bad), "nothing is written when an option is bad");
        }
    }

    [Fact]
    public void BadArgumentsGiveOneLineErrors()
    {
        var model = Path.Combine(_dir, "bad");
        var (code, _, stderr) = RunCli("train", "--train", Train, "--encoder", "lstm", "--out", model, "--json");
        Assert.Equal(1, code);
        Assert.Contains("unknown encoder 'lstm'", stderr);
        (code, _, stderr) = RunCli("train", "--train", Train, "--loss", "hinge", "--out", model, "--json");
        Assert.Equal(1, code);
        Assert.Contains("unknown loss 'hinge'", stderr);
        (code, _, stderr) = RunCli("train", "--task", "vision", "--train", Train, "--out", model);
        Assert.Equal(1, code);
        Assert.Contains("--task 'vision' is unknown; this command trains sequence models (--task sequence); the other tasks are subcommands: train bregman, train tvae", stderr);
        (code, _, stderr) = RunCli("train", "--train", Train, "--batch-size", "10", "--out", model);
        Assert.Equal(1, code);
        Assert.Contains("--batch-size = 10", stderr);
        (code, _, stderr) = RunCli("train", "--train", Train, "--distance", "sinkhorn-divergence", "--head", "distribution", "--epsilon-scaling", "1.5", "--out", model);
        Assert.Equal(1, code);
        Assert.Contains("--epsilon-scaling = 1.5; it must lie in [0, 1)", stderr);
        Assert.DoesNotContain("SinkhornEpsilonScaling", stderr);
        (code, _, stderr) = RunCli("train", "--train", Train, "--epsilon", "0", "--out", model);
        Assert.Equal(1, code);
        Assert.Contains("--epsilon = 0; it must be finite and > 0", stderr);
        Assert.DoesNotContain("SinkhornEpsilon", stderr);
        Assert.False(Directory.Exists(model), "nothing is written when the options are bad");
        (code, _, stderr) = RunCli("embed", "--model", Path.Combine(_dir, "missing"), "--data", Test, "--out", Path.Combine(_dir, "x.npy"));
        Assert.Equal(1, code);
        Assert.Contains("does not exist", stderr);
        (code, _, stderr) = RunCli("evaluate", "--model", Path.Combine(_dir, "missing"), "--query", Test);
        Assert.Equal(1, code);
        Assert.Contains("does not exist", stderr);
        (code, _, stderr) = RunCli("train", "--train", "synthetic:nope", "--out", model);
        Assert.Equal(1, code);
        Assert.Contains("nope", stderr);
        var csv = Path.Combine(_dir, "broken.csv");
        File.WriteAllText(csv, "this is not,a sequence table\n1,2,3\n");
        (code, _, stderr) = RunCli("train", "--train", csv, "--out", model);
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("broken.csv", stderr);
    }

    [Fact]
    public void AModelTrainedUnderYourOwnDistanceIsRefusedByResumeAndEvaluateInOneLine()
    {
        var data = DistEmbed.Data.SequenceSources.Load(Test);
        var model = Path.Combine(_dir, "custom");
        var inner = Distance.Create("quantile-w2");
        var mine = Distance.Custom("my-quantile-w2", Representation.Quantiles, inner.Paired, inner.Pairwise);
        DistEmbed.Sequences.SequenceTrainer.Train(
            DistEmbed.Sequences.SequenceEmbedder.Create(new DistEmbed.Sequences.EmbedderOptions { InputChannels = data.Channels, Hidden = 8, Features = 3, Quantiles = 5 }, 1),
            mine, data, null, new DistEmbed.Sequences.TrainerOptions { Epochs = 1, ClassesPerBatch = 4, ItemsPerClass = 2 }, model);
        var (code, _, stderr) = RunCli("train", "sequence", "--train", Test, "--out", model, "--resume");
        Assert.Equal(1, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("your own distance 'my-quantile-w2'", stderr);
        (code, _, stderr) = RunCli("evaluate", "--model", model, "--query", Test);
        Assert.Equal(1, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("your own distance 'my-quantile-w2', which the command line cannot re-create", stderr);
    }
}

[Collection("Console")]
public sealed class SequenceDemoTests
{
    [Fact]
    public void DemoTrainsBothModelsAndWritesTheReport()
    {
        var dir = Directory.CreateTempSubdirectory("distembed-demo-").FullName;
        try
        {
            var settings = new DemoSettings { Classes = 12, PerClass = 6, MinLength = 10, MaxLength = 14, Epochs = 1, Hidden = 8, Features = 3, Quantiles = 4 };
            var result = SequenceDemo.Run(settings, dir, null);
            Assert.Equal("quantile-w2", result.Distributional.Distance);
            Assert.Equal("euclidean", result.Baseline.Distance);
            Assert.InRange(result.Distributional.MapAtR, 0.0, 1.0);
            Assert.Single(result.Baseline.History);
            foreach (var name in new[] { "report.md", "training-map.png", "training-loss.png", "pca-distributional.png", "pca-baseline.png", "distances-distributional.png", "distances-baseline.png" })
            {
                var path = Path.Combine(dir, name);
                Assert.True(File.Exists(path), name);
                Assert.Contains(Path.GetFullPath(path), result.Files);
            }
            var png = File.ReadAllBytes(Path.Combine(dir, "pca-distributional.png"));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png.Take(4).ToArray());
            Assert.Contains("| distributional", File.ReadAllText(Path.Combine(dir, "report.md")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
