namespace DistEmbed.Data;

/// <summary>
/// Seeded random batches of empirical distributions, for examples, smoke tests and benchmarks: item i is
/// T_i points drawn from a two-component Gaussian mixture in ℝ^d whose component means and scales differ per item.
/// </summary>
public static class RandomDistributions
{
    /// <summary>
    /// Draws <paramref name="count"/> distributions of <paramref name="dimension"/> dimensions with between
    /// <paramref name="minLength"/> and <paramref name="maxLength"/> points each (padded to <paramref name="maxLength"/>).
    /// </summary>
    /// <param name="count">Number of distributions N ≥ 1.</param>
    /// <param name="minLength">Fewest points per distribution, 1 ≤ minLength ≤ maxLength.</param>
    /// <param name="maxLength">Most points per distribution T (the padded length).</param>
    /// <param name="dimension">Dimension d ≥ 1.</param>
    /// <param name="seed">Seed of the generator; equal seeds give equal batches.</param>
    /// <returns>Points [N, T, d] (padding rows are zero) and the validity mask [N, T] (1 = point, 0 = padding).</returns>
    /// <exception cref="ArgumentOutOfRangeException">A size is out of range, or count·maxLength·dimension exceeds the largest array.</exception>
    public static (float[,,] Points, float[,] Mask) Generate(int count, int minLength, int maxLength, int dimension, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(minLength, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, minLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        // Checked in 64 bits: the points array holds count·maxLength·dimension values.
        if ((long)count * maxLength * dimension > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(count),
                $"count = {count}, maxLength = {maxLength}, dimension = {dimension} make {(long)count * maxLength * dimension} values, more than one array holds ({Array.MaxLength}).");
        var rng = new Random(seed);
        var points = new float[count, maxLength, dimension];
        var mask = new float[count, maxLength];
        for (var i = 0; i < count; i++)
        {
            var length = rng.Next(minLength, maxLength + 1);
            var means = new double[2, dimension];
            for (var c = 0; c < 2; c++)
                for (var k = 0; k < dimension; k++)
                    means[c, k] = 2.0 * Normal(rng);
            var scales = new[] { 0.5 + rng.NextDouble(), 0.5 + rng.NextDouble() };
            var share = 0.2 + 0.6 * rng.NextDouble();
            for (var t = 0; t < length; t++)
            {
                var c = rng.NextDouble() < share ? 0 : 1;
                for (var k = 0; k < dimension; k++)
                    points[i, t, k] = (float)(means[c, k] + scales[c] * Normal(rng));
                mask[i, t] = 1f;
            }
        }
        return (points, mask);
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    private static double Normal(Random rng)
    {
        var u = 1.0 - rng.NextDouble();
        var v = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v);
    }
}
