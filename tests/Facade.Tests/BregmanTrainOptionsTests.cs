using DistEmbed.Cli;
using DistEmbed.Training;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// <c>distembed train bregman</c> exposes every setting of the deep Bregman model and its trainer — the backbone, the
/// normalisation, the generator's rank, pieces, temperature, hidden widths and strength, weight decay, warm-up, clipping,
/// intermediate checkpoints, classes and items per batch — under one name each, with the library's defaults; the values
/// reach the checkpoint; on resume a differing one is refused by name; a bad one is refused by name before anything is read
/// or written.
/// </summary>
[Collection("Console")]
public sealed class BregmanTrainOptionsTests
{
    /// <summary>The options this command adds to the loss settings' binder and the data / output options.</summary>
    private static readonly string[] ModelAndTrainerOptions =
    [
        "--hidden", "--normalize", "--embedding-dim", "--generator-rank", "--generator-pieces", "--generator-temperature", "--generator-hidden",
        "--generator-strength", "--lr", "--weight-decay", "--warmup-fraction", "--clip-norm", "--checkpoint-every", "--classes-per-batch",
        "--items-per-class", "--device", "--seed", "--epochs",
    ];

    [Fact]
    public void HelpListsEveryModelAndTrainerOptionWithTheLibrarysDefault()
    {
        var (code, stdout, stderr) = CliRunner.Run("train", "bregman", "--help");
        Assert.True(code == 0, stderr);
        foreach (var name in ModelAndTrainerOptions)
            Assert.Contains(name, stdout);
        // Which generator reads which setting is said in the help.
        Assert.Contains("smooth-max-affine only", stdout);
        Assert.Contains("icnn only", stdout);

        // The defaults are the library's: DeepBregmanArchitecture's and DeepBregmanTrainer.DefaultOptions'.
        var parsed = Program.CreateRoot().Parse(["train", "bregman"]);
        var a = new DeepBregmanArchitecture();
        var t = DeepBregmanTrainer.DefaultOptions;
        Assert.Equal(a.Hidden, parsed.GetValue<int>("--hidden"));
        Assert.Equal(a.Normalize, parsed.GetValue<bool>("--normalize"));
        Assert.Equal(a.GeneratorRank, parsed.GetValue<int>("--generator-rank"));
        Assert.Equal(a.GeneratorPieces, parsed.GetValue<int>("--generator-pieces"));
        Assert.Equal(a.GeneratorTemperature, parsed.GetValue<double>("--generator-temperature"));
        Assert.Equal(string.Join(",", a.GeneratorHidden), parsed.GetValue<string>("--generator-hidden"));
        Assert.Equal(a.GeneratorStrength, parsed.GetValue<double>("--generator-strength"));
        Assert.Equal(t.WeightDecay, parsed.GetValue<double>("--weight-decay"));
        Assert.Equal(t.WarmupFraction, parsed.GetValue<double>("--warmup-fraction"));
        Assert.Equal(t.ClipNorm, parsed.GetValue<double>("--clip-norm"));
        Assert.Equal(t.CheckpointEverySteps, parsed.GetValue<int>("--checkpoint-every"));
        Assert.Equal(t.ClassesPerBatch, parsed.GetValue<int>("--classes-per-batch"));
        Assert.Equal(t.ItemsPerClass, parsed.GetValue<int>("--items-per-class"));
    }

