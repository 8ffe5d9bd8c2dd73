using DistEmbed.Core;
using DistEmbed.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Sequences;

/// <summary>The kind and hyper-parameters of a <see cref="SequenceEmbedder"/> (stored in a checkpoint's manifest).</summary>
public sealed record EmbedderOptions
{
    /// <summary>The encoder names accepted by <see cref="Encoder"/>.</summary>
    public static IReadOnlyList<string> EncoderNames { get; } = ["tcn", "gru"];

    /// <summary>The head names accepted by <see cref="Head"/>.</summary>
    public static IReadOnlyList<string> HeadNames { get; } = ["quantile", "distribution", "mean", "stats", "attention"];

    /// <summary>The encoder: <c>tcn</c> (default) or <c>gru</c>.</summary>
    public string Encoder { get; init; } = "tcn";

    /// <summary>The head: <c>quantile</c> (default), <c>distribution</c>, <c>mean</c>, <c>stats</c> or <c>attention</c>.</summary>
    public string Head { get; init; } = "quantile";

    /// <summary>The number of input channels C (≥ 1).</summary>
    public int InputChannels { get; init; } = 1;

    /// <summary>The hidden width H of the encoder (≥ 1). Default 32.</summary>
    public int Hidden { get; init; } = 32;

    /// <summary>The number d of per-step features (≥ 1). Default 8.</summary>
    public int Features { get; init; } = 8;

    /// <summary>Residual blocks (TCN) or GRU layers (≥ 1). Default 3.</summary>
    public int Layers { get; init; } = 3;

    /// <summary>The TCN kernel size (odd, ≥ 1). Default 3.</summary>
    public int KernelSize { get; init; } = 3;

    /// <summary>The number of quantile levels Q of the quantile head (≥ 1). Default 16.</summary>
    public int Quantiles { get; init; } = 16;

    /// <summary>Learned monotone quantile levels instead of the midpoints. Default false.</summary>
    public bool LearnableLevels { get; init; }

    /// <summary>The attention projection size of the attention head (≥ 1). Default 16.</summary>
    public int AttentionSize { get; init; } = 16;

    /// <summary>The distance a head's embeddings are compared with by default: quantile-w2, marginal-w2 or euclidean.</summary>
    /// <returns>A name for <c>Distances.Create</c>.</returns>
    public string DefaultDistance() => Head switch
    {
        "quantile" => "quantile-w2",
        "distribution" => "marginal-w2",
        _ => "euclidean",
    };

    /// <summary>The largest width (<see cref="InputChannels"/>, <see cref="Hidden"/>, <see cref="Features"/>,
    /// <see cref="Quantiles"/>, <see cref="AttentionSize"/>) <see cref="Validate"/> accepts: 4096. The bounds make a
    /// mistyped size (a manifest's or an option's) fail before any weight is allocated.</summary>
    public const int MaxWidth = 4096;

    /// <summary>The most layers <see cref="Validate"/> accepts: 64.</summary>
    public const int MaxLayers = 64;

    /// <summary>The largest kernel size <see cref="Validate"/> accepts: 255.</summary>
    public const int MaxKernelSize = 255;

    /// <summary>Checks every field.</summary>
    /// <exception cref="ArgumentException">An unknown encoder or head, or a size out of range, the upper bounds being
    /// <see cref="MaxWidth"/>, <see cref="MaxLayers"/> and <see cref="MaxKernelSize"/> (the message names the field).</exception>
    public void Validate()
    {
        if (!EncoderNames.Contains(Encoder))
            throw new ArgumentException($"unknown encoder '{Encoder}'; known: {string.Join(", ", EncoderNames)}.", nameof(Encoder));
        if (!HeadNames.Contains(Head))
            throw new ArgumentException($"unknown head '{Head}'; known: {string.Join(", ", HeadNames)}.", nameof(Head));
        Require.Between(nameof(InputChannels), InputChannels, 1, MaxWidth);
        Require.Between(nameof(Hidden), Hidden, 1, MaxWidth);
        Require.Between(nameof(Features), Features, 1, MaxWidth);
        Require.Between(nameof(Layers), Layers, 1, MaxLayers);
        Require.Between(nameof(KernelSize), KernelSize, 1, MaxKernelSize);
        if (KernelSize % 2 == 0)
            throw new ArgumentException($"KernelSize = {KernelSize}; an odd kernel is required.", nameof(KernelSize));
        Require.Between(nameof(Quantiles), Quantiles, 1, MaxWidth);
        Require.Between(nameof(AttentionSize), AttentionSize, 1, MaxWidth);
    }
}

