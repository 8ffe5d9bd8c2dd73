using DistEmbed.Core;
using DistEmbed.Sequences;

namespace DistEmbed.Training;

/// <summary>
/// Options of <see cref="MetricLearningTrainer"/> (stored in a checkpoint's manifest). The defaults written here are
/// also those of the sequence trainer's <see cref="TrainerOptions"/>.
/// </summary>
public sealed record MetricLearningOptions
{
    /// <summary>The distance, a name of <see cref="Catalog.DistanceNames"/> accepting the model's representation (required).</summary>
    public string? Distance { get; init; }
    /// <summary>The loss, a name of <see cref="Catalog.LossNames"/>. Default <see cref="Catalog.DefaultLoss"/> (triplet).</summary>
    public string Loss { get; init; } = Catalog.DefaultLoss;
    /// <summary>The miner, a name of <see cref="Catalog.MinerNames"/>. Default <see cref="Catalog.DefaultMiner"/> (all: every valid tuple).</summary>
    public string Miner { get; init; } = Catalog.DefaultMiner;
    /// <summary>With the loss <c>xbm</c> (cross-batch memory, Wang et al., CVPR 2020): the wrapped triplet or pair loss, a
    /// name of <see cref="Catalog.LossNames"/>; it reads its own settings from <see cref="LossSettings"/>. Default: the core's
    /// (<c>contrastive</c>).</summary>
    public string MemoryLoss { get; init; } = MemoryDefaults.Loss;
    /// <summary>With the loss <c>xbm</c>: the memory size in items (≥ 0; 0 keeps no memory). Default: the core's (1024).
    /// The memory is part of the resumable checkpoint (<c>loss.dat</c>).</summary>
    public int MemorySize { get; init; } = MemoryDefaults.Size;
    /// <summary>The settings of the other losses (contrastive margins, NT-Xent / SupCon / prototype temperatures,
    /// multi-similarity α, β, λ, circle m, γ, proxy-anchor α, δ), each defaulting to the core's; the chosen loss (or the
    /// loss wrapped by <c>xbm</c>) reads its own.</summary>
    public LossSettings LossSettings { get; init; } = new();

    /// <summary>The core's cross-batch memory defaults (the one place they are written).</summary>
    private static readonly CrossBatchMemoryOptions MemoryDefaults = new();
    /// <summary>The triplet / semi-hard margin (&gt; 0). Default 0.2.</summary>
    public double Margin { get; init; } = Catalog.DefaultMargin;
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
    /// <summary>The device: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N. Default <see cref="Devices.Default"/> (auto).</summary>
    public string Device { get; init; } = Devices.Default;
    /// <summary>Also checkpoint every this many steps within an epoch; 0 = at epoch ends only.</summary>
    public int CheckpointEverySteps { get; init; }
    /// <summary>Items per forward pass when embedding the validation set (≥ 1). Default 256.</summary>
    public int EvaluationBatchSize { get; init; } = 256;
    /// <summary>
    /// The distance's settings (Sinkhorn ε, iterations, tolerance and ε-scaling; the number of directions of
    /// <c>sliced-w2</c> / <c>max-sliced-w2</c>; …), each defaulting to the catalog's. The trainer asks for a fresh draw
    /// of directions each step (a seed derived from <see cref="Seed"/> and the step, so a resumed run draws the same
    /// directions; validation uses the draw of <see cref="Seed"/>): <see cref="Seed"/> replaces
    /// <see cref="DistEmbed.DistanceSettings.Seed"/>, and unconverged Sinkhorn solves are counted in the progress
    /// reports (<see cref="DistEmbed.DistanceSettings.OnNonConvergence"/> is not read).
    /// </summary>
    public DistanceSettings DistanceSettings { get; init; } = new();

    /// <summary>The settings the trainer creates its distance with: <see cref="DistanceSettings"/> with the trainer's
    /// seed and unconverged Sinkhorn solves counted rather than printed.</summary>
    /// <returns>A copy of <see cref="DistanceSettings"/> with <see cref="Seed"/> and <see cref="SinkhornNonConvergence.Ignore"/>.</returns>
    public DistanceSettings EffectiveDistanceSettings() =>
        (DistanceSettings ?? new()) with { Seed = Seed, OnNonConvergence = SinkhornNonConvergence.Ignore };

    // Manifests written before the distance settings were grouped hold them as flat trainer fields: read into
    // DistanceSettings by the one contract modifier of Checkpoint.Json (LegacyTrainerFields).

