using TorchSharp;

namespace DistEmbed.Data;

/// <summary>Stand-in for the lead's SequenceDataset until main has it (same public API).</summary>
public sealed class SequenceDataset
{
    /// <summary>Creates the data set.</summary>
    /// <param name="sequences">[T_i, C] arrays.</param>
    /// <param name="labels">Labels.</param>
    /// <param name="ids">Ids or null.</param>
    /// <param name="labelNames">Label names or null.</param>
    public SequenceDataset(IReadOnlyList<float[,]> sequences, IReadOnlyList<int> labels, IReadOnlyList<string>? ids = null, IReadOnlyList<string>? labelNames = null)
    {
        if (sequences.Count == 0) throw new ArgumentException("sequences is empty.", nameof(sequences));
        if (labels.Count != sequences.Count) throw new ArgumentException("labels length differs.", nameof(labels));
        Sequences = sequences;
        Labels = labels;
        Ids = ids ?? Enumerable.Range(0, sequences.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        LabelNames = labelNames;
        Channels = sequences[0].GetLength(1);
    }

    /// <summary>Count.</summary>
    public int Count => Sequences.Count;
    /// <summary>Channels.</summary>
    public int Channels { get; }
    /// <summary>Sequences.</summary>
    public IReadOnlyList<float[,]> Sequences { get; }
    /// <summary>Labels.</summary>
    public IReadOnlyList<int> Labels { get; }
    /// <summary>Ids.</summary>
    public IReadOnlyList<string> Ids { get; }
    /// <summary>Label names.</summary>
    public IReadOnlyList<string>? LabelNames { get; }
    /// <summary>Min length.</summary>
    public int MinLength => Sequences.Min(s => s.GetLength(0));
    /// <summary>Max length.</summary>
    public int MaxLength => Sequences.Max(s => s.GetLength(0));

    /// <summary>Subset.</summary>
    /// <param name="indices">Indices.</param>
    public SequenceDataset Subset(int[] indices) =>
        new(indices.Select(i => Sequences[i]).ToArray(), indices.Select(i => Labels[i]).ToArray(), indices.Select(i => Ids[i]).ToArray(), LabelNames);

    /// <summary>To batch.</summary>
    /// <param name="indices">Indices.</param>
    /// <param name="device">Device.</param>
    public SequenceBatch ToBatch(int[] indices, torch.Device? device = null)
    {
        var b = indices.Length;
        var t = indices.Max(i => Sequences[i].GetLength(0));
        var c = Channels;
        var data = new float[b * t * c];
        var mask = new bool[b * t];
        var lengths = new long[b];
        var labels = new long[b];
        for (var r = 0; r < b; r++)
        {
            var s = Sequences[indices[r]];
            var n = s.GetLength(0);
            lengths[r] = n;
            labels[r] = Labels[indices[r]];
            for (var i = 0; i < n; i++)
            {
                mask[r * t + i] = true;
                for (var k = 0; k < c; k++) data[(r * t + i) * c + k] = s[i, k];
            }
        }
        device ??= torch.CPU;
        return new SequenceBatch(
            torch.tensor(data, [b, t, c], device: device),
            torch.tensor(mask, [b, t], device: device),
            torch.tensor(lengths, device: device),
            torch.tensor(labels, device: device));
    }
}

/// <summary>Stand-in batch.</summary>
public sealed class SequenceBatch : IDisposable
{
    internal SequenceBatch(torch.Tensor features, torch.Tensor mask, torch.Tensor lengths, torch.Tensor labels)
    {
        Features = features; Mask = mask; Lengths = lengths; Labels = labels;
    }
    /// <summary>Features.</summary>
    public torch.Tensor Features { get; }
    /// <summary>Mask.</summary>
    public torch.Tensor Mask { get; }
    /// <summary>Lengths.</summary>
    public torch.Tensor Lengths { get; }
    /// <summary>Labels.</summary>
    public torch.Tensor Labels { get; }
    /// <summary>Dispose.</summary>
    public void Dispose() { Features.Dispose(); Mask.Dispose(); Lengths.Dispose(); Labels.Dispose(); }
}
