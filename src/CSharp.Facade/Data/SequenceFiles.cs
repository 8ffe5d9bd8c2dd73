using System.Globalization;
using System.Text;
using DistEmbed.IO;
using Parquet;
using Parquet.Schema;

namespace DistEmbed.Data;

/// <summary>
/// Reads and writes sequence datasets as long-form tables, one row per time step:
/// <c>sequence_id,label,step,x0,x1,…,x{d-1}</c>, in CSV or Parquet.
/// </summary>
/// <remarks>
/// <para>Rows of one sequence may arrive in any order and interleaved with other sequences; the steps of a sequence
/// must be exactly 0..T−1 (no gap, no duplicate), and sequences may differ in length T. The label may be any string;
/// labels are numbered in sorted order of their names (numeric order when every name is an integer) and the names are
/// kept in <see cref="SequenceDataset.LabelNames"/>. Sequences keep the order in which their ids first appear.</para>
/// <para>Every fault is a <see cref="SequenceDataException"/> naming the file, the line (CSV; the header is line 1) or
/// data row (Parquet, 1-based) and the column: a wrong field count (d inconsistent with the header), a non-numeric,
/// NaN or infinite value, a missing or duplicate step, a label that changes within a sequence, a missing or unexpected
/// header column, an empty file.</para>
/// <para>CSV: comma-separated, UTF-8, one header line, fields may be quoted with <c>"</c> (doubled inside); blank lines
/// are skipped. Parquet: flat schema; the id and label columns may be strings or integers, the step and feature
/// columns any integer or floating type; null values are rejected.</para>
/// </remarks>
public static class SequenceFiles
{
    /// <summary>Reads a sequence dataset from a <c>.csv</c> or <c>.parquet</c> file (chosen by extension).</summary>
    /// <param name="path">Path of the file; the extension (case-insensitive) selects the format.</param>
    /// <returns>The dataset: N sequences of shape [T_i, d], labels in 0..K−1 with their names, ids from <c>sequence_id</c>.</returns>
    /// <exception cref="ArgumentException">The path is empty or has another extension.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="SequenceDataException">The content is malformed (see remarks of <see cref="SequenceFiles"/>).</exception>
    public static SequenceDataset Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return FormatOf(path) switch
        {
            ".csv" => ReadCsv(path),
            _ => ReadParquet(path),
        };
    }

    /// <summary>Writes a dataset as a long-form CSV file, atomically (temporary file in the same folder, then rename).</summary>
    /// <param name="dataset">The dataset; ids and label names are written as they are.</param>
    /// <param name="path">The target path (any extension); replaced when it exists.</param>
    /// <remarks>Values are written in the shortest form that reads back to the same float32, so
    /// <see cref="Read"/> returns the same values.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="dataset"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    public static void WriteCsv(SequenceDataset dataset, string path)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var text = new StringBuilder();
        text.Append(LongFormTable.IdColumn).Append(',').Append(LongFormTable.LabelColumn).Append(',').Append(LongFormTable.StepColumn);
        for (var k = 0; k < dataset.Channels; k++)
            text.Append(",x").Append(k.ToString(CultureInfo.InvariantCulture));
        text.Append('\n');
        for (var i = 0; i < dataset.Count; i++)
        {
            var id = Quote(IdOf(dataset, i));
            var label = Quote(LabelNameOf(dataset, i));
            var sequence = dataset.Sequences[i];
            for (var t = 0; t < sequence.GetLength(0); t++)
            {
                text.Append(id).Append(',').Append(label).Append(',').Append(t.ToString(CultureInfo.InvariantCulture));
                for (var k = 0; k < sequence.GetLength(1); k++)
                    text.Append(',').Append(sequence[t, k].ToString("R", CultureInfo.InvariantCulture));
                text.Append('\n');
            }
        }
        AtomicFile.WriteAllText(path, text.ToString());
    }

    /// <summary>Writes a dataset as a long-form Parquet file, atomically (temporary file in the same folder, then rename).</summary>
    /// <param name="dataset">The dataset; ids and label names are written as strings, steps as int32, features as float32.</param>
    /// <param name="path">The target path (any extension); replaced when it exists.</param>
    /// <exception cref="ArgumentNullException"><paramref name="dataset"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    public static void WriteParquet(SequenceDataset dataset, string path)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var rows = 0;
        for (var i = 0; i < dataset.Count; i++)
            rows += dataset.Sequences[i].GetLength(0);
        var d = dataset.Channels;
        var ids = new string[rows];
        var labels = new string[rows];
        var steps = new int[rows];
        var features = new float[d][];
        for (var k = 0; k < d; k++)
            features[k] = new float[rows];
        var r = 0;
        for (var i = 0; i < dataset.Count; i++)
        {
            var id = IdOf(dataset, i);
            var label = LabelNameOf(dataset, i);
            var sequence = dataset.Sequences[i];
            for (var t = 0; t < sequence.GetLength(0); t++, r++)
            {
                ids[r] = id;
                labels[r] = label;
                steps[r] = t;
                for (var k = 0; k < d; k++)
                    features[k][r] = sequence[t, k];
            }
        }
        var idField = new DataField<string>(LongFormTable.IdColumn);
        var labelField = new DataField<string>(LongFormTable.LabelColumn);
        var stepField = new DataField<int>(LongFormTable.StepColumn);
        var featureFields = Enumerable.Range(0, d).Select(k => new DataField<float>($"x{k}")).ToArray();
        var schema = new ParquetSchema(new Field[] { idField, labelField, stepField }.Concat(featureFields));
        AtomicFile.Write(path, stream => WriteParquetAsync(stream, schema, idField, labelField, stepField, featureFields, ids, labels, steps, features)
            .GetAwaiter().GetResult());
    }

    private static async Task WriteParquetAsync(Stream stream, ParquetSchema schema, DataField idField, DataField labelField,
        DataField stepField, DataField[] featureFields, string[] ids, string[] labels, int[] steps, float[][] features)
    {
        await using var writer = await ParquetWriter.CreateAsync(schema, stream).ConfigureAwait(false);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync(idField, ids).ConfigureAwait(false);
        await group.WriteAsync(labelField, labels).ConfigureAwait(false);
        await group.WriteAsync<int>(stepField, steps).ConfigureAwait(false);
        for (var k = 0; k < featureFields.Length; k++)
            await group.WriteAsync<float>(featureFields[k], features[k]).ConfigureAwait(false);
    }

    private static string FormatOf(string path)
    {
        var extension = Path.GetExtension(path).ToLowerInvariant();
        if (extension is ".csv" or ".parquet")
            return extension;
        throw new ArgumentException($"'{path}' has extension '{extension}'; sequence files must end in .csv or .parquet.", nameof(path));
    }

    private static string IdOf(SequenceDataset dataset, int i) => dataset.Ids[i];

    private static string LabelNameOf(SequenceDataset dataset, int i) => dataset.LabelNames[dataset.Labels[i]];

    private static string Quote(string field) =>
        field.IndexOfAny([',', '"', '\n', '\r']) < 0 && field.Trim().Length == field.Length
            ? field
            : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The longest CSV line <see cref="Read"/> accepts, in characters (2^22, about 4 million: room for
    /// hundreds of thousands of feature columns); a longer line is refused before it is held in memory.</summary>
    internal const int MaxCsvLineLength = 1 << 22;

    private static SequenceDataset ReadCsv(string path)
    {
        using var stream = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        var reader = new BoundedLineReader(stream, path, MaxCsvLineLength);
        var lineNumber = 0;
        string? line;
        List<string>? header = null;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Trim().Length == 0)
                continue;
            header = SplitCsv(path, lineNumber, line).Select(f => f.Trim()).ToList();
            break;
        }
        if (header is null)
            throw new SequenceDataException(path, "line 1", null, "the file is empty; expected a header sequence_id,label,step,x0..x{d-1}");
        var (idAt, labelAt, stepAt, featureAt) = LongFormTable.ResolveHeader(path, header);
        var table = new LongFormTable(path, featureAt.Select((_, k) => $"x{k}").ToArray());
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Trim().Length == 0)
                continue;
            var location = $"line {lineNumber}";
            var fields = SplitCsv(path, lineNumber, line);
            if (fields.Count != header.Count)
                throw new SequenceDataException(path, location, null,
                    $"{fields.Count} fields, but the header has {header.Count} columns (3 keys and d = {table.Channels} features)");
            var step = table.CheckStep(location, ParseNumber(path, location, LongFormTable.StepColumn, fields[stepAt]));
            var values = new float[featureAt.Length];
            for (var k = 0; k < featureAt.Length; k++)
                values[k] = table.CheckValue(location, k, ParseNumber(path, location, $"x{k}", fields[featureAt[k]]));
            table.Add(location, fields[idAt].Trim(), fields[labelAt].Trim(), step, values);
        }
        return table.Build();
    }

    /// <summary>
    /// Reads lines ending in \n, \r\n or \r, like <see cref="StreamReader.ReadLine"/>, but refuses a line longer
    /// than a limit as soon as the limit is passed (a <see cref="SequenceDataException"/> naming the file and the
    /// line), so that a file without line breaks cannot make the reader hold gigabytes.
    /// </summary>
    private sealed class BoundedLineReader(StreamReader reader, string path, int maxLength)
    {
        private readonly char[] _buffer = new char[1 << 16];
        private readonly StringBuilder _line = new();
        private int _at;
        private int _end;
        private int _lineNumber;
        private bool _skipLineFeed;

        private bool Fill()
        {
            _end = reader.Read(_buffer, 0, _buffer.Length);
            _at = 0;
            return _end > 0;
        }

        public string? ReadLine()
        {
            _line.Clear();
            _lineNumber++;
            var any = false;
            while (true)
            {
                if (_at >= _end && !Fill())
                    return any ? _line.ToString() : null;
                if (_skipLineFeed)
                {
                    _skipLineFeed = false;
                    if (_buffer[_at] == '\n')
                    {
                        _at++;
                        continue;
                    }
                }
                any = true;
                var span = _buffer.AsSpan(_at, _end - _at);
                var stop = span.IndexOfAny('\n', '\r');
                var take = stop < 0 ? span.Length : stop;
                if (_line.Length + take > maxLength)
                    throw new SequenceDataException(path, $"line {_lineNumber}", null,
                        $"the line is longer than {maxLength} characters, the most a CSV line may hold (is the file CSV, with line breaks?)");
                _line.Append(span[..take]);
                _at += take;
                if (stop >= 0)
                {
                    _skipLineFeed = _buffer[_at] == '\r';
                    _at++;
                    return _line.ToString();
                }
            }
        }
    }

    private static double ParseNumber(string path, string location, string column, string field)
    {
        var text = field.Trim();
        if (text.Length == 0)
            throw new SequenceDataException(path, location, column, "the value is missing");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            throw new SequenceDataException(path, location, column, $"'{text}' is not a number");
        return value;
    }

    /// <summary>Splits one CSV line into fields (RFC 4180 quoting within the line).</summary>
    private static List<string> SplitCsv(string path, int lineNumber, string line)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var i = 0;
        while (true)
        {
            field.Clear();
            if (i < line.Length && line[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= line.Length)
                        throw new SequenceDataException(path, $"line {lineNumber}", $"#{fields.Count + 1}", "a quoted field is not closed");
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"')
                        {
                            field.Append('"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    field.Append(line[i++]);
                }
                if (i < line.Length && line[i] != ',')
                    throw new SequenceDataException(path, $"line {lineNumber}", $"#{fields.Count + 1}", "text follows a closing quote");
            }
            else
            {
                var end = line.IndexOf(',', i);
                if (end < 0)
                    end = line.Length;
                field.Append(line, i, end - i);
                i = end;
            }
            fields.Add(field.ToString());
            if (i >= line.Length)
                return fields;
            i++;
        }
    }

    /// <summary>The most values (rows × columns) one Parquet row group may hold for <see cref="Read"/> (2^27): the
    /// reader holds a row group's columns at once, so this bounds its memory whatever the file's metadata claims.</summary>
    internal const long MaxParquetGroupValues = 1L << 27;

    private static SequenceDataset ReadParquet(string path)
    {
        using var stream = File.OpenRead(path);
        if (stream.Length == 0)
            throw new SequenceDataException(path, "row 1", null, "the file is empty; expected a Parquet file");
        CheckParquetFrame(path, stream);
        try
        {
            return ReadParquetAsync(path, stream).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not SequenceDataException)
        {
            // Parquet.Net reports a corrupt page, a bad Thrift structure or a bad compression block with many
            // exception types (IndexOutOfRange, Overflow, InvalidCast, its own ParquetException, …): one line here.
            var message = e.Message.Split('\n', 2)[0].Trim();
            throw new SequenceDataException(path, "file", null, $"not a readable Parquet file: corrupt or unsupported content ({e.GetType().Name}: {message})");
        }
    }

    /// <summary>
    /// Checks the Parquet frame before the library reads it: the magic <c>PAR1</c> at both ends and a footer length
    /// that fits inside the file (a footer length of 0x7fffffff would otherwise be allocated as it stands).
    /// </summary>
    private static void CheckParquetFrame(string path, Stream stream)
    {
        var length = stream.Length;
        Span<byte> head = stackalloc byte[4];
        Span<byte> tail = stackalloc byte[8];
        if (length < 12)
            throw new SequenceDataException(path, "header", null, $"not a readable Parquet file: {length} bytes is shorter than the 12 bytes of the smallest Parquet frame");
        stream.ReadExactly(head);
        stream.Position = length - 8;
        stream.ReadExactly(tail);
        stream.Position = 0;
        if (!head.SequenceEqual("PAR1"u8) || !tail[4..].SequenceEqual("PAR1"u8))
            throw new SequenceDataException(path, "header", null, "not a readable Parquet file: it does not start and end with the magic bytes PAR1");
        var footer = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(tail);
        if (footer <= 0 || footer > length - 12)
            throw new SequenceDataException(path, "footer", null,
                $"corrupt Parquet footer: its length field says {footer} bytes, but the file has room for {length - 12}");
        var metadata = new byte[footer];
        stream.Position = length - 8 - footer;
        stream.ReadExactly(metadata);
        stream.Position = 0;
        var at = 0;
        if (ThriftCompact.SkipStruct(metadata, ref at, 0) is { } fault)
            throw new SequenceDataException(path, "footer", null, $"corrupt Parquet footer metadata ({fault} at byte {at} of {footer})");
    }

    /// <summary>
    /// Walks a Thrift compact-protocol structure (the encoding of Parquet's footer, Apache Thrift "Compact Protocol"
    /// specification) without building it, checking that every string, list, set and map length fits in the bytes
    /// that remain and that nesting stays shallow. Parquet.Net trusts these lengths: a list length of 2^31 − 1 in a
    /// corrupt footer makes it loop for billions of elements. Every step consumes at least one byte, so the walk is
    /// linear in the footer's size.
    /// </summary>
    private static class ThriftCompact
    {
        private const int MaxDepth = 64;

        /// <summary>Skips one struct; returns null, or what is wrong (with <paramref name="at"/> at the fault).</summary>
        public static string? SkipStruct(ReadOnlySpan<byte> b, ref int at, int depth)
        {
            if (depth > MaxDepth)
                return $"structures nested deeper than {MaxDepth}";
            while (true)
            {
                if (at >= b.Length)
                    return "the metadata ends inside a structure";
                var header = b[at++];
                if (header == 0)
                    return null;
                var type = header & 0x0F;
                if (header >> 4 == 0 && Varint(b, ref at, out _) is { } idFault)
                    return idFault;
                // Booleans in a struct carry their value in the type (1 = true, 2 = false) and have no payload.
                if (type is 1 or 2)
                    continue;
                if (SkipValue(b, ref at, type, depth) is { } fault)
                    return fault;
            }
        }

        private static string? SkipValue(ReadOnlySpan<byte> b, ref int at, int type, int depth)
        {
            switch (type)
            {
                case 1 or 2 or 3:
                    return Advance(b, ref at, 1);
                case 4 or 5 or 6:
                    return Varint(b, ref at, out _);
                case 7:
                    return Advance(b, ref at, 8);
                case 8:
                    if (Varint(b, ref at, out var size) is { } sizeFault)
                        return sizeFault;
                    return size > (ulong)(b.Length - at) ? $"a string of {size} bytes where {b.Length - at} remain" : Advance(b, ref at, (int)size);
                case 9 or 10:
                    {
                        if (at >= b.Length)
                            return "the metadata ends inside a list header";
                        var header = b[at++];
                        var element = header & 0x0F;
                        ulong count = (ulong)(header >> 4);
                        if (count == 15 && Varint(b, ref at, out count) is { } countFault)
                            return countFault;
                        if (count > (ulong)(b.Length - at))
                            return $"a list of {count} elements where {b.Length - at} bytes remain";
                        for (var i = 0UL; i < count; i++)
                            if (SkipValue(b, ref at, element, depth + 1) is { } fault)
                                return fault;
                        return null;
                    }
                case 11:
                    {
                        if (Varint(b, ref at, out var count) is { } countFault)
                            return countFault;
                        if (count == 0)
                            return null;
                        if (at >= b.Length)
                            return "the metadata ends inside a map header";
                        var kinds = b[at++];
                        if (count > (ulong)(b.Length - at) / 2)
                            return $"a map of {count} entries where {b.Length - at} bytes remain";
                        for (var i = 0UL; i < count; i++)
                            if (SkipValue(b, ref at, kinds >> 4, depth + 1) is { } keyFault)
                                return keyFault;
                            else if (SkipValue(b, ref at, kinds & 0x0F, depth + 1) is { } valueFault)
                                return valueFault;
                        return null;
                    }
                case 12:
                    return SkipStruct(b, ref at, depth + 1);
                default:
                    return $"unknown Thrift type {type}";
            }
        }

        private static string? Advance(ReadOnlySpan<byte> b, ref int at, int count)
        {
            if (count > b.Length - at)
                return "the metadata ends inside a value";
            at += count;
            return null;
        }

        private static string? Varint(ReadOnlySpan<byte> b, ref int at, out ulong value)
        {
            value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (at >= b.Length)
                    return "the metadata ends inside a number";
                var next = b[at++];
                value |= (ulong)(next & 0x7F) << shift;
                if ((next & 0x80) == 0)
                    return null;
            }
            return "a number longer than 10 bytes";
        }
    }

    private static async Task<SequenceDataset> ReadParquetAsync(string path, Stream stream)
    {
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(stream).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new SequenceDataException(path, "header", null, $"not a readable Parquet file ({e.Message})");
        }
        await using (reader.ConfigureAwait(false))
        {
            var fields = reader.Schema.GetDataFields();
            var (idAt, labelAt, stepAt, featureAt) = LongFormTable.ResolveHeader(path, fields.Select(f => f.Name).ToList());
            var table = new LongFormTable(path, featureAt.Select((_, k) => $"x{k}").ToArray());
            var rowBase = 0L;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var columns = 3L + featureAt.Length;
                if (group.RowCount < 0 || group.RowCount > MaxParquetGroupValues / columns)
                    throw new SequenceDataException(path, $"row group {g + 1}", null,
                        $"the metadata claims {group.RowCount} rows of {columns} columns, more than the {MaxParquetGroupValues} values one row group may hold here; write the file with smaller row groups");
                var n = (int)group.RowCount;
                var ids = await ReadTextAsync(path, group, fields[idAt], n, rowBase).ConfigureAwait(false);
                var labels = await ReadTextAsync(path, group, fields[labelAt], n, rowBase).ConfigureAwait(false);
                var steps = await ReadNumbersAsync(path, group, fields[stepAt], n, rowBase).ConfigureAwait(false);
                var features = new double[featureAt.Length][];
                for (var k = 0; k < featureAt.Length; k++)
                    features[k] = await ReadNumbersAsync(path, group, fields[featureAt[k]], n, rowBase).ConfigureAwait(false);
                for (var r = 0; r < n; r++)
                {
                    var location = $"row {rowBase + r + 1}";
                    var step = table.CheckStep(location, steps[r]);
                    var values = new float[featureAt.Length];
                    for (var k = 0; k < featureAt.Length; k++)
                        values[k] = table.CheckValue(location, k, features[k][r]);
                    table.Add(location, ids[r], labels[r], step, values);
                }
                rowBase += n;
            }
            return table.Build();
        }
    }

    private static async Task<string[]> ReadTextAsync(string path, ParquetRowGroupReader group, DataField field, int n, long rowBase)
    {
        if (field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>))
        {
            var text = new string?[n];
            await group.ReadAsync(field, text.AsMemory()).ConfigureAwait(false);
            var result = new string[n];
            for (var r = 0; r < n; r++)
                result[r] = text[r] ?? throw new SequenceDataException(path, $"row {rowBase + r + 1}", field.Name, "the value is missing (null)");
            return result;
        }
        if (IsInteger(field.ClrType))
        {
            var numbers = await ReadNumbersAsync(path, group, field, n, rowBase).ConfigureAwait(false);
            return numbers.Select(v => ((long)v).ToString(CultureInfo.InvariantCulture)).ToArray();
        }
        throw new SequenceDataException(path, "header", field.Name,
            $"has type {field.ClrType.Name}; ids and labels must be strings or integers");
    }

    private static bool IsInteger(Type type) =>
        type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(sbyte)
        || type == typeof(byte) || type == typeof(ushort) || type == typeof(uint);

    private static Task<double[]> ReadNumbersAsync(string path, ParquetRowGroupReader group, DataField field, int n, long rowBase)
    {
        var type = field.ClrType;
        if (type == typeof(double)) return ReadAsync<double>(path, group, field, n, rowBase, v => v);
        if (type == typeof(float)) return ReadAsync<float>(path, group, field, n, rowBase, v => v);
        if (type == typeof(int)) return ReadAsync<int>(path, group, field, n, rowBase, v => v);
        if (type == typeof(long)) return ReadAsync<long>(path, group, field, n, rowBase, v => v);
        if (type == typeof(short)) return ReadAsync<short>(path, group, field, n, rowBase, v => v);
        if (type == typeof(sbyte)) return ReadAsync<sbyte>(path, group, field, n, rowBase, v => v);
        if (type == typeof(byte)) return ReadAsync<byte>(path, group, field, n, rowBase, v => v);
        if (type == typeof(ushort)) return ReadAsync<ushort>(path, group, field, n, rowBase, v => v);
        if (type == typeof(uint)) return ReadAsync<uint>(path, group, field, n, rowBase, v => v);
        throw new SequenceDataException(path, "header", field.Name, $"has type {type.Name}, which is not numeric");
    }

    private static async Task<double[]> ReadAsync<T>(string path, ParquetRowGroupReader group, DataField field, int n, long rowBase,
        Func<T, double> convert)
        where T : struct
    {
        var result = new double[n];
        if (field.IsNullable)
        {
            var values = new T?[n];
            await group.ReadAsync<T>(field, values.AsMemory()).ConfigureAwait(false);
            for (var r = 0; r < n; r++)
                result[r] = values[r] is { } v
                    ? convert(v)
                    : throw new SequenceDataException(path, $"row {rowBase + r + 1}", field.Name, "the value is missing (null)");
        }
        else
        {
            var values = new T[n];
            await group.ReadAsync<T>(field, values.AsMemory()).ConfigureAwait(false);
            for (var r = 0; r < n; r++)
                result[r] = convert(values[r]);
        }
        return result;
    }
}
