using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using DistEmbed.Autoencoders;
using MathNet.Numerics.LinearAlgebra;
using SkiaSharp;
using Spectre.Console;

namespace DistEmbed.Cli.Commands;

/// <summary><c>distembed train tvae</c> (alias <c>distembed tvae</c>): trains a VAE, TVAE or W-TVAE on an image data set and evaluates it on the test set.</summary>
public static class TvaeCommand
{
    /// <summary>Builds the command.</summary>
    /// <param name="alias">False: <c>train tvae</c>; true: the top-level alias <c>tvae</c> (the same options and action).</param>
    /// <returns>The command.</returns>
    public static Command Create(bool alias = false)
    {
        var data = new Option<string>("--data") { Description = "mnist, fashion-mnist or idx:DIR.", Required = true };
        var defaults = new TvaeOptions(); // every default is the library's, read here, never written here
        var variant = new Option<string>("--variant") { Description = "tvae, vae or wtvae.", DefaultValueFactory = _ => defaults.Variant.ToString().ToLowerInvariant() };
        var architecture = new Option<string>("--architecture") { Description = "mlp (the paper's) or conv.", DefaultValueFactory = _ => defaults.Architecture.ToString().ToLowerInvariant() };
        var epochs = new Option<int>("--epochs") { Description = "Training epochs.", DefaultValueFactory = _ => defaults.Epochs };
        var triplets = new Option<int>("--triplets-per-epoch") { Description = "Random triplets per epoch.", DefaultValueFactory = _ => defaults.TripletsPerEpoch };
        var seed = new Option<int>("--seed") { Description = "Seed of weights, triplets and noise.", DefaultValueFactory = _ => defaults.Seed };
        var latent = new Option<int>("--latent-size") { Description = "Latent dimension L ≥ 1.", DefaultValueFactory = _ => defaults.LatentSize };
        var hidden = new Option<int>("--hidden-size") { Description = "Hidden layer width H ≥ 1.", DefaultValueFactory = _ => defaults.HiddenSize };
        var margin = new Option<double>("--margin") { Description = "Triplet margin m ≥ 0 (tvae, wtvae).", DefaultValueFactory = _ => defaults.Margin };
        var elboWeight = new Option<double>("--elbo-weight") { Description = "Weight of the mean negative ELBO per image (> 0).", DefaultValueFactory = _ => defaults.ElboWeight };
        var tripletWeight = new Option<double>("--triplet-weight") { Description = "Weight of the triplet hinge (≥ 0; tvae, wtvae).", DefaultValueFactory = _ => defaults.TripletWeight };
        var normWeight = new Option<double>("--embedding-norm-weight") { Description = "Weight of the norms of the posterior means (≥ 0; tvae, wtvae).", DefaultValueFactory = _ => defaults.EmbeddingNormWeight };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate (> 0).", DefaultValueFactory = _ => defaults.LearningRate };
        var warmup = new Option<double>("--warmup-fraction") { Description = "Fraction of all steps for a linear learning-rate warm-up, in [0, 1) (0: the paper's constant rate).", DefaultValueFactory = _ => defaults.WarmupFraction };
        var cosine = new Option<bool>("--cosine-decay") { Description = "Decay the learning rate by a cosine after the warm-up (the metric-learning trainers' schedule).", DefaultValueFactory = _ => defaults.CosineDecay };
        var clip = new Option<double>("--clip-norm") { Description = "Clip the gradient's L2 norm to this value (≥ 0; 0: no clipping, the paper's).", DefaultValueFactory = _ => defaults.ClipNorm };
        var batchSize = new Option<int>("--batch-size") { Description = "Triplets per batch K ≥ 1 (3K images).", DefaultValueFactory = _ => defaults.BatchSize };
        var evalTriplets = new Option<int>("--eval-triplets") { Description = "Test triplets (seeded, the same for every variant).", DefaultValueFactory = _ => Tvae.DefaultEvaluationTriplets };
        var retrieval = new Option<int>("--retrieval-items") { Description = "Test images in the P@1 / MAP@R evaluation.", DefaultValueFactory = _ => Tvae.DefaultRetrievalItems };
        var device = DeviceOption.Create();
        var output = new Option<string>("--out") { Description = "Output folder: checkpoint/, metrics.json, reconstructions.png, latent_pca.png.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object with the metrics and paths (progress goes to stderr)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the checkpoint and outputs of an earlier run in --out (without it they are kept and the run refused)." };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Evaluate this saved checkpoint instead of training (its options replace the training options: --variant, --architecture, --epochs, --seed, --lr, …)." };
        var resume = new Option<bool>("--resume") { Description = "Continue the run whose checkpoint is in --out/checkpoint (written after every epoch): the same --data; trains the epochs it had left, then evaluates. Its options are the checkpoint's." };
        var threads = new Option<int?>("--threads") { Description = "CPU threads of TorchSharp's intra-op pool (default: TorchSharp's choice)." };
        const string what = "Trains a VAE / TVAE / W-TVAE (Ishfaq et al., arXiv 1802.04403) on MNIST-like images and evaluates it on the test set.";
        var command = new Command("tvae", alias ? "Alias of train tvae. " + what : what)
        {
            data, variant, architecture, epochs, triplets, seed, latent, hidden, margin, elboWeight, tripletWeight, normWeight, lr, warmup, cosine, clip, batchSize,
            evalTriplets, retrieval, device, output, overwrite, resume, json, threads, checkpoint,
        };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var options = new TvaeOptions
            {
                Variant = TvaeOptions.ParseVariant(r.GetValue(variant)!),
                Architecture = TvaeOptions.ParseArchitecture(r.GetValue(architecture)!),
                Epochs = r.GetValue(epochs),
                TripletsPerEpoch = r.GetValue(triplets),
                Seed = r.GetValue(seed),
                LatentSize = r.GetValue(latent),
                HiddenSize = r.GetValue(hidden),
                Margin = r.GetValue(margin),
                ElboWeight = r.GetValue(elboWeight),
                TripletWeight = r.GetValue(tripletWeight),
                EmbeddingNormWeight = r.GetValue(normWeight),
                LearningRate = r.GetValue(lr),
                WarmupFraction = r.GetValue(warmup),
                CosineDecay = r.GetValue(cosine),
                ClipNorm = r.GetValue(clip),
                BatchSize = r.GetValue(batchSize),
            };
            CliErrors.AsOptions(options.Validate, OptionNames);
            if (r.GetValue(threads) is { } t)
            {
                if (t < 1) throw new ArgumentException($"--threads = {t}; it must be at least 1.", "threads");
                DistEmbed.Core.NativeRuntime.EnsureInitialized();
                TorchSharp.torch.set_num_threads(t);
            }
            Run(r.GetValue(data)!, options, r.GetValue(device)!, r.GetValue(output)!, r.GetValue(evalTriplets), r.GetValue(retrieval), r.GetValue(json),
                r.GetValue(checkpoint), r.GetValue(overwrite), r.GetValue(resume));
        }));
        return command;
    }

    /// <summary>The option behind each <see cref="TvaeOptions"/> field (for error messages).</summary>
    private static readonly Dictionary<string, string> OptionNames = new()
    {
        [nameof(TvaeOptions.Epochs)] = "--epochs", [nameof(TvaeOptions.TripletsPerEpoch)] = "--triplets-per-epoch",
        [nameof(TvaeOptions.LatentSize)] = "--latent-size", [nameof(TvaeOptions.HiddenSize)] = "--hidden-size", [nameof(TvaeOptions.Margin)] = "--margin",
        [nameof(TvaeOptions.ElboWeight)] = "--elbo-weight", [nameof(TvaeOptions.TripletWeight)] = "--triplet-weight",
        [nameof(TvaeOptions.EmbeddingNormWeight)] = "--embedding-norm-weight", [nameof(TvaeOptions.LearningRate)] = "--lr",
        [nameof(TvaeOptions.BatchSize)] = "--batch-size", [nameof(TvaeOptions.WarmupFraction)] = "--warmup-fraction",
        [nameof(TvaeOptions.ClipNorm)] = "--clip-norm",
    };

    private static void Run(string spec, TvaeOptions options, string device, string outDir, int evalTriplets, int retrievalItems, bool json,
        string? checkpoint, bool overwrite, bool resume)
    {
        // --out is checked before any work: a refused folder must not cost a training run.
        if (File.Exists(outDir))
            throw new ArgumentException($"--out '{outDir}' is an existing file; it must name a folder.", "out");
        var checkpointDir = Path.Combine(outDir, "checkpoint");
        if (resume)
        {
            if (checkpoint is not null)
                throw new ArgumentException("--resume continues the training run in --out; --checkpoint evaluates a saved model without training. Pass one of them.", "resume");
            if (overwrite)
                throw new ArgumentException("--resume continues the run in --out; --overwrite would discard it. Pass one of them.", "resume");
            CheckpointFolder.Prepare(checkpointDir, CheckpointKind.Tvae, CheckpointMode.Resume, null, "--out");
        }
        else
        {
            CheckpointFolder.Prepare(checkpointDir, CheckpointKind.Tvae, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New,
                [spec.StartsWith("idx:", StringComparison.Ordinal) ? spec[4..] : spec, checkpoint], "--out");
            if (!overwrite)
                foreach (var name in new[] { "metrics.json", "reconstructions.png", "latent_pca.png" })
                    if (File.Exists(Path.Combine(outDir, name)))
                        throw new ArgumentException($"--out '{outDir}' already holds {name} of an earlier run; it is kept. Pass --overwrite to replace it, or name another folder.", "out");
        }
        var test = ImageDatasets.Load(spec, train: false);
        var clock = Stopwatch.StartNew();
        // A resumed run's model comes from its checkpoint (options, weights, optimiser and noise state), loaded once by
        // Tvae.Resume; its options (for the progress display) come from the manifest alone. A new run writes its
        // checkpoint after every epoch, so an interrupted run loses at most the epoch in progress.
        var resumedFrom = resume ? Tvae.ReadManifest(checkpointDir) : null;
        Tvae? model = resume ? null
            : checkpoint is null ? Tvae.Create(test.Rows, test.Cols, options, device) : Tvae.Load(checkpoint, device);
        try
        {
            options = resumedFrom?.Options ?? model!.Options;
            var done = resumedFrom?.EpochsTrained ?? model!.EpochsTrained;
            var remaining = resumedFrom is { } m ? Math.Max(0, Math.Max(m.TargetEpochs, m.EpochsTrained) - m.EpochsTrained) : options.Epochs;
            var train = checkpoint is null ? ImageDatasets.Load(spec, train: true) : null;
            TvaeTrainingReport Train(IProgress<TrainingProgress> progress)
            {
                if (!resume) return model!.Fit(train!.Images, train.Labels, progress, default, checkpointDir, overwrite);
                var (resumed, resumedReport) = Tvae.Resume(checkpointDir, train!.Images, train.Labels, progress, default, device);
                model = resumed;
                return resumedReport;
            }
            TvaeTrainingReport report;
            var stderr = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            if (train is null)
            {
                report = new TvaeTrainingReport([], [], [], TimeSpan.Zero);
            }
            else if (json || Console.IsErrorRedirected)
            {
                report = Train(new Reporter(p =>
                {
                    if (p.EpochResult is { } e)
                        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"epoch {p.Epoch}/{p.Epochs}  loss {e.TrainLoss:F4}  {clock.Elapsed.TotalSeconds:F0}s"));
                }));
            }
            else
            {
                report = null!;
                stderr.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .Start(ctx =>
                    {
                        var steps = (options.TripletsPerEpoch + options.BatchSize - 1) / options.BatchSize;
                        var bar = ctx.AddTask($"{TvaeOptions.NameOf(options.Variant)} epoch {done + 1}/{done + remaining}", maxValue: Math.Max(1.0, (double)steps * remaining));
                        report = Train(new Reporter(p =>
                        {
                            // Epochs are the model's (from done + 1 on); the bar covers the epochs of this run.
                            bar.Value = (double)(p.Epoch - 1 - done) * p.StepsPerEpoch + p.Step;
                            var loss = p.EpochResult?.TrainLoss ?? p.Loss;
                            bar.Description = string.Create(CultureInfo.InvariantCulture, $"{TvaeOptions.NameOf(options.Variant)} epoch {p.Epoch}/{p.Epochs} loss {loss:F4}");
                        }));
                    });
            }
            // Fit trained the model in place; Resume made it (a resumed run has no model before).
            var trained = model ?? throw new InvalidOperationException("no model after training.");
            var trainSeconds = train is null ? 0.0 : clock.Elapsed.TotalSeconds;
            var evaluation = trained.Evaluate(test, evalTriplets, Tvae.DefaultEvaluationTripletSeed, retrievalItems);
            var full = Path.GetFullPath(outDir);
            Directory.CreateDirectory(full);
            var paths = new Dictionary<string, string>
            {
                ["checkpoint"] = Path.Combine(full, "checkpoint"),
                ["metrics"] = Path.Combine(full, "metrics.json"),
                ["reconstructions"] = Path.Combine(full, "reconstructions.png"),
                ["projection"] = Path.Combine(full, "latent_pca.png"),
            };
            // The folder was checked (or resumed) above and, when training, written by it after every epoch.
            trained.Save(paths["checkpoint"], evaluation, overwrite: overwrite || train is not null);
            AtomicFile.WriteAllBytes(paths["reconstructions"], ReconstructionGrid(trained, test, 16));
            AtomicFile.WriteAllBytes(paths["projection"], ProjectionPlot(trained.Encode(test.Images).Means, test.Labels,
                $"{spec} test means, PCA ({TvaeOptions.NameOf(options.Variant)}, seed {options.Seed})"));
            var doc = new Dictionary<string, object?>
            {
                ["triplet_accuracy"] = evaluation.TripletAccuracy,
                ["triplet_accuracy_of_means"] = evaluation.TripletAccuracyOfMeans,
                ["neg_elbo"] = evaluation.NegativeElbo,
                ["precision_at_1"] = evaluation.PrecisionAt1,
                ["map_at_r"] = evaluation.MapAtR,
                ["distance"] = evaluation.Distance,
                ["data"] = spec,
                ["variant"] = TvaeOptions.NameOf(options.Variant),
                ["architecture"] = options.Architecture == TvaeArchitecture.Mlp ? "mlp" : "conv",
                ["seed"] = options.Seed,
                ["epochs"] = options.Epochs,
                ["triplets_per_epoch"] = options.TripletsPerEpoch,
                ["eval_triplets"] = evaluation.Triplets,
                ["eval_triplet_seed"] = evaluation.TripletSeed,
                ["retrieval_items"] = evaluation.RetrievalItems,
                ["device"] = trained.DeviceName,
                ["train_seconds"] = trainSeconds,
                ["epoch_loss"] = report.EpochLoss,
                ["epochs_trained"] = trained.EpochsTrained,
                ["library_version"] = Tvae.LibraryVersion,
                ["paths"] = paths,
            };
            var text = JsonSerializer.Serialize(doc);
            AtomicFile.WriteAllText(paths["metrics"], text + "\n");
            if (json)
            {
                Console.WriteLine(text);
            }
            else
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{TvaeOptions.NameOf(options.Variant)} on {spec}: triplet accuracy {evaluation.TripletAccuracy:P2}, -ELBO {evaluation.NegativeElbo:F2} nats, P@1 {evaluation.PrecisionAt1:F4}, MAP@R {evaluation.MapAtR:F4}"));
                foreach (var (k, v) in paths) Console.WriteLine($"{k}: {v}");
            }
        }
        finally
        {
            model?.Dispose();
        }
    }

    /// <summary>PNG of a 2 × <paramref name="count"/> grid: the first test images above their reconstructions, 3× enlarged.</summary>
    private static byte[] ReconstructionGrid(Tvae model, ImageSet test, int count)
    {
        count = Math.Min(count, test.Count);
        var subset = test.Subset(Enumerable.Range(0, count).ToArray());
        var recon = model.Reconstruct(subset.Images);
        const int scale = 3, gap = 2;
        var w = count * (test.Cols * scale + gap) + gap;
        var h = 2 * (test.Rows * scale + gap) + gap;
        using var bitmap = new SKBitmap(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque);
        bitmap.Erase(new SKColor(255, 255, 255));
        for (var i = 0; i < count; i++)
            for (var row = 0; row < 2; row++)
                for (var y = 0; y < test.Rows; y++)
                    for (var x = 0; x < test.Cols; x++)
                    {
                        var v = row == 0 ? subset.Images[i, y * test.Cols + x] : recon[i, y * test.Cols + x];
                        var g = (byte)Math.Clamp((int)Math.Round(255 * (1 - v)), 0, 255);
                        for (var dy = 0; dy < scale; dy++)
                            for (var dx = 0; dx < scale; dx++)
                                bitmap.SetPixel(gap + i * (test.Cols * scale + gap) + x * scale + dx,
                                    gap + row * (test.Rows * scale + gap) + y * scale + dy, new SKColor(g, g, g));
                    }
        using var image = SKImage.FromBitmap(bitmap);
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    /// <summary>PNG scatter of the first two principal components of the means, one colour per class.</summary>
    private static byte[] ProjectionPlot(float[,] means, int[] labels, string title)
    {
        var n = means.GetLength(0);
        var d = means.GetLength(1);
        var x = Matrix<double>.Build.Dense(n, d, (i, j) => means[i, j]);
        var centred = x - Matrix<double>.Build.Dense(n, d, (_, j) => 0.0) - Matrix<double>.Build.DenseOfRowVectors(
            Enumerable.Repeat(x.ColumnSums() / n, n));
        var covariance = centred.TransposeThisAndMultiply(centred) / Math.Max(1, n - 1);
        var evd = covariance.Evd(Symmetricity.Symmetric);
        var order = Enumerable.Range(0, d).OrderByDescending(k => evd.EigenValues[k].Real).Take(2).ToArray();
        var projection = centred * Matrix<double>.Build.DenseOfColumnVectors(order.Select(k => evd.EigenVectors.Column(k)));
        var plot = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        foreach (var c in labels.Distinct().Order())
        {
            var idx = Enumerable.Range(0, n).Where(i => labels[i] == c).ToArray();
            var points = plot.Add.ScatterPoints(idx.Select(i => projection[i, 0]).ToArray(), idx.Select(i => projection[i, 1]).ToArray());
            points.MarkerSize = 2;
            points.Color = palette.GetColor(c).WithAlpha(0.6);
            points.LegendText = c.ToString(CultureInfo.InvariantCulture);
        }
        plot.Title(title);
        plot.XLabel("PC 1");
        plot.YLabel("PC 2");
        plot.ShowLegend(ScottPlot.Alignment.UpperRight);
        return plot.GetImageBytes(900, 700, ScottPlot.ImageFormat.Png);
    }

    /// <summary>An <see cref="IProgress{T}"/> that calls back synchronously on the reporting thread.</summary>
    private sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
