using DistEmbed.Cli;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// <c>distembed train sequence|bregman|tvae</c> are subcommands (no argument rewriting): each reaches its command,
/// <c>train</c> alone (and <c>train --task sequence</c>) trains a sequence model as before, <c>tvae</c> stays an alias of
/// <c>train tvae</c>, and the old <c>train --task bregman</c> is a usage error that names the new form.
/// </summary>
public sealed class CliRoutingTests
{
    [Fact]
    public void TrainTasksAreSubcommands()
    {
        string Resolve(params string[] args)
        {
            var parsed = Program.CreateRoot().Parse(args);
            var names = new List<string>();
            for (var r = parsed.CommandResult; r.Parent is System.CommandLine.Parsing.CommandResult p; r = p) names.Insert(0, r.Command.Name);
            return string.Join(" ", names);
        }
        Assert.Equal("train bregman", Resolve("train", "bregman", "--data", "mnist", "--generator", "icnn"));
        Assert.Equal("train tvae", Resolve("train", "tvae", "--data", "mnist", "--out", "x"));
        Assert.Equal("train sequence", Resolve("train", "sequence", "--train", "synthetic:motifs", "--out", "x"));
        Assert.Equal("train", Resolve("train", "--task", "sequence", "--train", "synthetic:motifs", "--out", "x"));
        Assert.Equal("tvae", Resolve("tvae", "--data", "mnist", "--out", "x"));
        Assert.Empty(Program.CreateRoot().Parse(["train", "bregman", "--data", "mnist", "--generator", "icnn"]).Errors);
        // The top-level tvae is the same command as train tvae (same options).
        var all = CliCommandLineTests.Commands().ToDictionary(c => c.Path, c => c.Command);
        Assert.Equal(all["train tvae"].Options.Select(o => o.Name), all["tvae"].Options.Select(o => o.Name));
        Assert.Equal(all["train sequence"].Options.Select(o => o.Name), all["train"].Options.Select(o => o.Name).Where(n => n != "--task"));
        // No hidden command remains (train-bregman was one).
        Assert.DoesNotContain(Program.CreateRoot().Subcommands, c => c.Hidden || c.Name == "train-bregman");
        // The old form of the Bregman task is a usage error that names its new form.
        var (code, _, stderr) = CliRunner.Run("train", "--task", "bregman", "--data", "mnist", "--generator", "icnn");
        Assert.Equal(2, code);
        Assert.Contains("'distembed train bregman'", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }
}
