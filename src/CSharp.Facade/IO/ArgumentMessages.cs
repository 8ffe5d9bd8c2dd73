namespace DistEmbed.IO;

/// <summary>Helpers for re-throwing an <see cref="ArgumentException"/> under another name without repeating its
/// parameter suffix.</summary>
internal static class ArgumentMessages
{
    /// <summary>
    /// The message of <paramref name="e"/> without the <c> (Parameter 'name')</c> suffix that
    /// <see cref="ArgumentException.Message"/> appends, so that a wrapping exception with its own parameter name does
    /// not end in two suffixes.
    /// </summary>
    /// <param name="e">The exception.</param>
    /// <returns>The message as it was given to the constructor.</returns>
    public static string Bare(ArgumentException e)
    {
        var message = e.Message;
        if (e.ParamName is { } name)
        {
            var suffix = $" (Parameter '{name}')";
            if (message.EndsWith(suffix, StringComparison.Ordinal))
                return message[..^suffix.Length];
        }
        return message;
    }
}
