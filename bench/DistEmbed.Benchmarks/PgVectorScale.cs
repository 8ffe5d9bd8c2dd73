using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.Retrieval;
using Npgsql;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>
/// PostgreSQL + pgvector at 10⁵ rows (issue 19, docs/scaling-out.md): N quantile embeddings [N, d, Q] exported exactly
/// under quantile-w2 (F = d·Q dimensions) into a <see cref="PgVectorTable"/>; measures the insert rate (binary COPY +
/// upsert batches, no index), exact query rate, HNSW index build time, HNSW query rate and recall@k against the exact
/// search at several ef_search values, and the upsert rate into the indexed table; one run, one connection, queries
/// sequential. The server is whatever --connection points at (the docs say how it was started).
///   pgvector --connection STR [--n N] [--d D] [--q Q] [--class-size C] [--queries M] [--k K] [--batch B]
///            [--m M] [--ef-construction E] [--build-mem MIB] [--ef 40,100,200] [--reexport R] [--seed S] [--json FILE]
/// </summary>
public static class PgVectorScale
{
    public static int Run(string[] args)
    {
        string Arg(string name, string fallback) => Program.Arg(args, name, fallback);
        int Int(string name, int fallback) => int.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
        var connection = Arg("--connection", Environment.GetEnvironmentVariable("DISTEMBED_PG") ?? "");
        if (connection.Length == 0) { Console.Error.WriteLine("pgvector: give --connection or set DISTEMBED_PG"); return 1; }
        var n = Int("--n", 100_000);
        var d = Int("--d", 16);
        var q = Int("--q", 16);
        var classSize = Int("--class-size", 20);
        var m = Int("--queries", 200);
        var k = Int("--k", 10);
        var options = new PgVectorTableOptions
        {
            BatchSize = Int("--batch", 2000), HnswM = Int("--m", 16), HnswEfConstruction = Int("--ef-construction", 64),
            IndexBuildMemoryMiB = Int("--build-mem", 1024),
        };
        var efs = Arg("--ef", "40,100,200").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var reexport = Int("--reexport", 10_000);
        var seed = (ulong)Int("--seed", 0);
        var jsonPath = Arg("--json", "");
        NativeRuntime.EnsureInitialized();
        var distance = Distance.Create("quantile-w2");

        // An item of class c: the class's normal draws plus the item's noise, sorted (a quantile function), then scaled and
        // shifted by the class's factors.
        EmbeddingBatch Make(int count, int firstItem)
        {
            torch.Tensor values;
            using (var scope = torch.NewDisposeScope())
            {
                var g = new torch.Generator(seed);
                var classes = (n + classSize - 1) / classSize;
                var centres = torch.randn([classes, d, 1], generator: g).mul(2);
                var scales = torch.rand([classes, d, 1], generator: g).add(0.5);
                var shape = torch.randn([classes, d, q], generator: g);
                // Gallery item i is of class i / classSize; query j (firstItem = n) of class j mod (the gallery's classes).
                var galleryClasses = (n + classSize - 1) / classSize;
                var items = torch.arange(firstItem, firstItem + count, dtype: torch.int64).div(classSize, rounding_mode: torch.RoundingMode.floor);
                if (firstItem >= n) items = torch.arange(0, count, dtype: torch.int64).remainder(galleryClasses);
                var own = new torch.Generator(seed + 1 + (ulong)firstItem);
                values = shape.index_select(0, items).add(torch.randn([count, d, q], generator: own).mul(0.6)).sort(2).Values
                    .mul(scales.index_select(0, items)).add(centres.index_select(0, items)).contiguous().MoveToOuterDisposeScope();
            }
            return EmbeddingBatch.Quantiles(values);
        }

        const string table = "bench_quantiles";
        using (var admin = new NpgsqlConnection(connection))
        {
            admin.Open();
            using var drop = new NpgsqlCommand($"DROP TABLE IF EXISTS {table}", admin);
            drop.ExecuteNonQuery();
            using var version = new NpgsqlCommand("SELECT version() || ' / pgvector ' || (SELECT extversion FROM pg_extension WHERE extname = 'vector')", admin);
            Console.Error.WriteLine(version.ExecuteScalar());
        }
        using var gallery = Make(n, 0);
        using var queries = Make(m, n);
        var labels = Enumerable.Range(0, n).Select(i => (long)(i / classSize)).ToArray();
        var dimension = PgVectorTable.ExportedDimension(gallery, distance);
        Console.Error.WriteLine($"N = {n}, quantile embeddings [{d}, {q}] → F = {dimension}, M = {m} queries, k = {k}");

        var watch = Stopwatch.StartNew();
        using var t = PgVectorTable.Export(connection, table, gallery, distance, null, labels, options, buildIndex: false);
        var insertSeconds = watch.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"insert: {n / insertSeconds:F0} rows/s ({insertSeconds:F1} s)");

