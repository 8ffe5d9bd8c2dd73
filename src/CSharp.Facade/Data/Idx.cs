using System.Buffers.Binary;
using System.IO.Compression;

namespace DistEmbed.Data;

/// <summary>Element type of an IDX file (the third byte of its magic number).</summary>
public enum IdxDataType : byte
{
    /// <summary>Unsigned byte (0x08).</summary>
    UnsignedByte = 0x08,
    /// <summary>Signed byte (0x09).</summary>
    SignedByte = 0x09,
    /// <summary>Big-endian 16-bit integer (0x0B).</summary>
    Int16 = 0x0B,
    /// <summary>Big-endian 32-bit integer (0x0C).</summary>
    Int32 = 0x0C,
    /// <summary>Big-endian IEEE single (0x0D).</summary>
    Single = 0x0D,
    /// <summary>Big-endian IEEE double (0x0E).</summary>
    Double = 0x0E,
}

/// <summary>The content of one IDX file: its shape, element type and raw (big-endian) element bytes.</summary>
/// <remarks>IDX is the format of the MNIST files (LeCun, Cortes, Burges, "The MNIST database of handwritten digits"):
/// a magic number <c>00 00 TT NN</c> (TT the element type, NN the number of dimensions), NN big-endian 32-bit extents,
/// then the elements in C order.</remarks>
public sealed class IdxArray
{
    internal IdxArray(IdxDataType dataType, int[] shape, byte[] data)
    {
        DataType = dataType;
        Shape = shape;
        Data = data;
    }

    /// <summary>The element type.</summary>
    public IdxDataType DataType { get; }

    /// <summary>The extents, outermost first.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>The raw element bytes in file order (big-endian for multi-byte types).</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Number of elements (the product of <see cref="Shape"/>).</summary>
    public long Length => Data.Length / Idx.ElementSize(DataType);

    /// <summary>Converts every element to <see cref="float"/> (exact for the byte and 16-bit types).</summary>
    /// <returns>A flat array of <see cref="Length"/> values in C order.</returns>
    public float[] ToSingles()
    {
        var span = Data.Span;
        var result = new float[Length];
        for (var i = 0; i < result.Length; i++)
            result[i] = DataType switch
            {
                IdxDataType.UnsignedByte => span[i],
                IdxDataType.SignedByte => (sbyte)span[i],
                IdxDataType.Int16 => BinaryPrimitives.ReadInt16BigEndian(span[(2 * i)..]),
                IdxDataType.Int32 => BinaryPrimitives.ReadInt32BigEndian(span[(4 * i)..]),
                IdxDataType.Single => BinaryPrimitives.ReadSingleBigEndian(span[(4 * i)..]),
                _ => (float)BinaryPrimitives.ReadDoubleBigEndian(span[(8 * i)..]),
            };
        return result;
    }
}

/// <summary>Reads and writes IDX files, plain or gzip-compressed (detected by the gzip magic bytes, not the name).</summary>
public static class Idx
{
    /// <summary>The largest data section <see cref="Read"/> accepts: 2^31 − 64 bytes (the largest .NET byte array).</summary>
    private static readonly long MaxDataBytes = Array.MaxLength;

    /// <summary>Reads an IDX file.</summary>
    /// <param name="path">A plain or gzip-compressed IDX file.</param>
    /// <returns>The array.</returns>
    /// <remarks>Memory is bounded by what the header claims: the size product is computed with checked arithmetic and
    /// compared with the file (plain) before anything is allocated, and a gzip stream is expanded only up to the
    /// header's size plus one byte, so a small gzip that expands to gigabytes is refused after reading the claimed size
    /// (as "trailing bytes"). The data section may hold at most 2^31 − 64 bytes.</remarks>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">A bad magic number, an unknown element type, a zero or negative extent,
    /// a size product beyond the limit, a truncated file, trailing bytes, or a corrupt gzip stream; the message names
    /// the file and what is wrong.</exception>
    public static IdxArray Read(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("The path is empty.", nameof(path));
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such IDX file.", path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> magic = stackalloc byte[2];
        var gzip = file.ReadAtLeast(magic, 2, throwOnEndOfStream: false) == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
        file.Position = 0;
        if (!gzip)
            return Parse(file, path, file.Length);
        try
        {
            using var input = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
            return Parse(input, path, null);
        }
        catch (InvalidDataException e) when (e.Data.Contains(ParseFault) is false)
        {
            throw new InvalidDataException($"{path}: corrupt gzip stream ({e.Message}).", e);
        }
    }

