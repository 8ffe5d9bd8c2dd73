/// Retrieval at scale: the streamed (bounded-memory) retrieval metrics against the in-memory ones, and the exact
/// Euclidean exports of quantile, marginal W2 and sliced W2 embeddings (isometry and the batches that have no map).
module DistEmbed.Properties.ScaleTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.TensorSupport

// ---------------------------------------------------------------------------------------------------------------
// Streamed retrieval

/// The L1 distance of small integer vectors, computed entry by entry in float64: exact, so ties are exact and every
/// entry is the same whatever rows a call holds. Only an IDistance (the streamed path then uses Pairwise).
type private IntegerL1() =
    static member Block(a: IEmbeddingBatch, b: IEmbeddingBatch) =
        let x = (a :?> VectorBatch).Values
        let y = (b :?> VectorBatch).Values
        x.unsqueeze(1L).sub(y.unsqueeze 0L).abs().sum (2L)
    interface IDistance with
        member _.Name = "integer-l1"
        member _.IsMetric = true
        member _.IsSymmetric = true
        member _.Accepts = Representation.Vectors
        member _.Paired(a, b) = (a :?> VectorBatch).Values.sub((b :?> VectorBatch).Values).abs().sum (1L)
        member _.Pairwise(a, b) = IntegerL1.Block(a, b)

/// The same distance as an IBlockwiseDistance with small square blocks (the streamed path then uses PairwiseBlocks).
type private BlockedIntegerL1(blockSize: int) =
    let inner = IntegerL1() :> IDistance
    interface IBlockwiseDistance with
        member _.BlockSize = blockSize
        member _.PairwiseBlocks(a, b, sink) =
            use _ = torch.no_grad ()
            for r0 in 0 .. blockSize .. a.Count - 1 do
                for c0 in 0 .. blockSize .. b.Count - 1 do
                    use scope = torch.NewDisposeScope()
                    let rows = torch.arange (int64 r0, int64 (min a.Count (r0 + blockSize)), dtype = torch.int64)
                    let columns = torch.arange (int64 c0, int64 (min b.Count (c0 + blockSize)), dtype = torch.int64)
                    use ra = a.Select rows
                    use cb = b.Select columns
                    sink.Invoke(int64 r0, int64 c0, IntegerL1.Block(ra, cb))
    interface IDistance with
        member _.Name = "integer-l1-blocked"
        member _.IsMetric = true
        member _.IsSymmetric = true
        member _.Accepts = Representation.Vectors
        member _.Paired(a, b) = inner.Paired(a, b)
        member _.Pairwise(a, b) = inner.Pairwise(a, b)

/// A retrieval problem on a 0..3 integer grid (many exact ties), small label sets (lone queries happen).
type private Problem =
    { Gallery: float[,]
      GalleryLabels: int64[]
      Queries: float[,] option
      QueryLabels: int64[]
      Ks: int[]
      Band: int64
      Blocked: int }

let private problem : Gen<Problem> =
    gen {
        let! n = Gen.choose (2, 14)
        let! d = Gen.choose (1, 3)
        let grid rows = Gen.array2DOfDim rows d (Gen.choose (0, 3) |> Gen.map float)
        let! gallery = grid n
        let! labels = Gen.arrayOfLength n (Gen.choose (0, 3) |> Gen.map int64)
        let! separate = Gen.elements [ false; true ]
        let! q = Gen.choose (1, 8)
        let! queries = grid q
        let! queryLabels = Gen.arrayOfLength q (Gen.choose (0, 4) |> Gen.map int64)
        let candidates = if separate then n else n - 1
        let! ks = Gen.listOf (Gen.choose (1, candidates)) |> Gen.map (List.truncate 3 >> Array.ofList)
        let! band = Gen.choose (0, 60) |> Gen.map int64
        let! blocked = Gen.elements [ 0; 1; 2; 5 ]
        return
            { Gallery = gallery
              GalleryLabels = labels
              Queries = (if separate then Some queries else None)
              QueryLabels = (if separate then queryLabels else labels)
              Ks = ks
              Band = band
              Blocked = blocked }
    }

let private hasRelevant (p: Problem) =
    match p.Queries with
    | Some _ -> p.QueryLabels |> Array.exists (fun l -> Array.contains l p.GalleryLabels)
    | None -> p.GalleryLabels |> Array.countBy id |> Array.exists (fun (_, c) -> c > 1)

