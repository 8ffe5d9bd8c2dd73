/// Properties of the exact optimal-transport reference (network simplex): metric axioms of W_p, invariances,
/// feasibility of the plan, optimality against independent oracles (1-D quantile formula, brute force over
/// permutations, arbitrary feasible plans), and argument checks.
module DistEmbed.Properties.ReferenceExactTransportTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators

/// The largest coordinate magnitude of two distributions (the length scale of the instance), at least 1e-300.
let private lengthScale (x: Empirical) (y: Empirical) =
    let mutable s = 1e-300
    for e in [ x; y ] do
        for v in e.Points do
            s <- max s (abs (v :?> float))
    s

/// |expected − actual| ≤ tol · (|expected| + unit): relative, with an absolute floor at the instance's cost unit.
let private expectWithin (tol: float) (unit: float) (what: string) (expected: float) (actual: float) =
    if not (abs (expected - actual) <= tol * (abs expected + unit)) then
        failtestf "%s: expected %.17g, got %.17g (|diff| = %.3g, allowed %.3g)" what expected actual (abs (expected - actual)) (tol * (abs expected + unit))

let private mapPoints (f: int -> int -> float -> float) (x: Empirical) =
    Empirical.Create(Array2D.init x.Count x.Dimension (fun i k -> f i k x.Points.[i, k]), x.Weights)

let private permute (order: int[]) (x: Empirical) =
    Empirical.Create(Array2D.init x.Count x.Dimension (fun i k -> x.Points.[order.[i], k]), Array.map (fun i -> x.Weights.[i]) order)

/// Appends k points with zero weight (padding) at the given places.
let private pad (extra: float[,]) (x: Empirical) =
    let k = Array2D.length1 extra
    let points = Array2D.init (x.Count + k) x.Dimension (fun i c -> if i < x.Count then x.Points.[i, c] else extra.[i - x.Count, c])
    Empirical.Create(points, Array.append x.Weights (Array.zeroCreate k))

/// The 1-D optimal cost by the quantile formula W_p^p = ∫₀¹ |F⁻¹(t) − G⁻¹(t)|^p dt (Peyré & Cuturi 2019, §2.6, the 1-D case),
/// evaluated exactly for step quantile functions by merging the two cumulative weight sequences.
let private quantileCost (p: float) (xs: float[]) (xw: float[]) (ys: float[]) (yw: float[]) =
    let sortBy (v: float[]) (w: float[]) =
        let order = Array.init v.Length id |> Array.sortBy (fun i -> v.[i])
        Array.map (fun i -> v.[i]) order, Array.scan (+) 0.0 (Array.map (fun i -> w.[i]) order) |> Array.tail
    let xv, cx = sortBy xs xw
    let yv, cy = sortBy ys yw
    let mutable i, j, previous, total = 0, 0, 0.0, 0.0
    while i < xv.Length && j < yv.Length do
        let t = min cx.[i] cy.[j]
        total <- total + (t - previous) * Math.Pow(abs (xv.[i] - yv.[j]), p)
        previous <- t
        if cx.[i] = t then i <- i + 1
        if cy.[j] = t then j <- j + 1
    total

let rec private permutations (items: int list) : int list list =
    match items with
    | [] -> [ [] ]
    | _ -> [ for x in items do for rest in permutations (List.filter ((<>) x) items) -> x :: rest ]

/// A north-west-corner plan after shuffling rows and columns: a feasible (generally sub-optimal) vertex.
let private northWestCorner (rowOrder: int[]) (colOrder: int[]) (a: float[]) (b: float[]) =
    let plan = Array2D.zeroCreate (a.Length) (b.Length)
    let ra = Array.copy a
    let rb = Array.copy b
    let mutable r, c = 0, 0
    while r < rowOrder.Length && c < colOrder.Length do
        let i, j = rowOrder.[r], colOrder.[c]
        let m = min ra.[i] rb.[j]
        plan.[i, j] <- plan.[i, j] + m
        ra.[i] <- ra.[i] - m
        rb.[j] <- rb.[j] - m
        if ra.[i] <= rb.[j] then r <- r + 1 else c <- c + 1
    plan

let private inner (p: float[,]) (c: float[,]) =
    let mutable s = 0.0
    for i in 0 .. Array2D.length1 p - 1 do
        for j in 0 .. Array2D.length2 p - 1 do
            s <- s + p.[i, j] * c.[i, j]
    s

