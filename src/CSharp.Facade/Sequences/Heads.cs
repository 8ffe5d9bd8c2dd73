using DistEmbed.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DistEmbed.Sequences;

/// <summary>
/// An embedding head: a module from per-step features [B, T, d] and the validity mask [B, T] (bool) to a batch of
/// embeddings (<see cref="VectorBatch"/>, <see cref="DistributionBatch"/> or <see cref="QuantileBatch"/>). Padded
/// steps never influence the result.
/// </summary>
public abstract class EmbeddingHead : nn.Module<Tensor, Tensor, EmbeddingBatch>
{
    /// <summary>Names the module.</summary>
    /// <param name="name">The module name.</param>
    protected EmbeddingHead(string name) : base(name) { }

    /// <summary>The representation of the batches this head returns.</summary>
    public abstract Representation Representation { get; }

    /// <summary>Checks features [B, T, d] and mask [B, T] (bool, every row with a valid step).</summary>
    /// <param name="features">[B, T, d].</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <exception cref="ArgumentException">A wrong shape or dtype, or a row without valid steps.</exception>
    protected static void CheckInputs(Tensor features, Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(mask);
        if (features.dim() != 3)
            throw new ArgumentException($"features has shape [{string.Join(",", features.shape)}]; [B, T, d] is required.", nameof(features));
        if (mask.dim() != 2 || mask.shape[0] != features.shape[0] || mask.shape[1] != features.shape[1])
            throw new ArgumentException($"mask has shape [{string.Join(",", mask.shape)}] but features has shape [{string.Join(",", features.shape)}]; mask must be [B, T].", nameof(mask));
        if (mask.dtype != ScalarType.Bool)
            throw new ArgumentException($"mask has dtype {mask.dtype}; a bool mask is required.", nameof(mask));
        using var empty = mask.any(1).logical_not().nonzero();
        if (empty.shape[0] > 0)
            throw new ArgumentException($"mask row {empty[0, 0].item<long>()} has no valid step; every sequence needs at least one.", nameof(mask));
    }

    /// <summary>Masked mean over time: Σ_t m_t h_t / Σ_t m_t, [B, d].</summary>
    /// <param name="features">[B, T, d].</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <returns>[B, d].</returns>
    protected static Tensor MaskedMean(Tensor features, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var m = mask.unsqueeze(-1).to_type(features.dtype);
        return features.mul(m).sum(1).div(m.sum(1)).MoveToOuterDisposeScope();
    }
}

/// <summary>Mean pooling: the average feature vector over the valid steps, a <see cref="VectorBatch"/> [B, d].</summary>
/// <remarks><code>e_b = (1/n_b) Σ_{t: m_{b,t}} h_{b,t}</code></remarks>
public sealed class MeanPoolingHead : EmbeddingHead
{
    /// <summary>Builds the head (no parameters).</summary>
    public MeanPoolingHead() : base("mean") => RegisterComponents();

    /// <inheritdoc/>
    public override Representation Representation => Representation.Vectors;

    /// <summary>Pools the features.</summary>
    /// <param name="features">[B, T, d] per-step features.</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <returns>A vector batch [B, d].</returns>
    public override EmbeddingBatch forward(Tensor features, Tensor mask)
    {
        CheckInputs(features, mask);
        return EmbeddingBatch.Wrap(VectorBatch.FromTensor(MaskedMean(features, mask)));
    }
}

/// <summary>
/// Statistics pooling: the mean and the standard deviation of each feature over the valid steps, concatenated,
/// a <see cref="VectorBatch"/> [B, 2d].
/// </summary>
/// <remarks>
/// <code>μ_b = (1/n_b) Σ_t h_{b,t},   σ_b = sqrt((1/n_b) Σ_t (h_{b,t} − μ_b)² + 1e-5),   e_b = [μ_b ‖ σ_b]</code>
/// [1] D. Snyder, D. Garcia-Romero, G. Sell, D. Povey, S. Khudanpur, "X-Vectors: Robust DNN Embeddings for Speaker
/// Recognition", ICASSP 2018, §2.2 (statistics pooling layer).
/// </remarks>
public sealed class StatisticsPoolingHead : EmbeddingHead
{
    /// <summary>Builds the head (no parameters).</summary>
    public StatisticsPoolingHead() : base("stats") => RegisterComponents();

    /// <inheritdoc/>
    public override Representation Representation => Representation.Vectors;

