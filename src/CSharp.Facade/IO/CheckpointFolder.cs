using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace DistEmbed.IO;

/// <summary>
/// A kind of checkpoint folder: the name its <c>manifest.json</c> carries in <c>"kind"</c> and the files it may hold
/// besides the manifest. A folder holding anything else is not a checkpoint and is never replaced.
/// </summary>
public sealed class CheckpointKind
{
    private readonly Func<JsonObject, bool> recognisesOlderManifest;

    private CheckpointKind(string name, string[] files, Func<JsonObject, bool> recognisesOlderManifest)
    {
        Name = name;
        Files = files;
        this.recognisesOlderManifest = recognisesOlderManifest;
    }

    /// <summary>The kind's name, written as the manifest's <c>"kind"</c>.</summary>
    public string Name { get; }

    /// <summary>The files a checkpoint of this kind may hold besides <c>manifest.json</c>.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>A sequence-embedder training checkpoint (<c>distembed train --task sequence</c>, <c>SequenceTrainer</c>).</summary>
    public static CheckpointKind SequenceEmbedder { get; } = new("sequence-embedder", ["model.dat", "best.dat", "optimizer.dat", "loss.dat"],
        m => m["trainer"] is JsonObject && m["state"] is JsonObject && m["model"] is JsonObject);

    /// <summary>A deep-Bregman training checkpoint (<c>distembed train bregman</c>, <c>DeepBregmanTrainer</c>): weights,
    /// best weights and optimiser state; <c>model.pt</c> is the weights file of the earlier layout (recognised so that
    /// such a folder may be replaced with overwrite).</summary>
    public static CheckpointKind DeepBregman { get; } = new("deep-bregman", ["model.dat", "best.dat", "optimizer.dat", "loss.dat", "model.pt"],
        m => m["model"] is JsonValue v && v.GetValueKind() == JsonValueKind.String && (string?)v == "deep-bregman");

    /// <summary>A triplet-VAE checkpoint (<c>Tvae.Save</c>, <c>Tvae.Train</c> with a checkpoint folder): weights, optimiser
    /// state and the reparameterisation noise generator's state; <c>model.bin</c> is the weights file of the earlier layout.</summary>
    public static CheckpointKind Tvae { get; } = new("tvae", ["model.dat", "optimizer.dat", "noise.dat", "model.bin"],
        m => m["format"] is JsonValue v && v.GetValueKind() == JsonValueKind.String && (string?)v == "distembed-tvae/1");

    /// <summary>A checkpoint of the generic metric-learning trainer (<c>MetricLearningTrainer</c>): any module's weights, best weights and optimiser state.</summary>
    public static CheckpointKind MetricLearning { get; } = new("metric-learning", ["model.dat", "best.dat", "optimizer.dat", "loss.dat"], _ => false);

    /// <summary>A saved vector index (<c>ExactIndex</c> or <c>HnswIndex</c> of <c>DistEmbed.Retrieval</c>, <c>distembed index build</c>).</summary>
    public static CheckpointKind VectorIndex { get; } = new("vector-index", ["index.usearch", "vectors.npy", "ids.npy"], _ => false);

    /// <summary>Every kind.</summary>
    public static IReadOnlyList<CheckpointKind> All { get; } = [SequenceEmbedder, DeepBregman, Tvae, MetricLearning, VectorIndex];

    /// <summary>The kind a parsed manifest declares (its <c>"kind"</c>, or the shape of a manifest written before that field existed).</summary>
    /// <param name="manifest">The manifest's root object.</param>
    /// <returns>The kind, or null when the manifest is not a DistEmbed checkpoint manifest.</returns>
    public static CheckpointKind? Of(JsonObject manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest["kind"] is JsonValue k && k.GetValueKind() == JsonValueKind.String)
            return All.FirstOrDefault(x => x.Name == (string?)k);
        return All.FirstOrDefault(x => x.recognisesOlderManifest(manifest));
    }

    /// <inheritdoc/>
    public override string ToString() => Name;
}

/// <summary>What <see cref="CheckpointFolder.Prepare"/> allows for a folder that already holds a checkpoint.</summary>
public enum CheckpointMode
{
    /// <summary>A new run: an existing checkpoint is kept and the run is refused.</summary>
    New,
    /// <summary>A new run that replaces an existing checkpoint of the same kind (<c>--overwrite</c>).</summary>
    Overwrite,
    /// <summary>A resumed run: the folder must hold a checkpoint of the same kind.</summary>
    Resume,
}

