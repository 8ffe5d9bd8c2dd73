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
///   compare [--device cpu|cuda] [--scale S] [--repeats N] [--workloads W1,W2,...,T1 (TVAE epoch, not in the default list)] [--python PATH] [--pot-pairs N]
///           [--json FILE] [--markdown FILE]
///     runs ours and the peers (bench/peers/*.py) in the same process run and prints/writes the ratio table.
///   retrieval [--n N] [--d D] [--class-size C] [--band E] [--check-n M] [--threads K] [--json FILE]
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
        if (args.Length > 0 && args[0] == "compare") return Compare(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "stream") return Streaming.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "retrieval") return RetrievalScale.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "index") return IndexBench.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "pgvector") return PgVectorScale.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "knn") return KnnVsFaiss.Run(args.Skip(1).ToArray());
        if (args.Length > 0 && args[0] == "online-sinkhorn") return OnlineSinkhornScale.Run(args.Skip(1).ToArray());
        Console.Error.WriteLine("usage: DistEmbed.Benchmarks bdn [...] | retrieval [--n N] [--d D] [--class-size C] [--band E] [--threads K] [--json FILE] | index [--n N] [--d D] [--queries Q] [--data random|clustered|quantile] [--ef LIST] [--json FILE] | pgvector --connection STR [--n N] [--d D] [--q Q] [--json FILE] | knn [--threads 1,2] [--repeats 5] [--workloads K1,K2,N1] [--block B] [--json FILE] | online-sinkhorn [--kernel fused|tiled] [--n N1,N2] [--d D] [--epsilon E] [--iterations K] [--tile T] [--check-n M] [--repeats R] [--full-n F] [--tolerance TOL] [--scaling Q] [--threads K] [--json FILE] | compare [--device cpu|cuda] [--scale S] [--repeats N] [--workloads W1,W2,W3,W4,W4-reference,N1,K1,K2,B1,S1,T1] [--seed S] [--threads N] [--python PATH] [--no-pot] [--no-sklearn] [--json FILE] [--markdown FILE]");
        return 1;
    }

    internal static string Arg(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static int Compare(string[] args)
    {
        var deviceName = Arg(args, "--device", "cpu");
        var scale = double.Parse(Arg(args, "--scale", "1"), CultureInfo.InvariantCulture);
        var repeats = int.Parse(Arg(args, "--repeats", "5"), CultureInfo.InvariantCulture);
        var workloads = Arg(args, "--workloads", deviceName == "cpu" ? "W1,W2,W3,W4,N1" : "W1,W2,W3,N1").Split(',');
        // B1 (learned Bregman divergence) is compared with our own squared Euclidean matrix of the same size, same run.
        if (workloads.Contains("B1") && !workloads.Contains("B1-sqeuclidean")) workloads = [.. workloads, "B1-sqeuclidean"];
        var python = Arg(args, "--python", Environment.GetEnvironmentVariable("PEER_PYTHON") ?? "/usr/bin/python3");
        var potPairs = Arg(args, "--pot-pairs", "16");
        var peersDir = Arg(args, "--peers", Path.Combine(FindRepoRoot(), "bench", "peers"));
        var device = NativeRuntime.ResolveDevice(deviceName);
        torch.set_num_threads(int.Parse(Arg(args, "--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture));

        var ours = new Dictionary<string, (string Sizes, double Ms)>();
        var inputs = Directory.CreateTempSubdirectory("distembed-bench-").FullName;
        using (var w = new Workloads(device, scale) { InputsDirectory = inputs, Seed = long.Parse(Arg(args, "--seed", "0"), CultureInfo.InvariantCulture) })
        {
            foreach (var id in workloads)
            {
                var (sizes, run) = w.Build(id);
                var ms = Workloads.MedianMilliseconds(run, repeats);
                ours[id] = (sizes, ms);
                Console.Error.WriteLine($"ours {id} ({sizes}): {ms:F2} ms");
            }
        }

        var torchIds = workloads.Where(id => id is not "W4" and not "W4-reference" and not "S1" and not "T1" and not "K1" and not "K2" && !id.StartsWith('B')).ToArray();
        var torchPeer = torchIds.Length == 0 ? null : RunPeer(python, Path.Combine(peersDir, "torch_peer.py"),
            $"--device {deviceName} --repeats {repeats} --scale {scale.ToString(CultureInfo.InvariantCulture)} --workloads {string.Join(',', torchIds)} --inputs {inputs}");
        // S1 (sequence training) has its own peer, which reads the very sequences written above.
        var seqPeer = workloads.Contains("S1")
            ? RunPeer(python, Path.Combine(peersDir, "seq_peer.py"), $"--inputs {inputs} --repeats {repeats}")
            : null;
        Directory.Delete(inputs, recursive: true);
        if (workloads.Contains("T1"))
        {
            var tvaePeer = RunPeer(python, Path.Combine(peersDir, "tvae_peer.py"),
                $"--device {deviceName} --repeats {repeats} --scale {scale.ToString(CultureInfo.InvariantCulture)} --threads {torch.get_num_threads()}");
            if (torchPeer is null) torchPeer = tvaePeer;
            else if (tvaePeer?["results"]?["T1"] is { } t1) torchPeer["results"]!["T1"] = t1.DeepClone();
        }
        JsonNode? potPeer = null;
        if (deviceName == "cpu" && !args.Contains("--no-pot"))
        {
            var potIds = workloads.Where(id => id is "W1" or "W2" or "W4").ToArray();
            if (potIds.Length > 0)
                potPeer = RunPeer(python, Path.Combine(peersDir, "pot_peer.py"), $"--pairs {potPairs} --batch {Math.Max(1, (int)(512 * scale))} --workloads {string.Join(',', potIds)}");
        }

        // scikit-learn runs on the CPU only; it is the peer of N1 (NearestNeighbors on both spaces + Jaccard).
        JsonNode? sklearnPeer = null;
        if (deviceName == "cpu" && workloads.Contains("N1") && !args.Contains("--no-sklearn"))
            sklearnPeer = RunPeer(python, Path.Combine(peersDir, "sklearn_peer.py"),
                $"--repeats {repeats} --scale {scale.ToString(CultureInfo.InvariantCulture)} --workloads N1");

        // faiss (IndexFlatL2, exact) runs on the CPU only; it is the k-NN peer of N1, K1 and K2 (bench/peers/faiss_peer.py).
        JsonNode? faissPeer = null;
        var faissIds = workloads.Where(id => id is "N1" or "K1" or "K2").ToArray();
        if (deviceName == "cpu" && faissIds.Length > 0 && !args.Contains("--no-faiss"))
            faissPeer = RunPeer(python, Path.Combine(peersDir, "faiss_peer.py"),
                $"--repeats {repeats} --scale {scale.ToString(CultureInfo.InvariantCulture)} --threads {torch.get_num_threads()} --workloads {string.Join(',', faissIds)}");

        var md = new StringBuilder();
        md.AppendLine($"Machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; device: {deviceName}"
            + (device.type == DeviceType.CUDA ? "" : $"; TorchSharp threads {torch.get_num_threads()}") + $"; date {DateTime.UtcNow:yyyy-MM-dd}.");
        var versionPeer = torchPeer ?? seqPeer;
        md.AppendLine($"PyTorch peer: {versionPeer?["version"]} ({versionPeer?["threads"]} threads); POT: {potPeer?["version"]?.ToString() ?? "not run"}; scikit-learn: {sklearnPeer?["version"]?.ToString() ?? "not run"}; faiss: {(faissPeer is null ? "not run" : $"{faissPeer["version"]} ({faissPeer["threads"]} threads, BLAS {faissPeer["blas"]?[0]})")}. Scale {scale}, median of {repeats} runs after a warm-up.");
        md.AppendLine();
        md.AppendLine("| id | sizes | ours (ms) | PyTorch (ms) | speed-up vs PyTorch | POT (ms) | speed-up vs POT | scikit-learn (ms) | speed-up vs scikit-learn | faiss (ms) | speed-up vs faiss |");
        md.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var json = new JsonObject { ["device"] = deviceName, ["scale"] = scale, ["repeats"] = repeats };
        var results = new JsonObject();
        foreach (var id in workloads)
        {
            var (sizes, ms) = ours[id];
            var tp = (id == "S1" ? seqPeer : torchPeer)?["results"]?[id]?["median_ms"]?.GetValue<double>();
            var pp = potPeer?["results"]?[id]?["median_ms"]?.GetValue<double>();
            var potNote = potPeer?["results"]?[id]?["extrapolated"]?.GetValue<bool>() == true ? " (extrapolated)" : "";
            var sp = sklearnPeer?["results"]?[id]?["median_ms"]?.GetValue<double>();
            var fp = faissPeer?["results"]?[id]?["median_ms"]?.GetValue<double>();
            md.AppendLine($"| {id} | {sizes} | {ms:F2} | {Fmt(tp)} | {Ratio(tp, ms)} | {Fmt(pp)}{potNote} | {Ratio(pp, ms)} | {Fmt(sp)} | {Ratio(sp, ms)} | {Fmt(fp)} | {Ratio(fp, ms)} |");
            results[id] = new JsonObject { ["sizes"] = sizes, ["ours_ms"] = ms, ["pytorch_ms"] = tp, ["pot_ms"] = pp, ["sklearn_ms"] = sp, ["faiss_ms"] = fp };
        }
        if (ours.ContainsKey("B1") && ours.ContainsKey("B1-sqeuclidean"))
        {
            var ratio = ours["B1"].Ms / ours["B1-sqeuclidean"].Ms;
            md.AppendLine();
            md.AppendLine($"B1: pairwise ICNN Bregman divergence / pairwise squared Euclidean = {ratio.ToString("F2", CultureInfo.InvariantCulture)}× (target ≤ 3×).");
            json["b1_ratio"] = ratio;
        }
        json["results"] = results;
        Console.WriteLine(md.ToString());
        var jsonPath = Arg(args, "--json", "");
        if (jsonPath != "") AtomicWrite(jsonPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        var mdPath = Arg(args, "--markdown", "");
        if (mdPath != "") AtomicWrite(mdPath, md.ToString());
        return 0;
    }

    private static string Fmt(double? v) => v is { } x ? x.ToString("F2", CultureInfo.InvariantCulture) : "—";

    private static string Ratio(double? peer, double ours) =>
        peer is { } p ? (p / ours).ToString("F2", CultureInfo.InvariantCulture) + "×" : "—";

    private static JsonNode? RunPeer(string python, string script, string arguments)
    {
        if (!File.Exists(script)) { Console.Error.WriteLine($"peer script {script} not found"); return null; }
        try
        {
            var psi = new ProcessStartInfo(python, $"{script} {arguments}") { RedirectStandardOutput = true, RedirectStandardError = true };
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
