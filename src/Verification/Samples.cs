using System.Globalization;
using System.Text;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Verification;

/// <summary>
/// One weighted empirical distribution μ = Σ_t w_t δ_{x_t} / Σ_t w_t in ℝ^d on plain float64 arrays: the value the
/// generators draw, the law checks shrink and print, and a reference function receives.
/// </summary>
/// <remarks>
/// Weights are non-negative and not all zero; they need not sum to one (batches and <see cref="NormalizedWeights"/>
/// normalise them). A zero weight is padding: a point that no distance may see. The arrays are copied in and out, so a
/// sample never changes.
/// </remarks>
public sealed class DistributionSample
{
    private readonly double[,] points;
    private readonly double[] weights;

    /// <summary>Creates a sample from T × d points and T weights (both copied).</summary>
    /// <param name="points">T × d points, T ≥ 1, d ≥ 1, finite.</param>
    /// <param name="weights">T finite, non-negative weights, not all zero.</param>
    /// <exception cref="ArgumentException">Empty points, a non-finite value, a negative weight, all weights zero, or
    /// a length mismatch (the message names the argument).</exception>
    public DistributionSample(double[,] points, double[] weights)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(weights);
        if (points.GetLength(0) == 0 || points.GetLength(1) == 0)
            throw new ArgumentException($"points has shape [{points.GetLength(0)},{points.GetLength(1)}]; a distribution needs T ≥ 1 points of dimension d ≥ 1.", nameof(points));
        if (weights.Length != points.GetLength(0))
            throw new ArgumentException($"weights has length {weights.Length} but points has {points.GetLength(0)} rows; they must match.", nameof(weights));
        foreach (var v in points)
            if (!double.IsFinite(v)) throw new ArgumentException($"points contains {v}; all values must be finite.", nameof(points));
        for (var t = 0; t < weights.Length; t++)
            if (!double.IsFinite(weights[t]) || weights[t] < 0)
                throw new ArgumentException($"weights[{t}] = {weights[t]}; weights must be finite and non-negative.", nameof(weights));
        if (weights.Sum() <= 0) throw new ArgumentException("weights are all zero; a distribution needs positive mass.", nameof(weights));
        this.points = (double[,])points.Clone();
        this.weights = (double[])weights.Clone();
    }

    /// <summary>The points, T × d (a copy).</summary>
    public double[,] Points => (double[,])points.Clone();

    /// <summary>The weights, length T (a copy; not normalised, zero = padding).</summary>
    public double[] Weights => (double[])weights.Clone();

    /// <summary>The number of points T (zero-weight points included).</summary>
    public int Count => points.GetLength(0);

    /// <summary>The dimension d.</summary>
    public int Dimension => points.GetLength(1);

    /// <summary>Coordinate <paramref name="t"/>, <paramref name="k"/> of the points.</summary>
    /// <param name="t">Point index, 0 ≤ t &lt; T.</param>
    /// <param name="k">Coordinate, 0 ≤ k &lt; d.</param>
    public double this[int t, int k] => points[t, k];

    /// <summary>Weight <paramref name="t"/> (not normalised).</summary>
    /// <param name="t">Point index, 0 ≤ t &lt; T.</param>
    public double Weight(int t) => weights[t];

    /// <summary>The weights divided by their sum (length T).</summary>
    public double[] NormalizedWeights()
    {
        var total = weights.Sum();
        return weights.Select(w => w / total).ToArray();
    }

    /// <summary>Pads <paramref name="samples"/> (of one dimension) into a batch of distributions (points [B, T, d],
    /// weights [B, T]): shorter samples get zero-weight points at the origin at the end. The caller disposes it.</summary>
    /// <param name="samples">B ≥ 1 samples of one dimension.</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">Target device; null means CPU.</param>
    /// <returns>The batch (<see cref="Representation.Distributions"/>).</returns>
    /// <exception cref="ArgumentException">No samples, or samples of different dimensions.</exception>
    public static EmbeddingBatch ToBatch(IReadOnlyList<DistributionSample> samples, torch.ScalarType dtype = torch.ScalarType.Float64, torch.Device? device = null) =>
        EmbeddingBatch.Wrap(ToCoreBatch(samples, dtype, device));

    /// <summary><see cref="ToBatch"/> as the engine's batch.</summary>
    internal static DistributionBatch ToCoreBatch(IReadOnlyList<DistributionSample> samples, torch.ScalarType dtype, torch.Device? device)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) throw new ArgumentException("samples is empty; a batch needs at least one distribution.", nameof(samples));
        var d = samples[0].Dimension;
        for (var i = 0; i < samples.Count; i++)
            if (samples[i].Dimension != d)
                throw new ArgumentException($"samples[{i}] has dimension {samples[i].Dimension} but samples[0] has {d}; a batch has one dimension.", nameof(samples));
        var t = samples.Max(s => s.Count);
        var pts = new double[samples.Count * t * d];
        var w = new double[samples.Count * t];
        for (var i = 0; i < samples.Count; i++)
            for (var r = 0; r < samples[i].Count; r++)
            {
                w[i * t + r] = samples[i].weights[r];
                for (var k = 0; k < d; k++) pts[(i * t + r) * d + k] = samples[i].points[r, k];
            }
        torch.Tensor p, wt;
        using (var scope = torch.NewDisposeScope())
        {
            p = torch.tensor(pts, dtype: torch.ScalarType.Float64).reshape(samples.Count, t, d).to_type(dtype).to(device ?? torch.CPU).MoveToOuterDisposeScope();
            wt = torch.tensor(w, dtype: torch.ScalarType.Float64).reshape(samples.Count, t).to_type(dtype).to(device ?? torch.CPU).MoveToOuterDisposeScope();
        }
        // Outside the scope: the batch's own tensors (the normalised weights) belong to the caller's scope, not to ours.
        return DistributionBatch.FromTensors(p, wt);
    }

    /// <summary>The distributions of a batch as samples (padding kept as zero-weight points, weights as stored).</summary>
    /// <param name="batch">A batch of distributions (any dtype, device).</param>
    /// <returns>One sample per item.</returns>
    /// <exception cref="ArgumentException">The batch does not hold distributions.</exception>
    public static DistributionSample[] FromBatch(EmbeddingBatch batch) => FromCoreBatch(SampleBatches.Core<DistributionBatch>(batch, Representation.Distributions));

    /// <summary><see cref="FromBatch"/> of the engine's batch.</summary>
    internal static DistributionSample[] FromCoreBatch(DistributionBatch batch)
    {
        using var scope = torch.NewDisposeScope();
        var p = batch.Points.detach().cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
        var w = batch.Weights.detach().cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
        int b = batch.Count, t = batch.Length, d = batch.Dimension;
        var result = new DistributionSample[b];
        for (var i = 0; i < b; i++)
        {
            var pts = new double[t, d];
            for (var r = 0; r < t; r++)
                for (var k = 0; k < d; k++) pts[r, k] = p[(i * t + r) * d + k];
            result[i] = new DistributionSample(pts, w.AsSpan(i * t, t).ToArray());
        }
        return result;
    }

    /// <summary>The sample as text with every value round-trippable, e.g. <c>{points [[0], [1.5]], weights [1, 1]}</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder("{points [");
        for (var t = 0; t < Count; t++)
        {
            if (t > 0) text.Append(", ");
            text.Append('[');
            for (var k = 0; k < Dimension; k++) text.Append(k > 0 ? ", " : "").Append(Format.Number(points[t, k]));
            text.Append(']');
        }
        text.Append("], weights ").Append(Format.Vector(weights)).Append('}');
        return text.ToString();
    }
}

