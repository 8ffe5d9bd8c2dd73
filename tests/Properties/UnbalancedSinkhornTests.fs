/// Unbalanced entropic OT (KL-relaxed marginals): golden values from POT 0.8.2
/// (ot.unbalanced.sinkhorn_unbalanced2, fixtures/golden_sinkhorn_unbalanced.json, scripts/golden/make_golden_unbalanced.py),
/// the float64 reference against its own theory (duality, closed forms, mass scaling, ρ → ∞), the tensor solver and
/// the two catalog distances against the reference, the debiased divergence, gradients and argument checks.
module DistEmbed.Properties.UnbalancedSinkhornTests

open System
open System.IO
open System.Text.Json
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport
open DistEmbed.Properties.TensorSupport

module RefUnbalanced = DistEmbed.Core.Reference.UnbalancedSinkhorn
module RefSinkhorn = DistEmbed.Core.Reference.Sinkhorn
module TensorSinkhorn = DistEmbed.Core.Sinkhorn

/// A measure with masses: points (n × d) and non-negative masses (not normalised).
type private Measure = { Points: float[,]; Masses: float[] }

let private measureOf (e: Empirical) (total: float) = { Points = e.Points; Masses = e.Weights |> Array.map (fun w -> w * total) }

let private mass (m: Measure) = Array.sum m.Masses

/// ‖x_i − y_j‖^p (the reference's ground cost).
let private costOf (p: int) (x: float[,]) (y: float[,]) =
    ExactTransport.groundCost (float p, Empirical.Uniform x, Empirical.Uniform y)

let private meanCost (p: int) (x: float[,]) (y: float[,]) =
    let c = costOf p x y
    let m = Seq.cast<float> c |> Seq.average
    if m > 0.0 then m else 1.0

/// Padded float64 tensors [B, T, d] and [B, T] (zero mass = padding) of some measures.
let private paddedTensors (length: int) (ms: Measure[]) : Tensor * Tensor =
    let t = max length (ms |> Array.map (fun m -> m.Masses.Length) |> Array.max)
    let d = Array2D.length2 ms.[0].Points
    let pts = Array.zeroCreate<float> (ms.Length * t * d)
    let w = Array.zeroCreate<float> (ms.Length * t)
    ms |> Array.iteri (fun b m ->
        for i in 0 .. m.Masses.Length - 1 do
            w.[b * t + i] <- m.Masses.[i]
            for k in 0 .. d - 1 do
                pts.[(b * t + i) * d + k] <- m.Points.[i, k])
    torch.tensor(pts, dtype = torch.float64).reshape([| int64 ms.Length; int64 t; int64 d |]),
    torch.tensor(w, dtype = torch.float64).reshape([| int64 ms.Length; int64 t |])

let private tensorsOf (ms: Measure[]) = paddedTensors 0 ms

/// Options that run to a tight convergence.
let private tight (eps: float) (p: int) =
    { SinkhornOptions.Create eps with Power = p; Tolerance = 1e-12; MaxIterations = 200000; CheckEvery = 5; OnNonConvergence = SinkhornNonConvergence.Throw }

let private tensorSolve (reference: EntropyReference) (rho: float) (o: SinkhornOptions) (a: Measure) (b: Measure) =
    use _ = torch.NewDisposeScope()
    let xa, wa = tensorsOf [| a |]
    let xb, wb = tensorsOf [| b |]
    use r = TensorSinkhorn.solveUnbalanced (xa, wa, xb, wb, rho, reference, { o with KeepPlan = true })
    (values r.TransportCost).[0], (values r.EntropicCost).[0], (values r.Mass).[0], values r.Plan

let private refSolve (reference: EntropyReference) (rho: float) (o: SinkhornOptions) (a: Measure) (b: Measure) =
    RefUnbalanced.solve (costOf o.Power a.Points b.Points, a.Masses, b.Masses, o.Epsilon, rho, reference, o.MaxIterations, o.Tolerance)