let private expectSame (what: string) (expected: RetrievalReport) (actual: RetrievalReport) =
    let pairs =
        [ "P@1", expected.PrecisionAt1, actual.PrecisionAt1
          "R-precision", expected.RPrecision, actual.RPrecision
          "MAP@R", expected.MapAtR, actual.MapAtR
          "AP", expected.MeanAveragePrecision, actual.MeanAveragePrecision
          "MRR", expected.MeanReciprocalRank, actual.MeanReciprocalRank ]
    for name, e, a in pairs do
        if e <> a then failtestf "%s: %s expected %.17g, got %.17g" what name e a
    Expect.equal actual.RecallAtK expected.RecallAtK $"{what}: recall@k"
    Expect.equal actual.Ks expected.Ks $"{what}: ks"
    Expect.equal actual.EvaluatedQueries expected.EvaluatedQueries $"{what}: evaluated queries"
    Expect.equal actual.QueriesWithoutRelevant expected.QueriesWithoutRelevant $"{what}: queries without relevant"

let private streamedCases =
    testList
        "streamed retrieval"
        [ property "equals RetrievalMetrics.Evaluate on exact distances (ties, lone queries, any band and block)" 300 (problem |> Gen.filter hasRelevant) (fun p ->
              init ()
              scoped (fun () ->
                  let distance = if p.Blocked = 0 then IntegerL1() :> IDistance else BlockedIntegerL1(p.Blocked) :> IDistance
                  use gallery = VectorBatch.FromArray(p.Gallery, null)
                  match p.Queries with
                  | Some q ->
                      use queries = VectorBatch.FromArray(q, null)
                      let matrix = matrix (distance.Pairwise(queries, gallery))
                      let expected = RetrievalMetrics.evaluate (matrix, p.QueryLabels, p.GalleryLabels, false, p.Ks)
                      expectSame "queries vs gallery" expected (StreamedRetrieval.evaluate (distance, queries, gallery, p.QueryLabels, p.GalleryLabels, false, p.Ks, p.Band))
                  | None ->
                      let matrix = matrix (distance.Pairwise(gallery, gallery))
                      let expected = RetrievalMetrics.evaluate (matrix, p.GalleryLabels, p.GalleryLabels, true, p.Ks)
                      expectSame "leave-one-out" expected (StreamedRetrieval.evaluateWithin (distance, gallery, p.GalleryLabels, p.Ks, p.Band))))
          property "equals EmbeddingMetrics on catalog distances (euclidean, cosine, quantile-w2, marginal-w2, sliced-w2)" 60
              (gen {
                  let! n = Gen.choose (3, 24)
                  let! classes = Gen.choose (2, 5)
                  let! labels = Gen.arrayOfLength n (Gen.choose (0, classes - 1) |> Gen.map int64)
                  let! seed = Gen.choose (0, 100000)
                  let! band = Gen.choose (1, 80) |> Gen.map int64
                  let! kind = Gen.choose (0, 4)
                  let! dtype = Gen.elements [ torch.float64; torch.float32 ]
                  return n, labels, seed, band, kind, dtype
               })
              (fun (n, labels, seed, band, kind, dtype) ->
                  init ()
                  scoped (fun () ->
                      let g = new torch.Generator(uint64 seed)
                      let randn (shape: int64[]) = torch.randn(shape, generator = g, dtype = torch.float64).to_type dtype
                      let batch, distance =
                          match kind with
                          | 0 -> VectorBatch.FromTensor(randn [| int64 n; 3L |]) :> IEmbeddingBatch, Distances.Euclidean() :> IDistance
                          | 1 -> VectorBatch.FromTensor(randn [| int64 n; 4L |]) :> IEmbeddingBatch, Distances.Cosine() :> IDistance
                          | 2 ->
                              let struct (v, _) = (randn [| int64 n; 2L; 5L |]).sort (2L)
                              QuantileBatch.FromTensor(v, null) :> IEmbeddingBatch, Distances.QuantileWasserstein() :> IDistance
                          | 3 -> DistributionBatch.FromTensors(randn [| int64 n; 4L; 2L |], null) :> IEmbeddingBatch, Distances.MarginalWasserstein() :> IDistance
                          | _ ->
                              DistributionBatch.FromTensors(randn [| int64 n; 3L; 3L |], null) :> IEmbeddingBatch,
                              Distances.SlicedWasserstein(randn [| 4L; 3L |]) :> IDistance
                      let ks = [| 1; min 3 (n - 1) |]
                      if labels |> Array.countBy id |> Array.exists (fun (_, c) -> c > 1) then
                          let expected = EmbeddingMetrics.retrievalWithin (distance, batch, labels, ks)
                          expectSame distance.Name expected (StreamedRetrieval.evaluateWithin (distance, batch, labels, ks, band))
                          let half = n / 2
                          use queries = batch.Select(torch.arange (int64 half, dtype = torch.int64))
                          let ql = labels.[0 .. half - 1]
                          if half > 0 && ql |> Array.exists (fun l -> Array.contains l labels) then
                              let expected = EmbeddingMetrics.retrieval (distance, queries, batch, ql, labels, [| 1; n |])
                              expectSame $"{distance.Name} queries" expected (StreamedRetrieval.evaluate (distance, queries, batch, ql, labels, false, [| 1; n |], band))))
          testCase "bad arguments name the argument" <| fun () ->
              init ()
              scoped (fun () ->
                  use batch = VectorBatch.FromArray(array2D [ [ 0.0 ]; [ 1.0 ]; [ 3.0 ] ], null)
                  let e = Distances.Euclidean() :> IDistance
                  let l = [| 0L; 0L; 1L |]
                  let call f = fun () -> f () |> ignore
                  expectArgument "bandElements" "negative band" (call (fun () -> StreamedRetrieval.evaluateWithin (e, batch, l, [| 1 |], -1L)))
                  expectArgument "ks" "k too large" (call (fun () -> StreamedRetrieval.evaluateWithin (e, batch, l, [| 3 |], 0L)))
                  expectArgument "labels" "labels of another length" (call (fun () -> StreamedRetrieval.evaluateWithin (e, batch, [| 0L |], [| 1 |], 0L)))
                  expectArgument "galleryLabels" "no relevant item" (call (fun () -> StreamedRetrieval.evaluateWithin (e, batch, [| 0L; 1L; 2L |], [| 1 |], 0L)))
                  use dist = DistributionBatch.FromSequences([| array2D [ [ 0.0 ] ]; array2D [ [ 1.0 ] ] |], null)
                  expectArgument "queries" "representation" (call (fun () -> StreamedRetrieval.evaluateWithin (e, dist, [| 0L; 0L |], [| 1 |], 0L)))
                  use other = VectorBatch.FromArray(array2D [ [ 0.0 ]; [ 1.0 ] ], null)
                  expectArgument "gallery" "queryIsGallery with other sizes" (call (fun () -> StreamedRetrieval.evaluate (e, batch, other, l, [| 0L; 0L |], true, [| 1 |], 0L)))
                  // A distance that returns ∞ for one pair: the error names the distance, the query and the item.
                  let infinite =
                      { new IDistance with
                          member _.Name = "broken"
                          member _.IsMetric = false
                          member _.IsSymmetric = true
                          member _.Accepts = Representation.Vectors
                          member _.Paired(a, b) = e.Paired(a, b)
                          member _.Pairwise(a, b) =
                              let d = e.Pairwise(a, b)
                              if a.Count = 3 then d.[2L, 0L] <- torch.tensor Double.PositiveInfinity
                              d }
                  let ex = Expect.throwsC (fun () -> StreamedRetrieval.evaluateWithin (infinite, batch, l, [| 1 |], 0L) |> ignore) id
                  Expect.equal (ex :?> ArgumentException).ParamName "distance" "ParamName"
                  Expect.stringContains ex.Message "between query 2 and gallery item 0" "message names the pair") ]

