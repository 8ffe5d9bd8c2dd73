using System.Text;

namespace DistEmbed.Verification;

/// <summary>
/// Thrown by a law check that found a case where the law does not hold. The message names the law, the distance, the
/// shrunk counterexample (its values), the observed numbers, the tolerance and the seed that replays the run.
/// </summary>
/// <remarks>Test frameworks (xunit, NUnit, MSTest) report it as a failed test with this message.</remarks>
public sealed class LawViolationException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="law">The law that failed, e.g. <c>triangle inequality</c>.</param>
    /// <param name="distance">The name of the distance under test.</param>
    /// <param name="statement">The law as a formula, e.g. <c>D(x, z) ≤ D(x, y) + D(y, z)</c>.</param>
    /// <param name="counterexample">The shrunk counterexample, one <c>name = value</c> per line.</param>
    /// <param name="observed">The observed numbers, by name (e.g. <c>D(x, z)</c>).</param>
    /// <param name="detail">What went wrong, in words (e.g. the excess over the tolerance).</param>
    /// <param name="tolerance">The tolerance the numbers were compared with (NaN when the check raised an exception).</param>
    /// <param name="seed">The seed of the run (<see cref="VerificationOptions.Seed"/>).</param>
    /// <param name="casesPassed">How many cases passed before the first failing one.</param>
    /// <param name="shrinks">How many times the failing case was shrunk.</param>
    /// <param name="inner">The exception the distance raised, if that is what failed.</param>
    public LawViolationException(
        string law, string distance, string statement, string counterexample, IReadOnlyList<KeyValuePair<string, double>> observed,
        string detail, double tolerance, long seed, int casesPassed, int shrinks, Exception? inner = null)
        : base(Compose(law, distance, statement, counterexample, observed, detail, tolerance, seed, casesPassed, shrinks), inner)
    {
        Law = law;
        Distance = distance;
        Statement = statement;
        Counterexample = counterexample;
        Observed = observed;
        Tolerance = tolerance;
        Seed = seed;
        CasesPassed = casesPassed;
        Shrinks = shrinks;
    }

    /// <summary>The law that failed, e.g. <c>symmetry</c>.</summary>
    public string Law { get; }

    /// <summary>The name of the distance under test.</summary>
    public string Distance { get; }

    /// <summary>The law as a formula.</summary>
    public string Statement { get; }

    /// <summary>The shrunk counterexample, one <c>name = value</c> per line.</summary>
    public string Counterexample { get; }

    /// <summary>The observed numbers, by name, in the order they are printed.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> Observed { get; }

    /// <summary>The tolerance the numbers were compared with (NaN when the distance raised an exception).</summary>
    public double Tolerance { get; }

    /// <summary>The seed that replays the run.</summary>
    public long Seed { get; }

    /// <summary>How many cases passed before the first failing one.</summary>
    public int CasesPassed { get; }

    /// <summary>How many times the failing case was shrunk to the one reported.</summary>
    public int Shrinks { get; }

    private static string Compose(
        string law, string distance, string statement, string counterexample, IReadOnlyList<KeyValuePair<string, double>> observed,
        string detail, double tolerance, long seed, int casesPassed, int shrinks)
    {
        var text = new StringBuilder();
        text.Append($"Law violated: {law} ({statement}) for distance '{distance}'.\n");
        if (observed.Count > 0)
            text.Append("Observed: ").Append(string.Join(", ", observed.Select(o => $"{o.Key} = {Format.Number(o.Value)}"))).Append('\n');
        text.Append(detail).Append('\n');
        if (!double.IsNaN(tolerance)) text.Append($"Tolerance: {Format.Short(tolerance)}\n");
        text.Append($"Counterexample (shrunk {shrinks} times, after {casesPassed} passing cases):\n");
        foreach (var line in counterexample.Split('\n')) text.Append("  ").Append(line).Append('\n');
        text.Append($"Replay: VerificationOptions.Seed = {seed}.");
        return text.ToString();
    }
}
