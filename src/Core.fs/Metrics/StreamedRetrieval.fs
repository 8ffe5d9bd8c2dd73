namespace DistEmbed.Core

open System
open System.Collections.Generic
open System.Numerics
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Threading.Tasks
open FSharp.NativeInterop
open TorchSharp

#nowarn "9" // native pointers into the band's storage (a contiguous CPU tensor that outlives every use)
#nowarn "51"

/// <summary>
/// The retrieval metrics of <see cref="M:DistEmbed.Core.RetrievalMetrics.Evaluate"/> (precision@1, R-precision,
/// MAP@R, mean average precision, recall@k, mean reciprocal rank) for any <see cref="T:DistEmbed.Core.IDistance"/>,
/// computed in bounded memory: the queries × gallery distance matrix is never held, only one band of query rows
/// against the whole gallery at a time.
/// </summary>
/// <remarks>
/// For each band of queries the distances to all G gallery items are computed (a distance of the catalog is prepared
/// once for the queries and the gallery and evaluated band by band, block by block, with the arithmetic of its
/// <c>Pairwise</c>; another <see cref="T:DistEmbed.Core.IBlockwiseDistance"/> streams <c>PairwiseBlocks</c> of the
/// band's rows; any other distance computes <c>Pairwise</c> of the band's rows; a Gram-form distance of the catalog —
/// <c>euclidean</c>, <c>sqeuclidean</c>, <c>quantile-w2</c>, and <c>marginal-w2</c> and <c>sliced-w2</c> on equal-length
/// uniform point sets — takes the fused path of <c>Evaluate</c>'s remarks), and every metric is read off the ranks of
/// the relevant items alone. With the candidates of query
/// q ranked by (distance, gallery index) as in <c>RetrievalMetrics</c>, the m-th relevant item (m = 1 … R) has rank
/// <code>
/// rank_m = m + #{ non-relevant candidates c : (d_c, c) &lt; (d_(m), j_(m)) }
/// </code>
/// The band's rows are read in place (a contiguous CPU tensor) and ranked in parallel (one task per row, at most
/// <c>torch.get_num_threads()</c> at once): the R relevant items of the query (the gallery items with its label, self
/// excluded) are sorted by (distance, gallery index), and one pass over the row places each gallery item c with
/// (d_c, c) ≤ (d_(R), j_(R)) in bucket #{m : (d_(m), j_(m)) &lt; (d_c, c)} (counted with 256-bit comparisons against
/// all R thresholds when R ≤ 64, by binary search otherwise), a histogram of R bins whose
/// prefix sums give the counts above (the relevant items and self, which the pass also places, are taken out
/// afterwards). Comparing (distance, index) pairs places a non-relevant candidate whose distance equals a relevant one
/// by gallery index (the tie rule of <c>RetrievalMetrics</c>). Then, per query,
/// <code>
/// P@1 = [rank_1 = 1]          R-prec = #{m : rank_m ≤ R} / R       MAP@R = (1/R) Σ_{m : rank_m ≤ R} m / rank_m
/// AP  = (1/R) Σ_m m / rank_m   recall@k = [rank_1 ≤ k]               RR = 1 / rank_1
/// </code>
/// which are the definitions of Musgrave, Belongie and Lim (ECCV 2020, arXiv:2003.08505, §3.2) written over the
/// relevant positions (P(i)·rel(i) is non-zero only at i = rank_m, where P(i) = m / rank_m). The per-query values are
/// summed in query order with the same floating-point operations as <c>RetrievalMetrics.Evaluate</c>, so on the same
/// distances both give the same report.
///
/// Memory: the distance's prepared per-item data, one band of about <c>bandElements</c> distances and its temporaries
/// (the distance's block temporaries; on the fused path one band buffer reused by every band), O(Q + G) labels and
/// O(rows × R) per band. Time: that of computing all Q × G distances (on the fused path one matrix product per band),
/// plus O(Q·G·R/8) vector comparisons (O(Q·G·log R) for R &gt; 64) on the CPU.
/// </remarks>
[<RequireQualifiedAccess>]
module StreamedRetrieval =

    type private Tensor = torch.Tensor

    /// <summary>The default number of distances in one band of query rows (2^21: 8 MiB in float32).</summary>
    [<Literal>]
    let DefaultBandElements = 2097152L

    /// <summary>The default number of distances in one band of query rows on the fused path of a Gram-form distance
    /// (2^26: 256 MiB in float32), where the band is one matrix product's output: a band of many rows keeps the
    /// product efficient (each band reads the whole gallery once).</summary>
    [<Literal>]
    let FusedBandElements = 67108864L

    /// The query rows of one band: (start, count).
    let private rowsPerBand (bandElements: int64) (g: int) (q: int) =
        max 1L (min (int64 q) (bandElements / int64 g))

    /// The distances of a band of query rows (start, count) to the whole gallery, [rows, G]. A catalog distance is
    /// prepared once for (queries, gallery) and evaluated band by band in column blocks of its own block size (the
    /// same arithmetic as its Pairwise); another IBlockwiseDistance streams PairwiseBlocks of the band's rows; any
    /// other distance computes Pairwise of the band's rows.
    let private bandSource (distance: IDistance) (queries: IEmbeddingBatch) (gallery: IEmbeddingBatch) : int64 -> int64 -> Tensor =
        let g = int64 gallery.Count
        match distance with
        | :? IPlannedDistance as planned ->
            let plan = planned.Plan(queries, gallery)
            fun r0 rn ->
                let result = torch.empty ([| rn; g |], dtype = queries.DType, device = queries.Device)
                for c0 in 0L .. plan.BlockSize .. g - 1L do
                    use blockScope = torch.NewDisposeScope()
                    let cn = min plan.BlockSize (g - c0)
                    result.narrow(1L, c0, cn).copy_ (plan.Block r0 rn c0 cn) |> ignore
                result
        | :? IBlockwiseDistance as blockwise ->
            fun r0 rn ->
                use rows = queries.Select(torch.arange (r0, r0 + rn, dtype = torch.int64, device = queries.Device))
                let result = torch.empty ([| rn; g |], dtype = queries.DType, device = queries.Device)
                blockwise.PairwiseBlocks(
                    rows,
                    gallery,
                    Action<int64, int64, Tensor>(fun rr c0 block ->
                        result.narrow(0L, rr, block.shape.[0]).narrow(1L, c0, block.shape.[1]).copy_ (block) |> ignore)
                )
                result
        | _ ->
            fun r0 rn ->
                use rows = queries.Select(torch.arange (r0, r0 + rn, dtype = torch.int64, device = queries.Device))
                distance.Pairwise(rows, gallery).detach ()

    /// The per-query quantities of one query row: its first relevant rank, the relevant items within the first R,
    /// and the sums of m / rank_m over those and over all R.
    [<Struct>]
    type private RowRanks =
        { First: int64
          HitsAtR: int
          SumAtR: float
          SumAll: float }

    /// The gallery indices of each label, ascending.
    let private membersByLabel (galleryLabels: int64[]) =
        let lists = Dictionary<int64, ResizeArray<int>>()
        for j in 0 .. galleryLabels.Length - 1 do
            match lists.TryGetValue galleryLabels.[j] with
            | true, list -> list.Add j
            | _ -> lists.[galleryLabels.[j]] <- ResizeArray [ j ]
        let result = Dictionary<int64, int[]>(lists.Count)
        for pair in lists do
            result.[pair.Key] <- pair.Value.ToArray()
        result

    /// The r relevant distances of one query sorted by (distance, gallery index), the thresholds of the ranking pass.
    /// Vectors holds the sorted distances in 256-bit vectors padded with +∞ when r ≤ 64 (null otherwise).
    [<Struct>]
    type private Thresholds<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> =
        { Sorted: 'T[]
          Index: int[]
          Vectors: Vector256<'T>[]
          Count: int }

    /// Sorts the relevant distances (sorted, index: r values and their gallery indices) by (distance, index).
    let inline private thresholdsOf (sorted: 'T[]) (index: int[]) (r: int) (infinity: 'T) : Thresholds<'T> =
        Array.Sort(sorted, index)
        // Equal distances are ordered by gallery index (the tie rule of RetrievalMetrics).
        let mutable s = 0
        while s < r do
            let mutable e = s + 1
            while e < r && sorted.[e] = sorted.[s] do
                e <- e + 1
            if e - s > 1 then Array.Sort(index, s, e - s)
            s <- e
        let vectors =
            if r > 64 then null
            else
                let lanes = Vector256<'T>.Count
                let padded = Array.create (((r + lanes - 1) / lanes) * lanes) infinity
                Array.blit sorted 0 padded 0 r
                Array.init (padded.Length / lanes) (fun k -> Vector256.Create<'T>(ReadOnlySpan<'T>(padded, k * lanes, lanes)))
        { Sorted = sorted; Index = index; Vectors = vectors; Count = r }

    /// The number of relevant items before (v, j) in the (distance, index) order, for (v, j) ≤ (d_(r), j_(r)): by
    /// vector comparisons with all r thresholds when r ≤ 64 (the index decides between equal distances), by binary
    /// search otherwise.
    let inline private bucketOf (t: Thresholds<'T>) (v: 'T) (j: int) : int =
        let vectors = t.Vectors
        if not (isNull vectors) then
            let broadcast = Vector256.Create<'T>(v)
            let mutable below = 0
            let mutable equal = 0u
            for k in 0 .. vectors.Length - 1 do
                below <- below + BitOperations.PopCount(Vector256.ExtractMostSignificantBits(Vector256.LessThan(vectors.[k], broadcast)))
                equal <- equal ||| Vector256.ExtractMostSignificantBits(Vector256.Equals(vectors.[k], broadcast))
            if equal <> 0u then
                // Relevant items at the same distance precede (v, j) when their gallery index is smaller.
                for m in 0 .. t.Count - 1 do
                    if t.Sorted.[m] = v && t.Index.[m] < j then below <- below + 1
            below
        else
            let sorted = t.Sorted
            let index = t.Index
            let mutable lo = 0
            let mutable hi = t.Count - 1
            while lo < hi do
                let mid = (lo + hi) >>> 1
                let m = sorted.[mid]
                if m < v || (m = v && index.[mid] < j) then lo <- mid + 1 else hi <- mid
            lo

    /// The per-query quantities from the bucket counts (histogram.[m − 1] holds the non-relevant candidates between
    /// the (m − 1)-th and the m-th relevant item): rank_m = m + #{non-relevant candidates before the m-th relevant item}.
    let private ranksOf (histogram: int64[]) (r: int) : RowRanks =
        let mutable before = 0L
        let mutable hitsAtR = 0
        let mutable sumAtR = 0.0
        let mutable sumAll = 0.0
        let mutable first = 0L
        for m in 1 .. r do
            before <- before + histogram.[m - 1]
            let rank = int64 m + before
            if m = 1 then first <- rank
            let precision = float m / float rank
            sumAll <- sumAll + precision
            if rank <= int64 r then
                sumAtR <- sumAtR + precision
                hitsAtR <- hitsAtR + 1
        { First = first; HitsAtR = hitsAtR; SumAtR = sumAtR; SumAll = sumAll }

    /// The ranks of the r relevant items of one query among its candidates, from the query's row of G distances
    /// (values[0 .. G − 1]); members are the gallery items with the query's label (ascending), self is the query's own
    /// gallery index (−1 when the queries are not the gallery), r the number of members other than self.
    /// The relevant items are sorted by (distance, index); one pass over the row places every gallery item c with
    /// (d_c, c) ≤ (d_(r), j_(r)) in bucket b = #{m : (d_(m), j_(m)) &lt; (d_c, c)} (items after the r-th relevant one
    /// are not needed). The pass counts the relevant items too (the m-th in bucket m − 1) and self: both are taken out
    /// afterwards, leaving the non-relevant candidates that precede each relevant item.
    let inline private rankRowOf (values: nativeptr<'T>) (g: int) (members: int[]) (self: int) (r: int) (infinity: 'T) : RowRanks =
        let sorted = Array.zeroCreate<'T> r
        let index = Array.zeroCreate<int> r
        let mutable k = 0
        for j in members do
            if j <> self then
                sorted.[k] <- NativePtr.get values j
                index.[k] <- j
                k <- k + 1
        let t = thresholdsOf sorted index r infinity
        let lastValue = sorted.[r - 1]
        let lastIndex = index.[r - 1]
        let histogram = Array.zeroCreate<int64> r
        for j in 0 .. g - 1 do
            let v = NativePtr.get values j
            if v < lastValue || (v = lastValue && j <= lastIndex) then
                let b = bucketOf t v j
                histogram.[b] <- histogram.[b] + 1L
        for m in 0 .. r - 1 do
            histogram.[m] <- histogram.[m] - 1L
        if self >= 0 then
            let v = NativePtr.get values self
            if v < lastValue || (v = lastValue && self < lastIndex) then
                let b = bucketOf t v self
                histogram.[b] <- histogram.[b] - 1L
        ranksOf histogram r

    let private rankRow32 (values: nativeint) g members self r =
        rankRowOf (NativePtr.ofNativeInt<float32> values) g members self r Single.PositiveInfinity

    let private rankRow64 (values: nativeint) g members self r =
        rankRowOf (NativePtr.ofNativeInt<float> values) g members self r Double.PositiveInfinity

    /// The address of the first element of a contiguous CPU tensor (its storage does not move while it lives).
    let private addressOf (t: Tensor) : nativeint = TensorMemory.address t

    // ---------------------------------------------------------------------------------------------------------------
    // The fused path of a Gram-form distance (see GramForm): one matrix product per band, then one pass per row that
    // finishes each distance and ranks it.

    /// The constants of a Gram form in the band's precision.
    [<Struct>]
    type private Finish<'T> =
        { Below: 'T
          Divisor1: 'T
          Divisor2: 'T
          Divide: bool
          Root: bool
          Scale: 'T
          Scaled: bool
          /// NaN → 0 before the root (the root forms, as <c>safeSqrt</c>'s where(q &gt; 0, √q, 0) does).
          ZeroNaN: bool }

    /// The finishing steps of a Gram form applied to a squared distance e: e / c₁ / c₂ (skipped when both are 1,
    /// where they are exact), √ (0 where not positive, as <c>DistanceKernels.safeSqrt</c>), · s (skipped when s = 1).
    let inline private finishExact (f: Finish<'T>) (e: 'T) (zero: 'T) : 'T =
        let q = if f.Divide then e / f.Divisor1 / f.Divisor2 else e
        let q = if f.ZeroNaN && q <> q then zero else q
        let r = if f.Root then (if q > zero then sqrt q else zero) else q
        if f.Scaled then r * f.Scale else r

    /// Distance (q, j) of a Gram form from the band's entry m2g = −2⟨X_q, Y_j⟩ and the squared norms xn = ‖X_q‖²,
    /// yn = ‖Y_j‖², with the operations of <c>DistanceKernels.squaredDistances</c> in the same order — sums = xn + yn,
    /// e = max(0, m2g + sums) — then <c>finishExact</c>. Accurate is false where the Gram value must be recomputed from
    /// the differences (e &lt; RecomputeBelow · sums), as the distance's plan does.
    let inline private finishOf (f: Finish<'T>) (m2g: 'T) (xn: 'T) (yn: 'T) (zero: 'T) : struct ('T * bool) =
        let sums = xn + yn
        let e0 = m2g + sums
        let e = if e0 < zero then zero else e0
        struct (finishExact f e zero, not (e < sums * f.Below))

    /// One query row of the fused path: the distances of the row finished from the band's entries (raw[j] =
    /// −2⟨X_q, Y_j⟩) and ranked in the same pass, exactly as <c>rankRowOf</c> ranks finished distances (the relevant
    /// distances first, then every candidate against them; self is skipped rather than placed and taken out).
    /// ValueNone as soon as an entry other than self needs the recomputation from the differences or is not finite:
    /// the row is then finished in full, fixed up and ranked by <c>rankRowOf</c>.
    let inline private fusedRowOf (f: Finish<'T>) (raw: nativeptr<'T>) (g: int) (xn: 'T) (yn: 'T[]) (members: int[]) (self: int) (r: int) (zero: 'T) (infinity: 'T) : RowRanks voption =
        let sorted = Array.zeroCreate<'T> r
        let index = Array.zeroCreate<int> r
        let mutable k = 0
        let mutable ok = true
        for j in members do
            if j <> self then
                let struct (v, accurate) = finishOf f (NativePtr.get raw j) xn yn.[j] zero
                sorted.[k] <- v
                index.[k] <- j
                k <- k + 1
                if not (accurate && v < infinity) then ok <- false
        if not ok then ValueNone
        else
            let t = thresholdsOf sorted index r infinity
            let lastValue = sorted.[r - 1]
            let lastIndex = index.[r - 1]
            let histogram = Array.zeroCreate<int64> r
            let mutable j = 0
            while ok && j < g do
                if j <> self then
                    let struct (v, accurate) = finishOf f (NativePtr.get raw j) xn yn.[j] zero
                    if not (accurate && v < infinity) then ok <- false
                    elif v < lastValue || (v = lastValue && j <= lastIndex) then
                        let b = bucketOf t v j
                        histogram.[b] <- histogram.[b] + 1L
                j <- j + 1
            if not ok then ValueNone
            else
                // The m-th relevant item fell in bucket m − 1.
                for m in 0 .. r - 1 do
                    histogram.[m] <- histogram.[m] - 1L
                ValueSome(ranksOf histogram r)

    /// The most flagged entries recomputed from the differences at once (their [entries, F] temporaries are bounded
    /// by 2^22 elements).
    let private recomputeChunk (features: int64) = int (max 1L ((1L <<< 22) / max 1L features))

    /// Finishes the marked rows of a band in full (self included): every entry raw[a, j] = −2⟨X_(r0+a), Y_j⟩ is
    /// replaced by its distance, and the entries whose Gram value cancels are recomputed from the differences with the
    /// tensor operations of <c>DistanceKernels.squaredDistancesBatched</c> (the same values) and finished.
    let inline private finishRowsOf (form: GramForm) (f: Finish<'T>) (basePtr: nativeint) (g: int) (r0: int) (xn: 'T[]) (yn: 'T[]) (marked: bool[]) (parallelism: ParallelOptions) (zero: 'T) =
        let rowAddress (a: int) = basePtr + nativeint (int64 a * int64 g * int64 sizeof<'T>)
        let flaggedOf = Array.zeroCreate<ResizeArray<int>> marked.Length
        Parallel.For(0, marked.Length, parallelism, Action<int>(fun a ->
            if marked.[a] then
                let row = NativePtr.ofNativeInt<'T> (rowAddress a)
                let xa = xn.[r0 + a]
                let mutable flagged = null
                for j in 0 .. g - 1 do
                    let struct (v, accurate) = finishOf f (NativePtr.get row j) xa yn.[j] zero
                    NativePtr.set row j v
                    if not accurate then
                        if isNull flagged then flagged <- ResizeArray<int>()
                        flagged.Add j
                flaggedOf.[a] <- flagged)) |> ignore
        let flaggedRows = ResizeArray<int>()
        let flaggedColumns = ResizeArray<int>()
        for a in 0 .. marked.Length - 1 do
            if not (isNull flaggedOf.[a]) then
                for j in flaggedOf.[a] do
                    flaggedRows.Add a
                    flaggedColumns.Add j
        let chunk = recomputeChunk form.X.shape.[1]
        for c0 in 0 .. chunk .. flaggedRows.Count - 1 do
            use scope = torch.NewDisposeScope()
            let cn = min chunk (flaggedRows.Count - c0)
            let rows = torch.tensor (Array.init cn (fun k -> int64 (r0 + flaggedRows.[c0 + k])), dtype = torch.int64)
            let columns = torch.tensor (Array.init cn (fun k -> int64 flaggedColumns.[c0 + k]), dtype = torch.int64)
            let exact =
                form.X.index_select(0L, rows).sub(form.Y.index_select (0L, columns)).pow(Scalars.sc 2.0).sum(1L).contiguous ()
            let values = exact.data<'T>().ToArray()
            for k in 0 .. cn - 1 do
                let row = NativePtr.ofNativeInt<'T> (rowAddress flaggedRows.[c0 + k])
                NativePtr.set row flaggedColumns.[c0 + k] (finishExact f values.[k] zero)

    /// Finishes the marked rows of a band in full (see <c>finishRowsOf</c>). A root form is finished up to its root in
    /// the pass (q = e / c₁ / c₂, NaN → 0 as <c>safeSqrt</c> does), then the root and the scale are taken by the same
    /// tensor operations as the distance's plan (sqrt, then · s, over the whole band: every row of a root form is
    /// marked), so that the values are those of <c>Pairwise</c> bit for bit wherever the product's are: the square
    /// root of the tensor library is not always the correctly rounded one that .NET computes.
    let inline private finishBandOf (form: GramForm) (f: Finish<'T>) (band: Tensor) (g: int) (r0: int) (xn: 'T[]) (yn: 'T[]) (marked: bool[]) (parallelism: ParallelOptions) (zero: 'T) =
        let basePtr = addressOf band
        if f.Root then
            finishRowsOf form { f with Root = false; Scaled = false; ZeroNaN = true } basePtr g r0 xn yn marked parallelism zero
            band.sqrt_ () |> ignore
            if f.Scaled then band.mul_ (Scalars.sc form.Scale) |> ignore
        else finishRowsOf form f basePtr g r0 xn yn marked parallelism zero

    /// The first j with a non-finite values[j] (∞ or NaN), or −1: 256-bit comparisons with +∞, then the lanes of the
    /// first failing vector.
    let inline private firstNonFinite (values: nativeptr<'T>) (g: int) (infinity: 'T) : int =
        let lanes = Vector256<'T>.Count
        let limit = Vector256.Create<'T>(infinity)
        let mutable j = 0
        let mutable found = -1
        while found < 0 && j + lanes <= g do
            let v = Vector256.Load(NativePtr.add values j)
            if Vector256.LessThanAll(v, limit) then j <- j + lanes
            else
                for k in j .. j + lanes - 1 do
                    if found < 0 && not (NativePtr.get values k < infinity) then found <- k
        while found < 0 && j < g do
            if not (NativePtr.get values j < infinity) then found <- j
            j <- j + 1
        found

    /// Raises the error of a non-finite distance for the first (row-major) non-finite entry of the marked rows, if any.
    let inline private checkFiniteOf (basePtr: nativeint) (g: int) (r0: int) (marked: bool[]) (parallelism: ParallelOptions) (infinity: 'T) (toFloat: 'T -> float) (name: string) =
        let rowAddress (a: int) = basePtr + nativeint (int64 a * int64 g * int64 sizeof<'T>)
        let bad = Array.create marked.Length -1
        Parallel.For(0, marked.Length, parallelism, Action<int>(fun a ->
            if marked.[a] then bad.[a] <- firstNonFinite (NativePtr.ofNativeInt<'T> (rowAddress a)) g infinity)) |> ignore
        match Array.tryFindIndex (fun j -> j >= 0) bad with
        | Some a ->
            let j = bad.[a]
            let v = NativePtr.get (NativePtr.ofNativeInt<'T> (rowAddress a)) j
            Validation.fail
                "distance"
                $"distance '{name}' between query {r0 + a} and gallery item {j} is {toFloat v}; the retrieval metrics need finite distances (check the embeddings for NaN or ∞)."
        | None -> ()

    /// The rows of one band on the fused path. The band holds raw[a, j] = −2⟨X_(r0+a), Y_j⟩ (one matrix product);
    /// every row with relevant items is finished and ranked in one pass (in parallel); the other rows — an entry to
    /// recompute, a non-finite distance, or no relevant item — are finished in full, their flagged entries recomputed
    /// from the differences with the tensor operations of <c>DistanceKernels.squaredDistancesBatched</c> (the same
    /// values), checked for non-finite distances (the first one, in row-major order, names the pair), and ranked by
    /// <c>rankRowOf</c>.
    let inline private fusedBandOf
        (form: GramForm)
        (f: Finish<'T>)
        (band: Tensor)
        (g: int)
        (r0: int)
        (xn: 'T[])
        (yn: 'T[])
        (membersOf: int -> int[])
        (selfOf: int -> int)
        (bandR: int[])
        (parallelism: ParallelOptions)
        (zero: 'T)
        (infinity: 'T)
        (toFloat: 'T -> float)
        (name: string)
        : RowRanks[] =
        let rn = bandR.Length
        let basePtr = addressOf band
        let rowAddress (a: int) = basePtr + nativeint (int64 a * int64 g * int64 sizeof<'T>)
        let results = Array.zeroCreate<RowRanks> rn
        let rankMarked (marked: bool[]) =
            Parallel.For(0, rn, parallelism, Action<int>(fun a ->
                if marked.[a] && bandR.[a] > 0 then
                    results.[a] <- rankRowOf (NativePtr.ofNativeInt<'T> (rowAddress a)) g (membersOf a) (selfOf a) bandR.[a] infinity)) |> ignore
        if f.Root then
            // The root is taken by the tensor library (see finishBandOf): finish every row, then rank.
            let all = Array.create rn true
            finishBandOf form f band g r0 xn yn all parallelism zero
            checkFiniteOf basePtr g r0 all parallelism infinity toFloat name
            rankMarked all
        else
            let deferred = Array.zeroCreate<bool> rn
            Parallel.For(0, rn, parallelism, Action<int>(fun a ->
                if bandR.[a] > 0 then
                    let raw = NativePtr.ofNativeInt<'T> (rowAddress a)
                    match fusedRowOf f raw g xn.[r0 + a] yn (membersOf a) (selfOf a) bandR.[a] zero infinity with
                    | ValueSome ranks -> results.[a] <- ranks
                    | ValueNone -> deferred.[a] <- true
                else deferred.[a] <- true)) |> ignore
            if Array.contains true deferred then
                finishBandOf form f band g r0 xn yn deferred parallelism zero
                checkFiniteOf basePtr g r0 deferred parallelism infinity toFloat name
                rankMarked deferred
        results

    /// The constants of a Gram form in float32.
    let private finish32 (form: GramForm) : Finish<float32> =
        { Below = float32 form.RecomputeBelow; Divisor1 = float32 form.Divisor1; Divisor2 = float32 form.Divisor2
          Divide = (form.Divisor1 <> 1.0 || form.Divisor2 <> 1.0); Root = form.Root; Scale = float32 form.Scale
          Scaled = (form.Scale <> 1.0); ZeroNaN = false }

    /// The constants of a Gram form in float64.
    let private finish64 (form: GramForm) : Finish<float> =
        { Below = form.RecomputeBelow; Divisor1 = form.Divisor1; Divisor2 = form.Divisor2
          Divide = (form.Divisor1 <> 1.0 || form.Divisor2 <> 1.0); Root = form.Root; Scale = form.Scale
          Scaled = (form.Scale <> 1.0); ZeroNaN = false }

    /// The [Q, G] distances of a Gram-form distance as the fused path computes them (one product, every row finished in
    /// full); None for a distance without a Gram form on these batches. For tests and diagnostics.
    let internal fusedDistances (distance: IDistance, queries: IEmbeddingBatch, gallery: IEmbeddingBatch) : Tensor option =
        NativeRuntime.EnsureInitialized()
        use _ = torch.no_grad ()
        match distance with
        | :? IGramDistance as gd ->
            use scope = torch.NewDisposeScope()
            match gd.Gram(queries, gallery) with
            | Some form ->
                let q, g = int form.X.shape.[0], int form.Y.shape.[0]
                let band = torch.empty ([| int64 q; int64 g |], dtype = form.X.dtype)
                band.addmm_ (form.X, form.Y.t (), 0.0f, -2.0f) |> ignore
                let marked = Array.create q true
                if form.X.dtype = torch.float32 then
                    finishBandOf form (finish32 form) band g 0 (form.XNorms.data<float32>().ToArray()) (form.YNorms.data<float32>().ToArray()) marked (ParallelOptions()) 0.0f
                else
                    finishBandOf form (finish64 form) band g 0 (form.XNorms.data<float>().ToArray()) (form.YNorms.data<float>().ToArray()) marked (ParallelOptions()) 0.0
                Some(band.MoveToOuterDisposeScope())
            | None -> None
        | _ -> None

    /// The relevant counts R per query (self excluded when the queries are the gallery).
    let private relevantCounts (queryLabels: int64[]) (galleryLabels: int64[]) (queryIsGallery: bool) =
        let counts = Dictionary<int64, int>()
        for l in galleryLabels do
            counts.[l] <- (match counts.TryGetValue l with | true, c -> c + 1 | _ -> 1)
        queryLabels
        |> Array.map (fun l ->
            let c = match counts.TryGetValue l with | true, c -> c | _ -> 0
            if queryIsGallery then c - 1 else c)

    /// The evaluation (see <c>evaluate</c>); fused = false keeps every distance on the generic path.
    let internal evaluateWith
        (fused: bool)
        (
            distance: IDistance,
            queries: IEmbeddingBatch,
            gallery: IEmbeddingBatch,
            queryLabels: int64[],
            galleryLabels: int64[],
            queryIsGallery: bool,
            ks: int[],
            bandElements: int64
        ) : RetrievalReport =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "distance" distance
        Validation.notNull "queries" queries
        Validation.notNull "gallery" gallery
        Validation.notNull "queryLabels" queryLabels
        Validation.notNull "galleryLabels" galleryLabels
        Validation.notNull "ks" ks
        for name, batch in [ "queries", queries; "gallery", gallery ] do
            if batch.Representation <> distance.Accepts then
                Validation.fail name $"{name} holds {batch.Representation} but distance '{distance.Name}' accepts {distance.Accepts}."
        let q, g = queries.Count, gallery.Count
        if q = 0 then Validation.fail "queries" "queries is empty; at least one query is required."
        if g = 0 then Validation.fail "gallery" "gallery is empty; at least one gallery item is required."
        Validation.sameLength "queryLabels" q queryLabels.Length "the queries"
        Validation.sameLength "galleryLabels" g galleryLabels.Length "the gallery"
        if bandElements < 0L then
            Validation.fail "bandElements" $"bandElements = {bandElements} is invalid; it must be ≥ 0 (0 = {DefaultBandElements})."
        if queryIsGallery then
            if q <> g then
                Validation.fail "gallery" $"queries has {q} items and gallery {g}; with queryIsGallery = true they must be the same batch."
            if g < 2 then
                Validation.fail "gallery" "gallery has 1 item; with queryIsGallery = true at least 2 are required (self is excluded)."
            RetrievalMetrics.sameItemLabels queryLabels galleryLabels
        let candidates = if queryIsGallery then g - 1 else g
        for i in 0 .. ks.Length - 1 do
            if ks.[i] < 1 || ks.[i] > candidates then
                Validation.fail "ks" $"ks[{i}] = {ks.[i]} is invalid; each k must satisfy 1 ≤ k ≤ {candidates} (the number of candidates per query)."
        let relevant = relevantCounts queryLabels galleryLabels queryIsGallery
        if relevant |> Array.forall (fun r -> r = 0) then
            Validation.fail
                "galleryLabels"
                "galleryLabels holds no item relevant to any query (a gallery item other than the query itself with its label); the retrieval metrics are undefined."
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let members = membersByLabel galleryLabels
        let parallelism = ParallelOptions(MaxDegreeOfParallelism = max 1 (torch.get_num_threads ()))
        let queryRow a0 a = if queryIsGallery then a0 + a else -1
        let membersOf a0 a = match members.TryGetValue queryLabels.[a0 + a] with | true, m -> m | _ -> Array.empty
        let gram =
            match distance with
            | :? IGramDistance as gd when fused && queries.Device.``type`` = DeviceType.CPU -> gd.Gram(queries, gallery)
            | _ -> None
        let gram =
            match gram with
            | Some form when form.X.dtype = torch.float32 || form.X.dtype = torch.float64 -> Some form
            | _ -> None
        // Rows per band: a band of about the budget's distances (the fused path's band is the product's output,
        // so its default is larger: see FusedBandElements), at most 2^27 of them (their bytes fit one Span).
        let budget =
            if bandElements > 0L then bandElements
            elif gram.IsSome then FusedBandElements
            else DefaultBandElements
        let rowsPerBand = min (rowsPerBand budget g q) (max 1L ((1L <<< 27) / int64 g))
        /// The ranks of the band's rows (r0, rn) with relevant counts bandR (0: no relevant item, not ranked).
        let rankBand : int -> int[] -> RowRanks[] =
            match gram with
            | Some form ->
                let f32 = form.X.dtype = torch.float32
                let band = torch.empty ([| rowsPerBand; int64 g |], dtype = form.X.dtype)
                let yt = form.Y.t ()
                if f32 then
                    let f = finish32 form
                    let xn = form.XNorms.data<float32>().ToArray()
                    let yn = form.YNorms.data<float32>().ToArray()
                    fun r0 bandR ->
                        let rows = band.narrow (0L, 0L, int64 bandR.Length)
                        rows.addmm_ (form.X.narrow (0L, int64 r0, int64 bandR.Length), yt, 0.0f, -2.0f) |> ignore
                        fusedBandOf form f rows g r0 xn yn (membersOf r0) (queryRow r0) bandR parallelism 0.0f Single.PositiveInfinity float distance.Name
                else
                    let f = finish64 form
                    let xn = form.XNorms.data<float>().ToArray()
                    let yn = form.YNorms.data<float>().ToArray()
                    fun r0 bandR ->
                        let rows = band.narrow (0L, 0L, int64 bandR.Length)
                        rows.addmm_ (form.X.narrow (0L, int64 r0, int64 bandR.Length), yt, 0.0f, -2.0f) |> ignore
                        fusedBandOf form f rows g r0 xn yn (membersOf r0) (queryRow r0) bandR parallelism 0.0 Double.PositiveInfinity id distance.Name
            | None ->
                let distancesOf = bandSource distance queries gallery
                fun r0 bandR ->
                    let rn = bandR.Length
                    let d = distancesOf (int64 r0) (int64 rn)
                    // One reduction detects a non-finite entry (a finite sum can only overflow when entries are huge;
                    // the exact check then decides).
                    if not (d.sum().isfinite().item<bool> ()) then
                        let finite = d.isfinite ()
                        if not (finite.all().item<bool> ()) then
                            let at = finite.logical_not().nonzero ()
                            let i, j = at.[0L, 0L].item<int64> (), at.[0L, 1L].item<int64> ()
                            let value = d.[i, j].to_type(torch.float64).item<float> ()
                            Validation.fail
                                "distance"
                                $"distance '{distance.Name}' between query {int64 r0 + i} and gallery item {j} is {value}; the retrieval metrics need finite distances (check the embeddings for NaN or ∞)."
                    // The band's rows as values of the band's precision on the CPU (float32 stays float32; any other
                    // type is widened to float64, exactly), read in place by the ranking pass below.
                    let rowResults = Array.zeroCreate<RowRanks> rn
                    let dc = d.cpu ()
                    let f32 = dc.dtype = torch.float32
                    let dc = (if f32 then dc else dc.to_type torch.float64).contiguous ()
                    let basePtr = addressOf dc
                    let size = if f32 then 4L else 8L
                    Parallel.For(0, rn, parallelism, Action<int>(fun a ->
                        if bandR.[a] > 0 then
                            let row = basePtr + nativeint (int64 a * int64 g * size)
                            rowResults.[a] <-
                                if f32 then rankRow32 row g (membersOf r0 a) (queryRow r0 a) bandR.[a]
                                else rankRow64 row g (membersOf r0 a) (queryRow r0 a) bandR.[a])) |> ignore
                    GC.KeepAlive dc
                    rowResults
        let mutable evaluated = 0
        let mutable precisionAt1 = 0.0
        let mutable rPrecision = 0.0
        let mutable mapAtR = 0.0
        let mutable averagePrecision = 0.0
        let mutable reciprocalRank = 0.0
        let recall = Array.zeroCreate<float> ks.Length
        for r0 in 0L .. rowsPerBand .. int64 q - 1L do
            use bandScope = torch.NewDisposeScope()
            let rn = min rowsPerBand (int64 q - r0)
            let bandR = relevant.[int r0 .. int (r0 + rn) - 1]
            if Array.max bandR > 0 then
                let rowResults = rankBand (int r0) bandR
                // Summed in query order, as RetrievalMetrics.Evaluate does.
                for a in 0 .. int rn - 1 do
                    let r = bandR.[a]
                    if r > 0 then
                        let row = rowResults.[a]
                        evaluated <- evaluated + 1
                        rPrecision <- rPrecision + float row.HitsAtR / float r
                        if row.First = 1L then precisionAt1 <- precisionAt1 + 1.0
                        mapAtR <- mapAtR + row.SumAtR / float r
                        averagePrecision <- averagePrecision + row.SumAll / float r
                        reciprocalRank <- reciprocalRank + 1.0 / float row.First
                        for m in 0 .. ks.Length - 1 do
                            if row.First <= int64 ks.[m] then recall.[m] <- recall.[m] + 1.0
        RetrievalMetrics.meanReport precisionAt1 rPrecision mapAtR averagePrecision ks recall reciprocalRank evaluated q

    /// <summary>
    /// Computes the retrieval report of queries against a gallery under a distance, one band of query rows at a time.
    /// </summary>
    /// <remarks>
    /// A distance of the catalog whose values are a function of squared Euclidean distances between prepared rows
    /// (<c>euclidean</c>, <c>sqeuclidean</c>, <c>quantile-w2</c>, and <c>marginal-w2</c> and <c>sliced-w2</c> between
    /// equal-length, uniformly weighted point sets — the forms with an exact Euclidean map, see
    /// <c>EuclideanExport</c>) on the CPU takes the fused path: each band is one matrix product −2 X Yᵀ of the
    /// centred rows, and one pass per row finishes every distance with the operations of the distance's own kernel
    /// (the norms, the clamp at 0, the recomputation of cancelled entries from the differences, the division, square
    /// root and scale, in that order) and ranks it. Its distances can differ from <c>Pairwise</c>'s only by the
    /// rounding of the matrix product (a product of another shape may sum in another order), so the reports agree
    /// unless two distances are within that rounding of each other; exact ties (e.g. integer data) stay ties. Any
    /// other distance computes the band's distances with its own kernel.
    /// </remarks>
    /// <param name="distance">Any distance or divergence; entry (q, j) = D(query q, gallery j).</param>
    /// <param name="queries">Q ≥ 1 queries of the representation the distance accepts.</param>
    /// <param name="gallery">G ≥ 1 gallery items (the same batch as <paramref name="queries"/> when
    /// <paramref name="queryIsGallery"/>).</param>
    /// <param name="queryLabels">[Q] labels of the queries.</param>
    /// <param name="galleryLabels">[G] labels of the gallery items.</param>
    /// <param name="queryIsGallery">True when query i is gallery item i (leave-one-out): self-matches are excluded.</param>
    /// <param name="ks">The k of each recall@k (1 ≤ k ≤ number of candidates); may be empty.</param>
    /// <param name="bandElements">Distances per band (query rows × G), ≥ 1; 0 for <c>DefaultBandElements</c>
    /// (<c>FusedBandElements</c> on the fused path). A band holds at least one query row.</param>
    /// <returns>The report, equal to <c>RetrievalMetrics.Evaluate</c> on the same distances.</returns>
    /// <exception cref="T:System.ArgumentException">A null or empty argument, a representation the distance does not
    /// accept (names queries or gallery), labels of the wrong length, differing labels with
    /// <paramref name="queryIsGallery"/>, a k out of range (names ks), bandElements &lt; 0, a non-finite distance (names
    /// distance), or no query with a relevant gallery item (names galleryLabels).</exception>
    [<CompiledName("Evaluate")>]
    let evaluate
        (
            distance: IDistance,
            queries: IEmbeddingBatch,
            gallery: IEmbeddingBatch,
            queryLabels: int64[],
            galleryLabels: int64[],
            queryIsGallery: bool,
            ks: int[],
            bandElements: int64
        ) : RetrievalReport =
        evaluateWith true (distance, queries, gallery, queryLabels, galleryLabels, queryIsGallery, ks, bandElements)

    /// The leave-one-out evaluation on the generic path (the distance's own kernel band by band), for comparisons.
    let internal evaluateWithinGeneric (distance: IDistance, embeddings: IEmbeddingBatch, labels: int64[], ks: int[], bandElements: int64) =
        Validation.notNull "embeddings" embeddings
        Validation.notNull "labels" labels
        Validation.sameLength "labels" embeddings.Count labels.Length "the embeddings"
        evaluateWith false (distance, embeddings, embeddings, labels, labels, true, ks, bandElements)

    /// <summary>Leave-one-out retrieval metrics within one labelled set, in bounded memory: every item queries all the
    /// others.</summary>
    /// <remarks><c>Evaluate(distance, embeddings, embeddings, labels, labels, true, ks, bandElements)</c>.</remarks>
    /// <param name="distance">Any distance or divergence accepting the batch's representation.</param>
    /// <param name="embeddings">N ≥ 2 embeddings.</param>
    /// <param name="labels">[N] labels.</param>
    /// <param name="ks">The k of each recall@k (1 ≤ k ≤ N − 1).</param>
    /// <param name="bandElements">Distances per band, ≥ 1; 0 for <c>DefaultBandElements</c>.</param>
    /// <returns>The report, equal to <c>EmbeddingMetrics.RetrievalWithin</c> on the same distances.</returns>
    /// <exception cref="T:System.ArgumentException">Any rule of <c>Evaluate</c>.</exception>
    [<CompiledName("EvaluateWithin")>]
    let evaluateWithin (distance: IDistance, embeddings: IEmbeddingBatch, labels: int64[], ks: int[], bandElements: int64) =
        Validation.notNull "embeddings" embeddings
        Validation.notNull "labels" labels
        Validation.sameLength "labels" embeddings.Count labels.Length "the embeddings"
        evaluate (distance, embeddings, embeddings, labels, labels, true, ks, bandElements)
