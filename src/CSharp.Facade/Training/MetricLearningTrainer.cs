using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Training;

/// <summary>The <c>manifest.json</c> of a <see cref="MetricLearningTrainer"/> checkpoint folder (kind <c>metric-learning</c>).</summary>
public sealed class MetricLearningManifest
{
    /// <summary>The manifest format version this library writes and reads.</summary>
    public const int CurrentFormat = 1;
    /// <summary>The manifest format version (<see cref="CurrentFormat"/>).</summary>
    public int Format { get; set; } = CurrentFormat;
    /// <summary>The checkpoint kind (<see cref="CheckpointKind.MetricLearning"/>).</summary>
    public string Kind { get; set; } = CheckpointKind.MetricLearning.Name;
    /// <summary>The version of the DistEmbed library that wrote it.</summary>
    public string LibraryVersion { get; set; } = typeof(MetricLearningManifest).Assembly.GetName().Version?.ToString() ?? "0";
    /// <summary>The model's parameters as <c>name[shape]</c>, in order (a resumed run must pass a model with the same list).</summary>
    public List<string> Parameters { get; set; } = [];
    /// <summary>The trainer options.</summary>
    public MetricLearningOptions Trainer { get; set; } = new();
    /// <summary>The distance name.</summary>
    public string Distance { get; set; } = "";
    /// <summary>Epoch, step, RNG state, best epoch and metrics per epoch.</summary>
    public TrainingState State { get; set; } = new();
    /// <summary>The fingerprint of the training data (checked on resume).</summary>
    public LabelledDataFingerprint TrainData { get; set; } = new();
    /// <summary>The fingerprint of the validation data, or null without validation data.</summary>
    public LabelledDataFingerprint? ValidData { get; set; }
}

