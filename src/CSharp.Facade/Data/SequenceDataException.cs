namespace DistEmbed.Data;

/// <summary>
/// A sequence file (CSV or Parquet, long form <c>sequence_id,label,step,x0..x{d-1}</c>) that cannot be read: the
/// message names the file, the line (CSV, 1-based, the header is line 1) or row (Parquet, 1-based data row) and the
/// column at fault, and says what is wrong.
/// </summary>
public sealed class SequenceDataException : FormatException
{
    /// <summary>Creates the exception from its parts; the message is composed from them.</summary>
    /// <param name="file">The path of the file that was read.</param>
    /// <param name="location">Where in the file: "line 7", "row 12", or "header".</param>
    /// <param name="column">The column at fault, or null when the fault is not one column's (e.g. a field count).</param>
    /// <param name="problem">What is wrong, as a sentence fragment.</param>
    public SequenceDataException(string file, string location, string? column, string problem)
        : base(column is null ? $"{file}: {location}: {problem}" : $"{file}: {location}, column '{column}': {problem}")
    {
        File = file;
        Location = location;
        Column = column;
    }

    /// <summary>The path of the file that was read.</summary>
    public string File { get; }

    /// <summary>Where in the file the fault is: "line N" (CSV), "row N" (Parquet), "header", "footer", "row group N" or "file" (content the Parquet library could not decode).</summary>
    public string Location { get; }

    /// <summary>The column at fault, or null when the fault is not one column's.</summary>
    public string? Column { get; }
}
