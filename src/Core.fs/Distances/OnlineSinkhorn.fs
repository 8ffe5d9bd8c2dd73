namespace DistEmbed.Core

open System
open System.Globalization
open TorchSharp

/// <summary>
/// The outcome of an online Sinkhorn solve between two large point clouds (see <see cref="T:DistEmbed.Core.OnlineSinkhorn"/>).
/// Disposing it disposes its tensors.
/// </summary>
type OnlineSinkhornResult =
    { /// <summary>
      /// The entropic cost OT_ε(a, b) = ⟨f, a⟩ + ⟨g, b⟩ (a 0-d tensor in the inputs' dtype). When an input requires grad it
      /// carries the envelope gradient — ∂/∂x_i = Σ_j P_ij ∂ₓC(x_i, y_j), ∂/∂y_j = Σ_i P_ij ∂ᵧC(x_i, y_j), ∂/∂a = f,
      /// ∂/∂b = g (through the normalisation of the weights) — computed tile by tile, never holding a T × T' tensor.
      /// </summary>
      Value: torch.Tensor
      /// <summary>The dual potential on x's points, [T] (detached, in the working dtype).</summary>
      F: torch.Tensor
      /// <summary>The dual potential on y's points, [T'] (detached, in the working dtype).</summary>
      G: torch.Tensor
      /// <summary>Iterations run (ε-scaling levels included).</summary>
      Iterations: int
      /// <summary>The L1 marginal error of the final plan, ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ (measured in the final tiled pass).</summary>
      MarginalError: float
      /// <summary>Whether the iterations met the tolerance (on the row marginal) before MaxIterations.</summary>
      Converged: bool }

    interface IDisposable with
        member this.Dispose() =
            for t in [ this.Value; this.F; this.G ] do
                if not (isNull t) then t.Dispose()

/// <summary>Which kernel evaluates the reductions of <see cref="T:DistEmbed.Core.OnlineSinkhorn"/>.</summary>
type OnlineSinkhornKernel =
    /// <summary>The fused kernel for CPU tensors, the tiled kernel for tensors on another device (CUDA).</summary>
    | Auto = 0
    /// <summary>The fused CPU kernel: the cost computed on the fly from the coordinates and a streaming, max-shifted
    /// log-sum-exp per row in plain .NET code (SIMD over columns, threads over rows), no tile tensors. CPU tensors only.</summary>
    | Fused = 1
    /// <summary>The tiled TorchSharp kernel: tiles of the cost built as tensors on the inputs' device (CPU or CUDA) and
    /// reduced with libtorch's log-sum-exp; the reference for the fused kernel.</summary>
    | Tiled = 2

