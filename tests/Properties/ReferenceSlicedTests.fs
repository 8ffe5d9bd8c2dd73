/// Laws of the sliced and max-sliced p-Wasserstein distances of the float64 reference and of its random directions.
module DistEmbed.Properties.ReferenceSlicedTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport

/// A pair of distributions with 1–8 random unit directions of their dimension.
let private withDirections =
    gen {
        let! a, b = pair
        let! count = Gen.choose (1, 8)
        let! seed = Gen.choose (0, 1000000)
        return a, b, SlicedWasserstein.randomDirections (count, a.Dimension, seed)
    }

/// W_p^p tolerance of a slice: projections onto unit directions stay within √d·S.
let private sliceExtent (a: Empirical) (b: Empirical) = sqrt (float a.Dimension) * extent [ a; b ]

let private laws (p: float) =
    let name law = $"SW_p, p = {p}: {law}"
    [ property (name "with one coordinate-axis direction e_k equals the 1-D W_p of coordinate k") 200 (Gen.zip pair (Gen.choose (0, 4))) (fun ((a, b), k) ->
          let k = k % a.Dimension
          let axis = Array2D.init 1 a.Dimension (fun _ j -> if j = k then 1.0 else 0.0)
          let s = extent [ a; b ]
          let expected = OneDimensional.costP (p, a.Column k, a.Weights, b.Column k, b.Weights)
          expectCostClose p s "SW_p^p(e_k) vs 1-D W_p^p" expected (Math.Pow(SlicedWasserstein.wasserstein (p, a, b, axis), p))
          expectCostClose p s "maxSW_p^p(e_k) vs 1-D W_p^p" expected (Math.Pow(SlicedWasserstein.maxSliced (p, a, b, axis), p)))
      property (name "maxSliced ≥ sliced over the same directions") 200 withDirections (fun (a, b, directions) ->
          let sliced, maxSliced = SlicedWasserstein.wasserstein (p, a, b, directions), SlicedWasserstein.maxSliced (p, a, b, directions)
          if maxSliced < sliced * (1.0 - 1e-12) then failtestf "maxSliced %.17g < sliced %.17g" maxSliced sliced)
      property (name "≥ 0, finite, SW(a, a′) = 0 for a rewritten copy a′ (reversed, split, padded), symmetric") 200 withDirections (fun (a, b, directions) ->
          let ab = SlicedWasserstein.wasserstein (p, a, b, directions)
          if not (ab >= 0.0 && Double.IsFinite ab) then failtestf "SW = %g" ab
          let aa = Math.Pow(SlicedWasserstein.wasserstein (p, a, sameMeasure a, directions), p)
          if aa > costTolerance p (sliceExtent a a) 0.0 0.0 then failtestf "SW_p^p(a, a′) = %g" aa
          expectCostClose p (sliceExtent a b) "SW_p^p(b, a) vs SW_p^p(a, b)" (Math.Pow(ab, p)) (Math.Pow(SlicedWasserstein.wasserstein (p, b, a, directions), p)))
      property
          (name "triangle inequality SW(a,c) ≤ SW(a,b) + SW(b,c) + (1e-13)^(1/p)·2√d·S + 1e-9 relative")
          200
          (gen {
              let! a, b, c = triple
              let! count = Gen.choose (1, 8)
              let! seed = Gen.choose (0, 1000000)
              return a, b, c, SlicedWasserstein.randomDirections (count, a.Dimension, seed)
          })
          (fun (a, b, c, directions) ->
              let sw x y = SlicedWasserstein.wasserstein (p, x, y, directions)
              let ab, bc, ac = sw a b, sw b c, sw a c
              let slack = 1e-9 * (ab + bc) + Math.Pow(1e-13, 1.0 / p) * 2.0 * sliceExtent a c
              if ac > ab + bc + slack then failtestf "SW(a,c) = %.17g > %.17g + %.17g (slack %.3g)" ac ab bc slack)
      property (name "directions are used as given: scaling every direction by r scales SW_p by r") 200 (Gen.zip withDirections (Gen.choose (1, 400))) (fun ((a, b, directions), r) ->
          let r = float r / 100.0
          let scaled = Array2D.map (fun x -> r * x) directions
          let expected = r * SlicedWasserstein.wasserstein (p, a, b, directions)
          let actual = SlicedWasserstein.wasserstein (p, a, b, scaled)
          if abs (actual - expected) > 1e-9 * expected + Math.Pow(1e-13, 1.0 / p) * 2.0 * r * sliceExtent a b then
              failtestf "SW with r·Θ = %.17g, r·SW with Θ = %.17g (r = %g)" actual expected r)
      property (name "θ and −θ give the same slice; a repeated direction does not change the mean") 200 withDirections (fun (a, b, directions) ->
          let l = Array2D.length1 directions
          let doubled = Array2D.init (2 * l) a.Dimension (fun i k -> if i < l then directions.[i, k] else -directions.[i - l, k])
          let s = sliceExtent a b
          expectCostClose p s "SW_p^p over Θ ∪ −Θ vs over Θ" (Math.Pow(SlicedWasserstein.wasserstein (p, a, b, directions), p)) (Math.Pow(SlicedWasserstein.wasserstein (p, a, b, doubled), p)))
      property (name "invariant to permuting points and to zero-weight padding") 200 (withDirections |> Gen.bind (fun (a, b, directions) ->
          gen {
              let s = extent [ a; b ]
              let! a2 = rewritten s a
              let! b2 = rewritten s b
              return a, b, a2, b2, directions
          })) (fun (a, b, a2, b2, directions) ->
          expectCostClose p (sliceExtent a b) "rewritten vs original" (Math.Pow(SlicedWasserstein.wasserstein (p, a, b, directions), p)) (Math.Pow(SlicedWasserstein.wasserstein (p, a2, b2, directions), p))) ]

