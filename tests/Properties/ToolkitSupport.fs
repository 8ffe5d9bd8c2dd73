/// Helpers shared by the toolkit suites (losses, miners): small test distances on vector batches with float64
/// twins for the hand-written loops, a labelled-batch generator, and tensor ↔ array conversions.
module DistEmbed.Properties.ToolkitSupport

open System
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core

let private values (batch: IEmbeddingBatch) = (batch :?> VectorBatch).Values

/// D(x, y) = ‖x − y‖² on vector batches (symmetric, not a metric).
type SquaredEuclidean() =
    interface IDistance with
        member _.Name = "test-squared-euclidean"
        member _.IsMetric = false
        member _.IsSymmetric = true
        member _.Accepts = Representation.Vectors
        member _.Paired(a, b) = (values a - values b).pow(torch.tensor 2.0).sum(1L)
        member _.Pairwise(a, b) = ((values a).unsqueeze(1L) - (values b).unsqueeze(0L)).pow(torch.tensor 2.0).sum(2L)

/// The Bregman divergence of φ(x) = Σ_k exp(x_k): D(x, y) = Σ_k e^{x_k} − e^{y_k} − e^{y_k}(x_k − y_k) (non-symmetric).
type ExpBregman() =
    static member Of(x: torch.Tensor, y: torch.Tensor) = (x.exp() - y.exp() - y.exp() * (x - y)).sum(-1L)
    interface IDistance with
        member _.Name = "test-exp-bregman"
        member _.IsMetric = false
        member _.IsSymmetric = false
        member _.Accepts = Representation.Vectors
        member _.Paired(a, b) = ExpBregman.Of(values a, values b)
        member _.Pairwise(a, b) = ExpBregman.Of((values a).unsqueeze(1L), (values b).unsqueeze(0L))

/// A distance read from a table T [B, B]: with one-hot embeddings e_i, D(e_i, e_j) = T[i, j]. Gradients w.r.t. T are
/// the loss's derivatives w.r.t. each distance.
type TableDistance(table: torch.Tensor) =
    interface IDistance with
        member _.Name = "test-table"
        member _.IsMetric = false
        member _.IsSymmetric = false
        member _.Accepts = Representation.Vectors
        member _.Paired(a, b) = ((values a).matmul(table) * values b).sum(1L)
        member _.Pairwise(a, b) = (values a).matmul(table).matmul((values b).t())

/// A distance that claims to accept distributions (for the representation check).
type DistributionOnly() =
    interface IDistance with
        member _.Name = "test-distributions"
        member _.IsMetric = true
        member _.IsSymmetric = true
        member _.Accepts = Representation.Distributions
        member _.Paired(_, _) = raise (InvalidOperationException "not used")
        member _.Pairwise(_, _) = raise (InvalidOperationException "not used")

/// The float64 twins of the test distances.
let squaredEuclidean (x: float[]) (y: float[]) = Array.fold2 (fun s a b -> s + (a - b) * (a - b)) 0.0 x y
let expBregman (x: float[]) (y: float[]) = Array.fold2 (fun s a b -> s + exp a - exp b - exp b * (a - b)) 0.0 x y

/// A labelled batch: B × d values and B labels.
type LabelledBatch = { Values: float[][]; Labels: int64[] }

/// B from 2 to 12, d from 1 to 4, 1 to 4 classes, values in [−2, 2] with ties now and then.
let labelledBatch : Gen<LabelledBatch> =
    gen {
        let! b = Gen.choose (2, 12)
        let! d = Gen.choose (1, 4)
        let! classes = Gen.choose (1, 4)
        let! labels = Gen.arrayOfLength b (Gen.choose (0, classes - 1) |> Gen.map int64)
        let coordinate = Gen.oneof [ Gen.choose (-2000, 2000) |> Gen.map (fun i -> float i / 1000.0); Gen.choose (-2, 2) |> Gen.map float ]
        let! rows = Gen.arrayOfLength b (Gen.arrayOfLength d coordinate)
        return { Values = rows; Labels = labels }
    }

/// A float64 [B, d] tensor (optionally requiring grad).
let tensorOf (rows: float[][]) (requiresGrad: bool) =
    let b, d = rows.Length, rows.[0].Length
    torch.tensor(Array.concat rows, dtype = torch.float64).reshape(int64 b, int64 d).requires_grad_(requiresGrad)

let batchOf (rows: float[][]) = VectorBatch.FromTensor(tensorOf rows false) :> IEmbeddingBatch
let labelsOf (labels: int64[]) = torch.tensor(labels)

/// The values of a tensor as float64.
let toArray (t: torch.Tensor) : float[] = t.detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()
let toScalar (t: torch.Tensor) = t.detach().cpu().to_type(torch.float64).item<float>()
let toIndices (t: torch.Tensor) : int[] = t.cpu().data<int64>().ToArray() |> Array.map int

/// All valid ordered positive pairs and negative pairs, row-major.
let referencePairs (labels: int64[]) =
    let b = labels.Length
    [| for i in 0 .. b - 1 do for j in 0 .. b - 1 do if i <> j && labels.[i] = labels.[j] then i, j |],
    [| for i in 0 .. b - 1 do for j in 0 .. b - 1 do if labels.[i] <> labels.[j] then i, j |]

/// All valid triplets, (a, p, n) lexicographic.
let referenceTriplets (labels: int64[]) =
    let b = labels.Length
    [| for a in 0 .. b - 1 do
         for p in 0 .. b - 1 do
             for n in 0 .. b - 1 do
                 if a <> p && labels.[a] = labels.[p] && labels.[n] <> labels.[a] then a, p, n |]

/// Pair indices from hand-listed pairs.
let pairIndices (positive: (int * int)[]) (negative: (int * int)[]) =
    let col f (xs: (int * int)[]) = torch.tensor(xs |> Array.map (f >> int64))
    PairIndices.Create(col fst positive, col snd positive, col fst negative, col snd negative)

/// Triplet indices from hand-listed triplets.
let tripletIndices (triplets: (int * int * int)[]) =
    TripletIndices.FromArrays(
        triplets |> Array.map (fun (a, _, _) -> int64 a),
        triplets |> Array.map (fun (_, p, _) -> int64 p),
        triplets |> Array.map (fun (_, _, n) -> int64 n))
