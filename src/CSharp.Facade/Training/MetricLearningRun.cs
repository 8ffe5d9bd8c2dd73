using System.Diagnostics;
using DistEmbed.Core;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Training;

/// <summary>
/// The one training loop of the metric-learning trainers (<see cref="MetricLearningTrainer"/>, <see cref="SequenceTrainer"/>,
/// <see cref="DeepBregmanTrainer"/>):
/// seeded M-per-class epochs, AdamW with warm-up and cosine decay, gradient clipping, a fresh draw of sliced directions
/// per step, Sinkhorn diagnostics, validation MAP@R, best weights, early stopping and checkpoint timing. A subclass
/// supplies how a batch is embedded, how the validation distances are computed and how a checkpoint is written.
/// </summary>
internal abstract class MetricLearningRun
{
    protected readonly nn.Module Model;
    protected readonly MetricLearningOptions Options;
    protected readonly TrainingState State;
    protected readonly Device Device;
    protected readonly IDistance Distance;
    private AdamW? optimizer;
    protected readonly string? Directory;
    protected byte[]? BestWeights;
    private readonly IMetricLoss loss;
    private readonly IMiner miner;
    private readonly bool lossMines;
    private readonly SinkhornDiagnostics? sinkhorn;
    private readonly long[] labels;
    private readonly int stepsPerEpoch;

    /// <param name="model">The model (moved to the options' device here, before the optimiser is made).</param>
    /// <param name="trainLabels">The training labels, one per item.</param>
    /// <param name="options">Validated options with a distance name.</param>
    /// <param name="distance">The distance made from the options.</param>
    /// <param name="state">The state to start from (fresh, or a checkpoint's).</param>
    /// <param name="directory">The checkpoint folder, or null.</param>
    protected MetricLearningRun(nn.Module model, IReadOnlyList<int> trainLabels, MetricLearningOptions options, IDistance distance, TrainingState state, string? directory)
    {
        Model = model;
        Options = options;
        State = state;
        Distance = distance;
        Directory = directory;
        Device = Devices.Resolve(options.Device, nameof(MetricLearningOptions.Device));
        loss = options.CreateLoss();
        miner = options.CreateMiner();
        // Proxy losses use no tuples; the cross-batch memory mines its own (with the options' miner) between the batch and its memory.
        var tuples = Catalog.Losses.First(d => d.Name == loss.Name).Tuples;
        lossMines = tuples is LossTuples.Proxies or LossTuples.Memory;
        sinkhorn = (distance as ISinkhornDistance)?.Diagnostics;
        model.to(Device);
        labels = trainLabels.Select(l => (long)l).ToArray();
        stepsPerEpoch = Math.Max(1, labels.Length / (options.ClassesPerBatch * options.ItemsPerClass));
    }

    /// <summary>
    /// The optimiser over the model's parameters and, for a loss with parameters of its own (<see cref="ITrainableLoss"/>,
    /// e.g. <c>proxy-anchor</c>), the loss's: created at first use, after the loss is initialised from one embedding per
    /// training class (<see cref="InitialiseLoss"/>).
    /// </summary>
    protected AdamW Optimizer
    {
        get
        {
            if (optimizer is null)
            {
                InitialiseLoss();
                optimizer = OptimizerSetup.Create(TrainableParameters(), Options.WeightDecay);
            }
            return optimizer;
        }
    }

    private IEnumerable<TorchSharp.Modules.Parameter> TrainableParameters() =>
        loss is ITrainableLoss trainable ? Model.parameters().Concat(trainable.Parameters) : Model.parameters();

