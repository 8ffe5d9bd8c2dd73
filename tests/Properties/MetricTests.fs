/// Retrieval, verification and clustering metrics: hand-computed values on small cases written out below,
/// brute-force oracles that count instead of sorting, invariances (monotone transforms, label renaming, the value on
/// the diagonal when queries are the gallery), bounds, and every validation rule.
module DistEmbed.Properties.MetricTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport

let private exact (what: string) (expected: float) (actual: float) = expectClose 1e-12 what expected actual

// ---------------------------------------------------------------------------------------------------------------
// Hand-computed cases

/// 3 queries × 5 gallery items, gallery labels [1; 1; 2; 1; 2].
/// Query 0 (label 1), distances [0.25; 0.1; 0.3; 0.9; 0.2]: ranking g1 g4 g0 g2 g3, rel = 1 0 1 0 1, R = 3:
///   P@1 = 1, R-prec = 2/3, MAP@R = (1 + 2/3)/3 = 5/9, AP = (1 + 2/3 + 3/5)/3 = 34/45, RR = 1.
/// Query 1 (label 2), distances [0.2; 0.1; 0.1; 0.4; 0.4]: g1 and g2 tie at 0.1 and g1 (lower index) comes first,
///   ranking g1 g2 g0 g3 g4, rel = 0 1 0 0 1, R = 2: P@1 = 0, R-prec = 1/2, MAP@R = (1/2)/2 = 1/4,
///   AP = (1/2 + 2/5)/2 = 9/20, RR = 1/2.
/// Query 2 (label 3) has no relevant item: left out of every mean.
let private handDistances =
    array2D [ [ 0.25; 0.1; 0.3; 0.9; 0.2 ]; [ 0.2; 0.1; 0.1; 0.4; 0.4 ]; [ 0.3; 0.3; 0.3; 0.3; 0.3 ] ]

let private handQueries = [| 1L; 2L; 3L |]
let private handGallery = [| 1L; 1L; 2L; 1L; 2L |]

/// 4 items, labels [0; 0; 1; 1], queries = gallery, symmetric distances d01 = 1, d02 = 2, d03 = 4, d12 = 3,
/// d13 = 1.5, d23 = 2.5 (diagonal 0). Self excluded, R = 1 for every query:
///   q0: 1 (rel), 2, 3 → rel 1 0 0;  q1: 0 (rel), 3, 2 → 1 0 0;  q2: 0, 3 (rel), 1 → 0 1 0;  q3: 1, 2 (rel), 0 → 0 1 0.
///   P@1 = R-prec = MAP@R = 1/2, MRR = (1 + 1 + 1/2 + 1/2)/4 = 3/4, recall@1 = 1/2, recall@2 = 1.
let private square =
    array2D [ [ 0.0; 1.0; 2.0; 4.0 ]; [ 1.0; 0.0; 3.0; 1.5 ]; [ 2.0; 3.0; 0.0; 2.5 ]; [ 4.0; 1.5; 2.5; 0.0 ] ]

let private squareLabels = [| 0L; 0L; 1L; 1L |]

