namespace DistEmbed.Core

#nowarn "9"
#nowarn "3535"

open System
open System.Collections.Concurrent
open System.Runtime.Intrinsics
open System.Threading
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop
open TorchSharp

/// <summary>
/// The values of a CPU tensor [B, T, C] sorted along T (each of the B·C columns ascending), by a sorting network run
/// on SIMD vectors that each hold one row of 16 (float32) or 8 (float64) neighbouring columns: a compare-exchange of
/// rows i &lt; j is one vector minimum stored at row i and one vector maximum stored at row j, so every lane sorts its
/// own column with no shuffles and no branches. For the short columns of the marginal and sliced Wasserstein fast
/// paths (T = 128: 2,048 values per block, about 1,500 compare-exchanges) this runs at a small fraction of a
/// comparison sort's time per element (on the dev machine, one thread: about 400 M elements/s for [128, 128, 256],
/// against 15–28 M for libtorch's sort).
/// </summary>
/// <remarks>
/// <para>The network is K. Batcher's odd-even merge sort (Sorting networks and their applications, AFIPS SJCC 32,
/// 1968; D. Knuth, The Art of Computer Programming 3, 2nd ed., §5.3.4, Algorithm M), built for the next power of two
/// P ≥ T in its iterative form, in which every comparator (i, j), i &lt; j, puts the minimum at i. Rows T … P − 1 are
/// taken to hold +∞: a comparator (i, j) with j ≥ T then never moves anything, so those comparators are dropped and
/// the rest sorts T rows (the 0-1 principle, Knuth §5.3.4 Theorem Z, holds for the padded input).</para>
/// <para>Values: the output is the same multiset per column in ascending order, so it equals any correct sort's output
/// value for value, with one exception: in a column holding zeros of both signs the signs of its zeros may change
/// (the vector minimum and maximum return their second operand for two zeros), which changes no difference, product
/// or square computed from the sorted values except the sign of an exact zero. A column with a NaN is not sorted here: the
/// function returns None and the caller sorts with libtorch (NaN last).</para>
/// <para>Each block of T rows × one vector of columns is copied into a contiguous, 64-byte aligned scratch block, sorted
/// there and copied back, so that the network's rows share no cache sets however large C is (in place, rows 1 KiB
/// apart thrash the L1 cache: 42 ms against 11 ms for [128, 128, 256]). Columns that do not fill a whole vector (C not
/// a multiple of the lane count, or C smaller than it) are gathered lane by lane, across items, into the scratch
/// block. Blocks are spread over <c>torch.get_num_threads()</c> threads.</para>
/// </remarks>
module internal ColumnSort =

    /// Columns longer than this are left to libtorch's sort (the network's O(T log² T) compare-exchanges and its
    /// working set of T rows outgrow a comparison sort's O(T log T) beyond a few thousand rows).
    [<Literal>]
    let MaxRows = 4096

    let private networks = ConcurrentDictionary<int, int[]>()

    /// The comparators (i, j) of Batcher's odd-even merge sort for n rows, flattened as i0, j0, i1, j1, …, in the order
    /// they run (Knuth's Algorithm M, iterative form, for the next power of two, comparators reaching row n or
    /// beyond dropped).
    let network (n: int) : int[] =
        networks.GetOrAdd(
            n,
            fun n ->
                let mutable size = 1
                while size < n do
                    size <- size * 2
                let pairs = ResizeArray<int>()
                let mutable p = 1
                while p < size do
                    let mutable k = p
                    while k >= 1 do
                        let mutable j = k % p
                        while j <= size - 1 - k do
                            for i in 0 .. min (k - 1) (size - j - k - 1) do
                                if (i + j) / (2 * p) = (i + j + k) / (2 * p) && i + j + k < n then
                                    pairs.Add(i + j)
                                    pairs.Add(i + j + k)
                            j <- j + 2 * k
                        k <- k / 2
                    p <- p * 2
                pairs.ToArray())

    /// Whether the SIMD network can run on this CPU: 512-bit or 256-bit vectors in hardware.
    let private accelerated = Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated

    /// The vector operations of the network for one vector width (the kernels below are generic over it, and the JIT
    /// compiles one copy per width and element type).
    type ILanes<'T, 'V when 'T: unmanaged> =
        /// Elements per vector.
        static abstract Count: int
        /// Loads one vector.
        static abstract Load: nativeptr<'T> -> 'V
        /// Stores one vector.
        static abstract Store: 'V * nativeptr<'T> -> unit
        /// Lane-wise minimum (the instruction's, see the remarks on signed zeros).
        static abstract Min: 'V * 'V -> 'V
        /// Lane-wise maximum.
        static abstract Max: 'V * 'V -> 'V
        /// Whether no lane is NaN.
        static abstract Ordered: 'V -> bool

    /// 512-bit vectors (AVX-512).
    [<Struct>]
    type Lanes512<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> =
        interface ILanes<'T, Vector512<'T>> with
            static member Count = Vector512<'T>.Count
            static member Load(p: nativeptr<'T>) = Vector512.Load p
            static member Store(v: Vector512<'T>, p: nativeptr<'T>) = Vector512.Store(v, p)
            static member Min(a, b) = Vector512.MinNative(a, b)
            static member Max(a, b) = Vector512.MaxNative(a, b)
            static member Ordered v = Vector512.EqualsAll(v, v)

    /// 256-bit vectors (AVX2 and others).
    [<Struct>]
    type Lanes256<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType> =
        interface ILanes<'T, Vector256<'T>> with
            static member Count = Vector256<'T>.Count
            static member Load(p: nativeptr<'T>) = Vector256.Load p
            static member Store(v: Vector256<'T>, p: nativeptr<'T>) = Vector256.Store(v, p)
            static member Min(a, b) = Vector256.MinNative(a, b)
            static member Max(a, b) = Vector256.MaxNative(a, b)
            static member Ordered v = Vector256.EqualsAll(v, v)

    /// Runs the network (pairs, count entries) on a scratch block of t rows of one vector each (row r at
    /// scratch + r·lanes).
    let private runNetwork<'L, 'T, 'V when 'L :> ILanes<'T, 'V> and 'T: unmanaged>
        (scratch: nativeptr<'T>) (pairs: nativeptr<int>) (count: int) =
        let lanes = 'L.Count
        let mutable q = 0
        while q < count do
            let pi = NativePtr.add scratch (NativePtr.get pairs q * lanes)
            let pj = NativePtr.add scratch (NativePtr.get pairs (q + 1) * lanes)
            let a = 'L.Load pi
            let b = 'L.Load pj
            'L.Store('L.Min(a, b), pi)
            'L.Store('L.Max(a, b), pj)
            q <- q + 2

    /// Sorts along T, in place, the contiguous [B, T, C] values at data with vectors of 'L; false when some column
    /// holds a NaN (some columns may then be sorted and others not: the caller discards the buffer). Each task copies
    /// one block of T rows × one vector of columns into a contiguous scratch block (so that the network's rows share
    /// no cache sets however large C is), sorts it there and copies it back; columns that do not fill a vector are
    /// gathered lane by lane, across items, into the scratch block.
    let private sortInPlace<'L, 'T, 'V when 'L :> ILanes<'T, 'V> and 'T: unmanaged and 'T: equality>
        (data: nativeint) (b: int) (t: int) (c: int) (threads: int) : bool =
        let lanes = 'L.Count
        let pairs = network t
        let full = c / lanes
        let rest = c % lanes
        let blocks = b * full
        let leftover = b * rest
        let tasks = blocks + (leftover + lanes - 1) / lanes
        let failed = ref 0
        let next = ref -1
        let items = NativePtr.ofNativeInt<'T> data
        let work () =
            use pairsPtr = fixed pairs
            let scratch = Array.zeroCreate<'T> (t * lanes + 64 / sizeof<'T>)
            use scratchBase = fixed scratch
            // 64-byte aligned start inside the pinned array
            let offset = int ((64L - (NativePtr.toNativeInt scratchBase |> int64) % 64L) % 64L) / sizeof<'T>
            let block = NativePtr.add scratchBase offset
            let mutable task = Interlocked.Increment &next.contents
            while task < tasks && Volatile.Read &failed.contents = 0 do
                if task < blocks then
                    let start = NativePtr.add items ((task / full) * t * c + (task % full) * lanes)
                    let mutable ordered = true
                    for r in 0 .. t - 1 do
                        let v = 'L.Load(NativePtr.add start (r * c))
                        ordered <- ordered && 'L.Ordered v
                        'L.Store(v, NativePtr.add block (r * lanes))
                    if ordered then
                        runNetwork<'L, 'T, 'V> block pairsPtr pairs.Length
                        for r in 0 .. t - 1 do
                            'L.Store('L.Load(NativePtr.add block (r * lanes)), NativePtr.add start (r * c))
                    else Volatile.Write(&failed.contents, 1)
                else
                    let group = task - blocks
                    let width = min lanes (leftover - group * lanes)
                    let at k r =
                        let column = group * lanes + k
                        NativePtr.add items ((column / rest) * t * c + r * c + full * lanes + column % rest)
                    let mutable ordered = true
                    for r in 0 .. t - 1 do
                        for k in 0 .. width - 1 do
                            let x = NativePtr.read (at k r)
                            ordered <- ordered && x = x
                            NativePtr.set block (r * lanes + k) x
                    if ordered then
                        runNetwork<'L, 'T, 'V> block pairsPtr pairs.Length
                        for r in 0 .. t - 1 do
                            for k in 0 .. width - 1 do
                                NativePtr.write (at k r) (NativePtr.get block (r * lanes + k))
                    else Volatile.Write(&failed.contents, 1)
                task <- Interlocked.Increment &next.contents
        let workers = max 1 (min threads tasks)
        if workers = 1 then work ()
        else Parallel.For(0, workers, ParallelOptions(MaxDegreeOfParallelism = workers), (fun _ -> work ())) |> ignore
        Volatile.Read &failed.contents = 0

    /// Sorts with 512-bit vectors when wide, else 256-bit ones.
    let private sortWith<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType and 'T: equality>
        (wide: bool) (data: nativeint) (b: int) (t: int) (c: int) (threads: int) : bool =
        if wide then sortInPlace<Lanes512<'T>, 'T, Vector512<'T>> data b t c threads
        else sortInPlace<Lanes256<'T>, 'T, Vector256<'T>> data b t c threads

    /// Whether the network applies to points: [B, T, C] float32 or float64 on the CPU, 2 ≤ T ≤ MaxRows, at most
    /// 2³¹ − 1 elements, on a CPU with SIMD hardware.
    let private applies (points: torch.Tensor) =
        accelerated
        && points.device_type = DeviceType.CPU
        && points.dim () = 3L
        && (points.dtype = torch.float32 || points.dtype = torch.float64)
        && points.shape.[1] >= 2L
        && points.shape.[1] <= int64 MaxRows
        && points.numel () > 0L
        && points.numel () <= int64 Int32.MaxValue

    /// Sorts the contiguous CPU tensor t [B, T, C] along T in place.
    let private sortTensor (t: torch.Tensor) : bool =
        let b, rows, c = int t.shape.[0], int t.shape.[1], int t.shape.[2]
        let threads = max 1 (torch.get_num_threads ())
        let data = TensorMemory.address t
        if t.dtype = torch.float32 then sortWith<float32> Vector512.IsHardwareAccelerated data b rows c threads
        else sortWith<float> Vector512.IsHardwareAccelerated data b rows c threads

    /// The values of points [B, T, C] (float32 or float64, on the CPU) sorted along dimension 1, as a new contiguous
    /// tensor without autograd history; None when the network does not apply (another dtype, device or rank,
    /// T &lt; 2 or above MaxRows, no SIMD hardware) or a value is NaN, for the caller to sort with libtorch.
    let trySorted (points: torch.Tensor) : torch.Tensor option =
        if not (applies points) then None
        else
            let output = torch.empty (points.shape, dtype = points.dtype, device = points.device)
            use _ = torch.no_grad ()
            output.copy_ points |> ignore
            if sortTensor output then Some output
            else
                output.Dispose()
                None

    /// Sorts points [B, T, C] along dimension 1 in place: for a contiguous temporary of the caller's that records no
    /// gradient (e.g. projections it has just made), saving trySorted's copy. False when the network does not apply,
    /// the tensor is not contiguous or requires gradients, or a value is NaN; in the last case its columns may have
    /// been permuted (each column keeps its values), so the caller still sorts it with libtorch and gets the same
    /// sorted values.
    let trySortInPlace (points: torch.Tensor) : bool =
        applies points && points.is_contiguous () && not points.requires_grad && sortTensor points

    /// Sorts along T, in place, the row-major [B, T, C] values of an array with the given vector width (512-bit when
    /// wide, else 256-bit; the tests run both on a CPU with AVX-512) over the given number of threads; false when a
    /// value is NaN. Fails naming values when the array does not hold B·T·C values.
    let sortArray<'T when 'T: unmanaged and 'T: struct and 'T: (new: unit -> 'T) and 'T :> ValueType and 'T: equality>
        (wide: bool) (values: 'T[]) (b: int) (t: int) (c: int) (threads: int) : bool =
        if int64 values.Length <> int64 b * int64 t * int64 c then
            Validation.fail "values" $"values holds {values.Length} elements; [B, T, C] = [{b}, {t}, {c}] needs {int64 b * int64 t * int64 c}."
        if wide && not Vector512.IsHardwareAccelerated || not Vector256.IsHardwareAccelerated then
            Validation.fail "wide" "this CPU has no hardware vectors of the requested width."
        if values.Length = 0 || t < 2 then true
        else
            use pointer = fixed values
            sortWith<'T> wide (NativePtr.toNativeInt pointer) b t c threads
