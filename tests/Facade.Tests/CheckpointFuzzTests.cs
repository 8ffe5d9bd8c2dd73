using System.Text;
using System.Text.Json.Nodes;
using DistEmbed.Sequences;
using Xunit;
using Xunit.Abstractions;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The seeded hostile-input fuzz suite for checkpoint folders (issue 18, item 7, the part for checkpoint files): a
/// valid sequence-embedder checkpoint is copied and one of its files is damaged — a manifest member set to null, a
/// negative, a huge or a wrongly typed value, or removed; the manifest's bytes flipped or truncated; a weights file
/// (<c>model.dat</c>, <c>best.dat</c>, <c>optimizer.dat</c>) truncated, flipped, emptied or given trailing garbage —
/// and loading it (the model; a resume for model.dat and optimizer.dat) must either give a model or throw <see cref="InvalidDataException"/> in one line naming the damaged
/// file (or the weights file of the folder that a still-parsable manifest no longer fits), within 30 s, with less than <see cref="ManagedBound"/> managed bytes allocated and the process's resident
/// peak (VmHWM, reset before each case) below <see cref="ResidentBound"/>. A resume and an <c>evaluate</c> through the
/// command line must end in one <c>error:</c> line with exit 1.
/// </summary>
[Collection("Fuzz")]
public sealed class CheckpointFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int Seed = 29;
    private const long ManagedBound = 64L << 20;
    private const long ResidentBound = 2L << 30;

    private static readonly EmbedderOptions TinyModel = new() { InputChannels = 2, Hidden = 8, Features = 4, Layers = 2, Quantiles = 6 };
    private static readonly TrainerOptions TinyTrainer = new() { Epochs = 1, ClassesPerBatch = 4, ItemsPerClass = 3, LearningRate = 5e-3, Seed = 17 };

    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-ckfuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string ValidCheckpoint()
    {
        var dir = Path.Combine(_dir, "valid");
        using var model = SequenceEmbedder.Create(TinyModel, 5);
        SequenceTrainer.Train(model, SequenceTestData.Make(6, 8, 1), SequenceTestData.Make(3, 5, 2, labelOffset: 100), TinyTrainer, dir);
        foreach (var f in new[] { Checkpoint.ManifestFile, "model.dat", "best.dat", "optimizer.dat" })
            Assert.True(File.Exists(Path.Combine(dir, f)), $"the valid checkpoint lacks {f}");
        return dir;
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    /// <summary>Every leaf of a JSON tree as (parent, key or index).</summary>
    private static List<(JsonNode Parent, string? Key, int Index)> Leaves(JsonNode node)
    {
        var found = new List<(JsonNode, string?, int)>();
        void Walk(JsonNode n)
        {
            switch (n)
            {
                case JsonObject o:
                    foreach (var (k, v) in o.ToList())
                        if (v is JsonObject or JsonArray) { found.Add((o, k, -1)); Walk(v); }
                        else found.Add((o, k, -1));
                    break;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++)
                        if (a[i] is JsonObject or JsonArray) Walk(a[i]!);
                        else found.Add((a, null, i));
                    break;
            }
        }
        Walk(node);
        return found;
    }

    private static readonly Func<JsonNode?>[] HostileValues =
    [
        () => null, () => JsonValue.Create(-1), () => JsonValue.Create(0), () => JsonValue.Create(int.MaxValue),
        () => JsonValue.Create(2000000000L), () => JsonValue.Create(1e308), () => JsonValue.Create(-1e308),
        () => JsonValue.Create(99), () => JsonValue.Create("x"), () => JsonValue.Create(true), () => new JsonArray(),
        () => new JsonObject(), () => JsonValue.Create(0.5),
    ];

    /// <summary>Manifest cases: a member replaced or removed (JSON-aware), or the bytes damaged.</summary>
    private static IEnumerable<(string Name, byte[] Bytes)> ManifestCases(string text, Random rng, int count)
    {
        var leafCount = Leaves(JsonNode.Parse(text)!).Count;
        for (var c = 0; c < count; c++)
        {
            var root = JsonNode.Parse(text)!;
            var (parent, key, index) = Leaves(root)[rng.Next(leafCount)];
            var what = key ?? $"[{index}]";
            if (rng.Next(6) == 0 && parent is JsonObject po && key is not null)
            {
                po.Remove(key);
                yield return ($"remove-{what}", Encoding.UTF8.GetBytes(root.ToJsonString()));
                continue;
            }
            var v = rng.Next(HostileValues.Length);
            if (parent is JsonObject o) o[key!] = HostileValues[v]();
            else ((JsonArray)parent)[index] = HostileValues[v]();
            yield return ($"set-{what}-{v}", Encoding.UTF8.GetBytes(root.ToJsonString()));
        }
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var c = 0; c < count / 4; c++)
        {
            var flipped = (byte[])bytes.Clone();
            for (var k = 0; k < 1 + rng.Next(4); k++) flipped[rng.Next(flipped.Length)] = (byte)rng.Next(256);
            yield return ($"flip-{c}", flipped);
            yield return ($"truncate-{c}", bytes[..rng.Next(bytes.Length)]);
        }
        yield return ("empty", []);
        yield return ("deep", Encoding.UTF8.GetBytes(new string('[', 100000)));
    }

    /// <summary>Weights-file cases: truncated, flipped, emptied, with trailing garbage.</summary>
    private static IEnumerable<(string Name, byte[] Bytes)> WeightCases(byte[] bytes, Random rng, int count)
    {
        yield return ("empty", []);
        yield return ("one-byte", bytes[..1]);
        for (var c = 0; c < count; c++)
        {
            yield return ($"truncate-{c}", bytes[..rng.Next(bytes.Length)]);
            var flipped = (byte[])bytes.Clone();
            // Flips near the start hit the length prefixes and names of the TorchSharp format, the rest hit values.
            var at = rng.Next(2) == 0 ? rng.Next(Math.Min(64, bytes.Length)) : rng.Next(bytes.Length);
            flipped[at] = (byte)rng.Next(256);
            yield return ($"flip-{c}-{at}", flipped);
            var huge = (byte[])bytes.Clone();
            var pos = rng.Next(Math.Max(1, Math.Min(64, bytes.Length - 8)));
            BitConverter.GetBytes(long.MaxValue - rng.Next(1000)).CopyTo(huge, pos);
            yield return ($"huge-length-{c}-{pos}", huge);
        }
        yield return ("trailing", [.. bytes, .. new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }]);
    }

    private static long ResidentPeak()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        return 0;
    }

    /// <summary>Resets the resident peak (Linux: "5" to /proc/self/clear_refs); false where not possible.</summary>
    private static bool ResetResidentPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>Loads a model (reads the manifest and best.dat, or model.dat without it).</summary>
    private static void Load(string dir)
    {
        var (model, _) = Checkpoint.LoadModel(dir);
        model.Dispose();
    }

    /// <summary>Resumes the run with its own data (reads the manifest, model.dat, best.dat and optimizer.dat).</summary>
    private static void Resume(string dir)
    {
        var (model, _) = SequenceTrainer.Resume(dir, SequenceTestData.Make(6, 8, 1), SequenceTestData.Make(3, 5, 2, labelOffset: 100));
        model.Dispose();
    }

    private (int Loaded, int Rejected) Run(string file, string valid, IEnumerable<(string Name, byte[] Bytes)> cases, Action<string> open)
    {
        var (loaded, rejected, index) = (0, 0, 0);
        foreach (var (name, bytes) in cases)
        {
            var dir = Path.Combine(_dir, $"{Path.GetFileNameWithoutExtension(file)}-{index++:D3}");
            CopyFolder(valid, dir);
            var damaged = Path.Combine(dir, file);
            File.WriteAllBytes(damaged, bytes);
            var what = $"{file} case {name} (seed {Seed}, folder {dir})";
            var peakChecked = ResetResidentPeak();
            var before = GC.GetTotalAllocatedBytes(precise: true);
            var task = Task.Run(() => open(dir));
            try
            {
                if (!task.Wait(TimeSpan.FromSeconds(30))) Assert.Fail($"{what}: no answer within 30 s.");
                loaded++;
            }
            catch (AggregateException wrapped) when (wrapped.InnerException is InvalidDataException e)
            {
                rejected++;
                Assert.False(e.Message.Contains('\n'), $"{what}: the message is not one line: {e.Message}");
                // The damaged file, or (a manifest member that still parses but disagrees with the weights) the weights
                // file of the same folder that the manifest's model does not fit.
                Assert.True(e.Message.Contains(damaged, StringComparison.Ordinal) || e.Message.Contains(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal),
                    $"{what}: the message names no file of the checkpoint: {e.Message}");
            }
            catch (AggregateException wrapped)
            {
                Assert.Fail($"{what}: {wrapped.InnerException?.GetType().FullName} instead of InvalidDataException: {wrapped.InnerException}");
            }
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.True(allocated < ManagedBound, $"{what}: {allocated} managed bytes allocated (bound {ManagedBound}).");
            if (peakChecked)
            {
                var peak = ResidentPeak();
                Assert.True(peak < ResidentBound, $"{what}: resident peak {peak >> 20} MiB (bound {ResidentBound >> 20} MiB).");
            }
            Directory.Delete(dir, true);
        }
        output.WriteLine($"{file}: {loaded + rejected} cases, {loaded} loaded, {rejected} rejected with a one-line error");
        return (loaded, rejected);
    }

    [Fact]
    public void Damaged_checkpoint_files_load_or_fail_in_one_line_naming_the_file()
    {
        var valid = ValidCheckpoint();
        var rng = new Random(Seed);
        var manifest = Run(Checkpoint.ManifestFile, valid, ManifestCases(File.ReadAllText(Path.Combine(valid, Checkpoint.ManifestFile)), rng, 120), Load);
        Assert.True(manifest.Rejected > 60, $"only {manifest.Rejected} damaged manifests rejected");
        var best = Run("best.dat", valid, WeightCases(File.ReadAllBytes(Path.Combine(valid, "best.dat")), rng, 25), Load);
        Assert.True(best.Rejected > 25, $"only {best.Rejected} damaged best.dat files rejected");
        foreach (var weights in new[] { "model.dat", "optimizer.dat" })
        {
            var r = Run(weights, valid, WeightCases(File.ReadAllBytes(Path.Combine(valid, weights)), rng, 10), Resume);
            Assert.True(r.Rejected > 10, $"only {r.Rejected} damaged {weights} files rejected");
        }
    }

    [Fact]
    public void Damaged_checkpoints_through_the_command_line_are_one_error_line()
    {
        var valid = ValidCheckpoint();
        var rng = new Random(Seed + 1);
        var runs = 0;
        var cases = WeightCases(File.ReadAllBytes(Path.Combine(valid, "optimizer.dat")), rng, 3).Select(c => ("optimizer.dat", c))
            .Concat(WeightCases(File.ReadAllBytes(Path.Combine(valid, "model.dat")), rng, 3).Select(c => ("model.dat", c)))
            .Concat(ManifestCases(File.ReadAllText(Path.Combine(valid, Checkpoint.ManifestFile)), rng, 12).Select(c => (Checkpoint.ManifestFile, c)));
        foreach (var (file, (name, bytes)) in cases)
        {
            var dir = Path.Combine(_dir, $"cli-{runs}");
            CopyFolder(valid, dir);
            File.WriteAllBytes(Path.Combine(dir, file), bytes);
            // optimizer.dat is read by a resume only; the model files by evaluate as well.
            string[] args = file == "optimizer.dat" || runs % 2 == 0
                ? ["train", "--train", "synthetic:noise-laws?classes=10&per-class=6&seed=1&min-length=8&max-length=12", "--out", dir, "--resume", "--device", "cpu"]
                : ["evaluate", "--model", dir, "--query", "synthetic:noise-laws?classes=4&per-class=4&seed=3&min-length=8&max-length=12"];
            var (code, _, stderr) = CliRunner.Run(args);
            runs++;
            if (code == 0) continue; // a damage the reader cannot see (e.g. a flipped weight value) loads
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("warning:", StringComparison.Ordinal)).ToArray();
            Assert.True(code is 1 && lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal),
                $"{string.Join(' ', args)} with {file} {name}: exit {code}, stderr:\n{stderr}");
        }
        output.WriteLine($"cli: {runs} damaged checkpoints through train --resume / evaluate");
        Assert.True(runs >= 30, $"only {runs} CLI runs");
    }
}
