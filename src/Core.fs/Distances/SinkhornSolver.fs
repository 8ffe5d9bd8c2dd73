namespace DistEmbed.Core

open System
open TorchSharp

/// <summary>How gradients flow through the Sinkhorn iterations.</summary>
type SinkhornGradient =
    /// <summary>
    /// The iterations run without autograd; one final differentiable half-step from the detached dual potentials,
    /// with the cost recomputed from the inputs, carries the gradient (envelope / Danskin theorem: the gradient of
    /// the optimal value with respect to the cost is the plan, with respect to the weights the potentials).
    /// Memory O(B·T·T') whatever the number of iterations. The default.
    /// </summary>
    | Envelope = 0
    /// <summary>Every iteration is recorded on the autograd tape (memory grows with the number of iterations).</summary>
    | Unrolled = 1

/// <summary>What a Sinkhorn solve does when it stops at the iteration cap without meeting the tolerance.</summary>
type SinkhornNonConvergence =
    /// <summary>Return the unconverged values; the outcome is still recorded (<see cref="T:DistEmbed.Core.SinkhornDiagnostics"/>, <c>SinkhornResult.Converged</c>).</summary>
    | Ignore = 0
    /// <summary>Return the values and write one warning line to standard error (once per distance object; once per <c>Sinkhorn.Solve</c> call). The default.</summary>
    | Warn = 1
    /// <summary>Throw <see cref="T:DistEmbed.Core.SinkhornNotConvergedException"/>.</summary>
    | Throw = 2

/// <summary>
/// Thrown by a Sinkhorn solve whose options say <see cref="F:DistEmbed.Core.SinkhornNonConvergence.Throw"/> when the
/// iteration cap is reached before the marginal error meets the tolerance.
/// </summary>
type SinkhornNotConvergedException(message: string, iterations: int, marginalError: float, tolerance: float) =
    inherit InvalidOperationException(message)
    /// <summary>The iterations run (ε-scaling levels included).</summary>
    member _.Iterations = iterations
    /// <summary>The final L1 row-marginal error Σ_i |Σ_j P_ij − a_i| (the largest over the pairs of the solve).</summary>
    member _.MarginalError = marginalError
    /// <summary>The tolerance it did not meet.</summary>
    member _.Tolerance = tolerance

/// <summary>Options of the batched log-domain Sinkhorn solver.</summary>
/// <remarks>
/// Build them with <see cref="M:DistEmbed.Core.SinkhornOptions.Create(System.Double)"/> and change fields with
/// F#'s <c>{ o with … }</c> (from C#, call the record constructor with every field).
/// </remarks>
type SinkhornOptions =
    { /// <summary>The entropic regularisation ε &gt; 0, in units of the cost (absolute, not relative).</summary>
      Epsilon: float
      /// <summary>The exponent p of the ground cost C(x, y) = ‖x − y‖₂^p: 2 (squared Euclidean, default) or 1 (Euclidean).</summary>
      Power: int
      /// <summary>The iteration cap (≥ 1) at the target ε; one iteration updates both potentials. ε-scaling adds one iteration per intermediate level.</summary>
      MaxIterations: int
      /// <summary>Stop when, for every pair, the L1 error of the row marginal Σ_i |Σ_j P_ij − a_i| is ≤ Tolerance (&gt; 0); the column marginal is exact after each iteration.</summary>
      Tolerance: float
      /// <summary>Check the marginal error every CheckEvery (≥ 1) iterations: each check is one device-to-host synchronisation.</summary>
      CheckEvery: int
      /// <summary>
      /// ε-scaling ratio q: 0 turns ε-scaling off; q ∈ (0, 1) starts at ε₀ = max C over the pairs of non-zero weight (padding excluded) of the batch and runs one
      /// iteration at each level ε₀, ε₀q, ε₀q², … above ε before iterating at ε.
      /// </summary>
      EpsilonScaling: float
      /// <summary>How gradients flow (<see cref="F:DistEmbed.Core.SinkhornGradient.Envelope"/> by default).</summary>
      Gradient: SinkhornGradient
      /// <summary>
      /// How many pairs one batched solve handles at most in the distance objects (≥ 1): bounds memory at O(BlockSize·T·T').
      /// Pairwise matrices are computed (and streamed by <c>PairwiseBlocks</c>) in tiles of BlockSize × BlockSize pairs.
      /// </summary>
      BlockSize: int
      /// <summary>Whether <c>Sinkhorn.solve</c> returns the transport plan [B, T, T'] (false: <c>Plan</c> is null).</summary>
      KeepPlan: bool
      /// <summary>What a solve that reaches MaxIterations without meeting the tolerance does (<see cref="F:DistEmbed.Core.SinkhornNonConvergence.Warn"/> by default).</summary>
      OnNonConvergence: SinkhornNonConvergence }

    /// <summary>
    /// Default options for a given ε: p = 2, at most 1000 iterations, tolerance 1e-6 checked every 10 iterations,
    /// no ε-scaling, envelope gradients, blocks of 256 pairs, no plan returned, a warning on non-convergence.
    /// </summary>
    /// <param name="epsilon">The entropic regularisation ε &gt; 0 in cost units (e.g. 0.05 × the mean cost).</param>
    /// <returns>The options record.</returns>
    static member Create(epsilon: float) =
        { Epsilon = epsilon
          Power = 2
          MaxIterations = 1000
          Tolerance = 1e-6
          CheckEvery = 10
          EpsilonScaling = 0.0
          Gradient = SinkhornGradient.Envelope
          BlockSize = 256
          KeepPlan = false
          OnNonConvergence = SinkhornNonConvergence.Warn }

/// <summary>The outcome of a batched Sinkhorn solve between B pairs of distributions (a_i, b_i).</summary>
/// <remarks>Disposing the result disposes its tensors.</remarks>
type SinkhornResult =
    { /// <summary>The primal transport cost ⟨P, C⟩ = Σ_ij P_ij C_ij of the entropic plan, [B].</summary>
      TransportCost: torch.Tensor
      /// <summary>The entropic cost OT_ε = ⟨F, a⟩ + ⟨G, b⟩ (the dual objective, = ⟨P, C⟩ + ε·KL(P | a⊗b) at convergence), [B].</summary>
      EntropicCost: torch.Tensor
      /// <summary>The plan P_ij = a_i b_j exp((F_i + G_j − C_ij)/ε), [B, T, T'], when <c>KeepPlan</c> is set; null otherwise.</summary>
      Plan: torch.Tensor
      /// <summary>The dual potential on a's points, [B, T], in cost units (zero at padding).</summary>
      F: torch.Tensor
      /// <summary>The dual potential on b's points, [B, T'], in cost units (zero at padding).</summary>
      G: torch.Tensor
      /// <summary>The number of iterations run (ε-scaling levels included).</summary>
      Iterations: int
      /// <summary>The L1 marginal error of the returned plan, ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁, [B].</summary>
      MarginalError: torch.Tensor
      /// <summary>Whether the iterations met the tolerance for every pair before MaxIterations (false: the values are those of an unconverged plan).</summary>
      Converged: bool }

    interface IDisposable with
        member this.Dispose() =
            for t in [ this.TransportCost; this.EntropicCost; this.Plan; this.F; this.G; this.MarginalError ] do
                if not (isNull t) then t.Dispose()

