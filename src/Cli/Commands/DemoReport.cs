using System.Globalization;
using System.Text;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>Writes the demo's report.md and PNG plots (ScottPlot).</summary>
internal static class DemoReport
{
    private const int Width = 720;
    private const int Height = 480;

    public static IEnumerable<string> Write(string dir, DemoSettings settings, IReadOnlyList<DemoModelResult> results,
        IReadOnlyList<SequenceEmbedder> models, SequenceDataset test, double seconds)
    {
        var files = new List<string>
        {
            Curves(Path.Combine(dir, "training-map.png"), results, "validation MAP@R (unseen classes)", m => m.ValidMapAtR ?? double.NaN),
            Curves(Path.Combine(dir, "training-loss.png"), results, "training loss (triplet, all valid triplets)", m => m.TrainLoss),
        };
        var order = Enumerable.Range(0, test.Count).OrderBy(i => test.Labels[i]).ThenBy(i => i).ToArray();
        var sorted = test.Subset(order);
        for (var k = 0; k < models.Count; k++)
        {
            var tag = results[k].Head == "quantile" ? "distributional" : "baseline";
            var flat = Flattened(models[k], sorted);
            files.Add(Projection(Path.Combine(dir, $"pca-{tag}.png"), flat, sorted.Labels, $"PCA of test embeddings — {results[k].Name}"));
            var distance = Distance.Create(models[k].Options.DefaultDistance());
            var (matrix, _) = SequenceTrainer.DistanceMatrix(models[k], sorted, distance);
            files.Add(HeatMap(Path.Combine(dir, $"distances-{tag}.png"), matrix, $"{distance.Name} between test sequences (sorted by class) — {tag}"));
        }
        var report = Path.Combine(dir, "report.md");
        AtomicFile.WriteAllText(report, Markdown(settings, results, seconds));
        files.Add(report);
        return files.Select(Path.GetFullPath);
    }

