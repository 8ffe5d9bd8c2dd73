namespace DistEmbed.Core

open System

/// <summary>
/// The retrieval metrics of one query × gallery evaluation (<see cref="M:DistEmbed.Core.RetrievalMetrics.Evaluate"/>).
/// Every rate lies in [0, 1] and is a mean over the <c>EvaluatedQueries</c> queries that have at least one relevant
/// gallery item; the other <c>QueriesWithoutRelevant</c> queries are left out of every mean.
/// </summary>
type RetrievalReport =
    { /// <summary>Precision@1: the fraction of queries whose nearest gallery item is relevant [1].</summary>
      PrecisionAt1: float
      /// <summary>R-precision: mean over queries of (relevant items among the R nearest) / R [1, §3.2].</summary>
      RPrecision: float
      /// <summary>MAP@R: mean over queries of (1/R) Σ_{i=1}^{R} P(i)·rel(i) [1, §3.2].</summary>
      MapAtR: float
      /// <summary>Mean average precision over the full ranking: mean over queries of (1/R) Σ_{i=1}^{G'} P(i)·rel(i).</summary>
      MeanAveragePrecision: float
      /// <summary>The k of each entry of <c>RecallAtK</c>, in the order given.</summary>
      Ks: int[]
      /// <summary>Recall@k for each k of <c>Ks</c>: the fraction of queries with a relevant item among the k nearest [2].</summary>
      RecallAtK: float[]
      /// <summary>Mean reciprocal rank: mean over queries of 1 / (rank of the first relevant item).</summary>
      MeanReciprocalRank: float
      /// <summary>The number of queries the means are taken over (those with at least one relevant gallery item).</summary>
      EvaluatedQueries: int
      /// <summary>The number of queries left out because no gallery item (self excluded) shares their label.</summary>
      QueriesWithoutRelevant: int }

