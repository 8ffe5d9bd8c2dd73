/// Properties of the log-domain Sinkhorn reference: feasibility of the plan, the sandwich
/// W ≤ ⟨P, C⟩ ≤ OT_ε ≤ W + ε·min(H(a), H(b)) against the exact solver, the primal–dual gap (which pins down the
/// KL(P | a⊗b) convention), monotone convergence as ε → 0, the ε → ∞ limit, the debiased divergence, finiteness
/// for small ε and large costs, and argument checks.
module DistEmbed.Properties.ReferenceSinkhornTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators

let private maxCost (c: float[,]) =
    let mutable m = 0.0
    for v in c do
        m <- max m (abs (v :?> float))
    m

/// Shannon entropy H(w) = −Σ w log w (0 log 0 = 0).
let private entropy (w: float[]) = -(w |> Array.sumBy (fun v -> if v > 0.0 then v * log v else 0.0))

/// KL(P | a⊗b) = Σ P log(P / (a_i b_j)) − Σ P + 1 over the support of a⊗b.
let private klToProduct (plan: float[,]) (a: float[]) (b: float[]) =
    let mutable s = 1.0
    for i in 0 .. a.Length - 1 do
        for j in 0 .. b.Length - 1 do
            let pij = plan.[i, j]
            if pij > 0.0 then s <- s + pij * log (pij / (a.[i] * b.[j])) - pij
    s

let private inner (p: float[,]) (c: float[,]) =
    let mutable s = 0.0
    for i in 0 .. Array2D.length1 p - 1 do
        for j in 0 .. Array2D.length2 p - 1 do
            s <- s + p.[i, j] * c.[i, j]
    s

let private l1Marginals (plan: float[,]) (a: float[]) (b: float[]) =
    let mutable e = 0.0
    for i in 0 .. a.Length - 1 do
        e <- e + abs (Seq.sum (seq { for j in 0 .. b.Length - 1 -> plan.[i, j] }) - a.[i])
    for j in 0 .. b.Length - 1 do
        e <- e + abs (Seq.sum (seq { for i in 0 .. a.Length - 1 -> plan.[i, j] }) - b.[j])
    e

let private allFinite (values: seq<float>) = values |> Seq.forall Double.IsFinite

let private finite2D (m: float[,]) = allFinite (Seq.cast<float> m)

/// An instance: a pair of distributions, p ∈ {1, 2}, and ε as a fraction of the largest cost.
let private instance (fractions: float list) =
    Gen.zip (Gen.elements [ 1.0; 2.0 ]) (Gen.zip pair (Gen.elements fractions))
    |> Gen.map (fun (p, ((x, y), fraction)) ->
        let c = ExactTransport.groundCost (p, x, y)
        let m = maxCost c
        let epsilon = if m > 0.0 then fraction * m else 1.0
        p, x, y, c, epsilon)

/// |expected − actual| ≤ tol · (|expected| + unit): relative, with an absolute floor at the instance's unit.
let private expectWithin (tol: float) (unit: float) (what: string) (expected: float) (actual: float) =
    if not (abs (expected - actual) <= tol * (abs expected + unit)) then
        failtestf "%s: expected %.17g, got %.17g (|diff| = %.3g, allowed %.3g)" what expected actual (abs (expected - actual)) (tol * (abs expected + unit))

let private tolerance = 1e-10
let private iterations = 100000

