using DistEmbed.Core;
using DistEmbed.Core.Similarity;
using TorchSharp;

namespace DistEmbed;

/// <summary>
/// How similar two embedding spaces of the same N items are: the neighbourhood graph similarity NNGS [1] (and its
/// normalisation against chance), mutual k-NN alignment [2], and linear and RBF centred kernel alignment [3].
/// <code>
/// double[] curve = EmbeddingSpaceSimilarity.Nngs(x, y, new[] { 5, 10, 50 });   // x: float[N,dx], y: float[N,dy]
/// double cka = EmbeddingSpaceSimilarity.LinearCka(x, y);
/// </code>
/// </summary>
/// <remarks>
/// NNGS(X, Y; k) = (1/N) Σ_i |N_X(i) ∩ N_Y(i)| / |N_X(i) ∪ N_Y(i)| over the exact k-NN sets (self excluded, ties to the
/// smaller index); the normalised score is (NNGS − H)/(1 − H) with H(k) = k/(2n − k), n = N − 1. Small k compares
/// local structure, large k global structure. Arrays are copied to float64 tensors on the given device; batches are
/// used where they are. The k-NN graphs are exact and computed in blocks (bounded memory), for any distance name of
/// <see cref="Distances.Names"/>.
///
/// References:
/// [1] T. Tavares, D. Ayres, P. Smaragdis, Measuring similarity between embedding spaces using induced neighborhood
///     graphs, arXiv:2411.08687 (2024).
/// [2] M. Huh, B. Cheung, T. Wang, P. Isola, The Platonic Representation Hypothesis, ICML 2024, arXiv:2405.07987.
/// [3] S. Kornblith, M. Norouzi, H. Lee, G. Hinton, Similarity of Neural Network Representations Revisited,
///     ICML 2019, arXiv:1905.00414; unbiased HSIC: L. Song et al., JMLR 13 (2012), Eq. 5.
/// </remarks>
public static partial class EmbeddingSpaceSimilarity
{
    /// <summary>NNGS(X, Y; k) for each k, for two batches under one distance.</summary>
    /// <param name="x">The first space: N ≥ 2 items of the representation <paramref name="distance"/> accepts.</param>
    /// <param name="y">The second space: the same N items.</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="blockSize">k-NN block size (0 = automatic).</param>
    /// <returns>One value in [0, 1] per entry of <paramref name="ks"/>.</returns>
    /// <exception cref="ArgumentException">Different N (names y); ks empty or out of range (names ks).</exception>
    public static double[] Nngs(EmbeddingBatch x, EmbeddingBatch y, Distance distance, int[] ks, int blockSize = 0) =>
        Neighbourhoods.Nngs(Unwrap(x, nameof(x)), Unwrap(y, nameof(y)), Unwrap(distance), ks, blockSize);

    /// <summary>Normalised NNGS (NNGS − H(k))/(1 − H(k)) for each k, for two batches under one distance.</summary>
    /// <param name="x">The first space (N ≥ 2 items).</param>
    /// <param name="y">The second space (the same N items).</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="blockSize">k-NN block size (0 = automatic).</param>
    /// <returns>One value per entry of <paramref name="ks"/>: 0 at chance, 1 for identical graphs.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Nngs(EmbeddingBatch, EmbeddingBatch, Distance, int[], int)"/>.</exception>
    public static double[] NormalizedNngs(EmbeddingBatch x, EmbeddingBatch y, Distance distance, int[] ks, int blockSize = 0) =>
        Neighbourhoods.NormalizedNngs(Unwrap(x, nameof(x)), Unwrap(y, nameof(y)), Unwrap(distance), ks, blockSize);

    /// <summary>Mutual k-NN alignment (1/N) Σ_i |N_X(i) ∩ N_Y(i)|/k for each k, for two batches under one distance.</summary>
    /// <param name="x">The first space (N ≥ 2 items).</param>
    /// <param name="y">The second space (the same N items).</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="blockSize">k-NN block size (0 = automatic).</param>
    /// <returns>One value in [0, 1] per entry of <paramref name="ks"/>.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Nngs(EmbeddingBatch, EmbeddingBatch, Distance, int[], int)"/>.</exception>
    public static double[] MutualKnn(EmbeddingBatch x, EmbeddingBatch y, Distance distance, int[] ks, int blockSize = 0) =>
        Neighbourhoods.MutualKnn(Unwrap(x, nameof(x)), Unwrap(y, nameof(y)), Unwrap(distance), ks, blockSize);

    /// <summary>Linear CKA between two batches of vectors.</summary>
    /// <param name="x">[N, d_x] vectors (N ≥ 2; N ≥ 4 when unbiased).</param>
    /// <param name="y">[N, d_y] vectors of the same items, on the same device.</param>
    /// <param name="unbiased">True for the unbiased HSIC estimator.</param>
    /// <returns>Linear CKA (in [0, 1] when biased).</returns>
    /// <exception cref="ArgumentException">Not vectors, different N, too few items or a constant space (names x or y).</exception>
    public static double LinearCka(EmbeddingBatch x, EmbeddingBatch y, bool unbiased = false) =>
        Cka.Linear(Unwrap(x, nameof(x)), Unwrap(y, nameof(y)), unbiased);

