using System.Globalization;

namespace DistEmbed.Data;

/// <summary>
/// Collects the rows of a long-form sequence table (one row per time step) from a CSV or Parquet reader, checks each
/// row as it arrives, and assembles a <see cref="SequenceDataset"/>: sequences in order of first appearance, steps
/// sorted, labels numbered in sorted order of their names (numeric order when every name is an integer).
/// </summary>
internal sealed class LongFormTable
{
    internal const string IdColumn = "sequence_id";
    internal const string LabelColumn = "label";
    internal const string StepColumn = "step";

    private readonly string _file;
    private readonly string[] _featureNames;
    private readonly Dictionary<string, Pending> _byId = new(StringComparer.Ordinal);
    private readonly List<Pending> _order = new();

    internal LongFormTable(string file, string[] featureNames)
    {
        _file = file;
        _featureNames = featureNames;
    }

    internal int Channels => _featureNames.Length;

    internal int RowCount { get; private set; }

    /// <summary>
    /// Resolves the header: the three key columns and the feature columns x0..x{d-1}, each exactly once, nothing else.
    /// Returns the position of each key column and of each feature column (feature k at <c>features[k]</c>).
    /// </summary>
    internal static (int Id, int Label, int Step, int[] Features) ResolveHeader(string file, IReadOnlyList<string> names)
    {
        var position = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
        {
            var name = names[i];
            if (name.Length == 0)
                throw new SequenceDataException(file, "header", $"#{i + 1}", "the column has no name");
            if (!position.TryAdd(name, i))
                throw new SequenceDataException(file, "header", name, "the column name appears twice");
        }
        foreach (var key in new[] { IdColumn, LabelColumn, StepColumn })
            if (!position.ContainsKey(key))
                throw new SequenceDataException(file, "header", key,
                    $"missing required column; the header must hold {IdColumn},{LabelColumn},{StepColumn},x0..x{{d-1}} but has: {string.Join(",", names)}");
        var featureIndices = new SortedDictionary<int, int>();
        foreach (var (name, index) in position)
        {
            if (name is IdColumn or LabelColumn or StepColumn)
                continue;
            if (name.Length < 2 || name[0] != 'x'
                || !int.TryParse(name.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var k)
                || k.ToString(CultureInfo.InvariantCulture) != name[1..])
                throw new SequenceDataException(file, "header", name,
                    "unexpected column; feature columns are named x0, x1, …, x{d-1}");
            featureIndices[k] = index;
        }
        if (featureIndices.Count == 0)
            throw new SequenceDataException(file, "header", "x0", "missing feature columns; at least x0 is required");
        var d = featureIndices.Count;
        for (var k = 0; k < d; k++)
            if (!featureIndices.ContainsKey(k))
                throw new SequenceDataException(file, "header", $"x{k}",
                    $"missing feature column: the header has {d} feature columns up to x{featureIndices.Keys.Max()}, so d is inconsistent");
        return (position[IdColumn], position[LabelColumn], position[StepColumn], featureIndices.Values.ToArray());
    }

    /// <summary>Checks a step value: a finite non-negative integer below 2^31.</summary>
    internal int CheckStep(string location, double step)
    {
        if (!double.IsFinite(step) || step < 0 || step != Math.Floor(step) || step > int.MaxValue - 1)
            throw new SequenceDataException(_file, location, StepColumn,
                $"step {step.ToString("R", CultureInfo.InvariantCulture)} is not a non-negative integer");
        return (int)step;
    }

    /// <summary>Checks a feature value: finite and within float32 range.</summary>
    internal float CheckValue(string location, int feature, double value)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
            throw new SequenceDataException(_file, location, _featureNames[feature],
                $"value {value.ToString(CultureInfo.InvariantCulture)} is not finite (NaN and infinities are not allowed)");
        var single = (float)value;
        if (float.IsInfinity(single))
            throw new SequenceDataException(_file, location, _featureNames[feature],
                $"value {value.ToString("R", CultureInfo.InvariantCulture)} is outside the float32 range");
        return single;
    }

    /// <summary>Adds one checked row.</summary>
    internal void Add(string location, string id, string label, int step, float[] values)
    {
        if (!_byId.TryGetValue(id, out var pending))
        {
            pending = new Pending(id, label, location);
            _byId.Add(id, pending);
            _order.Add(pending);
        }
        else if (!string.Equals(pending.Label, label, StringComparison.Ordinal))
        {
            throw new SequenceDataException(_file, location, LabelColumn,
                $"label '{label}' differs from label '{pending.Label}' given to sequence '{id}' at {pending.FirstLocation}");
        }
        if (pending.Steps.TryGetValue(step, out var earlier))
            throw new SequenceDataException(_file, location, StepColumn,
                $"duplicate step {step} of sequence '{id}' (already given at {earlier.Location})");
        pending.Steps.Add(step, (values, location));
        RowCount++;
    }

    /// <summary>Assembles the dataset, checking that every sequence has the steps 0..T−1 without a gap.</summary>
    internal SequenceDataset Build()
    {
        if (_order.Count == 0)
            throw new SequenceDataException(_file, "header", null, "the file has a header but no data rows");
        var names = _order.Select(p => p.Label).Distinct(StringComparer.Ordinal).ToList();
        var allIntegers = names.All(n => long.TryParse(n, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _));
        if (allIntegers)
            names.Sort((a, b) => long.Parse(a, CultureInfo.InvariantCulture).CompareTo(long.Parse(b, CultureInfo.InvariantCulture)));
        else
            names.Sort(StringComparer.Ordinal);
        var labelIndex = names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        var sequences = new float[_order.Count][,];
        var labels = new int[_order.Count];
        var ids = new string[_order.Count];
        var d = Channels;
        for (var s = 0; s < _order.Count; s++)
        {
            var pending = _order[s];
            var length = pending.Steps.Count;
            var data = new float[length, d];
            var expected = 0;
            foreach (var (step, (values, location)) in pending.Steps)
            {
                if (step != expected)
                    throw new SequenceDataException(_file, location, StepColumn,
                        $"sequence '{pending.Id}' misses step {expected}: steps must run 0..T-1 without gaps, and the next step given is {step}");
                for (var k = 0; k < d; k++)
                    data[step, k] = values[k];
                expected++;
            }
            sequences[s] = data;
            labels[s] = labelIndex[pending.Label];
            ids[s] = pending.Id;
        }
        return new SequenceDataset(sequences, labels, ids, names.ToArray());
    }

    private sealed class Pending(string id, string label, string firstLocation)
    {
        public string Id { get; } = id;
        public string Label { get; } = label;
        public string FirstLocation { get; } = firstLocation;
        public SortedDictionary<int, (float[] Values, string Location)> Steps { get; } = new();
    }
}
