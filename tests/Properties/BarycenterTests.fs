/// W2 barycenters (DistEmbed.Core.Reference.Barycenters and the tensor DistEmbed.Core.Barycenters) and the prototype
/// loss: golden free-support barycenters from POT 0.8.2 (ot.lp.free_support_barycenter,
/// fixtures/golden_free_support_barycenter.json, scripts/golden/make_golden_unbalanced.py), identical inputs, the
/// minimising property under perturbation, tensor = reference, and the prototype loss by loops and gradient sign.
module DistEmbed.Properties.BarycenterTests

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

module RefBarycenter = DistEmbed.Core.Reference.Barycenters

/// Σ_n λ_n W2² of a 1-D candidate (points, weights) to 1-D inputs.
let private objective1D (values: float[][]) (weights: float[][]) (lambdas: float[]) (points: float[], masses: float[]) =
    Array.mapi (fun n (v: float[]) -> lambdas.[n] * OneDimensional.costP (2.0, points, masses, v, weights.[n])) values |> Array.sum

/// 1–4 one-dimensional distributions at one scale, with barycentric weights.
let private inputs1D : Gen<float[][] * float[][] * float[]> =
    gen {
        let! s = scale
        let! n = Gen.choose (1, 4)
        let! es = Gen.arrayOfLength n (empiricalAt 1 s)
        let! l = Gen.arrayOfLength n (Gen.choose (1, 10))
        let lambdas = l |> Array.map float |> fun l -> l |> Array.map (fun v -> v / Array.sum l)
        return es |> Array.map (fun e -> Array.init e.Count (fun i -> e.Points.[i, 0])), es |> Array.map (fun e -> e.Weights), lambdas
    }

let private load () =
    let path = Path.Combine(AppContext.BaseDirectory, "fixtures", "golden_free_support_barycenter.json")
    use doc = JsonDocument.Parse(File.ReadAllText path)
    [| for e in doc.RootElement.GetProperty("instances").EnumerateArray() ->
           let locations = [| for l in e.GetProperty("locations").EnumerateArray() -> jsonMatrix l |]
           let weights = [| for w in e.GetProperty("weights").EnumerateArray() -> jsonVector w |]
           Array.map2 (fun l w -> Empirical.Create(l, w)) locations weights,
           jsonVector (e.GetProperty "lambdas"), jsonVector (e.GetProperty "b"), jsonMatrix (e.GetProperty "x_init"),
           jsonMatrix (e.GetProperty "barycenter") |]

/// The prototype loss by loops: prototypes = class means (vectors) with the squared Euclidean distance.
let private loopLoss (x: float[,]) (labels: int64[]) (tau: float) =
    let b, d = Array2D.length1 x, Array2D.length2 x
    let classes = labels |> Array.distinct |> Array.sort
    let proto =
        classes |> Array.map (fun c ->
            let members = [| for i in 0 .. b - 1 do if labels.[i] = c then i |]
            Array.init d (fun k -> (members |> Array.sumBy (fun i -> x.[i, k])) / float members.Length))
    let terms =
        Array.init b (fun i ->
            let logits = proto |> Array.map (fun c -> -(Array.init d (fun k -> (x.[i, k] - c.[k]) ** 2.0) |> Array.sum) / tau)
            let m = Array.max logits
            let lse = m + log (logits |> Array.sumBy (fun l -> exp (l - m)))
            lse - logits.[Array.IndexOf(classes, labels.[i])])
    terms