/// Two measures of one dimension at one scale with total masses from 0.1 to 10, p, ε/scale and ρ/scale.
let private problem : Gen<Measure * Measure * int * float * float> =
    gen {
        let! a, b = pair
        let! ma = Gen.elements [ 0.1; 0.5; 1.0; 2.0; 10.0 ]
        let! mb = Gen.elements [ 0.1; 1.0; 3.0 ]
        let! p = Gen.elements [ 1; 2 ]
        let! rel = Gen.elements [ 0.1; 0.5; 1.0 ]
        let! rho = Gen.elements [ 0.05; 1.0; 10.0 ]
        return measureOf a ma, measureOf b mb, p, rel, rho
    }

/// Smaller problems for the properties that run many solves.
let private small : Gen<Measure * Measure * int * float * float> =
    problem |> Gen.filter (fun (a, b, _, _, _) -> a.Masses.Length <= 10 && b.Masses.Length <= 10)

/// Tiny problems for the finite-difference checks.
let private tiny : Gen<Measure * Measure * int * float * float> =
    problem |> Gen.filter (fun (a, b, _, _, _) -> a.Masses.Length <= 5 && b.Masses.Length <= 5)

let private references = [ EntropyReference.Product; EntropyReference.Counting ]

let private load () =
    let path = Path.Combine(AppContext.BaseDirectory, "fixtures", "golden_sinkhorn_unbalanced.json")
    use doc = JsonDocument.Parse(File.ReadAllText path)
    [| for e in doc.RootElement.GetProperty("instances").EnumerateArray() ->
           { Points = jsonMatrix (e.GetProperty "x"); Masses = jsonVector (e.GetProperty "a") },
           { Points = jsonMatrix (e.GetProperty "y"); Masses = jsonVector (e.GetProperty "b") },
           e.GetProperty("reg").GetDouble(), e.GetProperty("reg_m").GetDouble(), e.GetProperty("sinkhorn_unbalanced2").GetDouble() |]

/// Fails once with the worst offenders when a computed value is off POT's by more than tol relative.
let private checkGolden (tol: float) (cases: (int * float * float) seq) =
    let failures = ResizeArray()
    let mutable worst = 0.0
    for index, want, got in cases do
        let err = abs (got - want) / max (abs want) 1e-300
        worst <- max worst (if Double.IsNaN err then infinity else err)
        if not (err <= tol) then failures.Add($"instance {index}: POT {want:R}, ours {got:R}, relative error {err:E2}")
    if failures.Count > 0 then
        failtestf "%d instances off by more than %g (worst %g):\n%s" failures.Count tol worst (String.Join("\n", Seq.truncate 10 failures))

/// Autograd gradient of a scalar function of the masses of a (one pair), and of its points.
let private gradients (a: Measure) (f: Tensor -> Tensor -> Tensor) =
    use _ = torch.NewDisposeScope()
    let xa, wa = tensorsOf [| a |]
    let x = xa.requires_grad_(true)
    let w = wa.requires_grad_(true)
    (f x w).sum().backward()
    values w.grad, values x.grad

