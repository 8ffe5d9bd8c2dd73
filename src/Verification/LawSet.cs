using DistEmbed.Core;
using FsCheck;
using FsCheck.Fluent;
using TorchSharp;

namespace DistEmbed.Verification;

/// <summary>The laws of one distance, whatever representation it accepts.</summary>
internal interface ILawSet
{
    void NonNegativity();
    void Identity();
    void Symmetry();
    void TriangleInequality();
    void PermutationInvariance();
    void PaddingInvariance();
    void SplittingInvariance();
    void TranslationInvariance();
    void BatchConsistency();
    void Gradients();
    void ValueGradients();
    void WeightGradients();
    void AgreesWith<TSample>(Func<TSample, TSample, double> reference) where TSample : class;
}

/// <summary>The laws over items of type <typeparamref name="T"/> (one representation).</summary>
internal sealed class LawSet<T>(Kind<T> kind, IDistance distance, VerificationOptions o) : ILawSet where T : class
{
    private static readonly string[] PairNames = ["x", "y"];

    private string Name => distance.Name;

    // ---- plumbing ----

    private Arbitrary<LawCase<T>> Cases(int count, bool smooth)
    {
        var dimension = o.Dimension is { } fixedD ? Gen.Constant(fixedD) : Gen.Choose(o.MinDimension, o.MaxDimension);
        var gen =
            from d in dimension
            from s in Kind<T>.Scale(o)
            from salt in Gen.Choose(0, int.MaxValue - 1)
            from items in kind.Items(count, d, s, smooth, o)
            select new LawCase<T>(items, s, salt);
        // A fixed dimension (set, or a Bregman generator's) survives shrinking.
        return Arb.From(gen, c => kind.Shrink(c.Items, smooth)
            .Where(items => o.Dimension is null || kind.Dimension(items[0]) == o.Dimension)
            .Select(items => c with { Items = items }));
    }

    private static IEnumerable<string> Describe(LawCase<T> c, string[] names) =>
        c.Items.Select((item, i) => $"{names[i]} = {item}");

    private void Run(string law, string statement, int count, bool smooth, string[] names, Func<LawCase<T>, Violation?> check) =>
        LawRunner.Run(law, statement, Name, Cases(count, smooth), check, c => Describe(c, names), o);

