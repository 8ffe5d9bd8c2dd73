namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>The result of a log-domain Sinkhorn solve of entropic optimal transport.</summary>
/// <remarks>
/// Convention (Feydy et al. 2019 [2]; Peyré &amp; Cuturi 2019 [1], eq. 4.2 with the reference measure a⊗b):
/// OT_ε(a, b) = min_P ⟨P, C⟩ + ε KL(P | a⊗b), KL(P | Q) = Σ_ij P_ij log(P_ij / Q_ij) − P_ij + Q_ij, over couplings
/// P of a and b. The optimal plan is P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε); f, g are the dual potentials.
/// On couplings KL(P | a⊗b) = Σ P log P + H(a) + H(b) differs from POT's regulariser Ω(P) = Σ P log P by the
/// constant H(a) + H(b) (H the Shannon entropy), so the plan (and <c>TransportCost</c>) is the same as POT's <c>ot.sinkhorn</c> / <c>ot.sinkhorn2</c>;
/// <c>EntropicCost</c> is the KL-regularised value, which POT does not return.
/// </remarks>
type SinkhornResult =
    { /// <summary>The transport cost ⟨P, C⟩ of the returned plan (what POT's <c>ot.sinkhorn2</c> returns).</summary>
      TransportCost: float
      /// <summary>
      /// OT_ε(a, b) = ⟨f, a⟩ + ⟨g, b⟩, the dual objective at the returned potentials; at convergence it equals
      /// min ⟨P, C⟩ + ε KL(P | a⊗b) and lies in [W, W + ε·min(H(a), H(b))] for the exact optimum W.
      /// </summary>
      EntropicCost: float
      /// <summary>The plan P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε), n × m; zero on rows and columns of zero weight.</summary>
      Plan: float[,]
      /// <summary>
      /// The source potential f, length n. On rows of zero weight it is the soft c-transform
      /// f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε) of g (its natural extension); it carries no mass there.
      /// </summary>
      F: float[]
      /// <summary>The target potential g, length m; on columns of zero weight, the soft c-transform of f.</summary>
      G: float[]
      /// <summary>The number of iterations made (each one an f-update followed by a g-update), 1 … maxIterations.</summary>
      Iterations: int
      /// <summary>‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ of the returned plan, recomputed from the plan itself.</summary>
      MarginalError: float }

