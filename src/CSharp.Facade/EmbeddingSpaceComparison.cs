using System.Globalization;
using DistEmbed.Core;
using DistEmbed.Core.Similarity;

namespace DistEmbed;

/// <summary>One value of <see cref="EmbeddingSpaceComparison.Compare"/>: a measure, its neighbourhood size and the value.</summary>
/// <param name="Measure">The measure name (one of <see cref="EmbeddingSpaceComparison.MeasureNames"/>).</param>
/// <param name="K">The neighbourhood size, or null for CKA.</param>
/// <param name="Value">The value.</param>
public sealed record SimilarityMeasurement(string Measure, int? K, double Value);

/// <summary>
/// Several measures of <see cref="EmbeddingSpaceSimilarity"/> by name over two embedding batches of the same N items —
/// NNGS, normalised NNGS and mutual k-NN at several k (the k-NN graphs computed once for the largest k), linear and RBF
/// CKA — as <c>distembed compare</c> reports them; and Gromov–Wasserstein (<c>gw</c>), which also compares spaces of
/// different items (<see cref="EmbeddingSpaceSimilarity.GromovWasserstein(EmbeddingBatch, EmbeddingBatch, Distance, int, int, bool, double?)"/>).
/// </summary>
public static class EmbeddingSpaceComparison
{
    /// <summary>The measure names: nngs, nngs-normalized, mutual-knn, cka-linear, cka-rbf, gw.</summary>
    public static IReadOnlyList<string> MeasureNames { get; } = ["nngs", "nngs-normalized", "mutual-knn", "cka-linear", "cka-rbf", "gw"];

    /// <summary>The measures that take neighbourhood sizes k (the others are CKA).</summary>
    public static IReadOnlyList<string> NeighbourhoodMeasures { get; } = ["nngs", "nngs-normalized", "mutual-knn"];

