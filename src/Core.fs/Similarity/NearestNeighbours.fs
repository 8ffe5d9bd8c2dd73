namespace DistEmbed.Core.Similarity

#nowarn "9"

open System
open System.Numerics
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.DistanceKernels

/// The argument checks shared by NeighbourGraph and NeighbourLists: both arrays present and of one shape.
module internal NeighbourArrays =
    /// Fails naming indices or distances when either is null, or distances when the two shapes differ.
    let checkShapes (indices: int[,]) (distances: float[,]) =
        Validation.notNull "indices" indices
        Validation.notNull "distances" distances
        let rows, k = Array2D.length1 indices, Array2D.length2 indices
        if Array2D.length1 distances <> rows || Array2D.length2 distances <> k then
            Validation.fail
                "distances"
                $"distances has shape [{Array2D.length1 distances},{Array2D.length2 distances}] but indices has shape [{rows},{k}]; they must match."

/// <summary>
/// An exact k-nearest-neighbour graph of N items: for each item its k neighbours (itself excluded) in increasing
/// order of distance, ties broken by the smaller index.
/// </summary>
/// <param name="indices">N × k neighbour indices; row i lists N(i).</param>
/// <param name="distances">N × k distances d(i, N(i)_j), non-decreasing along each row.</param>
/// <exception cref="T:System.ArgumentException">indices and distances differ in shape (names distances), or an index lies
/// outside [0, N) (names indices).</exception>
[<Sealed>]
type NeighbourGraph(indices: int[,], distances: float[,]) =
    do
        NeighbourArrays.checkShapes indices distances
        let n, k = Array2D.length1 indices, Array2D.length2 indices
        for i in 0 .. n - 1 do
            for j in 0 .. k - 1 do
                let v = indices.[i, j]
                if v < 0 || v >= n then
                    Validation.fail "indices" $"indices[{i},{j}] = {v} is outside [0, {n}); neighbours must be items of the graph."

    /// <summary>N × k neighbour indices: row i lists the k nearest items to item i, nearest first.</summary>
    member _.Indices = indices
    /// <summary>N × k distances to those neighbours (float64), non-decreasing along each row.</summary>
    member _.Distances = distances
    /// <summary>The number of items N.</summary>
    member _.Count = Array2D.length1 indices
    /// <summary>The number of neighbours per item k.</summary>
    member _.K = Array2D.length2 indices

/// <summary>
/// The k nearest gallery items of each of Q queries, nearest first, ties broken by the smaller gallery index (the
/// result of <see cref="M:DistEmbed.Core.Similarity.NearestNeighbours.Search"/>).
/// </summary>
/// <param name="indices">Q × k gallery indices; row q lists the neighbours of query q.</param>
/// <param name="distances">Q × k distances d(query q, gallery item), non-decreasing along each row.</param>
/// <exception cref="T:System.ArgumentException">indices and distances differ in shape (names distances), or an index is
/// negative (names indices).</exception>
[<Sealed>]
type NeighbourLists(indices: int[,], distances: float[,]) =
    do
        NeighbourArrays.checkShapes indices distances
        let q, k = Array2D.length1 indices, Array2D.length2 indices
        for i in 0 .. q - 1 do
            for j in 0 .. k - 1 do
                if indices.[i, j] < 0 then
                    Validation.fail "indices" $"indices[{i},{j}] = {indices.[i, j]} is negative; gallery indices are ≥ 0."

    /// <summary>Q × k gallery indices: row q lists the k nearest gallery items to query q, nearest first.</summary>
    member _.Indices = indices
    /// <summary>Q × k distances to those items (float64), non-decreasing along each row.</summary>
    member _.Distances = distances
    /// <summary>The number of queries Q.</summary>
    member _.Count = Array2D.length1 indices
    /// <summary>The number of neighbours per query k.</summary>
    member _.K = Array2D.length2 indices

