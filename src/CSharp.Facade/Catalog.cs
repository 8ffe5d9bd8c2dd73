namespace DistEmbed;

/// <summary>One distance of the catalog: what it accepts, what it is, what it computes, the settings it reads.</summary>
/// <param name="Name">The name (<see cref="Distance.Name"/> of what <see cref="Create"/> returns).</param>
/// <param name="Accepts">The representation it compares.</param>
/// <param name="Kind">Metric, pseudo-metric or divergence.</param>
/// <param name="Summary">What it computes, in one line (with its source).</param>
/// <param name="Options">The names of the <see cref="DistanceSettings"/> properties it reads.</param>
public sealed record DistanceInfo(string Name, Representation Accepts, DistanceKind Kind, string Summary, IReadOnlyList<string> Options)
{
    /// <summary>True for a metric or a pseudo-metric (what <see cref="Distance.IsMetric"/> of the distance says).</summary>
    public bool IsMetric => Kind != DistanceKind.Divergence;

    /// <summary>Creates the distance.</summary>
    /// <param name="settings">The settings, or null for the catalog's defaults.</param>
    /// <returns>The distance.</returns>
    /// <exception cref="ArgumentException">A setting out of range (named).</exception>
    public Distance Create(DistanceSettings? settings = null) => Distance.Create(Name, settings);
}

/// <summary>One loss of the catalog.</summary>
/// <param name="Name">The name, for <c>MetricLearningOptions.Loss</c> and <c>--loss</c>.</param>
/// <param name="OnTriplets">True for a loss on (anchor, positive, negative) triplets; false for one on positive and negative pairs.</param>
/// <param name="Summary">What it computes, in one line (with its source).</param>
/// <param name="Options">The group of the core's loss options it reads.</param>
public sealed record LossInfo(string Name, bool OnTriplets, string Summary, string Options);

/// <summary>One miner of the catalog.</summary>
/// <param name="Name">The name, for <c>MetricLearningOptions.Miner</c> and <c>--miner</c>.</param>
/// <param name="Summary">What it chooses, in one line.</param>
/// <param name="Options">The names of the settings it reads (<c>Margin</c>: the trainers' margin).</param>
public sealed record MinerInfo(string Name, string Summary, IReadOnlyList<string> Options);

/// <summary>
/// The three catalogs of the library in one place — distances, losses and miners — each a table of entries
/// (name, what it accepts, what it computes, the settings it reads) with one default written once; every entry of the
/// F# core's catalogs appears here without edits:
/// <code>
/// foreach (var d in Catalog.Distances) Console.WriteLine($"{d.Name}: {d.Accepts}, {d.Kind}, reads {string.Join(", ", d.Options)}");
/// var distance = Catalog.CreateDistance("sliced-w2", new DistanceSettings { Seed = 7 });
/// </code>
/// The names of the command line (<c>--distance</c>, <c>--loss</c>, <c>--miner</c>) and the table of
/// docs/distances.md are these catalogs'.
/// </summary>
public static class Catalog
{
    /// <summary>Every distance: name, accepted representation, metric / pseudo-metric / divergence, summary, settings read.</summary>
    public static IReadOnlyList<DistanceInfo> Distances { get; } = Core.Distances.Catalog
        .Select(d => new DistanceInfo(d.Name, (Representation)(int)d.Accepts, (DistanceKind)(int)d.Kind, d.Summary,
            d.Options.Select(o => o == nameof(Core.DistanceOptions.MaxIterations) ? nameof(DistanceSettings.SinkhornIterations) : o).ToArray()))
        .ToArray();

    /// <summary>Every loss: name, triplets or pairs, summary, the options group it reads.</summary>
    public static IReadOnlyList<LossInfo> Losses { get; } = Core.Losses.Catalog
        .Select(l => new LossInfo(l.Name, l.Tuples == Core.LossTuples.Triplets, l.Summary, l.Options))
        .ToArray();

    /// <summary>Every miner: name, summary, the settings it reads.</summary>
    public static IReadOnlyList<MinerInfo> Miners { get; } = Core.Miners.Catalog
        .Select(m => new MinerInfo(m.Name, m.Summary, m.Options.ToArray()))
        .ToArray();

    /// <summary>The distance names, in catalog order.</summary>
    public static IReadOnlyList<string> DistanceNames => Core.Distances.Names;

    /// <summary>The loss names, in catalog order.</summary>
    public static IReadOnlyList<string> LossNames => Core.Losses.Names;

    /// <summary>The miner names, in catalog order.</summary>
    public static IReadOnlyList<string> MinerNames => Core.Miners.Names;

    /// <summary>The default loss (<c>triplet</c>), the one every trainer and the command line use when none is named.</summary>
    public static string DefaultLoss => Core.Losses.Default;

    /// <summary>The default miner (<c>all</c>: every valid tuple), the one every trainer and the command line use when none is named.</summary>
    public static string DefaultMiner => Core.Miners.Default;

    /// <summary>The default triplet / semi-hard margin (the core's triplet loss default, 0.2).</summary>
    public static double DefaultMargin { get; } = new Core.TripletMarginLossOptions().Margin;

    /// <summary>Creates a distance by name (the same as <see cref="Distance.Create"/>).</summary>
    /// <param name="name">A name of <see cref="DistanceNames"/> (case-insensitive).</param>
    /// <param name="settings">The settings, or null for the catalog's defaults.</param>
    /// <returns>The distance; the sliced ones draw their directions once per instance.</returns>
    /// <exception cref="ArgumentException">Unknown name (names name, lists the valid ones); a setting out of range.</exception>
    public static Distance CreateDistance(string name, DistanceSettings? settings = null) => Distance.Create(name, settings);

    /// <summary>Creates a core loss by name (used by the trainers).</summary>
    internal static Core.IMetricLoss CreateLoss(string name, Core.LossOptions? options = null) => Core.Losses.Create(name, options);

    /// <summary>Creates a core miner by name (used by the trainers).</summary>
    internal static Core.IMiner CreateMiner(string name, Core.MinerOptions? options = null) => Core.Miners.Create(name, options);
}
