using DistEmbed.Core;

namespace DistEmbed;

/// <summary>
/// The three catalogs of the library in one place — distances, losses and miners — each a table of descriptors
/// (name, what it accepts, what it computes, the options it reads, factory) with one default written once:
/// <code>
/// foreach (var d in Catalog.Distances) Console.WriteLine($"{d.Name}: {d.Accepts}, {d.Kind}, reads {string.Join(", ", d.Options)}");
/// var distance = Catalog.CreateDistance("sliced-w2", new DistanceOptions { Seed = 7 });
/// var loss = Catalog.CreateLoss(Catalog.DefaultLoss, null);
/// var miner = Catalog.CreateMiner(Catalog.DefaultMiner, null);
/// </code>
/// The names of the command line (<c>--distance</c>, <c>--loss</c>, <c>--miner</c>) and the table of
/// docs/distances.md are these catalogs'.
/// </summary>
public static class Catalog
{
    /// <summary>Every distance: name, accepted representation, metric / pseudo-metric / divergence, summary, options read.</summary>
    public static IReadOnlyList<DistanceDescriptor> Distances => Core.Distances.Catalog;

    /// <summary>Every loss: name, triplets or pairs, summary, the <see cref="LossOptions"/> property it reads.</summary>
    public static IReadOnlyList<LossDescriptor> Losses => Core.Losses.Catalog;

    /// <summary>Every miner: name, summary, the <see cref="MinerOptions"/> properties it reads.</summary>
    public static IReadOnlyList<MinerDescriptor> Miners => Core.Miners.Catalog;

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

    /// <summary>Creates a distance by name.</summary>
    /// <param name="name">A name of <see cref="DistanceNames"/> (case-insensitive).</param>
    /// <param name="options">The options, or null for the defaults.</param>
    /// <returns>The distance; the sliced ones are <see cref="ISeededDistance"/> (directions drawn once per instance).</returns>
    /// <exception cref="ArgumentException">Unknown name (names name, lists the valid ones); an option out of range.</exception>
    public static IBlockwiseDistance CreateDistance(string name, DistanceOptions? options = null) => Core.Distances.Create(name, options);

    /// <summary>Creates a loss by name.</summary>
    /// <param name="name">A name of <see cref="LossNames"/> (case-insensitive).</param>
    /// <param name="options">The options, or null for the defaults.</param>
    /// <returns>The loss.</returns>
    /// <exception cref="ArgumentException">Unknown name (names name, lists the valid ones).</exception>
    public static IMetricLoss CreateLoss(string name, LossOptions? options = null) => Core.Losses.Create(name, options);

    /// <summary>Creates a miner by name.</summary>
    /// <param name="name">A name of <see cref="MinerNames"/> (case-insensitive).</param>
    /// <param name="options">The options, or null for the defaults.</param>
    /// <returns>The miner.</returns>
    /// <exception cref="ArgumentException">Unknown name (names name, lists the valid ones); an option out of range.</exception>
    public static IMiner CreateMiner(string name, MinerOptions? options = null) => Core.Miners.Create(name, options);
}
