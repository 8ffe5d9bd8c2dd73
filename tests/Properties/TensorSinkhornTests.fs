/// Properties of the batched log-domain Sinkhorn solver (DistEmbed.Core.Sinkhorn): marginals, duality, the debiased
/// divergence, padding, pairwise/paired agreement, blocking, stability, gradients, and argument checks.
module DistEmbed.Properties.TensorSinkhornTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators

type private Tensor = torch.Tensor

/// The tensor solver under test and the float64 reference (both modules are called Sinkhorn).
module TensorSinkhorn = DistEmbed.Core.Sinkhorn
module ReferenceSinkhorn = DistEmbed.Core.Reference.Sinkhorn

let private values (t: Tensor) : float[] =
    use _ = torch.NewDisposeScope()
    t.detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()

let private scalar (t: Tensor) = (values t).[0]

/// A batch of the given dtype from reference distributions (padded to the longest).
let private batchOf (dtype: torch.ScalarType) (ds: Empirical[]) : DistributionBatch =
    let b = DistributionBatch.FromEmpirical(ds, torch.CPU)
    if dtype = torch.float64 then b
    else DistributionBatch.FromTensors(b.Points.to_type dtype, b.Weights.to_type dtype)

/// Σ_ij a_i b_j ‖x_i − y_j‖^p: the cost scale of a pair.
let private meanCost (p: int) (a: Empirical) (b: Empirical) =
    let mutable s = 0.0
    for i in 0 .. a.Count - 1 do
        for j in 0 .. b.Count - 1 do
            let mutable sq = 0.0
            for k in 0 .. a.Dimension - 1 do
                let diff = a.Points.[i, k] - b.Points.[j, k]
                sq <- sq + diff * diff
            s <- s + a.Weights.[i] * b.Weights.[j] * (if p = 2 then sq else sqrt sq)
    s

/// A cost scale that is never zero (all points equal gives mean cost 0; any ε then works).
let private costScale p a b =
    let m = meanCost p a b
    if m > 0.0 then m else 1.0

/// Options that run to a tight convergence.
let private converged (eps: float) (p: int) =
    { SinkhornOptions.Create eps with Power = p; Tolerance = 1e-11; MaxIterations = 20000; CheckEvery = 5 }

/// Options that run exactly n iterations (the tolerance is never met), so results do not depend on batching.
let private fixedIterations (eps: float) (p: int) (n: int) =
    { SinkhornOptions.Create eps with
        Power = p; Tolerance = 1e-300; MaxIterations = n; CheckEvery = n + 1; OnNonConvergence = SinkhornNonConvergence.Ignore }

/// A pair at one scale plus a cost exponent and a relative ε.
let private problem : Gen<Empirical * Empirical * int * float> =
    gen {
        let! a, b = pair
        let! p = Gen.elements [ 1; 2 ]
        let! rel = Gen.elements [ 0.1; 0.5; 1.0 ]
        return a, b, p, rel
    }

/// Two lists of distributions in one dimension at one scale (for pairwise checks).
let private lists : Gen<Empirical[] * Empirical[] * int> =
    gen {
        let! d = dimension
        let! s = scale
        let! n = Gen.choose (1, 3)
        let! m = Gen.choose (1, 4)
        let! xs = Gen.arrayOfLength n (empiricalAt d s)
        let! ys = Gen.arrayOfLength m (empiricalAt d s)
        let! p = Gen.elements [ 1; 2 ]
        return xs, ys, p
    }

let private solve1 (dtype: torch.ScalarType) (a: Empirical) (b: Empirical) (o: SinkhornOptions) =
    use ba = batchOf dtype [| a |]
    use bb = batchOf dtype [| b |]
    TensorSinkhorn.solve (ba, bb, o)

let private divergence1 (dtype: torch.ScalarType) (a: Empirical) (b: Empirical) (o: SinkhornOptions) =
    use _ = torch.NewDisposeScope()
    use ba = batchOf dtype [| a |]
    use bb = batchOf dtype [| b |]
    scalar ((TensorSinkhorn.divergence o).Paired(ba, bb))

/// A distribution with 1–6 points drawn from a continuum (no ties: the p = 1 cost has kinks at coincident points,
/// where a central difference straddles the kink).
let private smoothAt (d: int) (s: float) : Gen<Empirical> =
    gen {
        let! n = Gen.choose (1, 6)
        let! v = Gen.arrayOfLength (n * d) (Gen.choose (-1000000, 1000000))
        let! w = Gen.arrayOfLength n (Gen.choose (1, 100))
        return Empirical.Create(Array2D.init n d (fun i k -> s * float v.[i * d + k] / 1e6), Array.map float w)
    }

/// The same distribution with k extra zero-weight points far away.
let private padded (a: Empirical) (k: int) =
    let n, d = a.Count, a.Dimension
    let pts = Array2D.init (n + k) d (fun i j -> if i < n then a.Points.[i, j] else 1e3 * float (i + j + 1))
    Empirical.Create(pts, Array.append a.Weights (Array.zeroCreate k))

