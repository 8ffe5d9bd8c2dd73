using DistEmbed;
using DistEmbed.Data;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of README.md (DocSnippetTests checks that the README shows exactly this code).</summary>
[Collection("Console")]
public sealed class ReadmeExamples
{
    [Fact]
    public void PairwiseDistancesBetweenMaskedBatches()
    {
        #region snippet:readme
        // Two batches of distributions of unequal lengths: points [N, T, d] and masks [N, T] (0 = padding).
        var (a, aMask) = RandomDistributions.Generate(count: 4, minLength: 5, maxLength: 12, dimension: 2, seed: 1);
        var (b, bMask) = RandomDistributions.Generate(count: 3, minLength: 5, maxLength: 12, dimension: 2, seed: 2);

        double[,] w2 = ArrayDistances.Pairwise(a, b, "marginal-w2", aMask: aMask, bMask: bMask);     // 4 × 3
        double[,] sd = ArrayDistances.Pairwise(a, b, "sinkhorn-divergence",
            new DistanceSettings { Epsilon = 0.5 }, aMask, bMask);                                  // debiased Sinkhorn
        Console.WriteLine($"MW2(a0, b0) = {w2[0, 0]:F4}, S_0.5(a0, b0) = {sd[0, 0]:F4}");
        #endregion
        Assert.Equal((4, 3), (w2.GetLength(0), w2.GetLength(1)));
        Assert.Equal((4, 3), (sd.GetLength(0), sd.GetLength(1)));
        foreach (var v in w2) Assert.True(v > 0);
        foreach (var v in sd) Assert.True(v > 0);
    }
}
