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
}
