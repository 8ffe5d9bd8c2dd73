using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.Core.Reference;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// The memory-bounded pairwise run of issue 3: marginal W2 between N distributions and themselves (default
/// N = 50,000, T = 64, d = 32), streamed block by block with <see cref="IBlockwiseDistance.PairwiseBlocks"/> and reduced
/// on the fly to each row's nearest neighbour and a checksum, so that only one block is ever held. Reports time, blocks
/// and the process's peak resident memory (VmHWM, native memory included) next to the size the full matrix would need,
/// and checks sampled entries against the float64 reference and sampled nearest neighbours against a direct row.
///   stream [--n N] [--t T] [--d D] [--block B] [--seed S] [--threads K] [--json FILE]
/// </summary>
public static class Streaming
{
    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) => Program.Arg(args, name, fallback);
        var n = int.Parse(Arg("--n", "50000"), CultureInfo.InvariantCulture);
        var t = int.Parse(Arg("--t", "64"), CultureInfo.InvariantCulture);
        var d = int.Parse(Arg("--d", "32"), CultureInfo.InvariantCulture);
        var block = int.Parse(Arg("--block", "2048"), CultureInfo.InvariantCulture);
        var seed = long.Parse(Arg("--seed", "0"), CultureInfo.InvariantCulture);
        torch.set_num_threads(int.Parse(Arg("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture));
        var jsonPath = Arg("--json", "");
        NativeRuntime.EnsureInitialized();

        // Distribution i: T points μ_i + s_i·z with z standard normal (so nearest neighbours are meaningful).
        var generator = new torch.Generator((ulong)seed);
        using var points = torch.randn([n, t, d], generator: generator)
            .mul_(torch.rand([n, 1, 1], generator: generator).add_(0.5))
            .add_(torch.randn([n, 1, d], generator: generator));
        var batch = DistributionBatch.FromTensors(points, null!);
        var distance = Distances.MarginalWasserstein(2.0, block);

        var best = Enumerable.Repeat(float.PositiveInfinity, n).ToArray();
        var bestIndex = new int[n];
        var checksum = 0.0;
        var blocks = 0;
        var rng = new Random((int)seed + 1);
        var samples = Enumerable.Range(0, 8).Select(_ => (I: rng.Next(n), J: rng.Next(n))).ToArray();
        var sampled = new double[samples.Length];
        var watch = Stopwatch.StartNew();
        distance.PairwiseBlocks(batch, batch, (r0, c0, values) =>
        {
            using var scope = torch.NewDisposeScope();
            blocks++;
            var (rn, cn) = ((int)values.shape[0], (int)values.shape[1]);
            checksum += values.to_type(torch.float64).sum().item<double>();
            for (var s = 0; s < samples.Length; s++)
                if (samples[s].I >= r0 && samples[s].I < r0 + rn && samples[s].J >= c0 && samples[s].J < c0 + cn)
                    sampled[s] = values[samples[s].I - r0, samples[s].J - c0].item<float>();
            var candidates = values;
            if (r0 < c0 + cn && c0 < r0 + rn)
            {
                // Exclude the item itself from its own neighbours.
                var rows = torch.arange(r0, r0 + rn).unsqueeze(1);
                var cols = torch.arange(c0, c0 + cn).unsqueeze(0);
                candidates = values.masked_fill(rows.eq(cols), float.PositiveInfinity);
            }
            var (minimum, argmin) = candidates.min(1);
            var mins = minimum.data<float>().ToArray();
            var args = argmin.data<long>().ToArray();
            for (var r = 0; r < rn; r++)
                if (mins[r] < best[r0 + r])
                    (best[r0 + r], bestIndex[r0 + r]) = (mins[r], (int)(c0 + args[r]));
            if (blocks % 50 == 0)
                Console.Error.WriteLine($"  {blocks} blocks, {watch.Elapsed.TotalSeconds:F0} s");
        });
        watch.Stop();
        var seconds = watch.Elapsed.TotalSeconds;
        var peakStreaming = Process.GetCurrentProcess().PeakWorkingSet64;

        // Sampled entries against the float64 reference.
        var worstRelative = 0.0;
        for (var s = 0; s < samples.Length; s++)
        {
            var (i, j) = samples[s];
            var reference = Core.Reference.MarginalWasserstein.Wasserstein(2.0, batch.ToEmpirical(i), batch.ToEmpirical(j));
            var relative = Math.Abs(sampled[s] - reference) / Math.Max(reference, 1e-12);
            worstRelative = Math.Max(worstRelative, i == j ? Math.Abs(sampled[s]) : relative);
        }
        // Sampled nearest neighbours against one directly computed row.
        var neighbourChecks = 0;
        var neighbourAgreements = 0;
        foreach (var i in Enumerable.Range(0, 4).Select(_ => rng.Next(n)))
        {
            using var scope = torch.NewDisposeScope();
            var single = DistributionBatch.FromTensors(points.narrow(0, i, 1), null!);
            var row = distance.Pairwise(single, batch).squeeze(0);
            row[i] = torch.tensor(float.PositiveInfinity);
            neighbourChecks++;
            if (row.argmin().item<long>() == bestIndex[i] || Math.Abs(row.min().item<float>() - best[i]) <= 1e-5f * best[i])
                neighbourAgreements++;
        }

        var peak = Process.GetCurrentProcess().PeakWorkingSet64;
        var result = new Dictionary<string, object>
        {
            ["n"] = n, ["t"] = t, ["d"] = d, ["block"] = block, ["blocks"] = blocks, ["threads"] = torch.get_num_threads(),
            ["seconds"] = Math.Round(seconds, 1),
            ["pairs_per_second"] = Math.Round((double)n * n / seconds),
            ["peak_resident_bytes_after_streaming"] = peakStreaming,
            ["peak_resident_bytes_after_checks"] = peak,
            ["input_bytes"] = (long)n * t * d * sizeof(float),
            ["full_matrix_bytes"] = (long)n * n * sizeof(float),
            ["checksum_mean_distance"] = checksum / ((double)n * n),
            ["sampled_entries_worst_relative_error_vs_float64_reference"] = worstRelative,
            ["nearest_neighbour_rows_checked"] = neighbourChecks,
            ["nearest_neighbour_rows_agreeing"] = neighbourAgreements,
        };
        var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (jsonPath.Length > 0)
            File.WriteAllText(jsonPath, json);
        return worstRelative <= 1e-4 && neighbourAgreements == neighbourChecks ? 0 : 1;
    }
}