/// <summary>
/// Trains any TorchSharp module that maps a batch of inputs [B, …] to an embedding batch (vectors, quantiles or
/// distributions) with a metric-learning loss over a distance of the catalog — or your own
/// (<see cref="CustomDistance"/>, <see cref="Distance.Custom"/>; the overloads that take a <see cref="Distance"/>): the
/// "bring your own encoder" path. The same loop trains <see cref="SequenceTrainer"/>'s models.
/// </summary>
/// <remarks>
/// <para>Each epoch draws M-per-class batches (P = <c>ClassesPerBatch</c> classes × M = <c>ItemsPerClass</c> items,
/// <c>Samplers.MPerClassEpoch</c>) seeded by a checkpointed <see cref="SplitMix64"/> stream; a miner of
/// <c>Catalog.CreateMiner</c> picks the tuples and a loss of <c>Catalog.CreateLoss</c> is minimised by <see cref="AdamW"/>
/// (Loshchilov and Hutter, ICLR 2019, Algorithm 2) after clipping the gradient norm. Learning rate at step s of S with
/// W = ⌊f S⌋ warm-up steps: η_s = η (s + 1)/W for s &lt; W, else η ½ (1 + cos(π (s − W)/(S − W))) (Loshchilov and
/// Hutter, "SGDR", ICLR 2017, eq. 5). A sliced distance draws fresh directions every step from (Seed, step)
/// (<see cref="ISeededDistance.WithFreshDirections"/>); Sinkhorn solves are counted in the progress reports. After each
/// epoch the validation set (held-out classes) is scored by MAP@R (Musgrave et al., ECCV 2020); the best epoch's weights
/// are kept and early stopping ends the run after <c>Patience</c> epochs without improvement.</para>
/// <para>Checkpoints go through <see cref="CheckpointFolder"/> (kind <see cref="CheckpointKind.MetricLearning"/>):
/// <c>manifest.json</c> (<see cref="MetricLearningManifest"/>), <c>model.dat</c>, <c>best.dat</c>, <c>optimizer.dat</c>
/// (and <c>loss.dat</c> for a loss with parameters of its own, such as <c>proxy-anchor</c>'s class proxies, which the
/// optimiser updates with the model's, and for <c>xbm</c>'s memory of past batches), written atomically at every epoch end (and every <c>CheckpointEverySteps</c> steps). On the CPU, with a model that
/// draws no random numbers in its forward pass (no dropout), a run resumed from any checkpoint ends bit-identically
/// to the uninterrupted run.</para>
/// </remarks>
public static class MetricLearningTrainer
{
    /// <summary>Trains <paramref name="model"/> from its current weights.</summary>
    /// <param name="model">The module: inputs [B, …] → an embedding batch of the representation the distance accepts. It is moved to the options' device.</param>
    /// <param name="train">Training data with at least <c>ClassesPerBatch</c> classes.</param>
    /// <param name="valid">Validation data (held-out classes, ≥ 2 classes), or null.</param>
    /// <param name="options">Options; <see cref="MetricLearningOptions.Distance"/> is required.</param>
    /// <param name="checkpointDirectory">The checkpoint folder (absent, empty, or with <paramref name="overwrite"/> a
    /// metric-learning checkpoint; see <see cref="CheckpointFolder"/>), or null for none.</param>
    /// <param name="progress">Progress sink (after each step and each epoch), or null.</param>
    /// <param name="cancellationToken">Checked before every step; cancelling throws <see cref="OperationCanceledException"/> and the last checkpoint stays valid.</param>
    /// <param name="overwrite">Replace a checkpoint already in <paramref name="checkpointDirectory"/>.</param>
    /// <returns>The history; the model holds the best epoch's weights (evaluation mode).</returns>
    /// <exception cref="ArgumentException">Invalid options (named), too few classes, a distance that does not accept the
    /// model's output (found at the first step), or a refused checkpoint folder.</exception>
    public static TrainingResult Train(nn.Module<Tensor, EmbeddingBatch> model, LabelledData train, LabelledData? valid, MetricLearningOptions options,
        string? checkpointDirectory = null, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var run = Generic(model, train, valid, options, null, checkpointDirectory, new TrainingState { RngState = unchecked((ulong)options.Seed) });
        if (checkpointDirectory is not null)
            CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.MetricLearning, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                null, nameof(checkpointDirectory));
        return run.Execute(progress, cancellationToken);
    }

    /// <summary>Resumes the run whose last checkpoint is in <paramref name="checkpointDirectory"/> (a run under a catalog
    /// distance; a run under your own distance resumes with the overload that takes it).</summary>
    /// <param name="model">A module of the same architecture as the checkpoint's (its weights are replaced by the checkpoint's).</param>
    /// <param name="checkpointDirectory">A folder written by <see cref="Train(nn.Module{Tensor, EmbeddingBatch}, LabelledData, LabelledData?, MetricLearningOptions, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>.</param>
    /// <param name="train">The same training data.</param>
    /// <param name="valid">The same validation data, or null when the run had none.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">As for <see cref="Train(nn.Module{Tensor, EmbeddingBatch}, LabelledData, LabelledData?, MetricLearningOptions, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>.</param>
    /// <param name="epochs">The total number of epochs to reach, or null for the checkpoint's.</param>
    /// <returns>The full history, including the epochs before the checkpoint; the model holds the best weights.</returns>
    /// <exception cref="DirectoryNotFoundException">No checkpoint in the folder.</exception>
    /// <exception cref="FileNotFoundException">A checkpoint file is missing.</exception>
    /// <exception cref="InvalidDataException">An invalid manifest, or a truncated or corrupt file (named).</exception>
    /// <exception cref="ArgumentException">Other data or another model than the checkpoint's (the message says what differs),
    /// too few epochs, or a run trained under your own distance, which a checkpoint cannot hold (names distance: resume
    /// with the overload that takes it).</exception>
    public static TrainingResult Resume(nn.Module<Tensor, EmbeddingBatch> model, string checkpointDirectory, LabelledData train, LabelledData? valid,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, int? epochs = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        return ResumeWith(model, null, checkpointDirectory, train, valid, progress, cancellationToken, epochs);
    }

    /// <summary>
    /// Trains <paramref name="model"/> from its current weights under your own distance — a <see cref="CustomDistance"/>
    /// (converted implicitly) or <see cref="Distance.Custom"/> — instead of a catalog name: the loss, the miner and the
    /// validation MAP@R all use it. The checkpoint records its name; resume with
    /// <see cref="Resume(nn.Module{Tensor, EmbeddingBatch}, Distance, string, LabelledData, LabelledData?, IProgress{TrainingProgress}?, CancellationToken, int?)"/>,
    /// passing the same distance.
    /// </summary>
    /// <param name="model">The module: inputs [B, …] → an embedding batch of the representation the distance accepts.</param>
    /// <param name="distance">Your own distance. Its name must not be a catalog name (a checkpoint would be taken for the
    /// catalog's); a catalog distance is chosen by <see cref="MetricLearningOptions.Distance"/> and its settings instead.</param>
    /// <param name="train">Training data with at least <c>ClassesPerBatch</c> classes.</param>
    /// <param name="valid">Validation data (held-out classes, ≥ 2 classes), or null.</param>
    /// <param name="options">Options; <see cref="MetricLearningOptions.Distance"/> null (the checkpoint records it so, with
    /// the distance's name beside it, as the deep Bregman trainer does), <see cref="MetricLearningOptions.DistanceSettings"/> not read.</param>
    /// <param name="checkpointDirectory">The checkpoint folder, or null for none (as for the catalog overload).</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">Checked before every step.</param>
    /// <param name="overwrite">Replace a checkpoint already in <paramref name="checkpointDirectory"/>.</param>
    /// <returns>The history; the model holds the best epoch's weights (evaluation mode).</returns>
    /// <exception cref="ArgumentException">A catalog distance or a custom one named like a catalog distance (names distance),
    /// <see cref="MetricLearningOptions.Distance"/> set (names options), and the refusals of the catalog overload.</exception>
    public static TrainingResult Train(nn.Module<Tensor, EmbeddingBatch> model, Distance distance, LabelledData train, LabelledData? valid,
        MetricLearningOptions options, string? checkpointDirectory = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var custom = CheckCustom(distance);
        if (options.Distance is { } named)
            throw new ArgumentException(
                $"options.Distance = '{named}' but the run's distance is the one passed, '{custom.Name}'; leave options.Distance null.", nameof(options));
        options.ValidateExceptDistancePresence();
        var run = Generic(model, train, valid, options, custom, checkpointDirectory, new TrainingState { RngState = unchecked((ulong)options.Seed) });
        if (checkpointDirectory is not null)
            CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.MetricLearning, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                null, nameof(checkpointDirectory));
        return run.Execute(progress, cancellationToken);
    }

    /// <summary>Resumes a run trained under your own distance (<see cref="Train(nn.Module{Tensor, EmbeddingBatch}, Distance, LabelledData, LabelledData?, MetricLearningOptions, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>).</summary>
    /// <param name="model">A module of the same architecture as the checkpoint's.</param>
    /// <param name="distance">The same distance (the checkpoint's name).</param>
    /// <param name="checkpointDirectory">A folder written by that run.</param>
    /// <param name="train">The same training data.</param>
    /// <param name="valid">The same validation data, or null when the run had none.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">As for <see cref="Train(nn.Module{Tensor, EmbeddingBatch}, LabelledData, LabelledData?, MetricLearningOptions, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>.</param>
    /// <param name="epochs">The total number of epochs to reach, or null for the checkpoint's.</param>
    /// <returns>The full history; the model holds the best weights.</returns>
    /// <exception cref="ArgumentException">A distance of another name than the checkpoint's or a catalog distance (names
    /// distance), and the refusals of the catalog overload.</exception>
    public static TrainingResult Resume(nn.Module<Tensor, EmbeddingBatch> model, Distance distance, string checkpointDirectory, LabelledData train,
        LabelledData? valid, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, int? epochs = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var custom = CheckCustom(distance);
        return ResumeWith(model, custom, checkpointDirectory, train, valid, progress, cancellationToken, epochs);
    }

    /// <summary>The distance rule of every resume: a run trained under your own distance resumes only with a distance of
    /// that name (a checkpoint records the name but cannot hold the code), a catalog run only without one.</summary>
    /// <param name="custom">The distance passed to the resume, or null.</param>
    /// <param name="trainedCustom">Whether the checkpoint's run was trained under your own distance.</param>
    /// <param name="recorded">The checkpoint's distance name.</param>
    /// <param name="checkpointDirectory">The checkpoint folder, for messages.</param>
    /// <param name="resumeWithDistance">The call that resumes a run under your own distance, for messages.</param>
    /// <param name="resumeWithoutDistance">The call that resumes a catalog run, for messages.</param>
    /// <exception cref="ArgumentException">The rule is broken (ParamName <c>distance</c>).</exception>
    internal static void CheckResumedDistance(IDistance? custom, bool trainedCustom, string recorded, string checkpointDirectory,
        string resumeWithDistance, string resumeWithoutDistance)
    {
        if (custom is null && trainedCustom)
            throw new ArgumentException(
                $"checkpoint {checkpointDirectory} was trained under your own distance '{recorded}', which is not in the catalog and which a checkpoint cannot hold; pass it as distance: {resumeWithDistance}.",
                "distance");
        if (custom is not null && !trainedCustom)
            throw new ArgumentException(
                $"checkpoint {checkpointDirectory} was trained under the catalog distance '{recorded}'; resume it with {resumeWithoutDistance}, without a distance.",
                "distance");
        if (custom is not null && custom.Name != recorded)
            throw new ArgumentException(
                $"distance '{custom.Name}' differs from the checkpoint's distance '{recorded}'; resume with the distance the run was trained under.", "distance");
    }

    private static TrainingResult ResumeWith(nn.Module<Tensor, EmbeddingBatch> model, IDistance? custom, string checkpointDirectory, LabelledData train,
        LabelledData? valid, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken, int? epochs)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.MetricLearning, CheckpointMode.Resume, null, nameof(checkpointDirectory));
        var manifest = ReadManifest(checkpointDirectory);
        CheckResumedDistance(custom, manifest.Trainer.Distance is null, manifest.Distance, checkpointDirectory,
            "MetricLearningTrainer.Resume(model, distance, checkpointDirectory, …)", "MetricLearningTrainer.Resume(model, checkpointDirectory, …)");
        TrainingCheckpoint.CheckSame(nameof(train), train.Fingerprint(), manifest.TrainData);
        TrainingCheckpoint.CheckSameValidation(valid, manifest.ValidData);
        CheckSignature(model, manifest.Parameters);
        var options = TrainingCheckpoint.WithEpochs(manifest.Trainer, manifest.State, epochs);
        var run = Generic(model, train, valid, options, custom, checkpointDirectory, manifest.State);
        run.LoadFrom(checkpointDirectory);
        return run.Execute(progress, cancellationToken);
    }

    /// <summary>The engine's view of a user's own distance; refuses catalog distances and catalog names (names distance).
    /// Shared by every trainer that takes your own distance (this one and <see cref="SequenceTrainer"/>).</summary>
    internal static IDistance CheckCustom(Distance distance)
    {
        ArgumentNullException.ThrowIfNull(distance);
        if (distance.Core is not CustomCoreDistance custom)
            throw new ArgumentException(
                $"distance '{distance.Name}' is not your own distance; train under a catalog distance by naming it in options.Distance (with options.DistanceSettings), so that a checkpoint can re-create it.",
                nameof(distance));
        if (Core.Distances.Names.Contains(custom.Name, StringComparer.OrdinalIgnoreCase))
            throw new ArgumentException(
                $"your distance is named '{custom.Name}', a name of the catalog; a checkpoint would be resumed under the catalog's distance. Give it another name.",
                nameof(distance));
        return custom;
    }

    /// <summary>Reads and validates a metric-learning checkpoint's manifest.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="FileNotFoundException">No manifest in it.</exception>
    /// <exception cref="InvalidDataException">An unreadable manifest or one with a missing or out-of-range member (named).</exception>
    public static MetricLearningManifest ReadManifest(string directory)
    {
        var (manifest, path) = TrainingCheckpoint.ReadManifest<MetricLearningManifest>(directory);
        InvalidDataException Bad(string what) => new($"manifest {path}: {what}");
        // A run under the user's own distance records trainer.distance null and the distance's name beside it.
        var custom = manifest.Trainer is { Distance: null };
        TrainingCheckpoint.ValidateRun(Bad, manifest.Format, MetricLearningManifest.CurrentFormat, manifest.Kind, CheckpointKind.MetricLearning,
            manifest.Trainer, manifest.State, manifest.Parameters, manifest.TrainData, distanceRequired: !custom);
        if (custom)
        {
            if (string.IsNullOrWhiteSpace(manifest.Distance)) throw Bad("trainer.distance is null and distance is empty; a run records its distance.");
            if (Core.Distances.Names.Contains(manifest.Distance, StringComparer.OrdinalIgnoreCase))
                throw Bad($"trainer.distance is null but distance '{manifest.Distance}' is a catalog distance; a catalog run records it in trainer.distance too.");
        }
        else if (manifest.Distance != manifest.Trainer.Distance) throw Bad($"distance '{manifest.Distance}' differs from trainer.distance '{manifest.Trainer.Distance}'.");
        return manifest;
    }

    /// <summary>The learning rate of step s (from 0) of S with W warm-up steps (see the class remarks).</summary>
    /// <param name="peak">η.</param>
    /// <param name="step">s.</param>
    /// <param name="totalSteps">S ≥ 1.</param>
    /// <param name="warmupSteps">W ≥ 0.</param>
    /// <returns>η_s.</returns>
    public static double LearningRateAt(double peak, long step, long totalSteps, long warmupSteps) =>
        OptimizerSetup.LearningRateAt(peak, step, totalSteps, warmupSteps);

    /// <summary>The distance matrix of a data set's embeddings among themselves (query = gallery), computed block by block.</summary>
    /// <param name="model">The module (put in evaluation mode for the call, then restored).</param>
    /// <param name="data">The data.</param>
    /// <param name="distance">A distance accepting the model's output.</param>
    /// <param name="batchSize">Items per forward pass (≥ 1).</param>
    /// <param name="device">The device the batches go to, the model's; null = the device the model's parameters are on.</param>
    /// <returns>The matrix [N, N] (float64) and the labels.</returns>
    /// <exception cref="ArgumentException">batchSize &lt; 1, or a distance that does not accept the model's output.</exception>
    public static (double[,] Distances, long[] Labels) DistanceMatrix(nn.Module<Tensor, EmbeddingBatch> model, LabelledData data, Distance distance, int batchSize = 256, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(distance);
        return DistanceMatrix(model, x => model.forward(x).Core, data, distance.Core, batchSize, device);
    }

    /// <summary><see cref="DistanceMatrix(nn.Module{Tensor, EmbeddingBatch}, LabelledData, Distance, int, Device?)"/> of a
    /// module whose embedding batch is made by <paramref name="forward"/>.</summary>
    internal static (double[,] Distances, long[] Labels) DistanceMatrix(nn.Module model, Func<Tensor, IEmbeddingBatch> forward, LabelledData data, IDistance distance, int batchSize, Device? device)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(distance);
        Require.AtLeast(nameof(batchSize), batchSize, 1);
        device ??= ModuleWeights.DeviceOf(model);
        var n = data.Count;
        var result = new double[n, n];
        var wasTraining = model.training;
        model.eval();
        var chunks = new List<(int Start, IEmbeddingBatch Batch)>();
        try
        {
            using var _ = torch.no_grad();
            for (var start = 0; start < n; start += batchSize)
            {
                var idx = Enumerable.Range(start, Math.Min(batchSize, n - start)).ToArray();
                using var scope = NewDisposeScope();
                var (x, y) = data.Batch(idx, device);
                var e = forward(x);
                if (e.Representation != distance.Accepts)
                    throw new ArgumentException($"distance '{distance.Name}' accepts {distance.Accepts} but the model produces {e.Representation}.", nameof(distance));
                chunks.Add((start, BatchScope.MoveOut(e)));
            }
            foreach (var (ra, a) in chunks)
                foreach (var (cb, b) in chunks)
                {
                    using var scope = NewDisposeScope();
                    var block = distance.Pairwise(a, b).cpu().to_type(ScalarType.Float64);
                    var rows = (int)block.shape[0];
                    var cols = (int)block.shape[1];
                    var values = block.data<double>().ToArray();
                    for (var i = 0; i < rows; i++)
                        for (var j = 0; j < cols; j++) result[ra + i, cb + j] = values[i * cols + j];
                }
        }
        finally
        {
            foreach (var (_, b) in chunks) b.Dispose();
            model.train(wasTraining);
        }
        return (result, data.Labels.Select(l => (long)l).ToArray());
    }

    /// <summary>
    /// Refuses a validation set of fewer than two classes: MAP@R over one class counts every neighbour as relevant, so
    /// it is 1 whatever the model and would pick an arbitrary best epoch.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two classes (names valid).</exception>
    internal static void RequireTwoValidationClasses(IEnumerable<int> labels)
    {
        var classes = labels.Distinct().Count();
        if (classes < 2)
            throw new ArgumentException(
                $"valid has {classes} class; validation MAP@R needs at least 2 classes (with one class every neighbour is relevant and MAP@R is 1 whatever the model).",
                "valid");
    }

    /// <summary>The parameter list of a module as <c>name[shape]</c> strings (stored in the manifest).</summary>
    internal static List<string> Signature(nn.Module model) =>
        model.named_parameters().Select(p => $"{p.name}[{string.Join(",", p.parameter.shape)}]").ToList();

    /// <summary>Refuses a module whose parameter list differs from a checkpoint's (names model).</summary>
    internal static void CheckSignature(nn.Module model, List<string> recorded)
    {
        var signature = Signature(model);
        if (!signature.SequenceEqual(recorded))
            throw new ArgumentException(
                $"model has parameters [{string.Join(", ", signature)}] but the checkpoint's model has [{string.Join(", ", recorded)}]; pass a module of the same architecture.",
                nameof(model));
    }

    /// <summary>The run of a generic module with a catalog distance, or the user's own one when given (checkpoint kind metric-learning).</summary>
    private static ModuleRun Generic(nn.Module<Tensor, EmbeddingBatch> model, LabelledData train, LabelledData? valid, MetricLearningOptions options,
        IDistance? custom, string? directory, TrainingState state)
    {
        var distance = custom ?? Core.Distances.Create(options.Distance!, options.EffectiveDistanceSettings().ToCore());
        var trainPrint = directory is null ? null : train?.Fingerprint();
        var validPrint = directory is null ? null : valid?.Fingerprint();
        return new ModuleRun(model, x => model.forward(x).Core, train!, valid, options, distance, directory, state, CheckpointKind.MetricLearning,
            s => JsonSerializer.Serialize(new MetricLearningManifest
            {
                Parameters = Signature(model),
                Trainer = options,
                Distance = distance.Name,
                State = s,
                TrainData = trainPrint!,
                ValidData = validPrint,
            }, Checkpoint.Json));
    }

    /// <summary>
    /// The run of one module on labelled tensors: the loop of <see cref="MetricLearningRun"/> with batches of
    /// <see cref="LabelledData"/>, a forward function giving the embedding batch, any distance (a catalog distance, or a
    /// learned one that is part of the module) and a checkpoint of the one layout (<see cref="TrainingCheckpoint"/>)
    /// under a given kind and manifest.
    /// </summary>
    internal sealed class ModuleRun : MetricLearningRun
    {
        private readonly nn.Module module;
        private readonly Func<Tensor, IEmbeddingBatch> forward;
        private readonly LabelledData train;
        private readonly LabelledData? valid;
        private readonly CheckpointKind kind;
        private readonly Func<TrainingState, string> manifest;

        /// <param name="module">The module whose parameters are trained and checkpointed.</param>
        /// <param name="forward">Inputs [B, …] → the embedding batch.</param>
        /// <param name="train">Training data.</param>
        /// <param name="valid">Validation data, or null.</param>
        /// <param name="options">Validated options.</param>
        /// <param name="distance">The distance of the loss, the miner and validation.</param>
        /// <param name="directory">The checkpoint folder, or null.</param>
        /// <param name="state">The state to start from.</param>
        /// <param name="kind">The checkpoint kind.</param>
        /// <param name="manifest">The manifest's JSON for a copy of the state.</param>
        public ModuleRun(nn.Module module, Func<Tensor, IEmbeddingBatch> forward, LabelledData train, LabelledData? valid, MetricLearningOptions options,
            IDistance distance, string? directory, TrainingState state, CheckpointKind kind, Func<TrainingState, string> manifest)
            : base(module, Check(train, valid, options), options, distance, state, directory)
        {
            this.module = module;
            this.forward = forward;
            this.train = train;
            this.valid = valid;
            this.kind = kind;
            this.manifest = manifest;
        }

        private static IReadOnlyList<int> Check(LabelledData train, LabelledData? valid, MetricLearningOptions options)
        {
            ArgumentNullException.ThrowIfNull(train);
            if (valid is not null)
            {
                RequireTwoValidationClasses(valid.Labels);
                if (!valid.Inputs.shape.Skip(1).SequenceEqual(train.Inputs.shape.Skip(1)))
                    throw new ArgumentException($"valid has items of shape [{string.Join(", ", valid.Inputs.shape.Skip(1))}] but train has [{string.Join(", ", train.Inputs.shape.Skip(1))}].", nameof(valid));
            }
            var classes = train.Labels.Distinct().Count();
            if (classes < options.ClassesPerBatch)
                throw new ArgumentException($"train has {classes} classes but ClassesPerBatch = {options.ClassesPerBatch}; lower it.", nameof(train));
            return train.Labels;
        }

        protected override (IEmbeddingBatch Embeddings, Tensor Labels, IDisposable? Owner) ForwardBatch(int[] indices)
        {
            var (x, y) = train.Batch(indices, Device);
            return (forward(x), y, x);
        }

        protected override bool HasValidation => valid is not null;

        protected override (double[,] Distances, long[] Labels) ValidationDistances() =>
            DistanceMatrix(module, forward, valid!, Distance, Options.EvaluationBatchSize, Device);

        protected override void WriteCheckpoint()
        {
            var files = TrainingCheckpoint.Files(module, BestWeights, Optimizer);
            if (LossStateFile() is { } lossState) files.Add(lossState);
            CheckpointFolder.Write(Directory!, kind, files, manifest(State.Clone()), "checkpointDirectory");
        }

        /// <summary>Loads the weights, best weights and optimiser state of a checkpoint folder.</summary>
        public void LoadFrom(string dir)
        {
            BestWeights = TrainingCheckpoint.LoadWeights(module, dir);
            LoadLossState(dir);
            TrainingCheckpoint.LoadOptimizer(Optimizer, dir);
        }
    }
}
