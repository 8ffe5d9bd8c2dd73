using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Sequences;

/// <summary>The resumable state of a training run (part of <see cref="CheckpointManifest"/>).</summary>
public sealed class TrainingState
{
    /// <summary>Finished epochs (the next epoch to run, from 0).</summary>
    public int Epoch { get; set; }
    /// <summary>Steps done in the current epoch (0 at an epoch boundary).</summary>
    public int StepInEpoch { get; set; }
    /// <summary>Optimiser steps taken in total.</summary>
    public long GlobalStep { get; set; }
    /// <summary>The <see cref="SplitMix64"/> state after drawing the current epoch's seed.</summary>
    public ulong RngState { get; set; }
    /// <summary>The current epoch's sampler seed.</summary>
    public int EpochSeed { get; set; }
    /// <summary>The sum of the current epoch's step losses so far.</summary>
    public double LossSum { get; set; }
    /// <summary>The learning rate of the last step.</summary>
    public double LastLearningRate { get; set; }
    /// <summary>The best validation MAP@R so far, or null.</summary>
    public double? BestMapAtR { get; set; }
    /// <summary>The epoch of <see cref="BestMapAtR"/> (from 1), or the last epoch without validation.</summary>
    public int BestEpoch { get; set; }
    /// <summary>Epochs since the last improvement.</summary>
    public int EpochsWithoutImprovement { get; set; }
    /// <summary>True once early stopping has triggered.</summary>
    public bool Stopped { get; set; }
    /// <summary>Sinkhorn solves run so far (training steps and validation; 0 for other distances).</summary>
    public long SinkhornSolves { get; set; }
    /// <summary>Of those, the solves that stopped at the iteration cap above the tolerance (their values are unconverged).</summary>
    public long UnconvergedSinkhornSolves { get; set; }
    /// <summary>The largest final L1 marginal error of any Sinkhorn solve so far.</summary>
    public double MaxSinkhornMarginalError { get; set; }
    /// <summary>The metrics of every finished epoch.</summary>
    public List<EpochMetrics> History { get; set; } = [];

    /// <summary>A deep copy.</summary>
    /// <returns>The copy.</returns>
    public TrainingState Clone()
    {
        var copy = (TrainingState)MemberwiseClone();
        copy.History = [.. History];
        return copy;
    }
}

/// <summary>The <c>manifest.json</c> of a model / checkpoint directory.</summary>
public sealed class CheckpointManifest
{
    /// <summary>The manifest format version this library writes and reads.</summary>
    public const int CurrentFormat = 1;
    /// <summary>The manifest format version (<see cref="CurrentFormat"/>).</summary>
    public int Format { get; set; } = CurrentFormat;
    /// <summary>The checkpoint kind (<c>sequence-embedder</c>, see <see cref="CheckpointKind"/>).</summary>
    public string Kind { get; set; } = CheckpointKind.SequenceEmbedder.Name;
    /// <summary>The version of the DistEmbed library that wrote it.</summary>
    public string LibraryVersion { get; set; } = typeof(CheckpointManifest).Assembly.GetName().Version?.ToString() ?? "0";
    /// <summary>The model kind and hyper-parameters.</summary>
    public EmbedderOptions Model { get; set; } = new();
    /// <summary>The trainer options.</summary>
    public TrainerOptions Trainer { get; set; } = new();
    /// <summary>The resolved distance name.</summary>
    public string Distance { get; set; } = "";
    /// <summary>True when the run was trained under your own distance (<see cref="Distance"/> is its name, not a catalog
    /// name, and <c>trainer.distance</c> is null): a resumed run must be given that distance again
    /// (<c>SequenceTrainer.Resume(checkpointDirectory, distance, …)</c>). False (the default) for a catalog distance.</summary>
    public bool DistanceIsCustom { get; set; }
    /// <summary>The JSON of the input standardiser, or null.</summary>
    public string? Standardizer { get; set; }
    /// <summary>Epoch, step, RNG state, best epoch and metrics per epoch.</summary>
    public TrainingState State { get; set; } = new();
    /// <summary>The fingerprint of the training data (checked on resume), or null in a manifest written before it existed.</summary>
    public DatasetFingerprint? TrainData { get; set; }
    /// <summary>The fingerprint of the validation data, or null without validation data or in an older manifest.</summary>
    public DatasetFingerprint? ValidData { get; set; }
}

