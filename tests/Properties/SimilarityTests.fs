/// Properties of the embedding-space similarity measures (DistEmbed.Core.Similarity: exact k-NN, NNGS, mutual k-NN,
/// CKA) and of their float64 reference (DistEmbed.Core.Reference.SpaceSimilarity): identities, invariances,
/// symmetry, the random baseline, agreement between the tensor path and the reference, block-size independence,
/// deterministic tie-breaking, golden values from scikit-learn/NumPy, and every validation rule.
module DistEmbed.Properties.SimilarityTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Similarity
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport

/// Standard normal N × d draws from a seeded generator (continuous: distances do not tie).
let normalPoints (rng: Random) (n: int) (d: int) =
    Array2D.init n d (fun _ _ ->
        let u = 1.0 - rng.NextDouble()
        sqrt (-2.0 * log u) * cos (2.0 * Math.PI * rng.NextDouble()))

/// A d × d orthogonal matrix by Gram–Schmidt on normal draws.
let orthogonal (rng: Random) (d: int) =
    let m = normalPoints rng d d
    let q = Array2D.zeroCreate d d
    for c in 0 .. d - 1 do
        let v = Array.init d (fun r -> m.[r, c])
        for p in 0 .. c - 1 do
            let dot = Seq.sumBy (fun r -> v.[r] * q.[r, p]) [ 0 .. d - 1 ]
            for r in 0 .. d - 1 do
                v.[r] <- v.[r] - dot * q.[r, p]
        let norm = sqrt (Array.sumBy (fun x -> x * x) v)
        for r in 0 .. d - 1 do
            q.[r, c] <- v.[r] / norm
    q

let multiply (x: float[,]) (m: float[,]) =
    let n, d, e = Array2D.length1 x, Array2D.length2 x, Array2D.length2 m
    Array2D.init n e (fun i j -> Seq.sumBy (fun c -> x.[i, c] * m.[c, j]) [ 0 .. d - 1 ])

let batch (x: float[,]) = VectorBatch.FromArray(x, torch.CPU) :> IEmbeddingBatch

/// A distance by name; "lp3" is L_3 (computed from the differences, so equal distances of grid points tie exactly).
let distanceOf (name: string) =
    if name = "lp3" then Distances.Create("lp", DistanceOptions(P = 3.0)) else Distances.Create(name, null)

let graph (x: float[,]) (metric: string) (k: int) (blockSize: int) =
    use b = batch x
    NearestNeighbours.exact (b, distanceOf metric, k, blockSize)

let nngsOf (x: float[,]) (y: float[,]) (metric: string) (ks: int[]) =
    use bx = batch x
    use by = batch y
    Neighbourhoods.nngs (bx, by, Distances.Create(metric, null), ks, 0)

/// A random case: seed, N, d and ks (all in [1, N − 1]).
let caseGen : Gen<int * int * int * int[]> =
    gen {
        let! seed = Gen.choose (0, Int32.MaxValue)
        let! n = Gen.choose (5, 40)
        let! d = Gen.choose (1, 6)
        let! ks = Gen.arrayOfLength 3 (Gen.choose (1, n - 1))
        return seed, n, d, ks
    }

/// Integer points in [−3, 3] for N = 16 or 32: the column means are dyadic, so every quantity of the Gram form is
/// exact in float64 and equal distances tie exactly.
let gridGen : Gen<float[,]> =
    gen {
        let! n = Gen.elements [ 16; 32 ]
        let! d = Gen.choose (1, 3)
        let! values = Gen.arrayOfLength (n * d) (Gen.choose (-3, 3))
        return Array2D.init n d (fun i c -> float values.[i * d + c])
    }

let expectSameGraph (what: string) (expected: int[,]) (actual: int[,]) =
    if expected <> actual then
        failtestf "%s: neighbour indices differ\nexpected %A\nactual   %A" what expected actual

/// The first k columns of a graph's indices.
let prefix (k: int) (g: int[,]) = Array2D.init (Array2D.length1 g) k (fun i j -> g.[i, j])

// ---------------------------------------------------------------- the random baseline, from first principles

/// log C(n, r).
let private logChoose (n: int) (r: int) =
    let lf (m: int) = Seq.sumBy (fun i -> log (float i)) [ 1 .. m ]
    lf n - lf r - lf (n - r)

/// The exact law of J = h / (2k − h) with h ~ Hypergeometric(n items, k marked, k drawn): (E J, Var J).
let jaccardMoments (n: int) (k: int) =
    let probabilities =
        [ for h in max 0 (2 * k - n) .. k -> h, exp (logChoose k h + logChoose (n - k) (k - h) - logChoose n k) ]
    let j (h: int) = float h / float (2 * k - h)
    let mean = probabilities |> List.sumBy (fun (h, p) -> p * j h)
    let variance = probabilities |> List.sumBy (fun (h, p) -> p * (j h - mean) ** 2.0)
    mean, variance

/// For two independent spaces whose rows are i.i.d. continuous draws, N_Y(i) is a uniformly random k-subset of the
/// other n = N − 1 items, independent of N_X(i); so |N_X(i) ∩ N_Y(i)| ~ Hypergeometric(n, k, k) exactly and every
/// item's Jaccard index J_i has the law of J = h / (2k − h): E NNGS = E J. One replicate's NNGS = mean_i J_i lies in
/// [0, 1] and, by Cauchy–Schwarz, Var(mean_i J_i) ≤ Var J = σ² whatever the dependence between items. Bernstein's
/// inequality for the mean of R independent replicates: P(|mean − E J| ≥ t) ≤ 2 exp(−R t² / (2σ² + 2t/3)). The
/// tolerance t solves 2 exp(…) = 1e-6, so a correct implementation fails with probability below 1e-6 over seeds
/// (the seed is fixed); a Jaccard replaced by the overlap fraction (E = 0.172 here) or by its baseline-free
/// complement fails it.
let randomBaselineTest =
    testCase "independent random spaces: NNGS averages to the hypergeometric E J (Bernstein, α = 1e-6); H(k) is near" <| fun () ->
        let replicates, count, d, k = 1000, 30, 3, 5
        let n = count - 1
        let mean, variance = jaccardMoments n k
        let logTerm = log (2.0 / 1e-6)
        let r = float replicates
        // R t² = logTerm (2σ² + 2t/3)  ⇒  t = (2/3 logTerm + √((2/3 logTerm)² + 8 R σ² logTerm)) / (2R)
        let a = 2.0 / 3.0 * logTerm
        let t = (a + sqrt (a * a + 8.0 * r * variance * logTerm)) / (2.0 * r)
        let rng = Random 4242
        let distance = Distances.Create("euclidean", null)
        let mutable total = 0.0
        for _ in 1 .. replicates do
            use bx = batch (normalPoints rng count d)
            use by = batch (normalPoints rng count d)
            total <- total + (Neighbourhoods.nngs (bx, by, distance, [| k |], 0)).[0]
        let observed = total / r
        if abs (observed - mean) > t then
            failtestf "mean NNGS over %d replicates = %.5f, E J = %.5f, allowed ± %.5f" replicates observed mean t
        let h = Neighbourhoods.randomBaseline (k, count)
        // H(k) replaces E|∩| = k²/n inside the ratio; at n = 29, k = 5 it is within 10 % of E J.
        if abs (h - mean) > 0.1 * mean then failtestf "H(k) = %.5f is not within 10 %% of E J = %.5f" h mean

