using System.CommandLine;
using DistEmbed.Cli.Commands;

namespace DistEmbed.Cli;

/// <summary>Entry point of the <c>distembed</c> command-line tool.</summary>
public static class Program
{
    /// <summary>Parses the arguments and runs the chosen command; returns the process exit code.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>0 on success, 1 on any error (bad input, unreadable file, internal error), 2 on a usage error (unknown
    /// option, missing required option, a value that does not parse). Every error is one line on stderr; the stack
    /// trace follows only with <c>--verbose</c>.</returns>
    public static int Main(string[] args)
    {
        var verbose = new Option<bool>("--verbose") { Description = "On an error, also print the stack trace.", Recursive = true };
        var root = new RootCommand("distembed — distributional embeddings, optimal-transport distances and metric learning (DistEmbed.Verified).");
        root.Subcommands.Add(DistanceCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ShowcaseCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(SequenceCommands.Train());
        root.Subcommands.Add(SequenceCommands.Embed());
        root.Subcommands.Add(SequenceCommands.Evaluate());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(TvaeCommand.Create());
        root.Subcommands.Add(BregmanTrainCommand.Create());
        root.Options.Add(verbose);
        CliErrors.Verbose = false;
        try
        {
            var parsed = root.Parse(RouteTrainTask(args ?? []));
            CliErrors.Verbose = parsed.GetValue(verbose);
            if (parsed.Errors.Count > 0)
            {
                var command = parsed.CommandResult.Command == root ? "" : parsed.CommandResult.Command.Name + " ";
                var more = parsed.Errors.Count > 1 ? $" (and {parsed.Errors.Count - 1} more)" : "";
                Console.Error.WriteLine($"error: {parsed.Errors[0].Message.ReplaceLineEndings(" ").TrimEnd('.', ' ')}{more}; see 'distembed {command}--help'.");
                return CliErrors.UsageError;
            }
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return CliErrors.Report(e);
        }
    }

    /// <summary>
    /// <c>distembed train --task bregman …</c> is the <c>train-bregman</c> command (its options differ from the sequence
    /// task's); every other argument list is returned unchanged.
    /// </summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>The arguments with <c>train --task bregman</c> rewritten to <c>train-bregman</c>.</returns>
    public static string[] RouteTrainTask(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || args[0] != "train")
            return args;
        for (var i = 1; i < args.Length; i++)
        {
            if (args[i] == "--task" && i + 1 < args.Length && args[i + 1] == "bregman")
                return ["train-bregman", .. args[1..i], .. args[(i + 2)..]];
            if (args[i] == "--task=bregman")
                return ["train-bregman", .. args[1..i], .. args[(i + 1)..]];
        }
        return args;
    }
}
