using System.Globalization;
using System.Net;
using System.Text;
using DistEmbed.IO;

namespace DistEmbed.Plots;

/// <summary>
/// Dependency-free SVG figures of library results (no native plotting library needed): a heat map of a distance
/// matrix. The documentation's figures are made with it by the guides' own examples.
/// </summary>
public static class Svg
{
    private const int Cell = 34, Left = 56, Top = 40, BarWidth = 14, BarGap = 16;

    /// <summary>A heat map of an N × M matrix (for example a result of <c>ArrayDistances.Pairwise</c>)
    /// as SVG text: one cell per entry coloured on a viridis-like scale from the smallest to the largest value, the value
    /// printed in each cell when N, M ≤ 16 (as 0 when below a thousandth of the largest magnitude), and a colour bar;
    /// each cell's tooltip holds the exact value.</summary>
    /// <param name="values">N × M finite values (N, M ≥ 1).</param>
    /// <param name="title">A title printed above the map, or null.</param>
    /// <param name="rowLabels">N row labels, or null for 0..N-1.</param>
    /// <param name="columnLabels">M column labels, or null for 0..M-1.</param>
    /// <returns>A complete SVG document.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    /// <exception cref="ArgumentException">The matrix is empty or holds NaN or ±∞ (the message names the entry), or a label
    /// list has the wrong length.</exception>
    public static string Heatmap(double[,] values, string? title = null, IReadOnlyList<string>? rowLabels = null,
        IReadOnlyList<string>? columnLabels = null)
    {
        ArgumentNullException.ThrowIfNull(values);
        var (n, m) = (values.GetLength(0), values.GetLength(1));
        if (n == 0 || m == 0)
            throw new ArgumentException($"values has shape [{n},{m}]; a heat map needs at least one row and one column.", nameof(values));
        for (var i = 0; i < n; i++)
            for (var j = 0; j < m; j++)
                if (!double.IsFinite(values[i, j]))
                    throw new ArgumentException($"values[{i},{j}] is {values[i, j]}; every entry must be finite.", nameof(values));
        var rows = Labels(rowLabels, n, nameof(rowLabels));
        var cols = Labels(columnLabels, m, nameof(columnLabels));
        var (lo, hi) = (double.MaxValue, double.MinValue);
        foreach (var v in values) (lo, hi) = (Math.Min(lo, v), Math.Max(hi, v));
        // Printed values below a thousandth of the largest magnitude are round-off (e.g. a divergence's diagonal): "0".
        var scale = Math.Max(Math.Abs(lo), Math.Abs(hi));

        var width = Left + m * Cell + BarGap + BarWidth + 64;
        var height = Top + n * Cell + 16;
        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n"));
        svg.Append(Invariant($"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"));
        if (title is not null)
            svg.Append(Invariant($"<text x=\"{Left}\" y=\"16\" font-size=\"13\">{WebUtility.HtmlEncode(title)}</text>\n"));
        for (var j = 0; j < m; j++)
            svg.Append(Invariant($"<text x=\"{Left + j * Cell + Cell / 2}\" y=\"{Top - 6}\" text-anchor=\"middle\">{WebUtility.HtmlEncode(cols[j])}</text>\n"));
        var showValues = n <= 16 && m <= 16;
        for (var i = 0; i < n; i++)
        {
            svg.Append(Invariant($"<text x=\"{Left - 6}\" y=\"{Top + i * Cell + Cell / 2 + 4}\" text-anchor=\"end\">{WebUtility.HtmlEncode(rows[i])}</text>\n"));
            for (var j = 0; j < m; j++)
            {
                var t = hi > lo ? (values[i, j] - lo) / (hi - lo) : 0.5;
                var (x, y) = (Left + j * Cell, Top + i * Cell);
                svg.Append(Invariant($"<rect x=\"{x}\" y=\"{y}\" width=\"{Cell}\" height=\"{Cell}\" fill=\"{Colour(t)}\"><title>[{i},{j}] = {values[i, j]:G6}</title></rect>\n"));
                if (showValues)
                    svg.Append(Invariant($"<text x=\"{x + Cell / 2}\" y=\"{y + Cell / 2 + 4}\" text-anchor=\"middle\" font-size=\"9\" fill=\"{(t > 0.6 ? "black" : "white")}\">{Short(values[i, j], scale)}</text>\n"));
            }
        }
        var barX = Left + m * Cell + BarGap;
        const int steps = 32;
        var barHeight = n * Cell;
        for (var s = 0; s < steps; s++)
        {
            var y0 = Top + barHeight * s / (double)steps;
            svg.Append(Invariant($"<rect x=\"{barX}\" y=\"{y0:F2}\" width=\"{BarWidth}\" height=\"{barHeight / (double)steps + 0.5:F2}\" fill=\"{Colour(1 - (s + 0.5) / steps)}\"/>\n"));
        }
        svg.Append(Invariant($"<text x=\"{barX + BarWidth + 4}\" y=\"{Top + 9}\">{Short(hi, scale)}</text>\n"));
        svg.Append(Invariant($"<text x=\"{barX + BarWidth + 4}\" y=\"{Top + barHeight}\">{Short(lo, scale)}</text>\n"));
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Writes <see cref="Heatmap"/>'s SVG to <paramref name="path"/> atomically (<see cref="AtomicFile"/>).</summary>
    /// <param name="path">The .svg file; its folder must exist.</param>
    /// <param name="values">N × M finite values.</param>
    /// <param name="title">A title, or null.</param>
    /// <param name="rowLabels">N row labels, or null.</param>
    /// <param name="columnLabels">M column labels, or null.</param>
    /// <exception cref="ArgumentException">As <see cref="Heatmap"/>; or <paramref name="path"/> is empty.</exception>
    public static void WriteHeatmap(string path, double[,] values, string? title = null, IReadOnlyList<string>? rowLabels = null,
        IReadOnlyList<string>? columnLabels = null) =>
        AtomicFile.WriteAllText(path, Heatmap(values, title, rowLabels, columnLabels));

    private static string[] Labels(IReadOnlyList<string>? labels, int count, string name)
    {
        if (labels is null) return Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        if (labels.Count != count)
            throw new ArgumentException($"{name} has {labels.Count} labels but the matrix has {count} {(name == "rowLabels" ? "rows" : "columns")}.", name);
        return labels.ToArray();
    }

    private static string Short(double v, double scale) =>
        Math.Abs(v) < 1e-3 * scale ? "0" : v.ToString(Math.Abs(v) >= 100 ? "F0" : "G3", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Piecewise-linear viridis approximation, t ∈ [0, 1].</summary>
    private static string Colour(double t)
    {
        ReadOnlySpan<(double R, double G, double B)> stops =
        [
            (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37),
        ];
        t = Math.Clamp(t, 0, 1) * (stops.Length - 1);
        var k = Math.Min((int)t, stops.Length - 2);
        var f = t - k;
        var (a, b) = (stops[k], stops[k + 1]);
        return string.Create(CultureInfo.InvariantCulture,
            $"#{(int)Math.Round(a.R + f * (b.R - a.R)):x2}{(int)Math.Round(a.G + f * (b.G - a.G)):x2}{(int)Math.Round(a.B + f * (b.B - a.B)):x2}");
    }
}
