using DistEmbed;
using DistEmbed.Verification;
using TorchSharp;
using Xunit;

namespace VerificationSample;

/// <summary>
/// A distance a user wrote: the Euclidean distance between the weighted means of two distributions,
/// ‖Σ_t w_t x_t − Σ_t w'_t y_t‖ — a pseudo-metric on distributions that honours weights and padding. Written over the
/// facade's <see cref="EmbeddingBatch"/> only; Pairwise is the default one (Paired on every pair).
/// </summary>
public sealed class MeanEmbeddingDistance(bool ignoreWeights = false) : CustomDistance
{
    public override string Name => ignoreWeights ? "mean-embedding-unweighted" : "mean-embedding";
    public override bool IsMetric => true;
    public override Representation Accepts => Representation.Distributions;

    private torch.Tensor Means(EmbeddingBatch batch)
    {
        // The bug a user might make: count every (non-padding) point equally instead of by its weight.
        var w = ignoreWeights ? batch.Mask().to_type(batch.Points.dtype) : batch.Weights;
        return (batch.Points * w.unsqueeze(2)).sum(1) / w.sum(1, keepdim: true);
    }

    public override torch.Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) => (Means(a) - Means(b)).pow(2).sum(1).sqrt();
}

public sealed class UserDistanceTests
{
    private static readonly VerificationOptions Options = new() { Cases = 100, Seed = 7 };

    /// <summary>The float64 reference: the same formula on plain arrays.</summary>
    private static double Reference(DistributionSample x, DistributionSample y)
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
    public void TheMeanEmbeddingDistanceIsAPseudoMetric() => Laws.Declared(new MeanEmbeddingDistance(), Options);

    [Fact]
    public void TheMeanEmbeddingDistanceSeesMeasuresNotArrays()
    {
        Laws.MeasureInvariances(new MeanEmbeddingDistance(), Options);     // permutation, padding, point splitting
        Laws.TranslationInvariance(new MeanEmbeddingDistance(), Options);
    }

    [Fact]
    public void TheMeanEmbeddingGradientsMatchFiniteDifferences() => Laws.Gradients(new MeanEmbeddingDistance(), Options);

    [Fact]
    public void TheMeanEmbeddingDistanceAgreesWithItsFloat64Reference() =>
        Laws.AgreesWithReference(new MeanEmbeddingDistance(), Reference, Options);

    [Fact]
    public void TheKitCatchesTheVersionThatIgnoresWeights()
    {
        var e = Assert.Throws<LawViolationException>(() => Laws.MeasureInvariances(new MeanEmbeddingDistance(ignoreWeights: true), Options));
        Assert.Equal("point splitting", e.Law);
        Assert.Contains("split x = ", e.Message + e.Counterexample);
        Assert.True(e.Observed.Count == 2 && Math.Abs(e.Observed[0].Value - e.Observed[1].Value) > e.Tolerance, e.Message);
    }
}
