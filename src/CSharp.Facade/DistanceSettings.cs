using System.Text.Json.Serialization;
using TorchSharp;

namespace DistEmbed;

/// <summary>What a Sinkhorn solve that reaches its iteration cap without meeting the tolerance does.</summary>
public enum SinkhornNonConvergence
{
    /// <summary>Nothing (the trainers count such solves in their progress reports instead).</summary>
    Ignore = 0,
    /// <summary>One line on standard error per distance object (the default).</summary>
    Warn = 1,
    /// <summary>Throw an exception naming the solve's final marginal error.</summary>
    Throw = 2,
}

/// <summary>
/// The settings every catalog distance reads (each distance reads the ones it needs and ignores the rest): the order p
/// of <c>lp</c>, the directions of the sliced distances, the Sinkhorn parameters, the MMD bandwidths and the pairwise
/// block size. Every default is the catalog's (read from the core's options, never written here), and the trainers'
/// options hold one of these instead of copies of its fields:
/// <code>
/// var settings = new DistanceSettings { Epsilon = 0.05, SinkhornIterations = 200, Projections = 128, Seed = 7 };
/// using var distance = Distance.Create("sinkhorn-divergence", settings);
/// </code>
/// </summary>
public sealed record DistanceSettings
{
    /// <summary>The catalog's defaults (a fresh options object of the core: the one place they are written).</summary>
    private static readonly Core.DistanceOptions Defaults = new();

    /// <summary>The order p of <c>lp</c> (finite, ≥ 1). Default: the catalog's (2).</summary>
    public double P { get; init; } = Defaults.P;

    /// <summary>Rows and columns per pairwise block (≥ 0); 0 (the default) chooses from a 2^24-element budget.</summary>
    public int BlockSize { get; init; } = Defaults.BlockSize;

    /// <summary>The number L of random directions of <c>sliced-w2</c>, <c>sliced-w2-cost</c> and <c>max-sliced-w2</c>,
    /// drawn once per distance instance from <see cref="Seed"/> (1 ≤ L ≤ 65,536). Default: the catalog's (64).</summary>
    public int Projections { get; init; } = Defaults.Projections;

    /// <summary>The seed of the sliced distances' directions. Default 0. The trainers draw their directions from their
    /// own seed instead (fresh ones each step, reproducible on resume).</summary>
    public long Seed { get; init; } = Defaults.Seed;

    /// <summary>Fixed [L, d] directions of the sliced distances instead of random ones, or null (the default). The
    /// caller keeps owning the tensor (the settings borrow it); it is not stored in checkpoint manifests.</summary>
    [JsonIgnore]
    public torch.Tensor? Directions { get; init; }

    /// <summary>The Gaussian kernel bandwidths σ of <c>mmd</c> (each finite, &gt; 0). Default: the catalog's ([0.5, 1, 2, 4]).</summary>
    public IReadOnlyList<double> Bandwidths { get; init; } = Defaults.Bandwidths.ToArray();

    /// <summary>True (the default) for the biased V-statistic MMD², false for the unbiased U-statistic.</summary>
    public bool Biased { get; init; } = Defaults.Biased;

    /// <summary>The entropic regularisation ε &gt; 0 of <c>sinkhorn</c> and <c>sinkhorn-divergence</c>, in units of the
    /// squared Euclidean ground cost (finite, &gt; 0). Default: the catalog's (0.1).</summary>
    public double Epsilon { get; init; } = Defaults.Epsilon;

    /// <summary>The Sinkhorn iteration cap at the target ε (≥ 1). Default: the catalog's (1000).</summary>
    public int SinkhornIterations { get; init; } = Defaults.MaxIterations;

    /// <summary>The Sinkhorn stopping tolerance on the L1 marginal error (finite, &gt; 0). Default: the catalog's (1e-6).</summary>
    public double Tolerance { get; init; } = Defaults.Tolerance;

    /// <summary>The Sinkhorn ε-scaling ratio q: 0 (the default) iterates at ε only; q ∈ (0, 1) first runs one iteration
    /// at each of ε₀ = max C, ε₀q, ε₀q², … above ε (Schmitzer 2019, §3.2; GeomLoss's <c>scaling</c>), e.g. q = 0.5 with
    /// <see cref="SinkhornIterations"/> = 20 when training with the Sinkhorn divergence.</summary>
    public double EpsilonScaling { get; init; } = Defaults.EpsilonScaling;

    /// <summary>The marginal relaxation ρ &gt; 0 of <c>sinkhorn-unbalanced</c> and <c>sinkhorn-divergence-unbalanced</c>: the
    /// marginal constraints become penalties ρ·KL(P1 | a) + ρ·KL(Pᵀ1 | b) (Chizat et al. 2018; Séjourné et al. 2019);
    /// +∞ gives balanced transport. Default: the catalog's (1).</summary>
    public double Rho { get; init; } = Defaults.Rho;

