using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.Retrieval;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// Approximate against exact k-NN (issue 19): recall@k of a USearch HNSW index (<see cref="HnswIndex"/>) against the
/// exact blocked search (<see cref="ExactIndex"/>) on the same queries, and the queries per second of both, in one run.
///   index [--n N] [--d D] [--queries Q] [--k K] [--data random|clustered|quantile] [--connectivity M]
///         [--expansion-add E] [--ef 64,128,256] [--seed S] [--threads T] [--json FILE]
/// Data: random = N(0, I) vectors; clustered = N/100 centres N(0, I) plus noise N(0, 0.5² I); quantile = the exact
/// Euclidean export of N quantile embeddings [N, D/16, 16] (each row a sorted sample of a per-item normal law), so the
/// Euclidean distances are quantile-w2. Queries are fresh draws of the same kind.
/// </summary>
public static class IndexBench
{
    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) => Program.Arg(args, name, fallback);
        int Int(string name, string fallback) => int.Parse(Arg(name, fallback), CultureInfo.InvariantCulture);
        var n = Int("--n", "100000");
        var d = Int("--d", "256");
        var q = Int("--queries", "1000");
        var k = Int("--k", "10");
        var data = Arg("--data", "random");
        var connectivity = Int("--connectivity", "16");
        var expansionAdd = Int("--expansion-add", "128");
        var efs = Arg("--ef", "64,128,256").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var seed = long.Parse(Arg("--seed", "0"), CultureInfo.InvariantCulture);
        var threads = Int("--threads", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture));
        var jsonPath = Arg("--json", "");
        torch.set_num_threads(threads);
        NativeRuntime.EnsureInitialized();
        var load0 = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

        var generator = new torch.Generator((ulong)seed);
        torch.Tensor Make(long rows, torch.Tensor? centres)
        {
            using var scope = torch.NewDisposeScope();
            torch.Tensor result = data switch
            {
                "random" => torch.randn([rows, d], generator: generator),
                "clustered" => centres!.index_select(0, torch.randint(centres.shape[0], [rows], generator: generator))
                    .add(torch.randn([rows, d], generator: generator).mul_(0.5)),
                "quantile" => Quantiles(rows),
                _ => throw new ArgumentException($"--data {data} is unknown; use random, clustered or quantile."),
            };
            return result.MoveToOuterDisposeScope();
        }
        torch.Tensor Quantiles(long rows)
        {
            if (d % 16 != 0) throw new ArgumentException("--data quantile needs --d divisible by 16 (16 levels per feature).");
            var features = d / 16;
            var mean = torch.randn([rows, features, 1], generator: generator);
            var scale = torch.rand([rows, features, 1], generator: generator).add_(0.5);
            var values = torch.randn([rows, features, 16], generator: generator).mul_(0.3).mul(scale).add(mean).sort(2).Values;
            using var batch = EmbeddingBatch.Quantiles(values);
            return batch.ToEuclidean();
        }
        using var centres = data == "clustered" ? torch.randn([Math.Max(1, n / 100), d], generator: generator) : null;
        using var gallery = Make(n, centres);
        using var queries = Make(q, centres);
        var dim = (int)gallery.shape[1];
        var ids = Enumerable.Range(0, n).Select(i => (long)i).ToArray();

        var watch = Stopwatch.StartNew();
        using var exact = new ExactIndex(dim);
        exact.Add(ids, gallery);
        var truth = exact.Search(queries.narrow(0, 0, Math.Min(q, 10)), k); // warm-up (gallery concatenation, allocator)
        watch.Restart();
        truth = exact.Search(queries, k);
        var exactSeconds = watch.Elapsed.TotalSeconds;

        watch.Restart();
        using var hnsw = new HnswIndex(dim, IndexMetric.Euclidean, new HnswOptions
        {
            Connectivity = connectivity, ExpansionAdd = expansionAdd, ExpansionSearch = efs[0], Threads = threads,
        });
        hnsw.Add(ids, gallery);
        var buildSeconds = watch.Elapsed.TotalSeconds;
        var rows = new List<Dictionary<string, object>>();
        foreach (var ef in efs)
        {
            hnsw.ExpansionSearch = ef;
            hnsw.Search(queries.narrow(0, 0, Math.Min(q, 10)), k);
            watch.Restart();
            var found = hnsw.Search(queries, k);
            var seconds = watch.Elapsed.TotalSeconds;
            var hits = 0;
            for (var i = 0; i < q; i++) hits += found.IdsOf(i).Intersect(truth.IdsOf(i)).Count();
            var recall = hits / (double)(q * k);
            rows.Add(new() { ["ef"] = ef, ["recall"] = recall, ["qps"] = q / seconds, ["seconds"] = seconds });
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"HNSW ef={ef}: recall@{k} = {recall:F4}, {q / seconds:F0} queries/s ({seconds:F2} s)"));
        }
        var load1 = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"data={data} N={n} d={dim} queries={q} k={k} threads={threads} M={connectivity} ef_add={expansionAdd}; usearch {HnswIndex.NativeVersion}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"exact blocked search: {q / exactSeconds:F0} queries/s ({exactSeconds:F2} s); HNSW build {buildSeconds:F1} s ({n / buildSeconds:F0} adds/s)"));
        Console.WriteLine($"load average before: {load0}; after: {load1}");
        if (jsonPath.Length > 0)
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["data"] = data, ["n"] = n, ["d"] = dim, ["queries"] = q, ["k"] = k, ["threads"] = threads,
                ["connectivity"] = connectivity, ["expansionAdd"] = expansionAdd, ["usearch"] = HnswIndex.NativeVersion,
                ["exactQps"] = q / exactSeconds, ["exactSeconds"] = exactSeconds, ["buildSeconds"] = buildSeconds,
                ["hnsw"] = rows, ["loadBefore"] = load0, ["loadAfter"] = load1,
            }, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}
