/// The managed float32 GEMM of the exact k-NN (ManagedGemm): every kernel this CPU runs against a float64 product
/// within the standard float32 bound, at sizes that are not multiples of any tile or block.
module DistEmbed.Properties.GemmTests

open System
open System.Runtime.Intrinsics.X86
open Expecto
open FsCheck.FSharp
open DistEmbed.Core.Similarity
open DistEmbed.Properties.Generators

/// The managed kernels this CPU can run (AVX-512F and the AVX2 + FMA fallback, forced on an AVX-512 CPU).
let internal managedPaths =
    [ if Avx512F.IsSupported then ManagedGemm.Avx512
      if ManagedGemm.avx2Supported then ManagedGemm.Avx2 ]

/// Every path the k-NN can take here: libtorch's mm and each managed kernel.
let internal gemmPaths = ManagedGemm.Torch :: managedPaths

/// The default blocking and small ones that make every loop (nc, kc, mc, the tiles) run several times and end short.
let private blockings : ManagedGemm.Blocking list =
    [ ManagedGemm.defaultBlocking
      { KC = 7; MC = 13; NC = 40 }
      { KC = 1; MC = 1; NC = 1 }
      { KC = 256; MC = 12; NC = 32 }
      { KC = 100; MC = 50; NC = 70 } ]

/// γ_k = k·u/(1 − k·u) (Higham 2002, Lemma 3.1).
let gamma (k: int) (u: float) = float k * u / (1.0 - float k * u)

/// A case: the path, the blocking, m, n, k and a seed; k from 1 to past two default k-slices (256).
let private caseGen =
    gen {
        let! path = Gen.elements managedPaths
        let! blocking = Gen.elements blockings
        let! m = Gen.oneof [ Gen.choose (1, 14); Gen.choose (1, 40) ]
        let! n = Gen.oneof [ Gen.choose (1, 33); Gen.choose (1, 70) ]
        let! k = Gen.oneof [ Gen.choose (1, 9); Gen.choose (1, 300); Gen.elements [ 1; 255; 256; 257; 513; 600 ] ]
        let! seed = Gen.choose (0, Int32.MaxValue)
        return path, blocking, m, n, k, seed
    }

/// Entries of mixed sign and scale (normal draws times 2^e, e ∈ [−6, 6]) with some exact zeros.
let private entries (rng: Random) (count: int) =
    Array.init count (fun _ ->
        if rng.Next 10 = 0 then 0.0f
        else
            let u = 1.0 - rng.NextDouble()
            let z = sqrt (-2.0 * log u) * cos (2.0 * Math.PI * rng.NextDouble())
            float32 (z * Math.Pow(2.0, float (rng.Next(-6, 7)))))

/// The bound property on every managed kernel; on a CPU without one, the check that the kernels refuse to run.
let private boundProperty =
    if managedPaths.IsEmpty then
        testCase "no managed kernel runs on this CPU: the k-NN multiplies with libtorch and the kernels refuse" <| fun () ->
            Expect.equal ManagedGemm.best ManagedGemm.Torch "best"
            for path in [ ManagedGemm.Avx512; ManagedGemm.Avx2 ] do
                try
                    ManagedGemm.multiplyArrays path ManagedGemm.defaultBlocking [| 1.0f |] [| 1.0f |] 1 1 1 |> ignore
                    failtestf "%A ran" path
                with :? ArgumentException as e -> Expect.equal e.ParamName "path" "names path"
    else
        property "C = A·Bᵀ within γ_k·(|A||B|ᵀ) of the float64 product, every kernel, blocks and tiles cut short" 300 caseGen
            (fun (path, blocking, m, n, k, seed) ->
                let rng = Random seed
                let a = entries rng (m * k)
                let b = entries rng (n * k)
                let c = ManagedGemm.multiplyArrays path blocking a b m n k
                // The float64 reference is itself a sum of k products (exact in float64) with error ≤ γ_k(2⁻⁵³)·|A||B|ᵀ.
                let g32, g64 = gamma k (2.0 ** -24.0), gamma k (2.0 ** -53.0)
                for i in 0 .. m - 1 do
                    for j in 0 .. n - 1 do
                        let mutable exact = 0.0
                        let mutable magnitude = 0.0
                        for p in 0 .. k - 1 do
                            let x = float a.[i * k + p] * float b.[j * k + p]
                            exact <- exact + x
                            magnitude <- magnitude + abs x
                        let bound = (g32 + 2.0 * g64) * magnitude
                        let error = abs (float c.[i * n + j] - exact)
                        if not (error <= bound) then
                            failtestf "%A %A m %d n %d k %d: C[%d,%d] = %g, float64 %g, error %g > bound %g"
                                path blocking m n k i j c.[i * n + j] exact error bound)

[<Tests>]
let tests =
    testList "managed GEMM" [
        boundProperty

        testCase "k = 0 gives zeros; m = 0 or n = 0 gives an empty product" <| fun () ->
            for path in managedPaths do
                let c = ManagedGemm.multiplyArrays path ManagedGemm.defaultBlocking [||] [||] 3 5 0
                if c <> Array.zeroCreate 15 then failtestf "%A: k = 0 gave %A" path c
                if (ManagedGemm.multiplyArrays path ManagedGemm.defaultBlocking [||] [| 1.0f; 2.0f |] 0 1 2).Length <> 0 then
                    failtestf "%A: m = 0 was not empty" path

        testCase "DISTEMBED_GEMM values: managed, torch, avx2, avx512; anything else fails naming the variable" <| fun () ->
            Expect.equal (ManagedGemm.parse null) ManagedGemm.best "unset"
            Expect.equal (ManagedGemm.parse " Managed ") ManagedGemm.best "managed"
            Expect.equal (ManagedGemm.parse "torch") ManagedGemm.Torch "torch"
            if ManagedGemm.avx2Supported then Expect.equal (ManagedGemm.parse "avx2") ManagedGemm.Avx2 "avx2"
            if Avx512F.IsSupported then Expect.equal (ManagedGemm.parse "AVX512") ManagedGemm.Avx512 "avx512"
            else
                try
                    ManagedGemm.parse "avx512" |> ignore
                    failtest "avx512 was accepted on a CPU without AVX-512F"
                with :? ArgumentException as e -> Expect.equal e.ParamName ManagedGemm.Variable "the variable is named"
            try
                ManagedGemm.parse "mkl" |> ignore
                failtest "an unknown value was accepted"
            with :? ArgumentException as e ->
                Expect.equal e.ParamName ManagedGemm.Variable "the variable is named"
                Expect.stringContains e.Message "managed, avx512, avx2 or torch" "the valid values are listed"

        testCase "the sizes of the arrays are checked" <| fun () ->
            for path in managedPaths do
                try
                    ManagedGemm.multiplyArrays path ManagedGemm.defaultBlocking [| 1.0f |] [| 1.0f; 2.0f |] 1 1 2 |> ignore
                    failtest "a short A was accepted"
                with :? ArgumentException as e -> Expect.equal e.ParamName "a" "names a"
    ]