        watch.Restart();
        var exact = t.Search(queries, distance, k, PgVectorSearchMode.Exact);
        var exactSeconds = watch.Elapsed.TotalSeconds;
        var exactSameClass = Enumerable.Range(0, m).Sum(i => exact[i].Count(h => h.Label == i % (n / classSize))) / (double)(m * k);
        Console.Error.WriteLine($"exact search: {m / exactSeconds:F1} queries/s, hits of the query's class {exactSameClass:F4}");

        watch.Restart();
        t.BuildIndex();
        var buildSeconds = watch.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"HNSW build (m = {options.HnswM}, ef_construction = {options.HnswEfConstruction}, maintenance_work_mem = {options.IndexBuildMemoryMiB} MB): {buildSeconds:F1} s");

        var hnsw = new List<Dictionary<string, object>>();
        foreach (var ef in efs)
        {
            t.Search(queries, distance, k, PgVectorSearchMode.Hnsw, Math.Max(ef, k)); // warm the index pages
            watch.Restart();
            var found = t.Search(queries, distance, k, PgVectorSearchMode.Hnsw, Math.Max(ef, k));
            var seconds = watch.Elapsed.TotalSeconds;
            var hits = Enumerable.Range(0, m).Sum(i => found[i].Select(h => h.Id).Intersect(exact[i].Select(h => h.Id)).Count());
            var recall = hits / (double)(m * k);
            var sameClass = Enumerable.Range(0, m).Sum(i => found[i].Count(h => h.Label == i % (n / classSize))) / (double)(m * k);
            Console.Error.WriteLine($"HNSW ef_search = {ef}: {m / seconds:F1} queries/s, recall@{k} = {recall:F4}, hits of the query's class {sameClass:F4}");
            hnsw.Add(new() { ["ef_search"] = ef, ["queries_per_second"] = m / seconds, ["recall_at_k"] = recall, ["same_class"] = sameClass });
        }

        // Upserts into the indexed table (rows already there: a resumed export rewrites them and updates the index).
        var r = Math.Min(reexport, n);
        using var rows = torch.arange(0, r, dtype: torch.int64);
        using var head = gallery.Select(rows);
        watch.Restart();
        t.Upsert(head, distance, Enumerable.Range(0, r).Select(i => (long)i).ToArray(), labels.Take(r).ToArray());
        var upsertSeconds = watch.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"upsert into the indexed table: {r / upsertSeconds:F0} rows/s ({r} rows)");
        if (t.Count() != n) throw new InvalidOperationException($"the table has {t.Count()} rows, expected {n}");
        long tableBytes, indexBytes;
        using (var admin = new NpgsqlConnection(connection))
        {
            admin.Open();
            using var size = new NpgsqlCommand($"SELECT pg_table_size('{table}'), pg_relation_size('{table}_hnsw')", admin);
            using var reader = size.ExecuteReader();
            reader.Read();
            (tableBytes, indexBytes) = (reader.GetInt64(0), reader.GetInt64(1));
        }
        Console.Error.WriteLine($"sizes: table {tableBytes / 1048576.0:F0} MiB, HNSW index {indexBytes / 1048576.0:F0} MiB");

        var report = new Dictionary<string, object>
        {
            ["n"] = n, ["d"] = d, ["q"] = q, ["dimension"] = dimension, ["queries"] = m, ["k"] = k, ["batch"] = options.BatchSize,
            ["insert_rows_per_second"] = n / insertSeconds, ["insert_seconds"] = insertSeconds,
            ["exact_queries_per_second"] = m / exactSeconds, ["exact_same_class"] = exactSameClass,
            ["hnsw_m"] = options.HnswM, ["hnsw_ef_construction"] = options.HnswEfConstruction, ["build_memory_mib"] = options.IndexBuildMemoryMiB,
            ["index_build_seconds"] = buildSeconds, ["hnsw"] = hnsw,
            ["indexed_upsert_rows"] = r, ["indexed_upsert_rows_per_second"] = r / upsertSeconds,
            ["table_bytes"] = tableBytes, ["index_bytes"] = indexBytes,
        };
        var json = JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (jsonPath.Length > 0) File.WriteAllText(jsonPath, json);
        return 0;
    }
}
