/// Properties of the batched tensor distances (DistEmbed.Core.Distances and the modules behind it): agreement with
/// direct float64 computations and with each other, pairwise = paired, block-size independence, streaming,
/// invariances, metric axioms, float32 vs float64, and argument checks.
module DistEmbed.Properties.TensorDistanceTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.TensorSupport

/// How a catalog entry turns reference distributions into the batch its distance accepts.
type Maker =
    | AsVectors
    | AsDistributions
    | AsQuantiles

/// The empirical quantile F⁻¹(τ) = min{x : F(x) ≥ τ} of coordinate k of a weighted distribution.
let quantileOf (e: Empirical) (k: int) (tau: float) =
    let order = Array.init e.Count id |> Array.sortBy (fun i -> e.Points.[i, k])
    let mutable c = 0.0
    let mutable result = nan
    for i in order do
        if Double.IsNaN result && e.Weights.[i] > 0.0 then
            c <- c + e.Weights.[i]
            if c >= tau - 1e-12 then result <- e.Points.[i, k]
    if Double.IsNaN result then e.Points.[order.[order.Length - 1], k] else result

/// The number of quantile levels of the quantile batches made from distributions.
let levelCount = 5

/// An embedding batch of the requested representation made from reference distributions.
let make (maker: Maker) (dtype: torch.ScalarType) (es: Empirical[]) : IEmbeddingBatch =
    match maker with
    | AsDistributions -> batchOf dtype es :> IEmbeddingBatch
    | AsVectors ->
        let d = es.[0].Dimension
        let rows = Array2D.init es.Length d (fun i k -> es.[i].Points.[0, k])
        let v = VectorBatch.FromArray(rows, torch.CPU)
        (if dtype = torch.float64 then v else VectorBatch.FromTensor(v.Values.to_type dtype)) :> IEmbeddingBatch
    | AsQuantiles ->
        let d = es.[0].Dimension
        let levels = QuantileBatch.MidpointLevels levelCount
        let flat = [| for e in es do for k in 0 .. d - 1 do for tau in levels -> quantileOf e k tau |]
        let t = torch.tensor(flat, dtype = torch.float64).reshape(int64 es.Length, int64 d, int64 levelCount)
        QuantileBatch.FromTensor(t.to_type dtype, null) :> IEmbeddingBatch

/// A catalog entry: the distance, how to build its input, and the power of the coordinate scale its values carry
/// (1 for distances, 2 for squared ones, 0 for MMD² whose kernel is bounded).
type Entry =
    { Distance: IBlockwiseDistance
      Maker: Maker
      Power: int
      Float32Tolerance: float }

let private entry distance maker power = { Distance = distance; Maker = maker; Power = power; Float32Tolerance = 1e-4 }

/// Every distance with its options, for dimension d and a block size (0 = automatic).
let catalog (d: int) (blockSize: int) : Entry list =
    let directions = DistEmbed.Core.SlicedWasserstein.randomDirections (7, d, 11L, torch.float64, torch.CPU)
    [ entry (Distances.Euclidean blockSize) AsVectors 1
      entry (Distances.SquaredEuclidean blockSize) AsVectors 2
      entry (Distances.Cosine blockSize) AsVectors 0
      entry (Distances.Lp(1.0, blockSize)) AsVectors 1
      entry (Distances.Lp(3.0, blockSize)) AsVectors 1
      entry (Distances.MarginalWasserstein(1.0, blockSize)) AsDistributions 1
      entry (Distances.MarginalWasserstein(2.0, blockSize)) AsDistributions 1
      entry (Distances.MarginalWasserstein(3.0, blockSize)) AsDistributions 1
      entry (Distances.MarginalWassersteinCost(2.0, blockSize)) AsDistributions 2
      entry (Distances.QuantileWasserstein(1.0, blockSize)) AsQuantiles 1
      entry (Distances.QuantileWasserstein(2.0, blockSize)) AsQuantiles 1
      entry (Distances.QuantileWassersteinCost(2.0, blockSize)) AsQuantiles 2
      entry (Distances.ExactWasserstein(1.0, blockSize)) AsDistributions 1
      entry (Distances.ExactWasserstein(2.0, blockSize)) AsDistributions 1
      entry (Distances.ExactWassersteinCost(2.0, blockSize)) AsDistributions 2
      entry (Distances.SlicedWasserstein(directions, 2.0, blockSize)) AsDistributions 1
      entry (Distances.SlicedWassersteinCost(directions, 2.0, blockSize)) AsDistributions 2
      entry (Distances.MaxSlicedWasserstein(directions, 2.0, blockSize)) AsDistributions 1
      entry (Distances.SlicedWasserstein(directions, 1.0, blockSize)) AsDistributions 1
      // Full-covariance square roots of singular covariances are inherently sensitive: an eigenvalue perturbed by
      // ε·λ_max moves its square root by √ε·√λ_max, so float32 agrees with float64 to ~√ε₃₂ ≈ 3e-4 there.
      { entry (Distances.Bures blockSize) AsDistributions 1 with Float32Tolerance = 3e-3 }
      { entry (Distances.BuresCost blockSize) AsDistributions 2 with Float32Tolerance = 3e-3 }
      entry (Distances.BuresDiagonal blockSize) AsDistributions 1
      entry (Distances.BuresDiagonalCost blockSize) AsDistributions 2
      entry (Distances.Mmd([| 0.5; 2.0 |], true, blockSize)) AsDistributions 0
      entry (Distances.Energy blockSize) AsDistributions 1 ]

/// The tolerance scale of an entry for inputs whose coordinates are at most s in magnitude, in dimension d.
let scaleOf (e: Entry) (s: float) (d: int) =
    let r = s * sqrt (float d) * 4.0
    match e.Power with
    | 0 -> 4.0
    | 1 -> max r 1e-300
    | _ -> max (r * r) 1e-300

let private indices (values: int[]) = torch.tensor (values |> Array.map int64)

/// Pairwise(a, b)[i, j] against Paired(a_i, b_j) for every entry.
let pairwiseIsPaired =
    property "pairwise[i,j] = paired(a_i, b_j) for every distance (float64)" 12 batchPair (fun (d, _, a, b) ->
        let s = coordinateScale (Seq.append a b)
        for e in catalog d 0 do
            scoped (fun () ->
                use ba = make e.Maker torch.float64 a
                use bb = make e.Maker torch.float64 b
                let n, m = a.Length, b.Length
                let full = matrix (e.Distance.Pairwise(ba, bb))
                let rows = indices (Array.init (n * m) (fun k -> k / m))
                let columns = indices (Array.init (n * m) (fun k -> k % m))
                use sa = ba.Select rows
                use sb = bb.Select columns
                let paired = values (e.Distance.Paired(sa, sb))
                expectMatrix 1e-9 (scaleOf e s d) e.Distance.Name (fun i j -> paired.[i * m + j]) full))

