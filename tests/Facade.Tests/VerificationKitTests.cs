using DistEmbed.Bregman;
using DistEmbed.Verification;
using FsCheck;
using FsCheck.Fluent;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using Empirical = DistEmbed.Core.Reference.Empirical;
using RefSinkhorn = DistEmbed.Core.Reference.Sinkhorn;
using RefMarginal = DistEmbed.Core.Reference.MarginalWasserstein;
using RefKernel = DistEmbed.Core.Reference.KernelDistances;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The verification kit (DistEmbed.Verification) on the library's own distances — they pass the laws — and on
/// deliberately broken distances, which each law catches with its name, a shrunk counterexample, the numbers and the
/// tolerance in the message. Every distance is a facade <see cref="Distance"/> (catalog, Bregman, or a
/// <see cref="CustomDistance"/> written here as a user would); only the float64 reference oracles come from the core.
/// </summary>
public sealed class VerificationKitTests
{
    private static VerificationOptions Few(int cases = 30) => new() { Cases = cases, MaxPoints = 8 };

    /// <summary>The core's float64 reference distribution of a sample (the oracle of the agreement checks).</summary>
    private static Empirical Emp(DistributionSample s) => Empirical.Create(s.Points, s.Weights);

    // ---- the library's distances pass ----

    [Theory]
    [InlineData("euclidean")]
    [InlineData("lp")]
    [InlineData("marginal-w1")]
    [InlineData("marginal-w2")]
    [InlineData("quantile-w1")]
    [InlineData("quantile-w2")]
    [InlineData("bures")]
    [InlineData("bures-diag")]
    public void LibraryMetricsSatisfyTheMetricAxiomsAndBatchConsistency(string name)
    {
        var distance = Distance.Create(name, new DistanceSettings { P = 3 });
        Assert.True(distance.IsMetric);
        Laws.Declared(distance, Few());
    }

    [Fact]
    public void SlicedDistancesWithFixedDirectionsAreMetrics()
    {
        using var directions = torch.tensor(new double[] { 1, 0, 0, 0.6, 0.8, 0, 0, 0.6, -0.8, 0.5, 0.5, 0.7071067811865476 }).reshape(4, 3);
        var options = Few();
        options.Dimension = 3;
        var fixedDirections = new DistanceSettings { Directions = directions };
        Laws.Declared(Distance.Create("sliced-w2", fixedDirections), options);
        Laws.Declared(Distance.Create("max-sliced-w2", fixedDirections), options);
        Laws.MeasureInvariances(Distance.Create("sliced-w2", fixedDirections), options);
        Laws.TranslationInvariance(Distance.Create("sliced-w2", fixedDirections), options);
    }

    [Theory]
    [InlineData("sqeuclidean")]
    [InlineData("cosine")]
    [InlineData("marginal-w2-cost")]
    [InlineData("quantile-w2-cost")]
    [InlineData("bures-cost")]
    [InlineData("bures-diag-cost")]
    [InlineData("mmd")]
    [InlineData("energy")]
    public void LibraryDivergencesSatisfyTheirDeclaredLawsAndTheDivergenceLaws(string name)
    {
        var distance = Distance.Create(name);
        Assert.False(distance.IsMetric);
        Laws.Declared(distance, Few());
        Laws.Divergence(distance, Few());
    }

    [Fact]
    public void TheSinkhornDivergenceIsANonNegativeSymmetricDivergence()
    {
        var distance = Distance.Create("sinkhorn-divergence",
            new DistanceSettings { Epsilon = 1, Tolerance = 1e-11, SinkhornIterations = 3000 });
        // Scales where the solves converge (cost ≤ 16ε): unconverged solves make S_ε(x, x) ≠ 0, which the identity law
        // reports (e.g. at scale 1 with ε = 1 and 5000 iterations, S_ε(x, x) = −2.9e-5 for x = 4 points spread over [−3.2, 3.5]).
        var options = new VerificationOptions { Cases = 10, MaxPoints = 6, MinScale = 0.05, MaxScale = 0.25, RelativeTolerance = 1e-6 };
        Laws.Declared(distance, options);
        Laws.Identity(distance, options);
        Laws.MeasureInvariances(distance, options);
    }

