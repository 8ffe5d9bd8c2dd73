using DistEmbed.Core.Bregman;
using TorchSharp;
using static TorchSharp.torch;
using CoreGenerator = DistEmbed.Core.Bregman.ConvexGenerator;

namespace DistEmbed.Bregman;

/// <summary>
/// A convex function φ: ℝᵈ → ℝ, convex by construction, and its Bregman divergence
/// D_φ(x, y) = φ(x) − φ(y) − ⟨∇φ(y), x − y⟩ (Bregman 1967; Banerjee, Merugu, Dhillon, Ghosh, "Clustering with Bregman
/// Divergences", JMLR 6, 2005, Def. 1): D_φ ≥ 0 and D_φ(x, x) = 0. The kinds are the core's generators: the quadratic
/// φ(x) = ½‖xL‖² (a learned Mahalanobis distance), the max-affine φ(x) = max_k(w_kᵀx + c_k) + ½ε‖x‖² (Cilingir, Manzelli,
/// Kulis, "Deep Divergence Learning", ICML 2020, §3), its smooth log-sum-exp form, and the input-convex network (Amos, Xu,
/// Kolter, "Input Convex Neural Networks", ICML 2017, eq. 2) plus ½ε‖x‖². Its parameters are a TorchSharp module
/// (<see cref="Module"/>): train them with any optimiser and any loss written over <see cref="Divergence"/> or
/// <see cref="Distance"/>.
/// <code>
/// using var phi = ConvexGenerator.MaxAffine(dimension: 6, pieces: 8, seed: 1);
/// using var d = phi.PairwiseDivergence(x, y);             // [N, M]: D_φ(x_i, y_j), y_j the point of linearisation
/// var report = EmbeddingEvaluation.Evaluate(EmbeddingBatch.Vectors(x), labels, phi.Distance);
/// </code>
/// </summary>
/// <remarks>
/// Every hyper-parameter left null takes the core's default (<c>GeneratorOptions</c>: 16 pieces, temperature 0.1,
/// hidden widths [64, 64], strength ε = 1, seed 0, rank = d), written there once. Inputs are [N, d] tensors with the
/// generator's d, dtype (<see cref="DType"/>) and device. Results keep their autograd graph (∇φ with
/// <c>create_graph</c>), so a loss over the divergence trains φ through ∇φ; under <c>torch.no_grad()</c> they are detached.
/// </remarks>
public sealed class ConvexGenerator : IDisposable
{
    private static readonly GeneratorOptions Defaults = new();

    private ConvexGenerator(CoreGenerator core)
    {
        Core = core;
        Distance = new Distance(new BregmanDivergence(core));
    }

    /// <summary>The core's generator this wraps (the F# engine's type).</summary>
    internal CoreGenerator Core { get; }

    /// <summary>The kinds <see cref="Create"/> accepts: quadratic, max-affine, smooth-max-affine, icnn.</summary>
    public static IReadOnlyList<string> Kinds => ConvexGenerators.Kinds;

