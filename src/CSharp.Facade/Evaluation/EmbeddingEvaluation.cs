using System.Globalization;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Evaluation;

/// <summary>Options of <see cref="EmbeddingEvaluation"/>.</summary>
public sealed record EvaluationOptions
{
    /// <summary>The distance, a name of <see cref="Catalog.DistanceNames"/> that accepts the embeddings' representation. Default euclidean.</summary>
    public string Distance { get; init; } = "euclidean";

    /// <summary>The distance's settings (seed of sliced directions, Sinkhorn ε, …); null for the catalog's defaults.</summary>
    public DistanceSettings? DistanceSettings { get; init; }

    /// <summary>The k of recall@k when <see cref="RecallAtK"/> is null: 1, 5 and 10 (those ≤ N − 1 are kept).</summary>
    public static IReadOnlyList<int> DefaultRecallAtK { get; } = [1, 5, 10];

    /// <summary>The k of each recall@k; null (the default) means <see cref="DefaultRecallAtK"/>, keeping those ≤ N − 1. Given values must lie in [1, N − 1].</summary>
    public int[]? RecallAtK { get; init; }

    /// <summary>k-means restarts of the NMI (≥ 1). Default 10.</summary>
    public int KMeansRestarts { get; init; } = 10;

    /// <summary>The seed of the k-means of the NMI. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>The device of the distance computation: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N. Default <see cref="Devices.Default"/> (auto).</summary>
    public string Device { get; init; } = Devices.Default;

    /// <summary>
    /// For <see cref="EmbeddingEvaluation.EvaluateRetrieval(EmbeddingBatch, long[], Distance, EvaluationOptions?)"/>: the
    /// distances held at once (one band of query rows × all N items), ≥ 0; 0 (the default) means
    /// <c>StreamedRetrieval.DefaultBandElements</c> = 2^21, or <c>StreamedRetrieval.FusedBandElements</c> = 2^26 for
    /// the distances that take the fused path (euclidean, sqeuclidean, quantile-w2, and marginal-w2 and sliced-w2 on
    /// equal-length uniform point sets, on the CPU), whose band is one matrix product.
    /// </summary>
    public long BandElements { get; init; }
}

/// <summary>The retrieval metrics of one labelled set computed in bounded memory (leave-one-out: every item queries all
/// the others), by <see cref="EmbeddingEvaluation.EvaluateRetrieval(EmbeddingBatch, long[], Distance, EvaluationOptions?)"/>.</summary>
/// <param name="Count">The number of embeddings N.</param>
/// <param name="Classes">The number of distinct labels.</param>
/// <param name="Distance">The distance name.</param>
/// <param name="PrecisionAt1">Precision@1 (Musgrave et al. 2020, §3.2).</param>
/// <param name="RPrecision">R-precision (Musgrave et al. 2020, §3.2).</param>
/// <param name="MapAtR">MAP@R (Musgrave et al. 2020, §3.2).</param>
/// <param name="MeanAveragePrecision">Mean average precision over the full ranking.</param>
/// <param name="RecallAtK">Recall@k (hit rate) per k.</param>
/// <param name="MeanReciprocalRank">Mean reciprocal rank of the first relevant item.</param>
/// <param name="EvaluatedQueries">Queries the means are over (those whose class has another item).</param>
/// <param name="QueriesWithoutRelevant">Queries left out because no other item shares their label.</param>
public sealed record RetrievalEvaluationReport(
    int Count,
    int Classes,
    string Distance,
    double PrecisionAt1,
    double RPrecision,
    double MapAtR,
    double MeanAveragePrecision,
    IReadOnlyDictionary<int, double> RecallAtK,
    double MeanReciprocalRank,
    int EvaluatedQueries,
    int QueriesWithoutRelevant);

