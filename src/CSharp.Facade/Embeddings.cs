using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed;

/// <summary>
/// Builds embedding batches (<see cref="EmbeddingBatch"/>) from tensors, arrays and NumPy files, in the
/// representation a distance accepts.
/// </summary>
public static class Embeddings
{
    /// <summary>
    /// Wraps a tensor as a batch of the given representation: [N, d] vectors, [N, T, d] distributions (with an optional
    /// [N, T] mask or weight tensor: zero = padding) or [N, d, Q] quantile functions.
    /// </summary>
    /// <param name="values">The tensor (float32 or float64).</param>
    /// <param name="mask">For distributions: [N, T] weights/mask or null (uniform); must be null otherwise.</param>
    /// <param name="representation">The representation wanted (usually the distance's <see cref="Distance.Accepts"/>).</param>
    /// <returns>The batch; it owns <paramref name="values"/> and <paramref name="mask"/>.</returns>
    /// <exception cref="ArgumentException">The rank does not fit the representation, or a mask is given for vectors or quantiles.</exception>
    public static EmbeddingBatch FromTensor(torch.Tensor values, torch.Tensor? mask, Representation representation)
    {
        ArgumentNullException.ThrowIfNull(values);
        var expectedRank = representation == Representation.Vectors ? 2 : 3;
        if (values.dim() != expectedRank)
            throw new ArgumentException(
                $"values has shape [{string.Join(",", values.shape)}] but {Describe(representation)} need rank {expectedRank}.", nameof(values));
        if (mask is not null && representation != Representation.Distributions)
            throw new ArgumentException($"a mask applies to distributions only, not to {Describe(representation)}.", nameof(mask));
        return EmbeddingBatch.Wrap(representation switch
        {
            Representation.Vectors => VectorBatch.FromTensor(values),
            Representation.Distributions => DistributionBatch.FromTensors(values, mask is null ? null : mask.to_type(values.dtype)),
            _ => QuantileBatch.FromTensor(values, null),
        });
    }

    /// <summary>Reads a NumPy file (and an optional mask file) into a batch of the given representation.</summary>
    /// <param name="path">.npy file: [N, d] vectors, [N, T, d] distributions or [N, d, Q] quantiles (float32/float64).</param>
    /// <param name="maskPath">Optional [N, T] .npy mask/weights for distributions (bool, integer or float), or null.</param>
    /// <param name="representation">The representation wanted.</param>
    /// <param name="device">Target device; null = CPU.</param>
    /// <returns>The batch.</returns>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="ArgumentException">The shapes do not fit (the message names the file).</exception>
    public static EmbeddingBatch Load(string path, string? maskPath, Representation representation, torch.Device? device = null)
    {
        NativeRuntime.EnsureInitialized();
        var values = IO.Npy.ReadTensor(path, device);
        if (values.dtype != torch.ScalarType.Float32 && values.dtype != torch.ScalarType.Float64)
            values = values.to_type(torch.ScalarType.Float64);
        var mask = maskPath is null ? null : IO.Npy.ReadTensor(maskPath, device, values.dtype);
        try
        {
            if (mask is not null && (mask.dim() != 2 || values.dim() != 3 || mask.shape[0] != values.shape[0] || mask.shape[1] != values.shape[1]))
                throw new ArgumentException(
                    $"mask {maskPath} has shape [{string.Join(",", mask.shape)}] but {path} has shape [{string.Join(",", values.shape)}]; the mask must be [N, T].",
                    nameof(maskPath));
            return FromTensor(values, mask, representation);
        }
        catch (ArgumentException e) when (e.ParamName is "values" or "points")
        {
            throw new ArgumentException($"{path}: {IO.ArgumentMessages.Bare(e)}", nameof(path), e);
        }
    }

    /// <summary>Human-readable name of a representation with its shape.</summary>
    /// <param name="representation">The representation.</param>
    internal static string Describe(Core.Representation representation) => Describe((Representation)(int)representation);

    /// <summary>Human-readable name of a representation with its shape.</summary>
    /// <param name="representation">The representation.</param>
    /// <returns>E.g. "vectors [N, d]".</returns>
    public static string Describe(Representation representation) => representation switch
    {
        Representation.Vectors => "vectors [N, d]",
        Representation.Distributions => "distributions [N, T, d]",
        _ => "quantile functions [N, d, Q]",
    };
}
