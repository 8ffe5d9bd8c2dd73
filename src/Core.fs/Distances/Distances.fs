namespace DistEmbed.Core

open System
open System.Runtime.InteropServices
open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>
/// Options for <see cref="M:DistEmbed.Core.Distances.Create(System.String,DistEmbed.Core.DistanceOptions)"/>:
/// each distance reads the options it needs and ignores the rest.
/// </summary>
[<Sealed; AllowNullLiteral>]
type DistanceOptions() =
    /// <summary>The order p of <c>lp</c> (finite, ≥ 1). Default 2.</summary>
    member val P = 2.0 with get, set
    /// <summary>Rows and columns per pairwise block; 0 (the default) chooses from a 2^24-element budget.</summary>
    member val BlockSize = 0 with get, set
    /// <summary>Fixed [L, d] directions for <c>sliced-w2</c> and <c>max-sliced-w2</c>; null (the default) draws <see cref="P:DistEmbed.Core.DistanceOptions.Projections"/> directions once per distance instance from <see cref="P:DistEmbed.Core.DistanceOptions.Seed"/>.</summary>
    member val Directions: torch.Tensor = null with get, set
    /// <summary>The number L of directions drawn (once per distance instance) when no directions are given (1 ≤ L ≤ 65,536; L·d ≤ 2^26). Default 64.</summary>
    member val Projections = 64 with get, set
    /// <summary>The seed of the direction generator. Default 0.</summary>
    member val Seed = 0L with get, set
    /// <summary>The Gaussian kernel bandwidths σ of <c>mmd</c> (each finite, &gt; 0). Default [0.5, 1, 2, 4].</summary>
    member val Bandwidths = [| 0.5; 1.0; 2.0; 4.0 |] with get, set
    /// <summary>True (the default) for the biased V-statistic MMD², false for the unbiased U-statistic.</summary>
    member val Biased = true with get, set
    /// <summary>The entropic regularisation ε &gt; 0 of the <c>sinkhorn*</c> distances, in units of the squared Euclidean ground cost. Default 0.1.</summary>
    member val Epsilon = 0.1 with get, set
    /// <summary>The Sinkhorn iteration cap (≥ 1). Default 1000 (that of <c>SinkhornOptions.Create</c>).</summary>
    member val MaxIterations = (SinkhornOptions.Create 1.0).MaxIterations with get, set
    /// <summary>The Sinkhorn stopping tolerance on the L1 marginal error (&gt; 0). Default 1e-6 (that of <c>SinkhornOptions.Create</c>).</summary>
    member val Tolerance = (SinkhornOptions.Create 1.0).Tolerance with get, set
    /// <summary>
    /// The Sinkhorn ε-scaling ratio q: 0 (the default) iterates at ε only; q ∈ (0, 1) first runs one iteration at
    /// each of ε₀ = max C, ε₀q, ε₀q², … above ε (ε-annealing as in GeomLoss; Schmitzer 2019, §3.2), which cuts the
    /// iterations needed at small ε (e.g. q = 0.5 with MaxIterations = 20 when training with the Sinkhorn divergence).
    /// </summary>
    member val EpsilonScaling = 0.0 with get, set
    /// <summary>
    /// What a Sinkhorn solve that reaches MaxIterations without meeting the tolerance does: Ignore (only recorded in
    /// the distance's <see cref="P:DistEmbed.Core.ISinkhornDistance.Diagnostics"/>), Warn (the default: also one line on
    /// standard error per distance object) or Throw (<see cref="T:DistEmbed.Core.SinkhornNotConvergedException"/>).
    /// </summary>
    member val OnNonConvergence = SinkhornNonConvergence.Warn with get, set
    /// <summary>
    /// The marginal relaxation ρ &gt; 0 of <c>sinkhorn-unbalanced</c> and <c>sinkhorn-divergence-unbalanced</c> (the
    /// weight of ρ·KL(P1 | a) + ρ·KL(Pᵀ1 | b); POT's <c>reg_m</c>), in cost units; GeomLoss's <c>reach</c> r is
    /// ρ = r² for the squared Euclidean cost. +∞ gives balanced transport. Default 1.
    /// </summary>
    member val Rho = 1.0 with get, set

/// <summary>
/// A distance over random directions (<c>sliced-w2</c>, <c>sliced-w2-cost</c>, <c>max-sliced-w2</c>) drawn once per
/// instance from a seed: every call of one instance uses the same directions (for a given dimension, dtype and
/// device), so two calls on the same inputs agree and two instances with the same seed give the same values. A caller
/// that wants new directions (a trainer, once per step) asks for them explicitly with
/// <see cref="M:DistEmbed.Core.ISeededDistance.WithFreshDirections(System.Int64)"/>.
/// </summary>
type ISeededDistance =
    inherit IBlockwiseDistance
    /// <summary>The seed the directions are drawn from.</summary>
    abstract Seed: int64
    /// <summary>The number L of directions.</summary>
    abstract Projections: int
    /// <summary>The same distance over directions drawn from another seed; this instance is left unchanged.</summary>
    /// <param name="seed">The seed of the new draw.</param>
    /// <returns>A new instance (same name, order, projections and block size).</returns>
    abstract WithFreshDirections: seed: int64 -> ISeededDistance

