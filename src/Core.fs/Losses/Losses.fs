namespace DistEmbed.Core

open System
open System.Collections.Generic
open TorchSharp

/// <summary>
/// Options of <see cref="M:DistEmbed.Core.Losses.Create(System.String,DistEmbed.Core.LossOptions)"/>: the options
/// object of each loss, each with its own defaults (written once, in that object's type); a loss reads its own.
/// </summary>
[<Sealed; AllowNullLiteral>]
type LossOptions() =
    /// <summary>Options of <c>triplet</c> (margin 0.2, hinge, mean).</summary>
    member val Triplet = TripletMarginLossOptions() with get, set
    /// <summary>Options of <c>contrastive</c> (margins 0 and 1, mean).</summary>
    member val Contrastive = ContrastiveLossOptions() with get, set
    /// <summary>Options of <c>ntxent</c> (temperature 0.1, mean).</summary>
    member val NTXent = NTXentLossOptions() with get, set
    /// <summary>Options of <c>multi-similarity</c> (α = 2, β = 50, λ = 0.5, mean).</summary>
    member val MultiSimilarity = MultiSimilarityLossOptions() with get, set
    /// <summary>Options of <c>supcon</c> (τ = 0.1, mean).</summary>
    member val SupCon = SupConLossOptions() with get, set
    /// <summary>Options of <c>circle</c> (m = 0.25, γ = 256, mean).</summary>
    member val Circle = CircleLossOptions() with get, set
    /// <summary>Options of <c>proxy-anchor</c> (α = 32, δ = 0.1).</summary>
    member val ProxyAnchor = ProxyAnchorLossOptions() with get, set
    /// <summary>Options of <c>xbm</c> (wrapped loss <c>contrastive</c>, miner <c>all</c>, 1024 items).</summary>
    member val CrossBatchMemory = CrossBatchMemoryOptions() with get, set
    /// <summary>Options of <c>prototype</c> (temperature 1, mean).</summary>
    member val Prototype = PrototypeLossOptions() with get, set


/// <summary>One entry of the loss catalog (<see cref="P:DistEmbed.Core.Losses.Catalog"/>): name, the tuples it is
/// computed on, what it computes, the <see cref="T:DistEmbed.Core.LossOptions"/> property it reads, and its factory.</summary>
[<Sealed>]
type LossDescriptor internal (name: string, tuples: LossTuples, summary: string, options: string, factory: LossOptions -> IMetricLoss) =
    /// <summary>The name.</summary>
    member _.Name = name
    /// <summary>Triplets or pairs.</summary>
    member _.Tuples = tuples
    /// <summary>What it computes, in one line.</summary>
    member _.Summary = summary
    /// <summary>The <see cref="T:DistEmbed.Core.LossOptions"/> property it reads.</summary>
    member _.Options = options
    /// <summary>Creates the loss.</summary>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The loss.</returns>
    member _.Create(options: LossOptions) : IMetricLoss = factory (if isNull options then LossOptions() else options)
    override _.ToString() = name

