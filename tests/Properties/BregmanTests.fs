/// Learned Bregman divergences: convexity of every generator (Jensen), D ≥ 0 and D(x, x) = 0, the quadratic and
/// Mahalanobis closed forms, pairwise = paired, ∇φ against finite differences, the closed-form max-affine divergence
/// against the autograd one, gradients into the generator through ∇φ, toolkit compatibility and validation.
module DistEmbed.Properties.BregmanTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Bregman
open DistEmbed.Properties.Generators
open DistEmbed.Properties.TensorSupport

/// A generator case: kind, dimension, seed of the parameters, seed of the inputs, input scale.
type Case = { Kind: string; Dimension: int; Seed: int; InputSeed: int; Scale: float }

let private kinds = ConvexGenerators.kinds

let private case : Gen<Case> =
    gen {
        let! kind = Gen.elements kinds
        let! d = Gen.choose (1, 6)
        let! seed = Gen.choose (0, 100000)
        let! inputSeed = Gen.choose (0, 100000)
        let! scale = Gen.elements [ 0.1; 1.0; 3.0; 10.0 ]
        return { Kind = kind; Dimension = d; Seed = seed; InputSeed = inputSeed; Scale = scale }
    }

/// Generator options; odd seeds add the strongly convex term ½ε‖x‖² (ICNN, max-affine), even seeds leave it out.
let private options (seed: int) =
    GeneratorOptions(Seed = int64 seed, Pieces = 5, Temperature = 0.3, Hidden = [| 7; 5 |], Strength = (if seed % 2 = 0 then 0.0 else 0.5))

/// A float64 generator of the case's kind; the quadratic one gets a random L (not the identity).
let private generatorOf (c: Case) : ConvexGenerator =
    let g = ConvexGenerators.create (c.Kind, c.Dimension, options c.Seed, torch.float64, torch.CPU)
    match g with
    | :? QuadraticGenerator as q ->
        use _ = torch.no_grad ()
        let random = new torch.Generator(uint64 c.Seed, torch.CPU)
        q.Factor.copy_ (torch.randn([| int64 c.Dimension; int64 q.Rank |], dtype = torch.float64, generator = random)) |> ignore
    | _ -> ()
    g

/// [n, d] float64 N(0, scale²) points from a seed.
let private points (seed: int) (n: int) (d: int) (s: float) =
    let random = new torch.Generator(uint64 seed, torch.CPU)
    torch.randn([| int64 n; int64 d |], dtype = torch.float64, generator = random).mul(sc s)

let private vectors (t: Tensor) = VectorBatch.FromTensor t :> IEmbeddingBatch

/// A tolerance scaled to the magnitudes involved.
let private magnitude (c: Case) = 1.0 + c.Scale * c.Scale * float c.Dimension

