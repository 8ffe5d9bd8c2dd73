using DistEmbed.Core;
using FsCheck;
using FsCheck.Fluent;
using TorchSharp;

namespace DistEmbed.Verification;

/// <summary>A generated case: items of one representation that share a dimension (and, for quantiles, levels),
/// the scale s they were drawn at, and a salt from which the laws derive permutations, paddings, shifts and
/// directions (so that a shrunk case keeps them).</summary>
internal sealed record LawCase<T>(T[] Items, double Scale, int Salt) where T : class
{
    public Random Rng(int stream) => new(unchecked(Salt * 31 + stream));
}

/// <summary>What the laws need to know about one representation: how to draw, shrink, batch, print and move items.</summary>
internal abstract class Kind<T> where T : class
{
    public abstract Core.Representation Representation { get; }

    /// <summary><paramref name="count"/> items of dimension <paramref name="d"/> at scale <paramref name="s"/>. Awkward
    /// items have ties, duplicates, zero weights and one-point distributions; smooth items (for gradients) have none of
    /// them except zero-weight padding.</summary>
    public abstract Gen<T[]> Items(int count, int d, double s, bool smooth, VerificationOptions o);

    /// <summary>Simpler variants of the items (fewer points, fewer dimensions, then simpler weights and values).</summary>
    public abstract IEnumerable<T[]> Shrink(T[] items, bool smooth);

    public abstract IEmbeddingBatch Batch(IReadOnlyList<T> items, torch.ScalarType dtype, torch.Device? device);

    public abstract int Dimension(T item);

    /// <summary>The item moved by <paramref name="shift"/> (length d): points, vectors or every quantile of dimension k.</summary>
    public abstract T Translate(T item, double[] shift);

    /// <summary>The item's values as one flat array, and the inverse (for finite differences along a direction).</summary>
    public abstract double[] Flatten(T item);

    public abstract T Unflatten(T like, double[] flat);

    /// <summary>The item's weights (distributions only; null otherwise).</summary>
    public virtual double[]? WeightsOf(T item) => null;

    /// <summary>The item with other weights (distributions only).</summary>
    public virtual T WithWeights(T item, double[] weights) => throw new NotSupportedException("only distributions have weights");

    /// <summary>A one-item float64 batch whose values (and, for distributions, raw weights) are leaf tensors that
    /// require gradients.</summary>
    public abstract IEmbeddingBatch LeafBatch(T item, torch.Device? device, out torch.Tensor values, out torch.Tensor? weights);

    // ---- shared generators ----

    /// <summary>A scale drawn log-uniformly from [MinScale, MaxScale] (61 grid points), the endpoints more often.</summary>
    public static Gen<double> Scale(VerificationOptions o)
    {
        double lo = Math.Log10(o.MinScale), hi = Math.Log10(o.MaxScale);
        return Gen.Frequency(
            (1, Gen.Elements(o.MinScale, o.MaxScale)),
            (1, Gen.Constant(Math.Clamp(1.0, o.MinScale, o.MaxScale))),
            (4, Gen.Choose(0, 60).Select(i => Math.Pow(10, lo + (hi - lo) * i / 60.0))));
    }

    /// <summary>A value at scale s: a fine draw from [−4s, 4s], or (awkward only) a coarse grid value k·s, k ∈ −3..3, so that ties happen.</summary>
    public static Gen<double> Value(double s, bool smooth)
    {
        var fine = Gen.Choose(-1_000_000, 1_000_000).SelectMany(i => Gen.Choose(0, 999_999), (i, j) => s * (i + j / 1e6) / 250_000.0);
        return smooth ? fine : Gen.Frequency((3, fine), (2, Gen.Choose(-3, 3).Select(k => s * k)));
    }

    /// <summary>v rounded to one significant digit (0 stays 0).</summary>
    public static double Round1(double v)
    {
        if (v == 0 || !double.IsFinite(v)) return v;
        var m = Math.Pow(10, Math.Floor(Math.Log10(Math.Abs(v))));
        return Math.Round(v / m) * m;
    }
}

internal sealed class DistributionKind : Kind<DistributionSample>
{
    public static readonly DistributionKind Instance = new();

    public override Core.Representation Representation => Core.Representation.Distributions;

    private static Gen<int> PointCount(VerificationOptions o, bool smooth)
    {
        var max = o.MaxPoints;
        if (smooth) return Gen.Choose(1, max);
        return Gen.Frequency(
            (2, Gen.Constant(1)),
            (2, Gen.Choose(2, Math.Min(4, max))),
            (4, Gen.Choose(Math.Min(5, max), max)));
    }

