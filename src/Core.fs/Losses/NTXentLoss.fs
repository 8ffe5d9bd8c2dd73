namespace DistEmbed.Core

open TorchSharp

/// <summary>Options of <c>NTXentLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type NTXentLossOptions() =
    /// <summary>The temperature τ &gt; 0 (default 0.1); logits are −D/τ.</summary>
    member val Temperature = 0.1 with get, set
    /// <summary>How the per-positive-pair terms are reduced (default <c>Mean</c> over the P positive pairs).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>The NT-Xent / InfoNCE loss over negative distances, with labels (any number of positives per anchor).</summary>
[<RequireQualifiedAccess>]
module NTXentLoss =

    /// <summary>
    /// NT-Xent (InfoNCE): for each positive pair (a, p), the cross-entropy of picking p among {p} ∪ N(a) with logits
    /// −D(a, ·)/τ, where N(a) are the negatives paired with anchor a.
    /// </summary>
    /// <remarks>
    /// <para>ℓ(a, p) = −log( exp(−D(a,p)/τ) / (exp(−D(a,p)/τ) + Σ_{n∈N(a)} exp(−D(a,n)/τ)) ), computed as
    /// logsumexp({−D(a,p)/τ} ∪ {−D(a,n)/τ}_{n∈N(a)}) + D(a,p)/τ, which is stable for any τ. This is [1, eq. 1] and [2, eq. 4]
    /// with the similarity sim(u, v)/τ replaced by −D(u, v)/τ; as in pytorch-metric-learning's <c>NTXentLoss</c>, every
    /// sample with the anchor's label is a positive (one term each) and N(a) holds the anchor's negative pairs
    /// (a2 = a). An anchor without negatives gives 0 for its positive pairs.</para>
    /// <para>Non-symmetric divergences: the anchor is always the first argument, D(anchor, other).</para>
    /// <para>[1] T. Chen, S. Kornblith, M. Norouzi, G. Hinton, "A Simple Framework for Contrastive Learning of Visual Representations" (SimCLR), ICML 2020, eq. 1.</para>
    /// <para>[2] A. van den Oord, Y. Li, O. Vinyals, "Representation Learning with Contrastive Predictive Coding", arXiv 1807.03748, 2018, eq. 4 (InfoNCE).</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="pairs">Pairs (a1, p [P]; a2, n [N]) into the batch, or null for all valid ordered pairs.</param>
    /// <param name="options">Temperature and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the P per-positive-pair terms [P] in the pairs' order.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, τ ≤ 0 or non-finite, an unknown reduction, an index outside the batch.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, pairs: PairIndices, options: NTXentLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        let options = if isNull options then NTXentLossOptions() else options
        TupleSupport.optionPositive "Temperature" options.Temperature
        TupleSupport.checkReduction options.Reduction
        use scope = torch.NewDisposeScope()
        let a1, p, a2, n = TupleSupport.resolvePairs embeddings labels pairs
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use minusInfinity = Scalar.op_Implicit System.Double.NegativeInfinity
        use inverseTemperature = Scalar.op_Implicit (-1.0 / options.Temperature)
        let positiveLogits = (TupleSupport.pairDistances embeddings distance a1 p).mul(inverseTemperature)
        let negativeLogits = (TupleSupport.pairDistances embeddings distance a2 n).mul(inverseTemperature).to_type(positiveLogits.dtype)
        let device = positiveLogits.device
        // sameAnchor[k, l]: negative pair l belongs to the anchor of positive pair k.
        let sameAnchor = (TupleSupport.onDevice device a1).unsqueeze(1L).eq((TupleSupport.onDevice device a2).unsqueeze(0L))
        let negatives =
            negativeLogits.unsqueeze(0L).expand(positiveLogits.shape.[0], negativeLogits.shape.[0])
                .masked_fill(sameAnchor.logical_not(), minusInfinity)
        let all = torch.cat([| positiveLogits.unsqueeze(1L); negatives |], 1L)
        let terms = torch.logsumexp(all, 1L).add(positiveLogits.neg(), one)
        (TupleSupport.reduce options.Reduction terms).MoveToOuterDisposeScope()
