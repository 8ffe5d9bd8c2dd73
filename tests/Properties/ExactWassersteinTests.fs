/// The exact Wasserstein distances of the catalog (exact-w1, exact-w2, exact-w2-cost and the typed factories for other
/// p): POT's emd2 golden values, agreement with the float64 reference (Reference.ExactTransport) on padded batches of
/// unequal lengths and weights, the 1-D case against the marginal distance, independence of the thread count, and the
/// envelope gradient. The catalog-wide properties (axioms, rewritten copies, float32, blocks, finite differences of
/// the points and of random weights, finiteness, zero gradient at a = b) run on them through TensorDistanceTests.catalog.
module DistEmbed.Properties.ExactWassersteinTests

open System
open System.IO
open System.Text.Json
open Expecto
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.TensorSupport
open DistEmbed.Properties.TensorGradientTests

type private Golden =
    { Index: int
      P: float
      X: Empirical
      Y: Empirical
      Value: float }

let private golden () =
    let path = Path.Combine(AppContext.BaseDirectory, "fixtures", "golden_emd2.json")
    use doc = JsonDocument.Parse(File.ReadAllText path)
    [| for (k, e) in doc.RootElement.GetProperty("instances").EnumerateArray() |> Seq.indexed ->
           { Index = k
             P = e.GetProperty("p").GetDouble()
             X = Empirical.Create(ReferenceSupport.jsonMatrix (e.GetProperty "x"), ReferenceSupport.jsonVector (e.GetProperty "wa"))
             Y = Empirical.Create(ReferenceSupport.jsonMatrix (e.GetProperty "y"), ReferenceSupport.jsonVector (e.GetProperty "wb"))
             Value = e.GetProperty("emd2").GetDouble() } |]

let private largestCost (i: Golden) =
    Seq.cast<float> (ExactTransport.groundCost (i.P, i.X, i.Y)) |> Seq.fold (fun m v -> max m (abs v)) 1e-300

/// Paired on each instance, and pairwise over the instances of one (p, d) padded into one batch (unequal lengths).
let goldenValues =
    testCase "exact-wp-cost = ot.emd2 to 1e-9 relative (246 POT instances; paired, and pairwise over padded batches)" <| fun () ->
        let instances = golden ()
        Expect.isGreaterThanOrEqual instances.Length 200 "fixture size"
        let failures = ResizeArray()
        for i in instances do
            scoped (fun () ->
                let distance = Distances.ExactWassersteinCost(i.P)
                use a = batchOf torch.float64 [| i.X |]
                use b = batchOf torch.float64 [| i.Y |]
                let got = (values (distance.Paired(a, b))).[0]
                let err = abs (got - i.Value) / max (abs i.Value) (1e-12 * largestCost i)
                if not (err <= 1e-9) then failures.Add $"instance {i.Index} paired: POT {i.Value:R}, ours {got:R} ({err:E2})")
        for (p, d), group in instances |> Array.groupBy (fun i -> i.P, i.X.Dimension) do
            let group = Array.truncate 6 group
            scoped (fun () ->
                use a = batchOf torch.float64 (group |> Array.map (fun i -> i.X))
                use b = batchOf torch.float64 (group |> Array.map (fun i -> i.Y))
                let m = matrix (Distances.ExactWassersteinCost(p).Pairwise(a, b))
                for k, i in Array.indexed group do
                    let err = abs (m.[k, k] - i.Value) / max (abs i.Value) (1e-12 * largestCost i)
                    if not (err <= 1e-9) then failures.Add $"instance {i.Index} pairwise (p = {p}, d = {d}): POT {i.Value:R}, ours {m.[k, k]:R} ({err:E2})")
        if failures.Count > 0 then
            failtestf "%d failures:\n%s" failures.Count (String.Join("\n", Seq.truncate 10 failures))

/// Every pair of two padded batches (lengths 1–40, weights, ties, scales 1e-3 … 1e3) against the reference solver.
let agreesWithReference =
    property "exact W_p and W_p^p (p = 1, 2, 3) = Reference.ExactTransport for every pair (float64, padded batches)" 20 batchPair (fun (d, s, a, b) ->
        scoped (fun () ->
            use ba = batchOf torch.float64 a
            use bb = batchOf torch.float64 b
            for p in [ 1.0; 2.0; 3.0 ] do
                let costs = matrix (Distances.ExactWassersteinCost(p).Pairwise(ba, bb))
                let distances = matrix (Distances.ExactWasserstein(p).Pairwise(ba, bb))
                let pairedCosts =
                    if a.Length = b.Length then Some (values (Distances.ExactWassersteinCost(p).Paired(ba, bb))) else None
                let unit = (coordinateScale (Seq.append a b) * sqrt (float d) * 4.0)
                for i in 0 .. a.Length - 1 do
                    for j in 0 .. b.Length - 1 do
                        let expected = ExactTransport.cost (p, a.[i], b.[j])
                        expectWithin 1e-9 (Math.Pow(unit, p)) $"W_{p}^{p}[{i},{j}]" expected costs.[i, j]
                        expectWithin 1e-9 unit $"W_{p}[{i},{j}]" (Math.Pow(max expected 0.0, 1.0 / p)) distances.[i, j]
                    match pairedCosts with
                    | Some paired -> expectWithin 1e-9 (Math.Pow(unit, p)) $"paired W_{p}^{p}[{i}]" (ExactTransport.cost (p, a.[i], b.[i])) paired.[i]
                    | None -> ()))

