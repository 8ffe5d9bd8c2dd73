using System.Buffers.Binary;
using DistEmbed.Data;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>Sequence sources by specification: files, synthetic tasks with options, images read row by row.</summary>
public sealed class SequenceSourcesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("seqsources-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static void AssertSame(SequenceDataset expected, SequenceDataset actual)
    {
        Assert.Equal(expected.Ids, actual.Ids);
        Assert.Equal(expected.Labels, actual.Labels);
        for (var i = 0; i < expected.Count; i++)
            Assert.Equal(expected.Sequences[i], actual.Sequences[i]);
    }

    [Fact]
    public void SyntheticDefaultsAreDocumentedConstants()
    {
        var data = SequenceSources.Load("synthetic:motifs");
        AssertSame(SyntheticSequences.Generate("motifs", SequenceSources.DefaultClasses, SequenceSources.DefaultPerClass, 0,
            SequenceSources.DefaultMinLength, SequenceSources.DefaultMaxLength), data);
    }

    [Fact]
    public void SyntheticOptionsAreApplied()
    {
        var data = SequenceSources.Load("synthetic:noise-laws?classes=5&per-class=3&seed=9&min-length=40&max-length=41");
        AssertSame(SyntheticSequences.Generate("noise-laws", 5, 3, 9, 40, 41), data);
    }

    [Fact]
    public void FilesAreReadByExtension()
    {
        var data = SyntheticSequences.Generate("regimes", 3, 2, 1, 5, 9);
        var csv = Path.Combine(_folder, "d.csv");
        var parquet = Path.Combine(_folder, "d.PARQUET");
        SequenceFiles.WriteCsv(data, csv);
        SequenceFiles.WriteParquet(data, parquet);
        AssertSame(data, SequenceSources.Load(csv));
        AssertSame(data, SequenceSources.Load(parquet));
    }

    /// <summary>An IDX folder of n images 4×6 (pixel = (i + r·6 + c) mod 256) with labels i mod 3.</summary>
    private string IdxFolder(int n)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_folder, "idx")).FullName;
        foreach (var prefix in new[] { "train", "t10k" })
        {
            var images = new byte[16 + n * 24];
            images[2] = 8;
            images[3] = 3;
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), n);
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), 4);
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), 6);
            for (var i = 0; i < n; i++)
                for (var p = 0; p < 24; p++)
                    images[16 + i * 24 + p] = (byte)((i + p + (prefix == "t10k" ? 100 : 0)) % 256);
            var labels = new byte[8 + n];
            labels[2] = 8;
            labels[3] = 1;
            BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), n);
            for (var i = 0; i < n; i++)
                labels[8 + i] = (byte)(i % 3);
            File.WriteAllBytes(Path.Combine(folder, $"{prefix}-images-idx3-ubyte"), images);
            File.WriteAllBytes(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte"), labels);
        }
        return folder;
    }

    [Fact]
    public void ImagesAreReadRowByRow()
    {
        var folder = IdxFolder(9);
        var data = SequenceSources.Load($"idx-rows:{folder}");
        Assert.Equal(9, data.Count);
        Assert.Equal(6, data.Channels);
        Assert.Equal(4, data.MaxLength);
        Assert.Equal((2 + 1 * 6 + 5) / 255f, data.Sequences[2][1, 5], 6);
        Assert.Equal([0, 1, 2, 0, 1, 2, 0, 1, 2], data.Labels);
        var test = SequenceSources.Load($"idx-rows:{folder}?train=false");
        Assert.Equal(100 / 255f, test.Sequences[0][0, 0], 6);
    }

    [Fact]
    public void ImagesCanBeSampledPerClassAndDownsampled()
    {
        var folder = IdxFolder(30);
        var sampled = SequenceSources.Load($"idx-rows:{folder}?per-class=4&seed=3");
        Assert.Equal(12, sampled.Count);
        Assert.All(sampled.Classes, k => Assert.Equal(4, sampled.Labels.Count(l => l == k)));
        Assert.Equal(sampled.Ids, SequenceSources.Load($"idx-rows:{folder}?per-class=4&seed=3").Ids);
        Assert.NotEqual(sampled.Ids, SequenceSources.Load($"idx-rows:{folder}?per-class=4&seed=4").Ids);
        var small = SequenceSources.Load($"idx-rows:{folder}?downsample=2");
        Assert.Equal(2, small.MaxLength);
        Assert.Equal(3, small.Channels);
        // Image 0, block rows 2-3 × columns 2-3: pixels 14, 15, 20, 21.
        Assert.Equal((14 + 15 + 20 + 21) / 4f / 255f, small.Sequences[0][1, 1], 6);
    }

    [Fact]
    public void MnistRowsAreTwentyEightStepsOfTwentyEightChannels()
    {
        var root = ImageDatasets.DataRoot;
        if (File.Exists(Path.Combine(root, "mnist", "t10k-labels-idx1-ubyte")) || File.Exists(Path.Combine(root, "mnist", "t10k-labels-idx1-ubyte.gz")))
        {
            var data = SequenceSources.Load("mnist-rows?train=false&per-class=5&seed=1");
            Assert.Equal(50, data.Count);
            Assert.Equal(28, data.Channels);
            Assert.Equal(28, data.MinLength);
            Assert.Equal(Enumerable.Range(0, 10).Select(k => k.ToString()), data.LabelNames);
        }
        else
        {
            var e = Assert.Throws<FileNotFoundException>(() => SequenceSources.Load("mnist-rows?train=false"));
            Assert.Contains("distembed data fetch mnist", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void FashionMnistRowsCarryGarmentNames()
    {
        var root = ImageDatasets.DataRoot;
        if (Directory.Exists(Path.Combine(root, "fashion-mnist")))
        {
            var data = SequenceSources.Load("fashion-mnist-rows?train=false&per-class=2&downsample=2");
            Assert.Equal(20, data.Count);
            Assert.Equal(14, data.Channels);
            Assert.Equal("Ankle boot", data.LabelNames[9]);
        }
        else
        {
            Assert.Throws<FileNotFoundException>(() => SequenceSources.Load("fashion-mnist-rows"));
        }
    }

    [Theory]
    [InlineData("nonsense", "unknown sequence source 'nonsense'")]
    [InlineData("synthetic:waves", "unknown synthetic task 'waves'")]
    [InlineData("synthetic:motifs?colour=red", "unknown option 'colour'")]
    [InlineData("synthetic:motifs?classes", "not of the form name=value")]
    [InlineData("synthetic:motifs?classes=two", "option classes = 'two'")]
    [InlineData("synthetic:motifs?seed=1&seed=2", "appears twice")]
    [InlineData("mnist-rows?train=maybe", "must be true or false")]
    [InlineData("mnist-rows?per-class=0", "per-class = 0")]
    [InlineData("mnist-rows?depth=3", "unknown option 'depth'")]
    [InlineData("", "")]
    public void BadSpecificationsAreRejected(string spec, string fragment)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => SequenceSources.Load(spec));
        Assert.Equal("spec", e.ParamName);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DownsampleMustDivideTheImage()
    {
        var folder = IdxFolder(3);
        var e = Assert.Throws<ArgumentException>(() => SequenceSources.Load($"idx-rows:{folder}?downsample=4"));
        Assert.Contains("must be ≥ 1 and divide the image size 4×6", e.Message, StringComparison.Ordinal);
    }
}