/// <summary>
/// The convergence record of the Sinkhorn solves a distance object has run (every batched solve: each block of
/// pairs and, for the divergence, each self term): how many, how many stopped at the iteration cap, the largest
/// final marginal error and the last solve's figures. Thread-safe; <see cref="M:DistEmbed.Core.SinkhornDiagnostics.Reset"/> starts over.
/// </summary>
/// <remarks>
/// The marginal error is the stopping criterion's L1 row-marginal error Σ_i |Σ_j P_ij − a_i| of the final plan
/// (the column marginal is exact after each iteration), the largest over the pairs of a solve. A converged solve
/// records the value measured at its last check (≤ Tolerance); an unconverged one the error after its last iteration.
/// </remarks>
[<Sealed; AllowNullLiteral>]
type SinkhornDiagnostics() =
    let gate = obj ()
    let mutable solves = 0L
    let mutable unconverged = 0L
    let mutable maxError = 0.0
    let mutable maxUnconvergedError = 0.0
    let mutable lastIterations = 0
    let mutable lastError = 0.0
    let mutable lastConverged = true
    /// <summary>Batched solves recorded since creation or the last reset.</summary>
    member _.Solves = lock gate (fun () -> solves)
    /// <summary>Of those, the solves that stopped at the iteration cap with the marginal error above the tolerance.</summary>
    member _.UnconvergedSolves = lock gate (fun () -> unconverged)
    /// <summary>The largest final marginal error of any recorded solve (0 when none).</summary>
    member _.MaxMarginalError = lock gate (fun () -> maxError)
    /// <summary>The largest final marginal error of the unconverged solves (0 when none).</summary>
    member _.MaxUnconvergedMarginalError = lock gate (fun () -> maxUnconvergedError)
    /// <summary>The iterations of the last recorded solve (ε-scaling levels included).</summary>
    member _.LastIterations = lock gate (fun () -> lastIterations)
    /// <summary>The final marginal error of the last recorded solve.</summary>
    member _.LastMarginalError = lock gate (fun () -> lastError)
    /// <summary>Whether the last recorded solve met the tolerance (true when none was recorded).</summary>
    member _.LastConverged = lock gate (fun () -> lastConverged)
    /// <summary>Records one solve.</summary>
    /// <param name="iterations">Iterations run.</param>
    /// <param name="marginalError">Its final marginal error (NaN counts as +∞).</param>
    /// <param name="converged">Whether it met the tolerance.</param>
    member _.Record(iterations: int, marginalError: float, converged: bool) =
        let e = if Double.IsNaN marginalError then Double.PositiveInfinity else marginalError
        lock gate (fun () ->
            solves <- solves + 1L
            if not converged then
                unconverged <- unconverged + 1L
                maxUnconvergedError <- max maxUnconvergedError e
            maxError <- max maxError e
            lastIterations <- iterations
            lastError <- e
            lastConverged <- converged)
    /// <summary>Forgets every recorded solve.</summary>
    member _.Reset() =
        lock gate (fun () ->
            solves <- 0L
            unconverged <- 0L
            maxError <- 0.0
            maxUnconvergedError <- 0.0
            lastIterations <- 0
            lastError <- 0.0
            lastConverged <- true)

/// <summary>The outcome of a batched unbalanced Sinkhorn solve between B pairs of measures (a_i, b_i) with masses.</summary>
/// <remarks>Disposing the result disposes its tensors.</remarks>
type UnbalancedSinkhornResult =
    { /// <summary>⟨P, C⟩ of the plan, [B] (what POT 0.8.2's <c>ot.unbalanced.sinkhorn_unbalanced2</c> returns, for the counting reference).</summary>
      TransportCost: torch.Tensor
      /// <summary>
      /// The dual value OT_ε,ρ = Σ_i a_i φ(F_i) + Σ_j b_j φ(G_j) − ε Σ_ij (P_ij − μ_i ν_j), φ(t) = ρ(1 − e^{−t/ρ}),
      /// equal at convergence to min ⟨P, C⟩ + ε KL(P | μ⊗ν) + ρ KL(P1 | a) + ρ KL(Pᵀ1 | b), [B].
      /// </summary>
      EntropicCost: torch.Tensor
      /// <summary>The mass Σ_ij P_ij of the plan, [B].</summary>
      Mass: torch.Tensor
      /// <summary>The plan P_ij = μ_i ν_j exp((F_i + G_j − C_ij)/ε), [B, T, T'], when <c>KeepPlan</c> is set; null otherwise.</summary>
      Plan: torch.Tensor
      /// <summary>The potential on a's points, [B, T] (zero at zero mass).</summary>
      F: torch.Tensor
      /// <summary>The potential on b's points, [B, T'] (zero at zero mass).</summary>
      G: torch.Tensor
      /// <summary>The iterations run.</summary>
      Iterations: int
      /// <summary>The largest change of a potential over ε in the last checked iteration, max(‖ΔF‖∞, ‖ΔG‖∞)/ε (the largest over the pairs).</summary>
      Residual: float
      /// <summary>Whether the residual met the tolerance before MaxIterations.</summary>
      Converged: bool }

    interface IDisposable with
        member this.Dispose() =
            for t in [ this.TransportCost; this.EntropicCost; this.Mass; this.Plan; this.F; this.G ] do
                if not (isNull t) then t.Dispose()

