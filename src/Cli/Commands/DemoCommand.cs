using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace DistEmbed.Cli.Commands;

/// <summary>
/// <c>distembed demo</c>: the project's main job. Trains a distributional sequence embedding (quantile layer + marginal
/// W2) and a mean-pooled vector baseline on a synthetic task, evaluates both on unseen classes, prints a table and
/// writes report.md with plots.
/// </summary>
public static class DemoCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var defaults = new DemoSettings();
        var output = new Option<string>("--out") { Description = "Folder for report.md and the PNG plots.", DefaultValueFactory = _ => "artifacts/demo" };
        var task = new Option<string>("--task") { Description = "Synthetic task: noise-laws, motifs or regimes.", DefaultValueFactory = _ => defaults.Task };
        var classes = new Option<int>("--classes") { Description = "Classes generated.", DefaultValueFactory = _ => defaults.Classes };
        var perClass = new Option<int>("--per-class") { Description = "Sequences per class.", DefaultValueFactory = _ => defaults.PerClass };
        var epochs = new Option<int>("--epochs") { Description = "Epochs per model.", DefaultValueFactory = _ => defaults.Epochs };
        var seed = new Option<int>("--seed") { Description = "Seed.", DefaultValueFactory = _ => defaults.Seed };
        var device = DeviceOption.Create();
        var minLength = new Option<int>("--min-length") { Description = "Shortest sequence.", DefaultValueFactory = _ => defaults.MinLength };
        var maxLength = new Option<int>("--max-length") { Description = "Longest sequence.", DefaultValueFactory = _ => defaults.MaxLength };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => defaults.LearningRate };
        var features = new Option<int>("--features") { Description = "Per-step features d.", DefaultValueFactory = _ => defaults.Features };
        var hidden = new Option<int>("--hidden") { Description = "Encoder width.", DefaultValueFactory = _ => defaults.Hidden };
        var noPlots = new Option<bool>("--no-plots") { Description = "Metrics only: no report.md and plots." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the metrics and the files written." };
        var command = new Command("demo", "Distributional sequence embeddings (quantile layer + Wasserstein) vs. a mean-pooled baseline on unseen classes; writes report.md with plots.")
        {
            output, task, classes, perClass, epochs, seed, device, minLength, maxLength, lr, features, hidden, noPlots, json,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var settings = defaults with
            {
                Task = r.GetValue(task)!, Classes = r.GetValue(classes), PerClass = r.GetValue(perClass), Epochs = r.GetValue(epochs),
                Seed = r.GetValue(seed), Device = r.GetValue(device)!, MinLength = r.GetValue(minLength), MaxLength = r.GetValue(maxLength),
                LearningRate = r.GetValue(lr), Features = r.GetValue(features), Hidden = r.GetValue(hidden), Plots = !r.GetValue(noPlots),
            };
            var asJson = r.GetValue(json);
            var result = SequenceDemo.Run(settings, r.GetValue(output), asJson ? null : Console.WriteLine);
            if (asJson)
            {
                Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                {
                    ["distributional"] = Metrics(result.Distributional),
                    ["baseline"] = Metrics(result.Baseline),
                    ["map_at_r_gain"] = result.Distributional.MapAtR - result.Baseline.MapAtR,
                    ["seconds"] = result.Seconds,
                    ["files"] = result.Files,
                }));
                return;
            }
            var c = CultureInfo.InvariantCulture;
            Console.WriteLine();
            Console.WriteLine($"{"model",-44} {"distance",-12} {"P@1",6} {"R-prec",7} {"MAP@R",7} {"AUC",6} {"EER",6}");
            foreach (var m in new[] { result.Distributional, result.Baseline })
                Console.WriteLine(string.Format(c, "{0,-44} {1,-12} {2,6:F3} {3,7:F3} {4,7:F3} {5,6:F3} {6,6:F3}", m.Name, m.Distance, m.PrecisionAt1, m.RPrecision, m.MapAtR, m.Auc, m.Eer));
            Console.WriteLine(string.Format(c, "MAP@R gain of the distributional embedding: {0:F1} points; total {1:F1} s.",
                100 * (result.Distributional.MapAtR - result.Baseline.MapAtR), result.Seconds));
            foreach (var f in result.Files) Console.WriteLine($"written: {f}");
        }));
        return command;
    }

    private static Dictionary<string, object> Metrics(DemoModelResult m) => new()
    {
        ["name"] = m.Name, ["distance"] = m.Distance, ["precision_at_1"] = m.PrecisionAt1, ["r_precision"] = m.RPrecision,
        ["map_at_r"] = m.MapAtR, ["auc"] = m.Auc, ["eer"] = m.Eer, ["train_seconds"] = m.TrainSeconds,
    };
}