    private static Gen<double[]> Weights(int n, bool smooth)
    {
        if (smooth)
            return Gen.OneOf(
                Gen.Constant(Enumerable.Repeat(1.0, n).ToArray()),
                Gen.ArrayOf(Gen.Choose(500_000, 1_500_000).Select(i => i / 1e6), n));
        return Gen.OneOf(
            Gen.Constant(Enumerable.Repeat(1.0, n).ToArray()),
            Gen.ArrayOf(Gen.Choose(1, 100).Select(i => (double)i), n),
            Gen.ArrayOf(Gen.Choose(0, 3).Select(i => (double)i), n).Select(w =>
            {
                if (w.Sum() == 0) w[0] = 1;
                return w;
            }));
    }

    public static Gen<DistributionSample> Item(int n, int d, double s, bool smooth)
    {
        var rows = Gen.ArrayOf(Gen.ArrayOf(Value(s, smooth), d), n);
        return
            from r in rows
            from w in Weights(n, smooth)
            from duplicate in Gen.Elements(false, false, true)
            from pad in Gen.Frequency((3, Gen.Constant(-1)), (1, Gen.Choose(0, n)))
            from padPoint in Gen.ArrayOf(Value(s, true), d)
            select Build(r, w, duplicate && !smooth, smooth ? pad : -1, padPoint);
    }

    private static DistributionSample Build(double[][] rows, double[] weights, bool duplicate, int padAt, double[] padPoint)
    {
        var list = rows.Select(r => (double[])r.Clone()).ToList();
        var w = weights.ToList();
        if (duplicate && list.Count > 1) list[^1] = (double[])list[0].Clone();
        if (padAt >= 0)
        {
            list.Insert(padAt, padPoint);
            w.Insert(padAt, 0.0);
        }
        var d = list[0].Length;
        var points = new double[list.Count, d];
        for (var t = 0; t < list.Count; t++)
            for (var k = 0; k < d; k++) points[t, k] = list[t][k];
        return new DistributionSample(points, w.ToArray());
    }

    public override Gen<DistributionSample[]> Items(int count, int d, double s, bool smooth, VerificationOptions o)
    {
        // Equal lengths now and then (the common case of fixed-length embeddings, and the fast paths' case).
        var shared = PointCount(o, smooth).SelectMany(n => Gen.ArrayOf(Item(n, d, s, smooth), count));
        var independent = Gen.ArrayOf(PointCount(o, smooth).SelectMany(n => Item(n, d, s, smooth)), count);
        return Gen.Frequency((1, shared), (2, independent));
    }

    public override IEnumerable<DistributionSample[]> Shrink(DistributionSample[] items, bool smooth)
    {
        for (var i = 0; i < items.Length; i++)
            for (var t = items[i].Count - 1; t >= 0 && items[i].Count > 1; t--)
            {
                var w = items[i].Weights;
                if (w.Where((_, r) => r != t).Sum() <= 0) continue;
                yield return Replace(items, i, DropPoint(items[i], t));
            }
        var d = items[0].Dimension;
        for (var k = d - 1; k >= 0 && d > 1; k--)
            yield return items.Select(x => DropColumn(x, k)).ToArray();
        if (smooth) yield break;
        for (var i = 0; i < items.Length; i++)
        {
            var w = items[i].Weights;
            if (w.Distinct().Count() > 1) yield return Replace(items, i, new DistributionSample(items[i].Points, Enumerable.Repeat(1.0, w.Length).ToArray()));
        }
        for (var i = 0; i < items.Length; i++)
        {
            var p = items[i].Points;
            var rounded = (double[,])p.Clone();
            var changed = false;
            for (var t = 0; t < p.GetLength(0); t++)
                for (var k = 0; k < p.GetLength(1); k++)
                {
                    rounded[t, k] = Round1(p[t, k]);
                    changed |= rounded[t, k] != p[t, k];
                }
            if (changed) yield return Replace(items, i, new DistributionSample(rounded, items[i].Weights));
        }
    }

    private static T[] Replace<T>(T[] items, int i, T item)
    {
        var copy = (T[])items.Clone();
        copy[i] = item;
        return copy;
    }

