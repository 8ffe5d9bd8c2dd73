using DistEmbed.Data;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The synthetic suite: determinism, shapes, equal first moments across classes (large samples), and that the
/// classes are told apart by the distribution of the steps but not by their mean.
/// </summary>
public sealed class SyntheticSequencesTests
{
    [Fact]
    public void TasksAreListedAndCopied()
    {
        Assert.Equal(["noise-laws", "motifs", "regimes"], SyntheticSequences.Tasks);
        SyntheticSequences.Tasks[0] = "changed";
        Assert.Equal("noise-laws", SyntheticSequences.Tasks[0]);
        Assert.Equal(484, SyntheticSequences.MaxClasses("noise-laws"));
    }

    [Theory]
    [InlineData("noise-laws", 2)]
    [InlineData("motifs", 3)]
    [InlineData("regimes", 2)]
    public void GenerationIsSeededAndShaped(string task, int channels)
    {
        var a = SyntheticSequences.Generate(task, 5, 4, 3, 32, 64);
        var b = SyntheticSequences.Generate(task, 5, 4, 3, 32, 64);
        var c = SyntheticSequences.Generate(task, 5, 4, 4, 32, 64);
        Assert.Equal(20, a.Count);
        Assert.Equal(channels, a.Channels);
        Assert.Equal(channels, SyntheticSequences.ChannelsOf(task));
        Assert.InRange(a.MinLength, 32, 64);
        Assert.InRange(a.MaxLength, 32, 64);
        Assert.True(a.Sequences.Select(s => s.GetLength(0)).Distinct().Count() > 1, "lengths vary");
        Assert.Equal(Enumerable.Range(0, 5).SelectMany(k => Enumerable.Repeat(k, 4)), a.Labels);
        Assert.Equal(5, a.LabelNames.Distinct().Count());
        Assert.Equal($"{task}-2-3", a.Ids[11]);
        for (var i = 0; i < a.Count; i++)
            Assert.Equal(a.Sequences[i], b.Sequences[i]);
        Assert.NotEqual(a.Sequences[0], c.Sequences[0]);
        Assert.Equal(a.LabelNames, c.LabelNames);
    }

    [Fact]
    public void ClassDefinitionsDoNotDependOnTheNumberOfClasses()
    {
        var few = SyntheticSequences.Generate("regimes", 3, 2, 9, 20, 20);
        var many = SyntheticSequences.Generate("regimes", 7, 2, 9, 20, 20);
        Assert.Equal(few.LabelNames, many.LabelNames.Take(3));
        for (var i = 0; i < few.Count; i++)
            Assert.Equal(few.Sequences[i], many.Sequences[i]);
    }

    /// <summary>Per-class, per-channel mean and variance over every step of many sequences.</summary>
    private static (double Mean, double Variance)[,] Moments(SequenceDataset data, int classes, Func<int, int, int> group, int groups)
    {
        var sums = new double[groups, data.Channels];
        var squares = new double[groups, data.Channels];
        var counts = new double[groups, data.Channels];
        for (var i = 0; i < data.Count; i++)
        {
            var s = data.Sequences[i];
            for (var k = 0; k < data.Channels; k++)
            {
                var g = group(data.Labels[i], k);
                for (var t = 0; t < s.GetLength(0); t++)
                {
                    sums[g, k] += s[t, k];
                    squares[g, k] += (double)s[t, k] * s[t, k];
                    counts[g, k]++;
                }
            }
        }
        var result = new (double, double)[groups, data.Channels];
        for (var g = 0; g < groups; g++)
            for (var k = 0; k < data.Channels; k++)
            {
                if (counts[g, k] == 0)
                    continue;
                var mean = sums[g, k] / counts[g, k];
                result[g, k] = (mean, squares[g, k] / counts[g, k] - mean * mean);
            }
        return result;
    }