/// <summary>One file of a checkpoint: its name inside the folder and what writes its content.</summary>
/// <param name="Name">The file name (one of <see cref="CheckpointKind.Files"/>).</param>
/// <param name="Write">Writes the complete content into the stream it is given.</param>
public sealed record CheckpointFile(string Name, Action<Stream> Write);

/// <summary>
/// The one writer of checkpoint folders (sequence, generic and deep-Bregman trainers, TVAE). It never destroys anything
/// that is not its own checkpoint, and a checkpoint on disk is always complete.
/// </summary>
/// <remarks>
/// <para>Guards (<see cref="Prepare"/>, checked again by every <see cref="Write"/>): the target is not an existing file,
/// not the working folder or one of its ancestors, holds no input of the run, and is empty, absent, or a checkpoint of
/// the same kind holding nothing but that kind's files. An existing checkpoint is replaced only with
/// <see cref="CheckpointMode.Overwrite"/> or <see cref="CheckpointMode.Resume"/>.</para>
/// <para>Durability: every file, the manifest last, is written into a temporary sibling folder and flushed to disk
/// (<see cref="FileStream.Flush(bool)"/>). The complete folder then takes the target's place by one atomic exchange
/// (Linux <c>renameat2(RENAME_EXCHANGE)</c>), so a checkpoint exists at every instant; the old one is deleted after.
/// Where the exchange is not available, the old folder is renamed aside and the new one renamed into place; if the
/// process dies between the two renames, the next <see cref="Prepare"/> or <see cref="Write"/> restores the target from
/// the complete new folder (a temporary folder with a manifest is complete: the manifest is written last) or from the
/// old one. Stale temporary folders of an interrupted write are removed by the next run. One writer per folder.</para>
/// </remarks>
public static class CheckpointFolder
{
    /// <summary>The manifest's file name; it is written last and marks a complete checkpoint.</summary>
    public const string ManifestFile = "manifest.json";

    private const string TempTag = "distembed-tmp-";
    private const string OldTag = "distembed-old-";

    /// <summary>
    /// Checks, before a run does any work, that <paramref name="directory"/> may receive its checkpoints; restores a
    /// checkpoint left aside by an interrupted write and removes stale temporary folders.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="kind">The kind of checkpoint the run writes.</param>
    /// <param name="mode">Whether an existing checkpoint is refused, replaced or resumed.</param>
    /// <param name="inputs">Paths the run reads (files or folders; other strings such as <c>synthetic:…</c> are ignored).</param>
    /// <param name="argument">The option or parameter that named the folder, for messages (e.g. <c>--out</c>).</param>
    /// <exception cref="ArgumentException">The folder is refused (the message says why and names <paramref name="argument"/>).</exception>
    /// <exception cref="DirectoryNotFoundException"><see cref="CheckpointMode.Resume"/> and no checkpoint to resume.</exception>
    public static void Prepare(string directory, CheckpointKind kind, CheckpointMode mode, IEnumerable<string?>? inputs = null, string argument = "directory")
    {
        ArgumentNullException.ThrowIfNull(kind);
        var full = Target(directory, argument);
        Recover(full);
        CheckPlace(directory, full, argument, inputs);
        var existing = CheckContents(directory, full, kind, argument);
        switch (mode)
        {
            case CheckpointMode.New when existing:
                throw new ArgumentException(argument.StartsWith("--", StringComparison.Ordinal)
                    ? $"{argument} '{directory}' already holds a {kind.Name} checkpoint; it is kept. Pass --overwrite to replace it or --resume to continue it."
                    : $"{argument} '{directory}' already holds a {kind.Name} checkpoint; it is kept. Ask for overwrite to replace it, or resume it.", Param(argument));
            case CheckpointMode.Resume when !existing:
                throw new DirectoryNotFoundException($"{argument} '{directory}' holds no {kind.Name} checkpoint to resume.");
        }
        CleanStale(full);
    }

