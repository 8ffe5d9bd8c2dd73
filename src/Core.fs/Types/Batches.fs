namespace DistEmbed.Core

open System
open TorchSharp
open DistEmbed.Core.Reference

type private Tensor = torch.Tensor

/// Scalars that stay alive for the native call (TorchSharp 0.107 does not track Scalars in dispose scopes).
module internal Scalars =
    let private scalars = System.Collections.Concurrent.ConcurrentDictionary<float, Scalar>()
    let private integerScalars = System.Collections.Concurrent.ConcurrentDictionary<int64, Scalar>()

    /// Scalar from a float (F# does not pick TorchSharp's implicit conversion when Tensor overloads exist).
    /// Scalars are cached and live for the process: a temporary Scalar has a finalizer that frees its native value,
    /// and TorchSharp reads only its handle, so the garbage collector may free it while the native call still uses it.
    let sc (x: float) : Scalar = scalars.GetOrAdd(x, fun (v: float) -> Scalar.op_Implicit v)

    /// A new Scalar that the caller owns: bind it with `use` so that it stays alive until the native call returns
    /// and is freed right after (for values that vary from call to call, which should not be cached).
    let fresh (x: float) : Scalar = Scalar.op_Implicit x

    /// An integer Scalar (integer tensors stay integer), cached like <c>sc</c>.
    let sci (x: int64) : Scalar = integerScalars.GetOrAdd(x, fun (v: int64) -> Scalar.op_Implicit v)

    /// A Scalar 0 that is never collected. TorchSharp 0.107 does not track Scalars in dispose scopes, and the
    /// finalizer of a temporary Scalar (such as `sc 0.0` passed inline) can free it while the native call still
    /// reads it; pass this one, or bind a Scalar with `use` for the duration of the call.
    let zero = lazy (sc 0.0)


/// <summary>The representation an embedding batch has, and that a distance accepts.</summary>
type Representation =
    /// <summary>Vectors [B, d] (<see cref="T:DistEmbed.Core.VectorBatch"/>).</summary>
    | Vectors = 0
    /// <summary>Weighted empirical distributions [B, T, d] + weights [B, T] (<see cref="T:DistEmbed.Core.DistributionBatch"/>).</summary>
    | Distributions = 1
    /// <summary>Per-dimension quantile functions [B, d, Q] (<see cref="T:DistEmbed.Core.QuantileBatch"/>).</summary>
    | Quantiles = 2

/// <summary>
/// A batch of B embeddings in one of the three representations. Losses, miners and metrics take this interface
/// together with an <c>IDistance</c> that accepts its representation.
/// </summary>
type IEmbeddingBatch =
    inherit IDisposable
    /// <summary>The representation of this batch.</summary>
    abstract Representation: Representation
    /// <summary>The number of embeddings B.</summary>
    abstract Count: int
    /// <summary>The device the tensors live on.</summary>
    abstract Device: torch.Device
    /// <summary>The floating dtype (float32 or float64).</summary>
    abstract DType: torch.ScalarType
    /// <summary>A new batch of the embeddings at <paramref name="indices"/> (int64 [K], on this batch's device), differentiable.</summary>
    abstract Select: indices: torch.Tensor -> IEmbeddingBatch

/// <summary>
/// A batch of B vectors in ℝ^d: <c>Values</c> [B, d] (float32 or float64, any device).
/// </summary>
[<Sealed>]
type VectorBatch private (values: Tensor) =
    /// <summary>The vectors, [B, d].</summary>
    member _.Values = values
    /// <summary>The number of vectors B.</summary>
    member _.Count = int values.shape.[0]
    /// <summary>The dimension d.</summary>
    member _.Dimension = int values.shape.[1]
    /// <summary>Disposes the tensor this batch holds.</summary>
    member _.Dispose() = values.Dispose()
    interface IEmbeddingBatch with
        member this.Dispose() = this.Dispose()
        member _.Representation = Representation.Vectors
        member this.Count = this.Count
        member _.Device = values.device
        member _.DType = values.dtype
        member _.Select(indices) = new VectorBatch(values.index_select(0L, indices)) :> IEmbeddingBatch

    /// <summary>Wraps a [B, d] tensor (B ≥ 1, d ≥ 1, finite, float32/float64). The tensor is used as is, not copied.</summary>
    /// <param name="values">[B, d] tensor.</param>
    /// <exception cref="T:System.ArgumentException">Wrong rank, empty, non-floating dtype or a non-finite value.</exception>
    static member FromTensor(values: Tensor) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "values" values
        Validation.floating "values" values
        if values.dim() <> 2L || values.shape.[0] = 0L || values.shape.[1] = 0L then
            Validation.fail "values" $"values has shape {Validation.shape values}; a vector batch is [B, d] with B ≥ 1 and d ≥ 1."
        Validation.finiteTensor "values" values
        new VectorBatch(values)

    /// <summary>Copies a B × d array into a float64 [B, d] tensor on <paramref name="device"/>.</summary>
    /// <param name="values">B × d values (B ≥ 1, d ≥ 1), finite.</param>
    /// <param name="device">Target device; null means CPU.</param>
    static member FromArray(values: float[,], device: torch.Device) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "values" values
        Validation.finite2D "values" values
        if values.Length = 0 then
            Validation.fail "values" $"values has shape [{Array2D.length1 values},{Array2D.length2 values}]; a vector batch is [B, d] with B ≥ 1 and d ≥ 1."
        new VectorBatch(torch.tensor(values, device = device))

