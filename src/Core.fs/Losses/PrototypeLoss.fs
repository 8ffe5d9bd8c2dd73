namespace DistEmbed.Core

open TorchSharp

/// <summary>Options of <c>PrototypeLoss.Compute</c>.</summary>
[<Sealed; AllowNullLiteral>]
type PrototypeLossOptions() =
    /// <summary>The temperature τ &gt; 0 (default 1); the logits are −D(x, c_k)/τ.</summary>
    member val Temperature = 1.0 with get, set
    /// <summary>How the per-anchor terms are reduced (default <c>Mean</c>).</summary>
    member val Reduction = Reduction.Mean with get, set

/// <summary>
/// A prototype loss over any distance: class prototypes are the W2 barycenters of the batch's class members, and each
/// embedding is classified by a softmax over its negative distances to the prototypes (ProxyNCA with the proxies
/// replaced by barycenters, as in prototypical networks).
/// </summary>
[<RequireQualifiedAccess>]
module PrototypeLoss =

    /// <summary>
    /// ℓ_i = −log( exp(−D(x_i, c_{y_i})/τ) / Σ_k exp(−D(x_i, c_k)/τ) ) over the classes k of the batch, with
    /// c_k the barycenter of the class's members (<see cref="M:DistEmbed.Core.Barycenters.ClassPrototypes(DistEmbed.Core.IEmbeddingBatch,TorchSharp.torch.Tensor)"/>:
    /// the mean for vectors, the mean quantile function for quantile embeddings — the exact W2 barycenter —, the
    /// marginal W2 barycenter for distributions).
    /// </summary>
    /// <remarks>
    /// <para>This is the NCA softmax of ProxyNCA [1, eq. (4)–(5)] with the learnable proxies replaced by class
    /// barycenters computed from the batch, as the class means of prototypical networks [2, eq. (1)–(2)], here for
    /// distributional embeddings and any distance D (anchor first: D(x_i, c_k)). Computed as
    /// logsumexp_k(−D(x_i, c_k)/τ) + D(x_i, c_{y_i})/τ, stable for any τ. The gradient reaches the embeddings both
    /// directly and through the prototypes. A batch with one class gives 0.</para>
    /// <para>[1] Y. Movshovitz-Attias, A. Toshev, T. K. Leung, S. Ioffe, S. Singh, "No Fuss Distance Metric Learning using Proxies", ICCV 2017.</para>
    /// <para>[2] J. Snell, K. Swersky, R. Zemel, "Prototypical Networks for Few-shot Learning", NeurIPS 2017.</para>
    /// </remarks>
    /// <param name="embeddings">A batch of B embeddings (vectors, quantiles or distributions).</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="triplets">Null: every embedding is an anchor; otherwise the distinct anchors of the triplets (a miner's choice).</param>
    /// <param name="options">Temperature and reduction; null for the defaults.</param>
    /// <returns>A scalar, or with <c>Reduction.None</c> the per-anchor terms in ascending anchor order.</returns>
    /// <exception cref="T:System.ArgumentException">Labels not int64 [B], a distance for another representation, τ ≤ 0 or non-finite, an unknown reduction.</exception>
    [<CompiledName("Compute")>]
    let compute (embeddings: IEmbeddingBatch, labels: torch.Tensor, distance: IDistance, triplets: TripletIndices, options: PrototypeLossOptions) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        TupleSupport.checkInputs embeddings labels distance
        let options = if isNull options then PrototypeLossOptions() else options
        TupleSupport.optionPositive "Temperature" options.Temperature
        TupleSupport.checkReduction options.Reduction
        use _ = torch.NewDisposeScope()
        let prototypes, classes = Barycenters.classPrototypes (embeddings, labels)
        use _ = prototypes
        use inverseTemperature = Scalar.op_Implicit (-1.0 / options.Temperature)
        use one = Scalar.op_Implicit 1.0
        let logits = distance.Pairwise(embeddings, prototypes).mul(inverseTemperature)      // [B, K]
        let target = labels.``to``(classes.device).unsqueeze(1L).eq(classes.unsqueeze(0L)).to_type(torch.int64).argmax(1L, keepdim = true)
        let terms = torch.logsumexp(logits, 1L).add(logits.gather(1L, target.``to``(logits.device)).squeeze(1L).neg(), one)
        let terms =
            if isNull triplets then terms
            else
                let anchors = triplets.Anchor.cpu().data<int64>().ToArray() |> Array.distinct |> Array.sort
                terms.index_select(0L, torch.tensor(anchors, device = terms.device))
        (TupleSupport.reduce options.Reduction terms).MoveToOuterDisposeScope()
