using System.Globalization;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Retrieval;

/// <summary>The distance a vector index ranks by and returns.</summary>
public enum IndexMetric
{
    /// <summary>The Euclidean distance ‖q − x‖₂ (not squared). Exact Euclidean exports of distributional embeddings
    /// (<see cref="EuclideanExports"/>) make it the Wasserstein distance they stand for (quantile-w2, marginal-w2,
    /// sliced-w2 with fixed directions).</summary>
    Euclidean,

    /// <summary>The cosine distance 1 − ⟨q, x⟩ / (‖q‖ ‖x‖), in [0, 2].</summary>
    Cosine,
}

/// <summary>The precision an index stores its vectors in.</summary>
public enum IndexPrecision
{
    /// <summary>float32 (4 bytes per coordinate).</summary>
    Float32,

    /// <summary>float64 (8 bytes per coordinate).</summary>
    Float64,
}

/// <summary>
/// The k nearest indexed vectors of each of Q queries, nearest first: their ids and their distances under the index's
/// <see cref="IndexMetric"/> (the same quantity for <see cref="ExactIndex"/> and <see cref="HnswIndex"/>).
/// </summary>
public sealed class SearchResult
{
    internal SearchResult(long[,] ids, double[,] distances)
    {
        Ids = ids;
        Distances = distances;
    }

    /// <summary>Q × k ids; row q lists the neighbours of query q, nearest first. An approximate index that finds fewer
    /// than k vectors fills the rest of the row with −1.</summary>
    public long[,] Ids { get; }

    /// <summary>Q × k distances, non-decreasing along each row (+∞ where the id is −1).</summary>
    public double[,] Distances { get; }

    /// <summary>The number of queries Q.</summary>
    public int Count => Ids.GetLength(0);

    /// <summary>The number of neighbours per query k.</summary>
    public int K => Ids.GetLength(1);

    /// <summary>The ids of query <paramref name="query"/>'s neighbours, nearest first.</summary>
    /// <param name="query">A query row in [0, Q).</param>
    /// <returns>k ids.</returns>
    public long[] IdsOf(int query) => Enumerable.Range(0, K).Select(j => Ids[query, j]).ToArray();
}

/// <summary>
/// A k-nearest-neighbour index over vectors of one dimension, keyed by int64 ids: the exact <see cref="ExactIndex"/>
/// and the approximate <see cref="HnswIndex"/> (USearch HNSW) share it.
/// <code>
/// using var index = new HnswIndex(dimension: 256);            // or new ExactIndex(256)
/// index.Add(ids, vectors);                                     // vectors: [N, 256] float32/float64 tensor
/// SearchResult hits = index.Search(queries, k: 10);            // ids + Euclidean distances, nearest first
/// index.Save("my-index");                                      // a folder; VectorIndex.Load("my-index") reads it back
/// </code>
/// </summary>
/// <remarks>
/// Ids are non-negative int64 values, unique in an index: <see cref="Add"/> rejects a batch that repeats an id or
/// holds an id the index already has, and then adds nothing. Vectors and queries are [N, D] float32 or float64
/// tensors with D = <see cref="Dimension"/> and finite values; anything else is rejected with an
/// <see cref="ArgumentException"/> naming the argument. Distributional embeddings go in through their exact
/// Euclidean export (<see cref="EuclideanExports.ToEuclidean(EmbeddingBatch)"/>): the Euclidean distances the index
/// returns are then the quantile-w2 / marginal-w2 / sliced-w2 distances of the embeddings.
/// </remarks>
public interface IVectorIndex : IDisposable
{
    /// <summary>The dimension D of every vector.</summary>
    int Dimension { get; }

    /// <summary>The number of vectors held.</summary>
    long Count { get; }

    /// <summary>The distance ranked by and returned.</summary>
    IndexMetric Metric { get; }

    /// <summary>The precision the vectors are stored in.</summary>
    IndexPrecision Precision { get; }

    /// <summary>The name of the distance whose exact Euclidean export the vectors are (e.g. <c>marginal-w2</c>), or null
    /// for plain vectors; saved with the index, so that a reader can export its queries the same way.</summary>
    string? Source { get; set; }