let private handCases =
    testList
        "hand-computed"
        [ testCase "3 × 5 query/gallery example (ties, a query without relevant items)" <| fun () ->
              let r = RetrievalMetrics.evaluate (handDistances, handQueries, handGallery, false, [| 1; 3; 4 |])
              Expect.equal r.EvaluatedQueries 2 "evaluated queries"
              Expect.equal r.QueriesWithoutRelevant 1 "queries without a relevant item"
              exact "P@1" 0.5 r.PrecisionAt1
              exact "R-precision" ((2.0 / 3.0 + 0.5) / 2.0) r.RPrecision
              exact "MAP@R" ((5.0 / 9.0 + 0.25) / 2.0) r.MapAtR
              exact "AP" ((34.0 / 45.0 + 9.0 / 20.0) / 2.0) r.MeanAveragePrecision
              exact "MRR" 0.75 r.MeanReciprocalRank
              Expect.equal r.Ks [| 1; 3; 4 |] "ks"
              exact "recall@1" 0.5 r.RecallAtK.[0]
              exact "recall@3" 1.0 r.RecallAtK.[1]
              exact "recall@4" 1.0 r.RecallAtK.[2]
          testCase "4 × 4 queries = gallery example excludes self" <| fun () ->
              let r = RetrievalMetrics.evaluate (square, squareLabels, squareLabels, true, [| 1; 2 |])
              Expect.equal r.EvaluatedQueries 4 "evaluated queries"
              exact "P@1" 0.5 r.PrecisionAt1
              exact "R-precision" 0.5 r.RPrecision
              exact "MAP@R" 0.5 r.MapAtR
              exact "MRR" 0.75 r.MeanReciprocalRank
              exact "recall@1" 0.5 r.RecallAtK.[0]
              exact "recall@2" 1.0 r.RecallAtK.[1]
              // Counting self (queryIsGallery = false) every query finds itself first at distance 0.
              let withSelf = RetrievalMetrics.evaluate (square, squareLabels, squareLabels, false, [||])
              exact "P@1 with self counted" 1.0 withSelf.PrecisionAt1
          testCase "ROC AUC and EER of positives {1, 3} and negatives {2, 4, 3}" <| fun () ->
              // Pairs (p, n): (1,2) (1,4) (1,3) (3,4) count 1, (3,3) counts 1/2, (3,2) counts 0 → AUC = 4.5 / 6.
              // ROC points (FAR, FRR): (0,1) (0,1/2) (1/3,1/2) (2/3,0) (1,0); the crossing lies on the segment from
              // (1/3, 1/2) to (2/3, 0) at λ = (1/6)/(1/6 + 2/3) = 1/5, so EER = 1/3 + (1/5)(1/3) = 2/5.
              let d = [| 1.0; 2.0; 3.0; 4.0; 3.0 |]
              let s = [| true; false; true; false; false |]
              let r = VerificationMetrics.evaluate (d, s)
              exact "AUC" 0.75 r.RocAuc
              exact "EER" 0.4 r.EqualErrorRate
              Expect.equal (r.PositivePairs, r.NegativePairs) (2, 3) "pair counts"
              exact "RocAuc" 0.75 (VerificationMetrics.rocAuc (d, s))
              exact "EqualErrorRate" 0.4 (VerificationMetrics.equalErrorRate (d, s))
          testCase "verification over the 4 × 4 example" <| fun () ->
              // Positive pairs (self excluded, both orders): d01 = 1, d23 = 2.5; negatives 2, 4, 3, 1.5.
              // Positive 1 beats all 4 negatives; 2.5 beats 4 and 3: AUC = 6/8.
              let r = VerificationMetrics.evaluateMatrix (square, squareLabels, squareLabels, true)
              Expect.equal (r.PositivePairs, r.NegativePairs) (4, 8) "pair counts"
              exact "AUC" 0.75 r.RocAuc
          testCase "triplet accuracy counts ties as failures" <| fun () ->
              // 1 < 2 yes, 2 < 2 no (tie), 3 < 1 no, 2 < 5 yes.
              exact "accuracy" 0.5 (VerificationMetrics.tripletAccuracy ([| 1.0; 2.0; 3.0; 2.0 |], [| 2.0; 2.0; 1.0; 5.0 |]))
              // On the 4 × 4 example: (0,1,2): 1 < 2 yes; (2,3,1): 2.5 < 3 yes; (3,2,1): 2.5 < 1.5 no.
              exact "of matrix" (2.0 / 3.0) (VerificationMetrics.tripletAccuracyOfMatrix (square, [| 0; 2; 3 |], [| 1; 3; 2 |], [| 2; 1; 1 |]))
          testCase "NMI of [0,0,1,1] and [0,0,0,1]" <| fun () ->
              // Contingency n00 = 2, n10 = 1, n11 = 1; rows (2, 2), columns (3, 1), n = 4.
              let mi = 0.5 * log (8.0 / 6.0) + 0.25 * log (4.0 / 6.0) + 0.25 * log 2.0
              let hu = log 2.0
              let hv = -(0.75 * log 0.75 + 0.25 * log 0.25)
              exact "NMI" (mi / ((hu + hv) / 2.0)) (Clustering.normalizedMutualInformation ([| 0L; 0L; 1L; 1L |], [| 0L; 0L; 0L; 1L |]))
              exact "single class both" 1.0 (Clustering.normalizedMutualInformation ([| 4L; 4L |], [| 9L; 9L |]))
              exact "single class one side" 0.0 (Clustering.normalizedMutualInformation ([| 4L; 4L |], [| 1L; 2L |]))
          testCase "k-means on three separated clusters recovers the classes" <| fun () ->
              let centres = [| (0.0, 0.0); (100.0, 0.0); (0.0, 100.0) |]
              let rng = Random(5)
              let labels = Array.init 60 (fun i -> int64 (i % 3))
              let points =
                  Array2D.init 60 2 (fun i k ->
                      let cx, cy = centres.[i % 3]
                      (if k = 0 then cx else cy) + rng.NextDouble())
              exact "NMI" 1.0 (Clustering.kMeansNmi (points, labels, 3, 11))
              let km = Clustering.kMeans (points, 3, 3, 100, 11)
              Expect.isTrue km.Converged "converged"
              Expect.equal (Array.countBy id km.Assignments |> Array.map snd |> Array.sort) [| 20; 20; 20 |] "cluster sizes" ]

// ---------------------------------------------------------------------------------------------------------------
// Random retrieval problems

type private Problem =
    { Distances: float[,]
      QueryLabels: int64[]
      GalleryLabels: int64[]
      QueryIsGallery: bool }

