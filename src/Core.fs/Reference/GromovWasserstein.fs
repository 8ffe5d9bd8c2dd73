namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>The result of a Gromov–Wasserstein solve between two metric-measure spaces (C1, p) and (C2, q).</summary>
/// <remarks>
/// <c>Value</c> is the square-loss GW objective E(T) = Σ_ijkl (C1_ik − C2_jl)² T_ij T_kl at the returned coupling T,
/// what POT's <c>ot.gromov.gromov_wasserstein2</c> and <c>entropic_gromov_wasserstein2</c> return (no ½, no square
/// root: Mémoli's GW₂ distance is ½ √(min E) [2, Def. 5.7]). GW is a non-convex quadratic program, so both solvers
/// return a stationary point, not necessarily the global minimum; <c>Value</c> is an upper bound on min E.
/// </remarks>
type GromovWassersteinResult =
    { /// <summary>E(T) = Σ_ijkl (C1_ik − C2_jl)² T_ij T_kl at the returned coupling (≥ 0).</summary>
      Value: float
      /// <summary>The coupling T, n × m, non-negative, with row sums p and column sums q (zero on points of zero weight).</summary>
      Plan: float[,]
      /// <summary>The number of outer iterations made (Frank–Wolfe steps, or mirror-descent steps for the entropic solver).</summary>
      Iterations: int
      /// <summary>True when the stopping rule was met before the iteration limit.</summary>
      Converged: bool }