/// <summary>
/// Retrieval metrics from a query × gallery distance matrix and integer labels, with the definitions of Musgrave,
/// Belongie and Lim [1]: precision@1, R-precision, MAP@R, plus recall@k [2], mean reciprocal rank and mean average
/// precision over the full ranking. One call computes them all, like pytorch-metric-learning's
/// <c>AccuracyCalculator</c>.
/// </summary>
/// <remarks>
/// For query q the candidates are the G gallery items, or, when <c>queryIsGallery</c> is true (the i-th query is the
/// i-th gallery item), the G − 1 items other than q itself. They are ranked by increasing distance; equal distances
/// are ranked by increasing gallery index, so every result is deterministic. rel(i) = 1 when the item at rank i has
/// the query's label, R = the number of relevant candidates, P(i) = (1/i) Σ_{j≤i} rel(j):
/// <code>
/// P@1      = rel(1)
/// R-prec   = (1/R) Σ_{i=1}^{R} rel(i)
/// MAP@R    = (1/R) Σ_{i=1}^{R} P(i)·rel(i)                 [1, §3.2]
/// AP       = (1/R) Σ_{i=1}^{G'} P(i)·rel(i)                 (all G' candidates)
/// recall@k = 1 if Σ_{i=1}^{k} rel(i) ≥ 1 else 0             [2]
/// RR       = 1 / min{ i : rel(i) = 1 }
/// </code>
/// Each reported value is the mean of the per-query value over the queries with R ≥ 1; a query with R = 0 (its label
/// occurs nowhere else in the gallery) has no defined R-precision, MAP@R, AP or reciprocal rank, so it is left out of
/// every mean (as pytorch-metric-learning leaves out "lone" queries) and counted in <c>QueriesWithoutRelevant</c>.
/// Recall@k is the usual deep-metric-learning "recall" (a hit rate, e.g. [2]), not the fraction of relevant items
/// retrieved. Without ties among a query's distances, AP equals scikit-learn's
/// <c>average_precision_score(rel, −distances)</c> for that query; with ties they differ, because scikit-learn
/// treats a tie as one threshold while this ranking breaks it by gallery index. The distances need not be a metric:
/// any finite dissimilarity (a divergence, a learned distance) works, and only their order per query matters, so
/// every metric is invariant under strictly increasing transforms of the distances.
///
/// Cost: O(Q·G·log G) time, O(G) extra memory.
///
/// References:
/// [1] K. Musgrave, S. Belongie and S.-N. Lim, A Metric Learning Reality Check, ECCV (2020), arXiv:2003.08505, §3.2.
/// [2] H. O. Song, Y. Xiang, S. Jegelka and S. Savarese, Deep Metric Learning via Lifted Structured Feature
///     Embedding, CVPR (2016), arXiv:1511.06452, §6 (Recall@K).
/// </remarks>
[<RequireQualifiedAccess>]
module RetrievalMetrics =

    /// Shared argument checks for a query × gallery matrix with labels; returns (Q, G).
    /// The report of per-query sums over the evaluated queries (their means; recall@k per k), the one place where the
    /// in-memory and streamed paths turn sums into means.
    let internal meanReport precisionAt1 rPrecision mapAtR averagePrecision (ks: int[]) (recall: float[]) reciprocalRank (evaluated: int) (q: int) : RetrievalReport =
        let n = float evaluated
        { PrecisionAt1 = precisionAt1 / n
          RPrecision = rPrecision / n
          MapAtR = mapAtR / n
          MeanAveragePrecision = averagePrecision / n
          Ks = Array.copy ks
          RecallAtK = recall |> Array.map (fun c -> c / n)
          MeanReciprocalRank = reciprocalRank / n
          EvaluatedQueries = evaluated
          QueriesWithoutRelevant = q - evaluated }

    /// With queryIsGallery, query i is gallery item i: their labels must agree (names queryLabels).
    let internal sameItemLabels (queryLabels: int64[]) (galleryLabels: int64[]) =
        for i in 0 .. queryLabels.Length - 1 do
            if queryLabels.[i] <> galleryLabels.[i] then
                Validation.fail
                    "queryLabels"
                    $"queryLabels[{i}] = {queryLabels.[i]} but galleryLabels[{i}] = {galleryLabels.[i]}; with queryIsGallery = true query i is gallery item i."

    let internal checkMatrix (distances: float[,]) (queryLabels: int64[]) (galleryLabels: int64[]) (queryIsGallery: bool) =
        Validation.notNull "distances" distances
        Validation.notNull "queryLabels" queryLabels
        Validation.notNull "galleryLabels" galleryLabels
        let q, g = Array2D.length1 distances, Array2D.length2 distances
        if q = 0 then Validation.fail "distances" $"distances has shape [{q},{g}]; at least one query (row) is required."
        if g = 0 then Validation.fail "distances" $"distances has shape [{q},{g}]; the gallery (columns) is empty."
        Validation.finite2D "distances" distances
        Validation.sameLength "queryLabels" q queryLabels.Length "the rows of distances"
        Validation.sameLength "galleryLabels" g galleryLabels.Length "the columns of distances"
        if queryIsGallery then
            if q <> g then
                Validation.fail "distances" $"distances has shape [{q},{g}]; with queryIsGallery = true it must be square."
            if g < 2 then
                Validation.fail "distances" "distances is 1 × 1; with queryIsGallery = true the gallery must have at least 2 items (self is excluded)."
            sameItemLabels queryLabels galleryLabels
        q, g

    /// The candidates of query q (self excluded when queryIsGallery), ordered by (distance, gallery index).
    let internal ranking (distances: float[,]) (queryIsGallery: bool) (q: int) =
        let g = Array2D.length2 distances
        let candidates = [| for j in 0 .. g - 1 do if not (queryIsGallery && j = q) then j |]
        Array.Sort(candidates, Comparison(fun a b ->
            let c = compare distances.[q, a] distances.[q, b]
            if c <> 0 then c else compare a b))
        candidates

    /// <summary>
    /// Computes precision@1, R-precision, MAP@R, mean average precision, recall@k and mean reciprocal rank of a
    /// query × gallery distance matrix.
    /// </summary>
    /// <remarks>See the module remarks for the definitions, the tie rule and the handling of queries without a
    /// relevant gallery item.</remarks>
    /// <param name="distances">[Q, G] distances, entry (q, j) = D(query q, gallery item j); finite.</param>
    /// <param name="queryLabels">[Q] labels of the queries.</param>
    /// <param name="galleryLabels">[G] labels of the gallery items.</param>
    /// <param name="queryIsGallery">True when the queries are the gallery (Q = G, query i is gallery item i, same
    /// labels): the self-match (i, i) is then excluded from every ranking.</param>
    /// <param name="ks">The k of each recall@k (each 1 ≤ k ≤ number of candidates: G, or G − 1 when
    /// <paramref name="queryIsGallery"/>); may be empty.</param>
    /// <returns>The report; <c>RecallAtK</c> has one entry per element of <paramref name="ks"/>.</returns>
    /// <exception cref="T:System.ArgumentException">An empty or non-finite matrix, label arrays whose lengths do not
    /// match it, a non-square matrix or differing labels with <paramref name="queryIsGallery"/>, a k out of range, or
    /// no query with a relevant gallery item.</exception>
    [<CompiledName("Evaluate")>]
    let evaluate (distances: float[,], queryLabels: int64[], galleryLabels: int64[], queryIsGallery: bool, ks: int[]) =
        let q, g = checkMatrix distances queryLabels galleryLabels queryIsGallery
        Validation.notNull "ks" ks
        let candidates = if queryIsGallery then g - 1 else g
        for i in 0 .. ks.Length - 1 do
            if ks.[i] < 1 || ks.[i] > candidates then
                Validation.fail "ks" $"ks[{i}] = {ks.[i]} is invalid; each k must satisfy 1 ≤ k ≤ {candidates} (the number of candidates per query)."
        let mutable evaluated = 0
        let mutable precisionAt1 = 0.0
        let mutable rPrecision = 0.0
        let mutable mapAtR = 0.0
        let mutable averagePrecision = 0.0
        let mutable reciprocalRank = 0.0
        let recall = Array.zeroCreate ks.Length
        for query in 0 .. q - 1 do
            let order = ranking distances queryIsGallery query
            let label = queryLabels.[query]
            let r = order |> Array.sumBy (fun j -> if galleryLabels.[j] = label then 1 else 0)
            if r > 0 then
                evaluated <- evaluated + 1
                let mutable hits = 0
                let mutable first = 0
                let mutable sumAtR = 0.0
                let mutable sumAll = 0.0
                for i in 1 .. order.Length do
                    if galleryLabels.[order.[i - 1]] = label then
                        hits <- hits + 1
                        if first = 0 then first <- i
                        let precision = float hits / float i
                        sumAll <- sumAll + precision
                        if i <= r then sumAtR <- sumAtR + precision
                    if i = r then rPrecision <- rPrecision + float hits / float r
                if galleryLabels.[order.[0]] = label then precisionAt1 <- precisionAt1 + 1.0
                mapAtR <- mapAtR + sumAtR / float r
                averagePrecision <- averagePrecision + sumAll / float r
                reciprocalRank <- reciprocalRank + 1.0 / float first
                for m in 0 .. ks.Length - 1 do
                    if first <= ks.[m] then recall.[m] <- recall.[m] + 1.0
        if evaluated = 0 then
            Validation.fail
                "galleryLabels"
                "galleryLabels holds no item relevant to any query (a gallery item other than the query itself with its label); the retrieval metrics are undefined."
        meanReport precisionAt1 rPrecision mapAtR averagePrecision ks recall reciprocalRank evaluated q
