using System.Buffers.Binary;
using System.Text;
using DistEmbed.IO;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The .npy reader/writer: round trips, files written by NumPy (fixtures from scripts/golden/make_npy_fixtures.py),
/// and every error path (type and message).
/// </summary>
public sealed class NpyTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("npy-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "npy", name);

    private string Temp(string name) => Path.Combine(_folder, name);

    public static TheoryData<long[]> Shapes => new() { Array.Empty<long>(), new long[] { 3 }, new long[] { 2, 3 }, new long[] { 2, 3, 4 } };

    private static long Size(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>Values with awkward bit patterns: signed zero, subnormal, extremes, infinities, NaN.</summary>
    private static double Awkward(long i) => (i % 8) switch
    {
        0 => -0.0,
        1 => double.Epsilon,
        2 => double.MaxValue,
        3 => double.NegativeInfinity,
        4 => double.NaN,
        _ => i * 1.25 - 2.0 + 1e-9 * i,
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float64RoundTripIsBitExact(long[] shape)
    {
        var data = Enumerable.Range(0, (int)Size(shape)).Select(i => Awkward(i)).ToArray();
        var path = Temp("f8.npy");
        Npy.Write(path, data, shape);
        var read = Npy.Read(path);
        Assert.Equal(shape, read.Shape);
        Assert.Equal(shape.Length, read.Rank);
        Assert.Equal("<f8", read.DType);
        Assert.Equal("<f8", read.SourceDType);
        Assert.Null(read.Singles);
        Assert.Equal(data.Select(BitConverter.DoubleToInt64Bits), read.Doubles!.Select(BitConverter.DoubleToInt64Bits));
        // NumPy's layout: the data starts at a multiple of 64 bytes, after a header ended by '\n'.
        var bytes = File.ReadAllBytes(path);
        var headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        Assert.Equal(0, (10 + headerLength) % 64);
        Assert.Equal((byte)'\n', bytes[10 + headerLength - 1]);
        Assert.Equal(10 + headerLength + 8 * Size(shape), bytes.LongLength);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float32RoundTripIsBitExact(long[] shape)
    {
        var data = Enumerable.Range(0, (int)Size(shape)).Select(i => (float)Awkward(i)).ToArray();
        var path = Temp("f4.npy");
        Npy.Write(path, data, shape);
        var read = Npy.Read(path);
        Assert.Equal(shape, read.Shape);
        Assert.Equal("<f4", read.DType);
        Assert.Null(read.Doubles);
        Assert.Equal(data.Select(BitConverter.SingleToInt32Bits), read.Singles!.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(data.Select(v => (double)v), read.ToDoubleArray());
    }

    private static string HeaderText(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return Encoding.ASCII.GetString(bytes, 10, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)));
    }

    [Fact]
    public void HeaderMatchesWhatNumPyWrites()
    {
        var path = Temp("h.npy");
        Npy.Write(path, new double[6], [2, 3]);
        Assert.Equal("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", HeaderText(path).TrimEnd());
        Npy.Write(path, new float[5], [5]);
        Assert.Equal("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", HeaderText(path).TrimEnd());
        Npy.Write(path, new double[1], []);
        Assert.Equal("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", HeaderText(path).TrimEnd());
        // Byte for byte what NumPy 1.24 wrote for the same array.
        Npy.Write(path, Enumerable.Range(0, 24).Select(i => i * 0.5 - 3.0).ToArray(), [2, 3, 4]);
        Assert.Equal(File.ReadAllBytes(Fixture("f8_2x3x4.npy")), File.ReadAllBytes(path));
    }

    [Theory]
    [InlineData(torch.ScalarType.Float32)]
    [InlineData(torch.ScalarType.Float64)]
    public void TensorRoundTripKeepsShapeValuesAndDType(torch.ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var original = torch.arange(24, dtype: dtype).reshape(2, 3, 4);
        var strided = original.transpose(0, 2);
        var path = Temp("t.npy");
        Npy.WriteTensor(path, strided);
        var read = Npy.ReadTensor(path);
        Assert.Equal(dtype, read.dtype);
        Assert.Equal(new long[] { 4, 3, 2 }, read.shape);
        Assert.Equal(strided.contiguous().to_type(torch.ScalarType.Float64).data<double>().ToArray(),
            read.to_type(torch.ScalarType.Float64).data<double>().ToArray());
        var scalar = torch.arange(1, dtype: dtype).reshape(Array.Empty<long>());
        Npy.WriteTensor(path, scalar);
        var readScalar = Npy.ReadTensor(path);
        Assert.Empty(readScalar.shape);
        Assert.Equal(0.0, readScalar.to_type(torch.ScalarType.Float64).item<double>());
    }

    [Fact]
    public void ReadTensorConvertsToTheRequestedDType()
    {
        using var scope = torch.NewDisposeScope();
        var f4 = Npy.ReadTensor(Fixture("f4_2x3.npy"), torch.CPU, torch.ScalarType.Float64);
        Assert.Equal(torch.ScalarType.Float64, f4.dtype);
        Assert.Equal((double)(5f / 7f), f4[1, 2].item<double>());
        var labels = Npy.ReadTensor(Fixture("i8_labels.npy"));
        Assert.Equal(torch.ScalarType.Float64, labels.dtype);
        Assert.Equal(new[] { 0.0, 3.0, -7.0, 9007199254740992.0 }, labels.data<double>().ToArray());
        var mask = Npy.ReadTensor(Fixture("b1_mask.npy"), dtype: torch.ScalarType.Float32);
        Assert.Equal(torch.ScalarType.Float32, mask.dtype);
        Assert.Equal(new long[] { 2, 3 }, mask.shape);
    }

    [Fact]
    public void ReadsFloatFilesWrittenByNumPy()
    {
        var f8 = Npy.Read(Fixture("f8_2x3x4.npy"));
        Assert.Equal(new long[] { 2, 3, 4 }, f8.Shape);
        Assert.Equal(Enumerable.Range(0, 24).Select(i => i * 0.5 - 3.0), f8.Doubles!);
        var f4 = Npy.Read(Fixture("f4_2x3.npy"));
        Assert.Equal(new long[] { 2, 3 }, f4.Shape);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => i / 7f), f4.Singles!);
        var scalar = Npy.Read(Fixture("f8_scalar.npy"));
        Assert.Empty(scalar.Shape);
        Assert.Equal(new[] { 2.5 }, scalar.Doubles!);
        var vector = Npy.Read(Fixture("f4_vector.npy"));
        Assert.Equal(new long[] { 5 }, vector.Shape);
        Assert.Equal(new[] { 1.5f, -2.25f, 3.0f, 0.0f, 1e-3f }, vector.Singles!);
        var empty = Npy.Read(Fixture("f8_empty.npy"));
        Assert.Equal(new long[] { 0, 3 }, empty.Shape);
        Assert.Equal(0, empty.Count);
        Assert.Equal(new[] { 0.0, 1.0, 2.0, 3.0 }, Npy.Read(Fixture("f8_v2.npy")).Doubles!);
        Assert.Equal(new[] { 0.0, 1.0, 2.0 }, Npy.Read(Fixture("f8_v3.npy")).Doubles!);
    }

    [Fact]
    public void ReadsIntegerAndBooleanFilesAsFloat64()
    {
        var labels = Npy.Read(Fixture("i8_labels.npy"));
        Assert.Equal("<i8", labels.SourceDType);
        Assert.Equal("<f8", labels.DType);
        Assert.Equal(new[] { 0.0, 3.0, -7.0, 9007199254740992.0 }, labels.Doubles!);
        var i4 = Npy.Read(Fixture("i4_2x2.npy"));
        Assert.Equal("<i4", i4.SourceDType);
        Assert.Equal(new long[] { 2, 2 }, i4.Shape);
        Assert.Equal(new[] { 1.0, -2.0, 3.0, 4.0 }, i4.Doubles!);
        var b1 = Npy.Read(Fixture("b1_mask.npy"));
        Assert.Equal("|b1", b1.SourceDType);
        Assert.Equal(new[] { 1.0, 0.0, 1.0, 0.0, 0.0, 1.0 }, b1.Doubles!);
        var u1 = Npy.Read(Fixture("u1_mask.npy"));
        Assert.Equal("|u1", u1.SourceDType);
        Assert.Equal(new[] { 0.0, 1.0, 255.0 }, u1.Doubles!);
        Assert.Equal(new[] { 0f, 1f, 255f }, u1.ToSingleArray());
    }

    [Fact]
    public void MissingFileIsFileNotFoundNamingThePath()
    {
        var path = Temp("absent.npy");
        var e = Assert.Throws<FileNotFoundException>(() => Npy.Read(path));
        Assert.Equal(path, e.FileName);
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData("not_npy.npy", "not a NumPy .npy file")]
    [InlineData("f8_fortran.npy", "Fortran (column-major) order, which is not supported")]
    [InlineData("c16_complex.npy", "dtype '<c16' is not supported; supported dtypes: <f4 (float32), <f8 (float64), >f4 and >f8 (big-endian floats), <i8 (int64), <i4 (int32), |b1 (bool), |u1 (uint8)")]
    [InlineData("structured.npy", "structured dtype [('a', '<f4'), ('b', '<i4')] is not supported")]
    [InlineData("i8_too_large.npy", "value 9007199254740993 at index 0 does not fit exactly in a float64")]
    [InlineData("f8_truncated.npy", "the data section has 72 bytes but shape (10,) of dtype '<f8' needs 80 bytes (10 values of 8 bytes); the file is truncated")]
    public void UnsupportedOrDamagedNumPyFilesAreInvalidData(string name, string message)
    {
        var path = Fixture(name);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(message, e.Message);
    }

    /// <summary>A hand-made .npy: magic, version, header length, header text, then the data bytes.</summary>
    private string Handmade(byte major, string header, int dataBytes, int? claimedLength = null)
    {
        var text = Encoding.ASCII.GetBytes(header);
        var lengthSize = major == 1 ? 2 : 4;
        var bytes = new byte[8 + lengthSize + text.Length + dataBytes];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = major;
        var length = claimedLength ?? text.Length;
        if (major == 1) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)length);
        else BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), (uint)length);
        text.CopyTo(bytes, 8 + lengthSize);
        var path = Temp("handmade.npy");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData(4, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n", 8, ".npy format version 4.0 is not supported")]
    [InlineData(1, "{'descr': '<f8', 'fortran_order': False}\n", 8, "the .npy header has no 'shape' entry")]
    [InlineData(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, x), }\n", 16, "shape entry 'x' is not a non-negative integer")]
    [InlineData(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1), }\n", 16, "shape entry '-1' is not a non-negative integer")]
    [InlineData(1, "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (1,), }\n", 8, "fortran_order is Maybe")]
    [InlineData(1, "{'descr': '<f8' 'shape': (1,)}\n", 8, "malformed .npy header (expected '}'")]
    [InlineData(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n", 8, "the data section has 8 bytes but shape (3,) of dtype '<f8' needs 24 bytes")]
    [InlineData(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", 12, "the data section has 12 bytes but shape (1,) of dtype '<f4' needs 4 bytes (1 values of 4 bytes).")]
    public void MalformedHeadersAreInvalidData(byte major, string header, int dataBytes, string message)
    {
        var path = Handmade(major, header, dataBytes);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void HeaderLongerThanTheFileIsInvalidData()
    {
        var path = Handmade(1, "{'descr': '<f8', ", 0, claimedLength: 500);
        var e = Assert.Throws<InvalidDataException>(() => Npy.Read(path));
        Assert.Contains("the header claims 500 bytes but only 17 follow; the file is truncated", e.Message);
    }

    [Fact]
    public void WriteRejectsBadArgumentsNamingThem()
    {
        var path = Temp("bad.npy");
        var mismatch = Assert.Throws<ArgumentException>(() => Npy.Write(path, new double[5], [2, 3]));
        Assert.Equal("shape", mismatch.ParamName);
        Assert.Contains("shape (2, 3) has 6 elements but data has 5", mismatch.Message);
        var negative = Assert.Throws<ArgumentException>(() => Npy.Write(path, new float[0], [3, -2]));
        Assert.Equal("shape", negative.ParamName);
        Assert.Contains("shape[1] = -2 is negative", negative.Message);
        Assert.Equal("data", Assert.Throws<ArgumentNullException>(() => Npy.Write(path, (double[])null!, [1])).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentNullException>(() => Npy.Write(path, new double[1], null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => Npy.Write("", new double[1], [1])).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => Npy.Read(" ")).ParamName);
        var folder = Path.Combine(_folder, "no-such-folder", "x.npy");
        var missing = Assert.Throws<DirectoryNotFoundException>(() => Npy.Write(folder, new double[1], [1]));
        Assert.Contains(folder, missing.Message);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void TensorFunctionsRejectUnsupportedDTypes()
    {
        using var scope = torch.NewDisposeScope();
        var path = Temp("t.npy");
        var e = Assert.Throws<ArgumentException>(() => Npy.WriteTensor(path, torch.arange(3, dtype: torch.ScalarType.Int64)));
        Assert.Equal("tensor", e.ParamName);
        Assert.Contains("tensor has dtype Int64", e.Message);
        Assert.Equal("tensor", Assert.Throws<ArgumentNullException>(() => Npy.WriteTensor(path, null!)).ParamName);
        Npy.Write(path, new double[] { 1, 2 }, [2]);
        var d = Assert.Throws<ArgumentException>(() => Npy.ReadTensor(path, dtype: torch.ScalarType.Int32));
        Assert.Equal("dtype", d.ParamName);
        Assert.Contains("dtype Int32 is not supported", d.Message);
    }

    [Fact]
    public void WritesAreAtomicAndLeaveNoTemporaryFiles()
    {
        var path = Temp("atomic.npy");
        Npy.Write(path, new double[] { 1, 2, 3 }, [3]);
        Npy.Write(path, new float[] { 4, 5 }, [2]);
        var read = Npy.Read(path);
        Assert.Equal(new[] { 4f, 5f }, read.Singles!);
        // A target that is a folder makes the final rename fail: the exception surfaces and the temporary file is gone.
        var blocked = Temp("blocked.npy");
        Directory.CreateDirectory(blocked);
        Assert.ThrowsAny<SystemException>(() => Npy.Write(blocked, new double[] { 1 }, [1]));
        Assert.Equal(new[] { "atomic.npy", "blocked.npy" }, Directory.EnumerateFileSystemEntries(_folder).Select(Path.GetFileName).Order());
    }

    /// <summary>A .npy file of dtype <paramref name="descr"/> (&lt;f4, &gt;f4, &lt;f8 or &gt;f8) holding the awkward values
    /// of <see cref="Awkward"/>, its bytes in the file's order written by hand (not by <see cref="Npy.Write(string, NpyArray)"/>).</summary>
    private string HandWritten(string descr, long[] shape)
    {
        var count = (int)Size(shape);
        var itemSize = descr[1..] == "f4" ? 4 : 8;
        var data = new byte[count * itemSize];
        for (var i = 0; i < count; i++)
        {
            var span = data.AsSpan(i * itemSize, itemSize);
            if (itemSize == 4)
            {
                var bits = BitConverter.SingleToInt32Bits((float)Awkward(i));
                if (descr[0] == '>') BinaryPrimitives.WriteInt32BigEndian(span, bits);
                else BinaryPrimitives.WriteInt32LittleEndian(span, bits);
            }
            else
            {
                var bits = BitConverter.DoubleToInt64Bits(Awkward(i));
                if (descr[0] == '>') BinaryPrimitives.WriteInt64BigEndian(span, bits);
                else BinaryPrimitives.WriteInt64LittleEndian(span, bits);
            }
        }
        var tuple = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var header = Encoding.ASCII.GetBytes($"{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}\n");
        var bytes = new byte[10 + header.Length + data.Length];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        header.CopyTo(bytes, 10);
        data.CopyTo(bytes, 10 + header.Length);
        var path = Temp($"hand-{descr[0] switch { '>' => "be", _ => "le" }}-{descr[1..]}.npy");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] TensorBytes(torch.Tensor t)
    {
        using var cpu = t.cpu().contiguous();
        return cpu.numel() == 0 ? [] : cpu.bytes.ToArray();
    }

    public static TheoryData<string, long[]> FloatFiles
    {
        get
        {
            var data = new TheoryData<string, long[]>();
            foreach (var descr in new[] { "<f4", ">f4", "<f8", ">f8" })
                foreach (var shape in new[] { Array.Empty<long>(), new long[] { 7 }, new long[] { 3, 4, 5 }, new long[] { 0, 3 } })
                    data.Add(descr, shape);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(FloatFiles))]
    public void TensorsReadStraightIntoStorageEqualTheArrayPathBitForBit(string descr, long[] shape)
    {
        var path = HandWritten(descr, shape);
        var single = descr[1..] == "f4";
        foreach (var dtype in new torch.ScalarType?[] { null, torch.ScalarType.Float32, torch.ScalarType.Float64 })
        {
            using var fast = Npy.ReadTensor(path, null, dtype);
            using var old = Npy.ReadTensorViaArray(path, null, dtype);
            Assert.Equal(old.dtype, fast.dtype);
            Assert.Equal(dtype ?? (single ? torch.ScalarType.Float32 : torch.ScalarType.Float64), fast.dtype);
            Assert.Equal(shape, fast.shape);
            Assert.Equal(old.shape, fast.shape);
            Assert.Equal(TensorBytes(old), TensorBytes(fast));
        }
        // And the values are the ones written, whatever the file's byte order.
        using var native = Npy.ReadTensor(path, null, torch.ScalarType.Float64);
        var values = native.numel() == 0 ? [] : native.data<double>().ToArray();
        var expected = Enumerable.Range(0, (int)Size(shape)).Select(i => single ? (double)(float)Awkward(i) : Awkward(i));
        Assert.Equal(expected.Select(BitConverter.DoubleToInt64Bits), values.Select(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void BigEndianFloatFilesAreReadInTheirByteOrder()
    {
        // scripts/golden/make_npy_fixtures.py: np.arange(3, dtype=">f8").
        var read = Npy.Read(Fixture("f8_bigendian.npy"));
        Assert.Equal(">f8", read.SourceDType);
        Assert.Equal("<f8", read.DType);
        Assert.Equal(new[] { 0.0, 1.0, 2.0 }, read.Doubles!);
        using var tensor = Npy.ReadTensor(Fixture("f8_bigendian.npy"));
        Assert.Equal(new[] { 0.0, 1.0, 2.0 }, tensor.data<double>().ToArray());
    }

    [Theory]
    [InlineData("f8_fortran.npy", "Fortran (column-major) order, which is not supported")]
    [InlineData("f8_truncated.npy", "the data section has 72 bytes but shape (10,) of dtype '<f8' needs 80 bytes (10 values of 8 bytes); the file is truncated")]
    [InlineData("c16_complex.npy", "dtype '<c16' is not supported")]
    public void TensorReaderRejectsWhatTheArrayReaderRejects(string name, string message)
    {
        var path = Fixture(name);
        var e = Assert.Throws<InvalidDataException>(() => Npy.ReadTensor(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(message, e.Message);
    }
}
