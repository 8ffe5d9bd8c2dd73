/// Proxy-Anchor (learnable class proxies) and the cross-batch memory: Proxy-Anchor recomputed in float64 by loops over
/// the definition (Kim et al. 2020, eq. 4), its gradient signs w.r.t. D(proxy, item), the label → proxy map and state
/// round trip of the catalog's proxy-anchor; the memory's FIFO order and size bound, equality with the plain loss when
/// the memory is empty or of size 0 (every tuple loss, every miner), and agreement with loops over the joined batch.
module DistEmbed.Properties.ProxyMemoryLossTests

open System
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport
open DistEmbed.Properties.ToolkitSupport

let private logOnePlusSum (xs: float[]) =
    let all = Array.append [| 0.0 |] xs
    let m = Array.max all
    m + log (Array.sumBy (fun x -> exp (x - m)) all)

/// Proxy-Anchor [Kim et al. 2020, eq. 4] with s = 1 − D(proxy c, item i).
let private proxyAnchorReference (d: int -> int -> float) (classes: int) (labels: int64[]) alpha delta =
    let b = labels.Length
    let present = [| for c in 0 .. classes - 1 do if labels |> Array.exists (fun l -> l = int64 c) then c |]
    let positive =
        present |> Array.sumBy (fun c -> logOnePlusSum [| for i in 0 .. b - 1 do if labels.[i] = int64 c then yield -alpha * (1.0 - d c i - delta) |])
    let negative =
        [| 0 .. classes - 1 |] |> Array.sumBy (fun c -> logOnePlusSum [| for i in 0 .. b - 1 do if labels.[i] <> int64 c then yield alpha * (1.0 - d c i + delta) |])
    positive / float (max 1 present.Length) + negative / float classes

let private proxyCase =
    gen {
        let! batch = labelledBatch
        let dim = batch.Values.[0].Length
        let! classes = Gen.choose (1, 5)
        let labels = batch.Labels |> Array.map (fun l -> l % int64 classes)
        let! proxies = Gen.arrayOfLength classes (Gen.arrayOfLength dim (Gen.choose (-1500, 1500) |> Gen.map (fun i -> float i / 1000.0)))
        let! asymmetric = Gen.elements [ false; true ]
        let! alpha, delta = Gen.elements [ 1.0, 0.0; 4.0, 0.1; 32.0, 0.1 ]
        return { batch with Labels = labels }, proxies, asymmetric, alpha, delta
    }

