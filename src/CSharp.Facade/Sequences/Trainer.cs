using System.Diagnostics;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Sequences;

/// <summary>Options of <see cref="SequenceTrainer"/> (stored in a checkpoint's manifest).</summary>
public sealed record TrainerOptions
{
    /// <summary>The loss names (<see cref="Catalog.LossNames"/>): triplet, contrastive, ntxent, multi-similarity.</summary>
    public static IReadOnlyList<string> LossNames => Catalog.LossNames;

    /// <summary>The miner names (<see cref="Catalog.MinerNames"/>): all, batch-hard, semi-hard.</summary>
    public static IReadOnlyList<string> MinerNames => Catalog.MinerNames;

    /// <summary>The distance name for <c>Distances.Create</c>; null = the head's default (quantile-w2, marginal-w2 or euclidean).</summary>
    public string? Distance { get; init; }
    /// <summary>The loss, a name of <see cref="Catalog.LossNames"/>. Default <see cref="Catalog.DefaultLoss"/> (triplet).</summary>
    public string Loss { get; init; } = Catalog.DefaultLoss;
    /// <summary>The miner, a name of <see cref="Catalog.MinerNames"/>. Default <see cref="Catalog.DefaultMiner"/> (all: every valid tuple).</summary>
    public string Miner { get; init; } = Catalog.DefaultMiner;
    /// <summary>The triplet / semi-hard margin (&gt; 0). Default 0.2.</summary>
    public double Margin { get; init; } = 0.2;
    /// <summary>Triplet loss with the soft margin log(1 + exp(d_ap − d_an)) instead of the hinge (Hermans et al. 2017, §2). Default false.</summary>
    public bool SoftMargin { get; init; }
    /// <summary>The number of epochs (≥ 1). Default 10.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Classes per M-per-class batch P (≥ 2). Default 8.</summary>
    public int ClassesPerBatch { get; init; } = 8;
    /// <summary>Items per class M (≥ 2). Default 4.</summary>
    public int ItemsPerClass { get; init; } = 4;
    /// <summary>The peak learning rate (&gt; 0). Default 2e-3.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>AdamW's decoupled weight decay λ (≥ 0). Default 1e-4.</summary>
    public double WeightDecay { get; init; } = 1e-4;
    /// <summary>The fraction of all steps used for the linear warm-up (in [0, 1)). Default 0.1.</summary>
    public double WarmupFraction { get; init; } = 0.1;
    /// <summary>The gradient-norm clip (&gt; 0). Default 1.</summary>
    public double ClipNorm { get; init; } = 1.0;
    /// <summary>Stop after this many epochs without a better validation MAP@R; 0 = never. Default 0.</summary>
    public int Patience { get; init; }
    /// <summary>The seed of sampling (and of the distance's random directions). Default 0.</summary>
    public long Seed { get; init; }
    /// <summary>The device: auto, cpu, cuda or cuda:N. Default cpu.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Also checkpoint every this many steps within an epoch; 0 = at epoch ends only.</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary>Sequences per forward pass when embedding the validation set (≥ 1). Default 256.</summary>
    public int EvaluationBatchSize { get; init; } = 256;
    /// <summary>The most directions <see cref="Projections"/> may ask for: 65,536 (the bound of <c>Distances.Create</c>).</summary>
    public const int MaxProjections = 65536;

    /// <summary>
    /// The number L of random directions of <c>sliced-w2</c> / <c>max-sliced-w2</c> (1 ≤ L ≤ <see cref="MaxProjections"/>). Default 64. The trainer asks
    /// for a fresh draw each step (<see cref="ISeededDistance.WithFreshDirections"/> with a seed derived from
    /// <see cref="Seed"/> and the step, so a resumed run draws the same directions); validation uses the draw of <see cref="Seed"/>.
    /// </summary>
    public int Projections { get; init; } = 64;
    /// <summary>The entropic regularisation ε of <c>sinkhorn</c> / <c>sinkhorn-divergence</c>, in units of the squared Euclidean cost between features (finite, &gt; 0). Default 0.1.</summary>
    public double SinkhornEpsilon { get; init; } = 0.1;
    /// <summary>The Sinkhorn iteration cap at the target ε (≥ 1). Default 1000.</summary>
    public int SinkhornMaxIterations { get; init; } = 1000;
    /// <summary>The Sinkhorn stopping tolerance on the L1 marginal error (finite, &gt; 0). Default 1e-6.</summary>
    public double SinkhornTolerance { get; init; } = 1e-6;
    /// <summary>
    /// The Sinkhorn ε-scaling ratio q: 0 (default) iterates at ε only; q ∈ (0, 1) anneals from the largest cost down
    /// to ε by factors q, one iteration per level (Schmitzer 2019, §3.2; GeomLoss's <c>scaling</c>). For training with
    /// the Sinkhorn divergence, q = 0.5 with <see cref="SinkhornMaxIterations"/> = 20 costs a few dozen iterations per step.
    /// </summary>
    public double SinkhornEpsilonScaling { get; init; }

