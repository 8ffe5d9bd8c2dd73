using DistEmbed.Core;
using static TorchSharp.torch;

namespace DistEmbed;

/// <summary>What a distance of the catalog is.</summary>
public enum DistanceKind
{
    /// <summary>A metric: non-negative, zero exactly on equal inputs, symmetric, triangle inequality.</summary>
    Metric = 0,
    /// <summary>A metric on what the distance sees (marginals, projections, fits): zero for different inputs that share them.</summary>
    PseudoMetric = 1,
    /// <summary>Not a metric (a squared distance, a cost, MMD², a Sinkhorn cost or divergence, a learned Bregman divergence).</summary>
    Divergence = 2,
}

/// <summary>The convergence record of a Sinkhorn distance's solves (<see cref="Distance.SinkhornConvergence"/>).</summary>
/// <param name="Solves">Batched solves run.</param>
/// <param name="UnconvergedSolves">Of those, the solves that stopped at the iteration cap with the L1 marginal error above the tolerance.</param>
/// <param name="MaxMarginalError">The largest final marginal error of any solve (0 when none).</param>
/// <param name="MaxUnconvergedMarginalError">The largest final marginal error of the unconverged solves (0 when none).</param>
public sealed record SinkhornReport(long Solves, long UnconvergedSolves, double MaxMarginalError, double MaxUnconvergedMarginalError);

/// <summary>
/// A distance or divergence between embeddings of one <see cref="Representation"/>: <see cref="Paired"/> compares
/// a[i] with b[i], <see cref="Pairwise"/> every a[i] with every b[j]; both are differentiable. Made by name from the
/// catalog (<see cref="Create"/>, <see cref="Catalog.Distances"/>), by a learned model (a Bregman divergence), or your own:
/// a subclass of <see cref="CustomDistance"/> (converted implicitly) or two functions (<see cref="Custom"/>).
/// <code>
/// var distance = Distance.Create("sliced-w2", new DistanceSettings { Projections = 128, Seed = 7 });
/// using var d = distance.Pairwise(a, b);   // [B, B']
/// </code>
/// A sliced distance draws its random directions once per instance: two calls on the same inputs agree; ask for
/// new ones with <see cref="WithFreshDirections"/>.
/// </summary>
public sealed class Distance
{
    internal Distance(IDistance core) => Core = core ?? throw new ArgumentNullException(nameof(core));

    /// <summary>The core's distance this wraps (the F# engine's type).</summary>
    internal IDistance Core { get; }

    /// <summary>Creates a catalog distance by name.</summary>
    /// <param name="name">A name of <see cref="Catalog.DistanceNames"/> (case-insensitive).</param>
    /// <param name="settings">The settings, or null for the catalog's defaults.</param>
    /// <returns>The distance.</returns>
    /// <exception cref="ArgumentException">An unknown name (the message lists the known ones) or a setting out of range (named).</exception>
    public static Distance Create(string name, DistanceSettings? settings = null) =>
        new(Distances.Create(name, settings?.ToCore()));

