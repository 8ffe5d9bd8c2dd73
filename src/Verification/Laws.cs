using DistEmbed.Bregman;
using FsCheck;
using FsCheck.Fluent;
using TorchSharp;

namespace DistEmbed.Verification;

/// <summary>
/// Law checks for a distance or divergence: each method draws <see cref="VerificationOptions.Cases"/> random cases
/// from <see cref="BatchGenerators"/> (ties, duplicates, zero weights, unequal lengths, scales 1e-3 … 1e3), evaluates
/// the distance on them, and throws a <see cref="LawViolationException"/> on the first case where the law fails —
/// after shrinking it to a small counterexample. Call them from any test framework: a passing check returns, a
/// failing one fails the test with a message that names the law, the counterexample, the numbers and the tolerance.
/// </summary>
/// <remarks>
/// <para>The distance is any <see cref="Distance"/>: one of the catalog (<c>Distance.Create</c>), a learned Bregman
/// divergence (<c>ConvexGenerator.Distance</c>, <c>BregmanModel.Distance</c>), your own (a subclass of
/// <see cref="CustomDistance"/>, converted implicitly, or <c>Distance.Custom</c>), or a float64 function wrapped by
/// <see cref="DelegateDistance"/>.
/// Each law evaluates D(x, y) as <c>Paired</c> on one-item batches in <see cref="VerificationOptions.DType"/>; the
/// batch-consistency law also checks <c>Pairwise</c> and padded multi-item batches.</para>
/// <para>For a Bregman divergence the checks use its generator's dimension (unless
/// <see cref="VerificationOptions.Dimension"/> is set), dtype and device.</para>
/// <para>Null options mean the defaults; the options are validated first (an <see cref="ArgumentException"/> names the
/// setting).</para>
/// </remarks>
public static class Laws
{
    /// <summary>The engine's distance a facade distance wraps (null checked).</summary>
    private static Core.IDistance Unwrap(Distance distance) =>
        (distance ?? throw new ArgumentNullException(nameof(distance))).Core;

    private static VerificationOptions Prepare(Core.IDistance distance, VerificationOptions? options)
    {
        var o = (options ?? new VerificationOptions()).Clone();
        o.Validate();
        if (distance is Core.Bregman.BregmanDivergence bregman)
        {
            o.Dimension ??= bregman.Generator.Dimension;
            o.DType = bregman.Generator.DType;
            o.Device = bregman.Generator.Device;
        }
        return o;
    }

    private static ILawSet Set(Distance distance, VerificationOptions? options)
    {
        var core = Unwrap(distance);
        var o = Prepare(core, options);
        return core.Accepts switch
        {
            Core.Representation.Distributions => new LawSet<DistributionSample>(DistributionKind.Instance, core, o),
            Core.Representation.Quantiles => new LawSet<QuantileSample>(QuantileKind.Instance, core, o),
            Core.Representation.Vectors => new LawSet<VectorSample>(VectorKind.Instance, core, o),
            _ => throw new ArgumentException($"distance '{core.Name}' accepts {core.Accepts}, which no generator draws.", nameof(distance)),
        };
    }

    /// <summary>The metric axioms: <see cref="NonNegativity"/>, <see cref="Identity"/>, <see cref="Symmetry"/> and
    /// <see cref="TriangleInequality"/>, in that order.</summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">An axiom fails on some case.</exception>
    public static void Metric(Distance distance, VerificationOptions? options = null)
    {
        var set = Set(distance, options);
        set.NonNegativity();
        set.Identity();
        set.Symmetry();
        set.TriangleInequality();
    }

    /// <summary>The divergence laws: <see cref="NonNegativity"/> (D ≥ 0) and <see cref="Identity"/> (D(x, x) = 0).
    /// For a Bregman divergence add <see cref="GeneratorConvexity(ConvexGenerator, VerificationOptions?)"/>.</summary>
    /// <param name="distance">The divergence under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">A law fails on some case.</exception>
    public static void Divergence(Distance distance, VerificationOptions? options = null)
    {
        var set = Set(distance, options);
        set.NonNegativity();
        set.Identity();
    }

