using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.IO;

/// <summary>
/// An n-dimensional array read from or written to a NumPy <c>.npy</c> file: its shape and its values in C (row-major)
/// order, held as <c>float[]</c> (dtype <c>&lt;f4</c>) or <c>double[]</c> (dtype <c>&lt;f8</c>).
/// </summary>
/// <remarks>
/// Exactly one of <see cref="Singles"/> and <see cref="Doubles"/> is non-null. Integer and boolean files
/// (<c>&lt;i8</c>, <c>&lt;i4</c>, <c>|b1</c>, <c>|u1</c>) are read as <c>double[]</c>; <see cref="SourceDType"/> keeps
/// the dtype the file had.
/// </remarks>
public sealed class NpyArray
{
    private readonly long[] _shape;

    /// <summary>Wraps float64 values (dtype <c>&lt;f8</c>) in C order.</summary>
    /// <param name="data">The values, length = product of <paramref name="shape"/>. Not copied.</param>
    /// <param name="shape">The shape; empty for a 0-d array (one value). Every extent ≥ 0.</param>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">A negative extent, or a shape whose size differs from the data length.</exception>
    public NpyArray(double[] data, long[] shape)
        : this(shape, data?.LongLength ?? throw new ArgumentNullException(nameof(data)), "<f8")
    {
        Doubles = data;
    }

    /// <summary>Wraps float32 values (dtype <c>&lt;f4</c>) in C order.</summary>
    /// <param name="data">The values, length = product of <paramref name="shape"/>. Not copied.</param>
    /// <param name="shape">The shape; empty for a 0-d array (one value). Every extent ≥ 0.</param>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="ArgumentException">A negative extent, or a shape whose size differs from the data length.</exception>
    public NpyArray(float[] data, long[] shape)
        : this(shape, data?.LongLength ?? throw new ArgumentNullException(nameof(data)), "<f4")
    {
        Singles = data;
    }

    private NpyArray(long[] shape, long length, string sourceDType)
    {
        ArgumentNullException.ThrowIfNull(shape);
        var count = Npy.ElementCount(shape, nameof(shape));
        if (count != length)
            throw new ArgumentException(
                $"shape {Npy.FormatShape(shape)} has {count} elements but data has {length}; they must match.", nameof(shape));
        _shape = (long[])shape.Clone();
        SourceDType = sourceDType;
    }

    internal NpyArray(double[] data, long[] shape, string sourceDType) : this(shape, data.LongLength, sourceDType)
    {
        Doubles = data;
    }

    internal NpyArray(float[] data, long[] shape, string sourceDType) : this(shape, data.LongLength, sourceDType)
    {
        Singles = data;
    }

    /// <summary>The shape (a copy); empty for a 0-d array.</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>The number of dimensions (0 for a 0-d array).</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of values: the product of the shape (1 for a 0-d array).</summary>
    public long Count => Singles?.LongLength ?? Doubles!.LongLength;

    /// <summary>The dtype of the values held: <c>&lt;f4</c> (float32) or <c>&lt;f8</c> (float64).</summary>
    public string DType => Singles is null ? "<f8" : "<f4";

    /// <summary>The dtype of the file this array was read from (e.g. <c>&lt;i8</c>); equals <see cref="DType"/> for arrays made in memory.</summary>
    public string SourceDType { get; }

    /// <summary>The float32 values in C order, or null when the array holds float64 values.</summary>
    public float[]? Singles { get; }

    /// <summary>The float64 values in C order, or null when the array holds float32 values.</summary>
    public double[]? Doubles { get; }

    /// <summary>The values as float64 (a copy for float32 arrays, the same array otherwise).</summary>
    /// <returns>The values in C order.</returns>
    public double[] ToDoubleArray() => Doubles ?? Array.ConvertAll(Singles!, v => (double)v);

    /// <summary>The values as float32 (rounded to nearest for float64 arrays; the same array for float32 arrays).</summary>
    /// <returns>The values in C order.</returns>
    public float[] ToSingleArray() => Singles ?? Array.ConvertAll(Doubles!, v => (float)v);
}

