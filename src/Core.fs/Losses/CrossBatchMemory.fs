namespace DistEmbed.Core

open System
open System.IO
open TorchSharp

/// <summary>Options of the catalog's <c>xbm</c> (<see cref="T:DistEmbed.Core.CrossBatchMemory"/>).</summary>
[<Sealed; AllowNullLiteral>]
type CrossBatchMemoryOptions() =
    /// <summary>The wrapped loss, a triplet or pair loss of the catalog (default <c>contrastive</c>, as in [1]); it reads its own options from the same <c>LossOptions</c>.</summary>
    member val Loss = "contrastive" with get, set
    /// <summary>The miner that picks the tuples between the batch and the memory, a name of <c>Miners.Names</c> (default <c>all</c>).</summary>
    member val Miner = "all" with get, set
    /// <summary>The memory size M ≥ 0 in items (default 1024); 0 keeps no memory (the plain wrapped loss).</summary>
    member val Size = 1024 with get, set
    /// <summary>The margin of the miner <c>semi-hard</c> (default 0.2).</summary>
    member val MinerMargin = TripletMarginLossOptions().Margin with get, set

/// The tuples handed to a wrapped loss: triplets, or pairs for the pair losses.
type internal MemoryTuples =
    | TripletsOf of TripletIndices
    | PairsOf of PairIndices

/// Concatenation and detached copies of embedding batches (the memory of <c>CrossBatchMemory</c>).
module internal EmbeddingBatches =

    let private checkCompatible (name: string) (a: IEmbeddingBatch) (b: IEmbeddingBatch) =
        if a.Representation <> b.Representation then
            Validation.fail name $"{name} are {a.Representation} but the memory holds {b.Representation}; one memory takes one representation."
        let mismatch what x y = Validation.fail name $"{name} have {what} {x} but the memory holds {what} {y}."
        match a, b with
        | (:? VectorBatch as x), (:? VectorBatch as y) when x.Dimension <> y.Dimension -> mismatch "dimension" x.Dimension y.Dimension
        | (:? QuantileBatch as x), (:? QuantileBatch as y) when x.Dimension <> y.Dimension || x.LevelCount <> y.LevelCount ->
            mismatch "[d, Q]" $"[{x.Dimension}, {x.LevelCount}]" $"[{y.Dimension}, {y.LevelCount}]"
        | (:? DistributionBatch as x), (:? DistributionBatch as y) when x.Dimension <> y.Dimension -> mismatch "point dimension" x.Dimension y.Dimension
        | _ -> ()

    /// The items of a followed by those of b (b converted to a's dtype and device); distributions are padded with
    /// zero-weight points to the longer length.
    let concat (name: string) (a: IEmbeddingBatch) (b: IEmbeddingBatch) : IEmbeddingBatch =
        checkCompatible name a b
        let like (t: torch.Tensor) (reference: torch.Tensor) = t.to_type(reference.dtype).``to``(reference.device)
        match a, b with
        | (:? VectorBatch as x), (:? VectorBatch as y) -> VectorBatch.FromTensor(torch.cat([| x.Values; like y.Values x.Values |], 0L)) :> IEmbeddingBatch
        | (:? QuantileBatch as x), (:? QuantileBatch as y) -> QuantileBatch.FromTensor(torch.cat([| x.Values; like y.Values x.Values |], 0L), x.Levels) :> IEmbeddingBatch
        | (:? DistributionBatch as x), (:? DistributionBatch as y) ->
            let t = int64 (max x.Length y.Length)
            let pad (points: torch.Tensor) (weights: torch.Tensor) =
                let missing = t - points.shape.[1]
                if missing = 0L then points, weights
                else
                    torch.cat([| points; torch.zeros([| points.shape.[0]; missing; points.shape.[2] |], dtype = points.dtype, device = points.device) |], 1L),
                    torch.cat([| weights; torch.zeros([| weights.shape.[0]; missing |], dtype = weights.dtype, device = weights.device) |], 1L)
            let px, wx = pad x.Points x.Weights
            let py, wy = pad (like y.Points x.Points) (like y.Weights x.Points)
            DistributionBatch.FromTensors(torch.cat([| px; py |], 0L), torch.cat([| wx; wy |], 0L)) :> IEmbeddingBatch
        | _ -> Validation.fail name $"{name} of type {a.GetType().Name} cannot be kept in a memory; give a VectorBatch, QuantileBatch or DistributionBatch."

    /// A detached copy (no autograd history, own storage).
    let detachedCopy (name: string) (a: IEmbeddingBatch) : IEmbeddingBatch =
        let copy (t: torch.Tensor) = t.detach().clone()
        match a with
        | :? VectorBatch as x -> VectorBatch.FromTensor(copy x.Values) :> IEmbeddingBatch
        | :? QuantileBatch as x -> QuantileBatch.FromTensor(copy x.Values, copy x.Levels) :> IEmbeddingBatch
        | :? DistributionBatch as x -> DistributionBatch.FromTensors(copy x.Points, copy x.Weights) :> IEmbeddingBatch
        | _ -> Validation.fail name $"{name} of type {a.GetType().Name} cannot be kept in a memory; give a VectorBatch, QuantileBatch or DistributionBatch."

