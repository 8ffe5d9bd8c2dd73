/// Golden values from POT 0.8.2 (ot.emd2 and ot.sinkhorn2 with method "sinkhorn_log"), written by
/// scripts/golden/make_golden_transport.py into fixtures/golden_emd2.json and fixtures/golden_sinkhorn.json.
/// Each instance stores the points, integer weights wa/wb (normalised here as in the script), p and POT's value;
/// the ground cost is rebuilt with ExactTransport.groundCost.
module DistEmbed.Properties.GoldenTransportTests

open System
open System.IO
open System.Text.Json
open Expecto
open DistEmbed.Core.Reference
open DistEmbed.Properties.ReferenceSupport

type private Instance =
    { Index: int
      P: float
      X: Empirical
      Y: Empirical
      Element: JsonElement }

let private load (name: string) =
    let path = Path.Combine(AppContext.BaseDirectory, "fixtures", name)
    use doc = JsonDocument.Parse(File.ReadAllText path)
    [| for (k, e) in doc.RootElement.GetProperty("instances").EnumerateArray() |> Seq.indexed ->
           let e = e.Clone()
           { Index = k
             P = e.GetProperty("p").GetDouble()
             X = Empirical.Create(jsonMatrix (e.GetProperty "x"), jsonVector (e.GetProperty "wa"))
             Y = Empirical.Create(jsonMatrix (e.GetProperty "y"), jsonVector (e.GetProperty "wb"))
             Element = e } |]

let private maxAbs (c: float[,]) = Seq.cast<float> c |> Seq.fold (fun m v -> max m (abs v)) 0.0

/// Checks every instance, then fails once with the worst offenders (index, expected, actual, relative error).
let private checkAll (instances: Instance[]) (tolerance: float) (expected: Instance -> float) (actual: Instance -> float * float) =
    let failures = ResizeArray()
    let mutable worst = 0.0
    for inst in instances do
        let want = expected inst
        let got, unit = actual inst
        // Relative error, with the largest ground cost as the unit when the value itself is (near) zero.
        let err = abs (got - want) / max (abs want) (1e-12 * unit)
        worst <- max worst (if Double.IsNaN err then infinity else err)
        if not (err <= tolerance) then failures.Add($"instance {inst.Index} (p = {inst.P}, {inst.X.Count}×{inst.Y.Count}, d = {inst.X.Dimension}): POT {want:R}, ours {got:R}, relative error {err:E2}")
    if failures.Count > 0 then
        failtestf "%d of %d instances off by more than %g (worst %g):\n%s" failures.Count instances.Length tolerance worst (String.Join("\n", Seq.truncate 10 failures))

[<Tests>]
let tests =
    testList
        "golden.transport"
        // Worst seen: 2.2e-15 relative (rounding only: both solvers return optimal vertices).
        [ testCase "ExactTransport.solve = ot.emd2 to 1e-9 relative (246 instances, up to 100×100, p ∈ {1, 2})" <| fun () ->
              let instances = load "golden_emd2.json"
              Expect.isGreaterThanOrEqual instances.Length 200 "fixture size"
              checkAll instances 1e-9 (fun i -> i.Element.GetProperty("emd2").GetDouble()) (fun i ->
                  let c = ExactTransport.groundCost (i.P, i.X, i.Y)
                  (ExactTransport.solve (c, i.X.Weights, i.Y.Weights)).Cost, maxAbs c)

          testCase "ExactTransport.cost (points) = ot.emd2 to 1e-9 relative" <| fun () ->
              let instances = load "golden_emd2.json"
              checkAll instances 1e-9 (fun i -> i.Element.GetProperty("emd2").GetDouble()) (fun i ->
                  ExactTransport.cost (i.P, i.X, i.Y), maxAbs (ExactTransport.groundCost (i.P, i.X, i.Y)))

          // Both solvers run to convergence (POT: ‖Pᵀ1 − b‖₂ < 1e-14; here ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ ≤ 1e-13), so the
          // plans agree to ~1e-13 and so do the transport costs (worst seen: 2.4e-13 relative); 1e-10 leaves room.
          testCase "Sinkhorn.solve transport cost = ot.sinkhorn2(method=\"sinkhorn_log\") to 1e-10 relative (220 instances)" <| fun () ->
              let instances = load "golden_sinkhorn.json"
              Expect.isGreaterThanOrEqual instances.Length 200 "fixture size"
              checkAll instances 1e-10 (fun i -> i.Element.GetProperty("sinkhorn2").GetDouble()) (fun i ->
                  let c = ExactTransport.groundCost (i.P, i.X, i.Y)
                  let reg = i.Element.GetProperty("reg").GetDouble()
                  let r = Sinkhorn.solve (c, i.X.Weights, i.Y.Weights, reg, 200000, 1e-13)
                  Expect.isLessThan r.Iterations 200000 $"instance {i.Index} converged"
                  r.TransportCost, maxAbs c) ]
