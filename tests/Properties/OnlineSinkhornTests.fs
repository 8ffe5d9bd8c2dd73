/// Properties of the online (tiled, O(T + T') memory) Sinkhorn solver, DistEmbed.Core.OnlineSinkhorn: agreement with
/// the tensorised solver (values, divergence, point gradients) on clouds where both fit, independence from the tile
/// size, weight gradients by finite differences, and argument checks.
module DistEmbed.Properties.OnlineSinkhornTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.TensorSupport

type private Tensor = torch.Tensor

module TensorSinkhorn = DistEmbed.Core.Sinkhorn

let private scalar (t: Tensor) = (values t).[0]

let private pointsOf (e: Empirical) = torch.tensor(e.Points, dtype = torch.float64)
let private weightsOf (e: Empirical) = torch.tensor(e.Weights, dtype = torch.float64)

/// Σ_ij a_i b_j ‖x_i − y_j‖^p, or 1 where it is 0.
let private costScale (p: int) (a: Empirical) (b: Empirical) =
    let mutable s = 0.0
    for i in 0 .. a.Count - 1 do
        for j in 0 .. b.Count - 1 do
            let mutable sq = 0.0
            for k in 0 .. a.Dimension - 1 do
                let diff = a.Points.[i, k] - b.Points.[j, k]
                sq <- sq + diff * diff
            s <- s + a.Weights.[i] * b.Weights.[j] * (if p = 2 then sq else sqrt sq)
    if s > 0.0 then s else 1.0

let private tight (eps: float) (p: int) (scaling: float) =
    { SinkhornOptions.Create eps with Power = p; Tolerance = 1e-11; MaxIterations = 20000; CheckEvery = 5; EpsilonScaling = scaling }

/// A pair, a cost exponent, a relative ε, a tile size and an ε-scaling ratio.
let private problem =
    gen {
        let! a, b = pair
        let! p = Gen.elements [ 1; 2 ]
        let! rel = Gen.elements [ 0.2; 0.5; 1.0 ]
        let! tile = Gen.elements [ 3; 8; 64 ]
        let! scaling = Gen.elements [ 0.0; 0.5 ]
        let! kernel = Gen.elements [ OnlineSinkhornKernel.Fused; OnlineSinkhornKernel.Tiled ]
        return a, b, p, rel, tile, scaling, kernel
    }

let private batch (e: Empirical) = DistributionBatch.FromEmpirical([| e |], torch.CPU)

/// A distribution with 1–6 points from a continuum (no ties: the p = 1 cost has kinks at coincident points).
let private smooth =
    gen {
        let! d = Gen.choose (1, 3)
        let draw =
            gen {
                let! n = Gen.choose (1, 6)
                let! v = Gen.arrayOfLength (n * d) (Gen.choose (-1000000, 1000000))
                let! w = Gen.arrayOfLength n (Gen.choose (1, 100))
                return Empirical.Create(Array2D.init n d (fun i k -> float v.[i * d + k] / 1e6), Array.map float w)
            }
        let! a = draw
        let! b = draw
        let! p = Gen.elements [ 1; 2 ]
        return a, b, p
    }

/// Σ_ij a_i b_j ‖x_i − y_j‖^p / (Σa Σb) for tensors (the scale of the cost), or 1 where it is 0.
let private meanCost (p: int) (x: Tensor) (a: Tensor) (y: Tensor) (b: Tensor) =
    use _ = torch.NewDisposeScope()
    let c = torch.cdist(x, y)
    let c = if p = 2 then c * c else c
    let s = (values ((a.unsqueeze 1L * c * b.unsqueeze 0L).sum())).[0] / ((values (a.sum())).[0] * (values (b.sum())).[0])
    if s > 0.0 then s else 1.0

