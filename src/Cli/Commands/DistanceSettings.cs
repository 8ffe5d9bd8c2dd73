using System.CommandLine;
using System.Globalization;
using DistEmbed.IO;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>The distance settings a command takes (<see cref="DistanceSettings.Add"/>); each is one option with one name.</summary>
[Flags]
public enum DistanceSetting
{
    /// <summary>None.</summary>
    None = 0,
    /// <summary><c>--epsilon</c>: <see cref="DistEmbed.DistanceSettings.Epsilon"/>.</summary>
    Epsilon = 1,
    /// <summary><c>--sinkhorn-iterations</c> (alias <c>--max-iterations</c>): <see cref="DistEmbed.DistanceSettings.SinkhornIterations"/>.</summary>
    SinkhornIterations = 2,
    /// <summary><c>--tolerance</c>: <see cref="DistEmbed.DistanceSettings.Tolerance"/>.</summary>
    Tolerance = 4,
    /// <summary><c>--epsilon-scaling</c>: <see cref="DistEmbed.DistanceSettings.EpsilonScaling"/>.</summary>
    EpsilonScaling = 8,
    /// <summary><c>--projections</c>: <see cref="DistEmbed.DistanceSettings.Projections"/>.</summary>
    Projections = 16,
    /// <summary><c>--seed</c>: <see cref="DistEmbed.DistanceSettings.Seed"/>.</summary>
    Seed = 32,
    /// <summary><c>--p</c>: <see cref="DistEmbed.DistanceSettings.P"/>.</summary>
    P = 64,
    /// <summary><c>--bandwidths</c>: <see cref="DistEmbed.DistanceSettings.Bandwidths"/>.</summary>
    Bandwidths = 128,
    /// <summary><c>--directions</c>: <see cref="DistEmbed.DistanceSettings.Directions"/> read from an [L, d] .npy file.</summary>
    Directions = 256,
    /// <summary><c>--rho</c>: <see cref="DistEmbed.DistanceSettings.Rho"/> (the marginal relaxation of the unbalanced Sinkhorn distances).</summary>
    Rho = 512,
    /// <summary>The Sinkhorn settings: ε, the iteration cap, the tolerance, ε-scaling and ρ.</summary>
    Sinkhorn = Epsilon | SinkhornIterations | Tolerance | EpsilonScaling | Rho,
    /// <summary>Every setting.</summary>
    All = Sinkhorn | Projections | Seed | P | Bandwidths | Directions,
}

/// <summary>
/// The one command-line binder of distance settings, shared by <c>distance</c>, <c>compare</c>, <c>train sequence</c> and
/// <c>evaluate</c>: one option per setting — <c>--distance</c> (alias <c>--metric</c>), <c>--epsilon</c>,
/// <c>--sinkhorn-iterations</c> (alias <c>--max-iterations</c>), <c>--tolerance</c>, <c>--epsilon-scaling</c>, <c>--rho</c>,
/// <c>--projections</c>, <c>--seed</c>, <c>--p</c>, <c>--bandwidths</c>, <c>--directions</c> — whose defaults are read
/// from a fresh <see cref="DistEmbed.DistanceSettings"/> (the catalog's, never written here), and which builds a
/// <see cref="DistEmbed.DistanceSettings"/>.
/// </summary>
public sealed class DistanceSettings
{
    /// <summary>The names of the distance option: the name, then the old alias kept for scripts.</summary>
    public static readonly string[] DistanceNames = ["--distance", "--metric"];

    private readonly Dictionary<DistanceSetting, Option> _options = [];

    private DistanceSettings(Option<string?> name) => Name = name;

    /// <summary>The distance option <c>--distance</c> (alias <c>--metric</c>).</summary>
    public Option<string?> Name { get; }

    /// <summary>The settings options this binder added, by setting.</summary>
    public IReadOnlyDictionary<DistanceSetting, Option> Options => _options;