// ---------------------------------------------------------------------------------------------------------------
// The fused path of the Gram-form distances

/// A fused-path case: a Gram-form distance of the catalog, its data (random, integer grid with many exact ties, or
/// near-duplicates of grid points whose Gram values cancel), a band, and queries that are the gallery or not.
type private FusedCase =
    { Kind: int
      Data: int
      Count: int
      Classes: int
      Seed: int
      Band: int64
      Float64: bool
      Separate: bool }

let private fusedCase =
    gen {
        let! kind = Gen.choose (0, 4)
        let! data = Gen.choose (0, 3)
        // Tied and near-duplicate data use a power-of-two gallery, so that the gallery mean (the kernel's centre) and
        // every Gram value are exact: the ties of exact arithmetic are then ties of the kernel whatever the order of
        // the matrix product's sums (random data has no near-ties, so any n serves).
        let! n = if data = 0 || data = 3 then Gen.choose (3, 28) else Gen.elements [ 4; 8; 16; 32 ]
        let! classes = Gen.choose (1, 5)
        let! seed = Gen.choose (0, 100000)
        let! band = Gen.elements [ 0L; 1L; 7L; 40L; 1000L ]
        // Clustered near-duplicates (data 3) in float64 only: there the distances across clusters are far apart at the
        // rounding of the product while the Gram values inside a cluster are pure rounding noise (recomputed).
        let! float64 = if data = 3 then Gen.constant true else Gen.elements [ false; true ]
        let! separate = Gen.elements [ false; true ]
        return { Kind = kind; Data = data; Count = n; Classes = classes; Seed = seed; Band = band; Float64 = float64; Separate = separate }
    }