/// In one dimension the exact distance is the marginal one (the monotone coupling is optimal for p ≥ 1).
let oneDimension =
    let gen =
        gen {
            let! s = scale
            let! a = distributions 3 1 s
            let! b = distributions 2 1 s
            return s, a, b
        }
    property "in 1-D exact-w1 = marginal-w1, exact-w2 = marginal-w2 and exact-w2-cost = marginal-w2-cost" 20 gen (fun (s, a, b) ->
        scoped (fun () ->
            use ba = batchOf torch.float64 a
            use bb = batchOf torch.float64 b
            let unit = coordinateScale (Seq.append a b) * 4.0
            for exact, marginal, power in
                [ "exact-w1", "marginal-w1", 1.0; "exact-w2", "marginal-w2", 1.0; "exact-w2-cost", "marginal-w2-cost", 2.0 ] do
                let e = matrix (Distances.Create(exact, null).Pairwise(ba, bb))
                let m = matrix (Distances.Create(marginal, null).Pairwise(ba, bb))
                expectMatrix 1e-9 (Math.Pow(unit, power)) $"{exact} vs {marginal}" (fun i j -> m.[i, j]) e))

/// The pairs are spread over torch.get_num_threads() threads; each pair's arithmetic does not depend on it.
let threadIndependence =
    testCase "values are bit for bit the same with 1 and 2 threads (pairwise 9 × 7, T ≤ 12, d = 3)" <| fun () ->
        scoped (fun () ->
            let before = torch.get_num_threads ()
            let x = torch.tensor(continuous 5 (9 * 12 * 3), dtype = torch.float64).reshape (9L, 12L, 3L)
            let y = torch.tensor(continuous 6 (7 * 10 * 3), dtype = torch.float64).reshape (7L, 10L, 3L)
            let a = DistributionBatch.FromTensors(x, torch.tensor(positiveWeights 5 (9 * 12), dtype = torch.float64).reshape (9L, 12L))
            let b = DistributionBatch.FromTensors(y, null)
            let distance = Distances.ExactWassersteinCost(2.0)
            try
                torch.set_num_threads 1
                let one = values (distance.Pairwise(a, b))
                torch.set_num_threads 2
                let two = values (distance.Pairwise(a, b))
                Expect.equal (Array.map BitConverter.DoubleToInt64Bits two) (Array.map BitConverter.DoubleToInt64Bits one) "same bits"
            finally
                torch.set_num_threads before)

/// The envelope gradient with respect to the points is Σ_j P*_ij ∇‖x_i − y_j‖^p: for p = 2 and an n × n uniform
/// problem the optimal plan is a permutation σ/n, so ∂W₂²/∂x_i = 2(x_i − y_σ(i))/n, and Σ_i of it is 2(x̄ − ȳ).
let pointGradientIsThePlan =
    property "∂W₂²/∂x = 2 Σ_j P*_ij (x_i − y_j): for uniform n × n the rows sum to 2(mean x − mean y) and each row is 2(x_i − y_σ(i))/n" 10 (Gen.choose (0, 100000)) (fun seed ->
        scoped (fun () ->
            let n, d = 6, 3
            let x = torch.tensor(continuous seed (n * d), dtype = torch.float64).reshape(1L, int64 n, int64 d).requires_grad_ true
            let yv = continuous (seed + 1) (n * d)
            let y = torch.tensor(yv, dtype = torch.float64).reshape (1L, int64 n, int64 d)
            let cost = Distances.ExactWassersteinCost(2.0).Paired(DistributionBatch.FromTensors(x, null), DistributionBatch.FromTensors(y, null))
            cost.sum().backward ()
            let g = values x.grad
            let xv = values x
            // Each gradient row, times n/2, is x_i − y_k for one k; the k's form a permutation.
            let used = Array.create n false
            for i in 0 .. n - 1 do
                let target = Array.init d (fun k -> xv.[i * d + k] - g.[i * d + k] * float n / 2.0)
                let k =
                    Array.init n id
                    |> Array.minBy (fun k -> Array.init d (fun c -> abs (target.[c] - yv.[k * d + c])) |> Array.max)
                for c in 0 .. d - 1 do
                    expectWithin 1e-12 10.0 $"row {i} is 2(x_i − y_σ(i))/n" yv.[k * d + c] target.[c]
                Expect.isFalse used.[k] "σ is a permutation"
                used.[k] <- true
            let value = (values cost).[0]
            let assignment = ExactTransport.cost (2.0, Empirical.Uniform(Array2D.init n d (fun i k -> xv.[i * d + k])), Empirical.Uniform(Array2D.init n d (fun i k -> yv.[i * d + k])))
            expectWithin 1e-12 (max assignment 1.0) "value" assignment value))

