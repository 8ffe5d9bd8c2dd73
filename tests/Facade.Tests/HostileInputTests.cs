using System.Buffers.Binary;
using System.IO.Compression;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The hostile inputs of issue 18 that used to crash, eat memory or give a silently wrong result: each is now a correct
/// result or a one-line error naming the file or option, within a memory bound.
/// </summary>
[Collection("Fuzz")]
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Temp(string name) => Path.Combine(_dir, name);

    /// <summary>Managed bytes allocated by the process while <paramref name="action"/> runs (the fuzz collection runs
    /// alone, so other tests do not add to it).</summary>
    internal static long AllocatedDuring(Action action)
    {
        var before = GC.GetTotalAllocatedBytes(precise: true);
        action();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }

    [Fact]
    public void Idx_header_whose_size_product_wraps_is_refused_before_any_allocation()
    {
        // [16, 2^30, 2^30] bytes: the 64-bit product 2^64 used to wrap to 0 and pass the size check.
        var path = Temp("wrap.idx");
        File.WriteAllBytes(path, IdxTestFiles.Header(8, 16, 1 << 30, 1 << 30));
        InvalidDataException? e = null;
        var allocated = AllocatedDuring(() => e = Assert.Throws<InvalidDataException>(() => Idx.Read(path)));
        Assert.Contains(path, e!.Message);
        Assert.Contains("needs more than", e.Message);
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void Idx_gzip_that_expands_beyond_its_header_is_refused_after_the_claimed_size()
    {
        // A 100-byte image set followed by 64 MiB of zeros: a gzip of ~64 KB.
        var path = Temp("bomb.idx.gz");
        using (var file = File.Create(path))
        using (var z = new GZipStream(file, CompressionLevel.Fastest))
        {
            z.Write([.. IdxTestFiles.Header(8, 100), .. new byte[100]]);
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 64; i++) z.Write(zeros);
        }
        Assert.True(new FileInfo(path).Length < 1 << 20);
        InvalidDataException? e = null;
        var allocated = AllocatedDuring(() => e = Assert.Throws<InvalidDataException>(() => Idx.Read(path)));
        Assert.Contains(path, e!.Message);
        Assert.Contains("trailing bytes", e.Message);
        Assert.True(allocated < 8 << 20, $"{allocated} bytes allocated for a 100-byte array");
    }

    [Fact]
    public void Idx_gzip_whose_header_claims_more_than_the_stream_holds_is_truncated_not_preallocated()
    {
        var path = Temp("claims.idx.gz");
        using (var file = File.Create(path))
        using (var z = new GZipStream(file, CompressionLevel.Fastest))
            z.Write([.. IdxTestFiles.Header(8, 1 << 30), .. new byte[1000]]);
        InvalidDataException? e = null;
        var allocated = AllocatedDuring(() => e = Assert.Throws<InvalidDataException>(() => Idx.Read(path)));
        Assert.Contains(path, e!.Message);
        Assert.Contains("truncated", e.Message);
        Assert.True(allocated < 64 << 20, $"{allocated} bytes allocated for a 1000-byte stream");
    }

    [Fact]
    public void Csv_line_longer_than_the_limit_is_refused_without_holding_it()
    {
        var path = Temp("long.csv");
        using (var w = new StreamWriter(path))
        {
            w.Write("sequence_id,label,step,x0\n");
            var chunk = new string('9', 1 << 20);
            for (var i = 0; i < 24; i++) w.Write(chunk);
        }
        SequenceDataException? e = null;
        var allocated = AllocatedDuring(() => e = Assert.Throws<SequenceDataException>(() => SequenceFiles.Read(path)));
        Assert.Contains(path, e!.Message);
        Assert.Contains("line 2", e.Message);
        Assert.Contains("longer than", e.Message);
        Assert.True(allocated < 48 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void Csv_lines_ending_in_crlf_cr_or_nothing_read_as_before()
    {
        var path = Temp("ends.csv");
        File.WriteAllText(path, "sequence_id,label,step,x0\r\na,1,0,1.5\ra,1,1,2\r\n\r\nb,2,0,3\nb,2,1,4");
        var data = SequenceFiles.Read(path);
        Assert.Equal(2, data.Count);
        Assert.Equal(2f, data.Sequences[0][1, 0]);
        Assert.Equal(4f, data.Sequences[1][1, 0]);
    }

    private string ValidParquet(string name)
    {
        var path = Temp(name);
        SequenceFiles.WriteParquet(SequenceTestData.Make(3, 2, 5, 4, 6), path);
        return path;
    }

    [Fact]
    public void Parquet_footer_length_beyond_the_file_is_a_one_line_error()
    {
        var path = ValidParquet("footer.parquet");
        var bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(bytes.Length - 8), int.MaxValue);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<SequenceDataException>(() => SequenceFiles.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("footer", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void Parquet_with_corrupt_pages_is_a_one_line_error_naming_the_file()
    {
        var original = File.ReadAllBytes(ValidParquet("pages.parquet"));
        var rng = new Random(18);
        var failures = 0;
        for (var trial = 0; trial < 40; trial++)
        {
            var bytes = (byte[])original.Clone();
            // Flip bytes in the data pages (after the leading magic, before the footer).
            for (var k = 0; k < 8; k++)
                bytes[rng.Next(4, bytes.Length / 2)] ^= (byte)rng.Next(1, 256);
            var path = Temp($"pages-{trial}.parquet");
            File.WriteAllBytes(path, bytes);
            try
            {
                SequenceFiles.Read(path);
            }
            catch (SequenceDataException e)
            {
                failures++;
                Assert.Contains(path, e.Message);
                Assert.DoesNotContain("\n", e.Message);
            }
        }
        Assert.True(failures > 0, "some flipped files must be detected");
    }

    [Fact]
    public void Projections_beyond_the_bound_are_refused_when_the_distance_is_made()
    {
        var e = Assert.Throws<ArgumentException>(() => Distances.Create("sliced-w2", new DistanceOptions { Projections = 2_000_000_000 }));
        Assert.Equal("projections", e.ParamName);
        Assert.Contains("at most 65536", e.Message);
        Assert.Equal("DistanceSettings.Projections", Assert.Throws<ArgumentException>(() =>
            new TrainerOptions { DistanceSettings = new DistanceSettings { Projections = 100_000 } }.Validate()).ParamName);
        Assert.Equal("count", Assert.Throws<ArgumentException>(() =>
            SlicedWasserstein.RandomDirections(70_000, 3, 0L, torch.ScalarType.Float32, torch.CPU)).ParamName);
    }

    [Fact]
    public void Model_sizes_beyond_the_bounds_are_refused_before_allocation()
    {
        var e = Assert.Throws<ArgumentException>(() => new EmbedderOptions { Hidden = 2_000_000_000 }.Validate());
        Assert.Equal("Hidden", e.ParamName);
        Assert.Contains("[1, 4096]", e.Message);
        var s = Assert.Throws<ArgumentException>(() => SequenceSources.Load("synthetic:noise-laws?per-class=2000000000"));
        Assert.Contains("per-class = 2000000000", s.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(s.Message, "\\(Parameter"));
    }

    [Fact]
    public void Zero_directions_are_rejected_not_turned_into_a_zero_distance()
    {
        using var scope = torch.NewDisposeScope();
        var directions = torch.tensor(new double[,] { { 1, 0 }, { 0, 0 } });
        var e = Assert.Throws<ArgumentException>(() => Distances.SlicedWasserstein(directions));
        Assert.Equal("directions", e.ParamName);
        Assert.Contains("row 1 is zero", e.Message);
        var allZero = torch.zeros(3, 2, dtype: torch.ScalarType.Float64);
        Assert.Throws<ArgumentException>(() => Distances.Create("max-sliced-w2", new DistanceOptions { Directions = allZero }));
        // Non-zero directions of any norm are still used as given.
        var scaled = Distances.SlicedWasserstein(torch.tensor(new double[,] { { 2, 0 } }));
        var a = DistributionBatch.FromSequences([new double[,] { { 0, 0 } }], torch.CPU);
        var b = DistributionBatch.FromSequences([new double[,] { { 1, 5 } }], torch.CPU);
        Assert.Equal(2.0, scaled.Paired(a, b).to_type(torch.ScalarType.Float64).item<double>(), 6);
    }

    [Fact]
    public void Float32_euclidean_of_large_coordinates_is_finite_where_the_distance_fits()
    {
        using var scope = torch.NewDisposeScope();
        var x = new float[,] { { 1e20f, -2e20f, 3e20f }, { 1e-20f, 0f, -1e-20f }, { 5f, 6f, 7f } };
        var y = new float[,] { { -1e20f, 1e20f, 0f }, { 0f, 2e-20f, 0f }, { 5f, 6f, 7f } };
        double Exact(int i, int j, float[,] p, float[,] q, double power = 2)
        {
            var s = 0.0;
            for (var k = 0; k < 3; k++) s += Math.Pow(Math.Abs((double)p[i, k] - q[j, k]), power);
            return Math.Pow(s, 1 / power);
        }
        var a = VectorBatch.FromTensor(torch.tensor(x));
        var b = VectorBatch.FromTensor(torch.tensor(y));
        foreach (var (name, power) in new[] { ("euclidean", 2.0), ("lp", 3.0) })
        {
            var distance = Distances.Create(name, new DistanceOptions { P = power });
            var paired = distance.Paired(a, b).data<float>().ToArray();
            var pairwise = distance.Pairwise(a, b).data<float>().ToArray();
            for (var i = 0; i < 3; i++)
            {
                var exact = Exact(i, i, x, y, power);
                Assert.True(double.IsFinite(paired[i]), $"{name} paired[{i}] = {paired[i]}");
                Assert.Equal(exact, paired[i], exact * 1e-5 + 1e-45);
            }
            // Pairwise rows share one scale: the 1e20 pairs are exact to float32 rounding.
            Assert.Equal(Exact(0, 0, x, y, power), pairwise[0], Exact(0, 0, x, y, power) * 1e-5);
            Assert.Equal(Exact(0, 2, x, y, power), pairwise[2], Exact(0, 2, x, y, power) * 1e-5);
            Assert.True(pairwise.All(float.IsFinite), string.Join(", ", pairwise));
        }
        var cosine = Distances.Create("cosine", null).Paired(a, a).data<float>().ToArray();
        Assert.All(cosine, c => Assert.Equal(0.0, c, 1e-6));
    }

    [Fact]
    public void One_class_validation_is_refused_instead_of_reporting_map_at_r_one()
    {
        var train = SequenceTestData.Make(4, 6, 1);
        var valid = SequenceTestData.Make(1, 6, 2, labelOffset: 50);
        var options = new TrainerOptions { Epochs = 1, ClassesPerBatch = 2, ItemsPerClass = 2 };
        using var model = SequenceEmbedder.Create(new EmbedderOptions { InputChannels = 2, Hidden = 4, Features = 2, Layers = 1, Quantiles = 4 }, 0);
        var e = Assert.Throws<ArgumentException>(() => SequenceTrainer.Train(model, train, valid, options, null));
        Assert.Equal("valid", e.ParamName);
        Assert.Contains("1 class", e.Message);
    }

    [Fact]
    public void Wrapped_argument_errors_end_in_one_parameter_suffix()
    {
        var path = Temp("bad-shape.npy");
        Npy.Write(path, new float[8], [2, 2, 2]);
        var e = Assert.ThrowsAny<ArgumentException>(() => Embeddings.Load(path, null, Representation.Vectors));
        Assert.Contains(path, e.Message);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(e.Message, "\\(Parameter"));
    }
}

/// <summary>The command-line side of issue 18's smaller defects: one-line errors naming the option, nothing overwritten.</summary>
[Collection("Console")]
public sealed class HostileCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("distembed-hostile-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Temp(string name) => Path.Combine(_dir, name);

    private static void AssertOneLineError((int Code, string Stdout, string Stderr) run, params string[] expected)
    {
        Assert.True(run.Code == 1, $"exit {run.Code}: {run.Stderr}");
        var lines = run.Stderr.Trim().Split('\n');
        Assert.True(lines.Length == 1, run.Stderr);
        Assert.StartsWith("error: ", lines[0]);
        foreach (var text in expected)
            Assert.Contains(text, lines[0]);
    }

    private (string A, string B) Clouds()
    {
        var (a, b) = (Temp("a.npy"), Temp("b.npy"));
        Npy.Write(a, Enumerable.Range(0, 24).Select(i => (float)Math.Sin(i)).ToArray(), [2, 4, 3]);
        Npy.Write(b, Enumerable.Range(0, 24).Select(i => (float)Math.Cos(i) + 3).ToArray(), [2, 4, 3]);
        return (a, b);
    }

    [Fact]
    public void Distance_out_naming_a_folder_is_refused_before_computing()
    {
        var (a, b) = Clouds();
        var folder = Directory.CreateDirectory(Temp("outdir")).FullName;
        AssertOneLineError(CliRunner.Run("distance", "--a", a, "--b", b, "--metric", "marginal-w2", "--out", folder), "--out", "existing folder");
        AssertOneLineError(CliRunner.Run("distance", "--a", a, "--b", b, "--metric", "marginal-w2", "--out", Temp("no/such/dir/x.npy")), "--out", "does not exist");
    }

    [Fact]
    public void Distance_projections_beyond_the_bound_name_the_option()
    {
        var (a, b) = Clouds();
        AssertOneLineError(CliRunner.Run("distance", "--a", a, "--b", b, "--metric", "sliced-w2", "--projections", "2000000000"), "--projections", "65536");
    }

    [Fact]
    public void Distance_zero_directions_name_the_option()
    {
        var (a, b) = Clouds();
        var dirs = Temp("dirs.npy");
        Npy.Write(dirs, new double[6], [2, 3]);
        AssertOneLineError(CliRunner.Run("distance", "--a", a, "--b", b, "--metric", "sliced-w2", "--directions", dirs), "--directions", "row 0 is zero");
    }

    [Fact]
    public void Generate_refuses_one_file_for_points_and_mask_and_sizes_beyond_the_bound()
    {
        var same = Temp("same.npy");
        AssertOneLineError(CliRunner.Run("generate", "--out", same, "--mask-out", same), "--mask-out", "same file");
        Assert.False(File.Exists(same));
        AssertOneLineError(CliRunner.Run("generate", "--out", Temp("big.npy"), "--count", "2000000000"), "--count");
        Assert.False(File.Exists(Temp("big.npy")));
        var ok = CliRunner.Run("generate", "--out", Temp("ok.npy"), "--count", "3");
        Assert.True(ok.Code == 0, ok.Stderr);
    }

    [Fact]
    public void Train_errors_name_the_options_not_the_api_fields()
    {
        const string data = "synthetic:noise-laws?classes=4&per-class=4&seed=1&min-length=8&max-length=10";
        var model = Temp("model");
        var run = CliRunner.Run("train", "--train", data, "--batch-size", "4", "--out", model);
        AssertOneLineError(run, "--batch-size");
        Assert.DoesNotContain("ClassesPerBatch", run.Stderr);
        run = CliRunner.Run("train", "--train", data, "--hidden", "2000000000", "--out", model);
        AssertOneLineError(run, "--hidden = 2000000000");
        Assert.DoesNotContain("Hidden", run.Stderr);
        run = CliRunner.Run("train", "--train", data, "--projections", "2000000000", "--distance", "sliced-w2", "--head", "distribution", "--out", model);
        AssertOneLineError(run, "--projections = 2000000000");
        Assert.DoesNotContain("(Parameter 'projections') (Parameter", run.Stderr);
        var oneClass = Temp("one.csv");
        File.WriteAllText(oneClass, "sequence_id,label,step,x0,x1\n" + string.Join("\n", Enumerable.Range(0, 8).SelectMany(i => new[] { $"s{i},a,0,{i},1", $"s{i},a,1,{i + 1},2" })) + "\n");
        AssertOneLineError(CliRunner.Run("train", "--train", data, "--valid", oneClass, "--out", model), "--valid", "1 class");
        Assert.False(Directory.Exists(model), "nothing is written when the options are bad");
    }
}

/// <summary>Runs the hostile-input tests alone: their memory bounds read the process's allocation counter.</summary>
[CollectionDefinition("Fuzz", DisableParallelization = true)]
public sealed class FuzzCollection;
