using DistEmbed;
using DistEmbed.Retrieval;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/retrieval.md.</summary>
public sealed class RetrievalGuideExamples
{
    [Fact]
    public void Use()
    {
        var folder = Path.Combine(Path.GetTempPath(), "distembed-retrieval-guide-" + Guid.NewGuid().ToString("N"));
        var g = new torch.Generator(3);
        using var galleryValues = torch.randn([2000, 4, 16], generator: g).sort(2).Values;   // 2,000 quantile embeddings
        using var queryValues = torch.randn([5, 4, 16], generator: g).sort(2).Values;
        using var gallery = EmbeddingBatch.Quantiles(galleryValues);
        using var queries = EmbeddingBatch.Quantiles(queryValues);
        long[] ids = Enumerable.Range(0, 2000).Select(i => 5000L + i).ToArray();
        try
        {
            #region snippet:retrieval-use
            var options = new HnswOptions { Connectivity = 16, ExpansionSearch = 128 };
            using var vectors = gallery.ToEuclidean();               // [N, d·Q]: L2 distance = quantile-w2
            using var index = new HnswIndex((int)vectors.shape[1], IndexMetric.Euclidean, options);
            index.Add(ids, vectors);                                  // int64 ids, unique, ≥ 0
            index.Source = "quantile-w2";
            index.Save(folder);                                       // files + manifest (length, SHA-256), atomic

            using var loaded = VectorIndex.Load(folder);              // checks the files before USearch reads them
            using var q = queries.ToEuclidean();
            SearchResult hits = loaded.Search(q, k: 10);              // ids + quantile-w2 distances, nearest first

            using var exact = new ExactIndex((int)vectors.shape[1]);  // exact blocked search, same interface
            exact.Add(ids, vectors);
            SearchResult truth = exact.Search(q, k: 10);
            #endregion
            var overlap = Enumerable.Range(0, 5).Sum(i => hits.IdsOf(i).Intersect(truth.IdsOf(i)).Count());
            Assert.True(overlap >= 45, $"{overlap} of 50 exact neighbours found");
            var w2 = Distance.Create("quantile-w2");
            using var pair = w2.Pairwise(queries, gallery);
            Assert.Equal(pair[0, truth.Ids[0, 0] - 5000].item<float>(), truth.Distances[0, 0], 1e-4);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }
}
