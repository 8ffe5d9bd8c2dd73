using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Autoencoders;

/// <content>Evaluation: held-out −ELBO, triplet accuracy and retrieval of the posterior means.</content>
public sealed partial class Tvae
{
    /// <summary><see cref="Evaluate(float[,], int[], int, int, int)"/> on an image set.</summary>
    /// <param name="data">The test images and labels (same rows × cols as the model).</param>
    /// <param name="triplets">Number of test triplets (default 10,000).</param>
    /// <param name="tripletSeed">Seed of the test triplets.</param>
    /// <param name="retrievalItems">Images in the retrieval evaluation (default 10,000).</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="ArgumentException">Another image size, or bad counts.</exception>
    public TvaeEvaluation Evaluate(ImageSet data, int triplets = DefaultEvaluationTriplets, int tripletSeed = DefaultEvaluationTripletSeed, int retrievalItems = DefaultRetrievalItems)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Rows != Rows || data.Cols != Cols)
            throw new ArgumentException($"data holds {data.Rows} × {data.Cols} images but the model takes {Rows} × {Cols}.", nameof(data));
        return Evaluate(data.Images, data.Labels, triplets, tripletSeed, retrievalItems);
    }

    /// <summary>
    /// Test-set evaluation: triplet accuracy on seeded random test triplets, the negative ELBO per image, and
    /// precision@1 and MAP@R of retrieval under the model's distance.
    /// </summary>
    /// <remarks>
    /// <para>Triplet accuracy [1, §4] = (1/T) Σ_t 1[d(a_t, p_t) &lt; d(a_t, n_t)] over T triplets from
    /// <see cref="Samplers.TvaeTriplets"/>(labels, T, <paramref name="tripletSeed"/>) — the same triplets for every
    /// model evaluated on the same labels. d is the Euclidean distance between means (VAE, TVAE) or the W2 distance
    /// between posteriors (W-TVAE); <see cref="TvaeEvaluation.TripletAccuracyOfMeans"/> always uses the means.</para>
    /// <para>The negative ELBO uses one posterior sample per image from a generator seeded with <paramref name="tripletSeed"/>.
    /// Triplet accuracy is the library's <see cref="EmbeddingMetrics.TripletAccuracy"/> and retrieval its
    /// <see cref="EmbeddingMetrics.RetrievalWithin"/> (each item a query against the others), both under the Euclidean
    /// distance of float64 copies of the embeddings; retrieval uses the first
    /// <paramref name="retrievalItems"/> images.</para>
    /// </remarks>
    /// <param name="images">[N, rows·cols] test pixels in [0, 1].</param>
    /// <param name="labels">[N] test labels.</param>
    /// <param name="triplets">Number of test triplets T ≥ 1 (default 10,000, as in [1]).</param>
    /// <param name="tripletSeed">Seed of the triplets (default <see cref="DefaultEvaluationTripletSeed"/>).</param>
    /// <param name="retrievalItems">Images in the retrieval evaluation, 2 ≤ value (capped at N; default 10,000).</param>
    /// <returns>The evaluation.</returns>
    /// <exception cref="ArgumentException">Bad images or labels, triplets &lt; 1, retrievalItems &lt; 2.</exception>
    public TvaeEvaluation Evaluate(float[,] images, int[] labels, int triplets = DefaultEvaluationTriplets, int tripletSeed = DefaultEvaluationTripletSeed, int retrievalItems = DefaultRetrievalItems)
    {
        var labels64 = CheckImages(images, labels);
        if (triplets < 1) throw new ArgumentException($"triplets = {triplets}; it must be at least 1.", nameof(triplets));
        if (retrievalItems < 2) throw new ArgumentException($"retrievalItems = {retrievalItems}; it must be at least 2.", nameof(retrievalItems));
        network.eval();
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var (mean, logVariance) = EncodeAll(images);
        var negElbo = MeanNegativeElbo(images, mean, logVariance, tripletSeed);
        var isW2 = Options.Variant == TvaeVariant.WTvae;
        var embedding = isW2 ? VaeMath.W2Embedding(mean, logVariance) : mean;
        var sampled = Samplers.TvaeTriplets(labels64, triplets, tripletSeed);
        var accuracy = TripletAccuracy(embedding, sampled);
        var accuracyOfMeans = isW2 ? TripletAccuracy(mean, sampled) : accuracy;
        var n = Math.Min(retrievalItems, labels.Length);
        var report = Retrieval(embedding.narrow(0, 0, n), labels64.AsSpan(0, n).ToArray());
        return new TvaeEvaluation(accuracy, accuracyOfMeans, negElbo, report.PrecisionAt1, report.MapAtR,
            isW2 ? "w2-gaussians" : "euclidean-means", labels.Length, triplets, tripletSeed, n);
    }

    private double MeanNegativeElbo(float[,] images, Tensor mean, Tensor logVariance, int seed)
    {
        var n = images.GetLength(0);
        using var generator = new Generator(unchecked((ulong)seed), device);
        using var data = tensor(images, device: device);
        var sum = 0.0;
        for (var start = 0; start < n; start += EncodeChunk)
        {
            using var scope = NewDisposeScope();
            var len = Math.Min(EncodeChunk, n - start);
            var m = mean.narrow(0, start, len);
            var v = logVariance.narrow(0, start, len);
            var z = VaeMath.Reparameterise(m, v, generator);
            sum += VaeMath.NegativeElbo(network.DecodeLogits(z), data.narrow(0, start, len), m, v).sum().to_type(ScalarType.Float64).item<double>();
        }
        return sum / n;
    }

    /// <summary>Core <see cref="EmbeddingMetrics.TripletAccuracy"/> of the rows of a float64 copy of the embedding.</summary>
    private static double TripletAccuracy(Tensor embedding, SampledTriplets triplets)
    {
        using var scope = NewDisposeScope();
        var all = embedding.to_type(ScalarType.Float64);
        VectorBatch Rows(int[] index) => VectorBatch.FromTensor(all.index_select(0, tensor(index.Select(i => (long)i).ToArray(), device: all.device)));
        return EmbeddingMetrics.TripletAccuracy(Distances.Euclidean(), Rows(triplets.Anchor), Rows(triplets.Positive), Rows(triplets.Negative));
    }

    /// <summary>Core <see cref="EmbeddingMetrics.RetrievalWithin"/> under the Euclidean distance of a float64 copy.</summary>
    private static RetrievalReport Retrieval(Tensor embedding, long[] labels)
    {
        using var scope = NewDisposeScope();
        using var batch = VectorBatch.FromTensor(embedding.to_type(ScalarType.Float64));
        return EmbeddingMetrics.RetrievalWithin(Distances.Euclidean(), batch, labels, Array.Empty<int>());
    }
}
