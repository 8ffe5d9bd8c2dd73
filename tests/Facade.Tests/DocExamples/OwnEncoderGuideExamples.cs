using DistEmbed;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests.DocExamples;

#region snippet:own-encoder-module
/// <summary>An MLP mapping a feature vector to a cloud of K equally weighted points in R^d (an empirical distribution).</summary>
public sealed class PointCloudEncoder : nn.Module<Tensor, EmbeddingBatch>
{
    private readonly Linear hidden;
    private readonly Linear output;
    private readonly int points;
    private readonly int dimension;

    public PointCloudEncoder(int inputs, int points, int dimension) : base(nameof(PointCloudEncoder))
    {
        hidden = nn.Linear(inputs, 32);
        output = nn.Linear(32, points * dimension);
        (this.points, this.dimension) = (points, dimension);
        RegisterComponents();
    }

    public override EmbeddingBatch forward(Tensor x)
    {
        var cloud = output.forward(nn.functional.relu(hidden.forward(x))).reshape(x.shape[0], points, dimension);
        var weights = torch.ones(x.shape[0], points, device: x.device) / points;
        return EmbeddingBatch.Distributions(cloud, weights);
    }
}
#endregion

/// <summary>The C# example of docs/getting-started.md ("Train your own encoder").</summary>
[Collection("Console")]
public sealed class OwnEncoderGuideExamples
{
    /// <summary>Items of <paramref name="classes"/> classes in R^16: the class shows in 4 coordinates, 12 carry noise.</summary>
    internal static LabelledData Clusters(int classes, int perClass, int seed, int labelOffset = 0)
    {
        var random = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var means = new double[classes, 4];
        for (var c = 0; c < classes; c++)
            for (var k = 0; k < 4; k++) means[c, k] = 1.5 * Gauss();
        var x = new float[classes * perClass, 16];
        var y = new int[classes * perClass];
        for (var i = 0; i < y.Length; i++)
        {
            var c = i % classes;
            y[i] = labelOffset + c;
            for (var k = 0; k < 16; k++) x[i, k] = (float)(k < 4 ? means[c, k] + 0.3 * Gauss() : 1.0 * Gauss());
        }
        return LabelledData.FromArrays(x, y);
    }

    [Fact]
    public void TrainYourOwnEncoder()
    {
        using var trainData = Clusters(classes: 8, perClass: 12, seed: 1);
        using var validData = Clusters(classes: 4, perClass: 10, seed: 2, labelOffset: 100);
        var folder = Path.Combine(Path.GetTempPath(), "distembed-own-encoder-" + Guid.NewGuid().ToString("N"));
        try
        {
            #region snippet:own-encoder-train
            // trainData, validData: LabelledData (inputs [N, 16] float32 + int class labels); validData holds other classes.
            torch.manual_seed(1);                     // the encoder's initial weights come from torch's global generator
            using var encoder = new PointCloudEncoder(inputs: 16, points: 4, dimension: 2);
            var options = new MetricLearningOptions
            {
                Distance = "sinkhorn-divergence",     // any distance of Catalog.DistanceNames for distributions
                Loss = "triplet", Miner = "batch-hard", Margin = 0.5,
                Epochs = 4, ClassesPerBatch = 4, ItemsPerClass = 4, LearningRate = 2e-2,
                DistanceSettings = new DistanceSettings { Epsilon = 0.05, SinkhornIterations = 20, EpsilonScaling = 0.5 },
            };
            TrainingResult result = MetricLearningTrainer.Train(encoder, trainData, validData, options, checkpointDirectory: folder);
            foreach (var e in result.History) Console.WriteLine($"epoch {e.Epoch}: loss {e.TrainLoss:F3}, validation MAP@R {e.ValidMapAtR:F3}");

            // Later, or after a crash: a new encoder of the same shape continues from the checkpoint.
            using var again = new PointCloudEncoder(inputs: 16, points: 4, dimension: 2);
            TrainingResult longer = MetricLearningTrainer.Resume(again, folder, trainData, validData, epochs: 6);
            #endregion
            Assert.Equal(4, result.History.Count);
            Assert.Equal(6, longer.History.Count);
            Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss, "the loss decreases");
            Assert.True(result.BestMapAtR > 0.3, $"validation MAP@R {result.BestMapAtR} is far above chance (about 0.1 for 4 classes of 10)");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }
}