/// Values of the given shape: standard normal (data 0), integers 0..3 (data 1, exact ties), integers 0..2 plus
/// 2^-k · {0, 1, 2} (data 2: near-duplicate points whose Gram values cancel and are recomputed from the differences),
/// k = 1..3 in float32 and 1..8 in float64, so that the centred values, their squares and sums stay exact.
/// Data 3: two far clusters (every coordinate near ±64) of points about 10⁻⁸ apart, where the Gram form cancels
/// completely (its rounding, ~10⁻¹² here in float64, exceeds the squared distances) and the distances inside a cluster
/// come from the recomputation from the differences.
let private fusedValues (g: torch.Generator) (data: int) (dtype: torch.ScalarType) (shape: int64[]) =
    match data with
    | 0 -> torch.randn(shape, generator = g, dtype = torch.float64).to_type dtype
    | 1 -> torch.randint(0L, 4L, shape, generator = g, dtype = torch.int64).to_type dtype
    | 3 ->
        let side = Array.append [| shape.[0] |] (Array.create (shape.Length - 1) 1L)
        let cluster = torch.randint(0L, 2L, side, generator = g, dtype = torch.int64).to_type(torch.float64).mul(sc 128.0).sub (sc 64.0)
        cluster.add(torch.randn(shape, generator = g, dtype = torch.float64).mul (sc 1e-8)).to_type dtype
    | _ ->
        let top = if dtype = torch.float64 then 8L else 3L
        let k = 1 + int (torch.randint(0L, top, [| 1L |], generator = g, dtype = torch.int64).item<int64> ())
        let grid = torch.randint(0L, 3L, shape, generator = g, dtype = torch.int64).to_type torch.float64
        let small = torch.randint(0L, 3L, shape, generator = g, dtype = torch.int64).to_type torch.float64
        grid.add(small.mul (sc (Math.Pow(2.0, float -k)))).to_type dtype

/// The batch of n items and the distance of a case's kind (a fresh draw from the same generator each call).
let private fusedBatch (c: FusedCase) (g: torch.Generator) (n: int) (theta: torch.Tensor) : IEmbeddingBatch * IDistance =
    let dtype = if c.Float64 then torch.float64 else torch.float32
    let n = int64 n
    match c.Kind with
    | 0 -> VectorBatch.FromTensor(fusedValues g c.Data dtype [| n; 3L |]) :> IEmbeddingBatch, Distances.Euclidean() :> IDistance
    | 1 -> VectorBatch.FromTensor(fusedValues g c.Data dtype [| n; 2L |]) :> IEmbeddingBatch, Distances.SquaredEuclidean() :> IDistance
    | 2 ->
        let struct (v, _) = (fusedValues g c.Data dtype [| n; 2L; 4L |]).sort (2L)
        QuantileBatch.FromTensor(v, null) :> IEmbeddingBatch, Distances.QuantileWasserstein() :> IDistance
    | 3 -> DistributionBatch.FromTensors(fusedValues g c.Data dtype [| n; 3L; 2L |], null) :> IEmbeddingBatch, Distances.MarginalWasserstein() :> IDistance
    | _ ->
        DistributionBatch.FromTensors(fusedValues g c.Data dtype [| n; 3L; 2L |], null) :> IEmbeddingBatch,
        Distances.SlicedWasserstein(theta) :> IDistance

