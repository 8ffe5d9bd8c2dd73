namespace DistEmbed.Core

open TorchSharp

/// <summary>Options of <c>MarginLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type MarginLossOptions() =
    /// <summary>The margin α ≥ 0 around the boundary β (default 0.2, as in [1]).</summary>
    member val Margin = 0.2 with get, set
    /// <summary>ν ≥ 0, the weight of the β regularisation ν·β added to each pair term (default 0).</summary>
    member val Nu = 0.0 with get, set
    /// <summary>How the per-pair terms are reduced (default <c>Mean</c> over all P + N pairs).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>The margin loss with a learnable boundary β of Wu et al. (2017), over any distance.</summary>
[<RequireQualifiedAccess>]
module MarginLoss =

    /// <summary>
    /// Margin loss [1, eq. 3]: for each pair (i, j) with y_ij = +1 (positive) or −1 (negative),
    /// [α + y_ij (D(x_i, x_j) − β_(i))]_+ + ν β_(i).
    /// </summary>
    /// <remarks>
    /// <para>β is a tensor the caller owns (create it with <c>requires_grad</c> and give it to the optimizer, as [1]
    /// learns it): a 0-dimensional tensor is one global boundary β^(0); a tensor [C] holds one boundary per class,
    /// β_(i) = β[label(i)] (labels must then lie in [0, C)). The term ν β_(i) is the regularisation of [1, eq. 5],
    /// added per pair term (as pytorch-metric-learning does); with ν = 0 (the default) the loss is exactly 0 when every
    /// positive pair is within β − α and every negative pair beyond β + α.</para>
    /// <para>Non-symmetric divergences: the anchor is always the first argument, D(anchor, other), and β_(i) is the anchor's.</para>
    /// <para>[1] C.-Y. Wu, R. Manmatha, A. J. Smola, P. Krähenbühl, "Sampling Matters in Deep Embedding Learning", ICCV 2017, eq. 3 and 5.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="beta">β: a floating 0-dimensional tensor (global) or [C] (per class), finite; may require grad.</param>
    /// <param name="pairs">Pairs (a1, p [P]; a2, n [N]) into the batch (e.g. <c>PairIndices.FromTriplets</c> of a distance-weighted miner), or null for all valid ordered pairs.</param>
    /// <param name="options">α, ν and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the terms [P + N]: the P positive-pair terms first, then the N negative-pair terms.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, β not floating 0-D or [C] or not finite, a label outside [0, C), α or ν negative, an unknown reduction, an index outside the batch.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, beta: torch.Tensor, pairs: PairIndices, options: MarginLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        Validation.notNull "beta" beta
        Validation.floating "beta" beta
        if beta.dim() > 1L || (beta.dim() = 1L && beta.shape.[0] = 0L) then
            Validation.fail "beta" $"beta has shape {Validation.shape beta}; it must be a 0-dimensional tensor (global) or [C] with C ≥ 1 (per class)."
        Validation.finiteTensor "beta" beta
        let options = if isNull options then MarginLossOptions() else options
        TupleSupport.optionAtLeast "Margin" 0.0 options.Margin
        TupleSupport.optionAtLeast "Nu" 0.0 options.Nu
        TupleSupport.checkReduction options.Reduction
        use scope = torch.NewDisposeScope()
        if beta.dim() = 1L then
            let lo = labels.min().ToInt64()
            let hi = labels.max().ToInt64()
            if lo < 0L then Validation.fail "labels" $"labels holds {lo}; a per-class beta needs labels in [0, C)."
            if hi >= beta.shape.[0] then
                Validation.fail "beta" $"beta has C = {beta.shape.[0]} entries but labels holds {hi}; a per-class beta needs C > every label."
        let a1, p, a2, n = TupleSupport.resolvePairs embeddings labels pairs
        let dap = TupleSupport.pairDistances embeddings distance a1 p
        let dan = (TupleSupport.pairDistances embeddings distance a2 n).to_type(dap.dtype)
        let device = dap.device
        let b = beta.to_type(dap.dtype).``to``(device)
        let labelsOnDevice = TupleSupport.onDevice device labels
        let boundary (anchors: torch.Tensor) =
            if b.dim() = 0L then b.expand(anchors.shape.[0])
            else b.index_select(0L, labelsOnDevice.index_select(0L, TupleSupport.onDevice device anchors))
        let bp = boundary a1
        let bn = boundary a2
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use margin = Scalar.op_Implicit options.Margin
        use nu = Scalar.op_Implicit options.Nu
        let positive = torch.nn.functional.relu(dap.add(bp.neg(), one).add(margin, one)).add(bp.mul(nu), one)
        let negative = torch.nn.functional.relu(bn.add(dan.neg(), one).add(margin, one)).add(bn.mul(nu), one)
        (TupleSupport.reduce options.Reduction (torch.cat([| positive; negative |], 0L))).MoveToOuterDisposeScope()
