namespace DistEmbed.Core

open System
open System.Collections.Generic
open TorchSharp


/// <summary>How a loss turns its per-tuple terms into the value it returns.</summary>
type Reduction =
    /// <summary>The mean over all terms (K terms → a scalar); no term at all gives 0.</summary>
    | Mean = 0
    /// <summary>The mean over the active terms only (those &gt; 0), as pytorch-metric-learning's <c>AvgNonZeroReducer</c>; no active term gives 0.</summary>
    | MeanNonZero = 1
    /// <summary>The sum of all terms.</summary>
    | Sum = 2
    /// <summary>No reduction: the per-term values, a tensor [K] in the order the loss documents.</summary>
    | None = 3

/// <summary>
/// Triplets (a_k, p_k, n_k), k = 1..K, as three int64 index tensors [K] into a batch: the format miners return and
/// triplet losses accept (as pytorch-metric-learning's indices tuple). A valid triplet has
/// label(a) = label(p), a ≠ p and label(n) ≠ label(a).
/// </summary>
[<Sealed; AllowNullLiteral>]
type TripletIndices private (anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) =
    /// <summary>Anchor indices, int64 [K].</summary>
    member _.Anchor = anchor
    /// <summary>Positive indices, int64 [K].</summary>
    member _.Positive = positive
    /// <summary>Negative indices, int64 [K].</summary>
    member _.Negative = negative
    /// <summary>The number of triplets K.</summary>
    member _.Count = int anchor.shape.[0]
    /// <summary>The triplets as three arrays (anchor, positive, negative), copied to the CPU.</summary>
    /// <returns>Three arrays of length K.</returns>
    member _.ToArrays() : int64[] * int64[] * int64[] =
        let read (t: torch.Tensor) = t.cpu().data<int64>().ToArray()
        read anchor, read positive, read negative
    /// <summary>Disposes the three index tensors.</summary>
    member _.Dispose() =
        anchor.Dispose()
        positive.Dispose()
        negative.Dispose()
    interface IDisposable with
        member this.Dispose() = this.Dispose()

    static member internal Wrap(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) = new TripletIndices(anchor, positive, negative)

    /// <summary>Wraps three int64 index tensors [K] on one device (K ≥ 0). The tensors are used as is, not copied.</summary>
    /// <param name="anchor">int64 [K].</param>
    /// <param name="positive">int64 [K].</param>
    /// <param name="negative">int64 [K].</param>
    /// <returns>The triplets.</returns>
    /// <exception cref="T:System.ArgumentException">A tensor is not int64 [K], the lengths differ, or the devices differ.</exception>
    static member Create(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor) =
        NativeRuntime.EnsureInitialized()
        let check name (t: torch.Tensor) =
            Validation.notNull name t
            if t.dtype <> torch.int64 || t.dim() <> 1L then
                Validation.fail name $"{name} has dtype {t.dtype} and shape {Validation.shape t}; indices must be int64 [K]."
        check "anchor" anchor
        check "positive" positive
        check "negative" negative
        for name, t in [ "positive", positive; "negative", negative ] do
            if t.shape.[0] <> anchor.shape.[0] then
                Validation.fail name $"{name} has {t.shape.[0]} indices but anchor has {anchor.shape.[0]}; they must match."
            if not (Validation.sameDevice t.device anchor.device) then
                Validation.fail name $"{name} is on {t.device} but anchor is on {anchor.device}; all must be on one device."
        new TripletIndices(anchor, positive, negative)

    /// <summary>Triplets from three index arrays of one length K (CPU int64 tensors).</summary>
    /// <param name="anchor">K anchor indices.</param>
    /// <param name="positive">K positive indices.</param>
    /// <param name="negative">K negative indices.</param>
    /// <returns>The triplets.</returns>
    /// <exception cref="T:System.ArgumentException">An array is null or the lengths differ.</exception>
    static member FromArrays(anchor: int64[], positive: int64[], negative: int64[]) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "anchor" anchor
        Validation.notNull "positive" positive
        Validation.notNull "negative" negative
        Validation.sameLength "positive" anchor.Length positive.Length "anchor"
        Validation.sameLength "negative" anchor.Length negative.Length "anchor"
        new TripletIndices(torch.tensor(anchor), torch.tensor(positive), torch.tensor(negative))

