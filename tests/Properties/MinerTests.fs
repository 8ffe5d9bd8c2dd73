/// The miners of the metric-learning toolkit: every tuple valid (label constraints), all-valid enumerations equal to
/// hand-written loops, batch-hard equal to the brute-force extremes, semi-hard equal to the brute-force margin band,
/// distance-weighted sampling valid, deterministic per seed and distributed as the inverse sphere density; plus every
/// validation rule.
module DistEmbed.Properties.MinerTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport
open DistEmbed.Properties.ToolkitSupport

let private triplesOf (t: TripletIndices) =
    Array.zip3 (toIndices t.Anchor) (toIndices t.Positive) (toIndices t.Negative)

let private expectValid (labels: int64[]) (triplets: (int * int * int)[]) =
    for a, p, n in triplets do
        if a = p || labels.[a] <> labels.[p] then failtestf "(%d, %d, %d): the positive is not a different item of the anchor's class" a p n
        if labels.[n] = labels.[a] then failtestf "(%d, %d, %d): the negative has the anchor's label" a p n

/// A batch with a distance (symmetric or not) and the distance matrix the miner sees (row = anchor).
let private withMatrix : Gen<LabelledBatch * bool> = Gen.zip labelledBatch (Gen.elements [ false; true ])

let private distanceFor asymmetric : IDistance = if asymmetric then ExpBregman() else SquaredEuclidean()

let private matrixOf (batch: LabelledBatch) (distance: IDistance) =
    let e = batchOf batch.Values
    let m = toArray (distance.Pairwise(e, e))
    let b = batch.Labels.Length
    fun i j -> m.[i * b + j]

let private enumerationSuite =
    testList
        "all valid tuples"
        [ property "AllTriplets equals the loop over (a, p, n)" 100 labelledBatch (fun batch ->
              let mined = triplesOf (Miners.allTriplets (labelsOf batch.Labels))
              Expect.sequenceEqual mined (referenceTriplets batch.Labels) "triplets"
              expectValid batch.Labels mined)
          property "AllPairs equals the loops over positive and negative pairs" 100 labelledBatch (fun batch ->
              let pairs = Miners.allPairs (labelsOf batch.Labels)
              let pos, neg = referencePairs batch.Labels
              Expect.sequenceEqual (Array.zip (toIndices pairs.AnchorPositive) (toIndices pairs.Positive)) pos "positive pairs"
              Expect.sequenceEqual (Array.zip (toIndices pairs.AnchorNegative) (toIndices pairs.Negative)) neg "negative pairs") ]

let private hardSuite =
    testList
        "batch-hard and semi-hard"
        [ property "batch-hard: valid, one per eligible anchor, the hardest positive and negative" 100 withMatrix (fun (batch, asymmetric) ->
              let distance = distanceFor asymmetric
              let d = matrixOf batch distance
              let y = batch.Labels
              let b = y.Length
              let mined = triplesOf (Miners.batchHard (batchOf batch.Values, labelsOf y, distance))
              expectValid y mined
              let eligible =
                  [| for a in 0 .. b - 1 do
                       if Array.exists (fun j -> j <> a && y.[j] = y.[a]) [| 0 .. b - 1 |] && Array.exists (fun j -> y.[j] <> y.[a]) [| 0 .. b - 1 |] then a |]
              Expect.sequenceEqual (mined |> Array.map (fun (a, _, _) -> a)) eligible "anchors"
              for a, p, n in mined do
                  let hardestPositive = [ for j in 0 .. b - 1 do if j <> a && y.[j] = y.[a] then d a j ] |> List.max
                  let hardestNegative = [ for j in 0 .. b - 1 do if y.[j] <> y.[a] then d a j ] |> List.min
                  if d a p <> hardestPositive then failtestf "anchor %d: D(a, p) = %g but the hardest positive is at %g" a (d a p) hardestPositive
                  if d a n <> hardestNegative then failtestf "anchor %d: D(a, n) = %g but the hardest negative is at %g" a (d a n) hardestNegative)
          property "semi-hard: exactly the valid triplets with D(a,p) < D(a,n) < D(a,p) + m" 100 (Gen.zip withMatrix (Gen.elements [ 0.5; 2.0; 8.0 ])) (fun ((batch, asymmetric), margin) ->
              let distance = distanceFor asymmetric
              let d = matrixOf batch distance
              let mined = triplesOf (Miners.semiHard (batchOf batch.Values, labelsOf batch.Labels, distance, margin))
              let expected = referenceTriplets batch.Labels |> Array.filter (fun (a, p, n) -> d a p < d a n && d a n < d a p + margin)
              Expect.sequenceEqual mined expected "band"
              expectValid batch.Labels mined)
          testCase "semi-hard on a hand-made batch" <| fun () ->
              // 1-D points: anchor 0 at 0, positive 1 at 1 (D = 1); negatives at 1.2 (D = 1.44, in the band for m = 1)
              // and 2 (D = 4, outside) and 0.5 (D = 0.25, harder than the positive: not semi-hard).
              let batch = batchOf [| [| 0.0 |]; [| 1.0 |]; [| 1.2 |]; [| 2.0 |]; [| 0.5 |] |]
              let labels = torch.tensor([| 0L; 0L; 1L; 1L; 1L |])
              let mined = triplesOf (Miners.semiHard (batch, labels, SquaredEuclidean(), 1.0))
              let fromAnchor0 = mined |> Array.filter (fun (a, _, _) -> a = 0)
              Expect.sequenceEqual fromAnchor0 [| 0, 1, 2 |] "anchor 0" ]

