using System.Text;
using System.Text.Json;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.IO;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary><c>distembed index export|search</c> against the throwaway PostgreSQL cluster.</summary>
[Collection(PostgresCollection.Name)]
public sealed class IndexDatabaseCliTests(PostgresCluster cluster) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-index-cli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private string File(string name) => Path.Combine(_dir, name);

    /// <summary>Writes [N] int64 values as a .npy file (format 1.0).</summary>
    private static void WriteInt64(string path, long[] values)
    {
        var dict = $"{{'descr': '<i8', 'fortran_order': False, 'shape': ({values.Length},), }}";
        var total = 10 + dict.Length + 1;
        var header = dict + new string(' ', (64 - total % 64) % 64) + "\n";
        using var stream = System.IO.File.Create(path);
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        stream.Write(BitConverter.GetBytes((ushort)header.Length));
        stream.Write(Encoding.ASCII.GetBytes(header));
        foreach (var v in values) stream.Write(BitConverter.GetBytes(v));
    }

    /// <summary>[n, d, q] sorted random values (quantile functions) as float32, written to a .npy file.</summary>
    private static float[] WriteQuantiles(string path, int n, int d, int q, int seed)
    {
        var rng = new Random(seed);
        var values = new float[n * d * q];
        for (var i = 0; i < n * d; i++)
        {
            var row = Enumerable.Range(0, q).Select(_ => (float)(rng.NextDouble() * 4 - 2)).Order().ToArray();
            var shift = (float)(rng.NextDouble() * 2);
            for (var j = 0; j < q; j++) values[i * q + j] = row[j] + shift;
        }
        Npy.Write(path, values, [n, d, q]);
        return values;
    }

    [Fact]
    public void ExportThenSearchGivesTheLibrarysExactNeighbours()
    {
        const int n = 120, m = 12, k = 5;
        WriteQuantiles(File("gallery.npy"), n, 3, 6, 1);
        WriteQuantiles(File("queries.npy"), m, 3, 6, 2);
        var ids = Enumerable.Range(0, n).Select(i => (1L << 52) + 3L * i).ToArray(); // large ids survive the round trip
        WriteInt64(File("ids.npy"), ids);
        WriteInt64(File("labels.npy"), Enumerable.Range(0, n).Select(i => (long)(i % 4)).ToArray());
        var export = CliRunner.Run("index", "export", "--embeddings", File("gallery.npy"), "--ids", File("ids.npy"), "--labels", File("labels.npy"),
            "--distance", "quantile-w2", "--table", "cli_quantiles", "--connection", cluster.ConnectionString(), "--batch-size", "16", "--json");
        Assert.True(export.Code == 0, export.Stderr);
        using (var doc = JsonDocument.Parse(export.Stdout))
        {
            Assert.Equal(n, doc.RootElement.GetProperty("rows").GetInt64());
            Assert.Equal(18, doc.RootElement.GetProperty("dimension").GetInt32());
            Assert.Equal("quantile-w2", doc.RootElement.GetProperty("distance").GetString());
            Assert.True(doc.RootElement.GetProperty("index").GetBoolean());
        }

        var search = CliRunner.Run("index", "search", "--queries", File("queries.npy"), "-k", $"{k}", "--table", "cli_quantiles",
            "--connection", cluster.ConnectionString(), "--exact", "--json");
        Assert.True(search.Code == 0, search.Stderr);
        using var gallery = Embeddings.Load(File("gallery.npy"), null, Representation.Quantiles);
        using var queries = Embeddings.Load(File("queries.npy"), null, Representation.Quantiles);
        using var d = Catalog.CreateDistance("quantile-w2", null).Pairwise(queries, gallery);
        var exact = d.to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray();
        using (var doc = JsonDocument.Parse(search.Stdout))
        {
            Assert.Equal("exact", doc.RootElement.GetProperty("mode").GetString());
            var neighbours = doc.RootElement.GetProperty("neighbours");
            Assert.Equal(m, neighbours.GetArrayLength());
            for (var i = 0; i < m; i++)
            {
                var expected = Enumerable.Range(0, n).OrderBy(j => exact[i * n + j]).ThenBy(j => j).Take(k).ToArray();
                var row = neighbours[i].EnumerateArray().ToArray();
                Assert.Equal(expected.Select(j => ids[j]), row.Select(h => h.GetProperty("id").GetInt64()));
                Assert.Equal(expected.Select(j => (long)(j % 4)), row.Select(h => h.GetProperty("label").GetInt64()));
            }
        }

        // The connection string from the environment; HNSW search by default.
        Environment.SetEnvironmentVariable(IndexDatabaseCommands.ConnectionVariable, cluster.ConnectionString());
        try
        {
            var hnsw = CliRunner.Run("index", "search", "--queries", File("queries.npy"), "-k", $"{k}", "--table", "cli_quantiles");
            Assert.True(hnsw.Code == 0, hnsw.Stderr);
            Assert.StartsWith($"{m} queries, k = {k}, HNSW search in cli_quantiles (quantile-w2)", hnsw.Stdout);
            Assert.Equal(m + 1, hnsw.Stdout.Trim().Split('\n').Length);
        }
        finally
        {
            Environment.SetEnvironmentVariable(IndexDatabaseCommands.ConnectionVariable, null);
        }

        // Exporting the same file again (a resumed export) replaces rows in place.
        var again = CliRunner.Run("index", "export", "--embeddings", File("gallery.npy"), "--ids", File("ids.npy"), "--distance", "quantile-w2",
            "--table", "cli_quantiles", "--connection", cluster.ConnectionString());
        Assert.True(again.Code == 0, again.Stderr);
        Assert.Contains($"exported {n} rows into cli_quantiles (18-dimensional, L2 = quantile-w2; {n} rows in all, HNSW index)", again.Stdout);
    }

    private static string OneError((int Code, string Stdout, string Stderr) run)
    {
        Assert.Equal(1, run.Code);
        var lines = run.Stderr.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error: ", lines[0]);
        return lines[0];
    }

    [Fact]
    public void FaultsAreOneLineErrorsNamingTheProblem()
    {
        WriteQuantiles(File("q.npy"), 10, 2, 4, 3);
        Npy.Write(File("v5.npy"), new float[2 * 5], [2, 5]);
        Npy.Write(File("v8.npy"), Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), [3, 8]);

        var noDatabase = OneError(CliRunner.Run("index", "search", "--queries", File("v5.npy"), "--table", "t"));
        Assert.Contains("no database given: pass --connection", noDatabase);
        Assert.Contains(IndexDatabaseCommands.ConnectionVariable, noDatabase);

        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var unreachable = OneError(CliRunner.Run("index", "export", "--embeddings", File("v8.npy"), "--table", "t",
            "--connection", $"Host=127.0.0.1;Port={port};Username=u;Password=pw;Database=d;Timeout=5"));
        Assert.StartsWith($"error: cannot reach PostgreSQL at 127.0.0.1:{port}", unreachable);

        cluster.Sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'distembed_cli') THEN CREATE ROLE distembed_cli LOGIN PASSWORD 'good'; END IF; END $$");
        var credentials = OneError(CliRunner.Run("index", "search", "--queries", File("v8.npy"), "--table", "t",
            "--connection", cluster.TcpConnectionString("distembed_cli", "bad")));
        Assert.Contains("rejected the password of user 'distembed_cli'", credentials);

        cluster.Sql("DROP DATABASE IF EXISTS distembed_cli_plain");
        cluster.Sql("CREATE DATABASE distembed_cli_plain");
        var extension = OneError(CliRunner.Run("index", "export", "--embeddings", File("v8.npy"), "--table", "t",
            "--connection", cluster.ConnectionString("distembed_cli_plain")));
        Assert.Contains("lacks the pgvector extension; run CREATE EXTENSION vector;", extension);
        Npgsql.NpgsqlConnection.ClearAllPools();
        cluster.Sql("DROP DATABASE distembed_cli_plain");

        var created = CliRunner.Run("index", "export", "--embeddings", File("v8.npy"), "--table", "cli_eight", "--connection", cluster.ConnectionString(), "--no-index");
        Assert.True(created.Code == 0, created.Stderr);
        var mismatch = OneError(CliRunner.Run("index", "search", "--queries", File("v5.npy"), "--table", "cli_eight", "--connection", cluster.ConnectionString(), "--exact"));
        Assert.Contains("--queries: queries have 5 dimensions but table 'cli_eight' holds 8-dimensional vectors (euclidean)", mismatch);
        var kind = OneError(CliRunner.Run("index", "search", "--queries", File("q.npy"), "--table", "cli_eight", "--connection", cluster.ConnectionString()));
        Assert.Contains("--queries", kind);
        var noIndex = OneError(CliRunner.Run("index", "search", "--queries", File("v8.npy"), "--table", "cli_eight", "--connection", cluster.ConnectionString()));
        Assert.Contains("has no HNSW index", noIndex);
        var otherDimension = OneError(CliRunner.Run("index", "export", "--embeddings", File("v5.npy"), "--table", "cli_eight", "--connection", cluster.ConnectionString()));
        Assert.Contains("--table: table 'cli_eight' holds 8-dimensional vectors (euclidean) but these have 5 dimensions", otherDimension);
        var missingTable = OneError(CliRunner.Run("index", "search", "--queries", File("v8.npy"), "--table", "cli_missing", "--connection", cluster.ConnectionString()));
        Assert.Contains("table 'cli_missing' does not exist", missingTable);
        var badOption = OneError(CliRunner.Run("index", "export", "--embeddings", File("v8.npy"), "--table", "cli_eight", "--connection", cluster.ConnectionString(), "--batch-size", "0"));
        Assert.Contains("--batch-size = 0", badOption);
        var badDistance = OneError(CliRunner.Run("index", "export", "--embeddings", File("q.npy"), "--distance", "sinkhorn", "--table", "cli_x", "--connection", cluster.ConnectionString()));
        Assert.Contains("--distance sinkhorn has no exact Euclidean export", badDistance);
        var missingFile = OneError(CliRunner.Run("index", "export", "--embeddings", File("nothing.npy"), "--table", "cli_x", "--connection", cluster.ConnectionString()));
        Assert.Contains("--embeddings", missingFile);
    }
}