    /// <summary>
    /// The loss these settings name, with their margin and penalty; <c>xbm</c> wraps <see cref="MemoryLoss"/> with a
    /// memory of <see cref="MemorySize"/> items and mines with <see cref="Miner"/> between the batch and the memory.
    /// </summary>
    /// <returns>A new loss from <see cref="Catalog.CreateLoss"/>.</returns>
    internal IMetricLoss CreateLoss() =>
        Catalog.CreateLoss(Loss, (LossSettings ?? new()).ToCore(Margin, SoftMargin, MemoryLoss, MemorySize, Miner));

    /// <summary>The miner these settings name, with their margin.</summary>
    /// <returns>A new miner from <see cref="Catalog.CreateMiner"/>.</returns>
    internal IMiner CreateMiner() => Catalog.CreateMiner(Miner, new MinerOptions { Margin = Margin });

    /// <summary>Checks every field; <see cref="Distance"/> must be set.</summary>
    /// <exception cref="ArgumentException">A missing distance, an unknown name or a value out of range (the message names the field).</exception>
    public void Validate()
    {
        if (Distance is null)
            throw new ArgumentException($"Distance is not set; name a distance accepting the model's representation, one of: {string.Join(", ", Catalog.DistanceNames)}.", nameof(Distance));
        ValidateExceptDistancePresence();
    }

    /// <summary>Every check of <see cref="Validate"/> but the presence of <see cref="Distance"/> (the sequence trainer defaults it from the head).</summary>
    internal void ValidateExceptDistancePresence()
    {
        if (!Catalog.LossNames.Contains(Loss)) throw new ArgumentException($"unknown loss '{Loss}'; known: {string.Join(", ", Catalog.LossNames)}.", nameof(Loss));
        if (!Catalog.MinerNames.Contains(Miner)) throw new ArgumentException($"unknown miner '{Miner}'; known: {string.Join(", ", Catalog.MinerNames)}.", nameof(Miner));
        var lossTuples = Catalog.Losses.First(d => d.Name == Loss).Tuples;
        if (lossTuples == LossTuples.Proxies && Miner != Catalog.DefaultMiner)
            throw new ArgumentException($"the loss '{Loss}' compares every item with class proxies and uses no tuples, so the miner '{Miner}' would do nothing; use the miner '{Catalog.DefaultMiner}'.", nameof(Miner));
        if (lossTuples == LossTuples.Memory)
        {
            var wrapped = Catalog.Losses.FirstOrDefault(d => d.Name == MemoryLoss);
            if (wrapped is null || wrapped.Tuples is not (LossTuples.Triplets or LossTuples.Pairs))
                throw new ArgumentException(
                    $"MemoryLoss = '{MemoryLoss}'; the cross-batch memory wraps a triplet or pair loss, one of: {string.Join(", ", Catalog.Losses.Where(d => d.Tuples is LossTuples.Triplets or LossTuples.Pairs).Select(d => d.Name))}.",
                    nameof(MemoryLoss));
            Require.AtLeast(nameof(MemorySize), MemorySize, 0);
        }
        if (Distance is not null && !Catalog.DistanceNames.Contains(Distance))
            throw new ArgumentException($"unknown distance '{Distance}'; known: {string.Join(", ", Catalog.DistanceNames)}.", nameof(Distance));
        Require.Positive(nameof(Margin), Margin);
        if (LossSettings is null) throw new ArgumentException("LossSettings is null; leave it out for the core's defaults.", nameof(LossSettings));
        LossSettings.Validate(nameof(LossSettings) + ".");
        Require.AtLeast(nameof(Epochs), Epochs, 1);
        Require.AtLeast(nameof(ClassesPerBatch), ClassesPerBatch, 2);
        Require.AtLeast(nameof(ItemsPerClass), ItemsPerClass, 2);
        Require.Positive(nameof(LearningRate), LearningRate);
        Require.NonNegative(nameof(WeightDecay), WeightDecay);
        if (!(WarmupFraction >= 0 && WarmupFraction < 1))
            throw new ArgumentException($"WarmupFraction = {WarmupFraction}; it must lie in [0, 1).", nameof(WarmupFraction));
        Require.Positive(nameof(ClipNorm), ClipNorm);
        Require.AtLeast(nameof(Patience), Patience, 0);
        Devices.Check(Device, nameof(Device));
        if (DistanceSettings is null) throw new ArgumentException("DistanceSettings is null; leave it out for the catalog's defaults.", nameof(DistanceSettings));
        DistanceSettings.Validate(nameof(DistanceSettings) + ".");
        Require.AtLeast(nameof(CheckpointEverySteps), CheckpointEverySteps, 0);
        Require.AtLeast(nameof(EvaluationBatchSize), EvaluationBatchSize, 1);
    }
}