/// <summary>
/// Entropic optimal transport in float64 by the log-domain Sinkhorn algorithm, and the debiased Sinkhorn divergence.
/// </summary>
/// <remarks>
/// References:
/// [1] G. Peyré, M. Cuturi, "Computational Optimal Transport", Foundations and Trends in Machine Learning 11(5–6),
/// 2019, arXiv:1803.00567, §4.2 (eq. 4.2, Prop. 4.3) and §4.4 (Remark 4.23: log-domain Sinkhorn with the soft-min).
/// [2] J. Feydy, T. Séjourné, F.-X. Vialard, S. Amari, A. Trouvé, G. Peyré, "Interpolating between Optimal
/// Transport and MMD using Sinkhorn Divergences", AISTATS 2019, arXiv:1810.08278 (eq. 1–3, Theorem 1).
/// [3] B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport problems", SIAM
/// Journal on Scientific Computing 41(3), 2019, arXiv:1610.06519 (log-domain stabilisation).
/// [4] J. Altschuler, J. Weed, P. Rigollet, "Near-linear time approximation algorithms for optimal transport via
/// Sinkhorn iteration", NeurIPS 2017, arXiv:1705.09634 (Lemma 7: rounding a plan with marginal error δ onto the
/// transport polytope costs at most 2δ·max C).
/// </remarks>
[<RequireQualifiedAccess>]
module Sinkhorn =

    /// log Σ_k exp(s_k + r_k) over k, stable (the maximum is factored out); −∞ only if every term is −∞.
    let private logSumExp (count: int) (term: int -> float) =
        let mutable best = Double.NegativeInfinity
        for k in 0 .. count - 1 do
            let t = term k
            if t > best then best <- t
        if Double.IsNegativeInfinity best then
            best
        else
            let mutable s = 0.0
            for k in 0 .. count - 1 do
                s <- s + exp (term k - best)
            best + log s

    /// <summary>
    /// Solves entropic optimal transport OT_ε(a, b) = min_P ⟨P, C⟩ + ε KL(P | a⊗b) over couplings P of a and b by
    /// log-domain Sinkhorn iterations (POT: <c>ot.sinkhorn(a, b, C, ε, method="sinkhorn_log")</c>).
    /// </summary>
    /// <param name="cost">The ground cost C, n × m, finite.</param>
    /// <param name="a">Source weights, length n, finite, non-negative, not all zero; normalised to sum to one.</param>
    /// <param name="b">Target weights, length m, finite, non-negative, not all zero; normalised to sum to one.</param>
    /// <param name="epsilon">The regularisation ε &gt; 0, in the units of C.</param>
    /// <param name="maxIterations">The most iterations to make, ≥ 1.</param>
    /// <param name="tolerance">Stop once the L1 marginal error ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ of the plan is ≤ this (&gt; 0).</param>
    /// <returns>The plan, potentials, both costs, the iteration count and the marginal error (see <see cref="T:DistEmbed.Core.Reference.SinkhornResult"/>).</returns>
    /// <remarks>
    /// <para>Iterations [1, Remark 4.23], with the soft-min computed as a stable log-sum-exp:
    /// f_i ← −ε log Σ_j b_j exp((g_j − C_ij)/ε),  g_j ← −ε log Σ_i a_i exp((f_i − C_ij)/ε),
    /// starting from f = 0. Internally the log-scalings α_i = log a_i + f_i/ε and β_j = log b_j + g_j/ε are
    /// iterated, so the plan is P_ij = exp(α_i + β_j − C_ij/ε) and no exponential of a large number is ever formed;
    /// this stays finite for ε far below the cost scale (ε = 10⁻³·max C with C up to 10⁴) [3].</para>
    /// <para>After each g-update the column sums are exact, so the marginal error is the row error
    /// Σ_i a_i |exp((f_i − f_i⁺)/ε) − 1|, read off the next f-update f⁺ at no extra cost. The loop stops when that
    /// error is ≤ <paramref name="tolerance"/> or after <paramref name="maxIterations"/> iterations; the returned
    /// <c>MarginalError</c> is recomputed from the plan. Rows and columns of zero weight are left out of the
    /// iterations (their plan entries are zero) and get the soft c-transform as potential.</para>
    /// <para>Since the total mass of the plan is one after a g-update, the dual objective
    /// ⟨f, a⟩ + ⟨g, b⟩ − ε⟨a⊗b, exp((f⊕g − C)/ε) − 1⟩ ([1, Prop. 4.4] written for the reference measure a⊗b) reduces to ⟨f, a⟩ + ⟨g, b⟩ =
    /// <c>EntropicCost</c>, a lower bound on OT_ε that is exact at convergence.</para>
    /// <para>Cost: O(nm) per iteration; about 1/ε·max C iterations to converge in the worst case.</para>
    /// </remarks>
    /// <exception cref="T:System.ArgumentNullException">An array argument is null.</exception>
    /// <exception cref="T:System.ArgumentException">A weight vector is empty, not finite, negative or all zero; the
    /// shape of <paramref name="cost"/> is not a.Length × b.Length or a cost is not finite; <paramref name="epsilon"/>
    /// or <paramref name="tolerance"/> is not a finite positive number; <paramref name="maxIterations"/> is below 1.</exception>
    [<CompiledName("Solve")>]
    let solve (cost: float[,], a: float[], b: float[], epsilon: float, maxIterations: int, tolerance: float) : SinkhornResult =
        let a, b = Validation.transportProblem cost a b
        let n, m = a.Length, b.Length
        Validation.positive "epsilon" epsilon
        Validation.atLeastInt "maxIterations" 1 maxIterations
        Validation.positive "tolerance" tolerance

        let rowIndex = [| for i in 0 .. n - 1 do if a.[i] > 0.0 then yield i |]
        let colIndex = [| for j in 0 .. m - 1 do if b.[j] > 0.0 then yield j |]
        let rows, cols = rowIndex.Length, colIndex.Length
        let logA = rowIndex |> Array.map (fun i -> log a.[i])
        let logB = colIndex |> Array.map (fun j -> log b.[j])
        // −C/ε on the support, row-major and column-major, so both half-steps read memory in order.
        let kernel = Array.init (rows * cols) (fun e -> -cost.[rowIndex.[e / cols], colIndex.[e % cols]] / epsilon)
        let kernelT = Array.init (rows * cols) (fun e -> kernel.[(e % rows) * cols + e / rows])

        let alpha = Array.copy logA
        let alphaNext = Array.zeroCreate<float> rows
        let beta = Array.zeroCreate<float> cols
        let updateBeta () =
            for j in 0 .. cols - 1 do
                let offset = j * rows
                beta.[j] <- logB.[j] - logSumExp rows (fun i -> alpha.[i] + kernelT.[offset + i])
        let updateAlphaNext () =
            for i in 0 .. rows - 1 do
                let offset = i * cols
                alphaNext.[i] <- logA.[i] - logSumExp cols (fun j -> beta.[j] + kernel.[offset + j])

        updateBeta ()
        let mutable iterations = 1
        let mutable running = true
        while running do
            updateAlphaNext ()
            // Row sums of the current plan are a_i exp(α_i − α⁺_i); the column sums are exact.
            let mutable rowError = 0.0
            for r in 0 .. rows - 1 do
                rowError <- rowError + abs (exp (logA.[r] + alpha.[r] - alphaNext.[r]) - exp logA.[r])
            if rowError <= tolerance || iterations >= maxIterations then
                running <- false
            else
                Array.blit alphaNext 0 alpha 0 rows
                updateBeta ()
                iterations <- iterations + 1

        let plan = Array2D.zeroCreate<float> n m
        let rowSum = Array.zeroCreate<float> n
        let colSum = Array.zeroCreate<float> m
        let mutable transport = 0.0
        for r in 0 .. rows - 1 do
            for c in 0 .. cols - 1 do
                let i, j = rowIndex.[r], colIndex.[c]
                let pij = exp (alpha.[r] + beta.[c] + kernel.[r * cols + c])
                plan.[i, j] <- pij
                rowSum.[i] <- rowSum.[i] + pij
                colSum.[j] <- colSum.[j] + pij
                transport <- transport + pij * cost.[i, j]
        let mutable marginalError = 0.0
        for i in 0 .. n - 1 do
            marginalError <- marginalError + abs (rowSum.[i] - a.[i])
        for j in 0 .. m - 1 do
            marginalError <- marginalError + abs (colSum.[j] - b.[j])

        let f = Array.zeroCreate<float> n
        let g = Array.zeroCreate<float> m
        for r in 0 .. rows - 1 do
            f.[rowIndex.[r]] <- epsilon * (alpha.[r] - logA.[r])
        for c in 0 .. cols - 1 do
            g.[colIndex.[c]] <- epsilon * (beta.[c] - logB.[c])
        // Zero-weight rows and columns: the soft c-transforms f_i = −ε log Σ_j exp(β_j − C_ij/ε) and
        // g_j = −ε log Σ_i exp(α_i − C_ij/ε) over the support.
        for i in 0 .. n - 1 do
            if a.[i] = 0.0 then
                f.[i] <- -epsilon * logSumExp cols (fun c -> beta.[c] - cost.[i, colIndex.[c]] / epsilon)
        for j in 0 .. m - 1 do
            if b.[j] = 0.0 then
                g.[j] <- -epsilon * logSumExp rows (fun r -> alpha.[r] - cost.[rowIndex.[r], j] / epsilon)
        let mutable dual = 0.0
        for r in 0 .. rows - 1 do
            dual <- dual + a.[rowIndex.[r]] * f.[rowIndex.[r]]
        for c in 0 .. cols - 1 do
            dual <- dual + b.[colIndex.[c]] * g.[colIndex.[c]]

        { TransportCost = transport
          EntropicCost = dual
          Plan = plan
          F = f
          G = g
          Iterations = iterations
          MarginalError = marginalError }

    /// <summary>
    /// Entropic optimal transport between two empirical distributions for the ground cost C_ij = ‖x_i − y_j‖^p.
    /// </summary>
    /// <param name="p">The exponent p ≥ 1, finite.</param>
    /// <param name="x">The source distribution, T_x points in ℝ^d with weights a.</param>
    /// <param name="y">The target distribution, T_y points in ℝ^d with weights b.</param>
    /// <param name="epsilon">The regularisation ε &gt; 0, in the units of C (distance^p).</param>
    /// <param name="maxIterations">The most iterations to make, ≥ 1.</param>
    /// <param name="tolerance">The L1 marginal error at which to stop (&gt; 0).</param>
    /// <returns>As <see cref="M:DistEmbed.Core.Reference.Sinkhorn.Solve(System.Double[0:,0:],System.Double[],System.Double[],System.Double,System.Int32,System.Double)"/>, with a plan of shape T_x × T_y.</returns>
    /// <remarks>Equals <c>solve(ExactTransport.groundCost(p, x, y), x.Weights, y.Weights, ε, maxIterations, tolerance)</c>.</remarks>
    /// <exception cref="T:System.ArgumentException">As for <c>ExactTransport.groundCost</c> and <c>solve</c>.</exception>
    [<CompiledName("SolvePoints")>]
    let solvePoints (p: float, x: Empirical, y: Empirical, epsilon: float, maxIterations: int, tolerance: float) =
        let c = ExactTransport.groundCost (p, x, y)
        solve (c, x.Weights, y.Weights, epsilon, maxIterations, tolerance)

    /// <summary>
    /// The debiased Sinkhorn divergence S_ε(x, y) = OT_ε(x, y) − ½ OT_ε(x, x) − ½ OT_ε(y, y) for the cost ‖x − y‖^p
    /// (GeomLoss's <c>SamplesLoss("sinkhorn", p, blur, debias = True)</c> up to its cost convention: GeomLoss uses the
    /// cost ‖x − y‖ for p = 1 and ½‖x − y‖² for p = 2, with ε = blur^p in its own cost units. Since OT_ε with the cost
    /// 2C equals 2·OT_{ε/2} with the cost C, S_ε here equals the GeomLoss value for p = 1 with blur = ε, and twice the
    /// GeomLoss value for p = 2 with blur = √(ε/2).)
    /// </summary>
    /// <param name="p">The exponent p ≥ 1, finite.</param>
    /// <param name="x">The first distribution, T_x points in ℝ^d.</param>
    /// <param name="y">The second distribution, T_y points in ℝ^d.</param>
    /// <param name="epsilon">The regularisation ε &gt; 0, in the units of the cost (distance^p).</param>
    /// <param name="maxIterations">The most iterations for each of the three solves, ≥ 1.</param>
    /// <param name="tolerance">The L1 marginal error at which each solve stops (&gt; 0).</param>
    /// <returns>S_ε(x, y), a scalar.</returns>
    /// <remarks>
    /// OT_ε is the KL-regularised value min ⟨P, C⟩ + ε KL(P | a⊗b) (<c>EntropicCost</c>) [2, eq. 1–3]: each term
    /// is then ≥ 0 and ≥ the exact cost, but OT_ε(x, x) is in general &gt; 0, a bias that the debiasing removes, so S_ε(x, x) = 0. For
    /// 1 ≤ p ≤ 2 (so that exp(−‖x − y‖^p/ε) is a positive universal kernel) S_ε(x, y) ≥ 0 with equality only when
    /// x = y [2, Theorem 1]; S_ε → W_p^p as ε → 0 and → ½‖x − y‖²_{−C} (an MMD with kernel −‖x − y‖^p) as ε → ∞.
    /// POT's entropy term Σ P log P (or Σ P (log P − 1)) changes OT_ε(a, b) by the constant −ε(H(a) + H(b)) (− ε)
    /// on couplings; these constants cancel in S_ε, so S_ε is the same in either convention, but the individual
    /// terms are not (POT's can be negative). For p &gt; 2 the kernel is not positive definite and S_ε can be
    /// negative. Each term is solved to <paramref name="tolerance"/>; their errors add.
    /// </remarks>
    /// <exception cref="T:System.ArgumentException">As for <see cref="M:DistEmbed.Core.Reference.Sinkhorn.SolvePoints(System.Double,DistEmbed.Core.Reference.Empirical,DistEmbed.Core.Reference.Empirical,System.Double,System.Int32,System.Double)"/>.</exception>
    [<CompiledName("Divergence")>]
    let divergence (p: float, x: Empirical, y: Empirical, epsilon: float, maxIterations: int, tolerance: float) : float =
        let xy = solvePoints (p, x, y, epsilon, maxIterations, tolerance)
        let xx = solvePoints (p, x, x, epsilon, maxIterations, tolerance)
        let yy = solvePoints (p, y, y, epsilon, maxIterations, tolerance)
        xy.EntropicCost - 0.5 * xx.EntropicCost - 0.5 * yy.EntropicCost
