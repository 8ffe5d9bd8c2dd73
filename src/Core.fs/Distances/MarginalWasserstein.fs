namespace DistEmbed.Core

open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>
/// Marginal (per-dimension, quantile) p-Wasserstein distances, batched and differentiable: between weighted empirical
/// distributions (<see cref="T:DistEmbed.Core.DistributionBatch"/>, padding-aware) and between quantile batches
/// (<see cref="T:DistEmbed.Core.QuantileBatch"/>), paired ([B]) and pairwise ([B, B'], memory-bounded by blocks).
/// </summary>
/// <remarks>
/// <code>MW_p^p(μ, ν) = Σ_{k=1}^{d} W_p^p(μ_k, ν_k) = Σ_k ∫_0^1 |F_k⁻¹(t) − G_k⁻¹(t)|^p dt,   MW_p = (MW_p^p)^{1/p}</code>
/// where μ_k, ν_k are the k-th coordinate marginals and F_k⁻¹, G_k⁻¹ their quantile functions [1, Proposition 2.17],
/// [2, Section 2.6]. The functions named <c>cost…</c> return the p-th power MW_p^p (MW_2² for p = 2, what squared
/// losses want); the others return MW_p.
///
/// Weighted distributions: each marginal is sorted once per distribution (padding, i.e. zero weight, is sorted last
/// and never selected); a pair's cost is the exact sum over the merged cumulative weights of both distributions
/// (as POT's <c>wasserstein_1d</c>), batched over pairs and dimensions. Ties between atoms go in index order, so a
/// lower index owns the lower quantiles, as in the float64 reference. Per pair of distributions this costs
/// O(d (T + T') log(T + T')) and the same in memory.
///
/// Uniform weights of one length T (no padding) take a fast path: W_p^p between two sorted samples of equal size is
/// (1/T) Σ_t |x_(t) − y_(t)|^p, so after one sort per distribution the pairwise MW_2² is
/// (1/T)(‖x̃_i‖² + ‖ỹ_j‖² − 2⟨x̃_i, ỹ_j⟩) over the flattened sorted [B, T·d] — one matrix product per block, never a
/// [B, B', T, d] tensor (entries where the Gram form cancels are recomputed from differences); other p use
/// <c>torch.cdist</c> on the flattened sorted values. Without autograd recording the sort, the CPU sorts these
/// samples with a SIMD sorting network (<c>ColumnSort</c>: the same values, no indices); with it, libtorch's stable sort.
///
/// Quantile batches [B, d, Q] with levels τ_1 &lt; … &lt; τ_Q: each level carries the mass of its cell
/// w_q = c_q − c_{q−1}, c_0 = 0, c_q = (τ_q + τ_{q+1})/2, c_Q = 1 (the step quantile function that takes the value
/// at τ_q on the cell around τ_q). Then
/// <code>MW_p^p = Σ_q w_q Σ_k |F_{a,k}⁻¹(τ_q) − F_{b,k}⁻¹(τ_q)|^p</code>
/// exactly the marginal W_p between the discrete measures Σ_q w_q δ at those quantiles (both have the same masses
/// and sorted atoms, so the monotone coupling pairs level q with level q). Midpoint levels τ_q = (q − ½)/Q give
/// w_q = 1/Q. Both batches must have the same levels.
///
/// References:
/// [1] F. Santambrogio, Optimal Transport for Applied Mathematicians, Birkhäuser (2015), Proposition 2.17.
/// [2] G. Peyré and M. Cuturi, Computational Optimal Transport, Foundations and Trends in Machine Learning 11(5–6)
///     (2019), arXiv:1803.00567, Section 2.6.
/// [3] A. Abdelwahab and N. Landwehr, Deep Distributional Sequence Embeddings Based on a Wasserstein Loss,
///     Neural Processing Letters (2022), arXiv:1912.01933, Section 3 (quantile layers, marginal W_2).
/// </remarks>
[<RequireQualifiedAccess>]
module MarginalWasserstein =

    type private Tensor = torch.Tensor

    /// Per-dimension sorted values [B, d, T] and normalised cumulative weights [B, d, T] (last entry exactly 1).
    /// Padding is sorted last by a +∞ key; ties keep index order (stable sort).
    let internal sortMarginals (points: Tensor) (weights: Tensor) : Tensor * Tensor =
        use scope = torch.NewDisposeScope()
        let xt = points.transpose (1L, 2L)
        let valid = weights.gt(sc 0.0).unsqueeze(1L).expand_as (xt)
        let key = torch.where (valid, xt.detach (), torch.full_like (xt, sc System.Double.PositiveInfinity))
        let struct (_, order) = key.sort (-1L, stable = true)
        let values = xt.gather (-1L, order)
        let w = weights.unsqueeze(1L).expand_as(xt).gather (-1L, order)
        let c = w.cumsum (-1L)
        let t = c.shape.[c.shape.Length - 1]
        let cumulative = c.div (c.narrow (-1L, t - 1L, 1L))
        values.MoveToOuterDisposeScope(), cumulative.MoveToOuterDisposeScope()

    /// Exact W_p^p between sorted one-dimensional marginals, over the merged cumulative weights: us, uc [..., T] and
    /// vs, vc [..., T'] with leading shapes of one rank that broadcast; returns the leading shape.
    ///
    /// The value is Σ_m (l_m − l_{m−1}) c(F⁻¹(l_m), G⁻¹(l_m)) over the merged levels l. As a function of the weights it
    /// has a kink wherever a level u_k of one distribution meets a level v_j of the other (always the case for two
    /// uniform distributions of one size): moving u_k up replaces x_{k+1} by x_k on (u_k, u_k + δ], where G⁻¹ is
    /// y_{j+1}; moving it down replaces x_k by x_{k+1} on (u_k − δ, u_k], where G⁻¹ is y_j. So the one-sided derivatives
    /// are D⁺_k = c(x_k, G⁻¹(u_k⁺)) − c(x_{k+1}, G⁻¹(u_k⁺)) and D⁻_k = c(x_k, G⁻¹(u_k)) − c(x_{k+1}, G⁻¹(u_k)), which
    /// differ at a tie (x = {0, 1}, y = {10, 11}, p = 2: +21 and +19). Autograd through the sorted levels would pick
    /// the pairing of whichever tied level the sort happens to put first (or neither: 0 in that example). When the
    /// cumulative weights need gradients, the levels therefore enter the value detached and a term
    /// Σ_k (u_k − stop(u_k))·½(D⁻_k + D⁺_k) + Σ_j (v_j − stop(v_j))·½(D⁻_j + D⁺_j), zero in value, carries the
    /// symmetric derivative ½(D⁻ + D⁺): the derivative where the levels do not meet, and exactly what central finite
    /// differences give where they do. Levels equal to 1 (the last one, and padding) get derivative 0; padding points
    /// are never read.
    let internal mergedCost (p: float) (us: Tensor) (uc: Tensor) (vs: Tensor) (vc: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let rank = uc.shape.Length
        let t = uc.shape.[rank - 1]
        let t' = vc.shape.[rank - 1]
        let lead = Array.init (rank - 1) (fun k -> max uc.shape.[k] vc.shape.[k])
        let ucE = uc.expand(Array.append lead [| t |]).contiguous ()
        let vcE = vc.expand(Array.append lead [| t' |]).contiguous ()
        let ucD, vcD = ucE.detach (), vcE.detach ()
        let struct (levels, _) = torch.cat([| ucD; vcD |], -1L).sort (-1L)
        let previous = torch.cat ([| torch.zeros_like (levels.narrow (-1L, 0L, 1L)); levels.narrow (-1L, 0L, t + t' - 1L) |], -1L)
        let widths = levels.sub previous
        let iu = torch.searchsorted(ucD, levels).clamp_max (sci (t - 1L))
        let iv = torch.searchsorted(vcD, levels).clamp_max (sci (t' - 1L))
        let uE = us.expand (Array.append lead [| t |])
        let vE = vs.expand (Array.append lead [| t' |])
        let value = widths.mul(powAbs p (uE.gather(-1L, iu).sub (vE.gather (-1L, iv)))).sum (-1L)
        let result =
            if not (uc.requires_grad || vc.requires_grad) then value
            else
                // Index of the last positive-mass atom (the first level equal to the final one, 1); no index passes it.
                let lastU = torch.searchsorted(ucD, ucD.narrow(-1L, t - 1L, 1L).contiguous ())
                let lastV = torch.searchsorted(vcD, vcD.narrow(-1L, t' - 1L, 1L).contiguous ())
                let left (sorted: Tensor) (at: Tensor) = torch.searchsorted (sorted, at)
                let right (sorted: Tensor) (last: Tensor) (at: Tensor) = torch.minimum (torch.searchsorted (sorted, at, right = true), last)
                let cost (x: Tensor) (ix: Tensor) (y: Tensor) (iy: Tensor) = powAbs p (x.gather(-1L, ix).sub (y.gather (-1L, iy)))
                // D at the levels of one distribution (own values `own`, levels `oc`) against the other (`other`, `ocOther`):
                // ½ Σ over G⁻¹(level) and G⁻¹(level⁺) of c(x_k, ·) − c(x_{k+1}, ·), with c(own, other) in that argument order.
                let symmetric (ownE: Tensor) (ownC: Tensor) (ownLast: Tensor) (otherE: Tensor) (otherC: Tensor) (otherLast: Tensor) (ownFirst: bool) =
                    let k = left ownC ownC
                    let k1 = right ownC ownLast ownC
                    let jm = left otherC ownC
                    let jp = right otherC otherLast ownC
                    let c (i: Tensor) (j: Tensor) = if ownFirst then cost ownE i otherE j else cost otherE j ownE i
                    (c k jm).sub(c k1 jm).add(c k jp, sc 1.0).sub(c k1 jp).mul (sc 0.5)
                let du = symmetric uE ucD lastU vE vcD lastV true
                let dv = symmetric vE vcD lastV uE ucD lastU false
                let term (c: Tensor) (cd: Tensor) (d: Tensor) = c.sub(cd).mul(d).sum (-1L)
                value.add(term ucE ucD du, sc 1.0).add (term vcE vcD dv, sc 1.0)
        result.MoveToOuterDisposeScope()

    /// Whether autograd will record an operation on t.
    let private recording (t: Tensor) = t.requires_grad && torch.is_grad_enabled ()

    /// Values of `t` sorted along `dim` by libtorch. The sorted values are the same whichever sort runs; only the
    /// permutation chosen among exactly tied elements differs, and that permutation decides which tied element receives
    /// the gradient. So the stable sort (ties in index order, the documented convention) runs when autograd will record
    /// the sort, and libtorch's faster unstable sort otherwise (no gradient, same values bit for bit).
    let private libtorchSorted (t: Tensor) (dim: int64) : Tensor =
        let struct (v, _) = t.sort (dim, stable = recording t)
        v

    /// Values of `t` sorted along `dim`: along dimension 1 of a CPU batch without recording, by the SIMD sorting network
    /// of ColumnSort (the same values again, without indices); else by libtorchSorted.
    let private sortedValues (t: Tensor) (dim: int64) : Tensor =
        match (if recording t || dim <> 1L then None else ColumnSort.trySorted t) with
        | Some values -> values
        | None -> libtorchSorted t dim

    /// Whether the sorted fast path (uniform weights of one length) applies: it holds the weights fixed at 1/T, so
    /// weights that need gradients take the merged path, whose derivative in the weights is the symmetric one above.
    let private uniformFast (wa: Tensor) (wb: Tensor) =
        not wa.requires_grad && not wb.requires_grad && uniformRows wa && uniformRows wb

    /// Paired per-dimension costs [B, d] between distributions (points [B, T, d], weights [B, T]).
    let internal perDimensionPaired (p: float) (pa: Tensor) (wa: Tensor) (pb: Tensor) (wb: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let result =
            if pa.shape.[1] = pb.shape.[1] && uniformFast wa wb then
                let sa = sortedValues pa 1L
                let sb = sortedValues pb 1L
                (powAbs p (sa.sub sb)).mean ([| 1L |])
            else
                let us, uc = sortMarginals pa wa
                let vs, vc = sortMarginals pb wb
                mergedCost p us uc vs vc
        result.MoveToOuterDisposeScope()

    /// points [B,T,d] sorted along T by libtorch, computed in chunks of rows of about 2^17 elements, so that the sort's
    /// int64 indices and internal copies never exceed one chunk (for B = 50,000, T = 64, d = 32 they would otherwise add
    /// 1.2 GB). Small chunks also keep each temporary below glibc's mmap threshold once it has adapted, so the
    /// chunks reuse one another's memory instead of faulting in fresh pages: at B = 128, T = 128, d = 64 a
    /// pairwise marginal W2 went from 93–165 ms (bimodal, by allocator state) with one sort to 92–130 ms.
    /// Differentiable: the chunks are concatenated in the graph.
    let private libtorchSortedAlongPoints (points: Tensor) : Tensor =
        let b = points.shape.[0]
        let perRow = max 1L (points.shape.[1] * points.shape.[2])
        let chunk = max 1L ((1L <<< 17) / perRow)
        if chunk >= b then libtorchSorted points 1L
        else
            use scope = torch.NewDisposeScope()
            let parts =
                [| for s in 0L .. chunk .. b - 1L ->
                       use inner = torch.NewDisposeScope()
                       (libtorchSorted (points.narrow (0L, s, min chunk (b - s))) 1L).MoveToOuterDisposeScope() |]
            torch.cat(parts, 0L).MoveToOuterDisposeScope()

    /// points [B,T,d] sorted along T: without recording, on the CPU, by ColumnSort over the whole batch at once (it
    /// makes no indices or copies per chunk); else (or on a NaN) by libtorchSortedAlongPoints.
    let private sortedAlongPoints (points: Tensor) : Tensor =
        match (if recording points then None else ColumnSort.trySorted points) with
        | Some values -> values
        | None -> libtorchSortedAlongPoints points

    /// sortedAlongPoints of a temporary of the caller's (projections it has just made): sorted in place by ColumnSort
    /// where it applies (no gradients, CPU), saving the copy; a NaN leaves its columns permuted, which libtorch's sort
    /// then sorts to the same values.
    let private sortedAlongOwnPoints (points: Tensor) : Tensor =
        if points.requires_grad then sortedAlongPoints points
        elif ColumnSort.trySortInPlace points then points
        else libtorchSortedAlongPoints points

    /// The number of positive weights of each row when every row is uniform on its support (all positive weights of
    /// a row equal, as for length-masked sequences), else None. One host synchronisation.
    let private supportCounts (weights: Tensor) : int64[] option =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let positive = weights.gt (sc 0.0)
        let largest = weights.amax ([| 1L |])
        let smallest = torch.where(positive, weights, torch.full_like (weights, sc System.Double.PositiveInfinity)).amin ([| 1L |])
        if largest.eq(smallest).all().ToBoolean() then
            Some(positive.sum([| 1L |], false, torch.int64).data<int64>().ToArray())
        else None

    /// The greatest common divisor of two positive integers.
    let rec private gcd (a: int64) (b: int64) = if b = 0L then a else gcd b (a % b)

    /// The common refinement of the quantile grids of distributions with n_i equally weighted points: the distinct
    /// fractions k/n_i (k = 1..n_i) over all counts, ascending, as reduced (numerator, denominator) pairs.
    let private commonGrid (counts: int64 seq) : (int64 * int64)[] =
        counts
        |> Seq.distinct
        |> Seq.collect (fun n -> seq { for k in 1L .. n -> let g = gcd k n in k / g, n / g })
        |> Seq.distinct
        |> Seq.sortBy (fun (k, n) -> float k / float n)
        |> Seq.toArray

    /// Elements of the [B, G, d] quantile tables above which the common grid is not used (the merge is).
    let private gridBudget = 1L <<< 25

    /// For two batches whose rows are uniform on their supports: per-dimension quantile tables on the common grid,
    /// each level weighted by the p-th root of its interval length, flattened to [B, G·d] and [B', G·d], so that
    /// MW_p^p(a_i, b_j) = ‖ã_i − b̃_j‖_p^p exactly. The quantile function of n equally weighted sorted values is
    /// x_(⌈u·n⌉) [2, §2.6], constant on every interval (u_{g−1}, u_g] of a grid that contains all k/n, so the
    /// integral ∫₀¹ |F⁻¹ − G⁻¹|^p du is the finite sum Σ_g (u_g − u_{g−1}) |x_(⌈u_g n⌉) − y_(⌈u_g m⌉)|^p.
    /// None when a row is not uniform on its support, when the weights need gradients (the tables hold them fixed),
    /// or when the tables would exceed the element budget.
    let private gridTables (p: float) (pa: Tensor) (wa: Tensor) (pb: Tensor) (wb: Tensor) : (Tensor * Tensor) option =
        if wa.requires_grad || wb.requires_grad then None
        else
            match supportCounts wa, supportCounts wb with
            | Some ca, Some cb ->
                let grid = commonGrid (Seq.append ca cb)
                let g = int64 grid.Length
                let d = pa.shape.[2]
                if (int64 ca.Length + int64 cb.Length) * g * d > gridBudget then None
                else
                    let widths =
                        grid |> Array.mapi (fun i (k, n) ->
                            let u = float k / float n
                            let previous = if i = 0 then 0.0 else (let (k0, n0) = grid.[i - 1] in float k0 / float n0)
                            (u - previous) ** (1.0 / p))
                    let table (points: Tensor) (weights: Tensor) (counts: int64[]) =
                        use scope = torch.NewDisposeScope()
                        let values, _ = sortMarginals points weights
                        // 0-based index ⌈u_g·n⌉ − 1 of the sorted valid values (padding sorts last, never reached).
                        let index =
                            Array.init (counts.Length * grid.Length) (fun f ->
                                let n = counts.[f / grid.Length]
                                let k, q = grid.[f % grid.Length]
                                (k * n + q - 1L) / q - 1L)
                        let idx = torch.tensor(index, device = points.device).reshape(int64 counts.Length, 1L, g)
                        let gathered = values.gather (-1L, idx.expand ([| int64 counts.Length; d; g |]))
                        let w = torch.tensor(widths, dtype = points.dtype, device = points.device)
                        (gathered * w).reshape(int64 counts.Length, -1L).MoveToOuterDisposeScope()
                    let ta = table pa wa ca
                    Some(ta, (if obj.ReferenceEquals(pa, pb) && obj.ReferenceEquals(wa, wb) then ta else table pb wb cb))
            | _ -> None

    /// The pairwise plan of ‖f̃a_i − f̃b_j‖_p^p between flattened rows [B, F] and [B', F]: one matrix product per
    /// block for p = 2, cdist otherwise. fa and fb are temporaries of the caller's: unless they are one tensor, the
    /// p = 2 plan centres them in place where no gradient is recorded.
    let private powerPlan (p: float) (fa: Tensor) (fb: Tensor) (blockSize: int) : PairwisePlan =
        if p = 2.0 then
            if obj.ReferenceEquals(fa, fb) then DistanceKernels.squaredEuclideanPlan fa fb (chooseBlock blockSize 4L)
            else DistanceKernels.squaredEuclideanPlanConsuming fa fb (chooseBlock blockSize 4L)
        else
            { Rows = fa.shape.[0]
              Columns = fb.shape.[0]
              BlockSize = chooseBlock blockSize 2L
              Block =
                fun r0 rn c0 cn ->
                    use scope = torch.NewDisposeScope()
                    torch
                        .cdist(fa.narrow (0L, r0, rn), fb.narrow (0L, c0, cn), p, compute_mode.donot_use_mm_for_euclid_dist)
                        .pow(sc p)
                        .MoveToOuterDisposeScope() }

    /// A pairwise plan of the per-dimension costs reduced over dimensions: by their sum (summed = true, MW_p^p) or
    /// by their maximum (the max-sliced form).
    /// When owned is true pa and pb are temporaries of the caller's (projections), which the fast path may sort in place.
    let internal costPlan (owned: bool) (p: float) (summed: bool) (pa: Tensor) (wa: Tensor) (pb: Tensor) (wb: Tensor) (blockSize: int) : PairwisePlan =
        let t, t' = pa.shape.[1], pb.shape.[1]
        let d = pa.shape.[2]
        let rows, columns = pa.shape.[0], pb.shape.[0]
        if t = t' && uniformFast wa wb then
            let sort = if owned then sortedAlongOwnPoints else sortedAlongPoints
            let sa = sort pa
            let sb = if obj.ReferenceEquals(pa, pb) then sa else sort pb
            if summed then
                // W_p^p of two sorted samples of size T = (1/T) Σ_t |x_(t) − y_(t)|^p. The sorted values are this
                // plan's own (fresh, or the caller's temporaries): one tensor, or two that powerPlan may centre in place.
                let fa = sa.reshape (rows, -1L)
                let plan = powerPlan p fa (if obj.ReferenceEquals(sa, sb) then fa else sb.reshape (columns, -1L)) blockSize
                plan |> mapPlan (fun block -> block.div (sc (float t)))
            else
                { Rows = rows
                  Columns = columns
                  BlockSize = chooseBlock blockSize (3L * t * d)
                  Block =
                    fun r0 rn c0 cn ->
                        use scope = torch.NewDisposeScope()
                        let x = sa.narrow(0L, r0, rn).unsqueeze (1L)
                        let y = sb.narrow(0L, c0, cn).unsqueeze (0L)
                        (powAbs p (x.sub y)).mean([| 2L |]).amax([| -1L |]).MoveToOuterDisposeScope() }
        else
          match (if summed then gridTables p pa wa pb wb else None) with
          | Some(fa, fb) -> powerPlan p fa fb blockSize
          | None ->
            let us, uc = sortMarginals pa wa
            let vs, vc = sortMarginals pb wb
            { Rows = rows
              Columns = columns
              BlockSize = chooseBlock blockSize (10L * d * (t + t'))
              Block =
                fun r0 rn c0 cn ->
                    use scope = torch.NewDisposeScope()
                    let perDimension =
                        mergedCost
                            p
                            (us.narrow(0L, r0, rn).unsqueeze 1L)
                            (uc.narrow(0L, r0, rn).unsqueeze 1L)
                            (vs.narrow(0L, c0, cn).unsqueeze 0L)
                            (vc.narrow(0L, c0, cn).unsqueeze 0L)
                    (if summed then perDimension.sum (-1L) else perDimension.amax ([| -1L |])).MoveToOuterDisposeScope() }

    let private check (a: DistributionBatch) (b: DistributionBatch) (p: float) (paired: bool) =
        checkOrder p
        Validation.notNull "a" a
        Validation.notNull "b" b
        checkPair a a.Dimension b b.Dimension paired

    /// The Gram form of the W2 distance plan of <c>costPlan 2 true</c> followed by divisor2 and the square root, where
    /// that plan is a Gram form: both batches of one length T with uniform weights (the sorted rows, e / T / divisor2);
    /// None otherwise. pa is pb when same is true.
    /// When owned is true pa and pb are temporaries of the caller's (projections), which may be sorted in place.
    let internal sortedGram (owned: bool) (pa: Tensor) (wa: Tensor) (pb: Tensor) (wb: Tensor) (same: bool) (divisor2: float) : GramForm option =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let t = pa.shape.[1]
        if t = pb.shape.[1] && uniformFast wa wb then
            let sort = if owned then sortedAlongOwnPoints else sortedAlongPoints
            let sa = (sort pa).reshape (pa.shape.[0], -1L)
            let sb = if same then sa else (sort pb).reshape (pb.shape.[0], -1L)
            // The sorted rows are this form's own (or the caller's temporaries): centred in place.
            Some(moveGram (gramFormConsuming sa sb same (float t) divisor2 true 1.0))
        else None

    /// The Gram form of <c>distributionDistancePlan 2</c> (marginal W2) where it is one (see <c>sortedGram</c>).
    let internal distributionGram (a: DistributionBatch) (b: DistributionBatch) (same: bool) : GramForm option =
        sortedGram false a.Points a.Weights b.Points b.Weights same 1.0

    let internal distributionCostPlan (p: float) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) =
        costPlan false p true a.Points a.Weights b.Points b.Weights blockSize

    let internal distributionDistancePlan (p: float) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) =
        distributionCostPlan p a b blockSize |> mapPlan (safeRoot p)

    /// <summary>Paired marginal cost MW_p^p(a_i, b_i) = Σ_k W_p^p of the k-th marginals.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <returns>[B], ≥ 0, differentiable in points and weights.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("CostPaired")>]
    let costPaired (a: DistributionBatch, b: DistributionBatch, p: float) : Tensor =
        checkedScoped (fun () -> check a b p true) (fun () -> (perDimensionPaired p a.Points a.Weights b.Points b.Weights).sum (1L))

    /// <summary>Paired marginal distance MW_p(a_i, b_i) = (Σ_k W_p^p)^{1/p}.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <returns>[B], ≥ 0, differentiable (gradient 0 where the distance is 0).</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("Paired")>]
    let paired (a: DistributionBatch, b: DistributionBatch, p: float) : Tensor =
        checkedScoped (fun () -> check a b p true) (fun () -> safeRoot p ((perDimensionPaired p a.Points a.Weights b.Points b.Weights).sum (1L)))

    /// <summary>Pairwise marginal cost MW_p^p(a_i, b_j), streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("CostPairwise")>]
    let costPairwise (a: DistributionBatch, b: DistributionBatch, p: float, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b p false) blockSize (fun () -> distributionCostPlan p a b blockSize)

    /// <summary>Pairwise marginal distance MW_p(a_i, b_j), streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("Pairwise")>]
    let pairwise (a: DistributionBatch, b: DistributionBatch, p: float, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b p false) blockSize (fun () -> distributionDistancePlan p a b blockSize)

    /// <summary>The mass of each quantile level: the width of its cell in [0, 1].</summary>
    /// <remarks><code>w_q = c_q − c_{q−1},   c_0 = 0,   c_q = (τ_q + τ_{q+1})/2 (0 &lt; q &lt; Q),   c_Q = 1</code>; midpoint levels give w_q = 1/Q.</remarks>
    /// <param name="levels">[Q] strictly increasing levels in (0, 1).</param>
    /// <returns>[Q], positive, summing to 1, same dtype and device.</returns>
    /// <exception cref="T:System.ArgumentException">levels is not a one-dimensional floating tensor.</exception>
    [<CompiledName("LevelWeights")>]
    let levelWeights (levels: Tensor) : Tensor =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "levels" levels
        Validation.floating "levels" levels
        if levels.dim () <> 1L || levels.shape.[0] = 0L then
            Validation.fail "levels" $"levels has shape {Validation.shape levels}; it must be [Q] with Q ≥ 1."
        scoped (fun () ->
            let q = levels.shape.[0]
            let inner = levels.narrow(0L, 0L, q - 1L).add(levels.narrow (0L, 1L, q - 1L), sci 1L).div (sc 2.0)
            let cuts = torch.cat ([| torch.zeros (1L, dtype = levels.dtype, device = levels.device); inner; torch.ones (1L, dtype = levels.dtype, device = levels.device) |], 0L)
            cuts.narrow(0L, 1L, q).sub (cuts.narrow (0L, 0L, q)))

    let private checkQuantiles (a: QuantileBatch) (b: QuantileBatch) (p: float) (paired: bool) =
        checkOrder p
        Validation.notNull "a" a
        Validation.notNull "b" b
        checkPair a a.Dimension b b.Dimension paired
        if b.LevelCount <> a.LevelCount then
            Validation.fail "b" $"b has {b.LevelCount} quantile levels but a has {a.LevelCount}; both must share one set of levels."
        if not (b.Levels.allclose (a.Levels, rtol = 0.0, atol = 0.0)) then
            Validation.fail "b" "b has other quantile levels than a; both batches must share one set of levels."

    /// Quantile values scaled by w_q^{1/p} and flattened to [B, d·Q], so that Σ|x − y|^p is the cost.
    let private scaledQuantiles (p: float) (q: QuantileBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        let w = levelWeights q.Levels
        q.Values.mul(w.pow(sc (1.0 / p))).reshape(int64 q.Count, -1L).MoveToOuterDisposeScope()

    let internal quantileCostPlan (p: float) (a: QuantileBatch) (b: QuantileBatch) (blockSize: int) =
        let x = scaledQuantiles p a
        let y = scaledQuantiles p b
        if p = 2.0 then DistanceKernels.squaredEuclideanPlan x y (chooseBlock blockSize 4L)
        else
            { Rows = x.shape.[0]
              Columns = y.shape.[0]
              BlockSize = chooseBlock blockSize 2L
              Block =
                fun r0 rn c0 cn ->
                    use scope = torch.NewDisposeScope()
                    torch
                        .cdist(x.narrow (0L, r0, rn), y.narrow (0L, c0, cn), p, compute_mode.donot_use_mm_for_euclid_dist)
                        .pow(sc p)
                        .MoveToOuterDisposeScope() }

    /// The Gram form of <c>quantileDistancePlan 2</c>: √e of the squared distances e of the rows scaled by √w_q.
    let internal quantileGram (a: QuantileBatch) (b: QuantileBatch) (same: bool) : GramForm option =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let x = scaledQuantiles 2.0 a
        let y = if same then x else scaledQuantiles 2.0 b
        Some(moveGram (gramForm x y same 1.0 1.0 true 1.0))

    let internal quantileDistancePlan (p: float) (a: QuantileBatch) (b: QuantileBatch) (blockSize: int) =
        quantileCostPlan p a b blockSize |> mapPlan (safeRoot p)

    let private quantileCostPairedCore (p: float) (a: QuantileBatch) (b: QuantileBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        let w = levelWeights a.Levels
        (powAbs p (a.Values.sub b.Values)).mul(w).sum([| 1L; 2L |]).MoveToOuterDisposeScope()

    /// <summary>Paired marginal cost MW_p^p between quantile functions: Σ_q w_q Σ_k |a_ikq − b_ikq|^p.</summary>
    /// <param name="a">[B, d, Q] quantiles at levels τ.</param>
    /// <param name="b">[B, d, Q] quantiles at the same levels (same B, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <returns>[B], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); counts, dimensions, levels, dtypes or devices differ (names b).</exception>
    [<CompiledName("QuantileCostPaired")>]
    let quantileCostPaired (a: QuantileBatch, b: QuantileBatch, p: float) : Tensor =
        checkedScoped (fun () -> checkQuantiles a b p true) (fun () -> quantileCostPairedCore p a b)

    /// <summary>Paired marginal distance MW_p between quantile functions: (Σ_q w_q Σ_k |a_ikq − b_ikq|^p)^{1/p}.</summary>
    /// <param name="a">[B, d, Q] quantiles at levels τ.</param>
    /// <param name="b">[B, d, Q] quantiles at the same levels (same B, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <returns>[B], ≥ 0, differentiable (gradient 0 where the distance is 0).</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); counts, dimensions, levels, dtypes or devices differ (names b).</exception>
    [<CompiledName("QuantilePaired")>]
    let quantilePaired (a: QuantileBatch, b: QuantileBatch, p: float) : Tensor =
        checkedScoped (fun () -> checkQuantiles a b p true) (fun () -> safeRoot p (quantileCostPairedCore p a b))

    /// <summary>Pairwise marginal cost MW_p^p between quantile functions, streamed in blocks.</summary>
    /// <remarks>p = 2: one matrix product per block over the flattened [B, d·Q] quantiles scaled by √w_q.</remarks>
    /// <param name="a">[B, d, Q] quantiles at levels τ.</param>
    /// <param name="b">[B', d, Q] quantiles at the same levels (same dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); dimensions, levels, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("QuantileCostPairwise")>]
    let quantileCostPairwise (a: QuantileBatch, b: QuantileBatch, p: float, blockSize: int) : Tensor =
        checkedPlan (fun () -> checkQuantiles a b p false) blockSize (fun () -> quantileCostPlan p a b blockSize)

    /// <summary>Pairwise marginal distance MW_p between quantile functions, streamed in blocks.</summary>
    /// <param name="a">[B, d, Q] quantiles at levels τ.</param>
    /// <param name="b">[B', d, Q] quantiles at the same levels (same dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); dimensions, levels, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("QuantilePairwise")>]
    let quantilePairwise (a: QuantileBatch, b: QuantileBatch, p: float, blockSize: int) : Tensor =
        checkedPlan (fun () -> checkQuantiles a b p false) blockSize (fun () -> quantileDistancePlan p a b blockSize)