    /// <summary>
    /// What the distance declares about itself: <see cref="BatchConsistency"/>, <see cref="NonNegativity"/>, then the
    /// metric axioms when <c>IsMetric</c> is true, or <see cref="Symmetry"/> when only <c>IsSymmetric</c> is.
    /// </summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">A declared law fails on some case.</exception>
    public static void Declared(Distance distance, VerificationOptions? options = null)
    {
        var set = Set(distance, options);
        set.BatchConsistency();
        set.NonNegativity();
        if (distance.IsMetric)
        {
            set.Identity();
            set.Symmetry();
            set.TriangleInequality();
        }
        else if (distance.IsSymmetric)
        {
            set.Symmetry();
        }
    }

    /// <summary>Non-negativity: D(x, y) ≥ −tolerance, also for D(y, x), D(x, x) and D(y, y).</summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">A negative value beyond the tolerance.</exception>
    public static void NonNegativity(Distance distance, VerificationOptions? options = null) => Set(distance, options).NonNegativity();

    /// <summary>Identity: |D(x, x)| ≤ tolerance, with M = max(|D(x, y)|, |D(y, x)|) for another item y of the case.</summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">D(x, x) is not zero within the tolerance.</exception>
    public static void Identity(Distance distance, VerificationOptions? options = null) => Set(distance, options).Identity();

    /// <summary>Symmetry: |D(x, y) − D(y, x)| ≤ tolerance.</summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">D is not symmetric on some case.</exception>
    public static void Symmetry(Distance distance, VerificationOptions? options = null) => Set(distance, options).Symmetry();

    /// <summary>Triangle inequality: D(a, c) ≤ D(a, b) + D(b, c) + tolerance for all six orderings (a, b, c) of the
    /// case's three items x, y, z (M = the largest of the six distances).</summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">Some ordering breaks the inequality by more than the tolerance.</exception>
    public static void TriangleInequality(Distance distance, VerificationOptions? options = null) => Set(distance, options).TriangleInequality();

    /// <summary>Permutation invariance (distributions): the order of a distribution's points does not matter,
    /// D(πx, y) = D(x, πy) = D(x, y).</summary>
    /// <param name="distance">A distance on distributions.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept distributions.</exception>
    /// <exception cref="LawViolationException">A permutation changes D beyond the tolerance.</exception>
    public static void PermutationInvariance(Distance distance, VerificationOptions? options = null) => Set(distance, options).PermutationInvariance();

    /// <summary>Padding invariance (distributions): zero-weight points, inserted anywhere and placed anywhere, change
    /// nothing: D(pad x, y) = D(x, pad y) = D(x, y). Catches a distance that reads padded points.</summary>
    /// <param name="distance">A distance on distributions.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept distributions.</exception>
    /// <exception cref="LawViolationException">Padding changes D beyond the tolerance.</exception>
    public static void PaddingInvariance(Distance distance, VerificationOptions? options = null) => Set(distance, options).PaddingInvariance();

    /// <summary>Point splitting (distributions): a point of weight w replaced by two copies of weight w/2 is the same
    /// measure, so D does not change. Catches a distance that ignores the weights (treats points as equally likely).</summary>
    /// <param name="distance">A distance on distributions.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept distributions.</exception>
    /// <exception cref="LawViolationException">Splitting changes D beyond the tolerance.</exception>
    public static void SplittingInvariance(Distance distance, VerificationOptions? options = null) => Set(distance, options).SplittingInvariance();

    /// <summary>Permutation, padding and splitting invariance (distributions): the laws every distance between measures
    /// satisfies, whatever its formula.</summary>
    /// <param name="distance">A distance on distributions.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept distributions.</exception>
    /// <exception cref="LawViolationException">One of the three fails.</exception>
    public static void MeasureInvariances(Distance distance, VerificationOptions? options = null)
    {
        var set = Set(distance, options);
        set.PermutationInvariance();
        set.PaddingInvariance();
        set.SplittingInvariance();
    }

