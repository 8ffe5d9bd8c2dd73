using DistEmbed.Core;
using GW = DistEmbed.Core.Reference.GromovWasserstein;
using TorchSharp;

namespace DistEmbed;

/// <summary>The Gromov–Wasserstein comparison of two embedding spaces that need not describe the same items.</summary>
/// <param name="Value">The square-loss GW value E(T) = Σ_ijkl (C1_ik − C2_jl)² T_ij T_kl at the coupling found (≥ 0; 0 for
/// isometric spaces, up to the scale normalisation when it is on).</param>
/// <param name="CountX">The number of items of the first space that entered (after subsampling).</param>
/// <param name="CountY">The number of items of the second space that entered (after subsampling).</param>
/// <param name="Iterations">The solver's outer iterations (Frank–Wolfe or mirror-descent steps).</param>
/// <param name="Converged">True when the solver's stopping rule was met before its iteration limit.</param>
public sealed record GromovWassersteinComparison(double Value, int CountX, int CountY, int Iterations, bool Converged);

public static partial class EmbeddingSpaceSimilarity
{
    /// <summary>The default number of items drawn from each space for Gromov–Wasserstein (the solver works on N × N distance matrices).</summary>
    public const int DefaultGromovWassersteinSample = 500;

    /// <summary>
    /// Gromov–Wasserstein discrepancy between two embedding spaces that are not paired: different numbers of items,
    /// different dimensions, no correspondence needed. Each space becomes a metric-measure space (its matrix of
    /// distances between its own items under <paramref name="distance"/>, uniform weights), and the square-loss GW
    /// problem between them is solved by conditional gradient (or, with <paramref name="epsilon"/>, by entropic
    /// mirror descent) as in POT's <c>ot.gromov.gromov_wasserstein2</c> / <c>entropic_gromov_wasserstein2</c>.
    /// </summary>
    /// <param name="x">The first space: N_x ≥ 2 items of the representation <paramref name="distance"/> accepts.</param>
    /// <param name="y">The second space: N_y ≥ 2 items (N_y may differ from N_x; vectors may have another dimension).</param>
    /// <param name="distance">A symmetric distance, used within each space (never between them).</param>
    /// <param name="sampleSize">At most this many items (≥ 2) of each space enter, drawn uniformly without replacement
    /// when a space is larger (default 500): the solver holds N × N matrices and costs O(N³) per step.</param>
    /// <param name="seed">Seed of the subsample draw (the same seed gives the same items).</param>
    /// <param name="normalizeScale">True (default): each distance matrix is divided by its mean off-diagonal entry first, so
    /// the value does not depend on the spaces' units and is 0 for spaces that are similar up to scale; false: raw units
    /// (the value then scales with distance²).</param>
    /// <param name="epsilon">Null (default): the conditional-gradient solver (exact linear minimisation, closed-form line
    /// search). A positive number: entropic GW with this ε, in the units of the (normalised) squared distances.</param>
    /// <returns>The value, the item counts used, the iterations and whether the solver converged.</returns>
    /// <remarks>
    /// <para>GW(C_x, C_y) = min_T Σ_ijkl (C_x,ik − C_y,jl)² T_ij T_kl over couplings T of the uniform weights
    /// (Mémoli 2011; Peyré, Cuturi &amp; Solomon 2016, eq. 2–6). It compares the shapes of the two spaces — their
    /// internal distance structures — and is invariant to isometries of either space and to the order of the items.
    /// The problem is non-convex: both solvers start from the independent coupling and return a stationary point, so
    /// the value is an upper bound on the minimum (see <see cref="GW"/>).</para>
    /// <para>The matrices are made exactly symmetric ((C + Cᵀ)/2) before solving, which removes rounding asymmetry of
    /// the distance kernels; the diagonal is kept as the distance gives it (zero for a metric, up to rounding). The work is done in float64 on the CPU; the distances themselves are computed on the
    /// batches' device.</para>
    /// </remarks>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A space with fewer than 2 items (names x or y); a distance that is not symmetric
    /// (names distance); sampleSize below 2 (names sampleSize); epsilon not a finite positive number (names epsilon).</exception>
    public static GromovWassersteinComparison GromovWasserstein(EmbeddingBatch x, EmbeddingBatch y, Distance distance,
        int sampleSize = DefaultGromovWassersteinSample, int seed = 0, bool normalizeScale = true, double? epsilon = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(distance);
        return GromovWassersteinCore(Unwrap(x, nameof(x)), Unwrap(y, nameof(y)), Unwrap(distance), sampleSize, seed, normalizeScale, epsilon);
    }

