using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Core;
using DistEmbed.Data;
using DistEmbed.IO;
using DistEmbed.Sequences;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Autoencoders;

/// <content>Training: <see cref="Fit"/>, <see cref="Train"/>, the loss of a batch of triplets and the triplet batches.</content>
public sealed partial class Tvae
{
    /// <summary>Trains for <see cref="TvaeOptions.Epochs"/> epochs of <see cref="TvaeOptions.TripletsPerEpoch"/> random triplets.</summary>
    /// <param name="images">[N, rows·cols] pixels in [0, 1].</param>
    /// <param name="labels">[N] class labels (at least two classes, one with two images).</param>
    /// <param name="progress">Receives the trainers' reports (<see cref="TrainingProgress"/>): after every step (the step's
    /// loss and learning rate) and after every epoch (<see cref="TrainingProgress.EpochResult"/> with the epoch's mean
    /// loss; no validation metrics). As in the metric-learning trainers, <see cref="TrainingProgress.Epoch"/> counts the
    /// model's epochs (from 1 for a new model; a later call or <see cref="Resume"/> goes on from <see cref="EpochsTrained"/>)
    /// and <see cref="TrainingProgress.Epochs"/> is the total the call trains to. May be null.</param>
    /// <param name="cancellationToken">Checked before every step; cancelling throws <see cref="OperationCanceledException"/> and leaves the weights of the last completed step.</param>
    /// <param name="checkpointDirectory">A checkpoint folder written (as by <see cref="Save"/>) after every epoch, so that
    /// an interrupted call can be continued with <see cref="Resume"/>; null for none.</param>
    /// <param name="overwrite">Replace a TVAE checkpoint already in <paramref name="checkpointDirectory"/>.</param>
    /// <returns>Per-epoch loss means.</returns>
    /// <exception cref="ArgumentException">Images not [N, rows·cols], a pixel outside [0, 1] or NaN, labels of another
    /// length or without two classes, or a refused checkpoint folder.</exception>
    public TvaeTrainingReport Fit(float[,] images, int[] labels, IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default,
        string? checkpointDirectory = null, bool overwrite = false)
    {
        var labels64 = CheckImages(images, labels);
        if (checkpointDirectory is not null)
            CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.Tvae, overwrite ? CheckpointMode.Overwrite : CheckpointMode.New, null, nameof(checkpointDirectory));
        return FitTo(images, labels64, epochsTrained + Options.Epochs, progress, cancellationToken, checkpointDirectory);
    }

    /// <summary>
    /// Continues the <see cref="Fit"/> call that wrote the checkpoint in <paramref name="checkpointDirectory"/>: restores
    /// the model, its optimiser and noise state (<see cref="Load"/>) and trains the epochs that call had left, writing the
    /// checkpoint after each. On the CPU the result equals that of the uninterrupted call.
    /// </summary>
    /// <param name="checkpointDirectory">A folder written by <see cref="Fit"/> with a checkpoint folder.</param>
    /// <param name="images">The same images.</param>
    /// <param name="labels">The same labels.</param>
    /// <param name="progress">Progress; may be null.</param>
    /// <param name="cancellationToken">As for <see cref="Fit"/>.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The model (the caller disposes it) and the report of the epochs trained by this call.</returns>
    /// <exception cref="DirectoryNotFoundException">No checkpoint in the folder.</exception>
    /// <exception cref="InvalidDataException">A malformed checkpoint, or one of the earlier layout (no optimiser state; names the file).</exception>
    /// <exception cref="ArgumentException">Bad images or labels (as for <see cref="Fit"/>).</exception>
    public static (Tvae Model, TvaeTrainingReport Report) Resume(string checkpointDirectory, float[,] images, int[] labels,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, string device = Devices.Default)
    {
        Devices.Check(device, nameof(device));
        CheckpointFolder.Prepare(checkpointDirectory, CheckpointKind.Tvae, CheckpointMode.Resume, null, nameof(checkpointDirectory));
        var model = Load(checkpointDirectory, device);
        try
        {
            if (!model.resumable)
                throw new InvalidDataException($"manifest {Path.Combine(checkpointDirectory, CheckpointFolder.ManifestFile)} is of the earlier TVAE layout ({PreviousCheckpointFormat}) and holds no optimiser state; it loads for use but cannot be resumed.");
            var labels64 = model.CheckImages(images, labels);
            return (model, model.FitTo(images, labels64, Math.Max(model.targetEpochs, model.epochsTrained), progress, cancellationToken, checkpointDirectory));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Trains until <see cref="EpochsTrained"/> = <paramref name="target"/>, checkpointing after every epoch when a folder
    /// is given: the trainers' conventions (<see cref="Training.OptimizerSetup"/>) — their AdamW, the learning rate of
    /// their schedule at the model's global step s of S = target × steps per epoch (constant unless
    /// <see cref="TvaeOptions.WarmupFraction"/> or <see cref="TvaeOptions.CosineDecay"/> ask otherwise), their gradient
    /// clipping (<see cref="TvaeOptions.ClipNorm"/>, off by default), their <see cref="TrainingProgress"/> with epochs
    /// numbered over the model's whole training, and cancellation checked before every step.
    /// </summary>
    private TvaeTrainingReport FitTo(float[,] images, long[] labels64, int target, IProgress<TrainingProgress>? progress, CancellationToken cancellationToken, string? checkpointDirectory)
    {
        var clock = Stopwatch.StartNew();
        using var data = tensor(images, device: device);
        var epochs = target - epochsTrained;
        targetEpochs = target;
        var k = Options.BatchSize;
        var steps = (Options.TripletsPerEpoch + k - 1) / k;
        var totalSteps = (long)target * steps;
        var warmup = Training.OptimizerSetup.WarmupSteps(Options.WarmupFraction, totalSteps);
        var losses = new double[epochs];
        var elbos = new double[epochs];
        var triplets = new double[epochs];
        network.train();
        for (var e = 0; e < epochs; e++)
        {
            var sampled = Samplers.TvaeTriplets(labels64, Options.TripletsPerEpoch, EpochSeed(Options.Seed, epochsTrained));
            double sumLoss = 0, sumElbo = 0, sumTriplet = 0, lr = Options.LearningRate;
            for (var s = 0; s < steps; s++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var start = s * k;
                var count = Math.Min(k, sampled.Count - start);
                using var index = BatchIndex(sampled.Anchor, sampled.Positive, sampled.Negative, start, count);
                var x = data.index_select(0, index);
                var classes = tensor(BatchLabels(labels64, sampled.Anchor, sampled.Positive, sampled.Negative, start, count), device: device);
                lr = Training.OptimizerSetup.LearningRateAt(Options.LearningRate, (long)epochsTrained * steps + s, totalSteps, warmup, Options.CosineDecay);
                optimizer.ZeroGrad();
                var (total, negElbo, hinge, _) = LossTerms(x, classes, count, noise);
                total.backward();
                Training.OptimizerSetup.ClipGradientNorm(network.parameters(), Options.ClipNorm);
                optimizer.Step(lr);
                var value = total.item<float>();
                sumLoss += value;
                sumElbo += negElbo.item<float>();
                sumTriplet += hinge.item<float>();
                progress?.Report(new TrainingProgress(epochsTrained + 1, target, s + 1, steps, value, lr, null));
            }
            losses[e] = sumLoss / steps;
            elbos[e] = sumElbo / steps;
            triplets[e] = sumTriplet / steps;
            epochsTrained++;
            if (checkpointDirectory is not null) WriteCheckpoint(checkpointDirectory, null);
            progress?.Report(new TrainingProgress(epochsTrained, target, steps, steps, double.NaN, lr,
                new EpochMetrics(epochsTrained, losses[e], null, null, null, lr)));
        }
        network.eval();
        return new TvaeTrainingReport(losses, elbos, triplets, clock.Elapsed);
    }

    /// <summary>A new model for the images of <paramref name="data"/> trained on them (<see cref="Create"/> then <see cref="Fit"/>).</summary>
    /// <param name="data">The training images and labels.</param>
    /// <param name="options">Hyper-parameters; null for the paper's defaults.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <param name="progress">Receives training progress; may be null.</param>
    /// <param name="cancellationToken">Cancels the training (throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>The trained model and its training report.</returns>
    /// <exception cref="ArgumentException">Invalid options, data or device (see <see cref="Create"/> and <see cref="Fit"/>).</exception>
    public static (Tvae Model, TvaeTrainingReport Report) Train(ImageSet data, TvaeOptions? options = null, string device = Devices.Default,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var model = Create(data.Rows, data.Cols, options, device);
        try
        {
            return (model, model.Fit(data.Images, data.Labels, progress, cancellationToken));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The loss of one batch of given triplets under the current weights, with noise from <paramref name="noiseSeed"/> (no training).</summary>
    /// <param name="images">[N, rows·cols] pixels in [0, 1].</param>
    /// <param name="anchor">[K] anchor indices into the images.</param>
    /// <param name="positive">[K] positive indices.</param>
    /// <param name="negative">[K] negative indices.</param>
    /// <param name="noiseSeed">Seed of the reparameterisation noise.</param>
    /// <returns>The total and its terms (see <see cref="TvaeLoss"/>).</returns>
    /// <exception cref="ArgumentException">Bad images, index arrays of different or zero length, an index outside [0, N).</exception>
    public TvaeLoss ComputeLoss(float[,] images, int[] anchor, int[] positive, int[] negative, int noiseSeed = 0)
    {
        CheckPixels(images);
        ArgumentNullException.ThrowIfNull(anchor);
        ArgumentNullException.ThrowIfNull(positive);
        ArgumentNullException.ThrowIfNull(negative);
        if (anchor.Length == 0) throw new ArgumentException("anchor is empty; at least one triplet is required.", nameof(anchor));
        if (positive.Length != anchor.Length) throw new ArgumentException($"positive has {positive.Length} indices but anchor has {anchor.Length}.", nameof(positive));
        if (negative.Length != anchor.Length) throw new ArgumentException($"negative has {negative.Length} indices but anchor has {anchor.Length}.", nameof(negative));
        var n = images.GetLength(0);
        foreach (var (name, arr) in new[] { (nameof(anchor), anchor), (nameof(positive), positive), (nameof(negative), negative) })
            foreach (var i in arr)
                if (i < 0 || i >= n) throw new ArgumentException($"{name} holds index {i}, outside the {n} images.", name);
        using var scope = NewDisposeScope();
        using var guard = no_grad();
        var data = tensor(images, device: device);
        var x = data.index_select(0, BatchIndex(anchor, positive, negative, 0, anchor.Length));
        using var generator = new Generator(unchecked((ulong)noiseSeed), device);
        // No class labels here: each row is labelled by its role (anchors and positives 0, negatives 1), which is what
        // the given triplets assert about classes.
        var k = anchor.Length;
        var roles = tensor(Enumerable.Range(0, 3 * k).Select(i => i < 2 * k ? 0L : 1L).ToArray(), device: device);
        var (total, negElbo, hinge, norm) = LossTerms(x, roles, k, generator);
        return new TvaeLoss(total.item<float>(), negElbo.item<float>(), hinge.item<float>(), norm.item<float>());
    }

    /// <summary>Total, mean −ELBO, hinge and mean norm sum of the 3K images x (anchors, positives, negatives in blocks) with their class labels [3K].</summary>
    private (Tensor Total, Tensor NegativeElbo, Tensor Triplet, Tensor EmbeddingNorm) LossTerms(Tensor x, Tensor labels, int k, Generator generator)
    {
        var (mean, logVariance) = network.Encode(x);
        var z = VaeMath.Reparameterise(mean, logVariance, generator);
        var negElbo = VaeMath.NegativeElbo(network.DecodeLogits(z), x, mean, logVariance).mean();
        var elboTerm = negElbo * Options.ElboWeight;
        if (Options.Variant == TvaeVariant.Vae)
            return (elboTerm, negElbo, zeros(1, device: device).squeeze(), zeros(1, device: device).squeeze());
        var embedding = Options.Variant == TvaeVariant.WTvae ? VaeMath.W2Embedding(mean, logVariance) : mean;
        var hinge = TripletHinge(embedding, labels, k);
        var norm = mean.norm(1, keepdim: false, p: 2).sum() / (double)k;
        var total = elboTerm + hinge * Options.TripletWeight + norm * Options.EmbeddingNormWeight;
        return (total, negElbo, hinge, norm);
    }

    /// <summary>Mean hinge over the triplets (i, K + i, 2K + i) of a [3K, E] embedding with class labels [3K], through the library's triplet loss.</summary>
    private Tensor TripletHinge(Tensor embedding, Tensor labels, int k)
    {
        var batch = VectorBatch.FromTensor(embedding);
        var anchor = arange(0L, k, dtype: ScalarType.Int64, device: device);
        using var triplets = TripletIndices.Create(anchor, anchor + k, anchor + 2 * k);
        return TripletMarginLoss.Compute(batch, labels, Distances.Euclidean(), triplets,
            new TripletMarginLossOptions { Margin = Options.Margin, Penalty = TripletPenalty.Hinge, Reduction = Reduction.Mean });
    }

    private static Tensor BatchIndex(int[] anchor, int[] positive, int[] negative, int start, int count)
    {
        var index = new long[3 * count];
        for (var i = 0; i < count; i++)
        {
            index[i] = anchor[start + i];
            index[count + i] = positive[start + i];
            index[2 * count + i] = negative[start + i];
        }
        return tensor(index);
    }

    /// <summary>
    /// The class labels of the 3K rows that <see cref="BatchIndex"/> selects for triplets start .. start + count − 1:
    /// the anchors', the positives', the negatives' (so a positive shares its anchor's label and a negative does not).
    /// </summary>
    internal static long[] BatchLabels(long[] classLabels, int[] anchor, int[] positive, int[] negative, int start, int count)
    {
        var labels = new long[3 * count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = classLabels[anchor[start + i]];
            labels[count + i] = classLabels[positive[start + i]];
            labels[2 * count + i] = classLabels[negative[start + i]];
        }
        return labels;
    }

    private static int EpochSeed(int seed, int epoch) => unchecked(seed * 1_000_003 + epoch * 7_919 + 17);
}
