using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DistEmbed.Sequences;

/// <summary>
/// A sequence encoder: a module from a padded batch of sequences <c>x</c> [B, T, C] and its validity mask [B, T]
/// (bool, true = a real step) to per-step features [B, T, d], zero at padded steps. Outputs at valid steps never
/// depend on what the padded steps hold, nor on how many there are.
/// </summary>
public abstract class SequenceEncoder : nn.Module<Tensor, Tensor, Tensor>
{
    /// <summary>Names the module.</summary>
    /// <param name="name">The module name.</param>
    protected SequenceEncoder(string name) : base(name) { }

    /// <summary>The number of input channels C.</summary>
    public abstract int InputChannels { get; }

    /// <summary>The number of output features d per step.</summary>
    public abstract int OutputFeatures { get; }

    /// <summary>Checks x [B, T, C] and mask [B, T] (bool) against this encoder.</summary>
    /// <param name="x">[B, T, C] floating tensor.</param>
    /// <param name="mask">[B, T] bool tensor.</param>
    /// <exception cref="ArgumentException">A wrong rank, channel count, mask shape or dtype.</exception>
    protected void CheckInputs(Tensor x, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(mask);
        if (x.dim() != 3 || x.shape[2] != InputChannels)
            throw new ArgumentException($"x has shape [{string.Join(",", x.shape)}]; the encoder expects [B, T, {InputChannels}].", nameof(x));
        if (mask.dim() != 2 || mask.shape[0] != x.shape[0] || mask.shape[1] != x.shape[1])
            throw new ArgumentException($"mask has shape [{string.Join(",", mask.shape)}] but x has shape [{string.Join(",", x.shape)}]; mask must be [B, T].", nameof(mask));
        if (mask.dtype != ScalarType.Bool)
            throw new ArgumentException($"mask has dtype {mask.dtype}; a bool mask is required.", nameof(mask));
    }
}

/// <summary>
/// Temporal convolutional encoder (TCN): a pointwise input projection C → H, <c>layers</c> residual blocks
/// h ← h + ReLU(Conv1d_{k, dilation 2^l}(h ⊙ m)) with "same" zero padding, and a pointwise output projection H → d.
/// </summary>
/// <remarks>
/// Padding-aware: the masked steps are zeroed before every convolution, so a valid output reads only valid inputs and
/// zeros — exactly what the convolution's own zero padding would give for the unpadded sequence — and the output is
/// zeroed at padded steps. The receptive field is 1 + (k − 1)(2^L − 1) steps.
/// [1] S. Bai, J. Z. Kolter, V. Koltun, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for
/// Sequence Modeling", arXiv:1803.01271 (2018), §3 (dilated residual convolutions).
/// </remarks>
public sealed class TemporalConvEncoder : SequenceEncoder
{
    private readonly Linear input;
    private readonly ModuleList<Conv1d> blocks;
    private readonly Linear output;
    private readonly List<long> padding = [];
    private readonly int channels;
    private readonly int features;