    /// <summary>Pools the features.</summary>
    /// <param name="features">[B, T, d] per-step features.</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <returns>A vector batch [B, 2d].</returns>
    public override EmbeddingBatch forward(Tensor features, Tensor mask)
    {
        CheckInputs(features, mask);
        using var scope = NewDisposeScope();
        var m = mask.unsqueeze(-1).to_type(features.dtype);
        var mean = MaskedMean(features, mask);
        var centred = features.sub(mean.unsqueeze(1)).mul(m);
        var std = centred.square().sum(1).div(m.sum(1)).add(Scalars.Of(1e-5), Scalars.One).sqrt();
        return EmbeddingBatch.Wrap(VectorBatch.FromTensor(torch.cat([mean, std], 1).MoveToOuterDisposeScope()));
    }
}

/// <summary>
/// Attention pooling: a learned softmax weighting of the valid steps, a <see cref="VectorBatch"/> [B, d].
/// </summary>
/// <remarks>
/// <code>s_{b,t} = vᵀ tanh(W h_{b,t} + c),   α_{b,·} = softmax over valid t of s_{b,·},   e_b = Σ_t α_{b,t} h_{b,t}</code>
/// [1] Z. Yang et al., "Hierarchical Attention Networks for Document Classification", NAACL 2016, eq. 5–7.
/// </remarks>
public sealed class AttentionPoolingHead : EmbeddingHead
{
    private readonly Linear project;
    private readonly Linear score;

    /// <summary>Builds the head.</summary>
    /// <param name="features">d ≥ 1, the feature dimension.</param>
    /// <param name="attentionSize">The size of the attention projection W (≥ 1).</param>
    public AttentionPoolingHead(int features, int attentionSize) : base("attention")
    {
        Require.AtLeast(nameof(features), features, 1);
        Require.AtLeast(nameof(attentionSize), attentionSize, 1);
        project = nn.Linear(features, attentionSize);
        score = nn.Linear(attentionSize, 1, hasBias: false);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Representation Representation => Representation.Vectors;

    /// <summary>Pools the features with learned weights.</summary>
    /// <param name="features">[B, T, d] per-step features.</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <returns>A vector batch [B, d].</returns>
    public override EmbeddingBatch forward(Tensor features, Tensor mask)
    {
        CheckInputs(features, mask);
        using var scope = NewDisposeScope();
        var s = score.forward(project.forward(features).tanh()).squeeze(-1);
        var alpha = s.masked_fill(mask.logical_not(), Scalars.Of(double.NegativeInfinity)).softmax(1);
        var pooled = alpha.unsqueeze(-1).mul(features).sum(1);
        return EmbeddingBatch.Wrap(VectorBatch.FromTensor(pooled.MoveToOuterDisposeScope()));
    }
}

/// <summary>
/// Distributional head: the empirical distribution of the per-step features, μ_b = (1/n_b) Σ_{t valid} δ_{h_{b,t}},
/// a <see cref="DistributionBatch"/> (points [B, T, d], weights from the mask).
/// </summary>
/// <remarks>[1] A. Abdelwahab, N. Landwehr, "Deep Distributional Sequence Embeddings Based on a Wasserstein Loss",
/// Neural Processing Letters (2022), arXiv:1912.01933, §3.1 (a sequence as the distribution of its features).</remarks>
public sealed class DistributionHead : EmbeddingHead
{
    /// <summary>Builds the head (no parameters).</summary>
    public DistributionHead() : base("distribution") => RegisterComponents();

    /// <inheritdoc/>
    public override Representation Representation => Representation.Distributions;