/// Retrieval problems: 1–3 labels over 2–12 items (so some queries lack relevant items), distances from a
/// 0–4 grid (many ties) or continuous, at a random scale; half of them with queries = gallery.
let private problem : Gen<Problem> =
    gen {
        let! same = Gen.elements [ true; false ]
        let! g = Gen.choose (2, 12)
        let! q = if same then Gen.constant g else Gen.choose (1, 8)
        let! classes = Gen.choose (1, 3)
        let! gl = Gen.arrayOfLength g (Gen.choose (0, classes - 1) |> Gen.map int64)
        let! ql = if same then Gen.constant gl else Gen.arrayOfLength q (Gen.choose (0, classes) |> Gen.map int64)
        let! s = scale
        let! grid = Gen.elements [ true; false ]
        let cell = if grid then Gen.choose (0, 4) |> Gen.map float else Gen.choose (0, 1000000) |> Gen.map (fun i -> float i / 1e6)
        let! values = Gen.arrayOfLength (q * g) cell
        return
            { Distances = Array2D.init q g (fun i j -> s * values.[i * g + j])
              QueryLabels = ql
              GalleryLabels = gl
              QueryIsGallery = same }
    }

let private candidates (p: Problem) = Array2D.length2 p.Distances - (if p.QueryIsGallery then 1 else 0)

let private hasRelevant (p: Problem) (query: int) =
    [ 0 .. p.GalleryLabels.Length - 1 ]
    |> List.exists (fun j -> not (p.QueryIsGallery && j = query) && p.GalleryLabels.[j] = p.QueryLabels.[query])

let private evaluable (p: Problem) = [ 0 .. p.QueryLabels.Length - 1 ] |> List.exists (hasRelevant p)

let private allKs (p: Problem) = [| 1 .. candidates p |]

let private evaluateAll (p: Problem) (distances: float[,]) =
    RetrievalMetrics.evaluate (distances, p.QueryLabels, p.GalleryLabels, p.QueryIsGallery, allKs p)

/// The oracle: the rank of each relevant candidate by counting (1 + the candidates strictly before it in the
/// (distance, index) order), no sorting; then every metric from the sorted relevant ranks r_1 < … < r_R.
let private oracle (p: Problem) =
    let q = p.QueryLabels.Length
    let g = p.GalleryLabels.Length
    let perQuery =
        [ for query in 0 .. q - 1 do
              let isCandidate j = not (p.QueryIsGallery && j = query)
              let d j = p.Distances.[query, j]
              let ranks =
                  [ for j in 0 .. g - 1 do
                        if isCandidate j && p.GalleryLabels.[j] = p.QueryLabels.[query] then
                            1 + ([ 0 .. g - 1 ] |> List.filter (fun m -> isCandidate m && (d m < d j || (d m = d j && m < j))) |> List.length) ]
                  |> List.sort
              if not ranks.IsEmpty then
                  let r = ranks.Length
                  let indexed = ranks |> List.mapi (fun m rank -> float (m + 1), rank)
                  let within = indexed |> List.filter (fun (_, rank) -> rank <= r)
                  yield
                      [| (if ranks.Head = 1 then 1.0 else 0.0)
                         float within.Length / float r
                         (within |> List.sumBy (fun (m, rank) -> m / float rank)) / float r
                         (indexed |> List.sumBy (fun (m, rank) -> m / float rank)) / float r
                         1.0 / float ranks.Head |],
                      ranks.Head ]
    let n = float perQuery.Length
    let mean k = (perQuery |> List.sumBy (fun (v: float[], _) -> v.[k])) / n
    let recall k = (perQuery |> List.filter (fun (_, first) -> first <= k) |> List.length |> float) / n
    [| mean 0; mean 1; mean 2; mean 3; mean 4 |], (allKs p |> Array.map recall), perQuery.Length

let private scalars (r: RetrievalReport) =
    [| r.PrecisionAt1; r.RPrecision; r.MapAtR; r.MeanAveragePrecision; r.MeanReciprocalRank |]

let private names = [| "P@1"; "R-precision"; "MAP@R"; "AP"; "MRR" |]

let private expectSameReport (expected: RetrievalReport) (actual: RetrievalReport) =
    Array.iteri2 (fun i e a -> exact names.[i] e a) (scalars expected) (scalars actual)
    Array.iteri2 (fun i e a -> exact $"recall@{i + 1}" e a) expected.RecallAtK actual.RecallAtK
    Expect.equal actual.EvaluatedQueries expected.EvaluatedQueries "evaluated queries"

