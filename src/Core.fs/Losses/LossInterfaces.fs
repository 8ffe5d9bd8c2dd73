namespace DistEmbed.Core

open System
open System.Collections.Generic
open System.IO
open TorchSharp

/// <summary>
/// A metric-learning loss over any distance, as the catalog <see cref="T:DistEmbed.Core.Losses"/> creates it: a
/// function of a batch, its labels, a distance and the triplets a miner chose.
/// </summary>
type IMetricLoss =
    /// <summary>The catalog name (e.g. <c>triplet</c>).</summary>
    abstract Name: string
    /// <summary>The loss of a batch, differentiable with respect to the embeddings.</summary>
    /// <param name="embeddings">A batch of B embeddings.</param>
    /// <param name="labels">int64 [B] class labels.</param>
    /// <param name="distance">A distance that accepts the batch's representation.</param>
    /// <param name="triplets">Triplets from a miner, or null for every valid tuple of the batch (all triplets for the
    /// triplet loss, all positive and negative pairs for the pair losses). Pair losses use the pairs of the triplets
    /// (<c>PairIndices.FromTriplets</c>).</param>
    /// <returns>A scalar (the options' reduction).</returns>
    abstract Compute: embeddings: IEmbeddingBatch * labels: torch.Tensor * distance: IDistance * triplets: TripletIndices -> torch.Tensor

/// <summary>Whether a loss is computed on triplets or on positive and negative pairs.</summary>
type LossTuples =
    /// <summary>Triplets (anchor, positive, negative).</summary>
    | Triplets = 0
    /// <summary>Positive and negative pairs (from the miner's triplets, or all pairs).</summary>
    | Pairs = 1
    /// <summary>No tuples: every item is compared with learnable class proxies (use the miner <c>all</c>).</summary>
    | Proxies = 2
    /// <summary>The tuples of a wrapped loss, mined between the batch and a memory of past batches (the loss mines them itself).</summary>
    | Memory = 3

/// <summary>
/// A loss with learnable parameters of its own (e.g. the class proxies of <c>proxy-anchor</c>), which an optimiser must
/// update together with the model's. The parameters exist after <see cref="M:DistEmbed.Core.ITrainableLoss.Initialise(DistEmbed.Core.IEmbeddingBatch,System.Int64[])"/>;
/// the metric-learning trainer initialises the loss from one embedding per training class before it builds its
/// optimiser, optimises <see cref="P:DistEmbed.Core.ITrainableLoss.Parameters"/> with the model's, and checkpoints the
/// state with <see cref="M:DistEmbed.Core.ITrainableLoss.SaveState(System.IO.Stream)"/>.
/// </summary>
type ITrainableLoss =
    inherit IMetricLoss
    inherit IDisposable
    /// <summary>True once <c>Initialise</c> has created the parameters.</summary>
    abstract IsInitialised: bool
    /// <summary>Creates the parameters: one per class, starting at a copy of that class's prototype embedding.</summary>
    /// <param name="prototypes">C embeddings: row c is the starting point of class <c>classes[c]</c> (copied and detached).</param>
    /// <param name="classes">C distinct class labels.</param>
    /// <exception cref="T:System.ArgumentException">Null or mismatched arguments, repeated classes (named).</exception>
    abstract Initialise: prototypes: IEmbeddingBatch * classes: int64[] -> unit
    /// <summary>The learnable parameters (empty before <c>Initialise</c>).</summary>
    abstract Parameters: IReadOnlyList<Modules.Parameter>
    /// <summary>Writes the learnable state (classes and parameter values) to a stream.</summary>
    /// <param name="stream">A writable stream.</param>
    /// <exception cref="T:System.InvalidOperationException">Not initialised.</exception>
    abstract SaveState: stream: Stream -> unit
    /// <summary>Restores the state written by <c>SaveState</c> of a loss initialised with the same classes and shapes.</summary>
    /// <param name="stream">A readable stream.</param>
    /// <exception cref="T:System.IO.InvalidDataException">Not a loss state, or one for other classes or shapes.</exception>
    /// <exception cref="T:System.InvalidOperationException">Not initialised.</exception>
    abstract LoadState: stream: Stream -> unit

