using DistEmbed.Core.Bregman;
using DistEmbed.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DistEmbed.Bregman;

/// <summary>
/// A deep Bregman model: an MLP backbone x ↦ f(x) ∈ ℝᵏ and a learned convex generator φ, compared by the Bregman
/// divergence D_φ(f(x), f(y)) = φ(f(x)) − φ(f(y)) − ⟨∇φ(f(y)), f(x) − f(y)⟩ (Cilingir, Manzelli, Kulis, "Deep
/// Divergence Learning", ICML 2020, eq. 2; Li et al., arXiv 2304.07689). Built from a
/// <see cref="DeepBregmanArchitecture"/>, trained by <see cref="DeepBregmanTrainer"/>, saved and loaded as a checkpoint folder:
/// <code>
/// using var model = BregmanModel.Create(new DeepBregmanArchitecture { InputDimension = 6, Divergence = "icnn" });
/// DeepBregmanTrainer.Train(model, train, valid);
/// using var embeddings = EmbeddingBatch.Vectors(model.Embed(inputs));
/// var report = EmbeddingEvaluation.Evaluate(embeddings, labels, model.Distance);
/// </code>
/// </summary>
public sealed class BregmanModel : IDisposable
{
    private Distance? distance;

    internal BregmanModel(DeepBregmanModel core) => Core = core ?? throw new ArgumentNullException(nameof(core));

    /// <summary>The core's model this wraps (the F# engine's type).</summary>
    internal DeepBregmanModel Core { get; }

    /// <summary>A new model of an architecture (initial weights from its seed).</summary>
    /// <param name="architecture">The architecture.</param>
    /// <param name="device">A device name of <see cref="Devices"/>: auto (CUDA when available, else the CPU; the default), cpu, cuda or cuda:N.</param>
    /// <returns>The model (the caller disposes it).</returns>
    /// <exception cref="ArgumentException">An invalid architecture (the message names the member) or device.</exception>
    public static BregmanModel Create(DeepBregmanArchitecture architecture, string device = Devices.Default)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        return new(architecture.CreateCoreModel(Devices.Resolve(device)));
    }

    /// <summary>The model's architecture (as a checkpoint manifest stores it).</summary>
    public DeepBregmanArchitecture Architecture => DeepBregmanArchitecture.Of(Core);

    /// <summary>The input dimension.</summary>
    public int InputDimension => Core.InputDimension;

    /// <summary>The divergence: quadratic, max-affine, smooth-max-affine, icnn (learned generators), euclidean or cosine.</summary>
    public string Divergence => Core.Kind;

    /// <summary>The learned divergence between embeddings (vectors from <see cref="Embed"/>); not symmetric in general.</summary>
    public Distance Distance => distance ??= new Distance(Core.Distance);

    /// <summary>The TorchSharp module (backbone and generator): its parameters, state dict, <c>train()</c>/<c>eval()</c>.</summary>
    public nn.Module<Tensor, Tensor> Module => Core;

    /// <summary>Embeds inputs in evaluation mode without gradients, in batches.</summary>
    /// <param name="inputs">[N, InputDimension] float inputs.</param>
    /// <param name="batchSize">Rows per forward pass (≥ 1).</param>
    /// <returns>[N, k] embeddings (the caller owns them).</returns>
    /// <exception cref="ArgumentException">Inputs of another width, or batchSize &lt; 1.</exception>
    public Tensor Embed(Tensor inputs, int batchSize = 256) => Core.Embed(inputs, batchSize);

    /// <summary>Leave-one-out retrieval of labelled inputs under the learned divergence (each item queries all the
    /// others; Musgrave et al. 2020, §3.2 definitions): P@1, R-precision, MAP@R, MAP, recall@k, MRR.</summary>
    /// <param name="inputs">[N, InputDimension] float inputs.</param>
    /// <param name="labels">[N] class labels.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">Inputs of another width, or labels of another length.</exception>
    public Evaluation.RetrievalEvaluationReport Evaluate(Tensor inputs, long[] labels)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(labels);
        var r = Core.Evaluate(inputs, labels);
        return new Evaluation.RetrievalEvaluationReport(
            labels.Length, labels.Distinct().Count(), Core.Distance.Name, r.PrecisionAt1, r.RPrecision, r.MapAtR, r.MeanAveragePrecision,
            r.Ks.Select((k, i) => (k, i)).ToDictionary(t => t.k, t => r.RecallAtK[t.i]), r.MeanReciprocalRank, r.EvaluatedQueries,
            r.QueriesWithoutRelevant);
    }

    /// <summary>Frees the model's parameters.</summary>
    public void Dispose() => Core.Dispose();
}
