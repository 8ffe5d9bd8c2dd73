using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

using DistEmbed.IO;
using DistEmbed.Retrieval;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// <c>distembed index export</c> and <c>distembed index search</c>: embeddings in a PostgreSQL table with pgvector
/// (<see cref="PgVectorTable"/>), exported exactly (distributional embeddings through their Euclidean export) and
/// searched exactly or through the HNSW index. The connection string comes from <c>--connection</c> or the
/// environment variable <see cref="ConnectionVariable"/>.
/// </summary>
public static class IndexDatabaseCommands
{
    /// <summary>The environment variable read when <c>--connection</c> is not given.</summary>
    public const string ConnectionVariable = "DISTEMBED_PG";

    /// <summary>Builds <c>index export</c>.</summary>
    /// <returns>The command.</returns>
    public static Command Export()
    {
        var embeddings = new Option<string>("--embeddings") { Description = "Embeddings (.npy): [N,d] vectors, [N,d,Q] quantile functions or [N,T,d] equal-length distributions.", Required = true };
        var labels = new Option<string?>("--labels") { Description = "[N] int32 or int64 labels (.npy), stored with the rows." };
        var ids = new Option<string?>("--ids") { Description = "[N] int32 or int64 distinct ids (.npy); default 0 … N−1. Rows with an id already in the table are replaced." };
        var levels = new Option<string?>("--levels") { Description = "[Q] quantile levels (.npy) of [N,d,Q] embeddings (as written by 'distembed embed'); default midpoints (q−½)/Q." };
        var distance = new Option<string?>(DistanceSettings.DistanceNames[0], DistanceSettings.DistanceNames[1..]) { Description = "What the table's L2 distances stand for: euclidean ([N,d]), quantile-w2 ([N,d,Q]) or marginal-w2 ([N,T,d]); default euclidean for [N,d], marginal-w2 for rank 3." };
        var table = TableOption();
        var connection = ConnectionOption();
        var batchSize = new Option<int>("--batch-size") { Description = "Rows per write transaction (binary COPY + upsert); an interrupted export keeps the committed batches.", DefaultValueFactory = _ => new PgVectorTableOptions().BatchSize };
        var noIndex = new Option<bool>("--no-index") { Description = "Do not build the HNSW index (exact search only, or build it with a later export)." };
        var m = new Option<int>("--m") { Description = "HNSW m (links per node).", DefaultValueFactory = _ => new PgVectorTableOptions().HnswM };
        var efConstruction = new Option<int>("--ef-construction") { Description = "HNSW ef_construction (candidates while building).", DefaultValueFactory = _ => new PgVectorTableOptions().HnswEfConstruction };
        var createExtension = new Option<bool>("--create-extension") { Description = "Run CREATE EXTENSION vector when the database lacks it (needs the right to)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object {table, rows, dimension, distance, index, seconds}." };
        var command = new Command("export",
            "Exports embeddings (id, label, vector) into a PostgreSQL table with pgvector and an HNSW index; distributional embeddings go in through their exact Euclidean export, so the table's L2 is their Wasserstein distance.");
        foreach (var o in new Option[] { embeddings, labels, ids, levels, distance, table, connection, batchSize, noIndex, m, efConstruction, createExtension, json })
            command.Options.Add(o);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var options = new PgVectorTableOptions
            {
                BatchSize = r.GetValue(batchSize), HnswM = r.GetValue(m), HnswEfConstruction = r.GetValue(efConstruction),
                CreateExtension = r.GetValue(createExtension),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                var message = e.Message.Replace(" (Parameter 'options')", "", StringComparison.Ordinal).Replace("options.BatchSize", "--batch-size", StringComparison.Ordinal)
                    .Replace("options.HnswEfConstruction", "--ef-construction", StringComparison.Ordinal).Replace("options.HnswM", "--m", StringComparison.Ordinal)
                    .Replace("2·HnswM", "2·--m", StringComparison.Ordinal);
                throw new ArgumentException(message, "options", e);
            }
            var connectionString = ConnectionString(r.GetValue(connection));
            var path = Existing(r.GetValue(embeddings)!, "--embeddings");
            var rank = Npy.Read(path).Rank;
            if (rank is < 2 or > 3)
                throw new ArgumentException($"--embeddings {path} has rank {rank}; it must be [N,d] vectors, [N,d,Q] quantiles or [N,T,d] distributions.", "embeddings");
            var name = r.GetValue(distance) ?? (rank == 2 ? "euclidean" : "marginal-w2");
            var d = ExportDistance(name, rank);
            using var scope = torch.NewDisposeScope();
            using var batch = Load(path, r.GetValue(levels), d, "--embeddings");
            var idValues = r.GetValue(ids) is { } idsPath ? ReadIntegers(Existing(idsPath, "--ids"), "--ids") : null;
            var labelValues = r.GetValue(labels) is { } labelsPath ? ReadIntegers(Existing(labelsPath, "--labels"), "--labels") : null;
            if (idValues is not null && idValues.Length != batch.Count)
                throw new ArgumentException($"--ids has {idValues.Length} entries but --embeddings has {batch.Count} rows; give one id per row.", "ids");
            if (labelValues is not null && labelValues.Length != batch.Count)
                throw new ArgumentException($"--labels has {labelValues.Length} entries but --embeddings has {batch.Count} rows; give one label per row.", "labels");
            var watch = Stopwatch.StartNew();
            using var t = Renamed(() => PgVectorTable.Export(connectionString, r.GetValue(table)!, batch, d, idValues, labelValues, options, buildIndex: !r.GetValue(noIndex)));
            var seconds = watch.Elapsed.TotalSeconds;
            var rows = t.Count();
            var indexed = t.HasIndex();
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["table"] = t.Table, ["rows"] = rows, ["exported"] = batch.Count, ["dimension"] = t.Dimension,
                    ["distance"] = t.Distance, ["index"] = indexed, ["seconds"] = seconds,
                }));
            else
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"exported {batch.Count} rows into {t.Table} ({t.Dimension}-dimensional, L2 = {t.Distance}; {rows} rows in all{(indexed ? ", HNSW index" : ", no index")}) in {seconds:F1} s"));
        }));
        return command;
    }

    /// <summary>Builds <c>index search</c>.</summary>
    /// <returns>The command.</returns>
    public static Command Search()
    {
        var queries = new Option<string>("--queries") { Description = "Query embeddings (.npy) of the kind the table holds: [M,d] vectors, [M,d,Q] quantiles or [M,T,d] distributions.", Required = true };
        var k = new Option<int>("-k") { Description = "Neighbours per query.", DefaultValueFactory = _ => 10 };
        var levels = new Option<string?>("--levels") { Description = "[Q] quantile levels (.npy) of [M,d,Q] queries; default midpoints." };
        var table = TableOption();
        var connection = ConnectionOption();
        var exact = new Option<bool>("--exact") { Description = "Exact search (sequential scan ordered by distance, ties to the smaller id) instead of the HNSW index." };
        var efSearch = new Option<int>("--ef-search") { Description = "HNSW ef_search in [k, 1000]; 0 = max(40, k).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object {table, distance, mode, k, neighbours: [[{id, label, distance}]]}." };
        var command = new Command("search",
            "The k nearest rows of a PostgreSQL pgvector table to each query, exactly or through the HNSW index; queries are exported like the table's rows.");
        foreach (var o in new Option[] { queries, k, levels, table, connection, exact, efSearch, json }) command.Options.Add(o);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var kk = r.GetValue(k);
            if (kk < 1) throw new ArgumentException($"-k {kk}; it must be ≥ 1.", "k");
            var connectionString = ConnectionString(r.GetValue(connection));
            using var t = Renamed(() => PgVectorTable.Open(connectionString, r.GetValue(table)!));
            var path = Existing(r.GetValue(queries)!, "--queries");
            var rank = Npy.Read(path).Rank;
            if (t.Distance == "euclidean" ? rank != 2 : rank != 3)
                throw new ArgumentException(
                    $"--queries {path} has rank {rank} but table '{t.Table}' holds {t.Distance} exports of {(t.Distance == "euclidean" ? "[N,d] vectors" : "rank-3 embeddings")}; query with embeddings of the same kind.", "queries");
            var d = ExportDistance(t.Distance, rank);
            var mode = r.GetValue(exact) ? PgVectorSearchMode.Exact : PgVectorSearchMode.Hnsw;
            using var scope = torch.NewDisposeScope();
            using var batch = Load(path, r.GetValue(levels), d, "--queries");
            var hits = Renamed(() => t.Search(batch, d, kk, mode, r.GetValue(efSearch)));
            if (r.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["table"] = t.Table, ["distance"] = t.Distance, ["mode"] = mode == PgVectorSearchMode.Exact ? "exact" : "hnsw", ["k"] = kk,
                    ["neighbours"] = hits.Select(row => row.Select(h => new Dictionary<string, object?> { ["id"] = h.Id, ["label"] = h.Label, ["distance"] = h.Distance }).ToArray()).ToArray(),
                }));
                return;
            }
            Console.WriteLine($"{hits.Length} queries, k = {kk}, {(mode == PgVectorSearchMode.Exact ? "exact" : "HNSW")} search in {t.Table} ({t.Distance})");
            for (var i = 0; i < hits.Length; i++)
                Console.WriteLine($"{i}: " + string.Join("  ", hits[i].Select(h =>
                    string.Create(CultureInfo.InvariantCulture, $"{h.Id}{(h.Label is { } l ? $" [{l}]" : "")} {h.Distance:G6}"))));
        }));
        return command;
    }

    private static string Existing(string path, string option) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{option} {path}: no such file.", path);

    private static Option<string> TableOption() => new("--table")
    {
        Description = "The table: lowercase letters, digits and _ (optionally schema.table).", Required = true,
    };

    private static Option<string?> ConnectionOption() => new("--connection")
    {
        Description = $"Npgsql connection string (Host=…;Port=…;Username=…;Password=…;Database=…); default: the environment variable {ConnectionVariable}.",
    };

    /// <summary>The connection string from the option or <see cref="ConnectionVariable"/>.</summary>
    private static string ConnectionString(string? given)
    {
        if (!string.IsNullOrWhiteSpace(given)) return given;
        var fromEnvironment = Environment.GetEnvironmentVariable(ConnectionVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment)) return fromEnvironment;
        throw new ArgumentException(
            $"no database given: pass --connection \"Host=…;Port=…;Username=…;Password=…;Database=…\" or set {ConnectionVariable}.", "connection");
    }

    /// <summary>The distance of an export, checked against the embeddings' rank.</summary>
    private static Distance ExportDistance(string name, int rank)
    {
        var d = DistanceSettings.Create(name, new DistEmbed.DistanceSettings());
        if (name is not ("euclidean" or "quantile-w2" or "marginal-w2"))
            throw new ArgumentException(
                $"--distance {name} has no exact Euclidean export here; use euclidean ([N,d]), quantile-w2 ([N,d,Q]) or marginal-w2 ([N,T,d]) (sliced-w2 needs fixed directions: export with the library, EuclideanExports.ToEuclidean(batch, directions)).", "distance");
        if ((rank == 2) != (d.Accepts == Representation.Vectors))
            throw new ArgumentException(
                $"--distance {name} reads {Embeddings.Describe(d.Accepts)}, but the embeddings have rank {rank}.", "distance");
        return d;
    }

    private static EmbeddingBatch Load(string path, string? levelsPath, Distance distance, string option)
    {
        if (levelsPath is not null && distance.Accepts != Representation.Quantiles)
            throw new ArgumentException($"--levels belongs to [N,d,Q] quantile embeddings; it does not apply to {distance.Name}.", "levels");
        try
        {
            if (levelsPath is null) return Embeddings.Load(path, null, distance.Accepts);
            var values = Npy.ReadTensor(path);
            var levels = Npy.ReadTensor(levelsPath, dtype: values.dtype);
            return EmbeddingBatch.Quantiles(values, levels);
        }
        catch (ArgumentException e) when (e.ParamName is not null)
        {
            throw new ArgumentException($"{option}: " + e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal), option.TrimStart('-'), e);
        }
    }

    /// <summary>[N] int32 or int64 values of a .npy file (Npy.Read rejects int64 values beyond 2^53, which a float64 cannot hold exactly).</summary>
    private static long[] ReadIntegers(string path, string option)
    {
        var array = Npy.Read(path);
        if (array.SourceDType is not ("<i8" or "<i4"))
            throw new ArgumentException($"{option} {path} has dtype {array.SourceDType}; it must be int32 or int64 (e.g. np.save(path, a.astype(np.int64))).", option.TrimStart('-'));
        if (array.Rank != 1)
            throw new ArgumentException($"{option} {path} has shape [{string.Join(",", array.Shape)}]; it must be one-dimensional [N].", option.TrimStart('-'));
        return Array.ConvertAll(array.ToDoubleArray(), v => (long)v);
    }

    /// <summary>Runs a library call, renaming the library's argument names to the command's options.</summary>
    private static T Renamed<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (ArgumentException e) when (e.ParamName is { } p && Options.TryGetValue(p, out var option))
        {
            var message = e.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal);
            throw new ArgumentException($"{option}: {message}", option.TrimStart('-'), e);
        }
    }

    private static void Renamed(Action call) => Renamed(() => { call(); return true; });

    private static readonly Dictionary<string, string> Options = new()
    {
        ["table"] = "--table", ["connectionString"] = "--connection", ["ids"] = "--ids", ["labels"] = "--labels",
        ["batch"] = "--embeddings", ["dimension"] = "--table", ["distance"] = "--distance", ["queries"] = "--queries",
        ["k"] = "-k", ["efSearch"] = "--ef-search",
    };
}
