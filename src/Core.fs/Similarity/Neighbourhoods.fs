namespace DistEmbed.Core.Similarity

open System
open DistEmbed.Core

/// <summary>
/// Neighbourhood-based similarity of two embedding spaces of the same N items: the nearest-neighbour graph
/// similarity NNGS [1], its normalisation against the random baseline [1], and mutual k-NN alignment [2].
/// </summary>
/// <remarks>
/// With N_X(i), N_Y(i) the exact k-NN sets of item i in each space (self excluded, ties to the smaller index; see
/// <c>NearestNeighbours</c>):
/// <code>NNGS(X, Y; k) = (1/N) Σ_i |N_X(i) ∩ N_Y(i)| / |N_X(i) ∪ N_Y(i)|            [1, Eq. 1–2]
/// H(k) = k / (2n − k),  n = N − 1                                                [1, Section 3]
/// NNGS_norm(X, Y; k) = (NNGS − H(k)) / (1 − H(k))   (defined as 1 at k = N − 1, where NNGS = H = 1)
/// mKNN(X, Y; k) = (1/N) Σ_i |N_X(i) ∩ N_Y(i)| / k                                 [2, Section 2]</code>
/// H(k) is the Jaccard index of two independent uniformly random k-subsets of n items with the intersection
/// replaced by its mean k²/n. NNGS is symmetric in X and Y, equals 1 when the graphs coincide, and inherits every
/// invariance of the distance (rotation, translation and scale for Euclidean; per-item positive scaling for cosine).
/// Small k compares local structure, k near N global structure: the curve k ↦ NNGS(k) shows at which scale two
/// spaces agree. The k-NN graph of each space is computed once at the largest k asked for; smaller k are its
/// prefixes. Counting uses a marker array: O(N k) per k.
///
/// References:
/// [1] T. Tavares, D. Ayres, P. Smaragdis, Measuring similarity between embedding spaces using induced neighborhood
///     graphs, arXiv:2411.08687 (2024).
/// [2] M. Huh, B. Cheung, T. Wang, P. Isola, The Platonic Representation Hypothesis, ICML 2024, arXiv:2405.07987.
/// </remarks>
[<RequireQualifiedAccess>]
module Neighbourhoods =

    let private checkK (k: int) (count: int) =
        if k < 1 || k > count - 1 then
            Validation.fail "k" $"k = {k} is invalid; it must lie in [1, N − 1] = [1, {count - 1}]."

    /// <summary>The random baseline H(k) = k / (2n − k), n = N − 1 [1, Section 3].</summary>
    /// <param name="k">Neighbourhood size, 1 ≤ k ≤ N − 1.</param>
    /// <param name="count">The number of items N ≥ 2.</param>
    /// <returns>H(k) in (0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">count &lt; 2 (names count); k out of range (names k).</exception>
    [<CompiledName("RandomBaseline")>]
    let randomBaseline (k: int, count: int) : float =
        if count < 2 then Validation.fail "count" $"count = {count} is invalid; it must be ≥ 2."
        checkK k count
        let n = float (count - 1)
        float k / (2.0 * n - float k)

    /// <summary>Normalises an NNGS value against the random baseline: (NNGS − H(k)) / (1 − H(k)) [1, Section 3].</summary>
    /// <param name="value">An NNGS value in [0, 1].</param>
    /// <param name="k">Its neighbourhood size, 1 ≤ k ≤ N − 1.</param>
    /// <param name="count">The number of items N ≥ 2.</param>
    /// <returns>0 for chance agreement, 1 for identical graphs, negative below chance; 1 at k = N − 1.</returns>
    /// <exception cref="T:System.ArgumentException">value outside [0, 1] or NaN (names value); count or k out of range.</exception>
    [<CompiledName("Normalize")>]
    let normalize (value: float, k: int, count: int) : float =
        if Double.IsNaN value || value < 0.0 || value > 1.0 then
            Validation.fail "value" $"value = {value} is invalid; an NNGS value lies in [0, 1]."
        let h = randomBaseline (k, count)
        if h >= 1.0 then 1.0 else (value - h) / (1.0 - h)

    /// <summary>Turns a fraction f of the items into a neighbourhood size k = ⌈f (N − 1)⌉.</summary>
    /// <remarks>A product f (N − 1) that exceeds an integer by less than 1e-9 (rounding, as in 0.1 × 10) counts as that integer.</remarks>
    /// <param name="fraction">0 &lt; f ≤ 1.</param>
    /// <param name="count">The number of items N ≥ 2.</param>
    /// <returns>k in [1, N − 1].</returns>
    /// <exception cref="T:System.ArgumentException">f outside (0, 1] (names fraction); count &lt; 2 (names count).</exception>
    [<CompiledName("KFromFraction")>]
    let kFromFraction (fraction: float, count: int) : int =
        if Double.IsNaN fraction || fraction <= 0.0 || fraction > 1.0 then
            Validation.fail "fraction" $"fraction = {fraction} is invalid; it must lie in (0, 1]."
        if count < 2 then Validation.fail "count" $"count = {count} is invalid; it must be ≥ 2."
        max 1 (min (count - 1) (int (ceil (fraction * float (count - 1) - 1e-9))))

    let private checkKs (ks: int[]) (x: NeighbourGraph) (y: NeighbourGraph) =
        Validation.notNull "x" x
        Validation.notNull "y" y
        Validation.nonEmpty "ks" ks
        if y.Count <> x.Count then
            Validation.fail "y" $"y covers {y.Count} items but x covers {x.Count}; both graphs must cover the same N items."
        let available = min x.K y.K
        ks
        |> Array.iteri (fun j k ->
            if k < 1 || k > available then
                Validation.fail "ks" $"ks[{j}] = {k} is invalid; it must lie in [1, {available}] (the neighbours both graphs hold).")

    /// The overlap sizes |N_X(i) ∩ N_Y(i)| at neighbourhood size k of two index arrays [N, ≥ k], by a marker array.
    let private overlapsOf (xi: int[,]) (yi: int[,]) (k: int) : int[] =
        let n = Array2D.length1 xi
        let marker = Array.create n -1
        Array.init n (fun i ->
            for j in 0 .. k - 1 do
                marker.[yi.[i, j]] <- i
            let mutable shared = 0
            for j in 0 .. k - 1 do
                if marker.[xi.[i, j]] = i then shared <- shared + 1
            shared)

    /// NNGS at each k of two checked index arrays [1, Eq. 1–2].
    let private nngsOf (xi: int[,]) (yi: int[,]) (ks: int[]) =
        ks |> Array.map (fun k -> overlapsOf xi yi k |> Array.averageBy (fun m -> float m / float (2 * k - m)))

    /// Mutual k-NN alignment at each k of two checked index arrays [2, Section 2].
    let private mutualKnnOf (xi: int[,]) (yi: int[,]) (ks: int[]) =
        ks |> Array.map (fun k -> overlapsOf xi yi k |> Array.averageBy (fun m -> float m / float k))

    /// <summary>NNGS of two k-NN graphs at each neighbourhood size in <paramref name="ks"/> [1, Eq. 1–2].</summary>
    /// <param name="x">The graph of the first space (N items, ≥ max ks neighbours each).</param>
    /// <param name="y">The graph of the second space (the same N items).</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, min(x.K, y.K)]; each uses the first k columns.</param>
    /// <returns>One NNGS value in [0, 1] per entry of ks.</returns>
    /// <exception cref="T:System.ArgumentException">Different N (names y); ks empty or out of range (names ks).</exception>
    [<CompiledName("NngsOfGraphs")>]
    let nngsOfGraphs (x: NeighbourGraph, y: NeighbourGraph, ks: int[]) : float[] =
        checkKs ks x y
        nngsOf x.Indices y.Indices ks

    /// <summary>Normalised NNGS (NNGS − H(k)) / (1 − H(k)) of two k-NN graphs [1, Section 3].</summary>
    /// <param name="x">The graph of the first space.</param>
    /// <param name="y">The graph of the second space (the same N items).</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, min(x.K, y.K)].</param>
    /// <returns>One value per entry of ks: 0 at chance, 1 for identical graphs.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>NngsOfGraphs</c>.</exception>
    [<CompiledName("NormalizedNngsOfGraphs")>]
    let normalizedNngsOfGraphs (x: NeighbourGraph, y: NeighbourGraph, ks: int[]) : float[] =
        nngsOfGraphs (x, y, ks) |> Array.mapi (fun j v -> normalize (v, ks.[j], x.Count))

    /// <summary>Mutual k-NN alignment (1/N) Σ_i |N_X(i) ∩ N_Y(i)| / k of two graphs [2, Section 2].</summary>
    /// <param name="x">The graph of the first space.</param>
    /// <param name="y">The graph of the second space (the same N items).</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, min(x.K, y.K)].</param>
    /// <returns>One value in [0, 1] per entry of ks.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>NngsOfGraphs</c>.</exception>
    [<CompiledName("MutualKnnOfGraphs")>]
    let mutualKnnOfGraphs (x: NeighbourGraph, y: NeighbourGraph, ks: int[]) : float[] =
        checkKs ks x y
        mutualKnnOf x.Indices y.Indices ks

    /// The neighbour indices of both graphs at the largest k after checking the inputs (the distances are not
    /// needed: both graphs in one pool of workers, <c>NearestNeighbours.exactIndicesOfMany</c>).
    let private graphs (x: IEmbeddingBatch) (y: IEmbeddingBatch) (distance: IDistance) (ks: int[]) (blockSize: int) =
        Validation.notNull "x" x
        Validation.notNull "y" y
        Validation.nonEmpty "ks" ks
        if y.Count <> x.Count then
            Validation.fail "y" $"y has {y.Count} items but x has {x.Count}; both spaces must describe the same N items."
        let n = x.Count
        if n < 2 then Validation.fail "x" $"x has {n} item(s); neighbourhoods need N ≥ 2."
        ks
        |> Array.iteri (fun j k ->
            if k < 1 || k > n - 1 then
                Validation.fail "ks" $"ks[{j}] = {k} is invalid; it must lie in [1, N − 1] = [1, {n - 1}].")
        let kMax = Array.max ks
        let both = NearestNeighbours.exactIndicesOfMany [| "x", x; "y", y |] distance kMax blockSize
        both.[0], both.[1]

    /// <summary>NNGS(X, Y; k) for each k: both exact k-NN graphs under one distance, then the mean Jaccard index [1].</summary>
    /// <param name="x">The first space: N ≥ 2 items of the representation the distance accepts.</param>
    /// <param name="y">The second space: the same N items (its dimension may differ).</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="blockSize">k-NN block size (0 = automatic; see <c>NearestNeighbours.Exact</c>).</param>
    /// <returns>One NNGS value in [0, 1] per entry of ks.</returns>
    /// <exception cref="T:System.ArgumentException">Different N (names y); ks empty or out of range (names ks); as for <c>NearestNeighbours.Exact</c>.</exception>
    [<CompiledName("Nngs")>]
    let nngs (x: IEmbeddingBatch, y: IEmbeddingBatch, distance: IDistance, ks: int[], blockSize: int) : float[] =
        let gx, gy = graphs x y distance ks blockSize
        nngsOf gx gy ks

    /// <summary>Normalised NNGS (NNGS − H(k)) / (1 − H(k)) for each k [1, Section 3].</summary>
    /// <param name="x">The first space (N ≥ 2 items).</param>
    /// <param name="y">The second space (the same N items).</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="blockSize">k-NN block size (0 = automatic).</param>
    /// <returns>One value per entry of ks.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>Nngs</c>.</exception>
    [<CompiledName("NormalizedNngs")>]
    let normalizedNngs (x: IEmbeddingBatch, y: IEmbeddingBatch, distance: IDistance, ks: int[], blockSize: int) : float[] =
        let gx, gy = graphs x y distance ks blockSize
        nngsOf gx gy ks |> Array.mapi (fun j v -> normalize (v, ks.[j], x.Count))

    /// <summary>Mutual k-NN alignment for each k [2, Section 2].</summary>
    /// <param name="x">The first space (N ≥ 2 items).</param>
    /// <param name="y">The second space (the same N items).</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="blockSize">k-NN block size (0 = automatic).</param>
    /// <returns>One value in [0, 1] per entry of ks.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>Nngs</c>.</exception>
    [<CompiledName("MutualKnn")>]
    let mutualKnn (x: IEmbeddingBatch, y: IEmbeddingBatch, distance: IDistance, ks: int[], blockSize: int) : float[] =
        let gx, gy = graphs x y distance ks blockSize
        mutualKnnOf gx gy ks