/// <summary>The metrics of one labelled set of embeddings (leave-one-out: every item queries all the others).</summary>
/// <param name="Count">The number of embeddings N.</param>
/// <param name="Classes">The number of distinct labels.</param>
/// <param name="Distance">The distance name.</param>
/// <param name="PrecisionAt1">Precision@1 (Musgrave et al. 2020, §3.2).</param>
/// <param name="RPrecision">R-precision (Musgrave et al. 2020, §3.2).</param>
/// <param name="MapAtR">MAP@R (Musgrave et al. 2020, §3.2).</param>
/// <param name="MeanAveragePrecision">Mean average precision over the full ranking.</param>
/// <param name="RecallAtK">Recall@k (hit rate) per k.</param>
/// <param name="MeanReciprocalRank">Mean reciprocal rank of the first relevant item.</param>
/// <param name="RocAuc">ROC AUC of all ordered pairs (same label = positive), smaller distance = more similar.</param>
/// <param name="EqualErrorRate">The equal-error rate of the same pairs.</param>
/// <param name="Nmi">NMI of a k-means clustering (k = number of classes) of vector embeddings; null for distributions and quantile functions.</param>
/// <param name="Ami">Adjusted mutual information (Vinh et al. 2010, arithmetic normalisation, as scikit-learn's default) of the same k-means clustering; null where <paramref name="Nmi"/> is.</param>
/// <param name="EvaluatedQueries">Queries the retrieval means are over (those whose class has another item).</param>
/// <param name="QueriesWithoutRelevant">Queries left out because no other item shares their label.</param>
public sealed record EvaluationReport(
    int Count,
    int Classes,
    string Distance,
    double PrecisionAt1,
    double RPrecision,
    double MapAtR,
    double MeanAveragePrecision,
    IReadOnlyDictionary<int, double> RecallAtK,
    double MeanReciprocalRank,
    double RocAuc,
    double EqualErrorRate,
    double? Nmi,
    double? Ami,
    int EvaluatedQueries,
    int QueriesWithoutRelevant);

/// <summary>
/// Evaluates embeddings you bring — from any model — with labels: precision@1, R-precision, MAP@R, mean average
/// precision, recall@k, MRR (retrieval, leave-one-out), ROC AUC and EER (verification over all pairs) and NMI and AMI (k-means
/// clustering), under any distance of the catalog:
/// <code>
/// var report = EmbeddingEvaluation.Evaluate(embeddings, labels);                  // float[N, d], int[N]; euclidean
/// var cosine = EmbeddingEvaluation.Evaluate(embeddings, labels, new EvaluationOptions { Distance = "cosine" });
/// </code>
/// </summary>
/// <remarks>
/// The N × N distance matrix is computed once (under no_grad, streamed in blocks, float64) and scored by
/// <c>RetrievalMetrics.Evaluate</c> (definitions of Musgrave, Belongie and Lim, "A Metric Learning Reality Check",
/// ECCV 2020, §3.2; ties ranked by index) and <c>VerificationMetrics.EvaluateMatrix</c>; NMI is
/// <c>Clustering.KMeansNmi</c> (k-means in the Euclidean geometry of the vectors, whatever the distance). For N
/// beyond a few ten thousand, where the N × N matrix does not fit, <c>EvaluateRetrieval</c> computes the retrieval
/// metrics in bounded memory.
/// </remarks>
public static class EmbeddingEvaluation
{
    /// <summary>Evaluates vector embeddings given as a rectangular array.</summary>
    /// <param name="embeddings">[N, d] embeddings, finite, N ≥ 2.</param>
    /// <param name="labels">[N] class labels, at least 2 distinct.</param>
    /// <param name="options">The options; null for the defaults (euclidean).</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">An empty or non-finite array (names embeddings), labels of another length
    /// or with fewer than 2 classes (names labels), a distance that does not accept vectors (names options), a bad k.</exception>
    public static EvaluationReport Evaluate(float[,] embeddings, int[] labels, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        var (n, d) = (embeddings.GetLength(0), embeddings.GetLength(1));
        if (d == 0) throw new ArgumentException($"embeddings has shape [{n},{d}]; each embedding needs d ≥ 1 values.", nameof(embeddings));
        var flat = new float[n * d];
        Buffer.BlockCopy(embeddings, 0, flat, 0, flat.Length * sizeof(float));
        return EvaluateVectors(flat, n, d, labels, options);
    }

