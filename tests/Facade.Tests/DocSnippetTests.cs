using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using DistEmbed.Core;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// Keeps the documentation's C# code from rotting: every <c>```csharp</c> block in README.md, docs/*.md and the package
/// readmes (src/*/README.md) is preceded by <c>&lt;!-- snippet: NAME --&gt;</c> and equals the region
/// <c>#region snippet:NAME</c> of a file in tests/Facade.Tests/DocExamples, which a test compiles and runs. The block may
/// begin with <c>using</c> lines; each must be a using directive of that file.
/// </summary>
public sealed partial class DocSnippetTests
{
    private static readonly string Root = Path.GetFullPath(Path.Combine(SourceDirectory(), "..", ".."));

    [Fact]
    public void EveryCSharpBlockIsARegionOfARunningExample()
    {
        var regions = Regions();
        var problems = new List<string>();
        foreach (var (file, name, line, block) in Blocks())
        {
            if (name is null)
            {
                problems.Add($"{file}:{line}: a ```csharp block without a <!-- snippet: NAME --> line just above it.");
                continue;
            }
            if (!regions.TryGetValue(name, out var region))
            {
                problems.Add($"{file}:{line}: snippet '{name}' has no '#region snippet:{name}' in tests/Facade.Tests/DocExamples.");
                continue;
            }
            var usings = block.TakeWhile(l => l.StartsWith("using ", StringComparison.Ordinal)).ToList();
            var body = block.Skip(usings.Count).SkipWhile(string.IsNullOrWhiteSpace).ToList();
            foreach (var u in usings.Where(u => !region.Usings.Contains(u)))
                problems.Add($"{file}:{line}: snippet '{name}' shows '{u}', which {region.File} does not have.");
            if (!body.SequenceEqual(region.Lines))
                problems.Add($"{file}:{line}: snippet '{name}' differs from {region.File}; the block must read:\n"
                    + string.Join("\n", usings.Concat(usings.Count > 0 ? [""] : []).Concat(region.Lines)));
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>A block that lists its using directives lists the namespace of every facade type it names: a reader
    /// who copies it gets a program that compiles with exactly those namespaces (the examples themselves compile inside
    /// <c>DistEmbed.Facade.Tests</c>, where the <c>DistEmbed</c> namespace needs no using, so this is not checked by
    /// compiling them).</summary>
    [Fact]
    public void ABlockThatListsItsUsingsNamesTheNamespaceOfEveryFacadeTypeItUses()
    {
        var facadeTypes = typeof(Catalog).Assembly.GetExportedTypes().Where(t => !t.IsNested)
            .GroupBy(t => t.Name.Split('`')[0]).ToDictionary(g => g.Key, g => g.Select(t => t.Namespace!).ToHashSet());
        var problems = new List<string>();
        foreach (var (file, name, line, block) in Blocks())
        {
            var usings = block.TakeWhile(l => UsingDirective().IsMatch(l)).Select(l => UsingDirective().Match(l).Groups[1].Value).ToHashSet();
            if (usings.Count == 0) continue; // a continuation of the block before it
            var body = string.Join("\n", block.Skip(usings.Count).Select(l => LineComment().Replace(StringLiteral().Replace(l, "\"\""), "")));
            var declared = DeclaredType().Matches(body).Select(m => m.Groups[1].Value).ToHashSet();
            foreach (var used in TypeReference().Matches(body).Select(m => m.Groups[1].Value).Distinct())
                if (facadeTypes.TryGetValue(used, out var namespaces) && !declared.Contains(used) && !namespaces.Overlaps(usings))
                    problems.Add($"{file}:{line}: snippet '{name}' uses {used} but lists no 'using {string.Join(" / ", namespaces)};'.");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void EveryExampleRegionIsShownSomewhere()
    {
        var shown = Blocks().Select(b => b.Name).OfType<string>().ToHashSet();
        var unused = Regions().Keys.Where(k => !shown.Contains(k)).Order().ToList();
        Assert.True(unused.Count == 0, "example regions no document shows: " + string.Join(", ", unused));
    }

    [Fact]
    public void TheDistancesGuideListsEveryDistance()
    {
        var guide = File.ReadAllText(Path.Combine(Root, "docs", "distances.md"));
        var listed = TableName().Matches(guide).Select(m => m.Groups[1].Value).ToHashSet();
        var missing = Distances.Names.Where(n => !listed.Contains(n)).ToList();
        var unknown = listed.Where(n => !Distances.Names.Contains(n)).ToList();
        Assert.True(missing.Count == 0 && unknown.Count == 0,
            $"docs/distances.md's table misses [{string.Join(", ", missing)}] and lists unknown [{string.Join(", ", unknown)}].");
    }

    [Fact]
    public void TheSnippetParserFindsBlocksAndRejectsUnmarkedOnes()
    {
        var blocks = ParseBlocks("x.md", ["text", "<!-- snippet: a -->", "```csharp", "var x = 1;", "```", "", "```csharp", "y();", "```"]);
        Assert.Equal(2, blocks.Count);
        Assert.Equal(("a", 3, "var x = 1;"), (blocks[0].Name, blocks[0].Line, blocks[0].Lines.Single()));
        Assert.Null(blocks[1].Name);
    }

    private static IEnumerable<string> Documents()
    {
        yield return Path.Combine(Root, "README.md");
        foreach (var f in Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Order()) yield return f;
        foreach (var f in Directory.GetFiles(Path.Combine(Root, "src"), "README.md", SearchOption.AllDirectories).Order()) yield return f;
    }

    private static List<(string File, string? Name, int Line, List<string> Lines)> Blocks() =>
        Documents().SelectMany(f => ParseBlocks(Path.GetRelativePath(Root, f), File.ReadAllLines(f))).ToList();

    private static List<(string File, string? Name, int Line, List<string> Lines)> ParseBlocks(string file, string[] lines)
    {
        var blocks = new List<(string, string?, int, List<string>)>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp") continue;
            var marker = i > 0 ? SnippetMarker().Match(lines[i - 1]) : Match.Empty;
            var body = new List<string>();
            var start = i + 1;
            for (i++; i < lines.Length && lines[i].Trim() != "```"; i++) body.Add(lines[i]);
            blocks.Add((file, marker.Success ? marker.Groups[1].Value : null, start, body));
        }
        return blocks;
    }

    private static Dictionary<string, (string File, HashSet<string> Usings, List<string> Lines)> Regions()
    {
        var regions = new Dictionary<string, (string, HashSet<string>, List<string>)>();
        foreach (var path in Directory.GetFiles(Path.Combine(SourceDirectory(), "DocExamples"), "*.cs"))
        {
            var lines = File.ReadAllLines(path);
            var usings = lines.Where(l => l.StartsWith("using ", StringComparison.Ordinal)).ToHashSet();
            for (var i = 0; i < lines.Length; i++)
            {
                var m = RegionStart().Match(lines[i]);
                if (!m.Success) continue;
                var body = new List<string>();
                for (i++; i < lines.Length && lines[i].Trim() != "#endregion"; i++) body.Add(lines[i]);
                var indent = body.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
                regions.Add(m.Groups[1].Value,
                    (Path.GetRelativePath(Root, path), usings, body.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()).ToList()));
            }
        }
        return regions;
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    [GeneratedRegex(@"^using (?:static )?([A-Za-z_][\w.]*);$")]
    private static partial Regex UsingDirective();

    [GeneratedRegex(@"\$?@?""(?:[^""\\]|\\.)*""")]
    private static partial Regex StringLiteral();

    [GeneratedRegex(@"//.*$")]
    private static partial Regex LineComment();

    [GeneratedRegex(@"\b(?:class|record|struct|interface|enum)\s+([A-Z]\w*)")]
    private static partial Regex DeclaredType();

    /// <summary>A capitalised name not reached through a member access and not a member set in an initializer.</summary>
    [GeneratedRegex(@"(?<![.\w])([A-Z]\w*)\b(?!\s*=[^=>])")]
    private static partial Regex TypeReference();

    [GeneratedRegex(@"^\s*<!--\s*snippet:\s*([\w.-]+)\s*-->\s*$")]
    private static partial Regex SnippetMarker();

    [GeneratedRegex(@"^\s*#region\s+snippet:([\w.-]+)\s*$")]
    private static partial Regex RegionStart();

    [GeneratedRegex(@"^\|\s*`([a-z0-9-]+)`\s*\|", RegexOptions.Multiline)]
    private static partial Regex TableName();
}