/// <summary>
/// One item of a quantile batch: d per-dimension quantile functions sampled at Q levels, <c>Values</c> d × Q
/// (non-decreasing along Q) at the levels <c>Levels</c> (strictly increasing in (0, 1)).
/// </summary>
public sealed class QuantileSample
{
    private readonly double[,] values;
    private readonly double[] levels;

    /// <summary>Creates a sample (both arrays copied).</summary>
    /// <param name="values">d × Q quantiles, finite, non-decreasing along Q; d, Q ≥ 1.</param>
    /// <param name="levels">Q strictly increasing levels in (0, 1).</param>
    /// <exception cref="ArgumentException">A shape, order or range rule is broken (the message names the argument).</exception>
    public QuantileSample(double[,] values, double[] levels)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(levels);
        int d = values.GetLength(0), q = values.GetLength(1);
        if (d == 0 || q == 0) throw new ArgumentException($"values has shape [{d},{q}]; a quantile sample is d × Q with d, Q ≥ 1.", nameof(values));
        if (levels.Length != q) throw new ArgumentException($"levels has length {levels.Length} but values has Q = {q} columns; they must match.", nameof(levels));
        for (var j = 0; j < q; j++)
        {
            if (!(levels[j] > 0 && levels[j] < 1)) throw new ArgumentException($"levels[{j}] = {levels[j]}; levels must lie strictly between 0 and 1.", nameof(levels));
            if (j > 0 && !(levels[j] > levels[j - 1])) throw new ArgumentException($"levels[{j}] = {levels[j]} ≤ levels[{j - 1}]; levels must be strictly increasing.", nameof(levels));
        }
        for (var k = 0; k < d; k++)
            for (var j = 0; j < q; j++)
            {
                if (!double.IsFinite(values[k, j])) throw new ArgumentException($"values[{k},{j}] = {values[k, j]}; all values must be finite.", nameof(values));
                if (j > 0 && values[k, j] < values[k, j - 1])
                    throw new ArgumentException($"values[{k},{j}] < values[{k},{j - 1}]; quantile functions must be non-decreasing along Q.", nameof(values));
            }
        this.values = (double[,])values.Clone();
        this.levels = (double[])levels.Clone();
    }

    /// <summary>The quantiles, d × Q (a copy).</summary>
    public double[,] Values => (double[,])values.Clone();

    /// <summary>The levels, length Q (a copy).</summary>
    public double[] Levels => (double[])levels.Clone();

    /// <summary>The dimension d.</summary>
    public int Dimension => values.GetLength(0);

    /// <summary>The number of levels Q.</summary>
    public int LevelCount => values.GetLength(1);

    /// <summary>Quantile <paramref name="j"/> of dimension <paramref name="k"/>.</summary>
    /// <param name="k">Dimension, 0 ≤ k &lt; d.</param>
    /// <param name="j">Level index, 0 ≤ j &lt; Q.</param>
    public double this[int k, int j] => values[k, j];

    /// <summary>Stacks samples that share their levels into a batch of quantile functions [B, d, Q]. The caller disposes it.</summary>
    /// <param name="samples">B ≥ 1 samples of one d, Q and one set of levels.</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">Target device; null means CPU.</param>
    /// <returns>The batch (<see cref="Representation.Quantiles"/>).</returns>
    /// <exception cref="ArgumentException">No samples, or samples that differ in d, Q or levels.</exception>
    public static EmbeddingBatch ToBatch(IReadOnlyList<QuantileSample> samples, torch.ScalarType dtype = torch.ScalarType.Float64, torch.Device? device = null) =>
        EmbeddingBatch.Wrap(ToCoreBatch(samples, dtype, device));

    /// <summary><see cref="ToBatch"/> as the engine's batch.</summary>
    internal static QuantileBatch ToCoreBatch(IReadOnlyList<QuantileSample> samples, torch.ScalarType dtype, torch.Device? device)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) throw new ArgumentException("samples is empty; a batch needs at least one item.", nameof(samples));
        int d = samples[0].Dimension, q = samples[0].LevelCount;
        for (var i = 1; i < samples.Count; i++)
            if (samples[i].Dimension != d || samples[i].LevelCount != q || !samples[i].levels.SequenceEqual(samples[0].levels))
                throw new ArgumentException($"samples[{i}] differs from samples[0] in dimension, level count or levels; a batch shares them.", nameof(samples));
        var flat = new double[samples.Count * d * q];
        for (var i = 0; i < samples.Count; i++)
            for (var k = 0; k < d; k++)
                for (var j = 0; j < q; j++) flat[(i * d + k) * q + j] = samples[i].values[k, j];
        torch.Tensor v, l;
        using (var scope = torch.NewDisposeScope())
        {
            v = torch.tensor(flat, dtype: torch.ScalarType.Float64).reshape(samples.Count, d, q).to_type(dtype).to(device ?? torch.CPU).MoveToOuterDisposeScope();
            l = torch.tensor(samples[0].levels, dtype: torch.ScalarType.Float64).to_type(dtype).to(device ?? torch.CPU).MoveToOuterDisposeScope();
        }
        // Outside the scope: the batch's own tensors (its copy of the levels) belong to the caller's scope, not to ours.
        var batch = QuantileBatch.FromTensor(v, l);
        if (!ReferenceEquals(batch.Levels, l)) l.Dispose();
        return batch;
    }

    /// <summary>The items of a batch as samples.</summary>
    /// <param name="batch">A batch of quantile functions (any dtype, device).</param>
    /// <returns>One sample per item.</returns>
    /// <exception cref="ArgumentException">The batch does not hold quantile functions.</exception>
    public static QuantileSample[] FromBatch(EmbeddingBatch batch) => FromCoreBatch(SampleBatches.Core<QuantileBatch>(batch, Representation.Quantiles));

    /// <summary><see cref="FromBatch"/> of the engine's batch.</summary>
    internal static QuantileSample[] FromCoreBatch(QuantileBatch batch)
    {
        using var scope = torch.NewDisposeScope();
        var v = batch.Values.detach().cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
        var l = batch.Levels.detach().cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
        int b = batch.Count, d = batch.Dimension, q = batch.LevelCount;
        var result = new QuantileSample[b];
        for (var i = 0; i < b; i++)
        {
            var values = new double[d, q];
            for (var k = 0; k < d; k++)
                for (var j = 0; j < q; j++) values[k, j] = v[(i * d + k) * q + j];
            result[i] = new QuantileSample(values, l);
        }
        return result;
    }

    /// <summary>The sample as text, e.g. <c>{quantiles [[0, 1]], levels [0.25, 0.75]}</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder("{quantiles [");
        for (var k = 0; k < Dimension; k++)
        {
            if (k > 0) text.Append(", ");
            text.Append(Format.Vector(Enumerable.Range(0, LevelCount).Select(j => values[k, j]).ToArray()));
        }
        text.Append("], levels ").Append(Format.Vector(levels)).Append('}');
        return text.ToString();
    }
}

