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
    /// Writes a checkpoint folder durably and atomically through <see cref="CheckpointFolder.Write"/>: <c>model.bin</c>
    /// (TorchSharp state dict) and then <c>manifest.json</c> (format, kind, model kind, architecture, image size,
    /// hyper-parameters, epochs trained, library version, metrics), flushed into a temporary sibling folder that takes
    /// <paramref name="directory"/>'s place in one atomic step.
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
        CheckpointFolder.Write(directory, CheckpointKind.Tvae,
            [new CheckpointFile("model.bin", stream =>
            {
                using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
                network.save(writer);
            })],
            Manifest(metrics).ToJsonString(new JsonSerializerOptions { WriteIndented = true }), nameof(directory));
    }

    /// <summary>The largest latent or hidden size, and image side, a TVAE manifest may give.</summary>
    public const int MaxManifestSize = 1 << 16;

    /// <summary>Restores a model written by <see cref="Save"/>: same options, image size, weights and epoch count.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="device"><c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (default <c>cpu</c>).</param>
    /// <returns>The model (in evaluation mode; <see cref="Fit"/> continues with a fresh optimiser state).</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A missing or malformed manifest or state dict, or another format.</exception>
    public static Tvae Load(string directory, string device = "cpu")
    {
        NativeRuntime.EnsureInitialized();
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"checkpoint folder '{directory}' does not exist.");
        var manifestPath = Path.Combine(directory, "manifest.json");
        var modelPath = Path.Combine(directory, "model.bin");
        if (!File.Exists(manifestPath) || !File.Exists(modelPath))
            throw new InvalidDataException($"checkpoint folder '{directory}' lacks manifest.json or model.bin.");
        JsonNode manifest;
        TvaeOptions options;
        int rows, cols, epochs;
        try
        {
            manifest = JsonNode.Parse(CheckpointFolder.ReadManifestText(manifestPath)) ?? throw new InvalidDataException("empty manifest");
            if ((string?)manifest["format"] != CheckpointFormat)
                throw new InvalidDataException($"manifest format '{(string?)manifest["format"]}' is not '{CheckpointFormat}'.");
            var h = manifest["hyper_parameters"]!;
            options = new TvaeOptions
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
                BatchSize = (int)h["batch_size"]!,
                Epochs = (int)h["epochs"]!,
                TripletsPerEpoch = (int)h["triplets_per_epoch"]!,
                Seed = (int)h["seed"]!,
            };
            rows = (int)manifest["rows"]!;
            cols = (int)manifest["cols"]!;
            epochs = (int)manifest["epochs_trained"]!;
            foreach (var (name, value) in new[] { ("latent_size", options.LatentSize), ("hidden_size", options.HiddenSize), ("rows", rows), ("cols", cols) })
                if (value < 1 || value > MaxManifestSize)
                    throw new InvalidDataException($"manifest '{manifestPath}': {name} = {value} is outside [1, {MaxManifestSize}].");
            if (epochs < 0) throw new InvalidDataException($"manifest '{manifestPath}': epochs_trained = {epochs} is negative.");
            // Parameters of the MLP (encoder P→H→2L, decoder L→H→P), checked before anything is allocated.
            double pixels = (double)rows * cols, hidden = options.HiddenSize, latent = options.LatentSize;
            var parameters = 2 * pixels * hidden + 3 * hidden * latent;
            if (parameters > 1L << 28)
                throw new InvalidDataException($"manifest '{manifestPath}': the network it describes has about {parameters:E2} parameters; at most {1L << 28} are loaded.");
            var size = new FileInfo(modelPath).Length;
            if (options.Architecture == TvaeArchitecture.Mlp && size < 4 * parameters)
                throw new InvalidDataException($"checkpoint file {modelPath} is truncated or corrupt: {size} bytes, but the manifest's network needs at least {4 * parameters:F0}.");
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or FormatException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"manifest '{manifestPath}' is malformed: {e.Message}", e);
        }
        var model = Create(rows, cols, options, device);
        model.epochsTrained = epochs;
        try
        {
            using var reader = new BinaryReader(File.OpenRead(modelPath));
            model.network.load(reader);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            model.Dispose();
            throw new InvalidDataException($"checkpoint file {modelPath} is truncated or corrupt, or does not fit the manifest's network ({e.GetType().Name}: {e.Message.Split('\n', 2)[0].Trim()}).", e);
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
