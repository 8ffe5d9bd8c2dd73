using System.CommandLine;
using System.Globalization;
using DistEmbed.Sequences;
using DistEmbed.Training;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// The command-line options of the loss settings of <c>train sequence</c>: <c>--margin</c>, <c>--soft-margin</c>,
/// <c>--memory-loss</c>, <c>--memory-size</c> and one option per <see cref="LossSettings"/> property
/// (<c>--ntxent-temperature</c>, <c>--circle-gamma</c>, …). Every default is read from a fresh
/// <see cref="TrainerOptions"/> / <see cref="LossSettings"/> (the core's, never written here).
/// </summary>
public sealed class LossSettingsOptions
{
    /// <summary>One <see cref="LossSettings"/> property: its option, what it reads and how it is set.</summary>
    private sealed record Setting(string Property, string Option, string Help, Func<LossSettings, double> Get, Func<LossSettings, double, LossSettings> Set);

    /// <summary>The <see cref="LossSettings"/> options, in the order of the record.</summary>
    private static readonly Setting[] Settings =
    [
        new(nameof(LossSettings.ContrastivePositiveMargin), "--contrastive-positive-margin", "contrastive: margin m₊ ≥ 0 of [D − m₊]₊ on positive pairs.",
            s => s.ContrastivePositiveMargin, (s, v) => s with { ContrastivePositiveMargin = v }),
        new(nameof(LossSettings.ContrastiveNegativeMargin), "--contrastive-negative-margin", "contrastive: margin m₋ ≥ 0 of [m₋ − D]₊ on negative pairs.",
            s => s.ContrastiveNegativeMargin, (s, v) => s with { ContrastiveNegativeMargin = v }),
        new(nameof(LossSettings.NTXentTemperature), "--ntxent-temperature", "ntxent: temperature τ > 0 of the softmax over −D/τ.",
            s => s.NTXentTemperature, (s, v) => s with { NTXentTemperature = v }),
        new(nameof(LossSettings.SupConTemperature), "--supcon-temperature", "supcon: temperature τ > 0 of the softmax over −D/τ.",
            s => s.SupConTemperature, (s, v) => s with { SupConTemperature = v }),
        new(nameof(LossSettings.PrototypeTemperature), "--prototype-temperature", "prototype: temperature τ > 0 of the softmax over −D/τ to the class prototypes.",
            s => s.PrototypeTemperature, (s, v) => s with { PrototypeTemperature = v }),
        new(nameof(LossSettings.MultiSimilarityAlpha), "--multi-similarity-alpha", "multi-similarity: positive scale α > 0.",
            s => s.MultiSimilarityAlpha, (s, v) => s with { MultiSimilarityAlpha = v }),
        new(nameof(LossSettings.MultiSimilarityBeta), "--multi-similarity-beta", "multi-similarity: negative scale β > 0.",
            s => s.MultiSimilarityBeta, (s, v) => s with { MultiSimilarityBeta = v }),
        new(nameof(LossSettings.MultiSimilarityThreshold), "--multi-similarity-threshold", "multi-similarity: similarity threshold λ.",
            s => s.MultiSimilarityThreshold, (s, v) => s with { MultiSimilarityThreshold = v }),
        new(nameof(LossSettings.CircleMargin), "--circle-margin", "circle: relaxation margin m ≥ 0.",
            s => s.CircleMargin, (s, v) => s with { CircleMargin = v }),
        new(nameof(LossSettings.CircleGamma), "--circle-gamma", "circle: scale γ > 0.",
            s => s.CircleGamma, (s, v) => s with { CircleGamma = v }),
        new(nameof(LossSettings.ProxyAnchorAlpha), "--proxy-anchor-alpha", "proxy-anchor: scale α > 0.",
            s => s.ProxyAnchorAlpha, (s, v) => s with { ProxyAnchorAlpha = v }),
        new(nameof(LossSettings.ProxyAnchorDelta), "--proxy-anchor-delta", "proxy-anchor: margin δ ≥ 0.",
            s => s.ProxyAnchorDelta, (s, v) => s with { ProxyAnchorDelta = v }),
    ];

    private readonly Dictionary<Setting, Option<double>> _settings = [];

    private LossSettingsOptions(Option<double> margin, Option<bool> softMargin, Option<string> memoryLoss, Option<int> memorySize)
    {
        Margin = margin;
        SoftMargin = softMargin;
        MemoryLoss = memoryLoss;
        MemorySize = memorySize;
    }

    /// <summary><c>--margin</c>: the triplet and semi-hard margin.</summary>
    public Option<double> Margin { get; }

    /// <summary><c>--soft-margin</c>: the triplet loss's soft plus instead of the hinge.</summary>
    public Option<bool> SoftMargin { get; }

