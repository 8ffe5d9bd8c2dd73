using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using DistEmbed.Data;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>Settings of one deep-Bregman training run (<see cref="BregmanTrainCommand.Run"/>).</summary>
public sealed class BregmanTrainSettings
{
    /// <summary>Data set: mnist, fashion-mnist or idx:DIR.</summary>
    public string Data { get; set; } = "mnist";
    /// <summary>quadratic, max-affine, smooth-max-affine, icnn, euclidean or cosine.</summary>
    public string Generator { get; set; } = "icnn";
    /// <summary>Training epochs.</summary>
    public int Epochs { get; set; } = 3;
    /// <summary>Seed of the initialisation and the sampler.</summary>
    public int Seed { get; set; }
    /// <summary>auto, cpu, cuda or cuda:N.</summary>
    public string Device { get; set; } = "auto";
    /// <summary>Checkpoint folder (written atomically), or null for none.</summary>
    public string? Out { get; set; }
    /// <summary>Replace a deep-Bregman checkpoint already in <see cref="Out"/> (otherwise it is kept and the run refused).</summary>
    public bool Overwrite { get; set; }
    /// <summary>Classes trained on (from the training split).</summary>
    public int[] TrainClasses { get; set; } = [0, 1, 2, 3, 4];
    /// <summary>Classes tested on (from the test split), disjoint from the training classes.</summary>
    public int[] TestClasses { get; set; } = [5, 6, 7, 8, 9];
    /// <summary>Training images per class (the first ones of each class); 0 means all.</summary>
    public int TrainPerClass { get; set; } = 400;
    /// <summary>Test images per class (the first ones of each class); 0 means all.</summary>
    public int TestPerClass { get; set; } = 200;
    /// <summary>Embedding dimension.</summary>
    public int EmbeddingDimension { get; set; } = 32;
    /// <summary>Hidden width of the MLP backbone.</summary>
    public int Hidden { get; set; } = 256;
    /// <summary>Triplet margin.</summary>
    public double Margin { get; set; } = 0.2;
    /// <summary>AdamW learning rate.</summary>
    public double LearningRate { get; set; } = 1e-3;
    /// <summary>Triplet miner, a name of <see cref="Catalog.MinerNames"/>. Default <see cref="Catalog.DefaultMiner"/> (all).</summary>
    public string Miner { get; set; } = Catalog.DefaultMiner;
    /// <summary>Items per class in an M-per-class batch.</summary>
    public int ItemsPerClass { get; set; } = 16;
}

/// <summary>The outcome of <see cref="BregmanTrainCommand.Run"/>.</summary>
/// <param name="Data">The data set spec.</param>
/// <param name="Generator">The divergence kind.</param>
/// <param name="Seed">The seed.</param>
/// <param name="PrecisionAt1">P@1 on the held-out classes (leave-one-out retrieval).</param>
/// <param name="RPrecision">R-precision on the held-out classes.</param>
/// <param name="MapAtR">MAP@R on the held-out classes.</param>
/// <param name="EpochLosses">Mean training loss per epoch.</param>
/// <param name="TrainSeconds">Wall-clock training time.</param>
/// <param name="TrainCount">Training images used.</param>
/// <param name="TestCount">Test images used.</param>
/// <param name="Paths">Files written (manifest, state dict), empty without --out.</param>
public sealed record BregmanTrainResult(
    string Data, string Generator, int Seed, double PrecisionAt1, double RPrecision, double MapAtR, double[] EpochLosses,
    double TrainSeconds, int TrainCount, int TestCount, string[] Paths);

/// <summary>
/// <c>distembed train bregman</c>: trains a deep Bregman model
/// (MLP backbone → embedding → learned convex generator, or a fixed Euclidean/cosine baseline) on some classes of an
/// image data set and reports retrieval on held-out classes.
/// </summary>
public static class BregmanTrainCommand
{
    /// <summary>The divergence kinds accepted by <c>--generator</c>.</summary>
    public static IReadOnlyList<string> Generators { get; } = ["quadratic", "max-affine", "smooth-max-affine", "icnn", "euclidean", "cosine"];

