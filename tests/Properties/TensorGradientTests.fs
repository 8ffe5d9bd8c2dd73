/// Gradients of the tensor distances (float64): autograd against central finite differences, against the analytic
/// gradients of the float64 reference, and finiteness at ties and at a = b for every distance.
module DistEmbed.Properties.TensorGradientTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.TensorSupport
open DistEmbed.Properties.TensorDistanceTests

/// The gradient of loss(x) at x0 (a float64 leaf of the given shape) by autograd.
let autogradAt (shape: int64[]) (x0: float[]) (loss: Tensor -> Tensor) : float[] =
    scoped (fun () ->
        let x = torch.tensor(x0, dtype = torch.float64).reshape(shape).requires_grad_ true
        let l = loss x
        l.backward ()
        values x.grad)

/// Central finite differences of loss at x0, step h.
let finiteDifferences (shape: int64[]) (x0: float[]) (h: float) (loss: Tensor -> Tensor) : float[] =
    scoped (fun () ->
        use _ = torch.no_grad ()
        let at (v: float[]) = (values (loss (torch.tensor(v, dtype = torch.float64).reshape shape))).[0]
        Array.init x0.Length (fun i ->
            let up = Array.copy x0
            let down = Array.copy x0
            up.[i] <- up.[i] + h
            down.[i] <- down.[i] - h
            (at up - at down) / (2.0 * h)))

/// Compares two gradients entry by entry, relative to the largest entry (or 1).
let expectGradient (tol: float) (what: string) (expected: float[]) (actual: float[]) =
    let scale = Array.append expected actual |> Array.map abs |> Array.fold max 1.0
    Array.iteri2 (fun i e a -> expectWithin tol scale $"{what}[{i}]" e a) expected actual

/// Continuous points (no ties with probability one): B × T × d standard normal values from a seed.
let continuous (seed: int) (count: int) =
    let random = Random(seed)
    Array.init count (fun _ ->
        let u1 = 1.0 - random.NextDouble()
        let u2 = random.NextDouble()
        sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2))

/// Weights in [0.5, 1.5) from a seed (not normalised; the batch normalises them).
let positiveWeights (seed: int) (count: int) =
    let random = Random(seed + 17)
    Array.init count (fun _ -> 0.5 + random.NextDouble())

/// A random linear combination of a [B, B'] matrix (so every entry's gradient counts).
let combination (seed: int) (m: Tensor) =
    let random = Random(seed + 31)
    let c = Array.init (int m.shape.[0] * int m.shape.[1]) (fun _ -> random.NextDouble() - 0.3)
    m.mul(torch.tensor(c, dtype = torch.float64).reshape (m.shape.[0], m.shape.[1])).sum ()

/// The shapes for finite-difference checks: 2 × T × d with T = 4 and d = 2.
let fdShape = [| 2L; 4L; 2L |]

/// Builds the batch of an entry from a float64 tensor [2, 4, 2] (vectors: the first point; quantiles: sorted along T).
let batchFrom (maker: Maker) (x: Tensor) (weights: Tensor) : IEmbeddingBatch =
    match maker with
    | AsDistributions -> DistributionBatch.FromTensors(x, weights) :> IEmbeddingBatch
    | AsVectors -> VectorBatch.FromTensor(x.select (1L, 0L)) :> IEmbeddingBatch
    | AsQuantiles ->
        let struct (sorted, _) = x.transpose(1L, 2L).sort (2L)
        QuantileBatch.FromTensor(sorted, null) :> IEmbeddingBatch

/// Autograd agrees with central differences for every distance at generic points (paired and pairwise).
let autogradMatchesFiniteDifferences =
    property "autograd = central finite differences for every distance (float64, generic points, 1 × 1 blocks)" 4 (Gen.choose (0, 100000)) (fun seed ->
        let x0 = continuous seed 16
        let other = continuous (seed + 1) 16
        for e in catalog 2 1 do
            let loss (x: Tensor) =
                let a = batchFrom e.Maker x null
                let b = batchFrom e.Maker (torch.tensor(other, dtype = torch.float64).reshape fdShape) null
                e.Distance.Paired(a, b).sum().add (combination seed (e.Distance.Pairwise(a, b)), sc 1.0)
            let g = autogradAt fdShape x0 loss
            let fd = finiteDifferences fdShape x0 1e-6 loss
            expectGradient 1e-5 $"{e.Distance.Name} points" fd g)

