using DistEmbed.Core;
using DistEmbed.Verification;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

// The verification kit checks core distances (DistEmbed.Core.IDistance), whose representation is the core's.
using Representation = DistEmbed.Core.Representation;

#region snippet:verification-own-distance
/// <summary>The Chebyshev distance max_k |x_k − y_k| between vectors, written by a user.</summary>
public sealed class ChebyshevDistance : IDistance
{
    public string Name => "chebyshev";
    public bool IsMetric => true;
    public bool IsSymmetric => true;
    public Representation Accepts => Representation.Vectors;

    public torch.Tensor Paired(IEmbeddingBatch a, IEmbeddingBatch b) =>
        (((VectorBatch)a).Values - ((VectorBatch)b).Values).abs().amax([1]);

    public torch.Tensor Pairwise(IEmbeddingBatch a, IEmbeddingBatch b) =>
        (((VectorBatch)a).Values.unsqueeze(1) - ((VectorBatch)b).Values.unsqueeze(0)).abs().amax([2]);
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
