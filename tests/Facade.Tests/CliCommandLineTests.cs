using System.CommandLine;
using System.Text.RegularExpressions;
using DistEmbed.Cli;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The <c>distembed</c> command tree as a tool: the package readme lists exactly its commands, every command's help
/// lists all its options, the distance settings have one name each (old names kept as aliases) with the library's
/// defaults, and <c>train sequence|bregman|tvae</c> are subcommands.
/// </summary>
public sealed class CliCommandLineTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "distembed-cli-" + Guid.NewGuid().ToString("N"));

    public CliCommandLineTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>Every command below the root with its words after <c>distembed</c> (<c>train sequence</c>), hidden ones left out.</summary>
    internal static List<(string Path, Command Command)> Commands()
    {
        var all = new List<(string, Command)>();
        void Walk(Command c, string prefix)
        {
            foreach (var sub in c.Subcommands.Where(s => !s.Hidden))
            {
                var path = prefix.Length == 0 ? sub.Name : prefix + " " + sub.Name;
                all.Add((path, sub));
                Walk(sub, path);
            }
        }
        Walk(Program.CreateRoot(), "");
        return all;
    }

    private static string Root([System.Runtime.CompilerServices.CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));

    [Fact]
    public void TheToolReadmeListsEveryCommandWithADescription()
    {
        var text = File.ReadAllText(Path.Combine(Root(), "src", "Cli", "README.md")).ReplaceLineEndings("\n");
        var start = text.IndexOf("\n## Commands\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "src/Cli/README.md has no '## Commands' section");
        var end = text.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var section = end < 0 ? text[start..] : text[start..end];
        var listed = Regex.Matches(section, @"^- `distembed ([a-z][a-z -]*)` — (.+)$", RegexOptions.Multiline)
            .Select(m => (Path: m.Groups[1].Value, Description: m.Groups[2].Value.Trim())).ToList();
        Assert.All(listed, l => Assert.True(l.Description.Length >= 10, $"README: '{l.Path}' has no one-line description"));
        var duplicates = listed.GroupBy(l => l.Path).Where(g => g.Count() > 1).Select(g => g.Key).ToArray();
        Assert.True(duplicates.Length == 0, "README lists twice: " + string.Join(", ", duplicates));
        var expected = Commands().Select(c => c.Path).Order(StringComparer.Ordinal).ToArray();
        var actual = listed.Select(l => l.Path).Order(StringComparer.Ordinal).ToArray();
        var missing = expected.Except(actual).ToArray();
        var stale = actual.Except(expected).ToArray();
        Assert.True(missing.Length == 0 && stale.Length == 0,
            $"src/Cli/README.md's command list drifted from the command tree: missing [{string.Join(", ", missing)}], not a command [{string.Join(", ", stale)}]");
    }

    [Fact]
    public void EveryCommandsHelpListsAllItsOptions()
    {
        var commands = Commands();
        Assert.Contains(commands, c => c.Path == "train bregman");
        foreach (var (path, command) in commands)
        {
            var (code, stdout, stderr) = CliRunner.Run([.. path.Split(' '), "--help"]);
            Assert.True(code == 0, $"distembed {path} --help: exit {code}, {stderr}");
            foreach (var option in command.Options.Where(o => !o.Hidden))
                foreach (var name in option.Aliases.Prepend(option.Name))
                    Assert.True(Regex.IsMatch(stdout, $@"(^|[\s,]){Regex.Escape(name)}([\s,]|$)", RegexOptions.Multiline),
                        $"distembed {path} --help does not list {name}:\n{stdout}");
            foreach (var sub in command.Subcommands.Where(s => !s.Hidden))
                Assert.Contains(sub.Name, stdout);
        }
    }

    /// <summary>The distance options each command takes: one name per setting, old names as aliases.</summary>
    [Theory]
    [InlineData("distance", "--distance --epsilon --sinkhorn-iterations --tolerance --epsilon-scaling --rho --projections --seed --p --bandwidths --directions")]
    [InlineData("compare", "--distance --epsilon --sinkhorn-iterations --tolerance --epsilon-scaling --rho --projections --seed --p --bandwidths --directions")]
    [InlineData("evaluate", "--distance --epsilon --sinkhorn-iterations --tolerance --epsilon-scaling --rho --projections --seed --p --bandwidths --directions")]
    [InlineData("train sequence", "--distance --epsilon --sinkhorn-iterations --tolerance --epsilon-scaling --rho --projections --seed")]
    [InlineData("train", "--distance --epsilon --sinkhorn-iterations --tolerance --epsilon-scaling --rho --projections --seed")]
    public void DistanceSettingsHaveOneNameAndTheLibraryDefaults(string path, string names)
    {
        var command = Commands().Single(c => c.Path == path).Command;
        var options = command.Options.ToDictionary(o => o.Name);
        foreach (var name in names.Split(' '))
            Assert.True(options.ContainsKey(name), $"{path} has no {name}");
        Assert.Equal(["--metric"], options["--distance"].Aliases);
        Assert.Equal(["--max-iterations"], options["--sinkhorn-iterations"].Aliases);
        Assert.DoesNotContain(command.Options, o => o.Name is "--metric" or "--max-iterations");

        // Defaults: those of a fresh DistanceOptions (the CLI writes none of its own).
        var d = new DistanceOptions();
        var parsed = Program.CreateRoot().Parse(path.Split(' '));
        Assert.Equal(command.Name, parsed.CommandResult.Command.Name);
        Assert.Equal(d.Epsilon, parsed.GetValue<double>("--epsilon"));
        Assert.Equal(d.MaxIterations, parsed.GetValue<int>("--sinkhorn-iterations"));
        Assert.Equal(d.Tolerance, parsed.GetValue<double>("--tolerance"));
        Assert.Equal(d.EpsilonScaling, parsed.GetValue<double>("--epsilon-scaling"));
        Assert.Equal(d.Rho, parsed.GetValue<double>("--rho"));
        Assert.Equal(d.Projections, parsed.GetValue<int>("--projections"));
        if (options.ContainsKey("--p"))
        {
            Assert.Equal(d.Seed, parsed.GetValue<long>("--seed"));
            Assert.Equal(d.P, parsed.GetValue<double>("--p"));
            Assert.Equal(d.Bandwidths, parsed.GetValue<string>("--bandwidths")!.Split(',').Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)));
        }
        // The old names set the same options.
        var old = Program.CreateRoot().Parse([.. path.Split(' '), "--metric", "sinkhorn", "--max-iterations", "7"]);
        Assert.Equal("sinkhorn", old.GetValue<string?>("--distance"));
        Assert.Equal(7, old.GetValue<int>("--sinkhorn-iterations"));
    }

    [Fact]
    public void EveryDistanceOptionIsNamedDistanceWithMetricAsItsAlias()
    {
        var withDistance = Commands().Where(c => c.Command.Options.Any(o => o.Name == "--distance" || o.Aliases.Contains("--distance"))).ToArray();
        foreach (var path in new[] { "distance", "compare", "train", "train sequence", "evaluate", "index build", "index export" })
            Assert.Contains(withDistance, c => c.Path == path);
        foreach (var (path, command) in withDistance)
        {
            var option = command.Options.Single(o => o.Name == "--distance" || o.Aliases.Contains("--distance"));
            Assert.True(option.Name == "--distance", $"{path}: the distance option is named {option.Name}");
            Assert.True(option.Aliases.SequenceEqual(["--metric"]), $"{path}: --distance has the aliases [{string.Join(", ", option.Aliases)}], not [--metric]");
        }
        Assert.DoesNotContain(Commands(), c => c.Command.Options.Any(o => o.Name == "--metric"));
    }

    [Fact]
    public void EveryDeviceOptionDefaultsToAuto()
    {
        var withDevice = Commands().Where(c => c.Command.Options.Any(o => o.Name == "--device")).ToArray();
        // Every command that runs a model or computes distances with TorchSharp takes --device.
        foreach (var path in new[] { "distance", "showcase", "compare", "demo", "train", "train sequence", "train bregman", "train tvae", "embed", "evaluate" })
            Assert.Contains(withDevice, c => c.Path == path);
        foreach (var (path, _) in withDevice)
            Assert.Equal("auto", Program.CreateRoot().Parse(path.Split(' ')).GetValue<string>("--device"));
        Assert.Equal("auto", new DemoSettings().Device);
    }

    [Fact]
    public void OldAndNewOptionNamesComputeTheSameDistances()
    {
        var a = Path.Combine(_dir, "a.npy");
        var b = Path.Combine(_dir, "b.npy");
        Assert.Equal(0, CliRunner.Run("generate", "--count", "3", "--seed", "1", "--out", a).Code);
        Assert.Equal(0, CliRunner.Run("generate", "--count", "3", "--seed", "2", "--out", b).Code);
        string[] common = ["distance", "--a", a, "--a-mask", Path.Combine(_dir, "a.mask.npy"), "--b", b, "--b-mask", Path.Combine(_dir, "b.mask.npy"), "--json", "--device", "cpu"];
        var oldNames = CliRunner.Run([.. common, "--metric", "sinkhorn", "--max-iterations", "3", "--epsilon", "0.5"]);
        var newNames = CliRunner.Run([.. common, "--distance", "sinkhorn", "--sinkhorn-iterations", "3", "--epsilon", "0.5"]);
        Assert.True(newNames.Code == 0, newNames.Stderr);
        Assert.Equal(oldNames, newNames);
        // Three iterations do not converge: the warning names the option by its one name.
        Assert.Contains("--sinkhorn-iterations 3", newNames.Stderr);
        // distance takes --epsilon-scaling (it did not before): a bad ratio is an error naming it.
        var (code, _, stderr) = CliRunner.Run([.. common, "--distance", "sinkhorn", "--epsilon-scaling", "1.5"]);
        Assert.Equal(1, code);
        Assert.Contains("--epsilon-scaling", stderr);
        Assert.DoesNotContain("options.", stderr);
        // A bad iteration cap names --sinkhorn-iterations, whichever name was typed.
        (code, _, stderr) = CliRunner.Run([.. common, "--metric", "sinkhorn", "--max-iterations", "0"]);
        Assert.Equal(1, code);
        Assert.Contains("--sinkhorn-iterations", stderr);
    }

    [Fact]
    public void EvaluateWithAModelRefusesDistanceSettings()
    {
        var (code, _, stderr) = CliRunner.Run("evaluate", "--model", Path.Combine(_dir, "m"), "--query", "synthetic:motifs", "--epsilon", "0.5");
        Assert.Equal(1, code);
        Assert.Contains("--epsilon go with --embeddings", stderr);
    }
}
