using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Training;

/// <summary>The architecture of a <see cref="Bregman.BregmanModel"/>, as stored in a deep-Bregman checkpoint's manifest.
/// Every default is the F# core's (<c>DeepBregmanOptions</c> and its <c>GeneratorOptions</c>), read from there, not repeated.</summary>
public sealed record DeepBregmanArchitecture
{
    /// <summary>The core's defaults (the one place they are written).</summary>
    private static readonly DeepBregmanOptions D = new();
    private static readonly GeneratorOptions G = D.Generator ?? new GeneratorOptions();

    /// <summary>The input dimension (≥ 1).</summary>
    public int InputDimension { get; init; }
    /// <summary>The divergence: quadratic, max-affine, smooth-max-affine, icnn, euclidean or cosine.</summary>
    public string Divergence { get; init; } = D.Divergence;
    /// <summary>The backbone's hidden width.</summary>
    public int Hidden { get; init; } = D.Hidden;
    /// <summary>The embedding dimension d.</summary>
    public int EmbeddingDimension { get; init; } = D.EmbeddingDimension;
    /// <summary>Unit-norm embeddings.</summary>
    public bool Normalize { get; init; } = D.Normalize;
    /// <summary>The generator's rank (quadratic; 0 = d).</summary>
    public int GeneratorRank { get; init; } = G.Rank;
    /// <summary>The generator's pieces (max-affine, smooth-max-affine).</summary>
    public int GeneratorPieces { get; init; } = G.Pieces;
    /// <summary>The generator's temperature (smooth-max-affine).</summary>
    public double GeneratorTemperature { get; init; } = G.Temperature;
    /// <summary>The generator's hidden widths (icnn).</summary>
    public int[] GeneratorHidden { get; init; } = [.. G.Hidden];
    /// <summary>The generator's strength ε of ½ε‖x‖² (max-affine, icnn).</summary>
    public double GeneratorStrength { get; init; } = G.Strength;
    /// <summary>The initialisation seed.</summary>
    public int Seed { get; init; } = D.Seed;

    /// <summary>The architecture of a model.</summary>
    /// <param name="model">The model.</param>
    /// <returns>Its architecture.</returns>
    public static DeepBregmanArchitecture Of(Bregman.BregmanModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Of(model.Core);
    }

    internal static DeepBregmanArchitecture Of(DeepBregmanModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var o = model.Options;
        var g = o.Generator ?? new GeneratorOptions();
        return new DeepBregmanArchitecture
        {
            InputDimension = model.InputDimension, Divergence = model.Kind, Hidden = o.Hidden, EmbeddingDimension = o.EmbeddingDimension,
            Normalize = o.Normalize, GeneratorRank = g.Rank, GeneratorPieces = g.Pieces, GeneratorTemperature = g.Temperature,
            GeneratorHidden = [.. g.Hidden ?? []], GeneratorStrength = g.Strength, Seed = o.Seed,
        };
    }

    /// <summary>A new model of this architecture (its initial weights are those of <see cref="Seed"/>).</summary>
    /// <param name="device">The device, or null for the CPU.</param>
    /// <returns>The model.</returns>
    /// <exception cref="ArgumentException">An invalid architecture (the message names the member).</exception>
    public Bregman.BregmanModel CreateModel(Device? device = null) => new(CreateCoreModel(device));

    internal DeepBregmanModel CreateCoreModel(Device? device = null) => new(InputDimension, new DeepBregmanOptions
    {
        Divergence = Divergence, Hidden = Hidden, EmbeddingDimension = EmbeddingDimension, Normalize = Normalize, Seed = Seed,
        Generator = new GeneratorOptions
        {
            Rank = GeneratorRank, Pieces = GeneratorPieces, Temperature = GeneratorTemperature, Hidden = [.. GeneratorHidden ?? []], Strength = GeneratorStrength,
        },
    }, device ?? CPU);

