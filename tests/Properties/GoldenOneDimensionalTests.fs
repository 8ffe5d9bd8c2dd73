/// Golden values from POT 0.8.2 (an independent implementation), produced by
/// scripts/golden/make_golden_one_dimensional.py and stored in fixtures/: the exact 1-D cost ot.wasserstein_1d
/// (W_p^p) and ot.sliced_wasserstein_distance with given projections.
module DistEmbed.Properties.GoldenOneDimensionalTests

open System
open System.Text.Json
open Expecto
open DistEmbed.Core.Reference
open DistEmbed.Properties.ReferenceSupport

type private OneDimensionalCase =
    { P: float
      U: float[]
      UWeights: float[]
      V: float[]
      VWeights: float[]
      Expected: float }

type private SlicedCase =
    { P: float
      X: float[,]
      A: float[]
      Y: float[,]
      B: float[]
      Directions: float[,]
      Expected: float }

/// The instances of a fixture, or the reason it could not be read (reported by the test, not at discovery).
let private load (file: string) (parse: JsonElement -> 'T) : Result<'T[], string> =
    loadFixture file "instances" id parse

let private oneDimensionalCases =
    load "golden_wasserstein_1d.json" (fun e ->
        { P = e.GetProperty("p").GetDouble()
          U = jsonVector (e.GetProperty "u")
          UWeights = jsonVector (e.GetProperty "uWeights")
          V = jsonVector (e.GetProperty "v")
          VWeights = jsonVector (e.GetProperty "vWeights")
          Expected = e.GetProperty("expected").GetDouble() })

let private slicedCases =
    load "golden_sliced.json" (fun e ->
        { P = e.GetProperty("p").GetDouble()
          X = jsonMatrix (e.GetProperty "x")
          A = jsonVector (e.GetProperty "a")
          Y = jsonMatrix (e.GetProperty "y")
          B = jsonVector (e.GetProperty "b")
          Directions = jsonMatrix (e.GetProperty "directions")
          Expected = e.GetProperty("expected").GetDouble() })

/// Checks every case to 1e-9 relative, needs at least 200 cases, and names the worst one on failure.
let private check (cases: Result<'T[], string>) (compute: 'T -> float) (expected: 'T -> float) (describe: 'T -> string) =
    match cases with
    | Error message -> failtest message
    | Ok cases ->
        if cases.Length < 200 then failtestf "only %d golden instances; the fixture must hold at least 200" cases.Length
        let errors =
            cases
            |> Array.map (fun c ->
                let e, a = expected c, compute c
                if e = a then 0.0 else abs (a - e) / abs e)
        let worst = Array.maxBy (fun i -> errors.[i]) [| 0 .. cases.Length - 1 |]
        if not (errors.[worst] <= 1e-9) then
            failtestf
                "%d of %d instances differ from POT by more than 1e-9 relative; worst #%d: POT %.17g, reference %.17g (relative error %.3g)\n%s"
                (errors |> Array.filter (fun r -> not (r <= 1e-9)) |> Array.length)
                cases.Length worst (expected cases.[worst]) (compute cases.[worst]) errors.[worst] (describe cases.[worst])

[<Tests>]
let tests =
    testList
        "golden.one-dimensional"
        [ testCase $"OneDimensional.costP matches POT ot.wasserstein_1d on {fixtureCount oneDimensionalCases} instances (1e-9 relative)" <| fun () ->
              check
                  oneDimensionalCases
                  (fun c -> OneDimensional.costP (c.P, c.U, c.UWeights, c.V, c.VWeights))
                  (fun c -> c.Expected)
                  (fun c -> sprintf "p = %g\nu = %A\nuWeights = %A\nv = %A\nvWeights = %A" c.P c.U c.UWeights c.V c.VWeights)
          testCase $"SlicedWasserstein.wasserstein matches POT ot.sliced_wasserstein_distance on {fixtureCount slicedCases} instances (1e-9 relative)" <| fun () ->
              check
                  slicedCases
                  (fun c -> SlicedWasserstein.wasserstein (c.P, Empirical.Create(c.X, c.A), Empirical.Create(c.Y, c.B), c.Directions))
                  (fun c -> c.Expected)
                  (fun c -> sprintf "p = %g\nx = %A\na = %A\ny = %A\nb = %A\ndirections = %A" c.P c.X c.A c.Y c.B c.Directions) ]