    private static DistributionSample DropPoint(DistributionSample x, int t)
    {
        var p = x.Points;
        var keep = Enumerable.Range(0, x.Count).Where(r => r != t).ToArray();
        var points = new double[keep.Length, x.Dimension];
        for (var r = 0; r < keep.Length; r++)
            for (var k = 0; k < x.Dimension; k++) points[r, k] = p[keep[r], k];
        return new DistributionSample(points, keep.Select(x.Weight).ToArray());
    }

    private static DistributionSample DropColumn(DistributionSample x, int column)
    {
        var p = x.Points;
        var points = new double[x.Count, x.Dimension - 1];
        for (var t = 0; t < x.Count; t++)
            for (int k = 0, c = 0; k < x.Dimension; k++)
                if (k != column) points[t, c++] = p[t, k];
        return new DistributionSample(points, x.Weights);
    }

    public override IEmbeddingBatch Batch(IReadOnlyList<DistributionSample> items, torch.ScalarType dtype, torch.Device? device) =>
        DistributionSample.ToCoreBatch(items, dtype, device);

    public override int Dimension(DistributionSample item) => item.Dimension;

    public override DistributionSample Translate(DistributionSample item, double[] shift)
    {
        var p = item.Points;
        for (var t = 0; t < item.Count; t++)
            for (var k = 0; k < item.Dimension; k++) p[t, k] += shift[k];
        return new DistributionSample(p, item.Weights);
    }

    public override double[] Flatten(DistributionSample item) => item.Points.Cast<double>().ToArray();

    public override DistributionSample Unflatten(DistributionSample like, double[] flat)
    {
        var p = new double[like.Count, like.Dimension];
        Buffer.BlockCopy(flat, 0, p, 0, flat.Length * sizeof(double));
        return new DistributionSample(p, like.Weights);
    }

    public override double[]? WeightsOf(DistributionSample item) => item.Weights;

    public override DistributionSample WithWeights(DistributionSample item, double[] weights) => new(item.Points, weights);

    public override IEmbeddingBatch LeafBatch(DistributionSample item, torch.Device? device, out torch.Tensor values, out torch.Tensor? weights)
    {
        values = torch.tensor(Flatten(item), dtype: torch.ScalarType.Float64, device: device ?? torch.CPU)
            .reshape(1, item.Count, item.Dimension).requires_grad_(true);
        weights = torch.tensor(item.Weights, dtype: torch.ScalarType.Float64, device: device ?? torch.CPU).reshape(1, item.Count).requires_grad_(true);
        return DistributionBatch.FromTensors(values, weights);
    }

    /// <summary>The points in a random order (not the identity when T ≥ 2).</summary>
    public static DistributionSample Permute(DistributionSample x, Random rng)
    {
        var order = Enumerable.Range(0, x.Count).ToArray();
        rng.Shuffle(order);
        if (x.Count > 1 && order.SequenceEqual(Enumerable.Range(0, x.Count))) (order[0], order[1]) = (order[1], order[0]);
        return Reorder(x, order);
    }

    private static DistributionSample Reorder(DistributionSample x, int[] order)
    {
        var p = x.Points;
        var points = new double[x.Count, x.Dimension];
        for (var t = 0; t < x.Count; t++)
            for (var k = 0; k < x.Dimension; k++) points[t, k] = p[order[t], k];
        return new DistributionSample(points, order.Select(x.Weight).ToArray());
    }

    /// <summary>One or two zero-weight points at random positions (anywhere, not only at the end) and random places at scale s.</summary>
    public static DistributionSample Pad(DistributionSample x, Random rng, double s)
    {
        var rows = Enumerable.Range(0, x.Count).Select(t => Enumerable.Range(0, x.Dimension).Select(k => x[t, k]).ToArray()).ToList();
        var w = x.Weights.ToList();
        var extra = 1 + rng.Next(2);
        for (var e = 0; e < extra; e++)
        {
            var at = rng.Next(rows.Count + 1);
            rows.Insert(at, Enumerable.Range(0, x.Dimension).Select(_ => s * (8 * rng.NextDouble() - 4)).ToArray());
            w.Insert(at, 0.0);
        }
        return FromRows(rows, w);
    }