    [Fact]
    public void EveryNoiseLawHasMeanZeroAndVarianceOne()
    {
        // All 484 classes, so each of the 22 laws appears in 22 classes on each channel (44 000 draws per law).
        var data = SyntheticSequences.Generate("noise-laws", 484, 20, 1, 50, 50);
        var laws = data.LabelNames.SelectMany(n => n.Split('+')).Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(22, laws.Length);
        var lawOf = laws.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i);
        var sums = new double[22];
        var squares = new double[22];
        var counts = new double[22];
        for (var i = 0; i < data.Count; i++)
        {
            var pair = data.LabelNames[data.Labels[i]].Split('+');
            var s = data.Sequences[i];
            for (var k = 0; k < 2; k++)
                for (var t = 0; t < s.GetLength(0); t++)
                {
                    var law = lawOf[pair[k]];
                    sums[law] += s[t, k];
                    squares[law] += (double)s[t, k] * s[t, k];
                    counts[law]++;
                }
        }
        for (var law = 0; law < 22; law++)
        {
            var mean = sums[law] / counts[law];
            var variance = squares[law] / counts[law] - mean * mean;
            Assert.True(Math.Abs(mean) < 0.03, $"{laws[law]}: mean {mean}");
            Assert.True(Math.Abs(variance - 1) < 0.06, $"{laws[law]}: variance {variance}");
        }
    }

    [Theory]
    [InlineData("motifs")]
    [InlineData("regimes")]
    public void EveryClassHasMeanZeroAndVarianceOneOnEveryChannel(string task)
    {
        var data = SyntheticSequences.Generate(task, 8, 1500, 2, 24, 24);
        var moments = Moments(data, 8, (label, _) => label, 8);
        for (var k = 0; k < 8; k++)
            for (var c = 0; c < data.Channels; c++)
            {
                var (mean, variance) = moments[k, c];
                Assert.True(Math.Abs(mean) < 0.06, $"class {k} channel {c}: mean {mean}");
                Assert.True(Math.Abs(variance - 1) < 0.08, $"class {k} channel {c}: variance {variance}");
            }
    }

    /// <summary>Leave-one-out 1-NN accuracy (Euclidean) of per-sequence feature vectors.</summary>
    private static double NearestNeighbourAccuracy(double[][] features, IReadOnlyList<int> labels)
    {
        var hits = 0;
        for (var i = 0; i < features.Length; i++)
        {
            var best = -1;
            var bestDistance = double.PositiveInfinity;
            for (var j = 0; j < features.Length; j++)
            {
                if (j == i)
                    continue;
                var d = features[i].Zip(features[j], (a, b) => (a - b) * (a - b)).Sum();
                if (d < bestDistance)
                {
                    bestDistance = d;
                    best = j;
                }
            }
            hits += labels[best] == labels[i] ? 1 : 0;
        }
        return hits / (double)features.Length;
    }

    private static double[] MeanFeatures(float[,] s) =>
        Enumerable.Range(0, s.GetLength(1)).Select(k => Enumerable.Range(0, s.GetLength(0)).Average(t => (double)s[t, k])).ToArray();

    private static double[] QuantileFeatures(float[,] s) =>
        Enumerable.Range(0, s.GetLength(1)).SelectMany(k =>
        {
            var sorted = Enumerable.Range(0, s.GetLength(0)).Select(t => (double)s[t, k]).Order().ToArray();
            return Enumerable.Range(1, 9).Select(q => sorted[(int)(q / 10.0 * (sorted.Length - 1))]);
        }).ToArray();

    [Theory]
    [InlineData("noise-laws", 0.6)]
    [InlineData("regimes", 0.2)]
    [InlineData("motifs", 0.2)]
    public void StepDistributionsSeparateClassesWhereStepMeansDoNot(string task, double margin)
    {
        var data = SyntheticSequences.Generate(task, 12, 10, 4, 200, 300);
        var byMean = NearestNeighbourAccuracy(data.Sequences.Select(MeanFeatures).ToArray(), data.Labels);
        var byQuantiles = NearestNeighbourAccuracy(data.Sequences.Select(QuantileFeatures).ToArray(), data.Labels);
        Assert.True(byQuantiles > byMean + margin, $"{task}: 1-NN accuracy by deciles {byQuantiles:0.00}, by means {byMean:0.00}");
    }

    [Theory]
    [InlineData("bogus", 4, 2, 8, 16, "task")]
    [InlineData("noise-laws", 1, 2, 8, 16, "classes")]
    [InlineData("noise-laws", 485, 2, 8, 16, "classes")]
    [InlineData("motifs", 4, 0, 8, 16, "perClass")]
    [InlineData("motifs", 4, 2, 1, 16, "minLength")]
    [InlineData("regimes", 4, 2, 8, 7, "maxLength")]
    [InlineData("regimes", 4, 2, 8, 100_001, "maxLength")]
    public void BadArgumentsAreRejected(string task, int classes, int perClass, int minLength, int maxLength, string parameter)
    {
        var e = Assert.Throws<ArgumentException>(() => SyntheticSequences.Generate(task, classes, perClass, 0, minLength, maxLength));
        Assert.Equal(parameter, e.ParamName);
    }
}
