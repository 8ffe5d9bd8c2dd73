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
        return a, b, p, rel, tile, scaling
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
        property "OT_ε of the online solver = the tensorised solver's entropic cost (float64, any tile, ε-scaling on or off)" 40 problem
            (fun (a, b, p, rel, tile, scaling) ->
                use _ = torch.NewDisposeScope()
                let eps = rel * costScale p a b
                let o = tight eps p scaling
                use online = OnlineSinkhorn.solve (pointsOf a) (weightsOf a) (pointsOf b) (weightsOf b) o tile
                use ba = batch a
                use bb = batch b
                use tensorised = TensorSinkhorn.solve (ba, bb, o)
                Expect.isTrue online.Converged "online solve converged"
                Expect.isLessThanOrEqual online.MarginalError 1e-9 (sprintf "online marginal error (iterations %d, tensorised %d its error %g; T=%d T'=%d d=%d eps=%g scale=%g)" online.Iterations tensorised.Iterations (scalar tensorised.MarginalError) a.Count b.Count a.Dimension eps (costScale p a b))
                let expected = scalar tensorised.EntropicCost
                let actual = scalar online.Value
                Expect.isLessThanOrEqual (abs (actual - expected) / (costScale p a b)) 1e-8
                    (sprintf "online %.12g vs tensorised %.12g (ε = %g, tile %d)" actual expected eps tile))

        property "the tile size does not change the value beyond rounding (float64, fixed iterations)" 30 problem
            (fun (a, b, p, rel, _, scaling) ->
                use _ = torch.NewDisposeScope()
                let eps = rel * costScale p a b
                let o = { tight eps p scaling with Tolerance = 1e-300; MaxIterations = 7; CheckEvery = 8; OnNonConvergence = SinkhornNonConvergence.Ignore }
                let run tile =
                    use r = OnlineSinkhorn.solve (pointsOf a) (weightsOf a) (pointsOf b) (weightsOf b) o tile
                    scalar r.Value
                let one, many = run 1, run 1000
                Expect.isLessThanOrEqual (abs (one - many) / costScale p a b) 1e-12 (sprintf "tile 1 %.15g vs tile 1000 %.15g" one many))

        property "S_ε of the online solver = the tensorised Sinkhorn divergence (float64)" 30 problem
            (fun (a, b, p, rel, tile, scaling) ->
                use _ = torch.NewDisposeScope()
                let eps = rel * costScale p a b
                let o = tight eps p scaling
                let online = scalar (OnlineSinkhorn.divergence (pointsOf a) (weightsOf a) (pointsOf b) (weightsOf b) o tile)
                use ba = batch a
                use bb = batch b
                let tensorised = scalar ((TensorSinkhorn.divergence o).Paired(ba, bb))
                Expect.isLessThanOrEqual (abs (online - tensorised) / costScale p a b) 1e-8
                    (sprintf "online %.12g vs tensorised %.12g" online tensorised))

        property "point gradients of OT_ε and S_ε = the tensorised solver's envelope gradients (float64)" 25 smooth (fun (a, b, p) ->
            use _ = torch.NewDisposeScope()
            let o = tight (0.5 * costScale p a b) p 0.0
            for debiased in [ false; true ] do
                let x = (pointsOf a).requires_grad_(true)
                let y = (pointsOf b).requires_grad_(true)
                let v =
                    if debiased then OnlineSinkhorn.divergence x (weightsOf a) y (weightsOf b) o 4
                    else (OnlineSinkhorn.solve x (weightsOf a) y (weightsOf b) o 4).Value
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
                        Expect.isLessThanOrEqual (abs (gi - ei)) (1e-7 * (1.0 + abs ei)) (sprintf "∂/∂%s[%d] (debiased %b): %g vs %g" name i debiased gi ei)) g e)

        property "weight gradient of OT_ε = finite differences of the value (float64, unnormalised weights)" 20 smooth (fun (a, b, p) ->
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

        testCase "bad arguments name the argument and what is wrong" <| fun () ->
            use _ = torch.NewDisposeScope()
            let x = torch.rand(5L, 2L, dtype = torch.float64)
            let a = torch.ones(5L, dtype = torch.float64)
            let o = SinkhornOptions.Create 0.1
            let nanX = x.clone()
            nanX.[0L, 1L] <- torch.tensor(Double.NaN, dtype = torch.float64)
            throwsArg "x" "finite" (fun () -> box (OnlineSinkhorn.solve nanX a x a o 4))
            throwsArg "y" "dimension 2" (fun () -> box (OnlineSinkhorn.solve x a (torch.rand(5L, 3L, dtype = torch.float64)) a o 4))
            throwsArg "a" "expected weights [5]" (fun () -> box (OnlineSinkhorn.solve x (torch.ones(4L, dtype = torch.float64)) x a o 4))
            throwsArg "b" "negative" (fun () -> box (OnlineSinkhorn.solve x a x (a.neg()) o 4))
            throwsArg "b" "sum to 0" (fun () -> box (OnlineSinkhorn.solve x a x (torch.zeros(5L, dtype = torch.float64)) o 4))
            throwsArg "options" "KeepPlan" (fun () -> box (OnlineSinkhorn.solve x a x a { o with KeepPlan = true } 4))
            throwsArg "options" "envelope" (fun () -> box (OnlineSinkhorn.solve x a x a { o with Gradient = SinkhornGradient.Unrolled } 4))
            throwsArg "tile" "tile size" (fun () -> box (OnlineSinkhorn.solve x a x a o 0))
            throwsArg "x" "[T, d]" (fun () -> box (OnlineSinkhorn.solve (x.unsqueeze 0L) a x a o 4))
    ]
