using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// Retrieval metrics in bounded memory (issue 19): leave-one-out P@1, R-precision, MAP@R, MAP, recall@k and MRR of N
/// labelled vectors under the Euclidean distance with <see cref="StreamedRetrieval.EvaluateWithin"/>, never holding the
/// N × N matrix. Reports time and the process's peak resident memory (VmHWM, native memory included) next to the size the
/// full float64 matrix would need, and first checks, in the same run, that the streamed report equals the in-memory
/// <see cref="RetrievalMetrics.Evaluate"/> on the first --check-n items.
/// <c>--path fused</c> (default) is the library's evaluation (the fused Gram-form path for the Euclidean distance);
/// <c>--path generic</c> computes every band with the distance's own kernel (the path before the fused one), for
/// old/new comparisons in alternating runs. The JSON records wall and CPU (user + sys) seconds of the timed evaluation.
///   retrieval [--n N] [--d D] [--class-size C] [--band E] [--check-n M] [--floor yes|no] [--path fused|generic] [--distance euclidean|sqeuclidean] [--seed S] [--threads K] [--json FILE]
/// </summary>
public static class RetrievalScale
{
    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) => Program.Arg(args, name, fallback);
        var n = int.Parse(Arg("--n", "200000"), CultureInfo.InvariantCulture);
        var d = int.Parse(Arg("--d", "256"), CultureInfo.InvariantCulture);
        var classSize = int.Parse(Arg("--class-size", "20"), CultureInfo.InvariantCulture);
        var band = long.Parse(Arg("--band", "0"), CultureInfo.InvariantCulture);
        var checkN = int.Parse(Arg("--check-n", "2000"), CultureInfo.InvariantCulture);
        var seed = long.Parse(Arg("--seed", "0"), CultureInfo.InvariantCulture);
        torch.set_num_threads(int.Parse(Arg("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture));
        var jsonPath = Arg("--json", "");
        var path = Arg("--path", "fused");
        if (path != "fused" && path != "generic")
            throw new ArgumentException($"--path {path} is invalid; it must be fused or generic.", "--path");
        NativeRuntime.EnsureInitialized();

        // Item i of class c = i / classSize: centre_c + noise, float32 (so that the metrics are neither 0 nor 1).
        var classes = (n + classSize - 1) / classSize;
        var generator = new torch.Generator((ulong)seed);
        var labels = Enumerable.Range(0, n).Select(i => (long)(i / classSize)).ToArray();
        torch.Tensor MakeValues()
        {
            using var scope = torch.NewDisposeScope();   // the [N, d] noise and the class centres are freed here
            return torch.randn([classes, d], generator: generator).mul_(0.35)
                .index_select(0, torch.tensor(labels))
                .add_(torch.randn([n, d], generator: generator))
                .MoveToOuterDisposeScope();
        }
        using var values = MakeValues();
        using var batch = VectorBatch.FromTensor(values);
        var distanceName = Arg("--distance", "euclidean");
        var distance = distanceName switch
        {
            "euclidean" => Distances.Euclidean(),
            "sqeuclidean" => Distances.SquaredEuclidean(),
            _ => throw new ArgumentException($"--distance {distanceName} is invalid; it must be euclidean or sqeuclidean.", "--distance"),
        };
        int[] ks = [1, 5, 10];

        // Agreement with the in-memory evaluation on the first checkN items, same run.
        var agrees = true;
        double checkInMemorySeconds = 0, checkStreamedSeconds = 0;
        if (checkN > 1)
        {
            using var scope = torch.NewDisposeScope();
            using var small = VectorBatch.FromTensor(values.narrow(0, 0, Math.Min(checkN, n)).clone());
            var smallLabels = labels.Take(small.Count).ToArray();
            var memoryWatch = Stopwatch.StartNew();
            var inMemory = EmbeddingMetrics.RetrievalWithin(distance, small, smallLabels, ks);
            checkInMemorySeconds = memoryWatch.Elapsed.TotalSeconds;
            var streamWatch = Stopwatch.StartNew();
            var streamed = StreamedRetrieval.EvaluateWithin(distance, small, smallLabels, ks, 0);
            checkStreamedSeconds = streamWatch.Elapsed.TotalSeconds;
            agrees = inMemory.Equals(streamed);
            if (!agrees)
                Console.Error.WriteLine($"in-memory {Describe(inMemory)}\nstreamed  {Describe(streamed)}");
            Console.Error.WriteLine($"check at N = {small.Count}: streamed {(agrees ? "equals" : "DIFFERS FROM")} in-memory (P@1 {streamed.PrecisionAt1:F4}, MAP@R {streamed.MapAtR:F4}); {checkStreamedSeconds:F1} s streamed, {checkInMemorySeconds:F1} s in memory");
        }

        // The floor: the same N × N Euclidean distances streamed block by block and dropped.
        var floorWatch = Stopwatch.StartNew();
        if (Arg("--floor", "yes") == "yes")
            distance.PairwiseBlocks(batch, batch, (_, _, _) => { });
        var floorSeconds = floorWatch.Elapsed.TotalSeconds;

        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        var report = path == "fused"
            ? StreamedRetrieval.EvaluateWithin(distance, batch, labels, ks, band)
            : StreamedRetrieval.evaluateWithinGeneric(distance, batch, labels, ks, band);
        watch.Stop();
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        var peak = Process.GetCurrentProcess().PeakWorkingSet64;
        var result = new Dictionary<string, object>
        {
            ["n"] = n, ["d"] = d, ["class_size"] = classSize, ["classes"] = classes,
            ["path"] = path,
            ["distance"] = distanceName,
            ["band_elements"] = band != 0 ? band : path == "fused" ? StreamedRetrieval.FusedBandElements : StreamedRetrieval.DefaultBandElements,
            ["threads"] = torch.get_num_threads(),
            ["seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 1),
            ["cpu_seconds"] = Math.Round(cpuSeconds, 1),
            ["pairs_per_second"] = Math.Round((double)n * n / watch.Elapsed.TotalSeconds),
            ["peak_resident_bytes"] = peak,
            ["distances_only_seconds"] = Math.Round(floorSeconds, 1),
            ["check_streamed_seconds"] = Math.Round(checkStreamedSeconds, 2),
            ["check_in_memory_seconds"] = Math.Round(checkInMemorySeconds, 2),
            ["input_bytes"] = (long)n * d * sizeof(float),
            ["full_matrix_float64_bytes"] = (long)n * n * sizeof(double),
            ["precision_at_1"] = report.PrecisionAt1, ["r_precision"] = report.RPrecision, ["map_at_r"] = report.MapAtR,
            ["mean_average_precision"] = report.MeanAveragePrecision, ["mrr"] = report.MeanReciprocalRank,
            ["recall_at_1_5_10"] = report.RecallAtK,
            ["check_n"] = checkN, ["check_equal_to_in_memory"] = agrees,
        };
        static string Describe(RetrievalReport r) => string.Create(CultureInfo.InvariantCulture,
            $"P@1 {r.PrecisionAt1:G17} R-prec {r.RPrecision:G17} MAP@R {r.MapAtR:G17} MAP {r.MeanAveragePrecision:G17} MRR {r.MeanReciprocalRank:G17} recall {string.Join(' ', r.RecallAtK.Select(x => x.ToString("G17", CultureInfo.InvariantCulture)))} evaluated {r.EvaluatedQueries} without {r.QueriesWithoutRelevant}");
        var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (jsonPath.Length > 0)
        {
            var temporary = jsonPath + ".tmp";
            File.WriteAllText(temporary, json);
            File.Move(temporary, jsonPath, overwrite: true);
        }
        return agrees ? 0 : 1;
    }
}