    /// <summary>
    /// Writes a checkpoint: <paramref name="files"/> and then the manifest into a temporary sibling folder, each flushed
    /// to disk, and the complete folder into <paramref name="directory"/>'s place (see the class remarks).
    /// </summary>
    /// <param name="directory">The checkpoint folder (absent, empty, or a checkpoint of <paramref name="kind"/>).</param>
    /// <param name="kind">The kind; every file name must be one of its <see cref="CheckpointKind.Files"/>.</param>
    /// <param name="files">The files besides the manifest.</param>
    /// <param name="manifestJson">The manifest's text (it should carry <c>"kind": kind.Name</c>).</param>
    /// <param name="argument">The option or parameter that named the folder, for messages.</param>
    /// <returns>The full paths written, the manifest last.</returns>
    /// <exception cref="ArgumentException">The folder is refused, or a file name is not part of the kind.</exception>
    public static string[] Write(string directory, CheckpointKind kind, IReadOnlyList<CheckpointFile> files, string manifestJson, string argument = "directory")
    {
        ArgumentNullException.ThrowIfNull(kind);
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(manifestJson);
        foreach (var f in files)
            if (!kind.Files.Contains(f.Name))
                throw new ArgumentException($"'{f.Name}' is not a file of a {kind.Name} checkpoint ({string.Join(", ", kind.Files)}).", nameof(files));
        var full = Target(directory, argument);
        Recover(full);
        CheckPlace(directory, full, argument, null);
        CheckContents(directory, full, kind, argument);
        var parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(full)}.{TempTag}{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            foreach (var f in files) WriteFlushed(Path.Combine(temp, f.Name), f.Write);
            WriteFlushed(Path.Combine(temp, ManifestFile), s => s.Write(new System.Text.UTF8Encoding(false).GetBytes(manifestJson)));
            if (!Directory.Exists(full))
            {
                Directory.Move(temp, full);
            }
            else if (TryExchange(temp, full))
            {
                Directory.Delete(temp, recursive: true); // the old checkpoint, now under the temporary name
            }
            else
            {
                var old = Path.Combine(parent, $".{Path.GetFileName(full)}.{OldTag}{Guid.NewGuid():N}");
                Directory.Move(full, old);
                Directory.Move(temp, full);
                Directory.Delete(old, recursive: true);
            }
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
        return [.. files.Select(f => Path.Combine(full, f.Name)), Path.Combine(full, ManifestFile)];
    }

