using System.Diagnostics;
using System.Globalization;
using System.Text;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;

namespace DistEmbed.Cli.Commands;

/// <summary>Settings of the sequence-embedding demo (<c>distembed demo</c>).</summary>
public sealed record DemoSettings
{
    /// <summary>The synthetic task (see <c>SyntheticSequences.Tasks</c>).</summary>
    public string Task { get; init; } = "noise-laws";
    /// <summary>Classes generated (split class-disjointly into train / valid / test).</summary>
    public int Classes { get; init; } = 40;
    /// <summary>Sequences per class.</summary>
    public int PerClass { get; init; } = 16;
    /// <summary>Shortest sequence.</summary>
    public int MinLength { get; init; } = 24;
    /// <summary>Longest sequence.</summary>
    public int MaxLength { get; init; } = 48;
    /// <summary>Training epochs of each model.</summary>
    public int Epochs { get; init; } = 6;
    /// <summary>The seed of data, splits, initialisation and sampling.</summary>
    public int Seed { get; init; } = 7;
    /// <summary>Encoder width.</summary>
    public int Hidden { get; init; } = 24;
    /// <summary>Per-step features d.</summary>
    public int Features { get; init; } = 8;
    /// <summary>Quantile levels Q of the distributional model.</summary>
    public int Quantiles { get; init; } = 12;
    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 2e-3;
    /// <summary>Device name.</summary>
    public string Device { get; init; } = DeviceOption.Default;
    /// <summary>Write report.md and the PNG plots (false: metrics only).</summary>
    public bool Plots { get; init; } = true;
}

/// <summary>The metrics of one demo model on the unseen test classes.</summary>
/// <param name="Name">The model's name.</param>
/// <param name="Head">Head name.</param>
/// <param name="Distance">Distance name.</param>
/// <param name="PrecisionAt1">Precision@1.</param>
/// <param name="RPrecision">R-precision.</param>
/// <param name="MapAtR">MAP@R.</param>
/// <param name="Auc">Verification ROC AUC.</param>
/// <param name="Eer">Equal-error rate.</param>
/// <param name="TrainSeconds">Training time.</param>
/// <param name="History">Per-epoch metrics.</param>
public sealed record DemoModelResult(string Name, string Head, string Distance, double PrecisionAt1, double RPrecision, double MapAtR,
    double Auc, double Eer, double TrainSeconds, IReadOnlyList<EpochMetrics> History);

/// <summary>The outcome of the demo.</summary>
/// <param name="Distributional">The quantile-layer + W2 model.</param>
/// <param name="Baseline">The mean-pooling + Euclidean model.</param>
/// <param name="Files">Files written.</param>
/// <param name="Seconds">Total wall-clock seconds.</param>
public sealed record DemoResult(DemoModelResult Distributional, DemoModelResult Baseline, IReadOnlyList<string> Files, double Seconds);

/// <summary>
/// The main demonstration: distributional sequence embeddings (quantile layer + marginal W2, Abdelwahab &amp; Landwehr,
/// arXiv:1912.01933) against a mean-pooled vector baseline, trained identically and compared on unseen classes.
/// </summary>
public static class SequenceDemo
{
    /// <summary>Runs the demo.</summary>
    /// <param name="settings">Settings.</param>
    /// <param name="outDirectory">Where report.md and the plots go (created), or null for none.</param>
    /// <param name="log">A line sink for progress (e.g. the console), or null.</param>
    /// <returns>The metrics of both models and the files written.</returns>
    public static DemoResult Run(DemoSettings settings, string? outDirectory, Action<string>? log)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var clock = Stopwatch.StartNew();
        var data = SyntheticSequences.Generate(settings.Task, settings.Classes, settings.PerClass, settings.Seed, settings.MinLength, settings.MaxLength);
        var split = Splits.ClassDisjoint(data, 0.2, 0.3, settings.Seed);
        var standardizer = Standardizer.Fit(split.Train);
        var train = standardizer.Apply(split.Train);
        var valid = standardizer.Apply(split.Valid);
        var test = standardizer.Apply(split.Test);
        log?.Invoke($"task {settings.Task}: {train.Classes.Length} training, {valid.Classes.Length} validation and {test.Classes.Length} test classes " +
            $"({train.Count}/{valid.Count}/{test.Count} sequences of {settings.MinLength}–{settings.MaxLength} steps, {data.Channels} channels)");
        var common = new EmbedderOptions
        {
            Encoder = "tcn", InputChannels = data.Channels, Hidden = settings.Hidden, Features = settings.Features,
            Layers = 3, KernelSize = 3, Quantiles = settings.Quantiles,
        };
        var trainer = new TrainerOptions
        {
            Epochs = settings.Epochs, ClassesPerBatch = Math.Min(8, train.Classes.Length), ItemsPerClass = 4, LearningRate = settings.LearningRate, Seed = settings.Seed,
            Loss = Catalog.DefaultLoss, Miner = Catalog.DefaultMiner, Margin = 0.2, Device = settings.Device,
        };
        var runs = new (string Name, EmbedderOptions Options)[]
        {
            ("distributional (quantile layer + W2)", common with { Head = "quantile" }),
            ("vector baseline (mean pooling + Euclidean)", common with { Head = "mean" }),
        };
        var results = new List<DemoModelResult>();
        var models = new List<SequenceEmbedder>();
        foreach (var (name, options) in runs)
        {
            var model = SequenceEmbedder.Create(options, settings.Seed);
            var progress = new LineProgress(p => log?.Invoke(
                $"  {name}: epoch {p.Epoch}/{p.Epochs}  loss {p.EpochResult!.TrainLoss:F4}  valid MAP@R {p.EpochResult.ValidMapAtR:F3}"));
            var trained = SequenceTrainer.Train(model, train, valid, trainer, null, standardizer.ToJson(), progress);
            var distance = Distance.Create(options.DefaultDistance());
            var (d, y) = SequenceTrainer.DistanceMatrix(model, test, distance, 256, Devices.Resolve(settings.Device));
            var retrieval = RetrievalMetrics.Evaluate(d, y, y, true, [1]);
            var verification = VerificationMetrics.EvaluateMatrix(d, y, y, true);
            results.Add(new DemoModelResult(name, options.Head, distance.Name, retrieval.PrecisionAt1, retrieval.RPrecision, retrieval.MapAtR,
                verification.RocAuc, verification.EqualErrorRate, trained.Seconds, trained.History));
            models.Add(model);
        }
        var files = new List<string>();
        if (outDirectory is not null && settings.Plots)
        {
            Directory.CreateDirectory(outDirectory);
            files.AddRange(DemoReport.Write(outDirectory, settings, results, models, test, clock.Elapsed.TotalSeconds));
        }
        return new DemoResult(results[0], results[1], files, clock.Elapsed.TotalSeconds);
    }

    private sealed class LineProgress(Action<TrainingProgress> onEpoch) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.EpochResult is not null) onEpoch(value);
        }
    }
}
