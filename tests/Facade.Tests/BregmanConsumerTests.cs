using System.Text.Json;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using TorchSharp;
using DistEmbed.Training;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests;

/// <summary>Learned Bregman divergences used from C#: a divergence matrix, a few training steps, the training command.</summary>
public sealed class BregmanConsumerTests
{
    /// <summary>Three classes in 6 dimensions: class means on the first two axes, uniform noise elsewhere.</summary>
    private static (Tensor X, long[] Labels) Blobs(int perClass, int seed, int dimension = 6)
    {
        var rng = new Random(seed);
        var labels = new long[3 * perClass];
        var x = new float[labels.Length * dimension];
        for (var i = 0; i < labels.Length; i++)
        {
            labels[i] = i % 3;
            for (var k = 0; k < dimension; k++)
                x[i * dimension + k] = (float)((k < 2 ? 1.2 * Math.Cos(2 * Math.PI * labels[i] / 3 + k * Math.PI / 2) : 0.0) + (rng.NextDouble() - 0.5));
        }
        return (torch.tensor(x).reshape(labels.Length, dimension), labels);
    }

    [Fact]
    public void LearnedDivergenceMatrixAgreesWithPairedAndIsNonNegative()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = ConvexGenerators.Create("icnn", 4, new GeneratorOptions { Hidden = [8, 8], Seed = 3 }, ScalarType.Float64, null);
        IDistance divergence = new BregmanDivergence(generator);
        var rng = new Random(5);
        var a = new double[5, 4];
        var b = new double[3, 4];
        for (var i = 0; i < 5; i++) for (var k = 0; k < 4; k++) a[i, k] = rng.NextDouble() * 2 - 1;
        for (var j = 0; j < 3; j++) for (var k = 0; k < 4; k++) b[j, k] = rng.NextDouble() * 2 - 1;
        using var qa = VectorBatch.FromArray(a, null);
        using var qb = VectorBatch.FromArray(b, null);
        var matrix = divergence.Pairwise(qa, qb);
        Assert.Equal(new long[] { 5, 3 }, matrix.shape);
        for (var i = 0; i < 5; i++)
            for (var j = 0; j < 3; j++)
            {
                using var ai = VectorBatch.FromTensor(qa.Values.narrow(0, i, 1));
                using var bj = VectorBatch.FromTensor(qb.Values.narrow(0, j, 1));
                var paired = divergence.Paired(ai, bj).item<double>();
                var entry = matrix[i, j].item<double>();
                Assert.True(entry > 0, $"D[{i},{j}] = {entry} should be > 0 (ε = 1 makes D strict)");
                Assert.Equal(paired, entry, 1e-10);
            }
        // D(b, b) = 0 on the diagonal; not symmetric.
        var self = divergence.Pairwise(qa, qa);
        for (var i = 0; i < 5; i++) Assert.Equal(0.0, self[i, i].item<double>(), 1e-12);
        Assert.False(divergence.IsSymmetric);
        var ex = Assert.Throws<ArgumentException>(() => divergence.Pairwise(qa, VectorBatch.FromArray(new double[2, 3], null)));
        Assert.Equal("b", ex.ParamName);
    }

    [Fact]
    public void AFewAdamWStepsOnALearnedMahalanobisAndIcnnLowerTheTripletLoss()
    {
        using var scope = torch.NewDisposeScope();
        var (x, labels) = Blobs(12, 7);
        var y = torch.tensor(labels);
        var batch = VectorBatch.FromTensor(x); // wraps x (disposing the batch would dispose x)
        foreach (var kind in new[] { "quadratic", "icnn" })
        {
            using var generator = ConvexGenerators.Create(kind, 6, new GeneratorOptions { Hidden = [16], Seed = 1 }, ScalarType.Float32, null);
            var divergence = new BregmanDivergence(generator);
            using var optimizer = torch.optim.AdamW(generator.parameters(), lr: 0.02);
            var options = new TripletMarginLossOptions { Margin = 0.5 };
            double Loss()
            {
                using var _ = torch.no_grad();
                return TripletMarginLoss.Compute(batch, y, divergence, null, options).item<float>();
            }
            var before = Loss();
            for (var step = 0; step < 30; step++)
            {
                using var s = torch.NewDisposeScope();
                var triplets = Miners.BatchHard(batch, y, divergence);
                var loss = TripletMarginLoss.Compute(batch, y, divergence, triplets, options);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
            var after = Loss();
            Assert.True(after < before, $"{kind}: the loss should go down ({before} → {after})");
        }
    }

    /// <summary>Writes an IDX file: big-endian magic (0, 0, 8 = unsigned byte, rank) and sizes, then the bytes.</summary>
    private static void WriteIdx(string path, int[] shape, byte[] data)
    {
        using var f = File.Create(path);
        f.Write([0, 0, 8, (byte)shape.Length]);
        foreach (var s in shape) f.Write([(byte)(s >> 24), (byte)(s >> 16), (byte)(s >> 8), (byte)s]);
        f.Write(data);
    }

    /// <summary>A tiny 10-class 4×4 image set whose class k lights pixel k (and noise).</summary>
    internal static void WriteTinySet(string folder, string prefix, int perClass, int seed)
    {
        var rng = new Random(seed);
        var n = 10 * perClass;
        var images = new byte[n * 16];
        var labels = new byte[n];
        for (var i = 0; i < n; i++)
        {
            labels[i] = (byte)(i % 10);
            for (var p = 0; p < 16; p++) images[i * 16 + p] = (byte)rng.Next(0, 60);
            images[i * 16 + labels[i]] = 255;
            images[i * 16 + (labels[i] + 3) % 16] = 200;
        }
        WriteIdx(Path.Combine(folder, $"{prefix}-images-idx3-ubyte"), [n, 4, 4], images);
        WriteIdx(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte"), [n], labels);
    }

    [Fact]
    public void TrainBregmanCommandTrainsEvaluatesAndWritesACheckpoint()
    {
        var folder = Directory.CreateTempSubdirectory("distembed-breg-").FullName;
        try
        {
            WriteTinySet(folder, "train", 20, 1);
            WriteTinySet(folder, "t10k", 8, 2);
            var outDir = Path.Combine(folder, "ckpt");
            var settings = new BregmanTrainSettings
            {
                Data = "idx:" + folder, Generator = "max-affine", Epochs = 2, Seed = 4, Device = "cpu", Out = outDir,
                TrainPerClass = 0, TestPerClass = 0, EmbeddingDimension = 8, Hidden = 16, ItemsPerClass = 4,
            };
            var result = BregmanTrainCommand.Run(settings);
            Assert.InRange(result.PrecisionAt1, 0.0, 1.0);
            Assert.InRange(result.MapAtR, 0.0, 1.0);
            Assert.Equal(100, result.TrainCount);
            Assert.Equal(40, result.TestCount);
            Assert.Equal(2, result.EpochLosses.Length);
            Assert.All(result.Paths, p => Assert.True(File.Exists(p), p));
            // The one checkpoint layout (manifest + weights + optimiser state) written by the library's trainer.
            Assert.Equal(new[] { "manifest.json", "model.dat", "optimizer.dat" }, result.Paths.Select(p => Path.GetFileName(p)!).Order().ToArray());
            var manifest = DeepBregmanTrainer.ReadManifest(outDir);
            Assert.Equal("max-affine", manifest.Model.Divergence);
            Assert.Equal(16, manifest.Model.GeneratorPieces);
            Assert.Equal(result.EpochLosses, manifest.State.History.Select(h => h.TrainLoss).ToArray());
            Assert.Empty(Directory.GetDirectories(folder, ".ckpt.*"));
            // The checkpoint loads back (architecture from the manifest) and gives the same metrics; its state dict also
            // loads into a model of the same shape.
            using var loaded = DeepBregmanTrainer.Load(outDir);
            using var model = new DeepBregmanModel(16, new DeepBregmanOptions { Divergence = "max-affine", EmbeddingDimension = 8, Hidden = 16, Seed = 99 }, null);
            model.load(Path.Combine(outDir, "model.dat"));
            var test = DistEmbed.Data.ImageDatasets.Load("idx:" + folder, train: false).WhereClasses([5, 6, 7, 8, 9]);
            Assert.Equal(result.MapAtR, loaded.Evaluate(test.ToTensor(), test.Labels.Select(l => (long)l).ToArray()).MapAtR, 1e-9);
            Assert.Equal(result.MapAtR, model.Evaluate(test.ToTensor(), test.Labels.Select(l => (long)l).ToArray()).MapAtR, 1e-9);
            var json = JsonDocument.Parse(BregmanTrainCommand.ToJson(result)).RootElement;
            Assert.Equal(result.PrecisionAt1, json.GetProperty("precision_at_1").GetDouble());
            var bad = Assert.Throws<ArgumentException>(() => BregmanTrainCommand.Run(new BregmanTrainSettings { Data = "idx:" + folder, Generator = "hamming" }));
            Assert.Equal("generator", bad.ParamName);
            var overlap = Assert.Throws<ArgumentException>(() => BregmanTrainCommand.Run(new BregmanTrainSettings { Data = "idx:" + folder, TestClasses = [4, 5] }));
            Assert.Contains("class-disjoint", overlap.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