    /// <summary>Builds the command.</summary>
    /// <returns>The command (<c>bregman</c>, a subcommand of <c>train</c>).</returns>
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "mnist, fashion-mnist or idx:DIR.", Required = true };
        var generator = new Option<string>("--generator") { Description = string.Join("|", Generators), Required = true };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the initialisation and the sampler.", DefaultValueFactory = _ => 0 };
        var device = DeviceOption.Create();
        var output = new Option<string?>("--out") { Description = "Checkpoint folder (manifest.json + model.pt), written atomically." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a checkpoint already in --out (without it, an existing checkpoint is kept and the run refused)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var trainPerClass = new Option<int>("--train-per-class") { Description = "Training images per class (0 = all).", DefaultValueFactory = _ => 400 };
        var testPerClass = new Option<int>("--test-per-class") { Description = "Test images per class (0 = all).", DefaultValueFactory = _ => 200 };
        var embedding = new Option<int>("--embedding-dim") { Description = "Embedding dimension.", DefaultValueFactory = _ => 32 };
        var miner = new Option<string>("--miner") { Description = CatalogHelp.Miner, DefaultValueFactory = _ => Catalog.DefaultMiner };
        var learningRate = new Option<double>("--lr") { Description = "AdamW learning rate.", DefaultValueFactory = _ => 1e-3 };
        var margin = new Option<double>("--margin") { Description = "Triplet margin.", DefaultValueFactory = _ => 0.2 };
        var command = new Command("bregman", "Trains a deep Bregman model (learned convex generator on an MLP embedding) on classes 0–4 and reports P@1, R-precision and MAP@R on classes 5–9.")
        {
            data, generator, epochs, seed, device, output, overwrite, json, trainPerClass, testPerClass, embedding, miner, learningRate, margin,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var settings = new BregmanTrainSettings
            {
                Data = r.GetValue(data)!, Generator = r.GetValue(generator)!, Epochs = r.GetValue(epochs), Seed = r.GetValue(seed),
                Device = r.GetValue(device)!, Out = r.GetValue(output), Overwrite = r.GetValue(overwrite), TrainPerClass = r.GetValue(trainPerClass),
                TestPerClass = r.GetValue(testPerClass), EmbeddingDimension = r.GetValue(embedding), Miner = r.GetValue(miner)!,
                LearningRate = r.GetValue(learningRate), Margin = r.GetValue(margin),
            };
            var json_ = r.GetValue(json);
            var result = Run(settings, json_ ? null : Console.WriteLine);
            if (json_) Console.WriteLine(ToJson(result));
            else
            {
                Console.WriteLine($"{result.Data} {result.Generator} seed {result.Seed}: P@1 {F(result.PrecisionAt1)}  R-precision {F(result.RPrecision)}  MAP@R {F(result.MapAtR)}  ({result.TrainSeconds:F1} s)");
                foreach (var p in result.Paths) Console.WriteLine($"written: {p}");
            }
        }));
        return command;
    }

    private static string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);

    /// <summary>The result as one JSON object (snake_case keys: precision_at_1, r_precision, map_at_r, paths, …).</summary>
    /// <param name="result">A run's result.</param>
    /// <returns>The JSON text.</returns>
    public static string ToJson(BregmanTrainResult result) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["task"] = "bregman", ["data"] = result.Data, ["generator"] = result.Generator, ["seed"] = result.Seed,
        ["precision_at_1"] = result.PrecisionAt1, ["r_precision"] = result.RPrecision, ["map_at_r"] = result.MapAtR,
        ["epoch_losses"] = result.EpochLosses, ["train_seconds"] = result.TrainSeconds,
        ["train_count"] = result.TrainCount, ["test_count"] = result.TestCount, ["paths"] = result.Paths,
    });

    private static ImageSet FirstPerClass(ImageSet set, int[] classes, int perClass, string name)
    {
        var taken = new Dictionary<int, int>();
        var keep = new List<int>();
        var wanted = classes.ToHashSet();
        for (var i = 0; i < set.Count; i++)
        {
            var y = set.Labels[i];
            if (!wanted.Contains(y)) continue;
            var n = taken.GetValueOrDefault(y);
            if (perClass > 0 && n >= perClass) continue;
            taken[y] = n + 1;
            keep.Add(i);
        }
        var missing = classes.Where(c => !taken.ContainsKey(c)).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException($"the {name} split of {set.Name} has no image of class {string.Join(", ", missing)}.", name);
        return set.Subset(keep);
    }

    /// <summary>Runs one training: loads the data, trains on the training classes, evaluates leave-one-out retrieval on
    /// the test classes, and writes the checkpoint folder when <see cref="BregmanTrainSettings.Out"/> is set.</summary>
    /// <param name="settings">The run's settings.</param>
    /// <param name="log">Progress lines (per epoch), or null.</param>
    /// <returns>The metrics and the paths written.</returns>
    /// <exception cref="ArgumentException">An unknown generator, data set or device, overlapping train/test classes, or
    /// an invalid hyper-parameter (the message names it).</exception>
    public static BregmanTrainResult Run(BregmanTrainSettings settings, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var kind = (settings.Generator ?? "").Trim().ToLowerInvariant();
        if (!Generators.Contains(kind))
            throw new ArgumentException($"--generator '{settings.Generator}' is unknown; valid: {string.Join(", ", Generators)}.", "generator");
        if (settings.TrainClasses.Intersect(settings.TestClasses).Any())
            throw new ArgumentException("the training and test classes overlap; the split must be class-disjoint.", "settings");
        if (settings.TrainPerClass < 0) throw new ArgumentException("--train-per-class must be ≥ 0.", "train-per-class");
        if (settings.TestPerClass < 0) throw new ArgumentException("--test-per-class must be ≥ 0.", "test-per-class");
        var device = NativeRuntime.ResolveDevice(settings.Device);
        if (settings.Out is not null) // checked before any work: a refused --out must not cost a training run
            CheckpointFolder.Prepare(settings.Out, CheckpointKind.DeepBregman, settings.Overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                [settings.Data.StartsWith("idx:", StringComparison.Ordinal) ? settings.Data[4..] : settings.Data], "--out");
        var train = FirstPerClass(ImageDatasets.Load(settings.Data, train: true), settings.TrainClasses, settings.TrainPerClass, "train");
        var test = FirstPerClass(ImageDatasets.Load(settings.Data, train: false), settings.TestClasses, settings.TestPerClass, "test");
        var options = new DeepBregmanOptions
        {
            Divergence = kind, Epochs = settings.Epochs, Seed = settings.Seed, EmbeddingDimension = settings.EmbeddingDimension,
            Hidden = settings.Hidden, Margin = settings.Margin, LearningRate = settings.LearningRate, Miner = settings.Miner,
            ClassesPerBatch = settings.TrainClasses.Length, ItemsPerClass = settings.ItemsPerClass,
        };
        using var scope = torch.NewDisposeScope();
        using var model = new DeepBregmanModel(train.Rows * train.Cols, options, device);
        var trainImages = train.ToTensor();
        var trainLabels = train.Labels.Select(l => (long)l).ToArray();
        var clock = Stopwatch.StartNew();
        var epochs = model.Fit(trainImages, trainLabels,
            log is null ? null : new Action<EpochReport>(e => log($"epoch {e.Epoch}: loss {F(e.MeanLoss)} over {e.Batches} batches ({clock.Elapsed.TotalSeconds:F1} s)")));
        var seconds = clock.Elapsed.TotalSeconds;
        var report = model.Evaluate(test.ToTensor(), test.Labels.Select(l => (long)l).ToArray());
        var result = new BregmanTrainResult(settings.Data, kind, settings.Seed, report.PrecisionAt1, report.RPrecision, report.MapAtR,
            epochs.Select(e => e.MeanLoss).ToArray(), seconds, train.Count, test.Count, []);
        if (settings.Out is null) return result;
        var paths = WriteCheckpoint(settings.Out, model, settings, result);
        return result with { Paths = paths };
    }

    /// <summary>Writes <c>model.pt</c> (TorchSharp state dict) and then <c>manifest.json</c> through
    /// <see cref="CheckpointFolder.Write"/>: flushed into a temporary sibling folder that takes <paramref name="folder"/>'s
    /// place atomically (only a deep-Bregman checkpoint is ever replaced).</summary>
    private static string[] WriteCheckpoint(string folder, DeepBregmanModel model, BregmanTrainSettings settings, BregmanTrainResult result)
    {
        var generator = model.Generator;
        var manifest = new Dictionary<string, object?>
        {
            ["format"] = "distembed-checkpoint/1",
            ["kind"] = CheckpointKind.DeepBregman.Name,
            ["model"] = "deep-bregman",
            ["divergence"] = model.Kind,
            ["distance"] = model.Distance.Name,
            ["library_version"] = typeof(DeepBregmanModel).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? typeof(DeepBregmanModel).Assembly.GetName().Version?.ToString(),
            ["created_utc"] = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
            ["hyper_parameters"] = new Dictionary<string, object?>
            {
                ["data"] = settings.Data, ["input_dimension"] = model.InputDimension, ["hidden"] = settings.Hidden,
                ["embedding_dimension"] = settings.EmbeddingDimension, ["epochs"] = settings.Epochs, ["seed"] = settings.Seed,
                ["margin"] = settings.Margin, ["learning_rate"] = settings.LearningRate, ["weight_decay"] = model.Options.WeightDecay,
                ["miner"] = settings.Miner, ["classes_per_batch"] = model.Options.ClassesPerBatch, ["items_per_class"] = settings.ItemsPerClass,
                ["train_classes"] = settings.TrainClasses, ["test_classes"] = settings.TestClasses,
                ["train_per_class"] = settings.TrainPerClass, ["test_per_class"] = settings.TestPerClass,
                ["generator"] = generator?.HyperParameters,
            },
            ["metrics"] = new Dictionary<string, object?>
            {
                ["precision_at_1"] = result.PrecisionAt1, ["r_precision"] = result.RPrecision, ["map_at_r"] = result.MapAtR,
                ["epoch_losses"] = result.EpochLosses,
            },
            ["state_dict"] = "model.pt",
        };
        CheckpointFolder.Write(folder, CheckpointKind.DeepBregman,
            [new CheckpointFile("model.pt", s =>
            {
                using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true);
                model.save(w);
            })],
            JsonSerializer.Serialize(manifest, new JsonSerializerOptions { WriteIndented = true }), "--out");
        var target = Path.GetFullPath(folder);
        return [Path.Combine(target, "manifest.json"), Path.Combine(target, "model.pt")];
    }
}
