namespace DistEmbed.Core

open System
open System.Runtime.InteropServices
open TorchSharp
open DistEmbed.Core.DistanceKernels

/// One distance: a name, its flags, the representation it accepts, and typed paired/pairwise kernels behind the
/// representation and compatibility checks of the <see cref="T:DistEmbed.Core.IDistance"/> contract.
[<Sealed>]
type internal TensorDistance<'B when 'B :> IEmbeddingBatch>
    (
        name: string,
        isMetric: bool,
        accepts: Representation,
        blockSize: int,
        dimension: 'B -> int,
        extraCheck: 'B -> 'B -> bool -> unit,
        paired: 'B -> 'B -> torch.Tensor,
        plan: 'B -> 'B -> PairwisePlan
    ) =

    member private _.Prepare(a: IEmbeddingBatch, b: IEmbeddingBatch, isPaired: bool) =
        NativeRuntime.EnsureInitialized()
        let ta = require<'B> name accepts "a" a
        let tb = require<'B> name accepts "b" b
        checkPair a (dimension ta) b (dimension tb) isPaired
        extraCheck ta tb isPaired
        ta, tb

    override _.ToString() = name

    interface IBlockwiseDistance with
        member _.BlockSize = blockSize

        member this.PairwiseBlocks(a, b, sink) =
            let ta, tb = this.Prepare(a, b, false)
            streamPlan (fun () -> plan ta tb) sink

    interface IDistance with
        member _.Name = name
        member _.IsMetric = isMetric
        member _.IsSymmetric = true
        member _.Accepts = accepts

        member this.Paired(a, b) =
            let ta, tb = this.Prepare(a, b, true)
            scoped (fun () -> paired ta tb)

        member this.Pairwise(a, b) =
            let ta, tb = this.Prepare(a, b, false)
            runPlan (fun () -> plan ta tb)

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
    /// <summary>Fixed [L, d] directions for <c>sliced-w2</c> and <c>max-sliced-w2</c>; null (the default) draws <see cref="P:DistEmbed.Core.DistanceOptions.Projections"/> directions per call.</summary>
    member val Directions: torch.Tensor = null with get, set
    /// <summary>The number L of directions drawn per call when no directions are given (1 ≤ L ≤ 65,536; L·d ≤ 2^26). Default 64.</summary>
    member val Projections = 64 with get, set
    /// <summary>The seed of the direction generator. Default 0.</summary>
    member val Seed = 0L with get, set
    /// <summary>The Gaussian kernel bandwidths σ of <c>mmd</c> (each finite, &gt; 0). Default [0.5, 1, 2, 4].</summary>
    member val Bandwidths = [| 0.5; 1.0; 2.0; 4.0 |] with get, set
    /// <summary>True (the default) for the biased V-statistic MMD², false for the unbiased U-statistic.</summary>
    member val Biased = true with get, set
    /// <summary>The entropic regularisation ε &gt; 0 of <c>sinkhorn</c> and <c>sinkhorn-divergence</c>, in units of the squared Euclidean ground cost. Default 0.1.</summary>
    member val Epsilon = 0.1 with get, set
    /// <summary>The Sinkhorn iteration cap (≥ 1). Default 1000.</summary>
    member val MaxIterations = 1000 with get, set
    /// <summary>The Sinkhorn stopping tolerance on the L1 marginal error (&gt; 0). Default 1e-6.</summary>
    member val Tolerance = 1e-6 with get, set
    /// <summary>
    /// The Sinkhorn ε-scaling ratio q: 0 (the default) iterates at ε only; q ∈ (0, 1) first runs one iteration at
    /// each of ε₀ = max C, ε₀q, ε₀q², … above ε (ε-annealing as in GeomLoss; Schmitzer 2019, §3.2), which cuts the
    /// iterations needed at small ε (e.g. q = 0.5 with MaxIterations = 20 when training with the Sinkhorn divergence).
    /// </summary>
    member val EpsilonScaling = 0.0 with get, set