    /// <summary>A point of positive weight w replaced by two copies of weight w/2 (the second at a random position): the
    /// same measure.</summary>
    public static DistributionSample Split(DistributionSample x, Random rng)
    {
        var positive = Enumerable.Range(0, x.Count).Where(t => x.Weight(t) > 0).ToArray();
        var t0 = positive[rng.Next(positive.Length)];
        var rows = Enumerable.Range(0, x.Count).Select(t => Enumerable.Range(0, x.Dimension).Select(k => x[t, k]).ToArray()).ToList();
        var w = x.Weights.ToList();
        var half = w[t0] / 2;
        w[t0] = half;
        var at = rng.Next(rows.Count + 1);
        rows.Insert(at, (double[])rows[t0].Clone());
        w.Insert(at, half);
        return FromRows(rows, w);
    }

    private static DistributionSample FromRows(List<double[]> rows, List<double> w)
    {
        var d = rows[0].Length;
        var points = new double[rows.Count, d];
        for (var t = 0; t < rows.Count; t++)
            for (var k = 0; k < d; k++) points[t, k] = rows[t][k];
        return new DistributionSample(points, w.ToArray());
    }
}

internal sealed class VectorKind : Kind<VectorSample>
{
    public static readonly VectorKind Instance = new();

    public override Core.Representation Representation => Core.Representation.Vectors;

    public override Gen<VectorSample[]> Items(int count, int d, double s, bool smooth, VerificationOptions o)
    {
        var items = Gen.ArrayOf(Gen.ArrayOf(Value(s, smooth), d).Select(v => new VectorSample(v)), count);
        if (smooth || count < 2) return items;
        // Now and then two equal items (D(x, y) with x = y).
        return Gen.Frequency((3, items), (1, items.Select(xs => { xs[^1] = xs[0]; return xs; })));
    }

    public override IEnumerable<VectorSample[]> Shrink(VectorSample[] items, bool smooth)
    {
        var d = items[0].Dimension;
        for (var k = d - 1; k >= 0 && d > 1; k--)
            yield return items.Select(x => new VectorSample(x.Values.Where((_, c) => c != k).ToArray())).ToArray();
        if (smooth) yield break;
        for (var i = 0; i < items.Length; i++)
        {
            var v = items[i].Values;
            var rounded = v.Select(Round1).ToArray();
            if (!rounded.SequenceEqual(v))
            {
                var copy = (VectorSample[])items.Clone();
                copy[i] = new VectorSample(rounded);
                yield return copy;
            }
        }
    }

    public override IEmbeddingBatch Batch(IReadOnlyList<VectorSample> items, torch.ScalarType dtype, torch.Device? device) =>
        VectorSample.ToCoreBatch(items, dtype, device);

    public override int Dimension(VectorSample item) => item.Dimension;

    public override VectorSample Translate(VectorSample item, double[] shift) =>
        new(item.Values.Select((v, k) => v + shift[k]).ToArray());

    public override double[] Flatten(VectorSample item) => item.Values;

    public override VectorSample Unflatten(VectorSample like, double[] flat) => new(flat);

    public override IEmbeddingBatch LeafBatch(VectorSample item, torch.Device? device, out torch.Tensor values, out torch.Tensor? weights)
    {
        values = torch.tensor(item.Values, dtype: torch.ScalarType.Float64, device: device ?? torch.CPU).reshape(1, item.Dimension).requires_grad_(true);
        weights = null;
        return VectorBatch.FromTensor(values);
    }
}

internal sealed class QuantileKind : Kind<QuantileSample>
{
    public static readonly QuantileKind Instance = new();

    public override Core.Representation Representation => Core.Representation.Quantiles;

    /// <summary>Q levels: the midpoints (q − ½)/Q mostly, otherwise Q strictly increasing levels from random gaps.</summary>
    private static Gen<double[]> Levels(int q) =>
        Gen.Frequency(
            (3, Gen.Constant(QuantileBatch.MidpointLevels(q))),
            (1, Gen.ArrayOf(Gen.Choose(1, 10), q + 1).Select(g =>
            {
                var total = (double)g.Sum();
                var levels = new double[q];
                var acc = 0.0;
                for (var j = 0; j < q; j++) levels[j] = (acc += g[j]) / total;
                return levels;
            })));

    /// <summary>One quantile function: awkward = sorted values (ties from the grid, flat pieces); smooth = a start
    /// plus gaps of at least s/20.</summary>
    private static Gen<double[]> Row(int q, double s, bool smooth) =>
        smooth
            ? from start in Value(s, true)
              from gaps in Gen.ArrayOf(Gen.Choose(50_000, 1_000_000).Select(i => s * i / 1e6), q)
              select Enumerable.Range(0, q).Select(j => start + gaps.Take(j).Sum()).ToArray()
            : Gen.ArrayOf(Value(s, false), q).Select(v => v.Order().ToArray());