    /// <summary><c>--memory-loss</c>: the loss the cross-batch memory (<c>--loss xbm</c>) wraps.</summary>
    public Option<string> MemoryLoss { get; }

    /// <summary><c>--memory-size</c>: the cross-batch memory's size in items.</summary>
    public Option<int> MemorySize { get; }

    /// <summary>The command-line option behind each trainer field these options set (for error messages), by the
    /// field's parameter name (<c>Margin</c>, <c>LossSettings.CircleGamma</c>, …).</summary>
    public static IReadOnlyDictionary<string, string> OptionNames { get; } = new Dictionary<string, string>
    {
        [nameof(TrainerOptions.Margin)] = "--margin",
        [nameof(TrainerOptions.MemoryLoss)] = "--memory-loss",
        [nameof(TrainerOptions.MemorySize)] = "--memory-size",
    }.Concat(Settings.Select(s => KeyValuePair.Create(nameof(TrainerOptions.LossSettings) + "." + s.Property, s.Option)))
        .ToDictionary(p => p.Key, p => p.Value);

    /// <summary>Adds the options to a command, each with its library default.</summary>
    /// <param name="command">The command.</param>
    /// <returns>The binder.</returns>
    public static LossSettingsOptions Add(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var t = new TrainerOptions();
        var binder = new LossSettingsOptions(
            new Option<double>("--margin") { Description = "Triplet and semi-hard margin (> 0).", DefaultValueFactory = _ => t.Margin },
            new Option<bool>("--soft-margin") { Description = "Triplet loss with the soft plus log(1 + exp(d_ap − d_an)) instead of the hinge.", DefaultValueFactory = _ => t.SoftMargin },
            new Option<string>("--memory-loss")
            {
                Description = $"With --loss xbm: the wrapped triplet or pair loss ({string.Join(", ", Catalog.Losses.Where(l => l.Tuples is LossTuples.Triplets or LossTuples.Pairs).Select(l => l.Name))}).",
                DefaultValueFactory = _ => t.MemoryLoss,
            },
            new Option<int>("--memory-size")
            {
                Description = "With --loss xbm: the memory of past batches in items (≥ 0; kept in the checkpoint).", DefaultValueFactory = _ => t.MemorySize,
            });
        foreach (var o in new Option[] { binder.Margin, binder.SoftMargin, binder.MemoryLoss, binder.MemorySize }) command.Options.Add(o);
        var defaults = t.LossSettings;
        foreach (var s in Settings)
        {
            var option = new Option<double>(s.Option) { Description = s.Help, DefaultValueFactory = _ => s.Get(defaults) };
            binder._settings[s] = option;
            command.Options.Add(option);
        }
        return binder;
    }

    /// <summary>Sets the parsed values on trainer options.</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="options">The options to complete.</param>
    /// <returns><paramref name="options"/> with the margin, soft margin, memory and loss settings of the command line.</returns>
    public TrainerOptions Bind(ParseResult result, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(options);
        var settings = options.LossSettings ?? new LossSettings();
        foreach (var (s, option) in _settings) settings = s.Set(settings, result.GetValue(option));
        return options with
        {
            Margin = result.GetValue(Margin),
            SoftMargin = result.GetValue(SoftMargin),
            MemoryLoss = result.GetValue(MemoryLoss)!,
            MemorySize = result.GetValue(MemorySize),
            LossSettings = settings,
        };
    }

    /// <summary>On resume, refuses an option given explicitly with another value than the checkpoint's.</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="recorded">The checkpoint's trainer options.</param>
    /// <param name="kept">Builds the error of one option: (option, given, recorded).</param>
    /// <exception cref="ArgumentException">An option that differs from the checkpoint's (names it).</exception>
    public void CheckKept(ParseResult result, TrainerOptions recorded, Func<string, string, string, ArgumentException> kept)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(recorded);
        void Check<T>(Option<T> option, T value)
        {
            if (result.GetResult(option) is not { Implicit: false }) return;
            var given = result.GetValue(option);
            if (!EqualityComparer<T>.Default.Equals(given, value))
                throw kept(option.Name, Convert.ToString(given, CultureInfo.InvariantCulture) ?? "(none)", Convert.ToString(value, CultureInfo.InvariantCulture) ?? "(none)");
        }
        Check(Margin, recorded.Margin);
        Check(SoftMargin, recorded.SoftMargin);
        Check(MemoryLoss, recorded.MemoryLoss);
        Check(MemorySize, recorded.MemorySize);
        var settings = recorded.LossSettings ?? new LossSettings();
        foreach (var (s, option) in _settings) Check(option, s.Get(settings));
    }
}
