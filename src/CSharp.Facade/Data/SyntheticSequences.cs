using System.Globalization;

namespace DistEmbed.Data;

/// <summary>
/// Seeded synthetic sequence tasks whose classes differ in the distribution of local patterns while sharing first
/// moments: in every task and every class, each feature has mean 0 and variance 1 at every time step, so the average
/// of the raw features says nothing about the class. Built to test the claim of Abdelwahab &amp; Landwehr [1] that a
/// sequence is better embedded as the distribution of its per-step features than as their mean.
/// </summary>
/// <remarks>
/// <para>Tasks (<see cref="Tasks"/>):</para>
/// <list type="bullet">
/// <item><c>noise-laws</c> (2 channels): the steps are i.i.d.; each channel of a class follows one of 22 standardised
/// laws (Gaussian, Laplace, uniform, Student-t with 5 and 7 degrees of freedom, symmetric bimodal mixtures ±m with
/// m ∈ {0.6, 0.85, 0.97}, centred Gamma(1, 2, 4) skewed left or right, arcsine, Beta(2,5) and Beta(5,2), Gaussian
/// scale mixtures, asymmetric bimodal and trimodal mixtures), all with mean 0 and variance 1. Class k takes the k-th
/// ordered pair of laws in a fixed shuffle of the 22² = 484 pairs, so at most 484 classes.</item>
/// <item><c>motifs</c> (3 channels): a sequence is a chain of motifs of 8 steps drawn from a shared dictionary of 8
/// motifs (fixed), each standardised per channel to mean 0 and variance 1 over its 8 steps, scaled by a random
/// amplitude, with Gaussian noise; the chain starts at a uniform random phase. Class k has its own mixture weights
/// π_k ~ Dirichlet(0.5) over the dictionary. Every step then has mean 0 and variance 1 whatever π_k.</item>
/// <item><c>regimes</c> (2 channels): a two-state Markov chain, started from its stationary law, with class-specific
/// stay probabilities in [0.80, 0.97]; channel 0 has class-specific regime means and variances, channel 1 only
/// regime variances (volatility switching), both solved so that the stationary mixture has mean 0 and variance 1.</item>
/// </list>
/// <para>Class k's definition depends only on the task and k (not on the seed, nor on how many classes are drawn),
/// so class k is the same law in every call; the seed drives the sampled sequences and lengths (uniform in
/// [minLength, maxLength]). Sequence j of class k is drawn from its own generator seeded by (seed, k, j).</para>
/// <para>References: [1] A. Abdelwahab, N. Landwehr, "Deep Distributional Sequence Embeddings Based on a Wasserstein
/// Loss", Neural Processing Letters 54 (2022); arXiv:1912.01933.</para>
/// </remarks>
public static class SyntheticSequences
{
    private const int MotifLength = 8;
    private const int MotifCount = 8;
    private const double MotifNoise = 0.3;

    private static readonly string[] TaskNames = ["noise-laws", "motifs", "regimes"];

    private static readonly (string Name, Func<Random, double> Draw)[] Laws = BuildLaws();

    private static readonly (int A, int B)[] LawPairs = BuildLawPairs();

    private static readonly double[,,] Motifs = BuildMotifs();

    /// <summary>The task names: <c>noise-laws</c>, <c>motifs</c>, <c>regimes</c> (a copy).</summary>
    public static string[] Tasks => (string[])TaskNames.Clone();

    /// <summary>The number of channels C of a task's sequences.</summary>
    /// <param name="task">A name from <see cref="Tasks"/>.</param>
    /// <returns>C: 2 for <c>noise-laws</c> and <c>regimes</c>, 3 for <c>motifs</c>.</returns>
    /// <exception cref="ArgumentException">Unknown task.</exception>
    public static int ChannelsOf(string task) => CheckTask(task) switch
    {
        "motifs" => 3,
        _ => 2,
    };

    /// <summary>The most values (classes × perClass × maxLength × channels) one generated data set may hold: 2^28.</summary>
    public const long MaxValues = 1L << 28;

    /// <summary>The largest number of classes a task can generate: 484 for <c>noise-laws</c>, 100000 otherwise.</summary>
    /// <param name="task">A name from <see cref="Tasks"/>.</param>
    /// <returns>The class limit.</returns>
    /// <exception cref="ArgumentException">Unknown task.</exception>
    public static int MaxClasses(string task) => CheckTask(task) == "noise-laws" ? LawPairs.Length : 100_000;

