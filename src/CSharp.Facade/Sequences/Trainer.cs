using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Sequences;

/// <summary>Options of <see cref="SequenceTrainer"/> (stored in a checkpoint's manifest).</summary>
public sealed record TrainerOptions
{
    /// <summary>The defaults, written once in <see cref="MetricLearningOptions"/>.</summary>
    private static readonly MetricLearningOptions D = new();

    /// <summary>The loss names (<see cref="Catalog.LossNames"/>).</summary>
    public static IReadOnlyList<string> LossNames => Catalog.LossNames;

    /// <summary>The miner names (<see cref="Catalog.MinerNames"/>): all, batch-hard, semi-hard.</summary>
    public static IReadOnlyList<string> MinerNames => Catalog.MinerNames;

    /// <summary>The distance name for <c>Distances.Create</c>; null = the head's default (quantile-w2, marginal-w2 or euclidean).</summary>
    public string? Distance { get; init; }
    /// <summary>The loss, a name of <see cref="Catalog.LossNames"/>. Default <see cref="Catalog.DefaultLoss"/> (triplet).</summary>
    public string Loss { get; init; } = D.Loss;
    /// <summary>The miner, a name of <see cref="Catalog.MinerNames"/>. Default <see cref="Catalog.DefaultMiner"/> (all: every valid tuple).</summary>
    public string Miner { get; init; } = D.Miner;
    /// <summary>The triplet / semi-hard margin (&gt; 0). Default 0.2.</summary>
    public double Margin { get; init; } = D.Margin;
    /// <summary>Triplet loss with the soft margin log(1 + exp(d_ap − d_an)) instead of the hinge (Hermans et al. 2017, §2). Default false.</summary>
    public bool SoftMargin { get; init; } = D.SoftMargin;
    /// <summary>With the loss <c>xbm</c>: the wrapped triplet or pair loss (<see cref="MetricLearningOptions.MemoryLoss"/>).</summary>
    public string MemoryLoss { get; init; } = D.MemoryLoss;
    /// <summary>With the loss <c>xbm</c>: the memory size in items, ≥ 0 (<see cref="MetricLearningOptions.MemorySize"/>); the
    /// memory is part of the resumable checkpoint.</summary>
    public int MemorySize { get; init; } = D.MemorySize;
    /// <summary>The settings of the other losses: temperatures, margins, scales (<see cref="Training.LossSettings"/>), each
    /// defaulting to the core's.</summary>
    public LossSettings LossSettings { get; init; } = D.LossSettings;
    /// <summary>The number of epochs (≥ 1). Default 10.</summary>
    public int Epochs { get; init; } = D.Epochs;
    /// <summary>Classes per M-per-class batch P (≥ 2). Default 8.</summary>
    public int ClassesPerBatch { get; init; } = D.ClassesPerBatch;
    /// <summary>Items per class M (≥ 2). Default 4.</summary>
    public int ItemsPerClass { get; init; } = D.ItemsPerClass;
    /// <summary>The peak learning rate (&gt; 0). Default 2e-3.</summary>
    public double LearningRate { get; init; } = D.LearningRate;
    /// <summary>AdamW's decoupled weight decay λ (≥ 0). Default 1e-4.</summary>
    public double WeightDecay { get; init; } = D.WeightDecay;
    /// <summary>The fraction of all steps used for the linear warm-up (in [0, 1)). Default 0.1.</summary>
    public double WarmupFraction { get; init; } = D.WarmupFraction;
    /// <summary>The gradient-norm clip (&gt; 0). Default 1.</summary>
    public double ClipNorm { get; init; } = D.ClipNorm;
    /// <summary>Stop after this many epochs without a better validation MAP@R; 0 = never. Default 0.</summary>
    public int Patience { get; init; }
    /// <summary>The seed of sampling (and of the distance's random directions). Default 0.</summary>
    public long Seed { get; init; }
    /// <summary>The device: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N. Default <see cref="Devices.Default"/> (auto).</summary>
    public string Device { get; init; } = D.Device;
    /// <summary>Also checkpoint every this many steps within an epoch; 0 = at epoch ends only.</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary>Sequences per forward pass when embedding the validation set (≥ 1). Default 256.</summary>
    public int EvaluationBatchSize { get; init; } = D.EvaluationBatchSize;
    /// <summary>The distance's settings, each defaulting to the catalog's; see
    /// <see cref="MetricLearningOptions.DistanceSettings"/> (the trainer's <see cref="Seed"/> seeds the directions).</summary>
    public DistanceSettings DistanceSettings { get; init; } = D.DistanceSettings;