    /// <summary>The kind of checkpoint in a folder.</summary>
    /// <param name="directory">A folder.</param>
    /// <returns>The kind, or null when the folder has no manifest or its manifest is not a DistEmbed checkpoint's.</returns>
    public static CheckpointKind? KindOf(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var path = Path.Combine(directory, ManifestFile);
        if (!File.Exists(path)) return null;
        try
        {
            using var stream = File.OpenRead(path);
            if (stream.Length > MaxManifestBytes) return null;
            return JsonNode.Parse(stream) is JsonObject o ? CheckpointKind.Of(o) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The largest manifest read (bytes); a larger <c>manifest.json</c> is rejected before it is parsed.</summary>
    public const long MaxManifestBytes = 64L << 20;

    /// <summary>Reads a manifest's text, refusing a file larger than <see cref="MaxManifestBytes"/>.</summary>
    /// <param name="path">The manifest path.</param>
    /// <returns>Its text.</returns>
    /// <exception cref="InvalidDataException">The file is too large.</exception>
    public static string ReadManifestText(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var length = new FileInfo(path).Length;
        if (length > MaxManifestBytes)
            throw new InvalidDataException($"manifest {path} is {length} bytes; a manifest is at most {MaxManifestBytes} bytes.");
        return File.ReadAllText(path);
    }

    private static string Param(string argument) => argument.TrimStart('-');

    private static string Target(string directory, string argument)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new ArgumentException($"{argument} is empty; name a checkpoint folder.", Param(argument));
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory));
        if (Path.GetDirectoryName(full) is null)
            throw new ArgumentException($"{argument} '{directory}' is a file-system root; name a checkpoint folder inside it.", Param(argument));
        return full;
    }

    private static bool SameOrInside(string path, string folder)
    {
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        path = Path.TrimEndingDirectorySeparator(path);
        return path.Equals(folder, comparison) || path.StartsWith(folder + Path.DirectorySeparatorChar, comparison);
    }

    private static void CheckPlace(string directory, string full, string argument, IEnumerable<string?>? inputs)
    {
        if (File.Exists(full))
            throw new ArgumentException($"{argument} '{directory}' is an existing file; a checkpoint is a folder. Name a new or empty folder.", Param(argument));
        var cwd = Path.GetFullPath(Directory.GetCurrentDirectory());
        if (SameOrInside(cwd, full))
            throw new ArgumentException($"{argument} '{directory}' is the working folder or contains it; writing a checkpoint there would replace it. Name a new subfolder.", Param(argument));
        foreach (var input in inputs ?? [])
        {
            if (string.IsNullOrWhiteSpace(input) || input.Contains('\0')) continue;
            string inputFull;
            try { inputFull = Path.GetFullPath(input); }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { continue; }
            if (!File.Exists(inputFull) && !Directory.Exists(inputFull)) continue;
            if (SameOrInside(inputFull, full))
                throw new ArgumentException($"{argument} '{directory}' holds '{input}', an input of this run; writing a checkpoint there would replace it. Name another folder.", Param(argument));
        }
    }

    /// <summary>True when the folder holds a checkpoint of <paramref name="kind"/>; throws when it holds anything else.</summary>
    private static bool CheckContents(string directory, string full, CheckpointKind kind, string argument)
    {
        if (!Directory.Exists(full)) return false;
        var entries = Directory.EnumerateFileSystemEntries(full).Select(Path.GetFileName).ToArray();
        if (entries.Length == 0) return false;
        if (!entries.Contains(ManifestFile))
            throw new ArgumentException($"{argument} '{directory}' is not empty and is not a checkpoint (no {ManifestFile}); refusing to write into it. Name a new or empty folder.", Param(argument));
        var found = KindOf(full);
        if (found is null)
            throw new ArgumentException($"{argument} '{directory}' holds a {ManifestFile} that is not a DistEmbed checkpoint manifest; refusing to replace it.", Param(argument));
        if (found != kind)
            throw new ArgumentException($"{argument} '{directory}' holds a {found.Name} checkpoint, not a {kind.Name} one; refusing to replace it.", Param(argument));
        var foreign = entries.Where(e => e != ManifestFile && !kind.Files.Contains(e)).ToArray();
        if (foreign.Length > 0)
            throw new ArgumentException($"{argument} '{directory}' holds '{foreign[0]}', which is not part of a {kind.Name} checkpoint; refusing to replace the folder. Move it out or name another folder.", Param(argument));
        return true;
    }

    /// <summary>Restores the target when an interrupted fallback swap left it absent (newest complete folder wins).</summary>
    private static void Recover(string full)
    {
        if (Directory.Exists(full) || File.Exists(full)) return;
        var candidates = Siblings(full)
            .Where(s => File.Exists(Path.Combine(s.Path, ManifestFile)))
            .OrderBy(s => s.IsTemp ? 0 : 1)
            .ThenByDescending(s => File.GetLastWriteTimeUtc(Path.Combine(s.Path, ManifestFile)))
            .ToArray();
        if (candidates.Length > 0) Directory.Move(candidates[0].Path, full);
    }

    /// <summary>Removes the temporary and set-aside folders of interrupted writes of <paramref name="full"/>.</summary>
    private static void CleanStale(string full)
    {
        foreach (var (path, _) in Siblings(full).ToArray())
        {
            try { Directory.Delete(path, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// The sibling folders written by this writer (<c>.NAME.distembed-tmp-GUID</c>, <c>.NAME.distembed-old-GUID</c>) and by
    /// earlier versions (<c>.NAME.tmp-GUID</c>, <c>.NAME.old-GUID</c>, <c>.NAME.GUID.tmp</c>, <c>.NAME.GUID.old</c>) that hold
    /// nothing but checkpoint files.
    /// </summary>
    private static IEnumerable<(string Path, bool IsTemp)> Siblings(string full)
    {
        var parent = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(parent)) yield break;
        var name = Regex.Escape(Path.GetFileName(full));
        var pattern = new Regex($@"^\.{name}\.(?:(?:{TempTag}|tmp-)(?<t>[0-9a-f]{{32}})|(?:{OldTag}|old-)(?<o>[0-9a-f]{{32}})|[0-9a-f]{{32}}\.(?<tv>tmp|old))$");
        var known = CheckpointKind.All.SelectMany(k => k.Files).Append(ManifestFile).ToHashSet();
        foreach (var dir in Directory.EnumerateDirectories(parent, "." + Path.GetFileName(full) + ".*"))
        {
            var m = pattern.Match(Path.GetFileName(dir));
            if (!m.Success) continue;
            if (!Directory.EnumerateFileSystemEntries(dir).All(e => known.Contains(Path.GetFileName(e)) && File.Exists(e))) continue;
            yield return (dir, m.Groups["t"].Success || m.Groups["tv"].Value == "tmp");
        }
    }

    private static void WriteFlushed(string path, Action<Stream> writer)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        writer(stream);
        stream.Flush(flushToDisk: true);
    }

    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;

    [DllImport("libc", EntryPoint = "renameat2", SetLastError = true)]
    private static extern int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    /// <summary>Atomically exchanges two folders (Linux <c>renameat2(RENAME_EXCHANGE)</c>); false where unsupported.</summary>
    private static bool TryExchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }
}
