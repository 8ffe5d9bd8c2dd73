/// The samplers of the metric-learning toolkit: M-per-class batches hold P distinct classes × M items (with
/// replacement only inside classes smaller than M), the epoch has the documented length, draws are deterministic per
/// (seed, epoch); TVAE triplets are valid and cover the eligible anchors; plus every validation rule.
module DistEmbed.Properties.SamplerTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport

/// Labels of a data set: 1 to 60 items over 1 to 8 classes (some classes small), with P and M.
let private dataSet : Gen<int64[] * int * int * int> =
    gen {
        let! n = Gen.choose (1, 60)
        let! classes = Gen.choose (1, 8)
        let! labels = Gen.arrayOfLength n (Gen.choose (0, classes - 1) |> Gen.map (fun c -> int64 (10 * c)))
        let distinct = labels |> Array.distinct |> Array.length
        let! p = Gen.choose (1, distinct)
        let! m = Gen.choose (1, 6)
        let! seed = Gen.choose (0, 100000)
        return labels, p, m, seed
    }

let private mPerClassSuite =
    testList
        "M-per-class"
        [ property "each batch: P distinct classes × M items, repeats only inside classes smaller than M" 200 dataSet (fun (labels, p, m, seed) ->
              let batches = Samplers.mPerClassEpoch (labels, p, m, seed, 0)
              Expect.equal batches.Length (max 1 (labels.Length / (p * m))) "batches per epoch"
              for batch in batches do
                  Expect.equal batch.Length (p * m) "batch size"
                  let blocks = batch |> Array.chunkBySize m
                  let classes = blocks |> Array.map (fun block -> labels.[block.[0]])
                  Expect.equal (Array.distinct classes).Length p "distinct classes"
                  for block in blocks do
                      let y = labels.[block.[0]]
                      if block |> Array.exists (fun i -> labels.[i] <> y) then failtestf "block %A mixes classes" block
                      let size = labels |> Array.filter ((=) y) |> Array.length
                      if size >= m && (Array.distinct block).Length <> m then failtestf "class %d has %d items but the block %A repeats" y size block
                      if size < m && (Array.distinct block).Length <> size then failtestf "class %d has %d items but the block %A does not use each once" y size block)
          property "deterministic per (seed, epoch); another epoch or seed draws differently" 100 dataSet (fun (labels, p, m, seed) ->
              let draw s e = Samplers.mPerClassEpoch (labels, p, m, s, e)
              Expect.equal (draw seed 3) (draw seed 3) "same seed and epoch"
              // With at least two classes of ≥ 3 items, P = 2 and M = 2, repeated epochs cannot all coincide.
              let big = labels |> Array.countBy id |> Array.filter (fun (_, c) -> c >= 3) |> Array.length
              if big >= 2 && labels.Length >= 8 then
                  let epochs = [ for e in 0 .. 9 -> Samplers.mPerClassEpoch (labels, 2, 2, seed, e) ]
                  if epochs |> List.distinct |> List.length = 1 then failtest "ten epochs drew the same batches"
                  let seeds = [ for s in 0 .. 9 -> Samplers.mPerClassEpoch (labels, 2, 2, seed + s, 0) ]
                  if seeds |> List.distinct |> List.length = 1 then failtest "ten seeds drew the same batches")
          testCase "a class with fewer than M items: each item once, the rest drawn from it" <| fun () ->
              let labels = [| 0L; 0L; 0L; 0L; 0L; 1L |]
              for seed in 0 .. 20 do
                  for batch in Samplers.mPerClassEpoch (labels, 2, 3, seed, 0) do
                      let ones = batch |> Array.filter (fun i -> labels.[i] = 1L)
                      Expect.sequenceEqual ones [| 5; 5; 5 |] "the one-item class fills its block with item 5"
                      Expect.equal (batch |> Array.filter (fun i -> labels.[i] = 0L) |> Array.distinct).Length 3 "three distinct items of class 0" ]

let private tvaeCase : Gen<int64[] * int * int> =
    gen {
        let! n = Gen.choose (3, 60)
        let! classes = Gen.choose (2, 6)
        let! rest = Gen.arrayOfLength (n - 3) (Gen.choose (0, classes - 1) |> Gen.map int64)
        let! count = Gen.choose (1, 200)
        let! seed = Gen.choose (0, 100000)
        return Array.append [| 0L; 0L; 1L |] rest, count, seed
    }

