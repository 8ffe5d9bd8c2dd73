using DistEmbed.Data;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>The standardiser (fit on train only, zero variance, JSON) and the class-disjoint splits.</summary>
public sealed class SequencePreparationTests
{
    private static SequenceDataset Data(int classes = 10, int perClass = 3) =>
        SyntheticSequences.Generate("noise-laws", classes, perClass, 5, 4, 9);

    [Fact]
    public void StandardizerFitsMeanAndPopulationStdOverAllSteps()
    {
        var train = new SequenceDataset(
            [new float[,] { { 1, 10 }, { 3, 10 } }, new float[,] { { 5, 10 } }], [0, 1]);
        var standardizer = Standardizer.Fit(train);
        Assert.Equal([3.0, 10.0], standardizer.Means);
        Assert.Equal(Math.Sqrt(8.0 / 3.0), standardizer.Stds[0], 12);
        Assert.Equal(1.0, standardizer.Stds[1]);
        var applied = standardizer.Apply(train);
        Assert.Equal(new float[,] { { (float)(-2 / Math.Sqrt(8.0 / 3.0)), 0 }, { 0, 0 } }, applied.Sequences[0]);
        Assert.Equal(train.Ids, applied.Ids);
        Assert.Equal(train.Labels, applied.Labels);
        Assert.Equal(1f, train.Sequences[0][0, 0]);
    }

    [Fact]
    public void StandardizedTrainingDataHasZeroMeanUnitVariance()
    {
        var raw = Data();
        var shifted = new SequenceDataset(
            raw.Sequences.Select(s =>
            {
                var copy = (float[,])s.Clone();
                for (var t = 0; t < copy.GetLength(0); t++)
                {
                    copy[t, 0] = copy[t, 0] * 40 + 1000;
                    copy[t, 1] = copy[t, 1] * 0.01f - 3;
                }
                return copy;
            }).ToArray(), raw.Labels, raw.Ids, raw.LabelNames);
        var applied = Standardizer.Fit(shifted).Apply(shifted);
        for (var k = 0; k < 2; k++)
        {
            var values = applied.Sequences.SelectMany(s => Enumerable.Range(0, s.GetLength(0)).Select(t => (double)s[t, k])).ToArray();
            var mean = values.Average();
            Assert.InRange(mean, -1e-4, 1e-4);
            Assert.InRange(values.Select(v => (v - mean) * (v - mean)).Average(), 1 - 1e-4, 1 + 1e-4);
        }
    }

    [Fact]
    public void StandardizerJsonRoundTripIsExact()
    {
        var standardizer = new Standardizer([0.1, -1e-300, 12345.678901234567], [1.0 / 3, 1e-7, 2]);
        var back = Standardizer.FromJson(standardizer.ToJson());
        Assert.Equal(standardizer.Means, back.Means);
        Assert.Equal(standardizer.Stds, back.Stds);
        Assert.Contains("\"kind\":\"standardizer\"", standardizer.ToJson(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadJson => new()
    {
        { "{", "not valid JSON" },
        { "[1,2]", "\"kind\": \"standardizer\"" },
        { "{\"kind\":\"other\",\"means\":[0],\"stds\":[1]}", "\"kind\": \"standardizer\"" },
        { "{\"kind\":\"standardizer\",\"stds\":[1]}", "no array \"means\"" },
        { "{\"kind\":\"standardizer\",\"means\":[0],\"stds\":[\"1\"]}", "\"stds\"[0] is not a number" },
        { "{\"kind\":\"standardizer\",\"means\":[0],\"stds\":[0]}", "stds[0] = 0 must be finite and > 0" },
        { "{\"kind\":\"standardizer\",\"means\":[0,1],\"stds\":[1]}", "stds has 1 entries but means has 2" },
    };

    [Theory]
    [MemberData(nameof(BadJson))]
    public void StandardizerFromJsonRejectsBadInput(string json, string fragment)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => Standardizer.FromJson(json));
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StandardizerRejectsBadStatisticsAndChannelMismatch()
    {
        Assert.Equal("means", Assert.Throws<ArgumentException>(() => new Standardizer([], [])).ParamName);
        Assert.Equal("means", Assert.Throws<ArgumentException>(() => new Standardizer([double.NaN], [1])).ParamName);
        Assert.Equal("stds", Assert.Throws<ArgumentException>(() => new Standardizer([0], [-1])).ParamName);
        Assert.Equal("stds", Assert.Throws<ArgumentException>(() => new Standardizer([0], [double.PositiveInfinity])).ParamName);
        var e = Assert.Throws<ArgumentException>(() => new Standardizer([0, 0, 0], [1, 1, 1]).Apply(Data()));
        Assert.Equal("dataset", e.ParamName);
        Assert.Contains("2 features", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ClassDisjointSplitsPartitionTheClasses()
    {
        var data = Data(20, 3);
        var splits = Splits.ClassDisjoint(data, 0.2, 0.3, 11);
        var train = splits.Train.Classes;
        var valid = splits.Valid.Classes;
        var test = splits.Test.Classes;
        Assert.Equal(6, test.Length);
        Assert.Equal(4, valid.Length);
        Assert.Equal(10, train.Length);
        Assert.Empty(train.Intersect(valid));
        Assert.Empty(train.Intersect(test));
        Assert.Empty(valid.Intersect(test));
        Assert.Equal(data.Count, splits.Train.Count + splits.Valid.Count + splits.Test.Count);
        Assert.Equal(data.Ids.Order(), splits.Train.Ids.Concat(splits.Valid.Ids).Concat(splits.Test.Ids).Order());
        Assert.Equal(data.LabelNames, splits.Test.LabelNames);
        var again = Splits.ClassDisjoint(data, 0.2, 0.3, 11);
        Assert.Equal(test, again.Test.Classes);
        Assert.Equal(splits.Train.Ids, again.Train.Ids);
        Assert.NotEqual(test, Splits.ClassDisjoint(data, 0.2, 0.3, 12).Test.Classes);
    }

    [Fact]
    public void ClassDisjointGivesEveryPartAClassWhenFractionsAreSmall()
    {
        var splits = Splits.ClassDisjoint(Data(3, 2), 0.01, 0.01, 0);
        Assert.Single(splits.Test.Classes);
        Assert.Single(splits.Valid.Classes);
        Assert.Single(splits.Train.Classes);
    }

    [Theory]
    [InlineData(0.0, 0.3, "validFraction")]
    [InlineData(1.0, 0.3, "validFraction")]
    [InlineData(double.NaN, 0.3, "validFraction")]
    [InlineData(0.3, -0.1, "testFraction")]
    [InlineData(0.3, double.PositiveInfinity, "testFraction")]
    [InlineData(0.5, 0.5, "testFraction")]
    [InlineData(0.45, 0.45, "dataset")]
    public void ClassDisjointRejectsBadFractions(double valid, double test, string parameter)
    {
        var e = Assert.Throws<ArgumentException>(() => Splits.ClassDisjoint(Data(10, 2), valid, test, 0));
        Assert.Equal(parameter, e.ParamName);
    }
}