    /// <summary>
    /// Your own distance from functions of two batches, usable wherever a catalog distance is (evaluation, similarity,
    /// indexes, the verification kit's law checks). Calls are checked as for a <see cref="CustomDistance"/>: the batches
    /// must hold <paramref name="accepts"/> and share a dimension, and each function must return a floating-point
    /// tensor of the documented shape, or the call fails with a message naming the distance and the expected shape.
    /// <code>
    /// var chebyshev = Distance.Custom("chebyshev", Representation.Vectors,
    ///     (a, b) => (a.Values - b.Values).abs().amax([1]), isMetric: true);
    /// </code>
    /// </summary>
    /// <param name="name">The name shown in messages and reports (not empty).</param>
    /// <param name="accepts">The representation it compares.</param>
    /// <param name="paired">D(a[i], b[i]) for batches a, b of B embeddings each: a tensor <c>[B]</c>.</param>
    /// <param name="pairwise">D(a[i], b[j]) of every pair: a tensor <c>[B, B']</c>; null (the default) evaluates
    /// <paramref name="paired"/> on all B·B' pairs and reshapes (see <see cref="CustomDistance.Pairwise"/>).</param>
    /// <param name="isMetric">Whether it claims the metric axioms (implies <paramref name="isSymmetric"/>).</param>
    /// <param name="isSymmetric">Whether it claims D(a, b) = D(b, a).</param>
    /// <returns>The distance.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="paired"/> is null.</exception>
    /// <exception cref="ArgumentException">An empty name, an undefined representation, or a metric declared not symmetric (named).</exception>
    public static Distance Custom(string name, Representation accepts, Func<EmbeddingBatch, EmbeddingBatch, Tensor> paired,
        Func<EmbeddingBatch, EmbeddingBatch, Tensor>? pairwise = null, bool isMetric = false, bool isSymmetric = true)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("name is empty; a distance needs a name for its messages and reports.", nameof(name));
        ArgumentNullException.ThrowIfNull(paired);
        if (!Enum.IsDefined(accepts))
            throw new ArgumentException($"accepts = {(int)accepts} is not a Representation (Vectors, Distributions or Quantiles).", nameof(accepts));
        if (isMetric && !isSymmetric)
            throw new ArgumentException($"distance '{name}': isMetric is true but isSymmetric is false; a metric is symmetric.", nameof(isSymmetric));
        return new FunctionDistance(name, accepts, isMetric, isSymmetric, paired, pairwise).ToDistance();
    }

    /// <summary>The name (the catalog's, the learned divergence's, or your own distance's).</summary>
    public string Name => Core.Name;

    /// <summary>True for a metric (then also symmetric).</summary>
    public bool IsMetric => Core.IsMetric;

    /// <summary>True when D(a, b) = D(b, a) (false for Bregman divergences in general).</summary>
    public bool IsSymmetric => Core.IsSymmetric;

    /// <summary>The representation it compares.</summary>
    public Representation Accepts => (Representation)(int)Core.Accepts;

    /// <summary>True for a sliced distance, whose random directions <see cref="WithFreshDirections"/> can redraw.</summary>
    public bool HasRandomDirections => Core is ISeededDistance;

    /// <summary>For a Sinkhorn distance (<c>sinkhorn</c>, <c>sinkhorn-divergence</c>): the convergence record of every
    /// solve this instance has run so far; null for other distances.</summary>
    public SinkhornReport? SinkhornConvergence => Core is ISinkhornDistance s
        ? new SinkhornReport(s.Diagnostics.Solves, s.Diagnostics.UnconvergedSolves, s.Diagnostics.MaxMarginalError, s.Diagnostics.MaxUnconvergedMarginalError)
        : null;

    /// <summary>The distances D(a[i], b[i]).</summary>
    /// <param name="a">B embeddings.</param>
    /// <param name="b">B embeddings of the same representation and dimension.</param>
    /// <returns>A tensor <c>[B]</c>.</returns>
    /// <exception cref="ArgumentException">A representation the distance does not accept, or batches that do not match.</exception>
    public Tensor Paired(EmbeddingBatch a, EmbeddingBatch b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return Core.Paired(a.Core, b.Core);
    }

    /// <summary>The distances D(a[i], b[j]) of every pair.</summary>
    /// <param name="a">B embeddings.</param>
    /// <param name="b">B' embeddings of the same representation and dimension.</param>
    /// <returns>A tensor <c>[B, B']</c>.</returns>
    /// <exception cref="ArgumentException">A representation the distance does not accept, or batches that do not match.</exception>
    public Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return Core.Pairwise(a.Core, b.Core);
    }

    /// <summary>The same distance over random directions drawn from another seed (this instance is left unchanged).</summary>
    /// <param name="seed">The seed of the new draw.</param>
    /// <returns>A new distance.</returns>
    /// <exception cref="InvalidOperationException">The distance has no random directions (<see cref="HasRandomDirections"/> is false).</exception>
    public Distance WithFreshDirections(long seed) =>
        Core is ISeededDistance seeded
            ? new Distance(seeded.WithFreshDirections(seed))
            : throw new InvalidOperationException($"distance '{Name}' has no random directions to redraw; only the sliced distances have.");

    /// <inheritdoc/>
    public override string ToString() => Name;
}
