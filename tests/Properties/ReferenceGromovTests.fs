/// Properties of the Gromov–Wasserstein reference (conditional gradient and entropic mirror descent): zero between
/// isometric copies, invariance to isometries of either space, symmetry, homogeneity, non-negativity, feasibility
/// of the plan, the eq. 6 value against the quadruple sum, monotone descent, zero-weight points, the entropic value
/// on isometric copies as ε → 0, and argument checks.
module DistEmbed.Properties.ReferenceGromovTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport

/// POT 0.8.2's defaults.
let private cg (c1, c2, p, q) = GromovWasserstein.conditionalGradient (c1, c2, p, q, 200, 1e-9, 1e-9)
let private entropicAt epsilon (c1, c2, p, q) = GromovWasserstein.entropic (c1, c2, p, q, epsilon, 1000, 1e-9)

/// Euclidean distances between the rows of x, from the differences.
let private distances (x: float[,]) =
    let n, d = Array2D.length1 x, Array2D.length2 x
    Array2D.init n n (fun i k -> sqrt (Seq.sum (seq { for c in 0 .. d - 1 -> (x.[i, c] - x.[k, c]) ** 2.0 })))

let private maxAbs (c: float[,]) = Seq.cast<float> c |> Seq.fold (fun s v -> max s (abs v)) 0.0

/// n points in ℝ^d at scale s, continuous coordinates (no ties), n ≥ 3 so that the first linear minimisation from
/// p qᵀ has a unique solution (for n = 2 and uniform weights every coupling is optimal and the vertex is arbitrary).
let private cloud (s: float) : Gen<float[,]> =
    gen {
        let! n = Gen.choose (3, 8)
        let! d = Gen.choose (1, 3)
        let! v = Gen.arrayOfLength (n * d) (Gen.choose (-1000000, 1000000))
        return Array2D.init n d (fun i k -> s * float v.[i * d + k] / 1e6)
    }

let private positiveWeights (n: int) : Gen<float[]> =
    Gen.oneof [ Gen.constant (Array.create n 1.0); Gen.arrayOfLength n (Gen.choose (1, 100) |> Gen.map float) ]

/// True when two entries of u = C p are within 1e-9 relative: then the first linear minimisation from p qᵀ (cost
/// f_i + g_j − 4 u_i v_j, Peyré et al. 2016 eq. 6) has several optimal vertices and which one the simplex picks
/// depends on the order of the rows — the solver is then not equivariant, by the nature of the problem. (Always so for
/// the two middle points of an even 1-D cloud with uniform weights.)
let private firstStepTie (x: float[,]) (w: float[]) =
    let c = distances x
    let total = Array.sum w
    let u = Array.init w.Length (fun i -> Seq.sum (seq { for k in 0 .. w.Length - 1 -> c.[i, k] * w.[k] / total }))
    let scale = u |> Array.fold (fun s v -> max s (abs v)) 1e-300
    Array.sort u |> Seq.pairwise |> Seq.exists (fun (l, r) -> r - l <= 1e-9 * scale)

/// A space: points and positive weights, without a first-step tie (see <c>firstStepTie</c>).
let private space (s: float) =
    gen {
        let! x = cloud s
        let! w = positiveWeights (Array2D.length1 x)
        return x, w
    }
    |> Gen.filter (fun (x, w) -> not (firstStepTie x w))

/// A random isometry of ℝ^d applied to the rows of x: Givens rotations by random angles in every coordinate plane,
/// an optional reflection of the first axis, then a translation; rows permuted by <paramref name="order"/>.
let private isometry (s: float) (x: float[,]) : Gen<float[,] * int[]> =
    gen {
        let n, d = Array2D.length1 x, Array2D.length2 x
        let! angles = Gen.arrayOfLength (d * d) (Gen.choose (0, 62831) |> Gen.map (fun a -> float a / 10000.0))
        let! reflect = Gen.elements [ false; true ]
        let! shift = Gen.arrayOfLength d (Gen.choose (-1000, 1000) |> Gen.map (fun t -> s * float t / 100.0))
        let! order = Gen.shuffle [| 0 .. n - 1 |]
        let y = Array2D.init n d (fun i k -> x.[order.[i], k] * (if reflect && k = 0 then -1.0 else 1.0))
        for a in 0 .. d - 1 do
            for b in a + 1 .. d - 1 do
                let c, sn = cos angles.[a * d + b], sin angles.[a * d + b]
                for i in 0 .. n - 1 do
                    let u, v = y.[i, a], y.[i, b]
                    y.[i, a] <- c * u - sn * v
                    y.[i, b] <- sn * u + c * v
        for i in 0 .. n - 1 do
            for k in 0 .. d - 1 do
                y.[i, k] <- y.[i, k] + shift.[k]
        return y, order
    }