/// <summary>
/// Positive pairs (a1_k, p_k), k = 1..P, and negative pairs (a2_l, n_l), l = 1..N, as four int64 index tensors into a
/// batch — pytorch-metric-learning's pair indices tuple (a1, p, a2, n). Pair losses (contrastive, NT-Xent,
/// multi-similarity, margin) accept it. A valid positive pair has label(a1) = label(p) and a1 ≠ p; a valid
/// negative pair has label(a2) ≠ label(n).
/// </summary>
[<Sealed; AllowNullLiteral>]
type PairIndices private (anchorPositive: torch.Tensor, positive: torch.Tensor, anchorNegative: torch.Tensor, negative: torch.Tensor) =
    /// <summary>Anchors of the positive pairs, int64 [P].</summary>
    member _.AnchorPositive = anchorPositive
    /// <summary>Positives, int64 [P].</summary>
    member _.Positive = positive
    /// <summary>Anchors of the negative pairs, int64 [N].</summary>
    member _.AnchorNegative = anchorNegative
    /// <summary>Negatives, int64 [N].</summary>
    member _.Negative = negative
    /// <summary>The number of positive pairs P.</summary>
    member _.PositiveCount = int positive.shape.[0]
    /// <summary>The number of negative pairs N.</summary>
    member _.NegativeCount = int negative.shape.[0]
    /// <summary>Disposes the four index tensors.</summary>
    member _.Dispose() =
        anchorPositive.Dispose()
        positive.Dispose()
        anchorNegative.Dispose()
        negative.Dispose()
    interface IDisposable with
        member this.Dispose() = this.Dispose()

    static member internal Wrap(a1: torch.Tensor, p: torch.Tensor, a2: torch.Tensor, n: torch.Tensor) = new PairIndices(a1, p, a2, n)

    /// <summary>Wraps four int64 index tensors: a1, p [P] and a2, n [N], on one device. Used as is, not copied.</summary>
    /// <param name="anchorPositive">int64 [P].</param>
    /// <param name="positive">int64 [P].</param>
    /// <param name="anchorNegative">int64 [N].</param>
    /// <param name="negative">int64 [N].</param>
    /// <returns>The pairs.</returns>
    /// <exception cref="T:System.ArgumentException">A tensor is not int64 1-D, a1/p or a2/n lengths differ, or the devices differ.</exception>
    static member Create(anchorPositive: torch.Tensor, positive: torch.Tensor, anchorNegative: torch.Tensor, negative: torch.Tensor) =
        NativeRuntime.EnsureInitialized()
        let check name (t: torch.Tensor) =
            Validation.notNull name t
            if t.dtype <> torch.int64 || t.dim() <> 1L then
                Validation.fail name $"{name} has dtype {t.dtype} and shape {Validation.shape t}; indices must be int64 1-D."
            if not (Validation.sameDevice t.device anchorPositive.device) then
                Validation.fail name $"{name} is on {t.device} but anchorPositive is on {anchorPositive.device}; all must be on one device."
        check "anchorPositive" anchorPositive
        check "positive" positive
        check "anchorNegative" anchorNegative
        check "negative" negative
        if positive.shape.[0] <> anchorPositive.shape.[0] then
            Validation.fail "positive" $"positive has {positive.shape.[0]} indices but anchorPositive has {anchorPositive.shape.[0]}; they must match."
        if negative.shape.[0] <> anchorNegative.shape.[0] then
            Validation.fail "negative" $"negative has {negative.shape.[0]} indices but anchorNegative has {anchorNegative.shape.[0]}; they must match."
        new PairIndices(anchorPositive, positive, anchorNegative, negative)

    /// <summary>
    /// The pairs that triplets use: positive pairs (a_k, p_k) and negative pairs (a_k, n_k), k = 1..K (copies).
    /// </summary>
    /// <param name="triplets">K triplets.</param>
    /// <returns>P = N = K pairs.</returns>
    static member FromTriplets(triplets: TripletIndices) =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "triplets" triplets
        new PairIndices(triplets.Anchor.clone(), triplets.Positive.clone(), triplets.Anchor.clone(), triplets.Negative.clone())