    /// <summary>Builds the encoder (parameters drawn by TorchSharp's initialisers; see <see cref="SequenceEmbedder.Create"/> for seeded initialisation).</summary>
    /// <param name="inputChannels">C ≥ 1.</param>
    /// <param name="hidden">H ≥ 1.</param>
    /// <param name="outputFeatures">d ≥ 1.</param>
    /// <param name="layers">L ≥ 1 residual blocks (dilations 1, 2, 4, …).</param>
    /// <param name="kernelSize">k ≥ 1, odd.</param>
    /// <exception cref="ArgumentException">A size below 1 or an even kernel.</exception>
    public TemporalConvEncoder(int inputChannels, int hidden, int outputFeatures, int layers, int kernelSize) : base("tcn")
    {
        Require.AtLeast(nameof(inputChannels), inputChannels, 1);
        Require.AtLeast(nameof(hidden), hidden, 1);
        Require.AtLeast(nameof(outputFeatures), outputFeatures, 1);
        Require.AtLeast(nameof(layers), layers, 1);
        Require.AtLeast(nameof(kernelSize), kernelSize, 1);
        if (kernelSize % 2 == 0)
            throw new ArgumentException($"kernelSize = {kernelSize}; an odd kernel is required (symmetric \"same\" padding).", nameof(kernelSize));
        channels = inputChannels;
        features = outputFeatures;
        input = nn.Linear(inputChannels, hidden);
        blocks = new ModuleList<Conv1d>();
        for (var l = 0; l < layers; l++)
        {
            var dilation = 1L << l;
            blocks.Add(nn.Conv1d(hidden, hidden, kernelSize, dilation: dilation));
            padding.Add(dilation * (kernelSize - 1) / 2);
        }
        output = nn.Linear(hidden, outputFeatures);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override int InputChannels => channels;

    /// <inheritdoc/>
    public override int OutputFeatures => features;

    /// <summary>
    /// The "same" dilated convolution of <paramref name="conv"/>'s weights and bias as a sum of k matrix products
    /// over shifted views of the zero-padded input: y[:, :, t] = b + Σ_j W[:, :, j] x_pad[:, :, t + j·δ].
    /// </summary>
    /// <remarks>libtorch's CPU dilated convolution kernels were seen to return NaN or garbage from finite inputs on
    /// some shapes (TorchSharp 0.107), so the convolution is formed from matrix products, which are exact and stable.</remarks>
    private static Tensor DilatedConvolution(Conv1d conv, Tensor x, long pad)
    {
        using var scope = NewDisposeScope();
        var weight = conv.weight!;
        var k = weight.shape[2];
        var t = x.shape[2];
        var dilation = k > 1 ? 2 * pad / (k - 1) : 1;
        var padded = nn.functional.pad(x, [pad, pad]);
        var y = conv.bias!.view(1, -1, 1).expand(x.shape[0], -1, t);
        for (var j = 0L; j < k; j++)
            y = y.add(torch.matmul(weight.select(2, j), padded.narrow(2, j * dilation, t)), Scalars.One);
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Encodes a padded batch.</summary>
    /// <param name="x">[B, T, C] float tensor (padded steps may hold anything finite).</param>
    /// <param name="mask">[B, T] bool, true at valid steps.</param>
    /// <returns>[B, T, d] features, zero at padded steps.</returns>
    public override Tensor forward(Tensor x, Tensor mask)
    {
        CheckInputs(x, mask);
        using var scope = NewDisposeScope();
        var m = mask.unsqueeze(-1).to_type(x.dtype);
        var mt = m.transpose(1, 2);
        var h = input.forward(x.mul(m)).transpose(1, 2);
        for (var l = 0; l < blocks.Count; l++)
            h = h.add(nn.functional.relu(DilatedConvolution(blocks[l], h.mul(mt), padding[l])), Scalars.One);
        return output.forward(h.mul(mt).transpose(1, 2)).mul(m).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Recurrent encoder: a unidirectional GRU (C → H, <c>layers</c> layers, batch first) and a pointwise projection H → d.
/// </summary>
/// <remarks>
/// A unidirectional recurrence reads steps 1..t for its output at step t, so in a right-padded batch the outputs at
/// valid steps never see the padding; the outputs at padded steps are zeroed.
/// [1] K. Cho et al., "Learning Phrase Representations using RNN Encoder–Decoder for Statistical Machine
/// Translation", EMNLP 2014, eq. 5–8 (gated recurrent unit).
/// </remarks>
public sealed class GruEncoder : SequenceEncoder
{
    private readonly GRU gru;
    private readonly Linear output;
    private readonly int channels;
    private readonly int features;

    /// <summary>Builds the encoder.</summary>
    /// <param name="inputChannels">C ≥ 1.</param>
    /// <param name="hidden">H ≥ 1.</param>
    /// <param name="outputFeatures">d ≥ 1.</param>
    /// <param name="layers">Stacked GRU layers ≥ 1.</param>
    /// <exception cref="ArgumentException">A size below 1.</exception>
    public GruEncoder(int inputChannels, int hidden, int outputFeatures, int layers) : base("gru")
    {
        Require.AtLeast(nameof(inputChannels), inputChannels, 1);
        Require.AtLeast(nameof(hidden), hidden, 1);
        Require.AtLeast(nameof(outputFeatures), outputFeatures, 1);
        Require.AtLeast(nameof(layers), layers, 1);
        channels = inputChannels;
        features = outputFeatures;
        gru = nn.GRU(inputChannels, hidden, numLayers: layers, batchFirst: true);
        output = nn.Linear(hidden, outputFeatures);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override int InputChannels => channels;

    /// <inheritdoc/>
    public override int OutputFeatures => features;

    /// <summary>Encodes a right-padded batch.</summary>
    /// <param name="x">[B, T, C] float tensor; each sequence's valid steps come first (right padding).</param>
    /// <param name="mask">[B, T] bool, true at valid steps.</param>
    /// <returns>[B, T, d] features, zero at padded steps.</returns>
    public override Tensor forward(Tensor x, Tensor mask)
    {
        CheckInputs(x, mask);
        using var scope = NewDisposeScope();
        var m = mask.unsqueeze(-1).to_type(x.dtype);
        var (h, _) = gru.forward(x.mul(m), null);
        return output.forward(h).mul(m).MoveToOuterDisposeScope();
    }
}