    /// <summary>Generates <paramref name="perClass"/> sequences of each of the classes 0..classes−1 of a task.</summary>
    /// <param name="task">A name from <see cref="Tasks"/>.</param>
    /// <param name="classes">Number of classes K, 2 ≤ K ≤ <see cref="MaxClasses"/>.</param>
    /// <param name="perClass">Sequences per class, ≥ 1, with classes × perClass × maxLength × channels ≤ <see cref="MaxValues"/>.</param>
    /// <param name="seed">Seed of the samples; equal arguments give equal datasets.</param>
    /// <param name="minLength">Shortest sequence, ≥ 2.</param>
    /// <param name="maxLength">Longest sequence, minLength ≤ maxLength ≤ 100000.</param>
    /// <returns>K·perClass sequences [T_i, C] (class-major order), labels 0..K−1 with descriptive names,
    /// ids <c>{task}-{class}-{j}</c>.</returns>
    /// <exception cref="ArgumentException">Unknown task or an argument out of range (the message names it).</exception>
    public static SequenceDataset Generate(string task, int classes, int perClass, int seed, int minLength, int maxLength)
    {
        task = CheckTask(task);
        if (classes < 2 || classes > MaxClasses(task))
            throw new ArgumentException($"classes = {classes} must lie in [2, {MaxClasses(task)}] for task '{task}'.", nameof(classes));
        if (perClass < 1)
            throw new ArgumentException($"perClass = {perClass} must be ≥ 1.", nameof(perClass));
        if (minLength < 2)
            throw new ArgumentException($"minLength = {minLength} must be ≥ 2.", nameof(minLength));
        if (maxLength < minLength || maxLength > 100_000)
            throw new ArgumentException($"maxLength = {maxLength} must lie in [minLength = {minLength}, 100000].", nameof(maxLength));
        var channels = ChannelsOf(task);
        // Checked in 64 bits: classes × perClass × maxLength × channels bounds the values generated.
        var values = (long)classes * perClass * maxLength * channels;
        if (values > MaxValues)
            throw new ArgumentException(
                $"perClass = {perClass} with {classes} classes of up to {maxLength} steps × {channels} channels could make {values} values, more than the {MaxValues} a synthetic data set may hold; lower perClass, classes or maxLength.",
                nameof(perClass));
        var sequences = new float[classes * perClass][,];
        var labels = new int[classes * perClass];
        var ids = new string[classes * perClass];
        var names = new string[classes];
        for (var k = 0; k < classes; k++)
        {
            var sampler = ClassSampler(task, k, out names[k]);
            for (var j = 0; j < perClass; j++)
            {
                var i = k * perClass + j;
                var rng = new Random(Mix(seed, k, j));
                var length = rng.Next(minLength, maxLength + 1);
                var data = new float[length, channels];
                sampler(rng, data);
                sequences[i] = data;
                labels[i] = k;
                ids[i] = string.Create(CultureInfo.InvariantCulture, $"{task}-{k}-{j}");
            }
        }
        return new SequenceDataset(sequences, labels, ids, names);
    }

    private static string CheckTask(string task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var name = task.Trim().ToLowerInvariant();
        return Array.IndexOf(TaskNames, name) >= 0
            ? name
            : throw new ArgumentException($"unknown synthetic task '{task}'; known: {string.Join(", ", TaskNames)}.", nameof(task));
    }

