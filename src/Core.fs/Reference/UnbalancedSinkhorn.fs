namespace DistEmbed.Core

/// <summary>
/// The reference measure of the entropic term of unbalanced optimal transport, ε·KL(P | μ⊗ν). On couplings (balanced
/// transport) the choice changes the objective by a constant only; with relaxed marginals it changes the plan.
/// </summary>
type EntropyReference =
    /// <summary>
    /// μ⊗ν = a⊗b, the product of the two measures (Séjourné et al. 2019; Chizat et al. 2018; GeomLoss's <c>reach</c>):
    /// the value does not depend on how a measure is written (splitting an atom, zero-mass points), and the debiased
    /// divergence is ≥ 0 and zero for equal measures. The default.
    /// </summary>
    | Product = 0
    /// <summary>
    /// μ⊗ν = the counting measure on the support points (POT's <c>ot.unbalanced.sinkhorn_unbalanced</c>, whose
    /// entropy is Σ P_ij (log P_ij − 1)): the plan is u_i K_ij v_j with u = (a / Kv)^{ρ/(ρ+ε)}.
    /// </summary>
    | Counting = 1

namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>
/// The outcome of a float64 unbalanced Sinkhorn solve between masses a (n) and b (m) for a cost C (n × m): the plan
/// P_ij = μ_i ν_j exp((f_i + g_j − C_ij)/ε) of min_P ⟨P, C⟩ + ε KL(P | μ⊗ν) + ρ KL(P1 | a) + ρ KL(Pᵀ1 | b).
/// </summary>
type UnbalancedSinkhornResult =
    { /// <summary>⟨P, C⟩ of the returned plan (what POT 0.8.2's <c>ot.unbalanced.sinkhorn_unbalanced2</c> returns).</summary>
      TransportCost: float
      /// <summary>
      /// The dual objective at the returned potentials,
      /// Σ_i a_i φ(f_i) + Σ_j b_j φ(g_j) − ε Σ_ij μ_i ν_j (exp((f_i + g_j − C_ij)/ε) − 1), φ(t) = ρ(1 − e^{−t/ρ})
      /// (φ(t) = t for ρ = ∞); at convergence it equals the primal optimum (<c>Objective</c>).
      /// </summary>
      DualCost: float
      /// <summary>The primal objective ⟨P, C⟩ + ε KL(P | μ⊗ν) + ρ KL(P1 | a) + ρ KL(Pᵀ1 | b) of the returned plan (without the marginal terms when ρ = ∞).</summary>
      Objective: float
      /// <summary>The total mass Σ_ij P_ij of the plan.</summary>
      Mass: float
      /// <summary>The plan, n × m; zero on rows and columns of zero mass.</summary>
      Plan: float[,]
      /// <summary>The potential f, length n (0 on points of zero mass).</summary>
      F: float[]
      /// <summary>The potential g, length m (0 on points of zero mass).</summary>
      G: float[]
      /// <summary>Iterations made (each a g-update and an f-update).</summary>
      Iterations: int
      /// <summary>The last iteration's largest change of a potential divided by ε, max(‖Δf‖∞, ‖Δg‖∞)/ε.</summary>
      Residual: float }

