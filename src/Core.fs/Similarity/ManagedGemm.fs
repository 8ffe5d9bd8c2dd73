namespace DistEmbed.Core.Similarity

#nowarn "9"

open System
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86
open System.Threading
open Microsoft.FSharp.NativeInterop
open DistEmbed.Core

/// <summary>
/// A managed float32 matrix product C = A·Bᵀ for the Gram blocks of the exact k-NN (A [m, k] and B [n, k] row-major,
/// C [m, n] row-major), in the GotoBLAS/BLIS structure: B is packed panel by panel (kc × 32 or kc × 16, its columns
/// interleaved), A block by block (mc × kc in panels of 12 or 6 rows), and a register-blocked micro-kernel multiplies
/// one A panel by one B panel into a 12 × 32 (AVX-512F) or 6 × 16 (AVX2 + FMA) tile of C held in registers.
/// </summary>
/// <remarks>
/// <para>Why: libtorch's MKL (TorchSharp 0.107) runs a non-AVX-512 sgemm on AMD CPUs; on the Zen 5 dev machine it does
/// about 73 GFLOP/s per CPU second, OpenBLAS's Haswell kernel about 95 and this AVX-512 kernel about 1.5–2× that (see
/// docs/benchmarks.md, "Managed AVX-512 GEMM for exact k-NN").</para>
/// <para>Blocking (K. Goto and R. van de Geijn, Anatomy of high-performance matrix multiplication, ACM TOMS 34(3), 2008,
/// Section 4; F. Van Zee and R. van de Geijn, BLIS, ACM TOMS 41(3), 2015, Figure 2): loops jc over panels of nc columns,
/// pc over slices of kc, ic over blocks of mc rows, then jr over the 32-column B panels (one stays in L1: kc·32·4 = 32 KiB
/// at kc = 256) and ir over the A panels (the packed A block stays in L2: mc·kc·4 ≤ 384 KiB). The first k-slice
/// overwrites C, later ones add to it, so each entry is a sum of k products in some order and obeys the standard bound
/// |C − fl(C)| ≤ γ_k·(|A|·|B|ᵀ), γ_k = k·u/(1 − k·u), u = 2⁻²⁴ (N. Higham, Accuracy and Stability of Numerical
/// Algorithms, 2nd ed., 2002, eq. (3.13)). Edge tiles (m or n not a multiple of the tile) are computed on zero-padded
/// panels into a scratch tile and copied.</para>
/// <para>Selection: <c>DISTEMBED_GEMM</c> = <c>managed</c> (default: AVX-512F when <c>Avx512F.IsSupported</c>, else
/// AVX2 + FMA, else libtorch), <c>avx2</c> (the AVX2 kernel even where AVX-512 is present), or <c>torch</c>
/// (libtorch's mm, as before); tests force a path with <c>withPath</c>.</para>
/// </remarks>
module internal ManagedGemm =

    /// The kernel that multiplies a float32 Gram block.
    type Path =
        /// The 12 × 32 AVX-512F micro-kernel.
        | Avx512
        /// The 6 × 16 AVX2 + FMA micro-kernel.
        | Avx2
        /// libtorch's mm (MKL in TorchSharp's libtorch).
        | Torch

    /// True when the AVX2 + FMA kernel can run on this CPU.
    let avx2Supported = Avx2.IsSupported && Fma.IsSupported

    /// The fastest path of this CPU: AVX-512F, else AVX2 + FMA, else libtorch.
    let best = if Avx512F.IsSupported then Avx512 elif avx2Supported then Avx2 else Torch

    /// The environment variable that selects the path (managed, avx2, avx512 or torch).
    [<Literal>]
    let Variable = "DISTEMBED_GEMM"

    /// The path named by a value of DISTEMBED_GEMM (null or empty: managed, the fastest kernel of this CPU). An unknown
    /// value, or a kernel this CPU cannot run, fails naming the variable.
    let parse (value: string) : Path =
        match value with
        | null -> best
        | value ->
            match value.Trim().ToLowerInvariant() with
            | ""
            | "managed" -> best
            | "torch" -> Torch
            | "avx2" when avx2Supported -> Avx2
            | "avx512" when Avx512F.IsSupported -> Avx512
            | "avx2"
            | "avx512" ->
                Validation.fail Variable $"{Variable} = '{value}' names a kernel this CPU cannot run; use managed or torch."
            | _ -> Validation.fail Variable $"{Variable} = '{value}' is invalid; it must be managed, avx512, avx2 or torch."

    /// The path named by DISTEMBED_GEMM now (see parse).
    let fromEnvironment () : Path = parse (Environment.GetEnvironmentVariable Variable)

    let private forced = AsyncLocal<Path voption>()

    /// The path in effect: the one forced by withPath on this flow of execution, else DISTEMBED_GEMM's.
    let current () : Path =
        match forced.Value with
        | ValueSome path -> path
        | ValueNone -> fromEnvironment ()

    /// Runs f with the path forced to `path` on this flow of execution (for tests), restoring the previous one.
    let withPath (path: Path) (f: unit -> 'T) : 'T =
        let saved = forced.Value
        forced.Value <- ValueSome path
        try f () finally forced.Value <- saved

    /// Cache blocking: kc entries of the inner dimension per slice, mc rows of A per packed block, nc columns of C per
    /// packed B block.
    [<Struct>]
    type Blocking = { KC: int; MC: int; NC: int }

    /// kc = 256 (a 32-column B panel is 32 KiB, inside Zen 5's 48 KiB L1d), mc = 384 (a packed A block of 384 KiB,
    /// inside its 1 MiB L2), nc = 4096. Measured at d = 256: kc = 128 was no faster (docs/benchmarks.md).
    let defaultBlocking = { KC = 256; MC = 384; NC = 4096 }

    /// Rows and columns of the largest tile (AVX-512F: 12 × 32); the packing buffers are sized for it.
    [<Literal>]
    let private MaxRows = 12

    [<Literal>]
    let private MaxColumns = 32

    /// The packing buffers of one thread (64-byte aligned native memory, freed by Dispose): a packed A block, a packed
    /// B block and one scratch tile. Not thread-safe: each worker owns one.
    [<Sealed; AllowNullLiteral>]
    type Workspace(blocking: Blocking) =
        do
            if blocking.KC < 1 || blocking.MC < 1 || blocking.NC < 1 then
                Validation.fail "blocking" $"blocking = {blocking} is invalid; kc, mc and nc must be ≥ 1."
        let roundUp x w = (x + w - 1) / w * w
        let alloc (count: int) = NativeMemory.AlignedAlloc(unativeint count * 4un, 64un)
        let mutable a = alloc (roundUp blocking.MC MaxRows * blocking.KC)
        let mutable b = alloc (roundUp blocking.NC MaxColumns * blocking.KC)
        let mutable tile = alloc (MaxRows * MaxColumns)
        /// The blocking the buffers are sized for.
        member _.Blocking = blocking
        /// The packed A block.
        member _.A = NativePtr.ofVoidPtr<float32> a
        /// The packed B block.
        member _.B = NativePtr.ofVoidPtr<float32> b
        /// The scratch tile of edge tiles.
        member _.Tile = NativePtr.ofVoidPtr<float32> tile
        interface IDisposable with
            member _.Dispose() =
                if not (NativePtr.isNullPtr (NativePtr.ofVoidPtr<float32> a)) then
                    NativeMemory.AlignedFree a
                    NativeMemory.AlignedFree b
                    NativeMemory.AlignedFree tile
                    a <- NativePtr.toVoidPtr (NativePtr.nullPtr<float32>)
                    b <- a
                    tile <- a

    /// The 12 × 32 AVX-512F micro-kernel: C[i, j] (+)= Σ_p a[p·12 + i]·b[p·32 + j] over p < kc for i < 12,
    /// j < 32 (C row i at c + i·ldc; `accumulate` adds to C, otherwise C is overwritten). 24 accumulators
    /// of 16 lanes stay in registers; each step loads 2 vectors of the B panel and broadcasts 12 entries of the A panel.
    [<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
    let private kernel512x12x32 (kc: int) (a: nativeptr<float32>) (b: nativeptr<float32>) (c: nativeptr<float32>) (ldc: int) (accumulate: bool) =
        let mutable c0_0 = Vector512<float32>.Zero
        let mutable c0_1 = Vector512<float32>.Zero
        let mutable c1_0 = Vector512<float32>.Zero
        let mutable c1_1 = Vector512<float32>.Zero
        let mutable c2_0 = Vector512<float32>.Zero
        let mutable c2_1 = Vector512<float32>.Zero
        let mutable c3_0 = Vector512<float32>.Zero
        let mutable c3_1 = Vector512<float32>.Zero
        let mutable c4_0 = Vector512<float32>.Zero
        let mutable c4_1 = Vector512<float32>.Zero
        let mutable c5_0 = Vector512<float32>.Zero
        let mutable c5_1 = Vector512<float32>.Zero
        let mutable c6_0 = Vector512<float32>.Zero
        let mutable c6_1 = Vector512<float32>.Zero
        let mutable c7_0 = Vector512<float32>.Zero
        let mutable c7_1 = Vector512<float32>.Zero
        let mutable c8_0 = Vector512<float32>.Zero
        let mutable c8_1 = Vector512<float32>.Zero
        let mutable c9_0 = Vector512<float32>.Zero
        let mutable c9_1 = Vector512<float32>.Zero
        let mutable c10_0 = Vector512<float32>.Zero
        let mutable c10_1 = Vector512<float32>.Zero
        let mutable c11_0 = Vector512<float32>.Zero
        let mutable c11_1 = Vector512<float32>.Zero
        let mutable pa = a
        let mutable pb = b
        let mutable p = 0
        while p < kc do
            let b0 = Avx512F.LoadVector512 (NativePtr.add pb 0)
            let b1 = Avx512F.LoadVector512 (NativePtr.add pb 16)
            let a0 = Vector512.Create (NativePtr.get pa 0)
            c0_0 <- Avx512F.FusedMultiplyAdd (a0, b0, c0_0)
            c0_1 <- Avx512F.FusedMultiplyAdd (a0, b1, c0_1)
            let a1 = Vector512.Create (NativePtr.get pa 1)
            c1_0 <- Avx512F.FusedMultiplyAdd (a1, b0, c1_0)
            c1_1 <- Avx512F.FusedMultiplyAdd (a1, b1, c1_1)
            let a2 = Vector512.Create (NativePtr.get pa 2)
            c2_0 <- Avx512F.FusedMultiplyAdd (a2, b0, c2_0)
            c2_1 <- Avx512F.FusedMultiplyAdd (a2, b1, c2_1)
            let a3 = Vector512.Create (NativePtr.get pa 3)
            c3_0 <- Avx512F.FusedMultiplyAdd (a3, b0, c3_0)
            c3_1 <- Avx512F.FusedMultiplyAdd (a3, b1, c3_1)
            let a4 = Vector512.Create (NativePtr.get pa 4)
            c4_0 <- Avx512F.FusedMultiplyAdd (a4, b0, c4_0)
            c4_1 <- Avx512F.FusedMultiplyAdd (a4, b1, c4_1)
            let a5 = Vector512.Create (NativePtr.get pa 5)
            c5_0 <- Avx512F.FusedMultiplyAdd (a5, b0, c5_0)
            c5_1 <- Avx512F.FusedMultiplyAdd (a5, b1, c5_1)
            let a6 = Vector512.Create (NativePtr.get pa 6)
            c6_0 <- Avx512F.FusedMultiplyAdd (a6, b0, c6_0)
            c6_1 <- Avx512F.FusedMultiplyAdd (a6, b1, c6_1)
            let a7 = Vector512.Create (NativePtr.get pa 7)
            c7_0 <- Avx512F.FusedMultiplyAdd (a7, b0, c7_0)
            c7_1 <- Avx512F.FusedMultiplyAdd (a7, b1, c7_1)
            let a8 = Vector512.Create (NativePtr.get pa 8)
            c8_0 <- Avx512F.FusedMultiplyAdd (a8, b0, c8_0)
            c8_1 <- Avx512F.FusedMultiplyAdd (a8, b1, c8_1)
            let a9 = Vector512.Create (NativePtr.get pa 9)
            c9_0 <- Avx512F.FusedMultiplyAdd (a9, b0, c9_0)
            c9_1 <- Avx512F.FusedMultiplyAdd (a9, b1, c9_1)
            let a10 = Vector512.Create (NativePtr.get pa 10)
            c10_0 <- Avx512F.FusedMultiplyAdd (a10, b0, c10_0)
            c10_1 <- Avx512F.FusedMultiplyAdd (a10, b1, c10_1)
            let a11 = Vector512.Create (NativePtr.get pa 11)
            c11_0 <- Avx512F.FusedMultiplyAdd (a11, b0, c11_0)
            c11_1 <- Avx512F.FusedMultiplyAdd (a11, b1, c11_1)
            pa <- NativePtr.add pa 12
            pb <- NativePtr.add pb 32
            p <- p + 1
        if accumulate then
            let q = NativePtr.add c (0 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c0_0))
            let q = NativePtr.add c (0 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c0_1))
            let q = NativePtr.add c (1 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c1_0))
            let q = NativePtr.add c (1 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c1_1))
            let q = NativePtr.add c (2 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c2_0))
            let q = NativePtr.add c (2 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c2_1))
            let q = NativePtr.add c (3 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c3_0))
            let q = NativePtr.add c (3 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c3_1))
            let q = NativePtr.add c (4 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c4_0))
            let q = NativePtr.add c (4 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c4_1))
            let q = NativePtr.add c (5 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c5_0))
            let q = NativePtr.add c (5 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c5_1))
            let q = NativePtr.add c (6 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c6_0))
            let q = NativePtr.add c (6 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c6_1))
            let q = NativePtr.add c (7 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c7_0))
            let q = NativePtr.add c (7 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c7_1))
            let q = NativePtr.add c (8 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c8_0))
            let q = NativePtr.add c (8 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c8_1))
            let q = NativePtr.add c (9 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c9_0))
            let q = NativePtr.add c (9 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c9_1))
            let q = NativePtr.add c (10 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c10_0))
            let q = NativePtr.add c (10 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c10_1))
            let q = NativePtr.add c (11 * ldc + 0) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c11_0))
            let q = NativePtr.add c (11 * ldc + 16) in Avx512F.Store (q, Avx512F.Add (Avx512F.LoadVector512 q, c11_1))
        else
            Avx512F.Store (NativePtr.add c (0 * ldc + 0), c0_0)
            Avx512F.Store (NativePtr.add c (0 * ldc + 16), c0_1)
            Avx512F.Store (NativePtr.add c (1 * ldc + 0), c1_0)
            Avx512F.Store (NativePtr.add c (1 * ldc + 16), c1_1)
            Avx512F.Store (NativePtr.add c (2 * ldc + 0), c2_0)
            Avx512F.Store (NativePtr.add c (2 * ldc + 16), c2_1)
            Avx512F.Store (NativePtr.add c (3 * ldc + 0), c3_0)
            Avx512F.Store (NativePtr.add c (3 * ldc + 16), c3_1)
            Avx512F.Store (NativePtr.add c (4 * ldc + 0), c4_0)
            Avx512F.Store (NativePtr.add c (4 * ldc + 16), c4_1)
            Avx512F.Store (NativePtr.add c (5 * ldc + 0), c5_0)
            Avx512F.Store (NativePtr.add c (5 * ldc + 16), c5_1)
            Avx512F.Store (NativePtr.add c (6 * ldc + 0), c6_0)
            Avx512F.Store (NativePtr.add c (6 * ldc + 16), c6_1)
            Avx512F.Store (NativePtr.add c (7 * ldc + 0), c7_0)
            Avx512F.Store (NativePtr.add c (7 * ldc + 16), c7_1)
            Avx512F.Store (NativePtr.add c (8 * ldc + 0), c8_0)
            Avx512F.Store (NativePtr.add c (8 * ldc + 16), c8_1)
            Avx512F.Store (NativePtr.add c (9 * ldc + 0), c9_0)
            Avx512F.Store (NativePtr.add c (9 * ldc + 16), c9_1)
            Avx512F.Store (NativePtr.add c (10 * ldc + 0), c10_0)
            Avx512F.Store (NativePtr.add c (10 * ldc + 16), c10_1)
            Avx512F.Store (NativePtr.add c (11 * ldc + 0), c11_0)
            Avx512F.Store (NativePtr.add c (11 * ldc + 16), c11_1)

    /// The 6 × 16 AVX2 + FMA micro-kernel: C[i, j] (+)= Σ_p a[p·6 + i]·b[p·16 + j] over p < kc for i < 6,
    /// j < 16 (C row i at c + i·ldc; `accumulate` adds to C, otherwise C is overwritten). 12 accumulators
    /// of 8 lanes stay in registers; each step loads 2 vectors of the B panel and broadcasts 6 entries of the A panel.
    [<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
    let private kernel256x6x16 (kc: int) (a: nativeptr<float32>) (b: nativeptr<float32>) (c: nativeptr<float32>) (ldc: int) (accumulate: bool) =
        let mutable c0_0 = Vector256<float32>.Zero
        let mutable c0_1 = Vector256<float32>.Zero
        let mutable c1_0 = Vector256<float32>.Zero
        let mutable c1_1 = Vector256<float32>.Zero
        let mutable c2_0 = Vector256<float32>.Zero
        let mutable c2_1 = Vector256<float32>.Zero
        let mutable c3_0 = Vector256<float32>.Zero
        let mutable c3_1 = Vector256<float32>.Zero
        let mutable c4_0 = Vector256<float32>.Zero
        let mutable c4_1 = Vector256<float32>.Zero
        let mutable c5_0 = Vector256<float32>.Zero
        let mutable c5_1 = Vector256<float32>.Zero
        let mutable pa = a
        let mutable pb = b
        let mutable p = 0
        while p < kc do
            let b0 = Avx.LoadVector256 (NativePtr.add pb 0)
            let b1 = Avx.LoadVector256 (NativePtr.add pb 8)
            let a0 = Vector256.Create (NativePtr.get pa 0)
            c0_0 <- Fma.MultiplyAdd (a0, b0, c0_0)
            c0_1 <- Fma.MultiplyAdd (a0, b1, c0_1)
            let a1 = Vector256.Create (NativePtr.get pa 1)
            c1_0 <- Fma.MultiplyAdd (a1, b0, c1_0)
            c1_1 <- Fma.MultiplyAdd (a1, b1, c1_1)
            let a2 = Vector256.Create (NativePtr.get pa 2)
            c2_0 <- Fma.MultiplyAdd (a2, b0, c2_0)
            c2_1 <- Fma.MultiplyAdd (a2, b1, c2_1)
            let a3 = Vector256.Create (NativePtr.get pa 3)
            c3_0 <- Fma.MultiplyAdd (a3, b0, c3_0)
            c3_1 <- Fma.MultiplyAdd (a3, b1, c3_1)
            let a4 = Vector256.Create (NativePtr.get pa 4)
            c4_0 <- Fma.MultiplyAdd (a4, b0, c4_0)
            c4_1 <- Fma.MultiplyAdd (a4, b1, c4_1)
            let a5 = Vector256.Create (NativePtr.get pa 5)
            c5_0 <- Fma.MultiplyAdd (a5, b0, c5_0)
            c5_1 <- Fma.MultiplyAdd (a5, b1, c5_1)
            pa <- NativePtr.add pa 6
            pb <- NativePtr.add pb 16
            p <- p + 1
        if accumulate then
            let q = NativePtr.add c (0 * ldc + 0) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c0_0))
            let q = NativePtr.add c (0 * ldc + 8) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c0_1))
            let q = NativePtr.add c (1 * ldc + 0) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c1_0))
            let q = NativePtr.add c (1 * ldc + 8) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c1_1))
            let q = NativePtr.add c (2 * ldc + 0) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c2_0))
            let q = NativePtr.add c (2 * ldc + 8) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c2_1))
            let q = NativePtr.add c (3 * ldc + 0) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c3_0))
            let q = NativePtr.add c (3 * ldc + 8) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c3_1))
            let q = NativePtr.add c (4 * ldc + 0) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c4_0))
            let q = NativePtr.add c (4 * ldc + 8) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c4_1))
            let q = NativePtr.add c (5 * ldc + 0) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c5_0))
            let q = NativePtr.add c (5 * ldc + 8) in Avx.Store (q, Avx.Add (Avx.LoadVector256 q, c5_1))
        else
            Avx.Store (NativePtr.add c (0 * ldc + 0), c0_0)
            Avx.Store (NativePtr.add c (0 * ldc + 8), c0_1)
            Avx.Store (NativePtr.add c (1 * ldc + 0), c1_0)
            Avx.Store (NativePtr.add c (1 * ldc + 8), c1_1)
            Avx.Store (NativePtr.add c (2 * ldc + 0), c2_0)
            Avx.Store (NativePtr.add c (2 * ldc + 8), c2_1)
            Avx.Store (NativePtr.add c (3 * ldc + 0), c3_0)
            Avx.Store (NativePtr.add c (3 * ldc + 8), c3_1)
            Avx.Store (NativePtr.add c (4 * ldc + 0), c4_0)
            Avx.Store (NativePtr.add c (4 * ldc + 8), c4_1)
            Avx.Store (NativePtr.add c (5 * ldc + 0), c5_0)
            Avx.Store (NativePtr.add c (5 * ldc + 8), c5_1)

    /// Packs rows [r0, r0 + rows) × entries [p0, p0 + kc) of a row-major matrix (leading dimension ld) into panels of
    /// w rows: panel q holds, for each p < kc, the w entries src[r0 + q·w + i, p0 + p] (i < w) consecutively; rows past
    /// the end are zeros.
    let private pack (src: nativeptr<float32>) (ld: int) (r0: int) (rows: int) (p0: int) (kc: int) (w: int) (dst: nativeptr<float32>) =
        let panels = (rows + w - 1) / w
        for q in 0 .. panels - 1 do
            let panel = NativePtr.add dst (q * w * kc)
            for i in 0 .. w - 1 do
                let row = q * w + i
                if row < rows then
                    let s = NativePtr.add src ((r0 + row) * ld + p0)
                    for p in 0 .. kc - 1 do
                        NativePtr.set panel (p * w + i) (NativePtr.get s p)
                else
                    for p in 0 .. kc - 1 do
                        NativePtr.set panel (p * w + i) 0.0f

    /// C = A·Bᵀ for A [m, k] (row stride lda), B [n, k] (row stride ldb) and C [m, n] (row stride ldc), all float32
    /// in native memory, on the Avx512 or Avx2 path with the given blocking and workspace (sized for that blocking).
    [<MethodImpl(MethodImplOptions.AggressiveOptimization)>]
    let multiplyTransposed
        (path: Path) (ws: Workspace) (m: int) (n: int) (k: int)
        (a: nativeptr<float32>) (lda: int) (b: nativeptr<float32>) (ldb: int) (c: nativeptr<float32>) (ldc: int) =
        let wide =
            match path with
            | Avx512 when Avx512F.IsSupported -> true
            | Avx2 when avx2Supported -> false
            | _ -> Validation.fail "path" $"path {path} cannot run here; the managed product needs AVX-512F or AVX2 + FMA."
        if m < 0 || n < 0 || k < 0 then Validation.fail "m" $"sizes m = {m}, n = {n}, k = {k} must be ≥ 0."
        if int64 m * int64 (max lda ldc) > int64 Int32.MaxValue || int64 n * int64 ldb > int64 Int32.MaxValue then
            Validation.fail "m" $"sizes m = {m}, n = {n} with strides {lda}, {ldb}, {ldc} exceed 2^31 entries; multiply in blocks."
        let mr, nr = (if wide then 12 else 6), (if wide then 32 else 16)
        let blocking = ws.Blocking
        let ap, bp, tile = ws.A, ws.B, ws.Tile
        if k = 0 then
            for i in 0 .. m - 1 do
                for j in 0 .. n - 1 do
                    NativePtr.set c (i * ldc + j) 0.0f
        let mutable jc = 0
        while jc < n do
            let nc = min blocking.NC (n - jc)
            let mutable pc = 0
            while pc < k do
                let kc = min blocking.KC (k - pc)
                let accumulate = pc > 0
                pack b ldb jc nc pc kc nr bp
                let mutable ic = 0
                while ic < m do
                    let mc = min blocking.MC (m - ic)
                    pack a lda ic mc pc kc mr ap
                    let mutable jr = 0
                    while jr < nc do
                        let columns = min nr (nc - jr)
                        let bPanel = NativePtr.add bp (jr * kc)
                        let mutable ir = 0
                        while ir < mc do
                            let rows = min mr (mc - ir)
                            let aPanel = NativePtr.add ap (ir * kc)
                            let cTile = NativePtr.add c ((ic + ir) * ldc + jc + jr)
                            if rows = mr && columns = nr then
                                if wide then kernel512x12x32 kc aPanel bPanel cTile ldc accumulate
                                else kernel256x6x16 kc aPanel bPanel cTile ldc accumulate
                            else
                                if wide then kernel512x12x32 kc aPanel bPanel tile nr false
                                else kernel256x6x16 kc aPanel bPanel tile nr false
                                for i in 0 .. rows - 1 do
                                    for j in 0 .. columns - 1 do
                                        let t = NativePtr.get tile (i * nr + j)
                                        let q = NativePtr.add cTile (i * ldc + j)
                                        NativePtr.write q (if accumulate then NativePtr.read q + t else t)
                            ir <- ir + mr
                        jr <- jr + nr
                    ic <- ic + mc
                pc <- pc + kc
            jc <- jc + nc

    /// C = A·Bᵀ on arrays (A [m, k], B [n, k], row-major) with the given path and blocking: for the properties.
    let multiplyArrays (path: Path) (blocking: Blocking) (a: float32[]) (b: float32[]) (m: int) (n: int) (k: int) : float32[] =
        if a.Length <> m * k then Validation.fail "a" $"a has {a.Length} entries; m·k = {m * k}."
        if b.Length <> n * k then Validation.fail "b" $"b has {b.Length} entries; n·k = {n * k}."
        let c = Array.zeroCreate<float32> (m * n)
        if m > 0 && n > 0 then
            use ws = new Workspace(blocking)
            // One extra entry keeps the pointers valid when k = 0 (nothing is read then).
            let a1 = Array.append a [| 0.0f |]
            let b1 = Array.append b [| 0.0f |]
            use pa = fixed a1
            use pb = fixed b1
            use pc = fixed c
            multiplyTransposed path ws m n k pa k pb k pc n
        c