/// Asserts that f throws exactly T (or a subclass) with the given ParamName and a message containing fragment.
let private throwsArg<'T when 'T :> ArgumentException> (param: string) (fragment: string) (f: unit -> obj) =
    try
        f () |> ignore
        failtestf "expected %s for %s, nothing was thrown" typeof<'T>.Name param
    with
    | :? 'T as e ->
        Expect.equal e.ParamName param "ParamName"
        Expect.stringContains e.Message fragment "message"
    | e -> failtestf "expected %s for %s, got %s: %s" typeof<'T>.Name param (e.GetType().Name) e.Message

/// Autograd gradient of a scalar function of a [1,T,d] points tensor.
let private gradientOf (points: Tensor) (weights: Tensor) (value: DistributionBatch -> Tensor) : float[] =
    use _ = torch.NewDisposeScope()
    let x = points.detach().clone().requires_grad_(true)
    use batch = DistributionBatch.FromTensors(x, weights)
    let v = (value batch).sum()
    v.backward()
    values x.grad

/// Central finite differences of a scalar function of the points, step h.
let private finiteDifferences (points: Tensor) (weights: Tensor) (h: float) (value: DistributionBatch -> Tensor) : float[] =
    let base' = values points
    let shape = points.shape
    Array.init base'.Length (fun i ->
        let at (delta: float) =
            use _ = torch.NewDisposeScope()
            let moved = Array.copy base'
            moved.[i] <- moved.[i] + delta
            use _ = torch.no_grad ()
            let x = torch.tensor(moved, dtype = torch.float64).reshape(shape)
            use batch = DistributionBatch.FromTensors(x, weights)
            scalar ((value batch).sum())
        (at h - at -h) / (2.0 * h))

/// Two deterministic clouds of 64 points in d = 4 (standard normal and N(1.5, 1.5²)) scaled by s, as float64
/// Empiricals: W₂² ≈ 18 at s = 1, the issue's "silent-wrong" shape.
let private clouds64 (s: float) =
    use _ = torch.NewDisposeScope()
    use gen = new torch.Generator(11UL)
    let x = torch.randn([| 64L; 4L |], dtype = torch.float64, generator = gen)
    let y = torch.randn([| 64L; 4L |], dtype = torch.float64, generator = gen)
    let arr (t: Tensor) =
        let v = values t
        Array2D.init 64 4 (fun i k -> s * v.[i * 4 + k])
    Empirical.Uniform(arr x), Empirical.Uniform(Array2D.map (fun v -> 1.5 * v + 1.5 * s) (arr y))

/// The empirical rounded to float32 (so that a float32 and a float64 solve see the same points).
let private rounded (e: Empirical) = Empirical.Create(Array2D.map (fun (v: float) -> float (float32 v)) e.Points, e.Weights)

/// The same distribution with its points in reverse order (a rewritten copy of equal law).
let private reversed (e: Empirical) =
    let n = e.Count
    Empirical.Create(Array2D.init n e.Dimension (fun i k -> e.Points.[n - 1 - i, k]), Array.rev e.Weights)

let private maxAbs (xs: float[]) = xs |> Array.fold (fun m x -> max m (abs x)) 0.0

let private expectGradientsClose (tol: float) (what: string) (expected: float[]) (actual: float[]) =
    let s = max (maxAbs expected) 1e-300
    for i in 0 .. expected.Length - 1 do
        if not (abs (expected.[i] - actual.[i]) <= tol * s) || Double.IsNaN actual.[i] then
            failtestf "%s: component %d expected %.12g, got %.12g (max |gradient| %.3g, tolerance %.1g relative)" what i expected.[i] actual.[i] s tol

