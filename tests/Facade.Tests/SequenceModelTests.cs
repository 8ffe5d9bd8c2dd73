using DistEmbed.Core;
using DistEmbed.Sequences;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests;

public class SequenceModelTests
{
    private static (Tensor X, Tensor Mask) Padded(int[] lengths, int channels, int tMax, int seed, double padValue)
    {
        var rng = new Random(seed);
        var data = new float[lengths.Length * tMax * channels];
        var mask = new bool[lengths.Length * tMax];
        for (var b = 0; b < lengths.Length; b++)
            for (var t = 0; t < tMax; t++)
                for (var k = 0; k < channels; k++)
                {
                    var valid = t < lengths[b];
                    mask[b * tMax + t] = valid;
                    data[(b * tMax + t) * channels + k] = valid ? (float)(rng.NextDouble() * 2 - 1) : (float)(padValue * (k + 1 + t));
                }
        return (torch.tensor(data, [lengths.Length, tMax, channels]), torch.tensor(mask, [lengths.Length, tMax]));
    }

    /// <summary>The same valid values, padded to a longer T with other garbage.</summary>
    private static (Tensor, Tensor, Tensor, Tensor) TwoPaddings(int[] lengths, int channels)
    {
        var (x1, m1) = Padded(lengths, channels, lengths.Max(), 3, 0.0);
        var (x2, m2) = Padded(lengths, channels, lengths.Max() + 7, 3, 0.0);
        // Same valid values: rebuild x2 from x1 plus garbage padding.
        var garbage = torch.full([lengths.Length, 7, channels], 123.0f);
        x2 = torch.cat([x1.masked_fill(m1.logical_not().unsqueeze(-1), -55.0f), garbage], 1);
        return (x1, m1, x2, m2);
    }

    [Theory]
    [InlineData("tcn")]
    [InlineData("gru")]
    public void EncoderOutputsAtValidStepsIgnorePadding(string encoder)
    {
        var model = SequenceEmbedder.Create(new EmbedderOptions { Encoder = encoder, Head = "mean", InputChannels = 3, Hidden = 8, Features = 4, Layers = 3 }, 1);
        int[] lengths = [4, 9, 13, 1];
        var (x1, m1, x2, m2) = TwoPaddings(lengths, 3);
        using var _ = torch.no_grad();
        var f1 = model.Features(x1, m1);
        var f2 = model.Features(x2, m2);
        var t1 = (int)x1.shape[1];
        Assert.True(f2.narrow(1, 0, t1).allclose(f1, rtol: 1e-5, atol: 1e-6));
        // Padded steps are zero in the output.
        Assert.Equal(0.0, f2.masked_select(m2.logical_not().unsqueeze(-1).expand_as(f2)).abs().sum().item<float>());
        // And the padding does change the input: a leaky encoder would differ.
        Assert.False(x2.narrow(1, 0, t1).allclose(x1));
    }

    [Theory]
    [InlineData("mean")]
    [InlineData("stats")]
    [InlineData("attention")]
    [InlineData("quantile")]
    [InlineData("distribution")]
    public void HeadsIgnorePadding(string head)
    {
        var model = SequenceEmbedder.Create(new EmbedderOptions { Head = head, InputChannels = 3, Hidden = 8, Features = 4, Layers = 2, Quantiles = 5 }, 2);
        int[] lengths = [4, 9, 13, 1];
        var (x1, m1, x2, m2) = TwoPaddings(lengths, 3);
        using var _ = torch.no_grad();
        using var e1 = model.forward(x1, m1);
        using var e2 = model.forward(x2, m2);
        var d = Distance.Create(model.Options.DefaultDistance());
        var paired = d.Paired(e1, e2);
        Assert.True(paired.abs().max().item<float>() < 1e-4, $"max paired distance {paired.abs().max().item<float>()}");
    }

