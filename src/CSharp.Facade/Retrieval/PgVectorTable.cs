using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using DistEmbed.Core;
using Npgsql;
using NpgsqlTypes;
using Pgvector;
using Pgvector.Npgsql;
using TorchSharp;

namespace DistEmbed.Retrieval;

/// <summary>
/// A table of embeddings in PostgreSQL with pgvector: rows (id, label, vector) with an HNSW index under L2
/// (<c>vector_l2_ops</c>), written in batches by idempotent upserts keyed by id and searched exactly or through the index.
/// Distributional embeddings go in through their exact Euclidean export (<see cref="EuclideanExports"/>), so that the
/// table's L2 distances are the Wasserstein distances: quantile-w2 (marginal W2 of quantile embeddings), marginal-w2 of
/// equal-length point sets, or sliced-w2 with fixed directions.
/// </summary>
/// <remarks>
/// <para>Layout: <c>CREATE TABLE t (id bigint PRIMARY KEY, label bigint, embedding vector(F) NOT NULL)</c>, with the
/// table's comment holding DistEmbed's metadata (<c>{"format":"distembed-pgvector/1","dimension":F,"distance":NAME,"export":{…}}</c>),
/// checked against the column's declared dimension whenever the table is opened. <c>export</c>, written by
/// <see cref="Export"/> and by the first <see cref="Upsert(EmbeddingBatch, Distance, long[], long[], IProgress{long}, CancellationToken)"/>
/// of embeddings, records the map that made the rows: for quantile-w2 <c>{"map":"quantile-values-times-sqrt-level-mass",
/// "features":d,"levels":[τ_1, …, τ_Q]}</c> (the rows are a_kq·√w_q with w_q the masses of those levels), for marginal-w2
/// <c>{"map":"sorted-coordinates-over-sqrt-points","features":d,"points":T}</c>, for euclidean <c>{"map":"identity",
/// "features":F}</c>. Opening checks it against the dimension; every later upsert or search of embeddings checks that
/// they are exported the same way (the same levels within 1e-6, the same T and d), because embeddings of another level
/// set or length can export to the same F while their L2 distances are no longer the table's distance. The index is
/// <c>t_hnsw</c>, <c>USING hnsw (embedding vector_l2_ops) WITH (m, ef_construction)</c>.</para>
/// <para>Writes: each batch of <see cref="PgVectorTableOptions.BatchSize"/> rows is one transaction (a binary COPY into a
/// temporary staging table, then <c>INSERT … ON CONFLICT (id) DO UPDATE</c>), so an interrupted export keeps the batches
/// it committed and exporting again rewrites them in place: never a duplicate id.</para>
/// <para>Search: <see cref="PgVectorSearchMode.Exact"/> turns index scans off and orders by (distance, id), the exact
/// k nearest rows with ties to the smaller id; <see cref="PgVectorSearchMode.Hnsw"/> turns sequential scans off and
/// sets <c>hnsw.ef_search</c> (Malkov and Yashunin, arXiv:1603.09320, Algorithm 5, ef). pgvector stores float32 and
/// computes distances in float32, so a float64 export is rounded once on the way in.</para>
/// <para>Every failure to reach or use the server is a <see cref="PgVectorException"/> whose one-line message names
/// the problem (unreachable server, rejected credentials, missing database, extension, table or index) and the server
/// (host, port, database, user; never the password).</para>
/// </remarks>
public sealed partial class PgVectorTable : IDisposable
{
    /// <summary>The largest dimension of pgvector's <c>vector</c> type.</summary>
    public const int MaxDimension = 16000;

    /// <summary>The largest dimension pgvector's HNSW index takes on <c>vector</c> columns.</summary>
    public const int MaxIndexedDimension = 2000;

    private const string Format = "distembed-pgvector/1";
    private const int QueriesPerRoundTrip = 64;

    private readonly NpgsqlDataSource source;
    private readonly string where;
    private readonly string user;
    private readonly string database;
    private readonly string quoted;
    private readonly string indexName;
    private readonly PgVectorTableOptions options;
    private ExportLayout? layout;

