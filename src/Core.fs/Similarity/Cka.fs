namespace DistEmbed.Core.Similarity

open System
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.DistanceKernels

/// <summary>
/// Centred kernel alignment (CKA) between two embedding spaces of the same N items: linear CKA from the features in
/// O(N d²), and RBF CKA for any distance in bounded memory (blocks of the two kernel matrices, never N × N whole),
/// each with the biased or the unbiased HSIC estimator. Computed in float64 on the inputs' device.
/// </summary>
/// <remarks>
/// <code>CKA(K, L) = HSIC(K, L) / √(HSIC(K, K) HSIC(L, L))                                       [1, Eq. 4]
/// HSIC_b(K, L) = tr(K H L H) / (N − 1)²,  H = I − 11ᵀ/N                                       [1, Eq. 3]
/// HSIC_u(K, L) = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((N−1)(N−2)) − 2/(N−2) · 1ᵀK̃L̃1] / (N(N−3))           [2, Eq. 5]</code>
/// with K̃, L̃ the kernels with zeroed diagonals. Both estimators need only S_KL = Σ_ij K_ij L_ij, the row sums
/// k_i, l_i and the diagonals: tr(KHLH) = S_KL − (2/N) Σ_i k_i l_i + (Σk)(Σl)/N², tr(K̃L̃) = S_KL − Σ_i K_ii L_ii,
/// 1ᵀK̃1 = Σk − Σ K_ii, 1ᵀK̃L̃1 = Σ_i (k_i − K_ii)(l_i − L_ii). Linear CKA uses K = X_c X_cᵀ on column-centred
/// features, so S_KL = ‖X_cᵀ Y_c‖²_F and k = X_c (Σ_j x_c,j); it is invariant to orthogonal maps, isotropic
/// scaling and translation of either space [1, Section 3]. RBF CKA uses K_ij = exp(−d(x_i, x_j)² / (2σ²)); with a
/// relative bandwidth, σ = factor × the median of d(x_i, x_j) over i &lt; j of that space (the mean of the two middle
/// values for an even count; [1, Section 6.1] uses a fraction of the median distance). The median needs the
/// N(N − 1)/2 distances of each space in memory; a fixed bandwidth runs in one bounded pass.
///
/// References:
/// [1] S. Kornblith, M. Norouzi, H. Lee, G. Hinton, Similarity of Neural Network Representations Revisited,
///     ICML 2019, arXiv:1905.00414.
/// [2] L. Song, A. Smola, A. Gretton, J. Bedo, K. Borgwardt, Feature Selection via Dependence Maximization,
///     JMLR 13, 1393–1434 (2012).
/// </remarks>
[<RequireQualifiedAccess>]
module Cka =

    type private Tensor = torch.Tensor

    /// Sufficient statistics of one kernel pair: S_KL, and per item the row sums and diagonals (float64 arrays).
    type private Statistics =
        { Cross: float
          RowsK: float[]
          RowsL: float[]
          DiagK: float[]
          DiagL: float[] }

    let private hsicOf (s: Statistics) (unbiased: bool) : float =
        let n = float s.RowsK.Length
        let sumK = Array.sum s.RowsK
        let sumL = Array.sum s.RowsL
        if not unbiased then
            let rowProducts = Array.fold2 (fun acc a b -> acc + a * b) 0.0 s.RowsK s.RowsL
            (s.Cross - 2.0 / n * rowProducts + sumK * sumL / (n * n)) / ((n - 1.0) * (n - 1.0))
        else
            let diagProducts = Array.fold2 (fun acc a b -> acc + a * b) 0.0 s.DiagK s.DiagL
            let trace = s.Cross - diagProducts
            let tildeK = sumK - Array.sum s.DiagK
            let tildeL = sumL - Array.sum s.DiagL
            let mutable cross = 0.0
            for i in 0 .. s.RowsK.Length - 1 do
                cross <- cross + (s.RowsK.[i] - s.DiagK.[i]) * (s.RowsL.[i] - s.DiagL.[i])
            (trace + tildeK * tildeL / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * cross) / (n * (n - 3.0))

    /// CKA from the statistics of (K, L), (K, K) and (L, L).
    let private ckaOf (kl: Statistics) (kk: Statistics) (ll: Statistics) (unbiased: bool) =
        let hkl = hsicOf kl unbiased
        let hkk = hsicOf kk unbiased
        let hll = hsicOf ll unbiased
        if not (hkk > 0.0) then
            Validation.fail "x" $"HSIC(K, K) = {hkk} is not positive (x is constant, or too few items for the estimator); CKA is undefined."
        if not (hll > 0.0) then
            Validation.fail "y" $"HSIC(L, L) = {hll} is not positive (y is constant, or too few items for the estimator); CKA is undefined."
        hkl / sqrt (hkk * hll)

    let private toArray (t: Tensor) = t.cpu().to_type(torch.float64).data<float>().ToArray()

    let private checkPair (x: IEmbeddingBatch) (y: IEmbeddingBatch) (unbiased: bool) =
        Validation.notNull "x" x
        Validation.notNull "y" y
        if y.Count <> x.Count then
            Validation.fail "y" $"y has {y.Count} items but x has {x.Count}; both spaces must describe the same N items."
        let least = if unbiased then 4 else 2
        if x.Count < least then
            let estimator = if unbiased then "the unbiased" else "the biased"
            Validation.fail "x" $"x has {x.Count} item(s); {estimator} estimator needs N ≥ {least}."

    let private vectors (name: string) (batch: IEmbeddingBatch) : Tensor =
        match batch with
        | :? VectorBatch as v -> v.Values.to_type torch.float64
        | _ ->
            Validation.fail
                name
                $"{name} holds {batch.Representation}; linear CKA needs [N, d] vectors (use RBF CKA with a distance for other representations)."

    /// <summary>Linear CKA between two spaces of vectors [1, Eq. 4 with the linear kernel], from the features.</summary>
    /// <param name="x">[N, d_x] vectors (N ≥ 2; N ≥ 4 when unbiased).</param>
    /// <param name="y">[N, d_y] vectors of the same N items, on the same device.</param>
    /// <param name="unbiased">False: biased HSIC (Kornblith et al.'s CKA, in [0, 1]); true: Song et al.'s unbiased HSIC.</param>
    /// <returns>Linear CKA.</returns>
    /// <exception cref="T:System.ArgumentException">Not vectors (names x or y); different N (names y); too few items or a constant space (names x or y).</exception>
    [<CompiledName("Linear")>]
    let linear (x: IEmbeddingBatch, y: IEmbeddingBatch, unbiased: bool) : float =
        NativeRuntime.EnsureInitialized()
        checkPair x y unbiased
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let xv = vectors "x" x
        let yv = vectors "y" y
        let xc = xv.sub (xv.mean ([| 0L |], keepdim = true))
        let yc = yv.sub (yv.mean ([| 0L |], keepdim = true))
        let frobenius2 (a: Tensor) (b: Tensor) = a.t().mm(b).pow(sc 2.0).sum().item<float> ()
        let rows (a: Tensor) = toArray (a.mv (a.sum (0L)))
        let diag (a: Tensor) = toArray (a.pow(sc 2.0).sum (1L))
        let kRows, lRows, kDiag, lDiag = rows xc, rows yc, diag xc, diag yc
        let stats cross rk rl dk dl = { Cross = cross; RowsK = rk; RowsL = rl; DiagK = dk; DiagL = dl }
        ckaOf
            (stats (frobenius2 xc yc) kRows lRows kDiag lDiag)
            (stats (frobenius2 xc xc) kRows kRows kDiag kDiag)
            (stats (frobenius2 yc yc) lRows lRows lDiag lDiag)
            unbiased

    let private select (batch: IEmbeddingBatch) (start: int64) (count: int64) =
        use idx = torch.arange (start, start + count, dtype = torch.int64, device = batch.Device)
        batch.Select idx

    let private blocks (n: int64) (blockSize: int) =
        let b = if blockSize > 0 then int64 blockSize else max 1L (min n 2048L)
        [ for r0 in 0L .. b .. n - 1L do
              for c0 in 0L .. b .. n - 1L do
                  yield r0, min b (n - r0), c0, min b (n - c0) ]

    /// <summary>
    /// The median of the distances d(x_i, x_j) over the N(N − 1)/2 pairs i &lt; j (the mean of the two middle values
    /// for an even count), computed from blocks of <c>Pairwise</c>.
    /// </summary>
    /// <param name="x">N ≥ 2 items of the representation the distance accepts.</param>
    /// <param name="distance">The distance.</param>
    /// <param name="blockSize">Items per block, ≥ 1; 0 = 2048.</param>
    /// <returns>The median distance (float64). Memory: the N(N − 1)/2 values.</returns>
    /// <exception cref="T:System.ArgumentException">x has fewer than 2 items (names x); blockSize &lt; 0 (names blockSize).</exception>
    [<CompiledName("MedianDistance")>]
    let medianDistance (x: IEmbeddingBatch, distance: IDistance, blockSize: int) : float =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "x" x
        Validation.notNull "distance" distance
        if x.Count < 2 then Validation.fail "x" $"x has {x.Count} item(s); a median distance needs N ≥ 2."
        if blockSize < 0 then Validation.fail "blockSize" $"blockSize = {blockSize} is invalid; it must be ≥ 0 (0 = automatic)."
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let n = int64 x.Count
        let parts =
            [| for (r0, rn, c0, cn) in blocks n blockSize do
                   if c0 + cn - 1L > r0 then
                       use inner = torch.NewDisposeScope()
                       use rows = select x r0 rn
                       use columns = select x c0 cn
                       let d = distance.Pairwise(rows, columns).to_type torch.float64
                       let upper = torch.ones_like(d).triu(r0 - c0 + 1L).gt (sc 0.0)
                       yield d.masked_select(upper).MoveToOuterDisposeScope() |]
        let all = torch.cat (parts, 0L)
        let m = all.shape.[0]
        let kth (j: int64) =
            let struct (v, _) = all.kthvalue (j, 0L)
            v.item<float> ()
        if m % 2L = 1L then kth ((m + 1L) / 2L) else 0.5 * (kth (m / 2L) + kth (m / 2L + 1L))

    /// <summary>
    /// RBF CKA between two spaces under a distance [1, Section 6.1]: K_ij = exp(−d(x_i, x_j)² / (2σ_x²)),
    /// L_ij = exp(−d(y_i, y_j)² / (2σ_y²)), in one pass over blocks (bounded memory for a fixed bandwidth).
    /// </summary>
    /// <param name="x">N items of the representation the distance accepts (N ≥ 2; N ≥ 4 when unbiased).</param>
    /// <param name="y">The same N items in the second space.</param>
    /// <param name="distance">The distance used in both spaces (row i uses d(x_i, ·)).</param>
    /// <param name="bandwidth">σ itself (relativeToMedian = false) or the factor of each space's median distance, finite, &gt; 0.</param>
    /// <param name="relativeToMedian">True: σ_x = bandwidth × median d(x_i, x_j), σ_y likewise (Kornblith et al.'s choice).</param>
    /// <param name="unbiased">False: biased HSIC; true: Song et al.'s unbiased HSIC.</param>
    /// <param name="blockSize">Items per block, ≥ 1; 0 = 2048.</param>
    /// <returns>RBF CKA.</returns>
    /// <exception cref="T:System.ArgumentException">Different N (names y); bandwidth not positive (names bandwidth); a median distance of 0 (names x or y);
    /// too few items or a constant kernel (names x or y); blockSize &lt; 0 (names blockSize).</exception>
    [<CompiledName("Rbf")>]
    let rbf
        (
            x: IEmbeddingBatch,
            y: IEmbeddingBatch,
            distance: IDistance,
            bandwidth: float,
            relativeToMedian: bool,
            unbiased: bool,
            blockSize: int
        ) : float =
        NativeRuntime.EnsureInitialized()
        checkPair x y unbiased
        Validation.notNull "distance" distance
        Validation.positive "bandwidth" bandwidth
        if blockSize < 0 then Validation.fail "blockSize" $"blockSize = {blockSize} is invalid; it must be ≥ 0 (0 = automatic)."
        let sigmaOf (name: string) (batch: IEmbeddingBatch) =
            if not relativeToMedian then bandwidth
            else
                let median = medianDistance (batch, distance, blockSize)
                if not (median > 0.0) then
                    Validation.fail name $"the median distance of {name} is {median}; a bandwidth relative to it needs a positive median."
                bandwidth * median
        let sigmaX = sigmaOf "x" x
        let sigmaY = sigmaOf "y" y
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let n = int64 x.Count
        let device = x.Device
        let kernel (d: Tensor) (sigma: float) = d.to_type(torch.float64).pow(sc 2.0).div(sc (-2.0 * sigma * sigma)).exp ()
        let rowsK = torch.zeros (n, dtype = torch.float64, device = device)
        let rowsL = torch.zeros (n, dtype = torch.float64, device = device)
        let mutable cross, selfK, selfL = 0.0, 0.0, 0.0
        for (r0, rn, c0, cn) in blocks n blockSize do
            use inner = torch.NewDisposeScope()
            let pairwise (batch: IEmbeddingBatch) =
                use rows = select batch r0 rn
                use columns = select batch c0 cn
                distance.Pairwise(rows, columns)
            let k = kernel (pairwise x) sigmaX
            let l = kernel (pairwise y) sigmaY
            rowsK.narrow(0L, r0, rn).add_ (k.sum (1L)) |> ignore
            rowsL.narrow(0L, r0, rn).add_ (l.sum (1L)) |> ignore
            cross <- cross + k.mul(l).sum().item<float> ()
            selfK <- selfK + k.pow(sc 2.0).sum().item<float> ()
            selfL <- selfL + l.pow(sc 2.0).sum().item<float> ()
        let diag (batch: IEmbeddingBatch) sigma = toArray (kernel (distance.Paired(batch, batch)) sigma)
        let kRows, lRows, kDiag, lDiag = toArray rowsK, toArray rowsL, diag x sigmaX, diag y sigmaY
        let stats c rk rl dk dl = { Cross = c; RowsK = rk; RowsL = rl; DiagK = dk; DiagL = dl }
        ckaOf
            (stats cross kRows lRows kDiag lDiag)
            (stats selfK kRows kRows kDiag kDiag)
            (stats selfL lRows lRows lDiag lDiag)
            unbiased
