using System.CommandLine;
using System.Globalization;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// The resume rule of the training commands: on <c>--resume</c>, an option given explicitly must equal the checkpoint's
/// setting (a resumed run continues with the checkpoint's settings and cannot honour another); one check and one
/// message for <c>train sequence</c> and <c>train bregman</c>.
/// </summary>
internal static class ResumedSettings
{
    /// <summary>Refuses an explicitly given option whose value differs from the checkpoint's.</summary>
    /// <param name="r">The parsed command line.</param>
    /// <param name="option">The option.</param>
    /// <param name="recorded">The checkpoint's setting.</param>
    /// <param name="ignoreCase">Compare string values without regard to case or surrounding blanks (names the library
    /// reads case-insensitively).</param>
    /// <exception cref="ArgumentException">The values differ (ParamName: the option without its dashes).</exception>
    public static void Keep<T>(ParseResult r, Option<T> option, T recorded, bool ignoreCase = false)
    {
        if (r.GetResult(option) is not { Implicit: false }) return;
        var given = r.GetValue(option);
        if (EqualityComparer<T>.Default.Equals(given, recorded)) return;
        if (ignoreCase && given is string a && recorded is string b && a.Trim().Equals(b, StringComparison.OrdinalIgnoreCase)) return;
        throw Differs(option.Name, Convert.ToString(given, CultureInfo.InvariantCulture) ?? "(none)", Convert.ToString(recorded, CultureInfo.InvariantCulture) ?? "(none)");
    }

    /// <summary>The error for an option whose given value differs from the checkpoint's.</summary>
    /// <param name="option">The option, with its dashes.</param>
    /// <param name="given">The value given.</param>
    /// <param name="recorded">The checkpoint's value.</param>
    /// <returns>The exception to throw (ParamName: the option without its dashes).</returns>
    public static ArgumentException Differs(string option, string given, string recorded) =>
        new($"{option} {given} differs from the checkpoint's {recorded}; a resumed run continues with the checkpoint's settings. Drop {option}, or train afresh with --overwrite.",
            option.TrimStart('-'));
}