let private argumentOf (f: unit -> 'a) : ArgumentException =
    try
        f () |> ignore
        failtest "expected an ArgumentException"
    with :? ArgumentException as e -> e

let private throwsNaming (param: string) (fragment: string) (f: unit -> 'a) =
    let e = argumentOf f
    Expect.equal e.ParamName param $"ParamName of: {e.Message}"
    Expect.stringContains e.Message fragment "message"

[<Tests>]
let tests =
    testList
        "bregman"
        [ property "D ≥ 0 and D(x, x) = 0 for every generator (paired and pairwise diagonal)" 60 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf c
              let distance = BregmanDivergence(g) :> IDistance
              let x = points c.InputSeed 7 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 7 c.Dimension c.Scale
              let tol = 1e-10 * magnitude c
              for v in values (distance.Paired(vectors x, vectors y)) do
                  if v < -tol then failtestf "%s: D(x, y) = %g < 0" c.Kind v
              for v in values (distance.Pairwise(vectors x, vectors y)) do
                  if v < -tol then failtestf "%s: pairwise D = %g < 0" c.Kind v
              // D(x, x) = 0 read at permuted positions of a rewritten copy (x′_j = x_{π(j)}), so that a closed form that is
              // 0 on identical arguments by construction still has to get the indexing and the cancellation right.
              let perm = [| 3L; 0L; 6L; 1L; 5L; 2L; 4L |]
              let xp = x.index_select(0L, torch.tensor(perm))
              let cross = TensorSupport.matrix (distance.Pairwise(vectors x, vectors xp))
              for j in 0 .. perm.Length - 1 do
                  expectWithin tol 1.0 $"{c.Kind}: pairwise D(x_π(j), x′_j)" 0.0 cross.[int perm.[j], j])

          property "D(x, y) = φ(x) − φ(y) − ⟨∇φ(y), x − y⟩ from Value and autograd ∇φ (the definition, another code path than each closed form)" 60 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf c
              let distance = BregmanDivergence(g) :> IDistance
              let x = points c.InputSeed 7 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 7 c.Dimension c.Scale
              let fx, fy = values (g.Value x), values (g.Value y)
              let gy = g.AutogradGradient y
              let inner = values (gy.mul(x.sub y).sum(1L))
              let paired = values (distance.Paired(vectors x, vectors y))
              let pairwise = TensorSupport.matrix (distance.Pairwise(vectors x, vectors y))
              for i in 0 .. 6 do
                  let expected = fx.[i] - fy.[i] - inner.[i]
                  let tol = 1e-9 * (abs fx.[i] + abs fy.[i] + abs inner.[i] + magnitude c)
                  expectWithin tol 1.0 $"{c.Kind}: D(x_{i}, y_{i})" expected paired.[i]
                  expectWithin tol 1.0 $"{c.Kind}: pairwise D(x_{i}, y_{i})" expected pairwise.[i, i])

          property "Jensen: φ(λx + (1 − λ)y) ≤ λφ(x) + (1 − λ)φ(y) for every generator" 60 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf c
              let x = points c.InputSeed 16 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 16 c.Dimension c.Scale
              let lambda = torch.rand([| 16L; 1L |], dtype = torch.float64, generator = new torch.Generator(uint64 c.InputSeed, torch.CPU))
              let mix = x.mul(lambda).add(y.mul(lambda.neg().add(sc 1.0)), sc 1.0)
              let lhs = values (g.Value mix)
              let l = values lambda
              let fx, fy = values (g.Value x), values (g.Value y)
              for i in 0 .. 15 do
                  let rhs = l.[i] * fx.[i] + (1.0 - l.[i]) * fy.[i]
                  if lhs.[i] > rhs + 1e-10 * (1.0 + abs rhs) then
                      failtestf "%s: φ(mix) = %.17g > %.17g (λ = %g)" c.Kind lhs.[i] rhs l.[i])

          property "quadratic with L = I gives ½‖x − y‖² (paired and pairwise)" 30 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = ConvexGenerators.create ("quadratic", c.Dimension, null, torch.float64, torch.CPU)
              let distance = BregmanDivergence(g) :> IDistance
              let x = points c.InputSeed 5 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 4 c.Dimension c.Scale
              let xs, ys = matrix x, matrix y
              let half i j =
                  0.5 * Seq.sum (seq { for k in 0 .. c.Dimension - 1 -> (xs.[i, k] - ys.[j, k]) ** 2.0 })
              expectMatrix 1e-12 (magnitude c) "pairwise" half (matrix (distance.Pairwise(vectors x, vectors y)))
              let paired = values (distance.Paired(vectors (x.narrow(0L, 0L, 4L)), vectors y))
              paired |> Array.iteri (fun i v -> expectWithin 1e-12 (magnitude c) $"paired[{i}]" (half i i) v))

          property "quadratic = Mahalanobis ½(x − y)ᵀ L Lᵀ (x − y); generic form and closed form agree" 30 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf { c with Kind = "quadratic" }
              let q = g :?> QuadraticGenerator
              let l = matrix q.Factor
              let x = points c.InputSeed 5 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 6 c.Dimension c.Scale
              let xs, ys = matrix x, matrix y
              let d = c.Dimension
              let m = Array2D.init d d (fun a b -> Seq.sum (seq { for r in 0 .. q.Rank - 1 -> l.[a, r] * l.[b, r] }))
              let expected i j =
                  let diff = Array.init d (fun k -> xs.[i, k] - ys.[j, k])
                  0.5 * Seq.sum (seq { for a in 0 .. d - 1 do for b in 0 .. d - 1 -> diff.[a] * m.[a, b] * diff.[b] })
              let scale = magnitude c * (1.0 + Seq.max (Seq.cast<float> m |> Seq.map abs))
              let pairwise = matrix (BregmanDivergence(g).Pairwise(vectors x, vectors y))
              expectMatrix 1e-11 scale "closed form" expected pairwise
              expectMatrix 1e-9 scale "generic form" expected (matrix (g.GenericPairwise(x, y))))

          property "pairwise = paired on every (i, j)" 40 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf c
              let distance = BregmanDivergence(g) :> IDistance
              let x = points c.InputSeed 4 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 3 c.Dimension c.Scale
              let pairwise = matrix (distance.Pairwise(vectors x, vectors y))
              let rows = torch.tensor([| for i in 0L .. 3L do for _ in 0L .. 2L -> i |])
              let cols = torch.tensor([| for _ in 0L .. 3L do for j in 0L .. 2L -> j |])
              let paired = values (distance.Paired(vectors (x.index_select(0L, rows)), vectors (y.index_select(0L, cols))))
              expectMatrix 1e-9 (magnitude c) $"{c.Kind}" (fun i j -> paired.[i * 3 + j]) pairwise)

          property "∇φ (closed form and autograd) matches central finite differences in float64" 40 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf c
              let x = points c.InputSeed 3 c.Dimension c.Scale
              let gradient = matrix (g.Gradient x)
              let autograd = matrix (g.AutogradGradient x)
              let h = 1e-6 * (1.0 + c.Scale)
              let scores =
                  match g with
                  | :? MaxAffineGenerator as m -> Some (matrix (torch.nn.functional.linear (x, m.Weight, m.Bias)))
                  | _ -> None
              for i in 0 .. 2 do
                  // Max-affine is differentiable only away from ties: skip points whose two best pieces are within 1e-3.
                  let smooth =
                      match scores with
                      | Some s ->
                          let row = Array.init (Array2D.length2 s) (fun k -> s.[i, k]) |> Array.sortDescending
                          row.Length = 1 || row.[0] - row.[1] > 1e-3
                      | None -> true
                  if smooth then
                      for k in 0 .. c.Dimension - 1 do
                          let shift = torch.zeros([| 3L; int64 c.Dimension |], dtype = torch.float64)
                          shift.[int64 i, int64 k] <- torch.tensor (h, dtype = torch.float64)
                          let plus = values (g.Value (x.add (shift, sc 1.0)))
                          let minus = values (g.Value (x.sub shift))
                          let fd = (plus.[i] - minus.[i]) / (2.0 * h)
                          let tol = 1e-5 * (1.0 + abs fd)
                          expectWithin tol 1.0 $"{c.Kind}: ∂φ/∂x[{i},{k}] (Gradient)" fd gradient.[i, k]
                          expectWithin tol 1.0 $"{c.Kind}: ∂φ/∂x[{i},{k}] (autograd)" fd autograd.[i, k])

          property "closed-form max-affine divergence = autograd divergence away from ties" 40 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf { c with Kind = "max-affine" }
              let m = g :?> MaxAffineGenerator
              let x = points c.InputSeed 5 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 4 c.Dimension c.Scale
              let s = matrix (torch.nn.functional.linear (y, m.Weight, m.Bias))
              let tied j =
                  let row = Array.init (Array2D.length2 s) (fun k -> s.[j, k]) |> Array.sortDescending
                  row.Length > 1 && row.[0] - row.[1] < 1e-6
              let closed = matrix (g.PairwiseDivergence(x, y))
              let fx, fy = values (g.Value x), values (g.Value y)
              let grad = matrix (g.AutogradGradient y)
              let xs, ys = matrix x, matrix y
              let expected i j =
                  fx.[i] - fy.[j] - Seq.sum (seq { for k in 0 .. c.Dimension - 1 -> grad.[j, k] * (xs.[i, k] - ys.[j, k]) })
              for i in 0 .. 4 do
                  for j in 0 .. 3 do
                      if not (tied j) then expectWithin 1e-10 (magnitude c) $"D[{i},{j}]" (expected i j) closed.[i, j])

          property "gradients reach the generator through ∇φ (create_graph): d/dθ Σ D matches finite differences" 20 case (fun c ->
              use _ = torch.NewDisposeScope()
              use g = generatorOf { c with Kind = (if c.Kind = "max-affine" then "icnn" else c.Kind) }
              let distance = BregmanDivergence(g) :> IDistance
              let x = points c.InputSeed 4 c.Dimension c.Scale
              let y = points (c.InputSeed + 1) 3 c.Dimension c.Scale
              let total () = distance.Pairwise(vectors x, vectors y).sum()
              let loss = total ()
              loss.backward ()
              let parameters = g.parameters () |> Seq.toArray
              for p in parameters do
                  if isNull p.grad then failtestf "%s: a parameter got no gradient" g.Kind
              // Finite differences on the first entry of every parameter.
              for p in parameters do
                  let analytic = p.grad.flatten().[0L].item<float> ()
                  let h = 1e-6
                  let at (delta: float) =
                      use _ = torch.no_grad ()
                      let flat = p.view(-1L)
                      let old = flat.[0L].item<float> ()
                      flat.[0L] <- torch.tensor (old + delta, dtype = torch.float64)
                      let v = total().item<float> ()
                      flat.[0L] <- torch.tensor (old, dtype = torch.float64)
                      v
                  let fd = (at h - at -h) / (2.0 * h)
                  expectWithin (1e-5 * (1.0 + abs fd)) 1.0 $"{g.Kind}: ∂ΣD/∂θ" fd analytic)

          testCase "the pairwise divergence of a max-affine / ICNN generator is not symmetric" <| fun () ->
              use _ = torch.NewDisposeScope()
              for kind in [ "max-affine"; "icnn"; "smooth-max-affine" ] do
                  use g = ConvexGenerators.create (kind, 3, options 5, torch.float64, torch.CPU)
                  let distance = BregmanDivergence(g) :> IDistance
                  Expect.isFalse distance.IsSymmetric "IsSymmetric"
                  Expect.isFalse distance.IsMetric "IsMetric"
                  Expect.equal distance.Name ("bregman-" + kind) "name"
                  let x = points 1 6 3 2.0
                  let m = matrix (distance.Pairwise(vectors x, vectors x))
                  let asymmetry = Seq.max (seq { for i in 0 .. 5 do for j in 0 .. 5 -> abs (m.[i, j] - m.[j, i]) })
                  Expect.isGreaterThan asymmetry 1e-6 $"{kind}: D(x, y) ≠ D(y, x) somewhere"

          // φ itself (Value), not the HiddenWeights accessor: with raw weights of both signs pushed far from 0, Value
          // must equal the ICNN forward pass with softplus-ed weights written out here, and stay convex (Jensen).
          testCase "ICNN Value = forward pass with softplus(V) weights and is convex, for raw weights of either sign" <| fun () ->
              use _ = torch.NewDisposeScope()
              use g = ConvexGenerators.create ("icnn", 3, GeneratorOptions(Hidden = [| 6; 5; 4 |], Seed = 9L, Strength = 0.0), torch.float64, torch.CPU)
              let icnn = g :?> IcnnGenerator
              let random = new torch.Generator(123UL, torch.CPU)
              let named = dict [ for struct (name, p) in icnn.named_parameters () -> name, p ]
              use _ = torch.no_grad ()
              for KeyValue(name, p) in named do
                  if name.EndsWith "_raw" then
                      p.copy_ (torch.randn(p.shape, dtype = torch.float64, generator = random).mul(sc 4.0)) |> ignore
              let softplus (t: Tensor) = torch.nn.functional.softplus t
              let forward (x: Tensor) =
                  let mutable z = softplus (x.mm(named.["pass0_weight"].t ()).add (named.["pass0_bias"], sc 1.0))
                  for l in 1 .. 2 do
                      let pass = x.mm(named.[$"pass{l}_weight"].t ()).add (named.[$"pass{l}_bias"], sc 1.0)
                      z <- softplus (z.mm(softplus(named.[$"hidden{l}_raw"]).t ()).add (pass, sc 1.0))
                  z.mv (softplus named.["output_raw"])
              let x = points 3 64 3 2.0
              let y = points 4 64 3 2.0
              let fx = values (g.Value x)
              Array.iteri2 (fun i e v -> expectWithin 1e-12 (1.0 + abs e) $"Value[{i}]" e v) (values (forward x)) fx
              let fy = values (g.Value y)
              for lambda in [ 0.1; 0.5; 0.8 ] do
                  let mix = values (g.Value (x.mul(sc lambda).add (y.mul (sc (1.0 - lambda)), sc 1.0)))
                  for i in 0 .. 63 do
                      let rhs = lambda * fx.[i] + (1.0 - lambda) * fy.[i]
                      if mix.[i] > rhs + 1e-10 * (1.0 + abs rhs) then
                          failtestf "φ(mix) = %.17g > %.17g (λ = %g, row %d)" mix.[i] rhs lambda i

          testCase "works with the toolkit: miners, losses, retrieval under no_grad, backward" <| fun () ->
              use _ = torch.NewDisposeScope()
              for kind in kinds do
                  use g = ConvexGenerators.create (kind, 4, options 3, torch.float32, torch.CPU)
                  let distance = BregmanDivergence(g) :> IDistance
                  let x = points 7 12 4 1.0
                  let x = x.to_type(torch.float32).requires_grad_(true)
                  let labels = torch.tensor([| 0L; 0L; 0L; 1L; 1L; 1L; 2L; 2L; 2L; 3L; 3L; 3L |])
                  let batch = VectorBatch.FromTensor x :> IEmbeddingBatch
                  let triplets = Miners.batchHard (batch, labels, distance)
                  let loss = TripletMarginLoss.compute (batch, labels, distance, triplets, null)
                  let ms = MultiSimilarityLoss.compute (batch, labels, distance, null, null)
                  loss.add(ms, sc 1.0).backward ()
                  Expect.isTrue (torch.isfinite(x.grad).all().ToBoolean()) $"{kind}: finite input gradient"
                  let report = EmbeddingMetrics.retrievalWithin (distance, VectorBatch.FromTensor(x.detach()), [| 0L; 0L; 0L; 1L; 1L; 1L; 2L; 2L; 2L; 3L; 3L; 3L |], [| 1 |])
                  Expect.isTrue (report.PrecisionAt1 >= 0.0 && report.PrecisionAt1 <= 1.0) "P@1 in [0, 1]"

          testCase "DeepBregmanModel.Fit lowers the loss and separates two synthetic classes" <| fun () ->
              use _ = torch.NewDisposeScope()
              let random = new torch.Generator(11UL, torch.CPU)
              let n = 160
              let labels = Array.init n (fun i -> int64 (i % 4))
              let centres = torch.randn([| 4L; 20L |], generator = random).mul(sc 1.5)
              let images = centres.index_select(0L, torch.tensor labels).add(torch.randn([| int64 n; 20L |], generator = random), sc 1.0)
              use model = new DeepBregmanModel(20, DeepBregmanOptions(Divergence = "icnn", Hidden = 32, EmbeddingDimension = 8, Epochs = 4, ClassesPerBatch = 4, ItemsPerClass = 8, LearningRate = 3e-3, Seed = 1), torch.CPU)
              let before = model.Evaluate(images, labels)
              let reports = model.Fit(images, labels, null)
              Expect.equal reports.Length 4 "one report per epoch"
              Expect.isLessThan reports.[3].MeanLoss reports.[0].MeanLoss "the loss goes down"
              let after = model.Evaluate(images, labels)
              Expect.isGreaterThanOrEqual after.MapAtR before.MapAtR "MAP@R does not get worse"
              Expect.isGreaterThan after.PrecisionAt1 0.9 "P@1 on well-separated clusters"

          testCase "validation: unknown kind, bad hyper-parameters, wrong batches" <| fun () ->
              use _ = torch.NewDisposeScope()
              throwsNaming "kind" "unknown" (fun () -> ConvexGenerators.create ("convex", 3, null, torch.float64, torch.CPU))
              throwsNaming "dimension" "dimension" (fun () -> ConvexGenerators.create ("icnn", 0, null, torch.float64, torch.CPU))
              throwsNaming "pieces" "pieces" (fun () -> ConvexGenerators.create ("max-affine", 3, GeneratorOptions(Pieces = 0), torch.float64, torch.CPU))
              throwsNaming "temperature" "temperature" (fun () -> ConvexGenerators.create ("smooth-max-affine", 3, GeneratorOptions(Temperature = 0.0), torch.float64, torch.CPU))
              throwsNaming "hidden" "hidden[1]" (fun () -> ConvexGenerators.create ("icnn", 3, GeneratorOptions(Hidden = [| 4; 0 |]), torch.float64, torch.CPU))
              throwsNaming "hidden" "empty" (fun () -> ConvexGenerators.create ("icnn", 3, GeneratorOptions(Hidden = [||]), torch.float64, torch.CPU))
              throwsNaming "strength" "strength" (fun () -> ConvexGenerators.create ("icnn", 3, GeneratorOptions(Strength = -1.0), torch.float64, torch.CPU))
              throwsNaming "strength" "strength" (fun () -> ConvexGenerators.create ("max-affine", 3, GeneratorOptions(Strength = -1.0), torch.float64, torch.CPU))
              throwsNaming "rank" "rank" (fun () -> ConvexGenerators.create ("quadratic", 3, GeneratorOptions(Rank = -1), torch.float64, torch.CPU))
              throwsNaming "dtype" "float32 or float64" (fun () -> ConvexGenerators.create ("quadratic", 3, null, torch.int32, torch.CPU))
              throwsNaming "generator" "null" (fun () -> BregmanDivergence(null))
              use g = ConvexGenerators.create ("icnn", 3, null, torch.float64, torch.CPU)
              let distance = BregmanDivergence(g) :> IDistance
              let x3 = vectors (points 1 4 3 1.0)
              throwsNaming "a" "dimension 2" (fun () -> distance.Pairwise(vectors (points 1 4 2 1.0), vectors (points 1 4 2 1.0)))
              throwsNaming "b" "dimension d = 2" (fun () -> distance.Pairwise(x3, vectors (points 1 4 2 1.0)))
              throwsNaming "b" "paired distance needs equal counts" (fun () -> distance.Paired(x3, vectors (points 1 5 3 1.0)))
              throwsNaming "b" "dtype" (fun () -> distance.Pairwise(x3, vectors ((points 1 4 3 1.0).to_type torch.float32)))
              throwsNaming "a" "generator's parameters are" (fun () ->
                  distance.Pairwise(vectors ((points 1 4 3 1.0).to_type torch.float32), vectors ((points 1 4 3 1.0).to_type torch.float32)))
              let distributions = DistributionBatch.FromTensors(torch.zeros([| 2L; 3L; 3L |], dtype = torch.float64), torch.ones([| 2L; 3L |], dtype = torch.float64))
              throwsNaming "a" "accepts" (fun () -> distance.Pairwise(distributions, x3))
              throwsNaming "x" "[N, 3]" (fun () -> g.CheckInput("x", torch.zeros([| 3L |], dtype = torch.float64)))
              throwsNaming "options.Divergence" "unknown" (fun () -> new DeepBregmanModel(4, DeepBregmanOptions(Divergence = "hamming"), torch.CPU))
              throwsNaming "options.Miner" "unknown" (fun () -> new DeepBregmanModel(4, DeepBregmanOptions(Miner = "hardest"), torch.CPU))
              throwsNaming "options.Epochs" "options.Epochs" (fun () -> new DeepBregmanModel(4, DeepBregmanOptions(Epochs = 0), torch.CPU))
              use model = new DeepBregmanModel(4, DeepBregmanOptions(Divergence = "euclidean"), torch.CPU)
              Expect.isNull model.Generator "a fixed distance has no generator"
              throwsNaming "images" "[N, 4]" (fun () -> model.Embed(torch.zeros([| 3L; 5L |]), 8))
              throwsNaming "labels" "length" (fun () -> model.Fit(torch.zeros([| 3L; 4L |]), [| 0L; 1L |], null)) ]
