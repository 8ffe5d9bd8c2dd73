namespace DistEmbed.Core

open TorchSharp

/// <summary>Options of <c>MultiSimilarityLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type MultiSimilarityLossOptions() =
    /// <summary>α &gt; 0, the weight of the positive term (default 2, as in [1]).</summary>
    member val Alpha = 2.0 with get, set
    /// <summary>β &gt; 0, the weight of the negative term (default 50, as in [1]).</summary>
    member val Beta = 50.0 with get, set
    /// <summary>λ, the distance threshold: positives farther and negatives closer than λ are penalised (default 0.5).</summary>
    member val Threshold = 0.5 with get, set
    /// <summary>How the per-anchor terms are reduced (default <c>Mean</c> over all B anchors).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>The multi-similarity loss of Wang et al. (2019) over any distance.</summary>
[<RequireQualifiedAccess>]
module MultiSimilarityLoss =

    /// <summary>
    /// Multi-similarity loss [1, eq. 5] with the similarity S = −D: one term per anchor i,
    /// (1/α) log(1 + Σ_{k∈P_i} exp(α(D_ik − λ))) + (1/β) log(1 + Σ_{k∈N_i} exp(−β(D_ik − λ))).
    /// </summary>
    /// <remarks>
    /// <para>Eq. 5 of [1] reads (1/α) log[1 + Σ_{P_i} e^{−α(S_ik − λ_S)}] + (1/β) log[1 + Σ_{N_i} e^{β(S_ik − λ_S)}];
    /// with S = −D and the threshold stated as a distance λ = −λ_S it becomes the formula above (as
    /// pytorch-metric-learning does for distances). P_i holds the positive pairs with anchor i (a1 = i), N_i the
    /// negative pairs with anchor i (a2 = i), each counted as often as it is listed; log(1 + Σ e^x) is computed as a
    /// logsumexp with a zero entry. The pair mining of [1, eq. 6–7] is not part of the loss: pass mined pairs, or null for
    /// all valid pairs. An anchor without pairs contributes 0.</para>
    /// <para>Non-symmetric divergences: the anchor is always the first argument, D(anchor, other).</para>
    /// <para>[1] X. Wang, X. Han, W. Huang, D. Dong, M. R. Scott, "Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning", CVPR 2019, eq. 5.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="pairs">Pairs (a1, p [P]; a2, n [N]) into the batch, or null for all valid ordered pairs.</param>
    /// <param name="options">α, β, λ and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the B per-anchor terms [B].</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, α or β ≤ 0, a non-finite λ, an unknown reduction, an index outside the batch.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, pairs: PairIndices, options: MultiSimilarityLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        let options = if isNull options then MultiSimilarityLossOptions() else options
        TupleSupport.optionPositive "Alpha" options.Alpha
        TupleSupport.optionPositive "Beta" options.Beta
        TupleSupport.optionFinite "Threshold" options.Threshold
        TupleSupport.checkReduction options.Reduction
        use scope = torch.NewDisposeScope()
        let a1, p, a2, n = TupleSupport.resolvePairs embeddings labels pairs
        let dap = TupleSupport.pairDistances embeddings distance a1 p
        let dan = (TupleSupport.pairDistances embeddings distance a2 n).to_type(dap.dtype)
        let device = dap.device
        let b = int64 embeddings.Count
        let anchors = torch.arange(b, dtype = torch.int64, device = device).unsqueeze(1L)
        // log(1 + Σ_{k: owner_k = i} exp(x_k)) for every anchor i: a [B, K] masked logsumexp with a zero column.
        use minusInfinity = Scalar.op_Implicit System.Double.NegativeInfinity
        let perAnchor (owner: torch.Tensor) (x: torch.Tensor) =
            let mine = anchors.eq((TupleSupport.onDevice device owner).unsqueeze(0L))
            let masked = x.unsqueeze(0L).expand(b, x.shape.[0]).masked_fill(mine.logical_not(), minusInfinity)
            torch.logsumexp(torch.cat([| torch.zeros(b, 1L, dtype = x.dtype, device = device); masked |], 1L), 1L)
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use minusThreshold = Scalar.op_Implicit (-options.Threshold)
        use alpha = Scalar.op_Implicit options.Alpha
        use minusBeta = Scalar.op_Implicit (-options.Beta)
        use inverseAlpha = Scalar.op_Implicit (1.0 / options.Alpha)
        use inverseBeta = Scalar.op_Implicit (1.0 / options.Beta)
        let positive = perAnchor a1 (dap.add(minusThreshold, one).mul(alpha))
        let negative = perAnchor a2 (dan.add(minusThreshold, one).mul(minusBeta))
        let terms = positive.mul(inverseAlpha).add(negative.mul(inverseBeta), one)
        (TupleSupport.reduce options.Reduction terms).MoveToOuterDisposeScope()
