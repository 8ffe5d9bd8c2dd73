namespace DistEmbed.Core

open System
open TorchSharp

/// <summary>Options of <c>Miners.DistanceWeighted</c> (Wu et al. 2017, §4).</summary>
[<Sealed; AllowNullLiteral>]
type DistanceWeightedOptions() =
    /// <summary>The lower clip of the (scaled) distance before weighting, &gt; 0 (default 0.5, as in [1]); it bounds the weights (λ of [1, eq. 4]).</summary>
    member val Cutoff = 0.5 with get, set
    /// <summary>Negatives at (scaled) distance ≥ this get weight 0 (default 1.4 as in [1]: they give no margin-loss gradient); in (Cutoff, 2].</summary>
    member val NonzeroLossCutoff = 1.4 with get, set
    /// <summary>s &gt; 0: the weights are computed at s·D (default 1: D is a Euclidean distance between unit vectors).</summary>
    member val Scale = 1.0 with get, set

/// <summary>A miner as the catalog creates it (<c>Miners.Create</c>): chooses the triplets a loss is computed on.</summary>
type IMiner =
    /// <summary>The catalog name (e.g. <c>batch-hard</c>).</summary>
    abstract Name: string
    /// <summary>The triplets of a batch, or null for every valid tuple (the miner <c>all</c>: the loss then uses all
    /// valid triplets or pairs of the batch).</summary>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <returns>The triplets (the caller disposes them), or null.</returns>
    abstract Mine: embeddings: IEmbeddingBatch * labels: torch.Tensor * distance: IDistance -> TripletIndices

/// <summary>Options of <c>Miners.Create</c>; each miner reads what it needs.</summary>
[<Sealed; AllowNullLiteral>]
type MinerOptions() =
    /// <summary>The margin m &gt; 0 of <c>semi-hard</c> (the band D(a, p) &lt; D(a, n) &lt; D(a, p) + m). Default: the
    /// triplet loss's default margin (<c>TripletMarginLossOptions().Margin</c>, 0.2).</summary>
    member val Margin = TripletMarginLossOptions().Margin with get, set

/// <summary>One entry of the miner catalog (<c>Miners.Catalog</c>): name, what it chooses, the options it reads, factory.</summary>
[<Sealed>]
type MinerDescriptor internal (name: string, summary: string, options: string[], factory: MinerOptions -> IMiner) =
    /// <summary>The name.</summary>
    member _.Name = name
    /// <summary>What it chooses, in one line.</summary>
    member _.Summary = summary
    /// <summary>The names of the <see cref="T:DistEmbed.Core.MinerOptions"/> properties it reads.</summary>
    member _.Options: Collections.Generic.IReadOnlyList<string> = Array.AsReadOnly(Array.copy options)
    /// <summary>Creates the miner.</summary>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The miner.</returns>
    /// <exception cref="T:System.ArgumentException">An option out of range (names it).</exception>
    member _.Create(options: MinerOptions) : IMiner = factory (if isNull options then MinerOptions() else options)
    override _.ToString() = name

