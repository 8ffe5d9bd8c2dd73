namespace DistEmbed.Core

open System
open System.Numerics
open System.Threading.Tasks
open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>
/// A reusable network simplex for dense transportation problems of up to <c>maxRows</c> × <c>maxCols</c>: the
/// algorithm of <c>Reference.NetworkSimplex</c> (LEMON's primal network simplex as adapted by Bonneel et al. 2011 and
/// run by POT's <c>emd</c>: big-M start, cheapest-incoming-arc initial pivots, block-search pricing with blocks of
/// √(nm) arcs, strongly feasible spanning trees stored as parent / predecessor / thread / reverse thread / subtree
/// size / last successor arrays, relative reduced-cost tolerance 2.2·10⁻¹⁵), tuned for speed: the arrays are
/// allocated once and reused for every problem a thread solves, the arc states are 1.0 / 0.0 factors so that the
/// pricing loop is branch-free, and each run of a block (one row of the cost matrix) is priced with SIMD vectors
/// (<see cref="T:System.Numerics.Vector`1"/>), the arc of the run's minimum being located afterwards only when the
/// run improves on the block's best. It makes the same pivots as a scalar scan that keeps the first strict minimum.
/// </summary>
/// <remarks>
/// Usage: write the row-major costs C_ij ≥ 0 of an n × m problem into <c>Costs</c> (index i·m + j) and the supplies
/// a_i into <c>Supply</c>[0 … n − 1] and the demands b_j into <c>Supply</c>[n … n + m − 1] (positive, each side
/// summing to the same total), call <c>Solve(n, m)</c>, then read the positive flows of the optimal basis
/// (<c>FlowCount</c>, <c>FlowArc</c>, <c>FlowValue</c>) and the dual potentials (<c>RowPotential</c>,
/// <c>ColumnPotential</c>).
/// </remarks>
[<Sealed>]
type internal TransportWorkspace(maxRows: int, maxCols: int) =
    static let tolerance = 2.2204460492503131e-15

    let maxNodes = maxRows + maxCols
    let costs = Array.zeroCreate<float> (maxRows * maxCols)
    let state = Array.zeroCreate<float> (maxRows * maxCols)
    let supply = Array.zeroCreate<float> maxNodes
    let potential = Array.zeroCreate<float> (maxNodes + 1)
    let parent = Array.zeroCreate<int> (maxNodes + 1)
    let pred = Array.zeroCreate<int> (maxNodes + 1)
    let forward = Array.zeroCreate<bool> (maxNodes + 1)
    let predFlow = Array.zeroCreate<float> (maxNodes + 1)
    let thread = Array.zeroCreate<int> (maxNodes + 1)
    let revThread = Array.zeroCreate<int> (maxNodes + 1)
    let succCount = Array.zeroCreate<int> (maxNodes + 1)
    let lastSucc = Array.zeroCreate<int> (maxNodes + 1)
    let dirtyRevs = Array.zeroCreate<int> (maxNodes + 2)
    let excess = Array.zeroCreate<float> (maxNodes + 1)
    let flowArc = Array.zeroCreate<int> maxNodes
    let flowValue = Array.zeroCreate<float> maxNodes

    let mutable rows = 0
    let mutable cols = 0
    let mutable arcCount = 0
    let mutable root = 0
    let mutable blockSize = 10
    let mutable flowCount = 0
    let mutable nextArc = 0
    let mutable inArc = 0
    let mutable inSource = 0
    let mutable inTarget = 0
    let mutable join = 0
    let mutable uIn = 0
    let mutable vIn = 0
    let mutable uOut = 0
    let mutable delta = 0.0

    /// The cost array (row-major, n·m entries used); the caller fills it before <c>Solve</c>.
    member _.Costs = costs
    /// Supplies a (first n entries) and demands b (next m entries), positive; the caller fills them before <c>Solve</c>.
    member _.Supply = supply
    /// The largest n this workspace accepts.
    member _.MaxRows = maxRows
    /// The largest m this workspace accepts.
    member _.MaxCols = maxCols
    /// The number of positive flows of the last solution (at most n + m − 1).
    member _.FlowCount = flowCount
    /// The arcs (i·m + j) of the positive flows of the last solution.
    member _.FlowArc = flowArc
    /// The positive flows of the last solution.
    member _.FlowValue = flowValue
    /// The dual potential f_i = −π_i of row i (f_i + g_j ≤ C_ij, with equality where the plan is positive).
    member _.RowPotential(i: int) = -potential.[i]
    /// The dual potential g_j = π_{n+j} of column j.
    member _.ColumnPotential(j: int) = potential.[rows + j]

    member private _.Threshold(e: int) =
        let i = e / cols
        let scale = max (abs costs.[e]) (max (abs potential.[i]) (abs potential.[rows + e - i * cols]))
        -tolerance * scale

    /// Block search with SIMD pricing of each row run (see the type's summary).
    member private this.FindEnteringArc() =
        let width = Vector<float>.Count
        let mutable best = 0.0
        let mutable remaining = blockSize
        let mutable e = nextArc
        let mutable scanned = 0
        let mutable found = false
        while not found && scanned < arcCount do
            let i = e / cols
            let j0 = e - i * cols
            let length = min (min (cols - j0) remaining) (arcCount - scanned)
            let rowPotential = potential.[i]
            let columnBase = rows + j0
            let vRow = Vector<float>(rowPotential)
            let mutable vMin = Vector<float>(best)
            let mutable k = 0
            while k <= length - width do
                let c =
                    (Vector<float>(costs, e + k) + vRow - Vector<float>(potential, columnBase + k))
                    * Vector<float>(state, e + k)
                vMin <- Vector.Min(vMin, c)
                k <- k + width
            let mutable runMin = best
            for l in 0 .. width - 1 do
                let v = vMin.[l]
                if v < runMin then runMin <- v
            while k < length do
                let c = (costs.[e + k] + rowPotential - potential.[columnBase + k]) * state.[e + k]
                if c < runMin then runMin <- c
                k <- k + 1
            if runMin < best then
                // The first arc of the run with the run's minimum (the same arithmetic as the vector lanes).
                let mutable q = 0
                while (costs.[e + q] + rowPotential - potential.[columnBase + q]) * state.[e + q] <> runMin do
                    q <- q + 1
                inArc <- e + q
                best <- runMin
            e <- e + length
            if e = arcCount then e <- 0
            scanned <- scanned + length
            remaining <- remaining - length
            if remaining = 0 then
                if best < this.Threshold inArc then found <- true else remaining <- blockSize
        if found || (best < 0.0 && best < this.Threshold inArc) then
            nextArc <- e
            true
        else
            false

    member private _.FindJoinNode() =
        inSource <- inArc / cols
        inTarget <- rows + inArc - inSource * cols
        let mutable u = inSource
        let mutable v = inTarget
        while u <> v do
            if succCount.[u] < succCount.[v] then u <- parent.[u] else v <- parent.[v]
        join <- u

    member private _.FindLeavingArc() =
        let first = inSource
        let second = inTarget
        delta <- Double.PositiveInfinity
        let mutable onFirstSide = true
        let mutable u = first
        while u <> join do
            if forward.[u] && predFlow.[u] < delta then
                delta <- predFlow.[u]
                uOut <- u
            u <- parent.[u]
        u <- second
        while u <> join do
            if not forward.[u] && predFlow.[u] <= delta then
                delta <- predFlow.[u]
                uOut <- u
                onFirstSide <- false
            u <- parent.[u]
        if onFirstSide then
            uIn <- first
            vIn <- second
        else
            uIn <- second
            vIn <- first

    member private _.ChangeFlow() =
        if delta > 0.0 then
            let mutable u = inSource
            while u <> join do
                predFlow.[u] <- (if forward.[u] then predFlow.[u] - delta else predFlow.[u] + delta)
                u <- parent.[u]
            u <- inTarget
            while u <> join do
                predFlow.[u] <- (if forward.[u] then predFlow.[u] + delta else predFlow.[u] - delta)
                u <- parent.[u]
        state.[inArc] <- 0.0
        let leaving = pred.[uOut]
        if leaving >= 0 then state.[leaving] <- 1.0

    /// LEMON's updateTreeStructure (see <c>Reference.NetworkSimplex.UpdateTreeStructure</c>).
    member private _.UpdateTreeStructure() =
        let oldRevThread = revThread.[uOut]
        let oldSuccCount = succCount.[uOut]
        let oldLastSucc = lastSucc.[uOut]
        let vOut = parent.[uOut]
        let mutable u = lastSucc.[uIn]
        let mutable right = thread.[u]
        let last = if oldRevThread = vIn then thread.[lastSucc.[uOut]] else thread.[vIn]
        thread.[vIn] <- uIn
        let mutable dirtyCount = 1
        dirtyRevs.[0] <- vIn
        let mutable stem = uIn
        let mutable parentStem = vIn
        while stem <> uOut do
            let nextStem = parent.[stem]
            thread.[u] <- nextStem
            dirtyRevs.[dirtyCount] <- u
            dirtyCount <- dirtyCount + 1
            let w = revThread.[stem]
            thread.[w] <- right
            revThread.[right] <- w
            parent.[stem] <- parentStem
            parentStem <- stem
            stem <- nextStem
            u <- if lastSucc.[stem] = lastSucc.[parentStem] then revThread.[parentStem] else lastSucc.[stem]
            right <- thread.[u]
        parent.[uOut] <- parentStem
        thread.[u] <- last
        revThread.[last] <- u
        lastSucc.[uOut] <- u
        if oldRevThread <> vIn then
            thread.[oldRevThread] <- right
            revThread.[right] <- oldRevThread
        for k in 0 .. dirtyCount - 1 do
            let d = dirtyRevs.[k]
            revThread.[thread.[d]] <- d
        let mutable sizeSum = 0
        let stemLast = lastSucc.[uOut]
        u <- uOut
        while u <> uIn do
            let w = parent.[u]
            pred.[u] <- pred.[w]
            predFlow.[u] <- predFlow.[w]
            forward.[u] <- not forward.[w]
            sizeSum <- sizeSum + succCount.[u] - succCount.[w]
            succCount.[u] <- sizeSum
            lastSucc.[w] <- stemLast
            u <- w
        pred.[uIn] <- inArc
        predFlow.[uIn] <- delta
        forward.[uIn] <- (uIn = inSource)
        succCount.[uIn] <- oldSuccCount
        let upLimitIn, upLimitOut = if lastSucc.[join] = vIn then -1, join else join, -1
        u <- vIn
        while u <> upLimitIn && lastSucc.[u] = vIn do
            lastSucc.[u] <- lastSucc.[uOut]
            u <- parent.[u]
        let replacement = if join <> oldRevThread && vIn <> oldRevThread then oldRevThread else lastSucc.[uOut]
        u <- vOut
        while u <> upLimitOut && lastSucc.[u] = oldLastSucc do
            lastSucc.[u] <- replacement
            u <- parent.[u]
        u <- vIn
        while u <> join do
            succCount.[u] <- succCount.[u] + oldSuccCount
            u <- parent.[u]
        u <- vOut
        while u <> join do
            succCount.[u] <- succCount.[u] - oldSuccCount
            u <- parent.[u]

    member private _.UpdatePotential() =
        let c = costs.[inArc]
        let sigma = if forward.[uIn] then potential.[vIn] - potential.[uIn] - c else potential.[vIn] - potential.[uIn] + c
        let stop = thread.[lastSucc.[uIn]]
        let mutable u = uIn
        while u <> stop do
            potential.[u] <- potential.[u] + sigma
            u <- thread.[u]

    member private this.Pivot() =
        this.FindJoinNode()
        this.FindLeavingArc()
        this.ChangeFlow()
        this.UpdateTreeStructure()
        this.UpdatePotential()

    /// <summary>
    /// Solves the n × m problem held in <c>Costs</c> and <c>Supply</c> (costs ≥ 0 and finite, supplies positive,
    /// both sides summing to the same total) and returns the optimal cost Σ flow · C.
    /// </summary>
    member this.Solve(n: int, m: int) : float =
        rows <- n
        cols <- m
        arcCount <- n * m
        let nodeCount = n + m
        root <- nodeCount
        blockSize <- max (int (sqrt (float arcCount))) 10
        nextArc <- 0
        Array.Fill(state, 1.0, 0, arcCount)
        let mutable maxCost = 0.0
        for e in 0 .. arcCount - 1 do
            if costs.[e] > maxCost then maxCost <- costs.[e]
        let artificialCost = (if maxCost > 0.0 then 2.0 * maxCost else 1.0) * float (nodeCount + 1)
        parent.[root] <- -1
        pred.[root] <- -1
        thread.[root] <- 0
        revThread.[0] <- root
        succCount.[root] <- nodeCount + 1
        lastSucc.[root] <- root - 1
        potential.[root] <- 0.0
        for u in 0 .. nodeCount - 1 do
            parent.[u] <- root
            pred.[u] <- -1 - u
            thread.[u] <- u + 1
            revThread.[u + 1] <- u
            succCount.[u] <- 1
            lastSucc.[u] <- u
            let isSupply = u < n
            forward.[u] <- isSupply
            predFlow.[u] <- supply.[u]
            potential.[u] <- if isSupply then 0.0 else artificialCost
        // LEMON's start heuristic: the cheapest incoming arc of every demand node, if it improves.
        for j in 0 .. m - 1 do
            let mutable bestArc = j
            let mutable e = j + m
            for _ in 1 .. n - 1 do
                if costs.[e] < costs.[bestArc] then bestArc <- e
                e <- e + m
            inArc <- bestArc
            let i = bestArc / m
            if state.[inArc] <> 0.0 && costs.[inArc] + potential.[i] - potential.[n + j] < this.Threshold inArc then
                this.Pivot()
        while this.FindEnteringArc() do
            this.Pivot()
        // Flows recomputed from the final basis (leaves first along the reversed thread), as the reference does.
        for u in 0 .. nodeCount - 1 do
            excess.[u] <- (if u < n then supply.[u] else -supply.[u])
        excess.[root] <- 0.0
        flowCount <- 0
        let mutable total = 0.0
        let mutable u = revThread.[root]
        while u <> root do
            let f = if forward.[u] then excess.[u] else -excess.[u]
            if pred.[u] >= 0 && f > 0.0 then
                flowArc.[flowCount] <- pred.[u]
                flowValue.[flowCount] <- f
                flowCount <- flowCount + 1
                total <- total + f * costs.[pred.[u]]
            excess.[parent.[u]] <- excess.[parent.[u]] + excess.[u]
            u <- revThread.[u]
        total

