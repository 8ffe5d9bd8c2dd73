using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Verification;

/// <summary>
/// An <see cref="IDistance"/> made from a plain float64 function of two samples, so that a distance written without
/// tensors can be checked by <see cref="Laws"/> (every law except <see cref="Laws.Gradients"/>, which needs autograd).
/// </summary>
/// <remarks>
/// <c>Paired</c> and <c>Pairwise</c> convert the batches to samples (<see cref="DistributionSample.FromBatch"/> and
/// friends: padding stays as zero-weight points), call the function per pair and return a float64 tensor on the first
/// batch's device, without gradient.
/// </remarks>
public sealed class DelegateDistance : IDistance
{
    private readonly Func<IEmbeddingBatch, object[]> toSamples;
    private readonly Func<object, object, double> function;

    private DelegateDistance(string name, Representation accepts, bool isMetric, bool isSymmetric,
        Func<IEmbeddingBatch, object[]> toSamples, Func<object, object, double> function)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("name is empty; a distance needs a name for the messages.", nameof(name));
        Name = name;
        Accepts = accepts;
        IsMetric = isMetric;
        IsSymmetric = isSymmetric || isMetric;
        this.toSamples = toSamples;
        this.function = function;
    }

    /// <summary>A distance on vectors from a function of two vectors.</summary>
    /// <param name="name">The name shown in messages.</param>
    /// <param name="distance">D(x, y) in float64.</param>
    /// <param name="isMetric">Whether D claims the metric axioms (<see cref="Laws.Declared"/> reads it).</param>
    /// <param name="isSymmetric">Whether D claims symmetry (implied by <paramref name="isMetric"/>).</param>
    /// <exception cref="ArgumentException">An empty name.</exception>
    public static DelegateDistance ForVectors(string name, Func<VectorSample, VectorSample, double> distance, bool isMetric = false, bool isSymmetric = true)
    {
        ArgumentNullException.ThrowIfNull(distance);
        return new(name, Representation.Vectors, isMetric, isSymmetric,
            b => VectorSample.FromBatch(As<VectorBatch>(b)), (x, y) => distance((VectorSample)x, (VectorSample)y));
    }

    /// <summary>A distance on distributions from a function of two samples.</summary>
    /// <param name="name">The name shown in messages.</param>
    /// <param name="distance">D(x, y) in float64; the samples may carry zero-weight (padding) points.</param>
    /// <param name="isMetric">Whether D claims the metric axioms.</param>
    /// <param name="isSymmetric">Whether D claims symmetry (implied by <paramref name="isMetric"/>).</param>
    /// <exception cref="ArgumentException">An empty name.</exception>
    public static DelegateDistance ForDistributions(string name, Func<DistributionSample, DistributionSample, double> distance, bool isMetric = false, bool isSymmetric = true)
    {
        ArgumentNullException.ThrowIfNull(distance);
        return new(name, Representation.Distributions, isMetric, isSymmetric,
            b => DistributionSample.FromBatch(As<DistributionBatch>(b)), (x, y) => distance((DistributionSample)x, (DistributionSample)y));
    }

    /// <summary>A distance on quantile batches from a function of two samples.</summary>
    /// <param name="name">The name shown in messages.</param>
    /// <param name="distance">D(x, y) in float64.</param>
    /// <param name="isMetric">Whether D claims the metric axioms.</param>
    /// <param name="isSymmetric">Whether D claims symmetry (implied by <paramref name="isMetric"/>).</param>
    /// <exception cref="ArgumentException">An empty name.</exception>
    public static DelegateDistance ForQuantiles(string name, Func<QuantileSample, QuantileSample, double> distance, bool isMetric = false, bool isSymmetric = true)
    {
        ArgumentNullException.ThrowIfNull(distance);
        return new(name, Representation.Quantiles, isMetric, isSymmetric,
            b => QuantileSample.FromBatch(As<QuantileBatch>(b)), (x, y) => distance((QuantileSample)x, (QuantileSample)y));
    }

    private static TBatch As<TBatch>(IEmbeddingBatch batch) where TBatch : class =>
        batch as TBatch ?? throw new ArgumentException($"the batch is {batch?.Representation.ToString() ?? "null"}; this distance accepts {typeof(TBatch).Name}.");

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public bool IsMetric { get; }

    /// <inheritdoc/>
    public bool IsSymmetric { get; }

    /// <inheritdoc/>
    public Representation Accepts { get; }

    /// <summary>D(a_i, b_i) for each i, as float64 [B] on a's device.</summary>
    /// <param name="a">B items.</param>
    /// <param name="b">B items.</param>
    /// <exception cref="ArgumentException">Different counts or a batch of another representation.</exception>
    public torch.Tensor Paired(IEmbeddingBatch a, IEmbeddingBatch b)
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
    /// <exception cref="ArgumentException">A batch of another representation.</exception>
    public torch.Tensor Pairwise(IEmbeddingBatch a, IEmbeddingBatch b)
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