/// <summary>
/// Gives a Sinkhorn distance the streaming form of <see cref="T:DistEmbed.Core.IBlockwiseDistance"/>: blocks of
/// <c>streamBlock</c> × <c>streamBlock</c> pairs, each solved by the distance's own batched solver.
/// </summary>
type internal SinkhornBlockwise(inner: IDistance, streamBlock: int) =
    let select (batch: IEmbeddingBatch) (start: int64) (count: int64) =
        use idx = torch.arange(start, start + count, dtype = torch.int64, device = batch.Device)
        batch.Select idx

    interface IBlockwiseDistance with
        member _.Name = inner.Name
        member _.IsMetric = inner.IsMetric
        member _.IsSymmetric = inner.IsSymmetric
        member _.Accepts = inner.Accepts
        member _.Paired(a, b) = inner.Paired(a, b)
        member _.Pairwise(a, b) = inner.Pairwise(a, b)
        member _.BlockSize = streamBlock
        member _.PairwiseBlocks(a, b, sink) =
            Validation.notNull "a" a
            Validation.notNull "b" b
            let block =
                Func<int64, int64, int64, int64, torch.Tensor>(fun r0 rn c0 cn ->
                    use x = select a r0 rn
                    use y = select b c0 cn
                    inner.Pairwise(x, y))
            Blocked.stream (int64 a.Count, int64 b.Count, int64 streamBlock, block, sink)

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
/// | bures, bures-diag | Distributions | W_2 between Gaussian fits (<c>Bures</c>) | yes |
/// | mmd, energy | Distributions | MMD², energy distance (<c>KernelDistances</c>) | no |
/// | sinkhorn, sinkhorn-divergence | Distributions | ⟨P_ε, C⟩ of the entropic plan, debiased S_ε (<c>Sinkhorn</c>) | no |
/// | …-cost | as the base | the p-th power W_p^p (W_2² for the *-w2 and bures forms) | no |
/// "IsMetric" counts pseudo-metrics: marginal, sliced and Gaussian-fit distances are metrics on the marginals,
/// projections or fits, and are zero for different distributions that share them. Every distance here is symmetric.
/// Paired and Pairwise check the representation (an ArgumentException naming a or b says which one is accepted),
/// equal counts (paired), equal dimension, dtype and device (naming b).
/// </remarks>
[<AbstractClass; Sealed>]
type Distances =

    static member private Vector(name, isMetric, blockSize, paired, plan) : IBlockwiseDistance =
        checkBlockSize blockSize
        TensorDistance<VectorBatch>(
            name,
            isMetric,
            Representation.Vectors,
            blockSize,
            (fun v -> v.Dimension),
            (fun _ _ _ -> ()),
            paired,
            (fun a b -> plan a b blockSize)
        )

    static member private Distribution(name, isMetric, blockSize, check, paired, plan) : IBlockwiseDistance =
        checkBlockSize blockSize
        TensorDistance<DistributionBatch>(
            name,
            isMetric,
            Representation.Distributions,
            blockSize,
            (fun v -> v.Dimension),
            check,
            paired,
            (fun a b -> plan a b blockSize)
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
            VectorDistances.euclideanPlan
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
            (fun a b -> a.Values.sub(b.Values).pow(TensorChecks.sc 2.0).sum (1L)),
            VectorDistances.squaredEuclideanPlan
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
            MarginalWasserstein.distributionDistancePlan p
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

    static member private Quantile(name, blockSize, paired, plan) : IBlockwiseDistance =
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
            (fun a b -> plan a b blockSize)
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
            MarginalWasserstein.quantileDistancePlan p
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
        TensorChecks.floating "directions" directions
        if directions.dim () <> 2L || directions.shape.[0] = 0L || directions.shape.[1] = 0L then
            Validation.fail "directions" $"directions has shape {TensorChecks.shape directions}; it must be [L, d] with L, d ≥ 1."
        TensorChecks.finite "directions" directions
        SlicedWasserstein.checkNonZero directions
        use scope = torch.NewDisposeScope()
        directions.detach().clone().DetachFromDisposeScope()

    /// Checks a batch's dimension against fixed directions (names a).
    static member private DirectionCheck(directions: torch.Tensor) =
        fun (a: DistributionBatch) (_: DistributionBatch) (_: bool) ->
            if int64 a.Dimension <> directions.shape.[1] then
                Validation.fail "a" $"a has dimension {a.Dimension} but the directions are {TensorChecks.shape directions}; they must match."

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
                (fun a b bs -> SlicedWasserstein.distancePlan p (directionsFor a) a b bs)
            )

    static member private Sliced(kind: string, directions: torch.Tensor, p: float, blockSize: int) : IBlockwiseDistance =
        checkOrder p
        let theta = Distances.OwnDirections directions
        Distances.SlicedFamily(kind, p, blockSize, Distances.DirectionCheck theta, (fun _ -> theta))

    static member private SlicedDrawn(kind: string, projections: int, seed: int64, p: float, blockSize: int) : IBlockwiseDistance =
        NativeRuntime.EnsureInitialized()
        checkOrder p
        SlicedWasserstein.checkProjections "projections" projections
        let generator = new torch.Generator(uint64 seed, torch.CPU)
        let next (a: DistributionBatch) =
            SlicedWasserstein.checkDrawSize "projections" projections a.Dimension
            lock generator (fun () -> SlicedWasserstein.draw generator projections a.Dimension a.Points.dtype a.Points.device)
        Distances.SlicedFamily(kind, p, blockSize, Distances.NoCheck, next)

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
    /// The sliced distance SW_p over L unit directions drawn afresh for every call from a generator seeded once
    /// (name <c>sliced-w2</c> for p = 2). All pairs of one call share one draw, so <c>Pairwise(a, a)</c> is symmetric
    /// with a zero diagonal; two calls see different directions, reproducibly from the seed.
    /// </summary>
    /// <param name="projections">The number L of directions per call, 1 ≤ L ≤ 65,536 (and L·d ≤ 2^26).</param>
    /// <param name="seed">The seed of the generator.</param>
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

    /// <summary>The sliced cost SW_p^p over directions drawn afresh for every call (name <c>sliced-w2-cost</c> for p = 2).</summary>
    /// <param name="projections">The number L of directions per call, 1 ≤ L ≤ 65,536 (and L·d ≤ 2^26).</param>
    /// <param name="seed">The seed of the generator.</param>
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

    /// <summary>The max-sliced distance over directions drawn afresh for every call (name <c>max-sliced-w2</c> for p = 2).</summary>
    /// <param name="projections">The number L of directions per call, 1 ≤ L ≤ 65,536 (and L·d ≤ 2^26).</param>
    /// <param name="seed">The seed of the generator.</param>
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

    /// <summary>The names <see cref="M:DistEmbed.Core.Distances.Create(System.String,DistEmbed.Core.DistanceOptions)"/> accepts.</summary>
    static member Names =
        [| "euclidean"; "sqeuclidean"; "cosine"; "lp"; "marginal-w1"; "marginal-w2"; "marginal-w2-cost"; "quantile-w1"
           "quantile-w2"; "quantile-w2-cost"; "sliced-w2"; "sliced-w2-cost"; "max-sliced-w2"; "bures"; "bures-cost"
           "bures-diag"; "bures-diag-cost"; "mmd"; "energy"; "sinkhorn"; "sinkhorn-divergence" |]

    /// <summary>Creates a distance by name (the names of the command line), reading what it needs from the options.</summary>
    /// <param name="name">One of <see cref="P:DistEmbed.Core.Distances.Names"/> (case-insensitive).</param>
    /// <param name="options">The options; null means the defaults.</param>
    /// <returns>The distance.</returns>
    /// <exception cref="T:System.ArgumentException">Unknown name (names name, lists the valid ones); an option out of range (names it).</exception>
    static member Create(name: string, options: DistanceOptions) : IBlockwiseDistance =
        Validation.notNull "name" name
        let o = if isNull options then DistanceOptions() else options
        let bs = o.BlockSize
        let sliced kind =
            if isNull o.Directions then Distances.SlicedDrawn(kind, o.Projections, o.Seed, 2.0, bs)
            else Distances.Sliced(kind, o.Directions, 2.0, bs)
        match name.Trim().ToLowerInvariant() with
        | "euclidean" -> Distances.Euclidean bs
        | "sqeuclidean" -> Distances.SquaredEuclidean bs
        | "cosine" -> Distances.Cosine bs
        | "lp" -> Distances.Lp(o.P, bs)
        | "marginal-w1" -> Distances.MarginalWasserstein(1.0, bs)
        | "marginal-w2" -> Distances.MarginalWasserstein(2.0, bs)
        | "marginal-w2-cost" -> Distances.MarginalWassersteinCost(2.0, bs)
        | "quantile-w1" -> Distances.QuantileWasserstein(1.0, bs)
        | "quantile-w2" -> Distances.QuantileWasserstein(2.0, bs)
        | "quantile-w2-cost" -> Distances.QuantileWassersteinCost(2.0, bs)
        | "sliced-w2" -> sliced "sliced"
        | "sliced-w2-cost" -> sliced "cost"
        | "max-sliced-w2" -> sliced "max"
        | "bures" -> Distances.Bures bs
        | "bures-cost" -> Distances.BuresCost bs
        | "bures-diag" -> Distances.BuresDiagonal bs
        | "bures-diag-cost" -> Distances.BuresDiagonalCost bs
        | "mmd" -> Distances.Mmd(o.Bandwidths, o.Biased, bs)
        | "energy" -> Distances.Energy bs
        | "sinkhorn"
        | "sinkhorn-divergence" as n ->
            let so =
                { SinkhornOptions.Create(o.Epsilon) with
                    MaxIterations = o.MaxIterations
                    Tolerance = o.Tolerance
                    EpsilonScaling = o.EpsilonScaling
                    BlockSize = (if bs > 0 then bs else 256) }
            let d = if n = "sinkhorn" then Sinkhorn.distance so else Sinkhorn.divergence so
            SinkhornBlockwise(d, 64) :> IBlockwiseDistance
        | _ ->
            let valid = String.Join(", ", Distances.Names)
            Validation.fail "name" $"distance '{name}' is unknown; valid names: {valid}."