    /// <summary>What an unconverged Sinkhorn solve does. Default: the catalog's (<see cref="SinkhornNonConvergence.Warn"/>).
    /// The trainers use <see cref="SinkhornNonConvergence.Ignore"/> and count such solves in their progress reports.</summary>
    public SinkhornNonConvergence OnNonConvergence { get; init; } = (SinkhornNonConvergence)(int)Defaults.OnNonConvergence;

    /// <summary>Value equality: every setting equal, <see cref="Bandwidths"/> element by element, <see cref="Directions"/>
    /// the same tensor (or both null).</summary>
    /// <param name="other">The other settings.</param>
    /// <returns>True when equal.</returns>
    public bool Equals(DistanceSettings? other) =>
        other is not null
        && P.Equals(other.P) && BlockSize == other.BlockSize && Projections == other.Projections && Seed == other.Seed
        && ReferenceEquals(Directions, other.Directions) && Biased == other.Biased && Epsilon.Equals(other.Epsilon)
        && SinkhornIterations == other.SinkhornIterations && Tolerance.Equals(other.Tolerance)
        && EpsilonScaling.Equals(other.EpsilonScaling) && Rho.Equals(other.Rho) && OnNonConvergence == other.OnNonConvergence
        && (ReferenceEquals(Bandwidths, other.Bandwidths) || (Bandwidths is not null && other.Bandwidths is not null && Bandwidths.SequenceEqual(other.Bandwidths)));

    /// <summary>A hash code consistent with <see cref="Equals(DistanceSettings?)"/>.</summary>
    /// <returns>The hash code.</returns>
    public override int GetHashCode() =>
        HashCode.Combine(HashCode.Combine(P, BlockSize, Projections, Seed, Biased, Epsilon, SinkhornIterations, Tolerance),
            EpsilonScaling, Rho, OnNonConvergence, Bandwidths?.Count ?? -1);

    /// <summary>The most directions <see cref="Projections"/> may ask for: 65,536 (the bound of the catalog's factories).</summary>
    public const int MaxProjections = DistEmbed.Core.SlicedWasserstein.MaxProjections;

    /// <summary>Checks every setting (the checks the catalog's factories make, with the setting's name).</summary>
    /// <param name="prefix">Put before each setting's name in messages and <see cref="ArgumentException.ParamName"/>
    /// (e.g. <c>"DistanceSettings."</c> when these settings are part of a trainer's options).</param>
    /// <exception cref="ArgumentException">A setting out of range (the message and ParamName name it).</exception>
    public void Validate(string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(prefix);
        if (!(P >= 1 && double.IsFinite(P))) throw new ArgumentException($"{prefix}{nameof(P)} = {P}; it must be finite and ≥ 1.", prefix + nameof(P));
        Require.AtLeast(prefix + nameof(BlockSize), BlockSize, 0);
        Require.Between(prefix + nameof(Projections), Projections, 1, MaxProjections);
        if (Bandwidths is null || Bandwidths.Count == 0)
            throw new ArgumentException($"{prefix}{nameof(Bandwidths)} is empty; give at least one bandwidth σ > 0.", prefix + nameof(Bandwidths));
        foreach (var b in Bandwidths) Require.Positive(prefix + nameof(Bandwidths), b);
        Require.Positive(prefix + nameof(Epsilon), Epsilon);
        Require.AtLeast(prefix + nameof(SinkhornIterations), SinkhornIterations, 1);
        Require.Positive(prefix + nameof(Tolerance), Tolerance);
        if (!(EpsilonScaling >= 0 && EpsilonScaling < 1))
            throw new ArgumentException($"{prefix}{nameof(EpsilonScaling)} = {EpsilonScaling}; it must lie in [0, 1): 0 turns ε-scaling off.", prefix + nameof(EpsilonScaling));
        if (!(Rho > 0))
            throw new ArgumentException($"{prefix}{nameof(Rho)} = {Rho}; it must be > 0 (+∞ gives balanced transport).", prefix + nameof(Rho));
        if (!Enum.IsDefined(OnNonConvergence))
            throw new ArgumentException($"{prefix}{nameof(OnNonConvergence)} = {OnNonConvergence}; it must be Ignore, Warn or Throw.", prefix + nameof(OnNonConvergence));
    }

    /// <summary>The core's options these settings describe (a new object each call).</summary>
    internal Core.DistanceOptions ToCore() => new()
    {
        P = P,
        BlockSize = BlockSize,
        Projections = Projections,
        Seed = Seed,
        Directions = Directions,
        Bandwidths = (Bandwidths ?? []).ToArray(),
        Biased = Biased,
        Epsilon = Epsilon,
        MaxIterations = SinkhornIterations,
        Tolerance = Tolerance,
        EpsilonScaling = EpsilonScaling,
        Rho = Rho,
        OnNonConvergence = (Core.SinkhornNonConvergence)(int)OnNonConvergence,
    };
}