    /// <summary>D(x, y) as a float64 number: one-item batches, Paired, no gradient.</summary>
    private double D(T x, T y, torch.ScalarType? dtype = null)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var a = kind.Batch([x], dtype ?? o.DType, o.Device);
        var b = kind.Batch([y], dtype ?? o.DType, o.Device);
        var r = distance.Paired(a, b);
        if (r is null || r.shape.Length != 1 || r.shape[0] != 1)
            throw new InvalidOperationException($"Paired on one pair returned shape {Shape(r)}; it must be [1].");
        return r.to_type(torch.ScalarType.Float64).cpu().item<double>();
    }

    private static string Shape(torch.Tensor? t) => t is null ? "null" : "[" + string.Join(",", t.shape) + "]";

    private double Tolerance(double m) => o.AbsoluteTolerance + o.RelativeTolerance * m;

    private string ToleranceText(double m) =>
        $"tolerance = AbsoluteTolerance {Format.Short(o.AbsoluteTolerance)} + RelativeTolerance {Format.Short(o.RelativeTolerance)} × M {Format.Short(m)} = {Format.Short(Tolerance(m))}";

    /// <summary>The largest finite |v| (0 when none is finite).</summary>
    private static double Magnitude(IEnumerable<double> values) =>
        values.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();

    private static KeyValuePair<string, double> Obs(string name, double value) => new(name, value);

    private DistributionKind Distributions(string law)
    {
        if (kind is DistributionKind k) return k;
        throw new ArgumentException(
            $"{law} is a law of distributions; distance '{Name}' accepts {distance.Accepts}.", nameof(distance));
    }

    private static T As(object item) => (T)item;

    // ---- axioms ----

    public void NonNegativity() => Run("non-negativity", "D(x, y) ≥ 0", 2, false, PairNames, c =>
    {
        var (x, y) = (c.Items[0], c.Items[1]);
        KeyValuePair<string, double>[] values = [Obs("D(x, y)", D(x, y)), Obs("D(y, x)", D(y, x)), Obs("D(x, x)", D(x, x)), Obs("D(y, y)", D(y, y))];
        var m = Magnitude(values.Select(v => v.Value));
        var tol = Tolerance(m);
        foreach (var v in values)
            if (!(v.Value >= -tol))
                return new Violation($"{v.Key} = {Format.Short(v.Value)} is below −tolerance ({ToleranceText(m)}, M = the largest |D| of the case).", values, tol, []);
        return null;
    });

    public void Identity() => Run("identity", "D(x, x) = 0", 2, false, PairNames, c =>
    {
        var (x, y) = (c.Items[0], c.Items[1]);
        double dxy = D(x, y), dyx = D(y, x), dxx = D(x, x), dyy = D(y, y);
        KeyValuePair<string, double>[] values = [Obs("D(x, x)", dxx), Obs("D(y, y)", dyy), Obs("D(x, y)", dxy), Obs("D(y, x)", dyx)];
        var m = Magnitude([dxy, dyx]);
        var tol = Tolerance(m);
        foreach (var v in values.Take(2))
            if (!(Math.Abs(v.Value) <= tol))
                return new Violation($"|{v.Key}| = {Format.Short(Math.Abs(v.Value))} exceeds the {ToleranceText(m)} (M = max(|D(x, y)|, |D(y, x)|)).", values, tol, []);
        return null;
    });

    public void Symmetry() => Run("symmetry", "D(x, y) = D(y, x)", 2, false, PairNames, c =>
    {
        var (x, y) = (c.Items[0], c.Items[1]);
        double dxy = D(x, y), dyx = D(y, x);
        var m = Magnitude([dxy, dyx]);
        var tol = Tolerance(m);
        if (Math.Abs(dxy - dyx) <= tol) return null;
        return new Violation($"|D(x, y) − D(y, x)| = {Format.Short(Math.Abs(dxy - dyx))} exceeds the {ToleranceText(m)} (M = max(|D(x, y)|, |D(y, x)|)).",
            [Obs("D(x, y)", dxy), Obs("D(y, x)", dyx)], tol, []);
    });

    public void TriangleInequality() => Run("triangle inequality", "D(x, z) ≤ D(x, y) + D(y, z)", 3, false, ["x", "y", "z"], c =>
    {
        string[] n = ["x", "y", "z"];
        var d = new double[3, 3];
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 3; j++)
                if (i != j) d[i, j] = D(c.Items[i], c.Items[j]);
        var m = Magnitude(d.Cast<double>());
        var tol = Tolerance(m);
        (int A, int B, int C, double Excess)? worst = null;
        foreach (var (a, b, cc) in new[] { (0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0) })
        {
            var excess = d[a, cc] - (d[a, b] + d[b, cc]);
            if (!(excess <= tol) && (worst is null || !(excess <= worst.Value.Excess))) worst = (a, b, cc, excess);
        }
        if (worst is not { } w) return null;
        string ac = $"D({n[w.A]}, {n[w.C]})", ab = $"D({n[w.A]}, {n[w.B]})", bc = $"D({n[w.B]}, {n[w.C]})";
        return new Violation(
            $"{ac} − ({ab} + {bc}) = {Format.Short(w.Excess)} exceeds the {ToleranceText(m)} (M = the largest |D| among x, y, z).",
            [Obs(ac, d[w.A, w.C]), Obs(ab, d[w.A, w.B]), Obs(bc, d[w.B, w.C])], tol, []);
    });

    // ---- invariances ----

    /// <summary>D(x, y) against D of rewritten inputs that denote the same measures (or, for translation, both moved).</summary>
    private void Invariance(string law, string statement, Func<LawCase<T>, (List<(string Label, T A, T B)> Variants, List<string> Extra)> rewrite) =>
        Run(law, statement, 2, false, PairNames, c =>
        {
            var (x, y) = (c.Items[0], c.Items[1]);
            var baseline = D(x, y);
            var (variants, extra) = rewrite(c);
            var values = variants.Select(v => (v.Label, Value: D(v.A, v.B))).ToList();
            var m = Magnitude(values.Select(v => v.Value).Append(baseline));
            var tol = Tolerance(m);
            foreach (var v in values)
                if (!(Math.Abs(v.Value - baseline) <= tol))
                    return new Violation(
                        $"|{v.Label} − D(x, y)| = {Format.Short(Math.Abs(v.Value - baseline))} exceeds the {ToleranceText(m)} (M = the largest |D| of the case).",
                        [Obs("D(x, y)", baseline), Obs(v.Label, v.Value)], tol, extra);
            return null;
        });

    public void PermutationInvariance()
    {
        Distributions("permutation invariance");
        Invariance("permutation invariance", "D(πx, y) = D(x, πy) = D(x, y) for permutations π of the points", c =>
        {
            var px = DistributionKind.Permute((DistributionSample)(object)c.Items[0], c.Rng(1));
            var py = DistributionKind.Permute((DistributionSample)(object)c.Items[1], c.Rng(2));
            return ([("D(πx, y)", As(px), c.Items[1]), ("D(x, πy)", c.Items[0], As(py))], [$"πx = {px}", $"πy = {py}"]);
        });
    }

    public void PaddingInvariance()
    {
        Distributions("padding invariance");
        Invariance("padding invariance", "D(pad x, y) = D(x, pad y) = D(x, y), pad = zero-weight points inserted anywhere", c =>
        {
            var px = DistributionKind.Pad((DistributionSample)(object)c.Items[0], c.Rng(3), c.Scale);
            var py = DistributionKind.Pad((DistributionSample)(object)c.Items[1], c.Rng(4), c.Scale);
            return ([("D(pad x, y)", As(px), c.Items[1]), ("D(x, pad y)", c.Items[0], As(py))], [$"pad x = {px}", $"pad y = {py}"]);
        });
    }

    public void SplittingInvariance()
    {
        Distributions("point splitting");
        Invariance("point splitting", "D(split x, y) = D(x, split y) = D(x, y), split = a point of weight w replaced by two copies of weight w/2", c =>
        {
            var sx = DistributionKind.Split((DistributionSample)(object)c.Items[0], c.Rng(5));
            var sy = DistributionKind.Split((DistributionSample)(object)c.Items[1], c.Rng(6));
            return ([("D(split x, y)", As(sx), c.Items[1]), ("D(x, split y)", c.Items[0], As(sy))], [$"split x = {sx}", $"split y = {sy}"]);
        });
    }

    public void TranslationInvariance() =>
        Invariance("translation invariance", "D(x + c, y + c) = D(x, y)", c =>
        {
            var rng = c.Rng(7);
            var shift = Enumerable.Range(0, kind.Dimension(c.Items[0])).Select(_ => c.Scale * (8 * rng.NextDouble() - 4)).ToArray();
            var tx = kind.Translate(c.Items[0], shift);
            var ty = kind.Translate(c.Items[1], shift);
            return ([("D(x + c, y + c)", tx, ty)], [$"c = {Format.Vector(shift)}", $"x + c = {tx}", $"y + c = {ty}"]);
        });

    // ---- batches ----

    public void BatchConsistency() => Run(
        "batch consistency", "Paired(A, B)[i] = Pairwise(A, B)[i, i] = D(a_i, b_i) and Pairwise(A, B)[i, j] = D(a_i, b_j) on one-item batches",
        4, false, ["a0", "a1", "b0", "b1"], c =>
        {
            var items = c.Items;
            var single = new double[2, 2];
            for (var i = 0; i < 2; i++)
                for (var j = 0; j < 2; j++) single[i, j] = D(items[i], items[2 + j]);
            double[] paired;
            double[,] pairwise;
            using (var scope = torch.NewDisposeScope())
            using (var noGrad = torch.no_grad())
            {
                var a = kind.Batch([items[0], items[1]], o.DType, o.Device);
                var b = kind.Batch([items[2], items[3]], o.DType, o.Device);
                var p = distance.Paired(a, b);
                if (p is null || p.shape.Length != 1 || p.shape[0] != 2)
                    return new Violation($"Paired(A, B) on two pairs returned shape {Shape(p)}; it must be [2].", [], double.NaN, []);
                var q = distance.Pairwise(a, b);
                if (q is null || q.shape.Length != 2 || q.shape[0] != 2 || q.shape[1] != 2)
                    return new Violation($"Pairwise(A, B) of 2 × 2 items returned shape {Shape(q)}; it must be [2, 2].", [], double.NaN, []);
                paired = p.to_type(torch.ScalarType.Float64).cpu().data<double>().ToArray();
                var flat = q.to_type(torch.ScalarType.Float64).cpu().data<double>().ToArray();
                pairwise = new double[2, 2] { { flat[0], flat[1] }, { flat[2], flat[3] } };
            }
            var m = Magnitude(single.Cast<double>());
            var tol = Tolerance(m);
            for (var i = 0; i < 2; i++)
            {
                if (!(Math.Abs(paired[i] - single[i, i]) <= tol))
                    return new Violation(
                        $"Paired(A, B)[{i}] differs from D(a{i}, b{i}) by {Format.Short(Math.Abs(paired[i] - single[i, i]))}, more than the {ToleranceText(m)}; A = [a0, a1] and B = [b0, b1] are padded to a common length.",
                        [Obs($"Paired(A, B)[{i}]", paired[i]), Obs($"D(a{i}, b{i})", single[i, i])], tol, []);
                for (var j = 0; j < 2; j++)
                    if (!(Math.Abs(pairwise[i, j] - single[i, j]) <= tol))
                        return new Violation(
                            $"Pairwise(A, B)[{i}, {j}] differs from D(a{i}, b{j}) by {Format.Short(Math.Abs(pairwise[i, j] - single[i, j]))}, more than the {ToleranceText(m)}; A = [a0, a1] and B = [b0, b1] are padded to a common length.",
                            [Obs($"Pairwise(A, B)[{i}, {j}]", pairwise[i, j]), Obs($"D(a{i}, b{j})", single[i, j])], tol, []);
            }
            return null;
        });

    // ---- gradients ----

    public void Gradients()
    {
        ValueGradients();
        if (kind is DistributionKind) WeightGradients();
    }

    public void ValueGradients()
    {
        var what = kind is DistributionKind ? "points" : "values";
        Run($"gradient with respect to the {what}", "⟨∇D(x, y), v⟩ = (D(x + hv_x, y + hv_y) − D(x − hv_x, y − hv_y)) / 2h",
            2, true, PairNames, c => GradientCase(c, weights: false));
    }

    public void WeightGradients()
    {
        Distributions("the gradient with respect to the weights");
        Run("gradient with respect to the weights", "⟨∇_w D(x, y), u⟩ = (D(w + hu) − D(w − hu)) / 2h (raw weights, normalised by the batch)",
            2, true, PairNames, c => GradientCase(c, weights: true));
    }

    /// <summary>The relative steps of the central differences: the option's step and 10 and 100 times it. The
    /// smallest step suffers most from rounding (D computed by cancelling terms), the largest from curvature; a correct
    /// gradient matches at least one of them, a wrong one none.</summary>
    internal static double[] Steps(VerificationOptions o) => [o.FiniteDifferenceStep, 10 * o.FiniteDifferenceStep, 100 * o.FiniteDifferenceStep];

    private Violation? GradientCase(LawCase<T> c, bool weights)
    {
        var (x, y) = (c.Items[0], c.Items[1]);
        var rng = c.Rng(weights ? 9 : 8);
        double[] Direction(T item)
        {
            if (!weights) return kind.Flatten(item).Select(_ => 2 * rng.NextDouble() - 1).ToArray();
            return kind.WeightsOf(item)!.Select(w => w > 0 ? w * (2 * rng.NextDouble() - 1) : 0.0).ToArray();
        }
        var vx = Direction(x);
        var vy = Direction(y);

        double value, directional;
        using (var scope = torch.NewDisposeScope())
        using (var enable = torch.enable_grad())
        {
            var a = kind.LeafBatch(x, o.Device, out var px, out var wx);
            var b = kind.LeafBatch(y, o.Device, out var py, out var wy);
            var r = distance.Paired(a, b);
            if (r is null || r.shape.Length != 1 || r.shape[0] != 1)
                throw new InvalidOperationException($"Paired on one pair returned shape {Shape(r)}; it must be [1].");
            value = r.to_type(torch.ScalarType.Float64).cpu().item<double>();
            if (!r.requires_grad)
                return new Violation(
                    "D(x, y) carries no gradient (requires_grad is false): the distance is not differentiable in its inputs, or it detached them.",
                    [Obs("D(x, y)", value)], double.NaN, []);
            var inputs = weights ? new[] { wx!, wy! } : new[] { px, py };
            // Each input enters the objective (times zero), so that an input the distance ignores gets a zero gradient.
            var total = r.sum();
            foreach (var t in inputs) total = total + t.sum() * 0.0;
            var grads = torch.autograd.grad([total], inputs);
            var gx = grads[0].to_type(torch.ScalarType.Float64).cpu().data<double>().ToArray();
            var gy = grads[1].to_type(torch.ScalarType.Float64).cpu().data<double>().ToArray();
            directional = gx.Zip(vx, (g, v) => g * v).Sum() + gy.Zip(vy, (g, v) => g * v).Sum();
        }

        T Move(T item, double[] v, double step)
        {
            if (weights)
            {
                var w = kind.WeightsOf(item)!;
                return kind.WithWeights(item, w.Select((wi, i) => wi + step * v[i]).ToArray());
            }
            var f = kind.Flatten(item);
            return kind.Unflatten(item, f.Select((fi, i) => fi + step * v[i]).ToArray());
        }

        var steps = Steps(o).Select(step => weights ? step : step * c.Scale).ToArray();
        var differences = steps
            .Select(h => (D(Move(x, vx, h), Move(y, vy, h), torch.ScalarType.Float64) - D(Move(x, vx, -h), Move(y, vy, -h), torch.ScalarType.Float64)) / (2 * h))
            .ToArray();
        var g = Magnitude(differences.Append(directional).Append(weights ? value : value / c.Scale));
        var tol = o.AbsoluteTolerance + o.GradientTolerance * g;
        var best = differences.Select(fd => Math.Abs(directional - fd)).Min();
        if (best <= tol) return null;
        var what = weights ? "weights" : kind is DistributionKind ? "points" : "values";
        var observed = new List<KeyValuePair<string, double>> { Obs("D(x, y)", value), Obs("⟨∇D, v⟩ (autograd)", directional) };
        observed.AddRange(steps.Select((h, i) => Obs($"finite difference (h = {Format.Short(h)})", differences[i])));
        return new Violation(
            $"autograd's directional derivative along v differs from every central finite difference (steps h = {string.Join(", ", steps.Select(Format.Short))}) by at least {Format.Short(best)}; "
            + $"tolerance = AbsoluteTolerance {Format.Short(o.AbsoluteTolerance)} + GradientTolerance {Format.Short(o.GradientTolerance)} × G {Format.Short(g)} = {Format.Short(tol)} "
            + $"(G = max(|⟨∇D, v⟩|, |finite differences|, |D|{(weights ? "" : " / s")})). Inputs are float64; the direction moves the {what} of x and y.",
            observed, tol, [$"v_x = {Format.Vector(vx)}", $"v_y = {Format.Vector(vy)}"]);
    }

    // ---- reference ----

    public void AgreesWith<TSample>(Func<TSample, TSample, double> reference) where TSample : class
    {
        if (reference is not Func<T, T, double> f)
            throw new ArgumentException(
                $"reference takes {typeof(TSample).Name} but distance '{Name}' accepts {distance.Accepts} ({typeof(T).Name}).", nameof(reference));
        Run("agreement with the reference", "D(x, y) = reference(x, y)", 2, false, PairNames, c =>
        {
            var (x, y) = (c.Items[0], c.Items[1]);
            foreach (var (a, b, label) in new[] { (x, y, "(x, y)"), (y, x, "(y, x)") })
            {
                var d = D(a, b);
                double r;
                try
                {
                    r = f(a, b);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    return new Violation($"The reference raised {e.GetType().Name} on {label}: {e.Message}", [Obs($"D{label}", d)], double.NaN, [], e);
                }
                var m = Magnitude([d, r]);
                var tol = Tolerance(m);
                if (!(Math.Abs(d - r) <= tol))
                    return new Violation(
                        $"|D{label} − reference{label}| = {Format.Short(Math.Abs(d - r))} exceeds the {ToleranceText(m)} (M = max(|D|, |reference|)).",
                        [Obs($"D{label}", d), Obs($"reference{label}", r)], tol, []);
            }
            return null;
        });
    }
}