    /// <summary>The options of <c>Distances.Create</c> these settings describe (seed, directions, Sinkhorn parameters).</summary>
    /// <returns>A new <see cref="DistanceOptions"/>.</returns>
    public DistanceOptions CreateDistanceOptions() => new()
    {
        Seed = Seed,
        Projections = Projections,
        Epsilon = SinkhornEpsilon,
        MaxIterations = SinkhornMaxIterations,
        Tolerance = SinkhornTolerance,
        EpsilonScaling = SinkhornEpsilonScaling,
        // The trainer reports unconverged solves in its progress reports and the manifest instead of on stderr.
        OnNonConvergence = SinkhornNonConvergence.Ignore,
    };

    /// <summary>Checks every field.</summary>
    /// <exception cref="ArgumentException">An unknown name or a value out of range (the message names the field).</exception>
    public void Validate()
    {
        if (!LossNames.Contains(Loss)) throw new ArgumentException($"unknown loss '{Loss}'; known: {string.Join(", ", LossNames)}.", nameof(Loss));
        if (!MinerNames.Contains(Miner)) throw new ArgumentException($"unknown miner '{Miner}'; known: {string.Join(", ", MinerNames)}.", nameof(Miner));
        if (Distance is not null && !Distances.Names.Contains(Distance))
            throw new ArgumentException($"unknown distance '{Distance}'; known: {string.Join(", ", Distances.Names)}.", nameof(Distance));
        Require.Positive(nameof(Margin), Margin);
        Require.AtLeast(nameof(Epochs), Epochs, 1);
        Require.AtLeast(nameof(ClassesPerBatch), ClassesPerBatch, 2);
        Require.AtLeast(nameof(ItemsPerClass), ItemsPerClass, 2);
        Require.Positive(nameof(LearningRate), LearningRate);
        Require.NonNegative(nameof(WeightDecay), WeightDecay);
        if (!(WarmupFraction >= 0 && WarmupFraction < 1))
            throw new ArgumentException($"WarmupFraction = {WarmupFraction}; it must lie in [0, 1).", nameof(WarmupFraction));
        Require.Positive(nameof(ClipNorm), ClipNorm);
        Require.AtLeast(nameof(Patience), Patience, 0);
        Require.Between(nameof(Projections), Projections, 1, MaxProjections);
        Require.Positive(nameof(SinkhornEpsilon), SinkhornEpsilon);
        Require.AtLeast(nameof(SinkhornMaxIterations), SinkhornMaxIterations, 1);
        Require.Positive(nameof(SinkhornTolerance), SinkhornTolerance);
        if (!(SinkhornEpsilonScaling >= 0 && SinkhornEpsilonScaling < 1))
            throw new ArgumentException($"SinkhornEpsilonScaling = {SinkhornEpsilonScaling}; it must lie in [0, 1): 0 turns ε-scaling off.", nameof(SinkhornEpsilonScaling));
        Require.AtLeast(nameof(CheckpointEverySteps), CheckpointEverySteps, 0);
        Require.AtLeast(nameof(EvaluationBatchSize), EvaluationBatchSize, 1);
    }
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
    /// <summary>Of those, the solves that stopped at <see cref="TrainerOptions.SinkhornMaxIterations"/> above <see cref="TrainerOptions.SinkhornTolerance"/>.</summary>
    public long UnconvergedSinkhornSolves { get; init; }
    /// <summary>The largest final L1 marginal error of any Sinkhorn solve so far (0 for other distances).</summary>
    public double MaxSinkhornMarginalError { get; init; }
}