let private retrievalProperties =
    let evaluableProblem = problem |> Gen.filter evaluable
    testList
        "retrieval properties"
        [ property "every metric equals the counting oracle" 300 evaluableProblem (fun p ->
              let r = evaluateAll p p.Distances
              let expected, recalls, evaluated = oracle p
              Array.iteri2 (fun i e a -> exact names.[i] e a) expected (scalars r)
              Array.iteri2 (fun i e a -> exact $"recall@{i + 1}" e a) recalls r.RecallAtK
              Expect.equal r.EvaluatedQueries evaluated "evaluated queries"
              Expect.equal (r.EvaluatedQueries + r.QueriesWithoutRelevant) p.QueryLabels.Length "query count")
          property "metrics lie in [0, 1] and are ordered (MAP@R ≤ R-prec, P@1 ≤ MRR ≤ recall@k ↑)" 300 evaluableProblem (fun p ->
              let r = evaluateAll p p.Distances
              for v in Array.append (scalars r) r.RecallAtK do
                  if not (v >= 0.0 && v <= 1.0) then failtestf "value %g outside [0, 1]" v
              if r.MapAtR > r.RPrecision + 1e-15 then failtestf "MAP@R %g > R-precision %g" r.MapAtR r.RPrecision
              if r.PrecisionAt1 > r.MeanReciprocalRank + 1e-15 then failtestf "P@1 %g > MRR %g" r.PrecisionAt1 r.MeanReciprocalRank
              exact "recall@1 = P@1" r.PrecisionAt1 r.RecallAtK.[0]
              for k in 1 .. r.RecallAtK.Length - 1 do
                  if r.RecallAtK.[k] < r.RecallAtK.[k - 1] then failtestf "recall@%d < recall@%d" (k + 1) k
              exact "recall@(all candidates)" 1.0 r.RecallAtK.[r.RecallAtK.Length - 1])
          property "a perfect ranking scores 1 everywhere" 200 evaluableProblem (fun p ->
              // Same label → distance in [0, 1), other label → distance in [2, 3): every relevant item comes first.
              let perfect =
                  p.Distances
                  |> Array2D.mapi (fun i j d ->
                      let frac = d / (1.0 + abs d)
                      if p.QueryLabels.[i] = p.GalleryLabels.[j] then frac else 2.0 + frac)
              let r = evaluateAll p perfect
              for i, v in Array.zip names (scalars r) do
                  exact i 1.0 v)
          property "strictly increasing transforms of the distances change nothing" 200 evaluableProblem (fun p ->
              let r = evaluateAll p p.Distances
              let top = p.Distances |> Seq.cast<float> |> Seq.map abs |> Seq.max |> max 1e-300
              expectSameReport r (evaluateAll p (p.Distances |> Array2D.map (fun d -> 3.0 * d + top)))
              expectSameReport r (evaluateAll p (p.Distances |> Array2D.map (fun d -> exp (d / top)))))
          property "renaming the labels bijectively changes nothing" 200 evaluableProblem (fun p ->
              let rename (l: int64) = 1000L - 7L * l
              let renamed = { p with QueryLabels = Array.map rename p.QueryLabels; GalleryLabels = Array.map rename p.GalleryLabels }
              expectSameReport (evaluateAll p p.Distances) (evaluateAll renamed renamed.Distances))
          property "with queryIsGallery the diagonal is ignored" 200 (evaluableProblem |> Gen.filter (fun p -> p.QueryIsGallery)) (fun p ->
              let withDiagonal (v: float) = p.Distances |> Array2D.mapi (fun i j d -> if i = j then v else d)
              let r = evaluateAll p p.Distances
              expectSameReport r (evaluateAll p (withDiagonal -1e6))
              expectSameReport r (evaluateAll p (withDiagonal 1e6)))
          property "with queryIsGallery each query equals its own row without self, and the report is their mean" 200
              (evaluableProblem |> Gen.filter (fun p -> p.QueryIsGallery))
              (fun p ->
                  let g = p.GalleryLabels.Length
                  let rows =
                      [ for i in 0 .. g - 1 do
                            if hasRelevant p i then
                                let others = [| for j in 0 .. g - 1 do if j <> i then j |]
                                let row = Array2D.init 1 (g - 1) (fun _ m -> p.Distances.[i, others.[m]])
                                yield RetrievalMetrics.evaluate (row, [| p.QueryLabels.[i] |], others |> Array.map (fun j -> p.GalleryLabels.[j]), false, allKs p) ]
                  let r = evaluateAll p p.Distances
                  let n = float rows.Length
                  Array.iteri (fun k v -> exact names.[k] ((rows |> List.sumBy (fun x -> (scalars x).[k])) / n) v) (scalars r)
                  Array.iteri (fun k v -> exact $"recall@{k + 1}" ((rows |> List.sumBy (fun x -> x.RecallAtK.[k])) / n) v) r.RecallAtK) ]

// ---------------------------------------------------------------------------------------------------------------
// Random verification and clustering problems

/// Labelled pairs with at least one of each kind: distances on a grid (ties) or continuous, at a random scale.
let private pairs : Gen<float[] * bool[]> =
    gen {
        let! n = Gen.choose (2, 40)
        let! same = Gen.arrayOfLength n (Gen.elements [ true; false ])
        let! s = scale
        let! grid = Gen.elements [ true; false ]
        let cell = if grid then Gen.choose (0, 4) |> Gen.map float else Gen.choose (0, 1000000) |> Gen.map (fun i -> float i / 1e6)
        let! d = Gen.arrayOfLength n cell
        return Array.map ((*) s) d, same
    }
    |> Gen.filter (fun (_, s) -> Array.contains true s && Array.contains false s)

let private bruteAuc (d: float[]) (s: bool[]) =
    let pos = [ for i in 0 .. d.Length - 1 do if s.[i] then d.[i] ]
    let neg = [ for i in 0 .. d.Length - 1 do if not s.[i] then d.[i] ]
    let score = [ for p in pos do for n in neg -> if p < n then 1.0 elif p = n then 0.5 else 0.0 ] |> List.sum
    score / float (pos.Length * neg.Length)

