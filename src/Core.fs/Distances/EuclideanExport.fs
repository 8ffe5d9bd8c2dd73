namespace DistEmbed.Core

open TorchSharp
open DistEmbed.Core.DistanceKernels

/// <summary>
/// Exact isometric maps of distributional embeddings into a Euclidean space: vectors whose L2 distances are the
/// Wasserstein distances, so that any L2 vector engine (an HNSW index, PostgreSQL with pgvector, FAISS) serves
/// exact-metric W2 retrieval.
/// </summary>
/// <remarks>
/// Each map sends a batch to [B, F] vectors x̃ with ‖x̃_i − ỹ_j‖₂ = D(x_i, y_j) exactly (up to rounding):
/// <code>
/// quantile-w2:  MW_2² = Σ_q w_q Σ_k (a_kq − b_kq)²                 →  x̃ = (√w_q · a_kq)_{k,q}          F = d·Q
/// marginal-w2:  MW_2² = (1/T) Σ_k Σ_t (x_(t),k − y_(t),k)²          →  x̃ = (x_(t),k / √T)_{t,k}         F = T·d
/// sliced-w2:    SW_2² = (1/L) Σ_l (1/T) Σ_t (⟨θ_l,x⟩_(t) − ⟨θ_l,y⟩_(t))²  →  x̃ = (⟨θ_l,x⟩_(t) / √(L·T))_{t,l}  F = T·L
/// </code>
/// with w_q the level masses of <c>MarginalWasserstein.LevelWeights</c>, x_(t),k the t-th smallest value of
/// coordinate k (a sorted sample of T equally weighted points has quantile function x_(⌈uT⌉), Peyré and Cuturi,
/// Computational Optimal Transport, arXiv:1803.00567, §2.6, Remark 2.28), and θ_l the fixed directions, used as given
/// (Bonneel, Rabin, Peyré and Pfister, Sliced and Radon Wasserstein Barycenters of Measures, JMIV 51 (2015), eq. (6)).
/// The two maps of point sets need equal-length, uniformly weighted batches (no padding): only then is the monotone
/// coupling the same index-wise pairing for every pair. Distances without such a map (Sinkhorn, MMD, energy,
/// Bures, Bregman, W1 forms, max-sliced) can re-rank the candidates that an exported proxy returns (see
/// docs/distances.md).
/// </remarks>
[<RequireQualifiedAccess>]
module EuclideanExport =

    type private Tensor = torch.Tensor

    /// Raises unless every row of the weights is uniform on all T points (no padding, all weights equal).
    let private checkUniform (name: string) (batch: DistributionBatch) =
        use scope = torch.NewDisposeScope()
        let w = batch.Weights
        let bad = w.amax([| 1L |]).ne(w.amin ([| 1L |]))
        if bad.any().ToBoolean() then
            let row = bad.nonzero().[0L, 0L].item<int64> ()
            let padded = w.[row].eq(Scalars.sc 0.0).any().ToBoolean()
            let what =
                if padded then "has padding (zero weights, i.e. a shorter sequence)"
                else "has non-uniform weights"
            Validation.fail
                name
                $"{name} row {row} {what}; the exact Euclidean map of marginal and sliced W2 needs equal-length, uniformly weighted distributions (use quantile embeddings, or re-rank the candidates of an exported proxy)."

    /// <summary>The exact Euclidean map of quantile embeddings under <c>quantile-w2</c>: [B, d·Q] values a_kq·√w_q.</summary>
    /// <remarks>‖x̃_i − x̃_j‖₂ = MW_2 between the quantile functions (the level masses w_q of
    /// <c>MarginalWasserstein.LevelWeights</c>; midpoint levels give w_q = 1/Q).</remarks>
    /// <param name="batch">B quantile embeddings [B, d, Q].</param>
    /// <returns>[B, d·Q], the batch's dtype and device, without gradients.</returns>
    /// <exception cref="T:System.ArgumentException">batch is null (names batch).</exception>
    [<CompiledName("OfQuantiles")>]
    let ofQuantiles (batch: QuantileBatch) : Tensor =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "batch" batch
        use _ = torch.no_grad ()
        scoped (fun () ->
            let w = MarginalWasserstein.levelWeights batch.Levels
            batch.Values.mul(w.sqrt ()).reshape(int64 batch.Count, -1L).contiguous ())

    /// <summary>The exact Euclidean map of equal-length, uniformly weighted distributions under <c>marginal-w2</c>:
    /// [B, T·d] sorted coordinates divided by √T.</summary>
    /// <param name="batch">B distributions [B, T, d] with uniform weights 1/T (no padding).</param>
    /// <returns>[B, T·d], the batch's dtype and device, without gradients.</returns>
    /// <exception cref="T:System.ArgumentException">batch is null, has padding or non-uniform weights (names batch).</exception>
    [<CompiledName("OfDistributions")>]
    let ofDistributions (batch: DistributionBatch) : Tensor =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "batch" batch
        checkUniform "batch" batch
        use _ = torch.no_grad ()
        scoped (fun () ->
            let struct (sorted, _) = batch.Points.sort (1L, stable = true)
            sorted.reshape(int64 batch.Count, -1L).div(sc (sqrt (float batch.Length))).contiguous ())

    /// <summary>The exact Euclidean map of equal-length, uniformly weighted distributions under <c>sliced-w2</c> with
    /// fixed directions: [B, T·L] sorted projections divided by √(L·T).</summary>
    /// <remarks>Use the directions given to <c>Distances.SlicedWasserstein</c> (or the <c>Directions</c>
    /// option); the projections are ⟨θ_l, x⟩ with θ_l as given, exactly as the distance computes them.</remarks>
    /// <param name="batch">B distributions [B, T, d] with uniform weights 1/T (no padding).</param>
    /// <param name="directions">[L, d] finite, non-zero directions.</param>
    /// <returns>[B, T·L], the batch's dtype and device, without gradients.</returns>
    /// <exception cref="T:System.ArgumentException">batch is null, has padding or non-uniform weights (names batch);
    /// directions of another shape, non-finite or zero (names directions).</exception>
    [<CompiledName("OfSliced")>]
    let ofSliced (batch: DistributionBatch, directions: Tensor) : Tensor =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "batch" batch
        Validation.notNull "directions" directions
        Validation.floating "directions" directions
        SlicedWasserstein.checkDirections directions batch.Dimension
        checkUniform "batch" batch
        use _ = torch.no_grad ()
        scoped (fun () ->
            let projected = SlicedWasserstein.project batch.Points directions
            let struct (sorted, _) = projected.sort (1L, stable = true)
            let l = float directions.shape.[0]
            sorted.reshape(int64 batch.Count, -1L).div(sc (sqrt (l * float batch.Length))).contiguous ())

    /// <summary>The exact Euclidean map of a batch under a distance of the catalog, where one exists.</summary>
    /// <remarks><c>euclidean</c>: the vectors themselves; <c>quantile-w2</c>: <c>OfQuantiles</c>;
    /// <c>marginal-w2</c>: <c>OfDistributions</c>. Sliced W2 needs its directions: call <c>OfSliced</c>.</remarks>
    /// <param name="distance">The distance.</param>
    /// <param name="batch">A batch of the representation the distance accepts.</param>
    /// <returns>[B, F] vectors whose L2 distances are the distance's values.</returns>
    /// <exception cref="T:System.ArgumentException">A distance without an exact map (names distance), a batch of another
    /// representation or one the map cannot take (names batch).</exception>
    [<CompiledName("For")>]
    let forDistance (distance: IDistance, batch: IEmbeddingBatch) : Tensor =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "distance" distance
        Validation.notNull "batch" batch
        if batch.Representation <> distance.Accepts then
            Validation.fail "batch" $"batch holds {batch.Representation} but distance '{distance.Name}' accepts {distance.Accepts}."
        match distance.Name, batch with
        | "euclidean", (:? VectorBatch as v) -> scoped (fun () -> v.Values.detach().clone ())
        | "quantile-w2", (:? QuantileBatch as q) -> ofQuantiles q
        | "marginal-w2", (:? DistributionBatch as d) -> ofDistributions d
        | "sliced-w2", _ ->
            Validation.fail
                "distance"
                "distance 'sliced-w2' has an exact Euclidean map only for fixed directions: call EuclideanExport.OfSliced(batch, directions) with the directions the distance uses."
        | name, _ ->
            Validation.fail
                "distance"
                $"distance '{name}' has no exact Euclidean map (only euclidean, quantile-w2, marginal-w2 and sliced-w2 with fixed directions do); export a proxy (e.g. quantile-w2 or marginal-w2) and re-rank its candidates with '{name}'."