    /// <summary>Evaluates vector embeddings given as one array per item.</summary>
    /// <param name="embeddings">N arrays of d values each (all the same length), finite, N ≥ 2.</param>
    /// <param name="labels">[N] class labels, at least 2 distinct.</param>
    /// <param name="options">The options; null for the defaults (euclidean).</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">A null or ragged row (names embeddings), otherwise as for the [N, d] overload.</exception>
    public static EvaluationReport Evaluate(float[][] embeddings, int[] labels, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        var n = embeddings.Length;
        var d = n == 0 ? 0 : embeddings[0]?.Length ?? 0;
        var flat = new float[n * d];
        for (var i = 0; i < n; i++)
        {
            var row = embeddings[i] ?? throw new ArgumentException($"embeddings[{i}] is null; every embedding needs {d} values.", nameof(embeddings));
            if (row.Length != d)
                throw new ArgumentException($"embeddings[{i}] has {row.Length} values but embeddings[0] has {d}; every embedding must have the same length.", nameof(embeddings));
            Array.Copy(row, 0, flat, i * d, d);
        }
        if (n > 0 && d == 0) throw new ArgumentException("embeddings[0] is empty; each embedding needs d ≥ 1 values.", nameof(embeddings));
        return EvaluateVectors(flat, n, d, labels, options);
    }

    /// <summary>Evaluates distributional embeddings: N weighted point sets [N, T, d] with an optional [N, T] mask.</summary>
    /// <param name="points">[N, T, d] points, finite, N ≥ 2.</param>
    /// <param name="mask">[N, T] mask or weights (0 = padding), or null for uniform weights.</param>
    /// <param name="labels">[N] class labels, at least 2 distinct.</param>
    /// <param name="options">The options; <see cref="EvaluationOptions.Distance"/> must accept distributions (e.g. marginal-w2, sliced-w2, sinkhorn-divergence).</param>
    /// <returns>The report (NMI null).</returns>
    /// <exception cref="ArgumentException">As for the vector overloads; a mask of another shape (names mask).</exception>
    public static EvaluationReport Evaluate(float[,,] points, float[,]? mask, int[] labels, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(options);
        var o = options;
        CheckFinite(points.Cast<float>(), points.GetLength(1) * points.GetLength(2), nameof(points));
        using var scope = torch.NewDisposeScope();
        var distance = CreateDistance(o);
        var device = Devices.Resolve(o.Device, "options.Device");
        var t = torch.tensor(points, device: device).to_type(torch.ScalarType.Float64);
        if (mask is not null && (mask.GetLength(0) != points.GetLength(0) || mask.GetLength(1) != points.GetLength(1)))
            throw new ArgumentException(
                $"mask has shape [{mask.GetLength(0)},{mask.GetLength(1)}] but points has shape [{points.GetLength(0)},{points.GetLength(1)},{points.GetLength(2)}]; it must be [N, T].", nameof(mask));
        var m = mask is null ? null : torch.tensor(mask, device: device).to_type(torch.ScalarType.Float64);
        if (distance.Accepts == Core.Representation.Vectors)
            throw new ArgumentException($"options.Distance '{distance.Name}' accepts vectors [N, d], but points holds distributions [N, T, d].", nameof(options));
        using var batch = Embeddings.FromTensor(t, m, (Representation)(int)distance.Accepts);
        return Evaluate(batch.Core, ToLong(labels), distance, o);
    }

    /// <summary>Evaluates a batch of embeddings (any representation) under a distance.</summary>
    /// <param name="embeddings">N ≥ 2 embeddings; the distance must accept their representation.</param>
    /// <param name="labels">[N] class labels, at least 2 distinct.</param>
    /// <param name="distance">The distance (e.g. <c>Catalog.CreateDistance(name, options)</c>).</param>
    /// <param name="options">k of recall@k, k-means restarts and seed; null for the defaults (the distance fields are not read).</param>
    /// <returns>The report (NMI for vector batches only).</returns>
    /// <exception cref="ArgumentException">Fewer than 2 embeddings or non-finite values (names embeddings), labels of another
    /// length or with fewer than 2 classes (names labels), a distance for another representation (names distance).</exception>
    public static EvaluationReport Evaluate(EmbeddingBatch embeddings, long[] labels, Distance distance, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(distance);
        return Evaluate(embeddings.Core, labels, distance.Core, options);
    }