/// <summary>One vector x ∈ ℝ^d on a float64 array.</summary>
public sealed class VectorSample
{
    private readonly double[] values;

    /// <summary>Creates a sample (the array is copied).</summary>
    /// <param name="values">d ≥ 1 finite values.</param>
    /// <exception cref="ArgumentException">Empty or a non-finite value.</exception>
    public VectorSample(double[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length == 0) throw new ArgumentException("values is empty; a vector has dimension d ≥ 1.", nameof(values));
        for (var k = 0; k < values.Length; k++)
            if (!double.IsFinite(values[k])) throw new ArgumentException($"values[{k}] = {values[k]}; all values must be finite.", nameof(values));
        this.values = (double[])values.Clone();
    }

    /// <summary>The values, length d (a copy).</summary>
    public double[] Values => (double[])values.Clone();

    /// <summary>The dimension d.</summary>
    public int Dimension => values.Length;

    /// <summary>Coordinate <paramref name="k"/>.</summary>
    /// <param name="k">0 ≤ k &lt; d.</param>
    public double this[int k] => values[k];

    /// <summary>Stacks samples of one dimension into a batch of vectors [B, d]. The caller disposes it.</summary>
    /// <param name="samples">B ≥ 1 samples of one dimension.</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">Target device; null means CPU.</param>
    /// <returns>The batch (<see cref="Representation.Vectors"/>).</returns>
    /// <exception cref="ArgumentException">No samples, or samples of different dimensions.</exception>
    public static EmbeddingBatch ToBatch(IReadOnlyList<VectorSample> samples, torch.ScalarType dtype = torch.ScalarType.Float64, torch.Device? device = null) =>
        EmbeddingBatch.Wrap(ToCoreBatch(samples, dtype, device));

