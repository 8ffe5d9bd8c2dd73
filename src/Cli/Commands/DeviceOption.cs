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
}