    /// <summary>Parses a comma-separated list of measure names (case-insensitive, blanks ignored).</summary>
    /// <param name="measures">For example <c>nngs,cka-linear</c>.</param>
    /// <returns>The names, lower-case, in order.</returns>
    /// <exception cref="ArgumentException">An empty list or an unknown name (names measures).</exception>
    public static string[] ParseMeasures(string measures)
    {
        ArgumentNullException.ThrowIfNull(measures);
        var names = measures.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => m.ToLowerInvariant()).ToArray();
        if (names.Length == 0) throw new ArgumentException("measures is empty; valid: " + string.Join(", ", MeasureNames) + ".", nameof(measures));
        foreach (var m in names)
            if (!MeasureNames.Contains(m))
                throw new ArgumentException($"unknown measure '{m}'; valid: {string.Join(", ", MeasureNames)}.", nameof(measures));
        return names;
    }

    /// <summary>Parses neighbourhood sizes: integers as they are, numbers with a decimal point as fractions f of N
    /// (k = <see cref="EmbeddingSpaceSimilarity.KFromFraction"/>(f, N)).</summary>
    /// <param name="k">Comma-separated sizes, for example <c>5,10,0.1</c>.</param>
    /// <param name="count">The number of items N.</param>
    /// <returns>The sizes, each in [1, N − 1].</returns>
    /// <exception cref="ArgumentException">An empty list, an entry that is not a number, a fraction outside (0, 1], or a k outside [1, N − 1] (names k).</exception>
    public static int[] ParseKs(string k, int count)
    {
        ArgumentNullException.ThrowIfNull(k);
        var parts = k.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException("k is empty; give at least one neighbourhood size.", nameof(k));
        return parts.Select(s =>
        {
            if (int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                if (value < 1 || value > count - 1)
                    throw new ArgumentException($"k = {value} is invalid for N = {count}; it must lie in [1, N − 1] = [1, {count - 1}].", nameof(k));
                return value;
            }
            if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var f))
            {
                if (!(f > 0.0 && f <= 1.0))
                    throw new ArgumentException($"'{s}' is invalid; a fraction of N must lie in (0, 1].", nameof(k));
                return Neighbourhoods.KFromFraction(f, count);
            }
            throw new ArgumentException($"'{s}' is not a number; give integers (5) or fractions of N (0.1).", nameof(k));
        }).ToArray();
    }

    /// <summary>Computes the named measures between two spaces under one distance, in the order asked for (per measure, per k).</summary>
    /// <param name="x">The first space: N ≥ 2 items of the representation <paramref name="distance"/> accepts.</param>
    /// <param name="y">The second space: the same N items.</param>
    /// <param name="distance">The distance used in both spaces.</param>
    /// <param name="measures">Names of <see cref="MeasureNames"/>.</param>
    /// <param name="ks">Neighbourhood sizes in [1, N − 1] (needed only for the neighbourhood measures).</param>
    /// <param name="bandwidth">RBF CKA: σ as a multiple of each space's median distance, or σ itself when <paramref name="relativeToMedian"/> is false.</param>
    /// <param name="relativeToMedian">RBF CKA: true for σ = bandwidth × median distance.</param>
    /// <param name="unbiased">CKA with the unbiased HSIC estimator (Song et al., JMLR 13 (2012), Eq. 5).</param>
    /// <param name="gwSampleSize">gw: at most this many items of each space (default 500).</param>
    /// <param name="gwSeed">gw: seed of the subsample.</param>
    /// <param name="gwNormalizeScale">gw: divide each distance matrix by its mean off-diagonal entry (default true).</param>
    /// <param name="gwEpsilon">gw: null for the conditional-gradient solver, or the entropic ε.</param>
    /// <returns>The values: one per (neighbourhood measure, k), one per CKA or gw measure.</returns>
    /// <exception cref="ArgumentException">Different N with a measure other than gw (names y), N &lt; 2 (names x or y), an
    /// unknown measure or cka-linear on distributions (names measures), a neighbourhood measure without ks or a k out of
    /// range (names ks), a bad gw setting (names gwSampleSize or gwEpsilon).</exception>
    public static IReadOnlyList<SimilarityMeasurement> Compare(EmbeddingBatch x, EmbeddingBatch y, Distance distance, IReadOnlyList<string> measures,
        IReadOnlyList<int> ks, double bandwidth = 1.0, bool relativeToMedian = true, bool unbiased = false,
        int gwSampleSize = EmbeddingSpaceSimilarity.DefaultGromovWassersteinSample, int gwSeed = 0, bool gwNormalizeScale = true, double? gwEpsilon = null) =>
        CompareCore(EmbeddingSpaceSimilarity.Unwrap(x, nameof(x)), EmbeddingSpaceSimilarity.Unwrap(y, nameof(y)), EmbeddingSpaceSimilarity.Unwrap(distance),
            measures, ks, bandwidth, relativeToMedian, unbiased, gwSampleSize, gwSeed, gwNormalizeScale, gwEpsilon);

    private static IReadOnlyList<SimilarityMeasurement> CompareCore(IEmbeddingBatch x, IEmbeddingBatch y, IDistance distance, IReadOnlyList<string> measures,
        IReadOnlyList<int> ks, double bandwidth, bool relativeToMedian, bool unbiased, int gwSampleSize, int gwSeed, bool gwNormalizeScale, double? gwEpsilon)
    {
        ArgumentNullException.ThrowIfNull(measures);
        ArgumentNullException.ThrowIfNull(ks);
        var names = measures.Select(m => (m ?? "").Trim().ToLowerInvariant()).ToArray();
        var paired = names.Where(m => m != "gw").Distinct().ToArray();
        if (x.Count != y.Count && paired.Length > 0)
            throw new ArgumentException($"y has {y.Count} items but x has {x.Count}; {string.Join(", ", paired)} compare the same N items in both spaces (only gw compares spaces of different items).", nameof(y));
        if (x.Count < 2) throw new ArgumentException($"x has {x.Count} item(s); comparing spaces needs N ≥ 2.", nameof(x));
        if (y.Count < 2) throw new ArgumentException($"y has {y.Count} item(s); comparing spaces needs N ≥ 2.", nameof(y));
        if (names.Contains("gw") && gwSampleSize < 2)
            throw new ArgumentException($"gwSampleSize = {gwSampleSize} is invalid; at least 2 items of each space must enter.", nameof(gwSampleSize));
        if (names.Contains("gw") && gwEpsilon is { } ge && !(ge > 0.0 && double.IsFinite(ge)))
            throw new ArgumentException($"gwEpsilon = {ge} is invalid; it must be a finite number > 0 (or null for the conditional-gradient solver).", nameof(gwEpsilon));
        if (names.Length == 0) throw new ArgumentException("measures is empty; valid: " + string.Join(", ", MeasureNames) + ".", nameof(measures));
        foreach (var m in names)
            if (!MeasureNames.Contains(m))
                throw new ArgumentException($"unknown measure '{m}'; valid: {string.Join(", ", MeasureNames)}.", nameof(measures));
        var neighbourhood = names.Any(m => NeighbourhoodMeasures.Contains(m));
        var k = ks.ToArray();
        if (neighbourhood)
        {
            if (k.Length == 0) throw new ArgumentException("ks is empty; the neighbourhood measures need at least one k.", nameof(ks));
            foreach (var v in k)
                if (v < 1 || v > x.Count - 1)
                    throw new ArgumentException($"k = {v} is invalid for N = {x.Count}; it must lie in [1, N − 1] = [1, {x.Count - 1}].", nameof(ks));
        }
        if (names.Contains("cka-linear") && distance.Accepts != Core.Representation.Vectors)
            throw new ArgumentException($"cka-linear needs [N,d] vectors, but the distance {distance.Name} reads {distance.Accepts}; use cka-rbf.", nameof(measures));
        var results = new List<SimilarityMeasurement>();
        NeighbourGraph? gx = null, gy = null;
        if (neighbourhood)
        {
            gx = NearestNeighbours.Exact(x, distance, k.Max(), 0);
            gy = NearestNeighbours.Exact(y, distance, k.Max(), 0);
        }
        foreach (var m in names)
        {
            double[]? values = m switch
            {
                "nngs" => Neighbourhoods.NngsOfGraphs(gx!, gy!, k),
                "nngs-normalized" => Neighbourhoods.NormalizedNngsOfGraphs(gx!, gy!, k),
                "mutual-knn" => Neighbourhoods.MutualKnnOfGraphs(gx!, gy!, k),
                _ => null,
            };
            if (values is not null)
                results.AddRange(k.Select((kk, j) => new SimilarityMeasurement(m, kk, values[j])));
            else if (m == "gw")
                results.Add(new SimilarityMeasurement(m, null,
                    EmbeddingSpaceSimilarity.GromovWassersteinCore(x, y, distance, gwSampleSize, gwSeed, gwNormalizeScale, gwEpsilon).Value));
            else if (m == "cka-linear")
                results.Add(new SimilarityMeasurement(m, null, Cka.Linear(x, y, unbiased)));
            else
                results.Add(new SimilarityMeasurement(m, null, Cka.Rbf(x, y, distance, bandwidth, relativeToMedian, unbiased, 0)));
        }
        return results;
    }
}
