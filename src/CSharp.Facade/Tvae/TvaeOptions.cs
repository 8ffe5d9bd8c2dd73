namespace DistEmbed.Autoencoders;

/// <summary>Which objective a <see cref="Tvae"/> model is trained on.</summary>
public enum TvaeVariant
{
    /// <summary>Plain VAE: the (weighted) negative ELBO alone [1] (Kingma and Welling, arXiv 1312.6114).</summary>
    Vae = 0,

    /// <summary>Triplet-based VAE: negative ELBO + triplet hinge on Euclidean distances between posterior means + a
    /// penalty on the norms of the means [2] (Ishfaq, Hoogi and Rubin, arXiv 1802.04403, §3).</summary>
    Tvae = 1,

    /// <summary>W-TVAE: as <see cref="Tvae"/>, but the triplet distance is the 2-Wasserstein distance between the
    /// diagonal Gaussian posteriors (see <see cref="VaeMath.DiagonalGaussianW2"/>).</summary>
    WTvae = 2,
}

/// <summary>The network family of a <see cref="Tvae"/> model.</summary>
public enum TvaeArchitecture
{
    /// <summary>The paper's multi-layer perceptron: encoder P→H (ReLU) → two H→L heads (mean, log-variance); decoder
    /// L→H (ReLU) → P (sigmoid), with P = rows·cols, H = <see cref="TvaeOptions.HiddenSize"/>, L = <see cref="TvaeOptions.LatentSize"/>.</summary>
    Mlp = 0,

    /// <summary>A convolutional variant: two stride-2 4×4 convolutions (32, 64 channels, ReLU) → H (ReLU) → heads;
    /// decoder L → H → 64·(rows/4)·(cols/4) (ReLU) → two stride-2 4×4 transposed convolutions (32 channels, ReLU; 1
    /// channel, sigmoid). Needs rows and cols divisible by 4.</summary>
    Conv = 1,
}

/// <summary>
/// Hyper-parameters of a <see cref="Tvae"/> model and its training. The defaults are the settings of the TVAE paper's
/// public code [1]: latent size 20, hidden 400, margin 0.2, loss weights 0.01 (negative ELBO) / 1 (triplet) / 0.001
/// (embedding norms), Adam with learning rate 1e-3, 128 triplets per batch, 10 epochs of 60,000 random triplets.
/// </summary>
/// <remarks>
/// <para>The training loss of one batch of K triplets (3K images x_i, posteriors N(μ_i, diag σ_i²)) is
/// <code>
/// L = w_elbo · (1/3K) Σ_i −ELBO(x_i) + w_triplet · (1/K) Σ_k [d(a_k, p_k) − d(a_k, n_k) + m]_+
///     + w_norm · (1/K) Σ_k (‖μ_a‖ + ‖μ_p‖ + ‖μ_n‖)
/// </code>
/// with d the Euclidean distance between means (TVAE) or the 2-Wasserstein distance between the Gaussians (W-TVAE);
/// the plain VAE keeps the first term only.</para>
/// <para>[1] H. Ishfaq, A. Hoogi, D. Rubin, "TVAE: Triplet-Based Variational Autoencoder using Metric Learning", arXiv 1802.04403, 2018, §3–4.</para>
/// </remarks>
public sealed record TvaeOptions
{
    /// <summary>The objective (default <see cref="TvaeVariant.Tvae"/>).</summary>
    public TvaeVariant Variant { get; init; } = TvaeVariant.Tvae;

    /// <summary>The network (default <see cref="TvaeArchitecture.Mlp"/>, the paper's).</summary>
    public TvaeArchitecture Architecture { get; init; } = TvaeArchitecture.Mlp;

    /// <summary>Latent dimension L ≥ 1 (default 20).</summary>
    public int LatentSize { get; init; } = 20;

    /// <summary>Hidden layer width H ≥ 1 (default 400).</summary>
    public int HiddenSize { get; init; } = 400;

    /// <summary>Triplet margin m ≥ 0 (default 0.2).</summary>
    public double Margin { get; init; } = 0.2;

    /// <summary>Weight of the mean negative ELBO per image, &gt; 0 (default 0.01).</summary>
    public double ElboWeight { get; init; } = 0.01;

    /// <summary>Weight of the triplet hinge, ≥ 0 (default 1; unused by <see cref="TvaeVariant.Vae"/>).</summary>
    public double TripletWeight { get; init; } = 1.0;

    /// <summary>Weight of the mean summed norms of the three means, ≥ 0 (default 0.001; unused by <see cref="TvaeVariant.Vae"/>).</summary>
    public double EmbeddingNormWeight { get; init; } = 0.001;