    /// <summary>
    /// Evaluates queries against a separate gallery (for example held-out sequences against a reference set): each
    /// query ranks the whole gallery, none left out — precision@1, R-precision and MAP@R with R the gallery items of
    /// the query's class (Musgrave, Belongie and Lim, "A Metric Learning Reality Check", ECCV 2020, §3.2; ties ranked by
    /// index), mean average precision, recall@k, MRR — and ROC AUC and EER over all query–gallery pairs. NMI and AMI are
    /// null (there is no one set to cluster); <see cref="EvaluationReport.Count"/> is the number of queries.
    /// </summary>
    /// <param name="queries">M ≥ 1 query embeddings; the distance must accept their representation.</param>
    /// <param name="queryLabels">[M] class labels of the queries.</param>
    /// <param name="gallery">N ≥ 1 gallery embeddings of the same representation.</param>
    /// <param name="galleryLabels">[N] class labels of the gallery; the query–gallery pairs must hold same-class and
    /// different-class pairs (ROC AUC and EER need both).</param>
    /// <param name="distance">The distance (e.g. <c>Catalog.CreateDistance(name, options)</c>).</param>
    /// <param name="options">k of recall@k (each in [1, N]); null for 1, 5 and 10 (those ≤ N). The other fields are not read.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">An empty batch or non-finite values (names queries or gallery), labels of
    /// another length (names queryLabels or galleryLabels), no same-class or no different-class pair (names
    /// galleryLabels), or a distance for another representation (names distance).</exception>
    public static EvaluationReport Evaluate(EmbeddingBatch queries, long[] queryLabels, EmbeddingBatch gallery, long[] galleryLabels, Distance distance,
        EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(queries);
        ArgumentNullException.ThrowIfNull(gallery);
        ArgumentNullException.ThrowIfNull(queryLabels);
        ArgumentNullException.ThrowIfNull(galleryLabels);
        ArgumentNullException.ThrowIfNull(distance);
        var (q, g, d) = (queries.Core, gallery.Core, distance.Core);
        foreach (var (name, batch, labels, labelsName) in new[] { (nameof(queries), q, queryLabels, nameof(queryLabels)), (nameof(gallery), g, galleryLabels, nameof(galleryLabels)) })
        {
            if (batch.Count < 1) throw new ArgumentException($"{name} is empty; evaluation needs at least 1 item.", name);
            if (labels.Length != batch.Count)
                throw new ArgumentException($"{labelsName} has {labels.Length} entries but {name} has {batch.Count} embeddings; they must match (one label per embedding).", labelsName);
            if (d.Accepts != batch.Representation)
                throw new ArgumentException(
                    $"distance '{d.Name}' accepts {Embeddings.Describe(d.Accepts)}, but {name} holds {Embeddings.Describe(batch.Representation)}.", nameof(distance));
            CheckFinite(batch, name);
        }
        var galleryClasses = galleryLabels.ToHashSet();
        if (!queryLabels.Any(galleryClasses.Contains))
            throw new ArgumentException("no query has a gallery item of its class; retrieval needs same-class query–gallery pairs.", nameof(galleryLabels));
        if (!queryLabels.Any(l => galleryClasses.Count > 1 || !galleryClasses.Contains(l)))
            throw new ArgumentException("every query–gallery pair has one class; ROC AUC and EER need different-class pairs too.", nameof(galleryLabels));
        var ks = Ks((options ?? new EvaluationOptions()).RecallAtK, g.Count);
        var matrix = Matrix(d, q, g);
        for (var i = 0; i < q.Count; i++)
            for (var j = 0; j < g.Count; j++)
                if (!double.IsFinite(matrix[i, j]))
                    throw new ArgumentException(
                        $"distance '{d.Name}' between query {i} and gallery item {j} is {matrix[i, j].ToString(CultureInfo.InvariantCulture)}; the embeddings must give finite distances.", nameof(queries));
        var retrieval = RetrievalMetrics.Evaluate(matrix, queryLabels, galleryLabels, false, ks);
        var verification = VerificationMetrics.EvaluateMatrix(matrix, queryLabels, galleryLabels, false);
        return new EvaluationReport(
            q.Count, queryLabels.Distinct().Count(), d.Name, retrieval.PrecisionAt1, retrieval.RPrecision, retrieval.MapAtR,
            retrieval.MeanAveragePrecision, ks.Select((k, i) => (k, i)).ToDictionary(t => t.k, t => retrieval.RecallAtK[t.i]),
            retrieval.MeanReciprocalRank, verification.RocAuc, verification.EqualErrorRate, null, null, retrieval.EvaluatedQueries,
            retrieval.QueriesWithoutRelevant);
    }

