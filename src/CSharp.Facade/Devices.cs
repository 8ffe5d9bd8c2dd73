using System.Globalization;
using DistEmbed.Core;
using static TorchSharp.torch;

namespace DistEmbed;

/// <summary>
/// The device names every facade entry point and the command line's <c>--device</c> take, and their one default:
/// <c>auto</c> (CUDA when the loaded native runtime has it, else the CPU), <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>
/// (case-insensitive). Every <c>device</c> parameter and every options record's <c>Device</c> defaults to
/// <see cref="Default"/>, and a test fails when one does not.
/// </summary>
public static class Devices
{
    /// <summary>The default device of the library and the command line: <c>auto</c> (CUDA when available, else the CPU).</summary>
    public const string Default = "auto";

    /// <summary>The device names a <c>device</c> argument accepts (<c>cuda:N</c> with N a GPU index ≥ 0).</summary>
    public static IReadOnlyList<string> Names { get; } = ["auto", "cpu", "cuda", "cuda:N"];

    /// <summary>The TorchSharp device a name stands for (loads the native runtime on first use).</summary>
    /// <param name="device">A name of <see cref="Names"/> (case-insensitive, surrounding blanks ignored); null is <see cref="Default"/>.</param>
    /// <returns>The CUDA device when <c>auto</c> finds CUDA, else the CPU; the named device otherwise.</returns>
    /// <exception cref="ArgumentException">An unknown name, or CUDA asked for where it is not available (ParamName <c>device</c>).</exception>
    public static Device Resolve(string device = Default) => Resolve(device, nameof(device));

    /// <summary><see cref="Resolve(string)"/> with the name of the argument or option that gave the device, for messages.</summary>
    internal static Device Resolve(string? device, string argument)
    {
        Check(device, argument);
        try
        {
            return NativeRuntime.ResolveDevice(device ?? Default);
        }
        catch (ArgumentException e) when (e.ParamName != argument)
        {
            throw new ArgumentException(e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal), argument, e);
        }
    }

    /// <summary>Checks that a device name is one of <see cref="Names"/> without loading the runtime (whether CUDA is
    /// present is found when the device is resolved).</summary>
    /// <param name="device">The name; null is <see cref="Default"/>.</param>
    /// <param name="argument">The argument or option that gave it (the exception's ParamName).</param>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    internal static void Check(string? device, string argument)
    {
        if (device is null) return;
        var n = device.Trim().ToLowerInvariant();
        if (n is "auto" or "cpu" or "cuda") return;
        if (n.StartsWith("cuda:", StringComparison.Ordinal)
            && int.TryParse(n.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _)) return;
        throw new ArgumentException(
            $"{argument} = '{device}' is not a device; valid values: auto (CUDA when available, else the CPU; the default), cpu, cuda, cuda:N.", argument);
    }
}
