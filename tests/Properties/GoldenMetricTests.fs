/// Golden values from scikit-learn 1.2.1 (an independent implementation), produced by
/// scripts/golden/make_golden_metrics.py and stored in fixtures/golden_metrics.json: roc_auc_score, the equal-error
/// rate read off roc_curve, normalized_mutual_info_score, and average_precision_score per query (which coincides
/// with RetrievalMetrics' full-ranking AP when a query's distances have no ties; the fixture's distances are
/// continuous). Every metric lies in [0, 1] (AMI in [-1, 1]), so agreement is checked to 1e-9 absolute. AMI's golden values
/// (adjusted_mutual_info_score) come from scripts/golden/make_golden_ami.py, stored in fixtures/golden_ami.json.
module DistEmbed.Properties.GoldenMetricTests

open System
open System.Text.Json
open Expecto
open DistEmbed.Core
open DistEmbed.Properties.ReferenceSupport
open DistEmbed.Properties.Generators

type private PairCase =
    { Distances: float[]
      Same: bool[]
      ExpectedAuc: float
      ExpectedEer: float }

type private NmiCase =
    { U: int64[]
      V: int64[]
      Expected: float }

type private AveragePrecisionCase =
    { Matrix: float[,]
      QueryLabels: int64[]
      GalleryLabels: int64[]
      QueryIsGallery: bool
      Expected: float
      Evaluated: int }

