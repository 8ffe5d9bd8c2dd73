namespace DistEmbed.Core

open System
open TorchSharp

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

/// <summary>A distance computed by Sinkhorn solves, with the convergence record of those solves.</summary>
type ISinkhornDistance =
    inherit IDistance
    /// <summary>The convergence record of every solve this distance has run (see <see cref="T:DistEmbed.Core.SinkhornDiagnostics"/>).</summary>
    abstract Diagnostics: SinkhornDiagnostics

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
/// Batched entropic optimal transport between weighted empirical distributions: log-domain Sinkhorn iterations,
/// the transport cost, the entropic cost, the plan, and the debiased Sinkhorn divergence; float32/float64, any
/// device, padding-aware, differentiable.
/// </summary>
/// <remarks>
/// <para>For a = Σ_i a_i δ_{x_i} and b = Σ_j b_j δ_{y_j} with cost C_ij = ‖x_i − y_j‖₂^p, the entropic problem is</para>
/// <para>OT_ε(a, b) = min_{P ∈ Π(a,b)} ⟨P, C⟩ + ε·KL(P | a⊗b) = max_{f,g} ⟨f, a⟩ + ⟨g, b⟩ − ε⟨a⊗b, e^{(f⊕g−C)/ε} − 1⟩ [1, 2].</para>
/// <para>The solver alternates the log-domain updates [2, §4.4]
/// f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε) and g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε),
/// each one broadcast-add of −C/ε (precomputed once per ε level) and a logsumexp (without autograd: in base 2 with exp2,
/// in one preallocated buffer). Zero weights (padding) enter as
/// log-weights −∞ and drop out of every sum. The plan is P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε).
/// With the entropy taken relative to a⊗b, OT_ε ≥ 0 and the debiased Sinkhorn divergence
/// S_ε(a, b) = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b) is ≥ 0 with S_ε(a, a) = 0 [3, Thm. 1; 4]. The symmetric terms
/// OT_ε(a, a) use the averaged fixed-point iteration f ← ½(f + T(f)) [3, §3.1]. ε-scaling follows [5] and GeomLoss's
/// <c>scaling</c> [3].</para>
/// <para>Cost per iteration: two half-steps, each a few streaming passes over [B, T, T'] (add, max, exp, sum), done
/// in place in one preallocated buffer when autograd is off (no [B, T, T'] allocation per step); the
/// device-to-host synchronisations are one per solve (the largest cost, which sets ε-scaling's ε₀ and whether a
/// float32 solve must run in float64: beyond C/ε = 2¹⁶·ln 2 float32 exponents are too coarse for the plan, and the
/// kernel, potentials and plan are float64, the results float32) and the marginal-error check every
/// <c>CheckEvery</c> iterations. Memory:
/// O(B·T·T') (Envelope) or O(iterations·B·T·T') (Unrolled).</para>
/// <para>References.
/// [1] M. Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013, Eq. (2).
/// [2] G. Peyré, M. Cuturi, "Computational Optimal Transport", Found. Trends Mach. Learn. 11(5–6), 2019, Prop. 4.3 and §4.4 (log-domain Sinkhorn).
/// [3] J. Feydy, T. Séjourné, F.-X. Vialard, S. Amari, A. Trouvé, G. Peyré, "Interpolating between Optimal Transport and MMD using Sinkhorn Divergences", AISTATS 2019 (arXiv:1810.08278), definition of S_ε and Thm. 1.
/// [4] A. Genevay, G. Peyré, M. Cuturi, "Learning Generative Models with Sinkhorn Divergences", AISTATS 2018.
/// [5] B. Schmitzer, "Stabilized Sparse Scaling Algorithms for Entropy Regularized Transport Problems", SIAM J. Sci. Comput. 41(3), 2019, §3.2 (ε-scaling).</para>
/// </remarks>
[<RequireQualifiedAccess>]
module Sinkhorn =

    type private Tensor = torch.Tensor

    /// Applies the non-convergence policy of o to one solve's outcome and records it.
    let private enforce (o: SinkhornOptions) (diagnostics: SinkhornDiagnostics) (warned: int ref) (name: string) (r: SinkhornSolver.Outcome) =
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

    /// Runs compute on consecutive blocks of at most blockSize items of equal-count batches and concatenates.
    let private pairedBlocks (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) (compute: Tensor -> Tensor -> Tensor -> Tensor -> Tensor) =
        let n = a.Count
        if n <= blockSize then SinkhornSolver.scoped (fun () -> compute a.Points a.Weights b.Points b.Weights)
        else
            use _ = torch.NewDisposeScope()
            let parts =
                [| for s in 0 .. blockSize .. n - 1 ->
                       let len = int64 (min blockSize (n - s))
                       let part (t: Tensor) = t.narrow(0L, int64 s, len)
                       SinkhornSolver.scoped (fun () -> compute (part a.Points) (part a.Weights) (part b.Points) (part b.Weights)) |]
            torch.cat(parts, 0L).MoveToOuterDisposeScope()

    /// Runs compute on every pair (a_i, b_j), blockSize pairs at a time, and returns the [B, B'] matrix.
    let private pairwiseBlocks (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) (compute: Tensor -> Tensor -> Tensor -> Tensor -> Tensor) =
        use _ = torch.NewDisposeScope()
        let n, m = a.Count, b.Count
        let total = n * m
        let device = a.Points.device
        let parts =
            [| for s in 0 .. blockSize .. total - 1 ->
                   SinkhornSolver.scoped (fun () ->
                       let e = min total (s + blockSize)
                       let ia = torch.tensor([| for p in s .. e - 1 -> int64 (p / m) |], device = device)
                       let ib = torch.tensor([| for p in s .. e - 1 -> int64 (p % m) |], device = device)
                       compute (a.Points.index_select(0L, ia)) (a.Weights.index_select(0L, ia))
                               (b.Points.index_select(0L, ib)) (b.Weights.index_select(0L, ib))) |]
        torch.cat(parts, 0L).reshape([| int64 n; int64 m |]).MoveToOuterDisposeScope()

    let private asDistributions (metric: string) (name: string) (batch: IEmbeddingBatch) : DistributionBatch =
        if isNull (box batch) then raise (ArgumentNullException(name, $"{name} must not be null."))
        match batch with
        | :? DistributionBatch as d -> d
        | _ ->
            Validation.fail name $"{name} is a {batch.Representation} batch but '{metric}' accepts Distributions (a DistributionBatch)."

    /// The entry checks of every Paired/Pairwise call: both arguments are compatible distribution batches, of
    /// equal counts when paired.
    let private inputs (metric: string) (a: IEmbeddingBatch) (b: IEmbeddingBatch) (paired: bool) =
        NativeRuntime.EnsureInitialized()
        let a, b = asDistributions metric "a" a, asDistributions metric "b" b
        SinkhornSolver.checkCompatible a b
        if paired then SinkhornSolver.checkSameCount a b
        a, b

    // ----------------------------------------------------------------------------------------------------------------
    // Public API

    /// The symmetric, non-metric distance object of a Sinkhorn distance named name over distribution batches: paired and
    /// pairwise receive the checked batches; diagnostics is the record its solves report to.
    let private sinkhornDistance (name: string) (diagnostics: SinkhornDiagnostics)
                                 (paired: DistributionBatch -> DistributionBatch -> Tensor)
                                 (pairwise: DistributionBatch -> DistributionBatch -> Tensor) : IDistance =
        { new ISinkhornDistance with
            member _.Diagnostics = diagnostics
          interface IDistance with
            member _.Name = name
            member _.IsMetric = false
            member _.IsSymmetric = true
            member _.Accepts = Representation.Distributions
            member _.Paired(a, b) =
                let a, b = inputs name a b true
                paired a b
            member _.Pairwise(a, b) =
                let a, b = inputs name a b false
                pairwise a b }
        :> IDistance

    /// A Sinkhorn distance whose value for each pair is compute x wa y wb, in blocks of blockSize pairs.
    let private transportDistance (name: string) (diagnostics: SinkhornDiagnostics) (blockSize: int) compute : IDistance =
        sinkhornDistance name diagnostics
            (fun a b -> pairedBlocks a b blockSize compute)
            (fun a b -> pairwiseBlocks a b blockSize compute)

    /// <summary>The paired ground-cost matrices C_ij = ‖x_i − y_j‖₂^p between a_k and b_k, k = 1..B.</summary>
    /// <remarks>Padding points are included (their rows/columns carry zero weight in every solve). Differentiable.</remarks>
    /// <param name="a">B distributions, points [B, T, d].</param>
    /// <param name="b">B distributions, points [B, T', d], same d, dtype and device.</param>
    /// <param name="power">p: 2 (squared Euclidean) or 1 (Euclidean).</param>
    /// <returns>[B, T, T'] on the inputs' device, in their dtype.</returns>
    /// <exception cref="T:System.ArgumentException">Incompatible batches or a power other than 1 or 2.</exception>
    [<CompiledName("Cost")>]
    let cost (a: DistributionBatch, b: DistributionBatch, power: int) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        SinkhornSolver.checkCompatible a b
        SinkhornSolver.checkSameCount a b
        if power <> 1 && power <> 2 then
            Validation.fail "power" $"power = {power} is invalid; valid values: 1 (cost ‖x − y‖) and 2 (cost ‖x − y‖²)."
        use _ = torch.NewDisposeScope()
        let xc, yc = SinkhornSolver.centred a.Points a.Weights b.Points b.Weights
        (SinkhornSolver.pairCost power xc yc).MoveToOuterDisposeScope()

    /// <summary>Solves B entropic OT problems (a_i, b_i) in one batch: potentials, costs, and optionally the plan.</summary>
    /// <remarks>
    /// <para>TransportCost = ⟨P, C⟩ (what POT's <c>sinkhorn2</c> returns), EntropicCost = OT_ε = ⟨F, a⟩ + ⟨G, b⟩,
    /// P_ij = a_i b_j exp((F_i + G_j − C_ij)/ε). See the module remarks for the iteration and the references.</para>
    /// <para>Gradients (<c>Envelope</c>): EntropicCost has the exact envelope gradient (∂/∂C = P, ∂/∂a = F,
    /// ∂/∂b = G at convergence); TransportCost gets ⟨P, ∇C⟩ with the plan held fixed (the convention of POT's
    /// <c>sinkhorn2</c>; the term through the plan's dependence on C is dropped); the plan and potentials are
    /// returned detached or from the final half-step. <c>Unrolled</c>: everything is differentiated through the
    /// iterations. One batched solve: memory O(B·T·T') (the distance objects block larger batches).</para>
    /// </remarks>
    /// <param name="a">B distributions, points [B, T, d], weights [B, T].</param>
    /// <param name="b">B distributions, points [B, T', d], weights [B, T']; same d, dtype and device as a.</param>
    /// <param name="options">Solver options (see <see cref="T:DistEmbed.Core.SinkhornOptions"/>).</param>
    /// <returns>The result; TransportCost, EntropicCost, MarginalError [B], F [B, T], G [B, T'], Plan [B, T, T'] or null; Iterations and Converged.</returns>
    /// <exception cref="T:System.ArgumentException">An option is out of range, or the batches differ in count, dimension, dtype or device.</exception>
    /// <exception cref="T:DistEmbed.Core.SinkhornNotConvergedException">MaxIterations was reached above the tolerance and <c>OnNonConvergence</c> is Throw.</exception>
    [<CompiledName("Solve")>]
    let solve (a: DistributionBatch, b: DistributionBatch, options: SinkhornOptions) : SinkhornResult =
        NativeRuntime.EnsureInitialized()
        SinkhornSolver.checkOptions options
        SinkhornSolver.checkCompatible a b
        SinkhornSolver.checkSameCount a b
        use _ = torch.NewDisposeScope()
        let r = SinkhornSolver.crossSolve a.Points a.Weights b.Points b.Weights options true
        enforce options null (ref 0) "sinkhorn" r.Outcome
        { TransportCost = r.Transport.MoveToOuterDisposeScope()
          EntropicCost = r.Entropic.MoveToOuterDisposeScope()
          Plan = if options.KeepPlan then r.Plan.MoveToOuterDisposeScope() else null
          F = r.F.MoveToOuterDisposeScope()
          G = r.G.MoveToOuterDisposeScope()
          Iterations = r.Outcome.Iterations
          MarginalError = r.Error.MoveToOuterDisposeScope()
          Converged = r.Outcome.Converged }

    /// <summary>
    /// The distance <c>sinkhorn</c>: the transport cost ⟨P_ε, C⟩ of the entropic plan (POT's <c>sinkhorn2</c>),
    /// paired [B] and pairwise [B, B'].
    /// </summary>
    /// <remarks>
    /// Not a metric (⟨P_ε, C⟩ &gt; 0 for a = b when ε &gt; 0), symmetric. Pairs are solved BlockSize at a time; each
    /// block stops when all its pairs meet the tolerance, so results depend on the blocking only within the tolerance.
    /// Gradients as in <see cref="M:DistEmbed.Core.Sinkhorn.Solve(DistEmbed.Core.DistributionBatch,DistEmbed.Core.DistributionBatch,DistEmbed.Core.SinkhornOptions)"/>.
    /// The object is an <see cref="T:DistEmbed.Core.ISinkhornDistance"/>: its <c>Diagnostics</c> record every solve's
    /// iterations and final marginal error; a solve that stops at MaxIterations above the tolerance is handled as
    /// <c>OnNonConvergence</c> says (by default one warning line on standard error per distance object).
    /// </remarks>
    /// <param name="options">Solver options.</param>
    /// <returns>An <see cref="T:DistEmbed.Core.IDistance"/> accepting <see cref="T:DistEmbed.Core.DistributionBatch"/> inputs.</returns>
    /// <exception cref="T:System.ArgumentException">An option is out of range.</exception>
    [<CompiledName("Distance")>]
    let distance (options: SinkhornOptions) : IDistance =
        SinkhornSolver.checkOptions options
        let name = "sinkhorn"
        let diagnostics = SinkhornDiagnostics()
        let warned = ref 0
        let compute x wa y wb =
            let r = SinkhornSolver.crossSolve x wa y wb options true
            enforce options diagnostics warned name r.Outcome
            r.Transport
        transportDistance name diagnostics options.BlockSize compute

    /// <summary>
    /// The divergence <c>sinkhorn-divergence</c>: S_ε(a, b) = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b) [3, 4],
    /// paired [B] and pairwise [B, B'].
    /// </summary>
    /// <remarks>
    /// S_ε ≥ 0, S_ε(a, a) = 0, symmetric, not a metric (no triangle inequality) [3, Thm. 1]. Pairwise computes the
    /// self terms once per distribution and the cross terms BlockSize pairs at a time. Envelope gradients are exact
    /// at convergence and finite at a = b. The three terms are combined in float64 and the result is max(S_ε, 0):
    /// a negative value can only be rounding of the terms (a few units of machine ε times |OT_ε|) or an unconverged
    /// solve, which is reported. Convergence: an <see cref="T:DistEmbed.Core.ISinkhornDistance"/> as for <c>Distance</c>,
    /// recording the cross and the self solves.
    /// </remarks>
    /// <param name="options">Solver options (KeepPlan is ignored).</param>
    /// <returns>An <see cref="T:DistEmbed.Core.IDistance"/> accepting <see cref="T:DistEmbed.Core.DistributionBatch"/> inputs.</returns>
    /// <exception cref="T:System.ArgumentException">An option is out of range.</exception>
    [<CompiledName("Divergence")>]
    let divergence (options: SinkhornOptions) : IDistance =
        SinkhornSolver.checkOptions options
        let name = "sinkhorn-divergence"
        let diagnostics = SinkhornDiagnostics()
        let warned = ref 0
        let cross x wa y wb =
            let r = SinkhornSolver.crossSolve x wa y wb options false
            enforce options diagnostics warned name r.Outcome
            r.Entropic
        let selfTerm x wa =
            let value, r = SinkhornSolver.selfSolve x wa options
            enforce options diagnostics warned name r
            value
        let self x wa (_: Tensor) (_: Tensor) = selfTerm x wa
        sinkhornDistance name diagnostics
            (fun a b ->
                pairedBlocks a b options.BlockSize (fun x wa y wb ->
                    SinkhornSolver.debiased (cross x wa y wb) (selfTerm x wa) (selfTerm y wb)))
            (fun a b ->
                use _ = torch.NewDisposeScope()
                let sa = pairedBlocks a a options.BlockSize self
                let sb = pairedBlocks b b options.BlockSize self
                let c = pairwiseBlocks a b options.BlockSize cross
                (SinkhornSolver.debiased c (sa.unsqueeze 1L) (sb.unsqueeze 0L)).MoveToOuterDisposeScope())

    // ----------------------------------------------------------------------------------------------------------------
    // Unbalanced transport

    /// Checks a points tensor [B,T,d] with masses [B,T] (finite, non-negative, no all-zero row) by building the
    /// (normalising) batch, and returns the masses in the points' dtype.
    let private checkMasses (pointsName: string) (massesName: string) (points: Tensor) (masses: Tensor) : Tensor =
        if isNull points then raise (ArgumentNullException(pointsName, $"{pointsName} must not be null."))
        if isNull masses then raise (ArgumentNullException(massesName, $"{massesName} must not be null."))
        TensorChecks.floating pointsName points
        TensorChecks.floating massesName masses
        if points.dim() <> 3L || points.shape |> Array.exists (fun s -> s = 0L) then
            Validation.fail pointsName $"{pointsName} has shape {TensorChecks.shape points}; it must be [B, T, d] with B, T, d ≥ 1."
        if masses.dim() <> 2L || masses.shape.[0] <> points.shape.[0] || masses.shape.[1] <> points.shape.[1] then
            Validation.fail massesName $"{massesName} has shape {TensorChecks.shape masses} but {pointsName} has shape {TensorChecks.shape points}; it must be [B, T] = [{points.shape.[0]},{points.shape.[1]}]."
        if not (TensorChecks.sameDevice masses.device points.device) then
            Validation.fail massesName $"{massesName} is on {masses.device} but {pointsName} is on {points.device}; both must be on one device."
        (use _ = torch.NewDisposeScope()
         let m = masses.detach()
         TensorChecks.finite massesName m
         match TensorChecks.firstTrue (m.lt(TensorChecks.zero.Force())) with
         | Some idx -> Validation.fail massesName $"{massesName}[{idx.[0]},{idx.[1]}] is negative; masses must be non-negative."
         | None -> ()
         match TensorChecks.firstTrue (m.sum(1L).le(TensorChecks.zero.Force())) with
         | Some row -> Validation.fail massesName $"{massesName} row {row.[0]} is all zero: measure {row.[0]} is empty."
         | None -> ()
         TensorChecks.finite pointsName (points.detach().masked_fill(m.le(TensorChecks.zero.Force()).unsqueeze(2L), TensorChecks.zero.Force())))
        if masses.dtype = points.dtype then masses else masses.to_type points.dtype

    /// <summary>
    /// Solves B unbalanced entropic OT problems between measures with masses (not normalised):
    /// min_P ⟨P, C⟩ + ε KL(P | μ⊗ν) + ρ KL(P1 | a) + ρ KL(Pᵀ1 | b), C_ij = ‖x_i − y_j‖^p.
    /// </summary>
    /// <remarks>
    /// <para>Log-domain Sinkhorn with the damping exponent λ = ρ/(ρ + ε) [6, Alg. 1, Prop. 3.6; 7]:
    /// G = λ(ε log(b/ν) − ε log Σ_i μ_i e^{(F_i − C_ij)/ε}), F = λ(ε log(a/μ) − ε log Σ_j ν_j e^{(G_j − C_ij)/ε}).
    /// <paramref name="reference"/> = <c>Product</c> takes μ⊗ν = a⊗b (GeomLoss, [7]); <c>Counting</c> the counting
    /// measure on the points of positive mass, which is POT 0.8.2's <c>ot.unbalanced.sinkhorn_unbalanced</c>
    /// (u = (a/Kv)^λ): with it, TransportCost is POT's <c>sinkhorn_unbalanced2</c>. ρ = +∞ is balanced transport
    /// (equal masses needed). GeomLoss's <c>reach</c> r is ρ = r^p. Stops when max(‖ΔF‖∞, ‖ΔG‖∞)/ε ≤ Tolerance
    /// (checked every CheckEvery iterations); each half-step is a λ-contraction. EpsilonScaling and BlockSize are not used.</para>
    /// <para>Gradients as for <see cref="M:DistEmbed.Core.Sinkhorn.Solve(DistEmbed.Core.DistributionBatch,DistEmbed.Core.DistributionBatch,DistEmbed.Core.SinkhornOptions)"/>:
    /// Envelope differentiates EntropicCost at fixed potentials (∂/∂C = P, exact at convergence) and TransportCost
    /// with the plan held fixed; Unrolled differentiates through the iterations. Masses are differentiable too.</para>
    /// <para>[6] L. Chizat, G. Peyré, B. Schmitzer, F.-X. Vialard, "Scaling algorithms for unbalanced optimal transport problems", Math. Comp. 87 (2018), arXiv:1607.05816.
    /// [7] T. Séjourné, J. Feydy, F.-X. Vialard, A. Trouvé, G. Peyré, "Sinkhorn Divergences for Unbalanced Optimal Transport", arXiv:1910.12958 (2019).</para>
    /// </remarks>
    /// <param name="pointsA">The points of a, [B, T, d], float32/float64.</param>
    /// <param name="massesA">The masses of a, [B, T]: finite, ≥ 0, no all-zero row; zero = padding.</param>
    /// <param name="pointsB">The points of b, [B, T', d], same B, d, dtype and device.</param>
    /// <param name="massesB">The masses of b, [B, T'].</param>
    /// <param name="rho">The marginal relaxation ρ &gt; 0 (POT's <c>reg_m</c>), +∞ allowed.</param>
    /// <param name="reference">The entropy's reference measure (<c>Product</c> or <c>Counting</c>).</param>
    /// <param name="options">Solver options (Epsilon, Power, MaxIterations, Tolerance, CheckEvery, Gradient, KeepPlan, OnNonConvergence).</param>
    /// <returns>The result (see <see cref="T:DistEmbed.Core.UnbalancedSinkhornResult"/>).</returns>
    /// <exception cref="T:System.ArgumentException">A shape, value, dtype or device rule is broken (the message names the argument), ρ ≤ 0 or NaN, an undefined reference, an option out of range.</exception>
    /// <exception cref="T:DistEmbed.Core.SinkhornNotConvergedException">MaxIterations was reached above the tolerance and OnNonConvergence is Throw.</exception>
    [<CompiledName("SolveUnbalanced")>]
    let solveUnbalanced (pointsA: Tensor, massesA: Tensor, pointsB: Tensor, massesB: Tensor, rho: float, reference: EntropyReference, options: SinkhornOptions) : UnbalancedSinkhornResult =
        NativeRuntime.EnsureInitialized()
        SinkhornSolver.checkOptions options
        SinkhornSolver.checkRho "rho" rho
        if not (Enum.IsDefined(typeof<EntropyReference>, reference)) then
            Validation.fail "reference" $"reference = {int reference} is invalid; valid values: Product, Counting."
        use _ = torch.NewDisposeScope()
        let wa = checkMasses "pointsA" "massesA" pointsA massesA
        let wb = checkMasses "pointsB" "massesB" pointsB massesB
        if pointsA.shape.[0] <> pointsB.shape.[0] then
            Validation.fail "pointsB" $"pointsB has {pointsB.shape.[0]} measures but pointsA has {pointsA.shape.[0]}; paired solves need equal counts."
        if pointsA.shape.[2] <> pointsB.shape.[2] then
            Validation.fail "pointsB" $"pointsB has dimension d = {pointsB.shape.[2]} but pointsA has d = {pointsA.shape.[2]}; both must live in one space."
        if pointsA.dtype <> pointsB.dtype then
            Validation.fail "pointsB" $"pointsB has dtype {pointsB.dtype} but pointsA has dtype {pointsA.dtype}; both must have one dtype."
        if not (TensorChecks.sameDevice pointsA.device pointsB.device) then
            Validation.fail "pointsB" $"pointsB is on {pointsB.device} but pointsA is on {pointsA.device}; both must be on one device."
        let r = SinkhornSolver.unbalancedSolve pointsA wa pointsB wb rho (reference = EntropyReference.Product) options options.KeepPlan
        enforce options null (ref 0) "sinkhorn-unbalanced" r.Outcome
        { TransportCost = r.Transport.MoveToOuterDisposeScope()
          EntropicCost = r.Dual.MoveToOuterDisposeScope()
          Mass = r.Mass.MoveToOuterDisposeScope()
          Plan = (if isNull r.Plan then null else r.Plan.MoveToOuterDisposeScope())
          F = r.F.MoveToOuterDisposeScope()
          G = r.G.MoveToOuterDisposeScope()
          Iterations = r.Outcome.Iterations
          Residual = r.Outcome.Error
          Converged = r.Outcome.Converged }

    /// <summary>
    /// The divergence-like cost <c>sinkhorn-unbalanced</c>: ⟨P, C⟩ of the unbalanced entropic plan (entropy relative to
    /// a⊗b, marginals relaxed by ρ·KL) between the distributions of two batches, paired [B] and pairwise [B, B'].
    /// </summary>
    /// <remarks>
    /// Symmetric, not a metric. The distributions are probability measures (a batch normalises its weights), so ρ
    /// sets how much mass may be created or destroyed instead of transported far: cheaper than ⟨P, C⟩ of balanced
    /// Sinkhorn when the measures differ by far-away mass (outliers), and equal to it as ρ → ∞. See
    /// <see cref="M:DistEmbed.Core.Sinkhorn.SolveUnbalanced(TorchSharp.torch.Tensor,TorchSharp.torch.Tensor,TorchSharp.torch.Tensor,TorchSharp.torch.Tensor,System.Double,DistEmbed.Core.EntropyReference,DistEmbed.Core.SinkhornOptions)"/>
    /// for the iteration, the references and the gradients. Convergence is recorded in <c>Diagnostics</c> (the error
    /// there is the potentials' residual).
    /// </remarks>
    /// <param name="rho">ρ &gt; 0 (+∞: balanced).</param>
    /// <param name="options">Solver options.</param>
    /// <returns>An <see cref="T:DistEmbed.Core.IDistance"/> accepting <see cref="T:DistEmbed.Core.DistributionBatch"/> inputs.</returns>
    /// <exception cref="T:System.ArgumentException">ρ ≤ 0 or NaN, or an option out of range.</exception>
    [<CompiledName("UnbalancedDistance")>]
    let unbalancedDistance (rho: float, options: SinkhornOptions) : IDistance =
        SinkhornSolver.checkOptions options
        SinkhornSolver.checkRho "rho" rho
        let name = "sinkhorn-unbalanced"
        let diagnostics = SinkhornDiagnostics()
        let warned = ref 0
        let compute x wa y wb =
            let r = SinkhornSolver.unbalancedSolve x wa y wb rho true options false
            enforce options diagnostics warned name r.Outcome
            r.Transport
        transportDistance name diagnostics options.BlockSize compute

    /// <summary>
    /// The divergence <c>sinkhorn-divergence-unbalanced</c>: S_ε,ρ(a, b) = OT_ε,ρ(a, b) − ½OT_ε,ρ(a, a) − ½OT_ε,ρ(b, b)
    /// + (ε/2)(m(a) − m(b))² [7], OT_ε,ρ the unbalanced entropic cost with the entropy relative to a⊗b, paired [B]
    /// and pairwise [B, B'].
    /// </summary>
    /// <remarks>
    /// S ≥ 0 and S(a, a) = 0 [7]; symmetric, not a metric. For the probability measures of a batch the mass term is 0;
    /// GeomLoss's <c>SamplesLoss("sinkhorn", p, blur, reach)</c> computes it with ε = blur^p, ρ = reach^p in its own
    /// cost units (½‖x − y‖² for p = 2). The terms are combined in float64 and clamped at 0 (see <c>Divergence</c>).
    /// Envelope gradients are exact at convergence.
    /// </remarks>
    /// <param name="rho">ρ &gt; 0 (+∞: the balanced divergence).</param>
    /// <param name="options">Solver options (KeepPlan is ignored).</param>
    /// <returns>An <see cref="T:DistEmbed.Core.IDistance"/> accepting <see cref="T:DistEmbed.Core.DistributionBatch"/> inputs.</returns>
    /// <exception cref="T:System.ArgumentException">ρ ≤ 0 or NaN, or an option out of range.</exception>
    [<CompiledName("UnbalancedDivergence")>]
    let unbalancedDivergence (rho: float, options: SinkhornOptions) : IDistance =
        SinkhornSolver.checkOptions options
        SinkhornSolver.checkRho "rho" rho
        let name = "sinkhorn-divergence-unbalanced"
        let diagnostics = SinkhornDiagnostics()
        let warned = ref 0
        let solveTerm x wa y wb =
            let r = SinkhornSolver.unbalancedSolve x wa y wb rho true options false
            enforce options diagnostics warned name r.Outcome
            r.Dual
        let mass (wa: Tensor) = wa.sum(1L)
        let self x wa (_: Tensor) (_: Tensor) = solveTerm x wa x wa
        sinkhornDistance name diagnostics
            (fun a b ->
                pairedBlocks a b options.BlockSize (fun x wa y wb ->
                    SinkhornSolver.unbalancedDebiased (solveTerm x wa y wb) (solveTerm x wa x wa) (solveTerm y wb y wb) (mass wa) (mass wb) options.Epsilon))
            (fun a b ->
                use _ = torch.NewDisposeScope()
                let sa = pairedBlocks a a options.BlockSize self
                let sb = pairedBlocks b b options.BlockSize self
                let c = pairwiseBlocks a b options.BlockSize solveTerm
                let ma, mb = mass a.Weights, mass b.Weights
                (SinkhornSolver.unbalancedDebiased c (sa.unsqueeze 1L) (sb.unsqueeze 0L) (ma.unsqueeze 1L) (mb.unsqueeze 0L) options.Epsilon).MoveToOuterDisposeScope())
