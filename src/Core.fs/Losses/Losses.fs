namespace DistEmbed.Core

open System
open System.Collections.Generic
open TorchSharp

/// <summary>
/// A metric-learning loss over any distance, as the catalog <see cref="T:DistEmbed.Core.Losses"/> creates it: a
/// function of a batch, its labels, a distance and the triplets a miner chose.
/// </summary>
type IMetricLoss =
    /// <summary>The catalog name (e.g. <c>triplet</c>).</summary>
    abstract Name: string
    /// <summary>The loss of a batch, differentiable with respect to the embeddings.</summary>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="triplets">Triplets from a miner, or null for every valid tuple of the batch (all triplets for the
    /// triplet loss, all positive and negative pairs for the pair losses). Pair losses use the pairs of the triplets
    /// (<c>PairIndices.FromTriplets</c>).</param>
    /// <returns>A scalar (the options' reduction).</returns>
    abstract Compute: embeddings: IEmbeddingBatch * labels: torch.Tensor * distance: IDistance * triplets: TripletIndices -> torch.Tensor

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
    /// <summary>Options of <c>prototype</c> (temperature 1, mean).</summary>
    member val Prototype = PrototypeLossOptions() with get, set

/// <summary>Whether a loss is computed on triplets or on positive and negative pairs.</summary>
type LossTuples =
    /// <summary>Triplets (anchor, positive, negative).</summary>
    | Triplets = 0
    /// <summary>Positive and negative pairs (from the miner's triplets, or all pairs).</summary>
    | Pairs = 1

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
/// <c>ntxent</c> (<c>NTXentLoss</c>), <c>multi-similarity</c> (<c>MultiSimilarityLoss</c>), <c>prototype</c> (<c>PrototypeLoss</c>), created by name with
/// <see cref="T:DistEmbed.Core.LossOptions"/>; the default is <see cref="P:DistEmbed.Core.Losses.Default"/>.
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
               Losses.Loss("prototype", fun e y d t -> PrototypeLoss.compute (e, y, d, t, o.Prototype))) |]
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
            let valid = String.Join(", ", Losses.Names)
            Validation.fail "name" $"loss '{name}' is unknown; valid names: {valid}."

    /// <summary>Creates a loss by name.</summary>
    /// <param name="name">One of <see cref="P:DistEmbed.Core.Losses.Names"/> (case-insensitive).</param>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The loss.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name, lists the valid ones).</exception>
    static member Create(name: string, options: LossOptions) : IMetricLoss = (Losses.Describe name).Create(options)
