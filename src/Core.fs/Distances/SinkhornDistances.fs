namespace DistEmbed.Core

open TorchSharp

/// <summary>A distance computed by Sinkhorn solves, with the convergence record of those solves.</summary>
type ISinkhornDistance =
    inherit IDistance
    /// <summary>The convergence record of every solve this distance has run (see <see cref="T:DistEmbed.Core.SinkhornDiagnostics"/>).</summary>
    abstract Diagnostics: SinkhornDiagnostics

/// A Sinkhorn distance object: a catalog <c>TensorDistance</c> over distribution batches (the shared representation
/// and batch-pair checks, pairwise matrices assembled or streamed by <c>Blocked</c> from a prepared plan) that also
/// carries the convergence record of its solves.
[<Sealed>]
type internal SinkhornTensorDistance
    (
        name: string,
        blockSize: int,
        diagnostics: SinkhornDiagnostics,
        paired: DistributionBatch -> DistributionBatch -> torch.Tensor,
        plan: DistributionBatch -> DistributionBatch -> PairwisePlan
    ) =
    inherit TensorDistance<DistributionBatch>(name, false, Representation.Distributions, blockSize, (fun d -> d.Dimension), (fun _ _ _ -> ()), paired, plan)

    interface ISinkhornDistance with
        member _.Diagnostics = diagnostics

/// <summary>
/// The distance wiring of the Sinkhorn family: how the batched solves of <c>SinkhornSolver</c> become distance
/// objects (paired values, pairwise plans, debiased divergences). The public factories are on the <c>Sinkhorn</c>
/// module and in the <c>Distances</c> catalog.
/// </summary>
/// <remarks>
/// Memory is bounded by the solver's BlockSize: one batched solve handles at most BlockSize pairs (O(BlockSize·T·T')).
/// Paired values are solved BlockSize consecutive pairs at a time; a pairwise matrix is tiled by <c>Blocked</c> in
/// BlockSize × BlockSize tiles, and the pairs of a tile are solved BlockSize at a time in row-major order, so that
/// for B' ≤ BlockSize the solves hold exactly the consecutive pairs of the row-major [B, B'] order. Each solve stops
/// when all its pairs meet the tolerance, so values depend on this grouping only within the tolerance.
/// </remarks>
module internal SinkhornDistances =

    type private Tensor = torch.Tensor

    /// One batched solve of k pairs: (points, weights) of a's k distributions and of b's k distributions → [k].
    type PairSolve = Tensor -> Tensor -> Tensor -> Tensor -> Tensor

    /// The values of the pairs (a_k, b_k), blockSize pairs per batched solve.
    let private paired (blockSize: int) (solve: PairSolve) (a: DistributionBatch) (b: DistributionBatch) : Tensor =
        Blocked.chunks (int64 a.Count) (int64 blockSize) (fun start length ->
            let part (t: Tensor) = t.narrow(0L, start, length)
            solve (part a.Points) (part a.Weights) (part b.Points) (part b.Weights))

    /// The pairwise plan of solve: tiles of blockSize × blockSize pairs, each tile's pairs (i, j) solved blockSize at
    /// a time in row-major order.
    let private plan (blockSize: int) (solve: PairSolve) (a: DistributionBatch) (b: DistributionBatch) : PairwisePlan =
        let device = a.Points.device
        { Rows = int64 a.Count
          Columns = int64 b.Count
          BlockSize = int64 blockSize
          Block =
            fun r0 rn c0 cn ->
                let values =
                    Blocked.chunks (rn * cn) (int64 blockSize) (fun start length ->
                        let pairs = [| start .. start + length - 1L |]
                        let ia = torch.tensor(pairs |> Array.map (fun p -> r0 + p / cn), device = device)
                        let ib = torch.tensor(pairs |> Array.map (fun p -> c0 + p % cn), device = device)
                        solve (a.Points.index_select(0L, ia)) (a.Weights.index_select(0L, ia))
                              (b.Points.index_select(0L, ib)) (b.Weights.index_select(0L, ib)))
                values.reshape(rn, cn) }

    /// A Sinkhorn distance named name whose value for each pair is solve x wa y wb (blockSize pairs per solve);
    /// diagnostics is the record its solves report to.
    let transport (name: string) (diagnostics: SinkhornDiagnostics) (blockSize: int) (solve: PairSolve) : IDistance =
        SinkhornTensorDistance(name, blockSize, diagnostics, paired blockSize solve, plan blockSize solve) :> IDistance

    /// A debiased Sinkhorn divergence named name: combine (cross a b) (self a) (self b) (mass a) (mass b) for each pair,
    /// the terms broadcast ([k] for paired values; [rows, 1] and [1, columns] in a pairwise tile), the masses the
    /// weight sums. Pairwise solves the self terms once per distribution (when the plan is prepared) and the cross
    /// terms tile by tile.
    let debiased (name: string) (diagnostics: SinkhornDiagnostics) (blockSize: int) (cross: PairSolve)
                 (self: Tensor -> Tensor -> Tensor) (combine: Tensor -> Tensor -> Tensor -> Tensor -> Tensor -> Tensor) : IDistance =
        let mass (w: Tensor) = w.sum(1L)
        let pairedValues =
            paired blockSize (fun x wa y wb -> combine (cross x wa y wb) (self x wa) (self y wb) (mass wa) (mass wb))
        let selfTerms (d: DistributionBatch) = paired blockSize (fun x wa _ _ -> self x wa) d d
        let pairwisePlan (a: DistributionBatch) (b: DistributionBatch) =
            let sa, sb = selfTerms a, selfTerms b
            let ma, mb = mass a.Weights, mass b.Weights
            let crossPlan = plan blockSize cross a b
            { crossPlan with
                Block =
                    fun r0 rn c0 cn ->
                        let rows (t: Tensor) = t.narrow(0L, r0, rn).unsqueeze 1L
                        let columns (t: Tensor) = t.narrow(0L, c0, cn).unsqueeze 0L
                        combine (crossPlan.Block r0 rn c0 cn) (rows sa) (columns sb) (rows ma) (columns mb) }
        SinkhornTensorDistance(name, blockSize, diagnostics, pairedValues, pairwisePlan) :> IDistance
