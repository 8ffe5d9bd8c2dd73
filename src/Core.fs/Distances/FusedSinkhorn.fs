namespace DistEmbed.Core

open System
open System.Numerics
open System.Runtime.CompilerServices
open System.Threading.Tasks

/// <summary>
/// A vectorised exp over <see cref="T:System.Numerics.Vector`1"/> lanes for the fused online Sinkhorn kernel: Cody–Waite
/// range reduction x = n·ln 2 + r, |r| ≤ ½ln 2, a polynomial for e^r and the scale 2ⁿ put into the exponent bits.
/// </summary>
/// <remarks>
/// <para>float32: n = round(x·log₂e) by the 1.5·2²³ shifter, r = x − n·C₁ − n·C₂ (C₁ = 0.693359375 exact in 9 bits,
/// C₂ = −2.12194440·10⁻⁴), e^r ≈ 1 + r + r²·P(r) with Cephes' degree-5 minimax P (S. Moshier, Cephes <c>expf</c>).
/// Measured bound (the properties sweep it): relative error ≤ 3·10⁻⁷ (≈ 2.5 ulp) against <c>Math.Exp</c> for
/// −87.33 ≤ x ≤ 88; for x &lt; −126·ln 2 (e^x below the smallest normal float32, 1.2·10⁻³⁸) the result is exactly 0,
/// so −∞ and very negative arguments give 0, never NaN; x &gt; 88 is clamped to 88.</para>
/// <para>float64: the same reduction with fdlibm's ln 2 split (ln2_hi with 32 trailing zero bits, ln2_lo) and the Taylor
/// polynomial of e^r to degree 13 (truncation ≤ (½ln 2)¹⁴/14! ≈ 4·10⁻¹⁸ relative). Bound: relative error ≤ 10⁻¹⁵
/// for −708.39 ≤ x ≤ 709; 0 below −1022·ln 2; clamped above 709.</para>
/// <para>NaN arguments give 0 (the solver's arguments are never NaN: its inputs are checked finite).</para>
/// </remarks>
module internal VectorExp =

    /// −126·ln 2: below it e^x is under the smallest normal float32 and the float32 exp returns 0.
    [<Literal>]
    let Lower32 = -87.33654475f

    /// The largest float32 argument (e^88 ≈ 1.65·10³⁸); larger ones are clamped to it.
    [<Literal>]
    let Upper32 = 88.0f

    /// −1022·ln 2: below it e^x is under the smallest normal float64 and the float64 exp returns 0.
    [<Literal>]
    let Lower64 = -708.3964185322641

    /// The largest float64 argument; larger ones are clamped to it.
    [<Literal>]
    let Upper64 = 709.0

    /// e^x per float32 lane (see the module remarks for the error bound).
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let exp32 (x: Vector<float32>) : Vector<float32> =
        let xc = Vector.MinNative(Vector.MaxNative(x, Vector<float32>(Lower32)), Vector<float32>(Upper32))
        let shifter = Vector<float32>(12582912.0f) // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits
        let t = Vector.FusedMultiplyAdd(xc, Vector<float32>(1.44269504088896341f), shifter)
        let n = t - shifter
        let r = Vector.FusedMultiplyAdd(n, Vector<float32>(-0.693359375f), xc)
        let r = Vector.FusedMultiplyAdd(n, Vector<float32>(2.12194440e-4f), r)
        let mutable p = Vector<float32>(1.9875691500e-4f)
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float32>(1.3981999507e-3f))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float32>(8.3334519073e-3f))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float32>(4.1665795894e-2f))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float32>(1.6666665459e-1f))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float32>(5.0000001201e-1f))
        let er = Vector.FusedMultiplyAdd(p, r * r, r + Vector<float32>.One)
        // 2ⁿ: n sits in the low bits of t; (n + 127) << 23 is the float32 2ⁿ for −126 ≤ n ≤ 127.
        let bits = Vector.AsVectorInt32 t - Vector.AsVectorInt32 shifter
        let scale = Vector.AsVectorSingle(Vector.ShiftLeft(bits + Vector<int>(127), 23))
        Vector.ConditionalSelect(Vector.GreaterThanOrEqual(x, Vector<float32>(Lower32)), er * scale, Vector<float32>.Zero)

    /// e^x per float64 lane (see the module remarks for the error bound).
    [<MethodImpl(MethodImplOptions.AggressiveInlining)>]
    let exp64 (x: Vector<float>) : Vector<float> =
        let xc = Vector.MinNative(Vector.MaxNative(x, Vector<float>(Lower64)), Vector<float>(Upper64))
        let shifter = Vector<float>(6755399441055744.0) // 1.5·2⁵²
        let t = Vector.FusedMultiplyAdd(xc, Vector<float>(1.4426950408889634), shifter)
        let n = t - shifter
        let r = Vector.FusedMultiplyAdd(n, Vector<float>(-6.93147180369123816490e-01), xc)
        let r = Vector.FusedMultiplyAdd(n, Vector<float>(-1.90821492927058770002e-10), r)
        // Taylor to degree 13 by Horner: Σ_k r^k / k!.
        let mutable p = Vector<float>(1.0 / 6227020800.0)
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 479001600.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 39916800.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 3628800.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 362880.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 40320.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 5040.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 720.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 120.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 24.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(1.0 / 6.0))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>(0.5))
        p <- Vector.FusedMultiplyAdd(p, r, Vector<float>.One)
        let er = Vector.FusedMultiplyAdd(p, r, Vector<float>.One)
        let bits = Vector.AsVectorInt64 t - Vector.AsVectorInt64 shifter
        let scale = Vector.AsVectorDouble(Vector.ShiftLeft(bits + Vector<int64>(1023L), 52))
        Vector.ConditionalSelect(Vector.GreaterThanOrEqual(x, Vector<float>(Lower64)), er * scale, Vector<float>.Zero)

    /// exp32 over an array (the tail through a padded vector): for the properties.
    let map32 (xs: float32[]) : float32[] =
        let w = Vector<float32>.Count
        let out = Array.zeroCreate<float32> xs.Length
        let buf = Array.zeroCreate<float32> w
        for i0 in 0 .. w .. xs.Length - 1 do
            let m = min w (xs.Length - i0)
            Array.Clear buf
            Array.blit xs i0 buf 0 m
            let y = exp32 (Vector<float32>(buf))
            y.CopyTo buf
            Array.blit buf 0 out i0 m
        out

    /// exp64 over an array: for the properties.
    let map64 (xs: float[]) : float[] =
        let w = Vector<float>.Count
        let out = Array.zeroCreate<float> xs.Length
        let buf = Array.zeroCreate<float> w
        for i0 in 0 .. w .. xs.Length - 1 do
            let m = min w (xs.Length - i0)
            Array.Clear buf
            Array.blit xs i0 buf 0 m
            let y = exp64 (Vector<float>(buf))
            y.CopyTo buf
            Array.blit buf 0 out i0 m
        out