    /// <summary>
    /// Initialises a loss with parameters of its own (<see cref="ITrainableLoss"/>) once: its class parameters start at
    /// the embeddings of the first training item of each class (classes in increasing order), embedded in evaluation
    /// mode without gradient; a loss without parameters is left alone.
    /// </summary>
    protected void InitialiseLoss()
    {
        if (loss is not ITrainableLoss trainable || trainable.IsInitialised) return;
        var classes = labels.Distinct().Order().ToArray();
        var first = classes.Select(c => Array.IndexOf(labels, c)).ToArray();
        var wasTraining = Model.training;
        Model.eval();
        try
        {
            using var scope = NewDisposeScope();
            using var _ = torch.no_grad();
            var (embeddings, _, owner) = ForwardBatch(first);
            using var ownerScope = owner;
            using var embeddingScope = embeddings;
            CheckRepresentation(embeddings);
            trainable.Initialise(embeddings, classes);
        }
        finally
        {
            Model.train(wasTraining);
        }
    }

    /// <summary>The file of the loss's own state in a checkpoint: the parameters of a loss with parameters of its own
    /// (<see cref="ITrainableLoss"/>, e.g. <c>proxy-anchor</c>'s proxies) or the memory of past batches of <c>xbm</c>;
    /// null for a loss without state.</summary>
    protected CheckpointFile? LossStateFile()
    {
        switch (loss)
        {
            case ITrainableLoss trainable:
                InitialiseLoss();
                return new CheckpointFile(LossStateFileName, trainable.SaveState);
            case CrossBatchMemory memory:
                return new CheckpointFile(LossStateFileName, memory.SaveState);
            default:
                return null;
        }
    }

    /// <summary>The name of the loss-state file of a checkpoint (<see cref="LossStateFile"/>).</summary>
    internal const string LossStateFileName = "loss.dat";

    /// <summary>Restores the loss's own state (parameters or memory) from a checkpoint folder (nothing for a loss without state).</summary>
    /// <exception cref="FileNotFoundException">The folder has no loss state though the loss has one (a checkpoint of <c>xbm</c>
    /// written before the memory was checkpointed cannot be resumed exactly).</exception>
    /// <exception cref="InvalidDataException">The loss state is truncated or corrupt (names the file).</exception>
    protected void LoadLossState(string dir)
    {
        if (loss is not (ITrainableLoss or CrossBatchMemory)) return;
        if (loss is ITrainableLoss) InitialiseLoss();
        var file = Path.Combine(dir, LossStateFileName);
        if (!File.Exists(file))
            throw new FileNotFoundException(loss is CrossBatchMemory
                ? $"'{dir}' has no {LossStateFileName}; the loss '{loss.Name}' keeps a memory of past batches that a resumable checkpoint stores there (checkpoints of earlier versions did not: train afresh)."
                : $"'{dir}' has no {LossStateFileName}; the loss '{loss.Name}' has parameters of its own that a resumable checkpoint stores there.", file);
        try
        {
            using var s = File.OpenRead(file);
            if (loss is CrossBatchMemory memory) memory.LoadState(s, Device);
            else ((ITrainableLoss)loss).LoadState(s);
            if (s.Position != s.Length) throw new InvalidDataException($"{s.Length - s.Position} bytes follow the loss state.");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw ModuleWeights.Corrupt(file, e);
        }
    }

    /// <summary>Embeds the training items <paramref name="indices"/> in training mode (inside the step's dispose scope).</summary>
    /// <returns>The embeddings, their labels [B] int64 on the device, and anything else to dispose after the step.</returns>
    protected abstract (IEmbeddingBatch Embeddings, Tensor Labels, IDisposable? Owner) ForwardBatch(int[] indices);

    /// <summary>True when a validation set is present.</summary>
    protected abstract bool HasValidation { get; }

    /// <summary>The validation set's distance matrix [N, N] under <see cref="Distance"/>, and its labels.</summary>
    protected abstract (double[,] Distances, long[] Labels) ValidationDistances();

    /// <summary>Writes a checkpoint of the current state into <see cref="Directory"/> (not null).</summary>
    protected abstract void WriteCheckpoint();

