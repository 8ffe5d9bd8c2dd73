using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using DistEmbed.Core;
using DistEmbed.Core.Reference;
using DistEmbed.Data;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// <c>distembed showcase</c>: the main job until model training lands. Generates two seeded batches of distributions
/// of unequal lengths, computes every distribution distance pairwise on TorchSharp, and checks one entry of each against
/// the independent float64 reference — the library's "verified" promise, shown on the console.
/// </summary>
public static class ShowcaseCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var count = new Option<int>("--count") { Description = "Distributions per batch.", DefaultValueFactory = _ => 6 };
        var dim = new Option<int>("--dim") { Description = "Dimension d.", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 7 };
        var device = DeviceOption.Create();
        var command = new Command("showcase", "Compares two generated batches of distributions with every distance and checks each against the float64 reference.")
        {
            count, dim, seed, device,
        };
        command.SetAction(r => CliErrors.Run(() => Run(r.GetValue(count), r.GetValue(dim), r.GetValue(seed), r.GetValue(device)!)));
        return command;
    }

    private static void Run(int count, int dim, int seed, string deviceName)
    {
        if (count < 1) throw new ArgumentException($"--count = {count}; it must be ≥ 1.", "count");
        if (dim < 1) throw new ArgumentException($"--dim = {dim}; it must be ≥ 1.", "dim");
        var device = Devices.Resolve(deviceName);
        var (pa, ma) = RandomDistributions.Generate(count, 5, 40, dim, seed);
        var (pb, mb) = RandomDistributions.Generate(count, 5, 40, dim, seed + 1);
        var ea = Enumerable.Range(0, count).Select(i => ToEmpirical(pa, ma, i)).ToArray();
        var eb = Enumerable.Range(0, count).Select(i => ToEmpirical(pb, mb, i)).ToArray();
        using var a = DistributionBatch.FromEmpirical(ea, device);
        using var b = DistributionBatch.FromEmpirical(eb, device);
        var directions = Core.Reference.SlicedWasserstein.RandomDirections(64, dim, seed);
        using var directionTensor = torch.tensor(directions, device: device);
        var bandwidths = new[] { 0.5, 1.0, 2.0, 4.0 };
        const double epsilon = 2.0;

        Console.WriteLine($"Two batches of {count} distributions in ℝ^{dim} with 5–40 points each (seed {seed}), device {device}.");
        Console.WriteLine("Each distance: the pairwise matrix on TorchSharp (float64), and entry [0,0] against the float64 reference.");
        Console.WriteLine();
        Console.WriteLine($"{"distance",-20} {"D(a0,b0) tensor",18} {"reference",18} {"rel. error",11} {"pairwise",10} {"time",9}");
        var rows = new (string Name, Func<double> Reference)[]
        {
            ("marginal-w1", () => Core.Reference.MarginalWasserstein.Wasserstein(1.0, ea[0], eb[0])),
            ("marginal-w2", () => Core.Reference.MarginalWasserstein.Wasserstein(2.0, ea[0], eb[0])),
            ("sliced-w2", () => Core.Reference.SlicedWasserstein.Wasserstein(2.0, ea[0], eb[0], directions)),
            ("max-sliced-w2", () => Core.Reference.SlicedWasserstein.MaxSliced(2.0, ea[0], eb[0], directions)),
            ("sinkhorn-divergence", () => Core.Reference.Sinkhorn.Divergence(2.0, ea[0], eb[0], epsilon, 5000, 1e-11)),
            ("bures", () => Math.Sqrt(Core.Reference.Bures.BuresOfFitsSquared(ea[0], eb[0], false))),
            ("bures-diag", () => Math.Sqrt(Core.Reference.Bures.BuresOfFitsSquared(ea[0], eb[0], true))),
            ("mmd", () => Core.Reference.KernelDistances.MmdSquared(ea[0], eb[0], bandwidths, true)),
            ("energy", () => Core.Reference.KernelDistances.EnergyDistance(ea[0], eb[0])),
        };
        var worst = 0.0;
        foreach (var (name, reference) in rows)
        {
            var options = new DistanceOptions { Directions = directionTensor, Bandwidths = bandwidths, Epsilon = epsilon, MaxIterations = 5000, Tolerance = 1e-11 };
            var distance = Distances.Create(name, options);
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            var sw = Stopwatch.StartNew();
            var matrix = distance.Pairwise(a, b).cpu();
            var ms = sw.Elapsed.TotalMilliseconds;
            var ours = matrix[0, 0].ToDouble();
            var expected = reference();
            var rel = Math.Abs(ours - expected) / Math.Max(1e-12, Math.Abs(expected));
            worst = Math.Max(worst, rel);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-20} {ours,18:G12} {expected,18:G12} {rel,11:E1} {$"{matrix.shape[0]}×{matrix.shape[1]}",10} {ms,7:F1}ms"));
        }
        var exact = ExactTransport.Wasserstein(2.0, ea[0], eb[0]);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Exact W2(a0,b0) by the network simplex: {exact:G12} (≥ marginal-w2 and ≥ sliced-w2, as theory says: {exact + 1e-9 >= Core.Reference.MarginalWasserstein.Wasserstein(2.0, ea[0], eb[0]) && exact + 1e-9 >= Core.Reference.SlicedWasserstein.Wasserstein(2.0, ea[0], eb[0], directions)})."));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Largest relative error against the reference: {worst:E2}."));
        if (worst > 1e-6)
            throw new InvalidDataException($"a tensor distance disagrees with the float64 reference (relative error {worst:E2} > 1e-6).");
    }

    private static Empirical ToEmpirical(float[,,] points, float[,] mask, int i)
    {
        var t = Enumerable.Range(0, mask.GetLength(1)).Where(j => mask[i, j] > 0).ToArray();
        var d = points.GetLength(2);
        var p = new double[t.Length, d];
        for (var r = 0; r < t.Length; r++)
            for (var k = 0; k < d; k++)
                p[r, k] = points[i, t[r], k];
        return Empirical.Uniform(p);
    }
}