    [Fact]
    public void TheValuesReachTheCheckpointAndAResumedRunKeepsThem()
    {
        var dir = Directory.CreateTempSubdirectory("distembed-breg-opts-").FullName;
        try
        {
            var data = Path.Combine(dir, "idx");
            Directory.CreateDirectory(data);
            BregmanConsumerTests.WriteTinySet(data, "train", 12, 1);
            BregmanConsumerTests.WriteTinySet(data, "t10k", 4, 2);
            var outDir = Path.Combine(dir, "run");
            string[] noDevice = ["train", "bregman", "--data", "idx:" + data, "--train-per-class", "0", "--test-per-class", "0", "--out", outDir, "--json"];
            string[] common = [.. noDevice, "--device", "cpu"];
            string[] given =
            [
                "--generator", "smooth-max-affine", "--embedding-dim", "4", "--hidden", "8", "--normalize", "false", "--generator-rank", "2",
                "--generator-pieces", "3", "--generator-temperature", "0.5", "--generator-hidden", "5,6,7", "--generator-strength", "0.25",
                "--weight-decay", "0.01", "--warmup-fraction", "0.2", "--clip-norm", "2.5", "--checkpoint-every", "4", "--classes-per-batch", "3",
                "--items-per-class", "2",
            ];
            var (code, _, stderr) = CliRunner.Run([.. common, "--epochs", "1", .. given]);
            Assert.True(code == 0, stderr);
            var manifest = DeepBregmanTrainer.ReadManifest(outDir);
            var m = manifest.Model;
            Assert.Equal(("smooth-max-affine", 4, 8, false), (m.Divergence, m.EmbeddingDimension, m.Hidden, m.Normalize));
            Assert.Equal((2, 3, 0.5, 0.25), (m.GeneratorRank, m.GeneratorPieces, m.GeneratorTemperature, m.GeneratorStrength));
            Assert.Equal([5, 6, 7], m.GeneratorHidden);
            // The smooth max-affine generator has K = 3 pieces: its slopes are [3,4] (pieces × embedding dimension).
            Assert.Contains(manifest.Parameters, p => p.EndsWith("[3,4]", StringComparison.Ordinal));
            Assert.Contains(manifest.Parameters, p => p.EndsWith("[8,16]", StringComparison.Ordinal)); // backbone: 16 pixels → 8 hidden
            var t = manifest.Trainer;
            Assert.Equal((0.01, 0.2, 2.5, 4, 3, 2), (t.WeightDecay, t.WarmupFraction, t.ClipNorm, t.CheckpointEverySteps, t.ClassesPerBatch, t.ItemsPerClass));

            // Resume: an option given with another value than the checkpoint's is refused, naming it; nothing trains.
            foreach (var (option, value, expected) in new[]
                     {
                         ("--hidden", "9", "--hidden 9 differs from the checkpoint's 8"),
                         ("--normalize", "true", "--normalize True differs from the checkpoint's False"),
                         ("--generator-rank", "0", "--generator-rank 0 differs from the checkpoint's 2"),
                         ("--generator-pieces", "4", "--generator-pieces 4 differs from the checkpoint's 3"),
                         ("--generator-temperature", "0.1", "--generator-temperature 0.1 differs from the checkpoint's 0.5"),
                         ("--generator-hidden", "5,6", "--generator-hidden 5,6 differs from the checkpoint's 5,6,7"),
                         ("--generator-strength", "1", "--generator-strength 1 differs from the checkpoint's 0.25"),
                         ("--weight-decay", "0.02", "--weight-decay 0.02 differs from the checkpoint's 0.01"),
                         ("--warmup-fraction", "0", "--warmup-fraction 0 differs from the checkpoint's 0.2"),
                         ("--clip-norm", "1", "--clip-norm 1 differs from the checkpoint's 2.5"),
                         ("--checkpoint-every", "0", "--checkpoint-every 0 differs from the checkpoint's 4"),
                         ("--classes-per-batch", "2", "--classes-per-batch 2 differs from the checkpoint's 3"),
                         ("--items-per-class", "3", "--items-per-class 3 differs from the checkpoint's 2"),
                         ("--device", "cuda:7", "--device cuda:7 differs from the checkpoint's cpu"),
                     })
            {
                (code, _, stderr) = CliRunner.Run([.. option == "--device" ? noDevice : common, "--resume", "--generator", "smooth-max-affine", "--epochs", "2", option, value]);
                Assert.True(code == 1, $"{option} {value}: exit {code}, {stderr}");
                Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                Assert.Contains(expected, stderr);
                Assert.Single(DeepBregmanTrainer.ReadManifest(outDir).State.History);
            }
            // The checkpoint's own values, given again, are accepted and the run continues to the new total.
            (code, _, stderr) = CliRunner.Run([.. common, "--resume", "--epochs", "2", .. given]);
            Assert.True(code == 0, stderr);
            Assert.Equal(2, DeepBregmanTrainer.ReadManifest(outDir).State.History.Count);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void TheArchitectureChecksEveryMemberUnderItsName()
    {
        new DeepBregmanArchitecture().Validate(); // the library's defaults are valid
        foreach (var g in new[] { "quadratic", "max-affine", "smooth-max-affine", "icnn", "euclidean", "cosine", " ICNN " })
            new DeepBregmanArchitecture { Divergence = g }.Validate();
        foreach (var (bad, member) in new (DeepBregmanArchitecture, string)[]
                 {
                     (new() { Divergence = "hamming" }, "Divergence"), (new() { Divergence = null! }, "Divergence"),
                     (new() { Hidden = 0 }, "Hidden"), (new() { EmbeddingDimension = 0 }, "EmbeddingDimension"),
                     (new() { EmbeddingDimension = Sequences.Checkpoint.MaxWidth + 1 }, "EmbeddingDimension"),
                     (new() { GeneratorRank = -1 }, "GeneratorRank"), (new() { GeneratorPieces = 0 }, "GeneratorPieces"),
                     (new() { GeneratorTemperature = 0 }, "GeneratorTemperature"), (new() { GeneratorTemperature = double.NaN }, "GeneratorTemperature"),
                     (new() { GeneratorHidden = [] }, "GeneratorHidden"), (new() { GeneratorHidden = [8, 0] }, "GeneratorHidden"),
                     (new() { GeneratorHidden = null! }, "GeneratorHidden"), (new() { GeneratorStrength = -1 }, "GeneratorStrength"),
                     (new() { GeneratorStrength = double.PositiveInfinity }, "GeneratorStrength"),
                 })
        {
            var e = Assert.Throws<ArgumentException>(bad.Validate);
            Assert.Equal(member, e.ParamName);
            Assert.StartsWith(member + " = ", e.Message);
        }
    }

    [Fact]
    public void ABadValueIsRefusedByItsOptionBeforeAnythingIsReadOrWritten()
    {
        var dir = Directory.CreateTempSubdirectory("distembed-breg-bad-").FullName;
        try
        {
            var outDir = Path.Combine(dir, "out");
            foreach (var (option, value, expected) in new[]
                     {
                         ("--hidden", "0", "--hidden = 0"), ("--embedding-dim", "0", "--embedding-dim = 0"),
                         ("--generator-rank", "-1", "--generator-rank = -1"), ("--generator-pieces", "0", "--generator-pieces = 0"),
                         ("--generator-temperature", "0", "--generator-temperature = 0"), ("--generator-hidden", "64,0", "--generator-hidden = [64, 0]"),
                         ("--generator-hidden", "64,x", "--generator-hidden: 'x' is not a layer width"), ("--generator-hidden", "", "--generator-hidden = []"),
                         ("--generator-strength", "-0.5", "--generator-strength = -0.5"), ("--weight-decay", "-1", "--weight-decay = -1"),
                         ("--warmup-fraction", "1", "--warmup-fraction = 1"), ("--clip-norm", "0", "--clip-norm = 0"),
                         ("--checkpoint-every", "-1", "--checkpoint-every = -1"), ("--classes-per-batch", "1", "--classes-per-batch = 1"),
                         ("--classes-per-batch", "6", "--classes-per-batch = 6; there are 5 training classes"), ("--items-per-class", "1", "--items-per-class = 1"),
                     })
            {
                // The data folder does not exist: the option's error comes before any data is read, and --out stays unwritten.
                var (code, _, stderr) = CliRunner.Run(["train", "bregman", "--data", "idx:" + Path.Combine(dir, "missing"), "--generator", "icnn",
                    "--device", "cpu", "--out", outDir, option, value]);
                Assert.True(code == 1, $"{option} {value}: exit {code}, {stderr}");
                Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
                Assert.Contains(expected, stderr);
                Assert.DoesNotContain("missing", stderr);
                Assert.DoesNotContain("Generator", stderr); // the option, not the C# member (GeneratorTemperature, …)
                Assert.False(Directory.Exists(outDir), $"{option} {value} wrote {outDir}");
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
