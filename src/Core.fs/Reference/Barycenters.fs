namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>
/// Wasserstein-2 barycenters in float64: of quantile functions on shared levels, of 1-D distributions (quantile
/// functions on the merged levels), of the coordinate marginals of d-dimensional distributions, and the free-support
/// barycenter of point clouds (Cuturi &amp; Doucet 2014, Alg. 2, with exact transport plans).
/// </summary>
/// <remarks>
/// The W2 barycenter of measures ν_1 … ν_N with weights λ (λ_k ≥ 0, Σ λ_k = 1) minimises Σ_k λ_k W2²(ν, ν_k)
/// [1, eq. (1)]. On the line W2(μ, ν)² = ∫₀¹ |F_μ⁻¹(t) − F_ν⁻¹(t)|² dt, so the barycenter is the measure whose quantile
/// function is Σ_k λ_k F_k⁻¹ [2, §2.2; 3, Prop. 3.5]: exact, and for discrete measures piecewise constant between
/// the merged cumulative levels of the inputs.
/// [1] M. Agueh, G. Carlier, "Barycenters in the Wasserstein space", SIAM J. Math. Anal. 43(2), 2011.
/// [2] M. Cuturi, A. Doucet, "Fast Computation of Wasserstein Barycenters", ICML 2014, §2.2 and Alg. 2 (free support).
/// [3] G. Peyré, M. Cuturi, "Computational Optimal Transport", 2019, Remark 2.30 and §9.2 (barycenters).
/// </remarks>
[<RequireQualifiedAccess>]
module Barycenters =

    /// Checks barycentric weights (finite, ≥ 0, not all zero) of a given count and normalises them.
    let private lambdasOf (count: int) (lambdas: float[]) =
        if isNull lambdas then Array.create count (1.0 / float count)
        else
            Validation.sameLength "lambdas" count lambdas.Length "the inputs"
            Validation.weights "lambdas" lambdas

    /// <summary>The W2 barycenter of quantile functions sampled at shared levels: Σ_k λ_k q_k, exact [2, §2.2].</summary>
    /// <param name="quantiles">N ≥ 1 quantile functions, each Q values (non-decreasing), one common Q.</param>
    /// <param name="lambdas">N barycentric weights (normalised here), or null for uniform.</param>
    /// <returns>The barycenter's quantile function at the same levels.</returns>
    /// <exception cref="T:System.ArgumentException">Empty input, unequal lengths, non-finite values, bad weights.</exception>
    [<CompiledName("OfQuantiles")>]
    let ofQuantiles (quantiles: float[][], lambdas: float[]) : float[] =
        Validation.nonEmpty "quantiles" quantiles
        let q = if isNull quantiles.[0] then 0 else quantiles.[0].Length
        quantiles |> Array.iteri (fun k v ->
            Validation.notNull $"quantiles[{k}]" v
            if v.Length <> q || q = 0 then Validation.fail "quantiles" $"quantiles[{k}] has {v.Length} levels but quantiles[0] has {q}; all need one common number ≥ 1."
            Validation.finite $"quantiles[{k}]" v)
        let l = lambdasOf quantiles.Length lambdas
        Array.init q (fun t -> Array.fold2 (fun s (v: float[]) w -> s + w * v.[t]) 0.0 quantiles l)

    /// Sorted values and cumulative weights of a 1-D distribution (weights normalised, zero weights dropped).
    let private cdf (values: float[]) (weights: float[]) =
        let w = Validation.weights "weights" weights
        let order = [| 0 .. values.Length - 1 |] |> Array.filter (fun i -> w.[i] > 0.0) |> Array.sortBy (fun i -> values.[i])
        let sorted = order |> Array.map (fun i -> values.[i])
        let cumulative = Array.scan (+) 0.0 (order |> Array.map (fun i -> w.[i])) |> Array.tail
        sorted, cumulative

    /// The quantile F⁻¹(t) = the first sorted value whose cumulative weight reaches t.
    let private quantile (sorted: float[]) (cumulative: float[]) (t: float) =
        let mutable k = 0
        while k < sorted.Length - 1 && cumulative.[k] < t do
            k <- k + 1
        sorted.[k]

    /// <summary>
    /// The exact W2 barycenter of N one-dimensional distributions: the quantile function Σ_k λ_k F_k⁻¹ on the merged
    /// cumulative levels of the inputs [1; 2, §2.2].
    /// </summary>
    /// <param name="values">N ≥ 1 value arrays (finite, non-empty).</param>
    /// <param name="weights">N weight arrays of matching lengths (normalised per distribution; zeros allowed, not all).</param>
    /// <param name="lambdas">N barycentric weights, or null for uniform.</param>
    /// <returns>The barycenter as (points, weights): one point per interval between consecutive merged levels.</returns>
    /// <exception cref="T:System.ArgumentException">Empty input, mismatched lengths, non-finite values, bad weights.</exception>
    [<CompiledName("OneDimensional")>]
    let oneDimensional (values: float[][], weights: float[][], lambdas: float[]) : float[] * float[] =
        Validation.nonEmpty "values" values
        Validation.notNull "weights" weights
        Validation.sameLength "weights" values.Length weights.Length "values"
        let l = lambdasOf values.Length lambdas
        let cdfs =
            Array.init values.Length (fun k ->
                Validation.nonEmpty $"values[{k}]" values.[k]
                Validation.finite $"values[{k}]" values.[k]
                Validation.notNull $"weights[{k}]" weights.[k]
                Validation.sameLength $"weights[{k}]" values.[k].Length weights.[k].Length $"values[{k}]"
                cdf values.[k] weights.[k])
        // The merged levels: every cumulative level of every input (the last ones are 1 up to rounding).
        let levels =
            Array.append [| 0.0 |] (cdfs |> Array.collect snd |> Array.map (fun c -> min c 1.0))
            |> Array.append [| 1.0 |] |> Array.distinct |> Array.sort
        let points = ResizeArray()
        let masses = ResizeArray()
        for k in 1 .. levels.Length - 1 do
            let width = levels.[k] - levels.[k - 1]
            if width > 0.0 then
                let mid = 0.5 * (levels.[k] + levels.[k - 1])
                let mutable v = 0.0
                for n in 0 .. cdfs.Length - 1 do
                    let sorted, cumulative = cdfs.[n]
                    v <- v + l.[n] * quantile sorted cumulative mid
                points.Add v
                masses.Add width
        points.ToArray(), masses.ToArray()

    /// <summary>
    /// The W2 barycenter of each coordinate marginal of N distributions in ℝ^d (the barycenter for the marginal W2
    /// distance Σ_j W2²(μ_j, ν_j)): coordinate j's barycenter is <see cref="M:DistEmbed.Core.Reference.Barycenters.OneDimensional(System.Double[][],System.Double[][],System.Double[])"/> of the inputs' j-th marginals.
    /// </summary>
    /// <param name="distributions">N ≥ 1 distributions of one dimension d.</param>
    /// <param name="lambdas">N barycentric weights, or null for uniform.</param>
    /// <returns>d one-dimensional barycenters (points, weights), one per coordinate.</returns>
    /// <exception cref="T:System.ArgumentException">Empty input, unequal dimensions, bad weights.</exception>
    [<CompiledName("Marginal")>]
    let marginal (distributions: Empirical[], lambdas: float[]) : (float[] * float[])[] =
        Validation.nonEmpty "distributions" distributions
        let d = distributions.[0].Dimension
        distributions |> Array.iteri (fun k e ->
            Validation.notNull $"distributions[{k}]" e
            if e.Dimension <> d then Validation.fail "distributions" $"distributions[{k}] has dimension {e.Dimension} but distributions[0] has {d}.")
        Array.init d (fun j ->
            oneDimensional (distributions |> Array.map (fun e -> Array.init e.Count (fun i -> e.Points.[i, j])), distributions |> Array.map (fun e -> e.Weights), lambdas))

    /// <summary>
    /// The free-support W2 barycenter of N point clouds with a fixed number k of atoms of fixed weights b
    /// (Cuturi &amp; Doucet 2014, Alg. 2; POT's <c>ot.lp.free_support_barycenter</c>): from X = xInit, repeat
    /// X ← Σ_n λ_n diag(1/b) T_n Y_n with T_n an exact optimal plan between (X, b) and (Y_n, a_n) for the cost
    /// ‖x − y‖², until ‖X_new − X‖²_F ≤ stopThreshold or maxIterations.
    /// </summary>
    /// <param name="distributions">N ≥ 1 point clouds (Y_n, a_n) of one dimension d.</param>
    /// <param name="lambdas">N barycentric weights, or null for uniform.</param>
    /// <param name="xInit">The initial support X₀, k × d (k ≥ 1), finite.</param>
    /// <param name="b">The barycenter's weights, length k (normalised here), or null for uniform.</param>
    /// <param name="maxIterations">The most iterations, ≥ 1 (POT's default 100).</param>
    /// <param name="stopThreshold">Stop when the squared Frobenius displacement is ≤ this (≥ 0; POT's default 1e-7).</param>
    /// <returns>The support X, k × d, and the iterations made.</returns>
    /// <remarks>
    /// Each step is the exact minimiser of Σ_n λ_n ⟨T_n, C(X, Y_n)⟩ over X for the plans fixed (a weighted mean of
    /// the points each atom is sent to), and then the plans are re-optimised, so Σ_n λ_n W2²((X, b), ν_n) does not
    /// increase; the fixed points are local minima of the barycenter problem with support size k. Optimal plans that
    /// are not unique (ties) can lead to a different, equally valid, fixed point than another solver's.
    /// </remarks>
    /// <exception cref="T:System.ArgumentException">Empty input, unequal dimensions, non-finite points, bad weights, maxIterations &lt; 1, a negative or NaN threshold.</exception>
    [<CompiledName("FreeSupport")>]
    let freeSupport (distributions: Empirical[], lambdas: float[], xInit: float[,], b: float[], maxIterations: int, stopThreshold: float) : float[,] * int =
        Validation.nonEmpty "distributions" distributions
        Validation.notNull "xInit" xInit
        Validation.finite2D "xInit" xInit
        let k, d = Array2D.length1 xInit, Array2D.length2 xInit
        if k = 0 || d = 0 then Validation.fail "xInit" $"xInit has shape [{k},{d}]; it must have k ≥ 1 atoms in d ≥ 1 dimensions."
        distributions |> Array.iteri (fun n e ->
            Validation.notNull $"distributions[{n}]" e
            if e.Dimension <> d then Validation.fail "distributions" $"distributions[{n}] has dimension {e.Dimension} but xInit has {d}.")
        let l = lambdasOf distributions.Length lambdas
        let b = if isNull b then Array.create k (1.0 / float k) else (Validation.sameLength "b" k b.Length "the rows of xInit"; Validation.weights "b" b)
        if b |> Array.exists (fun w -> w <= 0.0) then Validation.fail "b" "b has a zero weight; every barycenter atom needs a positive weight."
        Validation.atLeastInt "maxIterations" 1 maxIterations
        if Double.IsNaN stopThreshold || stopThreshold < 0.0 then
            Validation.fail "stopThreshold" $"stopThreshold = {stopThreshold} is invalid; it must be a number ≥ 0."
        let mutable x = Array2D.copy xInit
        let mutable iterations = 0
        let mutable displacement = Double.PositiveInfinity
        while displacement > stopThreshold && iterations < maxIterations do
            let next = Array2D.zeroCreate<float> k d
            let support = Empirical.Create(x, b)
            for n in 0 .. distributions.Length - 1 do
                let y = distributions.[n]
                let plan = (ExactTransport.solve (ExactTransport.groundCost (2.0, support, y), b, y.Weights)).Plan
                for i in 0 .. k - 1 do
                    for j in 0 .. y.Count - 1 do
                        let t = plan.[i, j]
                        if t <> 0.0 then
                            for c in 0 .. d - 1 do
                                next.[i, c] <- next.[i, c] + l.[n] * t / b.[i] * y.Points.[j, c]
            let mutable sq = 0.0
            for i in 0 .. k - 1 do
                for c in 0 .. d - 1 do
                    sq <- sq + (next.[i, c] - x.[i, c]) ** 2.0
            displacement <- sq
            x <- next
            iterations <- iterations + 1
        x, iterations

    /// <summary>The objective Σ_n λ_n W2²((X, b), ν_n) of a candidate barycenter support X with weights b (exact transport).</summary>
    /// <param name="distributions">N ≥ 1 distributions of one dimension d.</param>
    /// <param name="lambdas">N barycentric weights, or null for uniform.</param>
    /// <param name="candidate">The candidate barycenter.</param>
    /// <returns>The weighted sum of squared W2 distances.</returns>
    /// <exception cref="T:System.ArgumentException">As for the inputs of <c>FreeSupport</c>.</exception>
    [<CompiledName("Objective")>]
    let objective (distributions: Empirical[], lambdas: float[], candidate: Empirical) : float =
        Validation.nonEmpty "distributions" distributions
        Validation.notNull "candidate" candidate
        let l = lambdasOf distributions.Length lambdas
        Array.fold2 (fun s (e: Empirical) w -> s + w * ExactTransport.cost (2.0, candidate, e)) 0.0 distributions l