let private tvaeSuite =
    testList
        "TVAE triplets"
        [ property "valid: same class ≠ anchor, other class; deterministic per seed" 200 tvaeCase (fun (labels, count, seed) ->
              let t = Samplers.tvaeTriplets (labels, count, seed)
              Expect.equal t.Count count "count"
              for k in 0 .. count - 1 do
                  let a, p, n = t.Anchor.[k], t.Positive.[k], t.Negative.[k]
                  if a = p || labels.[a] <> labels.[p] then failtestf "triplet %d: positive %d is not another item of anchor %d's class" k p a
                  if labels.[n] = labels.[a] then failtestf "triplet %d: negative %d has anchor %d's class" k n a
              let again = Samplers.tvaeTriplets (labels, count, seed)
              Expect.sequenceEqual again.Anchor t.Anchor "anchors"
              Expect.sequenceEqual again.Positive t.Positive "positives"
              Expect.sequenceEqual again.Negative t.Negative "negatives")
          testCase "anchors, positives and negatives are uniform" <| fun () ->
              // Class 0 = {0, 1, 2}, class 1 = {3, 4}, class 2 = {5} (never an anchor). 6000 draws.
              let labels = [| 0L; 0L; 0L; 1L; 1L; 2L |]
              let t = Samplers.tvaeTriplets (labels, 6000, 11)
              let share (xs: int[]) v = float (xs |> Array.filter ((=) v) |> Array.length) / float xs.Length
              for a in 0 .. 4 do Expect.isLessThan (abs (share t.Anchor a - 0.2)) 0.03 $"anchor {a} drawn 1/5 of the time"
              Expect.equal (share t.Anchor 5) 0.0 "a single-item class is never an anchor"
              let fromZero = [| for k in 0 .. t.Count - 1 do if t.Anchor.[k] = 0 then k |]
              for p in [ 1; 2 ] do Expect.isLessThan (abs (share (fromZero |> Array.map (fun k -> t.Positive.[k])) p - 0.5)) 0.06 $"positive {p} of anchor 0"
              for n in [ 3; 4; 5 ] do Expect.isLessThan (abs (share (fromZero |> Array.map (fun k -> t.Negative.[k])) n - 1.0 / 3.0)) 0.06 $"negative {n} of anchor 0" ]

let private validationSuite =
    let labels = [| 0L; 0L; 1L; 1L |]
    testList
        "validation"
        [ missing "MPerClassEpoch: labels null" "labels" (fun () -> box (Samplers.mPerClassEpoch (null, 1, 1, 0, 0)))
          invalid "MPerClassEpoch: labels empty" "labels" (fun () -> box (Samplers.mPerClassEpoch ([||], 1, 1, 0, 0)))
          invalid "MPerClassEpoch: P = 0" "classesPerBatch" (fun () -> box (Samplers.mPerClassEpoch (labels, 0, 1, 0, 0)))
          invalid "MPerClassEpoch: P above the number of classes" "classesPerBatch" (fun () -> box (Samplers.mPerClassEpoch (labels, 3, 1, 0, 0)))
          invalid "MPerClassEpoch: M = 0" "itemsPerClass" (fun () -> box (Samplers.mPerClassEpoch (labels, 1, 0, 0, 0)))
          invalid "MPerClassEpoch: negative epoch" "epoch" (fun () -> box (Samplers.mPerClassEpoch (labels, 1, 1, 0, -1)))
          missing "TvaeTriplets: labels null" "labels" (fun () -> box (Samplers.tvaeTriplets (null, 1, 0)))
          invalid "TvaeTriplets: a single class" "labels" (fun () -> box (Samplers.tvaeTriplets ([| 1L; 1L |], 1, 0)))
          invalid "TvaeTriplets: no class with two items" "labels" (fun () -> box (Samplers.tvaeTriplets ([| 0L; 1L; 2L |], 1, 0)))
          invalid "TvaeTriplets: count 0" "count" (fun () -> box (Samplers.tvaeTriplets (labels, 0, 0))) ]

[<Tests>]
let tests = testList "toolkit.samplers" [ mPerClassSuite; tvaeSuite; validationSuite ]
