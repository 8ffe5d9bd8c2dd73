using DistEmbed.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed;

/// <summary>
/// Your own distance or divergence between embedding batches, written in facade terms: subclass it, say what it
/// compares (<see cref="Accepts"/>) and what it claims (<see cref="IsMetric"/>, <see cref="IsSymmetric"/>), compute
/// <see cref="Paired"/> (and, for speed, <see cref="Pairwise"/>) with TorchSharp, and pass it wherever a
/// <see cref="Distance"/> goes — an implicit conversion (<see cref="ToDistance"/>) makes it one: evaluation,
/// similarity, indexes, <c>MetricLearningTrainer.DistanceMatrix</c>, and the law checks of the
/// verification kit (package <c>DistEmbed.Verification</c>).
/// <code>
/// public sealed class Chebyshev : CustomDistance
/// {
///     public override string Name => "chebyshev";
///     public override Representation Accepts => Representation.Vectors;
///     public override bool IsMetric => true;
///     public override torch.Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => (a.Values - b.Values).abs().amax([1]);
/// }
/// var report = EmbeddingEvaluation.Evaluate(batch, labels, new Chebyshev());
/// </code>
/// For a distance given by two functions rather than a class, see <see cref="Distance.Custom"/>.
/// </summary>
/// <remarks>
/// <para>The library checks every call before and after your code runs: both batches hold <see cref="Accepts"/> and
/// share a dimension (an <see cref="ArgumentException"/> names <c>a</c> or <c>b</c> otherwise), Paired gets batches of
/// equal counts, and what you return must be a floating-point tensor of shape [B] (Paired) or [B, B'] (Pairwise) — an
/// <see cref="InvalidOperationException"/> naming the distance, the method and the expected shape otherwise.</para>
/// <para>The batches you receive belong to the caller: read their tensors (<see cref="EmbeddingBatch.Values"/>,
/// <see cref="EmbeddingBatch.Points"/>, <see cref="EmbeddingBatch.Weights"/>, …), do not dispose them. Keep the result
/// differentiable (no <c>detach</c>, no round trip through arrays) if the distance is to train a model.</para>
/// <para><see cref="Name"/>, <see cref="Accepts"/>, <see cref="IsMetric"/> and <see cref="IsSymmetric"/> are read once,
/// when the first <see cref="Distance"/> is made from the instance.</para>
/// </remarks>
public abstract class CustomDistance
{
    private Distance? distance;

    /// <summary>The name shown in messages, reports and law violations (not empty).</summary>
    public abstract string Name { get; }

    /// <summary>The representation it compares.</summary>
    public abstract Representation Accepts { get; }

    /// <summary>True when it claims the metric axioms (then it must also be symmetric). Default false.</summary>
    public virtual bool IsMetric => false;

    /// <summary>True when it claims D(a, b) = D(b, a). Default true.</summary>
    public virtual bool IsSymmetric => true;

    /// <summary>The distances D(a[i], b[i]).</summary>
    /// <param name="a">B embeddings of <see cref="Accepts"/> (the caller's; do not dispose).</param>
    /// <param name="b">B embeddings of the same representation and dimension.</param>
    /// <returns>A floating-point tensor of shape <c>[B]</c>.</returns>
    public abstract Tensor Paired(EmbeddingBatch a, EmbeddingBatch b);

    /// <summary>
    /// The distances D(a[i], b[j]) of every pair. The default evaluates <see cref="Paired"/> once on the B·B' pairs
    /// (row i·B' + j compares a[i] with b[j], selected by <see cref="EmbeddingBatch.Select"/>, gradients flowing) and
    /// reshapes it to [B, B']: correct for any Paired, but it holds B·B' embeddings at once; override it with a
    /// broadcast form for large batches.
    /// </summary>
    /// <param name="a">B embeddings of <see cref="Accepts"/> (the caller's; do not dispose).</param>
    /// <param name="b">B' embeddings of the same representation and dimension.</param>
    /// <returns>A floating-point tensor of shape <c>[B, B']</c>.</returns>
    public virtual Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var (n, m) = ((long)a.Count, (long)b.Count);
        using var scope = NewDisposeScope();
        var rows = arange(n, ScalarType.Int64, a.Device).unsqueeze(1).expand(n, m).reshape(-1);
        var columns = arange(m, ScalarType.Int64, b.Device).unsqueeze(0).expand(n, m).reshape(-1);
        var left = a.Select(rows);
        var right = b.Select(columns);
        var d = CustomCoreDistance.CheckResult(Name, nameof(Paired), Paired(left, right), [n * m],
            $"[B·B'] = [{n * m}] (the default Pairwise calls Paired on all {n} × {m} pairs)");
        return d.reshape(n, m).MoveToOuterDisposeScope();
    }

    /// <summary>This distance as a <see cref="Distance"/> (made once per instance; the same object every call).</summary>
    /// <returns>The distance.</returns>
    /// <exception cref="ArgumentException">An empty <see cref="Name"/>, an undefined <see cref="Accepts"/>, or
    /// <see cref="IsMetric"/> without <see cref="IsSymmetric"/>.</exception>
    public Distance ToDistance()
    {
        if (distance is { } made) return made;
        var created = new Distance(new CustomCoreDistance(this));
        return Interlocked.CompareExchange(ref distance, created, null) ?? created;
    }

    /// <summary>Converts a custom distance to a <see cref="Distance"/> (<see cref="ToDistance"/>; null stays null).</summary>
    /// <param name="custom">The custom distance.</param>
    /// <exception cref="ArgumentException">As for <see cref="ToDistance"/>: an empty name, an undefined representation,
    /// or a metric that is not symmetric.</exception>
    public static implicit operator Distance(CustomDistance custom) => custom?.ToDistance()!;

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>A <see cref="CustomDistance"/> made of two functions (<see cref="Distance.Custom"/>).</summary>
internal sealed class FunctionDistance(string name, Representation accepts, bool isMetric, bool isSymmetric,
    Func<EmbeddingBatch, EmbeddingBatch, Tensor> paired, Func<EmbeddingBatch, EmbeddingBatch, Tensor>? pairwise) : CustomDistance
{
    public override string Name => name;
    public override Representation Accepts => accepts;
    public override bool IsMetric => isMetric;
    public override bool IsSymmetric => isSymmetric;
    public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => paired(a, b);
    public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) => pairwise is null ? base.Pairwise(a, b) : pairwise(a, b);
}