    private static EvaluationReport Evaluate(IEmbeddingBatch embeddings, long[] labels, IDistance distance, EvaluationOptions? options)
    {
        var o = options ?? new EvaluationOptions();
        if (o.KMeansRestarts < 1)
            throw new ArgumentException($"options.KMeansRestarts = {o.KMeansRestarts}; it must be ≥ 1.", nameof(options));
        var n = embeddings.Count;
        if (n < 2) throw new ArgumentException($"embeddings has {n} item(s); evaluation needs at least 2.", nameof(embeddings));
        CheckLabels(labels, n);
        if (distance.Accepts != embeddings.Representation)
            throw new ArgumentException(
                $"distance '{distance.Name}' accepts {Embeddings.Describe(distance.Accepts)}, but embeddings holds {Embeddings.Describe(embeddings.Representation)}.", nameof(distance));
        CheckFinite(embeddings);
        var ks = Ks(o.RecallAtK, n - 1);
        var matrix = Matrix(distance, embeddings);
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                if (!double.IsFinite(matrix[i, j]))
                    throw new ArgumentException(
                        $"distance '{distance.Name}' between items {i} and {j} is {matrix[i, j].ToString(CultureInfo.InvariantCulture)}; the embeddings must give finite distances (check them for NaN or ∞).", nameof(embeddings));
        var retrieval = RetrievalMetrics.Evaluate(matrix, labels, labels, true, ks);
        var verification = VerificationMetrics.EvaluateMatrix(matrix, labels, labels, true);
        var clustering = embeddings is VectorBatch vectors ? EmbeddingMetrics.KMeansNmiAndAmi(vectors, labels, o.KMeansRestarts, o.Seed) : null;
        return new EvaluationReport(
            n, labels.Distinct().Count(), distance.Name, retrieval.PrecisionAt1, retrieval.RPrecision, retrieval.MapAtR,
            retrieval.MeanAveragePrecision, ks.Select((k, i) => (k, i)).ToDictionary(t => t.k, t => retrieval.RecallAtK[t.i]),
            retrieval.MeanReciprocalRank, verification.RocAuc, verification.EqualErrorRate, clustering?[0], clustering?[1], retrieval.EvaluatedQueries,
            retrieval.QueriesWithoutRelevant);
    }