    /// <summary>Runs the remaining epochs.</summary>
    public TrainingResult Execute(IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var rng = new SplitMix64(State.RngState);
        var total = (long)Options.Epochs * stepsPerEpoch;
        var warmup = OptimizerSetup.WarmupSteps(Options.WarmupFraction, total);
        Model.train();
        while (State.Epoch < Options.Epochs && !State.Stopped)
        {
            if (State.StepInEpoch == 0)
            {
                State.EpochSeed = rng.NextInt31();
                State.RngState = rng.State;
                State.LossSum = 0;
            }
            var batches = Samplers.MPerClassEpoch(labels, Options.ClassesPerBatch, Options.ItemsPerClass, State.EpochSeed, State.Epoch);
            var lr = 0.0;
            for (var s = State.StepInEpoch; s < batches.Length; s++)
            {
                ct.ThrowIfCancellationRequested();
                lr = OptimizerSetup.LearningRateAt(Options.LearningRate, State.GlobalStep, total, warmup);
                var value = Step(batches[s], lr);
                State.LossSum += value;
                State.StepInEpoch = s + 1;
                State.GlobalStep++;
                State.LastLearningRate = lr;
                CollectSinkhorn();
                progress?.Report(WithSinkhorn(new TrainingProgress(State.Epoch + 1, Options.Epochs, s + 1, batches.Length, value, lr, null)));
                if (Options.CheckpointEverySteps > 0 && State.GlobalStep % Options.CheckpointEverySteps == 0 && s + 1 < batches.Length)
                    Save();
            }
            var metrics = Validate(State.Epoch + 1, State.LossSum / batches.Length, State.LastLearningRate);
            CollectSinkhorn();
            State.History.Add(metrics);
            if (metrics.ValidMapAtR is { } map)
            {
                if (State.BestMapAtR is null || map > State.BestMapAtR.Value)
                {
                    State.BestMapAtR = map;
                    State.BestEpoch = metrics.Epoch;
                    State.EpochsWithoutImprovement = 0;
                    BestWeights = ModuleWeights.ToBytes(Model);
                }
                else State.EpochsWithoutImprovement++;
                if (Options.Patience > 0 && State.EpochsWithoutImprovement >= Options.Patience) State.Stopped = true;
            }
            else State.BestEpoch = metrics.Epoch;
            State.Epoch++;
            State.StepInEpoch = 0;
            Save();
            progress?.Report(WithSinkhorn(new TrainingProgress(metrics.Epoch, Options.Epochs, batches.Length, batches.Length, double.NaN, lr, metrics)));
        }
        if (BestWeights is not null) ModuleWeights.FromBytes(Model, BestWeights);
        Model.eval();
        return new TrainingResult(State.History.ToArray(), State.BestEpoch, State.BestMapAtR, State.Stopped, State.GlobalStep, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Adds the Sinkhorn solves since the last call to the run's totals (checkpointed in the state).</summary>
    private void CollectSinkhorn()
    {
        if (sinkhorn is null) return;
        State.SinkhornSolves += sinkhorn.Solves;
        State.UnconvergedSinkhornSolves += sinkhorn.UnconvergedSolves;
        State.MaxSinkhornMarginalError = Math.Max(State.MaxSinkhornMarginalError, sinkhorn.MaxMarginalError);
        sinkhorn.Reset();
    }

    private TrainingProgress WithSinkhorn(TrainingProgress p) => p with
    {
        SinkhornSolves = State.SinkhornSolves,
        UnconvergedSinkhornSolves = State.UnconvergedSinkhornSolves,
        MaxSinkhornMarginalError = State.MaxSinkhornMarginalError,
    };

    /// <summary>Refuses embeddings of another representation than the distance accepts (names the distance option).</summary>
    protected void CheckRepresentation(IEmbeddingBatch embeddings)
    {
        if (embeddings.Representation != Distance.Accepts)
            throw new ArgumentException(
                $"Distance '{Distance.Name}' accepts {Distance.Accepts} but the model produces {embeddings.Representation}; choose a distance for {embeddings.Representation}.",
                nameof(MetricLearningOptions.Distance));
    }

    private double Step(int[] indices, double lr)
    {
        using var scope = NewDisposeScope();
        Optimizer.ZeroGrad();
        var (embeddings, y, owner) = ForwardBatch(indices);
        using var ownerScope = owner;
        using var embeddingScope = embeddings;
        CheckRepresentation(embeddings);
        // A sliced distance keeps its directions for its lifetime; training asks for a fresh draw every step, from a
        // seed of (Seed, step) so that a resumed run draws what the uninterrupted run drew.
        var stepDistance = Distance is ISeededDistance seeded ? seeded.WithFreshDirections(StepSeed(Options.Seed, State.GlobalStep)) : Distance;
        Tensor value;
        using (var triplets = lossMines ? null : miner.Mine(embeddings, y, stepDistance))
            value = loss.Compute(embeddings, y, stepDistance, triplets);
        value.backward();
        OptimizerSetup.ClipGradientNorm(TrainableParameters(), Options.ClipNorm);
        Optimizer.Step(lr);
        return value.item<float>();
    }

    /// <summary>The seed of the random directions of one optimiser step: a SplitMix64 output of the run's seed and the step.</summary>
    private static long StepSeed(long seed, long step) =>
        (long)new SplitMix64(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step)).NextUInt64();

    private EpochMetrics Validate(int epoch, double trainLoss, double lr)
    {
        if (!HasValidation) return new EpochMetrics(epoch, trainLoss, null, null, null, lr);
        var (d, y) = ValidationDistances();
        Model.train();
        var report = RetrievalMetrics.Evaluate(d, y, y, true, [1]);
        return new EpochMetrics(epoch, trainLoss, report.MapAtR, report.PrecisionAt1, report.RPrecision, lr);
    }

    private void Save()
    {
        if (Directory is null) return;
        WriteCheckpoint();
    }
}

/// <summary>Module weights as bytes and files (TorchSharp state-dict format), shared by every checkpoint of the facade.</summary>
internal static class ModuleWeights
{
    /// <summary>The device of a module's first parameter (where a trainer put it), or the CPU for a module without parameters.</summary>
    public static Device DeviceOf(nn.Module model)
    {
        foreach (var p in model.parameters()) return p.device;
        return CPU;
    }

