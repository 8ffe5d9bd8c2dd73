using DistEmbed.Bregman;
using DistEmbed.Core.Bregman;
using DistEmbed.Evaluation;
using DistEmbed.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using CoreGenerator = DistEmbed.Core.Bregman.ConvexGenerator;
using FacadeGenerator = DistEmbed.Bregman.ConvexGenerator;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The convex generators and their Bregman divergences through the facade (<see cref="FacadeGenerator"/>): D ≥ 0,
/// D(x, x) = 0, the definition φ(x) − φ(y) − ⟨∇φ(y), x − y⟩, the core's values, the defaults and the argument checks;
/// and the deep Bregman architecture's defaults, which are the core's.
/// </summary>
public sealed class ConvexGeneratorFacadeTests
{
    private static FacadeGenerator Make(string kind, long seed) => kind switch
    {
        "quadratic" => FacadeGenerator.Quadratic(5, rank: 3, dtype: ScalarType.Float64),
        "max-affine" => FacadeGenerator.MaxAffine(5, pieces: 8, strength: 0.5, seed: seed, dtype: ScalarType.Float64),
        "smooth-max-affine" => FacadeGenerator.SmoothMaxAffine(5, pieces: 6, temperature: 0.3, seed: seed, dtype: ScalarType.Float64),
        _ => FacadeGenerator.Icnn(5, hidden: [16, 8], strength: 0.25, seed: seed, dtype: ScalarType.Float64),
    };

    private static CoreGenerator MakeCore(string kind, long seed) => ConvexGenerators.Create(kind, 5, kind switch
    {
        "quadratic" => new GeneratorOptions { Rank = 3 },
        "max-affine" => new GeneratorOptions { Pieces = 8, Strength = 0.5, Seed = seed },
        "smooth-max-affine" => new GeneratorOptions { Pieces = 6, Temperature = 0.3, Seed = seed },
        _ => new GeneratorOptions { Hidden = [16, 8], Strength = 0.25, Seed = seed },
    }, ScalarType.Float64, CPU);

    private static double[] Values(Tensor t) => t.detach().cpu().to_type(ScalarType.Float64).data<double>().ToArray();

    [Theory]
    [InlineData("quadratic")]
    [InlineData("max-affine")]
    [InlineData("smooth-max-affine")]
    [InlineData("icnn")]
    public void TheDivergenceIsNonNegativeZeroOnEqualPointsTheDefinitionAndTheCores(string kind)
    {
        using var scope = NewDisposeScope();
        for (var seed = 0; seed < 3; seed++)
        {
            using var phi = Make(kind, seed);
            using var core = MakeCore(kind, seed);
            var g = new Generator().manual_seed(100 + seed);
            var x = randn([24, 5], ScalarType.Float64, generator: g).mul(2);
            var y = randn([24, 5], ScalarType.Float64, generator: g).mul(2);

            var paired = Values(phi.Divergence(x, y));
            Assert.All(paired, v => Assert.True(v >= -1e-10, $"{kind}: D(x, y) = {v} < 0"));
            Assert.All(Values(phi.Divergence(x, x)), v => Assert.True(Math.Abs(v) <= 1e-10, $"{kind}: D(x, x) = {v}"));

            // The definition, from φ and ∇φ of the facade.
            var byDefinition = Values(phi.Value(x).sub(phi.Value(y)).sub(phi.Gradient(y).mul(x.sub(y)).sum(1)));
            for (var i = 0; i < paired.Length; i++) Assert.Equal(byDefinition[i], paired[i], 1e-9);

            // Pairwise: the paired values on its diagonal, zero on D(x_i, x_i), ≥ 0 everywhere.
            var pairwise = phi.PairwiseDivergence(x, y);
            Assert.Equal(new long[] { 24, 24 }, pairwise.shape);
            var diagonal = Values(pairwise.diagonal());
            for (var i = 0; i < paired.Length; i++) Assert.Equal(paired[i], diagonal[i], 1e-9);
            Assert.True(pairwise.min().item<double>() >= -1e-9, $"{kind}: a pairwise divergence is below 0");
            Assert.True(phi.PairwiseDivergence(x, x).diagonal().abs().max().item<double>() <= 1e-9, $"{kind}: D(x_i, x_i) ≠ 0 in the pairwise form");

            // The core's generator of the same kind, hyper-parameters and seed: the same values, also as a Distance.
            var coreDivergence = new BregmanDivergence(core);
            Assert.Equal(Values(coreDivergence.Paired(Core.VectorBatch.FromTensor(x), Core.VectorBatch.FromTensor(y))), paired);
            Assert.Equal(Values(coreDivergence.Pairwise(Core.VectorBatch.FromTensor(x), Core.VectorBatch.FromTensor(y))), Values(pairwise));
            Assert.Equal(Values(pairwise), Values(phi.Distance.Pairwise(EmbeddingBatch.Vectors(x), EmbeddingBatch.Vectors(y))));
            Assert.Equal(paired, Values(phi.Distance.Paired(EmbeddingBatch.Vectors(x), EmbeddingBatch.Vectors(y))));
        }
    }

