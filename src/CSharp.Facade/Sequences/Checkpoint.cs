using System.Text.Json;
using System.Text.Json.Serialization;
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
    /// <summary>The manifest format version (1).</summary>
    public int Format { get; set; } = 1;
    /// <summary>The version of the DistEmbed library that wrote it.</summary>
    public string LibraryVersion { get; set; } = typeof(CheckpointManifest).Assembly.GetName().Version?.ToString() ?? "0";
    /// <summary>The model kind and hyper-parameters.</summary>
    public EmbedderOptions Model { get; set; } = new();
    /// <summary>The trainer options.</summary>
    public TrainerOptions Trainer { get; set; } = new();
    /// <summary>The resolved distance name.</summary>
    public string Distance { get; set; } = "";
    /// <summary>The JSON of the input standardiser, or null.</summary>
    public string? Standardizer { get; set; }
    /// <summary>Epoch, step, RNG state, best epoch and metrics per epoch.</summary>
    public TrainingState State { get; set; } = new();
}

/// <summary>Writes and reads model / checkpoint directories (see <see cref="SequenceTrainer"/>).</summary>
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

    /// <summary>JSON options of the manifest (camelCase, indented, named floating-point literals allowed).</summary>
    public static JsonSerializerOptions Json { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>
    /// Writes a checkpoint directory atomically: every file goes to a temporary sibling directory, which then replaces
    /// <paramref name="directory"/> by renames (the old directory is removed last).
    /// </summary>
    /// <param name="directory">The target directory.</param>
    /// <param name="manifest">The manifest.</param>
    /// <param name="model">The model (its current weights).</param>
    /// <param name="optimizer">The optimiser, or null for a model-only directory.</param>
    /// <param name="bestWeights">The best weights (from <see cref="WeightsToBytes"/>), or null.</param>
    public static void Write(string directory, CheckpointManifest manifest, SequenceEmbedder model, AdamW? optimizer, byte[]? bestWeights)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(model);
        var full = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(full)}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            File.WriteAllText(Path.Combine(temp, ManifestFile), JsonSerializer.Serialize(manifest, Json));
            File.WriteAllBytes(Path.Combine(temp, ModelFile), WeightsToBytes(model));
            if (bestWeights is not null) File.WriteAllBytes(Path.Combine(temp, BestFile), bestWeights);
            if (optimizer is not null)
                using (var s = File.Create(Path.Combine(temp, OptimizerFile))) optimizer.Save(s);
            if (Directory.Exists(full))
            {
                var old = Path.Combine(parent, $".{Path.GetFileName(full)}.old-{Guid.NewGuid():N}");
                Directory.Move(full, old);
                Directory.Move(temp, full);
                Directory.Delete(old, true);
            }
            else Directory.Move(temp, full);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, true);
            throw;
        }
    }

    /// <summary>Reads a directory's manifest.</summary>
    /// <param name="directory">A model / checkpoint directory.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="FileNotFoundException">No manifest.json in it.</exception>
    /// <exception cref="InvalidDataException">The manifest cannot be parsed.</exception>
    public static CheckpointManifest ReadManifest(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"model directory '{directory}' does not exist.");
        var path = Path.Combine(directory, ManifestFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{directory}' has no {ManifestFile}; it is not a DistEmbed model directory.", path);
        try
        {
            return JsonSerializer.Deserialize<CheckpointManifest>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"{path} is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid manifest: {e.Message}", e);
        }
    }

    /// <summary>Loads the model of a directory: its best weights if present, else its current weights.</summary>
    /// <param name="directory">A directory written by the trainer.</param>
    /// <returns>The model (CPU, evaluation mode) and its manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    public static (SequenceEmbedder Model, CheckpointManifest Manifest) LoadModel(string directory)
    {
        var manifest = ReadManifest(directory);
        var model = SequenceEmbedder.Create(manifest.Model, 0);
        var best = Path.Combine(directory, BestFile);
        var current = Path.Combine(directory, ModelFile);
        var file = File.Exists(best) ? best : current;
        if (!File.Exists(file))
            throw new FileNotFoundException($"'{directory}' has no {ModelFile}.", file);
        model.load(file);
        model.eval();
        return (model, manifest);
    }

    /// <summary>Serialises a model's weights (TorchSharp state-dict format) into bytes.</summary>
    /// <param name="model">The model.</param>
    /// <returns>The bytes.</returns>
    public static byte[] WeightsToBytes(SequenceEmbedder model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) model.save(w);
        return ms.ToArray();
    }

    /// <summary>Restores weights written by <see cref="WeightsToBytes"/> into a model of the same kind.</summary>
    /// <param name="model">The model.</param>
    /// <param name="weights">The bytes.</param>
    public static void WeightsFromBytes(SequenceEmbedder model, byte[] weights)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(weights);
        using var ms = new MemoryStream(weights);
        using var r = new BinaryReader(ms);
        model.load(r);
    }
}
