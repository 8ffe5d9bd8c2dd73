namespace DistEmbed.Core

open TorchSharp

/// <summary>Options of <c>SupConLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type SupConLossOptions() =
    /// <summary>The temperature τ &gt; 0 (default 0.1, as in [1]); logits are −D/τ.</summary>
    member val Temperature = 0.1 with get, set
    /// <summary>How the per-anchor terms are reduced (default <c>Mean</c> over the anchors that have a positive pair).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>The supervised contrastive loss (SupCon, L^sup_out) of Khosla et al. (2020) over any distance.</summary>
[<RequireQualifiedAccess>]
module SupConLoss =

    /// <summary>
    /// Supervised contrastive loss [1, eq. 2] (L^sup_out) with logits −D/τ: for each anchor i with positives P(i),
    /// ℓ_i = −(1/|P(i)|) Σ_{p∈P(i)} log( exp(−D(i,p)/τ) / Σ_{a∈A(i)} exp(−D(i,a)/τ) ).
    /// </summary>
    /// <remarks>
    /// <para>[1, eq. 2] uses the similarity z_i·z_p/τ of unit vectors. With the catalog's <c>cosine</c> distance
    /// D = 1 − cos, −D/τ = (cos − 1)/τ differs from it by the constant −1/τ, which cancels in the softmax: the loss is
    /// exactly [1, eq. 2] on normalised embeddings. Any other distance gives the same formula with the similarity −D.</para>
    /// <para>P(i) holds the positive pairs with anchor i (a1 = i), A(i) = P(i) ∪ N(i) all pairs with anchor i (positive
    /// and negative, a2 = i); with all valid pairs (pairs = null) A(i) is every other item of the batch, as in [1].
    /// Pairs listed twice count twice. Anchors without positives have no term (|P(i)| = 0 is undefined in [1]); the
    /// terms are those of the anchors with at least one positive pair, in increasing anchor order. The denominator is a
    /// log-sum-exp, stable for any τ. In contrast to NT-Xent (one softmax per positive pair over that positive and the
    /// negatives) the other positives of the anchor stay in the denominator.</para>
    /// <para>Non-symmetric divergences: the anchor is always the first argument, D(anchor, other).</para>
    /// <para>[1] P. Khosla, P. Teterwak, C. Wang, A. Sarna, Y. Tian, P. Isola, A. Maschinot, C. Liu, D. Krishnan, "Supervised Contrastive Learning", NeurIPS 2020, eq. 2.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="pairs">Pairs (a1, p [P]; a2, n [N]) into the batch, or null for all valid ordered pairs.</param>
    /// <param name="options">Temperature and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the per-anchor terms [A] of the A anchors with a positive pair, in anchor order.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, τ ≤ 0 or non-finite, an unknown reduction, an index outside the batch.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, pairs: PairIndices, options: SupConLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        let options = if isNull options then SupConLossOptions() else options
        TupleSupport.optionPositive "Temperature" options.Temperature
        TupleSupport.checkReduction options.Reduction
        use scope = torch.NewDisposeScope()
        let a1, p, a2, n = TupleSupport.resolvePairs embeddings labels pairs
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use zero = Scalar.op_Implicit 0.0
        use minusInverseTemperature = Scalar.op_Implicit (-1.0 / options.Temperature)
        let positiveLogits = (TupleSupport.pairDistances embeddings distance a1 p).mul(minusInverseTemperature)
        let negativeLogits = (TupleSupport.pairDistances embeddings distance a2 n).mul(minusInverseTemperature).to_type(positiveLogits.dtype)
        let device = positiveLogits.device
        let b = int64 embeddings.Count
        let owners1 = TupleSupport.onDevice device a1
        let owners = torch.cat([| owners1; TupleSupport.onDevice device a2 |], 0L)
        let denominators = TupleSupport.groupLogSumExp owners (torch.cat([| positiveLogits; negativeLogits |], 0L)) b
        let logProbabilities = positiveLogits.add(denominators.index_select(0L, owners1).neg(), one)
        let sums, counts = TupleSupport.groupSum owners1 logProbabilities b
        let anchors = counts.gt(zero).nonzero().squeeze(1L)
        let terms = sums.index_select(0L, anchors).div(counts.index_select(0L, anchors)).neg()
        (TupleSupport.reduce options.Reduction terms).MoveToOuterDisposeScope()
