namespace DistEmbed;

/// <summary>
/// The facade's argument checks (sequence modules, trainers, TVAE options): each throws an
/// <see cref="ArgumentException"/> whose <c>ParamName</c> is the argument or property and whose message reads
/// "<c>name = value; it must …</c>". The F# core's counterpart is <c>DistEmbed.Core.Validation</c>, whose messages
/// read "<c>name = value is invalid; …</c>" and are part of the core's documented behaviour.
/// </summary>
internal static class Require
{
    /// <summary>Checks value ≥ minimum.</summary>
    public static void AtLeast(string name, int value, int minimum)
    {
        if (value < minimum)
            throw new ArgumentException($"{name} = {value}; it must be ≥ {minimum}.", name);
    }

    /// <summary>Checks minimum ≤ value ≤ maximum.</summary>
    public static void Between(string name, int value, int minimum, int maximum)
    {
        if (value < minimum || value > maximum)
            throw new ArgumentException($"{name} = {value}; it must lie in [{minimum}, {maximum}].", name);
    }

    /// <summary>Checks value ≤ maximum.</summary>
    public static void AtMost(string name, int value, int maximum)
    {
        if (value > maximum)
            throw new ArgumentException($"{name} = {value}; it must be ≤ {maximum}.", name);
    }

    /// <summary>Checks that value is finite and &gt; 0 (NaN fails).</summary>
    public static void Positive(string name, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new ArgumentException($"{name} = {value}; it must be finite and > 0.", name);
    }

    /// <summary>Checks that value is finite and ≥ 0 (NaN fails).</summary>
    public static void NonNegative(string name, double value)
    {
        if (!(value >= 0) || double.IsInfinity(value))
            throw new ArgumentException($"{name} = {value}; it must be finite and ≥ 0.", name);
    }
}