/// <summary>
/// Exact k-nearest-neighbour graphs for any <see cref="T:DistEmbed.Core.IDistance"/> (vectors, distributions,
/// quantile functions), in bounded memory: blocks of query rows against blocks of items with a running top-k, so
/// that the N × N distance matrix is never held (peak: one rows × columns block of distances).
/// </summary>
/// <remarks>
/// N(i) = the k items j ≠ i with the smallest d(x_i, x_j) (the query is always the first argument), ordered by the
/// pair (d(x_i, x_j), j): <b>among equal distances the smaller index comes first</b>, so the graph is exactly
/// determined by the computed scores, whatever the block size, thread count or device (a NaN score ranks as +∞).
///
/// On the CPU (float32 and float64) every block's scores go through one fused selection: each row keeps a running
/// top-k sorted by (score, index) and its threshold (the k-th score); a vector of scores all above the threshold is
/// rejected with one comparison, the rest are inserted one by one (the blocked GEMM + heap selection of faiss's exact
/// <c>IndexFlatL2</c> search, J. Johnson, M. Douze, H. Jégou, Billion-scale similarity search with GPUs, IEEE Trans.
/// Big Data 7(3), 2021, Section 3). Blocks are spread over <c>torch.get_num_threads()</c> threads (rows, or column
/// strips, per task; no two tasks touch one row). On an accelerator the selection is by <c>topk</c> per block,
/// merged with the running top-k; if more than k entries of a row are ≤ the k-th value t, the row's entries equal
/// to t are ranked by position with a cumulative sum (positions are in index order among equal values, by
/// construction of the running merge), then the k chosen are stably sorted by value.
///
/// Distances built by <c>Distances</c> named <c>euclidean</c>, <c>sqeuclidean</c> and <c>cosine</c> rank by one
/// matrix product per block on centred (or normalised) vectors: (‖x_i‖² + ‖x_j‖²) − 2⟨x_i, x_j⟩ on the CPU,
/// ‖x_j‖² − 2⟨x_i, x_j⟩ on an accelerator, and −2⟨u_i, u_j⟩ for cosine (the Gram form, the order of ‖x_i − x_j‖ for
/// fixed i); the reported distances of the chosen neighbours are then recomputed from the differences. For a k-NN
/// graph the CPU path multiplies only the blocks on and above the diagonal (into one reused buffer) and uses each
/// score of an off-diagonal block for both items of the pair, so d(i, j) and d(j, i) are the same number there. The
/// Gram form rounds differently from the direct form, so two candidates whose distances differ by a few units in the
/// last place may be ordered differently from the direct computation. Every other distance ranks by its own
/// <c>Pairwise</c> on blocks of items (<c>Select</c>). A distance must be a fixed function for the graph to be exact,
/// as every distance of the catalog is (<c>sliced-w2</c> and <c>max-sliced-w2</c> draw their directions once per
/// instance).
///
/// References:
/// [1] T. Tavares, D. Ayres, P. Smaragdis, Measuring similarity between embedding spaces using induced neighborhood
///     graphs, arXiv:2411.08687 (2024), Section 2 (k-NN graphs, self excluded).
/// </remarks>
[<RequireQualifiedAccess>]
module NearestNeighbours =

    type private Tensor = torch.Tensor

    /// <summary>The entries of one automatic block of scores (2^22: 16 MiB in float32, below the allocator's mmap threshold, so blocks reuse memory).</summary>
    [<Literal>]
    let BlockElements = 4194304L

    /// Ranking scores of a block and the exact distances of chosen neighbours.
    type private Scorer =
        { /// (row start, row count, column start, column count) → [rows, columns] scores, same order as the distances.
          Scores: int64 -> int64 -> int64 -> int64 -> Tensor
          /// (row start, row count, chosen indices [rows, k], their scores) → [rows, k] distances.
          Distances: int64 -> int64 -> Tensor -> Tensor -> Tensor }

    let private gramForm (distance: IDistance) (batch: IEmbeddingBatch) =
        match distance, batch with
        | (:? TensorDistance<VectorBatch>), (:? VectorBatch as v) when
            distance.Name = "euclidean" || distance.Name = "sqeuclidean" || distance.Name = "cosine" ->
            Some v
        | _ -> None

    /// The Gram form of query rows against gallery columns (the same tensor for a k-NN graph): centred (or, for
    /// cosine, normalised) rows, their squared norms (zeros for cosine, whose score is −2⟨u_i, u_j⟩, the order of
    /// −⟨u_i, u_j⟩), and the scorer of the accelerator path. Euclidean forms centre both sides by the gallery mean
    /// (distances are translation invariant; centring reduces cancellation).
    type private GramForm =
        { Queries: Tensor
          Gallery: Tensor
          QueryNorms: Tensor
          GalleryNorms: Tensor
          Scorer: Scorer }

    let private gramScorer (name: string) (queries: Tensor) (gallery: Tensor) : GramForm =
        let same = Object.ReferenceEquals(queries, gallery)
        if name = "cosine" then
            let floor = if gallery.dtype = torch.float64 then 1e-300 else 1e-30
            let unit (values: Tensor) =
                let norm = safeSqrt (values.pow(sc 2.0).sum (1L, keepdim = true))
                values.div(norm.clamp_min (sc floor)).contiguous ()
            let ug = unit gallery
            let uq = if same then ug else unit queries
            let zeros = torch.zeros ([| max ug.shape.[0] uq.shape.[0] |], dtype = ug.dtype, device = ug.device)
            { Queries = uq
              Gallery = ug
              QueryNorms = zeros
              GalleryNorms = zeros
              Scorer =
                { Scores = fun r0 rn c0 cn -> uq.narrow(0L, r0, rn).mm(ug.narrow(0L, c0, cn).t ()).neg ()
                  Distances =
                    fun r0 rn idx _ ->
                        let rows = uq.narrow(0L, r0, rn).unsqueeze 1L
                        let others = ug.index_select(0L, idx.flatten ()).reshape ([| rn; idx.shape.[1]; ug.shape.[1] |])
                        rows.mul(others).sum(2L).neg().add(sc 1.0).clamp (sc 0.0, sc 2.0) } }
        else
            let mean = gallery.mean ([| 0L |], keepdim = true)
            let xc = gallery.sub(mean).contiguous ()
            let qc = if same then xc else queries.sub(mean).contiguous ()
            let sq = xc.pow(sc 2.0).sum(1L).contiguous ()
            let sqq = if same then sq else qc.pow(sc 2.0).sum(1L).contiguous ()
            { Queries = qc
              Gallery = xc
              QueryNorms = sqq
              GalleryNorms = sq
              Scorer =
                { Scores =
                    fun r0 rn c0 cn ->
                        torch.addmm (sq.narrow(0L, c0, cn).unsqueeze 0L, qc.narrow (0L, r0, rn), xc.narrow(0L, c0, cn).t (), 1.0f, -2.0f)
                  Distances =
                    fun r0 rn idx _ ->
                        let rows = qc.narrow(0L, r0, rn).unsqueeze 1L
                        let others = xc.index_select(0L, idx.flatten ()).reshape ([| rn; idx.shape.[1]; xc.shape.[1] |])
                        let squared = rows.sub(others).pow(sc 2.0).sum (2L)
                        if name = "sqeuclidean" then squared else safeSqrt squared } }

    /// The CPU path applies to float32 and float64 tensors in CPU memory.
    let private onCpu (values: Tensor) =
        values.device_type = DeviceType.CPU && (values.dtype = torch.float32 || values.dtype = torch.float64)

    let private genericScorer (distance: IDistance) (queries: IEmbeddingBatch) (gallery: IEmbeddingBatch) : Scorer =
        let select (batch: IEmbeddingBatch) (start: int64) (count: int64) =
            use idx = torch.arange (start, start + count, dtype = torch.int64, device = batch.Device)
            batch.Select idx
        { Scores =
            fun r0 rn c0 cn ->
                use rows = select queries r0 rn
                use columns = select gallery c0 cn
                distance.Pairwise(rows, columns)
          Distances = fun _ _ _ scores -> scores }

    /// The kk smallest entries of each row of (values, indices) [r, m], ordered by (value, index). Among equal values
    /// the positions must be in index order (true of the running merge: earlier blocks hold smaller indices).
    let private selectK (values: Tensor) (indices: Tensor) (kk: int) : Tensor * Tensor =
        let r = values.shape.[0]
        let m = values.shape.[1]
        let positions =
            if int64 kk = m then
                torch.arange(m, dtype = torch.int64, device = values.device).unsqueeze(0L).expand (r, m)
            else
                let struct (top, topPositions) = values.topk (kk, dim = 1, largest = false, sorted = true)
                let threshold = top.narrow (1L, int64 (kk - 1), 1L)
                let atMost = values.le(threshold).sum (1L)
                if atMost.gt(sci (int64 kk)).any().item<bool> () then
                    let less = values.lt threshold
                    let equal = values.eq threshold
                    let need = less.sum(1L, keepdim = true).neg().add (sci (int64 kk))
                    let rank = equal.to_type(torch.int64).cumsum (1L)
                    let keep = less.logical_or (equal.logical_and (rank.le need))
                    keep.nonzero().select(1L, 1L).reshape ([| r; int64 kk |])
                else
                    let struct (sorted, _) = topPositions.sort (1L)
                    sorted
        let chosen = values.gather (1L, positions)
        let struct (_, order) = chosen.sort (1L, false, true)
        let final = positions.gather (1L, order)
        values.gather (1L, final), indices.gather (1L, final)

    /// The address of a contiguous CPU tensor's first element; valid while the tensor lives.
    let private address (t: Tensor) : nativeint = TensorMemory.address t

    /// The running top-k of many rows: slot s of row r at r·k + s, kept sorted by the pair (value, index); index −1
    /// marks an empty slot, worse than any candidate. NaN scores rank as +∞ (after every finite value, ties by index).
    [<Sealed; AllowNullLiteral>]
    type private RunningTopK(rows: int, k: int) =
        let values = Array.create (rows * k) Double.PositiveInfinity
        let indices = Array.create (rows * k) -1
        member _.Values = values
        member _.Indices = indices
        /// The value of row r's last slot: a candidate scoring strictly more cannot enter (+∞ while a slot is empty).
        member _.Threshold(r: int) = values.[r * k + k - 1]
        /// Offers candidate (v, j) to row r; returns the row's new threshold.
        [<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
        member _.Offer(r: int, v: float, j: int) : float =
            let off = r * k
            let last = off + k - 1
            let v = if Double.IsNaN v then Double.PositiveInfinity else v
            let li = indices.[last]
            if li < 0 || v < values.[last] || (v = values.[last] && j < li) then
                let mutable p = last
                while p > off
                      && (indices.[p - 1] < 0 || v < values.[p - 1] || (v = values.[p - 1] && j < indices.[p - 1])) do
                    values.[p] <- values.[p - 1]
                    indices.[p] <- indices.[p - 1]
                    p <- p - 1
                values.[p] <- v
                indices.[p] <- j
            values.[last]

    /// The first vector position p = j, j + W, … (p + W ≤ jb) at which a row of Gram scores (s + sq_p) − 2·ip_p is not
    /// entirely above the row threshold `thrRow`, or the first p with p + W > jb when there is none. A loop with no
    /// call in it, so that its vectors stay in registers.
    let inline private scanRowBody (ip: nativeptr<'T>) (sqCols: nativeptr<'T>) (sqRow: 'T) (thrRow: 'T) (two: 'T) (j: int) (jb: int) =
        let w = Vector<'T>.Count
        let vsq = Vector<'T>(sqRow)
        let vtwo = Vector<'T>(two)
        let vthr = Vector<'T>(thrRow)
        let mutable p = j
        while p + w <= jb
              && Vector.GreaterThanAll((vsq + Vector.Load(NativePtr.add sqCols p)) - Vector.Load(NativePtr.add ip p) * vtwo, vthr) do
            p <- p + w
        p

    /// <c>scanRowBody</c> with a column threshold per position as well: the first vector with a score not above
    /// max(thrRow, thrCols_p), i.e. at or below the row's threshold or its column's: a candidate for the row or for
    /// one of the columns (a NaN score, ranked +∞, stops the scan as well).
    let inline private scanBothBody
        (ip: nativeptr<'T>) (sqCols: nativeptr<'T>) (thrCols: nativeptr<'T>) (sqRow: 'T) (thrRow: 'T) (two: 'T) (j: int) (jb: int) =
        let w = Vector<'T>.Count
        let vsq = Vector<'T>(sqRow)
        let vtwo = Vector<'T>(two)
        let vthr = Vector<'T>(thrRow)
        let mutable p = j
        while p + w <= jb
              && Vector.GreaterThanAll(
                  (vsq + Vector.Load(NativePtr.add sqCols p)) - Vector.Load(NativePtr.add ip p) * vtwo,
                  Vector.Max(vthr, Vector.Load(NativePtr.add thrCols p))) do
            p <- p + w
        p

    let private scanRow32 (ip: nativeptr<float32>) sqCols sqRow thrRow (j: int) (jb: int) = scanRowBody ip sqCols sqRow thrRow 2.0f j jb
    let private scanRow64 (ip: nativeptr<float>) sqCols sqRow thrRow (j: int) (jb: int) = scanRowBody ip sqCols sqRow thrRow 2.0 j jb
    let private scanBoth32 (ip: nativeptr<float32>) sqCols thrCols sqRow thrRow (j: int) (jb: int) = scanBothBody ip sqCols thrCols sqRow thrRow 2.0f j jb
    let private scanBoth64 (ip: nativeptr<float>) sqCols thrCols sqRow thrRow (j: int) (jb: int) = scanBothBody ip sqCols thrCols sqRow thrRow 2.0 j jb

    /// The fused selection of one Gram block [rn, cn] of inner products ip (rows r0 + i, columns c0 + j) in a single pass
    /// over it: every score (s_r + s_j) − 2·ip (s: squared norms, 0 for cosine) is a candidate c0 + j of row r0 + i
    /// (the row side, column `skip` = the row itself skipped when skipSelf) and, for columns j ≥ ja (the symmetric
    /// half of a k-NN graph), a candidate r0 + i of item c0 + j (the column side), against the row's threshold and the
    /// columns' cached thresholds thrCols[j]. A vector of W scores above every threshold concerned is rejected by one
    /// comparison in the scanners; the lanes of the others are recomputed as scalars by the same IEEE operations (the
    /// same values: both sides of a pair, and the vector and scalar parts of a row, agree exactly) and offered one by
    /// one. The order of the offers does not matter: a running top-k keeps the k smallest pairs (value, index).
    let inline private selectGramBody
        (block: nativeptr<'T>) (rn: int) (cn: int) (r0: int) (c0: int) (ja: int) (sqRows: nativeptr<'T>) (sqCols: nativeptr<'T>)
        (skipSelf: bool) (thrCols: nativeptr<'T>) (top: RunningTopK) (two: 'T) (toFloat: 'T -> float) (ofFloat: float -> 'T)
        (scanRow: nativeptr<'T> -> nativeptr<'T> -> 'T -> 'T -> int -> int -> int)
        (scanBoth: nativeptr<'T> -> nativeptr<'T> -> nativeptr<'T> -> 'T -> 'T -> int -> int -> int) =
        let w = Vector<'T>.Count
        for j in ja .. cn - 1 do
            NativePtr.set thrCols j (ofFloat (top.Threshold(c0 + j)))
        for i in 0 .. rn - 1 do
            let r = r0 + i
            let skip = if skipSelf then r else -1
            let ip = NativePtr.add block (i * cn)
            let sqRow = NativePtr.get sqRows r
            let mutable thrRow = ofFloat (top.Threshold r)
            // Row side alone: columns [0, ja).
            let mutable j = scanRow ip sqCols sqRow thrRow 0 ja
            while j + w <= ja do
                for t in j .. j + w - 1 do
                    let v = (sqRow + NativePtr.get sqCols t) - NativePtr.get ip t * two
                    if not (v > thrRow) && c0 + t <> skip then
                        thrRow <- ofFloat (top.Offer(r, toFloat v, c0 + t))
                j <- scanRow ip sqCols sqRow thrRow (j + w) ja
            while j < ja do
                let v = (sqRow + NativePtr.get sqCols j) - NativePtr.get ip j * two
                if not (v > thrRow) && c0 + j <> skip then
                    thrRow <- ofFloat (top.Offer(r, toFloat v, c0 + j))
                j <- j + 1
            // Both sides: columns [ja, cn).
            let inline both (t: int) =
                let v = (sqRow + NativePtr.get sqCols t) - NativePtr.get ip t * two
                if not (v > thrRow) && c0 + t <> skip then
                    thrRow <- ofFloat (top.Offer(r, toFloat v, c0 + t))
                if not (v > NativePtr.get thrCols t) then
                    NativePtr.set thrCols t (ofFloat (top.Offer(c0 + t, toFloat v, r)))
            j <- scanBoth ip sqCols thrCols sqRow thrRow ja cn
            while j + w <= cn do
                for t in j .. j + w - 1 do
                    both t
                j <- scanBoth ip sqCols thrCols sqRow thrRow (j + w) cn
            while j < cn do
                both j
                j <- j + 1

    /// Row side of a block of ready-made scores (any distance's Pairwise): candidates j ∈ [c0, c0 + cn) of row r.
    let inline private directRow
        (scores: nativeptr<'T>) (cn: int) (c0: int) (skip: int) (top: RunningTopK) (r: int) (toFloat: 'T -> float) (ofFloat: float -> 'T) =
        let w = Vector<'T>.Count
        let mutable thr = ofFloat (top.Threshold r)
        let mutable j = 0
        while j + w <= cn do
            let d = Vector.Load(NativePtr.add scores j)
            if not (Vector.GreaterThanAll(d, Vector<'T>(thr))) then
                for t in j .. j + w - 1 do
                    let v = NativePtr.get scores t
                    if not (v > thr) && c0 + t <> skip then
                        thr <- ofFloat (top.Offer(r, toFloat v, c0 + t))
            j <- j + w
        while j < cn do
            let v = NativePtr.get scores j
            if not (v > thr) && c0 + j <> skip then
                thr <- ofFloat (top.Offer(r, toFloat v, c0 + j))
            j <- j + 1

    /// Rows per task and columns per task of the selection passes over one block.
    [<Literal>]
    let private RowsPerTask = 16

    [<Literal>]
    let private ColumnsPerTask = 512

    /// Runs tasks 0 .. count − 1 on up to `threads` threads (inline when one).
    let private forTasks (threads: int) (count: int) (body: int -> unit) =
        if threads <= 1 || count <= 1 then
            for t in 0 .. count - 1 do
                body t
        else
            Parallel.For(0, count, ParallelOptions(MaxDegreeOfParallelism = threads), (fun t -> body t)) |> ignore

    /// The automatic block of the CPU path: rows per block and columns per block (chosen by measurement, see
    /// docs/benchmarks.md "Exact k-NN against faiss"): 512 × 512 for a search; for a k-NN graph (`symmetric`) strips of
    /// 256 rows against panels of 512 columns starting at the strip's diagonal, so that the Gram entries below the
    /// diagonal that are multiplied (those of the 256 × 256 diagonal squares) number N · 128, not N · 256.
    let private cpuBlock (rows: int64) (columns: int64) (blockSize: int) (symmetric: bool) =
        if blockSize > 0 then int64 blockSize, int64 blockSize
        else min rows (if symmetric then 256L else 512L), min columns 512L

    /// The fused selection of one float32 Gram block [rn, cn] at address b (rows r0.., columns c0..; see
    /// <c>selectGramBody</c>): the row side for every column, the column side for columns ≥ ja.
    let private selectGram32
        (b: nativeint) (rn: int) (cn: int) (r0: int) (c0: int) (ja: int) (sqQ: nativeint) (sqX: nativeint) (skipSelf: bool)
        (thr: float32[]) (top: RunningTopK) =
        use thrCols = fixed thr
        selectGramBody (NativePtr.ofNativeInt<float32> b) rn cn r0 c0 ja (NativePtr.ofNativeInt<float32> sqQ)
            (NativePtr.add (NativePtr.ofNativeInt<float32> sqX) c0) skipSelf thrCols top 2.0f float float32 scanRow32 scanBoth32

    /// <c>selectGram32</c> for float64 blocks.
    let private selectGram64
        (b: nativeint) (rn: int) (cn: int) (r0: int) (c0: int) (ja: int) (sqQ: nativeint) (sqX: nativeint) (skipSelf: bool)
        (thr: float[]) (top: RunningTopK) =
        use thrCols = fixed thr
        selectGramBody (NativePtr.ofNativeInt<float> b) rn cn r0 c0 ja (NativePtr.ofNativeInt<float> sqQ)
            (NativePtr.add (NativePtr.ofNativeInt<float> sqX) c0) skipSelf thrCols top 2.0 id id scanRow64 scanBoth64

    /// The packing buffers of one worker for the managed GEMM (null on the libtorch path).
    let private gemmWorkspace (gemm: ManagedGemm.Path) : ManagedGemm.Workspace =
        if gemm = ManagedGemm.Torch then null else new ManagedGemm.Workspace(ManagedGemm.defaultBlocking)

    /// One Gram block: block [rn, cn] = queries[r0 .. r0 + rn) · gallery[c0 .. c0 + cn)ᵀ (contiguous row-major CPU
    /// tensors, block a contiguous view), by the managed GEMM (float32, workspace of this worker) or by libtorch's
    /// addmm_ with β = 0 (gemm = Torch).
    let private multiplyBlock
        (gemm: ManagedGemm.Path) (workspace: ManagedGemm.Workspace) (queries: Tensor) (gallery: Tensor)
        (r0: int64) (rn: int64) (c0: int64) (cn: int64) (block: Tensor) =
        if gemm = ManagedGemm.Torch then
            block.addmm_ (queries.narrow (0L, r0, rn), gallery.narrow(0L, c0, cn).t (), beta = 0.0f, alpha = 1.0f) |> ignore
        else
            let d = gallery.shape.[1]
            let rowAt (t: Tensor) (row: int64) = NativePtr.ofNativeInt<float32> (address t + nativeint (row * d * 4L))
            ManagedGemm.multiplyTransposed gemm workspace (int rn) (int cn) (int d)
                (rowAt queries r0) (int d) (rowAt gallery c0) (int d) (NativePtr.ofNativeInt<float32> (address block)) (int cn)

    /// One Gram-form problem of the CPU path: centred (or unit) query rows and gallery rows, their squared norms
    /// (zeros for cosine), whether it is a k-NN graph (queries = gallery: only the blocks on and above the diagonal are
    /// multiplied) and whether the diagonal (the item itself) is skipped.
    [<NoEquality; NoComparison>]
    type private GramProblem =
        { Queries: Tensor
          Gallery: Tensor
          QueryNorms: Tensor
          GalleryNorms: Tensor
          Symmetric: bool
          SkipSelf: bool }

    /// Gram-form passes on the CPU (float32 or float64), one per problem, sharing one pool of workers: blocks of query
    /// rows against panels of gallery columns, one matrix product per block into a reused buffer (<c>multiplyBlock</c>:
    /// float32 blocks by the managed AVX-512 / AVX2 GEMM, <c>ManagedGemm</c>, selectable by DISTEMBED_GEMM; float64
    /// blocks, and float32 ones where no managed kernel runs or DISTEMBED_GEMM = torch, by libtorch's addmm_ with β = 0),
    /// then the fused selection. When a problem is `Symmetric` (queries = gallery, self excluded) only the blocks on
    /// and above the diagonal are multiplied and each score of an off-diagonal block serves both its row and its
    /// column. With T = torch.get_num_threads() > 1 the blocks of all the problems are shared out among T workers,
    /// each with its own buffers and running top-k per problem, multiplying its blocks on one BLAS thread (the torch
    /// thread count is 1 meanwhile and restored afterwards); the running top-k of each problem are then merged. Every
    /// candidate pair is scored in exactly one block, so the result does not depend on the schedule.
    let private gramCpuMany (problems: GramProblem[]) (k: int) (blockSize: int) : RunningTopK[] =
        let shapes = problems |> Array.map (fun p -> p.Queries.shape.[0], p.Gallery.shape.[0])
        let blocks = Array.map2 (fun (q64, g64) (p: GramProblem) -> cpuBlock q64 g64 blockSize p.Symmetric) shapes problems
        let tasks = ResizeArray<struct (int * int64 * int64)>()
        problems
        |> Array.iteri (fun s p ->
            let q64, g64 = shapes.[s]
            let rowsPerBlock, columnsPerBlock = blocks.[s]
            for r0 in 0L .. rowsPerBlock .. q64 - 1L do
                for c0 in (if p.Symmetric then r0 else 0L) .. columnsPerBlock .. g64 - 1L do
                    tasks.Add(struct (s, r0, c0)))
        let workers = max 1 (min (torch.get_num_threads ()) tasks.Count)
        let tops = Array.init workers (fun _ -> Array.zeroCreate<RunningTopK> problems.Length)
        let isDouble = problems |> Array.map (fun p -> p.Gallery.dtype = torch.float64)
        let sqQAddress = problems |> Array.map (fun p -> address p.QueryNorms)
        let sqXAddress = problems |> Array.map (fun p -> address p.GalleryNorms)
        let bufferElements dbl =
            Array.fold2 (fun m (r, c) d -> if d = dbl then max m (r * c) else m) 0L blocks isDouble
        let maxColumns = blocks |> Array.fold (fun m (_, c) -> max m c) 0L
        // float32 blocks go through the managed GEMM where the CPU has a kernel for it (read once, on the caller's
        // flow, so a path forced by a test holds for every worker).
        let gemm = if Array.forall id isDouble then ManagedGemm.Torch else ManagedGemm.current ()
        let next = ref -1
        let work (w: int) =
            let mine = tops.[w]
            use workspace = gemmWorkspace gemm
            // One buffer per dtype in use, allocated on first use by this worker.
            let mutable buffer32: Tensor = null
            let mutable buffer64: Tensor = null
            let thr32 = if Array.exists not isDouble then Array.zeroCreate<float32> (int maxColumns) else [||]
            let thr64 = if Array.exists id isDouble then Array.zeroCreate<float> (int maxColumns) else [||]
            try
                let mutable t = Threading.Interlocked.Increment &next.contents
                while t < tasks.Count do
                    let struct (s, r0, c0) = tasks.[t]
                    let p = problems.[s]
                    let q64, g64 = shapes.[s]
                    let rowsPerBlock, columnsPerBlock = blocks.[s]
                    if isNull mine.[s] then mine.[s] <- RunningTopK(int q64, k)
                    let top = mine.[s]
                    let rn = min rowsPerBlock (q64 - r0)
                    let cn = min columnsPerBlock (g64 - c0)
                    let buffer =
                        if isDouble.[s] then
                            if isNull buffer64 then buffer64 <- torch.empty ([| bufferElements true |], dtype = torch.float64)
                            buffer64
                        else
                            if isNull buffer32 then buffer32 <- torch.empty ([| bufferElements false |], dtype = torch.float32)
                            buffer32
                    use blockScope = torch.NewDisposeScope()
                    let block = buffer.narrow(0L, 0L, rn * cn).view (rn, cn)
                    multiplyBlock (if isDouble.[s] then ManagedGemm.Torch else gemm) workspace p.Queries p.Gallery r0 rn c0 cn block
                    let b = address block
                    // Column side: the block's columns at or beyond the end of the row block (symmetric only).
                    let ja = if p.Symmetric then int (max 0L (r0 + rn - c0)) else int cn
                    if isDouble.[s] then
                        selectGram64 b (int rn) (int cn) (int r0) (int c0) ja sqQAddress.[s] sqXAddress.[s] p.SkipSelf thr64 top
                    else
                        selectGram32 b (int rn) (int cn) (int r0) (int c0) ja sqQAddress.[s] sqXAddress.[s] p.SkipSelf thr32 top
                    t <- Threading.Interlocked.Increment &next.contents
            finally
                if not (isNull buffer32) then buffer32.Dispose()
                if not (isNull buffer64) then buffer64.Dispose()
        if workers = 1 then work 0
        else
            let saved = torch.get_num_threads ()
            torch.set_num_threads 1
            try
                Parallel.For(0, workers, ParallelOptions(MaxDegreeOfParallelism = workers), (fun w -> work w)) |> ignore
            finally
                torch.set_num_threads saved
        problems
        |> Array.mapi (fun s _ ->
            let q = int (fst shapes.[s])
            // The first worker's top-k of this problem (every worker that took one of its blocks holds one), merged.
            let held = tops |> Array.choose (fun m -> Option.ofObj m.[s])
            let top = if held.Length = 0 then RunningTopK(q, k) else held.[0]
            for w in 1 .. held.Length - 1 do
                let other = held.[w]
                for r in 0 .. q - 1 do
                    for slot in 0 .. k - 1 do
                        let j = other.Indices.[r * k + slot]
                        if j >= 0 then top.Offer(r, other.Values.[r * k + slot], j) |> ignore
            top)

    /// The CPU selection over blocks of ready-made scores (a distance's own Pairwise on blocks of items).
    let private directCpu (scorer: Scorer) (q64: int64) (g64: int64) (k: int) (blockSize: int) (skipSelf: bool) : RunningTopK =
        let rowsPerBlock, columnsPerBlock =
            if blockSize > 0 then int64 blockSize, int64 blockSize
            else
                let c = min g64 1048576L
                max 1L (min q64 (BlockElements / c)), c
        let top = RunningTopK(int q64, k)
        let threads = max 1 (torch.get_num_threads ())
        for r0 in 0L .. rowsPerBlock .. q64 - 1L do
            let rn = min rowsPerBlock (q64 - r0)
            for c0 in 0L .. columnsPerBlock .. g64 - 1L do
                use blockScope = torch.NewDisposeScope()
                let cn = min columnsPerBlock (g64 - c0)
                let scores = (scorer.Scores r0 rn c0 cn).contiguous ()
                let isDouble = scores.dtype = torch.float64
                let scores = if isDouble || scores.dtype = torch.float32 then scores else scores.to_type torch.float64
                let isDouble = scores.dtype = torch.float64
                let b = address scores
                let rn, cn, r0, c0 = int rn, int cn, int r0, int c0
                forTasks threads ((rn + RowsPerTask - 1) / RowsPerTask) (fun t ->
                    for i in t * RowsPerTask .. min rn ((t + 1) * RowsPerTask) - 1 do
                        let r = r0 + i
                        let skip = if skipSelf then r else -1
                        if isDouble then
                            directRow (NativePtr.add (NativePtr.ofNativeInt<float> b) (i * cn)) cn c0 skip top r id id
                        else
                            directRow (NativePtr.add (NativePtr.ofNativeInt<float32> b) (i * cn)) cn c0 skip top r float float32)
        top

    /// The reported distance of query row r to gallery row j on the CPU, from float64 rows of the Gram form (centred,
    /// or unit for cosine) with float64 accumulation, lane by lane then across lanes: Σ_c (q_rc − x_jc)², its square
    /// root, or 1 − ⟨u_r, u_j⟩ clamped to [0, 2].
    let private rowDistance64 (q: nativeptr<float>) (x: nativeptr<float>) (d: int) (cosine: bool) (root: bool) =
        let w = Vector<float>.Count
        let mutable acc = Vector<float>.Zero
        let mutable c = 0
        while c + w <= d do
            let a = Vector.Load(NativePtr.add q c)
            let b = Vector.Load(NativePtr.add x c)
            acc <- if cosine then acc + a * b else (let e = a - b in acc + e * e)
            c <- c + w
        let mutable total = Vector.Sum acc
        while c < d do
            let a = NativePtr.get q c
            let b = NativePtr.get x c
            total <- if cosine then total + a * b else (let e = a - b in total + e * e)
            c <- c + 1
        if cosine then min 2.0 (max 0.0 (1.0 - total))
        elif root then sqrt total
        else total

    /// <c>rowDistance64</c> for float32 rows: each element widened to float64 before the difference (or product).
    let private rowDistance32 (q: nativeptr<float32>) (x: nativeptr<float32>) (d: int) (cosine: bool) (root: bool) =
        let w = Vector<float32>.Count
        let mutable acc = Vector<float>.Zero
        let mutable c = 0
        while c + w <= d do
            let a = Vector.Load(NativePtr.add q c)
            let b = Vector.Load(NativePtr.add x c)
            let al, ah = Vector.WidenLower a, Vector.WidenUpper a
            let bl, bh = Vector.WidenLower b, Vector.WidenUpper b
            acc <-
                if cosine then acc + al * bl + ah * bh
                else
                    let el = al - bl
                    let eh = ah - bh
                    acc + el * el + eh * eh
            c <- c + w
        let mutable total = Vector.Sum acc
        while c < d do
            let a = float (NativePtr.get q c)
            let b = float (NativePtr.get x c)
            total <- if cosine then total + a * b else (let e = a - b in total + e * e)
            c <- c + 1
        if cosine then min 2.0 (max 0.0 (1.0 - total))
        elif root then sqrt total
        else total

    /// Copies a running top-k into the result arrays: the indices, and with `withDistances` the distances — Gram
    /// distances recomputed from the rows (no temporaries; form = (queries, gallery, distance name)), direct ones the
    /// selected scores. Without distances the second array is null (callers that need only the graph's indices).
    let private finish (top: RunningTopK) (q64: int64) (k: int) (form: (Tensor * Tensor * string) option) (withDistances: bool) =
        let indices = Array2D.zeroCreate<int> (int q64) k
        let chosen = top.Indices
        for r in 0 .. int q64 - 1 do
            for b in 0 .. k - 1 do
                indices.[r, b] <- chosen.[r * k + b]
        if not withDistances then indices, null
        else
        let distances = Array2D.zeroCreate<float> (int q64) k
        match form with
        | None ->
            let values = top.Values
            for r in 0 .. int q64 - 1 do
                for b in 0 .. k - 1 do
                    distances.[r, b] <- values.[r * k + b]
        | Some (queries, gallery, name) ->
            let d = int gallery.shape.[1]
            let cosine = name = "cosine"
            let root = name = "euclidean"
            let qa = address queries
            let xa = address gallery
            let isDouble = gallery.dtype = torch.float64
            let rows = int q64
            let threads = max 1 (torch.get_num_threads ())
            let per = 256
            forTasks threads ((rows + per - 1) / per) (fun t ->
                for r in t * per .. min rows ((t + 1) * per) - 1 do
                    for b in 0 .. k - 1 do
                        let j = chosen.[r * k + b]
                        distances.[r, b] <-
                            if isDouble then
                                rowDistance64 (NativePtr.add (NativePtr.ofNativeInt<float> qa) (r * d))
                                    (NativePtr.add (NativePtr.ofNativeInt<float> xa) (j * d)) d cosine root
                            else
                                rowDistance32 (NativePtr.add (NativePtr.ofNativeInt<float32> qa) (r * d))
                                    (NativePtr.add (NativePtr.ofNativeInt<float32> xa) (j * d)) d cosine root)
        indices, distances

    /// Σ_c v_c² of one row of d entries, in the row's dtype: lane by lane, then across the lanes, then the tail (one
    /// fixed order per row, whatever the thread count).
    let inline private sumSquares (row: nativeptr<'T>) (d: int) (zero: 'T) : 'T =
        let w = Vector<'T>.Count
        let mutable acc = Vector<'T>.Zero
        let mutable c = 0
        while c + w <= d do
            let v = Vector.Load(NativePtr.add row c)
            acc <- acc + v * v
            c <- c + w
        let mutable total = zero + Vector.Sum acc
        while c < d do
            let v = NativePtr.get row c
            total <- total + v * v
            c <- c + 1
        total

    /// The squared norms [n] of the rows of a contiguous CPU matrix [n, d] (float32 or float64), without an n × d
    /// temporary (the Gram form's ‖x_j‖²).
    let private rowNormsCpu (values: Tensor) : Tensor =
        let n = int values.shape.[0]
        let d = int values.shape.[1]
        let norms = torch.empty ([| int64 n |], dtype = values.dtype)
        let src = address values
        let dst = address norms
        let isDouble = values.dtype = torch.float64
        let per = 512
        forTasks (max 1 (torch.get_num_threads ())) ((n + per - 1) / per) (fun t ->
            for i in t * per .. min n ((t + 1) * per) - 1 do
                if isDouble then
                    NativePtr.set (NativePtr.ofNativeInt<float> dst) i (sumSquares (NativePtr.add (NativePtr.ofNativeInt<float> src) (i * d)) d 0.0)
                else
                    NativePtr.set (NativePtr.ofNativeInt<float32> dst) i (sumSquares (NativePtr.add (NativePtr.ofNativeInt<float32> src) (i * d)) d 0.0f))
        norms

    /// The Gram-form problem of the CPU path (float32 or float64 in CPU memory): for euclidean and sqeuclidean both
    /// sides centred by the gallery mean, with the squared norms summed by <c>rowNormsCpu</c>; for cosine the unit rows
    /// of <c>gramScorer</c>. A k-NN graph (`symmetric`) passes the same tensor as queries and gallery.
    let private cpuProblem (name: string) (queries: Tensor) (gallery: Tensor) (symmetric: bool) : GramProblem =
        if name = "cosine" then
            let form = gramScorer name queries gallery
            { Queries = form.Queries
              Gallery = form.Gallery
              QueryNorms = form.QueryNorms
              GalleryNorms = form.GalleryNorms
              Symmetric = symmetric
              SkipSelf = symmetric }
        else
            let same = Object.ReferenceEquals(queries, gallery)
            let mean = gallery.mean ([| 0L |], keepdim = true)
            let xc = gallery.sub(mean).contiguous ()
            let qc = if same then xc else queries.sub(mean).contiguous ()
            let sq = rowNormsCpu xc
            { Queries = qc
              Gallery = xc
              QueryNorms = (if same then sq else rowNormsCpu qc)
              GalleryNorms = sq
              Symmetric = symmetric
              SkipSelf = symmetric }

    /// The blocked top-k on an accelerator (tensor operations only): q64 query rows against g64 gallery columns (self
    /// excluded on the diagonal when asked), indices [Q, k] and float64 distances [Q, k], ordered by (distance, index).
    /// Runs in the caller's scopes.
    let private runTorch (scorer: Scorer) (q64: int64) (g64: int64) (k: int) (blockSize: int) (excludeSelf: bool) : int[,] * float[,] =
        let columnsPerBlock, rowsPerBlock =
            if blockSize > 0 then int64 blockSize, int64 blockSize
            else
                let c = min g64 1048576L
                c, max 1L (min q64 (BlockElements / c))
        let indices = Array2D.zeroCreate<int> (int q64) k
        let distances = Array2D.zeroCreate<float> (int q64) k
        let infinity = sc Double.PositiveInfinity
        for r0 in 0L .. rowsPerBlock .. q64 - 1L do
            use rowScope = torch.NewDisposeScope()
            let rn = min rowsPerBlock (q64 - r0)
            let mutable running: (Tensor * Tensor) option = None
            for c0 in 0L .. columnsPerBlock .. g64 - 1L do
                use blockScope = torch.NewDisposeScope()
                let cn = min columnsPerBlock (g64 - c0)
                let scores = scorer.Scores r0 rn c0 cn
                if excludeSelf && r0 < c0 + cn && c0 < r0 + rn then
                    scores.diagonal(offset = r0 - c0).fill_ infinity |> ignore
                let columns =
                    torch.arange(c0, c0 + cn, dtype = torch.int64, device = scores.device).unsqueeze(0L).expand (rn, cn)
                let values, candidates =
                    match running with
                    | None -> scores, columns
                    | Some (v, i) -> torch.cat ([| v; scores |], 1L), torch.cat ([| i; columns |], 1L)
                let kk = int (min (int64 k) values.shape.[1])
                let v, i = selectK values candidates kk
                running <- Some (v.MoveToOuterDisposeScope(), i.MoveToOuterDisposeScope())
            let v, i = running.Value
            let d = scorer.Distances r0 rn i v
            let idx = i.cpu().data<int64>().ToArray()
            let dist = d.cpu().to_type(torch.float64).data<float>().ToArray()
            for a in 0 .. int rn - 1 do
                for b in 0 .. k - 1 do
                    indices.[int r0 + a, b] <- int idx.[a * k + b]
                    distances.[int r0 + a, b] <- dist.[a * k + b]
        indices, distances

    /// The argument checks of a k-NN graph (see <c>Exact</c>); `name` is the batch's argument name in messages.
    let private checkGraph (name: string) (batch: IEmbeddingBatch) (distance: IDistance) (k: int) (blockSize: int) =
        Validation.notNull name batch
        Validation.notNull "distance" distance
        let n = batch.Count
        if n < 2 then Validation.fail name $"{name} has {n} item(s); a k-NN graph needs N ≥ 2."
        if batch.Representation <> distance.Accepts then
            Validation.fail
                name
                $"{name} holds {batch.Representation} but distance '{distance.Name}' accepts {distance.Accepts}."
        if k < 1 || k > n - 1 then
            Validation.fail "k" $"k = {k} is invalid; it must lie in [1, N − 1] = [1, {n - 1}]."
        if blockSize < 0 then
            Validation.fail "blockSize" $"blockSize = {blockSize} is invalid; it must be ≥ 0 (0 = automatic)."

    /// The k-NN graphs of checked batches (indices, and distances unless `withDistances` is false: then null). On the
    /// CPU the Gram-form batches share one pool of workers (<c>gramCpuMany</c>); every other batch runs alone.
    let private graphsOf (batches: IEmbeddingBatch[]) (distance: IDistance) (k: int) (blockSize: int) (withDistances: bool) =
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let results = Array.zeroCreate<int[,] * float[,]> batches.Length
        let pooled = ResizeArray<int * GramProblem>()
        batches
        |> Array.iteri (fun s batch ->
            let n = batch.Count
            match gramForm distance batch with
            | Some v when onCpu v.Values -> pooled.Add((s, cpuProblem distance.Name v.Values v.Values true))
            | Some v ->
                let form = gramScorer distance.Name v.Values v.Values
                results.[s] <- runTorch form.Scorer (int64 n) (int64 n) k blockSize true
            | None ->
                let scorer = genericScorer distance batch batch
                results.[s] <-
                    if batch.Device.``type`` = DeviceType.CPU then
                        finish (directCpu scorer (int64 n) (int64 n) k blockSize true) (int64 n) k None withDistances
                    else runTorch scorer (int64 n) (int64 n) k blockSize true)
        if pooled.Count > 0 then
            let problems = pooled |> Seq.map snd |> Seq.toArray
            let tops = gramCpuMany problems k blockSize
            pooled
            |> Seq.iteri (fun t (s, p) ->
                results.[s] <- finish tops.[t] p.Queries.shape.[0] k (Some(p.Queries, p.Gallery, distance.Name)) withDistances)
        results

    /// The neighbour indices [N, k] of the exact k-NN graphs of several batches (argument name, batch) under one
    /// distance, as <c>Exact</c> computes them but without the distances, the Gram-form CPU batches in one pool of
    /// workers; each batch is checked as by <c>Exact</c>, under its own argument name.
    let internal exactIndicesOfMany (batches: (string * IEmbeddingBatch)[]) (distance: IDistance) (k: int) (blockSize: int) : int[,][] =
        NativeRuntime.EnsureInitialized()
        for name, batch in batches do
            checkGraph name batch distance k blockSize
        graphsOf (Array.map snd batches) distance k blockSize false |> Array.map fst

    /// <summary>
    /// The exact k-NN graph of a batch under a distance, self excluded, ties to the smaller index; memory-bounded.
    /// </summary>
    /// <param name="batch">N ≥ 2 items of the representation the distance accepts, on any device.</param>
    /// <param name="distance">Any distance or divergence; row i uses d(x_i, x_j).</param>
    /// <param name="k">Neighbours per item, 1 ≤ k ≤ N − 1.</param>
    /// <param name="blockSize">Rows and columns per block, ≥ 1; 0 chooses automatically: for the Gram-form distances on
    /// the CPU strips of 256 rows against panels of 512 columns from the diagonal on (measured, docs/benchmarks.md),
    /// otherwise all N columns per block (up to 2^20) and as many query rows as fit <c>BlockElements</c> = 2^22 entries.</param>
    /// <returns>The graph: N × k indices and float64 distances, nearest first.</returns>
    /// <exception cref="T:System.ArgumentException">batch is null, has fewer than 2 items or a representation the distance
    /// does not accept (names batch); k out of range (names k); blockSize &lt; 0 (names blockSize).</exception>
    [<CompiledName("Exact")>]
    let exact (batch: IEmbeddingBatch, distance: IDistance, k: int, blockSize: int) : NeighbourGraph =
        NativeRuntime.EnsureInitialized()
        checkGraph "batch" batch distance k blockSize
        let indices, distances = (graphsOf [| batch |] distance k blockSize true).[0]
        NeighbourGraph(indices, distances)

    /// <summary>
    /// The exact k nearest gallery items of each query under a distance (queries and gallery are separate batches,
    /// nothing excluded), ties to the smaller gallery index; memory-bounded, the same blocked top-k as
    /// <see cref="M:DistEmbed.Core.Similarity.NearestNeighbours.Exact"/>.
    /// </summary>
    /// <param name="queries">Q ≥ 1 queries of the representation the distance accepts; row q uses d(query q, gallery j).</param>
    /// <param name="gallery">G ≥ 1 gallery items of the same representation, dtype and device.</param>
    /// <param name="distance">Any distance or divergence.</param>
    /// <param name="k">Neighbours per query, 1 ≤ k ≤ G.</param>
    /// <param name="blockSize">Rows and columns per block, ≥ 1; 0 chooses automatically: 512 × 512 for the Gram-form distances on the CPU, otherwise as for <c>Exact</c>.</param>
    /// <returns>Q × k gallery indices and Q × k float64 distances, nearest first.</returns>
    /// <exception cref="T:System.ArgumentException">A null argument; an empty batch or a representation the distance does
    /// not accept (names queries or gallery); k out of range (names k); blockSize &lt; 0 (names blockSize).</exception>
    [<CompiledName("Search")>]
    let search (queries: IEmbeddingBatch, gallery: IEmbeddingBatch, distance: IDistance, k: int, blockSize: int) : NeighbourLists =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "queries" queries
        Validation.notNull "gallery" gallery
        Validation.notNull "distance" distance
        if queries.Count < 1 then Validation.fail "queries" "queries is empty; a search needs at least one query."
        if gallery.Count < 1 then Validation.fail "gallery" "gallery is empty; a search needs at least one gallery item."
        for name, b in [ "queries", queries; "gallery", gallery ] do
            if b.Representation <> distance.Accepts then
                Validation.fail name $"{name} holds {b.Representation} but distance '{distance.Name}' accepts {distance.Accepts}."
        if queries.DType <> gallery.DType || queries.Device.ToString() <> gallery.Device.ToString() then
            Validation.fail
                "queries"
                $"queries are {queries.DType} on {queries.Device} but the gallery is {gallery.DType} on {gallery.Device}; they must match."
        match queries, gallery with
        | (:? VectorBatch as q), (:? VectorBatch as g) when q.Dimension <> g.Dimension ->
            Validation.fail "queries" $"queries have dimension {q.Dimension} but the gallery has dimension {g.Dimension}; they must match."
        | _ -> ()
        if k < 1 || k > gallery.Count then
            Validation.fail "k" $"k = {k} is invalid; it must lie in [1, G] = [1, {gallery.Count}]."
        if blockSize < 0 then
            Validation.fail "blockSize" $"blockSize = {blockSize} is invalid; it must be ≥ 0 (0 = automatic)."
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let q64, g64 = int64 queries.Count, int64 gallery.Count
        let indices, distances =
            match gramForm distance gallery, queries with
            | Some g, (:? VectorBatch as q) ->
                if onCpu g.Values then
                    let p = cpuProblem distance.Name q.Values g.Values false
                    let top = (gramCpuMany [| p |] k blockSize).[0]
                    finish top q64 k (Some(p.Queries, p.Gallery, distance.Name)) true
                else runTorch (gramScorer distance.Name q.Values g.Values).Scorer q64 g64 k blockSize false
            | _ ->
                let scorer = genericScorer distance queries gallery
                if gallery.Device.``type`` = DeviceType.CPU then finish (directCpu scorer q64 g64 k blockSize false) q64 k None true
                else runTorch scorer q64 g64 k blockSize false
        NeighbourLists(indices, distances)