    /// <summary>Hyndman–Fan type 7 in float64.</summary>
    private static double Type7(double[] values, double level)
    {
        var s = values.OrderBy(v => v).ToArray();
        var h = (s.Length - 1) * level;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, s.Length - 1);
        return s[lo] + (h - lo) * (s[hi] - s[lo]);
    }

    [Fact]
    public void QuantileLayerMatchesFloat64Type7OnUnequalLengths()
    {
        var rng = new Random(11);
        for (var trial = 0; trial < 20; trial++)
        {
            var b = rng.Next(1, 6);
            var d = rng.Next(1, 4);
            var lengths = Enumerable.Range(0, b).Select(_ => rng.Next(1, 12)).ToArray();
            var tMax = lengths.Max() + rng.Next(0, 3);
            var values = new double[b * tMax * d];
            var mask = new bool[b * tMax];
            for (var i = 0; i < b; i++)
                for (var t = 0; t < tMax; t++)
                {
                    mask[i * tMax + t] = t < lengths[i];
                    for (var k = 0; k < d; k++)
                        values[(i * tMax + t) * d + k] = t < lengths[i] ? Math.Round(rng.NextDouble() * 4 - 2, rng.Next(1, 4)) : 1e3;
                }
            var q = rng.Next(1, 9);
            var levels = Enumerable.Range(0, q).Select(_ => rng.NextDouble()).OrderBy(v => v).ToArray();
            using var x = torch.tensor(values, [b, tMax, d]);
            using var m = torch.tensor(mask, [b, tMax]);
            using var lv = torch.tensor(levels);
            using var result = QuantileLayer.Compute(x, m, lv);
            Assert.Equal(new long[] { b, d, q }, result.shape);
            var got = result.data<double>().ToArray();
            for (var i = 0; i < b; i++)
                for (var k = 0; k < d; k++)
                {
                    var column = Enumerable.Range(0, lengths[i]).Select(t => values[(i * tMax + t) * d + k]).ToArray();
                    for (var j = 0; j < q; j++)
                    {
                        var expected = Type7(column, levels[j]);
                        Assert.True(Math.Abs(got[(i * d + k) * q + j] - expected) <= 1e-12 * (1 + Math.Abs(expected)),
                            $"trial {trial} b={i} k={k} τ={levels[j]}: {got[(i * d + k) * q + j]} vs {expected}");
                    }
                }
        }
    }

    [Fact]
    public void QuantileLayerFloat32AgreesWithFloat64()
    {
        var (x, m) = Padded([7, 3, 12], 2, 12, 5, 9.0);
        using var lv = torch.tensor(QuantileBatch.MidpointLevels(10));
        var q64 = QuantileLayer.Compute(x.to_type(ScalarType.Float64), m, lv);
        var q32 = QuantileLayer.Compute(x, m, lv.to_type(ScalarType.Float32));
        Assert.True(q32.to_type(ScalarType.Float64).allclose(q64, rtol: 1e-5, atol: 1e-6));
        Assert.True(q32.diff(dim: 2).ge(0).all().item<bool>());
    }

    [Fact]
    public void QuantileLayerGradientsReachValidStepsOnlyAndLevels()
    {
        var (x, m) = Padded([5, 2, 8], 2, 8, 7, 3.0);
        x.requires_grad_(true);
        var head = new QuantileHead(6, learnable: true);
        using var e = head.forward(x.mul(m.unsqueeze(-1).to_type(x.dtype)), m);
        e.Values.pow(2).sum().backward();
        var g = x.grad!;
        Assert.True(g.abs().sum().item<float>() > 0);
        Assert.Equal(0.0f, g.masked_select(m.logical_not().unsqueeze(-1).expand_as(g)).abs().sum().item<float>());
        var levelGrad = head.parameters().Single().grad!;
        Assert.True(levelGrad.abs().sum().item<float>() > 0);
        var levels = head.Levels(ScalarType.Float32);
        Assert.True(levels.diff().gt(0).all().item<bool>());
    }

    /// <summary>
    /// Learned levels stay strictly increasing in (0, 1) in float32 and float64 for extreme logits (one logit far below
    /// or above the others, ±1e4 spreads, ties), so a forward pass builds a valid <see cref="QuantileBatch"/> and
    /// gradients reach the logits; θ = 0 still gives q/(Q+1). A float32 softmax + cumsum collapsed or reached 1 here.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void LearnedQuantileLevelsStayStrictlyInsideZeroOneForExtremeLogits(int pattern)
    {
        const int q = 8;
        var head = new QuantileHead(q, learnable: true);
        var theta = head.parameters().Single();
        using (var zero = head.Levels(ScalarType.Float64))
        {
            var start = zero.data<double>().ToArray();
            for (var i = 0; i < q; i++) Assert.Equal((i + 1) / (q + 1.0), start[i], 1e-6);
        }
        var logits = pattern switch
        {
            0 => Enumerable.Range(0, q + 1).Select(j => j == 3 ? -200.0 : 0.0).ToArray(),   // one cell vanishes in float32
            1 => Enumerable.Range(0, q + 1).Select(j => j == q ? -200.0 : 0.0).ToArray(),   // τ_Q → 1 in float32
            2 => Enumerable.Range(0, q + 1).Select(j => j == 0 ? 1e4 : 0.0).ToArray(),      // one cell takes all mass
            3 => Enumerable.Range(0, q + 1).Select(j => j % 2 == 0 ? 1e4 : -1e4).ToArray(),
            _ => Enumerable.Range(0, q + 1).Select(j => 40.0 * j).ToArray(),
        };
        using (torch.no_grad()) theta.copy_(torch.tensor(logits, ScalarType.Float32));
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            using var levels = head.Levels(dtype);
            var l = levels.to_type(ScalarType.Float64).data<double>().ToArray();
            Assert.True(l[0] > 0 && l[q - 1] < 1, $"pattern {pattern}, {dtype}: levels [{string.Join(", ", l)}] leave (0, 1)");
            for (var i = 1; i < q; i++)
                Assert.True(l[i] > l[i - 1], $"pattern {pattern}, {dtype}: τ_{i + 1} = {l[i]:R} ≤ τ_{i} = {l[i - 1]:R}");
        }
        var (x, m) = Padded([5, 2, 8], 2, 8, 7, 3.0);
        using var e = head.forward(x.mul(m.unsqueeze(-1).to_type(x.dtype)), m);
        e.Values.sum().backward();
        Assert.True(theta.grad!.isfinite().all().item<bool>());
    }

    [Fact]
    public void BadInputsNameTheArgument()
    {
        var ex = Assert.Throws<ArgumentException>(() => SequenceEmbedder.Create(new EmbedderOptions { Encoder = "lstm" }, 0));
        Assert.Equal("Encoder", ex.ParamName);
        Assert.Contains("unknown encoder 'lstm'", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => SequenceEmbedder.Create(new EmbedderOptions { Head = "max" }, 0));
        Assert.Equal("Head", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => SequenceEmbedder.Create(new EmbedderOptions { KernelSize = 4 }, 0));
        Assert.Equal("KernelSize", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => SequenceEmbedder.Create(new EmbedderOptions { Features = 0 }, 0));
        Assert.Equal("Features", ex.ParamName);
        var model = SequenceEmbedder.Create(new EmbedderOptions { InputChannels = 2, Hidden = 4, Features = 3, Layers = 1 }, 0);
        var (x, m) = Padded([3, 4], 3, 4, 1, 0);
        ex = Assert.Throws<ArgumentException>(() => model.forward(x, m));
        Assert.Equal("x", ex.ParamName);
        Assert.Contains("[B, T, 2]", ex.Message);
        var (x2, _) = Padded([3, 4], 2, 4, 1, 0);
        ex = Assert.Throws<ArgumentException>(() => model.forward(x2, torch.ones([2, 5], ScalarType.Bool)));
        Assert.Equal("mask", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => model.forward(x2, torch.zeros([2, 4], ScalarType.Bool)));
        Assert.Equal("mask", ex.ParamName);
        Assert.Contains("no valid step", ex.Message);
    }
}