    /// <summary>Adds <c>--distance</c> and the chosen settings' options to a command.</summary>
    /// <param name="command">The command.</param>
    /// <param name="settings">The settings that apply to the command.</param>
    /// <param name="lead">The first words of <c>--distance</c>'s help (the catalog's names follow).</param>
    /// <param name="defaultName">The distance's default name, or null for none (then <paramref name="required"/> or a command-specific default).</param>
    /// <param name="required">True: <c>--distance</c> must be given.</param>
    /// <returns>The binder.</returns>
    public static DistanceSettings Add(Command command, DistanceSetting settings, string lead, string? defaultName = null, bool required = false)
    {
        ArgumentNullException.ThrowIfNull(command);
        var name = new Option<string?>(DistanceNames[0], DistanceNames[1..]) { Description = CatalogHelp.Distance(lead), Required = required };
        if (defaultName is not null) name.DefaultValueFactory = _ => defaultName;
        var binder = new DistanceSettings(name);
        command.Options.Add(name);
        var d = new DistEmbed.DistanceSettings();
        if (settings.HasFlag(DistanceSetting.Epsilon))
            binder.AddOption(command, DistanceSetting.Epsilon, new Option<double>("--epsilon")
            {
                Description = "Entropic regularisation ε > 0 of the sinkhorn distances, in units of the squared Euclidean ground cost.",
                DefaultValueFactory = _ => d.Epsilon,
            });
        if (settings.HasFlag(DistanceSetting.SinkhornIterations))
            binder.AddOption(command, DistanceSetting.SinkhornIterations, new Option<int>("--sinkhorn-iterations", "--max-iterations")
            {
                Description = "Sinkhorn iteration cap at the target ε (≥ 1).", DefaultValueFactory = _ => d.SinkhornIterations,
            });
        if (settings.HasFlag(DistanceSetting.Tolerance))
            binder.AddOption(command, DistanceSetting.Tolerance, new Option<double>("--tolerance")
            {
                Description = "Sinkhorn stopping tolerance on the L1 marginal error (> 0).", DefaultValueFactory = _ => d.Tolerance,
            });
        if (settings.HasFlag(DistanceSetting.EpsilonScaling))
            binder.AddOption(command, DistanceSetting.EpsilonScaling, new Option<double>("--epsilon-scaling")
            {
                Description = "Sinkhorn ε-scaling ratio in [0, 1): 0 iterates at ε only (e.g. 0.5 with --sinkhorn-iterations 20 for training).",
                DefaultValueFactory = _ => d.EpsilonScaling,
            });
        if (settings.HasFlag(DistanceSetting.Rho))
            binder.AddOption(command, DistanceSetting.Rho, new Option<double>("--rho")
            {
                Description = "Marginal relaxation ρ > 0 of sinkhorn-unbalanced / sinkhorn-divergence-unbalanced (POT's reg_m; GeomLoss's reach r is ρ = r²; ∞ is balanced).",
                DefaultValueFactory = _ => d.Rho,
            });
        if (settings.HasFlag(DistanceSetting.Projections))
            binder.AddOption(command, DistanceSetting.Projections, new Option<int>("--projections")
            {
                Description = "Number of random directions of sliced-w2 / sliced-w2-cost / max-sliced-w2.", DefaultValueFactory = _ => d.Projections,
            });
        if (settings.HasFlag(DistanceSetting.Seed))
            binder.AddOption(command, DistanceSetting.Seed, new Option<long>("--seed")
            {
                Description = "Seed of the random directions of the sliced distances (drawn once per run).", DefaultValueFactory = _ => d.Seed,
            });
        if (settings.HasFlag(DistanceSetting.P))
            binder.AddOption(command, DistanceSetting.P, new Option<double>("--p")
            {
                Description = "Order p ≥ 1 of the lp distance.", DefaultValueFactory = _ => d.P,
            });
        if (settings.HasFlag(DistanceSetting.Bandwidths))
            binder.AddOption(command, DistanceSetting.Bandwidths, new Option<string>("--bandwidths")
            {
                Description = "Comma-separated Gaussian kernel bandwidths σ of mmd.",
                DefaultValueFactory = _ => string.Join(",", d.Bandwidths.Select(v => v.ToString("R", CultureInfo.InvariantCulture))),
            });
        if (settings.HasFlag(DistanceSetting.Directions))
            binder.AddOption(command, DistanceSetting.Directions, new Option<string?>("--directions")
            {
                Description = "Fixed [L,d] directions (.npy) of the sliced distances instead of random ones.",
            });
        return binder;
    }

    private void AddOption(Command command, DistanceSetting setting, Option option)
    {
        _options[setting] = option;
        command.Options.Add(option);
    }

    /// <summary>The option of one setting (as added).</summary>
    /// <typeparam name="T">The option's value type.</typeparam>
    /// <param name="setting">The setting.</param>
    /// <returns>The option.</returns>
    /// <exception cref="InvalidOperationException">The setting was not added to this command.</exception>
    public Option<T> Option<T>(DistanceSetting setting) =>
        _options.TryGetValue(setting, out var o) ? (Option<T>)o : throw new InvalidOperationException($"the distance setting {setting} is not an option of this command.");