/// Two unrelated spaces at one scale.
let private pairOfSpaces =
    gen {
        let! s = scale
        let! x, p = space s
        let! y, q = space s
        return s, (x, p), (y, q)
    }

/// A space and an isometric copy (points moved by an isometry, rows and weights permuted alike).
let private isometricPair =
    gen {
        let! s = scale
        let! x, p = space s
        let! y, order = isometry s x
        return s, (x, p), (y, Array.map (fun i -> p.[i]) order)
    }

/// The quadruple sum Σ_ijkl (C1_ik − C2_jl)² T_ij T_kl, straight from the definition [Peyré et al. 2016, eq. 2].
let private bruteForce (c1: float[,]) (c2: float[,]) (t: float[,]) =
    let n, m = Array2D.length1 t, Array2D.length2 t
    let mutable s = 0.0
    for i in 0 .. n - 1 do
        for j in 0 .. m - 1 do
            for k in 0 .. n - 1 do
                for l in 0 .. m - 1 do
                    s <- s + (c1.[i, k] - c2.[j, l]) ** 2.0 * t.[i, j] * t.[k, l]
    s

let private normalised (w: float[]) = let t = Array.sum w in Array.map (fun v -> v / t) w

let private expectMarginals (tol: float) (what: string) (plan: float[,]) (p: float[]) (q: float[]) =
    let p, q = normalised p, normalised q
    for i in 0 .. p.Length - 1 do
        let r = Seq.sum (seq { for j in 0 .. q.Length - 1 -> plan.[i, j] })
        if abs (r - p.[i]) > tol then failtestf "%s: row %d sums to %.17g, p = %.17g" what i r p.[i]
    for j in 0 .. q.Length - 1 do
        let c = Seq.sum (seq { for i in 0 .. p.Length - 1 -> plan.[i, j] })
        if abs (c - q.[j]) > tol then failtestf "%s: column %d sums to %.17g, q = %.17g" what j c q.[j]
    if plan |> Seq.cast<float> |> Seq.exists (fun v -> v < 0.0) then failtestf "%s: negative plan entry" what

/// |a − b| ≤ tol · max(|a|, |b|) + 1e-12 · unit.
let private expectNear (tol: float) (unit: float) (what: string) (a: float) (b: float) =
    if not (abs (a - b) <= tol * max (abs a) (abs b) + 1e-12 * unit) then
        failtestf "%s: %.17g vs %.17g (|diff| = %.3g, relative %.3g)" what a b (abs (a - b)) (abs (a - b) / max (abs a) (abs b))