    /// <summary>
    /// Checks every member but <see cref="InputDimension"/> (the data's width, checked by <see cref="CreateModel"/>): a
    /// known <see cref="Divergence"/> (a kind of <see cref="DistEmbed.Bregman.ConvexGenerator.Kinds"/>, euclidean or
    /// cosine); <see cref="Hidden"/>, <see cref="EmbeddingDimension"/>, <see cref="GeneratorPieces"/> and every width of
    /// <see cref="GeneratorHidden"/> (at least one layer, at most <see cref="Checkpoint.MaxLayers"/>) in
    /// [1, <see cref="Checkpoint.MaxWidth"/>]; <see cref="GeneratorRank"/> in [0, <see cref="Checkpoint.MaxWidth"/>];
    /// <see cref="GeneratorTemperature"/> finite and &gt; 0; <see cref="GeneratorStrength"/> finite and ≥ 0. These are the
    /// core model's ranges, bounded by what a checkpoint's manifest may hold. Every generator setting is checked whatever
    /// the divergence, as <see cref="LossSettings.Validate"/> checks every loss's settings.
    /// </summary>
    /// <exception cref="ArgumentException">A value out of range or an unknown divergence; the parameter name is the
    /// member's (<c>Hidden</c>, <c>GeneratorTemperature</c>, …) and the message starts with it.</exception>
    public void Validate()
    {
        var kinds = DistEmbed.Bregman.ConvexGenerator.Kinds.Concat(["euclidean", "cosine"]).ToArray();
        if (Divergence is null || !kinds.Contains(Divergence.Trim().ToLowerInvariant()))
            throw new ArgumentException($"{nameof(Divergence)} = '{Divergence}'; it must be one of: {string.Join(", ", kinds)}.", nameof(Divergence));
        Require.Between(nameof(Hidden), Hidden, 1, Checkpoint.MaxWidth);
        Require.Between(nameof(EmbeddingDimension), EmbeddingDimension, 1, Checkpoint.MaxWidth);
        Require.Between(nameof(GeneratorRank), GeneratorRank, 0, Checkpoint.MaxWidth);
        Require.Between(nameof(GeneratorPieces), GeneratorPieces, 1, Checkpoint.MaxWidth);
        Require.Positive(nameof(GeneratorTemperature), GeneratorTemperature);
        if (GeneratorHidden is null || GeneratorHidden.Length == 0 || GeneratorHidden.Length > Checkpoint.MaxLayers)
            throw new ArgumentException(
                $"{nameof(GeneratorHidden)} = [{string.Join(", ", GeneratorHidden ?? [])}]; it must give 1 to {Checkpoint.MaxLayers} layer widths.", nameof(GeneratorHidden));
        foreach (var width in GeneratorHidden)
            if (width < 1 || width > Checkpoint.MaxWidth)
                throw new ArgumentException(
                    $"{nameof(GeneratorHidden)} = [{string.Join(", ", GeneratorHidden)}]; every width must lie in [1, {Checkpoint.MaxWidth}].", nameof(GeneratorHidden));
        Require.NonNegative(nameof(GeneratorStrength), GeneratorStrength);
    }

    /// <summary>Checks the sizes a manifest may give before a model is built.</summary>
    internal void Validate(Func<string, InvalidDataException> bad)
    {
        foreach (var (name, value) in new[] { ("inputDimension", InputDimension), ("hidden", Hidden), ("embeddingDimension", EmbeddingDimension), ("generatorPieces", GeneratorPieces), ("generatorRank", GeneratorRank) })
            if (value < (name == "generatorRank" ? 0 : 1) || value > Checkpoint.MaxWidth)
                throw bad($"model.{name} = {value} is outside [{(name == "generatorRank" ? 0 : 1)}, {Checkpoint.MaxWidth}].");
        if (GeneratorHidden is null) throw bad("\"model.generatorHidden\" is missing or null.");
        if (GeneratorHidden.Length > Checkpoint.MaxLayers || GeneratorHidden.Any(h => h < 1 || h > Checkpoint.MaxWidth))
            throw bad($"model.generatorHidden [{string.Join(", ", GeneratorHidden)}] has a width outside [1, {Checkpoint.MaxWidth}] or more than {Checkpoint.MaxLayers} layers.");
        if (Divergence is null) throw bad("\"model.divergence\" is missing or null.");
        double parameters = (double)InputDimension * Hidden + (double)Hidden * EmbeddingDimension;
        if (parameters > Checkpoint.MaxParameters)
            throw bad($"the backbone it describes has about {parameters:E2} parameters; at most {Checkpoint.MaxParameters} are loaded.");
    }
}