    /// <summary>The options given explicitly on the command line (distance name included), by their names.</summary>
    /// <param name="result">The parse result.</param>
    /// <returns>The names, in the order they were added.</returns>
    public IReadOnlyList<string> Given(ParseResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new Option[] { Name }.Concat(_options.Values).Where(o => result.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToArray();
    }

    /// <summary>The command-line option of each <see cref="DistEmbed.DistanceSettings"/> property (for error messages), by
    /// the property's name (<c>Epsilon</c> → <c>--epsilon</c>, …).</summary>
    public static IReadOnlyDictionary<string, string> OptionNames { get; } = new Dictionary<string, string>
    {
        [nameof(DistEmbed.DistanceSettings.Epsilon)] = "--epsilon", [nameof(DistEmbed.DistanceSettings.SinkhornIterations)] = "--sinkhorn-iterations",
        [nameof(DistEmbed.DistanceSettings.Tolerance)] = "--tolerance", [nameof(DistEmbed.DistanceSettings.EpsilonScaling)] = "--epsilon-scaling",
        [nameof(DistEmbed.DistanceSettings.Rho)] = "--rho", [nameof(DistEmbed.DistanceSettings.Projections)] = "--projections",
        [nameof(DistEmbed.DistanceSettings.Seed)] = "--seed", [nameof(DistEmbed.DistanceSettings.P)] = "--p",
        [nameof(DistEmbed.DistanceSettings.Bandwidths)] = "--bandwidths", [nameof(DistEmbed.DistanceSettings.Directions)] = "--directions",
    };

    /// <summary>On resume, refuses a distance option given explicitly with another value than the checkpoint's (every
    /// setting this binder added, and <c>--distance</c>).</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="recordedName">The checkpoint's distance name.</param>
    /// <param name="recorded">The checkpoint's distance settings.</param>
    /// <param name="kept">Builds the error of one option: (option, given, recorded).</param>
    /// <exception cref="ArgumentException">An option that differs from the checkpoint's (names it).</exception>
    public void CheckKept(ParseResult result, string? recordedName, DistEmbed.DistanceSettings recorded, Func<string, string, string, ArgumentException> kept)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(recorded);
        ArgumentNullException.ThrowIfNull(kept);
        static string Text(object? v) => v switch
        {
            null => "(none)",
            IEnumerable<double> list => string.Join(",", list.Select(x => x.ToString("R", CultureInfo.InvariantCulture))),
            _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "(none)",
        };
        void Check(Option option, object? given, object? value)
        {
            if (result.GetResult(option) is not { Implicit: false }) return;
            if (!Equals(given, value) && Text(given) != Text(value)) throw kept(option.Name, Text(given), Text(value));
        }
        Check(Name, result.GetValue(Name), recordedName);
        foreach (var (setting, option) in _options)
        {
            switch (setting)
            {
                case DistanceSetting.Epsilon: Check(option, result.GetValue((Option<double>)option), recorded.Epsilon); break;
                case DistanceSetting.SinkhornIterations: Check(option, result.GetValue((Option<int>)option), recorded.SinkhornIterations); break;
                case DistanceSetting.Tolerance: Check(option, result.GetValue((Option<double>)option), recorded.Tolerance); break;
                case DistanceSetting.EpsilonScaling: Check(option, result.GetValue((Option<double>)option), recorded.EpsilonScaling); break;
                case DistanceSetting.Rho: Check(option, result.GetValue((Option<double>)option), recorded.Rho); break;
                case DistanceSetting.Projections: Check(option, result.GetValue((Option<int>)option), recorded.Projections); break;
                case DistanceSetting.Seed: Check(option, result.GetValue((Option<long>)option), recorded.Seed); break;
                case DistanceSetting.P: Check(option, result.GetValue((Option<double>)option), recorded.P); break;
                case DistanceSetting.Bandwidths: Check(option, ParseList(result.GetValue((Option<string>)option)!, option.Name), recorded.Bandwidths); break;
                case DistanceSetting.Directions:
                    if (result.GetResult(option) is { Implicit: false })
                        throw new ArgumentException($"{option.Name} cannot be given on resume: a resumed run draws the directions as the checkpoint's run did.", option.Name.TrimStart('-'));
                    break;
            }
        }
    }

    /// <summary>The distance name given, or its default (null when neither).</summary>
    /// <param name="result">The parse result.</param>
    /// <returns>The name.</returns>
    public string? DistanceName(ParseResult result) => result.GetValue(Name);

