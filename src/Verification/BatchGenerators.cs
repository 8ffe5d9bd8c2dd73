using FsCheck;
using FsCheck.Fluent;

namespace DistEmbed.Verification;

/// <summary>
/// FsCheck generators of awkward inputs for distances: weighted distributions, quantile functions and vectors that
/// share a dimension and a scale, with ties, duplicated points, zero weights (padding), one-point distributions,
/// very unequal lengths and scales from <see cref="VerificationOptions.MinScale"/> to
/// <see cref="VerificationOptions.MaxScale"/> (1e-3 … 1e3 by default).
/// </summary>
/// <remarks>
/// <para>Use them in your own FsCheck properties (<c>Prop.ForAll(BatchGenerators.DistributionsArbitrary(2), …)</c>)
/// or sample them (<c>Gen.Sample</c>). The <c>…Arbitrary</c> forms shrink a failing case to fewer points, fewer
/// dimensions, uniform weights and values rounded to one significant digit. The <c>…Batches</c> forms build tensors
/// that the caller disposes.</para>
/// <para>Awkward inputs by design: a coordinate is drawn either finely from [−4s, 4s] or from the grid k·s,
/// k ∈ −3..3 (ties); a distribution has one point, 2–4 points or up to <see cref="VerificationOptions.MaxPoints"/>;
/// its last point repeats its first now and then; weights are uniform, integers 1…100, or integers 0…3 (zeros =
/// padding, never all zero); a third of the draws give all items one length.</para>
/// </remarks>
public static class BatchGenerators
{
    private static VerificationOptions Checked(VerificationOptions? options)
    {
        var o = options ?? new VerificationOptions();
        o.Validate();
        return o;
    }

    private static Gen<int> DimensionGen(VerificationOptions o) =>
        o.Dimension is { } d ? Gen.Constant(d) : Gen.Choose(o.MinDimension, o.MaxDimension);

    private static void CheckCount(int count)
    {
        if (count < 1) throw new ArgumentException($"count = {count}; at least one item is needed.", nameof(count));
    }

    /// <summary>A scale s drawn log-uniformly between MinScale and MaxScale, with both endpoints and 1 drawn often.</summary>
    /// <param name="options">Null means the defaults.</param>
    public static Gen<double> Scale(VerificationOptions? options = null) => Kind<DistributionSample>.Scale(Checked(options));

    /// <summary>One awkward distribution of dimension <paramref name="dimension"/> at scale <paramref name="scale"/>.</summary>
    /// <param name="dimension">d ≥ 1.</param>
    /// <param name="scale">s &gt; 0, finite.</param>
    /// <param name="options">Null means the defaults (MaxPoints is read).</param>
    /// <exception cref="ArgumentException">dimension &lt; 1 or scale not positive and finite.</exception>
    public static Gen<DistributionSample> Distribution(int dimension, double scale, VerificationOptions? options = null)
    {
        var o = Checked(options);
        if (dimension < 1) throw new ArgumentException($"dimension = {dimension}; it must be at least 1.", nameof(dimension));
        if (!(scale > 0 && double.IsFinite(scale))) throw new ArgumentException($"scale = {scale}; it must be positive and finite.", nameof(scale));
        return DistributionKind.Instance.Items(1, dimension, scale, false, o).Select(a => a[0]);
    }

    /// <summary>count samples of one kind sharing one dimension and one scale drawn from the options.</summary>
    private static Gen<T[]> Samples<T>(Kind<T> kind, int count, VerificationOptions? options) where T : class
    {
        CheckCount(count);
        var o = Checked(options);
        return from d in DimensionGen(o)
               from s in Kind<T>.Scale(o)
               from items in kind.Items(count, d, s, false, o)
               select items;
    }

    /// <summary><paramref name="count"/> awkward distributions of one dimension and one scale.</summary>
    /// <param name="count">≥ 1 (2 for a pair, 3 for a triangle).</param>
    /// <param name="options">Null means the defaults.</param>
    public static Gen<DistributionSample[]> Distributions(int count, VerificationOptions? options = null) =>
        Samples(DistributionKind.Instance, count, options);

    /// <summary><see cref="Distributions"/> with a shrinker (fewer points, fewer dimensions, uniform weights, rounded values).</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults.</param>
    public static Arbitrary<DistributionSample[]> DistributionsArbitrary(int count, VerificationOptions? options = null) =>
        Arb.From(Distributions(count, options), items => DistributionKind.Instance.Shrink(items, false));

    /// <summary><paramref name="count"/> awkward quantile samples sharing d, Q and the levels (midpoints mostly, random
    /// increasing levels otherwise), with flat pieces (ties) in the quantile functions.</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults (MaxLevels is read).</param>
    public static Gen<QuantileSample[]> Quantiles(int count, VerificationOptions? options = null) =>
        Samples(QuantileKind.Instance, count, options);

    /// <summary><see cref="Quantiles"/> with a shrinker (fewer levels, fewer dimensions, midpoint levels, rounded values).</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults.</param>
    public static Arbitrary<QuantileSample[]> QuantilesArbitrary(int count, VerificationOptions? options = null) =>
        Arb.From(Quantiles(count, options), items => QuantileKind.Instance.Shrink(items, false));

    /// <summary><paramref name="count"/> awkward vectors of one dimension and scale (grid values give ties; now and then the
    /// last vector equals the first).</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults.</param>
    public static Gen<VectorSample[]> Vectors(int count, VerificationOptions? options = null) =>
        Samples(VectorKind.Instance, count, options);

    /// <summary><see cref="Vectors"/> with a shrinker (fewer dimensions, rounded values).</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults.</param>
    public static Arbitrary<VectorSample[]> VectorsArbitrary(int count, VerificationOptions? options = null) =>
        Arb.From(Vectors(count, options), items => VectorKind.Instance.Shrink(items, false));

    /// <summary>A batch of <paramref name="count"/> awkward distributions (padded to the longest; <see cref="Representation.Distributions"/>),
    /// in the options' dtype and device. The caller disposes each batch.</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults.</param>
    public static Gen<EmbeddingBatch> DistributionBatches(int count, VerificationOptions? options = null)
    {
        var o = Checked(options);
        return Distributions(count, o).Select(items => DistributionSample.ToBatch(items, o.DType, o.Device));
    }

    /// <summary>A batch of <paramref name="count"/> awkward quantile functions (<see cref="Representation.Quantiles"/>), in the
    /// options' dtype and device. The caller disposes each batch.</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults.</param>
    public static Gen<EmbeddingBatch> QuantileBatches(int count, VerificationOptions? options = null)
    {
        var o = Checked(options);
        return Quantiles(count, o).Select(items => QuantileSample.ToBatch(items, o.DType, o.Device));
    }

    /// <summary>A batch of <paramref name="count"/> awkward vectors (<see cref="Representation.Vectors"/>), in the options'
    /// dtype and device. The caller disposes each batch.</summary>
    /// <param name="count">≥ 1.</param>
    /// <param name="options">Null means the defaults.</param>
    public static Gen<EmbeddingBatch> VectorBatches(int count, VerificationOptions? options = null)
    {
        var o = Checked(options);
        return Vectors(count, o).Select(items => VectorSample.ToBatch(items, o.DType, o.Device));
    }
}