let private expectArgument (param: string) (f: unit -> 'T) =
    let e = Expect.throwsC (f >> ignore) id
    match e with
    | :? ArgumentException as ae -> Expect.equal ae.ParamName param $"ParamName ({ae.Message})"
    | other -> failtestf "expected an ArgumentException for %s, got %s" param (other.GetType().Name)

[<Tests>]
let tests =
    testList
        "reference.sinkhorn"
        [ property "converged plans are couplings to the tolerance; MarginalError is the plan's own L1 error" 120 (instance [ 1.0; 0.3; 0.1 ])
          <| fun (_, x, y, c, epsilon) ->
              let r = Sinkhorn.solve (c, x.Weights, y.Weights, epsilon, iterations, tolerance)
              Expect.isLessThan r.Iterations iterations "converged"
              Expect.isLessThanOrEqual r.MarginalError (tolerance + 1e-14) "MarginalError ≤ tolerance"
              let recomputed = l1Marginals r.Plan x.Weights y.Weights
              Expect.isLessThanOrEqual (abs (recomputed - r.MarginalError)) 1e-14 "MarginalError = ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁"
              for i in 0 .. x.Count - 1 do
                  for j in 0 .. y.Count - 1 do
                      Expect.isGreaterThanOrEqual r.Plan.[i, j] 0.0 "P ≥ 0"
                      if x.Weights.[i] = 0.0 || y.Weights.[j] = 0.0 then Expect.equal r.Plan.[i, j] 0.0 "no mass on zero weights"
              expectWithin 1e-12 (maxCost c) "TransportCost = ⟨P, C⟩" (inner r.Plan c) r.TransportCost
              Expect.isTrue (allFinite r.F && allFinite r.G) "finite potentials"

          // Altschuler et al. 2017, Lemma 7: a plan with L1 marginal error δ is within 2δ·max C of a coupling, so
          // ⟨P, C⟩ ≥ W − 2δ·max C whether or not the iterations converged (here they are cut at 25).
          property "⟨P, C⟩ ≥ W − 2·MarginalError·max C, converged or not" 150 (instance [ 1.0; 0.1; 0.01 ])
          <| fun (_, x, y, c, epsilon) ->
              let exact = (ExactTransport.solve (c, x.Weights, y.Weights)).Cost
              let m = maxCost c
              for cap in [ 25; iterations ] do
                  let r = Sinkhorn.solve (c, x.Weights, y.Weights, epsilon, cap, tolerance)
                  Expect.isGreaterThanOrEqual r.TransportCost (exact - 2.0 * r.MarginalError * m - 1e-12 * m) $"⟨P, C⟩ ≥ W − 2δ max C (cap {cap})"

          // W ≤ ⟨P_ε, C⟩ ≤ OT_ε ≤ W + ε·KL(P* | a⊗b) ≤ W + ε·min(H(a), H(b)) (the mutual information of a coupling is at
          // most either marginal's entropy); slack: the marginal error bound plus 1e-9·max C of convergence error.
          property "W ≤ ⟨P, C⟩ ≤ EntropicCost ≤ W + ε·min(H(a), H(b))" 150 (instance [ 1.0; 0.3; 0.1; 0.03 ])
          <| fun (_, x, y, c, epsilon) ->
              let exact = (ExactTransport.solve (c, x.Weights, y.Weights)).Cost
              let r = Sinkhorn.solve (c, x.Weights, y.Weights, epsilon, iterations, tolerance)
              let m = maxCost c
              let slack = 2.0 * r.MarginalError * m + 1e-9 * m
              let bias = epsilon * min (entropy x.Weights) (entropy y.Weights)
              Expect.isGreaterThanOrEqual r.TransportCost (exact - slack) "⟨P, C⟩ ≥ W"
              Expect.isLessThanOrEqual r.TransportCost (r.EntropicCost + slack) "⟨P, C⟩ ≤ OT_ε"
              Expect.isLessThanOrEqual r.EntropicCost (exact + bias + slack) "OT_ε ≤ W + ε min(H(a), H(b))"

          // At the fixed point the dual value ⟨f, a⟩ + ⟨g, b⟩ equals the primal value ⟨P, C⟩ + ε KL(P | a⊗b): this is
          // what makes EntropicCost the KL(P | a⊗b) convention of Feydy et al. (POT's Σ P log P would differ by
          // ε(H(a) + H(b))).
          property "EntropicCost = ⟨P, C⟩ + ε KL(P | a⊗b) (zero duality gap)" 150 (instance [ 1.0; 0.3; 0.1 ])
          <| fun (_, x, y, c, epsilon) ->
              let r = Sinkhorn.solve (c, x.Weights, y.Weights, epsilon, iterations, 1e-12)
              let primal = r.TransportCost + epsilon * klToProduct r.Plan x.Weights y.Weights
              let m = maxCost c
              Expect.isLessThanOrEqual (abs (primal - r.EntropicCost)) (1e-9 * (m + epsilon)) "primal − dual"
              let i = Array.findIndex (fun w -> w > 0.0) x.Weights
              let j = Array.findIndex (fun w -> w > 0.0) y.Weights
              let expected = x.Weights.[i] * y.Weights.[j] * exp ((r.F.[i] + r.G.[j] - c.[i, j]) / epsilon)
              expectWithin 1e-11 0.0 "P_ij = a_i b_j exp((f_i + g_j − C_ij)/ε)" expected r.Plan.[i, j]

          // ε ↦ ⟨P_ε, C⟩ is non-decreasing: for ε₁ < ε₂ optimality of each plan gives (ε₁ − ε₂)(KL₁ − KL₂) ≤ 0, hence
          // C₁ ≤ C₂ + ε₁(KL₂ − KL₁) ≤ C₂. Checked on a decreasing grid, ending within ε·min(H(a), H(b)) of W.
          property "⟨P_ε, C⟩ decreases monotonically to W as ε → 0" 40
              (Gen.zip (Gen.elements [ 1.0; 2.0 ]) pair |> Gen.map (fun (p, (x, y)) -> p, x, y, ExactTransport.groundCost (p, x, y)))
          <| fun (_, x, y, c) ->
              let m = maxCost c
              let exact = (ExactTransport.solve (c, x.Weights, y.Weights)).Cost
              let grid = [ 2.0; 1.0; 0.5; 0.2; 0.1; 0.05; 0.02 ] |> List.map (fun f -> f * max m 1e-300)
              let costs =
                  grid
                  |> List.map (fun epsilon ->
                      let r = Sinkhorn.solve (c, x.Weights, y.Weights, epsilon, iterations, 1e-12)
                      Expect.isLessThan r.Iterations iterations $"converged at ε = {epsilon}"
                      r.TransportCost)
              for (larger, smaller) in List.pairwise costs do
                  Expect.isLessThanOrEqual smaller (larger + 1e-9 * m) "⟨P_ε, C⟩ non-increasing as ε decreases"
              let last = List.last costs
              let bias = List.last grid * min (entropy x.Weights) (entropy y.Weights)
              Expect.isGreaterThanOrEqual last (exact - 1e-9 * m) "≥ W"
              Expect.isLessThanOrEqual last (exact + bias + 1e-9 * m) "≤ W + ε min(H(a), H(b))"

          property "ε → ∞: the plan tends to the independent coupling a⊗b" 60 (instance [ 1.0 ])
          <| fun (_, x, y, c, _) ->
              let m = maxCost c
              let r = Sinkhorn.solve (c, x.Weights, y.Weights, 1e7 * max m 1e-300, iterations, tolerance)
              let independent = Array2D.init x.Count y.Count (fun i j -> x.Weights.[i] * y.Weights.[j])
              Expect.isLessThanOrEqual (abs (r.TransportCost - inner independent c)) (1e-6 * m) "⟨P, C⟩ → ⟨a⊗b, C⟩"

          property "zero-weight padding changes nothing; padded potentials are the soft c-transforms" 100
              (Gen.zip (instance [ 1.0; 0.2 ]) (Gen.choose (1, 3)))
          <| fun ((p, x, y, _, epsilon), k) ->
              let s = 1.0 + (Seq.cast<float> x.Points |> Seq.map abs |> Seq.max)
              let extra = Array2D.init k x.Dimension (fun i d -> s * (float i + 0.5 - 0.1 * float d))
              let padded = Empirical.Create(Array2D.init (x.Count + k) x.Dimension (fun i d -> if i < x.Count then x.Points.[i, d] else extra.[i - x.Count, d]), Array.append x.Weights (Array.zeroCreate k))
              let plain = Sinkhorn.solvePoints (p, x, y, epsilon, iterations, tolerance)
              let r = Sinkhorn.solvePoints (p, padded, y, epsilon, iterations, tolerance)
              // Equal up to the renormalisation of the padded weights (their sum is 1 only to rounding).
              let unit = maxCost (ExactTransport.groundCost (p, x, y)) + epsilon
              expectWithin 1e-12 unit "TransportCost" plain.TransportCost r.TransportCost
              expectWithin 1e-12 unit "EntropicCost" plain.EntropicCost r.EntropicCost
              let c = ExactTransport.groundCost (p, padded, y)
              for i in x.Count .. padded.Count - 1 do
                  let softMin = -epsilon * log (Seq.sum (seq { for j in 0 .. y.Count - 1 -> y.Weights.[j] * exp ((r.G.[j] - c.[i, j]) / epsilon) }))
                  expectWithin 1e-9 unit $"f on padded row {i}" softMin r.F.[i]

          // Not S_ε(x, x) on the same arrays (three identical solves cancel whatever they compute): the same measure
          // written differently, so a solver that depended on order, duplicates or padding would show.
          property "S_ε(x, x′) ≈ 0 for x′ = x shuffled, an atom split into two halves, a zero-weight point added" 60 (Gen.zip (instance [ 1.0; 0.1 ]) (Gen.shuffle [| 0..39 |]))
          <| fun ((p, x, _, _, epsilon), shuffle) ->
              let order = shuffle |> Array.filter (fun i -> i < x.Count)
              // Shuffled, the first atom split into two halves (rows 0 and Count), and a far zero-weight point last.
              let far = 1.0 + 10.0 * (x.Points |> Seq.cast<float> |> Seq.map abs |> Seq.max)
              let points =
                  Array2D.init (x.Count + 2) x.Dimension (fun i d ->
                      if i < x.Count then x.Points.[order.[i], d] elif i = x.Count then x.Points.[order.[0], d] else far)
              let weights =
                  Array.init (x.Count + 2) (fun i ->
                      if i = 0 || i = x.Count then 0.5 * x.Weights.[order.[0]] elif i > x.Count then 0.0 else x.Weights.[order.[i]])
              let same = Empirical.Create(points, weights)
              let m = maxCost (ExactTransport.groundCost (p, x, x))
              Expect.isLessThanOrEqual (abs (Sinkhorn.divergence (p, x, same, epsilon, iterations, 1e-12))) (1e-9 * (m + epsilon)) "S_ε(x, x′)"

          property "S_ε(x, y) ≥ 0 and symmetric (p ∈ {1, 2}, Feydy et al. 2019 Thm 1)" 100 (instance [ 1.0; 0.3; 0.1 ])
          <| fun (p, x, y, c, epsilon) ->
              let m = maxCost c + maxCost (ExactTransport.groundCost (p, x, x)) + maxCost (ExactTransport.groundCost (p, y, y))
              let s = Sinkhorn.divergence (p, x, y, epsilon, iterations, 1e-12)
              Expect.isGreaterThanOrEqual s (-1e-9 * (m + epsilon)) "S_ε ≥ 0"
              let t = Sinkhorn.divergence (p, y, x, epsilon, iterations, 1e-12)
              Expect.isLessThanOrEqual (abs (s - t)) (1e-9 * (m + epsilon)) "S_ε(x, y) = S_ε(y, x)"

          // Far-apart clusters make every C_ij/ε exceed 745, where exp underflows to 0 in float64: only a log-domain
          // solver with the maximum factored out of each log-sum-exp survives.
          testCase "stays finite for ε = 1e-3·max C with costs up to 1e4 and beyond, and for far-apart clusters" <| fun () ->
              let rng = Random(5)
              for p, s, offset in [ 1.0, 5e3, 0.0; 2.0, 1e2, 0.0; 2.0, 1e3, 0.0; 2.0, 1.0, 30.0; 1.0, 1e2, 1e4 ] do
                  let cloud n shift = Array2D.init n 3 (fun _ _ -> s * (rng.NextDouble() - 0.5) + shift)
                  let x = Empirical.Create(cloud 30 0.0, Array.init 30 (fun i -> float (i % 4)))
                  let y = Empirical.Create(cloud 25 offset, Array.init 25 (fun i -> float (1 + i % 3)))
                  let c = ExactTransport.groundCost (p, x, y)
                  let m = maxCost c
                  Expect.isGreaterThan m 1e3 "large costs"
                  for fraction in [ 1e-2; 1e-3 ] do
                      let r = Sinkhorn.solve (c, x.Weights, y.Weights, fraction * m, 300, 1e-12)
                      Expect.isTrue (Double.IsFinite r.TransportCost && Double.IsFinite r.EntropicCost && Double.IsFinite r.MarginalError) "finite costs"
                      Expect.isTrue (allFinite r.F && allFinite r.G && finite2D r.Plan) "finite potentials and plan"
                      let exact = (ExactTransport.solve (c, x.Weights, y.Weights)).Cost
                      Expect.isGreaterThanOrEqual r.TransportCost (exact - 2.0 * r.MarginalError * m - 1e-12 * m) "⟨P, C⟩ ≥ W − 2δ max C"
                      Expect.isLessThan r.MarginalError 2.0 "the plan carries mass"
                      Expect.isTrue (Double.IsFinite (Sinkhorn.divergence (p, x, y, fraction * m, 300, 1e-12))) "finite S_ε"

          // Closed form: OT_ε(δ_x, b) = ⟨b, C(x, ·)⟩ (the only coupling, KL = 0) and, for b = ½δ_y₁ + ½δ_y₂ with
          // C(y₁, y₂) = c, the optimal self-coupling puts q/2 on the diagonal with q = 1/(1 + e^{−c/ε}), so
          // OT_ε(b, b) = (1 − q)c + ε(log 2 + q log q + (1 − q) log(1 − q)). Then S_ε(δ_x, b) = ⟨b, C(x, ·)⟩ − ½OT_ε(b, b).
          property "closed form of OT_ε(b, b) and S_ε(δ_x, b) for a two-point b" 100
              (Gen.zip (Gen.elements [ 1.0; 2.0 ]) (Gen.zip (Gen.elements [ 0.05; 0.3; 1.0; 5.0 ]) (Gen.arrayOfLength 9 (Gen.choose (-100, 100)))))
          <| fun (p, (fraction, v)) ->
              let point k = Array2D.init 1 3 (fun _ d -> float v.[3 * k + d] / 10.0)
              let x = Empirical.Uniform(point 0)
              let y = Empirical.Uniform(Array2D.init 2 3 (fun i d -> (point (i + 1)).[0, d]))
              let cyy = ExactTransport.groundCost (p, y, y)
              let cxy = ExactTransport.groundCost (p, x, y)
              let c = cyy.[0, 1]
              let epsilon = fraction * (c + 1.0)
              let q = 1.0 / (1.0 + exp (-c / epsilon))
              let xlogx t = if t > 0.0 then t * log t else 0.0
              let selfCost = (1.0 - q) * c + epsilon * (log 2.0 + xlogx q + xlogx (1.0 - q))
              let unit = c + cxy.[0, 0] + cxy.[0, 1] + epsilon
              expectWithin 1e-9 unit "OT_ε(b, b)" selfCost (Sinkhorn.solvePoints (p, y, y, epsilon, iterations, 1e-13)).EntropicCost
              let expected = 0.5 * (cxy.[0, 0] + cxy.[0, 1]) - 0.5 * selfCost
              expectWithin 1e-9 unit "S_ε(δ_x, b)" expected (Sinkhorn.divergence (p, x, y, epsilon, iterations, 1e-13))

          testList
              "bad input"
              [ let c = Array2D.create 2 3 1.0
                let a = [| 0.5; 0.5 |]
                let b = [| 1.0; 1.0; 1.0 |]
                let x = Empirical.Uniform(Array2D.create 2 2 0.0)
                testCase "cost null" <| fun () -> expectArgument "cost" (fun () -> Sinkhorn.solve (null, a, b, 1.0, 10, 1e-9))
                testCase "a negative" <| fun () -> expectArgument "a" (fun () -> Sinkhorn.solve (c, [| 1.0; -1.0 |], b, 1.0, 10, 1e-9))
                testCase "a all zero" <| fun () -> expectArgument "a" (fun () -> Sinkhorn.solve (c, [| 0.0; 0.0 |], b, 1.0, 10, 1e-9))
                testCase "b NaN" <| fun () -> expectArgument "b" (fun () -> Sinkhorn.solve (c, a, [| 1.0; nan; 1.0 |], 1.0, 10, 1e-9))
                testCase "b null" <| fun () -> expectArgument "b" (fun () -> Sinkhorn.solve (c, a, null, 1.0, 10, 1e-9))
                testCase "cost shape" <| fun () -> expectArgument "cost" (fun () -> Sinkhorn.solve (Array2D.create 2 2 1.0, a, b, 1.0, 10, 1e-9))
                testCase "cost infinite" <| fun () ->
                    let bad = Array2D.copy c
                    bad.[1, 1] <- infinity
                    expectArgument "cost" (fun () -> Sinkhorn.solve (bad, a, b, 1.0, 10, 1e-9))
                testCase "epsilon zero" <| fun () -> expectArgument "epsilon" (fun () -> Sinkhorn.solve (c, a, b, 0.0, 10, 1e-9))
                testCase "epsilon negative" <| fun () -> expectArgument "epsilon" (fun () -> Sinkhorn.solvePoints (1.0, x, x, -1.0, 10, 1e-9))
                testCase "epsilon NaN" <| fun () -> expectArgument "epsilon" (fun () -> Sinkhorn.divergence (1.0, x, x, nan, 10, 1e-9))
                testCase "epsilon infinite" <| fun () -> expectArgument "epsilon" (fun () -> Sinkhorn.solve (c, a, b, infinity, 10, 1e-9))
                testCase "maxIterations zero" <| fun () -> expectArgument "maxIterations" (fun () -> Sinkhorn.solve (c, a, b, 1.0, 0, 1e-9))
                testCase "tolerance zero" <| fun () -> expectArgument "tolerance" (fun () -> Sinkhorn.solve (c, a, b, 1.0, 10, 0.0))
                testCase "tolerance NaN" <| fun () -> expectArgument "tolerance" (fun () -> Sinkhorn.divergence (2.0, x, x, 1.0, 10, nan))
                testCase "p < 1" <| fun () -> expectArgument "p" (fun () -> Sinkhorn.solvePoints (0.9, x, x, 1.0, 10, 1e-9))
                testCase "p NaN (divergence)" <| fun () -> expectArgument "p" (fun () -> Sinkhorn.divergence (nan, x, x, 1.0, 10, 1e-9))
                testCase "dimensions differ" <| fun () ->
                    expectArgument "y" (fun () -> Sinkhorn.solvePoints (2.0, x, Empirical.Uniform(Array2D.create 1 3 0.0), 1.0, 10, 1e-9)) ] ]
