using DistEmbed.Data;
using Parquet;
using Parquet.Schema;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>The long-form sequence reader and writer: round trips in CSV and Parquet, and every error path.</summary>
public sealed class SequenceFilesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("seqfiles-tests-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Temp(string name) => Path.Combine(_folder, name);

    private string Csv(string name, string text)
    {
        var path = Temp(name);
        File.WriteAllText(path, text);
        return path;
    }

    private static SequenceDataset Sample() =>
        new(
            [
                new float[,] { { 1.5f, -2f }, { 0.1f, 3.25e-7f }, { float.MaxValue, -0f } },
                new float[,] { { 4f, 5f } },
                new float[,] { { -1f, 1f }, { 2f, 2f } },
            ],
            [1, 0, 1],
            ["seq,a", "b \"quoted\"", "c"],
            ["cat", "dog, big"]);

    private static void AssertSame(SequenceDataset expected, SequenceDataset actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Ids, actual.Ids);
        Assert.Equal(expected.Labels, actual.Labels);
        Assert.Equal(expected.LabelNames, actual.LabelNames);
        for (var i = 0; i < expected.Count; i++)
            Assert.Equal(expected.Sequences[i], actual.Sequences[i]);
    }

    [Fact]
    public void CsvRoundTripIsExact()
    {
        var path = Temp("round.csv");
        SequenceFiles.WriteCsv(Sample(), path);
        AssertSame(Sample(), SequenceFiles.Read(path));
        Assert.Equal([path], Directory.GetFiles(_folder));
    }

    [Fact]
    public void ParquetRoundTripIsExact()
    {
        var path = Temp("round.parquet");
        SequenceFiles.WriteParquet(Sample(), path);
        AssertSame(Sample(), SequenceFiles.Read(path));
    }

    [Fact]
    public void SyntheticRoundTripThroughBothFormats()
    {
        var data = SyntheticSequences.Generate("regimes", 3, 4, 7, 5, 12);
        SequenceFiles.WriteParquet(data, Temp("s.parquet"));
        SequenceFiles.WriteCsv(SequenceFiles.Read(Temp("s.parquet")), Temp("s.csv"));
        AssertSame(data, SequenceFiles.Read(Temp("s.csv")));
    }

    [Fact]
    public void UnorderedInterleavedStepsAndStringLabelsAreAssembled()
    {
        var path = Csv("unordered.csv",
            "x1,step,label,sequence_id,x0\n" +
            "20,2,b,s1,2\n" +
            "\n" +
            "10,0,a,s2,1\n" +
            "0,0,b,s1,0\n" +
            "10,1,b,s1,1\n");
        var data = SequenceFiles.Read(path);
        Assert.Equal(["s1", "s2"], data.Ids);
        Assert.Equal(["a", "b"], data.LabelNames);
        Assert.Equal([1, 0], data.Labels);
        Assert.Equal(new float[,] { { 0, 0 }, { 1, 10 }, { 2, 20 } }, data.Sequences[0]);
        Assert.Equal(new float[,] { { 1, 10 } }, data.Sequences[1]);
    }

    [Fact]
    public void IntegerLabelsAreNumberedInNumericOrder()
    {
        var path = Csv("ints.csv", "sequence_id,label,step,x0\na,10,0,1\nb,9,0,2\nc,-1,0,3\n");
        var data = SequenceFiles.Read(path);
        Assert.Equal(["-1", "9", "10"], data.LabelNames);
        Assert.Equal([2, 1, 0], data.Labels);
    }

    private static void AssertFault(string path, string location, string? column, string fragment, Action read)
    {
        var e = Assert.Throws<SequenceDataException>(read);
        Assert.IsAssignableFrom<FormatException>(e);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains(location, e.Message, StringComparison.Ordinal);
        Assert.Equal(location, e.Location);
        if (column is not null)
            Assert.Contains($"column '{column}'", e.Message, StringComparison.Ordinal);
        Assert.Equal(column, e.Column);
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    private const string Header = "sequence_id,label,step,x0,x1\n";

    public static TheoryData<string, string, string, string?, string> CsvFaults => new()
    {
        { "wrong-count", Header + "a,0,0,1,2\na,0,1,1\n", "line 3", null, "4 fields, but the header has 5 columns (3 keys and d = 2 features)" },
        { "extra-field", Header + "a,0,0,1,2,3\n", "line 2", null, "6 fields" },
        { "non-numeric", Header + "a,0,0,1,2\na,0,1,1,abc\n", "line 3", "x1", "'abc' is not a number" },
        { "empty-value", Header + "a,0,0,,2\n", "line 2", "x0", "the value is missing" },
        { "non-numeric-step", Header + "a,0,one,1,2\n", "line 2", "step", "'one' is not a number" },
        { "fractional-step", Header + "a,0,0.5,1,2\n", "line 2", "step", "not a non-negative integer" },
        { "negative-step", Header + "a,0,-1,1,2\n", "line 2", "step", "not a non-negative integer" },
        { "nan", Header + "a,0,0,NaN,2\n", "line 2", "x0", "not finite" },
        { "infinity", Header + "a,0,0,1,-Infinity\n", "line 2", "x1", "not finite" },
        { "float-overflow", Header + "a,0,0,1e300,2\n", "line 2", "x0", "outside the float32 range" },
        { "missing-step", Header + "a,0,0,1,2\na,0,2,1,2\n", "line 3", "step", "misses step 1" },
        { "missing-first-step", Header + "a,0,1,1,2\n", "line 2", "step", "misses step 0" },
        { "duplicate-step", Header + "a,0,0,1,2\nb,0,0,1,2\na,0,0,3,4\n", "line 4", "step", "duplicate step 0 of sequence 'a' (already given at line 2)" },
        { "label-changes", Header + "a,0,0,1,2\na,1,1,1,2\n", "line 3", "label", "label '1' differs from label '0'" },
        { "empty-file", "", "line 1", null, "the file is empty" },
        { "blank-file", "\n  \n", "line 1", null, "the file is empty" },
        { "header-only", Header, "header", null, "no data rows" },
        { "missing-step-column", "sequence_id,label,x0\na,0,1\n", "header", "step", "missing required column" },
        { "missing-label-column", "sequence_id,step,x0\na,0,1\n", "header", "label", "missing required column" },
        { "missing-id-column", "label,step,x0\n0,0,1\n", "header", "sequence_id", "missing required column" },
        { "no-features", "sequence_id,label,step\na,0,0\n", "header", "x0", "missing feature columns" },
        { "feature-gap", "sequence_id,label,step,x0,x2\na,0,0,1,2\n", "header", "x1", "d is inconsistent" },
        { "unexpected-column", "sequence_id,label,step,x0,y\na,0,0,1,2\n", "header", "y", "unexpected column" },
        { "leading-zero-feature", "sequence_id,label,step,x00\na,0,0,1\n", "header", "x00", "unexpected column" },
        { "duplicate-column", "sequence_id,label,step,x0,x0\na,0,0,1,2\n", "header", "x0", "appears twice" },
        { "unclosed-quote", Header + "\"a,0,0,1,2\n", "line 2", "#1", "not closed" },
        { "text-after-quote", Header + "\"a\"b,0,0,1,2\n", "line 2", "#1", "text follows a closing quote" },
    };

    [Theory]
    [MemberData(nameof(CsvFaults))]
    public void CsvFaultsNameFileLocationAndColumn(string name, string text, string location, string? column, string fragment)
    {
        var path = Csv(name + ".csv", text);
        AssertFault(path, location, column, fragment, () => SequenceFiles.Read(path));
    }

    private async Task<string> Parquet(string name, ParquetSchema schema, params (DataField Field, Array Values)[] columns)
    {
        var path = Temp(name);
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream);
        using var group = writer.CreateRowGroup();
        foreach (var (field, values) in columns)
            switch (values)
            {
                case string[] s: await group.WriteAsync(field, s); break;
                case int[] i: await group.WriteAsync<int>(field, i); break;
                case long[] l: await group.WriteAsync<long>(field, l); break;
                case double[] d: await group.WriteAsync<double>(field, d); break;
                case double?[] n: await group.WriteAsync<double>(field, (ReadOnlyMemory<double?>)n); break;
                default: throw new ArgumentException("unsupported column type in the test");
            }
        return path;
    }

    [Fact]
    public async Task ParquetWithIntegerIdsLabelsAndDoubleFeaturesIsRead()
    {
        var id = new DataField<long>("sequence_id");
        var label = new DataField<int>("label");
        var step = new DataField<long>("step");
        var x0 = new DataField<double>("x0");
        var path = await Parquet("ints.parquet", new ParquetSchema(id, label, step, x0),
            (id, new long[] { 7, 7, 3 }), (label, new[] { 2, 2, 5 }), (step, new long[] { 1, 0, 0 }), (x0, new[] { 1.0, 0.5, -2.0 }));
        var data = SequenceFiles.Read(path);
        Assert.Equal(["7", "3"], data.Ids);
        Assert.Equal(["2", "5"], data.LabelNames);
        Assert.Equal(new float[,] { { 0.5f }, { 1f } }, data.Sequences[0]);
    }

    [Fact]
    public async Task ParquetFaultsNameFileRowAndColumn()
    {
        var id = new DataField<string>("sequence_id");
        var label = new DataField<string>("label");
        var step = new DataField<int>("step");
        var x0 = new DataField<double>("x0");
        var nx0 = new DataField<double?>("x0");
        var schema = new ParquetSchema(id, label, step, x0);
        string[] ids = ["a", "a", "a"], labels = ["u", "u", "u"];

        var nan = await Parquet("nan.parquet", schema, (id, ids), (label, labels), (step, new[] { 0, 1, 2 }), (x0, new[] { 0, double.NaN, 1 }));
        AssertFault(nan, "row 2", "x0", "not finite", () => SequenceFiles.Read(nan));

        var gap = await Parquet("gap.parquet", schema, (id, ids), (label, labels), (step, new[] { 0, 3, 1 }), (x0, new[] { 0.0, 1, 2 }));
        AssertFault(gap, "row 2", "step", "misses step 2", () => SequenceFiles.Read(gap));

        var duplicate = await Parquet("dup.parquet", schema, (id, ids), (label, labels), (step, new[] { 0, 1, 1 }), (x0, new[] { 0.0, 1, 2 }));
        AssertFault(duplicate, "row 3", "step", "duplicate step 1 of sequence 'a' (already given at row 2)", () => SequenceFiles.Read(duplicate));

        var nulls = await Parquet("null.parquet", new ParquetSchema(id, label, step, nx0),
            (id, ids), (label, labels), (step, new[] { 0, 1, 2 }), (nx0, new double?[] { 0, 1, null }));
        AssertFault(nulls, "row 3", "x0", "missing (null)", () => SequenceFiles.Read(nulls));

        var noStep = await Parquet("nostep.parquet", new ParquetSchema(id, label, x0), (id, ids), (label, labels), (x0, new[] { 0.0, 1, 2 }));
        AssertFault(noStep, "header", "step", "missing required column", () => SequenceFiles.Read(noStep));

        var textFeature = new DataField<string>("x0");
        var text = await Parquet("text.parquet", new ParquetSchema(id, label, step, textFeature),
            (id, ids), (label, labels), (step, new[] { 0, 1, 2 }), (textFeature, new[] { "1", "2", "3" }));
        AssertFault(text, "header", "x0", "not numeric", () => SequenceFiles.Read(text));
    }

    [Fact]
    public void EmptyAndCorruptParquetFilesAreRejected()
    {
        var empty = Temp("empty.parquet");
        File.WriteAllBytes(empty, []);
        AssertFault(empty, "row 1", null, "the file is empty", () => SequenceFiles.Read(empty));
        var corrupt = Temp("corrupt.parquet");
        File.WriteAllText(corrupt, "sequence_id,label,step,x0\n");
        AssertFault(corrupt, "header", null, "not a readable Parquet file", () => SequenceFiles.Read(corrupt));
    }

    [Fact]
    public void UnknownExtensionAndMissingFileAreRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => SequenceFiles.Read(Temp("data.tsv")));
        Assert.Equal("path", e.ParamName);
        Assert.Contains(".tsv", e.Message, StringComparison.Ordinal);
        Assert.Throws<FileNotFoundException>(() => SequenceFiles.Read(Temp("absent.csv")));
        Assert.Throws<ArgumentException>(() => SequenceFiles.WriteCsv(Sample(), " "));
        Assert.Throws<ArgumentNullException>(() => SequenceFiles.WriteParquet(null!, Temp("x.parquet")));
    }
}