/// Larger clouds of uneven sizes (below, at and above multiples of the vector width and of the 4096-column chunk),
/// d from 1 to 5, weights in 0..5 (zeros allowed, at least one positive), float64.
let private large =
    gen {
        let! n = Gen.elements [ 1; 3; 7; 9; 17; 300; 1031 ]
        let! m = Gen.elements [ 1; 8; 13; 1025; 4095; 4097; 5000 ]
        let! swap = Gen.elements [ false; true ]
        let t, t' = if swap then m, n else n, m
        let! d = Gen.choose (1, 5)
        let! p = Gen.elements [ 1; 2 ]
        let! rel = Gen.elements [ 0.05; 0.3; 1.0 ]
        let! scaling = Gen.elements [ 0.0; 0.5 ]
        let! seed = Gen.choose (0, 1000000)
        return t, t', d, p, rel, scaling, seed
    }

/// The clouds of a `large` case (points in [0, 1)^d and [0.3, 1.3)^d, weights in 0..5 with one positive at least).
let private largeClouds (t: int, t': int, d: int, seed: int) =
    let rng = Random seed
    let cloud count shift =
        torch.tensor(Array.init (count * d) (fun _ -> rng.NextDouble() + shift), dtype = torch.float64).reshape(int64 count, int64 d)
    let w count =
        let v = Array.init count (fun _ -> float (rng.Next 6))
        if Array.forall ((=) 0.0) v then v.[0] <- 1.0
        torch.tensor(v, dtype = torch.float64)
    let x = cloud t 0.0
    let a = w t
    let y = cloud t' 0.3
    x, a, y, w t'

let private throwsArg (param: string) (fragment: string) (f: unit -> obj) =
    try
        f () |> ignore
        failtestf "expected ArgumentException for %s, nothing was thrown" param
    with
    | :? ArgumentException as e ->
        Expect.equal e.ParamName param "ParamName"
        Expect.stringContains e.Message fragment "message"
    | e -> failtestf "expected ArgumentException for %s, got %s: %s" param (e.GetType().Name) e.Message

[<Tests>]
let tests =
    testList "tensor.sinkhorn.online" [
        property "OT_ε of the online solver = the tensorised solver's entropic cost (float64, both kernels, any tile, ε-scaling on or off)" 40 problem
            (fun (a, b, p, rel, tile, scaling, kernel) ->
                use _ = torch.NewDisposeScope()
                let eps = rel * costScale p a b
                let o = tight eps p scaling
                use online = OnlineSinkhorn.solveWith kernel 0 (pointsOf a) (weightsOf a) (pointsOf b) (weightsOf b) o tile
                use ba = batch a
                use bb = batch b
                use tensorised = TensorSinkhorn.solve (ba, bb, o)
                Expect.isTrue online.Converged "online solve converged"
                Expect.isLessThanOrEqual online.MarginalError 1e-9 (sprintf "online marginal error (iterations %d, tensorised %d its error %g; T=%d T'=%d d=%d eps=%g scale=%g)" online.Iterations tensorised.Iterations (scalar tensorised.MarginalError) a.Count b.Count a.Dimension eps (costScale p a b))
                let expected = scalar tensorised.EntropicCost
                let actual = scalar online.Value
                Expect.isLessThanOrEqual (abs (actual - expected) / (costScale p a b)) 1e-8
                    (sprintf "online %.12g vs tensorised %.12g (ε = %g, tile %d, kernel %A)" actual expected eps tile kernel))

        property "the tile size does not change the value beyond rounding (float64, fixed iterations)" 30 problem
            (fun (a, b, p, rel, _, scaling, _) ->
                use _ = torch.NewDisposeScope()
                let eps = rel * costScale p a b
                let o = { tight eps p scaling with Tolerance = 1e-300; MaxIterations = 7; CheckEvery = 8; OnNonConvergence = SinkhornNonConvergence.Ignore }
                let run tile =
                    use r = OnlineSinkhorn.solveWith OnlineSinkhornKernel.Tiled 0 (pointsOf a) (weightsOf a) (pointsOf b) (weightsOf b) o tile
                    scalar r.Value
                let one, many = run 1, run 1000
                Expect.isLessThanOrEqual (abs (one - many) / costScale p a b) 1e-12 (sprintf "tile 1 %.15g vs tile 1000 %.15g" one many))

        property "S_ε of the online solver = the tensorised Sinkhorn divergence (float64, both kernels)" 30 problem
            (fun (a, b, p, rel, tile, scaling, kernel) ->
                use _ = torch.NewDisposeScope()
                let eps = rel * costScale p a b
                let o = tight eps p scaling
                let online = scalar (OnlineSinkhorn.divergenceWith kernel 0 (pointsOf a) (weightsOf a) (pointsOf b) (weightsOf b) o tile)
                use ba = batch a
                use bb = batch b
                let tensorised = scalar ((TensorSinkhorn.divergence o).Paired(ba, bb))
                Expect.isLessThanOrEqual (abs (online - tensorised) / costScale p a b) 1e-8
                    (sprintf "online %.12g vs tensorised %.12g" online tensorised))

        property "point gradients of OT_ε and S_ε = the tensorised solver's envelope gradients (float64, both kernels)" 25 smooth (fun (a, b, p) ->
            use _ = torch.NewDisposeScope()
            let o = tight (0.5 * costScale p a b) p 0.0
            for debiased, kernel in List.allPairs [ false; true ] [ OnlineSinkhornKernel.Fused; OnlineSinkhornKernel.Tiled ] do
                let x = (pointsOf a).requires_grad_(true)
                let y = (pointsOf b).requires_grad_(true)
                let v =
                    if debiased then OnlineSinkhorn.divergenceWith kernel 0 x (weightsOf a) y (weightsOf b) o 4
                    else (OnlineSinkhorn.solveWith kernel 0 x (weightsOf a) y (weightsOf b) o 4).Value
                v.backward()
                let x2 = (pointsOf a).unsqueeze(0L).requires_grad_(true)
                let y2 = (pointsOf b).unsqueeze(0L).requires_grad_(true)
                use ba = DistributionBatch.FromTensors(x2, (weightsOf a).unsqueeze 0L)
                use bb = DistributionBatch.FromTensors(y2, (weightsOf b).unsqueeze 0L)
                let w =
                    if debiased then (TensorSinkhorn.divergence o).Paired(ba, bb).sum()
                    else (TensorSinkhorn.solve (ba, bb, o)).EntropicCost.sum()
                w.backward()
                for got, want, name in [ x.grad, x2.grad, "x"; y.grad, y2.grad, "y" ] do
                    let g, e = values got, values want
                    Array.iteri2 (fun i gi ei ->
                        Expect.isLessThanOrEqual (abs (gi - ei)) (1e-7 * (1.0 + abs ei)) (sprintf "∂/∂%s[%d] (debiased %b, kernel %A): %g vs %g" name i debiased kernel gi ei)) g e)

        property "weight gradient of OT_ε = finite differences of the value (float64, unnormalised weights, fused kernel)" 20 smooth (fun (a, b, p) ->
            use _ = torch.NewDisposeScope()
            let o = tight (0.5 * costScale p a b) p 0.0
            let raw = weightsOf a |> fun w -> w.mul(torch.tensor(3.0, dtype = torch.float64))
            let wa = raw.clone().requires_grad_(true)
            let v = (OnlineSinkhorn.solve (pointsOf a) wa (pointsOf b) (weightsOf b) o 4).Value
            v.backward()
            let grad = values wa.grad
            let baseW = values raw
            let h = 1e-6
            for i in 0 .. baseW.Length - 1 do
                let at (delta: float) =
                    use _ = torch.NewDisposeScope()
                    use _ = torch.no_grad ()
                    let moved = Array.copy baseW
                    moved.[i] <- moved.[i] + delta
                    use r = OnlineSinkhorn.solve (pointsOf a) (torch.tensor(moved, dtype = torch.float64)) (pointsOf b) (weightsOf b) o 4
                    scalar r.Value
                let fd = (at h - at -h) / (2.0 * h)
                Expect.isLessThanOrEqual (abs (grad.[i] - fd)) (1e-5 * (1.0 + abs fd)) (sprintf "∂/∂a[%d]: autograd %g vs finite difference %g" i grad.[i] fd))

        property "the fused kernel = the tiled kernel on larger uneven clouds (float64, fixed iterations; sizes across the vector width and the 4096-column chunk; zero and non-uniform weights)" 10 large
            (fun (t, t', d, p, rel, scaling, seed) ->
                use _ = torch.NewDisposeScope()
                let x, a, y, b = largeClouds (t, t', d, seed)
                let scale = meanCost p x a y b
                let o = { tight (rel * scale) p scaling with Tolerance = 1e-300; MaxIterations = 3; CheckEvery = 4; OnNonConvergence = SinkhornNonConvergence.Ignore }
                let run kernel threads =
                    use r = OnlineSinkhorn.solveWith kernel threads x a y b o 512
                    scalar r.Value, values r.F, values r.G, r.MarginalError
                let vt, ft, gt, et = run OnlineSinkhornKernel.Tiled 0
                for threads in [ 1; 2 ] do
                    let vf, ff, gf, ef = run OnlineSinkhornKernel.Fused threads
                    let what = sprintf "T = %d, T' = %d, d = %d, p = %d, ε = %g, threads %d" x.shape.[0] y.shape.[0] x.shape.[1] p (rel * scale) threads
                    Expect.isLessThanOrEqual (abs (vf - vt) / scale) 1e-9 (sprintf "value: fused %.15g vs tiled %.15g (%s)" vf vt what)
                    for name, fu, ti in [ "f", ff, ft; "g", gf, gt ] do
                        Array.iteri2 (fun i u v -> Expect.isLessThanOrEqual (abs (u - v) / scale) 1e-9 (sprintf "%s[%d]: fused %.15g vs tiled %.15g (%s)" name i u v what)) fu ti
                    Expect.isLessThanOrEqual (abs (ef - et)) (1e-9 * (1.0 + et)) (sprintf "marginal error: fused %g vs tiled %g (%s)" ef et what))

        property "far-apart clouds at a small ε (every exp(−C/ε) underflows without the max shift): the fused kernel = the tiled one, finite (float32 and float64)" 10 large
            (fun (t, t', d, p, _, _, seed) ->
                use _ = torch.NewDisposeScope()
                let x, a, y0, b = largeClouds (min t 300, min t' 300, d, seed)
                let y = y0 + torch.tensor(40.0, dtype = torch.float64)
                let scale = meanCost p x a y b
                let o = { tight (1e-4 * scale) p 0.0 with Tolerance = 1e-300; MaxIterations = 2; CheckEvery = 3; OnNonConvergence = SinkhornNonConvergence.Ignore }
                let run kernel (dtype: torch.ScalarType) =
                    use r = OnlineSinkhorn.solveWith kernel 0 (x.to_type dtype) (a.to_type dtype) (y.to_type dtype) (b.to_type dtype) o 64
                    scalar r.Value, values r.F
                let vt, ft = run OnlineSinkhornKernel.Tiled torch.float64
                for dtype, bound in [ torch.float64, 1e-9; torch.float32, 1e-4 ] do
                    let vf, ff = run OnlineSinkhornKernel.Fused dtype
                    Expect.isTrue (Double.IsFinite vf && Array.forall Double.IsFinite ff) (sprintf "fused %A: value %g and potentials finite" dtype vf)
                    Expect.isLessThanOrEqual (abs (vf - vt) / scale) bound (sprintf "fused %A %.12g vs tiled %.12g (T = %d, T' = %d, d = %d, p = %d)" dtype vf vt x.shape.[0] y.shape.[0] d p))

        property "float32 fused solve = the float64 tensorised solve within float32 rounding" 15 problem
            (fun (a, b, p, rel, _, scaling, _) ->
                use _ = torch.NewDisposeScope()
                let scale = costScale p a b
                let o = tight (rel * scale) p scaling
                let o32 = { o with Tolerance = 1e-5 }
                use online = OnlineSinkhorn.solveWith OnlineSinkhornKernel.Fused 0 ((pointsOf a).to_type torch.float32) ((weightsOf a).to_type torch.float32) ((pointsOf b).to_type torch.float32) ((weightsOf b).to_type torch.float32) o32 4
                use ba = batch a
                use bb = batch b
                use tensorised = TensorSinkhorn.solve (ba, bb, o)
                Expect.equal online.Value.dtype torch.float32 "the value keeps the inputs' dtype"
                let expected, actual = scalar tensorised.EntropicCost, scalar online.Value
                Expect.isLessThanOrEqual (abs (actual - expected) / scale) 2e-4
                    (sprintf "float32 fused %.9g vs float64 tensorised %.9g (ε = %g)" actual expected (rel * scale)))

        testCase "bad arguments name the argument and what is wrong (both kernels)" <| fun () ->
            use _ = torch.NewDisposeScope()
            let x = torch.rand(5L, 2L, dtype = torch.float64)
            let a = torch.ones(5L, dtype = torch.float64)
            let o = SinkhornOptions.Create 0.1
            let nanX = x.clone()
            nanX.[0L, 1L] <- torch.tensor(Double.NaN, dtype = torch.float64)
            for kernel in [ OnlineSinkhornKernel.Auto; OnlineSinkhornKernel.Fused; OnlineSinkhornKernel.Tiled ] do
                let solve x a y b o tile = OnlineSinkhorn.solveWith kernel 0 x a y b o tile
                throwsArg "x" "finite" (fun () -> box (solve nanX a x a o 4))
                throwsArg "y" "dimension 2" (fun () -> box (solve x a (torch.rand(5L, 3L, dtype = torch.float64)) a o 4))
                throwsArg "a" "expected weights [5]" (fun () -> box (solve x (torch.ones(4L, dtype = torch.float64)) x a o 4))
                throwsArg "b" "negative" (fun () -> box (solve x a x (a.neg()) o 4))
                throwsArg "b" "sum to 0" (fun () -> box (solve x a x (torch.zeros(5L, dtype = torch.float64)) o 4))
                throwsArg "options" "KeepPlan" (fun () -> box (solve x a x a { o with KeepPlan = true } 4))
                throwsArg "options" "envelope" (fun () -> box (solve x a x a { o with Gradient = SinkhornGradient.Unrolled } 4))
                throwsArg "tile" "tile size" (fun () -> box (solve x a x a o 0))
                throwsArg "x" "[T, d]" (fun () -> box (solve (x.unsqueeze 0L) a x a o 4))
                throwsArg "y" "dtype" (fun () -> box (solve x a (x.to_type torch.float32) (a.to_type torch.float32) o 4))
                throwsArg "threads" "thread count" (fun () -> box (OnlineSinkhorn.solveWith kernel -1 x a x a o 4))
                throwsArg "threads" "thread count" (fun () -> box (OnlineSinkhorn.divergenceWith kernel -2 x a x a o 4))
            throwsArg "kernel" "unknown kernel" (fun () -> box (OnlineSinkhorn.solveWith (enum<OnlineSinkhornKernel> 7) 0 x a x a o 4))

        testCase "null arguments and non-convergence go through the shared Validation and Sinkhorn policy (both kernels)" <| fun () ->
            use _ = torch.NewDisposeScope()
            let x = torch.rand(6L, 2L, dtype = torch.float64)
            let y = torch.rand(5L, 2L, dtype = torch.float64).add(torch.tensor(3.0, dtype = torch.float64))
            let a = torch.ones(6L, dtype = torch.float64)
            let b = torch.ones(5L, dtype = torch.float64)
            let o = SinkhornOptions.Create 0.01
            let throwing = { o with Tolerance = 1e-300; MaxIterations = 2; CheckEvery = 1; OnNonConvergence = SinkhornNonConvergence.Throw }
            for kernel in [ OnlineSinkhornKernel.Fused; OnlineSinkhornKernel.Tiled ] do
                for name, f in [ "x", (fun () -> box (OnlineSinkhorn.solveWith kernel 0 null a y b o 4))
                                 "b", (fun () -> box (OnlineSinkhorn.solveWith kernel 0 x a y null o 4)) ] do
                    try
                        f () |> ignore
                        failtestf "%A: expected ArgumentNullException for %s" kernel name
                    with :? ArgumentNullException as e ->
                        Expect.equal e.ParamName name "ParamName"
                        Expect.stringStarts e.Message $"{name} must not be null." "Validation.notNull's message"
                for f in [ (fun () -> box (OnlineSinkhorn.solveWith kernel 0 x a y b throwing 4))
                           (fun () -> box (OnlineSinkhorn.divergenceWith kernel 0 x a y b throwing 4)) ] do
                    try
                        f () |> ignore
                        failtestf "%A: expected SinkhornNotConvergedException" kernel
                    with :? SinkhornNotConvergedException as e ->
                        Expect.stringStarts e.Message "OnlineSinkhorn.solve: Sinkhorn did not converge: marginal error " "the shared message"
                        Expect.equal e.Iterations 2 "iterations at the cap"
                        Expect.equal e.Tolerance 1e-300 "tolerance"

        testCase "the vectorised exp is within its documented bound of Math.Exp, 0 below the normal range, never NaN" <| fun () ->
            let rng = Random 11
            // float32: a dense random sweep of [−87.33, 88] plus the ends, integers and small arguments.
            let xs32 =
                Array.concat [
                    Array.init 200000 (fun _ -> float32 (-87.33 + 175.33 * rng.NextDouble()))
                    Array.init 2001 (fun i -> float32 (-1.0 + float i / 1000.0))
                    [| 0.0f; -0.0f; 1e-30f; -1e-30f; -87.33f; 88.0f; 1.0f; -1.0f; 0.5f * float32 (log 2.0) |] ]
            let ys32 = VectorExp.map32 xs32
            Array.iteri2 (fun i (x: float32) (y: float32) ->
                let e = Math.Exp(float x)
                let rel = abs (float y - e) / e
                if rel > 3e-7 then failtestf "float32 exp(%.9g) = %.9g, Math.Exp %.9g: relative error %g > 3e-7 (index %d)" x y e rel i) xs32 ys32
            // float64: [−708.39, 709].
            let xs64 =
                Array.concat [
                    Array.init 200000 (fun _ -> -708.39 + 1417.39 * rng.NextDouble())
                    Array.init 2001 (fun i -> -1.0 + float i / 1000.0)
                    [| 0.0; 1e-300; -1e-300; -708.39; 709.0; 0.5 * log 2.0; -0.5 * log 2.0 |] ]
            let ys64 = VectorExp.map64 xs64
            Array.iteri2 (fun i (x: float) (y: float) ->
                let e = Math.Exp x
                let rel = abs (y - e) / e
                if rel > 1e-15 then failtestf "float64 exp(%.17g) = %.17g, Math.Exp %.17g: relative error %g > 1e-15 (index %d)" x y e rel i) xs64 ys64
            // Below the normal range, −∞ and the padding value: exactly 0, never NaN (odd lengths: the tail lanes too).
            let low32 = VectorExp.map32 [| -87.4f; -100.0f; -1e4f; -1e30f; Single.MinValue; Single.NegativeInfinity; -3e38f |]
            Expect.all low32 (fun v -> v = 0.0f) (sprintf "float32 exp of very negative arguments: %A" low32)
            let low64 = VectorExp.map64 [| -708.5; -745.2; -1e4; -1e300; Double.MinValue; Double.NegativeInfinity; -1e30 |]
            Expect.all low64 (fun v -> v = 0.0) (sprintf "float64 exp of very negative arguments: %A" low64)
            let near32 = VectorExp.map32 [| -87.3f; -87.0f; -80.0f |]
            Expect.all near32 (fun v -> v > 0.0f && not (Single.IsNaN v)) "float32 exp just above the cut is positive"
    ]