let private proxySuite =
    testList
        "proxy-anchor"
        [ property "agrees with a float64 loop over eq. 4 (D(proxy, item), symmetric and asymmetric distances)" 60 proxyCase (fun (batch, proxies, asymmetric, alpha, delta) ->
              use _ = torch.NewDisposeScope()
              let distance : IDistance = if asymmetric then ExpBregman() else SquaredEuclidean()
              let f = if asymmetric then expBregman else squaredEuclidean
              let value = ProxyAnchorLoss.compute (batchOf batch.Values, labelsOf batch.Labels, distance, batchOf proxies, ProxyAnchorLossOptions(Alpha = alpha, Delta = delta))
              let expected = proxyAnchorReference (fun c i -> f proxies.[c] batch.Values.[i]) proxies.Length batch.Labels alpha delta
              expectClose 1e-9 "proxy-anchor" expected (toScalar value))
          property "gradient signs: ∂L/∂D(p_c, x) ≥ 0 for items of class c, ≤ 0 for the others" 40 proxyCase (fun (batch, proxies, _, alpha, delta) ->
              use _ = torch.NewDisposeScope()
              let b, c = batch.Labels.Length, proxies.Length
              let k = int64 (b + c)
              let table = torch.rand([| k; k |], dtype = torch.float64).mul(torch.tensor 3.0).requires_grad_(true)
              let eye = torch.eye(k, dtype = torch.float64)
              let proxyRows = VectorBatch.FromTensor(eye.narrow(0L, 0L, int64 c))
              let itemRows = VectorBatch.FromTensor(eye.narrow(0L, int64 c, int64 b))
              let value = ProxyAnchorLoss.compute (itemRows, labelsOf batch.Labels, TableDistance(table), proxyRows, ProxyAnchorLossOptions(Alpha = alpha, Delta = delta))
              value.backward()
              let g = toArray table.grad
              for p in 0 .. c - 1 do
                  for i in 0 .. b - 1 do
                      let gpi = g.[p * int k + c + i]
                      if batch.Labels.[i] = int64 p && gpi < 0.0 then failtestf "∂L/∂D(p_%d, x_%d) = %g < 0 for an item of the class" p i gpi
                      if batch.Labels.[i] <> int64 p && gpi > 0.0 then failtestf "∂L/∂D(p_%d, x_%d) = %g > 0 for an item of another class" p i gpi)
          testCase "with the cosine distance it is eq. 4 on cosine similarities, invariant to the norms of items and proxies" <| fun () ->
              let x = torch.tensor([| 1.0; 0.2; 0.3; 1.0; -1.0; 0.5; 2.0; 0.0; 0.1; -0.4 |], dtype = torch.float64).reshape(5L, 2L)
              let p = torch.tensor([| 1.0; 1.0; -1.0; 0.2; 0.0; -1.0 |], dtype = torch.float64).reshape(3L, 2L)
              let labels = [| 0L; 0L; 1L; 1L; 0L |]
              let cosine = Distances.Create("cosine", null) :> IDistance
              let value (x: torch.Tensor) (p: torch.Tensor) = toScalar (ProxyAnchorLoss.compute (VectorBatch.FromTensor x, labelsOf labels, cosine, VectorBatch.FromTensor p, null))
              let xr = toArray x |> Array.chunkBySize 2
              let pr = toArray p |> Array.chunkBySize 2
              let cos (u: float[]) (v: float[]) = (u.[0] * v.[0] + u.[1] * v.[1]) / sqrt ((u.[0] * u.[0] + u.[1] * u.[1]) * (v.[0] * v.[0] + v.[1] * v.[1]))
              let expected = proxyAnchorReference (fun c i -> 1.0 - cos pr.[c] xr.[i]) 3 labels 32.0 0.1
              expectClose 1e-9 "proxy-anchor(cos)" expected (value x p)
              expectClose 1e-9 "rescaled" (value x p) (value (x.mul(torch.tensor 4.0)) (p.mul(torch.tensor 0.3)))
          testCase "the catalog's proxy-anchor maps labels to proxies, learns them, and saves and restores them" <| fun () ->
              use loss = Losses.Create("proxy-anchor", null) :?> ITrainableLoss
              Expect.isFalse loss.IsInitialised "no proxies before Initialise"
              Expect.throwsT<InvalidOperationException> (fun () -> loss.Compute(batchOf [| [| 0.0 |] |], labelsOf [| 10L |], SquaredEuclidean(), null) |> ignore) "Compute before Initialise"
              let prototypes = batchOf [| [| 0.0; 1.0 |]; [| 2.0; 0.0 |]; [| -1.0; -1.0 |] |]
              loss.Initialise(prototypes, [| 10L; 20L; 30L |])
              let x = tensorOf [| [| 0.1; 0.9 |]; [| 1.0; 1.0 |]; [| 2.0; 0.5 |]; [| -1.0; 0.0 |] |] true
              let value = loss.Compute(VectorBatch.FromTensor x, labelsOf [| 10L; 30L; 20L; 10L |], SquaredEuclidean(), null)
              let expected =
                  ProxyAnchorLoss.compute (VectorBatch.FromTensor(x.detach()), labelsOf [| 0L; 2L; 1L; 0L |], SquaredEuclidean(), prototypes, null)
              expectClose 1e-12 "labels 10, 20, 30 are proxies 0, 1, 2" (toScalar expected) (toScalar value)
              value.backward()
              let proxies = loss.Parameters.[0]
              Expect.isTrue (toArray proxies.grad |> Array.exists (fun g -> g <> 0.0)) "the proxies receive a gradient"
              Expect.isTrue (toArray x.grad |> Array.exists (fun g -> g <> 0.0)) "the items receive a gradient"
              use stream = new MemoryStream()
              loss.SaveState stream
              let saved = toArray proxies
              (use _ = torch.no_grad() in proxies.add_(torch.tensor 1.0) |> ignore)
              stream.Position <- 0L
              loss.LoadState stream
              Expect.equal (toArray proxies) saved "LoadState restores the proxies"
              Expect.throwsT<ArgumentException> (fun () -> loss.Compute(batchOf [| [| 0.0; 0.0 |] |], labelsOf [| 40L |], SquaredEuclidean(), null) |> ignore) "a class without proxy"
              Expect.throwsT<ArgumentException> (fun () -> loss.Compute(batchOf [| [| 0.0; 0.0 |]; [| 1.0; 1.0 |] |], labelsOf [| 10L; 20L |], SquaredEuclidean(), tripletIndices [| 0, 0, 1 |]) |> ignore) "triplets are refused"
          testCase "quantile proxies stay valid quantile functions after a step that unsorts them" <| fun () ->
              use loss = Losses.Create("proxy-anchor", null) :?> ITrainableLoss
              let q = QuantileBatch.FromTensor(torch.tensor([| 0.0; 1.0; 2.0; -1.0; 0.0; 3.0 |], dtype = torch.float64).reshape(2L, 1L, 3L), null)
              loss.Initialise(q, [| 0L; 1L |])
              (use _ = torch.no_grad() in loss.Parameters.[0].index_put_(torch.tensor 5.0, [| torch.TensorIndex.Single 0L; torch.TensorIndex.Single 0L; torch.TensorIndex.Single 0L |]) |> ignore)
              let items = QuantileBatch.FromTensor(torch.tensor([| 0.0; 0.5; 1.0; 0.0; 1.0; 2.0 |], dtype = torch.float64).reshape(2L, 1L, 3L), null)
              let value = loss.Compute(items, labelsOf [| 0L; 1L |], Distances.Create("quantile-w2", null), null)
              Expect.isTrue (Double.IsFinite(toScalar value)) "a finite loss on sorted proxies"
          testCase "validation: labels outside [0, C), proxies of another representation, α ≤ 0, δ < 0" <| fun () ->
              let e () = batchOf [| [| 0.0 |]; [| 1.0 |] |]
              let p () = batchOf [| [| 0.0 |]; [| 1.0 |] |]
              let check parameter f =
                  try
                      f () |> ignore
                      failtestf "no exception (expected one naming %s)" parameter
                  with :? ArgumentException as ex -> Expect.equal ex.ParamName parameter ex.Message
              check "labels" (fun () -> box (ProxyAnchorLoss.compute (e (), labelsOf [| 0L; 2L |], SquaredEuclidean(), p (), null)))
              check "labels" (fun () -> box (ProxyAnchorLoss.compute (e (), labelsOf [| -1L; 0L |], SquaredEuclidean(), p (), null)))
              check "proxies" (fun () -> box (ProxyAnchorLoss.compute (e (), labelsOf [| 0L; 1L |], SquaredEuclidean(), QuantileBatch.FromTensor(torch.zeros(2L, 1L, 2L, dtype = torch.float64), null), null)))
              check "proxies" (fun () -> box (ProxyAnchorLoss.compute (e (), labelsOf [| 0L; 1L |], SquaredEuclidean(), null, null)))
              check "options" (fun () -> box (ProxyAnchorLoss.compute (e (), labelsOf [| 0L; 1L |], SquaredEuclidean(), p (), ProxyAnchorLossOptions(Alpha = 0.0))))
              check "options" (fun () -> box (ProxyAnchorLoss.compute (e (), labelsOf [| 0L; 1L |], SquaredEuclidean(), p (), ProxyAnchorLossOptions(Delta = -0.1))))
              check "classes" (fun () -> box (ClassProxies.FromPrototypes(p (), [| 3L; 3L |])))
              check "classes" (fun () -> box (ClassProxies.FromPrototypes(p (), [| 3L |]))) ]