/// <summary>
/// One point cloud laid out for the fused kernel: its points (centred, in float64 on input) stored coordinate-major
/// (all first coordinates, then all second, …) in the working precision, twice — every point (the rows of a
/// half-step) and only the points of positive weight, padded to a multiple of the vector width (the columns) — with
/// the log-weights. Memory O(T·d).
/// </summary>
type internal FusedCloud(points: float[], weights: float[], dim: int, single: bool) =
    let count = weights.Length
    let width = if single then Vector<float32>.Count else Vector<float>.Count
    let columns = [| for i in 0 .. count - 1 do if weights.[i] > 0.0 then i |]
    let stride = (columns.Length + width - 1) / width * width
    let soa (index: int[]) (padTo: int) =
        let out = Array.zeroCreate<float> (dim * padTo)
        for j in 0 .. index.Length - 1 do
            for k in 0 .. dim - 1 do
                out.[k * padTo + j] <- points.[index.[j] * dim + k]
        out
    let rows64 = soa [| 0 .. count - 1 |] count
    let cols64 = soa columns stride
    let rows32 = if single then Array.map float32 rows64 else null
    let cols32 = if single then Array.map float32 cols64 else null
    let logWeights = weights |> Array.map (fun w -> if w > 0.0 then log w else Double.NegativeInfinity)
    /// Points.
    member _.Count = count
    /// Dimension.
    member _.Dim = dim
    /// float32 working precision.
    member _.Single = single
    /// Weights (normalised).
    member _.Weights = weights
    /// log weights (−∞ at zero weights).
    member _.LogWeights = logWeights
    /// Indices of the positive-weight points (the columns).
    member _.Columns = columns
    /// Padded column count (a multiple of the vector width).
    member _.Stride = stride
    /// Rows, coordinate-major, float64 ([k·T + i]).
    member _.Rows64 = rows64
    /// Rows, float32.
    member _.Rows32 = rows32
    /// Columns, coordinate-major, padded, float64 ([k·Stride + j]).
    member _.Cols64 = cols64
    /// Columns, float32.
    member _.Cols32 = cols32