/// Results do not depend on the block size; the streamed blocks assemble to the same matrix.
let blockIndependence =
    property "pairwise is independent of the block size, and streaming gives the same blocks" 8 batchPair (fun (d, _, a, b) ->
        let s = coordinateScale (Seq.append a b)
        for (whole, small), tiny in List.zip (List.zip (catalog d 0) (catalog d 2)) (catalog d 1) do
            scoped (fun () ->
                use ba = make whole.Maker torch.float64 a
                use bb = make whole.Maker torch.float64 b
                let reference = matrix (whole.Distance.Pairwise(ba, bb))
                let tol = scaleOf whole s d
                expectMatrix 1e-12 tol $"{whole.Distance.Name} block 2" (fun i j -> reference.[i, j]) (matrix (small.Distance.Pairwise(ba, bb)))
                expectMatrix 1e-12 tol $"{whole.Distance.Name} block 1" (fun i j -> reference.[i, j]) (matrix (tiny.Distance.Pairwise(ba, bb)))
                let streamed = Array2D.create a.Length b.Length nan
                let mutable blocks = 0
                small.Distance.PairwiseBlocks(
                    ba,
                    bb,
                    Action<int64, int64, Tensor>(fun r0 c0 block ->
                        blocks <- blocks + 1
                        Expect.isFalse block.requires_grad "streamed blocks carry no gradient"
                        let v = matrix block
                        for i in 0 .. Array2D.length1 v - 1 do
                            for j in 0 .. Array2D.length2 v - 1 do
                                streamed.[int r0 + i, int c0 + j] <- v.[i, j])
                )
                Expect.equal blocks (((a.Length + 1) / 2) * ((b.Length + 1) / 2)) "one callback per 2 × 2 block"
                expectMatrix 1e-12 tol $"{whole.Distance.Name} streamed" (fun i j -> reference.[i, j]) streamed))

/// Every call disposes its temporaries: Pairwise and Paired leave exactly their result alive, and streaming holds
/// one block's tensors at a time (the live count at the callbacks does not grow with the number of blocks).
let noLeaks =
    let gen =
        gen {
            let! d = dimension
            let! s = scale
            let! a = distributions 7 d s
            let! b = distributions 6 d s
            return d, a, b
        }
    property "Paired, Pairwise and PairwiseBlocks leave no tensors behind; streaming holds one block at a time" 3 gen (fun (d, a, b) ->
        let live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount
        for e in catalog d 2 do
            use ba = make e.Maker torch.float64 a
            use bb = make e.Maker torch.float64 b
            use bs = bb.Select(indices [| 0; 1; 2; 3; 4; 5; 0 |])
            let before = live ()
            let pairwise = e.Distance.Pairwise(ba, bb)
            Expect.equal (live () - before) 1L $"{e.Distance.Name}: Pairwise leaves only its result"
            pairwise.Dispose()
            let paired = e.Distance.Paired(ba, bs)
            Expect.equal (live () - before) 1L $"{e.Distance.Name}: Paired leaves only its result"
            paired.Dispose()
            let counts = ResizeArray<int64>()
            e.Distance.PairwiseBlocks(ba, bb, Action<int64, int64, Tensor>(fun _ _ _ -> counts.Add(live ())))
            Expect.equal (live ()) before $"{e.Distance.Name}: streaming leaves nothing"
            Expect.equal counts.Count 12 $"{e.Distance.Name}: 4 × 3 blocks"
            if Seq.max counts - Seq.min counts > 30L then
                failtestf "%s: live tensors grow while streaming: %A" e.Distance.Name (List.ofSeq counts))

