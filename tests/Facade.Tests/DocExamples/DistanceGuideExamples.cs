using DistEmbed;
using DistEmbed.Core.Reference;
using DistEmbed.Data;
using DistEmbed.Plots;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# examples of docs/distances.md; they also draw the guide's figures.</summary>
[Collection("Console")]
public sealed class DistanceGuideExamples(DocImages images) : IClassFixture<DocImages>
{
    [Fact]
    public void HeatmapsOfThreeDistances()
    {
        var imageFolder = images.Folder;
        #region snippet:distances-heatmaps
        // Six distributions in ℝ² of 20 to 60 points, each drawn from its own two-component Gaussian mixture.
        var (x, mask) = RandomDistributions.Generate(count: 6, minLength: 20, maxLength: 60, dimension: 2, seed: 5);
        foreach (var name in new[] { "marginal-w2", "sliced-w2", "sinkhorn-divergence" })
        {
            double[,] d = ArrayDistances.Pairwise(x, x, name, new DistanceSettings { Epsilon = 0.5, Seed = 1 }, mask, mask);
            Svg.WriteHeatmap(Path.Combine(imageFolder, $"distances-{name}.svg"), d, title: $"{name}, 6 × 6");
        }
        #endregion
        foreach (var name in new[] { "marginal-w2", "sliced-w2", "sinkhorn-divergence" })
        {
            var svg = File.ReadAllText(Path.Combine(imageFolder, $"distances-{name}.svg"));
            Assert.StartsWith("<svg", svg);
            Assert.Equal(36, svg.Split("<rect x=").Length - 1 - 32);   // 36 cells plus 32 colour-bar steps
        }
    }

    [Fact]
    public void OptionsAreReadByTheDistancesThatUseThem()
    {
        var (x, mask) = RandomDistributions.Generate(count: 3, minLength: 5, maxLength: 9, dimension: 2, seed: 3);
        #region snippet:distances-options
        var options = new DistanceSettings
        {
            Epsilon = 0.05,              // sinkhorn, sinkhorn-divergence: entropic regularisation (squared-Euclidean cost units)
            SinkhornIterations = 2000,   //   and its iteration cap and L1 marginal tolerance
            Tolerance = 1e-8,
            Projections = 256,           // sliced-w2, max-sliced-w2: random directions, drawn once from Seed
            Seed = 42,
            Bandwidths = [0.25, 1.0, 4.0],   // mmd: Gaussian kernel bandwidths
        };
        double[,] sinkhorn = ArrayDistances.Pairwise(x, x, "sinkhorn", options, mask, mask);
        double[,] mmd = ArrayDistances.Pairwise(x, x, "mmd", options, mask, mask);
        #endregion
        Assert.True(sinkhorn[0, 0] > 0);       // entropic OT is biased: S is not zero on the diagonal
        Assert.InRange(Math.Abs(mmd[1, 1]), 0, 1e-9);
    }

    [Fact]
    public void TheFloat64ReferenceAgrees()
    {
        #region snippet:distances-reference
        double[,] p = { { 0, 0 }, { 1, 0 }, { 0, 2 } }, q = { { 1, 1 }, { 2, 1 } };
        double exact = ExactTransport.Cost(2.0, Empirical.Uniform(p), Empirical.Uniform(q));   // W₂², network simplex, float64
        double[,] tensor = ArrayDistances.Pairwise(
            new float[,,] { { { 0, 0 }, { 1, 0 }, { 0, 2 } } }, new float[,,] { { { 1, 1 }, { 2, 1 } } },
            "sinkhorn", new DistanceSettings { Epsilon = 0.01, Tolerance = 1e-9, SinkhornIterations = 20000 });   // ⟨P_ε, C⟩ → W₂² as ε → 0
        Console.WriteLine($"exact W₂² = {exact:F6}, Sinkhorn (ε = 0.01) = {tensor[0, 0]:F6}");
        #endregion
        Assert.InRange(Math.Abs(exact - tensor[0, 0]), 0, 0.05);
    }
}