/// <summary>The <c>manifest.json</c> of a deep-Bregman checkpoint folder (kind <c>deep-bregman</c>).</summary>
public sealed class DeepBregmanManifest
{
    /// <summary>The manifest format version this library writes and reads.</summary>
    public const int CurrentFormat = 2;
    /// <summary>The manifest format version (<see cref="CurrentFormat"/>; the earlier layout, <c>model.pt</c> with the
    /// string format <c>distembed-checkpoint/1</c>, is refused with a message naming the file).</summary>
    public int Format { get; set; } = CurrentFormat;
    /// <summary>The checkpoint kind (<see cref="CheckpointKind.DeepBregman"/>).</summary>
    public string Kind { get; set; } = CheckpointKind.DeepBregman.Name;
    /// <summary>The version of the DistEmbed library that wrote it.</summary>
    public string LibraryVersion { get; set; } = typeof(DeepBregmanManifest).Assembly.GetName().Version?.ToString() ?? "0";
    /// <summary>The model's architecture.</summary>
    public DeepBregmanArchitecture Model { get; set; } = new();
    /// <summary>The model's parameters as <c>name[shape]</c>, in order.</summary>
    public List<string> Parameters { get; set; } = [];
    /// <summary>The trainer options (<see cref="MetricLearningOptions.Distance"/> null: the distance is the model's divergence).</summary>
    public MetricLearningOptions Trainer { get; set; } = new();
    /// <summary>The name of the model's divergence.</summary>
    public string Distance { get; set; } = "";
    /// <summary>Epoch, step, RNG state, best epoch and metrics per epoch.</summary>
    public TrainingState State { get; set; } = new();
    /// <summary>The fingerprint of the training data (checked on resume).</summary>
    public LabelledDataFingerprint TrainData { get; set; } = new();
    /// <summary>The fingerprint of the validation data, or null without validation data.</summary>
    public LabelledDataFingerprint? ValidData { get; set; }
}

/// <summary>
/// Trains a <see cref="DeepBregmanModel"/> (backbone and learned convex generator end to end, Cilingir, Manzelli and
/// Kulis, "Deep Divergence Learning", ICML 2020, §3–4) through the one metric-learning loop of
/// <see cref="MetricLearningTrainer"/>: M-per-class batches, the options' miner and loss under the model's own Bregman
/// divergence, AdamW with warm-up and cosine decay, gradient clipping, validation MAP@R and early stopping,
/// <see cref="IProgress{T}"/>, cancellation, and atomic resumable checkpoints.
/// </summary>
/// <remarks>
/// Checkpoint folder (kind <see cref="CheckpointKind.DeepBregman"/>): <c>manifest.json</c> (<see cref="DeepBregmanManifest"/>),
/// <c>model.dat</c> (the model's TorchSharp state dict, loadable with <c>DeepBregmanModel.load</c>), <c>best.dat</c>
/// (with validation data) and <c>optimizer.dat</c>, written at every epoch end. <see cref="MetricLearningOptions.Distance"/>
/// must stay null: the distance is the model's divergence, whose generator is trained with the backbone. On the CPU a run
/// resumed from a checkpoint ends bit-identically to the uninterrupted run.
/// </remarks>
public static class DeepBregmanTrainer
{
    /// <summary>The defaults of the deep Bregman trainer and <c>distembed train bregman</c>: those of the core's deep Bregman
    /// options (3 epochs, P = 5 classes × M = 16 items, learning rate 1e-3, weight decay 1e-4, the triplet margin and the
    /// default miner), read from there; every other setting is <see cref="MetricLearningOptions"/>'s default.</summary>
    public static MetricLearningOptions DefaultOptions { get; } = FromCore(new DeepBregmanOptions());

    private static MetricLearningOptions FromCore(DeepBregmanOptions d) => new()
    {
        Epochs = d.Epochs, ClassesPerBatch = d.ClassesPerBatch, ItemsPerClass = d.ItemsPerClass, LearningRate = d.LearningRate,
        WeightDecay = d.WeightDecay, Margin = d.Margin, Miner = d.Miner, Seed = d.Seed,
    };

    /// <summary>Trains <paramref name="model"/> from its current weights.</summary>
    /// <param name="model">The model (moved to the options' device).</param>
    /// <param name="train">Training data: [N, InputDimension] float inputs and labels, with at least <c>ClassesPerBatch</c> classes.</param>
    /// <param name="valid">Validation data (held-out classes, ≥ 2 classes), or null.</param>
    /// <param name="options">Options, <see cref="MetricLearningOptions.Distance"/> null; null for <see cref="DefaultOptions"/>.</param>
    /// <param name="checkpointDirectory">The checkpoint folder (absent, empty, or with <paramref name="overwrite"/> a deep-Bregman checkpoint), or null.</param>
    /// <param name="progress">Progress sink (after each step and each epoch), or null.</param>
    /// <param name="cancellationToken">Checked before every step; cancelling throws <see cref="OperationCanceledException"/> and the last checkpoint stays valid.</param>
    /// <param name="overwrite">Replace a deep-Bregman checkpoint already in the folder.</param>
    /// <returns>The history; the model holds the best epoch's weights (the last epoch's without validation), in evaluation mode.</returns>
    /// <exception cref="ArgumentException">Invalid options (named), a distance name given, inputs of another width than the
    /// model's (names train or valid), too few classes, or a refused checkpoint folder.</exception>
    public static TrainingResult Train(Bregman.BregmanModel model, LabelledData train, LabelledData? valid, MetricLearningOptions? options = null,
        string? checkpointDirectory = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        return TrainCore(model.Core, train, valid, options, checkpointDirectory, progress, cancellationToken, overwrite);
    }

