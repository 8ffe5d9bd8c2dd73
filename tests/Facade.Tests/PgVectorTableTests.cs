using DistEmbed.Core;
using DistEmbed.Core.Similarity;
using DistEmbed.Retrieval;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// PostgreSQL + pgvector through <see cref="PgVectorTable"/> against a throwaway cluster: exact search through the
/// database equals the library's exact k-NN under quantile-w2 (marginal W2 of quantile embeddings), HNSW recall, an
/// interrupted export that resumes without duplicates, and one-line errors for every fault.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PgVectorTableTests(PostgresCluster cluster)
{
    private static readonly Distance QuantileW2 = Distance.Create("quantile-w2");

    /// <summary>N random quantile embeddings [N, d, Q]: sorted normal draws, scaled and shifted per item and dimension.</summary>
    private static EmbeddingBatch Quantiles(int n, int d, int q, int seed)
    {
        torch.Tensor values;
        using (var scope = torch.NewDisposeScope())
        {
            var g = new torch.Generator((ulong)seed);
            values = torch.randn([n, d, q], generator: g, dtype: torch.ScalarType.Float64).sort(2).Values
                .mul(torch.rand([n, d, 1], generator: g, dtype: torch.ScalarType.Float64).mul(2).add(0.2))
                .add(torch.randn([n, d, 1], generator: g, dtype: torch.ScalarType.Float64))
                .MoveToOuterDisposeScope();
        }
        return EmbeddingBatch.Quantiles(values);
    }

    private static float[,] Gaussian(int n, int d, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n, d];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < d; j++)
                x[i, j] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return x;
    }

    private static long[] Ids(int n) => Enumerable.Range(0, n).Select(i => 1000L + 7L * i).ToArray();

    [Fact]
    public void ExactSearchThroughTheDatabaseEqualsTheLibrarysExactKnnUnderQuantileW2()
    {
        const int n = 240, k = 10;
        using var gallery = Quantiles(n, 4, 8, 11);
        var ids = Ids(n);
        var labels = Enumerable.Range(0, n).Select(i => (long)(i % 5)).ToArray();
        using var table = PgVectorTable.Export(cluster.ConnectionString(), "quantile_exact", gallery, QuantileW2, ids, labels,
            new PgVectorTableOptions { BatchSize = 64 });
        Assert.Equal(32, table.Dimension);
        Assert.Equal("quantile-w2", table.Distance);
        Assert.Equal(n, table.Count());
        Assert.True(table.HasIndex(), "the export builds the HNSW index; exact search must not use it");

        // Leave-one-out: each gallery item's k + 1 nearest rows, itself dropped, equal the library's exact k-NN graph.
        var graph = NearestNeighbours.Exact(gallery.Core, QuantileW2.Core, k, 0);
        var hits = table.Search(gallery, QuantileW2, k + 1, PgVectorSearchMode.Exact);
        for (var i = 0; i < n; i++)
        {
            var found = hits[i].Where(h => h.Id != ids[i]).Take(k).ToArray();
            Assert.Equal(Enumerable.Range(0, k).Select(j => ids[graph.Indices[i, j]]), found.Select(h => h.Id));
            Assert.Equal(Enumerable.Range(0, k).Select(j => labels[graph.Indices[i, j]]), found.Select(h => h.Label!.Value));
            for (var j = 0; j < k; j++)
                Assert.True(Math.Abs(found[j].Distance - graph.Distances[i, j]) <= 1e-4 * (1 + graph.Distances[i, j]),
                    $"query {i} neighbour {j}: database {found[j].Distance}, library {graph.Distances[i, j]}");
        }

        // Queries the table never saw: the k smallest quantile-w2 distances (ties to the smaller index), computed by the library.
        using var queries = Quantiles(30, 4, 8, 12);
        using var d = QuantileW2.Pairwise(queries, gallery);
        var exact = d.to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray();
        var fresh = table.Search(queries, QuantileW2, k, PgVectorSearchMode.Exact);
        for (var i = 0; i < 30; i++)
        {
            var order = Enumerable.Range(0, n).OrderBy(j => exact[i * n + j]).ThenBy(j => j).Take(k).ToArray();
            Assert.Equal(order.Select(j => ids[j]), fresh[i].Select(h => h.Id));
            for (var j = 0; j < k; j++)
                Assert.True(Math.Abs(fresh[i][j].Distance - exact[i * n + order[j]]) <= 1e-4 * (1 + exact[i * n + order[j]]));
        }
    }

    [Fact]
    public void HnswSearchRecallsTheExactNeighbours()
    {
        const int n = 3000, d = 16, m = 60, k = 10;
        var x = Gaussian(n, d, 3);
        var ids = Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        using var table = PgVectorTable.Create(cluster.ConnectionString(), "vectors_hnsw", d, "euclidean",
            new PgVectorTableOptions { HnswM = 8, HnswEfConstruction = 32 });
        Assert.Equal(n, table.Upsert(ids, null, x));
        var queries = Gaussian(m, d, 4);
        var noIndex = Assert.Throws<PgVectorException>(() => table.Search(queries, k, PgVectorSearchMode.Hnsw));
        Assert.Equal(PgVectorProblem.MissingIndex, noIndex.Problem);
        Assert.Contains("has no HNSW index", noIndex.Message);
        table.BuildIndex();
        table.BuildIndex(); // idempotent
        Assert.True(table.HasIndex());
        // Exact search scans the table whatever the index; HNSW search goes through the index.
        var exactPlan = table.Plan(PgVectorSearchMode.Exact, k, 40);
        Assert.Contains("Seq Scan on vectors_hnsw", exactPlan);
        Assert.DoesNotContain("Index Scan", exactPlan);
        Assert.Contains("Index Scan using vectors_hnsw_hnsw on vectors_hnsw", table.Plan(PgVectorSearchMode.Hnsw, k, 40));
        var exact = table.Search(queries, k, PgVectorSearchMode.Exact);
        var approximate = table.Search(queries, k, PgVectorSearchMode.Hnsw, efSearch: 80);
        var found = 0;
        for (var i = 0; i < m; i++)
        {
            Assert.Equal(k, approximate[i].Length);
            Assert.Null(approximate[i][0].Label);
            Assert.True(approximate[i].Zip(approximate[i].Skip(1)).All(p => p.First.Distance <= p.Second.Distance));
            found += approximate[i].Select(h => h.Id).Intersect(exact[i].Select(h => h.Id)).Count();
        }
        var recall = found / (double)(m * k);
        Assert.True(recall >= 0.9, $"HNSW recall@{k} at ef_search 80 = {recall}");
        var e = Assert.Throws<ArgumentException>(() => table.Search(queries, k, PgVectorSearchMode.Hnsw, efSearch: 5));
        Assert.Equal("efSearch", e.ParamName);
    }

    /// <summary>A progress sink that runs synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class Synchronous(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    [Fact]
    public void AnInterruptedExportResumesWithoutDuplicates()
    {
        const int n = 400;
        using var batch = Quantiles(n, 3, 4, 21);
        var ids = Ids(n);
        var labels = Enumerable.Range(0, n).Select(i => (long)(i % 3)).ToArray();
        var options = new PgVectorTableOptions { BatchSize = 50 };
        using var stop = new CancellationTokenSource();
        var reported = new List<long>();
        var progress = new Synchronous(done => { reported.Add(done); if (done >= 100) stop.Cancel(); });
        Assert.Throws<OperationCanceledException>(() =>
            PgVectorTable.Export(cluster.ConnectionString(), "resumed", batch, QuantileW2, ids, labels, options, progress: progress, cancellationToken: stop.Token));
        Assert.Equal([50L, 100L], reported);
        using (var partial = PgVectorTable.Open(cluster.ConnectionString(), "resumed"))
        {
            Assert.Equal(100, partial.Count());
            Assert.False(partial.HasIndex());
        }
        // Export again, with other labels: every row once, the committed ones rewritten in place.
        var relabelled = labels.Select(l => l + 10).ToArray();
        using var table = PgVectorTable.Export(cluster.ConnectionString(), "resumed", batch, QuantileW2, ids, relabelled, options);
        Assert.Equal(n, table.Count());
        Assert.Equal(n, Convert.ToInt64(cluster.Sql("SELECT count(DISTINCT id) FROM resumed", PostgresCluster.Database)));
        Assert.Equal(0L, Convert.ToInt64(cluster.Sql("SELECT count(*) FROM resumed WHERE label < 10", PostgresCluster.Database)));
        Assert.Equal(n, table.Upsert(batch, QuantileW2, ids, relabelled)); // a third time: still no duplicate
        Assert.Equal(n, table.Count());
        var self = table.Search(batch, QuantileW2, 1);
        Assert.All(Enumerable.Range(0, n), i => Assert.Equal(ids[i], self[i][0].Id));
        var dup = Assert.Throws<ArgumentException>(() => table.Upsert(batch, QuantileW2, ids.Select((v, i) => i == 7 ? ids[3] : v).ToArray()));
        Assert.Equal("ids", dup.ParamName);
        Assert.Contains("ids[7]", dup.Message);
    }

    [Fact]
    public void AQuantileTableRecordsItsLevelsAndRefusesEmbeddingsAtOtherLevels()
    {
        cluster.Sql("DROP TABLE IF EXISTS levelled; DROP TABLE IF EXISTS levelled_late; DROP TABLE IF EXISTS points", PostgresCluster.Database);
        using var midpoints = Quantiles(40, 2, 4, 31);
        using var table = PgVectorTable.Export(cluster.ConnectionString(), "levelled", midpoints, QuantileW2, buildIndex: false);
        Assert.Equal([0.125, 0.375, 0.625, 0.875], table.QuantileLevels!);
        using (var reopened = PgVectorTable.Open(cluster.ConnectionString(), "levelled"))
            Assert.Equal([0.125, 0.375, 0.625, 0.875], reopened.QuantileLevels!);
        Assert.Contains("\"levels\":[0.125,0.375,0.625,0.875]", Convert.ToString(cluster.Sql("SELECT obj_description('levelled'::regclass, 'pg_class')", PostgresCluster.Database)));

        // The same shape [B, 2, 4] (so the same 8 columns) at other levels: the L2 distances would not be quantile-w2.
        using var otherValues = torch.randn([5, 2, 4], dtype: torch.ScalarType.Float64).sort(2).Values;
        using var otherLevels = torch.tensor(new[] { 0.1, 0.3, 0.5, 0.9 }, dtype: torch.ScalarType.Float64);
        using var elsewhere = EmbeddingBatch.Quantiles(otherValues, otherLevels);
        var a = Assert.Throws<ArgumentException>(() => table.Search(elsewhere, QuantileW2, 3));
        Assert.Equal("queries", a.ParamName);
        Assert.Contains("queries have quantile level 0 = 0.1 but table 'levelled' was exported at level 0.125", a.Message);
        OneLine(a);
        a = Assert.Throws<ArgumentException>(() => table.Upsert(elsewhere, QuantileW2, [9001, 9002, 9003, 9004, 9005]));
        Assert.Equal("batch", a.ParamName);
        a = Assert.Throws<ArgumentException>(() => PgVectorTable.Export(cluster.ConnectionString(), "levelled", elsewhere, QuantileW2, buildIndex: false));
        Assert.Equal("batch", a.ParamName);
        Assert.Contains("quantile level 0 = 0.1", a.Message);
        Assert.Equal(40, table.Count());
        // 4 features at 2 levels also export to 8 columns: the feature count is named.
        using var wide = Quantiles(3, 4, 2, 32);
        a = Assert.Throws<ArgumentException>(() => table.Search(wide, QuantileW2, 1));
        Assert.Equal("queries", a.ParamName);
        Assert.Contains("queries have 4 features but table 'levelled' holds quantile-w2 exports of 2 features", a.Message);
        // Float32 queries at the midpoint levels (rounded to float32) are the same levels.
        using var single = EmbeddingBatch.Quantiles(torch.randn([2, 2, 4]).sort(2).Values);
        Assert.Equal(2, table.Search(single, QuantileW2, 1).Length);

        // A table created empty records the levels of its first embeddings.
        using (var late = PgVectorTable.Create(cluster.ConnectionString(), "levelled_late", 8, "quantile-w2"))
        {
            Assert.Null(late.QuantileLevels);
            late.Upsert(elsewhere, QuantileW2);
            Assert.Equal([0.1, 0.3, 0.5, 0.9], late.QuantileLevels!);
            a = Assert.Throws<ArgumentException>(() => late.Search(midpoints, QuantileW2, 1));
            Assert.Equal("queries", a.ParamName);
        }
        using (var late = PgVectorTable.Open(cluster.ConnectionString(), "levelled_late"))
            Assert.Equal([0.1, 0.3, 0.5, 0.9], late.QuantileLevels!);

        // Marginal-w2 exports of 4 points in 2 dimensions and of 2 points in 4 dimensions have 8 columns each.
        using var fourPoints = EmbeddingBatch.Distributions(torch.randn([6, 4, 2], dtype: torch.ScalarType.Float64));
        using var twoPoints = EmbeddingBatch.Distributions(torch.randn([2, 2, 4], dtype: torch.ScalarType.Float64));
        var marginal = Distance.Create("marginal-w2");
        using (var points = PgVectorTable.Export(cluster.ConnectionString(), "points", fourPoints, marginal, buildIndex: false))
        {
            Assert.Null(points.QuantileLevels);
            a = Assert.Throws<ArgumentException>(() => points.Search(twoPoints, marginal, 1));
            Assert.Equal("queries", a.ParamName);
            Assert.Contains("queries have 4 features but table 'points' holds marginal-w2 exports of 2 features", a.Message);
        }

        // Metadata edited behind DistEmbed's back: levels that do not fill the columns, or that do not increase.
        static string Comment(string levels) =>
            $"COMMENT ON TABLE levelled IS '{{\"format\":\"distembed-pgvector/1\",\"dimension\":8,\"distance\":\"quantile-w2\",\"export\":{{\"map\":\"quantile-values-times-sqrt-level-mass\",\"features\":2,\"levels\":{levels}}}}}'";
        cluster.Sql(Comment("[0.25,0.75]"), PostgresCluster.Database);
        var e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.ConnectionString(), "levelled"));
        Assert.Equal(PgVectorProblem.NotAVectorTable, e.Problem);
        Assert.Contains("2 features × 2 levels = 4 columns, not the table's 8", e.Message);
        cluster.Sql(Comment("[0.1,0.5,0.4,0.9]"), PostgresCluster.Database);
        e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.ConnectionString(), "levelled"));
        Assert.Contains("quantile level 2 = 0.4", e.Message);
        OneLine(e);
    }

    private static void OneLine(Exception e) => Assert.DoesNotContain('\n', e.Message);

    [Fact]
    public void AnUnreachableServerIsNamed()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open($"Host=127.0.0.1;Port={port};Username=u;Password=secret;Database=d;Timeout=5", "t"));
        Assert.Equal(PgVectorProblem.Unreachable, e.Problem);
        Assert.StartsWith($"cannot reach PostgreSQL at 127.0.0.1:{port} (database 'd', user 'u')", e.Message);
        Assert.DoesNotContain("secret", e.Message);
        OneLine(e);
    }

    [Fact]
    public void WrongCredentialsAreNamed()
    {
        cluster.Sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'distembed_probe') THEN CREATE ROLE distembed_probe LOGIN PASSWORD 'right-password'; END IF; END $$");
        var e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.TcpConnectionString("distembed_probe", "wrong-password"), "t"));
        Assert.Equal(PgVectorProblem.Authentication, e.Problem);
        Assert.Contains("rejected the password of user 'distembed_probe'", e.Message);
        Assert.DoesNotContain("wrong-password", e.Message);
        OneLine(e);
        e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.TcpConnectionString("no_such_role", "x"), "t"));
        Assert.Equal(PgVectorProblem.Authentication, e.Problem);
        OneLine(e);
        e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.ConnectionString(user: "no_such_role"), "t"));
        Assert.Equal(PgVectorProblem.Authentication, e.Problem);
        Assert.Contains("refused user 'no_such_role'", e.Message);
        OneLine(e);
        // The right password gets through to the next check: the role may connect, the table is missing.
        e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.TcpConnectionString("distembed_probe", "right-password"), "no_table"));
        Assert.Equal(PgVectorProblem.MissingTable, e.Problem);
        Assert.Contains("table 'no_table' does not exist", e.Message);
        OneLine(e);
    }

    [Fact]
    public void AMissingDatabaseOrExtensionIsNamed()
    {
        var e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.ConnectionString("no_such_database"), "t"));
        Assert.Equal(PgVectorProblem.MissingDatabase, e.Problem);
        Assert.Contains("'no_such_database' does not exist", e.Message);
        OneLine(e);
        cluster.Sql("DROP DATABASE IF EXISTS distembed_plain");
        cluster.Sql("CREATE DATABASE distembed_plain");
        e = Assert.Throws<PgVectorException>(() => PgVectorTable.Create(cluster.ConnectionString("distembed_plain"), "t", 4));
        Assert.Equal(PgVectorProblem.MissingExtension, e.Problem);
        Assert.Contains("lacks the pgvector extension; run CREATE EXTENSION vector;", e.Message);
        OneLine(e);
        Assert.Equal(0L, Convert.ToInt64(cluster.Sql("SELECT count(*) FROM pg_extension WHERE extname = 'vector'", "distembed_plain")));
        // Asked to, DistEmbed creates the extension and the table.
        using (var table = PgVectorTable.Create(cluster.ConnectionString("distembed_plain"), "t", 4, options: new PgVectorTableOptions { CreateExtension = true }))
        {
            Assert.Equal(2, table.Upsert([1, 2], null, new float[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 } }));
            Assert.Equal([2L, 1L], table.Search(new float[,] { { 0, 0.9f, 0, 0 } }, 2)[0].Select(h => h.Id));
        }
        NpgsqlCleanup();
        cluster.Sql("DROP DATABASE distembed_plain");
    }

    private static void NpgsqlCleanup() => Npgsql.NpgsqlConnection.ClearAllPools();

    [Fact]
    public void ATableOfAnotherKindOrDimensionIsRejected()
    {
        cluster.Sql("DROP TABLE IF EXISTS not_ours; CREATE TABLE not_ours (id bigint PRIMARY KEY, embedding vector(3))", PostgresCluster.Database);
        var e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.ConnectionString(), "not_ours"));
        Assert.Equal(PgVectorProblem.NotAVectorTable, e.Problem);
        Assert.Contains("was not written by DistEmbed", e.Message);
        e = Assert.Throws<PgVectorException>(() => PgVectorTable.Create(cluster.ConnectionString(), "not_ours", 3));
        Assert.Equal(PgVectorProblem.NotAVectorTable, e.Problem);

        using var table = PgVectorTable.Create(cluster.ConnectionString(), "eight", 8, "euclidean");
        var a = Assert.Throws<ArgumentException>(() => table.Search(new float[2, 5], 3));
        Assert.Equal("queries", a.ParamName);
        Assert.Contains("queries have 5 dimensions but table 'eight' holds 8-dimensional vectors (euclidean)", a.Message);
        a = Assert.Throws<ArgumentException>(() => table.Upsert([1], null, new float[1, 7]));
        Assert.Equal("vectors", a.ParamName);
        a = Assert.Throws<ArgumentException>(() => PgVectorTable.Create(cluster.ConnectionString(), "eight", 9, "euclidean"));
        Assert.Equal("dimension", a.ParamName);
        Assert.Contains("holds 8-dimensional vectors (euclidean) but these have 9 dimensions", a.Message);
        a = Assert.Throws<ArgumentException>(() => PgVectorTable.Create(cluster.ConnectionString(), "eight", 8, "quantile-w2"));
        Assert.Equal("distance", a.ParamName);
        using var quantiles = Quantiles(3, 2, 4, 1);
        a = Assert.Throws<ArgumentException>(() => table.Search(quantiles, QuantileW2, 1));
        Assert.Equal("distance", a.ParamName);
        a = Assert.Throws<ArgumentException>(() => table.Upsert([1], null, new float[,] { { 0, 0, 0, float.NaN, 0, 0, 0, 0 } }));
        Assert.Equal("vectors", a.ParamName);
        Assert.Contains("vectors[0,3] is NaN", a.Message);
        a = Assert.Throws<ArgumentException>(() => PgVectorTable.Open(cluster.ConnectionString(), "Bad-Name"));
        Assert.Equal("table", a.ParamName);
        a = Assert.Throws<ArgumentException>(() => PgVectorTable.Open("Port=5432", "t"));
        Assert.Equal("connectionString", a.ParamName);
        // A table altered behind DistEmbed's back (its column no longer matches the metadata) is refused.
        cluster.Sql("DROP TABLE IF EXISTS altered", PostgresCluster.Database);
        using (PgVectorTable.Create(cluster.ConnectionString(), "altered", 4)) { }
        cluster.Sql("ALTER TABLE altered ALTER COLUMN embedding TYPE vector(5) USING NULL", PostgresCluster.Database);
        e = Assert.Throws<PgVectorException>(() => PgVectorTable.Open(cluster.ConnectionString(), "altered"));
        Assert.Equal(PgVectorProblem.NotAVectorTable, e.Problem);
        Assert.Contains("vector(5)", e.Message);
    }
}