/// Well-converged Sinkhorn options (float64): the finite differences see the converged value, not the iteration.
let private convergedSinkhorn = { SinkhornOptions.Create(1.0) with MaxIterations = 20000; Tolerance = 1e-14; CheckEvery = 1 }

/// Gradients with respect to the (unnormalised) weights agree with central differences: random weights in [0.5, 1.5)
/// and exactly uniform weights (the common case in training, which the sorted fast paths serve when no weight
/// gradient is needed). Both uniform: every cumulative level of a meets one of b, a kink of W_p in the weights, where
/// central differences give the mean of the one-sided derivatives — the derivative the marginal paths return.
/// Sinkhorn: OT_ε has ∂OT_ε/∂a = f (the dual potential) and the divergence S_ε its envelope gradient.
let weightGradients =
    property "weight gradients = central finite differences (marginal, sliced, max-sliced, kernel, Bures, OT_ε, S_ε; random and uniform weights)" 4 (Gen.choose (0, 100000)) (fun seed ->
        let points = continuous seed 16
        let other = continuous (seed + 1) 16
        let distances =
            [ for e in catalog 2 0 do
                  if e.Maker = AsDistributions then yield e.Distance.Name, (e.Distance :> IDistance), 1e-5
              yield "sinkhorn-divergence", DistEmbed.Core.Sinkhorn.divergence convergedSinkhorn, 1e-6 ]
        for uniform in [ false; true ] do
            let w0 = if uniform then Array.create 8 1.0 else positiveWeights seed 8
            let wOther = if uniform then Array.create 8 1.0 else positiveWeights (seed + 1) 8
            let batches (w: Tensor) =
                DistributionBatch.FromTensors(torch.tensor(points, dtype = torch.float64).reshape fdShape, w),
                DistributionBatch.FromTensors(torch.tensor(other, dtype = torch.float64).reshape fdShape, torch.tensor(wOther, dtype = torch.float64).reshape (2L, 4L))
            let check (name: string) (tol: float) (loss: Tensor -> Tensor) =
                let g = autogradAt [| 2L; 4L |] w0 loss
                let fd = finiteDifferences [| 2L; 4L |] w0 1e-6 loss
                expectGradient tol $"{name} weights (uniform = {uniform})" fd g
            for name, distance, tol in distances do
                // Exactly uniform weights make exact OT an assignment problem: a degenerate vertex, where W_p^p is
                // not differentiable in the weights and the dual potential is one subgradient, not the central
                // difference; random weights (non-degenerate) are checked.
                if not (uniform && name.StartsWith "exact-") then
                    check name tol (fun w ->
                        let a, b = batches w
                        distance.Paired(a, b).sum().add (combination seed (distance.Pairwise(a, b)), sc 1.0))
            check "OT_ε (Sinkhorn.solve EntropicCost)" 1e-6 (fun w ->
                let a, b = batches w
                use r = DistEmbed.Core.Sinkhorn.solve (a, b, convergedSinkhorn)
                r.EntropicCost.mul(torch.tensor([| 1.0; -0.7 |], dtype = torch.float64)).sum ()))