    /// <summary>Translation invariance: D(x + c, y + c) = D(x, y) for a shift c ∈ ℝ^d (of every point, vector, or
    /// every quantile of a dimension). It holds for Wasserstein, sliced, Sinkhorn, Bures, MMD with
    /// translation-invariant kernels, energy and Euclidean/L_p distances; not for cosine or most Bregman divergences.</summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">A shift changes D beyond the tolerance.</exception>
    public static void TranslationInvariance(Distance distance, VerificationOptions? options = null) => Set(distance, options).TranslationInvariance();

    /// <summary>Batch consistency: on batches A = [a0, a1], B = [b0, b1] (distributions padded to a common length),
    /// <c>Paired(A, B)</c> has shape [2] and equals the one-item D(a_i, b_i), and <c>Pairwise(A, B)</c> has shape
    /// [2, 2] and equals D(a_i, b_j).</summary>
    /// <param name="distance">The distance under test.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">A wrong shape or value.</exception>
    public static void BatchConsistency(Distance distance, VerificationOptions? options = null) => Set(distance, options).BatchConsistency();

    /// <summary>
    /// Gradients against finite differences, in float64: for a random direction v, autograd's ⟨∇D(x, y), v⟩ equals
    /// the central difference (D(x + hv) − D(x − hv)) / 2h within <see cref="VerificationOptions.GradientTolerance"/>
    /// for at least one of the steps h = 1, 10, 100 × <see cref="VerificationOptions.FiniteDifferenceStep"/> × scale
    /// (several steps, because rounding spoils the smallest and curvature the largest). Both arguments move at once.
    /// For distributions the points (<see cref="ValueGradients"/>) and the raw weights (<see cref="WeightGradients"/>:
    /// positive ones, relative steps) are checked.
    /// </summary>
    /// <remarks>The cases avoid ties and duplicated points (where many distances are not differentiable); they keep
    /// uniform weights, equal lengths and zero-weight padding. An iterative distance (Sinkhorn) needs a tolerance of its
    /// own well below the finite-difference error.</remarks>
    /// <param name="distance">A differentiable distance.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">A Bregman divergence whose generator is not float64.</exception>
    /// <exception cref="LawViolationException">A mismatch, or a result that carries no gradient.</exception>
    public static void Gradients(Distance distance, VerificationOptions? options = null)
    {
        CheckFloat64(distance);
        Set(distance, options).Gradients();
    }

    /// <summary>The first half of <see cref="Gradients"/>: the gradient with respect to the points (distributions) or
    /// values (vectors, quantiles) against finite differences.</summary>
    /// <param name="distance">A differentiable distance.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">A Bregman divergence whose generator is not float64.</exception>
    /// <exception cref="LawViolationException">A mismatch, or a result that carries no gradient.</exception>
    public static void ValueGradients(Distance distance, VerificationOptions? options = null)
    {
        CheckFloat64(distance);
        Set(distance, options).ValueGradients();
    }

    /// <summary>The second half of <see cref="Gradients"/> (distributions): the gradient with respect to the raw weights
    /// against finite differences. A distance that ignores <c>requires_grad</c> of the weights on some path fails it.</summary>
    /// <param name="distance">A differentiable distance on distributions.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept distributions.</exception>
    /// <exception cref="LawViolationException">A mismatch, or a result that carries no gradient.</exception>
    public static void WeightGradients(Distance distance, VerificationOptions? options = null) => Set(distance, options).WeightGradients();

    private static void CheckFloat64(Distance distance)
    {
        if (Unwrap(distance) is Core.Bregman.BregmanDivergence b && b.Generator.DType != torch.ScalarType.Float64)
            throw new ArgumentException(
                $"gradients are checked in float64 but the generator of '{distance.Name}' is {b.Generator.DType}; check a float64 generator (ConvexGenerator.Create(…, dtype: ScalarType.Float64)).",
                nameof(distance));
    }