    /// <summary>Wraps the features as empirical distributions.</summary>
    /// <param name="features">[B, T, d] per-step features.</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <returns>A distribution batch with uniform weight 1/n_b on the valid steps of row b.</returns>
    public override EmbeddingBatch forward(Tensor features, Tensor mask)
    {
        CheckInputs(features, mask);
        using var scope = NewDisposeScope();
        var m = mask.unsqueeze(-1).to_type(features.dtype);
        return EmbeddingBatch.Wrap(BatchScope.MoveOut(DistributionBatch.FromTensors(features.mul(m), mask.to_type(features.dtype))));
    }
}

/// <summary>
/// Quantile layer: each feature's quantile function over the valid steps, evaluated at Q levels, a
/// <see cref="QuantileBatch"/> [B, d, Q]. The levels are fixed (midpoints by default) or learned.
/// </summary>
/// <remarks>
/// See <see cref="QuantileLayer.Compute"/> for the (type-7) quantile. Learned levels are strictly increasing in (0, 1)
/// by construction, whatever the logits θ ∈ ℝ^{Q+1}: τ_q = Σ_{j ≤ q} π_j with cell masses
/// π_j = δ + (1 − (Q+1)δ)·softmax(θ)_j ≥ δ, computed in float64, δ = min(10⁻⁶, 1/(4(Q+1))). Every gap and both
/// ends keep at least δ (10⁻⁶ below Q = 249,999), far above float32's spacing near 1 (6·10⁻⁸), so the levels
/// stay valid for <see cref="QuantileBatch"/> in float32 even when one logit drifts hundreds of units below the
/// others (a plain float32 softmax then gives equal levels or τ_Q = 1). θ = 0 starts at τ_q = q/(Q+1).
/// [1] A. Abdelwahab, N. Landwehr, arXiv:1912.01933, §3.2 (quantile layers).
/// </remarks>
public sealed class QuantileHead : EmbeddingHead
{
    private readonly Parameter? logits;
    private readonly Tensor? fixedLevels;
    private readonly int count;

    /// <summary>Builds the head.</summary>
    /// <param name="levels">Q ≥ 1, the number of quantile levels.</param>
    /// <param name="learnable">False: midpoint levels (q − ½)/Q; true: learned monotone levels.</param>
    public QuantileHead(int levels, bool learnable) : base("quantile")
    {
        Require.AtLeast(nameof(levels), levels, 1);
        count = levels;
        if (learnable) logits = new Parameter(torch.zeros(levels + 1, ScalarType.Float32));
        else fixedLevels = torch.tensor(QuantileBatch.MidpointLevels(levels), ScalarType.Float32);
        RegisterComponents();
        if (fixedLevels is not null) register_buffer("levels", fixedLevels);
    }

    /// <inheritdoc/>
    public override Representation Representation => Representation.Quantiles;

    /// <summary>The number of levels Q.</summary>
    public int LevelCount => count;

    /// <summary>True when the levels are learned.</summary>
    public bool Learnable => logits is not null;

    /// <summary>The current levels τ [Q] (differentiable when learned), in the given dtype.</summary>
    /// <param name="dtype">The floating dtype wanted.</param>
    /// <returns>[Q], strictly increasing in (0, 1).</returns>
    public Tensor Levels(ScalarType dtype)
    {
        if (logits is not null)
        {
            using var scope = NewDisposeScope();
            var floor = LevelFloor(count);
            var masses = logits.to_type(ScalarType.Float64).softmax(0).mul(Scalars.Of(1.0 - (count + 1) * floor)).add(Scalars.Of(floor));
            return masses.cumsum(0).narrow(0, 0, count).to_type(dtype).MoveToOuterDisposeScope();
        }
        return fixedLevels!.to_type(dtype).clone();
    }

    /// <summary>The least mass δ = min(10⁻⁶, 1/(4(Q + 1))) of each of the Q + 1 cells between learned levels.</summary>
    private static double LevelFloor(int levels) => Math.Min(1e-6, 0.25 / (levels + 1.0));

