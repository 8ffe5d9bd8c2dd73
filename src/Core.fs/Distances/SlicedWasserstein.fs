namespace DistEmbed.Core

open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>
/// Sliced and max-sliced p-Wasserstein distances between batches of weighted empirical distributions
/// (<see cref="T:DistEmbed.Core.DistributionBatch"/>), over given directions or directions drawn from a seeded
/// generator; paired ([B]) and pairwise ([B, B'], memory-bounded by blocks), differentiable.
/// </summary>
/// <remarks>
/// With directions θ_1 … θ_L (rows of an [L, d] tensor) and P_θ(x) = ⟨θ, x⟩,
/// <code>SW_p^p(μ, ν) = (1/L) Σ_l W_p^p(P_θl#μ, P_θl#ν),   maxSW_p(μ, ν) = max_l W_p(P_θl#μ, P_θl#ν)</code>
/// [1], [2]. The points are projected once ([B, T, d] → [B, T, L], one matrix product) and the one-dimensional costs
/// of the L projected marginals come from the marginal machinery of <c>MarginalWasserstein</c> (exact merge of
/// the cumulative weights; for uniform weights of one length, the sorted fast path: one matrix product per block for
/// p = 2). Directions are used as given (a direction of norm r scales its slice by r; a zero direction is rejected,
/// since its slice is 0 between any two distributions), as POT's
/// <c>ot.sliced_wasserstein_distance(..., projections=Θᵀ)</c>; <c>randomDirections</c> draws unit directions,
/// uniform on the sphere. Functions named <c>cost…</c> return SW_p^p; the others SW_p.
///
/// References:
/// [1] N. Bonneel, J. Rabin, G. Peyré and H. Pfister, Sliced and Radon Wasserstein Barycenters of Measures,
///     Journal of Mathematical Imaging and Vision 51(1), 22–45 (2015).
/// [2] I. Deshpande et al., Max-Sliced Wasserstein Distance and its use for GANs, CVPR (2019), arXiv:1904.05877.
/// </remarks>
[<RequireQualifiedAccess>]
module SlicedWasserstein =

    type private Tensor = torch.Tensor

    /// <summary>The most directions one call may draw (2^16): far beyond the ~1/√L Monte-Carlo error anyone needs, and a bound
    /// on the [L, d] draw and the [B, T, L] projections, which otherwise ask for gigabytes from a mistyped option.</summary>
    [<Literal>]
    let MaxProjections = 65536

    /// The most elements L·d of one draw of directions (2^26, 512 MiB in float64).
    let internal maxDirectionElements = 1L <<< 26

    /// Checks a number of directions L against 1 ≤ L ≤ MaxProjections (names the argument).
    let internal checkProjections (name: string) (count: int) =
        Validation.atLeastInt name 1 count
        if count > MaxProjections then
            Validation.fail name $"{name} = {count} is too large; at most {MaxProjections} directions are drawn per call."

    /// Checks L·d of a draw against maxDirectionElements (names the argument that set L).
    let internal checkDrawSize (name: string) (count: int) (dimension: int) =
        let elements = int64 count * int64 dimension
        if elements > maxDirectionElements then
            Validation.fail
                name
                $"{name} = {count} directions of dimension {dimension} make {elements} values, more than the {maxDirectionElements} one draw may hold; use fewer directions."

    /// Draws L unit directions in ℝ^d from a generator: float64 standard normal draws on the CPU, each row divided
    /// by its norm, then converted (so one seed gives the same directions on every device and dtype).
    let internal draw (generator: torch.Generator) (count: int) (dimension: int) (dtype: torch.ScalarType) (device: torch.Device) : Tensor =
        use scope = torch.NewDisposeScope()
        let z = torch.randn ([| int64 count; int64 dimension |], dtype = torch.float64, generator = generator)
        let norms = z.pow(Scalars.sc 2.0).sum(1L, keepdim = true).sqrt().clamp_min (sc 1e-300)
        z.div(norms).``to``(dtype, device).MoveToOuterDisposeScope()

    /// <summary>L pseudo-random unit directions in ℝ^d, uniform on the sphere, reproducible from a seed.</summary>
    /// <remarks>Standard normal draws from a <c>torch.Generator</c> seeded with <paramref name="seed"/> (on the CPU, float64), each row normalised, then converted to <paramref name="dtype"/> on <paramref name="device"/>.</remarks>
    /// <param name="count">The number of directions, 1 ≤ L ≤ 65,536, with L·d ≤ 2^26.</param>
    /// <param name="dimension">The dimension d ≥ 1.</param>
    /// <param name="seed">The seed of the generator.</param>
    /// <param name="dtype">float32 or float64.</param>
    /// <param name="device">The target device; null means CPU.</param>
    /// <returns>[L, d] with unit rows.</returns>
    /// <exception cref="T:System.ArgumentException">count or dimension below 1, count above 65,536 or L·d above 2^26; dtype not floating.</exception>
    [<CompiledName("RandomDirections")>]
    let randomDirections (count: int, dimension: int, seed: int64, dtype: torch.ScalarType, device: torch.Device) : Tensor =
        NativeRuntime.EnsureInitialized()
        checkProjections "count" count
        Validation.atLeastInt "dimension" 1 dimension
        checkDrawSize "count" count dimension
        if dtype <> torch.float32 && dtype <> torch.float64 then
            Validation.fail "dtype" $"dtype {dtype} is not supported; use float32 or float64."
        use generator = new torch.Generator(uint64 seed, torch.CPU)
        draw generator count dimension dtype (if isNull device then torch.CPU else device)

    /// Checks that no row of finite directions [L, d] is zero: a zero direction projects every distribution onto the
    /// single point 0, so its slice contributes 0 whatever the distributions (with only zero directions the sliced
    /// distance between different distributions would be 0).
    let internal checkNonZero (directions: Tensor) =
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let zero = directions.detach().abs().amax([| 1L |]).eq (sc 0.0)
        match Validation.firstTrue zero with
        | Some idx ->
            Validation.fail
                "directions"
                $"directions row {idx.[0]} is zero; every direction must have a non-zero norm (a zero direction projects every distribution onto one point, so its slice is 0 between any two distributions)."
        | None -> ()

    /// Checks directions [L, d] (floating, finite, non-zero rows, d matching).
    let internal checkDirections (directions: Tensor) (dimension: int) =
        Validation.notNull "directions" directions
        Validation.floating "directions" directions
        if directions.dim () <> 2L || directions.shape.[0] = 0L || directions.shape.[1] <> int64 dimension then
            Validation.fail
                "directions"
                $"directions has shape {Validation.shape directions}; it must be [L, d] with L ≥ 1 and d = {dimension} (the dimension of the batches)."
        Validation.finiteTensor "directions" directions
        checkNonZero directions

    /// The projected points [B, T, L] of a batch onto directions (converted to the batch's dtype and device).
    let internal project (points: Tensor) (directions: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let theta = directions.``to``(points.dtype, points.device)
        points.matmul(theta.t ()).MoveToOuterDisposeScope()

    let private check (a: DistributionBatch) (b: DistributionBatch) (p: float) (directions: Tensor) (paired: bool) =
        checkOrder p
        Validation.notNull "a" a
        Validation.notNull "b" b
        checkPair a a.Dimension b b.Dimension paired
        checkDirections directions a.Dimension

    let internal costPlan (p: float) (directions: Tensor) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) =
        let l = float directions.shape.[0]
        MarginalWasserstein.costPlan true p true (project a.Points directions) a.Weights (project b.Points directions) b.Weights blockSize
        |> mapPlan (fun block -> block.div (sc l))

    let internal distancePlan (p: float) (directions: Tensor) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) =
        costPlan p directions a b blockSize |> mapPlan (safeRoot p)

    /// The Gram form of <c>distancePlan 2</c> (sliced W2 over fixed directions) where it is one: both batches of one
    /// length T with uniform weights (the sorted projections, e / T / L); None otherwise.
    let internal gram (directions: Tensor) (a: DistributionBatch) (b: DistributionBatch) (same: bool) : GramForm option =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let pa = project a.Points directions
        let pb = if same then pa else project b.Points directions
        match MarginalWasserstein.sortedGram true pa a.Weights pb b.Weights same (float directions.shape.[0]) with
        | Some form -> Some(moveGram form)
        | None -> None

    let internal maxSlicedPlan (p: float) (directions: Tensor) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) =
        MarginalWasserstein.costPlan true p false (project a.Points directions) a.Weights (project b.Points directions) b.Weights blockSize
        |> mapPlan (safeRoot p)

    let internal costPairedCore (p: float) (directions: Tensor) (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        (MarginalWasserstein.perDimensionPaired p (project a.Points directions) a.Weights (project b.Points directions) b.Weights)
            .mean([| 1L |])
            .MoveToOuterDisposeScope()

    let internal maxSlicedPairedCore (p: float) (directions: Tensor) (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        let perDirection =
            MarginalWasserstein.perDimensionPaired p (project a.Points directions) a.Weights (project b.Points directions) b.Weights
        (safeRoot p (perDirection.amax ([| 1L |]))).MoveToOuterDisposeScope()

    /// <summary>Paired sliced cost SW_p^p(a_i, b_i) = (1/L) Σ_l W_p^p over the given directions.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="directions">[L, d] directions, used as given (converted to the batches' dtype and device).</param>
    /// <returns>[B], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); counts, dimensions, dtypes or devices differ (names b); directions not [L, d], not finite or with a zero row (names directions).</exception>
    [<CompiledName("CostPaired")>]
    let costPaired (a: DistributionBatch, b: DistributionBatch, p: float, directions: Tensor) : Tensor =
        checkedScoped (fun () -> check a b p directions true) (fun () -> costPairedCore p directions a b)

    /// <summary>Paired sliced distance SW_p(a_i, b_i) = ((1/L) Σ_l W_p^p)^{1/p} over the given directions.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="directions">[L, d] directions, used as given.</param>
    /// <returns>[B], ≥ 0, differentiable (gradient 0 where the distance is 0).</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>costPaired</c>.</exception>
    [<CompiledName("Paired")>]
    let paired (a: DistributionBatch, b: DistributionBatch, p: float, directions: Tensor) : Tensor =
        checkedScoped (fun () -> check a b p directions true) (fun () -> safeRoot p (costPairedCore p directions a b))

    /// <summary>Pairwise sliced cost SW_p^p(a_i, b_j), streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="directions">[L, d] directions, used as given.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>costPaired</c>; blockSize &lt; 0.</exception>
    [<CompiledName("CostPairwise")>]
    let costPairwise (a: DistributionBatch, b: DistributionBatch, p: float, directions: Tensor, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b p directions false) blockSize (fun () -> costPlan p directions a b blockSize)

    /// <summary>Pairwise sliced distance SW_p(a_i, b_j), streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="directions">[L, d] directions, used as given.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>costPaired</c>; blockSize &lt; 0.</exception>
    [<CompiledName("Pairwise")>]
    let pairwise (a: DistributionBatch, b: DistributionBatch, p: float, directions: Tensor, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b p directions false) blockSize (fun () -> distancePlan p directions a b blockSize)

    /// <summary>Paired max-sliced distance max_l W_p(a_i, b_i) over the given directions.</summary>
    /// <remarks>The maximum over the given set, a lower bound of the maximum over the sphere for unit directions; ties share the gradient.</remarks>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="directions">[L, d] directions, used as given.</param>
    /// <returns>[B], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>costPaired</c>.</exception>
    [<CompiledName("MaxSlicedPaired")>]
    let maxSlicedPaired (a: DistributionBatch, b: DistributionBatch, p: float, directions: Tensor) : Tensor =
        checkedScoped (fun () -> check a b p directions true) (fun () -> maxSlicedPairedCore p directions a b)

    /// <summary>Pairwise max-sliced distance max_l W_p(a_i, b_j), streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="directions">[L, d] directions, used as given.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>costPaired</c>; blockSize &lt; 0.</exception>
    [<CompiledName("MaxSlicedPairwise")>]
    let maxSlicedPairwise (a: DistributionBatch, b: DistributionBatch, p: float, directions: Tensor, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b p directions false) blockSize (fun () -> maxSlicedPlan p directions a b blockSize)
