using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Autoencoders;

/// <content>Checkpoints: <see cref="Save"/>, <see cref="Load"/> and the manifest.</content>
public sealed partial class Tvae
{
    /// <summary>
    /// Writes a checkpoint folder of the trainers' one layout, durably and atomically through
    /// <see cref="CheckpointFolder.Write"/>: <c>model.dat</c> (TorchSharp state dict), <c>optimizer.dat</c> (the optimiser
    /// state), <c>noise.dat</c> (the reparameterisation noise generator's state) and then <c>manifest.json</c> (format,
    /// kind, model kind, architecture, image size, hyper-parameters, epochs trained, library version, metrics), flushed
    /// into a temporary sibling folder that takes <paramref name="directory"/>'s place in one atomic step. A model loaded
    /// from it continues training exactly where this one stands.
    /// </summary>
    /// <param name="directory">The checkpoint folder: absent, empty, or (with <paramref name="overwrite"/>) a TVAE checkpoint.</param>
    /// <param name="metrics">Evaluation to record in the manifest, or null.</param>
    /// <param name="overwrite">Replace a TVAE checkpoint already in the folder; without it such a checkpoint is kept and the call fails.</param>
    /// <exception cref="ArgumentException">The folder holds a checkpoint and <paramref name="overwrite"/> is false, or it holds
    /// anything other than a TVAE checkpoint, or it is the working folder.</exception>
    public void Save(string directory, TvaeEvaluation? metrics = null, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(directory);
        CheckpointFolder.Prepare(directory, CheckpointKind.Tvae, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New, null, nameof(directory));
        WriteCheckpoint(directory, metrics);
    }

    /// <summary>The noise generator's state file.</summary>
    private const string NoiseFile = "noise.dat";

    private void WriteCheckpoint(string directory, TvaeEvaluation? metrics)
    {
        var files = Training.TrainingCheckpoint.Files(network, null, optimizer);
        byte[] noiseState;
        using (var state = noise.get_state()) noiseState = state.cpu().data<byte>().ToArray();
        files.Add(new CheckpointFile(NoiseFile, s => s.Write(noiseState)));
        CheckpointFolder.Write(directory, CheckpointKind.Tvae, files, Manifest(metrics).ToJsonString(new JsonSerializerOptions { WriteIndented = true }), nameof(directory));
    }

    /// <summary>The largest latent or hidden size, and image side, a TVAE manifest may give.</summary>
    public const int MaxManifestSize = 1 << 16;

