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
                const int pairs = 64; // W4 is not scaled: POT's peer always solves the 64 pairs.
                var rng = new Random(0);
                var problems = Enumerable.Range(0, pairs).Select(_ =>
                {
                    var x = Core.Reference.Empirical.Uniform(Normal2D(rng, 128, 16));
                    var y = Core.Reference.Empirical.Uniform(Normal2D(rng, 128, 16));
                    return (Cost: Core.Reference.ExactTransport.GroundCost(2.0, x, y), x.Weights, y.Weights);
                }).ToArray();
                return ($"{pairs} pairs, T=128, d=16, float64", () =>
                {
                    foreach (var p in problems) Core.Reference.ExactTransport.Solve(p.Cost, p.Item2, p.Item3);
                });
            }
            case "N1":
            {
                var n = Scaled(10_000, 20);
                var x = Randn(n, 256);
                return ($"N={n}, d=256, k=10", () => Sync(() => NearestNeighbours(x, 10)));
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
                var model = Tvae.Tvae.Create(28, 28, new Tvae.TvaeOptions { Epochs = 1, TripletsPerEpoch = n, Seed = (int)Seed },
                    Device.type == DeviceType.CUDA ? "cuda" : "cpu");
                _owned.Add(model);
                return ($"{n} triplets (1 epoch), MLP 784-400-20, batch 128", () => model.Fit(images, labels));
            }
            default:
                throw new ArgumentException($"unknown workload '{id}'; valid: W1, W2, W3, W4, N1, T1", nameof(id));
        }
    }

    private static DistributionBatch Batch(Tensor points) => DistributionBatch.FromTensors(points, null);

    /// <summary>Exact k-NN, self excluded: blocks of rows of the library's squared Euclidean pairwise matrix, then top-k.</summary>
    private static Tensor NearestNeighbours(Tensor x, int k)
    {
        var n = x.shape[0];
        var distance = Distances.Create("sqeuclidean", null);
        IEmbeddingBatch all = VectorBatch.FromTensor(x);
        var parts = new List<Tensor>();
        for (long s = 0; s < n; s += 2048)
        {
            var e = Math.Min(n, s + 2048);
            using var rows = torch.arange(s, e, device: x.device);
            using var block = all.Select(rows);
            var d = distance.Pairwise(block, all);
            d.diagonal(offset: s).fill_(double.PositiveInfinity);
            parts.Add(d.topk(k, dim: 1, largest: false).indexes);
        }
        return torch.cat(parts, 0);
    }

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