    public override Gen<QuantileSample[]> Items(int count, int d, double s, bool smooth, VerificationOptions o) =>
        from q in Gen.Choose(1, o.MaxLevels)
        from levels in Levels(q)
        from items in Gen.ArrayOf(Gen.ArrayOf(Row(q, s, smooth), d).Select(rows => new QuantileSample(ToMatrix(rows), levels)), count)
        select items;

    private static double[,] ToMatrix(double[][] rows)
    {
        var m = new double[rows.Length, rows[0].Length];
        for (var k = 0; k < rows.Length; k++)
            for (var j = 0; j < rows[0].Length; j++) m[k, j] = rows[k][j];
        return m;
    }

    public override IEnumerable<QuantileSample[]> Shrink(QuantileSample[] items, bool smooth)
    {
        int d = items[0].Dimension, q = items[0].LevelCount;
        var levels = items[0].Levels;
        var midpoint = levels.SequenceEqual(QuantileBatch.MidpointLevels(q));
        for (var j = q - 1; j >= 0 && q > 1; j--)
        {
            var newLevels = midpoint ? QuantileBatch.MidpointLevels(q - 1) : levels.Where((_, c) => c != j).ToArray();
            yield return items.Select(x => new QuantileSample(Select(x, Enumerable.Range(0, d), Enumerable.Range(0, q).Where(c => c != j)), newLevels)).ToArray();
        }
        for (var k = d - 1; k >= 0 && d > 1; k--)
            yield return items.Select(x => new QuantileSample(Select(x, Enumerable.Range(0, d).Where(r => r != k), Enumerable.Range(0, q)), levels)).ToArray();
        if (smooth) yield break;
        if (!midpoint) yield return items.Select(x => new QuantileSample(x.Values, QuantileBatch.MidpointLevels(q))).ToArray();
        for (var i = 0; i < items.Length; i++)
        {
            var v = items[i].Values;
            var rows = Enumerable.Range(0, d).Select(k => Enumerable.Range(0, q).Select(j => Round1(v[k, j])).Order().ToArray()).ToArray();
            var rounded = ToMatrix(rows);
            if (!rounded.Cast<double>().SequenceEqual(v.Cast<double>()))
            {
                var copy = (QuantileSample[])items.Clone();
                copy[i] = new QuantileSample(rounded, levels);
                yield return copy;
            }
        }
    }

    private static double[,] Select(QuantileSample x, IEnumerable<int> dims, IEnumerable<int> cols)
    {
        var ks = dims.ToArray();
        var js = cols.ToArray();
        var m = new double[ks.Length, js.Length];
        for (var a = 0; a < ks.Length; a++)
            for (var b = 0; b < js.Length; b++) m[a, b] = x[ks[a], js[b]];
        return m;
    }

    public override IEmbeddingBatch Batch(IReadOnlyList<QuantileSample> items, torch.ScalarType dtype, torch.Device? device) =>
        QuantileSample.ToCoreBatch(items, dtype, device);

    public override int Dimension(QuantileSample item) => item.Dimension;

    public override QuantileSample Translate(QuantileSample item, double[] shift)
    {
        var v = item.Values;
        for (var k = 0; k < item.Dimension; k++)
            for (var j = 0; j < item.LevelCount; j++) v[k, j] += shift[k];
        return new QuantileSample(v, item.Levels);
    }

    public override double[] Flatten(QuantileSample item) => item.Values.Cast<double>().ToArray();

    public override QuantileSample Unflatten(QuantileSample like, double[] flat)
    {
        var v = new double[like.Dimension, like.LevelCount];
        Buffer.BlockCopy(flat, 0, v, 0, flat.Length * sizeof(double));
        return new QuantileSample(v, like.Levels);
    }

    public override IEmbeddingBatch LeafBatch(QuantileSample item, torch.Device? device, out torch.Tensor values, out torch.Tensor? weights)
    {
        values = torch.tensor(Flatten(item), dtype: torch.ScalarType.Float64, device: device ?? torch.CPU)
            .reshape(1, item.Dimension, item.LevelCount).requires_grad_(true);
        weights = null;
        var levels = torch.tensor(item.Levels, dtype: torch.ScalarType.Float64, device: device ?? torch.CPU);
        return QuantileBatch.FromTensor(values, levels);
    }
}