    /// <summary>RBF CKA between two batches under one distance: K_ij = exp(−d(x_i, x_j)²/(2σ²)).</summary>
    /// <param name="x">N items (N ≥ 2; N ≥ 4 when unbiased).</param>
    /// <param name="y">The same N items in the second space.</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="bandwidth">σ, or the factor of each space's median distance when <paramref name="relativeToMedian"/>; &gt; 0.</param>
    /// <param name="relativeToMedian">True: σ = bandwidth × median pairwise distance of that space.</param>
    /// <param name="unbiased">True for the unbiased HSIC estimator.</param>
    /// <returns>RBF CKA.</returns>
    /// <exception cref="ArgumentException">Different N (names y); bandwidth not positive (names bandwidth); a constant space (names x or y).</exception>
    public static double RbfCka(EmbeddingBatch x, EmbeddingBatch y, Distance distance, double bandwidth = 1.0,
        bool relativeToMedian = true, bool unbiased = false) =>
        Cka.Rbf(Unwrap(x, nameof(x)), Unwrap(y, nameof(y)), Unwrap(distance), bandwidth, relativeToMedian, unbiased, 0);

    internal static IEmbeddingBatch Unwrap(EmbeddingBatch batch, string name) =>
        batch?.Core ?? throw new ArgumentNullException(name);

    internal static IDistance Unwrap(Distance distance) =>
        distance?.Core ?? throw new ArgumentNullException(nameof(distance));

    /// <summary>NNGS(X, Y; k) for each k between two vector spaces given as arrays.</summary>
    /// <param name="x">[N, d_x] vectors.</param>
    /// <param name="y">[N, d_y] vectors of the same items.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="metric">A distance name that accepts vectors: euclidean, sqeuclidean, cosine, lp.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>One value in [0, 1] per entry of <paramref name="ks"/>.</returns>
    /// <exception cref="ArgumentException">Unknown metric (names name); different N (names y); bad ks (names ks).</exception>
    public static double[] Nngs(float[,] x, float[,] y, int[] ks, string metric = "euclidean", string device = Devices.Default) =>
        WithVectors(x, y, metric, device, (bx, by, d) => Neighbourhoods.Nngs(bx, by, d, ks, 0));

    /// <summary>Normalised NNGS for each k between two vector spaces given as arrays.</summary>
    /// <param name="x">[N, d_x] vectors.</param>
    /// <param name="y">[N, d_y] vectors of the same items.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="metric">A distance name that accepts vectors.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>One value per entry of <paramref name="ks"/>.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Nngs(float[,], float[,], int[], string, string)"/>.</exception>
    public static double[] NormalizedNngs(float[,] x, float[,] y, int[] ks, string metric = "euclidean", string device = Devices.Default) =>
        WithVectors(x, y, metric, device, (bx, by, d) => Neighbourhoods.NormalizedNngs(bx, by, d, ks, 0));

    /// <summary>Mutual k-NN alignment for each k between two vector spaces given as arrays.</summary>
    /// <param name="x">[N, d_x] vectors.</param>
    /// <param name="y">[N, d_y] vectors of the same items.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="metric">A distance name that accepts vectors.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>One value in [0, 1] per entry of <paramref name="ks"/>.</returns>
    /// <exception cref="ArgumentException">As for <see cref="Nngs(float[,], float[,], int[], string, string)"/>.</exception>
    public static double[] MutualKnn(float[,] x, float[,] y, int[] ks, string metric = "euclidean", string device = Devices.Default) =>
        WithVectors(x, y, metric, device, (bx, by, d) => Neighbourhoods.MutualKnn(bx, by, d, ks, 0));

