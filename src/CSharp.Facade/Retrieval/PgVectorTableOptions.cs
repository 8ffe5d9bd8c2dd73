namespace DistEmbed.Retrieval;

/// <summary>Settings of a <see cref="PgVectorTable"/>: batching of writes and the HNSW index.</summary>
/// <remarks>The HNSW parameters are pgvector's (m, ef_construction; defaults 16 and 64), from Malkov and Yashunin,
/// Efficient and robust approximate nearest neighbor search using Hierarchical Navigable Small World graphs,
/// arXiv:1603.09320, Algorithm 1 (M, efConstruction).</remarks>
public sealed record PgVectorTableOptions
{
    /// <summary>Rows per write transaction (one binary COPY into a staging table and one upsert), ≥ 1. An interrupted
    /// export keeps every batch it committed; exporting again upserts by id, so no row is duplicated.</summary>
    public int BatchSize { get; init; } = 2000;

    /// <summary>HNSW m: links per node and layer, in [2, 100] (pgvector's range).</summary>
    public int HnswM { get; init; } = 16;

    /// <summary>HNSW ef_construction: the candidate list while building, in [4, 1000] and ≥ 2·m (pgvector's rule).</summary>
    public int HnswEfConstruction { get; init; } = 64;

    /// <summary>maintenance_work_mem for the index build in MiB (0 = the server's setting). pgvector builds fastest when
    /// the graph fits in it.</summary>
    public int IndexBuildMemoryMiB { get; init; }

    /// <summary>Run <c>CREATE EXTENSION IF NOT EXISTS vector</c> when the database lacks it (needs a user allowed to
    /// create it); false (the default) reports the missing extension instead.</summary>
    public bool CreateExtension { get; init; }

    /// <summary>Checks every setting; throws naming the first bad one.</summary>
    /// <exception cref="ArgumentException">A setting out of range (ParamName options, the message names the setting).</exception>
    public void Validate()
    {
        static void Check(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message, "options");
        }
        Check(BatchSize >= 1, $"options.BatchSize = {BatchSize}; it must be ≥ 1.");
        Check(HnswM is >= 2 and <= 100, $"options.HnswM = {HnswM}; it must lie in [2, 100].");
        Check(HnswEfConstruction is >= 4 and <= 1000, $"options.HnswEfConstruction = {HnswEfConstruction}; it must lie in [4, 1000].");
        Check(HnswEfConstruction >= 2 * HnswM,
            $"options.HnswEfConstruction = {HnswEfConstruction}; pgvector needs it ≥ 2·HnswM = {2 * HnswM}.");
        Check(IndexBuildMemoryMiB is >= 0 and <= 1 << 20, $"options.IndexBuildMemoryMiB = {IndexBuildMemoryMiB}; it must lie in [0, 1048576] (0 = the server's setting).");
    }
}

/// <summary>How <see cref="PgVectorTable.Search(float[,], int, PgVectorSearchMode, int)"/> finds neighbours.</summary>
public enum PgVectorSearchMode
{
    /// <summary>A sequential scan ordered by the exact distance (index scans off), ties to the smaller id: the exact
    /// k nearest rows.</summary>
    Exact,
    /// <summary>pgvector's HNSW index with <c>hnsw.ef_search</c>: approximate, much faster on large tables.</summary>
    Hnsw,
}

/// <summary>One neighbour found in a <see cref="PgVectorTable"/>.</summary>
/// <param name="Id">The row's id.</param>
/// <param name="Label">The row's label, or null where none was stored.</param>
/// <param name="Distance">The L2 distance from the query (pgvector's <c>&lt;-&gt;</c>; for exported embeddings, the
/// Wasserstein distance the table stands for, computed in float32).</param>
public readonly record struct PgVectorHit(long Id, long? Label, double Distance);
