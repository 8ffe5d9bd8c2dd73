using DistEmbed.Data;

namespace DistEmbed.Facade.Tests;

/// <summary>A small private generator of labelled sequences for the sequence-model tests.</summary>
internal static class SequenceTestData
{
    /// <summary>
    /// Classes differ in the distribution of local patterns with equal means: class c draws each step from ±a_c with a
    /// class-specific a_c and a class-specific lag-1 sign pattern; two channels.
    /// </summary>
    public static SequenceDataset Make(int classes, int perClass, int seed, int minLength = 8, int maxLength = 16, int labelOffset = 0)
    {
        var rng = new Random(seed);
        var sequences = new List<float[,]>();
        var labels = new List<int>();
        for (var c = 0; c < classes; c++)
        {
            var amplitude = 0.5 + c * 0.35;
            var flip = c % 2 == 0 ? 0.2 : 0.8;
            for (var i = 0; i < perClass; i++)
            {
                var n = rng.Next(minLength, maxLength + 1);
                var s = new float[n, 2];
                var sign = 1.0;
                for (var t = 0; t < n; t++)
                {
                    if (rng.NextDouble() < flip) sign = -sign;
                    s[t, 0] = (float)(sign * amplitude + 0.1 * (rng.NextDouble() - 0.5));
                    s[t, 1] = (float)(rng.NextDouble() - 0.5);
                }
                sequences.Add(s);
                labels.Add(c + labelOffset);
            }
        }
        return new SequenceDataset(sequences, labels);
    }
}
