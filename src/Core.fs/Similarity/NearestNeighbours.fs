namespace DistEmbed.Core.Similarity

open System
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.DistanceKernels

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
        Validation.notNull "indices" indices
        Validation.notNull "distances" distances
        let n, k = Array2D.length1 indices, Array2D.length2 indices
        if Array2D.length1 distances <> n || Array2D.length2 distances <> k then
            Validation.fail
                "distances"
                $"distances has shape [{Array2D.length1 distances},{Array2D.length2 distances}] but indices has shape [{n},{k}]; they must match."
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
        Validation.notNull "indices" indices
        Validation.notNull "distances" distances
        let q, k = Array2D.length1 indices, Array2D.length2 indices
        if Array2D.length1 distances <> q || Array2D.length2 distances <> k then
            Validation.fail
                "distances"
                $"distances has shape [{Array2D.length1 distances},{Array2D.length2 distances}] but indices has shape [{q},{k}]; they must match."
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
/// determined by the computed distances, whatever the block size or device. Selection per block: the k-th smallest
/// value t per row by <c>topk</c>; if more than k entries of a row are ≤ t the row's entries equal to t are ranked
/// by position with a cumulative sum (positions are in index order among equal values, by construction of the
/// running merge), then the k chosen are stably sorted by value.
///
/// Distances built by <c>Distances</c> named <c>euclidean</c>, <c>sqeuclidean</c> and <c>cosine</c> rank by one
/// matrix product per block on centred (or normalised) vectors, ‖x_j‖² − 2⟨x_i, x_j⟩ or −⟨u_i, u_j⟩ (the Gram form,
/// the order of ‖x_i − x_j‖ for fixed i); the reported distances of the chosen neighbours are then recomputed from
/// the differences. The Gram form rounds differently from the direct form, so two candidates whose distances
/// differ by a few units in the last place may be ordered differently from the direct computation. Every other
/// distance ranks by its own <c>Pairwise</c> on blocks of items (<c>Select</c>). A distance must be a fixed function
/// for the graph to be exact, as every distance of the catalog is (<c>sliced-w2</c> and <c>max-sliced-w2</c> draw
/// their directions once per instance).
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

    /// Gram-form scorer of query rows against gallery columns (the same tensor for a k-NN graph). Euclidean forms
    /// centre both sides by the gallery mean (distances are translation invariant; centring reduces cancellation).
    let private gramScorer (name: string) (queries: Tensor) (gallery: Tensor) : Scorer =
        let same = Object.ReferenceEquals(queries, gallery)
        if name = "cosine" then
            let floor = if gallery.dtype = torch.float64 then 1e-300 else 1e-30
            let unit (values: Tensor) =
                let norm = safeSqrt (values.pow(sc 2.0).sum (1L, keepdim = true))
                values.div (norm.clamp_min (sc floor))
            let ug = unit gallery
            let uq = if same then ug else unit queries
            { Scores = fun r0 rn c0 cn -> uq.narrow(0L, r0, rn).mm(ug.narrow(0L, c0, cn).t ()).neg ()
              Distances =
                fun r0 rn idx _ ->
                    let rows = uq.narrow(0L, r0, rn).unsqueeze 1L
                    let others = ug.index_select(0L, idx.flatten ()).reshape ([| rn; idx.shape.[1]; ug.shape.[1] |])
                    rows.mul(others).sum(2L).neg().add(sc 1.0).clamp (sc 0.0, sc 2.0) }
        else
            let mean = gallery.mean ([| 0L |], keepdim = true)
            let xc = gallery.sub mean
            let qc = if same then xc else queries.sub mean
            let sq = xc.pow(sc 2.0).sum (1L)
            { Scores =
                fun r0 rn c0 cn ->
                    torch.addmm (sq.narrow(0L, c0, cn).unsqueeze 0L, qc.narrow (0L, r0, rn), xc.narrow(0L, c0, cn).t (), 1.0f, -2.0f)
              Distances =
                fun r0 rn idx _ ->
                    let rows = qc.narrow(0L, r0, rn).unsqueeze 1L
                    let others = xc.index_select(0L, idx.flatten ()).reshape ([| rn; idx.shape.[1]; xc.shape.[1] |])
                    let squared = rows.sub(others).pow(sc 2.0).sum (2L)
                    if name = "sqeuclidean" then squared else safeSqrt squared }

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

    /// The blocked top-k of q64 query rows against g64 gallery columns (self excluded on the diagonal when asked):
    /// indices [Q, k] and float64 distances [Q, k], ordered by (distance, index). Runs in the caller's scopes.
    let private run (scorer: Scorer) (q64: int64) (g64: int64) (k: int) (blockSize: int) (excludeSelf: bool) : int[,] * float[,] =
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
    /// <param name="blockSize">Rows and columns per block, ≥ 1; 0 chooses automatically: all N columns per block
    /// (up to 2^20) and as many query rows as fit <c>BlockElements</c> = 2^22 entries.</param>
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
        let scorer =
            match gramForm distance batch with
            | Some v -> gramScorer distance.Name v.Values v.Values
            | None -> genericScorer distance batch batch
        let indices, distances = run scorer (int64 n) (int64 n) k blockSize true
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
        let scorer =
            match gramForm distance gallery, queries with
            | Some g, (:? VectorBatch as q) -> gramScorer distance.Name q.Values g.Values
            | _ -> genericScorer distance queries gallery
        let indices, distances = run scorer (int64 queries.Count) (int64 gallery.Count) k blockSize false
        NeighbourLists(indices, distances)
