using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;

namespace DistEmbed.Bench.SequenceComparison;

/// <summary>
/// The comparison of Abdelwahab &amp; Landwehr (arXiv:1912.01933) on this library: vector embeddings (mean pooling)
/// against distributional embeddings trained and compared with several distances, on unseen classes.
/// Every run appends one JSON line to the results file (written atomically); runs already there are skipped, so an
/// interrupted grid resumes, and the table is built from whatever lines exist.
/// </summary>
public static class Program
{
    private sealed record TaskSetting(string Name, string Spec, int ClassesPerBatch, int ItemsPerClass, int Epochs);

    private sealed record Config(string Key, string Head, string Distance, string Kind);

    private static readonly TaskSetting[] AllTasks =
    [
        new("noise-laws", "synthetic:noise-laws?classes=32&per-class=12&seed={seed}&min-length=16&max-length=32", 8, 4, 12),
        new("regimes", "synthetic:regimes?classes=32&per-class=12&seed={seed}&min-length=16&max-length=32", 8, 4, 12),
        new("motifs", "synthetic:motifs?classes=32&per-class=12&seed={seed}&min-length=16&max-length=32", 8, 4, 12),
        new("fashion-mnist-rows", "fashion-mnist-rows?train=false&per-class=64&seed={seed}&downsample=2", 4, 8, 10),
        new("mnist-rows", "mnist-rows?train=false&per-class=64&seed={seed}&downsample=2", 4, 8, 10),
    ];

    private static readonly Config[] AllConfigs =
    [
        new("mean+euclidean", "mean", "euclidean", "vector"),
        new("mean+cosine", "mean", "cosine", "vector"),
        new("quantile+marginal-w1", "quantile", "quantile-w1", "distributional"),
        new("quantile+marginal-w2", "quantile", "quantile-w2", "distributional"),
        new("distribution+sliced-w2", "distribution", "sliced-w2", "distributional"),
        new("distribution+sinkhorn-divergence", "distribution", "sinkhorn-divergence", "distributional"),
        new("distribution+bures-diag", "distribution", "bures-diag", "distributional"),
        new("distribution+mmd", "distribution", "mmd", "distributional"),
        new("distribution+energy", "distribution", "energy", "distributional"),
    ];

    private const int Hidden = 16;
    private const int Features = 8;
    private const int Layers = 2;
    private const int Quantiles = 16;
    private static double LearningRate = 3e-3;
    private static string Loss = "triplet";
    private static string Miner = "all";
    private static double Margin = 0.2;
    private static double EpochScale = 1.0;
    private const double ValidFraction = 0.1;
    private const double TestFraction = 0.3;