/// The 1-D case of the review: x = {0, 1}, y = {10, 11}, p = 2, uniform weights. Moving mass δ to x₀ raises W₂² by
/// 21δ (the slice (½, ½ + δ] now pairs 0 with 11), moving it to x₁ lowers it by 19δ (1 with 10 on (½ − δ, ½]). The
/// weight gradient is not 0 (what the sorted fast path gave) but the central derivative 20 along (1, −1), on every
/// marginal route: paired, pairwise (cost and distance), sliced, max-sliced.
let kinkOfUniformWeights =
    testCase "weights x = {0, 1}, y = {10, 11}: W₂² changes by +21δ / −19δ, gradient along (1, −1) is 20 (marginal, sliced, max-sliced)" <| fun () ->
        scoped (fun () ->
            let direction = torch.ones([| 1L; 1L |], dtype = torch.float64)
            let routes: (string * (DistributionBatch -> DistributionBatch -> Tensor)) list =
                [ "costPaired", (fun a b -> MarginalWasserstein.costPaired (a, b, 2.0))
                  "costPairwise", (fun a b -> MarginalWasserstein.costPairwise (a, b, 2.0, 0))
                  "pairwise²", (fun a b -> MarginalWasserstein.pairwise(a, b, 2.0, 0).pow (sc 2.0))
                  "sliced costPaired", (fun a b -> SlicedWasserstein.costPaired (a, b, 2.0, direction))
                  "sliced costPairwise", (fun a b -> SlicedWasserstein.costPairwise (a, b, 2.0, direction, 0))
                  "max-sliced pairwise²", (fun a b -> SlicedWasserstein.maxSlicedPairwise(a, b, 2.0, direction, 0).pow (sc 2.0))
                  "max-sliced paired²", (fun a b -> SlicedWasserstein.maxSlicedPaired(a, b, 2.0, direction).pow (sc 2.0)) ]
            let x = torch.tensor([| 0.0; 1.0 |], dtype = torch.float64).reshape (1L, 2L, 1L)
            let y = torch.tensor([| 10.0; 11.0 |], dtype = torch.float64).reshape (1L, 2L, 1L)
            let b = DistributionBatch.FromTensors(y, torch.tensor([| 0.5; 0.5 |], dtype = torch.float64).reshape (1L, 2L))
            for name, f in routes do
                let at (delta: float) =
                    use _ = torch.no_grad ()
                    let a = DistributionBatch.FromTensors(x, torch.tensor([| 0.5 + delta; 0.5 - delta |], dtype = torch.float64).reshape (1L, 2L))
                    (values (f a b)).[0]
                let delta = 1e-3
                expectWithin 1e-9 1.0 $"{name}: W₂²(0) = 100" 100.0 (at 0.0)
                expectWithin 1e-9 1.0 $"{name}: δ to x₀ → +21δ" (21.0 * delta) (at delta - at 0.0)
                expectWithin 1e-9 1.0 $"{name}: δ to x₁ → −19δ" (-19.0 * delta) (at -delta - at 0.0)
                let w = torch.tensor([| 0.5; 0.5 |], dtype = torch.float64).reshape(1L, 2L).requires_grad_ true
                (f (DistributionBatch.FromTensors(x, w)) b).sum().backward ()
                let g = values w.grad
                expectWithin 1e-9 1.0 $"{name}: ∂W₂²/∂w · (1, −1)" 20.0 (g.[0] - g.[1]))

/// A one-distribution float64 batch whose points are a fresh leaf (for gradients).
let leafBatch (e: Empirical) =
    let b = DistributionBatch.FromEmpirical([| e |], torch.CPU)
    let p = b.Points.detach().clone().requires_grad_ true
    p, DistributionBatch.FromTensors(p, b.Weights)

/// The gradient of a paired tensor function of one pair with respect to the points of a and of b.
let tensorGradients (f: DistributionBatch -> DistributionBatch -> Tensor) (a: Empirical) (b: Empirical) =
    scoped (fun () ->
        let pa, ba = leafBatch a
        let pb, bb = leafBatch b
        (f ba bb).sum().backward ()
        values pa.grad, values pb.grad)

let flatten (m: float[,]) = Seq.cast<float> m |> Array.ofSeq

/// Ties among the points of the fast paths (uniform weights, one length) go in index order, as the docs promise and
/// the float64 reference does: with many tied values the gradient of each tied point is the one the reference gives
/// to that index, which an unstable sort would permute (paired, pairwise, sliced, max-sliced).
let tiesInIndexOrder =
    property "fast paths: ties go in index order (point gradients at many ties = reference, paired and pairwise)" 10 (Gen.choose (0, 100000)) (fun seed ->
        let random = Random(seed)
        let t, d = 96, 2
        let tied () = Array2D.init t d (fun _ _ -> float (random.Next 3))
        let spread () = Array2D.init t d (fun _ _ -> 10.0 * random.NextDouble())
        let a = Empirical.Create(tied (), Array.create t 1.0)
        let b = Empirical.Create(spread (), Array.create t 1.0)
        let ra, _ = Reference.MarginalWasserstein.costPGradient (2.0, a, b)
        let expected = flatten ra
        let check (name: string) (f: DistributionBatch -> DistributionBatch -> Tensor) =
            let ga, _ = tensorGradients f a b
            Array.iteri2 (fun i e g -> expectWithin 1e-9 (10.0 * float t) $"{name}: ∂/∂a[{i}]" e g) expected ga
        check "paired" (fun x y -> MarginalWasserstein.costPaired (x, y, 2.0))
        check "pairwise" (fun x y -> MarginalWasserstein.costPairwise (x, y, 2.0, 0))
        let axes = torch.eye(2L, dtype = torch.float64)
        check "sliced (axes)" (fun x y -> SlicedWasserstein.costPaired(x, y, 2.0, axes).mul (sc 2.0))
        check "sliced pairwise (axes)" (fun x y -> SlicedWasserstein.costPairwise(x, y, 2.0, axes, 0).mul (sc 2.0)))

