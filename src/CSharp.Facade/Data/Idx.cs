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
    /// <summary>Reads an IDX file.</summary>
    /// <param name="path">A plain or gzip-compressed IDX file.</param>
    /// <returns>The array.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">A bad magic number, an unknown element type, a zero or negative extent,
    /// a truncated file, trailing bytes, or a corrupt gzip stream; the message names the file and what is wrong.</exception>
    public static IdxArray Read(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("The path is empty.", nameof(path));
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such IDX file.", path);
        byte[] bytes;
        try
        {
            bytes = Decompress(File.ReadAllBytes(path));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: corrupt gzip stream ({e.Message}).", e);
        }
        return Parse(bytes, path);
    }

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

    private static byte[] Decompress(byte[] bytes)
    {
        if (bytes.Length < 2 || bytes[0] != 0x1F || bytes[1] != 0x8B)
            return bytes;
        using var input = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    private static IdxArray Parse(byte[] bytes, string path)
    {
        if (bytes.Length < 4)
            throw new InvalidDataException($"{path}: {bytes.Length} bytes is too short for an IDX header (needs at least 4).");
        if (bytes[0] != 0 || bytes[1] != 0)
            throw new InvalidDataException($"{path}: bad IDX magic number {bytes[0]:X2} {bytes[1]:X2} {bytes[2]:X2} {bytes[3]:X2}; it must start with 00 00.");
        var type = (IdxDataType)bytes[2];
        if (!Enum.IsDefined(type))
            throw new InvalidDataException($"{path}: unknown IDX element type 0x{bytes[2]:X2} (expected 08, 09, 0B, 0C, 0D or 0E).");
        int rank = bytes[3];
        if (rank == 0)
            throw new InvalidDataException($"{path}: the IDX header declares 0 dimensions.");
        var headerLength = 4 + 4 * rank;
        if (bytes.Length < headerLength)
            throw new InvalidDataException($"{path}: truncated header: {rank} dimensions need {headerLength} header bytes, the file has {bytes.Length}.");
        var shape = new int[rank];
        var count = 1L;
        for (var k = 0; k < rank; k++)
        {
            shape[k] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * k));
            if (shape[k] < 1)
                throw new InvalidDataException($"{path}: dimension {k} has extent {shape[k]}; it must be ≥ 1.");
            count *= shape[k];
        }
        var expected = headerLength + count * ElementSize(type);
        if (bytes.Length < expected)
            throw new InvalidDataException($"{path}: truncated: shape [{string.Join(",", shape)}] of {type} needs {expected} bytes, the file has {bytes.Length}.");
        if (bytes.Length > expected)
            throw new InvalidDataException($"{path}: {bytes.Length - expected} trailing bytes after the {expected} bytes that shape [{string.Join(",", shape)}] of {type} needs.");
        return new IdxArray(type, shape, bytes.AsSpan(headerLength).ToArray());
    }
}