    /// <summary>Whether the index holds <paramref name="id"/>.</summary>
    /// <param name="id">An id.</param>
    /// <returns>True when a vector with that id was added.</returns>
    bool Contains(long id);

    /// <summary>Adds vectors under their ids (all or nothing).</summary>
    /// <param name="ids">N distinct non-negative ids, none already in the index.</param>
    /// <param name="vectors">[N, D] float32/float64 tensor of finite values (any device; copied).</param>
    /// <exception cref="ArgumentException">A null argument; vectors not [N, D] (names vectors, with both dimensions), a
    /// non-finite value (names vectors); ids of another length than N, a negative or repeated id, or one the index
    /// holds (names ids).</exception>
    void Add(long[] ids, torch.Tensor vectors);

    /// <summary>The k nearest vectors of each query.</summary>
    /// <param name="queries">[Q, D] float32/float64 tensor of finite values (Q ≥ 1).</param>
    /// <param name="k">Neighbours per query, 1 ≤ k ≤ <see cref="Count"/>.</param>
    /// <returns>Ids and distances, Q × k.</returns>
    /// <exception cref="ArgumentException">queries not [Q, D] (names queries, with both dimensions) or non-finite (names
    /// queries); k out of range (names k).</exception>
    /// <exception cref="InvalidOperationException">The index is empty.</exception>
    SearchResult Search(torch.Tensor queries, int k);

    /// <summary>Saves the index into a folder: its files, then <c>manifest.json</c> (dimension, count, metric, engine,
    /// each file's length and SHA-256), written into a temporary sibling folder that then takes the folder's place, so
    /// that the folder always holds a complete index. An existing index folder is replaced; any other non-empty folder
    /// is refused.</summary>
    /// <param name="directory">The index folder.</param>
    /// <exception cref="ArgumentException">The folder is refused (names directory).</exception>
    void Save(string directory);
}

/// <summary>Loads a saved index of either kind, and the checks shared by both.</summary>
public static class VectorIndex
{
    /// <summary>The format tag of the manifest.</summary>
    public const string Format = "distembed-vector-index/1";

    /// <summary>Loads an index folder written by <see cref="IVectorIndex.Save"/>, exact or HNSW according to its
    /// manifest. Every file's length and SHA-256 are checked against the manifest before anything is parsed.</summary>
    /// <param name="directory">The index folder.</param>
    /// <returns>The index; the caller disposes it.</returns>
    /// <exception cref="DirectoryNotFoundException">No such folder.</exception>
    /// <exception cref="InvalidDataException">A missing, unreadable or inconsistent manifest, or a missing, truncated or
    /// altered file (the message names the file and what is wrong).</exception>
    public static IVectorIndex Load(string directory)
    {
        var manifest = IndexFolder.ReadManifest(directory);
        return manifest.Engine switch
        {
            ExactIndex.Engine => ExactIndex.Load(directory),
            HnswIndex.Engine => HnswIndex.Load(directory),
            _ => throw new InvalidDataException($"index folder {directory}: unknown engine '{manifest.Engine}'."),
        };
    }

    /// <summary>The manifest's engine name of an index folder (<c>exact</c> or <c>usearch-hnsw</c>), checked as
    /// <see cref="Load"/> checks it.</summary>
    /// <param name="directory">The index folder.</param>
    /// <returns>The engine name.</returns>
    /// <exception cref="InvalidDataException">As for <see cref="Load"/>.</exception>
    public static string EngineOf(string directory) => IndexFolder.ReadManifest(directory).Engine;

    internal static string Name(IndexMetric metric) => metric switch
    {
        IndexMetric.Euclidean => "euclidean",
        IndexMetric.Cosine => "cosine",
        _ => throw new ArgumentException($"metric = {metric}; it must be Euclidean or Cosine.", nameof(metric)),
    };

    internal static IndexMetric ParseMetric(string? name, string where) => name switch
    {
        "euclidean" => IndexMetric.Euclidean,
        "cosine" => IndexMetric.Cosine,
        _ => throw new InvalidDataException($"{where}: metric '{name}' is unknown; expected euclidean or cosine."),
    };

    internal static string Name(IndexPrecision precision) => precision == IndexPrecision.Float64 ? "float64" : "float32";

