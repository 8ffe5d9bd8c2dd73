using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// Sinkhorn between large point clouds in O(T + T') memory (issue 20, item 3): <see cref="OnlineSinkhorn"/> on two
/// clouds of N points in d dimensions (uniform in the unit cube and a shifted Gaussian, float32 or float64 by --dtype), with
/// (1) agreement with the tensorised <see cref="Sinkhorn.Solve"/> at --check-n points (same options; the two timed
///     alternately, --repeats times each, medians),
/// (2) seconds per iteration and nanoseconds per cost entry at each N of --n (a comma-separated list): the solve run with
///     1 and with 1 + --iterations iterations at the target ε (no ε-scaling), the difference divided by the extra
///     iterations (so the first half-step and the final plan passes drop out); an iteration visits 2·N² entries
///     (--iterations 0: only the solve with one iteration, 5·N² entry visits),
/// (3) a full solve with ε-scaling at --full-n points (0: skipped), and
/// the process's peak resident memory (VmHWM) and the load average (/proc/loadavg) after each stage.
///   online-sinkhorn [--kernel fused|tiled] [--n 30000,100000] [--d 3] [--epsilon 0.01] [--iterations 2] [--tile 4096]
///                   [--check-n 2000] [--repeats 5] [--full-n 0] [--tolerance 1e-3] [--scaling 0.5] [--threads K] [--json FILE]
/// </summary>
public static class OnlineSinkhornScale
{
    /// <summary>The solver's options (the F# record's constructor: every field).</summary>
    static SinkhornOptions Options(double eps, int maxIterations, double tolerance, int checkEvery, double scaling, DistEmbed.Core.SinkhornNonConvergence policy) =>
        new(eps, 2, maxIterations, tolerance, checkEvery, scaling, SinkhornGradient.Envelope, 256, false, policy);

