using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// Benchmarks of DistEmbed.Verified against its Python peers.
///   bdn [BenchmarkDotNet args]   the BenchmarkDotNet suite (in-process toolchain)
///   compare [--device cpu|cuda] [--scale S] [--repeats N] [--threads N or 1,2] [--workloads W1,W2,...,T1 (TVAE epoch, not in the default list)] [--python PATH] [--pot-pairs N]
///           [--omp-wait passive|active|default] [--no-floors] [--json FILE] [--markdown FILE]
///     runs ours and the peers (bench/peers/*.py) alternating in the same process run, one table per thread count
///     (peers limited to the same count), with each peer's version, BLAS and threads, and each workload's floor.
///   floors [--threads 1,2] [--scale S] [--markdown FILE]
///     the machine's rates (triad bandwidth, GEMM, sort, exp2) and each workload's floor (see <see cref="Floors"/>).
///   retrieval [--n N] [--d D] [--class-size C] [--band E] [--check-n M] [--floor yes|no] [--path fused|generic] [--threads K] [--json FILE]
///     retrieval metrics of N labelled vectors in bounded memory (see <see cref="RetrievalScale"/>).
///   index [--n N] [--d D] [--queries Q] [--k K] [--data random|clustered|quantile] [--ef 64,128,256] [--threads T] [--json FILE]
///     recall@k and queries per second of the USearch HNSW index against exact blocked search (see <see cref="IndexBench"/>).
///   knn [--threads 1,2] [--repeats 5] [--workloads K1,K2,N1] [--block B] [--json FILE]
///     exact k-NN and N1 against faiss IndexFlatL2, alternating runs in one session (see <see cref="KnnVsFaiss"/>).
///   pgvector --connection STR [--n N] [--d D] [--q Q] [--queries M] [--k K] [--ef 40,100,200] [--json FILE]
///     PostgreSQL + pgvector: insert, exact and HNSW query rates, index build time (see <see cref="PgVectorScale"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "bdn")
        {
            var config = DefaultConfig.Instance.AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args.Skip(1).ToArray(), config);
            return 0;
        }
        if (args.Length > 0 && args[0] is "compare" or "floors")
        {
            try { return args[0] == "compare" ? Compare(args.Skip(1).ToArray()) : Floors.Run(args.Skip(1).ToArray()); }
            catch (ArgumentException e) { Console.Error.WriteLine($"error: {e.Message}"); return 2; }
        }
        if (args.Length > 0 && args[0] == "stream") return Streaming.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "retrieval") return RetrievalScale.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "index") return IndexBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "pgvector") return PgVectorScale.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "knn") return KnnVsFaiss.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "online-sinkhorn") return OnlineSinkhornScale.Run(args.Skip(1).ToArray());
        Console.Error.WriteLine("usage: DistEmbed.Benchmarks bdn [...] | retrieval [--n N] [--d D] [--class-size C] [--band E] [--check-n M] [--floor yes|no] [--path fused|generic] [--threads K] [--json FILE] | index [--n N] [--d D] [--queries Q] [--data random|clustered|quantile] [--ef LIST] [--json FILE] | pgvector --connection STR [--n N] [--d D] [--q Q] [--json FILE] | knn [--threads 1,2] [--repeats 5] [--workloads K1,K2,N1] [--block B] [--json FILE] | online-sinkhorn [--kernel fused|tiled] [--dtype float32|float64] [--n N1,N2] [--d D] [--epsilon E] [--iterations K] [--tile T] [--check-n M] [--repeats R] [--full-n F] [--tolerance TOL] [--scaling Q] [--threads K] [--json FILE] | floors [--threads 1,2] [--scale S] [--markdown FILE] | compare [--device cpu|cuda] [--scale S] [--repeats N] [--workloads W1,W2,W3,W4,W4-reference,N1,K1,K2,B1,S1,T1] [--seed S] [--threads N or 1,2] [--omp-wait passive|active|default] [--python PATH] [--no-pot] [--no-sklearn] [--no-faiss] [--no-floors] [--json FILE] [--markdown FILE]");
        return 1;
    }

    internal static string Arg(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>Parses a comma-separated list of positive thread counts (<c>1,2</c>).</summary>
    internal static int[] ParseThreads(string text, string option)
    {
        var counts = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
                throw new ArgumentException($"{option}: '{part}' is not a positive thread count (expected e.g. 1 or 1,2).");
            counts.Add(n);
        }
        if (counts.Count == 0) throw new ArgumentException($"{option}: no thread count given (expected e.g. 1 or 1,2).");
        return [.. counts];
    }

    /// <summary>The 1-, 5- and 15-minute load averages (/proc/loadavg), or "unknown".</summary>
    internal static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    /// <summary>"under load" when a 1-minute load average (before or after) exceeds the core count, else "quiet".</summary>
    internal static string LoadVerdict(string before, string after)
    {
        static double First(string load) =>
            double.TryParse(load.Split(' ')[0], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : double.NaN;
        var peak = Math.Max(First(before), First(after));
        if (double.IsNaN(peak)) return "load unknown";
        return peak > Environment.ProcessorCount
            ? $"under load (1-minute load average above the {Environment.ProcessorCount} cores: other jobs shared the machine)"
            : $"quiet (1-minute load average at most the {Environment.ProcessorCount} cores)";
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.OrderBy(x => x).ToArray();
        return v.Length == 0 ? double.NaN : v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    /// <summary>
    /// <c>compare</c>: for each thread count of <c>--threads</c> (e.g. <c>1,2</c>: one table each), ours and every peer
    /// at that thread count, alternating: the peers run in <c>--serve</c> mode (bench/peers/peer_common.py) and each of
    /// the <c>--repeats</c> rounds runs every workload once on our side and once in each peer, the order swapped every
    /// round; medians over the rounds, speed-up = median of the per-round ratios. S1 and T1 use their one-shot peers.
    /// </summary>
    private static int Compare(string[] args)
    {
        // Before libtorch (and its OpenMP runtime) loads: the same OpenMP wait policy for ours and every peer. On a
        // loaded machine spinning OpenMP threads take the cores from the threads with work (docs/benchmarks.md).
        var waitPolicy = Arg(args, "--omp-wait", "passive").ToUpperInvariant();
        if (waitPolicy is not ("PASSIVE" or "ACTIVE" or "DEFAULT"))
            throw new ArgumentException($"--omp-wait: '{waitPolicy}' is not passive, active or default.");
        if (waitPolicy != "DEFAULT") SetNativeEnvironment("OMP_WAIT_POLICY", waitPolicy);
        PeerProcess.WaitPolicy = waitPolicy == "DEFAULT" ? null : waitPolicy;
        var deviceName = Arg(args, "--device", "cpu");
        var scale = double.Parse(Arg(args, "--scale", "1"), CultureInfo.InvariantCulture);
        var repeats = int.Parse(Arg(args, "--repeats", "5"), CultureInfo.InvariantCulture);
        if (repeats < 1) throw new ArgumentException($"--repeats must be at least 1, got {repeats}.");
        var workloads = Arg(args, "--workloads", deviceName == "cpu" ? "W1,W2,W3,W4,N1" : "W1,W2,W3,N1").Split(',');
        // B1 (learned Bregman divergence) is compared with our own squared Euclidean matrix of the same size, same run.
        if (workloads.Contains("B1") && !workloads.Contains("B1-sqeuclidean")) workloads = [.. workloads, "B1-sqeuclidean"];
        var python = Arg(args, "--python", Environment.GetEnvironmentVariable("PEER_PYTHON") ?? "/usr/bin/python3");
        var potPairs = Arg(args, "--pot-pairs", "16");
        var peersDir = Arg(args, "--peers", Path.Combine(FindRepoRoot(), "bench", "peers"));
        var device = NativeRuntime.ResolveDevice(deviceName);
        var threadCounts = ParseThreads(Arg(args, "--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), "--threads");
        var withFloors = device.type != DeviceType.CUDA && !args.Contains("--no-floors");
        var scaleText = scale.ToString(CultureInfo.InvariantCulture);
        var inv = CultureInfo.InvariantCulture;

        var md = new StringBuilder();
        md.AppendLine($"Machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; device: {deviceName}; "
            + $"ours: TorchSharp {typeof(torch).Assembly.GetName().Version} (libtorch's own BLAS); date {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. "
            + $"Scale {scale}; {repeats} alternating rounds (each round runs every workload once in ours and once in each peer, the order swapped every round, after one warm-up each); "
            + "times are medians over the rounds, a speed-up is the median of the per-round ratios peer ÷ ours. "
            + $"OpenMP wait policy (OMP_WAIT_POLICY) of ours and every peer: {(waitPolicy == "DEFAULT" ? "the runtime's default" : waitPolicy)}. "
            // Read by glibc at process start; the peers inherit the harness's environment, so both sides run with it.
            + $"glibc malloc tunables (GLIBC_TUNABLES, inherited by every peer): {(Environment.GetEnvironmentVariable("GLIBC_TUNABLES") is { Length: > 0 } tunables ? tunables : "not set")}.");
        var json = new JsonObject { ["device"] = deviceName, ["scale"] = scale, ["repeats"] = repeats };
        var tables = new JsonArray();
        var inputs = Directory.CreateTempSubdirectory("distembed-bench-").FullName;
        try
        {
            using var w = new Workloads(device, scale) { InputsDirectory = inputs, Seed = long.Parse(Arg(args, "--seed", "0"), inv) };
            var built = workloads.ToDictionary(id => id, id => w.Build(id));
            foreach (var threads in threadCounts)
            {
                if (device.type != DeviceType.CUDA) torch.set_num_threads(threads);
                var loadBefore = LoadAverage();
                var peers = new List<PeerProcess>();
                var torchIds = workloads.Where(id => id is "W1" or "W2" or "W3" or "N1").ToArray();
                if (torchIds.Length > 0 && PeerProcess.Start("PyTorch", python, Path.Combine(peersDir, "torch_peer.py"),
                        $"--device {deviceName} --scale {scaleText} --workloads {string.Join(',', torchIds)} --inputs {inputs} --threads {threads}") is { } tp)
                    peers.Add(tp);
                var potIds = workloads.Where(id => id is "W1" or "W2" or "W4").ToArray();
                if (deviceName == "cpu" && !args.Contains("--no-pot") && potIds.Length > 0
                    && PeerProcess.Start("POT", python, Path.Combine(peersDir, "pot_peer.py"),
                        $"--pairs {potPairs} --batch {Math.Max(1, (int)(512 * scale))} --workloads {string.Join(',', potIds)} --threads {threads}") is { } pp)
                    peers.Add(pp);
                // scikit-learn runs on the CPU only; it is a peer of N1 (NearestNeighbors on both spaces + Jaccard).
                if (deviceName == "cpu" && workloads.Contains("N1") && !args.Contains("--no-sklearn")
                    && PeerProcess.Start("scikit-learn", python, Path.Combine(peersDir, "sklearn_peer.py"),
                        $"--scale {scaleText} --workloads N1 --inputs {inputs} --threads {threads}") is { } sp)
                    peers.Add(sp);
                // faiss (IndexFlatL2, exact; bench/peers/faiss_peer.py) is the k-NN peer of N1, K1 and K2: served and
                // alternated like the others, on the very inputs of ours (written by Workloads), at this thread count.
                var faissIds = workloads.Where(id => id is "N1" or "K1" or "K2").ToArray();
                if (deviceName == "cpu" && faissIds.Length > 0 && !args.Contains("--no-faiss")
                    && PeerProcess.Start("faiss", python, Path.Combine(peersDir, "faiss_peer.py"),
                        $"--scale {scaleText} --workloads {string.Join(',', faissIds)} --inputs {inputs} --threads {threads}") is { } fp)
                    peers.Add(fp);

                var oursTimes = workloads.ToDictionary(id => id, _ => new List<double>());
                var peerTimes = new Dictionary<(string Peer, string Id), List<double>>();
                var peerRatios = new Dictionary<(string Peer, string Id), List<double>>();
                foreach (var id in workloads) built[id].Run(); // our warm-up at this thread count
                Floors? floors = null;
                for (var round = 0; round < repeats; round++)
                {
                    // The machine's rates, measured once per round (the best seen is the floor: see Floors).
                    if (withFloors) floors = Floors.Faster(floors, Floors.Measure());
                    foreach (var id in workloads)
                    {
                        double? ours = null;
                        var theirs = new List<(string Peer, double? Ms)>();
                        void RunOurs()
                        {
                            var sw = Stopwatch.StartNew();
                            built[id].Run();
                            ours = sw.Elapsed.TotalMilliseconds;
                        }
                        void RunPeers()
                        {
                            foreach (var p in peers.Where(p => p.Workloads.Contains(id))) theirs.Add((p.Name, p.Run(id)));
                        }
                        if (round % 2 == 0) { RunOurs(); RunPeers(); } else { RunPeers(); RunOurs(); }
                        oursTimes[id].Add(ours!.Value);
                        foreach (var (peer, ms) in theirs)
                        {
                            if (ms is not { } m) continue;
                            Bucket(peerTimes, (peer, id)).Add(m);
                            Bucket(peerRatios, (peer, id)).Add(m / ours.Value);
                        }
                    }
                    Console.Error.WriteLine($"[{threads} thread(s)] round {round + 1}/{repeats}: " + string.Join(", ", workloads.Select(id => $"{id} {oursTimes[id][^1]:F1} ms")));
                }
                var peerHeaders = peers.Select(p => p.Header).ToList();
                var tableChecks = new Dictionary<string, double>();
                foreach (var p in peers) p.Dispose();

                // One-shot peers (median of --repeats runs after a warm-up, after our rounds): S1 (sequence training;
                // reads the sequences written above) and T1 (TVAE epoch), each at this thread count.
                var oneShot = new List<(string Name, JsonNode Node)>();
                if (workloads.Contains("S1") && RunPeer(python, Path.Combine(peersDir, "seq_peer.py"), $"--inputs {inputs} --repeats {repeats} --threads {threads}") is { } seq)
                    oneShot.Add(("PyTorch", seq));
                if (workloads.Contains("T1") && RunPeer(python, Path.Combine(peersDir, "tvae_peer.py"),
                        $"--device {deviceName} --repeats {repeats} --scale {scaleText} --threads {threads}") is { } tvae)
                    oneShot.Add(("PyTorch", tvae));

                var loadAfter = LoadAverage();

                // The peer columns: every peer that answered, in the order started, then PyTorch for one-shot rows.
                var peerNames = peers.Select(p => p.Name).ToList();
                foreach (var (name, _) in oneShot) if (!peerNames.Contains(name)) peerNames.Add(name);
                md.AppendLine();
                md.AppendLine($"### {threads} thread{(threads == 1 ? "" : "s")} (ours and every peer)");
                md.AppendLine();
                md.AppendLine($"Load average (1, 5, 15 min) {loadBefore} before, {loadAfter} after: {LoadVerdict(loadBefore, loadAfter)}.");
                foreach (var h in peerHeaders.Concat(oneShot.Select(o => o.Node)))
                    md.AppendLine($"- {PeerName(h)} {h["version"]}: {h["threads"]?.ToString() ?? "its default"} thread(s); BLAS {BlasText(h["blas"])}"
                        + $" ({h["blas_threads"]?.ToString() ?? "?"} BLAS thread(s), OpenMP {h["openmp_threads"]?.ToString() ?? "—"}){(h["blas_path"] is { } bp ? $", {bp}" : "")}.");
                if (floors is not null) md.AppendLine(floors.Describe());
                // Same inputs, same answer: the values of the workloads that compute one (N1's NNGS), ours and each peer's.
                foreach (var (id, value) in w.Values.Where(v => workloads.Contains(v.Key)))
                {
                    var ours = value();
                    // Equal up to the rounding of the mean over the N items (summed in another order): 1e-12.
                    var theirs = peerHeaders.Where(h => h["values"]?[id] is not null)
                        .Select(h => $"{PeerName(h)} {h["values"]![id]!.GetValue<double>().ToString("R", inv)}"
                            + (Math.Abs(h["values"]![id]!.GetValue<double>() - ours) <= 1e-12 ? " (equal to 1e-12)" : " (DIFFERENT)"));
                    md.AppendLine($"{id} value on the same inputs: ours {ours.ToString("R", inv)}; {string.Join(", ", theirs.DefaultIfEmpty("no peer reports one"))}.");
                    tableChecks[id] = ours;
                }
                md.AppendLine();
                var header = new StringBuilder("| id | sizes | ours (ms) |");
                var rule = new StringBuilder("| --- | --- | ---: |");
                foreach (var name in peerNames) { header.Append($" {name} (ms) | vs {name} |"); rule.Append(" ---: | ---: |"); }
                header.Append(" strongest peer here | vs strongest |");
                rule.Append(" --- | ---: |");
                if (floors is not null) { header.Append(" floor (ms) | ours (fastest round) ÷ floor |"); rule.Append(" ---: | ---: |"); }
                md.AppendLine(header.ToString());
                md.AppendLine(rule.ToString());
                var results = new JsonObject();
                var floorNotes = new List<string>();
                foreach (var id in workloads)
                {
                    var (sizes, _) = built[id];
                    var oursMs = Median(oursTimes[id]);
                    var row = new StringBuilder($"| {id} | {sizes} | {oursMs.ToString("F2", inv)} |");
                    var entry = new JsonObject { ["sizes"] = sizes, ["ours_ms"] = oursMs, ["ours_runs_ms"] = new JsonArray(oursTimes[id].Select(x => (JsonNode)x).ToArray()) };
                    if (tableChecks.TryGetValue(id, out var checkedValue)) entry["value"] = checkedValue;
                    (string Name, double Ms, double Ratio)? strongest = null;
                    foreach (var name in peerNames)
                    {
                        double? ms = null, ratio = null;
                        var extrapolated = false;
                        if (peerTimes.TryGetValue((name, id), out var times) && times.Count > 0)
                        {
                            ms = Median(times);
                            ratio = Median(peerRatios[(name, id)]);
                            extrapolated = id is "W1" or "W2" && name == "POT";
                        }
                        else if (oneShot.Where(o => o.Name == name).Select(o => o.Node["results"]?[id]?["median_ms"]?.GetValue<double>()).FirstOrDefault(v => v is not null) is { } m)
                        {
                            ms = m;
                            ratio = m / oursMs;
                        }
                        row.Append($" {Fmt(ms)}{(extrapolated ? " (extrapolated)" : "")} | {(ratio is { } r ? r.ToString("F2", inv) + "×" : "—")} |");
                        entry[name] = ms is null ? null : new JsonObject { ["median_ms"] = ms, ["speedup"] = ratio, ["extrapolated"] = extrapolated };
                        if (ms is { } pm && ratio is { } pr && !extrapolated && (strongest is null || pm < strongest.Value.Ms)) strongest = (name, pm, pr);
                    }
                    row.Append(strongest is { } st ? $" {st.Name} | **{st.Ratio.ToString("F2", inv)}×** |" : " — | — |");
                    entry["strongest_peer"] = strongest?.Name;
                    if (floors is not null)
                    {
                        if (floors.For(id, scale) is { } f)
                        {
                            // Best against best: the floor's rates are the best of the rounds, so ours is its fastest round.
                            var oursBest = oursTimes[id].Min();
                            row.Append($" {f.Ms.ToString("F2", inv)} | {(oursBest / f.Ms).ToString("F1", inv)}× |");
                            floorNotes.Add($"- {id}: floor {f.Ms.ToString("F2", inv)} ms = {f.Model}; ours {oursBest.ToString("F2", inv)} ms in its fastest round, {(oursBest / f.Ms).ToString("F1", inv)}× the floor.");
                            entry["floor_ms"] = f.Ms;
                            entry["floor_model"] = f.Model;
                        }
                        else row.Append(" — | — |");
                    }
                    md.AppendLine(row.ToString());
                    results[id] = entry;
                }
                if (built.ContainsKey("B1") && built.ContainsKey("B1-sqeuclidean"))
                {
                    var ratio = Median(oursTimes["B1"]) / Median(oursTimes["B1-sqeuclidean"]);
                    md.AppendLine();
                    md.AppendLine($"B1: pairwise ICNN Bregman divergence / pairwise squared Euclidean = {ratio.ToString("F2", inv)}× (target ≤ 3×).");
                    json["b1_ratio"] = ratio;
                }
                if (floorNotes.Count > 0)
                {
                    md.AppendLine();
                    md.AppendLine("How far from the limit (floors from the rates above):");
                    foreach (var note in floorNotes) md.AppendLine(note);
                }
                tables.Add(new JsonObject
                {
                    ["threads"] = threads, ["load_before"] = loadBefore, ["load_after"] = loadAfter,
                    ["peers"] = new JsonArray(peerHeaders.Concat(oneShot.Select(o => o.Node)).Select(h => h.DeepClone()).ToArray()),
                    ["floors"] = floors is null ? null : new JsonObject
                    {
                        ["bandwidth_bytes_per_s"] = floors.BandwidthBytesPerSecond, ["gemm_flops_per_s"] = floors.GemmFlopsPerSecond,
                        ["exp2_elements_per_s"] = floors.Exp2ElementsPerSecond,
                    },
                    ["results"] = results,
                });
                // Written after every table, so that a long run that is stopped keeps the tables it finished.
                WriteOutputs(args, md, json, tables);
            }
        }
        finally
        {
            Directory.Delete(inputs, recursive: true);
        }
        Console.WriteLine(md.ToString());
        WriteOutputs(args, md, json, tables);
        return 0;
    }

    private static void WriteOutputs(string[] args, StringBuilder md, JsonObject json, JsonArray tables)
    {
        json["tables"] = tables.DeepClone();
        var jsonPath = Arg(args, "--json", "");
        if (jsonPath != "") AtomicWrite(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var mdPath = Arg(args, "--markdown", "");
        if (mdPath != "") AtomicWrite(mdPath, md.ToString());
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string name,
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string value, int overwrite);

    /// <summary>Sets a variable in the native environment (read by native libraries when they load; .NET's
    /// Environment.SetEnvironmentVariable does not reach it on Unix). Linux and macOS only.</summary>
    internal static void SetNativeEnvironment(string name, string value)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) SetEnv(name, value, 1);
    }

    /// <summary>The list stored under <paramref name="key"/>, added when missing.</summary>
    private static List<double> Bucket(Dictionary<(string, string), List<double>> map, (string, string) key)
    {
        if (!map.TryGetValue(key, out var list)) map[key] = list = new List<double>();
        return list;
    }

    /// <summary>A peer's "blas" field as one line: a string as is, a list (faiss_peer.py) joined, "unknown" when absent.</summary>
    private static string BlasText(JsonNode? blas) => blas switch
    {
        null => "unknown",
        JsonArray list => string.Join("; ", list.Select(x => x is JsonValue ? x.ToString() : x?.ToJsonString())),
        JsonValue => blas.ToString(),
        _ => blas.ToJsonString(),
    };

    private static string PeerName(JsonNode header) => header["peer"]?.ToString() switch
    {
        "pytorch" => "PyTorch",
        "pot" => "POT",
        "scikit-learn" => "scikit-learn",
        { } other => other,
        null => "peer",
    };

    private static string Fmt(double? v) => v is { } x ? x.ToString("F2", CultureInfo.InvariantCulture) : "—";

    private static JsonNode? RunPeer(string python, string script, string arguments)
    {
        if (!File.Exists(script)) { Console.Error.WriteLine($"peer script {script} not found"); return null; }
        try
        {
            var psi = new ProcessStartInfo(python, $"{script} {arguments}") { RedirectStandardOutput = true, RedirectStandardError = true };
            if (PeerProcess.WaitPolicy is { } policy) psi.Environment["OMP_WAIT_POLICY"] = policy;
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEnd();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) { Console.Error.WriteLine($"peer {script} failed ({p.ExitCode}): {stderr}"); return null; }
            var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
            Console.Error.WriteLine($"peer {Path.GetFileName(script)}: {last}");
            return JsonNode.Parse(last);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"peer {script} could not start with '{python}': {e.Message}");
            return null;
        }
    }

    internal static void AtomicWrite(string path, string text)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, text);
        File.Move(tmp, full, overwrite: true);
    }

    internal static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "DistEmbed.Verified.sln")) && !Directory.Exists(Path.Combine(dir.FullName, "bench", "peers")))
            dir = dir.Parent;
        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }
}
