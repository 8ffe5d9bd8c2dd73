namespace DistEmbed.Core

open System
open TorchSharp

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

    /// The entry checks of Cost and Solve: two distribution batches (not null) of one space, dtype and device, with
    /// equal counts (the shared batch-pair check of the distances).
    let private checkPaired (a: DistributionBatch) (b: DistributionBatch) =
        Validation.notNull "a" a
        Validation.notNull "b" b
        DistanceKernels.checkPair a a.Dimension b b.Dimension true

    // ----------------------------------------------------------------------------------------------------------------
    // Balanced transport

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
        checkPaired a b
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
        checkPaired a b
        use _ = torch.NewDisposeScope()
        let r = SinkhornSolver.crossSolve a.Points a.Weights b.Points b.Weights options true
        SinkhornSolver.enforce options null (ref 0) "sinkhorn" r.Outcome
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
        SinkhornDistances.transport name diagnostics options.BlockSize (fun x wa y wb ->
            let r = SinkhornSolver.crossSolve x wa y wb options true
            SinkhornSolver.enforce options diagnostics warned name r.Outcome
            r.Transport)

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
            SinkhornSolver.enforce options diagnostics warned name r.Outcome
            r.Entropic
        let self x wa =
            let value, r = SinkhornSolver.selfSolve x wa options
            SinkhornSolver.enforce options diagnostics warned name r
            value
        SinkhornDistances.debiased name diagnostics options.BlockSize cross self (fun c sa sb _ _ -> SinkhornSolver.debiased c sa sb)

    // ----------------------------------------------------------------------------------------------------------------
    // Unbalanced transport

    /// Checks a points tensor [B,T,d] with masses [B,T] (finite, non-negative, no all-zero row) by building the
    /// (normalising) batch, and returns the masses in the points' dtype.
    let private checkMasses (pointsName: string) (massesName: string) (points: Tensor) (masses: Tensor) : Tensor =
        Validation.notNull pointsName points
        Validation.notNull massesName masses
        Validation.floating pointsName points
        Validation.floating massesName masses
        if points.dim() <> 3L || points.shape |> Array.exists (fun s -> s = 0L) then
            Validation.fail pointsName $"{pointsName} has shape {Validation.shape points}; it must be [B, T, d] with B, T, d ≥ 1."
        if masses.dim() <> 2L || masses.shape.[0] <> points.shape.[0] || masses.shape.[1] <> points.shape.[1] then
            Validation.fail massesName $"{massesName} has shape {Validation.shape masses} but {pointsName} has shape {Validation.shape points}; it must be [B, T] = [{points.shape.[0]},{points.shape.[1]}]."
        if not (Validation.sameDevice masses.device points.device) then
            Validation.fail massesName $"{massesName} is on {masses.device} but {pointsName} is on {points.device}; both must be on one device."
        (use _ = torch.NewDisposeScope()
         let m = masses.detach()
         Validation.finiteTensor massesName m
         match Validation.firstTrue (m.lt(Scalars.zero.Force())) with
         | Some idx -> Validation.fail massesName $"{massesName}[{idx.[0]},{idx.[1]}] is negative; masses must be non-negative."
         | None -> ()
         match Validation.firstTrue (m.sum(1L).le(Scalars.zero.Force())) with
         | Some row -> Validation.fail massesName $"{massesName} row {row.[0]} is all zero: measure {row.[0]} is empty."
         | None -> ()
         Validation.finiteTensor pointsName (points.detach().masked_fill(m.le(Scalars.zero.Force()).unsqueeze(2L), Scalars.zero.Force())))
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
        Validation.relaxation "rho" rho
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
        if not (Validation.sameDevice pointsA.device pointsB.device) then
            Validation.fail "pointsB" $"pointsB is on {pointsB.device} but pointsA is on {pointsA.device}; both must be on one device."
        let r = SinkhornSolver.unbalancedSolve pointsA wa pointsB wb rho (reference = EntropyReference.Product) options options.KeepPlan
        SinkhornSolver.enforce options null (ref 0) "sinkhorn-unbalanced" r.Outcome
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
        Validation.relaxation "rho" rho
        let name = "sinkhorn-unbalanced"
        let diagnostics = SinkhornDiagnostics()
        let warned = ref 0
        SinkhornDistances.transport name diagnostics options.BlockSize (fun x wa y wb ->
            let r = SinkhornSolver.unbalancedSolve x wa y wb rho true options false
            SinkhornSolver.enforce options diagnostics warned name r.Outcome
            r.Transport)

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
        Validation.relaxation "rho" rho
        let name = "sinkhorn-divergence-unbalanced"
        let diagnostics = SinkhornDiagnostics()
        let warned = ref 0
        let solveTerm x wa y wb =
            let r = SinkhornSolver.unbalancedSolve x wa y wb rho true options false
            SinkhornSolver.enforce options diagnostics warned name r.Outcome
            r.Dual
        SinkhornDistances.debiased name diagnostics options.BlockSize solveTerm (fun x wa -> solveTerm x wa x wa) (fun c sa sb ma mb ->
            SinkhornSolver.unbalancedDebiased c sa sb ma mb options.Epsilon)