    /// <summary>
    /// The retrieval metrics (precision@1, R-precision, MAP@R, mean average precision, recall@k, MRR) of a labelled set
    /// in bounded memory: the N × N distance matrix is never held, only one band of query rows against all items
    /// (<see cref="EvaluationOptions.BandElements"/> distances), so it scales to N in the hundreds of thousands.
    /// </summary>
    /// <remarks>
    /// <c>StreamedRetrieval.EvaluateWithin</c>: the same values as <see cref="Evaluate(EmbeddingBatch, long[], Distance, EvaluationOptions?)"/>
    /// gives for its retrieval fields (ranks of the relevant items counted per band; ties ranked by index; the
    /// Euclidean-type distances computed by one matrix product per band and finished and ranked in one pass). The
    /// verification metrics (ROC AUC, EER over all N² pairs) and the NMI are not computed here; use
    /// <c>Evaluate</c> where the N × N matrix fits in memory.
    /// </remarks>
    /// <param name="embeddings">N ≥ 2 embeddings; the distance must accept their representation.</param>
    /// <param name="labels">[N] class labels, at least one class with 2 or more items.</param>
    /// <param name="distance">Any distance (e.g. <c>Catalog.CreateDistance(name, options)</c>).</param>
    /// <param name="options">k of recall@k and <see cref="EvaluationOptions.BandElements"/>; null for the defaults (the distance fields are not read).</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">Fewer than 2 embeddings or non-finite values (names embeddings), labels of another
    /// length or without a class of 2 (names labels), a distance for another representation (names distance), a negative
    /// band size or a bad k (names options).</exception>
    public static RetrievalEvaluationReport EvaluateRetrieval(EmbeddingBatch embeddings, long[] labels, Distance distance, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        ArgumentNullException.ThrowIfNull(distance);
        var (batch, d) = (embeddings.Core, distance.Core);
        var o = options ?? new EvaluationOptions();
        var n = embeddings.Count;
        if (n < 2) throw new ArgumentException($"embeddings has {n} item(s); evaluation needs at least 2.", nameof(embeddings));
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != n)
            throw new ArgumentException($"labels has {labels.Length} entries but there are {n} embeddings; they must match (one label per embedding).", nameof(labels));
        if (labels.GroupBy(l => l).All(g => g.Count() < 2))
            throw new ArgumentException("every label in labels occurs once; retrieval needs at least one class with 2 or more items.", nameof(labels));
        if (d.Accepts != batch.Representation)
            throw new ArgumentException(
                $"distance '{distance.Name}' accepts {Embeddings.Describe(d.Accepts)}, but embeddings holds {Embeddings.Describe(batch.Representation)}.", nameof(distance));
        if (o.BandElements < 0)
            throw new ArgumentException($"options.BandElements = {o.BandElements}; it must be ≥ 0 (0 = automatic).", nameof(options));
        CheckFinite(batch);
        var ks = Ks(o.RecallAtK, n - 1);
        var r = StreamedRetrieval.EvaluateWithin(d, batch, labels, ks, o.BandElements);
        return new RetrievalEvaluationReport(
            n, labels.Distinct().Count(), distance.Name, r.PrecisionAt1, r.RPrecision, r.MapAtR, r.MeanAveragePrecision,
            ks.Select((k, i) => (k, i)).ToDictionary(t => t.k, t => r.RecallAtK[t.i]), r.MeanReciprocalRank,
            r.EvaluatedQueries, r.QueriesWithoutRelevant);
    }

    /// <summary>The retrieval metrics of vector embeddings [N, d] in bounded memory (see
    /// <see cref="EvaluateRetrieval(EmbeddingBatch, long[], Distance, EvaluationOptions?)"/>).</summary>
    /// <param name="embeddings">[N, d] embeddings, finite, N ≥ 2.</param>
    /// <param name="labels">[N] class labels.</param>
    /// <param name="options">The distance (default euclidean), its options, k of recall@k, device and band size; null for
    /// the defaults. The distances are computed in float32, the array's type.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">As for the batch overload; an empty or non-finite array (names embeddings), a
    /// distance that does not accept vectors (names options).</exception>
    public static RetrievalEvaluationReport EvaluateRetrieval(float[,] embeddings, int[] labels, EvaluationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        var o = options ?? new EvaluationOptions();
        var (n, d) = (embeddings.GetLength(0), embeddings.GetLength(1));
        if (d == 0) throw new ArgumentException($"embeddings has shape [{n},{d}]; each embedding needs d ≥ 1 values.", nameof(embeddings));
        var flat = new float[n * d];
        Buffer.BlockCopy(embeddings, 0, flat, 0, flat.Length * sizeof(float));
        CheckFinite(flat, d, nameof(embeddings));
        using var scope = torch.NewDisposeScope();
        var distance = CreateDistance(o);
        if (distance.Accepts != Core.Representation.Vectors)
            throw new ArgumentException(
                $"options.Distance '{distance.Name}' accepts {Embeddings.Describe(distance.Accepts)}, but embeddings holds vectors [N, d]; use euclidean, sqeuclidean, cosine or lp.", nameof(options));
        var device = Devices.Resolve(o.Device, "options.Device");
        using var values = torch.tensor(flat, [n, d], device: device);
        using var batch = EmbeddingBatch.Wrap(VectorBatch.FromTensor(values));
        return EvaluateRetrieval(batch, ToLong(labels), new Distance(distance), o);
    }

    private static EvaluationReport EvaluateVectors(float[] flat, int n, int d, int[] labels, EvaluationOptions? options)
    {
        var o = options ?? new EvaluationOptions();
        CheckFinite(flat, d, "embeddings");
        using var scope = torch.NewDisposeScope();
        var distance = CreateDistance(o);
        if (distance.Accepts != Core.Representation.Vectors)
            throw new ArgumentException(
                $"options.Distance '{distance.Name}' accepts {Embeddings.Describe(distance.Accepts)}, but embeddings holds vectors [N, d]; use euclidean, sqeuclidean, cosine or lp.", nameof(options));
        var device = Devices.Resolve(o.Device, "options.Device");
        using var values = torch.tensor(flat, [n, d], device: device).to_type(torch.ScalarType.Float64);
        using var batch = VectorBatch.FromTensor(values);
        return Evaluate(batch, ToLong(labels), distance, o);
    }

    private static IBlockwiseDistance CreateDistance(EvaluationOptions o)
    {
        try
        {
            return Core.Distances.Create(o.Distance, o.DistanceSettings?.ToCore());
        }
        catch (ArgumentException e) when (e.ParamName == "name")
        {
            throw new ArgumentException($"options.Distance: {e.Message.Replace(" (Parameter 'name')", "", StringComparison.Ordinal)}", "options", e);
        }
    }

    private static long[] ToLong(int[] labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return Array.ConvertAll(labels, l => (long)l);
    }

    private static void CheckLabels(long[] labels, int n)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Length != n)
            throw new ArgumentException($"labels has {labels.Length} entries but there are {n} embeddings; they must match (one label per embedding).", nameof(labels));
        var classes = labels.Distinct().Count();
        if (classes < 2)
            throw new ArgumentException($"labels has {classes} distinct class; evaluation needs at least 2 classes (ROC AUC and EER need different-label pairs).", nameof(labels));
        if (labels.GroupBy(l => l).All(g => g.Count() < 2))
            throw new ArgumentException("every label in labels occurs once; retrieval needs at least one class with 2 or more items.", nameof(labels));
    }

    /// <summary>Names the first item (row) of an array with a NaN or infinite value.</summary>
    private static void CheckFinite(IEnumerable<float> values, int rowLength, string name)
    {
        var index = 0;
        foreach (var v in values)
        {
            if (!float.IsFinite(v))
                throw new ArgumentException(
                    $"{name} holds {v.ToString(CultureInfo.InvariantCulture)} in item {(rowLength == 0 ? 0 : index / rowLength)}; every value must be finite.", name);
            index++;
        }
    }

    /// <summary>Names the first item with a NaN or infinite value (padding points of distributions included).</summary>
    private static void CheckFinite(IEmbeddingBatch embeddings, string name = "embeddings")
    {
        var values = embeddings switch
        {
            VectorBatch v => v.Values,
            DistributionBatch d => d.Points,
            QuantileBatch q => q.Values,
            _ => null,
        };
        if (values is null) return;
        using var scope = torch.NewDisposeScope();
        var bad = values.isfinite().logical_not().reshape(embeddings.Count, -1).any(1);
        if (!bad.any().item<bool>()) return;
        var row = bad.nonzero()[0, 0].item<long>();
        throw new ArgumentException($"{name} holds a NaN or infinite value in item {row}; every value must be finite.", name);
    }

    private static int[] Ks(int[]? given, int candidates)
    {
        if (given is null) return EvaluationOptions.DefaultRecallAtK.Where(k => k <= candidates).ToArray();
        foreach (var k in given)
            if (k < 1 || k > candidates)
                throw new ArgumentException($"options.RecallAtK holds k = {k}; each k must lie in [1, N − 1] = [1, {candidates}].", "options");
        return given.Distinct().ToArray();
    }

    /// <summary>The N × N float64 distance matrix, streamed block by block when the distance can.</summary>
    private static double[,] Matrix(IDistance distance, IEmbeddingBatch embeddings) => Matrix(distance, embeddings, embeddings);

    /// <summary>The M × N float64 distance matrix between two batches, streamed block by block when the distance can.</summary>
    private static double[,] Matrix(IDistance distance, IEmbeddingBatch rows, IEmbeddingBatch columns)
    {
        var matrix = new double[rows.Count, columns.Count];
        using var _ = torch.no_grad();
        if (distance is IBlockwiseDistance blockwise)
        {
            blockwise.PairwiseBlocks(rows, columns, (r0, c0, block) =>
            {
                using var b = block.cpu().to_type(torch.ScalarType.Float64).contiguous();
                var (rows, cols) = ((int)b.shape[0], (int)b.shape[1]);
                var values = b.data<double>().ToArray();
                for (var i = 0; i < rows; i++)
                    for (var j = 0; j < cols; j++)
                        matrix[r0 + i, c0 + j] = values[i * cols + j];
            });
            return matrix;
        }
        using var scope = torch.NewDisposeScope();
        var all = distance.Pairwise(rows, columns).cpu().to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray();
        Buffer.BlockCopy(all, 0, matrix, 0, all.Length * sizeof(double));
        return matrix;
    }
}
