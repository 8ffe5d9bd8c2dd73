using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DistEmbed.IO;
using DistEmbed.Retrieval;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// <c>distembed index build|query</c>: local vector index folders (USearch HNSW or exact) over plain vectors or the
/// exact Euclidean export of distributional embeddings (quantile-w2, marginal-w2).
/// </summary>
public static class IndexLocalCommands
{
    /// <summary>The distances an index folder can be built for: cosine and euclidean on vectors, and the distances
    /// whose exact Euclidean export (<see cref="EuclideanExports"/>) turns them into Euclidean vectors.</summary>
    public static IReadOnlyList<string> Distances { get; } = ["euclidean", "cosine", "quantile-w2", "marginal-w2"];

    /// <summary>Builds <c>distembed index build</c>.</summary>
    public static Command Build()
    {
        var embeddings = new Option<string>("--embeddings") { Description = "Embeddings (.npy): [N,d] vectors, [N,d,Q] quantiles (quantile-w2) or [N,T,d] equal-length point sets (marginal-w2).", Required = true };
        var ids = new Option<string?>("--ids") { Description = "[N] ids (.npy, int64 or integer-valued float, distinct, ≥ 0); default 0 … N−1." };
        var distance = new Option<string>(DistanceSettings.DistanceNames[0], DistanceSettings.DistanceNames[1..]) { Description = $"Distance the index answers: {string.Join(", ", Distances)}.", DefaultValueFactory = _ => "euclidean" };
        var engine = new Option<string>("--engine") { Description = "hnsw (USearch, approximate) or exact (blocked exact search).", DefaultValueFactory = _ => "hnsw" };
        var defaults = new HnswOptions();
        var connectivity = new Option<int>("--connectivity") { Description = "HNSW links per node M (≥ 2).", DefaultValueFactory = _ => defaults.Connectivity };
        var expansionAdd = new Option<int>("--expansion-add") { Description = "HNSW candidate list length while adding (≥ 1).", DefaultValueFactory = _ => defaults.ExpansionAdd };
        var expansionSearch = new Option<int>("--expansion-search") { Description = "HNSW candidate list length while searching (≥ 1); saved with the index.", DefaultValueFactory = _ => defaults.ExpansionSearch };
        var precision = new Option<string>("--precision") { Description = "float32 or float64 storage.", DefaultValueFactory = _ => "float32" };
        var output = new Option<string>("--out") { Description = "The index folder to write (absent or empty; an index folder only with --overwrite).", Required = true };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace an existing index folder." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object describing the index." };
        var command = new Command("build", "Builds a local vector index folder (USearch HNSW or exact) from .npy embeddings.")
        {
            embeddings, ids, distance, engine, connectivity, expansionAdd, expansionSearch, precision, output, overwrite, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var outDir = r.GetValue(output)!;
            var name = CheckDistance(r.GetValue(distance)!);
            var engineName = r.GetValue(engine)!;
            if (engineName is not ("hnsw" or "exact"))
                throw new ArgumentException($"--engine {engineName} is unknown; use hnsw or exact.", "engine");
            var storage = r.GetValue(precision) switch
            {
                "float32" => IndexPrecision.Float32,
                "float64" => IndexPrecision.Float64,
                var p => throw new ArgumentException($"--precision {p} is unknown; use float32 or float64.", "precision"),
            };
            CheckpointFolder.Prepare(outDir, CheckpointKind.VectorIndex, r.GetValue(overwrite) ? CheckpointMode.Overwrite : CheckpointMode.New,
                [r.GetValue(embeddings), r.GetValue(ids)], "--out");
            using var scope = torch.NewDisposeScope();
            var vectors = Export(r.GetValue(embeddings)!, name, "--embeddings");
            var n = vectors.shape[0];
            var idValues = r.GetValue(ids) is { } idPath ? ReadIds(idPath, n) : Enumerable.Range(0, (int)n).Select(i => (long)i).ToArray();
            var metric = name == "cosine" ? IndexMetric.Cosine : IndexMetric.Euclidean;
            var dimension = (int)vectors.shape[1];
            var started = System.Diagnostics.Stopwatch.StartNew();
            using IVectorIndex index = engineName == "exact"
                ? new ExactIndex(dimension, metric, storage)
                : new HnswIndex(dimension, metric, new HnswOptions
                {
                    Connectivity = r.GetValue(connectivity), ExpansionAdd = r.GetValue(expansionAdd),
                    ExpansionSearch = r.GetValue(expansionSearch), Precision = storage,
                });
            index.Source = name is "euclidean" or "cosine" ? null : name;
            try
            {
                index.Add(idValues, vectors);
            }
            catch (ArgumentException e) when (e.ParamName == "ids")
            {
                throw new ArgumentException($"--ids: {OutputFiles.Bare(e)}", "ids", e);
            }
            var seconds = started.Elapsed.TotalSeconds;
            index.Save(outDir);
            var full = Path.GetFullPath(outDir);
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["index"] = full, ["engine"] = engineName == "exact" ? ExactIndex.Engine : HnswIndex.Engine, ["distance"] = name,
                    ["count"] = index.Count, ["dimension"] = dimension, ["seconds"] = Math.Round(seconds, 3),
                }));
            else
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{(engineName == "exact" ? "exact" : "HNSW")} index of {index.Count} vectors (dimension {dimension}, {name}) built in {seconds:F2} s: {full}"));
        }));
        return command;
    }

    /// <summary>Builds <c>distembed index query</c>.</summary>
    public static Command Query()
    {
        var indexDir = new Option<string>("--index") { Description = "An index folder written by 'distembed index build'.", Required = true };
        var queries = new Option<string>("--queries") { Description = "Queries (.npy) in the representation the index was built from ([Q,d], [Q,d,Q'] or [Q,T,d]).", Required = true };
        var k = new Option<int>("-k") { Description = "Neighbours per query (1 ≤ k ≤ the number of indexed vectors).", DefaultValueFactory = _ => 10 };
        var expansion = new Option<int?>("--expansion-search") { Description = "HNSW candidate list length for this query (default: the one saved with the index)." };
        var output = new Option<string?>("--out") { Description = "Write the neighbour ids to this .npy file (int64 [Q,k])." };
        var distancesOut = new Option<string?>("--distances-out") { Description = "Write the distances to this .npy file (float64 [Q,k])." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object {engine, distance, k, ids, distances}." };
        var command = new Command("query", "Searches a local vector index folder for the k nearest neighbours of each query.")
        {
            indexDir, queries, k, expansion, output, distancesOut, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var outPath = r.GetValue(output);
            var distancePath = r.GetValue(distancesOut);
            if (outPath is not null) OutputFiles.CheckWritable(outPath, "--out");
            if (distancePath is not null) OutputFiles.CheckWritable(distancePath, "--distances-out");
            if (outPath is not null && distancePath is not null) OutputFiles.CheckDistinct(outPath, "--out", distancePath, "--distances-out");
            IVectorIndex index;
            try
            {
                index = VectorIndex.Load(r.GetValue(indexDir)!);
            }
            catch (DirectoryNotFoundException e)
            {
                throw new ArgumentException($"--index: {e.Message}", "index", e);
            }
            using var _ = index;
            if (r.GetValue(expansion) is { } ef)
            {
                if (index is not HnswIndex hnsw)
                    throw new ArgumentException("--expansion-search applies to HNSW indexes only; this index is exact.", "expansion-search");
                if (ef < 1) throw new ArgumentException($"--expansion-search {ef}; it must be ≥ 1.", "expansion-search");
                hnsw.ExpansionSearch = ef;
            }
            using var scope = torch.NewDisposeScope();
            var name = index.Source ?? (index.Metric == IndexMetric.Cosine ? "cosine" : "euclidean");
            var q = Export(r.GetValue(queries)!, name, "--queries");
            SearchResult result;
            try
            {
                result = index.Search(q, r.GetValue(k));
            }
            catch (ArgumentException e) when (e.ParamName is "queries" or "k")
            {
                throw new ArgumentException($"--{e.ParamName}: {OutputFiles.Bare(e)}", e.ParamName, e);
            }
            var rows = result.Count;
            var kk = result.K;
            var flatIds = new long[rows * kk];
            var flatDistances = new double[rows * kk];
            for (var i = 0; i < rows; i++)
                for (var j = 0; j < kk; j++)
                {
                    flatIds[i * kk + j] = result.Ids[i, j];
                    flatDistances[i * kk + j] = result.Distances[i, j];
                }
            if (outPath is not null) Npy.Write(outPath, flatIds, [rows, kk]);
            if (distancePath is not null) Npy.Write(distancePath, flatDistances, [rows, kk]);
            var engineName = index is HnswIndex ? HnswIndex.Engine : ExactIndex.Engine;
            if (r.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["engine"] = engineName, ["distance"] = name, ["k"] = kk,
                    ["ids"] = Enumerable.Range(0, rows).Select(result.IdsOf).ToArray(),
                    ["distances"] = Enumerable.Range(0, rows).Select(i => Enumerable.Range(0, kk).Select(j => result.Distances[i, j]).ToArray()).ToArray(),
                }));
                return;
            }
            Console.WriteLine($"{engineName} {name}: {rows} queries, k = {kk}");
            for (var i = 0; i < rows; i++)
                Console.WriteLine($"{i}: " + string.Join("  ", Enumerable.Range(0, kk).Select(j =>
                    string.Create(CultureInfo.InvariantCulture, $"{result.Ids[i, j]} ({result.Distances[i, j]:G6})"))));
            if (outPath is not null) Console.WriteLine($"written: {Path.GetFullPath(outPath)}");
            if (distancePath is not null) Console.WriteLine($"written: {Path.GetFullPath(distancePath)}");
        }));
        return command;
    }

    private static string CheckDistance(string name) =>
        Distances.Contains(name) ? name
            : throw new ArgumentException(
                $"--distance {name} has no exact Euclidean export; an index answers {string.Join(", ", Distances)} (sliced-w2 with fixed directions: export with the library's ToEuclidean(directions)).",
                "distance");

    /// <summary>Reads embeddings and returns the [N, F] vectors the index holds for <paramref name="name"/> (in the
    /// caller's dispose scope).</summary>
    private static torch.Tensor Export(string path, string name, string option)
    {
        var representation = name switch
        {
            "quantile-w2" => Representation.Quantiles,
            "marginal-w2" => Representation.Distributions,
            _ => Representation.Vectors,
        };
        EmbeddingBatch batch;
        try
        {
            batch = Embeddings.Load(path, null, representation);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{option} {OutputFiles.Bare(e)} ({name} needs {Embeddings.Describe(representation)})", option.TrimStart('-'), e);
        }
        catch (FileNotFoundException e)
        {
            throw new ArgumentException($"{option}: {e.Message}", option.TrimStart('-'), e);
        }
        using (batch)
        {
            try
            {
                return batch.Representation == Representation.Vectors ? batch.Values.alias() : batch.ToEuclidean(Distance.Create(name));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"{option} {path}: {OutputFiles.Bare(e)}", option.TrimStart('-'), e);
            }
        }
    }

    /// <summary>Reads [N] ids from a .npy file: int64, or floats holding integers (exact up to 2^53).</summary>
    private static long[] ReadIds(string path, long n)
    {
        NpyArray array;
        try
        {
            array = Npy.Read(path);
        }
        catch (FileNotFoundException e)
        {
            throw new ArgumentException($"--ids: {e.Message}", "ids", e);
        }
        if (array.Rank != 1 || array.Count != n)
            throw new ArgumentException($"--ids {path} has shape [{string.Join(",", array.Shape)}]; it must be [{n}], one id per embedding.", "ids");
        var values = array.ToDoubleArray();
        var result = new long[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var v = values[i];
            if (!double.IsFinite(v) || v != Math.Floor(v) || Math.Abs(v) > 9007199254740992.0)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"--ids {path}: entry {i} = {v:R} is not an integer id (ids are integers in [0, 2^53])."), "ids");
            result[i] = (long)v;
        }
        return result;
    }
}
