/// Laws of the exact one-dimensional and marginal p-Wasserstein costs of the float64 reference, their analytic
/// gradients against central finite differences, and hand-computed values.
module DistEmbed.Properties.ReferenceOneDimensionalTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport

/// One of the two costs under test, with generators of matching dimension.
type private Subject =
    { Name: string
      Pair: Gen<Empirical * Empirical>
      Triple: Gen<Empirical * Empirical * Empirical>
      Cost: float -> Empirical -> Empirical -> float }

let private oneDimensional =
    let pairAt =
        gen {
            let! s = scale
            let! a = empiricalAt 1 s
            let! b = empiricalAt 1 s
            return a, b
        }
    let tripleAt =
        gen {
            let! s = scale
            let! a = empiricalAt 1 s
            let! b = empiricalAt 1 s
            let! c = empiricalAt 1 s
            return a, b, c
        }
    { Name = "1-D"
      Pair = pairAt
      Triple = tripleAt
      Cost = fun p a b -> OneDimensional.costP (p, a.Column 0, a.Weights, b.Column 0, b.Weights) }

let private marginal =
    { Name = "marginal"
      Pair = pair
      Triple = triple
      Cost = fun p a b -> MarginalWasserstein.costP (p, a, b) }

let private distance (subject: Subject) p a b = Math.Pow(subject.Cost p a b, 1.0 / p)

