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

    /// The address of a contiguous CPU tensor's first element (LibTorchSharp's <c>THSTensor_data</c>, which TorchSharp's
    /// own accessors use); valid while the tensor lives.
    [<DllImport("LibTorchSharp")>]
    extern nativeint private THSTensor_data(nativeint handle)

    let private address (t: Tensor) : nativeint =
        let p = THSTensor_data t.Handle
        if p = 0n then torch.CheckForErrors()
        p

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

    /// Row side of a Gram block: candidates j ∈ [c0, c0 + cn) of row r with score (s_r + s_j) − 2·ip[j] (s: squared
    /// norms, 0 for cosine), skipping column `skip`. A vector of W scores all above the row's threshold is rejected
    /// at once; the others are offered one by one (the same lane values, so both sides of a pair agree exactly).
    let inline private gramRow
        (ip: nativeptr<'T>) (sqCols: nativeptr<'T>) (sqRow: 'T) (two: 'T) (cn: int) (c0: int) (skip: int)
        (top: RunningTopK) (r: int) (toFloat: 'T -> float) (ofFloat: float -> 'T) =
        let w = Vector<'T>.Count
        let mutable thr = ofFloat (top.Threshold r)
        let vsq = Vector<'T>(sqRow)
        let vtwo = Vector<'T>(two)
        let mutable j = 0
        while j + w <= cn do
            let d = (vsq + Vector.Load(NativePtr.add sqCols j)) - Vector.Load(NativePtr.add ip j) * vtwo
            if not (Vector.GreaterThanAll(d, Vector<'T>(thr))) then
                for t in 0 .. w - 1 do
                    let v = d.[t]
                    if not (v > thr) && c0 + j + t <> skip then
                        thr <- ofFloat (top.Offer(r, toFloat v, c0 + j + t))
            j <- j + w
        while j < cn do
            let v = (sqRow + NativePtr.get sqCols j) - NativePtr.get ip j * two
            if not (v > thr) && c0 + j <> skip then
                thr <- ofFloat (top.Offer(r, toFloat v, c0 + j))
            j <- j + 1

    /// Column side of a Gram block (the symmetric half): for the block's columns [ja, jb) (rows c0 + j of the graph),
    /// the candidates r0 + i of every block row i, with the very scores of the row side. thr caches the columns'
    /// thresholds (entries [ja, jb) belong to this call).
    let inline private gramColumns
        (block: nativeptr<'T>) (cn: int) (rn: int) (sqRows: nativeptr<'T>) (sqCols: nativeptr<'T>) (two: 'T)
        (r0: int) (c0: int) (ja: int) (jb: int) (thr: 'T[]) (top: RunningTopK) (toFloat: 'T -> float) (ofFloat: float -> 'T) =
        let w = Vector<'T>.Count
        for j in ja .. jb - 1 do
            thr.[j] <- ofFloat (top.Threshold(c0 + j))
        let vtwo = Vector<'T>(two)
        for i in 0 .. rn - 1 do
            let row = NativePtr.add block (i * cn)
            let sqi = NativePtr.get sqRows i
            let vsq = Vector<'T>(sqi)
            let mutable j = ja
            while j + w <= jb do
                let d = (vsq + Vector.Load(NativePtr.add sqCols j)) - Vector.Load(NativePtr.add row j) * vtwo
                if not (Vector.GreaterThanAll(d, Vector<'T>(thr, j))) then
                    for t in 0 .. w - 1 do
                        let v = d.[t]
                        if not (v > thr.[j + t]) then
                            thr.[j + t] <- ofFloat (top.Offer(c0 + j + t, toFloat v, r0 + i))
                j <- j + w
            while j < jb do
                let v = (sqi + NativePtr.get sqCols j) - NativePtr.get row j * two
                if not (v > thr.[j]) then
                    thr.[j] <- ofFloat (top.Offer(c0 + j, toFloat v, r0 + i))
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
                for t in 0 .. w - 1 do
                    let v = d.[t]
                    if not (v > thr) && c0 + j + t <> skip then
                        thr <- ofFloat (top.Offer(r, toFloat v, c0 + j + t))
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
    /// docs/benchmarks.md "Exact k-NN against faiss").
    let private cpuBlock (rows: int64) (columns: int64) (blockSize: int) =
        if blockSize > 0 then int64 blockSize, int64 blockSize
        else min rows 512L, min columns 512L

    /// The fused selection of one Gram block [rn, cn] of inner products at address b (rows r0.., columns c0..): the row
    /// side for every row, the column side for columns ≥ ja. Compiled fully optimised at once (no tiering), since a
    /// search calls it only a few times.
    [<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
    let private selectGram32
        (b: nativeint) (rn: int) (cn: int) (r0: int) (c0: int) (ja: int) (sqQ: nativeint) (sqX: nativeint) (skipSelf: bool)
        (thr: float32[]) (top: RunningTopK) =
        let block = NativePtr.ofNativeInt<float32> b
        let sqRows = NativePtr.ofNativeInt<float32> sqQ
        let sqCols = NativePtr.add (NativePtr.ofNativeInt<float32> sqX) c0
        for i in 0 .. rn - 1 do
            let r = r0 + i
            gramRow (NativePtr.add block (i * cn)) sqCols (NativePtr.get sqRows r) 2.0f cn c0 (if skipSelf then r else -1) top r float float32
        if ja < cn then
            gramColumns block cn rn (NativePtr.add sqRows r0) sqCols 2.0f r0 c0 ja cn thr top float float32

    /// <c>selectGram32</c> for float64 blocks.
    [<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
    let private selectGram64
        (b: nativeint) (rn: int) (cn: int) (r0: int) (c0: int) (ja: int) (sqQ: nativeint) (sqX: nativeint) (skipSelf: bool)
        (thr: float[]) (top: RunningTopK) =
        let block = NativePtr.ofNativeInt<float> b
        let sqRows = NativePtr.ofNativeInt<float> sqQ
        let sqCols = NativePtr.add (NativePtr.ofNativeInt<float> sqX) c0
        for i in 0 .. rn - 1 do
            let r = r0 + i
            gramRow (NativePtr.add block (i * cn)) sqCols (NativePtr.get sqRows r) 2.0 cn c0 (if skipSelf then r else -1) top r id id
        if ja < cn then
            gramColumns block cn rn (NativePtr.add sqRows r0) sqCols 2.0 r0 c0 ja cn thr top id id

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

    /// One Gram-form pass on the CPU (float32 or float64): blocks of query rows against panels of gallery columns,
    /// one matrix product per block into a reused buffer, then the fused selection. The product: float32 blocks by
    /// the managed AVX-512 / AVX2 GEMM (<c>ManagedGemm</c>, selectable by DISTEMBED_GEMM), float64 blocks (and
    /// float32 ones where no managed kernel runs, or DISTEMBED_GEMM = torch) by libtorch's addmm_ with β = 0. When
    /// `symmetric` (queries = gallery, self excluded) only the blocks on and above the diagonal are multiplied and
    /// each score of an off-diagonal block serves both its row and its column. With T = torch.get_num_threads() > 1
    /// the blocks are shared out among T workers, each with its own buffer and running top-k, multiplying its blocks
    /// on one BLAS thread (the torch thread count is 1 meanwhile and restored afterwards); the T running top-k are then
    /// merged. Every candidate pair is scored in exactly one block, so the result does not depend on the schedule.
    let private gramCpu
        (qc: Tensor) (xc: Tensor) (sqQ: Tensor) (sqX: Tensor) (symmetric: bool) (skipSelf: bool) (k: int) (blockSize: int) : RunningTopK =
        let q64 = qc.shape.[0]
        let g64 = xc.shape.[0]
        let rowsPerBlock, columnsPerBlock = cpuBlock q64 g64 blockSize
        let tasks = ResizeArray<struct (int64 * int64)>()
        for r0 in 0L .. rowsPerBlock .. q64 - 1L do
            for c0 in (if symmetric then r0 else 0L) .. columnsPerBlock .. g64 - 1L do
                tasks.Add(struct (r0, c0))
        let workers = max 1 (min (torch.get_num_threads ()) tasks.Count)
        let tops = Array.init workers (fun _ -> RunningTopK(int q64, k))
        let isDouble = xc.dtype = torch.float64
        let sqQAddress = address sqQ
        let sqXAddress = address sqX
        // float32 blocks go through the managed GEMM where the CPU has a kernel for it (read once, on the caller's
        // flow, so a path forced by a test holds for every worker).
        let gemm = if isDouble then ManagedGemm.Torch else ManagedGemm.current ()
        let next = ref -1
        let work (w: int) =
            let top = tops.[w]
            use buffer = torch.empty ([| rowsPerBlock * columnsPerBlock |], dtype = xc.dtype)
            use workspace = gemmWorkspace gemm
            let thr32 = if isDouble then [||] else Array.zeroCreate<float32> (int columnsPerBlock)
            let thr64 = if isDouble then Array.zeroCreate<float> (int columnsPerBlock) else [||]
            let mutable t = Threading.Interlocked.Increment &next.contents
            while t < tasks.Count do
                use blockScope = torch.NewDisposeScope()
                let struct (r0, c0) = tasks.[t]
                let rn = min rowsPerBlock (q64 - r0)
                let cn = min columnsPerBlock (g64 - c0)
                let block = buffer.narrow(0L, 0L, rn * cn).view (rn, cn)
                multiplyBlock gemm workspace qc xc r0 rn c0 cn block
                let b = address block
                // Column side: the block's columns at or beyond the end of the row block (symmetric only).
                let ja = if symmetric then int (max 0L (r0 + rn - c0)) else int cn
                if isDouble then selectGram64 b (int rn) (int cn) (int r0) (int c0) ja sqQAddress sqXAddress skipSelf thr64 top
                else selectGram32 b (int rn) (int cn) (int r0) (int c0) ja sqQAddress sqXAddress skipSelf thr32 top
                t <- Threading.Interlocked.Increment &next.contents
        if workers = 1 then work 0
        else
            let saved = torch.get_num_threads ()
            torch.set_num_threads 1
            try
                Parallel.For(0, workers, ParallelOptions(MaxDegreeOfParallelism = workers), (fun w -> work w)) |> ignore
            finally
                torch.set_num_threads saved
        let top = tops.[0]
        for w in 1 .. workers - 1 do
            let other = tops.[w]
            for r in 0 .. int q64 - 1 do
                for s in 0 .. k - 1 do
                    let j = other.Indices.[r * k + s]
                    if j >= 0 then top.Offer(r, other.Values.[r * k + s], j) |> ignore
        top

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

    /// The reported distance of query row r to gallery row j on the CPU, from the rows of the Gram form (centred, or
    /// unit for cosine) with float64 accumulation: Σ_c (q_rc − x_jc)², its square root, or 1 − ⟨u_r, u_j⟩ clamped to [0, 2].
    let inline private rowDistance (q: nativeptr<'T>) (x: nativeptr<'T>) (d: int) (cosine: bool) (root: bool) (toFloat: 'T -> float) =
        let mutable acc = 0.0
        if cosine then
            for c in 0 .. d - 1 do
                acc <- acc + toFloat (NativePtr.get q c) * toFloat (NativePtr.get x c)
            min 2.0 (max 0.0 (1.0 - acc))
        else
            for c in 0 .. d - 1 do
                let e = toFloat (NativePtr.get q c) - toFloat (NativePtr.get x c)
                acc <- acc + e * e
            if root then sqrt acc else acc

    /// Copies a running top-k into the result arrays: Gram distances are recomputed from the rows (no temporaries),
    /// direct ones are the selected scores.
    let private finish (top: RunningTopK) (q64: int64) (k: int) (form: (GramForm * string) option) =
        let indices = Array2D.zeroCreate<int> (int q64) k
        let distances = Array2D.zeroCreate<float> (int q64) k
        let chosen = top.Indices
        for r in 0 .. int q64 - 1 do
            for b in 0 .. k - 1 do
                indices.[r, b] <- chosen.[r * k + b]
        match form with
        | None ->
            let values = top.Values
            for r in 0 .. int q64 - 1 do
                for b in 0 .. k - 1 do
                    distances.[r, b] <- values.[r * k + b]
        | Some (form, name) ->
            let d = int form.Gallery.shape.[1]
            let cosine = name = "cosine"
            let root = name = "euclidean"
            let qa = address form.Queries
            let xa = address form.Gallery
            let isDouble = form.Gallery.dtype = torch.float64
            let rows = int q64
            let threads = max 1 (torch.get_num_threads ())
            let per = 256
            forTasks threads ((rows + per - 1) / per) (fun t ->
                for r in t * per .. min rows ((t + 1) * per) - 1 do
                    for b in 0 .. k - 1 do
                        let j = chosen.[r * k + b]
                        distances.[r, b] <-
                            if isDouble then
                                rowDistance (NativePtr.add (NativePtr.ofNativeInt<float> qa) (r * d))
                                    (NativePtr.add (NativePtr.ofNativeInt<float> xa) (j * d)) d cosine root id
                            else
                                rowDistance (NativePtr.add (NativePtr.ofNativeInt<float32> qa) (r * d))
                                    (NativePtr.add (NativePtr.ofNativeInt<float32> xa) (j * d)) d cosine root float)
        indices, distances

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

    /// <summary>
    /// The exact k-NN graph of a batch under a distance, self excluded, ties to the smaller index; memory-bounded.
    /// </summary>
    /// <param name="batch">N ≥ 2 items of the representation the distance accepts, on any device.</param>
    /// <param name="distance">Any distance or divergence; row i uses d(x_i, x_j).</param>
    /// <param name="k">Neighbours per item, 1 ≤ k ≤ N − 1.</param>
    /// <param name="blockSize">Rows and columns per block, ≥ 1; 0 chooses automatically: 512 × 512 for the Gram-form
    /// distances on the CPU (measured best, docs/benchmarks.md), otherwise all N columns per block (up to 2^20) and as
    /// many query rows as fit <c>BlockElements</c> = 2^22 entries.</param>
    /// <returns>The graph: N × k indices and float64 distances, nearest first.</returns>
    /// <exception cref="T:System.ArgumentException">batch is null, has fewer than 2 items or a representation the distance
    /// does not accept (names batch); k out of range (names k); blockSize &lt; 0 (names blockSize).</exception>
    [<CompiledName("Exact")>]
    let exact (batch: IEmbeddingBatch, distance: IDistance, k: int, blockSize: int) : NeighbourGraph =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "batch" batch
        Validation.notNull "distance" distance
        let n = batch.Count
        if n < 2 then Validation.fail "batch" $"batch has {n} item(s); a k-NN graph needs N ≥ 2."
        if batch.Representation <> distance.Accepts then
            Validation.fail
                "batch"
                $"batch holds {batch.Representation} but distance '{distance.Name}' accepts {distance.Accepts}."
        if k < 1 || k > n - 1 then
            Validation.fail "k" $"k = {k} is invalid; it must lie in [1, N − 1] = [1, {n - 1}]."
        if blockSize < 0 then
            Validation.fail "blockSize" $"blockSize = {blockSize} is invalid; it must be ≥ 0 (0 = automatic)."
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let indices, distances =
            match gramForm distance batch with
            | Some v ->
                let form = gramScorer distance.Name v.Values v.Values
                if onCpu v.Values then
                    let top = gramCpu form.Queries form.Gallery form.QueryNorms form.GalleryNorms true true k blockSize
                    finish top (int64 n) k (Some(form, distance.Name))
                else runTorch form.Scorer (int64 n) (int64 n) k blockSize true
            | None ->
                let scorer = genericScorer distance batch batch
                if batch.Device.``type`` = DeviceType.CPU then finish (directCpu scorer (int64 n) (int64 n) k blockSize true) (int64 n) k None
                else runTorch scorer (int64 n) (int64 n) k blockSize true
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
    /// <param name="blockSize">Rows and columns per block, ≥ 1; 0 chooses automatically as for <c>Exact</c>.</param>
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
                let form = gramScorer distance.Name q.Values g.Values
                if onCpu g.Values then
                    let top = gramCpu form.Queries form.Gallery form.QueryNorms form.GalleryNorms false false k blockSize
                    finish top q64 k (Some(form, distance.Name))
                else runTorch form.Scorer q64 g64 k blockSize false
            | _ ->
                let scorer = genericScorer distance queries gallery
                if gallery.Device.``type`` = DeviceType.CPU then finish (directCpu scorer q64 g64 k blockSize false) q64 k None
                else runTorch scorer q64 g64 k blockSize false
        NeighbourLists(indices, distances)
