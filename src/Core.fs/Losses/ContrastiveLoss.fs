namespace DistEmbed.Core

open TorchSharp

/// <summary>Options of <c>ContrastiveLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type ContrastiveLossOptions() =
    /// <summary>m_pos ≥ 0: positive pairs closer than this cost nothing (default 0).</summary>
    member val PositiveMargin = 0.0 with get, set
    /// <summary>m_neg ≥ 0: negative pairs farther than this cost nothing (default 1).</summary>
    member val NegativeMargin = 1.0 with get, set
    /// <summary>How the per-pair terms are reduced (default <c>Mean</c> over all P + N pair terms).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>The contrastive loss with a positive and a negative margin, over any distance.</summary>
[<RequireQualifiedAccess>]
module ContrastiveLoss =

    /// <summary>
    /// The contrastive loss: a positive-pair term [d_ap − m_pos]_+ for every positive pair and a negative-pair term
    /// [m_neg − d_an]_+ for every negative pair, reduced as <c>options.Reduction</c> says.
    /// </summary>
    /// <remarks>
    /// <para>L = reduce({[D(a1_k, p_k) − m_pos]_+}_{k=1..P} ∪ {[m_neg − D(a2_l, n_l)]_+}_{l=1..N}).
    /// With m_pos = 0 and D the Euclidean distance this is the loss of [1] without the squares and the ½.</para>
    /// <para>Non-symmetric divergences: the anchor is always the first argument, D(anchor, other). All valid pairs are
    /// ordered pairs, so both D(x_i, x_j) and D(x_j, x_i) enter.</para>
    /// <para>Only the distinct pairs the tuples use are evaluated (one <c>Paired</c> call). No pair at all gives 0,
    /// connected to the graph with a zero gradient.</para>
    /// <para>[1] R. Hadsell, S. Chopra, Y. LeCun, "Dimensionality Reduction by Learning an Invariant Mapping", CVPR 2006, eq. 4.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="pairs">Pairs (a1, p [P]; a2, n [N]) into the batch, or null for all valid ordered pairs.</param>
    /// <param name="options">Margins and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the terms [P + N]: the P positive-pair terms first, then the N negative-pair terms.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, a negative or non-finite margin, an index outside the batch.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, pairs: PairIndices, options: ContrastiveLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        let options = if isNull options then ContrastiveLossOptions() else options
        TupleSupport.optionAtLeast "PositiveMargin" 0.0 options.PositiveMargin
        TupleSupport.optionAtLeast "NegativeMargin" 0.0 options.NegativeMargin
        TupleSupport.checkReduction options.Reduction
        use scope = torch.NewDisposeScope()
        let a1, p, a2, n = TupleSupport.resolvePairs embeddings labels pairs
        let dap = TupleSupport.pairDistances embeddings distance a1 p
        let dan = TupleSupport.pairDistances embeddings distance a2 n
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use minusPositiveMargin = Scalar.op_Implicit (-options.PositiveMargin)
        use negativeMargin = Scalar.op_Implicit options.NegativeMargin
        let positive = torch.nn.functional.relu(dap.add(minusPositiveMargin, one))
        let negative = torch.nn.functional.relu(dan.neg().add(negativeMargin, one))
        let terms = torch.cat([| positive; negative.to_type(positive.dtype) |], 0L)
        (TupleSupport.reduce options.Reduction terms).MoveToOuterDisposeScope()
