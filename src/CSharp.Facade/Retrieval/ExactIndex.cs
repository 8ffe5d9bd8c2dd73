using System.Buffers.Binary;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Core.Similarity;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Retrieval;

/// <summary>
/// An exact k-nearest-neighbour index: the library's blocked exact search (<c>NearestNeighbours.Search</c>, every
/// query against every vector, block by block with a running top-k) behind <see cref="IVectorIndex"/>. The reference
/// an approximate index is measured against, and the right choice up to some 10⁵ vectors.
/// <code>
/// using var exact = new ExactIndex(dimension: 256);
/// exact.Add(ids, vectors);
/// var hits = exact.Search(queries, k: 10);          // the true 10 nearest, ties to the earlier-added vector
/// </code>
/// </summary>
/// <remarks>
/// Distances: Euclidean ‖q − x‖₂ recomputed from the differences (accumulated in float64), or cosine
/// 1 − cos. Ranking is by the Gram form (‖q‖² + ‖x‖²) − 2⟨q, x⟩ on centred vectors (see <c>NearestNeighbours</c>); among equal
/// distances the vector added first comes first. Memory: the vectors (N·D values) plus one 512 × 512 block of scores per thread.
/// Saved as <c>vectors.npy</c> ([N, D]) and <c>ids.npy</c> (int64 [N]) beside the manifest.
/// </remarks>
public sealed class ExactIndex : IVectorIndex
{
    /// <summary>The manifest's engine name of an exact index.</summary>
    public const string Engine = "exact";

    private readonly List<torch.Tensor> pending = [];
    private readonly List<long> ids = [];
    private readonly HashSet<long> idSet = [];
    private torch.Tensor? gallery;
    private bool disposed;

    /// <summary>Creates an empty exact index.</summary>
    /// <param name="dimension">The dimension D of every vector, ≥ 1.</param>
    /// <param name="metric">The distance ranked by and returned.</param>
    /// <param name="precision">The precision the vectors are stored and compared in.</param>
    /// <exception cref="ArgumentException">dimension &lt; 1 or an undefined enum value (names it).</exception>
    public ExactIndex(int dimension, IndexMetric metric = IndexMetric.Euclidean, IndexPrecision precision = IndexPrecision.Float32)
    {
        VectorIndex.CheckNew(dimension, metric, precision);
        NativeRuntime.EnsureInitialized();
        Dimension = dimension;
        Metric = metric;
        Precision = precision;
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public long Count => ids.Count;

    /// <inheritdoc/>
    public IndexMetric Metric { get; }

    /// <inheritdoc/>
    public IndexPrecision Precision { get; }

    /// <inheritdoc/>
    public string? Source { get; set; }

    /// <inheritdoc/>
    public bool Contains(long id) => idSet.Contains(id);

    /// <inheritdoc/>
    public void Add(long[] ids, torch.Tensor vectors)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var rows = VectorIndex.Rows(vectors, Dimension, VectorIndex.DType(Precision), nameof(vectors));
        try
        {
            VectorIndex.CheckIds(ids, rows.shape[0], idSet.Contains);
        }
        catch
        {
            rows.Dispose();
            throw;
        }
        pending.Add(rows.DetachFromDisposeScope()); // the index owns it, whatever scope the caller has open
        this.ids.AddRange(ids);
        idSet.UnionWith(ids);
    }