    /// <summary>Builds the <see cref="DistEmbed.DistanceSettings"/> of the parsed settings; the settings a command does
    /// not take keep the catalog's defaults.</summary>
    /// <param name="result">The parse result.</param>
    /// <param name="device">The device <c>--directions</c> is read onto (default CPU).</param>
    /// <param name="readDirections">False: leave <see cref="DistEmbed.DistanceSettings.Directions"/> null (the caller reads
    /// <see cref="DirectionsPath"/> itself, e.g. once the device is resolved).</param>
    /// <returns>The settings.</returns>
    /// <exception cref="ArgumentException">A bandwidth that is not a number, or directions that are not [L, d] (names the option).</exception>
    public DistEmbed.DistanceSettings Bind(ParseResult result, torch.Device? device = null, bool readDirections = true)
    {
        ArgumentNullException.ThrowIfNull(result);
        var s = new DistEmbed.DistanceSettings();
        foreach (var (setting, option) in _options)
        {
            s = setting switch
            {
                DistanceSetting.Epsilon => s with { Epsilon = result.GetValue((Option<double>)option) },
                DistanceSetting.SinkhornIterations => s with { SinkhornIterations = result.GetValue((Option<int>)option) },
                DistanceSetting.Tolerance => s with { Tolerance = result.GetValue((Option<double>)option) },
                DistanceSetting.EpsilonScaling => s with { EpsilonScaling = result.GetValue((Option<double>)option) },
                DistanceSetting.Rho => s with { Rho = result.GetValue((Option<double>)option) },
                DistanceSetting.Projections => s with { Projections = result.GetValue((Option<int>)option) },
                DistanceSetting.Seed => s with { Seed = result.GetValue((Option<long>)option) },
                DistanceSetting.P => s with { P = result.GetValue((Option<double>)option) },
                DistanceSetting.Bandwidths => s with { Bandwidths = ParseList(result.GetValue((Option<string>)option)!, "--bandwidths") },
                DistanceSetting.Directions when readDirections && result.GetValue((Option<string?>)option) is { } path =>
                    s with { Directions = ReadDirections(path, device) },
                _ => s,
            };
        }
        return s;
    }

    /// <summary>Creates a catalog distance with an error that names the command-line option behind a bad setting.</summary>
    /// <param name="name">The distance name.</param>
    /// <param name="settings">The settings (from <see cref="Bind"/>).</param>
    /// <returns>The distance.</returns>
    /// <exception cref="ArgumentException">An unknown name (names <c>--distance</c>) or a setting out of range (names its option).</exception>
    public static Distance Create(string name, DistEmbed.DistanceSettings settings)
    {
        try
        {
            return Distance.Create(name, settings);
        }
        catch (ArgumentException failure) when (AsOption(failure) is { } renamed)
        {
            throw renamed;
        }
    }

    /// <summary>A library argument error restated under the command-line option behind it (the distance options' names,
    /// and the Sinkhorn solver's <c>options.X</c> fields), or null when the error names something else (a file, which
    /// the message already names).</summary>
    /// <param name="e">The library's error.</param>
    /// <returns>The error under the option's name, or null.</returns>
    public static ArgumentException? AsOption(ArgumentException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var detail = OutputFiles.Bare(e);
        foreach (var (field, option) in new[]
                 {
                     ("options.Epsilon", "--epsilon"), ("options.MaxIterations", "--sinkhorn-iterations"),
                     ("options.Tolerance", "--tolerance"), ("options.EpsilonScaling", "--epsilon-scaling"),
                 })
            if (detail.StartsWith(field + " ", StringComparison.Ordinal))
                return new ArgumentException(option + detail[field.Length..], option.TrimStart('-'), e);
        var name = e.ParamName switch
        {
            "projections" => "--projections",
            "p" => "--p",
            "bandwidths" => "--bandwidths",
            "directions" => "--directions",
            "epsilon" => "--epsilon",
            "epsilonScaling" => "--epsilon-scaling",
            "rho" => "--rho",
            "name" => "--distance",
            _ => null,
        };
        return name is null ? null : new ArgumentException($"{name}: {detail}", name.TrimStart('-'), e);
    }

    /// <summary>The <c>--directions</c> file given, or null (also when the command does not take it).</summary>
    /// <param name="result">The parse result.</param>
    /// <returns>The path or null.</returns>
    public string? DirectionsPath(ParseResult result) =>
        _options.TryGetValue(DistanceSetting.Directions, out var o) ? result.GetValue((Option<string?>)o) : null;

    /// <summary>Reads fixed [L, d] directions (float64) from a .npy file.</summary>
    /// <param name="path">The .npy file.</param>
    /// <param name="device">The device, or null for the CPU.</param>
    /// <returns>The [L, d] tensor.</returns>
    /// <exception cref="ArgumentException">The array is not two-dimensional (names directions).</exception>
    public static torch.Tensor ReadDirections(string path, torch.Device? device)
    {
        var dirs = Npy.ReadTensor(path, device ?? torch.CPU, torch.ScalarType.Float64);
        if (dirs.dim() != 2)
        {
            var shape = string.Join(",", dirs.shape);
            dirs.Dispose();
            throw new ArgumentException($"--directions {path} has shape [{shape}]; directions must be [L, d].", "directions");
        }
        return dirs;
    }

    private static double[] ParseList(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v : throw new ArgumentException($"{option}: '{s}' is not a number.", option.TrimStart('-'))).ToArray();
    }
}
