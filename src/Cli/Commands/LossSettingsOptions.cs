using System.CommandLine;
using System.Globalization;
using DistEmbed.Sequences;
using DistEmbed.Training;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// The one command-line binder of the loss settings, shared by <c>train sequence</c> and <c>train bregman</c>:
/// <c>--loss</c>, <c>--miner</c>, <c>--margin</c>, <c>--soft-margin</c>, <c>--memory-loss</c>, <c>--memory-size</c> and
/// one option per <see cref="LossSettings"/> property (<c>--ntxent-temperature</c>, <c>--circle-gamma</c>, …). Every
/// default is read from the trainer's <see cref="MetricLearningOptions"/> (the library's, never written here); the
/// binder sets the parsed values on <see cref="MetricLearningOptions"/> or <see cref="TrainerOptions"/>, refuses on
/// resume a value other than the checkpoint's, and restates the library's errors under the option's name.
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

    private LossSettingsOptions(Option<string> loss, Option<string> miner, Option<double> margin, Option<bool> softMargin, Option<string> memoryLoss, Option<int> memorySize)
    {
        Loss = loss;
        Miner = miner;
        Margin = margin;
        SoftMargin = softMargin;
        MemoryLoss = memoryLoss;
        MemorySize = memorySize;
    }

    /// <summary><c>--loss</c>: a name of <see cref="Catalog.LossNames"/>.</summary>
    public Option<string> Loss { get; }

    /// <summary><c>--miner</c>: a name of <see cref="Catalog.MinerNames"/>.</summary>
    public Option<string> Miner { get; }

    /// <summary><c>--margin</c>: the triplet and semi-hard margin.</summary>
    public Option<double> Margin { get; }

    /// <summary><c>--soft-margin</c>: the triplet loss's soft plus instead of the hinge.</summary>
    public Option<bool> SoftMargin { get; }

    /// <summary><c>--memory-loss</c>: the loss the cross-batch memory (<c>--loss xbm</c>) wraps.</summary>
    public Option<string> MemoryLoss { get; }

    /// <summary><c>--memory-size</c>: the cross-batch memory's size in items.</summary>
    public Option<int> MemorySize { get; }

    /// <summary>The command-line option behind each trainer field of the loss settings (for error messages), by the
    /// field's parameter name (<c>Margin</c>, <c>LossSettings.CircleGamma</c>, …); <c>--loss</c> and <c>--miner</c> are
    /// <see cref="Loss"/> and <see cref="Miner"/>.</summary>
    public static IReadOnlyDictionary<string, string> OptionNames { get; } = new Dictionary<string, string>
    {
        [nameof(MetricLearningOptions.Margin)] = "--margin",
        [nameof(MetricLearningOptions.MemoryLoss)] = "--memory-loss",
        [nameof(MetricLearningOptions.MemorySize)] = "--memory-size",
    }.Concat(Settings.Select(s => KeyValuePair.Create(nameof(MetricLearningOptions.LossSettings) + "." + s.Property, s.Option)))
        .ToDictionary(p => p.Key, p => p.Value);

    /// <summary>The option behind every field this binder sets, <c>Loss</c> and <c>Miner</c> included.</summary>
    private static readonly IReadOnlyDictionary<string, string> AllOptionNames = OptionNames
        .Append(KeyValuePair.Create(nameof(MetricLearningOptions.Loss), "--loss"))
        .Append(KeyValuePair.Create(nameof(MetricLearningOptions.Miner), "--miner"))
        .ToDictionary(p => p.Key, p => p.Value);

    /// <summary>Adds the options to a command, each with the default of <paramref name="defaults"/>.</summary>
    /// <param name="command">The command.</param>
    /// <param name="defaults">The trainer's defaults (<see cref="DeepBregmanTrainer.DefaultOptions"/> for <c>train bregman</c>),
    /// or null for a fresh <see cref="MetricLearningOptions"/>'s (those of <see cref="TrainerOptions"/> too).</param>
    /// <returns>The binder.</returns>
    public static LossSettingsOptions Add(Command command, MetricLearningOptions? defaults = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        var t = defaults ?? new MetricLearningOptions();
        var binder = new LossSettingsOptions(
            new Option<string>("--loss") { Description = CatalogHelp.Loss, DefaultValueFactory = _ => t.Loss },
            new Option<string>("--miner") { Description = CatalogHelp.Miner, DefaultValueFactory = _ => t.Miner },
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
        foreach (var o in new Option[] { binder.Loss, binder.Miner, binder.Margin, binder.SoftMargin, binder.MemoryLoss, binder.MemorySize }) command.Options.Add(o);
        var settings = t.LossSettings ?? new LossSettings();
        foreach (var s in Settings)
        {
            var option = new Option<double>(s.Option) { Description = s.Help, DefaultValueFactory = _ => s.Get(settings) };
            binder._settings[s] = option;
            command.Options.Add(option);
        }
        return binder;
    }

    /// <summary>The parsed values of every option of this binder.</summary>
    private (string Loss, string Miner, double Margin, bool SoftMargin, string MemoryLoss, int MemorySize, LossSettings Settings) Values(ParseResult result, LossSettings? settings)
    {
        ArgumentNullException.ThrowIfNull(result);
        settings ??= new LossSettings();
        foreach (var (s, option) in _settings) settings = s.Set(settings, result.GetValue(option));
        return (result.GetValue(Loss)!, result.GetValue(Miner)!, result.GetValue(Margin), result.GetValue(SoftMargin), result.GetValue(MemoryLoss)!,
            result.GetValue(MemorySize), settings);
    }

    /// <summary>Sets the parsed values on metric-learning options (<c>train bregman</c>).</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="options">The options to complete.</param>
    /// <returns><paramref name="options"/> with the loss, miner, margin, soft margin, memory and loss settings of the command line.</returns>
    public MetricLearningOptions Bind(ParseResult result, MetricLearningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var v = Values(result, options.LossSettings);
        return options with
        {
            Loss = v.Loss, Miner = v.Miner, Margin = v.Margin, SoftMargin = v.SoftMargin, MemoryLoss = v.MemoryLoss, MemorySize = v.MemorySize,
            LossSettings = v.Settings,
        };
    }

    /// <summary>Sets the parsed values on sequence-trainer options (<c>train sequence</c>).</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="options">The options to complete.</param>
    /// <returns><paramref name="options"/> with the loss, miner, margin, soft margin, memory and loss settings of the command line.</returns>
    public TrainerOptions Bind(ParseResult result, TrainerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var v = Values(result, options.LossSettings);
        return options with
        {
            Loss = v.Loss, Miner = v.Miner, Margin = v.Margin, SoftMargin = v.SoftMargin, MemoryLoss = v.MemoryLoss, MemorySize = v.MemorySize,
            LossSettings = v.Settings,
        };
    }

    /// <summary>On resume, refuses an option given explicitly with another value than the checkpoint's.</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="recorded">The checkpoint's trainer options.</param>
    /// <param name="kept">Builds the error of one option: (option, given, recorded).</param>
    /// <exception cref="ArgumentException">An option that differs from the checkpoint's (names it).</exception>
    public void CheckKept(ParseResult result, MetricLearningOptions recorded, Func<string, string, string, ArgumentException> kept)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(recorded);
        ArgumentNullException.ThrowIfNull(kept);
        void Check<T>(Option<T> option, T value)
        {
            if (result.GetResult(option) is not { Implicit: false }) return;
            var given = result.GetValue(option);
            if (!EqualityComparer<T>.Default.Equals(given, value))
                throw kept(option.Name, Convert.ToString(given, CultureInfo.InvariantCulture) ?? "(none)", Convert.ToString(value, CultureInfo.InvariantCulture) ?? "(none)");
        }
        Check(Loss, recorded.Loss);
        Check(Miner, recorded.Miner);
        Check(Margin, recorded.Margin);
        Check(SoftMargin, recorded.SoftMargin);
        Check(MemoryLoss, recorded.MemoryLoss);
        Check(MemorySize, recorded.MemorySize);
        var settings = recorded.LossSettings ?? new LossSettings();
        foreach (var (s, option) in _settings) Check(option, s.Get(settings));
    }

    /// <summary>On resume, refuses an option given explicitly with another value than the sequence checkpoint's.</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="recorded">The checkpoint's trainer options.</param>
    /// <param name="kept">Builds the error of one option: (option, given, recorded).</param>
    /// <exception cref="ArgumentException">An option that differs from the checkpoint's (names it).</exception>
    public void CheckKept(ParseResult result, TrainerOptions recorded, Func<string, string, string, ArgumentException> kept)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        CheckKept(result, recorded.ToMetricLearning(recorded.Distance), kept);
    }

    /// <summary>Runs a library check and restates an error about a trainer field under its command-line option:
    /// <c>LossSettings.CircleGamma = 0; …</c> becomes <c>--circle-gamma = 0; …</c> (parameter name <c>circle-gamma</c>).</summary>
    /// <param name="validate">The check (e.g. <see cref="TrainerOptions.Validate"/>).</param>
    /// <param name="more">The options of the command's other trainer fields (<c>Epochs</c> → <c>--epochs</c>, …), or null;
    /// the fields of this binder are always known.</param>
    /// <exception cref="ArgumentException">The check's error, under the option's name when a known field failed.</exception>
    public static void Validate(Action validate, IReadOnlyDictionary<string, string>? more = null) =>
        CliErrors.AsOptions(validate, more is null ? AllOptionNames : AllOptionNames.Concat(more).ToDictionary(p => p.Key, p => p.Value));
}
