using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DistEmbed.Core;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// <c>distembed compare</c>: how similar two embedding spaces are (Gromov–Wasserstein also for spaces of different items) — NNGS, normalised NNGS and mutual
/// k-NN at several k, linear and RBF CKA — with an optional PNG of the neighbourhood measures against k.
/// </summary>
public static class CompareCommand
{
    /// <summary>The measure names accepted by <c>--measures</c> (<see cref="EmbeddingSpaceComparison.MeasureNames"/>).</summary>
    public static IReadOnlyList<string> MeasureNames => EmbeddingSpaceComparison.MeasureNames;

    /// <summary>What to compare and how (the command's options, parsed).</summary>
    /// <param name="APath">First space (.npy): [N,d] vectors or [N,T,d] distributions.</param>
    /// <param name="BPath">Second space (.npy), the same N items.</param>
    /// <param name="AMaskPath">Optional [N,T] mask of the first space.</param>
    /// <param name="BMaskPath">Optional [N,T] mask of the second space.</param>
    /// <param name="Measures">Comma-separated measure names.</param>
    /// <param name="Ks">Comma-separated neighbourhood sizes: integers, or fractions of N in (0, 1] written with a decimal point.</param>
    /// <param name="Metric">Distance name used in both spaces.</param>
    /// <param name="Device">auto, cpu, cuda or cuda:N.</param>
    /// <param name="Bandwidth">RBF CKA bandwidth: the factor of the median distance, or σ itself when <paramref name="FixedBandwidth"/>.</param>
    /// <param name="FixedBandwidth">True: <paramref name="Bandwidth"/> is σ.</param>
    /// <param name="Unbiased">True: CKA with the unbiased HSIC estimator.</param>
    /// <param name="Options">The distance's settings (<c>--epsilon</c>, <c>--projections</c>, …), or null for the defaults.</param>
    /// <param name="GwSample">Gromov–Wasserstein: at most this many items of each space (<c>--gw-sample</c>).</param>
    /// <param name="GwEpsilon">Gromov–Wasserstein: null for the conditional-gradient solver, or the entropic ε (<c>--gw-epsilon</c>).</param>
    /// <param name="GwRaw">Gromov–Wasserstein: true keeps each space's distances in its own units (<c>--gw-raw</c>).</param>
    /// <param name="GwSeed">Gromov–Wasserstein: seed of the subsample (<c>--gw-seed</c>).</param>
    public sealed record Request(string APath, string BPath, string? AMaskPath, string? BMaskPath, string Measures, string Ks,
        string Metric, string Device = DeviceOption.Default, double Bandwidth = 1.0, bool FixedBandwidth = false, bool Unbiased = false,
        DistEmbed.DistanceSettings? Options = null, int GwSample = EmbeddingSpaceSimilarity.DefaultGromovWassersteinSample, double? GwEpsilon = null,
        bool GwRaw = false, int GwSeed = 0);

