namespace DistEmbed.Core

open TorchSharp

/// Tensor building blocks shared by the distance modules: safe roots, accurate squared distances, batch checks.
module internal DistanceKernels =

    type private Tensor = torch.Tensor

    /// A cached float Scalar (see <c>Scalars.sc</c>).
    let sc (x: float) : Scalar = Scalars.sc x

    /// A cached integer Scalar (integer tensors stay integer).
    let sci (x: int64) : Scalar = Scalars.sci x

    /// √x with √0 = 0 and a zero gradient where x ≤ 0 (the subgradient of a norm at its minimum); plain sqrt has an
    /// infinite derivative at 0, which turns 0 · ∞ into NaN in the backward pass.
    let safeSqrt (x: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let positive = x.gt (sc 0.0)
        let safe = torch.where (positive, x, torch.ones_like x)
        torch.where(positive, safe.sqrt (), torch.zeros_like x).MoveToOuterDisposeScope()

    /// A power of two 2^e with max|x| ≤ 2^e ≤ 2·max|x| up to the rounding of log2 (per row of x [B, D] when rowwise,
    /// over all of x otherwise), detached, as [B, 1] or a 0-d tensor — or exactly 1 where max|x| lies in the range in
    /// which p-th powers of the entries, summed over up to 2^20 terms, stay normal and finite (for p = 2 in float32
    /// about [2^-51, 2^53]). Dividing by it is exact (no rounding), and outside that range it brings the largest entry
    /// near [0.5, 1], so squares and p-th powers of the scaled values neither overflow nor underflow where the norm
    /// itself fits the dtype: the scaling of LAPACK's xNRM2 (Anderson, "Algorithm 978: Safe scaling in the Level 1
    /// BLAS", ACM TOMS 44(1), 2017) with a power-of-two scale. Inside the range the scale is 1, so ordinary data gives
    /// bit for bit the values of the unscaled formula, whatever the block or batch it is computed in. An all-zero row
    /// (or an empty x) gets the scale 1.
    let powerOfTwoScale (x: Tensor) (rowwise: bool) (p: float) : Tensor =
        use scope = torch.NewDisposeScope()
        use _ = torch.no_grad ()
        let empty = if rowwise then x.dim () < 2L || x.shape.[1] = 0L else x.numel () = 0L
        if empty then
            (if rowwise then torch.ones ([| x.shape.[0]; 1L |], dtype = x.dtype, device = x.device)
             else torch.ones ([||], dtype = x.dtype, device = x.device))
                .MoveToOuterDisposeScope()
        else
            let m = if rowwise then x.detach().abs().amax ([| 1L |], keepdim = true) else x.detach().abs().max ()
            let float64 = x.dtype = torch.float64
            let tiny, huge = if float64 then 1e-300, 1e300 else 1e-37, 1e37
            let maxExponent, minExponent = if float64 then 1023.0, -1022.0 else 127.0, -126.0
            let safeHigh = System.Math.Pow(2.0, System.Math.Floor((maxExponent - 21.0) / p))
            let safeLow = System.Math.Pow(2.0, System.Math.Ceiling((minExponent + 24.0) / p))
            let safe = m.ge(sc safeLow).logical_and (m.le (sc safeHigh))
            let exponent = m.clamp(sc tiny, sc huge).log2().floor().add (sc 1.0)
            let scale = torch.full_like(m, sc 2.0).pow exponent
            let positive = m.gt (sc 0.0)
            torch.where(positive.logical_and (safe.logical_not ()), scale, torch.ones_like m).MoveToOuterDisposeScope()

    /// x^{1/p} for x ≥ 0 with the same zero-gradient guard at 0 as <c>safeSqrt</c>.
    let safeRoot (p: float) (x: Tensor) : Tensor =
        if p = 1.0 then x.alias ()
        elif p = 2.0 then safeSqrt x
        else
            use scope = torch.NewDisposeScope()
            let positive = x.gt (sc 0.0)
            let safe = torch.where (positive, x, torch.ones_like x)
            torch.where(positive, safe.pow (sc (1.0 / p)), torch.zeros_like x).MoveToOuterDisposeScope()

    /// |x|^p for p ≥ 1 (abs for p = 1, square for p = 2; both have finite derivatives at 0).
    let powAbs (p: float) (x: Tensor) : Tensor =
        if p = 1.0 then x.abs ()
        elif p = 2.0 then x.pow(Scalars.sc 2.0)
        else
            use scope = torch.NewDisposeScope()
            x.abs().pow(sc p).MoveToOuterDisposeScope()

    /// Entries whose Gram-form squared distance is below this fraction of ‖x‖² + ‖y‖² are recomputed from the
    /// differences. The Gram form ‖x‖² + ‖y‖² − 2⟨x, y⟩ has an absolute error of a few ulps of ‖x‖² + ‖y‖², so above
    /// the threshold its relative error is below ~1e-12 (float64) or ~1e-6 (float32).
    let recomputeBelow (dtype: torch.ScalarType) = if dtype = torch.float64 then 1e-4 else 0.0625

    /// Accurate squared Euclidean distances between the rows of x [G, n, D] and y [G, m, D] → [G, n, m], given the
    /// squared row norms xn [G, n] and yn [G, m]. One batched matrix product (the Gram form) gives every entry;
    /// entries where it cancels badly (nearby rows, including x = y) are recomputed exactly from the differences.
    /// The callers centre x and y first (any common shift leaves the distances unchanged and shrinks the norms).
    /// Differentiable; the gradient at x = y is 0 (the exact form is a sum of squares).
    let squaredDistancesBatched (x: Tensor) (xn: Tensor) (y: Tensor) (yn: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let sums = xn.unsqueeze(2L).add (yn.unsqueeze 1L, sci 1L)
        let gram = x.bmm(y.transpose (1L, 2L)).mul(sc -2.0).add(sums, sci 1L).clamp_min (sc 0.0)
        let inaccurate =
            use _ = torch.no_grad ()
            gram.lt (sums.mul (sc (recomputeBelow x.dtype)))
        let index = inaccurate.nonzero ()
        let result =
            if index.shape.[0] = 0L then gram
            else
                let n, m, depth = x.shape.[1], y.shape.[1], x.shape.[2]
                let g = index.select (1L, 0L)
                let rows = g.mul(sci n).add (index.select (1L, 1L), sci 1L)
                let columns = g.mul(sci m).add (index.select (1L, 2L), sci 1L)
                let exact =
                    x.reshape(-1L, depth).index_select(0L, rows).sub(y.reshape(-1L, depth).index_select (0L, columns))
                        .pow(Scalars.sc 2.0)
                        .sum (1L)
                gram.masked_scatter (inaccurate, exact)
        result.MoveToOuterDisposeScope()

    /// Accurate squared Euclidean distances between the rows of x [n, D] and y [m, D] → [n, m].
    let squaredDistances (x: Tensor) (xn: Tensor) (y: Tensor) (yn: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        (squaredDistancesBatched (x.unsqueeze 0L) (xn.unsqueeze 0L) (y.unsqueeze 0L) (yn.unsqueeze 0L))
            .squeeze(0L)
            .MoveToOuterDisposeScope()

    /// The rows of x [B, D] and y [B', D] centred on the mean row of y (detached) and their squared norms: the inputs
    /// of the Gram form. One function for the plan below and for <c>gramForm</c>, so that both hold the same values.
    /// When same is true y is x and is centred once. When consume is true the caller hands x and y over (temporaries
    /// of its own, sharing no storage unless same): a tensor without autograd is then centred in place, which gives
    /// the same values without a second buffer of its size (fresh buffers cost page faults: see docs/benchmarks.md).
    let private centred (consume: bool) (x: Tensor) (y: Tensor) (same: bool) =
        let centre = y.detach().mean ([| 0L |], keepdim = true)
        let shift (t: Tensor) = if consume && not t.requires_grad then t.sub_ centre else t.sub centre
        let xc = shift x
        let xn = xc.pow(Scalars.sc 2.0).sum (1L)
        if same then xc, xn, xc, xn
        else
            let yc = shift y
            xc, xn, yc, yc.pow(Scalars.sc 2.0).sum (1L)

    /// The Gram form of a distance D = s · √(e / c₁ / c₂) (root) or e / c₁ / c₂ of the squared distances e between
    /// the rows of x [B, F] and y [B', F] (see <c>GramForm</c>), with the centred rows and norms of
    /// <c>squaredEuclideanPlan</c>, without gradients, computed inside the caller's dispose scope (the caller moves
    /// the result out with <c>moveGram</c>). When same is true y is x and is centred once.
    let private gramFormWith (consume: bool) (x: Tensor) (y: Tensor) (same: bool) (divisor1: float) (divisor2: float) (root: bool) (scale: float) : GramForm =
        use _ = torch.no_grad ()
        let xc, xn, yc, yn = centred consume x y same
        let xc, xn = xc.contiguous (), xn.contiguous ()
        let yc, yn = (if same then xc, xn else yc.contiguous (), yn.contiguous ())
        { X = xc
          XNorms = xn
          Y = yc
          YNorms = yn
          Divisor1 = divisor1
          Divisor2 = divisor2
          Root = root
          Scale = scale
          RecomputeBelow = recomputeBelow x.dtype }

    /// The Gram form (see gramFormWith) of the caller's x and y, left unchanged.
    let gramForm (x: Tensor) (y: Tensor) (same: bool) (divisor1: float) (divisor2: float) (root: bool) (scale: float) : GramForm =
        gramFormWith false x y same divisor1 divisor2 root scale

    /// The same Gram form of temporaries the caller hands over (x and y share no storage unless same; see centred),
    /// centred in place.
    let gramFormConsuming (x: Tensor) (y: Tensor) (same: bool) (divisor1: float) (divisor2: float) (root: bool) (scale: float) : GramForm =
        gramFormWith true x y same divisor1 divisor2 root scale

    /// Moves the tensors of a Gram form to the dispose scope outside the current one (each tensor once).
    let moveGram (form: GramForm) : GramForm =
        form.X.MoveToOuterDisposeScope() |> ignore
        form.XNorms.MoveToOuterDisposeScope() |> ignore
        if not (obj.ReferenceEquals(form.Y, form.X)) then
            form.Y.MoveToOuterDisposeScope() |> ignore
            form.YNorms.MoveToOuterDisposeScope() |> ignore
        form

    /// A pairwise plan for the squared Euclidean distances between the rows of x [B, D] and y [B', D] (centred on the
    /// mean row of y, detached, so that the result does not depend on the block size).
    let private squaredEuclideanPlanWith (consume: bool) (x: Tensor) (y: Tensor) (blockSize: int64) : PairwisePlan =
        let xc, xn, yc, yn = centred consume x y false
        { Rows = x.shape.[0]
          Columns = y.shape.[0]
          BlockSize = blockSize
          Block =
            fun r0 rn c0 cn ->
                squaredDistances (xc.narrow (0L, r0, rn)) (xn.narrow (0L, r0, rn)) (yc.narrow (0L, c0, cn)) (yn.narrow (0L, c0, cn)) }

    /// The plan above for the caller's x and y, left unchanged.
    let squaredEuclideanPlan (x: Tensor) (y: Tensor) (blockSize: int64) : PairwisePlan = squaredEuclideanPlanWith false x y blockSize

    /// The same plan of temporaries the caller hands over (x and y share no storage; see centred), centred in place
    /// where no gradient is recorded.
    let squaredEuclideanPlanConsuming (x: Tensor) (y: Tensor) (blockSize: int64) : PairwisePlan =
        squaredEuclideanPlanWith true x y blockSize

    /// Applies f to every block of a plan (inside the block's dispose scope).
    let mapPlan (f: Tensor -> Tensor) (plan: PairwisePlan) : PairwisePlan =
        { plan with Block = fun r0 rn c0 cn -> f (plan.Block r0 rn c0 cn) }

    /// Builds a plan inside a dispose scope, assembles the whole matrix and returns it (differentiable).
    let runPlan (make: unit -> PairwisePlan) : Tensor =
        use scope = torch.NewDisposeScope()
        (Blocked.assemble (make ())).MoveToOuterDisposeScope()

    /// Builds a plan inside a dispose scope and streams its blocks to a sink without gradients.
    let streamPlan (make: unit -> PairwisePlan) (sink: System.Action<int64, int64, Tensor>) =
        Validation.notNull "sink" sink
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        Blocked.streamPlan (make ()) sink

    /// Runs f inside a dispose scope and moves its result out.
    let scoped (f: unit -> Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        (f ()).MoveToOuterDisposeScope()

    /// Block size for a plan: the caller's value when positive, else from the element budget.
    let chooseBlock (blockSize: int) (elementsPerPair: int64) =
        if blockSize > 0 then int64 blockSize
        else Blocked.blockSizeFor (max 1L elementsPerPair, Blocked.DefaultElementBudget)

    /// Checks a block-size option: 0 (automatic) or positive.
    let checkBlockSize (blockSize: int) =
        if blockSize < 0 then
            Validation.fail "blockSize" $"blockSize = {blockSize} is invalid; it must be 0 (automatic) or ≥ 1."

    /// Initialises the native runtime, runs the argument checks, then computes a paired result in a dispose scope.
    let checkedScoped (checks: unit -> unit) (compute: unit -> Tensor) : Tensor =
        NativeRuntime.EnsureInitialized()
        checks ()
        scoped compute

    /// Initialises the native runtime, runs the argument checks and the block-size check, then assembles a plan.
    let checkedPlan (checks: unit -> unit) (blockSize: int) (make: unit -> PairwisePlan) : Tensor =
        NativeRuntime.EnsureInitialized()
        checks ()
        checkBlockSize blockSize
        runPlan make

    /// Checks the order p of a Wasserstein or L_p distance: finite and ≥ 1.
    let checkOrder (p: float) = Validation.atLeast "p" 1.0 p

    let private representationName (r: Representation) =
        match r with
        | Representation.Vectors -> "Vectors (VectorBatch [B, d])"
        | Representation.Distributions -> "Distributions (DistributionBatch [B, T, d] + weights [B, T])"
        | _ -> "Quantiles (QuantileBatch [B, d, Q])"

    let private itemsName (r: Representation) =
        match r with
        | Representation.Vectors -> "vectors"
        | Representation.Distributions -> "distributions"
        | _ -> "quantile embeddings"

    /// The batch as the representation a distance accepts, or ArgumentException naming the argument.
    let require<'T when 'T :> IEmbeddingBatch> (distance: string) (accepts: Representation) (name: string) (batch: IEmbeddingBatch) : 'T =
        Validation.notNull name batch
        match box batch with
        | :? 'T as t -> t
        | _ ->
            Validation.fail
                name
                $"{name} is a {batch.Representation} batch but the distance '{distance}' accepts {representationName accepts} only."

    /// Checks that two batches can be compared: same dtype, device and dimension; same count when paired. The one
    /// batch-pair check of every tensor distance (the catalog's and the Sinkhorn family's).
    let checkPair (a: IEmbeddingBatch) (aDimension: int) (b: IEmbeddingBatch) (bDimension: int) (paired: bool) =
        Validation.notNull "a" a
        Validation.notNull "b" b
        if b.DType <> a.DType then
            Validation.fail "b" $"b has dtype {b.DType} but a has dtype {a.DType}; both batches must have one dtype."
        if not (Validation.sameDevice b.Device a.Device) then
            Validation.fail "b" $"b is on {b.Device} but a is on {a.Device}; both batches must be on one device."
        Validation.sameDimension aDimension bDimension
        if paired && b.Count <> a.Count then
            Validation.fail "b" $"b has {b.Count} {itemsName b.Representation} but a has {a.Count}; a paired distance needs equal counts (use Pairwise for all pairs)."

    /// True when every row of a [B, T] weight tensor is exactly uniform (all T weights equal, hence no padding).
    let uniformRows (weights: Tensor) : bool =
        use scope = torch.NewDisposeScope()
        weights.amax([| 1L |]).eq(weights.amin ([| 1L |])).all().ToBoolean()

    /// Raises when a tensor argument is null, not floating, has the wrong rank, or sits on the wrong device.
    let checkTensor (name: string) (t: Tensor) (rank: int64) (dtype: torch.ScalarType) (device: torch.Device) (expected: string) =
        Validation.notNull name t
        Validation.floating name t
        if t.dim () <> rank then
            Validation.fail name $"{name} has shape {Validation.shape t}; it must be {expected}."
        if t.dtype <> dtype then
            Validation.fail name $"{name} has dtype {t.dtype} but the batches have dtype {dtype}; they must match."
        if not (Validation.sameDevice t.device device) then
            Validation.fail name $"{name} is on {t.device} but the batches are on {device}; they must be on one device."
