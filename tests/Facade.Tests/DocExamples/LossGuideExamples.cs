using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests.DocExamples;

#region snippet:losses-vector-encoder
/// <summary>An MLP mapping a feature vector to an embedding vector in R^d.</summary>
public sealed class VectorEncoder : nn.Module<Tensor, EmbeddingBatch>
{
    private readonly Linear hidden;
    private readonly Linear output;

    public VectorEncoder(int inputs, int dimension) : base(nameof(VectorEncoder))
    {
        hidden = nn.Linear(inputs, 32);
        output = nn.Linear(32, dimension);
        RegisterComponents();
    }

    public override EmbeddingBatch forward(Tensor x) => EmbeddingBatch.Vectors(output.forward(nn.functional.relu(hidden.forward(x))));
}
#endregion

/// <summary>The C# examples of docs/losses.md.</summary>
[Collection("Console")]
public sealed class LossGuideExamples
{
    [Fact]
    public void TrainWithProxyAnchorAndACrossBatchMemory()
    {
        using var trainData = OwnEncoderGuideExamples.Clusters(classes: 8, perClass: 12, seed: 1);
        using var validData = OwnEncoderGuideExamples.Clusters(classes: 4, perClass: 10, seed: 2, labelOffset: 100);
        var folder = Path.Combine(Path.GetTempPath(), "distembed-losses-" + Guid.NewGuid().ToString("N"));
        try
        {
            torch.manual_seed(3);
            #region snippet:losses-proxy-anchor
            // trainData, validData: LabelledData (inputs [N, 16] + int labels); validData holds other classes.
            using var encoder = new VectorEncoder(inputs: 16, dimension: 8);
            var options = new MetricLearningOptions
            {
                Distance = "cosine",       // Proxy-Anchor's similarity is s = 1 − D: with "cosine" it is the paper's cos
                Loss = "proxy-anchor",     // one learnable proxy per training class, optimised with the encoder
                Epochs = 4, ClassesPerBatch = 4, ItemsPerClass = 4, LearningRate = 1e-2,
            };
            TrainingResult result = MetricLearningTrainer.Train(encoder, trainData, validData, options, checkpointDirectory: folder);
            foreach (var e in result.History) Console.WriteLine($"epoch {e.Epoch}: loss {e.TrainLoss:F3}, validation MAP@R {e.ValidMapAtR:F3}");

            // The checkpoint holds the proxies too (loss.dat): a resumed run continues with them.
            using var again = new VectorEncoder(inputs: 16, dimension: 8);
            TrainingResult longer = MetricLearningTrainer.Resume(again, folder, trainData, validData, epochs: 6);

            // A cross-batch memory: contrastive pairs between each batch and the last 64 embeddings, mined by batch-hard.
            using var another = new VectorEncoder(inputs: 16, dimension: 8);
            var withMemory = options with { Loss = "xbm", MemoryLoss = "contrastive", MemorySize = 64, Miner = "batch-hard" };
            TrainingResult memoryResult = MetricLearningTrainer.Train(another, trainData, validData, withMemory);
            #endregion
            Assert.Equal(4, result.History.Count);
            Assert.Equal(6, longer.History.Count);
            Assert.True(File.Exists(Path.Combine(folder, "loss.dat")), "the checkpoint stores the proxies");
            Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss, "the loss decreases");
            Assert.True(result.BestMapAtR > 0.3, $"validation MAP@R {result.BestMapAtR} is far above chance (about 0.1 for 4 classes of 10)");
            Assert.All(memoryResult.History, h => Assert.True(double.IsFinite(h.TrainLoss)));
            Assert.True(memoryResult.BestMapAtR > 0.3, $"validation MAP@R {memoryResult.BestMapAtR} with the memory");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void TrainASequenceModelWithLossSettings()
    {
        var trainSequences = SequenceTestData.Make(6, 8, 1);
        #region snippet:losses-sequence-settings
        var sequenceOptions = new TrainerOptions
        {
            Loss = "xbm", MemoryLoss = "ntxent", MemorySize = 64,
            LossSettings = new LossSettings { NTXentTemperature = 0.05 },
            Epochs = 2, ClassesPerBatch = 4, ItemsPerClass = 3,
        };
        var model = SequenceEmbedder.Create(new EmbedderOptions { InputChannels = 2, Hidden = 8, Features = 4 }, seed: 0);
        TrainingResult run = SequenceTrainer.Train(model, trainSequences, null, sequenceOptions);
        #endregion
        Assert.Equal(2, run.History.Count);
        Assert.All(run.History, h => Assert.True(double.IsFinite(h.TrainLoss) && h.TrainLoss > 0, $"loss {h.TrainLoss}"));
    }
}
