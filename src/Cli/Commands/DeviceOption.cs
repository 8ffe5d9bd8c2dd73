using System.CommandLine;

namespace DistEmbed.Cli.Commands;

/// <summary>The <c>--device</c> option of every command that computes: one description and one default, <c>auto</c>.</summary>
public static class DeviceOption
{
    /// <summary>The default device, the library's <see cref="Devices.Default"/>: <c>auto</c> (CUDA when available, else the CPU).</summary>
    public const string Default = Devices.Default;

    /// <summary>A new <c>--device</c> option (each command needs its own instance).</summary>
    /// <returns>The option, defaulting to <see cref="Default"/>.</returns>
    public static Option<string> Create() =>
        new("--device") { Description = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N.", DefaultValueFactory = _ => Default };

    /// <summary>Whether a <c>--device</c> given on resume names the checkpoint's device: the same name, or names that
    /// resolve to the same device here (<c>auto</c> and <c>cpu</c> on a machine without CUDA).</summary>
    /// <param name="given">The device given on the command line.</param>
    /// <param name="recorded">The device in the checkpoint's trainer options.</param>
    /// <returns>True when they are the same device; false also when either cannot be resolved here.</returns>
    public static bool Same(string given, string recorded)
    {
        if (string.Equals(given, recorded, StringComparison.OrdinalIgnoreCase)) return true;
        try
        {
            return Devices.Resolve(given).ToString() == Devices.Resolve(recorded).ToString();
        }
        catch (ArgumentException)
        {
            return false; // a device that cannot be resolved here is not the checkpoint's
        }
    }
}