// ---- distance-weighted sampling -------------------------------------------------------------------------------------

/// A batch of unit vectors (the setting of Wu et al.) with labels.
let private sphereBatch : Gen<LabelledBatch * int> =
    gen {
        let! batch = labelledBatch
        let rows = batch.Values |> Array.map (fun r -> let n = sqrt (Array.sumBy (fun v -> v * v) r) in if n = 0.0 then Array.mapi (fun k _ -> if k = 0 then 1.0 else 0.0) r else Array.map (fun v -> v / n) r)
        let! seed = Gen.choose (0, 1000000)
        return { batch with Values = rows }, seed
    }

/// The Euclidean distance, for the unit-sphere case.
type private Euclidean() =
    interface IDistance with
        member _.Name = "test-euclidean"
        member _.IsMetric = true
        member _.IsSymmetric = true
        member _.Accepts = Representation.Vectors
        member _.Paired(a, b) = ((a :?> VectorBatch).Values - (b :?> VectorBatch).Values).pow(torch.tensor 2.0).sum(1L).sqrt()
        member _.Pairwise(a, b) = ((a :?> VectorBatch).Values.unsqueeze(1L) - (b :?> VectorBatch).Values.unsqueeze(0L)).pow(torch.tensor 2.0).sum(2L).sqrt()

let private distanceWeightedSuite =
    testList
        "distance-weighted"
        [ property "valid, one per positive pair of an anchor with negatives, deterministic per seed, no negative beyond the cutoff when one is within" 60 sphereBatch (fun (batch, seed) ->
              let y = batch.Labels
              let b = y.Length
              let distance = Euclidean()
              let mine s = triplesOf (Miners.distanceWeighted (batchOf batch.Values, labelsOf y, distance, 3, s, null))
              let mined = mine seed
              expectValid y mined
              let expectedPairs =
                  [| for a in 0 .. b - 1 do
                       if Array.exists (fun j -> y.[j] <> y.[a]) [| 0 .. b - 1 |] then
                           for p in 0 .. b - 1 do if p <> a && y.[p] = y.[a] then a, p |]
              Expect.sequenceEqual (mined |> Array.map (fun (a, p, _) -> a, p)) expectedPairs "(anchor, positive) pairs"
              Expect.sequenceEqual (mine seed) mined "same seed, same triplets"
              let d = matrixOf batch distance
              for a, p, n in mined do
                  let within = [ for j in 0 .. b - 1 do if y.[j] <> y.[a] && d a j < 1.4 then j ]
                  if not within.IsEmpty && d a n >= 1.4 then failtestf "(%d, %d, %d): D(a, n) = %g beyond the cutoff although %A are within" a p n (d a n) within)
          testCase "draws follow the inverse sphere density q(d)⁻¹ ∝ d^{2−n}(1 − d²/4)^{(3−n)/2}" <| fun () ->
              // Anchor 0 and positive 1 at the origin direction; negatives 2 and 3 at chord distances 0.6 and 1.0 from
              // the anchor (n = 4): weights 0.6^{-2}(1 − 0.09)^{-1/2} and (1 − 0.25)^{-1/2}.
              let angle chord = 2.0 * asin (chord / 2.0)
              let point chord = [| cos (angle chord); sin (angle chord); 0.0; 0.0 |]
              let rows = [| point 0.0; point 0.0; point 0.6; point 1.0 |]
              let labels = [| 0L; 0L; 1L; 1L |]
              let w06 = 0.6 ** -2.0 / sqrt (1.0 - 0.09)
              let w10 = 1.0 / sqrt 0.75
              let expected = w06 / (w06 + w10)
              let draws = 3000
              let mutable near = 0
              let batch = batchOf rows
              let mined = triplesOf (Miners.distanceWeighted (batch, labelsOf labels, Euclidean(), 4, 17, null))
              Expect.equal mined.Length 4 "one triplet per positive pair (0,1), (1,0), (2,3), (3,2)"
              for s in 0 .. draws - 1 do
                  let _, _, n = (triplesOf (Miners.distanceWeighted (batch, labelsOf labels, Euclidean(), 4, s, null))).[0]
                  if n = 2 then near <- near + 1
              let observed = float near / float draws
              // Binomial standard error ≈ 0.008; allow five of them.
              if abs (observed - expected) > 0.04 then failtestf "P(near negative) = %.4f, expected %.4f" observed expected ]