/// The fast paths sort with libtorch's unstable sort when autograd will not record the sort and with the stable sort
/// when it will: the sorted values, and so every distance, must be the same bit for bit either way (many ties, float32
/// and float64, paired and pairwise, marginal and sliced, chunked batches included).
let sortIndependentOfAutograd =
    property "fast paths: values without autograd = values with autograd, bit for bit (many ties, float32 and float64)" 10 (Gen.choose (0, 100000)) (fun seed ->
        let random = Random(seed)
        for dtype in [ torch.float32; torch.float64 ] do
            use scope = torch.NewDisposeScope()
            // 40 rows of 64 × 64 points exceed the 2^17-element sort chunk, so the chunked sort is exercised too.
            let b, t, d = 40, 64, 64
            let make () =
                let v = Array.init (b * t * d) (fun _ -> if random.Next 2 = 0 then float (random.Next 4) else random.NextDouble())
                torch.tensor(v, dtype = torch.float64).reshape(int64 b, int64 t, int64 d).``to`` dtype
            let pa, pb = make (), make ()
            let w = torch.full([| int64 b; int64 t |], sc (1.0 / float t), dtype = dtype)
            let axes = torch.eye(int64 d, dtype = dtype).narrow(0L, 0L, 8L)
            let cases: (string * (DistributionBatch -> DistributionBatch -> Tensor)) list =
                [ "marginal paired", (fun x y -> MarginalWasserstein.costPaired (x, y, 2.0))
                  "marginal pairwise", (fun x y -> MarginalWasserstein.costPairwise (x, y, 2.0, 0))
                  "sliced paired", (fun x y -> SlicedWasserstein.costPaired (x, y, 2.0, axes))
                  "sliced pairwise", (fun x y -> SlicedWasserstein.costPairwise (x, y, 2.0, axes, 0)) ]
            for name, f in cases do
                let plain =
                    use _ = torch.no_grad ()
                    f (DistributionBatch.FromTensors(pa, w)) (DistributionBatch.FromTensors(pb, w))
                let ga = pa.detach().clone().requires_grad_ true
                let recorded = f (DistributionBatch.FromTensors(ga, w)) (DistributionBatch.FromTensors(pb, w))
                let same = plain.eq(recorded.detach ()).all().ToBoolean ()
                Expect.isTrue same $"{name} ({dtype}): the no-autograd values differ from the recorded ones")

/// Autograd of the marginal cost equals the reference's analytic gradient, ties and padding included.
let marginalGradientMatchesReference =
    property "marginal cost: autograd = Reference.MarginalWasserstein.costPGradient (ties, duplicates, zero weights included)" 40 pair (fun (a, b) ->
        let s = coordinateScale [ a; b ]
        for p in [ 1.0; 1.5; 2.0; 3.0 ] do
            let ga, gb = tensorGradients (fun x y -> MarginalWasserstein.costPaired (x, y, p)) a b
            let ra, rb = Reference.MarginalWasserstein.costPGradient (p, a, b)
            let scale = p * (2.0 * s) ** (p - 1.0)
            Array.iteri2 (fun i e g -> expectWithin 1e-9 scale $"∂/∂a[{i}] p={p}" e g) (flatten ra) ga
            Array.iteri2 (fun i e g -> expectWithin 1e-9 scale $"∂/∂b[{i}] p={p}" e g) (flatten rb) gb)