/// <summary>
/// A fingerprint of a sequence data set: its size, classes and a SHA-256 of its content. A checkpoint stores the
/// fingerprints of its training and validation data so that a resumed run refuses other data.
/// </summary>
public sealed record DatasetFingerprint
{
    /// <summary>Number of sequences.</summary>
    public int Count { get; init; }
    /// <summary>Channels per step.</summary>
    public int Channels { get; init; }
    /// <summary>Number of distinct classes.</summary>
    public int Classes { get; init; }
    /// <summary>Total number of steps over all sequences.</summary>
    public long Steps { get; init; }
    /// <summary>SHA-256 (hex) of the ascending class list.</summary>
    public string ClassListSha256 { get; init; } = "";
    /// <summary>SHA-256 (hex) of the labels, lengths and values (float32 bits), in order.</summary>
    public string ContentSha256 { get; init; } = "";

    /// <summary>The fingerprint of a data set.</summary>
    /// <param name="data">The data set.</param>
    /// <returns>Its fingerprint.</returns>
    public static DatasetFingerprint Of(SequenceDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var classes = data.Classes;
        using var content = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> word = stackalloc byte[8];
        long steps = 0;
        for (var i = 0; i < data.Count; i++)
        {
            var s = data.Sequences[i];
            BitConverter.TryWriteBytes(word, data.Labels[i]);
            content.AppendData(word[..4]);
            BitConverter.TryWriteBytes(word, s.GetLength(0));
            content.AppendData(word[..4]);
            steps += s.GetLength(0);
            var bytes = new byte[s.Length * sizeof(float)];
            Buffer.BlockCopy(s, 0, bytes, 0, bytes.Length);
            content.AppendData(bytes);
        }
        var classBytes = new byte[classes.Length * sizeof(int)];
        Buffer.BlockCopy(classes, 0, classBytes, 0, classBytes.Length);
        return new DatasetFingerprint
        {
            Count = data.Count, Channels = data.Channels, Classes = classes.Length, Steps = steps,
            ClassListSha256 = Convert.ToHexStringLower(SHA256.HashData(classBytes)),
            ContentSha256 = Convert.ToHexStringLower(content.GetHashAndReset()),
        };
    }

    /// <summary>What differs between this (the data now) and <paramref name="recorded"/> (the data of the checkpoint).</summary>
    /// <param name="recorded">The recorded fingerprint.</param>
    /// <returns>One phrase per difference (empty when the data are the same).</returns>
    public IReadOnlyList<string> Differences(DatasetFingerprint recorded)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        var d = new List<string>();
        if (Count != recorded.Count) d.Add($"{Count} sequences now, {recorded.Count} in the checkpoint");
        if (Channels != recorded.Channels) d.Add($"{Channels} channels now, {recorded.Channels} in the checkpoint");
        if (Classes != recorded.Classes) d.Add($"{Classes} classes now, {recorded.Classes} in the checkpoint");
        else if (ClassListSha256 != recorded.ClassListSha256) d.Add("other class labels than in the checkpoint");
        if (Steps != recorded.Steps) d.Add($"{Steps} steps in all now, {recorded.Steps} in the checkpoint");
        if (d.Count == 0 && ContentSha256 != recorded.ContentSha256) d.Add("the same sizes but other values or order (content hash differs)");
        return d;
    }
}

/// <summary>Writes and reads model / checkpoint directories (see <see cref="SequenceTrainer"/>).</summary>
/// <remarks>
/// Folders are written through <see cref="CheckpointFolder"/> (kind <see cref="CheckpointKind.SequenceEmbedder"/>):
/// every file flushed, the manifest last, the complete folder swapped into place atomically. Reading validates the
/// manifest (format version, non-null fields, sizes bounded by <see cref="MaxWidth"/>, <see cref="MaxLayers"/> and
/// <see cref="MaxParameters"/> before anything is allocated) and names a truncated or corrupt weights file.
/// </remarks>
public static class Checkpoint
{
    /// <summary>The manifest file name.</summary>
    public const string ManifestFile = "manifest.json";
    /// <summary>The current weights (TorchSharp state dict).</summary>
    public const string ModelFile = "model.dat";
    /// <summary>The best epoch's weights (TorchSharp state dict).</summary>
    public const string BestFile = "best.dat";
    /// <summary>The optimiser state.</summary>
    public const string OptimizerFile = "optimizer.dat";

