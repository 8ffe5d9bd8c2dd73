using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>Settings of one deep-Bregman training run (<see cref="BregmanTrainCommand.Run"/>).</summary>
public sealed class BregmanTrainSettings
{
    /// <summary>Data set: mnist, fashion-mnist or idx:DIR.</summary>
    public string Data { get; set; } = "mnist";
    /// <summary>quadratic, max-affine, smooth-max-affine, icnn, euclidean or cosine.</summary>
    public string Generator { get; set; } = "icnn";
    /// <summary>Training epochs (the total on resume), or null for the default: 3 for a new run
    /// (<see cref="DeepBregmanTrainer.DefaultOptions"/>), the checkpoint's on resume.</summary>
    public int? Epochs { get; set; }
    /// <summary>Seed of the initialisation and the sampler.</summary>
    public int Seed { get; set; }
    /// <summary>auto, cpu, cuda or cuda:N.</summary>
    public string Device { get; set; } = DeviceOption.Default;
    /// <summary>Checkpoint folder (written atomically), or null for none.</summary>
    public string? Out { get; set; }
    /// <summary>Replace a deep-Bregman checkpoint already in <see cref="Out"/> (otherwise it is kept and the run refused).</summary>
    public bool Overwrite { get; set; }
    /// <summary>Continue the run whose checkpoint is in <see cref="Out"/> (the same data; the model and trainer settings are the checkpoint's).</summary>
    public bool Resume { get; set; }
    /// <summary>Classes trained on (from the training split).</summary>
    public int[] TrainClasses { get; set; } = [0, 1, 2, 3, 4];
    /// <summary>Classes tested on (from the test split), disjoint from the training classes.</summary>
    public int[] TestClasses { get; set; } = [5, 6, 7, 8, 9];
    /// <summary>Training images per class (the first ones of each class); 0 means all.</summary>
    public int TrainPerClass { get; set; } = 400;
    /// <summary>Test images per class (the first ones of each class); 0 means all.</summary>
    public int TestPerClass { get; set; } = 200;
    /// <summary>
    /// The model's architecture: backbone width, embedding dimension, normalisation and the generator's settings (default
    /// <see cref="DeepBregmanArchitecture"/>'s, the library's). <see cref="DeepBregmanArchitecture.InputDimension"/>,
    /// <see cref="DeepBregmanArchitecture.Divergence"/> and <see cref="DeepBregmanArchitecture.Seed"/> are set from the
    /// data, <see cref="Generator"/> and <see cref="Seed"/> (<see cref="Architecture"/>).
    /// </summary>
    public DeepBregmanArchitecture Model { get; set; } = new();
    /// <summary>Embedding dimension (<see cref="Model"/>'s <see cref="DeepBregmanArchitecture.EmbeddingDimension"/>).</summary>
    public int EmbeddingDimension { get => Model.EmbeddingDimension; set => Model = Model with { EmbeddingDimension = value }; }
    /// <summary>Hidden width of the MLP backbone (<see cref="Model"/>'s <see cref="DeepBregmanArchitecture.Hidden"/>).</summary>
    public int Hidden { get => Model.Hidden; set => Model = Model with { Hidden = value }; }
    /// <summary>
    /// The trainer's options: loss, miner, margin, memory and <see cref="LossSettings"/>, learning rate, weight decay,
    /// classes and items per batch, warm-up, clipping, intermediate checkpoints (default
    /// <see cref="DeepBregmanTrainer.DefaultOptions"/>). <see cref="MetricLearningOptions.Epochs"/>,
    /// <see cref="MetricLearningOptions.Seed"/> and <see cref="MetricLearningOptions.Device"/> are set from this record's
    /// own members; <see cref="MetricLearningOptions.ClassesPerBatch"/> may not exceed the number of training classes.
    /// </summary>
    public MetricLearningOptions Trainer { get; set; } = DeepBregmanTrainer.DefaultOptions;
    /// <summary>Triplet margin (<see cref="Trainer"/>'s <see cref="MetricLearningOptions.Margin"/>).</summary>
    public double Margin { get => Trainer.Margin; set => Trainer = Trainer with { Margin = value }; }
    /// <summary>AdamW learning rate (<see cref="Trainer"/>'s <see cref="MetricLearningOptions.LearningRate"/>).</summary>
    public double LearningRate { get => Trainer.LearningRate; set => Trainer = Trainer with { LearningRate = value }; }
    /// <summary>Miner, a name of <see cref="Catalog.MinerNames"/> (<see cref="Trainer"/>'s <see cref="MetricLearningOptions.Miner"/>).</summary>
    public string Miner { get => Trainer.Miner; set => Trainer = Trainer with { Miner = value }; }
    /// <summary>Items per class in an M-per-class batch (<see cref="Trainer"/>'s <see cref="MetricLearningOptions.ItemsPerClass"/>).</summary>
    public int ItemsPerClass { get => Trainer.ItemsPerClass; set => Trainer = Trainer with { ItemsPerClass = value }; }
    /// <summary>Classes per M-per-class batch, at most the number of training classes (<see cref="Trainer"/>'s
    /// <see cref="MetricLearningOptions.ClassesPerBatch"/>).</summary>
    public int ClassesPerBatch { get => Trainer.ClassesPerBatch; set => Trainer = Trainer with { ClassesPerBatch = value }; }

