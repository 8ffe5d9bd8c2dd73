using System.Text.Json;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.IO;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// `distembed distance` against POT 0.8.2's golden values (the fixtures of tests/Properties, produced by
/// scripts/golden/*.py): every instance whose definition the CLI covers, float64, to 1e-6 relative.
/// </summary>
public sealed class CliDistanceGoldenTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-golden-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonElement Instances(string file) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", file))).RootElement.GetProperty("instances");

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    private static double[][] Rows(JsonElement e) => e.EnumerateArray().Select(r =>
        r.ValueKind == JsonValueKind.Array ? Doubles(r) : [r.GetDouble()]).ToArray();

    /// <summary>Writes one distribution as a [1, T, d] batch plus its [1, T] weights; returns the two paths.</summary>
    private (string Points, string Weights) Write(string name, double[][] points, double[] weights)
    {
        var d = points[0].Length;
        var flat = points.SelectMany(r => r).ToArray();
        var p = Path.Combine(_dir, name + ".npy");
        var w = Path.Combine(_dir, name + ".w.npy");
        Npy.Write(p, flat, [1, points.Length, d]);
        Npy.Write(w, weights, [1, weights.Length]);
        return (p, w);
    }

    private static void AssertRelative(double expected, double actual, double tolerance, string what)
    {
        var rel = Math.Abs(expected - actual) / Math.Max(1e-12, Math.Abs(expected));
        Assert.True(rel <= tolerance, $"{what}: POT {expected:R}, distembed {actual:R}, relative error {rel:E2} > {tolerance:E0}");
    }

    [Fact]
    public void MarginalWassersteinMatchesPotWasserstein1d()
    {
        var checkedCount = 0;
        var i = 0;
        foreach (var inst in Instances("golden_wasserstein_1d.json").EnumerateArray())
        {
            var p = inst.GetProperty("p").GetDouble();
            if (p != 1.0 && p != 2.0) { i++; continue; }
            var (a, aw) = Write($"u{i}", Rows(inst.GetProperty("u")), Doubles(inst.GetProperty("uWeights")));
            var (b, bw) = Write($"v{i}", Rows(inst.GetProperty("v")), Doubles(inst.GetProperty("vWeights")));
            var metric = p == 1.0 ? "marginal-w1" : "marginal-w2";
            var result = DistanceCommand.Compute(a, b, aw, bw, metric, new DistanceSettings(), false, "cpu");
            var pot = inst.GetProperty("expected").GetDouble();
            AssertRelative(p == 1.0 ? pot : Math.Sqrt(pot), result.Values[0], 1e-6, $"instance {i} ({metric})");
            checkedCount++;
            i++;
        }
        Assert.True(checkedCount >= 100, $"only {checkedCount} instances checked");
    }

    [Fact]
    public void SlicedWassersteinWithFixedDirectionsMatchesPot()
    {
        var checkedCount = 0;
        var i = 0;
        foreach (var inst in Instances("golden_sliced.json").EnumerateArray())
        {
            if (inst.GetProperty("p").GetDouble() != 2.0) { i++; continue; }
            var (a, aw) = Write($"x{i}", Rows(inst.GetProperty("x")), Doubles(inst.GetProperty("a")));
            var (b, bw) = Write($"y{i}", Rows(inst.GetProperty("y")), Doubles(inst.GetProperty("b")));
            var dirs = Rows(inst.GetProperty("directions"));
            var dirPath = Path.Combine(_dir, $"dirs{i}.npy");
            Npy.Write(dirPath, dirs.SelectMany(r => r).ToArray(), [dirs.Length, dirs[0].Length]);
            var result = DistanceCommand.Compute(a, b, aw, bw, "sliced-w2", new DistanceSettings(), false, "cpu", dirPath);
            AssertRelative(inst.GetProperty("expected").GetDouble(), result.Values[0], 1e-6, $"instance {i}");
            checkedCount++;
            i++;
        }
        Assert.True(checkedCount >= 50, $"only {checkedCount} instances checked");
    }

    [Fact]
    public void SinkhornTransportCostMatchesPotSinkhorn2()
    {
        var checkedCount = 0;
        var i = 0;
        foreach (var inst in Instances("golden_sinkhorn.json").EnumerateArray())
        {
            if (inst.GetProperty("p").GetInt32() != 2) { i++; continue; }
            var (a, aw) = Write($"sx{i}", Rows(inst.GetProperty("x")), Doubles(inst.GetProperty("wa")));
            var (b, bw) = Write($"sy{i}", Rows(inst.GetProperty("y")), Doubles(inst.GetProperty("wb")));
            var options = new DistanceSettings { Epsilon = inst.GetProperty("reg").GetDouble(), SinkhornIterations = 100_000, Tolerance = 1e-13 };
            var result = DistanceCommand.Compute(a, b, aw, bw, "sinkhorn", options, false, "cpu");
            AssertRelative(inst.GetProperty("sinkhorn2").GetDouble(), result.Values[0], 1e-6, $"instance {i}");
            checkedCount++;
            i++;
        }
        Assert.True(checkedCount >= 50, $"only {checkedCount} instances checked");
    }
}
