using System.CommandLine;
using DistEmbed.Cli.Commands;

namespace DistEmbed.Cli;

/// <summary>Entry point of the <c>distembed</c> command-line tool.</summary>
public static class Program
{
    /// <summary>Parses the arguments and runs the chosen command; returns the process exit code.</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <returns>0 on success, 1 on a usage or input error, 2 on an internal error.</returns>
    public static int Main(string[] args)
    {
        var root = new RootCommand("distembed — distributional embeddings, optimal-transport distances and metric learning (DistEmbed.Verified).");
        root.Subcommands.Add(DistanceCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ShowcaseCommand.Create());
        root.Subcommands.Add(DataCommand.Create());
        root.Subcommands.Add(TvaeCommand.Create());
        return root.Parse(args).Invoke();
    }
}
