using System.Text.Json;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;
using static TorchSharp.torch;
using AdamW = DistEmbed.Sequences.AdamW;
using Parameter = TorchSharp.Modules.Parameter;

namespace DistEmbed.Training;

/// <summary>
/// The one optimiser construction and learning-rate schedule of every trainer of the facade (the metric-learning loop,
/// hence the sequence and deep-Bregman trainers, and the TVAE): <see cref="AdamW"/> with an explicit, checkpointable
/// state, stepped with the rate of <see cref="LearningRateAt"/>.
/// </summary>
internal static class OptimizerSetup
{
    /// <summary>AdamW over the module's parameters in their registration order (Loshchilov and Hutter, ICLR 2019,
    /// Algorithm 2; with λ = 0 it is Adam, Kingma and Ba, ICLR 2015, Algorithm 1).</summary>
    public static AdamW Create(IEnumerable<Parameter> parameters, double weightDecay) => new(parameters, weightDecay);

    /// <summary>
    /// Rescales the gradients of <paramref name="parameters"/> so that their joint L2 norm is at most
    /// <paramref name="maxNorm"/> (TorchSharp's <c>clip_grad_norm_</c>, Pascanu, Mikolov and Bengio, ICML 2013, §3.2,
    /// Algorithm 1); <paramref name="maxNorm"/> = 0 leaves them as they are (no clipping).
    /// </summary>
    public static void ClipGradientNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        if (maxNorm > 0) nn.utils.clip_grad_norm_(parameters, maxNorm);
    }

    /// <summary>W = ⌊f S⌋ warm-up steps of S.</summary>
    public static long WarmupSteps(double fraction, long totalSteps) => (long)Math.Floor(fraction * totalSteps);

    /// <summary>η_s = η (s + 1)/W for s &lt; W, else η ½ (1 + cos(π (s − W)/(S − W))) (Loshchilov and Hutter, "SGDR",
    /// ICLR 2017, eq. 5, one cycle after a linear warm-up); with <paramref name="cosine"/> false, η after the warm-up
    /// (so η exactly at every step when W = 0: a constant rate, as the TVAE paper's Adam).</summary>
    public static double LearningRateAt(double peak, long step, long totalSteps, long warmupSteps, bool cosine = true)
    {
        if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
        if (!cosine) return peak;
        var span = Math.Max(1, totalSteps - warmupSteps);
        var progress = Math.Min(1.0, (double)(step - warmupSteps) / span);
        return peak * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}

/// <summary>
/// The one checkpoint layout of the facade's trainers: a <see cref="CheckpointFolder"/> holding <c>manifest.json</c>,
/// the current weights <c>model.dat</c>, the best epoch's weights <c>best.dat</c> (when a validation set picked one) and
/// the optimiser state <c>optimizer.dat</c>. Reading, writing and the manifest checks shared by the metric-learning,
/// deep-Bregman and TVAE checkpoints live here.
/// </summary>
internal static class TrainingCheckpoint
{
    /// <summary>The weight, best-weight and optimiser files of a checkpoint (the manifest is written after them).</summary>
    public static List<CheckpointFile> Files(nn.Module model, byte[]? bestWeights, AdamW? optimizer)
    {
        var weights = ModuleWeights.ToBytes(model);
        var files = new List<CheckpointFile> { new(Checkpoint.ModelFile, s => s.Write(weights)) };
        if (bestWeights is not null) files.Add(new(Checkpoint.BestFile, s => s.Write(bestWeights)));
        if (optimizer is not null) files.Add(new(Checkpoint.OptimizerFile, optimizer.Save));
        return files;
    }

    /// <summary>Loads <c>model.dat</c> into <paramref name="model"/> after checking <c>best.dat</c> (when present) loads too.</summary>
    /// <returns>The best weights' bytes, or null when the folder has none.</returns>
    /// <exception cref="FileNotFoundException">No <c>model.dat</c> (names it).</exception>
    /// <exception cref="InvalidDataException">A truncated or corrupt weights file (names it).</exception>
    public static byte[]? LoadWeights(nn.Module model, string directory)
    {
        var modelFile = Path.Combine(directory, Checkpoint.ModelFile);
        if (!File.Exists(modelFile)) throw new FileNotFoundException($"'{directory}' has no {Checkpoint.ModelFile}.", modelFile);
        byte[]? best = null;
        var bestFile = Path.Combine(directory, Checkpoint.BestFile);
        if (File.Exists(bestFile))
        {
            // Checked now, not when the run ends: a corrupt best.dat must not cost the resumed epochs.
            ModuleWeights.LoadFile(model, bestFile);
            best = File.ReadAllBytes(bestFile);
        }
        ModuleWeights.LoadFile(model, modelFile);
        return best;
    }

    /// <summary>Loads the weights a trained model is used with: <c>best.dat</c> when present, else <c>model.dat</c>.</summary>
    /// <exception cref="FileNotFoundException">Neither file (names <c>model.dat</c>).</exception>
    /// <exception cref="InvalidDataException">A truncated or corrupt weights file (names it).</exception>
    public static void LoadFinalWeights(nn.Module model, string directory)
    {
        var best = Path.Combine(directory, Checkpoint.BestFile);
        var current = Path.Combine(directory, Checkpoint.ModelFile);
        if (File.Exists(best)) ModuleWeights.LoadFile(model, best);
        else if (File.Exists(current)) ModuleWeights.LoadFile(model, current);
        else throw new FileNotFoundException($"'{directory}' has no {Checkpoint.ModelFile}.", current);
    }