// ---- cross-batch memory --------------------------------------------------------------------------------------------

let private memory (inner: string) (miner: string) (size: int) =
    Losses.Create("xbm", LossOptions(CrossBatchMemory = CrossBatchMemoryOptions(Loss = inner, Miner = miner, Size = size))) :?> CrossBatchMemory

let private plain (inner: string) (miner: string) (e: IEmbeddingBatch) (y: torch.Tensor) (d: IDistance) =
    let loss = Losses.Create(inner, null)
    use triplets = (Miners.create (miner, null)).Mine(e, y, d)
    loss.Compute(e, y, d, triplets)

/// A few batches of one dimension, each with at least two classes.
let private batches : Gen<LabelledBatch[]> =
    gen {
        let! count = Gen.choose (1, 4)
        let! d = Gen.choose (1, 3)
        return!
            Gen.arrayOfLength count (gen {
                let! b = Gen.choose (3, 8)
                let! labels = Gen.arrayOfLength b (Gen.choose (0, 2) |> Gen.map int64)
                let! rows = Gen.arrayOfLength b (Gen.arrayOfLength d (Gen.choose (-2000, 2000) |> Gen.map (fun i -> float i / 1000.0)))
                return { Values = rows; Labels = Array.append [| 0L; 1L |] labels.[2..]; }
            })
    }

