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
        // Before anything loads libtorch: OpenMP threads that sleep instead of spinning (see NativeEnvironment).
        NativeEnvironment.PreferPassiveOpenMpWait();
        var verbose = new Option<bool>("--verbose") { Description = "On an error, also print the stack trace.", Recursive = true };
        var root = CreateRoot();
        root.Options.Add(verbose);
        CliErrors.Verbose = false;
        try
        {
            args ??= [];
            var parsed = root.Parse(args);
            CliErrors.Verbose = parsed.GetValue(verbose);
            if (parsed.Errors.Count > 0)
            {
                var command = CommandPath(parsed.CommandResult);
                var more = parsed.Errors.Count > 1 ? $" (and {parsed.Errors.Count - 1} more)" : "";
                if (OldTrainTask(args) is { } task)
                {
                    Console.Error.WriteLine($"error: 'distembed train --task {task}' is now the subcommand 'distembed train {task}' (its options differ from train sequence's); see 'distembed train {task} --help'.");
                    return CliErrors.UsageError;
                }
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

    /// <summary>The command tree of <c>distembed</c>: every command and subcommand with its options and action (the
    /// root's own <c>--verbose</c> is added by <see cref="Main"/>).</summary>
    /// <returns>The root command.</returns>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("distembed — distributional embeddings, optimal-transport distances and metric learning (DistEmbed.Verified).");
        root.Subcommands.Add(DistanceCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ShowcaseCommand.Create());
        root.Subcommands.Add(CompareCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        var train = SequenceCommands.Train("train");
        train.Subcommands.Add(SequenceCommands.Train("sequence"));
        train.Subcommands.Add(BregmanTrainCommand.Create());
        train.Subcommands.Add(TvaeCommand.Create());
        root.Subcommands.Add(train);
        root.Subcommands.Add(SequenceCommands.Embed());
        root.Subcommands.Add(SequenceCommands.Evaluate());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(TvaeCommand.Create(alias: true));
        var index = new Command("index", "Vector indexes of embeddings: local USearch HNSW or exact index folders (index build, index query) and PostgreSQL tables with pgvector (index export, index search).");
        index.Subcommands.Add(IndexLocalCommands.Build());
        index.Subcommands.Add(IndexLocalCommands.Query());
        index.Subcommands.Add(IndexDatabaseCommands.Export());
        index.Subcommands.Add(IndexDatabaseCommands.Search());
        root.Subcommands.Add(index);
        return root;
    }

    /// <summary>The words of a command after <c>distembed</c> followed by a space (<c>train sequence </c>), empty for the root.</summary>
    private static string CommandPath(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new List<string>();
        for (var r = result; r?.Parent is System.CommandLine.Parsing.CommandResult parent; r = parent)
            names.Insert(0, r.Command.Name);
        return names.Count == 0 ? "" : string.Join(" ", names) + " ";
    }

    /// <summary>The task of an old <c>distembed train --task bregman|tvae …</c> command line (now the subcommands
    /// <c>train bregman</c> and <c>train tvae</c>), or null; used only to explain a usage error, never to rewrite the
    /// arguments.</summary>
    private static string? OldTrainTask(string[] args)
    {
        if (args.Length == 0 || args[0] != "train") return null;
        for (var i = 1; i < args.Length; i++)
        {
            var value = args[i] == "--task" && i + 1 < args.Length ? args[i + 1] : args[i].StartsWith("--task=", StringComparison.Ordinal) ? args[i][7..] : null;
            if (value is "bregman" or "tvae") return value;
        }
        return null;
    }
}