[<Tests>]
let tests =
    testList "barycenters" [
        // Generic points (continuous draws): the optimal plans are unique along the iterations, so both fixed-point
        // iterations visit the same plans and agree to rounding (worst seen ~1e-15).
        testCase "free-support barycenter = ot.lp.free_support_barycenter to 1e-9 (120 instances, same initial support)" <| fun () ->
            let cases = load ()
            Expect.isGreaterThanOrEqual cases.Length 100 "fixture size"
            let failures = ResizeArray()
            cases |> Array.iteri (fun i (ds, lambdas, b, xInit, expected) ->
                let x, _ = RefBarycenter.freeSupport (ds, lambdas, xInit, b, 100, 1e-7)
                let err = Seq.max (Seq.init expected.Length (fun e -> abs (x.[e / Array2D.length2 x, e % Array2D.length2 x] - expected.[e / Array2D.length2 x, e % Array2D.length2 x])))
                if not (err <= 1e-9) then failures.Add $"instance {i}: max |Δ| = {err:E2}")
            if failures.Count > 0 then failtestf "%d instances differ:\n%s" failures.Count (String.Join("\n", Seq.truncate 10 failures))

        property "free support: the objective never increases from the initial support; N copies of a cloud give the cloud" 30
            (gen {
                let! d = Gen.choose (1, 3)
                let! es = Gen.arrayOfLength 3 (empiricalAt d 1.0)
                let! k = Gen.choose (1, 5)
                let! init = points k d 1.0
                return es, init
             })
            (fun (es, init) ->
                let k = Array2D.length1 init
                let before = RefBarycenter.objective (es, null, Empirical.Uniform init)
                let x, _ = RefBarycenter.freeSupport (es, null, init, null, 100, 1e-12)
                let after = RefBarycenter.objective (es, null, Empirical.Uniform x)
                Expect.isLessThanOrEqual after (before + 1e-9 * (1.0 + before)) "objective after ≤ before"
                // Three copies of es[0], started from its own points reversed with its weights: one step lands on it.
                let e = es.[0]
                let n = e.Count
                let rev = Array2D.init n e.Dimension (fun i c -> e.Points.[n - 1 - i, c])
                let positive = e.Weights |> Array.forall (fun w -> w > 0.0)
                if positive then
                    let y, _ = RefBarycenter.freeSupport ([| e; e; e |], null, rev, Array.rev e.Weights, 100, 1e-12)
                    let s2 = 1.0 + (e.Points |> Seq.cast<float> |> Seq.map (fun v -> v * v) |> Seq.max)
                    Expect.isLessThanOrEqual (RefBarycenter.objective ([| e |], null, Empirical.Create(y, Array.rev e.Weights))) (1e-14 * s2) "W2²(barycenter, input) = 0 (to rounding)"
                ignore k)

        property "1-D barycenter: identical inputs give the input; it minimises Σλ W2² under perturbations" 60 inputs1D (fun (values, weights, lambdas) ->
            let points, masses = RefBarycenter.oneDimensional (values, weights, lambdas)
            let best = objective1D values weights lambdas (points, masses)
            let s = 1.0 + (values |> Array.collect id |> Array.map abs |> Array.max)
            let self = RefBarycenter.oneDimensional ([| values.[0]; values.[0] |], [| weights.[0]; weights.[0] |], [| 0.3; 0.7 |])
            Expect.isLessThanOrEqual (OneDimensional.costP (2.0, fst self, snd self, values.[0], weights.[0])) (1e-14 * s * s) "W2²(bary of copies, input) = 0 (to rounding)"
            let rng = Random(points.Length * 7919 + values.Length)
            for _ in 1 .. 5 do
                let moved = points |> Array.map (fun p -> p + s * 1e-3 * (rng.NextDouble() - 0.5))
                let worse = objective1D values weights lambdas (moved, masses)
                Expect.isGreaterThanOrEqual worse (best - 1e-12 * s * s) "a perturbed barycenter is not better"
            // The mixture of the inputs is a feasible candidate too.
            let mixture = Array.concat values, Array.concat (Array.mapi (fun n (w: float[]) -> w |> Array.map (fun v -> lambdas.[n] * v / Array.sum w)) weights)
            Expect.isGreaterThanOrEqual (objective1D values weights lambdas mixture) (best - 1e-12 * s * s) "the mixture is not better")

        property "tensor barycenters = reference: quantile mean, marginal (per-coordinate W2 = 0), identical inputs" 30
            (gen {
                let! d = Gen.choose (1, 3)
                let! s = scale
                let! n = Gen.choose (1, 4)
                let! es = Gen.arrayOfLength n (empiricalAt d s)
                return es, s
             })
            (fun (es, s) ->
                use _ = torch.NewDisposeScope()
                use batch = batchOf torch.float64 es
                use bary = DistEmbed.Core.Barycenters.marginal (batch, null)
                let e = bary.ToEmpirical 0
                let reference = RefBarycenter.marginal (es, null)
                for j in 0 .. e.Dimension - 1 do
                    let pts, w = reference.[j]
                    let w2 = OneDimensional.costP (2.0, Array.init e.Count (fun i -> e.Points.[i, j]), e.Weights, pts, w)
                    Expect.isLessThanOrEqual w2 (1e-13 * s * s) $"coordinate {j}: W2² to the reference barycenter (rounding of the levels)"
                // Identical inputs: the marginal barycenter of copies has the input's marginals.
                use copies = batchOf torch.float64 [| es.[0]; es.[0] |]
                use same = DistEmbed.Core.Barycenters.marginal (copies, torch.tensor([| 0.25; 0.75 |], dtype = torch.float64))
                let e0 = same.ToEmpirical 0
                for j in 0 .. e0.Dimension - 1 do
                    let w2 = OneDimensional.costP (2.0, Array.init e0.Count (fun i -> e0.Points.[i, j]), e0.Weights, Array.init es.[0].Count (fun i -> es.[0].Points.[i, j]), es.[0].Weights)
                    Expect.isLessThanOrEqual w2 (1e-13 * s * s) $"copies, coordinate {j}"
                // Quantile embeddings on shared levels: the mean of the quantile functions.
                let q = 5
                let quantiles = es |> Array.map (fun e -> Array.init e.Dimension (fun j -> Array.init q (fun t -> let v = Array.init e.Count (fun i -> e.Points.[i, j]) |> Array.sort in v.[min (v.Length - 1) (t * v.Length / q)])))
                let qv = torch.tensor(quantiles |> Array.collect (Array.collect id), dtype = torch.float64).reshape(int64 es.Length, int64 es.[0].Dimension, int64 q)
                use qb = QuantileBatch.FromTensor(qv, null)
                use mean = DistEmbed.Core.Barycenters.ofQuantiles (qb, null)
                let got = values mean.Values
                for j in 0 .. es.[0].Dimension - 1 do
                    let expected = RefBarycenter.ofQuantiles (quantiles |> Array.map (fun qs -> qs.[j]), null)
                    for t in 0 .. q - 1 do
                        expectWithin 1e-12 s $"quantile mean [{j},{t}]" expected.[t] got.[j * q + t])

        property "prototype loss = loop re-computation (vectors, squared Euclidean), and catalog = direct" 40
            (gen {
                let! b = Gen.choose (2, 9)
                let! d = Gen.choose (1, 4)
                let! v = Gen.arrayOfLength (b * d) (Gen.choose (-1000, 1000))
                let! l = Gen.arrayOfLength b (Gen.choose (0, 3))
                let! tau = Gen.elements [ 0.1; 1.0; 5.0 ]
                return Array2D.init b d (fun i k -> float v.[i * d + k] / 300.0), l |> Array.map int64, tau
             })
            (fun (x, labels, tau) ->
                use _ = torch.NewDisposeScope()
                use batch = VectorBatch.FromArray(x, torch.CPU)
                let y = torch.tensor(labels)
                let dist = Distances.Create("sqeuclidean", null)
                let o = PrototypeLossOptions(Temperature = tau, Reduction = Reduction.None)
                let terms = values (PrototypeLoss.compute (batch, y, dist, null, o))
                let expected = loopLoss x labels tau
                Array.iteri2 (fun i e a -> expectClose 1e-10 $"term {i}" e a) expected terms
                let loss = Losses.Create("prototype", LossOptions(Prototype = PrototypeLossOptions(Temperature = tau)))
                let mean = (values (loss.Compute(batch, y, dist, null))).[0]
                expectClose 1e-10 "catalog mean" (Array.average expected) mean)

        property "prototype loss: a gradient step on the embeddings lowers it (quantile embeddings, quantile-w2-cost)" 30
            (gen {
                let! b = Gen.choose (3, 8)
                let! v = Gen.arrayOfLength (b * 2 * 4) (Gen.choose (-1000, 1000))
                let! l = Gen.arrayOfLength b (Gen.choose (0, 2))
                return b, v, l
             })
            (fun (b, v, l) ->
                use _ = torch.NewDisposeScope()
                let labels = l |> Array.map int64
                let raw = torch.tensor(v |> Array.map (fun i -> float i / 500.0), dtype = torch.float64).reshape(int64 b, 2L, 4L)
                let struct (sorted, _) = raw.sort(-1L)
                let x = sorted.detach().clone().requires_grad_(true)
                let dist = Distances.Create("quantile-w2-cost", null)
                let lossAt (t: Tensor) =
                    use qb = QuantileBatch.FromTensor(t.alias(), null)
                    PrototypeLoss.compute (qb, torch.tensor(labels), dist, null, null)
                let before = lossAt x
                before.backward()
                let g = x.grad.detach()
                let gnorm = (g * g).sum().item<float> ()
                if (labels |> Array.distinct).Length > 1 && gnorm > 1e-20 then
                    use _ = torch.no_grad ()
                    // A small step along −∇ keeps each quantile row sorted (the step is small against the gaps) or
                    // re-sorts it (the loss depends on the multiset of values only through the distance's sorted form).
                    let step = 1e-4 / sqrt gnorm
                    let struct (moved, _) = (x.detach() - g.mul(sc step)).sort(-1L)
                    let after = (lossAt moved).item<float> ()
                    Expect.isLessThan after (before.item<float>()) "loss after a gradient step")
    ]