/// <summary>
/// A sequence embedding model: an encoder (per-step features) followed by a head (vector, distribution or quantile
/// embedding). Input: a padded batch x [B, T, C] with its mask [B, T]; output: an <see cref="EmbeddingBatch"/>.
/// </summary>
/// <remarks>
/// With the quantile or distribution head and a Wasserstein distance this is the distributional sequence embedding of
/// [1]: a sequence is represented by the distribution of its learned local features, compared by (marginal) W_2.
/// [1] A. Abdelwahab, N. Landwehr, "Deep Distributional Sequence Embeddings Based on a Wasserstein Loss",
/// Neural Processing Letters (2022), arXiv:1912.01933.
/// </remarks>
public sealed class SequenceEmbedder : nn.Module<Tensor, Tensor, EmbeddingBatch>
{
    private readonly SequenceEncoder encoder;
    private readonly EmbeddingHead head;

    private SequenceEmbedder(EmbedderOptions options, SequenceEncoder encoder, EmbeddingHead head) : base("sequence_embedder")
    {
        Options = options;
        this.encoder = encoder;
        this.head = head;
        RegisterComponents();
    }

    /// <summary>The kind and hyper-parameters.</summary>
    public EmbedderOptions Options { get; }

    /// <summary>The encoder.</summary>
    public SequenceEncoder Encoder => encoder;

    /// <summary>The head.</summary>
    public EmbeddingHead Head => head;

    /// <summary>The representation of the embeddings.</summary>
    public Representation Representation => head.Representation;

    /// <summary>
    /// Builds a model and initialises every parameter from a seeded <see cref="SplitMix64"/> stream (independent of
    /// torch's global generator): weights and biases uniform in ±1/√fan_in (PyTorch's default bound for Linear,
    /// Conv1d and GRU), learned quantile logits zero.
    /// </summary>
    /// <param name="options">The kind and hyper-parameters.</param>
    /// <param name="seed">The initialisation seed.</param>
    /// <returns>The model on the CPU, float32, in training mode.</returns>
    /// <exception cref="ArgumentException">Invalid options (see <see cref="EmbedderOptions.Validate"/>).</exception>
    public static SequenceEmbedder Create(EmbedderOptions options, long seed)
    {
        ArgumentNullException.ThrowIfNull(options);
        NativeRuntime.EnsureInitialized();
        options.Validate();
        SequenceEncoder encoder = options.Encoder == "gru"
            ? new GruEncoder(options.InputChannels, options.Hidden, options.Features, options.Layers)
            : new TemporalConvEncoder(options.InputChannels, options.Hidden, options.Features, options.Layers, options.KernelSize);
        EmbeddingHead head = options.Head switch
        {
            "quantile" => new QuantileHead(options.Quantiles, options.LearnableLevels),
            "distribution" => new DistributionHead(),
            "mean" => new MeanPoolingHead(),
            "stats" => new StatisticsPoolingHead(),
            _ => new AttentionPoolingHead(options.Features, options.AttentionSize),
        };
        var model = new SequenceEmbedder(options, encoder, head);
        model.Initialise(seed);
        return model;
    }