    /// <summary>Adam learning rate, &gt; 0 (default 1e-3).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>The fraction of all steps used for a linear warm-up of the learning rate, in [0, 1) (default 0, the
    /// paper's constant rate). The trainers' one schedule (<c>SequenceTrainer.LearningRateAt</c>): η_s = η (s + 1)/W for
    /// the first W = ⌊f S⌋ of the S steps of all <see cref="Tvae.Fit"/> calls so far.</summary>
    public double WarmupFraction { get; init; }

    /// <summary>Decay the learning rate by a cosine after the warm-up, η ½ (1 + cos(π (s − W)/(S − W))) (Loshchilov and
    /// Hutter, "SGDR", ICLR 2017, eq. 5), as the metric-learning trainers do; default false (the paper's constant η).</summary>
    public bool CosineDecay { get; init; }

    /// <summary>Clip the gradient's joint L2 norm to this value before each step, as the metric-learning trainers do
    /// (Pascanu, Mikolov and Bengio, ICML 2013, §3.2); ≥ 0, default 0 = no clipping (the paper's).</summary>
    public double ClipNorm { get; init; }

    /// <summary>Triplets per batch K ≥ 1 (default 128, i.e. 384 images).</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Epochs ≥ 1 (default 10).</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Random triplets drawn per epoch ≥ 1 (default 60,000, the MNIST training-set size); each epoch draws anew.</summary>
    public int TripletsPerEpoch { get; init; } = 60_000;

    /// <summary>Seed of the initial weights, the triplets and the reparameterisation noise (default 0).</summary>
    public int Seed { get; init; }

    /// <summary>Checks every value; throws <see cref="ArgumentException"/> whose <c>ParamName</c> is the property's name.</summary>
    /// <exception cref="ArgumentException">An unknown variant or architecture, or a value outside its range (see each property).</exception>
    public void Validate()
    {
        if (!Enum.IsDefined(Variant))
            throw new ArgumentException($"Variant = {(int)Variant} is not one of Vae, Tvae, WTvae.", nameof(Variant));
        if (!Enum.IsDefined(Architecture))
            throw new ArgumentException($"Architecture = {(int)Architecture} is not one of Mlp, Conv.", nameof(Architecture));
        Require.AtLeast(nameof(LatentSize), LatentSize, 1);
        Require.AtLeast(nameof(HiddenSize), HiddenSize, 1);
        Require.AtLeast(nameof(BatchSize), BatchSize, 1);
        Require.AtLeast(nameof(Epochs), Epochs, 1);
        Require.AtLeast(nameof(TripletsPerEpoch), TripletsPerEpoch, 1);
        Require.NonNegative(nameof(Margin), Margin);
        Require.Positive(nameof(ElboWeight), ElboWeight);
        Require.NonNegative(nameof(TripletWeight), TripletWeight);
        Require.NonNegative(nameof(EmbeddingNormWeight), EmbeddingNormWeight);
        Require.Positive(nameof(LearningRate), LearningRate);
        if (!(WarmupFraction >= 0 && WarmupFraction < 1))
            throw new ArgumentException($"WarmupFraction = {WarmupFraction}; it must lie in [0, 1).", nameof(WarmupFraction));
        Require.NonNegative(nameof(ClipNorm), ClipNorm);
    }

    /// <summary>The variant's name as the CLI and the manifest spell it: <c>vae</c>, <c>tvae</c> or <c>wtvae</c>.</summary>
    /// <param name="variant">The variant.</param>
    /// <returns>The lower-case name.</returns>
    public static string NameOf(TvaeVariant variant) => variant switch
    {
        TvaeVariant.Vae => "vae",
        TvaeVariant.Tvae => "tvae",
        TvaeVariant.WTvae => "wtvae",
        _ => throw new ArgumentException($"variant = {(int)variant} is not one of Vae, Tvae, WTvae.", nameof(variant)),
    };

    /// <summary>Parses <c>vae</c>, <c>tvae</c> or <c>wtvae</c> (case-insensitive).</summary>
    /// <param name="name">The name.</param>
    /// <returns>The variant.</returns>
    /// <exception cref="ArgumentException">Any other name.</exception>
    public static TvaeVariant ParseVariant(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "vae" => TvaeVariant.Vae,
        "tvae" => TvaeVariant.Tvae,
        "wtvae" or "w-tvae" => TvaeVariant.WTvae,
        _ => throw new ArgumentException($"variant '{name}' is not one of vae, tvae, wtvae.", nameof(name)),
    };

    /// <summary>Parses <c>mlp</c> or <c>conv</c> (case-insensitive).</summary>
    /// <param name="name">The name.</param>
    /// <returns>The architecture.</returns>
    /// <exception cref="ArgumentException">Any other name.</exception>
    public static TvaeArchitecture ParseArchitecture(string name) => name?.Trim().ToLowerInvariant() switch
    {
        "mlp" => TvaeArchitecture.Mlp,
        "conv" => TvaeArchitecture.Conv,
        _ => throw new ArgumentException($"architecture '{name}' is not one of mlp, conv.", nameof(name)),
    };
}
