using DistEmbed.Core;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary><c>distembed distance</c>: paired or pairwise distances between two .npy batches.</summary>
public static class DistanceCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var a = new Option<string>("--a") { Description = "First batch (.npy): [N,d] vectors, [N,T,d] distributions or [N,d,Q] quantiles.", Required = true };
        var b = new Option<string>("--b") { Description = "Second batch (.npy), same representation and d.", Required = true };
        var pairwise = new Option<bool>("--pairwise") { Description = "All pairs [N,M] instead of paired rows [N]." };
        var failUnconverged = new Option<bool>("--fail-unconverged") { Description = "Fail (exit 1) instead of warning on stderr when a Sinkhorn solve stops at --sinkhorn-iterations above --tolerance." };
        var aMask = new Option<string?>("--a-mask") { Description = "[N,T] mask (.npy) of --a: 0 marks padding." };
        var bMask = new Option<string?>("--b-mask") { Description = "[M,T] mask (.npy) of --b." };
        var output = new Option<string?>("--out") { Description = "Write the result to this .npy file (float64)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: {distance, shape, values}, or with --out {distance, shape, out, summary} (the values go to the file only; \"metric\" repeats the distance for older scripts)." };
        var device = DeviceOption.Create();
        var command = new Command("distance", "Distances between two batches of embeddings stored as NumPy .npy files.") { a, b };
        var settings = DistanceSettings.Add(command, DistanceSetting.All, "Distance name", required: true);
        foreach (var o in new Option[] { pairwise, failUnconverged, aMask, bMask, output, json, device }) command.Options.Add(o);
        command.SetAction(r =>
        {
            var unconverged = false;
            var code = CliErrors.Run(() =>
        {
            // --directions is read by Compute onto the resolved device; the other settings are bound here.
            var options = settings.Bind(r, readDirections: false);
            var outPath = r.GetValue(output);
            if (outPath is not null)
                OutputFiles.CheckWritable(outPath, "--out");
            Result result;
            try
            {
                result = Compute(r.GetValue(a)!, r.GetValue(b)!, r.GetValue(aMask), r.GetValue(bMask), settings.DistanceName(r)!,
                    options, r.GetValue(pairwise), r.GetValue(device)!, settings.DirectionsPath(r));
            }
            catch (ArgumentException failure) when (DistanceSettings.AsOption(failure) is { } renamed)
            {
                throw renamed;
            }
            if (result.ConvergenceWarning is { } warning)
            {
                if (r.GetValue(failUnconverged))
                {
                    Console.Error.WriteLine($"error: {warning}");
                    unconverged = true;
                    return;
                }
                Console.Error.WriteLine($"warning: {warning}");
            }
            if (outPath is not null) Npy.Write(outPath, result.Values, result.Shape);
            if (r.GetValue(json))
            {
                // "distance" names it as every other command's JSON does; "metric" is kept for scripts written before.
                var doc = new Dictionary<string, object?> { ["distance"] = result.Metric, ["metric"] = result.Metric, ["shape"] = result.Shape };
                if (outPath is not null)
                {
                    // The values are in the file: print where, and a summary, not every value (a 512 × 512 matrix
                    // would be 262,144 numbers on stdout).
                    doc["out"] = Path.GetFullPath(outPath);
                    doc["summary"] = Summary.Of(result.Values).ToJson();
                }
                else
                {
                    doc["values"] = result.Values;
                }
                Console.WriteLine(JsonSerializer.Serialize(doc));
            }
            else if (outPath is not null)
            {
                var summary = Summary.Of(result.Values);
                Console.WriteLine($"{result.Metric} [{string.Join(",", result.Shape)}] written: {Path.GetFullPath(outPath)}");
                Console.WriteLine(string.Format(CultureInfo.InvariantCulture, "count {0}  min {1:G8}  max {2:G8}  mean {3:G8}", summary.Count, summary.Min, summary.Max, summary.Mean));
            }
            else
            {
                Console.WriteLine($"{result.Metric} [{string.Join(",", result.Shape)}]");
                var cols = result.Shape.Length == 2 ? (int)result.Shape[1] : 1;
                for (var i = 0; i < result.Values.Length; i += cols)
                    Console.WriteLine(string.Join("  ", result.Values.Skip(i).Take(cols).Select(v => v.ToString("G8", CultureInfo.InvariantCulture))));
            }
        });
            return unconverged ? 1 : code;
        });
        return command;
    }

    /// <summary>What <c>--out</c> reports instead of the values: their count, minimum, maximum and mean (NaN when there are none; non-finite values propagate).</summary>
    /// <param name="Count">The number of values.</param>
    /// <param name="Min">The smallest value.</param>
    /// <param name="Max">The largest value.</param>
    /// <param name="Mean">The arithmetic mean.</param>
    public sealed record Summary(long Count, double Min, double Max, double Mean)
    {
        /// <summary>The summary of a set of values.</summary>
        /// <param name="values">The values.</param>
        /// <returns>Count, min, max and mean (NaN for min, max and mean when empty or when a value is NaN).</returns>
        public static Summary Of(double[] values)
        {
            ArgumentNullException.ThrowIfNull(values);
            if (values.Length == 0) return new Summary(0, double.NaN, double.NaN, double.NaN);
            double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0;
            foreach (var v in values)
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
                sum += v;
            }
            return new Summary(values.Length, min, max, sum / values.Length);
        }

        /// <summary>The summary as the JSON object <c>{count, min, max, mean}</c>; a non-finite statistic becomes null (JSON has no NaN or infinity).</summary>
        /// <returns>The object's members.</returns>
        public Dictionary<string, object?> ToJson() => new()
        {
            ["count"] = Count,
            ["min"] = double.IsFinite(Min) ? Min : null,
            ["max"] = double.IsFinite(Max) ? Max : null,
            ["mean"] = double.IsFinite(Mean) ? Mean : null,
        };
    }

    /// <summary>The result of <see cref="Compute"/>: the distance name, the shape ([N] or [N,M]) and the values row-major.</summary>
    public sealed record Result(string Metric, long[] Shape, double[] Values)
    {
        /// <summary>One line saying that Sinkhorn solves stopped at the iteration cap above the tolerance (the values are unconverged), or null.</summary>
        public string? ConvergenceWarning { get; init; }
    }

    /// <summary>Reads the inputs, builds the distance and computes paired or pairwise values.</summary>
    /// <param name="aPath">First .npy batch.</param>
    /// <param name="bPath">Second .npy batch.</param>
    /// <param name="aMaskPath">Optional [N,T] mask or weights of the first batch.</param>
    /// <param name="bMaskPath">Optional [M,T'] mask or weights of the second batch.</param>
    /// <param name="metric">Distance name.</param>
    /// <param name="options">Distance options.</param>
    /// <param name="pairwise">All pairs instead of paired rows.</param>
    /// <param name="deviceName">auto, cpu, cuda or cuda:N.</param>
    /// <param name="directionsPath">Optional fixed [L,d] directions (.npy) for the sliced distances.</param>
    /// <returns>The values and their shape.</returns>
    public static Result Compute(string aPath, string bPath, string? aMaskPath, string? bMaskPath, string metric,
        DistEmbed.DistanceSettings options, bool pairwise, string deviceName, string? directionsPath = null)
    {
        using var scope = torch.NewDisposeScope();
        var device = Devices.Resolve(deviceName);
        if (directionsPath is not null)
        {
            options = options with { Directions = DistanceSettings.ReadDirections(directionsPath, device) };
        }
        // A warning is reported once, in the result, instead of by the distance on stderr; Throw still throws.
        if (options.OnNonConvergence == SinkhornNonConvergence.Warn) options = options with { OnNonConvergence = SinkhornNonConvergence.Ignore };
        var distance = Distance.Create(metric, options);
        using var x = Embeddings.Load(aPath, aMaskPath, distance.Accepts, device);
        using var y = Embeddings.Load(bPath, bMaskPath, distance.Accepts, device);
        if (!pairwise && x.Count != y.Count)
            throw new ArgumentException($"--a has {x.Count} items but --b has {y.Count}; paired distances need equal counts (or pass --pairwise).", "b");
        using var _ = torch.no_grad();
        var t = pairwise ? distance.Pairwise(x, y) : distance.Paired(x, y);
        var values = t.cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
        string? warning = null;
        if (distance.SinkhornConvergence is { UnconvergedSolves: > 0 } d)
            warning = string.Format(CultureInfo.InvariantCulture,
                "{0}: {1} of {2} Sinkhorn solves stopped at --sinkhorn-iterations {3} with a marginal error up to {4:G3} > --tolerance {5:G3}; the values are not converged (raise --sinkhorn-iterations or --epsilon).",
                distance.Name, d.UnconvergedSolves, d.Solves, options.SinkhornIterations, d.MaxUnconvergedMarginalError, options.Tolerance);
        return new Result(distance.Name, t.shape, values) { ConvergenceWarning = warning };
    }
}
