using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>Runs the <c>distembed</c> entry point in-process with the console captured (one lock for every test class).</summary>
internal static class CliRunner
{
    private static readonly object ConsoleLock = new();

    /// <summary>Runs <c>distembed args…</c>; returns its exit code and what it wrote to stdout and stderr.</summary>
    public static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        lock (ConsoleLock)
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            using var o = new StringWriter();
            using var e = new StringWriter();
            Console.SetOut(o);
            Console.SetError(e);
            try { return (Cli.Program.Main(args), o.ToString(), e.ToString()); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }
}

/// <summary>
/// The tests that write to the process's console (doc examples that print) or capture it (the CLI and TVAE runs): they
/// run with nothing else in parallel, so that no other test's output lands in a captured console.
/// </summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;