    // Manifests written before the distance settings were grouped hold them as flat trainer fields: read into
    // DistanceSettings by the one contract modifier of Checkpoint.Json (LegacyTrainerFields).

    /// <summary>The settings the trainer creates its distance with (<see cref="MetricLearningOptions.EffectiveDistanceSettings"/>):
    /// <see cref="DistanceSettings"/> with the trainer's <see cref="Seed"/>.</summary>
    /// <returns>The settings.</returns>
    public DistanceSettings EffectiveDistanceSettings() => ToMetricLearning(Distance).EffectiveDistanceSettings();

    /// <summary>These settings as options of the generic <see cref="MetricLearningTrainer"/>.</summary>
    /// <param name="distance">The distance name (this record's <see cref="Distance"/>, or the head's default when that is null).</param>
    /// <returns>The generic options.</returns>
    public MetricLearningOptions ToMetricLearning(string? distance) => new()
    {
        Distance = distance, Loss = Loss, Miner = Miner, Margin = Margin, SoftMargin = SoftMargin, MemoryLoss = MemoryLoss,
        MemorySize = MemorySize, LossSettings = LossSettings, Epochs = Epochs,
        ClassesPerBatch = ClassesPerBatch, ItemsPerClass = ItemsPerClass, LearningRate = LearningRate, WeightDecay = WeightDecay,
        WarmupFraction = WarmupFraction, ClipNorm = ClipNorm, Patience = Patience, Seed = Seed, Device = Device,
        CheckpointEverySteps = CheckpointEverySteps, EvaluationBatchSize = EvaluationBatchSize, DistanceSettings = DistanceSettings,
    };

    /// <summary>Checks every field (the checks of <see cref="MetricLearningOptions.Validate"/>; a null <see cref="Distance"/> is allowed).</summary>
    /// <exception cref="ArgumentException">An unknown name or a value out of range (the message names the field).</exception>
    public void Validate() => ToMetricLearning(Distance).ValidateExceptDistancePresence();
}

/// <summary>The metrics of one finished epoch.</summary>
/// <param name="Epoch">The epoch number, from 1.</param>
/// <param name="TrainLoss">The mean training loss over the epoch's steps.</param>
/// <param name="ValidMapAtR">Validation MAP@R on the held-out classes, or null without a validation set.</param>
/// <param name="ValidPrecisionAt1">Validation precision@1, or null.</param>
/// <param name="ValidRPrecision">Validation R-precision, or null.</param>
/// <param name="LearningRate">The learning rate of the epoch's last step.</param>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double? ValidMapAtR, double? ValidPrecisionAt1, double? ValidRPrecision, double LearningRate);

/// <summary>A progress report: after every step (<see cref="Epoch"/> metrics null) and after every epoch.</summary>
/// <param name="Epoch">The current epoch, from 1.</param>
/// <param name="Epochs">The number of epochs planned.</param>
/// <param name="Step">Steps done in this epoch.</param>
/// <param name="StepsPerEpoch">Steps per epoch.</param>
/// <param name="Loss">The loss of the last step.</param>
/// <param name="LearningRate">The learning rate of the last step.</param>
/// <param name="EpochResult">The finished epoch's metrics, or null during the epoch.</param>
public sealed record TrainingProgress(int Epoch, int Epochs, int Step, int StepsPerEpoch, double Loss, double LearningRate, EpochMetrics? EpochResult)
{
    /// <summary>Sinkhorn solves run so far in this run (training steps and validation; 0 for other distances).</summary>
    public long SinkhornSolves { get; init; }
    /// <summary>Of those, the solves that stopped at <see cref="DistEmbed.DistanceSettings.SinkhornIterations"/> above <see cref="DistEmbed.DistanceSettings.Tolerance"/>.</summary>
    public long UnconvergedSinkhornSolves { get; init; }
    /// <summary>The largest final L1 marginal error of any Sinkhorn solve so far (0 for other distances).</summary>
    public double MaxSinkhornMarginalError { get; init; }
}

