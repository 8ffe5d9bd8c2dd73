using DistEmbed.Cli;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary><c>distembed train --task bregman</c> reaches the Bregman trainer; other argument lists are untouched.</summary>
public sealed class CliRoutingTests
{
    [Fact]
    public void TrainTaskBregmanIsRoutedToTrainBregman()
    {
        Assert.Equal(["train-bregman", "--data", "mnist", "--generator", "icnn"],
            Program.RouteTrainTask(["train", "--data", "mnist", "--task", "bregman", "--generator", "icnn"]));
        Assert.Equal(["train-bregman", "--data", "mnist"], Program.RouteTrainTask(["train", "--task=bregman", "--data", "mnist"]));
        string[] sequence = ["train", "--task", "sequence", "--train", "synthetic:motifs"];
        Assert.Same(sequence, Program.RouteTrainTask(sequence));
        string[] other = ["distance", "--task", "bregman"];
        Assert.Same(other, Program.RouteTrainTask(other));
    }

    [Fact]
    public void AnUnknownTaskIsNamed()
    {
        using var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(1, Program.Main(["train", "--task", "vision", "--train", "synthetic:motifs", "--out", Path.GetTempPath()]));
        }
        finally
        {
            Console.SetError(previous);
        }
        Assert.Contains("--task 'vision' is unknown; valid: sequence, bregman", error.ToString());
    }
}