    /// <inheritdoc/>
    public SearchResult Search(torch.Tensor queries, int k)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        VectorIndex.CheckK(k, Count);
        using var rows = VectorIndex.Rows(queries, Dimension, VectorIndex.DType(Precision), nameof(queries));
        var all = Gallery();
        var distance = Catalog.CreateDistance(VectorIndex.Name(Metric));
        // VectorBatch wraps the tensors without copying; the wrappers are not disposed so that the gallery survives.
        var lists = NearestNeighbours.Search(VectorBatch.FromTensor(rows), VectorBatch.FromTensor(all), distance.Core, k, 0);
        var q = lists.Count;
        var resultIds = new long[q, k];
        for (var i = 0; i < q; i++)
            for (var j = 0; j < k; j++)
                resultIds[i, j] = ids[lists.Indices[i, j]];
        return new SearchResult(resultIds, lists.Distances);
    }

    /// <inheritdoc/>
    public void Save(string directory)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var all = Count == 0 ? null : Gallery();
        var dtype = Precision == IndexPrecision.Float64 ? "<f8" : "<f4";
        var vectorHeader = Npy.HeaderBytes(dtype, [Count, Dimension]);
        var idHeader = Npy.HeaderBytes("<i8", [Count]);
        var files = new List<IndexFile>
        {
            new("vectors.npy", stream =>
            {
                stream.Write(vectorHeader);
                if (all is null) return;
                if (Precision == IndexPrecision.Float64) WriteValues(stream, all.data<double>().ToArray());
                else WriteValues(stream, all.data<float>().ToArray());
            }),
            new("ids.npy", stream =>
            {
                stream.Write(idHeader);
                var bytes = new byte[8 * ids.Count];
                for (var i = 0; i < ids.Count; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), ids[i]);
                stream.Write(bytes);
            }),
        };
        IndexFolder.Write(directory, Engine, Metric, Precision, Dimension, Count, Source, new JsonObject(), files);
    }

    /// <summary>Loads an exact index saved by <see cref="Save"/>, after checking every file against the manifest.</summary>
    /// <param name="directory">The index folder.</param>
    /// <returns>The index.</returns>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="InvalidDataException">Not an exact index folder, or a missing, truncated or altered file (names
    /// the file).</exception>
    public static ExactIndex Load(string directory)
    {
        var manifest = IndexFolder.ReadManifest(directory);
        if (manifest.Engine != Engine)
            throw new InvalidDataException($"index folder {directory} holds a '{manifest.Engine}' index, not an exact one; load it with VectorIndex.Load.");
        var index = new ExactIndex(manifest.Dimension, manifest.Metric, manifest.Precision) { Source = manifest.Source };
        try
        {
            var n = manifest.Count;
            var dtype = manifest.Precision == IndexPrecision.Float64 ? "<f8" : "<f4";
            var size = manifest.Precision == IndexPrecision.Float64 ? 8 : 4;
            using (var buffer = IndexFolder.ReadVerified(directory, manifest, "ids.npy"))
            {
                var header = Npy.HeaderBytes("<i8", [n]);
                var raw = ReadAll(buffer, header, 8 * n, Path.Combine(directory, "ids.npy"));
                var loaded = new long[n];
                for (var i = 0; i < n; i++) loaded[i] = BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(8 * i));
                if (n > 0)
                {
                    using var vectorBuffer = IndexFolder.ReadVerified(directory, manifest, "vectors.npy");
                    var data = ReadAll(vectorBuffer, Npy.HeaderBytes(dtype, [n, manifest.Dimension]), size * n * manifest.Dimension,
                        Path.Combine(directory, "vectors.npy"));
                    using var scope = torch.NewDisposeScope();
                    var values = manifest.Precision == IndexPrecision.Float64
                        ? torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(data).ToArray(), [n, manifest.Dimension])
                        : torch.tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data).ToArray(), [n, manifest.Dimension]);
                    index.Add(loaded, values);
                }
            }
            return index;
        }
        catch (ArgumentException e)
        {
            index.Dispose();
            throw new InvalidDataException($"index folder {directory}: the saved vectors or ids are invalid ({e.Message}).", e);
        }
        catch
        {
            index.Dispose();
            throw;
        }
    }

    /// <summary>Releases the stored vectors.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var t in pending) t.Dispose();
        pending.Clear();
        gallery?.Dispose();
        gallery = null;
    }

    /// <summary>All vectors as one [N, D] tensor (concatenated once after adds).</summary>
    private torch.Tensor Gallery()
    {
        if (pending.Count == 0) return gallery!;
        var parts = gallery is null ? pending.ToArray() : [gallery, .. pending];
        var merged = torch.cat(parts, 0).DetachFromDisposeScope();
        foreach (var t in parts) t.Dispose();
        pending.Clear();
        gallery = merged;
        return merged;
    }

    private static void WriteValues<T>(Stream stream, T[] values) where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Index files are written on little-endian machines only.");
        stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
    }

    /// <summary>The payload after an exactly expected .npy header (the file's hash has been checked already).</summary>
    private static byte[] ReadAll(NativeBuffer buffer, byte[] header, long payload, string path)
    {
        if (buffer.Length != header.Length + payload)
            throw new InvalidDataException($"index file {path} is {buffer.Length} bytes; a [{payload} byte] array with its header is {header.Length + payload}.");
        using var stream = buffer.Stream(FileAccess.Read);
        var head = new byte[header.Length];
        stream.ReadExactly(head);
        if (!head.AsSpan().SequenceEqual(header))
            throw new InvalidDataException($"index file {path} does not start with the .npy header the manifest implies.");
        var data = new byte[payload];
        stream.ReadExactly(data);
        return data;
    }
}