/// <summary>
/// A batch of B weighted empirical distributions μ_b = Σ_t w_{b,t} δ_{x_{b,t}} in ℝ^d, stored padded:
/// <c>Points</c> [B, T, d] and <c>Weights</c> [B, T] (zero weight = padding, each row sums to one).
/// </summary>
/// <remarks>Built from sequences of unequal length by padding to the longest; padded points are zero and carry zero weight.</remarks>
[<Sealed>]
type DistributionBatch private (points: Tensor, weights: Tensor) =
    /// <summary>The points, [B, T, d].</summary>
    member _.Points = points
    /// <summary>The weights, [B, T]: non-negative, zero for padding, each row summing to one.</summary>
    member _.Weights = weights
    /// <summary>The number of distributions B.</summary>
    member _.Count = int points.shape.[0]
    /// <summary>The padded number of points per distribution T.</summary>
    member _.Length = int points.shape.[1]
    /// <summary>The dimension d.</summary>
    member _.Dimension = int points.shape.[2]
    /// <summary>The validity mask [B, T]: true where the weight is positive.</summary>
    member _.Mask() = weights.gt(Scalars.zero.Force())
    /// A batch over points and weights taken as they are (already normalised, e.g. restored from a checkpoint): no
    /// check and no renormalisation, so the bits are kept exactly.
    static member internal OfNormalised(points: Tensor, weights: Tensor) = new DistributionBatch(points, weights)

    /// <summary>Distribution <paramref name="index"/> as a float64 reference <see cref="T:DistEmbed.Core.Reference.Empirical"/> (padding dropped).</summary>
    /// <param name="index">0 ≤ index &lt; B.</param>
    member this.ToEmpirical(index: int) =
        if index < 0 || index >= this.Count then
            Validation.fail "index" $"index = {index} is out of range; the batch has {this.Count} distributions."
        use _ = torch.NewDisposeScope()
        let w = weights.[int64 index].cpu().to_type(torch.float64).data<float>().ToArray()
        let p = points.[int64 index].cpu().to_type(torch.float64)
        let keep = [| for t in 0 .. w.Length - 1 do if w.[t] > 0.0 then t |]
        let d = this.Dimension
        let flat = p.data<float>().ToArray()
        let pts = Array2D.init keep.Length d (fun i k -> flat.[keep.[i] * d + k])
        Empirical.Create(pts, keep |> Array.map (fun t -> w.[t]))

    /// <summary>Disposes the tensors this batch holds.</summary>
    member _.Dispose() =
        points.Dispose()
        weights.Dispose()
    interface IEmbeddingBatch with
        member this.Dispose() = this.Dispose()
        member _.Representation = Representation.Distributions
        member this.Count = this.Count
        member _.Device = points.device
        member _.DType = points.dtype
        member _.Select(indices) =
            new DistributionBatch(points.index_select(0L, indices), weights.index_select(0L, indices)) :> IEmbeddingBatch

    /// <summary>
    /// Wraps padded tensors. The weights are checked (finite, non-negative, no all-zero row) and normalised per row;
    /// the points are checked for finiteness where the weight is positive.
    /// </summary>
    /// <param name="points">[B, T, d], float32/float64, B, T, d ≥ 1.</param>
    /// <param name="weights">[B, T] on the same device; null means uniform weights.</param>
    /// <exception cref="T:System.ArgumentException">A shape, dtype, device or value rule is broken; the message names the argument and the shape or index.</exception>
    static member FromTensors(points: Tensor, weights: Tensor) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "points" points
        Validation.floating "points" points
        if points.dim() <> 3L || points.shape |> Array.exists (fun s -> s = 0L) then
            Validation.fail "points" $"points has shape {Validation.shape points}; a distribution batch is [B, T, d] with B, T, d ≥ 1."
        let b, t = points.shape.[0], points.shape.[1]
        let w =
            if isNull weights then
                use fill = Scalars.fresh (1.0 / float t)
                torch.full([| b; t |], fill, dtype = points.dtype, device = points.device)
            else
                if weights.dim() <> 2L || weights.shape.[0] <> b || weights.shape.[1] <> t then
                    Validation.fail "weights" $"weights has shape {Validation.shape weights} but points has shape {Validation.shape points}; weights must be [B, T] = [{b},{t}]."
                if not (Validation.sameDevice weights.device points.device) then
                    Validation.fail "weights" $"weights is on {weights.device} but points is on {points.device}; both must be on one device."
                Validation.floating "weights" weights
                Validation.finiteTensor "weights" weights
                use scope = torch.NewDisposeScope()
                match Validation.firstTrue (weights.lt(Scalars.zero.Force())) with
                | Some idx -> Validation.fail "weights" $"weights[{idx.[0]},{idx.[1]}] is negative; weights must be non-negative."
                | None -> ()
                let sums = weights.sum(1L)
                match Validation.firstTrue (sums.le(Scalars.zero.Force())) with
                | Some row -> Validation.fail "weights" $"weights row {row.[0]} is all zero: distribution {row.[0]} is empty."
                | None -> ()
                weights.to_type(points.dtype).div(sums.unsqueeze(1L).to_type(points.dtype)).MoveToOuterDisposeScope()
        use scope = torch.NewDisposeScope()
        let maskedPoints = points.masked_fill(w.le(Scalars.zero.Force()).unsqueeze(2L), Scalars.zero.Force())
        Validation.finiteTensor "points" maskedPoints
        new DistributionBatch(points, w)

    /// <summary>
    /// Builds a padded float64 batch from B sequences of unequal length: sequence b is a T_b × d array of points,
    /// all with uniform weight 1/T_b. Padding (to T = max T_b) gets zero weight.
    /// </summary>
    /// <param name="sequences">B ≥ 1 arrays, each T_b × d with T_b ≥ 1 and one common d ≥ 1, finite.</param>
    /// <param name="device">Target device; null means CPU.</param>
    /// <exception cref="T:System.ArgumentException">Empty batch, an empty sequence, mismatched d or a non-finite value (the message names the sequence index).</exception>
    static member FromSequences(sequences: float[,][], device: torch.Device) =
        NativeRuntime.EnsureInitialized()
        Validation.nonEmpty "sequences" sequences
        let d = if isNull sequences.[0] then 0 else Array2D.length2 sequences.[0]
        sequences
        |> Array.iteri (fun i s ->
            if isNull s then Validation.fail "sequences" $"sequences[{i}] is null."
            if Array2D.length1 s = 0 then Validation.fail "sequences" $"sequences[{i}] has no points; every distribution needs at least one point."
            if Array2D.length2 s <> d || d = 0 then
                Validation.fail "sequences" $"sequences[{i}] has dimension {Array2D.length2 s} but sequences[0] has dimension {d}; all must share one dimension d ≥ 1."
            Validation.finite2D $"sequences[{i}]" s)
        DistributionBatch.FromEmpirical(sequences |> Array.map Empirical.Uniform, device)

    /// <summary>Builds a batch from reference distributions (their points and weights, padded to the longest).</summary>
    /// <param name="distributions">B ≥ 1 distributions of one common dimension.</param>
    /// <param name="device">Target device; null means CPU.</param>
    static member FromEmpirical(distributions: Empirical[], device: torch.Device) =
        NativeRuntime.EnsureInitialized()
        Validation.nonEmpty "distributions" distributions
        let d = distributions.[0].Dimension
        distributions
        |> Array.iteri (fun i e ->
            if e.Dimension <> d then
                Validation.fail "distributions" $"distributions[{i}] has dimension {e.Dimension} but distributions[0] has dimension {d}.")
        let b = distributions.Length
        let t = distributions |> Array.map (fun e -> e.Count) |> Array.max
        let pts = Array.zeroCreate<float> (b * t * d)
        let w = Array.zeroCreate<float> (b * t)
        distributions
        |> Array.iteri (fun i e ->
            for r in 0 .. e.Count - 1 do
                w.[i * t + r] <- e.Weights.[r]
                for k in 0 .. d - 1 do
                    pts.[(i * t + r) * d + k] <- e.Points.[r, k])
        let device = if isNull device then torch.CPU else device
        new DistributionBatch(
            torch.tensor(pts, device = device).reshape([| int64 b; int64 t; int64 d |]),
            torch.tensor(w, device = device).reshape([| int64 b; int64 t |]))