/// Symmetry for every distance; identity, non-negativity and the triangle inequality where IsMetric.
let metricAxioms =
    let triples =
        gen {
            let! d = dimension
            let! s = scale
            let! a = distributions 3 d s
            let! b = distributions 2 d s
            return d, a, b
        }
    property "symmetry for all; D(a,a) = 0, D ≥ 0 and the triangle inequality where IsMetric" 10 triples (fun (d, a, b) ->
        let s = coordinateScale (Seq.append a b)
        for e in catalog d 0 do
            scoped (fun () ->
                use ba = make e.Maker torch.float64 a
                use bb = make e.Maker torch.float64 b
                let tol = scaleOf e s d
                let ab = matrix (e.Distance.Pairwise(ba, bb))
                let ba' = matrix (e.Distance.Pairwise(bb, ba))
                expectMatrix 1e-9 tol $"{e.Distance.Name} symmetry" (fun i j -> ba'.[j, i]) ab
                if e.Distance.IsMetric then
                    let aa = matrix (e.Distance.Pairwise(ba, ba))
                    // D(a_i, a′_i) = 0 on a rewritten copy (reversed, an atom split, zero-weight padding), not on the
                    // same arrays; vectors are their first point, so they keep the same batch.
                    use rewritten = make e.Maker torch.float64 (if e.Maker = AsVectors then a else Array.map ReferenceSupport.sameMeasure a)
                    let same = matrix (e.Distance.Pairwise(ba, rewritten))
                    // The merge of split cumulative weights leaves a cost of rounding size ε·S^p, whose p-th root
                    // (the distances, power 1, p ≤ 3) is ~ε^(1/3)·S: 1e-4 relative for them, 1e-9 for costs.
                    let rewrittenTol = if e.Power = 1 then 1e-4 else 1e-9
                    for i in 0 .. 2 do
                        expectWithin rewrittenTol tol $"{e.Distance.Name} D(a, a′)" 0.0 same.[i, i]
                        for j in 0 .. 2 do
                            if aa.[i, j] < 0.0 then failtestf "%s: negative distance %g" e.Distance.Name aa.[i, j]
                            for k in 0 .. 2 do
                                if aa.[i, k] > aa.[i, j] + aa.[j, k] + 1e-9 * tol then
                                    failtestf "%s: triangle inequality fails: D(%d,%d) = %.17g > %.17g + %.17g" e.Distance.Name i k aa.[i, k] aa.[i, j] aa.[j, k]))

/// float32 agrees with float64 (relative to the scale of the values).
let float32MatchesFloat64 =
    property "float32 agrees with float64 for every distance" 10 batchPair (fun (d, _, a, b) ->
        let s = coordinateScale (Seq.append a b)
        for e in catalog d 0 do
            scoped (fun () ->
                use a64 = make e.Maker torch.float64 a
                use b64 = make e.Maker torch.float64 b
                use a32 = make e.Maker torch.float32 a
                use b32 = make e.Maker torch.float32 b
                let expected = matrix (e.Distance.Pairwise(a64, b64))
                let got = e.Distance.Pairwise(a32, b32)
                Expect.equal got.dtype torch.float32 $"{e.Distance.Name} keeps the dtype"
                expectMatrix e.Float32Tolerance (scaleOf e s d) $"{e.Distance.Name} float32" (fun i j -> expected.[i, j]) (matrix got)))

/// Re-orders the points of every distribution and pads with zero-weight points far away: nothing changes.
let permutationAndPadding =
    let gen =
        gen {
            let! d, s, a, b = batchPair
            let! seed = Gen.choose (0, 1000000)
            let! extra = Gen.choose (1, 3)
            return d, s, a, b, seed, extra
        }
    property "permuting a distribution's points and padding with zero weights change nothing" 10 gen (fun (d, _, a, b, seed, extra) ->
        let s = coordinateScale (Seq.append a b)
        let random = Random(seed)
        let permuted (e: Empirical) =
            let order = Array.init e.Count id |> Array.sortBy (fun _ -> random.Next())
            Empirical.Create(Array2D.init e.Count e.Dimension (fun i k -> e.Points.[order.[i], k]), order |> Array.map (fun i -> e.Weights.[i]))
        let padded (batch: DistributionBatch) =
            let far = torch.full ([| batch.Points.shape.[0]; int64 extra; batch.Points.shape.[2] |], sc (1e6 * s), dtype = torch.float64)
            DistributionBatch.FromTensors(
                torch.cat ([| far; batch.Points |], 1L),
                torch.cat ([| torch.zeros (batch.Points.shape.[0], int64 extra, dtype = torch.float64); batch.Weights |], 1L))
        for e in catalog d 0 do
            if e.Maker = AsDistributions then
                scoped (fun () ->
                    use ba = batchOf torch.float64 a
                    use bb = batchOf torch.float64 b
                    let expected = matrix (e.Distance.Pairwise(ba, bb))
                    use pa = batchOf torch.float64 (Array.map permuted a)
                    use pb = batchOf torch.float64 (Array.map permuted b)
                    let tol = scaleOf e s d
                    expectMatrix 1e-9 tol $"{e.Distance.Name} permuted" (fun i j -> expected.[i, j]) (matrix (e.Distance.Pairwise(pa, pb)))
                    use qa = padded ba
                    use qb = padded bb
                    expectMatrix 1e-9 tol $"{e.Distance.Name} padded" (fun i j -> expected.[i, j]) (matrix (e.Distance.Pairwise(qa, qb)))
                    use qbs = (qb :> IEmbeddingBatch).Select(indices (Array.init a.Length (fun i -> i % b.Length)))
                    let pairedPadded = values (e.Distance.Paired(qa, qbs))
                    for i in 0 .. a.Length - 1 do
                        expectWithin 1e-9 tol $"{e.Distance.Name} padded, paired" expected.[i, i % b.Length] pairedPadded.[i]))

/// Asserts a pairwise matrix [a.Length, b.Length] against a float64 reference, to tol relative to scale.
let private expectPairwise tol (dtype: torch.ScalarType) (a: Empirical[]) (b: Empirical[]) what scale (reference: Empirical -> Empirical -> float) (got: Tensor) =
    expectMatrix tol scale $"{what} {dtype}" (fun i j -> reference a.[i] b.[j]) (matrix got)

/// Pairwise marginal cost, marginal W_p and sliced W_p (p ∈ {1, 1.5, 2, 3}) against the reference, with check from
/// expectPairwise; s is the coordinate scale of the points in dimension d.
let private expectWassersteinPairwise check (d: int) (s: float) theta (directions: Tensor) (ba: DistributionBatch) (bb: DistributionBatch) =
    let r = 4.0 * s * sqrt (float d)
    for p in [ 1.0; 1.5; 2.0; 3.0 ] do
        check $"marginal cost p={p}" (float d * (2.0 * s) ** p) (fun x y -> Reference.MarginalWasserstein.costP (p, x, y)) (MarginalWasserstein.costPairwise (ba, bb, p, 0))
        check $"marginal p={p}" r (fun x y -> Reference.MarginalWasserstein.wasserstein (p, x, y)) (MarginalWasserstein.pairwise (ba, bb, p, 0))
        check $"sliced p={p}" r (fun x y -> Reference.SlicedWasserstein.wasserstein (p, x, y, theta)) (SlicedWasserstein.pairwise (ba, bb, p, directions, 0))

/// Uniform weights of one length take the sorted fast paths (one matrix product for p = 2, cdist otherwise, direct
/// differences for max-sliced); padding one zero-weight point leaves each row uniform on its support, which takes the
/// common-grid tables for the summed forms (the merge for max-sliced and paired): all must agree.
let fastPathMatchesMerge =
    let gen =
        gen {
            let! d = dimension
            let! s = scale
            let! t = Gen.choose (1, 9)
            let! n = Gen.choose (1, 4)
            let! m = Gen.choose (1, 4)
            let! a = Gen.arrayOfLength n (uniformAt t d s)
            let! b = Gen.arrayOfLength m (uniformAt t d s)
            return d, a, b
        }
    property "uniform equal-length fast paths = the general merge (marginal, sliced, max-sliced; paired and pairwise)" 25 gen (fun (d, a, b) ->
        let s = coordinateScale (Seq.append a b)
        let padded (batch: DistributionBatch) =
            DistributionBatch.FromTensors(
                torch.cat ([| batch.Points; torch.full ([| batch.Points.shape.[0]; 1L; batch.Points.shape.[2] |], sc (7.0 * s), dtype = batch.Points.dtype) |], 1L),
                torch.cat ([| batch.Weights; torch.zeros (batch.Points.shape.[0], 1L, dtype = batch.Points.dtype) |], 1L))
        let directions = DistEmbed.Core.SlicedWasserstein.randomDirections (5, d, 3L, torch.float64, null)
        let distances =
            [ Distances.MarginalWasserstein(1.0, 0), 1.0
              Distances.MarginalWasserstein(2.0, 0), 1.0
              Distances.MarginalWasserstein(3.0, 0), 1.0
              Distances.MarginalWassersteinCost(2.0, 0), 2.0
              Distances.SlicedWasserstein(directions, 2.0, 0), 1.0
              Distances.SlicedWassersteinCost(directions, 1.0, 0), 1.0
              Distances.MaxSlicedWasserstein(directions, 2.0, 0), 1.0
              Distances.MaxSlicedWasserstein(directions, 1.0, 0), 1.0 ]
        for dtype, tol in dtypes do
            for distance, power in distances do
                scoped (fun () ->
                    use ba = batchOf dtype a
                    use bb = batchOf dtype b
                    let fast = matrix (distance.Pairwise(ba, bb))
                    use pa = padded ba
                    use pb = padded bb
                    let r = (4.0 * s * sqrt (float d)) ** power
                    expectMatrix tol r $"{distance.Name} {dtype} pairwise" (fun i j -> fast.[i, j]) (matrix (distance.Pairwise(pa, pb)))
                    let selected = (bb :> IEmbeddingBatch).Select(indices (Array.init a.Length (fun i -> i % b.Length)))
                    let fastPaired = values (distance.Paired(ba, selected))
                    for i in 0 .. a.Length - 1 do
                        expectWithin tol r $"{distance.Name} {dtype} paired" fast.[i, i % b.Length] fastPaired.[i]))

/// Length-masked sequences (each distribution uniform on its own number of points, padded with zero weights) take
/// the common-grid quantile tables for pairwise marginal and sliced costs (paired ones use the general merge): exact
/// against the float64 reference, for several lengths at once, p ∈ {1, 1.5, 2, 3}, and with the merge when the
/// weights need gradients.
let commonGridMatchesReference =
    let gen =
        gen {
            let! d = dimension
            let! s = scale
            let! n = Gen.choose (1, 4)
            let! m = Gen.choose (1, 4)
            let! ta = Gen.arrayOfLength n (Gen.choose (1, 9))
            let! tb = Gen.arrayOfLength m (Gen.choose (1, 9))
            let! a = ta |> Array.map (fun t -> uniformAt t d s) |> Gen.sequenceToArray
            let! b = tb |> Array.map (fun t -> uniformAt t d s) |> Gen.sequenceToArray
            return d, a, b
        }
    property "uniform-on-support batches of several lengths (common grid; paired: merge) = float64 reference: marginal and sliced" 25 gen (fun (d, a, b) ->
        let s = coordinateScale (Seq.append a b)
        let theta = Reference.SlicedWasserstein.randomDirections (5, d, 7)
        let directions = torch.tensor(theta, dtype = torch.float64)
        let r = 4.0 * s * sqrt (float d)
        for dtype, tol in dtypes do
            scoped (fun () ->
                use ba = batchOf dtype a
                use bb = batchOf dtype b
                let check = expectPairwise tol dtype a b
                expectWassersteinPairwise check d s theta directions ba bb
                // Paired (a_i, b_{i mod m}).
                let partners = Array.init a.Length (fun i -> b.[i % b.Length])
                use bp = batchOf dtype partners
                let checkPaired what scale (reference: Empirical -> Empirical -> float) (got: Tensor) =
                    let v = values got
                    for i in 0 .. a.Length - 1 do
                        expectWithin tol scale $"{what} {dtype} [{i}]" (reference a.[i] partners.[i]) v.[i]
                for p in [ 1.0; 1.5; 2.0; 3.0 ] do
                    checkPaired $"paired marginal cost p={p}" (float d * (2.0 * s) ** p) (fun x y -> Reference.MarginalWasserstein.costP (p, x, y)) (MarginalWasserstein.costPaired (ba, bp, p))
                    checkPaired $"paired sliced p={p}" r (fun x y -> Reference.SlicedWasserstein.wasserstein (p, x, y, theta)) (SlicedWasserstein.paired (ba, bp, p, directions))
                    checkPaired $"paired max-sliced p={p}" r (fun x y -> Reference.SlicedWasserstein.maxSliced (p, x, y, theta)) (SlicedWasserstein.maxSlicedPaired (ba, bp, p, directions))
                // Weights that need gradients take the merge; the values are the same.
                use wa = ba.Weights.detach().clone().requires_grad_(true)
                use live = DistributionBatch.FromTensors(ba.Points, wa)
                check "marginal p=2 (merge, weights with gradients)" r (fun x y -> Reference.MarginalWasserstein.wasserstein (2.0, x, y)) (MarginalWasserstein.pairwise (live, bb, 2.0, 0))))

/// Distributions whose Gaussian fits are well conditioned: 4–8 continuous points of positive weight in d ≤ 3.
let conditioned (d: int) (s: float) : Gen<Empirical> =
    gen {
        let! n = Gen.choose (d + 2, d + 6)
        let! raw = Gen.arrayOfLength (n * d) (Gen.choose (-1000000, 1000000))
        let! w = Gen.arrayOfLength n (Gen.choose (1, 100))
        return Empirical.Create(Array2D.init n d (fun i k -> s * float raw.[i * d + k] / 250000.0), Array.map float w)
    }

/// The tensor distances agree with the float64 reference on every pair of two random batches.
let matchesReference =
    property "tensor = float64 reference: marginal, sliced, max-sliced, Bures (diagonal), MMD, energy" 12 batchPair (fun (d, _, a, b) ->
        let s = coordinateScale (Seq.append a b)
        let theta = Reference.SlicedWasserstein.randomDirections (6, d, 5)
        let directions = torch.tensor(theta, dtype = torch.float64)
        let r = 4.0 * s * sqrt (float d)
        let sigmas = [| 0.5 * s; 2.0 * s; 1.0 |]
        for dtype, tol in dtypes do
            scoped (fun () ->
                use ba = batchOf dtype a
                use bb = batchOf dtype b
                let check = expectPairwise tol dtype a b
                expectWassersteinPairwise check d s theta directions ba bb
                for p in [ 1.0; 1.5; 2.0; 3.0 ] do
                    check $"max-sliced p={p}" r (fun x y -> Reference.SlicedWasserstein.maxSliced (p, x, y, theta)) (SlicedWasserstein.maxSlicedPairwise (ba, bb, p, directions, 0))
                check "bures-diag" (r * r) (fun x y -> Reference.Bures.buresOfFitsSquared (x, y, true)) (Bures.diagonalSquaredPairwise (ba, bb, 0))
                check "mmd" 3.0 (fun x y -> Reference.KernelDistances.mmdSquared (x, y, sigmas, true)) (KernelDistances.mmdSquaredPairwise (ba, bb, sigmas, true, 0))
                check "energy" r (fun x y -> Reference.KernelDistances.energyDistance (x, y)) (KernelDistances.energyPairwise (ba, bb, 0))
                // Full covariances: the square root of a singular covariance moves by √ε·‖S‖^{1/2} under a rounding
                // perturbation, in the reference as here, so the agreement is at that level in general.
                let buresTolerance = if dtype = torch.float64 then 1e-6 else 3e-3
                expectMatrix buresTolerance (r * r) $"bures (any covariance) {dtype}" (fun i j -> Reference.Bures.buresOfFitsSquared (a.[i], b.[j], false)) (matrix (Bures.squaredPairwise (ba, bb, 0)))))

/// Full-covariance Bures agrees with the reference to rounding when the covariances are well conditioned.
let buresMatchesReference =
    let gen =
        gen {
            let! d = Gen.choose (1, 3)
            let! s = scale
            let! n = Gen.choose (1, 3)
            let! a = Gen.arrayOfLength n (conditioned d s)
            let! b = Gen.arrayOfLength n (conditioned d s)
            return d, a, b
        }
    property "bures (full covariance) = float64 reference on well-conditioned fits, paired and pairwise" 25 gen (fun (d, a, b) ->
        let s = coordinateScale (Seq.append a b)
        let r = 4.0 * s * sqrt (float d)
        for dtype, tol in dtypes do
            scoped (fun () ->
                use ba = batchOf dtype a
                use bb = batchOf dtype b
                expectMatrix tol (r * r) $"bures squared {dtype}" (fun i j -> Reference.Bures.buresOfFitsSquared (a.[i], b.[j], false)) (matrix (Bures.squaredPairwise (ba, bb, 0)))
                expectMatrix tol r $"bures {dtype}" (fun i j -> sqrt (Reference.Bures.buresOfFitsSquared (a.[i], b.[j], false))) (matrix (Bures.pairwise (ba, bb, 0)))
                let paired = values (Bures.squaredPaired (ba, bb))
                for i in 0 .. a.Length - 1 do
                    expectWithin tol (r * r) $"bures paired {dtype}" (Reference.Bures.buresOfFitsSquared (a.[i], b.[i], false)) paired.[i]
                let fits = DistEmbed.Core.Bures.fit ba
                for i in 0 .. a.Length - 1 do
                    let mean, covariance = Reference.Bures.fit a.[i]
                    let m = values fits.Means.[int64 i]
                    let c = values fits.Covariances.[int64 i]
                    Array.iteri (fun k v -> expectWithin tol r $"mean {dtype}" v m.[k]) mean
                    for k in 0 .. d - 1 do
                        for l in 0 .. d - 1 do
                            expectWithin tol (r * r) $"covariance {dtype}" covariance.[k, l] c.[k * d + l]))

/// The unbiased MMD² agrees with the reference U-statistic (equal weights, no padding, at least two points).
let unbiasedMmdMatchesReference =
    let gen =
        gen {
            let! d = dimension
            let! s = scale
            let! n = Gen.choose (1, 3)
            let! ta = Gen.choose (2, 12)
            let! tb = Gen.choose (2, 12)
            let! a = Gen.arrayOfLength n (uniformAt ta d s)
            let! b = Gen.arrayOfLength n (uniformAt tb d s)
            return s, a, b
        }
    property "unbiased mmd = float64 reference U-statistic, paired and pairwise" 20 gen (fun (s, a, b) ->
        let sigmas = [| 0.3 * s; s; 4.0 * s |]
        for dtype, tol in dtypes do
            scoped (fun () ->
                use ba = batchOf dtype a
                use bb = batchOf dtype b
                expectMatrix tol 3.0 $"unbiased mmd {dtype}" (fun i j -> Reference.KernelDistances.mmdSquared (a.[i], b.[j], sigmas, false)) (matrix (KernelDistances.mmdSquaredPairwise (ba, bb, sigmas, false, 0)))
                let paired = values (KernelDistances.mmdSquaredPaired (ba, bb, sigmas, false))
                for i in 0 .. a.Length - 1 do
                    expectWithin tol 3.0 $"unbiased mmd paired {dtype}" (Reference.KernelDistances.mmdSquared (a.[i], b.[i], sigmas, false)) paired.[i]))

/// Vector distances against direct float64 loops.
let vectorsMatchDirect =
    let gen =
        gen {
            let! d = dimension
            let! s = scale
            let! n = Gen.choose (1, 6)
            let! m = Gen.choose (1, 6)
            let! x = vectorsAt n d s
            let! y = vectorsAt m d s
            return d, s, x, y
        }
    property "euclidean, sqeuclidean, cosine and L_p match direct float64 sums" 30 gen (fun (d, s, x, y) ->
        let n, m = Array2D.length1 x, Array2D.length1 y
        let row (a: float[,]) i = Array.init d (fun k -> a.[i, k])
        let direct p i j = Array.map2 (fun u v -> abs (u - v) ** p) (row x i) (row y j) |> Array.sum
        let norm (v: float[]) = sqrt (Array.sumBy (fun t -> t * t) v)
        let cosine i j =
            let u, v = row x i, row y j
            let nu, nv = norm u, norm v
            if nu = 0.0 || nv = 0.0 then 1.0 else min 2.0 (max 0.0 (1.0 - Array.fold2 (fun acc a b -> acc + a * b) 0.0 u v / (nu * nv)))
        let r = 4.0 * s * sqrt (float d)
        for dtype, tol in dtypes do
            scoped (fun () ->
                let toBatch (a: float[,]) =
                    let v = VectorBatch.FromArray(a, torch.CPU)
                    if dtype = torch.float64 then v else VectorBatch.FromTensor(v.Values.to_type dtype)
                use bx = toBatch x
                use by = toBatch y
                expectMatrix tol r "euclidean" (fun i j -> sqrt (direct 2.0 i j)) (matrix (VectorDistances.euclideanPairwise (bx, by, 0)))
                expectMatrix tol (r * r) "sqeuclidean" (fun i j -> direct 2.0 i j) (matrix (VectorDistances.squaredEuclideanPairwise (bx, by, 0)))
                expectMatrix tol 1.0 "cosine" cosine (matrix (VectorDistances.cosinePairwise (bx, by, 0)))
                for p in [ 1.0; 1.5; 3.0 ] do
                    expectMatrix tol r $"L{p}" (fun i j -> direct p i j ** (1.0 / p)) (matrix (VectorDistances.lpPairwise (bx, by, p, 0)))
                if n = m then
                    let col (t: Tensor) = matrix (t.unsqueeze 1L)
                    expectMatrix tol r "euclidean paired" (fun i _ -> sqrt (direct 2.0 i i)) (col (VectorDistances.euclideanPaired (bx, by)))
                    expectMatrix tol (r * r) "sqeuclidean paired" (fun i _ -> direct 2.0 i i) (col (VectorDistances.squaredEuclideanPaired (bx, by)))
                    expectMatrix tol 1.0 "cosine paired" (fun i _ -> cosine i i) (col (VectorDistances.cosinePaired (bx, by)))
                    expectMatrix tol r "L3 paired" (fun i _ -> direct 3.0 i i ** (1.0 / 3.0)) (col (VectorDistances.lpPaired (bx, by, 3.0)))))

/// Euclidean pairwise is exact at coincident points, far from the origin (the Gram form alone is not).
let euclideanAccurateNearZero =
    testCase "euclidean pairwise is 0 at coincident vectors and accurate for nearby ones, far from the origin" <| fun () ->
        scoped (fun () ->
            for dtype, tol in dtypes do
                // Two nearby vectors far from the centre of the batch (the origin of the centred Gram form).
                let x = torch.tensor([| 1000.0; -2000.0; 3000.0; 1000.0; -2000.0; 3000.001; -1000.0; 2000.0; -3000.0 |], dtype = torch.float64).reshape(3L, 3L)
                use b = VectorBatch.FromTensor(x.to_type dtype)
                let dm = matrix (VectorDistances.euclideanPairwise (b, b, 0))
                for i in 0 .. 2 do
                    Expect.equal dm.[i, i] 0.0 "D(x, x) = 0 exactly"
                let stored = values (x.to_type dtype)
                let exact = abs (stored.[5] - stored.[2])
                expectWithin tol exact "nearby vectors, relative to their distance" exact dm.[0, 1])

/// Quantile batches agree with distribution batches whose atoms are the quantiles and whose weights are the level masses.
let quantilesMatchWeightedDistributions =
    let gen =
        gen {
            let! d = dimension
            let! s = scale
            let! q = Gen.choose (1, 6)
            let! n = Gen.choose (1, 3)
            let! m = Gen.choose (1, 3)
            let! uniform = Gen.elements [ true; false ]
            let! cuts = Gen.arrayOfLength q (Gen.choose (1, 1000))
            let! a = Gen.arrayOfLength n (Gen.arrayOfLength (d * q) (Gen.choose (-1000, 1000)))
            let! b = Gen.arrayOfLength m (Gen.arrayOfLength (d * q) (Gen.choose (-1000, 1000)))
            return d, s, q, uniform, cuts, a, b
        }
    property "quantile-wp equals marginal W_p of the quantile atoms with the level masses" 25 gen (fun (d, s, q, uniform, cuts, a, b) ->
        scoped (fun () ->
            let levels =
                if uniform then QuantileBatch.MidpointLevels q
                else
                    let c = Array.scan (+) 0 (Array.sort cuts) |> Array.skip 1 |> Array.map float
                    let total = Array.last c + 1.0
                    c |> Array.mapi (fun i v -> (v + float i) / (total + float q))
            let sorted (rows: int[][]) =
                let t =
                    rows
                    |> Array.collect (fun r -> Array.init d (fun k -> Array.sort r.[k * q .. k * q + q - 1]) |> Array.concat)
                    |> Array.map (fun v -> s * float v / 250.0)
                torch.tensor(t, dtype = torch.float64).reshape (int64 rows.Length, int64 d, int64 q)
            let lv = torch.tensor (levels, dtype = torch.float64)
            use qa = QuantileBatch.FromTensor(sorted a, lv)
            use qb = QuantileBatch.FromTensor(sorted b, lv)
            let w = MarginalWasserstein.levelWeights lv
            Expect.floatClose Accuracy.veryHigh (values (w.sum ())).[0] 1.0 "level masses sum to 1"
            let asDistributions (qb: QuantileBatch) =
                DistributionBatch.FromTensors(qb.Values.transpose (1L, 2L), w.unsqueeze(0L).expand (int64 qb.Count, int64 q))
            use da = asDistributions qa
            use db = asDistributions qb
            let r = 4.0 * s * sqrt (float d) * 4.0
            for p in [ 1.0; 2.0; 3.0 ] do
                let expected = matrix (MarginalWasserstein.pairwise (da, db, p, 0))
                expectMatrix 1e-9 r $"quantile W{p}" (fun i j -> expected.[i, j]) (matrix (MarginalWasserstein.quantilePairwise (qa, qb, p, 0)))
                let expectedCost = matrix (MarginalWasserstein.costPairwise (da, db, p, 0))
                expectMatrix 1e-9 (r ** p) $"quantile cost W{p}" (fun i j -> expectedCost.[i, j]) (matrix (MarginalWasserstein.quantileCostPairwise (qa, qb, p, 0)))
                // And against the float64 reference on the same discrete measures.
                let atoms (t: Tensor) i = Empirical.Create(Array2D.init q d (fun l k -> (values t.[int64 i, int64 k]).[l]), values w)
                let reference i j = Reference.MarginalWasserstein.costP (p, atoms qa.Values i, atoms qb.Values j)
                expectMatrix 1e-9 (r ** p) $"quantile cost W{p} vs reference" reference (matrix (MarginalWasserstein.quantileCostPairwise (qa, qb, p, 0)))))

/// Sliced over the coordinate axes is the marginal distance divided by d; max-sliced is the largest marginal.
let slicedOnAxes =
    property "sliced over the d axes = marginal / d; max-sliced = the largest marginal" 15 batchPair (fun (d, _, a, b) ->
        let s = coordinateScale (Seq.append a b)
        scoped (fun () ->
            use ba = batchOf torch.float64 a
            use bb = batchOf torch.float64 b
            let axes = torch.eye (int64 d, dtype = torch.float64)
            let r = 16.0 * s * s * float d
            for p in [ 1.0; 2.0 ] do
                let marginal = matrix (MarginalWasserstein.costPairwise (ba, bb, p, 0))
                expectMatrix 1e-9 (r ** (p / 2.0)) "sliced cost" (fun i j -> marginal.[i, j] / float d) (matrix (SlicedWasserstein.costPairwise (ba, bb, p, axes, 0)))
            let perAxis =
                [ for k in 0 .. d - 1 ->
                      let e = torch.zeros (1L, int64 d, dtype = torch.float64)
                      e.[0L, int64 k] <- torch.tensor (1.0, dtype = torch.float64)
                      matrix (SlicedWasserstein.pairwise (ba, bb, 2.0, e, 0)) ]
            let largest i j = perAxis |> List.map (fun m -> m.[i, j]) |> List.max
            expectMatrix 1e-9 (4.0 * s * sqrt (float d)) "max-sliced" largest (matrix (SlicedWasserstein.maxSlicedPairwise (ba, bb, 2.0, axes, 0)))))

/// Bures: translation gives ‖Δm‖; in one dimension the full and diagonal forms agree.
let buresSpecialCases =
    property "bures: a translate is at distance ‖shift‖; d = 1 full = diagonal" 20 pairedBatches (fun (d, _, a, b) ->
        let s = coordinateScale (Seq.append a b)
        scoped (fun () ->
            use ba = batchOf torch.float64 a
            let shift = Array.init d (fun k -> float (k + 1) * s / 3.0)
            use moved = DistributionBatch.FromTensors(ba.Points.add (torch.tensor(shift, dtype = torch.float64), sc 1.0), ba.Weights)
            let norm = sqrt (Array.sumBy (fun v -> v * v) shift)
            let full = values (Bures.paired (ba, moved))
            let diagonal = values (Bures.diagonalPaired (ba, moved))
            for i in 0 .. a.Length - 1 do
                expectWithin 1e-9 (4.0 * s * sqrt (float d)) "full, translate" norm full.[i]
                expectWithin 1e-9 (4.0 * s * sqrt (float d)) "diagonal, translate" norm diagonal.[i]
            let one (es: Empirical[]) = es |> Array.map (fun e -> Empirical.Create(Array2D.init e.Count 1 (fun i _ -> e.Points.[i, 0]), e.Weights))
            use a1 = batchOf torch.float64 (one a)
            use b1 = batchOf torch.float64 (one b)
            let f = matrix (Bures.pairwise (a1, b1, 0))
            expectMatrix 1e-9 (4.0 * s) "d = 1" (fun i j -> f.[i, j]) (matrix (Bures.diagonalPairwise (a1, b1, 0)))))

/// The symmetric square root squares back to the matrix, also for repeated and zero eigenvalues.
let symmetricSqrtSquares =
    testCase "symmetricSqrt(A)² = A for PSD A with repeated and zero eigenvalues" <| fun () ->
        scoped (fun () ->
            let a = torch.tensor([| 2.0; 0.0; 0.0; 0.0; 2.0; 0.0; 0.0; 0.0; 0.0 |], dtype = torch.float64).reshape(1L, 3L, 3L)
            let rotation = torch.linalg.qr(torch.randn (3L, 3L, dtype = torch.float64, generator = torch.manual_seed 5L)) |> fun struct (q, _) -> q
            let m = rotation.matmul(a).matmul (rotation.t ())
            let r = Bures.symmetricSqrt m
            let back = values (r.matmul r)
            let expected = values m
            Array.iter2 (fun e g -> expectWithin 1e-12 2.0 "S² = A" e g) expected back)

/// MMD²: biased V-statistic ≥ 0 and 0 at a = b; the unbiased one equals the biased one corrected by the diagonal.
let mmdProperties =
    let gen =
        gen {
            let! d = dimension
            let! s = scale
            let! n = Gen.choose (2, 8)
            let! m = Gen.choose (2, 8)
            let! x = uniformAt n d s
            let! y = uniformAt m d s
            return x, y
        }
    property "mmd: biased ≥ 0 and 0 at a = b; unbiased = biased without the diagonal terms" 25 gen (fun (x, y) ->
        scoped (fun () ->
            let sigmas = [| 0.3; 1.0; 5.0 |]
            use bx = batchOf torch.float64 [| x |]
            use by = batchOf torch.float64 [| y |]
            let biased = (values (KernelDistances.mmdSquaredPaired (bx, by, sigmas, true))).[0]
            let unbiased = (values (KernelDistances.mmdSquaredPaired (bx, by, sigmas, false))).[0]
            let self = (values (KernelDistances.mmdSquaredPaired (bx, bx, sigmas, true))).[0]
            if biased < -1e-12 then failtestf "biased MMD² = %g < 0" biased
            expectWithin 1e-12 1.0 "MMD²(a, a)" 0.0 self
            let n, m = float x.Count, float y.Count
            let k = float sigmas.Length
            // The within-distribution term xx_b: MMD²_b against one point so far away that every cross kernel
            // value underflows to 0 and its own term is k(z, z) = k.
            use far = batchOf torch.float64 [| Empirical.Uniform(Array2D.create 1 x.Dimension 1e9) |]
            let selfTerm (e: DistributionBatch) = (values (KernelDistances.mmdSquaredPaired (e, far, sigmas, true))).[0] - k
            // The U-statistic drops the n diagonal values k(x_i, x_i) = k: xx_u = (n² xx_b − n k)/(n(n − 1)).
            let xx, yy = selfTerm bx, selfTerm by
            let expected = (n * n * xx - n * k) / (n * (n - 1.0)) + (m * m * yy - m * k) / (m * (m - 1.0)) - (xx + yy - biased)
            expectWithin 1e-9 k "unbiased" expected unbiased))

/// The drawn sliced distance draws its directions once per instance from its seed: calls agree, seeds reproduce,
/// and a fresh draw is asked for explicitly.
let drawnDirections =
    testCase "randomDirections: unit rows, reproducible; drawn sliced distances fixed per instance, reproducible per seed" <| fun () ->
        scoped (fun () ->
            let d1 = DistEmbed.Core.SlicedWasserstein.randomDirections (16, 5, 3L, torch.float64, null)
            let d2 = DistEmbed.Core.SlicedWasserstein.randomDirections (16, 5, 3L, torch.float32, torch.CPU)
            Expect.equal d1.shape [| 16L; 5L |] "shape [L, d]"
            for v in values (d1.square().sum (1L)) do
                Expect.floatClose Accuracy.veryHigh v 1.0 "unit rows"
            Array.iter2 (fun e g -> expectWithin 1e-6 1.0 "same seed, other dtype" e g) (values d1) (values d2)
            let points = torch.randn (3L, 6L, 5L, dtype = torch.float64, generator = torch.manual_seed 1L)
            use batch = DistributionBatch.FromTensors(points, null)
            use other = DistributionBatch.FromTensors(points.flip (0L), null)
            let first = Distances.SlicedWassersteinDrawn(8, 42L)
            let again = Distances.SlicedWassersteinDrawn(8, 42L)
            let x1 = values (first.Pairwise(batch, other))
            let x2 = values (first.Pairwise(batch, other))
            Expect.equal (values (again.Pairwise(batch, other))) x1 "same seed, same directions"
            Expect.equal x2 x1 "a second call uses the same directions"
            Expect.equal (values (first.Paired(batch, other))) (values (first.Paired(batch, other))) "two Paired calls agree"
            let theta = DistEmbed.Core.SlicedWasserstein.randomDirections (8, 5, 42L, torch.float64, null)
            let fixedDirections = Distances.SlicedWasserstein theta
            Expect.equal (values (fixedDirections.Pairwise(batch, other))) x1 "the directions are RandomDirections(L, d, seed)"
            let fresh = first.WithFreshDirections 43L
            Expect.equal fresh.Seed 43L "the fresh draw's seed"
            Expect.equal fresh.Projections 8 "the fresh draw's projections"
            Expect.equal (fresh :> IDistance).Name "sliced-w2" "the fresh draw's name"
            Expect.notEqual (values (fresh.Pairwise(batch, other))) x1 "a fresh draw gives other directions"
            Expect.equal (values (first.Pairwise(batch, other))) x1 "the original keeps its directions"
            Expect.equal (values ((Distances.SlicedWassersteinDrawn(8, 43L)).Pairwise(batch, other))) (values (fresh.Pairwise(batch, other))) "a fresh draw equals a new instance of that seed"
            let self = matrix (first.Pairwise(batch, batch))
            for i in 0 .. 2 do
                Expect.equal self.[i, i] 0.0 "zero diagonal within one call"
                for j in 0 .. 2 do
                    expectWithin 1e-12 1.0 "symmetric within one call" self.[j, i] self.[i, j])

/// Wrong representation, shape and count mismatches, bad options: ArgumentException naming the argument.
let badInputs =
    testCase "bad inputs throw ArgumentException naming the argument" <| fun () ->
        scoped (fun () ->
            let points = torch.randn (2L, 4L, 3L, dtype = torch.float64, generator = torch.manual_seed 2L)
            use dist = DistributionBatch.FromTensors(points, null)
            use dist3 = DistributionBatch.FromTensors(torch.randn (3L, 4L, 3L, dtype = torch.float64), null)
            use dist2d = DistributionBatch.FromTensors(torch.randn (2L, 4L, 2L, dtype = torch.float64), null)
            use dist32 = DistributionBatch.FromTensors(points.to_type torch.float32, null)
            use vec = VectorBatch.FromTensor(torch.randn (2L, 3L, dtype = torch.float64))
            use quant = QuantileBatch.FromTensor(torch.randn(2L, 3L, 4L, dtype = torch.float64).sort(2L) |> (fun struct (v, _) -> v), null)
            use quantOther =
                QuantileBatch.FromTensor(
                    torch.randn(2L, 3L, 4L, dtype = torch.float64).sort(2L) |> (fun struct (v, _) -> v),
                    torch.tensor ([| 0.1; 0.2; 0.3; 0.9 |], dtype = torch.float64))
            let w2 = Distances.MarginalWasserstein(2.0, 0)
            expectArgument "a" "vectors to marginal-w2" (fun () -> w2.Paired(vec, dist) |> ignore)
            expectArgument "b" "vectors as b" (fun () -> w2.Pairwise(dist, vec) |> ignore)
            expectArgument "a" "distributions to euclidean" (fun () -> (Distances.Euclidean 0).Pairwise(dist, dist) |> ignore)
            expectArgument "a" "distributions to quantile-w2" (fun () -> (Distances.QuantileWasserstein(2.0, 0)).Pairwise(dist, dist) |> ignore)
            expectArgument "b" "count mismatch in Paired" (fun () -> w2.Paired(dist, dist3) |> ignore)
            expectArgument "b" "dimension mismatch" (fun () -> w2.Pairwise(dist, dist2d) |> ignore)
            expectArgument "b" "dtype mismatch" (fun () -> w2.Pairwise(dist, dist32) |> ignore)
            expectArgument "b" "quantile levels differ" (fun () -> (Distances.QuantileWasserstein(2.0, 0)).Pairwise(quant, quantOther) |> ignore)
            expectArgument "b" "quantile levels differ (module)" (fun () -> MarginalWasserstein.quantilePairwise (quant, quantOther, 2.0, 0) |> ignore)
            expectArgument "p" "p < 1" (fun () -> Distances.MarginalWasserstein(0.5, 0) |> ignore)
            expectArgument "p" "p NaN" (fun () -> Distances.Lp(nan, 0) |> ignore)
            expectArgument "p" "p < 1 (module)" (fun () -> MarginalWasserstein.pairwise (dist, dist, 0.9, 0) |> ignore)
            expectArgument "blockSize" "negative block size" (fun () -> Distances.Energy(-1) |> ignore)
            expectArgument "blockSize" "negative block size (module)" (fun () -> VectorDistances.euclideanPairwise (vec, vec, -3) |> ignore)
            expectArgument "bandwidths" "empty bandwidths" (fun () -> Distances.Mmd([||], true, 0) |> ignore)
            expectArgument "bandwidths" "negative bandwidth" (fun () -> Distances.Mmd([| 1.0; -1.0 |], true, 0) |> ignore)
            expectArgument "projections" "no projections" (fun () -> Distances.SlicedWassersteinDrawn(0, 1L) |> ignore)
            expectArgument "directions" "directions not [L, d]" (fun () -> Distances.SlicedWasserstein(torch.ones (3L, dtype = torch.float64)) |> ignore)
            expectArgument "directions" "directions not finite" (fun () -> Distances.SlicedWasserstein(torch.full (2L, 3L, sc nan, dtype = torch.float64)) |> ignore)
            expectArgument "directions" "directions of another d (module)" (fun () -> SlicedWasserstein.pairwise (dist, dist, 2.0, torch.ones (2L, 5L, dtype = torch.float64), 0) |> ignore)
            expectArgument "a" "directions of another d" (fun () -> (Distances.SlicedWasserstein(torch.ones (2L, 5L, dtype = torch.float64))).Pairwise(dist, dist) |> ignore)
            expectArgument "name" "unknown name" (fun () -> Distances.Create("wasserstein-7", null) |> ignore)
            use single = DistributionBatch.FromTensors(torch.randn (2L, 1L, 3L, dtype = torch.float64), null)
            expectArgument "a" "unbiased MMD with one point" (fun () -> KernelDistances.mmdSquaredPaired (single, dist, [| 1.0 |], false) |> ignore)
            use weighted = DistributionBatch.FromTensors(points, torch.tensor([| 1.0; 2.0; 1.0; 1.0; 1.0; 1.0; 1.0; 1.0 |], dtype = torch.float64).reshape(2L, 4L))
            expectArgument "b" "unbiased MMD with unequal weights" (fun () -> (Distances.Mmd([| 1.0 |], false, 0)).Paired(dist, weighted) |> ignore)
            expectArgument "covariancesA" "covariance shape" (fun () -> Bures.squaredOfFitsPaired (torch.zeros (2L, 3L, dtype = torch.float64), torch.zeros (2L, 3L, dtype = torch.float64), torch.zeros (2L, 3L, dtype = torch.float64), torch.zeros (2L, 3L, 3L, dtype = torch.float64)) |> ignore)
            expectArgument "elementsPerPair" "block budget" (fun () -> Blocked.blockSizeFor (0L, 10L) |> ignore)
            expectArgument "block" "block of the wrong shape" (fun () ->
                Blocked.pairwise (3L, 3L, 2L, Func<int64, int64, int64, int64, Tensor>(fun _ _ _ _ -> torch.zeros (1L, 1L))) |> ignore)
            expectArgument "levels" "levels of rank 2" (fun () -> MarginalWasserstein.levelWeights (torch.zeros (2L, 2L, dtype = torch.float64)) |> ignore))

/// The names accepted by Create build the distance of that name.
let createByName =
    testCase "Create builds every listed name with the matching Name and representation" <| fun () ->
        scoped (fun () ->
            for name in Distances.Names do
                let options = DistanceOptions(Projections = 4, P = 3.0)
                let d = Distances.Create(name, options)
                Expect.equal d.Name name $"name of {name}"
                let expected =
                    if List.contains name [ "euclidean"; "sqeuclidean"; "cosine"; "lp" ] then Representation.Vectors
                    elif name.StartsWith "quantile" then Representation.Quantiles
                    else Representation.Distributions
                Expect.equal d.Accepts expected $"representation of {name}"
                Expect.equal d.IsMetric (not (name.EndsWith "-cost" || List.contains name [ "sqeuclidean"; "cosine"; "mmd"; "energy"; "sinkhorn"; "sinkhorn-divergence"; "sinkhorn-unbalanced"; "sinkhorn-divergence-unbalanced" ])) $"IsMetric of {name}"
                let descriptor = Distances.Describe name
                Expect.equal descriptor.Name name $"catalog name of {name}"
                Expect.equal descriptor.Accepts d.Accepts $"catalog representation of {name}"
                Expect.equal descriptor.IsMetric d.IsMetric $"catalog IsMetric of {name}"
                Expect.equal ((descriptor.Options |> Seq.toList) |> List.forall (fun o -> not (isNull (typeof<DistanceOptions>.GetProperty o)))) true $"catalog options of {name} are DistanceOptions properties"
            Expect.equal (Distances.Names |> Array.toList) (Distances.Catalog |> Seq.map (fun d -> d.Name) |> Seq.toList) "Names are the catalog's"
            Expect.equal (Distances.Names |> Array.distinct |> Array.length) Distances.Names.Length "names are unique"
            Expect.equal (Distances.Describe "  Sliced-W2 ").Name "sliced-w2" "Describe ignores case and spaces"
            Expect.isTrue (Distances.Create("sliced-w2", null) :? ISeededDistance) "sliced-w2 without directions is seeded"
            Expect.isFalse (Distances.Create("sliced-w2", DistanceOptions(Directions = torch.ones (2L, 3L, dtype = torch.float64))) :? ISeededDistance) "sliced-w2 with fixed directions is not")

[<Tests>]
let tests =
    init ()
    testList
        "tensor.distances"
        [ pairwiseIsPaired
          blockIndependence
          noLeaks
          metricAxioms
          float32MatchesFloat64
          permutationAndPadding
          matchesReference
          buresMatchesReference
          unbiasedMmdMatchesReference
          fastPathMatchesMerge
          commonGridMatchesReference
          vectorsMatchDirect
          euclideanAccurateNearZero
          quantilesMatchWeightedDistributions
          slicedOnAxes
          buresSpecialCases
          symmetricSqrtSquares
          mmdProperties
          drawnDirections
          badInputs
          createByName ]