[<Tests>]
let tests =
    testList "unbalanced-sinkhorn" [
        // POT iterates to stopThr = 1e-15 on the relative change of its scalings; the reference and the tensor solver
        // to 1e-12 on the potentials' change over ε. Worst seen: ~1e-11 relative; 1e-6 is the issue's bar.
        testCase "reference (counting measure) ⟨P, C⟩ = ot.unbalanced.sinkhorn_unbalanced2 to 1e-6 relative (150 instances)" <| fun () ->
            let cases = load ()
            Expect.isGreaterThanOrEqual cases.Length 100 "fixture size"
            checkGolden 1e-6 (cases |> Seq.mapi (fun i (a, b, reg, regM, want) ->
                let r = RefUnbalanced.solve (costOf 2 a.Points b.Points, a.Masses, b.Masses, reg, regM, EntropyReference.Counting, 200000, 1e-13)
                Expect.isLessThan r.Iterations 200000 $"instance {i} converged"
                i, want, r.TransportCost))

        testCase "tensor SolveUnbalanced (counting measure, float64, zero-mass padding to 16 points) = sinkhorn_unbalanced2 to 1e-6 relative (150 instances)" <| fun () ->
            use _ = torch.NewDisposeScope()
            let cases = load ()
            // Each instance padded with zero-mass points to 16 (its ε, ρ and d are its own).
            checkGolden 1e-6 (cases |> Seq.mapi (fun i (a, b, reg, regM, want) ->
                let xa, wa = paddedTensors 16 [| a |]
                let xb, wb = paddedTensors 16 [| b |]
                use r = TensorSinkhorn.solveUnbalanced (xa, wa, xb, wb, regM, EntropyReference.Counting, tight reg 2)
                i, want, (values r.TransportCost).[0]))

        property "reference: primal objective = dual value at convergence (both references)" 40 small (fun (a, b, p, rel, rho) ->
            let scale = meanCost p a.Points b.Points
            let o = tight (rel * scale) p
            for reference in references do
                let r = refSolve reference (rho * scale) o a b
                let unit = scale * (mass a + mass b) + o.Epsilon * (mass a * mass b + float (a.Masses.Length * b.Masses.Length))
                expectWithin 1e-8 unit $"{reference}: dual vs primal" r.Objective r.DualCost)

        property "tensor SolveUnbalanced = reference (float64; both references): ⟨P, C⟩, dual, mass, plan" 40 problem (fun (a, b, p, rel, rho) ->
            let scale = meanCost p a.Points b.Points
            let o = tight (rel * scale) p
            for reference in references do
                let r = refSolve reference (rho * scale) o a b
                let transport, dual, m, plan = tensorSolve reference (rho * scale) o a b
                let unit = scale * (mass a + mass b)
                expectWithin 1e-8 unit $"{reference}: transport" r.TransportCost transport
                expectWithin 1e-8 unit $"{reference}: dual" r.DualCost dual
                expectWithin 1e-8 (mass a + mass b) $"{reference}: mass" r.Mass m
                let t = b.Masses.Length
                for i in 0 .. a.Masses.Length - 1 do
                    for j in 0 .. t - 1 do
                        expectWithin 1e-8 (mass a + mass b) $"{reference}: plan[{i},{j}]" r.Plan.[i, j] plan.[i * t + j])

        // ρ = ∞: λ = 1 and the iteration is balanced Sinkhorn (both references agree on couplings).
        property "ρ = ∞ recovers balanced Sinkhorn; ρ → ∞ approaches it (|Δ| at ρ = 10³ε ≤ 5 % of |Δ| at ρ = 10ε + 1e-9)" 15 small (fun (a, b, p, rel, _) ->
            let prob (m: Measure) = { m with Masses = m.Masses |> Array.map (fun w -> w / mass m) }
            let a, b = prob a, prob b
            let scale = meanCost p a.Points b.Points
            let o = tight (rel * scale) p
            let balanced = RefSinkhorn.solve (costOf p a.Points b.Points, a.Masses, b.Masses, o.Epsilon, 200000, 1e-13)
            for reference in references do
                let transport, dual, _, _ = tensorSolve reference Double.PositiveInfinity o a b
                expectWithin 1e-8 scale $"{reference}: ρ = ∞ transport" balanced.TransportCost transport
                if reference = EntropyReference.Product then
                    expectWithin 1e-8 scale "ρ = ∞ dual = balanced OT_ε" balanced.EntropicCost dual
            let at (k: float) = let t, _, _, _ = tensorSolve EntropyReference.Product (k * o.Epsilon) { o with Tolerance = 1e-11 } a b in t
            let near, far = abs (at 1e3 - balanced.TransportCost), abs (at 10.0 - balanced.TransportCost)
            Expect.isLessThanOrEqual near (0.05 * far + 1e-9 * scale) "convergence to the balanced cost as ρ grows")

        // Scaling both masses by s: with f = f₁ + t, g = g₁ + t the optimality conditions hold for
        // t = −ερ log s/(ε + 2ρ) (product) or +ερ log s/(ε + 2ρ) (counting), so P_s = s^{2κ} P₁ with
        // κ = (ε + ρ)/(ε + 2ρ) (product) or ρ/(ε + 2ρ) (counting); balanced transport (κ → ½) scales linearly.
        property "mass variation: P(s·a, s·b) = s^{2κ}·P(a, b) (κ = (ε+ρ)/(ε+2ρ) product, ρ/(ε+2ρ) counting)" 30 small (fun (a, b, p, rel, rho) ->
            let scale = meanCost p a.Points b.Points
            let o = tight (rel * scale) p
            let rho = rho * scale
            let s = 3.0
            let times (m: Measure) = { m with Masses = m.Masses |> Array.map (fun w -> s * w) }
            for reference in references do
                let r1 = refSolve reference rho o a b
                let rs = refSolve reference rho o (times a) (times b)
                let kappa = if reference = EntropyReference.Product then (o.Epsilon + rho) / (o.Epsilon + 2.0 * rho) else rho / (o.Epsilon + 2.0 * rho)
                let factor = s ** (2.0 * kappa)
                expectClose 1e-8 $"{reference}: mass" (factor * r1.Mass) rs.Mass
                expectWithin 1e-8 (factor * scale * (mass a + mass b)) $"{reference}: transport" (factor * r1.TransportCost) rs.TransportCost
            // Balanced Sinkhorn normalises: its value does not move.
            let c = costOf p a.Points b.Points
            let b1 = RefSinkhorn.solve (c, a.Masses, b.Masses, o.Epsilon, 200000, 1e-13)
            let bs = RefSinkhorn.solve (c, (times a).Masses, (times b).Masses, o.Epsilon, 200000, 1e-13)
            expectWithin 1e-9 scale "balanced transport unchanged" b1.TransportCost bs.TransportCost)

        // One atom each: the problem is one-dimensional in π, with the minimiser
        // π = (m₁m₂)^κ e^{−C/(ε+2ρ)}, κ = (ε+ρ)/(ε+2ρ), and S(m₁δ_x, m₂δ_x) = (ρ + ε/2)(m₁^{2κ} + m₂^{2κ} − 2(m₁m₂)^κ).
        property "one atom each: closed-form plan, value and debiased divergence" 40
            (gen {
                let! m1 = Gen.elements [ 0.1; 0.5; 1.0; 2.0; 7.0 ]
                let! m2 = Gen.elements [ 0.2; 1.0; 3.0 ]
                let! dist = Gen.elements [ 0.0; 0.3; 1.0; 2.5 ]
                let! eps = Gen.elements [ 0.05; 0.5; 2.0 ]
                let! rho = Gen.elements [ 0.1; 1.0; 20.0 ]
                let! p = Gen.elements [ 1; 2 ]
                return m1, m2, dist, eps, rho, p
             })
            (fun (m1, m2, dist, eps, rho, p) ->
                let a = { Points = array2D [ [ 0.0; 1.0 ] ]; Masses = [| m1 |] }
                let b = { Points = array2D [ [ dist; 1.0 ] ]; Masses = [| m2 |] }
                let c = dist ** float p
                let kappa = (eps + rho) / (eps + 2.0 * rho)
                let pi = (m1 * m2) ** kappa * exp (-c / (eps + 2.0 * rho))
                let kl (x: float) (y: float) = x * log (x / y) - x + y
                let value = pi * c + eps * kl pi (m1 * m2) + rho * kl pi m1 + rho * kl pi m2
                let o = tight eps p
                let transport, dual, m, _ = tensorSolve EntropyReference.Product rho o a b
                expectClose 1e-9 "mass π" pi m
                expectClose 1e-9 "⟨P, C⟩ = πC" (pi * c) transport
                expectClose 1e-9 "OT_ε,ρ" value dual
                let s = RefUnbalanced.divergence (float p, a.Points, [| m1 |], a.Points, [| m2 |], eps, rho, 200000, 1e-13)
                let expected = (rho + eps / 2.0) * (m1 ** (2.0 * kappa) + m2 ** (2.0 * kappa) - 2.0 * (m1 * m2) ** kappa)
                expectClose 1e-9 "S(m₁δ_x, m₂δ_x)" expected s)

        // The envelope theorem: ∂OT/∂a_i = φ(f_i) − ε Σ_j ν_j (e^{(f_i+g_j−C_ij)/ε} − 1)·(μ_i/a_i) at fixed potentials; the
        // tensor solver's autograd (Envelope) is compared with central differences of the reference's dual value.
        property "gradient of OT_ε,ρ with respect to the masses and the points = central differences of the reference" 12 tiny (fun (a, b, p, rel, rho) ->
            let scale = meanCost p a.Points b.Points
            let o = { tight (max rel 0.5 * scale) p with Tolerance = 1e-13 }
            let rho = rho * scale
            let positive = a.Masses |> Array.forall (fun w -> w > 0.0)
            // Generic points only for p = 1 (kinks where two points coincide).
            if positive then
                for reference in references do
                    let gw, gx =
                        gradients a (fun x w ->
                            let xb, wb = tensorsOf [| b |]
                            (TensorSinkhorn.solveUnbalanced (x, w, xb, wb, rho, reference, o)).EntropicCost)
                    let ofMasses (w: float[]) = (refSolve reference rho o { a with Masses = w } b).DualCost
                    let h = 1e-5 * (a.Masses |> Array.min)
                    let fdw = centralDifferences h ofMasses a.Masses
                    expectGradient $"{reference}: ∂/∂a" (1e-5 * (abs (ofMasses a.Masses) / mass a + scale)) gw fdw
                    if p = 2 then
                        let d = Array2D.length2 a.Points
                        let ofPoints (x: float[]) = (refSolve reference rho o { a with Points = unflatten a.Masses.Length d x } b).DualCost
                        let sx = coordinateScale [ Empirical.Uniform a.Points; Empirical.Uniform b.Points ]
                        let fdx = centralDifferences (1e-6 * sx) ofPoints (flatten a.Points)
                        expectGradient $"{reference}: ∂/∂x" (1e-5 * scale * mass a / sx) gx fdx)

        property "sinkhorn-divergence-unbalanced: S(a, a′) = 0 for a′ = a reversed, an atom split, zero-mass padding, S(a, b) ≥ 0, = reference" 30
            (gen {
                let! a, b = pair
                let a' = sameMeasure a
                let! p = Gen.elements [ 1; 2 ]
                let! rel = Gen.elements [ 0.1; 0.5; 1.0 ]
                let! rho = Gen.elements [ 0.05; 1.0; 10.0 ]
                return a, a', b, p, rel, rho
             })
            (fun (a, a', b, p, rel, rho) ->
                use _ = torch.NewDisposeScope()
                let scale = meanCost p a.Points b.Points
                let o = tight (rel * scale) p
                let s = Sinkhorn.unbalancedDivergence (rho * scale, o)
                let pairOf (x: Empirical) (y: Empirical) =
                    use bx = batchOf torch.float64 [| x |]
                    use by = batchOf torch.float64 [| y |]
                    (values (s.Paired(bx, by))).[0]
                Expect.isLessThanOrEqual (abs (pairOf a a') / scale) 1e-8 "|S(a, a′)| relative to the cost scale"
                let sab = pairOf a b
                Expect.isGreaterThanOrEqual (sab / scale) -1e-12 "S(a, b) ≥ 0"
                let reference = RefUnbalanced.divergence (float p, a.Points, a.Weights, b.Points, b.Weights, o.Epsilon, rho * scale, o.MaxIterations, 1e-13)
                expectWithin 1e-8 scale "S = reference" (max reference 0.0) sab)

        property "sinkhorn-unbalanced and its divergence: pairwise[i, j] = paired(a_i, b_j); catalog = factory" 12 batchPair (fun (_, s, xs, ys) ->
            use _ = torch.NewDisposeScope()
            use ba = batchOf torch.float64 xs
            use bb = batchOf torch.float64 ys
            let o = DistanceOptions(Epsilon = 0.5 * s * s, Rho = s * s, Tolerance = 1e-12, MaxIterations = 100000)
            for name in [ "sinkhorn-unbalanced"; "sinkhorn-divergence-unbalanced" ] do
                let d = Distances.Create(name, o)
                let pw = matrix (d.Pairwise(ba, bb))
                for i in 0 .. xs.Length - 1 do
                    for j in 0 .. ys.Length - 1 do
                        use bi = batchOf torch.float64 [| xs.[i] |]
                        use bj = batchOf torch.float64 [| ys.[j] |]
                        expectWithin 1e-8 (s * s) $"{name}[{i},{j}]" (values (d.Paired(bi, bj))).[0] pw.[i, j])

        property "S_ε,ρ gradient (points, envelope) = central differences of the tensor divergence (float64)" 10 tiny (fun (a, b, _, rel, rho) ->
            use _ = torch.NewDisposeScope()
            let p = 2
            let scale = meanCost p a.Points b.Points
            let o = { tight (max rel 0.5 * scale) p with Tolerance = 1e-13 }
            let s = Sinkhorn.unbalancedDivergence (rho * scale, o)
            let prob (m: Measure) = Empirical.Create(m.Points, m.Masses)
            use bb = batchOf torch.float64 [| prob b |]
            use ba = batchOf torch.float64 [| prob a |]
            let x = ba.Points.detach().clone().requires_grad_(true)
            use bx = DistributionBatch.FromTensors(x, ba.Weights)
            (s.Paired(bx, bb)).sum().backward()
            let g = values x.grad
            let base' = values ba.Points
            let shape = ba.Points.shape
            let sx = coordinateScale [ Empirical.Uniform a.Points; Empirical.Uniform b.Points ]
            let value (v: float[]) =
                use _ = torch.no_grad ()
                use _ = torch.NewDisposeScope()
                use bv = DistributionBatch.FromTensors(torch.tensor(v, dtype = torch.float64).reshape(shape), ba.Weights)
                (values (s.Paired(bv, bb))).[0]
            let fd = centralDifferences (1e-6 * sx) value base'
            expectGradient "∂S/∂x" (1e-5 * scale / sx) g fd)

        testCase "bad ρ, masses and reference → ArgumentException naming them" <| fun () ->
            use _ = torch.NewDisposeScope()
            let a = { Points = array2D [ [ 0.0 ]; [ 1.0 ] ]; Masses = [| 1.0; 2.0 |] }
            let xa, wa = tensorsOf [| a |]
            let o = SinkhornOptions.Create 0.1
            for rho in [ 0.0; -1.0; Double.NaN ] do
                ReferenceSupport.expectArgument<ArgumentException> "rho" (fun () -> box (TensorSinkhorn.solveUnbalanced (xa, wa, xa, wa, rho, EntropyReference.Product, o)))
                ReferenceSupport.expectArgument<ArgumentException> "rho" (fun () -> box (Sinkhorn.unbalancedDistance (rho, o)))
                ReferenceSupport.expectArgument<ArgumentException> "rho" (fun () -> box (Distances.Create("sinkhorn-divergence-unbalanced", DistanceOptions(Rho = rho))))
                ReferenceSupport.expectArgument<ArgumentException> "rho" (fun () -> box (RefUnbalanced.solve (array2D [ [ 0.0 ] ], [| 1.0 |], [| 1.0 |], 0.1, rho, EntropyReference.Counting, 10, 1e-9)))
            let negative = torch.tensor([| 1.0; -0.5 |], dtype = torch.float64).reshape(1L, 2L)
            ReferenceSupport.expectArgument<ArgumentException> "massesA" (fun () -> box (TensorSinkhorn.solveUnbalanced (xa, negative, xa, wa, 1.0, EntropyReference.Product, o)))
            let zero = torch.zeros([| 1L; 2L |], dtype = torch.float64)
            ReferenceSupport.expectArgument<ArgumentException> "massesB" (fun () -> box (TensorSinkhorn.solveUnbalanced (xa, wa, xa, zero, 1.0, EntropyReference.Product, o)))
            ReferenceSupport.expectArgument<ArgumentException> "massesA" (fun () -> box (TensorSinkhorn.solveUnbalanced (xa, wa.narrow(1L, 0L, 1L), xa, wa, 1.0, EntropyReference.Product, o)))
            ReferenceSupport.expectArgument<ArgumentException> "reference" (fun () -> box (TensorSinkhorn.solveUnbalanced (xa, wa, xa, wa, 1.0, enum<EntropyReference> 7, o)))
            ReferenceSupport.expectArgument<ArgumentException> "a" (fun () -> box (RefUnbalanced.solve (array2D [ [ 0.0 ] ], [| -1.0 |], [| 1.0 |], 0.1, 1.0, EntropyReference.Counting, 10, 1e-9)))
    ]