/// <summary>The outcome of a training run (<see cref="SequenceTrainer"/>, <see cref="MetricLearningTrainer"/>, <see cref="DeepBregmanTrainer"/>).</summary>
/// <param name="History">One entry per finished epoch.</param>
/// <param name="BestEpoch">The epoch with the best validation MAP@R (the model holds its weights), or the last epoch without validation.</param>
/// <param name="BestMapAtR">The best validation MAP@R, or null.</param>
/// <param name="StoppedEarly">True when early stopping ended the run.</param>
/// <param name="Steps">Optimiser steps taken in total.</param>
/// <param name="Seconds">Wall-clock seconds of this call.</param>
public sealed record TrainingResult(IReadOnlyList<EpochMetrics> History, int BestEpoch, double? BestMapAtR, bool StoppedEarly, long Steps, double Seconds);

/// <summary>
/// Trains a <see cref="SequenceEmbedder"/> with a metric-learning loss over a distance between its embeddings:
/// M-per-class batches, a miner, AdamW with linear warm-up and cosine decay, gradient clipping, validation MAP@R on
/// held-out classes after each epoch, early stopping, and resumable checkpoints. It is a use of the one training loop
/// of <see cref="MetricLearningTrainer"/> (the same schedule, step, validation and checkpoint timing) over sequence batches.
/// </summary>
/// <remarks>
/// <para>Learning rate at step s of S (warm-up W = ⌊f S⌋ steps): η_s = η (s + 1)/W for s &lt; W, else
/// η ½ (1 + cos(π (s − W)/(S − W))) [1, eq. 5].</para>
/// <para>Determinism: the parameters are initialised from a seed (<see cref="SequenceEmbedder.Create"/>), the batches
/// come from <c>Samplers.MPerClassEpoch</c> seeded per epoch by a <see cref="SplitMix64"/> stream whose state is
/// checkpointed, and nothing else is random; on the CPU a run and a run resumed from any of its checkpoints end with
/// identical weights and metrics.</para>
/// <para>Checkpoint directory (written to a temporary sibling, then renamed into place): <c>manifest.json</c>
/// (<see cref="CheckpointManifest"/>), <c>model.dat</c> (TorchSharp state dict of the current weights),
/// <c>best.dat</c> (the best epoch's weights), <c>optimizer.dat</c> (<see cref="AdamW"/> state).</para>
/// [1] I. Loshchilov, F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017, eq. 5.
/// [2] A. Abdelwahab, N. Landwehr, arXiv:1912.01933 (training distributional sequence embeddings end to end).
/// </remarks>
public static class SequenceTrainer
{
    /// <summary>Trains a model from its current weights, writing checkpoints to <paramref name="checkpointDirectory"/> if given.</summary>
    /// <param name="model">The model (moved to the options' device).</param>
    /// <param name="train">Training sequences, C = the model's input channels, at least <c>ClassesPerBatch</c> classes.</param>
    /// <param name="valid">Validation sequences (held-out classes, each with ≥ 2 items), or null.</param>
    /// <param name="options">Trainer options.</param>
    /// <param name="checkpointDirectory">The checkpoint directory (replaced at each checkpoint), or null for none. It must
    /// be absent, empty, or (with <paramref name="overwrite"/>) a sequence-embedder checkpoint; see <see cref="CheckpointFolder"/>.</param>
    /// <param name="standardizerJson">The JSON of the standardiser applied to the data, stored in the manifest, or null.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">Checked before every step; cancelling throws <see cref="OperationCanceledException"/> (the last checkpoint stays valid).</param>
    /// <param name="overwrite">Replace a checkpoint already in <paramref name="checkpointDirectory"/>; without it such a
    /// checkpoint is kept and the call fails before training.</param>
    /// <returns>The training history; the model holds the best epoch's weights.</returns>
    /// <exception cref="ArgumentException">Invalid options, a channel mismatch, a distance that does not accept the head's
    /// representation, too few classes (train fewer than ClassesPerBatch; valid fewer than 2, which would make validation MAP@R 1 whatever the model), or a checkpoint directory that is refused (it holds a checkpoint and
    /// <paramref name="overwrite"/> is false, or holds anything else, or is the working folder).</exception>
    public static TrainingResult Train(SequenceEmbedder model, SequenceDataset train, SequenceDataset? valid, TrainerOptions options,
        string? checkpointDirectory = null, string? standardizerJson = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var state = new TrainingState { RngState = unchecked((ulong)options.Seed) };
        var run = new Run(model, train, valid, options, checkpointDirectory, standardizerJson, state);
        if (checkpointDirectory is not null)
            CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.SequenceEmbedder, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                null, nameof(checkpointDirectory));
        return run.Execute(progress, cancellationToken);
    }

    /// <summary>
    /// Trains a model from its current weights under your own distance — a <see cref="CustomDistance"/> (converted
    /// implicitly) or <see cref="Distance.Custom"/> — instead of a catalog name: the loss, the miner and the validation
    /// MAP@R all use it (as <see cref="MetricLearningTrainer"/>'s overload that takes a distance). The checkpoint records
    /// its name (<see cref="CheckpointManifest.DistanceIsCustom"/>); a checkpoint cannot hold a function, so resume with
    /// <see cref="Resume(string, Distance, SequenceDataset, SequenceDataset?, IProgress{TrainingProgress}?, CancellationToken, int?)"/>,
    /// passing the same distance.
    /// </summary>
    /// <param name="model">The model (moved to the options' device).</param>
    /// <param name="distance">Your own distance, accepting the head's representation. Its name must not be a catalog name
    /// (a checkpoint would be taken for the catalog's); a catalog distance is chosen by <see cref="TrainerOptions.Distance"/>
    /// and its settings instead.</param>
    /// <param name="train">Training sequences, C = the model's input channels, at least <c>ClassesPerBatch</c> classes.</param>
    /// <param name="valid">Validation sequences (held-out classes), or null.</param>
    /// <param name="options">Trainer options with <see cref="TrainerOptions.Distance"/> null (<see cref="TrainerOptions.DistanceSettings"/> is not read).</param>
    /// <param name="checkpointDirectory">The checkpoint directory, or null for none (as for the catalog overload).</param>
    /// <param name="standardizerJson">The JSON of the standardiser applied to the data, stored in the manifest, or null.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">Checked before every step; cancelling throws <see cref="OperationCanceledException"/> (the last checkpoint stays valid).</param>
    /// <param name="overwrite">Replace a checkpoint already in <paramref name="checkpointDirectory"/>.</param>
    /// <returns>The training history; the model holds the best epoch's weights.</returns>
    /// <exception cref="ArgumentException">A catalog distance, a custom one named like a catalog distance or one that does
    /// not accept the head's representation (names distance), <see cref="TrainerOptions.Distance"/> set (names options),
    /// and the refusals of the catalog overload.</exception>
    public static TrainingResult Train(SequenceEmbedder model, Distance distance, SequenceDataset train, SequenceDataset? valid, TrainerOptions options,
        string? checkpointDirectory = null, string? standardizerJson = null, IProgress<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var custom = MetricLearningTrainer.CheckCustom(distance);
        if (options.Distance is { } named)
            throw new ArgumentException(
                $"options.Distance = '{named}' but the run's distance is the one passed, '{custom.Name}'; leave options.Distance null.", nameof(options));
        var state = new TrainingState { RngState = unchecked((ulong)options.Seed) };
        var run = new Run(model, train, valid, options, checkpointDirectory, standardizerJson, state, custom);
        if (checkpointDirectory is not null)
            CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.SequenceEmbedder, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                null, nameof(checkpointDirectory));
        return run.Execute(progress, cancellationToken);
    }

    /// <summary>Resumes the run whose last checkpoint is in <paramref name="checkpointDirectory"/>, with the same data.</summary>
    /// <param name="checkpointDirectory">A directory written by <see cref="Train(SequenceEmbedder, SequenceDataset, SequenceDataset?, TrainerOptions, string?, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>.</param>
    /// <param name="train">The same training data as the original run.</param>
    /// <param name="valid">The same validation data, or null.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">As for <see cref="Train(SequenceEmbedder, SequenceDataset, SequenceDataset?, TrainerOptions, string?, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>.</param>
    /// <param name="epochs">The total number of epochs to reach, or null for the checkpoint's; more than the checkpoint's
    /// extends the run (the cosine schedule is stretched over the new total from the current step on).</param>
    /// <returns>The model (best weights) and the full history, including the epochs before the checkpoint.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory, or no checkpoint in it.</exception>
    /// <exception cref="FileNotFoundException">The directory lacks a checkpoint file.</exception>
    /// <exception cref="InvalidDataException">An invalid manifest, or a truncated or corrupt checkpoint file (named).</exception>
    /// <exception cref="ArgumentException">The data differ from the checkpoint's (the message says what changed),
    /// <paramref name="epochs"/> is below the epochs already finished, or the run was trained under your own distance,
    /// which must be passed again (names distance; see the overload that takes it).</exception>
    public static (SequenceEmbedder Model, TrainingResult Result) Resume(string checkpointDirectory, SequenceDataset train, SequenceDataset? valid,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, int? epochs = null) =>
        ResumeWith(checkpointDirectory, null, train, valid, progress, cancellationToken, epochs);

    /// <summary>Resumes a run trained under your own distance (<see cref="Train(SequenceEmbedder, Distance, SequenceDataset, SequenceDataset?, TrainerOptions, string?, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>):
    /// a checkpoint records the distance's name but cannot hold its code, so the same distance is passed again.</summary>
    /// <param name="checkpointDirectory">A directory written by that run.</param>
    /// <param name="distance">The same distance (the checkpoint's name).</param>
    /// <param name="train">The same training data as the original run.</param>
    /// <param name="valid">The same validation data, or null.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">As for <see cref="Train(SequenceEmbedder, SequenceDataset, SequenceDataset?, TrainerOptions, string?, string?, IProgress{TrainingProgress}?, CancellationToken, bool)"/>.</param>
    /// <param name="epochs">The total number of epochs to reach, or null for the checkpoint's.</param>
    /// <returns>The model (best weights) and the full history, including the epochs before the checkpoint.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory, or no checkpoint in it.</exception>
    /// <exception cref="FileNotFoundException">The directory lacks a checkpoint file.</exception>
    /// <exception cref="InvalidDataException">An invalid manifest, or a truncated or corrupt checkpoint file (named).</exception>
    /// <exception cref="ArgumentException">A distance of another name than the checkpoint's, a catalog distance, or a
    /// checkpoint of a catalog distance (names distance); other data or too few epochs, as for the catalog overload.</exception>
    public static (SequenceEmbedder Model, TrainingResult Result) Resume(string checkpointDirectory, Distance distance, SequenceDataset train, SequenceDataset? valid,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, int? epochs = null) =>
        ResumeWith(checkpointDirectory, MetricLearningTrainer.CheckCustom(distance), train, valid, progress, cancellationToken, epochs);

    private static (SequenceEmbedder Model, TrainingResult Result) ResumeWith(string checkpointDirectory, IDistance? custom, SequenceDataset train, SequenceDataset? valid,
        IProgress<TrainingProgress>? progress, CancellationToken cancellationToken, int? epochs)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.SequenceEmbedder, CheckpointMode.Resume, null, nameof(checkpointDirectory));
        var manifest = Checkpoint.ReadManifest(checkpointDirectory);
        MetricLearningTrainer.CheckResumedDistance(custom, manifest.DistanceIsCustom, manifest.Distance, checkpointDirectory,
            "SequenceTrainer.Resume(checkpointDirectory, distance, train, valid, …)", "SequenceTrainer.Resume(checkpointDirectory, train, valid, …)");
        CheckSameData("train", train, manifest.TrainData);
        if (manifest.TrainData is not null)
        {
            if (valid is null && manifest.ValidData is not null)
                throw new ArgumentException("valid is null but the checkpoint was trained with validation data; pass the same validation data.", nameof(valid));
            if (valid is not null && manifest.ValidData is null)
                throw new ArgumentException("valid is given but the checkpoint was trained without validation data; pass null.", nameof(valid));
            if (valid is not null) CheckSameData("valid", valid, manifest.ValidData);
        }
        var trainer = manifest.Trainer;
        if (epochs is { } e)
        {
            if (e < manifest.State.Epoch)
                throw new ArgumentException($"epochs = {e}, but the checkpoint has already finished {manifest.State.Epoch} epochs; give at least that many.", nameof(epochs));
            trainer = trainer with { Epochs = e };
        }
        var weights = Path.Combine(checkpointDirectory, Checkpoint.ModelFile);
        if (!File.Exists(weights)) throw new FileNotFoundException($"'{checkpointDirectory}' has no {Checkpoint.ModelFile}.", weights);
        Checkpoint.CheckWeightsFileSize(manifest.Model, weights);
        var model = SequenceEmbedder.Create(manifest.Model, 0);
        var run = new Run(model, train, valid, trainer, checkpointDirectory, manifest.Standardizer, manifest.State, custom);
        run.LoadFrom(checkpointDirectory);
        return (model, run.Execute(progress, cancellationToken));
    }

    private static void CheckSameData(string name, SequenceDataset data, DatasetFingerprint? recorded)
    {
        if (recorded is null) return; // a checkpoint written before fingerprints existed: nothing to compare
        var differences = DatasetFingerprint.Of(data).Differences(recorded);
        if (differences.Count > 0)
            throw new ArgumentException($"{name} is not the data the checkpoint was trained on: {string.Join("; ", differences)}. Resume with the same data, or train afresh.", name);
    }

    /// <summary>The learning rate of step s (from 0) of S with W warm-up steps (see the class remarks).</summary>
    /// <param name="peak">η.</param>
    /// <param name="step">s.</param>
    /// <param name="totalSteps">S ≥ 1.</param>
    /// <param name="warmupSteps">W ≥ 0.</param>
    /// <returns>η_s.</returns>
    public static double LearningRateAt(double peak, long step, long totalSteps, long warmupSteps) =>
        MetricLearningTrainer.LearningRateAt(peak, step, totalSteps, warmupSteps);

    /// <summary>Retrieval metrics of a data set's embeddings among themselves (query = gallery, self excluded).</summary>
    /// <param name="model">The model.</param>
    /// <param name="data">The sequences (each class with ≥ 2 items for a defined MAP@R).</param>
    /// <param name="distance">A distance accepting the model's representation.</param>
    /// <param name="batchSize">Sequences per forward pass.</param>
    /// <param name="device">The device the batches go to, the model's; null = the device the model's parameters are on.</param>
    /// <returns>The distance matrix [N, N] (float64) and the labels.</returns>
    public static (double[,] Distances, long[] Labels) DistanceMatrix(SequenceEmbedder model, SequenceDataset data, Distance distance, int batchSize = 256, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(distance);
        return CoreDistanceMatrix(model, data, distance.Core, batchSize, device);
    }

    internal static (double[,] Distances, long[] Labels) CoreDistanceMatrix(SequenceEmbedder model, SequenceDataset data, IDistance distance, int batchSize, Device? device)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(distance);
        using var embeddings = model.EmbedAll(data, batchSize, device);
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        var m = distance.Pairwise(embeddings.Core, embeddings.Core).cpu().to_type(ScalarType.Float64);
        var n = data.Count;
        var flat = m.data<double>().ToArray();
        var result = new double[n, n];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return (result, data.Labels.Select(l => (long)l).ToArray());
    }

    /// <summary>The sequence use of the one metric-learning loop (<see cref="MetricLearningRun"/>): sequence batches,
    /// validation through <see cref="DistanceMatrix"/>, sequence-embedder checkpoints.</summary>
    private sealed class Run : MetricLearningRun
    {
        private readonly SequenceEmbedder model;
        private readonly SequenceDataset train;
        private readonly SequenceDataset? valid;
        private readonly TrainerOptions options;
        private readonly string? standardizer;
        private readonly DatasetFingerprint? trainPrint;
        private readonly DatasetFingerprint? validPrint;
        private readonly bool customDistance;

        // custom: the user's own distance (checked by MetricLearningTrainer.CheckCustom), or null for the options' catalog distance.
        public Run(SequenceEmbedder model, SequenceDataset train, SequenceDataset? valid, TrainerOptions options, string? directory,
            string? standardizer, TrainingState state, IDistance? custom = null)
            : this(model, train, valid, options, directory, standardizer, state, Check(model, train, valid, options, custom))
        {
            customDistance = custom is not null;
        }

        private Run(SequenceEmbedder model, SequenceDataset train, SequenceDataset? valid, TrainerOptions options, string? directory,
            string? standardizer, TrainingState state, (MetricLearningOptions Settings, IDistance Distance) checkedSettings)
            : base(model, train.Labels, checkedSettings.Settings, checkedSettings.Distance, state, directory)
        {
            this.model = model;
            this.train = train;
            this.valid = valid;
            this.options = options;
            this.standardizer = standardizer;
            if (directory is not null)
            {
                trainPrint = DatasetFingerprint.Of(train);
                validPrint = valid is null ? null : DatasetFingerprint.Of(valid);
            }
        }

        /// <summary>The checks of the arguments, in the order the messages promise; the generic settings and the distance.</summary>
        private static (MetricLearningOptions, IDistance) Check(SequenceEmbedder model, SequenceDataset train, SequenceDataset? valid, TrainerOptions options, IDistance? custom)
        {
            ArgumentNullException.ThrowIfNull(train);
            options.Validate();
            if (train.Channels != model.Options.InputChannels)
                throw new ArgumentException($"train has {train.Channels} channels but the model expects {model.Options.InputChannels}.", nameof(train));
            if (valid is not null && valid.Channels != model.Options.InputChannels)
                throw new ArgumentException($"valid has {valid.Channels} channels but the model expects {model.Options.InputChannels}.", nameof(valid));
            if (valid is not null) MetricLearningTrainer.RequireTwoValidationClasses(valid.Labels);
            var classes = train.Labels.Distinct().Count();
            if (classes < options.ClassesPerBatch)
                throw new ArgumentException($"train has {classes} classes but ClassesPerBatch = {options.ClassesPerBatch}; lower it.", nameof(train));
            if (custom is not null)
            {
                // The user's distance: options.Distance stays null (checked by the caller; a manifest records it so).
                if ((Representation)(int)custom.Accepts != model.Representation)
                    throw new ArgumentException(
                        $"distance '{custom.Name}' accepts {custom.Accepts} but the '{model.Options.Head}' head gives {model.Representation}.", "distance");
                return (options.ToMetricLearning(null), custom);
            }
            var distanceName = options.Distance ?? model.Options.DefaultDistance();
            var settings = options.ToMetricLearning(distanceName);
            var distance = Distances.Create(distanceName, settings.EffectiveDistanceSettings().ToCore());
            if ((Representation)(int)distance.Accepts != model.Representation)
                throw new ArgumentException(
                    $"distance '{distanceName}' accepts {distance.Accepts} but the '{model.Options.Head}' head gives {model.Representation}.", nameof(options));
            return (settings, distance);
        }

        public void LoadFrom(string dir)
        {
            Checkpoint.LoadWeights(model, Path.Combine(dir, Checkpoint.ModelFile));
            LoadLossState(dir);
            TrainingCheckpoint.LoadOptimizer(Optimizer, dir);
            var best = Path.Combine(dir, Checkpoint.BestFile);
            if (File.Exists(best))
            {
                // Checked now, not when the run ends: a corrupt best.dat must not cost the resumed epochs.
                using var probe = SequenceEmbedder.Create(model.Options, 0);
                Checkpoint.LoadWeights(probe, best);
                BestWeights = File.ReadAllBytes(best);
            }
            else BestWeights = null;
        }

        protected override (IEmbeddingBatch Embeddings, Tensor Labels, IDisposable? Owner) ForwardBatch(int[] indices)
        {
            var batch = train.ToBatch(indices, Device);
            return (model.forward(batch.Features, batch.Mask).Core, batch.Labels, batch);
        }

        protected override bool HasValidation => valid is not null;

        protected override (double[,] Distances, long[] Labels) ValidationDistances() =>
            CoreDistanceMatrix(model, valid!, Distance, options.EvaluationBatchSize, Device);

        protected override void WriteCheckpoint()
        {
            var manifest = new CheckpointManifest
            {
                Model = model.Options,
                Trainer = options,
                Standardizer = standardizer,
                Distance = Distance.Name,
                DistanceIsCustom = customDistance,
                State = State.Clone(),
                TrainData = trainPrint,
                ValidData = validPrint,
            };
            Checkpoint.WriteWithLossState(Directory!, manifest, model, Optimizer, BestWeights, LossStateFile());
        }
    }
}
