using TorchSharp;

namespace DistEmbed.Verification;

/// <summary>
/// A <see cref="CustomDistance"/> made from a plain float64 function of two samples, so that a distance written without
/// tensors can be checked by <see cref="Laws"/> (every law except <see cref="Laws.Gradients"/>, which needs autograd).
/// It converts implicitly to a <see cref="Distance"/>, so it goes wherever one goes:
/// <code>
/// var l1 = DelegateDistance.ForVectors("l1", (x, y) => Enumerable.Range(0, x.Dimension).Sum(k => Math.Abs(x[k] - y[k])), isMetric: true);
/// Laws.Declared(l1);
/// </code>
/// </summary>
/// <remarks>
/// <c>Paired</c> and <c>Pairwise</c> convert the batches to samples (<see cref="DistributionSample.FromBatch"/> and
/// friends: padding stays as zero-weight points), call the function per pair and return a float64 tensor on the first
/// batch's device, without gradient.
/// </remarks>
public sealed class DelegateDistance : CustomDistance
{
    private readonly Func<EmbeddingBatch, object[]> toSamples;
    private readonly Func<object, object, double> function;
    private readonly string name;
    private readonly Representation accepts;
    private readonly bool isMetric;
    private readonly bool isSymmetric;

    private DelegateDistance(string name, Representation accepts, bool isMetric, bool isSymmetric,
        Func<EmbeddingBatch, object[]> toSamples, Func<object, object, double> function)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("name is empty; a distance needs a name for the messages.", nameof(name));
        this.name = name;
        this.accepts = accepts;
        this.isMetric = isMetric;
        this.isSymmetric = isSymmetric || isMetric;
        this.toSamples = toSamples;
        this.function = function;
    }

    /// <summary>A distance on vectors from a function of two vectors.</summary>
    /// <param name="name">The name shown in messages.</param>
    /// <param name="distance">D(x, y) in float64.</param>
    /// <param name="isMetric">Whether D claims the metric axioms (<see cref="Laws.Declared"/> reads it).</param>
    /// <param name="isSymmetric">Whether D claims symmetry (implied by <paramref name="isMetric"/>).</param>
    /// <returns>The distance (a <see cref="CustomDistance"/>; it converts implicitly to a <see cref="Distance"/>).</returns>
    /// <exception cref="ArgumentException">An empty name.</exception>
    public static DelegateDistance ForVectors(string name, Func<VectorSample, VectorSample, double> distance, bool isMetric = false, bool isSymmetric = true)
    {
        ArgumentNullException.ThrowIfNull(distance);
        return new(name, Representation.Vectors, isMetric, isSymmetric,
            VectorSample.FromBatch, (x, y) => distance((VectorSample)x, (VectorSample)y));
    }

    /// <summary>A distance on distributions from a function of two samples.</summary>
    /// <param name="name">The name shown in messages.</param>
    /// <param name="distance">D(x, y) in float64; the samples may carry zero-weight (padding) points.</param>
    /// <param name="isMetric">Whether D claims the metric axioms.</param>
    /// <param name="isSymmetric">Whether D claims symmetry (implied by <paramref name="isMetric"/>).</param>
    /// <returns>The distance (a <see cref="CustomDistance"/>; it converts implicitly to a <see cref="Distance"/>).</returns>
    /// <exception cref="ArgumentException">An empty name.</exception>
    public static DelegateDistance ForDistributions(string name, Func<DistributionSample, DistributionSample, double> distance, bool isMetric = false, bool isSymmetric = true)
    {
        ArgumentNullException.ThrowIfNull(distance);
        return new(name, Representation.Distributions, isMetric, isSymmetric,
            DistributionSample.FromBatch, (x, y) => distance((DistributionSample)x, (DistributionSample)y));
    }

    /// <summary>A distance on quantile batches from a function of two samples.</summary>
    /// <param name="name">The name shown in messages.</param>
    /// <param name="distance">D(x, y) in float64.</param>
    /// <param name="isMetric">Whether D claims the metric axioms.</param>
    /// <param name="isSymmetric">Whether D claims symmetry (implied by <paramref name="isMetric"/>).</param>
    /// <returns>The distance (a <see cref="CustomDistance"/>; it converts implicitly to a <see cref="Distance"/>).</returns>
    /// <exception cref="ArgumentException">An empty name.</exception>
    public static DelegateDistance ForQuantiles(string name, Func<QuantileSample, QuantileSample, double> distance, bool isMetric = false, bool isSymmetric = true)
    {
        ArgumentNullException.ThrowIfNull(distance);
        return new(name, Representation.Quantiles, isMetric, isSymmetric,
            QuantileSample.FromBatch, (x, y) => distance((QuantileSample)x, (QuantileSample)y));
    }

    /// <inheritdoc/>
    public override string Name => name;

    /// <inheritdoc/>
    public override bool IsMetric => isMetric;

    /// <inheritdoc/>
    public override bool IsSymmetric => isSymmetric;

    /// <inheritdoc/>
    public override Representation Accepts => accepts;

    /// <summary>D(a_i, b_i) for each i, as float64 [B] on a's device.</summary>
    /// <param name="a">B items.</param>
    /// <param name="b">B items.</param>
    /// <returns>[B], float64, without gradient.</returns>
    /// <exception cref="ArgumentException">Different counts or a batch of another representation.</exception>
    public override torch.Tensor Paired(EmbeddingBatch a, EmbeddingBatch b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count) throw new ArgumentException($"b has {b.Count} items but a has {a.Count}; Paired needs equal counts.", nameof(b));
        var xs = toSamples(a);
        var ys = toSamples(b);
        var values = xs.Zip(ys, function).ToArray();
        return torch.tensor(values, dtype: torch.ScalarType.Float64, device: a.Device);
    }

    /// <summary>D(a_i, b_j) for all i, j, as float64 [B, B'] on a's device.</summary>
    /// <param name="a">B items.</param>
    /// <param name="b">B' items.</param>
    /// <returns>[B, B'], float64, without gradient.</returns>
    /// <exception cref="ArgumentException">A batch of another representation.</exception>
    public override torch.Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var xs = toSamples(a);
        var ys = toSamples(b);
        var values = new double[xs.Length * ys.Length];
        for (var i = 0; i < xs.Length; i++)
            for (var j = 0; j < ys.Length; j++) values[i * ys.Length + j] = function(xs[i], ys[j]);
        return torch.tensor(values, dtype: torch.ScalarType.Float64, device: a.Device).reshape(xs.Length, ys.Length);
    }
}
