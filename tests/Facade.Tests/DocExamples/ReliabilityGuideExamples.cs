using DistEmbed;
using DistEmbed.Sequences;
using DistEmbed.Training;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

#region snippet:reliability-stop-after
/// <summary>Cancels a run once a given epoch has finished (the trainers report progress on the training thread).</summary>
public sealed class StopAfterEpoch(int epoch, CancellationTokenSource cancel) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value)
    {
        if (value.EpochResult?.Epoch == epoch) cancel.Cancel();
    }
}
#endregion

/// <summary>The C# example of docs/reliability.md: a cancelled run resumes from its checkpoint to the uninterrupted result.</summary>
[Collection("Console")]
public sealed class ReliabilityGuideExamples
{
    [Fact]
    public void CancelAndResume()
    {
        using var trainData = OwnEncoderGuideExamples.Clusters(classes: 8, perClass: 8, seed: 1);
        using var validData = OwnEncoderGuideExamples.Clusters(classes: 4, perClass: 6, seed: 2, labelOffset: 100);
        var folder = Path.Combine(Path.GetTempPath(), "distembed-reliability-" + Guid.NewGuid().ToString("N"));
        var console = Console.Out;
        using var printed = new StringWriter();
        Console.SetOut(printed);
        try
        {
            #region snippet:reliability-cancel-resume
            // trainData, validData: LabelledData; folder: a new or empty folder for the checkpoint.
            var options = new MetricLearningOptions { Distance = "marginal-w2", Epochs = 4, ClassesPerBatch = 4, ItemsPerClass = 4, LearningRate = 1e-2 };
            using var encoder = new PointCloudEncoder(inputs: 16, points: 4, dimension: 2);
            using var cancel = new CancellationTokenSource();       // e.g. a deadline or a user's Stop button
            try
            {
                MetricLearningTrainer.Train(encoder, trainData, validData, options, checkpointDirectory: folder,
                    progress: new StopAfterEpoch(2, cancel), cancellationToken: cancel.Token);
            }
            catch (OperationCanceledException)
            {
                Console.WriteLine("stopped; the checkpoint in folder holds epochs 1–2");
            }

            // Later, in this process or another: a model of the same shape continues with the checkpoint's settings.
            using var again = new PointCloudEncoder(inputs: 16, points: 4, dimension: 2);
            TrainingResult result = MetricLearningTrainer.Resume(again, folder, trainData, validData);   // epochs 3–4
            #endregion
            Console.SetOut(console);
            // The first run stopped after epoch 2 (its checkpoint held 2 epochs); the resumed one ran epochs 3 and 4 and
            // reports the whole history. (That a resumed run ends bit for bit as an uninterrupted one is checked by
            // MetricLearningTrainerTests and TrainingShapeTests with seeded models.)
            Assert.Contains("stopped; the checkpoint in folder holds epochs 1–2", printed.ToString());
            Assert.Equal([1, 2, 3, 4], result.History.Select(h => h.Epoch));
            Assert.Equal(4, MetricLearningTrainer.ReadManifest(folder).State.Epoch);
            Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss, "the loss decreases over the resumed run");
        }
        finally
        {
            Console.SetOut(console);
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }
}