let private labelings : Gen<int64[] * int64[]> =
    gen {
        let! n = Gen.choose (1, 40)
        let! ku = Gen.choose (1, 5)
        let! kv = Gen.choose (1, 5)
        let! u = Gen.arrayOfLength n (Gen.choose (0, ku - 1) |> Gen.map int64)
        let! v = Gen.arrayOfLength n (Gen.choose (0, kv - 1) |> Gen.map int64)
        return u, v
    }

let private cloud : Gen<float[,] * int> =
    gen {
        let! n = Gen.choose (1, 30)
        let! d = Gen.choose (1, 3)
        let! s = scale
        let! p = points n d s
        let! k = Gen.choose (1, n)
        return p, k
    }

let private verificationProperties =
    testList
        "verification and clustering properties"
        [ property "ROC AUC equals the Mann–Whitney double sum" 300 pairs (fun (d, s) ->
              exact "AUC" (bruteAuc d s) (VerificationMetrics.rocAuc (d, s)))
          property "swapping positives and negatives gives 1 − AUC and 1 − EER" 300 pairs (fun (d, s) ->
              let r = VerificationMetrics.evaluate (d, s)
              let f = VerificationMetrics.evaluate (d, Array.map not s)
              exact "AUC" (1.0 - r.RocAuc) f.RocAuc
              exact "EER" (1.0 - r.EqualErrorRate) f.EqualErrorRate)
          property "AUC and EER lie in [0, 1] and ignore strictly increasing transforms" 300 pairs (fun (d, s) ->
              let r = VerificationMetrics.evaluate (d, s)
              for v in [ r.RocAuc; r.EqualErrorRate ] do
                  if not (v >= 0.0 && v <= 1.0) then failtestf "value %g outside [0, 1]" v
              let t = VerificationMetrics.evaluate (d |> Array.map (fun x -> 2.0 * x + 1.0), s)
              exact "AUC" r.RocAuc t.RocAuc
              exact "EER" r.EqualErrorRate t.EqualErrorRate)
          property "separable pairs give AUC 1 and EER 0" 200 pairs (fun (d, s) ->
              let separated = Array.map2 (fun x same -> if same then x / (1.0 + x) else 1.0 + x) d s
              let r = VerificationMetrics.evaluate (separated, s)
              exact "AUC" 1.0 r.RocAuc
              exact "EER" 0.0 r.EqualErrorRate)
          property "triplet accuracy: the fraction of strict wins; the matrix form reads row a" 300
              (Gen.zip (Gen.choose (2, 6)) (Gen.choose (1, 20))
               |> Gen.bind (fun (n, t) ->
                   Gen.zip (Gen.arrayOfLength (n * n) (Gen.choose (0, 3) |> Gen.map float)) (Gen.arrayOfLength (3 * t) (Gen.choose (0, n - 1)))
                   |> Gen.map (fun (values, idx) -> Array2D.init n n (fun i j -> values.[i * n + j]), idx.[.. t - 1], idx.[t .. 2 * t - 1], idx.[2 * t ..])))
              (fun (m, a, p, n) ->
                  let wins = Array.map3 (fun i j k -> if m.[i, j] < m.[i, k] then 1.0 else 0.0) a p n |> Array.average
                  exact "accuracy" wins (VerificationMetrics.tripletAccuracyOfMatrix (m, a, p, n))
                  exact "ties fail" 0.0 (VerificationMetrics.tripletAccuracyOfMatrix (m, a, p, p)))
          property "NMI is symmetric, in [0, 1], 1 on identical labelings, and ignores renaming" 300 labelings (fun (u, v) ->
              let x = Clustering.normalizedMutualInformation (u, v)
              if not (x >= 0.0 && x <= 1.0 + 1e-15) then failtestf "NMI %g outside [0, 1]" x
              exact "symmetric" x (Clustering.normalizedMutualInformation (v, u))
              exact "renamed" x (Clustering.normalizedMutualInformation (u |> Array.map (fun l -> 5L - 3L * l), v |> Array.map (fun l -> l + 100L)))
              exact "identical" 1.0 (Clustering.normalizedMutualInformation (u, u)))
          property "NMI of independent product labelings is 0" 100 (Gen.choose (1, 10)) (fun m ->
              let n = 4 * m
              exact "NMI" 0.0 (Clustering.normalizedMutualInformation (Array.init n (fun i -> int64 (i % 2)), Array.init n (fun i -> int64 (i / 2 % 2)))))
          property "a converged k-means run is a Lloyd fixed point; restarts never raise inertia; k = n gives 0" 150 cloud (fun (p, k) ->
              let n, d = Array2D.length1 p, Array2D.length2 p
              let r = Clustering.kMeans (p, k, 3, 300, 17)
              let dist i c = Seq.sum (seq { for m in 0 .. d - 1 -> (p.[i, m] - r.Centroids.[c, m]) ** 2.0 })
              let extent = p |> Seq.cast<float> |> Seq.map abs |> Seq.max |> max 1e-3
              if r.Converged then
                  for i in 0 .. n - 1 do
                      for c in 0 .. k - 1 do
                          if dist i c < dist i r.Assignments.[i] - 1e-12 * extent * extent then
                              failtestf "point %d is nearer to centre %d than to its own %d" i c r.Assignments.[i]
                  for c in 0 .. k - 1 do
                      let members = [ for i in 0 .. n - 1 do if r.Assignments.[i] = c then i ]
                      if not members.IsEmpty then
                          for m in 0 .. d - 1 do
                              let mean = members |> List.averageBy (fun i -> p.[i, m])
                              expectClose 1e-12 $"centre {c}[{m}] is the mean of its points" (mean / extent) (r.Centroids.[c, m] / extent)
              expectClose 1e-12 "inertia" (Seq.sum (seq { for i in 0 .. n - 1 -> dist i r.Assignments.[i] }) / (extent * extent)) (r.Inertia / (extent * extent))
              let single = Clustering.kMeans (p, k, 1, 300, 17)
              if r.Inertia > single.Inertia then failtestf "3 restarts inertia %g > 1 restart %g" r.Inertia single.Inertia
              Expect.equal (Clustering.kMeans (p, k, 3, 300, 17)).Assignments r.Assignments "deterministic for a seed"
              exact "k = n" 0.0 ((Clustering.kMeans (p, n, 1, 300, 3)).Inertia / (extent * extent))) ]