    /// <summary>NNGS(X, Y; k) for each k between two spaces of distributions given as [N, T, d] arrays (uniform weights).</summary>
    /// <param name="x">[N, T, d] points: item i is the uniform distribution on its T points.</param>
    /// <param name="y">[N, T', d'] points of the same items.</param>
    /// <param name="ks">Neighbourhood sizes, each in [1, N − 1].</param>
    /// <param name="metric">A distance name that accepts distributions (e.g. <c>marginal-w2</c>, <c>sliced-w2</c>).</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>One value in [0, 1] per entry of <paramref name="ks"/>.</returns>
    /// <exception cref="ArgumentException">Unknown metric, or one that does not accept distributions; different N (names y); bad ks (names ks).</exception>
    public static double[] Nngs(float[,,] x, float[,,] y, int[] ks, string metric = "marginal-w2", string device = Devices.Default)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        using var scope = torch.NewDisposeScope();
        var distance = Distances.Create(metric, null);
        if (distance.Accepts != Core.Representation.Distributions)
            throw new ArgumentException($"metric '{metric}' accepts {Embeddings.Describe(distance.Accepts)}, but x and y are [N, T, d] distributions.", nameof(metric));
        var dev = Devices.Resolve(device);
        using var bx = DistributionBatch.FromTensors(torch.tensor(x, device: dev).to_type(torch.ScalarType.Float64), null);
        using var by = DistributionBatch.FromTensors(torch.tensor(y, device: dev).to_type(torch.ScalarType.Float64), null);
        return Neighbourhoods.Nngs(bx, by, distance, ks, 0);
    }

    /// <summary>Linear CKA between two vector spaces given as arrays.</summary>
    /// <param name="x">[N, d_x] vectors (N ≥ 2; N ≥ 4 when unbiased).</param>
    /// <param name="y">[N, d_y] vectors of the same items.</param>
    /// <param name="unbiased">True for the unbiased HSIC estimator.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>Linear CKA.</returns>
    /// <exception cref="ArgumentException">Different N, too few items or a constant space (names x or y).</exception>
    public static double LinearCka(float[,] x, float[,] y, bool unbiased = false, string device = Devices.Default) =>
        WithVectors(x, y, "euclidean", device, (bx, by, _) => Cka.Linear(bx, by, unbiased));

    /// <summary>RBF CKA between two vector spaces given as arrays.</summary>
    /// <param name="x">[N, d_x] vectors.</param>
    /// <param name="y">[N, d_y] vectors of the same items.</param>
    /// <param name="bandwidth">σ, or the factor of each space's median distance when <paramref name="relativeToMedian"/>; &gt; 0.</param>
    /// <param name="relativeToMedian">True (default): σ = bandwidth × median pairwise distance of that space.</param>
    /// <param name="unbiased">True for the unbiased HSIC estimator.</param>
    /// <param name="metric">A distance name that accepts vectors.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>RBF CKA.</returns>
    /// <exception cref="ArgumentException">Different N (names y); bandwidth not positive (names bandwidth); a constant space (names x or y).</exception>
    public static double RbfCka(float[,] x, float[,] y, double bandwidth = 1.0, bool relativeToMedian = true, bool unbiased = false,
        string metric = "euclidean", string device = Devices.Default) =>
        WithVectors(x, y, metric, device, (bx, by, d) => Cka.Rbf(bx, by, d, bandwidth, relativeToMedian, unbiased, 0));

    /// <summary>The exact k-NN graph of N vectors (self excluded, ties to the smaller index).</summary>
    /// <param name="x">[N, d] vectors, N ≥ 2.</param>
    /// <param name="k">Neighbours per item, 1 ≤ k ≤ N − 1.</param>
    /// <param name="metric">A distance name that accepts vectors.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>N × k neighbour indices, nearest first.</returns>
    /// <exception cref="ArgumentException">k out of range (names k); unknown metric (names name).</exception>
    public static int[,] NearestNeighbours(float[,] x, int k, string metric = "euclidean", string device = Devices.Default)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = torch.NewDisposeScope();
        var distance = VectorDistance(metric);
        using var bx = Vectors(x, nameof(x), Devices.Resolve(device));
        return Core.Similarity.NearestNeighbours.Exact(bx, distance, k, 0).Indices;
    }

    /// <summary>The random baseline H(k) = k/(2n − k), n = N − 1, of NNGS.</summary>
    /// <param name="k">1 ≤ k ≤ N − 1.</param>
    /// <param name="count">The number of items N ≥ 2.</param>
    /// <returns>H(k).</returns>
    /// <exception cref="ArgumentException">count &lt; 2 (names count); k out of range (names k).</exception>
    public static double RandomBaseline(int k, int count) => Neighbourhoods.RandomBaseline(k, count);

    /// <summary>A neighbourhood size from a fraction of the items: k = ⌈f (N − 1)⌉.</summary>
    /// <param name="fraction">0 &lt; f ≤ 1.</param>
    /// <param name="count">The number of items N ≥ 2.</param>
    /// <returns>k in [1, N − 1].</returns>
    /// <exception cref="ArgumentException">fraction outside (0, 1] (names fraction); count &lt; 2 (names count).</exception>
    public static int KFromFraction(double fraction, int count) => Neighbourhoods.KFromFraction(fraction, count);

    private static IDistance VectorDistance(string metric)
    {
        var distance = Distances.Create(metric, null);
        if (distance.Accepts != Core.Representation.Vectors)
            throw new ArgumentException($"metric '{metric}' accepts {Embeddings.Describe(distance.Accepts)}, but x and y are [N, d] vectors.", nameof(metric));
        return distance;
    }

    private static VectorBatch Vectors(float[,] values, string name, torch.Device device)
    {
        if (values.GetLength(0) == 0 || values.GetLength(1) == 0)
            throw new ArgumentException($"{name} has shape [{values.GetLength(0)},{values.GetLength(1)}]; it must be [N, d] with N, d ≥ 1.", name);
        return VectorBatch.FromTensor(torch.tensor(values, device: device).to_type(torch.ScalarType.Float64));
    }

    private static T WithVectors<T>(float[,] x, float[,] y, string metric, string device, Func<IEmbeddingBatch, IEmbeddingBatch, IDistance, T> body)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        using var scope = torch.NewDisposeScope();
        var distance = VectorDistance(metric);
        var dev = Devices.Resolve(device);
        using var bx = Vectors(x, nameof(x), dev);
        using var by = Vectors(y, nameof(y), dev);
        return body(bx, by, distance);
    }
}

