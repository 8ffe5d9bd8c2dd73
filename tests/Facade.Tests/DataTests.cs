using System.Buffers.Binary;
using System.IO.Compression;
using DistEmbed.Data;
using DistEmbed.IO;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>Atomic writes, the IDX reader (plain and gzip, every rejection), image sets and sequence data sets.</summary>
public sealed class DataTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("data-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Temp(string name) => Path.Combine(_folder, name);

    private string WriteRaw(string name, byte[] bytes, bool gzip = false)
    {
        var path = Temp(name);
        if (gzip)
        {
            using var file = File.Create(path);
            using var z = new GZipStream(file, CompressionLevel.Fastest);
            z.Write(bytes);
        }
        else
            File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A tiny MNIST-shaped folder: n images of 3×2 with pixel k·i mod 256 and labels i mod classes.</summary>
    private string TinyIdxFolder(int n, int classes, bool gzip)
    {
        var folder = Directory.CreateDirectory(Temp($"idx-{n}-{gzip}")).FullName;
        foreach (var prefix in new[] { "train", "t10k" })
        {
            var pixels = Enumerable.Range(0, n * 6).Select(k => (byte)(k * 7 % 256)).ToArray();
            var labels = Enumerable.Range(0, n).Select(i => (byte)(i % classes)).ToArray();
            var suffix = gzip ? ".gz" : "";
            WriteRaw(Path.Combine(folder, $"{prefix}-images-idx3-ubyte{suffix}"), [.. IdxTestFiles.Header(8, n, 3, 2), .. pixels], gzip);
            WriteRaw(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte{suffix}"), [.. IdxTestFiles.Header(8, n), .. labels], gzip);
        }
        return folder;
    }

    [Fact]
    public void AtomicFile_replaces_the_target_and_leaves_no_temporary_files()
    {
        var path = Temp("a.txt");
        AtomicFile.WriteAllText(path, "first");
        AtomicFile.WriteAllText(path, "second");
        Assert.Equal("second", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_folder));
    }

    [Fact]
    public void AtomicFile_keeps_the_old_content_when_the_writer_fails()
    {
        var path = Temp("b.bin");
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write([9, 9, 9, 9, 9]);
            throw new InvalidOperationException("interrupted");
        }));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(_folder));
    }

    [Fact]
    public void AtomicFile_WriteVia_renames_what_the_callee_wrote_and_rejects_a_callee_that_wrote_nothing()
    {
        var path = Temp("c.png");
        AtomicFile.WriteVia(path, temp =>
        {
            Assert.EndsWith(".png", temp);
            File.WriteAllText(temp, "pixels");
        });
        Assert.Equal("pixels", File.ReadAllText(path));
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteVia(Temp("d.png"), _ => { }));
        Assert.Contains("without creating", e.Message);
        Assert.False(File.Exists(Temp("d.png")));
    }

    [Fact]
    public void AtomicFile_names_a_missing_folder_and_an_empty_path()
    {
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.WriteAllText(Temp("no/such/x.txt"), "x"));
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => AtomicFile.WriteAllText(" ", "x")).ParamName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Idx_reads_plain_and_gzip_files_of_every_element_type(bool gzip)
    {
        var bytes = WriteRaw($"u8{gzip}", [.. IdxTestFiles.Header(8, 2, 3), 0, 1, 2, 253, 254, 255], gzip);
        var u8 = Idx.Read(bytes);
        Assert.Equal(IdxDataType.UnsignedByte, u8.DataType);
        Assert.Equal(new[] { 2, 3 }, u8.Shape);
        Assert.Equal(new float[] { 0, 1, 2, 253, 254, 255 }, u8.ToSingles());

        Assert.Equal(new float[] { -1, 127 }, Idx.Read(WriteRaw($"i8{gzip}", [.. IdxTestFiles.Header(9, 2), 0xFF, 0x7F], gzip)).ToSingles());
        Assert.Equal(new float[] { -2, 258 }, Idx.Read(WriteRaw($"i16{gzip}", [.. IdxTestFiles.Header(0x0B, 2), 0xFF, 0xFE, 0x01, 0x02], gzip)).ToSingles());
        Assert.Equal(new float[] { 65536 }, Idx.Read(WriteRaw($"i32{gzip}", [.. IdxTestFiles.Header(0x0C, 1), 0, 1, 0, 0], gzip)).ToSingles());
        var f32 = new byte[4];
        BinaryPrimitives.WriteSingleBigEndian(f32, -1.5f);
        Assert.Equal(new float[] { -1.5f }, Idx.Read(WriteRaw($"f32{gzip}", [.. IdxTestFiles.Header(0x0D, 1), .. f32], gzip)).ToSingles());
        var f64 = new byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(f64, 0.25);
        Assert.Equal(new float[] { 0.25f }, Idx.Read(WriteRaw($"f64{gzip}", [.. IdxTestFiles.Header(0x0E, 1), .. f64], gzip)).ToSingles());
    }

    [Fact]
    public void Idx_round_trips_what_it_writes()
    {
        var path = Temp("w.idx");
        Idx.WriteUnsignedBytes(path, [2, 2], [4, 3, 2, 1]);
        var back = Idx.Read(path);
        Assert.Equal(new[] { 2, 2 }, back.Shape);
        Assert.Equal(new float[] { 4, 3, 2, 1 }, back.ToSingles());
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => Idx.WriteUnsignedBytes(path, [3], [1, 2])).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => Idx.WriteUnsignedBytes(path, [0], [])).ParamName);
    }

    public static TheoryData<string, byte[], string> BadFiles => new()
    {
        { "short", new byte[] { 0, 0 }, "too short" },
        { "magic", new byte[] { 1, 0, 8, 1, 0, 0, 0, 1, 5 }, "bad IDX magic" },
        { "type", new byte[] { 0, 0, 7, 1, 0, 0, 0, 1, 5 }, "unknown IDX element type 0x07" },
        { "rank0", new byte[] { 0, 0, 8, 0 }, "0 dimensions" },
        { "header", new byte[] { 0, 0, 8, 2, 0, 0, 0, 1 }, "truncated header" },
        { "extent", new byte[] { 0, 0, 8, 1, 0, 0, 0, 0 }, "extent 0" },
        { "truncated", new byte[] { 0, 0, 8, 1, 0, 0, 0, 3, 1, 2 }, "truncated: shape [3]" },
        { "trailing", new byte[] { 0, 0, 8, 1, 0, 0, 0, 1, 1, 2 }, "1 trailing bytes" },
        { "truncated16", new byte[] { 0, 0, 0x0B, 1, 0, 0, 0, 2, 1, 2, 3 }, "needs 12 bytes, the file has 11" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Idx_rejects_malformed_files_naming_the_file_and_the_fault(string name, byte[] bytes, string message)
    {
        var path = WriteRaw(name, bytes);
        var e = Assert.Throws<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Idx_rejects_a_truncated_gzip_stream_and_a_missing_file()
    {
        var good = File.ReadAllBytes(WriteRaw("g", [.. IdxTestFiles.Header(8, 100), .. new byte[100]], gzip: true));
        var path = WriteRaw("cut.gz", good[..(good.Length / 2)]);
        var e = Assert.ThrowsAny<InvalidDataException>(() => Idx.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Throws<FileNotFoundException>(() => Idx.Read(Temp("absent")));
        Assert.Equal("path", Assert.Throws<ArgumentException>(() => Idx.Read("")).ParamName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ImageDatasets_loads_an_idx_folder_scaling_pixels_to_the_unit_interval(bool gzip)
    {
        var folder = TinyIdxFolder(5, 3, gzip);
        var set = ImageDatasets.Load($"idx:{folder}", train: true);
        Assert.Equal(5, set.Count);
        Assert.Equal((3, 2), (set.Rows, set.Cols));
        Assert.Equal(new[] { 0, 1, 2, 0, 1 }, set.Labels);
        Assert.Equal(7f / 255f, set.Images[0, 1]);
        Assert.Equal(new[] { 0, 1, 2 }, set.Classes);
        var sub = set.WhereClasses([1]);
        Assert.Equal(new[] { 1, 1 }, sub.Labels);
        Assert.Equal(set.Images[4, 5], sub.Images[1, 5]);
        using var t = set.ToTensor([4, 0]);
        Assert.Equal(new long[] { 2, 6 }, t.shape);
        Assert.Equal(set.Images[4, 3], t[0, 3].item<float>());
        using var l = set.LabelTensor([4, 0]);
        Assert.Equal(new long[] { 1, 0 }, l.data<long>().ToArray());
    }

    [Fact]
    public void ImageDatasets_rejects_mislabelled_folders_unknown_names_and_missing_files()
    {
        var folder = TinyIdxFolder(4, 2, gzip: false);
        WriteRaw(Path.Combine(folder, "train-labels-idx1-ubyte"), [.. IdxTestFiles.Header(8, 3), 0, 1, 0]);
        var e = Assert.Throws<InvalidDataException>(() => ImageDatasets.Load($"idx:{folder}", train: true));
        Assert.Contains("holds 4 images but", e.Message);
        Assert.Contains("holds 3 labels", e.Message);
        WriteRaw(Path.Combine(folder, "t10k-labels-idx1-ubyte"), [.. IdxTestFiles.Header(8, 2, 2), 0, 1, 0, 1]);
        Assert.Contains("expected unsigned-byte labels of rank 1",
            Assert.Throws<InvalidDataException>(() => ImageDatasets.Load($"idx:{folder}", train: false)).Message);
        Assert.Equal("spec", Assert.Throws<ArgumentException>(() => ImageDatasets.Load("cifar", true)).ParamName);
        Assert.Equal("spec", Assert.Throws<ArgumentException>(() => ImageDatasets.Load("idx:", true)).ParamName);
        var missing = Assert.Throws<FileNotFoundException>(() => ImageDatasets.Load($"idx:{Temp("empty")}", true));
        Assert.Contains("train-images-idx3-ubyte", missing.Message);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => ImageDatasets.Fetch("cifar", _folder)).ParamName);
    }

    [Fact]
    public void ImageSet_validates_its_arguments()
    {
        Assert.Equal("images", Assert.Throws<ArgumentException>(() => new ImageSet(new float[2, 5], [0, 1], 2, 2)).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => new ImageSet(new float[2, 4], [0], 2, 2)).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => new ImageSet(new float[1, 4], [-1], 2, 2)).ParamName);
        var bad = new float[1, 4];
        bad[0, 2] = float.NaN;
        Assert.Contains("images[0,2]", Assert.Throws<ArgumentException>(() => new ImageSet(bad, [0], 2, 2)).Message);
        Assert.Contains("indices[0] = 3", Assert.Throws<ArgumentException>(() => new ImageSet(new float[1, 4], [0], 2, 2).Subset([3])).Message);
    }

    private static float[,] Seq(int t, int c, float offset) =>
        Fill(new float[t, c], (i, j) => offset + i * c + j);

    private static float[,] Fill(float[,] a, Func<int, int, float> f)
    {
        for (var i = 0; i < a.GetLength(0); i++)
            for (var j = 0; j < a.GetLength(1); j++)
                a[i, j] = f(i, j);
        return a;
    }

    [Fact]
    public void SequenceDataset_pads_batches_and_reports_lengths_masks_and_labels()
    {
        var data = new SequenceDataset([Seq(3, 2, 0), Seq(1, 2, 100), Seq(4, 2, 200)], [1, 0, 1], ["a", "b", "c"], ["zero", "one"]);
        Assert.Equal((3, 2, 1, 4), (data.Count, data.Channels, data.MinLength, data.MaxLength));
        Assert.Equal(new[] { 0, 1 }, data.Classes);
        using var batch = data.ToBatch([1, 0]);
        Assert.Equal(new long[] { 2, 3, 2 }, batch.Features.shape);
        Assert.Equal(new long[] { 1, 3 }, batch.Lengths.data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1 }, batch.Labels.data<long>().ToArray());
        Assert.Equal(new[] { true, false, false, true, true, true }, batch.Mask.data<bool>().ToArray());
        Assert.Equal(new float[] { 100, 101, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5 }, batch.Features.data<float>().ToArray());
        var sub = data.Subset([2, 0]);
        Assert.Equal(new[] { "c", "a" }, sub.Ids);
        Assert.Equal(new[] { "zero", "one" }, sub.LabelNames);
        Assert.Equal(new[] { "0", "1" }, new SequenceDataset([Seq(1, 1, 0), Seq(1, 1, 0)], [0, 1]).Ids);
    }

    [Fact]
    public void SequenceDataset_rejects_bad_input_naming_the_argument_and_the_position()
    {
        Assert.Equal("sequences", Assert.Throws<ArgumentException>(() => new SequenceDataset([], [])).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => new SequenceDataset([Seq(2, 2, 0)], [0, 1])).ParamName);
        Assert.Contains("has 3 channels but sequences[0] has 2",
            Assert.Throws<ArgumentException>(() => new SequenceDataset([Seq(2, 2, 0), Seq(2, 3, 0)], [0, 0])).Message);
        Assert.Contains("at least one step", Assert.Throws<ArgumentException>(() => new SequenceDataset([new float[0, 2]], [0])).Message);
        var nan = Seq(3, 2, 0);
        nan[2, 1] = float.NaN;
        var e = Assert.Throws<ArgumentException>(() => new SequenceDataset([Seq(1, 2, 0), nan], [0, 0], ["x", "y"]));
        Assert.Contains("sequences[1] (id y) has NaN at step 2, channel 1", e.Message);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => new SequenceDataset([Seq(1, 2, 0)], [-1])).ParamName);
        Assert.Equal("labelNames", Assert.Throws<ArgumentException>(() => new SequenceDataset([Seq(1, 2, 0)], [2], null, ["a"])).ParamName);
        Assert.Contains("'x' occurs 2 times", Assert.Throws<ArgumentException>(() => new SequenceDataset([Seq(1, 2, 0), Seq(1, 2, 0)], [0, 0], ["x", "x"])).Message);
        var data = new SequenceDataset([Seq(1, 2, 0), Seq(2, 2, 0)], [0, 1]);
        Assert.Contains("repeated", Assert.Throws<ArgumentException>(() => data.Subset([1, 1])).Message);
        Assert.Contains("outside [0, 2)", Assert.Throws<ArgumentException>(() => data.ToBatch([2])).Message);
        Assert.Equal("indices", Assert.Throws<ArgumentException>(() => data.ToBatch([])).ParamName);
    }
}