let private laws (subject: Subject) (p: float) =
    let name law = $"{subject.Name} W_p, p = {p}: {law}"
    [ property (name "W_p^p ≥ 0 and finite, and W_p = (W_p^p)^(1/p) from the public wasserstein") 200 subject.Pair (fun (a, b) ->
          let cost = subject.Cost p a b
          let w =
              if subject.Name = "1-D" then
                  OneDimensional.wasserstein (p, a.Column 0, a.Weights, b.Column 0, b.Weights)
              else
                  MarginalWasserstein.wasserstein (p, a, b)
          if not (cost >= 0.0 && Double.IsFinite cost) then
              failtestf "W_p^p = %g for %s | %s" cost (describe a) (describe b)
          expectClose 1e-14 "W_p vs (W_p^p)^(1/p)" (Math.Pow(cost, 1.0 / p)) w)
      // Not W(a, a) on the same arrays (0 by construction of the merge): a rewritten copy of the same measure.
      property (name "W(a, a′) = 0 for a′ = a reversed, an atom split in two, zero-weight padding") 200 subject.Pair (fun (a, _) ->
          let a' = sameMeasure a
          let cost = subject.Cost p a a'
          if abs cost > costTolerance p (extent [ a ]) 0.0 0.0 then failtestf "W_p^p(a, a′) = %g for %s | %s" cost (describe a) (describe a'))
      property (name "symmetric") 200 subject.Pair (fun (a, b) ->
          expectCostClose p (extent [ a; b ]) "W_p^p(b, a) vs W_p^p(a, b)" (subject.Cost p a b) (subject.Cost p b a))
      // Slack: each cost carries a rounding error of at most d·1e-13·(2S)^p (the cumulative weights are rounded),
      // which becomes (d·1e-13)^(1/p)·2S on W_p, plus 1e-9 relative.
      property (name "triangle inequality W(a,c) ≤ W(a,b) + W(b,c) + (d·1e-13)^(1/p)·2S + 1e-9 relative") 200 subject.Triple (fun (a, b, c) ->
          let ab, bc, ac = distance subject p a b, distance subject p b c, distance subject p a c
          let s = extent [ a; b; c ]
          let slack = 1e-9 * (ab + bc) + Math.Pow(float a.Dimension * 1e-13, 1.0 / p) * 2.0 * s
          if ac > ab + bc + slack then
              failtestf "W(a,c) = %.17g > W(a,b) + W(b,c) = %.17g + %.17g (slack %.3g)\na = %s\nb = %s\nc = %s" ac ab bc slack (describe a) (describe b) (describe c))
      property
          (name "translation invariant")
          200
          (gen {
              let! a, b = subject.Pair
              let s = extent [ a; b ]
              let! shift = Gen.arrayOfLength a.Dimension (Gen.choose (-3000, 3000) |> Gen.map (fun i -> s * float i / 1000.0))
              return a, b, shift
          })
          (fun (a, b, shift) ->
              let s = extent [ a; b ] + (shift |> Array.map abs |> Array.max)
              expectCostClose p s "W_p^p(a + c, b + c) vs W_p^p(a, b)" (subject.Cost p a b) (subject.Cost p (translate shift a) (translate shift b)))
      property
          (name "invariant to permuting the points")
          200
          (gen {
              let! a, b = subject.Pair
              let! pa = Gen.shuffle [| 0 .. a.Count - 1 |]
              let! pb = Gen.shuffle [| 0 .. b.Count - 1 |]
              return a, b, pa, pb
          })
          (fun (a, b, pa, pb) ->
              expectCostClose p (extent [ a; b ]) "permuted vs original" (subject.Cost p a b) (subject.Cost p (permute pa a) (permute pb b)))
      property
          (name "zero-weight padding changes nothing")
          200
          (gen {
              let! a, b = subject.Pair
              let s = extent [ a; b ]
              let! extra = Gen.choose (1, 4)
              let! padA = points extra a.Dimension (3.0 * s)
              let! padB = points extra a.Dimension (3.0 * s)
              return a, b, padA, padB
          })
          (fun (a, b, padA, padB) ->
              expectCostClose p (extent [ a; b ]) "padded vs original" (subject.Cost p a b) (subject.Cost p (pad padA a) (pad padB b))) ]

let private empirical1 (values: float list) (weights: float list) = Empirical.OfValues(Array.ofList values, Array.ofList weights)

let private handValues =
    testList
        "hand-computed values"
        [ testCase "δ0 vs δ3: W_p^p = 3^p" <| fun () ->
              for p in orders do
                  expectClose 1e-15 $"p = {p}" (Math.Pow(3.0, p)) (OneDimensional.costP (p, [| 0.0 |], [| 1.0 |], [| 3.0 |], [| 1.0 |]))
          testCase "{0,1,2} uniform vs {0,2} uniform: W_p^p = 1/3 for every p (two intervals of length 1/6 at distance 1)" <| fun () ->
              for p in orders do
                  expectClose 1e-15 $"p = {p}" (1.0 / 3.0) (OneDimensional.costP (p, [| 2.0; 0.0; 1.0 |], [| 1.0; 1.0; 1.0 |], [| 2.0; 0.0 |], [| 5.0; 5.0 |]))
          testCase "{0,1} with weights (1/4, 3/4) vs (3/4, 1/4): W_p^p = 1/2" <| fun () ->
              for p in orders do
                  expectClose 1e-15 $"p = {p}" 0.5 (OneDimensional.costP (p, [| 0.0; 1.0 |], [| 1.0; 3.0 |], [| 0.0; 1.0 |], [| 3.0; 1.0 |]))
          testCase "W_2 between {0, 4} (weights 1/2) and δ1 is √((1 + 9)/2)" <| fun () ->
              expectClose 1e-15 "W_2" (sqrt 5.0) (OneDimensional.wasserstein (2.0, [| 0.0; 4.0 |], [| 1.0; 1.0 |], [| 1.0 |], [| 1.0 |]))
          testCase "gradient at a tie within u: the lower index owns the lower quantiles" <| fun () ->
              // u = {0, 0} with weights 1/2 each, v = {−1, 1}: u[0] is matched with −1 (Δx = +1), u[1] with +1 (Δx = −1).
              for p in orders do
                  let gu, gv = OneDimensional.costPGradient (p, [| 0.0; 0.0 |], [| 1.0; 1.0 |], [| -1.0; 1.0 |], [| 1.0; 1.0 |])
                  Expect.sequenceEqual gu [| p * 0.5; -p * 0.5 |] $"∂u, p = {p}"
                  Expect.sequenceEqual gv [| -p * 0.5; p * 0.5 |] $"∂v, p = {p}"
          testCase "gradient at a matched pair at distance zero is 0 (finite), also for p = 1" <| fun () ->
              for p in orders do
                  let gu, gv = OneDimensional.costPGradient (p, [| 2.0 |], [| 1.0 |], [| 2.0 |], [| 1.0 |])
                  Expect.sequenceEqual gu [| 0.0 |] $"∂u, p = {p}"
                  Expect.sequenceEqual gv [| 0.0 |] $"∂v, p = {p}"
          testCase "marginal cost is the sum of the coordinate costs" <| fun () ->
              let a = Empirical.Create(array2D [ [ 0.0; 10.0 ]; [ 1.0; 20.0 ] ], [| 1.0; 1.0 |])
              let b = Empirical.Create(array2D [ [ 3.0; 10.0 ] ], [| 1.0 |])
              // Coordinate 0: {0,1} vs δ3 → (9 + 4)/2; coordinate 1: {10,20} vs δ10 → (0 + 100)/2.
              expectClose 1e-15 "W_2^2" 56.5 (MarginalWasserstein.costP (2.0, a, b)) ]

let private marginalMatchesOneDimensional =
    [ for p in orders ->
          property $"marginal in d = 1 equals 1-D, p = {p}" 200 oneDimensional.Pair (fun (a, b) ->
              // OneDimensional.costP normalises the (already normalised) weights again, which can move them by an ulp.
              let s = extent [ a; b ]
              expectCostClose p s "marginal vs 1-D" (OneDimensional.costP (p, a.Column 0, a.Weights, b.Column 0, b.Weights)) (MarginalWasserstein.costP (p, a, b))
              let gu, gv = OneDimensional.costPGradient (p, a.Column 0, a.Weights, b.Column 0, b.Weights)
              let ga, gb = MarginalWasserstein.costPGradient (p, a, b)
              let tolerance = 1e-12 * p * Math.Pow(2.0 * s, p - 1.0)
              expectGradient "marginal ∂a vs 1-D ∂u" tolerance (flatten ga) gu
              expectGradient "marginal ∂b vs 1-D ∂v" tolerance (flatten gb) gv) ]

/// Distinct atoms (pairwise ≥ 1e-3·s apart across both distributions) so that the sorted order and, for p = 1,
/// the signs of the matched differences are locally constant: the cost is differentiable there and a central
/// difference with step 1e-6·s crosses no tie.
let private gradientCase =
    gen {
        let! s = scale
        let! n = Gen.choose (1, 12)
        let! m = Gen.choose (1, 12)
        let! values = separated (n + m) s
        let! uw = weights n
        let! vw = weights m
        return s, values.[.. n - 1], uw, values.[n..], vw
    }

let private marginalGradientCase =
    gen {
        let! s = scale
        let! d = Gen.choose (1, 3)
        let! n = Gen.choose (1, 8)
        let! m = Gen.choose (1, 8)
        let! columns = Gen.arrayOfLength d (separated (n + m) s)
        let! wa = weights n
        let! wb = weights m
        let a = Empirical.Create(Array2D.init n d (fun i k -> columns.[k].[i]), wa)
        let b = Empirical.Create(Array2D.init m d (fun j k -> columns.[k].[n + j]), wb)
        return s, a, b
    }

let private gradients =
    [ for p in orders do
          // Values lie in [−4s, 4s]: a gradient entry is at most p·(8s)^(p−1); the central-difference error is far
          // below 1e-6 of that (rounding ~eps·(8s)^p/h, truncation ~h²·|f'''|).
          let tolerance s = 1e-6 * p * Math.Pow(8.0 * s, p - 1.0)
          property $"1-D ∂W_p^p/∂u, ∂/∂v match central differences, p = {p}" 150 gradientCase (fun (s, u, uw, v, vw) ->
              let gu, gv = OneDimensional.costPGradient (p, u, uw, v, vw)
              let h = 1e-6 * s
              expectGradient "∂u" (tolerance s) gu (centralDifferences h (fun x -> OneDimensional.costP (p, x, uw, v, vw)) u)
              expectGradient "∂v" (tolerance s) gv (centralDifferences h (fun x -> OneDimensional.costP (p, u, uw, x, vw)) v))
          property $"marginal ∂W_p^p/∂points match central differences, p = {p}" 100 marginalGradientCase (fun (s, a, b) ->
              let ga, gb = MarginalWasserstein.costPGradient (p, a, b)
              let h = 1e-6 * s
              let costA x = MarginalWasserstein.costP (p, Empirical.Create(unflatten a.Count a.Dimension x, a.Weights), b)
              let costB x = MarginalWasserstein.costP (p, a, Empirical.Create(unflatten b.Count b.Dimension x, b.Weights))
              expectGradient "∂a" (tolerance s) (flatten ga) (centralDifferences h costA (flatten a.Points))
              expectGradient "∂b" (tolerance s) (flatten gb) (centralDifferences h costB (flatten b.Points)))
          property $"1-D gradient, ties included: finite, zero on zero weights, Σ∂u + Σ∂v = 0 (translation), p = {p}" 200 oneDimensional.Pair (fun (a, b) ->
              let gu, gv = OneDimensional.costPGradient (p, a.Column 0, a.Weights, b.Column 0, b.Weights)
              if not (Array.forall Double.IsFinite gu && Array.forall Double.IsFinite gv) then
                  failtestf "non-finite gradient %A %A" gu gv
              for i in 0 .. a.Count - 1 do
                  if a.Weights.[i] = 0.0 && gu.[i] <> 0.0 then failtestf "zero-weight atom u[%d] has gradient %g" i gu.[i]
              let total = Array.sum gu + Array.sum gv
              let size = (Array.sumBy abs gu + Array.sumBy abs gv) * 1e-12
              if abs total > size then failtestf "Σ∂u + Σ∂v = %g (gradients %A %A)" total gu gv) ]

[<Tests>]
let tests =
    testList
        "reference.one-dimensional"
        [ handValues
          testList "laws" [ for subject in [ oneDimensional; marginal ] do for p in orders do yield! laws subject p ]
          testList "marginal vs 1-D" marginalMatchesOneDimensional
          testList "gradients" gradients ]