let private handValues =
    testList
        "hand-computed values"
        [ testCase "SW_2 of δ0 vs δ(1,1) over e_1, e_2 and (1,1)/√2: mean of 1, 1, 2 then √" <| fun () ->
              let a = Empirical.Create(array2D [ [ 0.0; 0.0 ] ], [| 1.0 |])
              let b = Empirical.Create(array2D [ [ 1.0; 1.0 ] ], [| 1.0 |])
              let r = 1.0 / sqrt 2.0
              let directions = array2D [ [ 1.0; 0.0 ]; [ 0.0; 1.0 ]; [ r; r ] ]
              expectClose 1e-15 "SW_2" (sqrt (4.0 / 3.0)) (SlicedWasserstein.wasserstein (2.0, a, b, directions))
              expectClose 1e-15 "maxSW_2" (sqrt 2.0) (SlicedWasserstein.maxSliced (2.0, a, b, directions))
          testCase "randomDirections: L × d unit rows, the same for a seed, different for another seed" <| fun () ->
              let first = SlicedWasserstein.randomDirections (50, 4, 7)
              Expect.equal (Array2D.length1 first, Array2D.length2 first) (50, 4) "shape"
              for l in 0 .. 49 do
                  let norm = sqrt (Seq.sum (seq { for k in 0 .. 3 -> first.[l, k] * first.[l, k] }))
                  expectClose 1e-15 $"norm of row {l}" 1.0 norm
              Expect.equal (SlicedWasserstein.randomDirections (50, 4, 7)) first "same seed, same directions"
              Expect.notEqual (SlicedWasserstein.randomDirections (50, 4, 8)) first "another seed, other directions"
          testCase "randomDirections in d = 1 are ±1, both signs" <| fun () ->
              let directions = SlicedWasserstein.randomDirections (200, 1, 3)
              let values = Array.init 200 (fun l -> directions.[l, 0])
              Expect.isTrue (values |> Array.forall (fun x -> x = 1.0 || x = -1.0)) "±1"
              Expect.isTrue (Array.contains 1.0 values && Array.contains -1.0 values) "both signs"
          testCase "randomDirections are uniform on S²: a coordinate is uniform on [−1, 1] (Archimedes), 10 bins within ±20%" <| fun () ->
              // 20 000 directions, 2 000 expected per bin, binomial standard deviation ≈ 42: ±400 is about 9.5σ.
              let directions = SlicedWasserstein.randomDirections (20000, 3, 11)
              let bins = Array.zeroCreate 10
              for l in 0 .. 19999 do
                  let bin = min 9 (int ((directions.[l, 2] + 1.0) * 5.0))
                  bins.[bin] <- bins.[bin] + 1
              for i in 0 .. 9 do
                  if abs (bins.[i] - 2000) > 400 then failtestf "bin %d holds %d of 20000 (expected 2000): %A" i bins.[i] bins ]

[<Tests>]
let tests =
    testList "reference.sliced" [ handValues; testList "laws" [ for p in orders do yield! laws p ] ]
