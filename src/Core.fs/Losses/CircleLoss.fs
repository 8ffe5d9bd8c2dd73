namespace DistEmbed.Core

open TorchSharp

/// <summary>Options of <c>CircleLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type CircleLossOptions() =
    /// <summary>The relaxation margin m ≥ 0 (default 0.25, as in [1] for face recognition / fine-grained retrieval): O_p = 1 + m, O_n = −m, Δ_p = 1 − m, Δ_n = m.</summary>
    member val Margin = 0.25 with get, set
    /// <summary>The scale γ &gt; 0 (default 256, as in [1] for fine-grained image retrieval).</summary>
    member val Gamma = 256.0 with get, set
    /// <summary>How the per-anchor terms are reduced (default <c>Mean</c> over the anchors that have a positive and a negative pair).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>The circle loss of Sun et al. (2020) with self-paced weights, over any distance.</summary>
[<RequireQualifiedAccess>]
module CircleLoss =

    /// <summary>
    /// Circle loss [1, eq. 4 with eq. 5–8] with the similarity s = 1 − D: for each anchor with positive similarities
    /// s_p^i and negative similarities s_n^j,
    /// log(1 + Σ_j exp(γ α_n^j (s_n^j − Δ_n)) · Σ_i exp(−γ α_p^i (s_p^i − Δ_p))),
    /// α_p^i = [O_p − s_p^i]_+, α_n^j = [s_n^j − O_n]_+, O_p = 1 + m, O_n = −m, Δ_p = 1 − m, Δ_n = m.
    /// </summary>
    /// <remarks>
    /// <para>[1] defines s as the cosine similarity. With the catalog's <c>cosine</c> distance D = 1 − cos the similarity
    /// s = 1 − D is exactly cos and the loss is [1, eq. 4, 8]. For any other distance s = 1 − D is the negative distance
    /// shifted so that D = 0 gives s = 1: the optimum sits at D ≤ m for positives and D ≥ 1 − m for negatives, so scale
    /// the distance (or m) to the batch's distances.</para>
    /// <para>The self-paced weights α are treated as constants in back-propagation (detached), as in the authors'
    /// implementation and pytorch-metric-learning's <c>CircleLoss</c>. The term is computed as
    /// softplus(logsumexp_j(γ α_n^j (s_n^j − Δ_n)) + logsumexp_i(−γ α_p^i (s_p^i − Δ_p))), stable for any γ.</para>
    /// <para>The positive pairs of anchor i are those with a1 = i, its negative pairs those with a2 = i (pairs listed twice
    /// count twice). An anchor without a positive or a negative pair has the term 0 and is left out: the terms are those
    /// of the anchors with at least one positive and one negative pair, in increasing anchor order.</para>
    /// <para>Non-symmetric divergences: the anchor is always the first argument, D(anchor, other).</para>
    /// <para>[1] Y. Sun, C. Cheng, Y. Zhang, C. Zhang, L. Zheng, Z. Wang, Y. Wei, "Circle Loss: A Unified Perspective of Pair Similarity Optimization", CVPR 2020, eq. 4–8.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="pairs">Pairs (a1, p [P]; a2, n [N]) into the batch, or null for all valid ordered pairs.</param>
    /// <param name="options">m, γ and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the per-anchor terms [A] of the A anchors with a positive and a negative pair, in anchor order.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, m &lt; 0, γ ≤ 0, a non-finite option, an unknown reduction, an index outside the batch.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, pairs: PairIndices, options: CircleLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        let options = if isNull options then CircleLossOptions() else options
        TupleSupport.optionAtLeast "Margin" 0.0 options.Margin
        TupleSupport.optionPositive "Gamma" options.Gamma
        TupleSupport.checkReduction options.Reduction
        use scope = torch.NewDisposeScope()
        let a1, p, a2, n = TupleSupport.resolvePairs embeddings labels pairs
        let dap = TupleSupport.pairDistances embeddings distance a1 p
        let dan = (TupleSupport.pairDistances embeddings distance a2 n).to_type(dap.dtype)
        let device = dap.device
        let b = int64 embeddings.Count
        let m = options.Margin
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use optimumPositive = Scalar.op_Implicit (1.0 + m)
        use minusOptimumNegative = Scalar.op_Implicit m
        use minusDeltaPositive = Scalar.op_Implicit (-(1.0 - m))
        use minusDeltaNegative = Scalar.op_Implicit (-m)
        use gamma = Scalar.op_Implicit options.Gamma
        use minusGamma = Scalar.op_Implicit (-options.Gamma)
        // s = 1 − D.
        let sp = dap.neg().add(one, one)
        let sn = dan.neg().add(one, one)
        // α_p = [O_p − s_p]_+, α_n = [s_n − O_n]_+ (detached, self-paced weights).
        let alphaP = torch.nn.functional.relu(sp.detach().neg().add(optimumPositive, one))
        let alphaN = torch.nn.functional.relu(sn.detach().add(minusOptimumNegative, one))
        let logitP = alphaP.mul(sp.add(minusDeltaPositive, one)).mul(minusGamma)
        let logitN = alphaN.mul(sn.add(minusDeltaNegative, one)).mul(gamma)
        let lseP = TupleSupport.groupLogSumExp (TupleSupport.onDevice device a1) logitP b
        let lseN = TupleSupport.groupLogSumExp (TupleSupport.onDevice device a2) logitN b
        let anchors = lseP.isneginf().logical_not().logical_and(lseN.isneginf().logical_not()).nonzero().squeeze(1L)
        let terms = torch.nn.functional.softplus(lseP.index_select(0L, anchors).add(lseN.index_select(0L, anchors), one))
        (TupleSupport.reduce options.Reduction terms).MoveToOuterDisposeScope()
