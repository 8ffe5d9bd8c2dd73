using DistEmbed;
using DistEmbed.Retrieval;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/scaling-out.md, run against the tests' throwaway PostgreSQL cluster.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ScalingOutGuideExamples(PostgresCluster cluster)
{
    private static EmbeddingBatch RandomQuantiles(int n, int seed)
    {
        torch.Tensor values;
        using (var scope = torch.NewDisposeScope())
        {
            var g = new torch.Generator((ulong)seed);
            values = torch.randn([n, 4, 8], generator: g).sort(2).Values.add(torch.randn([n, 4, 1], generator: g)).MoveToOuterDisposeScope();
        }
        return EmbeddingBatch.Quantiles(values);
    }

    [Fact]
    public void Use()
    {
        var connection = cluster.ConnectionString();
        cluster.Sql("DROP TABLE IF EXISTS items", PostgresCluster.Database);
        using var quantiles = RandomQuantiles(500, 1);   // quantile embeddings [N, d, Q], e.g. from SequenceEmbedder.EmbedAll
        using var queries = RandomQuantiles(5, 2);
        var labels = Enumerable.Range(0, 500).Select(i => (long)(i % 10)).ToArray();
        #region snippet:scaling-out-use
        var w2 = Catalog.CreateDistance("quantile-w2");           // marginal W2 of quantile embeddings
        // connection: "Host=…;Port=5432;Username=…;Password=…;Database=…" (a database with CREATE EXTENSION vector)
        using var table = PgVectorTable.Export(connection, "items", quantiles, w2, labels: labels);   // ids 0 … N−1, HNSW index
        PgVectorHit[][] exact = table.Search(queries, w2, k: 10, PgVectorSearchMode.Exact);
        PgVectorHit[][] fast = table.Search(queries, w2, k: 10, PgVectorSearchMode.Hnsw, efSearch: 100);
        Console.WriteLine($"{table.Count()} rows, vector({table.Dimension}); nearest to query 0: id {exact[0][0].Id}, W2 = {exact[0][0].Distance:F4}");
        #endregion
        Assert.Equal(500, table.Count());
        Assert.Equal(32, table.Dimension);
        // The exact hits are the library's quantile-w2 ranking; the HNSW hits recall most of them.
        using var d = w2.Pairwise(queries, quantiles);
        var library = d.to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray();
        for (var i = 0; i < 5; i++)
        {
            var expected = Enumerable.Range(0, 500).OrderBy(j => library[i * 500 + j]).ThenBy(j => j).Take(10).Select(j => (long)j);
            Assert.Equal(expected, exact[i].Select(h => h.Id));
            Assert.Equal(exact[i].Select(h => labels[h.Id]), exact[i].Select(h => h.Label!.Value));
        }
        var recall = Enumerable.Range(0, 5).Sum(i => fast[i].Select(h => h.Id).Intersect(exact[i].Select(h => h.Id)).Count()) / 50.0;
        Assert.True(recall >= 0.8, $"HNSW recall@10 = {recall}");
    }
}
