using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.Core.Similarity;
using DistEmbed.IO;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// <c>distembed index build|query</c>: an index folder of quantile embeddings answers quantile-w2 queries with the
/// exact neighbours (exact engine) and the ids given by <c>--ids</c>; bad input and damaged folders fail in one line.
/// </summary>
public sealed class IndexCliTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "distembed-index-cli-" + Guid.NewGuid().ToString("N"));

    public IndexCliTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        try { Directory.Delete(dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private string P(string name) => Path.Combine(dir, name);

    [Theory]
    [InlineData("exact")]
    [InlineData("hnsw")]
    public void BuildAndQueryAQuantileIndexGiveTheExactQuantileW2Neighbours(string engine)
    {
        var g = new torch.Generator(5);
        using var gallery = torch.randn([300, 2, 8], generator: g, dtype: torch.ScalarType.Float64).sort(2).Values;
        using var queries = torch.randn([6, 2, 8], generator: g, dtype: torch.ScalarType.Float64).sort(2).Values;
        Npy.WriteTensor(P("gallery.npy"), gallery);
        Npy.WriteTensor(P("queries.npy"), queries);
        var ids = Enumerable.Range(0, 300).Select(i => 10_000L + 3 * i).ToArray();
        Npy.Write(P("ids.npy"), ids, [300]);

        var (code, stdout, stderr) = CliRunner.Run("index", "build", "--embeddings", P("gallery.npy"), "--ids", P("ids.npy"),
            "--distance", "quantile-w2", "--engine", engine, "--precision", "float64", "--expansion-search", "300", "--out", P("idx"));
        Assert.True(code == 0, stderr);
        Assert.Contains("300 vectors", stdout);
        (code, stdout, stderr) = CliRunner.Run("index", "query", "--index", P("idx"), "--queries", P("queries.npy"), "-k", "5",
            "--json", "--out", P("n.npy"));
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("quantile-w2", doc.RootElement.GetProperty("distance").GetString());
        var found = doc.RootElement.GetProperty("ids").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetInt64()).ToArray()).ToArray();
        var distances = doc.RootElement.GetProperty("distances").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToArray();

        using var gb = QuantileBatch.FromTensor(gallery, null);
        using var qb = QuantileBatch.FromTensor(queries, null);
        var truth = NearestNeighbours.Search(qb, gb, Catalog.CreateDistance("quantile-w2", null).Core, 5, 0);
        var hits = 0;
        for (var i = 0; i < 6; i++)
        {
            var expected = Enumerable.Range(0, 5).Select(j => ids[truth.Indices[i, j]]).ToArray();
            if (engine == "exact")
            {
                Assert.Equal(expected, found[i]);
                for (var j = 0; j < 5; j++) Assert.Equal(truth.Distances[i, j], distances[i][j], 1e-9);
            }
            hits += expected.Intersect(found[i]).Count();
        }
        Assert.True(hits >= 29, $"{hits} of 30 neighbours found");
        var written = Npy.Read(P("n.npy"));
        Assert.Equal([6L, 5L], written.Shape);
        Assert.Equal("<i8", written.SourceDType);
        Assert.Equal(found[0].Select(v => (double)v), written.ToDoubleArray().Take(5));
    }

    [Fact]
    public void BadInputAndDamagedIndexesFailInOneLineNamingTheProblem()
    {
        using var x = torch.randn(50, 4);
        Npy.WriteTensor(P("x.npy"), x);
        using var q3 = torch.randn(2, 3);
        Npy.WriteTensor(P("q3.npy"), q3);
        Assert.Equal(0, CliRunner.Run("index", "build", "--embeddings", P("x.npy"), "--out", P("idx")).Code);

        (int, string) Fail(params string[] args)
        {
            var (code, _, stderr) = CliRunner.Run(args);
            Assert.Equal(1, code);
            Assert.Single(stderr.Trim().Split('\n'));
            return (code, stderr);
        }

        var (_, e) = Fail("index", "query", "--index", P("idx"), "--queries", P("q3.npy"));
        Assert.Contains("--queries", e);
        Assert.Contains("dimension 3 but the index has dimension 4", e);
        (_, e) = Fail("index", "query", "--index", P("idx"), "--queries", P("x.npy"), "-k", "51");
        Assert.Contains("k = 51", e);
        (_, e) = Fail("index", "build", "--embeddings", P("x.npy"), "--out", P("idx"));
        Assert.Contains("--overwrite", e);
        Assert.Equal(0, CliRunner.Run("index", "build", "--embeddings", P("x.npy"), "--out", P("idx"), "--overwrite", "--engine", "exact").Code);
        (_, e) = Fail("index", "build", "--embeddings", P("x.npy"), "--distance", "sinkhorn", "--out", P("other"));
        Assert.Contains("--distance sinkhorn has no exact Euclidean export", e);
        Npy.Write(P("dup.npy"), Enumerable.Range(0, 50).Select(i => (long)(i % 49)).ToArray(), [50]);
        (_, e) = Fail("index", "build", "--embeddings", P("x.npy"), "--ids", P("dup.npy"), "--out", P("other"));
        Assert.Contains("--ids", e);
        Assert.Contains("repeats", e);
        using var nan = torch.tensor(new float[,] { { 1, float.NaN, 0, 0 } });
        Npy.WriteTensor(P("nan.npy"), nan);
        (_, e) = Fail("index", "query", "--index", P("idx"), "--queries", P("nan.npy"));
        Assert.Contains("NaN", e);

        var vectors = P("idx/vectors.npy");
        var bytes = File.ReadAllBytes(vectors);
        File.WriteAllBytes(vectors, bytes[..^7]);
        (_, e) = Fail("index", "query", "--index", P("idx"), "--queries", P("x.npy"));
        Assert.Contains("vectors.npy", e);
        Assert.Contains("truncated", e);
        (_, e) = Fail("index", "query", "--index", P("absent"), "--queries", P("x.npy"));
        Assert.Contains("--index", e);
    }
}