/// Autograd of the Bures distance between the fits equals the reference's analytic gradient.
let buresGradientMatchesReference =
    let full =
        gen {
            let! d = Gen.choose (1, 3)
            let! s = scale
            let! a = conditioned d s
            let! b = conditioned d s
            return a, b
        }
    testList
        "bures gradients"
        [ property "full covariance: autograd = Reference.Bures.buresOfFitsGradient (well-conditioned fits)" 30 full (fun (a, b) ->
              let s = coordinateScale [ a; b ]
              let ga, gb = tensorGradients (fun x y -> Bures.squaredPaired (x, y)) a b
              let ra, rb = Reference.Bures.buresOfFitsGradient (a, b, false)
              Array.iteri2 (fun i e g -> expectWithin 1e-8 (8.0 * s) $"∂/∂a[{i}]" e g) (flatten ra) ga
              Array.iteri2 (fun i e g -> expectWithin 1e-8 (8.0 * s) $"∂/∂b[{i}]" e g) (flatten rb) gb)
          property "diagonal: autograd = Reference.Bures.buresOfFitsGradient (ties and zero variances included)" 40 pair (fun (a, b) ->
              let s = coordinateScale [ a; b ]
              let ga, gb = tensorGradients (fun x y -> Bures.diagonalSquaredPaired (x, y)) a b
              let ra, rb = Reference.Bures.buresOfFitsGradient (a, b, true)
              Array.iteri2 (fun i e g -> expectWithin 1e-9 (8.0 * s) $"∂/∂a[{i}]" e g) (flatten ra) ga
              Array.iteri2 (fun i e g -> expectWithin 1e-9 (8.0 * s) $"∂/∂b[{i}]" e g) (flatten rb) gb) ]

/// Autograd of each tensor distance equals central finite differences of its float64 reference (generic points).
let autogradMatchesReferenceDifferences =
    property "autograd = finite differences of the float64 reference (every distribution distance)" 5 (Gen.choose (0, 100000)) (fun seed ->
        let t, d = 5, 2
        let make (offset: int) (uniform: bool) =
            let x = continuous (seed + offset) (t * d)
            let w = if uniform then Array.create t 1.0 else positiveWeights (seed + offset) t
            Empirical.Create(Array2D.init t d (fun i k -> x.[i * d + k]), w)
        let theta = Reference.SlicedWasserstein.randomDirections (4, d, seed)
        let directions = torch.tensor(theta, dtype = torch.float64)
        let sigmas = [| 0.7; 2.0 |]
        let cases: (string * bool * (Empirical -> Empirical -> float) * (DistributionBatch -> DistributionBatch -> Tensor)) list =
            [ "marginal p=2", false, (fun x y -> Reference.MarginalWasserstein.costP (2.0, x, y)), (fun x y -> MarginalWasserstein.costPaired (x, y, 2.0))
              "marginal p=3", false, (fun x y -> Reference.MarginalWasserstein.wasserstein (3.0, x, y)), (fun x y -> MarginalWasserstein.paired (x, y, 3.0))
              "sliced p=2", false, (fun x y -> Reference.SlicedWasserstein.wasserstein (2.0, x, y, theta)), (fun x y -> SlicedWasserstein.paired (x, y, 2.0, directions))
              "max-sliced p=2", false, (fun x y -> Reference.SlicedWasserstein.maxSliced (2.0, x, y, theta)), (fun x y -> SlicedWasserstein.maxSlicedPaired (x, y, 2.0, directions))
              "bures", false, (fun x y -> sqrt (Reference.Bures.buresOfFitsSquared (x, y, false))), (fun x y -> Bures.paired (x, y))
              "bures-diag", false, (fun x y -> Reference.Bures.buresOfFitsSquared (x, y, true)), (fun x y -> Bures.diagonalSquaredPaired (x, y))
              "mmd biased", false, (fun x y -> Reference.KernelDistances.mmdSquared (x, y, sigmas, true)), (fun x y -> KernelDistances.mmdSquaredPaired (x, y, sigmas, true))
              "mmd unbiased", true, (fun x y -> Reference.KernelDistances.mmdSquared (x, y, sigmas, false)), (fun x y -> KernelDistances.mmdSquaredPaired (x, y, sigmas, false))
              "energy", false, (fun x y -> Reference.KernelDistances.energyDistance (x, y)), (fun x y -> KernelDistances.energyPaired (x, y)) ]
        for name, uniform, reference, tensor in cases do
            let a = make 0 uniform
            let b = make 1 uniform
            let ga, _ = tensorGradients tensor a b
            let h = 1e-6
            let fd =
                Array.init (t * d) (fun idx ->
                    let moved delta = Empirical.Create(Array2D.init t d (fun i k -> a.Points.[i, k] + (if i * d + k = idx then delta else 0.0)), a.Weights)
                    (reference (moved h) b - reference (moved -h) b) / (2.0 * h))
            expectGradient 1e-6 name fd ga)

