using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Benchmarks;

/// <summary>
/// "How far from the limit": the machine's rates measured at the current thread count (streaming triad bandwidth in
/// .NET, libtorch's GEMM and exp2 throughput) and, from them, a simple lower bound of each workload's time —
/// the work it cannot avoid divided by the rate of the fastest kernel that does that work here.
///   floors [--threads 1,2] [--scale S] [--tries N] [--omp-wait passive|active|default] [--markdown FILE]   prints the rates (the best of N measurements) and
///   the floors of W1, W2, W3, W4, N1.
/// </summary>
public sealed class Floors
{
    /// <summary>Streaming triad a = b + s·c over three float arrays (bytes read and written) per second.</summary>
    public double BandwidthBytesPerSecond { get; private init; }

    /// <summary>float32 matrix product (torch.mm, 1024³) in flop/s.</summary>
    public double GemmFlopsPerSecond { get; private init; }

    /// <summary>In-place torch.exp2 on 2²² floats in [-8, 0), elements per second (the kernel of the log-domain Sinkhorn).</summary>
    public double Exp2ElementsPerSecond { get; private init; }

    /// <summary>The thread count the rates were measured at (torch.get_num_threads()).</summary>
    public int Threads { get; private init; }

    /// <summary>Measures every rate at the current torch thread count (best of 5 each: a floor is optimistic).</summary>
    public static Floors Measure()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var threads = torch.get_num_threads();
        var bandwidth = Triad(threads);
        var a = torch.randn(1024, 1024);
        var b = torch.randn(1024, 1024);
        var gemm = 2.0 * 1024 * 1024 * 1024 / Best(() => torch.mm(a, b).Dispose());
        // exp2_ in place on values in [-8, 0) (as the Sinkhorn kernel's shifted exponents), refreshed before each
        // timed run outside the stopwatch.
        var source = torch.rand(1 << 22).mul_(-8.0);
        var e = source.clone();
        var exp2Seconds = double.PositiveInfinity;
        for (var i = 0; i < 6; i++)
        {
            e.copy_(source);
            var sw = Stopwatch.StartNew();
            e.exp2_();
            if (i > 0) exp2Seconds = Math.Min(exp2Seconds, sw.Elapsed.TotalSeconds);
        }
        var exp2 = e.NumberOfElements / exp2Seconds;
        return new Floors { BandwidthBytesPerSecond = bandwidth, GemmFlopsPerSecond = gemm, Exp2ElementsPerSecond = exp2, Threads = threads };
    }

    /// <summary>The faster of two measurements, rate by rate (rates measured on a loaded machine vary from one
    /// measurement to the next; the best one seen is the floor).</summary>
    public static Floors Faster(Floors? a, Floors b) => a is null ? b : new Floors
    {
        BandwidthBytesPerSecond = Math.Max(a.BandwidthBytesPerSecond, b.BandwidthBytesPerSecond),
        GemmFlopsPerSecond = Math.Max(a.GemmFlopsPerSecond, b.GemmFlopsPerSecond),
        Exp2ElementsPerSecond = Math.Max(a.Exp2ElementsPerSecond, b.Exp2ElementsPerSecond),
        Threads = b.Threads,
    };

    /// <summary>Seconds of the best of five runs (after one warm-up).</summary>
    private static double Best(Action run)
    {
        run();
        var best = double.PositiveInfinity;
        for (var i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>STREAM's triad (a[i] = b[i] + s·c[i]) over 3 × 2²⁴ floats (192 MiB, far beyond any cache), split over
    /// <paramref name="threads"/> threads, SIMD; bytes per second counting 12 bytes per element (two reads, one write).</summary>
    private static double Triad(int threads)
    {
        const int n = 1 << 24;
        var a = new float[n];
        var b = new float[n];
        var c = new float[n];
        Array.Fill(b, 1f);
        Array.Fill(c, 2f);
        var chunk = (n + threads - 1) / threads;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        void Run() => Parallel.For(0, threads, options, t =>
        {
            var lo = t * chunk;
            var hi = Math.Min(n, lo + chunk);
            var va = MemoryMarshal.Cast<float, Vector<float>>(a.AsSpan(lo, hi - lo));
            var vb = MemoryMarshal.Cast<float, Vector<float>>(b.AsSpan(lo, hi - lo));
            var vc = MemoryMarshal.Cast<float, Vector<float>>(c.AsSpan(lo, hi - lo));
            var s = new Vector<float>(0.5f);
            for (var i = 0; i < va.Length; i++) va[i] = vb[i] + s * vc[i];
            for (var i = lo + va.Length * Vector<float>.Count; i < hi; i++) a[i] = b[i] + 0.5f * c[i];
        });
        return 12.0 * n / Best(Run);
    }

    /// <summary>The floor of workload <paramref name="id"/> at <paramref name="scale"/> (sizes as in
    /// <see cref="Workloads.Build"/>): milliseconds and what it counts; null for workloads without a simple floor.</summary>
    public (double Ms, string Model)? For(string id, double scale)
    {
        int Scaled(int n, int min = 1) => Math.Max(min, (int)(n * scale));
        string G(double x) => x.ToString("G3", CultureInfo.InvariantCulture);
        switch (id)
        {
            case "W1":
            {
                double b = Scaled(512), t = 128, d = 64;
                // The sort reads and writes every float once at least (8 bytes per element at the triad bandwidth);
                // the library's sorting network (ColumnSort) runs in cache on blocks of T rows.
                var sorted = 2 * b * t * d;
                var flops = 2 * b * b * t * d;
                return (1e3 * (8 * sorted / BandwidthBytesPerSecond + flops / GemmFlopsPerSecond),
                    $"sort {G(sorted)} elements, each read and written once ({G(8 * sorted)} bytes) + {G(flops)} GEMM flop (the B × B Gram of sorted rows)");
            }
            case "W2":
            {
                double b = Scaled(512), t = 128, d = 64, l = 256;
                var project = 2 * (2 * b * t) * d * l;
                var sorted = 2 * b * t * l;
                var gram = 2 * b * b * t * l;
                return (1e3 * (8 * sorted / BandwidthBytesPerSecond + (project + gram) / GemmFlopsPerSecond),
                    $"{G(project)} flop projection + sort {G(sorted)} elements, each read and written once ({G(8 * sorted)} bytes) + {G(gram)} flop Gram");
            }
            case "W3":
            {
                double b = Scaled(256), t = 256, iterations = 100, d = 64;
                var exps = 2 * iterations * b * t * t;
                var cost = 2 * b * t * t * d;
                return (1e3 * (exps / Exp2ElementsPerSecond + cost / GemmFlopsPerSecond),
                    $"{G(exps)} exp2 (one per kernel entry and half-step) + {G(cost)} flop ground costs");
            }
            case "W4":
            {
                // 64 float64 cost matrices of 128 × 128 computed and read once: a weak bound (the network simplex's
                // pivots have no simple floor); the useful reference is POT's C++ network simplex.
                double pairs = 64, t = 128, d = 16;
                var bytes = pairs * t * t * 8 * 2;
                var flops = 2 * pairs * t * t * d;
                return (1e3 * (bytes / BandwidthBytesPerSecond + flops / (GemmFlopsPerSecond / 2)),
                    $"ground costs only: {G(flops)} float64 flop + {G(bytes)} bytes (pivots not counted)");
            }
            case "N1":
            {
                // A k-NN graph needs each unordered pair once: the Gram's upper triangle with its diagonal,
                // N (N + 1) / 2 inner products of d terms per space (a full N × N Gram, as faiss computes, is twice that).
                double n = Scaled(10_000, 20), d = 256;
                var flops = 2 * 2 * d * n * (n + 1) / 2;
                return (1e3 * flops / GemmFlopsPerSecond, $"{G(flops)} GEMM flop (both spaces' Gram, upper triangle only: N (N + 1) / 2 pairs each; top-k not counted)");
            }
            default:
                return null;
        }
    }

    /// <summary>The rates as one markdown line.</summary>
    public string Describe() => string.Format(CultureInfo.InvariantCulture,
        "Floors measured by the harness at {0} thread(s): streaming triad {1:F1} GB/s (.NET, 3 × 64 MiB), libtorch float32 GEMM {2:F1} GFLOP/s (1024³), torch.exp2 {3:F0} M elements/s.",
        Threads, BandwidthBytesPerSecond / 1e9, GemmFlopsPerSecond / 1e9, Exp2ElementsPerSecond / 1e6);

    /// <summary><c>floors [--threads 1,2] [--scale S] [--tries N] [--markdown FILE]</c>: the rates and per-workload floors.</summary>
    public static int Run(string[] args)
    {
        // The wait policy compare uses (before libtorch loads): idle OpenMP threads sleep instead of spinning.
        var waitPolicy = Program.Arg(args, "--omp-wait", "passive").ToUpperInvariant();
        if (waitPolicy is not ("PASSIVE" or "ACTIVE" or "DEFAULT"))
            throw new ArgumentException($"--omp-wait: '{waitPolicy}' is not passive, active or default.");
        if (waitPolicy != "DEFAULT") Program.SetNativeEnvironment("OMP_WAIT_POLICY", waitPolicy);
        var scale = double.Parse(Program.Arg(args, "--scale", "1"), CultureInfo.InvariantCulture);
        var md = new StringBuilder();
        foreach (var threads in Program.ParseThreads(Program.Arg(args, "--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), "--threads"))
        {
            torch.set_num_threads(threads);
            Floors? floors = null;
            var tries = int.Parse(Program.Arg(args, "--tries", "3"), CultureInfo.InvariantCulture);
            for (var i = 0; i < Math.Max(1, tries); i++) floors = Faster(floors, Measure());
            md.AppendLine(floors!.Describe());
            md.AppendLine();
            md.AppendLine("| id | floor (ms) | what the floor counts |");
            md.AppendLine("| --- | ---: | --- |");
            foreach (var id in new[] { "W1", "W2", "W3", "W4", "N1" })
                if (floors!.For(id, scale) is { } f)
                    md.AppendLine($"| {id} | {f.Ms.ToString("F2", CultureInfo.InvariantCulture)} | {f.Model} |");
            md.AppendLine();
        }
        Console.WriteLine(md.ToString());
        var mdPath = Program.Arg(args, "--markdown", "");
        if (mdPath != "") Program.AtomicWrite(mdPath, md.ToString());
        return 0;
    }
}
