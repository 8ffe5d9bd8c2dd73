using DistEmbed;
using DistEmbed.Bregman;
using DistEmbed.Verification;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace VerificationSample;

/// <summary>A learned Bregman divergence (an input-convex network as its generator φ), trained for a few steps
/// with a batch-hard triplet loss written over its <see cref="Distance"/>, then verified: the divergence laws, the
/// convexity and gradient of φ, autograd of D.</summary>
public sealed class TrainedBregmanTests
{
    private const int Dimension = 4;

    /// <summary>Three classes in 4 dimensions: class means on a circle in the first two axes, uniform noise.</summary>
    private static (Tensor X, Tensor Labels) Blobs(int perClass, int seed)
    {
        var rng = new Random(seed);
        var n = 3 * perClass;
        var x = new double[n * Dimension];
        var labels = new long[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = i % 3;
            for (var k = 0; k < Dimension; k++)
                x[i * Dimension + k] = (k < 2 ? 1.2 * Math.Cos(2 * Math.PI * labels[i] / 3 + k * Math.PI / 2) : 0.0) + rng.NextDouble() - 0.5;
        }
        return (torch.tensor(x).reshape(n, Dimension), torch.tensor(labels));
    }

    private static ConvexGenerator Train()
    {
        var generator = ConvexGenerator.Create("icnn", Dimension, hidden: [16, 16], seed: 3, dtype: ScalarType.Float64);
        var (x, y) = Blobs(12, 5);
        using var batch = EmbeddingBatch.Vectors(x);
        var n = (int)y.shape[0];
        using var same = y.unsqueeze(1).eq(y.unsqueeze(0));
        using var positives = same.logical_and(torch.eye(n, dtype: ScalarType.Bool).logical_not());
        using var optimizer = torch.optim.AdamW(generator.Module.parameters(), lr: 0.02);
        for (var step = 0; step < 40; step++)
        {
            using var scope = torch.NewDisposeScope();
            // Batch-hard triplets (Hermans, Beyer, Leibe 2017): the farthest positive and the nearest negative of each anchor.
            var d = generator.Distance.Pairwise(batch, batch);
            var hardestPositive = d.masked_fill(positives.logical_not(), double.NegativeInfinity).amax([1]);
            var hardestNegative = d.masked_fill(same, double.PositiveInfinity).amin([1]);
            var loss = torch.nn.functional.relu(hardestPositive - hardestNegative + 0.5).mean();
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
        }
        return generator;
    }

    private static readonly Lazy<ConvexGenerator> Trained = new(Train);

    private static readonly VerificationOptions Options = new() { Cases = 100, Seed = 11, MaxScale = 10 };

    [Fact]
    public void TheTrainedDivergenceIsNonNegativeAndZeroOnTheDiagonal() =>
        Laws.Divergence(Trained.Value.Distance, Options);

    [Fact]
    public void TheTrainedDivergenceKeepsItsDeclaredLawsAndPairwiseAgreesWithPaired() =>
        Laws.Declared(Trained.Value.Distance, Options);

    [Fact]
    public void TheTrainedGeneratorIsConvexAndItsGradientIsRight()
    {
        Laws.GeneratorConvexity(Trained.Value, Options);
        Laws.GeneratorGradient(Trained.Value, Options);
    }

    [Fact]
    public void TheTrainedDivergenceGradientsMatchFiniteDifferences() =>
        Laws.Gradients(Trained.Value.Distance, Options);
}
