using System.Globalization;
using System.Text;
using DistEmbed;
using DistEmbed.Data;
using DistEmbed.Evaluation;
using DistEmbed.Sequences;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/sequence-embeddings.md: CSV files → training → held-out evaluation → save, reload, embed.</summary>
[Collection("Console")]
public sealed class SequenceGuideExamples
{
    /// <summary>
    /// Writes a long-form CSV file (<c>sequence_id,label,step,x0,x1</c>, one row per step) of the given classes,
    /// <paramref name="perClass"/> sequences each of 12–20 steps. Class k draws channel 0 from N(m_k, s_k²) and
    /// channel 1 from ±b_k plus noise: the classes differ in the distribution of their steps.
    /// </summary>
    private static void WriteCsv(string path, int[] classes, int perClass, int seed)
    {
        var rng = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var csv = new StringBuilder("sequence_id,label,step,x0,x1\n");
        foreach (var k in classes)
            for (var i = 0; i < perClass; i++)
            {
                var (m, s, b) = ((k % 3) - 1.0, 0.3 + 0.4 * (k / 3 % 3), 0.2 + 0.5 * (k % 2));
                var steps = rng.Next(12, 21);
                for (var t = 0; t < steps; t++)
                {
                    var x0 = m + s * Normal();
                    var x1 = (rng.Next(2) == 0 ? -b : b) + 0.1 * Normal();
                    csv.Append(CultureInfo.InvariantCulture, $"c{k}-{seed}-{i},class-{k},{t},{x0:R},{x1:R}\n");
                }
            }
        File.WriteAllText(path, csv.ToString());
    }

    private static float[] Flat(EmbeddingBatch batch) => batch.Values.data<float>().ToArray();

    [Fact]
    public void TrainFromCsvEvaluateSaveReloadEmbed()
    {
        var folder = Directory.CreateTempSubdirectory("distembed-seq-doc-").FullName;
        try
        {
            WriteCsv(Path.Combine(folder, "train.csv"), [0, 1, 2, 3, 4, 5], perClass: 8, seed: 1);
            WriteCsv(Path.Combine(folder, "test.csv"), [6, 7, 8], perClass: 6, seed: 2);     // classes never seen in training
            WriteCsv(Path.Combine(folder, "new.csv"), [6, 7, 8], perClass: 2, seed: 3);
            var modelFolder = Path.Combine(folder, "model");
            #region snippet:sequence-csv
            // Long-form CSV, one row per step: sequence_id,label,step,x0,x1 (labels may be strings).
            SequenceDataset train = SequenceFiles.Read(Path.Combine(folder, "train.csv"));
            SequenceDataset test  = SequenceFiles.Read(Path.Combine(folder, "test.csv"));   // held-out classes
            var standardizer = Standardizer.Fit(train);                     // per-channel mean/std of the training steps
            train = standardizer.Apply(train);
            test  = standardizer.Apply(test);

            // A TCN encoder with a quantile head (8 levels per feature), compared by the marginal W2 (quantile-w2).
            var model = SequenceEmbedder.Create(new EmbedderOptions
            {
                InputChannels = train.Channels, Hidden = 8, Features = 4, Layers = 2, Head = "quantile", Quantiles = 8,
            }, seed: 0);
            var options = new TrainerOptions { Epochs = 3, ClassesPerBatch = 3, ItemsPerClass = 4, Seed = 0 };
            TrainingResult result = SequenceTrainer.Train(model, train, valid: null, options,
                checkpointDirectory: modelFolder, standardizerJson: standardizer.ToJson());   // saves the model folder

            // Retrieval on the held-out classes: P@1, R-precision, MAP@R, ROC AUC, EER, … under the training distance.
            var distance = Catalog.CreateDistance(model.Options.DefaultDistance());
            using (var embedded = model.EmbedAll(test))
            {
                EvaluationReport report = EmbeddingEvaluation.Evaluate(
                    embedded, test.Labels.Select(l => (long)l).ToArray(), distance, null);
                Console.WriteLine($"P@1 {report.PrecisionAt1:F3}  MAP@R {report.MapAtR:F3}  after {result.History.Count} epochs");
            }

            // Later: reload the model and its standardiser, embed new data.
            var (loaded, manifest) = Checkpoint.LoadModel(modelFolder);
            var fresh = Standardizer.FromJson(manifest.Standardizer!).Apply(SequenceFiles.Read(Path.Combine(folder, "new.csv")));
            using var embeddings = loaded.EmbedAll(fresh);                  // quantiles [N, features, levels]
            #endregion

            Assert.Equal(3, result.History.Count);
            Assert.Equal(6, fresh.Count);
            Assert.Equal(Representation.Quantiles, embeddings.Representation);
            Assert.Equal(new long[] { 6, 4, 8 }, embeddings.Values.shape);
            // The reloaded model embeds exactly as the trained one (best weights = the ones the model holds).
            using (var direct = model.EmbedAll(fresh)) Assert.Equal(Flat(direct), Flat(embeddings));
            // Held-out classes differ in their step distributions: retrieval is far above chance (P@1 ≈ 1/3 at random).
            using var heldOut = loaded.EmbedAll(test);
            var check = EmbeddingEvaluation.Evaluate(heldOut, test.Labels.Select(l => (long)l).ToArray(), distance, null);
            Assert.Equal(18, check.Count);
            Assert.True(check.PrecisionAt1 > 0.6, $"P@1 on held-out classes = {check.PrecisionAt1}");
            Assert.InRange(check.MapAtR, 0.0, 1.0);
            model.Dispose();
            loaded.Dispose();
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }
}