    /// <summary>A generator of a kind by name.</summary>
    /// <param name="kind">quadratic, max-affine, smooth-max-affine or icnn (case-insensitive).</param>
    /// <param name="dimension">The input dimension d ≥ 1.</param>
    /// <param name="rank">Quadratic: the rank r of L ∈ ℝ^{d×r} (0 or null: r = d).</param>
    /// <param name="pieces">Max-affine and smooth max-affine: the number K ≥ 1 of affine pieces (null: the core's default).</param>
    /// <param name="temperature">Smooth max-affine: the temperature τ &gt; 0 (null: the core's default).</param>
    /// <param name="hidden">ICNN: the hidden widths, at least one, each ≥ 1 (null: the core's default).</param>
    /// <param name="strength">Max-affine and ICNN: the weight ε ≥ 0 of ½ε‖x‖² (null: the core's default, 1; ε &gt; 0 makes
    /// D_φ(x, y) ≥ ½ε‖x − y‖², a strict divergence).</param>
    /// <param name="seed">The seed of the initial parameters (null: the core's default).</param>
    /// <param name="dtype">The parameters' dtype: float32 or float64.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The generator (the caller disposes it).</returns>
    /// <exception cref="ArgumentException">An unknown kind (names kind, lists the kinds), a hyper-parameter out of range
    /// (named), a dtype other than float32 / float64, or an unknown device.</exception>
    public static ConvexGenerator Create(string kind, int dimension, int? rank = null, int? pieces = null, double? temperature = null,
        int[]? hidden = null, double? strength = null, long? seed = null, ScalarType dtype = ScalarType.Float32, string device = Devices.Default)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var options = new GeneratorOptions
        {
            Rank = rank ?? Defaults.Rank,
            Pieces = pieces ?? Defaults.Pieces,
            Temperature = temperature ?? Defaults.Temperature,
            Hidden = hidden is null ? [.. Defaults.Hidden] : [.. hidden],
            Strength = strength ?? Defaults.Strength,
            Seed = seed ?? Defaults.Seed,
        };
        return new ConvexGenerator(ConvexGenerators.Create(kind, dimension, options, dtype, Devices.Resolve(device)));
    }

    /// <summary>The quadratic generator φ(x) = ½‖xL‖², L ∈ ℝ^{d×r} starting at the identity: D_φ(x, y) = ½(x − y)ᵀLLᵀ(x − y).</summary>
    /// <param name="dimension">d ≥ 1.</param>
    /// <param name="rank">r ≥ 1, or 0 / null for r = d.</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The generator.</returns>
    /// <exception cref="ArgumentException">An argument out of range (named).</exception>
    public static ConvexGenerator Quadratic(int dimension, int? rank = null, ScalarType dtype = ScalarType.Float32, string device = Devices.Default) =>
        Create("quadratic", dimension, rank: rank, dtype: dtype, device: device);

    /// <summary>The max-affine generator with K pieces, φ(x) = max_k(w_kᵀx + c_k) + ½ε‖x‖², whose divergence has the closed
    /// form max_k(w_kᵀx + c_k) − (w_{k*}ᵀx + c_{k*}) + ½ε‖x − y‖², k* the piece selected at y (Cilingir et al. 2020, §3).</summary>
    /// <param name="dimension">d ≥ 1.</param>
    /// <param name="pieces">K ≥ 1 (null: the core's default).</param>
    /// <param name="strength">ε ≥ 0 (null: the core's default).</param>
    /// <param name="seed">The initialisation seed (null: the core's default).</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The generator.</returns>
    /// <exception cref="ArgumentException">An argument out of range (named).</exception>
    public static ConvexGenerator MaxAffine(int dimension, int? pieces = null, double? strength = null, long? seed = null,
        ScalarType dtype = ScalarType.Float32, string device = Devices.Default) =>
        Create("max-affine", dimension, pieces: pieces, strength: strength, seed: seed, dtype: dtype, device: device);

    /// <summary>The smooth max-affine generator φ(x) = τ log Σ_k exp((w_kᵀx + c_k)/τ) with K pieces.</summary>
    /// <param name="dimension">d ≥ 1.</param>
    /// <param name="pieces">K ≥ 1 (null: the core's default).</param>
    /// <param name="temperature">τ &gt; 0 (null: the core's default).</param>
    /// <param name="seed">The initialisation seed (null: the core's default).</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The generator.</returns>
    /// <exception cref="ArgumentException">An argument out of range (named).</exception>
    public static ConvexGenerator SmoothMaxAffine(int dimension, int? pieces = null, double? temperature = null, long? seed = null,
        ScalarType dtype = ScalarType.Float32, string device = Devices.Default) =>
        Create("smooth-max-affine", dimension, pieces: pieces, temperature: temperature, seed: seed, dtype: dtype, device: device);

    /// <summary>The input-convex network z₁ = softplus(A₀x + c₀), z_{l+1} = softplus(W_l z_l + A_l x + c_l) with W_l ≥ 0,
    /// φ(x) = vᵀz_L + ½ε‖x‖², v ≥ 0 (Amos et al. 2017, eq. 2; non-negativity by a soft-plus reparameterisation).</summary>
    /// <param name="dimension">d ≥ 1.</param>
    /// <param name="hidden">The layer widths, at least one, each ≥ 1 (null: the core's default).</param>
    /// <param name="strength">ε ≥ 0 (null: the core's default).</param>
    /// <param name="seed">The initialisation seed (null: the core's default).</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The generator.</returns>
    /// <exception cref="ArgumentException">An argument out of range (named).</exception>
    public static ConvexGenerator Icnn(int dimension, int[]? hidden = null, double? strength = null, long? seed = null,
        ScalarType dtype = ScalarType.Float32, string device = Devices.Default) =>
        Create("icnn", dimension, hidden: hidden, strength: strength, seed: seed, dtype: dtype, device: device);

    /// <summary>The kind: quadratic, max-affine, smooth-max-affine or icnn.</summary>
    public string Kind => Core.Kind;

    /// <summary>The input dimension d.</summary>
    public int Dimension => Core.Dimension;

    /// <summary>The dtype of the parameters (the dtype inputs must have).</summary>
    public ScalarType DType => Core.DType;

    /// <summary>The device of the parameters (the device inputs must be on).</summary>
    public Device Device => Core.Device;

    /// <summary>The hyper-parameters that rebuild this generator (dimension, pieces, hidden, strength, seed, …) as invariant strings.</summary>
    public IReadOnlyDictionary<string, string> HyperParameters => Core.HyperParameters;

    /// <summary>The TorchSharp module holding the parameters (<c>forward(x)</c> = φ(x)): for an optimiser, <c>save</c> / <c>load</c>,
    /// <c>to(device)</c>.</summary>
    public nn.Module<Tensor, Tensor> Module => Core;

    /// <summary>The Bregman divergence D_φ as a distance between vector embeddings (name <c>bregman-&lt;kind&gt;</c>, a
    /// divergence: not symmetric, no triangle inequality): <c>Pairwise(a, b)[i, j]</c> = D_φ(a_i, b_j), b the points of
    /// linearisation. Pass it to <c>EmbeddingEvaluation.Evaluate</c>, retrieval or your own loss.</summary>
    public Distance Distance { get; }

    /// <summary>φ(x) for each row.</summary>
    /// <param name="x">[N, d] points (N ≥ 1) of the generator's dtype and device.</param>
    /// <returns>[N], differentiable.</returns>
    /// <exception cref="ArgumentException">x of another shape, dimension, dtype or device (names x).</exception>
    public Tensor Value(Tensor x)
    {
        Core.CheckInput(nameof(x), x);
        return Core.Value(x);
    }

    /// <summary>∇φ(x) for each row (the closed form where one exists, else autograd with <c>create_graph</c>).</summary>
    /// <param name="x">[N, d] points.</param>
    /// <returns>[N, d], differentiable when gradients are enabled.</returns>
    /// <exception cref="ArgumentException">x of another shape, dimension, dtype or device (names x).</exception>
    public Tensor Gradient(Tensor x)
    {
        Core.CheckInput(nameof(x), x);
        return Core.Gradient(x);
    }

    /// <summary>The paired divergence D_φ(x_i, y_i) = φ(x_i) − φ(y_i) − ⟨∇φ(y_i), x_i − y_i⟩ (≥ 0, 0 where x_i = y_i).</summary>
    /// <param name="x">[N, d] first arguments.</param>
    /// <param name="y">[N, d] points of linearisation.</param>
    /// <returns>[N], differentiable.</returns>
    /// <exception cref="ArgumentException">x or y of another shape, dimension, dtype or device, or x and y of different
    /// lengths (names the argument).</exception>
    public Tensor Divergence(Tensor x, Tensor y)
    {
        Core.CheckInput(nameof(x), x);
        Core.CheckInput(nameof(y), y);
        if (x.shape[0] != y.shape[0])
            throw new ArgumentException($"x has {x.shape[0]} rows but y has {y.shape[0]}; the paired divergence compares x_i with y_i.", nameof(y));
        using var scope = NewDisposeScope();
        return Core.PairedDivergence(x, y).MoveToOuterDisposeScope();
    }

    /// <summary>The pairwise divergence D_φ(x_i, y_j) for every pair: φ once per row of x and y, ∇φ once per row of y and
    /// one [N, d] × [d, M] product (never N × M gradient evaluations). Up to rounding ≥ 0 (entries where x_i = y_j may be
    /// of order −ulp·|φ|).</summary>
    /// <param name="x">[N, d] first arguments.</param>
    /// <param name="y">[M, d] points of linearisation.</param>
    /// <returns>[N, M], differentiable.</returns>
    /// <exception cref="ArgumentException">x or y of another shape, dimension, dtype or device (names the argument).</exception>
    public Tensor PairwiseDivergence(Tensor x, Tensor y)
    {
        Core.CheckInput(nameof(x), x);
        Core.CheckInput(nameof(y), y);
        using var scope = NewDisposeScope();
        return Core.PairwiseDivergence(x, y).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Kind} generator on ℝ^{Dimension}";

    /// <summary>Frees the parameters.</summary>
    public void Dispose() => Core.Dispose();
}