    [Fact]
    public void ADivergenceIsADistanceForEvaluation()
    {
        // The quadratic generator starts at L = I: D = ½‖x − y‖², which ranks neighbours as sqeuclidean does.
        using var scope = NewDisposeScope();
        using var phi = FacadeGenerator.Quadratic(4);
        var g = new Generator().manual_seed(3);
        var labels = Enumerable.Range(0, 40).Select(i => (long)(i % 4)).ToArray();
        var centres = tensor(labels).to_type(ScalarType.Float32).unsqueeze(1).mul(1.5f);
        var points = randn([40, 4], generator: g).add(centres);
        var embeddings = EmbeddingBatch.Vectors(points);
        Assert.Equal("bregman-quadratic", phi.Distance.Name);
        Assert.False(phi.Distance.IsMetric);
        Assert.False(phi.Distance.IsSymmetric);
        Assert.Equal(Representation.Vectors, phi.Distance.Accepts);
        var learned = EmbeddingEvaluation.Evaluate(embeddings, labels, phi.Distance);
        var fixedDistance = EmbeddingEvaluation.Evaluate(embeddings, labels, Distance.Create("sqeuclidean"));
        Assert.Equal(fixedDistance.PrecisionAt1, learned.PrecisionAt1);
        Assert.Equal(fixedDistance.MapAtR, learned.MapAtR, 12);
    }

    [Fact]
    public void LeftOutHyperParametersAreTheCoresDefaults()
    {
        var d = new GeneratorOptions();
        using var maxAffine = FacadeGenerator.MaxAffine(3);
        using var icnn = FacadeGenerator.Icnn(3);
        using var smooth = FacadeGenerator.Create("smooth-max-affine", 3);
        using var quadratic = FacadeGenerator.Quadratic(3);
        Assert.Equal(d.Pieces.ToString(), maxAffine.HyperParameters["pieces"]);
        Assert.Equal(d.Strength, double.Parse(maxAffine.HyperParameters["strength"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(string.Join(",", d.Hidden), icnn.HyperParameters["hidden"]);
        Assert.Equal(d.Seed.ToString(), icnn.HyperParameters["seed"]);
        Assert.Equal(d.Temperature, double.Parse(smooth.HyperParameters["temperature"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("3", quadratic.HyperParameters["rank"]);
        Assert.Equal(ConvexGenerators.Kinds.AsEnumerable(), FacadeGenerator.Kinds);
        Assert.Equal(("max-affine", 3, ScalarType.Float32), (maxAffine.Kind, maxAffine.Dimension, maxAffine.DType));
        Assert.NotEmpty(icnn.Module.parameters());
    }

    [Fact]
    public void BadArgumentsNameTheArgument()
    {
        using var scope = NewDisposeScope();
        Assert.Equal("kind", Assert.Throws<ArgumentException>(() => FacadeGenerator.Create("concave", 3)).ParamName);
        Assert.Equal("pieces", Assert.Throws<ArgumentException>(() => FacadeGenerator.MaxAffine(3, pieces: 0)).ParamName);
        Assert.Equal("strength", Assert.Throws<ArgumentException>(() => FacadeGenerator.Icnn(3, strength: -1)).ParamName);
        Assert.Equal("dimension", Assert.Throws<ArgumentException>(() => FacadeGenerator.Quadratic(0)).ParamName);
        Assert.Equal("dtype", Assert.Throws<ArgumentException>(() => FacadeGenerator.MaxAffine(3, dtype: ScalarType.Int32)).ParamName);
        using var phi = FacadeGenerator.MaxAffine(3);
        var x = zeros(4, 3);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => phi.Value(zeros(4, 2))).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => phi.Divergence(zeros(4, 3, ScalarType.Float64), x)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => phi.Divergence(x, zeros(5, 3))).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => phi.PairwiseDivergence(x, zeros(5, 4))).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => phi.Gradient(zeros(3))).ParamName);
    }

    [Fact]
    public void DeepBregmanArchitectureDefaultsAreTheCoresOptions()
    {
        var core = new DeepBregmanOptions();
        var g = core.Generator;
        var a = new DeepBregmanArchitecture();
        Assert.Equal((core.Divergence, core.Hidden, core.EmbeddingDimension, core.Normalize, core.Seed),
            (a.Divergence, a.Hidden, a.EmbeddingDimension, a.Normalize, a.Seed));
        Assert.Equal((g.Rank, g.Pieces, g.Temperature, g.Strength), (a.GeneratorRank, a.GeneratorPieces, a.GeneratorTemperature, a.GeneratorStrength));
        Assert.Equal(g.Hidden, a.GeneratorHidden);
        Assert.NotSame(g.Hidden, a.GeneratorHidden);
        Assert.NotSame(a.GeneratorHidden, new DeepBregmanArchitecture().GeneratorHidden);
    }
}