let private fusedCases =
    testList
        "fused retrieval"
        [ property "the fused path equals the generic streamed path and EmbeddingMetrics (random, tied, near-duplicate data; W2 forms)" 400 fusedCase (fun c ->
              init ()
              scoped (fun () ->
                  let g = new torch.Generator(uint64 c.Seed)
                  let theta = torch.tensor(array2D [ [ 1.0; 0.5 ]; [ -0.25; 1.0 ]; [ 0.75; 0.75 ] ])
                  let gallery, distance = fusedBatch c g c.Count theta
                  let labels = Array.init c.Count (fun i -> int64 ((i * 7 + c.Seed) % c.Classes))
                  // The distance takes the fused path on these batches.
                  Expect.isSome ((distance :?> IGramDistance).Gram(gallery, gallery)) $"{distance.Name} has a Gram form"
                  if c.Separate then
                      let queries, _ = fusedBatch c g (1 + c.Seed % 9) theta
                      let ql = Array.init queries.Count (fun i -> int64 ((i * 3 + c.Seed) % (c.Classes + 1)))
                      if ql |> Array.exists (fun l -> Array.contains l labels) then
                          let ks = [| 1; c.Count |]
                          let expected = EmbeddingMetrics.retrieval (distance, queries, gallery, ql, labels, ks)
                          let generic = StreamedRetrieval.evaluateWith false (distance, queries, gallery, ql, labels, false, ks, c.Band)
                          let fused = StreamedRetrieval.evaluate (distance, queries, gallery, ql, labels, false, ks, c.Band)
                          expectSame $"{distance.Name} generic vs in-memory, queries" expected generic
                          expectSame $"{distance.Name} fused vs in-memory, queries" expected fused
                  elif labels |> Array.countBy id |> Array.exists (fun (_, k) -> k > 1) then
                      let ks = [| 1; min 3 (c.Count - 1); c.Count - 1 |]
                      let expected = EmbeddingMetrics.retrievalWithin (distance, gallery, labels, ks)
                      let generic = StreamedRetrieval.evaluateWithinGeneric (distance, gallery, labels, ks, c.Band)
                      let fused = StreamedRetrieval.evaluateWithin (distance, gallery, labels, ks, c.Band)
                      expectSame $"{distance.Name} generic vs in-memory" expected generic
                      expectSame $"{distance.Name} fused vs in-memory" expected fused))
          testCase "the fused distances equal Pairwise bit for bit (one product of the same shape, the same finishing operations)" <| fun () ->
              init ()
              scoped (fun () ->
                  for seed in [ 1; 2; 3 ] do
                      for dtype in [ torch.float32; torch.float64 ] do
                          let g = new torch.Generator(uint64 seed)
                          let randn (shape: int64[]) = torch.randn(shape, generator = g, dtype = torch.float64).to_type dtype
                          let theta = torch.randn([| 5L; 6L |], generator = g, dtype = torch.float64)
                          let points = randn [| 300L; 7L; 6L |]
                          let struct (quantiles, _) = (randn [| 300L; 6L; 8L |]).sort (2L)
                          // Vectors scaled by 2^70 take the Euclidean distance's power-of-two scale (s ≠ 1).
                          let cases : (IEmbeddingBatch * IDistance) list =
                              [ VectorBatch.FromTensor(randn [| 300L; 48L |]), Distances.Euclidean()
                                VectorBatch.FromTensor((randn [| 300L; 48L |]).mul (sc (Math.Pow(2.0, 70.0)))), Distances.Euclidean()
                                VectorBatch.FromTensor(randn [| 300L; 48L |]), Distances.SquaredEuclidean()
                                QuantileBatch.FromTensor(quantiles, null), Distances.QuantileWasserstein()
                                DistributionBatch.FromTensors(points, null), Distances.MarginalWasserstein()
                                DistributionBatch.FromTensors(points, null), Distances.SlicedWasserstein(theta) ]
                          for batch, distance in cases do
                              let expected = distance.Pairwise(batch, batch)
                              match StreamedRetrieval.fusedDistances (distance, batch, batch) with
                              | Some fused ->
                                  let differ = expected.ne(fused).sum().item<int64> ()
                                  Expect.equal differ 0L $"{distance.Name} ({dtype}, seed {seed}): entries that differ from Pairwise"
                              | None -> failtestf "%s has no Gram form" distance.Name)
          testCase "classes of more than 64 items (the binary-search buckets) on both paths equal EmbeddingMetrics" <| fun () ->
              init ()
              scoped (fun () ->
                  let g = new torch.Generator(7UL)
                  for dtype in [ torch.float32; torch.float64 ] do
                      // 160 items in two classes of 80 (R = 79 > 64) and one of integer points with exact ties.
                      let values = torch.randn([| 160L; 5L |], generator = g, dtype = torch.float64).to_type dtype
                      let grid = torch.randint(0L, 3L, [| 128L; 2L |], generator = g, dtype = torch.int64).to_type dtype
                      for batch, labels in [ VectorBatch.FromTensor values, Array.init 160 (fun i -> int64 (i % 2))
                                             VectorBatch.FromTensor grid, Array.init 128 (fun i -> int64 (i % 2)) ] do
                          for distance in [ Distances.Euclidean() :> IDistance; Distances.SquaredEuclidean() :> IDistance ] do
                              let ks = [| 1; 10 |]
                              let expected = EmbeddingMetrics.retrievalWithin (distance, batch, labels, ks)
                              expectSame $"{distance.Name} generic, R > 64" expected (StreamedRetrieval.evaluateWithinGeneric (distance, batch, labels, ks, 0L))
                              expectSame $"{distance.Name} fused, R > 64" expected (StreamedRetrieval.evaluateWithin (distance, batch, labels, ks, 0L))
                              expectSame $"{distance.Name} fused, R > 64, bands of 3 rows" expected (StreamedRetrieval.evaluateWithin (distance, batch, labels, ks, int64 (3 * batch.Count))))
          testCase "distances without a Gram form on these batches stay on the generic path" <| fun () ->
              init ()
              scoped (fun () ->
                  // Point sets of different lengths (padding): marginal W2 is no Gram form there.
                  use padded = DistributionBatch.FromTensors(torch.ones(2L, 3L, 1L, dtype = torch.float64), torch.tensor(array2D [ [ 1.0; 1.0; 0.0 ]; [ 1.0; 1.0; 1.0 ] ]))
                  Expect.isNone ((Distances.MarginalWasserstein() :> IDistance :?> IGramDistance).Gram(padded, padded)) "padded marginal-w2"
                  use v = VectorBatch.FromArray(array2D [ [ 0.0 ]; [ 1.0 ] ], null)
                  Expect.isNone ((Distances.Lp(2.0) :> IDistance :?> IGramDistance).Gram(v, v)) "lp has no Gram form hook"
                  Expect.isNone ((Distances.QuantileWasserstein(1.0) :> IDistance :?> IGramDistance).Gram(
                                    (let struct (s, _) = torch.randn(2L, 1L, 3L, dtype = torch.float64).sort (2L) in QuantileBatch.FromTensor(s, null)),
                                    (let struct (s, _) = torch.randn(2L, 1L, 3L, dtype = torch.float64).sort (2L) in QuantileBatch.FromTensor(s, null)))) "quantile-w1")
          testCase "a non-finite distance on the fused path names the pair, as on the generic path" <| fun () ->
              init ()
              scoped (fun () ->
                  // 3e20 squared overflows float32: the squared distances of item 2 are not finite.
                  use batch = VectorBatch.FromTensor(torch.tensor(array2D [ [ 0.0f; 1.0f ]; [ 1.0f; 0.0f ]; [ 3e20f; 0.0f ]; [ 2.0f; 2.0f ] ]))
                  let labels = [| 0L; 0L; 1L; 1L |]
                  let e = Distances.SquaredEuclidean() :> IDistance
                  let generic = Expect.throwsC (fun () -> StreamedRetrieval.evaluateWithinGeneric (e, batch, labels, [| 1 |], 0L) |> ignore) id
                  let fused = Expect.throwsC (fun () -> StreamedRetrieval.evaluateWithin (e, batch, labels, [| 1 |], 0L) |> ignore) id
                  Expect.equal (fused :?> ArgumentException).ParamName "distance" "ParamName"
                  Expect.equal fused.Message generic.Message "the same message (the same first pair)") ]