    /// <summary><see cref="ToBatch"/> as the engine's batch.</summary>
    internal static VectorBatch ToCoreBatch(IReadOnlyList<VectorSample> samples, torch.ScalarType dtype, torch.Device? device)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0) throw new ArgumentException("samples is empty; a batch needs at least one vector.", nameof(samples));
        var d = samples[0].Dimension;
        for (var i = 1; i < samples.Count; i++)
            if (samples[i].Dimension != d)
                throw new ArgumentException($"samples[{i}] has dimension {samples[i].Dimension} but samples[0] has {d}; a batch has one dimension.", nameof(samples));
        var flat = samples.SelectMany(s => s.values).ToArray();
        torch.Tensor v;
        using (var scope = torch.NewDisposeScope())
            v = torch.tensor(flat, dtype: torch.ScalarType.Float64).reshape(samples.Count, d).to_type(dtype).to(device ?? torch.CPU).MoveToOuterDisposeScope();
        return VectorBatch.FromTensor(v);
    }

    /// <summary>The vectors of a batch as samples.</summary>
    /// <param name="batch">A batch of vectors (any dtype, device).</param>
    /// <returns>One sample per item.</returns>
    /// <exception cref="ArgumentException">The batch does not hold vectors.</exception>
    public static VectorSample[] FromBatch(EmbeddingBatch batch) => FromCoreBatch(SampleBatches.Core<VectorBatch>(batch, Representation.Vectors));

    /// <summary><see cref="FromBatch"/> of the engine's batch.</summary>
    internal static VectorSample[] FromCoreBatch(VectorBatch batch)
    {
        using var scope = torch.NewDisposeScope();
        var v = batch.Values.detach().cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
        int b = batch.Count, d = batch.Dimension;
        return Enumerable.Range(0, b).Select(i => new VectorSample(v.AsSpan(i * d, d).ToArray())).ToArray();
    }

    /// <summary>The vector as text, e.g. <c>[0, 1.5]</c>.</summary>
    public override string ToString() => Format.Vector(values);
}

/// <summary>The engine's batch inside a facade batch, after checking its representation.</summary>
internal static class SampleBatches
{
    public static TBatch Core<TBatch>(EmbeddingBatch batch, Representation representation) where TBatch : class, IEmbeddingBatch
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Representation != representation || batch.Core is not TBatch core)
            throw new ArgumentException($"batch holds {Embeddings.Describe(batch.Representation)}; these samples come from {Embeddings.Describe(representation)}.", nameof(batch));
        return core;
    }
}

/// <summary>Round-trippable invariant formatting of numbers in messages.</summary>
internal static class Format
{
    public static string Number(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    public static string Short(double x) => x.ToString("G6", CultureInfo.InvariantCulture);

    public static string Vector(IEnumerable<double> xs) => "[" + string.Join(", ", xs.Select(Number)) + "]";
}
