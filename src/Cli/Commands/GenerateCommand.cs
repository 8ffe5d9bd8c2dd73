using System.CommandLine;
using DistEmbed.Data;
using DistEmbed.IO;

namespace DistEmbed.Cli.Commands;

/// <summary><c>distembed generate</c>: seeded random distributions written as .npy (points + mask).</summary>
public static class GenerateCommand
{
    /// <summary>The most values N·T·d one call writes (2^28: a 1 GiB points file).</summary>
    public const long MaxValues = 1L << 28;

    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var count = new Option<int>("--count") { Description = "Number of distributions N.", DefaultValueFactory = _ => 16 };
        var minLength = new Option<int>("--min-length") { Description = "Fewest points per distribution.", DefaultValueFactory = _ => 8 };
        var maxLength = new Option<int>("--max-length") { Description = "Most points per distribution T (padded length).", DefaultValueFactory = _ => 64 };
        var dim = new Option<int>("--dim") { Description = "Dimension d.", DefaultValueFactory = _ => 4 };
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Points file (.npy, float32 [N,T,d]).", Required = true };
        var maskOut = new Option<string?>("--mask-out") { Description = "Mask file (.npy, float32 [N,T]); default: <out>.mask.npy." };
        var command = new Command("generate", "Writes seeded random distributions (two-component Gaussian mixtures of varying length) as .npy.")
        {
            count, minLength, maxLength, dim, seed, output, maskOut,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var n = r.GetValue(count);
            var (min, max, d) = (r.GetValue(minLength), r.GetValue(maxLength), r.GetValue(dim));
            if (n < 1) throw new ArgumentException($"--count = {n}; it must be ≥ 1.", "count");
            if (d < 1) throw new ArgumentException($"--dim = {d}; it must be ≥ 1.", "dim");
            if (min < 1 || max < min) throw new ArgumentException($"--min-length = {min}, --max-length = {max}; need 1 ≤ min ≤ max.", "min-length");
            // Checked in 64 bits before anything is allocated: the points file holds N·T·d float32 values.
            var values = (long)n * max * d;
            if (values > MaxValues)
                throw new ArgumentException(
                    $"--count = {n}, --max-length = {max}, --dim = {d} make {values} values ({values * 4.0 / (1 << 30):F1} GiB); generate writes at most {MaxValues} values ({MaxValues * 4 / (1 << 20)} MiB). Lower --count.",
                    "count");
            var outPath = r.GetValue(output)!;
            var maskPath = r.GetValue(maskOut) ?? Path.ChangeExtension(outPath, null) + ".mask.npy";
            OutputFiles.CheckWritable(outPath, "--out");
            OutputFiles.CheckWritable(maskPath, "--mask-out");
            OutputFiles.CheckDistinct(outPath, "--out", maskPath, "--mask-out");
            var (points, mask) = RandomDistributions.Generate(n, min, max, d, r.GetValue(seed));
            var flat = new float[points.Length];
            Buffer.BlockCopy(points, 0, flat, 0, flat.Length * sizeof(float));
            var flatMask = new float[mask.Length];
            Buffer.BlockCopy(mask, 0, flatMask, 0, flatMask.Length * sizeof(float));
            Npy.Write(outPath, flat, [n, max, d]);
            Npy.Write(maskPath, flatMask, [n, max]);
            Console.WriteLine($"wrote {Path.GetFullPath(outPath)} [{n},{max},{d}] and {Path.GetFullPath(maskPath)} [{n},{max}]");
        }));
        return command;
    }
}