    /// <summary>The sampler of class k (fills a [T, C] array from a generator) and the class's name.</summary>
    private static Action<Random, float[,]> ClassSampler(string task, int k, out string name)
    {
        switch (task)
        {
            case "noise-laws":
            {
                var (a, b) = LawPairs[k];
                var first = Laws[a].Draw;
                var second = Laws[b].Draw;
                name = $"{Laws[a].Name}+{Laws[b].Name}";
                return (rng, data) =>
                {
                    for (var t = 0; t < data.GetLength(0); t++)
                    {
                        data[t, 0] = (float)first(rng);
                        data[t, 1] = (float)second(rng);
                    }
                };
            }
            case "motifs":
            {
                var definition = new Random(Mix(0x6d6f, k, 1));
                var weights = new double[MotifCount];
                for (var m = 0; m < MotifCount; m++)
                    weights[m] = Gamma(definition, 0.5) + 1e-3;
                var total = weights.Sum();
                var cumulative = new double[MotifCount];
                var running = 0.0;
                for (var m = 0; m < MotifCount; m++)
                {
                    running += weights[m] / total;
                    cumulative[m] = running;
                }
                var dominant = Array.IndexOf(weights, weights.Max());
                name = string.Create(CultureInfo.InvariantCulture, $"motifs-{k}(top m{dominant} {weights[dominant] / total:0.00})");
                return (rng, data) => SampleMotifs(rng, data, cumulative);
            }
            default:
            {
                var definition = new Random(Mix(0x7265, k, 2));
                var stayA = 0.80 + 0.17 * definition.NextDouble();
                var stayB = 0.80 + 0.17 * definition.NextDouble();
                var piA = (1 - stayB) / ((1 - stayA) + (1 - stayB));
                var piB = 1 - piA;
                var explained = 0.2 + 0.65 * definition.NextDouble();
                var meanA = (definition.NextDouble() < 0.5 ? -1 : 1) * Math.Sqrt(explained * piB / piA);
                var meanB = -piA * meanA / piB;
                var ratio0 = Math.Exp((2 * definition.NextDouble() - 1) * Math.Log(3));
                var scale0 = (1 - explained) / (piA * ratio0 + piB);
                var sdA0 = Math.Sqrt(ratio0 * scale0);
                var sdB0 = Math.Sqrt(scale0);
                var ratio1 = Math.Exp((2 * definition.NextDouble() - 1) * Math.Log(6));
                var scale1 = 1 / (piA * ratio1 + piB);
                var sdA1 = Math.Sqrt(ratio1 * scale1);
                var sdB1 = Math.Sqrt(scale1);
                name = string.Create(CultureInfo.InvariantCulture,
                    $"regimes-{k}(stay {stayA:0.00}/{stayB:0.00}, mean {meanA:0.00}/{meanB:0.00}, vol {sdA1:0.00}/{sdB1:0.00})");
                return (rng, data) =>
                {
                    var inA = rng.NextDouble() < piA;
                    for (var t = 0; t < data.GetLength(0); t++)
                    {
                        if (t > 0 && rng.NextDouble() >= (inA ? stayA : stayB))
                            inA = !inA;
                        data[t, 0] = (float)(inA ? meanA + sdA0 * Normal(rng) : meanB + sdB0 * Normal(rng));
                        data[t, 1] = (float)((inA ? sdA1 : sdB1) * Normal(rng));
                    }
                };
            }
        }
    }

    /// <summary>Fills a sequence with a chain of dictionary motifs drawn from the class mixture, from a random phase.</summary>
    private static void SampleMotifs(Random rng, float[,] data, double[] cumulative)
    {
        // Amplitude a ~ U(0.7, 1.3) has E a² = 1.03; together with the noise the step variance is 1.03 + σ²,
        // divided out so that every step has variance exactly 1.
        var norm = 1.0 / Math.Sqrt(1.03 + MotifNoise * MotifNoise);
        var position = rng.Next(MotifLength);
        var motif = Pick(rng, cumulative);
        var amplitude = 0.7 + 0.6 * rng.NextDouble();
        for (var t = 0; t < data.GetLength(0); t++)
        {
            if (position == MotifLength)
            {
                position = 0;
                motif = Pick(rng, cumulative);
                amplitude = 0.7 + 0.6 * rng.NextDouble();
            }
            for (var c = 0; c < data.GetLength(1); c++)
                data[t, c] = (float)(norm * (amplitude * Motifs[motif, position, c] + MotifNoise * Normal(rng)));
            position++;
        }
    }

    private static int Pick(Random rng, double[] cumulative)
    {
        var u = rng.NextDouble();
        for (var m = 0; m < cumulative.Length - 1; m++)
            if (u < cumulative[m])
                return m;
        return cumulative.Length - 1;
    }

    /// <summary>The shared motif dictionary [M, L, C]: smoothed Gaussian shapes, standardised per motif and channel.</summary>
    private static double[,,] BuildMotifs()
    {
        var rng = new Random(0x4d4f54);
        var motifs = new double[MotifCount, MotifLength, 3];
        for (var m = 0; m < MotifCount; m++)
            for (var c = 0; c < 3; c++)
            {
                var raw = new double[MotifLength];
                var level = Normal(rng);
                for (var p = 0; p < MotifLength; p++)
                {
                    level = 0.6 * level + Normal(rng);
                    raw[p] = level;
                }
                var mean = raw.Average();
                var sd = Math.Sqrt(raw.Select(v => (v - mean) * (v - mean)).Average());
                for (var p = 0; p < MotifLength; p++)
                    motifs[m, p, c] = (raw[p] - mean) / sd;
            }
        return motifs;
    }

