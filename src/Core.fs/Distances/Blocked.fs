namespace DistEmbed.Core

open System
open TorchSharp

/// <summary>
/// A distance whose pairwise matrix can be produced block by block, so that a caller can write a matrix larger than
/// memory (to disk, or reduced on the fly) without ever holding it whole.
/// </summary>
/// <remarks>
/// Every distance made by the <c>Distances</c> factories implements this interface. The blocks tile the [B, B']
/// matrix row-major; block (r, c) holds entries (r .. r + rows − 1, c .. c + columns − 1) and equals the same
/// slice of <c>Pairwise(a, b)</c> up to rounding.
/// </remarks>
type IBlockwiseDistance =
    inherit IDistance

    /// <summary>The number of rows (and columns) of a block; 0 means chosen automatically from a memory budget.</summary>
    abstract BlockSize: int

    /// <summary>
    /// Computes <c>Pairwise(a, b)</c> block by block, without gradients, and hands each block to <paramref name="sink"/>
    /// together with its row and column offsets. The block is disposed when <paramref name="sink"/> returns: copy what
    /// must be kept.
    /// </summary>
    /// <param name="a">The first batch (B items).</param>
    /// <param name="b">The second batch (B' items).</param>
    /// <param name="sink">Called once per block with (row offset, column offset, block [rows, columns]).</param>
    abstract PairwiseBlocks: a: IEmbeddingBatch * b: IEmbeddingBatch * sink: Action<int64, int64, torch.Tensor> -> unit

/// A prepared pairwise computation: the block function reads per-item data prepared once (sorted values, norms,
/// square roots) and computes the [rows, columns] block starting at (rowStart, columnStart).
type internal PairwisePlan =
    { Rows: int64
      Columns: int64
      BlockSize: int64
      Block: int64 -> int64 -> int64 -> int64 -> torch.Tensor }

/// A distance that can hand out its prepared pairwise plan (the catalog's tensor distances), so that a caller that
/// streams many bands of rows against one gallery prepares the per-item data (sorted values, norms) once.
type internal IPlannedDistance =
    /// The checked, prepared plan of Pairwise(a, b); its tensors belong to the caller's dispose scope.
    abstract Plan: a: IEmbeddingBatch * b: IEmbeddingBatch -> PairwisePlan

/// The Gram form of a distance whose values are a function of squared Euclidean distances between prepared rows:
/// D(a_i, b_j) = s · √(e_ij / c₁ / c₂) when Root, else e_ij / c₁ / c₂, where e_ij is the accurate squared distance of
/// <c>DistanceKernels.squaredDistances</c> between the centred rows X_i and Y_j: the Gram value
/// max(0, (‖X_i‖² + ‖Y_j‖²) − 2⟨X_i, Y_j⟩), recomputed as Σ_k (X_ik − Y_jk)² where it is below RecomputeBelow ·
/// (‖X_i‖² + ‖Y_j‖²). Each step is one operation of the dtype in this order, the same operations as the distance's
/// plan; dividing by 1 and multiplying by 1 are exact, so c = 1 or s = 1 leave the value unchanged.
type internal GramForm =
    { /// [B, F] centred rows of the first batch, contiguous, without gradients.
      X: torch.Tensor
      /// [B] ‖X_i‖².
      XNorms: torch.Tensor
      /// [B', F] centred rows of the second batch (the same tensor as X when both batches are one).
      Y: torch.Tensor
      /// [B'] ‖Y_j‖².
      YNorms: torch.Tensor
      /// c₁ (e.g. T, the number of points of a marginal W2 form).
      Divisor1: float
      /// c₂ (e.g. L, the number of directions of a sliced W2 form).
      Divisor2: float
      /// Whether the square root is taken.
      Root: bool
      /// s, a power of two (the scale of the Euclidean distance's scaled inputs).
      Scale: float
      /// The cancellation threshold of the Gram value (0.0625 in float32, 1e-4 in float64).
      RecomputeBelow: float }

/// A distance that can hand out its Gram form for a pair of batches (None where its plan is not a Gram form for
/// these batches, e.g. marginal W2 between point sets of different lengths).
type internal IGramDistance =
    /// The checked Gram form of Pairwise(a, b); its tensors belong to the caller's dispose scope.
    abstract Gram: a: IEmbeddingBatch * b: IEmbeddingBatch -> GramForm option

