using System.Buffers.Binary;
using System.Text.Json;
using DistEmbed.Cli;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.Autoencoders;
using TorchSharp;
using DistEmbed.Sequences;
using Xunit;
using static TorchSharp.torch;

namespace DistEmbed.Facade.Tests;

/// <summary>VAE/TVAE/W-TVAE: the objective's pieces against hand and Monte Carlo values, training, determinism,
/// checkpoints, argument checks, the data-set loaders' use and the <c>distembed tvae</c> command.</summary>
[Collection("Console")]
public sealed class TvaeTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("tvae-tests-").FullName;

    public TvaeTests() => NativeRuntime.EnsureInitialized();

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Small options for 8 × 8 synthetic images.</summary>
    private static TvaeOptions Small(TvaeVariant variant, TvaeArchitecture architecture = TvaeArchitecture.Mlp, int seed = 3) => new()
    {
        Variant = variant, Architecture = architecture, LatentSize = 4, HiddenSize = 32, BatchSize = 16,
        Epochs = 4, TripletsPerEpoch = 160, Seed = seed, LearningRate = 3e-3,
    };

    /// <summary>n synthetic 8 × 8 images of 4 classes: class c lights quadrant c (value 0.8) plus uniform noise in [0, 0.2].</summary>
    private static (float[,] Images, int[] Labels) Synthetic(int n, int seed = 11)
    {
        var random = new Random(seed);
        var images = new float[n, 64];
        var labels = new int[n];
        for (var i = 0; i < n; i++)
        {
            var c = i % 4;
            labels[i] = c;
            for (var y = 0; y < 8; y++)
                for (var x = 0; x < 8; x++)
                {
                    var lit = (y < 4 ? 0 : 2) + (x < 4 ? 0 : 1) == c;
                    images[i, y * 8 + x] = (lit ? 0.8f : 0f) + 0.2f * (float)random.NextDouble();
                }
        }
        return (images, labels);
    }

    // ---- the objective's pieces -------------------------------------------------------------------------------

    [Fact]
    public void NegativeElbo_of_a_tiny_network_with_fixed_weights_equals_the_hand_computed_value()
    {
        // Encoder: μ = W_μ x + b_μ, v = W_v x + b_v (x ∈ ℝ², L = 1); decoder: ℓ = w_d z + b_d (P = 2); z = μ + e^{v/2} ε.
        double[] x = [0.25, 1.0];
        double[] wMu = [0.5, -1.0], wV = [0.2, 0.4], wD = [1.5, -2.0], bD = [0.1, 0.3];
        const double bMu = 0.3, bV = -0.5, eps = 0.7;
        var mu = wMu[0] * x[0] + wMu[1] * x[1] + bMu;
        var v = wV[0] * x[0] + wV[1] * x[1] + bV;
        var z = mu + Math.Exp(v / 2) * eps;
        var hand = 0.0;
        for (var j = 0; j < 2; j++)
        {
            var p = 1 / (1 + Math.Exp(-(wD[j] * z + bD[j])));
            hand -= x[j] * Math.Log(p) + (1 - x[j]) * Math.Log(1 - p);
        }
        hand += 0.5 * (mu * mu + Math.Exp(v) - 1 - v);

        using var scope = NewDisposeScope();
        var xt = tensor(x).reshape(1, 2);
        var meanT = xt.matmul(tensor(wMu).reshape(2, 1)) + bMu;
        var logVarT = xt.matmul(tensor(wV).reshape(2, 1)) + bV;
        var zt = meanT + (logVarT * 0.5).exp() * eps;
        var logits = zt.matmul(tensor(wD).reshape(1, 2)) + tensor(bD);
        var actual = VaeMath.NegativeElbo(logits, xt, meanT, logVarT).item<double>();
        Assert.Equal(hand, actual, 10);
    }

    [Fact]
    public void Bernoulli_term_and_KL_take_their_textbook_values_at_simple_points()
    {
        using var scope = NewDisposeScope();
        // logits 0 against pixels 0.5: each of the 6 pixels costs log 2.
        var nll = VaeMath.BernoulliNegativeLogLikelihood(zeros(2, 3, dtype: ScalarType.Float64), full(2, 3, 0.5, dtype: ScalarType.Float64));
        Assert.All(nll.data<double>().ToArray(), a => Assert.Equal(3 * Math.Log(2), a, 12));
        // KL(N(0, 1) ‖ N(0, 1)) = 0; KL(N(1, e) ‖ N(0, 1)) = ½(1 + e − 1 − 1) per coordinate.
        var kl = VaeMath.GaussianKl(tensor(new double[,] { { 0, 0 }, { 1, 1 } }), tensor(new double[,] { { 0, 0 }, { 1, 1 } }));
        var k = kl.data<double>().ToArray();
        Assert.Equal(0.0, k[0], 12);
        Assert.Equal(2 * 0.5 * (Math.E - 1), k[1], 12);
    }

    [Fact]
    public void KL_closed_form_agrees_with_a_Monte_Carlo_estimate_within_four_standard_errors()
    {
        // KL(q ‖ p) = E_q[log q(z) − log p(z)], estimated with 400,000 draws (seeded); tolerance 4 standard errors.
        using var scope = NewDisposeScope();
        double[] mu = [0.7, -1.2, 0.1], logVar = [-0.4, 0.6, -1.5];
        var closed = VaeMath.GaussianKl(tensor(mu).reshape(1, 3), tensor(logVar).reshape(1, 3)).item<double>();
        using var generator = new Generator(42, CPU);
        const int n = 400_000;
        var m = tensor(mu).expand(n, 3);
        var lv = tensor(logVar).expand(n, 3);
        var z = VaeMath.Reparameterise(m, lv, generator);
        var logQ = (-0.5 * ((z - m).pow(2) / lv.exp() + lv + Math.Log(2 * Math.PI))).sum(1);
        var logP = (-0.5 * (z.pow(2) + Math.Log(2 * Math.PI))).sum(1);
        var ratio = logQ - logP;
        var estimate = ratio.mean().item<double>();
        var standardError = ratio.std().item<double>() / Math.Sqrt(n);
        Assert.InRange(Math.Abs(estimate - closed), 0, 4 * standardError);
        Assert.True(standardError < 0.01, $"standard error {standardError}");
    }

    [Fact]
    public void Reparameterised_gradient_is_unbiased_on_a_quadratic_within_four_standard_errors()
    {
        // f(z) = Σ z², z = μ + e^{v/2} ε: E f = Σ μ² + e^v, so ∂/∂μ = 2μ and ∂/∂v = e^v. The per-sample gradients
        // 2z and z·e^{v/2}·ε are averaged over 200,000 seeded draws; tolerance 4 standard errors per coordinate.
        double[] mu = [0.5, -1.5], logVar = [0.3, -0.8];
        const int n = 200_000;
        using var scope = NewDisposeScope();
        var m = tensor(mu).reshape(1, 2).expand(n, 2).clone().requires_grad_();
        var lv = tensor(logVar).reshape(1, 2).expand(n, 2).clone().requires_grad_();
        using var generator = new Generator(7, CPU);
        var z = VaeMath.Reparameterise(m, lv, generator);
        z.pow(2).sum().backward();
        var gMu = m.grad!;
        var gV = lv.grad!;
        for (var j = 0; j < 2; j++)
        {
            var colMu = gMu.select(1, j);
            var colV = gV.select(1, j);
            var seMu = colMu.std().item<double>() / Math.Sqrt(n);
            var seV = colV.std().item<double>() / Math.Sqrt(n);
            Assert.InRange(Math.Abs(colMu.mean().item<double>() - 2 * mu[j]), 0, 4 * seMu);
            Assert.InRange(Math.Abs(colV.mean().item<double>() - Math.Exp(logVar[j])), 0, 4 * seV);
        }
    }

    [Fact]
    public void W2_between_diagonal_Gaussians_matches_the_closed_form_the_core_bures_diag_and_the_mu_sigma_embedding()
    {
        using var scope = NewDisposeScope();
        // 1-D: W2(N(0, 1), N(3, 4)) = sqrt(3² + (1 − 2)²) = sqrt(10).
        var one = VaeMath.DiagonalGaussianW2(zeros(1, 1, dtype: ScalarType.Float64), zeros(1, 1, dtype: ScalarType.Float64),
            full(1, 1, 3.0, dtype: ScalarType.Float64), full(1, 1, Math.Log(4), dtype: ScalarType.Float64)).item<double>();
        Assert.Equal(Math.Sqrt(10), one, 12);

        var random = new Random(5);
        double[,] R(int b, int l) { var a = new double[b, l]; for (var i = 0; i < b; i++) for (var j = 0; j < l; j++) a[i, j] = random.NextDouble() * 2 - 1; return a; }
        var (ma, va, mb, vb) = (tensor(R(6, 3)), tensor(R(6, 3)), tensor(R(6, 3)), tensor(R(6, 3)));
        var ours = VaeMath.DiagonalGaussianW2(ma, va, mb, vb).data<double>().ToArray();
        // Core bures-diag on two-point clouds μ ± σ (weights ½): their per-coordinate mean is μ and standard deviation σ.
        DistributionBatch Cloud(Tensor m, Tensor v)
        {
            var s = (v * 0.5).exp();
            return DistributionBatch.FromTensors(stack(new[] { m + s, m - s }, 1), null);
        }
        var core = Distances.Create("bures-diag", new DistanceOptions()).Paired(Cloud(ma, va), Cloud(mb, vb)).data<double>().ToArray();
        var embedded = (VaeMath.W2Embedding(ma, va) - VaeMath.W2Embedding(mb, vb)).pow(2).sum(1).sqrt().data<double>().ToArray();
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(core[i], ours[i], 10);
            Assert.Equal(embedded[i], ours[i], 12);
        }
        // Identical Gaussians: distance 0 with a zero (not NaN) gradient.
        var m0 = ma.clone().requires_grad_();
        VaeMath.DiagonalGaussianW2(m0, va, ma, va).sum().backward();
        Assert.All(m0.grad!.data<double>().ToArray(), g => Assert.Equal(0.0, g));
    }

    [Fact]
    public void VaeMath_rejects_mismatched_shapes_naming_the_argument()
    {
        using var scope = NewDisposeScope();
        var ex = Assert.Throws<ArgumentException>(() => VaeMath.GaussianKl(zeros(2, 3), zeros(2, 4)));
        Assert.Equal("logVariance", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => VaeMath.BernoulliNegativeLogLikelihood(zeros(3), zeros(3)));
        Assert.Equal("logits", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => VaeMath.NegativeElbo(zeros(2, 5), zeros(2, 5), zeros(3, 2), zeros(3, 2)));
        Assert.Equal("mean", ex.ParamName);
        ex = Assert.Throws<ArgumentException>(() => VaeMath.DiagonalGaussianW2(zeros(2, 2), zeros(2, 2), zeros(2, 3), zeros(2, 3)));
        Assert.Equal("meanB", ex.ParamName);
    }

    // ---- training, determinism, evaluation ---------------------------------------------------------------------

    [Theory]
    [InlineData(TvaeVariant.Tvae, TvaeArchitecture.Mlp)]
    [InlineData(TvaeVariant.Vae, TvaeArchitecture.Mlp)]
    [InlineData(TvaeVariant.WTvae, TvaeArchitecture.Mlp)]
    [InlineData(TvaeVariant.Tvae, TvaeArchitecture.Conv)]
    public void A_few_training_steps_on_synthetic_images_reduce_the_loss(TvaeVariant variant, TvaeArchitecture architecture)
    {
        var (images, labels) = Synthetic(200);
        using var model = Tvae.Create(8, 8, Small(variant, architecture));
        var t = Samplers.TvaeTriplets(labels.Select(l => (long)l).ToArray(), 64, 99);
        var before = model.ComputeLoss(images, t.Anchor, t.Positive, t.Negative, noiseSeed: 1);
        var progress = new List<TrainingProgress>();
        var report = model.Fit(images, labels, new SyncProgress(progress.Add));
        var after = model.ComputeLoss(images, t.Anchor, t.Positive, t.Negative, noiseSeed: 1);
        Assert.True(after.Total < 0.9 * before.Total, $"{variant}/{architecture}: loss {before.Total} → {after.Total}");
        Assert.Equal(4, report.EpochLoss.Length);
        Assert.Equal(4, progress.Count(p => p.EpochResult is not null));
        Assert.Equal(report.EpochLoss, progress.Where(p => p.EpochResult is not null).Select(p => p.EpochResult!.TrainLoss).ToArray());
        Assert.Equal(4, model.EpochsTrained);
        if (variant == TvaeVariant.Vae) Assert.Equal(0.0, after.Triplet);
        else Assert.Equal(after.Total, 0.01 * after.NegativeElbo + after.Triplet + 0.001 * after.EmbeddingNorm, 4);
    }

    /// <summary>
    /// The triplet loss of a training batch receives the class labels of its rows (anchors, positives, negatives), not
    /// the triplet's group index: every positive carries its anchor's class and every negative another class.
    /// </summary>
    [Fact]
    public void Training_batches_label_each_row_with_its_class()
    {
        var (_, labels) = Synthetic(60);
        var classes = labels.Select(l => (long)l).ToArray();
        var t = Samplers.TvaeTriplets(classes, 50, 5);
        const int start = 10, count = 16;
        var rows = Tvae.BatchLabels(classes, t.Anchor, t.Positive, t.Negative, start, count);
        Assert.Equal(3 * count, rows.Length);
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(classes[t.Anchor[start + i]], rows[i]);
            Assert.Equal(classes[t.Positive[start + i]], rows[count + i]);
            Assert.Equal(classes[t.Negative[start + i]], rows[2 * count + i]);
            Assert.Equal(rows[i], rows[count + i]);
            Assert.NotEqual(rows[i], rows[2 * count + i]);
        }
    }

    [Fact]
    public void Training_is_deterministic_for_a_seed_and_differs_between_seeds()
    {
        var (images, labels) = Synthetic(120);
        float[,] Train(int seed)
        {
            using var model = Tvae.Create(8, 8, Small(TvaeVariant.WTvae, seed: seed) with { Epochs = 2 });
            model.Fit(images, labels);
            return model.Encode(images).Means;
        }
        var a = Train(5);
        Assert.Equal(a, Train(5));
        Assert.NotEqual(a, Train(6));
    }

    [Fact]
    public void Evaluate_reports_rates_in_range_and_training_raises_triplet_accuracy()
    {
        var (images, labels) = Synthetic(200);
        var (test, testLabels) = Synthetic(120, seed: 12);
        using var model = Tvae.Create(8, 8, Small(TvaeVariant.Tvae));
        var untrained = model.Evaluate(test, testLabels, triplets: 500, retrievalItems: 100);
        model.Fit(images, labels);
        var trained = model.Evaluate(test, testLabels, triplets: 500, retrievalItems: 1000);
        Assert.Equal(100, untrained.RetrievalItems);
        Assert.Equal(120, trained.RetrievalItems);
        Assert.Equal(500, trained.Triplets);
        Assert.Equal("euclidean-means", trained.Distance);
        Assert.InRange(trained.PrecisionAt1, 0, 1);
        Assert.InRange(trained.MapAtR, 0, 1);
        Assert.True(trained.TripletAccuracy > 0.95, $"accuracy {trained.TripletAccuracy}");
        Assert.True(trained.NegativeElbo < untrained.NegativeElbo);
        Assert.Equal(trained.TripletAccuracy, trained.TripletAccuracyOfMeans);
    }

    [Fact]
    public void Cancellation_stops_training_with_OperationCanceledException()
    {
        var (images, labels) = Synthetic(100);
        using var model = Tvae.Create(8, 8, Small(TvaeVariant.Tvae));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => model.Fit(images, labels, null, cts.Token));
        Assert.Equal(0, model.EpochsTrained);
    }

    // ---- the trainers' conventions -----------------------------------------------------------------------------

    [Fact]
    public void The_learning_rate_follows_the_trainers_schedule_and_epochs_are_numbered_over_the_models_training()
    {
        var (images, labels) = Synthetic(100);
        // The paper's default: a constant rate, every step.
        var constant = new List<TrainingProgress>();
        using (var model = Tvae.Create(8, 8, Small(TvaeVariant.Tvae) with { Epochs = 2 }))
            model.Fit(images, labels, new SyncProgress(constant.Add));
        Assert.All(constant, p => Assert.Equal(3e-3, p.LearningRate));

        // Warm-up + cosine: the rate of every step is the trainers' (SequenceTrainer.LearningRateAt) at the model's
        // global step of all steps of the training so far; a second Fit continues the numbering and the schedule.
        var options = Small(TvaeVariant.Tvae) with { Epochs = 2, WarmupFraction = 0.25, CosineDecay = true };
        var steps = (options.TripletsPerEpoch + options.BatchSize - 1) / options.BatchSize;
        using var scheduled = Tvae.Create(8, 8, options);
        var first = new List<TrainingProgress>();
        scheduled.Fit(images, labels, new SyncProgress(first.Add));
        var second = new List<TrainingProgress>();
        scheduled.Fit(images, labels, new SyncProgress(second.Add));
        foreach (var (reports, total) in new[] { (first, 2L * steps), (second, 4L * steps) })
            foreach (var p in reports.Where(p => p.EpochResult is null))
            {
                var step = (long)(p.Epoch - 1) * steps + p.Step - 1;
                Assert.Equal(SequenceTrainer.LearningRateAt(3e-3, step, total, (long)Math.Floor(0.25 * total)), p.LearningRate, 15);
            }
        Assert.Equal([1, 2], first.Where(p => p.EpochResult is not null).Select(p => p.Epoch));
        Assert.Equal([3, 4], second.Where(p => p.EpochResult is not null).Select(p => p.Epoch));
        Assert.All(second, p => Assert.Equal(4, p.Epochs));
        Assert.True(first[0].LearningRate < first[steps - 1].LearningRate, "warm-up rises");
        Assert.True(second[^2].LearningRate < 0.1 * 3e-3, $"cosine decays towards 0: {second[^2].LearningRate}");
    }

    [Fact]
    public void Gradient_clipping_bounds_the_steps_and_an_unreached_bound_changes_nothing()
    {
        var (images, labels) = Synthetic(100);
        float[,] Means(TvaeOptions options, bool train)
        {
            using var model = Tvae.Create(8, 8, options);
            if (train) model.Fit(images, labels);
            return model.Encode(images).Means;
        }
        static double MaxDifference(float[,] a, float[,] b) =>
            Enumerable.Range(0, a.GetLength(0)).SelectMany(i => Enumerable.Range(0, a.GetLength(1)).Select(j => (double)Math.Abs(a[i, j] - b[i, j]))).Max();
        var options = Small(TvaeVariant.Tvae) with { Epochs = 1 };
        var initial = Means(options, train: false);
        var free = Means(options, train: true);
        // A bound far above the gradient's norm leaves every step as it was (clip coefficient 1).
        Assert.Equal(free, Means(options with { ClipNorm = 1e9 }, train: true));
        // A bound of 1e-12 makes Adam's steps ≈ η·1e-12/ε: the weights barely move, where unclipped they move by ~η per step.
        var clipped = Means(options with { ClipNorm = 1e-12 }, train: true);
        Assert.True(MaxDifference(free, initial) > 1e-2, $"unclipped training moves the means: {MaxDifference(free, initial)}");
        Assert.True(MaxDifference(clipped, initial) < 1e-3, $"clipped training barely moves them: {MaxDifference(clipped, initial)}");
    }

    [Fact]
    public void A_run_with_schedule_and_clipping_resumed_from_its_checkpoint_ends_as_the_uninterrupted_run()
    {
        var (images, labels) = Synthetic(100);
        var options = Small(TvaeVariant.WTvae) with { Epochs = 3, WarmupFraction = 0.2, CosineDecay = true, ClipNorm = 0.5 };
        using var whole = Tvae.Create(8, 8, options);
        var wholeReport = whole.Fit(images, labels);
        var dir = Path.Combine(_folder, "scheduled");
        using (var cts = new CancellationTokenSource())
        using (var interrupted = Tvae.Create(8, 8, options))
            Assert.Throws<OperationCanceledException>(() => interrupted.Fit(images, labels,
                new SyncProgress(p => { if (p.Epoch == 2 && p.EpochResult is not null) cts.Cancel(); }), cts.Token, dir));
        var manifest = Tvae.ReadManifest(dir);
        Assert.Equal((2, 3, true), (manifest.EpochsTrained, manifest.TargetEpochs, manifest.Resumable));
        Assert.Equal(options, manifest.Options);
        var reports = new List<TrainingProgress>();
        var (resumed, report) = Tvae.Resume(dir, images, labels, new SyncProgress(reports.Add));
        using (resumed)
        {
            Assert.Equal(wholeReport.EpochLoss[2], Assert.Single(report.EpochLoss));
            Assert.Equal(whole.Encode(images).Means, resumed.Encode(images).Means);
            Assert.All(reports, p => Assert.Equal((3, 3), (p.Epoch, p.Epochs)));
        }
    }

    [Fact]
    public void ReadManifest_gives_the_options_and_epochs_without_the_weights_and_names_a_bad_manifest()
    {
        var (images, labels) = Synthetic(60);
        var dir = Path.Combine(_folder, "manifest-only");
        var options = Small(TvaeVariant.Vae) with { Epochs = 1, WarmupFraction = 0.1, ClipNorm = 2 };
        using (var model = Tvae.Create(8, 8, options))
        {
            model.Fit(images, labels);
            model.Save(dir);
        }
        // The weights are not read: a manifest-only reader works on a folder whose weights are damaged.
        File.WriteAllBytes(Path.Combine(dir, "model.dat"), [1, 2, 3]);
        var manifest = Tvae.ReadManifest(dir);
        Assert.Equal(options, manifest.Options);
        Assert.Equal((8, 8, 1, 1, Tvae.CheckpointFormat, Tvae.LibraryVersion), (manifest.Rows, manifest.Cols, manifest.EpochsTrained, manifest.TargetEpochs, manifest.Format, manifest.LibraryVersion));
        var damaged = Assert.Throws<InvalidDataException>(() => Tvae.Load(dir));
        Assert.Contains("model.dat is truncated or corrupt", damaged.Message);

        // A manifest written before the schedule and clipping were settings reads with their defaults (neither).
        var path = Path.Combine(dir, "manifest.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!;
        var h = node["hyper_parameters"]!.AsObject();
        foreach (var name in new[] { "warmup_fraction", "cosine_decay", "clip_norm" }) h.Remove(name);
        File.WriteAllText(path, node.ToJsonString());
        Assert.Equal(options with { WarmupFraction = 0, ClipNorm = 0 }, Tvae.ReadManifest(dir).Options);

        h["clip_norm"] = -1.0;
        File.WriteAllText(path, node.ToJsonString());
        var bad = Assert.Throws<InvalidDataException>(() => Tvae.ReadManifest(dir));
        Assert.Contains("manifest.json' is malformed: ClipNorm = -1", bad.Message);
        Assert.Throws<DirectoryNotFoundException>(() => Tvae.ReadManifest(Path.Combine(_folder, "missing")));
    }

    // ---- checkpoints ------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(TvaeVariant.WTvae, TvaeArchitecture.Mlp)]
    [InlineData(TvaeVariant.Vae, TvaeArchitecture.Conv)]
    public void Checkpoint_round_trip_gives_identical_outputs(TvaeVariant variant, TvaeArchitecture architecture)
    {
        var (images, labels) = Synthetic(80);
        var dir = Path.Combine(_folder, "ckpt");
        using var model = Tvae.Create(8, 8, Small(variant, architecture) with { Epochs = 1 });
        model.Fit(images, labels);
        var evaluation = model.Evaluate(images, labels, triplets: 50, retrievalItems: 40);
        model.Save(dir, evaluation);
        var kept = Assert.Throws<ArgumentException>(() => model.Save(dir, evaluation)); // an existing checkpoint is kept …
        Assert.Contains("already holds a tvae checkpoint", kept.Message);
        model.Save(dir, evaluation, overwrite: true); // … unless overwrite is asked for
        Assert.Equal(new[] { "manifest.json", "model.dat", "noise.dat", "optimizer.dat" }, Directory.GetFileSystemEntries(dir).Select(p => Path.GetFileName(p)!).Order().ToArray());
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_folder), p => Path.GetFileName(p).StartsWith('.'));
        using var loaded = Tvae.Load(dir);
        Assert.Equal(model.Options, loaded.Options);
        Assert.Equal(1, loaded.EpochsTrained);
        Assert.Equal(model.Encode(images).Means, loaded.Encode(images).Means);
        Assert.Equal(model.Encode(images).LogVariances, loaded.Encode(images).LogVariances);
        Assert.Equal(model.Reconstruct(images), loaded.Reconstruct(images));
        var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        Assert.Equal(TvaeOptions.NameOf(variant), manifest.GetProperty("model_kind").GetString());
        Assert.Equal(Tvae.LibraryVersion, manifest.GetProperty("library_version").GetString());
        Assert.Equal(evaluation.TripletAccuracy, manifest.GetProperty("metrics").GetProperty("triplet_accuracy").GetDouble());
        Assert.Equal(32, manifest.GetProperty("hyper_parameters").GetProperty("hidden_size").GetInt32());
    }

    [Fact]
    public void Save_refuses_a_folder_that_is_not_a_checkpoint_and_Load_rejects_bad_folders()
    {
        using var model = Tvae.Create(8, 8, Small(TvaeVariant.Tvae));
        var other = Directory.CreateDirectory(Path.Combine(_folder, "other")).FullName;
        File.WriteAllText(Path.Combine(other, "keep.txt"), "x");
        var ex = Assert.Throws<ArgumentException>(() => model.Save(other));
        Assert.Equal("directory", ex.ParamName);
        Assert.True(File.Exists(Path.Combine(other, "keep.txt")));
        Assert.Throws<DirectoryNotFoundException>(() => Tvae.Load(Path.Combine(_folder, "missing")));
        Assert.Throws<InvalidDataException>(() => Tvae.Load(other));
        var dir = Path.Combine(_folder, "ckpt");
        model.Save(dir);
        File.WriteAllText(Path.Combine(dir, "manifest.json"), "{\"format\": \"something-else\"}");
        Assert.Throws<InvalidDataException>(() => Tvae.Load(dir));
        Assert.Throws<ArgumentException>(() => model.Save(dir, overwrite: true)); // not a TVAE manifest: never replaced
        Directory.Delete(dir, recursive: true);
        model.Save(dir);
        File.WriteAllBytes(Path.Combine(dir, "model.dat"), [1, 2, 3]);
        Assert.Throws<InvalidDataException>(() => Tvae.Load(dir));
    }

    // ---- argument checks --------------------------------------------------------------------------------------

    public static TheoryData<string, TvaeOptions> BadOptions => new()
    {
        { "Variant", new TvaeOptions { Variant = (TvaeVariant)7 } },
        { "Architecture", new TvaeOptions { Architecture = (TvaeArchitecture)7 } },
        { "LatentSize", new TvaeOptions { LatentSize = 0 } },
        { "HiddenSize", new TvaeOptions { HiddenSize = 0 } },
        { "BatchSize", new TvaeOptions { BatchSize = 0 } },
        { "Epochs", new TvaeOptions { Epochs = 0 } },
        { "TripletsPerEpoch", new TvaeOptions { TripletsPerEpoch = 0 } },
        { "WarmupFraction", new TvaeOptions { WarmupFraction = 1 } },
        { "ClipNorm", new TvaeOptions { ClipNorm = double.NaN } },
        { "Margin", new TvaeOptions { Margin = -0.1 } },
        { "ElboWeight", new TvaeOptions { ElboWeight = 0 } },
        { "TripletWeight", new TvaeOptions { TripletWeight = double.NaN } },
        { "EmbeddingNormWeight", new TvaeOptions { EmbeddingNormWeight = -1 } },
        { "LearningRate", new TvaeOptions { LearningRate = double.PositiveInfinity } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Each_option_rule_throws_ArgumentException_naming_the_property(string property, TvaeOptions options)
    {
        var ex = Assert.Throws<ArgumentException>(() => Tvae.Create(8, 8, options));
        Assert.Equal(property, ex.ParamName);
    }

    [Fact]
    public void Defaults_are_the_papers_settings()
    {
        var o = new TvaeOptions();
        Assert.Equal((20, 400, 0.2, 0.01, 1.0, 0.001, 1e-3, 128, 10, 60_000),
            (o.LatentSize, o.HiddenSize, o.Margin, o.ElboWeight, o.TripletWeight, o.EmbeddingNormWeight, o.LearningRate, o.BatchSize, o.Epochs, o.TripletsPerEpoch));
        Assert.Equal(TvaeVariant.WTvae, TvaeOptions.ParseVariant("W-TVAE"));
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => TvaeOptions.ParseVariant("gan")).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => TvaeOptions.ParseArchitecture("rnn")).ParamName);
    }

    [Fact]
    public void Bad_images_labels_indices_and_counts_are_rejected_naming_the_argument()
    {
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => Tvae.Create(0, 8)).ParamName);
        Assert.Equal("cols", Assert.Throws<ArgumentException>(() => Tvae.Create(8, 0)).ParamName);
        Assert.Equal("rows", Assert.Throws<ArgumentException>(() => Tvae.Create(10, 10, new TvaeOptions { Architecture = TvaeArchitecture.Conv })).ParamName);
        using var model = Tvae.Create(8, 8, Small(TvaeVariant.Tvae));
        var (images, labels) = Synthetic(20);
        Assert.Equal("images", Assert.Throws<ArgumentException>(() => model.Encode(new float[3, 10])).ParamName);
        Assert.Equal("images", Assert.Throws<ArgumentException>(() => model.Encode(new float[0, 64])).ParamName);
        var bright = (float[,])images.Clone();
        bright[2, 5] = 1.5f;
        var ex = Assert.Throws<ArgumentException>(() => model.Fit(bright, labels));
        Assert.Equal("images", ex.ParamName);
        Assert.Contains("images[2,5]", ex.Message);
        bright[2, 5] = float.NaN;
        Assert.Equal("images", Assert.Throws<ArgumentException>(() => model.Reconstruct(bright)).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => model.Fit(images, labels[..10])).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => model.Fit(images, new int[20])).ParamName);
        Assert.Equal("triplets", Assert.Throws<ArgumentException>(() => model.Evaluate(images, labels, triplets: 0)).ParamName);
        Assert.Equal("retrievalItems", Assert.Throws<ArgumentException>(() => model.Evaluate(images, labels, retrievalItems: 1)).ParamName);
        Assert.Equal("negative", Assert.Throws<ArgumentException>(() => model.ComputeLoss(images, [0], [4], [20])).ParamName);
        Assert.Equal("positive", Assert.Throws<ArgumentException>(() => model.ComputeLoss(images, [0, 1], [4], [1, 2])).ParamName);
        Assert.Equal("anchor", Assert.Throws<ArgumentException>(() => model.ComputeLoss(images, [], [], [])).ParamName);
        var other = new ImageSet(new float[4, 16], [0, 1, 0, 1], 4, 4);
        Assert.Equal("data", Assert.Throws<ArgumentException>(() => model.Evaluate(other)).ParamName);
    }

    // ---- the loaders' use and the command ---------------------------------------------------------------------

    /// <summary>An MNIST-shaped IDX folder of n 28 × 28 images per part: class c = i mod 3 draws a bar at rows 4c..4c+7.</summary>
    private string IdxFolder(int n, bool truncateTrainImages = false)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_folder, $"idx{n}{truncateTrainImages}")).FullName;
        static byte[] Header(params int[] shape)
        {
            var bytes = new byte[4 + 4 * shape.Length];
            bytes[2] = 8;
            bytes[3] = (byte)shape.Length;
            for (var k = 0; k < shape.Length; k++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * k), shape[k]);
            return bytes;
        }
        foreach (var prefix in new[] { "train", "t10k" })
        {
            var pixels = new byte[n * 784];
            for (var i = 0; i < n; i++)
                for (var y = 4 * (i % 3); y < 4 * (i % 3) + 8; y++)
                    for (var x = 4; x < 24; x++) pixels[i * 784 + y * 28 + x] = (byte)(200 + i % 50);
            var imageBytes = Header(n, 28, 28).Concat(pixels).ToArray();
            if (truncateTrainImages && prefix == "train") imageBytes = imageBytes[..^100];
            File.WriteAllBytes(Path.Combine(folder, $"{prefix}-images-idx3-ubyte"), imageBytes);
            File.WriteAllBytes(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte"), Header(n).Concat(Enumerable.Range(0, n).Select(i => (byte)(i % 3))).ToArray());
        }
        return folder;
    }

    [Fact]
    public void Train_on_an_ImageSet_from_the_IDX_loader_and_a_truncated_file_is_rejected()
    {
        var data = ImageDatasets.Load("idx:" + IdxFolder(60), train: true);
        var (model, report) = Tvae.Train(data, new TvaeOptions { HiddenSize = 16, LatentSize = 2, Epochs = 1, TripletsPerEpoch = 32, BatchSize = 16 });
        using (model)
        {
            Assert.Single(report.EpochLoss);
            Assert.Equal((28, 28), (model.Rows, model.Cols));
            Assert.InRange(model.Evaluate(ImageDatasets.Load("idx:" + IdxFolder(60), train: false), triplets: 20).TripletAccuracy, 0, 1);
        }
        Assert.Throws<InvalidDataException>(() => ImageDatasets.Load("idx:" + IdxFolder(30, truncateTrainImages: true), train: true));
    }

    [Fact]
    public void Cli_tvae_prints_one_JSON_object_and_writes_checkpoint_metrics_and_PNGs()
    {
        var outDir = Path.Combine(_folder, "run");
        var (code, stdout, stderr) = RunCli("tvae", "--data", "idx:" + IdxFolder(45), "--variant", "wtvae", "--epochs", "1",
            "--triplets-per-epoch", "64", "--eval-triplets", "30", "--retrieval-items", "30", "--device", "cpu", "--seed", "2",
            "--latent-size", "5", "--hidden-size", "24", "--lr", "0.002", "--batch-size", "16", "--margin", "0.3", "--out", outDir, "--json");
        Assert.True(code == 0, stderr);
        var doc = JsonDocument.Parse(stdout.Trim()).RootElement;
        foreach (var key in new[] { "triplet_accuracy", "neg_elbo", "precision_at_1", "map_at_r" })
            Assert.True(double.IsFinite(doc.GetProperty(key).GetDouble()), key);
        Assert.Equal("w2-gaussians", doc.GetProperty("distance").GetString());
        var paths = doc.GetProperty("paths");
        foreach (var key in new[] { "reconstructions", "projection" })
        {
            var png = File.ReadAllBytes(paths.GetProperty(key).GetString()!);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        }
        Assert.Equal(stdout.Trim(), File.ReadAllText(paths.GetProperty("metrics").GetString()!).Trim());
        using var loaded = Tvae.Load(paths.GetProperty("checkpoint").GetString()!);
        Assert.Equal(TvaeVariant.WTvae, loaded.Options.Variant);
        Assert.Equal(2, loaded.Options.Seed);
        // The training options of the command line reach the model and its checkpoint.
        Assert.Equal((5, 24, 0.002, 16, 0.3), (loaded.Options.LatentSize, loaded.Options.HiddenSize, loaded.Options.LearningRate, loaded.Options.BatchSize, loaded.Options.Margin));

        // --checkpoint evaluates the saved model without training and reproduces the metrics exactly.
        var (code2, stdout2, stderr2) = RunCli("tvae", "--data", "idx:" + IdxFolder(45), "--checkpoint", paths.GetProperty("checkpoint").GetString()!,
            "--eval-triplets", "30", "--retrieval-items", "30", "--device", "cpu", "--out", Path.Combine(_folder, "again"), "--json");
        Assert.True(code2 == 0, stderr2);
        var again = JsonDocument.Parse(stdout2.Trim()).RootElement;
        foreach (var key in new[] { "triplet_accuracy", "neg_elbo", "precision_at_1", "map_at_r" })
            Assert.Equal(doc.GetProperty(key).GetDouble(), again.GetProperty(key).GetDouble());
        Assert.Equal("wtvae", again.GetProperty("variant").GetString());
        Assert.Equal(0.0, again.GetProperty("train_seconds").GetDouble());
    }

    [Fact]
    public void Cli_tvae_checkpoints_every_epoch_and_resume_finishes_an_interrupted_run_as_if_uninterrupted()
    {
        string[] Common(string outDir) => ["tvae", "--data", "idx:" + IdxFolder(45), "--variant", "wtvae", "--epochs", "2",
            "--triplets-per-epoch", "64", "--eval-triplets", "30", "--retrieval-items", "30", "--device", "cpu", "--seed", "2",
            "--latent-size", "5", "--hidden-size", "24", "--lr", "0.002", "--batch-size", "16", "--margin", "0.3", "--out", outDir, "--json"];
        var whole = Path.Combine(_folder, "whole");
        var (code, stdout, stderr) = RunCli(Common(whole));
        Assert.True(code == 0, stderr);
        var expected = JsonDocument.Parse(stdout.Trim()).RootElement;

        // The same run interrupted after its first epoch (cancelled from the progress report), as a crash would leave it:
        // the checkpoint written after epoch 1 in --out/checkpoint and nothing else.
        var interrupted = Path.Combine(_folder, "interrupted");
        var train = ImageDatasets.Load("idx:" + IdxFolder(45), train: true);
        var options = new TvaeOptions
        {
            Variant = TvaeVariant.WTvae, Epochs = 2, TripletsPerEpoch = 64, Seed = 2, LatentSize = 5, HiddenSize = 24,
            LearningRate = 0.002, BatchSize = 16, Margin = 0.3,
        };
        using (var cts = new CancellationTokenSource())
        using (var model = Tvae.Create(train.Rows, train.Cols, options, "cpu"))
        {
            Assert.Throws<OperationCanceledException>(() => model.Fit(train.Images, train.Labels,
                new SyncProgress(p => { if (p.EpochResult is not null) cts.Cancel(); }), cts.Token, Path.Combine(interrupted, "checkpoint")));
        }
        using (var saved = Tvae.Load(Path.Combine(interrupted, "checkpoint"))) Assert.Equal(1, saved.EpochsTrained);

        // Without --resume the folder is refused (nothing saved is lost); with it the run trains its second epoch.
        var (refused, _, refusedErr) = RunCli(Common(interrupted));
        Assert.Equal(1, refused);
        Assert.Contains("--out", refusedErr);
        var (resumedCode, resumedOut, resumedErr) = RunCli([.. Common(interrupted), "--resume"]);
        Assert.True(resumedCode == 0, resumedErr);
        var resumed = JsonDocument.Parse(resumedOut.Trim()).RootElement;
        Assert.Equal(2, resumed.GetProperty("epochs_trained").GetInt32());
        Assert.Single(resumed.GetProperty("epoch_loss").EnumerateArray());
        foreach (var key in new[] { "triplet_accuracy", "neg_elbo", "precision_at_1", "map_at_r" })
            Assert.Equal(expected.GetProperty(key).GetDouble(), resumed.GetProperty(key).GetDouble());
        Assert.Equal(expected.GetProperty("epoch_loss")[1].GetDouble(), resumed.GetProperty("epoch_loss")[0].GetDouble());

        // --resume with --checkpoint or --overwrite is refused by name.
        var (both, _, bothErr) = RunCli([.. Common(interrupted), "--resume", "--overwrite"]);
        Assert.Equal(1, both);
        Assert.Contains("--resume", bothErr);
    }

    [Fact]
    public void Cli_tvae_turns_bad_input_into_exit_code_1_with_a_one_line_message()
    {
        var (code, _, stderr) = RunCli("tvae", "--data", "idx:" + IdxFolder(30), "--variant", "gan", "--out", Path.Combine(_folder, "x"));
        Assert.Equal(1, code);
        Assert.Contains("variant 'gan'", stderr);
        (code, _, stderr) = RunCli("tvae", "--data", "idx:" + IdxFolder(30, truncateTrainImages: true), "--out", Path.Combine(_folder, "y"), "--epochs", "1");
        Assert.Equal(1, code);
        Assert.StartsWith("error:", stderr);
        (code, _, stderr) = RunCli("tvae", "--data", "cifar", "--out", Path.Combine(_folder, "z"));
        Assert.Equal(1, code);
        Assert.Contains("cifar", stderr);
        // A bad training option: one line naming the option, before any data is read.
        foreach (var (option, value) in new[] { ("--lr", "0"), ("--latent-size", "0"), ("--batch-size", "0"), ("--elbo-weight", "-1"), ("--margin", "-0.5"),
                     ("--warmup-fraction", "1"), ("--clip-norm", "-1") })
        {
            (code, _, stderr) = RunCli("train", "tvae", "--data", "idx:" + Path.Combine(_folder, "missing"), "--out", Path.Combine(_folder, "w"), option, value);
            Assert.Equal(1, code);
            Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains($"{option} = {value}", stderr);
        }
        // Every default is TvaeOptions'.
        var parsed = Program.CreateRoot().Parse(["train", "tvae"]);
        var d = new TvaeOptions();
        Assert.Equal((d.LatentSize, d.HiddenSize, d.Margin, d.ElboWeight, d.TripletWeight, d.EmbeddingNormWeight, d.LearningRate, d.BatchSize, d.Epochs, d.TripletsPerEpoch),
            (parsed.GetValue<int>("--latent-size"), parsed.GetValue<int>("--hidden-size"), parsed.GetValue<double>("--margin"), parsed.GetValue<double>("--elbo-weight"),
             parsed.GetValue<double>("--triplet-weight"), parsed.GetValue<double>("--embedding-norm-weight"), parsed.GetValue<double>("--lr"),
             parsed.GetValue<int>("--batch-size"), parsed.GetValue<int>("--epochs"), parsed.GetValue<int>("--triplets-per-epoch")));
        Assert.Equal((Tvae.DefaultEvaluationTriplets, Tvae.DefaultRetrievalItems), (parsed.GetValue<int>("--eval-triplets"), parsed.GetValue<int>("--retrieval-items")));
        Assert.Equal((d.WarmupFraction, d.CosineDecay, d.ClipNorm),
            (parsed.GetValue<double>("--warmup-fraction"), parsed.GetValue<bool>("--cosine-decay"), parsed.GetValue<double>("--clip-norm")));
    }


    private static (int Code, string Stdout, string Stderr) RunCli(params string[] args) => CliRunner.Run(args);

    private sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
