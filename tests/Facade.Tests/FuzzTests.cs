using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using DistEmbed.Data;
using DistEmbed.IO;
using Xunit;
using Xunit.Abstractions;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// A seeded hostile-input fuzz suite for every file reader (<c>.npy</c>, IDX plain and gzip, sequence CSV and
/// Parquet): valid files are mutated (flipped bytes, truncation, appended garbage, extreme size fields, forged
/// headers, gzip bombs, endless lines) and each reader must either return a result or throw its one documented
/// exception type, one line, naming the file — never another exception, never a trace — while allocating less than
/// <see cref="MemoryBound"/> managed bytes per case. Failing cases print the reader, the case and the seed.
/// </summary>
[Collection("Fuzz")]
public sealed class FuzzTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>The managed bytes one case may allocate (the valid files are a few kilobytes; the hostile ones claim
    /// up to exabytes).</summary>
    private const long MemoryBound = 64L << 20;

    private const int Seed = 18;

    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Runs every case through a reader and checks the one-line contract and the memory bound; returns
    /// (accepted, rejected).</summary>
    private (int Accepted, int Rejected) Run<TExpected>(string reader, IEnumerable<(string Name, byte[] Bytes)> cases, Action<string> read)
        where TExpected : Exception
    {
        var (accepted, rejected, index) = (0, 0, 0);
        foreach (var (name, bytes) in cases)
        {
            var path = Path.Combine(_dir, $"{reader}-{index++:D4}-{name}{Extension(reader)}");
            File.WriteAllBytes(path, bytes);
            var before = GC.GetTotalAllocatedBytes(precise: true);
            try
            {
                // A hang is a failure too: the read runs on the pool and is given 30 s.
                var task = Task.Run(() => read(path));
                if (!task.Wait(TimeSpan.FromSeconds(30)))
                    Assert.Fail($"{reader} case {name} (seed {Seed}, file {path}): no answer within 30 s.");
                accepted++;
            }
            catch (AggregateException wrapped) when (wrapped.InnerExceptions.Count == 1 && wrapped.InnerException is TExpected e)
            {
                rejected++;
                Assert.True(e.Message.Contains(path, StringComparison.Ordinal), $"{reader} case {name} (seed {Seed}): the message does not name the file: {e.Message}");
                Assert.False(e.Message.Contains('\n'), $"{reader} case {name} (seed {Seed}): the message is not one line: {e.Message}");
            }
            catch (AggregateException wrapped) when (wrapped.InnerExceptions.Count == 1)
            {
                var e = wrapped.InnerException!;
                Assert.Fail($"{reader} case {name} (seed {Seed}, {bytes.Length} bytes, file {path}): {e.GetType().FullName} instead of {typeof(TExpected).Name}: {e}");
            }
            catch (TExpected e)
            {
                rejected++;
                Assert.True(e.Message.Contains(path, StringComparison.Ordinal), $"{reader} case {name} (seed {Seed}): the message does not name the file: {e.Message}");
                Assert.False(e.Message.Contains('\n'), $"{reader} case {name} (seed {Seed}): the message is not one line: {e.Message}");
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"{reader} case {name} (seed {Seed}, {bytes.Length} bytes, file {path}): {e.GetType().FullName} instead of {typeof(TExpected).Name}: {e}");
            }
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
            Assert.True(allocated < MemoryBound, $"{reader} case {name} (seed {Seed}): {allocated} bytes allocated (bound {MemoryBound}).");
            File.Delete(path);
        }
        output.WriteLine($"{reader}: {accepted + rejected} cases, {accepted} read, {rejected} rejected with a one-line error");
        return (accepted, rejected);
    }

    private static string Extension(string reader) => reader switch
    {
        "csv" => ".csv",
        "parquet" => ".parquet",
        "npy" => ".npy",
        _ => ".idx",
    };

    // ------------------------------------------------------------------------------------------------------------
    // Generic mutations

    private static readonly int[] ExtremeInts = [0, 1, -1, 255, 65535, int.MaxValue, int.MinValue, 1 << 30, 0x7fffff00, 16];

    /// <summary>Mutated copies of a valid file: each applies one to three random mutations.</summary>
    private static IEnumerable<(string, byte[])> Mutations(byte[] valid, Random rng, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var bytes = (byte[])valid.Clone();
            var names = new List<string>();
            var steps = rng.Next(1, 4);
            for (var s = 0; s < steps; s++)
            {
                switch (rng.Next(7))
                {
                    case 0:
                        for (var k = rng.Next(1, 9); k > 0 && bytes.Length > 0; k--)
                            bytes[rng.Next(bytes.Length)] ^= (byte)rng.Next(1, 256);
                        names.Add("flip");
                        break;
                    case 1:
                        bytes = bytes[..rng.Next(bytes.Length + 1)];
                        names.Add("truncate");
                        break;
                    case 2:
                        var tail = new byte[rng.Next(1, 64)];
                        rng.NextBytes(tail);
                        bytes = [.. bytes, .. tail];
                        names.Add("append");
                        break;
                    case 3 when bytes.Length >= 4:
                        var at = rng.Next(bytes.Length - 3);
                        var value = ExtremeInts[rng.Next(ExtremeInts.Length)];
                        if (rng.Next(2) == 0) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(at), value);
                        else BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), value);
                        names.Add("int32");
                        break;
                    case 4 when bytes.Length > 0:
                        var from = rng.Next(bytes.Length);
                        var length = rng.Next(1, Math.Min(64, bytes.Length - from) + 1);
                        var insertAt = rng.Next(bytes.Length + 1);
                        bytes = [.. bytes[..insertAt], .. bytes.AsSpan(from, length).ToArray(), .. bytes[insertAt..]];
                        names.Add("duplicate");
                        break;
                    case 5 when bytes.Length > 1:
                        var cut = rng.Next(bytes.Length);
                        var cutLength = rng.Next(1, Math.Min(32, bytes.Length - cut) + 1);
                        bytes = [.. bytes[..cut], .. bytes[(cut + cutLength)..]];
                        names.Add("delete");
                        break;
                    default:
                        var garbage = new byte[rng.Next(0, 256)];
                        rng.NextBytes(garbage);
                        bytes = garbage;
                        names.Add("garbage");
                        break;
                }
            }
            yield return (string.Join("+", names), bytes);
        }
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var memory = new MemoryStream();
        using (var z = new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true))
            z.Write(bytes);
        return memory.ToArray();
    }

    // ------------------------------------------------------------------------------------------------------------
    // .npy

    private static byte[] NpyBytes(string dict, byte major = 1, byte[]? data = null)
    {
        var headerText = dict + new string(' ', (64 - (10 + dict.Length + 1) % 64) % 64) + "\n";
        var header = Encoding.Latin1.GetBytes(headerText);
        var prefix = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', major, 0 };
        if (major == 1) prefix.AddRange(BitConverter.GetBytes((ushort)header.Length));
        else prefix.AddRange(BitConverter.GetBytes((uint)header.Length));
        return [.. prefix, .. header, .. data ?? []];
    }

    private static readonly string[] ShapeEntries = ["0", "1", "3", "2147483648", "1099511627776", "4611686018427387904", "9223372036854775807", "-1", "", "abc", "3L", " 2 "];
    private static readonly string[] DTypes = ["<f4", "<f8", "<i8", "<i4", "|b1", "|u1", ">f8", "<c16", "|O", "<U3", "<f2", "'<f8'", "", "[('a', '<f4')]"];

    /// <summary>Forged .npy headers: random shapes (huge, negative, malformed), dtypes, Fortran order, versions,
    /// header lengths, and data sections that do or do not match.</summary>
    private static IEnumerable<(string, byte[])> ForgedNpy(Random rng, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var rank = rng.Next(0, 4);
            var shape = string.Join(", ", Enumerable.Range(0, rank).Select(_ => ShapeEntries[rng.Next(ShapeEntries.Length)]));
            var tuple = rank == 1 ? $"({shape},)" : $"({shape})";
            var dtype = DTypes[rng.Next(DTypes.Length)];
            var fortran = rng.Next(5) == 0 ? "True" : rng.Next(10) == 0 ? "Maybe" : "False";
            var dict = rng.Next(12) == 0 ? "{'descr': '<f8', 'shape': (2,)" : $"{{'descr': '{dtype}', 'fortran_order': {fortran}, 'shape': {tuple}, }}";
            var data = new byte[rng.Next(0, 97)];
            rng.NextBytes(data);
            var major = (byte)(rng.Next(8) == 0 ? rng.Next(0, 6) : 1 + rng.Next(3) / 2);
            var bytes = NpyBytes(dict, major, data);
            if (rng.Next(8) == 0)
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)rng.Next(65536));
            yield return ($"forged-v{major}", bytes);
        }
    }

    [Fact]
    public void Npy_reader_survives_hostile_files()
    {
        var rng = new Random(Seed);
        var validPath = Path.Combine(_dir, "valid.npy");
        Npy.Write(validPath, Enumerable.Range(0, 24).Select(i => i * 0.5).ToArray(), [2, 3, 4]);
        var valid = File.ReadAllBytes(validPath);
        var cases = Mutations(valid, rng, 250).Concat(ForgedNpy(rng, 250));
        var (accepted, rejected) = Run<InvalidDataException>("npy", cases, path => Npy.Read(path));
        Assert.True(rejected > 300, $"only {rejected} of 500 hostile .npy files were rejected");
        Assert.True(accepted > 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // IDX

    private static readonly byte[] IdxTypes = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07, 0x00, 0xFF];
    private static readonly int[] Extents = [1, 2, 3, 28, 60000, 1 << 16, 1 << 30, int.MaxValue, 0, -1, -2147483648];

    /// <summary>Forged IDX headers (types, ranks up to 255, extents up to 2^31 − 1 whose products wrap 64 bits) over
    /// short data.</summary>
    private static IEnumerable<(string, byte[])> ForgedIdx(Random rng, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var rank = rng.Next(10) == 0 ? rng.Next(0, 256) : rng.Next(1, 5);
            var shape = Enumerable.Range(0, rank).Select(_ => Extents[rng.Next(Extents.Length)]).ToArray();
            var data = new byte[rng.Next(0, 200)];
            rng.NextBytes(data);
            yield return ($"forged-rank{rank}", [.. IdxTestFiles.Header(IdxTypes[rng.Next(IdxTypes.Length)], shape), .. data]);
        }
    }

    /// <summary>Gzip bombs: a small valid array followed by megabytes of zeros, and headers that claim far more than
    /// the stream holds.</summary>
    private static IEnumerable<(string, byte[])> GzipBombs()
    {
        foreach (var megabytes in new[] { 8, 32, 96 })
            yield return ($"bomb-{megabytes}mb", Gzip([.. IdxTestFiles.Header(8, 10, 10), .. new byte[100], .. new byte[megabytes << 20]]));
        foreach (var claim in new[] { 1 << 20, 1 << 26, int.MaxValue - 64 })
            yield return ($"claims-{claim}", Gzip([.. IdxTestFiles.Header(8, claim), .. new byte[4096]]));
        yield return ("claims-wrap", Gzip([.. IdxTestFiles.Header(8, 16, 1 << 30, 1 << 30), .. new byte[16]]));
    }

    [Fact]
    public void Idx_reader_survives_hostile_plain_and_gzip_files()
    {
        var rng = new Random(Seed + 1);
        byte[] valid = [.. IdxTestFiles.Header(8, 4, 3, 2), .. Enumerable.Range(0, 24).Select(i => (byte)i)];
        var plain = Mutations(valid, rng, 200).Concat(ForgedIdx(rng, 200)).ToList();
        // gzip: mutate the compressed bytes (corrupt streams) and compress mutated/forged contents (valid streams
        // with hostile content), plus bombs.
        var gzip = Mutations(Gzip(valid), rng, 100)
            .Concat(Mutations(valid, rng, 50).Concat(ForgedIdx(rng, 50)).Select(c => ("gz-" + c.Item1, Gzip(c.Item2))))
            .Concat(GzipBombs())
            .ToList();
        var (plainAccepted, plainRejected) = Run<InvalidDataException>("idx", plain, path => Idx.Read(path));
        var (gzipAccepted, gzipRejected) = Run<InvalidDataException>("idx-gzip", gzip, path => Idx.Read(path));
        Assert.True(plainRejected > 300, $"only {plainRejected} of 400 hostile plain IDX files were rejected");
        Assert.True(gzipRejected > 150, $"only {gzipRejected} of {gzip.Count} hostile gzip IDX files were rejected");
        Assert.True(plainAccepted + gzipAccepted > 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sequence CSV and Parquet

    private static readonly string[] CsvInsertions =
        [",", "\"", "\n", "\r", "\r\n", "NaN", "inf", "-Infinity", "1e999", "-", "x", "\0", "é", "\uFEFF", "  ", ",,", "\"\"", "9999999999999", "-0", "x12"];

    /// <summary>Text-level mutations of a valid CSV: inserted separators, quotes, line breaks and hostile numbers,
    /// deleted spans, duplicated or shuffled lines, and a few endless lines.</summary>
    private static IEnumerable<(string, byte[])> CsvMutations(string valid, Random rng, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var text = valid;
            var steps = rng.Next(1, 4);
            var names = new List<string>();
            for (var s = 0; s < steps; s++)
            {
                switch (rng.Next(5))
                {
                    case 0:
                        var at = rng.Next(text.Length + 1);
                        text = text.Insert(at, CsvInsertions[rng.Next(CsvInsertions.Length)]);
                        names.Add("insert");
                        break;
                    case 1 when text.Length > 1:
                        var cut = rng.Next(text.Length);
                        text = text.Remove(cut, rng.Next(1, Math.Min(24, text.Length - cut) + 1));
                        names.Add("delete");
                        break;
                    case 2:
                        var lines = text.Split('\n').ToList();
                        var line = lines[rng.Next(lines.Count)];
                        lines.Insert(rng.Next(lines.Count + 1), line);
                        text = string.Join('\n', lines);
                        names.Add("duplicate-line");
                        break;
                    case 3:
                        var all = text.Split('\n');
                        text = string.Join('\n', all.Take(1).Concat(all.Skip(1).OrderBy(_ => rng.Next())));
                        names.Add("shuffle");
                        break;
                    default:
                        var number = rng.Next(3) switch { 0 => "1e39", 1 => "3.5e38", _ => "-2147483649" };
                        var fields = text.Split(',');
                        fields[rng.Next(fields.Length)] = number;
                        text = string.Join(',', fields);
                        names.Add("number");
                        break;
                }
            }
            yield return (string.Join("+", names), Encoding.UTF8.GetBytes(text));
        }
        foreach (var length in new[] { 1 << 22, (1 << 22) + 1, 6 << 20 })
            yield return ($"endless-{length}", Encoding.UTF8.GetBytes("sequence_id,label,step,x0,x1\n" + new string('7', length)));
        yield return ("empty", []);
        yield return ("bom-only", [0xEF, 0xBB, 0xBF]);
    }

    [Fact]
    public void Csv_reader_survives_hostile_files()
    {
        var rng = new Random(Seed + 2);
        var validPath = Path.Combine(_dir, "valid.csv");
        SequenceFiles.WriteCsv(SequenceTestData.Make(3, 2, 4, 3, 5), validPath);
        var valid = File.ReadAllText(validPath);
        var cases = CsvMutations(valid, rng, 300).Concat(Mutations(Encoding.UTF8.GetBytes(valid), rng, 100)).ToList();
        var (accepted, rejected) = Run<SequenceDataException>("csv", cases, path => SequenceFiles.Read(path));
        Assert.True(rejected > 200, $"only {rejected} of {cases.Count} hostile CSV files were rejected");
        Assert.True(accepted > 0);
    }

    /// <summary>Parquet-specific mutations: flips in the footer (Thrift metadata: row counts, offsets, sizes), forged
    /// footer lengths, a missing magic.</summary>
    private static IEnumerable<(string, byte[])> ParquetFooterMutations(byte[] valid, Random rng, int count)
    {
        var footerLength = BinaryPrimitives.ReadInt32LittleEndian(valid.AsSpan(valid.Length - 8));
        var footerStart = valid.Length - 8 - footerLength;
        for (var i = 0; i < count; i++)
        {
            var bytes = (byte[])valid.Clone();
            switch (rng.Next(4))
            {
                case 0:
                    for (var k = rng.Next(1, 5); k > 0; k--)
                        bytes[rng.Next(footerStart, valid.Length - 8)] ^= (byte)rng.Next(1, 256);
                    yield return ("footer-flip", bytes);
                    break;
                case 1:
                    BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(bytes.Length - 8), ExtremeInts[rng.Next(ExtremeInts.Length)]);
                    yield return ("footer-length", bytes);
                    break;
                case 2:
                    var at = rng.Next(footerStart, valid.Length - 12);
                    BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), ExtremeInts[rng.Next(ExtremeInts.Length)]);
                    yield return ("footer-int32", bytes);
                    break;
                default:
                    bytes[rng.Next(2) == 0 ? rng.Next(4) : bytes.Length - 1 - rng.Next(4)] ^= 0x20;
                    yield return ("magic", bytes);
                    break;
            }
        }
    }

    [Fact]
    public void Parquet_reader_survives_hostile_files()
    {
        var rng = new Random(Seed + 3);
        var validPath = Path.Combine(_dir, "valid.parquet");
        SequenceFiles.WriteParquet(SequenceTestData.Make(3, 2, 4, 3, 5), validPath);
        var valid = File.ReadAllBytes(validPath);
        var cases = Mutations(valid, rng, 200).Concat(ParquetFooterMutations(valid, rng, 200)).ToList();
        var (accepted, rejected) = Run<SequenceDataException>("parquet", cases, path => SequenceFiles.Read(path));
        Assert.True(rejected > 250, $"only {rejected} of {cases.Count} hostile Parquet files were rejected");
        Assert.True(accepted >= 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Through the command line: the same files give exit 1 and one "error:" line, never a trace.

    [Fact]
    public void Cli_turns_hostile_files_into_one_line_errors()
    {
        var rng = new Random(Seed + 4);
        var good = Path.Combine(_dir, "good.npy");
        Npy.Write(good, Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), [2, 4, 3]);
        var valid = File.ReadAllBytes(good);
        var csvValid = Path.Combine(_dir, "valid.csv");
        SequenceFiles.WriteCsv(SequenceTestData.Make(4, 3, 4, 3, 5), csvValid);
        var runs = 0;
        foreach (var (name, bytes) in Mutations(valid, rng, 30).Concat(ForgedNpy(rng, 30)))
        {
            var path = Path.Combine(_dir, $"cli-{runs}.npy");
            File.WriteAllBytes(path, bytes);
            try { Npy.Read(path); continue; } catch (InvalidDataException) { }
            var (code, _, stderr) = CliRunner.Run("distance", "--a", path, "--b", good, "--metric", "marginal-w2", "--device", "cpu");
            AssertOneLine(code, stderr, path, $"npy {name}");
            runs++;
        }
        foreach (var (name, bytes) in CsvMutations(File.ReadAllText(csvValid), rng, 40).Where(c => !c.Item1.StartsWith("endless", StringComparison.Ordinal)))
        {
            var path = Path.Combine(_dir, $"cli-{runs}.csv");
            File.WriteAllBytes(path, bytes);
            try { SequenceFiles.Read(path); continue; } catch (SequenceDataException) { }
            var (code, _, stderr) = CliRunner.Run("train", "--train", path, "--epochs", "1", "--out", Path.Combine(_dir, $"model-{runs}"));
            AssertOneLine(code, stderr, path, $"csv {name}");
            Assert.False(Directory.Exists(Path.Combine(_dir, $"model-{runs}")));
            runs++;
        }
        output.WriteLine($"cli: {runs} hostile files through distance/train, each one error line with exit 1");
        Assert.True(runs > 30, $"only {runs} CLI runs");
    }

    private static void AssertOneLine(int code, string stderr, string path, string what)
    {
        Assert.True(code == 1, $"{what}: exit {code}: {stderr}");
        var lines = stderr.Trim().Split('\n');
        Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal), $"{what}: {stderr}");
        Assert.Contains(path, lines[0]);
    }
}
