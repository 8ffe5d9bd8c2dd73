namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>
/// Kernel and distance-based discrepancies between weighted empirical distributions: the squared maximum mean
/// discrepancy with a sum of Gaussian kernels, and the energy distance.
/// </summary>
/// <remarks>
/// MMD² [1]: <code>MMD²(μ, ν) = E k(X, X') − 2 E k(X, Y) + E k(Y, Y') = ‖μ_k(μ) − μ_k(ν)‖²_H</code>
/// with k(x, y) = Σ_σ exp(−‖x − y‖² / (2σ²)), a characteristic kernel, so MMD² = 0 iff the distributions are equal.
/// Energy distance [2]: <code>E(μ, ν) = 2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ ≥ 0</code>, zero iff μ = ν; in one
/// dimension it equals 2 ∫ (F(t) − G(t))² dt [2].
///
/// References:
/// [1] A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schölkopf and A. Smola, A Kernel Two-Sample Test,
///     Journal of Machine Learning Research 13, 723–773 (2012): Lemma 6 (population MMD² and the unbiased
///     U-statistic MMD²_u) and the biased V-statistic MMD²_b of Section 2.2.
/// [2] G. J. Székely and M. L. Rizzo, Energy statistics: A class of statistics based on distances,
///     Journal of Statistical Planning and Inference 143(8), 1249–1272 (2013), Section 2.
/// </remarks>
[<RequireQualifiedAccess>]
module KernelDistances =

    let private squaredDistance (x: float[,]) (i: int) (y: float[,]) (j: int) =
        let mutable s = 0.0
        for k in 0 .. Array2D.length2 x - 1 do
            let t = x.[i, k] - y.[j, k]
            s <- s + t * t
        s

    /// Σ_i Σ_j wx_i wy_j f(x_i, y_j), skipping the diagonal i = j when asked (for the U-statistic).
    let private weightedSum (f: float -> float) (x: Empirical) (y: Empirical) (skipDiagonal: bool) =
        let mutable total = 0.0
        for i in 0 .. x.Count - 1 do
            for j in 0 .. y.Count - 1 do
                if not (skipDiagonal && i = j) then
                    total <- total + x.Weights.[i] * y.Weights.[j] * f (squaredDistance x.Points i y.Points j)
        total

    let private checkUniform (name: string) (e: Empirical) =
        if e.Count < 2 then
            Validation.fail name $"{name} has {e.Count} point; the unbiased MMD² needs at least 2 points in each distribution."
        let w0 = e.Weights.[0]
        e.Weights
        |> Array.iteri (fun i w ->
            if abs (w - w0) > 1e-12 * w0 then
                Validation.fail
                    name
                    $"{name} has non-uniform weights ({name}.Weights[{i}] = {w}, {name}.Weights[0] = {w0}); the unbiased MMD² is a U-statistic of equally weighted samples (no padding)."
        )

    /// <summary>The squared maximum mean discrepancy with a sum of Gaussian kernels.</summary>
    /// <remarks>
    /// k(x, y) = Σ_σ exp(−‖x − y‖² / (2σ²)) over the <paramref name="bandwidths"/>. Biased (V-statistic, weighted) [1]:
    /// <code>MMD²_b = Σ_ij a_i a_j k(x_i, x_j) + Σ_ij b_i b_j k(y_i, y_j) − 2 Σ_ij a_i b_j k(x_i, y_j)</code>
    /// which is the exact MMD² between the two weighted empirical distributions, ≥ 0 up to rounding and exactly 0 for
    /// identical inputs. Unbiased (U-statistic) [1, Lemma 6], for m and n equally weighted samples:
    /// <code>MMD²_u = (1/(m(m−1))) Σ_{i≠j} k(x_i, x_j) + (1/(n(n−1))) Σ_{i≠j} k(y_i, y_j) − (2/(mn)) Σ_ij k(x_i, y_j)</code>
    /// which can be negative. Cost O((T_a + T_b)² d · #bandwidths).
    /// </remarks>
    /// <param name="a">The first distribution, T_a × d.</param>
    /// <param name="b">The second distribution, T_b × d (same d).</param>
    /// <param name="bandwidths">Kernel bandwidths σ, length ≥ 1, finite and &gt; 0.</param>
    /// <param name="biased">True for the V-statistic MMD²_b (any weights); false for the U-statistic MMD²_u, which needs uniform weights and at least 2 points in each distribution.</param>
    /// <returns>MMD², a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">a or b null; the dimensions differ (names b); bandwidths empty, not finite or not positive; unbiased with fewer than 2 points or non-uniform weights (names a or b).</exception>
    [<CompiledName("MmdSquared")>]
    let mmdSquared (a: Empirical, b: Empirical, bandwidths: float[], biased: bool) : float =
        Validation.comparable a b (fun e -> e.Dimension)
        Validation.nonEmpty "bandwidths" bandwidths
        bandwidths
        |> Array.iteri (fun i s ->
            if Double.IsNaN s || Double.IsInfinity s || s <= 0.0 then
                Validation.fail "bandwidths" $"bandwidths[{i}] = {s} is invalid; every bandwidth must be a finite number > 0.")
        let kernel (squared: float) =
            bandwidths |> Array.sumBy (fun s -> exp (-squared / (2.0 * s * s)))
        if biased then
            weightedSum kernel a a false + weightedSum kernel b b false - 2.0 * weightedSum kernel a b false
        else
            checkUniform "a" a
            checkUniform "b" b
            let m, n = float a.Count, float b.Count
            // The weights are 1/m and 1/n: rescale the weighted sums without the diagonal to 1/(m(m−1)) and 1/(n(n−1)).
            weightedSum kernel a a true * m / (m - 1.0) + weightedSum kernel b b true * n / (n - 1.0)
            - 2.0 * weightedSum kernel a b false

    /// <summary>The energy distance between two weighted empirical distributions.</summary>
    /// <remarks>
    /// <code>E(a, b) = 2 Σ_ij a_i b_j ‖x_i − y_j‖ − Σ_ij a_i a_j ‖x_i − x_j‖ − Σ_ij b_i b_j ‖y_i − y_j‖</code>
    /// [2], the weighted V-statistic: the exact energy distance between the two weighted distributions. It is ≥ 0
    /// (up to rounding) and zero iff the distributions are equal (same support and weights); it is exactly 0 for
    /// identical inputs. In one dimension it equals 2 ∫ (F − G)². Cost O((T_a + T_b)² d).
    /// </remarks>
    /// <param name="a">The first distribution, T_a × d.</param>
    /// <param name="b">The second distribution, T_b × d (same d).</param>
    /// <returns>The energy distance, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">a or b null; the dimensions differ (names b).</exception>
    [<CompiledName("EnergyDistance")>]
    let energyDistance (a: Empirical, b: Empirical) : float =
        Validation.comparable a b (fun e -> e.Dimension)
        2.0 * weightedSum sqrt a b false - weightedSum sqrt a a false - weightedSum sqrt b b false
