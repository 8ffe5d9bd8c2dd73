/// The losses of the metric-learning toolkit: each recomputed in float64 by explicit loops over hand-listed tuples,
/// zero when every margin holds and positive otherwise, 0 with a zero gradient when no tuple exists, and the sign of
/// the gradient w.r.t. each distance (positives pulled together, negatives pushed apart); plus every validation rule.
module DistEmbed.Properties.LossTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport
open DistEmbed.Properties.ToolkitSupport

// ---- float64 reference: loops over hand-listed tuples ----------------------------------------------------------

let private relu x = max 0.0 x
/// log(1 + z) accurate for tiny z (the series), so that far-negative soft plus terms stay positive as in torch.
let private log1p (z: float) = if z < 1e-4 then z - z * z / 2.0 + z * z * z / 3.0 else log (1.0 + z)
let private softplus x = max x 0.0 + log1p (exp (-(abs x)))
let private logSumExp (xs: float[]) =
    let m = Array.max xs
    if Double.IsNegativeInfinity m then m else m + log (Array.sumBy (fun x -> exp (x - m)) xs)

let private contrastiveTerms (d: int -> int -> float) mPos mNeg (pos: (int * int)[]) (neg: (int * int)[]) =
    Array.append [| for a, p in pos -> relu (d a p - mPos) |] [| for a, n in neg -> relu (mNeg - d a n) |]

let private tripletTerms (d: int -> int -> float) margin (penalty: TripletPenalty) (triplets: (int * int * int)[]) =
    [| for a, p, n in triplets ->
           if penalty = TripletPenalty.Hinge then relu (d a p - d a n + margin) else softplus (d a p - d a n) |]

let private ntXentTerms (d: int -> int -> float) tau (pos: (int * int)[]) (neg: (int * int)[]) =
    [| for a, p in pos ->
           let logits = Array.append [| -(d a p) / tau |] [| for a2, n in neg do if a2 = a then yield -(d a n) / tau |]
           logSumExp logits - logits.[0] |]

let private multiSimilarityTerms (d: int -> int -> float) b alpha beta lambda (pos: (int * int)[]) (neg: (int * int)[]) =
    [| for i in 0 .. b - 1 ->
           let pt = logSumExp (Array.append [| 0.0 |] [| for a, p in pos do if a = i then yield alpha * (d a p - lambda) |])
           let nt = logSumExp (Array.append [| 0.0 |] [| for a, n in neg do if a = i then yield -beta * (d a n - lambda) |])
           pt / alpha + nt / beta |]

let private marginTerms (d: int -> int -> float) (boundary: int -> float) alpha nu (pos: (int * int)[]) (neg: (int * int)[]) =
    Array.append
        [| for a, p in pos -> relu (alpha + d a p - boundary a) + nu * boundary a |]
        [| for a, n in neg -> relu (alpha - (d a n - boundary a)) + nu * boundary a |]

/// SupCon [Khosla et al. 2020, eq. 2] per anchor with a positive, logits −D/τ, denominator over all pairs of the anchor.
let private supConTerms (d: int -> int -> float) b tau (pos: (int * int)[]) (neg: (int * int)[]) =
    [| for i in 0 .. b - 1 do
           let mine = [| for a, p in pos do if a = i then yield p |]
           if mine.Length > 0 then
               let all = Array.append [| for p in mine -> -(d i p) / tau |] [| for a, n in neg do if a = i then yield -(d i n) / tau |]
               let denominator = logSumExp all
               yield -(Array.sumBy (fun p -> -(d i p) / tau - denominator) mine) / float mine.Length |]

/// Circle loss [Sun et al. 2020, eq. 4, 8] per anchor with a positive and a negative, s = 1 − D.
let private circleTerms (d: int -> int -> float) b m gamma (pos: (int * int)[]) (neg: (int * int)[]) =
    [| for i in 0 .. b - 1 do
           let sp = [| for a, p in pos do if a = i then yield 1.0 - d a p |]
           let sn = [| for a, n in neg do if a = i then yield 1.0 - d a n |]
           if sp.Length > 0 && sn.Length > 0 then
               let lp = sp |> Array.map (fun s -> -gamma * relu (1.0 + m - s) * (s - (1.0 - m)))
               let ln = sn |> Array.map (fun s -> gamma * relu (s + m) * (s - m))
               yield softplus (logSumExp lp + logSumExp ln) |]

let private reduceReference (reduction: Reduction) (terms: float[]) =
    match reduction with
    | Reduction.Sum -> Array.sum terms
    | Reduction.Mean -> if terms.Length = 0 then 0.0 else Array.average terms
    | _ -> Array.sum terms / float (max 1 (terms |> Array.filter (fun t -> t > 0.0) |> Array.length))

// ---- a case: batch, distance, tuples (all or a random hand-listed multiset) -------------------------------------

type private Case =
    { Batch: LabelledBatch
      Asymmetric: bool
      Pos: (int * int)[]
      Neg: (int * int)[]
      Triplets: (int * int * int)[]
      GivenTuples: bool }

