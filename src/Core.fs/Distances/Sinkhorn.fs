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
        { new ISinkhornDistance with
            member _.Diagnostics = diagnostics
          interface IDistance with
            member _.Name = name
            member _.IsMetric = false
            member _.IsSymmetric = true
            member _.Accepts = Representation.Distributions
            member _.Paired(a, b) =
                let a, b = inputs name a b true
                pairedBlocks a b options.BlockSize compute
            member _.Pairwise(a, b) =
                let a, b = inputs name a b false
                pairwiseBlocks a b options.BlockSize compute }
        :> IDistance

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
        { new ISinkhornDistance with
            member _.Diagnostics = diagnostics
          interface IDistance with
            member _.Name = name
            member _.IsMetric = false
            member _.IsSymmetric = true
            member _.Accepts = Representation.Distributions
            member _.Paired(a, b) =
                let a, b = inputs name a b true
                pairedBlocks a b options.BlockSize (fun x wa y wb ->
                    SinkhornSolver.debiased (cross x wa y wb) (selfTerm x wa) (selfTerm y wb))
            member _.Pairwise(a, b) =
                let a, b = inputs name a b false
                use _ = torch.NewDisposeScope()
                let sa = pairedBlocks a a options.BlockSize self
                let sb = pairedBlocks b b options.BlockSize self
                let c = pairwiseBlocks a b options.BlockSize cross
                (SinkhornSolver.debiased c (sa.unsqueeze 1L) (sb.unsqueeze 0L)).MoveToOuterDisposeScope() }
        :> IDistance
