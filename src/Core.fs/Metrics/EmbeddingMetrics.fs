namespace DistEmbed.Core

open TorchSharp

/// <summary>
/// The retrieval, verification, triplet and clustering metrics of <c>RetrievalMetrics</c>,
/// <c>VerificationMetrics</c> and <c>Clustering</c> applied to embedding batches and any
/// <see cref="T:DistEmbed.Core.IDistance"/> (vector, Wasserstein, learned), or to a distance tensor.
/// </summary>
/// <remarks>
/// Distances are computed with <c>distance.Pairwise(queries, gallery)</c> (entry (q, j) = D(query q, gallery j): the
/// query is the first argument of a non-symmetric divergence) or <c>distance.Paired</c> under <c>torch.no_grad()</c>,
/// copied to float64 on the CPU, and scored by the float64 metrics; evaluation builds no autograd graph and leaves no
/// tensor behind. The definitions, tie rules and references are those of the modules named above.
/// </remarks>
[<RequireQualifiedAccess>]
module EmbeddingMetrics =

    /// A [Q, G] float tensor as a float64 array (detached, on the CPU).
    let private toArray (name: string) (distances: torch.Tensor) =
        Validation.notNull name distances
        Validation.floating name distances
        if distances.dim() <> 2L then
            Validation.fail name $"{name} has shape {Validation.shape distances}; a [Q, G] matrix is required."
        use _ = torch.NewDisposeScope()
        let q, g = int distances.shape.[0], int distances.shape.[1]
        let flat = distances.detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
        Array2D.init q g (fun i j -> flat.[i * g + j])

    let private checkDistance (distance: IDistance) (name: string) (batch: IEmbeddingBatch) =
        Validation.notNull "distance" distance
        Validation.notNull name batch
        if distance.Accepts <> batch.Representation then
            Validation.fail name $"{name} holds {batch.Representation} but distance '{distance.Name}' accepts {distance.Accepts}."

    let private pairwise (distance: IDistance) (queries: IEmbeddingBatch) (gallery: IEmbeddingBatch) =
        use _ = torch.no_grad()
        use _ = torch.NewDisposeScope()
        toArray "distance" (distance.Pairwise(queries, gallery))

    /// <summary>Retrieval metrics of a [Q, G] distance tensor (float32 or float64, any device).</summary>
    /// <remarks>The tensor is copied to a float64 array and scored by <c>RetrievalMetrics.Evaluate</c>.</remarks>
    /// <param name="distances">[Q, G] distances, finite.</param>
    /// <param name="queryLabels">[Q] labels of the queries.</param>
    /// <param name="galleryLabels">[G] labels of the gallery items.</param>
    /// <param name="queryIsGallery">True when query i is gallery item i: self-matches are excluded.</param>
    /// <param name="ks">The k of each recall@k.</param>
    /// <returns>The retrieval report.</returns>
    /// <exception cref="T:System.ArgumentException">A tensor that is not a floating [Q, G] matrix, or any rule of
    /// <c>RetrievalMetrics.Evaluate</c>.</exception>
    [<CompiledName("RetrievalOfTensor")>]
    let retrievalOfTensor (distances: torch.Tensor, queryLabels: int64[], galleryLabels: int64[], queryIsGallery: bool, ks: int[]) =
        NativeRuntime.EnsureInitialized()
        RetrievalMetrics.evaluate (toArray "distances" distances, queryLabels, galleryLabels, queryIsGallery, ks)

    /// <summary>Retrieval metrics of query embeddings against a separate gallery under a distance.</summary>
    /// <remarks><c>RetrievalMetrics.Evaluate(distance.Pairwise(queries, gallery), queryLabels, galleryLabels, false, ks)</c>.</remarks>
    /// <param name="distance">The distance; it must accept the batches' representation.</param>
    /// <param name="queries">Q query embeddings.</param>
    /// <param name="gallery">G gallery embeddings.</param>
    /// <param name="queryLabels">[Q] labels of the queries.</param>
    /// <param name="galleryLabels">[G] labels of the gallery items.</param>
    /// <param name="ks">The k of each recall@k (1 ≤ k ≤ G).</param>
    /// <returns>The retrieval report.</returns>
    /// <exception cref="T:System.ArgumentException">A representation the distance does not accept, non-finite
    /// distances, or any rule of <c>RetrievalMetrics.Evaluate</c>.</exception>
    [<CompiledName("Retrieval")>]
    let retrieval
        (distance: IDistance, queries: IEmbeddingBatch, gallery: IEmbeddingBatch, queryLabels: int64[], galleryLabels: int64[], ks: int[])
        =
        NativeRuntime.EnsureInitialized()
        checkDistance distance "queries" queries
        checkDistance distance "gallery" gallery
        RetrievalMetrics.evaluate (pairwise distance queries gallery, queryLabels, galleryLabels, false, ks)

    /// <summary>Leave-one-out retrieval metrics within one labelled set: every item queries all the others.</summary>
    /// <remarks><c>RetrievalMetrics.Evaluate(distance.Pairwise(embeddings, embeddings), labels, labels, true, ks)</c>.</remarks>
    /// <param name="distance">The distance; it must accept the batch's representation.</param>
    /// <param name="embeddings">N ≥ 2 embeddings.</param>
    /// <param name="labels">[N] labels.</param>
    /// <param name="ks">The k of each recall@k (1 ≤ k ≤ N − 1).</param>
    /// <returns>The retrieval report.</returns>
    /// <exception cref="T:System.ArgumentException">A representation the distance does not accept, non-finite
    /// distances, or any rule of <c>RetrievalMetrics.Evaluate</c>.</exception>
    [<CompiledName("RetrievalWithin")>]
    let retrievalWithin (distance: IDistance, embeddings: IEmbeddingBatch, labels: int64[], ks: int[]) =
        NativeRuntime.EnsureInitialized()
        checkDistance distance "embeddings" embeddings
        RetrievalMetrics.evaluate (pairwise distance embeddings embeddings, labels, labels, true, ks)

    /// <summary>ROC AUC and equal-error rate of all ordered pairs (i, j), i ≠ j, of one labelled set.</summary>
    /// <remarks><c>VerificationMetrics.EvaluateMatrix(distance.Pairwise(embeddings, embeddings), labels, labels, true)</c>.</remarks>
    /// <param name="distance">The distance; it must accept the batch's representation.</param>
    /// <param name="embeddings">N ≥ 2 embeddings.</param>
    /// <param name="labels">[N] labels, with at least one positive and one negative pair.</param>
    /// <returns>The verification report over the N·(N − 1) ordered pairs.</returns>
    /// <exception cref="T:System.ArgumentException">A representation the distance does not accept, non-finite
    /// distances, or any rule of <c>VerificationMetrics.EvaluateMatrix</c>.</exception>
    [<CompiledName("Verification")>]
    let verification (distance: IDistance, embeddings: IEmbeddingBatch, labels: int64[]) =
        NativeRuntime.EnsureInitialized()
        checkDistance distance "embeddings" embeddings
        VerificationMetrics.evaluateMatrix (pairwise distance embeddings embeddings, labels, labels, true)

    /// <summary>Triplet accuracy of aligned batches of anchors, positives and negatives under a distance.</summary>
    /// <remarks><code>acc = (1/T) Σ_t [D(a_t, p_t) &lt; D(a_t, n_t)]</code> with <c>distance.Paired</c>, anchor first;
    /// ties count as failures.</remarks>
    /// <param name="distance">The distance; it must accept the batches' representation.</param>
    /// <param name="anchors">T anchors.</param>
    /// <param name="positives">T positives (same class as the anchor).</param>
    /// <param name="negatives">T negatives (another class).</param>
    /// <returns>The accuracy in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">A representation the distance does not accept, batches of
    /// different sizes, or non-finite distances.</exception>
    [<CompiledName("TripletAccuracy")>]
    let tripletAccuracy (distance: IDistance, anchors: IEmbeddingBatch, positives: IEmbeddingBatch, negatives: IEmbeddingBatch) =
        NativeRuntime.EnsureInitialized()
        checkDistance distance "anchors" anchors
        checkDistance distance "positives" positives
        checkDistance distance "negatives" negatives
        Validation.sameLength "positives" anchors.Count positives.Count "anchors"
        Validation.sameLength "negatives" anchors.Count negatives.Count "anchors"
        use _ = torch.no_grad()
        use _ = torch.NewDisposeScope()
        let paired (other: IEmbeddingBatch) =
            distance.Paired(anchors, other).detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
        VerificationMetrics.tripletAccuracy (paired positives, paired negatives)

    /// <summary>NMI of the k-means clustering of a vector batch against its labels (k = number of distinct labels).</summary>
    /// <remarks><c>Clustering.KMeansNmi(embeddings.Values as float64, labels, restarts, seed)</c>.</remarks>
    /// <param name="embeddings">[N, d] vectors.</param>
    /// <param name="labels">[N] labels.</param>
    /// <param name="restarts">k-means restarts (≥ 1).</param>
    /// <param name="seed">Seed of the k-means randomness.</param>
    /// <returns>NMI in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">Any rule of <c>Clustering.KMeansNmi</c>.</exception>
    [<CompiledName("KMeansNmi")>]
    let kMeansNmi (embeddings: VectorBatch, labels: int64[], restarts: int, seed: int) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "embeddings" embeddings
        Clustering.kMeansNmi (toArray "embeddings" embeddings.Values, labels, restarts, seed)

    /// <summary>NMI and AMI of one k-means clustering of a vector batch against its labels (k = number of distinct labels).</summary>
    /// <remarks><c>Clustering.KMeansNmiAndAmi(embeddings.Values as float64, labels, restarts, seed)</c>.</remarks>
    /// <param name="embeddings">[N, d] vectors.</param>
    /// <param name="labels">[N] labels.</param>
    /// <param name="restarts">k-means restarts (≥ 1).</param>
    /// <param name="seed">Seed of the k-means randomness.</param>
    /// <returns>[| NMI; AMI |].</returns>
    /// <exception cref="T:System.ArgumentException">Any rule of <c>Clustering.KMeansNmi</c>.</exception>
    [<CompiledName("KMeansNmiAndAmi")>]
    let kMeansNmiAndAmi (embeddings: VectorBatch, labels: int64[], restarts: int, seed: int) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "embeddings" embeddings
        Clustering.kMeansNmiAndAmi (toArray "embeddings" embeddings.Values, labels, restarts, seed)