    [Theory]
    [InlineData("marginal-w1")]
    [InlineData("marginal-w2")]
    [InlineData("bures")]
    [InlineData("bures-diag")]
    [InlineData("mmd")]
    [InlineData("energy")]
    public void DistributionDistancesAreInvariantUnderPermutationPaddingSplittingAndTranslation(string name)
    {
        var distance = Distance.Create(name);
        Laws.MeasureInvariances(distance, Few(25));
        Laws.TranslationInvariance(distance, Few(25));
    }

    [Theory]
    [InlineData("euclidean")]
    [InlineData("sqeuclidean")]
    [InlineData("cosine")]
    [InlineData("lp")]
    [InlineData("quantile-w2")]
    [InlineData("bures-diag")]
    [InlineData("energy")]
    [InlineData("mmd")]
    public void LibraryGradientsAgreeWithFiniteDifferences(string name)
    {
        var distance = Distance.Create(name, new DistanceSettings { P = 3 });
        Laws.Gradients(distance, Few(20));
    }

    [Theory]
    [InlineData("marginal-w1")]
    [InlineData("marginal-w2")]
    public void MarginalWassersteinGradientsAgreeWithFiniteDifferences(string name)
    {
        // Points and weights: uniform weights included (issue 17, item 1a: the sorted and common-grid fast paths used to
        // ignore weights.requires_grad; e.g. x = 4 and y = 2 uniformly weighted points gave autograd 0.0248 against a
        // finite difference of 0.0713).
        Laws.Gradients(Distance.Create(name), Few(20));
    }

    [Fact]
    public void BuresGradientsAgreeWithFiniteDifferencesWhereTheCovariancesAreRegular()
    {
        // One dimension: a covariance is singular only for a one-point distribution. In d ≥ 2 a distribution with T ≤ d
        // points has a singular covariance, where the gradient of 'bures' differs from the finite differences by about 1 %
        // (e.g. x = 2 points, y = 3 points in 2-D: autograd −0.2156, difference −0.2181; reported to the lead).
        Laws.Gradients(Distance.Create("bures"), new VerificationOptions { Cases = 20, MaxPoints = 8, Dimension = 1 });
    }

    [Fact]
    public void LibraryDistancesAgreeWithTheFloat64Reference()
    {
        var o = Few(40);
        Laws.AgreesWithReference(Distance.Create("marginal-w2"),
            (DistributionSample x, DistributionSample y) => RefMarginal.Wasserstein(2.0, Emp(x), Emp(y)), o);
        Laws.AgreesWithReference(Distance.Create("energy"),
            (DistributionSample x, DistributionSample y) => RefKernel.EnergyDistance(Emp(x), Emp(y)), o);
        Laws.AgreesWithReference(Distance.Create("euclidean"),
            (VectorSample x, VectorSample y) => Math.Sqrt(Enumerable.Range(0, x.Dimension).Sum(k => (x[k] - y[k]) * (x[k] - y[k]))), o);
        Laws.AgreesWithReference(Distance.Create("quantile-w2"), QuantileW2Reference, o);
        var sinkhorn = Distance.Create("sinkhorn-divergence", new DistanceSettings { Epsilon = 0.5, Tolerance = 1e-12, SinkhornIterations = 20000 });
        Laws.AgreesWithReference(sinkhorn,
            (DistributionSample x, DistributionSample y) => RefSinkhorn.Divergence(2.0, Emp(x), Emp(y), 0.5, 20000, 1e-13),
            new VerificationOptions { Cases = 12, MaxPoints = 6, MinScale = 0.1, MaxScale = 2, RelativeTolerance = 1e-7 });
    }