[<Tests>]
let tests =
    testList "tensor.sinkhorn" [
        property "plan marginals match a and b within the tolerance (float64)" 40 problem (fun (a, b, p, rel) ->
            let eps = rel * costScale p a b
            use r = solve1 torch.float64 a b { converged eps p with KeepPlan = true }
            let plan = values r.Plan
            let ta, tb = a.Count, b.Count
            let rows = Array.init ta (fun i -> Array.sum plan.[i * tb .. i * tb + tb - 1])
            let cols = Array.init tb (fun j -> Seq.sum (seq { for i in 0 .. ta - 1 -> plan.[i * tb + j] }))
            let err = Array.fold2 (fun s x y -> s + abs (x - y)) 0.0 rows a.Weights + Array.fold2 (fun s x y -> s + abs (x - y)) 0.0 cols b.Weights
            Expect.isLessThanOrEqual err 1e-9 "recomputed L1 marginal error"
            Expect.isLessThanOrEqual (scalar r.MarginalError) 1e-9 "reported marginal error"
            Expect.floatClose Accuracy.high (scalar r.MarginalError) err "reported = recomputed error"
            Expect.isTrue (plan |> Array.forall (fun v -> v >= 0.0)) "plan ≥ 0")

        property "entropic cost = ⟨P,C⟩ + ε·KL(P | a⊗b) ≥ ⟨P,C⟩ ≥ 0 at convergence (float64)" 40 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let eps = rel * scale
            use r = solve1 torch.float64 a b { converged eps p with KeepPlan = true }
            let plan = values r.Plan
            let tb = b.Count
            let mutable kl = 0.0
            for i in 0 .. a.Count - 1 do
                for j in 0 .. tb - 1 do
                    let v = plan.[i * tb + j]
                    if v > 0.0 then kl <- kl + v * log (v / (a.Weights.[i] * b.Weights.[j]))
            let transport, entropic = scalar r.TransportCost, scalar r.EntropicCost
            expectClose 1e-9 "OT_ε vs primal objective (relative to the cost scale)" ((transport + eps * kl) / scale) (entropic / scale)
            Expect.isGreaterThanOrEqual (transport / scale) -1e-12 "⟨P,C⟩ ≥ 0"
            Expect.isGreaterThanOrEqual ((entropic - transport) / scale) -1e-9 "OT_ε ≥ ⟨P,C⟩")

        property "both potentials and costs are symmetric under swapping a and b" 30 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let o = converged (rel * scale) p
            use ab = solve1 torch.float64 a b o
            use ba = solve1 torch.float64 b a o
            expectClose 1e-8 "transport cost" (scalar ab.TransportCost / scale) (scalar ba.TransportCost / scale)
            expectClose 1e-8 "entropic cost" (scalar ab.EntropicCost / scale) (scalar ba.EntropicCost / scale))

        // S_ε(a, a′) with a′ the same measure written differently (not a itself: the cross and self solves of one
        // array can agree whatever they compute): points reversed, the first atom split into two half-weight
        // duplicates, a far zero-weight point appended.
        property "S_ε(a, a′) = 0 for a′ = a reversed, an atom split, zero-weight padding; S_ε(a, b) ≥ 0" 40 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let o = converged (rel * scale) p
            let n = a.Count
            let far = 1.0 + 10.0 * (a.Points |> Seq.cast<float> |> Seq.map abs |> Seq.max)
            let source i = if i < n then n - 1 - i else n - 1   // row n duplicates row 0 of the reversed order (atom n − 1)
            let rewritten =
                Empirical.Create(
                    Array2D.init (n + 2) a.Dimension (fun i k -> if i <= n then a.Points.[source i, k] else far),
                    Array.init (n + 2) (fun i -> if i = 0 || i = n then 0.5 * a.Weights.[n - 1] elif i > n then 0.0 else a.Weights.[source i]))
            let saa = divergence1 torch.float64 a rewritten o
            let sab = divergence1 torch.float64 a b o
            Expect.isLessThanOrEqual (abs saa / scale) 1e-8 "|S_ε(a, a)| relative to the cost scale"
            Expect.isGreaterThanOrEqual (sab / scale) -1e-8 "S_ε(a, b) ≥ 0")

        property "pairwise[i, j] = paired(a_i, b_j) for both distance objects" 20 lists (fun (xs, ys, p) ->
            use _ = torch.NewDisposeScope()
            let scale = Array.average [| for x in xs do for y in ys -> costScale p x y |]
            let o = fixedIterations (0.3 * scale) p 60
            use ba = batchOf torch.float64 xs
            use bb = batchOf torch.float64 ys
            for distance in [ TensorSinkhorn.distance o; TensorSinkhorn.divergence o ] do
                let pw = values (distance.Pairwise(ba, bb))
                for i in 0 .. xs.Length - 1 do
                    for j in 0 .. ys.Length - 1 do
                        use bi = batchOf torch.float64 [| xs.[i] |]
                        use bj = batchOf torch.float64 [| ys.[j] |]
                        let single = scalar (distance.Paired(bi, bj))
                        expectClose 1e-10 $"{distance.Name} [{i},{j}]" (single / scale) (pw.[i * ys.Length + j] / scale))

        property "zero-weight padding changes nothing" 30 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let o = fixedIterations (rel * scale) p 50
            use plain = solve1 torch.float64 a b o
            use pad = solve1 torch.float64 (padded a 3) (padded b 1) o
            expectClose 1e-11 "transport cost" (scalar plain.TransportCost / scale) (scalar pad.TransportCost / scale)
            expectClose 1e-11 "entropic cost" (scalar plain.EntropicCost / scale) (scalar pad.EntropicCost / scale)
            let s1 = divergence1 torch.float64 a b o
            let s2 = divergence1 torch.float64 (padded a 2) (padded b 2) o
            expectClose 1e-11 "divergence" (s1 / scale) (s2 / scale))

        property "results do not depend on the block size" 15 lists (fun (xs, ys, p) ->
            use _ = torch.NewDisposeScope()
            let scale = Array.average [| for x in xs do for y in ys -> costScale p x y |]
            use ba = batchOf torch.float64 xs
            use bb = batchOf torch.float64 ys
            let run (make: SinkhornOptions -> IDistance) blockSize =
                let d = make { fixedIterations (0.3 * scale) p 40 with BlockSize = blockSize }
                values (d.Pairwise(ba, bb)), values (d.Paired(ba, ba))
            for make in [ TensorSinkhorn.distance; TensorSinkhorn.divergence ] do
                let pw1, pd1 = run make 1000
                for blockSize in [ 1; 2; 5 ] do
                    let pw, pd = run make blockSize
                    Array.iter2 (fun x y -> expectClose 1e-11 $"pairwise, block {blockSize}" (x / scale) (y / scale)) pw1 pw
                    Array.iter2 (fun x y -> expectClose 1e-11 $"paired, block {blockSize}" (x / scale) (y / scale)) pd1 pd)

        // Each batched solve stops when all of its pairs meet the tolerance, so the grouping of pairs into solves shows
        // in the values: pairwise must solve the row-major pairs (i, j) BlockSize at a time (for B' ≤ BlockSize), the
        // grouping paired uses for the same list of pairs.
        property "pairwise solves the row-major pairs BlockSize at a time (B' ≤ BlockSize): = paired on those pairs, bit for bit" 15 lists (fun (xs, ys, p) ->
            use _ = torch.NewDisposeScope()
            let scale = Array.average [| for x in xs do for y in ys -> costScale p x y |]
            use ba = batchOf torch.float64 xs
            use bb = batchOf torch.float64 ys
            let n, m = xs.Length, ys.Length
            use pa = (ba :> IEmbeddingBatch).Select(torch.tensor [| for k in 0 .. n * m - 1 -> int64 (k / m) |])
            use pb = (bb :> IEmbeddingBatch).Select(torch.tensor [| for k in 0 .. n * m - 1 -> int64 (k % m) |])
            for extra in [ 0; 1; 3 ] do
                let o =
                    { SinkhornOptions.Create(0.3 * scale) with
                        Power = p; Tolerance = 1e-4; CheckEvery = 1; BlockSize = m + extra; OnNonConvergence = SinkhornNonConvergence.Ignore }
                for distance in [ TensorSinkhorn.distance o; TensorSinkhorn.unbalancedDistance (scale, o) ] do
                    Expect.equal (values (distance.Pairwise(ba, bb))) (values (distance.Paired(pa, pb))) $"{distance.Name}, BlockSize {o.BlockSize}")

        property "float64 agrees with the reference (both converged to 1e-11): costs, plan, S_ε within 1e-8" 40 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let eps = rel * scale
            let o = converged eps p
            use r = solve1 torch.float64 a b { o with KeepPlan = true }
            let reference = ReferenceSinkhorn.solvePoints (float p, a, b, eps, o.MaxIterations, o.Tolerance)
            Expect.isLessThanOrEqual reference.MarginalError 1e-10 "reference converged"
            Expect.isLessThanOrEqual (scalar r.MarginalError) 1e-10 "tensor solver converged"
            expectClose 1e-8 "transport cost / cost scale" (reference.TransportCost / scale) (scalar r.TransportCost / scale)
            expectClose 1e-8 "entropic cost / cost scale" (reference.EntropicCost / scale) (scalar r.EntropicCost / scale)
            let plan = values r.Plan
            let tb = b.Count
            for i in 0 .. a.Count - 1 do
                for j in 0 .. tb - 1 do
                    if not (abs (plan.[i * tb + j] - reference.Plan.[i, j]) <= 1e-8) then
                        failtestf "plan[%d,%d]: reference %.17g, tensor %.17g" i j reference.Plan.[i, j] plan.[i * tb + j]
            let sRef = ReferenceSinkhorn.divergence (float p, a, b, eps, o.MaxIterations, o.Tolerance)
            expectClose 1e-8 "S_ε / cost scale" (sRef / scale) (divergence1 torch.float64 a b o / scale))

        property "float32 agrees with the float64 reference within 1e-4 relative" 30 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let eps = rel * scale
            let o32 = { converged eps p with Tolerance = 1e-6; MaxIterations = 5000 }
            let reference = ReferenceSinkhorn.solvePoints (float p, a, b, eps, 20000, 1e-11)
            use r32 = solve1 torch.float32 a b o32
            expectClose 1e-4 "transport cost / cost scale" (reference.TransportCost / scale) (scalar r32.TransportCost / scale)
            expectClose 1e-4 "entropic cost / cost scale" (reference.EntropicCost / scale) (scalar r32.EntropicCost / scale)
            let sRef = ReferenceSinkhorn.divergence (float p, a, b, eps, 20000, 1e-11)
            expectClose 1e-4 "S_ε / cost scale" (sRef / scale) (divergence1 torch.float32 a b o32 / scale))

        property "small ε (1e-2 of the mean cost; exponentials underflow): float64 within 1e-8, float32 within 1e-3 of the reference" 15
            (gen {
                let! a, b = pair
                let! p = Gen.elements [ 1; 2 ]
                return a, b, p
             })
            (fun (a, b, p) ->
                let scale = costScale p a b
                let eps = 1e-2 * scale
                let reference = ReferenceSinkhorn.solvePoints (float p, a, b, eps, 200000, 1e-11)
                use r64 = solve1 torch.float64 a b { converged eps p with MaxIterations = 200000 }
                expectClose 1e-8 "float64 transport cost / cost scale" (reference.TransportCost / scale) (scalar r64.TransportCost / scale)
                expectClose 1e-8 "float64 entropic cost / cost scale" (reference.EntropicCost / scale) (scalar r64.EntropicCost / scale)
                use r32 = solve1 torch.float32 a b { converged eps p with Tolerance = 1e-5; MaxIterations = 200000 }
                expectClose 1e-3 "float32 transport cost / cost scale" (reference.TransportCost / scale) (scalar r32.TransportCost / scale))

        property "the no-autograd iterations give the values of the autograd path (float64)" 20 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let o = fixedIterations (rel * scale) p 30
            use ba = batchOf torch.float64 [| a |]
            use bb = batchOf torch.float64 [| b |]
            use plain = (use _ = torch.no_grad () in TensorSinkhorn.solve (ba, bb, o))
            use x = ba.Points.detach().clone().requires_grad_(true)
            use live = DistributionBatch.FromTensors(x, ba.Weights)
            use unrolled = TensorSinkhorn.solve (live, bb, { o with Gradient = SinkhornGradient.Unrolled })
            use envelope = TensorSinkhorn.solve (live, bb, o)
            // Unrolled under autograd runs every half-step through libtorch's logsumexp; the plain solve runs the
            // in-place half-steps. Envelope under autograd runs the in-place iterations plus an autograd final step.
            expectClose 1e-10 "transport cost (unrolled)" (scalar plain.TransportCost / scale) (scalar unrolled.TransportCost / scale)
            expectClose 1e-10 "transport cost (envelope)" (scalar plain.TransportCost / scale) (scalar envelope.TransportCost / scale)
            expectClose 1e-10 "entropic cost (envelope)" (scalar plain.EntropicCost / scale) (scalar envelope.EntropicCost / scale))

        property "ε-scaling reaches the same solution" 20 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let o = converged (rel * scale) p
            use plain = solve1 torch.float64 a b o
            use scaled = solve1 torch.float64 a b { o with EpsilonScaling = 0.5 }
            expectClose 1e-8 "transport cost" (scalar plain.TransportCost / scale) (scalar scaled.TransportCost / scale)
            expectClose 1e-8 "entropic cost" (scalar plain.EntropicCost / scale) (scalar scaled.EntropicCost / scale))

        property "finite for ε down to 1e-3 of the cost scale and costs up to 1e4 (float32, float64)" 12
            (gen {
                let! d = dimension
                let! a = empiricalAt d 1.0
                let! b = empiricalAt d 1.0
                let! p = Gen.elements [ 1; 2 ]
                return a, b, p
             })
            (fun (a, b, p) ->
                // Rescale the points so that the largest cost is 1e4.
                let maxCost =
                    seq { for i in 0 .. a.Count - 1 do
                            for j in 0 .. b.Count - 1 ->
                                let sq = Seq.sum (seq { for k in 0 .. a.Dimension - 1 -> (a.Points.[i, k] - b.Points.[j, k]) ** 2.0 })
                                if p = 2 then sq else sqrt sq }
                    |> Seq.max
                let factor = if maxCost > 0.0 then (1e4 / maxCost) ** (1.0 / float p) else 1.0
                let grow (e: Empirical) = Empirical.Create(Array2D.map (fun v -> v * factor) e.Points, e.Weights)
                let a, b = grow a, grow b
                let eps = 1e-3 * costScale p a b
                for dtype in [ torch.float32; torch.float64 ] do
                    let o = { SinkhornOptions.Create eps with Power = p; MaxIterations = 200; OnNonConvergence = SinkhornNonConvergence.Ignore }
                    use r = solve1 dtype a b o
                    for name, t in [ "transport", r.TransportCost; "entropic", r.EntropicCost; "error", r.MarginalError ] do
                        Expect.isTrue (Double.IsFinite (scalar t)) $"{name} finite ({dtype})"
                    Expect.isTrue (Double.IsFinite (divergence1 dtype a b o)) $"divergence finite ({dtype})"
                    use bb = batchOf dtype [| b |]
                    use ba = batchOf dtype [| a |]
                    let g = gradientOf ba.Points ba.Weights (fun x -> (TensorSinkhorn.divergence o).Paired(x, bb))
                    Expect.isTrue (g |> Array.forall Double.IsFinite) $"divergence gradient finite ({dtype})")

        property "envelope gradient of OT_ε and S_ε = central finite differences (float64)" 15
            (gen {
                let! d = Gen.choose (1, 3)
                let! s = Gen.elements [ 1e-2; 1.0; 10.0 ]
                let! a = smoothAt d s
                let! b = smoothAt d s
                let! p = Gen.elements [ 1; 2 ]
                return a, b, p, s
             })
            (fun (a, b, p, s) ->
                use _ = torch.NewDisposeScope()
                let o = { converged (0.5 * costScale p a b) p with Tolerance = 1e-13; MaxIterations = 50000; CheckEvery = 1 }
                use ba = batchOf torch.float64 [| a |]
                use bb = batchOf torch.float64 [| b |]
                let entropic (x: DistributionBatch) = (TensorSinkhorn.solve (x, bb, o)).EntropicCost
                let divergence (x: DistributionBatch) = (TensorSinkhorn.divergence o).Paired(x, bb)
                let h = 1e-6 * s
                for name, f in [ "OT_ε", entropic; "S_ε", divergence ] do
                    let g = gradientOf ba.Points ba.Weights f
                    let fd = finiteDifferences ba.Points ba.Weights h f
                    expectGradientsClose 1e-5 name fd g)

        property "envelope gradient = unrolled gradient at convergence" 15 problem (fun (a, b, p, rel) ->
            use _ = torch.NewDisposeScope()
            let o = { converged (max rel 0.5 * costScale p a b) p with Tolerance = 1e-12 }
            use ba = batchOf torch.float64 [| a |]
            use bb = batchOf torch.float64 [| b |]
            let entropic mode (x: DistributionBatch) = (TensorSinkhorn.solve (x, bb, { o with Gradient = mode })).EntropicCost
            let env = gradientOf ba.Points ba.Weights (entropic SinkhornGradient.Envelope)
            let unr = gradientOf ba.Points ba.Weights (entropic SinkhornGradient.Unrolled)
            expectGradientsClose 1e-6 "OT_ε gradient" unr env)

        property "S_ε gradient at a = b is finite and zero" 20 problem (fun (a, _, p, rel) ->
            use _ = torch.NewDisposeScope()
            let o = converged (rel * costScale p a a) p
            use ba = batchOf torch.float64 [| a |]
            use same = batchOf torch.float64 [| a |]
            for mode in [ SinkhornGradient.Envelope; SinkhornGradient.Unrolled ] do
                let g = gradientOf ba.Points ba.Weights (fun x -> (TensorSinkhorn.divergence { o with Gradient = mode }).Paired(x, same))
                Expect.isTrue (g |> Array.forall Double.IsFinite) $"finite ({mode})"
                let scale = sqrt (costScale p a a)
                Expect.isLessThanOrEqual (maxAbs g / scale) 1e-6 $"|∇S_ε(a, a)| ({mode})")

        property "float32 at an absolute ε = 0.1 for scales 1e-3…1e6: finite, and within 1e-3 of the float64 solve unless reported unconverged" 12
            (gen {
                let! d = dimension
                let! a = empiricalAt d 1.0
                let! b = empiricalAt d 1.0
                let! s = Gen.elements [ 1e-3; 1.0; 1e2; 1e3; 1e4; 1e6 ]
                let! p = Gen.elements [ 1; 2 ]
                return a, b, s, p
             })
            (fun (a, b, s, p) ->
                let grow (e: Empirical) = rounded (Empirical.Create(Array2D.map (fun v -> v * s) e.Points, e.Weights))
                let a, b = grow a, grow b
                let o = { SinkhornOptions.Create 0.1 with Power = p; OnNonConvergence = SinkhornNonConvergence.Ignore }
                use r32 = solve1 torch.float32 a b o
                use r64 = solve1 torch.float64 a b o
                let t32, t64 = scalar r32.TransportCost, scalar r64.TransportCost
                let e32, e64 = scalar r32.EntropicCost, scalar r64.EntropicCost
                Expect.isTrue (Double.IsFinite t32 && Double.IsFinite e32) $"float32 finite (transport {t32}, entropic {e32})"
                let maxCost =
                    seq { for i in 0 .. a.Count - 1 do
                            for j in 0 .. b.Count - 1 ->
                                let sq = Seq.sum (seq { for k in 0 .. a.Dimension - 1 -> (a.Points.[i, k] - b.Points.[j, k]) ** 2.0 })
                                if p = 2 then sq else sqrt sq }
                    |> Seq.max
                // The column marginal is exact after every iteration, so the plan has mass 1 and ⟨P, C⟩ ≤ max C.
                Expect.isLessThanOrEqual t32 (maxCost * 1.001 + 1e-9) "⟨P, C⟩ ≤ max C"
                if r32.Converged then
                    Expect.isTrue r64.Converged "float64 converged where float32 did"
                    expectClose 1e-3 "transport cost, float32 vs float64" t64 t32
                    expectClose 1e-3 "entropic cost, float32 vs float64" e64 e32)

        property "the reported convergence matches the returned plan's row-marginal error" 30
            (gen {
                let! a, b, p, rel = problem
                let! n = Gen.choose (1, 40)
                let! every = Gen.choose (1, 7)
                let! tol = Gen.elements [ 1e-2; 1e-4; 1e-7 ]
                return a, b, p, rel, n, every, tol
             })
            (fun (a, b, p, rel, n, every, tol) ->
                let eps = 0.05 * rel * costScale p a b
                let o = { SinkhornOptions.Create eps with
                            Power = p; MaxIterations = n; CheckEvery = every; Tolerance = tol; KeepPlan = true
                            OnNonConvergence = SinkhornNonConvergence.Ignore }
                use r = solve1 torch.float64 a b o
                let plan = values r.Plan
                let tb = b.Count
                let rowError = Seq.sum (seq { for i in 0 .. a.Count - 1 -> abs (Array.sum plan.[i * tb .. i * tb + tb - 1] - a.Weights.[i]) })
                Expect.isLessThanOrEqual r.Iterations n "iterations ≤ MaxIterations"
                if r.Converged then Expect.isLessThanOrEqual rowError (tol * (1.0 + 1e-6) + 1e-13) "converged ⇒ row error ≤ tolerance"
                else
                    Expect.equal r.Iterations n "unconverged ⇒ stopped at the cap"
                    Expect.isGreaterThan rowError (tol * (1.0 - 1e-6)) "unconverged ⇒ row error > tolerance")

        testCase "an unconverged solve is reported: result, diagnostics, Warn/Throw (64-point clouds, ε = 0.001)" <| fun () ->
            let a, b = clouds64 1.0
            let o = SinkhornOptions.Create 0.001
            use r = solve1 torch.float64 a b { o with OnNonConvergence = SinkhornNonConvergence.Ignore }
            Expect.isFalse r.Converged "ε = 0.001 does not converge in 1000 iterations"
            Expect.equal r.Iterations 1000 "stopped at the cap"
            use ok = solve1 torch.float64 a b (SinkhornOptions.Create 1.0)
            Expect.isTrue ok.Converged "ε = 1 converges"
            Expect.isLessThan ok.Iterations 1000 "before the cap"
            Expect.throwsT<SinkhornNotConvergedException> (fun () ->
                solve1 torch.float64 a b { o with OnNonConvergence = SinkhornNonConvergence.Throw } |> ignore) "Throw throws"
            use ba = batchOf torch.float64 [| a |]
            use bb = batchOf torch.float64 [| b |]
            for name in [ "sinkhorn"; "sinkhorn-divergence" ] do
                let quiet = DistanceOptions(Epsilon = 0.001, OnNonConvergence = SinkhornNonConvergence.Ignore)
                let d = Distances.Create(name, quiet)
                use _ = d.Paired(ba, bb)
                let diagnostics = (d :?> ISinkhornDistance).Diagnostics
                Expect.isGreaterThan diagnostics.UnconvergedSolves 0L $"{name}: unconverged solves recorded"
                Expect.isGreaterThan diagnostics.MaxUnconvergedMarginalError 1e-6 $"{name}: their error exceeds the tolerance"
                if name = "sinkhorn" then Expect.isFalse diagnostics.LastConverged "sinkhorn: last solve unconverged"
                let strict = Distances.Create(name, DistanceOptions(Epsilon = 0.001, OnNonConvergence = SinkhornNonConvergence.Throw))
                Expect.throwsT<SinkhornNotConvergedException> (fun () -> strict.Paired(ba, bb) |> ignore) $"{name}: Throw throws"
                let fine = Distances.Create(name, DistanceOptions(Epsilon = 1.0))
                use _ = fine.Pairwise(ba, bb)
                let fd = (fine :?> ISinkhornDistance).Diagnostics
                Expect.equal fd.UnconvergedSolves 0L $"{name}: ε = 1 converges"
                Expect.isGreaterThan fd.Solves 0L $"{name}: solves recorded"
                fd.Reset()
                Expect.equal fd.Solves 0L "reset"

        property "float32 S_ε(a, a') = 0 up to round-off and S_ε ≥ 0 for scales 1e-3…1e6 (a' = a reversed)" 30
            (gen {
                let! d = dimension
                let! a = empiricalAt d 1.0
                let! b = empiricalAt d 1.0
                let! s = Gen.elements [ 1e-3; 1.0; 1e3; 1e6 ]
                let! rel = Gen.elements [ 0.1; 1.0; 10.0 ]
                let! p = Gen.elements [ 1; 2 ]
                return a, b, s, rel, p
             })
            (fun (a, b, s, rel, p) ->
                let grow (e: Empirical) = rounded (Empirical.Create(Array2D.map (fun v -> v * s) e.Points, e.Weights))
                let a, b = grow a, grow b
                let scale = costScale p a b
                let o = { converged (rel * scale) p with Tolerance = 1e-6; MaxIterations = 5000 }
                let same = divergence1 torch.float32 a (reversed a) o
                Expect.isGreaterThanOrEqual same 0.0 "S_ε(a, a') ≥ 0"
                Expect.isLessThanOrEqual (same / costScale p a a) 1e-5 "S_ε(a, a') ≤ round-off (relative to the cost scale)"
                Expect.isGreaterThanOrEqual (divergence1 torch.float32 a b o) 0.0 "S_ε(a, b) ≥ 0")

        property "ε-scaling's levels do not depend on zero-weight padding" 25 problem (fun (a, b, p, rel) ->
            let scale = costScale p a b
            let o = { fixedIterations (rel * scale) p 5 with EpsilonScaling = 0.5 }
            use plain = solve1 torch.float64 a b o
            use pad = solve1 torch.float64 (padded a 3) (padded b 1) o
            Expect.equal pad.Iterations plain.Iterations "same number of levels"
            expectClose 1e-11 "transport cost" (scalar plain.TransportCost / scale) (scalar pad.TransportCost / scale)
            expectClose 1e-11 "entropic cost" (scalar plain.EntropicCost / scale) (scalar pad.EntropicCost / scale)
            expectClose 1e-11 "divergence" (divergence1 torch.float64 a b o / scale) (divergence1 torch.float64 (padded a 2) (padded b 2) o / scale))

        testCase "bad options are rejected naming the option" <| fun () ->
            use a = batchOf torch.float64 [| Empirical.Uniform(array2D [ [ 0.0 ]; [ 1.0 ] ]) |]
            let o = SinkhornOptions.Create 0.1
            let cases =
                [ { o with Epsilon = 0.0 }, "options.Epsilon"
                  { o with Epsilon = Double.NaN }, "options.Epsilon"
                  { o with Power = 3 }, "options.Power"
                  { o with MaxIterations = 0 }, "options.MaxIterations"
                  { o with Tolerance = 0.0 }, "options.Tolerance"
                  { o with Tolerance = Double.PositiveInfinity }, "options.Tolerance"
                  { o with CheckEvery = 0 }, "options.CheckEvery"
                  { o with EpsilonScaling = 1.0 }, "options.EpsilonScaling"
                  { o with EpsilonScaling = -0.5 }, "options.EpsilonScaling"
                  { o with Gradient = enum<SinkhornGradient> 7 }, "options.Gradient"
                  { o with BlockSize = 0 }, "options.BlockSize"
                  { o with OnNonConvergence = enum<SinkhornNonConvergence> 9 }, "options.OnNonConvergence" ]
            for bad, fragment in cases do
                throwsArg<ArgumentException> "options" fragment (fun () -> box (TensorSinkhorn.solve (a, a, bad)))
                throwsArg<ArgumentException> "options" fragment (fun () -> box (TensorSinkhorn.distance bad))
                throwsArg<ArgumentException> "options" fragment (fun () -> box (TensorSinkhorn.divergence bad))
            throwsArg<ArgumentNullException> "options" "options" (fun () -> box (TensorSinkhorn.solve (a, a, Unchecked.defaultof<SinkhornOptions>)))

        testCase "bad inputs are rejected naming the argument" <| fun () ->
            let o = SinkhornOptions.Create 0.1
            let one = Empirical.Uniform(array2D [ [ 0.0; 1.0 ]; [ 1.0; 0.0 ] ])
            use a = batchOf torch.float64 [| one; one |]
            use a1 = batchOf torch.float64 [| one |]
            use a32 = batchOf torch.float32 [| one; one |]
            use a3d = batchOf torch.float64 [| Empirical.Uniform(array2D [ [ 0.0; 1.0; 2.0 ] ]); Empirical.Uniform(array2D [ [ 1.0; 1.0; 1.0 ] ]) |]
            use v = VectorBatch.FromArray(array2D [ [ 0.0; 1.0 ]; [ 1.0; 0.0 ] ], torch.CPU)
            for distance in [ TensorSinkhorn.distance o; TensorSinkhorn.divergence o ] do
                throwsArg<ArgumentException> "a" "accepts Distributions" (fun () -> box (distance.Paired(v, a)))
                throwsArg<ArgumentException> "b" "accepts Distributions" (fun () -> box (distance.Pairwise(a, v)))
                throwsArg<ArgumentNullException> "a" "a" (fun () -> box (distance.Paired(Unchecked.defaultof<IEmbeddingBatch>, a)))
                throwsArg<ArgumentException> "b" "has 1 distributions but a has 2" (fun () -> box (distance.Paired(a, a1)))
                throwsArg<ArgumentException> "b" "dimension d = 3" (fun () -> box (distance.Pairwise(a, a3d)))
                throwsArg<ArgumentException> "b" "dtype" (fun () -> box (distance.Paired(a, a32)))
                Expect.equal distance.Accepts Representation.Distributions "accepts distributions"
                Expect.isFalse distance.IsMetric "not a metric"
                Expect.isTrue distance.IsSymmetric "symmetric"
            throwsArg<ArgumentException> "b" "has 1 distributions but a has 2" (fun () -> box (TensorSinkhorn.solve (a, a1, o)))
            throwsArg<ArgumentException> "b" "dimension d = 3" (fun () -> box (TensorSinkhorn.solve (a, a3d, o)))
            throwsArg<ArgumentNullException> "b" "b" (fun () -> box (TensorSinkhorn.solve (a, Unchecked.defaultof<DistributionBatch>, o)))
            throwsArg<ArgumentException> "power" "power = 3" (fun () -> box (TensorSinkhorn.cost (a, a, 3)))
            Expect.equal (TensorSinkhorn.distance o).Name "sinkhorn" "name"
            Expect.equal (TensorSinkhorn.divergence o).Name "sinkhorn-divergence" "name"

        testCase "the cost matrix is ‖x − y‖^p and keeps the dtype" <| fun () ->
            let x = Empirical.Uniform(array2D [ [ 0.0; 0.0 ]; [ 3.0; 4.0 ] ])
            let y = Empirical.Uniform(array2D [ [ 3.0; 4.0 ]; [ 6.0; 8.0 ]; [ 0.0; 1.0 ] ])
            for dtype in [ torch.float32; torch.float64 ] do
                use a = batchOf dtype [| x |]
                use b = batchOf dtype [| y |]
                use c2 = TensorSinkhorn.cost (a, b, 2)
                use c1 = TensorSinkhorn.cost (a, b, 1)
                Expect.equal c2.dtype dtype "dtype"
                Expect.equal c2.shape [| 1L; 2L; 3L |] "shape"
                let e2 = [| 25.0; 100.0; 1.0; 0.0; 25.0; 18.0 |]
                Array.iter2 (fun e v -> expectClose 1e-6 "squared distance" e v) e2 (values c2)
                Array.iter2 (fun e v -> expectClose 1e-6 "distance" (sqrt e) v) e2 (values c1)

        testCase "the p = 1 cost is exact in chunks larger and smaller than one item" <| fun () ->
            // T·T'·d = 300·300·64 exceeds the 2^22-element chunk: the rows of one item are split across chunks.
            use _ = torch.NewDisposeScope()
            use gen = new torch.Generator(7UL)
            let x = torch.randn([| 2L; 300L; 64L |], dtype = torch.float64, generator = gen)
            let y = torch.randn([| 2L; 300L; 64L |], dtype = torch.float64, generator = gen)
            use a = DistributionBatch.FromTensors(x, null)
            use b = DistributionBatch.FromTensors(y, null)
            let c1 = values (TensorSinkhorn.cost (a, b, 1))
            let c2 = values (TensorSinkhorn.cost (a, b, 2))
            Array.iter2 (fun sq d -> expectClose 1e-12 "‖x − y‖ = sqrt ‖x − y‖²" (sqrt sq) d) c2 c1
            use same = DistributionBatch.FromTensors(x, null)
            let diagonal = values (TensorSinkhorn.cost (a, same, 1))
            for i in 0 .. 299 do
                Expect.equal diagonal.[i * 300 + i] 0.0 "coincident points cost exactly 0"
    ]
