using DistEmbed.Core;
using DistEmbed.Facade.Tests.DocExamples;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The trainer with the new losses: it optimises a loss's own parameters (Proxy-Anchor's proxies) with the model's,
/// stores them in the checkpoint so that a resumed run ends exactly as the uninterrupted one, refuses a miner that a
/// proxy loss would ignore, and hands its miner to the cross-batch memory.
/// </summary>
public sealed class LossTrainingTests
{
    /// <summary>A module without parameters: the first 8 input coordinates as the embedding.</summary>
    private sealed class Fixed() : nn.Module<Tensor, EmbeddingBatch>(nameof(Fixed))
    {
        public override EmbeddingBatch forward(Tensor x) => EmbeddingBatch.Vectors(x.narrow(1, 0, 8));
    }

    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    [Fact]
    public void TheTrainerOptimisesTheProxiesOfProxyAnchor()
    {
        // The model has no parameters: only the proxies can lower the loss.
        using var data = OwnEncoderGuideExamples.Clusters(classes: 6, perClass: 8, seed: 4);
        using var model = new Fixed();
        var options = new MetricLearningOptions { Distance = "euclidean", Loss = "proxy-anchor", Epochs = 8, ClassesPerBatch = 3, ItemsPerClass = 4, LearningRate = 0.1, WarmupFraction = 0 };
        var result = MetricLearningTrainer.Train(model, data, null, options);
        Assert.True(result.History[^1].TrainLoss < 0.7 * result.History[0].TrainLoss,
            $"the loss falls from {result.History[0].TrainLoss} to {result.History[^1].TrainLoss} by learning the proxies alone");
    }

    [Fact]
    public void AResumedProxyAnchorRunEndsAsTheUninterruptedOne()
    {
        using var train = OwnEncoderGuideExamples.Clusters(classes: 6, perClass: 8, seed: 5);
        var options = new MetricLearningOptions { Distance = "sqeuclidean", Loss = "proxy-anchor", Epochs = 4, ClassesPerBatch = 3, ItemsPerClass = 4, LearningRate = 1e-2 };
        var folder = Path.Combine(Path.GetTempPath(), "distembed-proxy-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            torch.manual_seed(9);
            using var whole = new VectorEncoder(16, 8);
            var uninterrupted = MetricLearningTrainer.Train(whole, train, null, options with { Epochs = 4 });
            torch.manual_seed(9);
            using var first = new VectorEncoder(16, 8);
            using var cancel = new CancellationTokenSource();
            // Interrupted after epoch 2 (its checkpoint is written before the epoch's report).
            var stopAfterTwo = new SynchronousProgress(p => { if (p.EpochResult is { Epoch: 2 }) cancel.Cancel(); });
            Assert.Throws<OperationCanceledException>(() =>
                MetricLearningTrainer.Train(first, train, null, options, checkpointDirectory: folder, progress: stopAfterTwo, cancellationToken: cancel.Token));
            using var second = new VectorEncoder(16, 8);
            var resumed = MetricLearningTrainer.Resume(second, folder, train, null, epochs: 4);
            Assert.Equal(uninterrupted.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
            File.Delete(Path.Combine(folder, "loss.dat"));
            using var third = new VectorEncoder(16, 8);
            var missing = Assert.Throws<FileNotFoundException>(() => MetricLearningTrainer.Resume(third, folder, train, null, epochs: 5));
            Assert.Contains("loss.dat", missing.Message);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void OptionsRefuseAMinerForProxyAnchorAndAWrappedLossThatIsNotATupleLoss()
    {
        var proxy = new MetricLearningOptions { Distance = "euclidean", Loss = "proxy-anchor", Miner = "batch-hard" };
        Assert.Equal(nameof(MetricLearningOptions.Miner), Assert.Throws<ArgumentException>(proxy.Validate).ParamName);
        var memory = new MetricLearningOptions { Distance = "euclidean", Loss = "xbm", MemoryLoss = "proxy-anchor" };
        Assert.Equal(nameof(MetricLearningOptions.MemoryLoss), Assert.Throws<ArgumentException>(memory.Validate).ParamName);
        var negative = new MetricLearningOptions { Distance = "euclidean", Loss = "xbm", MemorySize = -1 };
        Assert.Equal(nameof(MetricLearningOptions.MemorySize), Assert.Throws<ArgumentException>(negative.Validate).ParamName);
        var xbm = (CrossBatchMemory)new MetricLearningOptions { Distance = "euclidean", Loss = "xbm", Miner = "semi-hard", MemorySize = 32, MemoryLoss = "triplet" }.CreateLoss();
        Assert.Equal("semi-hard", xbm.Miner);
        Assert.Equal("triplet", xbm.Loss);
        Assert.Equal(32, xbm.Size);
    }
}
