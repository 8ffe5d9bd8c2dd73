namespace DistEmbed.Sequences;

/// <summary>
/// A small serialisable pseudo-random generator (SplitMix64): its whole state is one 64-bit integer, so a training
/// run can store it in a checkpoint and resume the exact same stream.
/// </summary>
/// <remarks>
/// <code>state ← state + 0x9E3779B97F4A7C15;  z ← state;  z ← (z ⊕ (z ≫ 30))·0xBF58476D1CE4E5B9;
/// z ← (z ⊕ (z ≫ 27))·0x94D049BB133111EB;  output z ⊕ (z ≫ 31)</code>
/// [1] G. L. Steele, D. Lea, C. H. Flood, "Fast Splittable Pseudorandom Number Generators", OOPSLA 2014.
/// [2] S. Vigna, "Further scramblings of Marsaglia's xorshift generators" (SplitMix64 reference code), 2015.
/// </remarks>
public sealed class SplitMix64
{
    /// <summary>Creates a generator with the given state (the seed).</summary>
    /// <param name="state">The initial 64-bit state.</param>
    public SplitMix64(ulong state) => State = state;

    /// <summary>The current 64-bit state; assigning it restores a saved stream.</summary>
    public ulong State { get; set; }

    /// <summary>The next 64 random bits.</summary>
    /// <returns>A uniformly distributed 64-bit integer.</returns>
    public ulong NextUInt64()
    {
        State += 0x9E3779B97F4A7C15UL;
        var z = State;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits.</summary>
    /// <returns>u ∈ [0, 1).</returns>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A non-negative 31-bit integer (e.g. a seed for another generator).</summary>
    /// <returns>An integer in [0, 2^31).</returns>
    public int NextInt31() => (int)(NextUInt64() >> 33);

    /// <summary>A standard normal deviate (Box–Muller, two uniforms per call).</summary>
    /// <returns>z ~ N(0, 1).</returns>
    public double NextGaussian()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
