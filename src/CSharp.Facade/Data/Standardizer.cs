using System.Text.Json;
using System.Text.Json.Nodes;

namespace DistEmbed.Data;

/// <summary>
/// Per-feature standardisation of sequences, fitted on training data only and then applied unchanged to validation,
/// test and new data: x'_{t,k} = (x_{t,k} − μ_k) / σ_k.
/// </summary>
/// <remarks>
/// μ_k and σ_k are the mean and the population standard deviation of feature k over every time step of every training
/// sequence (each step weighs the same, so long sequences weigh more). A feature that is constant on the training data
/// (σ_k below 1e-12·max(1, |μ_k|)) gets σ_k = 1: it is centred but not scaled, so it stays finite. The fitted
/// statistics travel as JSON (<see cref="ToJson"/>, <see cref="FromJson"/>), e.g. inside a model checkpoint.
/// </remarks>
public sealed class Standardizer
{
    private readonly double[] _means;
    private readonly double[] _stds;

    /// <summary>Creates a standardiser from known statistics.</summary>
    /// <param name="means">Per-feature means μ, length d ≥ 1, finite.</param>
    /// <param name="stds">Per-feature standard deviations σ, length d, finite and &gt; 0.</param>
    /// <exception cref="ArgumentException">Empty, mismatched lengths, a non-finite mean, or a non-positive or non-finite std (the message names the index).</exception>
    public Standardizer(IReadOnlyList<double> means, IReadOnlyList<double> stds)
    {
        ArgumentNullException.ThrowIfNull(means);
        ArgumentNullException.ThrowIfNull(stds);
        if (means.Count == 0)
            throw new ArgumentException("means is empty; a standardiser needs at least one feature.", nameof(means));
        if (stds.Count != means.Count)
            throw new ArgumentException($"stds has {stds.Count} entries but means has {means.Count}; they must match.", nameof(stds));
        for (var k = 0; k < means.Count; k++)
        {
            if (!double.IsFinite(means[k]))
                throw new ArgumentException($"means[{k}] = {means[k]} is not finite.", nameof(means));
            if (!double.IsFinite(stds[k]) || stds[k] <= 0)
                throw new ArgumentException($"stds[{k}] = {stds[k]} must be finite and > 0.", nameof(stds));
        }
        _means = means.ToArray();
        _stds = stds.ToArray();
    }

    /// <summary>The number of features d.</summary>
    public int Channels => _means.Length;

    /// <summary>The per-feature means μ, length d (a copy).</summary>
    public double[] Means => (double[])_means.Clone();

    /// <summary>The per-feature standard deviations σ, length d (a copy); 1 for features constant in training.</summary>
    public double[] Stds => (double[])_stds.Clone();

    /// <summary>Fits the per-feature mean and standard deviation on (training) data.</summary>
    /// <param name="train">The training sequences, each [T_i, d].</param>
    /// <returns>The fitted standardiser (d features).</returns>
    /// <remarks>Two-pass (mean, then squared deviations) in float64, so large offsets do not cancel.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> is null.</exception>
    public static Standardizer Fit(SequenceDataset train)
    {
        ArgumentNullException.ThrowIfNull(train);
        var d = train.Channels;
        var sums = new double[d];
        long steps = 0;
        foreach (var sequence in train.Sequences)
        {
            for (var t = 0; t < sequence.GetLength(0); t++)
                for (var k = 0; k < d; k++)
                    sums[k] += sequence[t, k];
            steps += sequence.GetLength(0);
        }
        if (steps == 0)
            throw new ArgumentException("the training data has no time steps.", nameof(train));
        var means = sums.Select(s => s / steps).ToArray();
        var squares = new double[d];
        foreach (var sequence in train.Sequences)
            for (var t = 0; t < sequence.GetLength(0); t++)
                for (var k = 0; k < d; k++)
                {
                    var deviation = sequence[t, k] - means[k];
                    squares[k] += deviation * deviation;
                }
        var stds = new double[d];
        for (var k = 0; k < d; k++)
        {
            var std = Math.Sqrt(squares[k] / steps);
            stds[k] = std > 1e-12 * Math.Max(1.0, Math.Abs(means[k])) ? std : 1.0;
        }
        return new Standardizer(means, stds);
    }

    /// <summary>Standardises every step of every sequence; ids, labels and label names are kept.</summary>
    /// <param name="dataset">Sequences [T_i, d] with the d this standardiser was fitted on.</param>
    /// <returns>A new dataset of the same shapes; the input is not changed.</returns>
    /// <exception cref="ArgumentException">The dataset has a different number of features.</exception>
    public SequenceDataset Apply(SequenceDataset dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        if (dataset.Channels != Channels)
            throw new ArgumentException($"dataset has {dataset.Channels} features but the standardiser was fitted on {Channels}.", nameof(dataset));
        var sequences = new float[dataset.Count][,];
        for (var i = 0; i < dataset.Count; i++)
        {
            var source = dataset.Sequences[i];
            var target = new float[source.GetLength(0), Channels];
            for (var t = 0; t < source.GetLength(0); t++)
                for (var k = 0; k < Channels; k++)
                    target[t, k] = (float)((source[t, k] - _means[k]) / _stds[k]);
            sequences[i] = target;
        }
        return new SequenceDataset(sequences, dataset.Labels, dataset.Ids, dataset.LabelNames);
    }

    /// <summary>The statistics as JSON: <c>{"kind":"standardizer","means":[…],"stds":[…]}</c> (round-trip exact).</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson() =>
        new JsonObject
        {
            ["kind"] = "standardizer",
            ["means"] = new JsonArray(_means.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
            ["stds"] = new JsonArray(_stds.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
        }.ToJsonString();

    /// <summary>Reads a standardiser written by <see cref="ToJson"/>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The standardiser.</returns>
    /// <exception cref="ArgumentException">Not JSON, another kind, missing or non-numeric arrays, or invalid statistics.</exception>
    public static Standardizer FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"not valid JSON: {e.Message}", nameof(json), e);
        }
        if (root is not JsonObject obj || obj["kind"]?.GetValueKind() != JsonValueKind.String || (string?)obj["kind"] != "standardizer")
            throw new ArgumentException("expected a JSON object with \"kind\": \"standardizer\".", nameof(json));
        return new Standardizer(Numbers(obj, "means"), Numbers(obj, "stds"));
    }

    private static double[] Numbers(JsonObject obj, string name)
    {
        if (obj[name] is not JsonArray array)
            throw new ArgumentException($"the JSON has no array \"{name}\".", "json");
        var values = new double[array.Count];
        for (var i = 0; i < array.Count; i++)
            values[i] = array[i] is JsonValue v && v.GetValueKind() == JsonValueKind.Number
                ? v.GetValue<double>()
                : throw new ArgumentException($"\"{name}\"[{i}] is not a number.", "json");
        return values;
    }
}
