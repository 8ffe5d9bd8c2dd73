using DistEmbed.Core;
using DistEmbed.Core.Similarity;
using DistEmbed.Retrieval;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The vector indexes of DistEmbed.Retrieval: the exact index equals brute force, the USearch HNSW index reaches a recall
/// bound, saved indexes load back with identical answers, an index of quantile exports answers exact quantile-w2 and
/// marginal-w2 queries, and every kind of bad input or damaged file is refused with a message naming it.
/// </summary>
public sealed class VectorIndexTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), "distembed-index-tests-" + Guid.NewGuid().ToString("N"));

    public VectorIndexTests() => Directory.CreateDirectory(root);

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
    }

    private static torch.Tensor Random(long n, long d, long seed, torch.ScalarType dtype = torch.ScalarType.Float32)
    {
        var g = new torch.Generator((ulong)seed);
        return torch.randn([n, d], generator: g, dtype: dtype);
    }

    private static long[] Ids(int n, int seed)
    {
        var random = new System.Random(seed);
        var set = new HashSet<long>();
        while (set.Count < n) set.Add(random.NextInt64(0, 1L << 40));
        return [.. set];
    }

    private static double Recall(SearchResult approximate, SearchResult exact)
    {
        var hits = 0;
        for (var q = 0; q < exact.Count; q++)
            hits += approximate.IdsOf(q).Intersect(exact.IdsOf(q)).Count();
        return hits / (double)(exact.Count * exact.K);
    }

    [Fact]
    public void ExactIndexEqualsBruteForceForEuclideanAndCosine()
    {
        using var x = Random(300, 8, 1, torch.ScalarType.Float64);
        using var q = Random(20, 8, 2, torch.ScalarType.Float64);
        var ids = Ids(300, 3);
        var xs = x.data<double>().ToArray();
        var qs = q.data<double>().ToArray();
        foreach (var metric in new[] { IndexMetric.Euclidean, IndexMetric.Cosine })
        {
            using var index = new ExactIndex(8, metric, IndexPrecision.Float64);
            index.Add(ids[..100], x.narrow(0, 0, 100));
            index.Add(ids[100..], x.narrow(0, 100, 200));
            Assert.Equal(300, index.Count);
            var result = index.Search(q, 7);
            for (var i = 0; i < 20; i++)
            {
                var brute = Enumerable.Range(0, 300).Select(j =>
                {
                    double dot = 0, nq = 0, nx = 0, sq = 0;
                    for (var c = 0; c < 8; c++)
                    {
                        var a = qs[i * 8 + c];
                        var b = xs[j * 8 + c];
                        dot += a * b; nq += a * a; nx += b * b; sq += (a - b) * (a - b);
                    }
                    return (Id: ids[j], D: metric == IndexMetric.Euclidean ? Math.Sqrt(sq) : 1 - dot / Math.Sqrt(nq * nx));
                }).OrderBy(t => t.D).Take(7).ToArray();
                Assert.Equal(brute.Select(b => b.Id).ToArray(), result.IdsOf(i));
                for (var j = 0; j < 7; j++) Assert.Equal(brute[j].D, result.Distances[i, j], 1e-9);
            }
        }
    }

    [Fact]
    public void HnswRecallAtTenIsAtLeastNinetyPercentOnTwoThousandVectors()
    {
        using var x = Random(2000, 32, 11);
        using var q = Random(200, 32, 12);
        var ids = Ids(2000, 13);
        using var exact = new ExactIndex(32);
        exact.Add(ids, x);
        using var hnsw = new HnswIndex(32, IndexMetric.Euclidean, new HnswOptions { Threads = 1 });
        hnsw.Add(ids, x);
        Assert.Equal(2000, hnsw.Count);
        var truth = exact.Search(q, 10);
        var found = hnsw.Search(q, 10);
        var recall = Recall(found, truth);
        Assert.True(recall >= 0.9, $"recall@10 = {recall:F3} < 0.9");
        // Same quantity: where both report an id, the distances agree (Euclidean, not squared).
        for (var i = 0; i < 200; i++)
            for (var j = 0; j < 10; j++)
                if (truth.Ids[i, j] == found.Ids[i, j])
                    Assert.Equal(truth.Distances[i, j], found.Distances[i, j], 1e-3 * (1 + truth.Distances[i, j]));
        // A lower expansion cannot search more candidates than a higher one: recall is monotone on this data.
        hnsw.ExpansionSearch = 10;
        Assert.True(Recall(hnsw.Search(q, 10), truth) <= recall + 1e-12);
    }

    [Fact]
    public void HnswCosineReturnsOneMinusCosine()
    {
        using var x = Random(500, 16, 21);
        using var q = Random(30, 16, 22);
        var ids = Ids(500, 23);
        using var exact = new ExactIndex(16, IndexMetric.Cosine);
        exact.Add(ids, x);
        using var hnsw = new HnswIndex(16, IndexMetric.Cosine, new HnswOptions { ExpansionSearch = 500 });
        hnsw.Add(ids, x);
        var truth = exact.Search(q, 5);
        var found = hnsw.Search(q, 5);
        Assert.True(Recall(found, truth) >= 0.95);
        for (var i = 0; i < 30; i++)
            if (truth.Ids[i, 0] == found.Ids[i, 0])
                Assert.Equal(truth.Distances[i, 0], found.Distances[i, 0], 1e-4);
    }

    [Theory]
    [InlineData("exact")]
    [InlineData("hnsw")]
    public void SaveAndLoadGiveIdenticalResults(string engine)
    {
        using var x = Random(800, 12, 31);
        using var q = Random(50, 12, 32);
        var ids = Ids(800, 33);
        using IVectorIndex index = engine == "exact"
            ? new ExactIndex(12)
            : new HnswIndex(12, IndexMetric.Euclidean, new HnswOptions { ExpansionSearch = 40, Connectivity = 8 });
        index.Add(ids, x);
        index.Source = "quantile-w2";
        var before = index.Search(q, 10);
        var folder = Path.Combine(root, engine);
        index.Save(folder);
        index.Save(folder); // replacing an index folder is allowed and leaves no temporary siblings
        Assert.Equal([engine], Directory.EnumerateFileSystemEntries(root).Select(Path.GetFileName));
        using var loaded = VectorIndex.Load(folder);
        Assert.Equal(index.GetType(), loaded.GetType());
        Assert.Equal((12, 800L, IndexMetric.Euclidean, "quantile-w2"), (loaded.Dimension, loaded.Count, loaded.Metric, loaded.Source));
        if (loaded is HnswIndex h) Assert.Equal(40, h.ExpansionSearch);
        var after = loaded.Search(q, 10);
        Assert.Equal(before.Ids, after.Ids);
        Assert.Equal(before.Distances, after.Distances);
        Assert.All(ids, id => Assert.True(loaded.Contains(id)));
    }

    [Fact]
    public void AnIndexOfQuantileExportsAnswersExactQuantileAndMarginalW2Queries()
    {
        var g = new torch.Generator(41);
        using var galleryValues = torch.randn([400, 3, 16], generator: g, dtype: torch.ScalarType.Float64).sort(2).Values;
        using var queryValues = torch.randn([25, 3, 16], generator: g, dtype: torch.ScalarType.Float64).sort(2).Values;
        using var gallery = EmbeddingBatch.Quantiles(galleryValues);
        using var queries = EmbeddingBatch.Quantiles(queryValues);
        var w2 = Catalog.CreateDistance("quantile-w2", null);
        var truth = NearestNeighbours.Search(queries.Core, gallery.Core, w2.Core, 10, 0);
        var ids = Enumerable.Range(0, 400).Select(i => 1000L + i).ToArray();
        using var exported = gallery.ToEuclidean();
        using var exportedQueries = queries.ToEuclidean();
        using var exact = new ExactIndex((int)exported.shape[1], IndexMetric.Euclidean, IndexPrecision.Float64);
        exact.Add(ids, exported);
        var result = exact.Search(exportedQueries, 10);
        for (var i = 0; i < 25; i++)
            for (var j = 0; j < 10; j++)
            {
                Assert.Equal(1000L + truth.Indices[i, j], result.Ids[i, j]);
                Assert.Equal(truth.Distances[i, j], result.Distances[i, j], 1e-9);
            }
        using var hnsw = new HnswIndex((int)exported.shape[1], IndexMetric.Euclidean, new HnswOptions { ExpansionSearch = 400, Threads = 1 });
        hnsw.Add(ids, exported);
        var approximate = hnsw.Search(exportedQueries, 10);
        Assert.True(Recall(approximate, result) >= 0.98, $"recall {Recall(approximate, result)}");

        // Marginal W2 between equal-length uniform point sets: the sorted-coordinate export.
        using var points = EmbeddingBatch.Distributions(torch.randn([300, 9, 2], generator: g, dtype: torch.ScalarType.Float64));
        using var probe = EmbeddingBatch.Distributions(torch.randn([15, 9, 2], generator: g, dtype: torch.ScalarType.Float64));
        var marginal = NearestNeighbours.Search(probe.Core, points.Core, Catalog.CreateDistance("marginal-w2", null).Core, 5, 0);
        using var px = points.ToEuclidean();
        using var qx = probe.ToEuclidean();
        using var byMarginal = new ExactIndex((int)px.shape[1], IndexMetric.Euclidean, IndexPrecision.Float64);
        byMarginal.Add(Enumerable.Range(0, 300).Select(i => (long)i).ToArray(), px);
        var m = byMarginal.Search(qx, 5);
        for (var i = 0; i < 15; i++)
            for (var j = 0; j < 5; j++)
            {
                Assert.Equal(marginal.Indices[i, j], m.Ids[i, j]);
                Assert.Equal(marginal.Distances[i, j], m.Distances[i, j], 1e-9);
            }
    }

    public static TheoryData<string> Engines => new() { "exact", "hnsw" };

    private static IVectorIndex Make(string engine, int dimension) =>
        engine == "exact" ? new ExactIndex(dimension) : new HnswIndex(dimension);

    [Theory]
    [MemberData(nameof(Engines))]
    public void DimensionMismatchesAreRefusedNamingTheArgumentAndBothDimensions(string engine)
    {
        using var index = Make(engine, 4);
        using var wrong = torch.zeros(3, 5);
        var e = Assert.Throws<ArgumentException>(() => index.Add([1, 2, 3], wrong));
        Assert.Equal("vectors", e.ParamName);
        Assert.Contains("dimension 5", e.Message);
        Assert.Contains("dimension 4", e.Message);
        using var right = torch.ones(3, 4);
        index.Add([1, 2, 3], right);
        e = Assert.Throws<ArgumentException>(() => index.Search(wrong, 1));
        Assert.Equal("queries", e.ParamName);
        Assert.Contains("dimension 5", e.Message);
        using var flat = torch.ones(4);
        e = Assert.Throws<ArgumentException>(() => index.Search(flat, 1));
        Assert.Equal("queries", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => index.Search(right, 4));
        Assert.Equal("k", e.ParamName);
        using var integers = torch.ones([2, 4], dtype: torch.ScalarType.Int64);
        Assert.Equal("vectors", Assert.Throws<ArgumentException>(() => index.Add([7, 8], integers)).ParamName);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void NonFiniteVectorsAndQueriesAreRefused(string engine)
    {
        using var index = Make(engine, 3);
        foreach (var bad in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            using var v = torch.tensor(new double[,] { { 1, 2, 3 }, { 4, bad, 6 } });
            var e = Assert.Throws<ArgumentException>(() => index.Add([1, 2], v));
            Assert.Equal("vectors", e.ParamName);
            Assert.Contains("row 1", e.Message);
            Assert.Equal(0, index.Count);
        }
        // float64 values beyond float32's range become ∞ in a float32 index: refused too.
        using var huge = torch.tensor(new double[,] { { 1e300, 0, 0 } });
        Assert.Contains("conversion", Assert.Throws<ArgumentException>(() => index.Add([1], huge)).Message);
        using var ok = torch.ones(2, 3);
        index.Add([1, 2], ok);
        using var nanQuery = torch.tensor(new float[,] { { float.NaN, 0, 0 } });
        Assert.Equal("queries", Assert.Throws<ArgumentException>(() => index.Search(nanQuery, 1)).ParamName);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void DuplicateAndNegativeIdsAreRefusedAndNothingIsAdded(string engine)
    {
        using var index = Make(engine, 2);
        using var v = torch.tensor(new float[,] { { 0, 0 }, { 1, 1 }, { 2, 2 } });
        var e = Assert.Throws<ArgumentException>(() => index.Add([5, 6, 5], v));
        Assert.Equal("ids", e.ParamName);
        Assert.Contains("ids[2] = 5 repeats", e.Message);
        Assert.Equal(0, index.Count);
        index.Add([5, 6, 7], v);
        e = Assert.Throws<ArgumentException>(() => index.Add([9, 8, 6], v));
        Assert.Contains("ids[2] = 6 is already in the index", e.Message);
        Assert.Equal(3, index.Count);
        Assert.False(index.Contains(9));
        Assert.Contains("must be ≥ 0", Assert.Throws<ArgumentException>(() => index.Add([10, -1, 11], v)).Message);
        Assert.Contains("2 entries but vectors has 3 rows", Assert.Throws<ArgumentException>(() => index.Add([10, 11], v)).Message);
        Assert.Equal(3, index.Count);
        using var q = torch.tensor(new float[,] { { 1.1f, 1.1f } });
        Assert.Equal(6L, index.Search(q, 1).Ids[0, 0]);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void DamagedIndexFilesAreRefusedBeforeTheyAreParsed(string engine)
    {
        using var x = Random(200, 6, 51);
        using (var index = Make(engine, 6))
        {
            index.Add(Enumerable.Range(0, 200).Select(i => (long)i).ToArray(), x);
            index.Save(Path.Combine(root, "good"));
        }
        var file = engine == "exact" ? "vectors.npy" : "index.usearch";
        string Copy(string name)
        {
            var target = Path.Combine(root, name);
            Directory.CreateDirectory(target);
            foreach (var f in Directory.GetFiles(Path.Combine(root, "good"))) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
            return target;
        }

        var truncated = Copy("truncated");
        var bytes = File.ReadAllBytes(Path.Combine(truncated, file));
        File.WriteAllBytes(Path.Combine(truncated, file), bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => VectorIndex.Load(truncated));
        Assert.Contains(file, e.Message);
        Assert.Contains("truncated", e.Message);

        var corrupt = Copy("corrupt");
        bytes[bytes.Length / 3] ^= 0x5A;
        File.WriteAllBytes(Path.Combine(corrupt, file), bytes);
        e = Assert.Throws<InvalidDataException>(() => VectorIndex.Load(corrupt));
        Assert.Contains(file, e.Message);
        Assert.Contains("SHA-256", e.Message);

        var garbage = Copy("garbage");
        File.WriteAllBytes(Path.Combine(garbage, file), new byte[bytes.Length]);
        Assert.Contains("SHA-256", Assert.Throws<InvalidDataException>(() => VectorIndex.Load(garbage)).Message);

        var missing = Copy("missing");
        File.Delete(Path.Combine(missing, file));
        Assert.Contains("missing", Assert.Throws<InvalidDataException>(() => VectorIndex.Load(missing)).Message);

        var noManifest = Copy("no-manifest");
        File.Delete(Path.Combine(noManifest, "manifest.json"));
        Assert.Contains("manifest.json", Assert.Throws<InvalidDataException>(() => VectorIndex.Load(noManifest)).Message);

        var badManifest = Copy("bad-manifest");
        File.WriteAllText(Path.Combine(badManifest, "manifest.json"), "{\"kind\": \"vector-index\", \"format\": ");
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => VectorIndex.Load(badManifest)).Message);

        Assert.Throws<DirectoryNotFoundException>(() => VectorIndex.Load(Path.Combine(root, "absent")));
        using var again = VectorIndex.Load(Path.Combine(root, "good"));
        Assert.Equal(200, again.Count);
    }

    [Fact]
    public void SavingRefusesAFolderThatIsNotAnIndexAndKeepsIt()
    {
        var folder = Path.Combine(root, "not-an-index");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "mine");
        using var index = new ExactIndex(2);
        using var v = torch.ones(1, 2);
        index.Add([1], v);
        var e = Assert.Throws<ArgumentException>(() => index.Save(folder));
        Assert.Equal("directory", e.ParamName);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(folder, "notes.txt")));
        using var hnsw = new HnswIndex(2);
        hnsw.Add([1], v);
        hnsw.Save(Path.Combine(root, "hnsw"));
        Assert.Contains("not an exact one", Assert.Throws<InvalidDataException>(() => ExactIndex.Load(Path.Combine(root, "hnsw"))).Message);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public void VectorsAddedInsideADisposeScopeOutliveIt(string engine)
    {
        using var index = Make(engine, 5);
        using (torch.NewDisposeScope())
        {
            index.Add([3, 4], Random(2, 5, 61));
            using var q0 = torch.ones(1, 5);
            index.Search(q0, 2);
        }
        using var q = Random(2, 5, 61);
        var result = index.Search(q, 1);
        Assert.Equal([3L, 4L], new[] { result.Ids[0, 0], result.Ids[1, 0] });
        Assert.Equal(0.0, result.Distances[0, 0], 1e-6);
    }

    [Fact]
    public void SearchingAnEmptyIndexOrADisposedOneFailsClearly()
    {
        using var q = torch.ones(1, 3);
        using var exact = new ExactIndex(3);
        Assert.Contains("empty", Assert.Throws<InvalidOperationException>(() => exact.Search(q, 1)).Message);
        var hnsw = new HnswIndex(3);
        Assert.Contains("empty", Assert.Throws<InvalidOperationException>(() => hnsw.Search(q, 1)).Message);
        hnsw.Dispose();
        Assert.Throws<ObjectDisposedException>(() => hnsw.Search(q, 1));
        Assert.Equal("dimension", Assert.Throws<ArgumentException>(() => new HnswIndex(0)).ParamName);
        Assert.Equal("options.Connectivity", Assert.Throws<ArgumentException>(() => new HnswIndex(3, IndexMetric.Euclidean, new HnswOptions { Connectivity = 1 })).ParamName);
        Assert.StartsWith("2.26.6", HnswIndex.NativeVersion);
    }
}
