namespace DistEmbed.Data;

/// <summary>Training, validation and test parts of a dataset.</summary>
/// <param name="Train">The training sequences.</param>
/// <param name="Valid">The validation sequences.</param>
/// <param name="Test">The test sequences.</param>
public sealed record SequenceSplits(SequenceDataset Train, SequenceDataset Valid, SequenceDataset Test);

/// <summary>Splits of sequence datasets for metric learning.</summary>
public static class Splits
{
    /// <summary>
    /// Splits by class: every class falls wholly into one part, so validation and test measure retrieval of classes
    /// never seen in training (the zero-shot protocol of deep metric learning).
    /// </summary>
    /// <param name="dataset">The dataset, with K ≥ 3 distinct labels.</param>
    /// <param name="validFraction">Share of the classes held out for validation, in (0, 1).</param>
    /// <param name="testFraction">Share of the classes held out for testing, in (0, 1); validFraction + testFraction &lt; 1.</param>
    /// <param name="seed">Seed of the class permutation; equal seeds give equal splits.</param>
    /// <returns>Three datasets with disjoint label sets; labels, ids and label names are kept (not renumbered).</returns>
    /// <remarks>
    /// The distinct labels are shuffled (Fisher–Yates with <c>new Random(seed)</c>); the first
    /// K_test = max(1, round(testFraction·K)) go to test, the next K_valid = max(1, round(validFraction·K)) to
    /// validation, the rest (at least one class) to training. Sequences keep their order within each part.
    /// </remarks>
    /// <exception cref="ArgumentException">A fraction outside (0, 1) or not finite, fractions summing to ≥ 1, or too few
    /// classes to give every part at least one.</exception>
    public static SequenceSplits ClassDisjoint(SequenceDataset dataset, double validFraction, double testFraction, int seed)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        CheckFraction(validFraction, nameof(validFraction));
        CheckFraction(testFraction, nameof(testFraction));
        if (validFraction + testFraction >= 1)
            throw new ArgumentException(
                $"validFraction + testFraction = {validFraction + testFraction} must be < 1 so that some classes remain for training.",
                nameof(testFraction));
        var classes = dataset.Labels.Distinct().Order().ToArray();
        var k = classes.Length;
        var testCount = Math.Max(1, (int)Math.Round(testFraction * k, MidpointRounding.AwayFromZero));
        var validCount = Math.Max(1, (int)Math.Round(validFraction * k, MidpointRounding.AwayFromZero));
        if (testCount + validCount >= k)
            throw new ArgumentException(
                $"the dataset has {k} classes; {testCount} test and {validCount} validation classes would leave none for training.",
                nameof(dataset));
        var rng = new Random(seed);
        for (var i = k - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (classes[i], classes[j]) = (classes[j], classes[i]);
        }
        var test = classes.Take(testCount).ToHashSet();
        var valid = classes.Skip(testCount).Take(validCount).ToHashSet();
        var parts = new List<int>[] { new(), new(), new() };
        for (var i = 0; i < dataset.Count; i++)
        {
            var label = dataset.Labels[i];
            parts[test.Contains(label) ? 2 : valid.Contains(label) ? 1 : 0].Add(i);
        }
        return new SequenceSplits(dataset.Subset(parts[0].ToArray()), dataset.Subset(parts[1].ToArray()), dataset.Subset(parts[2].ToArray()));
    }

    private static void CheckFraction(double fraction, string name)
    {
        if (!double.IsFinite(fraction) || fraction <= 0 || fraction >= 1)
            throw new ArgumentException($"{name} = {fraction} must lie in (0, 1).", name);
    }
}