    /// <summary>Agreement with a float64 reference on distributions: |D(x, y) − reference(x, y)| ≤ tolerance (M = the
    /// larger magnitude), for (x, y) and (y, x).</summary>
    /// <param name="distance">A distance on distributions.</param>
    /// <param name="reference">The reference value of D on two samples (plain float64 arrays: <c>Points</c>,
    /// <c>Weights</c>, <c>NormalizedWeights()</c>).</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept distributions.</exception>
    /// <exception cref="LawViolationException">A disagreement beyond the tolerance, or the reference raised.</exception>
    public static void AgreesWithReference(Distance distance, Func<DistributionSample, DistributionSample, double> reference, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        Set(distance, options).AgreesWith(reference);
    }

    /// <summary>Agreement with a float64 reference on quantile samples.</summary>
    /// <param name="distance">A distance on quantile batches.</param>
    /// <param name="reference">The reference value of D on two samples.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept quantile batches.</exception>
    /// <exception cref="LawViolationException">A disagreement beyond the tolerance, or the reference raised.</exception>
    public static void AgreesWithReference(Distance distance, Func<QuantileSample, QuantileSample, double> reference, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        Set(distance, options).AgreesWith(reference);
    }

    /// <summary>Agreement with a float64 reference on vectors.</summary>
    /// <param name="distance">A distance on vectors.</param>
    /// <param name="reference">The reference value of D on two vectors.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The distance does not accept vectors.</exception>
    /// <exception cref="LawViolationException">A disagreement beyond the tolerance, or the reference raised.</exception>
    public static void AgreesWithReference(Distance distance, Func<VectorSample, VectorSample, double> reference, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        Set(distance, options).AgreesWith(reference);
    }

    // ---- convex generators (Bregman) ----

    private static Arbitrary<LawCase<VectorSample>> GeneratorCases(int dimension, int count, bool smooth, VerificationOptions o)
    {
        var gen =
            from s in Kind<VectorSample>.Scale(o)
            from salt in Gen.Choose(0, int.MaxValue - 1)
            from items in VectorKind.Instance.Items(count, dimension, s, smooth, o)
            select new LawCase<VectorSample>(items, s, salt);
        // Shrinking keeps the generator's dimension: only values are simplified.
        return Arb.From(gen, c => VectorKind.Instance.Shrink(c.Items, smooth)
            .Where(items => items[0].Dimension == dimension)
            .Select(items => c with { Items = items }));
    }

