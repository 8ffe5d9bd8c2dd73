using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed;

/// <summary>
/// Distances between embeddings given as plain .NET arrays — the shortest path from C#:
/// <code>
/// double[,] d = ArrayDistances.Pairwise(a, b, "marginal-w2");   // a: float[N,T,d], b: float[M,T',d]
/// </code>
/// Names are those of <see cref="Distances.Names"/>; settings as in <see cref="DistanceSettings"/>. Every method also
/// takes a <see cref="Distance"/> instead of a name — a catalog distance made once, or your own
/// (<see cref="CustomDistance"/>, <see cref="Distance.Custom"/>). Computation runs in float64 on the CPU unless a device
/// is given.
/// </summary>
public static class ArrayDistances
{
    /// <summary>D(a_i, b_j) for all i, j between two batches of distributions (optionally masked), as an N × M array.</summary>
    /// <param name="a">[N, T, d] points.</param>
    /// <param name="b">[M, T', d] points (T' may differ from T).</param>
    /// <param name="metric">A distance name that accepts distributions (e.g. <c>marginal-w2</c>, <c>sliced-w2</c>, <c>sinkhorn-divergence</c>).</param>
    /// <param name="options">Distance options, or null for the defaults.</param>
    /// <param name="aMask">[N, T] mask or weights of <paramref name="a"/> (0 = padding), or null.</param>
    /// <param name="bMask">[M, T'] mask or weights of <paramref name="b"/>, or null.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>N × M distances.</returns>
    public static double[,] Pairwise(float[,,] a, float[,,] b, string metric, DistanceSettings? options = null,
        float[,]? aMask = null, float[,]? bMask = null, string device = Devices.Default)
    {
        using var scope = torch.NewDisposeScope();
        var (distance, x, y) = Prepare(a, aMask, b, bMask, metric, options, device);
        using var _ = torch.no_grad();
        return To2D(distance.Pairwise(x, y));
    }

    /// <summary>D(a_i, b_i) for i = 1..N between two batches of distributions, as a length-N array.</summary>
    /// <param name="a">[N, T, d] points.</param>
    /// <param name="b">[N, T', d] points.</param>
    /// <param name="metric">A distance name that accepts distributions.</param>
    /// <param name="options">Distance options, or null for the defaults.</param>
    /// <param name="aMask">[N, T] mask or weights of <paramref name="a"/>, or null.</param>
    /// <param name="bMask">[N, T'] mask or weights of <paramref name="b"/>, or null.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>N distances.</returns>
    public static double[] Paired(float[,,] a, float[,,] b, string metric, DistanceSettings? options = null,
        float[,]? aMask = null, float[,]? bMask = null, string device = Devices.Default)
    {
        using var scope = torch.NewDisposeScope();
        var (distance, x, y) = Prepare(a, aMask, b, bMask, metric, options, device);
        using var _ = torch.no_grad();
        return distance.Paired(x, y).cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
    }

    /// <summary>D(a_i, b_j) for all i, j between two batches of vectors, as an N × M array.</summary>
    /// <param name="a">[N, d] vectors.</param>
    /// <param name="b">[M, d] vectors.</param>
    /// <param name="metric">A distance name that accepts vectors (euclidean, sqeuclidean, cosine, lp).</param>
    /// <param name="options">Distance options, or null for the defaults.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>N × M distances.</returns>
    public static double[,] Pairwise(float[,] a, float[,] b, string metric, DistanceSettings? options = null, string device = Devices.Default)
    {
        using var scope = torch.NewDisposeScope();
        var distance = Distances.Create(metric, options?.ToCore());
        var dev = Devices.Resolve(device);
        var (x, y) = (Vectors(a, distance, nameof(a), dev), Vectors(b, distance, nameof(b), dev));
        using var _ = torch.no_grad();
        return To2D(distance.Pairwise(x, y));
    }

