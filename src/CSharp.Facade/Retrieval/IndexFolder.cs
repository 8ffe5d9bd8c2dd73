using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.IO;

namespace DistEmbed.Retrieval;

/// <summary>What a saved index's <c>manifest.json</c> declares.</summary>
internal sealed record IndexManifest(
    string Engine, IndexMetric Metric, IndexPrecision Precision, int Dimension, long Count, string? Source,
    JsonObject Parameters, IReadOnlyDictionary<string, (long Bytes, string Sha256)> Files);

/// <summary>One file of a saved index: its name, and what writes its content (called twice: once to hash, once to write).</summary>
internal sealed record IndexFile(string Name, Action<Stream> Write);

/// <summary>
/// Index folders: the files of an index and a manifest written last (through <see cref="CheckpointFolder.Write"/>: a
/// temporary sibling folder that takes the target's place), and their verification before a native loader sees a byte.
/// </summary>
internal static class IndexFolder
{
    /// <summary>Saves <paramref name="files"/> and the manifest (each file's length and SHA-256 included).</summary>
    public static void Write(string directory, string engine, IndexMetric metric, IndexPrecision precision, int dimension,
        long count, string? source, JsonObject parameters, IReadOnlyList<IndexFile> files)
    {
        var fileEntries = new JsonObject();
        foreach (var f in files)
        {
            using var sink = new HashingSink();
            f.Write(sink);
            fileEntries[f.Name] = new JsonObject { ["bytes"] = sink.Length, ["sha256"] = sink.Hex() };
        }
        var manifest = new JsonObject
        {
            ["kind"] = CheckpointKind.VectorIndex.Name,
            ["format"] = VectorIndex.Format,
            ["engine"] = engine,
            ["metric"] = VectorIndex.Name(metric),
            ["precision"] = VectorIndex.Name(precision),
            ["dimension"] = dimension,
            ["count"] = count,
            ["source"] = source,
            ["parameters"] = parameters,
            ["library"] = new JsonObject { ["distembed"] = typeof(IndexFolder).Assembly.GetName().Version?.ToString() },
            ["files"] = fileEntries,
        };
        var text = manifest.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        CheckpointFolder.Write(directory, CheckpointKind.VectorIndex,
            [.. files.Select(f => new CheckpointFile(f.Name, f.Write))], text, nameof(directory));
    }

    /// <summary>Reads and checks a manifest (fields, types, ranges); files are checked by <see cref="ReadVerified"/>.</summary>
    public static IndexManifest ReadManifest(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new ArgumentException("directory is empty; name an index folder.", nameof(directory));
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"index folder {directory} does not exist.");
        var path = Path.Combine(directory, CheckpointFolder.ManifestFile);
        if (!File.Exists(path))
            throw new InvalidDataException($"index folder {directory} holds no {CheckpointFolder.ManifestFile}; it is not a saved index (or its save was interrupted).");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(CheckpointFolder.ReadManifestText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: the manifest is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: the manifest is not valid JSON ({e.Message}).", e);
        }
        string Text(string name) =>
            root[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s
                : throw new InvalidDataException($"{path}: \"{name}\" is missing or not a string.");
        long Number(JsonNode? node, string name, long min, long max)
        {
            if (node is JsonValue v && v.TryGetValue<long>(out var x) && x >= min && x <= max) return x;
            throw new InvalidDataException($"{path}: \"{name}\" is missing or not an integer in [{min}, {max}].");
        }
        if (Text("kind") != CheckpointKind.VectorIndex.Name)
            throw new InvalidDataException($"{path}: kind '{Text("kind")}' is not '{CheckpointKind.VectorIndex.Name}'; the folder is not a saved index.");
        if (Text("format") != VectorIndex.Format)
            throw new InvalidDataException($"{path}: format '{Text("format")}' is not '{VectorIndex.Format}', the one this version reads.");
        var engine = Text("engine");
        var metric = VectorIndex.ParseMetric(Text("metric"), path);
        var precision = VectorIndex.ParsePrecision(Text("precision"), path);
        var dimension = (int)Number(root["dimension"], "dimension", 1, int.MaxValue);
        var count = Number(root["count"], "count", 0, long.MaxValue);
        var source = root["source"] is JsonValue sv && sv.TryGetValue<string>(out var s) ? s : null;
        var parameters = root["parameters"] as JsonObject ?? new JsonObject();
        if (root["files"] is not JsonObject filesNode)
            throw new InvalidDataException($"{path}: \"files\" is missing or not an object.");
        var files = new Dictionary<string, (long, string)>();
        foreach (var (name, node) in filesNode)
        {
            if (!CheckpointKind.VectorIndex.Files.Contains(name))
                throw new InvalidDataException($"{path}: file '{name}' is not a file of an index folder.");
            var entry = node as JsonObject ?? throw new InvalidDataException($"{path}: files.{name} is not an object.");
            var sha = entry["sha256"] is JsonValue h && h.TryGetValue<string>(out var hs) && hs.Length == 64 ? hs
                : throw new InvalidDataException($"{path}: files.{name}.sha256 is missing or not 64 hex digits.");
            files[name] = (Number(entry["bytes"], $"files.{name}.bytes", 0, long.MaxValue), sha);
        }
        return new IndexManifest(engine, metric, precision, dimension, count, source,
            (JsonObject)parameters.DeepClone(), files);
    }

    /// <summary>Reads a file of the manifest into native memory, checking its length and SHA-256 first; the caller owns
    /// the buffer.</summary>
    public static NativeBuffer ReadVerified(string directory, IndexManifest manifest, string name)
    {
        if (!manifest.Files.TryGetValue(name, out var expected))
            throw new InvalidDataException($"index folder {directory}: the manifest lists no '{name}', which a {manifest.Engine} index needs.");
        var path = Path.Combine(directory, name);
        if (!File.Exists(path))
            throw new InvalidDataException($"index folder {directory}: '{name}' is missing.");
        var length = new FileInfo(path).Length;
        if (length != expected.Bytes)
            throw new InvalidDataException(
                $"index file {path} is {length} bytes but the manifest says {expected.Bytes}; the file is truncated or was replaced. Save the index again.");
        var buffer = new NativeBuffer(length);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            using (var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
            using (var output = buffer.Stream(FileAccess.Write))
            {
                var chunk = new byte[1 << 20];
                int n;
                while ((n = input.Read(chunk, 0, chunk.Length)) > 0)
                {
                    hash.AppendData(chunk, 0, n);
                    output.Write(chunk, 0, n);
                }
                if (output.Position != length)
                    throw new InvalidDataException($"index file {path} changed while it was read.");
            }
            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (!string.Equals(actual, expected.Sha256, StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException(
                    $"index file {path} has SHA-256 {actual} but the manifest says {expected.Sha256}; the file is corrupt or was replaced. Save the index again.");
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>A write-only stream that hashes and counts what is written.</summary>
    private sealed class HashingSink : Stream
    {
        private readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long length;

        public string Hex() => Convert.ToHexStringLower(hash.GetHashAndReset());
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => length;
        public override long Position { get => length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            length += buffer.Length;
        }
        protected override void Dispose(bool disposing)
        {
            if (disposing) hash.Dispose();
            base.Dispose(disposing);
        }
    }
}