/// A sliced distance with its seed: delegates to the distance built over the seeded directions.
[<Sealed>]
type internal SeededDistance(inner: IBlockwiseDistance, seed: int64, projections: int, redraw: int64 -> ISeededDistance) =
    override _.ToString() = inner.Name

    interface IPlannedDistance with
        member _.Plan(a, b) =
            match inner with
            | :? IPlannedDistance as planned -> planned.Plan(a, b)
            | _ -> invalidOp $"distance '{inner.Name}' has no prepared plan."

    interface IGramDistance with
        member _.Gram(a, b) =
            match inner with
            | :? IGramDistance as gram -> gram.Gram(a, b)
            | _ -> None

    interface ISeededDistance with
        member _.Seed = seed
        member _.Projections = projections
        member _.WithFreshDirections(next) = redraw next

    interface IBlockwiseDistance with
        member _.BlockSize = inner.BlockSize
        member _.PairwiseBlocks(a, b, sink) = inner.PairwiseBlocks(a, b, sink)

    interface IDistance with
        member _.Name = inner.Name
        member _.IsMetric = inner.IsMetric
        member _.IsSymmetric = inner.IsSymmetric
        member _.Accepts = inner.Accepts
        member _.Paired(a, b) = inner.Paired(a, b)
        member _.Pairwise(a, b) = inner.Pairwise(a, b)

/// <summary>What a distance of the catalog is: a metric, a pseudo-metric (a metric up to what it cannot see:
/// marginals, projections, Gaussian fits), or a divergence (not a metric).</summary>
type DistanceKind =
    /// <summary>A metric: non-negative, zero exactly on equal inputs, symmetric, triangle inequality.</summary>
    | Metric = 0
    /// <summary>A metric on what the distance sees (marginals, projections, fits): zero for different inputs that share them.</summary>
    | PseudoMetric = 1
    /// <summary>Not a metric (a squared distance, a cost, MMD², a Sinkhorn cost or divergence, a dissimilarity).</summary>
    | Divergence = 2

/// <summary>
/// One entry of the distance catalog (<see cref="P:DistEmbed.Core.Distances.Catalog"/>): the name, the representation
/// it accepts, whether it is a metric, what it computes, the <see cref="T:DistEmbed.Core.DistanceOptions"/> it reads,
/// and its factory. <c>Distances.Names</c>, <c>Distances.Create</c>, the command line's help and the table of
/// docs/distances.md all come from the catalog.
/// </summary>
[<Sealed>]
type DistanceDescriptor
    internal (name: string, accepts: Representation, kind: DistanceKind, summary: string, options: string[], factory: DistanceOptions -> IBlockwiseDistance) =
    /// <summary>The name (<c>IDistance.Name</c> of what <see cref="M:DistEmbed.Core.DistanceDescriptor.Create(DistEmbed.Core.DistanceOptions)"/> returns).</summary>
    member _.Name = name
    /// <summary>The representation the distance accepts.</summary>
    member _.Accepts = accepts
    /// <summary>Metric, pseudo-metric or divergence.</summary>
    member _.Kind = kind
    /// <summary>True for metrics and pseudo-metrics (<c>IDistance.IsMetric</c>).</summary>
    member _.IsMetric = kind <> DistanceKind.Divergence
    /// <summary>What it computes, in one line (the docs table's column).</summary>
    member _.Summary = summary
    /// <summary>The names of the <see cref="T:DistEmbed.Core.DistanceOptions"/> properties it reads.</summary>
    member _.Options: Collections.Generic.IReadOnlyList<string> = Array.AsReadOnly(Array.copy options)
    /// <summary>Creates the distance from options.</summary>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The distance.</returns>
    /// <exception cref="T:System.ArgumentException">An option out of range (names it).</exception>
    member _.Create(options: DistanceOptions) : IBlockwiseDistance =
        factory (if isNull options then DistanceOptions() else options)
    override _.ToString() = name

