namespace DistEmbed.Core

open System
open System.Collections.Generic
open System.Threading.Tasks
open TorchSharp

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
/// band's rows; any other distance computes <c>Pairwise</c> of the band's rows), and every metric is read off the ranks of the relevant items alone. With the candidates of query
/// q ranked by (distance, gallery index) as in <c>RetrievalMetrics</c>, the m-th relevant item (m = 1 … R) has rank
/// <code>
/// rank_m = m + #{ non-relevant candidates c : (d_c, c) &lt; (d_(m), j_(m)) }
/// </code>
/// The band's values are copied once to a managed array and its rows are ranked in parallel (one task per row, at most
/// <c>torch.get_num_threads()</c> at once): the R relevant items of the query (the gallery items with its label, self
/// excluded) are sorted by (distance, gallery index), and one pass over the row places each gallery item c with
/// (d_c, c) ≤ (d_(R), j_(R)) in bucket #{m : (d_(m), j_(m)) &lt; (d_c, c)} by binary search, a histogram of R bins whose
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
/// (the distance's block temporaries and one managed copy of the band), O(Q + G) labels and O(rows × R) per band. Time:
/// that of computing all Q × G distances, plus O(Q·G·log R) comparisons on the CPU.
/// </remarks>
[<RequireQualifiedAccess>]
module StreamedRetrieval =

    type private Tensor = torch.Tensor

    /// <summary>The default number of distances in one band of query rows (2^21: 8 MiB in float32).</summary>
    [<Literal>]
    let DefaultBandElements = 2097152L

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

    /// The ranks of the r relevant items of one query among its candidates, from the query's row of G distances
    /// (values[offset .. offset + G − 1]); members are the gallery items with the query's label (ascending), self is
    /// the query's own gallery index (−1 when the queries are not the gallery), r the number of members other than self.
    /// The relevant items are sorted by (distance, index); one pass over the row places every gallery item c with
    /// (d_c, c) ≤ (d_(r), j_(r)) in bucket b = #{m : (d_(m), j_(m)) &lt; (d_c, c)} (a binary search; items after the
    /// r-th relevant one are not needed). The pass counts the relevant items too (the m-th in bucket m − 1) and self:
    /// both are taken out afterwards, leaving the non-relevant candidates that precede each relevant item.
    let inline private rankRowOf (values: 'T[]) (offset: int) (g: int) (members: int[]) (self: int) (r: int) : RowRanks =
        let sorted = Array.zeroCreate<'T> r
        let index = Array.zeroCreate<int> r
        let mutable k = 0
        for j in members do
            if j <> self then
                sorted.[k] <- values.[offset + j]
                index.[k] <- j
                k <- k + 1
        Array.Sort(sorted, index)
        // Equal distances are ordered by gallery index (the tie rule of RetrievalMetrics).
        let mutable s = 0
        while s < r do
            let mutable e = s + 1
            while e < r && sorted.[e] = sorted.[s] do
                e <- e + 1
            if e - s > 1 then Array.Sort(index, s, e - s)
            s <- e
        let lastValue = sorted.[r - 1]
        let lastIndex = index.[r - 1]
        let histogram = Array.zeroCreate<int64> r
        // The bucket of (v, j) ≤ (d_(r), j_(r)): the number of relevant items before it, in 0 .. r − 1.
        let inline bucket (v: 'T) (j: int) =
            let mutable lo = 0
            let mutable hi = r - 1
            while lo < hi do
                let mid = (lo + hi) >>> 1
                let m = sorted.[mid]
                if m < v || (m = v && index.[mid] < j) then lo <- mid + 1 else hi <- mid
            lo
        for j in 0 .. g - 1 do
            let v = values.[offset + j]
            if v < lastValue || (v = lastValue && j <= lastIndex) then
                let b = bucket v j
                histogram.[b] <- histogram.[b] + 1L
        for m in 0 .. r - 1 do
            histogram.[m] <- histogram.[m] - 1L
        if self >= 0 then
            let v = values.[offset + self]
            if v < lastValue || (v = lastValue && self < lastIndex) then
                let b = bucket v self
                histogram.[b] <- histogram.[b] - 1L
        // rank_m = m + #{non-relevant candidates before the m-th relevant item}.
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

    let private rankRow32 (values: float32[]) offset g members self r = rankRowOf values offset g members self r
    let private rankRow64 (values: float[]) offset g members self r = rankRowOf values offset g members self r

    /// The relevant counts R per query (self excluded when the queries are the gallery).
    let private relevantCounts (queryLabels: int64[]) (galleryLabels: int64[]) (queryIsGallery: bool) =
        let counts = Dictionary<int64, int>()
        for l in galleryLabels do
            counts.[l] <- (match counts.TryGetValue l with | true, c -> c + 1 | _ -> 1)
        queryLabels
        |> Array.map (fun l ->
            let c = match counts.TryGetValue l with | true, c -> c | _ -> 0
            if queryIsGallery then c - 1 else c)

    /// <summary>
    /// Computes the retrieval report of queries against a gallery under a distance, one band of query rows at a time.
    /// </summary>
    /// <param name="distance">Any distance or divergence; entry (q, j) = D(query q, gallery j).</param>
    /// <param name="queries">Q ≥ 1 queries of the representation the distance accepts.</param>
    /// <param name="gallery">G ≥ 1 gallery items (the same batch as <paramref name="queries"/> when
    /// <paramref name="queryIsGallery"/>).</param>
    /// <param name="queryLabels">[Q] labels of the queries.</param>
    /// <param name="galleryLabels">[G] labels of the gallery items.</param>
    /// <param name="queryIsGallery">True when query i is gallery item i (leave-one-out): self-matches are excluded.</param>
    /// <param name="ks">The k of each recall@k (1 ≤ k ≤ number of candidates); may be empty.</param>
    /// <param name="bandElements">Distances per band (query rows × G), ≥ 1; 0 for <c>DefaultBandElements</c>. A band
    /// holds at least one query row.</param>
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
        let budget = if bandElements = 0L then DefaultBandElements else bandElements
        // A band's values are copied to one managed array: at most 2^30 of them.
        let rowsPerBand = min (rowsPerBand budget g q) (max 1L ((1L <<< 30) / int64 g))
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let members = membersByLabel galleryLabels
        let parallelism = ParallelOptions(MaxDegreeOfParallelism = max 1 (torch.get_num_threads ()))
        // One managed buffer for the band's values, reused by every band (its size is that of the first band).
        let mutable values32 : float32[] = null
        let mutable values64 : float[] = null
        let buffer32 length =
            if isNull values32 || values32.Length < length then values32 <- Array.zeroCreate length
            values32
        let buffer64 length =
            if isNull values64 || values64.Length < length then values64 <- Array.zeroCreate length
            values64
        let distancesOf = bandSource distance queries gallery
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
            let rb = Array.max bandR
            if rb > 0 then
                let d = distancesOf r0 rn
                // One reduction detects a non-finite entry (a finite sum can only overflow when entries are huge; the
                // exact check then decides).
                if not (d.sum().isfinite().item<bool> ()) then
                    let finite = d.isfinite ()
                    if not (finite.all().item<bool> ()) then
                        let at = finite.logical_not().nonzero ()
                        let i, j = at.[0L, 0L].item<int64> (), at.[0L, 1L].item<int64> ()
                        let value = d.[i, j].to_type(torch.float64).item<float> ()
                        Validation.fail
                            "distance"
                            $"distance '{distance.Name}' between query {r0 + i} and gallery item {j} is {value}; the retrieval metrics need finite distances (check the embeddings for NaN or ∞)."
                // The band's rows as managed values of the band's precision (float32 stays float32; any other type is
                // widened to float64, exactly), read once by the ranking pass below.
                let rowResults = Array.zeroCreate<RowRanks> (int rn)
                let queryRow a = if queryIsGallery then int r0 + a else -1
                let membersOf a = match members.TryGetValue queryLabels.[int r0 + a] with | true, m -> m | _ -> Array.empty
                let dc = d.cpu ()
                if dc.dtype = torch.float32 then
                    let dc = dc.contiguous ()
                    let buffer = buffer32 (int rn * g)
                    dc.data<float32>().CopyTo(Span<float32>(buffer, 0, int rn * g), 0, 0L)
                    Parallel.For(0, int rn, parallelism, Action<int>(fun a ->
                        if bandR.[a] > 0 then rowResults.[a] <- rankRow32 buffer (a * g) g (membersOf a) (queryRow a) bandR.[a])) |> ignore
                else
                    let dc = dc.to_type(torch.float64).contiguous ()
                    let buffer = buffer64 (int rn * g)
                    dc.data<float>().CopyTo(Span<float>(buffer, 0, int rn * g), 0, 0L)
                    Parallel.For(0, int rn, parallelism, Action<int>(fun a ->
                        if bandR.[a] > 0 then rowResults.[a] <- rankRow64 buffer (a * g) g (membersOf a) (queryRow a) bandR.[a])) |> ignore
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
