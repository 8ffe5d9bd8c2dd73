namespace DistEmbed.Core

open TorchSharp

/// <summary>The per-triplet penalty of <c>TripletMarginLoss.Compute</c>.</summary>
type TripletPenalty =
    /// <summary>The hinge [d_ap − d_an + m]_+ (FaceNet).</summary>
    | Hinge = 0
    /// <summary>The soft margin log(1 + exp(d_ap − d_an)) (Hermans et al.); the margin is not used.</summary>
    | SoftPlus = 1

/// <summary>Options of <c>TripletMarginLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type TripletMarginLossOptions() =
    /// <summary>The margin m ≥ 0 of the hinge (default 0.2, as in [1]).</summary>
    member val Margin = 0.2 with get, set
    /// <summary>Hinge (default) or soft-plus.</summary>
    member val Penalty = TripletPenalty.Hinge with get, set
    /// <summary>How the per-triplet terms are reduced (default <c>Mean</c> over all K triplets).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>The triplet margin loss over any distance, on given triplets or all valid triplets of a batch.</summary>
[<RequireQualifiedAccess>]
module TripletMarginLoss =

    /// <summary>
    /// The triplet loss: for each triplet (a, p, n), the hinge [d_ap − d_an + m]_+ or the soft plus
    /// log(1 + exp(d_ap − d_an)), with d_ap = D(x_a, x_p) and d_an = D(x_a, x_n).
    /// </summary>
    /// <remarks>
    /// <para>Hinge [1, eq. 1–2]: L = reduce_k [D(a_k, p_k) − D(a_k, n_k) + m]_+. Soft margin [2, §2 "soft-margin"]:
    /// L = reduce_k log(1 + exp(D(a_k, p_k) − D(a_k, n_k))), computed as a stable soft plus; it is never exactly 0.</para>
    /// <para>Non-symmetric divergences: the anchor is always the first argument, D(anchor, other).</para>
    /// <para>Only the distinct (anchor, other) pairs the triplets use are evaluated (one <c>Paired</c> call). No
    /// triplet at all gives 0, connected to the graph with a zero gradient.</para>
    /// <para>[1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for Face Recognition and Clustering", CVPR 2015, eq. 1–2.</para>
    /// <para>[2] A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person Re-Identification", arXiv 1703.07737, 2017, §2.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="triplets">Triplets (a, p, n) [K] into the batch (e.g. from a miner), or null for all valid triplets.</param>
    /// <param name="options">Margin, penalty and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the K per-triplet terms [K] in the triplets' order.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, a negative or non-finite margin, an unknown penalty or reduction, an index outside the batch.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, triplets: TripletIndices, options: TripletMarginLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        let options = if isNull options then TripletMarginLossOptions() else options
        TupleSupport.optionAtLeast "Margin" 0.0 options.Margin
        if options.Penalty <> TripletPenalty.Hinge && options.Penalty <> TripletPenalty.SoftPlus then
            Validation.fail "options" $"options.Penalty = {int options.Penalty} is not one of Hinge, SoftPlus."
        TupleSupport.checkReduction options.Reduction
        use scope = torch.NewDisposeScope()
        let a, p, n =
            if isNull triplets then TupleSupport.allTriplets labels
            else
                TupleSupport.checkRange "triplets" embeddings.Count [ triplets.Anchor; triplets.Positive; triplets.Negative ]
                triplets.Anchor, triplets.Positive, triplets.Negative
        let k = a.shape.[0]
        // One Paired call over the distinct (anchor, positive) and (anchor, negative) pairs.
        let d = TupleSupport.pairDistances embeddings distance (torch.cat([| a; a |], 0L)) (torch.cat([| p; n |], 0L))
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use margin = Scalar.op_Implicit options.Margin
        let gap = d.narrow(0L, 0L, k).add(d.narrow(0L, k, k).neg(), one)
        let terms =
            match options.Penalty with
            | TripletPenalty.SoftPlus -> torch.nn.functional.softplus(gap)
            | _ -> torch.nn.functional.relu(gap.add(margin, one))
        (TupleSupport.reduce options.Reduction terms).MoveToOuterDisposeScope()
