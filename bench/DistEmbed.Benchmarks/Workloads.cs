using System.Diagnostics;
using DistEmbed.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Benchmarks;

/// <summary>
/// The workloads of shared/BENCHMARKS.md on our side: inputs are standard normal draws with a fixed seed, the sizes
/// are multiplied by a scale (1.0 = the documented sizes), and each workload is a closure that runs it once.
/// </summary>
public sealed class Workloads : IDisposable
{
    private readonly List<IDisposable> _owned = new();

    public Workloads(Device device, double scale)
    {
        Device = device;
        Scale = scale;
    }

    public Device Device { get; }

    /// <summary>The seed of the standard normal inputs (0 by default).</summary>
    public long Seed { get; init; }

    /// <summary>Where workloads whose cost depends on the data (W3) write their inputs for the peer; null = nowhere.</summary>
    public string? InputsDirectory { get; init; }
    public double Scale { get; }

    /// <summary>The value computed by the workloads that compute one (N1: the NNGS at k = 10), by id, filled in by
    /// <see cref="Build"/>; the harness compares it with the peers' values on the same inputs.</summary>
    public Dictionary<string, Func<double>> Values { get; } = new();

    /// <summary>Writes a float32 input where the peers read it (<see cref="InputsDirectory"/>), when there is one.</summary>
    private void WriteInput(string name, Tensor values)
    {
        if (InputsDirectory is { } dir) IO.Npy.WriteTensor(Path.Combine(dir, name), values);
    }

    private int Scaled(int n, int min = 1) => Math.Max(min, (int)(n * Scale));

    private Tensor Randn(params long[] shape)
    {
        var t = torch.randn(shape, dtype: ScalarType.Float32, device: Device);
        _owned.Add(t);
        return t;
    }