/// <summary>
/// Memory-bounded pairwise computation: a [B, B'] matrix computed by streaming square blocks of rows and columns,
/// so that the temporaries of one block are all that is ever held beyond the inputs and the result.
/// </summary>
/// <remarks>
/// A block function receives (row start, row count, column start, column count) and returns that block of the
/// matrix. Every block is computed inside its own dispose scope, so its temporaries are freed before the next block
/// starts. With autograd on, the graph keeps what the backward pass needs (for most distances, the inputs only).
/// The result does not depend on the block size: each entry is computed by the same arithmetic whatever block it
/// falls in.
/// </remarks>
[<RequireQualifiedAccess>]
module Blocked =

    /// <summary>The default number of tensor elements one block's temporaries may hold (2^24, 128 MiB in float64).</summary>
    [<Literal>]
    let DefaultElementBudget = 16777216L

    /// <summary>The block size n for which n² pairs of <paramref name="elementsPerPair"/> elements fit in a budget.</summary>
    /// <param name="elementsPerPair">Elements of temporaries per (row, column) pair, ≥ 1.</param>
    /// <param name="elementBudget">Elements one block may hold, ≥ 1.</param>
    /// <returns>n = max(1, ⌊√(budget / elementsPerPair)⌋), capped at 4096.</returns>
    /// <exception cref="T:System.ArgumentException">An argument is below 1.</exception>
    [<CompiledName("BlockSizeFor")>]
    let blockSizeFor (elementsPerPair: int64, elementBudget: int64) : int64 =
        if elementsPerPair < 1L then
            Validation.fail "elementsPerPair" $"elementsPerPair = {elementsPerPair} is invalid; it must be ≥ 1."
        if elementBudget < 1L then
            Validation.fail "elementBudget" $"elementBudget = {elementBudget} is invalid; it must be ≥ 1."
        let n = int64 (floor (sqrt (float elementBudget / float elementsPerPair)))
        min 4096L (max 1L n)

    let private checkShape (rows: int64) (columns: int64) (blockSize: int64) =
        if rows < 1L then Validation.fail "rows" $"rows = {rows} is invalid; it must be ≥ 1."
        if columns < 1L then Validation.fail "columns" $"columns = {columns} is invalid; it must be ≥ 1."
        if blockSize < 1L then Validation.fail "blockSize" $"blockSize = {blockSize} is invalid; it must be ≥ 1."

    let private checkBlock (block: torch.Tensor) (rowCount: int64) (columnCount: int64) =
        if isNull block || block.dim () <> 2L || block.shape.[0] <> rowCount || block.shape.[1] <> columnCount then
            let got = if isNull block then "null" else Validation.shape block
            Validation.fail "block" $"block returned {got} but [{rowCount},{columnCount}] was asked for."

    /// The blocks of a plan in row-major order, lazily: (row start, row count, column start, column count).
    let private tiles (plan: PairwisePlan) =
        seq {
            for r0 in 0L .. plan.BlockSize .. plan.Rows - 1L do
                for c0 in 0L .. plan.BlockSize .. plan.Columns - 1L do
                    yield r0, min plan.BlockSize (plan.Rows - r0), c0, min plan.BlockSize (plan.Columns - c0)
        }

    /// Computes one block inside its own dispose scope and moves it to the caller's scope.
    let private computeBlock (plan: PairwisePlan) (r0, rn, c0, cn) =
        use inner = torch.NewDisposeScope()
        let block = plan.Block r0 rn c0 cn
        checkBlock block rn cn
        block.MoveToOuterDisposeScope()

    /// Copies a block into its place in the result and frees it (and the views made for the copy).
    let private place (result: torch.Tensor) (r0: int64) (c0: int64) (block: torch.Tensor) =
        use inner = torch.NewDisposeScope()
        result.narrow(0L, r0, block.shape.[0]).narrow(1L, c0, block.shape.[1]).copy_ (block) |> ignore
        block.Dispose()

    /// Assembles the whole matrix. Without gradients the blocks are copied into one preallocated result as they are
    /// computed (peak memory: the result plus one block's temporaries); with gradients they are kept and
    /// concatenated, since the graph needs them.
    let internal assemble (plan: PairwisePlan) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let all = tiles plan
        let first = computeBlock plan (Seq.head all)
        let rest = Seq.skip 1 all
        let result =
            if first.shape.[0] = plan.Rows && first.shape.[1] = plan.Columns then first
            elif not first.requires_grad then
                let result = torch.empty ([| plan.Rows; plan.Columns |], dtype = first.dtype, device = first.device)
                place result 0L 0L first
                for (r0, _, c0, _) as tile in rest do
                    place result r0 c0 (computeBlock plan tile)
                result
            else
                let perRow = int ((plan.Columns + plan.BlockSize - 1L) / plan.BlockSize)
                let rows =
                    Seq.append [ first ] (Seq.map (computeBlock plan) rest)
                    |> Seq.chunkBySize perRow
                    |> Seq.map (fun row -> if row.Length = 1 then row.[0] else torch.cat (row, 1L))
                    |> Array.ofSeq
                if rows.Length = 1 then rows.[0] else torch.cat (rows, 0L)
        result.MoveToOuterDisposeScope()

    /// Computes a per-item vector [count] in consecutive chunks of at most chunkSize items, each chunk (start, length)
    /// inside its own dispose scope so that one chunk's temporaries are all that is held beyond the result, and
    /// concatenates them (differentiable). For the batched per-pair solvers (Sinkhorn), whose memory is O(chunk · T · T').
    let internal chunks (count: int64) (chunkSize: int64) (chunk: int64 -> int64 -> torch.Tensor) : torch.Tensor =
        let part (start: int64) =
            use inner = torch.NewDisposeScope()
            (chunk start (min chunkSize (count - start))).MoveToOuterDisposeScope()
        if count <= chunkSize then part 0L
        else
            use scope = torch.NewDisposeScope()
            torch.cat([| for start in 0L .. chunkSize .. count - 1L -> part start |], 0L).MoveToOuterDisposeScope()

    let internal streamPlan (plan: PairwisePlan) (sink: Action<int64, int64, torch.Tensor>) =
        for (r0, _, c0, _) as tile in tiles plan do
            use inner = torch.NewDisposeScope()
            let block = computeBlock plan tile
            sink.Invoke(r0, c0, block)

    /// Initialises the native runtime, checks the sizes and the block function, and wraps the function as a plan.
    let private checkedPlanOf (rows: int64) (columns: int64) (blockSize: int64) (block: Func<int64, int64, int64, int64, torch.Tensor>) : PairwisePlan =
        NativeRuntime.EnsureInitialized()
        checkShape rows columns blockSize
        Validation.notNull "block" block
        { Rows = rows
          Columns = columns
          BlockSize = blockSize
          Block = fun r0 rn c0 cn -> block.Invoke(r0, rn, c0, cn) }

    /// <summary>Computes a [rows, columns] matrix from square blocks and concatenates them (differentiable).</summary>
    /// <param name="rows">The number of rows B ≥ 1.</param>
    /// <param name="columns">The number of columns B' ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per block, ≥ 1 (the last block of a row or column may be smaller).</param>
    /// <param name="block">(row start, row count, column start, column count) → the [row count, column count] block.</param>
    /// <returns>[rows, columns], the blocks in place.</returns>
    /// <exception cref="T:System.ArgumentException">A size is below 1, or a block has the wrong shape (names block).</exception>
    [<CompiledName("Pairwise")>]
    let pairwise (rows: int64, columns: int64, blockSize: int64, block: Func<int64, int64, int64, int64, torch.Tensor>) =
        assemble (checkedPlanOf rows columns blockSize block)

    /// <summary>
    /// Computes a [rows, columns] matrix block by block without gradients and hands each block to
    /// <paramref name="sink"/>; only one block exists at a time (it is disposed when the sink returns).
    /// </summary>
    /// <param name="rows">The number of rows B ≥ 1.</param>
    /// <param name="columns">The number of columns B' ≥ 1.</param>
    /// <param name="blockSize">Rows and columns per block, ≥ 1.</param>
    /// <param name="block">(row start, row count, column start, column count) → the [row count, column count] block.</param>
    /// <param name="sink">(row offset, column offset, block) for every block, row-major.</param>
    /// <exception cref="T:System.ArgumentException">A size is below 1, or a block has the wrong shape (names block).</exception>
    [<CompiledName("Stream")>]
    let stream
        (
            rows: int64,
            columns: int64,
            blockSize: int64,
            block: Func<int64, int64, int64, int64, torch.Tensor>,
            sink: Action<int64, int64, torch.Tensor>
        ) =
        let plan = checkedPlanOf rows columns blockSize block
        Validation.notNull "sink" sink
        use _ = torch.no_grad ()
        streamPlan plan sink
