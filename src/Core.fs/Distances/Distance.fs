namespace DistEmbed.Core

open TorchSharp

/// <summary>
/// A distance or divergence between embeddings: the one parameter type that every loss, miner, retrieval metric
/// and similarity measure takes.
/// </summary>
/// <remarks>
/// <c>Paired(a, b)</c> returns [B] with entry i = D(a_i, b_i); <c>Pairwise(a, b)</c> returns [B, B'] with entry
/// (i, j) = D(a_i, b_j). For a divergence that is not symmetric (<c>IsSymmetric = false</c>, e.g. Bregman, KL),
/// the first argument is always the first slot: callers that compare an anchor with others call D(anchor, other).
/// Results are differentiable tensors on the inputs' device and dtype.
/// </remarks>
type IDistance =
    /// <summary>The name used on the command line and in manifests (e.g. <c>marginal-w2</c>).</summary>
    abstract Name: string
    /// <summary>True when D satisfies the metric axioms (non-negativity, identity, symmetry, triangle inequality).</summary>
    abstract IsMetric: bool
    /// <summary>True when D(x, y) = D(y, x) for all x, y.</summary>
    abstract IsSymmetric: bool
    /// <summary>The representation this distance accepts.</summary>
    abstract Accepts: Representation
    /// <summary>D(a_i, b_i) for i = 1..B: both batches have B items; returns [B].</summary>
    abstract Paired: a: IEmbeddingBatch * b: IEmbeddingBatch -> torch.Tensor
    /// <summary>D(a_i, b_j) for all i, j: returns [B, B'].</summary>
    abstract Pairwise: a: IEmbeddingBatch * b: IEmbeddingBatch -> torch.Tensor
