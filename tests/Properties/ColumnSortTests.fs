/// The SIMD sorting network of the marginal and sliced fast paths (ColumnSort): every column it sorts equals libtorch's
/// sort of that column, on every vector width this CPU runs, at lengths and widths that are not powers of two or
/// multiples of the lane count, with ties, infinities and signed zeros; NaN and unsupported inputs are refused.
module DistEmbed.Properties.ColumnSortTests

open System
open System.Runtime.Intrinsics
open Expecto
open FsCheck.FSharp
open TorchSharp
open DistEmbed.Core
open DistEmbed.Properties.Generators

/// The vector widths this CPU runs (true: 512-bit).
let private widths =
    [ if Vector512.IsHardwareAccelerated then true
      if Vector256.IsHardwareAccelerated then false ]

/// A case: width, threads, B, T, C, float64 or not, a seed. T up to past two powers of two and MaxRows' edge,
/// C below, at and past the lane counts.
let private caseGen =
    gen {
        let! wide = Gen.elements widths
        let! threads = Gen.elements [ 1; 2; 3 ]
        let! b = Gen.choose (1, 5)
        let! t = Gen.oneof [ Gen.choose (2, 40); Gen.choose (2, 300); Gen.elements [ 2; 3; 16; 17; 31; 32; 33; 127; 128; 129; 1000 ] ]
        let! c = Gen.oneof [ Gen.choose (1, 9); Gen.choose (1, 40); Gen.elements [ 7; 8; 15; 16; 17; 24; 32; 33; 64 ] ]
        let! double = Gen.elements [ false; true ]
        let! seed = Gen.choose (0, Int32.MaxValue)
        return wide, threads, b, t, c, double, seed
    }

/// Values with many exact ties (small integers), fractions, ±∞ and both signed zeros.
let private value (rng: Random) =
    match rng.Next 12 with
    | 0 -> Double.PositiveInfinity
    | 1 -> Double.NegativeInfinity
    | 2 -> -0.0
    | 3 -> 0.0
    | 4
    | 5
    | 6 -> float (rng.Next(-3, 4))
    | _ -> (rng.NextDouble() - 0.5) * Math.Pow(2.0, float (rng.Next(-20, 21)))

/// libtorch's sort of [B, T, C] along T, flattened.
let private torchSorted (values: float[]) (dtype: torch.ScalarType) b t c =
    use scope = torch.NewDisposeScope()
    let x = torch.tensor(values, dtype = torch.float64).reshape(int64 b, int64 t, int64 c).``to`` dtype
    let struct (sorted, _) = x.sort (1L, stable = true)
    sorted.``to``(torch.float64).data<float>().ToArray()

/// Equal as numbers (−0 = +0, as the network may swap the two zeros' signs; see ColumnSort).
let private expectSame (what: string) (expected: float[]) (actual: float[]) =
    for i in 0 .. expected.Length - 1 do
        if not (expected.[i] = actual.[i]) then
            failtestf "%s: element %d is %g, libtorch's sort gives %g" what i actual.[i] expected.[i]

let private networkProperty =
    property "every column equals libtorch's sort (both vector widths, threads 1–3, float32 and float64, ties, ±∞, ±0, T and C off the powers of two)" 200 caseGen
        (fun (wide, threads, b, t, c, double, seed) ->
            let rng = Random seed
            let values = Array.init (b * t * c) (fun _ -> value rng)
            let what = $"wide {wide} threads {threads} [B, T, C] = [{b}, {t}, {c}] float64 {double}"
            if double then
                let work = Array.copy values
                Expect.isTrue (ColumnSort.sortArray wide work b t c threads) what
                expectSame what (torchSorted values torch.float64 b t c) work
            else
                let work = Array.map float32 values
                Expect.isTrue (ColumnSort.sortArray wide work b t c threads) what
                expectSame what (torchSorted values torch.float32 b t c) (Array.map float work))

