using System.CommandLine;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using DistEmbed.Cli.Commands;
using DistEmbed.Core;
using DistEmbed.Core.Bregman;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The catalogs of distances, losses and miners: one table each, from which the names, the factories, the command
/// line's help and the docs table are derived; sliced distances keep their directions per instance.
/// </summary>
public sealed class CatalogTests
{
    private const string AcceptVariable = "DISTEMBED_ACCEPT_DOCS";
    private const string TableStart = "<!-- distance-catalog:begin -->";
    private const string TableEnd = "<!-- distance-catalog:end -->";

    private static string Root([CallerFilePath] string path = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, "..", ".."));

    [Fact]
    public void EveryCatalogEntryCreatesTheDistanceItDescribes()
    {
        Assert.Equal(Catalog.Distances.Select(d => d.Name), Catalog.DistanceNames);
        Assert.Equal(Distances.Names, Catalog.DistanceNames);
        Assert.Equal(Catalog.DistanceNames.Count, Catalog.DistanceNames.Distinct().Count());
        foreach (var d in Catalog.Distances)
        {
            var made = Catalog.CreateDistance(d.Name, new DistanceSettings { Projections = 3 });
            Assert.Equal(d.Name, made.Name);
            Assert.Equal(d.Accepts, made.Accepts);
            Assert.Equal(d.IsMetric, made.IsMetric);
            Assert.Equal(d.Kind != DistanceKind.Divergence, made.IsMetric);
            Assert.NotEmpty(d.Summary);
            Assert.Contains("BlockSize", d.Options);
            Assert.All(d.Options, o => Assert.NotNull(typeof(DistanceSettings).GetProperty(o)));
        }
        var unknown = Assert.Throws<ArgumentException>(() => Catalog.CreateDistance("wasserstein-7"));
        Assert.Equal("name", unknown.ParamName);
        Assert.Contains("sinkhorn-divergence", unknown.Message);
    }

    [Fact]
    public void TypedSinkhornFactoriesMatchTheNamedOnes()
    {
        using var scope = torch.NewDisposeScope();
        var points = torch.randn([4, 5, 2], dtype: torch.float64, generator: torch.manual_seed(8));
        using var a = DistributionBatch.FromTensors(points, null);
        using var b = DistributionBatch.FromTensors(points.flip(0), null);
        var options = SinkhornOptions.Create(0.5);
        foreach (var (typed, name) in new[] { (Distances.Sinkhorn(options), "sinkhorn"), (Distances.SinkhornDivergence(options), "sinkhorn-divergence") })
        {
            var named = Distances.Create(name, new DistanceOptions { Epsilon = 0.5 });
            Assert.Equal(name, typed.Name);
            Assert.Equal(named.Pairwise(a, b).data<double>().ToArray(), typed.Pairwise(a, b).data<double>().ToArray());
        }
    }

    [Fact]
    public void SlicedDistancesKeepTheirDirectionsPerInstanceAndRedrawOnRequest()
    {
        using var scope = torch.NewDisposeScope();
        var points = torch.randn([5, 7, 3], dtype: torch.float64, generator: torch.manual_seed(2));
        using var a = DistributionBatch.FromTensors(points, null);
        using var b = DistributionBatch.FromTensors(points.flip(0) + 0.3, null);
        foreach (var name in new[] { "sliced-w2", "sliced-w2-cost", "max-sliced-w2" })
        {
            var d = Distances.Create(name, new DistanceOptions { Projections = 6, Seed = 11 });
            var paired1 = d.Paired(a, b).data<double>().ToArray();
            var paired2 = d.Paired(a, b).data<double>().ToArray();
            Assert.Equal(paired1, paired2);
            var pairwise1 = d.Pairwise(a, b).data<double>().ToArray();
            Assert.Equal(pairwise1, d.Pairwise(a, b).data<double>().ToArray());
            var twin = Distances.Create(name, new DistanceOptions { Projections = 6, Seed = 11 });
            Assert.Equal(pairwise1, twin.Pairwise(a, b).data<double>().ToArray());
            var seeded = Assert.IsAssignableFrom<ISeededDistance>(d);
            Assert.Equal(11L, seeded.Seed);
            var fresh = seeded.WithFreshDirections(12);
            Assert.NotEqual(pairwise1, fresh.Pairwise(a, b).data<double>().ToArray());
            Assert.Equal(pairwise1, d.Pairwise(a, b).data<double>().ToArray());
            // Within one call, the pairwise matrix's diagonal holds the paired values (one draw for both).
            var m = d.Pairwise(a, a).data<double>().ToArray();
            for (var i = 0; i < 5; i++) Assert.Equal(0.0, m[i * 5 + i], 12);
        }
    }

    [Fact]
    public void TheSequenceTrainerTrainsWithASlicedDistanceAndRedrawsPerStep()
    {
        var train = SequenceTestData.Make(5, 6, 3);
        var valid = SequenceTestData.Make(3, 4, 4, labelOffset: 50);
        var options = new TrainerOptions
        {
            Epochs = 2, ClassesPerBatch = 4, ItemsPerClass = 3, LearningRate = 5e-3, Seed = 17, Distance = "sliced-w2",
            DistanceSettings = new DistanceSettings { Projections = 8 },
        };
        var model = SequenceEmbedder.Create(new EmbedderOptions { InputChannels = 2, Hidden = 8, Features = 4, Layers = 2, Head = "distribution" }, 1);
        var result = SequenceTrainer.Train(model, train, valid, options);
        Assert.Equal(2, result.History.Count);
        Assert.All(result.History, h => Assert.True(double.IsFinite(h.TrainLoss)));
        Assert.All(result.History, h => Assert.InRange(h.ValidMapAtR!.Value, 0.0, 1.0));
        // Training is reproducible: the per-step draws come from (Seed, step), not from call order.
        var again = SequenceTrainer.Train(SequenceEmbedder.Create(model.Options, 1), train, valid, options);
        Assert.Equal(result.History.Select(h => h.TrainLoss), again.History.Select(h => h.TrainLoss));
    }

    [Fact]
    public void LossesAndMinersByNameEqualTheDirectComputations()
    {
        using var scope = torch.NewDisposeScope();
        var values = torch.randn([8, 3], dtype: torch.float64, generator: torch.manual_seed(5));
        using var batch = VectorBatch.FromTensor(values);
        var labels = torch.tensor(new long[] { 0, 0, 1, 1, 2, 2, 3, 3 });
        var distance = Distances.Create("euclidean", null);
        Assert.Equal(["triplet", "contrastive", "ntxent", "multi-similarity", "prototype", "supcon", "circle", "proxy-anchor", "xbm"], Catalog.LossNames);
        Assert.Equal(["all", "batch-hard", "semi-hard"], Catalog.MinerNames);
        Assert.Equal(Catalog.Losses.Select(l => l.Name), Catalog.LossNames);
        Assert.Equal(
            [LossTuples.Triplets, LossTuples.Pairs, LossTuples.Pairs, LossTuples.Pairs, LossTuples.Triplets, LossTuples.Pairs, LossTuples.Pairs, LossTuples.Proxies, LossTuples.Memory],
            Catalog.Losses.Select(l => l.Tuples));
        Assert.Equal(Core.Losses.Catalog.Select(l => l.Tuples.ToString()), Catalog.Losses.Select(l => l.Tuples.ToString()));
        Assert.Equal(Catalog.Miners.Select(m => m.Name), Catalog.MinerNames);
        using var hard = Miners.BatchHard(batch, labels, distance);
        using var mined = Catalog.CreateMiner("batch-hard").Mine(batch, labels, distance);
        Assert.Equal(hard.Anchor.data<long>().ToArray(), mined.Anchor.data<long>().ToArray());
        Assert.Null(Catalog.CreateMiner("all").Mine(batch, labels, distance));
        using var semi = Catalog.CreateMiner("semi-hard", new MinerOptions { Margin = 5.0 }).Mine(batch, labels, distance);
        using var semiDirect = Miners.SemiHard(batch, labels, distance, 5.0);
        Assert.Equal(semiDirect.Negative.data<long>().ToArray(), semi.Negative.data<long>().ToArray());
        var options = new LossOptions { Triplet = new TripletMarginLossOptions { Margin = 0.7 }, NTXent = new NTXentLossOptions { Temperature = 0.3 } };
        using var pairs = PairIndices.FromTriplets(hard);
        var expected = new Dictionary<string, torch.Tensor>
        {
            ["triplet"] = TripletMarginLoss.Compute(batch, labels, distance, hard, options.Triplet),
            ["contrastive"] = ContrastiveLoss.Compute(batch, labels, distance, pairs, null),
            ["ntxent"] = NTXentLoss.Compute(batch, labels, distance, pairs, options.NTXent),
            ["multi-similarity"] = MultiSimilarityLoss.Compute(batch, labels, distance, pairs, null),
            ["prototype"] = PrototypeLoss.Compute(batch, labels, distance, hard, null),
            ["supcon"] = SupConLoss.Compute(batch, labels, distance, pairs, null),
            ["circle"] = CircleLoss.Compute(batch, labels, distance, pairs, null),
        };
        foreach (var (name, value) in expected)
        {
            var loss = Catalog.CreateLoss(name.ToUpperInvariant(), options);
            Assert.Equal(name, loss.Name);
            Assert.Equal(value.item<double>(), loss.Compute(batch, labels, distance, hard).item<double>(), 12);
        }
        Assert.Equal(TripletMarginLoss.Compute(batch, labels, distance, null, null).item<double>(),
            Catalog.CreateLoss(Catalog.DefaultLoss).Compute(batch, labels, distance, null).item<double>(), 12);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => Catalog.CreateLoss("arcface")).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => Catalog.CreateMiner("hardest")).ParamName);
        Assert.Equal("options.Margin", Assert.Throws<ArgumentException>(() => Catalog.CreateMiner("semi-hard", new MinerOptions { Margin = 0 })).ParamName);
    }

    [Fact]
    public void EveryTrainerAndCommandUsesTheOneDefaultLossAndMiner()
    {
        Assert.Equal("triplet", Catalog.DefaultLoss);
        Assert.Equal("all", Catalog.DefaultMiner);
        Assert.Equal(Catalog.DefaultLoss, new TrainerOptions().Loss);
        Assert.Equal(Catalog.DefaultMiner, new TrainerOptions().Miner);
        Assert.Equal(Catalog.DefaultMiner, new DeepBregmanOptions().Miner);
        Assert.Equal(Catalog.DefaultMiner, new BregmanTrainSettings().Miner);
        Assert.Equal(new TripletMarginLossOptions().Margin, new MinerOptions().Margin);
        var train = SequenceCommands.Train();
        Assert.Equal(Catalog.DefaultLoss, Parse(train, "--loss"));
        Assert.Equal(Catalog.DefaultMiner, Parse(train, "--miner"));
        Assert.Equal(Catalog.DefaultMiner, Parse(BregmanTrainCommand.Create(), "--miner"));
    }

    [Fact]
    public void TheCommandLineHelpListsTheCatalog()
    {
        // Derived here from the catalog: the names grouped by representation, in catalog order.
        var groups = Catalog.Distances.GroupBy(d => d.Accepts)
            .Select(g => g.Key.ToString().ToLowerInvariant() + ": " + string.Join(", ", g.Select(d => d.Name)));
        var names = string.Join("; ", groups) + ".";
        foreach (var (command, option) in new[]
                 {
                     (DistanceCommand.Create(), "--distance"), (CompareCommand.Create(), "--distance"),
                     (SequenceCommands.Train(), "--distance"), (SequenceCommands.Evaluate(), "--distance"),
                 })
        {
            var description = command.Options.Single(o => o.Name == option).Description!;
            Assert.True(description.EndsWith(names, StringComparison.Ordinal), $"{command.Name} {option}: '{description}' does not end with '{names}'");
        }
        // The help lists every miner; the default is each command's own, read from its trainer's options and shown by
        // the parser, so the description does not state one a second time.
        foreach (var (command, defaultMiner) in new[] { (SequenceCommands.Train(), new TrainerOptions().Miner), (BregmanTrainCommand.Create(), DeepBregmanTrainer.DefaultOptions.Miner) })
        {
            var option = command.Options.Single(o => o.Name == "--miner");
            var miner = option.Description!;
            Assert.All(Catalog.MinerNames, n => Assert.Contains(n, miner));
            Assert.DoesNotContain("default", miner);
            Assert.Equal(defaultMiner, ((Option<string>)option).GetDefaultValue());
        }
        var loss = SequenceCommands.Train().Options.Single(o => o.Name == "--loss").Description!;
        Assert.All(Catalog.LossNames, n => Assert.Contains(n, loss));
    }

    [Fact]
    public void TheDistancesGuideTableIsTheCatalog()
    {
        var path = Path.Combine(Root(), "docs", "distances.md");
        var text = File.ReadAllText(path).ReplaceLineEndings("\n");
        var start = text.IndexOf(TableStart, StringComparison.Ordinal);
        var end = text.IndexOf(TableEnd, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"docs/distances.md needs the markers {TableStart} and {TableEnd} around the distance table.");
        var expected = RenderTable();
        var actual = text[(start + TableStart.Length)..end].Trim('\n');
        if (actual == expected) return;
        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            File.WriteAllText(path, text[..(start + TableStart.Length)] + "\n" + expected + "\n" + text[end..]);
            return;
        }
        Assert.Fail($"docs/distances.md's table differs from the catalog; it must read (or run with {AcceptVariable}=1):\n{expected}");
    }

    [Fact]
    public void TheLossesGuideTableIsTheCatalog()
    {
        const string start = "<!-- loss-catalog:begin -->", end = "<!-- loss-catalog:end -->";
        var path = Path.Combine(Root(), "docs", "losses.md");
        var text = File.ReadAllText(path).ReplaceLineEndings("\n");
        var from = text.IndexOf(start, StringComparison.Ordinal);
        var to = text.IndexOf(end, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, $"docs/losses.md needs the markers {start} and {end} around the loss table.");
        var sb = new StringBuilder();
        sb.Append("| name | tuples | what it computes | options (`LossOptions`) |\n");
        sb.Append("| --- | --- | --- | --- |\n");
        foreach (var l in Catalog.Losses)
        {
            var tuples = l.Tuples switch
            {
                LossTuples.Triplets => "triplets",
                LossTuples.Pairs => "pairs",
                LossTuples.Proxies => "class proxies",
                _ => "memory",
            };
            var defaultMark = l.Name == Catalog.DefaultLoss ? " (default)" : "";
            sb.Append($"| `{l.Name}`{defaultMark} | {tuples} | {l.Summary.Replace("|", "∣", StringComparison.Ordinal)} | `{l.Options}` |\n");
        }
        var expected = sb.ToString().TrimEnd('\n');
        var actual = text[(from + start.Length)..to].Trim('\n');
        if (actual == expected) return;
        if (Environment.GetEnvironmentVariable(AcceptVariable) == "1")
        {
            File.WriteAllText(path, text[..(from + start.Length)] + "\n" + expected + "\n" + text[to..]);
            return;
        }
        Assert.Fail($"docs/losses.md's table differs from the loss catalog; it must read (or run with {AcceptVariable}=1):\n{expected}");
    }

    /// <summary>The docs table of the catalog: name, accepts, metric, what it computes, options read with their defaults.</summary>
    private static string RenderTable()
    {
        var defaults = new DistanceSettings();
        var sb = new StringBuilder();
        sb.Append("| name | accepts | metric | what it computes | options read (default) |\n");
        sb.Append("| --- | --- | --- | --- | --- |\n");
        foreach (var d in Catalog.Distances)
        {
            var accepts = d.Accepts switch
            {
                Representation.Vectors => "vectors",
                Representation.Distributions => "distributions",
                _ => "quantile functions",
            };
            var metric = d.Kind switch { DistanceKind.Metric => "yes", DistanceKind.PseudoMetric => "pseudo", _ => "no" };
            var options = string.Join(", ", d.Options.Select(o => $"{o} ({Format(typeof(DistanceSettings).GetProperty(o)!.GetValue(defaults))})"));
            sb.Append($"| `{d.Name}` | {accepts} | {metric} | {d.Summary.Replace("|", "∣", StringComparison.Ordinal)} | {options} |\n");
        }
        return sb.ToString().TrimEnd('\n');
    }

    private static string Format(object? value) => value switch
    {
        null => "none",
        bool b => b ? "true" : "false",
        double[] a => "[" + string.Join(", ", a.Select(v => Format(v))) + "]",
        double v when v != 0 && Math.Abs(v) < 1e-3 => v.ToString("0e0", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Parse(Command command, string option)
    {
        var o = (Option<string>)command.Options.Single(x => x.Name == option);
        return new RootCommand { command }.Parse([command.Name]).GetValue(o)!;
    }
}
