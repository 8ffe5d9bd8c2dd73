namespace DistEmbed.Core.Reference

open System
open DistEmbed.Core

/// <summary>
/// Float64 reference of the embedding-space similarity measures on plain arrays: exact k-nearest-neighbour graphs
/// from a distance matrix, the neighbourhood graph similarity NNGS and its normalised form, mutual k-NN alignment,
/// and centred kernel alignment (CKA) with the biased and the unbiased HSIC estimator. Straightforward O(N²) forms,
/// written for checking the tensor implementation in <c>DistEmbed.Core.Similarity</c>.
/// </summary>
/// <remarks>
/// k-NN graph: N(i) = the k items j ≠ i with the smallest d(i, j), ties broken by the smaller index j.
/// <code>NNGS(X, Y; k) = (1/N) Σ_i |N_X(i) ∩ N_Y(i)| / |N_X(i) ∪ N_Y(i)|                     [1, Eq. 1–2]
/// H(k) = k / (2n − k), n = N − 1  (random baseline);  NNGS_norm = (NNGS − H) / (1 − H)       [1, Section 3]
/// mKNN(X, Y; k) = (1/N) Σ_i |N_X(i) ∩ N_Y(i)| / k                                            [2, Section 2]
/// HSIC_b(K, L) = tr(K H L H) / (N − 1)²,  H = I − 11ᵀ/N                                      [3, Eq. 3]
/// HSIC_u(K, L) = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((N−1)(N−2)) − 2/(N−2) · 1ᵀK̃L̃1] / (N(N−3))          [4, Eq. 5]
/// CKA(K, L) = HSIC(K, L) / √(HSIC(K, K) HSIC(L, L))                                          [3, Eq. 4]</code>
/// K̃, L̃ are K, L with their diagonals set to zero. Linear CKA uses K = X_c X_cᵀ with column-centred features X_c;
/// RBF CKA uses K_ij = exp(−d(x_i, x_j)² / (2σ²)).
///
/// References:
/// [1] T. Tavares, D. Ayres, P. Smaragdis, Measuring similarity between embedding spaces using induced neighborhood
///     graphs, arXiv:2411.08687 (2024).
/// [2] M. Huh, B. Cheung, T. Wang, P. Isola, The Platonic Representation Hypothesis, ICML 2024, arXiv:2405.07987.
/// [3] S. Kornblith, M. Norouzi, H. Lee, G. Hinton, Similarity of Neural Network Representations Revisited,
///     ICML 2019, arXiv:1905.00414.
/// [4] L. Song, A. Smola, A. Gretton, J. Bedo, K. Borgwardt, Feature Selection via Dependence Maximization,
///     JMLR 13, 1393–1434 (2012).
/// </remarks>
[<RequireQualifiedAccess>]
module SpaceSimilarity =

    let private checkPoints (name: string) (points: float[,]) =
        Validation.notNull name points
        if Array2D.length1 points < 2 || Array2D.length2 points < 1 then
            Validation.fail
                name
                $"{name} has shape [{Array2D.length1 points},{Array2D.length2 points}]; it must be [N, d] with N ≥ 2 and d ≥ 1."
        Validation.finite2D name points

    let private checkSquare (name: string) (matrix: float[,]) =
        Validation.notNull name matrix
        let n = Array2D.length1 matrix
        if n < 2 || Array2D.length2 matrix <> n then
            Validation.fail name $"{name} has shape [{n},{Array2D.length2 matrix}]; it must be a square N × N matrix with N ≥ 2."
        Validation.finite2D name matrix

    /// <summary>The N × N matrix of distances between the rows of <paramref name="points"/>, from the differences.</summary>
    /// <param name="points">N × d points (N ≥ 2, d ≥ 1), finite.</param>
    /// <param name="metric"><c>euclidean</c> ‖x − y‖₂, <c>sqeuclidean</c> ‖x − y‖₂² or <c>cosine</c> 1 − ⟨x, y⟩/(‖x‖ ‖y‖) (a zero vector has distance 1).</param>
    /// <returns>N × N, zero diagonal for euclidean and sqeuclidean.</returns>
    /// <exception cref="T:System.ArgumentException">Bad shape or non-finite point (names points); unknown metric (names metric).</exception>
    [<CompiledName("PairwiseDistances")>]
    let pairwiseDistances (points: float[,], metric: string) : float[,] =
        checkPoints "points" points
        let n, d = Array2D.length1 points, Array2D.length2 points
        let row i = Array.init d (fun k -> points.[i, k])
        let rows = Array.init n row
        let sq (x: float[]) (y: float[]) = Array.fold2 (fun acc a b -> acc + (a - b) * (a - b)) 0.0 x y
        match metric with
        | "euclidean" -> Array2D.init n n (fun i j -> sqrt (sq rows.[i] rows.[j]))
        | "sqeuclidean" -> Array2D.init n n (fun i j -> sq rows.[i] rows.[j])
        | "cosine" ->
            let norm (x: float[]) = sqrt (Array.sumBy (fun v -> v * v) x)
            let norms = rows |> Array.map norm
            Array2D.init n n (fun i j ->
                if norms.[i] = 0.0 || norms.[j] = 0.0 then 1.0
                else
                    let c = Array.fold2 (fun acc a b -> acc + a * b) 0.0 rows.[i] rows.[j] / (norms.[i] * norms.[j])
                    min 2.0 (max 0.0 (1.0 - c)))
        | other ->
            Validation.fail "metric" $"metric '{other}' is unknown; the reference knows euclidean, sqeuclidean and cosine."

    /// <summary>The exact k-nearest-neighbour graph of a distance matrix, self excluded, ties to the smaller index.</summary>
    /// <param name="distances">N × N distances (N ≥ 2), finite; row i holds d(i, ·).</param>
    /// <param name="k">Neighbours per item, 1 ≤ k ≤ N − 1.</param>
    /// <returns>N × k indices: row i lists N(i) by increasing (d(i, j), j).</returns>
    /// <exception cref="T:System.ArgumentException">Not square or non-finite (names distances); k out of range (names k).</exception>
    [<CompiledName("NearestNeighbours")>]
    let nearestNeighbours (distances: float[,], k: int) : int[,] =
        checkSquare "distances" distances
        let n = Array2D.length1 distances
        if k < 1 || k > n - 1 then
            Validation.fail "k" $"k = {k} is invalid; it must lie in [1, N − 1] = [1, {n - 1}]."
        let result = Array2D.zeroCreate n k
        for i in 0 .. n - 1 do
            let order =
                [| for j in 0 .. n - 1 do if j <> i then j |]
                |> Array.sortWith (fun a b ->
                    let c = compare distances.[i, a] distances.[i, b]
                    if c <> 0 then c else compare a b)
            for j in 0 .. k - 1 do
                result.[i, j] <- order.[j]
        result

    let private checkGraphs (x: int[,]) (y: int[,]) (k: int) =
        Validation.notNull "x" x
        Validation.notNull "y" y
        let n = Array2D.length1 x
        if Array2D.length1 y <> n then
            Validation.fail "y" $"y has {Array2D.length1 y} rows but x has {n}; both graphs must cover the same N items."
        if k < 1 || k > Array2D.length2 x || k > Array2D.length2 y then
            Validation.fail
                "k"
                $"k = {k} is invalid; it must lie in [1, {min (Array2D.length2 x) (Array2D.length2 y)}] (the neighbours the graphs hold)."

    /// The sizes |N_X(i) ∩ N_Y(i)| over the first k columns of both graphs.
    let private overlaps (x: int[,]) (y: int[,]) (k: int) =
        Array.init (Array2D.length1 x) (fun i ->
            let ys = set [ for j in 0 .. k - 1 -> y.[i, j] ]
            Seq.sumBy (fun j -> if ys.Contains x.[i, j] then 1 else 0) [ 0 .. k - 1 ])

    /// <summary>NNGS: the mean Jaccard index of the two k-NN sets of each item [1, Eq. 1–2].</summary>
    /// <param name="x">N × k_x neighbour indices of the first space.</param>
    /// <param name="y">N × k_y neighbour indices of the second space.</param>
    /// <param name="k">The neighbourhood size used: the first k columns of each graph, 1 ≤ k ≤ min(k_x, k_y).</param>
    /// <returns>A value in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">Row counts differ (names y); k out of range (names k).</exception>
    [<CompiledName("Nngs")>]
    let nngs (x: int[,], y: int[,], k: int) : float =
        checkGraphs x y k
        overlaps x y k |> Array.averageBy (fun m -> float m / float (2 * k - m))

    /// <summary>Mutual k-NN alignment: the mean fraction of shared neighbours [2, Section 2].</summary>
    /// <param name="x">N × k_x neighbour indices of the first space.</param>
    /// <param name="y">N × k_y neighbour indices of the second space.</param>
    /// <param name="k">The neighbourhood size, 1 ≤ k ≤ min(k_x, k_y).</param>
    /// <returns>A value in [0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">Row counts differ (names y); k out of range (names k).</exception>
    [<CompiledName("MutualKnn")>]
    let mutualKnn (x: int[,], y: int[,], k: int) : float =
        checkGraphs x y k
        overlaps x y k |> Array.averageBy (fun m -> float m / float k)

    /// <summary>The random baseline H(k) = k / (2n − k), n = N − 1, of NNGS [1, Section 3].</summary>
    /// <param name="k">1 ≤ k ≤ N − 1.</param>
    /// <param name="count">The number of items N ≥ 2.</param>
    /// <returns>H(k) in (0, 1].</returns>
    /// <exception cref="T:System.ArgumentException">count &lt; 2 (names count); k out of range (names k).</exception>
    [<CompiledName("RandomBaseline")>]
    let randomBaseline (k: int, count: int) : float =
        if count < 2 then Validation.fail "count" $"count = {count} is invalid; it must be ≥ 2."
        if k < 1 || k > count - 1 then
            Validation.fail "k" $"k = {k} is invalid; it must lie in [1, N − 1] = [1, {count - 1}]."
        let n = float (count - 1)
        float k / (2.0 * n - float k)

    /// <summary>The Hilbert–Schmidt independence criterion of two N × N kernel matrices [3, Eq. 3], [4, Eq. 5].</summary>
    /// <param name="k">N × N kernel matrix of the first space (N ≥ 2, or N ≥ 4 when unbiased), finite.</param>
    /// <param name="l">N × N kernel matrix of the second space, finite.</param>
    /// <param name="unbiased">False: HSIC_b = tr(KHLH)/(N−1)²; true: Song et al.'s unbiased estimator HSIC_u.</param>
    /// <returns>The estimate (HSIC_u may be negative).</returns>
    /// <exception cref="T:System.ArgumentException">Not square, non-finite, sizes differ (names l), or N &lt; 4 when unbiased (names k).</exception>
    [<CompiledName("Hsic")>]
    let hsic (k: float[,], l: float[,], unbiased: bool) : float =
        checkSquare "k" k
        checkSquare "l" l
        let n = Array2D.length1 k
        if Array2D.length1 l <> n then
            Validation.fail "l" $"l is {Array2D.length1 l} × {Array2D.length1 l} but k is {n} × {n}; they must match."
        let nf = float n
        if not unbiased then
            let centre (m: float[,]) =
                let rowMean = Array.init n (fun i -> Seq.averageBy (fun j -> m.[i, j]) [ 0 .. n - 1 ])
                let colMean = Array.init n (fun j -> Seq.averageBy (fun i -> m.[i, j]) [ 0 .. n - 1 ])
                let all = Array.average rowMean
                Array2D.init n n (fun i j -> m.[i, j] - rowMean.[i] - colMean.[j] + all)
            let kc = centre k
            let lc = centre l
            let mutable s = 0.0
            for i in 0 .. n - 1 do
                for j in 0 .. n - 1 do
                    s <- s + kc.[i, j] * lc.[j, i]
            s / ((nf - 1.0) * (nf - 1.0))
        else
            if n < 4 then Validation.fail "k" $"k is {n} × {n}; the unbiased HSIC needs N ≥ 4."
            let kt = Array2D.init n n (fun i j -> if i = j then 0.0 else k.[i, j])
            let lt = Array2D.init n n (fun i j -> if i = j then 0.0 else l.[i, j])
            let mutable trace = 0.0
            for i in 0 .. n - 1 do
                for j in 0 .. n - 1 do
                    trace <- trace + kt.[i, j] * lt.[j, i]
            let rowSums (m: float[,]) = Array.init n (fun i -> Seq.sumBy (fun j -> m.[i, j]) [ 0 .. n - 1 ])
            let kr = rowSums kt
            let lr = rowSums lt
            let sumK = Array.sum kr
            let sumL = Array.sum lr
            let cross = Array.fold2 (fun acc a b -> acc + a * b) 0.0 kr lr
            (trace + sumK * sumL / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * cross) / (nf * (nf - 3.0))

    /// <summary>Centred kernel alignment HSIC(K, L)/√(HSIC(K, K) HSIC(L, L)) of two kernel matrices [3, Eq. 4].</summary>
    /// <param name="k">N × N kernel matrix of the first space.</param>
    /// <param name="l">N × N kernel matrix of the second space.</param>
    /// <param name="unbiased">True for the unbiased HSIC estimator [4].</param>
    /// <returns>CKA (in [0, 1] for the biased estimator).</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>Hsic</c>; a space whose HSIC with itself is not positive (constant kernel) names k or l.</exception>
    [<CompiledName("Cka")>]
    let cka (k: float[,], l: float[,], unbiased: bool) : float =
        let kl = hsic (k, l, unbiased)
        let kk = hsic (k, k, unbiased)
        let ll = hsic (l, l, unbiased)
        if not (kk > 0.0) then Validation.fail "k" $"HSIC(k, k) = {kk} is not positive (k describes a constant representation); CKA is undefined."
        if not (ll > 0.0) then Validation.fail "l" $"HSIC(l, l) = {ll} is not positive (l describes a constant representation); CKA is undefined."
        kl / sqrt (kk * ll)

    /// <summary>The linear kernel K = X_c X_cᵀ of the column-centred points.</summary>
    /// <param name="points">N × d points (N ≥ 2), finite.</param>
    /// <returns>N × N Gram matrix.</returns>
    /// <exception cref="T:System.ArgumentException">Bad shape or non-finite point (names points).</exception>
    [<CompiledName("CentredLinearKernel")>]
    let centredLinearKernel (points: float[,]) : float[,] =
        checkPoints "points" points
        let n, d = Array2D.length1 points, Array2D.length2 points
        let means = Array.init d (fun c -> Seq.averageBy (fun i -> points.[i, c]) [ 0 .. n - 1 ])
        let xc = Array2D.init n d (fun i c -> points.[i, c] - means.[c])
        Array2D.init n n (fun i j -> Seq.sumBy (fun c -> xc.[i, c] * xc.[j, c]) [ 0 .. d - 1 ])

    /// <summary>Linear CKA between two N × d_x and N × d_y feature matrices [3, Eq. 4 with k(x, y) = ⟨x, y⟩].</summary>
    /// <param name="x">N × d_x features (N ≥ 2, or ≥ 4 when unbiased).</param>
    /// <param name="y">N × d_y features, the same N.</param>
    /// <param name="unbiased">True for the unbiased HSIC estimator.</param>
    /// <returns>Linear CKA.</returns>
    /// <exception cref="T:System.ArgumentException">Bad shapes or values (names x or y); different N (names y).</exception>
    [<CompiledName("LinearCka")>]
    let linearCka (x: float[,], y: float[,], unbiased: bool) : float =
        checkPoints "x" x
        checkPoints "y" y
        if Array2D.length1 y <> Array2D.length1 x then
            Validation.fail "y" $"y has {Array2D.length1 y} rows but x has {Array2D.length1 x}; both must describe the same N items."
        cka (centredLinearKernel x, centredLinearKernel y, unbiased)

    /// <summary>The median of the off-diagonal distances d(i, j), i &lt; j (the mean of the two middle values for an even count).</summary>
    /// <param name="distances">N × N distances (N ≥ 2), finite.</param>
    /// <returns>The median.</returns>
    /// <exception cref="T:System.ArgumentException">Not square or non-finite (names distances).</exception>
    [<CompiledName("MedianDistance")>]
    let medianDistance (distances: float[,]) : float =
        checkSquare "distances" distances
        let n = Array2D.length1 distances
        let values = [| for i in 0 .. n - 1 do for j in i + 1 .. n - 1 -> distances.[i, j] |] |> Array.sort
        let m = values.Length
        if m % 2 = 1 then values.[m / 2] else 0.5 * (values.[m / 2 - 1] + values.[m / 2])

    /// <summary>The Gaussian (RBF) kernel K_ij = exp(−d_ij² / (2σ²)) of a distance matrix.</summary>
    /// <param name="distances">N × N distances, finite.</param>
    /// <param name="sigma">The bandwidth σ &gt; 0.</param>
    /// <returns>N × N kernel matrix.</returns>
    /// <exception cref="T:System.ArgumentException">Not square or non-finite (names distances); σ not positive (names sigma).</exception>
    [<CompiledName("RbfKernel")>]
    let rbfKernel (distances: float[,], sigma: float) : float[,] =
        checkSquare "distances" distances
        Validation.positive "sigma" sigma
        distances |> Array2D.map (fun d -> exp (-d * d / (2.0 * sigma * sigma)))

    /// <summary>RBF CKA between two spaces given by their distance matrices [3, Section 6.1].</summary>
    /// <param name="distancesX">N × N distances of the first space.</param>
    /// <param name="distancesY">N × N distances of the second space.</param>
    /// <param name="sigmaX">Bandwidth of the first kernel, &gt; 0.</param>
    /// <param name="sigmaY">Bandwidth of the second kernel, &gt; 0.</param>
    /// <param name="unbiased">True for the unbiased HSIC estimator.</param>
    /// <returns>RBF CKA.</returns>
    /// <exception cref="T:System.ArgumentException">As for <c>RbfKernel</c> and <c>Cka</c>.</exception>
    [<CompiledName("RbfCka")>]
    let rbfCka (distancesX: float[,], distancesY: float[,], sigmaX: float, sigmaY: float, unbiased: bool) : float =
        cka (rbfKernel (distancesX, sigmaX), rbfKernel (distancesY, sigmaY), unbiased)
