namespace DistEmbed.Core

open System
open System.Collections.Generic
open System.IO
open TorchSharp
open TorchSharp.Modules

/// <summary>Options of <c>ProxyAnchorLoss.Compute</c> and the catalog's <c>proxy-anchor</c>.</summary>
[<Sealed; AllowNullLiteral>]
type ProxyAnchorLossOptions() =
    /// <summary>The scale α &gt; 0 (default 32, as in [1]).</summary>
    member val Alpha = 32.0 with get, set
    /// <summary>The margin δ ≥ 0 (default 0.1, as in [1]).</summary>
    member val Delta = 0.1 with get, set

/// <summary>The Proxy-Anchor loss of Kim et al. (2020) over any distance, with one proxy embedding per class.</summary>
[<RequireQualifiedAccess>]
module ProxyAnchorLoss =

    /// <summary>
    /// Proxy-Anchor loss [1, eq. 4] with the similarity s(x, p) = 1 − D(p, x):
    /// (1/|P⁺|) Σ_{p∈P⁺} log(1 + Σ_{x∈X_p⁺} e^{−α(s(x,p) − δ)}) + (1/|P|) Σ_{p∈P} log(1 + Σ_{x∈X_p⁻} e^{α(s(x,p) + δ)}).
    /// </summary>
    /// <remarks>
    /// <para>P holds all C proxies (row c of <paramref name="proxies"/> is the proxy of class c), P⁺ the proxies of the
    /// classes present in the batch, X_p⁺ the items of the proxy's class and X_p⁻ the others. [1] uses the cosine
    /// similarity; with the catalog's <c>cosine</c> distance D = 1 − cos, s = 1 − D is exactly cos and the loss is
    /// [1, eq. 4]. For another distance s = 1 − D is the negative distance shifted so that D = 0 gives s = 1. Each
    /// log(1 + Σ e^z) is a log-sum-exp with a zero entry, stable for any α.</para>
    /// <para>The proxy plays the anchor: the distance is D(proxy, item), <c>Pairwise(proxies, embeddings)</c> [C, B], so
    /// non-symmetric divergences take the proxy as the first argument. The loss uses every item of the batch: it takes
    /// no tuples and no miner. Gradients reach both the embeddings and the proxies (make the proxies learnable, as [1]
    /// does; the catalog's <c>proxy-anchor</c> owns them).</para>
    /// <para>[1] S. Kim, D. Kim, M. Cho, S. Kwak, "Proxy Anchor Loss for Deep Metric Learning", CVPR 2020, eq. 4.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels in [0, C).</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="proxies">C ≥ 1 proxies in the embeddings' representation, row c for class c (may require grad).</param>
    /// <param name="options">α and δ; null for the defaults.</param>
    /// <returns>A scalar.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B] or outside [0, C), a distance for another representation, proxies of another representation or device, α ≤ 0, δ &lt; 0 or non-finite.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, proxies: IEmbeddingBatch, options: ProxyAnchorLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        Validation.notNull "proxies" proxies
        if proxies.Representation <> embeddings.Representation then
            Validation.fail "proxies" $"proxies are {proxies.Representation} but embeddings are {embeddings.Representation}; they must be of one representation."
        if not (Validation.sameDevice proxies.Device embeddings.Device) then
            Validation.fail "proxies" $"proxies are on {proxies.Device} but embeddings are on {embeddings.Device}; they must be on one device."
        let options = if isNull options then ProxyAnchorLossOptions() else options
        TupleSupport.optionPositive "Alpha" options.Alpha
        TupleSupport.optionAtLeast "Delta" 0.0 options.Delta
        use scope = torch.NewDisposeScope()
        let c = int64 proxies.Count
        if labels.shape.[0] > 0L then
            let lo = labels.min().ToInt64()
            let hi = labels.max().ToInt64()
            if lo < 0L || hi >= c then
                Validation.fail "labels" $"labels holds {(if lo < 0L then lo else hi)}, but there are C = {c} proxies; labels must lie in [0, C)."
        let d = distance.Pairwise(proxies, embeddings)
        let b = int64 embeddings.Count
        if d.dim() <> 2L || d.shape.[0] <> c || d.shape.[1] <> b then
            Validation.fail "distance" $"distance '{distance.Name}' returned a Pairwise matrix of shape {Validation.shape d}; [{c},{b}] was expected."
        let device = d.device
        // Scalars are bound with `use` for the whole computation and every addition passes its alpha explicitly: a
        // temporary Scalar can be finalised while a native call still reads it (TorchSharp 0.107).
        use one = Scalar.op_Implicit 1.0
        use zero = Scalar.op_Implicit 0.0
        use minusInfinity = Scalar.op_Implicit Double.NegativeInfinity
        use alpha = Scalar.op_Implicit options.Alpha
        use minusAlpha = Scalar.op_Implicit (-options.Alpha)
        use minusDelta = Scalar.op_Implicit (-options.Delta)
        use delta = Scalar.op_Implicit options.Delta
        let s = d.neg().add(one, one)
        let own = torch.arange(c, dtype = torch.int64, device = device).unsqueeze(1L).eq((TupleSupport.onDevice device labels).unsqueeze(0L))
        // log(1 + Σ_{masked} e^z) per proxy: a masked logsumexp with a zero column.
        let logOnePlus (z: torch.Tensor) (keep: torch.Tensor) =
            let masked = z.masked_fill(keep.logical_not(), minusInfinity)
            torch.logsumexp(torch.cat([| torch.zeros(c, 1L, dtype = z.dtype, device = device); masked |], 1L), 1L)
        let positive = logOnePlus (s.add(minusDelta, one).mul(minusAlpha)) own
        let negative = logOnePlus (s.add(delta, one).mul(alpha)) (own.logical_not())
        let present = own.any(1L)
        let presentCount = present.sum().clamp_min(one).to_type(positive.dtype)
        let positiveTerm = positive.masked_fill(present.logical_not(), zero).sum().div(presentCount)
        let negativeTerm = negative.sum().div(Scalars.sc (float c))
        positiveTerm.add(negativeTerm, one).MoveToOuterDisposeScope()