// ---------------------------------------------------------------------------------------------------------------
// Tensor entry points with an IDistance

/// The Euclidean distance between vectors, for these tests only.
type private Euclidean() =
    interface IDistance with
        member _.Name = "test-euclidean"
        member _.IsMetric = true
        member _.IsSymmetric = true
        member _.Accepts = Representation.Vectors
        member _.Paired(a, b) =
            let diff = (a :?> VectorBatch).Values - (b :?> VectorBatch).Values
            (diff * diff).sum(1L).sqrt()
        member _.Pairwise(a, b) = torch.cdist((a :?> VectorBatch).Values, (b :?> VectorBatch).Values)

let private euclidean (x: float[,]) (y: float[,]) =
    Array2D.init (Array2D.length1 x) (Array2D.length1 y) (fun i j ->
        sqrt (Seq.sum (seq { for k in 0 .. Array2D.length2 x - 1 -> (x.[i, k] - y.[j, k]) ** 2.0 })))

let private embeddingCases =
    let x = array2D [ [ 0.0; 0.0 ]; [ 0.1; 0.3 ]; [ 5.0; 5.0 ]; [ 5.2; 4.9 ]; [ 0.4; 0.1 ]; [ 4.8; 5.3 ] ]
    let labels = [| 0L; 0L; 1L; 1L; 0L; 1L |]
    testList
        "tensor entry points"
        [ testCase "RetrievalWithin, Retrieval and RetrievalOfTensor equal the array evaluation" <| fun () ->
              use batch = VectorBatch.FromArray(x, null)
              let expected = RetrievalMetrics.evaluate (euclidean x x, labels, labels, true, [| 1; 2 |])
              expectSameReport expected (EmbeddingMetrics.retrievalWithin (Euclidean(), batch, labels, [| 1; 2 |]))
              exact "P@1 separated" 1.0 expected.PrecisionAt1
              use queries = VectorBatch.FromArray(x.[0..1, *], null)
              expectSameReport
                  (RetrievalMetrics.evaluate (euclidean x.[0..1, *] x, labels.[0..1], labels, false, [| 3 |]))
                  (EmbeddingMetrics.retrieval (Euclidean(), queries, batch, labels.[0..1], labels, [| 3 |]))
              use t = torch.tensor(euclidean x x, dtype = torch.float32)
              let r32 = EmbeddingMetrics.retrievalOfTensor (t, labels, labels, true, [| 1 |])
              exact "float32 tensor P@1" expected.PrecisionAt1 r32.PrecisionAt1
          testCase "Verification, TripletAccuracy and KMeansNmi through tensors" <| fun () ->
              use batch = VectorBatch.FromArray(x, null)
              let v = EmbeddingMetrics.verification (Euclidean(), batch, labels)
              let e = VerificationMetrics.evaluateMatrix (euclidean x x, labels, labels, true)
              exact "AUC" e.RocAuc v.RocAuc
              exact "AUC separated" 1.0 v.RocAuc
              exact "EER" e.EqualErrorRate v.EqualErrorRate
              use a = VectorBatch.FromArray(x.[0..1, *], null)
              use p = VectorBatch.FromArray(x.[3..4, *], null)
              use n = VectorBatch.FromArray(x.[4..5, *], null)
              // d(x0, x3) ≈ 7.1 vs d(x0, x4) ≈ 0.41: fails; d(x1, x4) ≈ 0.36 vs d(x1, x5) ≈ 6.8: wins.
              exact "triplet accuracy" 0.5 (EmbeddingMetrics.tripletAccuracy (Euclidean(), a, p, n))
              exact "NMI" 1.0 (EmbeddingMetrics.kMeansNmi (batch, labels, 2, 1))
          testCase "a batch the distance does not accept → ArgumentException(embeddings)" <| fun () ->
              use batch = DistributionBatch.FromSequences([| array2D [ [ 0.0 ] ]; array2D [ [ 1.0 ] ] |], null)
              expectArgument<ArgumentException> "embeddings" (fun () -> box (EmbeddingMetrics.retrievalWithin (Euclidean(), batch, [| 0L; 0L |], [| 1 |])))
          testCase "a NaN in a distance tensor → ArgumentException(distances) naming the index" <| fun () ->
              use t = torch.tensor(array2D [ [ 0.0; 1.0 ]; [ nan; 0.0 ] ])
              let e = Expect.throwsC (fun () -> EmbeddingMetrics.retrievalOfTensor (t, [| 0L; 0L |], [| 0L; 0L |], true, [| 1 |]) |> ignore) id
              Expect.equal (e :?> ArgumentException).ParamName "distances" "ParamName"
              Expect.stringContains e.Message "distances[1,0] is NaN" "message names the index"
          testCase "a tensor that is not a matrix → ArgumentException(distances)" <| fun () ->
              use t = torch.zeros(3L)
              expectArgument<ArgumentException> "distances" (fun () -> box (EmbeddingMetrics.retrievalOfTensor (t, [| 0L |], [| 0L |], false, [| 1 |]))) ]

