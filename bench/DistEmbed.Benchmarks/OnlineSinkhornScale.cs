using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// Sinkhorn between large point clouds in O(T + T') memory (issue 20, item 3): <see cref="OnlineSinkhorn"/> on two
/// clouds of N points in d dimensions (uniform in the unit cube and a shifted Gaussian, float32), with
/// (1) agreement with the tensorised <see cref="Sinkhorn.Solve"/> at --check-n points (same run, same options),
/// (2) seconds per iteration at N (a fixed number of iterations at the target ε: --iterations), and
/// (3) a full solve with ε-scaling at --full-n points; the process's peak resident memory (VmHWM) after each stage.
///   online-sinkhorn [--n 100000] [--d 3] [--epsilon 0.01] [--iterations 3] [--tile 4096] [--check-n 2000] [--full-n 20000] [--threads K] [--json FILE]
/// </summary>
public static class OnlineSinkhornScale
{
    /// <summary>The solver's options (the F# record's constructor: every field).</summary>
    static SinkhornOptions Options(double eps, int maxIterations, double tolerance, int checkEvery, double scaling, DistEmbed.Core.SinkhornNonConvergence policy) =>
        new(eps, 2, maxIterations, tolerance, checkEvery, scaling, SinkhornGradient.Envelope, 256, false, policy);

    static double PeakGiB() => Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1L << 30);

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) => Program.Arg(args, name, fallback);
        int Int(string name, string fallback) => int.Parse(Arg(name, fallback), CultureInfo.InvariantCulture);
        var n = Int("--n", "100000");
        var d = Int("--d", "3");
        var eps = double.Parse(Arg("--epsilon", "0.01"), CultureInfo.InvariantCulture);
        var iterations = Int("--iterations", "3");
        var tile = Int("--tile", "4096");
        var checkN = Int("--check-n", "2000");
        var fullN = Int("--full-n", "20000");
        torch.set_num_threads(Int("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)));
        var jsonPath = Arg("--json", "");
        NativeRuntime.EnsureInitialized();
        var generator = new torch.Generator(7);
        (torch.Tensor X, torch.Tensor A, torch.Tensor Y, torch.Tensor B) Clouds(int count)
        {
            var x = torch.rand([count, d], generator: generator);
            var y = torch.randn([count, d], generator: generator).mul_(0.2).add_(0.6);
            return (x, torch.ones(count), y, torch.ones(count));
        }
        var result = new Dictionary<string, object> { ["n"] = n, ["d"] = d, ["epsilon"] = eps, ["tile"] = tile, ["threads"] = torch.get_num_threads() };

        // (1) Agreement with the tensorised solver where both fit.
        if (checkN > 0)
        using (var scope = torch.NewDisposeScope())
        {
            var (x, a, y, b) = Clouds(checkN);
            var o = Options(eps, 10000, 1e-5, 10, 0.5, DistEmbed.Core.SinkhornNonConvergence.Warn);
            var w1 = Stopwatch.StartNew();
            using var online = OnlineSinkhorn.Solve(x, a, y, b, o, tile);
            var onlineSeconds = w1.Elapsed.TotalSeconds;
            using var ba = DistributionBatch.FromTensors(x.unsqueeze(0), a.unsqueeze(0));
            using var bb = DistributionBatch.FromTensors(y.unsqueeze(0), b.unsqueeze(0));
            var w2 = Stopwatch.StartNew();
            using var tensorised = Sinkhorn.Solve(ba, bb, o);
            var tensorisedSeconds = w2.Elapsed.TotalSeconds;
            double vo = online.Value.ToDouble(), vt = tensorised.EntropicCost.ToDouble();
            result["check"] = new Dictionary<string, object>
            {
                ["n"] = checkN, ["online"] = vo, ["tensorised"] = vt, ["relative_difference"] = Math.Abs(vo - vt) / Math.Abs(vt),
                ["online_seconds"] = onlineSeconds, ["tensorised_seconds"] = tensorisedSeconds, ["online_iterations"] = online.Iterations,
                ["tensorised_iterations"] = tensorised.Iterations,
            };
            Console.Error.WriteLine($"check at N = {checkN}: online {vo:G9} vs tensorised {vt:G9} (relative {Math.Abs(vo - vt) / Math.Abs(vt):G3}); {onlineSeconds:F2} s vs {tensorisedSeconds:F2} s; peak {PeakGiB():F2} GiB");
        }

        // (2) Seconds per iteration at N: a fixed number of iterations at the target ε, no ε-scaling.
        using (var scope = torch.NewDisposeScope())
        {
            var (x, a, y, b) = Clouds(n);
            var o = Options(eps, iterations, 1e-300, iterations + 1, 0.0, DistEmbed.Core.SinkhornNonConvergence.Ignore);
            var w = Stopwatch.StartNew();
            using var r = OnlineSinkhorn.Solve(x, a, y, b, o, tile);
            var seconds = w.Elapsed.TotalSeconds;
            // iterations at the target + the first half-step and the final plan pass (about one iteration each).
            var perIteration = seconds / (iterations + 1.5);
            result["large"] = new Dictionary<string, object>
            {
                ["seconds"] = seconds, ["iterations"] = iterations, ["seconds_per_iteration"] = perIteration,
                ["value"] = r.Value.ToDouble(), ["marginal_error"] = r.MarginalError, ["peak_rss_gib"] = PeakGiB(),
            };
            Console.Error.WriteLine($"N = {n}: {iterations} iterations in {seconds:F1} s, ≈ {perIteration:F1} s per iteration; peak {PeakGiB():F2} GiB");
        }

        // (3) A full solve with ε-scaling at fullN points.
        if (fullN > 0)
            using (var scope = torch.NewDisposeScope())
            {
                var (x, a, y, b) = Clouds(fullN);
                var o = Options(eps, 10000, 1e-4, 10, 0.5, DistEmbed.Core.SinkhornNonConvergence.Warn);
                var w = Stopwatch.StartNew();
                using var r = OnlineSinkhorn.Solve(x, a, y, b, o, tile);
                var seconds = w.Elapsed.TotalSeconds;
                result["full"] = new Dictionary<string, object>
                {
                    ["n"] = fullN, ["seconds"] = seconds, ["iterations"] = r.Iterations, ["converged"] = r.Converged,
                    ["marginal_error"] = r.MarginalError, ["value"] = r.Value.ToDouble(), ["peak_rss_gib"] = PeakGiB(),
                };
                Console.Error.WriteLine($"full solve at N = {fullN}: {r.Iterations} iterations, converged {r.Converged} (error {r.MarginalError:G3}) in {seconds:F1} s; peak {PeakGiB():F2} GiB");
            }

        var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (jsonPath.Length > 0) DistEmbed.IO.AtomicFile.WriteAllText(jsonPath, json);
        return 0;
    }
}
