namespace DistEmbed.Core

open System

/// <summary>
/// The verification metrics of a set of labelled pairs (<see cref="M:DistEmbed.Core.VerificationMetrics.Evaluate"/>).
/// </summary>
type VerificationReport =
    { /// <summary>ROC AUC with score −distance: P(d_positive &lt; d_negative) + ½·P(d_positive = d_negative).</summary>
      RocAuc: float
      /// <summary>Equal-error rate: the common value of FAR and FRR where the linearly interpolated ROC curve crosses FAR = FRR.</summary>
      EqualErrorRate: float
      /// <summary>The number of positive (same-label) pairs.</summary>
      PositivePairs: int
      /// <summary>The number of negative (different-label) pairs.</summary>
      NegativePairs: int }

/// <summary>
/// Verification metrics (is this pair the same class?) and triplet accuracy from distances: ROC AUC by the
/// Mann–Whitney statistic [1], equal-error rate [2], and the fraction of triplets ordered correctly [3].
/// </summary>
/// <remarks>
/// A pair is positive when its two items share a label. A pair is accepted at threshold t when its distance is ≤ t;
/// FAR(t) = (negative pairs accepted) / N⁻ and FRR(t) = (positive pairs rejected) / N⁺.
/// <code>
/// AUC = (1 / (N⁺·N⁻)) Σ_{p ∈ positives} Σ_{n ∈ negatives} ( [d_p &lt; d_n] + ½·[d_p = d_n] )          [1]
/// </code>
/// which is scikit-learn's <c>roc_auc_score(same, −d)</c> (the trapezoidal area under the ROC curve, ties between
/// a positive and a negative counting ½). It is computed in O(n log n) by sorting.
///
/// The ROC points are (FAR, FRR) at t = −∞ (0, 1) and at every distinct distance in increasing order, ending at
/// (1, 0). FAR − FRR increases along them; between the last point with FAR &lt; FRR and the first with FAR ≥ FRR the
/// curve is taken as the straight segment joining them (the interpolation of the trapezoidal AUC), and the EER is the
/// common value of FAR and FRR where that segment meets FAR = FRR [2]. On a tie block the segment is the one the
/// tied pairs trace together, so the EER does not depend on how ties would be broken.
///
/// Triplet accuracy = (1/T) Σ_t [d(a_t, p_t) &lt; d(a_t, n_t)]: a tie counts as a failure, so a constant distance
/// scores 0, not ½ [3].
///
/// References:
/// [1] J. A. Hanley and B. J. McNeil, The meaning and use of the area under a receiver operating characteristic
///     (ROC) curve, Radiology 143(1), 29–36 (1982).
/// [2] T. Fawcett, An introduction to ROC analysis, Pattern Recognition Letters 27(8), 861–874 (2006)
///     (ROC points and their linear interpolation); EER as used in speaker and face verification.
/// [3] M. Ishfaq, A. Hoogi and D. Rubin, TVAE: Triplet-Based Variational Autoencoder using Metric Learning,
///     arXiv:1802.04403 (2018), §4 (triplet accuracy).
/// </remarks>
[<RequireQualifiedAccess>]
module VerificationMetrics =

    let private checkPairs (distances: float[]) (sameLabel: bool[]) =
        Validation.finite "distances" distances
        Validation.nonEmpty "distances" distances
        Validation.notNull "sameLabel" sameLabel
        Validation.sameLength "sameLabel" distances.Length sameLabel.Length "distances"
        let positives = sameLabel |> Array.sumBy (fun s -> if s then 1 else 0)
        if positives = 0 then Validation.fail "sameLabel" "sameLabel has no positive (same-label) pair; at least one is required."
        if positives = sameLabel.Length then
            Validation.fail "sameLabel" "sameLabel has no negative (different-label) pair; at least one is required."
        positives, sameLabel.Length - positives

    /// Groups of equal distance in increasing order: (positives, negatives) per group.
    let private groups (distances: float[]) (sameLabel: bool[]) =
        let order = Array.init distances.Length id
        Array.Sort(order, Comparison(fun a b -> compare distances.[a] distances.[b]))
        let result = ResizeArray<int * int>()
        let mutable i = 0
        while i < order.Length do
            let d = distances.[order.[i]]
            let mutable p = 0
            let mutable n = 0
            while i < order.Length && distances.[order.[i]] = d do
                if sameLabel.[order.[i]] then p <- p + 1 else n <- n + 1
                i <- i + 1
            result.Add((p, n))
        result.ToArray()

    let private auc (groups: (int * int)[]) (positives: int) (negatives: int) =
        let mutable positivesBefore = 0.0
        let mutable total = 0.0
        for p, n in groups do
            total <- total + float n * (positivesBefore + 0.5 * float p)
            positivesBefore <- positivesBefore + float p
        total / (float positives * float negatives)

    let private eer (groups: (int * int)[]) (positives: int) (negatives: int) =
        let mutable acceptedPositives = 0
        let mutable acceptedNegatives = 0
        let mutable far = 0.0
        let mutable frr = 1.0
        let mutable result = nan
        let mutable k = 0
        while Double.IsNaN result do
            let p, n = groups.[k]
            acceptedPositives <- acceptedPositives + p
            acceptedNegatives <- acceptedNegatives + n
            let far' = float acceptedNegatives / float negatives
            let frr' = float (positives - acceptedPositives) / float positives
            if far' >= frr' then
                // FAR − FRR goes from far − frr < 0 to far' − frr' ≥ 0 along the segment: solve for the crossing.
                let below = frr - far
                let lambda = below / (below + (far' - frr'))
                result <- far + lambda * (far' - far)
            far <- far'
            frr <- frr'
            k <- k + 1
        result

    /// <summary>ROC AUC of pair verification with score −distance (the Mann–Whitney statistic, ties ½).</summary>
    /// <remarks><code>AUC = (1/(N⁺N⁻)) Σ_p Σ_n ([d_p &lt; d_n] + ½[d_p = d_n])</code> [1]; equals scikit-learn's
    /// <c>roc_auc_score(sameLabel, −distances)</c>.</remarks>
    /// <param name="distances">[n] pair distances, finite.</param>
    /// <param name="sameLabel">[n] true for a positive (same-label) pair; at least one of each kind.</param>
    /// <returns>The AUC in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">Empty or non-finite distances, a length mismatch, or no positive
    /// or no negative pair.</exception>
    [<CompiledName("RocAuc")>]
    let rocAuc (distances: float[], sameLabel: bool[]) =
        let positives, negatives = checkPairs distances sameLabel
        auc (groups distances sameLabel) positives negatives

    /// <summary>Equal-error rate of pair verification (accept when distance ≤ threshold).</summary>
    /// <remarks>The common value of FAR and FRR where the linearly interpolated ROC curve (FAR, FRR) crosses
    /// FAR = FRR; see the module remarks [2].</remarks>
    /// <param name="distances">[n] pair distances, finite.</param>
    /// <param name="sameLabel">[n] true for a positive (same-label) pair; at least one of each kind.</param>
    /// <returns>The EER in [0, 1] (0 when some threshold separates positives from negatives).</returns>
    /// <exception cref="T:System.ArgumentException">Empty or non-finite distances, a length mismatch, or no positive
    /// or no negative pair.</exception>
    [<CompiledName("EqualErrorRate")>]
    let equalErrorRate (distances: float[], sameLabel: bool[]) =
        let positives, negatives = checkPairs distances sameLabel
        eer (groups distances sameLabel) positives negatives

    /// <summary>ROC AUC and equal-error rate of labelled pairs.</summary>
    /// <param name="distances">[n] pair distances, finite.</param>
    /// <param name="sameLabel">[n] true for a positive (same-label) pair; at least one of each kind.</param>
    /// <returns>The report with both metrics and the pair counts.</returns>
    /// <exception cref="T:System.ArgumentException">Empty or non-finite distances, a length mismatch, or no positive
    /// or no negative pair.</exception>
    [<CompiledName("Evaluate")>]
    let evaluate (distances: float[], sameLabel: bool[]) =
        let positives, negatives = checkPairs distances sameLabel
        let g = groups distances sameLabel
        { RocAuc = auc g positives negatives
          EqualErrorRate = eer g positives negatives
          PositivePairs = positives
          NegativePairs = negatives }

    /// <summary>ROC AUC and equal-error rate of every (query, gallery item) pair of a distance matrix.</summary>
    /// <remarks>Every entry (q, j) is one pair, positive when <c>queryLabels[q] = galleryLabels[j]</c>; with
    /// <paramref name="queryIsGallery"/> the diagonal (self-pairs) is left out. Both orders (q, j) and (j, q) of a
    /// square matrix are counted, so a non-symmetric divergence is scored in both directions; for a symmetric matrix
    /// this doubles every pair and leaves AUC and EER unchanged.</remarks>
    /// <param name="distances">[Q, G] distances, finite.</param>
    /// <param name="queryLabels">[Q] labels.</param>
    /// <param name="galleryLabels">[G] labels.</param>
    /// <param name="queryIsGallery">True when query i is gallery item i (square matrix, same labels): self-pairs are excluded.</param>
    /// <returns>The report over the Q·G (or Q·(Q − 1)) pairs.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>RetrievalMetrics.Evaluate</c>, or no positive or no
    /// negative pair.</exception>
    [<CompiledName("EvaluateMatrix")>]
    let evaluateMatrix (distances: float[,], queryLabels: int64[], galleryLabels: int64[], queryIsGallery: bool) =
        let q, g = RetrievalMetrics.checkMatrix distances queryLabels galleryLabels queryIsGallery
        let pairs = ResizeArray<float>()
        let same = ResizeArray<bool>()
        for i in 0 .. q - 1 do
            for j in 0 .. g - 1 do
                if not (queryIsGallery && i = j) then
                    pairs.Add distances.[i, j]
                    same.Add(queryLabels.[i] = galleryLabels.[j])
        let d, s = pairs.ToArray(), same.ToArray()
        if Array.forall id s then
            Validation.fail "galleryLabels" "every (query, gallery) pair has the same label in queryLabels and galleryLabels; at least one negative (different-label) pair is required."
        if not (Array.exists id s) then
            Validation.fail "galleryLabels" "no (query, gallery) pair has the same label in queryLabels and galleryLabels; at least one positive (same-label) pair is required."
        evaluate (d, s)

    /// <summary>Triplet accuracy: the fraction of triplets with d(a, p) &lt; d(a, n) (ties count as failures).</summary>
    /// <remarks><code>acc = (1/T) Σ_t [positiveDistances_t &lt; negativeDistances_t]</code> [3].</remarks>
    /// <param name="positiveDistances">[T] anchor–positive distances d(a_t, p_t), finite.</param>
    /// <param name="negativeDistances">[T] anchor–negative distances d(a_t, n_t), finite.</param>
    /// <returns>The accuracy in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">Empty or non-finite arrays, or a length mismatch.</exception>
    [<CompiledName("TripletAccuracy")>]
    let tripletAccuracy (positiveDistances: float[], negativeDistances: float[]) =
        Validation.finite "positiveDistances" positiveDistances
        Validation.nonEmpty "positiveDistances" positiveDistances
        Validation.finite "negativeDistances" negativeDistances
        Validation.sameLength "negativeDistances" positiveDistances.Length negativeDistances.Length "positiveDistances"
        let correct = Array.fold2 (fun c p n -> if p < n then c + 1 else c) 0 positiveDistances negativeDistances
        float correct / float positiveDistances.Length

    /// <summary>Triplet accuracy of index triplets (a_t, p_t, n_t) into a square distance matrix.</summary>
    /// <remarks><code>acc = (1/T) Σ_t [D(a_t, p_t) &lt; D(a_t, n_t)]</code>, reading row a_t (the anchor is the first
    /// argument, which matters for a non-symmetric divergence) [3].</remarks>
    /// <param name="distances">[N, N] distances, finite.</param>
    /// <param name="anchors">[T] anchor indices in [0, N).</param>
    /// <param name="positives">[T] positive indices in [0, N).</param>
    /// <param name="negatives">[T] negative indices in [0, N).</param>
    /// <returns>The accuracy in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">A non-square, empty or non-finite matrix, no triplet, index
    /// arrays of different lengths, or an index out of range.</exception>
    [<CompiledName("TripletAccuracyOfMatrix")>]
    let tripletAccuracyOfMatrix (distances: float[,], anchors: int[], positives: int[], negatives: int[]) =
        Validation.notNull "distances" distances
        let n = Array2D.length1 distances
        if n = 0 || Array2D.length2 distances <> n then
            Validation.fail "distances" $"distances has shape [{n},{Array2D.length2 distances}]; it must be N × N with N ≥ 1."
        Validation.finite2D "distances" distances
        Validation.nonEmpty "anchors" anchors
        Validation.notNull "positives" positives
        Validation.notNull "negatives" negatives
        Validation.sameLength "positives" anchors.Length positives.Length "anchors"
        Validation.sameLength "negatives" anchors.Length negatives.Length "anchors"
        let inRange (name: string) (indices: int[]) =
            indices
            |> Array.iteri (fun t i ->
                if i < 0 || i >= n then Validation.fail name $"{name}[{t}] = {i} is out of range; indices must lie in [0, {n}).")
        inRange "anchors" anchors
        inRange "positives" positives
        inRange "negatives" negatives
        tripletAccuracy (
            Array.map2 (fun a p -> distances.[a, p]) anchors positives,
            Array.map2 (fun a m -> distances.[a, m]) anchors negatives
        )