/// <summary>
/// The batched log-domain Sinkhorn solver behind <see cref="T:DistEmbed.Core.Sinkhorn"/>: cost matrices, log-weights,
/// the half-steps, the cross and symmetric iterations (with ε-scaling), the solves, the debiased combination and the
/// non-convergence policy. The iteration, the gradients and the references are described on the <c>Sinkhorn</c>
/// module; the distance objects and their blocking are in <c>SinkhornDistances</c>.
/// </summary>
module internal SinkhornSolver =

    type Tensor = torch.Tensor

    // Scalar arguments live in a `use` binding until the native call returns: TorchSharp 0.107 does not track
    // Scalars in dispose scopes, and the finalizer of a temporary Scalar can free it while a native call still
    // reads it (seen as "Unknown scalar type" under parallel tests).

    /// A Scalar 1 that lives as long as the process (the alpha of additions).
    let private unitScalar = lazy (Scalars.sc 1.0)

    let private mulBy (t: Tensor) (x: float) =
        use s = Scalars.fresh x
        t.mul s

    let private addBy (t: Tensor) (x: float) =
        use s = Scalars.fresh x
        t.add(s, unitScalar.Force())

    let private clampMin (t: Tensor) (x: float) =
        use s = Scalars.fresh x
        t.clamp_min s

    let private positive (t: Tensor) =
        use s = Scalars.fresh 0.0
        t.gt s

    let private fillLike (t: Tensor) (x: float) =
        use s = Scalars.fresh x
        torch.full_like(t, s)

    /// x + y. TorchSharp's Tensor.add(Tensor) passes a temporary alpha Scalar, which the finalizer can free during
    /// the native call; this passes a Scalar that is never collected.
    let private plus (x: Tensor) (y: Tensor) = x.add(y, unitScalar.Force())

    /// x · x (TorchSharp's square() is pow(2) with a temporary Scalar).
    let private squared (x: Tensor) = x * x

    /// t with zeros where mask is false.
    let private masked (mask: Tensor) (t: Tensor) =
        use s = Scalars.fresh 0.0
        t.masked_fill(mask.logical_not (), s)

    /// The value of a one-element tensor on the host (one synchronisation); item reads the memory directly, unlike
    /// ToDouble, which goes through a temporary Scalar.
    let private toHost (t: Tensor) : float = t.to_type(torch.float64).item<float>()

    // ----------------------------------------------------------------------------------------------------------------
    // Validation

    let checkOptions (o: SinkhornOptions) =
        Validation.notNull "options" o
        if Double.IsNaN o.Epsilon || Double.IsInfinity o.Epsilon || o.Epsilon <= 0.0 then
            Validation.fail "options" $"options.Epsilon = {o.Epsilon} is invalid; the entropic regularisation ε must be a finite number > 0."
        if o.Power <> 1 && o.Power <> 2 then
            Validation.fail "options" $"options.Power = {o.Power} is invalid; valid values: 1 (cost ‖x − y‖) and 2 (cost ‖x − y‖², the default)."
        if o.MaxIterations < 1 then
            Validation.fail "options" $"options.MaxIterations = {o.MaxIterations} is invalid; it must be ≥ 1."
        if Double.IsNaN o.Tolerance || Double.IsInfinity o.Tolerance || o.Tolerance <= 0.0 then
            Validation.fail "options" $"options.Tolerance = {o.Tolerance} is invalid; it must be a finite number > 0."
        if o.CheckEvery < 1 then
            Validation.fail "options" $"options.CheckEvery = {o.CheckEvery} is invalid; it must be ≥ 1."
        if Double.IsNaN o.EpsilonScaling || o.EpsilonScaling < 0.0 || o.EpsilonScaling >= 1.0 then
            Validation.fail "options" $"options.EpsilonScaling = {o.EpsilonScaling} is invalid; it must lie in [0, 1): 0 turns ε-scaling off, q in (0, 1) is the ratio between successive ε levels."
        if not (Enum.IsDefined(typeof<SinkhornGradient>, o.Gradient)) then
            Validation.fail "options" $"options.Gradient = {int o.Gradient} is invalid; valid values: Envelope, Unrolled."
        if o.BlockSize < 1 then
            Validation.fail "options" $"options.BlockSize = {o.BlockSize} is invalid; it must be ≥ 1."
        if not (Enum.IsDefined(typeof<SinkhornNonConvergence>, o.OnNonConvergence)) then
            Validation.fail "options" $"options.OnNonConvergence = {int o.OnNonConvergence} is invalid; valid values: Ignore, Warn, Throw."

    // ----------------------------------------------------------------------------------------------------------------
    // Cost and log-weights

    /// ‖x_i − y_j‖² by the expansion ‖x‖² + ‖y‖² − 2x·y (one batched matrix product), [B,T,T'], differentiable.
    let private expandedSquared (x: Tensor) (y: Tensor) : Tensor =
        let xx = (squared x).sum(-1L, keepdim = true)
        let yy = (squared y).sum(-1L).unsqueeze 1L
        clampMin (plus (plus (mulBy (torch.bmm(x, y.transpose(1L, 2L))) -2.0) xx) yy) 0.0

    /// ‖x_i − y_j‖² from the differences (exact to rounding, 0 for coincident points), without autograd, in chunks
    /// of about 2^22 elements so that no [B,T,T',d] tensor is formed.
    let private exactSquared (x: Tensor) (y: Tensor) : Tensor =
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope()
        let b, t, t2, d = x.shape.[0], x.shape.[1], y.shape.[1], x.shape.[2]
        let rows = max 1L ((1L <<< 22) / max 1L (t2 * d))
        let chunk (xs: Tensor) (ys: Tensor) = DistanceKernels.scoped (fun () -> (squared (xs.unsqueeze 2L - ys.unsqueeze 1L)).sum(-1L))
        let result =
            if rows >= t then
                let items = rows / t
                torch.cat([| for s in 0L .. items .. b - 1L -> chunk (x.narrow(0L, s, min items (b - s))) (y.narrow(0L, s, min items (b - s))) |], 0L)
            else
                torch.stack(
                    [| for i in 0L .. b - 1L ->
                           let xi, yi = x.narrow(0L, i, 1L), y.narrow(0L, i, 1L)
                           torch.cat([| for r in 0L .. rows .. t - 1L -> chunk (xi.narrow(1L, r, min rows (t - r))) yi |], 1L).squeeze 0L |], 0L)
        result.MoveToOuterDisposeScope()

    /// The cost ‖x_i − y_j‖^p between x [B,T,d] and y [B,T',d] (both already centred), [B,T,T'].
    /// p = 2 uses the expansion (its rounding error, of order machine ε·‖x‖², is harmless). p = 1 takes the square
    /// root of the exact squared distances in float64, because the root would turn the expansion's rounding error at
    /// coincident points into an error of order sqrt(machine ε)·‖x‖; the gradient comes from the expansion
    /// (mathematically the same derivative), and is 0 (a subgradient, not NaN) where x_i = y_j.
    let pairCost (power: int) (x: Tensor) (y: Tensor) : Tensor =
        if power = 2 then expandedSquared x y
        else
            let dtype = x.dtype
            let x, y = x.to_type torch.float64, y.to_type torch.float64
            let exact = exactSquared x y
            let sq =
                if torch.is_grad_enabled () && (x.requires_grad || y.requires_grad) then
                    let live = expandedSquared x y
                    plus live ((exact - live).detach())
                else exact
            let nonzero = positive sq
            let root = torch.where(nonzero, sq, torch.ones_like sq).sqrt()
            torch.where(nonzero, root, torch.zeros_like sq).to_type dtype

    /// A per-item centre [B,1,d] (detached): the cost is translation invariant, and centring keeps the expansion of
    /// the squared distance from cancelling catastrophically when the points sit far from the origin.
    let private centre (x: Tensor) (wa: Tensor) (y: Tensor) (wb: Tensor) : Tensor =
        use _ = torch.no_grad ()
        let mx = (wa.detach().unsqueeze(-1L) * x.detach()).sum(1L, keepdim = true)
        let my = (wb.detach().unsqueeze(-1L) * y.detach()).sum(1L, keepdim = true)
        mulBy (plus mx my) 0.5

    /// log w with log 0 = −∞, without NaN gradients at the zeros (the clamp keeps the unused branch finite).
    let private logWeights (w: Tensor) : Tensor =
        let tiny = if w.dtype = torch.float32 then 1e-37 else 1e-300
        torch.where(positive w, (clampMin w tiny).log(), fillLike w Double.NegativeInfinity)

    // ----------------------------------------------------------------------------------------------------------------
    // Half-steps

    /// ‖x_i − y_j‖² for the iterations (no autograd): one batched product accumulated onto ‖x_i‖² (baddbmm), then
    /// ‖y_j‖² added and the clamp at 0 in place, so that the only [B,T,T'] allocation is the result.
    let private squaredNoGrad (x: Tensor) (y: Tensor) : Tensor =
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope()
        let xx = (squared x).sum(-1L, keepdim = true)
        let yy = (squared y).sum(-1L).unsqueeze 1L
        use zero = Scalars.fresh 0.0
        // TorchSharp's Tensor.baddbmm(batch2, input, β, α) is β·input + α·(this @ batch2).
        let r = x.baddbmm(y.transpose(1L, 2L), xx, 1.0f, -2.0f)
        r.add_(yy, unitScalar.Force()).clamp_min_(zero).MoveToOuterDisposeScope()

    /// ln 2 and log₂ e.
    let private ln2 = Math.Log 2.0
    let private log2e = 1.0 / Math.Log 2.0

    /// The base-2 kernel k₂ = −C/(ε ln 2) = log₂ e^{−C/ε} at the target ε, without autograd, [B,T,T'] (the cost is
    /// scaled in place). The no-autograd iterations work in base 2: libtorch's exp2 (SLEEF, 1 ulp) runs several
    /// times faster on the CPU than its exp (MKL's high-accuracy exp), and exp(x) = 2^(x·log₂ e).
    let private kernelNoGrad (power: int) (x: Tensor) (y: Tensor) (eps: float) : Tensor =
        use _ = torch.no_grad ()
        let c = if power = 2 then squaredNoGrad x y else pairCost power x y
        use s = Scalars.fresh (-log2e / eps)
        c.mul_ s

    /// The base-2 exponent below which 2^x is taken at the floor instead: 2^floor is still a normal number (float32's
    /// smallest is 2^−126, float64's 2^−1022), so the exponential never underflows into denormals. Underflow is what
    /// made Sinkhorn slow at small ε (libtorch's exp took a slow path for every result that underflowed, 60 % of a
    /// training step; denormal sums are slow too). Each floored term adds at most 2^floor to a sum that is ≥ 1 (its
    /// largest term is 2^0), far below one unit in the last place, so the result is unchanged.
    let private expFloor (dtype: torch.ScalarType) = if dtype = torch.float64 then -1000.0 else -115.0

    /// The scratch space of the no-autograd iterations: one buffer of B·T·T' elements (viewed as [B,T,T'] or
    /// [B,T',T]) and, on the CPU, the row minima of each kernel it has served (computed once per kernel), which bound
    /// the exponents from below so that the floor can be skipped when nothing can underflow.
    type private Scratch(buffer: Tensor) =
        let lows = System.Collections.Generic.Dictionary<Tensor, Tensor>(HashIdentity.Reference)
        /// The buffer.
        member _.Buffer = buffer
        /// min_j k_ij [B,R] of a kernel k [B,R,S], or null off the CPU (there the floor is always applied: a skipped
        /// pass is not worth a device-to-host synchronisation).
        member _.LowOf(k: Tensor) : Tensor =
            if k.device_type <> DeviceType.CPU then null
            else
                match lows.TryGetValue k with
                | true, low -> low
                | _ ->
                    // Owned by the scratch space, not by the dispose scope of the half-step that asked first.
                    let low = (use _ = torch.no_grad () in k.amin([| 2L |], false, null)).DetachFromDisposeScope()
                    lows.[k] <- low
                    low
        interface IDisposable with
            member _.Dispose() =
                for low in lows.Values do low.Dispose()
                lows.Clear()
                buffer.Dispose()

    /// logsumexp over the last axis of k + h [B,R,S], h [B,1,S] (natural units). Under autograd (no scratch space) k
    /// is the natural kernel and libtorch's logsumexp does it. With scratch space (no autograd) k is the base-2 kernel
    /// k₂ (see kernelNoGrad): s = k₂ + h·log₂ e is formed in the buffer and log₂Σ2^s done there step by step (max,
    /// subtract, floor, exp2, sum, log2), because libtorch's logsumexp allocates a [B,R,S] temporary on every call
    /// and its exp is slow and underflows; the result is converted back (lse = ln 2 · lse₂). The floor pass is
    /// skipped when min_j s_ij − max_j s_ij ≥ floor is guaranteed for every row by min_j k₂_ij + min_j h_j·log₂ e.
    /// A row whose entries are all −∞ gives −∞, as logsumexp does.
    let private lseLast (scratch: Scratch) (k: Tensor) (h: Tensor) : Tensor =
        if isNull (box scratch) then (plus k h).logsumexp(2L)
        else
            use _ = torch.NewDisposeScope()
            let s = scratch.Buffer.view(k.shape)
            s.copy_(k).add_(h, Scalars.sc log2e) |> ignore
            let m = s.amax([| 2L |], true, null)
            let dead = m.isinf()
            use zero = Scalars.fresh 0.0
            m.masked_fill_(dead, zero) |> ignore
            let bound = expFloor k.dtype
            let low = scratch.LowOf k
            let safe =
                not (isNull low)
                && (let lowest = (low.add(h.amin([| 2L |], false, null), Scalars.sc log2e)) - m.squeeze 2L
                    toHost (lowest.min()) >= bound)
            use floor = Scalars.fresh bound
            (if safe then s.sub_(m) else s.sub_(m).clamp_min_(floor)).exp2_() |> ignore
            use minusInfinity = Scalars.fresh Double.NegativeInfinity
            use ln2s = Scalars.fresh ln2
            s.sum(2L).log2_().add_(m.squeeze 2L, unitScalar.Force()).mul_(ln2s).masked_fill_(dead.squeeze 2L, minusInfinity)
                .MoveToOuterDisposeScope()

    /// −ε·logsumexp over dim of (k + h), k the kernel [B,T,T'] (−C/ε; with scratch space its base-2 form, see lseLast),
    /// h broadcastable, in natural units. With a buffer (no autograd) dim must be
    /// the last axis and nothing of size [B,T,T'] is allocated.
    let private softmin (buffer: Scratch) (k: Tensor) (h: Tensor) (dim: int64) (eps: float) : Tensor =
        let lse =
            if isNull (box buffer) then (plus k h).logsumexp(dim)
            else lseLast buffer k h
        mulBy lse -eps

    /// f = −ε log Σ_j b_j exp((g_j − C_ij)/ε), [B,T].
    let private updateF (buffer: Scratch) (k: Tensor) (g: Tensor) (logb: Tensor) eps =
        DistanceKernels.scoped (fun () -> softmin buffer k ((plus (mulBy g (1.0 / eps)) logb).unsqueeze 1L) 2L eps)

    /// g = −ε log Σ_i a_i exp((f_i − C_ij)/ε), [B,T'], from k [B,T,T'] (autograd: a reduction over T).
    let private updateG (buffer: Scratch) (k: Tensor) (f: Tensor) (loga: Tensor) eps =
        DistanceKernels.scoped (fun () -> softmin buffer k ((plus (mulBy f (1.0 / eps)) loga).unsqueeze 2L) 1L eps)

    /// g = −ε log Σ_i a_i exp((f_i − C_ij)/ε), [B,T'], from the contiguous transpose kT = −Cᵀ/ε [B,T',T]: the
    /// reduction runs over the contiguous last axis (a strided reduction over T is several times slower on the CPU).
    let private updateGT (buffer: Scratch) (kT: Tensor) (f: Tensor) (loga: Tensor) eps =
        DistanceKernels.scoped (fun () -> softmin buffer kT ((plus (mulBy f (1.0 / eps)) loga).unsqueeze 1L) 2L eps)

    /// Max over the batch of Σ_i a_i |exp((f_i − f̂_i)/ε) − 1|: the L1 error of the plan's row marginal, given the
    /// next update f̂ (row i of P(f, g) sums to a_i·exp((f_i − f̂_i)/ε)). One host synchronisation.
    let private rowError (f: Tensor) (fNext: Tensor) (wa: Tensor) (maskA: Tensor) (eps: float) : float =
        use _ = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let ratio = (mulBy (f - fNext) (1.0 / eps)).exp()
        let term = wa * (addBy ratio -1.0).abs()
        let e = toHost (torch.where(maskA, term, torch.zeros_like term).sum(1L).max())
        if Double.IsNaN e then Double.PositiveInfinity else e

    /// The ε levels run before the target ε (empty without ε-scaling), from kMin, the smallest entry of the kernel at
    /// the target ε over the real pairs (padding excluded): natural (k = −C/ε, base2 = false) or base 2
    /// (k₂ = −C/(ε ln 2), base2 = true), so that ε₀ = max C over the pairs of non-zero weight.
    let private levels (o: SinkhornOptions) (kMin: float) (base2: bool) : float[] =
        if o.EpsilonScaling = 0.0 then [||]
        else
            let e0 = -o.Epsilon * (if base2 then ln2 else 1.0) * kMin
            Array.unfold (fun e -> if e > o.Epsilon then Some(e, e * o.EpsilonScaling) else None) e0

    /// min k_ij over the pairs with a_i &gt; 0 and b_j &gt; 0 (one host synchronisation; a [B,T,T'] temporary).
    let private realMin (k: Tensor) (maskA: Tensor) (maskB: Tensor) : float =
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope()
        use zero = Scalars.fresh 0.0
        let real = maskA.unsqueeze(2L).logical_and(maskB.unsqueeze 1L)
        toHost (k.detach().masked_fill(real.logical_not (), zero).min())

    let private replace (old: Tensor) (next: Tensor) =
        if not (isNull old) then old.Dispose()
        next

    /// The contiguous transpose of a kernel [B,T,T'] → [B,T',T].
    let private transposed (k: Tensor) = k.transpose(1L, 2L).contiguous()

    /// How the iterations of one batched solve ended: iterations run (ε-scaling levels included), whether the
    /// row-marginal error met the tolerance, and that error (the largest over the batch).
    type Outcome = { Iterations: int; Converged: bool; Error: float }

    /// The outcome from the loop's result: a converged loop carries the error of its last check; otherwise the error
    /// after the last iteration is measured (finalError: one host synchronisation, only at the cap) and a solve that
    /// meets the tolerance there counts as converged too.
    let private outcome (o: SinkhornOptions) (iterations: int) (checkedError: float voption) (finalError: unit -> float) =
        match checkedError with
        | ValueSome e -> { Iterations = iterations; Converged = true; Error = e }
        | ValueNone ->
            let e = finalError ()
            { Iterations = iterations; Converged = (e <= o.Tolerance); Error = e }

    /// Alternating Sinkhorn on the kernel at the target ε [B,T,T'] (−C/ε under autograd; its base-2 form k₂ with
    /// scratch space), kMin its smallest real entry (for ε-scaling; ignored without). Without autograd, buffer (B·T·T'
    /// elements) and kT (the contiguous transpose of k) must be given and no [B,T,T'] tensor is allocated per
    /// iteration; under autograd both are null. Returns (f, g, iterations, the error of the check that met the
    /// tolerance or ValueNone at the cap) with g = T_g(f), so the plan's column marginal is exact and its row error
    /// is what the last check measured.
    let private iterateCross (k: Tensor) (kT: Tensor) (kMin: float) (buffer: Scratch) (loga: Tensor) (logb: Tensor) (wa: Tensor) (maskA: Tensor) (o: SinkhornOptions) =
        let eps = o.Epsilon
        let halfG (k: Tensor) (kT: Tensor) (f: Tensor) e =
            if isNull (box buffer) then updateG null k f loga e else updateGT buffer kT f loga e
        let mutable g = torch.zeros_like logb
        let mutable f: Tensor = null
        let mutable iterations = 0
        for e in levels o kMin (not (isNull (box buffer))) do
            use ke = mulBy k (eps / e)
            use keT = if isNull (box buffer) then null else transposed ke
            f <- replace f (updateF buffer ke g logb e)
            g <- replace g (halfG ke keT f e)
            iterations <- iterations + 1
        f <- replace f (updateF buffer k g logb eps)
        let mutable it = 0
        let mutable fin = false
        let mutable checkedError = ValueNone
        while not fin do
            g <- replace g (halfG k kT f eps)
            it <- it + 1
            if it >= o.MaxIterations then fin <- true
            else
                let fNext = updateF buffer k g logb eps
                let met =
                    it % o.CheckEvery = 0
                    && (let e = rowError f fNext wa maskA eps
                        if e <= o.Tolerance then checkedError <- ValueSome e
                        e <= o.Tolerance)
                if met then
                    fNext.Dispose()
                    fin <- true
                else f <- replace f fNext
        f, g, iterations + it, checkedError

    /// The symmetric fixed point f = T(f) of OT_ε(a, a) by the averaged iteration f ← ½(f + T(f)), on the kernel
    /// at the target ε (symmetric, so every half-step reduces over the last axis); kernel, kMin and buffer as in
    /// iterateCross. Returns f and the outcome (at the cap the error of f against T(f) is measured once).
    let private iterateSelf (k: Tensor) (kMin: float) (buffer: Scratch) (loga: Tensor) (wa: Tensor) (maskA: Tensor) (o: SinkhornOptions) =
        let eps = o.Epsilon
        let t (k: Tensor) (f: Tensor) e = updateF buffer k f loga e
        let schedule = Array.append (levels o kMin (not (isNull (box buffer)))) [| eps |]
        let kernelAt e = if e = eps then k.alias() else mulBy k (eps / e)
        let mutable f =
            use k0 = kernelAt schedule.[0]
            use zero = torch.zeros_like loga
            t k0 zero schedule.[0]
        let average (f: Tensor) (fn: Tensor) = DistanceKernels.scoped (fun () -> mulBy (plus f fn) 0.5)
        for e in schedule.[.. schedule.Length - 2] do
            use ke = kernelAt e
            use fn = t ke f e
            f <- replace f (average f fn)
        let mutable it = 0
        let mutable fin = false
        let mutable result = Unchecked.defaultof<Outcome>
        while not fin do
            use fn = t k f eps
            it <- it + 1
            let atCap = it >= o.MaxIterations
            if atCap || it % o.CheckEvery = 0 then
                let e = rowError f fn wa maskA eps
                if e <= o.Tolerance || atCap then
                    result <- { Iterations = schedule.Length - 1 + it; Converged = (e <= o.Tolerance); Error = e }
                    fin <- true
                else f <- replace f (average f fn)
            else f <- replace f (average f fn)
        f, result

    // ----------------------------------------------------------------------------------------------------------------
    // Solves

    type Cross =
        { Transport: Tensor
          Entropic: Tensor
          Plan: Tensor
          F: Tensor
          G: Tensor
          Outcome: Outcome
          Error: Tensor }

    /// The plan's log-scalings f_i/ε + log a_i [B,T,1] and g_j/ε + log b_j [B,1,T'].
    let private scalings (f: Tensor) (g: Tensor) (loga: Tensor) (logb: Tensor) (eps: float) =
        (plus (mulBy f (1.0 / eps)) loga).unsqueeze 2L, (plus (mulBy g (1.0 / eps)) logb).unsqueeze 1L

    /// P_ij = exp(−C_ij/ε + f_i/ε + log a_i + g_j/ε + log b_j), [B,T,T'].
    let private planOf (c: Tensor) (f: Tensor) (g: Tensor) (loga: Tensor) (logb: Tensor) (eps: float) =
        let rows, cols = scalings f g loga logb eps
        (plus (plus (mulBy c (-1.0 / eps)) rows) cols).exp()

    /// The plan P_ij = 2^(k₂_ij + (f_i/ε + log a_i + g_j/ε + log b_j)·log₂ e) from the base-2 kernel, formed in place
    /// in buffer (no autograd), [B,T,T'].
    let private planInto (buffer: Scratch) (k: Tensor) (f: Tensor) (g: Tensor) (loga: Tensor) (logb: Tensor) (eps: float) =
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope()
        let rows, cols = scalings f g loga logb eps
        let p = buffer.Buffer.view(k.shape)
        p.copy_(k).add_(rows, Scalars.sc log2e).add_(cols, Scalars.sc log2e).exp2_() |> ignore
        p.MoveToOuterDisposeScope()

    let private marginalError (p: Tensor) (wa: Tensor) (wb: Tensor) =
        use _ = torch.no_grad ()
        plus ((p.sum(2L) - wa).abs().sum(1L)) ((p.sum(1L) - wb).abs().sum(1L))


    /// The centred points (the centre is detached, so gradients reach x and y unchanged).
    let centred (x: Tensor) (wa: Tensor) (y: Tensor) (wb: Tensor) =
        let m = centre x wa y wb
        x - m, y - m

    /// The largest |k₂| = C/(ε ln 2) over the real pairs above which float32 iterations run in float64 instead. In
    /// float32 the exponents k₂ + h (h of the size of k₂) carry an absolute rounding error of |k₂|·2⁻²⁴ in base-2
    /// units, i.e. a relative error of about |k₂|·2⁻²⁴·ln 2 in every plan entry and row sum: ≈ 0.3 % at 2¹⁶, while
    /// at |k₂| ≈ 10⁹ (cost 10⁸ × ε) the plan's sums are off by factors of thousands and the transport cost
    /// overflows. Beyond 2¹⁶ the solve promotes its kernel, potentials and plan to float64 (results return in float32).
    let private promoteAbove = 65536.0

    /// The no-autograd base-2 kernel k₂ of x [B,T,d] and y [B,T',d] at ε, with the entries of padding rows and
    /// columns set to 0 (they never enter a sum: their log-weight is −∞), and its smallest entry = −max C/(ε ln 2)
    /// over the real pairs (one host synchronisation). A float32 kernel beyond <c>promoteAbove</c> (or not finite) is
    /// rebuilt in float64 from the float64 points.
    let private preparedKernel (power: int) (x: Tensor) (y: Tensor) (maskA: Tensor) (maskB: Tensor) (eps: float) : Tensor * float =
        use _ = torch.no_grad ()
        let build (x: Tensor) (y: Tensor) =
            use _ = torch.NewDisposeScope()
            let k = kernelNoGrad power x y eps
            use zero = Scalars.fresh 0.0
            k.masked_fill_(maskA.logical_not().unsqueeze 2L, zero).masked_fill_(maskB.logical_not().unsqueeze 1L, zero) |> ignore
            k.MoveToOuterDisposeScope(), toHost (k.min())
        let k, kMin = build x y
        if x.dtype = torch.float32 && not (kMin >= -promoteAbove) then
            k.Dispose()
            build (x.to_type torch.float64) (y.to_type torch.float64)
        else k, kMin

    /// t in dtype (a differentiable cast; t itself when it already has it).
    let private asType (dtype: torch.ScalarType) (t: Tensor) = if isNull t || t.dtype = dtype then t else t.to_type dtype

    /// OT_ε between x [B,T,d] (weights wa [B,T]) and y [B,T',d] (wb [B,T']); with full = true also the plan, the
    /// transport cost and the marginal error.
    let crossSolve (x: Tensor) (wa: Tensor) (y: Tensor) (wb: Tensor) (o: SinkhornOptions) (full: bool) : Cross =
        let eps = o.Epsilon
        let maskA = positive wa
        let maskB = positive wb
        let xc, yc = centred x wa y wb
        let cost (u: Tensor) (v: Tensor) = pairCost o.Power u v
        if o.Gradient = SinkhornGradient.Unrolled && torch.is_grad_enabled () then
            let dual (f: Tensor) (g: Tensor) = plus ((wa * f).sum(1L)) ((wb * g).sum(1L))
            let loga = logWeights wa
            let logb = logWeights wb
            let c = cost xc yc
            let k = mulBy c (-1.0 / eps)
            let kMin = if o.EpsilonScaling = 0.0 then 0.0 else realMin k maskA maskB
            let f, g, iterations, checkedError = iterateCross k null kMin null loga logb wa maskA o
            let result =
                outcome o iterations checkedError (fun () ->
                    use _ = torch.no_grad ()
                    use fNext = updateF null k g logb eps
                    rowError f fNext wa maskA eps)
            let f, g = masked maskA f, masked maskB g
            let plan, transport, error =
                if full then
                    let p = planOf c f g loga logb eps
                    p, (p * c).sum([| 1L; 2L |]), marginalError p wa wb
                else null, null, null
            { Transport = transport; Entropic = dual f g; Plan = plan; F = f; G = g; Outcome = result; Error = error }
        else
            // The iterations run without autograd on k₂ = −C/(ε ln 2), its transpose and one buffer: three [B,T,T'] tensors
            // in all, none allocated per iteration. (Unrolled without autograd is this path too: same iterations.) They run
            // in the kernel's dtype (float64 where a float32 kernel would lose the plan to rounding, see promoteAbove);
            // the results come back in the inputs' dtype.
            let dtype = x.dtype
            let k, kMin = preparedKernel o.Power (xc.detach()) (yc.detach()) maskA maskB eps
            let work = asType k.dtype
            let back = asType dtype
            let waW, wbW = work wa, work wb
            let loga = logWeights (waW.detach())
            let logb = logWeights (wbW.detach())
            let kT, buffer, fs, gs, iterations, checkedError =
                use _ = torch.no_grad ()
                let kT = transposed k
                let buffer = new Scratch(torch.empty_like k)
                let f, g, iterations, checkedError = iterateCross k kT kMin buffer loga logb (waW.detach()) maskA o
                kT, buffer, f, g, iterations, checkedError
            let needGrad = torch.is_grad_enabled () && (x.requires_grad || y.requires_grad)
            let f, g =
                if needGrad then
                    // The envelope step: f from the detached g with C(x, ȳ), g from the detached f with C(x̄, y), so
                    // that ∂OT_ε/∂x = Σ_j P_ij ∂ₓC(x_i, y_j), ∂OT_ε/∂y = Σ_i P_ij ∂ᵧC(x_i, y_j), ∂OT_ε/∂a = f,
                    // ∂OT_ε/∂b = g.
                    kT.Dispose()
                    let cx, cy = cost (work xc) (work (yc.detach())), cost (work (xc.detach())) (work yc)
                    masked maskA (updateF null (mulBy cx (-1.0 / eps)) gs logb eps),
                    masked maskB (updateG null (mulBy cy (-1.0 / eps)) fs loga eps)
                else
                    let f = masked maskA (updateF buffer k gs logb eps)
                    let g = masked maskB (updateGT buffer kT fs loga eps)
                    kT.Dispose()
                    f, g
            // f = T_f(g) from the iterations' g: the next update, against which the row error of the plan is measured.
            let result = outcome o iterations checkedError (fun () -> rowError fs (f.detach()) (waW.detach()) maskA eps)
            let plan, transport, error =
                if full then
                    let p = planInto buffer k fs gs loga logb eps
                    let error = marginalError p waW wbW
                    let transport =
                        if needGrad then (p * cost (work xc) (work yc)).sum([| 1L; 2L |])
                        else
                            // ⟨P, C⟩ = −ε ln 2 ⟨P, k₂⟩; in place when the plan is not returned.
                            use _ = torch.no_grad ()
                            let pk = if o.KeepPlan then p * k else p.mul_ k
                            mulBy (pk.sum([| 1L; 2L |])) (-eps * ln2)
                    (if o.KeepPlan then back p else null), back transport, back error
                else null, null, null
            // The plan, when kept, is a view of the buffer: it holds the storage after the buffer's handle goes.
            (buffer :> IDisposable).Dispose()
            k.Dispose()
            let entropic = plus ((waW * f).sum(1L)) ((wbW * g).sum(1L))
            { Transport = transport; Entropic = back entropic; Plan = plan; F = back f; G = back g; Outcome = result; Error = error }

    /// OT_ε(a, a) = 2⟨a, f⟩ at the symmetric fixed point f = T(f), [B], and the outcome of the iterations.
    let selfSolve (x: Tensor) (wa: Tensor) (o: SinkhornOptions) : Tensor * Outcome =
        let eps = o.Epsilon
        let maskA = positive wa
        let xc, _ = centred x wa x wa
        let cost (u: Tensor) (v: Tensor) = pairCost o.Power u v
        let value buffer (k: Tensor) (f: Tensor) (loga: Tensor) (wa: Tensor) =
            let ft = masked maskA (updateF buffer k f loga eps)
            mulBy ((wa * ft).sum(1L)) 2.0
        if o.Gradient = SinkhornGradient.Unrolled && torch.is_grad_enabled () then
            let loga = logWeights wa
            let k = mulBy (cost xc xc) (-1.0 / eps)
            let kMin = if o.EpsilonScaling = 0.0 then 0.0 else realMin k maskA maskA
            let f, result = iterateSelf k kMin null loga wa maskA o
            value null k f loga wa, result
        else
            let dtype = x.dtype
            let k, kMin = preparedKernel o.Power (xc.detach()) (xc.detach()) maskA maskA eps
            let work = asType k.dtype
            let waW = work wa
            let loga = logWeights (waW.detach())
            let buffer, fs, result =
                use _ = torch.no_grad ()
                let buffer = new Scratch(torch.empty_like k)
                let fs, result = iterateSelf k kMin buffer loga (waW.detach()) maskA o
                buffer, fs, result
            // Envelope: d/dx_i OT_ε(a, a) = 2 Σ_j P_ij ∂₁C(x_i, x_j) by symmetry, which C(x, x̄) in the half-step gives.
            let value =
                if torch.is_grad_enabled () && x.requires_grad then
                    value null (mulBy (cost (work xc) (work (xc.detach()))) (-1.0 / eps)) fs loga waW
                else value buffer k fs loga waW
            (buffer :> IDisposable).Dispose()
            k.Dispose()
            asType dtype value, result

    /// S_ε = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b) from its three terms (broadcast), formed in float64 and returned
    /// as max(S_ε, 0) in the terms' dtype. S_ε ≥ 0 holds exactly [3, Thm. 1]; a computed value below 0 is rounding of
    /// the three terms (each carries a relative error of a few units of the dtype's machine ε — in float32 about
    /// 6·10⁻⁸·|OT_ε| — which does not cancel: equal float32 inputs at coordinates ~10⁶ gave S_ε ≈ −10⁵ unclamped) or
    /// an unconverged solve (reported as such), so the clamp changes the value by at most that error.
    let debiased (cross: Tensor) (selfA: Tensor) (selfB: Tensor) =
        let f64 = asType torch.float64
        let s = cross |> f64 |> fun c -> c - mulBy (plus (f64 selfA) (f64 selfB)) 0.5
        asType cross.dtype (clampMin s 0.0)

    // ----------------------------------------------------------------------------------------------------------------
    // Unbalanced transport (KL-relaxed marginals)

    /// The outcome of a batched unbalanced solve: ⟨P, C⟩ (plan held fixed under Envelope), the dual value, the plan's
    /// mass, the plan (when asked for), the potentials and the iteration record.
    type Unbalanced =
        { Transport: Tensor
          Dual: Tensor
          Mass: Tensor
          Plan: Tensor
          F: Tensor
          G: Tensor
          Outcome: Outcome }

    /// φ(t) = ρ(1 − e^{−t/ρ}) = −ρ·expm1(−t/ρ), the dual term of ρ·KL (Séjourné et al. 2019, the dual with
    /// φ*(q) = ρ(e^{q/ρ} − 1)); t itself for ρ = ∞.
    let private dualMarginal (rho: float) (t: Tensor) =
        if Double.IsPositiveInfinity rho then t
        else mulBy ((mulBy t (-1.0 / rho)).expm1()) -rho

    /// Unbalanced entropic OT between masses wa [B,T] on x [B,T,d] and wb [B,T'] on y [B,T',d] (not normalised):
    /// min_P ⟨P, C⟩ + ε KL(P | μ⊗ν) + ρ KL(P1 | a) + ρ KL(Pᵀ1 | b), μ⊗ν = a⊗b (product) or the counting measure on
    /// the points of positive mass. Log-domain iterations with λ = ρ/(ρ + ε) (Chizat et al. 2018, Alg. 1 with the
    /// KL proximal step of Prop. 3.6; Séjourné et al. 2019, the aprox form)
    ///   g = λ·(ε log(b/ν) − ε log Σ_i μ_i e^{(f_i − C_ij)/ε}),  f = λ·(ε log(a/μ) − ε log Σ_j ν_j e^{(g_j − C_ij)/ε}),
    /// from f = 0, checked every CheckEvery iterations: stop when max(‖Δf‖∞, ‖Δg‖∞)/ε ≤ Tolerance for every pair.
    /// Envelope: the iterations run without autograd, and the dual value
    ///   D = Σ_i a_i φ(f_i) + Σ_j b_j φ(g_j) − ε Σ_ij (P_ij − μ_i ν_j),  P_ij = μ_i ν_j e^{(f_i + g_j − C_ij)/ε},
    /// is formed from the detached potentials with the cost and the masses live: its gradient is the envelope
    /// gradient (∂D/∂C = P, ∂D/∂a at fixed potentials). Unrolled: the iterations are on the tape.
    let unbalancedSolve (x: Tensor) (wa: Tensor) (y: Tensor) (wb: Tensor) (rho: float) (product: bool) (o: SinkhornOptions) (keepPlan: bool) : Unbalanced =
        let eps = o.Epsilon
        let lambda = if Double.IsPositiveInfinity rho then 1.0 else rho / (rho + eps)
        let maskA = positive wa
        let maskB = positive wb
        let unit (w: Tensor) = w / w.sum(1L, keepdim = true)
        // A per-item centre from the normalised masses (detached; the cost is translation invariant).
        let m = centre x (unit (wa.detach())) y (unit (wb.detach()))
        let xc, yc = x - m, y - m
        let unrolled = o.Gradient = SinkhornGradient.Unrolled && torch.is_grad_enabled ()
        let live (t: Tensor) = if unrolled then t else t.detach()
        // log μ, log ν and ε log(a/μ), ε log(b/ν) (0 off the support).
        let referenceLog (w: Tensor) (mask: Tensor) =
            if product then logWeights w
            else torch.where(mask, torch.zeros_like w, fillLike w Double.NegativeInfinity)
        let shift (w: Tensor) (mask: Tensor) =
            if product then torch.zeros_like w else masked mask (mulBy (logWeights w) eps)
        let iterate (c: Tensor) (wa: Tensor) (wb: Tensor) =
            let k = mulBy c (-1.0 / eps)
            let logMu, logNu = referenceLog wa maskA, referenceLog wb maskB
            let shiftA, shiftB = shift wa maskA, shift wb maskB
            let mutable f = torch.zeros_like wa
            let mutable g = torch.zeros_like wb
            let mutable it = 0
            let mutable result = ValueNone
            while result.IsNone do
                let gNext = DistanceKernels.scoped (fun () -> masked maskB (mulBy (plus shiftB (updateG null k f logMu eps)) lambda))
                let fNext = DistanceKernels.scoped (fun () -> masked maskA (mulBy (plus shiftA (updateF null k gNext logNu eps)) lambda))
                it <- it + 1
                if it % o.CheckEvery = 0 || it >= o.MaxIterations then
                    let change =
                        use _ = torch.no_grad ()
                        use _ = torch.NewDisposeScope()
                        let e = toHost (torch.maximum((fNext - f).abs().amax([| 1L |]), (gNext - g).abs().amax([| 1L |])).max()) / eps
                        if Double.IsNaN e then Double.PositiveInfinity else e
                    if change <= o.Tolerance || it >= o.MaxIterations then
                        result <- ValueSome { Iterations = it; Converged = (change <= o.Tolerance); Error = change }
                f <- replace f fNext
                g <- replace g gNext
            f, g, result.Value
        let f, g, outcome =
            if unrolled then iterate (pairCost o.Power xc yc) wa wb
            else
                use _ = torch.no_grad ()
                iterate (pairCost o.Power (xc.detach()) (yc.detach())) (wa.detach()) (wb.detach())
        let f, g = live f, live g
        let c = pairCost o.Power xc yc
        let logMu, logNu = referenceLog wa maskA, referenceLog wb maskB
        let logRef = plus (logMu.unsqueeze 2L) (logNu.unsqueeze 1L)
        let plan = (plus (mulBy (plus (plus (f.unsqueeze 2L) (g.unsqueeze 1L)) (mulBy c -1.0)) (1.0 / eps)) logRef).exp()
        let dual =
            plus (plus ((wa * dualMarginal rho f).sum(1L)) ((wb * dualMarginal rho g).sum(1L)))
                 (mulBy ((plan - logRef.exp()).sum([| 1L; 2L |])) -eps)
        // ⟨P, C⟩: through the iterations when unrolled, else with the plan held fixed (POT's convention, as balanced).
        let transport = ((if unrolled then plan else plan.detach()) * c).sum([| 1L; 2L |])
        let mass = plan.detach().sum([| 1L; 2L |])
        { Transport = transport
          Dual = dual
          Mass = mass
          Plan = (if keepPlan then plan.detach() else null)
          F = f.detach()
          G = g.detach()
          Outcome = outcome }

    /// S = OT(a, b) − ½OT(a, a) − ½OT(b, b) + (ε/2)(m(a) − m(b))² (Séjourné et al. 2019, the unbalanced Sinkhorn
    /// divergence) from its terms and the masses m [B] (broadcast), in float64, returned as max(S, 0) in the terms'
    /// dtype: S ≥ 0 holds exactly, so a negative value is rounding of the terms or an unconverged solve.
    let unbalancedDebiased (cross: Tensor) (selfA: Tensor) (selfB: Tensor) (massA: Tensor) (massB: Tensor) (eps: float) =
        let f64 = asType torch.float64
        let dm = f64 massA - f64 massB
        let s = plus (f64 cross - mulBy (plus (f64 selfA) (f64 selfB)) 0.5) (mulBy (dm * dm) (0.5 * eps))
        asType cross.dtype (clampMin s 0.0)

    // ----------------------------------------------------------------------------------------------------------------
    // Non-convergence policy

    /// Applies the non-convergence policy of o to one solve's outcome and records it in diagnostics (when not null);
    /// warned holds 1 once this owner (a distance object, a Solve call) has printed its one warning.
    let enforce (o: SinkhornOptions) (diagnostics: SinkhornDiagnostics) (warned: int ref) (name: string) (r: Outcome) =
        if not (isNull diagnostics) then diagnostics.Record(r.Iterations, r.Error, r.Converged)
        if not r.Converged then
            let message =
                String.Format(
                    Globalization.CultureInfo.InvariantCulture,
                    "{0}: Sinkhorn did not converge: marginal error {1:G3} > tolerance {2:G3} after {3} iterations (ε = {4:G4}); the value is that of an unconverged plan. Raise MaxIterations or ε, or use ε-scaling.",
                    name, r.Error, o.Tolerance, r.Iterations, o.Epsilon)
            match o.OnNonConvergence with
            | SinkhornNonConvergence.Throw -> raise (SinkhornNotConvergedException(message, r.Iterations, r.Error, o.Tolerance))
            | SinkhornNonConvergence.Warn ->
                if Threading.Interlocked.Exchange(&warned.contents, 1) = 0 then eprintfn "warning: %s" message
            | _ -> ()
