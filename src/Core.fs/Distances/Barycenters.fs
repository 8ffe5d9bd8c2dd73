namespace DistEmbed.Core

open System
open TorchSharp

/// <summary>
/// Wasserstein-2 barycenters of embeddings, batched and differentiable: the weighted mean of quantile functions
/// (exact for quantile embeddings), the marginal W2 barycenter of distributions (quantile functions on the merged
/// cumulative levels), and the mean of vectors; and the per-class prototypes of a labelled batch.
/// </summary>
/// <remarks>
/// On the line W2(μ, ν)² = ∫₀¹ |F_μ⁻¹ − F_ν⁻¹|², so the minimiser of Σ_k λ_k W2²(ν, ν_k) has the quantile function
/// Σ_k λ_k F_k⁻¹ (Agueh &amp; Carlier 2011; Cuturi &amp; Doucet 2014, §2.2; Peyré &amp; Cuturi 2019, Remark 2.30). For
/// quantile embeddings on shared levels this is the mean of the quantile values; for the coordinate marginals of
/// weighted empirical distributions the quantile functions are step functions whose steps are the inputs'
/// cumulative weights, so the barycenter is exact on the merged levels. The float64 reference is
/// <c>DistEmbed.Core.Reference.Barycenters</c>; the free-support barycenter of point clouds is there too.
/// </remarks>
[<RequireQualifiedAccess>]
module Barycenters =

    type private Tensor = torch.Tensor

    /// λ / Σλ as a [M] tensor of the dtype and device (uniform when null), checked.
    let private lambdasOf (count: int) (dtype: torch.ScalarType) (device: torch.Device) (lambdas: Tensor) : Tensor =
        if isNull lambdas then
            use fill = Scalars.fresh (1.0 / float count)
            torch.full([| int64 count |], fill, dtype = dtype, device = device)
        else
            if lambdas.dim() <> 1L || lambdas.shape.[0] <> int64 count then
                Validation.fail "lambdas" $"lambdas has shape {Validation.shape lambdas}; it must be [{count}], one weight per embedding."
            Validation.floating "lambdas" lambdas
            Validation.finiteTensor "lambdas" lambdas
            let l = lambdas.detach().to_type(torch.float64).cpu().data<float>().ToArray()
            if l |> Array.exists (fun v -> v < 0.0) then Validation.fail "lambdas" "lambdas has a negative weight; barycentric weights must be ≥ 0."
            if Array.sum l <= 0.0 then Validation.fail "lambdas" "lambdas are all zero; at least one barycentric weight must be positive."
            let t = lambdas.to_type(dtype).``to``(device)
            t / t.sum()

    /// <summary>The W2 barycenter Σ_k λ_k q_k of quantile embeddings on shared levels (exact), as a batch of one.</summary>
    /// <param name="batch">M ≥ 1 quantile embeddings [M, d, Q].</param>
    /// <param name="lambdas">[M] barycentric weights (≥ 0, normalised here), or null for uniform.</param>
    /// <returns>A <see cref="T:DistEmbed.Core.QuantileBatch"/> of one embedding at the batch's levels, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Bad weights (names lambdas).</exception>
    [<CompiledName("OfQuantiles")>]
    let ofQuantiles (batch: QuantileBatch, lambdas: Tensor) : QuantileBatch =
        Validation.notNull "batch" batch
        // The batch is built outside the scope: its constructors may make tensors that belong to the caller's scope.
        let v =
            use _ = torch.NewDisposeScope()
            let l = lambdasOf batch.Count batch.Values.dtype batch.Values.device lambdas
            (l.view(-1L, 1L, 1L) * batch.Values).sum(0L, keepdim = true).MoveToOuterDisposeScope()
        QuantileBatch.FromTensor(v, batch.Levels.alias())

    /// <summary>The weighted mean Σ_k λ_k x_k of vectors (the W2 barycenter of Diracs), as a batch of one.</summary>
    /// <param name="batch">M ≥ 1 vectors [M, d].</param>
    /// <param name="lambdas">[M] barycentric weights, or null for uniform.</param>
    /// <returns>A <see cref="T:DistEmbed.Core.VectorBatch"/> of one vector, differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Bad weights (names lambdas).</exception>
    [<CompiledName("OfVectors")>]
    let ofVectors (batch: VectorBatch, lambdas: Tensor) : VectorBatch =
        Validation.notNull "batch" batch
        let v =
            use _ = torch.NewDisposeScope()
            let l = lambdasOf batch.Count batch.Values.dtype batch.Values.device lambdas
            (l.view(-1L, 1L) * batch.Values).sum(0L, keepdim = true).MoveToOuterDisposeScope()
        VectorBatch.FromTensor v

    /// The points [1, L, d] and weights [1, L] of the marginal barycenter (see <c>marginal</c>).
    let private marginalTensors (batch: DistributionBatch) (lambdas: Tensor) =
        use _ = torch.NewDisposeScope()
        let m, t, d = batch.Points.shape.[0], batch.Points.shape.[1], batch.Points.shape.[2]
        let dtype, device = batch.Points.dtype, batch.Points.device
        let l = lambdasOf batch.Count dtype device lambdas
        let struct (sorted, order) = batch.Points.permute(0L, 2L, 1L).sort(-1L)   // [M, d, T]
        let w = batch.Weights.detach().unsqueeze(1L).expand(m, d, t).gather(2L, order)
        let cum = w.cumsum(2L)
        // Exact 1 at the end (x/x = 1), so that a level of 1 selects the last real point, never trailing padding.
        let cum = (cum / cum.narrow(2L, t - 1L, 1L)).contiguous()
        let struct (levels, _) = torch.cat([| torch.zeros(1L, dtype = dtype, device = device); torch.ones(1L, dtype = dtype, device = device); cum.flatten() |]).sort()
        let lo, hi = levels.narrow(0L, 0L, levels.shape.[0] - 1L), levels.narrow(0L, 1L, levels.shape.[0] - 1L)
        use zero = Scalars.fresh 0.0
        let keep = (hi - lo).gt(zero)
        let lo, hi = lo.masked_select(keep), hi.masked_select(keep)
        use half = Scalars.fresh 0.5
        let mids = (lo + hi).mul(half)
        let n = mids.shape.[0]
        use last = Scalar.op_Implicit (t - 1L)
        let index = torch.searchsorted(cum, mids.view(1L, 1L, -1L).expand(m, d, n).contiguous()).clamp_max(last)
        let q = sorted.gather(2L, index)                                         // [M, d, L]
        let points = (l.view(-1L, 1L, 1L) * q).sum(0L).transpose(0L, 1L).unsqueeze(0L)
        let weights = (hi - lo).unsqueeze(0L)
        points.MoveToOuterDisposeScope(), weights.MoveToOuterDisposeScope()

    /// <summary>
    /// The marginal W2 barycenter of M weighted empirical distributions in ℝ^d: coordinate j of atom l is
    /// Σ_k λ_k F_{k,j}⁻¹(t_l) at the midpoint t_l of the l-th interval between the merged cumulative levels of all
    /// inputs and coordinates, with weight the interval's width. Each coordinate marginal of the result is the exact
    /// W2 barycenter of the inputs' marginals (the atoms couple the coordinates comonotonically).
    /// </summary>
    /// <param name="batch">M ≥ 1 distributions [M, T, d] (padding allowed).</param>
    /// <param name="lambdas">[M] barycentric weights, or null for uniform.</param>
    /// <returns>A <see cref="T:DistEmbed.Core.DistributionBatch"/> of one distribution with at most M·T·d atoms;
    /// differentiable with respect to the points (through the sort), not the weights.</returns>
    /// <exception cref="T:System.ArgumentException">Bad weights (names lambdas).</exception>
    [<CompiledName("Marginal")>]
    let marginal (batch: DistributionBatch, lambdas: Tensor) : DistributionBatch =
        Validation.notNull "batch" batch
        let points, weights = marginalTensors batch lambdas
        DistributionBatch.FromTensors(points, weights)


    /// <summary>The W2 barycenter of a batch by its representation: <c>OfVectors</c>, <c>OfQuantiles</c> or <c>Marginal</c>.</summary>
    /// <param name="batch">M ≥ 1 embeddings.</param>
    /// <param name="lambdas">[M] barycentric weights, or null for uniform.</param>
    /// <returns>A batch of one embedding of the same representation.</returns>
    /// <exception cref="T:System.ArgumentException">Bad weights, or a representation without a barycenter here.</exception>
    [<CompiledName("Of")>]
    let ofBatch (batch: IEmbeddingBatch, lambdas: Tensor) : IEmbeddingBatch =
        Validation.notNull "batch" batch
        match batch with
        | :? VectorBatch as v -> ofVectors (v, lambdas) :> IEmbeddingBatch
        | :? QuantileBatch as q -> ofQuantiles (q, lambdas) :> IEmbeddingBatch
        | :? DistributionBatch as p -> marginal (p, lambdas) :> IEmbeddingBatch
        | _ -> Validation.fail "batch" $"batch is a {batch.Representation} batch of type {batch.GetType().Name}; barycenters take VectorBatch, QuantileBatch or DistributionBatch."

    /// Concatenates batches of one item each (one representation) into one batch; distributions are padded.
    let private concat (items: IEmbeddingBatch[]) : IEmbeddingBatch =
        match items.[0] with
        | :? VectorBatch ->
            VectorBatch.FromTensor(torch.cat([| for i in items -> (i :?> VectorBatch).Values |], 0L)) :> IEmbeddingBatch
        | :? QuantileBatch as q0 ->
            QuantileBatch.FromTensor(torch.cat([| for i in items -> (i :?> QuantileBatch).Values |], 0L), q0.Levels.alias()) :> IEmbeddingBatch
        | _ ->
            let ds = items |> Array.map (fun i -> i :?> DistributionBatch)
            let t = ds |> Array.map (fun x -> x.Length) |> Array.max
            let pad (x: Tensor) (extra: int64) (dims: int64 -> int64[]) = if extra = 0L then x else torch.nn.functional.pad(x, dims extra)
            let points = torch.cat([| for x in ds -> pad x.Points (int64 (t - x.Length)) (fun e -> [| 0L; 0L; 0L; e |]) |], 0L)
            let weights = torch.cat([| for x in ds -> pad x.Weights (int64 (t - x.Length)) (fun e -> [| 0L; e |]) |], 0L)
            DistributionBatch.FromTensors(points, weights) :> IEmbeddingBatch

    /// <summary>
    /// The prototype of every class of a labelled batch: the W2 barycenter (uniform weights) of the class's members
    /// (<see cref="M:DistEmbed.Core.Barycenters.Of(DistEmbed.Core.IEmbeddingBatch,TorchSharp.torch.Tensor)"/>).
    /// </summary>
    /// <param name="batch">B ≥ 1 embeddings.</param>
    /// <param name="labels">int64 [B] labels on the batch's device.</param>
    /// <returns>The K prototypes (one batch, classes in ascending label order) and the K labels (int64 [K]).</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B].</exception>
    [<CompiledName("ClassPrototypes")>]
    let classPrototypes (batch: IEmbeddingBatch, labels: Tensor) : IEmbeddingBatch * Tensor =
        Validation.notNull "batch" batch
        Validation.notNull "labels" labels
        if labels.dtype <> torch.int64 || labels.dim() <> 1L || labels.shape.[0] <> int64 batch.Count then
            Validation.fail "labels" $"labels has dtype {labels.dtype} and shape {Validation.shape labels}; it must be int64 [{batch.Count}]."
        let host = (use _ = torch.NewDisposeScope() in labels.cpu().data<int64>().ToArray())
        let classes = host |> Array.distinct |> Array.sort
        // Prototypes and their batch are made in the caller's dispose scope (a batch's constructors make tensors there).
        let prototype (c: int64) =
            use idx = torch.tensor([| for i in 0 .. host.Length - 1 do if host.[i] = c then int64 i |], device = batch.Device)
            use members = batch.Select idx
            ofBatch (members, null)
        let items = classes |> Array.map prototype
        concat items, torch.tensor(classes, device = batch.Device)