/// <summary>
/// Entropic optimal transport between two large weighted point clouds in O(T + T') memory: every log-sum-exp of the
/// Sinkhorn updates is computed over tiles of the cost matrix built on the fly and discarded (the "online" mode of
/// GeomLoss [3], without KeOps), so two clouds of 10⁵ points fit where the tensorised solver
/// (<see cref="T:DistEmbed.Core.Sinkhorn"/>, O(T·T') memory per pair) cannot.
/// </summary>
/// <remarks>
/// <para>Same problem, updates and conventions as <see cref="T:DistEmbed.Core.Sinkhorn"/>: cost C_ij = ‖x_i − y_j‖₂^p (p = 2 or 1),
/// OT_ε(a, b) = max_{f,g} ⟨f, a⟩ + ⟨g, b⟩ − ε⟨a⊗b, e^{(f⊕g−C)/ε} − 1⟩ [1; 2, Prop. 4.3], the alternating log-domain updates
/// f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε), g_j = −ε log Σ_i a_i exp((f_i − C_ij)/ε) [2, §4.4], the symmetric
/// terms by the averaged iteration f ← ½(f + T(f)) [3, §3.1], and S_ε(a, b) = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b) [3, Thm. 1].</para>
/// <para>Kernels (<see cref="T:DistEmbed.Core.OnlineSinkhornKernel"/>). <b>Fused</b> (CPU tensors, the default there): the
/// points, weights and potentials are copied once to arrays (coordinate-major, in the working precision) and every
/// reduction runs in plain .NET code: for each row i the costs C_ij are computed from the coordinate differences (no
/// ‖x‖² + ‖y‖² − 2⟨x, y⟩ cancellation) a vector of columns at a time (<see cref="T:System.Numerics.Vector`1"/>), and
/// Σ_j exp(t_j − C_ij/ε) is accumulated with a running maximum per lane (the lane's sum rescaled when its maximum rises,
/// so every exponent is ≤ 0), lanes combined in float64 every 4096 columns; rows are split over threads
/// (<c>Parallel.For</c>, the given thread count or torch's). The exp is a vectorised Cody–Waite reduction and polynomial
/// (relative error ≤ 3·10⁻⁷ in float32, ≤ 10⁻¹⁵ in float64, 0 below the smallest normal number). The potentials and all
/// scalars are float64 in either working precision. Memory: the arrays, O((T + T')·d).
/// <b>Tiled</b> (any device; the reference): for p = 2 a half-step needs, per tile of rows R and columns J, one matrix
/// product: with centred points, (g_j − C_ij)/ε + log b_j = −‖x_i‖²/ε + h_j + (2/ε)⟨x_i, y_j⟩,
/// h_j = log b_j + (g_j − ‖y_j‖²)/ε, so the tile is one <c>addmm</c> and a <c>logsumexp</c> over its columns; the
/// per-tile results [|R|, tiles] are combined by a second log-sum-exp. p = 1 computes the tile's distances from the
/// coordinate differences (O(tile²·d)). Memory: the points, the potentials and O(tile²) per tile.</para>
/// <para>ε-scaling: with <c>EpsilonScaling</c> = q ∈ (0, 1) the solve starts at ε₀ = (r_x + r_y)^p, r = the largest
/// distance of a point to the centre of a's points (an upper bound of max C, computed in O(T + T')), and runs one
/// iteration at each level ε₀, ε₀q, … above ε [5]. Convergence is checked every <c>CheckEvery</c> iterations on the
/// row marginal, Σ_i a_i |e^{(f_i − T_f(g)_i)/ε} − 1| ≤ <c>Tolerance</c>, at no extra cost (T_f(g) is the next update).
/// The weights are normalised to probability vectors (zero weights are allowed and drop out). A float32 solve runs
/// in float64 where ε₀/ε &gt; 2¹⁶ (float32 exponents too coarse), like the tensorised solver.</para>
/// <para>Options read: Epsilon, Power, MaxIterations, Tolerance, CheckEvery, EpsilonScaling, OnNonConvergence;
/// Gradient must be Envelope and KeepPlan false (the plan is T × T'); BlockSize is not used (the tile size is an
/// argument of the tiled kernel; the fused kernel checks it and does not use it).</para>
/// <para>References: as <see cref="T:DistEmbed.Core.Sinkhorn"/>; [3] J. Feydy et al., AISTATS 2019, and J. Feydy,
/// "Geometric data analysis, beyond convolutions", PhD thesis, 2020, §3.3 (online log-sum-exp reductions);
/// [5] B. Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport problems", SIAM J. Sci.
/// Comput. 41(3), 2019, §3.2 (ε-scaling) — as cited by <see cref="T:DistEmbed.Core.Sinkhorn"/>.</para>
/// </remarks>
[<RequireQualifiedAccess>]
module OnlineSinkhorn =

    type private Tensor = torch.Tensor

    let private inv = CultureInfo.InvariantCulture

    // Arithmetic through Scalars that stay alive for the native call (see Scalars.sc: TorchSharp 0.107 passes a
    // temporary Scalar — the implicit alpha of add/sub too — by raw handle, and its finalizer may free it mid-call).
    let private one = lazy (Scalars.sc 1.0)
    let private plus (x: Tensor) (y: Tensor) : Tensor = x.add(y, one.Force())
    let private minus (x: Tensor) (y: Tensor) : Tensor = x.sub y
    let private times (t: Tensor) (x: float) : Tensor =
        use s = Scalars.fresh x
        t.mul s
    let private clampZero (t: Tensor) : Tensor = t.clamp_min(Scalars.zero.Force())
    let private positive (t: Tensor) : Tensor = t.gt(Scalars.zero.Force())

    let private toHost (t: Tensor) = t.to_type(torch.float64).item<float>()

    /// Checks x [T, d] and a [T] (name: the argument names), and returns the normalised weights (autograd kept).
    let private checkCloud (xName: string) (aName: string) (x: Tensor) (a: Tensor) : Tensor =
        Validation.notNull xName x
        Validation.notNull aName a
        if x.dim () <> 2L then Validation.fail xName (String.Format(inv, "expected points [T, d], got {0} dimensions", x.dim ()))
        if x.shape.[0] = 0L then Validation.fail xName "expected at least one point, got T = 0"
        if x.dtype <> torch.float32 && x.dtype <> torch.float64 then Validation.fail xName (sprintf "expected float32 or float64 points, got %A" x.dtype)
        if a.dim () <> 1L || a.shape.[0] <> x.shape.[0] then
            Validation.fail aName (String.Format(inv, "expected weights [{0}] (one per point of {1}), got [{2}]", x.shape.[0], xName, String.Join(", ", a.shape)))
        if a.dtype <> x.dtype then Validation.fail aName (sprintf "expected weights of the points' dtype %A, got %A" x.dtype a.dtype)
        if a.device_type <> x.device_type then Validation.fail aName "expected the weights on the points' device"
        Validation.finiteTensor xName (x.detach())
        Validation.finiteTensor aName (a.detach())
        let low, total =
            use _ = torch.no_grad ()
            use _ = torch.NewDisposeScope()
            toHost (a.min()), toHost (a.sum())
        if low < 0.0 then Validation.fail aName (String.Format(inv, "contains a negative weight ({0:G4}); weights must be ≥ 0", low))
        if total <= 0.0 then Validation.fail aName "the weights sum to 0; at least one point needs a positive weight"
        a.div(a.sum())

    let private checkOptions (o: SinkhornOptions) (tile: int) =
        SinkhornSolver.checkOptions o
        if o.Gradient <> SinkhornGradient.Envelope then
            Validation.fail "options" "Gradient: the online solver gives envelope gradients only (unrolled iterations would hold every T × T' step)"
        if o.KeepPlan then Validation.fail "options" "KeepPlan: the online solver never forms the T × T' plan; use Sinkhorn.solve for small clouds"
        if tile < 1 then Validation.fail "tile" (String.Format(inv, "expected a tile size ≥ 1, got {0}", tile))

    /// The cloud prepared for tiling: centred points (detached, working dtype), their squared norms, log-weights.
    type private Cloud =
        { Points: Tensor; Norms: Tensor; LogWeights: Tensor; Weights: Tensor; Count: int64 }

    let private prepare (x: Tensor) (w: Tensor) (centre: Tensor) (dtype: torch.ScalarType) =
        let p = (minus (x.detach().to_type dtype) centre).contiguous()
        let wd = w.detach().to_type dtype
        use minusInfinity = Scalars.fresh Double.NegativeInfinity
        { Points = p
          Norms = (p * p).sum(1L)
          LogWeights = torch.where(positive wd, wd.log(), torch.full_like(wd, minusInfinity))
          Weights = wd
          Count = p.shape.[0] }

    /// ‖x_i − y_j‖ for a tile [r, d] × [c, d] → [r, c], from the differences (the expansion's rounding error at nearby
    /// points, of order machine ε·‖x‖², would become √(machine ε)·‖x‖ under the root).
    let private exactDistance (x: Tensor) (y: Tensor) : Tensor =
        let diff = minus (x.unsqueeze 1L) (y.unsqueeze 0L)
        (diff * diff).sum(2L).sqrt()

    /// One half-step T(h) on the rows of `rows` against the columns of `cols` with column potential h:
    /// out_i = −ε log Σ_j w_j exp((h_j − C_ij)/ε), tile by tile.
    let private halfStep (power: int) (tile: int64) (eps: float) (rows: Cloud) (cols: Cloud) (h: Tensor) : Tensor =
        use _ = torch.no_grad ()
        let parts = ResizeArray<Tensor>()
        // Column terms: p = 2 folds −‖y‖²/ε into the column vector; p = 1 keeps (h_j)/ε + log w_j.
        let colTerm =
            if power = 2 then plus cols.LogWeights (times (minus h cols.Norms) (1.0 / eps))
            else plus cols.LogWeights (times h (1.0 / eps))
        // (2/ε)·y once per half-step in the working dtype (addmm's alpha is a float32: it would round 2/ε).
        use scaled = if power = 2 then times cols.Points (2.0 / eps) else null
        for r0 in 0L .. tile .. rows.Count - 1L do
            use scope = torch.NewDisposeScope()
            let r = min tile (rows.Count - r0)
            let xr = rows.Points.narrow(0L, r0, r)
            let lses = ResizeArray<Tensor>()
            for c0 in 0L .. tile .. cols.Count - 1L do
                // One scope per tile: the tile and its temporaries are freed before the next one (O(tile²) memory).
                use tileScope = torch.NewDisposeScope()
                let c = min tile (cols.Count - c0)
                let t = colTerm.narrow(0L, c0, c).unsqueeze(0L)
                let s =
                    if power = 2 then torch.addmm(t, xr, scaled.narrow(0L, c0, c).t(), beta = 1.0f, alpha = 1.0f)
                    else minus t (times (exactDistance xr (cols.Points.narrow(0L, c0, c))) (1.0 / eps))
                lses.Add(s.logsumexp(1L).MoveToOuterDisposeScope())
            let lse = torch.stack(lses, 1L).logsumexp(1L)
            let out =
                if power = 2 then minus (rows.Norms.narrow(0L, r0, r)) (times lse eps)
                else times lse (-eps)
            parts.Add(out.MoveToOuterDisposeScope())
        let result = torch.cat(parts, 0L)
        for p in parts do p.Dispose()
        result

    /// Σ_i a_i |exp((f_i − fNext_i)/ε) − 1|: the row-marginal error of the plan of (f, g) when fNext = T_f(g).
    let private rowError (a: Tensor) (f: Tensor) (fNext: Tensor) (eps: float) =
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope()
        let ratio = (times (minus f fNext) (1.0 / eps)).exp()
        toHost ((a * (minus ratio (torch.ones_like ratio)).abs()).sum())

    let private levels (o: SinkhornOptions) (e0: float) =
        if o.EpsilonScaling = 0.0 then [||]
        else Array.unfold (fun e -> if e > o.Epsilon then Some(e, e * o.EpsilonScaling) else None) e0

    /// The plan's marginals and the envelope gradients of ⟨P, ·⟩ in one tiled pass over P_ij = a_i b_j e^{(f_i + g_j − C_ij)/ε}:
    /// returns (row sums [T], column sums [T'], Σ_j P_ij ∂ₓC(x_i, y_j) [T, d], Σ_i P_ij ∂ᵧC(x_i, y_j) [T', d]).
    let private planPass (power: int) (tile: int64) (eps: float) (xs: Cloud) (ys: Cloud) (f: Tensor) (g: Tensor) (wantGrad: bool) =
        use _ = torch.no_grad ()
        let rows = torch.zeros_like xs.Weights
        let cols = torch.zeros_like ys.Weights
        let gx = if wantGrad then torch.zeros_like xs.Points else null
        let gy = if wantGrad then torch.zeros_like ys.Points else null
        for r0 in 0L .. tile .. xs.Count - 1L do
            use _ = torch.NewDisposeScope()
            let r = min tile (xs.Count - r0)
            let xr = xs.Points.narrow(0L, r0, r)
            let rowLog = plus (xs.LogWeights.narrow(0L, r0, r)) (times (f.narrow(0L, r0, r)) (1.0 / eps))
            for c0 in 0L .. tile .. ys.Count - 1L do
                use tileScope = torch.NewDisposeScope()
                let c = min tile (ys.Count - c0)
                let yc = ys.Points.narrow(0L, c0, c)
                let cost =
                    if power = 2 then clampZero (torch.addmm(plus (xs.Norms.narrow(0L, r0, r).unsqueeze(1L)) (ys.Norms.narrow(0L, c0, c).unsqueeze(0L)), xr, yc.t(), beta = 1.0f, alpha = -2.0f))
                    else exactDistance xr yc
                let colLog = plus (ys.LogWeights.narrow(0L, c0, c)) (times (g.narrow(0L, c0, c)) (1.0 / eps))
                let p = (minus (plus (rowLog.unsqueeze(1L)) (colLog.unsqueeze(0L))) (times cost (1.0 / eps))).exp()
                rows.narrow(0L, r0, r).add_(p.sum(1L), one.Force()) |> ignore
                cols.narrow(0L, c0, c).add_(p.sum(0L), one.Force()) |> ignore
                if wantGrad then
                    // ∂ₓ‖x − y‖² = 2(x − y); ∂ₓ‖x − y‖ = (x − y)/‖x − y‖ (0 where x = y): Σ_j W_ij (x_i − y_j) with W = 2P or P/C.
                    let w =
                        if power = 2 then times p 2.0
                        else
                            let nonzero = positive cost
                            torch.where(nonzero, p.div(torch.where(nonzero, cost, torch.ones_like cost)), torch.zeros_like p)
                    gx.narrow(0L, r0, r).add_(minus (xr * w.sum(1L).unsqueeze(1L)) (w.mm(yc)), one.Force()) |> ignore
                    gy.narrow(0L, c0, c).add_(minus (yc * w.sum(0L).unsqueeze(1L)) (w.t().mm(xr)), one.Force()) |> ignore
        rows, cols, gx, gy

    /// The working dtype: float64 for float64 inputs or where ε₀/ε exceeds 2¹⁶ (float32 exponents too coarse).
    let private workingType (x: Tensor) (e0: float) (eps: float) =
        if x.dtype = torch.float64 || e0 / eps > 65536.0 then torch.float64 else torch.float32

    let private radius (p: Tensor) =
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope()
        toHost ((p * p).sum(1L).max().sqrt())

    /// The shared non-convergence policy (<c>SinkhornSolver.enforce</c>) for one online solve: every unconverged solve
    /// is reported on its own (a fresh once-per-owner flag), no diagnostics are recorded.
    let private enforce (o: SinkhornOptions) (name: string) (iterations: int) (error: float) (converged: bool) =
        SinkhornSolver.enforce o null (ref 0) name { Iterations = iterations; Converged = converged; Error = error }

    /// The linear surrogate v + Σ (t − t̄)·∇ over the inputs that require grad: its value is v, its gradient the given one.
    let private withGradients (value: Tensor) (terms: (Tensor * Tensor) list) =
        terms
        |> List.fold (fun (acc: Tensor) (t, grad) ->
            if isNull t || not t.requires_grad then acc
            else plus acc ((minus t (t.detach()) * grad.to_type(t.dtype)).sum())) value

    // ------------------------------------------------------------------ the fused CPU kernel's solver

    /// Points [T, d] as a float64 row-major array and the normalised weights as float64.
    let private hostArrays (x: Tensor) (an: Tensor) =
        use _ = torch.no_grad ()
        use _ = torch.NewDisposeScope()
        x.detach().to_type(torch.float64).contiguous().data<float>().ToArray(),
        an.detach().to_type(torch.float64).contiguous().data<float>().ToArray()

    /// Σ_i w_i x_i (the centre of the weighted points).
    let private weightedCentre (points: float[]) (weights: float[]) (d: int) =
        let c = Array.zeroCreate<float> d
        for i in 0 .. weights.Length - 1 do
            for k in 0 .. d - 1 do c.[k] <- c.[k] + weights.[i] * points.[i * d + k]
        c

    /// The points minus the centre, and the largest distance of a point to it.
    let private centred (points: float[]) (centre: float[]) (d: int) =
        let out = Array.copy points
        let mutable r2 = 0.0
        for i in 0 .. points.Length / d - 1 do
            let mutable s = 0.0
            for k in 0 .. d - 1 do
                let v = points.[i * d + k] - centre.[k]
                out.[i * d + k] <- v
                s <- s + v * v
            r2 <- max r2 s
        out, sqrt r2

    /// Σ_i a_i |exp((f_i − fNext_i)/ε) − 1| (see rowError) on arrays.
    let private rowErrorOf (a: float[]) (f: float[]) (fNext: float[]) (eps: float) =
        let mutable s = 0.0
        for i in 0 .. a.Length - 1 do
            if a.[i] > 0.0 then s <- s + a.[i] * abs (exp ((f.[i] - fNext.[i]) / eps) - 1.0)
        s

    let private dot (a: float[]) (b: float[]) =
        let mutable s = 0.0
        for i in 0 .. a.Length - 1 do
            if a.[i] > 0.0 then s <- s + a.[i] * b.[i]
        s

    let private l1 (a: float[]) (b: float[]) =
        let mutable s = 0.0
        for i in 0 .. a.Length - 1 do s <- s + abs (a.[i] - b.[i])
        s

    let private asTensor (values: float[]) (rows: int64) (cols: int64) : Tensor =
        let t = torch.tensor(values, dtype = torch.float64)
        if cols > 0L then t.reshape(rows, cols) else t

    /// The working precision of the fused kernel: float32 unless the inputs are float64 or ε₀/ε > 2¹⁶ (as workingType).
    let private singleFor (x: Tensor) (e0: float) (eps: float) =
        not (x.dtype = torch.float64 || e0 / eps > 65536.0)

    /// OT_ε(a, b) by the fused kernel (an, bn: the checked, normalised weights).
    let private fusedSolve (threads: int) (x: Tensor) (an: Tensor) (y: Tensor) (bn: Tensor) (o: SinkhornOptions) : OnlineSinkhornResult =
        let eps, power, d = o.Epsilon, o.Power, int x.shape.[1]
        let px, wa = hostArrays x an
        let py, wb = hostArrays y bn
        let centre = weightedCentre px wa d
        let cx, rx = centred px centre d
        let cy, ry = centred py centre d
        let e0 = Math.Pow(rx + ry, float power)
        let single = singleFor x e0 eps
        let xs = FusedCloud(cx, wa, d, single)
        let ys = FusedCloud(cy, wb, d, single)
        let half e (rows: FusedCloud) (cols: FusedCloud) h = FusedSinkhorn.halfStep threads power e rows cols h
        let mutable g = Array.zeroCreate<float> ys.Count
        let mutable iterations = 0
        for e in levels o e0 do
            let f = half e xs ys g
            g <- half e ys xs f
            iterations <- iterations + 1
        let mutable f = half eps xs ys g
        let mutable converged = false
        let mutable atTarget = 0
        while not converged && atTarget < o.MaxIterations do
            g <- half eps ys xs f
            let fNext = half eps xs ys g
            atTarget <- atTarget + 1
            iterations <- iterations + 1
            if atTarget % o.CheckEvery = 0 || atTarget = o.MaxIterations then
                converged <- rowErrorOf wa f fNext eps <= o.Tolerance
            f <- fNext
        let wantGrad = torch.is_grad_enabled () && (x.requires_grad || y.requires_grad || an.requires_grad || bn.requires_grad)
        let rows, gx = FusedSinkhorn.planPass threads power eps xs ys f g (wantGrad && x.requires_grad)
        let cols, gy = FusedSinkhorn.planPass threads power eps ys xs g f (wantGrad && y.requires_grad)
        let error = l1 rows wa + l1 cols wb
        let converged = converged || (error <= o.Tolerance)
        enforce o "OnlineSinkhorn.solve" iterations error converged
        use scope = torch.NewDisposeScope()
        let dual = torch.tensor(dot wa f + dot wb g, dtype = torch.float64).to_type x.dtype
        let ft, gt = asTensor f 0L 0L, asTensor g 0L 0L
        let value =
            if wantGrad then
                let gradX = if isNull gx then null else asTensor gx x.shape.[0] x.shape.[1]
                let gradY = if isNull gy then null else asTensor gy y.shape.[0] y.shape.[1]
                withGradients dual [ x, gradX; y, gradY; an, ft; bn, gt ]
            else dual
        let working = if single then torch.float32 else torch.float64
        { Value = value.MoveToOuterDisposeScope()
          F = ft.to_type(working).MoveToOuterDisposeScope()
          G = gt.to_type(working).MoveToOuterDisposeScope()
          Iterations = iterations; MarginalError = error; Converged = converged }

    /// OT_ε(a, a) by the averaged symmetric iteration on the fused kernel (see selfCost).
    let private fusedSelfCost (threads: int) (x: Tensor) (an: Tensor) (o: SinkhornOptions) =
        let eps, power, d = o.Epsilon, o.Power, int x.shape.[1]
        let px, wa = hostArrays x an
        let cx, r = centred px (weightedCentre px wa d) d
        let e0 = Math.Pow(2.0 * r, float power)
        let xs = FusedCloud(cx, wa, d, singleFor x e0 eps)
        let averaged (f: float[]) (t: float[]) = Array.map2 (fun u v -> 0.5 * (u + v)) f t
        let mutable f = Array.zeroCreate<float> xs.Count
        let mutable iterations = 0
        for e in levels o e0 do
            f <- averaged f (FusedSinkhorn.halfStep threads power e xs xs f)
            iterations <- iterations + 1
        let mutable converged = false
        let mutable atTarget = 0
        while not converged && atTarget < o.MaxIterations do
            let fNext = FusedSinkhorn.halfStep threads power eps xs xs f
            atTarget <- atTarget + 1
            iterations <- iterations + 1
            if atTarget % o.CheckEvery = 0 || atTarget = o.MaxIterations then
                converged <- rowErrorOf wa f fNext eps <= o.Tolerance
            f <- averaged f fNext
        let wantGrad = torch.is_grad_enabled () && (x.requires_grad || an.requires_grad)
        let rows, gx = FusedSinkhorn.planPass threads power eps xs xs f f (wantGrad && x.requires_grad)
        let error = 2.0 * l1 rows wa
        let converged = converged || error <= o.Tolerance
        use scope = torch.NewDisposeScope()
        let dual = torch.tensor(2.0 * dot wa f, dtype = torch.float64).to_type x.dtype
        let value =
            if wantGrad then
                let gradX = if isNull gx then null else asTensor (Array.map (fun v -> 2.0 * v) gx) x.shape.[0] x.shape.[1]
                withGradients dual [ x, gradX; an, asTensor (Array.map (fun v -> 2.0 * v) f) 0L 0L ]
            else dual
        value.MoveToOuterDisposeScope(), iterations, error, converged

    /// Whether the fused kernel runs (kernel Auto: CPU tensors), with the thread count resolved (0: torch's).
    let private chooseKernel (kernel: OnlineSinkhornKernel) (threads: int) (x: Tensor) =
        if threads < 0 then Validation.fail "threads" (String.Format(inv, "expected a thread count ≥ 0 (0: torch's thread count), got {0}", threads))
        let resolved = if threads = 0 then max 1 (torch.get_num_threads ()) else threads
        match kernel with
        | OnlineSinkhornKernel.Auto -> x.device_type = DeviceType.CPU, resolved
        | OnlineSinkhornKernel.Fused ->
            if x.device_type <> DeviceType.CPU then
                Validation.fail "kernel" (sprintf "the fused kernel runs on the CPU; the points are on %A (use Tiled or Auto)" x.device_type)
            true, resolved
        | OnlineSinkhornKernel.Tiled -> false, resolved
        | other -> Validation.fail "kernel" (sprintf "unknown kernel %A (expected Auto, Fused or Tiled)" other)

    /// OT_ε(a, b) by the tiled TorchSharp kernel (an, bn: the checked, normalised weights).
    let private tiledSolve (x: Tensor) (a: Tensor) (y: Tensor) (b: Tensor) (an: Tensor) (bn: Tensor) (options: SinkhornOptions) (tile: int) (outer: DisposeScope) : OnlineSinkhornResult =
        let eps, power, t = options.Epsilon, options.Power, int64 tile
        let centre = (an.detach().unsqueeze(1L) * x.detach()).sum(0L).to_type torch.float64
        let rx = radius (minus (x.detach().to_type torch.float64) centre)
        let ry = radius (minus (y.detach().to_type torch.float64) centre)
        let e0 = Math.Pow(rx + ry, float power)
        let dtype = workingType x e0 eps
        let xs = prepare x an (centre.to_type dtype) dtype
        let ys = prepare y bn (centre.to_type dtype) dtype
        let mutable g = torch.zeros_like ys.Weights
        let mutable iterations = 0
        let replace (old: Tensor) (next: Tensor) = old.Dispose(); next
        for e in levels options e0 do
            let f = halfStep power t e xs ys g
            g <- replace g (halfStep power t e ys xs f)
            f.Dispose()
            iterations <- iterations + 1
        let mutable f = halfStep power t eps xs ys g
        let mutable converged = false
        let mutable atTarget = 0
        while not converged && atTarget < options.MaxIterations do
            g <- replace g (halfStep power t eps ys xs f)
            let fNext = halfStep power t eps xs ys g
            atTarget <- atTarget + 1
            iterations <- iterations + 1
            if atTarget % options.CheckEvery = 0 || atTarget = options.MaxIterations then
                converged <- rowError xs.Weights f fNext eps <= options.Tolerance
            f <- replace f fNext
        // f = T_f(g): the plan's rows are exact; its columns carry the error the last check measured.
        let wantGrad = torch.is_grad_enabled () && (x.requires_grad || y.requires_grad || a.requires_grad || b.requires_grad)
        let rows, cols, gx, gy = planPass power t eps xs ys f g wantGrad
        let error =
            use _ = torch.no_grad ()
            use _ = torch.NewDisposeScope()
            toHost (plus ((minus rows xs.Weights).abs().sum()) ((minus cols ys.Weights).abs().sum()))
        let converged = converged || (error <= options.Tolerance)
        enforce options "OnlineSinkhorn.solve" iterations error converged
        let dual = (plus ((xs.Weights * f).sum()) ((ys.Weights * g).sum())).to_type x.dtype
        let value =
            if wantGrad then withGradients dual [ x, gx; y, gy; an, f; bn, g ]
            else dual
        let result = { Value = value.MoveToOuterDisposeScope(); F = f.MoveToOuterDisposeScope(); G = g.MoveToOuterDisposeScope()
                       Iterations = iterations; MarginalError = error; Converged = converged }
        outer.Dispose()
        result

    /// <summary>
    /// OT_ε(a, b) between the clouds x [T, d] (weights a [T]) and y [T', d] (weights b [T']) in O(T + T') memory,
    /// with envelope gradients, on the chosen kernel (see the module remarks).
    /// </summary>
    /// <param name="kernel">Fused (CPU), Tiled (any device) or Auto (Fused for CPU tensors, Tiled otherwise).</param>
    /// <param name="threads">Threads of the fused kernel (≥ 1), or 0 for torch's thread count; the tiled kernel uses torch's.</param>
    /// <param name="x">The first cloud's points [T, d], float32 or float64.</param>
    /// <param name="a">Its non-negative weights [T] (normalised here; zeros allowed).</param>
    /// <param name="y">The second cloud's points [T', d], same dtype, d and device.</param>
    /// <param name="b">Its non-negative weights [T'].</param>
    /// <param name="options">The Sinkhorn options (see the module remarks for the ones read).</param>
    /// <param name="tile">Rows and columns of one cost tile of the tiled kernel (≥ 1; e.g. 2048: tile² entries are in
    /// memory at once); checked but not used by the fused kernel.</param>
    /// <returns>The value, the potentials and the convergence figures.</returns>
    [<CompiledName("SolveWith")>]
    let solveWith (kernel: OnlineSinkhornKernel) (threads: int) (x: torch.Tensor) (a: torch.Tensor) (y: torch.Tensor) (b: torch.Tensor) (options: SinkhornOptions) (tile: int) : OnlineSinkhornResult =
        checkOptions options tile
        let outer = torch.NewDisposeScope()
        try
            let an = checkCloud "x" "a" x a
            let bn = checkCloud "y" "b" y b
            if y.shape.[1] <> x.shape.[1] then
                Validation.fail "y" (String.Format(inv, "expected points of dimension {0} (as x), got {1}", x.shape.[1], y.shape.[1]))
            if y.dtype <> x.dtype then Validation.fail "y" (sprintf "expected the dtype of x (%A), got %A" x.dtype y.dtype)
            if y.device_type <> x.device_type then Validation.fail "y" "expected y on x's device"
            let fused, threads = chooseKernel kernel threads x
            if fused then
                let result = fusedSolve threads x an y bn options
                result.Value.MoveToOuterDisposeScope() |> ignore
                result.F.MoveToOuterDisposeScope() |> ignore
                result.G.MoveToOuterDisposeScope() |> ignore
                outer.Dispose()
                result
            else tiledSolve x a y b an bn options tile outer
        with _ ->
            outer.Dispose()
            reraise ()

    /// <summary>
    /// OT_ε(a, b) between the clouds x [T, d] (weights a [T]) and y [T', d] (weights b [T']) in O(T + T') memory,
    /// with envelope gradients: <see cref="M:DistEmbed.Core.OnlineSinkhorn.SolveWith"/> with kernel Auto (the fused
    /// kernel for CPU tensors) and torch's thread count.
    /// </summary>
    /// <param name="x">The first cloud's points [T, d], float32 or float64.</param>
    /// <param name="a">Its non-negative weights [T] (normalised here; zeros allowed).</param>
    /// <param name="y">The second cloud's points [T', d], same dtype, d and device.</param>
    /// <param name="b">Its non-negative weights [T'].</param>
    /// <param name="options">The Sinkhorn options (see the module remarks for the ones read).</param>
    /// <param name="tile">Rows and columns of one cost tile of the tiled kernel (≥ 1; e.g. 2048); checked, not used by
    /// the fused kernel.</param>
    /// <returns>The value, the potentials and the convergence figures.</returns>
    [<CompiledName("Solve")>]
    let solve (x: torch.Tensor) (a: torch.Tensor) (y: torch.Tensor) (b: torch.Tensor) (options: SinkhornOptions) (tile: int) : OnlineSinkhornResult =
        solveWith OnlineSinkhornKernel.Auto 0 x a y b options tile

    /// OT_ε(a, a) by the averaged symmetric iteration, with its envelope gradient (∂/∂x_i = 2Σ_j P_ij ∂₁C(x_i, x_j), ∂/∂a = 2f).
    let private selfCost (x: Tensor) (an: Tensor) (options: SinkhornOptions) (tile: int64) =
        let eps, power = options.Epsilon, options.Power
        use scope = torch.NewDisposeScope()
        let centre = (an.detach().unsqueeze(1L) * x.detach()).sum(0L).to_type torch.float64
        let r = radius (minus (x.detach().to_type torch.float64) centre)
        let e0 = Math.Pow(2.0 * r, float power)
        let dtype = workingType x e0 eps
        let xs = prepare x an (centre.to_type dtype) dtype
        let mutable f = torch.zeros_like xs.Weights
        let mutable iterations = 0
        for e in levels options e0 do
            use half = halfStep power tile e xs xs f
            let next = times (plus f half) 0.5
            f.Dispose()
            f <- next
            iterations <- iterations + 1
        let mutable converged = false
        let mutable atTarget = 0
        while not converged && atTarget < options.MaxIterations do
            let fNext = halfStep power tile eps xs xs f
            atTarget <- atTarget + 1
            iterations <- iterations + 1
            if atTarget % options.CheckEvery = 0 || atTarget = options.MaxIterations then
                converged <- rowError xs.Weights f fNext eps <= options.Tolerance
            let averaged = times (plus f fNext) 0.5
            fNext.Dispose()
            f.Dispose()
            f <- averaged
        let wantGrad = torch.is_grad_enabled () && (x.requires_grad || an.requires_grad)
        let rows, _, gx, _ = planPass power tile eps xs xs f f wantGrad
        let error =
            use _ = torch.no_grad ()
            use _ = torch.NewDisposeScope()
            toHost (times ((minus rows xs.Weights).abs().sum()) 2.0)
        let converged = converged || error <= options.Tolerance
        let dual = (times ((xs.Weights * f).sum()) 2.0).to_type x.dtype
        let value =
            if wantGrad then withGradients dual [ x, times gx 2.0; an, times f 2.0 ]
            else dual
        value.MoveToOuterDisposeScope(), iterations, error, converged

    /// <summary>
    /// The debiased Sinkhorn divergence S_ε(a, b) = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b) [3, Thm. 1] between two large
    /// clouds in O(T + T') memory, clamped at 0 (as <see cref="T:DistEmbed.Core.Sinkhorn"/>), with envelope gradients,
    /// on the chosen kernel.
    /// </summary>
    /// <param name="kernel">Fused (CPU), Tiled (any device) or Auto (Fused for CPU tensors, Tiled otherwise).</param>
    /// <param name="threads">Threads of the fused kernel (≥ 1), or 0 for torch's thread count.</param>
    /// <param name="x">The first cloud's points [T, d].</param>
    /// <param name="a">Its weights [T].</param>
    /// <param name="y">The second cloud's points [T', d].</param>
    /// <param name="b">Its weights [T'].</param>
    /// <param name="options">The Sinkhorn options.</param>
    /// <param name="tile">The tile size of the tiled kernel (≥ 1).</param>
    /// <returns>S_ε, a 0-d tensor in the inputs' dtype.</returns>
    [<CompiledName("DivergenceWith")>]
    let divergenceWith (kernel: OnlineSinkhornKernel) (threads: int) (x: torch.Tensor) (a: torch.Tensor) (y: torch.Tensor) (b: torch.Tensor) (options: SinkhornOptions) (tile: int) : torch.Tensor =
        use cross = solveWith kernel threads x a y b options tile
        use scope = torch.NewDisposeScope()
        let an = checkCloud "x" "a" x a
        let bn = checkCloud "y" "b" y b
        let fused, threads = chooseKernel kernel threads x
        let self (z: Tensor) (w: Tensor) =
            if fused then fusedSelfCost threads z w options else selfCost z w options (int64 tile)
        let selfA, ia, ea, ca = self x an
        enforce options "OnlineSinkhorn.divergence (a, a)" ia ea ca
        let selfB, ib, eb, cb = self y bn
        enforce options "OnlineSinkhorn.divergence (b, b)" ib eb cb
        let s = minus (cross.Value.to_type torch.float64) (times (plus (selfA.to_type torch.float64) (selfB.to_type torch.float64)) 0.5)
        (clampZero s).to_type(x.dtype).MoveToOuterDisposeScope()

    /// <summary>
    /// The debiased Sinkhorn divergence S_ε(a, b) = OT_ε(a, b) − ½OT_ε(a, a) − ½OT_ε(b, b) [3, Thm. 1] between two large
    /// clouds in O(T + T') memory, clamped at 0, with envelope gradients: <see cref="M:DistEmbed.Core.OnlineSinkhorn.DivergenceWith"/>
    /// with kernel Auto and torch's thread count.
    /// </summary>
    /// <param name="x">The first cloud's points [T, d].</param>
    /// <param name="a">Its weights [T].</param>
    /// <param name="y">The second cloud's points [T', d].</param>
    /// <param name="b">Its weights [T'].</param>
    /// <param name="options">The Sinkhorn options.</param>
    /// <param name="tile">The tile size of the tiled kernel (≥ 1).</param>
    /// <returns>S_ε, a 0-d tensor in the inputs' dtype.</returns>
    [<CompiledName("Divergence")>]
    let divergence (x: torch.Tensor) (a: torch.Tensor) (y: torch.Tensor) (b: torch.Tensor) (options: SinkhornOptions) (tile: int) : torch.Tensor =
        divergenceWith OnlineSinkhornKernel.Auto 0 x a y b options tile