/// The solutions of a set of pairs: values, sparse plans (pair, row, column, flow) and centred dual potentials.
type internal ExactSolutions =
    { Values: float[]
      /// Per pair, the offset of its flows in the flat arrays (length pairs + 1).
      FlowStart: int[]
      FlowRow: int[]
      FlowColumn: int[]
      Flow: float[]
      /// Centred dual potentials f [pairs, Tx] and g [pairs, Ty] (zero on padding); null when not asked for.
      RowPotentials: float[]
      ColumnPotentials: float[] }

/// <summary>
/// The exact p-Wasserstein distance between the distributions of two batches, by the network simplex on the CPU
/// in float64, with the envelope gradient (the optimal plan held fixed) for autograd.
/// </summary>
/// <remarks>
/// <para>Kantorovich problem (Peyré &amp; Cuturi, "Computational Optimal Transport", 2019, eq. 2.11):
/// W_p^p(μ, ν) = min_{P ∈ U(a, b)} Σ_ij P_ij ‖x_i − y_j‖₂^p, U(a, b) = {P ≥ 0 : P1 = a, Pᵀ1 = b}; W_p = (W_p^p)^{1/p} is
/// a metric for p ≥ 1 (ibid., Prop. 2.2). Each pair is solved exactly by <c>TransportWorkspace</c> (the network simplex
/// of POT's <c>ot.emd2</c>) on its valid points (padding removed) in float64 whatever the batch's dtype; pairs are
/// spread over <c>torch.get_num_threads()</c> threads (Parallel.For, one reusable workspace per thread).</para>
/// <para>Gradient (envelope theorem; Peyré &amp; Cuturi, Prop. 9.2 for the points, Remark 2.22 / eq. 2.24 for the weights):
/// with P* the optimal plan and (f, g) optimal dual potentials, ∂W_p^p/∂x_i = Σ_j P*_ij ∇_x ‖x_i − y_j‖^p (and likewise for
/// y), ∂W_p^p/∂a = f − mean(f) and ∂W_p^p/∂b = g − mean(g) over the valid points (centred as POT's emd2 does, since the
/// weights live on the simplex; zero on padding). The forward value is the float64 optimum; autograd sees
/// Σ_k P*_k ‖x_{i_k} − y_{j_k}‖^p + ⟨f, a⟩ + ⟨g, b⟩ minus its own detached value. P* is a vertex of U(a, b): where the
/// optimal plan is not unique (ties), the gradient is that of the plan found (a subgradient-like choice, as POT's).</para>
/// </remarks>
module internal ExactTransport =

    type private Tensor = torch.Tensor

    /// One side of the problems in float64 on the CPU: points [B·T·d], weights [B·T], valid indices per item.
    type Side =
        { Points: float[]
          Weights: float[]
          Valid: int[][]
          Length: int
          Dimension: int }

    let side (batch: DistributionBatch) : Side =
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let points = batch.Points.detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
        let weights = batch.Weights.detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
        let t = batch.Length
        let valid =
            Array.init batch.Count (fun b -> [| for s in 0 .. t - 1 do if weights.[b * t + s] > 0.0 then s |])
        { Points = points; Weights = weights; Valid = valid; Length = t; Dimension = batch.Dimension }

    /// Fills the workspace with the costs ‖x_i − y_j‖^p and the weights of pair (ia, ib), solves it, returns W_p^p.
    let private solvePair (w: TransportWorkspace) (p: float) (a: Side) (ia: int) (b: Side) (ib: int) =
        let va, vb = a.Valid.[ia], b.Valid.[ib]
        let n, m, d = va.Length, vb.Length, a.Dimension
        let costs = w.Costs
        let pa, pb = a.Points, b.Points
        let baseA, baseB = ia * a.Length, ib * b.Length
        let width = Vector<float>.Count
        for r in 0 .. n - 1 do
            let xi = (baseA + va.[r]) * d
            for c in 0 .. m - 1 do
                let yj = (baseB + vb.[c]) * d
                let mutable k = 0
                let mutable acc = Vector<float>.Zero
                while k <= d - width do
                    let t = Vector<float>(pa, xi + k) - Vector<float>(pb, yj + k)
                    acc <- acc + t * t
                    k <- k + width
                let mutable s = Vector.Dot(acc, Vector<float>.One)
                while k < d do
                    let t = pa.[xi + k] - pb.[yj + k]
                    s <- s + t * t
                    k <- k + 1
                costs.[r * m + c] <- (if p = 2.0 then s elif p = 1.0 then sqrt s else Math.Pow(sqrt s, p))
        let supply = w.Supply
        for r in 0 .. n - 1 do
            supply.[r] <- a.Weights.[baseA + va.[r]]
        for c in 0 .. m - 1 do
            supply.[n + c] <- b.Weights.[baseB + vb.[c]]
        w.Solve(n, m)

    /// Solves the pairs (rows[k], cols[k]) in parallel; keeps the plans (and the potentials when asked).
    let solve (p: float) (a: Side) (b: Side) (pairRows: int[]) (pairCols: int[]) (keepPlans: bool) (keepPotentials: bool) =
        let pairs = pairRows.Length
        let values = Array.zeroCreate<float> pairs
        let maxRows = a.Valid |> Array.fold (fun acc v -> max acc v.Length) 1
        let maxCols = b.Valid |> Array.fold (fun acc v -> max acc v.Length) 1
        let cap = maxRows + maxCols
        let flowRows = if keepPlans then Array.zeroCreate<int> (pairs * cap) else [||]
        let flowCols = if keepPlans then Array.zeroCreate<int> (pairs * cap) else [||]
        let flows = if keepPlans then Array.zeroCreate<float> (pairs * cap) else [||]
        let counts = Array.zeroCreate<int> pairs
        let f = if keepPotentials then Array.zeroCreate<float> (pairs * a.Length) else null
        let g = if keepPotentials then Array.zeroCreate<float> (pairs * b.Length) else null
        let body (k: int) (w: TransportWorkspace) =
            let ia, ib = pairRows.[k], pairCols.[k]
            values.[k] <- solvePair w p a ia b ib
            let va, vb = a.Valid.[ia], b.Valid.[ib]
            let m = vb.Length
            if keepPlans then
                let count = w.FlowCount
                counts.[k] <- count
                for q in 0 .. count - 1 do
                    let e = w.FlowArc.[q]
                    let r = e / m
                    flowRows.[k * cap + q] <- va.[r]
                    flowCols.[k * cap + q] <- vb.[e - r * m]
                    flows.[k * cap + q] <- w.FlowValue.[q]
            if keepPotentials then
                let mutable mean = 0.0
                for r in 0 .. va.Length - 1 do
                    mean <- mean + w.RowPotential r
                mean <- mean / float va.Length
                for r in 0 .. va.Length - 1 do
                    f.[k * a.Length + va.[r]] <- w.RowPotential r - mean
                mean <- 0.0
                for c in 0 .. m - 1 do
                    mean <- mean + w.ColumnPotential c
                mean <- mean / float m
                for c in 0 .. m - 1 do
                    g.[k * b.Length + vb.[c]] <- w.ColumnPotential c - mean
        let threads = max 1 (min (torch.get_num_threads ()) Environment.ProcessorCount)
        if threads = 1 || pairs = 1 then
            let w = TransportWorkspace(maxRows, maxCols)
            for k in 0 .. pairs - 1 do
                body k w
        else
            let options = ParallelOptions(MaxDegreeOfParallelism = threads)
            Parallel.For(
                0,
                pairs,
                options,
                (fun () -> TransportWorkspace(maxRows, maxCols)),
                (fun k _ w ->
                    body k w
                    w),
                (fun _ -> ())
            )
            |> ignore
        let starts = Array.zeroCreate<int> (pairs + 1)
        for k in 0 .. pairs - 1 do
            starts.[k + 1] <- starts.[k] + counts.[k]
        let total = starts.[pairs]
        let compact (source: 'T[]) =
            if not keepPlans then [||]
            else
                let result = Array.zeroCreate<'T> total
                for k in 0 .. pairs - 1 do
                    Array.blit source (k * cap) result starts.[k] counts.[k]
                result
        { Values = values
          FlowStart = starts
          FlowRow = compact flowRows
          FlowColumn = compact flowCols
          Flow = compact flows
          RowPotentials = f
          ColumnPotentials = g }

    /// ‖u‖^p from the squared norms s, with a zero gradient where s = 0.
    let private powerOfSquared (p: float) (s: Tensor) : Tensor =
        if p = 2.0 then s.alias ()
        elif p = 1.0 then safeSqrt s
        else
            use scope = torch.NewDisposeScope()
            let positive = s.gt (sc 0.0)
            let safe = torch.where (positive, s, torch.ones_like s)
            torch.where(positive, safe.pow (sc (p / 2.0)), torch.zeros_like s).MoveToOuterDisposeScope()

    /// W_p^p of the pairs (rows[k], cols[k]) as a [pairs] tensor in a's dtype and device, with the envelope gradient
    /// when autograd needs it.
    let costOfPairs (p: float) (a: DistributionBatch) (b: DistributionBatch) (sa: Side) (sb: Side) (pairRows: int[]) (pairCols: int[]) : Tensor =
        use scope = torch.NewDisposeScope()
        let gradPoints = a.Points.requires_grad || b.Points.requires_grad
        let gradWeights = a.Weights.requires_grad || b.Weights.requires_grad
        let needGrad = torch.is_grad_enabled () && (gradPoints || gradWeights)
        let s = solve p sa sb pairRows pairCols (needGrad && gradPoints) (needGrad && gradWeights)
        let exact = torch.tensor(s.Values, dtype = torch.float64).``to``(a.Points.dtype, a.Points.device)
        if not needGrad then
            exact.MoveToOuterDisposeScope()
        else
            let pairs = int64 pairRows.Length
            let device = a.Points.device
            let mutable surrogate = torch.zeros ([| pairs |], dtype = a.Points.dtype, device = device)
            if gradPoints then
                let total = s.Flow.Length
                let pairOf = Array.zeroCreate<int64> total
                let xIndex = Array.zeroCreate<int64> total
                let yIndex = Array.zeroCreate<int64> total
                for k in 0 .. pairRows.Length - 1 do
                    for q in s.FlowStart.[k] .. s.FlowStart.[k + 1] - 1 do
                        pairOf.[q] <- int64 k
                        xIndex.[q] <- int64 pairRows.[k] * int64 sa.Length + int64 s.FlowRow.[q]
                        yIndex.[q] <- int64 pairCols.[k] * int64 sb.Length + int64 s.FlowColumn.[q]
                let d = int64 sa.Dimension
                let toDevice (values: int64[]) = torch.tensor(values, device = device)
                let xs = a.Points.reshape(-1L, d).index_select (0L, toDevice xIndex)
                let ys = b.Points.reshape(-1L, d).index_select (0L, toDevice yIndex)
                let costs = powerOfSquared p (xs.sub(ys).pow(sc 2.0).sum (1L))
                let flow = torch.tensor(s.Flow, dtype = torch.float64).``to``(a.Points.dtype, device)
                let terms = torch.zeros([| pairs |], dtype = a.Points.dtype, device = device).index_add (0L, toDevice pairOf, costs.mul flow, sc 1.0)
                surrogate <- surrogate.add (terms.sub (terms.detach ()))
            if gradWeights then
                let rowsIndex = torch.tensor(pairRows |> Array.map int64, device = device)
                let colsIndex = torch.tensor(pairCols |> Array.map int64, device = device)
                let f = torch.tensor(s.RowPotentials, dtype = torch.float64).reshape(pairs, int64 sa.Length).``to``(a.Points.dtype, device)
                let g = torch.tensor(s.ColumnPotentials, dtype = torch.float64).reshape(pairs, int64 sb.Length).``to``(a.Points.dtype, device)
                let terms =
                    f.mul(a.Weights.index_select (0L, rowsIndex)).sum(1L)
                        .add (g.mul(b.Weights.index_select (0L, colsIndex)).sum (1L))
                surrogate <- surrogate.add (terms.sub (terms.detach ()))
            exact.add(surrogate).MoveToOuterDisposeScope()

    /// Paired W_p^p(a_k, b_k) → [B].
    let costPaired (p: float) (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        let sa, sb = side a, side b
        let index = Array.init a.Count id
        costOfPairs p a b sa sb index index

    /// The pairwise plan of W_p^p: every block solves its rows × columns pairs (in parallel).
    let costPlan (p: float) (a: DistributionBatch) (b: DistributionBatch) (blockSize: int) : PairwisePlan =
        let sa, sb = side a, side b
        // Temporaries per pair when autograd is on: the gathered point pairs of the plan ((T + T′)·d elements).
        let perPair = int64 (a.Length + b.Length) * int64 (a.Dimension + 1)
        { Rows = int64 a.Count
          Columns = int64 b.Count
          BlockSize = chooseBlock blockSize perPair
          Block =
            fun r0 rn c0 cn ->
                let rn, cn = int rn, int cn
                let rows = Array.init (rn * cn) (fun k -> int r0 + k / cn)
                let cols = Array.init (rn * cn) (fun k -> int c0 + k % cn)
                use scope = torch.NewDisposeScope()
                (costOfPairs p a b sa sb rows cols).reshape(int64 rn, int64 cn).MoveToOuterDisposeScope() }