let private exponent = Gen.elements [ 1.0; 2.0 ]

let private withExponent (g: Gen<'T>) = Gen.zip exponent g

let private expectArgument (param: string) (f: unit -> 'T) =
    let e = Expect.throwsC (f >> ignore) id
    match e with
    | :? ArgumentException as ae ->
        Expect.equal ae.ParamName param $"ParamName of {ae.GetType().Name}: {ae.Message}"
    | other -> failtestf "expected an ArgumentException for %s, got %s" param (other.GetType().Name)

let private expectArgumentType<'E, 'T when 'E :> exn> (param: string) (f: unit -> 'T) =
    let e = Expect.throwsC (f >> ignore) id
    Expect.equal (e.GetType()) typeof<'E> $"exception type ({e.Message})"
    Expect.equal (e :?> ArgumentException).ParamName param "ParamName"

[<Tests>]
let tests =
    testList
        "reference.exact-transport"
        [ property "W_p ≥ 0, W_p(x, x) = 0 and W_p(x, shuffled x) = 0" 150 (withExponent (Gen.zip pair (Gen.shuffle [| 0..39 |])))
          <| fun (p, ((x, y), shuffle)) ->
              let unit = lengthScale x y ** p
              Expect.isGreaterThanOrEqual (ExactTransport.wasserstein (p, x, y)) 0.0 "W_p(x, y) ≥ 0"
              Expect.isLessThanOrEqual (ExactTransport.cost (p, x, x)) (1e-12 * unit) "W_p^p(x, x)"
              let shuffled = permute (shuffle |> Array.filter (fun i -> i < x.Count)) x
              Expect.isLessThanOrEqual (ExactTransport.cost (p, x, shuffled)) (1e-12 * unit) "W_p^p(x, shuffled x)"

          property "symmetry W_p(x, y) = W_p(y, x)" 150 (withExponent pair) <| fun (p, (x, y)) ->
              let unit = lengthScale x y ** p
              expectWithin 1e-10 unit "W_p^p(y, x)" (ExactTransport.cost (p, x, y)) (ExactTransport.cost (p, y, x))

          // W_p is a metric for p ≥ 1; each side is exact to ~1e-15 relative, so 1e-9 of the length scale is ample.
          property "triangle inequality W_p(x, z) ≤ W_p(x, y) + W_p(y, z) + 1e-9·scale" 150 (withExponent triple)
          <| fun (p, (x, y, z)) ->
              let s = max (lengthScale x y) (lengthScale y z)
              let direct = ExactTransport.wasserstein (p, x, z)
              let via = ExactTransport.wasserstein (p, x, y) + ExactTransport.wasserstein (p, y, z)
              Expect.isLessThanOrEqual direct (via + 1e-9 * s) "W_p(x, z) ≤ W_p(x, y) + W_p(y, z)"

          property "translation invariance W_p(x + t, y + t) = W_p(x, y)" 150 (withExponent pair)
          <| fun (p, (x, y)) ->
              let s = lengthScale x y
              let t = Array.init x.Dimension (fun k -> s * (0.37 - 0.29 * float k))
              let shift (e: Empirical) = mapPoints (fun _ k v -> v + t.[k]) e
              expectWithin 1e-9 ((2.0 * s) ** p) "W_p^p(x + t, y + t)" (ExactTransport.cost (p, x, y)) (ExactTransport.cost (p, shift x, shift y))

          // Σ P |x_i + t − y_j|² = Σ P |x_i − y_j|² + |t|² + 2⟨t, m_x − m_y⟩ for every coupling P, so the optimum moves
          // by exactly that amount: an identity that checks optimality, not only invariance.
          property "W_2²(x + t, y) = W_2²(x, y) + |t|² + 2⟨t, mean x − mean y⟩" 150 pair <| fun (x, y) ->
              let s = lengthScale x y
              let t = Array.init x.Dimension (fun k -> s * (0.5 + 0.25 * float k))
              let mean (e: Empirical) k = Seq.sum (seq { for i in 0 .. e.Count - 1 -> e.Weights.[i] * e.Points.[i, k] })
              let shifted = mapPoints (fun _ k v -> v + t.[k]) x
              let expected =
                  ExactTransport.cost (2.0, x, y)
                  + Array.sumBy (fun v -> v * v) t
                  + 2.0 * Seq.sum (seq { for k in 0 .. x.Dimension - 1 -> t.[k] * (mean x k - mean y k) })
              expectWithin 1e-9 ((3.0 * s) ** 2.0) "W_2²(x + t, y)" expected (ExactTransport.cost (2.0, shifted, y))

          property "homogeneity W_p^p(c·x, c·y) = c^p W_p^p(x, y)" 100 (withExponent (Gen.zip pair (Gen.elements [ 1e-3; 0.5; 7.0; 1e3 ])))
          <| fun (p, ((x, y), c)) ->
              let unit = (c * lengthScale x y) ** p
              let scaled (e: Empirical) = mapPoints (fun _ _ v -> c * v) e
              expectWithin 1e-10 unit "W_p^p(c·x, c·y)" (c ** p * ExactTransport.cost (p, x, y)) (ExactTransport.cost (p, scaled x, scaled y))

          property "permutation invariance of the points" 150 (withExponent (Gen.zip pair (Gen.zip (Gen.shuffle [| 0..39 |]) (Gen.shuffle [| 0..39 |]))))
          <| fun (p, ((x, y), (s1, s2))) ->
              let order (n: int) (s: int[]) = s |> Array.filter (fun i -> i < n)
              let unit = lengthScale x y ** p
              expectWithin 1e-10 unit "W_p^p(σx, τy)" (ExactTransport.cost (p, x, y)) (ExactTransport.cost (p, permute (order x.Count s1) x, permute (order y.Count s2) y))

          property "zero-weight padding changes nothing and gets no mass" 150 (withExponent (Gen.zip pair (Gen.choose (1, 4))))
          <| fun (p, ((x, y), k)) ->
              let s = lengthScale x y
              let extra = Array2D.init k x.Dimension (fun i c -> s * (float (i + 1) - 0.3 * float c))
              let px, py = pad extra x, pad extra y
              let reference = ExactTransport.cost (p, x, y)
              expectWithin 1e-12 (s ** p) "W_p^p with padding" reference (ExactTransport.cost (p, px, py))
              let plan = (ExactTransport.solve (ExactTransport.groundCost (p, px, py), px.Weights, py.Weights)).Plan
              for i in x.Count .. px.Count - 1 do
                  for j in 0 .. py.Count - 1 do
                      Expect.equal plan.[i, j] 0.0 "no mass on a padded row"
              for j in y.Count .. py.Count - 1 do
                  for i in 0 .. px.Count - 1 do
                      Expect.equal plan.[i, j] 0.0 "no mass on a padded column"

          property "the plan is a coupling (marginals to 1e-12, P ≥ 0), a vertex (≤ n + m − 1 entries) and Cost = ⟨P, C⟩" 200 (withExponent pair)
          <| fun (p, (x, y)) ->
              let c = ExactTransport.groundCost (p, x, y)
              let r = ExactTransport.solve (c, x.Weights, y.Weights)
              let n, m = x.Count, y.Count
              let mutable support = 0
              for i in 0 .. n - 1 do
                  for j in 0 .. m - 1 do
                      Expect.isGreaterThanOrEqual r.Plan.[i, j] 0.0 "P ≥ 0"
                      if r.Plan.[i, j] > 0.0 then support <- support + 1
              for i in 0 .. n - 1 do
                  let row = Seq.sum (seq { for j in 0 .. m - 1 -> r.Plan.[i, j] })
                  Expect.isLessThanOrEqual (abs (row - x.Weights.[i])) 1e-12 $"row {i} sum"
              for j in 0 .. m - 1 do
                  let col = Seq.sum (seq { for i in 0 .. n - 1 -> r.Plan.[i, j] })
                  Expect.isLessThanOrEqual (abs (col - y.Weights.[j])) 1e-12 $"column {j} sum"
              Expect.isLessThanOrEqual support (n + m - 1) "a basic solution has at most n + m − 1 positive entries"
              expectWithin 1e-12 (lengthScale x y ** p) "Cost = ⟨P, C⟩" (inner r.Plan c) r.Cost

          property "d = 1: equals the sorted-quantile formula" 200
              (withExponent (scale |> Gen.bind (fun s -> Gen.zip (empiricalAt 1 s) (empiricalAt 1 s))))
          <| fun (p, (x, y)) ->
              let expected = quantileCost p (x.Column 0) x.Weights (y.Column 0) y.Weights
              expectWithin 1e-10 (lengthScale x y ** p) "W_p^p (1-D)" expected (ExactTransport.cost (p, x, y))

          property "uniform n = m ≤ 6: equals the best assignment over all permutations" 120
              (withExponent (Gen.zip (Gen.choose (1, 6)) (Gen.zip dimension scale)) |> Gen.bind (fun (p, (n, (d, s))) ->
                  Gen.zip (points n d s) (points n d s) |> Gen.map (fun (u, v) -> p, Empirical.Uniform u, Empirical.Uniform v)))
          <| fun (p, x, y) ->
              let c = ExactTransport.groundCost (p, x, y)
              let n = x.Count
              let best =
                  permutations [ 0 .. n - 1 ]
                  |> List.map (fun sigma -> (sigma |> List.mapi (fun i j -> c.[i, j]) |> List.sum) / float n)
                  |> List.min
              expectWithin 1e-10 (lengthScale x y ** p) "W_p^p vs brute force" best (ExactTransport.cost (p, x, y))

          property "cost ≤ cost of the independent coupling a⊗b and of a shuffled north-west-corner plan" 150
              (withExponent (Gen.zip pair (Gen.zip (Gen.shuffle [| 0..39 |]) (Gen.shuffle [| 0..39 |]))))
          <| fun (p, ((x, y), (s1, s2))) ->
              let c = ExactTransport.groundCost (p, x, y)
              let optimal = ExactTransport.cost (p, x, y)
              let slack = 1e-12 * lengthScale x y ** p
              let independent = Array2D.init x.Count y.Count (fun i j -> x.Weights.[i] * y.Weights.[j])
              Expect.isLessThanOrEqual optimal (inner independent c + slack) "≤ ⟨a⊗b, C⟩"
              let nw = northWestCorner (s1 |> Array.filter (fun i -> i < x.Count)) (s2 |> Array.filter (fun i -> i < y.Count)) x.Weights y.Weights
              Expect.isLessThanOrEqual optimal (inner nw c + slack) "≤ ⟨north-west corner plan, C⟩"

          property "solve(C + k, a, b) = solve(C, a, b) + k for any constant k (negative costs included)" 100
              (Gen.zip pair (Gen.elements [ -1e3; -2.5; 0.75; 40.0 ]))
          <| fun ((x, y), k) ->
              let c = ExactTransport.groundCost (1.0, x, y)
              let shifted = Array2D.map (fun v -> v + k) c
              let unit = lengthScale x y + abs k
              expectWithin 1e-10 unit "shifted cost" ((ExactTransport.solve (c, x.Weights, y.Weights)).Cost + k) (ExactTransport.solve (shifted, x.Weights, y.Weights)).Cost

          testCase "degenerate instances: constant costs, one point, 128 tied integer points (d = 1)" <| fun () ->
              let r = ExactTransport.solve (Array2D.create 5 7 3.5, Array.create 5 1.0, Array.create 7 1.0)
              expectClose 1e-14 "constant cost" 3.5 r.Cost
              let one = Empirical.OfValues([| 2.0 |], [| 1.0 |])
              let many = Empirical.OfValues([| -1.0; 0.0; 4.0 |], [| 1.0; 2.0; 1.0 |])
              expectClose 1e-14 "W_1(δ_2, y)" ((3.0 + 2.0 * 2.0 + 2.0) / 4.0) (ExactTransport.cost (1.0, one, many))
              let values k = Array.init 128 (fun i -> float ((i * k) % 9 - 4))
              let x = Empirical.OfValues(values 5, Array.init 128 (fun i -> float (i % 3)))
              let y = Empirical.OfValues(values 7, Array.init 128 (fun i -> float (1 + i % 2)))
              for p in [ 1.0; 2.0 ] do
                  expectClose 1e-12 $"W_{p}^{p} with ties" (quantileCost p (x.Column 0) x.Weights (y.Column 0) y.Weights) (ExactTransport.cost (p, x, y))

          testCase "128 × 128 uniform clouds in d = 16: a coupling that beats 200 random north-west-corner plans" <| fun () ->
              let rng = Random(17)
              let cloud () = Array2D.init 128 16 (fun _ _ -> rng.NextDouble() * 2.0 - 1.0)
              let x, y = Empirical.Uniform(cloud ()), Empirical.Uniform(cloud ())
              let c = ExactTransport.groundCost (2.0, x, y)
              let r = ExactTransport.solve (c, x.Weights, y.Weights)
              for _ in 1 .. 200 do
                  let order () = Array.init 128 id |> Array.sortBy (fun _ -> rng.Next())
                  Expect.isLessThan r.Cost (inner (northWestCorner (order ()) (order ()) x.Weights y.Weights) c) "random vertex"
              for i in 0 .. 127 do
                  Expect.isLessThanOrEqual (abs (Seq.sum (seq { for j in 0 .. 127 -> r.Plan.[i, j] }) - 1.0 / 128.0)) 1e-12 "row sum"
              // Uniform equal sizes: an optimal vertex is a permutation matrix scaled by 1/n (Birkhoff).
              for v in r.Plan do
                  let v = v :?> float
                  Expect.isTrue (v = 0.0 || abs (v - 1.0 / 128.0) <= 1e-15) $"entry {v} is 0 or 1/128"

          testList
              "bad input"
              [ let c = Array2D.create 2 3 1.0
                let a = [| 0.5; 0.5 |]
                let b = [| 1.0; 1.0; 1.0 |]
                testCase "cost null" <| fun () -> expectArgumentType<ArgumentNullException, _> "cost" (fun () -> ExactTransport.solve (null, a, b))
                testCase "a null" <| fun () -> expectArgumentType<ArgumentNullException, _> "a" (fun () -> ExactTransport.solve (c, null, b))
                testCase "b null" <| fun () -> expectArgumentType<ArgumentNullException, _> "b" (fun () -> ExactTransport.solve (c, a, null))
                testCase "a empty" <| fun () -> expectArgument "a" (fun () -> ExactTransport.solve (Array2D.zeroCreate 0 3, [||], b))
                testCase "a negative" <| fun () -> expectArgument "a" (fun () -> ExactTransport.solve (c, [| -0.5; 1.5 |], b))
                testCase "a NaN" <| fun () -> expectArgument "a" (fun () -> ExactTransport.solve (c, [| nan; 1.0 |], b))
                testCase "a all zero" <| fun () -> expectArgument "a" (fun () -> ExactTransport.solve (c, [| 0.0; 0.0 |], b))
                testCase "b infinite" <| fun () -> expectArgument "b" (fun () -> ExactTransport.solve (c, a, [| 1.0; infinity; 1.0 |]))
                testCase "b negative" <| fun () -> expectArgument "b" (fun () -> ExactTransport.solve (c, a, [| 1.0; -1.0; 1.0 |]))
                testCase "cost shape ≠ a × b" <| fun () -> expectArgument "cost" (fun () -> ExactTransport.solve (Array2D.create 3 2 1.0, a, b))
                testCase "cost NaN" <| fun () ->
                    let bad = Array2D.copy c
                    bad.[1, 2] <- nan
                    expectArgument "cost" (fun () -> ExactTransport.solve (bad, a, b))
                testCase "cost infinite" <| fun () ->
                    let bad = Array2D.copy c
                    bad.[0, 1] <- -infinity
                    expectArgument "cost" (fun () -> ExactTransport.solve (bad, a, b))
                let x = Empirical.Uniform(Array2D.create 2 2 0.0)
                let y3 = Empirical.Uniform(Array2D.create 2 3 0.0)
                testCase "p < 1" <| fun () -> expectArgument "p" (fun () -> ExactTransport.cost (0.5, x, x))
                testCase "p NaN" <| fun () -> expectArgument "p" (fun () -> ExactTransport.wasserstein (nan, x, x))
                testCase "p infinite" <| fun () -> expectArgument "p" (fun () -> ExactTransport.groundCost (infinity, x, x))
                testCase "x null" <| fun () -> expectArgumentType<ArgumentNullException, _> "x" (fun () -> ExactTransport.cost (1.0, Unchecked.defaultof<Empirical>, x))
                testCase "y null" <| fun () -> expectArgumentType<ArgumentNullException, _> "y" (fun () -> ExactTransport.groundCost (1.0, x, Unchecked.defaultof<Empirical>))
                testCase "dimensions differ" <| fun () -> expectArgument "y" (fun () -> ExactTransport.wasserstein (2.0, x, y3)) ] ]