/// <summary>
/// Gromov–Wasserstein discrepancy with the square loss between two metric-measure spaces given by symmetric matrices
/// C1 (n × n) and C2 (m × m) and weights p, q — spaces with different numbers of points and no common coordinates.
/// Two solvers that mirror POT 0.8.2: the conditional-gradient (Frank–Wolfe) solver of
/// <c>ot.gromov.gromov_wasserstein</c> and the entropic projected mirror descent of
/// <c>ot.gromov.entropic_gromov_wasserstein</c>.
/// </summary>
/// <remarks>
/// <para>Problem [1, eq. 2–3; 2]: GW(C1, C2, p, q) = min_{T ∈ Π(p, q)} E(T), E(T) = Σ_ijkl L(C1_ik, C2_jl) T_ij T_kl
/// with L(a, b) = (a − b)². For the square loss, L(a, b) = f1(a) + f2(b) − h1(a) h2(b) with f1(a) = a², f2(b) = b²,
/// h1(a) = a, h2(b) = 2b, and for T ∈ Π(p, q) [1, Prop. 1, eq. 6]:
/// <code>L ⊗ T = constC − h1(C1) T h2(C2)ᵀ,  constC = f1(C1) p 1_mᵀ + 1_n q f2(C2)ᵀ,  E(T) = ⟨L ⊗ T, T⟩</code>
/// and the gradient is ∇E(T) = 2 (L ⊗ T) for symmetric C1, C2 ([1, Prop. 2] omits the factor 2, as POT notes).
/// Evaluating E costs O(n²m + nm²) instead of O(n²m²).</para>
/// <para>Both solvers start from the independent coupling T₀ = p qᵀ (POT's default). GW is non-convex, so the
/// stationary point reached depends on the start and on the solver's path: golden agreement with POT holds because
/// the initialisation, the linear minimisation / Sinkhorn steps and the stopping rules are the same, not because the
/// global minimum is found. Points of zero weight are removed before solving (they carry no mass and do not enter
/// E); their rows/columns of the plan are zero.</para>
/// <para>References:
/// [1] G. Peyré, M. Cuturi, J. Solomon, "Gromov–Wasserstein averaging of kernel and distance matrices", ICML 2016
/// (eq. 2–3 the problem, eq. 6 / Prop. 1 the tensor–matrix product, eq. 8–9 / Prop. 2 the entropic projected
/// gradient step T ← T(C1, C2, T) computed by Sinkhorn, Algorithm 1).
/// [2] F. Mémoli, "Gromov–Wasserstein distances and the metric approach to object matching", Foundations of
/// Computational Mathematics 11(4), 2011 (Def. 5.7; GW = 0 exactly for isomorphic metric-measure spaces, Thm 5.1).
/// [3] T. Vayer, L. Chapel, R. Flamary, R. Tavenard, N. Courty, "Optimal transport for structured data with
/// application on graphs", ICML 2019, arXiv:1805.09114 (Algorithm 2: conditional gradient for (F)GW with the exact
/// line search of Alg. 2 / Lemma 3 (closed-form minimiser of a quadratic on [0, 1])).
/// [4] R. Flamary et al., "POT: Python Optimal Transport", JMLR 22(78), 2021 (version 0.8.2: <c>ot.optim.cg</c>,
/// <c>ot.optim.solve_linesearch</c>, <c>ot.bregman.sinkhorn_knopp</c>).</para>
/// </remarks>
[<RequireQualifiedAccess>]
module GromovWasserstein =

    /// The default stopping rules of POT 0.8.2 (ot.optim.cg; ot.gromov.entropic_gromov_wasserstein;
    /// ot.bregman.sinkhorn_knopp).
    [<Literal>]
    let private PotTolerance = 1e-9

    let private checkSquare (name: string) (c: float[,]) (size: int) (weightsName: string) =
        Validation.symmetricMatrix name c size $"{weightsName} has length {size}" 1e-12 "the square-loss solvers need symmetric matrices (distances or similarities)"

    /// Validates (C1, C2, p, q), normalises the weights and restricts everything to the points of positive weight.
    /// Returns (c1, c2, p, q) on the supports and the support indices.
    let private problem (c1: float[,]) (c2: float[,]) (p: float[]) (q: float[]) =
        let p = Validation.weights "p" p
        let q = Validation.weights "q" q
        checkSquare "c1" c1 p.Length "p"
        checkSquare "c2" c2 q.Length "q"
        let rows = [| for i in 0 .. p.Length - 1 do if p.[i] > 0.0 then yield i |]
        let cols = [| for j in 0 .. q.Length - 1 do if q.[j] > 0.0 then yield j |]
        let sub (c: float[,]) (idx: int[]) = Array2D.init idx.Length idx.Length (fun i k -> c.[idx.[i], idx.[k]])
        sub c1 rows, sub c2 cols, Array.map (fun i -> p.[i]) rows, Array.map (fun j -> q.[j]) cols, rows, cols

    /// A · B for A (n × k) and B (k × m), in i-k-j order on row-major copies (rows of B read in order). Rows of the
    /// result are independent, so large products run them in parallel; each row is summed in the same order either
    /// way, so the result does not depend on the threads.
    let private mul (a: float[,]) (b: float[,]) =
        let n, k, m = Array2D.length1 a, Array2D.length2 a, Array2D.length2 b
        let bf = Array.zeroCreate<float> (k * m)
        for t in 0 .. k - 1 do
            for j in 0 .. m - 1 do
                bf.[t * m + j] <- b.[t, j]
        let cf = Array.zeroCreate<float> (n * m)
        let row i =
            let offset = i * m
            for t in 0 .. k - 1 do
                let ait = a.[i, t]
                if ait <> 0.0 then
                    let bo = t * m
                    for j in 0 .. m - 1 do
                        cf.[offset + j] <- cf.[offset + j] + ait * bf.[bo + j]
        if int64 n * int64 k * int64 m >= 1_000_000L then
            System.Threading.Tasks.Parallel.For(0, n, (fun i -> row i)) |> ignore
        else
            for i in 0 .. n - 1 do
                row i
        Array2D.init n m (fun i j -> cf.[i * m + j])

    /// Frobenius inner product ⟨A, B⟩.
    let private dot (a: float[,]) (b: float[,]) =
        let mutable s = 0.0
        for i in 0 .. Array2D.length1 a - 1 do
            for j in 0 .. Array2D.length2 a - 1 do
                s <- s + a.[i, j] * b.[i, j]
        s

    /// constC = f1(C1) p 1ᵀ + 1 (f2(C2) q)ᵀ with f1 = f2 = (·)² [1, Prop. 1, eq. 6] (POT's init_matrix).
    let private constC (c1: float[,]) (c2: float[,]) (p: float[]) (q: float[]) =
        let n, m = p.Length, q.Length
        let left = Array.init n (fun i -> Seq.sum (seq { for k in 0 .. n - 1 -> c1.[i, k] * c1.[i, k] * p.[k] }))
        let right = Array.init m (fun j -> Seq.sum (seq { for l in 0 .. m - 1 -> c2.[j, l] * c2.[j, l] * q.[l] }))
        Array2D.init n m (fun i j -> left.[i] + right.[j])

    /// L ⊗ T = constC − h1(C1) T h2(C2)ᵀ = constC − C1 T (2 C2)ᵀ [1, Prop. 1, eq. 6] (POT's tensor_product).
    let private tensorProduct (cc: float[,]) (c1: float[,]) (h2t: float[,]) (t: float[,]) =
        let a = mul (mul c1 t) h2t
        Array2D.init (Array2D.length1 cc) (Array2D.length2 cc) (fun i j -> cc.[i, j] - a.[i, j])

    let private transpose2x (c2: float[,]) =
        let m = Array2D.length1 c2
        Array2D.init m m (fun l j -> 2.0 * c2.[j, l])

    let private expand (plan: float[,]) (rows: int[]) (cols: int[]) (n: int) (m: int) =
        let full = Array2D.zeroCreate<float> n m
        for r in 0 .. rows.Length - 1 do
            for c in 0 .. cols.Length - 1 do
                full.[rows.[r], cols.[c]] <- plan.[r, c]
        full

    /// <summary>
    /// The square-loss GW objective E(T) = Σ_ijkl (C1_ik − C2_jl)² T_ij T_kl of a given coupling T of p and q
    /// (POT: <c>ot.gromov.gwloss(*init_matrix(C1, C2, p, q), T)</c>).
    /// </summary>
    /// <param name="c1">The first space's symmetric matrix C1, n × n, finite.</param>
    /// <param name="c2">The second space's symmetric matrix C2, m × m, finite.</param>
    /// <param name="p">Weights of the first space, length n, finite, non-negative, not all zero (normalised to sum to one).</param>
    /// <param name="q">Weights of the second space, length m, as for <paramref name="p"/>.</param>
    /// <param name="plan">The coupling T, n × m, finite; it should have marginals p and q.</param>
    /// <returns>⟨constC − C1 T (2C2)ᵀ, T⟩ [1, Prop. 1, eq. 6], which equals the quadruple sum when T1 = p and Tᵀ1 = q.</returns>
    /// <remarks>The identity with the quadruple sum uses the marginals of T (constC is built from p and q), so for a
    /// matrix that is not a coupling of p and q the result is the eq. 6 expression, not the quadruple sum.</remarks>
    /// <exception cref="T:System.ArgumentNullException">An argument is null.</exception>
    /// <exception cref="T:System.ArgumentException">Bad weights (names p or q); a matrix of the wrong shape, not finite
    /// or not symmetric (names c1 or c2); a plan of the wrong shape or not finite (names plan).</exception>
    [<CompiledName("Loss")>]
    let loss (c1: float[,], c2: float[,], p: float[], q: float[], plan: float[,]) : float =
        let p = Validation.weights "p" p
        let q = Validation.weights "q" q
        checkSquare "c1" c1 p.Length "p"
        checkSquare "c2" c2 q.Length "q"
        Validation.notNull "plan" plan
        if Array2D.length1 plan <> p.Length || Array2D.length2 plan <> q.Length then
            Validation.fail
                "plan"
                $"plan has shape [{Array2D.length1 plan},{Array2D.length2 plan}]; it must be {p.Length} × {q.Length} (the lengths of p and q)."
        Validation.finite2D "plan" plan
        let cc = constC c1 c2 p q
        dot (tensorProduct cc c1 (transpose2x c2) plan) plan

    /// <summary>
    /// Square-loss Gromov–Wasserstein by the conditional-gradient (Frank–Wolfe) algorithm with an exact linear
    /// minimisation oracle and the closed-form line search — the solver of POT's
    /// <c>ot.gromov.gromov_wasserstein2(C1, C2, p, q, 'square_loss')</c>, step for step.
    /// </summary>
    /// <param name="c1">The first space's symmetric matrix C1 (for example its distance matrix), n × n, finite.</param>
    /// <param name="c2">The second space's symmetric matrix C2, m × m, finite.</param>
    /// <param name="p">Weights of the first space, length n, finite, non-negative, not all zero (normalised to sum to one).</param>
    /// <param name="q">Weights of the second space, length m, as for <paramref name="p"/>.</param>
    /// <param name="maxIterations">The most Frank–Wolfe steps, ≥ 1 (POT: numItermax = 200).</param>
    /// <param name="relativeTolerance">Stop when |E_k − E_{k−1}| / |E_k| is below this, &gt; 0 (POT: stopThr = 1e-9).</param>
    /// <param name="absoluteTolerance">Stop when |E_k − E_{k−1}| is below this, &gt; 0 (POT: stopThr2 = 1e-9).</param>
    /// <returns>The value E(T), the coupling T, the number of steps and whether a tolerance was met.</returns>
    /// <remarks>
    /// <para>Algorithm [3, Alg. 2; 4, <c>ot.optim.cg</c> with M = 0, reg = 1]: T₀ = p qᵀ. Step k:
    /// G = ∇E(T) = 2 (constC − C1 T (2C2)ᵀ) [1, Prop. 1–2], shifted by its minimum as POT does (which leaves the linear
    /// program's minimisers unchanged); T̃ = argmin_{S ∈ Π(p, q)} ⟨G, S⟩ by the exact network simplex
    /// (<see cref="M:DistEmbed.Core.Reference.ExactTransport.Solve(System.Double[0:,0:],System.Double[],System.Double[])"/>,
    /// the solver POT's <c>ot.emd</c> runs); Δ = T̃ − T; the step α ∈ [0, 1] minimises the quadratic
    /// E(T + αΔ) = aα² + bα + c with a = −2⟨C1 Δ C2, Δ⟩, b = ⟨constC, Δ⟩ − 2(⟨C1 Δ C2, T⟩ + ⟨C1 T C2, Δ⟩), c = E(T)
    /// [3, Alg. 2, Lemma 3] (for a &gt; 0: α = clip(−b/(2a), 0, 1); otherwise α = 1 if c &gt; a + b + c, else 0);
    /// T ← T + αΔ. The loop stops after <paramref name="maxIterations"/> steps, or once |ΔE| / |E| &lt;
    /// <paramref name="relativeTolerance"/> or |ΔE| &lt; <paramref name="absoluteTolerance"/>. The returned value is
    /// E at the final T.</para>
    /// <para>Non-convex: the result is a stationary point reached from p qᵀ; another start can give another value.
    /// E(T) ≥ 0 always; for spaces that are isomorphic (C2 = C1 permuted, with the weights permuted alike) the global
    /// minimum is 0, which the solver usually (not provably) reaches.</para>
    /// <para>Cost per step: O(n²m + nm²) for the products and one n × m exact transport solve.</para>
    /// </remarks>
    /// <exception cref="T:System.ArgumentNullException">An argument is null.</exception>
    /// <exception cref="T:System.ArgumentException">Bad weights (names p or q); a matrix of the wrong shape, not finite
    /// or not symmetric (names c1 or c2); a bad iteration limit or tolerance (named).</exception>
    [<CompiledName("ConditionalGradient")>]
    let conditionalGradient
        (c1: float[,], c2: float[,], p: float[], q: float[], maxIterations: int, relativeTolerance: float, absoluteTolerance: float)
        : GromovWassersteinResult =
        let n0 = if isNull p then 0 else p.Length
        let m0 = if isNull q then 0 else q.Length
        let c1, c2, p, q, rows, cols = problem c1 c2 p q
        Validation.atLeastInt "maxIterations" 1 maxIterations
        Validation.positive "relativeTolerance" relativeTolerance
        Validation.positive "absoluteTolerance" absoluteTolerance
        let n, m = p.Length, q.Length
        let cc = constC c1 c2 p q
        let h2t = transpose2x c2
        let energy (t: float[,]) = dot (tensorProduct cc c1 h2t t) t
        let mutable t = Array2D.init n m (fun i j -> p.[i] * q.[j])
        let mutable value = energy t
        let mutable iterations = 0
        let mutable converged = false
        let mutable running = true
        while running do
            iterations <- iterations + 1
            let previous = value
            // Linearisation: G = 2 (L ⊗ T); POT then adds min G (a constant, so the LP's minimisers are unchanged).
            let tens = tensorProduct cc c1 h2t t
            let grad = Array2D.map (fun v -> 2.0 * v) tens
            let shift = Seq.cast<float> grad |> Seq.min
            let grad = Array2D.map (fun v -> v + shift) grad
            let target = (ExactTransport.solve (grad, p, q)).Plan
            let delta = Array2D.init n m (fun i j -> target.[i, j] - t.[i, j])
            // Exact line search on the quadratic E(T + αΔ) = aα² + bα + c [3, Alg. 2] (POT's solve_linesearch).
            let c1DeltaC2 = mul (mul c1 delta) c2
            let c1TC2 = mul (mul c1 t) c2
            let a = -2.0 * dot c1DeltaC2 delta
            let b = dot cc delta - 2.0 * (dot c1DeltaC2 t + dot c1TC2 delta)
            // c = E(T): the value already computed for this T (POT recomputes it; the same expression gives the same bits).
            let c = value
            let alpha =
                if a > 0.0 then min 1.0 (max 0.0 (-b / (2.0 * a)))
                elif c > a + c + b then 1.0
                else 0.0
            t <- Array2D.init n m (fun i j -> t.[i, j] + alpha * delta.[i, j])
            value <- energy t
            let absoluteChange = abs (value - previous)
            let relativeChange = absoluteChange / abs value
            if relativeChange < relativeTolerance || absoluteChange < absoluteTolerance then
                converged <- true
                running <- false
            elif iterations >= maxIterations then
                running <- false
        { Value = value
          Plan = expand t rows cols n0 m0
          Iterations = iterations
          Converged = converged }

    /// log Σ_k exp(term k), stable.
    let private logSumExp (count: int) (term: int -> float) =
        let mutable best = Double.NegativeInfinity
        for k in 0 .. count - 1 do
            let v = term k
            if v > best then best <- v
        if Double.IsNegativeInfinity best then
            best
        else
            let mutable s = 0.0
            for k in 0 .. count - 1 do
                s <- s + exp (term k - best)
            best + log s

    /// POT 0.8.2's ot.bregman.sinkhorn_knopp(a, b, M, reg, numItermax, stopThr) iterated on logarithms: the same
    /// iterates u, v (u = 1/n, v = 1/m; v ← b / Kᵀu; u ← 1 / (diag(1/a) K v)), the same check every tenth iteration
    /// (‖diag(v) Kᵀ u − b‖₂ &lt; stopThr, after the u-update), the same plan diag(u) K diag(v) — but log u, log v and
    /// log K = −M/reg are stored, so no kernel entry underflows (where POT's scaling form would stop with
    /// "numerical errors", this goes on).
    let private sinkhornKnopp (a: float[]) (b: float[]) (cost: float[,]) (reg: float) (maxIterations: int) (tolerance: float) =
        let n, m = a.Length, b.Length
        let logK = Array2D.init n m (fun i j -> cost.[i, j] / -reg)
        let logA = Array.map log a
        let logB = Array.map log b
        let logU = Array.create n (-(log (float n)))
        let logV = Array.create m (-(log (float m)))
        let mutable ii = 0
        let mutable running = true
        while running && ii < maxIterations do
            for j in 0 .. m - 1 do
                logV.[j] <- logB.[j] - logSumExp n (fun i -> logK.[i, j] + logU.[i])
            for i in 0 .. n - 1 do
                logU.[i] <- logA.[i] - logSumExp m (fun j -> logK.[i, j] + logV.[j])
            if ii % 10 = 0 then
                let mutable err = 0.0
                for j in 0 .. m - 1 do
                    let column = exp (logV.[j] + logSumExp n (fun i -> logU.[i] + logK.[i, j]))
                    err <- err + (column - b.[j]) * (column - b.[j])
                if sqrt err < tolerance then running <- false
            ii <- ii + 1
        Array2D.init n m (fun i j -> exp (logU.[i] + logK.[i, j] + logV.[j]))

    /// <summary>
    /// Entropic square-loss Gromov–Wasserstein by projected mirror descent with Sinkhorn projections [1, Alg. 1] —
    /// the solver of POT's <c>ot.gromov.entropic_gromov_wasserstein2(C1, C2, p, q, 'square_loss', epsilon)</c>, step
    /// for step.
    /// </summary>
    /// <param name="c1">The first space's symmetric matrix C1, n × n, finite.</param>
    /// <param name="c2">The second space's symmetric matrix C2, m × m, finite.</param>
    /// <param name="p">Weights of the first space, length n, finite, non-negative, not all zero (normalised to sum to one).</param>
    /// <param name="q">Weights of the second space, length m, as for <paramref name="p"/>.</param>
    /// <param name="epsilon">The entropic regularisation ε &gt; 0, in the units of the gradient 2 (L ⊗ T) (squared C units).</param>
    /// <param name="maxIterations">The most mirror-descent steps, ≥ 1 (POT: max_iter = 1000).</param>
    /// <param name="tolerance">Stop when ‖T_k − T_{k−1}‖_F ≤ this, checked at every tenth step, &gt; 0 (POT: tol = 1e-9).</param>
    /// <returns>The (unregularised) value E(T) at the returned coupling T, T, the number of steps and whether the
    /// tolerance was met.</returns>
    /// <remarks>
    /// <para>Algorithm [1, eq. 8–9, Prop. 2, Alg. 1 with step size τ = 1/ε]: T₀ = p qᵀ; each step sets
    /// T ← argmin_{S ∈ Π(p, q)} ⟨∇E(T), S⟩ − ε H(S) = Sinkhorn(p, q, 2 (L ⊗ T), ε), H(S) = −Σ S log S, i.e.
    /// S = diag(u) exp(−∇E(T)/ε) diag(v). The Sinkhorn solve is POT's <c>sinkhorn_knopp</c> with its defaults
    /// (1000 iterations; stop when the L2 column-marginal error, checked every tenth iteration, is below 1e-9), run on
    /// logarithms so that small ε cannot underflow the kernel. The outer loop checks ‖T − T_prev‖_F at steps 0, 10,
    /// 20, … (as POT does) and stops when it is ≤ <paramref name="tolerance"/> or after
    /// <paramref name="maxIterations"/> steps. The returned value is E(T) without the entropy term (as POT's
    /// <c>gw_dist</c>).</para>
    /// <para>As ε → 0 the fixed points approach stationary points of the unregularised problem; at small ε the
    /// iteration may need many steps or oscillate (then <c>Converged</c> is false). Non-convex: the result depends on
    /// the start p qᵀ.</para>
    /// <para>Cost per step: O(n²m + nm²) for the gradient and O(nm) per Sinkhorn iteration.</para>
    /// </remarks>
    /// <exception cref="T:System.ArgumentNullException">An argument is null.</exception>
    /// <exception cref="T:System.ArgumentException">Bad weights (names p or q); a matrix of the wrong shape, not finite
    /// or not symmetric (names c1 or c2); ε, the iteration limit or the tolerance out of range (named).</exception>
    [<CompiledName("Entropic")>]
    let entropic (c1: float[,], c2: float[,], p: float[], q: float[], epsilon: float, maxIterations: int, tolerance: float)
        : GromovWassersteinResult =
        let n0 = if isNull p then 0 else p.Length
        let m0 = if isNull q then 0 else q.Length
        let c1, c2, p, q, rows, cols = problem c1 c2 p q
        Validation.positive "epsilon" epsilon
        Validation.atLeastInt "maxIterations" 1 maxIterations
        Validation.positive "tolerance" tolerance
        let n, m = p.Length, q.Length
        let cc = constC c1 c2 p q
        let h2t = transpose2x c2
        let mutable t = Array2D.init n m (fun i j -> p.[i] * q.[j])
        let mutable err = 1.0
        let mutable step = 0
        while err > tolerance && step < maxIterations do
            let previous = t
            let grad = Array2D.map (fun v -> 2.0 * v) (tensorProduct cc c1 h2t t)
            t <- sinkhornKnopp p q grad epsilon 1000 PotTolerance
            if step % 10 = 0 then
                let mutable s = 0.0
                for i in 0 .. n - 1 do
                    for j in 0 .. m - 1 do
                        let d = t.[i, j] - previous.[i, j]
                        s <- s + d * d
                err <- sqrt s
            step <- step + 1
        { Value = dot (tensorProduct cc c1 h2t t) t
          Plan = expand t rows cols n0 m0
          Iterations = step
          Converged = err <= tolerance }
