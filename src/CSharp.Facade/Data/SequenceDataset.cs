using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Data;

/// <summary>
/// A labelled collection of multichannel sequences of varying length, held as managed arrays (no native memory).
/// Sequence <c>i</c> is a [T_i, C] array: T_i time steps of C channels.
/// </summary>
public sealed class SequenceDataset
{
    private readonly float[][,] _sequences;
    private readonly int[] _labels;
    private readonly string[] _ids;
    private readonly string[] _labelNames;

    /// <summary>Creates a data set and validates it.</summary>
    /// <param name="sequences">The sequences, each [T_i, C] with T_i ≥ 1 and one common C ≥ 1; all values finite.</param>
    /// <param name="labels">One class label per sequence (≥ 0).</param>
    /// <param name="ids">One identifier per sequence, or null for "0", "1", …; identifiers must be distinct.</param>
    /// <param name="labelNames">Display names of the classes (entry <c>k</c> names label <c>k</c>), or null for the numbers.</param>
    /// <exception cref="ArgumentException">No sequences, counts that disagree, an empty sequence, a channel count that
    /// differs from the first sequence's, a NaN or infinite value (the message names sequence, step and channel), a
    /// negative label, a label without a name, or a repeated identifier.</exception>
    public SequenceDataset(IReadOnlyList<float[,]> sequences, IReadOnlyList<int> labels,
        IReadOnlyList<string>? ids = null, IReadOnlyList<string>? labelNames = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        ArgumentNullException.ThrowIfNull(labels);
        if (sequences.Count == 0)
            throw new ArgumentException("a sequence data set needs at least one sequence.", nameof(sequences));
        if (labels.Count != sequences.Count)
            throw new ArgumentException($"{sequences.Count} sequences but {labels.Count} labels.", nameof(labels));
        if (ids is not null && ids.Count != sequences.Count)
            throw new ArgumentException($"{sequences.Count} sequences but {ids.Count} ids.", nameof(ids));
        var channels = -1;
        for (var i = 0; i < sequences.Count; i++)
        {
            var s = sequences[i] ?? throw new ArgumentException($"sequences[{i}] is null.", nameof(sequences));
            if (s.GetLength(0) < 1 || s.GetLength(1) < 1)
                throw new ArgumentException($"sequences[{i}] has shape [{s.GetLength(0)},{s.GetLength(1)}]; it needs at least one step and one channel.", nameof(sequences));
            if (channels < 0)
                channels = s.GetLength(1);
            else if (s.GetLength(1) != channels)
                throw new ArgumentException($"sequences[{i}] has {s.GetLength(1)} channels but sequences[0] has {channels}.", nameof(sequences));
            for (var t = 0; t < s.GetLength(0); t++)
                for (var c = 0; c < channels; c++)
                    if (!float.IsFinite(s[t, c]))
                        throw new ArgumentException($"sequences[{i}] (id {ids?[i] ?? i.ToString()}) has {s[t, c]} at step {t}, channel {c}.", nameof(sequences));
            if (labels[i] < 0)
                throw new ArgumentException($"labels[{i}] = {labels[i]}; labels must be ≥ 0.", nameof(labels));
            if (labelNames is not null && labels[i] >= labelNames.Count)
                throw new ArgumentException($"labels[{i}] = {labels[i]} has no entry in labelNames (which has {labelNames.Count}).", nameof(labelNames));
        }
        _sequences = sequences.ToArray();
        _labels = labels.ToArray();
        _ids = ids?.ToArray() ?? Enumerable.Range(0, sequences.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var duplicate = _ids.GroupBy(x => x).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"the id '{duplicate.Key}' occurs {duplicate.Count()} times; ids must be distinct.", nameof(ids));
        _labelNames = labelNames?.ToArray()
            ?? Enumerable.Range(0, _labels.Max() + 1).Select(k => k.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Channels = channels;
    }

    /// <summary>Number of sequences N.</summary>
    public int Count => _sequences.Length;

    /// <summary>Channels per step C.</summary>
    public int Channels { get; }

    /// <summary>The sequences, each [T_i, C]. Treat them as read-only.</summary>
    public IReadOnlyList<float[,]> Sequences => _sequences;

    /// <summary>The class label of each sequence.</summary>
    public IReadOnlyList<int> Labels => _labels;

    /// <summary>The identifier of each sequence.</summary>
    public IReadOnlyList<string> Ids => _ids;

    /// <summary>Display names of the classes: entry <c>k</c> names label <c>k</c>.</summary>
    public IReadOnlyList<string> LabelNames => _labelNames;

    /// <summary>The shortest sequence length.</summary>
    public int MinLength => _sequences.Min(s => s.GetLength(0));

    /// <summary>The longest sequence length.</summary>
    public int MaxLength => _sequences.Max(s => s.GetLength(0));

    /// <summary>The distinct labels present, ascending.</summary>
    public int[] Classes => _labels.Distinct().Order().ToArray();

    /// <summary>The sequences at <paramref name="indices"/>, in that order, with their labels, ids and the same label names.</summary>
    /// <param name="indices">Indices into this data set; each at most once.</param>
    /// <returns>A new data set sharing the sequence arrays.</returns>
    /// <exception cref="ArgumentException">Empty, out of range, or repeated indices.</exception>
    public SequenceDataset Subset(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        CheckIndices(indices);
        return new SequenceDataset(
            indices.Select(i => _sequences[i]).ToArray(), indices.Select(i => _labels[i]).ToArray(),
            indices.Select(i => _ids[i]).ToArray(), _labelNames);
    }

    /// <summary>
    /// Pads the sequences at <paramref name="indices"/> to the longest among them and moves them to a device.
    /// </summary>
    /// <param name="indices">Indices into this data set (repeats allowed, at least one).</param>
    /// <param name="device">Target device; null means CPU.</param>
    /// <returns>The batch (float32 features zero-padded, bool mask, int64 lengths and labels); the caller disposes it.</returns>
    /// <exception cref="ArgumentException">Empty or out-of-range indices.</exception>
    public SequenceBatch ToBatch(IReadOnlyList<int> indices, torch.Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Count == 0)
            throw new ArgumentException("a batch needs at least one index.", nameof(indices));
        for (var r = 0; r < indices.Count; r++)
            if (indices[r] < 0 || indices[r] >= Count)
                throw new ArgumentException($"indices[{r}] = {indices[r]} is outside [0, {Count}).", nameof(indices));
        NativeRuntime.EnsureInitialized();
        var b = indices.Count;
        var tMax = indices.Max(i => _sequences[i].GetLength(0));
        var features = new float[b * tMax * Channels];
        var mask = new bool[b * tMax];
        var lengths = new long[b];
        var labels = new long[b];
        for (var r = 0; r < b; r++)
        {
            var s = _sequences[indices[r]];
            var t = s.GetLength(0);
            Buffer.BlockCopy(s, 0, features, r * tMax * Channels * sizeof(float), t * Channels * sizeof(float));
            for (var k = 0; k < t; k++)
                mask[r * tMax + k] = true;
            lengths[r] = t;
            labels[r] = _labels[indices[r]];
        }
        var target = device ?? torch.CPU;
        return new SequenceBatch(
            torch.tensor(features, [b, tMax, Channels], device: target),
            torch.tensor(mask, [b, tMax], device: target),
            torch.tensor(lengths, device: target),
            torch.tensor(labels, device: target));
    }