    private PgVectorTable(string connectionString, string table, PgVectorTableOptions? options)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        ArgumentNullException.ThrowIfNull(table);
        CheckTableName(table);
        this.options = options ?? new PgVectorTableOptions();
        this.options.Validate();
        NpgsqlConnectionStringBuilder parsed;
        try
        {
            parsed = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"connectionString is not a valid PostgreSQL connection string: {IO.ArgumentMessages.Bare(e)}", nameof(connectionString), e);
        }
        if (string.IsNullOrWhiteSpace(parsed.Host))
            throw new ArgumentException("connectionString has no Host (e.g. Host=localhost;Port=5432;Username=me;Database=db).", nameof(connectionString));
        user = parsed.Username ?? Environment.GetEnvironmentVariable("PGUSER") ?? Environment.UserName;
        database = parsed.Database ?? user;
        where = parsed.Host.StartsWith('/')
            ? $"at socket {parsed.Host.TrimEnd('/')}/.s.PGSQL.{parsed.Port} (database '{database}', user '{user}')"
            : $"at {parsed.Host}:{parsed.Port} (database '{database}', user '{user}')";
        Table = table;
        quoted = string.Join(".", table.Split('.').Select(p => $"\"{p}\""));
        indexName = table.Split('.')[^1] + "_hnsw";
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        source = builder.Build();
    }

    /// <summary>The table's name (<c>name</c> or <c>schema.name</c>).</summary>
    public string Table { get; }

    /// <summary>The vectors' dimension F (the column is <c>vector(F)</c>).</summary>
    public int Dimension { get; private set; }

    /// <summary>The distance the table's L2 distances stand for: <c>euclidean</c> for plain vectors, or the catalog
    /// name of the distance whose exact Euclidean export the rows are (e.g. <c>quantile-w2</c>).</summary>
    public string Distance { get; private set; } = "";

    /// <summary>The quantile levels τ_1 … τ_Q of a table of quantile-w2 exports (the levels its rows were exported at;
    /// queries must have the same levels), or null for any other table or one that has no embeddings yet.</summary>
    public IReadOnlyList<double>? QuantileLevels => layout?.Levels is { } levels ? Array.AsReadOnly(levels) : null;

    /// <summary>Opens a table that DistEmbed created, checking the server, the extension and the table's metadata.</summary>
    /// <param name="connectionString">An Npgsql connection string (Host, Port, Username, Password, Database, …).</param>
    /// <param name="table">The table: lowercase letters, digits and _ (optionally <c>schema.table</c>).</param>
    /// <param name="options">Settings of later writes and index builds, or null for the defaults.</param>
    /// <returns>The table; dispose it to close its connections.</returns>
    /// <exception cref="ArgumentException">A malformed connection string (names connectionString) or table name (names table); bad options (names options).</exception>
    /// <exception cref="PgVectorException">The server is unreachable or refuses the user, the database, the pgvector
    /// extension or the table is missing, or the table was not written by DistEmbed.</exception>
    public static PgVectorTable Open(string connectionString, string table, PgVectorTableOptions? options = null)
    {
        var t = new PgVectorTable(connectionString, table, options);
        try
        {
            using var conn = t.Connect();
            t.ReadMetadata(conn, mustExist: true);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Creates the table for F-dimensional vectors standing for a distance, or opens it if it exists with the
    /// same dimension and distance.</summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <param name="table">The table: lowercase letters, digits and _ (optionally <c>schema.table</c>).</param>
    /// <param name="dimension">F in [1, <see cref="MaxDimension"/>].</param>
    /// <param name="distance">What the L2 distances stand for: <c>euclidean</c> for plain vectors, or the distance whose
    /// exact export the vectors are (lowercase letters, digits and -).</param>
    /// <param name="options">Settings, or null for the defaults.</param>
    /// <returns>The table.</returns>
    /// <exception cref="ArgumentException">Bad arguments (named); an existing table of another dimension (names dimension) or distance (names distance).</exception>
    /// <exception cref="PgVectorException">As for <see cref="Open"/>.</exception>
    public static PgVectorTable Create(string connectionString, string table, int dimension, string distance = "euclidean", PgVectorTableOptions? options = null) =>
        CreateCore(connectionString, table, dimension, distance, null, options);

    private static PgVectorTable CreateCore(string connectionString, string table, int dimension, string distance, ExportLayout? layout, PgVectorTableOptions? options)
    {
        Require.Between(nameof(dimension), dimension, 1, MaxDimension);
        ArgumentNullException.ThrowIfNull(distance);
        if (!DistanceName().IsMatch(distance))
            throw new ArgumentException($"distance = '{distance}'; it must be a distance name of lowercase letters, digits and - (e.g. euclidean, quantile-w2).", nameof(distance));
        var t = new PgVectorTable(connectionString, table, options);
        try
        {
            using var conn = t.Connect();
            if (t.ReadMetadata(conn, mustExist: false))
            {
                if (t.Dimension != dimension)
                    throw new ArgumentException(
                        $"table '{table}' holds {t.Dimension}-dimensional vectors ({t.Distance}) but these have {dimension} dimensions; export into another table or drop it.", nameof(dimension));
                if (t.Distance != distance)
                    throw new ArgumentException(
                        $"table '{table}' holds exports of {t.Distance}, not {distance}; export into another table or drop it.", nameof(distance));
                if (layout is not null) t.AgreeOnLayout(conn, layout, "batch");
                return t;
            }
            var meta = t.Metadata(dimension, distance, layout);
            t.Run(() =>
            {
                using var tx = conn.BeginTransaction();
                Execute(conn, tx, $"CREATE TABLE {t.quoted} (id bigint PRIMARY KEY, label bigint, embedding vector({dimension}) NOT NULL)");
                Execute(conn, tx, $"COMMENT ON TABLE {t.quoted} IS '{meta.Replace("'", "''", StringComparison.Ordinal)}'");
                tx.Commit();
            });
            t.Dimension = dimension;
            t.Distance = distance;
            t.layout = layout;
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Exports a batch of embeddings into a table in one call: creates the table (or opens it, checking its
    /// dimension and distance), upserts the rows' exact Euclidean exports and builds the HNSW index.</summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <param name="table">The table.</param>
    /// <param name="batch">N embeddings: vectors (euclidean), quantile functions (quantile-w2) or equal-length uniform
    /// distributions (marginal-w2).</param>
    /// <param name="distance">The distance whose exact export is stored (<see cref="EuclideanExports.ToEuclidean(EmbeddingBatch, Distance)"/>).</param>
    /// <param name="ids">N distinct ids, or null for 0 … N − 1.</param>
    /// <param name="labels">N labels, or null (no labels).</param>
    /// <param name="options">Settings, or null for the defaults.</param>
    /// <param name="buildIndex">Build the HNSW index after the rows are in (true), or leave the table without one.</param>
    /// <param name="progress">Receives the rows written so far after each committed batch, or null.</param>
    /// <param name="cancellationToken">Stops between batches; the committed ones stay, and exporting again resumes without duplicates.</param>
    /// <returns>The table.</returns>
    /// <exception cref="ArgumentException">A distance without an exact export (names distance); bad ids, labels or batch
    /// (named); an existing table whose rows were exported differently — other quantile levels, feature count or number
    /// of points (names batch).</exception>
    /// <exception cref="PgVectorException">As for <see cref="Open"/>.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public static PgVectorTable Export(string connectionString, string table, EmbeddingBatch batch, Distance distance,
        long[]? ids = null, long[]? labels = null, PgVectorTableOptions? options = null, bool buildIndex = true,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(distance);
        return ExportCore(connectionString, table, batch.Core, distance.Core, ids, labels, options, buildIndex, progress, cancellationToken);
    }

    internal static PgVectorTable ExportCore(string connectionString, string table, IEmbeddingBatch batch, IDistance distance,
        long[]? ids, long[]? labels, PgVectorTableOptions? options, bool buildIndex,
        IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var dimension = ExportedDimensionCore(batch, distance);
        if (buildIndex && dimension > MaxIndexedDimension)
            throw new ArgumentException(
                $"batch exports to {dimension} dimensions under {distance.Name}; pgvector's HNSW index takes at most {MaxIndexedDimension} (export without the index, or use fewer quantile levels or dimensions).", nameof(batch));
        var t = CreateCore(connectionString, table, dimension, distance.Name, LayoutOf(batch, distance, dimension), options);
        try
        {
            t.UpsertCore(batch, distance, ids, labels, progress, cancellationToken);
            if (buildIndex) t.BuildIndex();
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>The dimension F of a batch's exact Euclidean export under a distance.</summary>
    /// <param name="batch">A non-empty batch.</param>
    /// <param name="distance">A distance with an exact export.</param>
    /// <returns>F.</returns>
    /// <exception cref="ArgumentException">An empty batch (names batch); a distance without an exact export (names distance).</exception>
    public static int ExportedDimension(EmbeddingBatch batch, Distance distance)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(distance);
        return ExportedDimensionCore(batch.Core, distance.Core);
    }

    internal static int ExportedDimensionCore(IEmbeddingBatch batch, IDistance distance)
    {
        if (batch.Count < 1) throw new ArgumentException("batch is empty; there is nothing to export.", nameof(batch));
        using var scope = torch.NewDisposeScope();
        using var first = torch.zeros(1, dtype: torch.int64, device: batch.Device);
        using var one = batch.Select(first);
        return (int)EuclideanExport.For(distance, one).shape[1];
    }

    /// <summary>The number of rows.</summary>
    /// <returns>count(*) of the table.</returns>
    /// <exception cref="PgVectorException">The server fails.</exception>
    public long Count()
    {
        using var conn = Connect();
        return Run(() => Scalar<long>(conn, null, $"SELECT count(*) FROM {quoted}"));
    }

    /// <summary>Whether the table has its HNSW index.</summary>
    /// <returns>True when the index <c>{table}_hnsw</c> exists.</returns>
    /// <exception cref="PgVectorException">The server fails.</exception>
    public bool HasIndex()
    {
        using var conn = Connect();
        return Run(() => HasIndex(conn));
    }

    /// <summary>Builds the HNSW index under L2 (<c>vector_l2_ops</c>) with the options' m and ef_construction, if the
    /// table lacks it. Rows upserted later are added to it by PostgreSQL.</summary>
    /// <exception cref="ArgumentException">The dimension exceeds <see cref="MaxIndexedDimension"/> (names Dimension).</exception>
    /// <exception cref="PgVectorException">The server fails.</exception>
    public void BuildIndex()
    {
        if (Dimension > MaxIndexedDimension)
            throw new ArgumentException(
                $"table '{Table}' holds {Dimension}-dimensional vectors; pgvector's HNSW index takes at most {MaxIndexedDimension}.", nameof(Dimension));
        using var conn = Connect();
        Run(() =>
        {
            using var tx = conn.BeginTransaction();
            if (options.IndexBuildMemoryMiB > 0)
                Execute(conn, tx, $"SET LOCAL maintenance_work_mem = '{options.IndexBuildMemoryMiB}MB'");
            Execute(conn, tx,
                $"CREATE INDEX IF NOT EXISTS \"{indexName}\" ON {quoted} USING hnsw (embedding vector_l2_ops) WITH (m = {options.HnswM}, ef_construction = {options.HnswEfConstruction})");
            tx.Commit();
        });
    }

    /// <summary>Upserts rows of plain vectors: rows with a new id are inserted, rows with an existing id replace it.</summary>
    /// <param name="ids">N distinct ids.</param>
    /// <param name="labels">N labels, or null (the rows get no label).</param>
    /// <param name="vectors">[N, F] finite values, F = <see cref="Dimension"/>.</param>
    /// <param name="progress">Receives the rows written so far after each committed batch, or null.</param>
    /// <param name="cancellationToken">Stops between batches (committed batches stay).</param>
    /// <returns>N.</returns>
    /// <exception cref="ArgumentException">Duplicate ids (names ids); labels of another length (names labels); vectors of
    /// another count or dimension, or non-finite (names vectors).</exception>
    /// <exception cref="PgVectorException">The server fails.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public long Upsert(long[] ids, long[]? labels, float[,] vectors, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        CheckVectors(nameof(vectors), vectors.GetLength(0), vectors.GetLength(1), ids?.Length ?? 0, "rows");
        CheckFinite(nameof(vectors), vectors);
        var f = Dimension;
        return Write(ids!, labels, (start, count) =>
        {
            var rows = new float[count * f];
            Buffer.BlockCopy(vectors, start * f * sizeof(float), rows, 0, count * f * sizeof(float));
            return rows;
        }, progress, cancellationToken);
    }

    /// <summary>Upserts rows of vectors held in a tensor (e.g. an export with <see cref="EuclideanExports"/>).</summary>
    /// <param name="ids">N distinct ids.</param>
    /// <param name="labels">N labels, or null.</param>
    /// <param name="vectors">[N, F] float32 or float64 finite values, any device.</param>
    /// <param name="progress">Receives the rows written so far after each committed batch, or null.</param>
    /// <param name="cancellationToken">Stops between batches (committed batches stay).</param>
    /// <returns>N.</returns>
    /// <exception cref="ArgumentException">As for the float[,] overload.</exception>
    /// <exception cref="PgVectorException">The server fails.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public long Upsert(long[] ids, long[]? labels, torch.Tensor vectors, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        if (vectors.dim() != 2)
            throw new ArgumentException($"vectors has shape [{string.Join(",", vectors.shape)}]; it must be [N, F].", nameof(vectors));
        CheckVectors(nameof(vectors), vectors.shape[0], vectors.shape[1], ids?.Length ?? 0, "rows");
        using var host = ToHostFloat32(nameof(vectors), vectors);
        return Write(ids!, labels, (start, count) =>
        {
            using var scope = torch.NewDisposeScope();
            return host.narrow(0, start, count).contiguous().data<float>().ToArray();
        }, progress, cancellationToken);
    }

    /// <summary>Upserts the exact Euclidean exports of a batch of embeddings, chunk by chunk (memory: one chunk's export).</summary>
    /// <param name="batch">N embeddings of the representation the distance accepts.</param>
    /// <param name="distance">The table's <see cref="Distance"/>, with an exact Euclidean export.</param>
    /// <param name="ids">N distinct ids, or null for 0 … N − 1.</param>
    /// <param name="labels">N labels, or null.</param>
    /// <param name="progress">Receives the rows written so far after each committed batch, or null.</param>
    /// <param name="cancellationToken">Stops between batches (committed batches stay).</param>
    /// <returns>N.</returns>
    /// <exception cref="ArgumentException">Another distance than the table's (names distance); an export of another
    /// dimension, or embeddings exported differently from the table's rows — other quantile levels, feature count or
    /// number of points (names batch); bad ids or labels (named).</exception>
    /// <exception cref="PgVectorException">The server fails.</exception>
    /// <exception cref="OperationCanceledException">Cancelled.</exception>
    public long Upsert(EmbeddingBatch batch, Distance distance, long[]? ids = null, long[]? labels = null,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(distance);
        return UpsertCore(batch.Core, distance.Core, ids, labels, progress, cancellationToken);
    }

    internal long UpsertCore(IEmbeddingBatch batch, IDistance distance, long[]? ids, long[]? labels,
        IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        CheckDistance(distance);
        var n = batch.Count;
        ids ??= Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        var dimension = ExportedDimensionCore(batch, distance);
        if (dimension != Dimension)
            throw new ArgumentException(
                $"batch exports to {dimension} dimensions under {distance.Name} but table '{Table}' holds {Dimension}-dimensional vectors; export into another table.", nameof(batch));
        CheckVectors(nameof(batch), n, dimension, ids.Length, "items");
        using (var conn = Connect())
            AgreeOnLayout(conn, LayoutOf(batch, distance, dimension), nameof(batch));
        return Write(ids, labels, (start, count) =>
        {
            using var scope = torch.NewDisposeScope();
            var rows = torch.arange(start, start + count, dtype: torch.int64, device: batch.Device);
            using var chunk = batch.Select(rows);
            var exported = EuclideanExport.For(distance, chunk);
            TensorFinite("batch", exported, start);
            return exported.to_type(torch.ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        }, progress, cancellationToken);
    }

    /// <summary>The k nearest rows to each query vector.</summary>
    /// <param name="queries">[M, F] finite query vectors, F = <see cref="Dimension"/>.</param>
    /// <param name="k">Neighbours per query, ≥ 1 (fewer come back when the table has fewer rows).</param>
    /// <param name="mode">Exact (sequential scan, ties to the smaller id) or through the HNSW index.</param>
    /// <param name="efSearch">HNSW: <c>hnsw.ef_search</c> in [k, 1000]; 0 = max(40, k) (pgvector's default is 40 and
    /// an HNSW scan returns at most ef_search rows). Ignored by exact search.</param>
    /// <returns>For each query its neighbours, nearest first.</returns>
    /// <exception cref="ArgumentException">queries of another dimension or non-finite (names queries); k or efSearch out of range (named).</exception>
    /// <exception cref="PgVectorException">The server fails; HNSW search on a table without its index (<see cref="PgVectorProblem.MissingIndex"/>).</exception>
    public PgVectorHit[][] Search(float[,] queries, int k, PgVectorSearchMode mode = PgVectorSearchMode.Exact, int efSearch = 0)
    {
        ArgumentNullException.ThrowIfNull(queries);
        CheckQueryDimension(queries.GetLength(1));
        CheckFinite(nameof(queries), queries);
        var f = Dimension;
        return SearchRows(queries.GetLength(0), (i, row) => Buffer.BlockCopy(queries, i * f * sizeof(float), row, 0, f * sizeof(float)), k, mode, efSearch);
    }

    /// <summary>The k nearest rows to each query embedding, under the table's distance (the queries are exported the same way).</summary>
    /// <param name="queries">M embeddings of the representation the distance accepts.</param>
    /// <param name="distance">The table's <see cref="Distance"/>.</param>
    /// <param name="k">Neighbours per query, ≥ 1.</param>
    /// <param name="mode">Exact or HNSW.</param>
    /// <param name="efSearch">HNSW: ef_search in [k, 1000]; 0 = max(40, k).</param>
    /// <returns>For each query its neighbours, nearest first; the distances are the table's distance.</returns>
    /// <exception cref="ArgumentException">Another distance (names distance); an export of another dimension, or queries
    /// exported differently from the table's rows — other quantile levels, feature count or number of points (names
    /// queries); k or efSearch out of range.</exception>
    /// <exception cref="PgVectorException">As for the float[,] overload.</exception>
    public PgVectorHit[][] Search(EmbeddingBatch queries, Distance distance, int k, PgVectorSearchMode mode = PgVectorSearchMode.Exact, int efSearch = 0)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(distance);
        return SearchCore(queries.Core, distance.Core, k, mode, efSearch);
    }

    internal PgVectorHit[][] SearchCore(IEmbeddingBatch queries, IDistance distance, int k, PgVectorSearchMode mode, int efSearch)
    {
        ArgumentNullException.ThrowIfNull(queries);
        CheckDistance(distance);
        using var scope = torch.NewDisposeScope();
        var exported = EuclideanExport.For(distance, queries);
        CheckQueryDimension((int)exported.shape[1]);
        if (layout is not null) CheckLayout(LayoutOf(queries, distance, Dimension), "queries");
        using var host = ToHostFloat32(nameof(queries), exported);
        var values = host.data<float>().ToArray();
        var f = Dimension;
        return SearchRows(queries.Count, (i, row) => Array.Copy(values, (long)i * f, row, 0, f), k, mode, efSearch);
    }

    /// <summary>Closes the table's connections.</summary>
    public void Dispose() => source.Dispose();

    private PgVectorHit[][] SearchRows(int m, Action<int, float[]> fill, int k, PgVectorSearchMode mode, int efSearch)
    {
        Require.AtLeast(nameof(k), k, 1);
        if (mode is not (PgVectorSearchMode.Exact or PgVectorSearchMode.Hnsw))
            throw new ArgumentException($"mode = {mode}; it must be Exact or Hnsw.", nameof(mode));
        var ef = efSearch == 0 ? Math.Max(40, k) : efSearch;
        if (mode == PgVectorSearchMode.Hnsw && (ef < k || ef > 1000))
            throw new ArgumentException(
                $"efSearch = {efSearch}; it must lie in [k, 1000] = [{k}, 1000] (an HNSW scan returns at most ef_search rows), or be 0 for max(40, k).", nameof(efSearch));
        var results = new PgVectorHit[m][];
        if (m == 0) return results;
        using var conn = Connect();
        Run(() =>
        {
            if (mode == PgVectorSearchMode.Hnsw && !HasIndex(conn))
                throw new PgVectorException(PgVectorProblem.MissingIndex,
                    $"table '{Table}' {where} has no HNSW index ({indexName}); build it (BuildIndex, or export without --no-index) or search exactly.");
            using var tx = conn.BeginTransaction();
            var sql = PrepareSearch(conn, tx, mode, k, ef);
            for (var q0 = 0; q0 < m; q0 += QueriesPerRoundTrip)
            {
                var count = Math.Min(QueriesPerRoundTrip, m - q0);
                using var batch = new NpgsqlBatch(conn, tx);
                for (var i = 0; i < count; i++)
                {
                    var row = new float[Dimension];
                    fill(q0 + i, row);
                    var command = new NpgsqlBatchCommand(sql);
                    command.Parameters.Add(new NpgsqlParameter { Value = new Vector(row) });
                    batch.BatchCommands.Add(command);
                }
                using var reader = batch.ExecuteReader();
                for (var i = 0; i < count; i++)
                {
                    var hits = new List<PgVectorHit>(k);
                    while (reader.Read())
                        hits.Add(new PgVectorHit(reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetDouble(2)));
                    results[q0 + i] = [.. hits];
                    reader.NextResult();
                }
            }
            tx.Commit();
        });
        return results;
    }

    /// <summary>Sets the transaction's planner settings for a search mode and returns the query of one vector ($1).</summary>
    private string PrepareSearch(NpgsqlConnection conn, NpgsqlTransaction tx, PgVectorSearchMode mode, int k, int ef)
    {
        if (mode == PgVectorSearchMode.Exact)
        {
            Execute(conn, tx, "SET LOCAL enable_indexscan = off");
            return $"SELECT id, label, embedding <-> $1 FROM {quoted} ORDER BY embedding <-> $1, id LIMIT {k}";
        }
        Execute(conn, tx, "SET LOCAL enable_seqscan = off");
        Execute(conn, tx, $"SET LOCAL hnsw.ef_search = {ef}");
        return $"SELECT id, label, embedding <-> $1 FROM {quoted} ORDER BY embedding <-> $1 LIMIT {k}";
    }

    /// <summary>The server's plan of a search (EXPLAIN), for tests that check which scan each mode uses.</summary>
    internal string Plan(PgVectorSearchMode mode, int k, int ef)
    {
        using var conn = Connect();
        return Run(() =>
        {
            using var tx = conn.BeginTransaction();
            var sql = PrepareSearch(conn, tx, mode, k, ef);
            using var command = new NpgsqlCommand("EXPLAIN " + sql, conn, tx);
            command.Parameters.Add(new NpgsqlParameter { Value = new Vector(new float[Dimension]) });
            using var reader = command.ExecuteReader();
            var lines = new List<string>();
            while (reader.Read()) lines.Add(reader.GetString(0));
            return string.Join("\n", lines);
        });
    }

    private long Write(long[] ids, long[]? labels, Func<int, int, float[]> rowsOf, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var n = ids.Length;
        if (labels is not null && labels.Length != n)
            throw new ArgumentException($"labels has {labels.Length} entries but there are {n} rows; give one label per row (or none).", nameof(labels));
        var seen = new HashSet<long>(n);
        for (var i = 0; i < n; i++)
            if (!seen.Add(ids[i]))
                throw new ArgumentException($"ids[{i}] = {ids[i]} repeats an earlier id; ids must be distinct (they are the table's primary key).", nameof(ids));
        var f = Dimension;
        using var conn = Connect();
        long written = 0;
        for (var start = 0; start < n; start += options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var count = Math.Min(options.BatchSize, n - start);
            var rows = rowsOf(start, count);
            Run(() =>
            {
                using var tx = conn.BeginTransaction();
                Execute(conn, tx, $"CREATE TEMP TABLE distembed_staging (LIKE {quoted}) ON COMMIT DROP");
                using (var writer = conn.BeginBinaryImport("COPY distembed_staging (id, label, embedding) FROM STDIN (FORMAT BINARY)"))
                {
                    for (var i = 0; i < count; i++)
                    {
                        writer.StartRow();
                        writer.Write(ids[start + i], NpgsqlDbType.Bigint);
                        if (labels is null) writer.WriteNull();
                        else writer.Write(labels[start + i], NpgsqlDbType.Bigint);
                        writer.Write(new Vector(new ReadOnlyMemory<float>(rows, i * f, f)));
                    }
                    writer.Complete();
                }
                Execute(conn, tx,
                    $"INSERT INTO {quoted} (id, label, embedding) SELECT id, label, embedding FROM distembed_staging ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, embedding = EXCLUDED.embedding");
                tx.Commit();
            });
            written += count;
            progress?.Report(written);
        }
        return written;
    }

    private void CheckVectors(string name, long rows, long dimension, int ids, string what)
    {
        if (dimension != Dimension)
            throw new ArgumentException(
                $"{name} has {dimension} dimensions but table '{Table}' holds {Dimension}-dimensional vectors ({Distance}).", name);
        if (rows != ids)
            throw new ArgumentException($"{name} has {rows} {what} but ids has {ids}; give one id per {what[..^1]}.", name);
    }

    private void CheckQueryDimension(int dimension)
    {
        if (dimension != Dimension)
            throw new ArgumentException(
                $"queries have {dimension} dimensions but table '{Table}' holds {Dimension}-dimensional vectors ({Distance}); query with embeddings of the kind that was exported.", "queries");
    }

    private void CheckDistance(IDistance distance)
    {
        ArgumentNullException.ThrowIfNull(distance);
        if (distance.Name != Distance)
            throw new ArgumentException(
                $"distance is {distance.Name} but table '{Table}' holds exports of {Distance}; use {Distance} (or another table).", nameof(distance));
    }

    private static void CheckFinite(string name, float[,] values)
    {
        for (var i = 0; i < values.GetLength(0); i++)
            for (var j = 0; j < values.GetLength(1); j++)
                if (!float.IsFinite(values[i, j]))
                    throw new ArgumentException($"{name}[{i},{j}] is {values[i, j]}; all values must be finite (pgvector rejects NaN and infinity).", name);
    }

    private static void TensorFinite(string name, torch.Tensor values, int rowOffset)
    {
        using var scope = torch.NewDisposeScope();
        var bad = torch.isfinite(values).logical_not().nonzero();
        if (bad.shape[0] > 0)
            throw new ArgumentException(
                $"{name} row {bad[0, 0].item<long>() + rowOffset} exports to a non-finite value; all values must be finite (pgvector rejects NaN and infinity).", name);
    }

    private static torch.Tensor ToHostFloat32(string name, torch.Tensor values)
    {
        if (values.dtype is not (torch.ScalarType.Float32 or torch.ScalarType.Float64))
            throw new ArgumentException($"{name} has dtype {values.dtype}; float32 or float64 is required.", name);
        TensorFinite(name, values, 0);
        using var scope = torch.NewDisposeScope();
        return values.detach().to_type(torch.ScalarType.Float32).cpu().contiguous().MoveToOuterDisposeScope();
    }

    private static void CheckTableName(string table)
    {
        if (!TableName().IsMatch(table))
            throw new ArgumentException(
                $"table = '{table}'; it must be a name of lowercase letters, digits and _ (at most 50 characters, not starting with a digit), optionally schema.name.", nameof(table));
    }

    /// <summary>Reads and checks the table's metadata; false when the table does not exist and need not.</summary>
    private bool ReadMetadata(NpgsqlConnection conn, bool mustExist)
    {
        return Run(() =>
        {
            var exists = Scalar<bool>(conn, null, "SELECT to_regclass($1) IS NOT NULL", Table);
            if (!exists)
            {
                if (mustExist)
                    throw new PgVectorException(PgVectorProblem.MissingTable,
                        $"table '{Table}' does not exist in the database {where}; export embeddings into it first (distembed index export, or PgVectorTable.Export).");
                return false;
            }
            var comment = Scalar<string?>(conn, null, "SELECT obj_description(to_regclass($1), 'pg_class')", Table);
            string? distance = null;
            var dimension = 0;
            JsonElement? export = null;
            try
            {
                if (comment is not null)
                {
                    using var doc = JsonDocument.Parse(comment);
                    var root = doc.RootElement;
                    if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.String && format.GetString() == Format
                        && root.TryGetProperty("dimension", out var dim) && dim.ValueKind == JsonValueKind.Number && dim.TryGetInt32(out dimension)
                        && root.TryGetProperty("distance", out var dist) && dist.ValueKind == JsonValueKind.String)
                    {
                        distance = dist.GetString();
                        if (root.TryGetProperty("export", out var exportElement)) export = exportElement.Clone();
                    }
                }
            }
            catch (JsonException)
            {
                distance = null;
            }
            if (distance is null)
                throw new PgVectorException(PgVectorProblem.NotAVectorTable,
                    $"table '{Table}' {where} exists but was not written by DistEmbed (its comment lacks the {Format} metadata); choose another table name or drop it.");
            var column = Scalar<int?>(conn, null,
                "SELECT a.atttypmod FROM pg_attribute a JOIN pg_type t ON a.atttypid = t.oid WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding' AND NOT a.attisdropped AND t.typname = 'vector'",
                Table);
            if (column != dimension)
                throw new PgVectorException(PgVectorProblem.NotAVectorTable,
                    $"table '{Table}' {where} says it holds {dimension}-dimensional vectors but its embedding column is {(column is null ? "missing or not of type vector" : $"vector({column})")}; the table was altered outside DistEmbed: drop it and export again.");
            Dimension = dimension;
            Distance = distance;
            layout = export is { } described ? ParseLayout(described, dimension, distance) : null;
            return true;
        });
    }

    /// <summary>How a table's rows were exported from embeddings (the <c>export</c> object of its metadata).</summary>
    /// <param name="Map">The map's name.</param>
    /// <param name="Features">d (F for the identity).</param>
    /// <param name="Levels">The quantile levels (quantile-w2), else null.</param>
    /// <param name="Points">T (marginal-w2), else 0.</param>
    private sealed record ExportLayout(string Map, int Features, double[]? Levels, int Points);

    private const string QuantileMap = "quantile-values-times-sqrt-level-mass";
    private const string MarginalMap = "sorted-coordinates-over-sqrt-points";
    private const string IdentityMap = "identity";

    /// <summary>The layout of a batch's export under a distance (the batch is known to export to F columns).</summary>
    private static ExportLayout? LayoutOf(IEmbeddingBatch batch, IDistance distance, int dimension)
    {
        switch (distance.Name, batch)
        {
            case ("quantile-w2", QuantileBatch q):
                using (var scope = torch.NewDisposeScope())
                    return new ExportLayout(QuantileMap, q.Dimension, q.Levels.cpu().to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray(), 0);
            case ("marginal-w2", DistributionBatch p):
                return new ExportLayout(MarginalMap, p.Dimension, null, p.Length);
            case ("euclidean", VectorBatch):
                return new ExportLayout(IdentityMap, dimension, null, 0);
            default:
                return null;
        }
    }

    private string Metadata(int dimension, string distance, ExportLayout? layout)
    {
        var meta = new Dictionary<string, object> { ["format"] = Format, ["dimension"] = dimension, ["distance"] = distance };
        if (layout is not null)
        {
            var export = new Dictionary<string, object> { ["map"] = layout.Map, ["features"] = layout.Features };
            if (layout.Levels is not null) export["levels"] = layout.Levels;
            if (layout.Points > 0) export["points"] = layout.Points;
            meta["export"] = export;
        }
        return JsonSerializer.Serialize(meta);
    }

    /// <summary>Reads and checks the export layout of a table's metadata against its dimension and distance.</summary>
    private ExportLayout ParseLayout(JsonElement export, int dimension, string distance)
    {
        string Bad(string what) =>
            $"table '{Table}' {where} has DistEmbed metadata whose export description {what}; the table was altered outside DistEmbed: drop it and export again.";
        if (export.ValueKind != JsonValueKind.Object
            || !export.TryGetProperty("map", out var mapElement) || mapElement.ValueKind != JsonValueKind.String
            || !export.TryGetProperty("features", out var featuresElement) || !featuresElement.TryGetInt32(out var features) || features < 1)
            throw new PgVectorException(PgVectorProblem.NotAVectorTable, Bad("lacks its map or feature count"));
        var map = mapElement.GetString()!;
        var expected = distance switch { "quantile-w2" => QuantileMap, "marginal-w2" => MarginalMap, "euclidean" => IdentityMap, _ => null };
        if (map != expected)
            throw new PgVectorException(PgVectorProblem.NotAVectorTable, Bad($"names the map '{map}', which does not give {distance} distances"));
        switch (map)
        {
            case QuantileMap:
            {
                if (!export.TryGetProperty("levels", out var levelsElement) || levelsElement.ValueKind != JsonValueKind.Array)
                    throw new PgVectorException(PgVectorProblem.NotAVectorTable, Bad("lacks the quantile levels"));
                var levels = new double[levelsElement.GetArrayLength()];
                var i = 0;
                foreach (var level in levelsElement.EnumerateArray())
                {
                    if (level.ValueKind != JsonValueKind.Number || !level.TryGetDouble(out levels[i]) || !(levels[i] > 0 && levels[i] < 1) || (i > 0 && levels[i] <= levels[i - 1]))
                        throw new PgVectorException(PgVectorProblem.NotAVectorTable, Bad($"has quantile level {i} = {level}, but the levels must increase strictly within (0, 1)"));
                    i++;
                }
                if (levels.Length == 0 || (long)features * levels.Length != dimension)
                    throw new PgVectorException(PgVectorProblem.NotAVectorTable,
                        Bad($"has {features} features × {levels.Length} levels = {(long)features * levels.Length} columns, not the table's {dimension}"));
                return new ExportLayout(map, features, levels, 0);
            }
            case MarginalMap:
            {
                if (!export.TryGetProperty("points", out var pointsElement) || !pointsElement.TryGetInt32(out var points) || points < 1)
                    throw new PgVectorException(PgVectorProblem.NotAVectorTable, Bad("lacks the number of points"));
                if ((long)features * points != dimension)
                    throw new PgVectorException(PgVectorProblem.NotAVectorTable,
                        Bad($"has {points} points × {features} features = {(long)features * points} columns, not the table's {dimension}"));
                return new ExportLayout(map, features, null, points);
            }
            default:
                if (features != dimension)
                    throw new PgVectorException(PgVectorProblem.NotAVectorTable, Bad($"has {features} features, not the table's {dimension}"));
                return new ExportLayout(map, features, null, 0);
        }
    }

    /// <summary>Checks embeddings' export layout against the table's, recording it when the table has none yet.</summary>
    private void AgreeOnLayout(NpgsqlConnection conn, ExportLayout? actual, string name)
    {
        if (actual is null) return;
        if (layout is not null)
        {
            CheckLayout(actual, name);
            return;
        }
        var meta = Metadata(Dimension, Distance, actual);
        Run(() => Execute(conn, null, $"COMMENT ON TABLE {quoted} IS '{meta.Replace("'", "''", StringComparison.Ordinal)}'"));
        layout = actual;
    }

    /// <summary>Throws (naming <paramref name="name"/>) when embeddings export differently from the table's rows.</summary>
    private void CheckLayout(ExportLayout? actual, string name)
    {
        if (layout is null || actual is null) return;
        if (actual.Map != layout.Map)
            throw new ArgumentException($"{name} export by the map {actual.Map} but table '{Table}' holds rows exported by {layout.Map}.", name);
        if (actual.Features != layout.Features)
            throw new ArgumentException(
                $"{name} have {actual.Features} features but table '{Table}' holds {Distance} exports of {layout.Features} features; use embeddings of the kind that was exported.", name);
        if (layout.Levels is { } stored && actual.Levels is { } levels)
        {
            if (levels.Length != stored.Length)
                throw new ArgumentException(
                    $"{name} have {levels.Length} quantile levels but table '{Table}' was exported at {stored.Length} levels ({FormatLevels(stored)}); use quantile embeddings at the table's levels.", name);
            for (var i = 0; i < levels.Length; i++)
                if (!(Math.Abs(levels[i] - stored[i]) <= 1e-6))
                    throw new ArgumentException(
                        $"{name} have quantile level {i} = {levels[i].ToString("R", CultureInfo.InvariantCulture)} but table '{Table}' was exported at level {stored[i].ToString("R", CultureInfo.InvariantCulture)} (levels {FormatLevels(stored)}); the rows are the quantiles scaled by √(level mass) of those levels, so the L2 distances are quantile-w2 only for embeddings at the same levels.", name);
        }
        if (actual.Points != layout.Points)
            throw new ArgumentException(
                $"{name} have {actual.Points} points per item but table '{Table}' holds marginal-w2 exports of {layout.Points} points (sorted coordinates divided by √T); use distributions of {layout.Points} points.", name);
    }

    private static string FormatLevels(double[] levels) =>
        "[" + string.Join(", ", levels.Take(6).Select(l => l.ToString("G6", CultureInfo.InvariantCulture))) + (levels.Length > 6 ? ", …" : "") + "]";

    private bool HasIndex(NpgsqlConnection conn)
    {
        var qualified = Table.Contains('.', StringComparison.Ordinal) ? Table.Split('.')[0] + "." + indexName : indexName;
        return Scalar<bool>(conn, null, "SELECT to_regclass($1) IS NOT NULL", qualified);
    }

    /// <summary>Opens a connection and checks the pgvector extension (creating it when the options say so).</summary>
    private NpgsqlConnection Connect()
    {
        NpgsqlConnection conn;
        try
        {
            conn = source.OpenConnection();
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException or IOException)
        {
            throw Translate(e);
        }
        try
        {
            Run(() =>
            {
                if (Scalar<string?>(conn, null, "SELECT extversion FROM pg_extension WHERE extname = 'vector'") is not null) return;
                var available = Scalar<bool>(conn, null, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')");
                if (!available)
                    throw new PgVectorException(PgVectorProblem.MissingExtension,
                        $"the PostgreSQL server {where} has no pgvector extension installed; install it (Debian: postgresql-17-pgvector for PostgreSQL 17) and run CREATE EXTENSION vector; in the database.");
                if (!options.CreateExtension)
                    throw new PgVectorException(PgVectorProblem.MissingExtension,
                        $"the database {where} lacks the pgvector extension; run CREATE EXTENSION vector; in it (as its owner or a superuser), or let DistEmbed create it (PgVectorTableOptions.CreateExtension, --create-extension).");
                Execute(conn, null, "CREATE EXTENSION IF NOT EXISTS vector");
                conn.ReloadTypes();
            });
            return conn;
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }

    /// <summary>Runs a database step, turning server and connection failures into one-line <see cref="PgVectorException"/>s.</summary>
    private void Run(Action step) => Run<bool>(() => { step(); return true; });

    private T Run<T>(Func<T> step)
    {
        try
        {
            return step();
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException)
        {
            throw Translate(e);
        }
    }

    private PgVectorException Translate(Exception e)
    {
        var pg = e as PostgresException ?? e.InnerException as PostgresException;
        if (pg is not null)
        {
            return pg.SqlState switch
            {
                "28P01" => new PgVectorException(PgVectorProblem.Authentication,
                    $"PostgreSQL {where} rejected the password of user '{user}' (28P01 {pg.MessageText}); check Username and Password in the connection string.", e),
                "28000" => new PgVectorException(PgVectorProblem.Authentication,
                    $"PostgreSQL {where} refused user '{user}' (28000 {pg.MessageText}); check Username in the connection string and the server's pg_hba.conf.", e),
                "3D000" => new PgVectorException(PgVectorProblem.MissingDatabase,
                    $"the database '{database}' does not exist on PostgreSQL {where} (3D000); create it or fix Database in the connection string.", e),
                "57P03" or "53300" => new PgVectorException(PgVectorProblem.Unreachable,
                    $"PostgreSQL {where} does not accept connections now ({pg.SqlState} {pg.MessageText}); retry later.", e),
                _ => new PgVectorException(PgVectorProblem.Server, $"PostgreSQL {where} failed: {pg.MessageText} (SQLSTATE {pg.SqlState}).", e),
            };
        }
        if (e is NpgsqlException && e.Message.Contains("password", StringComparison.OrdinalIgnoreCase) && e.InnerException is null)
            return new PgVectorException(PgVectorProblem.Authentication,
                $"PostgreSQL {where} asks user '{user}' for a password but the connection string has none; add Password=… (or use a .pgpass file).", e);
        var cause = e;
        while (cause.InnerException is { } inner && cause is not (SocketException or TimeoutException)) cause = inner;
        if (cause is SocketException or TimeoutException or IOException || e is NpgsqlException { IsTransient: true })
            return new PgVectorException(PgVectorProblem.Unreachable,
                $"cannot reach PostgreSQL {where}: {FirstLine(cause.Message)}; check Host and Port in the connection string and that the server is running.", e);
        return new PgVectorException(PgVectorProblem.Server, $"PostgreSQL {where} failed: {FirstLine(e.Message)}", e);
    }

    private static string FirstLine(string message) =>
        message.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim().TrimEnd('.') ?? "";

    private static void Execute(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql)
    {
        using var command = new NpgsqlCommand(sql, conn, tx);
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(NpgsqlConnection conn, NpgsqlTransaction? tx, string sql, params object?[] parameters)
    {
        using var command = new NpgsqlCommand(sql, conn, tx);
        foreach (var p in parameters) command.Parameters.Add(new NpgsqlParameter { Value = p ?? DBNull.Value });
        var value = command.ExecuteScalar();
        return value is null or DBNull ? default! : (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,49}(\\.[a-z_][a-z0-9_]{0,49})?$")]
    private static partial Regex TableName();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex DistanceName();
}