    private static string Markdown(DemoSettings s, IReadOnlyList<DemoModelResult> results, double seconds)
    {
        var c = CultureInfo.InvariantCulture;
        var b = new StringBuilder();
        b.AppendLine("# DistEmbed demo: distributional sequence embeddings vs. mean pooling");
        b.AppendLine();
        b.AppendLine(c, $"Date (UTC): {DateTime.UtcNow:yyyy-MM-dd HH:mm}. Machine: {Environment.ProcessorCount} logical CPUs, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}. Command: `distembed demo --seed {s.Seed}` (settings below). Total time {seconds:F1} s.");
        b.AppendLine();
        b.AppendLine(c, $"Data: synthetic task `{s.Task}` (every class has per-step mean 0 and variance 1 in every channel; classes differ in the *distribution* of local patterns), {s.Classes} classes × {s.PerClass} sequences of {s.MinLength}–{s.MaxLength} steps, split class-disjointly (train / validation / test classes), standardised on the training part.");
        b.AppendLine();
        b.AppendLine(c, $"Both models: the same TCN encoder (3 dilated residual blocks, width {s.Hidden}, {s.Features} features per step), triplet loss (margin 0.2) over all valid triplets of each batch, 8 classes × 4 sequences per batch, AdamW with warm-up and cosine decay, {s.Epochs} epochs, the best validation epoch kept. They differ only in the head and the distance:");
        b.AppendLine();
        b.AppendLine(c, $"- **distributional**: quantile layer (each feature's quantile function at {s.Quantiles} levels over the sequence's steps) compared by the marginal 2-Wasserstein distance (Abdelwahab & Landwehr, arXiv:1912.01933);");
        b.AppendLine("- **baseline**: the mean of the per-step features compared by the Euclidean distance.");
        b.AppendLine();
        b.AppendLine("Test metrics (classes never seen in training; query = gallery, self excluded):");
        b.AppendLine();
        b.AppendLine("| model | distance | P@1 | R-precision | MAP@R | ROC AUC | EER | train time (s) |");
        b.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results)
            b.AppendLine(c, $"| {r.Name} | {r.Distance} | {r.PrecisionAt1:F3} | {r.RPrecision:F3} | {r.MapAtR:F3} | {r.Auc:F3} | {r.Eer:F3} | {r.TrainSeconds:F1} |");
        b.AppendLine();
        b.AppendLine(c, $"MAP@R difference (distributional − baseline): **{100 * (results[0].MapAtR - results[1].MapAtR):F1} points**.");
        b.AppendLine();
        b.AppendLine("## Training curves");
        b.AppendLine();
        b.AppendLine("![validation MAP@R](training-map.png)");
        b.AppendLine();
        b.AppendLine("![training loss](training-loss.png)");
        b.AppendLine();
        b.AppendLine("## Test embeddings, first two principal components (colour = class)");
        b.AppendLine();
        b.AppendLine("Quantile embeddings are flattened to d·Q values scaled by 1/√Q, so that their Euclidean distance is the marginal W2 used for retrieval.");
        b.AppendLine();
        b.AppendLine("![PCA distributional](pca-distributional.png) ![PCA baseline](pca-baseline.png)");
        b.AppendLine();
        b.AppendLine("## Distance matrices between test sequences (sorted by class)");
        b.AppendLine();
        b.AppendLine("![distances distributional](distances-distributional.png) ![distances baseline](distances-baseline.png)");
        return b.ToString();
    }

    /// <summary>Embeddings as rows of a float64 [N, D] array whose Euclidean distance is the model's distance (for quantiles at midpoint levels).</summary>
    private static double[,] Flattened(SequenceEmbedder model, SequenceDataset data)
    {
        using var e = model.EmbedAll(data);
        using var scope = torch.NewDisposeScope();
        var t = e.Representation switch
        {
            Representation.Vectors => e.Values,
            Representation.Quantiles => e.Values.reshape(e.Count, -1).div(Math.Sqrt(e.Levels.shape[0])),
            Representation.Distributions => e.Points.mul(e.Weights.unsqueeze(-1)).sum(1),
            _ => throw new InvalidOperationException("unknown representation"),
        };
        var n = (int)t.shape[0];
        var dim = (int)t.shape[1];
        var flat = t.to_type(torch.ScalarType.Float64).contiguous().data<double>().ToArray();
        var result = new double[n, dim];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(double));
        return result;
    }

    private static string Curves(string path, IReadOnlyList<DemoModelResult> results, string title, Func<EpochMetrics, double> value)
    {
        var plt = new ScottPlot.Plot();
        foreach (var r in results)
        {
            var xs = r.History.Select(h => (double)h.Epoch).ToArray();
            var ys = r.History.Select(value).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.LegendText = r.Name;
        }
        plt.Title(title);
        plt.XLabel("epoch");
        plt.ShowLegend();
        return Save(plt, path);
    }

    private static string Projection(string path, double[,] x, IReadOnlyList<int> labels, string title)
    {
        var (pc1, pc2) = Pca2(x);
        var plt = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category20();
        var classes = labels.Distinct().Order().ToArray();
        for (var k = 0; k < classes.Length; k++)
        {
            var idx = Enumerable.Range(0, labels.Count).Where(i => labels[i] == classes[k]).ToArray();
            var points = plt.Add.ScatterPoints(idx.Select(i => pc1[i]).ToArray(), idx.Select(i => pc2[i]).ToArray());
            points.Color = palette.GetColor(k);
            points.MarkerSize = 6;
        }
        plt.Title(title);
        plt.XLabel("PC 1");
        plt.YLabel("PC 2");
        return Save(plt, path);
    }

    private static string HeatMap(string path, double[,] matrix, string title)
    {
        var plt = new ScottPlot.Plot();
        var map = plt.Add.Heatmap(matrix);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        plt.Add.ColorBar(map);
        plt.Title(title);
        return Save(plt, path);
    }

    private static string Save(ScottPlot.Plot plt, string path)
    {
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(Width, Height, ScottPlot.ImageFormat.Png));
        return path;
    }

    /// <summary>The first two principal-component scores of the rows of x (centred; SVD in float64).</summary>
    private static (double[] First, double[] Second) Pca2(double[,] x)
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(x);
        var centred = t.sub(t.mean([0], keepdim: true));
        var (u, s, _) = torch.linalg.svd(centred, fullMatrices: false);
        var scores = u.mul(s.unsqueeze(0));
        var n = scores.shape[0];
        var first = scores[.., 0].contiguous().data<double>().ToArray();
        var second = scores.shape[1] > 1 ? scores[.., 1].contiguous().data<double>().ToArray() : new double[n];
        return (first, second);
    }
}
