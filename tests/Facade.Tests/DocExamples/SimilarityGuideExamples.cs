using DistEmbed;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/similarity.md.</summary>
[Collection("Console")]
public sealed class SimilarityGuideExamples
{
    private static float[,] Gaussian(int n, int d, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n, d];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < d; j++)
                x[i, j] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return x;
    }

    [Fact]
    public void Use()
    {
        var x = Gaussian(120, 8, 1);
        var y = new float[120, 6];
        for (var i = 0; i < 120; i++)
            for (var j = 0; j < 6; j++)
                y[i, j] = 2f * x[i, j] + 0.01f * j;       // y keeps six of x's eight coordinates, scaled
        var a = new float[120, 5, 2];
        var b = new float[120, 5, 2];
        for (var i = 0; i < 120; i++)
            for (var t = 0; t < 5; t++)
                for (var k = 0; k < 2; k++)
                    (a[i, t, k], b[i, t, k]) = (x[i, (t + k) % 8], 3f * x[i, (t + k) % 8] + 1f);
        #region snippet:similarity-use
        double[] nngs = EmbeddingSpaceSimilarity.Nngs(x, y, new[] { 5, 10, 50 });            // x: float[N,dx], y: float[N,dy]
        double[] norm = EmbeddingSpaceSimilarity.NormalizedNngs(x, y, new[] { 10 }, "cosine");
        double cka    = EmbeddingSpaceSimilarity.LinearCka(x, y);
        double rbf    = EmbeddingSpaceSimilarity.RbfCka(x, y, bandwidth: 0.5);                // σ = 0.5 × median distance
        double[] dist = EmbeddingSpaceSimilarity.Nngs(a, b, new[] { 5 }, "marginal-w2");      // a, b: float[N,T,d]
        #endregion
        Assert.Equal(3, nngs.Length);
        Assert.All(nngs, v => Assert.InRange(v, 0.0, 1.0));
        // y sees six of x's eight coordinates: related spaces, far above the random baseline, below identity.
        Assert.True(nngs[1] > 3 * EmbeddingSpaceSimilarity.RandomBaseline(10, 120), $"NNGS at k = 10: {nngs[1]}");
        Assert.True(nngs[1] < 1.0);
        Assert.InRange(norm[0], -1.0, 1.0);
        Assert.InRange(cka, 0.0, 1.0);
        Assert.InRange(rbf, 0.0, 1.0);
        // b is an affine image (scale 3, shift 1) of a: marginal W2 scales by 3, so the neighbourhoods agree
        // (up to float32 near-ties).
        Assert.True(dist[0] > 0.98, $"NNGS of a and its affine image = {dist[0]}");
    }

    [Fact]
    public void GromovWassersteinOfUnpairedSpaces()
    {
        var x = Gaussian(150, 8, 3);
        // z: another sample (90 items) of a space with x's shape, in other coordinates: 8 dimensions mixed by a
        // rotation of the first two, scaled by 4, and 2 constant extra coordinates — no item corresponds to one of x.
        var source = Gaussian(90, 8, 4);
        var z = new float[90, 10];
        var (c, s) = (Math.Cos(1.1), Math.Sin(1.1));
        for (var i = 0; i < 90; i++)
        {
            z[i, 0] = (float)(4 * (c * source[i, 0] - s * source[i, 1]));
            z[i, 1] = (float)(4 * (s * source[i, 0] + c * source[i, 1]));
            for (var k = 2; k < 8; k++) z[i, k] = 4 * source[i, k];
            (z[i, 8], z[i, 9]) = (1f, -2f);
        }
        #region snippet:similarity-gw
        // x: float[N,dx], z: float[M,dz] — N ≠ M and dx ≠ dz are fine; no item of x corresponds to an item of z.
        GromovWassersteinComparison gw = EmbeddingSpaceSimilarity.GromovWasserstein(x, z);
        GromovWassersteinComparison ent = EmbeddingSpaceSimilarity.GromovWasserstein(x, z, epsilon: 0.05, sampleSize: 200, seed: 1);
        Console.WriteLine($"GW = {gw.Value:F6} on {gw.CountX} × {gw.CountY} items, {gw.Iterations} steps, converged {gw.Converged}");
        #endregion
        Assert.Equal((150, 90), (gw.CountX, gw.CountY));
        Assert.True(gw.Value >= 0);
        Assert.True(ent.Value >= 0);
        // The same shape (two samples of one Gaussian, isometric up to scale) is much closer than a different shape:
        // a sample of a 1-D segment embedded in 10 dimensions.
        var line = new float[90, 10];
        for (var i = 0; i < 90; i++) line[i, 3] = i;
        var far = EmbeddingSpaceSimilarity.GromovWasserstein(x, line);
        Assert.True(gw.Value < 0.5 * far.Value, $"GW(x, z) = {gw.Value}, GW(x, line) = {far.Value}");
    }
}
