using DistEmbed.Plots;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>The SVG heat map: content and argument checks.</summary>
public sealed class SvgTests
{
    [Fact]
    public void HeatmapHasOneCellPerEntryLabelsAndTheRange()
    {
        var svg = Svg.Heatmap(new[,] { { 0.0, 1.5 }, { 2.25, 3.0 } }, "t<1>", ["r0", "r1"], ["c0", "c1"]);
        Assert.StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"", svg);
        Assert.Equal(4, svg.Split("<title>[").Length - 1);
        Assert.Contains("t&lt;1&gt;", svg);
        Assert.Contains(">c1</text>", svg);
        Assert.Contains("[1,0] = 2.25", svg);
        Assert.Contains("fill=\"#440154\"", svg);   // the smallest entry gets the low end of the scale
        Assert.Contains("fill=\"#fde725\"", svg);   // the largest the high end
    }

    [Fact]
    public void RoundOffIsPrintedAsZeroButKeptInTheTooltip()
    {
        var svg = Svg.Heatmap(new[,] { { -1.3e-6, 22.4 }, { 22.4, 2e-9 } });
        var printed = System.Text.RegularExpressions.Regex.Replace(svg, "<title>[^<]*</title>", "");
        Assert.DoesNotContain("E-0", printed);
        Assert.Contains("[0,0] = -1.3E-06", svg);
        Assert.Contains(">22.4</text>", svg);
    }

    [Fact]
    public void WriteHeatmapWritesTheFile()
    {
        var dir = Directory.CreateTempSubdirectory("distembed-svg-").FullName;
        try
        {
            var path = Path.Combine(dir, "h.svg");
            Svg.WriteHeatmap(path, new double[,] { { 1 } });
            Assert.Equal(Svg.Heatmap(new double[,] { { 1 } }), File.ReadAllText(path));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void BadInputNamesTheArgument()
    {
        Assert.Equal("values", Assert.Throws<ArgumentNullException>(() => Svg.Heatmap(null!)).ParamName);
        var empty = Assert.Throws<ArgumentException>(() => Svg.Heatmap(new double[0, 3]));
        Assert.Equal(("values", true), (empty.ParamName, empty.Message.Contains("[0,3]")));
        var nan = Assert.Throws<ArgumentException>(() => Svg.Heatmap(new[,] { { 1.0, double.NaN } }));
        Assert.Equal(("values", true), (nan.ParamName, nan.Message.Contains("values[0,1]")));
        var rows = Assert.Throws<ArgumentException>(() => Svg.Heatmap(new double[2, 2], rowLabels: ["a"]));
        Assert.Equal(("rowLabels", true), (rows.ParamName, rows.Message.Contains("2 rows")));
        var cols = Assert.Throws<ArgumentException>(() => Svg.Heatmap(new double[2, 2], columnLabels: ["a", "b", "c"]));
        Assert.Equal(("columnLabels", true), (cols.ParamName, cols.Message.Contains("2 columns")));
    }
}