/// The memory's checkpoint format: header, representation code, its tensors and the labels, each tensor as
/// (dtype code, rank, shape, raw little-endian bytes).
module internal MemoryState =
    let magic = 0x4D425831u // "1XBM"
    let private codeOf (t: torch.ScalarType) =
        if t = torch.float32 then 1 elif t = torch.float64 then 2 elif t = torch.int64 then 3
        else invalidOp $"a memory tensor of dtype {t} cannot be stored."
    let private dtypeOf (code: int) =
        match code with
        | 1 -> torch.float32, 4L
        | 2 -> torch.float64, 8L
        | 3 -> torch.int64, 8L
        | other -> raise (InvalidDataException $"the memory state names dtype code {other}; 1 (float32), 2 (float64) or 3 (int64) was expected.")

    let write (w: BinaryWriter) (t: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let cpu = t.detach().cpu().contiguous()
        w.Write(codeOf cpu.dtype)
        w.Write(int (cpu.dim()))
        for n in cpu.shape do w.Write(n)
        w.Flush()
        if cpu.numel() > 0L then w.BaseStream.Write(cpu.bytes)

    /// Reads one tensor of an expected rank and dtype kind onto a device (outside any dispose scope).
    let read (r: BinaryReader) (what: string) (rank: int) (floating: bool) (device: torch.Device) : torch.Tensor =
        let dtype, size = dtypeOf (r.ReadInt32())
        if floating <> (dtype <> torch.int64) then
            let expected = if floating then "float32 or float64" else "int64"
            raise (InvalidDataException $"the memory state's {what} have dtype {dtype}; {expected} was expected.")
        let stored = r.ReadInt32()
        if stored <> rank then raise (InvalidDataException $"the memory state's {what} have rank {stored}; {rank} was expected.")
        let shape = Array.init rank (fun _ -> r.ReadInt64())
        let stream = r.BaseStream
        let remaining = if stream.CanSeek then stream.Length - stream.Position else Int64.MaxValue
        if shape |> Array.exists (fun n -> n < 0L || n > remaining) then
            raise (InvalidDataException $"the memory state's {what} claim shape [{String.Join(',', shape)}], more than the {remaining} bytes left.")
        let count = shape |> Array.fold (fun acc n -> acc * n) 1L
        if count > remaining / size then
            raise (InvalidDataException $"the memory state's {what} claim {count} values, more than the {remaining} bytes left hold.")
        use scope = torch.NewDisposeScope()
        let cpu = torch.empty(shape, dtype = dtype)
        if count > 0L then stream.ReadExactly(cpu.bytes)
        let result = cpu.``to``(device).clone()
        result.DetachFromDisposeScope() |> ignore
        result

/// <summary>
/// Cross-batch memory (XBM) [1]: a FIFO queue of the embeddings and labels of past batches (detached), and a wrapped
/// triplet or pair loss computed on tuples whose anchor is in the current batch and whose other items come from the
/// current batch or the memory — so each step sees far more negatives than one batch holds.
/// </summary>
/// <remarks>
/// <para>Each <c>Compute</c>: the batch X (B items, with gradient) and the memory M (m ≤ Size items, no gradient) are
/// joined as [X; M]; the miner runs on the joined batch and only the tuples anchored in X are kept (the miner
/// <c>all</c>: every valid triplet or pair anchored in X); the wrapped loss is computed on them, with the wrapped loss's
/// own options and reduction (a per-anchor loss such as <c>multi-similarity</c> is reduced over the B anchors of X);
/// then X is appended to the memory (detached copies) and the oldest items beyond Size are dropped. The memory thus
/// holds past batches only, so with an empty memory (the first step, or Size = 0) the value equals the plain wrapped
/// loss with the same miner. [1] enqueues the batch before computing; here its pairs with itself come from the
/// batch, with gradient, instead of from the memory.</para>
/// <para>Cost: the miner sees B + m items (a <c>Pairwise</c> matrix of (B + m)², and O((B + m)³) booleans for
/// <c>semi-hard</c>); the memory lives on the embeddings' device. <c>SaveState</c> / <c>LoadState</c> store and restore
/// the memory bit for bit (the facade's trainers keep it in their resumable checkpoints, so a resumed run continues with
/// the memory the uninterrupted run had).</para>
/// <para>[1] X. Wang, H. Zhang, W. Huang, M. R. Scott, "Cross-Batch Memory for Embedding Learning", CVPR 2020, §3–4 (Algorithm 1).</para>
/// </remarks>
[<Sealed>]
type CrossBatchMemory internal (inner: string, tuples: LossTuples, size: int, miner: IMiner,
                                compute: IEmbeddingBatch -> torch.Tensor -> IDistance -> MemoryTuples -> int -> torch.Tensor) =
    let mutable memory: IEmbeddingBatch = Unchecked.defaultof<IEmbeddingBatch>
    let mutable memoryLabels: torch.Tensor = null

    /// <summary>The wrapped loss's name.</summary>
    member _.Loss = inner
    /// <summary>The miner's name.</summary>
    member _.Miner = miner.Name
    /// <summary>The memory size M (items).</summary>
    member _.Size = size
    /// <summary>The number of items now in the memory (≤ Size).</summary>
    member _.Count = if isNull (box memory) then 0 else memory.Count
    /// <summary>The memory's embeddings, oldest first (detached), or null when empty. The memory owns them.</summary>
    member _.Memory = memory
    /// <summary>The memory's labels, oldest first (a copy).</summary>
    member _.MemoryLabels: int64[] = if isNull memoryLabels then [||] else memoryLabels.cpu().data<int64>().ToArray()

    /// <summary>Appends detached copies of a batch to the memory and drops the oldest items beyond Size (FIFO).</summary>
    /// <param name="embeddings">B embeddings of the memory's representation and shape.</param>
    /// <param name="labels">int64 [B].</param>
    /// <exception cref="T:System.ArgumentException">Another representation or shape than the memory's, labels not int64 [B].</exception>
    member _.Enqueue(embeddings: IEmbeddingBatch, labels: torch.Tensor) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "embeddings" embeddings
        TupleSupport.checkLabels labels
        if labels.shape.[0] <> int64 embeddings.Count then
            Validation.fail "labels" $"labels has {labels.shape.[0]} entries but embeddings has {embeddings.Count}; labels must be int64 [B]."
        if size > 0 then
            use scope = torch.NewDisposeScope()
            let copy = EmbeddingBatches.detachedCopy "embeddings" embeddings
            let copyLabels = labels.detach().clone()
            let joined, joinedLabels =
                if isNull (box memory) then copy, copyLabels
                else
                    EmbeddingBatches.concat "embeddings" memory copy,
                    torch.cat([| memoryLabels; copyLabels.``to``(memoryLabels.device) |], 0L)
            let n = joined.Count
            let kept, keptLabels =
                if n <= size then joined, joinedLabels
                else
                    let last = torch.arange(int64 (n - size), int64 n, dtype = torch.int64, device = joined.Device)
                    joined.Select(last), joinedLabels.index_select(0L, last.``to``(joinedLabels.device))
            let kept = EmbeddingBatches.detachedCopy "embeddings" kept
            // The memory outlives the caller's dispose scopes (a trainer's step scope): detach it from them.
            let keptLabels = keptLabels.clone()
            keptLabels.DetachFromDisposeScope() |> ignore
            for t in (match kept with
                      | :? VectorBatch as v -> [ v.Values ]
                      | :? QuantileBatch as q -> [ q.Values; q.Levels ]
                      | :? DistributionBatch as d -> [ d.Points; d.Weights ]
                      | _ -> []) do
                t.DetachFromDisposeScope() |> ignore
            if not (isNull (box memory)) then memory.Dispose()
            if not (isNull memoryLabels) then memoryLabels.Dispose()
            memory <- kept
            memoryLabels <- keptLabels

    /// <summary>Empties the memory.</summary>
    member _.Clear() =
        if not (isNull (box memory)) then memory.Dispose()
        if not (isNull memoryLabels) then memoryLabels.Dispose()
        memory <- Unchecked.defaultof<IEmbeddingBatch>
        memoryLabels <- null

    /// <summary>Writes the memory — its representation, embeddings and labels, bit for bit — to a stream (left open).</summary>
    /// <param name="stream">A writable stream.</param>
    member _.SaveState(stream: Stream) =
        Validation.notNull "stream" stream
        use w = new BinaryWriter(stream, Text.Encoding.UTF8, true)
        w.Write(MemoryState.magic)
        if isNull (box memory) then w.Write(0)
        else
            let code, tensors =
                match memory with
                | :? VectorBatch as v -> 1, [ v.Values ]
                | :? QuantileBatch as q -> 2, [ q.Values; q.Levels ]
                | :? DistributionBatch as d -> 3, [ d.Points; d.Weights ]
                | other -> invalidOp $"a memory of {other.GetType().Name} cannot be stored."
            w.Write(code)
            for t in tensors do MemoryState.write w t
            MemoryState.write w memoryLabels
        w.Flush()

    /// <summary>Replaces the memory with the one written by <c>SaveState</c>, on a device.</summary>
    /// <param name="stream">A readable stream positioned at the state.</param>
    /// <param name="device">The device of the memory (that of the embeddings it will be joined with); null means CPU.</param>
    /// <exception cref="T:System.IO.InvalidDataException">Not a memory state, or a truncated or inconsistent one (more
    /// items than Size, labels of another count, shapes that do not fit the representation).</exception>
    member this.LoadState(stream: Stream, device: torch.Device) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "stream" stream
        let device = if isNull device then torch.CPU else device
        use r = new BinaryReader(stream, Text.Encoding.UTF8, true)
        if r.ReadUInt32() <> MemoryState.magic then raise (InvalidDataException "the stream is not a cross-batch memory state (wrong header).")
        let code = r.ReadInt32()
        let read what rank floating = MemoryState.read r what rank floating device
        let tensors =
            match code with
            | 0 -> []
            | 1 -> [ read "embeddings" 2 true ]
            | 2 -> [ read "quantile values" 3 true; read "quantile levels" 1 true ]
            | 3 -> [ read "distribution points" 3 true; read "distribution weights" 2 true ]
            | other -> raise (InvalidDataException $"the memory state names representation code {other}; 0 (empty), 1 (vectors), 2 (quantiles) or 3 (distributions) was expected.")
        let labels = if code = 0 then null else read "labels" 1 false
        try
            let batch: IEmbeddingBatch =
                match code, tensors with
                | 0, _ -> Unchecked.defaultof<IEmbeddingBatch>
                | 1, [ v ] -> VectorBatch.FromTensor v :> IEmbeddingBatch
                | 2, [ v; l ] -> QuantileBatch.FromTensor(v, l) :> IEmbeddingBatch
                | 3, [ p; w ] ->
                    if w.shape.[0] <> p.shape.[0] || w.shape.[1] <> p.shape.[1] then
                        raise (InvalidDataException $"the memory state's weights have shape [{String.Join(',', w.shape)}] but its points [{String.Join(',', p.shape)}].")
                    DistributionBatch.OfNormalised(p, w) :> IEmbeddingBatch
                | _ -> invalidOp "unreachable"
            if code <> 0 then
                if int64 batch.Count <> labels.shape.[0] then
                    raise (InvalidDataException $"the memory state holds {batch.Count} items but {labels.shape.[0]} labels.")
                if batch.Count > size then
                    raise (InvalidDataException $"the memory state holds {batch.Count} items, more than this memory's Size = {size}.")
            // The memory outlives the caller's dispose scopes: detach every tensor the batch holds from them.
            match batch with
            | :? QuantileBatch as q -> q.Levels.DetachFromDisposeScope() |> ignore
            | _ -> ()
            this.Clear()
            memory <- batch
            memoryLabels <- labels
        with
        | :? ArgumentException as e ->
            for t in tensors do t.Dispose()
            if not (isNull labels) then labels.Dispose()
            raise (InvalidDataException($"the memory state is invalid: {e.Message}", e))
        | _ ->
            for t in tensors do t.Dispose()
            if not (isNull labels) then labels.Dispose()
            reraise ()

    /// <summary>Frees the memory.</summary>
    member this.Dispose() = this.Clear()

    interface IDisposable with
        member this.Dispose() = this.Dispose()

    interface IMetricLoss with
        member _.Name = "xbm"
        member this.Compute(embeddings, labels, distance, triplets) =
            NativeRuntime.EnsureInitialized()
            if not (isNull triplets) then
                Validation.fail "triplets" $"xbm mines its own tuples between the batch and the memory (miner '{miner.Name}'); pass triplets = null (the miner 'all' to a trainer)."
            TupleSupport.checkInputs embeddings labels distance
            let value =
                use scope = torch.NewDisposeScope()
                let b = embeddings.Count
                let joined, joinedLabels =
                    if isNull (box memory) then embeddings, labels
                    else
                        EmbeddingBatches.concat "embeddings" embeddings memory,
                        torch.cat([| labels; memoryLabels.``to``(labels.device) |], 0L)
                use bound = Scalar.op_Implicit (int64 b)
                let anchoredHere (a: torch.Tensor) = a.lt(bound).nonzero().squeeze(1L)
                let chosen =
                    use mined = miner.Mine(joined, joinedLabels, distance)
                    if isNull mined then
                        match tuples with
                        | LossTuples.Triplets ->
                            let a, p, n = TupleSupport.allTriplets joinedLabels
                            let keep = anchoredHere a
                            TripletsOf(TripletIndices.Wrap(a.index_select(0L, keep), p.index_select(0L, keep), n.index_select(0L, keep)))
                        | _ ->
                            let a1, p, a2, n = TupleSupport.allPairs joinedLabels
                            let k1 = anchoredHere a1
                            let k2 = anchoredHere a2
                            PairsOf(PairIndices.Wrap(a1.index_select(0L, k1), p.index_select(0L, k1), a2.index_select(0L, k2), n.index_select(0L, k2)))
                    else
                        let keep = anchoredHere mined.Anchor
                        TripletsOf(TripletIndices.Wrap(mined.Anchor.index_select(0L, keep), mined.Positive.index_select(0L, keep), mined.Negative.index_select(0L, keep)))
                (compute joined joinedLabels distance chosen b).MoveToOuterDisposeScope()
            this.Enqueue(embeddings, labels)
            value