    /// <summary>Marks the exceptions <see cref="Parse"/> throws (so that they are not re-labelled as gzip faults).</summary>
    private const string ParseFault = "DistEmbed.Idx.ParseFault";
    /// <summary>Writes an uncompressed IDX file of unsigned bytes, atomically (used for test data and exports).</summary>
    /// <param name="path">The target file; its folder must exist.</param>
    /// <param name="shape">The extents, outermost first (each ≥ 1).</param>
    /// <param name="data">The elements in C order; its length must be the product of <paramref name="shape"/>.</param>
    /// <exception cref="ArgumentException">An empty shape, a non-positive extent, or a length that does not match.</exception>
    public static void WriteUnsignedBytes(string path, int[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (shape.Length is 0 or > 255)
            throw new ArgumentException($"IDX needs 1 to 255 dimensions; got {shape.Length}.", nameof(shape));
        if (shape.Any(e => e < 1))
            throw new ArgumentException($"every extent must be ≥ 1; got [{string.Join(",", shape)}].", nameof(shape));
        var count = shape.Aggregate(1L, (a, e) => a * e);
        if (count != data.Length)
            throw new ArgumentException($"shape [{string.Join(",", shape)}] holds {count} elements but data has {data.Length}.", nameof(data));
        IO.AtomicFile.Write(path, stream =>
        {
            stream.Write([0, 0, (byte)IdxDataType.UnsignedByte, (byte)shape.Length]);
            Span<byte> extent = stackalloc byte[4];
            foreach (var e in shape)
            {
                BinaryPrimitives.WriteInt32BigEndian(extent, e);
                stream.Write(extent);
            }
            stream.Write(data);
        });
    }

    internal static int ElementSize(IdxDataType type) => type switch
    {
        IdxDataType.UnsignedByte or IdxDataType.SignedByte => 1,
        IdxDataType.Int16 => 2,
        IdxDataType.Int32 or IdxDataType.Single => 4,
        _ => 8,
    };

    private static InvalidDataException Fault(string message)
    {
        var e = new InvalidDataException(message);
        e.Data[ParseFault] = true;
        return e;
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes or returns how many there were.</summary>
    private static int ReadUpTo(Stream stream, Span<byte> buffer) => stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);

    /// <summary>
    /// Parses an IDX stream. <paramref name="length"/> is the stream's length when known (a plain file): the header's
    /// size is then checked against it before the data array is allocated. Without it (gzip), at most the claimed size
    /// plus one byte is read, so the expansion is bounded by the header whatever the stream holds.
    /// </summary>
    private static IdxArray Parse(Stream stream, string path, long? length)
    {
        Span<byte> head = stackalloc byte[4];
        var got = ReadUpTo(stream, head);
        if (got < 4)
            throw Fault($"{path}: {got} bytes is too short for an IDX header (needs at least 4).");
        if (head[0] != 0 || head[1] != 0)
            throw Fault($"{path}: bad IDX magic number {head[0]:X2} {head[1]:X2} {head[2]:X2} {head[3]:X2}; it must start with 00 00.");
        var type = (IdxDataType)head[2];
        if (!Enum.IsDefined(type))
            throw Fault($"{path}: unknown IDX element type 0x{head[2]:X2} (expected 08, 09, 0B, 0C, 0D or 0E).");
        int rank = head[3];
        if (rank == 0)
            throw Fault($"{path}: the IDX header declares 0 dimensions.");
        var headerLength = 4 + 4 * rank;
        var extents = new byte[4 * rank];
        got = ReadUpTo(stream, extents);
        if (got < extents.Length)
            throw Fault($"{path}: truncated header: {rank} dimensions need {headerLength} header bytes, the file has {4 + got}.");
        var shape = new int[rank];
        var bytes = (long)ElementSize(type);
        for (var k = 0; k < rank; k++)
        {
            shape[k] = BinaryPrimitives.ReadInt32BigEndian(extents.AsSpan(4 * k));
            if (shape[k] < 1)
                throw Fault($"{path}: dimension {k} has extent {shape[k]}; it must be ≥ 1.");
            // Checked: the product is compared with the limit after every factor, so it cannot wrap.
            bytes = checked(bytes * shape[k]);
            if (bytes > MaxDataBytes)
                throw Fault($"{path}: shape [{string.Join(",", shape.Take(k + 1))}{(k + 1 < rank ? ",…" : "")}] of {type} needs more than {MaxDataBytes} data bytes, the most an IDX file may hold here.");
        }
        var expected = headerLength + bytes;
        if (length is { } total)
        {
            if (total < expected)
                throw Fault($"{path}: truncated: shape [{string.Join(",", shape)}] of {type} needs {expected} bytes, the file has {total}.");
            if (total > expected)
                throw Fault($"{path}: {total - expected} trailing bytes after the {expected} bytes that shape [{string.Join(",", shape)}] of {type} needs.");
        }
        // A plain file's size was checked above, so its array is allocated at once; a gzip stream is read into a
        // growing buffer, so a header that claims gigabytes over a short stream fails at the stream's end having used
        // about twice what the stream held.
        long read;
        byte[] data;
        if (length is null)
            data = ReadBounded(stream, (int)bytes, out read);
        else
        {
            data = new byte[bytes];
            read = ReadUpTo(stream, data);
        }
        if (read < bytes)
            throw Fault($"{path}: truncated: shape [{string.Join(",", shape)}] of {type} needs {expected} bytes, the {(length is null ? "decompressed stream" : "file")} has {headerLength + read}.");
        Span<byte> extra = stackalloc byte[1];
        if (ReadUpTo(stream, extra) > 0)
            throw Fault($"{path}: trailing bytes after the {expected} bytes that shape [{string.Join(",", shape)}] of {type} needs{(length is null ? " (the decompressed stream is longer than the header says)" : "")}.");
        return new IdxArray(type, shape, data);
    }

    /// <summary>
    /// Reads up to <paramref name="count"/> bytes into a buffer that starts at 1 MiB and doubles as data arrives
    /// (capped at <paramref name="count"/>), so that memory follows what the stream really holds rather than what a
    /// header claims: a header claiming a gigabyte over a short stream costs about twice the stream's length.
    /// </summary>
    private static byte[] ReadBounded(Stream stream, int count, out long read)
    {
        var buffer = new byte[Math.Min(count, 1 << 20)];
        var filled = 0;
        while (filled < count)
        {
            if (filled == buffer.Length)
                Array.Resize(ref buffer, (int)Math.Min(count, 2L * buffer.Length));
            var n = stream.Read(buffer, filled, buffer.Length - filled);
            if (n == 0)
                break;
            filled += n;
        }
        read = filled;
        return buffer;
    }
}