// ---------------------------------------------------------------------------------------------------------------
// Euclidean export

/// ‖x̃_i − x̃_j‖₂ of exported rows, in float64 from the differences.
let private exportDistances (exported: torch.Tensor) =
    let x = exported.to_type torch.float64
    matrix (x.unsqueeze(1L).sub(x.unsqueeze 0L).pow(sc 2.0).sum(2L).sqrt ())

/// The exported L2 distances against the float64 distance on the same data: float64 within 1e-9·scale, float32
/// within 1e-5·scale (scale = the largest coordinate, the distances' natural unit).
let private expectIsometry (what: string) (scale: float) (dtype: torch.ScalarType) (expected: float[,]) (exported: torch.Tensor) =
    let tol = if dtype = torch.float64 then 1e-9 else 1e-5
    Expect.equal exported.dtype dtype $"{what}: dtype kept"
    expectMatrix tol scale what (fun i j -> expected.[i, j]) (exportDistances exported)

let private exportCases =
    let shapes =
        gen {
            let! b = Gen.choose (1, 6)
            let! d = Gen.choose (1, 4)
            let! t = Gen.choose (1, 7)
            let! s = scale
            let! dtype = Gen.elements [ torch.float64; torch.float32 ]
            let! seed = Gen.choose (0, 100000)
            let! ties = Gen.elements [ false; true ]
            return b, d, t, s, dtype, seed, ties
        }
    /// [shape] values at scale s from a seeded generator (on a coarse grid when ties is set), float64.
    let draw (g: torch.Generator) (s: float) (ties: bool) (shape: int64[]) =
        let x = torch.randn(shape, generator = g, dtype = torch.float64)
        (if ties then x.mul(sc 2.0).round () else x).mul (sc s)
    testList
        "euclidean export"
        [ property "quantile-w2: ‖OfQuantiles(a)_i − OfQuantiles(a)_j‖ = MW2 (midpoint and uneven levels)" 150 shapes (fun (b, d, q, s, dtype, seed, ties) ->
              init ()
              scoped (fun () ->
                  let g = new torch.Generator(uint64 seed)
                  let struct (v, _) = (draw g s ties [| int64 b; int64 d; int64 q |]).sort (2L)
                  let uneven = seed % 2 = 0
                  let levels =
                      if uneven then
                          let cuts = torch.rand([| int64 q |], generator = g, dtype = torch.float64).mul(sc 0.9).add (sc 0.05)
                          let struct (sorted, _) = cuts.add(torch.arange(int64 q, dtype = torch.float64).mul (sc 1e-3)).sort ()
                          sorted.div (sc (1.0 + float q * 1e-3))
                      else null
                  use exact = QuantileBatch.FromTensor(v, levels)
                  let expected = matrix (Distances.QuantileWasserstein().Pairwise(exact, exact))
                  use typed = QuantileBatch.FromTensor(v.to_type dtype, (if isNull levels then null else levels.to_type dtype))
                  let exported = EuclideanExport.ofQuantiles typed
                  Expect.equal exported.shape [| int64 b; int64 (d * q) |] "shape [B, d·Q]"
                  expectIsometry "quantile-w2" s dtype expected exported
                  expectIsometry "For(quantile-w2)" s dtype expected (EuclideanExport.forDistance (Distances.QuantileWasserstein(), typed))))
          property "marginal-w2: ‖OfDistributions(a)_i − OfDistributions(a)_j‖ = MW2 for uniform equal-length point sets" 150 shapes (fun (b, d, t, s, dtype, seed, ties) ->
              init ()
              scoped (fun () ->
                  let g = new torch.Generator(uint64 seed)
                  let points = draw g s ties [| int64 b; int64 t; int64 d |]
                  use exact = DistributionBatch.FromTensors(points, null)
                  // The float64 reference of the marginal distance (merged quantiles, no fast path) is the expected value.
                  let expected =
                      let es = Array.init b (fun i -> exact.ToEmpirical i)
                      Array2D.init b b (fun i j -> Reference.MarginalWasserstein.wasserstein (2.0, es.[i], es.[j]))
                  use typed = DistributionBatch.FromTensors(points.to_type dtype, null)
                  let exported = EuclideanExport.ofDistributions typed
                  Expect.equal exported.shape [| int64 b; int64 (t * d) |] "shape [B, T·d]"
                  expectIsometry "marginal-w2" s dtype expected exported
                  expectMatrix 1e-9 s "marginal-w2 tensor distance" (fun i j -> expected.[i, j]) (matrix (Distances.MarginalWasserstein().Pairwise(exact, exact)))))
          property "sliced-w2: ‖OfSliced(a, Θ)_i − OfSliced(a, Θ)_j‖ = SW2 with the same fixed directions" 150 shapes (fun (b, d, t, s, dtype, seed, ties) ->
              init ()
              scoped (fun () ->
                  let g = new torch.Generator(uint64 seed)
                  let points = draw g s ties [| int64 b; int64 t; int64 d |]
                  let l = 1L + int64 (seed % 5)
                  // Directions as given (not normalised): the distance and the export both use them as they are.
                  let theta = torch.randn([| l; int64 d |], generator = g, dtype = torch.float64).add (sc 0.01)
                  use exact = DistributionBatch.FromTensors(points, null)
                  let expected = matrix (Distances.SlicedWasserstein(theta).Pairwise(exact, exact))
                  let es = Array.init b (fun i -> exact.ToEmpirical i)
                  let th = Array2D.init (int l) d (fun i k -> theta.[int64 i, int64 k].item<float> ())
                  expectMatrix 1e-9 s "sliced-w2 tensor vs reference" (fun i j -> Reference.SlicedWasserstein.wasserstein (2.0, es.[i], es.[j], th)) expected
                  use typed = DistributionBatch.FromTensors(points.to_type dtype, null)
                  let exported = EuclideanExport.ofSliced (typed, theta.to_type dtype)
                  Expect.equal exported.shape [| int64 b; int64 t * l |] "shape [B, T·L]"
                  expectIsometry "sliced-w2" (s * (theta.abs().sum(1L).max().item<float> ())) dtype expected exported))
          testCase "batches without a map and distances without one are refused, naming the argument" <| fun () ->
              init ()
              scoped (fun () ->
                  let call f = fun () -> f () |> ignore
                  use padded = DistributionBatch.FromTensors(torch.ones(2L, 3L, 1L, dtype = torch.float64), torch.tensor(array2D [ [ 1.0; 1.0; 0.0 ]; [ 1.0; 1.0; 1.0 ] ]))
                  expectArgument "batch" "unequal lengths (padding)" (call (fun () -> EuclideanExport.ofDistributions padded))
                  expectArgument "batch" "unequal lengths, sliced" (call (fun () -> EuclideanExport.ofSliced (padded, torch.ones(2L, 1L, dtype = torch.float64))))
                  let ex = Expect.throwsC (fun () -> EuclideanExport.ofDistributions padded |> ignore) id
                  Expect.stringContains ex.Message "row 0 has padding" "message names the row and the cause"
                  use weighted = DistributionBatch.FromTensors(torch.ones(1L, 2L, 1L, dtype = torch.float64), torch.tensor(array2D [ [ 1.0; 3.0 ] ]))
                  let ex = Expect.throwsC (fun () -> EuclideanExport.ofDistributions weighted |> ignore) id
                  Expect.equal (ex :?> ArgumentException).ParamName "batch" "ParamName"
                  Expect.stringContains ex.Message "non-uniform weights" "message names the cause"
                  use ok = DistributionBatch.FromTensors(torch.ones(2L, 3L, 2L, dtype = torch.float64), null)
                  expectArgument "directions" "directions of another dimension" (call (fun () -> EuclideanExport.ofSliced (ok, torch.ones(2L, 3L, dtype = torch.float64))))
                  expectArgument "batch" "null batch" (call (fun () -> EuclideanExport.ofQuantiles (Unchecked.defaultof<QuantileBatch>)))
                  expectArgument "distance" "sinkhorn has no map" (call (fun () -> EuclideanExport.forDistance (Distances.Create("sinkhorn-divergence", null), ok)))
                  expectArgument "distance" "sliced-w2 needs its directions" (call (fun () -> EuclideanExport.forDistance (Distances.Create("sliced-w2", null), ok)))
                  use v = VectorBatch.FromArray(array2D [ [ 1.0 ] ], null)
                  expectArgument "batch" "representation" (call (fun () -> EuclideanExport.forDistance (Distances.MarginalWasserstein(), v)))) ]

[<Tests>]
let tests = testList "scale" [ streamedCases; fusedCases; exportCases ]
