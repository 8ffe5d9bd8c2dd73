using DistEmbed.Core;

namespace DistEmbed.Training;

/// <summary>
/// The settings of the catalog's losses beyond the triplet margin (which the miners share, <see cref="MetricLearningOptions.Margin"/>)
/// and the cross-batch memory (<see cref="MetricLearningOptions.MemoryLoss"/>, <see cref="MetricLearningOptions.MemorySize"/>):
/// each loss reads its own and ignores the rest. Every default is the F# core's loss options' (one definition each, read
/// from there); the command line's <c>train sequence</c> options (<c>--ntxent-temperature</c>, …) take their defaults from here.
/// <code>
/// var options = new TrainerOptions { Loss = "supcon", LossSettings = new LossSettings { SupConTemperature = 0.07 } };
/// </code>
/// </summary>
public sealed record LossSettings
{
    /// <summary>The core's defaults (the one place they are written).</summary>
    private static readonly LossOptions D = new();

    /// <summary><c>contrastive</c>: the positive margin m₊ ≥ 0 of [D − m₊]₊ on positive pairs (Hadsell, Chopra, LeCun, CVPR 2006, eq. 4).</summary>
    public double ContrastivePositiveMargin { get; init; } = D.Contrastive.PositiveMargin;
    /// <summary><c>contrastive</c>: the negative margin m₋ ≥ 0 of [m₋ − D]₊ on negative pairs.</summary>
    public double ContrastiveNegativeMargin { get; init; } = D.Contrastive.NegativeMargin;
    /// <summary><c>ntxent</c>: the temperature τ &gt; 0 of the softmax over −D/τ (Chen et al., SimCLR, ICML 2020, eq. 1).</summary>
    public double NTXentTemperature { get; init; } = D.NTXent.Temperature;
    /// <summary><c>supcon</c>: the temperature τ &gt; 0 of L^sup_out over −D/τ (Khosla et al., NeurIPS 2020, eq. 2).</summary>
    public double SupConTemperature { get; init; } = D.SupCon.Temperature;
    /// <summary><c>prototype</c>: the temperature τ &gt; 0 of the softmax over −D/τ to the class prototypes.</summary>
    public double PrototypeTemperature { get; init; } = D.Prototype.Temperature;
    /// <summary><c>multi-similarity</c>: the positive scale α &gt; 0 (Wang et al., CVPR 2019, eq. 5).</summary>
    public double MultiSimilarityAlpha { get; init; } = D.MultiSimilarity.Alpha;
    /// <summary><c>multi-similarity</c>: the negative scale β &gt; 0.</summary>
    public double MultiSimilarityBeta { get; init; } = D.MultiSimilarity.Beta;
    /// <summary><c>multi-similarity</c>: the similarity threshold λ (finite).</summary>
    public double MultiSimilarityThreshold { get; init; } = D.MultiSimilarity.Threshold;
    /// <summary><c>circle</c>: the relaxation margin m ≥ 0 (Sun et al., CVPR 2020, eq. 4).</summary>
    public double CircleMargin { get; init; } = D.Circle.Margin;
    /// <summary><c>circle</c>: the scale γ &gt; 0.</summary>
    public double CircleGamma { get; init; } = D.Circle.Gamma;
    /// <summary><c>proxy-anchor</c>: the scale α &gt; 0 (Kim et al., CVPR 2020, eq. 4).</summary>
    public double ProxyAnchorAlpha { get; init; } = D.ProxyAnchor.Alpha;
    /// <summary><c>proxy-anchor</c>: the margin δ ≥ 0.</summary>
    public double ProxyAnchorDelta { get; init; } = D.ProxyAnchor.Delta;

    /// <summary>Checks every setting.</summary>
    /// <param name="prefix">Put before each setting's name in the message and the parameter name (e.g. <c>LossSettings.</c>).</param>
    /// <exception cref="ArgumentException">A setting out of range (the message and parameter name name it).</exception>
    public void Validate(string prefix = "")
    {
        prefix ??= "";
        void NonNegative(string name, double value)
        {
            if (!(value >= 0) || double.IsPositiveInfinity(value))
                throw new ArgumentException($"{prefix}{name} = {value}; it must be finite and ≥ 0.", prefix + name);
        }
        void Positive(string name, double value)
        {
            if (!(value > 0) || double.IsPositiveInfinity(value))
                throw new ArgumentException($"{prefix}{name} = {value}; it must be finite and > 0.", prefix + name);
        }
        NonNegative(nameof(ContrastivePositiveMargin), ContrastivePositiveMargin);
        NonNegative(nameof(ContrastiveNegativeMargin), ContrastiveNegativeMargin);
        Positive(nameof(NTXentTemperature), NTXentTemperature);
        Positive(nameof(SupConTemperature), SupConTemperature);
        Positive(nameof(PrototypeTemperature), PrototypeTemperature);
        Positive(nameof(MultiSimilarityAlpha), MultiSimilarityAlpha);
        Positive(nameof(MultiSimilarityBeta), MultiSimilarityBeta);
        if (!double.IsFinite(MultiSimilarityThreshold))
            throw new ArgumentException($"{prefix}{nameof(MultiSimilarityThreshold)} = {MultiSimilarityThreshold}; it must be finite.", prefix + nameof(MultiSimilarityThreshold));
        NonNegative(nameof(CircleMargin), CircleMargin);
        Positive(nameof(CircleGamma), CircleGamma);
        Positive(nameof(ProxyAnchorAlpha), ProxyAnchorAlpha);
        NonNegative(nameof(ProxyAnchorDelta), ProxyAnchorDelta);
    }

    /// <summary>The core's loss options of these settings (reductions and everything not set here stay the core's defaults).</summary>
    internal LossOptions ToCore(double margin, bool softMargin, string memoryLoss, int memorySize, string miner) => new()
    {
        Triplet = new TripletMarginLossOptions { Margin = margin, Penalty = softMargin ? TripletPenalty.SoftPlus : TripletPenalty.Hinge },
        Contrastive = new ContrastiveLossOptions { PositiveMargin = ContrastivePositiveMargin, NegativeMargin = ContrastiveNegativeMargin },
        NTXent = new NTXentLossOptions { Temperature = NTXentTemperature },
        SupCon = new SupConLossOptions { Temperature = SupConTemperature },
        Prototype = new PrototypeLossOptions { Temperature = PrototypeTemperature },
        MultiSimilarity = new MultiSimilarityLossOptions { Alpha = MultiSimilarityAlpha, Beta = MultiSimilarityBeta, Threshold = MultiSimilarityThreshold },
        Circle = new CircleLossOptions { Margin = CircleMargin, Gamma = CircleGamma },
        ProxyAnchor = new ProxyAnchorLossOptions { Alpha = ProxyAnchorAlpha, Delta = ProxyAnchorDelta },
        CrossBatchMemory = new CrossBatchMemoryOptions { Loss = memoryLoss, Size = memorySize, Miner = miner, MinerMargin = margin },
    };
}