/// <summary>
/// Learnable class proxies in the representation of the embeddings, one per class (the proxies of
/// <c>ProxyAnchorLoss</c>): vectors [C, d]; quantile functions [C, d, Q] (stored unconstrained and sorted along the
/// levels on use, so every proxy stays a valid quantile function); or distributions [C, T, d] with learnable points and
/// the fixed weights of the prototype they started from.
/// </summary>
[<Sealed>]
type ClassProxies private (classes: int64[], representation: Representation, values: Parameter, fixedTensor: torch.Tensor) =
    let index = Dictionary<int64, int64>()
    do classes |> Array.iteri (fun i c -> index.[c] <- int64 i)

    /// <summary>The class labels, row c of the proxies is the proxy of <c>Classes[c]</c>.</summary>
    member _.Classes: IReadOnlyList<int64> = Array.AsReadOnly(Array.copy classes)
    /// <summary>The learnable tensor (vectors [C, d], raw quantiles [C, d, Q] or points [C, T, d]).</summary>
    member _.Values = values
    /// <summary>The representation of the proxies.</summary>
    member _.Representation = representation

    /// <summary>The proxies as a differentiable batch of C embeddings.</summary>
    /// <returns>A new batch (the caller disposes it; the learnable tensor stays).</returns>
    member _.AsBatch() : IEmbeddingBatch =
        match representation with
        | Representation.Vectors -> VectorBatch.FromTensor(values.alias()) :> IEmbeddingBatch
        | Representation.Quantiles ->
            let struct (sorted, _) = values.sort(2L)
            QuantileBatch.FromTensor(sorted, fixedTensor.alias()) :> IEmbeddingBatch
        | _ -> DistributionBatch.FromTensors(values.alias(), fixedTensor.alias()) :> IEmbeddingBatch

    /// <summary>The proxy rows of class labels.</summary>
    /// <param name="labels">int64 [B], each one of <see cref="P:DistEmbed.Core.ClassProxies.Classes"/>.</param>
    /// <returns>int64 [B] on the labels' device.</returns>
    /// <exception cref="T:System.ArgumentException">A label without a proxy (names labels).</exception>
    member _.Rows(labels: torch.Tensor) : torch.Tensor =
        TupleSupport.checkLabels labels
        let rows =
            labels.cpu().data<int64>().ToArray()
            |> Array.map (fun l ->
                match index.TryGetValue l with
                | true, r -> r
                | _ -> Validation.fail "labels" $"labels holds class {l}, which has no proxy; the proxies cover the {classes.Length} classes given to Initialise.")
        torch.tensor(rows, device = labels.device)

    /// <summary>Writes the classes, the learnable values and the fixed tensor (float64) to a writer.</summary>
    member internal _.Write(w: BinaryWriter) =
        let write (t: torch.Tensor) =
            w.Write(t.dim())
            for s in t.shape do w.Write(s)
            for v in t.detach().cpu().to_type(torch.float64).data<float>().ToArray() do w.Write(v)
        w.Write(classes.Length)
        for c in classes do w.Write(c)
        write values
        write fixedTensor

    /// <summary>Overwrites the learnable values and the fixed tensor from a reader (same classes and shapes).</summary>
    member internal _.Read(r: BinaryReader) =
        let n = r.ReadInt32()
        let stored = Array.init (max 0 n) (fun _ -> r.ReadInt64())
        if stored <> classes then
            raise (InvalidDataException $"the loss state holds {n} classes that differ from the {classes.Length} classes of this loss.")
        let read (target: torch.Tensor) =
            let rank = r.ReadInt64()
            let shape = Array.init (int rank) (fun _ -> r.ReadInt64())
            if shape <> target.shape then
                raise (InvalidDataException $"the loss state holds a tensor of shape [{String.Join(',', shape)}] but the loss has [{String.Join(',', target.shape)}].")
            let data = Array.init (int (Array.fold (*) 1L shape)) (fun _ -> r.ReadDouble())
            use _ = torch.no_grad()
            use t = torch.tensor(data, dtype = torch.float64).reshape(shape)
            target.copy_(t) |> ignore
        read values
        read fixedTensor

    /// <summary>Frees the tensors.</summary>
    member _.Dispose() =
        values.Dispose()
        fixedTensor.Dispose()
    interface IDisposable with
        member this.Dispose() = this.Dispose()

    /// <summary>Proxies that start at copies of prototype embeddings (detached), one per class.</summary>
    /// <param name="prototypes">C embeddings; row c starts the proxy of <paramref name="classes"/>[c].</param>
    /// <param name="classes">C distinct labels.</param>
    /// <returns>The proxies, on the prototypes' device and dtype.</returns>
    /// <exception cref="T:System.ArgumentException">Null arguments, C ≠ the number of prototypes, repeated classes.</exception>
    static member FromPrototypes(prototypes: IEmbeddingBatch, classes: int64[]) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "prototypes" prototypes
        Validation.notNull "classes" classes
        if classes.Length <> prototypes.Count then
            Validation.fail "classes" $"classes has {classes.Length} labels but prototypes has {prototypes.Count} embeddings; give one prototype per class."
        if classes.Length = 0 then Validation.fail "classes" "classes is empty; give at least one class."
        if (Array.distinct classes).Length <> classes.Length then
            Validation.fail "classes" "classes holds a label twice; each class has one proxy."
        // The proxies outlive any dispose scope of the caller: they belong to the loss until it is disposed.
        let copy (t: torch.Tensor) = t.detach().clone().DetachFromDisposeScope()
        let learnable (t: torch.Tensor) =
            let p = torch.nn.Parameter(copy t, true)
            p.DetachFromDisposeScope() |> ignore
            p
        match prototypes with
        | :? VectorBatch as v -> new ClassProxies(Array.copy classes, Representation.Vectors, learnable v.Values, torch.zeros(0L, dtype = v.Values.dtype, device = v.Values.device).DetachFromDisposeScope())
        | :? QuantileBatch as q -> new ClassProxies(Array.copy classes, Representation.Quantiles, learnable q.Values, copy q.Levels)
        | :? DistributionBatch as d -> new ClassProxies(Array.copy classes, Representation.Distributions, learnable d.Points, copy d.Weights)
        | other -> Validation.fail "prototypes" $"prototypes of type {other.GetType().Name} are not supported; give a VectorBatch, QuantileBatch or DistributionBatch."