    /// <summary>
    /// Reads and checks a TVAE checkpoint folder's <c>manifest.json</c> without building the network or reading the
    /// weights: the options, image size and epoch counts a caller needs before <see cref="Load"/> or
    /// <see cref="Resume"/> (for example to size a progress display), as the other trainers' <c>ReadManifest</c>.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The manifest's contents.</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">No manifest, or a malformed one: another format, a missing member, a size
    /// out of range or a network too large to load (the message names the file).</exception>
    public static TvaeManifest ReadManifest(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"checkpoint folder '{directory}' does not exist.");
        var manifestPath = Path.Combine(directory, CheckpointFolder.ManifestFile);
        if (!File.Exists(manifestPath))
            throw new InvalidDataException($"checkpoint folder '{directory}' lacks {CheckpointFolder.ManifestFile}.");
        try
        {
            var manifest = JsonNode.Parse(CheckpointFolder.ReadManifestText(manifestPath)) ?? throw new InvalidDataException("empty manifest");
            var format = (string?)manifest["format"];
            var current = format == CheckpointFormat;
            if (!current && format != PreviousCheckpointFormat)
                throw new InvalidDataException($"manifest format '{format}' is not '{CheckpointFormat}' (or the earlier '{PreviousCheckpointFormat}').");
            var h = manifest["hyper_parameters"]!;
            var defaults = new TvaeOptions();
            var options = new TvaeOptions
            {
                Variant = TvaeOptions.ParseVariant((string)manifest["model_kind"]!),
                Architecture = TvaeOptions.ParseArchitecture((string)manifest["architecture"]!),
                LatentSize = (int)h["latent_size"]!,
                HiddenSize = (int)h["hidden_size"]!,
                Margin = (double)h["margin"]!,
                ElboWeight = (double)h["elbo_weight"]!,
                TripletWeight = (double)h["triplet_weight"]!,
                EmbeddingNormWeight = (double)h["embedding_norm_weight"]!,
                LearningRate = (double)h["learning_rate"]!,
                // Written since the TVAE shares the trainers' schedule and clipping; a manifest without them trained with neither.
                WarmupFraction = (double?)h["warmup_fraction"] ?? defaults.WarmupFraction,
                CosineDecay = (bool?)h["cosine_decay"] ?? defaults.CosineDecay,
                ClipNorm = (double?)h["clip_norm"] ?? defaults.ClipNorm,
                BatchSize = (int)h["batch_size"]!,
                Epochs = (int)h["epochs"]!,
                TripletsPerEpoch = (int)h["triplets_per_epoch"]!,
                Seed = (int)h["seed"]!,
            };
            options.Validate();
            var rows = (int)manifest["rows"]!;
            var cols = (int)manifest["cols"]!;
            var epochs = (int)manifest["epochs_trained"]!;
            var target = current ? (int)manifest["target_epochs"]! : epochs;
            foreach (var (name, value) in new[] { ("latent_size", options.LatentSize), ("hidden_size", options.HiddenSize), ("rows", rows), ("cols", cols) })
                if (value < 1 || value > MaxManifestSize)
                    throw new InvalidDataException($"manifest '{manifestPath}': {name} = {value} is outside [1, {MaxManifestSize}].");
            if (epochs < 0) throw new InvalidDataException($"manifest '{manifestPath}': epochs_trained = {epochs} is negative.");
            if (target < epochs || target > Sequences.Checkpoint.MaxEpochs)
                throw new InvalidDataException($"manifest '{manifestPath}': target_epochs = {target} is outside [epochs_trained = {epochs}, {Sequences.Checkpoint.MaxEpochs}].");
            // Parameters of the MLP (encoder P→H→2L, decoder L→H→P), checked before anything is allocated.
            if (MlpParameters(options, rows, cols) > 1L << 28)
                throw new InvalidDataException($"manifest '{manifestPath}': the network it describes has about {MlpParameters(options, rows, cols):E2} parameters; at most {1L << 28} are loaded.");
            return new TvaeManifest(format!, options, rows, cols, epochs, target, (string?)manifest["library_version"]);
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or FormatException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"manifest '{manifestPath}' is malformed: {e.Message}", e);
        }
    }

    /// <summary>The parameters of the MLP network of these options and image size (encoder P→H→2L, decoder L→H→P), about.</summary>
    private static double MlpParameters(TvaeOptions options, int rows, int cols)
    {
        double pixels = (double)rows * cols, hidden = options.HiddenSize, latent = options.LatentSize;
        return 2 * pixels * hidden + 3 * hidden * latent;
    }

    /// <summary>Restores a model written by <see cref="Save"/> or by <see cref="Fit"/> with a checkpoint folder: same
    /// options, image size, weights, epoch count, optimiser and noise state (a checkpoint of the earlier layout,
    /// <c>model.bin</c>, loads with a fresh optimiser state). The manifest is read by <see cref="ReadManifest"/>, the
    /// weights and the optimiser state by the trainers' checkpoint readers.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The model (in evaluation mode; <see cref="Fit"/> continues from the saved optimiser state).</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A missing or malformed manifest, weights or optimiser file (named), or another format.</exception>
    public static Tvae Load(string directory, string device = Devices.Default)
    {
        NativeRuntime.EnsureInitialized();
        ArgumentNullException.ThrowIfNull(directory);
        Devices.Check(device, nameof(device));
        return LoadWith(directory, ReadManifest(directory), device);
    }

    /// <summary><see cref="Load(string, string)"/> with the folder's manifest already read.</summary>
    private static Tvae LoadWith(string directory, TvaeManifest manifest, string device)
    {
        var current = manifest.Resumable;
        var modelPath = Path.Combine(directory, current ? Sequences.Checkpoint.ModelFile : "model.bin");
        if (!File.Exists(modelPath))
            throw new InvalidDataException($"checkpoint file {modelPath} is missing.");
        var options = manifest.Options;
        var size = new FileInfo(modelPath).Length;
        var parameters = MlpParameters(options, manifest.Rows, manifest.Cols);
        if (options.Architecture == TvaeArchitecture.Mlp && size < 4 * parameters)
            throw new InvalidDataException($"checkpoint file {modelPath} is truncated or corrupt: {size} bytes, but the manifest's network needs at least {4 * parameters:F0}.");
        var model = Create(manifest.Rows, manifest.Cols, options, device);
        model.epochsTrained = manifest.EpochsTrained;
        model.targetEpochs = manifest.TargetEpochs;
        model.resumable = current;
        try
        {
            Training.ModuleWeights.LoadFile(model.network, modelPath);
            if (current)
            {
                Training.TrainingCheckpoint.LoadOptimizer(model.optimizer, directory);
                var noisePath = Path.Combine(directory, NoiseFile);
                if (!File.Exists(noisePath)) throw new InvalidDataException($"checkpoint file {noisePath} is missing.");
                try
                {
                    using var state = tensor(File.ReadAllBytes(noisePath));
                    model.noise.set_state(state);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    throw Training.ModuleWeights.Corrupt(noisePath, e);
                }
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.network.eval();
        return model;
    }

    /// <summary>The library's informational version (written into manifests).</summary>
    public static string LibraryVersion =>
        typeof(Tvae).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Tvae).Assembly.GetName().Version?.ToString() ?? "unknown";

    private JsonObject Manifest(TvaeEvaluation? metrics)
    {
        var o = Options;
        var manifest = new JsonObject
        {
            ["format"] = CheckpointFormat,
            ["kind"] = CheckpointKind.Tvae.Name,
            ["model_kind"] = TvaeOptions.NameOf(o.Variant),
            ["architecture"] = o.Architecture == TvaeArchitecture.Mlp ? "mlp" : "conv",
            ["rows"] = Rows,
            ["cols"] = Cols,
            ["epochs_trained"] = epochsTrained,
            ["target_epochs"] = Math.Max(targetEpochs, epochsTrained),
            ["library_version"] = LibraryVersion,
            ["torchsharp_version"] = typeof(torch).Assembly.GetName().Version?.ToString(),
            ["hyper_parameters"] = new JsonObject
            {
                ["latent_size"] = o.LatentSize,
                ["hidden_size"] = o.HiddenSize,
                ["margin"] = o.Margin,
                ["elbo_weight"] = o.ElboWeight,
                ["triplet_weight"] = o.TripletWeight,
                ["embedding_norm_weight"] = o.EmbeddingNormWeight,
                ["learning_rate"] = o.LearningRate,
                ["warmup_fraction"] = o.WarmupFraction,
                ["cosine_decay"] = o.CosineDecay,
                ["clip_norm"] = o.ClipNorm,
                ["batch_size"] = o.BatchSize,
                ["epochs"] = o.Epochs,
                ["triplets_per_epoch"] = o.TripletsPerEpoch,
                ["seed"] = o.Seed,
            },
        };
        if (metrics is not null)
            manifest["metrics"] = JsonSerializer.SerializeToNode(metrics, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
        return manifest;
    }
}

/// <summary>What a TVAE checkpoint folder's <c>manifest.json</c> says (<see cref="Tvae.ReadManifest"/>), read without
/// loading the network.</summary>
/// <param name="Format">The manifest format (<see cref="Tvae.CheckpointFormat"/>, or the earlier <see cref="Tvae.PreviousCheckpointFormat"/>).</param>
/// <param name="Options">The model's hyper-parameters and training settings.</param>
/// <param name="Rows">Image height.</param>
/// <param name="Cols">Image width.</param>
/// <param name="EpochsTrained">Epochs trained so far.</param>
/// <param name="TargetEpochs">The epochs the interrupted <see cref="Tvae.Fit"/> call was training to (≥ <paramref name="EpochsTrained"/>;
/// <see cref="Tvae.Resume"/> trains the difference).</param>
/// <param name="LibraryVersion">The version of the library that wrote it, or null.</param>
public sealed record TvaeManifest(string Format, TvaeOptions Options, int Rows, int Cols, int EpochsTrained, int TargetEpochs, string? LibraryVersion)
{
    /// <summary>True for the current layout, which holds the optimiser and noise state that <see cref="Tvae.Resume"/> needs.</summary>
    public bool Resumable => Format == Tvae.CheckpointFormat;
}
