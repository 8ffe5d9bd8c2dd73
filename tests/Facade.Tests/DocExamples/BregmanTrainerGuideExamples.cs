using DistEmbed.Bregman;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/bregman.md that trains a deep Bregman model through the trainers' one loop.</summary>
[Collection("Console")]
public sealed class BregmanTrainerGuideExamples
{
    /// <summary>Items of <paramref name="classes"/> classes in ℝ⁶: class c has its mean at angle 2πc/8 on a circle of radius 2
    /// in the first two coordinates; every coordinate carries uniform noise in [−½, ½].</summary>
    private static LabelledData Points(int[] classes, int perClass, int seed)
    {
        var rng = new Random(seed);
        var n = classes.Length * perClass;
        var x = new float[n, 6];
        var y = new int[n];
        for (var i = 0; i < n; i++)
        {
            y[i] = classes[i % classes.Length];
            var angle = 2 * Math.PI * y[i] / 8;
            for (var k = 0; k < 6; k++)
                x[i, k] = (float)((k == 0 ? 2 * Math.Cos(angle) : k == 1 ? 2 * Math.Sin(angle) : 0.0) + rng.NextDouble() - 0.5);
        }
        return LabelledData.FromArrays(x, y);
    }

    [Fact]
    public void TrainADeepBregmanModelThroughTheGenericTrainer()
    {
        using var train = Points([0, 1, 2, 3, 4], 24, 1);
        using var valid = Points([5, 6, 7], 20, 2);
        var folder = Path.Combine(Path.GetTempPath(), "distembed-bregman-trainer-" + Guid.NewGuid().ToString("N"));
        try
        {
            #region snippet:bregman-trainer
            // train, valid: LabelledData (inputs [N, 6] float32 + int class labels); valid holds other classes.
            using var model = BregmanModel.Create(new DeepBregmanArchitecture
            {
                InputDimension = 6, Divergence = "icnn", Hidden = 32, EmbeddingDimension = 8, GeneratorHidden = [16],
            });
            var options = DeepBregmanTrainer.DefaultOptions with { Epochs = 4, ClassesPerBatch = 5, ItemsPerClass = 8, LearningRate = 5e-3 };
            TrainingResult result = DeepBregmanTrainer.Train(model, train, valid, options, checkpointDirectory: folder);
            foreach (var e in result.History) Console.WriteLine($"epoch {e.Epoch}: loss {e.TrainLoss:F4}, validation MAP@R {e.ValidMapAtR:F3}");

            // Later, or after a crash: continue the run to 6 epochs; or load the best weights for use.
            var (resumed, longer) = DeepBregmanTrainer.Resume(folder, train, valid, epochs: 6);
            resumed.Dispose();
            using var best = DeepBregmanTrainer.Load(folder);
            #endregion
            Assert.Equal(4, result.History.Count);
            Assert.Equal(6, longer.History.Count);
            Assert.Equal(result.History, longer.History.Take(4));
            Assert.True(longer.BestMapAtR > 0.5, $"validation MAP@R {longer.BestMapAtR} is far above chance (about 0.33 for 3 classes)");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }
}