/// <summary>
/// The loss catalog: <c>triplet</c> (<c>TripletMarginLoss</c>), <c>contrastive</c> (<c>ContrastiveLoss</c>),
/// <c>ntxent</c> (<c>NTXentLoss</c>), <c>multi-similarity</c> (<c>MultiSimilarityLoss</c>), <c>prototype</c> (<c>PrototypeLoss</c>), <c>supcon</c>
/// (<c>SupConLoss</c>), <c>circle</c> (<c>CircleLoss</c>), <c>proxy-anchor</c> (<see cref="T:DistEmbed.Core.ProxyAnchor"/>,
/// an <see cref="T:DistEmbed.Core.ITrainableLoss"/>) and <c>xbm</c> (<see cref="T:DistEmbed.Core.CrossBatchMemory"/>
/// around a triplet or pair loss), created by name with <see cref="T:DistEmbed.Core.LossOptions"/>; the default is
/// <see cref="P:DistEmbed.Core.Losses.Default"/>.
/// </summary>
[<AbstractClass; Sealed>]
type Losses =
    static member private Loss(name: string, compute: IEmbeddingBatch -> torch.Tensor -> IDistance -> TripletIndices -> torch.Tensor) =
        { new IMetricLoss with
            member _.Name = name
            member _.Compute(embeddings, labels, distance, triplets) = compute embeddings labels distance triplets }

    static member private Pairs(name: string, compute: IEmbeddingBatch -> torch.Tensor -> IDistance -> PairIndices -> torch.Tensor) =
        Losses.Loss(name, fun e y d triplets ->
            if isNull triplets then compute e y d null
            else
                use pairs = PairIndices.FromTriplets triplets
                compute e y d pairs)

    /// The tuple-level computation of a triplet or pair loss of the catalog, for the cross-batch memory: the tuples
    /// are anchored in the first `anchors` items; a per-anchor loss (multi-similarity) is reduced over those anchors.
    static member private TupleCompute(name: string, o: LossOptions) : IEmbeddingBatch -> torch.Tensor -> IDistance -> MemoryTuples -> int -> torch.Tensor =
        let pairs (f: IEmbeddingBatch -> torch.Tensor -> IDistance -> PairIndices -> torch.Tensor) =
            fun e y d tuples (_: int) ->
                match tuples with
                | PairsOf p -> f e y d p
                | TripletsOf t ->
                    use p = PairIndices.FromTriplets t
                    f e y d p
        let triplets (f: IEmbeddingBatch -> torch.Tensor -> IDistance -> TripletIndices -> torch.Tensor) =
            fun e y d tuples (_: int) ->
                match tuples with
                | TripletsOf t -> f e y d t
                | PairsOf _ -> invalidOp "a triplet loss was given pairs."
        match name with
        | "triplet" -> triplets (fun e y d t -> TripletMarginLoss.compute (e, y, d, t, o.Triplet))
        | "contrastive" -> pairs (fun e y d p -> ContrastiveLoss.compute (e, y, d, p, o.Contrastive))
        | "ntxent" -> pairs (fun e y d p -> NTXentLoss.compute (e, y, d, p, o.NTXent))
        | "supcon" -> pairs (fun e y d p -> SupConLoss.compute (e, y, d, p, o.SupCon))
        | "circle" -> pairs (fun e y d p -> CircleLoss.compute (e, y, d, p, o.Circle))
        | "multi-similarity" ->
            fun e y d tuples anchors ->
                let ms = o.MultiSimilarity
                let perAnchor =
                    MultiSimilarityLossOptions(Alpha = ms.Alpha, Beta = ms.Beta, Threshold = ms.Threshold, Reduction = Reduction.None)
                TupleSupport.checkReduction ms.Reduction
                let terms = (pairs (fun e y d p -> MultiSimilarityLoss.compute (e, y, d, p, perAnchor))) e y d tuples anchors
                let value = TupleSupport.reduce ms.Reduction (terms.narrow(0L, 0L, int64 anchors))
                if ms.Reduction = Reduction.None then value.clone() else value
        | other ->
            let valid = "triplet, contrastive, ntxent, multi-similarity, supcon, circle"
            Validation.fail "options" $"options.CrossBatchMemory.Loss = '{other}' cannot be wrapped by xbm; it must be a triplet or pair loss: {valid}."

    /// <summary>The loss catalog, one descriptor per name.</summary>
    static member Catalog: IReadOnlyList<LossDescriptor> =
        [| LossDescriptor("triplet", LossTuples.Triplets, "[D(a, p) − D(a, n) + m]₊ or its soft plus (FaceNet; Hermans et al. 2017)", "Triplet", fun o ->
               Losses.Loss("triplet", fun e y d t -> TripletMarginLoss.compute (e, y, d, t, o.Triplet)))
           LossDescriptor("contrastive", LossTuples.Pairs, "[D − m₊]₊ on positive pairs + [m₋ − D]₊ on negative pairs (Hadsell et al. 2006)", "Contrastive", fun o ->
               Losses.Pairs("contrastive", fun e y d p -> ContrastiveLoss.compute (e, y, d, p, o.Contrastive)))
           LossDescriptor("ntxent", LossTuples.Pairs, "normalised temperature-scaled cross-entropy over −D/τ (SimCLR)", "NTXent", fun o ->
               Losses.Pairs("ntxent", fun e y d p -> NTXentLoss.compute (e, y, d, p, o.NTXent)))
           LossDescriptor("multi-similarity", LossTuples.Pairs, "multi-similarity loss over −D (Wang et al. 2019)", "MultiSimilarity", fun o ->
               Losses.Pairs("multi-similarity", fun e y d p -> MultiSimilarityLoss.compute (e, y, d, p, o.MultiSimilarity)))
           LossDescriptor("prototype", LossTuples.Triplets, "softmax over −D/τ to class prototypes = W2 barycenters of the batch's classes (ProxyNCA, Movshovitz-Attias et al. 2017); anchors: the triplets' anchors", "Prototype", fun o ->
               Losses.Loss("prototype", fun e y d t -> PrototypeLoss.compute (e, y, d, t, o.Prototype)))
           LossDescriptor("supcon", LossTuples.Pairs, "supervised contrastive loss L^sup_out over −D/τ (Khosla et al. 2020, eq. 2)", "SupCon", fun o ->
               Losses.Pairs("supcon", fun e y d p -> SupConLoss.compute (e, y, d, p, o.SupCon)))
           LossDescriptor("circle", LossTuples.Pairs, "circle loss with self-paced weights over s = 1 − D (Sun et al. 2020, eq. 4)", "Circle", fun o ->
               Losses.Pairs("circle", fun e y d p -> CircleLoss.compute (e, y, d, p, o.Circle)))
           LossDescriptor("proxy-anchor", LossTuples.Proxies, "learnable class proxies as anchors over s = 1 − D (Kim et al. 2020, eq. 4)", "ProxyAnchor", fun o ->
               new ProxyAnchor(o.ProxyAnchor) :> IMetricLoss)
           LossDescriptor("xbm", LossTuples.Memory, "cross-batch memory: a wrapped loss on tuples between the batch and a FIFO memory of past batches (Wang et al. 2020)", "CrossBatchMemory", fun o ->
               let x = if isNull o.CrossBatchMemory then CrossBatchMemoryOptions() else o.CrossBatchMemory
               Validation.notNull "options.CrossBatchMemory.Loss" x.Loss
               Validation.notNull "options.CrossBatchMemory.Miner" x.Miner
               if x.Size < 0 then Validation.fail "options" $"options.CrossBatchMemory.Size = {x.Size} is invalid; it must be ≥ 0 (0 keeps no memory)."
               let inner = x.Loss.Trim().ToLowerInvariant()
               let tuples =
                   match Losses.Catalog |> Seq.tryFind (fun d -> d.Name = inner) with
                   | Some d when d.Tuples = LossTuples.Triplets || d.Tuples = LossTuples.Pairs -> d.Tuples
                   | Some d -> Validation.fail "options" $"options.CrossBatchMemory.Loss = '{x.Loss}' is a {d.Tuples} loss; xbm wraps a triplet or pair loss."
                   | None ->
                       let valid = String.Join(", ", (Losses.Names: string[]))
                       Validation.fail "options" $"options.CrossBatchMemory.Loss = '{x.Loss}' is unknown; valid names: {valid}."
               let miner = Miners.create (x.Miner, MinerOptions(Margin = x.MinerMargin))
               new CrossBatchMemory(inner, tuples, x.Size, miner, Losses.TupleCompute(inner, o)) :> IMetricLoss) |]
        |> Array.AsReadOnly
        :> IReadOnlyList<LossDescriptor>

    /// <summary>The default loss: <c>triplet</c>.</summary>
    static member Default = "triplet"

    /// <summary>The names <see cref="M:DistEmbed.Core.Losses.Create(System.String,DistEmbed.Core.LossOptions)"/> accepts.</summary>
    static member Names = Losses.Catalog |> Seq.map (fun d -> d.Name) |> Seq.toArray

    /// <summary>The descriptor of a name (case-insensitive).</summary>
    /// <param name="name">One of <see cref="P:DistEmbed.Core.Losses.Names"/>.</param>
    /// <returns>The descriptor.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name, lists the valid ones).</exception>
    static member Describe(name: string) : LossDescriptor =
        Validation.notNull "name" name
        let key = name.Trim().ToLowerInvariant()
        match Losses.Catalog |> Seq.tryFind (fun d -> d.Name = key) with
        | Some d -> d
        | None ->
            let valid = String.Join(", ", (Losses.Names: string[]))
            Validation.fail "name" $"loss '{name}' is unknown; valid names: {valid}."

    /// <summary>Creates a loss by name.</summary>
    /// <param name="name">One of <see cref="P:DistEmbed.Core.Losses.Names"/> (case-insensitive).</param>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The loss.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name, lists the valid ones).</exception>
    static member Create(name: string, options: LossOptions) : IMetricLoss = (Losses.Describe name).Create(options)
