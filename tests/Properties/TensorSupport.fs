/// Shared helpers for the tensor distance suites: batches from reference distributions, tensor read-back,
/// generators of batches, tolerance helpers.
module DistEmbed.Properties.TensorSupport

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators

type Tensor = torch.Tensor

let private scalars = System.Collections.Concurrent.ConcurrentDictionary<float, Scalar>()

/// A cached Scalar: a temporary one may be finalized while a native call still reads it.
let sc (x: float) : Scalar = scalars.GetOrAdd(x, fun (v: float) -> Scalar.op_Implicit v)

/// A distribution batch of the given dtype from reference distributions (padded at the end with zero weights).
let batchOf (dtype: torch.ScalarType) (es: Empirical[]) : DistributionBatch =
    let b = DistributionBatch.FromEmpirical(es, torch.CPU)
    if dtype = torch.float64 then b
    else DistributionBatch.FromTensors(b.Points.to_type dtype, b.Weights.to_type dtype)

/// The values of a tensor as a flat float64 array (row-major).
let values (t: Tensor) : float[] =
    use _ = torch.NewDisposeScope()
    t.detach().cpu().to_type(torch.float64).contiguous().data<float>().ToArray()

/// The values of a [R, C] tensor as a matrix.
let matrix (t: Tensor) : float[,] =
    let v = values t
    let r, c = int t.shape.[0], int t.shape.[1]
    Array2D.init r c (fun i j -> v.[i * c + j])

/// The largest absolute coordinate of some distributions (at least a tiny floor).
let coordinateScale (es: Empirical seq) =
    es |> Seq.map (fun e -> e.Points |> Seq.cast<float> |> Seq.map abs |> Seq.max) |> Seq.fold max 1e-300

/// |x − y| ≤ tol · scale, with a readable failure.
let expectWithin (tol: float) (scale: float) (what: string) (expected: float) (actual: float) =
    if Double.IsNaN actual || Double.IsInfinity actual || abs (expected - actual) > tol * scale then
        failtestf "%s: expected %.17g, got %.17g (|diff| = %.3g, allowed %.3g = %.1g × scale %.3g)" what expected actual (abs (expected - actual)) (tol * scale) tol scale

/// Checks a whole matrix against a function of (i, j).
let expectMatrix (tol: float) (scale: float) (what: string) (expected: int -> int -> float) (actual: float[,]) =
    for i in 0 .. Array2D.length1 actual - 1 do
        for j in 0 .. Array2D.length2 actual - 1 do
            expectWithin tol scale $"{what}[{i},{j}]" (expected i j) actual.[i, j]

/// Distributions of one dimension at one scale.
let distributions (n: int) (d: int) (s: float) : Gen<Empirical[]> = Gen.arrayOfLength n (empiricalAt d s)

/// Two batches (sizes 1–3 and 1–3) of one dimension and scale.
let batchPair : Gen<int * float * Empirical[] * Empirical[]> =
    gen {
        let! d = dimension
        let! s = scale
        let! n = Gen.choose (1, 3)
        let! m = Gen.choose (1, 3)
        let! a = distributions n d s
        let! b = distributions m d s
        return d, s, a, b
    }

/// Two batches of equal size (paired comparisons).
let pairedBatches : Gen<int * float * Empirical[] * Empirical[]> =
    gen {
        let! d = dimension
        let! s = scale
        let! n = Gen.choose (1, 3)
        let! a = distributions n d s
        let! b = distributions n d s
        return d, s, a, b
    }

/// Uniform distributions of one length T (the fast paths).
let uniformAt (t: int) (d: int) (s: float) : Gen<Empirical> = points t d s |> Gen.map Empirical.Uniform

/// A vector batch [n, d] at a scale (with repeated rows now and then).
let vectorsAt (n: int) (d: int) (s: float) : Gen<float[,]> = points n d s

/// Both float dtypes with their tolerance relative to scale (exact methods).
let dtypes = [ torch.float64, 1e-9; torch.float32, 1e-4 ]

/// Runs f inside a dispose scope (every test case frees its tensors).
let scoped (f: unit -> 'T) : 'T =
    use _ = torch.NewDisposeScope()
    f ()

/// Asserts that f throws an ArgumentException (or subclass) whose ParamName is name.
let expectArgument (name: string) (what: string) (f: unit -> unit) =
    let e =
        try
            f ()
            None
        with
        | :? ArgumentException as e -> Some e
    match e with
    | None -> failtestf "%s: expected ArgumentException naming '%s', nothing was thrown" what name
    | Some e when e.ParamName <> name -> failtestf "%s: expected ParamName '%s', got '%s' (%s)" what name e.ParamName e.Message
    | Some _ -> ()

/// Ensures the native runtime is up before the first tensor of a suite.
let init () = NativeRuntime.EnsureInitialized()
