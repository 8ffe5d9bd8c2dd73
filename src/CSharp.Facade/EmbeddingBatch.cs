using DistEmbed.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed;

/// <summary>The form a batch of embeddings takes; every distance accepts one of them.</summary>
public enum Representation
{
    /// <summary>Vectors <c>[B, d]</c>.</summary>
    Vectors = 0,
    /// <summary>Weighted empirical distributions: points <c>[B, T, d]</c> and weights <c>[B, T]</c> (padding = weight 0).</summary>
    Distributions = 1,
    /// <summary>Per-feature quantile functions <c>[B, d, Q]</c> sampled at Q levels in (0, 1).</summary>
    Quantiles = 2,
}

/// <summary>
/// A batch of B embeddings in one <see cref="Representation"/>: vectors, quantile functions or weighted empirical
/// distributions. It is what an embedding model returns (a TorchSharp module <c>Module&lt;Tensor, EmbeddingBatch&gt;</c>
/// for <see cref="Training.MetricLearningTrainer"/>), what a <see cref="Distance"/> compares, and what evaluation and
/// similarity measures read. Gradients flow through its tensors. Disposing it frees its tensors.
/// <code>
/// using var a = EmbeddingBatch.Vectors(torch.randn(8, 3));
/// using var p = EmbeddingBatch.Distributions(points, weights);        // [B, T, d], [B, T]
/// using var q = EmbeddingBatch.Quantiles(values);                   // [B, d, Q] at the midpoint levels
/// </code>
/// </summary>
public sealed class EmbeddingBatch : IDisposable
{
    private EmbeddingBatch(IEmbeddingBatch core) => Core = core;

    /// <summary>The core's batch this wraps (the F# engine's type).</summary>
    internal IEmbeddingBatch Core { get; }

    /// <summary>Wraps a core batch (null stays null).</summary>
    internal static EmbeddingBatch Wrap(IEmbeddingBatch core) =>
        new(core ?? throw new ArgumentNullException(nameof(core)));

    /// <summary>A batch of vectors.</summary>
    /// <param name="values">The vectors <c>[B, d]</c> (float32 or float64); the batch holds this tensor.</param>
    /// <returns>The batch.</returns>
    /// <exception cref="ArgumentException">values is not two-dimensional or not floating point.</exception>
    public static EmbeddingBatch Vectors(Tensor values) => new(VectorBatch.FromTensor(values));

    /// <summary>A batch of vectors from an array (float64).</summary>
    /// <param name="values">The vectors <c>[B, d]</c>.</param>
    /// <param name="device">The device, or null for the CPU.</param>
    /// <returns>The batch.</returns>
    public static EmbeddingBatch Vectors(double[,] values, Device? device = null) =>
        new(VectorBatch.FromArray(values, device ?? CPU));

    /// <summary>A batch of per-feature quantile functions.</summary>
    /// <param name="values">The quantiles <c>[B, d, Q]</c>, finite, non-decreasing along the last axis.</param>
    /// <param name="levels">The Q levels <c>[Q]</c>, strictly increasing, in (0, 1); null (the default) for the
    /// midpoint levels (<see cref="MidpointLevels"/>).</param>
    /// <returns>The batch.</returns>
    /// <exception cref="ArgumentException">A wrong shape, a non-finite value, decreasing quantiles or bad levels.</exception>
    public static EmbeddingBatch Quantiles(Tensor values, Tensor? levels = null) => new(QuantileBatch.FromTensor(values, levels));

    /// <summary>The Q midpoint levels (k + ½)/Q, k = 0 … Q−1, the levels of the quantile head.</summary>
    /// <param name="count">Q ≥ 1.</param>
    /// <returns>The levels.</returns>
    public static double[] MidpointLevels(int count) => QuantileBatch.MidpointLevels(count);