    /// <summary>The largest width a manifest may give (input channels, hidden, features, quantiles, attention size).</summary>
    public const int MaxWidth = 1 << 16;
    /// <summary>The largest number of layers a manifest may give.</summary>
    public const int MaxLayers = 1024;
    /// <summary>The largest TCN kernel a manifest may give.</summary>
    public const int MaxKernelSize = 1025;
    /// <summary>The largest number of model parameters a manifest may describe (2^28, 1 GiB of float32).</summary>
    public const long MaxParameters = 1L << 28;
    /// <summary>The largest number of sliced-W2 projections a manifest may give.</summary>
    public const int MaxProjections = DistanceSettings.MaxProjections;
    /// <summary>The largest number of epochs a manifest may give.</summary>
    public const int MaxEpochs = 1_000_000;

    /// <summary>JSON options of the manifest (camelCase, indented, named floating-point literals allowed, nulls in
    /// non-nullable members rejected; the flat distance fields of earlier trainer options are read into their
    /// <c>DistanceSettings</c>).</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        RespectNullableAnnotations = true,
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver { Modifiers = { Training.LegacyTrainerFields.Modify } },
    };

    /// <summary>
    /// Writes a checkpoint directory durably and atomically through <see cref="CheckpointFolder.Write"/>: the weights,
    /// best weights and optimiser state, then the manifest, flushed into a temporary sibling that takes the target's place.
    /// </summary>
    /// <param name="directory">The target directory: absent, empty, or a sequence-embedder checkpoint (anything else is refused).</param>
    /// <param name="manifest">The manifest.</param>
    /// <param name="model">The model (its current weights).</param>
    /// <param name="optimizer">The optimiser, or null for a model-only directory.</param>
    /// <param name="bestWeights">The best weights (from <see cref="WeightsToBytes"/>), or null.</param>
    /// <exception cref="ArgumentException">The directory holds something other than a sequence-embedder checkpoint.</exception>
    public static void Write(string directory, CheckpointManifest manifest, SequenceEmbedder model, AdamW? optimizer, byte[]? bestWeights) =>
        WriteWithLossState(directory, manifest, model, optimizer, bestWeights, null);

    /// <summary>As the public overload, with the state file of a loss with parameters of its own (or null).</summary>
    internal static void WriteWithLossState(string directory, CheckpointManifest manifest, SequenceEmbedder model, AdamW? optimizer, byte[]? bestWeights, CheckpointFile? lossState)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(model);
        var files = Training.TrainingCheckpoint.Files(model, bestWeights, optimizer);
        if (lossState is not null) files.Add(lossState);
        CheckpointFolder.Write(directory, CheckpointKind.SequenceEmbedder, files, JsonSerializer.Serialize(manifest, Json), nameof(directory));
    }

    /// <summary>Reads and validates a directory's manifest.</summary>
    /// <param name="directory">A model / checkpoint directory.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="FileNotFoundException">No manifest.json in it.</exception>
    /// <exception cref="InvalidDataException">The manifest cannot be parsed, has another format version, a null or
    /// missing member, or a value out of range (the message names the file and the member).</exception>
    public static CheckpointManifest ReadManifest(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"model directory '{directory}' does not exist.");
        var path = Path.Combine(directory, ManifestFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{directory}' has no {ManifestFile}; it is not a DistEmbed model directory.", path);
        CheckpointManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<CheckpointManifest>(CheckpointFolder.ReadManifestText(path), Json)
                ?? throw new InvalidDataException($"manifest {path} is empty (null).");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"manifest {path} is not a valid manifest: {e.Message}", e);
        }
        Validate(manifest, path);
        return manifest;
    }

    /// <summary>Checks a manifest read from <paramref name="path"/> (see <see cref="ReadManifest"/>).</summary>
    /// <param name="manifest">The manifest.</param>
    /// <param name="path">Its file, for messages.</param>
    /// <exception cref="InvalidDataException">A problem (the message names the file and the member).</exception>
    public static void Validate(CheckpointManifest manifest, string path)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        InvalidDataException Bad(string what) => new($"manifest {path}: {what}");
        if (manifest.Format != CheckpointManifest.CurrentFormat)
            throw Bad($"format {manifest.Format} is not supported; this library reads format {CheckpointManifest.CurrentFormat}.");
        if (manifest.Kind != CheckpointKind.SequenceEmbedder.Name)
            throw Bad($"kind '{manifest.Kind}' is not a {CheckpointKind.SequenceEmbedder.Name} checkpoint.");
        if (manifest.Model is null) throw Bad("\"model\" is missing or null.");
        if (manifest.Trainer is null) throw Bad("\"trainer\" is missing or null.");
        if (manifest.State is null) throw Bad("\"state\" is missing or null.");
        if (manifest.Distance is null) throw Bad("\"distance\" is missing or null.");
        var m = manifest.Model;
        foreach (var (name, value) in new[] { ("inputChannels", m.InputChannels), ("hidden", m.Hidden), ("features", m.Features), ("quantiles", m.Quantiles), ("attentionSize", m.AttentionSize) })
            if (value > MaxWidth) throw Bad($"model.{name} = {value} exceeds {MaxWidth}.");
        if (m.Layers > MaxLayers) throw Bad($"model.layers = {m.Layers} exceeds {MaxLayers}.");
        if (m.KernelSize > MaxKernelSize) throw Bad($"model.kernelSize = {m.KernelSize} exceeds {MaxKernelSize}.");
        try { m.Validate(); }
        catch (ArgumentException e) { throw Bad($"model: {Detail(e)}"); }
        var parameters = ParameterCount(m);
        if (parameters > MaxParameters)
            throw Bad($"the model it describes has about {parameters:E2} parameters; at most {MaxParameters} are loaded.");
        var t = manifest.Trainer;
        if (t.DistanceSettings is { } ds && ds.Projections > MaxProjections) throw Bad($"trainer.distanceSettings.projections = {ds.Projections} exceeds {MaxProjections}.");
        if (t.Epochs > MaxEpochs) throw Bad($"trainer.epochs = {t.Epochs} exceeds {MaxEpochs}.");
        try { t.Validate(); }
        catch (ArgumentException e) { throw Bad($"trainer: {Detail(e)}"); }
        if (manifest.DistanceIsCustom)
        {
            // A run under the user's own distance records its name and trainer.distance null.
            if (string.IsNullOrWhiteSpace(manifest.Distance)) throw Bad("distanceIsCustom is true but distance is empty; a run records its distance's name.");
            if (Distances.Names.Contains(manifest.Distance, StringComparer.OrdinalIgnoreCase))
                throw Bad($"distanceIsCustom is true but distance '{manifest.Distance}' is a catalog distance.");
            if (t.Distance is not null) throw Bad($"distanceIsCustom is true but trainer.distance is '{t.Distance}'; a run under your own distance records null.");
        }
        else if (!Distances.Names.Contains(manifest.Distance)) throw Bad($"distance '{manifest.Distance}' is unknown.");
        ValidateState(manifest.State, t.Epochs, Bad);
        if (manifest.Standardizer is not null)
        {
            // The library stores the caller's JSON as given; a Standardizer's JSON (kind "standardizer", as the CLI
            // writes) is checked in full, anything else must at least be a JSON object.
            System.Text.Json.Nodes.JsonNode? node;
            try { node = System.Text.Json.Nodes.JsonNode.Parse(manifest.Standardizer); }
            catch (JsonException e) { throw Bad($"standardizer is not valid JSON: {e.Message}"); }
            if (node is not System.Text.Json.Nodes.JsonObject obj) throw Bad("standardizer is not a JSON object.");
            if (obj["kind"] is System.Text.Json.Nodes.JsonValue kind && kind.GetValueKind() == JsonValueKind.String && (string?)kind == "standardizer")
            {
                Standardizer standardizer;
                try { standardizer = Standardizer.FromJson(manifest.Standardizer); }
                catch (ArgumentException e) { throw Bad($"standardizer: {Detail(e)}"); }
                if (standardizer.Channels != m.InputChannels)
                    throw Bad($"the standardizer has {standardizer.Channels} channels but model.inputChannels = {m.InputChannels}.");
            }
        }
    }

    /// <summary>Checks a manifest's training state against its epoch count (shared by every trainer checkpoint).</summary>
    /// <param name="s">The state.</param>
    /// <param name="epochs">The manifest's trainer epochs.</param>
    /// <param name="bad">Makes the exception of a problem from its description.</param>
    internal static void ValidateState(TrainingState s, int epochs, Func<string, InvalidDataException> bad)
    {
        if (s.History is null) throw bad("\"state.history\" is missing or null.");
        for (var i = 0; i < s.History.Count; i++)
            if (s.History[i] is null) throw bad($"state.history[{i}] is null.");
        if (s.Epoch < 0 || s.Epoch > epochs) throw bad($"state.epoch = {s.Epoch} is outside [0, trainer.epochs = {epochs}].");
        if (s.History.Count != s.Epoch) throw bad($"state.history has {s.History.Count} entries but state.epoch = {s.Epoch}.");
        if (s.StepInEpoch < 0) throw bad($"state.stepInEpoch = {s.StepInEpoch} is negative.");
        if (s.GlobalStep < 0) throw bad($"state.globalStep = {s.GlobalStep} is negative.");
        if (s.BestEpoch < 0 || s.BestEpoch > s.Epoch) throw bad($"state.bestEpoch = {s.BestEpoch} is outside [0, state.epoch = {s.Epoch}].");
    }

    /// <summary>A lower bound on the number of parameters of the model described by <paramref name="options"/>: its encoder's
    /// input projection, convolutions or GRU layers and output projection (the heads add a few more).</summary>
    /// <param name="options">Model options.</param>
    /// <returns>The count, as a double (it may exceed <see cref="long.MaxValue"/> for hostile inputs).</returns>
    public static double ParameterCount(EmbedderOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        double c = options.InputChannels, h = options.Hidden, d = options.Features, l = options.Layers, k = options.KernelSize;
        var encoder = options.Encoder == "gru"
            ? 3 * h * (c + h) + 6 * h + (l - 1) * (3 * h * 2 * h + 6 * h)
            : c * h + h + l * (h * h * k + h);
        return encoder + h * d + d;
    }

    /// <summary>
    /// Refuses, before the model is built, a weights file too short for the model a manifest describes (4 bytes per
    /// parameter at least): a truncated file, or a manifest whose sizes were raised.
    /// </summary>
    /// <param name="options">The manifest's model options.</param>
    /// <param name="file">The weights file.</param>
    /// <exception cref="InvalidDataException">"checkpoint file X is truncated or corrupt".</exception>
    public static void CheckWeightsFileSize(EmbedderOptions options, string file)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(file);
        var length = new FileInfo(file).Length;
        var needed = 4 * ParameterCount(options);
        if (length < needed)
            throw new InvalidDataException($"checkpoint file {file} is truncated or corrupt: {length} bytes, but the manifest's model needs at least {needed:F0}.");
    }

    private static string Detail(ArgumentException e) =>
        e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);

    /// <summary>Loads the model of a directory: its best weights if present, else its current weights.</summary>
    /// <param name="directory">A directory written by the trainer.</param>
    /// <returns>The model (CPU, evaluation mode) and its manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">An invalid manifest, or a weights file that is truncated, corrupt or of another model.</exception>
    public static (SequenceEmbedder Model, CheckpointManifest Manifest) LoadModel(string directory)
    {
        var manifest = ReadManifest(directory);
        var best = Path.Combine(directory, BestFile);
        var current = Path.Combine(directory, ModelFile);
        var file = File.Exists(best) ? best : current;
        if (!File.Exists(file))
            throw new FileNotFoundException($"'{directory}' has no {ModelFile}.", file);
        CheckWeightsFileSize(manifest.Model, file);
        var model = SequenceEmbedder.Create(manifest.Model, 0);
        LoadWeights(model, file);
        model.eval();
        return (model, manifest);
    }

    /// <summary>Loads a weights file written by <see cref="Write"/> into a model of the manifest's kind.</summary>
    /// <param name="model">The model.</param>
    /// <param name="file">The file (<see cref="ModelFile"/> or <see cref="BestFile"/>).</param>
    /// <exception cref="InvalidDataException">"checkpoint file X is truncated or corrupt": too short for the model, or unreadable.</exception>
    public static void LoadWeights(SequenceEmbedder model, string file)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(file);
        Training.ModuleWeights.LoadFile(model, file);
    }

    /// <summary>The error of a checkpoint file that cannot be read.</summary>
    /// <param name="file">The file.</param>
    /// <param name="e">What went wrong reading it.</param>
    /// <returns>An <see cref="InvalidDataException"/> "checkpoint file X is truncated or corrupt (…)".</returns>
    public static InvalidDataException Corrupt(string file, Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return Training.ModuleWeights.Corrupt(file, e);
    }

    /// <summary>Serialises a model's weights (TorchSharp state-dict format) into bytes.</summary>
    /// <param name="model">The model.</param>
    /// <returns>The bytes.</returns>
    public static byte[] WeightsToBytes(SequenceEmbedder model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Training.ModuleWeights.ToBytes(model);
    }

    /// <summary>Restores weights written by <see cref="WeightsToBytes"/> into a model of the same kind.</summary>
    /// <param name="model">The model.</param>
    /// <param name="weights">The bytes.</param>
    /// <exception cref="InvalidDataException">The bytes are truncated, corrupt or of another model.</exception>
    public static void WeightsFromBytes(SequenceEmbedder model, byte[] weights)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(weights);
        Training.ModuleWeights.FromBytes(model, weights);
    }
}