    /// <summary>The outcome: N and the values in the order asked for (per measure, per k).</summary>
    /// <param name="N">The number of items.</param>
    /// <param name="Metric">The distance name.</param>
    /// <param name="Results">The values.</param>
    /// <param name="NB">The number of items of the second space when it differs from <paramref name="N"/> (gw only), else null.</param>
    public sealed record Result(int N, string Metric, IReadOnlyList<SimilarityMeasurement> Results, int? NB = null);

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var a = new Option<string>("--a") { Description = "First space (.npy): [N,d] vectors or [N,T,d] distributions.", Required = true };
        var b = new Option<string>("--b") { Description = "Second space (.npy): the same N items (its d may differ); for gw alone, any items.", Required = true };
        var aMask = new Option<string?>("--a-mask") { Description = "[N,T] mask (.npy) of --a: 0 marks padding." };
        var bMask = new Option<string?>("--b-mask") { Description = "[N,T] mask (.npy) of --b." };
        var measures = new Option<string>("--measures")
        {
            Description = "Comma-separated: " + string.Join(", ", EmbeddingSpaceComparison.MeasureNames) + ".", DefaultValueFactory = _ => string.Join(",", EmbeddingSpaceComparison.NeighbourhoodMeasures),
        };
        var k = new Option<string>("--k") { Description = "Comma-separated neighbourhood sizes: integers in [1, N−1], or fractions of N in (0, 1] such as 0.1.", DefaultValueFactory = _ => "10" };
        var bandwidth = new Option<double>("--bandwidth") { Description = "RBF CKA: σ as a multiple of each space's median distance (default 1).", DefaultValueFactory = _ => 1.0 };
        var sigma = new Option<double?>("--sigma") { Description = "RBF CKA: a fixed σ for both spaces instead of --bandwidth × median." };
        var unbiased = new Option<bool>("--unbiased") { Description = "CKA with the unbiased HSIC estimator (Song et al. 2012)." };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of the neighbourhood measures against k." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object {n, results: [{measure, k, value}]}." };
        var gwSample = new Option<int>("--gw-sample")
        {
            Description = "gw: at most this many items of each space, drawn at random (the solver is O(N³) per step).",
            DefaultValueFactory = _ => EmbeddingSpaceSimilarity.DefaultGromovWassersteinSample,
        };
        var gwEpsilon = new Option<double?>("--gw-epsilon") { Description = "gw: entropic Gromov–Wasserstein with this ε (in normalised squared-distance units) instead of conditional gradient." };
        var gwRaw = new Option<bool>("--gw-raw") { Description = "gw: keep each space's distances in its own units (default: divide by the mean distance)." };
        var gwSeed = new Option<int>("--gw-seed") { Description = "gw: seed of the subsample (default 0).", DefaultValueFactory = _ => 0 };
        var device = DeviceOption.Create();
        var command = new Command("compare", "Similarity of two embedding spaces: NNGS, mutual k-NN, CKA (same items); Gromov–Wasserstein (any items).")
        {
            a, b, aMask, bMask, measures, k,
        };
        var settings = DistanceSettings.Add(command, DistanceSetting.All, "Distance name used in both spaces (default euclidean)", "euclidean");
        foreach (var o in new Option[] { bandwidth, sigma, unbiased, gwSample, gwEpsilon, gwRaw, gwSeed, plot, json, device }) command.Options.Add(o);
        command.SetAction(r => CliErrors.Run(() =>
        {
            var fixedSigma = r.GetValue(sigma);
            var options = settings.Bind(r, Devices.Resolve(r.GetValue(device)!));
            var request = new Request(r.GetValue(a)!, r.GetValue(b)!, r.GetValue(aMask), r.GetValue(bMask), r.GetValue(measures)!,
                r.GetValue(k)!, settings.DistanceName(r)!, r.GetValue(device)!, fixedSigma ?? r.GetValue(bandwidth), fixedSigma is not null,
                r.GetValue(unbiased), options, r.GetValue(gwSample), r.GetValue(gwEpsilon), r.GetValue(gwRaw), r.GetValue(gwSeed));
            Console.WriteLine(Execute(request, r.GetValue(plot), r.GetValue(json)));
        }));
        return command;
    }

    /// <summary>Computes the measures, writes the plot if asked, and returns what the command prints.</summary>
    /// <param name="request">The parsed options.</param>
    /// <param name="plotPath">Where to write the PNG of the neighbourhood measures against k, or null.</param>
    /// <param name="json">True: one JSON object; false: a readable table.</param>
    /// <returns>The text to print.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Compute"/>; --plot without a neighbourhood measure (names plot).</exception>
    public static string Execute(Request request, string? plotPath, bool json)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (plotPath is not null && !Parse(request.Measures).Any(m => EmbeddingSpaceComparison.NeighbourhoodMeasures.Contains(m)))
            throw new ArgumentException("--plot draws the neighbourhood measures against k; add nngs, nngs-normalized or mutual-knn to --measures.", "plot");
        var result = Compute(request);
        if (plotPath is not null) Plot(result, plotPath);
        if (json) return ToJson(result);
        var table = ToTable(result);
        return plotPath is null ? table : table + Environment.NewLine + $"written: {Path.GetFullPath(plotPath)}";
    }

    private static string[] Parse(string measures) =>
        measures.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => m.ToLowerInvariant()).ToArray();

    /// <summary>Parses <c>--k</c> (<see cref="EmbeddingSpaceComparison.ParseKs"/>): integers as they are, numbers with a decimal point as fractions f of N.</summary>
    /// <param name="text">The option's value.</param>
    /// <param name="n">The number of items N.</param>
    /// <returns>The neighbourhood sizes, each in [1, N − 1].</returns>
    /// <exception cref="ArgumentException">An entry is not a number, a fraction outside (0, 1], or a k outside [1, N − 1] (names k).</exception>
    public static int[] ParseKs(string text, int n) => Option("--k", () => EmbeddingSpaceComparison.ParseKs(text, n));

    /// <summary>Prefixes a library error about <paramref name="option"/>'s value with the option's name.</summary>
    private static T Option<T>(string option, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (ArgumentException e) when (e.ParamName is { } p && option.TrimStart('-') is { } name && (p == name || p == name + "s"))
        {
            throw new ArgumentException($"{option}: {e.Message.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal)}", name, e);
        }
    }

    /// <summary>Reads both spaces and computes the measures asked for (<see cref="EmbeddingSpaceComparison.Compare"/>).</summary>
    /// <param name="request">The parsed options.</param>
    /// <returns>N and the values.</returns>
    /// <exception cref="ArgumentException">Unknown measure (names measures), bad k (names k), N mismatch (names b), a measure that
    /// does not fit the representation (names measures), or a library rule.</exception>
    public static Result Compute(Request request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var measures = Option("--measures", () => EmbeddingSpaceComparison.ParseMeasures(request.Measures));
        using var scope = torch.NewDisposeScope();
        var device = Devices.Resolve(request.Device);
        var distance = DistanceSettings.Create(request.Metric, request.Options ?? new DistEmbed.DistanceSettings());
        using var x = Embeddings.Load(request.APath, request.AMaskPath, distance.Accepts, device);
        using var y = Embeddings.Load(request.BPath, request.BMaskPath, distance.Accepts, device);
        var paired = measures.Where(m => m != "gw").Distinct().ToArray();
        if (x.Count != y.Count && paired.Length > 0)
            throw new ArgumentException($"--b has {y.Count} items but --a has {x.Count}; {string.Join(", ", paired)} compare the same N items in both spaces (only gw compares spaces of different items).", "b");
        var n = x.Count;
        if (n < 2) throw new ArgumentException($"--a has {n} item(s); comparing spaces needs N ≥ 2.", "a");
        if (y.Count < 2) throw new ArgumentException($"--b has {y.Count} item(s); comparing spaces needs N ≥ 2.", "b");
        if (measures.Contains("gw") && request.GwSample < 2)
            throw new ArgumentException($"--gw-sample = {request.GwSample} is invalid; at least 2 items of each space must enter.", "gw-sample");
        if (measures.Contains("gw") && request.GwEpsilon is { } ge && !(ge > 0.0 && double.IsFinite(ge)))
            throw new ArgumentException($"--gw-epsilon = {ge} is invalid; it must be a finite number > 0.", "gw-epsilon");
        var ks = measures.Any(m => EmbeddingSpaceComparison.NeighbourhoodMeasures.Contains(m)) ? ParseKs(request.Ks, n) : [];
        var results = Option("--measures", () => EmbeddingSpaceComparison.Compare(x, y, distance, measures, ks, request.Bandwidth, !request.FixedBandwidth,
            request.Unbiased, request.GwSample, request.GwSeed, !request.GwRaw, request.GwEpsilon));
        return new Result(n, distance.Name, results, y.Count != n ? y.Count : null);
    }

    /// <summary>The result as one JSON object <c>{"n":N, "results":[{"measure":…, "k":…, "value":…}]}</c> (CKA entries without k).</summary>
    /// <param name="result">The result.</param>
    /// <returns>One line of JSON.</returns>
    public static string ToJson(Result result)
    {
        var entries = result.Results.Select(e =>
        {
            var o = new Dictionary<string, object> { ["measure"] = e.Measure };
            if (e.K is { } k) o["k"] = k;
            o["value"] = e.Value;
            return o;
        }).ToArray();
        var doc = new Dictionary<string, object> { ["n"] = result.N };
        if (result.NB is { } nb) doc["n_b"] = nb;
        doc["results"] = entries;
        return JsonSerializer.Serialize(doc);
    }

    /// <summary>The result as a readable table.</summary>
    /// <param name="result">The result.</param>
    /// <returns>The table text.</returns>
    public static string ToTable(Result result)
    {
        var sb = new StringBuilder();
        sb.AppendLine(result.NB is { } nb ? $"N = {result.N} (a), {nb} (b), metric {result.Metric}" : $"N = {result.N}, metric {result.Metric}");
        sb.AppendLine($"{"measure",-16} {"k",6}  value");
        foreach (var e in result.Results)
            sb.AppendLine($"{e.Measure,-16} {(e.K is { } k ? k.ToString(CultureInfo.InvariantCulture) : "-"),6}  {e.Value.ToString("F6", CultureInfo.InvariantCulture)}");
        return sb.ToString().TrimEnd();
    }

    /// <summary>Writes a PNG (640 × 420) of each neighbourhood measure against k, atomically.</summary>
    /// <param name="result">The result (with at least one neighbourhood measure).</param>
    /// <param name="path">The PNG path; its folder must exist.</param>
    public static void Plot(Result result, string path)
    {
        var plot = new ScottPlot.Plot();
        foreach (var group in result.Results.Where(e => e.K is not null).GroupBy(e => e.Measure))
        {
            var points = group.OrderBy(e => e.K).ToArray();
            var line = plot.Add.Scatter(points.Select(e => (double)e.K!.Value).ToArray(), points.Select(e => e.Value).ToArray());
            line.LegendText = group.Key;
        }
        plot.Title($"Neighbourhood similarity, N = {result.N}, {result.Metric}");
        plot.XLabel("k");
        plot.YLabel("value");
        plot.ShowLegend();
        AtomicFile.WriteVia(path, temp => plot.SavePng(temp, 640, 420));
    }
}
