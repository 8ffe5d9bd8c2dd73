using System.Text.Json;
using DistEmbed.Evaluation;
using DistEmbed.IO;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// Evaluation of embeddings you bring, checked against an independent brute-force implementation of the definitions of
/// Musgrave, Belongie and Lim, "A Metric Learning Reality Check" (ECCV 2020, §3.2), written here from the paper.
/// </summary>
[Collection("Console")]
public sealed class EmbeddingEvaluationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-eval-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>
    /// Brute force, leave-one-out, Euclidean distances in float64: for query q the other N − 1 items sorted by distance
    /// (random continuous data: no ties), R = number of other items with q's label,
    /// P@1 = [nearest is relevant], R-precision = (relevant among the R nearest)/R,
    /// MAP@R = (1/R) Σ_{i ≤ R} P(i)·rel(i) with P(i) = (relevant among the i nearest)/i; means over queries with R ≥ 1.
    /// </summary>
    private static (double P1, double RPrecision, double MapAtR) Reference(float[][] x, int[] y)
    {
        var n = x.Length;
        double p1 = 0, rp = 0, map = 0;
        var queries = 0;
        for (var q = 0; q < n; q++)
        {
            var others = Enumerable.Range(0, n).Where(j => j != q)
                .Select(j => (j, d: Math.Sqrt(x[q].Zip(x[j], (u, v) => ((double)u - v) * ((double)u - v)).Sum())))
                .OrderBy(t => t.d).Select(t => t.j).ToArray();
            var r = others.Count(j => y[j] == y[q]);
            if (r == 0) continue;
            queries++;
            p1 += y[others[0]] == y[q] ? 1 : 0;
            var hits = 0;
            double ap = 0;
            for (var i = 1; i <= r; i++)
            {
                var rel = y[others[i - 1]] == y[q];
                if (rel) hits++;
                if (rel) ap += (double)hits / i;
            }
            rp += (double)hits / r;
            map += ap / r;
        }
        return (p1 / queries, rp / queries, map / queries);
    }

    private static (float[][] X, int[] Y) RandomSet(int seed, int n = 40, int d = 5, int classes = 4)
    {
        var rng = new Random(seed);
        var y = Enumerable.Range(0, n).Select(_ => rng.Next(classes)).ToArray();
        // Class means plus noise, so that the metrics are neither 0 nor 1.
        var x = y.Select(c => Enumerable.Range(0, d).Select(k => (float)(0.8 * Math.Sin(c * 1.7 + k) + rng.NextDouble() * 1.5)).ToArray()).ToArray();
        return (x, y);
    }

    private static float[,] To2D(float[][] x)
    {
        var m = new float[x.Length, x[0].Length];
        for (var i = 0; i < x.Length; i++)
            for (var k = 0; k < x[0].Length; k++) m[i, k] = x[i][k];
        return m;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void MatchesABruteForceImplementationOfTheReferenceDefinitions(int seed)
    {
        var (x, y) = RandomSet(seed);
        var (p1, rp, map) = Reference(x, y);
        var jagged = EmbeddingEvaluation.Evaluate(x, y);
        var rectangular = EmbeddingEvaluation.Evaluate(To2D(x), y);
        foreach (var report in new[] { jagged, rectangular })
        {
            Assert.Equal(p1, report.PrecisionAt1, 12);
            Assert.Equal(rp, report.RPrecision, 12);
            Assert.Equal(map, report.MapAtR, 12);
            Assert.Equal(40, report.Count);
            Assert.Equal("euclidean", report.Distance);
            Assert.Equal([1, 5, 10], report.RecallAtK.Keys.Order());
            Assert.Equal(p1, report.RecallAtK[1], 12);
            Assert.InRange(report.RocAuc, 0.5, 1.0);
            Assert.InRange(report.EqualErrorRate, 0.0, 0.5);
            Assert.InRange(report.MeanReciprocalRank, report.PrecisionAt1, 1.0);
            Assert.NotNull(report.Nmi);
            Assert.InRange(report.Nmi!.Value, 0.0, 1.0);
            Assert.NotNull(report.Ami);
            Assert.True(report.Ami!.Value <= 1.0 && report.Ami.Value < report.Nmi.Value + 1e-12, $"AMI {report.Ami} corrects NMI {report.Nmi} for chance");
        }
        Assert.True(map is > 0.05 and < 0.95, $"the random set should be neither trivial nor hopeless: MAP@R = {map}");
    }

    [Fact]
    public void AnyCatalogDistanceWorksAndDistributionsToo()
    {
        var (x, y) = RandomSet(4);
        var cosine = EmbeddingEvaluation.Evaluate(x, y, new EvaluationOptions { Distance = "cosine", RecallAtK = [2] });
        Assert.Equal("cosine", cosine.Distance);
        Assert.Equal([2], cosine.RecallAtK.Keys);
        var (p, mask) = Data.RandomDistributions.Generate(count: 12, minLength: 3, maxLength: 6, dimension: 2, seed: 3);
        var labels = Enumerable.Range(0, 12).Select(i => i % 3).ToArray();
        var sliced1 = EmbeddingEvaluation.Evaluate(p, mask, labels, new EvaluationOptions { Distance = "sliced-w2" });
        var sliced2 = EmbeddingEvaluation.Evaluate(p, mask, labels, new EvaluationOptions { Distance = "sliced-w2" });
        Assert.Equal(sliced1.MapAtR, sliced2.MapAtR);
        Assert.Null(sliced1.Nmi);
        Assert.Null(sliced1.Ami);
    }

    [Fact]
    public void BadInputNamesTheArgument()
    {
        var (x, y) = RandomSet(5, n: 6);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(x, y[..5])).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(x, new int[6])).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(x, [0, 1, 2, 3, 4, 5])).ParamName);
        var nan = x.Select(r => (float[])r.Clone()).ToArray();
        nan[3][1] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(nan, y));
        Assert.Equal("embeddings", e.ParamName);
        Assert.Contains("item 3", e.Message);
        var ragged = x.Select(r => (float[])r.Clone()).ToArray();
        ragged[2] = [1f];
        Assert.Equal("embeddings", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(ragged, y)).ParamName);
        Assert.Equal("embeddings", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(new float[1, 3], [0])).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(x, y, new EvaluationOptions { Distance = "marginal-w2" })).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(x, y, new EvaluationOptions { Distance = "nope" })).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(x, y, new EvaluationOptions { RecallAtK = [6] })).ParamName);
    }

    private string WriteLabels(string name, long[] labels, bool int32 = false)
    {
        var path = Path.Combine(_dir, name);
        var descr = int32 ? "<i4" : "<i8";
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({labels.Length},), }}";
        header = header.PadRight(header.Length + (64 - (10 + header.Length + 1) % 64) % 64) + "\n";
        using var w = new BinaryWriter(File.Create(path));
        w.Write((byte)0x93);
        w.Write("NUMPY"u8.ToArray());
        w.Write((byte)1);
        w.Write((byte)0);
        w.Write((ushort)header.Length);
        w.Write(System.Text.Encoding.ASCII.GetBytes(header));
        foreach (var l in labels)
            if (int32) w.Write((int)l); else w.Write(l);
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheCommandLineEvaluatesEmbeddingsWithoutAModel(bool int32Labels)
    {
        var (x, y) = RandomSet(6, n: 30);
        var (p1, rp, map) = Reference(x, y);
        var emb = Path.Combine(_dir, "x.npy");
        Npy.Write(emb, x.SelectMany(r => r).ToArray(), [30, 5]);
        var labels = WriteLabels("y.npy", y.Select(v => (long)v).ToArray(), int32Labels);
        var (code, stdout, stderr) = CliRunner.Run("evaluate", "--embeddings", emb, "--labels", labels, "--json");
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout.Trim()).RootElement;
        Assert.Equal(p1, json.GetProperty("precision_at_1").GetDouble(), 12);
        Assert.Equal(rp, json.GetProperty("r_precision").GetDouble(), 12);
        Assert.Equal(map, json.GetProperty("map_at_r").GetDouble(), 12);
        Assert.Equal("euclidean", json.GetProperty("distance").GetString());
        Assert.Equal(30, json.GetProperty("n").GetInt32());
        foreach (var key in new[] { "mrr", "auc", "eer", "nmi", "ami", "recall_at_k", "mean_average_precision" }) Assert.True(json.TryGetProperty(key, out _), key);
        (code, stdout, stderr) = CliRunner.Run("evaluate", "--embeddings", emb, "--labels", labels, "--distance", "cosine");
        Assert.True(code == 0, stderr);
        Assert.Contains("map_at_r", stdout);
        Assert.Contains("cosine", stdout);
    }

    [Fact]
    public void TheCommandLineRejectsBadEmbeddingInputClearly()
    {
        var (x, y) = RandomSet(7, n: 10);
        var emb = Path.Combine(_dir, "x.npy");
        Npy.Write(emb, x.SelectMany(r => r).ToArray(), [10, 5]);
        var shortLabels = WriteLabels("short.npy", y[..9].Select(v => (long)v).ToArray());
        var oneClass = WriteLabels("one.npy", new long[10]);
        var floatLabels = Path.Combine(_dir, "f.npy");
        Npy.Write(floatLabels, new double[10], [10]);
        var nanPath = Path.Combine(_dir, "nan.npy");
        var withNan = x.SelectMany(r => r).ToArray();
        withNan[7] = float.NaN;
        Npy.Write(nanPath, withNan, [10, 5]);
        var good = WriteLabels("y.npy", y.Select(v => (long)v).ToArray());
        foreach (var (args, expected) in new (string[], string)[]
                 {
                     (["--embeddings", emb, "--labels", shortLabels], "--labels"),
                     (["--embeddings", emb, "--labels", oneClass], "at least 2 classes"),
                     (["--embeddings", emb, "--labels", floatLabels], "int32 or int64"),
                     (["--embeddings", nanPath, "--labels", good], "NaN"),
                     (["--embeddings", emb], "--labels"),
                     (["--embeddings", emb, "--labels", good, "--distance", "marginal-w2"], "--distance"),
                     (["--embeddings", emb, "--labels", good, "--distance", "nope"], "--distance"),
                     (["--embeddings", emb, "--labels", good, "--model", _dir], "--model"),
                     ([], "--embeddings"),
                 })
        {
            var (code, _, stderr) = CliRunner.Run(["evaluate", .. args]);
            Assert.True(code == 1, $"evaluate {string.Join(" ", args)} exited {code}: {stderr}");
            Assert.Contains(expected, stderr);
        }
    }
    [Fact]
    public void QueriesAgainstAGalleryAgreeWithTheDefinitionsAndNameBadArguments()
    {
        var (qx, qy) = RandomSet(11, n: 25);
        var (gx, gy) = RandomSet(12, n: 30);
        // Brute force: each query ranks the whole gallery (none left out); R = gallery items of its class.
        double p1 = 0, rp = 0, map = 0;
        var counted = 0;
        for (var q = 0; q < qx.Length; q++)
        {
            var ranked = Enumerable.Range(0, gx.Length)
                .Select(j => (j, d: Math.Sqrt(qx[q].Zip(gx[j], (u, v) => ((double)u - v) * ((double)u - v)).Sum())))
                .OrderBy(t => t.d).Select(t => t.j).ToArray();
            var r = ranked.Count(j => gy[j] == qy[q]);
            if (r == 0) continue;
            counted++;
            p1 += gy[ranked[0]] == qy[q] ? 1 : 0;
            var hits = 0;
            double ap = 0;
            for (var i = 1; i <= r; i++)
                if (gy[ranked[i - 1]] == qy[q]) ap += (double)++hits / i;
            rp += (double)hits / r;
            map += ap / r;
        }
        static double[,] Matrix(float[][] x)
        {
            var m = new double[x.Length, x[0].Length];
            for (var i = 0; i < x.Length; i++)
                for (var k = 0; k < x[0].Length; k++) m[i, k] = x[i][k];
            return m;
        }
        using var queries = EmbeddingBatch.Vectors(Matrix(qx));
        using var gallery = EmbeddingBatch.Vectors(Matrix(gx));
        var euclidean = Catalog.CreateDistance("euclidean");
        long[] Long(int[] y) => y.Select(l => (long)l).ToArray();
        var report = EmbeddingEvaluation.Evaluate(queries, Long(qy), gallery, Long(gy), euclidean);
        Assert.Equal(p1 / counted, report.PrecisionAt1, 12);
        Assert.Equal(rp / counted, report.RPrecision, 12);
        Assert.Equal(map / counted, report.MapAtR, 12);
        Assert.Equal(25, report.Count);
        Assert.Equal([1, 5, 10], report.RecallAtK.Keys.Order());
        Assert.InRange(report.RocAuc, 0.0, 1.0);
        Assert.Null(report.Nmi);

        var e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(queries, Long(qy)[1..], gallery, Long(gy), euclidean));
        Assert.Equal("queryLabels", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(queries, Long(qy), gallery, Long(gy), Catalog.CreateDistance("marginal-w2")));
        Assert.Equal("distance", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(queries, Long(qy), gallery, gy.Select(l => 100L + l).ToArray(), euclidean));
        Assert.Equal("galleryLabels", e.ParamName);
        e = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(queries, new long[25], gallery, new long[30], euclidean));
        Assert.Equal("galleryLabels", e.ParamName);
    }
}
