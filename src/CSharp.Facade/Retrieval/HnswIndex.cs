using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Cloud.Unum.USearch;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Retrieval;

/// <summary>Settings of an <see cref="HnswIndex"/> (the HNSW graph of Malkov and Yashunin, arXiv:1603.09320).</summary>
public sealed record HnswOptions
{
    /// <summary>M, the number of links per node on the upper layers (the base layer has 2M); ≥ 2. More links: better
    /// recall, more memory, slower adds. Default 16 (USearch's default).</summary>
    public int Connectivity { get; init; } = 16;

    /// <summary>ef_construction, the candidate list length while adding; ≥ 1. Default 128 (USearch's default).</summary>
    public int ExpansionAdd { get; init; } = 128;

    /// <summary>ef, the candidate list length while searching (at least k is used); ≥ 1. Larger: better recall, slower
    /// queries. Default 128 (recall@10 0.999 on 100,000 exported quantile embeddings of dimension 256, but 0.57 on isotropic random
    /// vectors of that dimension, which need ef ≈ 1024 for 0.90; see docs/benchmarks.md). Not
    /// saved with the graph's data by USearch; the manifest keeps it and <see cref="HnswIndex.Load"/> restores it.</summary>
    public int ExpansionSearch { get; init; } = 128;

    /// <summary>The precision the vectors are stored in. Default float32.</summary>
    public IndexPrecision Precision { get; init; } = IndexPrecision.Float32;

    /// <summary>Threads for adding and searching batches; 0 = <see cref="Environment.ProcessorCount"/>. With 1 the graph
    /// of a given sequence of adds is the same on every run; with more, adds race and the graph (never the set of
    /// vectors) may differ between runs.</summary>
    public int Threads { get; init; }
}

/// <summary>
/// An approximate k-nearest-neighbour index: a USearch HNSW graph [1] (NuGet <c>Cloud.Unum.USearch</c>, its native
/// <c>libusearch_c</c>) behind <see cref="IVectorIndex"/>; far faster than <see cref="ExactIndex"/> on large data at the
/// price of a recall below 1 (measure it with <see cref="ExactIndex"/>; docs/benchmarks.md reports it).
/// <code>
/// using var index = new HnswIndex(256, IndexMetric.Euclidean, new HnswOptions { ExpansionSearch = 128 });
/// index.Add(ids, vectors);
/// var hits = index.Search(queries, k: 10);
/// index.Save("hnsw");  using var again = HnswIndex.Load("hnsw");
/// </code>
/// </summary>
/// <remarks>
/// USearch ranks by the squared Euclidean distance (<c>l2sq</c>) or by 1 − cos (<c>cos</c>), in float32 arithmetic;
/// <see cref="Search"/> returns √(l2sq) for <see cref="IndexMetric.Euclidean"/>, the quantity <see cref="ExactIndex"/>
/// returns, and 1 − cos for <see cref="IndexMetric.Cosine"/>. Keys are the ids reinterpreted as uint64. Adds and
/// searches of a batch run on <see cref="HnswOptions.Threads"/> threads; one call at a time per index. Saved as
/// <c>index.usearch</c> (USearch's own serialisation) beside a manifest holding its length and SHA-256, which
/// <see cref="Load"/> checks before USearch parses a byte (USearch's loader does not validate its input).
///
/// [1] Yu. A. Malkov, D. A. Yashunin, Efficient and robust approximate nearest neighbor search using Hierarchical
///     Navigable Small World graphs, IEEE TPAMI 42(4), 2020, arXiv:1603.09320.
/// </remarks>
public sealed class HnswIndex : IVectorIndex
{
    /// <summary>The manifest's engine name of an HNSW index.</summary>
    public const string Engine = "usearch-hnsw";

    private IntPtr handle;
    private int expansionSearch;
    private readonly int threads;

