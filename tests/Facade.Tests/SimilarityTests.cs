using System.Text.Json;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.IO;
using TorchSharp;
using Xunit;
using SpaceReference = DistEmbed.Core.Reference.SpaceSimilarity;
using GwReference = DistEmbed.Core.Reference.GromovWasserstein;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// <see cref="EmbeddingSpaceSimilarity"/> and <c>distembed compare</c> used as a C# consumer would: identities,
/// agreement with the float64 reference and with the scikit-learn/NumPy golden values, the JSON and table output,
/// the plot, and the messages for bad input.
/// </summary>
/// <remarks>In the Console collection: <c>CliErrors.Run</c> writes to the console, which other tests of that collection redirect.</remarks>
[Collection("Console")]
public sealed class SimilarityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-similarity-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static float[,] Normal(int n, int d, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n, d];
        for (var i = 0; i < n; i++)
            for (var k = 0; k < d; k++)
                a[i, k] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return a;
    }

    private static double[,] ToDouble(float[,] a)
    {
        var r = new double[a.GetLength(0), a.GetLength(1)];
        for (var i = 0; i < a.GetLength(0); i++) for (var k = 0; k < a.GetLength(1); k++) r[i, k] = a[i, k];
        return r;
    }

    /// <summary>x rotated in its first two coordinates, scaled by 3 and shifted: Euclidean neighbourhoods are unchanged.</summary>
    private static float[,] RotateScaleShift(float[,] x)
    {
        var r = (float[,])x.Clone();
        var (c, s) = (Math.Cos(0.7), Math.Sin(0.7));
        for (var i = 0; i < x.GetLength(0); i++)
        {
            r[i, 0] = (float)(3 * (c * x[i, 0] - s * x[i, 1]) + 5);
            r[i, 1] = (float)(3 * (s * x[i, 0] + c * x[i, 1]) - 2);
        }
        return r;
    }

    [Fact]
    public void IdenticalSpacesScoreOneAtEveryK()
    {
        var x = Normal(60, 5, 1);
        Assert.All(EmbeddingSpaceSimilarity.Nngs(x, x, [1, 5, 59]), v => Assert.Equal(1.0, v));
        Assert.All(EmbeddingSpaceSimilarity.NormalizedNngs(x, x, [1, 5, 59]), v => Assert.Equal(1.0, v));
        Assert.All(EmbeddingSpaceSimilarity.MutualKnn(x, x, [3, 10]), v => Assert.Equal(1.0, v));
        Assert.Equal(1.0, EmbeddingSpaceSimilarity.LinearCka(x, x), 12);
        Assert.Equal(1.0, EmbeddingSpaceSimilarity.RbfCka(x, x), 12);
    }

    [Fact]
    public void NeighbourhoodsSurviveRotationScalingAndTranslation()
    {
        var x = Normal(80, 2, 2);
        var y = RotateScaleShift(x);
        Assert.All(EmbeddingSpaceSimilarity.Nngs(x, y, [1, 4, 20]), v => Assert.Equal(1.0, v, 12));
        Assert.Equal(1.0, EmbeddingSpaceSimilarity.LinearCka(x, y), 5);
    }

    [Fact]
    public void ArraysAgreeWithTheFloat64Reference()
    {
        var x = Normal(40, 3, 3);
        var y = Normal(40, 4, 4);
        var dx = SpaceReference.PairwiseDistances(ToDouble(x), "euclidean");
        var dy = SpaceReference.PairwiseDistances(ToDouble(y), "euclidean");
        var gx = SpaceReference.NearestNeighbours(dx, 10);
        var gy = SpaceReference.NearestNeighbours(dy, 10);
        Assert.Equal(gx, EmbeddingSpaceSimilarity.NearestNeighbours(x, 10));
        var nngs = EmbeddingSpaceSimilarity.Nngs(x, y, [2, 10]);
        Assert.Equal(SpaceReference.Nngs(gx, gy, 2), nngs[0], 12);
        Assert.Equal(SpaceReference.Nngs(gx, gy, 10), nngs[1], 12);
        Assert.Equal(SpaceReference.MutualKnn(gx, gy, 10), EmbeddingSpaceSimilarity.MutualKnn(x, y, [10])[0], 12);
        var h = EmbeddingSpaceSimilarity.RandomBaseline(10, 40);
        Assert.Equal(10.0 / (2 * 39 - 10), h, 15);
        Assert.Equal((nngs[1] - h) / (1 - h), EmbeddingSpaceSimilarity.NormalizedNngs(x, y, [10])[0], 12);
        Assert.Equal(SpaceReference.LinearCka(ToDouble(x), ToDouble(y), true), EmbeddingSpaceSimilarity.LinearCka(x, y, unbiased: true), 10);
        var sx = 0.5 * SpaceReference.MedianDistance(dx);
        var sy = 0.5 * SpaceReference.MedianDistance(dy);
        Assert.Equal(SpaceReference.RbfCka(dx, dy, sx, sy, false), EmbeddingSpaceSimilarity.RbfCka(x, y, bandwidth: 0.5), 10);
        Assert.Equal(SpaceReference.RbfCka(dx, dy, 2.0, 2.0, false), EmbeddingSpaceSimilarity.RbfCka(x, y, 2.0, relativeToMedian: false), 10);
        Assert.Equal(4, EmbeddingSpaceSimilarity.KFromFraction(0.1, 40));
    }

    [Fact]
    public void DistributionsUseAnyDistributionDistance()
    {
        var rng = new Random(5);
        var x = new float[20, 6, 2];
        for (var i = 0; i < 20; i++) for (var t = 0; t < 6; t++) for (var k = 0; k < 2; k++) x[i, t, k] = (float)rng.NextDouble();
        Assert.All(EmbeddingSpaceSimilarity.Nngs(x, x, [1, 5], "marginal-w1"), v => Assert.Equal(1.0, v));
        using var batch = EmbeddingBatch.Distributions(torch.tensor(x).to_type(torch.ScalarType.Float64));
        var distance = Distance.Create("marginal-w2");
        var viaBatch = EmbeddingSpaceSimilarity.MutualKnn(batch, batch, distance, [3]);
        Assert.Equal(1.0, viaBatch[0]);
        Assert.Equal(1.0, EmbeddingSpaceSimilarity.RbfCka(batch, batch, distance), 12);
    }

    [Fact]
    public void BatchesMatchTheGoldenValues()
    {
        var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "golden_similarity.json")));
        var count = 0;
        foreach (var inst in doc.RootElement.GetProperty("instances").EnumerateArray())
        {
            using var x = EmbeddingBatch.Vectors(Matrix(inst.GetProperty("x")));
            using var y = EmbeddingBatch.Vectors(Matrix(inst.GetProperty("y")));
            var distance = Distance.Create(inst.GetProperty("metric").GetString()!);
            var ks = inst.GetProperty("ks").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var nngs = EmbeddingSpaceSimilarity.Nngs(x, y, distance, ks);
            var expected = inst.GetProperty("nngs").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            for (var j = 0; j < ks.Length; j++) Assert.Equal(expected[j], nngs[j], 12);
            Assert.Equal(inst.GetProperty("ckaLinearBiased").GetDouble(), EmbeddingSpaceSimilarity.LinearCka(x, y), 12);
            Assert.Equal(inst.GetProperty("ckaRbfUnbiased").GetDouble(),
                EmbeddingSpaceSimilarity.RbfCka(x, y, distance, inst.GetProperty("bandwidth").GetDouble(), unbiased: true), 12);
            count++;
        }
        Assert.Equal(40, count);
    }

    private static double[,] Matrix(JsonElement e)
    {
        var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToArray();
        var m = new double[rows.Length, rows[0].Length];
        for (var i = 0; i < rows.Length; i++) for (var k = 0; k < rows[0].Length; k++) m[i, k] = rows[i][k];
        return m;
    }

    [Fact]
    public void BadArgumentsNameTheParameter()
    {
        var x = Normal(10, 2, 6);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.Nngs(x, Normal(9, 2, 7), [1])).ParamName);
        var e = Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.Nngs(x, x, [10]));
        Assert.Equal("ks", e.ParamName);
        Assert.Contains("[1, N − 1] = [1, 9]", e.Message);
        Assert.Equal("ks", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.MutualKnn(x, x, [])).ParamName);
        Assert.Equal("metric", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.Nngs(x, x, [1], "marginal-w2")).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.Nngs(x, x, [1], "nope")).ParamName);
        Assert.Equal("bandwidth", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.RbfCka(x, x, bandwidth: 0)).ParamName);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.LinearCka(new float[10, 2], x)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.NearestNeighbours(x, 0)).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.RandomBaseline(1, 1)).ParamName);
        Assert.Equal("fraction", Assert.Throws<ArgumentException>(() => EmbeddingSpaceSimilarity.KFromFraction(2.0, 10)).ParamName);
        Assert.Throws<ArgumentNullException>(() => EmbeddingSpaceSimilarity.Nngs((float[,])null!, x, [1]));
    }

    // ------------------------------------------------------------------ Gromov–Wasserstein (unpaired spaces)

    /// <summary>Rows of x in reverse order.</summary>
    private static float[,] Reversed(float[,] x)
    {
        var (n, d) = (x.GetLength(0), x.GetLength(1));
        var r = new float[n, d];
        for (var i = 0; i < n; i++) for (var k = 0; k < d; k++) r[i, k] = x[n - 1 - i, k];
        return r;
    }

    /// <summary>Euclidean distances of the rows (float64, from differences), divided by their mean off-diagonal entry.</summary>
    private static double[,] NormalisedDistances(float[,] x)
    {
        var n = x.GetLength(0);
        var c = new double[n, n];
        double sum = 0;
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                double s2 = 0;
                for (var k = 0; k < x.GetLength(1); k++) s2 += Math.Pow((double)x[i, k] - x[j, k], 2);
                c[i, j] = Math.Sqrt(s2);
                if (i != j) sum += c[i, j];
            }
        var mean = sum / (n * (n - 1.0));
        for (var i = 0; i < n; i++) for (var j = 0; j < n; j++) c[i, j] /= mean;
        return c;
    }

    [Fact]
    public void GromovWassersteinIsZeroForAnIsometricCopyInAnotherOrderAndScale()
    {
        var x = Normal(60, 5, 21);
        // Rotated in the first two coordinates, every coordinate scaled by 3, shifted, rows reversed: a similarity.
        var copy = Reversed(RotateScaleShift(x));
        for (var i = 0; i < 60; i++) for (var k = 2; k < 5; k++) copy[i, k] *= 3;
        var r = EmbeddingSpaceSimilarity.GromovWasserstein(x, copy);
        Assert.Equal((60, 60), (r.CountX, r.CountY));
        Assert.True(r.Converged);
        Assert.InRange(r.Value, -1e-9, 1e-9);              // (float32 coordinates: distances agree to ~1e-7)
        // In raw units the scale 3 shows: GW > 0.
        var raw = EmbeddingSpaceSimilarity.GromovWasserstein(x, copy, normalizeScale: false);
        Assert.True(raw.Value > 1.0, $"raw GW = {raw.Value}");
        // Unrelated spaces are far apart on the same (normalised) scale.
        var other = EmbeddingSpaceSimilarity.GromovWasserstein(x, Normal(60, 5, 22));
        Assert.True(other.Value > 1e-3, $"GW of unrelated spaces = {other.Value}");
    }

    [Fact]
    public void GromovWassersteinComparesSpacesOfDifferentSizesAsTheReferenceDoes()
    {
        var x = Normal(40, 4, 23);
        var y = Normal(27, 7, 24);
        var r = EmbeddingSpaceSimilarity.GromovWasserstein(x, y);
        Assert.Equal((40, 27), (r.CountX, r.CountY));
        var p = Enumerable.Repeat(1.0, 40).ToArray();
        var q = Enumerable.Repeat(1.0, 27).ToArray();
        var reference = GwReference.ConditionalGradient(NormalisedDistances(x), NormalisedDistances(y), p, q, 200, 1e-9, 1e-9);
        Assert.Equal(reference.Value, r.Value, 1e-9 * reference.Value);
        Assert.Equal(reference.Iterations, r.Iterations);
        // Symmetric: the spaces swapped give the same value.
        Assert.Equal(r.Value, EmbeddingSpaceSimilarity.GromovWasserstein(y, x).Value, 1e-9 * r.Value);
        var entropic = EmbeddingSpaceSimilarity.GromovWasserstein(x, y, epsilon: 0.05);
        var entropicReference = GwReference.Entropic(NormalisedDistances(x), NormalisedDistances(y), p, q, 0.05, 1000, 1e-9);
        Assert.Equal(entropicReference.Value, entropic.Value, 1e-6 * entropicReference.Value);
    }

    [Fact]
    public void GromovWassersteinSubsamplesLargeSpacesReproducibly()
    {
        var x = Normal(90, 3, 25);
        var y = Normal(70, 2, 26);
        var a = EmbeddingSpaceSimilarity.GromovWasserstein(x, y, sampleSize: 30, seed: 4);
        Assert.Equal((30, 30), (a.CountX, a.CountY));
        Assert.Equal(a, EmbeddingSpaceSimilarity.GromovWasserstein(x, y, sampleSize: 30, seed: 4));
        Assert.NotEqual(a.Value, EmbeddingSpaceSimilarity.GromovWasserstein(x, y, sampleSize: 30, seed: 5).Value);
        // A sample as large as the space takes every item: the same as no subsampling.
        Assert.Equal(EmbeddingSpaceSimilarity.GromovWasserstein(x, y).Value,
            EmbeddingSpaceSimilarity.GromovWasserstein(x, y, sampleSize: 90, seed: 9).Value);
    }

    private sealed class OneWayDivergence : IDistance
    {
        public string Name => "one-way";
        public bool IsMetric => false;
        public bool IsSymmetric => false;
        public DistEmbed.Core.Representation Accepts => DistEmbed.Core.Representation.Vectors;
        public torch.Tensor Paired(IEmbeddingBatch a, IEmbeddingBatch b) => throw new InvalidOperationException("not called");
        public torch.Tensor Pairwise(IEmbeddingBatch a, IEmbeddingBatch b) => throw new InvalidOperationException("not called");
    }

    [Fact]
    public void GromovWassersteinRejectsBadInputNamingTheArgument()
    {
        var x = Normal(10, 2, 27);
        void Rejects(string parameter, string fragment, Action action)
        {
            var e = Assert.Throws<ArgumentException>(action);
            Assert.Equal(parameter, e.ParamName);
            Assert.Contains(fragment, e.Message);
        }
        Rejects("sampleSize", "sampleSize = 1 is invalid", () => EmbeddingSpaceSimilarity.GromovWasserstein(x, x, sampleSize: 1));
        Rejects("epsilon", "epsilon = 0 is invalid", () => EmbeddingSpaceSimilarity.GromovWasserstein(x, x, epsilon: 0.0));
        Rejects("epsilon", "epsilon = NaN is invalid", () => EmbeddingSpaceSimilarity.GromovWasserstein(x, x, epsilon: double.NaN));
        Rejects("y", "y has 1 item(s)", () => EmbeddingSpaceSimilarity.GromovWasserstein(x, new float[1, 2]));
        Rejects("metric", "accepts", () => EmbeddingSpaceSimilarity.GromovWasserstein(x, x, "marginal-w2"));
        using var bx = VectorBatch.FromArray(ToDouble(x), null);
        Rejects("distance", "'one-way' is not symmetric", () => EmbeddingSpaceSimilarity.GromovWassersteinCore(bx, bx, new OneWayDivergence(), 500, 0, true, null));
    }

    // ------------------------------------------------------------------ distembed compare

    private string Save(string name, float[,] values)
    {
        var path = Path.Combine(_dir, name + ".npy");
        var flat = new float[values.Length];
        Buffer.BlockCopy(values, 0, flat, 0, flat.Length * sizeof(float));
        Npy.Write(path, flat, [values.GetLength(0), values.GetLength(1)]);
        return path;
    }

    private static CompareCommand.Request Request(string a, string b, string measures = "nngs,nngs-normalized,mutual-knn,cka-linear,cka-rbf",
        string ks = "5,10") => new(a, b, null, null, measures, ks, "euclidean");

    [Fact]
    public void CompareJsonHasOneEntryPerMeasureAndK()
    {
        var x = Normal(50, 4, 8);
        var y = Normal(50, 3, 9);
        var (a, b) = (Save("x", x), Save("y", y));
        var text = CompareCommand.Execute(Request(a, b, ks: "5,10,0.5"), null, json: true);
        Assert.DoesNotContain('\n', text);
        var root = JsonDocument.Parse(text).RootElement;
        Assert.Equal(50, root.GetProperty("n").GetInt32());
        var results = root.GetProperty("results").EnumerateArray().ToArray();
        Assert.Equal(3 * 3 + 2, results.Length);
        Assert.Equal(["nngs", "nngs", "nngs"], results.Take(3).Select(r => r.GetProperty("measure").GetString()!));
        Assert.Equal([5, 10, 25], results.Take(3).Select(r => r.GetProperty("k").GetInt32()));
        var expected = EmbeddingSpaceSimilarity.Nngs(x, y, [5, 10, 25]);
        for (var j = 0; j < 3; j++) Assert.Equal(expected[j], results[j].GetProperty("value").GetDouble(), 12);
        var cka = results.Single(r => r.GetProperty("measure").GetString() == "cka-linear");
        Assert.False(cka.TryGetProperty("k", out _));
        Assert.Equal(EmbeddingSpaceSimilarity.LinearCka(x, y), cka.GetProperty("value").GetDouble(), 10);
        var rbf = results.Single(r => r.GetProperty("measure").GetString() == "cka-rbf");
        // The command works in the file's dtype (float32 distances here), the array entry point in float64.
        Assert.Equal(EmbeddingSpaceSimilarity.RbfCka(x, y), rbf.GetProperty("value").GetDouble(), 6);
    }

    [Fact]
    public void CompareTableAndPlot()
    {
        var x = Normal(40, 3, 10);
        var doubled = (float[,])x.Clone();
        for (var i = 0; i < 40; i++) for (var k = 0; k < 3; k++) doubled[i, k] = 2 * x[i, k];
        var (a, b) = (Save("x", x), Save("y", doubled));
        var png = Path.Combine(_dir, "curve.png");
        var text = CompareCommand.Execute(Request(a, b, "nngs,mutual-knn", "1,5,0.5"), png, json: false);
        Assert.Contains("N = 40, metric euclidean", text);
        Assert.Contains("nngs", text);
        Assert.Contains("1.000000", text);
        Assert.Contains("written: " + png, text);
        var bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes.Take(4).ToArray());
        Assert.Single(Directory.GetFiles(_dir, "*.png"));
        var fixedSigma = CompareCommand.Compute(Request(a, b, "cka-rbf") with { Bandwidth = 2.0, FixedBandwidth = true, Unbiased = true });
        Assert.Single(fixedSigma.Results);
        Assert.Null(fixedSigma.Results[0].K);
    }

    [Fact]
    public void CompareRejectsBadInputWithExitCodeOneNamingTheOption()
    {
        var x = Save("x", Normal(12, 2, 11));
        var short_ = Save("short", Normal(11, 2, 12));
        void Rejects(string parameter, string fragment, Func<string> action)
        {
            var e = Assert.Throws<ArgumentException>(() => action());
            Assert.Equal(parameter, e.ParamName);
            Assert.Contains(fragment, e.Message);
            Assert.Equal(1, CliErrors.Run(() => action()));
        }
        Rejects("b", "--b has 11 items but --a has 12", () => CompareCommand.Execute(Request(x, short_), null, true));
        Rejects("measures", "unknown measure 'knn'", () => CompareCommand.Execute(Request(x, x, "nngs,knn"), null, true));
        Rejects("k", "k = 12 is invalid for N = 12", () => CompareCommand.Execute(Request(x, x, ks: "5,12"), null, true));
        Rejects("k", "k = 0 is invalid", () => CompareCommand.Execute(Request(x, x, ks: "0"), null, true));
        Rejects("k", "'ten' is not a number", () => CompareCommand.Execute(Request(x, x, ks: "ten"), null, true));
        Rejects("k", "'1.5' is invalid; a fraction of N must lie in (0, 1]", () => CompareCommand.Execute(Request(x, x, ks: "1.5"), null, true));
        Rejects("plot", "--plot draws the neighbourhood measures", () => CompareCommand.Execute(Request(x, x, "cka-linear"), Path.Combine(_dir, "p.png"), true));
        var distributions = Path.Combine(_dir, "d.npy");
        Npy.Write(distributions, Enumerable.Range(0, 12 * 3 * 2).Select(i => (float)Math.Sin(i)).ToArray(), [12, 3, 2]);
        Rejects("measures", "cka-linear needs [N,d] vectors", () =>
            CompareCommand.Execute(Request(distributions, distributions, "cka-linear") with { Metric = "marginal-w2" }, null, true));
        Assert.Equal(1, CliErrors.Run(() => CompareCommand.Execute(Request(Path.Combine(_dir, "missing.npy"), x), null, true)));
        // gw alone accepts spaces of different sizes; with a paired measure the sizes must agree.
        Rejects("b", "nngs compare the same N items in both spaces (only gw compares spaces of different items)",
            () => CompareCommand.Execute(Request(x, short_, "gw,nngs"), null, true));
        Rejects("gw-sample", "--gw-sample = 1 is invalid", () => CompareCommand.Execute(Request(x, short_, "gw") with { GwSample = 1 }, null, true));
        Rejects("gw-epsilon", "--gw-epsilon = -1 is invalid", () => CompareCommand.Execute(Request(x, short_, "gw") with { GwEpsilon = -1 }, null, true));
    }

    [Fact]
    public void CompareGromovWassersteinOnSpacesOfDifferentSizes()
    {
        var x = Normal(30, 4, 31);
        var y = Normal(22, 6, 32);
        var (a, b) = (Save("x", x), Save("y", y));
        var text = CompareCommand.Execute(Request(a, b, "gw"), null, json: true);
        var root = JsonDocument.Parse(text).RootElement;
        Assert.Equal(30, root.GetProperty("n").GetInt32());
        Assert.Equal(22, root.GetProperty("n_b").GetInt32());
        var entry = root.GetProperty("results").EnumerateArray().Single();
        Assert.Equal("gw", entry.GetProperty("measure").GetString());
        Assert.False(entry.TryGetProperty("k", out _));
        // The command computes distances in the file's dtype (float32 here); the array entry point in float64.
        Assert.Equal(EmbeddingSpaceSimilarity.GromovWasserstein(x, y).Value, entry.GetProperty("value").GetDouble(), 1e-4);
        var table = CompareCommand.Execute(Request(a, b, "gw") with { GwSample = 10, GwSeed = 3, GwRaw = true, GwEpsilon = 0.5 }, null, json: false);
        Assert.Contains("N = 30 (a), 22 (b), metric euclidean", table);
        var sub = CompareCommand.Compute(Request(a, b, "gw") with { GwSample = 10, GwSeed = 3, GwRaw = true, GwEpsilon = 0.5 });
        Assert.True(sub.Results.Single().Value > 0);
    }
}
