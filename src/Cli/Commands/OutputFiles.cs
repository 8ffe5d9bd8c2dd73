namespace DistEmbed.Cli.Commands;

/// <summary>Checks of output file options made before any work is done, so that a bad path fails at once with a
/// one-line error naming the option instead of after the computation (or with a trace).</summary>
public static class OutputFiles
{
    /// <summary>Checks that <paramref name="path"/> can be written as a file: it is not an existing folder and its
    /// folder exists.</summary>
    /// <param name="path">The output path given to <paramref name="option"/>.</param>
    /// <param name="option">The option's name, e.g. <c>--out</c>.</param>
    /// <exception cref="ArgumentException">The path is empty or an existing folder, or its folder does not exist (names the option).</exception>
    public static void CheckWritable(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException($"{option} is empty; give a file path.", option.TrimStart('-'));
        if (Directory.Exists(path))
            throw new ArgumentException($"{option} {path} is an existing folder; give a file path (e.g. {Path.Combine(path, "result.npy")}).", option.TrimStart('-'));
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        if (folder is not null && !Directory.Exists(folder))
            throw new ArgumentException($"{option} {path}: the folder {folder} does not exist.", option.TrimStart('-'));
    }

    /// <summary>Checks that two output options name different files (after resolving relative paths).</summary>
    /// <param name="first">The first path.</param>
    /// <param name="firstOption">The first option's name.</param>
    /// <param name="second">The second path.</param>
    /// <param name="secondOption">The second option's name.</param>
    /// <exception cref="ArgumentException">Both name the same file (names the second option).</exception>
    public static void CheckDistinct(string first, string firstOption, string second, string secondOption)
    {
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (string.Equals(Path.GetFullPath(first), Path.GetFullPath(second), comparison))
            throw new ArgumentException(
                $"{secondOption} {second} is the same file as {firstOption} {first}; the second write would replace the first. Give two different files.",
                secondOption.TrimStart('-'));
    }

    /// <summary>The message of an <see cref="ArgumentException"/> without the <c> (Parameter 'x')</c> suffix, for
    /// re-throwing it under the option's name with one suffix.</summary>
    /// <param name="e">The exception.</param>
    /// <returns>The message as it was given.</returns>
    public static string Bare(ArgumentException e)
    {
        var suffix = e.ParamName is null ? null : $" (Parameter '{e.ParamName}')";
        return suffix is not null && e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message;
    }
}