    private void Initialise(long seed)
    {
        var rng = new SplitMix64(unchecked((ulong)seed) ^ 0x5DEECE66DUL);
        using var _ = torch.no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("logits", StringComparison.Ordinal))
            {
                p.zero_();
                continue;
            }
            var fanIn = FanIn(name, p);
            var bound = 1.0 / Math.Sqrt(fanIn);
            var values = new float[p.numel()];
            for (var i = 0; i < values.Length; i++) values[i] = (float)((2.0 * rng.NextDouble() - 1.0) * bound);
            using var t = torch.tensor(values, p.shape, dtype: p.dtype);
            p.copy_(t);
        }
    }

    private long FanIn(string name, Tensor p)
    {
        if (name.Contains("gru", StringComparison.Ordinal)) return Options.Hidden;
        if (p.dim() >= 2) return p.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        // A bias: the fan-in of the weight it belongs to.
        var weightName = name[..name.LastIndexOf('.')] + ".weight";
        foreach (var (n, w) in named_parameters())
            if (n == weightName) return w.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        return p.shape[0];
    }

    /// <summary>Per-step features of the encoder, [B, T, d], zero at padded steps.</summary>
    /// <param name="x">[B, T, C].</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <returns>[B, T, d].</returns>
    public Tensor Features(Tensor x, Tensor mask) => encoder.forward(x, mask);

    /// <summary>Embeds a padded batch.</summary>
    /// <param name="x">[B, T, C] float32 (the model's dtype), right-padded.</param>
    /// <param name="mask">[B, T] bool, true at valid steps, at least one per row.</param>
    /// <returns>The embeddings in <see cref="Representation"/>.</returns>
    /// <exception cref="ArgumentException">Wrong shapes (x must have C = <c>Options.InputChannels</c>) or an empty row.</exception>
    public override EmbeddingBatch forward(Tensor x, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var features = encoder.forward(x, mask);
        var batch = head.forward(features, mask);
        return BatchScope.MoveOut(batch);
    }

    /// <summary>
    /// Embeds a whole data set in evaluation mode without gradients, in batches, and returns the embeddings as one
    /// batch on the CPU (distributions padded to the data set's longest sequence).
    /// </summary>
    /// <param name="data">The sequences (C = <c>Options.InputChannels</c>).</param>
    /// <param name="batchSize">Sequences per forward pass (≥ 1).</param>
    /// <param name="device">The device the batches go to, the model's; null = the device the model's parameters are on
    /// (where a trainer with <see cref="Devices.Default"/> put it).</param>
    /// <returns>The N embeddings, float32, on the CPU. The caller disposes it.</returns>
    /// <exception cref="ArgumentException">Channel mismatch or batchSize &lt; 1.</exception>
    public EmbeddingBatch EmbedAll(SequenceDataset data, int batchSize = 256, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        Require.AtLeast(nameof(batchSize), batchSize, 1);
        if (data.Channels != Options.InputChannels)
            throw new ArgumentException($"data has {data.Channels} channels but the model expects {Options.InputChannels}.", nameof(data));
        device ??= Training.ModuleWeights.DeviceOf(this);
        var wasTraining = training;
        eval();
        try
        {
            using var _ = torch.no_grad();
            using var scope = NewDisposeScope();
            var tMax = data.MaxLength;
            var parts = new List<Tensor>();
            var weights = new List<Tensor>();
            Tensor? levels = null;
            for (var start = 0; start < data.Count; start += batchSize)
            {
                var idx = Enumerable.Range(start, Math.Min(batchSize, data.Count - start)).ToArray();
                using var b = data.ToBatch(idx, device);
                var e = forward(b.Features, b.Mask);
                switch (e.Core)
                {
                    case VectorBatch v: parts.Add(v.Values.cpu()); break;
                    case QuantileBatch q: parts.Add(q.Values.cpu()); levels = q.Levels.cpu(); break;
                    case DistributionBatch d:
                        var pad = tMax - d.Length;
                        parts.Add(nn.functional.pad(d.Points, [0, 0, 0, pad]).cpu());
                        weights.Add(nn.functional.pad(d.Weights, [0, pad]).cpu());
                        break;
                }
            }
            var all = torch.cat(parts, 0);
            IEmbeddingBatch result = Representation switch
            {
                Representation.Vectors => VectorBatch.FromTensor(all),
                Representation.Quantiles => QuantileBatch.FromTensor(all, levels!.clone()),
                _ => DistributionBatch.FromTensors(all, torch.cat(weights, 0)),
            };
            return EmbeddingBatch.Wrap(BatchScope.MoveOut(result));
        }
        finally
        {
            train(wasTraining);
        }
    }
}