/// <summary>
/// Factories of the distances between embeddings, each an <see cref="T:DistEmbed.Core.IBlockwiseDistance"/> (an
/// <see cref="T:DistEmbed.Core.IDistance"/> whose pairwise matrix can also be streamed block by block).
/// </summary>
/// <remarks>
/// | name | accepts | value | IsMetric |
/// | --- | --- | --- | --- |
/// | euclidean, sqeuclidean, cosine, lp | Vectors | ‖x − y‖₂, ‖x − y‖₂², 1 − cos, ‖x − y‖_p | yes, no, no, yes |
/// | marginal-w1, marginal-w2 | Distributions | MW_p (<c>MarginalWasserstein</c>) | yes |
/// | quantile-w1, quantile-w2 | Quantiles | MW_p on quantile functions | yes |
/// | sliced-w2, max-sliced-w2 | Distributions | SW_2, maxSW_2 (<c>SlicedWasserstein</c>) | yes |
/// | exact-w1, exact-w2 | Distributions | exact W_p by the network simplex (<c>ExactWasserstein</c>), envelope gradient | yes |
/// | bures, bures-diag | Distributions | W_2 between Gaussian fits (<c>Bures</c>) | yes |
/// | mmd, energy | Distributions | MMD², energy distance (<c>KernelDistances</c>) | no |
/// | sinkhorn, sinkhorn-divergence | Distributions | ⟨P_ε, C⟩ of the entropic plan, debiased S_ε (<c>Sinkhorn</c>; also an <c>ISinkhornDistance</c> with convergence diagnostics) | no |
/// | sinkhorn-unbalanced, sinkhorn-divergence-unbalanced | Distributions | ⟨P, C⟩ of the unbalanced entropic plan (KL-relaxed marginals, strength ρ), debiased unbalanced divergence (<c>Sinkhorn.UnbalancedDistance</c>, <c>Sinkhorn.UnbalancedDivergence</c>) | no |
/// | …-cost | as the base | the p-th power W_p^p (W_2² for the *-w2 and bures forms) | no |
/// "IsMetric" counts pseudo-metrics: marginal, sliced and Gaussian-fit distances are metrics on the marginals,
/// projections or fits, and are zero for different distributions that share them. Every distance here is symmetric.
/// Paired and Pairwise check the representation (an ArgumentException naming a or b says which one is accepted),
/// equal counts (paired), equal dimension, dtype and device (naming b).
/// </remarks>
[<AbstractClass; Sealed>]
type Distances =

    static member private Vector(name, isMetric, blockSize, paired, plan, ?gram) : IBlockwiseDistance =
        checkBlockSize blockSize
        TensorDistance<VectorBatch>(
            name,
            isMetric,
            Representation.Vectors,
            blockSize,
            (fun v -> v.Dimension),
            (fun _ _ _ -> ()),
            paired,
            (fun a b -> plan a b blockSize),
            ?gram = gram
        )

    static member private Distribution(name, isMetric, blockSize, check, paired, plan, ?gram) : IBlockwiseDistance =
        checkBlockSize blockSize
        TensorDistance<DistributionBatch>(
            name,
            isMetric,
            Representation.Distributions,
            blockSize,
            (fun v -> v.Dimension),
            check,
            paired,
            (fun a b -> plan a b blockSize),
            ?gram = gram
        )

    static member private NoCheck = fun (_: DistributionBatch) (_: DistributionBatch) (_: bool) -> ()

    static member private OrderName(p: float) = if p = Math.Floor p && p < 1e6 then string (int64 p) else string p

    /// <summary>The Euclidean distance ‖x − y‖₂ between vectors (name <c>euclidean</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A metric on <c>Vectors</c>.</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member Euclidean([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Vector(
            "euclidean",
            true,
            blockSize,
            (fun a b -> VectorDistances.rowNorm 2.0 (a.Values.sub b.Values)),
            VectorDistances.euclideanPlan,
            VectorDistances.euclideanGram
        )

    /// <summary>The squared Euclidean distance ‖x − y‖₂² between vectors (name <c>sqeuclidean</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence (not a metric) on <c>Vectors</c>.</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member SquaredEuclidean([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Vector(
            "sqeuclidean",
            false,
            blockSize,
            (fun a b -> a.Values.sub(b.Values).pow(Scalars.sc 2.0).sum (1L)),
            VectorDistances.squaredEuclideanPlan,
            VectorDistances.squaredEuclideanGram
        )

    /// <summary>The cosine distance 1 − ⟨x, y⟩/(‖x‖ ‖y‖) between vectors (name <c>cosine</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric dissimilarity in [0, 2] (not a metric) on <c>Vectors</c>.</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member Cosine([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Vector("cosine", false, blockSize, (fun a b -> VectorDistances.cosinePaired (a, b)), VectorDistances.cosinePlan)

    /// <summary>The L_p distance (Σ_k |x_k − y_k|^p)^{1/p} between vectors (name <c>lp</c>).</summary>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A metric on <c>Vectors</c>.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); blockSize &lt; 0.</exception>
    static member Lp(p: float, [<Optional; DefaultParameterValue(0)>] blockSize: int) =
        checkOrder p
        Distances.Vector("lp", true, blockSize, (fun a b -> VectorDistances.lpPaired (a, b, p)), VectorDistances.lpPlan p)

    /// <summary>The marginal p-Wasserstein distance MW_p between distributions (names <c>marginal-w1</c>, <c>marginal-w2</c>, <c>marginal-wp</c> for other p).</summary>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A (pseudo-)metric on <c>Distributions</c>; see <c>MarginalWasserstein</c>.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); blockSize &lt; 0.</exception>
    static member MarginalWasserstein
        (
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        checkOrder p
        Distances.Distribution(
            $"marginal-w{Distances.OrderName p}",
            true,
            blockSize,
            Distances.NoCheck,
            (fun a b -> MarginalWasserstein.paired (a, b, p)),
            MarginalWasserstein.distributionDistancePlan p,
            (fun a b same -> if p = 2.0 then MarginalWasserstein.distributionGram a b same else None)
        )

    /// <summary>The marginal p-Wasserstein cost MW_p^p (MW_2² for p = 2) between distributions (name <c>marginal-wp-cost</c>).</summary>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence (not a metric for p &gt; 1) on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); blockSize &lt; 0.</exception>
    static member MarginalWassersteinCost
        (
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        checkOrder p
        Distances.Distribution(
            $"marginal-w{Distances.OrderName p}-cost",
            (p = 1.0),
            blockSize,
            Distances.NoCheck,
            (fun a b -> MarginalWasserstein.costPaired (a, b, p)),
            MarginalWasserstein.distributionCostPlan p
        )

    static member private Quantile(name, blockSize, paired, plan, ?gram) : IBlockwiseDistance =
        checkBlockSize blockSize
        TensorDistance<QuantileBatch>(
            name,
            not (name.EndsWith "-cost") || name = "quantile-w1-cost",
            Representation.Quantiles,
            blockSize,
            (fun q -> q.Dimension),
            (fun a b _ ->
                if b.LevelCount <> a.LevelCount
                   || not (b.Levels.allclose (a.Levels, rtol = 0.0, atol = 0.0)) then
                    Validation.fail "b" "b has other quantile levels than a; both batches must share one set of levels."),
            paired,
            (fun a b -> plan a b blockSize),
            ?gram = gram
        )

    /// <summary>The marginal p-Wasserstein distance between quantile functions (names <c>quantile-w1</c>, <c>quantile-w2</c>, <c>quantile-wp</c>).</summary>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A metric on <c>Quantiles</c> (both batches must share their levels).</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); blockSize &lt; 0.</exception>
    static member QuantileWasserstein
        (
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        checkOrder p
        Distances.Quantile(
            $"quantile-w{Distances.OrderName p}",
            blockSize,
            (fun a b -> MarginalWasserstein.quantilePaired (a, b, p)),
            MarginalWasserstein.quantileDistancePlan p,
            (fun a b same -> if p = 2.0 then MarginalWasserstein.quantileGram a b same else None)
        )

    /// <summary>The marginal p-Wasserstein cost MW_p^p between quantile functions (name <c>quantile-wp-cost</c>).</summary>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence on <c>Quantiles</c>.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); blockSize &lt; 0.</exception>
    static member QuantileWassersteinCost
        (
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        checkOrder p
        Distances.Quantile(
            $"quantile-w{Distances.OrderName p}-cost",
            blockSize,
            (fun a b -> MarginalWasserstein.quantileCostPaired (a, b, p)),
            MarginalWasserstein.quantileCostPlan p
        )

    /// Keeps a private copy of user directions (outside any dispose scope).
    static member private OwnDirections(directions: torch.Tensor) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "directions" directions
        Validation.floating "directions" directions
        if directions.dim () <> 2L || directions.shape.[0] = 0L || directions.shape.[1] = 0L then
            Validation.fail "directions" $"directions has shape {Validation.shape directions}; it must be [L, d] with L, d ≥ 1."
        Validation.finiteTensor "directions" directions
        SlicedWasserstein.checkNonZero directions
        use scope = torch.NewDisposeScope()
        directions.detach().clone().DetachFromDisposeScope()

    /// Checks a batch's dimension against fixed directions (names a).
    static member private DirectionCheck(directions: torch.Tensor) =
        fun (a: DistributionBatch) (_: DistributionBatch) (_: bool) ->
            if int64 a.Dimension <> directions.shape.[1] then
                Validation.fail "a" $"a has dimension {a.Dimension} but the directions are {Validation.shape directions}; they must match."

    /// Builds the sliced family member of the given kind ("max", "cost", or the distance) from a direction source.
    static member private SlicedFamily
        (
            kind: string,
            p: float,
            blockSize: int,
            check: DistributionBatch -> DistributionBatch -> bool -> unit,
            directionsFor: DistributionBatch -> torch.Tensor
        ) : IBlockwiseDistance =
        let order = Distances.OrderName p
        match kind with
        | "max" ->
            Distances.Distribution(
                $"max-sliced-w{order}",
                true,
                blockSize,
                check,
                (fun a b -> SlicedWasserstein.maxSlicedPairedCore p (directionsFor a) a b),
                (fun a b bs -> SlicedWasserstein.maxSlicedPlan p (directionsFor a) a b bs)
            )
        | "cost" ->
            Distances.Distribution(
                $"sliced-w{order}-cost",
                (p = 1.0),
                blockSize,
                check,
                (fun a b -> SlicedWasserstein.costPairedCore p (directionsFor a) a b),
                (fun a b bs -> SlicedWasserstein.costPlan p (directionsFor a) a b bs)
            )
        | _ ->
            Distances.Distribution(
                $"sliced-w{order}",
                true,
                blockSize,
                check,
                (fun a b -> safeRoot p (SlicedWasserstein.costPairedCore p (directionsFor a) a b)),
                (fun a b bs -> SlicedWasserstein.distancePlan p (directionsFor a) a b bs),
                (fun a b same -> if p = 2.0 then SlicedWasserstein.gram (directionsFor a) a b same else None)
            )

    static member private Sliced(kind: string, directions: torch.Tensor, p: float, blockSize: int) : IBlockwiseDistance =
        checkOrder p
        let theta = Distances.OwnDirections directions
        Distances.SlicedFamily(kind, p, blockSize, Distances.DirectionCheck theta, (fun _ -> theta))

    static member private SlicedDrawn(kind: string, projections: int, seed: int64, p: float, blockSize: int) : ISeededDistance =
        NativeRuntime.EnsureInitialized()
        checkOrder p
        SlicedWasserstein.checkProjections "projections" projections
        // One draw per (dimension, dtype, device), made on first use from the seed alone and kept for the instance's
        // lifetime (outside any dispose scope): every call of the instance sees the same directions.
        let cache = Collections.Generic.Dictionary<struct (int * torch.ScalarType * string), torch.Tensor>()
        let directionsFor (a: DistributionBatch) =
            let key = struct (a.Dimension, a.Points.dtype, string a.Points.device)
            lock cache (fun () ->
                match cache.TryGetValue key with
                | true, theta -> theta
                | _ ->
                    SlicedWasserstein.checkDrawSize "projections" projections a.Dimension
                    let theta =
                        SlicedWasserstein.randomDirections(projections, a.Dimension, seed, a.Points.dtype, a.Points.device)
                            .DetachFromDisposeScope()
                    cache.[key] <- theta
                    theta)
        let inner = Distances.SlicedFamily(kind, p, blockSize, Distances.NoCheck, directionsFor)
        SeededDistance(inner, seed, projections, (fun next -> Distances.SlicedDrawn(kind, projections, next, p, blockSize))) :> ISeededDistance

    /// <summary>The sliced p-Wasserstein distance SW_p over fixed directions (name <c>sliced-w2</c> for p = 2).</summary>
    /// <param name="directions">[L, d] directions, used as given; copied.</param>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A (pseudo-)metric on <c>Distributions</c> of dimension d.</returns>
    /// <exception cref="T:System.ArgumentException">directions not [L, d], not finite, or with a zero row (names directions); p &lt; 1 (names p); blockSize &lt; 0.</exception>
    static member SlicedWasserstein
        (
            directions: torch.Tensor,
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        Distances.Sliced("sliced", directions, p, blockSize)

    /// <summary>The sliced cost SW_p^p over fixed directions (name <c>sliced-w2-cost</c> for p = 2).</summary>
    /// <param name="directions">[L, d] directions, used as given; copied.</param>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence on <c>Distributions</c> of dimension d.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>SlicedWasserstein</c>.</exception>
    static member SlicedWassersteinCost
        (
            directions: torch.Tensor,
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        Distances.Sliced("cost", directions, p, blockSize)

    /// <summary>The max-sliced distance max_l W_p over fixed directions (name <c>max-sliced-w2</c> for p = 2).</summary>
    /// <param name="directions">[L, d] directions, used as given; copied.</param>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A (pseudo-)metric on <c>Distributions</c> of dimension d.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>SlicedWasserstein</c>.</exception>
    static member MaxSlicedWasserstein
        (
            directions: torch.Tensor,
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        Distances.Sliced("max", directions, p, blockSize)

    /// <summary>
    /// The sliced distance SW_p over L unit directions drawn once per instance from the seed (name <c>sliced-w2</c>
    /// for p = 2): <c>SlicedWasserstein.RandomDirections(projections, d, seed, dtype, device)</c>, drawn on first use
    /// for each dimension, dtype and device and kept. Every call of the instance uses them, so two calls on the same
    /// inputs agree, <c>Pairwise(a, a)</c> is symmetric with a zero diagonal, and instances with one seed agree; for
    /// new directions call <see cref="M:DistEmbed.Core.ISeededDistance.WithFreshDirections(System.Int64)"/>.
    /// </summary>
    /// <param name="projections">The number L of directions, 1 ≤ L ≤ 65,536 (and L·d ≤ 2^26).</param>
    /// <param name="seed">The seed of the directions.</param>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A Monte-Carlo (pseudo-)metric on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">projections &lt; 1 or &gt; 65,536 (names projections); p &lt; 1 (names p); blockSize &lt; 0.</exception>
    static member SlicedWassersteinDrawn
        (
            projections: int,
            seed: int64,
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        Distances.SlicedDrawn("sliced", projections, seed, p, blockSize)

    /// <summary>The sliced cost SW_p^p over directions drawn once per instance from the seed (name <c>sliced-w2-cost</c> for p = 2).</summary>
    /// <param name="projections">The number L of directions, 1 ≤ L ≤ 65,536 (and L·d ≤ 2^26).</param>
    /// <param name="seed">The seed of the directions.</param>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>SlicedWassersteinDrawn</c>.</exception>
    static member SlicedWassersteinDrawnCost
        (
            projections: int,
            seed: int64,
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        Distances.SlicedDrawn("cost", projections, seed, p, blockSize)

    /// <summary>The max-sliced distance over directions drawn once per instance from the seed (name <c>max-sliced-w2</c> for p = 2).</summary>
    /// <param name="projections">The number L of directions, 1 ≤ L ≤ 65,536 (and L·d ≤ 2^26).</param>
    /// <param name="seed">The seed of the directions.</param>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A Monte-Carlo (pseudo-)metric on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>SlicedWassersteinDrawn</c>.</exception>
    static member MaxSlicedWassersteinDrawn
        (
            projections: int,
            seed: int64,
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        Distances.SlicedDrawn("max", projections, seed, p, blockSize)

    /// <summary>
    /// The exact p-Wasserstein distance W_p = (min_P Σ_ij P_ij ‖x_i − y_j‖₂^p)^{1/p} between distributions (names
    /// <c>exact-w1</c>, <c>exact-w2</c>, <c>exact-wp</c> for other p), solved per pair by the network simplex in float64
    /// on the CPU (POT's <c>ot.emd2</c> to the p-th root), with the envelope gradient; see <c>ExactWasserstein</c>.
    /// </summary>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A metric on <c>Distributions</c> (Peyré &amp; Cuturi 2019, Prop. 2.2).</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); blockSize &lt; 0.</exception>
    static member ExactWasserstein
        (
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        checkOrder p
        Distances.Distribution(
            $"exact-w{Distances.OrderName p}",
            true,
            blockSize,
            Distances.NoCheck,
            (fun a b -> safeRoot p (ExactTransport.costPaired p a b)),
            (fun a b bs -> ExactTransport.costPlan p a b bs |> mapPlan (safeRoot p))
        )

    /// <summary>
    /// The exact optimal transport cost W_p^p = min_P ⟨P, C⟩ with C_ij = ‖x_i − y_j‖₂^p (W_2² for p = 2; name
    /// <c>exact-wp-cost</c>): POT's <c>ot.emd2(a, b, ot.dist(x, y, "minkowski", p=2)**p)</c>, with the envelope gradient.
    /// </summary>
    /// <param name="p">The order, finite, ≥ 1 (default 2).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence (a metric for p = 1) on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); blockSize &lt; 0.</exception>
    static member ExactWassersteinCost
        (
            [<Optional; DefaultParameterValue(2.0)>] p: float,
            [<Optional; DefaultParameterValue(0)>] blockSize: int
        ) =
        checkOrder p
        Distances.Distribution(
            $"exact-w{Distances.OrderName p}-cost",
            (p = 1.0),
            blockSize,
            Distances.NoCheck,
            ExactTransport.costPaired p,
            ExactTransport.costPlan p
        )

    /// <summary>The Bures–Wasserstein distance W_2 between full-covariance Gaussian fits (name <c>bures</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A (pseudo-)metric on <c>Distributions</c>; see <c>Bures</c>.</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member Bures([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Distribution(
            "bures",
            true,
            blockSize,
            Distances.NoCheck,
            (fun a b -> safeSqrt (Bures.squaredPairedCore a b)),
            (fun a b bs -> Bures.squaredPlan a b bs |> mapPlan safeSqrt)
        )

    /// <summary>The squared Bures–Wasserstein distance W_2² between full-covariance Gaussian fits (name <c>bures-cost</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member BuresCost([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Distribution("bures-cost", false, blockSize, Distances.NoCheck, Bures.squaredPairedCore, Bures.squaredPlan)

    /// <summary>The diagonal Bures–Wasserstein distance (‖m1 − m2‖² + ‖σ1 − σ2‖²)^{1/2} (name <c>bures-diag</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A (pseudo-)metric on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member BuresDiagonal([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Distribution(
            "bures-diag",
            true,
            blockSize,
            Distances.NoCheck,
            (fun a b -> safeSqrt (Bures.diagonalSquaredPairedCore a b)),
            (fun a b bs -> Bures.diagonalSquaredPlan a b bs |> mapPlan safeSqrt)
        )

    /// <summary>The squared diagonal Bures–Wasserstein distance ‖m1 − m2‖² + ‖σ1 − σ2‖² (name <c>bures-diag-cost</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member BuresDiagonalCost([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Distribution(
            "bures-diag-cost",
            false,
            blockSize,
            Distances.NoCheck,
            Bures.diagonalSquaredPairedCore,
            Bures.diagonalSquaredPlan
        )

    /// <summary>The squared MMD with a sum of Gaussian kernels (name <c>mmd</c>).</summary>
    /// <param name="bandwidths">Bandwidths σ, length ≥ 1, each finite and &gt; 0; copied.</param>
    /// <param name="biased">True for the V-statistic (any weights); false for the U-statistic (equal weights, ≥ 2 points).</param>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>; see <c>KernelDistances</c>.</returns>
    /// <exception cref="T:System.ArgumentException">A bad bandwidth (names bandwidths); blockSize &lt; 0.</exception>
    static member Mmd(bandwidths: float[], biased: bool, [<Optional; DefaultParameterValue(0)>] blockSize: int) =
        KernelDistances.checkBandwidths bandwidths
        let sigmas = Array.copy bandwidths
        Distances.Distribution(
            "mmd",
            false,
            blockSize,
            (fun a b paired -> KernelDistances.checkMmd sigmas biased a b paired),
            KernelDistances.mmdPairedCore sigmas biased,
            KernelDistances.mmdPlan sigmas biased
        )

    /// <summary>The energy distance 2E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ (name <c>energy</c>).</summary>
    /// <param name="blockSize">Rows and columns per pairwise block; 0 (default) chooses automatically.</param>
    /// <returns>A symmetric divergence on <c>Distributions</c> (its square root is a metric).</returns>
    /// <exception cref="T:System.ArgumentException">blockSize &lt; 0.</exception>
    static member Energy([<Optional; DefaultParameterValue(0)>] blockSize: int) =
        Distances.Distribution(
            "energy",
            false,
            blockSize,
            Distances.NoCheck,
            KernelDistances.energyPairedCore,
            KernelDistances.energyPlan
        )

    /// <summary>
    /// The Sinkhorn distance <c>sinkhorn</c>: the transport cost ⟨P_ε, C⟩ of the entropic plan (see
    /// <c>Sinkhorn.Distance</c>), whose pairwise matrix can also be streamed in blocks of BlockSize × BlockSize pairs.
    /// </summary>
    /// <param name="options">Solver options (<c>SinkhornOptions.Create(epsilon)</c> with changed fields).</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">An option out of range.</exception>
    static member Sinkhorn(options: SinkhornOptions) : IBlockwiseDistance =
        Sinkhorn.distance options :?> IBlockwiseDistance

    /// <summary>
    /// The debiased Sinkhorn divergence <c>sinkhorn-divergence</c> S_ε(a, b) = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b)
    /// (Feydy et al., AISTATS 2019, definition of S_ε; see <c>Sinkhorn.Divergence</c>), streamable in blocks of BlockSize × BlockSize pairs.
    /// </summary>
    /// <param name="options">Solver options (KeepPlan is ignored).</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>, zero for a = b.</returns>
    /// <exception cref="T:System.ArgumentException">An option out of range.</exception>
    static member SinkhornDivergence(options: SinkhornOptions) : IBlockwiseDistance =
        Sinkhorn.divergence options :?> IBlockwiseDistance

    /// <summary>
    /// The unbalanced Sinkhorn cost <c>sinkhorn-unbalanced</c>: ⟨P, C⟩ of the entropic plan with KL-relaxed marginals
    /// of strength ρ (see <c>Sinkhorn.UnbalancedDistance</c>), streamable in blocks of BlockSize × BlockSize pairs.
    /// </summary>
    /// <param name="rho">ρ &gt; 0 (+∞: balanced).</param>
    /// <param name="options">Solver options.</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>.</returns>
    /// <exception cref="T:System.ArgumentException">ρ or an option out of range.</exception>
    static member SinkhornUnbalanced(rho: float, options: SinkhornOptions) : IBlockwiseDistance =
        Sinkhorn.unbalancedDistance (rho, options) :?> IBlockwiseDistance

    /// <summary>
    /// The debiased unbalanced Sinkhorn divergence <c>sinkhorn-divergence-unbalanced</c>
    /// (Séjourné et al. 2019; see <c>Sinkhorn.UnbalancedDivergence</c>), streamable in blocks of BlockSize × BlockSize pairs.
    /// </summary>
    /// <param name="rho">ρ &gt; 0 (+∞: balanced).</param>
    /// <param name="options">Solver options (KeepPlan is ignored).</param>
    /// <returns>A symmetric divergence on <c>Distributions</c>, zero for a = b.</returns>
    /// <exception cref="T:System.ArgumentException">ρ or an option out of range.</exception>
    static member SinkhornDivergenceUnbalanced(rho: float, options: SinkhornOptions) : IBlockwiseDistance =
        Sinkhorn.unbalancedDivergence (rho, options) :?> IBlockwiseDistance

    /// The Sinkhorn solver options a DistanceOptions describes (pairs per batched solve: BlockSize, or 256).
    static member private SinkhornOptionsOf(o: DistanceOptions) =
        { SinkhornOptions.Create(o.Epsilon) with
            MaxIterations = o.MaxIterations
            Tolerance = o.Tolerance
            EpsilonScaling = o.EpsilonScaling
            OnNonConvergence = o.OnNonConvergence
            BlockSize = (if o.BlockSize > 0 then o.BlockSize else 256) }

    /// <summary>
    /// The distance catalog: one descriptor per name, in the order of the docs table. <see cref="P:DistEmbed.Core.Distances.Names"/>,
    /// <see cref="M:DistEmbed.Core.Distances.Create(System.String,DistEmbed.Core.DistanceOptions)"/>, the command line's
    /// help and docs/distances.md read it.
    /// </summary>
    static member Catalog: Collections.Generic.IReadOnlyList<DistanceDescriptor> =
        let entry name accepts kind summary (options: string list) factory =
            DistanceDescriptor(name, accepts, kind, summary, Array.append (List.toArray options) [| "BlockSize" |], factory)
        let vectors, dists, quants = Representation.Vectors, Representation.Distributions, Representation.Quantiles
        let metric, pseudo, divergence = DistanceKind.Metric, DistanceKind.PseudoMetric, DistanceKind.Divergence
        let sliced kind (o: DistanceOptions) : IBlockwiseDistance =
            if isNull o.Directions then Distances.SlicedDrawn(kind, o.Projections, o.Seed, 2.0, o.BlockSize) :> IBlockwiseDistance
            else Distances.Sliced(kind, o.Directions, 2.0, o.BlockSize)
        let slicedOptions = [ "Projections"; "Seed"; "Directions" ]
        let sinkhornOptions = [ "Epsilon"; "MaxIterations"; "Tolerance"; "EpsilonScaling"; "OnNonConvergence" ]
        [| entry "euclidean" vectors metric "‖x − y‖₂" [] (fun o -> Distances.Euclidean o.BlockSize)
           entry "sqeuclidean" vectors divergence "‖x − y‖₂²" [] (fun o -> Distances.SquaredEuclidean o.BlockSize)
           entry "cosine" vectors divergence "1 − ⟨x, y⟩ / (‖x‖ ‖y‖), in [0, 2]" [] (fun o -> Distances.Cosine o.BlockSize)
           entry "lp" vectors metric "(Σ_k ∣x_k − y_k∣^p)^{1/p}" [ "P" ] (fun o -> Distances.Lp(o.P, o.BlockSize))
           entry "marginal-w1" dists pseudo "Σ_k W₁ of the k-th coordinate marginals (exact 1-D transport)" [] (fun o ->
               Distances.MarginalWasserstein(1.0, o.BlockSize))
           entry "marginal-w2" dists pseudo "(Σ_k W₂² of the coordinate marginals)^{1/2}" [] (fun o ->
               Distances.MarginalWasserstein(2.0, o.BlockSize))
           entry "marginal-w2-cost" dists divergence "Σ_k W₂² of the coordinate marginals" [] (fun o ->
               Distances.MarginalWassersteinCost(2.0, o.BlockSize))
           entry "quantile-w1" quants metric "marginal W₁ from quantile functions at shared levels" [] (fun o ->
               Distances.QuantileWasserstein(1.0, o.BlockSize))
           entry "quantile-w2" quants metric "marginal W₂ from quantile functions" [] (fun o -> Distances.QuantileWasserstein(2.0, o.BlockSize))
           entry "quantile-w2-cost" quants divergence "marginal W₂² from quantile functions" [] (fun o ->
               Distances.QuantileWassersteinCost(2.0, o.BlockSize))
           entry "sliced-w2" dists pseudo "sliced W₂: (mean over L directions θ of W₂²(θᵀx, θᵀy))^{1/2}; directions drawn once per instance" slicedOptions (sliced "sliced")
           entry "sliced-w2-cost" dists divergence "sliced W₂²" slicedOptions (sliced "cost")
           entry "max-sliced-w2" dists pseudo "max over the L directions of W₂(θᵀx, θᵀy)" slicedOptions (sliced "max")
           entry "exact-w1" dists metric "exact W₁ = min_P ⟨P, ‖x − y‖⟩ (network simplex per pair, as POT's emd2)" [] (fun o ->
               Distances.ExactWasserstein(1.0, o.BlockSize))
           entry "exact-w2" dists metric "exact W₂ = (min_P ⟨P, ‖x − y‖²⟩)^{1/2} (network simplex per pair)" [] (fun o ->
               Distances.ExactWasserstein(2.0, o.BlockSize))
           entry "exact-w2-cost" dists divergence "exact W₂² = min_P ⟨P, ‖x − y‖²⟩ (POT's emd2 with the squared Euclidean cost)" [] (fun o ->
               Distances.ExactWassersteinCost(2.0, o.BlockSize))
           entry "bures" dists pseudo "Bures–Wasserstein W₂ between the Gaussian fits (mean, full covariance)" [] (fun o -> Distances.Bures o.BlockSize)
           entry "bures-cost" dists divergence "its square" [] (fun o -> Distances.BuresCost o.BlockSize)
           entry "bures-diag" dists pseudo "(‖m₁ − m₂‖² + ‖σ₁ − σ₂‖²)^{1/2}, diagonal Gaussian fits" [] (fun o -> Distances.BuresDiagonal o.BlockSize)
           entry "bures-diag-cost" dists divergence "its square" [] (fun o -> Distances.BuresDiagonalCost o.BlockSize)
           entry "mmd" dists divergence "MMD² with a sum of Gaussian kernels" [ "Bandwidths"; "Biased" ] (fun o ->
               Distances.Mmd(o.Bandwidths, o.Biased, o.BlockSize))
           entry "energy" dists divergence "2E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖ (its square root is a metric)" [] (fun o -> Distances.Energy o.BlockSize)
           entry "sinkhorn" dists divergence "transport cost ⟨P_ε, C⟩ of the entropic plan, C = ‖x − y‖² (POT's sinkhorn2)" sinkhornOptions (fun o ->
               Distances.Sinkhorn(Distances.SinkhornOptionsOf o))
           entry "sinkhorn-divergence" dists divergence "S_ε(a, b) = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b) ≥ 0, zero for a = b" sinkhornOptions (fun o ->
               Distances.SinkhornDivergence(Distances.SinkhornOptionsOf o))
           entry "sinkhorn-unbalanced" dists divergence "⟨P, C⟩ of the unbalanced entropic plan: marginals relaxed by ρ·KL, entropy relative to a⊗b; → sinkhorn as ρ → ∞" ("Rho" :: sinkhornOptions) (fun o ->
               Distances.SinkhornUnbalanced(o.Rho, Distances.SinkhornOptionsOf o))
           entry "sinkhorn-divergence-unbalanced" dists divergence "OT_ε,ρ(a, b) − ½OT_ε,ρ(a, a) − ½OT_ε,ρ(b, b) + ε/2·(m(a) − m(b))² ≥ 0 (Séjourné et al. 2019)" ("Rho" :: sinkhornOptions) (fun o ->
               Distances.SinkhornDivergenceUnbalanced(o.Rho, Distances.SinkhornOptionsOf o)) |]
        |> Array.AsReadOnly
        :> Collections.Generic.IReadOnlyList<DistanceDescriptor>

    /// <summary>The descriptor of a name (case-insensitive, surrounding spaces ignored).</summary>
    /// <param name="name">One of <see cref="P:DistEmbed.Core.Distances.Names"/>.</param>
    /// <returns>The descriptor.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name, lists the valid ones).</exception>
    static member Describe(name: string) : DistanceDescriptor =
        Validation.notNull "name" name
        let key = name.Trim().ToLowerInvariant()
        let catalog = Distances.Catalog
        match catalog |> Seq.tryFind (fun d -> d.Name = key) with
        | Some d -> d
        | None ->
            let valid = String.Join(", ", catalog |> Seq.map (fun d -> d.Name))
            Validation.fail "name" $"distance '{name}' is unknown; valid names: {valid}."

    /// <summary>The names <see cref="M:DistEmbed.Core.Distances.Create(System.String,DistEmbed.Core.DistanceOptions)"/> accepts (those of <see cref="P:DistEmbed.Core.Distances.Catalog"/>).</summary>
    static member Names = Distances.Catalog |> Seq.map (fun d -> d.Name) |> Seq.toArray

    /// <summary>Creates a distance by name (the names of the command line), reading what it needs from the options.</summary>
    /// <param name="name">One of <see cref="P:DistEmbed.Core.Distances.Names"/> (case-insensitive).</param>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The distance; <c>sliced-w2</c>, <c>sliced-w2-cost</c> and <c>max-sliced-w2</c> without fixed directions
    /// are <see cref="T:DistEmbed.Core.ISeededDistance"/>s whose directions are drawn once from <c>options.Seed</c>.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name, lists the valid ones); an option out of range (names it).</exception>
    static member Create(name: string, options: DistanceOptions) : IBlockwiseDistance =
        (Distances.Describe name).Create(options)
