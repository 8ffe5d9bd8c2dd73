using System.Reflection;
using DistEmbed.Core;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// Turns every exception into one line on stderr (<c>error: …</c>) and exit code 1; the stack trace follows only under
/// <c>--verbose</c>. Usage errors found by the parser exit with 2 (see <see cref="Program.Main"/>).
/// </summary>
public static class CliErrors
{
    /// <summary>The exit code of a failed command.</summary>
    public const int Failure = 1;

    /// <summary>The exit code of a usage error (unknown option, missing required option, value that does not parse).</summary>
    public const int UsageError = 2;

    /// <summary>True when <c>--verbose</c> was given: errors are followed by the exception's stack trace.</summary>
    public static bool Verbose { get; set; }

    /// <summary>Runs <paramref name="body"/>; on any exception prints one <c>error: …</c> line to stderr and returns 1.</summary>
    /// <param name="body">The command's work.</param>
    /// <returns>The exit code: 0, or 1 on any error.</returns>
    public static int Run(Action body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            body();
            return 0;
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    /// <summary>Prints <paramref name="error"/> as one line (and its trace under <c>--verbose</c>).</summary>
    /// <param name="error">The exception.</param>
    /// <returns>1.</returns>
    public static int Report(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        Console.Error.WriteLine($"error: {OneLine(error)}");
        if (Verbose) Console.Error.WriteLine(error.ToString());
        return Failure;
    }

    /// <summary>
    /// The one-line message of an exception: the first line of the innermost meaningful message; exceptions that carry
    /// no user-facing message (a bug, not bad input) are named by type with a hint to rerun with <c>--verbose</c>.
    /// </summary>
    /// <param name="error">The exception.</param>
    /// <returns>One line, without a trailing period doubled or a line break.</returns>
    public static string OneLine(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var e = Unwrap(error);
        var message = FirstLine(e.Message);
        // ArgumentException appends " (Parameter 'x')" (once per wrapping); the messages name the option already.
        while (e is ArgumentException { ParamName: { } p } && message.EndsWith($" (Parameter '{p}')", StringComparison.Ordinal))
            message = message[..^$" (Parameter '{p}')".Length];
        return e switch
        {
            ArgumentException or IOException or InvalidDataException or FormatException or UnauthorizedAccessException
                or NotSupportedException or NativeRuntimeException or InvalidOperationException => message,
            OperationCanceledException => "cancelled.",
            OutOfMemoryException => $"out of memory ({message}); use smaller inputs or settings.",
            _ => $"internal error ({e.GetType().Name}: {message})" + (Verbose ? "" : "; rerun with --verbose for the stack trace."),
        };
    }

    /// <summary>Runs a library check and restates an error about an options field under its command-line option:
    /// <c>LearningRate = 0; …</c> becomes <c>--lr = 0; …</c> (parameter name <c>lr</c>).</summary>
    /// <param name="validate">The check (e.g. an options record's <c>Validate</c>).</param>
    /// <param name="optionNames">The option of each field, by the field's parameter name.</param>
    /// <exception cref="ArgumentException">The check's error, under the option's name when a listed field failed.</exception>
    public static void AsOptions(Action validate, IReadOnlyDictionary<string, string> optionNames)
    {
        ArgumentNullException.ThrowIfNull(validate);
        ArgumentNullException.ThrowIfNull(optionNames);
        try
        {
            validate();
        }
        catch (ArgumentException e) when (e.ParamName is not null && optionNames.TryGetValue(e.ParamName, out var option))
        {
            var detail = OutputFiles.Bare(e);
            detail = detail.StartsWith(e.ParamName + " ", StringComparison.Ordinal)
                ? option + detail[e.ParamName.Length..]
                : $"{option}: {detail}";
            throw new ArgumentException(detail, option.TrimStart('-'), e);
        }
    }

    private static Exception Unwrap(Exception e)
    {
        while (true)
        {
            switch (e)
            {
                case AggregateException { InnerExceptions.Count: 1 } a: e = a.InnerExceptions[0]; continue;
                case TargetInvocationException { InnerException: { } inner }: e = inner; continue;
                case TypeInitializationException { InnerException: { } inner }: e = inner; continue;
                default: return e;
            }
        }
    }

    private static string FirstLine(string message)
    {
        var line = message.ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim();
        return string.IsNullOrEmpty(line) ? "(no message)" : line;
    }
}
