using System.Text;

namespace DistEmbed.IO;

/// <summary>
/// Atomic file writes: the content goes to a temporary file in the target folder, is flushed to disk, and is then
/// renamed over the target. A reader sees either the old file or the complete new one, never a partial file, and an
/// interrupted write leaves the previous content untouched.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="text"/> (UTF-8, no byte-order mark) to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="text">The content.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void WriteAllText(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        WriteAllBytes(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text));
    }

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="bytes">The content.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, stream => stream.Write(bytes));
    }

    /// <summary>Writes whatever <paramref name="writer"/> puts into the stream to <paramref name="path"/> atomically.</summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="writer">Writes the content into the (temporary) stream. If it throws, the target is left untouched and
    /// the temporary file is removed.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void Write(string path, Action<Stream> writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var full = TargetPath(path);
        var temp = TempPath(full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                writer(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Produces <paramref name="path"/> atomically through a callee that can only write to a file name (for example a
    /// plotting or serialisation library): <paramref name="writeTo"/> receives a temporary path in the target folder
    /// (with the same extension), and that file is renamed over the target once the callee returns.
    /// </summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="writeTo">Writes the complete content to the path it is given.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    /// <exception cref="IOException">The callee returned without creating the file.</exception>
    public static void WriteVia(string path, Action<string> writeTo)
    {
        ArgumentNullException.ThrowIfNull(writeTo);
        var full = TargetPath(path);
        var temp = TempPath(full);
        try
        {
            writeTo(temp);
            if (!File.Exists(temp))
                throw new IOException($"{path}: the writer returned without creating its file.");
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    private static string TargetPath(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("The path is empty.", nameof(path));
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"{path}: the folder {folder} does not exist.");
        return full;
    }

    private static string TempPath(string full) =>
        Path.Combine(Path.GetDirectoryName(full)!,
            $".{Path.GetFileNameWithoutExtension(full)}.{Guid.NewGuid():N}.tmp{Path.GetExtension(full)}");
}
