using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed;

/// <summary>
/// Exact Euclidean exports of embeddings: vectors whose L2 distances equal a Wasserstein distance between the
/// embeddings, ready for any L2 vector engine (an HNSW index, PostgreSQL with pgvector, FAISS).
/// <code>
/// using var x = quantiles.ToEuclidean();                 // ‖x_i − x_j‖₂ = quantile-w2(q_i, q_j)
/// using var y = distributions.ToEuclidean();             // marginal-w2, equal-length uniform point sets
/// using var z = distributions.ToEuclidean(directions);   // sliced-w2 with those fixed directions
/// </code>
/// </summary>
/// <remarks>
/// The maps of <c>EuclideanExport</c>: quantile values scaled by √(level mass) [B, d·Q]; sorted coordinates divided by
/// √T [B, T·d]; sorted projections divided by √(L·T) [B, T·L]. Sinkhorn, MMD, energy, Bures, Bregman, W1 and max-sliced
/// distances have no such map: export a proxy (quantile-w2 or marginal-w2) and re-rank its candidates with the distance
/// you want (see docs/distances.md, "Exact Euclidean export").
/// </remarks>
public static class EuclideanExports
{
    /// <summary>The exact Euclidean map of quantile embeddings under quantile-w2 ([B, d·Q] values a_kq·√w_q), or of
    /// equal-length, uniformly weighted distributions under marginal-w2 ([B, T·d] sorted coordinates divided by √T).</summary>
    /// <param name="batch">B quantile embeddings [B, d, Q], or B distributions [B, T, d] with uniform weights and no padding.</param>
    /// <returns>The vectors (the batch's dtype and device); the caller owns them.</returns>
    /// <exception cref="ArgumentException">A batch of vectors, or distributions with padding or non-uniform weights (names batch).</exception>
    public static torch.Tensor ToEuclidean(this EmbeddingBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return batch.Core switch
        {
            QuantileBatch q => EuclideanExport.OfQuantiles(q),
            DistributionBatch p => EuclideanExport.OfDistributions(p),
            _ => throw new ArgumentException(
                $"batch holds {batch.Representation}, which are their own Euclidean export; the map exists for quantiles and distributions.", nameof(batch)),
        };
    }

    /// <summary>The exact Euclidean map of equal-length, uniformly weighted distributions under sliced-w2 with fixed
    /// directions: [B, T·L] sorted projections divided by √(L·T).</summary>
    /// <param name="batch">B distributions [B, T, d], uniform weights, no padding.</param>
    /// <param name="directions">[L, d] directions, the ones the sliced distance was made with.</param>
    /// <returns>[B, T·L] (the batch's dtype and device); the caller owns it.</returns>
    /// <exception cref="ArgumentException">batch does not hold distributions, or has padding or non-uniform weights (names
    /// batch); directions of another dimension, non-finite or zero (names directions).</exception>
    public static torch.Tensor ToEuclidean(this EmbeddingBatch batch, torch.Tensor directions)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return batch.Core is DistributionBatch p
            ? EuclideanExport.OfSliced(p, directions)
            : throw new ArgumentException($"batch holds {batch.Representation}; the sliced-w2 map takes distributions.", nameof(batch));
    }

    /// <summary>The exact Euclidean map of a batch under a distance that has one (euclidean, quantile-w2, marginal-w2).</summary>
    /// <param name="batch">A batch of the representation the distance accepts.</param>
    /// <param name="distance">The distance.</param>
    /// <returns>[B, F] vectors whose L2 distances are the distance's values; the caller owns it.</returns>
    /// <exception cref="ArgumentException">A distance without an exact map (names distance; sliced-w2 needs its directions:
    /// use the overload that takes them), or a batch the map cannot take (names batch).</exception>
    public static torch.Tensor ToEuclidean(this EmbeddingBatch batch, Distance distance)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(distance);
        return EuclideanExport.For(distance.Core, batch.Core);
    }
}
