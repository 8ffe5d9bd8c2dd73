using System.Globalization;

namespace DistEmbed.Data;

/// <summary>
/// Loads a sequence dataset from a one-string specification, as given on the command line.
/// </summary>
/// <remarks>
/// <para>Specifications:</para>
/// <list type="bullet">
/// <item><c>PATH.csv</c>, <c>PATH.parquet</c>: a long-form file (<see cref="SequenceFiles.Read"/>).</item>
/// <item><c>synthetic:TASK[?classes=32&amp;per-class=20&amp;seed=0&amp;min-length=32&amp;max-length=128]</c>: a task of
/// <see cref="SyntheticSequences"/> (defaults shown).</item>
/// <item><c>mnist-rows</c>, <c>fashion-mnist-rows</c> <c>[?train=true&amp;per-class=all&amp;seed=0&amp;downsample=1]</c>:
/// the 28×28 images of MNIST or Fashion-MNIST (<see cref="ImageDatasets.Load"/>; training part unless
/// <c>train=false</c>) read row by row, a sequence of 28 steps × 28 channels with pixel values in [0, 1] (the
/// row-sequential reading of Le et al. [1]). <c>per-class=N</c> keeps a seeded random sample of N images of each
/// digit/garment class; <c>downsample=f</c> (1, 2, 4, 7 or 14) averages f×f pixel blocks, giving 28/f steps × 28/f
/// channels.</item>
/// <item><c>idx-rows:DIR</c> with the same options: any IDX image folder read row by row (the files
/// <c>{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]</c>, as for <c>idx:DIR</c> of <see cref="ImageDatasets.Load"/>).</item>
/// </list>
/// <para>Unknown specifications and unknown or malformed options are rejected with an
/// <see cref="ArgumentException"/> naming them.</para>
/// <para>References: [1] Q. V. Le, N. Jaitly, G. E. Hinton, "A Simple Way to Initialize Recurrent Networks of
/// Rectified Linear Units", arXiv:1504.00941 (2015).</para>
/// </remarks>
public static class SequenceSources
{
    /// <summary>Default number of classes of a <c>synthetic:</c> source.</summary>
    public const int DefaultClasses = 32;

    /// <summary>Default sequences per class of a <c>synthetic:</c> source.</summary>
    public const int DefaultPerClass = 20;

    /// <summary>Default shortest sequence of a <c>synthetic:</c> source.</summary>
    public const int DefaultMinLength = 32;

    /// <summary>Default longest sequence of a <c>synthetic:</c> source.</summary>
    public const int DefaultMaxLength = 128;

