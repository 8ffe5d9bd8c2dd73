namespace DistEmbed.Core

open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>
/// Kernel two-sample distances between batches of weighted empirical distributions
/// (<see cref="T:DistEmbed.Core.DistributionBatch"/>): the squared maximum mean discrepancy with a sum of Gaussian
/// kernels, and the energy distance; paired ([B]) and pairwise ([B, B'], memory-bounded by blocks), differentiable.
/// </summary>
/// <remarks>
/// With k(x, y) = Σ_σ exp(−‖x − y‖² / (2σ²)) over the bandwidths σ [1]:
/// <code>MMD²_b(μ, ν) = Σ_ij a_i a_j k(x_i, x_j) + Σ_ij b_i b_j k(y_i, y_j) − 2 Σ_ij a_i b_j k(x_i, y_j)</code>
/// (biased V-statistic, any weights: the exact MMD² between the weighted empirical distributions, ≥ 0), and for
/// equally weighted samples (no padding) of sizes m, n ≥ 2 the unbiased U-statistic [1, Lemma 6]
/// <code>MMD²_u = (1/(m(m−1))) Σ_{i≠j} k(x_i, x_j) + (1/(n(n−1))) Σ_{i≠j} k(y_i, y_j) − (2/(mn)) Σ_ij k(x_i, y_j)</code>
/// (which can be negative). The energy distance [2] (weighted V-statistic, ≥ 0, zero iff μ = ν):
/// <code>E(μ, ν) = 2 Σ_ij a_i b_j ‖x_i − y_j‖ − Σ_ij a_i a_j ‖x_i − x_j‖ − Σ_ij b_i b_j ‖y_i − y_j‖</code>
/// Squared distances between points come from one (batched) matrix product with cancelling entries recomputed from
/// differences; ‖x − y‖ uses a square root with gradient 0 at 0, so gradients are finite at ties and on the diagonal.
/// Pairwise: the within-distribution terms are computed once per distribution, the cross terms per block of pairs
/// (O(T T') memory per pair).
///
/// References:
/// [1] A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and A. Smola, A Kernel Two-Sample Test, Journal of
///     Machine Learning Research 13, 723–773 (2012), Eq. (3) and Lemma 6.
/// [2] G. J. Székely and M. L. Rizzo, Energy statistics: A class of statistics based on distances, Journal of
///     Statistical Planning and Inference 143(8), 1249–1272 (2013), Definition 1.
/// </remarks>
[<RequireQualifiedAccess>]
module KernelDistances =

    type private Tensor = torch.Tensor

    /// Σ_σ exp(−s / (2σ²)) of squared distances s.
    let private gaussian (bandwidths: float[]) (squared: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let mutable total = torch.zeros_like squared
        for s in bandwidths do
            total <- total.add (squared.mul(sc (-1.0 / (2.0 * s * s))).exp (), sci 1L)
        total.MoveToOuterDisposeScope()

    /// Squared distances between the points of paired groups: x [G, T, d], y [G, T', d] → [G, T, T'].
    let private groupSquaredDistances (x: Tensor) (y: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let centre = y.detach().mean ([| 1L |], keepdim = true)
        let xc = x.sub centre
        let yc = y.sub centre
        (squaredDistancesBatched xc (xc.pow(Scalars.sc 2.0).sum (2L)) yc (yc.pow(Scalars.sc 2.0).sum (2L))).MoveToOuterDisposeScope()

    /// Σ_ij u_i v_j f(‖x_i − y_j‖²) per group: [G].
    let private groupTerm (f: Tensor -> Tensor) (x: Tensor) (u: Tensor) (y: Tensor) (v: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let values = f (groupSquaredDistances x y)
        u.unsqueeze(1L).matmul(values).matmul(v.unsqueeze 2L).reshape(-1L).MoveToOuterDisposeScope()

    /// The within-distribution term Σ_ij w_i w_j f_ij per distribution [B]; unbiased: the diagonal removed and the
    /// sum divided by 1 − Σ w_i² (= (n − 1)/n for n equal weights).
    let private selfTerm (f: Tensor -> Tensor) (unbiased: bool) (x: Tensor) (w: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let values = f (groupSquaredDistances x x)
        let full = w.unsqueeze(1L).matmul(values).matmul(w.unsqueeze 2L).reshape (-1L)
        let result =
            if unbiased then
                let diagonal = values.diagonal(0L, 1L, 2L).mul(w.pow(Scalars.sc 2.0)).sum (1L)
                full.sub(diagonal).div (w.pow(Scalars.sc 2.0).sum(1L).neg().add (sc 1.0, sc 1.0))
            else full
        result.MoveToOuterDisposeScope()

    /// A pairwise plan of Σ_ij a_i b_j f(‖x_i − y_j‖²) for all pairs of distributions.
    let private crossPlan (f: Tensor -> Tensor) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) : PairwisePlan =
        let t, t' = int64 a.Length, int64 b.Length
        let d = int64 a.Dimension
        let centre = b.Points.detach().reshape(-1L, d).mean ([| 0L |], keepdim = true)
        let x = a.Points.reshape(-1L, d).sub centre
        let y = b.Points.reshape(-1L, d).sub centre
        let xn = x.pow(Scalars.sc 2.0).sum (1L)
        let yn = y.pow(Scalars.sc 2.0).sum (1L)
        { Rows = int64 a.Count
          Columns = int64 b.Count
          BlockSize = chooseBlock blockSize (6L * t * t')
          Block =
            fun r0 rn c0 cn ->
                use scope = torch.NewDisposeScope()
                let squared =
                    squaredDistances (x.narrow (0L, r0 * t, rn * t)) (xn.narrow (0L, r0 * t, rn * t)) (y.narrow (0L, c0 * t', cn * t'))
                        (yn.narrow (0L, c0 * t', cn * t'))
                let values = (f squared).reshape (rn, t, cn, t')
                torch.einsum("itjs,it,js->ij", values, a.Weights.narrow (0L, r0, rn), b.Weights.narrow (0L, c0, cn)).MoveToOuterDisposeScope() }

    let private check (a: DistributionBatch) (b: DistributionBatch) (paired: bool) =
        Validation.notNull "a" a
        Validation.notNull "b" b
        checkPair a a.Dimension b b.Dimension paired

    let internal checkBandwidths (bandwidths: float[]) =
        Validation.nonEmpty "bandwidths" bandwidths
        bandwidths
        |> Array.iteri (fun i s ->
            if System.Double.IsNaN s || System.Double.IsInfinity s || s <= 0.0 then
                Validation.fail "bandwidths" $"bandwidths[{i}] = {s} is invalid; every bandwidth must be a finite number > 0.")

    /// The unbiased statistic needs, in every distribution, at least two points of positive weight, all equal.
    let private checkUnbiased (name: string) (batch: DistributionBatch) =
        use scope = torch.NewDisposeScope()
        let w = batch.Weights
        let valid = w.gt (sc 0.0)
        let counts = valid.sum (1L)
        match Validation.firstTrue (counts.lt (sc 2.0)) with
        | Some row ->
            Validation.fail name $"{name}[{row.[0]}] has fewer than 2 points of positive weight; the unbiased MMD² needs at least 2 points in each distribution."
        | None -> ()
        let top = w.amax([| 1L |], keepdim = true)
        match Validation.firstTrue (valid.logical_and (w.ne top)) with
        | Some idx ->
            Validation.fail name $"{name}[{idx.[0]}] has non-uniform weights (weight {idx.[1]} differs from the largest); the unbiased MMD² is a U-statistic of equally weighted samples."
        | None -> ()

    let internal mmdPairedCore (bandwidths: float[]) (biased: bool) (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        let k = gaussian bandwidths
        let xx = selfTerm k (not biased) a.Points a.Weights
        let yy = selfTerm k (not biased) b.Points b.Weights
        let xy = groupTerm k a.Points a.Weights b.Points b.Weights
        xx.add(yy, sci 1L).sub(xy.mul (sc 2.0)).MoveToOuterDisposeScope()

    let internal mmdPlan (bandwidths: float[]) (biased: bool) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) : PairwisePlan =
        let k = gaussian bandwidths
        let xx = selfTerm k (not biased) a.Points a.Weights
        let yy = selfTerm k (not biased) b.Points b.Weights
        let cross = crossPlan k a b blockSize
        { cross with
            Block =
                fun r0 rn c0 cn ->
                    use scope = torch.NewDisposeScope()
                    let xy = cross.Block r0 rn c0 cn
                    xx.narrow(0L, r0, rn).unsqueeze(1L).add(yy.narrow(0L, c0, cn).unsqueeze 0L, sci 1L).sub(xy.mul (sc 2.0)).MoveToOuterDisposeScope() }

    let internal energyPairedCore (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        let xx = selfTerm safeSqrt false a.Points a.Weights
        let yy = selfTerm safeSqrt false b.Points b.Weights
        let xy = groupTerm safeSqrt a.Points a.Weights b.Points b.Weights
        xy.mul(sc 2.0).sub(xx).sub(yy).MoveToOuterDisposeScope()

    let internal energyPlan (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) : PairwisePlan =
        let xx = selfTerm safeSqrt false a.Points a.Weights
        let yy = selfTerm safeSqrt false b.Points b.Weights
        let cross = crossPlan safeSqrt a b blockSize
        { cross with
            Block =
                fun r0 rn c0 cn ->
                    use scope = torch.NewDisposeScope()
                    let xy = cross.Block r0 rn c0 cn
                    xy.mul(sc 2.0).sub(xx.narrow(0L, r0, rn).unsqueeze 1L).sub(yy.narrow(0L, c0, cn).unsqueeze 0L).MoveToOuterDisposeScope() }

    let internal checkMmd (bandwidths: float[]) (biased: bool) (a: DistributionBatch) (b: DistributionBatch) (paired: bool) =
        check a b paired
        checkBandwidths bandwidths
        if not biased then
            checkUnbiased "a" a
            checkUnbiased "b" b

    /// <summary>Paired squared MMD between distributions with a sum of Gaussian kernels.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <param name="bandwidths">Kernel bandwidths σ, length ≥ 1, finite and &gt; 0.</param>
    /// <param name="biased">True: the weighted V-statistic MMD²_b; false: the U-statistic MMD²_u (equal weights, ≥ 2 points per distribution).</param>
    /// <returns>[B], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b); a bad bandwidth (names bandwidths); unbiased with unequal weights or fewer than 2 points (names a or b).</exception>
    [<CompiledName("MmdSquaredPaired")>]
    let mmdSquaredPaired (a: DistributionBatch, b: DistributionBatch, bandwidths: float[], biased: bool) : Tensor =
        checkedScoped (fun () -> checkMmd bandwidths biased a b true) (fun () -> mmdPairedCore bandwidths biased a b)

    /// <summary>Pairwise squared MMD between distributions with a sum of Gaussian kernels, streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="bandwidths">Kernel bandwidths σ, length ≥ 1, finite and &gt; 0.</param>
    /// <param name="biased">True: the weighted V-statistic; false: the U-statistic.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>mmdSquaredPaired</c>; blockSize &lt; 0.</exception>
    [<CompiledName("MmdSquaredPairwise")>]
    let mmdSquaredPairwise (a: DistributionBatch, b: DistributionBatch, bandwidths: float[], biased: bool, blockSize: int) : Tensor =
        checkedPlan (fun () -> checkMmd bandwidths biased a b false) blockSize (fun () -> mmdPlan bandwidths biased a b blockSize)

    /// <summary>Paired energy distance between distributions.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <returns>[B], ≥ 0 up to rounding, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("EnergyPaired")>]
    let energyPaired (a: DistributionBatch, b: DistributionBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> energyPairedCore a b)

    /// <summary>Pairwise energy distances between distributions, streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("EnergyPairwise")>]
    let energyPairwise (a: DistributionBatch, b: DistributionBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> energyPlan a b blockSize)