let private sample (xs: 'T[]) : Gen<'T[]> =
    if xs.Length = 0 then Gen.constant [||]
    else gen {
        let! k = Gen.choose (0, 2 * xs.Length)
        return! Gen.arrayOfLength k (Gen.elements xs)
    }

let private case : Gen<Case> =
    gen {
        let! batch = labelledBatch
        let! asymmetric = Gen.elements [ false; true ]
        let pos, neg = referencePairs batch.Labels
        let triplets = referenceTriplets batch.Labels
        let! given = Gen.elements [ false; true ]
        if given then
            let! p = sample pos
            let! n = sample neg
            let! t = sample triplets
            return { Batch = batch; Asymmetric = asymmetric; Pos = p; Neg = n; Triplets = t; GivenTuples = true }
        else
            return { Batch = batch; Asymmetric = asymmetric; Pos = pos; Neg = neg; Triplets = triplets; GivenTuples = false }
    }

let private distanceOf (c: Case) : IDistance = if c.Asymmetric then ExpBregman() else SquaredEuclidean()
let private referenceDistance (c: Case) =
    let f = if c.Asymmetric then expBregman else squaredEuclidean
    fun i j -> f c.Batch.Values.[i] c.Batch.Values.[j]
let private pairsOf (c: Case) = if c.GivenTuples then pairIndices c.Pos c.Neg else null
let private tripletsOf (c: Case) = if c.GivenTuples then tripletIndices c.Triplets else null

let private reductions = [| Reduction.None; Reduction.Mean; Reduction.MeanNonZero; Reduction.Sum |]

/// Compares a loss with its reference for every reduction: per-term values with None, scalars otherwise.
let private agree (what: string) (compute: Reduction -> torch.Tensor) (terms: float[]) =
    for reduction in reductions do
        use _ = torch.NewDisposeScope()
        let actual = compute reduction
        if reduction = Reduction.None then
            let values = toArray actual
            if values.Length <> terms.Length then failtestf "%s: %d terms, expected %d" what values.Length terms.Length
            Array.iteri2 (fun i e a -> expectClose 1e-9 $"{what} term {i}" e a) terms values
        else
            expectClose 1e-9 $"{what} ({reduction})" (reduceReference reduction terms) (toScalar actual)

let private referenceSuite =
    testList
        "agree with float64 loops over the listed tuples"
        [ property "contrastive" 60 (Gen.zip case (Gen.elements [ 0.0; 0.5 ])) (fun (c, mPos) ->
              let o r = ContrastiveLossOptions(PositiveMargin = mPos, NegativeMargin = 2.0, Reduction = r)
              agree "contrastive" (fun r -> ContrastiveLoss.compute (batchOf c.Batch.Values, labelsOf c.Batch.Labels, distanceOf c, pairsOf c, o r))
                  (contrastiveTerms (referenceDistance c) mPos 2.0 c.Pos c.Neg))
          property "triplet margin (hinge and soft plus)" 60 (Gen.zip case (Gen.elements [ TripletPenalty.Hinge; TripletPenalty.SoftPlus ])) (fun (c, penalty) ->
              let o r = TripletMarginLossOptions(Margin = 0.7, Penalty = penalty, Reduction = r)
              agree "triplet" (fun r -> TripletMarginLoss.compute (batchOf c.Batch.Values, labelsOf c.Batch.Labels, distanceOf c, tripletsOf c, o r))
                  (tripletTerms (referenceDistance c) 0.7 penalty c.Triplets))
          property "NT-Xent" 60 (Gen.zip case (Gen.elements [ 0.05; 0.5; 2.0 ])) (fun (c, tau) ->
              let o r = NTXentLossOptions(Temperature = tau, Reduction = r)
              agree "NT-Xent" (fun r -> NTXentLoss.compute (batchOf c.Batch.Values, labelsOf c.Batch.Labels, distanceOf c, pairsOf c, o r))
                  (ntXentTerms (referenceDistance c) tau c.Pos c.Neg))
          property "multi-similarity" 60 case (fun c ->
              let o r = MultiSimilarityLossOptions(Alpha = 2.0, Beta = 10.0, Threshold = 1.0, Reduction = r)
              agree "multi-similarity" (fun r -> MultiSimilarityLoss.compute (batchOf c.Batch.Values, labelsOf c.Batch.Labels, distanceOf c, pairsOf c, o r))
                  (multiSimilarityTerms (referenceDistance c) c.Batch.Values.Length 2.0 10.0 1.0 c.Pos c.Neg))
          property "margin loss (global and per-class β)" 60 (Gen.zip case (Gen.elements [ false; true ])) (fun (c, perClass) ->
              let classBeta = [| 1.2; 0.4; 2.0; 0.9 |]
              let beta = if perClass then torch.tensor(classBeta) else torch.tensor(1.2)
              let boundary i = if perClass then classBeta.[int c.Batch.Labels.[i]] else 1.2
              let o r = MarginLossOptions(Margin = 0.3, Nu = 0.1, Reduction = r)
              agree "margin" (fun r -> MarginLoss.compute (batchOf c.Batch.Values, labelsOf c.Batch.Labels, distanceOf c, beta, pairsOf c, o r))
                  (marginTerms (referenceDistance c) boundary 0.3 0.1 c.Pos c.Neg))
          property "supervised contrastive (SupCon)" 60 (Gen.zip case (Gen.elements [ 0.05; 0.5; 2.0 ])) (fun (c, tau) ->
              let o r = SupConLossOptions(Temperature = tau, Reduction = r)
              agree "SupCon" (fun r -> SupConLoss.compute (batchOf c.Batch.Values, labelsOf c.Batch.Labels, distanceOf c, pairsOf c, o r))
                  (supConTerms (referenceDistance c) c.Batch.Values.Length tau c.Pos c.Neg))
          property "circle" 60 (Gen.zip case (Gen.elements [ (0.25, 2.0); (0.4, 32.0); (0.0, 0.5) ])) (fun (c, (m, gamma)) ->
              let o r = CircleLossOptions(Margin = m, Gamma = gamma, Reduction = r)
              agree "circle" (fun r -> CircleLoss.compute (batchOf c.Batch.Values, labelsOf c.Batch.Labels, distanceOf c, pairsOf c, o r))
                  (circleTerms (referenceDistance c) c.Batch.Values.Length m gamma c.Pos c.Neg)) ]

// ---- zero when every margin holds, positive otherwise -----------------------------------------------------------

/// Points of class c near (10c, 0, …) (noise ≤ 0.01), or all near the origin when collapsed.
let private clustered (collapsed: bool) : Gen<LabelledBatch> =
    gen {
        let! b = Gen.choose (3, 10)
        let! d = Gen.choose (1, 3)
        let! rest = Gen.arrayOfLength (b - 3) (Gen.choose (0, 2) |> Gen.map int64)
        let labels = Array.append [| 0L; 0L; 1L |] rest
        let! noise = Gen.arrayOfLength b (Gen.arrayOfLength d (Gen.choose (-100, 100) |> Gen.map (fun i -> float i / 10000.0)))
        let rows = Array.init b (fun i -> Array.init d (fun k -> noise.[i].[k] + (if k = 0 && not collapsed then 10.0 * float labels.[i] else 0.0)))
        return { Values = rows; Labels = labels }
    }

let private marginLosses (batch: LabelledBatch) =
    let e () = batchOf batch.Values
    let y () = labelsOf batch.Labels
    let dist = SquaredEuclidean()
    [ "contrastive", (fun () -> ContrastiveLoss.compute (e (), y (), dist, null, ContrastiveLossOptions(PositiveMargin = 0.01, NegativeMargin = 1.0)))
      "triplet hinge", (fun () -> TripletMarginLoss.compute (e (), y (), dist, null, TripletMarginLossOptions(Margin = 1.0)))
      "margin", (fun () -> MarginLoss.compute (e (), y (), dist, torch.tensor(1.0), null, MarginLossOptions(Margin = 0.2))) ]

let private marginSuite =
    testList
        "margins"
        [ property "zero when every margin holds (separated classes)" 30 (clustered false) (fun batch ->
              for name, loss in marginLosses batch do
                  let v = toScalar (loss ())
                  if v <> 0.0 then failtestf "%s = %g on separated classes" name v)
          property "positive when a margin is violated (collapsed classes)" 30 (clustered true) (fun batch ->
              for name, loss in marginLosses batch do
                  let v = toScalar (loss ())
                  if not (v > 0.0) then failtestf "%s = %g on collapsed classes" name v)
          property "soft-plus triplet, NT-Xent and multi-similarity are positive on collapsed classes" 30 (clustered true) (fun batch ->
              let e () = batchOf batch.Values
              let y () = labelsOf batch.Labels
              let dist = SquaredEuclidean()
              for name, v in
                  [ "soft plus", TripletMarginLoss.compute (e (), y (), dist, null, TripletMarginLossOptions(Penalty = TripletPenalty.SoftPlus))
                    "NT-Xent", NTXentLoss.compute (e (), y (), dist, null, null)
                    "multi-similarity", MultiSimilarityLoss.compute (e (), y (), dist, null, null) ] do
                  if not (toScalar v > 0.0) then failtestf "%s = %g" name (toScalar v)) ]

// ---- no valid tuple: 0 with a finite zero gradient ---------------------------------------------------------------

let private emptyPairs () = pairIndices [||] [||]

/// Every loss on a batch without valid tuples (labels all distinct, or no pairs given): value 0, gradient exactly 0.
let private noTupleLosses : (string * (IEmbeddingBatch -> torch.Tensor -> Reduction -> torch.Tensor)) list =
    let dist = SquaredEuclidean() :> IDistance
    [ "contrastive", (fun e y r -> ContrastiveLoss.compute (e, y, dist, emptyPairs (), ContrastiveLossOptions(Reduction = r)))
      "triplet", (fun e y r -> TripletMarginLoss.compute (e, y, dist, null, TripletMarginLossOptions(Reduction = r)))
      "NT-Xent", (fun e y r -> NTXentLoss.compute (e, y, dist, null, NTXentLossOptions(Reduction = r)))
      "SupCon", (fun e y r -> SupConLoss.compute (e, y, dist, null, SupConLossOptions(Reduction = r)))
      "circle", (fun e y r -> CircleLoss.compute (e, y, dist, null, CircleLossOptions(Reduction = r)))
      "multi-similarity", (fun e y r -> MultiSimilarityLoss.compute (e, y, dist, emptyPairs (), MultiSimilarityLossOptions(Reduction = r)))
      "margin", (fun e y r -> MarginLoss.compute (e, y, dist, torch.tensor(1.0), emptyPairs (), MarginLossOptions(Reduction = r))) ]

let private noTupleSuite =
    testList
        "no valid tuple"
        [ for name, loss in noTupleLosses do
              for reduction in [ Reduction.Mean; Reduction.MeanNonZero; Reduction.Sum; Reduction.None ] do
                  for b in [ 1; 4 ] do
                      testCase $"{name}, {reduction}, B = {b}: 0 and a zero gradient" <| fun () ->
                          let x = torch.randn(int64 b, 3L, dtype = torch.float64).requires_grad_(true)
                          let labels = torch.arange(int64 b, dtype = torch.int64)
                          let value = loss (VectorBatch.FromTensor x) labels reduction
                          let total = if reduction = Reduction.None then value.sum() else value
                          if toArray value |> Array.exists (fun v -> v <> 0.0) then failtestf "expected no non-zero term, got %A" (toArray value)
                          Expect.equal (toScalar total) 0.0 "value"
                          total.backward()
                          let g = toArray x.grad
                          Expect.isTrue (g |> Array.forall (fun v -> v = 0.0)) $"gradient {g}"
          testCase "distribution batch without tuples: 0 and a zero gradient w.r.t. the points" <| fun () ->
              let points = torch.randn(3L, 4L, 2L, dtype = torch.float64).requires_grad_(true)
              let batch = DistributionBatch.FromTensors(points, null)
              let distance =
                  { new IDistance with
                      member _.Name = "test-distribution"
                      member _.IsMetric = true
                      member _.IsSymmetric = true
                      member _.Accepts = Representation.Distributions
                      member _.Paired(_, _) = failwith "not evaluated without tuples"
                      member _.Pairwise(_, _) = failwith "not evaluated without tuples" }
              let value = TripletMarginLoss.compute (batch, torch.tensor([| 0L; 1L; 2L |]), distance, null, null)
              Expect.equal (toScalar value) 0.0 "value"
              value.backward()
              Expect.isTrue (toArray points.grad |> Array.forall (fun v -> v = 0.0)) "gradient" ]

// ---- gradient signs: ∂L/∂D(a, p) ≥ 0 and ∂L/∂D(a, n) ≤ 0 ---------------------------------------------------------

let private signCase : Gen<int64[] * float[]> =
    gen {
        let! batch = labelledBatch
        let b = batch.Labels.Length
        let! table = Gen.arrayOfLength (b * b) (Gen.choose (1, 3000) |> Gen.map (fun i -> float i / 1000.0))
        return batch.Labels, table
    }

let private signLosses : (string * (IEmbeddingBatch -> torch.Tensor -> IDistance -> torch.Tensor)) list =
    [ "contrastive", (fun e y d -> ContrastiveLoss.compute (e, y, d, null, ContrastiveLossOptions(PositiveMargin = 0.5, NegativeMargin = 2.0)))
      "triplet hinge", (fun e y d -> TripletMarginLoss.compute (e, y, d, null, TripletMarginLossOptions(Margin = 1.0)))
      "triplet soft plus", (fun e y d -> TripletMarginLoss.compute (e, y, d, null, TripletMarginLossOptions(Penalty = TripletPenalty.SoftPlus)))
      "NT-Xent", (fun e y d -> NTXentLoss.compute (e, y, d, null, NTXentLossOptions(Temperature = 0.5)))
      "multi-similarity", (fun e y d -> MultiSimilarityLoss.compute (e, y, d, null, MultiSimilarityLossOptions(Beta = 5.0, Threshold = 1.5)))
      "margin", (fun e y d -> MarginLoss.compute (e, y, d, torch.tensor(1.5), null, MarginLossOptions(Margin = 0.5)))
      "circle", (fun e y d -> CircleLoss.compute (e, y, d, null, CircleLossOptions(Gamma = 4.0))) ]

let private signSuite =
    testList
        "gradient signs"
        [ for name, loss in signLosses do
            yield
              property $"{name}: positives pulled together, negatives pushed apart" 40 signCase (fun (labels, entries) ->
                  use _ = torch.NewDisposeScope()
                  let b = labels.Length
                  let table = torch.tensor(entries, dtype = torch.float64).reshape(int64 b, int64 b).requires_grad_(true)
                  let oneHot = VectorBatch.FromTensor(torch.eye(int64 b, dtype = torch.float64))
                  let value = loss oneHot (labelsOf labels) (TableDistance(table))
                  if value.requires_grad then
                      value.backward()
                      let g = toArray table.grad
                      for i in 0 .. b - 1 do
                          for j in 0 .. b - 1 do
                              let gij = g.[i * b + j]
                              if i = j && gij <> 0.0 then failtestf "∂L/∂D(%d,%d) = %g on the diagonal" i j gij
                              elif i <> j && labels.[i] = labels.[j] && gij < 0.0 then failtestf "∂L/∂D(a=%d, p=%d) = %g < 0" i j gij
                              elif labels.[i] <> labels.[j] && gij > 0.0 then failtestf "∂L/∂D(a=%d, n=%d) = %g > 0" i j gij)
          yield
              property "SupCon: every negative pushed apart, each anchor's positives pulled together in aggregate" 40 signCase (fun (labels, entries) ->
                  use _ = torch.NewDisposeScope()
                  let b = labels.Length
                  let table = torch.tensor(entries, dtype = torch.float64).reshape(int64 b, int64 b).requires_grad_(true)
                  let oneHot = VectorBatch.FromTensor(torch.eye(int64 b, dtype = torch.float64))
                  let value = SupConLoss.compute (oneHot, labelsOf labels, TableDistance(table), null, SupConLossOptions(Temperature = 0.5))
                  if value.requires_grad then
                      value.backward()
                      let g = toArray table.grad
                      for i in 0 .. b - 1 do
                          let mutable positives = 0.0
                          for j in 0 .. b - 1 do
                              let gij = g.[i * b + j]
                              if i = j && gij <> 0.0 then failtestf "∂L/∂D(%d,%d) = %g on the diagonal" i j gij
                              elif i <> j && labels.[i] = labels.[j] then positives <- positives + gij
                              elif labels.[i] <> labels.[j] && gij > 0.0 then failtestf "∂L/∂D(a=%d, n=%d) = %g > 0" i j gij
                          if positives < -1e-12 then failtestf "Σ_p ∂L/∂D(a=%d, p) = %g < 0" i positives)
          yield testCase "SupCon: one positive far more similar than another can have ∂L/∂D(a, p) < 0 (so the per-pair sign is not a property)" <| fun () ->
              // Anchor 0 with positives 1 (D = 0.1) and 2 (D = 3): raising D(0, 1) evens the softmax over the positives.
              let table = torch.tensor([| 0.0; 0.1; 3.0; 3.0; 0.1; 0.0; 3.0; 3.0; 3.0; 3.0; 0.0; 3.0; 3.0; 3.0; 3.0; 0.0 |], dtype = torch.float64).reshape(4L, 4L).requires_grad_(true)
              let oneHot = VectorBatch.FromTensor(torch.eye(4L, dtype = torch.float64))
              let value = SupConLoss.compute (oneHot, torch.tensor([| 0L; 0L; 0L; 1L |]), TableDistance(table), null, SupConLossOptions(Temperature = 0.5))
              value.backward()
              Expect.isLessThan (toArray table.grad).[1] 0.0 "∂L/∂D(0, 1) < 0"
          yield testCase "a gradient step on the triplet loss brings the positive closer and the negative farther" <| fun () ->
              let x = torch.tensor([| 0.0; 0.0; 1.0; 0.5; 0.3; 1.0 |], dtype = torch.float64).reshape(3L, 2L).requires_grad_(true)
              let labels = torch.tensor([| 0L; 0L; 1L |])
              let d (v: float[]) i j = squaredEuclidean v.[2 * i .. 2 * i + 1] v.[2 * j .. 2 * j + 1]
              let before = toArray x
              let value = TripletMarginLoss.compute (VectorBatch.FromTensor x, labels, SquaredEuclidean(), null, TripletMarginLossOptions(Margin = 2.0))
              value.backward()
              let after = Array.map2 (fun v g -> v - 0.01 * g) before (toArray x.grad)
              Expect.isLessThan (d after 0 1) (d before 0 1) "d(a, p) decreases"
              Expect.isGreaterThan (d after 0 2) (d before 0 2) "d(a, n) increases" ]

/// Distinct continuous points (no ties, so the Euclidean distance is differentiable at every pair used).
let private distinctBatch : Gen<LabelledBatch> =
    gen {
        let! batch = labelledBatch
        let! rows = Gen.arrayOfLength batch.Labels.Length (Gen.arrayOfLength batch.Values.[0].Length (Gen.choose (-1000000, 1000000) |> Gen.map (fun i -> float i / 500000.0)))
        return { batch with Values = rows }
    }

let private invarianceSuite =
    testList
        "invariances"
        [ property "SupCon is unchanged when one constant is added to every distance (the softmax's shift: cos vs 1 − cos)" 40 (Gen.zip signCase (Gen.choose (-300, 300))) (fun ((labels, entries), shift) ->
              use _ = torch.NewDisposeScope()
              let b = labels.Length
              let oneHot () = VectorBatch.FromTensor(torch.eye(int64 b, dtype = torch.float64))
              let value (t: float[]) = toScalar (SupConLoss.compute (oneHot (), labelsOf labels, TableDistance(torch.tensor(t, dtype = torch.float64).reshape(int64 b, int64 b)), null, null))
              expectClose 1e-9 "SupCon(D + c)" (value entries) (value (entries |> Array.map (fun v -> v + float shift / 100.0))))
          property "SupCon and circle are invariant under relabelling the classes and permuting the batch" 40 distinctBatch (fun batch ->
              use _ = torch.NewDisposeScope()
              let b = batch.Labels.Length
              let perm = Array.init b (fun i -> (i * 5 + 3) % b) |> Array.distinct
              if perm.Length = b then
                  let relabelled = batch.Labels |> Array.map (fun l -> 10L - 3L * l)
                  let compute (rows: float[][]) (labels: int64[]) =
                      let e = batchOf rows
                      let y = labelsOf labels
                      toScalar (SupConLoss.compute (e, y, SquaredEuclidean(), null, null)), toScalar (CircleLoss.compute (e, y, SquaredEuclidean(), null, CircleLossOptions(Gamma = 4.0)))
                  let s1, c1 = compute batch.Values batch.Labels
                  let s2, c2 = compute (perm |> Array.map (fun i -> batch.Values.[i])) (perm |> Array.map (fun i -> relabelled.[i]))
                  expectClose 1e-9 "SupCon" s1 s2
                  expectClose 1e-9 "circle" c1 c2)
          testCase "circle with the cosine distance equals the paper's formula on cosine similarities (s = 1 − D = cos), for any norm" <| fun () ->
              let x = torch.tensor([| 1.0; 0.2; 0.3; 1.0; -1.0; 0.5; 2.0; 0.0 |], dtype = torch.float64).reshape(4L, 2L)
              let labels = torch.tensor([| 0L; 0L; 1L; 1L |])
              let cosine = Distances.Create("cosine", null) :> IDistance
              let scaled = x.mul(torch.tensor([| 3.0; 0.5; 7.0; 0.1 |], dtype = torch.float64).unsqueeze(1L))
              let v1 = toScalar (CircleLoss.compute (VectorBatch.FromTensor x, labels, cosine, null, CircleLossOptions(Gamma = 16.0)))
              let v2 = toScalar (CircleLoss.compute (VectorBatch.FromTensor scaled, labels, cosine, null, CircleLossOptions(Gamma = 16.0)))
              let rows = toArray x |> Array.chunkBySize 2
              let cos (u: float[]) (v: float[]) = (u.[0] * v.[0] + u.[1] * v.[1]) / sqrt ((u.[0] * u.[0] + u.[1] * u.[1]) * (v.[0] * v.[0] + v.[1] * v.[1]))
              let y = [| 0; 0; 1; 1 |]
              let terms =
                  [| for i in 0 .. 3 do
                       let sp = [| for j in 0 .. 3 do if j <> i && y.[j] = y.[i] then yield cos rows.[i] rows.[j] |]
                       let sn = [| for j in 0 .. 3 do if y.[j] <> y.[i] then yield cos rows.[i] rows.[j] |]
                       let lp = sp |> Array.map (fun s -> -16.0 * max 0.0 (1.25 - s) * (s - 0.75))
                       let ln = sn |> Array.map (fun s -> 16.0 * max 0.0 (s + 0.25) * (s - 0.25))
                       yield log (1.0 + (Array.sumBy exp ln) * (Array.sumBy exp lp)) |]
              expectClose 1e-9 "circle(cos)" (Array.average terms) v1
              expectClose 1e-9 "circle(cos), rescaled rows" v1 v2 ]

// ---- the library's distances ------------------------------------------------------------------------------------

let private librarySuite =
    testList
        "with the library distances"
        [ for name in [ "euclidean"; "sqeuclidean"; "cosine" ] do
              yield property $"{name}: every loss equals its loop over the distance matrix, with finite gradients" 25 distinctBatch (fun batch ->
                  use _ = torch.NewDisposeScope()
                  let distance = Distances.Create(name, null) :> IDistance
                  let x = tensorOf batch.Values true
                  let e = VectorBatch.FromTensor x :> IEmbeddingBatch
                  let b = batch.Labels.Length
                  let m = toArray (distance.Pairwise(e, e))
                  let d i j = m.[i * b + j]
                  let y = labelsOf batch.Labels
                  let pos, neg = referencePairs batch.Labels
                  let triplets = referenceTriplets batch.Labels
                  let cases =
                      [ "contrastive", ContrastiveLoss.compute (e, y, distance, null, ContrastiveLossOptions(PositiveMargin = 0.1, NegativeMargin = 1.0)), contrastiveTerms d 0.1 1.0 pos neg
                        "triplet", TripletMarginLoss.compute (e, y, distance, null, TripletMarginLossOptions(Margin = 0.5)), tripletTerms d 0.5 TripletPenalty.Hinge triplets
                        "NT-Xent", NTXentLoss.compute (e, y, distance, null, NTXentLossOptions(Temperature = 0.5)), ntXentTerms d 0.5 pos neg
                        "multi-similarity", MultiSimilarityLoss.compute (e, y, distance, null, MultiSimilarityLossOptions(Beta = 10.0)), multiSimilarityTerms d b 2.0 10.0 0.5 pos neg
                        "margin", MarginLoss.compute (e, y, distance, torch.tensor(1.0), null, MarginLossOptions()), marginTerms d (fun _ -> 1.0) 0.2 0.0 pos neg
                        "SupCon", SupConLoss.compute (e, y, distance, null, SupConLossOptions(Temperature = 0.5)), supConTerms d b 0.5 pos neg
                        "circle", CircleLoss.compute (e, y, distance, null, CircleLossOptions(Gamma = 8.0)), circleTerms d b 0.25 8.0 pos neg ]
                  for what, value, terms in cases do
                      expectClose 1e-9 $"{name} {what}" (reduceReference Reduction.Mean terms) (toScalar value)
                      x.grad |> Option.ofObj |> Option.iter (fun g -> g.zero_() |> ignore)
                      value.backward()
                      if not (isNull x.grad) && toArray x.grad |> Array.exists (fun v -> Double.IsNaN v || Double.IsInfinity v) then
                          failtestf "%s %s: non-finite gradient" name what)
          yield testCase "marginal-w2 on distributions: triplet loss and batch-hard triplets, finite gradients" <| fun () ->
              let points = torch.randn(6L, 5L, 2L, dtype = torch.float64).requires_grad_(true)
              let batch = DistributionBatch.FromTensors(points, null) :> IEmbeddingBatch
              let labels = torch.tensor([| 0L; 0L; 0L; 1L; 1L; 1L |])
              let distance = Distances.Create("marginal-w2", null) :> IDistance
              let mined = Miners.batchHard (batch, labels, distance)
              Expect.equal mined.Count 6 "one triplet per anchor"
              let value = TripletMarginLoss.compute (batch, labels, distance, mined, TripletMarginLossOptions(Margin = 5.0))
              Expect.isGreaterThan (toScalar value) 0.0 "a wide margin is violated"
              value.backward()
              Expect.isTrue (toArray points.grad |> Array.forall (fun v -> not (Double.IsNaN v || Double.IsInfinity v))) "finite gradient" ]

// ---- validation ----------------------------------------------------------------------------------------------------

let private validationSuite =
    let e () = batchOf [| [| 0.0 |]; [| 1.0 |]; [| 2.0 |] |]
    let y () = torch.tensor([| 0L; 0L; 1L |])
    let dist = SquaredEuclidean() :> IDistance
    let contrastive (o: ContrastiveLossOptions) = box (ContrastiveLoss.compute (e (), y (), dist, null, o))
    testList
        "validation"
        [ missing "embeddings null" "embeddings" (fun () -> box (ContrastiveLoss.compute (null, y (), dist, null, null)))
          missing "labels null" "labels" (fun () -> box (TripletMarginLoss.compute (e (), null, dist, null, null)))
          missing "distance null" "distance" (fun () -> box (NTXentLoss.compute (e (), y (), null, null, null)))
          invalid "labels int32" "labels" (fun () -> box (MultiSimilarityLoss.compute (e (), torch.tensor([| 0; 0; 1 |]), dist, null, null)))
          invalid "labels count ≠ batch count" "labels" (fun () -> box (TripletMarginLoss.compute (e (), torch.tensor([| 0L; 1L |]), dist, null, null)))
          invalid "labels 2-D" "labels" (fun () -> box (ContrastiveLoss.compute (e (), torch.zeros(3L, 1L, dtype = torch.int64), dist, null, null)))
          invalid "distance for another representation" "distance" (fun () -> box (TripletMarginLoss.compute (e (), y (), DistributionOnly(), null, null)))
          invalid "contrastive: negative positive margin" "options" (fun () -> contrastive (ContrastiveLossOptions(PositiveMargin = -0.1)))
          invalid "contrastive: NaN negative margin" "options" (fun () -> contrastive (ContrastiveLossOptions(NegativeMargin = nan)))
          invalid "contrastive: unknown reduction" "options" (fun () -> contrastive (ContrastiveLossOptions(Reduction = enum 7)))
          invalid "contrastive: pair index outside the batch" "pairs" (fun () -> box (ContrastiveLoss.compute (e (), y (), dist, pairIndices [| 0, 3 |] [||], null)))
          invalid "contrastive: negative pair index" "pairs" (fun () -> box (ContrastiveLoss.compute (e (), y (), dist, pairIndices [||] [| -1, 2 |], null)))
          invalid "triplet: negative margin" "options" (fun () -> box (TripletMarginLoss.compute (e (), y (), dist, null, TripletMarginLossOptions(Margin = -1.0))))
          invalid "triplet: infinite margin" "options" (fun () -> box (TripletMarginLoss.compute (e (), y (), dist, null, TripletMarginLossOptions(Margin = infinity))))
          invalid "triplet: unknown penalty" "options" (fun () -> box (TripletMarginLoss.compute (e (), y (), dist, null, TripletMarginLossOptions(Penalty = enum 5))))
          invalid "triplet: index outside the batch" "triplets" (fun () -> box (TripletMarginLoss.compute (e (), y (), dist, tripletIndices [| 0, 1, 9 |], null)))
          invalid "NT-Xent: temperature 0" "options" (fun () -> box (NTXentLoss.compute (e (), y (), dist, null, NTXentLossOptions(Temperature = 0.0))))
          invalid "NT-Xent: negative temperature" "options" (fun () -> box (NTXentLoss.compute (e (), y (), dist, null, NTXentLossOptions(Temperature = -1.0))))
          invalid "NT-Xent: NaN temperature" "options" (fun () -> box (NTXentLoss.compute (e (), y (), dist, null, NTXentLossOptions(Temperature = nan))))
          invalid "multi-similarity: α = 0" "options" (fun () -> box (MultiSimilarityLoss.compute (e (), y (), dist, null, MultiSimilarityLossOptions(Alpha = 0.0))))
          invalid "multi-similarity: β < 0" "options" (fun () -> box (MultiSimilarityLoss.compute (e (), y (), dist, null, MultiSimilarityLossOptions(Beta = -2.0))))
          invalid "multi-similarity: NaN threshold" "options" (fun () -> box (MultiSimilarityLoss.compute (e (), y (), dist, null, MultiSimilarityLossOptions(Threshold = nan))))
          missing "margin: β null" "beta" (fun () -> box (MarginLoss.compute (e (), y (), dist, null, null, null)))
          invalid "margin: β integer" "beta" (fun () -> box (MarginLoss.compute (e (), y (), dist, torch.tensor(1L), null, null)))
          invalid "margin: β 2-D" "beta" (fun () -> box (MarginLoss.compute (e (), y (), dist, torch.ones(2L, 2L, dtype = torch.float64), null, null)))
          invalid "margin: β empty" "beta" (fun () -> box (MarginLoss.compute (e (), y (), dist, torch.ones(0L, dtype = torch.float64), null, null)))
          invalid "margin: β NaN" "beta" (fun () -> box (MarginLoss.compute (e (), y (), dist, torch.tensor(nan), null, null)))
          invalid "margin: per-class β shorter than the labels" "beta" (fun () -> box (MarginLoss.compute (e (), y (), dist, torch.ones(1L, dtype = torch.float64), null, null)))
          invalid "margin: negative label with a per-class β" "labels" (fun () -> box (MarginLoss.compute (e (), torch.tensor([| 0L; -1L; 1L |]), dist, torch.ones(2L, dtype = torch.float64), null, null)))
          invalid "margin: negative margin" "options" (fun () -> box (MarginLoss.compute (e (), y (), dist, torch.tensor(1.0), null, MarginLossOptions(Margin = -0.2))))
          invalid "margin: negative ν" "options" (fun () -> box (MarginLoss.compute (e (), y (), dist, torch.tensor(1.0), null, MarginLossOptions(Nu = -1.0))))
          invalid "TripletIndices.Create: int32 anchor" "anchor" (fun () -> box (TripletIndices.Create(torch.tensor([| 0 |]), torch.tensor([| 1L |]), torch.tensor([| 2L |]))))
          invalid "TripletIndices.Create: lengths differ" "positive" (fun () -> box (TripletIndices.Create(torch.tensor([| 0L |]), torch.tensor([| 1L; 2L |]), torch.tensor([| 2L |]))))
          missing "TripletIndices.FromArrays: anchor null" "anchor" (fun () -> box (TripletIndices.FromArrays(null, [| 1L |], [| 2L |])))
          invalid "TripletIndices.FromArrays: lengths differ" "negative" (fun () -> box (TripletIndices.FromArrays([| 0L |], [| 1L |], [||])))
          invalid "PairIndices.Create: a1/p lengths differ" "positive" (fun () -> box (PairIndices.Create(torch.tensor([| 0L |]), torch.tensor([| 1L; 0L |]), torch.tensor([| 0L |]), torch.tensor([| 2L |]))))
          invalid "PairIndices.Create: a2/n lengths differ" "negative" (fun () -> box (PairIndices.Create(torch.tensor([| 0L |]), torch.tensor([| 1L |]), torch.tensor([| 0L |]), torch.tensor([| 2L; 1L |]))))
          invalid "PairIndices.Create: float indices" "anchorNegative" (fun () -> box (PairIndices.Create(torch.tensor([| 0L |]), torch.tensor([| 1L |]), torch.tensor([| 0.0 |]), torch.tensor([| 2L |]))))
          missing "PairIndices.FromTriplets: null" "triplets" (fun () -> box (PairIndices.FromTriplets null))
          invalid "SupCon: temperature 0" "options" (fun () -> box (SupConLoss.compute (e (), y (), dist, null, SupConLossOptions(Temperature = 0.0))))
          invalid "SupCon: unknown reduction" "options" (fun () -> box (SupConLoss.compute (e (), y (), dist, null, SupConLossOptions(Reduction = enum 9))))
          invalid "SupCon: pair index outside the batch" "pairs" (fun () -> box (SupConLoss.compute (e (), y (), dist, pairIndices [| 0, 5 |] [||], null)))
          invalid "circle: negative margin" "options" (fun () -> box (CircleLoss.compute (e (), y (), dist, null, CircleLossOptions(Margin = -0.1))))
          invalid "circle: γ = 0" "options" (fun () -> box (CircleLoss.compute (e (), y (), dist, null, CircleLossOptions(Gamma = 0.0))))
          invalid "circle: NaN γ" "options" (fun () -> box (CircleLoss.compute (e (), y (), dist, null, CircleLossOptions(Gamma = nan))))
          invalid "circle: labels count ≠ batch count" "labels" (fun () -> box (CircleLoss.compute (e (), torch.tensor([| 0L |]), dist, null, null))) ]

[<Tests>]
let tests = testList "toolkit.losses" [ referenceSuite; marginSuite; noTupleSuite; signSuite; invarianceSuite; librarySuite; validationSuite ]
