using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Autoencoders;

/// <summary>
/// A variational autoencoder on images trained as a plain VAE, as the triplet-based VAE (TVAE) of Ishfaq, Hoogi and
/// Rubin [1], or as W-TVAE (the triplet distance is the 2-Wasserstein distance between the Gaussian posteriors [2, 3]).
/// Create it with <see cref="Create"/>, train with <see cref="Fit"/>, evaluate with <see cref="Evaluate(float[,], int[], int, int, int)"/>, save with
/// <see cref="Save"/> and restore with <see cref="Load"/>.
/// </summary>
/// <remarks>
/// <para>Each step draws K = <see cref="TvaeOptions.BatchSize"/> random triplets (anchor, positive of the anchor's class,
/// negative of another class; <see cref="Samplers.TvaeTriplets"/>), encodes the 3K images, draws one reparameterised
/// sample per image and minimises the loss of <see cref="TvaeOptions"/> with Adam [4] at a constant learning rate by
/// default, the paper's (the trainers' <see cref="Sequences.AdamW"/> with no weight decay, whose state is checkpointed;
/// their warm-up + cosine schedule and gradient clipping when <see cref="TvaeOptions.WarmupFraction"/>,
/// <see cref="TvaeOptions.CosineDecay"/> or <see cref="TvaeOptions.ClipNorm"/> ask for them). The triplet hinge is the
/// library's <see cref="TripletMarginLoss.Compute"/> with the Euclidean distance, applied to the means (TVAE) or to
/// the vectors (μ, σ), whose Euclidean distance is the 2-Wasserstein distance of the diagonal Gaussians (W-TVAE; see
/// <see cref="VaeMath.DiagonalGaussianW2"/>).</para>
/// <para>Deterministic on the CPU for a seed: the initial weights come from <c>torch.random.manual_seed(Seed)</c> (this
/// sets TorchSharp's global seed), the triplets of epoch e from <see cref="Samplers.TvaeTriplets"/> with a seed mixed from
/// (Seed, e), and the noise from a generator of its own. Images are pixels in [0, 1], row-major, one row of rows·cols
/// values per image. Not thread-safe.</para>
/// <para>[1] H. Ishfaq, A. Hoogi, D. Rubin, "TVAE: Triplet-Based Variational Autoencoder using Metric Learning", arXiv 1802.04403, 2018, §3–4.</para>
/// <para>[2] C. R. Givens, R. M. Shortt, "A class of Wasserstein metrics for probability distributions", Michigan Math. J. 31 (1984), Proposition 7.</para>
/// <para>[3] D. C. Dowson, B. V. Landau, "The Fréchet distance between multivariate normal distributions", J. Multivariate Anal. 12 (1982).</para>
/// <para>[4] D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, arXiv 1412.6980.</para>
/// </remarks>
public sealed partial class Tvae : IDisposable
{
    /// <summary>The seed of the test triplets of <see cref="Evaluate(float[,], int[], int, int, int)"/> by default (the same for every variant and training seed).</summary>
    public const int DefaultEvaluationTripletSeed = 1802;

    /// <summary>The number of test triplets of <see cref="Evaluate(float[,], int[], int, int, int)"/> by default.</summary>
    public const int DefaultEvaluationTriplets = 10_000;

    /// <summary>The number of test images in the retrieval evaluation of <see cref="Evaluate(float[,], int[], int, int, int)"/> by default.</summary>
    public const int DefaultRetrievalItems = 10_000;

    /// <summary>The manifest's <c>format</c> value.</summary>
    public const string CheckpointFormat = "distembed-tvae/2";

    /// <summary>The manifest's <c>format</c> value of the earlier layout (weights in <c>model.bin</c>, no optimiser state); still loaded.</summary>
    public const string PreviousCheckpointFormat = "distembed-tvae/1";

    private const int EncodeChunk = 1000;
    private readonly VaeNetwork network;
    private readonly Sequences.AdamW optimizer;
    private readonly Generator noise;
    private readonly Device device;
    private int epochsTrained;
    private int targetEpochs;
    private bool resumable = true;

    private Tvae(TvaeOptions options, int rows, int cols, Device device)
    {
        Options = options;
        Rows = rows;
        Cols = cols;
        this.device = device;
        random.manual_seed(options.Seed);
        network = VaeNetwork.Create(options.Architecture, rows, cols, options.HiddenSize, options.LatentSize);
        network.to(device);
        // The trainers' one optimiser (an explicit, checkpointable state); with λ = 0 AdamW is Adam [4].
        optimizer = Training.OptimizerSetup.Create(network.parameters(), 0.0);
        noise = new Generator(unchecked((ulong)options.Seed ^ 0x5EED5EEDUL), device);
    }

    /// <summary>The hyper-parameters.</summary>
    public TvaeOptions Options { get; }

    /// <summary>Image height.</summary>
    public int Rows { get; }

    /// <summary>Image width.</summary>
    public int Cols { get; }