/// <summary>
/// Reads and writes NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0), the interchange format for
/// embeddings [N, d], distributions [N, T, d], masks [N, T] and distance matrices.
/// </summary>
/// <remarks>
/// <para>Layout (NumPy Enhancement Proposal 1, "A simple file format for NumPy arrays", and
/// <c>numpy.lib.format</c>): the magic <c>\x93NUMPY</c>, a major and minor version byte, the header length
/// (little-endian uint16 in 1.0, uint32 in 2.0 and 3.0), an ASCII (1.0, 2.0) or UTF-8 (3.0) Python dict literal
/// <c>{'descr': '&lt;f8', 'fortran_order': False, 'shape': (2, 3), }</c> padded with spaces and a newline, then the
/// raw values.</para>
/// <para>Supported: C order only (Fortran order is rejected); read dtypes <c>&lt;f4</c>, <c>&lt;f8</c>, their
/// big-endian forms <c>&gt;f4</c>, <c>&gt;f8</c> (byte-swapped on reading), <c>&lt;i8</c>, <c>&lt;i4</c>,
/// <c>|b1</c>, <c>|u1</c> (integers and booleans become float64; int64 values beyond ±2^53 are rejected because
/// float64 cannot hold them exactly); written dtypes <c>&lt;f4</c> and <c>&lt;f8</c>, as version 1.0 (2.0 when the
/// header needs more than 65,535 bytes), header padded so that the data starts at a multiple of 64 bytes.
/// Writes are atomic: a temporary file in the target folder is renamed over the target.</para>
/// <para><see cref="ReadTensor"/> reads float files straight into the storage of a new CPU tensor (no managed array
/// in between); integer and boolean files go through <see cref="Read"/>.</para>
/// </remarks>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private const string SupportedList = "<f4 (float32), <f8 (float64), >f4 and >f8 (big-endian floats), <i8 (int64), <i4 (int32), |b1 (bool), |u1 (uint8)";

    /// <summary>The dtypes <see cref="Read"/> accepts, as NumPy writes them.</summary>
    public static IReadOnlyList<string> SupportedDTypes { get; } = ["<f4", "<f8", ">f4", ">f8", "<i8", "<i4", "|b1", "|u1"];

    /// <summary>Reads a <c>.npy</c> file.</summary>
    /// <param name="path">The file to read.</param>
    /// <returns>The array: float32 files as <see cref="NpyArray.Singles"/>, every other supported dtype as <see cref="NpyArray.Doubles"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="path"/> is null or empty.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Not a .npy file, an unsupported version, dtype (big-endian integers included) or Fortran order, a malformed header, or a data section whose size does not match the shape; the message names the file and says what was found.</exception>
    public static NpyArray Read(string path)
    {
        CheckPath(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file.", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var header = ReadHeader(stream, path);
        var count = header.Count;
        if (count > Array.MaxLength)
            throw new InvalidDataException($"{path}: shape {FormatShape(header.Shape)} has {count} values, more than the largest .NET array holds ({Array.MaxLength}).");
        CheckDataSize(stream, header, path);
        switch (header.DType)
        {
            case "<f4" or ">f4":
                {
                    var data = new float[count];
                    stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
                    ToNativeOrder(MemoryMarshal.AsBytes(data.AsSpan()), header.DType);
                    return new NpyArray(data, header.Shape, header.DType);
                }
            case "<f8" or ">f8":
                {
                    var data = new double[count];
                    stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
                    ToNativeOrder(MemoryMarshal.AsBytes(data.AsSpan()), header.DType);
                    return new NpyArray(data, header.Shape, header.DType);
                }
            default:
                return new NpyArray(ReadConverted(stream, header.DType, count, path), header.Shape, header.DType);
        }
    }

    /// <summary>Writes float64 values as a <c>&lt;f8</c> .npy file, atomically.</summary>
    /// <param name="path">The target file (replaced if it exists; its folder must exist).</param>
    /// <param name="data">The values in C order, length = product of <paramref name="shape"/>.</param>
    /// <param name="shape">The shape; empty for a 0-d array.</param>
    /// <exception cref="ArgumentException">An empty path, a negative extent, or a shape whose size differs from the data length.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void Write(string path, double[] data, long[] shape) => Write(path, new NpyArray(data, shape));

    /// <summary>Writes float32 values as a <c>&lt;f4</c> .npy file, atomically.</summary>
    /// <param name="path">The target file (replaced if it exists; its folder must exist).</param>
    /// <param name="data">The values in C order, length = product of <paramref name="shape"/>.</param>
    /// <param name="shape">The shape; empty for a 0-d array.</param>
    /// <exception cref="ArgumentException">An empty path, a negative extent, or a shape whose size differs from the data length.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void Write(string path, float[] data, long[] shape) => Write(path, new NpyArray(data, shape));

    /// <summary>Writes int64 values as a .npy file of dtype <c>&lt;i8</c> (C order), atomically (ids, neighbour lists).</summary>
    /// <param name="path">The target file (replaced if it exists; its folder must exist).</param>
    /// <param name="data">The values, row-major.</param>
    /// <param name="shape">The shape; its product must equal the number of values.</param>
    /// <exception cref="ArgumentException">An empty path, or a shape whose product is not <paramref name="data"/>'s length (names shape).</exception>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="shape"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void Write(string path, long[] data, long[] shape)
    {
        CheckPath(path);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        if (ElementCount(shape, nameof(shape)) != data.LongLength)
            throw new ArgumentException($"shape {FormatShape(shape)} holds {ElementCount(shape, nameof(shape))} values but data has {data.LongLength}.", nameof(shape));
        var header = HeaderBytes("<i8", shape);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            var bytes = new byte[8 * data.Length];
            for (var i = 0; i < data.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), data[i]);
            stream.Write(bytes);
        });
    }

    /// <summary>Writes an array as a .npy file of its <see cref="NpyArray.DType"/>, atomically.</summary>
    /// <param name="path">The target file (replaced if it exists; its folder must exist).</param>
    /// <param name="array">The array.</param>
    /// <exception cref="ArgumentException">An empty path.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="array"/> is null.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void Write(string path, NpyArray array)
    {
        CheckPath(path);
        ArgumentNullException.ThrowIfNull(array);
        var header = HeaderBytes(array.DType, array.Shape);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            if (array.Singles is { } singles)
                WriteLittleEndian(stream, singles);
            else
                WriteLittleEndian(stream, array.Doubles!);
        });
    }

    /// <summary>Reads a .npy file into a tensor of the same shape.</summary>
    /// <param name="path">The file to read.</param>
    /// <param name="device">The target device; null means CPU.</param>
    /// <param name="dtype">float32 or float64; null keeps float32 files as float32 and reads every other dtype as float64.</param>
    /// <returns>A tensor with the file's shape (0-d for a 0-d file).</returns>
    /// <exception cref="ArgumentException"><paramref name="dtype"/> is not float32/float64, or the path is empty.</exception>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">See <see cref="Read"/>.</exception>
    public static torch.Tensor ReadTensor(string path, torch.Device? device = null, torch.ScalarType? dtype = null)
    {
        if (dtype is { } requested && requested != torch.ScalarType.Float32 && requested != torch.ScalarType.Float64)
            throw new ArgumentException($"dtype {requested} is not supported; use Float32 or Float64 (or null to keep the file's precision).", nameof(dtype));
        NativeRuntime.EnsureInitialized();
        CheckPath(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: no such file.", path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var header = ReadHeader(stream, path);
        if (header.DType is not ("<f4" or ">f4" or "<f8" or ">f8"))
        {
            // Integers and booleans are converted value by value (and checked) by Read.
            stream.Dispose();
            return FromArray(Read(path), device, dtype);
        }
        CheckDataSize(stream, header, path);
        var fileType = header.DType[1..] == "f4" ? torch.ScalarType.Float32 : torch.ScalarType.Float64;
        var target = dtype ?? fileType;
        using var scope = torch.NewDisposeScope();
        // Float files are read straight into the storage of a CPU tensor of the file's dtype: no managed array, no
        // second copy. Views of at most 2^30 bytes keep each span within what Span<byte> can address.
        var cpu = torch.empty(header.Shape, fileType, torch.CPU);
        if (header.Count > 0)
        {
            using var flat = cpu.view(-1);
            var itemSize = ItemSize(header.DType);
            var perChunk = (1L << 30) / itemSize;
            for (long start = 0; start < header.Count; start += perChunk)
            {
                using var chunk = flat.narrow(0, start, Math.Min(perChunk, header.Count - start));
                var bytes = chunk.bytes;
                stream.ReadExactly(bytes);
                ToNativeOrder(bytes, header.DType);
            }
        }
        var result = cpu.to_type(target).to(device ?? torch.CPU);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>The tensor of an array read by <see cref="Read"/> (the copying path, used for integer and boolean files).</summary>
    private static torch.Tensor FromArray(NpyArray array, torch.Device? device, torch.ScalarType? dtype)
    {
        var target = dtype ?? (array.Singles is null ? torch.ScalarType.Float64 : torch.ScalarType.Float32);
        using var scope = torch.NewDisposeScope();
        var cpu = array.Singles is { } singles
            ? torch.tensor(singles, array.Shape, torch.ScalarType.Float32)
            : torch.tensor(array.Doubles!, array.Shape, torch.ScalarType.Float64);
        var result = cpu.to_type(target).to(device ?? torch.CPU);
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Reads a .npy file through <see cref="Read"/> (a managed array) and then copies it into a tensor: the
    /// path <see cref="ReadTensor"/> took before it read float files straight into tensor storage. Kept for the tests
    /// that check both give identical tensors.</summary>
    internal static torch.Tensor ReadTensorViaArray(string path, torch.Device? device = null, torch.ScalarType? dtype = null)
    {
        NativeRuntime.EnsureInitialized();
        return FromArray(Read(path), device, dtype);
    }

    /// <summary>Puts the float32/float64 values of a data section read from a file of dtype <paramref name="dtype"/>
    /// into this machine's byte order (a no-op when the file's order is the machine's).</summary>
    private static void ToNativeOrder(Span<byte> bytes, string dtype)
    {
        var bigEndianFile = dtype[0] == '>';
        if (bigEndianFile == !BitConverter.IsLittleEndian) return;
        if (ItemSize(dtype) == 4)
        {
            var words = MemoryMarshal.Cast<byte, int>(bytes);
            BinaryPrimitives.ReverseEndianness(words, words);
        }
        else
        {
            var words = MemoryMarshal.Cast<byte, long>(bytes);
            BinaryPrimitives.ReverseEndianness(words, words);
        }
    }

    /// <summary>Writes a float32 or float64 tensor (any device, any layout) as a .npy file of its dtype, atomically.</summary>
    /// <param name="path">The target file (replaced if it exists; its folder must exist).</param>
    /// <param name="tensor">The tensor; copied to the CPU in C order.</param>
    /// <exception cref="ArgumentNullException"><paramref name="tensor"/> is null.</exception>
    /// <exception cref="ArgumentException">The tensor is not float32/float64, or the path is empty.</exception>
    /// <exception cref="DirectoryNotFoundException">The target folder does not exist.</exception>
    public static void WriteTensor(string path, torch.Tensor tensor)
    {
        CheckPath(path);
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.dtype != torch.ScalarType.Float32 && tensor.dtype != torch.ScalarType.Float64)
            throw new ArgumentException($"tensor has dtype {tensor.dtype}; only Float32 and Float64 tensors can be written as .npy.", nameof(tensor));
        using var scope = torch.NewDisposeScope();
        var cpu = tensor.detach().cpu().contiguous();
        var shape = cpu.shape;
        if (cpu.dtype == torch.ScalarType.Float32)
            Write(path, cpu.data<float>().ToArray(), shape);
        else
            Write(path, cpu.data<double>().ToArray(), shape);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Internals

    private sealed record Header(string DType, long[] Shape, long Count);

    /// <summary>InvalidDataException unless the bytes after the header are exactly the shape's values.</summary>
    private static void CheckDataSize(Stream stream, Header header, string path)
    {
        var itemSize = ItemSize(header.DType);
        var count = header.Count;
        var actual = stream.Length - stream.Position;
        if (count > long.MaxValue / itemSize || actual != count * itemSize)
        {
            var expected = count > long.MaxValue / itemSize ? "more than 2^63" : (count * itemSize).ToString(CultureInfo.InvariantCulture);
            throw new InvalidDataException(
                $"{path}: the data section has {actual} bytes but shape {FormatShape(header.Shape)} of dtype '{header.DType}' needs {expected} bytes ({count} values of {itemSize} bytes){(actual < count * itemSize || count > long.MaxValue / itemSize ? "; the file is truncated" : "")}.");
        }
    }

    private static void CheckPath(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException("path is null or empty; give the .npy file's path.", nameof(path));
    }

    /// <summary>The product of the extents, or the reason there is none (a negative extent, an overflow).</summary>
    private static long TryElementCount(long[] shape, out string? error)
    {
        long count = 1;
        for (var i = 0; i < shape.Length; i++)
        {
            if (shape[i] < 0)
            {
                error = $"shape[{i}] = {shape[i]} is negative; extents must be ≥ 0.";
                return -1;
            }
            if (shape[i] != 0 && count > long.MaxValue / shape[i])
            {
                error = $"shape {FormatShape(shape)} has more elements than a 64-bit count can hold.";
                return -1;
            }
            count *= shape[i];
        }
        error = null;
        return count;
    }

    /// <summary>The product of the extents; ArgumentException naming paramName for a negative extent or an overflow.</summary>
    internal static long ElementCount(long[] shape, string paramName)
    {
        var count = TryElementCount(shape, out var error);
        return error is null ? count : throw new ArgumentException(error, paramName);
    }

    /// <summary>A shape as Python writes a tuple: <c>()</c>, <c>(5,)</c>, <c>(2, 3)</c>.</summary>
    internal static string FormatShape(long[] shape) => shape.Length switch
    {
        0 => "()",
        1 => $"({shape[0].ToString(CultureInfo.InvariantCulture)},)",
        _ => "(" + string.Join(", ", shape.Select(s => s.ToString(CultureInfo.InvariantCulture))) + ")",
    };

    private static int ItemSize(string dtype) => dtype switch
    {
        "<f8" or ">f8" or "<i8" => 8,
        "<f4" or ">f4" or "<i4" => 4,
        _ => 1,
    };

    private static Header ReadHeader(Stream stream, string path)
    {
        Span<byte> prefix = stackalloc byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8 || !prefix[..6].SequenceEqual(Magic))
            throw new InvalidDataException($"{path}: not a NumPy .npy file (it does not start with the magic bytes \\x93NUMPY).");
        int major = prefix[6], minor = prefix[7];
        if (major is < 1 or > 3 || minor != 0)
            throw new InvalidDataException($"{path}: .npy format version {major}.{minor} is not supported; versions 1.0, 2.0 and 3.0 are.");
        Span<byte> lengthBytes = stackalloc byte[4];
        var lengthSize = major == 1 ? 2 : 4;
        if (stream.ReadAtLeast(lengthBytes[..lengthSize], lengthSize, throwOnEndOfStream: false) < lengthSize)
            throw new InvalidDataException($"{path}: the file ends inside the .npy header length.");
        long headerLength = major == 1
            ? BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes)
            : BinaryPrimitives.ReadUInt32LittleEndian(lengthBytes);
        var available = stream.Length - stream.Position;
        if (headerLength > available)
            throw new InvalidDataException($"{path}: the header claims {headerLength} bytes but only {available} follow; the file is truncated.");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var text = major == 3 ? Encoding.UTF8.GetString(headerBytes) : Encoding.Latin1.GetString(headerBytes);
        return ParseHeader(text, path);
    }

    /// <summary>A header as an error message shows it: one line (control characters as '?'), at most 200
    /// characters, so that a corrupt header cannot spread binary or line breaks over the terminal.</summary>
    internal static string Shown(string header)
    {
        var trimmed = header.Trim();
        var shown = new StringBuilder(Math.Min(trimmed.Length, 201));
        foreach (var c in trimmed.Length > 200 ? trimmed[..200] : trimmed)
            shown.Append(char.IsControl(c) || char.IsSurrogate(c) ? '?' : c);
        if (trimmed.Length > 200)
            shown.Append('…');
        return shown.ToString();
    }

    private static Header ParseHeader(string text, string path)
    {
        var parser = new HeaderParser(text, path);
        var entries = parser.ParseDict();
        string Require(string key) =>
            entries.TryGetValue(key, out var v)
                ? v
                : throw new InvalidDataException($"{path}: the .npy header has no '{key}' entry: {Shown(text)}");
        var descr = Require("descr");
        var fortran = Require("fortran_order");
        var shapeText = Require("shape");
        if (fortran == "True")
            throw new InvalidDataException($"{path}: the array is stored in Fortran (column-major) order, which is not supported; save it in C order (numpy.ascontiguousarray) and try again.");
        if (fortran != "False")
            throw new InvalidDataException($"{path}: fortran_order is {Shown(fortran)}; expected True or False.");
        if (descr.StartsWith('['))
            throw new InvalidDataException($"{path}: structured dtype {Shown(descr)} is not supported; supported dtypes: {SupportedList}.");
        if (descr.Length > 0 && descr[0] == '>' && descr != ">u1" && descr != ">b1" && descr != ">f4" && descr != ">f8")
            throw new InvalidDataException($"{path}: dtype '{Shown(descr)}' is big-endian, which is not supported; convert with arr.astype(arr.dtype.newbyteorder('<')).");
        var dtype = descr switch
        {
            "<u1" or ">u1" or "=u1" => "|u1",
            "<b1" or ">b1" or "=b1" => "|b1",
            _ => descr,
        };
        if (!SupportedDTypes.Contains(dtype))
            throw new InvalidDataException($"{path}: dtype '{Shown(descr)}' is not supported; supported dtypes: {SupportedList}.");
        var shape = HeaderParser.ParseShape(shapeText, path, text);
        var count = TryElementCount(shape, out var error);
        if (error is not null)
            throw new InvalidDataException($"{path}: {error}");
        return new Header(dtype, shape, count);
    }

    /// <summary>A parser for the dict literal NumPy writes: string keys; string, True/False, tuple or list values.</summary>
    private sealed class HeaderParser(string text, string path)
    {
        private int _at;

        private InvalidDataException Malformed(string what) =>
            new($"{path}: malformed .npy header ({what} at character {_at}): {Shown(text)}");

        private void SkipSpace()
        {
            while (_at < text.Length && char.IsWhiteSpace(text[_at])) _at++;
        }

        private void Expect(char c)
        {
            SkipSpace();
            if (_at >= text.Length || text[_at] != c) throw Malformed($"expected '{c}'");
            _at++;
        }

        private string ParseString()
        {
            SkipSpace();
            if (_at >= text.Length || (text[_at] != '\'' && text[_at] != '"')) throw Malformed("expected a quoted string");
            var quote = text[_at++];
            var end = text.IndexOf(quote, _at);
            if (end < 0) throw Malformed("unterminated string");
            var s = text[_at..end];
            _at = end + 1;
            return s;
        }

        /// <summary>Returns the raw text of a bracketed value ( (…) or […] ), brackets included.</summary>
        private string ParseBracketed()
        {
            var start = _at;
            var depth = 0;
            for (; _at < text.Length; _at++)
            {
                var c = text[_at];
                if (c is '(' or '[') depth++;
                else if (c is ')' or ']')
                {
                    depth--;
                    if (depth == 0) { _at++; return text[start.._at]; }
                }
                else if (c is '\'' or '"')
                {
                    var end = text.IndexOf(c, _at + 1);
                    if (end < 0) throw Malformed("unterminated string");
                    _at = end;
                }
            }
            throw Malformed("unbalanced brackets");
        }

        private string ParseValue()
        {
            SkipSpace();
            if (_at >= text.Length) throw Malformed("missing value");
            var c = text[_at];
            if (c is '\'' or '"') return ParseString();
            if (c is '(' or '[') return ParseBracketed();
            var start = _at;
            while (_at < text.Length && (char.IsLetterOrDigit(text[_at]) || text[_at] == '_')) _at++;
            if (_at == start) throw Malformed($"unexpected '{c}'");
            return text[start.._at];
        }

        public Dictionary<string, string> ParseDict()
        {
            var entries = new Dictionary<string, string>(StringComparer.Ordinal);
            Expect('{');
            while (true)
            {
                SkipSpace();
                if (_at < text.Length && text[_at] == '}') { _at++; break; }
                var key = ParseString();
                Expect(':');
                entries[key] = ParseValue();
                SkipSpace();
                if (_at < text.Length && text[_at] == ',') { _at++; continue; }
                Expect('}');
                break;
            }
            SkipSpace();
            if (_at != text.Length) throw Malformed("text after the closing brace");
            return entries;
        }

        public static long[] ParseShape(string shape, string path, string header)
        {
            var s = shape.Trim();
            if (s.Length < 2 || s[0] != '(' || s[^1] != ')')
                throw new InvalidDataException($"{path}: malformed .npy header (shape {Shown(shape)} is not a tuple): {Shown(header)}");
            var inner = s[1..^1].Trim();
            if (inner.Length == 0) return [];
            var parts = inner.Split(',');
            // A one-element tuple is written "(5,)": a trailing empty part is allowed, no other empty part is.
            var count = parts[^1].Trim().Length == 0 ? parts.Length - 1 : parts.Length;
            var result = new long[count];
            for (var i = 0; i < count; i++)
            {
                var p = parts[i].Trim().TrimEnd('L');
                if (!long.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out result[i]))
                    throw new InvalidDataException($"{path}: malformed .npy header (shape entry '{Shown(parts[i])}' is not a non-negative integer): {Shown(header)}");
            }
            return result;
        }
    }

    private static double[] ReadConverted(Stream stream, string dtype, long count, string path)
    {
        var itemSize = ItemSize(dtype);
        var result = new double[count];
        var buffer = new byte[Math.Max(itemSize, (1 << 16) / itemSize * itemSize)];
        long done = 0;
        while (done < count)
        {
            var n = (int)Math.Min(count - done, buffer.Length / itemSize);
            stream.ReadExactly(buffer.AsSpan(0, n * itemSize));
            for (var i = 0; i < n; i++)
            {
                var bytes = buffer.AsSpan(i * itemSize, itemSize);
                double v;
                switch (dtype)
                {
                    case "<i8":
                        var l = BinaryPrimitives.ReadInt64LittleEndian(bytes);
                        if (l > (1L << 53) || l < -(1L << 53))
                            throw new InvalidDataException($"{path}: value {l} at index {done + i} does not fit exactly in a float64 (|v| ≤ 2^53 is required).");
                        v = l;
                        break;
                    case "<i4":
                        v = BinaryPrimitives.ReadInt32LittleEndian(bytes);
                        break;
                    case "|b1":
                        v = bytes[0] != 0 ? 1.0 : 0.0;
                        break;
                    default:
                        v = bytes[0];
                        break;
                }
                result[done + i] = v;
            }
            done += n;
        }
        return result;
    }

    /// <summary>The dict padded with spaces and ended by '\n' so that prefix + header is a multiple of 64 bytes.</summary>
    private static string PaddedHeader(string dict, int prefix)
    {
        var unpadded = prefix + dict.Length + 1;
        return dict + new string(' ', (unpadded + 63) / 64 * 64 - unpadded) + "\n";
    }

    internal static byte[] HeaderBytes(string dtype, long[] shape)
    {
        var dict = $"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {FormatShape(shape)}, }}";
        // Version 1.0 stores the header length in 2 bytes; longer headers (rank in the thousands) need 2.0.
        var (version, prefix) = (1, 10);
        var text = PaddedHeader(dict, prefix);
        if (text.Length > ushort.MaxValue)
        {
            (version, prefix) = (2, 12);
            text = PaddedHeader(dict, prefix);
        }
        var bytes = new byte[prefix + text.Length];
        Magic.CopyTo(bytes, 0);
        bytes[6] = (byte)version;
        bytes[7] = 0;
        if (version == 1)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)text.Length);
        else
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)text.Length);
        Encoding.ASCII.GetBytes(text, bytes.AsSpan(prefix));
        return bytes;
    }

    private static void WriteLittleEndian(Stream stream, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        Span<byte> item = stackalloc byte[4];
        foreach (var v in data)
        {
            BinaryPrimitives.WriteSingleLittleEndian(item, v);
            stream.Write(item);
        }
    }

    private static void WriteLittleEndian(Stream stream, double[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        Span<byte> item = stackalloc byte[8];
        foreach (var v in data)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(item, v);
            stream.Write(item);
        }
    }
}