    public static int Main(string[] args)
    {
        var options = ParseArguments(args);
        var output = options.GetValueOrDefault("out", Path.Combine("bench", "SequenceComparison", "results", "comparison.jsonl"));
        var table = options.GetValueOrDefault("table", Path.Combine("bench", "SequenceComparison", "results", "comparison.md"));
        var tasks = Select(options.GetValueOrDefault("tasks", "noise-laws,fashion-mnist-rows,mnist-rows"), AllTasks, t => t.Name);
        var configs = Select(options.GetValueOrDefault("configs", string.Join(",", AllConfigs.Select(c => c.Key))), AllConfigs, c => c.Key);
        var seeds = options.GetValueOrDefault("seeds", "0,1,2").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var threads = int.Parse(options.GetValueOrDefault("threads", "1"), CultureInfo.InvariantCulture);
        LearningRate = double.Parse(options.GetValueOrDefault("lr", "3e-3"), CultureInfo.InvariantCulture);
        Loss = options.GetValueOrDefault("loss", "triplet");
        Miner = options.GetValueOrDefault("miner", "all");
        Margin = double.Parse(options.GetValueOrDefault("margin", "0.2"), CultureInfo.InvariantCulture);
        var budget = TimeSpan.FromSeconds(double.Parse(options.GetValueOrDefault("run-budget", "150"), CultureInfo.InvariantCulture));
        EpochScale = double.Parse(options.GetValueOrDefault("epoch-scale", "1"), CultureInfo.InvariantCulture);
        if (!options.ContainsKey("table-only"))
        {
            NativeRuntime.EnsureInitialized();
            torch.set_num_threads(threads);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(output))!);
            // Only completed runs count as done: a run that stopped at the budget is tried again (and its line replaced).
            var done = ReadResults(output).Where(r => r["status"]?.GetValue<string>() == "ok")
                .Select(r => Key(r["task"]!.GetValue<string>(), r["seed"]!.GetValue<int>(), r["config"]!.GetValue<string>())).ToHashSet();
            // Seed-major order, so that a partial grid holds every configuration for the first seeds; sliced-w2 and
            // the Sinkhorn divergence (the slowest here) go last.
            var runs = (from seed in seeds from task in tasks from config in configs select (seed, task, config))
                .OrderBy(r => r.config.Distance is "sliced-w2" or "sinkhorn-divergence" ? 1 : 0).ToList();
            var prepared = new Dictionary<string, SequenceSplits>();
            foreach (var (seed, task, config) in runs)
            {
                if (done.Contains(Key(task.Name, seed, config.Key)))
                    continue;
                var dataKey = $"{task.Name}|{seed}";
                if (!prepared.TryGetValue(dataKey, out var splits))
                    prepared[dataKey] = splits = Prepare(task, seed);
                var line = RunOne(task, config, seed, threads, splits, budget);
                var key = Key(task.Name, seed, config.Key);
                var kept = ReadResults(output).Where(r => Key(r["task"]!.GetValue<string>(), r["seed"]!.GetValue<int>(), r["config"]!.GetValue<string>()) != key)
                    .Select(r => r.ToJsonString() + "\n");
                AtomicFile.WriteAllText(output, string.Concat(kept) + line.ToJsonString() + "\n");
                Console.WriteLine(line.ToJsonString());
            }
        }
        var markdown = Table(ReadResults(output), output);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(table))!);
        AtomicFile.WriteAllText(table, markdown);
        Console.WriteLine(markdown);
        return 0;
    }

    private const double SinkhornEpsilon = 0.1;

    /// <summary>The distance's own settings for the run description (training and test use the same).</summary>
    private static string DistanceDescription(TrainerOptions o) => o.Distance switch
    {
        "sinkhorn-divergence" => string.Create(CultureInfo.InvariantCulture,
            $"; sinkhorn eps={o.DistanceSettings.Epsilon} scaling={o.DistanceSettings.EpsilonScaling} iterations={o.DistanceSettings.SinkhornIterations} tol={o.DistanceSettings.Tolerance}"),
        "sliced-w2" => string.Create(CultureInfo.InvariantCulture, $"; projections={o.DistanceSettings.Projections} drawn per step (test: seed {o.Seed})"),
        _ => "",
    };

    private static int Epochs(TaskSetting task) => Math.Max(1, (int)Math.Round(task.Epochs * EpochScale));

    private static string Key(string task, int seed, string config) => $"{task}|{seed}|{config}";

    private static Dictionary<string, string> ParseArguments(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
                throw new ArgumentException($"unexpected argument '{args[i]}'; options are --out, --table, --tasks, --configs, --seeds, --threads, --table-only.");
            var name = args[i][2..];
            if (name == "table-only")
                options[name] = "true";
            else if (i + 1 < args.Length)
                options[name] = args[++i];
            else
                throw new ArgumentException($"option --{name} needs a value.");
        }
        return options;
    }

    private static T[] Select<T>(string list, T[] all, Func<T, string> name) =>
        list.Split(',').Select(n => all.FirstOrDefault(x => name(x) == n.Trim())
            ?? throw new ArgumentException($"unknown '{n}'; known: {string.Join(", ", all.Select(name))}.")).ToArray();

    /// <summary>Loads the task's data for a seed, splits it by class, and standardises with training statistics.</summary>
    private static SequenceSplits Prepare(TaskSetting task, int seed)
    {
        var data = SequenceSources.Load(task.Spec.Replace("{seed}", seed.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        var splits = Splits.ClassDisjoint(data, ValidFraction, TestFraction, seed);
        var standardizer = Standardizer.Fit(splits.Train);
        return new SequenceSplits(standardizer.Apply(splits.Train), standardizer.Apply(splits.Valid), standardizer.Apply(splits.Test));
    }

    private static JsonObject RunOne(TaskSetting task, Config config, int seed, int threads, SequenceSplits splits, TimeSpan budget)
    {
        var modelOptions = new EmbedderOptions
        {
            Encoder = "tcn",
            Head = config.Head,
            InputChannels = splits.Train.Channels,
            Hidden = Hidden,
            Features = Features,
            Layers = Layers,
            KernelSize = 3,
            Quantiles = Quantiles,
        };
        var trainerOptions = new TrainerOptions
        {
            Distance = config.Distance,
            Loss = Loss,
            Miner = Miner,
            Margin = Margin,
            Epochs = Epochs(task),
            ClassesPerBatch = task.ClassesPerBatch,
            ItemsPerClass = task.ItemsPerClass,
            LearningRate = LearningRate,
            Seed = seed,
            Device = "cpu",
        };
        if (config.Distance == "sinkhorn-divergence")
        {
            // ε-annealing from the largest cost down to ε (one iteration per level), then at most 20 iterations at ε:
            // GeomLoss's training regime. At ε = 0.1 without annealing a step took 20–30 s (1000 iterations).
            trainerOptions = trainerOptions with
            {
                DistanceSettings = trainerOptions.DistanceSettings with
                {
                    Epsilon = SinkhornEpsilon, EpsilonScaling = 0.5, SinkhornIterations = 20, Tolerance = 1e-3,
                },
            };
        }
        using var model = SequenceEmbedder.Create(modelOptions, seed);
        using var cancel = new CancellationTokenSource(budget);
        TrainingResult result;
        try
        {
            result = SequenceTrainer.Train(model, splits.Train, null, trainerOptions, cancellationToken: cancel.Token);
        }
        catch (OperationCanceledException)
        {
            return new JsonObject
            {
                ["task"] = task.Name,
                ["seed"] = seed,
                ["config"] = config.Key,
                ["kind"] = config.Kind,
                ["status"] = string.Create(CultureInfo.InvariantCulture, $"training exceeded the run budget of {budget.TotalSeconds:0} s"),
                ["utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            };
        }
        var clock = Stopwatch.StartNew();
        var distance = Distance.Create(config.Distance, trainerOptions.EffectiveDistanceSettings());
        var (matrix, labels) = TestDistances(model, splits.Test, distance);
        var metrics = RetrievalMetrics.Evaluate(matrix, labels, labels, true, [1]);
        var evaluationSeconds = clock.Elapsed.TotalSeconds;
        return new JsonObject
        {
            ["task"] = task.Name,
            ["seed"] = seed,
            ["config"] = config.Key,
            ["kind"] = config.Kind,
            ["head"] = config.Head,
            ["distance"] = config.Distance,
            ["status"] = "ok",
            ["map_at_r"] = metrics.MapAtR,
            ["precision_at_1"] = metrics.PrecisionAt1,
            ["r_precision"] = metrics.RPrecision,
            ["final_train_loss"] = result.History[^1].TrainLoss,
            ["steps"] = result.Steps,
            ["train_seconds"] = Math.Round(result.Seconds, 2),
            ["eval_seconds"] = Math.Round(evaluationSeconds, 2),
            ["train_sequences"] = splits.Train.Count,
            ["train_classes"] = splits.Train.Classes.Length,
            ["test_sequences"] = splits.Test.Count,
            ["test_classes"] = splits.Test.Classes.Length,
            ["spec"] = task.Spec.Replace("{seed}", seed.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal),
            ["settings"] = string.Create(CultureInfo.InvariantCulture,
                $"tcn hidden={Hidden} features={Features} layers={Layers} kernel=3 quantiles={Quantiles}; {Loss} {Miner} margin={Margin}; AdamW lr={LearningRate} wd=1e-4 warmup=0.1 cosine; epochs={Epochs(task)} P={task.ClassesPerBatch} M={task.ItemsPerClass}; valid={ValidFraction} test={TestFraction} class fractions; threads={threads}{DistanceDescription(trainerOptions)}"),
            ["utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["machine"] = $"{Environment.MachineName}, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
        };
    }

    /// <summary>
    /// The test set's pairwise distance matrix, embedded in one forward pass (the test sets here hold at most a few
    /// hundred short sequences). Done here rather than with <c>SequenceTrainer.DistanceMatrix</c>, whose quantile
    /// batches lose their levels tensor to a dispose scope on this branch.
    /// </summary>
    private static (double[,] Distances, long[] Labels) TestDistances(SequenceEmbedder model, SequenceDataset test, Distance distance)
    {
        model.eval();
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var batch = test.ToBatch(Enumerable.Range(0, test.Count).ToArray());
        var embeddings = model.forward(batch.Features, batch.Mask);
        var flat = distance.Pairwise(embeddings, embeddings).to_type(torch.ScalarType.Float64).data<double>().ToArray();
        var n = test.Count;
        var matrix = new double[n, n];
        Buffer.BlockCopy(flat, 0, matrix, 0, flat.Length * sizeof(double));
        return (matrix, test.Labels.Select(l => (long)l).ToArray());
    }

    private static List<JsonObject> ReadResults(string path) =>
        File.Exists(path)
            ? File.ReadAllLines(path).Where(l => l.Trim().Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToList()
            : [];

    private static (double Mean, double Sd) MeanSd(IReadOnlyList<double> values)
    {
        var mean = values.Average();
        var sd = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : double.NaN;
        return (mean, sd);
    }

    private static string Cell(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return "—";
        var (mean, sd) = MeanSd(values);
        var spread = double.IsNaN(sd) ? "" : string.Create(CultureInfo.InvariantCulture, $" ± {100 * sd:0.0}");
        return string.Create(CultureInfo.InvariantCulture, $"{100 * mean:0.0}{spread} ({values.Count})");
    }

    /// <summary>Mean ± sample sd over seeds (in %, number of seeds in parentheses), per task and configuration.</summary>
    private static string Table(List<JsonObject> all, string source)
    {
        var rows = all.Where(r => r["status"]?.GetValue<string>() == "ok").ToList();
        var failed = all.Where(r => r["status"]?.GetValue<string>() != "ok").ToList();
        var tasks = AllTasks.Select(t => t.Name).Where(n => rows.Any(r => r["task"]!.GetValue<string>() == n)).ToArray();
        var text = new StringBuilder();
        foreach (var (metric, title) in new[] { ("map_at_r", "MAP@R"), ("precision_at_1", "P@1") })
        {
            text.Append(CultureInfo.InvariantCulture, $"{title} (%) on unseen test classes, mean ± sd over seeds (number of seeds)\n\n");
            text.Append("| configuration | ").Append(string.Join(" | ", tasks)).Append(" |\n");
            text.Append("| --- |").Append(string.Concat(tasks.Select(_ => " ---: |"))).Append('\n');
            foreach (var config in AllConfigs)
            {
                if (!rows.Any(r => r["config"]!.GetValue<string>() == config.Key))
                    continue;
                text.Append("| ").Append(config.Key);
                foreach (var task in tasks)
                    text.Append(" | ").Append(Cell(rows.Where(r => r["task"]!.GetValue<string>() == task && r["config"]!.GetValue<string>() == config.Key)
                        .Select(r => r[metric]!.GetValue<double>()).ToArray()));
                text.Append(" |\n");
            }
            text.Append('\n');
        }
        text.Append("MAP@R difference to mean+euclidean (percentage points), paired by seed (same split, same test classes), mean ± sd (number of seeds)\n\n");
        text.Append("| configuration | ").Append(string.Join(" | ", tasks)).Append(" |\n");
        text.Append("| --- |").Append(string.Concat(tasks.Select(_ => " ---: |"))).Append('\n');
        foreach (var config in AllConfigs.Skip(1))
        {
            if (!rows.Any(r => r["config"]!.GetValue<string>() == config.Key))
                continue;
            text.Append("| ").Append(config.Key);
            foreach (var task in tasks)
            {
                double? MapOf(string key, int seed) => rows
                    .Where(r => r["task"]!.GetValue<string>() == task && r["config"]!.GetValue<string>() == key && r["seed"]!.GetValue<int>() == seed)
                    .Select(r => (double?)r["map_at_r"]!.GetValue<double>()).FirstOrDefault();
                var differences = rows.Select(r => r["seed"]!.GetValue<int>()).Distinct().Order()
                    .Select(seed => (MapOf(config.Key, seed), MapOf(AllConfigs[0].Key, seed)))
                    .Where(p => p.Item1 is not null && p.Item2 is not null)
                    .Select(p => p.Item1!.Value - p.Item2!.Value).ToArray();
                text.Append(" | ").Append(differences.Length == 0 ? "—" : (differences.Average() >= 0 ? "+" : "") + Cell(differences));
            }
            text.Append(" |\n");
        }
        text.Append('\n');
        var seconds = rows.Select(r => r["train_seconds"]!.GetValue<double>() + r["eval_seconds"]!.GetValue<double>()).ToArray();
        if (seconds.Length > 0)
            text.Append(CultureInfo.InvariantCulture,
                $"{rows.Count} runs from `{source}`; seconds per run (train + test evaluation): median {seconds.Order().ElementAt(seconds.Length / 2):0.0}, max {seconds.Max():0.0}.\n");
        foreach (var f in failed)
            text.Append(CultureInfo.InvariantCulture, $"\nNot in the table: {f["task"]} seed {f["seed"]} {f["config"]}: {f["status"]}.");
        if (failed.Count > 0)
            text.Append('\n');
        return text.ToString();
    }
}
