namespace DistEmbed.Core

open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>
/// Distances between vectors: Euclidean, squared Euclidean, cosine distance and L_p, paired ([B]) and pairwise
/// ([B, B'], memory-bounded by blocks), on <see cref="T:DistEmbed.Core.VectorBatch"/>; float32 or float64, any
/// device, differentiable.
/// </summary>
/// <remarks>
/// <code>‖x − y‖₂,   ‖x − y‖₂²,   1 − ⟨x, y⟩ / (‖x‖ ‖y‖),   ‖x − y‖_p = (Σ_k |x_k − y_k|^p)^{1/p}</code>
/// Pairwise squared Euclidean distances use one matrix product on centred inputs (the Gram form
/// ‖x‖² + ‖y‖² − 2⟨x, y⟩); entries where that form loses accuracy to cancellation (nearby vectors, x = y included) are
/// recomputed from the differences, so the result is never negative and its relative error stays at rounding level
/// [1, Section 3]. The Euclidean, L_p and cosine forms divide by a power-of-two scale near the largest entry (per row
/// for paired distances, per call for pairwise ones) before squaring, so that coordinates near the top of the dtype's
/// range (e.g. 1e20 in float32, whose square overflows) give the distance wherever it fits [3]. The Euclidean distance
/// takes a square root whose gradient is defined as 0 at x = y (the subgradient of the norm at its minimum), so
/// gradients are finite everywhere.
///
/// References:
/// [1] N. J. Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., SIAM (2002), Section 3 (cancellation).
/// [2] M. M. Deza and E. Deza, Encyclopedia of Distances, 4th ed., Springer (2016), Sections 5.1 (L_p) and 17.2 (cosine).
/// [3] E. Anderson, Algorithm 978: Safe scaling in the Level 1 BLAS, ACM Transactions on Mathematical Software 44(1),
///     article 12 (2017).
/// </remarks>
[<RequireQualifiedAccess>]
module VectorDistances =

    type private Tensor = torch.Tensor

    let private check (a: VectorBatch) (b: VectorBatch) (paired: bool) =
        Validation.notNull "a" a
        Validation.notNull "b" b
        checkPair a a.Dimension b b.Dimension paired

    /// The floor on a norm in the cosine distance (a zero vector has cosine distance 1 to every vector).
    let private normFloor (dtype: torch.ScalarType) = if dtype = torch.float64 then 1e-300 else 1e-30

    /// x / ‖x‖ row by row, the norm taken of the row divided by its power-of-two scale (so that rows with entries
    /// near the top of the dtype's range do not overflow when squared, nor tiny rows underflow).
    let private unit (x: Tensor) =
        use scope = torch.NewDisposeScope()
        let scaled = x.div (powerOfTwoScale x true 2.0)
        let norm = safeSqrt (scaled.pow(Scalars.sc 2.0).sum (1L, keepdim = true))
        scaled.div(norm.clamp_min (sc (normFloor x.dtype))).MoveToOuterDisposeScope()

    /// ‖d_i‖_p of the rows of d [B, D], scale-stable: s_i (Σ_k |d_ik / s_i|^p)^{1/p} with s_i the row's power-of-two
    /// scale (detached; the value and its gradient are those of the unscaled norm, which overflows in float32 once
    /// |d_ik|^p exceeds ~3.4e38 although the norm itself may fit).
    let internal rowNorm (p: float) (d: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let s = powerOfTwoScale d true p
        (safeRoot p ((powAbs p (d.div s)).sum (1L))).mul(s.squeeze 1L).MoveToOuterDisposeScope()

    /// The common power-of-two scale of two batches (the larger of their scales), detached, 0-d.
    let private jointScale (p: float) (x: Tensor) (y: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        torch.maximum(powerOfTwoScale x false p, powerOfTwoScale y false p).MoveToOuterDisposeScope()

    let internal squaredEuclideanPlan (a: VectorBatch) (b: VectorBatch) (blockSize: int) =
        DistanceKernels.squaredEuclideanPlan a.Values b.Values (chooseBlock blockSize 4L)

    /// Euclidean distances on both batches divided by one power-of-two scale s (exact), multiplied back by s: the
    /// squared distances of the scaled batches cannot overflow where the distances fit.
    let internal euclideanPlan (a: VectorBatch) (b: VectorBatch) (blockSize: int) =
        let s = jointScale 2.0 a.Values b.Values
        DistanceKernels.squaredEuclideanPlan (a.Values.div s) (b.Values.div s) (chooseBlock blockSize 4L)
        |> mapPlan (fun block -> (safeSqrt block).mul s)

    /// The Gram form of the squared Euclidean plan (the plain squared distances of the centred rows).
    let internal squaredEuclideanGram (a: VectorBatch) (b: VectorBatch) (same: bool) : GramForm option =
        use scope = torch.NewDisposeScope()
        Some(moveGram (gramForm a.Values b.Values same 1.0 1.0 false 1.0))

    /// The Gram form of the Euclidean plan: s · √e of the squared distances e of the rows divided by the joint
    /// power-of-two scale s.
    let internal euclideanGram (a: VectorBatch) (b: VectorBatch) (same: bool) : GramForm option =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        let s = jointScale 2.0 a.Values b.Values
        let x = a.Values.div s
        let y = if same then x else b.Values.div s
        Some(moveGram (gramForm x y same 1.0 1.0 true (s.to_type(torch.float64).item<float> ())))

    let internal cosinePlan (a: VectorBatch) (b: VectorBatch) (blockSize: int) =
        let x = unit a.Values
        let y = unit b.Values
        { Rows = x.shape.[0]
          Columns = y.shape.[0]
          BlockSize = chooseBlock blockSize 2L
          Block =
            fun r0 rn c0 cn ->
                use scope = torch.NewDisposeScope()
                let similarity = x.narrow(0L, r0, rn).mm (y.narrow(0L, c0, cn).t ())
                similarity.neg().add(sc 1.0, sc 1.0).clamp(sc 0.0, sc 2.0).MoveToOuterDisposeScope() }

    let internal lpPlan (p: float) (a: VectorBatch) (b: VectorBatch) (blockSize: int) =
        if p = 2.0 then euclideanPlan a b blockSize
        else
            let s = jointScale p a.Values b.Values
            let x = a.Values.div s
            let y = b.Values.div s
            { Rows = x.shape.[0]
              Columns = y.shape.[0]
              BlockSize = chooseBlock blockSize 2L
              Block =
                fun r0 rn c0 cn ->
                    use scope = torch.NewDisposeScope()
                    torch.cdist(x.narrow (0L, r0, rn), y.narrow (0L, c0, cn), p, compute_mode.donot_use_mm_for_euclid_dist)
                        .mul(s)
                        .MoveToOuterDisposeScope() }

    /// <summary>Paired squared Euclidean distances ‖a_i − b_i‖².</summary>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B, d] vectors (same B, d, dtype, device).</param>
    /// <returns>[B], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("SquaredEuclideanPaired")>]
    let squaredEuclideanPaired (a: VectorBatch, b: VectorBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> a.Values.sub(b.Values).pow(Scalars.sc 2.0).sum (1L))

    /// <summary>Pairwise squared Euclidean distances ‖a_i − b_j‖², streamed in blocks.</summary>
    /// <remarks>One matrix product per block on centred inputs; cancelling entries recomputed from differences.</remarks>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B', d] vectors (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], non-negative, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("SquaredEuclideanPairwise")>]
    let squaredEuclideanPairwise (a: VectorBatch, b: VectorBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> squaredEuclideanPlan a b blockSize)

    /// <summary>Paired Euclidean distances ‖a_i − b_i‖₂ (gradient 0 where a_i = b_i).</summary>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B, d] vectors (same B, d, dtype, device).</param>
    /// <returns>[B], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("EuclideanPaired")>]
    let euclideanPaired (a: VectorBatch, b: VectorBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> rowNorm 2.0 (a.Values.sub b.Values))

    /// <summary>Pairwise Euclidean distances ‖a_i − b_j‖₂, accurate near zero, streamed in blocks.</summary>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B', d] vectors (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], non-negative, differentiable (gradient 0 where a_i = b_j).</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("EuclideanPairwise")>]
    let euclideanPairwise (a: VectorBatch, b: VectorBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> euclideanPlan a b blockSize)

    /// <summary>Paired cosine distances 1 − ⟨a_i, b_i⟩ / (‖a_i‖ ‖b_i‖), clamped to [0, 2].</summary>
    /// <remarks>A zero vector has distance 1 to every vector (its normalised form is taken as 0).</remarks>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B, d] vectors (same B, d, dtype, device).</param>
    /// <returns>[B] in [0, 2], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("CosinePaired")>]
    let cosinePaired (a: VectorBatch, b: VectorBatch) : Tensor =
        checkedScoped (fun () -> check a b true) (fun () -> unit(a.Values).mul(unit b.Values).sum(1L).neg().add(sc 1.0, sc 1.0).clamp (sc 0.0, sc 2.0))

    /// <summary>Pairwise cosine distances 1 − ⟨a_i, b_j⟩ / (‖a_i‖ ‖b_j‖), clamped to [0, 2], streamed in blocks.</summary>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B', d] vectors (same d, dtype, device).</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'] in [0, 2], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("CosinePairwise")>]
    let cosinePairwise (a: VectorBatch, b: VectorBatch, blockSize: int) : Tensor =
        checkedPlan (fun () -> check a b false) blockSize (fun () -> cosinePlan a b blockSize)

    /// <summary>Paired L_p distances (Σ_k |a_ik − b_ik|^p)^{1/p}, p ≥ 1.</summary>
    /// <remarks>Each row of differences is divided by a power-of-two scale near its largest entry before |·|^p is formed
    /// and the norm multiplied back, so |x|^p does not overflow (float32 above ~3.4e38) where the distance fits.</remarks>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B, d] vectors (same B, d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <returns>[B], differentiable (gradient 0 where a_i = b_i).</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 or not finite (names p); counts, dimensions, dtypes or devices differ (names b).</exception>
    [<CompiledName("LpPaired")>]
    let lpPaired (a: VectorBatch, b: VectorBatch, p: float) : Tensor =
        checkedScoped (fun () -> checkOrder p; check a b true) (fun () -> rowNorm p (a.Values.sub b.Values))

    /// <summary>Pairwise L_p distances (Σ_k |a_ik − b_jk|^p)^{1/p}, p ≥ 1, streamed in blocks.</summary>
    /// <remarks>p = 2 is the accurate Euclidean path; other p use <c>torch.cdist</c> without the matrix-product shortcut.</remarks>
    /// <param name="a">[B, d] vectors.</param>
    /// <param name="b">[B', d] vectors (same d, dtype, device).</param>
    /// <param name="p">The order, finite, ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per block; 0 chooses from a 2^24-element budget.</param>
    /// <returns>[B, B'], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">p &lt; 1 (names p); dimensions, dtypes or devices differ (names b); blockSize &lt; 0.</exception>
    [<CompiledName("LpPairwise")>]
    let lpPairwise (a: VectorBatch, b: VectorBatch, p: float, blockSize: int) : Tensor =
        checkedPlan (fun () -> checkOrder p; check a b false) blockSize (fun () -> lpPlan p a b blockSize)
