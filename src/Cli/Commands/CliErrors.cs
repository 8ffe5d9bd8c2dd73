using DistEmbed.Core;

namespace DistEmbed.Cli.Commands;

/// <summary>Turns the library's exceptions into one-line error messages and exit codes.</summary>
public static class CliErrors
{
    /// <summary>Runs <paramref name="body"/>; prints <c>error: …</c> to stderr and returns 1 on bad input, 2 on a missing native runtime.</summary>
    /// <param name="body">The command's work.</param>
    /// <returns>The exit code.</returns>
    public static int Run(Action body)
    {
        try
        {
            body();
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException or DirectoryNotFoundException or FormatException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (NativeRuntimeException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
