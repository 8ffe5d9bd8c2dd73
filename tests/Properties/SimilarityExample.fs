/// The synthetic comparison of docs/similarity.md: Gaussian clusters transformed in ways that keep either the local
/// or the global structure, compared by NNGS at small and large k and by linear and RBF CKA. The test prints the
/// table the document shows and checks the claims the document makes about it.
module DistEmbed.Properties.SimilarityExample

open System
open Expecto
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Similarity
open DistEmbed.Properties.Generators
open DistEmbed.Properties.SimilarityTests

let clusters, perCluster, dimension = 10, 50, 32

/// Row-wise sum of a centre matrix indexed by cluster and an offset matrix.
let compose (centres: float[,]) (offsets: float[,]) =
    Array2D.init (clusters * perCluster) dimension (fun i c -> centres.[i / perCluster, c] + offsets.[i, c])

/// One row of the table: NNGS and normalised NNGS at k = 5, 49, 200; linear CKA; RBF CKA at σ = 1 and 0.2 × median.
type Row =
    { Case: string
      Nngs: float[]
      Normalized: float[]
      Linear: float
      Rbf: float
      RbfLocal: float }

let ks = [| 5; perCluster - 1; 200 |]

let compare (name: string) (x: float[,]) (y: float[,]) =
    use bx = batch x
    use by = batch y
    let e = Distances.Create("euclidean", null)
    let gx = NearestNeighbours.exact (bx, e, Array.max ks, 0)
    let gy = NearestNeighbours.exact (by, e, Array.max ks, 0)
    { Case = name
      Nngs = Neighbourhoods.nngsOfGraphs (gx, gy, ks)
      Normalized = Neighbourhoods.normalizedNngsOfGraphs (gx, gy, ks)
      Linear = Cka.linear (bx, by, false)
      Rbf = Cka.rbf (bx, by, e, 1.0, true, false, 0)
      RbfLocal = Cka.rbf (bx, by, e, 0.2, true, false, 0) }

/// The five cases of the document, from seed 2024.
let rows () =
    let rng = Random 2024
    let centres = normalPoints rng clusters dimension |> Array2D.map (fun v -> 4.0 * v)
    let offsets = normalPoints rng (clusters * perCluster) dimension
    let x = compose centres offsets
    let freshOffsets = normalPoints rng (clusters * perCluster) dimension
    let freshCentres = normalPoints rng clusters dimension |> Array2D.map (fun v -> 4.0 * v)
    let farCentres = Array2D.init clusters dimension (fun g c -> if g = 0 then 20.0 * centres.[g, c] else centres.[g, c])
    [ compare "identical (Y = X)" x x
      compare "noise within clusters" x (compose centres freshOffsets)
      compare "shuffled clusters" x (compose freshCentres offsets)
      compare "unbalanced clusters" x (compose farCentres offsets)
      compare "independent" x (normalPoints rng (clusters * perCluster) dimension) ]

let print (rows: Row list) =
    let f (v: float) = v.ToString("F3", Globalization.CultureInfo.InvariantCulture)
    printfn "| case | NNGS k=5 | NNGS k=49 | NNGS k=200 | norm. k=5 | norm. k=49 | norm. k=200 | linear CKA | RBF CKA σ=med | RBF CKA σ=0.2·med |"
    printfn "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for r in rows do
        printfn "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" r.Case (f r.Nngs.[0]) (f r.Nngs.[1]) (f r.Nngs.[2])
            (f r.Normalized.[0]) (f r.Normalized.[1]) (f r.Normalized.[2]) (f r.Linear) (f r.Rbf) (f r.RbfLocal)
    printfn "H(k) at N = %d: k=5 %s, k=49 %s, k=200 %s" (clusters * perCluster)
        (f (Neighbourhoods.randomBaseline (5, 500))) (f (Neighbourhoods.randomBaseline (49, 500))) (f (Neighbourhoods.randomBaseline (200, 500)))

[<Tests>]
let tests =
    testList "similarity example" [
        testCase "Gaussian clusters: k selects the scale NNGS looks at; CKA sees the global scale (docs/similarity.md)" <| fun () ->
            let rows = rows ()
            print rows
            let get name = rows |> List.find (fun r -> r.Case = name)
            let identical = get "identical (Y = X)"
            for v in Array.append identical.Nngs [| identical.Linear; identical.Rbf |] do
                expectClose 1e-12 "identical" 1.0 v
            // Noise within clusters: local neighbourhoods are re-drawn (NNGS at k = 5 near its within-cluster
            // chance level), cluster membership is kept (NNGS at k = 49 = cluster size − 1 is 1); CKA stays high.
            let noise = get "noise within clusters"
            Expect.isLessThan noise.Nngs.[0] 0.15 "noise: NNGS k=5 low"
            Expect.isGreaterThan noise.Nngs.[1] 0.99 "noise: NNGS k=49 ≈ 1"
            Expect.isGreaterThan noise.Linear 0.8 "noise: linear CKA high"
            // Shuffled clusters: every cluster's inside is kept (NNGS at k ≤ 49 is 1) but the clusters are placed
            // anew (NNGS at k = 200 drops); linear CKA sees only the new placement.
            let shuffled = get "shuffled clusters"
            Expect.isGreaterThan shuffled.Nngs.[0] 0.99 "shuffled: NNGS k=5 ≈ 1"
            Expect.isLessThan shuffled.Nngs.[2] (shuffled.Nngs.[0] - 0.3) "shuffled: NNGS k=200 lower"
            Expect.isLessThan shuffled.Linear noise.Linear "shuffled: linear CKA below the noise case"
            // Unbalanced clusters: one cluster moved far away dominates the variance: linear CKA falls although no
            // neighbourhood up to k = 49 changes.
            let unbalanced = get "unbalanced clusters"
            Expect.isGreaterThan unbalanced.Nngs.[1] 0.99 "unbalanced: NNGS k=49 ≈ 1"
            Expect.isLessThan unbalanced.Linear 0.5 "unbalanced: linear CKA low"
            // Independent spaces: NNGS at chance (normalised ≈ 0).
            let independent = get "independent"
            for v in independent.Normalized do
                Expect.isLessThan (abs v) 0.05 "independent: normalised NNGS ≈ 0"
    ]