// ---------------------------------------------------------------- golden values

type private GoldenCase =
    { X: float[,]
      Y: float[,]
      Metric: string
      Ks: int[]
      Nngs: float[]
      Normalized: float[]
      Mutual: float[]
      LinearBiased: float
      LinearUnbiased: float
      Bandwidth: float
      RbfBiased: float
      RbfUnbiased: float
      SigmaFixed: float
      RbfFixedBiased: float }

let private goldenCases =
    loadFixture "golden_similarity.json" "instances" (fun p -> $"instances from {p}") (fun e ->
        { X = jsonMatrix (e.GetProperty "x")
          Y = jsonMatrix (e.GetProperty "y")
          Metric = e.GetProperty("metric").GetString()
          Ks = jsonIntegers (e.GetProperty "ks") |> Array.map int
          Nngs = jsonVector (e.GetProperty "nngs")
          Normalized = jsonVector (e.GetProperty "normalizedNngs")
          Mutual = jsonVector (e.GetProperty "mutualKnn")
          LinearBiased = e.GetProperty("ckaLinearBiased").GetDouble()
          LinearUnbiased = e.GetProperty("ckaLinearUnbiased").GetDouble()
          Bandwidth = e.GetProperty("bandwidth").GetDouble()
          RbfBiased = e.GetProperty("ckaRbfBiased").GetDouble()
          RbfUnbiased = e.GetProperty("ckaRbfUnbiased").GetDouble()
          SigmaFixed = e.GetProperty("sigmaFixed").GetDouble()
          RbfFixedBiased = e.GetProperty("ckaRbfFixedBiased").GetDouble() })

let private golden (name: string) (check: GoldenCase -> int -> unit) =
    testCase $"golden (scikit-learn 1.2.1 / NumPy, {fixtureCount goldenCases} instances): {name}" <| fun () ->
        match goldenCases with
        | Error reason -> failtest reason
        | Ok cases ->
            if cases.Length < 40 then failtestf "only %d golden instances" cases.Length
            cases |> Array.iteri (fun i c -> check c i)

let private expectArray (tol: float) (what: string) (expected: float[]) (actual: float[]) =
    Array.iteri2 (fun j (e: float) a -> expectClose tol $"{what}[{j}]" e a) expected actual

let goldenTests =
    testList "golden" [
        golden "NNGS, normalised NNGS and mutual k-NN (tensor k-NN) to 1e-12" (fun c i ->
            use bx = batch c.X
            use by = batch c.Y
            let distance = Distances.Create(c.Metric, null)
            expectArray 1e-12 $"instance {i} nngs" c.Nngs (Neighbourhoods.nngs (bx, by, distance, c.Ks, 0))
            expectArray 1e-12 $"instance {i} normalised" c.Normalized (Neighbourhoods.normalizedNngs (bx, by, distance, c.Ks, 0))
            expectArray 1e-12 $"instance {i} mutual" c.Mutual (Neighbourhoods.mutualKnn (bx, by, distance, c.Ks, 0)))
        golden "NNGS and mutual k-NN (float64 reference) to 1e-12" (fun c i ->
            let kmax = Array.max c.Ks
            let gx = SpaceSimilarity.nearestNeighbours (SpaceSimilarity.pairwiseDistances (c.X, c.Metric), kmax)
            let gy = SpaceSimilarity.nearestNeighbours (SpaceSimilarity.pairwiseDistances (c.Y, c.Metric), kmax)
            expectArray 1e-12 $"instance {i} nngs" c.Nngs (c.Ks |> Array.map (fun k -> SpaceSimilarity.nngs (gx, gy, k)))
            expectArray 1e-12 $"instance {i} mutual" c.Mutual (c.Ks |> Array.map (fun k -> SpaceSimilarity.mutualKnn (gx, gy, k))))
        golden "linear CKA, biased and unbiased (tensor and reference) to 1e-12" (fun c i ->
            use bx = batch c.X
            use by = batch c.Y
            expectClose 1e-12 $"instance {i} tensor biased" c.LinearBiased (Cka.linear (bx, by, false))
            expectClose 1e-12 $"instance {i} tensor unbiased" c.LinearUnbiased (Cka.linear (bx, by, true))
            expectClose 1e-12 $"instance {i} reference biased" c.LinearBiased (SpaceSimilarity.linearCka (c.X, c.Y, false))
            expectClose 1e-12 $"instance {i} reference unbiased" c.LinearUnbiased (SpaceSimilarity.linearCka (c.X, c.Y, true)))
        golden "RBF CKA, median and fixed bandwidth (tensor and reference) to 1e-12" (fun c i ->
            use bx = batch c.X
            use by = batch c.Y
            let distance = Distances.Create(c.Metric, null)
            expectClose 1e-12 $"instance {i} tensor biased" c.RbfBiased (Cka.rbf (bx, by, distance, c.Bandwidth, true, false, 0))
            expectClose 1e-12 $"instance {i} tensor unbiased" c.RbfUnbiased (Cka.rbf (bx, by, distance, c.Bandwidth, true, true, 0))
            expectClose 1e-12 $"instance {i} tensor fixed" c.RbfFixedBiased (Cka.rbf (bx, by, distance, c.SigmaFixed, false, false, 0))
            let dx = SpaceSimilarity.pairwiseDistances (c.X, c.Metric)
            let dy = SpaceSimilarity.pairwiseDistances (c.Y, c.Metric)
            let sx = c.Bandwidth * SpaceSimilarity.medianDistance dx
            let sy = c.Bandwidth * SpaceSimilarity.medianDistance dy
            expectClose 1e-12 $"instance {i} reference biased" c.RbfBiased (SpaceSimilarity.rbfCka (dx, dy, sx, sy, false))
            expectClose 1e-12 $"instance {i} reference unbiased" c.RbfUnbiased (SpaceSimilarity.rbfCka (dx, dy, sx, sy, true)))
    ]