/// <summary>
/// Unbalanced entropic optimal transport in float64 (KL-relaxed marginals of strength ρ) by log-domain Sinkhorn
/// iterations with the damping exponent ρ/(ρ + ε), and the debiased unbalanced Sinkhorn divergence. Plain loops,
/// written independently of the tensor solver that the properties check against it.
/// </summary>
/// <remarks>
/// References:
/// [1] L. Chizat, G. Peyré, B. Schmitzer, F.-X. Vialard, "Scaling algorithms for unbalanced optimal transport
/// problems", Math. Comp. 87 (2018), arXiv:1607.05816: the problem (1.2) with φ = ρ·KL, its dual, and the scaling
/// iteration a ← (p/(Kb))^{ρ/(ρ+ε)} (Alg. 1 with the proximal operator of Prop. 3.6 / Example 3.5 for KL).
/// [2] T. Séjourné, J. Feydy, F.-X. Vialard, A. Trouvé, G. Peyré, "Sinkhorn Divergences for Unbalanced Optimal
/// Transport", arXiv:1910.12958 (2019): OT_ε with the entropy KL(π | α⊗β), its dual (the φ* terms with
/// φ*(q) = ρ(e^{q/ρ} − 1)), the log-domain update f = −ρ/(ρ+ε)·ε log Σ_j β_j e^{(g_j − C_ij)/ε} (the aprox of
/// KL), and the divergence S_ε(α, β) = OT_ε(α, β) − ½OT_ε(α, α) − ½OT_ε(β, β) + (ε/2)(m(α) − m(β))², ≥ 0.
/// [3] POT 0.8.2, <c>ot.unbalanced.sinkhorn_knopp_unbalanced</c>: u = (a/(Kv))^{fi}, v = (b/(Kᵀu))^{fi},
/// fi = reg_m/(reg_m + reg), K = exp(−M/reg) — the counting-measure reference.
/// </remarks>
[<RequireQualifiedAccess>]
module UnbalancedSinkhorn =

    /// log Σ_k exp(term k), stable; −∞ when every term is −∞.
    let private logSumExp (count: int) (term: int -> float) =
        let mutable best = Double.NegativeInfinity
        for k in 0 .. count - 1 do
            let t = term k
            if t > best then best <- t
        if Double.IsNegativeInfinity best then best
        else
            let mutable s = 0.0
            for k in 0 .. count - 1 do
                s <- s + exp (term k - best)
            best + log s

    /// Checks a mass vector: finite, non-negative, not all zero (not normalised: unbalanced transport sees the mass).
    let private masses (name: string) (values: float[]) =
        Validation.finite name values
        Validation.nonEmpty name values
        for i in 0 .. values.Length - 1 do
            if values.[i] < 0.0 then Validation.fail name $"{name}[{i}] = {values.[i]} is negative; masses must be non-negative."
        if Array.sum values <= 0.0 then Validation.fail name $"{name} are all zero; at least one mass must be positive."

    /// φ(t) = ρ(1 − e^{−t/ρ}) = −ρ·expm1(−t/ρ), the dual marginal term of ρ·KL [2]; t for ρ = ∞.
    let private phi (rho: float) (t: float) =
        if Double.IsPositiveInfinity rho then t
        else
            // expm1 by its definition, accurate for small arguments through the identity e^x − 1 = 2 sinh(x/2) e^{x/2}.
            let x = -t / rho
            -rho * (2.0 * Math.Sinh(x / 2.0) * exp (x / 2.0))

    /// KL(p | q) = p log(p/q) − p + q for scalars (0 log 0 = 0).
    let private kl (p: float) (q: float) = (if p > 0.0 then p * log (p / q) else 0.0) - p + q

    /// <summary>
    /// Solves unbalanced entropic optimal transport
    /// min_P ⟨P, C⟩ + ε KL(P | μ⊗ν) + ρ KL(P1 | a) + ρ KL(Pᵀ1 | b) [1, (1.2); 2] by log-domain Sinkhorn iterations.
    /// </summary>
    /// <param name="cost">The ground cost C, n × m, finite.</param>
    /// <param name="a">Source masses, length n, finite, non-negative, not all zero (not normalised).</param>
    /// <param name="b">Target masses, length m, as a.</param>
    /// <param name="epsilon">The regularisation ε &gt; 0 in cost units (POT's <c>reg</c>).</param>
    /// <param name="rho">The marginal relaxation ρ &gt; 0 (POT's <c>reg_m</c>; GeomLoss's reach^p); +∞ gives balanced transport.</param>
    /// <param name="reference">The reference measure μ⊗ν of the entropy: a⊗b (<c>Product</c>) or the counting measure (<c>Counting</c>, POT).</param>
    /// <param name="maxIterations">The most iterations, ≥ 1.</param>
    /// <param name="tolerance">Stop once max(‖Δf‖∞, ‖Δg‖∞)/ε of an iteration is ≤ this (&gt; 0).</param>
    /// <returns>The plan, potentials, costs, mass and the iteration record (see <see cref="T:DistEmbed.Core.Reference.UnbalancedSinkhornResult"/>).</returns>
    /// <remarks>
    /// <para>With λ = ρ/(ρ + ε) (λ = 1 for ρ = ∞), starting from f = 0, each iteration makes the two half-steps
    /// [2, the aprox form of the Sinkhorn update; 1, Alg. 1 with Prop. 3.6]
    /// g_j ← λ·(ε log(b_j/ν_j) − ε log Σ_i μ_i exp((f_i − C_ij)/ε)),
    /// f_i ← λ·(ε log(a_i/μ_i) − ε log Σ_j ν_j exp((g_j − C_ij)/ε)),
    /// both over the points of positive mass. For μ = a, ν = b the log-ratios vanish; for the counting measure the
    /// scalings u = e^{f/ε}, v = e^{g/ε} are POT's u = (a/(Kv))^λ, v = (b/(Kᵀu))^λ [3]. Each half-step is a
    /// λ-contraction in the sup norm, so the iteration converges linearly at rate λ² per iteration.</para>
    /// <para>Cost: O(nm) per iteration.</para>
    /// </remarks>
    /// <exception cref="T:System.ArgumentNullException">An array is null.</exception>
    /// <exception cref="T:System.ArgumentException">A mass vector is empty, not finite, negative or all zero; the cost's shape is not
    /// n × m or an entry is not finite; ε or the tolerance is not a finite positive number; ρ is not &gt; 0; maxIterations &lt; 1;
    /// an undefined reference.</exception>
    [<CompiledName("Solve")>]
    let solve (cost: float[,], a: float[], b: float[], epsilon: float, rho: float, reference: EntropyReference, maxIterations: int, tolerance: float) : UnbalancedSinkhornResult =
        Validation.notNull "cost" cost
        masses "a" a
        masses "b" b
        let n, m = a.Length, b.Length
        if Array2D.length1 cost <> n || Array2D.length2 cost <> m then
            Validation.fail "cost" $"cost has shape [{Array2D.length1 cost},{Array2D.length2 cost}] but a has length {n} and b has length {m}; cost must be {n} × {m}."
        Validation.finite2D "cost" cost
        Validation.positive "epsilon" epsilon
        Validation.relaxation "rho" rho
        if not (Enum.IsDefined(typeof<EntropyReference>, reference)) then
            Validation.fail "reference" $"reference = {int reference} is invalid; valid values: Product, Counting."
        Validation.atLeastInt "maxIterations" 1 maxIterations
        Validation.positive "tolerance" tolerance

        let lambda = if Double.IsPositiveInfinity rho then 1.0 else rho / (rho + epsilon)
        let rows = [| for i in 0 .. n - 1 do if a.[i] > 0.0 then i |]
        let cols = [| for j in 0 .. m - 1 do if b.[j] > 0.0 then j |]
        let product = (reference = EntropyReference.Product)
        // log μ_i and log(a_i/μ_i) on the support (likewise for ν and b).
        let logMu = rows |> Array.map (fun i -> if product then log a.[i] else 0.0)
        let logNu = cols |> Array.map (fun j -> if product then log b.[j] else 0.0)
        let shiftA = rows |> Array.map (fun i -> if product then 0.0 else epsilon * log a.[i])
        let shiftB = cols |> Array.map (fun j -> if product then 0.0 else epsilon * log b.[j])
        let c r s = cost.[rows.[r], cols.[s]]
        let f = Array.zeroCreate<float> rows.Length
        let g = Array.zeroCreate<float> cols.Length
        let mutable iterations = 0
        let mutable residual = Double.PositiveInfinity
        while iterations < maxIterations && not (residual <= tolerance) do
            let mutable change = 0.0
            for s in 0 .. cols.Length - 1 do
                let next = lambda * (shiftB.[s] - epsilon * logSumExp rows.Length (fun r -> logMu.[r] + (f.[r] - c r s) / epsilon))
                change <- max change (abs (next - g.[s]))
                g.[s] <- next
            for r in 0 .. rows.Length - 1 do
                let next = lambda * (shiftA.[r] - epsilon * logSumExp cols.Length (fun s -> logNu.[s] + (g.[s] - c r s) / epsilon))
                change <- max change (abs (next - f.[r]))
                f.[r] <- next
            residual <- change / epsilon
            iterations <- iterations + 1

        let plan = Array2D.zeroCreate<float> n m
        let rowSum = Array.zeroCreate<float> n
        let colSum = Array.zeroCreate<float> m
        let mutable transport = 0.0
        let mutable mass = 0.0
        let mutable kernelTerm = 0.0
        let mutable entropy = 0.0
        for r in 0 .. rows.Length - 1 do
            for s in 0 .. cols.Length - 1 do
                let i, j = rows.[r], cols.[s]
                let mu = exp (logMu.[r] + logNu.[s])
                let pij = mu * exp ((f.[r] + g.[s] - cost.[i, j]) / epsilon)
                plan.[i, j] <- pij
                rowSum.[i] <- rowSum.[i] + pij
                colSum.[j] <- colSum.[j] + pij
                transport <- transport + pij * cost.[i, j]
                mass <- mass + pij
                kernelTerm <- kernelTerm + (pij - mu)
                entropy <- entropy + kl pij mu
        let fFull = Array.zeroCreate<float> n
        let gFull = Array.zeroCreate<float> m
        rows |> Array.iteri (fun r i -> fFull.[i] <- f.[r])
        cols |> Array.iteri (fun s j -> gFull.[j] <- g.[s])
        let mutable dual = -epsilon * kernelTerm
        for r in 0 .. rows.Length - 1 do
            dual <- dual + a.[rows.[r]] * phi rho f.[r]
        for s in 0 .. cols.Length - 1 do
            dual <- dual + b.[cols.[s]] * phi rho g.[s]
        let mutable marginals = 0.0
        if not (Double.IsPositiveInfinity rho) then
            for i in 0 .. n - 1 do
                marginals <- marginals + rho * kl rowSum.[i] a.[i]
            for j in 0 .. m - 1 do
                marginals <- marginals + rho * kl colSum.[j] b.[j]
        { TransportCost = transport
          DualCost = dual
          Objective = transport + epsilon * entropy + marginals
          Mass = mass
          Plan = plan
          F = fFull
          G = gFull
          Iterations = iterations
          Residual = residual }

    /// The cost ‖x_i − y_j‖^p between the rows of x and y (p = 2 summed without a root).
    let private groundCost (p: float) (x: float[,]) (y: float[,]) =
        Array2D.init (Array2D.length1 x) (Array2D.length1 y) (fun i j ->
            let mutable sq = 0.0
            for k in 0 .. Array2D.length2 x - 1 do
                let d = x.[i, k] - y.[j, k]
                sq <- sq + d * d
            if p = 2.0 then sq else Math.Pow(sqrt sq, p))

    /// <summary>
    /// The debiased unbalanced Sinkhorn divergence
    /// S_ε,ρ(α, β) = OT_ε(α, β) − ½OT_ε(α, α) − ½OT_ε(β, β) + (ε/2)(m(α) − m(β))² [2] for the cost ‖x − y‖^p,
    /// with OT_ε the dual value (<c>DualCost</c>) of the problem with the entropy relative to α⊗β.
    /// </summary>
    /// <param name="p">The exponent of the cost, ≥ 1.</param>
    /// <param name="x">The points of α, n × d, finite.</param>
    /// <param name="a">The masses of α, length n (not normalised).</param>
    /// <param name="y">The points of β, m × d (same d), finite.</param>
    /// <param name="b">The masses of β, length m.</param>
    /// <param name="epsilon">ε &gt; 0 in cost units.</param>
    /// <param name="rho">ρ &gt; 0 (+∞: the balanced divergence of probability measures, with the mass term).</param>
    /// <param name="maxIterations">The most iterations of each of the three solves, ≥ 1.</param>
    /// <param name="tolerance">The stopping residual of each solve (&gt; 0).</param>
    /// <returns>S_ε,ρ(α, β).</returns>
    /// <remarks>
    /// At the optimum OT_ε(α, β) = ρ(m(α) + m(β)) + ε m(α)m(β) − (2ρ + ε) m(π), so
    /// S_ε,ρ = (ρ + ε/2)(m(π_αα) + m(π_ββ) − 2m(π_αβ)) — GeomLoss's debiased unbalanced cost. S ≥ 0 and S(α, α) = 0 [2].
    /// </remarks>
    /// <exception cref="T:System.ArgumentException">As for <c>solve</c>; p &lt; 1; x and y of different dimensions or rows ≠ masses.</exception>
    [<CompiledName("Divergence")>]
    let divergence (p: float, x: float[,], a: float[], y: float[,], b: float[], epsilon: float, rho: float, maxIterations: int, tolerance: float) : float =
        Validation.atLeast "p" 1.0 p
        Validation.notNull "x" x
        Validation.notNull "y" y
        Validation.finite2D "x" x
        Validation.finite2D "y" y
        Validation.notNull "a" a
        Validation.notNull "b" b
        Validation.sameLength "a" (Array2D.length1 x) a.Length "the rows of x"
        Validation.sameLength "b" (Array2D.length1 y) b.Length "the rows of y"
        if Array2D.length2 x <> Array2D.length2 y then
            Validation.fail "y" $"y has dimension {Array2D.length2 y} but x has dimension {Array2D.length2 x}; both must live in one space."
        let ot (u: float[,]) (wu: float[]) (v: float[,]) (wv: float[]) =
            (solve (groundCost p u v, wu, wv, epsilon, rho, EntropyReference.Product, maxIterations, tolerance)).DualCost
        let ma, mb = Array.sum a, Array.sum b
        ot x a y b - 0.5 * ot x a x a - 0.5 * ot y b y b + 0.5 * epsilon * (ma - mb) * (ma - mb)