    private static IEmbeddingBatch Vectors(float[,] values, IDistance distance, string name, torch.Device device)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        if (distance.Accepts != Core.Representation.Vectors)
            throw new ArgumentException($"distance '{distance.Name}' accepts {Embeddings.Describe(distance.Accepts)}, but {name} holds vectors [N, d].", name);
        return Rename(name, () => VectorBatch.FromTensor(torch.tensor(values, device: device).to_type(torch.ScalarType.Float64)));
    }

    /// <summary>D(a_i, b_j) for all i, j between two batches of distributions (optionally masked) under a given distance.</summary>
    /// <param name="a">[N, T, d] points.</param>
    /// <param name="b">[M, T', d] points (T' may differ from T).</param>
    /// <param name="distance">A distance that accepts distributions: a catalog one or your own.</param>
    /// <param name="aMask">[N, T] mask or weights of <paramref name="a"/> (0 = padding), or null.</param>
    /// <param name="bMask">[M, T'] mask or weights of <paramref name="b"/>, or null.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>N × M distances.</returns>
    /// <exception cref="ArgumentException">A distance for vectors (names a), or arrays of the wrong shape (named).</exception>
    public static double[,] Pairwise(float[,,] a, float[,,] b, Distance distance, float[,]? aMask = null, float[,]? bMask = null, string device = Devices.Default)
    {
        ArgumentNullException.ThrowIfNull(distance);
        using var scope = torch.NewDisposeScope();
        var (x, y) = Batches(a, aMask, b, bMask, distance.Core, device);
        using var _ = torch.no_grad();
        return To2D(distance.Core.Pairwise(x, y));
    }

    /// <summary>D(a_i, b_i) for i = 1..N between two batches of distributions under a given distance.</summary>
    /// <param name="a">[N, T, d] points.</param>
    /// <param name="b">[N, T', d] points.</param>
    /// <param name="distance">A distance that accepts distributions: a catalog one or your own.</param>
    /// <param name="aMask">[N, T] mask or weights of <paramref name="a"/>, or null.</param>
    /// <param name="bMask">[N, T'] mask or weights of <paramref name="b"/>, or null.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>N distances.</returns>
    /// <exception cref="ArgumentException">A distance for vectors (names a), arrays of the wrong shape (named), or N ≠ M.</exception>
    public static double[] Paired(float[,,] a, float[,,] b, Distance distance, float[,]? aMask = null, float[,]? bMask = null, string device = Devices.Default)
    {
        ArgumentNullException.ThrowIfNull(distance);
        using var scope = torch.NewDisposeScope();
        var (x, y) = Batches(a, aMask, b, bMask, distance.Core, device);
        using var _ = torch.no_grad();
        return distance.Core.Paired(x, y).cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
    }

    /// <summary>D(a_i, b_j) for all i, j between two batches of vectors under a given distance.</summary>
    /// <param name="a">[N, d] vectors.</param>
    /// <param name="b">[M, d] vectors.</param>
    /// <param name="distance">A distance that accepts vectors: a catalog one or your own.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>N × M distances.</returns>
    /// <exception cref="ArgumentException">A distance for another representation (names a).</exception>
    public static double[,] Pairwise(float[,] a, float[,] b, Distance distance, string device = Devices.Default)
    {
        ArgumentNullException.ThrowIfNull(distance);
        using var scope = torch.NewDisposeScope();
        var dev = Devices.Resolve(device);
        var (x, y) = (Vectors(a, distance.Core, nameof(a), dev), Vectors(b, distance.Core, nameof(b), dev));
        using var _ = torch.no_grad();
        return To2D(distance.Core.Pairwise(x, y));
    }

    /// <summary>The distance and both batches of a distributions call, the device resolved once.</summary>
    private static (IDistance Distance, IEmbeddingBatch A, IEmbeddingBatch B) Prepare(float[,,] a, float[,]? aMask,
        float[,,] b, float[,]? bMask, string metric, DistanceSettings? options, string device)
    {
        var distance = Distances.Create(metric, options?.ToCore());
        var (x, y) = Batches(a, aMask, b, bMask, distance, device);
        return (distance, x, y);
    }

    /// <summary>Both batches of a distributions call, the device resolved once.</summary>
    private static (IEmbeddingBatch A, IEmbeddingBatch B) Batches(float[,,] a, float[,]? aMask, float[,,] b, float[,]? bMask, IDistance distance, string device)
    {
        var dev = Devices.Resolve(device);
        return (Batch(a, aMask, distance, nameof(a), dev), Batch(b, bMask, distance, nameof(b), dev));
    }

    private static IEmbeddingBatch Batch(float[,,] points, float[,]? mask, IDistance distance, string name, torch.Device dev)
    {
        ArgumentNullException.ThrowIfNull(points, name);
        var t = torch.tensor(points, device: dev).to_type(torch.ScalarType.Float64);
        if (distance.Accepts == Core.Representation.Vectors)
            throw new ArgumentException($"distance '{distance.Name}' accepts vectors [N, d], but {name} holds distributions [N, T, d].", name);
        if (mask is not null && (mask.GetLength(0) != points.GetLength(0) || mask.GetLength(1) != points.GetLength(1)))
            throw new ArgumentException(
                $"{name}Mask has shape [{mask.GetLength(0)},{mask.GetLength(1)}] but {name} has shape [{points.GetLength(0)},{points.GetLength(1)},{points.GetLength(2)}]; it must be [N, T].",
                name + "Mask");
        var m = mask is null ? null : torch.tensor(mask, device: dev).to_type(torch.ScalarType.Float64);
        return Rename(name, () => Embeddings.FromTensor(t, m, (Representation)(int)distance.Accepts).Core);
    }

    private static IEmbeddingBatch Rename(string name, Func<IEmbeddingBatch> build)
    {
        try { return build(); }
        catch (ArgumentException e) when (e.ParamName is "values" or "points" or "weights")
        {
            throw new ArgumentException($"{name}: {IO.ArgumentMessages.Bare(e)}", e.ParamName == "weights" ? name + "Mask" : name, e);
        }
    }

    private static double[,] To2D(torch.Tensor t)
    {
        var flat = t.cpu().to_type(torch.ScalarType.Float64).data<double>().ToArray();
        var (n, m) = ((int)t.shape[0], (int)t.shape[1]);
        var r = new double[n, m];
        Buffer.BlockCopy(flat, 0, r, 0, flat.Length * sizeof(double));
        return r;
    }
}
