namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>
/// Exact p-Wasserstein cost between two weighted empirical distributions on the real line, in float64,
/// by merging their cumulative distribution functions.
/// </summary>
/// <remarks>
/// For μ = Σ_i a_i δ_{u_i} and ν = Σ_j b_j δ_{v_j} with CDFs F and G, the optimal coupling on ℝ is the monotone
/// (quantile) coupling, so for every p ≥ 1
/// <code>W_p^p(μ, ν) = ∫_0^1 |F⁻¹(t) − G⁻¹(t)|^p dt</code>
/// [1, Proposition 2.17], [2, Section 2.6]. Both quantile functions are step functions; their breakpoints are the
/// cumulative weights, so the integral is a finite sum over the merged breakpoints. This is what
/// scipy's <c>wasserstein_distance</c> (p = 1) and POT's <c>ot.wasserstein_1d</c> (which returns W_p^p) compute.
/// Cost O((n + m) log(n + m)).
///
/// References:
/// [1] F. Santambrogio, Optimal Transport for Applied Mathematicians, Birkhäuser (2015), Proposition 2.17.
/// [2] G. Peyré and M. Cuturi, Computational Optimal Transport, Foundations and Trends in Machine Learning 11(5–6)
///     (2019), arXiv:1803.00567, Section 2.6 (special cases: univariate distributions).
/// </remarks>
[<RequireQualifiedAccess>]
module OneDimensional =

    /// Sorted order of the atoms (by value, ties by index: a lower index owns lower quantiles) and the cumulative
    /// weights in that order. The weights are normalised, so the running sum ends at 1 up to rounding; it is pinned
    /// to exactly 1 from the last atom of positive weight on (and capped at 1 before), so that both CDFs end
    /// together and the merge below covers [0, 1] exactly.
    let private sortedCdf (values: float[]) (weights: float[]) : int[] * float[] =
        let order =
            Array.init values.Length id
            |> Array.sortWith (fun i j ->
                let c = compare values.[i] values.[j]
                if c <> 0 then c else compare i j)
        let cumulative = Array.zeroCreate values.Length
        let mutable running = 0.0
        let mutable lastPositive = 0
        for k in 0 .. order.Length - 1 do
            let w = weights.[order.[k]]
            running <- running + w
            cumulative.[k] <- min running 1.0
            if w > 0.0 then lastPositive <- k
        for k in lastPositive .. order.Length - 1 do
            cumulative.[k] <- 1.0
        order, cumulative

    /// W_p^p and, when asked, its gradient with respect to the positions; weights must already be normalised
    /// and the inputs checked. Used by Marginal and Sliced on validated distributions.
    let internal costCore (p: float) (u: float[]) (uWeights: float[]) (v: float[]) (vWeights: float[]) (withGradient: bool) =
        let uOrder, uCdf = sortedCdf u uWeights
        let vOrder, vCdf = sortedCdf v vWeights
        let gradU = if withGradient then Array.zeroCreate u.Length else [||]
        let gradV = if withGradient then Array.zeroCreate v.Length else [||]
        let mutable i = 0
        let mutable j = 0
        let mutable t = 0.0
        let mutable cost = 0.0
        while i < u.Length && j < v.Length do
            let next = min uCdf.[i] vCdf.[j]
            // On the quantile interval (t, next] the quantile functions are the constants u[uOrder[i]] and v[vOrder[j]].
            let delta = next - t
            if delta > 0.0 then
                let dx = u.[uOrder.[i]] - v.[vOrder.[j]]
                let adx = abs dx
                cost <- cost + delta * Math.Pow(adx, p)
                if withGradient then
                    // d/dx |x|^p = p |x|^(p−1) sign(x); at x = 0 sign is 0 (for p = 1 the midpoint of the
                    // subdifferential, for p > 1 the true derivative).
                    let g = p * Math.Pow(adx, p - 1.0) * float (sign dx) * delta
                    gradU.[uOrder.[i]] <- gradU.[uOrder.[i]] + g
                    gradV.[vOrder.[j]] <- gradV.[vOrder.[j]] - g
            t <- next
            if uCdf.[i] <= next then i <- i + 1
            if vCdf.[j] <= next then j <- j + 1
        cost, gradU, gradV

    let private check (p: float) (u: float[]) (uWeights: float[]) (v: float[]) (vWeights: float[]) =
        Validation.atLeast "p" 1.0 p
        Validation.nonEmpty "u" u
        Validation.finite "u" u
        Validation.notNull "uWeights" uWeights
        Validation.sameLength "uWeights" u.Length uWeights.Length "u"
        let uw = Validation.weights "uWeights" uWeights
        Validation.nonEmpty "v" v
        Validation.finite "v" v
        Validation.notNull "vWeights" vWeights
        Validation.sameLength "vWeights" v.Length vWeights.Length "v"
        let vw = Validation.weights "vWeights" vWeights
        uw, vw

    /// <summary>The p-Wasserstein cost W_p^p between two weighted distributions on the real line.</summary>
    /// <remarks>
    /// <code>W_p^p(μ, ν) = ∫_0^1 |F⁻¹(t) − G⁻¹(t)|^p dt = Σ_k Δ_k |u_(i_k) − v_(j_k)|^p</code>
    /// where the Δ_k are the lengths of the intervals between consecutive merged cumulative weights and
    /// u_(i_k), v_(j_k) the atoms whose quantile intervals contain interval k. The weights are normalised to sum to one;
    /// zero weights are allowed (padding) and change nothing. Equals POT's <c>ot.wasserstein_1d(u, v, uWeights, vWeights, p)</c>.
    /// </remarks>
    /// <param name="p">The order, finite, p ≥ 1.</param>
    /// <param name="u">Atoms of the first distribution, length n ≥ 1, finite, any order, ties allowed.</param>
    /// <param name="uWeights">Weights of the first distribution, length n, non-negative, not all zero.</param>
    /// <param name="v">Atoms of the second distribution, length m ≥ 1, finite.</param>
    /// <param name="vWeights">Weights of the second distribution, length m, non-negative, not all zero.</param>
    /// <returns>W_p^p ≥ 0, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite; an array is empty, not finite, of the wrong length, or a weight vector is negative or all zero.</exception>
    [<CompiledName("CostP")>]
    let costP (p: float, u: float[], uWeights: float[], v: float[], vWeights: float[]) : float =
        let uw, vw = check p u uWeights v vWeights
        let cost, _, _ = costCore p u uw v vw false
        cost

    /// <summary>The p-Wasserstein distance W_p between two weighted distributions on the real line.</summary>
    /// <remarks><code>W_p(μ, ν) = (W_p^p(μ, ν))^{1/p}</code> with W_p^p from <c>costP</c>.</remarks>
    /// <param name="p">The order, finite, p ≥ 1.</param>
    /// <param name="u">Atoms of the first distribution, length n ≥ 1, finite.</param>
    /// <param name="uWeights">Weights of the first distribution, length n, non-negative, not all zero.</param>
    /// <param name="v">Atoms of the second distribution, length m ≥ 1, finite.</param>
    /// <param name="vWeights">Weights of the second distribution, length m, non-negative, not all zero.</param>
    /// <returns>W_p ≥ 0, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>costP</c>.</exception>
    [<CompiledName("Wasserstein")>]
    let wasserstein (p: float, u: float[], uWeights: float[], v: float[], vWeights: float[]) : float =
        Math.Pow(costP (p, u, uWeights, v, vWeights), 1.0 / p)

    /// <summary>The analytic gradient of W_p^p with respect to the atom positions (weights held fixed).</summary>
    /// <remarks>
    /// With the sorted order frozen, W_p^p = Σ_k Δ_k |u_(i_k) − v_(j_k)|^p, so
    /// <code>∂W_p^p/∂u_i = Σ_{k: i_k = i} p |Δx_k|^{p−1} sign(Δx_k) Δ_k,   ∂W_p^p/∂v_j = −Σ_{k: j_k = j} p |Δx_k|^{p−1} sign(Δx_k) Δ_k</code>
    /// with Δx_k = u_(i_k) − v_(j_k). This is the derivative wherever no two atoms of one distribution coincide and,
    /// for p = 1, no matched pair coincides. At ties it is a documented one-sided choice, always finite:
    /// tied atoms of one distribution are ordered by index (the lower index owns the lower quantiles), which is the
    /// derivative along perturbations that keep that order; a matched pair at distance zero contributes 0
    /// (for p &gt; 1 the true derivative; for p = 1 the midpoint of the subdifferential). Atoms of zero weight get 0.
    /// </remarks>
    /// <param name="p">The order, finite, p ≥ 1.</param>
    /// <param name="u">Atoms of the first distribution, length n ≥ 1, finite.</param>
    /// <param name="uWeights">Weights of the first distribution, length n, non-negative, not all zero.</param>
    /// <param name="v">Atoms of the second distribution, length m ≥ 1, finite.</param>
    /// <param name="vWeights">Weights of the second distribution, length m, non-negative, not all zero.</param>
    /// <returns>The pair (∂W_p^p/∂u, length n; ∂W_p^p/∂v, length m).</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>costP</c>.</exception>
    [<CompiledName("CostPGradient")>]
    let costPGradient (p: float, u: float[], uWeights: float[], v: float[], vWeights: float[]) : float[] * float[] =
        let uw, vw = check p u uWeights v vWeights
        let _, gu, gv = costCore p u uw v vw true
        gu, gv