    private void CheckIndices(IReadOnlyList<int> indices)
    {
        if (indices.Count == 0)
            throw new ArgumentException("a subset needs at least one index.", nameof(indices));
        var seen = new HashSet<int>();
        for (var r = 0; r < indices.Count; r++)
        {
            if (indices[r] < 0 || indices[r] >= Count)
                throw new ArgumentException($"indices[{r}] = {indices[r]} is outside [0, {Count}).", nameof(indices));
            if (!seen.Add(indices[r]))
                throw new ArgumentException($"indices[{r}] = {indices[r]} is repeated; a subset takes each sequence at most once.", nameof(indices));
        }
    }
}

/// <summary>A padded batch of sequences on one device. Disposing it frees the four tensors.</summary>
public sealed class SequenceBatch : IDisposable
{
    internal SequenceBatch(torch.Tensor features, torch.Tensor mask, torch.Tensor lengths, torch.Tensor labels)
    {
        Features = features;
        Mask = mask;
        Lengths = lengths;
        Labels = labels;
    }

    /// <summary>[B, T_max, C] float32 features, zero at padded steps.</summary>
    public torch.Tensor Features { get; }

    /// <summary>[B, T_max] bool: true at valid steps (a prefix of each row).</summary>
    public torch.Tensor Mask { get; }

    /// <summary>[B] int64 sequence lengths.</summary>
    public torch.Tensor Lengths { get; }

    /// <summary>[B] int64 class labels.</summary>
    public torch.Tensor Labels { get; }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Features.Dispose();
        Mask.Dispose();
        Lengths.Dispose();
        Labels.Dispose();
    }
}