/// <summary>
/// Miners: functions of a batch (embeddings, labels, distance) that choose the index tuples a loss is computed on.
/// Each evaluates the distance once, with one <c>Pairwise(embeddings, embeddings)</c> call under <c>no_grad</c>, whose
/// entry (i, j) is D(x_i, x_j): the anchor is always the first argument, so non-symmetric divergences are mined in the
/// order the losses use.
/// </summary>
[<RequireQualifiedAccess>]
module Miners =

    let private wrap (a: torch.Tensor, p: torch.Tensor, n: torch.Tensor) =
        TripletIndices.Wrap(a.MoveToOuterDisposeScope(), p.MoveToOuterDisposeScope(), n.MoveToOuterDisposeScope())

    let private matrix (embeddings: IEmbeddingBatch) (distance: IDistance) =
        let m = distance.Pairwise(embeddings, embeddings)
        let b = int64 embeddings.Count
        if m.dim() <> 2L || m.shape.[0] <> b || m.shape.[1] <> b then
            Validation.fail "distance" $"distance '{distance.Name}' returned a Pairwise matrix of shape {Validation.shape m}; [{b},{b}] was expected."
        m

    /// <summary>All valid triplets of a batch: label(a) = label(p), a ≠ p, label(n) ≠ label(a), in (a, p, n) lexicographic order.</summary>
    /// <remarks>K = Σ_a (|class(a)| − 1)(B − |class(a)|). Memory O(B³) booleans.</remarks>
    /// <param name="labels">int64 [B].</param>
    /// <returns>The K triplets, on the labels' device.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 1-D.</exception>
    [<CompiledName("AllTriplets")>]
    let allTriplets (labels: torch.Tensor) : TripletIndices =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkLabels labels
        use scope = torch.NewDisposeScope()
        wrap (TupleSupport.allTriplets labels)

    /// <summary>All valid ordered pairs of a batch: positives (i, j) with i ≠ j and equal labels, negatives (i, j) with different labels, row-major.</summary>
    /// <param name="labels">int64 [B].</param>
    /// <returns>The pairs, on the labels' device.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 1-D.</exception>
    [<CompiledName("AllPairs")>]
    let allPairs (labels: torch.Tensor) : PairIndices =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkLabels labels
        use scope = torch.NewDisposeScope()
        let a1, p, a2, n = TupleSupport.allPairs labels
        PairIndices.Wrap(a1.MoveToOuterDisposeScope(), p.MoveToOuterDisposeScope(), a2.MoveToOuterDisposeScope(), n.MoveToOuterDisposeScope())

    /// <summary>
    /// Batch-hard mining [1]: for every anchor a that has a positive and a negative in the batch, the triplet
    /// (a, argmax_{p: y_p = y_a, p ≠ a} D(a, p), argmin_{n: y_n ≠ y_a} D(a, n)).
    /// </summary>
    /// <remarks>
    /// <para>K ≤ B triplets in anchor order; anchors without a positive or without a negative are skipped. Ties go to
    /// the lowest index on the CPU (torch's argmax/argmin).</para>
    /// <para>[1] A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person Re-Identification", arXiv 1703.07737, 2017, eq. 5 ("Batch Hard").</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B].</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <returns>The K triplets, on the distance matrix's device.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B] or a distance for another representation.</exception>
    [<CompiledName("BatchHard")>]
    let batchHard (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance) : TripletIndices =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad()
        let m = matrix embeddings distance
        let positive, negative = TupleSupport.pairMasks (TupleSupport.onDevice m.device labels)
        use minusInfinity = Scalar.op_Implicit Double.NegativeInfinity
        use plusInfinity = Scalar.op_Implicit Double.PositiveInfinity
        let struct (_, hardestPositive) = m.masked_fill(positive.logical_not(), minusInfinity).max(1L)
        let struct (_, hardestNegative) = m.masked_fill(negative.logical_not(), plusInfinity).min(1L)
        let anchors = positive.any(1L).logical_and(negative.any(1L)).nonzero().squeeze(1L)
        wrap (anchors, hardestPositive.index_select(0L, anchors), hardestNegative.index_select(0L, anchors))

    /// <summary>
    /// Semi-hard mining [1, §3.2]: all valid triplets whose negative lies in the margin band
    /// D(a, p) &lt; D(a, n) &lt; D(a, p) + m.
    /// </summary>
    /// <remarks>
    /// <para>These negatives are farther than the positive but still violate the margin; the hinge triplet loss with
    /// margin m is positive on each of them and 0 on every triplet outside the band with D(a, n) ≥ D(a, p) + m. As
    /// pytorch-metric-learning's <c>TripletMarginMiner(type_of_triplets="semihard")</c>, every triplet in the band is
    /// returned (FaceNet picks one per (a, p) within a mini-batch). Order: (a, p, n) lexicographic. Memory O(B³).</para>
    /// <para>[1] F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for Face Recognition and Clustering", CVPR 2015, §3.2, eq. 4.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B].</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="margin">m &gt; 0, finite.</param>
    /// <returns>The K triplets, on the distance matrix's device.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, or m ≤ 0 or non-finite.</exception>
    [<CompiledName("SemiHard")>]
    let semiHard (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, margin: float) : TripletIndices =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        Validation.positive "margin" margin
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad()
        let m = matrix embeddings distance
        let positive, negative = TupleSupport.pairMasks (TupleSupport.onDevice m.device labels)
        use one = Scalar.op_Implicit 1.0
        use width = Scalar.op_Implicit margin
        let dap = m.unsqueeze(2L)
        let dan = m.unsqueeze(1L)
        let band =
            positive.unsqueeze(2L).logical_and(negative.unsqueeze(1L))
                .logical_and(dan.gt(dap)).logical_and(dan.lt(dap.add(width, one)))
        let idx = band.nonzero()
        wrap (idx.select(1L, 0L).contiguous(), idx.select(1L, 1L).contiguous(), idx.select(1L, 2L).contiguous())

    /// <summary>
    /// Distance-weighted sampling [1, §4, eq. 4]: for every positive pair (a, p), one negative n drawn with probability
    /// ∝ min(λ, q(D(a, n))⁻¹), where q(d) ∝ d^{n−2} (1 − d²/4)^{(n−3)/2} is the density of pairwise distances of points
    /// uniform on the unit sphere S^{n−1}.
    /// </summary>
    /// <remarks>
    /// <para>As the reference code of [1]: d̃ = max(s·D(a, n), Cutoff) (the clip bounds the weight, playing λ), log w =
    /// (2 − n) log d̃ − ((n − 3)/2) log(1 − d̃²/4), weights normalised per anchor over its negatives (label ≠ label(a))
    /// with s·D &lt; NonzeroLossCutoff; an anchor whose negatives all lie beyond the cutoff draws uniformly among its
    /// negatives (the reference code draws among all items); an anchor without positives or negatives gives no triplet.</para>
    /// <para>Non-sphere distances: the density q is that of the Euclidean distance between unit vectors in ℝ^n, d ∈ [0, 2].
    /// For another distance (Wasserstein, a learned divergence, unnormalised vectors) the sampler applies q to s·D with
    /// the scale s = <c>options.Scale</c>; choose s so that the batch's distances fall mostly in (0, 2) (e.g. 2 over a
    /// typical largest distance). It is then a heuristic "prefer spread-out negatives" weighting, not the exact
    /// inverse density.</para>
    /// <para>Deterministic: anchors in index order, positives in index order, one <c>System.Random(seed)</c> draw each
    /// (float64 weights on the CPU, so the result does not depend on the device). Triplets come in (a, p) order.</para>
    /// <para>[1] C.-Y. Wu, R. Manmatha, A. J. Smola, P. Krähenbühl, "Sampling Matters in Deep Embedding Learning", ICCV 2017, §4, eq. 4.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B].</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="dimension">n ≥ 2, the dimension of the space whose unit sphere the density q refers to (the embedding dimension in [1]).</param>
    /// <param name="seed">The seed of the random draws.</param>
    /// <param name="options">Cutoffs and scale; null for the defaults of [1].</param>
    /// <returns>One triplet per positive pair whose anchor has a negative, on the embeddings' device.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, n &lt; 2, Cutoff ≤ 0, NonzeroLossCutoff not in (Cutoff, 2], Scale ≤ 0.</exception>
    [<CompiledName("DistanceWeighted")>]
    let distanceWeighted (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, dimension: int, seed: int, options: DistanceWeightedOptions) : TripletIndices =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        Validation.atLeastInt "dimension" 2 dimension
        let options = if isNull options then DistanceWeightedOptions() else options
        TupleSupport.optionPositive "Cutoff" options.Cutoff
        TupleSupport.optionPositive "Scale" options.Scale
        if Double.IsNaN options.NonzeroLossCutoff || options.NonzeroLossCutoff <= options.Cutoff || options.NonzeroLossCutoff > 2.0 then
            Validation.fail "options" $"options.NonzeroLossCutoff = {options.NonzeroLossCutoff} is invalid; it must lie in (Cutoff, 2] = ({options.Cutoff}, 2]."
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad()
        let b = embeddings.Count
        let d = (matrix embeddings distance).cpu().to_type(torch.float64).data<float>().ToArray()
        let y = labels.cpu().data<int64>().ToArray()
        let n = float dimension
        let random = Random(seed)
        let anchors = ResizeArray<int64>()
        let positives = ResizeArray<int64>()
        let negatives = ResizeArray<int64>()
        for a in 0 .. b - 1 do
            let candidates = [| for j in 0 .. b - 1 do if y.[j] <> y.[a] then j |]
            let pos = [| for j in 0 .. b - 1 do if j <> a && y.[j] = y.[a] then j |]
            if candidates.Length > 0 && pos.Length > 0 then
                let logWeight j =
                    let s = options.Scale * d.[a * b + j]
                    if Double.IsNaN s || s >= options.NonzeroLossCutoff then Double.NegativeInfinity
                    else
                        let t = max s options.Cutoff
                        (2.0 - n) * log t - ((n - 3.0) / 2.0) * log (1.0 - 0.25 * t * t)
                let logs = candidates |> Array.map logWeight
                let top = Array.max logs
                let weights =
                    if Double.IsNegativeInfinity top then Array.create candidates.Length 1.0
                    else logs |> Array.map (fun l -> exp (l - top))
                let cumulative = Array.scan (+) 0.0 weights |> Array.tail
                let total = cumulative.[cumulative.Length - 1]
                for p in pos do
                    let u = random.NextDouble() * total
                    let k = cumulative |> Array.tryFindIndex (fun c -> u < c) |> Option.defaultValue (cumulative.Length - 1)
                    anchors.Add(int64 a)
                    positives.Add(int64 p)
                    negatives.Add(int64 candidates.[k])
        let device = embeddings.Device
        wrap (torch.tensor(anchors.ToArray(), device = device), torch.tensor(positives.ToArray(), device = device), torch.tensor(negatives.ToArray(), device = device))

    let private miner (name: string) (mine: IEmbeddingBatch -> torch.Tensor -> IDistance -> TripletIndices) =
        { new IMiner with
            member _.Name = name
            member _.Mine(embeddings, labels, distance) = mine embeddings labels distance }

    /// <summary>
    /// The miner catalog: <c>all</c> (no mining: every valid triplet or pair), <c>batch-hard</c> (<c>BatchHard</c>),
    /// <c>semi-hard</c> (<c>SemiHard</c>, reads <c>Margin</c>).
    /// </summary>
    [<CompiledName("Catalog")>]
    let catalog: Collections.Generic.IReadOnlyList<MinerDescriptor> =
        [| MinerDescriptor("all", "every valid triplet or pair of the batch (no mining)", [||], fun _ -> miner "all" (fun _ _ _ -> null))
           MinerDescriptor("batch-hard", "per anchor, the farthest positive and the nearest negative (Hermans et al. 2017)", [||], fun _ ->
               miner "batch-hard" (fun e y d -> batchHard (e, y, d)))
           MinerDescriptor("semi-hard", "every triplet with D(a, p) < D(a, n) < D(a, p) + m (FaceNet)", [| "Margin" |], fun o ->
               Validation.positive "options.Margin" o.Margin
               let m = o.Margin
               miner "semi-hard" (fun e y d -> semiHard (e, y, d, m))) |]
        |> Array.AsReadOnly
        :> Collections.Generic.IReadOnlyList<MinerDescriptor>

    /// <summary>The default miner: <c>all</c> (every valid tuple; it works with every loss and every batch).</summary>
    [<CompiledName("Default")>]
    let defaultName = "all"

    /// <summary>The names <c>Miners.Create</c> accepts.</summary>
    [<CompiledName("Names")>]
    let names = catalog |> Seq.map (fun d -> d.Name) |> Seq.toArray

    /// <summary>The descriptor of a name (case-insensitive).</summary>
    /// <param name="name">One of <c>Miners.Names</c>.</param>
    /// <returns>The descriptor.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name, lists the valid ones).</exception>
    [<CompiledName("Describe")>]
    let describe (name: string) : MinerDescriptor =
        Validation.notNull "name" name
        let key = name.Trim().ToLowerInvariant()
        match catalog |> Seq.tryFind (fun d -> d.Name = key) with
        | Some d -> d
        | None ->
            let valid = String.Join(", ", names)
            Validation.fail "name" $"miner '{name}' is unknown; valid names: {valid}."

    /// <summary>Creates a miner by name.</summary>
    /// <param name="name">One of <c>Miners.Names</c> (case-insensitive).</param>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The miner.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name); an option out of range (names it).</exception>
    [<CompiledName("Create")>]
    let create (name: string, options: MinerOptions) : IMiner = (describe name).Create(options)