let private tupleLosses = [ "triplet"; "contrastive"; "ntxent"; "multi-similarity"; "supcon"; "circle" ]

let private memorySuite =
    testList
        "cross-batch memory"
        [ property "size 0: every step equals the plain loss, for every tuple loss and miner" 25 batches (fun steps ->
              use _ = torch.NewDisposeScope()
              for inner in tupleLosses do
                  for miner in Miners.names do
                      let xbm = memory inner miner 0
                      for s in steps do
                          let e = batchOf s.Values
                          let y = labelsOf s.Labels
                          expectClose 1e-12 $"{inner}/{miner}" (toScalar (plain inner miner e y (SquaredEuclidean()))) (toScalar ((xbm :> IMetricLoss).Compute(e, y, SquaredEuclidean(), null)))
                      Expect.equal xbm.Count 0 "size 0 keeps nothing")
          property "empty memory (first step): equals the plain loss; then the memory holds the batch" 25 batches (fun steps ->
              use _ = torch.NewDisposeScope()
              let s = steps.[0]
              for inner in tupleLosses do
                  for miner in Miners.names do
                      let xbm = memory inner miner 100
                      let e = batchOf s.Values
                      let y = labelsOf s.Labels
                      expectClose 1e-12 $"{inner}/{miner}" (toScalar (plain inner miner e y (SquaredEuclidean()))) (toScalar ((xbm :> IMetricLoss).Compute(e, y, SquaredEuclidean(), null)))
                      Expect.equal xbm.MemoryLabels s.Labels "the memory holds the batch's labels")
          property "FIFO: the memory holds the last Size items in arrival order, never more" 40 (Gen.zip batches (Gen.choose (1, 12))) (fun (steps, size) ->
              use _ = torch.NewDisposeScope()
              use xbm = memory "contrastive" "all" size
              let mutable seen : (float[] * int64)[] = [||]
              for s in steps do
                  xbm.Enqueue(batchOf s.Values, labelsOf s.Labels)
                  seen <- Array.append seen (Array.zip s.Values s.Labels)
                  let expected = seen.[max 0 (seen.Length - size) ..]
                  Expect.isLessThanOrEqual xbm.Count size "size bound"
                  Expect.equal xbm.Count expected.Length "count"
                  Expect.equal xbm.MemoryLabels (Array.map snd expected) "labels in FIFO order"
                  let stored = toArray (xbm.Memory :?> VectorBatch).Values
                  Expect.equal stored (expected |> Array.collect fst) "embeddings in FIFO order"
                  Expect.isFalse (xbm.Memory :?> VectorBatch).Values.requires_grad "the memory is detached")
          property "with a memory: contrastive and multi-similarity equal loops over the tuples anchored in the batch" 30 batches (fun steps ->
              use _ = torch.NewDisposeScope()
              let contrastive = memory "contrastive" "all" 6
              let ms = memory "multi-similarity" "all" 6
              let mutable past : (float[] * int64)[] = [||]
              for s in steps do
                  let joined = Array.append (Array.zip s.Values s.Labels) past
                  let rows = Array.map fst joined
                  let labels = Array.map snd joined
                  let b = s.Labels.Length
                  let d i j = squaredEuclidean rows.[i] rows.[j]
                  let pos, neg = referencePairs labels
                  let pos = pos |> Array.filter (fun (a, _) -> a < b)
                  let neg = neg |> Array.filter (fun (a, _) -> a < b)
                  let o = ContrastiveLossOptions()
                  let terms = Array.append [| for a, p in pos -> max 0.0 (d a p - o.PositiveMargin) |] [| for a, n in neg -> max 0.0 (o.NegativeMargin - d a n) |]
                  let expected = if terms.Length = 0 then 0.0 else Array.average terms
                  let x = tensorOf s.Values true
                  let value = (contrastive :> IMetricLoss).Compute(VectorBatch.FromTensor x, labelsOf s.Labels, SquaredEuclidean(), null)
                  expectClose 1e-9 "xbm(contrastive)" expected (toScalar value)
                  value.backward()
                  Expect.isTrue (toArray x.grad |> Array.forall Double.IsFinite) "finite gradient"
                  let mo = MultiSimilarityLossOptions()
                  let msTerm i =
                      let lse (xs: float[]) = let m = Array.max (Array.append [| 0.0 |] xs) in m + log (Array.sumBy (fun v -> exp (v - m)) (Array.append [| 0.0 |] xs))
                      lse [| for a, p in pos do if a = i then yield mo.Alpha * (d a p - mo.Threshold) |] / mo.Alpha
                      + lse [| for a, n in neg do if a = i then yield -mo.Beta * (d a n - mo.Threshold) |] / mo.Beta
                  let expectedMs = Array.average [| for i in 0 .. b - 1 -> msTerm i |]
                  expectClose 1e-9 "xbm(multi-similarity): the mean over the batch's anchors" expectedMs (toScalar ((ms :> IMetricLoss).Compute(batchOf s.Values, labelsOf s.Labels, SquaredEuclidean(), null)))
                  past <- Array.append past (Array.zip s.Values s.Labels)
                  past <- past.[max 0 (past.Length - 6) ..])
          testCase "a miner sees the memory: batch-hard picks its hardest negative from the memory" <| fun () ->
              use xbm = memory "triplet" "batch-hard" 10
              let loss = xbm :> IMetricLoss
              // Step 1 fills the memory with a class-1 item right next to the class-0 items of step 2.
              loss.Compute(batchOf [| [| 0.05 |]; [| 9.0 |]; [| 9.1 |] |], labelsOf [| 1L; 2L; 2L |], SquaredEuclidean(), null) |> ignore
              let value = loss.Compute(batchOf [| [| 0.0 |]; [| 0.5 |]; [| 5.0 |] |], labelsOf [| 0L; 0L; 1L |], SquaredEuclidean(), null)
              // anchor 0: positive 0.5 (0.25), hardest negative 0.05 from memory (0.0025); anchor 1: positive 0 (0.25), negative 0.05 (0.2025); anchor 2 (class 1): positive 0.05 in memory (24.5025), nearest negative 9.0 in memory (16).
              let o = TripletMarginLossOptions()
              let expected = Array.average [| max 0.0 (0.25 - 0.0025 + o.Margin); max 0.0 (0.25 - 0.2025 + o.Margin); max 0.0 (24.5025 - 16.0 + o.Margin) |]
              expectClose 1e-9 "batch-hard over batch + memory" expected (toScalar value)
          testCase "distributions of different lengths: the memory pads with zero weight and the loss equals the contrastive loss on the joined batch" <| fun () ->
              use _ = torch.NewDisposeScope()
              let distance = Distances.Create("marginal-w2", null) :> IDistance
              use xbm = memory "contrastive" "all" 10
              let loss = xbm :> IMetricLoss
              let first = torch.randn(3L, 5L, 2L, dtype = torch.float64)
              let second = torch.randn(4L, 3L, 2L, dtype = torch.float64)
              let y1 = [| 0L; 1L; 1L |]
              let y2 = [| 1L; 0L; 0L; 2L |]
              loss.Compute(DistributionBatch.FromTensors(first, null), labelsOf y1, distance, null) |> ignore
              let value = loss.Compute(DistributionBatch.FromTensors(second, null), labelsOf y2, distance, null)
              // The joined batch by hand: the second batch padded to 5 points (zero weight), then the first batch.
              let points = torch.cat([| torch.cat([| second; torch.zeros(4L, 2L, 2L, dtype = torch.float64) |], 1L); first |], 0L)
              let weights = torch.cat([| torch.cat([| torch.ones(4L, 3L, dtype = torch.float64); torch.zeros(4L, 2L, dtype = torch.float64) |], 1L); torch.ones(3L, 5L, dtype = torch.float64) |], 0L)
              let joined = DistributionBatch.FromTensors(points, weights)
              let labels = Array.append y2 y1
              let pos, neg = referencePairs labels
              let anchored (pairs: (int * int)[]) = pairs |> Array.filter (fun (a, _) -> a < 4)
              let expected = ContrastiveLoss.compute (joined, labelsOf labels, distance, pairIndices (anchored pos) (anchored neg), null)
              expectClose 1e-9 "xbm over distributions" (toScalar expected) (toScalar value)
              Expect.equal xbm.MemoryLabels (Array.append y1 y2) "both batches in FIFO order"
              Expect.equal (xbm.Memory :?> DistributionBatch).Length 5 "padded to the longer length"
          testCase "validation: triplets given, negative size, a proxy or unknown wrapped loss, another representation" <| fun () ->
              let check parameter (f: unit -> obj) =
                  try
                      f () |> ignore
                      failtestf "no exception (expected one naming %s)" parameter
                  with :? ArgumentException as ex -> Expect.equal ex.ParamName parameter ex.Message
              let xbm = memory "contrastive" "all" 4 :> IMetricLoss
              check "triplets" (fun () -> box (xbm.Compute(batchOf [| [| 0.0 |]; [| 1.0 |]; [| 2.0 |] |], labelsOf [| 0L; 0L; 1L |], SquaredEuclidean(), tripletIndices [| 0, 1, 2 |])))
              check "options" (fun () -> box (memory "contrastive" "all" -1))
              check "options" (fun () -> box (memory "proxy-anchor" "all" 4))
              check "options" (fun () -> box (memory "xbm" "all" 4))
              check "options" (fun () -> box (memory "nope" "all" 4))
              check "name" (fun () -> box (memory "contrastive" "nope" 4))
              xbm.Compute(batchOf [| [| 0.0 |]; [| 1.0 |]; [| 2.0 |] |], labelsOf [| 0L; 0L; 1L |], SquaredEuclidean(), null) |> ignore
              check "embeddings" (fun () -> box (xbm.Compute(batchOf [| [| 0.0; 1.0 |]; [| 1.0; 1.0 |] |], labelsOf [| 0L; 1L |], SquaredEuclidean(), null))) ]

[<Tests>]
let tests = testList "toolkit.losses.proxies-and-memory" [ proxySuite; memorySuite ]