    /// <summary>Marginal W2 between quantile functions: level q carries the width of its cell, c_q = (τ_q + τ_{q+1})/2.</summary>
    private static double QuantileW2Reference(QuantileSample x, QuantileSample y)
    {
        var tau = x.Levels;
        var total = 0.0;
        for (var j = 0; j < tau.Length; j++)
        {
            var lo = j == 0 ? 0 : (tau[j - 1] + tau[j]) / 2;
            var hi = j == tau.Length - 1 ? 1 : (tau[j] + tau[j + 1]) / 2;
            for (var k = 0; k < x.Dimension; k++) total += (hi - lo) * (x[k, j] - y[k, j]) * (x[k, j] - y[k, j]);
        }
        return Math.Sqrt(total);
    }

    [Fact]
    public void TheSinkhornDivergenceGradientsAgreeWithFiniteDifferencesWhenConverged()
    {
        var distance = Distance.Create("sinkhorn-divergence", new DistanceSettings { Epsilon = 0.5, Tolerance = 1e-13, SinkhornIterations = 20000 });
        Laws.Gradients(distance, new VerificationOptions { Cases = 8, MaxPoints = 5, MinScale = 0.1, MaxScale = 2, GradientTolerance = 1e-4 });
    }

    [Theory]
    [InlineData("quadratic")]
    [InlineData("max-affine")]
    [InlineData("smooth-max-affine")]
    [InlineData("icnn")]
    public void BregmanDivergencesSatisfyTheDivergenceLawsAndTheirGeneratorsAreConvex(string kind)
    {
        using var generator = ConvexGenerator.Create(kind, 3, hidden: [8], pieces: 6, seed: 5, dtype: ScalarType.Float64);
        var divergence = generator.Distance;
        var o = Few(25);
        Laws.Declared(divergence, o);
        Laws.Divergence(divergence, o);
        Laws.GeneratorConvexity(generator, o);
        if (kind is "quadratic" or "smooth-max-affine" or "icnn")
        {
            Laws.GeneratorGradient(generator, o);
            Laws.Gradients(divergence, o);
        }
    }

    // ---- broken distances are caught ----

    /// <summary>A vector "distance" that claims to be a metric: ‖x − y‖ plus a one-sided term max(0, Σ_k (x_k − y_k)).</summary>
    private sealed class AsymmetricDistance : CustomDistance
    {
        public override string Name => "lopsided";
        public override bool IsMetric => true;
        public override Representation Accepts => Representation.Vectors;

        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b)
        {
            var diff = a.Values - b.Values;
            return diff.pow(2).sum(1).sqrt() + diff.sum(1).clamp_min(0);
        }