/// <summary>
/// A batch of per-dimension quantile functions — the quantile-layer representation: <c>Values</c> [B, d, Q] holds
/// F_{b,k}^{-1}(τ_q) for Q levels 0 &lt; τ_1 &lt; … &lt; τ_Q &lt; 1, non-decreasing along Q.
/// </summary>
/// <remarks>
/// With levels at the midpoints τ_q = (q − ½)/Q, the marginal W_p between two quantile batches is
/// ((1/Q) Σ_q Σ_k |F_{a,k}^{-1}(τ_q) − F_{b,k}^{-1}(τ_q)|^p)^{1/p}, the exact W_p between the discrete measures
/// (1/Q) Σ_q δ at those quantiles (Villani 2003, Thm 2.18).
/// </remarks>
[<Sealed>]
type QuantileBatch private (values: Tensor, levels: Tensor) =
    /// <summary>The quantiles, [B, d, Q], non-decreasing along the last axis.</summary>
    member _.Values = values
    /// <summary>The quantile levels τ, [Q], strictly increasing in (0, 1).</summary>
    member _.Levels = levels
    /// <summary>The number of items B.</summary>
    member _.Count = int values.shape.[0]
    /// <summary>The number of dimensions d.</summary>
    member _.Dimension = int values.shape.[1]
    /// <summary>The number of quantile levels Q.</summary>
    member _.LevelCount = int values.shape.[2]
    /// <summary>Disposes the tensors this batch holds.</summary>
    member _.Dispose() =
        values.Dispose()
        levels.Dispose()
    interface IEmbeddingBatch with
        member this.Dispose() = this.Dispose()
        member _.Representation = Representation.Quantiles
        member this.Count = this.Count
        member _.Device = values.device
        member _.DType = values.dtype
        member _.Select(indices) =
            new QuantileBatch(values.index_select(0L, indices), levels.alias()) :> IEmbeddingBatch

    /// <summary>The midpoint levels τ_q = (q − ½)/Q, q = 1..Q.</summary>
    /// <param name="count">Q ≥ 1.</param>
    static member MidpointLevels(count: int) =
        Validation.atLeastInt "count" 1 count
        Array.init count (fun q -> (float q + 0.5) / float count)

    /// <summary>Wraps a [B, d, Q] tensor of quantiles at the given levels (null levels = midpoint levels).</summary>
    /// <param name="values">[B, d, Q], finite, non-decreasing along Q.</param>
    /// <param name="levels">[Q] strictly increasing levels in (0, 1), or null for the midpoint levels.</param>
    /// <exception cref="T:System.ArgumentException">Wrong shape, non-finite value, decreasing quantiles or bad levels.</exception>
    static member FromTensor(values: Tensor, levels: Tensor) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "values" values
        Validation.floating "values" values
        if values.dim() <> 3L || values.shape |> Array.exists (fun s -> s = 0L) then
            Validation.fail "values" $"values has shape {Validation.shape values}; a quantile batch is [B, d, Q] with B, d, Q ≥ 1."
        Validation.finiteTensor "values" values
        let q = values.shape.[2]
        use scope = torch.NewDisposeScope()
        if q > 1L then
            match Validation.firstTrue (values.diff(dim = 2L).lt(Scalars.zero.Force())) with
            | None -> ()
            | Some idx ->
                Validation.fail "values" $"values[{idx.[0]},{idx.[1]},{idx.[2] + 1L}] < values[{idx.[0]},{idx.[1]},{idx.[2]}]; quantile functions must be non-decreasing along the last axis."
        let lv =
            if isNull levels then
                torch.tensor(QuantileBatch.MidpointLevels(int q), dtype = values.dtype, device = values.device)
            else
                if levels.dim() <> 1L || levels.shape.[0] <> q then
                    Validation.fail "levels" $"levels has shape {Validation.shape levels}; it must be [Q] = [{q}]."
                Validation.finiteTensor "levels" levels
                let l64 = levels.cpu().to_type(torch.float64).data<float>().ToArray()
                if l64 |> Array.exists (fun x -> x <= 0.0 || x >= 1.0) then
                    Validation.fail "levels" "levels must lie strictly between 0 and 1."
                if l64 |> Array.pairwise |> Array.exists (fun (a, b) -> b <= a) then
                    Validation.fail "levels" "levels must be strictly increasing."
                levels.to_type(values.dtype).``to``(values.device)
        new QuantileBatch(values, lv.MoveToOuterDisposeScope())
