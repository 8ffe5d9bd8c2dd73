namespace DistEmbed.Core

open System
open System.Collections.Generic

/// <summary>The result of <see cref="M:DistEmbed.Core.Clustering.KMeans"/>: the best of several k-means runs.</summary>
type KMeansResult =
    { /// <summary>[n] cluster of each point, in [0, k).</summary>
      Assignments: int[]
      /// <summary>[k, d] cluster centres.</summary>
      Centroids: float[,]
      /// <summary>Σ_i ‖x_i − c_{assignment(i)}‖², the within-cluster sum of squares.</summary>
      Inertia: float
      /// <summary>Lloyd iterations of the kept run.</summary>
      Iterations: int
      /// <summary>True when the kept run stopped because no assignment changed (false: the iteration cap was reached).</summary>
      Converged: bool }

/// <summary>
/// k-means clustering (k-means++ seeding [1], Lloyd iterations [2], several restarts) and the normalised mutual
/// information between two labelings [3], combined into the NMI clustering score of embeddings used in deep metric
/// learning [4].
/// </summary>
/// <remarks>
/// <code>
/// NMI(U, V) = MI(U, V) / ((H(U) + H(V)) / 2),   MI = Σ_{ij} (n_ij/n) log(n·n_ij / (a_i·b_j)),   H(U) = −Σ_i (a_i/n) log(a_i/n)
/// </code>
/// with n_ij the contingency counts and a_i, b_j its row and column sums: the arithmetic-mean normalisation of
/// scikit-learn's default <c>normalized_mutual_info_score</c>, including its limit cases (NMI = 1 when both labelings
/// have a single class, NMI = 0 when MI = 0 otherwise).
///
/// k-means minimises the inertia Σ_i ‖x_i − c_{a(i)}‖². Each run seeds with k-means++ (first centre uniform, each
/// next centre drawn with probability ∝ squared distance to the nearest chosen centre) and alternates "move each
/// centre to the mean of its points" and "assign each point to its nearest centre (lowest index on ties)" until no
/// assignment changes or the cap is reached. A cluster left empty is re-seeded at the point farthest from its own
/// centre. Of the restarts, the run with the lowest inertia is kept (the first on ties). All randomness comes from
/// one <c>System.Random(seed)</c>, so the result is a deterministic function of the inputs.
///
/// References:
/// [1] D. Arthur and S. Vassilvitskii, k-means++: The Advantages of Careful Seeding, SODA (2007).
/// [2] S. P. Lloyd, Least squares quantization in PCM, IEEE Transactions on Information Theory 28(2), 129–137 (1982).
/// [3] N. X. Vinh, J. Epps and J. Bailey, Information Theoretic Measures for Clusterings Comparison, JMLR 11,
///     2837–2854 (2010), eq. (NMI_sum).
/// [4] H. O. Song, Y. Xiang, S. Jegelka and S. Savarese, Deep Metric Learning via Lifted Structured Feature
///     Embedding, CVPR (2016), arXiv:1511.06452, §6 (NMI of k-means with k = number of classes).
/// </remarks>
[<RequireQualifiedAccess>]
module Clustering =

    /// The default cap on Lloyd iterations of kMeansNmi (scikit-learn's default max_iter).
    [<Literal>]
    let private DefaultMaxIterations = 300

    let private squaredDistance (points: float[,]) (i: int) (centroids: float[,]) (c: int) =
        let mutable s = 0.0
        for k in 0 .. Array2D.length2 points - 1 do
            let diff = points.[i, k] - centroids.[c, k]
            s <- s + diff * diff
        s

    let private nearest (points: float[,]) (centroids: float[,]) =
        Array.init (Array2D.length1 points) (fun i ->
            let mutable best = 0
            let mutable bestDistance = squaredDistance points i centroids 0
            for c in 1 .. Array2D.length1 centroids - 1 do
                let d = squaredDistance points i centroids c
                if d < bestDistance then
                    best <- c
                    bestDistance <- d
            best)

    let private seedPlusPlus (points: float[,]) (k: int) (random: Random) =
        let n, d = Array2D.length1 points, Array2D.length2 points
        let centroids = Array2D.zeroCreate k d
        let chosen = HashSet<int>()
        let take c i =
            chosen.Add i |> ignore
            for m in 0 .. d - 1 do
                centroids.[c, m] <- points.[i, m]
        take 0 (random.Next n)
        let closest = Array.init n (fun i -> squaredDistance points i centroids 0)
        for c in 1 .. k - 1 do
            let total = Array.sum closest
            let next =
                if total > 0.0 then
                    let target = random.NextDouble() * total
                    let mutable acc = 0.0
                    let mutable pick = -1
                    for i in 0 .. n - 1 do
                        if pick < 0 && closest.[i] > 0.0 then
                            acc <- acc + closest.[i]
                            if acc > target then pick <- i
                    // Rounding can leave target ≥ the running sum: take the last point with positive weight.
                    if pick >= 0 then pick else Array.findIndexBack (fun v -> v > 0.0) closest
                else
                    // Every point coincides with a chosen centre: take a point not chosen yet, uniformly.
                    let free = [| for i in 0 .. n - 1 do if not (chosen.Contains i) then i |]
                    free.[random.Next free.Length]
            take c next
            for i in 0 .. n - 1 do
                closest.[i] <- min closest.[i] (squaredDistance points i centroids c)
        centroids

    let private means (points: float[,]) (assignments: int[]) (k: int) =
        let n, d = Array2D.length1 points, Array2D.length2 points
        let centroids = Array2D.zeroCreate k d
        let counts = Array.zeroCreate k
        for i in 0 .. n - 1 do
            let c = assignments.[i]
            counts.[c] <- counts.[c] + 1
            for m in 0 .. d - 1 do
                centroids.[c, m] <- centroids.[c, m] + points.[i, m]
        for c in 0 .. k - 1 do
            if counts.[c] > 0 then
                for m in 0 .. d - 1 do
                    centroids.[c, m] <- centroids.[c, m] / float counts.[c]
        if Array.contains 0 counts then
            let far = Array.init n (fun i -> squaredDistance points i centroids assignments.[i])
            let used = HashSet<int>()
            for c in 0 .. k - 1 do
                if counts.[c] = 0 then
                    let mutable pick = -1
                    for i in 0 .. n - 1 do
                        if not (used.Contains i) && (pick < 0 || far.[i] > far.[pick]) then pick <- i
                    used.Add pick |> ignore
                    for m in 0 .. d - 1 do
                        centroids.[c, m] <- points.[pick, m]
        centroids

    let private lloyd (points: float[,]) (k: int) (maxIterations: int) (random: Random) =
        let mutable centroids = seedPlusPlus points k random
        let mutable assignments = nearest points centroids
        let mutable iterations = 0
        let mutable converged = false
        while not converged && iterations < maxIterations do
            centroids <- means points assignments k
            let next = nearest points centroids
            iterations <- iterations + 1
            converged <- next = assignments
            assignments <- next
        let inertia = Array.init (Array2D.length1 points) (fun i -> squaredDistance points i centroids assignments.[i]) |> Array.sum
        { Assignments = assignments
          Centroids = centroids
          Inertia = inertia
          Iterations = iterations
          Converged = converged }

    /// <summary>k-means clustering: the lowest-inertia run of several seeded k-means++ + Lloyd runs.</summary>
    /// <remarks>Minimises Σ_i ‖x_i − c_{a(i)}‖² locally; see the module remarks [1], [2]. Cost O(restarts ·
    /// iterations · n · k · d).</remarks>
    /// <param name="points">[n, d] points (n ≥ 1, d ≥ 1), finite.</param>
    /// <param name="clusters">k, with 1 ≤ k ≤ n.</param>
    /// <param name="restarts">Independent runs (≥ 1); the one with the lowest inertia is returned.</param>
    /// <param name="maxIterations">Cap on Lloyd iterations per run (≥ 1).</param>
    /// <param name="seed">Seed of the <c>System.Random</c> that drives every run.</param>
    /// <returns>Assignments [n], centroids [k, d], inertia, iterations and convergence of the kept run.</returns>
    /// <exception cref="T:System.ArgumentException">Empty or non-finite points, k outside [1, n], restarts &lt; 1 or
    /// maxIterations &lt; 1.</exception>
    [<CompiledName("KMeans")>]
    let kMeans (points: float[,], clusters: int, restarts: int, maxIterations: int, seed: int) =
        Validation.notNull "points" points
        let n, d = Array2D.length1 points, Array2D.length2 points
        if n = 0 || d = 0 then Validation.fail "points" $"points has shape [{n},{d}]; it must be n × d with n ≥ 1 and d ≥ 1."
        Validation.finite2D "points" points
        if clusters < 1 || clusters > n then
            Validation.fail "clusters" $"clusters = {clusters} is invalid; it must satisfy 1 ≤ clusters ≤ {n} (the number of points)."
        Validation.atLeastInt "restarts" 1 restarts
        Validation.atLeastInt "maxIterations" 1 maxIterations
        let random = Random(seed)
        let mutable best = lloyd points clusters maxIterations random
        for _ in 2 .. restarts do
            let run = lloyd points clusters maxIterations random
            if run.Inertia < best.Inertia then best <- run
        best

    /// Entropy (natural log) of the counts.
    let private entropy (counts: seq<int>) (n: float) =
        counts |> Seq.sumBy (fun c -> let p = float c / n in if c = 0 then 0.0 else -p * log p)

    /// <summary>Normalised mutual information of two labelings, arithmetic-mean normalisation.</summary>
    /// <remarks><code>NMI = MI(U, V) / ((H(U) + H(V)) / 2)</code> (natural logarithms) [3]; 1 when both labelings
    /// have a single class, 0 when MI = 0 otherwise — scikit-learn's default
    /// <c>normalized_mutual_info_score(labelsTrue, labelsPredicted)</c>. Symmetric in its arguments and invariant under
    /// renaming the labels of either labeling.</remarks>
    /// <param name="labelsTrue">[n] first labeling (n ≥ 1).</param>
    /// <param name="labelsPredicted">[n] second labeling.</param>
    /// <returns>NMI in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">An empty labeling or a length mismatch.</exception>
    [<CompiledName("NormalizedMutualInformation")>]
    let normalizedMutualInformation (labelsTrue: int64[], labelsPredicted: int64[]) =
        Validation.nonEmpty "labelsTrue" labelsTrue
        Validation.notNull "labelsPredicted" labelsPredicted
        Validation.sameLength "labelsPredicted" labelsTrue.Length labelsPredicted.Length "labelsTrue"
        let n = float labelsTrue.Length
        let rows = labelsTrue |> Array.countBy id |> dict
        let columns = labelsPredicted |> Array.countBy id |> dict
        if rows.Count = 1 && columns.Count = 1 then 1.0
        else
            let cells = Array.zip labelsTrue labelsPredicted |> Array.countBy id
            let mutable mi = 0.0
            for (u, v), c in cells do
                let c = float c
                mi <- mi + (c / n) * log (n * c / (float rows.[u] * float columns.[v]))
            let mi = max mi 0.0
            if mi = 0.0 then 0.0
            else mi / ((entropy rows.Values n + entropy columns.Values n) / 2.0)

    /// log k! for k = 0..n (compensated sums of log i).
    let private logFactorials (n: int) =
        let table = Array.zeroCreate (n + 1)
        let mutable sum = 0.0
        let mutable carry = 0.0
        for k in 1 .. n do
            let y = log (float k) - carry
            let t = sum + y
            carry <- (t - sum) - y
            sum <- t
            table.[k] <- sum
        table

    /// <summary>Adjusted mutual information of two labelings, arithmetic-mean normalisation.</summary>
    /// <remarks>
    /// <para><code>AMI = (MI − E[MI]) / ((H(U) + H(V))/2 − E[MI])</code> (natural logarithms) [5, eq. 24 with the
    /// arithmetic mean of the entropies], where E[MI] is the expected mutual information of two random labelings with the
    /// same cluster sizes a_i, b_j under the hypergeometric model (permutation model) [5, eq. 24a]:
    /// E[MI] = Σ_i Σ_j Σ_{n_ij = max(1, a_i + b_j − N)}^{min(a_i, b_j)} (n_ij/N) log(N n_ij/(a_i b_j))
    /// · a_i! b_j! (N − a_i)! (N − b_j)! / (N! n_ij! (a_i − n_ij)! (b_j − n_ij)! (N − a_i − b_j + n_ij)!).</para>
    /// <para>Conventions of scikit-learn's <c>adjusted_mutual_info_score(labelsTrue, labelsPredicted)</c> (default
    /// <c>average_method="arithmetic"</c>): 1 when both labelings have a single class; E[MI] = 0 when either has a single
    /// class (so one single-class labeling against a split one gives 0); the denominator keeps its sign and is at least
    /// float64's ε in magnitude. One deliberate difference: two labelings that induce the same partition score exactly
    /// 1 (a perfect match). scikit-learn computes 0/ε noise there when MI = E[MI] (every item its own cluster), which
    /// gives 0 for n = 2 and 1 for n ≥ 3. AMI is symmetric, invariant under renaming labels, 1 for identical partitions,
    /// near 0 (and possibly negative) for independent ones.</para>
    /// <para>[5] N. X. Vinh, J. Epps, J. Bailey, "Information Theoretic Measures for Clusterings Comparison: Variants,
    /// Properties, Normalization and Correction for Chance", JMLR 11, 2010, eq. 24 and Table 2.</para>
    /// </remarks>
    /// <param name="labelsTrue">[n] first labeling (n ≥ 1).</param>
    /// <param name="labelsPredicted">[n] second labeling.</param>
    /// <returns>AMI, at most 1.</returns>
    /// <exception cref="T:System.ArgumentException">An empty labeling or a length mismatch.</exception>
    [<CompiledName("AdjustedMutualInformation")>]
    let adjustedMutualInformation (labelsTrue: int64[], labelsPredicted: int64[]) =
        Validation.nonEmpty "labelsTrue" labelsTrue
        Validation.notNull "labelsPredicted" labelsPredicted
        Validation.sameLength "labelsPredicted" labelsTrue.Length labelsPredicted.Length "labelsTrue"
        let n = labelsTrue.Length
        let rowIndex = labelsTrue |> Array.distinct |> Array.sort |> Array.mapi (fun i l -> l, i) |> dict
        let columnIndex = labelsPredicted |> Array.distinct |> Array.sort |> Array.mapi (fun i l -> l, i) |> dict
        let r, c = rowIndex.Count, columnIndex.Count
        let cells = Array.zip labelsTrue labelsPredicted |> Array.countBy (fun (u, v) -> rowIndex.[u], columnIndex.[v]) |> Array.sortBy fst
        let samePartition = cells.Length = r && cells.Length = c
        if (r = 1 && c = 1) || samePartition then 1.0
        else
            let a = Array.zeroCreate r
            let b = Array.zeroCreate c
            for (i, j), k in cells do
                a.[i] <- a.[i] + k
                b.[j] <- b.[j] + k
            let nf = float n
            // MI as scikit-learn's mutual_info_score: per cell p (log n_ij − log N) + p (log N + log N − log a_i b_j).
            let mi =
                if r = 1 || c = 1 then 0.0
                else
                    let terms =
                        cells |> Array.map (fun ((i, j), k) ->
                            let p = float k / nf
                            let t = p * (log (float k) - log nf) + p * (-(log (float a.[i] * float b.[j])) + log nf + log nf)
                            if abs t < 2.220446049250313e-16 then 0.0 else t)
                    max (Array.sum terms) 0.0
            let emi =
                if r = 1 || c = 1 then 0.0
                else
                    let lf = logFactorials n
                    let mutable total = 0.0
                    for i in 0 .. r - 1 do
                        for j in 0 .. c - 1 do
                            let ai, bj = a.[i], b.[j]
                            for nij in max 1 (ai + bj - n) .. min ai bj do
                                let term2 = log nf + log (float nij) - log (float ai) - log (float bj)
                                let gln = lf.[ai] + lf.[bj] + lf.[n - ai] + lf.[n - bj] - lf.[nij] - lf.[n] - lf.[ai - nij] - lf.[bj - nij] - lf.[n - ai - bj + nij]
                                total <- total + (float nij / nf) * term2 * exp gln
                    total
            let entropyOf (counts: int[]) = if counts.Length = 1 then 0.0 else entropy counts nf
            let normalizer = (entropyOf a + entropyOf b) / 2.0
            let eps = 2.220446049250313e-16
            let denominator = normalizer - emi
            let denominator = if denominator < 0.0 then min denominator (-eps) else max denominator eps
            (mi - emi) / denominator

    /// <summary>
    /// NMI of the k-means clustering of embeddings against their class labels, with k = the number of distinct
    /// labels [4].
    /// </summary>
    /// <remarks><code>NMI(labels, kMeans(embeddings, k = |unique(labels)|).Assignments)</code> with at most 300
    /// Lloyd iterations per restart (scikit-learn's default cap); see <c>kMeans</c> and
    /// <c>normalizedMutualInformation</c>.</remarks>
    /// <param name="embeddings">[n, d] embedding vectors, finite.</param>
    /// <param name="labels">[n] class labels.</param>
    /// <param name="restarts">k-means restarts (≥ 1); the lowest-inertia clustering is scored.</param>
    /// <param name="seed">Seed of the k-means randomness.</param>
    /// <returns>NMI in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">Empty or non-finite embeddings, labels whose length differs from
    /// the number of embeddings, or restarts &lt; 1.</exception>
    [<CompiledName("KMeansNmi")>]
    let kMeansNmi (embeddings: float[,], labels: int64[], restarts: int, seed: int) =
        Validation.notNull "embeddings" embeddings
        Validation.notNull "labels" labels
        let n, d = Array2D.length1 embeddings, Array2D.length2 embeddings
        if n = 0 || d = 0 then
            Validation.fail "embeddings" $"embeddings has shape [{n},{d}]; it must be n × d with n ≥ 1 and d ≥ 1."
        Validation.sameLength "labels" n labels.Length "the rows of embeddings"
        Validation.finite2D "embeddings" embeddings
        Validation.atLeastInt "restarts" 1 restarts
        let k = labels |> Array.distinct |> Array.length
        let clustering = kMeans (embeddings, k, restarts, DefaultMaxIterations, seed)
        normalizedMutualInformation (labels, clustering.Assignments |> Array.map int64)

    /// <summary>
    /// NMI and AMI of one k-means clustering of embeddings against their class labels (k = the number of distinct
    /// labels): the clustering of <c>kMeansNmi</c>, scored by <c>normalizedMutualInformation</c> and
    /// <c>adjustedMutualInformation</c>.
    /// </summary>
    /// <param name="embeddings">[n, d] embedding vectors, finite.</param>
    /// <param name="labels">[n] class labels.</param>
    /// <param name="restarts">k-means restarts (≥ 1); the lowest-inertia clustering is scored.</param>
    /// <param name="seed">Seed of the k-means randomness.</param>
    /// <returns>[| NMI; AMI |].</returns>
    /// <exception cref="T:System.ArgumentException">As <c>kMeansNmi</c>.</exception>
    [<CompiledName("KMeansNmiAndAmi")>]
    let kMeansNmiAndAmi (embeddings: float[,], labels: int64[], restarts: int, seed: int) : float[] =
        Validation.notNull "embeddings" embeddings
        Validation.notNull "labels" labels
        let n, d = Array2D.length1 embeddings, Array2D.length2 embeddings
        if n = 0 || d = 0 then
            Validation.fail "embeddings" $"embeddings has shape [{n},{d}]; it must be n × d with n ≥ 1 and d ≥ 1."
        Validation.sameLength "labels" n labels.Length "the rows of embeddings"
        Validation.finite2D "embeddings" embeddings
        Validation.atLeastInt "restarts" 1 restarts
        let k = labels |> Array.distinct |> Array.length
        let assignments = (kMeans (embeddings, k, restarts, DefaultMaxIterations, seed)).Assignments |> Array.map int64
        [| normalizedMutualInformation (labels, assignments); adjustedMutualInformation (labels, assignments) |]