/// <summary>The outcome of <see cref="SequenceTrainer.Train"/>.</summary>
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
/// held-out classes after each epoch, early stopping, and resumable checkpoints.
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

    /// <summary>Resumes the run whose last checkpoint is in <paramref name="checkpointDirectory"/>, with the same data.</summary>
    /// <param name="checkpointDirectory">A directory written by <see cref="Train"/>.</param>
    /// <param name="train">The same training data as the original run.</param>
    /// <param name="valid">The same validation data, or null.</param>
    /// <param name="progress">Progress sink, or null.</param>
    /// <param name="cancellationToken">As for <see cref="Train"/>.</param>
    /// <param name="epochs">The total number of epochs to reach, or null for the checkpoint's; more than the checkpoint's
    /// extends the run (the cosine schedule is stretched over the new total from the current step on).</param>
    /// <returns>The model (best weights) and the full history, including the epochs before the checkpoint.</returns>
    /// <exception cref="DirectoryNotFoundException">No such directory, or no checkpoint in it.</exception>
    /// <exception cref="FileNotFoundException">The directory lacks a checkpoint file.</exception>
    /// <exception cref="InvalidDataException">An invalid manifest, or a truncated or corrupt checkpoint file (named).</exception>
    /// <exception cref="ArgumentException">The data differ from the checkpoint's (the message says what changed), or
    /// <paramref name="epochs"/> is below the epochs already finished.</exception>
    public static (SequenceEmbedder Model, TrainingResult Result) Resume(string checkpointDirectory, SequenceDataset train, SequenceDataset? valid,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, int? epochs = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.SequenceEmbedder, CheckpointMode.Resume, null, nameof(checkpointDirectory));
        var manifest = Checkpoint.ReadManifest(checkpointDirectory);
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
        var run = new Run(model, train, valid, trainer, checkpointDirectory, manifest.Standardizer, manifest.State);
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
    public static double LearningRateAt(double peak, long step, long totalSteps, long warmupSteps)
    {
        if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
        var span = Math.Max(1, totalSteps - warmupSteps);
        var progress = Math.Min(1.0, (double)(step - warmupSteps) / span);
        return peak * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }

    /// <summary>Retrieval metrics of a data set's embeddings among themselves (query = gallery, self excluded).</summary>
    /// <param name="model">The model.</param>
    /// <param name="data">The sequences (each class with ≥ 2 items for a defined MAP@R).</param>
    /// <param name="distance">A distance accepting the model's representation.</param>
    /// <param name="batchSize">Sequences per forward pass.</param>
    /// <param name="device">The model's device, or null for the CPU.</param>
    /// <returns>The distance matrix [N, N] (float64) and the labels.</returns>
    public static (double[,] Distances, long[] Labels) DistanceMatrix(SequenceEmbedder model, SequenceDataset data, IDistance distance, int batchSize = 256, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(distance);
        using var embeddings = model.EmbedAll(data, batchSize, device);
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        var m = distance.Pairwise(embeddings, embeddings).cpu().to_type(ScalarType.Float64);
        var n = data.Count;
        var flat = m.data<double>().ToArray();
        var result = new double[n, n];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return (result, data.Labels.Select(l => (long)l).ToArray());
    }

    private sealed class Run
    {
        private readonly SequenceEmbedder model;
        private readonly SequenceDataset train;
        private readonly SequenceDataset? valid;
        private readonly TrainerOptions options;
        private readonly string? directory;
        private readonly string? standardizer;
        private readonly TrainingState state;
        private readonly Device device;
        private readonly IDistance distance;
        private readonly IMetricLoss loss;
        private readonly IMiner miner;
        private readonly SinkhornDiagnostics? sinkhorn;
        private readonly AdamW optimizer;
        private readonly long[] labels;
        private readonly int stepsPerEpoch;
        private byte[]? bestWeights;
        private readonly DatasetFingerprint? trainPrint;
        private readonly DatasetFingerprint? validPrint;

        public Run(SequenceEmbedder model, SequenceDataset train, SequenceDataset? valid, TrainerOptions options, string? directory,
            string? standardizer, TrainingState state)
        {
            ArgumentNullException.ThrowIfNull(train);
            options.Validate();
            if (train.Channels != model.Options.InputChannels)
                throw new ArgumentException($"train has {train.Channels} channels but the model expects {model.Options.InputChannels}.", nameof(train));
            if (valid is not null && valid.Channels != model.Options.InputChannels)
                throw new ArgumentException($"valid has {valid.Channels} channels but the model expects {model.Options.InputChannels}.", nameof(valid));
            if (valid is not null)
            {
                // MAP@R over one class counts every neighbour as relevant: it is 1 whatever the model, so a
                // one-class validation set would report a perfect score and pick an arbitrary best epoch.
                var validClasses = valid.Labels.Distinct().Count();
                if (validClasses < 2)
                    throw new ArgumentException(
                        $"valid has {validClasses} class; validation MAP@R needs at least 2 classes (with one class every neighbour is relevant and MAP@R is 1 whatever the model).",
                        nameof(valid));
            }
            var classes = train.Labels.Distinct().Count();
            if (classes < options.ClassesPerBatch)
                throw new ArgumentException($"train has {classes} classes but ClassesPerBatch = {options.ClassesPerBatch}; lower it.", nameof(train));
            this.model = model;
            this.train = train;
            this.valid = valid;
            this.options = options;
            this.directory = directory;
            this.standardizer = standardizer;
            this.state = state;
            device = NativeRuntime.ResolveDevice(options.Device);
            var distanceName = options.Distance ?? model.Options.DefaultDistance();
            distance = Distances.Create(distanceName, options.CreateDistanceOptions());
            if (distance.Accepts != model.Representation)
                throw new ArgumentException(
                    $"distance '{distanceName}' accepts {distance.Accepts} but the '{model.Options.Head}' head gives {model.Representation}.", nameof(options));
            loss = Catalog.CreateLoss(options.Loss, new LossOptions
            {
                Triplet = new TripletMarginLossOptions
                {
                    Margin = options.Margin, Penalty = options.SoftMargin ? TripletPenalty.SoftPlus : TripletPenalty.Hinge,
                },
            });
            miner = Catalog.CreateMiner(options.Miner, new MinerOptions { Margin = options.Margin });
            sinkhorn = (distance as ISinkhornDistance)?.Diagnostics;
            model.to(device);
            optimizer = new AdamW(model.parameters(), options.WeightDecay);
            labels = train.Labels.Select(l => (long)l).ToArray();
            stepsPerEpoch = Math.Max(1, train.Count / (options.ClassesPerBatch * options.ItemsPerClass));
            if (directory is not null)
            {
                trainPrint = DatasetFingerprint.Of(train);
                validPrint = valid is null ? null : DatasetFingerprint.Of(valid);
            }
        }

        public void LoadFrom(string dir)
        {
            Checkpoint.LoadWeights(model, Path.Combine(dir, Checkpoint.ModelFile));
            var optimizerFile = Path.Combine(dir, Checkpoint.OptimizerFile);
            if (!File.Exists(optimizerFile))
                throw new FileNotFoundException($"'{dir}' has no {Checkpoint.OptimizerFile}; it holds a model but no resumable optimiser state.", optimizerFile);
            try
            {
                using var s = File.OpenRead(optimizerFile);
                optimizer.Load(s);
                if (s.Position != s.Length) throw new InvalidDataException($"{s.Length - s.Position} bytes follow the optimiser state.");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                throw Checkpoint.Corrupt(optimizerFile, e);
            }
            var best = Path.Combine(dir, Checkpoint.BestFile);
            if (File.Exists(best))
            {
                // Checked now, not when the run ends: a corrupt best.dat must not cost the resumed epochs.
                using var probe = SequenceEmbedder.Create(model.Options, 0);
                Checkpoint.LoadWeights(probe, best);
                bestWeights = File.ReadAllBytes(best);
            }
            else bestWeights = null;
        }

        public TrainingResult Execute(IProgress<TrainingProgress>? progress, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            var rng = new SplitMix64(state.RngState);
            var total = (long)options.Epochs * stepsPerEpoch;
            var warmup = (long)Math.Floor(options.WarmupFraction * total);
            var stopped = false;
            model.train();
            while (state.Epoch < options.Epochs && !state.Stopped)
            {
                if (state.StepInEpoch == 0)
                {
                    state.EpochSeed = rng.NextInt31();
                    state.RngState = rng.State;
                    state.LossSum = 0;
                }
                var batches = Samplers.MPerClassEpoch(labels, options.ClassesPerBatch, options.ItemsPerClass, state.EpochSeed, state.Epoch);
                var lr = 0.0;
                for (var s = state.StepInEpoch; s < batches.Length; s++)
                {
                    ct.ThrowIfCancellationRequested();
                    lr = LearningRateAt(options.LearningRate, state.GlobalStep, total, warmup);
                    var loss = Step(batches[s], lr);
                    state.LossSum += loss;
                    state.StepInEpoch = s + 1;
                    state.GlobalStep++;
                    state.LastLearningRate = lr;
                    CollectSinkhorn();
                    progress?.Report(WithSinkhorn(new TrainingProgress(state.Epoch + 1, options.Epochs, s + 1, batches.Length, loss, lr, null)));
                    if (options.CheckpointEverySteps > 0 && state.GlobalStep % options.CheckpointEverySteps == 0 && s + 1 < batches.Length)
                        Save();
                }
                var metrics = Validate(state.Epoch + 1, state.LossSum / batches.Length, state.LastLearningRate);
                CollectSinkhorn();
                state.History.Add(metrics);
                if (metrics.ValidMapAtR is { } map)
                {
                    if (state.BestMapAtR is null || map > state.BestMapAtR.Value)
                    {
                        state.BestMapAtR = map;
                        state.BestEpoch = metrics.Epoch;
                        state.EpochsWithoutImprovement = 0;
                        bestWeights = Checkpoint.WeightsToBytes(model);
                    }
                    else state.EpochsWithoutImprovement++;
                    if (options.Patience > 0 && state.EpochsWithoutImprovement >= options.Patience) state.Stopped = true;
                }
                else state.BestEpoch = metrics.Epoch;
                state.Epoch++;
                state.StepInEpoch = 0;
                Save();
                progress?.Report(WithSinkhorn(new TrainingProgress(metrics.Epoch, options.Epochs, batches.Length, batches.Length, double.NaN, lr, metrics)));
            }
            stopped = state.Stopped;
            if (bestWeights is not null) Checkpoint.WeightsFromBytes(model, bestWeights);
            model.eval();
            return new TrainingResult(state.History.ToArray(), state.BestEpoch, state.BestMapAtR, stopped, state.GlobalStep, clock.Elapsed.TotalSeconds);
        }

        /// <summary>Adds the Sinkhorn solves since the last call to the run's totals (checkpointed in the state).</summary>
        private void CollectSinkhorn()
        {
            if (sinkhorn is null) return;
            state.SinkhornSolves += sinkhorn.Solves;
            state.UnconvergedSinkhornSolves += sinkhorn.UnconvergedSolves;
            state.MaxSinkhornMarginalError = Math.Max(state.MaxSinkhornMarginalError, sinkhorn.MaxMarginalError);
            sinkhorn.Reset();
        }

        private TrainingProgress WithSinkhorn(TrainingProgress p) => p with
        {
            SinkhornSolves = state.SinkhornSolves,
            UnconvergedSinkhornSolves = state.UnconvergedSinkhornSolves,
            MaxSinkhornMarginalError = state.MaxSinkhornMarginalError,
        };

        private double Step(int[] indices, double lr)
        {
            using var scope = NewDisposeScope();
            using var batch = train.ToBatch(indices, device);
            optimizer.ZeroGrad();
            using var embeddings = model.forward(batch.Features, batch.Mask);
            var value = LossOf(embeddings, batch.Labels);
            value.backward();
            nn.utils.clip_grad_norm_(model.parameters(), options.ClipNorm);
            optimizer.Step(lr);
            return value.item<float>();
        }

        private Tensor LossOf(IEmbeddingBatch embeddings, Tensor y)
        {
            // A sliced distance keeps its directions for its lifetime; training asks for a fresh draw every step, from a
            // seed of (Seed, step) so that a resumed run draws what the uninterrupted run drew.
            var stepDistance = distance is ISeededDistance seeded ? seeded.WithFreshDirections(StepSeed(options.Seed, state.GlobalStep)) : distance;
            using var triplets = miner.Mine(embeddings, y, stepDistance);
            return loss.Compute(embeddings, y, stepDistance, triplets);
        }

        /// <summary>The seed of the random directions of one optimiser step: a SplitMix64 output of the run's seed and the step.</summary>
        private static long StepSeed(long seed, long step) =>
            (long)new SplitMix64(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step)).NextUInt64();

        private EpochMetrics Validate(int epoch, double trainLoss, double lr)
        {
            if (valid is null) return new EpochMetrics(epoch, trainLoss, null, null, null, lr);
            var (d, y) = DistanceMatrix(model, valid, distance, options.EvaluationBatchSize, device);
            model.train();
            var report = RetrievalMetrics.Evaluate(d, y, y, true, [1]);
            return new EpochMetrics(epoch, trainLoss, report.MapAtR, report.PrecisionAt1, report.RPrecision, lr);
        }

        private void Save()
        {
            if (directory is null) return;
            var manifest = new CheckpointManifest
            {
                Model = model.Options,
                Trainer = options,
                Standardizer = standardizer,
                Distance = distance.Name,
                State = state.Clone(),
                TrainData = trainPrint,
                ValidData = validPrint,
            };
            Checkpoint.Write(directory, manifest, model, optimizer, bestWeights);
        }
    }
}
