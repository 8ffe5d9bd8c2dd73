/// Golden values from POT 0.8.2 (ot.gromov.gromov_wasserstein2 and ot.gromov.entropic_gromov_wasserstein2 with
/// loss_fun = 'square_loss' and POT's defaults), written by scripts/golden/make_golden_gromov.py into
/// fixtures/golden_gromov.json. Each instance stores C1, C2 exactly as POT got them, integer weights wp/wq (normalised
/// here as in the script), ε for the entropic solver, POT's value and the length of POT's path (Frank–Wolfe steps, or
/// the entropic solver's convergence checks, one per ten steps). GW is non-convex: agreement holds because the
/// reference starts where POT starts (p qᵀ) and takes the same steps, so the path length is checked too.
module DistEmbed.Properties.GoldenGromovTests

open System
open System.Text.Json
open Expecto
open DistEmbed.Core.Reference
open DistEmbed.Properties.ReferenceSupport

type private Instance =
    { Index: int
      C1: float[,]
      C2: float[,]
      P: float[]
      Q: float[]
      Element: JsonElement }

let private load (list: string) =
    loadFixture "golden_gromov.json" list (fun path -> $"the Gromov–Wasserstein fixture {path}") (fun e ->
        let e = e.Clone()
        { Index = 0
          C1 = jsonMatrix (e.GetProperty "c1")
          C2 = jsonMatrix (e.GetProperty "c2")
          P = jsonVector (e.GetProperty "wp")
          Q = jsonVector (e.GetProperty "wq")
          Element = e })
    |> Result.map (Array.mapi (fun k i -> { i with Index = k }))

let private unitOf (i: Instance) =
    let m (c: float[,]) = Seq.cast<float> c |> Seq.fold (fun s v -> max s (abs v)) 0.0
    (max (m i.C1) (m i.C2)) ** 2.0

/// True when the first linear minimisation from p qᵀ has several optimal vertices: the gradient there is
/// 2 (f_i + g_j − 4 u_i v_j) with u = C1 p, v = C2 q [Peyré et al. 2016, eq. 6], so two equal entries of u (or of v)
/// on the support make two rows (columns) of the linear program differ by a constant, and swapping them is optimal
/// too. Then POT's network simplex and ours may pick different optimal vertices and the Frank–Wolfe paths part.
/// (A 2-point space with uniform weights always ties, as do the two middle points of an even 1-D cloud.)
let private firstStepTies (i: Instance) =
    let tie (c: float[,]) (w: float[]) =
        let total = Array.sum w
        let support = [| for k in 0 .. w.Length - 1 do if w.[k] > 0.0 then yield k |]
        let u = support |> Array.map (fun a -> Seq.sum (seq { for b in support -> c.[a, b] * w.[b] / total }))
        let scale = u |> Array.fold (fun s v -> max s (abs v)) 1e-300
        Array.sort u |> Seq.pairwise |> Seq.exists (fun (l, r) -> r - l <= 1e-12 * scale)
    tie i.C1 i.P || tie i.C2 i.Q

/// Checks every instance, then fails once with the offenders (index, shapes, POT's value, ours, relative error,
/// path lengths) — so that the count of agreeing instances is reported, never hidden.
let private checkAll (cases: Result<Instance[], string>) (exempt: Instance -> bool) (tolerance: float) (solve: Instance -> GromovWassersteinResult) (pathLength: GromovWassersteinResult -> int) (potPath: string) =
    match cases with
    | Error reason -> failtest reason
    | Ok instances ->
        Expect.isGreaterThanOrEqual instances.Length 100 "fixture size"
        let checkedInstances = instances |> Array.filter (exempt >> not)
        Expect.isGreaterThanOrEqual checkedInstances.Length 100 "instances compared exactly"
        let failures = ResizeArray()
        let mutable worst = 0.0
        for i in checkedInstances do
            let want = i.Element.GetProperty("gw").GetDouble()
            let r = solve i
            // Relative error, with 1e-12 · max|C|² as the unit when the value itself is (near) zero.
            let err = abs (r.Value - want) / max (abs want) (1e-12 * unitOf i)
            let samePath = pathLength r = i.Element.GetProperty(potPath).GetInt32()
            worst <- max worst (if Double.IsNaN err then infinity else err)
            if not (err <= tolerance) || not samePath then
                failures.Add(
                    $"instance {i.Index} ({i.P.Length}×{i.Q.Length}): POT {want:R}, ours {r.Value:R}, relative error {err:E2}; "
                    + $"POT {potPath} {i.Element.GetProperty(potPath).GetInt32()}, ours {pathLength r}")
        if failures.Count > 0 then
            failtestf "%d of %d compared instances disagree (tolerance %g relative, same path length; worst error %g):\n%s" failures.Count checkedInstances.Length tolerance worst (String.Join("\n", failures))

[<Tests>]
let tests =
    let cg = load "cg"
    let entropic = load "entropic"
    testList
        "golden.gromov"
        // Of the 150 instances, 131 have a unique first linear minimisation; all 131 agree with POT (to 1e-9 relative,
        // the same number of steps). The 19 with a tie in C1 p or C2 q (mostly a uniform 2-point space;
        // one even 1-D cloud) are where POT's emd and this network simplex may choose different optimal vertices:
        // 15 of them reach POT's value (3 in a different number of steps), 4 stop at other stationary points, all
        // four lower than POT's — see the last test, which pins these counts so that a change shows.
        [ testCase $"GromovWasserstein.conditionalGradient = ot.gromov.gromov_wasserstein2 to 1e-9 relative, same number of Frank–Wolfe steps (the {fixtureCount cg} instances less those whose first linear minimisation ties)" <| fun () ->
              checkAll cg firstStepTies 1e-9 (fun i -> GromovWasserstein.conditionalGradient (i.C1, i.C2, i.P, i.Q, 200, 1e-9, 1e-9)) (fun r -> r.Iterations) "iterations"

          // POT checks ‖T − T_prev‖ at steps 0, 10, 20, …; checks = ⌈steps / 10⌉.
          testCase $"GromovWasserstein.entropic = ot.gromov.entropic_gromov_wasserstein2 to 1e-6 relative, same number of convergence checks ({fixtureCount entropic} instances)" <| fun () ->
              checkAll entropic (fun _ -> false) 1e-6 (fun i ->
                  let epsilon = i.Element.GetProperty("epsilon").GetDouble()
                  GromovWasserstein.entropic (i.C1, i.C2, i.P, i.Q, epsilon, 1000, 1e-9)) (fun r -> (r.Iterations + 9) / 10) "checks"

          testCase "conditional gradient on the instances whose first linear minimisation ties: 19 of them, none ends above POT's value" <| fun () ->
              match cg with
              | Error reason -> failtest reason
              | Ok instances ->
                  let ties = instances |> Array.filter firstStepTies
                  Expect.equal ties.Length 19 "the number of instances with a tie in C1 p or C2 q"
                  let outcomes =
                      [ for i in ties ->
                            let want = i.Element.GetProperty("gw").GetDouble()
                            let r = GromovWasserstein.conditionalGradient (i.C1, i.C2, i.P, i.Q, 200, 1e-9, 1e-9)
                            if r.Value > want * (1.0 + 1e-9) then
                                failtestf "instance %d: ours %.17g above POT's %.17g" i.Index r.Value want
                            abs (r.Value - want) <= 1e-9 * want ]
                  Expect.equal (outcomes |> List.filter id |> List.length) 15 "tie instances where the value still agrees" ]