    /// <summary>Epochs trained so far (over all <see cref="Fit"/> calls, restored by <see cref="Load"/>).</summary>
    public int EpochsTrained => epochsTrained;

    /// <summary>The device the model lives on (e.g. <c>cpu</c>, <c>cuda:0</c>).</summary>
    public string DeviceName => device.ToString();

    /// <summary>The number of trainable parameters.</summary>
    public long ParameterCount => network.parameters().Sum(p => p.numel());

    /// <summary>A new, untrained model for rows × cols images.</summary>
    /// <param name="rows">Image height ≥ 1 (divisible by 4 for <see cref="TvaeArchitecture.Conv"/>).</param>
    /// <param name="cols">Image width ≥ 1 (divisible by 4 for <see cref="TvaeArchitecture.Conv"/>).</param>
    /// <param name="options">Hyper-parameters; null for the paper's defaults.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The model, its weights drawn from <see cref="TvaeOptions.Seed"/>.</returns>
    /// <exception cref="ArgumentException">Invalid options (ParamName the property), rows or cols &lt; 1 or not divisible by 4 for the convolutional network, an unknown device.</exception>
    public static Tvae Create(int rows, int cols, TvaeOptions? options = null, string device = Devices.Default)
    {
        NativeRuntime.EnsureInitialized();
        options ??= new TvaeOptions();
        options.Validate();
        Require.AtLeast(nameof(rows), rows, 1);
        Require.AtLeast(nameof(cols), cols, 1);
        if (options.Architecture == TvaeArchitecture.Conv && (rows % 4 != 0 || cols % 4 != 0))
            throw new ArgumentException($"images are {rows} × {cols}; the convolutional network needs rows and cols divisible by 4.", nameof(rows));
        return new Tvae(options, rows, cols, Devices.Resolve(device));
    }

    /// <summary>The posterior means and log-variances of images.</summary>
    /// <param name="images">[N, rows·cols] pixels in [0, 1].</param>
    /// <returns>Means and log-variances, each [N, L].</returns>
    /// <exception cref="ArgumentException">Images not [N, rows·cols] or a pixel outside [0, 1].</exception>
    public TvaePosteriors Encode(float[,] images)
    {
        CheckPixels(images);
        using var scope = NewDisposeScope();
        var (mean, logVariance) = EncodeAll(images);
        return new TvaePosteriors(ToArray(mean), ToArray(logVariance));
    }

    /// <summary>Reconstructions: the decoder's Bernoulli means sigmoid(ℓ(μ(x))) at the posterior means.</summary>
    /// <param name="images">[N, rows·cols] pixels in [0, 1].</param>
    /// <returns>[N, rows·cols] in [0, 1].</returns>
    /// <exception cref="ArgumentException">Images not [N, rows·cols] or a pixel outside [0, 1].</exception>
    public float[,] Reconstruct(float[,] images)
    {
        CheckPixels(images);
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var (mean, _) = EncodeAll(images);
        return ToArray(network.DecodeLogits(mean).sigmoid());
    }

    /// <summary>Releases the network, optimiser and generator.</summary>
    public void Dispose()
    {
        optimizer.Dispose();
        network.Dispose();
        noise.Dispose();
    }

    private (Tensor Mean, Tensor LogVariance) EncodeAll(float[,] images)
    {
        using var guard = no_grad();
        var n = images.GetLength(0);
        var means = new List<Tensor>();
        var logVariances = new List<Tensor>();
        using var data = tensor(images, device: device);
        for (var start = 0; start < n; start += EncodeChunk)
        {
            var (m, v) = network.Encode(data.narrow(0, start, Math.Min(EncodeChunk, n - start)));
            means.Add(m);
            logVariances.Add(v);
        }
        return (cat(means, 0), cat(logVariances, 0));
    }

    private static float[,] ToArray(Tensor t)
    {
        var rows = (int)t.shape[0];
        var cols = (int)t.shape[1];
        var flat = t.to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        var result = new float[rows, cols];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(float));
        return result;
    }

    private void CheckPixels(float[,] images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.GetLength(0) == 0)
            throw new ArgumentException("images is empty; at least one image is required.", nameof(images));
        if (images.GetLength(1) != Rows * Cols)
            throw new ArgumentException($"images has {images.GetLength(1)} columns but the model takes {Rows} × {Cols} = {Rows * Cols} pixels.", nameof(images));
        var n = images.GetLength(0);
        var p = images.GetLength(1);
        for (var i = 0; i < n; i++)
            for (var j = 0; j < p; j++)
            {
                var v = images[i, j];
                if (!(v >= 0f && v <= 1f))
                    throw new ArgumentException($"images[{i},{j}] = {v}; pixels must lie in [0, 1].", nameof(images));
            }
    }

    private long[] CheckImages(float[,] images, int[] labels)
    {
        CheckPixels(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != images.GetLength(0))
            throw new ArgumentException($"labels has {labels.Length} entries but images has {images.GetLength(0)} rows.", nameof(labels));
        return labels.Select(l => (long)l).ToArray();
    }
}