    private static readonly string[] FashionNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Loads the dataset a specification names (see remarks of <see cref="SequenceSources"/>).</summary>
    /// <param name="spec">The specification, e.g. <c>data/train.csv</c>, <c>synthetic:noise-laws?classes=64</c>, <c>fashion-mnist-rows?train=false</c>.</param>
    /// <returns>The dataset.</returns>
    /// <exception cref="ArgumentException">An unknown specification, task or option, or an option value out of range.</exception>
    /// <exception cref="SequenceDataException">A malformed file.</exception>
    public static SequenceDataset Load(string spec)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        var trimmed = spec.Trim();
        var extension = Path.GetExtension(trimmed).ToLowerInvariant();
        if (extension is ".csv" or ".parquet" && !trimmed.StartsWith("synthetic:", StringComparison.OrdinalIgnoreCase))
            return SequenceFiles.Read(trimmed);
        var question = trimmed.IndexOf('?');
        var original = question < 0 ? trimmed : trimmed[..question];
        var head = original.ToLowerInvariant();
        var options = ParseOptions(spec, question < 0 ? "" : trimmed[(question + 1)..]);
        if (head.StartsWith("synthetic:", StringComparison.Ordinal))
        {
            var task = head["synthetic:".Length..];
            if (Array.IndexOf(SyntheticSequences.Tasks, task) < 0)
                throw new ArgumentException(
                    $"unknown synthetic task '{task}' in '{spec}'; known: {string.Join(", ", SyntheticSequences.Tasks)}.", nameof(spec));
            var reader = new OptionReader(spec, options, ["classes", "per-class", "seed", "min-length", "max-length"]);
            try
            {
                return SyntheticSequences.Generate(task,
                    reader.Int("classes", DefaultClasses), reader.Int("per-class", DefaultPerClass), reader.Int("seed", 0),
                    reader.Int("min-length", DefaultMinLength), reader.Int("max-length", DefaultMaxLength));
            }
            catch (ArgumentException e) when (e.ParamName is "classes" or "perClass" or "minLength" or "maxLength")
            {
                // Name the spec's keys (per-class, not the API's perClass) and keep one parameter suffix.
                var key = e.ParamName switch { "perClass" => "per-class", "minLength" => "min-length", "maxLength" => "max-length", _ => "classes" };
                var detail = IO.ArgumentMessages.Bare(e);
                if (detail.StartsWith(e.ParamName + " ", StringComparison.Ordinal))
                    detail = key + detail[e.ParamName.Length..];
                throw new ArgumentException($"{detail} (in '{spec}')", nameof(spec), e);
            }
        }
        if (head is "mnist-rows" or "fashion-mnist-rows" || head.StartsWith("idx-rows:", StringComparison.Ordinal))
        {
            var reader = new OptionReader(spec, options, ["train", "per-class", "seed", "downsample"]);
            var train = reader.Bool("train", true);
            var perClass = reader.Int("per-class", int.MaxValue);
            var seed = reader.Int("seed", 0);
            var factor = reader.Int("downsample", 1);
            if (perClass < 1)
                throw new ArgumentException($"per-class = {perClass} in '{spec}' must be ≥ 1.", nameof(spec));
            var images = head switch
            {
                "mnist-rows" => ImageDatasets.Load("mnist", train),
                "fashion-mnist-rows" => ImageDatasets.Load("fashion-mnist", train),
                _ => ImageDatasets.Load("idx:" + original["idx-rows:".Length..], train),
            };
            return ImageRows(images, head == "fashion-mnist-rows" ? FashionNames : null, perClass, seed, factor, spec);
        }
        throw new ArgumentException(
            $"unknown sequence source '{spec}'; expected a .csv or .parquet path, synthetic:<{string.Join("|", SyntheticSequences.Tasks)}>[?…], mnist-rows, fashion-mnist-rows or idx-rows:DIR.",
            nameof(spec));
    }

    /// <summary>Turns images into row sequences (row r = step r, column c = channel c), optionally block-averaged and sampled per class.</summary>
    private static SequenceDataset ImageRows(ImageSet images, string[]? labelNames, int perClass, int seed, int factor, string spec)
    {
        if (factor < 1 || images.Rows % factor != 0 || images.Cols % factor != 0)
            throw new ArgumentException(
                $"downsample = {factor} in '{spec}' must be ≥ 1 and divide the image size {images.Rows}×{images.Cols}.", nameof(spec));
        var n = images.Labels.Length;
        var chosen = Enumerable.Range(0, n).ToArray();
        if (perClass < n)
        {
            var rng = new Random(seed);
            for (var i = n - 1; i > 0; i--)
            {
                var j = rng.Next(i + 1);
                (chosen[i], chosen[j]) = (chosen[j], chosen[i]);
            }
            var taken = new Dictionary<int, int>();
            chosen = chosen.Where(i =>
            {
                var count = taken.GetValueOrDefault(images.Labels[i]);
                taken[images.Labels[i]] = count + 1;
                return count < perClass;
            }).Order().ToArray();
        }
        int steps = images.Rows / factor, channels = images.Cols / factor;
        var scale = 1f / (factor * factor);
        var sequences = new float[chosen.Length][,];
        var labels = new int[chosen.Length];
        var ids = new string[chosen.Length];
        for (var s = 0; s < chosen.Length; s++)
        {
            var i = chosen[s];
            var data = new float[steps, channels];
            for (var r = 0; r < images.Rows; r++)
                for (var c = 0; c < images.Cols; c++)
                    data[r / factor, c / factor] += images.Images[i, r * images.Cols + c] * scale;
            sequences[s] = data;
            labels[s] = images.Labels[i];
            ids[s] = i.ToString(CultureInfo.InvariantCulture);
        }
        var classCount = labels.Max() + 1;
        var names = labelNames is not null && labelNames.Length >= classCount
            ? labelNames
            : Enumerable.Range(0, classCount).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();
        return new SequenceDataset(sequences, labels, ids, names);
    }

    private static Dictionary<string, string> ParseOptions(string spec, string query)
    {
        var options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (query.Length == 0)
            return options;
        foreach (var part in query.Split('&'))
        {
            var equals = part.IndexOf('=');
            if (equals <= 0 || equals == part.Length - 1)
                throw new ArgumentException($"option '{part}' in '{spec}' is not of the form name=value.", nameof(spec));
            if (!options.TryAdd(part[..equals].Trim(), part[(equals + 1)..].Trim()))
                throw new ArgumentException($"option '{part[..equals]}' appears twice in '{spec}'.", nameof(spec));
        }
        return options;
    }

    private sealed class OptionReader
    {
        private readonly string _spec;
        private readonly Dictionary<string, string> _options;

        public OptionReader(string spec, Dictionary<string, string> options, string[] known)
        {
            _spec = spec;
            _options = options;
            foreach (var name in options.Keys)
                if (!known.Contains(name, StringComparer.OrdinalIgnoreCase))
                    throw new ArgumentException(
                        $"unknown option '{name}' in '{spec}'; known options: {string.Join(", ", known)}.", nameof(spec));
        }

        public int Int(string name, int fallback)
        {
            if (!_options.TryGetValue(name, out var text))
                return fallback;
            if (text.Equals("all", StringComparison.OrdinalIgnoreCase) && name == "per-class" && fallback == int.MaxValue)
                return fallback;
            return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new ArgumentException($"option {name} = '{text}' in '{_spec}' is not an integer.", "spec");
        }

        public bool Bool(string name, bool fallback)
        {
            if (!_options.TryGetValue(name, out var text))
                return fallback;
            return bool.TryParse(text, out var value)
                ? value
                : throw new ArgumentException($"option {name} = '{text}' in '{_spec}' must be true or false.", "spec");
        }
    }
}
