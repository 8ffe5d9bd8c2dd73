using System.Security.Cryptography;
using DistEmbed.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Training;

/// <summary>
/// Labelled inputs for <see cref="MetricLearningTrainer"/>: a float tensor [N, …] (one row per item, any trailing
/// shape the model reads) and N integer class labels. The data hold their own CPU copy of the inputs; a batch is the
/// rows it names, moved to the training device.
/// </summary>
public sealed class LabelledData : IDisposable
{
    private readonly int[] labels;

    /// <summary>Copies <paramref name="inputs"/> (to the CPU, contiguous) and <paramref name="labels"/>.</summary>
    /// <param name="inputs">A float32 or float64 tensor [N, …] with N ≥ 1 and finite values.</param>
    /// <param name="labels">N class labels.</param>
    /// <exception cref="ArgumentException">A rank-0 or empty tensor, another dtype, a non-finite value, or a label count other than N (names the argument).</exception>
    public LabelledData(Tensor inputs, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(labels);
        if (inputs.dim() < 1 || inputs.shape[0] < 1)
            throw new ArgumentException($"inputs has shape [{string.Join(", ", inputs.shape)}]; it needs a first dimension of at least one item.", nameof(inputs));
        if (inputs.dtype != ScalarType.Float32 && inputs.dtype != ScalarType.Float64)
            throw new ArgumentException($"inputs has dtype {inputs.dtype}; float32 or float64 is required.", nameof(inputs));
        if (labels.Count != inputs.shape[0])
            throw new ArgumentException($"labels has {labels.Count} entries but inputs has {inputs.shape[0]} rows.", nameof(labels));
        using (var scope = NewDisposeScope())
        {
            if (!inputs.isfinite().all().item<bool>())
                throw new ArgumentException("inputs holds a NaN or infinite value.", nameof(inputs));
        }
        Inputs = inputs.detach().cpu().contiguous().clone();
        this.labels = [.. labels];
    }

    /// <summary>Wraps a float[N, d] array of feature vectors.</summary>
    /// <param name="inputs">The features, one row per item.</param>
    /// <param name="labels">N class labels.</param>
    /// <returns>The data (float32 [N, d]).</returns>
    /// <exception cref="ArgumentException">As for the constructor.</exception>
    public static LabelledData FromArrays(float[,] inputs, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        using var t = torch.tensor(inputs);
        return new LabelledData(t, labels);
    }

    /// <summary>The inputs [N, …] on the CPU (owned by this object).</summary>
    public Tensor Inputs { get; }

    /// <summary>The labels, one per row.</summary>
    public IReadOnlyList<int> Labels => labels;

    /// <summary>The number of items N.</summary>
    public int Count => labels.Length;

    /// <summary>The rows <paramref name="indices"/> on <paramref name="device"/> (the caller disposes them).</summary>
    /// <param name="indices">Row indices.</param>
    /// <param name="device">The target device.</param>
    /// <returns>Inputs [B, …] and labels [B] int64.</returns>
    public (Tensor Inputs, Tensor Labels) Batch(int[] indices, Device device)
    {
        ArgumentNullException.ThrowIfNull(indices);
        using var scope = NewDisposeScope();
        using var idx = torch.tensor(indices.Select(i => (long)i).ToArray());
        var x = Inputs.index_select(0, idx).to(device);
        var y = torch.tensor(indices.Select(i => (long)labels[i]).ToArray()).to(device);
        return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
    }

    /// <summary>The fingerprint of these data (shape, classes, SHA-256 of labels and values).</summary>
    /// <returns>The fingerprint.</returns>
    public LabelledDataFingerprint Fingerprint()
    {
        using var content = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var labelBytes = new byte[labels.Length * sizeof(int)];
        Buffer.BlockCopy(labels, 0, labelBytes, 0, labelBytes.Length);
        content.AppendData(labelBytes);
        using (var bytes = Inputs.flatten())
        {
            if (Inputs.dtype == ScalarType.Float32) content.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(bytes.data<float>().ToArray().AsSpan()));
            else content.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(bytes.data<double>().ToArray().AsSpan()));
        }
        return new LabelledDataFingerprint
        {
            Count = Count,
            Shape = [.. Inputs.shape],
            DType = Inputs.dtype.ToString(),
            Classes = labels.Distinct().Count(),
            ContentSha256 = Convert.ToHexStringLower(content.GetHashAndReset()),
        };
    }

    /// <summary>Disposes the inputs.</summary>
    public void Dispose() => Inputs.Dispose();
}

/// <summary>A fingerprint of <see cref="LabelledData"/>, stored in a checkpoint so that a resumed run refuses other data.</summary>
public sealed record LabelledDataFingerprint
{
    /// <summary>Number of items.</summary>
    public int Count { get; init; }
    /// <summary>The input tensor's shape.</summary>
    public long[] Shape { get; init; } = [];
    /// <summary>The input tensor's dtype.</summary>
    public string DType { get; init; } = "";
    /// <summary>Number of distinct classes.</summary>
    public int Classes { get; init; }
    /// <summary>SHA-256 (hex) of the labels and the values, in order.</summary>
    public string ContentSha256 { get; init; } = "";

    /// <summary>What differs between this (the data now) and <paramref name="recorded"/> (the data of the checkpoint).</summary>
    /// <param name="recorded">The recorded fingerprint.</param>
    /// <returns>One phrase per difference (empty when the data are the same).</returns>
    public IReadOnlyList<string> Differences(LabelledDataFingerprint recorded)
    {
        ArgumentNullException.ThrowIfNull(recorded);
        var d = new List<string>();
        if (!Shape.SequenceEqual(recorded.Shape ?? [])) d.Add($"shape [{string.Join(", ", Shape)}] now, [{string.Join(", ", recorded.Shape ?? [])}] in the checkpoint");
        if (DType != recorded.DType) d.Add($"dtype {DType} now, {recorded.DType} in the checkpoint");
        if (Classes != recorded.Classes) d.Add($"{Classes} classes now, {recorded.Classes} in the checkpoint");
        if (d.Count == 0 && ContentSha256 != recorded.ContentSha256) d.Add("the same sizes but other labels, values or order (content hash differs)");
        return d;
    }
}