    /// <summary>The 22 laws of <c>noise-laws</c>, each with mean 0 and variance 1.</summary>
    private static (string, Func<Random, double>)[] BuildLaws()
    {
        var laws = new List<(string, Func<Random, double>)>
        {
            ("gaussian", Normal),
            ("laplace", rng => (Exponential(rng) - Exponential(rng)) / Math.Sqrt(2)),
            ("uniform", rng => Math.Sqrt(3) * (2 * rng.NextDouble() - 1)),
        };
        foreach (var nu in new[] { 5, 7 })
            laws.Add(($"student-t{nu}", rng =>
            {
                var chi2 = 0.0;
                for (var i = 0; i < nu; i++)
                {
                    var z = Normal(rng);
                    chi2 += z * z;
                }
                return Normal(rng) / Math.Sqrt(chi2 / nu) * Math.Sqrt((nu - 2.0) / nu);
            }));
        foreach (var m in new[] { 0.6, 0.85, 0.97 })
            laws.Add((string.Create(CultureInfo.InvariantCulture, $"bimodal{m}"),
                rng => (rng.NextDouble() < 0.5 ? -m : m) + Math.Sqrt(1 - m * m) * Normal(rng)));
        foreach (var shape in new[] { 1, 2, 4 })
            foreach (var sign in new[] { 1, -1 })
                laws.Add(($"gamma{shape}-{(sign > 0 ? "right" : "left")}",
                    rng => sign * (Gamma(rng, shape) - shape) / Math.Sqrt(shape)));
        laws.Add(("arcsine", rng =>
        {
            var s = Math.Sin(Math.PI * rng.NextDouble() / 2);
            return (s * s - 0.5) * Math.Sqrt(8);
        }));
        foreach (var (a, b) in new[] { (2, 5), (5, 2) })
        {
            double mean = a / (double)(a + b), sd = Math.Sqrt(a * b / ((a + b) * (a + b) * (a + b + 1.0)));
            laws.Add(($"beta{a}{b}", rng =>
            {
                var x = Gamma(rng, a);
                return (x / (x + Gamma(rng, b)) - mean) / sd;
            }));
        }
        foreach (var p in new[] { 0.1, 0.3 })
        {
            // With probability p a component 3× wider: p·9s² + (1−p)s² = 1.
            var narrow = Math.Sqrt(1 / (1 + 8 * p));
            laws.Add((string.Create(CultureInfo.InvariantCulture, $"scale-mixture{p}"),
                rng => (rng.NextDouble() < p ? 3 * narrow : narrow) * Normal(rng)));
        }
        foreach (var sign in new[] { 1, -1 })
            // Weight 0.2 at 1.6 and 0.8 at −0.4: mean 0, between-variance 0.64, within-variance 0.36.
            laws.Add(($"asymmetric-bimodal-{(sign > 0 ? "right" : "left")}",
                rng => sign * ((rng.NextDouble() < 0.2 ? 1.6 : -0.4) + 0.6 * Normal(rng))));
        // Equal weights at −1.1, 0, 1.1: between-variance 2·1.21/3, the rest within.
        laws.Add(("trimodal", rng => 1.1 * (rng.Next(3) - 1) + Math.Sqrt(1 - 2 * 1.21 / 3) * Normal(rng)));
        return laws.ToArray();
    }

    private static (int, int)[] BuildLawPairs()
    {
        var count = Laws.Length;
        var pairs = new (int, int)[count * count];
        for (var a = 0; a < count; a++)
            for (var b = 0; b < count; b++)
                pairs[a * count + b] = (a, b);
        var rng = new Random(0x6e6c);
        for (var i = pairs.Length - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (pairs[i], pairs[j]) = (pairs[j], pairs[i]);
        }
        return pairs;
    }

    /// <summary>A seed from three integers (SplitMix64 finaliser), so that (seed, class, item) streams do not overlap.</summary>
    private static int Mix(int seed, int a, int b)
    {
        unchecked
        {
            var z = (ulong)(uint)seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)a * 0xC2B2AE3D27D4EB4FUL ^ (ulong)(uint)b * 0x165667B19E3779F9UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(z & 0x7FFFFFFF);
        }
    }

    private static double Normal(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static double Exponential(Random rng) => -Math.Log(1.0 - rng.NextDouble());

    /// <summary>Gamma(shape, 1): a sum of exponentials for integer shapes, Z²/2 for shape 1/2.</summary>
    private static double Gamma(Random rng, double shape)
    {
        if (shape == 0.5)
        {
            var z = Normal(rng);
            return z * z / 2;
        }
        var sum = 0.0;
        for (var i = 0; i < (int)shape; i++)
            sum += Exponential(rng);
        return sum;
    }
}
