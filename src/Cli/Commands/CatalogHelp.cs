using DistEmbed.Core;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// The help text of the options that take a catalog name (<c>--metric</c> / <c>--distance</c>, <c>--loss</c>,
/// <c>--miner</c>), written from the catalogs (<see cref="Catalog"/>) so that the command line lists exactly what the
/// library accepts.
/// </summary>
public static class CatalogHelp
{
    /// <summary>The distance names grouped by the representation they accept, in catalog order:
    /// <c>vectors: euclidean, …; distributions: …; quantiles: ….</c></summary>
    public static string DistanceNames =>
        string.Join("; ", Catalog.Distances.GroupBy(d => d.Accepts)
            .Select(g => $"{g.Key.ToString().ToLowerInvariant()}: {string.Join(", ", g.Select(d => d.Name))}")) + ".";

    /// <summary>The help of a distance option: a lead sentence, then <see cref="DistanceNames"/>.</summary>
    /// <param name="lead">What the option is for, e.g. "Distance name (default: euclidean)".</param>
    /// <returns>The description.</returns>
    public static string Distance(string lead) => $"{lead} — {DistanceNames}";

    /// <summary>The help of <c>--loss</c>: every loss name (the default is the command's, shown by the parser).</summary>
    public static string Loss => $"Loss: {string.Join(", ", Catalog.LossNames)}.";

    /// <summary>The help of <c>--miner</c>: every miner name (the default is the command's, shown by the parser: the
    /// sequence trainer's and the deep Bregman trainer's defaults differ).</summary>
    public static string Miner => $"Miner: {string.Join(", ", Catalog.MinerNames)} (all = every valid triplet / pair).";
}