        public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b)
        {
            var diff = a.Values.unsqueeze(1) - b.Values.unsqueeze(0);
            return diff.pow(2).sum(2).sqrt() + diff.sum(2).clamp_min(0);
        }
    }

    [Fact]
    public void AnAsymmetricDistanceFailsSymmetryWithTheCounterexampleAndTolerance()
    {
        var e = Assert.Throws<LawViolationException>(() => Laws.Metric(new AsymmetricDistance(), Few(50)));
        Assert.Equal("symmetry", e.Law);
        Assert.Equal("lopsided", e.Distance);
        Assert.Contains("Law violated: symmetry (D(x, y) = D(y, x)) for distance 'lopsided'", e.Message);
        Assert.Contains("D(x, y) = ", e.Message);
        Assert.Contains("D(y, x) = ", e.Message);
        Assert.Contains("Tolerance: ", e.Message);
        Assert.Contains("x = [", e.Counterexample);
        Assert.Contains("y = [", e.Counterexample);
        Assert.Contains($"Seed = {VerificationOptions.DefaultSeed}", e.Message);
        var observed = e.Observed.ToDictionary(p => p.Key, p => p.Value);
        Assert.True(Math.Abs(observed["D(x, y)"] - observed["D(y, x)"]) > e.Tolerance);
        // The reported numbers are those of the printed counterexample.
        var (x, y) = (ParseVector(e.Counterexample, "x"), ParseVector(e.Counterexample, "y"));
        double Lopsided(double[] u, double[] v) =>
            Math.Sqrt(u.Zip(v, (p, q) => (p - q) * (p - q)).Sum()) + Math.Max(0, u.Zip(v, (p, q) => p - q).Sum());
        Assert.Equal(Lopsided(x, y), observed["D(x, y)"], 1e-9 * Math.Max(1, observed["D(x, y)"]));
        Assert.Equal(Lopsided(y, x), observed["D(y, x)"], 1e-9 * Math.Max(1, observed["D(y, x)"]));
    }

    private static double[] ParseVector(string counterexample, string name)
    {
        var line = counterexample.Split('\n').Single(l => l.StartsWith(name + " = [", StringComparison.Ordinal));
        return line[(name.Length + 4)..^1].Split(", ").Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>The squared Euclidean distance with IsMetric = true: it breaks the triangle inequality (0, 1, 2 on a line).</summary>
    private sealed class SquaredEuclideanLabelledMetric : CustomDistance
    {
        private readonly Distance inner = Distance.Create("sqeuclidean");
        public override string Name => "sqeuclidean-as-metric";
        public override bool IsMetric => true;
        public override Representation Accepts => Representation.Vectors;
        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => inner.Paired(a, b);
        public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) => inner.Pairwise(a, b);
    }

    [Fact]
    public void SquaredEuclideanLabelledAsAMetricFailsTheTriangleInequalityWithAShrunkCounterexample()
    {
        var e = Assert.Throws<LawViolationException>(() => Laws.Declared(new SquaredEuclideanLabelledMetric(), Few(100)));
        Assert.Equal("triangle inequality", e.Law);
        Assert.Contains("D(x, z) ≤ D(x, y) + D(y, z)", e.Message);
        Assert.Contains("exceeds the tolerance", e.Message);
        Assert.True(e.Shrinks > 0, e.Message);
        // Shrunk to one dimension and values of one significant digit.
        var items = new[] { "x", "y", "z" }.Select(n => ParseVector(e.Counterexample, n)).ToArray();
        Assert.All(items, v => Assert.Single(v));
        Assert.All(items, v => Assert.Equal(Math.Abs(v[0]), RoundToOneDigit(Math.Abs(v[0]))));
        var observed = e.Observed.Select(p => p.Value).ToArray();
        Assert.True(observed[0] > observed[1] + observed[2] + e.Tolerance, e.Message);
    }

    private static double RoundToOneDigit(double v)
    {
        if (v == 0) return 0;
        var m = Math.Pow(10, Math.Floor(Math.Log10(v)));
        return Math.Round(v / m) * m;
    }

    /// <summary>A distance between distribution means that honours padding (the mask) but not the weights: every valid
    /// point counts equally.</summary>
    private sealed class WeightIgnoringMeanDistance(bool readPadding) : CustomDistance
    {
        public override string Name => readPadding ? "mean-reading-padding" : "mean-ignoring-weights";
        public override Representation Accepts => Representation.Distributions;

        private Tensor Mean(EmbeddingBatch x)
        {
            if (readPadding) return x.Points.mean([1]);
            var mask = x.Mask().to_type(x.Points.dtype).unsqueeze(2);
            return (x.Points * mask).sum(1) / mask.sum(1);
        }

        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => (Mean(a) - Mean(b)).pow(2).sum(1).sqrt();

        public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) =>
            (Mean(a).unsqueeze(1) - Mean(b).unsqueeze(0)).pow(2).sum(2).sqrt();
    }

    private static double WeightedMeanDistance(DistributionSample x, DistributionSample y)
    {
        double[] Mean(DistributionSample s)
        {
            var w = s.NormalizedWeights();
            return Enumerable.Range(0, s.Dimension).Select(k => Enumerable.Range(0, s.Count).Sum(t => w[t] * s[t, k])).ToArray();
        }
        var (mx, my) = (Mean(x), Mean(y));
        return Math.Sqrt(mx.Zip(my, (p, q) => (p - q) * (p - q)).Sum());
    }

    [Fact]
    public void ADistanceThatIgnoresTheWeightsFailsPointSplittingAndTheReference()
    {
        var distance = new WeightIgnoringMeanDistance(readPadding: false);
        Laws.PermutationInvariance(distance, Few());
        Laws.PaddingInvariance(distance, Few());
        var e = Assert.Throws<LawViolationException>(() => Laws.MeasureInvariances(distance, Few(60)));
        Assert.Equal("point splitting", e.Law);
        Assert.Contains("split x = {points", e.Counterexample + e.Message);
        Assert.Contains("weights [", e.Counterexample);
        var r = Assert.Throws<LawViolationException>(() => Laws.AgreesWithReference(distance, WeightedMeanDistance, Few(60)));
        Assert.Equal("agreement with the reference", r.Law);
        Assert.Contains("reference(x, y) = ", r.Message + string.Join(",", r.Observed.Select(o => o.Key)));
        // The correct (weighted) mean distance passes the same laws.
        Laws.MeasureInvariances(DelegateDistance.ForDistributions("weighted-mean", WeightedMeanDistance), Few(60));
    }

    [Fact]
    public void ADistanceThatReadsPaddedPointsFailsPaddingInvariance()
    {
        var e = Assert.Throws<LawViolationException>(() => Laws.PaddingInvariance(new WeightIgnoringMeanDistance(readPadding: true), Few(60)));
        Assert.Equal("padding invariance", e.Law);
        Assert.Contains("pad x = {points", e.Message);
        Assert.Matches(@"pad [xy] = \{points .*weights \[(.*, )?0(, |\])", e.Message); // the padded copy shows its zero weights
    }

    /// <summary>‖x − y‖² with one factor detached: the right values, half the gradient.</summary>
    private sealed class HalfGradientDistance(bool detachAll) : CustomDistance
    {
        public override string Name => detachAll ? "detached" : "half-gradient";
        public override Representation Accepts => Representation.Vectors;

        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b)
        {
            var diff = a.Values - b.Values;
            return detachAll ? diff.detach().pow(2).sum(1) : (diff.detach() * diff).sum(1);
        }

        public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) => throw new NotSupportedException("not needed by the gradient law");
    }

    [Fact]
    public void AWrongOrMissingGradientIsCaught()
    {
        var e = Assert.Throws<LawViolationException>(() => Laws.Gradients(new HalfGradientDistance(false), Few()));
        Assert.Equal("gradient with respect to the values", e.Law);
        Assert.Contains("finite difference", e.Message);
        var autograd = e.Observed.Single(p => p.Key == "⟨∇D, v⟩ (autograd)").Value;
        var differences = e.Observed.Where(p => p.Key.StartsWith("finite difference (h = ", StringComparison.Ordinal)).Select(p => p.Value).ToArray();
        Assert.Equal(3, differences.Length);
        Assert.All(differences, fd => Assert.Equal(0.5, autograd / fd, 1e-4));
        Assert.Contains("v_x = [", e.Counterexample);
        var d = Assert.Throws<LawViolationException>(() => Laws.Gradients(new HalfGradientDistance(true), Few()));
        Assert.Contains("carries no gradient", d.Message);
        Assert.Equal(0, d.CasesPassed);
    }

    /// <summary>Pairwise(a, b)[i, j] computed as D(a_j, b_i): right on the diagonal, wrong elsewhere.</summary>
    private sealed class TransposedPairwise : CustomDistance
    {
        private readonly Distance inner = Distance.Create("euclidean");
        public override string Name => "transposed-pairwise";
        public override bool IsMetric => true;
        public override Representation Accepts => Representation.Vectors;
        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => inner.Paired(a, b);
        public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) => inner.Pairwise(a, b).t();
    }

    [Fact]
    public void APairwiseThatDisagreesWithPairedFailsBatchConsistency()
    {
        var e = Assert.Throws<LawViolationException>(() => Laws.Declared(new TransposedPairwise(), Few()));
        Assert.Equal("batch consistency", e.Law);
        Assert.Matches(@"Pairwise\(A, B\)\[(0, 1|1, 0)\]", e.Message);
        Assert.Contains("a0 = [", e.Counterexample);
        Assert.Contains("b1 = [", e.Counterexample);
    }

    [Fact]
    public void AConcaveGeneratorFailsConvexity()
    {
        var e = Assert.Throws<LawViolationException>(() =>
            Laws.GeneratorConvexity(v => -Enumerable.Range(0, v.Dimension).Sum(k => v[k] * v[k]), 2, "minus-norm", Few()));
        Assert.Equal("convexity of the generator (Jensen)", e.Law);
        Assert.Contains("λ = ", e.Counterexample);
        Assert.Contains("exceeds the chord", e.Message);
        // A convex one passes.
        Laws.GeneratorConvexity(v => Enumerable.Range(0, v.Dimension).Sum(k => Math.Exp(v[k] / 1000)), 2, "exp", Few());
    }

    [Fact]
    public void TheCosineDistanceIsNotTranslationInvariantAndTheKitSaysSo()
    {
        var e = Assert.Throws<LawViolationException>(() => Laws.TranslationInvariance(Distance.Create("cosine"), Few()));
        Assert.Equal("translation invariance", e.Law);
        Assert.Contains("c = [", e.Message);
        Assert.Contains("x + c = [", e.Message);
    }

    /// <summary>A user's sliced distance that draws new directions on every call (what the library's sliced distances did
    /// before they drew once per instance): not a function of its arguments.</summary>
    private sealed class RedrawingSliced : CustomDistance
    {
        private readonly Distance seeded = Distance.Create("sliced-w2", new DistanceSettings { Projections = 4 });
        private long calls;
        private Distance Next() => seeded.WithFreshDirections(++calls);
        public override string Name => "redrawing-sliced-w2";
        public override bool IsMetric => true;
        public override Representation Accepts => Representation.Distributions;
        public override Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => Next().Paired(a, b);
        public override Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) => Next().Pairwise(a, b);
    }

    [Fact]
    public void ADistanceThatDrawsNewDirectionsEveryCallIsNotAFunctionOfItsArguments()
    {
        // Two calls on (x, y) and (y, x) see different slices; the library's sliced-w2 (one draw per instance) passes.
        var e = Assert.Throws<LawViolationException>(() => Laws.Symmetry(new RedrawingSliced(), Few()));
        Assert.Equal("symmetry", e.Law);
        Laws.Symmetry(Distance.Create("sliced-w2", new DistanceSettings { Projections = 4 }), Few());
    }

    [Fact]
    public void ADistanceThatThrowsIsReportedWithTheCaseAndTheException()
    {
        var thrower = DelegateDistance.ForVectors("throws-on-zero", (x, y) => x.Values.Concat(y.Values).Any(v => v == 0) ? throw new InvalidOperationException("zero!") : 1.0);
        var e = Assert.Throws<LawViolationException>(() => Laws.NonNegativity(thrower, Few()));
        Assert.IsType<InvalidOperationException>(e.InnerException);
        Assert.Contains("zero!", e.Message);
        Assert.Contains("x = [", e.Counterexample);
    }

    // ---- replay, options, generators, samples ----

    [Fact]
    public void TheSeedReplaysTheSameCounterexample()
    {
        var options = new VerificationOptions { Cases = 50, Seed = 77 };
        var first = Assert.Throws<LawViolationException>(() => Laws.Symmetry(new AsymmetricDistance(), options));
        var again = Assert.Throws<LawViolationException>(() => Laws.Symmetry(new AsymmetricDistance(), options));
        Assert.Equal(first.Message, again.Message);
        Assert.Equal(77, first.Seed);
        Assert.Contains("VerificationOptions.Seed = 77", first.Message);
    }

    [Theory]
    [InlineData(nameof(VerificationOptions.Cases))]
    [InlineData(nameof(VerificationOptions.RelativeTolerance))]
    [InlineData(nameof(VerificationOptions.FiniteDifferenceStep))]
    [InlineData(nameof(VerificationOptions.MaxDimension))]
    [InlineData(nameof(VerificationOptions.Dimension))]
    [InlineData(nameof(VerificationOptions.MaxPoints))]
    [InlineData(nameof(VerificationOptions.MaxScale))]
    [InlineData(nameof(VerificationOptions.DType))]
    public void BadOptionsAreRejectedByName(string setting)
    {
        var o = new VerificationOptions();
        switch (setting)
        {
            case nameof(VerificationOptions.Cases): o.Cases = 0; break;
            case nameof(VerificationOptions.RelativeTolerance): o.RelativeTolerance = -1; break;
            case nameof(VerificationOptions.FiniteDifferenceStep): o.FiniteDifferenceStep = 0; break;
            case nameof(VerificationOptions.MaxDimension): o.MaxDimension = 0; break;
            case nameof(VerificationOptions.Dimension): o.Dimension = 0; break;
            case nameof(VerificationOptions.MaxPoints): o.MaxPoints = 1; break;
            case nameof(VerificationOptions.MaxScale): o.MaxScale = 1e-6; break;
            case nameof(VerificationOptions.DType): o.DType = ScalarType.Int32; break;
        }
        var e = Assert.Throws<ArgumentException>(() => Laws.Metric(Distance.Create("euclidean"), o));
        Assert.Equal(setting, e.ParamName);
        Assert.Contains(setting, e.Message);
    }

    [Fact]
    public void LawsOfDistributionsRejectOtherRepresentations()
    {
        var e = Assert.Throws<ArgumentException>(() => Laws.PermutationInvariance(Distance.Create("euclidean"), Few()));
        Assert.Equal("distance", e.ParamName);
        Assert.Contains("accepts Vectors", e.Message);
        var r = Assert.Throws<ArgumentException>(() =>
            Laws.AgreesWithReference(Distance.Create("euclidean"), (DistributionSample x, DistributionSample y) => 0.0, Few()));
        Assert.Equal("reference", r.ParamName);
    }

    [Fact]
    public void GeneratorsProduceTheAwkwardCasesTheyPromise()
    {
        var distributions = Gen.Sample(BatchGenerators.Distributions(3), 400, new Rnd(1, 3), 10).ToArray();
        Assert.Contains(distributions, c => c.Any(s => s.Count == 1));                                   // one-point
        Assert.Contains(distributions, c => c.Select(s => s.Count).Distinct().Count() == 3);               // unequal lengths
        Assert.Contains(distributions, c => c.All(s => s.Count == c[0].Count && s.Count > 1));            // equal lengths
        Assert.Contains(distributions, c => c.Any(s => s.Weights.Contains(0.0)));                         // zero weights
        Assert.Contains(distributions, c => c.Any(s => s.Weights.Distinct().Count() > 1 && !s.Weights.Contains(0.0)));
        Assert.Contains(distributions, c => c.Any(s => HasDuplicatePoint(s)));                            // duplicates
        Assert.Contains(distributions, c => c.Any(s => HasTie(s)));                                       // ties within a coordinate
        Assert.Contains(distributions, c => c[0].Dimension == 1);
        Assert.Contains(distributions, c => c[0].Dimension == 4);
        var magnitudes = distributions.Select(c => c.SelectMany(s => s.Points.Cast<double>()).Max(Math.Abs)).Where(m => m > 0).ToArray();
        Assert.Contains(magnitudes, m => m <= 4e-3);                                                       // scale 1e-3
        Assert.Contains(magnitudes, m => m >= 1e3);                                                        // scale 1e3
        var quantiles = Gen.Sample(BatchGenerators.Quantiles(2), 200, new Rnd(2, 3), 10).ToArray();
        Assert.Contains(quantiles, c => c.Any(s => Enumerable.Range(1, s.LevelCount - 1).Any(j => s[0, j] == s[0, j - 1])));
        Assert.Contains(quantiles, c => !c[0].Levels.SequenceEqual(EmbeddingBatch.MidpointLevels(c[0].LevelCount)));
        var vectors = Gen.Sample(BatchGenerators.Vectors(2), 200, new Rnd(3, 3), 10).ToArray();
        Assert.Contains(vectors, c => c[0].Values.SequenceEqual(c[1].Values));
    }

    private static bool HasDuplicatePoint(DistributionSample s) =>
        Enumerable.Range(0, s.Count).Select(t => string.Join(",", Enumerable.Range(0, s.Dimension).Select(k => s[t, k]))).Distinct().Count() < s.Count;

    private static bool HasTie(DistributionSample s) =>
        Enumerable.Range(0, s.Dimension).Any(k => Enumerable.Range(0, s.Count).Select(t => s[t, k]).Distinct().Count() < s.Count);

    [Fact]
    public void SamplesRoundTripThroughBatchesAndRejectBadValues()
    {
        var a = new DistributionSample(new double[,] { { 0, 1 }, { 2, 3 } }, [1, 3]);
        var b = new DistributionSample(new double[,] { { 5, 6 } }, [2]);
        using var batch = DistributionSample.ToBatch([a, b]);
        Assert.Equal(new long[] { 2, 2, 2 }, batch.Points.shape);
        var back = DistributionSample.FromBatch(batch);
        Assert.Equal(a.Points, back[0].Points);
        Assert.Equal(new[] { 0.25, 0.75 }, back[0].Weights);
        Assert.Equal(new[] { 1.0, 0.0 }, back[1].Weights);
        Assert.Equal("{points [[0, 1], [2, 3]], weights [1, 3]}", a.ToString());
        var q = new QuantileSample(new double[,] { { 0, 1, 1 } }, [0.2, 0.5, 0.9]);
        using var qb = QuantileSample.ToBatch([q, q]);
        Assert.Equal(q.Values, QuantileSample.FromBatch(qb)[1].Values);
        using var vb = VectorSample.ToBatch([new VectorSample([1, 2]), new VectorSample([3, 4])]);
        Assert.Equal(new[] { 3.0, 4.0 }, VectorSample.FromBatch(vb)[1].Values);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => new DistributionSample(new double[,] { { 0 } }, [0])).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => new QuantileSample(new double[,] { { 1, 0 } }, [0.25, 0.75])).ParamName);
        Assert.Equal("levels", Assert.Throws<ArgumentException>(() => new QuantileSample(new double[,] { { 0, 1 } }, [0.5, 0.5])).ParamName);
        Assert.Equal("samples", Assert.Throws<ArgumentException>(() => DistributionSample.ToBatch([a, new DistributionSample(new double[,] { { 1 } }, [1])])).ParamName);
    }

    [Fact]
    public void AFloat64DelegateIsADistanceTheLawsCanCheck()
    {
        var l1 = DelegateDistance.ForVectors("l1", (x, y) => Enumerable.Range(0, x.Dimension).Sum(k => Math.Abs(x[k] - y[k])), isMetric: true);
        Laws.Declared(l1, Few());
        Laws.TranslationInvariance(l1, Few());
        var w1 = DelegateDistance.ForDistributions("reference-marginal-w1", (x, y) => RefMarginal.Wasserstein(1.0, Emp(x), Emp(y)), isMetric: true);
        Laws.Declared(w1, Few());
        Laws.MeasureInvariances(w1, Few());
        var e = Assert.Throws<LawViolationException>(() => Laws.Gradients(l1, Few()));
        Assert.Contains("carries no gradient", e.Message);
    }
}
