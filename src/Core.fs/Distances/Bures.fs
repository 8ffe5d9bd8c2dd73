namespace DistEmbed.Core

open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>Gaussian fits of a batch of distributions: weighted means and weighted (biased) covariances.</summary>
/// <remarks><code>m_b = Σ_t w_bt x_bt,   S_b = Σ_t w_bt (x_bt − m_b)(x_bt − m_b)ᵀ</code> (padding has zero weight and no effect).</remarks>
type GaussianFits =
    {
        /// <summary>The means, [B, d].</summary>
        Means: torch.Tensor
        /// <summary>The covariances, [B, d, d], symmetric positive semi-definite.</summary>
        Covariances: torch.Tensor
    }

    /// <summary>Disposes both tensors (their native memory).</summary>
    member this.Dispose() =
        this.Means.Dispose()
        this.Covariances.Dispose()

    interface System.IDisposable with
        member this.Dispose() = this.Dispose()

/// <summary>
/// The Bures–Wasserstein distance: the 2-Wasserstein distance between the Gaussian fits of two distributions, with
/// full or diagonal covariances; paired ([B]) and pairwise ([B, B'], memory-bounded by blocks), differentiable with
/// finite gradients everywhere (repeated eigenvalues, singular covariances and a = b included).
/// </summary>
/// <remarks>
/// <code>W_2²(N(m1, S1), N(m2, S2)) = ‖m1 − m2‖² + tr(S1 + S2 − 2 (S1^{1/2} S2 S1^{1/2})^{1/2})</code> [1], [2].
/// The covariance term is evaluated as the equivalent
/// <code>min_{R orthogonal} ‖S1^{1/2} − S2^{1/2} R‖_F² = ‖S1^{1/2} − S2^{1/2} R*‖_F²,   R* = V Uᵀ for S1^{1/2} S2^{1/2} = U Σ Vᵀ</code>
/// [2, Section 2], [3, Section 3]: a sum of squares, so it is never negative and is accurate near a = b, where the trace
/// form cancels. R* is computed without gradient: by Danskin's theorem the gradient of the minimum is the gradient at
/// the minimiser. The symmetric square roots use an eigendecomposition whose backward pass solves the Sylvester
/// equation S dS + dS S = dA in the eigenbasis, dS = V ((Vᵀ dA V) ⊘ (s_i + s_j)) Vᵀ, with the entries where
/// s_i + s_j ≤ √ε · max s set to 0 (null directions of a singular covariance, where the square root is not
/// differentiable) — no division by eigenvalue gaps, so repeated eigenvalues are harmless. Second derivatives are not
/// provided. The diagonal form keeps only the variances:
/// <code>W_2²(N(m1, diag σ1²), N(m2, diag σ2²)) = ‖m1 − m2‖² + ‖σ1 − σ2‖²</code>
/// The distance W_2 is the square root with gradient 0 at 0; the functions named <c>squared…</c> return W_2².
///
/// References:
/// [1] D. C. Dowson and B. V. Landau, The Fréchet distance between multivariate normal distributions, Journal of
///     Multivariate Analysis 12(3), 450–455 (1982).
/// [2] R. Bhatia, T. Jain and Y. Lim, On the Bures–Wasserstein distance between positive definite matrices,
///     Expositiones Mathematicae 37(2), 165–191 (2019), arXiv:1712.01504, Theorem 1.
/// [3] G. Peyré and M. Cuturi, Computational Optimal Transport (2019), arXiv:1803.00567, Remark 2.31.
/// </remarks>
[<RequireQualifiedAccess>]
module Bures =

    type private Tensor = torch.Tensor

    let private fitsCore (points: Tensor) (weights: Tensor) : Tensor * Tensor =
        use scope = torch.NewDisposeScope()
        let w = weights.unsqueeze 2L
        let mean = points.mul(w).sum (1L)
        let centred = points.sub (mean.unsqueeze 1L)
        let covariance = centred.mul(w).transpose(1L, 2L).matmul (centred)
        mean.MoveToOuterDisposeScope(), covariance.MoveToOuterDisposeScope()

    /// <summary>The Gaussian fits (weighted mean, weighted biased covariance) of every distribution of a batch.</summary>
    /// <param name="batch">B distributions, points [B, T, d], weights [B, T].</param>
    /// <returns>Means [B, d] and covariances [B, d, d], differentiable.</returns>
    /// <exception cref="T:System.ArgumentNullException">batch is null.</exception>
    [<CompiledName("Fit")>]
    let fit (batch: DistributionBatch) : GaussianFits =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "batch" batch
        let mean, covariance = fitsCore batch.Points batch.Weights
        { Means = mean; Covariances = covariance }

    let private symmetricSqrtCore (matrices: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let a = matrices.add(matrices.transpose (-1L, -2L), sci 1L).div (sc 2.0)
        let root, basis, inverse =
            use _ = torch.no_grad ()
            let struct (values, vectors) = torch.linalg.eigh (a.detach ())
            let s = values.clamp_min(sc 0.0).sqrt ()
            let root = vectors.mul(s.unsqueeze -2L).matmul (vectors.transpose (-1L, -2L))
            let sums = s.unsqueeze(-1L).add (s.unsqueeze -2L, sci 1L)
            let eps = if matrices.dtype = torch.float64 then 2.220446049250313e-16 else 1.1920929e-07
            let floor = s.amax([| -1L |], keepdim = true).unsqueeze(-1L).mul (sc (sqrt eps))
            let keep = sums.gt floor
            let inverse = torch.where (keep, torch.ones_like(sums).div (torch.where (keep, sums, torch.ones_like sums)), torch.zeros_like sums)
            root, vectors, inverse
        // root + L(a − a.detach()): the value is root (the perturbation is exactly zero); the gradient is the
        // Sylvester solution L(dA) = V ((Vᵀ dA V) ∘ inverse) Vᵀ.
        let perturbation = a.sub (a.detach ())
        let bt = basis.transpose (-1L, -2L)
        let tangent = basis.matmul(bt.matmul(perturbation).matmul(basis).mul(inverse)).matmul (bt)
        root.add(tangent, sci 1L).MoveToOuterDisposeScope()

    /// <summary>The symmetric positive semi-definite square root of a batch of symmetric matrices, with a stable backward pass.</summary>
    /// <remarks>
    /// A is symmetrised, A = V diag(λ) Vᵀ (<c>torch.linalg.eigh</c>), A^{1/2} = V diag(√max(λ, 0)) Vᵀ. The gradient
    /// solves the Sylvester equation in the eigenbasis, dividing by s_i + s_j (never by eigenvalue gaps), with the
    /// entries where s_i + s_j ≤ √ε · max s set to 0; so it is finite for repeated and zero eigenvalues. First
    /// derivatives only.
    /// </remarks>
    /// <param name="matrices">[..., d, d] symmetric positive semi-definite matrices, float32 or float64.</param>
    /// <returns>[..., d, d], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">matrices has rank below 2 or is not square.</exception>
    [<CompiledName("SymmetricSqrt")>]
    let symmetricSqrt (matrices: Tensor) : Tensor =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "matrices" matrices
        Validation.floating "matrices" matrices
        let r = matrices.dim ()
        if r < 2L || matrices.shape.[int r - 1] <> matrices.shape.[int r - 2] then
            Validation.fail "matrices" $"matrices has shape {Validation.shape matrices}; it must be [..., d, d]."
        symmetricSqrtCore matrices

    /// ‖S1 − S2 R*‖_F² for broadcastable square roots S1, S2 [..., d, d].
    let private covarianceTerm (root1: Tensor) (root2: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let rotation =
            use _ = torch.no_grad ()
            let struct (u, _, vh) = torch.linalg.svd (root1.matmul root2)
            u.matmul(vh).transpose (-1L, -2L)
        root1.sub(root2.matmul rotation).pow(Scalars.sc 2.0).sum([| -2L; -1L |]).MoveToOuterDisposeScope()

    let private squaredOfRoots (m1: Tensor) (root1: Tensor) (m2: Tensor) (root2: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        m1.sub(m2).pow(Scalars.sc 2.0).sum(-1L).add(covarianceTerm root1 root2, sci 1L).MoveToOuterDisposeScope()

    /// <summary>Paired W_2² between Gaussians given by their means and covariances.</summary>
    /// <param name="meansA">[B, d].</param>
    /// <param name="covariancesA">[B, d, d], symmetric positive semi-definite.</param>
    /// <param name="meansB">[B, d] (same dtype and device).</param>
    /// <param name="covariancesB">[B, d, d].</param>
    /// <returns>[B], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">A shape, dtype or device does not match (names the argument).</exception>
    [<CompiledName("SquaredOfFitsPaired")>]
    let squaredOfFitsPaired (meansA: Tensor, covariancesA: Tensor, meansB: Tensor, covariancesB: Tensor) : Tensor =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "meansA" meansA
        Validation.floating "meansA" meansA
        if meansA.dim () <> 2L || meansA.shape.[0] = 0L || meansA.shape.[1] = 0L then
            Validation.fail "meansA" $"meansA has shape {Validation.shape meansA}; it must be [B, d] with B, d ≥ 1."
        let b, d = meansA.shape.[0], meansA.shape.[1]
        let expect (name: string) (t: Tensor) (shape: int64[]) =
            checkTensor name t (int64 shape.Length) meansA.dtype meansA.device ("[" + System.String.Join(",", shape) + "]")
            if t.shape <> shape then
                Validation.fail name $"{name} has shape {Validation.shape t}; it must be [{System.String.Join(',', shape)}]."
        expect "covariancesA" covariancesA [| b; d; d |]
        expect "meansB" meansB [| b; d |]
        expect "covariancesB" covariancesB [| b; d; d |]
        scoped (fun () ->
            squaredOfRoots meansA (symmetricSqrtCore covariancesA) meansB (symmetricSqrtCore covariancesB))

    let private check (a: DistributionBatch) (b: DistributionBatch) (paired: bool) =
        Validation.notNull "a" a
        Validation.notNull "b" b
        checkPair a a.Dimension b b.Dimension paired

    let internal squaredPairedCore (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        let m1, s1 = fitsCore a.Points a.Weights
        let m2, s2 = fitsCore b.Points b.Weights
        (squaredOfRoots m1 (symmetricSqrtCore s1) m2 (symmetricSqrtCore s2)).MoveToOuterDisposeScope()

    let internal squaredPlan (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) : PairwisePlan =
        let m1, s1 = fitsCore a.Points a.Weights
        let m2, s2 = fitsCore b.Points b.Weights
        let r1 = symmetricSqrtCore s1
        let r2 = symmetricSqrtCore s2
        let d = int64 a.Dimension
        { Rows = m1.shape.[0]
          Columns = m2.shape.[0]
          BlockSize = chooseBlock blockSize (8L * d * d + 2L * d)
          Block =
            fun r0 rn c0 cn ->
                squaredOfRoots
                    (m1.narrow(0L, r0, rn).unsqueeze 1L)
                    (r1.narrow(0L, r0, rn).unsqueeze 1L)
                    (m2.narrow(0L, c0, cn).unsqueeze 0L)
                    (r2.narrow(0L, c0, cn).unsqueeze 0L) }

    /// [m, σ] per distribution, [B, 2d]: the diagonal W_2² is the squared Euclidean distance between these vectors.
    let private meanAndDeviations (a: DistributionBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        let w = a.Weights.unsqueeze 2L
        let mean = a.Points.mul(w).sum (1L)
        let variance = a.Points.sub(mean.unsqueeze 1L).pow(Scalars.sc 2.0).mul(w).sum (1L)
        torch.cat([| mean; safeSqrt variance |], 1L).MoveToOuterDisposeScope()

    let internal diagonalSquaredPairedCore (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        use scope = torch.NewDisposeScope()
        (meanAndDeviations a).sub(meanAndDeviations b).pow(Scalars.sc 2.0).sum(1L).MoveToOuterDisposeScope()

    let internal diagonalSquaredPlan (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) : PairwisePlan =
        DistanceKernels.squaredEuclideanPlan (meanAndDeviations a) (meanAndDeviations b) (chooseBlock blockSize 4L)

    /// <summary>Paired squared Bures–Wasserstein distance W_2²(N(m_a, S_a), N(m_b, S_b)) between the Gaussian fits.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <returns>[B], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("SquaredPaired")>]
    let squaredPaired (a: DistributionBatch, b: DistributionBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> squaredPairedCore a b)

    /// <summary>Paired Bures–Wasserstein distance W_2 between the Gaussian fits (gradient 0 where it is 0).</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <returns>[B], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("Paired")>]
    let paired (a: DistributionBatch, b: DistributionBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> safeSqrt (squaredPairedCore a b))

    /// <summary>Pairwise squared Bures–Wasserstein distances between the Gaussian fits, streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("SquaredPairwise")>]
    let squaredPairwise (a: DistributionBatch, b: DistributionBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> squaredPlan a b blockSize)

    /// <summary>Pairwise Bures–Wasserstein distances W_2 between the Gaussian fits, streamed in blocks.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("Pairwise")>]
    let pairwise (a: DistributionBatch, b: DistributionBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> squaredPlan a b blockSize |> mapPlan safeSqrt)

    /// <summary>Paired squared diagonal Bures–Wasserstein distance ‖m_a − m_b‖² + ‖σ_a − σ_b‖².</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <returns>[B], ≥ 0, differentiable (σ has gradient 0 where a variance is 0).</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("DiagonalSquaredPaired")>]
    let diagonalSquaredPaired (a: DistributionBatch, b: DistributionBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> diagonalSquaredPairedCore a b)

    /// <summary>Paired diagonal Bures–Wasserstein distance (‖m_a − m_b‖² + ‖σ_a − σ_b‖²)^{1/2}.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T'] (same B, d, dtype, device).</param>
    /// <returns>[B], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("DiagonalPaired")>]
    let diagonalPaired (a: DistributionBatch, b: DistributionBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> safeSqrt (diagonalSquaredPairedCore a b))

    /// <summary>Pairwise squared diagonal Bures–Wasserstein distances, one matrix product per block.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("DiagonalSquaredPairwise")>]
    let diagonalSquaredPairwise (a: DistributionBatch, b: DistributionBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> diagonalSquaredPlan a b blockSize)

    /// <summary>Pairwise diagonal Bures–Wasserstein distances, one matrix product per block.</summary>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B' distributions, points [B', T', d], weights [B', T'] (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], ≥ 0, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("DiagonalPairwise")>]
    let diagonalPairwise (a: DistributionBatch, b: DistributionBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> diagonalSquaredPlan a b blockSize |> mapPlan safeSqrt)