// ---------------------------------------------------------------- the CPU fast path against brute force

/// The points as a float32 or float64 batch.
let typedBatch (x: float[,]) (dtype: torch.ScalarType) =
    use t = torch.tensor(x, dtype = torch.float64)
    VectorBatch.FromTensor(t.to_type dtype) :> IEmbeddingBatch

/// Runs f with torch's thread count set to `threads`, restoring it afterwards.
let withThreads (threads: int) (f: unit -> 'T) =
    let saved = torch.get_num_threads ()
    torch.set_num_threads threads
    try f () finally torch.set_num_threads saved

/// Brute force: for each query row the k gallery rows of smallest exact squared distance (integer points: exact in
/// float64), ordered by (distance, index), the row's own index skipped when `self`.
let bruteForce (queries: float[,]) (gallery: float[,]) (k: int) (self: bool) =
    let q, g, d = Array2D.length1 queries, Array2D.length1 gallery, Array2D.length2 gallery
    let squared i j = Seq.sumBy (fun c -> (queries.[i, c] - gallery.[j, c]) ** 2.0) [ 0 .. d - 1 ]
    Array2D.init q k (fun i b ->
        let order = [| 0 .. g - 1 |] |> Array.filter (fun j -> not self || j <> i) |> Array.sortBy (fun j -> squared i j, j)
        order.[b])

/// Integer points in [−2, 2] for N = 16 or 32 and d up to 300 (past the managed GEMM's k-slice of 256): the centred
/// coordinates are multiples of 1/32 and every Gram entry is below 2^24/1024, so the float32 Gram form is exact too.
let deepGridGen : Gen<float[,]> =
    gen {
        let! n = Gen.elements [ 16; 32 ]
        let! d = Gen.oneof [ Gen.choose (1, 40); Gen.choose (250, 300) ]
        let! values = Gen.arrayOfLength (n * d) (Gen.choose (-2, 2))
        return Array2D.init n d (fun i c -> float values.[i * d + c])
    }

/// Grid points (ties everywhere; N = 16 or 32 keeps the centring exact), a dtype, a k (1, N − 2, N − 1 or any), a
/// block size (automatic, 1, smaller than k, not dividing N, larger than N), a thread count and the float32 GEMM
/// (libtorch's mm or each managed kernel this CPU runs; float64 always multiplies with libtorch).
let internal fastPathGen : Gen<float[,] * torch.ScalarType * int * int * int * ManagedGemm.Path> =
    gen {
        let! x = Gen.oneof [ gridGen; gridGen; deepGridGen ]
        let n = Array2D.length1 x
        let! dtype = Gen.elements [ torch.float32; torch.float64 ]
        let! k = Gen.oneof [ Gen.elements [ 1; n - 2; n - 1 ]; Gen.choose (1, n - 1) ]
        let! blockSize = Gen.elements [ 0; 1; 3; 5; 7; n + 3 ]
        let! threads = Gen.elements [ 1; 2 ]
        let! gemm = Gen.elements GemmTests.gemmPaths
        return x, dtype, k, blockSize, threads, gemm
    }

/// bruteForce x x k true with plain loops (for N in the thousands): for each item the k others of smallest exact
/// squared distance (integer points: exact in float64), ordered by (distance, index).
let bruteForceGraph (x: float[,]) (k: int) =
    let n, d = Array2D.length1 x, Array2D.length2 x
    let result = Array2D.zeroCreate n k
    let dist = Array.zeroCreate<float> n
    for i in 0 .. n - 1 do
        for j in 0 .. n - 1 do
            let mutable acc = 0.0
            for c in 0 .. d - 1 do
                let e = x.[i, c] - x.[j, c]
                acc <- acc + e * e
            dist.[j] <- acc
        let order = Array.init n id |> Array.filter (fun j -> j <> i)
        Array.sortInPlaceWith (fun a b -> let c = compare dist.[a] dist.[b] in if c <> 0 then c else compare a b) order
        for b in 0 .. k - 1 do
            result.[i, b] <- order.[b]
    result

/// Grid points of dimension 9–40 (wider than a float32 or float64 vector, with a tail; squared distances stay exact in
/// float32), with a dtype, a k, a block size and a thread count as in fastPathGen.
let wideGridGen : Gen<float[,] * torch.ScalarType * int * int * int> =
    gen {
        let! n = Gen.elements [ 16; 32 ]
        let! d = Gen.choose (9, 40)
        let! values = Gen.arrayOfLength (n * d) (Gen.choose (-1, 1))
        let x = Array2D.init n d (fun i c -> float values.[i * d + c])
        let! dtype = Gen.elements [ torch.float32; torch.float64 ]
        let! k = Gen.oneof [ Gen.elements [ 1; n - 2; n - 1 ]; Gen.choose (1, n - 1) ]
        let! blockSize = Gen.elements [ 0; 1; 3; 5; 7; 9; n + 3 ]
        let! threads = Gen.elements [ 1; 2 ]
        return x, dtype, k, blockSize, threads
    }

let fastPathTests =
    testList "CPU fast path" [
        property "k-NN graph = brute force by (distance, index), float32 and float64, ties, any block, thread count and GEMM" 90 fastPathGen
            (fun (x, dtype, k, blockSize, threads, gemm) ->
                let g =
                    withThreads threads (fun () ->
                        ManagedGemm.withPath gemm <| fun () ->
                        use b = typedBatch x dtype
                        NearestNeighbours.exact (b, Distances.Create("euclidean", null), k, blockSize))
                expectSameGraph $"{dtype}, k {k}, block {blockSize}, threads {threads}, {gemm}" (bruteForce x x k true) g.Indices
                let d = Array2D.length2 x
                for i in 0 .. Array2D.length1 x - 1 do
                    for j in 0 .. k - 1 do
                        let exact = sqrt (Seq.sumBy (fun c -> (x.[i, c] - x.[g.Indices.[i, j], c]) ** 2.0) [ 0 .. d - 1 ])
                        expectClose 1e-12 $"distance [{i},{j}]" exact g.Distances.[i, j])

        property "search = brute force by (distance, index): query count not a multiple of the block, k up to G, k > block, any GEMM" 90 fastPathGen
            (fun (x, dtype, k, blockSize, threads, gemm) ->
                let n = Array2D.length1 x
                let q = Array2D.init (n / 2 + 1) (Array2D.length2 x) (fun i c -> x.[(3 * i + 1) % n, c] + (if i % 3 = 0 then 1.0 else 0.0))
                let k = if k = n - 1 then n else k
                let found =
                    withThreads threads (fun () ->
                        ManagedGemm.withPath gemm <| fun () ->
                        use bq = typedBatch q dtype
                        use bx = typedBatch x dtype
                        NearestNeighbours.search (bq, bx, Distances.Create("sqeuclidean", null), k, blockSize))
                let expected = bruteForce q x k false
                if found.Indices <> expected then
                    failtestf "%O, k %d, block %d, threads %d, %A: %A, expected %A" dtype k blockSize threads gemm found.Indices expected)

        property "k-NN graph and search with 1 and 2 threads are identical, block by block (random data, float32, every GEMM)" 30 caseGen (fun (seed, n, d, ks) ->
            let x = normalPoints (Random seed) (n + 20) (d + 2)
            let k = Array.max ks
            for blockSize, gemm in List.allPairs [ 0; 3; 7 ] GemmTests.gemmPaths do
                let run threads =
                    withThreads threads (fun () ->
                        ManagedGemm.withPath gemm <| fun () ->
                        use b = typedBatch x torch.float32
                        let e = Distances.Create("euclidean", null)
                        NearestNeighbours.exact (b, e, k, blockSize), NearestNeighbours.search (b, b, e, k, blockSize))
                let g1, s1 = run 1
                let g2, s2 = run 2
                expectSameGraph $"graph, block {blockSize}" g1.Indices g2.Indices
                if g1.Distances <> g2.Distances then failtestf "graph, block %d: distances differ" blockSize
                if s1.Indices <> s2.Indices || s1.Distances <> s2.Distances then failtestf "search, block %d: results differ" blockSize)

        property "wide grid points (d 9–40: vector lanes and tails): k-NN graph = brute force, distances exact, any block and thread count" 40 wideGridGen
            (fun (x, dtype, k, blockSize, threads) ->
                let g =
                    withThreads threads (fun () ->
                        use b = typedBatch x dtype
                        NearestNeighbours.exact (b, Distances.Create("euclidean", null), k, blockSize))
                expectSameGraph $"{dtype}, d {Array2D.length2 x}, k {k}, block {blockSize}, threads {threads}" (bruteForce x x k true) g.Indices
                let d = Array2D.length2 x
                for i in 0 .. Array2D.length1 x - 1 do
                    for j in 0 .. k - 1 do
                        let exact = sqrt (Seq.sumBy (fun c -> (x.[i, c] - x.[g.Indices.[i, j], c]) ** 2.0) [ 0 .. d - 1 ])
                        expectClose 1e-12 $"distance [{i},{j}]" exact g.Distances.[i, j])

        property "NNGS and mutual k-NN (both graphs in one pool, indices only) = brute-force graphs, mixed dtypes and dimensions, ties, any block and thread count" 40
            (Gen.zip wideGridGen gridGen)
            (fun ((x, dtypeX, k, blockSize, threads), y0) ->
                let n = Array2D.length1 x
                // y: grid points of another dimension for the same N items (rows repeated when y0 has fewer).
                let y = Array2D.init n (Array2D.length2 y0) (fun i c -> y0.[i % Array2D.length1 y0, c] + float (i / Array2D.length1 y0))
                let dtypeY = if dtypeX = torch.float32 then torch.float64 else torch.float32
                // Every k up to the generated one: the graphs are built at k (a k below N − 1 makes the selection
                // reject candidates) and every prefix is compared.
                let ks = [| 1 .. k |]
                let gx = bruteForce x x (n - 1) true
                let gy = bruteForce y y (n - 1) true
                let nngs, mknn =
                    withThreads threads (fun () ->
                        use bx = typedBatch x dtypeX
                        use by = typedBatch y dtypeY
                        let e = Distances.Create("euclidean", null)
                        Neighbourhoods.nngs (bx, by, e, ks, blockSize), Neighbourhoods.mutualKnn (bx, by, e, ks, blockSize))
                let what = $"{dtypeX}/{dtypeY}, k = 1 … {k}, block {blockSize}, threads {threads}"
                expectArray 1e-15 $"NNGS ({what})" (ks |> Array.map (fun k -> SpaceSimilarity.nngs (gx, gy, k))) nngs
                expectArray 1e-15 $"mKNN ({what})" (ks |> Array.map (fun k -> SpaceSimilarity.mutualKnn (gx, gy, k))) mknn)

        property "automatic blocks at N = 1024 (256-row strips against 512-column panels, ragged last panels): graph and NNGS = brute force, ties" 4
            (gen {
                let! d = Gen.choose (2, 6)
                let! values = Gen.arrayOfLength (2 * 1024 * d) (Gen.choose (-1, 1))
                let! dtype = Gen.elements [ torch.float32; torch.float64 ]
                let! k = Gen.elements [ 1; 10; 37 ]
                let! threads = Gen.elements [ 1; 2 ]
                return d, values, dtype, k, threads
            })
            (fun (d, values, dtype, k, threads) ->
                let n = 1024
                let x = Array2D.init n d (fun i c -> float values.[i * d + c])
                let y = Array2D.init n d (fun i c -> float values.[(n + i) * d + c])
                let gx = bruteForceGraph x k
                let gy = bruteForceGraph y k
                let g, nngs =
                    withThreads threads (fun () ->
                        use bx = typedBatch x dtype
                        use by = typedBatch y dtype
                        let e = Distances.Create("euclidean", null)
                        NearestNeighbours.exact (bx, e, k, 0), Neighbourhoods.nngs (bx, by, e, [| k |], 0))
                expectSameGraph $"{dtype}, d {d}, k {k}, threads {threads}" gx g.Indices
                expectArray 1e-15 $"NNGS ({dtype}, k {k}, threads {threads})" [| SpaceSimilarity.nngs (gx, gy, k) |] nngs)

        testCase "exact cosine and NaN-free distances: N = 2, k = 1 (the smallest graph), float32" <| fun () ->
            use b = typedBatch (array2D [ [ 1.0; 0.0 ]; [ 0.0; 2.0 ] ]) torch.float32
            let g = NearestNeighbours.exact (b, Distances.Create("cosine", null), 1, 0)
            if g.Indices <> array2D [ [ 1 ]; [ 0 ] ] then failtestf "indices %A" g.Indices
            expectClose 1e-7 "cosine distance" 1.0 g.Distances.[0, 0]
    ]

// ---------------------------------------------------------------- properties

let propertyTests =
    testList "properties" [
        property "NNGS(X, X) = 1 and mutual k-NN(X, X) = 1, ties included (grid points)" 40 gridGen (fun x ->
            let n = Array2D.length1 x
            let ks = [| 1; n / 2; n - 1 |]
            for v in nngsOf x x "euclidean" ks do expectClose 0.0 "NNGS(X, X)" 1.0 v
            use b = batch x
            for v in Neighbourhoods.mutualKnn (b, b, Distances.Create("euclidean", null), ks, 0) do expectClose 0.0 "mKNN(X, X)" 1.0 v)

        property "Euclidean NNGS is invariant to rotation, translation and uniform scaling" 40 caseGen (fun (seed, n, d, ks) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n (d + 1)
            let q = orthogonal rng d
            let shift = Array.init d (fun _ -> 10.0 * rng.NextDouble())
            let s = 0.01 + 100.0 * rng.NextDouble()
            let moved = multiply x q |> Array2D.mapi (fun _ c v -> s * v + shift.[c])
            let before = nngsOf x y "euclidean" ks
            let after = nngsOf moved y "euclidean" ks
            expectArray 1e-12 "NNGS after rotation, translation, scaling" before after)

        property "cosine NNGS is invariant to per-row positive scaling" 40 caseGen (fun (seed, n, d, ks) ->
            let rng = Random seed
            let d = d + 1
            let x = normalPoints rng n d
            let y = normalPoints rng n d
            let factors = Array.init n (fun _ -> 0.1 + 10.0 * rng.NextDouble())
            let scaled = x |> Array2D.mapi (fun i _ v -> factors.[i] * v)
            expectArray 1e-12 "cosine NNGS after row scaling" (nngsOf x y "cosine" ks) (nngsOf scaled y "cosine" ks))

        property "NNGS and mutual k-NN are symmetric in X and Y" 40 caseGen (fun (seed, n, d, ks) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n (max 1 (d - 1))
            expectArray 0.0 "NNGS(X,Y) vs NNGS(Y,X)" (nngsOf x y "euclidean" ks) (nngsOf y x "euclidean" ks)
            use bx = batch x
            use by = batch y
            let e = Distances.Create("euclidean", null)
            expectArray 0.0 "mKNN(X,Y) vs mKNN(Y,X)" (Neighbourhoods.mutualKnn (bx, by, e, ks, 0)) (Neighbourhoods.mutualKnn (by, bx, e, ks, 0)))

        property "NNGS ≤ mutual k-NN ≤ 1 and normalised NNGS = (NNGS − H)/(1 − H)" 40 caseGen (fun (seed, n, d, ks) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n d
            use bx = batch x
            use by = batch y
            let e = Distances.Create("euclidean", null)
            let v = Neighbourhoods.nngs (bx, by, e, ks, 0)
            let m = Neighbourhoods.mutualKnn (bx, by, e, ks, 0)
            let z = Neighbourhoods.normalizedNngs (bx, by, e, ks, 0)
            for j in 0 .. ks.Length - 1 do
                if v.[j] > m.[j] + 1e-15 || m.[j] > 1.0 then failtestf "k = %d: NNGS %g, mKNN %g" ks.[j] v.[j] m.[j]
                let h = float ks.[j] / (2.0 * float (n - 1) - float ks.[j])
                let expected = if h >= 1.0 then 1.0 else (v.[j] - h) / (1.0 - h)
                expectClose 1e-14 $"normalised at k = {ks.[j]}" expected z.[j])

        randomBaselineTest

        property "tensor k-NN equals the float64 reference (indices exactly, distances to 1e-12)" 40 caseGen (fun (seed, n, d, ks) ->
            let rng = Random seed
            let x = normalPoints rng n (d + 1)
            for metric in [ "euclidean"; "sqeuclidean"; "cosine" ] do
                let k = Array.max ks
                let g = graph x metric k 0
                let full = SpaceSimilarity.pairwiseDistances (x, metric)
                expectSameGraph metric (SpaceSimilarity.nearestNeighbours (full, k)) g.Indices
                for i in 0 .. n - 1 do
                    for j in 0 .. k - 1 do
                        expectClose 1e-12 $"{metric} distance [{i},{j}]" full.[i, g.Indices.[i, j]] g.Distances.[i, j])

        property "tensor NNGS and mutual k-NN equal the float64 reference" 40 caseGen (fun (seed, n, d, ks) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n (d + 2)
            let kmax = Array.max ks
            let gx = SpaceSimilarity.nearestNeighbours (SpaceSimilarity.pairwiseDistances (x, "euclidean"), kmax)
            let gy = SpaceSimilarity.nearestNeighbours (SpaceSimilarity.pairwiseDistances (y, "euclidean"), kmax)
            expectArray 1e-15 "NNGS" (ks |> Array.map (fun k -> SpaceSimilarity.nngs (gx, gy, k))) (nngsOf x y "euclidean" ks)
            use bx = batch x
            use by = batch y
            expectArray 1e-15 "mKNN" (ks |> Array.map (fun k -> SpaceSimilarity.mutualKnn (gx, gy, k)))
                (Neighbourhoods.mutualKnn (bx, by, Distances.Create("euclidean", null), ks, 0)))

        property "blocked k-NN equals unblocked, exactly, ties included (grid points, Gram and generic paths)" 30 gridGen (fun x ->
            let n = Array2D.length1 x
            for metric in [ "euclidean"; "sqeuclidean"; "lp3" ] do
                let whole = graph x metric (n - 1) 0
                for blockSize in [ 1; 3; 7; n - 1; n + 5 ] do
                    let g = graph x metric (n - 1) blockSize
                    expectSameGraph $"{metric}, blockSize {blockSize}" whole.Indices g.Indices
                    if g.Distances <> whole.Distances then failtestf "%s, blockSize %d: distances differ" metric blockSize)

        property "ties go to the smaller index: the graph equals a sort by (distance, index) (grid points)" 40 gridGen (fun x ->
            let n = Array2D.length1 x
            let full = SpaceSimilarity.pairwiseDistances (x, "euclidean")
            for k in [ 1; 2; n / 2; n - 1 ] do
                expectSameGraph $"Gram path, k = {k}" (SpaceSimilarity.nearestNeighbours (full, k)) (graph x "euclidean" k 5).Indices
                use b = batch x
                let l3 = TensorSupport.matrix ((distanceOf "lp3").Pairwise(b, b))
                expectSameGraph $"generic path (lp, p = 3), k = {k}" (SpaceSimilarity.nearestNeighbours (l3, k)) (graph x "lp3" k 5).Indices)

        testCase "identical points: every item's neighbours are the smallest other indices" <| fun () ->
            let x = Array2D.create 9 2 1.5
            for metric in [ "euclidean"; "cosine"; "lp3" ] do
                let g = graph x metric 4 2
                for i in 0 .. 8 do
                    let expected = [| 0 .. 8 |] |> Array.filter (fun j -> j <> i) |> Array.take 4
                    let actual = Array.init 4 (fun j -> g.Indices.[i, j])
                    if actual <> expected then failtestf "%s row %d: %A, expected %A" metric i actual expected

        property "k-NN of distributions (marginal-w2, generic path) equals the sorted Pairwise matrix" 20 (Gen.choose (0, 100000)) (fun seed ->
            let rng = Random seed
            let n = 12
            let sequences = Array.init n (fun _ -> normalPoints rng (1 + rng.Next 5) 2)
            use b = DistributionBatch.FromSequences(sequences, torch.CPU)
            let distance = Distances.Create("marginal-w2", null)
            let full = TensorSupport.matrix (distance.Pairwise(b, b))
            let g = NearestNeighbours.exact (b, distance, 5, 4)
            expectSameGraph "marginal-w2" (SpaceSimilarity.nearestNeighbours (full, 5)) g.Indices)

        property "search (queries against a gallery) = a sort by (distance, index), any block size (grid points, Gram and generic)" 30 gridGen (fun x ->
            let n = Array2D.length1 x
            let q = Array2D.init 5 (Array2D.length2 x) (fun i c -> x.[n - 1 - 2 * i, c] + (if i = 4 then 0.5 else 0.0))
            use bq = batch q
            use bx = batch x
            for metric in [ "euclidean"; "lp3" ] do
                let distance = distanceOf metric
                let full = TensorSupport.matrix (distance.Pairwise(bq, bx))
                for k in [ 1; n / 2; n ] do
                    for blockSize in [ 0; 1; 3; n + 5 ] do
                        let found = NearestNeighbours.search (bq, bx, distance, k, blockSize)
                        for i in 0 .. 4 do
                            let expected = [| 0 .. n - 1 |] |> Array.sortBy (fun j -> full.[i, j], j) |> Array.take k
                            let actual = Array.init k (fun j -> found.Indices.[i, j])
                            if actual <> expected then
                                failtestf "%s, k %d, blockSize %d, query %d: %A, expected %A" metric k blockSize i actual expected
                            for j in 0 .. k - 1 do
                                expectClose 1e-12 $"{metric} distance [{i},{j}]" full.[i, expected.[j]] found.Distances.[i, j])

        property "prefix property: the k-NN graph is the first k columns of the k' > k graph" 30 caseGen (fun (seed, n, d, ks) ->
            let x = normalPoints (Random seed) n d
            let big = graph x "euclidean" (n - 1) 0
            for k in ks do
                expectSameGraph $"k = {k}" (prefix k big.Indices) (graph x "euclidean" k 0).Indices)

        // CKA(X, X) = 1 holds for any HSIC formula (HSIC(K, K)/√(HSIC(K, K)²)); this checks the estimators instead,
        // against forms written independently here: linear biased CKA in feature space ‖YcᵀXc‖²_F/(‖XcᵀXc‖_F ‖YcᵀYc‖_F)
        // [Kornblith et al. 2019, §3], and HSIC_b = tr(KHLH)/(n−1)² with H = I − 11ᵀ/n, HSIC_u by Song et al. (2012,
        // Eq. 5) for the RBF kernel exp(−‖x − y‖²/(2σ²)) and the linear one. And CKA(X, X′) = 1 for a rewritten copy
        // X′ (columns permuted, duplicated, a constant column added; rows unchanged).
        property "CKA equals independent feature-space and explicit-HSIC forms; CKA(X, rewritten X) = 1" 30 caseGen (fun (seed, n, d, _) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n (d + 1)
            let centred (m: float[,]) =
                let means = Array.init (Array2D.length2 m) (fun c -> Seq.averageBy (fun i -> m.[i, c]) [ 0 .. n - 1 ])
                Array2D.init n (Array2D.length2 m) (fun i c -> m.[i, c] - means.[c])
            let gram (a: float[,]) (b: float[,]) =   // aᵀb
                Array2D.init (Array2D.length2 a) (Array2D.length2 b) (fun i j -> Seq.sumBy (fun r -> a.[r, i] * b.[r, j]) [ 0 .. n - 1 ])
            let frob2 (m: float[,]) = Seq.sumBy (fun v -> v * v) (Seq.cast<float> m)
            let xc, yc = centred x, centred y
            let featureSpace = frob2 (gram yc xc) / sqrt (frob2 (gram xc xc) * frob2 (gram yc yc))
            let kernel (f: float -> float) (m: float[,]) =
                Array2D.init n n (fun i j -> f (Seq.sumBy (fun c -> (m.[i, c] - m.[j, c]) ** 2.0) [ 0 .. Array2D.length2 m - 1 ]))
            let linearKernel (m: float[,]) = let c = centred m in Array2D.init n n (fun i j -> Seq.sumBy (fun k -> c.[i, k] * c.[j, k]) [ 0 .. Array2D.length2 m - 1 ])
            let mm (a: float[,]) (b: float[,]) = Array2D.init n n (fun i j -> Seq.sumBy (fun k -> a.[i, k] * b.[k, j]) [ 0 .. n - 1 ])
            let h = Array2D.init n n (fun i j -> (if i = j then 1.0 else 0.0) - 1.0 / float n)
            let trace (m: float[,]) = Seq.sumBy (fun i -> m.[i, i]) [ 0 .. n - 1 ]
            let nf = float n
            let hsicB (k: float[,]) (l: float[,]) = trace (mm (mm (mm k h) l) h) / ((nf - 1.0) ** 2.0)
            let hsicU (k: float[,]) (l: float[,]) =
                let kt = Array2D.init n n (fun i j -> if i = j then 0.0 else k.[i, j])
                let lt = Array2D.init n n (fun i j -> if i = j then 0.0 else l.[i, j])
                let ones (m: float[,]) = Seq.sum (Seq.cast<float> m)
                (trace (mm kt lt) + ones kt * ones lt / ((nf - 1.0) * (nf - 2.0)) - 2.0 / (nf - 2.0) * ones (mm kt lt)) / (nf * (nf - 3.0))
            let ckaOf hsic k l = hsic k l / sqrt (hsic k k * hsic l l)
            use bx = batch x
            use by = batch y
            let e = Distances.Create("euclidean", null)
            let sigma = 1.3
            let rbf = kernel (fun d2 -> exp (-d2 / (2.0 * sigma * sigma)))
            expectClose 1e-10 "linear biased vs feature space" featureSpace (Cka.linear (bx, by, false))
            expectClose 1e-10 "linear biased vs tr(KHLH)" (ckaOf hsicB (linearKernel x) (linearKernel y)) (Cka.linear (bx, by, false))
            expectClose 1e-10 "linear unbiased vs Song et al." (ckaOf hsicU (linearKernel x) (linearKernel y)) (Cka.linear (bx, by, true))
            expectClose 1e-10 "rbf biased vs tr(KHLH)" (ckaOf hsicB (rbf x) (rbf y)) (Cka.rbf (bx, by, e, sigma, false, false, 0))
            expectClose 1e-10 "rbf unbiased vs Song et al." (ckaOf hsicU (rbf x) (rbf y)) (Cka.rbf (bx, by, e, sigma, false, true, 0))
            let perm = Array.init d id |> Array.sortBy (fun _ -> rng.Next())
            let rewritten = Array2D.init n (2 * d + 1) (fun i c -> if c < d then x.[i, perm.[c]] elif c < 2 * d then x.[i, c - d] else 3.0)
            use bw = batch rewritten
            for unbiased in [ false; true ] do
                expectClose 1e-10 $"linear CKA(X, X′) (unbiased {unbiased})" 1.0 (Cka.linear (bx, bw, unbiased)))

        property "CKA is invariant to orthogonal maps and isotropic scaling (linear; RBF with a median bandwidth)" 30 caseGen (fun (seed, n, d, _) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n (d + 1)
            let s = 0.01 + 100.0 * rng.NextDouble()
            let moved = multiply x (orthogonal rng d) |> Array2D.map (fun v -> s * v)
            use bx = batch x
            use by = batch y
            use bm = batch moved
            let e = Distances.Create("euclidean", null)
            for unbiased in [ false; true ] do
                expectClose 1e-10 $"linear (unbiased {unbiased})" (Cka.linear (bx, by, unbiased)) (Cka.linear (bm, by, unbiased))
                expectClose 1e-10 $"rbf (unbiased {unbiased})" (Cka.rbf (bx, by, e, 0.8, true, unbiased, 0)) (Cka.rbf (bm, by, e, 0.8, true, unbiased, 0)))

        property "tensor CKA equals the float64 reference; blocked RBF CKA equals unblocked" 30 caseGen (fun (seed, n, d, _) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n (d + 2)
            use bx = batch x
            use by = batch y
            let e = Distances.Create("euclidean", null)
            let dx = SpaceSimilarity.pairwiseDistances (x, "euclidean")
            let dy = SpaceSimilarity.pairwiseDistances (y, "euclidean")
            for unbiased in [ false; true ] do
                expectClose 1e-12 "linear" (SpaceSimilarity.linearCka (x, y, unbiased)) (Cka.linear (bx, by, unbiased))
                expectClose 1e-12 "rbf fixed" (SpaceSimilarity.rbfCka (dx, dy, 1.3, 1.3, unbiased)) (Cka.rbf (bx, by, e, 1.3, false, unbiased, 0))
                expectClose 1e-12 "rbf blocked" (Cka.rbf (bx, by, e, 1.3, false, unbiased, 0)) (Cka.rbf (bx, by, e, 1.3, false, unbiased, 3))
            expectClose 1e-12 "median" (SpaceSimilarity.medianDistance dx) (Cka.medianDistance (bx, e, 4)))

        property "reference HSIC_b equals the explicit trace formula; biased CKA lies in [0, 1]" 30 caseGen (fun (seed, n, d, _) ->
            let rng = Random seed
            let x = normalPoints rng n d
            let y = normalPoints rng n d
            let v = SpaceSimilarity.linearCka (x, y, false)
            if v < -1e-12 || v > 1.0 + 1e-12 then failtestf "biased linear CKA = %g outside [0, 1]" v)
    ]

// ---------------------------------------------------------------- validation

let private firstRows (r: int) (m: float[,]) = Array2D.init r (Array2D.length2 m) (fun i c -> m.[i, c])

let private two = array2D [ [ 0.0; 1.0 ]; [ 1.0; 0.0 ]; [ 2.0; 2.0 ]; [ 3.0; 1.0 ]; [ 0.5; 0.5 ] ]

let validationTests =
    let e = Distances.Create("euclidean", null)
    let vb () = batch two
    testList "validation" [
        invalid "search k = G + 1" "k" (fun () -> box (NearestNeighbours.search (vb (), vb (), e, 6, 0)))
        invalid "search dimension mismatch" "queries" (fun () -> box (NearestNeighbours.search (batch (array2D [ [ 1.0 ] ]), vb (), e, 1, 0)))
        invalid "search representation mismatch" "queries" (fun () ->
            box (NearestNeighbours.search (vb (), vb (), Distances.Create("marginal-w2", null), 1, 0)))
        invalid "k-NN k = 0" "k" (fun () -> box (NearestNeighbours.exact (vb (), e, 0, 0)))
        invalid "k-NN k = N" "k" (fun () -> box (NearestNeighbours.exact (vb (), e, 5, 0)))
        invalid "k-NN blockSize < 0" "blockSize" (fun () -> box (NearestNeighbours.exact (vb (), e, 2, -1)))
        invalid "k-NN one item" "batch" (fun () -> box (NearestNeighbours.exact (batch (array2D [ [ 1.0 ] ]), e, 1, 0)))
        invalid "k-NN representation the distance does not accept" "batch" (fun () ->
            box (NearestNeighbours.exact (vb (), Distances.Create("marginal-w2", null), 1, 0)))
        missing "k-NN null batch" "batch" (fun () -> box (NearestNeighbours.exact (null, e, 1, 0)))
        invalid "NNGS different N" "y" (fun () -> box (Neighbourhoods.nngs (vb (), batch ((firstRows 4 two)), e, [| 1 |], 0)))
        invalid "NNGS empty ks" "ks" (fun () -> box (Neighbourhoods.nngs (vb (), vb (), e, [||], 0)))
        invalid "NNGS: x of a representation the distance does not accept" "x" (fun () ->
            box (Neighbourhoods.nngs (vb (), vb (), Distances.Create("marginal-w2", null), [| 1 |], 0)))
        invalid "NNGS blockSize < 0" "blockSize" (fun () -> box (Neighbourhoods.nngs (vb (), vb (), e, [| 1 |], -1)))
        invalid "NNGS k ≥ N" "ks" (fun () -> box (Neighbourhoods.nngs (vb (), vb (), e, [| 2; 5 |], 0)))
        invalid "mutual k-NN k = 0" "ks" (fun () -> box (Neighbourhoods.mutualKnn (vb (), vb (), e, [| 0 |], 0)))
        invalid "NNGS of graphs: k above the graphs' k" "ks" (fun () ->
            let g = NearestNeighbours.exact (vb (), e, 2, 0)
            box (Neighbourhoods.nngsOfGraphs (g, g, [| 3 |])))
        invalid "NNGS of graphs: different N" "y" (fun () ->
            let g = NearestNeighbours.exact (vb (), e, 2, 0)
            let h = NearestNeighbours.exact (batch ((firstRows 4 two)), e, 2, 0)
            box (Neighbourhoods.nngsOfGraphs (g, h, [| 1 |])))
        invalid "graph with an index outside [0, N)" "indices" (fun () -> box (NeighbourGraph(array2D [ [ 1 ]; [ 2 ] ], array2D [ [ 0.0 ]; [ 0.0 ] ])))
        invalid "graph with distances of another shape" "distances" (fun () -> box (NeighbourGraph(array2D [ [ 1 ]; [ 0 ] ], array2D [ [ 0.0; 1.0 ]; [ 0.0; 1.0 ] ])))
        invalid "random baseline count < 2" "count" (fun () -> box (Neighbourhoods.randomBaseline (1, 1)))
        invalid "random baseline k = N" "k" (fun () -> box (Neighbourhoods.randomBaseline (10, 10)))
        invalid "normalize value > 1" "value" (fun () -> box (Neighbourhoods.normalize (1.5, 2, 10)))
        invalid "k from fraction 0" "fraction" (fun () -> box (Neighbourhoods.kFromFraction (0.0, 10)))
        invalid "k from fraction > 1" "fraction" (fun () -> box (Neighbourhoods.kFromFraction (1.5, 10)))
        invalid "k from fraction count < 2" "count" (fun () -> box (Neighbourhoods.kFromFraction (0.5, 1)))
        testCase "k from fraction: ⌈f (N − 1)⌉" <| fun () ->
            Expect.equal (Neighbourhoods.kFromFraction (0.1, 11)) 1 "0.1 of 10"
            Expect.equal (Neighbourhoods.kFromFraction (0.25, 11)) 3 "0.25 of 10"
            Expect.equal (Neighbourhoods.kFromFraction (1.0, 11)) 10 "all"
            Expect.equal (Neighbourhoods.kFromFraction (1e-6, 11)) 1 "at least 1"
        invalid "linear CKA of distributions" "x" (fun () ->
            use d = DistributionBatch.FromSequences(Array.init 5 (fun i -> array2D [ [ float i ] ]), torch.CPU)
            box (Cka.linear (d, vb (), false)))
        invalid "linear CKA different N" "y" (fun () -> box (Cka.linear (vb (), batch ((firstRows 4 two)), false)))
        invalid "unbiased CKA with N = 3" "x" (fun () -> let t = batch ((firstRows 3 two)) in box (Cka.linear (t, t, true)))
        invalid "CKA of a constant space" "x" (fun () -> box (Cka.linear (batch (Array2D.create 5 2 1.0), vb (), false)))
        invalid "RBF CKA bandwidth 0" "bandwidth" (fun () -> box (Cka.rbf (vb (), vb (), e, 0.0, true, false, 0)))
        invalid "RBF CKA blockSize < 0" "blockSize" (fun () -> box (Cka.rbf (vb (), vb (), e, 1.0, true, false, -2)))
        invalid "RBF CKA zero median distance" "x" (fun () -> box (Cka.rbf (batch (Array2D.create 5 2 1.0), vb (), e, 1.0, true, false, 0)))
        invalid "median distance of one item" "x" (fun () -> box (Cka.medianDistance (batch (array2D [ [ 1.0 ] ]), e, 0)))
        invalid "reference: unknown metric" "metric" (fun () -> box (SpaceSimilarity.pairwiseDistances (two, "manhattan")))
        invalid "reference: non-square distances" "distances" (fun () -> box (SpaceSimilarity.nearestNeighbours (Array2D.zeroCreate 3 2, 1)))
        invalid "reference: k = N" "k" (fun () -> box (SpaceSimilarity.nearestNeighbours (Array2D.zeroCreate 3 3, 3)))
        invalid "reference: NaN point" "points" (fun () -> box (SpaceSimilarity.pairwiseDistances (array2D [ [ nan ]; [ 1.0 ] ], "euclidean")))
        invalid "reference: graphs of different N" "y" (fun () -> box (SpaceSimilarity.nngs (Array2D.zeroCreate 3 1, Array2D.zeroCreate 2 1, 1)))
        invalid "reference: k above the graphs" "k" (fun () -> box (SpaceSimilarity.mutualKnn (Array2D.zeroCreate 3 1, Array2D.zeroCreate 3 1, 2)))
        invalid "reference: HSIC kernels of different size" "l" (fun () -> box (SpaceSimilarity.hsic (Array2D.zeroCreate 4 4, Array2D.zeroCreate 5 5, false)))
        invalid "reference: unbiased HSIC with N = 3" "k" (fun () -> box (SpaceSimilarity.hsic (Array2D.zeroCreate 3 3, Array2D.zeroCreate 3 3, true)))
        invalid "reference: CKA of a constant kernel" "k" (fun () -> box (SpaceSimilarity.cka (Array2D.create 4 4 1.0, Array2D.init 4 4 (fun i j -> if i = j then 1.0 else 0.0), false)))
        invalid "reference: linear CKA different N" "y" (fun () -> box (SpaceSimilarity.linearCka (two, (firstRows 4 two), false)))
        invalid "reference: RBF kernel sigma 0" "sigma" (fun () -> box (SpaceSimilarity.rbfKernel (Array2D.zeroCreate 3 3, 0.0)))
        invalid "reference: random baseline k = 0" "k" (fun () -> box (SpaceSimilarity.randomBaseline (0, 5)))
    ]

[<Tests>]
let tests = testList "similarity" [ goldenTests; propertyTests; fastPathTests; validationTests ]
