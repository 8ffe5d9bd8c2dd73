using DistEmbed;
using DistEmbed.Evaluation;
using DistEmbed.Verification;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

#region snippet:verification-own-distance
/// <summary>The Chebyshev distance max_k |x_k − y_k| between vectors, written by a user.</summary>
public sealed class ChebyshevDistance : CustomDistance
{
    public override string Name => "chebyshev";
    public override bool IsMetric => true;
    public override Representation Accepts => Representation.Vectors;

    public override torch.Tensor Paired(EmbeddingBatch a, EmbeddingBatch b) =>
        (a.Values - b.Values).abs().amax([1]);

    // Optional: without it, Pairwise calls Paired on every pair (a[i], b[j]).
    public override torch.Tensor Pairwise(EmbeddingBatch a, EmbeddingBatch b) =>
        (a.Values.unsqueeze(1) - b.Values.unsqueeze(0)).abs().amax([2]);
}
#endregion

/// <summary>The C# examples of docs/verification.md ("Verifying your own distance").</summary>
[Collection("Console")]
public sealed class VerificationGuideExamples
{
    [Fact]
    public void VerifyAUserWrittenDistance()
    {
        #region snippet:verification-check
        var distance = new ChebyshevDistance();
        var options = new VerificationOptions { Cases = 200, Seed = 42 };

        Laws.Declared(distance, options);               // Paired = Pairwise, D ≥ 0, and the metric axioms it claims
        Laws.TranslationInvariance(distance, options);  // D(x + c, y + c) = D(x, y)
        Laws.Gradients(distance, options);              // autograd against finite differences, in float64
        Laws.AgreesWithReference(distance,              // a float64 reference on plain arrays
            (VectorSample x, VectorSample y) => Enumerable.Range(0, x.Dimension).Max(k => Math.Abs(x[k] - y[k])),
            options);
        #endregion
    }

    [Fact]
    public void AUserDistanceEvaluatesEmbeddings()
    {
        var embeddings = new double[,] { { 0, 0 }, { 0.1, 0.2 }, { 3, 3 }, { 3.2, 2.9 } };
        #region snippet:verification-use-distance
        // embeddings: double[N, d]; labels: one class per row
        using var batch = EmbeddingBatch.Vectors(embeddings);
        var report = EmbeddingEvaluation.Evaluate(batch, [0, 0, 1, 1], new ChebyshevDistance());
        Console.WriteLine($"{report.Distance}: MAP@R = {report.MapAtR:F3}");
        #endregion
        Assert.Equal("chebyshev", report.Distance);
        Assert.Equal(1.0, report.MapAtR, 12);
        // The functions form of the same distance, for a one-off.
        #region snippet:verification-custom-functions
        var chebyshev = Distance.Custom("chebyshev", Representation.Vectors,
            (a, b) => (a.Values - b.Values).abs().amax([1]), isMetric: true);
        Laws.Declared(chebyshev);
        #endregion
        Assert.Equal(report.MapAtR, EmbeddingEvaluation.Evaluate(batch, [0, 0, 1, 1], chebyshev).MapAtR, 12);
    }

    [Fact]
    public void AMislabelledDistanceFailsWithALawAndACounterexample()
    {
        #region snippet:verification-failure
        // The squared Euclidean distance claims to be a metric here; the triangle inequality disagrees.
        var claimed = DelegateDistance.ForVectors("sqeuclidean-as-metric",
            (x, y) => Enumerable.Range(0, x.Dimension).Sum(k => (x[k] - y[k]) * (x[k] - y[k])), isMetric: true);
        var e = Assert.Throws<LawViolationException>(() => Laws.Declared(claimed));
        Console.WriteLine(e.Message);
        #endregion
        Assert.Equal("triangle inequality", e.Law);
        Assert.Contains("Counterexample (shrunk", e.Message);
    }
}
