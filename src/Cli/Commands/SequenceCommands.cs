using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using Spectre.Console;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// The sequence-model commands: <c>distembed train sequence</c>, <c>distembed embed</c> and
/// <c>distembed evaluate</c>.
/// </summary>
public static class SequenceCommands
{
    /// <summary>The items per class M of <c>train sequence</c>'s batches (the library's default; <c>--batch-size</c> = P × M).</summary>
    private static readonly int ItemsPerClass = new TrainerOptions().ItemsPerClass;

    /// <summary>Builds <c>train sequence</c>, or (<paramref name="name"/> <c>train</c>) the <c>train</c> command itself,
    /// which runs the same sequence training and keeps <c>--task sequence</c> for older scripts.</summary>
    /// <param name="name">The command's name: <c>sequence</c> (the subcommand) or <c>train</c> (the parent, with <c>--task</c>).</param>
    /// <returns>The command.</returns>
    public static Command Train(string name = "sequence")
    {
        var trainData = new Option<string>("--train") { Description = "Training sequences: a .csv/.parquet file, synthetic:<task>, mnist-rows or fashion-mnist-rows.", Required = true };
        var validData = new Option<string?>("--valid") { Description = "Validation sequences (held-out classes); default: 20% of the training classes held out." };
        // Every default is the library's (TrainerOptions, EmbedderOptions), read here, never written here.
        var trainerDefaults = new TrainerOptions();
        var modelDefaults = new EmbedderOptions();
        var encoder = new Option<string>("--encoder") { Description = "tcn or gru.", DefaultValueFactory = _ => modelDefaults.Encoder };
        var head = new Option<string>("--head") { Description = "quantile, distribution, mean, stats or attention.", DefaultValueFactory = _ => modelDefaults.Head };
        var epochs = new Option<int>("--epochs") { Description = "Epochs.", DefaultValueFactory = _ => trainerDefaults.Epochs };
        var batchSize = new Option<int>("--batch-size") { Description = $"Sequences per batch (classes × {ItemsPerClass} per class).", DefaultValueFactory = _ => trainerDefaults.ClassesPerBatch * ItemsPerClass };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (linear warm-up, cosine decay).", DefaultValueFactory = _ => trainerDefaults.LearningRate };
        var hidden = new Option<int>("--hidden") { Description = "Encoder width.", DefaultValueFactory = _ => modelDefaults.Hidden };
        var features = new Option<int>("--features") { Description = "Per-step features d.", DefaultValueFactory = _ => modelDefaults.Features };
        var quantiles = new Option<int>("--quantiles") { Description = "Quantile levels Q.", DefaultValueFactory = _ => modelDefaults.Quantiles };
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW's decoupled weight decay (≥ 0).", DefaultValueFactory = _ => trainerDefaults.WeightDecay };
        var warmup = new Option<double>("--warmup-fraction") { Description = "Fraction of all steps for the linear learning-rate warm-up, in [0, 1).", DefaultValueFactory = _ => trainerDefaults.WarmupFraction };
        var clip = new Option<double>("--clip-norm") { Description = "Clip the gradient's L2 norm to this value (> 0).", DefaultValueFactory = _ => trainerDefaults.ClipNorm };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Also write the checkpoint every this many steps within an epoch (0: at epoch ends only).", DefaultValueFactory = _ => trainerDefaults.CheckpointEverySteps };
        var patience = new Option<int>("--patience") { Description = "Early-stopping patience in epochs (0 = off).", DefaultValueFactory = _ => trainerDefaults.Patience };
        var seed = new Option<int>("--seed") { Description = "Seed of the weights, the sampler, the held-out classes and the sliced distances' directions.", DefaultValueFactory = _ => (int)trainerDefaults.Seed };
        var device = DeviceOption.Create();
        var output = new Option<string>("--out") { Description = "Model / checkpoint directory.", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Continue the run whose checkpoint is in --out (same data and settings; --epochs may extend it)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace a checkpoint already in --out (without it, an existing checkpoint is kept and the run refused)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the history and the paths written." };
        var isParent = name == "train";
        var command = new Command(name, isParent
            ? "Trains a model: train sequence (sequence embeddings with metric learning), train bregman (deep Bregman divergence) or train tvae (VAE / TVAE / W-TVAE). Without a subcommand, trains a sequence model as train sequence does."
            : "Trains a sequence embedding model with metric learning; writes a resumable checkpoint directory.")
        {
            trainData, validData, encoder, head,
        };
        var settings = DistanceSettings.Add(command, DistanceSetting.Sinkhorn | DistanceSetting.Projections,
            "Distance name (default: quantile-w2, marginal-w2 or euclidean by head; sliced distances draw fresh directions each step)");
        var lossSettings = LossSettingsOptions.Add(command);
        foreach (var o in new Option[] { epochs, batchSize, lr, weightDecay, warmup, clip, checkpointEvery, hidden, features, quantiles, patience, seed, device, output, resume, overwrite, json })
            command.Options.Add(o);
        Option<string>? task = null;
        if (isParent)
        {
            task = new Option<string>("--task")
            {
                Description = "Kept for older scripts: sequence, the only task this command trains itself (train --task sequence = train sequence); the other tasks are subcommands: train bregman, train tvae.",
                DefaultValueFactory = _ => "sequence",
            };
            command.Options.Add(task);
        }
        var distance = settings.Name;
        command.SetAction(r => CliErrors.Run(() =>
        {
            if (task is not null && r.GetValue(task) is var taskName and not "sequence")
                throw new ArgumentException(taskName is "bregman" or "tvae"
                    ? $"--task {taskName}: {taskName} is the subcommand 'distembed train {taskName}' (its options differ); see 'distembed train {taskName} --help'."
                    : $"--task '{taskName}' is unknown; this command trains sequence models (--task sequence); the other tasks are subcommands: train bregman, train tvae.", "task");
            var outDir = r.GetValue(output)!;
            var asJson = r.GetValue(json);
            var isResume = r.GetValue(resume);
            var isOverwrite = r.GetValue(overwrite);
            if (isResume && isOverwrite)
                throw new ArgumentException("--resume and --overwrite exclude each other: --resume continues the checkpoint in --out, --overwrite replaces it.", "overwrite");
            var validSpec = r.GetValue(validData);
            // Every check of --out happens before any data is read or any work is done.
            CheckpointFolder.Prepare(outDir, CheckpointKind.SequenceEmbedder,
                isResume ? CheckpointMode.Resume : isOverwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                [r.GetValue(trainData), validSpec], "--out");
            CheckpointManifest? resumed = null;
            if (isResume)
            {
                resumed = Checkpoint.ReadManifest(outDir);
                if (resumed.DistanceIsCustom)
                    throw new ArgumentException(
                        $"--out {outDir} holds a run trained from C# under your own distance '{resumed.Distance}', which the command line cannot re-create; resume it from C# with SequenceTrainer.Resume(checkpointDirectory, distance, …).",
                        "resume");
                if (resumed.Standardizer is null)
                    throw new InvalidDataException($"manifest {Path.Combine(outDir, Checkpoint.ManifestFile)}: \"standardizer\" is null, but distembed train always records the standardiser it fitted; the manifest was edited or written by another program.");
                var t = resumed.Trainer;
                var mo = resumed.Model;
                ResumedSettings.Keep(r, lr, t.LearningRate);
                ResumedSettings.Keep(r, weightDecay, t.WeightDecay);
                ResumedSettings.Keep(r, warmup, t.WarmupFraction);
                ResumedSettings.Keep(r, clip, t.ClipNorm);
                ResumedSettings.Keep(r, checkpointEvery, t.CheckpointEverySteps);
                ResumedSettings.Keep(r, patience, t.Patience);
                ResumedSettings.Keep(r, seed, (int)t.Seed);
                settings.CheckKept(r, t.Distance, t.DistanceSettings, ResumedSettings.Differs);
                lossSettings.CheckKept(r, t, ResumedSettings.Differs);
                ResumedSettings.Keep(r, encoder, mo.Encoder);
                ResumedSettings.Keep(r, head, mo.Head);
                ResumedSettings.Keep(r, hidden, mo.Hidden);
                ResumedSettings.Keep(r, features, mo.Features);
                ResumedSettings.Keep(r, quantiles, mo.Quantiles);
                if (r.GetResult(device) is { Implicit: false } && !DeviceOption.Same(r.GetValue(device)!, t.Device))
                    throw ResumedSettings.Differs("--device", r.GetValue(device)!, t.Device);
                if (r.GetResult(epochs) is { Implicit: false } && r.GetValue(epochs) < resumed.State.Epoch)
                    throw new ArgumentException($"--epochs {r.GetValue(epochs)} is below the {resumed.State.Epoch} epochs the checkpoint has already finished; --epochs on resume is the new total.", "epochs");
            }
            var raw = SequenceSources.Load(r.GetValue(trainData)!);
            TrainingResult result;
            SequenceEmbedder model;
            if (resumed is not null)
            {
                var standardizer = StandardizerOf(resumed, outDir)!;
                var (train, valid) = Prepare(raw, validSpec, standardizer, resumed.Trainer.Seed);
                if (r.GetResult(batchSize) is { Implicit: false } && Math.Min(r.GetValue(batchSize) / ItemsPerClass, train.Classes.Length) != resumed.Trainer.ClassesPerBatch)
                    throw ResumedSettings.Differs("--batch-size", r.GetValue(batchSize).ToString(CultureInfo.InvariantCulture), (ItemsPerClass * resumed.Trainer.ClassesPerBatch).ToString(CultureInfo.InvariantCulture));
                int? total = r.GetResult(epochs) is { Implicit: false } ? r.GetValue(epochs) : null;
                (model, result) = WithProgress(asJson, total ?? resumed.Trainer.Epochs, p => SequenceTrainer.Resume(outDir, train, valid, p, default, total));
            }
            else
            {
                var b = r.GetValue(batchSize);
                if (b < 2 * ItemsPerClass || b % ItemsPerClass != 0) throw new ArgumentException($"--batch-size = {b}; it must be a multiple of {ItemsPerClass} (classes × {ItemsPerClass} sequences), at least {2 * ItemsPerClass}.", "batch-size");
                var seedValue = r.GetValue(seed);
                if (raw.Classes.Length < 2)
                    throw new ArgumentException($"--train {r.GetValue(trainData)} has {raw.Classes.Length} class; metric learning needs at least 2.", "train");
                var (fitOn, _) = HoldOut(raw, validSpec, seedValue);
                var standardizer = Standardizer.Fit(fitOn);
                var (train, valid) = Prepare(raw, validSpec, standardizer, seedValue);
                var options = new EmbedderOptions
                {
                    Encoder = r.GetValue(encoder)!, Head = r.GetValue(head)!, InputChannels = raw.Channels, Hidden = r.GetValue(hidden),
                    Features = r.GetValue(features), Quantiles = r.GetValue(quantiles),
                };
                var d = settings.Bind(r);
                var trainer = new TrainerOptions
                {
                    Distance = r.GetValue(distance), Epochs = r.GetValue(epochs),
                    ClassesPerBatch = Math.Min(b / ItemsPerClass, train.Classes.Length), ItemsPerClass = ItemsPerClass, LearningRate = r.GetValue(lr),
                    WeightDecay = r.GetValue(weightDecay), WarmupFraction = r.GetValue(warmup), ClipNorm = r.GetValue(clip),
                    CheckpointEverySteps = r.GetValue(checkpointEvery),
                    Patience = r.GetValue(patience), Seed = seedValue, Device = r.GetValue(device)!, DistanceSettings = d,
                };
                trainer = lossSettings.Bind(r, trainer);
                if (valid is not null && valid.Classes.Length < 2)
                    throw new ArgumentException(
                        $"{(validSpec is null ? "the validation classes held out of --train" : "--valid " + validSpec)} hold {valid.Classes.Length} class; validation MAP@R needs at least 2 (with one class it is 1 whatever the model).",
                        "valid");
                ValidateAsOptions(trainer.Validate);
                ValidateAsOptions(options.Validate);
                model = SequenceEmbedder.Create(options, seedValue);
                var m = model;
                result = WithProgress(asJson, trainer.Epochs, p => SequenceTrainer.Train(m, train, valid, trainer, outDir, standardizer.ToJson(), p, default, isOverwrite));
            }
            var full = Path.GetFullPath(outDir);
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["out"] = full, ["epochs"] = result.History.Count, ["best_epoch"] = result.BestEpoch,
                    ["best_valid_map_at_r"] = result.BestMapAtR, ["stopped_early"] = result.StoppedEarly, ["steps"] = result.Steps,
                    ["seconds"] = result.Seconds,
                    ["history"] = result.History.Select(h => new Dictionary<string, object?>
                    {
                        ["epoch"] = h.Epoch, ["train_loss"] = h.TrainLoss, ["valid_map_at_r"] = h.ValidMapAtR,
                        ["valid_precision_at_1"] = h.ValidPrecisionAt1, ["learning_rate"] = h.LearningRate,
                    }).ToArray(),
                }));
            }
            else
            {
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "best epoch {0} (validation MAP@R {1:F4}); {2} steps in {3:F1} s",
                    result.BestEpoch, result.BestMapAtR ?? double.NaN, result.Steps, result.Seconds));
                Console.WriteLine($"written: {full}");
            }
        }));
        return command;
    }

    /// <summary>Builds <c>embed</c>.</summary>
    public static Command Embed()
    {
        var modelDir = new Option<string>("--model") { Description = "Model directory written by distembed train.", Required = true };
        var data = new Option<string>("--data") { Description = "Sequences to embed (same forms as --train).", Required = true };
        var output = new Option<string>("--out") { Description = "Embeddings .npy: [N,d] vectors, [N,T,d] distributions (+ .mask.npy) or [N,d,Q] quantiles (+ .levels.npy); .labels.npy and .ids.txt alongside.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the shape and the paths written." };
        var device = DeviceOption.Create();
        var command = new Command("embed", "Embeds sequences with a trained model.") { modelDir, data, output, device, json };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var written = EmbedToFiles(r.GetValue(modelDir)!, r.GetValue(data)!, r.GetValue(output)!, out var shape, r.GetValue(device)!);
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["shape"] = shape, ["files"] = written }));
            else
            {
                Console.WriteLine($"embeddings [{string.Join(",", shape)}]");
                foreach (var f in written) Console.WriteLine($"written: {f}");
            }
        }));
        return command;
    }

    /// <summary>Builds <c>evaluate</c>: a trained model on sequences (<c>--model</c>, <c>--query</c>), or embeddings you bring (<c>--embeddings</c>, <c>--labels</c>).</summary>
    public static Command Evaluate()
    {
        var modelDir = new Option<string?>("--model") { Description = "Model directory written by distembed train (with --query)." };
        var query = new Option<string?>("--query") { Description = "Query sequences (with --model)." };
        var gallery = new Option<string?>("--gallery") { Description = "Gallery sequences (default: the queries themselves, self excluded)." };
        var embeddings = new Option<string?>("--embeddings") { Description = "Embeddings you bring (.npy, no model needed): [N,d] vectors, [N,T,d] distributions (+ --mask) or [N,d,Q] quantiles." };
        var labels = new Option<string?>("--labels") { Description = "[N] int32 or int64 labels (.npy) of --embeddings." };
        var mask = new Option<string?>("--mask") { Description = "[N,T] mask (.npy) of distribution --embeddings: 0 marks padding." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the metrics." };
        var device = DeviceOption.Create();
        var command = new Command("evaluate",
            "Retrieval, verification and clustering metrics — precision@1, R-precision, MAP@R, recall@k, MRR, ROC AUC, EER (and NMI and AMI for vectors) — of a trained model, or of embeddings you bring with --embeddings and --labels.")
        {
            modelDir, query, gallery, embeddings, labels, mask,
        };
        var settings = DistanceSettings.Add(command, DistanceSetting.All,
            "Distance and its settings for --embeddings (default euclidean for [N,d], marginal-w2 for [N,T,d]; name a quantiles distance for [N,d,Q])");
        command.Options.Add(device);
        command.Options.Add(json);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var embeddingsPath = r.GetValue(embeddings);
            Dictionary<string, object> metrics;
            if (embeddingsPath is not null || r.GetValue(labels) is not null)
            {
                if (r.GetValue(modelDir) is not null || r.GetValue(query) is not null || r.GetValue(gallery) is not null)
                    throw new ArgumentException("--embeddings evaluates embeddings you bring; leave out --model, --query and --gallery.", "embeddings");
                if (embeddingsPath is null) throw new ArgumentException("--labels needs --embeddings (the .npy file the labels belong to).", "embeddings");
                var labelsPath = r.GetValue(labels) ?? throw new ArgumentException("--embeddings needs --labels: an [N] int32 or int64 .npy file.", "labels");
                metrics = EvaluateEmbeddings(embeddingsPath, labelsPath, r.GetValue(mask), settings.DistanceName(r), settings.Bind(r, Devices.Resolve(r.GetValue(device)!)), r.GetValue(device)!);
            }
            else
            {
                var model = r.GetValue(modelDir) ?? throw new ArgumentException("give --model and --query (a trained model), or --embeddings and --labels (your own embeddings).", "model");
                var queries = r.GetValue(query) ?? throw new ArgumentException("--model needs --query: the sequences to evaluate on.", "query");
                var given = settings.Given(r);
                if (r.GetValue(mask) is not null || given.Count > 0)
                    throw new ArgumentException(
                        $"{string.Join(", ", (r.GetValue(mask) is null ? given : given.Prepend("--mask")))} go with --embeddings; a model evaluates with the distance and settings it was trained with.", "model");
                metrics = EvaluateModel(model, queries, r.GetValue(gallery), r.GetValue(device)!);
            }
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(metrics));
            else foreach (var (k, v) in metrics) Console.WriteLine($"{k,-16} {Format(v)}");
        }));
        return command;
    }

    /// <summary>Evaluates embeddings from .npy files (no model): leave-one-out retrieval, verification over all pairs, NMI for vectors.</summary>
    /// <param name="embeddingsPath">[N,d], [N,T,d] or [N,d,Q] embeddings (.npy, float32/float64).</param>
    /// <param name="labelsPath">[N] labels (.npy, int32 or int64).</param>
    /// <param name="maskPath">[N,T] mask of distributions, or null.</param>
    /// <param name="distanceName">A catalog distance name, or null for the representation's default.</param>
    /// <param name="options">The distance's settings (seed, projections, Sinkhorn parameters, …), or null for the defaults.</param>
    /// <param name="device">The device the distances are computed on: auto, cpu, cuda or cuda:N.</param>
    /// <returns>precision_at_1, r_precision, map_at_r, mean_average_precision, recall_at_k, mrr, auc, eer, nmi, ami, counts, distance.</returns>
    /// <exception cref="ArgumentException">Bad labels (names labels), a shape or count mismatch, non-finite values (names embeddings), an unknown distance or a setting out of range (names the option).</exception>
    public static Dictionary<string, object> EvaluateEmbeddings(string embeddingsPath, string labelsPath, string? maskPath, string? distanceName, DistEmbed.DistanceSettings? options = null,
        string device = DeviceOption.Default)
    {
        var labels = ReadLabels(labelsPath);
        var values = Npy.Read(embeddingsPath);
        if (values.Rank is < 2 or > 3)
            throw new ArgumentException(
                $"--embeddings {embeddingsPath} has shape [{string.Join(",", values.Shape)}]; it must be [N,d] vectors, [N,T,d] distributions or [N,d,Q] quantiles.", "embeddings");
        if (values.Shape[0] != labels.Length)
            throw new ArgumentException(
                $"--labels {labelsPath} has {labels.Length} labels but --embeddings {embeddingsPath} has {values.Shape[0]} rows; they must match (one label per embedding).", "labels");
        var name = distanceName ?? (values.Rank == 2 ? "euclidean" : "marginal-w2");
        var distance = DistanceSettings.Create(name, options ?? new DistEmbed.DistanceSettings());
        if (values.Rank == 2 && distance.Accepts != Representation.Vectors)
            throw new ArgumentException($"--distance {distance.Name} reads {Embeddings.Describe(distance.Accepts)}, but --embeddings holds [N,d] vectors; use euclidean, sqeuclidean, cosine or lp.", "distance");
        if (values.Rank == 3 && distance.Accepts == Representation.Vectors)
            throw new ArgumentException($"--distance {distance.Name} reads [N,d] vectors, but --embeddings holds a rank-3 array ([N,T,d] distributions or [N,d,Q] quantiles).", "distance");
        if (maskPath is not null && distance.Accepts != Representation.Distributions)
            throw new ArgumentException("--mask marks padding of [N,T,d] distributions; it does not apply to " + Embeddings.Describe(distance.Accepts) + ".", "mask");
        using var scope = torch.NewDisposeScope();
        EmbeddingBatch batch;
        try
        {
            batch = Embeddings.Load(embeddingsPath, maskPath, distance.Accepts, Devices.Resolve(device));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException("--embeddings: " + e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal), "embeddings", e);
        }
        using (batch)
        {
            Evaluation.EvaluationReport report;
            try
            {
                report = Evaluation.EmbeddingEvaluation.Evaluate(batch, labels, distance);
            }
            catch (ArgumentException e) when (e.ParamName is "embeddings" or "labels")
            {
                throw new ArgumentException($"--{e.ParamName}: " + e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal), e.ParamName, e);
            }
            var metrics = new Dictionary<string, object>
            {
                ["precision_at_1"] = report.PrecisionAt1,
                ["r_precision"] = report.RPrecision,
                ["map_at_r"] = report.MapAtR,
                ["mean_average_precision"] = report.MeanAveragePrecision,
                ["recall_at_k"] = report.RecallAtK.ToDictionary(kv => kv.Key.ToString(CultureInfo.InvariantCulture), kv => kv.Value),
                ["mrr"] = report.MeanReciprocalRank,
                ["auc"] = report.RocAuc,
                ["eer"] = report.EqualErrorRate,
            };
            if (report.Nmi is { } nmi) metrics["nmi"] = nmi;
            if (report.Ami is { } ami) metrics["ami"] = ami;
            metrics["n"] = report.Count;
            metrics["classes"] = report.Classes;
            metrics["queries"] = report.EvaluatedQueries;
            metrics["distance"] = report.Distance;
            return metrics;
        }
    }

    /// <summary>Reads [N] integer labels from a .npy file (int32 or int64).</summary>
    private static long[] ReadLabels(string path)
    {
        var array = Npy.Read(path);
        if (array.SourceDType is not ("<i8" or "<i4"))
            throw new ArgumentException(
                $"--labels {path} has dtype {array.SourceDType}; labels must be int32 or int64 (e.g. np.save(path, y.astype(np.int64))).", "labels");
        if (array.Rank != 1)
            throw new ArgumentException($"--labels {path} has shape [{string.Join(",", array.Shape)}]; labels must be one-dimensional [N].", "labels");
        return Array.ConvertAll(array.ToDoubleArray(), v => (long)v);
    }

    /// <summary>The command-line option behind each checked <see cref="TrainerOptions"/> and <see cref="EmbedderOptions"/> field.</summary>
    private static readonly Dictionary<string, string> TrainerOptionNames = new Dictionary<string, string>
    {
        ["Epochs"] = "--epochs", ["LearningRate"] = "--lr", ["Patience"] = "--patience", ["Distance"] = "--distance",
        ["WeightDecay"] = "--weight-decay", ["WarmupFraction"] = "--warmup-fraction", ["ClipNorm"] = "--clip-norm",
        ["CheckpointEverySteps"] = "--checkpoint-every",
        ["ClassesPerBatch"] = "--batch-size", ["Encoder"] = "--encoder", ["Head"] = "--head", ["Hidden"] = "--hidden",
        ["Features"] = "--features", ["Quantiles"] = "--quantiles",
    }.Concat(DistanceSettings.OptionNames.Select(p => KeyValuePair.Create(nameof(TrainerOptions.DistanceSettings) + "." + p.Key, p.Value)))
        .ToDictionary(p => p.Key, p => p.Value);

    /// <summary>Runs a validation and names the command-line option in the error, not the API field: the message's
    /// leading field name is replaced by the option, and one parameter suffix is kept.</summary>
    private static void ValidateAsOptions(Action validate) => LossSettingsOptions.Validate(validate, TrainerOptionNames);

    private static string Format(object v) => v switch
    {
        double d => d.ToString("F4", CultureInfo.InvariantCulture),
        Dictionary<string, double> m => string.Join("  ", m.Select(kv => $"{kv.Key}: {kv.Value.ToString("F4", CultureInfo.InvariantCulture)}")),
        _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
    };

    /// <summary>Embeds a data set with a model directory and writes the embedding files.</summary>
    /// <param name="modelDirectory">The model directory.</param>
    /// <param name="dataSpec">The data specification.</param>
    /// <param name="outPath">The .npy path of the embeddings.</param>
    /// <param name="shape">The embeddings' shape.</param>
    /// <param name="device">The device the model runs on: auto, cpu, cuda or cuda:N (the files are the same).</param>
    /// <returns>The full paths written.</returns>
    public static string[] EmbedToFiles(string modelDirectory, string dataSpec, string outPath, out long[] shape, string device = DeviceOption.Default)
    {
        var on = Devices.Resolve(device);
        var (model, manifest) = Checkpoint.LoadModel(modelDirectory);
        model.to(on);
        var data = Standardised(SequenceSources.Load(dataSpec), manifest, "data", modelDirectory);
        using var e = model.EmbedAll(data, device: on);
        var stem = outPath.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) ? outPath[..^4] : outPath;
        var written = new List<string> { outPath };
        switch (e.Representation)
        {
            case Representation.Vectors: Npy.WriteTensor(outPath, e.Values); shape = e.Values.shape; break;
            case Representation.Quantiles:
                Npy.WriteTensor(outPath, e.Values);
                Npy.WriteTensor(stem + ".levels.npy", e.Levels);
                written.Add(stem + ".levels.npy");
                shape = e.Values.shape;
                break;
            case Representation.Distributions:
                Npy.WriteTensor(outPath, e.Points);
                using (var mask = e.Mask().to_type(torch.ScalarType.Float32)) Npy.WriteTensor(stem + ".mask.npy", mask);
                written.Add(stem + ".mask.npy");
                shape = e.Points.shape;
                break;
            default: throw new InvalidOperationException("unknown representation");
        }
        NpyInt64.Write(stem + ".labels.npy", data.Labels.Select(l => (long)l).ToArray());
        AtomicFile.WriteAllText(stem + ".ids.txt", string.Join("\n", data.Ids) + "\n");
        written.Add(stem + ".labels.npy");
        written.Add(stem + ".ids.txt");
        return written.Select(Path.GetFullPath).ToArray();
    }

    /// <summary>Evaluates a model directory on query (and gallery) data.</summary>
    /// <param name="modelDirectory">The model directory.</param>
    /// <param name="querySpec">The queries.</param>
    /// <param name="gallerySpec">The gallery, or null for query = gallery (self excluded).</param>
    /// <param name="device">The device the model runs on: auto, cpu, cuda or cuda:N.</param>
    /// <returns>precision_at_1, r_precision, map_at_r, recall_at_k, auc, eer and counts.</returns>
    public static Dictionary<string, object> EvaluateModel(string modelDirectory, string querySpec, string? gallerySpec, string device = DeviceOption.Default)
    {
        var on = Devices.Resolve(device);
        var (model, manifest) = Checkpoint.LoadModel(modelDirectory);
        model.to(on);
        var queries = Standardised(SequenceSources.Load(querySpec), manifest, "query", modelDirectory);
        if (queries.Classes.Length < 2)
            throw new ArgumentException(
                $"--query {querySpec} holds {queries.Classes.Length} class; retrieval metrics need at least 2 (with one class every neighbour is relevant and MAP@R is 1 whatever the model).",
                "query");
        if (manifest.DistanceIsCustom)
            throw new ArgumentException(
                $"--model {modelDirectory} was trained under your own distance '{manifest.Distance}', which the command line cannot re-create; write its embeddings with `distembed embed` and score them with `distembed evaluate --embeddings … --distance NAME`, or evaluate it from C# with that distance.",
                "model");
        var distance = Distance.Create(manifest.Distance, manifest.Trainer.EffectiveDistanceSettings());
        var qy = queries.Labels.Select(l => (long)l).ToArray();
        using var eq = model.EmbedAll(queries, device: on);
        Evaluation.EvaluationReport report;
        if (gallerySpec is null) report = Evaluation.EmbeddingEvaluation.Evaluate(eq, qy, distance);   // leave-one-out
        else
        {
            var gallery = Standardised(SequenceSources.Load(gallerySpec), manifest, "gallery", modelDirectory);
            using var eg = model.EmbedAll(gallery, device: on);
            report = Evaluation.EmbeddingEvaluation.Evaluate(eq, qy, eg, gallery.Labels.Select(l => (long)l).ToArray(), distance);
        }
        return new Dictionary<string, object>
        {
            ["precision_at_1"] = report.PrecisionAt1,
            ["r_precision"] = report.RPrecision,
            ["map_at_r"] = report.MapAtR,
            ["recall_at_k"] = report.RecallAtK.ToDictionary(p => p.Key.ToString(CultureInfo.InvariantCulture), p => p.Value),
            ["auc"] = report.RocAuc,
            ["eer"] = report.EqualErrorRate,
            ["queries"] = report.EvaluatedQueries,
            ["distance"] = report.Distance,
        };
    }

    /// <summary>The manifest's standardiser, or null; a JSON that is not one is an error naming the manifest.</summary>
    private static Standardizer? StandardizerOf(CheckpointManifest manifest, string directory)
    {
        if (manifest.Standardizer is null) return null;
        try
        {
            return Standardizer.FromJson(manifest.Standardizer);
        }
        catch (ArgumentException e)
        {
            var detail = e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
            throw new InvalidDataException($"manifest {Path.Combine(directory, Checkpoint.ManifestFile)}: standardizer: {detail}", e);
        }
    }

    private static SequenceDataset Standardised(SequenceDataset data, CheckpointManifest manifest, string argument, string directory)
    {
        if (data.Channels != manifest.Model.InputChannels)
            throw new ArgumentException($"--{argument} has {data.Channels} channels but the model expects {manifest.Model.InputChannels}.", argument);
        return StandardizerOf(manifest, directory) is { } standardizer ? standardizer.Apply(data) : data;
    }

    /// <summary>The training part and the validation part (a file, or held-out training classes).</summary>
    private static (SequenceDataset Train, SequenceDataset? Valid) HoldOut(SequenceDataset raw, string? validSpec, int seed)
    {
        if (validSpec is not null) return (raw, SequenceSources.Load(validSpec));
        var classes = raw.Classes;
        if (classes.Length < 4) return (raw, null);
        var rng = new SplitMix64((ulong)seed);
        var shuffled = classes.OrderBy(_ => rng.NextUInt64()).ToArray();
        var held = new HashSet<int>(shuffled.Take(Math.Max(2, (int)Math.Round(0.2 * classes.Length))));
        var trainIdx = Enumerable.Range(0, raw.Count).Where(i => !held.Contains(raw.Labels[i])).ToArray();
        var validIdx = Enumerable.Range(0, raw.Count).Where(i => held.Contains(raw.Labels[i])).ToArray();
        return (raw.Subset(trainIdx), raw.Subset(validIdx));
    }

    private static (SequenceDataset Train, SequenceDataset? Valid) Prepare(SequenceDataset raw, string? validSpec, Standardizer standardizer, long seed)
    {
        var (train, valid) = HoldOut(raw, validSpec, (int)seed);
        return (standardizer.Apply(train), valid is null ? null : standardizer.Apply(valid));
    }

    private static T WithProgress<T>(bool quiet, int epochs, Func<IProgress<TrainingProgress>?, T> run)
    {
        if (quiet || Console.IsOutputRedirected)
        {
            if (quiet) return run(null);
            return run(new Sink(p =>
            {
                if (p.EpochResult is { } e)
                    Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "epoch {0}/{1}  loss {2:F4}  valid MAP@R {3:F4}", e.Epoch, p.Epochs, e.TrainLoss, e.ValidMapAtR ?? double.NaN)
                        + (p.UnconvergedSinkhornSolves > 0
                            ? string.Format(CultureInfo.InvariantCulture, "  sinkhorn unconverged {0}/{1} (max marginal error {2:G3})", p.UnconvergedSinkhornSolves, p.SinkhornSolves, p.MaxSinkhornMarginalError)
                            : ""));
            }));
        }
        T result = default!;
        AnsiConsole.Progress().AutoClear(false).Start(ctx =>
        {
            var bar = ctx.AddTask("training", maxValue: epochs);
            result = run(new Sink(p =>
            {
                bar.Value = p.Epoch - 1 + (double)p.Step / p.StepsPerEpoch;
                bar.Description = p.EpochResult is { } e
                    ? string.Format(CultureInfo.InvariantCulture, "epoch {0}/{1} valid MAP@R {2:F3}", e.Epoch, p.Epochs, e.ValidMapAtR ?? double.NaN)
                    : string.Format(CultureInfo.InvariantCulture, "epoch {0}/{1} loss {2:F3}", p.Epoch, p.Epochs, p.Loss);
            }));
            bar.Value = epochs;
        });
        return result;
    }

    private sealed class Sink(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}

/// <summary>Writes int64 vectors as NumPy .npy files (the facade's <c>Npy</c> writes floating arrays).</summary>
internal static class NpyInt64
{
    public static void Write(string path, long[] values)
    {
        var header = $"{{'descr': '<i8', 'fortran_order': False, 'shape': ({values.Length},), }}";
        var total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        AtomicFile.Write(path, stream =>
        {
            using var w = new BinaryWriter(stream, Encoding.ASCII, leaveOpen: true);
            w.Write((byte)0x93);
            w.Write(Encoding.ASCII.GetBytes("NUMPY"));
            w.Write((byte)1);
            w.Write((byte)0);
            w.Write((ushort)header.Length);
            w.Write(Encoding.ASCII.GetBytes(header));
            foreach (var v in values) w.Write(v);
        });
    }
}
