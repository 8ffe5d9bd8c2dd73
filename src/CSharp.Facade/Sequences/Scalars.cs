using System.Collections.Concurrent;
using TorchSharp;

namespace DistEmbed.Sequences;

/// <summary>
/// Cached TorchSharp scalars for the constants the sequence modules pass to tensor operations. TorchSharp 0.107 frees
/// a temporary <see cref="Scalar"/> in its finaliser, which the garbage collector may run while a native call still
/// reads it (including the implicit alpha = 1 of <c>add(Tensor)</c>); cached scalars live for the process, and
/// per-call values are bound with <c>using</c> for the duration of the call.
/// </summary>
internal static class Scalars
{
    private static readonly ConcurrentDictionary<double, Scalar> Doubles = new();
    private static readonly ConcurrentDictionary<long, Scalar> Integers = new();

    /// <summary>A cached floating scalar.</summary>
    public static Scalar Of(double value) => Doubles.GetOrAdd(value, v => v.ToScalar());

    /// <summary>A cached integer scalar (keeps integer tensors integer).</summary>
    public static Scalar OfInteger(long value) => Integers.GetOrAdd(value, v => v.ToScalar());

    /// <summary>The floating scalar 1 (the alpha of plain additions).</summary>
    public static Scalar One => Of(1.0);
}
