using TorchSharp;

namespace DistEmbed.Verification;

/// <summary>
/// Settings of the law checks and generators: how many cases, the seed that replays them, the tolerances, and the
/// sizes and scales of the generated batches. Every setting has a default; null options mean the defaults.
/// </summary>
/// <remarks>
/// <para>A law compares two numbers with the tolerance <c>AbsoluteTolerance + RelativeTolerance · M</c>, where M is
/// the largest |D| the check evaluated on the case (for the identity law: the largest |D| between the two different
/// items of the case; for reference agreement: the larger of |D| and |reference|). A violation message prints M and
/// the resulting tolerance.</para>
/// <para>Runs are deterministic: the same options and the same distance give the same cases. A violation message
/// names the seed; set <see cref="Seed"/> to it to replay the failure.</para>
/// </remarks>
public sealed class VerificationOptions
{
    /// <summary>The seed of the default options (a fixed seed: CI runs are repeatable).</summary>
    public const long DefaultSeed = 20261123;

    /// <summary>The number of random cases per law (default 100).</summary>
    public int Cases { get; set; } = 100;

    /// <summary>The seed of the case generator (default <see cref="DefaultSeed"/>). A violation message names it.</summary>
    public long Seed { get; set; } = DefaultSeed;

    /// <summary>The relative part of the tolerance, multiplied by the largest |D| of the case (default 1e-6).</summary>
    public double RelativeTolerance { get; set; } = 1e-6;

    /// <summary>The absolute part of the tolerance (default 1e-9).</summary>
    public double AbsoluteTolerance { get; set; } = 1e-9;

    /// <summary>
    /// The relative tolerance of the gradient check (default 1e-5): the directional derivative from autograd and the
    /// closest of the central finite differences may differ by <c>AbsoluteTolerance + GradientTolerance · G</c>, G the
    /// largest of them and of |D| / s (s the case's scale).
    /// </summary>
    public double GradientTolerance { get; set; } = 1e-5;

    /// <summary>The smallest finite-difference step relative to the case's scale (default 1e-6): h = step · s, and 10 and
    /// 100 times that (weights: h = step, relative to each weight).</summary>
    public double FiniteDifferenceStep { get; set; } = 1e-6;

    /// <summary>The smallest dimension d drawn (default 1).</summary>
    public int MinDimension { get; set; } = 1;

    /// <summary>The largest dimension d drawn (default 4).</summary>
    public int MaxDimension { get; set; } = 4;

    /// <summary>
    /// A fixed dimension d for every case, or null (default) to draw it between <see cref="MinDimension"/> and
    /// <see cref="MaxDimension"/>. For a Bregman divergence (<c>ConvexGenerator.Distance</c>) the checks use its generator's dimension when this is null.
    /// </summary>
    public int? Dimension { get; set; }

    /// <summary>The largest number of points of a generated distribution, padding included (default 12).</summary>
    public int MaxPoints { get; set; } = 12;

    /// <summary>The largest number of quantile levels Q of a generated quantile sample (default 8).</summary>
    public int MaxLevels { get; set; } = 8;

    /// <summary>The smallest scale of generated values (default 1e-3); scales are drawn log-uniformly, endpoints included.</summary>
    public double MinScale { get; set; } = 1e-3;

    /// <summary>The largest scale of generated values (default 1e3).</summary>
    public double MaxScale { get; set; } = 1e3;

    /// <summary>
    /// The dtype of the batches handed to the distance (default float64). Gradient checks always use float64. For a
    /// Bregman divergence (<c>ConvexGenerator.Distance</c>) the checks use its generator's dtype.
    /// </summary>
    public torch.ScalarType DType { get; set; } = torch.ScalarType.Float64;

    /// <summary>The device of the batches handed to the distance; null (default) means CPU.</summary>
    public torch.Device? Device { get; set; }

    /// <summary>A copy of these options.</summary>
    public VerificationOptions Clone() => (VerificationOptions)MemberwiseClone();

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentException">A setting is out of range; the message and <c>ParamName</c> name it.</exception>
    public void Validate()
    {
        if (Cases < 1) Fail(nameof(Cases), $"Cases = {Cases}; at least one case is needed.");
        NonNegativeFinite(nameof(RelativeTolerance), RelativeTolerance);
        NonNegativeFinite(nameof(AbsoluteTolerance), AbsoluteTolerance);
        NonNegativeFinite(nameof(GradientTolerance), GradientTolerance);
        if (!(FiniteDifferenceStep > 0 && FiniteDifferenceStep <= 1e-3))
            Fail(nameof(FiniteDifferenceStep), $"FiniteDifferenceStep = {FiniteDifferenceStep}; it must lie in (0, 1e-3] (steps up to 100 times it are used).");
        if (MinDimension < 1) Fail(nameof(MinDimension), $"MinDimension = {MinDimension}; it must be at least 1.");
        if (MaxDimension < MinDimension) Fail(nameof(MaxDimension), $"MaxDimension = {MaxDimension} is below MinDimension = {MinDimension}.");
        if (Dimension is < 1) Fail(nameof(Dimension), $"Dimension = {Dimension}; it must be at least 1 (or null to draw it).");
        if (MaxPoints < 2) Fail(nameof(MaxPoints), $"MaxPoints = {MaxPoints}; it must be at least 2 (padding and splitting add points).");
        if (MaxLevels < 1) Fail(nameof(MaxLevels), $"MaxLevels = {MaxLevels}; it must be at least 1.");
        if (!(MinScale > 0 && double.IsFinite(MinScale))) Fail(nameof(MinScale), $"MinScale = {MinScale}; it must be positive and finite.");
        if (!(MaxScale >= MinScale && double.IsFinite(MaxScale))) Fail(nameof(MaxScale), $"MaxScale = {MaxScale}; it must be finite and at least MinScale = {MinScale}.");
        if (DType != torch.ScalarType.Float32 && DType != torch.ScalarType.Float64)
            Fail(nameof(DType), $"DType = {DType}; the batches are float32 or float64.");
    }

    private static void NonNegativeFinite(string name, double value)
    {
        if (!(value >= 0 && double.IsFinite(value))) Fail(name, $"{name} = {value}; it must be finite and non-negative.");
    }

    private static void Fail(string name, string message) => throw new ArgumentException(message, name);
}
