using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// docs/api-overview.md stays true to the public API: every type it lists (first column of a table, under a
/// <c>## `Namespace`</c> heading) is a public type of that namespace in the API snapshot, none is listed twice, and the
/// page keeps to one screen (at most 40 types).
/// </summary>
public sealed partial class ApiOverviewTests
{
    private static readonly string Root = Path.GetFullPath(Path.Combine(SourceDirectory(), "..", ".."));

    [Fact]
    public void EveryListedTypeIsAPublicTypeOfItsNamespace()
    {
        var snapshot = File.ReadAllLines(Path.Combine(SourceDirectory(), "api", "public-api.txt"));
        var types = snapshot.Select(l => TypeLine().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToHashSet();
        var listed = Listed(File.ReadAllLines(Path.Combine(Root, "docs", "api-overview.md")));
        Assert.NotEmpty(listed);
        var unknown = listed.Where(t => !types.Contains(t)).ToList();
        Assert.True(unknown.Count == 0, "docs/api-overview.md lists types that are not public types of the snapshot: " + string.Join(", ", unknown));
        var twice = listed.GroupBy(t => t).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(twice.Count == 0, "listed twice: " + string.Join(", ", twice));
        Assert.True(listed.Count <= 40, $"docs/api-overview.md lists {listed.Count} types; the page is meant to fit on one screen (≤ 40).");
    }

    [Fact]
    public void TheParserQualifiesRowsByTheirSection()
    {
        var listed = Listed(["# t", "## `A.B`", "| type | what |", "| --- | --- |", "| `X` | x |", "## `C` (core)", "| `Y` | y |", "text | `Z` |"]);
        Assert.Equal(["A.B.X", "C.Y"], listed);
    }

    /// <summary>The fully qualified names of the table rows: a row's first column is a type of the latest <c>## `Namespace`</c>.</summary>
    private static List<string> Listed(IEnumerable<string> lines)
    {
        var result = new List<string>();
        string? ns = null;
        foreach (var line in lines)
        {
            var heading = Heading().Match(line);
            if (heading.Success) { ns = heading.Groups[1].Value; continue; }
            var row = Row().Match(line);
            if (row.Success && ns is not null) result.Add($"{ns}.{row.Groups[1].Value}");
        }
        return result;
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    [GeneratedRegex(@"^([\w.]+): type ")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^##\s+`([\w.]+)`")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^\|\s*`(\w+)`\s*\|")]
    private static partial Regex Row();
}
