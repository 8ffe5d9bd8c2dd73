using DistEmbed.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Autoencoders;

/// <summary>
/// The pieces of the (triplet) VAE objective as tensor functions: the Bernoulli reconstruction term, the analytic
/// Gaussian KL divergence, the negative ELBO, the reparameterised sample and the 2-Wasserstein distance between
/// diagonal Gaussians. All are differentiable and work on any device and floating dtype.
/// </summary>
/// <remarks>
/// <para>[1] D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014, arXiv 1312.6114, eq. 3 (ELBO), eq. 10 and Appendix B (Gaussian KL).</para>
/// <para>[2] C. R. Givens, R. M. Shortt, "A class of Wasserstein metrics for probability distributions", Michigan Math. J. 31 (1984), Proposition 7.</para>
/// <para>[3] D. C. Dowson, B. V. Landau, "The Fréchet distance between multivariate normal distributions", J. Multivariate Anal. 12 (1982), 450–455.</para>
/// </remarks>
public static class VaeMath
{
    /// <summary>The Bernoulli negative log-likelihood of each image, summed over its pixels.</summary>
    /// <remarks>−log p(x | z) = Σ_j −[x_j log s(ℓ_j) + (1 − x_j) log(1 − s(ℓ_j))] with s the logistic sigmoid, i.e. the
    /// summed binary cross-entropy of the sigmoid decoder output against pixels in [0, 1] [1, Appendix C.1]. Computed from
    /// the logits (numerically stable); identical to sigmoid followed by the binary cross-entropy.</remarks>
    /// <param name="logits">Decoder logits ℓ, [B, P].</param>
    /// <param name="targets">Pixels x in [0, 1], [B, P] (same dtype and device).</param>
    /// <returns>[B].</returns>
    /// <exception cref="ArgumentException">Shapes that are not the same [B, P].</exception>
    public static Tensor BernoulliNegativeLogLikelihood(Tensor logits, Tensor targets)
    {
        NativeRuntime.EnsureInitialized();
        SameMatrix(logits, targets, nameof(logits), nameof(targets));
        using var scope = NewDisposeScope();
        var bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction: nn.Reduction.None);
        return bce.sum(1).MoveToOuterDisposeScope();
    }

    /// <summary>KL(N(μ, diag exp(v)) ‖ N(0, I)) of each row, in closed form.</summary>
    /// <remarks>KL = ½ Σ_j (μ_j² + exp(v_j) − 1 − v_j) [1, Appendix B].</remarks>
    /// <param name="mean">Means μ, [B, L].</param>
    /// <param name="logVariance">Log-variances v = log σ², [B, L].</param>
    /// <returns>[B], ≥ 0.</returns>
    /// <exception cref="ArgumentException">Shapes that are not the same [B, L].</exception>
    public static Tensor GaussianKl(Tensor mean, Tensor logVariance)
    {
        NativeRuntime.EnsureInitialized();
        SameMatrix(mean, logVariance, nameof(mean), nameof(logVariance));
        using var scope = NewDisposeScope();
        var terms = mean.pow(2) + logVariance.exp() - 1.0 - logVariance;
        return (terms.sum(1) * 0.5).MoveToOuterDisposeScope();
    }

    /// <summary>The negative ELBO of each image: Bernoulli reconstruction term at one sample z plus the analytic KL.</summary>
    /// <remarks>−ELBO(x) = −log p(x | z) + KL(q(z | x) ‖ N(0, I)), z ~ q(z | x) [1, eq. 10] (one sample, the SGVB estimator B).</remarks>
    /// <param name="logits">Decoder logits at z, [B, P].</param>
    /// <param name="targets">Pixels in [0, 1], [B, P].</param>
    /// <param name="mean">Posterior means, [B, L].</param>
    /// <param name="logVariance">Posterior log-variances, [B, L].</param>
    /// <returns>[B] (nats per image).</returns>
    /// <exception cref="ArgumentException">Mismatched shapes, or B differing between the pixel and latent tensors.</exception>
    public static Tensor NegativeElbo(Tensor logits, Tensor targets, Tensor mean, Tensor logVariance)
    {
        NativeRuntime.EnsureInitialized();
        SameMatrix(logits, targets, nameof(logits), nameof(targets));
        SameMatrix(mean, logVariance, nameof(mean), nameof(logVariance));
        if (mean.shape[0] != logits.shape[0])
            throw new ArgumentException($"mean has {mean.shape[0]} rows but logits has {logits.shape[0]}; one posterior per image.", nameof(mean));
        using var scope = NewDisposeScope();
        return (BernoulliNegativeLogLikelihood(logits, targets) + GaussianKl(mean, logVariance)).MoveToOuterDisposeScope();
    }

    /// <summary>The reparameterised sample z = μ + exp(v/2) ⊙ ε, ε ~ N(0, I) [1, §2.4].</summary>
    /// <param name="mean">Means μ, [B, L].</param>
    /// <param name="logVariance">Log-variances v, [B, L].</param>
    /// <param name="generator">The random generator of ε (on the tensors' device), or null for the global one.</param>
    /// <returns>[B, L], differentiable in μ and v.</returns>
    /// <exception cref="ArgumentException">Shapes that are not the same [B, L].</exception>
    public static Tensor Reparameterise(Tensor mean, Tensor logVariance, Generator? generator)
    {
        NativeRuntime.EnsureInitialized();
        SameMatrix(mean, logVariance, nameof(mean), nameof(logVariance));
        using var scope = NewDisposeScope();
        var noise = randn(mean.shape, dtype: mean.dtype, device: mean.device, generator: generator);
        return (mean + (logVariance * 0.5).exp() * noise).MoveToOuterDisposeScope();
    }

    /// <summary>The 2-Wasserstein distance between diagonal Gaussians N(μ_a, diag σ_a²) and N(μ_b, diag σ_b²), row by row.</summary>
    /// <remarks>
    /// <para>W2² = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2(Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}) [2, Prop. 7], [3]; for commuting
    /// (here diagonal) covariances the trace term is ‖σ_a − σ_b‖², so W2 = (‖μ_a − μ_b‖² + ‖σ_a − σ_b‖²)^{1/2}, the
    /// Euclidean distance between the vectors (μ, σ) ∈ ℝ^{2L}. σ = exp(v/2). The square root has gradient 0 where the
    /// two Gaussians coincide (the subgradient at the kink), like the library's Euclidean distance.</para>
    /// </remarks>
    /// <param name="meanA">[B, L].</param>
    /// <param name="logVarianceA">[B, L].</param>
    /// <param name="meanB">[B, L].</param>
    /// <param name="logVarianceB">[B, L].</param>
    /// <returns>[B], ≥ 0.</returns>
    /// <exception cref="ArgumentException">Shapes that are not all the same [B, L].</exception>
    public static Tensor DiagonalGaussianW2(Tensor meanA, Tensor logVarianceA, Tensor meanB, Tensor logVarianceB)
    {
        NativeRuntime.EnsureInitialized();
        SameMatrix(meanA, logVarianceA, nameof(meanA), nameof(logVarianceA));
        SameMatrix(meanA, meanB, nameof(meanA), nameof(meanB));
        SameMatrix(meanA, logVarianceB, nameof(meanA), nameof(logVarianceB));
        using var scope = NewDisposeScope();
        var squared = (meanA - meanB).pow(2).sum(1) + ((logVarianceA * 0.5).exp() - (logVarianceB * 0.5).exp()).pow(2).sum(1);
        var positive = squared.gt(0.0);
        var safe = where(positive, squared, ones_like(squared));
        return where(positive, safe.sqrt(), zeros_like(squared)).MoveToOuterDisposeScope();
    }

    /// <summary>The W2 embedding of diagonal Gaussians: the rows (μ, σ) ∈ ℝ^{2L}, whose Euclidean distances are the
    /// 2-Wasserstein distances of <see cref="DiagonalGaussianW2"/>.</summary>
    /// <param name="mean">[B, L].</param>
    /// <param name="logVariance">[B, L].</param>
    /// <returns>[B, 2L]: μ in the first L columns, σ = exp(v/2) in the last L.</returns>
    /// <exception cref="ArgumentException">Shapes that are not the same [B, L].</exception>
    public static Tensor W2Embedding(Tensor mean, Tensor logVariance)
    {
        NativeRuntime.EnsureInitialized();
        SameMatrix(mean, logVariance, nameof(mean), nameof(logVariance));
        using var scope = NewDisposeScope();
        return cat(new[] { mean, (logVariance * 0.5).exp() }, 1).MoveToOuterDisposeScope();
    }

    private static void SameMatrix(Tensor a, Tensor b, string nameA, string nameB)
    {
        ArgumentNullException.ThrowIfNull(a, nameA);
        ArgumentNullException.ThrowIfNull(b, nameB);
        if (a.dim() != 2)
            throw new ArgumentException($"{nameA} has shape [{string.Join(",", a.shape)}]; it must be [B, n].", nameA);
        if (b.dim() != 2 || b.shape[0] != a.shape[0] || b.shape[1] != a.shape[1])
            throw new ArgumentException(
                $"{nameB} has shape [{string.Join(",", b.shape)}] but {nameA} has shape [{string.Join(",", a.shape)}]; they must match.", nameB);
    }
}