/// Per-thread scratch of the float32 plan pass: a block buffer and d lane accumulators.
type internal PlanScratch32(dim: int) =
    member val Buffer = Array.zeroCreate<float32> 1024
    member val Accumulators = Array.zeroCreate<Vector<float32>> dim
    member val Totals = Array.zeroCreate<float> dim

/// Per-thread scratch of the float64 plan pass.
type internal PlanScratch64(dim: int) =
    member val Buffer = Array.zeroCreate<float> 1024
    member val Accumulators = Array.zeroCreate<Vector<float>> dim

/// <summary>
/// The fused CPU kernel of <see cref="T:DistEmbed.Core.OnlineSinkhorn"/>: every reduction of a half-step or of the plan
/// runs over the cost C(x_i, y_j) = ‖x_i − y_j‖^p computed on the fly from the coordinates, in blocks of
/// <c>Block</c> columns held in one per-thread buffer, with a max-shifted log-sum-exp per row (GeomLoss's online
/// reduction [Feydy et al. 2019; Feydy 2020, §3.3]) — no tile tensors, O(T + T') memory — vectorised over columns with
/// <see cref="T:System.Numerics.Vector`1"/> and split over rows with <c>Parallel.For</c>.
/// </summary>
/// <remarks>
/// Per row i and block J: the squared distances Σ_k (x_ik − y_jk)² are accumulated coordinate by coordinate (exact
/// differences, no ‖x‖² + ‖y‖² − 2⟨x, y⟩ cancellation), the arguments s_j = t_j − C_ij/ε and their maximum M_J are
/// formed, the row's running maximum m is raised to M_J (its sum rescaled by e^{m_old − m}) and Σ_{j∈J} e^{s_j − m} is
/// added in float64. So every exponent is ≤ 0: no overflow at any ε. Padding columns carry t_j = −10³⁰ (weight 0).
/// </remarks>
module internal FusedSinkhorn =

    /// Columns per block (per-thread buffer of this many working-precision values).
    [<Literal>]
    let Block = 1024

    [<Literal>]
    let private Pad = -1e30

    let private options (threads: int) = ParallelOptions(MaxDegreeOfParallelism = max 1 threads)

    /// Columns per lane-combination chunk of the half-step (the lanes' float32 sums are moved to float64 at its end).
    [<Literal>]
    let private Chunk = 4096

    /// Rows per parallel work item.
    [<Literal>]
    let private RowsPerItem = 8

    // ---------------------------------------------------------------- float32

    /// buf[0 .. len) ← C(x_i, y_{c0+j}) (p = 2: squared distance; p = 1: distance) in float32.
    let inline private costs32 (power: int) (rows: float32[]) (nRows: int) (i: int) (cols: float32[]) (stride: int) (dim: int) (c0: int) (len: int) (buf: float32[]) =
        let w = Vector<float32>.Count
        for k in 0 .. dim - 1 do
            let xk = Vector<float32>(rows.[k * nRows + i])
            let baseK = k * stride + c0
            let mutable j = 0
            while j < len do
                let diff = Vector<float32>(cols, baseK + j) - xk
                let acc = if k = 0 then diff * diff else Vector.FusedMultiplyAdd(diff, diff, Vector<float32>(buf, j))
                let acc = if k = dim - 1 && power = 1 then Vector.SquareRoot acc else acc
                acc.CopyTo(buf, j)
                j <- j + w

    /// log Σ_j exp(term_j − cost(j)·invEps) for one row over the padded columns [0, stride), cost(j) the costs of the
    /// vector of columns j .. j + w − 1: one pass, a running maximum per lane (its sum rescaled when a lane's maximum
    /// rises), lanes combined in float64 every <c>Chunk</c> columns.
    let inline private rowLse32 ([<InlineIfLambda>] cost: int -> Vector<float32>) (term: float32[]) (stride: int) (negInv: Vector<float32>) =
        let w = Vector<float32>.Count
        let mutable m = Double.NegativeInfinity
        let mutable s = 0.0
        let mutable c0 = 0
        while c0 < stride do
            let c1 = min stride (c0 + Chunk)
            let mutable vm = Vector<float32>(Single.NegativeInfinity)
            let mutable vs = Vector<float32>.Zero
            let mutable j = c0
            while j < c1 do
                let a = Vector.FusedMultiplyAdd(cost j, negInv, Vector<float32>(term, j))
                if Vector.GreaterThanAny(a, vm) then
                    let top = Vector.MaxNative(vm, a)
                    vs <- vs * VectorExp.exp32 (vm - top)
                    vm <- top
                vs <- vs + VectorExp.exp32 (a - vm)
                j <- j + w
            let mutable top = Single.NegativeInfinity
            for l in 0 .. w - 1 do
                if vm.[l] > top then top <- vm.[l]
            let part = float (Vector.Sum(vs * VectorExp.exp32 (vm - Vector<float32>(top))))
            let bm = float top
            if bm > m then
                s <- s * Math.Exp(m - bm) + part
                m <- bm
            else s <- s + part * Math.Exp(bm - m)
            c0 <- c1
        m + log s

    /// out_i = log Σ_j exp(term_j − C_ij·invEps) over the rows of `rows` and the (padded) columns of `cols`, float32.
    let logSumExp32 (threads: int) (power: int) (invEps: float) (rows: FusedCloud) (cols: FusedCloud) (term: float32[]) (out: float[]) =
        let dim, nRows, stride = rows.Dim, rows.Count, cols.Stride
        let xs, ys = rows.Rows32, cols.Cols32
        let negInv = Vector<float32>(float32 -invEps)
        let items = (nRows + RowsPerItem - 1) / RowsPerItem
        Parallel.For(0, items, options threads, (fun () -> Array.zeroCreate<Vector<float32>> dim), (fun item _ (xv: Vector<float32>[]) ->
            for i in item * RowsPerItem .. min nRows ((item + 1) * RowsPerItem) - 1 do
                for k in 0 .. dim - 1 do xv.[k] <- Vector<float32>(xs.[k * nRows + i])
                let x0 = xv.[0]
                out.[i] <-
                    match dim, power with
                    | 1, 2 -> rowLse32 (fun j -> let d0 = Vector<float32>(ys, j) - x0 in d0 * d0) term stride negInv
                    | 1, _ -> rowLse32 (fun j -> Vector.Abs(Vector<float32>(ys, j) - x0)) term stride negInv
                    | 2, _ ->
                        let x1 = xv.[1]
                        if power = 2 then
                            rowLse32 (fun j ->
                                let d0 = Vector<float32>(ys, j) - x0
                                let d1 = Vector<float32>(ys, stride + j) - x1
                                Vector.FusedMultiplyAdd(d1, d1, d0 * d0)) term stride negInv
                        else
                            rowLse32 (fun j ->
                                let d0 = Vector<float32>(ys, j) - x0
                                let d1 = Vector<float32>(ys, stride + j) - x1
                                Vector.SquareRoot(Vector.FusedMultiplyAdd(d1, d1, d0 * d0))) term stride negInv
                    | 3, _ ->
                        let x1, x2 = xv.[1], xv.[2]
                        if power = 2 then
                            rowLse32 (fun j ->
                                let d0 = Vector<float32>(ys, j) - x0
                                let d1 = Vector<float32>(ys, stride + j) - x1
                                let d2 = Vector<float32>(ys, 2 * stride + j) - x2
                                Vector.FusedMultiplyAdd(d2, d2, Vector.FusedMultiplyAdd(d1, d1, d0 * d0))) term stride negInv
                        else
                            rowLse32 (fun j ->
                                let d0 = Vector<float32>(ys, j) - x0
                                let d1 = Vector<float32>(ys, stride + j) - x1
                                let d2 = Vector<float32>(ys, 2 * stride + j) - x2
                                Vector.SquareRoot(Vector.FusedMultiplyAdd(d2, d2, Vector.FusedMultiplyAdd(d1, d1, d0 * d0)))) term stride negInv
                    | _ ->
                        let squared j =
                            let mutable acc = Vector<float32>.Zero
                            for k in 0 .. dim - 1 do
                                let d = Vector<float32>(ys, k * stride + j) - xv.[k]
                                acc <- Vector.FusedMultiplyAdd(d, d, acc)
                            acc
                        if power = 2 then rowLse32 squared term stride negInv
                        else rowLse32 (fun j -> Vector.SquareRoot(squared j)) term stride negInv
            xv), (fun _ -> ())) |> ignore

    /// The plan's row sums r_i = Σ_j e^{α_i + t_j − C_ij/ε} and (when grad) Σ_j W_ij (x_i − y_j) into grad [T·d] (row-major),
    /// W = 2P (p = 2) or P/C (p = 1, 0 where C = 0): the envelope gradient of ⟨P, C⟩ in x. float32.
    let planRows32 (threads: int) (power: int) (invEps: float) (rows: FusedCloud) (cols: FusedCloud) (alpha: float[]) (term: float32[]) (rowSums: float[]) (grad: float[]) =
        let dim, nRows, stride = rows.Dim, rows.Count, cols.Stride
        let xs, ys = rows.Rows32, cols.Cols32
        let w = Vector<float32>.Count
        let negInv = Vector<float32>(float32 -invEps)
        let wantGrad = not (isNull grad)
        let items = (nRows + RowsPerItem - 1) / RowsPerItem
        Parallel.For(0, items, options threads, (fun () -> PlanScratch32(dim)), (fun item _ (scratch: PlanScratch32) ->
            let buf, accs, total = scratch.Buffer, scratch.Accumulators, scratch.Totals
            for i in item * RowsPerItem .. min nRows ((item + 1) * RowsPerItem) - 1 do
                let mutable rowSum = 0.0
                Array.Clear total
                if not (Double.IsNegativeInfinity alpha.[i]) then
                    let ai = Vector<float32>(float32 alpha.[i])
                    let mutable c0 = 0
                    while c0 < stride do
                        let len = min Block (stride - c0)
                        costs32 power xs nRows i ys stride dim c0 len buf
                        let mutable acc = Vector<float32>.Zero
                        Array.Clear accs
                        let mutable j = 0
                        while j < len do
                            let c = Vector<float32>(buf, j)
                            let p = VectorExp.exp32 (Vector.FusedMultiplyAdd(c, negInv, Vector<float32>(term, c0 + j) + ai))
                            acc <- acc + p
                            if wantGrad then
                                let wij =
                                    if power = 2 then p + p
                                    else Vector.ConditionalSelect(Vector.GreaterThan(c, Vector<float32>.Zero), p / c, Vector<float32>.Zero)
                                for k in 0 .. dim - 1 do
                                    let diff = Vector<float32>(xs.[k * nRows + i]) - Vector<float32>(ys, k * stride + c0 + j)
                                    accs.[k] <- Vector.FusedMultiplyAdd(wij, diff, accs.[k])
                            j <- j + w
                        rowSum <- rowSum + float (Vector.Sum acc)
                        if wantGrad then
                            for k in 0 .. dim - 1 do total.[k] <- total.[k] + float (Vector.Sum accs.[k])
                        c0 <- c0 + len
                rowSums.[i] <- rowSum
                if wantGrad then
                    for k in 0 .. dim - 1 do grad.[i * dim + k] <- total.[k]
            scratch), (fun _ -> ())) |> ignore

    // ---------------------------------------------------------------- float64

    let inline private costs64 (power: int) (rows: float[]) (nRows: int) (i: int) (cols: float[]) (stride: int) (dim: int) (c0: int) (len: int) (buf: float[]) =
        let w = Vector<float>.Count
        for k in 0 .. dim - 1 do
            let xk = Vector<float>(rows.[k * nRows + i])
            let baseK = k * stride + c0
            let mutable j = 0
            while j < len do
                let diff = Vector<float>(cols, baseK + j) - xk
                let acc = if k = 0 then diff * diff else Vector.FusedMultiplyAdd(diff, diff, Vector<float>(buf, j))
                let acc = if k = dim - 1 && power = 1 then Vector.SquareRoot acc else acc
                acc.CopyTo(buf, j)
                j <- j + w

    /// As rowLse32 in float64: log Σ_j exp(term_j − cost(j)·invEps) for one row over the padded columns [0, stride), cost(j) the costs of the
    /// vector of columns j .. j + w − 1: one pass, a running maximum per lane (its sum rescaled when a lane's maximum
    /// rises), lanes combined in float64 every <c>Chunk</c> columns.
    let inline private rowLse64 ([<InlineIfLambda>] cost: int -> Vector<float>) (term: float[]) (stride: int) (negInv: Vector<float>) =
        let w = Vector<float>.Count
        let mutable m = Double.NegativeInfinity
        let mutable s = 0.0
        let mutable c0 = 0
        while c0 < stride do
            let c1 = min stride (c0 + Chunk)
            let mutable vm = Vector<float>(Double.NegativeInfinity)
            let mutable vs = Vector<float>.Zero
            let mutable j = c0
            while j < c1 do
                let a = Vector.FusedMultiplyAdd(cost j, negInv, Vector<float>(term, j))
                if Vector.GreaterThanAny(a, vm) then
                    let top = Vector.MaxNative(vm, a)
                    vs <- vs * VectorExp.exp64 (vm - top)
                    vm <- top
                vs <- vs + VectorExp.exp64 (a - vm)
                j <- j + w
            let mutable top = Double.NegativeInfinity
            for l in 0 .. w - 1 do
                if vm.[l] > top then top <- vm.[l]
            let part = (Vector.Sum(vs * VectorExp.exp64 (vm - Vector<float>(top))))
            let bm = top
            if bm > m then
                s <- s * Math.Exp(m - bm) + part
                m <- bm
            else s <- s + part * Math.Exp(bm - m)
            c0 <- c1
        m + log s

    /// As logSumExp32 in float64.
    let logSumExp64 (threads: int) (power: int) (invEps: float) (rows: FusedCloud) (cols: FusedCloud) (term: float[]) (out: float[]) =
        let dim, nRows, stride = rows.Dim, rows.Count, cols.Stride
        let xs, ys = rows.Rows64, cols.Cols64
        let negInv = Vector<float>(-invEps)
        let items = (nRows + RowsPerItem - 1) / RowsPerItem
        Parallel.For(0, items, options threads, (fun () -> Array.zeroCreate<Vector<float>> dim), (fun item _ (xv: Vector<float>[]) ->
            for i in item * RowsPerItem .. min nRows ((item + 1) * RowsPerItem) - 1 do
                for k in 0 .. dim - 1 do xv.[k] <- Vector<float>(xs.[k * nRows + i])
                let x0 = xv.[0]
                out.[i] <-
                    match dim, power with
                    | 1, 2 -> rowLse64 (fun j -> let d0 = Vector<float>(ys, j) - x0 in d0 * d0) term stride negInv
                    | 1, _ -> rowLse64 (fun j -> Vector.Abs(Vector<float>(ys, j) - x0)) term stride negInv
                    | 2, _ ->
                        let x1 = xv.[1]
                        if power = 2 then
                            rowLse64 (fun j ->
                                let d0 = Vector<float>(ys, j) - x0
                                let d1 = Vector<float>(ys, stride + j) - x1
                                Vector.FusedMultiplyAdd(d1, d1, d0 * d0)) term stride negInv
                        else
                            rowLse64 (fun j ->
                                let d0 = Vector<float>(ys, j) - x0
                                let d1 = Vector<float>(ys, stride + j) - x1
                                Vector.SquareRoot(Vector.FusedMultiplyAdd(d1, d1, d0 * d0))) term stride negInv
                    | 3, _ ->
                        let x1, x2 = xv.[1], xv.[2]
                        if power = 2 then
                            rowLse64 (fun j ->
                                let d0 = Vector<float>(ys, j) - x0
                                let d1 = Vector<float>(ys, stride + j) - x1
                                let d2 = Vector<float>(ys, 2 * stride + j) - x2
                                Vector.FusedMultiplyAdd(d2, d2, Vector.FusedMultiplyAdd(d1, d1, d0 * d0))) term stride negInv
                        else
                            rowLse64 (fun j ->
                                let d0 = Vector<float>(ys, j) - x0
                                let d1 = Vector<float>(ys, stride + j) - x1
                                let d2 = Vector<float>(ys, 2 * stride + j) - x2
                                Vector.SquareRoot(Vector.FusedMultiplyAdd(d2, d2, Vector.FusedMultiplyAdd(d1, d1, d0 * d0)))) term stride negInv
                    | _ ->
                        let squared j =
                            let mutable acc = Vector<float>.Zero
                            for k in 0 .. dim - 1 do
                                let d = Vector<float>(ys, k * stride + j) - xv.[k]
                                acc <- Vector.FusedMultiplyAdd(d, d, acc)
                            acc
                        if power = 2 then rowLse64 squared term stride negInv
                        else rowLse64 (fun j -> Vector.SquareRoot(squared j)) term stride negInv
            xv), (fun _ -> ())) |> ignore

    /// As planRows32 in float64.
    let planRows64 (threads: int) (power: int) (invEps: float) (rows: FusedCloud) (cols: FusedCloud) (alpha: float[]) (term: float[]) (rowSums: float[]) (grad: float[]) =
        let dim, nRows, stride = rows.Dim, rows.Count, cols.Stride
        let xs, ys = rows.Rows64, cols.Cols64
        let w = Vector<float>.Count
        let negInv = Vector<float>(-invEps)
        let wantGrad = not (isNull grad)
        let items = (nRows + RowsPerItem - 1) / RowsPerItem
        Parallel.For(0, items, options threads, (fun () -> PlanScratch64(dim)), (fun item _ (scratch: PlanScratch64) ->
            let buf, accs = scratch.Buffer, scratch.Accumulators
            for i in item * RowsPerItem .. min nRows ((item + 1) * RowsPerItem) - 1 do
                let mutable acc = Vector<float>.Zero
                Array.Clear accs
                if not (Double.IsNegativeInfinity alpha.[i]) then
                    let ai = Vector<float>(alpha.[i])
                    let mutable c0 = 0
                    while c0 < stride do
                        let len = min Block (stride - c0)
                        costs64 power xs nRows i ys stride dim c0 len buf
                        let mutable j = 0
                        while j < len do
                            let c = Vector<float>(buf, j)
                            let p = VectorExp.exp64 (Vector.FusedMultiplyAdd(c, negInv, Vector<float>(term, c0 + j) + ai))
                            acc <- acc + p
                            if wantGrad then
                                let wij =
                                    if power = 2 then p + p
                                    else Vector.ConditionalSelect(Vector.GreaterThan(c, Vector<float>.Zero), p / c, Vector<float>.Zero)
                                for k in 0 .. dim - 1 do
                                    let diff = Vector<float>(xs.[k * nRows + i]) - Vector<float>(ys, k * stride + c0 + j)
                                    accs.[k] <- Vector.FusedMultiplyAdd(wij, diff, accs.[k])
                            j <- j + w
                        c0 <- c0 + len
                rowSums.[i] <- Vector.Sum acc
                if wantGrad then
                    for k in 0 .. dim - 1 do grad.[i * dim + k] <- Vector.Sum accs.[k]
            scratch), (fun _ -> ())) |> ignore

    // ---------------------------------------------------------------- the solver's operations (float64 potentials)

    /// The column term t_j = log w_j + h_j/ε over the positive-weight points of `cols` (h: a potential on all of them),
    /// padded with −10³⁰; returned shifted by its maximum (which is returned too) to keep float32 terms near 0.
    let private columnTerm (cols: FusedCloud) (h: float[]) (eps: float) =
        let t = Array.create cols.Stride Pad
        let mutable top = Double.NegativeInfinity
        for j in 0 .. cols.Columns.Length - 1 do
            let i = cols.Columns.[j]
            let v = cols.LogWeights.[i] + h.[i] / eps
            t.[j] <- v
            if v > top then top <- v
        for j in 0 .. cols.Columns.Length - 1 do t.[j] <- t.[j] - top
        t, top

    /// One half-step: out_i = −ε log Σ_j w_j exp((h_j − C(x_i, y_j))/ε) over the rows of `rows` against `cols`
    /// (w: cols' weights, h: a potential on cols' points) [Feydy et al. 2019, Eq. 7; Peyré–Cuturi 2019, Eq. 4.43].
    let halfStep (threads: int) (power: int) (eps: float) (rows: FusedCloud) (cols: FusedCloud) (h: float[]) : float[] =
        let t, top = columnTerm cols h eps
        let out = Array.zeroCreate<float> rows.Count
        if rows.Single then logSumExp32 threads power (1.0 / eps) rows cols (Array.map float32 t) out
        else logSumExp64 threads power (1.0 / eps) rows cols t out
        for i in 0 .. out.Length - 1 do out.[i] <- -eps * (out.[i] + top)
        out

    /// The plan P_ij = a_i b_j e^{(f_i + g_j − C_ij)/ε} summed over its rows (returned [T]) and, when wantGrad, the
    /// envelope gradient of ⟨P, C⟩ in the row points, Σ_j P_ij ∂ₓC(x_i, y_j) [T·d] (null otherwise).
    let planPass (threads: int) (power: int) (eps: float) (rows: FusedCloud) (cols: FusedCloud) (f: float[]) (g: float[]) (wantGrad: bool) =
        let t, top = columnTerm cols g eps
        let alpha = Array.init rows.Count (fun i -> rows.LogWeights.[i] + f.[i] / eps + top)
        let sums = Array.zeroCreate<float> rows.Count
        let grad = if wantGrad then Array.zeroCreate<float> (rows.Count * rows.Dim) else null
        if rows.Single then planRows32 threads power (1.0 / eps) rows cols alpha (Array.map float32 t) sums grad
        else planRows64 threads power (1.0 / eps) rows cols alpha t sums grad
        sums, grad