[<Tests>]
let tests =
    testList
        "reference.gromov"
        [ property "conditional gradient: GW(X, isometric copy of X) = 0 (permuted, rotated, reflected, translated)" 200 isometricPair <| fun (s, (x, p), (y, q)) ->
              let c1, c2 = distances x, distances y
              let r = cg (c1, c2, p, q)
              if not (abs r.Value <= 1e-12 * maxAbs c1 ** 2.0) then
                  failtestf "GW = %.17g at scale %g (max C² = %g) after %d steps" r.Value s (maxAbs c1 ** 2.0) r.Iterations

          property "conditional gradient and entropic: invariant to an isometry of either space" 150 (gen {
              let! s, (x, p), (y, q) = pairOfSpaces
              let! x2, ox = isometry s x
              let! y2, oy = isometry s y
              return (x, p), (y, q), (x2, Array.map (fun i -> p.[i]) ox), (y2, Array.map (fun i -> q.[i]) oy) }) <| fun ((x, p), (y, q), (x2, p2), (y2, q2)) ->
              let c1, c2, c1b, c2b = distances x, distances y, distances x2, distances y2
              let unit = max (maxAbs c1) (maxAbs c2) ** 2.0
              let reference = (cg (c1, c2, p, q)).Value
              expectNear 1e-9 unit "CG, first space moved" reference (cg (c1b, c2, p2, q)).Value
              expectNear 1e-9 unit "CG, second space moved" reference (cg (c1, c2b, p, q2)).Value
              let eps = 0.05 * unit
              let e = entropicAt eps (c1, c2, p, q)
              let e1 = entropicAt eps (c1b, c2, p2, q)
              let e2 = entropicAt eps (c1, c2b, p, q2)
              if e.Converged && e1.Converged && e2.Converged then
                  expectNear 1e-6 unit "entropic, first space moved" e.Value e1.Value
                  expectNear 1e-6 unit "entropic, second space moved" e.Value e2.Value

          property "conditional gradient and entropic: symmetric, GW(C1, C2, p, q) = GW(C2, C1, q, p)" 150 pairOfSpaces <| fun (_, (x, p), (y, q)) ->
              let c1, c2 = distances x, distances y
              let unit = max (maxAbs c1) (maxAbs c2) ** 2.0
              let forward, backward = cg (c1, c2, p, q), cg (c2, c1, q, p)
              expectNear 1e-9 unit "CG" forward.Value backward.Value
              Expect.equal backward.Iterations forward.Iterations "the same number of Frank–Wolfe steps"
              // ε = 0.2 max C²: at much smaller ε POT's inner Sinkhorn cap (1000 iterations) can bind, and the two
              // directions (which update the marginals in the opposite order) then stop at slightly different plans.
              let ef, eb = entropicAt (0.2 * unit) (c1, c2, p, q), entropicAt (0.2 * unit) (c2, c1, q, p)
              if ef.Converged && eb.Converged then expectNear 1e-6 unit "entropic" ef.Value eb.Value

          // POT's absolute stopping threshold (1e-9) is not scale-free, so it is switched off (1e-300) here: with it
          // the path stops earlier at small scales.
          property "conditional gradient: homogeneous, GW(λC1, λC2) = λ² GW(C1, C2) (absolute stopping rule off)" 100 (Gen.zip pairOfSpaces (Gen.elements [ 1e-3; 0.5; 7.0; 1e3 ])) <| fun ((_, (x, p), (y, q)), lambda) ->
              let c1, c2 = distances x, distances y
              let unit = max (maxAbs c1) (maxAbs c2) ** 2.0
              let scaled (c: float[,]) = Array2D.map (fun v -> lambda * v) c
              let solve (a, b) = (GromovWasserstein.conditionalGradient (a, b, p, q, 200, 1e-9, 1e-300)).Value
              expectNear 1e-9 (lambda * lambda * unit) "λ²·GW vs GW(λC1, λC2)" (lambda * lambda * solve (c1, c2)) (solve (scaled c1, scaled c2))

          property "both solvers: value ≥ 0, plan a coupling of p and q, value = the quadruple sum at the plan, CG ≤ E(p qᵀ)" 150 pairOfSpaces <| fun (_, (x, p), (y, q)) ->
              let c1, c2 = distances x, distances y
              let unit = max (maxAbs c1) (maxAbs c2) ** 2.0
              let start = GromovWasserstein.loss (c1, c2, p, q, Array2D.init p.Length q.Length (fun i j -> (normalised p).[i] * (normalised q).[j]))
              expectNear 1e-12 unit "E(p qᵀ): eq. 6 vs quadruple sum" (bruteForce c1 c2 (Array2D.init p.Length q.Length (fun i j -> (normalised p).[i] * (normalised q).[j]))) start
              // The entropic plan meets q only to Sinkhorn's tolerance (1e-9 in L2), and eq. 6 builds constC from p and
              // q, so its value matches the quadruple sum at its plan to about that relative accuracy. (ε = 0.2 max C²,
              // so that the inner Sinkhorn reaches its tolerance within POT's 1000 iterations.)
              for name, r, marginalTol, valueTol in [ "CG", cg (c1, c2, p, q), 1e-12, 1e-9; "entropic", entropicAt (0.2 * unit) (c1, c2, p, q), 1e-8, 1e-6 ] do
                  if r.Value < -1e-12 * unit then failtestf "%s: negative value %.17g" name r.Value
                  expectMarginals marginalTol name r.Plan p q
                  expectNear valueTol unit $"{name}: value vs quadruple sum at its plan" (bruteForce c1 c2 r.Plan) r.Value
              let r = cg (c1, c2, p, q)
              if r.Value > start * (1.0 + 1e-12) + 1e-12 * unit then failtestf "CG ended above its start: %.17g > E(p qᵀ) = %.17g" r.Value start

          // At a stationary point T of E over the couplings, no coupling S improves the linearisation: the Frank–Wolfe
          // gap ⟨∇E(T), T − S⟩ with S = argmin ⟨∇E(T), S⟩ is 0. The solver stops when E changes by < 1e-9 (relative or
          // absolute), so a small gap is allowed. ∇E(T)_ij = 2 Σ_kl (C1_ik − C2_jl)² T_kl is computed from the
          // definition, and S by the exact transport solver.
          property "conditional gradient stops at a stationary point: Frank–Wolfe gap ≤ 1e-6 · E(p qᵀ)" 100 pairOfSpaces <| fun (_, (x, p), (y, q)) ->
              let c1, c2 = distances x, distances y
              let unit = max (maxAbs c1) (maxAbs c2) ** 2.0
              let r = cg (c1, c2, p, q)
              let t = r.Plan
              let n, m = p.Length, q.Length
              let grad = Array2D.init n m (fun i j ->
                  2.0 * Seq.sum (seq { for k in 0 .. n - 1 do for l in 0 .. m - 1 -> (c1.[i, k] - c2.[j, l]) ** 2.0 * t.[k, l] }))
              let s = (ExactTransport.solve (grad, p, q)).Plan
              let gap = Seq.sum (seq { for i in 0 .. n - 1 do for j in 0 .. m - 1 -> grad.[i, j] * (t.[i, j] - s.[i, j]) })
              let start = GromovWasserstein.loss (c1, c2, p, q, Array2D.init n m (fun i j -> (normalised p).[i] * (normalised q).[j]))
              if not (gap <= 1e-6 * start + 1e-12 * unit) then
                  failtestf "Frank–Wolfe gap %.6g at the returned plan (E = %.6g, E(p qᵀ) = %.6g, %d steps, converged %b)" gap r.Value start r.Iterations r.Converged

          property "both solvers: zero-weight points change nothing (value; their plan rows and columns are zero)" 100 (gen {
              let! s, (x, p), (y, q) = pairOfSpaces
              let! extra = cloud s
              let! where = Gen.choose (0, Array2D.length1 x)
              return (x, p), (y, q), extra, where }) <| fun ((x, p), (y, q), extra, where) ->
              let n, k, d = Array2D.length1 x, Array2D.length1 extra, Array2D.length2 x
              // Insert k zero-weight points (coordinates from extra, first d columns or zero) before row `where`.
              let padded = Array2D.init (n + k) d (fun i c ->
                  if i < where then x.[i, c]
                  elif i < where + k then (if c < Array2D.length2 extra then extra.[i - where, c] else 0.0)
                  else x.[i - k, c])
              let pp = Array.concat [ p.[.. where - 1]; Array.zeroCreate k; p.[where ..] ]
              let c1, c1p, c2 = distances x, distances padded, distances y
              let unit = max (maxAbs c1p) (maxAbs c2) ** 2.0
              let a, b = cg (c1, c2, p, q), cg (c1p, c2, pp, q)
              expectNear 1e-9 unit "CG" a.Value b.Value
              let ea, eb = entropicAt (0.05 * unit) (c1, c2, p, q), entropicAt (0.05 * unit) (c1p, c2, pp, q)
              expectNear 1e-9 unit "entropic" ea.Value eb.Value
              for i in where .. where + k - 1 do
                  for j in 0 .. q.Length - 1 do
                      if b.Plan.[i, j] <> 0.0 || eb.Plan.[i, j] <> 0.0 then failtestf "plan row %d (zero weight) is not zero" i

          // Entropic → unregularised as ε → 0, stated where the limit is known: on isometric copies the minimum is 0
          // (which CG reaches, see above). Stated bound: at ε = 10⁻³ max C² the entropic value is below 1% of the
          // start value E(p qᵀ) and not above the value at ε = 10⁻¹ max C² (a POT-mirroring NumPy run on 60 such
          // pairs gave at most 0.14% at 10⁻³, 1.8% at 10⁻², 77% at 10⁻¹). (On unrelated spaces the entropic and CG solvers may stop at different
          // stationary points, so no general ε → 0 agreement is claimed.)
          property "entropic on isometric copies: value → 0 as ε → 0 (at ε = 1e-3·max C²: ≤ 1% of E(p qᵀ) and ≤ the value at 1e-1·max C²)" 100 isometricPair <| fun (_, (x, p), (y, q)) ->
              let c1, c2 = distances x, distances y
              let unit = maxAbs c1 ** 2.0
              let start = GromovWasserstein.loss (c1, c2, p, q, Array2D.init p.Length q.Length (fun i j -> (normalised p).[i] * (normalised q).[j]))
              let coarse = entropicAt (1e-1 * unit) (c1, c2, p, q)
              let fine = entropicAt (1e-3 * unit) (c1, c2, p, q)
              if not (fine.Value <= 1e-2 * start) || not (fine.Value <= coarse.Value + 1e-12 * unit) then
                  failtestf "entropic GW at ε = 1e-3·max C²: %.6g; at 1e-1·max C²: %.6g; E(p qᵀ) = %.6g (%d steps, converged %b)" fine.Value coarse.Value start fine.Iterations fine.Converged

          testCase "the 2-point spaces: CG reaches the analytic minimum (a − b)²/2 from an asymmetric weighting" <| fun () ->
              // C1 = [[0, a], [a, 0]], C2 = [[0, b], [b, 0]]: E = Σ over the four (i,k,j,l) classes; with p = (0.3, 0.7),
              // q = (0.3, 0.7) the identity coupling gives (a − b)² · 2 · 0.3 · 0.7 = 0.42 (a − b)², the minimum.
              let a, b = 2.0, 5.0
              let c1 = array2D [ [ 0.0; a ]; [ a; 0.0 ] ]
              let c2 = array2D [ [ 0.0; b ]; [ b; 0.0 ] ]
              let r = cg (c1, c2, [| 0.3; 0.7 |], [| 0.3; 0.7 |])
              Expect.floatClose Accuracy.veryHigh r.Value (0.42 * (a - b) ** 2.0) "GW value"
              Expect.floatClose Accuracy.veryHigh (bruteForce c1 c2 r.Plan) r.Value "value at the plan"

          testList
              "argument checks"
              [ let c3 = array2D [ [ 0.0; 1.0; 2.0 ]; [ 1.0; 0.0; 1.0 ]; [ 2.0; 1.0; 0.0 ] ]
                let w3 = [| 1.0; 1.0; 1.0 |]
                invalid "c1 not square" "c1" (fun () -> box (cg (Array2D.zeroCreate 3 2, c3, w3, w3)))
                invalid "c1 of the wrong size for p" "c1" (fun () -> box (cg (c3, c3, [| 1.0; 1.0 |], w3)))
                invalid "c2 not symmetric" "c2" (fun () -> box (cg (c3, array2D [ [ 0.0; 1.0; 2.0 ]; [ 1.0; 0.0; 1.0 ]; [ 2.5; 1.0; 0.0 ] ], w3, w3)))
                invalid "c1 with NaN" "c1" (fun () -> box (cg (Array2D.init 3 3 (fun i k -> if i = k then nan else 1.0), c3, w3, w3)))
                invalid "negative weight" "q" (fun () -> box (cg (c3, c3, w3, [| 1.0; -1.0; 1.0 |])))
                invalid "all-zero weights" "p" (fun () -> box (cg (c3, c3, [| 0.0; 0.0; 0.0 |], w3)))
                invalid "maxIterations 0" "maxIterations" (fun () -> box (GromovWasserstein.conditionalGradient (c3, c3, w3, w3, 0, 1e-9, 1e-9)))
                invalid "relative tolerance 0" "relativeTolerance" (fun () -> box (GromovWasserstein.conditionalGradient (c3, c3, w3, w3, 10, 0.0, 1e-9)))
                invalid "epsilon 0" "epsilon" (fun () -> box (entropicAt 0.0 (c3, c3, w3, w3)))
                invalid "epsilon NaN" "epsilon" (fun () -> box (entropicAt nan (c3, c3, w3, w3)))
                invalid "plan of the wrong shape" "plan" (fun () -> box (GromovWasserstein.loss (c3, c3, w3, w3, Array2D.zeroCreate 3 2)))
                missing "c1 null" "c1" (fun () -> box (cg (null, c3, w3, w3)))
                missing "p null" "p" (fun () -> box (cg (c3, c3, null, w3))) ] ]
