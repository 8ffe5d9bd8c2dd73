namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>
/// Sliced and max-sliced p-Wasserstein distances between two weighted empirical distributions in ℝ^d over a given
/// set of directions, each slice computed exactly in one dimension.
/// </summary>
/// <remarks>
/// With directions θ_1 … θ_L (the rows of an L × d matrix) and P_θ(x) = ⟨θ, x⟩,
/// <code>SW_p(μ, ν) = ((1/L) Σ_l W_p^p(P_θl#μ, P_θl#ν))^{1/p},   maxSW_p(μ, ν) = max_l W_p(P_θl#μ, P_θl#ν)</code>
/// [1], [2]. The directions are used as given: they are not normalised, so a direction of norm r scales
/// that slice's W_p by r. This matches POT 0.8.2's <c>ot.sliced_wasserstein_distance(X_s, X_t, a, b,
/// n_projections=L, p=p, projections=Θᵀ)</c>, which takes the d × L transpose, also uses its columns as given, and
/// divides by its <c>n_projections</c> argument (not by the number of columns it was given): pass
/// <c>n_projections=L</c> to compare. With random unit directions (<c>randomDirections</c>)
/// SW_p is the Monte-Carlo estimate of the sliced distance of [1].
///
/// References:
/// [1] N. Bonneel, J. Rabin, G. Peyré and H. Pfister, Sliced and Radon Wasserstein Barycenters of Measures,
///     Journal of Mathematical Imaging and Vision 51(1), 22–45 (2015).
/// [2] I. Deshpande, Y.-T. Hu, R. Sun, A. Pyrros, N. Siddiqui, S. Koyejo, Z. Zhao, D. Forsyth and A. Schwing,
///     Max-Sliced Wasserstein Distance and its use for GANs, CVPR (2019), arXiv:1904.05877.
/// </remarks>
[<RequireQualifiedAccess>]
module SlicedWasserstein =

    let private check (p: float) (a: Empirical) (b: Empirical) (directions: float[,]) =
        Validation.atLeast "p" 1.0 p
        Validation.comparable a b (fun e -> e.Dimension)
        Validation.notNull "directions" directions
        let rows, columns = Array2D.length1 directions, Array2D.length2 directions
        if rows = 0 || columns <> a.Dimension then
            Validation.fail
                "directions"
                $"directions has shape [{rows},{columns}]; it must be L × d with L ≥ 1 and d = {a.Dimension} (the dimension of a and b)."
        Validation.finite2D "directions" directions

    /// ⟨θ_l, x_i⟩ for every point of e.
    let private project (e: Empirical) (directions: float[,]) (l: int) =
        Array.init e.Count (fun i ->
            let mutable s = 0.0
            for k in 0 .. e.Dimension - 1 do
                s <- s + directions.[l, k] * e.Points.[i, k]
            s)

    /// W_p^p of every slice.
    let private sliceCosts (p: float) (a: Empirical) (b: Empirical) (directions: float[,]) =
        Array.init (Array2D.length1 directions) (fun l ->
            let cost, _, _ = OneDimensional.costCore p (project a directions l) a.Weights (project b directions l) b.Weights false
            cost)

    /// <summary>The sliced p-Wasserstein distance over the given directions.</summary>
    /// <remarks>
    /// <code>SW_p(a, b) = ((1/L) Σ_{l=1}^{L} W_p^p(⟨θ_l,·⟩#a, ⟨θ_l,·⟩#b))^{1/p}</code>, θ_l = row l of
    /// <paramref name="directions"/>, used as given (not normalised). Equals POT 0.8.2's
    /// <c>sliced_wasserstein_distance(a.Points, b.Points, a.Weights, b.Weights, n_projections=L, p=p, projections=directionsᵀ)</c>.
    /// </remarks>
    /// <param name="p">The order, finite, p ≥ 1.</param>
    /// <param name="a">The first distribution, T_a × d.</param>
    /// <param name="b">The second distribution, T_b × d (same d).</param>
    /// <param name="directions">L × d directions (L ≥ 1), finite; row l is θ_l.</param>
    /// <returns>SW_p ≥ 0, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite; a or b null; the dimensions differ (names b); directions not L × d or not finite.</exception>
    [<CompiledName("Wasserstein")>]
    let wasserstein (p: float, a: Empirical, b: Empirical, directions: float[,]) : float =
        check p a b directions
        let costs = sliceCosts p a b directions
        Math.Pow(Array.sum costs / float costs.Length, 1.0 / p)

    /// <summary>The max-sliced p-Wasserstein distance over the given directions.</summary>
    /// <remarks>
    /// <code>maxSW_p(a, b) = max_{l} W_p(⟨θ_l,·⟩#a, ⟨θ_l,·⟩#b)</code> [2]: the largest slice over the given directions
    /// (a lower bound of the max over the whole sphere when the directions are unit vectors). Always ≥ SW_p over the
    /// same directions.
    /// </remarks>
    /// <param name="p">The order, finite, p ≥ 1.</param>
    /// <param name="a">The first distribution, T_a × d.</param>
    /// <param name="b">The second distribution, T_b × d (same d).</param>
    /// <param name="directions">L × d directions (L ≥ 1), finite; row l is θ_l.</param>
    /// <returns>maxSW_p ≥ 0, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>wasserstein</c>.</exception>
    [<CompiledName("MaxSliced")>]
    let maxSliced (p: float, a: Empirical, b: Empirical, directions: float[,]) : float =
        check p a b directions
        Math.Pow(Array.max (sliceCosts p a b directions), 1.0 / p)

    /// <summary>Deterministic pseudo-random unit directions, uniform on the sphere S^{d−1}.</summary>
    /// <remarks>
    /// Each row is a vector of independent standard normal draws (Box–Muller on <see cref="T:System.Random"/> seeded
    /// with <paramref name="seed"/>) divided by its Euclidean norm, which is uniform on the sphere; a row of norm zero
    /// (probability zero) is drawn again. Deterministic: the same seed gives the same directions (the seeded
    /// System.Random algorithm is fixed; only the last bits of log and cos may vary between platforms' math libraries).
    /// </remarks>
    /// <param name="count">The number of directions L ≥ 1.</param>
    /// <param name="dimension">The dimension d ≥ 1.</param>
    /// <param name="seed">The seed of the generator.</param>
    /// <returns>An L × d matrix whose rows have unit Euclidean norm.</returns>
    /// <exception cref="T:System.ArgumentException">count &lt; 1 or dimension &lt; 1.</exception>
    [<CompiledName("RandomDirections")>]
    let randomDirections (count: int, dimension: int, seed: int) : float[,] =
        Validation.atLeastInt "count" 1 count
        Validation.atLeastInt "dimension" 1 dimension
        let random = Random(seed)
        let normal () =
            let u1 = 1.0 - random.NextDouble()
            let u2 = random.NextDouble()
            sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2)
        let result = Array2D.zeroCreate count dimension
        for l in 0 .. count - 1 do
            let mutable row = Array.init dimension (fun _ -> normal ())
            let mutable norm = sqrt (Array.sumBy (fun x -> x * x) row)
            while norm = 0.0 do
                row <- Array.init dimension (fun _ -> normal ())
                norm <- sqrt (Array.sumBy (fun x -> x * x) row)
            for k in 0 .. dimension - 1 do
                result.[l, k] <- row.[k] / norm
        result