    /// <summary>Creates an empty HNSW index.</summary>
    /// <param name="dimension">The dimension D of every vector, ≥ 1.</param>
    /// <param name="metric">The distance ranked by and returned.</param>
    /// <param name="options">Graph settings; null for the defaults.</param>
    /// <exception cref="ArgumentException">dimension &lt; 1, an undefined enum value, or an option out of range (names it).</exception>
    public HnswIndex(int dimension, IndexMetric metric = IndexMetric.Euclidean, HnswOptions? options = null)
    {
        options ??= new HnswOptions();
        VectorIndex.CheckNew(dimension, metric, options.Precision);
        Require.AtLeast($"{nameof(options)}.{nameof(HnswOptions.Connectivity)}", options.Connectivity, 2);
        Require.AtLeast($"{nameof(options)}.{nameof(HnswOptions.ExpansionAdd)}", options.ExpansionAdd, 1);
        Require.AtLeast($"{nameof(options)}.{nameof(HnswOptions.ExpansionSearch)}", options.ExpansionSearch, 1);
        Require.AtLeast($"{nameof(options)}.{nameof(HnswOptions.Threads)}", options.Threads, 0);
        NativeRuntime.EnsureInitialized();
        Dimension = dimension;
        Metric = metric;
        Precision = options.Precision;
        Connectivity = options.Connectivity;
        ExpansionAdd = options.ExpansionAdd;
        threads = options.Threads == 0 ? Environment.ProcessorCount : options.Threads;
        handle = Create(dimension, metric, options.Precision, options.Connectivity, options.ExpansionAdd, options.ExpansionSearch);
        ExpansionSearch = options.ExpansionSearch;
        SetThreads();
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public long Count
    {
        get
        {
            var n = USearchNative.usearch_size(Handle, out var error);
            USearchNative.Check(error, "size");
            return (long)n;
        }
    }

    /// <inheritdoc/>
    public IndexMetric Metric { get; }

    /// <inheritdoc/>
    public IndexPrecision Precision { get; }

    /// <inheritdoc/>
    public string? Source { get; set; }

    /// <summary>M, the links per node (<see cref="HnswOptions.Connectivity"/>).</summary>
    public int Connectivity { get; }

    /// <summary>ef_construction (<see cref="HnswOptions.ExpansionAdd"/>).</summary>
    public int ExpansionAdd { get; }

    /// <summary>ef, the candidate list length of a search (≥ 1); may be changed between searches and is saved.</summary>
    /// <exception cref="ArgumentException">A value below 1.</exception>
    public int ExpansionSearch
    {
        get => expansionSearch;
        set
        {
            Require.AtLeast(nameof(ExpansionSearch), value, 1);
            USearchNative.usearch_change_expansion_search(Handle, (UIntPtr)value, out var error);
            USearchNative.Check(error, "change_expansion_search");
            expansionSearch = value;
        }
    }

    /// <summary>The version of the native USearch library in use (e.g. <c>2.26.6</c>).</summary>
    public static string NativeVersion
    {
        get
        {
            NativeRuntime.EnsureInitialized();
            return USearchNative.Version();
        }
    }

    /// <inheritdoc/>
    public bool Contains(long id)
    {
        if (id < 0) return false;
        var found = USearchNative.usearch_contains(Handle, (ulong)id, out var error);
        USearchNative.Check(error, "contains");
        return found;
    }

    /// <inheritdoc/>
    public void Add(long[] ids, torch.Tensor vectors)
    {
        var h = Handle;
        using var rows = VectorIndex.Rows(vectors, Dimension, VectorIndex.DType(Precision), nameof(vectors));
        var n = rows.shape[0];
        VectorIndex.CheckIds(ids, n, Contains);
        var size = Count;
        USearchNative.usearch_reserve(h, (UIntPtr)(size + n), out var error);
        USearchNative.Check(error, "reserve");
        string? failure = null;
        ForChunks(rows, (data, kind, rowBytes, first, count) =>
            Parallel.For(0L, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, (i, state) =>
            {
                var id = ids[first + i];
                USearchNative.usearch_add(h, (ulong)id, data + (nint)(i * rowBytes), kind, out var e);
                if (e != IntPtr.Zero)
                {
                    failure ??= $"id {id}: {Marshal.PtrToStringAnsi(e)}";
                    state.Stop();
                }
            }));
        if (failure is not null) throw new InvalidOperationException($"USearch add failed for {failure}.");
    }

    /// <inheritdoc/>
    public SearchResult Search(torch.Tensor queries, int k)
    {
        var h = Handle;
        VectorIndex.CheckK(k, Count);
        using var rows = VectorIndex.Rows(queries, Dimension, VectorIndex.DType(Precision), nameof(queries));
        var q = (int)rows.shape[0];
        var keys = new ulong[(long)q * k];
        var found = new float[(long)q * k];
        var counts = new int[q];
        var keyHandle = GCHandle.Alloc(keys, GCHandleType.Pinned);
        var distanceHandle = GCHandle.Alloc(found, GCHandleType.Pinned);
        string? failure = null;
        try
        {
            var keyBase = keyHandle.AddrOfPinnedObject();
            var distanceBase = distanceHandle.AddrOfPinnedObject();
            ForChunks(rows, (data, kind, rowBytes, first, count) =>
                Parallel.For(0L, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, (r, state) =>
                {
                    var i = first + r;
                    var m = USearchNative.usearch_search(h, data + (nint)(r * rowBytes), kind, (UIntPtr)k,
                        keyBase + (nint)(i * k * 8), distanceBase + (nint)(i * k * 4), out var e);
                    if (e != IntPtr.Zero)
                    {
                        failure ??= Marshal.PtrToStringAnsi(e);
                        state.Stop();
                    }
                    counts[i] = (int)m;
                }));
        }
        finally
        {
            keyHandle.Free();
            distanceHandle.Free();
        }
        if (failure is not null) throw new InvalidOperationException($"USearch search failed: {failure}.");
        var ids = new long[q, k];
        var distances = new double[q, k];
        for (var i = 0; i < q; i++)
            for (var j = 0; j < k; j++)
            {
                if (j >= counts[i])
                {
                    ids[i, j] = -1;
                    distances[i, j] = double.PositiveInfinity;
                    continue;
                }
                ids[i, j] = (long)keys[(long)i * k + j];
                var d = (double)found[(long)i * k + j];
                distances[i, j] = Metric == IndexMetric.Euclidean ? Math.Sqrt(Math.Max(0.0, d)) : d;
            }
        return new SearchResult(ids, distances);
    }

    /// <inheritdoc/>
    public void Save(string directory)
    {
        var h = Handle;
        var length = USearchNative.usearch_serialized_length(h, out var error);
        USearchNative.Check(error, "serialized_length");
        using var buffer = new NativeBuffer((long)length);
        USearchNative.usearch_save_buffer(h, buffer.DangerousGetHandle(), length, out error);
        USearchNative.Check(error, "save");
        var parameters = new JsonObject
        {
            ["connectivity"] = Connectivity,
            ["expansionAdd"] = ExpansionAdd,
            ["expansionSearch"] = ExpansionSearch,
            ["usearch"] = USearchNative.Version(),
        };
        IndexFolder.Write(directory, Engine, Metric, Precision, Dimension, Count, Source, parameters,
            [new IndexFile("index.usearch", stream =>
            {
                using var source = buffer.Stream(FileAccess.Read);
                source.CopyTo(stream, 1 << 20);
            })]);
    }

    /// <summary>Loads an HNSW index saved by <see cref="Save"/>: the manifest and the length and SHA-256 of
    /// <c>index.usearch</c> are checked before USearch parses it, and the loaded graph's dimension and count against
    /// the manifest after.</summary>
    /// <param name="directory">The index folder.</param>
    /// <param name="threads">Threads for adds and searches; 0 = <see cref="Environment.ProcessorCount"/>.</param>
    /// <returns>The index, with the saved <see cref="ExpansionSearch"/>.</returns>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="InvalidDataException">Not an HNSW index folder, or a missing, truncated or altered file (names the
    /// file and what is wrong).</exception>
    public static HnswIndex Load(string directory, int threads = 0)
    {
        var manifest = IndexFolder.ReadManifest(directory);
        if (manifest.Engine != Engine)
            throw new InvalidDataException($"index folder {directory} holds a '{manifest.Engine}' index, not an HNSW one; load it with VectorIndex.Load.");
        int Parameter(string name, int fallback) =>
            manifest.Parameters[name] is JsonValue v && v.TryGetValue<int>(out var x) && x >= 1 ? x
                : manifest.Parameters[name] is null ? fallback
                : throw new InvalidDataException($"index folder {directory}: parameters.{name} is not an integer ≥ 1.");
        var options = new HnswOptions
        {
            Connectivity = Math.Max(2, Parameter("connectivity", 16)),
            ExpansionAdd = Parameter("expansionAdd", 128),
            ExpansionSearch = Parameter("expansionSearch", 128),
            Precision = manifest.Precision,
            Threads = threads,
        };
        using var buffer = IndexFolder.ReadVerified(directory, manifest, "index.usearch");
        var index = new HnswIndex(manifest.Dimension, manifest.Metric, options) { Source = manifest.Source };
        try
        {
            USearchNative.usearch_load_buffer(index.handle, buffer.DangerousGetHandle(), (UIntPtr)buffer.Length, out var error);
            if (error != IntPtr.Zero)
                throw new InvalidDataException($"index file {Path.Combine(directory, "index.usearch")}: USearch could not load it ({Marshal.PtrToStringAnsi(error)}).");
            var dims = (long)USearchNative.usearch_dimensions(index.handle, out error);
            USearchNative.Check(error, "dimensions");
            if (dims != manifest.Dimension || index.Count != manifest.Count)
                throw new InvalidDataException(
                    $"index folder {directory}: index.usearch holds {index.Count} vectors of dimension {dims} but the manifest says {manifest.Count} of dimension {manifest.Dimension}.");
            index.ExpansionSearch = options.ExpansionSearch; // loading resets the search expansion
            index.SetThreads();
            return index;
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>Frees the native index.</summary>
    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the native index if the owner forgot to.</summary>
    ~HnswIndex() => Free();

    private void Free()
    {
        var h = Interlocked.Exchange(ref handle, IntPtr.Zero);
        if (h != IntPtr.Zero) USearchNative.usearch_free(h, out _);
    }

    private IntPtr Handle => handle != IntPtr.Zero ? handle : throw new ObjectDisposedException(nameof(HnswIndex));

    private static IntPtr Create(int dimension, IndexMetric metric, IndexPrecision precision, int connectivity, int expansionAdd, int expansionSearch)
    {
        var options = new IndexOptions(
            metricKind: metric == IndexMetric.Cosine ? MetricKind.Cos : MetricKind.L2sq,
            quantization: precision == IndexPrecision.Float64 ? ScalarKind.Float64 : ScalarKind.Float32,
            dimensions: (ulong)dimension,
            connectivity: (ulong)connectivity,
            expansionAdd: (ulong)expansionAdd,
            expansionSearch: (ulong)expansionSearch,
            multi: false);
        var h = USearchNative.usearch_init(ref options, out var error);
        if (error != IntPtr.Zero)
        {
            if (h != IntPtr.Zero) USearchNative.usearch_free(h, out _);
            USearchNative.Check(error, "init");
        }
        return h;
    }

    private void SetThreads()
    {
        USearchNative.usearch_change_threads_add(Handle, (UIntPtr)threads, out var error);
        USearchNative.Check(error, "change_threads_add");
        USearchNative.usearch_change_threads_search(Handle, (UIntPtr)threads, out error);
        USearchNative.Check(error, "change_threads_search");
    }

    /// <summary>Rows per chunk copied to a pinned managed array (2^22 values: 16 MiB in float32).</summary>
    private const long ChunkValues = 1L << 22;

    /// <summary>Hands the rows of a contiguous CPU tensor to <paramref name="body"/> chunk by chunk, each chunk copied
    /// into a pinned array: (pointer, scalar kind, bytes per row, first row, rows).</summary>
    private void ForChunks(torch.Tensor rows, Action<IntPtr, ScalarKind, long, long, long> body)
    {
        var n = rows.shape[0];
        var perChunk = Math.Max(1L, ChunkValues / Dimension);
        for (var first = 0L; first < n; first += perChunk)
        {
            var count = Math.Min(perChunk, n - first);
            using var part = rows.narrow(0, first, count);
            Array values = Precision == IndexPrecision.Float64 ? part.data<double>().ToArray() : part.data<float>().ToArray();
            var pin = GCHandle.Alloc(values, GCHandleType.Pinned);
            try
            {
                body(pin.AddrOfPinnedObject(), Precision == IndexPrecision.Float64 ? ScalarKind.Float64 : ScalarKind.Float32,
                    (long)Dimension * (Precision == IndexPrecision.Float64 ? 8 : 4), first, count);
            }
            finally
            {
                pin.Free();
            }
        }
    }
}
