using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Core.Similarity;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// Exact k-NN against faiss (<c>IndexFlatL2</c>, bench/peers/faiss_peer.py in its <c>--commands</c> mode), alternating one
/// run of ours and one run of faiss on the very same float32 inputs (written as .npy), at each thread count:
///   K1  k-NN graph of N = 10,000 items, d = 256, k = 10, self excluded (ours: <c>NearestNeighbours.Exact</c>);
///   K2  N = 100,000 gallery items, the first 10,000 as queries, self excluded (ours: <c>NearestNeighbours.Search</c>
///       with k + 1, then the query itself dropped, exactly as the faiss script does);
///   N1  NNGS between two spaces, N = 10,000, d = 256, k = 10 (ours: <c>Neighbourhoods.Nngs</c>).
/// Before timing, both sides' neighbours (K1, K2) or NNGS values (N1) are compared. Also reports the sgemm GFLOP/s of
/// both sides (TorchSharp's libtorch BLAS and NumPy's, which is the BLAS faiss uses) and the load average.
///   knn [--threads 1,2] [--repeats 5] [--workloads K1,K2,N1] [--scale S] [--block B] [--python PATH] [--json FILE]
///   knn --profile [--n N] [--blocks 0,512,...]   times the matrix products alone and our whole k-NN per block size
///   knn --gemm-shapes                          libtorch sgemm GFLOP/s (wall and per CPU second) for several block shapes
///   knn --gemm-compare [--rounds 7]            one thread, alternating rounds: the managed GEMM (AVX-512 and AVX2 kernels),
///                                              libtorch's mm (MKL) and NumPy's BLAS (OpenBLAS, the one faiss links) at
///                                              the k-NN's block shapes; medians of GFLOP/s per CPU second and of wall time
/// Our k-NN multiplies float32 blocks with the path DISTEMBED_GEMM selects (managed by default; torch for libtorch's mm).
/// </summary>
public static class KnnVsFaiss
{
    public static int Run(string[] args)
    {
        var threadCounts = Program.Arg(args, "--threads", "1,2").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var repeats = int.Parse(Program.Arg(args, "--repeats", "5"), CultureInfo.InvariantCulture);
        var scale = double.Parse(Program.Arg(args, "--scale", "1"), CultureInfo.InvariantCulture);
        var block = int.Parse(Program.Arg(args, "--block", "0"), CultureInfo.InvariantCulture);
        var workloads = Program.Arg(args, "--workloads", "K1,K2,N1").Split(',');
        var python = Program.Arg(args, "--python", Environment.GetEnvironmentVariable("PEER_PYTHON") ?? "/usr/bin/python3");
        var script = Path.Combine(Program.Arg(args, "--peers", Path.Combine(Program.FindRepoRoot(), "bench", "peers")), "faiss_peer.py");
        NativeRuntime.EnsureInitialized();
        if (args.Contains("--profile")) return Profile(args);
        if (args.Contains("--gemm-compare")) return GemmCompare(args, python, script);
        if (args.Contains("--gemm-shapes"))
        {
            torch.set_num_threads(1);
            foreach (var (m, n) in new[] { (1024, 4096), (512, 512), (2048, 2048), (256, 256), (512, 1024), (1024, 4096), (512, 512), (512, 2048), (256, 512) })
            {
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var reps = (int)Math.Max(5, 4e10 / (2.0 * m * n * 256));
                var wall = OurGemmGflops(m, n, 256, reps);
                var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                Console.WriteLine($"sgemm {m}x{n}x256 (B transposed), one thread: {wall:F1} GFLOP/s wall, {2.0 * m * n * 256 * (reps + 1) / cpu / 1e9:F1} GFLOP/s of process CPU time (load {LoadAverage()})");
            }
            return 0;
        }

        var dir = Directory.CreateTempSubdirectory("distembed-knn-").FullName;
        int Scaled(int n) => Math.Max(20, (int)(n * scale));
        var n1 = Scaled(10_000);
        var n2 = Scaled(100_000);
        var q2 = Scaled(10_000);
        torch.manual_seed(0);
        using var x1 = torch.randn(n1, 256);
        using var y1 = torch.randn(n1, 256);
        using var x2 = workloads.Contains("K2") ? torch.randn(n2, 256) : torch.randn(1, 256);
        Save(x1, Path.Combine(dir, "x1.npy"));
        Save(y1, Path.Combine(dir, "y1.npy"));
        if (workloads.Contains("K2")) Save(x2, Path.Combine(dir, "x2.npy"));
        var distance = Distances.Create("euclidean", null);

        var report = new StringBuilder();
        var json = new JsonObject { ["repeats"] = repeats, ["scale"] = scale, ["block"] = block };
        var runs = new JsonArray();
        try
        {
            foreach (var threads in threadCounts)
            {
                torch.set_num_threads(threads);
                using var peer = new ServedPeer(python, script, threads);
                var info = peer.Ask(new JsonObject { ["op"] = "info" });
                peer.Ask(new JsonObject { ["op"] = "load", ["name"] = "x1", ["path"] = Path.Combine(dir, "x1.npy") });
                peer.Ask(new JsonObject { ["op"] = "load", ["name"] = "y1", ["path"] = Path.Combine(dir, "y1.npy") });
                if (workloads.Contains("K2"))
                    peer.Ask(new JsonObject { ["op"] = "load", ["name"] = "x2", ["path"] = Path.Combine(dir, "x2.npy") });
                var gemmCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                var ourGemm = OurGemmGflops(1024, 4096, 256, 20);
                var ourGemmCpu = 2.0 * 1024 * 4096 * 256 * 21 / (Process.GetCurrentProcess().TotalProcessorTime - gemmCpu0).TotalSeconds / 1e9;
                var gemmPath = ManagedGemm.current();
                (double Wall, double Cpu)? managed = gemmPath.IsTorch ? null : ManagedGemmGflops(gemmPath, 1024, 4096, 256, 20);
                var peerGemmReply = peer.Ask(new JsonObject { ["op"] = "gemm", ["m"] = 1024, ["n"] = 4096, ["d"] = 256, ["repeats"] = 20 })!;
                var peerGemm = peerGemmReply["gflops"]!.GetValue<double>();
                var peerGemmCpu = peerGemmReply["cpu_gflops"]!.GetValue<double>();
                var loadBefore = LoadAverage();
                report.AppendLine($"threads {threads}: TorchSharp {torch.get_num_threads()} threads; faiss {info!["version"]} ({info["threads"]} threads), BLAS {string.Join("; ", info["blas"]!.AsArray().Select(b => b!.ToString()))}");
                report.AppendLine($"  k-NN GEMM: {gemmPath} (DISTEMBED_GEMM); sgemm 1024×4096×256: {(managed is { } g ? $"managed {gemmPath} (one thread) {g.Wall:F1} GFLOP/s wall, {g.Cpu:F1} per CPU second; " : "")}libtorch's MKL ({threads} threads) {ourGemm:F1} GFLOP/s wall, {ourGemmCpu:F1} per CPU second; NumPy (faiss's BLAS, {threads} threads) {peerGemm:F1} GFLOP/s wall, {peerGemmCpu:F1} per CPU second; load average {loadBefore}");
                var rows = new JsonObject();
                foreach (var id in workloads)
                {
                    Func<object> ours;
                    JsonObject command;
                    string check;
                    switch (id)
                    {
                        case "K1":
                        {
                            var b = VectorBatch.FromTensor(x1);
                            ours = () => NearestNeighbours.Exact(b, distance, 10, block).Indices;
                            command = new JsonObject { ["op"] = "knn", ["x"] = "x1", ["queries"] = n1, ["k"] = 10 };
                            check = CheckIndices((int[,])ours(), peer, command, dir);
                            break;
                        }
                        case "K2":
                        {
                            var gallery = VectorBatch.FromTensor(x2);
                            var queries = VectorBatch.FromTensor(x2.narrow(0, 0, q2));
                            ours = () => DropSelf(NearestNeighbours.Search(queries, gallery, distance, 11, block).Indices, 10);
                            command = new JsonObject { ["op"] = "knn", ["x"] = "x2", ["queries"] = q2, ["k"] = 10 };
                            check = CheckIndices((int[,])ours(), peer, command, dir);
                            break;
                        }
                        case "N1":
                        {
                            var bx = VectorBatch.FromTensor(x1);
                            var by = VectorBatch.FromTensor(y1);
                            ours = () => Neighbourhoods.Nngs(bx, by, distance, [10], block)[0];
                            command = new JsonObject { ["op"] = "nngs", ["x"] = "x1", ["y"] = "y1", ["k"] = 10 };
                            var mine = (double)ours();
                            var theirs = peer.Ask(command)!["nngs"]!.GetValue<double>();
                            check = $"NNGS ours {mine:F6}, faiss {theirs:F6}" + (Math.Abs(mine - theirs) < 1e-12 ? " (equal)" : " (DIFFERENT)");
                            break;
                        }
                        default:
                            throw new ArgumentException($"unknown workload '{id}'; valid: K1, K2, N1", nameof(args));
                    }
                    var oursMs = new List<double>();
                    var peerMs = new List<double>();
                    var oursCpu = new List<double>();
                    var peerCpu = new List<double>();
                    for (var r = 0; r < repeats; r++)
                    {
                        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                        var sw = Stopwatch.StartNew();
                        ours();
                        oursMs.Add(sw.Elapsed.TotalMilliseconds);
                        oursCpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds);
                        var reply = peer.Ask(command.DeepClone().AsObject())!;
                        peerMs.Add(reply["ms"]!.GetValue<double>());
                        peerCpu.Add(reply["cpu_ms"]!.GetValue<double>());
                    }
                    var o = Median(oursMs);
                    var p = Median(peerMs);
                    var oc = Median(oursCpu);
                    var pc = Median(peerCpu);
                    var load = LoadAverage();
                    report.AppendLine($"  {id}: wall ours {o:F0} ms, faiss {p:F0} ms, ratio (faiss/ours) {p / o:F2}×; CPU time ours {oc:F0} ms, faiss {pc:F0} ms, ratio {pc / oc:F2}×; {check}; load {load}");
                    rows[id] = new JsonObject
                    {
                        ["ours_ms"] = o, ["faiss_ms"] = p, ["ratio"] = p / o, ["ours_cpu_ms"] = oc, ["faiss_cpu_ms"] = pc, ["cpu_ratio"] = pc / oc,
                        ["check"] = check, ["load"] = load,
                        ["ours_all_ms"] = new JsonArray(oursMs.Select(v => (JsonNode)v).ToArray()),
                        ["faiss_all_ms"] = new JsonArray(peerMs.Select(v => (JsonNode)v).ToArray()),
                    };
                    Console.Error.WriteLine(report.ToString().TrimEnd().Split('\n').Last());
                }
                runs.Add(new JsonObject
                {
                    ["threads"] = threads, ["faiss"] = info.DeepClone(), ["gemm_path"] = gemmPath.ToString(), ["managed_gemm_gflops"] = managed?.Wall, ["managed_gemm_cpu_gflops"] = managed?.Cpu, ["ours_gemm_gflops"] = ourGemm, ["faiss_blas_gemm_gflops"] = peerGemm, ["ours_gemm_cpu_gflops"] = ourGemmCpu, ["faiss_blas_gemm_cpu_gflops"] = peerGemmCpu,
                    ["load_before"] = loadBefore, ["results"] = rows,
                });
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        json["runs"] = runs;
        Console.WriteLine(report.ToString());
        var jsonPath = Program.Arg(args, "--json", "");
        if (jsonPath != "") Program.AtomicWrite(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>Times the parts of our K1 path: the matrix products alone (blocks on and above the diagonal) and the whole search.</summary>
    private static int Profile(string[] args)
    {
        var n = long.Parse(Program.Arg(args, "--n", "10000"), CultureInfo.InvariantCulture);
        var rows = long.Parse(Program.Arg(args, "--rows", "1024"), CultureInfo.InvariantCulture);
        var cols = long.Parse(Program.Arg(args, "--cols", "4096"), CultureInfo.InvariantCulture);
        torch.manual_seed(0);
        using var x = torch.randn(n, 256);
        using var buf = torch.empty(rows * cols);
        void Time(string name, Action f)
        {
            f();
            var sw = Stopwatch.StartNew();
            f();
            Console.WriteLine($"{name}: {sw.Elapsed.TotalMilliseconds:F0} ms (load {LoadAverage()})");
        }
        foreach (var t in new[] { 1, 2 })
        {
            torch.set_num_threads(t);
            Time($"t={t} gemm blocks on/above the diagonal {rows}x{cols}", () =>
            {
                for (var r0 = 0L; r0 < n; r0 += rows)
                {
                    var rn = Math.Min(rows, n - r0);
                    for (var c0 = r0; c0 < n; c0 += cols)
                    {
                        using var scope = torch.NewDisposeScope();
                        var cn = Math.Min(cols, n - c0);
                        buf.narrow(0, 0, rn * cn).view(rn, cn).addmm_(x.narrow(0, r0, rn), x.narrow(0, c0, cn).t(), beta: 0, alpha: 1);
                    }
                }
            });
            var b = VectorBatch.FromTensor(x);
            var e = Distances.Create("euclidean", null);
            foreach (var block in Program.Arg(args, "--blocks", "0").Split(',').Select(v => int.Parse(v, CultureInfo.InvariantCulture)))
            {
                Time($"t={t} exact k-NN graph, block {block}", () => NearestNeighbours.Exact(b, e, 10, block));
                Time($"t={t} search (not symmetric), block {block}", () => NearestNeighbours.Search(b, b, e, 10, block));
            }
        }
        return 0;
    }

    private static string CheckIndices(int[,] ours, ServedPeer peer, JsonObject command, string dir)
    {
        var path = Path.Combine(dir, "faiss-indices.npy");
        var c = command.DeepClone().AsObject();
        c["out"] = path;
        peer.Ask(c);
        var theirs = Npy.Read(path);
        var data = theirs.ToDoubleArray();
        var rows = ours.GetLength(0);
        var k = ours.GetLength(1);
        var different = 0;
        var differentSets = 0;
        for (var i = 0; i < rows; i++)
        {
            var same = true;
            for (var j = 0; j < k; j++) same &= ours[i, j] == (int)data[i * k + j];
            if (!same) different++;
            var a = Enumerable.Range(0, k).Select(j => ours[i, j]).ToHashSet();
            if (!a.SetEquals(Enumerable.Range(0, k).Select(j => (int)data[i * k + j]))) differentSets++;
        }
        return different == 0
            ? $"neighbours identical ({rows}×{k}, same order)"
            : $"{different} of {rows} rows differ in order, {differentSets} in their sets";
    }

    private static int[,] DropSelf(int[,] found, int k)
    {
        var rows = found.GetLength(0);
        var result = new int[rows, k];
        for (var i = 0; i < rows; i++)
        {
            var c = 0;
            for (var j = 0; j < found.GetLength(1) && c < k; j++)
                if (found[i, j] != i) result[i, c++] = found[i, j];
        }
        return result;
    }

    private static void Save(torch.Tensor t, string path)
    {
        var data = t.contiguous().data<float>().ToArray();
        Npy.Write(path, data, t.shape);
    }

    private static double OurGemmGflops(int m, int n, int d, int repeats)
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.randn(m, d);
        var b = torch.randn(n, d);
        var c = torch.empty(m, n);
        c.addmm_(a, b.t(), beta: 0, alpha: 1);
        var times = new List<double>();
        for (var r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            c.addmm_(a, b.t(), beta: 0, alpha: 1);
            times.Add(sw.Elapsed.TotalSeconds);
        }
        return 2.0 * m * n * d / Median(times) / 1e9;
    }

    /// <summary>The managed GEMM's rate on C = A·Bᵀ (A [m, d], B [n, d], normal entries), one thread: GFLOP/s of the median
    /// wall time per product and of the process CPU time over all repeats.</summary>
    private static unsafe (double Wall, double Cpu) ManagedGemmGflops(ManagedGemm.Path path, int m, int n, int d, int repeats)
    {
        var rng = new Random(1);
        float Normal() => (float)(Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble()));
        var a = Enumerable.Range(0, m * d).Select(_ => Normal()).ToArray();
        var b = Enumerable.Range(0, n * d).Select(_ => Normal()).ToArray();
        var c = new float[m * n];
        using var ws = new ManagedGemm.Workspace(ManagedGemm.defaultBlocking);
        var times = new List<double>();
        fixed (float* pa = a, pb = b, pc = c)
        {
            ManagedGemm.multiplyTransposed(path, ws, m, n, d, pa, d, pb, d, pc, n);
            var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            for (var r = 0; r < repeats; r++)
            {
                var sw = Stopwatch.StartNew();
                ManagedGemm.multiplyTransposed(path, ws, m, n, d, pa, d, pb, d, pc, n);
                times.Add(sw.Elapsed.TotalSeconds);
            }
            var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
            var flops = 2.0 * m * n * d;
            return (flops / Median(times) / 1e9, flops * repeats / cpu / 1e9);
        }
    }

    /// <summary>libtorch's mm (c.addmm_ with β = 0, B transposed) on the current torch thread count: GFLOP/s of the
    /// median wall time and of the process CPU time over all repeats.</summary>
    private static (double Wall, double Cpu) TorchGemmGflops(int m, int n, int d, int repeats)
    {
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = OurGemmGflops(m, n, d, repeats);
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        return (wall, 2.0 * m * n * d * (repeats + 1) / cpu / 1e9);
    }

    /// <summary>One thread, alternating rounds: the managed kernels, libtorch's mm and NumPy's BLAS at the k-NN's block
    /// shapes (512 × 512 × 256: the automatic CPU block; 1024 × 4096 × 256: the earlier comparison shape).</summary>
    private static int GemmCompare(string[] args, string python, string script)
    {
        var rounds = int.Parse(Program.Arg(args, "--rounds", "7"), CultureInfo.InvariantCulture);
        torch.set_num_threads(1);
        using var peer = new ServedPeer(python, script, 1);
        var info = peer.Ask(new JsonObject { ["op"] = "info" })!;
        Console.WriteLine($"one thread; NumPy BLAS {string.Join("; ", info["blas"]!.AsArray().Select(b => b!.ToString()))}; load {LoadAverage()}");
        var paths = new List<ManagedGemm.Path>();
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported) paths.Add(ManagedGemm.Path.Avx512);
        if (ManagedGemm.avx2Supported) paths.Add(ManagedGemm.Path.Avx2);
        foreach (var (m, n, d) in new[] { (512, 512, 256), (1024, 4096, 256) })
        {
            var reps = (int)Math.Max(5, 4e9 / (2.0 * m * n * d));
            var names = paths.Select(p => $"managed {p}").Concat(new[] { "libtorch mm (MKL)", "NumPy (OpenBLAS)" }).ToArray();
            var wall = names.ToDictionary(x => x, _ => new List<double>());
            var cpu = names.ToDictionary(x => x, _ => new List<double>());
            for (var r = 0; r < rounds; r++)
            {
                foreach (var p in paths)
                {
                    var (w, c) = ManagedGemmGflops(p, m, n, d, reps);
                    wall[$"managed {p}"].Add(w);
                    cpu[$"managed {p}"].Add(c);
                }
                var (tw, tc) = TorchGemmGflops(m, n, d, reps);
                wall["libtorch mm (MKL)"].Add(tw);
                cpu["libtorch mm (MKL)"].Add(tc);
                var reply = peer.Ask(new JsonObject { ["op"] = "gemm", ["m"] = m, ["n"] = n, ["d"] = d, ["repeats"] = reps })!;
                wall["NumPy (OpenBLAS)"].Add(reply["gflops"]!.GetValue<double>());
                cpu["NumPy (OpenBLAS)"].Add(reply["cpu_gflops"]!.GetValue<double>());
            }
            foreach (var x in names)
                Console.WriteLine($"sgemm {m}×{n}×{d} (B transposed), {x}: {Median(cpu[x]):F1} GFLOP/s per CPU second, {Median(wall[x]):F1} wall (medians of {rounds} rounds of {reps})");
            Console.WriteLine($"  load {LoadAverage()}");
        }
        return 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var s = values.OrderBy(v => v).ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    internal static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
    }

    /// <summary>A peer script in its --serve mode: one JSON command per line in, one JSON line out.</summary>
    private sealed class ServedPeer : IDisposable
    {
        private readonly Process process;

        public ServedPeer(string python, string script, int threads)
        {
            var psi = new ProcessStartInfo(python, $"{script} --commands --threads {threads}")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false,
            };
            process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {python} {script}");
        }

        public JsonNode? Ask(JsonObject command)
        {
            process.StandardInput.WriteLine(command.ToJsonString());
            process.StandardInput.Flush();
            var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the faiss peer exited");
            var reply = JsonNode.Parse(line);
            if (reply?["error"] is { } e) throw new InvalidOperationException($"faiss peer: {e}");
            return reply;
        }

        public void Dispose()
        {
            try
            {
                process.StandardInput.WriteLine("{\"op\": \"quit\"}");
                process.StandardInput.Close();
                process.WaitForExit(10_000);
            }
            finally { process.Dispose(); }
        }
    }
}