[<Tests>]
let tests =
    testList "column sort" [
        networkProperty

        testCase "the network is Batcher's: (k² − k + 4)·2^(k−2) − 1 comparators for 2^k rows, each (i, j) with i < j < n" <| fun () ->
            for k in 1 .. 12 do
                let n = 1 <<< k
                let pairs = ColumnSort.network n
                Expect.equal (pairs.Length / 2) ((k * k - k + 4) * (1 <<< (k - 2 |> max 0)) / (if k = 1 then 2 else 1) - 1) $"comparators for n = {n}"
            for n in [ 2; 3; 5; 100; 129; 4096 ] do
                let pairs = ColumnSort.network n
                for q in 0 .. 2 .. pairs.Length - 1 do
                    if not (0 <= pairs.[q] && pairs.[q] < pairs.[q + 1] && pairs.[q + 1] < n) then
                        failtestf "n = %d: comparator (%d, %d)" n pairs.[q] pairs.[q + 1]

        testCase "the network sorts every 0-1 column of up to 16 rows (the 0-1 principle: so it sorts every column)" <| fun () ->
            for n in 2 .. 16 do
                let pairs = ColumnSort.network n
                for mask in 0 .. (1 <<< n) - 1 do
                    let column = Array.init n (fun i -> (mask >>> i) &&& 1)
                    for q in 0 .. 2 .. pairs.Length - 1 do
                        let i, j = pairs.[q], pairs.[q + 1]
                        if column.[i] > column.[j] then
                            let x = column.[i]
                            column.[i] <- column.[j]
                            column.[j] <- x
                    for i in 1 .. n - 1 do
                        if column.[i - 1] > column.[i] then failtestf "n = %d: input %d is not sorted: %A" n mask column

        testCase "a NaN anywhere makes trySorted decline (libtorch then sorts, NaN last); so do T = 1, T > MaxRows, integers and rank ≠ 3" <| fun () ->
            use scope = torch.NewDisposeScope()
            for dtype in [ torch.float32; torch.float64 ] do
                for position in [ 0L; 37L; 64L * 5L * 3L - 1L ] do
                    let x = torch.randn([| 3L; 64L; 5L |], dtype = dtype)
                    x.view(-1L).[position] <- torch.tensor(Double.NaN, dtype = dtype)
                    Expect.isNone (ColumnSort.trySorted x) $"NaN at {position} ({dtype})"
                    let work = Array.create (64 * 5) 1.0
                    work.[int position % work.Length] <- Double.NaN
                    for wide in widths do
                        Expect.isFalse (ColumnSort.sortArray wide (Array.copy work) 1 64 5 1) "the array form reports the NaN"
            Expect.isNone (ColumnSort.trySorted (torch.randn ([| 2L; 1L; 3L |]))) "T = 1"
            Expect.isNone (ColumnSort.trySorted (torch.randn ([| 1L; int64 ColumnSort.MaxRows + 1L; 2L |]))) "T > MaxRows"
            Expect.isNone (ColumnSort.trySorted (torch.ones ([| 2L; 4L; 3L |], dtype = torch.int32))) "int32"
            Expect.isNone (ColumnSort.trySorted (torch.randn ([| 4L; 3L |]))) "rank 2"
            let x = torch.randn ([| 2L; int64 ColumnSort.MaxRows; 3L |])
            match ColumnSort.trySorted x with
            | Some sorted ->
                let struct (expected, _) = x.sort (1L)
                Expect.isTrue (sorted.eq(expected).all().ToBoolean()) "T = MaxRows is sorted by the network"
            | None -> if not widths.IsEmpty then failtest "T = MaxRows was declined"

        testCase "trySorted sorts a non-contiguous view and leaves its input unchanged" <| fun () ->
            use scope = torch.NewDisposeScope()
            let x = torch.randn([| 3L; 20L; 50L |]).transpose (1L, 2L)
            let before = x.clone ()
            match ColumnSort.trySorted x with
            | Some sorted ->
                let struct (expected, _) = x.sort (1L)
                Expect.isTrue (sorted.eq(expected).all().ToBoolean()) "sorted"
                Expect.isTrue (x.eq(before).all().ToBoolean()) "input unchanged"
            | None -> if not widths.IsEmpty then failtest "declined"

        testCase "the marginal and sliced W2 paths that sort and centre their own temporaries in place leave the caller's tensors unchanged" <| fun () ->
            use scope = torch.NewDisposeScope()
            for dtype in [ torch.float32; torch.float64 ] do
                let pa = torch.randn([| 6L; 40L; 20L |], dtype = dtype)
                let pb = torch.randn([| 5L; 40L; 20L |], dtype = dtype)
                let w = torch.full([| 6L; 40L |], Scalars.sc (1.0 / 40.0), dtype = dtype)
                let w' = torch.full([| 5L; 40L |], Scalars.sc (1.0 / 40.0), dtype = dtype)
                let a = DistributionBatch.FromTensors(pa, w)
                let b = DistributionBatch.FromTensors(pb, w')
                let directions = torch.randn([| 24L; 20L |], dtype = dtype)
                let before = [ pa.clone (); pb.clone (); w.clone (); w'.clone (); directions.clone () ]
                let matrices () =
                    [ MarginalWasserstein.pairwise (a, b, 2.0, 0)
                      MarginalWasserstein.pairwise (a, a, 2.0, 0)
                      SlicedWasserstein.pairwise (a, b, 2.0, directions, 0)
                      SlicedWasserstein.pairwise (a, a, 2.0, directions, 0)
                      SlicedWasserstein.maxSlicedPairwise (a, b, 2.0, directions, 0) ]
                let first = matrices ()
                let forms =
                    [ MarginalWasserstein.distributionGram a b false
                      MarginalWasserstein.distributionGram a a true
                      SlicedWasserstein.gram directions a b false
                      SlicedWasserstein.gram directions a a true ]
                Expect.isTrue (forms |> List.forall Option.isSome) $"every form exists ({dtype})"
                List.iter2
                    (fun (x: torch.Tensor) (y: torch.Tensor) -> Expect.isTrue (x.eq(y).all().ToBoolean()) $"an input changed ({dtype})")
                    before
                    [ pa; pb; w; w'; directions ]
                // The same calls again give the same values bit for bit (nothing they read was consumed).
                let again = matrices ()
                List.iter2 (fun (x: torch.Tensor) (y: torch.Tensor) -> Expect.isTrue (x.eq(y).all().ToBoolean()) $"a second call differs ({dtype})") first again
                // Self-distances are zero on the diagonal: a batch compared with itself is not centred twice.
                for m in [ again.[1]; again.[3] ] do
                    Expect.isTrue (m.diagonal().abs().max().ToDouble() <= 1e-3) $"self-distances vanish ({dtype})"

        testCase "sortArray checks its length" <| fun () ->
            try
                ColumnSort.sortArray (List.head widths) [| 1.0f; 2.0f |] 1 3 1 1 |> ignore
                failtest "a short array was accepted"
            with :? ArgumentException as e -> Expect.equal e.ParamName "values" "names values"
    ]