    /// <summary>Computes the quantile embedding.</summary>
    /// <param name="features">[B, T, d] per-step features.</param>
    /// <param name="mask">[B, T] bool.</param>
    /// <returns>A quantile batch [B, d, Q] at <see cref="Levels"/>.</returns>
    public override EmbeddingBatch forward(Tensor features, Tensor mask)
    {
        CheckInputs(features, mask);
        using var scope = NewDisposeScope();
        var levels = Levels(features.dtype).to(features.device);
        return EmbeddingBatch.Wrap(BatchScope.MoveOut(QuantileBatch.FromTensor(QuantileLayer.Compute(features, mask, levels), levels)));
    }
}

/// <summary>The differentiable, padding-aware per-feature quantile function of a padded batch.</summary>
public static class QuantileLayer
{
    /// <summary>
    /// Per-feature sample quantiles over the valid steps: for row b with n_b valid steps and feature k, the sorted
    /// valid values x_(0) ≤ … ≤ x_(n_b − 1) are linearly interpolated at position h = (n_b − 1) τ_q (Hyndman–Fan
    /// type 7, NumPy's default <c>linear</c> method).
    /// </summary>
    /// <remarks>
    /// <code>j = ⌊h⌋,  f = h − j,  Q(τ) = x_(j) + f (x_(min(j+1, n−1)) − x_(j))</code>
    /// The result is exact for unequal lengths (each row uses its own n_b), differentiable in the features (the
    /// gradient of each quantile goes to the one or two order statistics it interpolates) and in the levels (through
    /// f), and non-decreasing along Q for increasing levels. Cost O(B d T log T).
    /// [1] R. J. Hyndman, Y. Fan, "Sample Quantiles in Statistical Packages", The American Statistician 50(4), 1996,
    /// definition 7. [2] A. Abdelwahab, N. Landwehr, arXiv:1912.01933, §3.2.
    /// </remarks>
    /// <param name="features">[B, T, d] float tensor.</param>
    /// <param name="mask">[B, T] bool, at least one true per row.</param>
    /// <param name="levels">[Q] non-decreasing levels in [0, 1], same dtype and device as the features.</param>
    /// <returns>[B, d, Q] quantiles.</returns>
    /// <exception cref="ArgumentException">Wrong shapes or dtypes, or a row without valid steps.</exception>
    public static Tensor Compute(Tensor features, Tensor mask, Tensor levels)
    {
        NativeRuntime.EnsureInitialized();
        ArgumentNullException.ThrowIfNull(levels);
        if (features is null || features.dim() != 3)
            throw new ArgumentException($"features has shape [{(features is null ? "null" : string.Join(",", features.shape))}]; [B, T, d] is required.", nameof(features));
        if (mask is null || mask.dim() != 2 || mask.shape[0] != features.shape[0] || mask.shape[1] != features.shape[1] || mask.dtype != ScalarType.Bool)
            throw new ArgumentException("mask must be a bool [B, T] tensor matching features [B, T, d].", nameof(mask));
        if (levels.dim() != 1 || levels.shape[0] == 0)
            throw new ArgumentException($"levels has shape [{string.Join(",", levels.shape)}]; [Q] with Q ≥ 1 is required.", nameof(levels));
        using var scope = NewDisposeScope();
        var lengths = mask.sum(1, type: ScalarType.Int64);
        if (lengths.min().item<long>() < 1)
            throw new ArgumentException("mask has a row without valid steps; every sequence needs at least one.", nameof(mask));
        var x = features.transpose(1, 2);
        var valid = mask.unsqueeze(1).expand_as(x);
        var key = torch.where(valid, x.detach(), torch.full_like(x, Scalars.Of(double.PositiveInfinity)));
        var (_, order) = key.sort(-1, stable: true);
        var sorted = x.masked_fill(valid.logical_not(), Scalars.Of(0.0)).gather(-1, order);
        var last = lengths.sub(Scalars.OfInteger(1));
        var position = last.to_type(ScalarType.Float64).unsqueeze(1).mul(levels.detach().to_type(ScalarType.Float64).unsqueeze(0));
        var lo = position.floor().to_type(ScalarType.Int64);
        lo = torch.minimum(lo, last.unsqueeze(1));
        var hi = torch.minimum(lo.add(Scalars.OfInteger(1), Scalars.OfInteger(1)), last.unsqueeze(1));
        var q = levels.shape[0];
        var frac = last.to_type(levels.dtype).unsqueeze(1).mul(levels.unsqueeze(0)).sub(lo.to_type(levels.dtype)).clamp(Scalars.Of(0.0), Scalars.One);
        var shape = new[] { x.shape[0], x.shape[1], q };
        var lower = sorted.gather(-1, lo.unsqueeze(1).expand(shape));
        var upper = sorted.gather(-1, hi.unsqueeze(1).expand(shape));
        var result = torch.minimum(lower.add(frac.unsqueeze(1).to_type(x.dtype).mul(upper.sub(lower)), Scalars.One), upper);
        return result.MoveToOuterDisposeScope();
    }
}

/// <summary>Moves the tensors of an embedding batch out of the current dispose scope.</summary>
internal static class BatchScope
{
    public static IEmbeddingBatch MoveOut(IEmbeddingBatch batch)
    {
        switch (batch)
        {
            case VectorBatch v: v.Values.MoveToOuterDisposeScope(); break;
            case DistributionBatch d: d.Points.MoveToOuterDisposeScope(); d.Weights.MoveToOuterDisposeScope(); break;
            case QuantileBatch q: q.Values.MoveToOuterDisposeScope(); q.Levels.MoveToOuterDisposeScope(); break;
        }
        return batch;
    }

    public static EmbeddingBatch MoveOut(EmbeddingBatch batch)
    {
        MoveOut(batch.Core);
        return batch;
    }
}