/// Shared checks and helpers of the losses and miners: label validation, all-valid tuples, distances on index pairs,
/// connected zeros and reductions.
module internal TupleSupport =

    /// Checks embeddings, labels and distance together: labels int64 [B] with B = embeddings.Count, and a distance that
    /// accepts the batch's representation.
    let checkInputs (embeddings: IEmbeddingBatch) (labels: torch.Tensor) (distance: IDistance) =
        Validation.notNull "embeddings" embeddings
        Validation.notNull "labels" labels
        Validation.notNull "distance" distance
        if labels.dtype <> torch.int64 then
            Validation.fail "labels" $"labels has dtype {labels.dtype}; labels must be an int64 tensor [B]."
        if labels.dim() <> 1L || labels.shape.[0] <> int64 embeddings.Count then
            Validation.fail "labels" $"labels has shape {Validation.shape labels} but embeddings has B = {embeddings.Count} items; labels must be int64 [B]."
        if distance.Accepts <> embeddings.Representation then
            Validation.fail "distance" $"distance '{distance.Name}' accepts {distance.Accepts} but embeddings are {embeddings.Representation}."

    /// Checks label-only inputs (miners that need no distance).
    let checkLabels (labels: torch.Tensor) =
        Validation.notNull "labels" labels
        if labels.dtype <> torch.int64 || labels.dim() <> 1L then
            Validation.fail "labels" $"labels has dtype {labels.dtype} and shape {Validation.shape labels}; labels must be an int64 tensor [B]."

    /// Checks that every index in the given tensors lies in [0, count).
    let checkRange (name: string) (count: int) (indices: torch.Tensor list) =
        for t in indices do
            if t.shape.[0] > 0L then
                let lo = t.min().ToInt64()
                let hi = t.max().ToInt64()
                if lo < 0L || hi >= int64 count then
                    Validation.fail name $"{name} holds index {(if lo < 0L then lo else hi)}, outside the batch of {count} items."

    /// Checks an options field: finite and ≥ lower (ParamName "options", the message names the field).
    let optionAtLeast (field: string) (lower: float) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value || value < lower then
            Validation.fail "options" $"options.{field} = {value} is invalid; it must be a finite number ≥ {lower}."

    /// Checks an options field: finite and &gt; 0.
    let optionPositive (field: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value || value <= 0.0 then
            Validation.fail "options" $"options.{field} = {value} is invalid; it must be a finite number > 0."

    /// Checks an options field: finite.
    let optionFinite (field: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value then
            Validation.fail "options" $"options.{field} = {value} is invalid; it must be a finite number."

    let checkReduction (reduction: Reduction) =
        if not (Enum.IsDefined(typeof<Reduction>, reduction)) then
            Validation.fail "options" $"options.Reduction = {int reduction} is not one of Mean, MeanNonZero, Sum, None."

    /// Masks [B, B] of the valid positive pairs (same label, i ≠ j) and negative pairs (different labels).
    let pairMasks (labels: torch.Tensor) : torch.Tensor * Tensor =
        let same = labels.unsqueeze(1L).eq(labels.unsqueeze(0L))
        let eye = torch.eye(labels.shape.[0], dtype = torch.ScalarType.Bool, device = labels.device)
        same.logical_and(eye.logical_not()), same.logical_not()

    /// All valid triplets of a batch (anchor-major order).
    let allTriplets (labels: torch.Tensor) : torch.Tensor * Tensor * Tensor =
        let positive, negative = pairMasks labels
        let valid = positive.unsqueeze(2L).logical_and(negative.unsqueeze(1L))
        let idx = valid.nonzero()
        idx.select(1L, 0L).contiguous(), idx.select(1L, 1L).contiguous(), idx.select(1L, 2L).contiguous()

    /// All valid ordered pairs of a batch: (a1, p) positives and (a2, n) negatives (row-major order).
    let allPairs (labels: torch.Tensor) : torch.Tensor * Tensor * Tensor * Tensor =
        let positive, negative = pairMasks labels
        let p = positive.nonzero()
        let n = negative.nonzero()
        p.select(1L, 0L).contiguous(), p.select(1L, 1L).contiguous(), n.select(1L, 0L).contiguous(), n.select(1L, 1L).contiguous()

    /// The pairs a pair loss uses: all valid ordered pairs when pairs is null, else the given pairs after checking
    /// that every index lies in the batch (names pairs).
    let resolvePairs (embeddings: IEmbeddingBatch) (labels: torch.Tensor) (pairs: PairIndices) : torch.Tensor * Tensor * Tensor * Tensor =
        if isNull pairs then allPairs labels
        else
            checkRange "pairs" embeddings.Count [ pairs.AnchorPositive; pairs.Positive; pairs.AnchorNegative; pairs.Negative ]
            pairs.AnchorPositive, pairs.Positive, pairs.AnchorNegative, pairs.Negative

    /// A scalar zero connected to the embeddings' autograd graph (its gradient is an exact, finite zero).
    let connectedZero (embeddings: IEmbeddingBatch) (distance: IDistance) : torch.Tensor =
        match embeddings with
        | :? VectorBatch as v -> v.Values.sum().mul(Scalars.sc 0.0)
        | :? QuantileBatch as q -> q.Values.sum().mul(Scalars.sc 0.0)
        | :? DistributionBatch as d ->
            let kept = d.Points.masked_fill(d.Weights.le(Scalars.sc 0.0).unsqueeze(2L), Scalars.sc 0.0)
            kept.sum().mul(Scalars.sc 0.0).add(d.Weights.sum().mul(Scalars.sc 0.0), Scalars.sc 1.0)
        | other ->
            let first = torch.tensor([| 0L |], device = other.Device)
            let last = torch.tensor([| int64 (other.Count - 1) |], device = other.Device)
            distance.Paired(other.Select(first), other.Select(last)).sum().mul(Scalars.sc 0.0)

    /// An empty [0] tensor connected to the embeddings' graph (so that reducing it still back-propagates).
    let connectedEmpty (embeddings: IEmbeddingBatch) (distance: IDistance) : torch.Tensor =
        (connectedZero embeddings distance).unsqueeze(0L).narrow(0L, 0L, 0L)

    /// D(x_rows[k], x_cols[k]) for k = 1..K, [K]: one Paired call over the distinct (row, col) pairs only, so the
    /// diagonal D(x_i, x_i) is never evaluated unless a tuple asks for it. Rows are the first argument of D.
    let pairDistances (embeddings: IEmbeddingBatch) (distance: IDistance) (rows: torch.Tensor) (cols: torch.Tensor) : torch.Tensor =
        if rows.shape.[0] = 0L then connectedEmpty embeddings distance
        else
            let r = rows.cpu().data<int64>().ToArray()
            let c = cols.cpu().data<int64>().ToArray()
            let slot = Dictionary<struct (int64 * int64), int64>()
            let ui = ResizeArray<int64>()
            let uj = ResizeArray<int64>()
            let inverse =
                Array.init r.Length (fun k ->
                    let key = struct (r.[k], c.[k])
                    match slot.TryGetValue key with
                    | true, s -> s
                    | _ ->
                        let s = int64 ui.Count
                        slot.[key] <- s
                        ui.Add r.[k]
                        uj.Add c.[k]
                        s)
            let device = embeddings.Device
            let a = embeddings.Select(torch.tensor(ui.ToArray(), device = device))
            let b = embeddings.Select(torch.tensor(uj.ToArray(), device = device))
            let d = distance.Paired(a, b)
            d.index_select(0L, torch.tensor(inverse, device = d.device))

    /// Reduces per-term values [K]; an empty K gives a connected 0 (never NaN).
    let reduce (reduction: Reduction) (terms: torch.Tensor) : torch.Tensor =
        match reduction with
        | Reduction.None -> terms
        | Reduction.Sum -> terms.sum()
        | Reduction.Mean -> if terms.shape.[0] = 0L then terms.sum() else terms.mean()
        | _ ->
            let active = terms.detach().gt(Scalars.sc 0.0).sum().clamp_min(Scalars.sc 1.0).to_type(terms.dtype)
            terms.sum().div(active)

    /// Per-group log-sum-exp: out[g] = log Σ_{k: groups_k = g} exp(values_k) for g = 0..count−1, [count]; a group
    /// without entries gives −∞ with a zero (never NaN) gradient. Entries listed twice count twice. Stable: the
    /// per-group maximum (detached) is subtracted before exponentiating.
    let groupLogSumExp (groups: torch.Tensor) (values: torch.Tensor) (count: int64) : torch.Tensor =
        use one = Scalar.op_Implicit 1.0
        use minusInfinity = Scalar.op_Implicit Double.NegativeInfinity
        use zero = Scalar.op_Implicit 0.0
        let device = values.device
        let groups = if Validation.sameDevice groups.device device then groups else groups.``to``(device)
        // The per-group maximum, on the CPU (detached): K entries, one pass.
        let top =
            let v = values.detach().cpu().to_type(torch.float64).data<float>().ToArray()
            let g = groups.cpu().data<int64>().ToArray()
            let m = Array.create (int count) Double.NegativeInfinity
            for k in 0 .. v.Length - 1 do
                let i = int g.[k]
                if v.[k] > m.[i] || Double.IsNaN v.[k] then m.[i] <- v.[k]
            torch.tensor(m, dtype = values.dtype, device = device)
        let empty : torch.Tensor = top.isneginf()
        let shift = top.masked_fill(empty, zero)
        let sums = torch.zeros([| count |], dtype = values.dtype, device = device).index_add(0L, groups, values.add(shift.index_select(0L, groups).neg(), one).exp(), one)
        sums.masked_fill(empty, one).log().add(shift, one).masked_fill(empty, minusInfinity)

    /// Per-group sums of values [K] into [count] (differentiable) and the number of entries per group.
    let groupSum (groups: torch.Tensor) (values: torch.Tensor) (count: int64) : torch.Tensor * torch.Tensor =
        use one = Scalar.op_Implicit 1.0
        let device = values.device
        let groups = if Validation.sameDevice groups.device device then groups else groups.``to``(device)
        let sums = torch.zeros([| count |], dtype = values.dtype, device = device).index_add(0L, groups, values, one)
        let counts = torch.zeros([| count |], dtype = values.dtype, device = device).index_add(0L, groups, torch.ones_like(values), one)
        sums, counts

    /// int64 [K] on the given device.
    let onDevice (device: torch.Device) (t: torch.Tensor) =
        if Validation.sameDevice t.device device then t else t.``to``(device)