    /// <summary>Loads <c>optimizer.dat</c> into <paramref name="optimizer"/>.</summary>
    /// <exception cref="FileNotFoundException">No optimiser state (names the file).</exception>
    /// <exception cref="InvalidDataException">A truncated or corrupt state, or one of other parameters (names the file).</exception>
    public static void LoadOptimizer(AdamW optimizer, string directory)
    {
        var optimizerFile = Path.Combine(directory, Checkpoint.OptimizerFile);
        if (!File.Exists(optimizerFile))
            throw new FileNotFoundException($"'{directory}' has no {Checkpoint.OptimizerFile}; it holds a model but no resumable optimiser state.", optimizerFile);
        try
        {
            using var s = File.OpenRead(optimizerFile);
            optimizer.Load(s);
            if (s.Position != s.Length) throw new InvalidDataException($"{s.Length - s.Position} bytes follow the optimiser state.");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw ModuleWeights.Corrupt(optimizerFile, e);
        }
    }

    /// <summary>Reads a manifest of the layout (camelCase JSON, <see cref="Checkpoint.Json"/>) from a checkpoint folder.</summary>
    /// <param name="directory">The folder.</param>
    /// <param name="olderLayout">Given the parsed manifest, a one-line message when it is an earlier layout this
    /// version cannot read (the message names the file), or null; may be null.</param>
    /// <returns>The manifest and its path.</returns>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="FileNotFoundException">No manifest in it.</exception>
    /// <exception cref="InvalidDataException">Unparseable JSON, an earlier layout, or an empty manifest (names the file).</exception>
    public static (T Manifest, string Path) ReadManifest<T>(string directory, Func<System.Text.Json.Nodes.JsonNode?, string, string?>? olderLayout = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"checkpoint directory '{directory}' does not exist.");
        var path = Path.Combine(directory, CheckpointFolder.ManifestFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{directory}' has no {CheckpointFolder.ManifestFile}; it is not a checkpoint folder.", path);
        var text = CheckpointFolder.ReadManifestText(path);
        try
        {
            if (olderLayout is not null && olderLayout(System.Text.Json.Nodes.JsonNode.Parse(text), path) is { } message)
                throw new InvalidDataException(message);
            var manifest = JsonSerializer.Deserialize<T>(text, Checkpoint.Json) ?? throw new InvalidDataException($"manifest {path} is empty (null).");
            return (manifest, path);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"manifest {path} is not a valid manifest: {e.Message}", e);
        }
    }

    /// <summary>The checks every training manifest shares: format, kind, the trainer options, the state and the data fingerprint.</summary>
    /// <param name="bad">Makes the exception for a problem (prefixes the file).</param>
    /// <param name="format">The manifest's format.</param>
    /// <param name="currentFormat">The format this library reads.</param>
    /// <param name="kind">The manifest's kind.</param>
    /// <param name="expected">The kind expected.</param>
    /// <param name="trainer">The trainer options.</param>
    /// <param name="state">The state.</param>
    /// <param name="parameters">The parameter signature.</param>
    /// <param name="trainData">The training-data fingerprint.</param>
    /// <param name="distanceRequired">True when <c>trainer.distance</c> must name a catalog distance.</param>
    public static void ValidateRun(Func<string, InvalidDataException> bad, int format, int currentFormat, string? kind, CheckpointKind expected,
        MetricLearningOptions? trainer, TrainingState? state, List<string>? parameters, LabelledDataFingerprint? trainData, bool distanceRequired)
    {
        if (format != currentFormat) throw bad($"format {format} is not supported; this library reads format {currentFormat}.");
        if (kind != expected.Name) throw bad($"kind '{kind}' is not a {expected.Name} checkpoint.");
        if (trainer is null) throw bad("\"trainer\" is missing or null.");
        if (state is null) throw bad("\"state\" is missing or null.");
        if (parameters is null) throw bad("\"parameters\" is missing or null.");
        if (trainData is null) throw bad("\"trainData\" is missing or null.");
        if (trainer.Epochs > Checkpoint.MaxEpochs) throw bad($"trainer.epochs = {trainer.Epochs} exceeds {Checkpoint.MaxEpochs}.");
        try
        {
            if (distanceRequired) trainer.Validate();
            else trainer.ValidateExceptDistancePresence();
        }
        catch (ArgumentException e) { throw bad($"trainer: {e.Message}"); }
        Checkpoint.ValidateState(state, trainer.Epochs, bad);
    }

    /// <summary>Refuses data other than those a checkpoint was trained on (names the argument and what differs).</summary>
    public static void CheckSame(string name, LabelledDataFingerprint now, LabelledDataFingerprint recorded)
    {
        var differences = now.Differences(recorded);
        if (differences.Count > 0)
            throw new ArgumentException($"{name} is not the data the checkpoint was trained on: {string.Join("; ", differences)}. Resume with the same data, or train afresh.", name);
    }

    /// <summary>Refuses a validation set that differs in presence or content from the checkpoint's.</summary>
    public static void CheckSameValidation(LabelledData? valid, LabelledDataFingerprint? recorded)
    {
        if (valid is null && recorded is not null)
            throw new ArgumentException("valid is null but the checkpoint was trained with validation data; pass the same validation data.", nameof(valid));
        if (valid is not null && recorded is null)
            throw new ArgumentException("valid is given but the checkpoint was trained without validation data; pass null.", nameof(valid));
        if (valid is not null) CheckSame(nameof(valid), valid.Fingerprint(), recorded!);
    }

    /// <summary>The total number of epochs of a resumed run: the checkpoint's, or <paramref name="epochs"/> when it is at least the epochs done.</summary>
    public static MetricLearningOptions WithEpochs(MetricLearningOptions options, TrainingState state, int? epochs)
    {
        if (epochs is not { } e) return options;
        if (e < state.Epoch)
            throw new ArgumentException($"epochs = {e}, but the checkpoint has already finished {state.Epoch} epochs; give at least that many.", nameof(epochs));
        return options with { Epochs = e };
    }
}