    /// <summary>Gromov–Wasserstein on core batches (see the public overload).</summary>
    internal static GromovWassersteinComparison GromovWassersteinCore(IEmbeddingBatch x, IEmbeddingBatch y, IDistance distance,
        int sampleSize, int seed, bool normalizeScale, double? epsilon)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(distance);
        if (sampleSize < 2)
            throw new ArgumentException($"sampleSize = {sampleSize} is invalid; at least 2 items of each space must enter.", nameof(sampleSize));
        if (epsilon is { } e && !(e > 0.0 && double.IsFinite(e)))
            throw new ArgumentException($"epsilon = {e} is invalid; it must be a finite number > 0 (or null for the conditional-gradient solver).", nameof(epsilon));
        if (!distance.IsSymmetric)
            throw new ArgumentException($"distance '{distance.Name}' is not symmetric; Gromov–Wasserstein with the square loss needs a symmetric distance within each space.", nameof(distance));
        var c1 = DistanceMatrix(x, distance, sampleSize, seed, nameof(x), normalizeScale);
        var c2 = DistanceMatrix(y, distance, sampleSize, seed + 1, nameof(y), normalizeScale);
        int n = c1.GetLength(0), m = c2.GetLength(0);
        var p = Enumerable.Repeat(1.0, n).ToArray();
        var q = Enumerable.Repeat(1.0, m).ToArray();
        var r = epsilon is { } eps
            ? GW.Entropic(c1, c2, p, q, eps, 1000, 1e-9)
            : GW.ConditionalGradient(c1, c2, p, q, 200, 1e-9, 1e-9);
        return new GromovWassersteinComparison(r.Value, n, m, r.Iterations, r.Converged);
    }

    /// <summary>Gromov–Wasserstein between two vector spaces given as arrays, which may differ in N and in d.</summary>
    /// <param name="x">[N_x, d_x] vectors, N_x ≥ 2.</param>
    /// <param name="y">[N_y, d_y] vectors, N_y ≥ 2.</param>
    /// <param name="metric">A symmetric distance name that accepts vectors (default euclidean).</param>
    /// <param name="sampleSize">At most this many items of each space (default 500); see
    /// <see cref="GromovWasserstein(EmbeddingBatch, EmbeddingBatch, Distance, int, int, bool, double?)"/>.</param>
    /// <param name="seed">Seed of the subsample draw.</param>
    /// <param name="normalizeScale">True (default): divide each distance matrix by its mean off-diagonal entry.</param>
    /// <param name="epsilon">Null: conditional gradient; positive: entropic GW with this ε.</param>
    /// <param name="device">The device of the distances, a name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>As for the batch overload.</returns>
    /// <exception cref="ArgumentException">Unknown metric or one that does not accept vectors (names metric); an empty
    /// array (names x or y); otherwise as for the batch overload.</exception>
    public static GromovWassersteinComparison GromovWasserstein(float[,] x, float[,] y, string metric = "euclidean",
        int sampleSize = DefaultGromovWassersteinSample, int seed = 0, bool normalizeScale = true, double? epsilon = null,
        string device = Devices.Default) =>
        WithVectors(x, y, metric, device, (bx, by, d) => GromovWassersteinCore(bx, by, d, sampleSize, seed, normalizeScale, epsilon));

    /// <summary>The symmetrised float64 distance matrix of (a subsample of) one space, optionally divided by its mean off-diagonal entry.</summary>
    private static double[,] DistanceMatrix(IEmbeddingBatch space, IDistance distance, int sampleSize, int seed, string name, bool normalize)
    {
        if (space.Count < 2)
            throw new ArgumentException($"{name} has {space.Count} item(s); Gromov–Wasserstein needs at least 2 items in each space.", name);
        using var scope = torch.NewDisposeScope();
        var batch = space;
        IEmbeddingBatch? sample = null;
        if (space.Count > sampleSize)
        {
            var rng = new Random(seed);
            var order = Enumerable.Range(0, space.Count).ToArray();
            // Partial Fisher–Yates: the first sampleSize entries are a uniform draw without replacement.
            for (var i = 0; i < sampleSize; i++)
            {
                var j = rng.Next(i, order.Length);
                (order[i], order[j]) = (order[j], order[i]);
            }
            var chosen = order.Take(sampleSize).Select(i => (long)i).ToArray();
            sample = space.Select(torch.tensor(chosen, device: space.Device));
            batch = sample;
        }
        try
        {
            var d = distance.Pairwise(batch, batch).to_type(torch.ScalarType.Float64).cpu();
            var n = (int)d.shape[0];
            var flat = d.data<double>().ToArray();
            var c = new double[n, n];
            double sum = 0.0;
            for (var i = 0; i < n; i++)
                for (var k = 0; k < n; k++)
                {
                    c[i, k] = 0.5 * (flat[i * n + k] + flat[k * n + i]);
                    if (i != k) sum += c[i, k];
                }
            var mean = sum / ((double)n * (n - 1));
            if (normalize && mean > 0.0)
                for (var i = 0; i < n; i++)
                    for (var k = 0; k < n; k++)
                        c[i, k] /= mean;
            return c;
        }
        finally
        {
            sample?.Dispose();
        }
    }
}