    /// <summary>Builds workload <paramref name="id"/>: its sizes and a closure that runs it once (synchronised on CUDA).</summary>
    public (string Sizes, Action Run) Build(string id)
    {
        torch.manual_seed(Seed);
        switch (id)
        {
            case "W1":
            {
                var b = Scaled(512);
                var x = Batch(Randn(b, 128, 64));
                var y = Batch(Randn(b, 128, 64));
                var distance = Distances.Create("marginal-w2", new DistanceOptions { BlockSize = 512 });
                return ($"B={b}, T=128, d=64", () => Sync(() => distance.Pairwise(x, y)));
            }
            case "W2":
            {
                var b = Scaled(512);
                var x = Batch(Randn(b, 128, 64));
                var y = Batch(Randn(b, 128, 64));
                var distance = Distances.Create("sliced-w2", new DistanceOptions { Projections = 256, BlockSize = 512 });
                return ($"B={b}, T=128, d=64, L=256", () => Sync(() => distance.Pairwise(x, y)));
            }
            case "W3":
            {
                var b = Scaled(256);
                var xs = Randn(b, 256, 64);
                var ys = Randn(b, 256, 64);
                // Sinkhorn's running time depends on the data (exp underflows into denormals on some inputs), so
                // the peer solves these very inputs: they are written where it reads them.
                if (InputsDirectory is { } dir)
                {
                    IO.Npy.WriteTensor(Path.Combine(dir, "w3_x.npy"), xs);
                    IO.Npy.WriteTensor(Path.Combine(dir, "w3_y.npy"), ys);
                }
                var x = Batch(xs);
                var y = Batch(ys);
                return ($"{b} pairs, T=256, d=64, 100 iterations", () => Sync(() => Workload3.Run(x, y)));
            }
            case "W4":
            {
                // Exact OT: the exact-w2-cost distance (network simplex per pair, float64, pairs spread over
                // torch.get_num_threads() threads), paired over 64 pairs; the ground costs are computed inside the
                // timed call (POT's peer times ot.emd2 on precomputed costs).
                const int pairs = 64; // W4 is not scaled: POT's peer always solves the 64 pairs.
                var x = DistributionBatch.FromTensors(RandnDouble(pairs, 128, 16), null);
                var y = DistributionBatch.FromTensors(RandnDouble(pairs, 128, 16), null);
                var distance = Distances.Create("exact-w2-cost", null);
                return ($"{pairs} pairs, T=128, d=16, float64", () => Sync(() => distance.Paired(x, y)));
            }
            case "W4-reference":
            {
                // The float64 reference solver (Reference.ExactTransport) on the same kind of problems.
                const int pairs = 64;
                var rng = new Random(0);
                var problems = Enumerable.Range(0, pairs).Select(_ =>
                {
                    var x = Core.Reference.Empirical.Uniform(Normal2D(rng, 128, 16));
                    var y = Core.Reference.Empirical.Uniform(Normal2D(rng, 128, 16));
                    return (Cost: Core.Reference.ExactTransport.GroundCost(2.0, x, y), x.Weights, y.Weights);
                }).ToArray();
                return ($"{pairs} pairs, T=128, d=16, float64 (reference solver)", () =>
                {
                    foreach (var p in problems) Core.Reference.ExactTransport.Solve(p.Cost, p.Item2, p.Item3);
                });
            }
            case "N1":
            {
                var n = Scaled(10_000, 20);
                var xs = Randn(n, 256);
                var ys = Randn(n, 256);
                // The peers (scikit-learn, faiss) read these very inputs.
                WriteInput("n1_x.npy", xs);
                WriteInput("n1_y.npy", ys);
                var x = VectorBatch.FromTensor(xs);
                var y = VectorBatch.FromTensor(ys);
                var distance = Distances.Create("euclidean", null);
                Values["N1"] = () => Core.Similarity.Neighbourhoods.Nngs(x, y, distance, [10], 0)[0];
                return ($"N={n}, d=256, k=10 (NNGS of two spaces)", () =>
                {
                    Core.Similarity.Neighbourhoods.Nngs(x, y, distance, [10], 0);
                    if (Device.type == DeviceType.CUDA) torch.cuda.synchronize();
                });
            }
            case "K1":
            {
                // k-NN graph alone (self excluded), the faiss peer's K1.
                var n = Scaled(10_000, 20);
                var xs = Randn(n, 256);
                WriteInput("k1_x.npy", xs);
                var x = VectorBatch.FromTensor(xs);
                var distance = Distances.Create("euclidean", null);
                return ($"N={n}, d=256, k=10 (k-NN graph, self excluded)", () => Core.Similarity.NearestNeighbours.Exact(x, distance, 10, 0));
            }
            case "K2":
            {
                // The first 10,000 of 100,000 items against all of them, k + 1 = 11 (the item itself is then dropped).
                var n = Scaled(100_000, 20);
                var q = Scaled(10_000, 20);
                var all = Randn(n, 256);
                WriteInput("k2_x.npy", all);
                var gallery = VectorBatch.FromTensor(all);
                var queries = VectorBatch.FromTensor(all.narrow(0, 0, q));
                var distance = Distances.Create("euclidean", null);
                return ($"N={n}, Q={q}, d=256, k=10 (search, self excluded)", () => Core.Similarity.NearestNeighbours.Search(queries, gallery, distance, 11, 0));
            }
            case "B1":
            {
                // Learned Bregman divergence: pairwise D_φ(x_i, y_j) with an ICNN generator (hidden 64, 64), one
                // autograd ∇φ per item of y and one matrix product; inference (no_grad), as in mining and retrieval.
                var n = Scaled(4096, 2);
                var x = VectorBatch.FromTensor(Randn(n, 128));
                var y = VectorBatch.FromTensor(Randn(n, 128));
                var generator = Core.Bregman.ConvexGenerators.Create("icnn", 128, new Core.Bregman.GeneratorOptions(), ScalarType.Float32, Device);
                _owned.Add(generator);
                IDistance distance = new Core.Bregman.BregmanDivergence(generator);
                return ($"{n}×{n}, d=128, ICNN 64-64", () => Sync(() => { using var _ = torch.no_grad(); return distance.Pairwise(x, y); }));
            }
            case "B1-sqeuclidean":
            {
                // The reference of B1: the library's pairwise squared Euclidean matrix of the same sizes.
                var n = Scaled(4096, 2);
                var x = VectorBatch.FromTensor(Randn(n, 128));
                var y = VectorBatch.FromTensor(Randn(n, 128));
                var distance = Distances.Create("sqeuclidean", null);
                return ($"{n}×{n}, d=128", () => Sync(() => { using var _ = torch.no_grad(); return distance.Pairwise(x, y); }));
            }
            case "S1":
            {
                // One training epoch of a distributional sequence embedding (TCN + quantile layer + marginal W2,
                // triplet loss with batch-hard mining): N sequences of T steps, 8 classes × 4 per batch.
                var n = Scaled(1024, 64);
                const int t = 64, c = 2, classes = 32;
                var rng = new Random((int)Seed);
                var sequences = new float[n][,];
                var labels = new int[n];
                var flat = new float[n * t * c];
                for (var i = 0; i < n; i++)
                {
                    labels[i] = i % classes;
                    var scale = 0.5 + labels[i] / (double)classes;
                    sequences[i] = new float[t, c];
                    for (var s = 0; s < t; s++)
                        for (var k = 0; k < c; k++)
                        {
                            var u = 1.0 - rng.NextDouble();
                            var v = (float)(scale * Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * rng.NextDouble()));
                            sequences[i][s, k] = v;
                            flat[(i * t + s) * c + k] = v;
                        }
                }
                if (InputsDirectory is { } dir)
                {
                    IO.Npy.Write(Path.Combine(dir, "s1_x.npy"), flat, [n, t, c]);
                    IO.Npy.Write(Path.Combine(dir, "s1_y.npy"), labels.Select(l => (double)l).ToArray(), [n]);
                }
                var data = new Data.SequenceDataset(sequences, labels);
                var model = Sequences.SequenceEmbedder.Create(
                    new Sequences.EmbedderOptions { InputChannels = c, Hidden = 32, Features = 8, Layers = 3, Quantiles = 16 }, Seed);
                var options = new Sequences.TrainerOptions
                {
                    Epochs = 1, ClassesPerBatch = 8, ItemsPerClass = 4, LearningRate = 1e-3, Miner = "batch-hard", Loss = "triplet",
                    WarmupFraction = 0, Seed = Seed, Device = Device.type == DeviceType.CUDA ? "cuda" : "cpu",
                };
                return ($"one epoch: N={n}, T={t}, C={c}, batch 32, TCN 32/8, Q=16", () => Sequences.SequenceTrainer.Train(model, data, null, options));
            }
            case "T1":
            {
                // One TVAE training epoch (the paper's MLP, batch 128, Adam) over N = 60,000·scale uniform 28 × 28
                // images of 10 classes, one random triplet per image; the cost does not depend on the pixel values.
                var n = Scaled(60_000, 256);
                var rng = new Random((int)Seed);
                var images = new float[n, 784];
                for (var i = 0; i < n; i++)
                    for (var j = 0; j < 784; j++) images[i, j] = (float)rng.NextDouble();
                var labels = Enumerable.Range(0, n).Select(i => i % 10).ToArray();
                var model = Autoencoders.Tvae.Create(28, 28, new Autoencoders.TvaeOptions { Epochs = 1, TripletsPerEpoch = n, Seed = (int)Seed },
                    Device.type == DeviceType.CUDA ? "cuda" : "cpu");
                _owned.Add(model);
                return ($"{n} triplets (1 epoch), MLP 784-400-20, batch 128", () => model.Fit(images, labels));
            }
            default:
                throw new ArgumentException($"unknown workload '{id}'; valid: W1, W2, W3, W4, W4-reference, N1, K1, K2, B1, B1-sqeuclidean, S1, T1", nameof(id));
        }
    }

    private Tensor RandnDouble(params long[] shape)
    {
        var t = torch.randn(shape, dtype: ScalarType.Float64, device: torch.CPU);
        _owned.Add(t);
        return t;
    }

    private static DistributionBatch Batch(Tensor points) => DistributionBatch.FromTensors(points, null);

    private void Sync(Func<Tensor> f)
    {
        using var scope = torch.NewDisposeScope();
        var r = f();
        if (Device.type == DeviceType.CUDA) torch.cuda.synchronize();
        else _ = r.shape;
    }

    private static double[,] Normal2D(Random rng, int n, int d)
    {
        var a = new double[n, d];
        for (var i = 0; i < n; i++)
            for (var k = 0; k < d; k++)
            {
                var u = 1.0 - rng.NextDouble();
                a[i, k] = Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * rng.NextDouble());
            }
        return a;
    }

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
    }

    /// <summary>Median wall time in milliseconds of <paramref name="repeats"/> runs after one warm-up run.</summary>
    public static double MedianMilliseconds(Action run, int repeats)
    {
        run();
        var times = new double[repeats];
        for (var i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }
}
