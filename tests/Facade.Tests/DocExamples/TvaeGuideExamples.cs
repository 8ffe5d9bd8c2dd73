using DistEmbed.Autoencoders;
using DistEmbed.Data;
using DistEmbed.Sequences;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/tvae.md, run on a small IDX folder of synthetic 8 × 8 images (the guide's defaults are MNIST and the paper's settings).</summary>
public sealed class TvaeGuideExamples : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-tvae-guide-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An IDX folder with n images of 8 × 8 in 4 classes (class c lights quadrant c) for train and t10k.</summary>
    private string SyntheticIdx(int n)
    {
        var random = new Random(5);
        foreach (var prefix in new[] { "train", "t10k" })
        {
            var pixels = new byte[n * 64];
            var labels = new byte[n];
            for (var i = 0; i < n; i++)
            {
                labels[i] = (byte)(i % 4);
                for (var p = 0; p < 64; p++)
                {
                    var lit = (p / 8 < 4 ? 0 : 2) + (p % 8 < 4 ? 0 : 1) == i % 4;
                    pixels[i * 64 + p] = (byte)((lit ? 200 : 0) + random.Next(50));
                }
            }
            Idx.WriteUnsignedBytes(Path.Combine(_dir, $"{prefix}-images-idx3-ubyte"), [n, 8, 8], pixels);
            Idx.WriteUnsignedBytes(Path.Combine(_dir, $"{prefix}-labels-idx1-ubyte"), [n], labels);
        }
        return _dir;
    }

    [Fact]
    public void TrainEvaluateSaveLoad()
    {
        var spec = $"idx:{SyntheticIdx(96)}";
        var options = new TvaeOptions { Variant = TvaeVariant.WTvae, Seed = 1, HiddenSize = 32, LatentSize = 4, BatchSize = 16, Epochs = 3, TripletsPerEpoch = 160, LearningRate = 3e-3 };
        var log = new List<string>();
        var checkpoint = Path.Combine(_dir, "checkpoint");
        #region snippet:tvae-library
        var train = ImageDatasets.Load(spec, train: true);      // spec: "mnist", "fashion-mnist" or "idx:DIR"
        var test = ImageDatasets.Load(spec, train: false);
        var (model, report) = Tvae.Train(train, options, device: "auto",  // options: new TvaeOptions { Variant = TvaeVariant.WTvae } = paper settings
            progress: new Progress<TrainingProgress>(p => { if (p.EpochResult is { } e) log.Add($"epoch {e.Epoch} loss {e.TrainLoss:F4}"); }));
        using (model)
        {
            TvaeEvaluation metrics = model.Evaluate(test, triplets: 500, retrievalItems: 96);  // seeded test triplets, −ELBO, P@1, MAP@R
            model.Save(checkpoint, metrics);                  // manifest.json + weights + optimiser state, written atomically
        }
        using var again = Tvae.Load(checkpoint);              // identical outputs
        #endregion
        Assert.Equal(3, report.EpochLoss.Length);
        var evaluation = again.Evaluate(test, triplets: 500, retrievalItems: 96);
        Assert.InRange(evaluation.TripletAccuracy, 0.6, 1.0);
    }
}