    /// <summary>The trainer options of a new run: <see cref="Trainer"/> with this record's epochs, seed and device.</summary>
    /// <returns>The options.</returns>
    public MetricLearningOptions TrainerOptions() => (Trainer ?? DeepBregmanTrainer.DefaultOptions) with
    {
        Epochs = Epochs ?? (Trainer ?? DeepBregmanTrainer.DefaultOptions).Epochs, Seed = Seed, Device = Device,
    };

    /// <summary>The architecture of a new run: <see cref="Model"/> with the input width, <see cref="Generator"/> and <see cref="Seed"/>.</summary>
    /// <param name="inputDimension">The data's input width (pixels per image), or 0 before the data is read.</param>
    /// <returns>The architecture.</returns>
    public DeepBregmanArchitecture Architecture(int inputDimension = 0) => (Model ?? new DeepBregmanArchitecture()) with
    {
        InputDimension = inputDimension, Divergence = (Generator ?? "").Trim().ToLowerInvariant(), Seed = Seed,
    };
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
/// <param name="Paths">The checkpoint's files (manifest, weights, optimiser state), empty without --out.</param>
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
        var epochs = new Option<int>("--epochs") { Description = "Training epochs (on --resume, the new total; default the checkpoint's).", DefaultValueFactory = _ => DeepBregmanTrainer.DefaultOptions.Epochs };
        var defaults = new BregmanTrainSettings();
        var seed = new Option<int>("--seed") { Description = "Seed of the initialisation and the sampler.", DefaultValueFactory = _ => defaults.Seed };
        var device = DeviceOption.Create();
        var output = new Option<string?>("--out") { Description = "Checkpoint folder (manifest.json, model.dat, best.dat, optimizer.dat), written atomically after every epoch." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run whose checkpoint is in --out (same data and settings; --epochs may extend it)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a checkpoint already in --out (without it, an existing checkpoint is kept and the run refused)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var trainPerClass = new Option<int>("--train-per-class") { Description = "Training images per class (0 = all).", DefaultValueFactory = _ => defaults.TrainPerClass };
        var testPerClass = new Option<int>("--test-per-class") { Description = "Test images per class (0 = all).", DefaultValueFactory = _ => defaults.TestPerClass };
        var embedding = new Option<int>("--embedding-dim") { Description = "Embedding dimension.", DefaultValueFactory = _ => defaults.EmbeddingDimension };
        var learningRate = new Option<double>("--lr") { Description = "Peak AdamW learning rate (linear warm-up, cosine decay).", DefaultValueFactory = _ => defaults.Trainer.LearningRate };
        // Every default below is the library's (DeepBregmanArchitecture, DeepBregmanTrainer.DefaultOptions), read, never written here.
        var model = defaults.Model;
        var hidden = new Option<int>("--hidden") { Description = "Hidden width of the MLP backbone (≥ 1).", DefaultValueFactory = _ => model.Hidden };
        var normalize = new Option<bool>("--normalize") { Description = "Scale every embedding to unit L2 norm before the divergence (--normalize false: raw embeddings).", DefaultValueFactory = _ => model.Normalize };
        var generatorRank = new Option<int>("--generator-rank") { Description = "quadratic only: the rank r of L (d × r) in ½(x − y)ᵀLLᵀ(x − y); 0 means r = d.", DefaultValueFactory = _ => model.GeneratorRank };
        var generatorPieces = new Option<int>("--generator-pieces") { Description = "max-affine and smooth-max-affine only: the number K ≥ 1 of affine pieces.", DefaultValueFactory = _ => model.GeneratorPieces };
        var generatorTemperature = new Option<double>("--generator-temperature") { Description = "smooth-max-affine only: the temperature τ > 0 of the log-sum-exp.", DefaultValueFactory = _ => model.GeneratorTemperature };
        var generatorHidden = new Option<string>("--generator-hidden") { Description = "icnn only: comma-separated hidden-layer widths of the input-convex network (each ≥ 1).", DefaultValueFactory = _ => Widths(model.GeneratorHidden) };
        var generatorStrength = new Option<double>("--generator-strength") { Description = "max-affine and icnn only: the weight ε ≥ 0 of the strongly convex term ½ε‖x‖².", DefaultValueFactory = _ => model.GeneratorStrength };
        var t = defaults.Trainer;
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW's decoupled weight decay (≥ 0).", DefaultValueFactory = _ => t.WeightDecay };
        var warmup = new Option<double>("--warmup-fraction") { Description = "Fraction of all steps for the linear learning-rate warm-up, in [0, 1).", DefaultValueFactory = _ => t.WarmupFraction };
        var clip = new Option<double>("--clip-norm") { Description = "Clip the gradient's L2 norm to this value (> 0).", DefaultValueFactory = _ => t.ClipNorm };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Also write the checkpoint every this many steps within an epoch (0: at epoch ends only).", DefaultValueFactory = _ => t.CheckpointEverySteps };
        var classesPerBatch = new Option<int>("--classes-per-batch") { Description = $"Classes P per M-per-class batch (≥ 2, at most the {defaults.TrainClasses.Length} training classes).", DefaultValueFactory = _ => t.ClassesPerBatch };
        var itemsPerClass = new Option<int>("--items-per-class") { Description = "Images M per class in an M-per-class batch (≥ 2).", DefaultValueFactory = _ => t.ItemsPerClass };
        var command = new Command("bregman", "Trains a deep Bregman model (learned convex generator on an MLP embedding) on classes 0–4 and reports P@1, R-precision and MAP@R on classes 5–9.")
        {
            data, generator, epochs, seed, device, output, resume, overwrite, json, trainPerClass, testPerClass, embedding, hidden, normalize,
            generatorRank, generatorPieces, generatorTemperature, generatorHidden, generatorStrength,
            learningRate, weightDecay, warmup, clip, checkpointEvery, classesPerBatch, itemsPerClass,
        };
        var lossSettings = LossSettingsOptions.Add(command, defaults.Trainer);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var settings = new BregmanTrainSettings
            {
                Data = r.GetValue(data)!, Generator = r.GetValue(generator)!, Seed = r.GetValue(seed),
                Epochs = r.GetResult(epochs) is { Implicit: false } ? r.GetValue(epochs) : null,
                Device = r.GetValue(device)!, Out = r.GetValue(output), Overwrite = r.GetValue(overwrite), Resume = r.GetValue(resume),
                TrainPerClass = r.GetValue(trainPerClass), TestPerClass = r.GetValue(testPerClass),
                Model = model with
                {
                    EmbeddingDimension = r.GetValue(embedding), Hidden = r.GetValue(hidden), Normalize = r.GetValue(normalize),
                    GeneratorRank = r.GetValue(generatorRank), GeneratorPieces = r.GetValue(generatorPieces), GeneratorTemperature = r.GetValue(generatorTemperature),
                    GeneratorHidden = ParseWidths(r.GetValue(generatorHidden)!, generatorHidden.Name), GeneratorStrength = r.GetValue(generatorStrength),
                },
                Trainer = lossSettings.Bind(r, t with
                {
                    LearningRate = r.GetValue(learningRate), WeightDecay = r.GetValue(weightDecay), WarmupFraction = r.GetValue(warmup), ClipNorm = r.GetValue(clip),
                    CheckpointEverySteps = r.GetValue(checkpointEvery), ClassesPerBatch = r.GetValue(classesPerBatch), ItemsPerClass = r.GetValue(itemsPerClass),
                }),
            };
            if (settings.Resume && settings.Out is not null && !settings.Overwrite)
            {
                // An option given explicitly must equal the checkpoint's setting: a resumed run cannot honour another.
                var m = DeepBregmanTrainer.ReadManifest(settings.Out);
                var (mo, mt) = (m.Model, m.Trainer);
                ResumedSettings.Keep(r, generator, mo.Divergence, ignoreCase: true);
                ResumedSettings.Keep(r, seed, mo.Seed);
                ResumedSettings.Keep(r, embedding, mo.EmbeddingDimension);
                ResumedSettings.Keep(r, hidden, mo.Hidden);
                ResumedSettings.Keep(r, normalize, mo.Normalize);
                ResumedSettings.Keep(r, generatorRank, mo.GeneratorRank);
                ResumedSettings.Keep(r, generatorPieces, mo.GeneratorPieces);
                ResumedSettings.Keep(r, generatorTemperature, mo.GeneratorTemperature);
                if (r.GetResult(generatorHidden) is { Implicit: false } && !settings.Model.GeneratorHidden.SequenceEqual(mo.GeneratorHidden))
                    throw ResumedSettings.Differs(generatorHidden.Name, Widths(settings.Model.GeneratorHidden), Widths(mo.GeneratorHidden));
                ResumedSettings.Keep(r, generatorStrength, mo.GeneratorStrength);
                ResumedSettings.Keep(r, learningRate, mt.LearningRate);
                ResumedSettings.Keep(r, weightDecay, mt.WeightDecay);
                ResumedSettings.Keep(r, warmup, mt.WarmupFraction);
                ResumedSettings.Keep(r, clip, mt.ClipNorm);
                ResumedSettings.Keep(r, checkpointEvery, mt.CheckpointEverySteps);
                ResumedSettings.Keep(r, classesPerBatch, mt.ClassesPerBatch);
                ResumedSettings.Keep(r, itemsPerClass, mt.ItemsPerClass);
                if (r.GetResult(device) is { Implicit: false } && !DeviceOption.Same(r.GetValue(device)!, mt.Device))
                    throw ResumedSettings.Differs(device.Name, r.GetValue(device)!, mt.Device);
                lossSettings.CheckKept(r, mt, ResumedSettings.Differs);
            }
            else
            {
                // Every bad value is refused under its option's name before any data is read or anything is written.
                CheckGenerator(settings.Generator);
                CliErrors.AsOptions(() => settings.Architecture().Validate(), ArchitectureOptionNames);
                LossSettingsOptions.Validate(() => DeepBregmanTrainer.Validate(settings.TrainerOptions()), TrainerOptionNames);
            }
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

    /// <summary>The options of the trainer fields this command sets besides the loss settings (for error messages).</summary>
    private static readonly Dictionary<string, string> TrainerOptionNames = new()
    {
        [nameof(MetricLearningOptions.Epochs)] = "--epochs", [nameof(MetricLearningOptions.LearningRate)] = "--lr", [nameof(MetricLearningOptions.Device)] = "--device",
        [nameof(MetricLearningOptions.WeightDecay)] = "--weight-decay", [nameof(MetricLearningOptions.WarmupFraction)] = "--warmup-fraction",
        [nameof(MetricLearningOptions.ClipNorm)] = "--clip-norm", [nameof(MetricLearningOptions.CheckpointEverySteps)] = "--checkpoint-every",
        [nameof(MetricLearningOptions.ClassesPerBatch)] = "--classes-per-batch", [nameof(MetricLearningOptions.ItemsPerClass)] = "--items-per-class",
    };

    /// <summary>The option behind each <see cref="DeepBregmanArchitecture"/> member this command sets (for error messages).</summary>
    private static readonly Dictionary<string, string> ArchitectureOptionNames = new()
    {
        [nameof(DeepBregmanArchitecture.Divergence)] = "--generator", [nameof(DeepBregmanArchitecture.Hidden)] = "--hidden",
        [nameof(DeepBregmanArchitecture.EmbeddingDimension)] = "--embedding-dim", [nameof(DeepBregmanArchitecture.GeneratorRank)] = "--generator-rank",
        [nameof(DeepBregmanArchitecture.GeneratorPieces)] = "--generator-pieces", [nameof(DeepBregmanArchitecture.GeneratorTemperature)] = "--generator-temperature",
        [nameof(DeepBregmanArchitecture.GeneratorHidden)] = "--generator-hidden", [nameof(DeepBregmanArchitecture.GeneratorStrength)] = "--generator-strength",
    };

    /// <summary>Layer widths as the comma list <c>--generator-hidden</c> takes.</summary>
    private static string Widths(IEnumerable<int>? widths) => string.Join(",", widths ?? []);

    /// <summary>Parses a comma list of layer widths (<c>--generator-hidden 64,64</c>).</summary>
    /// <exception cref="ArgumentException">An entry that is not an integer (names the option).</exception>
    private static int[] ParseWidths(string text, string option) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
            int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
                ? v : throw new ArgumentException($"{option}: '{s}' is not a layer width (an integer); give comma-separated widths such as 64,64.", option.TrimStart('-')))];

    /// <summary>Refuses a divergence kind <c>--generator</c> does not accept.</summary>
    private static void CheckGenerator(string? generator)
    {
        if (!Generators.Contains((generator ?? "").Trim().ToLowerInvariant()))
            throw new ArgumentException($"--generator '{generator}' is unknown; valid: {string.Join(", ", Generators)}.", "generator");
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

    /// <summary>Runs one training through <see cref="DeepBregmanTrainer"/>: loads the data, trains on the training classes
    /// (checkpointing into <see cref="BregmanTrainSettings.Out"/> after every epoch when set, or resuming from it), and
    /// evaluates leave-one-out retrieval on the test classes.</summary>
    /// <param name="settings">The run's settings.</param>
    /// <param name="log">Progress lines (per epoch), or null.</param>
    /// <param name="cancellationToken">Cancels the training between steps; the last checkpoint stays valid for <c>--resume</c>.</param>
    /// <returns>The metrics and the checkpoint's files.</returns>
    /// <exception cref="ArgumentException">An unknown generator, data set or device, overlapping train/test classes, or
    /// an invalid hyper-parameter (the message names it).</exception>
    public static BregmanTrainResult Run(BregmanTrainSettings settings, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        CheckGenerator(settings.Generator);
        var kind = (settings.Generator ?? "").Trim().ToLowerInvariant();
        if (settings.TrainClasses.Intersect(settings.TestClasses).Any())
            throw new ArgumentException("the training and test classes overlap; the split must be class-disjoint.", "settings");
        if (settings.TrainPerClass < 0) throw new ArgumentException("--train-per-class must be ≥ 0.", "train-per-class");
        if (settings.TestPerClass < 0) throw new ArgumentException("--test-per-class must be ≥ 0.", "test-per-class");
        if (settings.Resume && settings.Overwrite)
            throw new ArgumentException("--resume and --overwrite exclude each other: --resume continues the checkpoint in --out, --overwrite replaces it.", "overwrite");
        if (settings.Resume && settings.Out is null)
            throw new ArgumentException("--resume continues the checkpoint in --out; give --out.", "out");
        var device = Devices.Resolve(settings.Device);
        if (!settings.Resume) // before any data is read
        {
            settings.Architecture().Validate();
            DeepBregmanTrainer.Validate(settings.TrainerOptions());
            if (settings.ClassesPerBatch > settings.TrainClasses.Length)
                throw new ArgumentException(
                    $"--classes-per-batch = {settings.ClassesPerBatch}; there are {settings.TrainClasses.Length} training classes ({string.Join(", ", settings.TrainClasses)}), so it must be ≤ {settings.TrainClasses.Length}.",
                    "classes-per-batch");
        }
        if (settings.Out is not null) // checked before any work: a refused --out must not cost a training run
            CheckpointFolder.Prepare(settings.Out, CheckpointKind.DeepBregman,
                settings.Resume ? CheckpointMode.Resume : settings.Overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                [settings.Data.StartsWith("idx:", StringComparison.Ordinal) ? settings.Data[4..] : settings.Data], "--out");
        var train = FirstPerClass(ImageDatasets.Load(settings.Data, train: true), settings.TrainClasses, settings.TrainPerClass, "train");
        var test = FirstPerClass(ImageDatasets.Load(settings.Data, train: false), settings.TestClasses, settings.TestPerClass, "test");
        using var scope = torch.NewDisposeScope();
        using var trainData = new LabelledData(train.ToTensor(), train.Labels);
        var clock = Stopwatch.StartNew();
        var progress = new EpochLog(log, clock);
        Bregman.BregmanModel model;
        TrainingResult history;
        if (settings.Resume)
        {
            (model, history) = DeepBregmanTrainer.Resume(settings.Out!, trainData, null, progress, cancellationToken, settings.Epochs);
            kind = model.Divergence;
        }
        else
        {
            model = settings.Architecture(train.Rows * train.Cols).CreateModel(device);
            var options = settings.TrainerOptions();
            try
            {
                history = DeepBregmanTrainer.Train(model, trainData, null, options, settings.Out, progress, cancellationToken, settings.Overwrite);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        using (model)
        {
            var seconds = clock.Elapsed.TotalSeconds;
            var report = model.Evaluate(test.ToTensor(), test.Labels.Select(l => (long)l).ToArray());
            string[] paths = settings.Out is null
                ? []
                : [.. new[] { CheckpointFolder.ManifestFile }.Concat(CheckpointKind.DeepBregman.Files)
                    .Select(f => Path.Combine(Path.GetFullPath(settings.Out), f)).Where(File.Exists)];
            return new BregmanTrainResult(settings.Data, kind, settings.Resume ? model.Architecture.Seed : settings.Seed, report.PrecisionAt1, report.RPrecision, report.MapAtR,
                history.History.Select(e => e.TrainLoss).ToArray(), seconds, train.Count, test.Count, paths);
        }
    }

    /// <summary>Writes one line per finished epoch, synchronously (a <see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class EpochLog(Action<string>? log, Stopwatch clock) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (log is null || value.EpochResult is not { } e) return;
            log($"epoch {e.Epoch}: loss {F(e.TrainLoss)} over {value.StepsPerEpoch} batches, lr {value.LearningRate:G3} ({clock.Elapsed.TotalSeconds:F1} s)");
        }
    }
}
