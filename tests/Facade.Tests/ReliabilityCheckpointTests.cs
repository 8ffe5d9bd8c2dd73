using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Cli.Commands;
using DistEmbed.IO;
using DistEmbed.Sequences;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// Output folders are never destroyed, every bad checkpoint is one clear error, and resume checks what it resumes
/// (issue 18, items 1, 3 and 5).
/// </summary>
[Collection("Console")]
public sealed class ReliabilityCheckpointTests : IDisposable
{
    private const string Train = "synthetic:noise-laws?classes=10&per-class=6&seed=1&min-length=8&max-length=12";
    private const string OtherTrain = "synthetic:noise-laws?classes=8&per-class=6&seed=1&min-length=8&max-length=12";
    private static readonly string[] Tiny = ["--batch-size", "16", "--hidden", "8", "--features", "3", "--quantiles", "5", "--device", "cpu", "--json"];
    private static readonly EmbedderOptions TinyModel = new() { InputChannels = 2, Hidden = 8, Features = 4, Layers = 2, Quantiles = 6 };
    private static readonly TrainerOptions TinyTrainer = new() { Epochs = 1, ClassesPerBatch = 4, ItemsPerClass = 3, LearningRate = 5e-3, Seed = 17 };
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-rel-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Stdout, string Stderr) Cli(params string[] args) => CliRunner.Run(args);

    private static string[] TrainArgs(string data, string outDir, params string[] extra) => ["train", "--train", data, .. Tiny, "--out", outDir, .. extra];

    private static void AssertOneLineError(int code, string stderr, params string[] fragments)
    {
        Assert.Equal(1, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line, got:\n{stderr}");
        Assert.StartsWith("error: ", lines[0]);
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
    }

    /// <summary>A library checkpoint (one epoch with validation, so best.dat exists) in a new folder.</summary>
    private string LibraryCheckpoint(string name)
    {
        var dir = Path.Combine(_dir, name);
        var model = SequenceEmbedder.Create(TinyModel, 5);
        SequenceTrainer.Train(model, SequenceTestData.Make(6, 8, 1), SequenceTestData.Make(3, 5, 2, labelOffset: 100), TinyTrainer, dir);
        return dir;
    }

    private static void EditManifest(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, Checkpoint.ManifestFile);
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    // ---- 1. output folders are never destroyed ----------------------------------------------------------------

    [Fact]
    public void OwnFilesInOutSurviveTrainingAndOverwrite()
    {
        var own = Directory.CreateDirectory(Path.Combine(_dir, "mine")).FullName;
        File.WriteAllText(Path.Combine(own, "notes.txt"), "precious");
        File.WriteAllText(Path.Combine(own, "train.csv"), "sequence_id,label,step,x0\n");
        var (code, _, stderr) = Cli(TrainArgs(Train, own));
        AssertOneLineError(code, stderr, "--out", "is not a checkpoint");
        (code, _, stderr) = Cli(TrainArgs(Path.Combine(own, "train.csv"), own, "--overwrite"));
        AssertOneLineError(code, stderr, "--out");
        Assert.Equal("precious", File.ReadAllText(Path.Combine(own, "notes.txt")));
        Assert.True(File.Exists(Path.Combine(own, "train.csv")));

        // A checkpoint folder to which the user added a file is not replaced either.
        var dir = LibraryCheckpoint("ckpt");
        File.WriteAllText(Path.Combine(dir, "README.txt"), "mine");
        var ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(SequenceEmbedder.Create(TinyModel, 5), SequenceTestData.Make(6, 8, 1), null,
            TinyTrainer, dir, overwrite: true));
        Assert.Contains("README.txt", ex.Message);
        Assert.True(File.Exists(Path.Combine(dir, "README.txt")));
    }

    [Fact]
    public void WorkingFolderAndFolderHoldingAnInputAreRefused()
    {
        var (code, _, stderr) = Cli(TrainArgs(Train, Directory.GetCurrentDirectory()));
        AssertOneLineError(code, stderr, "--out", "working folder");
        Assert.Throws<ArgumentException>(() => CheckpointFolder.Prepare(".", CheckpointKind.SequenceEmbedder, CheckpointMode.Overwrite));
        var parent = Path.GetDirectoryName(Directory.GetCurrentDirectory())!;
        var ex = Assert.Throws<ArgumentException>(() => CheckpointFolder.Prepare(parent, CheckpointKind.SequenceEmbedder, CheckpointMode.Overwrite, null, "--out"));
        Assert.Contains("working folder", ex.Message);

        // The input guard: an (otherwise acceptable) empty-looking checkpoint target that holds an input of the run.
        var dir = LibraryCheckpoint("inputs");
        ex = Assert.Throws<ArgumentException>(() => CheckpointFolder.Prepare(dir, CheckpointKind.SequenceEmbedder, CheckpointMode.Overwrite,
            [Path.Combine(dir, Checkpoint.ModelFile)], "--out"));
        Assert.Contains("an input of this run", ex.Message);
    }

    [Fact]
    public void OutNamingAFileIsRefusedBeforeTraining()
    {
        var file = Path.Combine(_dir, "model.bin");
        File.WriteAllText(file, "not a folder");
        var (code, stdout, stderr) = Cli(TrainArgs(Train, file));
        AssertOneLineError(code, stderr, "--out", "is an existing file");
        Assert.Equal("", stdout); // no epoch ran
        Assert.Equal("not a folder", File.ReadAllText(file));
        (code, _, stderr) = Cli("train", "bregman", "--data", "idx:" + Path.Combine(_dir, "no-such-idx"), "--generator", "icnn", "--out", file);
        AssertOneLineError(code, stderr, "--out", "is an existing file");
    }

    [Fact]
    public void ExistingCheckpointIsKeptWithoutOverwrite()
    {
        var dir = Path.Combine(_dir, "run");
        var (code, _, stderr) = Cli(TrainArgs(Train, dir, "--epochs", "1"));
        Assert.True(code == 0, stderr);
        var before = File.ReadAllBytes(Path.Combine(dir, Checkpoint.ManifestFile));
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--epochs", "1", "--seed", "4"));
        AssertOneLineError(code, stderr, "already holds a sequence-embedder checkpoint", "--overwrite");
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(dir, Checkpoint.ManifestFile)));
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--epochs", "1", "--seed", "4", "--overwrite"));
        Assert.True(code == 0, stderr);
        Assert.Equal(4, Checkpoint.ReadManifest(dir).Trainer.Seed);
        Assert.Empty(Directory.GetDirectories(_dir, ".run.*"));
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--overwrite"));
        AssertOneLineError(code, stderr, "--resume and --overwrite");

        // The library keeps it too unless overwrite is asked for.
        var lib = LibraryCheckpoint("lib");
        var ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(SequenceEmbedder.Create(TinyModel, 5), SequenceTestData.Make(6, 8, 1), null, TinyTrainer, lib));
        Assert.Equal("checkpointDirectory", ex.ParamName);
        SequenceTrainer.Train(SequenceEmbedder.Create(TinyModel, 5), SequenceTestData.Make(6, 8, 1), null, TinyTrainer, lib, overwrite: true);
        Assert.False(File.Exists(Path.Combine(lib, Checkpoint.BestFile)), "the overwritten checkpoint is the new run's (no validation, no best.dat)");
    }

    [Fact]
    public void CheckpointOfAnotherKindIsNeverReplaced()
    {
        var dir = Path.Combine(_dir, "tvae-like");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "manifest.json"), "{\"format\": \"distembed-tvae/1\"}");
        File.WriteAllText(Path.Combine(dir, "model.bin"), "weights");
        var ex = Assert.Throws<ArgumentException>(() => CheckpointFolder.Prepare(dir, CheckpointKind.SequenceEmbedder, CheckpointMode.Overwrite, null, "--out"));
        Assert.Contains("holds a tvae checkpoint, not a sequence-embedder one", ex.Message);
        Assert.Throws<ArgumentException>(() => CheckpointFolder.Write(dir, CheckpointKind.SequenceEmbedder, [], "{}"));
        Assert.Equal("weights", File.ReadAllText(Path.Combine(dir, "model.bin")));
    }

    [Fact]
    public void StaleTemporaryFoldersAreCleanedAndAnInterruptedSwapIsRecovered()
    {
        var dir = LibraryCheckpoint("swap");
        var name = Path.GetFileName(dir);
        var staleNew = Directory.CreateDirectory(Path.Combine(_dir, $".{name}.distembed-tmp-{Guid.NewGuid():N}")).FullName;
        File.WriteAllText(Path.Combine(staleNew, Checkpoint.ModelFile), "half written");
        var staleOld = Directory.CreateDirectory(Path.Combine(_dir, $".{name}.tmp-{Guid.NewGuid():N}")).FullName; // the writer of earlier versions
        File.WriteAllText(Path.Combine(staleOld, Checkpoint.ModelFile), "half written");
        var unrelated = Directory.CreateDirectory(Path.Combine(_dir, $".{name}.tmp-{Guid.NewGuid():N}")).FullName;
        File.WriteAllText(Path.Combine(unrelated, "diary.txt"), "not a checkpoint file");

        var (model, result) = SequenceTrainer.Resume(dir, SequenceTestData.Make(6, 8, 1), SequenceTestData.Make(3, 5, 2, labelOffset: 100), epochs: 2);
        model.Dispose();
        Assert.Equal(2, result.History.Count);
        Assert.False(Directory.Exists(staleNew));
        Assert.False(Directory.Exists(staleOld));
        Assert.True(File.Exists(Path.Combine(unrelated, "diary.txt")), "only folders holding checkpoint files are cleaned");

        // Interrupted between the fallback's two renames: the target is missing, the old checkpoint lies aside.
        var aside = Path.Combine(_dir, $".{name}.distembed-old-{Guid.NewGuid():N}");
        Directory.Move(dir, aside);
        CheckpointFolder.Prepare(dir, CheckpointKind.SequenceEmbedder, CheckpointMode.Resume);
        Assert.Equal(2, Checkpoint.ReadManifest(dir).State.Epoch);
        Assert.False(Directory.Exists(aside));
    }

    // ---- 3. every bad input is one line -------------------------------------------------------------------------

    [Theory]
    [InlineData(Checkpoint.BestFile)]
    [InlineData(Checkpoint.ModelFile)]
    [InlineData(Checkpoint.OptimizerFile)]
    public void TruncatedOrCorruptCheckpointFileIsNamed(string file)
    {
        var dir = LibraryCheckpoint("trunc");
        var path = Path.Combine(dir, file);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var ex = Assert.Throws<InvalidDataException>(() => SequenceTrainer.Resume(dir, SequenceTestData.Make(6, 8, 1), SequenceTestData.Make(3, 5, 2, labelOffset: 100), epochs: 2));
        Assert.Contains($"checkpoint file {path} is truncated or corrupt", ex.Message);

        // Same length, garbage content.
        var garbage = new byte[bytes.Length];
        new Random(3).NextBytes(garbage);
        File.WriteAllBytes(path, garbage);
        ex = Assert.Throws<InvalidDataException>(() => SequenceTrainer.Resume(dir, SequenceTestData.Make(6, 8, 1), SequenceTestData.Make(3, 5, 2, labelOffset: 100), epochs: 2));
        Assert.Contains($"checkpoint file {path} is truncated or corrupt", ex.Message);
        if (file != Checkpoint.OptimizerFile)
        {
            if (file == Checkpoint.ModelFile) File.Delete(Path.Combine(dir, Checkpoint.BestFile)); // LoadModel prefers best.dat
            var (code, _, stderr) = Cli("embed", "--model", dir, "--data", Train, "--out", Path.Combine(_dir, "e.npy"));
            AssertOneLineError(code, stderr, "is truncated or corrupt", file);
        }
    }

    [Fact]
    public void ManifestFormatVersionIsChecked()
    {
        var dir = LibraryCheckpoint("format");
        EditManifest(dir, m => m["format"] = 99);
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.ReadManifest(dir));
        Assert.Contains("format 99 is not supported", ex.Message);
        var (code, _, stderr) = Cli("evaluate", "--model", dir, "--query", Train);
        AssertOneLineError(code, stderr, "manifest.json", "format 99");
    }

    [Theory]
    [InlineData("hidden", 2_000_000_000, "model.hidden = 2000000000 exceeds")]
    [InlineData("layers", 100_000, "model.layers = 100000 exceeds")]
    [InlineData("features", -3, "Features = -3")]
    public void ManifestSizesAreBoundedBeforeAnyAllocation(string field, int value, string expected)
    {
        var dir = LibraryCheckpoint("sizes");
        EditManifest(dir, m => m["model"]![field] = value);
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(dir));
        Assert.Contains(expected, ex.Message);
        Assert.Contains(Path.Combine(dir, Checkpoint.ManifestFile), ex.Message);
    }

    [Fact]
    public void ManifestOfAModelTooLargeForItsWeightsFileIsRejected()
    {
        var dir = LibraryCheckpoint("toolarge");
        EditManifest(dir, m => m["model"]!["hidden"] = 4096);
        var ex = Assert.Throws<InvalidDataException>(() => Checkpoint.LoadModel(dir));
        Assert.Contains("is truncated or corrupt", ex.Message);
        Assert.Contains(Checkpoint.BestFile, ex.Message);
    }

    [Theory]
    [InlineData("standardizer")]
    [InlineData("model")]
    [InlineData("state")]
    [InlineData("trainer")]
    public void NullsInTheManifestAreRejected(string field)
    {
        var (code, _, stderr) = Cli(TrainArgs(Train, Path.Combine(_dir, "nulls"), "--epochs", "1"));
        Assert.True(code == 0, stderr);
        EditManifest(Path.Combine(_dir, "nulls"), m => m[field] = null);
        (code, _, stderr) = Cli(TrainArgs(Train, Path.Combine(_dir, "nulls"), "--resume"));
        AssertOneLineError(code, stderr, "manifest", field);
    }

    [Fact]
    public void NestedNullsAndGarbageStandardizerAreRejected()
    {
        var dir = LibraryCheckpoint("nested");
        EditManifest(dir, m => m["model"]!["encoder"] = null);
        Assert.Contains("encoder", Assert.Throws<InvalidDataException>(() => Checkpoint.ReadManifest(dir)).Message);
        EditManifest(dir, m => { m["model"]!["encoder"] = "tcn"; m["state"]!["history"] = new JsonArray(null, null); });
        Assert.Contains("history", Assert.Throws<InvalidDataException>(() => Checkpoint.ReadManifest(dir)).Message);
        EditManifest(dir, m => { m["state"] = JsonNode.Parse(JsonSerializer.Serialize(new TrainingState { Epoch = 0 }, Checkpoint.Json)); m["standardizer"] = "{oops"; });
        Assert.Contains("standardizer", Assert.Throws<InvalidDataException>(() => Checkpoint.ReadManifest(dir)).Message);
    }

    [Fact]
    public void CatchAllTurnsAnyExceptionIntoOneLine()
    {
        {
            var old = Console.Error;
            using var err = new StringWriter();
            Console.SetError(err);
            try
            {
                CliErrors.Verbose = false;
                Assert.Equal(1, CliErrors.Run(() => throw new NullReferenceException("boom")));
                Assert.Equal(1, CliErrors.Run(() => throw new EndOfStreamException("Unable to read beyond the end of the stream.\n   at Something")));
                Assert.Equal(1, CliErrors.Run(() => throw new AggregateException(new KeyNotFoundException("key 'x'"))));
                CliErrors.Verbose = true;
                Assert.Equal(1, CliErrors.Run(() => throw new IndexOutOfRangeException("deep")));
            }
            finally
            {
                CliErrors.Verbose = false;
                Console.SetError(old);
            }
            var lines = err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("error: internal error (NullReferenceException: boom); rerun with --verbose for the stack trace.", lines[0]);
            Assert.Equal("error: Unable to read beyond the end of the stream.", lines[1]);
            Assert.Equal("error: internal error (KeyNotFoundException: key 'x'); rerun with --verbose for the stack trace.", lines[2]);
            Assert.Equal("error: internal error (IndexOutOfRangeException: deep)", lines[3]);
            Assert.Contains("System.IndexOutOfRangeException: deep", lines[4]); // the trace, only with --verbose
        }
        var (code, _, stderr) = Cli("train", "--train", Train, "--out", Path.Combine(_dir, "x"), "--no-such-option");
        Assert.Equal(2, code);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--no-such-option", stderr);
        (code, _, stderr) = Cli("embed", "--data", Train);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    // ---- 5. resume checks what it resumes ----------------------------------------------------------------------

    [Fact]
    public void ResumeWithOtherDataIsRefusedNamingWhatChanged()
    {
        var dir = LibraryCheckpoint("data");
        var ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Resume(dir, SequenceTestData.Make(5, 8, 1), SequenceTestData.Make(3, 5, 2, labelOffset: 100), epochs: 2));
        Assert.Contains("train is not the data the checkpoint was trained on", ex.Message);
        Assert.Contains("5 classes now, 6 in the checkpoint", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Resume(dir, SequenceTestData.Make(6, 8, 9), SequenceTestData.Make(3, 5, 2, labelOffset: 100), epochs: 2));
        Assert.Contains("train is not the data", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Resume(dir, SequenceTestData.Make(6, 8, 1), SequenceTestData.Make(3, 5, 7, labelOffset: 100), epochs: 2));
        Assert.Contains("valid is not the data", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SequenceTrainer.Resume(dir, SequenceTestData.Make(6, 8, 1), null, epochs: 2));
        Assert.Equal("valid", ex.ParamName);

        var cli = Path.Combine(_dir, "cli");
        var (code, _, stderr) = Cli(TrainArgs(Train, cli, "--epochs", "1"));
        Assert.True(code == 0, stderr);
        (code, _, stderr) = Cli(TrainArgs(OtherTrain, cli, "--resume", "--epochs", "2"));
        AssertOneLineError(code, stderr, "is not the data the checkpoint was trained on", "classes now");
        Assert.Equal(1, Checkpoint.ReadManifest(cli).State.Epoch);
    }

    [Fact]
    public void ResumeRejectsSettingsItCannotHonourAndEpochsExtendTheRun()
    {
        var dir = Path.Combine(_dir, "extend");
        var (code, _, stderr) = Cli(TrainArgs(Train, dir, "--epochs", "1", "--lr", "0.001"));
        Assert.True(code == 0, stderr);
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--lr", "0.5"));
        AssertOneLineError(code, stderr, "--lr 0.5 differs from the checkpoint's 0.001");
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--seed", "9"));
        AssertOneLineError(code, stderr, "--seed 9 differs");
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--head", "mean"));
        AssertOneLineError(code, stderr, "--head mean differs");
        // Every distance setting of the shared binder is checked on resume (--rho and --tolerance included), and a bad
        // value names its option.
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--rho", "5"));
        AssertOneLineError(code, stderr, "--rho 5 differs from the checkpoint's 1");
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--tolerance", "0.01"));
        AssertOneLineError(code, stderr, "--tolerance 0.01 differs");
        (code, _, stderr) = Cli(TrainArgs(Train, Path.Combine(_dir, "bad-rho"), "--rho", "0"));
        AssertOneLineError(code, stderr, "--rho");
        Assert.DoesNotContain("DistanceSettings.", stderr);
        (code, _, stderr) = Cli("train", "--train", Train, "--out", dir, "--resume", "--device", "cuda:3");
        Assert.Equal(1, code);
        Assert.Contains("--device", stderr);

        (code, var stdout, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--epochs", "2", "--lr", "0.001"));
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout.Trim());
        Assert.Equal(2, doc.RootElement.GetProperty("epochs").GetInt32());
        var manifest = Checkpoint.ReadManifest(dir);
        Assert.Equal(2, manifest.State.Epoch);
        Assert.Equal(2, manifest.Trainer.Epochs);
        (code, _, stderr) = Cli(TrainArgs(Train, dir, "--resume", "--epochs", "1"));
        AssertOneLineError(code, stderr, "--epochs 1 is below the 2 epochs");
    }

    [Fact]
    public void ResumeNeedsACheckpoint()
    {
        var (code, _, stderr) = Cli(TrainArgs(Train, Path.Combine(_dir, "none"), "--resume"));
        AssertOneLineError(code, stderr, "holds no sequence-embedder checkpoint to resume");
    }
}