/// ∂W_p^p/∂a is the centred dual potential: zero on padding, and along any direction that keeps each row's total
/// (and the padding) fixed it is the directional derivative (checked against central differences at random weights,
/// where the optimal basis is non-degenerate).
let weightGradientIsCentredDual =
    property "∂W₂²/∂weights is the centred potential (Σ = 0, 0 on padding) and matches directional central differences" 8 (Gen.choose (0, 100000)) (fun seed ->
        scoped (fun () ->
            let t, d = 5, 2
            let points = torch.tensor(continuous seed (2 * t * d), dtype = torch.float64).reshape (2L, int64 t, int64 d)
            let other = DistributionBatch.FromTensors(torch.tensor(continuous (seed + 1) (2 * 4 * d), dtype = torch.float64).reshape (2L, 4L, int64 d), null)
            // Item 1 has its last point as padding.
            let w0 = positiveWeights seed (2 * t) |> Array.mapi (fun k v -> if k = 2 * t - 1 then 0.0 else v)
            let normalised = Array.init (2 * t) (fun k -> let row = k / t in w0.[k] / Array.sum w0.[row * t .. row * t + t - 1])
            let distance = Distances.ExactWassersteinCost(2.0)
            let loss (w: Tensor) = distance.Paired(DistributionBatch.FromTensors(points, w), other).sum ()
            let g = autogradAt [| 2L; int64 t |] normalised loss
            // With respect to the batch's (normalised) weights the gradient is the centred potential itself: it sums
            // to zero over each row's valid points and is exactly zero on padding.
            let leaf = torch.tensor(normalised, dtype = torch.float64).reshape(2L, int64 t).requires_grad_ true
            let batch = DistributionBatch.FromTensors(points, leaf)
            batch.Weights.retain_grad () |> ignore
            distance.Paired(batch, other).sum().backward ()
            let centred = values batch.Weights.grad
            Expect.equal centred.[2 * t - 1] 0.0 "padding gets no weight gradient"
            for row in 0 .. 1 do
                let valid = if row = 0 then t else t - 1
                let sum = Array.sum centred.[row * t .. row * t + valid - 1]
                let size = centred |> Array.map abs |> Array.max
                expectWithin 1e-12 (max size 1.0) $"row {row}: centred potential sums to 0" 0.0 sum
                Expect.isGreaterThan size 0.0 "a non-zero potential"
            let random = Random(seed)
            for _ in 1 .. 3 do
                // A direction that keeps each row's total and the padding fixed.
                let v = Array.init (2 * t) (fun k -> if k = 2 * t - 1 then 0.0 else random.NextDouble() - 0.5)
                for row in 0 .. 1 do
                    let valid = if row = 0 then t else t - 1
                    let mean = Array.average v.[row * t .. row * t + valid - 1]
                    for k in row * t .. row * t + valid - 1 do
                        v.[k] <- v.[k] - mean
                let h = 1e-6
                let at (s: float) =
                    use _ = torch.no_grad ()
                    (values (loss (torch.tensor(Array.map2 (fun w dv -> w + s * dv) normalised v, dtype = torch.float64).reshape (2L, int64 t)))).[0]
                let fd = (at h - at -h) / (2.0 * h)
                let directional = Array.fold2 (fun acc gi vi -> acc + gi * vi) 0.0 g v
                expectWithin 1e-5 (max 1.0 (abs fd)) "directional derivative" fd directional))

/// Losses can use it: a triplet-style hinge on exact-w2 trains (the gradient reaches the points and is finite).
let usableInALoss =
    testCase "a hinge loss on exact-w2 back-propagates a finite, non-zero gradient to the points (float32)" <| fun () ->
        scoped (fun () ->
            let anchor = torch.tensor(continuous 1 (4 * 8 * 3), dtype = torch.float32).reshape(4L, 8L, 3L).requires_grad_ true
            let positive = torch.tensor(continuous 2 (4 * 8 * 3), dtype = torch.float32).reshape (4L, 8L, 3L)
            let negative = torch.tensor(continuous 3 (4 * 8 * 3), dtype = torch.float32).reshape(4L, 8L, 3L).mul (sc 0.5)
            let w2 = Distances.Create("exact-w2", null)
            let a = DistributionBatch.FromTensors(anchor, null)
            let dp = w2.Paired(a, DistributionBatch.FromTensors(positive, null))
            let dn = w2.Paired(a, DistributionBatch.FromTensors(negative, null))
            Expect.equal dp.dtype torch.float32 "keeps the dtype"
            let loss = dp.sub(dn).add(sc 10.0).clamp_min(sc 0.0).mean ()
            loss.backward ()
            let g = values anchor.grad
            Expect.isTrue (g |> Array.forall Double.IsFinite) "finite"
            Expect.isTrue (g |> Array.exists (fun v -> v <> 0.0)) "non-zero")

[<Tests>]
let tests =
    init ()
    testList
        "tensor.exact"
        [ goldenValues
          agreesWithReference
          oneDimension
          threadIndependence
          pointGradientIsThePlan
          weightGradientIsCentredDual
          usableInALoss ]
