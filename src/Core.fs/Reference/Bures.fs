namespace DistEmbed.Core.Reference

open MathNet.Numerics.LinearAlgebra
open DistEmbed.Core

/// <summary>
/// The 2-Wasserstein (Bures–Wasserstein, Fréchet) distance between Gaussian distributions, with full or diagonal
/// covariances, and between the Gaussian fits (weighted mean and covariance) of two empirical distributions,
/// with its analytic gradient with respect to the points.
/// </summary>
/// <remarks>
/// For N(m1, S1) and N(m2, S2) [1], [2], [3, Section 2.6]:
/// <code>W_2² = ‖m1 − m2‖² + B²(S1, S2),   B²(S1, S2) = tr(S1 + S2 − 2 (S1^{1/2} S2 S1^{1/2})^{1/2})</code>
/// B is the Bures metric on positive semi-definite matrices. For diagonal covariances diag(σ1²), diag(σ2²) it reduces to
/// ‖m1 − m2‖² + ‖σ1 − σ2‖². Matrix square roots use the symmetric eigendecomposition (MathNet.Numerics); eigenvalues
/// that rounding makes slightly negative are clamped to zero. For any two distributions with these means and
/// covariances, W_2² of the distributions is at least this value (Gelbrich's bound [4]).
///
/// References:
/// [1] D. C. Dowson and B. V. Landau, The Fréchet distance between multivariate normal distributions,
///     Journal of Multivariate Analysis 12(3), 450–455 (1982).
/// [2] C. R. Givens and R. M. Shortt, A class of Wasserstein metrics for probability distributions,
///     Michigan Mathematical Journal 31(2), 231–240 (1984).
/// [3] G. Peyré and M. Cuturi, Computational Optimal Transport, Foundations and Trends in Machine Learning 11(5–6)
///     (2019), arXiv:1803.00567, Section 2.6 (Gaussian distributions).
/// [4] M. Gelbrich, On a formula for the L2 Wasserstein metric between measures on Euclidean and Hilbert spaces,
///     Mathematische Nachrichten 147(1), 185–203 (1990).
/// </remarks>
[<RequireQualifiedAccess>]
module Bures =

    /// Eigenvalues and eigenvectors (columns) of a symmetric matrix.
    let private eigen (s: Matrix<float>) : float[] * Matrix<float> =
        let evd = s.Evd(Symmetricity.Symmetric)
        [| for c in evd.EigenValues -> c.Real |], evd.EigenVectors

    /// V diag(values) Vᵀ.
    let private spectral (vectors: Matrix<float>) (values: float[]) : Matrix<float> =
        vectors * Matrix<float>.Build.DiagonalOfDiagonalArray values * vectors.Transpose()

    let private symmetrise (m: Matrix<float>) = (m + m.Transpose()) * 0.5

    /// The positive semi-definite square root (eigenvalues clamped at zero).
    let private sqrtPsd (s: Matrix<float>) : Matrix<float> =
        let values, vectors = eigen s
        spectral vectors (values |> Array.map (fun l -> sqrt (max l 0.0)))

    /// tr((S1^{1/2} S2 S1^{1/2})^{1/2}), the fidelity term.
    let private fidelity (s1: Matrix<float>) (s2: Matrix<float>) : float =
        let root1 = sqrtPsd s1
        let values, _ = eigen (symmetrise (root1 * s2 * root1))
        values |> Array.sumBy (fun l -> sqrt (max l 0.0))

    let private checkMean (name: string) (m: float[]) =
        Validation.nonEmpty name m
        Validation.finite name m

    let private checkSameLength (name: string) (d: int) (m: float[]) =
        checkMean name m
        Validation.sameLength name d m.Length "m1"

    /// Checks a covariance: d × d, finite, symmetric to 1e-10 of its largest entry, and positive semi-definite to
    /// 1e-9 of its largest eigenvalue. Returns it symmetrised, as a MathNet matrix.
    let private checkCovariance (name: string) (d: int) (s: float[,]) : Matrix<float> =
        Validation.symmetricMatrix name s d $"d = {d}, the length of m1" 1e-10 "a covariance must be symmetric"
        let m = symmetrise (Matrix<float>.Build.DenseOfArray s)
        let values, _ = eigen m
        let top = values |> Array.map abs |> Array.max
        let bottom = Array.min values
        if bottom < -1e-9 * top then
            Validation.fail
                name
                $"{name} is not positive semi-definite: its smallest eigenvalue is {bottom} (largest in magnitude {top}); a covariance must be positive semi-definite."
        m

    /// Weighted mean and biased weighted covariance, no checks.
    let private fitCore (e: Empirical) : float[] * float[,] =
        let n, d = e.Count, e.Dimension
        let w = e.Weights
        let x = e.Points
        let mean = Array.init d (fun k -> Seq.sum (seq { for i in 0 .. n - 1 -> w.[i] * x.[i, k] }))
        let covariance = Array2D.zeroCreate d d
        for k in 0 .. d - 1 do
            for l in k .. d - 1 do
                let mutable s = 0.0
                for i in 0 .. n - 1 do
                    s <- s + w.[i] * (x.[i, k] - mean.[k]) * (x.[i, l] - mean.[l])
                covariance.[k, l] <- s
                covariance.[l, k] <- s
        mean, covariance

    let private squaredDistance (x: float[]) (y: float[]) =
        Array.fold2 (fun acc xi yi -> acc + (xi - yi) * (xi - yi)) 0.0 x y

    /// <summary>The weighted mean and the weighted (biased) covariance of an empirical distribution.</summary>
    /// <remarks>
    /// <code>m = Σ_i w_i x_i,   S = Σ_i w_i (x_i − m)(x_i − m)ᵀ</code>
    /// (the covariance of the distribution itself, not the unbiased sample estimate). Zero-weight points change nothing.
    /// </remarks>
    /// <param name="a">The distribution, T × d.</param>
    /// <returns>The pair (mean, length d; covariance, d × d, symmetric positive semi-definite).</returns>
    /// <exception cref="T:System.ArgumentException">a is null.</exception>
    [<CompiledName("Fit")>]
    let fit (a: Empirical) : float[] * float[,] =
        Validation.notNull "a" a
        fitCore a

    /// <summary>The squared 2-Wasserstein distance between two Gaussians with full covariances.</summary>
    /// <remarks>
    /// <code>W_2²(N(m1,S1), N(m2,S2)) = ‖m1 − m2‖² + tr(S1 + S2 − 2 (S1^{1/2} S2 S1^{1/2})^{1/2})</code> [1], [2].
    /// Square roots by symmetric eigendecomposition with negative rounding eigenvalues clamped to zero; the result is
    /// clamped at zero. Symmetric in its two Gaussians and zero for equal inputs, up to rounding: about
    /// 1e-15 · (tr S1 + tr S2) for well-conditioned covariances, but up to about √eps · (tr S1 + tr S2) ≈ 1e-8 relative
    /// at singular ones, where B² is not Lipschitz (a perturbation δ of S moves it by ~√δ).
    /// </remarks>
    /// <param name="m1">Mean of the first Gaussian, length d ≥ 1, finite.</param>
    /// <param name="s1">Covariance of the first Gaussian, d × d, symmetric positive semi-definite.</param>
    /// <param name="m2">Mean of the second Gaussian, length d, finite.</param>
    /// <param name="s2">Covariance of the second Gaussian, d × d, symmetric positive semi-definite.</param>
    /// <returns>W_2² ≥ 0, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">A mean is empty, not finite or of the wrong length; a covariance is not d × d, not finite, not symmetric (to 1e-10 relative) or has an eigenvalue below −1e-9 times its largest.</exception>
    [<CompiledName("BuresSquared")>]
    let buresSquared (m1: float[], s1: float[,], m2: float[], s2: float[,]) : float =
        checkMean "m1" m1
        let d = m1.Length
        let c1 = checkCovariance "s1" d s1
        checkSameLength "m2" d m2
        let c2 = checkCovariance "s2" d s2
        max 0.0 (squaredDistance m1 m2 + c1.Trace() + c2.Trace() - 2.0 * fidelity c1 c2)

    /// <summary>The squared 2-Wasserstein distance between two Gaussians with diagonal covariances.</summary>
    /// <remarks>
    /// <code>W_2²(N(m1, diag(σ1²)), N(m2, diag(σ2²))) = ‖m1 − m2‖² + ‖σ1 − σ2‖²</code> [3, Section 2.6]:
    /// diagonal covariances commute, so the Bures term separates over coordinates.
    /// </remarks>
    /// <param name="m1">Mean of the first Gaussian, length d ≥ 1, finite.</param>
    /// <param name="sd1">Standard deviations of the first Gaussian, length d, finite, ≥ 0.</param>
    /// <param name="m2">Mean of the second Gaussian, length d, finite.</param>
    /// <param name="sd2">Standard deviations of the second Gaussian, length d, finite, ≥ 0.</param>
    /// <returns>W_2² ≥ 0, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">An array is empty, not finite or of the wrong length; a standard deviation is negative.</exception>
    [<CompiledName("BuresDiagonalSquared")>]
    let buresDiagonalSquared (m1: float[], sd1: float[], m2: float[], sd2: float[]) : float =
        checkMean "m1" m1
        let d = m1.Length
        for name, values in [ "sd1", sd1; "m2", m2; "sd2", sd2 ] do
            checkSameLength name d values
        for name, values in [ "sd1", sd1; "sd2", sd2 ] do
            values
            |> Array.iteri (fun k s ->
                if s < 0.0 then
                    Validation.fail name $"{name}[{k}] = {s} is negative; standard deviations must be ≥ 0.")
        squaredDistance m1 m2 + squaredDistance sd1 sd2

    /// <summary>The squared 2-Wasserstein distance between the Gaussian fits of two empirical distributions.</summary>
    /// <remarks>
    /// Fits (m, S) = <c>fit</c> of each distribution, then <c>buresSquared</c> (full covariances) or, when
    /// <paramref name="diagonal"/> is true, <c>buresDiagonalSquared</c> with σ_k = √S_kk (the off-diagonal
    /// covariances are ignored). By Gelbrich's bound [4] it is a lower bound of W_2²(a, b).
    /// </remarks>
    /// <param name="a">The first distribution, T_a × d.</param>
    /// <param name="b">The second distribution, T_b × d (same d).</param>
    /// <param name="diagonal">Whether to keep only the variances (diagonal covariances).</param>
    /// <returns>W_2² of the fits, ≥ 0, a scalar.</returns>
    /// <exception cref="T:System.ArgumentException">a or b is null; the dimensions differ (names b).</exception>
    [<CompiledName("BuresOfFitsSquared")>]
    let buresOfFitsSquared (a: Empirical, b: Empirical, diagonal: bool) : float =
        Validation.comparable a b (fun e -> e.Dimension)
        let m1, s1 = fitCore a
        let m2, s2 = fitCore b
        if diagonal then
            let sd (s: float[,]) = Array.init (Array2D.length1 s) (fun k -> sqrt s.[k, k])
            buresDiagonalSquared (m1, sd s1, m2, sd s2)
        else
            buresSquared (m1, s1, m2, s2)

    /// The derivative of B²(S, S_other) with respect to S (full covariances): I − T with
    /// T = S^{-1/2} (S^{1/2} S_other S^{1/2})^{1/2} S^{-1/2}, the Monge map from N(0, S) to N(0, S_other).
    let private fullCovarianceGradient (name: string) (s: Matrix<float>) (other: Matrix<float>) : Matrix<float> =
        let values, vectors = eigen s
        let top = Array.max values
        let bottom = Array.min values
        if not (bottom > 1e-12 * top) then
            Validation.fail
                name
                $"The full-covariance Bures gradient needs non-singular covariances, but the weighted covariance of {name} has eigenvalues from {bottom} to {top}; give {name} at least d + 1 points of positive weight in general position, or use the diagonal form."
        let root = spectral vectors (values |> Array.map sqrt)
        let inverseRoot = spectral vectors (values |> Array.map (fun l -> 1.0 / sqrt l))
        let middle = sqrtPsd (symmetrise (root * other * root))
        let transport = symmetrise (inverseRoot * middle * inverseRoot)
        Matrix<float>.Build.DenseIdentity(s.RowCount) - transport

    /// ∂f/∂x_i = 2 w_i (sign·(m1 − m2) + G (x_i − m)) for f = ‖m1 − m2‖² + B², G = ∂B²/∂S symmetric.
    let private pointGradient (e: Empirical) (mean: float[]) (meanDifference: float[]) (g: Matrix<float>) : float[,] =
        let d = e.Dimension
        Array2D.init e.Count d (fun i k ->
            let mutable s = meanDifference.[k]
            for l in 0 .. d - 1 do
                s <- s + g.[k, l] * (e.Points.[i, l] - mean.[l])
            2.0 * e.Weights.[i] * s)

    /// <summary>The analytic gradient of <c>buresOfFitsSquared</c> with respect to the points of a and of b.</summary>
    /// <remarks>
    /// With f = ‖m1 − m2‖² + B²(S1, S2) and G1 = ∂B²/∂S1 (symmetric), the chain rule through
    /// m1 = Σ w_i x_i and S1 = Σ w_i (x_i − m1)(x_i − m1)ᵀ gives (the term through m1 in S1 vanishes since
    /// Σ w_i (x_i − m1) = 0)
    /// <code>∂f/∂x_i = 2 w_i (m1 − m2) + 2 w_i G1 (x_i − m1)</code>
    /// and symmetrically for b with m2 − m1 and G2. Full covariances: G1 = I − T with the Monge map
    /// T = S1^{-1/2} (S1^{1/2} S2 S1^{1/2})^{1/2} S1^{-1/2} from N(0, S1) to N(0, S2) [3, Section 2.6]; this
    /// assumes both covariances non-singular (B² is not differentiable at singular ones) and throws otherwise (smallest
    /// eigenvalue ≤ 1e-12 times the largest). Diagonal: G1 = diag(1 − σ2_k/σ1_k); where σ1_k = 0 every positively
    /// weighted point sits at the mean in coordinate k, the function is not differentiable if σ2_k &gt; 0, and the
    /// coordinate gets 0 (the limit of central differences).
    /// </remarks>
    /// <param name="a">The first distribution, T_a × d.</param>
    /// <param name="b">The second distribution, T_b × d (same d).</param>
    /// <param name="diagonal">Whether the distance uses diagonal covariances (see <c>buresOfFitsSquared</c>).</param>
    /// <returns>The pair (∂f/∂a.Points, T_a × d; ∂f/∂b.Points, T_b × d).</returns>
    /// <exception cref="T:System.ArgumentException">a or b null; the dimensions differ (names b); with full covariances, a singular weighted covariance (names a or b).</exception>
    [<CompiledName("BuresOfFitsGradient")>]
    let buresOfFitsGradient (a: Empirical, b: Empirical, diagonal: bool) : float[,] * float[,] =
        Validation.comparable a b (fun e -> e.Dimension)
        let m1, s1 = fitCore a
        let m2, s2 = fitCore b
        let d = a.Dimension
        let g1, g2 =
            if diagonal then
                let ratioGradient (s: float[,]) (other: float[,]) =
                    Matrix<float>.Build.DiagonalOfDiagonalArray(
                        Array.init d (fun k ->
                            let sd, sdOther = sqrt s.[k, k], sqrt other.[k, k]
                            if sd > 0.0 then 1.0 - sdOther / sd else 0.0)
                    )
                ratioGradient s1 s2, ratioGradient s2 s1
            else
                let c1 = symmetrise (Matrix<float>.Build.DenseOfArray s1)
                let c2 = symmetrise (Matrix<float>.Build.DenseOfArray s2)
                fullCovarianceGradient "a" c1 c2, fullCovarianceGradient "b" c2 c1
        let difference12 = Array.map2 (-) m1 m2
        let difference21 = Array.map2 (-) m2 m1
        pointGradient a m1 difference12 g1, pointGradient b m2 difference21 g2
