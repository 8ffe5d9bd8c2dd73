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
/// sample per image and minimises the loss of <see cref="TvaeOptions"/> with Adam [4]. The triplet hinge is the
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
public sealed class Tvae : IDisposable
{
    /// <summary>The seed of the test triplets of <see cref="Evaluate(float[,], int[], int, int, int)"/> by default (the same for every variant and training seed).</summary>
    public const int DefaultEvaluationTripletSeed = 1802;

    /// <summary>The manifest's <c>format</c> value.</summary>
    public const string CheckpointFormat = "distembed-tvae/1";

    private const int EncodeChunk = 1000;
    private readonly VaeNetwork network;
    private readonly optim.Optimizer optimizer;
    private readonly Generator noise;
    private readonly Device device;
    private int epochsTrained;

    private Tvae(TvaeOptions options, int rows, int cols, Device device)
    {
        Options = options;
        Rows = rows;
        Cols = cols;
        this.device = device;
        random.manual_seed(options.Seed);
        network = VaeNetwork.Create(options.Architecture, rows, cols, options.HiddenSize, options.LatentSize);
        network.to(device);
        optimizer = optim.Adam(network.parameters(), options.LearningRate);
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
    /// <param name="device"><c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (default <c>cpu</c>).</param>
    /// <returns>The model, its weights drawn from <see cref="TvaeOptions.Seed"/>.</returns>
    /// <exception cref="ArgumentException">Invalid options (ParamName the property), rows or cols &lt; 1 or not divisible by 4 for the convolutional network, an unknown device.</exception>
    public static Tvae Create(int rows, int cols, TvaeOptions? options = null, string device = "cpu")
    {
        NativeRuntime.EnsureInitialized();
        options ??= new TvaeOptions();
        options.Validate();
        if (rows < 1) throw new ArgumentException($"rows = {rows}; it must be at least 1.", nameof(rows));
        if (cols < 1) throw new ArgumentException($"cols = {cols}; it must be at least 1.", nameof(cols));
        if (options.Architecture == TvaeArchitecture.Conv && (rows % 4 != 0 || cols % 4 != 0))
            throw new ArgumentException($"images are {rows} × {cols}; the convolutional network needs rows and cols divisible by 4.", nameof(rows));
        return new Tvae(options, rows, cols, NativeRuntime.ResolveDevice(device));
    }

    /// <summary>Trains for <see cref="TvaeOptions.Epochs"/> epochs of <see cref="TvaeOptions.TripletsPerEpoch"/> random triplets.</summary>
    /// <param name="images">[N, rows·cols] pixels in [0, 1].</param>
    /// <param name="labels">[N] class labels (at least two classes, one with two images).</param>
    /// <param name="progress">Receives a report every 20 steps and at the end of each epoch; may be null.</param>
    /// <param name="cancellationToken">Checked before every step; cancelling throws <see cref="OperationCanceledException"/> and leaves the weights of the last completed step.</param>
    /// <returns>Per-epoch loss means.</returns>
    /// <exception cref="ArgumentException">Images not [N, rows·cols], a pixel outside [0, 1] or NaN, labels of another length or without two classes.</exception>
    public TvaeTrainingReport Fit(float[,] images, int[] labels, IProgress<TvaeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var labels64 = CheckImages(images, labels);
        var clock = Stopwatch.StartNew();
        using var data = tensor(images, device: device);
        var epochs = Options.Epochs;
        var k = Options.BatchSize;
        var steps = (Options.TripletsPerEpoch + k - 1) / k;
        var losses = new double[epochs];
        var elbos = new double[epochs];
        var triplets = new double[epochs];
        network.train();
        for (var e = 0; e < epochs; e++)
        {
            var sampled = Samplers.TvaeTriplets(labels64, Options.TripletsPerEpoch, EpochSeed(Options.Seed, epochsTrained));
            double sumLoss = 0, sumElbo = 0, sumTriplet = 0;
            for (var s = 0; s < steps; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var start = s * k;
                var count = Math.Min(k, sampled.Count - start);
                using var index = BatchIndex(sampled.Anchor, sampled.Positive, sampled.Negative, start, count);
                var x = data.index_select(0, index);
                var classes = tensor(BatchLabels(labels64, sampled.Anchor, sampled.Positive, sampled.Negative, start, count), device: device);
                optimizer.zero_grad();
                var (total, negElbo, hinge, _) = LossTerms(x, classes, count, noise);
                total.backward();
                optimizer.step();
                sumLoss += total.item<float>();
                sumElbo += negElbo.item<float>();
                sumTriplet += hinge.item<float>();
                var done = s + 1;
                if (progress is not null && (done % 20 == 0 || done == steps))
                    progress.Report(new TvaeProgress(e + 1, epochs, done, steps, sumLoss / done, done == steps, clock.Elapsed));
            }
            losses[e] = sumLoss / steps;
            elbos[e] = sumElbo / steps;
            triplets[e] = sumTriplet / steps;
            epochsTrained++;
        }
        network.eval();
        return new TvaeTrainingReport(losses, elbos, triplets, clock.Elapsed);
    }

    /// <summary>A new model for the images of <paramref name="data"/> trained on them (<see cref="Create"/> then <see cref="Fit"/>).</summary>
    /// <param name="data">The training images and labels.</param>
    /// <param name="options">Hyper-parameters; null for the paper's defaults.</param>
    /// <param name="device"><c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</param>
    /// <param name="progress">Receives training progress; may be null.</param>
    /// <param name="cancellationToken">Cancels the training (throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>The trained model and its training report.</returns>
    /// <exception cref="ArgumentException">Invalid options, data or device (see <see cref="Create"/> and <see cref="Fit"/>).</exception>
    public static (Tvae Model, TvaeTrainingReport Report) Train(ImageSet data, TvaeOptions? options = null, string device = "cpu",
        IProgress<TvaeProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var model = Create(data.Rows, data.Cols, options, device);
        try
        {
            return (model, model.Fit(data.Images, data.Labels, progress, cancellationToken));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary><see cref="Evaluate(float[,], int[], int, int, int)"/> on an image set.</summary>
    /// <param name="data">The test images and labels (same rows × cols as the model).</param>
    /// <param name="triplets">Number of test triplets (default 10,000).</param>
    /// <param name="tripletSeed">Seed of the test triplets.</param>
    /// <param name="retrievalItems">Images in the retrieval evaluation (default 10,000).</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="ArgumentException">Another image size, or bad counts.</exception>
    public TvaeEvaluation Evaluate(ImageSet data, int triplets = 10_000, int tripletSeed = DefaultEvaluationTripletSeed, int retrievalItems = 10_000)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Rows != Rows || data.Cols != Cols)
            throw new ArgumentException($"data holds {data.Rows} × {data.Cols} images but the model takes {Rows} × {Cols}.", nameof(data));
        return Evaluate(data.Images, data.Labels, triplets, tripletSeed, retrievalItems);
    }

    /// <summary>The loss of one batch of given triplets under the current weights, with noise from <paramref name="noiseSeed"/> (no training).</summary>
    /// <param name="images">[N, rows·cols] pixels in [0, 1].</param>
    /// <param name="anchor">[K] anchor indices into the images.</param>
    /// <param name="positive">[K] positive indices.</param>
    /// <param name="negative">[K] negative indices.</param>
    /// <param name="noiseSeed">Seed of the reparameterisation noise.</param>
    /// <returns>The total and its terms (see <see cref="TvaeLoss"/>).</returns>
    /// <exception cref="ArgumentException">Bad images, index arrays of different or zero length, an index outside [0, N).</exception>
    public TvaeLoss ComputeLoss(float[,] images, int[] anchor, int[] positive, int[] negative, int noiseSeed = 0)
    {
        CheckPixels(images);
        ArgumentNullException.ThrowIfNull(anchor);
        ArgumentNullException.ThrowIfNull(positive);
        ArgumentNullException.ThrowIfNull(negative);
        if (anchor.Length == 0) throw new ArgumentException("anchor is empty; at least one triplet is required.", nameof(anchor));
        if (positive.Length != anchor.Length) throw new ArgumentException($"positive has {positive.Length} indices but anchor has {anchor.Length}.", nameof(positive));
        if (negative.Length != anchor.Length) throw new ArgumentException($"negative has {negative.Length} indices but anchor has {anchor.Length}.", nameof(negative));
        var n = images.GetLength(0);
        foreach (var (name, arr) in new[] { (nameof(anchor), anchor), (nameof(positive), positive), (nameof(negative), negative) })
            foreach (var i in arr)
                if (i < 0 || i >= n) throw new ArgumentException($"{name} holds index {i}, outside the {n} images.", name);
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var data = tensor(images, device: device);
        var x = data.index_select(0, BatchIndex(anchor, positive, negative, 0, anchor.Length));
        using var generator = new Generator(unchecked((ulong)noiseSeed), device);
        // No class labels here: each row is labelled by its role (anchors and positives 0, negatives 1), which is what
        // the given triplets assert about classes.
        var k = anchor.Length;
        var roles = tensor(Enumerable.Range(0, 3 * k).Select(i => i < 2 * k ? 0L : 1L).ToArray(), device: device);
        var (total, negElbo, hinge, norm) = LossTerms(x, roles, k, generator);
        return new TvaeLoss(total.item<float>(), negElbo.item<float>(), hinge.item<float>(), norm.item<float>());
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

    /// <summary>
    /// Test-set evaluation: triplet accuracy on seeded random test triplets, the negative ELBO per image, and
    /// precision@1 and MAP@R of retrieval under the model's distance.
    /// </summary>
    /// <remarks>
    /// <para>Triplet accuracy [1, §4] = (1/T) Σ_t 1[d(a_t, p_t) &lt; d(a_t, n_t)] over T triplets from
    /// <see cref="Samplers.TvaeTriplets"/>(labels, T, <paramref name="tripletSeed"/>) — the same triplets for every
    /// model evaluated on the same labels. d is the Euclidean distance between means (VAE, TVAE) or the W2 distance
    /// between posteriors (W-TVAE); <see cref="TvaeEvaluation.TripletAccuracyOfMeans"/> always uses the means.</para>
    /// <para>The negative ELBO uses one posterior sample per image from a generator seeded with <paramref name="tripletSeed"/>.
    /// Triplet accuracy is the library's <see cref="EmbeddingMetrics.TripletAccuracy"/> and retrieval its
    /// <see cref="EmbeddingMetrics.RetrievalWithin"/> (each item a query against the others), both under the Euclidean
    /// distance of float64 copies of the embeddings; retrieval uses the first
    /// <paramref name="retrievalItems"/> images.</para>
    /// </remarks>
    /// <param name="images">[N, rows·cols] test pixels in [0, 1].</param>
    /// <param name="labels">[N] test labels.</param>
    /// <param name="triplets">Number of test triplets T ≥ 1 (default 10,000, as in [1]).</param>
    /// <param name="tripletSeed">Seed of the triplets (default <see cref="DefaultEvaluationTripletSeed"/>).</param>
    /// <param name="retrievalItems">Images in the retrieval evaluation, 2 ≤ value (capped at N; default 10,000).</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="ArgumentException">Bad images or labels, triplets &lt; 1, retrievalItems &lt; 2.</exception>
    public TvaeEvaluation Evaluate(float[,] images, int[] labels, int triplets = 10_000, int tripletSeed = DefaultEvaluationTripletSeed, int retrievalItems = 10_000)
    {
        var labels64 = CheckImages(images, labels);
        if (triplets < 1) throw new ArgumentException($"triplets = {triplets}; it must be at least 1.", nameof(triplets));
        if (retrievalItems < 2) throw new ArgumentException($"retrievalItems = {retrievalItems}; it must be at least 2.", nameof(retrievalItems));
        network.eval();
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var (mean, logVariance) = EncodeAll(images);
        var negElbo = MeanNegativeElbo(images, mean, logVariance, tripletSeed);
        var isW2 = Options.Variant == TvaeVariant.WTvae;
        var embedding = isW2 ? VaeMath.W2Embedding(mean, logVariance) : mean;
        var sampled = Samplers.TvaeTriplets(labels64, triplets, tripletSeed);
        var accuracy = TripletAccuracy(embedding, sampled);
        var accuracyOfMeans = isW2 ? TripletAccuracy(mean, sampled) : accuracy;
        var n = Math.Min(retrievalItems, labels.Length);
        var report = Retrieval(embedding.narrow(0, 0, n), labels64.AsSpan(0, n).ToArray());
        return new TvaeEvaluation(accuracy, accuracyOfMeans, negElbo, report.PrecisionAt1, report.MapAtR,
            isW2 ? "w2-gaussians" : "euclidean-means", labels.Length, triplets, tripletSeed, n);
    }

    /// <summary>
    /// Writes a checkpoint folder durably and atomically through <see cref="CheckpointFolder.Write"/>: <c>model.bin</c>
    /// (TorchSharp state dict) and then <c>manifest.json</c> (format, kind, model kind, architecture, image size,
    /// hyper-parameters, epochs trained, library version, metrics), flushed into a temporary sibling folder that takes
    /// <paramref name="directory"/>'s place in one atomic step.
    /// </summary>
    /// <param name="directory">The checkpoint folder: absent, empty, or (with <paramref name="overwrite"/>) a TVAE checkpoint.</param>
    /// <param name="metrics">Evaluation to record in the manifest, or null.</param>
    /// <param name="overwrite">Replace a TVAE checkpoint already in the folder; without it such a checkpoint is kept and the call fails.</param>
    /// <exception cref="ArgumentException">The folder holds a checkpoint and <paramref name="overwrite"/> is false, or it holds
    /// anything other than a TVAE checkpoint, or it is the working folder.</exception>
    public void Save(string directory, TvaeEvaluation? metrics = null, bool overwrite = false)
    {
        ArgumentNullException.ThrowIfNull(directory);
        CheckpointFolder.Prepare(directory, CheckpointKind.Tvae, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New, null, nameof(directory));
        CheckpointFolder.Write(directory, CheckpointKind.Tvae,
            [new CheckpointFile("model.bin", stream =>
            {
                using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
                network.save(writer);
            })],
            Manifest(metrics).ToJsonString(new JsonSerializerOptions { WriteIndented = true }), nameof(directory));
    }

    /// <summary>The largest latent or hidden size, and image side, a TVAE manifest may give.</summary>
    public const int MaxManifestSize = 1 << 16;

    /// <summary>Restores a model written by <see cref="Save"/>: same options, image size, weights and epoch count.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="device"><c>auto</c>, <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c> (default <c>cpu</c>).</param>
    /// <returns>The model (in evaluation mode; <see cref="Fit"/> continues with a fresh optimiser state).</returns>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A missing or malformed manifest or state dict, or another format.</exception>
    public static Tvae Load(string directory, string device = "cpu")
    {
        NativeRuntime.EnsureInitialized();
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"checkpoint folder '{directory}' does not exist.");
        var manifestPath = Path.Combine(directory, "manifest.json");
        var modelPath = Path.Combine(directory, "model.bin");
        if (!File.Exists(manifestPath) || !File.Exists(modelPath))
            throw new InvalidDataException($"checkpoint folder '{directory}' lacks manifest.json or model.bin.");
        JsonNode manifest;
        TvaeOptions options;
        int rows, cols, epochs;
        try
        {
            manifest = JsonNode.Parse(CheckpointFolder.ReadManifestText(manifestPath)) ?? throw new InvalidDataException("empty manifest");
            if ((string?)manifest["format"] != CheckpointFormat)
                throw new InvalidDataException($"manifest format '{(string?)manifest["format"]}' is not '{CheckpointFormat}'.");
            var h = manifest["hyper_parameters"]!;
            options = new TvaeOptions
            {
                Variant = TvaeOptions.ParseVariant((string)manifest["model_kind"]!),
                Architecture = TvaeOptions.ParseArchitecture((string)manifest["architecture"]!),
                LatentSize = (int)h["latent_size"]!,
                HiddenSize = (int)h["hidden_size"]!,
                Margin = (double)h["margin"]!,
                ElboWeight = (double)h["elbo_weight"]!,
                TripletWeight = (double)h["triplet_weight"]!,
                EmbeddingNormWeight = (double)h["embedding_norm_weight"]!,
                LearningRate = (double)h["learning_rate"]!,
                BatchSize = (int)h["batch_size"]!,
                Epochs = (int)h["epochs"]!,
                TripletsPerEpoch = (int)h["triplets_per_epoch"]!,
                Seed = (int)h["seed"]!,
            };
            rows = (int)manifest["rows"]!;
            cols = (int)manifest["cols"]!;
            epochs = (int)manifest["epochs_trained"]!;
            foreach (var (name, value) in new[] { ("latent_size", options.LatentSize), ("hidden_size", options.HiddenSize), ("rows", rows), ("cols", cols) })
                if (value < 1 || value > MaxManifestSize)
                    throw new InvalidDataException($"manifest '{manifestPath}': {name} = {value} is outside [1, {MaxManifestSize}].");
            if (epochs < 0) throw new InvalidDataException($"manifest '{manifestPath}': epochs_trained = {epochs} is negative.");
            // Parameters of the MLP (encoder P→H→2L, decoder L→H→P), checked before anything is allocated.
            double pixels = (double)rows * cols, hidden = options.HiddenSize, latent = options.LatentSize;
            var parameters = 2 * pixels * hidden + 3 * hidden * latent;
            if (parameters > 1L << 28)
                throw new InvalidDataException($"manifest '{manifestPath}': the network it describes has about {parameters:E2} parameters; at most {1L << 28} are loaded.");
            var size = new FileInfo(modelPath).Length;
            if (options.Architecture == TvaeArchitecture.Mlp && size < 4 * parameters)
                throw new InvalidDataException($"checkpoint file {modelPath} is truncated or corrupt: {size} bytes, but the manifest's network needs at least {4 * parameters:F0}.");
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or FormatException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"manifest '{manifestPath}' is malformed: {e.Message}", e);
        }
        var model = Create(rows, cols, options, device);
        model.epochsTrained = epochs;
        try
        {
            using var reader = new BinaryReader(File.OpenRead(modelPath));
            model.network.load(reader);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            model.Dispose();
            throw new InvalidDataException($"checkpoint file {modelPath} is truncated or corrupt, or does not fit the manifest's network ({e.GetType().Name}: {e.Message.Split('\n', 2)[0].Trim()}).", e);
        }
        model.network.eval();
        return model;
    }

