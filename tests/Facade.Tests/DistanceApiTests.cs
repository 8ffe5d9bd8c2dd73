using System.Text.Json;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.IO;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>The array entry points and the `distembed distance` command, used as a C# consumer would.</summary>
[Collection("Console")]
public sealed class DistanceApiTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-api-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static float[,,] Random3(int n, int t, int d, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n, t, d];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < t; j++)
                for (var k = 0; k < d; k++)
                    a[i, j, k] = (float)(rng.NextDouble() * 4 - 2);
        return a;
    }

    [Fact]
    public void PairwiseWassersteinFromArraysInThreeLines()
    {
        float[,,] a = Random3(4, 10, 3, 1), b = Random3(5, 7, 3, 2);
        double[,] d = ArrayDistances.Pairwise(a, b, "marginal-w2");
        Assert.Equal(4, d.GetLength(0));
        Assert.Equal(5, d.GetLength(1));
        var paired = ArrayDistances.Paired(a, Random3(4, 7, 3, 2), "marginal-w2");
        Assert.Equal(4, paired.Length);
        // The pairwise entry (i, j) is the paired distance of a_i and b_j: check it against the float64 reference.
        for (var i = 0; i < 4; i++)
            for (var j = 0; j < 5; j++)
            {
                var expected = Core.Reference.MarginalWasserstein.Wasserstein(2.0, Empirical(a, i), Empirical(b, j));
                Assert.InRange(Math.Abs(d[i, j] - expected), 0, 1e-9 * Math.Max(1, expected));
            }
    }

    [Fact]
    public void MaskedPointsChangeNothing()
    {
        var a = Random3(2, 6, 2, 3);
        var b = Random3(2, 6, 2, 4);
        var mask = new float[2, 6];
        for (var i = 0; i < 2; i++) for (var t = 0; t < 4; t++) mask[i, t] = 1f;
        var masked = ArrayDistances.Paired(a, b, "sliced-w2", new DistanceSettings { Projections = 8, Seed = 5 }, mask, mask);
        var trimmedA = new float[2, 4, 2];
        var trimmedB = new float[2, 4, 2];
        for (var i = 0; i < 2; i++) for (var t = 0; t < 4; t++) for (var k = 0; k < 2; k++) { trimmedA[i, t, k] = a[i, t, k]; trimmedB[i, t, k] = b[i, t, k]; }
        var trimmed = ArrayDistances.Paired(trimmedA, trimmedB, "sliced-w2", new DistanceSettings { Projections = 8, Seed = 5 });
        Assert.Equal(trimmed[0], masked[0], 9);
        Assert.Equal(trimmed[1], masked[1], 9);
    }

    [Fact]
    public void UnknownMetricNamesTheValidOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => ArrayDistances.Pairwise(Random3(1, 2, 1, 0), Random3(1, 2, 1, 0), "wasserstein-banana"));
        Assert.Equal("name", e.ParamName);
        Assert.Contains("marginal-w2", e.Message);
    }

    [Fact]
    public void VectorMetricOnDistributionsIsRejectedNamingTheArgument()
    {
        var e = Assert.Throws<ArgumentException>(() => ArrayDistances.Pairwise(Random3(1, 2, 1, 0), Random3(1, 2, 1, 0), "euclidean"));
        Assert.Equal("a", e.ParamName);
        Assert.Contains("vectors", e.Message);
    }

    [Fact]
    public void NaNInPointsIsRejectedWithItsIndex()
    {
        var a = Random3(2, 3, 2, 0);
        a[1, 2, 0] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => ArrayDistances.Pairwise(a, Random3(2, 3, 2, 1), "marginal-w1"));
        Assert.Equal("a", e.ParamName);
        Assert.Contains("1,2,0", e.Message);
        Assert.Contains("NaN", e.Message);
    }

    [Fact]
    public void MaskOfWrongShapeIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            ArrayDistances.Paired(Random3(2, 3, 2, 0), Random3(2, 3, 2, 1), "marginal-w1", null, new float[2, 4]));
        Assert.Equal("aMask", e.ParamName);
    }

    [Fact]
    public void AllZeroMaskRowIsAnEmptyDistribution()
    {
        var mask = new float[2, 3];
        mask[0, 0] = 1f;
        var e = Assert.Throws<ArgumentException>(() => ArrayDistances.Paired(Random3(2, 3, 2, 0), Random3(2, 3, 2, 1), "marginal-w1", null, mask));
        Assert.Equal("aMask", e.ParamName);
        Assert.Contains("row 1", e.Message);
    }

    [Fact]
    public void CommandWithJsonAndOutReportsTheFileNotTheValues()
    {
        var (a, am) = Save("a", Random3(3, 5, 2, 7));
        var (b, bm) = Save("b", Random3(2, 4, 2, 8));
        var outPath = Path.Combine(_dir, "d.npy");
        var (code, stdout, _) = RunCli("distance", "--a", a, "--b", b, "--a-mask", am, "--b-mask", bm, "--metric", "energy",
            "--pairwise", "--json", "--out", outPath, "--device", "cpu");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("energy", root.GetProperty("distance").GetString());
        Assert.Equal("energy", root.GetProperty("metric").GetString());   // the older key, kept
        Assert.Equal([3L, 2L], root.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()));
        Assert.False(root.TryGetProperty("values", out _), "with --out the values go to the file, not to stdout");
        Assert.Equal(Path.GetFullPath(outPath), root.GetProperty("out").GetString());
        var written = Npy.Read(outPath);
        Assert.Equal([3L, 2L], written.Shape);
        var values = written.ToDoubleArray();
        var summary = root.GetProperty("summary");
        Assert.Equal(6, summary.GetProperty("count").GetInt64());
        Assert.Equal(values.Min(), summary.GetProperty("min").GetDouble(), 12);
        Assert.Equal(values.Max(), summary.GetProperty("max").GetDouble(), 12);
        Assert.Equal(values.Average(), summary.GetProperty("mean").GetDouble(), 12);
    }

    [Fact]
    public void CommandWithJsonAloneStillPrintsEveryValue()
    {
        var (a, am) = Save("a", Random3(3, 5, 2, 7));
        var (b, bm) = Save("b", Random3(2, 4, 2, 8));
        var (code, stdout, _) = RunCli("distance", "--a", a, "--b", b, "--a-mask", am, "--b-mask", bm, "--metric", "energy",
            "--pairwise", "--json", "--device", "cpu");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(6, doc.RootElement.GetProperty("values").GetArrayLength());
        Assert.False(doc.RootElement.TryGetProperty("out", out _));
        var outPath = Path.Combine(_dir, "same.npy");
        (code, var text, _) = RunCli("distance", "--a", a, "--b", b, "--a-mask", am, "--b-mask", bm, "--metric", "energy",
            "--pairwise", "--out", outPath, "--device", "cpu");
        Assert.Equal(0, code);
        // Without --json, --out prints the file and a one-line summary instead of the matrix.
        Assert.Contains("written: " + Path.GetFullPath(outPath), text);
        Assert.Equal(2, text.Trim().Split('\n').Length);
        Assert.Equal(doc.RootElement.GetProperty("values")[5].GetDouble(), Npy.Read(outPath).ToDoubleArray()[5], 12);
    }

    [Fact]
    public void CommandReportsBadInputOnOneLine()
    {
        var (a, _) = Save("a", Random3(3, 5, 2, 7));
        var (b, _) = Save("b", Random3(2, 5, 2, 8));
        var (code, _, stderr) = RunCli("distance", "--a", a, "--b", b, "--metric", "marginal-w2", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --a has 3 items but --b has 2", stderr.Trim());
        (code, _, stderr) = RunCli("distance", "--a", Path.Combine(_dir, "missing.npy"), "--b", b, "--metric", "marginal-w2");
        Assert.Equal(1, code);
        Assert.Contains("missing.npy", stderr);
        (code, _, stderr) = RunCli("distance", "--a", a, "--b", a, "--metric", "nope");
        Assert.Equal(1, code);
        Assert.Contains("distance 'nope' is unknown", stderr);
    }

    private (string Points, string Mask) Save(string name, float[,,] points)
    {
        var p = Path.Combine(_dir, name + ".npy");
        var m = Path.Combine(_dir, name + ".mask.npy");
        var flat = new float[points.Length];
        Buffer.BlockCopy(points, 0, flat, 0, flat.Length * sizeof(float));
        Npy.Write(p, flat, [points.GetLength(0), points.GetLength(1), points.GetLength(2)]);
        Npy.Write(m, Enumerable.Repeat(1f, points.GetLength(0) * points.GetLength(1)).ToArray(), [points.GetLength(0), points.GetLength(1)]);
        return (p, m);
    }


    private static (int Code, string Stdout, string Stderr) RunCli(params string[] args) => CliRunner.Run(args);

    private static Core.Reference.Empirical Empirical(float[,,] a, int i)
    {
        var p = new double[a.GetLength(1), a.GetLength(2)];
        for (var t = 0; t < a.GetLength(1); t++) for (var k = 0; k < a.GetLength(2); k++) p[t, k] = a[i, t, k];
        return Core.Reference.Empirical.Uniform(p);
    }
}