    private static double[] Phi(ConvexGenerator generator, params VectorSample[] xs)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var flat = xs.SelectMany(x => x.Values).ToArray();
        var t = torch.tensor(flat, dtype: torch.ScalarType.Float64).reshape(xs.Length, generator.Dimension)
            .to_type(generator.DType).to(generator.Device);
        var v = generator.Core.Value(t);
        return v.to_type(torch.ScalarType.Float64).cpu().data<double>().ToArray();
    }

    private static double[] GradPhi(ConvexGenerator generator, VectorSample x)
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(x.Values, dtype: torch.ScalarType.Float64).reshape(1, generator.Dimension).to_type(generator.DType).to(generator.Device);
        var g = generator.Core.Gradient(t).detach();
        return g.to_type(torch.ScalarType.Float64).cpu().data<double>().ToArray();
    }

    /// <summary>
    /// Convexity of a Bregman generator φ, the condition that makes D_φ(x, y) = φ(x) − φ(y) − ⟨∇φ(y), x − y⟩ a
    /// divergence (Bregman 1967): Jensen's inequality φ(λx + (1 − λ)y) ≤ λφ(x) + (1 − λ)φ(y) and the first-order
    /// condition φ(y) ≥ φ(x) + ⟨∇φ(x), y − x⟩ (Boyd &amp; Vandenberghe, Convex Optimization, 2004, eq. 3.2), each within
    /// the tolerance with M = the largest |φ| of the case.
    /// </summary>
    /// <param name="generator">The generator, e.g. of a trained Bregman divergence (its dimension, dtype and device are used).</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="LawViolationException">One of the two inequalities fails.</exception>
    public static void GeneratorConvexity(ConvexGenerator generator, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var o = (options ?? new VerificationOptions()).Clone();
        o.Validate();
        var name = $"generator {generator.Kind}";
        JensenLaw(name, generator.Dimension, xs => Phi(generator, xs), o);
        var d = generator.Dimension;
        LawRunner.Run(
            "convexity of the generator (first-order condition)", "φ(y) ≥ φ(x) + ⟨∇φ(x), y − x⟩", name,
            GeneratorCases(d, 2, false, o), c =>
            {
                var (x, y) = (c.Items[0], c.Items[1]);
                var phi = Phi(generator, x, y);
                var g = GradPhi(generator, x);
                var linear = phi[0] + Enumerable.Range(0, d).Sum(k => g[k] * (y[k] - x[k]));
                var m = Magnitude([phi[0], phi[1], linear]);
                var tol = o.AbsoluteTolerance + o.RelativeTolerance * m;
                if (phi[1] >= linear - tol) return null;
                return new Violation(
                    $"φ(y) lies {Format.Short(linear - phi[1])} below the tangent plane at x; tolerance = {Format.Short(tol)} (M = the largest |φ| of the case).",
                    [new("φ(x)", phi[0]), new("φ(y)", phi[1]), new("φ(x) + ⟨∇φ(x), y − x⟩", linear)], tol, [$"∇φ(x) = {Format.Vector(g)}"]);
            },
            c => [$"x = {c.Items[0]}", $"y = {c.Items[1]}"], o);
    }

    /// <summary>Jensen's inequality φ(λx + (1 − λ)y) ≤ λφ(x) + (1 − λ)φ(y) for a generator given as a float64 function.</summary>
    /// <param name="generator">φ on one vector.</param>
    /// <param name="dimension">The dimension d of its argument.</param>
    /// <param name="name">A name for the messages.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">dimension &lt; 1 or an empty name.</exception>
    /// <exception cref="LawViolationException">The inequality fails on some case.</exception>
    public static void GeneratorConvexity(Func<VectorSample, double> generator, int dimension, string name, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (dimension < 1) throw new ArgumentException($"dimension = {dimension}; it must be at least 1.", nameof(dimension));
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("name is empty; the messages need it.", nameof(name));
        var o = (options ?? new VerificationOptions()).Clone();
        o.Validate();
        JensenLaw(name, dimension, xs => xs.Select(generator).ToArray(), o);
    }

    private static void JensenLaw(string name, int dimension, Func<VectorSample[], double[]> phi, VerificationOptions o) =>
        LawRunner.Run(
            "convexity of the generator (Jensen)", "φ(λx + (1 − λ)y) ≤ λφ(x) + (1 − λ)φ(y)", name,
            GeneratorCases(dimension, 2, false, o), c =>
            {
                var (x, y) = (c.Items[0], c.Items[1]);
                var lambda = Lambda(c);
                var mid = new VectorSample(Enumerable.Range(0, dimension).Select(k => lambda * x[k] + (1 - lambda) * y[k]).ToArray());
                var v = phi([x, y, mid]);
                var chord = lambda * v[0] + (1 - lambda) * v[1];
                var m = Magnitude(v);
                var tol = o.AbsoluteTolerance + o.RelativeTolerance * m;
                if (v[2] <= chord + tol) return null;
                return new Violation(
                    $"φ(λx + (1 − λ)y) exceeds the chord by {Format.Short(v[2] - chord)}; tolerance = {Format.Short(tol)} (M = the largest |φ| of the case).",
                    [new("λ", lambda), new("φ(x)", v[0]), new("φ(y)", v[1]), new("φ(λx + (1 − λ)y)", v[2]), new("λφ(x) + (1 − λ)φ(y)", chord)], tol,
                    [$"λx + (1 − λ)y = {mid}"]);
            },
            c => [$"x = {c.Items[0]}", $"y = {c.Items[1]}", $"λ = {Format.Number(Lambda(c))}"], o);

    /// <summary>λ ∈ (0, 1) of a case: ½ for a third of the salts, else a salt-derived value.</summary>
    private static double Lambda(LawCase<VectorSample> c) => c.Salt % 3 == 0 ? 0.5 : (1 + c.Rng(11).Next(999)) / 1000.0;

    /// <summary>
    /// The generator's gradient against finite differences: ⟨∇φ(x), v⟩ (its <c>Gradient</c>, closed form or autograd)
    /// equals (φ(x + hv) − φ(x − hv)) / 2h (its <c>Value</c>) within <see cref="VerificationOptions.GradientTolerance"/>.
    /// </summary>
    /// <param name="generator">A float64 generator.</param>
    /// <param name="options">Null means the defaults.</param>
    /// <exception cref="ArgumentException">The generator is not float64.</exception>
    /// <exception cref="LawViolationException">A mismatch beyond the tolerance.</exception>
    public static void GeneratorGradient(ConvexGenerator generator, VerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (generator.DType != torch.ScalarType.Float64)
            throw new ArgumentException($"the gradient is checked in float64 but the generator is {generator.DType}; check a float64 generator (ConvexGenerator.Create(…, dtype: ScalarType.Float64)).", nameof(generator));
        var o = (options ?? new VerificationOptions()).Clone();
        o.Validate();
        var d = generator.Dimension;
        LawRunner.Run(
            "gradient of the generator", "⟨∇φ(x), v⟩ = (φ(x + hv) − φ(x − hv)) / 2h", $"generator {generator.Kind}",
            GeneratorCases(d, 1, true, o), c =>
            {
                var x = c.Items[0];
                var rng = c.Rng(12);
                var v = Enumerable.Range(0, d).Select(_ => 2 * rng.NextDouble() - 1).ToArray();
                var g = GradPhi(generator, x);
                var directional = g.Zip(v, (a, b) => a * b).Sum();
                var steps = LawSet<VectorSample>.Steps(o).Select(step => step * c.Scale).ToArray();
                var value = Phi(generator, x)[0];
                var differences = steps.Select(h =>
                {
                    var phi = Phi(generator,
                        new VectorSample(Enumerable.Range(0, d).Select(k => x[k] + h * v[k]).ToArray()),
                        new VectorSample(Enumerable.Range(0, d).Select(k => x[k] - h * v[k]).ToArray()));
                    return (phi[0] - phi[1]) / (2 * h);
                }).ToArray();
                var scale = Magnitude(differences.Append(directional).Append(value / c.Scale));
                var tol = o.AbsoluteTolerance + o.GradientTolerance * scale;
                var best = differences.Select(fd => Math.Abs(directional - fd)).Min();
                if (best <= tol) return null;
                var observed = new List<KeyValuePair<string, double>> { new("φ(x)", value), new("⟨∇φ(x), v⟩", directional) };
                observed.AddRange(steps.Select((h, i) => new KeyValuePair<string, double>($"finite difference (h = {Format.Short(h)})", differences[i])));
                return new Violation(
                    $"⟨∇φ(x), v⟩ differs from every central difference (steps h = {string.Join(", ", steps.Select(Format.Short))}) by at least {Format.Short(best)}; tolerance = {Format.Short(tol)} (G = max(|⟨∇φ, v⟩|, |differences|, |φ(x)| / s)).",
                    observed, tol, [$"v = {Format.Vector(v)}", $"∇φ(x) = {Format.Vector(g)}"]);
            },
            c => [$"x = {c.Items[0]}"], o);
    }

    private static double Magnitude(IEnumerable<double> values) =>
        values.Where(double.IsFinite).Select(Math.Abs).DefaultIfEmpty(0).Max();
}