    internal static TrainingResult TrainCore(DeepBregmanModel model, LabelledData train, LabelledData? valid, MetricLearningOptions? options,
        string? checkpointDirectory, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken, bool overwrite)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= DefaultOptions;
        Check(model, train, valid, options);
        var run = Run(model, train, valid, options, checkpointDirectory, new TrainingState { RngState = unchecked((ulong)options.Seed) });
        if (checkpointDirectory is not null)
            CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.DeepBregman, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                null, nameof(checkpointDirectory));
        return run.Execute(progress, cancellationToken);
    }

    /// <summary>Checks trainer options for <see cref="Train"/> without training: every check of
    /// <see cref="MetricLearningOptions.Validate"/> but the distance, which must stay null (the model's divergence).</summary>
    /// <param name="options">The options.</param>
    /// <exception cref="ArgumentException">A distance name given, an unknown loss or miner, or a value out of range (the
    /// parameter name is the field's: <c>Margin</c>, <c>LossSettings.CircleGamma</c>, …).</exception>
    public static void Validate(MetricLearningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Distance is not null)
            throw new ArgumentException($"Distance = '{options.Distance}', but the deep Bregman trainer uses the model's divergence; leave Distance null.", nameof(options.Distance));
        options.ValidateExceptDistancePresence();
    }

    /// <summary>Resumes the run whose last checkpoint is in <paramref name="checkpointDirectory"/>: the model is rebuilt
    /// from the manifest, its weights and the optimiser state are restored, and the remaining epochs run.</summary>
    /// <param name="checkpointDirectory">A folder written by <see cref="Train"/>.</param>
    /// <param name="train">The same training data.</param>
    /// <param name="valid">The same validation data, or null when the run had none.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">As for <see cref="Train"/>.</param>
    /// <param name="epochs">The total number of epochs to reach, or null for the checkpoint's.</param>
    /// <returns>The model (best weights, evaluation mode; the caller disposes it) and the full history.</returns>
    /// <exception cref="DirectoryNotFoundException">No checkpoint in the folder.</exception>
    /// <exception cref="FileNotFoundException">A checkpoint file is missing (named).</exception>
    /// <exception cref="InvalidDataException">An invalid or earlier-layout manifest, or a truncated or corrupt file (named).</exception>
    /// <exception cref="ArgumentException">Other data than the checkpoint's (the message says what differs), or too few epochs.</exception>
    public static (Bregman.BregmanModel Model, TrainingResult Result) Resume(string checkpointDirectory, LabelledData train, LabelledData? valid,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, int? epochs = null)
    {
        var (model, result) = ResumeCore(checkpointDirectory, train, valid, progress, cancellationToken, epochs);
        return (new Bregman.BregmanModel(model), result);
    }

    internal static (DeepBregmanModel Model, TrainingResult Result) ResumeCore(string checkpointDirectory, LabelledData train, LabelledData? valid,
        IProgress<TrainingProgress>? progress, CancellationToken cancellationToken, int? epochs)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.DeepBregman, CheckpointMode.Resume, null, nameof(checkpointDirectory));
        var manifest = ReadManifest(checkpointDirectory);
        TrainingCheckpoint.CheckSame(nameof(train), train.Fingerprint(), manifest.TrainData);
        TrainingCheckpoint.CheckSameValidation(valid, manifest.ValidData);
        var options = TrainingCheckpoint.WithEpochs(manifest.Trainer, manifest.State, epochs);
        var model = manifest.Model.CreateCoreModel(Devices.Resolve(options.Device, nameof(MetricLearningOptions.Device)));
        try
        {
            MetricLearningTrainer.CheckSignature(model, manifest.Parameters);
            Check(model, train, valid, options);
            var run = Run(model, train, valid, options, checkpointDirectory, manifest.State);
            run.LoadFrom(checkpointDirectory);
            return (model, run.Execute(progress, cancellationToken));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Loads a trained model from a checkpoint folder: the architecture from the manifest, the best weights
    /// (<c>best.dat</c>, else <c>model.dat</c>), in evaluation mode.</summary>
    /// <param name="checkpointDirectory">A folder written by <see cref="Train"/> or <c>distembed train bregman --out</c>.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The model (the caller disposes it).</returns>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="FileNotFoundException">No manifest or weights (named).</exception>
    /// <exception cref="InvalidDataException">An invalid or earlier-layout manifest, or a truncated or corrupt weights file (named).</exception>
    public static Bregman.BregmanModel Load(string checkpointDirectory, string device = Devices.Default) => new(LoadCore(checkpointDirectory, device));

    internal static DeepBregmanModel LoadCore(string checkpointDirectory, string device)
    {
        Devices.Check(device, nameof(device));
        var manifest = ReadManifest(checkpointDirectory);
        var model = manifest.Model.CreateCoreModel(Devices.Resolve(device));
        try
        {
            if (!MetricLearningTrainer.Signature(model).SequenceEqual(manifest.Parameters))
                throw new InvalidDataException($"manifest {Path.Combine(checkpointDirectory, CheckpointFolder.ManifestFile)}: \"parameters\" do not match the model its \"model\" describes.");
            TrainingCheckpoint.LoadFinalWeights(model, checkpointDirectory);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Reads and validates a deep-Bregman checkpoint's manifest.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="FileNotFoundException">No manifest in it.</exception>
    /// <exception cref="InvalidDataException">An unreadable manifest, one of the earlier layout (<c>model.pt</c>), or one
    /// with a missing or out-of-range member (the one-line message names the file).</exception>
    public static DeepBregmanManifest ReadManifest(string directory)
    {
        var (manifest, path) = TrainingCheckpoint.ReadManifest<DeepBregmanManifest>(directory, OlderLayout);
        InvalidDataException Bad(string what) => new($"manifest {path}: {what}");
        TrainingCheckpoint.ValidateRun(Bad, manifest.Format, DeepBregmanManifest.CurrentFormat, manifest.Kind, CheckpointKind.DeepBregman,
            manifest.Trainer, manifest.State, manifest.Parameters, manifest.TrainData, distanceRequired: false);
        if (manifest.Trainer.Distance is not null) throw Bad($"trainer.distance is '{manifest.Trainer.Distance}'; a deep-Bregman run uses the model's divergence (null).");
        if (manifest.Model is null) throw Bad("\"model\" is missing or null.");
        manifest.Model.Validate(Bad);
        return manifest;
    }

    /// <summary>The message for a manifest of the earlier deep-Bregman layout (string format, <c>model.pt</c>), else null.</summary>
    private static string? OlderLayout(JsonNode? node, string path) =>
        node is JsonObject o && o["format"] is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? $"manifest {path} is a deep-Bregman checkpoint of the earlier layout (format '{(string?)v}', weights in model.pt) and holds no optimiser state; this version reads format {DeepBregmanManifest.CurrentFormat}: train it again with `distembed train bregman --out` (the weights in model.pt still load with DeepBregmanModel.load)."
            : null;

    private static void Check(DeepBregmanModel model, LabelledData train, LabelledData? valid, MetricLearningOptions options)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Distance is not null)
            throw new ArgumentException($"Distance = '{options.Distance}', but the deep Bregman trainer uses the model's divergence ({model.Distance.Name}); leave Distance null.", nameof(options.Distance));
        options.ValidateExceptDistancePresence();
        foreach (var (name, data) in new[] { (nameof(train), train), (nameof(valid), valid) })
            if (data is not null && (data.Inputs.dim() != 2 || data.Inputs.shape[1] != model.InputDimension))
                throw new ArgumentException($"{name} has inputs of shape [{string.Join(", ", data.Inputs.shape)}]; the model takes [N, {model.InputDimension}].", name);
    }

    private static MetricLearningTrainer.ModuleRun Run(DeepBregmanModel model, LabelledData train, LabelledData? valid, MetricLearningOptions options,
        string? directory, TrainingState state)
    {
        var trainPrint = directory is null ? null : train.Fingerprint();
        var validPrint = directory is null ? null : valid?.Fingerprint();
        var architecture = DeepBregmanArchitecture.Of(model);
        // Inputs are cast to the model's float32 (LabelledData may hold float64).
        return new MetricLearningTrainer.ModuleRun(model, x => VectorBatch.FromTensor(model.forward(x.to_type(ScalarType.Float32))), train, valid, options,
            model.Distance, directory, state, CheckpointKind.DeepBregman,
            s => JsonSerializer.Serialize(new DeepBregmanManifest
            {
                Model = architecture,
                Parameters = MetricLearningTrainer.Signature(model),
                Trainer = options,
                Distance = model.Distance.Name,
                State = s,
                TrainData = trainPrint!,
                ValidData = validPrint,
            }, Checkpoint.Json));
    }
}