/// <summary>
/// The catalog's <c>proxy-anchor</c>: <c>ProxyAnchorLoss.Compute</c> with learnable class proxies it owns
/// (<see cref="T:DistEmbed.Core.ClassProxies"/>), created by <c>Initialise</c> from one prototype embedding per class.
/// </summary>
[<Sealed>]
type ProxyAnchor(options: ProxyAnchorLossOptions) =
    let options = if isNull options then ProxyAnchorLossOptions() else options
    let mutable proxies: ClassProxies = Unchecked.defaultof<ClassProxies>

    /// <summary>The proxies, or null before <c>Initialise</c>.</summary>
    member _.Proxies = proxies

    interface ITrainableLoss with
        member _.Name = "proxy-anchor"
        member _.IsInitialised = not (obj.ReferenceEquals(proxies, null))
        member _.Initialise(prototypes, classes) =
            let created = ClassProxies.FromPrototypes(prototypes, classes)
            if not (obj.ReferenceEquals(proxies, null)) then proxies.Dispose()
            proxies <- created
        member _.Parameters =
            if obj.ReferenceEquals(proxies, null) then Array.AsReadOnly([||]) :> IReadOnlyList<Parameter>
            else Array.AsReadOnly([| proxies.Values |]) :> IReadOnlyList<Parameter>
        member _.SaveState(stream) =
            Validation.notNull "stream" stream
            if obj.ReferenceEquals(proxies, null) then invalidOp "proxy-anchor has no proxies yet; call Initialise first."
            use w = new BinaryWriter(stream, Text.Encoding.UTF8, true)
            w.Write(0x58525031u)
            proxies.Write w
        member _.LoadState(stream) =
            Validation.notNull "stream" stream
            if obj.ReferenceEquals(proxies, null) then invalidOp "proxy-anchor has no proxies yet; call Initialise (with the same classes) before LoadState."
            use r = new BinaryReader(stream, Text.Encoding.UTF8, true)
            if r.ReadUInt32() <> 0x58525031u then raise (InvalidDataException "the stream is not a proxy-anchor state (wrong header).")
            proxies.Read r
        member _.Compute(embeddings, labels, distance, triplets) =
            if not (isNull triplets) then
                Validation.fail "triplets" "proxy-anchor compares every item with the class proxies and takes no tuples; use the miner 'all' (triplets = null)."
            if obj.ReferenceEquals(proxies, null) then
                invalidOp "proxy-anchor has no proxies yet; call Initialise(prototypes, classes) first (the metric-learning trainer does)."
            TupleSupport.checkInputs embeddings labels distance
            use scope = torch.NewDisposeScope()
            use batch = proxies.AsBatch()
            let rows = proxies.Rows labels
            (ProxyAnchorLoss.compute (embeddings, rows, distance, batch, options)).MoveToOuterDisposeScope()
        member _.Dispose() =
            if not (obj.ReferenceEquals(proxies, null)) then
                proxies.Dispose()
                proxies <- Unchecked.defaultof<ClassProxies>