// ---------------------------------------------------------------------------------------------------------------
// Validation rules

let private validation =
    let m = array2D [ [ 0.0; 1.0 ]; [ 1.0; 0.0 ] ]
    let l = [| 0L; 0L |]
    let evaluate (d, ql, gl, same, ks) = box (RetrievalMetrics.evaluate (d, ql, gl, same, ks))
    let pointsOk = array2D [ [ 0.0 ]; [ 1.0 ] ]
    testList
        "validation"
        [ missing "Evaluate: distances null" "distances" (fun () -> evaluate (null, l, l, true, [| 1 |]))
          missing "Evaluate: queryLabels null" "queryLabels" (fun () -> evaluate (m, null, l, true, [| 1 |]))
          missing "Evaluate: galleryLabels null" "galleryLabels" (fun () -> evaluate (m, l, null, true, [| 1 |]))
          missing "Evaluate: ks null" "ks" (fun () -> evaluate (m, l, l, true, null))
          invalid "Evaluate: no queries" "distances" (fun () -> evaluate (Array2D.zeroCreate 0 2, [||], l, false, [| 1 |]))
          invalid "Evaluate: empty gallery" "distances" (fun () -> evaluate (Array2D.zeroCreate 2 0, l, [||], false, [| 1 |]))
          invalid "Evaluate: a NaN distance" "distances" (fun () -> evaluate (array2D [ [ 0.0; nan ]; [ 1.0; 0.0 ] ], l, l, true, [| 1 |]))
          invalid "Evaluate: an infinite distance" "distances" (fun () -> evaluate (array2D [ [ 0.0; infinity ]; [ 1.0; 0.0 ] ], l, l, true, [| 1 |]))
          invalid "Evaluate: queryLabels of the wrong length" "queryLabels" (fun () -> evaluate (m, [| 0L |], l, false, [| 1 |]))
          invalid "Evaluate: galleryLabels of the wrong length" "galleryLabels" (fun () -> evaluate (m, l, [| 0L; 0L; 0L |], false, [| 1 |]))
          invalid "Evaluate: queryIsGallery with a non-square matrix" "distances" (fun () ->
              evaluate (array2D [ [ 0.0; 1.0; 2.0 ]; [ 1.0; 0.0; 2.0 ] ], l, [| 0L; 0L; 0L |], true, [| 1 |]))
          invalid "Evaluate: queryIsGallery with a 1 × 1 matrix" "distances" (fun () -> evaluate (array2D [ [ 0.0 ] ], [| 0L |], [| 0L |], true, [||]))
          invalid "Evaluate: queryIsGallery with differing labels" "queryLabels" (fun () -> evaluate (m, [| 0L; 1L |], [| 0L; 2L |], true, [| 1 |]))
          invalid "Evaluate: k < 1" "ks" (fun () -> evaluate (m, l, l, false, [| 0 |]))
          invalid "Evaluate: k above the candidates (self excluded)" "ks" (fun () -> evaluate (m, l, l, true, [| 2 |]))
          invalid "Evaluate: no query with a relevant item" "galleryLabels" (fun () -> evaluate (m, [| 0L; 1L |], [| 0L; 1L |], true, [| 1 |]))
          missing "RocAuc: distances null" "distances" (fun () -> box (VerificationMetrics.rocAuc (null, [| true |])))
          invalid "RocAuc: no pairs" "distances" (fun () -> box (VerificationMetrics.rocAuc ([||], [||])))
          invalid "RocAuc: a NaN distance" "distances" (fun () -> box (VerificationMetrics.rocAuc ([| 1.0; nan |], [| true; false |])))
          missing "RocAuc: sameLabel null" "sameLabel" (fun () -> box (VerificationMetrics.rocAuc ([| 1.0 |], null)))
          invalid "RocAuc: sameLabel of the wrong length" "sameLabel" (fun () -> box (VerificationMetrics.rocAuc ([| 1.0; 2.0 |], [| true |])))
          invalid "RocAuc: no positive pair" "sameLabel" (fun () -> box (VerificationMetrics.rocAuc ([| 1.0; 2.0 |], [| false; false |])))
          invalid "EqualErrorRate: no negative pair" "sameLabel" (fun () -> box (VerificationMetrics.equalErrorRate ([| 1.0; 2.0 |], [| true; true |])))
          invalid "Evaluate (pairs): no negative pair" "sameLabel" (fun () -> box (VerificationMetrics.evaluate ([| 1.0 |], [| true |])))
          invalid "EvaluateMatrix: no negative pair" "galleryLabels" (fun () -> box (VerificationMetrics.evaluateMatrix (m, l, l, true)))
          invalid "EvaluateMatrix: no positive pair" "galleryLabels" (fun () -> box (VerificationMetrics.evaluateMatrix (m, [| 0L; 1L |], [| 0L; 1L |], true)))
          invalid "EvaluateMatrix: labels of the wrong length" "queryLabels" (fun () -> box (VerificationMetrics.evaluateMatrix (m, [| 0L |], l, false)))
          invalid "TripletAccuracy: no triplets" "positiveDistances" (fun () -> box (VerificationMetrics.tripletAccuracy ([||], [||])))
          invalid "TripletAccuracy: a NaN" "negativeDistances" (fun () -> box (VerificationMetrics.tripletAccuracy ([| 1.0 |], [| nan |])))
          invalid "TripletAccuracy: lengths differ" "negativeDistances" (fun () -> box (VerificationMetrics.tripletAccuracy ([| 1.0 |], [| 1.0; 2.0 |])))
          invalid "TripletAccuracyOfMatrix: not square" "distances" (fun () ->
              box (VerificationMetrics.tripletAccuracyOfMatrix (array2D [ [ 0.0; 1.0 ] ], [| 0 |], [| 0 |], [| 0 |])))
          invalid "TripletAccuracyOfMatrix: no triplets" "anchors" (fun () -> box (VerificationMetrics.tripletAccuracyOfMatrix (m, [||], [||], [||])))
          invalid "TripletAccuracyOfMatrix: lengths differ" "positives" (fun () -> box (VerificationMetrics.tripletAccuracyOfMatrix (m, [| 0 |], [| 1; 0 |], [| 1 |])))
          invalid "TripletAccuracyOfMatrix: an index out of range" "negatives" (fun () -> box (VerificationMetrics.tripletAccuracyOfMatrix (m, [| 0 |], [| 1 |], [| 2 |])))
          invalid "TripletAccuracyOfMatrix: a negative index" "anchors" (fun () -> box (VerificationMetrics.tripletAccuracyOfMatrix (m, [| -1 |], [| 1 |], [| 1 |])))
          missing "KMeans: points null" "points" (fun () -> box (Clustering.kMeans (null, 1, 1, 1, 0)))
          invalid "KMeans: no points" "points" (fun () -> box (Clustering.kMeans (Array2D.zeroCreate 0 2, 1, 1, 1, 0)))
          invalid "KMeans: a NaN coordinate" "points" (fun () -> box (Clustering.kMeans (array2D [ [ nan ] ], 1, 1, 1, 0)))
          invalid "KMeans: clusters < 1" "clusters" (fun () -> box (Clustering.kMeans (pointsOk, 0, 1, 1, 0)))
          invalid "KMeans: clusters > n" "clusters" (fun () -> box (Clustering.kMeans (pointsOk, 3, 1, 1, 0)))
          invalid "KMeans: restarts < 1" "restarts" (fun () -> box (Clustering.kMeans (pointsOk, 1, 0, 1, 0)))
          invalid "KMeans: maxIterations < 1" "maxIterations" (fun () -> box (Clustering.kMeans (pointsOk, 1, 1, 0, 0)))
          invalid "NMI: empty labelsTrue" "labelsTrue" (fun () -> box (Clustering.normalizedMutualInformation ([||], [||])))
          missing "NMI: labelsPredicted null" "labelsPredicted" (fun () -> box (Clustering.normalizedMutualInformation ([| 0L |], null)))
          invalid "NMI: lengths differ" "labelsPredicted" (fun () -> box (Clustering.normalizedMutualInformation ([| 0L |], [| 0L; 1L |])))
          missing "KMeansNmi: embeddings null" "embeddings" (fun () -> box (Clustering.kMeansNmi (null, [| 0L |], 1, 0)))
          invalid "KMeansNmi: no embeddings" "embeddings" (fun () -> box (Clustering.kMeansNmi (Array2D.zeroCreate 0 1, [||], 1, 0)))
          invalid "KMeansNmi: labels of the wrong length" "labels" (fun () -> box (Clustering.kMeansNmi (pointsOk, [| 0L |], 1, 0)))
          invalid "KMeansNmi: an infinite coordinate" "embeddings" (fun () -> box (Clustering.kMeansNmi (array2D [ [ infinity ]; [ 0.0 ] ], [| 0L; 1L |], 1, 0)))
          invalid "KMeansNmi: restarts < 1" "restarts" (fun () -> box (Clustering.kMeansNmi (pointsOk, [| 0L; 1L |], 0, 0))) ]

[<Tests>]
let tests =
    testList "toolkit.metrics" [ handCases; retrievalProperties; verificationProperties; embeddingCases; validation ]