    public static byte[] ToBytes(nn.Module model)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) model.save(w);
        return ms.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are truncated, corrupt or of another model.</exception>
    public static void FromBytes(nn.Module model, byte[] weights)
    {
        try
        {
            using var r = new BoundedReader(new MemoryStream(weights));
            model.load(r);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw Corrupt("(in memory)", e);
        }
    }

    /// <exception cref="InvalidDataException">"checkpoint file X is truncated or corrupt": too short for the model, or unreadable.</exception>
    public static void LoadFile(nn.Module model, string file)
    {
        var length = new FileInfo(file).Length;
        var needed = model.parameters().Sum(p => p.numel() * p.element_size());
        if (length < needed)
            throw new InvalidDataException($"checkpoint file {file} is truncated or corrupt: {length} bytes, but the manifest's model needs at least {needed}.");
        try
        {
            using var reader = new BoundedReader(File.OpenRead(file));
            model.load(reader);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw Corrupt(file, e);
        }
    }

    public static InvalidDataException Corrupt(string file, Exception e)
    {
        var first = e.Message.Split('\n', 2)[0].Trim();
        return new InvalidDataException($"checkpoint file {file} is truncated or corrupt ({e.GetType().Name}: {first}).", e);
    }

    /// <summary>A reader whose strings cannot claim more bytes than the stream has left (a corrupt length prefix would
    /// otherwise reserve gigabytes).</summary>
    private sealed class BoundedReader(Stream stream) : BinaryReader(stream, System.Text.Encoding.UTF8)
    {
        public override string ReadString()
        {
            var length = Read7BitEncodedInt();
            if (length < 0 || length > BaseStream.Length - BaseStream.Position)
                throw new InvalidDataException($"a string claims {length} bytes but {BaseStream.Length - BaseStream.Position} remain.");
            return System.Text.Encoding.UTF8.GetString(ReadBytes(length));
        }
    }
}