    /// <summary>VmHWM of this process in GiB (Linux), or the runtime's peak working set elsewhere.</summary>
    static double PeakGiB()
    {
        const string status = "/proc/self/status";
        if (File.Exists(status))
            foreach (var line in File.ReadLines(status))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / (1 << 20);
        return Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1L << 30);
    }

    /// <summary>The 1-minute load average, or NaN where /proc/loadavg is absent.</summary>
    static double Load() =>
        File.Exists("/proc/loadavg")
            ? double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture)
            : double.NaN;

    static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    static double Median(List<double> xs)
    {
        var s = xs.OrderBy(v => v).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) => Program.Arg(args, name, fallback);
        int Int(string name, string fallback) => int.Parse(Arg(name, fallback), CultureInfo.InvariantCulture);
        double Double(string name, string fallback) => double.Parse(Arg(name, fallback), CultureInfo.InvariantCulture);
        var kernelName = Arg("--kernel", "fused");
        var kernel = kernelName switch
        {
            "fused" => OnlineSinkhornKernel.Fused,
            "tiled" => OnlineSinkhornKernel.Tiled,
            _ => throw new ArgumentException($"--kernel: expected fused or tiled, got '{kernelName}'"),
        };
        var sizes = Arg("--n", "30000,100000").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var d = Int("--d", "3");
        var eps = Double("--epsilon", "0.01");
        var iterations = Int("--iterations", "2");
        var tile = Int("--tile", "4096");
        var checkN = Int("--check-n", "2000");
        var repeats = Int("--repeats", "5");
        var fullN = Int("--full-n", "0");
        var tolerance = Double("--tolerance", "1e-3");
        var scaling = Double("--scaling", "0.5");
        var dtypeName = Arg("--dtype", "float32");
        var dtype = dtypeName switch
        {
            "float32" => torch.ScalarType.Float32,
            "float64" => torch.ScalarType.Float64,
            _ => throw new ArgumentException($"--dtype: expected float32 or float64, got '{dtypeName}'"),
        };
        torch.set_num_threads(Int("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)));
        var threads = torch.get_num_threads();
        var jsonPath = Arg("--json", "");
        NativeRuntime.EnsureInitialized();
        var generator = new torch.Generator(7);
        (torch.Tensor X, torch.Tensor A, torch.Tensor Y, torch.Tensor B) Clouds(int count)
        {
            var x = torch.rand([count, d], generator: generator).to(dtype);
            var y = torch.randn([count, d], generator: generator).mul_(0.2).add_(0.6).to(dtype);
            return (x, torch.ones(count, dtype: dtype), y, torch.ones(count, dtype: dtype));
        }
        OnlineSinkhornResult Solve(torch.Tensor x, torch.Tensor a, torch.Tensor y, torch.Tensor b, SinkhornOptions o) =>
            OnlineSinkhorn.SolveWith(kernel, threads, x, a, y, b, o, tile);
        var result = new Dictionary<string, object>
        {
            ["kernel"] = kernelName, ["dtype"] = dtypeName, ["d"] = d, ["epsilon"] = eps, ["tile"] = tile, ["threads"] = threads,
            ["vector_width_float32"] = System.Numerics.Vector<float>.Count, ["load_at_start"] = Load(),
        };
        // Warm-up (JIT of the kernel and the solver) so that the first timed solve does not carry it.
        using (var warm = torch.NewDisposeScope())
        {
            var (wx, wa, wy, wb) = Clouds(2000);
            for (var r = 0; r < 3; r++)
                using (Solve(wx, wa, wy, wb, Options(eps, 3, 1e-300, 4, 0.0, DistEmbed.Core.SinkhornNonConvergence.Ignore))) { }
        }
        Console.Error.WriteLine($"online-sinkhorn: kernel {kernelName}, {threads} threads, float32 vector width {System.Numerics.Vector<float>.Count}, load {Load():F1}");

        // (1) Agreement with the tensorised solver where both fit; alternating timings, medians.
        if (checkN > 0)
            using (var scope = torch.NewDisposeScope())
            {
                var (x, a, y, b) = Clouds(checkN);
                var o = Options(eps, 10000, 1e-5, 10, scaling, DistEmbed.Core.SinkhornNonConvergence.Warn);
                using var ba = DistributionBatch.FromTensors(x.unsqueeze(0), a.unsqueeze(0));
                using var bb = DistributionBatch.FromTensors(y.unsqueeze(0), b.unsqueeze(0));
                var onlineTimes = new List<double>();
                var tensorisedTimes = new List<double>();
                double vo = 0, vt = 0;
                int io = 0, it = 0;
                for (var r = 0; r < repeats; r++)
                {
                    var w1 = Stopwatch.StartNew();
                    using (var online = Solve(x, a, y, b, o)) { vo = online.Value.ToDouble(); io = online.Iterations; }
                    onlineTimes.Add(w1.Elapsed.TotalSeconds);
                    var w2 = Stopwatch.StartNew();
                    using (var tensorised = Sinkhorn.Solve(ba, bb, o)) { vt = tensorised.EntropicCost.ToDouble(); it = tensorised.Iterations; }
                    tensorisedTimes.Add(w2.Elapsed.TotalSeconds);
                }
                result["check"] = new Dictionary<string, object>
                {
                    ["n"] = checkN, ["online"] = vo, ["tensorised"] = vt, ["relative_difference"] = Math.Abs(vo - vt) / Math.Abs(vt),
                    ["online_seconds_median"] = Median(onlineTimes), ["tensorised_seconds_median"] = Median(tensorisedTimes),
                    ["online_seconds"] = onlineTimes, ["tensorised_seconds"] = tensorisedTimes,
                    ["online_iterations"] = io, ["tensorised_iterations"] = it, ["repeats"] = repeats, ["load"] = Load(),
                };
                Console.Error.WriteLine($"check at N = {checkN}: online {vo:G9} vs tensorised {vt:G9} (relative {Math.Abs(vo - vt) / Math.Abs(vt):G3}); median {Median(onlineTimes):F3} s vs {Median(tensorisedTimes):F3} s ({io} / {it} iterations); load {Load():F1}");
            }

        // (2) Seconds per iteration and ns per entry at each N: (t(1 + K) − t(1)) / K at the target ε.
        var perSize = new List<object>();
        foreach (var n in sizes)
            using (var scope = torch.NewDisposeScope())
            {
                var (x, a, y, b) = Clouds(n);
                (double Wall, double Cpu, double Value) Timed(int its)
                {
                    var o = Options(eps, its, 1e-300, its + 1, 0.0, DistEmbed.Core.SinkhornNonConvergence.Ignore);
                    var cpu0 = CpuSeconds();
                    var w = Stopwatch.StartNew();
                    using var r = Solve(x, a, y, b, o);
                    return (w.Elapsed.TotalSeconds, CpuSeconds() - cpu0, r.Value.ToDouble());
                }
                var loadBefore = Load();
                var one = Timed(1);
                var entries = 2.0 * n * (double)n;
                Dictionary<string, object> row;
                if (iterations > 0)
                {
                    var more = Timed(1 + iterations);
                    var perIteration = (more.Wall - one.Wall) / iterations;
                    var cpuPerIteration = (more.Cpu - one.Cpu) / iterations;
                    row = new Dictionary<string, object>
                    {
                        ["n"] = n, ["seconds_1_iteration"] = one.Wall, ["seconds_more_iterations"] = more.Wall, ["extra_iterations"] = iterations,
                        ["seconds_per_iteration"] = perIteration, ["ns_per_entry"] = perIteration / entries * 1e9,
                        ["cpu_seconds_per_iteration"] = cpuPerIteration, ["cpu_ns_per_entry"] = cpuPerIteration / entries * 1e9,
                        ["value"] = more.Value, ["peak_rss_gib"] = PeakGiB(), ["load_before"] = loadBefore, ["load_after"] = Load(),
                    };
                    Console.Error.WriteLine($"N = {n}: {perIteration:F2} s per iteration ({perIteration / entries * 1e9:F3} ns per entry wall, {cpuPerIteration / entries * 1e9:F3} CPU-ns per entry); 1 iteration {one.Wall:F1} s, {1 + iterations} iterations {more.Wall:F1} s; peak RSS {PeakGiB():F3} GiB; load {loadBefore:F1} → {Load():F1}");
                }
                else
                {
                    // --iterations 0: only the solve with one iteration (3 half-steps and the 2 plan passes: 5·N² entry visits).
                    var visits = 5.0 * n * (double)n;
                    row = new Dictionary<string, object>
                    {
                        ["n"] = n, ["seconds_1_iteration"] = one.Wall, ["cpu_seconds_1_iteration"] = one.Cpu,
                        ["ns_per_entry_visit"] = one.Wall / visits * 1e9, ["cpu_ns_per_entry_visit"] = one.Cpu / visits * 1e9,
                        ["value"] = one.Value, ["peak_rss_gib"] = PeakGiB(), ["load_before"] = loadBefore, ["load_after"] = Load(),
                    };
                    Console.Error.WriteLine($"N = {n}: solve with 1 iteration (3 half-steps + 2 plan passes) {one.Wall:F1} s, {one.Cpu:F1} CPU-s ({one.Wall / visits * 1e9:F3} ns, {one.Cpu / visits * 1e9:F3} CPU-ns per entry visit); peak RSS {PeakGiB():F3} GiB; load {loadBefore:F1} → {Load():F1}");
                }
                perSize.Add(row);
            }
        result["large"] = perSize;

        // (3) A full solve with ε-scaling at fullN points.
        if (fullN > 0)
            using (var scope = torch.NewDisposeScope())
            {
                var (x, a, y, b) = Clouds(fullN);
                var o = Options(eps, 10000, tolerance, 10, scaling, DistEmbed.Core.SinkhornNonConvergence.Warn);
                var loadBefore = Load();
                var cpu0 = CpuSeconds();
                var w = Stopwatch.StartNew();
                using var r = Solve(x, a, y, b, o);
                var seconds = w.Elapsed.TotalSeconds;
                result["full"] = new Dictionary<string, object>
                {
                    ["n"] = fullN, ["seconds"] = seconds, ["cpu_seconds"] = CpuSeconds() - cpu0, ["iterations"] = r.Iterations,
                    ["converged"] = r.Converged, ["tolerance"] = tolerance, ["scaling"] = scaling,
                    ["marginal_error"] = r.MarginalError, ["value"] = r.Value.ToDouble(), ["peak_rss_gib"] = PeakGiB(),
                    ["load_before"] = loadBefore, ["load_after"] = Load(),
                };
                Console.Error.WriteLine($"full solve at N = {fullN}: {r.Iterations} iterations, converged {r.Converged} (error {r.MarginalError:G3}, tolerance {tolerance:G3}) in {seconds:F1} s; value {r.Value.ToDouble():G9}; peak RSS {PeakGiB():F3} GiB; load {loadBefore:F1} → {Load():F1}");
            }

        result["peak_rss_gib"] = PeakGiB();
        var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (jsonPath.Length > 0) DistEmbed.IO.AtomicFile.WriteAllText(jsonPath, json);
        return 0;
    }
}