/// The instances of one list of the fixture, or the reason it could not be read (reported by the test).
let private load (list: string) (parse: JsonElement -> 'T) : Result<'T[], string> =
    loadFixture "golden_metrics.json" list (fun path -> $"{list} from {path}") parse

let private pairCases =
    load "rocAuc" (fun e ->
        { Distances = jsonVector (e.GetProperty "distances")
          Same = [| for x in e.GetProperty("same").EnumerateArray() -> x.GetBoolean() |]
          ExpectedAuc = e.GetProperty("expectedAuc").GetDouble()
          ExpectedEer = e.GetProperty("expectedEer").GetDouble() })

let private nmiCases =
    load "nmi" (fun e ->
        { U = jsonIntegers (e.GetProperty "u")
          V = jsonIntegers (e.GetProperty "v")
          Expected = e.GetProperty("expected").GetDouble() })

let private amiCases =
    loadFixture "golden_ami.json" "ami" (fun path -> $"ami from {path}") (fun e ->
        { U = jsonIntegers (e.GetProperty "u")
          V = jsonIntegers (e.GetProperty "v")
          Expected = e.GetProperty("expected").GetDouble() })

let private averagePrecisionCases =
    load "averagePrecision" (fun e ->
        { Matrix = jsonMatrix (e.GetProperty "distances")
          QueryLabels = jsonIntegers (e.GetProperty "queryLabels")
          GalleryLabels = jsonIntegers (e.GetProperty "galleryLabels")
          QueryIsGallery = e.GetProperty("queryIsGallery").GetBoolean()
          Expected = e.GetProperty("expected").GetDouble()
          Evaluated = e.GetProperty("evaluated").GetInt32() })

/// Checks every case to 1e-9 absolute, needs at least 100 cases, and names the worst one on failure.
let private check (cases: Result<'T[], string>) (compute: 'T -> float) (expected: 'T -> float) (describe: 'T -> string) =
    match cases with
    | Error message -> failtest message
    | Ok cases ->
        if cases.Length < 100 then failtestf "only %d golden instances; the fixture must hold at least 100" cases.Length
        let errors = cases |> Array.map (fun c -> abs (compute c - expected c))
        let worst = Array.maxBy (fun i -> if Double.IsNaN errors.[i] then infinity else errors.[i]) [| 0 .. cases.Length - 1 |]
        if not (errors.[worst] <= 1e-9) then
            failtestf
                "%d of %d instances differ from scikit-learn by more than 1e-9; worst #%d: scikit-learn %.17g, DistEmbed %.17g\n%s"
                (errors |> Array.filter (fun r -> not (r <= 1e-9)) |> Array.length)
                cases.Length worst (expected cases.[worst]) (compute cases.[worst]) (describe cases.[worst])

let private describePair (c: PairCase) = sprintf "distances = %A\nsame = %A" c.Distances c.Same

[<Tests>]
let tests =
    testList
        "golden.metrics"
        [ testCase $"VerificationMetrics.RocAuc matches roc_auc_score(same, -d) on {fixtureCount pairCases} instances" <| fun () ->
              check
                  pairCases
                  (fun c -> VerificationMetrics.rocAuc (c.Distances, c.Same))
                  (fun c -> c.ExpectedAuc)
                  describePair
          testCase $"VerificationMetrics.EqualErrorRate matches the EER read off roc_curve on {fixtureCount pairCases} instances" <| fun () ->
              check
                  pairCases
                  (fun c -> VerificationMetrics.equalErrorRate (c.Distances, c.Same))
                  (fun c -> c.ExpectedEer)
                  describePair
          testCase $"Clustering.NormalizedMutualInformation matches normalized_mutual_info_score on {fixtureCount nmiCases} instances" <| fun () ->
              check
                  nmiCases
                  (fun c -> Clustering.normalizedMutualInformation (c.U, c.V))
                  (fun c -> c.Expected)
                  (fun c -> sprintf "u = %A\nv = %A" c.U c.V)
          testCase $"Clustering.AdjustedMutualInformation matches adjusted_mutual_info_score on {fixtureCount amiCases} instances" <| fun () ->
              check
                  amiCases
                  (fun c -> Clustering.adjustedMutualInformation (c.U, c.V))
                  (fun c -> c.Expected)
                  (fun c -> sprintf "u = %A\nv = %A" c.U c.V)
          testCase "Clustering.AdjustedMutualInformation: identical partitions score 1, renamed or not, down to all singletons of 2 items" <| fun () ->
              for u, v in [ [| 0L; 1L |], [| 0L; 1L |]; [| 0L; 1L; 2L |], [| 5L; 4L; 3L |]; [| 1L; 1L; 2L; 2L; 2L |], [| 9L; 9L; 0L; 0L; 0L |] ] do
                  Expect.equal (Clustering.adjustedMutualInformation (u, v)) 1.0 (sprintf "AMI(%A, %A)" u v)
          testCase "Clustering.AdjustedMutualInformation is symmetric and invariant under renaming on the fixture" <| fun () ->
              match amiCases with
              | Error message -> failtest message
              | Ok cases ->
                  for c in cases do
                      let a = Clustering.adjustedMutualInformation (c.U, c.V)
                      expectClose 1e-12 (sprintf "AMI(v, u) for u = %A" c.U) a (Clustering.adjustedMutualInformation (c.V, c.U))
                      expectClose 1e-12 (sprintf "AMI(3 - 2u, v) for u = %A" c.U) a (Clustering.adjustedMutualInformation (c.U |> Array.map (fun x -> 3L - 2L * x), c.V))
          testCase $"RetrievalMetrics MeanAveragePrecision matches mean average_precision_score on {fixtureCount averagePrecisionCases} instances" <| fun () ->
              let evaluate c = RetrievalMetrics.evaluate (c.Matrix, c.QueryLabels, c.GalleryLabels, c.QueryIsGallery, [||])
              check
                  averagePrecisionCases
                  (fun c ->
                      let r = evaluate c
                      // A different count of evaluated queries would be a different mean: report it as a mismatch.
                      if r.EvaluatedQueries = c.Evaluated then r.MeanAveragePrecision else nan)
                  (fun c -> c.Expected)
                  (fun c -> sprintf "queryIsGallery = %b\nqueryLabels = %A\ngalleryLabels = %A\ndistances = %A" c.QueryIsGallery c.QueryLabels c.GalleryLabels c.Matrix) ]