    /// <summary>Releases the network, optimiser and generator.</summary>
    public void Dispose()
    {
        optimizer.Dispose();
        network.Dispose();
        noise.Dispose();
    }

    /// <summary>The library's informational version (written into manifests).</summary>
    public static string LibraryVersion =>
        typeof(Tvae).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(Tvae).Assembly.GetName().Version?.ToString() ?? "unknown";

    private JsonObject Manifest(TvaeEvaluation? metrics)
    {
        var o = Options;
        var manifest = new JsonObject
        {
            ["format"] = CheckpointFormat,
            ["kind"] = CheckpointKind.Tvae.Name,
            ["model_kind"] = TvaeOptions.NameOf(o.Variant),
            ["architecture"] = o.Architecture == TvaeArchitecture.Mlp ? "mlp" : "conv",
            ["rows"] = Rows,
            ["cols"] = Cols,
            ["epochs_trained"] = epochsTrained,
            ["library_version"] = LibraryVersion,
            ["torchsharp_version"] = typeof(torch).Assembly.GetName().Version?.ToString(),
            ["hyper_parameters"] = new JsonObject
            {
                ["latent_size"] = o.LatentSize,
                ["hidden_size"] = o.HiddenSize,
                ["margin"] = o.Margin,
                ["elbo_weight"] = o.ElboWeight,
                ["triplet_weight"] = o.TripletWeight,
                ["embedding_norm_weight"] = o.EmbeddingNormWeight,
                ["learning_rate"] = o.LearningRate,
                ["batch_size"] = o.BatchSize,
                ["epochs"] = o.Epochs,
                ["triplets_per_epoch"] = o.TripletsPerEpoch,
                ["seed"] = o.Seed,
            },
        };
        if (metrics is not null)
            manifest["metrics"] = JsonSerializer.SerializeToNode(metrics, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
        return manifest;
    }

    /// <summary>Total, mean −ELBO, hinge and mean norm sum of the 3K images x (anchors, positives, negatives in blocks) with their class labels [3K].</summary>
    private (Tensor Total, Tensor NegativeElbo, Tensor Triplet, Tensor EmbeddingNorm) LossTerms(Tensor x, Tensor labels, int k, Generator generator)
    {
        var (mean, logVariance) = network.Encode(x);
        var z = VaeMath.Reparameterise(mean, logVariance, generator);
        var negElbo = VaeMath.NegativeElbo(network.DecodeLogits(z), x, mean, logVariance).mean();
        var elboTerm = negElbo * Options.ElboWeight;
        if (Options.Variant == TvaeVariant.Vae)
            return (elboTerm, negElbo, zeros(1, device: device).squeeze(), zeros(1, device: device).squeeze());
        var embedding = Options.Variant == TvaeVariant.WTvae ? VaeMath.W2Embedding(mean, logVariance) : mean;
        var hinge = TripletHinge(embedding, labels, k);
        var norm = mean.norm(1, keepdim: false, p: 2).sum() / (double)k;
        var total = elboTerm + hinge * Options.TripletWeight + norm * Options.EmbeddingNormWeight;
        return (total, negElbo, hinge, norm);
    }

    /// <summary>Mean hinge over the triplets (i, K + i, 2K + i) of a [3K, E] embedding with class labels [3K], through the library's triplet loss.</summary>
    private Tensor TripletHinge(Tensor embedding, Tensor labels, int k)
    {
        var batch = VectorBatch.FromTensor(embedding);
        var anchor = arange(0L, k, dtype: ScalarType.Int64, device: device);
        using var triplets = TripletIndices.Create(anchor, anchor + k, anchor + 2 * k);
        return TripletMarginLoss.Compute(batch, labels, Distances.Euclidean(), triplets,
            new TripletMarginLossOptions { Margin = Options.Margin, Penalty = TripletPenalty.Hinge, Reduction = Reduction.Mean });
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

    private double MeanNegativeElbo(float[,] images, Tensor mean, Tensor logVariance, int seed)
    {
        var n = images.GetLength(0);
        using var generator = new Generator(unchecked((ulong)seed), device);
        using var data = tensor(images, device: device);
        var sum = 0.0;
        for (var start = 0; start < n; start += EncodeChunk)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(EncodeChunk, n - start);
            var m = mean.narrow(0, start, len);
            var v = logVariance.narrow(0, start, len);
            var z = VaeMath.Reparameterise(m, v, generator);
            sum += VaeMath.NegativeElbo(network.DecodeLogits(z), data.narrow(0, start, len), m, v).sum().to_type(ScalarType.Float64).item<double>();
        }
        return sum / n;
    }

    /// <summary>Core <see cref="EmbeddingMetrics.TripletAccuracy"/> of the rows of a float64 copy of the embedding.</summary>
    private static double TripletAccuracy(Tensor embedding, SampledTriplets triplets)
    {
        using var scope = NewDisposeScope();
        var all = embedding.to_type(ScalarType.Float64);
        VectorBatch Rows(int[] index) => VectorBatch.FromTensor(all.index_select(0, tensor(index.Select(i => (long)i).ToArray(), device: all.device)));
        return EmbeddingMetrics.TripletAccuracy(Distances.Euclidean(), Rows(triplets.Anchor), Rows(triplets.Positive), Rows(triplets.Negative));
    }

    /// <summary>Core <see cref="EmbeddingMetrics.RetrievalWithin"/> under the Euclidean distance of a float64 copy.</summary>
    private static RetrievalReport Retrieval(Tensor embedding, long[] labels)
    {
        using var scope = NewDisposeScope();
        using var batch = VectorBatch.FromTensor(embedding.to_type(ScalarType.Float64));
        return EmbeddingMetrics.RetrievalWithin(Distances.Euclidean(), batch, labels, Array.Empty<int>());
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

    private static Tensor BatchIndex(int[] anchor, int[] positive, int[] negative, int start, int count)
    {
        var index = new long[3 * count];
        for (var i = 0; i < count; i++)
        {
            index[i] = anchor[start + i];
            index[count + i] = positive[start + i];
            index[2 * count + i] = negative[start + i];
        }
        return tensor(index);
    }

    /// <summary>
    /// The class labels of the 3K rows that <see cref="BatchIndex"/> selects for triplets start .. start + count − 1:
    /// the anchors', the positives', the negatives' (so a positive shares its anchor's label and a negative does not).
    /// </summary>
    internal static long[] BatchLabels(long[] classLabels, int[] anchor, int[] positive, int[] negative, int start, int count)
    {
        var labels = new long[3 * count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = classLabels[anchor[start + i]];
            labels[count + i] = classLabels[positive[start + i]];
            labels[2 * count + i] = classLabels[negative[start + i]];
        }
        return labels;
    }

    private static int EpochSeed(int seed, int epoch) => unchecked(seed * 1_000_003 + epoch * 7_919 + 17);

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