/// <summary>The core's view of a <see cref="CustomDistance"/>: checks the batches going in and the tensors coming out,
/// so that every path of the engine (evaluation, retrieval, losses, the law checks) can use it.</summary>
internal sealed class CustomCoreDistance : IDistance
{
    private readonly CustomDistance custom;

    public CustomCoreDistance(CustomDistance custom)
    {
        this.custom = custom ?? throw new ArgumentNullException(nameof(custom));
        var name = custom.Name;
        if (string.IsNullOrWhiteSpace(name))
            throw new ArgumentException($"{custom.GetType().Name}.Name is empty; a distance needs a name for its messages and reports.", nameof(custom));
        var accepts = custom.Accepts;
        if (!Enum.IsDefined(accepts))
            throw new ArgumentException($"distance '{name}': Accepts = {(int)accepts} is not a Representation (Vectors, Distributions or Quantiles).", nameof(custom));
        if (custom.IsMetric && !custom.IsSymmetric)
            throw new ArgumentException($"distance '{name}' claims IsMetric but not IsSymmetric; a metric is symmetric.", nameof(custom));
        Name = name;
        FacadeAccepts = accepts;
        Accepts = (Core.Representation)(int)accepts;
        IsMetric = custom.IsMetric;
        IsSymmetric = custom.IsSymmetric;
    }

    public string Name { get; }
    public bool IsMetric { get; }
    public bool IsSymmetric { get; }
    public Core.Representation Accepts { get; }
    private Representation FacadeAccepts { get; }

    public Tensor Paired(IEmbeddingBatch a, IEmbeddingBatch b)
    {
        var (x, y) = Inputs(a, b);
        if (x.Count != y.Count)
            throw new ArgumentException($"distance '{Name}': b has {y.Count} embeddings but a has {x.Count}; Paired compares a[i] with b[i] and needs equal counts.", nameof(b));
        return CheckResult(Name, nameof(Paired), custom.Paired(x, y), [x.Count], $"[B] = [{x.Count}] (one value per pair a[i], b[i])");
    }

    public Tensor Pairwise(IEmbeddingBatch a, IEmbeddingBatch b)
    {
        var (x, y) = Inputs(a, b);
        return CheckResult(Name, nameof(Pairwise), custom.Pairwise(x, y), [x.Count, y.Count],
            $"[B, B'] = [{x.Count}, {y.Count}] (one value per a[i], b[j])");
    }

    /// <summary>Both batches as (non-owning) facade batches, after checking their representation and dimension.</summary>
    private (EmbeddingBatch A, EmbeddingBatch B) Inputs(IEmbeddingBatch a, IEmbeddingBatch b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var x = EmbeddingBatch.Wrap(a);
        var y = EmbeddingBatch.Wrap(b);
        Check(x, nameof(a));
        Check(y, nameof(b));
        if (x.Dimension != y.Dimension)
            throw new ArgumentException($"distance '{Name}': b has dimension {y.Dimension} but a has {x.Dimension}; both batches must share it.", nameof(b));
        return (x, y);
    }

    private void Check(EmbeddingBatch batch, string name)
    {
        if (batch.Representation != FacadeAccepts)
            throw new ArgumentException(
                $"distance '{Name}' accepts {Embeddings.Describe(FacadeAccepts)}, but {name} holds {Embeddings.Describe(batch.Representation)}.", name);
    }

    /// <summary>The user's result if it is a floating-point tensor of the expected shape; else an error naming the
    /// distance, the method and the shape.</summary>
    internal static Tensor CheckResult(string distance, string method, Tensor? result, long[] shape, string expected)
    {
        if (result is null)
            throw new InvalidOperationException($"distance '{distance}': {method} returned null; it must return a tensor of shape {expected}.");
        if (!result.shape.SequenceEqual(shape))
            throw new InvalidOperationException(
                $"distance '{distance}': {method} returned a tensor of shape [{string.Join(", ", result.shape)}]; it must have shape {expected}.");
        if (!result.is_floating_point())
            throw new InvalidOperationException(
                $"distance '{distance}': {method} returned a tensor of dtype {result.dtype}; distances are floating point (float32 or float64).");
        return result;
    }
}