    internal static IndexPrecision ParsePrecision(string? name, string where) => name switch
    {
        "float32" => IndexPrecision.Float32,
        "float64" => IndexPrecision.Float64,
        _ => throw new InvalidDataException($"{where}: precision '{name}' is unknown; expected float32 or float64."),
    };

    internal static torch.ScalarType DType(IndexPrecision precision) =>
        precision == IndexPrecision.Float64 ? torch.ScalarType.Float64 : torch.ScalarType.Float32;

    /// <summary>Checks the dimension and metric of a new index.</summary>
    internal static void CheckNew(int dimension, IndexMetric metric, IndexPrecision precision)
    {
        if (dimension < 1)
            throw new ArgumentException($"dimension = {dimension}; it must be ≥ 1.", nameof(dimension));
        if (!Enum.IsDefined(metric))
            throw new ArgumentException($"metric = {metric}; it must be Euclidean or Cosine.", nameof(metric));
        if (!Enum.IsDefined(precision))
            throw new ArgumentException($"precision = {precision}; it must be Float32 or Float64.", nameof(precision));
    }

    /// <summary>
    /// Checks a [N, D] batch of vectors or queries and returns a contiguous CPU copy in <paramref name="dtype"/>
    /// (the caller owns it). Names <paramref name="argument"/> in every message.
    /// </summary>
    internal static torch.Tensor Rows(torch.Tensor? values, int dimension, torch.ScalarType dtype, string argument)
    {
        if (values is null) throw new ArgumentException($"{argument} is null; pass a [N, {dimension}] tensor.", argument);
        NativeRuntime.EnsureInitialized();
        if (values.dtype != torch.ScalarType.Float32 && values.dtype != torch.ScalarType.Float64)
            throw new ArgumentException($"{argument} has dtype {values.dtype}; it must be Float32 or Float64.", argument);
        if (values.dim() != 2)
            throw new ArgumentException(
                $"{argument} has shape [{string.Join(", ", values.shape)}]; it must be [N, {dimension}] (one row per vector).", argument);
        if (values.shape[1] != dimension)
            throw new ArgumentException(
                $"{argument} has dimension {values.shape[1]} but the index has dimension {dimension}; they must match.", argument);
        if (values.shape[0] < 1)
            throw new ArgumentException($"{argument} has no rows; it must hold at least one vector.", argument);
        using var scope = torch.NewDisposeScope();
        var cpu = values.detach().to(torch.CPU).to_type(dtype).contiguous();
        var finite = torch.isfinite(cpu).all(1);
        if (!finite.all().item<bool>())
        {
            var row = finite.logical_not().nonzero()[0, 0].item<long>();
            var source = values.dtype == dtype ? "" : $" (after conversion to {dtype})";
            throw new ArgumentException($"{argument} row {row} holds NaN or ±∞{source}; every value must be finite.", argument);
        }
        return cpu.clone().MoveToOuterDisposeScope();
    }

    /// <summary>Checks ids against a batch of <paramref name="rows"/> vectors and the ids already held.</summary>
    internal static void CheckIds(long[]? ids, long rows, Func<long, bool> held)
    {
        if (ids is null) throw new ArgumentException("ids is null; pass one id per vector.", nameof(ids));
        if (ids.LongLength != rows)
            throw new ArgumentException($"ids has {ids.LongLength} entries but vectors has {rows} rows; pass one id per vector.", nameof(ids));
        var seen = new HashSet<long>();
        for (var i = 0; i < ids.Length; i++)
        {
            var id = ids[i];
            if (id < 0)
                throw new ArgumentException($"ids[{i}] = {id}; ids must be ≥ 0.", nameof(ids));
            if (!seen.Add(id))
                throw new ArgumentException($"ids[{i}] = {id} repeats an earlier id of this batch; ids must be unique (nothing was added).", nameof(ids));
            if (held(id))
                throw new ArgumentException($"ids[{i}] = {id} is already in the index; ids must be unique (nothing was added).", nameof(ids));
        }
    }

    internal static void CheckK(int k, long count)
    {
        if (count == 0) throw new InvalidOperationException("The index is empty; add vectors before searching.");
        if (k < 1 || k > count)
            throw new ArgumentException($"k = {k}; it must lie in [1, {count}] (the number of indexed vectors).", nameof(k));
    }

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