/// Gradients are finite (no NaN, no ∞) at ties, duplicated points, one-point distributions and a = b.
let finiteEverywhere =
    property "gradients are finite at ties, duplicates and a = b for every distance" 8 batchPair (fun (d, _, a, b) ->
        for e in catalog d 0 do
            scoped (fun () ->
                use ba = make e.Maker torch.float64 a
                use bb = make e.Maker torch.float64 b
                let leaf (batch: IEmbeddingBatch) =
                    match batch with
                    | :? DistributionBatch as x ->
                        let p = x.Points.detach().clone().requires_grad_ true
                        p, DistributionBatch.FromTensors(p, x.Weights) :> IEmbeddingBatch
                    | :? VectorBatch as x ->
                        let p = x.Values.detach().clone().requires_grad_ true
                        p, VectorBatch.FromTensor p :> IEmbeddingBatch
                    | :? QuantileBatch as x ->
                        let p = x.Values.detach().clone().requires_grad_ true
                        p, QuantileBatch.FromTensor(p, x.Levels) :> IEmbeddingBatch
                    | _ -> failwith "unknown batch"
                let pa, la = leaf ba
                let pb, lb = leaf bb
                let same = la.Select(torch.tensor (Array.init a.Length int64))
                let loss = e.Distance.Pairwise(la, la).sum().add(e.Distance.Paired(la, same).sum(), sc 1.0).add (e.Distance.Pairwise(la, lb).sum (), sc 1.0)
                loss.backward ()
                for (name, p: Tensor) in [ "a", pa; "b", pb ] do
                    let g = values p.grad
                    match Array.tryFindIndex (fun v -> Double.IsNaN v || Double.IsInfinity v) g with
                    | Some i -> failtestf "%s: gradient w.r.t. %s[%d] is %g" e.Distance.Name name i g.[i]
                    | None -> ()))

/// At a = b every metric computed without a projection has gradient 0 (its minimum) with respect to the points.
/// Sliced distances (a matrix product whose rounding may depend on memory alignment) and full-covariance Bures (a
/// rotation exact only to rounding) give a distance of rounding size rather than exactly 0 there, and the square root
/// turns that into a bounded but arbitrary value (finite, checked above).
let zeroAtMinimum =
    let exact (name: string) = not (name.StartsWith "sliced" || name.StartsWith "max-sliced" || name = "bures")
    property "metric distances have gradient 0 at a = b" 8 batchPair (fun (d, _, a, _) ->
        for e in catalog d 0 do
            if e.Distance.IsMetric && exact e.Distance.Name then
                scoped (fun () ->
                    use ba = make e.Maker torch.float64 a
                    let p, x, y =
                        match ba with
                        | :? DistributionBatch as x ->
                            let p = x.Points.detach().clone().requires_grad_ true
                            p, DistributionBatch.FromTensors(p, x.Weights) :> IEmbeddingBatch, DistributionBatch.FromTensors(x.Points, x.Weights) :> IEmbeddingBatch
                        | :? VectorBatch as x ->
                            let p = x.Values.detach().clone().requires_grad_ true
                            p, VectorBatch.FromTensor p :> IEmbeddingBatch, VectorBatch.FromTensor x.Values :> IEmbeddingBatch
                        | :? QuantileBatch as x ->
                            let p = x.Values.detach().clone().requires_grad_ true
                            p, QuantileBatch.FromTensor(p, x.Levels) :> IEmbeddingBatch, QuantileBatch.FromTensor(x.Values, x.Levels) :> IEmbeddingBatch
                        | _ -> failwith "unknown batch"
                    e.Distance.Paired(x, y).sum().backward ()
                    for v in values p.grad do
                        if v <> 0.0 then failtestf "%s: gradient %g at a = b, expected 0" e.Distance.Name v))

[<Tests>]
let tests =
    init ()
    testList
        "tensor.gradients"
        [ marginalGradientMatchesReference
          buresGradientMatchesReference
          autogradMatchesReferenceDifferences
          autogradMatchesFiniteDifferences
          weightGradients
          kinkOfUniformWeights
          tiesInIndexOrder
          sortIndependentOfAutograd
          finiteEverywhere
          zeroAtMinimum ]