// ---- validation ----------------------------------------------------------------------------------------------------

let private validationSuite =
    let e () = batchOf [| [| 0.0 |]; [| 1.0 |]; [| 2.0 |] |]
    let y () = torch.tensor([| 0L; 0L; 1L |])
    let dist = SquaredEuclidean() :> IDistance
    let weighted (o: DistanceWeightedOptions) = box (Miners.distanceWeighted (e (), y (), dist, 3, 0, o))
    testList
        "validation"
        [ missing "AllTriplets: labels null" "labels" (fun () -> box (Miners.allTriplets null))
          invalid "AllTriplets: labels int32" "labels" (fun () -> box (Miners.allTriplets (torch.tensor([| 0; 1 |]))))
          invalid "AllPairs: labels 2-D" "labels" (fun () -> box (Miners.allPairs (torch.zeros(2L, 2L, dtype = torch.int64))))
          missing "BatchHard: embeddings null" "embeddings" (fun () -> box (Miners.batchHard (null, y (), dist)))
          invalid "BatchHard: labels count ≠ batch count" "labels" (fun () -> box (Miners.batchHard (e (), torch.tensor([| 0L |]), dist)))
          invalid "BatchHard: distance for another representation" "distance" (fun () -> box (Miners.batchHard (e (), y (), DistributionOnly())))
          missing "SemiHard: distance null" "distance" (fun () -> box (Miners.semiHard (e (), y (), null, 1.0)))
          invalid "SemiHard: margin 0" "margin" (fun () -> box (Miners.semiHard (e (), y (), dist, 0.0)))
          invalid "SemiHard: margin NaN" "margin" (fun () -> box (Miners.semiHard (e (), y (), dist, nan)))
          invalid "DistanceWeighted: dimension 1" "dimension" (fun () -> box (Miners.distanceWeighted (e (), y (), dist, 1, 0, null)))
          invalid "DistanceWeighted: Cutoff 0" "options" (fun () -> weighted (DistanceWeightedOptions(Cutoff = 0.0)))
          invalid "DistanceWeighted: NonzeroLossCutoff above 2" "options" (fun () -> weighted (DistanceWeightedOptions(NonzeroLossCutoff = 2.5)))
          invalid "DistanceWeighted: NonzeroLossCutoff below Cutoff" "options" (fun () -> weighted (DistanceWeightedOptions(Cutoff = 1.0, NonzeroLossCutoff = 0.8)))
          invalid "DistanceWeighted: Scale NaN" "options" (fun () -> weighted (DistanceWeightedOptions(Scale = nan))) ]

[<Tests>]
let tests = testList "toolkit.miners" [ enumerationSuite; hardSuite; distanceWeightedSuite; validationSuite ]