    /// <summary>A batch of weighted empirical distributions.</summary>
    /// <param name="points">The support points <c>[B, T, d]</c>.</param>
    /// <param name="weights">The weights or a mask <c>[B, T]</c> (non-negative; each row is normalised to sum 1; weight 0
    /// marks padding), or null for uniform weights.</param>
    /// <returns>The batch.</returns>
    /// <exception cref="ArgumentException">Shapes that do not match, or negative weights.</exception>
    public static EmbeddingBatch Distributions(Tensor points, Tensor? weights = null) => new(DistributionBatch.FromTensors(points, weights));

    /// <summary>A batch of uniform empirical distributions, one per sequence of points (unequal lengths padded).</summary>
    /// <param name="sequences">One <c>[T_i, d]</c> array per distribution, T_i ≥ 1.</param>
    /// <param name="device">The device, or null for the CPU.</param>
    /// <returns>The batch (float64).</returns>
    public static EmbeddingBatch Distributions(double[][,] sequences, Device? device = null) =>
        new(DistributionBatch.FromSequences(sequences, device ?? CPU));

    /// <summary>The representation of the batch.</summary>
    public Representation Representation => (Representation)(int)Core.Representation;

    /// <summary>The number B of embeddings.</summary>
    public int Count => Core.Count;

    /// <summary>The device of its tensors.</summary>
    public Device Device => Core.Device;

    /// <summary>The dtype of its tensors.</summary>
    public ScalarType DType => Core.DType;

    /// <summary>The dimension d: of the vectors, of the quantile functions' features, or of the distributions' points.</summary>
    public int Dimension => Core switch
    {
        VectorBatch v => v.Dimension,
        QuantileBatch q => q.Dimension,
        DistributionBatch p => p.Dimension,
        _ => throw new InvalidOperationException($"a batch of {Core.Representation} has no dimension."),
    };

    /// <summary>The values: the vectors <c>[B, d]</c> or the quantiles <c>[B, d, Q]</c>.</summary>
    /// <exception cref="InvalidOperationException">The batch holds distributions (read <see cref="Points"/> and <see cref="Weights"/>).</exception>
    public Tensor Values => Core switch
    {
        VectorBatch v => v.Values,
        QuantileBatch q => q.Values,
        _ => throw Wrong(nameof(Values), "vectors or quantiles"),
    };

    /// <summary>The quantile levels <c>[Q]</c>.</summary>
    /// <exception cref="InvalidOperationException">The batch does not hold quantiles.</exception>
    public Tensor Levels => Core is QuantileBatch q ? q.Levels : throw Wrong(nameof(Levels), "quantiles");

    /// <summary>The distributions' support points <c>[B, T, d]</c>.</summary>
    /// <exception cref="InvalidOperationException">The batch does not hold distributions.</exception>
    public Tensor Points => Core is DistributionBatch p ? p.Points : throw Wrong(nameof(Points), "distributions");

    /// <summary>The distributions' weights <c>[B, T]</c> (padding = 0).</summary>
    /// <exception cref="InvalidOperationException">The batch does not hold distributions.</exception>
    public Tensor Weights => Core is DistributionBatch p ? p.Weights : throw Wrong(nameof(Weights), "distributions");

    /// <summary>The distributions' mask <c>[B, T]</c>: true where the weight is positive (a real point, not padding).</summary>
    /// <returns>A new bool tensor; the caller owns it.</returns>
    /// <exception cref="InvalidOperationException">The batch does not hold distributions.</exception>
    public Tensor Mask() => Core is DistributionBatch p ? p.Mask() : throw Wrong(nameof(Mask), "distributions");

    /// <summary>The embeddings at the given indices, as a new batch (gradients flow through).</summary>
    /// <param name="indices">An int64 index tensor.</param>
    /// <returns>The new batch.</returns>
    public EmbeddingBatch Select(Tensor indices) => new(Core.Select(indices));

    /// <summary>Frees the batch's tensors.</summary>
    public void Dispose() => Core.Dispose();

    /// <inheritdoc/>
    public override string ToString() => $"{Count} {Representation} (d = {Dimension})";

    private InvalidOperationException Wrong(string member, string needs) =>
        new($"{member}: this batch holds {Representation}; {member} exists only for {needs}.");
}
