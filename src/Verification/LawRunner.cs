using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace DistEmbed.Verification;

/// <summary>What a failing case showed: the words, the numbers, the tolerance, extra counterexample lines (derived
/// inputs such as a permuted copy) and the exception the distance raised, if any.</summary>
internal sealed record Violation(
    string Detail, IReadOnlyList<KeyValuePair<string, double>> Observed, double Tolerance, IReadOnlyList<string> Extra, Exception? Inner = null);

/// <summary>Runs one law as an FsCheck property with the options' seed and number of cases, and turns the shrunk
/// failing case into a <see cref="LawViolationException"/>.</summary>
internal static class LawRunner
{
    /// <summary>The odd gamma of FsCheck's SplitMix generator (the seed alone is what a user replays).</summary>
    private const ulong Gamma = 0x9E3779B97F4A7C15UL;

    /// <summary>Checks <paramref name="check"/> on the cases of <paramref name="cases"/>.</summary>
    /// <param name="law">Short name of the law, e.g. "symmetry".</param>
    /// <param name="statement">The law as a formula.</param>
    /// <param name="distance">The distance's name.</param>
    /// <param name="cases">Generator and shrinker of cases.</param>
    /// <param name="check">Null when the law holds on the case, else what went wrong.</param>
    /// <param name="describe">The case's values, one "name = value" per line.</param>
    /// <param name="o">Cases and seed.</param>
    public static void Run<TCase>(
        string law, string statement, string distance, Arbitrary<TCase> cases, Func<TCase, Violation?> check,
        Func<TCase, IEnumerable<string>> describe, VerificationOptions o)
    {
        Violation? last = null;
        TCase? lastCase = default;
        int evaluated = 0, failures = 0, firstFailure = -1;

        bool Body(TCase c)
        {
            evaluated++;
            Violation? v;
            try
            {
                v = check(c);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                v = new Violation($"Evaluating the case raised {e.GetType().Name}: {e.Message}", [], double.NaN, [], e);
            }
            if (v is null) return true;
            if (firstFailure < 0) firstFailure = evaluated - 1;
            failures++;
            last = v;
            lastCase = c;
            return false;
        }

        var replay = new Replay(new Rnd(unchecked((ulong)o.Seed), Gamma), FSharpOption<int>.None);
        // A runner that writes nothing: FsCheck's console runners print (even an empty string) through Console.Out on
        // every case, which another test may have redirected to a writer it has since closed; failures are read from
        // the recorded cases below, not from FsCheck's report.
        var config = Config.Quick
            .WithMaxTest(o.Cases)
            .WithReplay(FSharpOption<Replay>.Some(replay))
            .WithQuietOnSuccess(true)
            .WithRunner(SilentRunner.Instance);
        try
        {
            Check.One(config, Prop.ForAll(cases, (Func<TCase, bool>)Body));
        }
        catch (Exception) when (last is not null)
        {
            // FsCheck's own report; ours below carries the same case with the law's numbers.
        }
        if (last is null) return;
        var lines = describe(lastCase!).Concat(last.Extra);
        throw new LawViolationException(
            law, distance, statement, string.Join("\n", lines), last.Observed, last.Detail, last.Tolerance, o.Seed,
            firstFailure, failures - 1, last.Inner);
    }
}

/// <summary>An FsCheck runner that reports nothing (the law runner reads failures from the cases it records).</summary>
internal sealed class SilentRunner : IRunner
{
    /// <summary>The one instance.</summary>
    public static readonly SilentRunner Instance = new();

    /// <inheritdoc/>
    public void OnStartFixture(Type t) { }

    /// <inheritdoc/>
    public void OnArguments(int ntest, FSharpList<object> args, FSharpFunc<int, FSharpFunc<FSharpList<object>, string>> every) { }

    /// <inheritdoc/>
    public void OnShrink(FSharpList<object> args, FSharpFunc<FSharpList<object>, string> everyShrink) { }

    /// <inheritdoc/>
    public void OnFinished(string name, TestResult testResult) { }
}
