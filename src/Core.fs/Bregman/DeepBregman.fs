namespace DistEmbed.Core.Bregman

open System
open TorchSharp
open TorchSharp.Modules
open DistEmbed.Core

/// <summary>Hyper-parameters of <see cref="T:DistEmbed.Core.Bregman.DeepBregmanModel"/> and its training loop.</summary>
[<Sealed; AllowNullLiteral>]
type DeepBregmanOptions() =
    /// <summary>The divergence on the embeddings: a generator kind (quadratic, max-affine, smooth-max-affine, icnn)
    /// or a fixed distance (euclidean, cosine). Default icnn.</summary>
    member val Divergence = "icnn" with get, set
    /// <summary>Width of the backbone's hidden layer (default 256).</summary>
    member val Hidden = 256 with get, set
    /// <summary>Embedding dimension d (default 32).</summary>
    member val EmbeddingDimension = 32 with get, set
    /// <summary>Hyper-parameters of the generator (its Seed is replaced by this Seed).</summary>
    member val Generator = GeneratorOptions() with get, set
    /// <summary>Training epochs ≥ 1 (default 3).</summary>
    member val Epochs = 3 with get, set
    /// <summary>P, the classes per M-per-class batch (default 5).</summary>
    member val ClassesPerBatch = 5 with get, set
    /// <summary>M, the items per class in a batch (default 16).</summary>
    member val ItemsPerClass = 16 with get, set
    /// <summary>AdamW learning rate (default 1e-3).</summary>
    member val LearningRate = 1e-3 with get, set
    /// <summary>AdamW decoupled weight decay (default 1e-4).</summary>
    member val WeightDecay = 1e-4 with get, set
    /// <summary>Margin m of the triplet loss (default the triplet loss's, <c>TripletMarginLossOptions().Margin</c> = 0.2).</summary>
    member val Margin = TripletMarginLossOptions().Margin with get, set
    /// <summary>Triplet miner, a name of <c>Miners.Names</c>: all (every valid triplet, mean over the non-zero terms),
    /// semi-hard or batch-hard. Default <c>Miners.Default</c> (all).</summary>
    member val Miner = Miners.defaultName with get, set
    /// <summary>Scale every embedding to unit L2 norm before the divergence (default true), as in FaceNet [Schroff et
    /// al., CVPR 2015, §3]: it fixes the scale against the triplet margin; the generator then acts on the unit sphere.</summary>
    member val Normalize = true with get, set
    /// <summary>Seed of the initialisation and of the batch sampler (default 0).</summary>
    member val Seed = 0 with get, set

/// <summary>One training epoch of <see cref="M:DistEmbed.Core.Bregman.DeepBregmanModel.Fit"/>.</summary>
type EpochReport =
    { /// <summary>The epoch number, from 0.</summary>
      Epoch: int
      /// <summary>The mean training loss over the epoch's batches.</summary>
      MeanLoss: float
      /// <summary>The number of batches.</summary>
      Batches: int }

/// <summary>
/// A deep Bregman model: an MLP backbone x ↦ e = f_θ(x) ∈ ℝ^d followed by a learned convex generator φ on the
/// embeddings, compared with the Bregman divergence D_φ(e, e′) [1, 2]; or, for the baselines, the same backbone with a
/// fixed Euclidean or cosine distance. Trained end to end with the toolkit's triplet loss, miners and M-per-class sampler
/// under AdamW.
/// </summary>
/// <remarks>
/// <para>Backbone: Linear(input, hidden) → ReLU → Linear(hidden, d) → (optionally) e/‖e‖, weights U(±1/√fan_in) from a
/// seeded generator.
/// <c>forward(x)</c> maps [N, input] to embeddings [N, d]. <c>Distance</c> is the
/// <see cref="T:DistEmbed.Core.Bregman.BregmanDivergence"/> of the generator (or the fixed distance): pass it to any
/// loss, miner or metric.</para>
/// <para>[1] H. K. Cilingir, R. Manzelli, B. Kulis, "Deep Divergence Learning", ICML 2020, arXiv 2005.02612, §3–4.</para>
/// <para>[2] X. Li, Y. Liu, H. Zou, A. Ralescu, "Learning Empirical Bregman Divergence for Uncertain Distance Representation", arXiv 2304.07689.</para>
/// </remarks>
[<Sealed>]
type DeepBregmanModel(inputDimension: int, options: DeepBregmanOptions, device: torch.Device) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("deep-bregman")
    do
        NativeRuntime.EnsureInitialized()
        Validation.atLeastInt "inputDimension" 1 inputDimension
        Validation.notNull "options" options
        Validation.notNull "options.Divergence" options.Divergence
        Validation.atLeastInt "options.Hidden" 1 options.Hidden
        Validation.atLeastInt "options.EmbeddingDimension" 1 options.EmbeddingDimension
        Validation.atLeastInt "options.Epochs" 1 options.Epochs
        Validation.atLeastInt "options.ClassesPerBatch" 2 options.ClassesPerBatch
        Validation.atLeastInt "options.ItemsPerClass" 2 options.ItemsPerClass
        Validation.positive "options.LearningRate" options.LearningRate
        Validation.atLeast "options.WeightDecay" 0.0 options.WeightDecay
        Validation.atLeast "options.Margin" 0.0 options.Margin
        Validation.notNull "options.Miner" options.Miner
        if not (Array.contains ((options.Miner: string).Trim().ToLowerInvariant()) Miners.names) then
            let valid = String.Join(", ", Miners.names)
            Validation.fail "options.Miner" $"options.Miner = '{options.Miner}' is unknown; valid: {valid}."
    let device = if isNull device then torch.CPU else device
    let kind = options.Divergence.Trim().ToLowerInvariant()
    let dtype = torch.float32
    let random = GeneratorInit.random (int64 options.Seed)
    let layer (input: int) (output: int) =
        let bound = 1.0 / sqrt (float input)
        GeneratorInit.parameter (GeneratorInit.uniform random [| int64 output; int64 input |] bound dtype device),
        GeneratorInit.parameter (GeneratorInit.uniform random [| int64 output |] bound dtype device)
    let w1, b1 = layer inputDimension options.Hidden
    let w2, b2 = layer options.Hidden options.EmbeddingDimension
    let generator, distance =
        match kind with
        | "euclidean" | "cosine" -> (null: ConvexGenerator), (Distances.Create(kind, null) :> IDistance)
        | _ ->
            let o = if isNull options.Generator then GeneratorOptions() else options.Generator
            let copy =
                GeneratorOptions(Rank = o.Rank, Pieces = o.Pieces, Temperature = o.Temperature, Hidden = o.Hidden, Strength = o.Strength, Seed = int64 options.Seed + 1L)
            let g =
                try ConvexGenerators.create (kind, options.EmbeddingDimension, copy, dtype, device)
                with :? ArgumentException as e when e.ParamName = "kind" ->
                    Validation.fail "options.Divergence" $"options.Divergence = '{options.Divergence}' is unknown; valid: quadratic, max-affine, smooth-max-affine, icnn, euclidean, cosine."
            g, (new BregmanDivergence(g) :> IDistance)
    do
        this.register_parameter ("backbone_w1", w1)
        this.register_parameter ("backbone_b1", b1)
        this.register_parameter ("backbone_w2", w2)
        this.register_parameter ("backbone_b2", b2)
        if not (isNull generator) then this.register_module ("generator", generator)

    let checkImages (images: torch.Tensor) =
        Validation.notNull "images" images
        if images.dim () <> 2L || images.shape.[0] = 0L || images.shape.[1] <> int64 inputDimension then
            Validation.fail "images" $"images has shape {Validation.shape images}; the model takes [N, {inputDimension}] with N ≥ 1."
        Validation.floating "images" images

    /// <summary>The input dimension.</summary>
    member _.InputDimension = inputDimension
    /// <summary>The options the model was built with.</summary>
    member _.Options = options
    /// <summary>The divergence kind (generator kind, euclidean or cosine).</summary>
    member _.Kind = kind
    /// <summary>The learned generator, or null for the fixed euclidean / cosine baselines.</summary>
    member _.Generator = generator
    /// <summary>The divergence between embeddings (the generator's Bregman divergence or the fixed distance).</summary>
    member _.Distance : IDistance = distance

    /// <summary>Embeddings of a batch of inputs.</summary>
    /// <param name="x">[N, input] float32 on the model's device.</param>
    /// <returns>[N, d].</returns>
    override _.forward(x: torch.Tensor) =
        use scope = torch.NewDisposeScope()
        let h = torch.nn.functional.relu (torch.nn.functional.linear (x, w1, b1))
        let e = torch.nn.functional.linear (h, w2, b2)
        let e =
            if options.Normalize then
                e.div(e.pow(GeneratorInit.sc 2.0).sum(1L, keepdim = true).sqrt().clamp_min (GeneratorInit.sc 1e-12))
            else e
        e.MoveToOuterDisposeScope()

    /// <summary>Embeddings of many inputs in evaluation mode, without gradients, in chunks.</summary>
    /// <param name="images">[N, input] floating inputs (any device; moved to the model's device as float32).</param>
    /// <param name="batchSize">Rows per forward pass ≥ 1.</param>
    /// <returns>[N, d] float32 on the model's device.</returns>
    /// <exception cref="T:System.ArgumentException">Wrong shape (names images) or batchSize &lt; 1.</exception>
    member this.Embed(images: torch.Tensor, batchSize: int) : torch.Tensor =
        checkImages images
        Validation.atLeastInt "batchSize" 1 batchSize
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        this.eval ()
        let n = images.shape.[0]
        let parts =
            [| for start in 0L .. int64 batchSize .. n - 1L ->
                   let x = images.narrow(0L, start, min (int64 batchSize) (n - start)).to_type(dtype).``to`` (device)
                   this.forward x |]
        torch.cat(parts, 0L).MoveToOuterDisposeScope()

    /// <summary>
    /// Trains the backbone and the generator: each epoch draws M-per-class batches (P classes × M items), embeds them,
    /// mines triplets under the model's divergence and takes one AdamW step on the triplet margin loss per batch.
    /// </summary>
    /// <remarks>Triplet loss with hinge [d_ap − d_an + m]_+ and D(anchor, other) order; with Miner = all, every valid
    /// triplet of the batch, averaged over the non-zero terms; semi-hard and batch-hard use the toolkit's miners.</remarks>
    /// <param name="images">[N, input] training inputs.</param>
    /// <param name="labels">[N] class labels (at least P classes).</param>
    /// <param name="progress">Called after each epoch; may be null.</param>
    /// <returns>One report per epoch.</returns>
    /// <exception cref="T:System.ArgumentException">Wrong shapes (names images or labels), fewer classes than P.</exception>
    member this.Fit(images: torch.Tensor, labels: int64[], progress: Action<EpochReport>) : EpochReport[] =
        NativeRuntime.EnsureInitialized()
        checkImages images
        Validation.nonEmpty "labels" labels
        Validation.sameLength "labels" (int images.shape.[0]) labels.Length "images"
        let parameters = this.parameters () |> Seq.toArray
        use optimizer = torch.optim.AdamW(parameters, lr = options.LearningRate, weight_decay = options.WeightDecay)
        let lossOptions = TripletMarginLossOptions(Margin = options.Margin, Reduction = Reduction.MeanNonZero)
        let miner = Miners.create (options.Miner, MinerOptions(Margin = max options.Margin 1e-6))
        let reports = ResizeArray<EpochReport>()
        this.train ()
        for epoch in 0 .. options.Epochs - 1 do
            let batches = Samplers.mPerClassEpoch (labels, options.ClassesPerBatch, options.ItemsPerClass, options.Seed, epoch)
            let mutable total = 0.0
            for batch in batches do
                use scope = torch.NewDisposeScope()
                let index = torch.tensor (batch |> Array.map int64)
                let x = images.index_select(0L, index).to_type(dtype).``to`` (device)
                let y = torch.tensor (batch |> Array.map (fun i -> labels.[i]), device = device)
                let embeddings = VectorBatch.FromTensor(this.forward x)
                use triplets = miner.Mine(embeddings, y, distance)
                let loss = TripletMarginLoss.compute (embeddings, y, distance, triplets, lossOptions)
                optimizer.zero_grad ()
                loss.backward ()
                optimizer.step () |> ignore
                total <- total + float (loss.item<float32> ())
            let report = { Epoch = epoch; MeanLoss = total / float batches.Length; Batches = batches.Length }
            reports.Add report
            if not (isNull progress) then progress.Invoke report
        this.eval ()
        reports.ToArray()

    /// <summary>Leave-one-out retrieval metrics of labelled inputs under the model's divergence
    /// (<c>EmbeddingMetrics.RetrievalWithin</c> on the embeddings).</summary>
    /// <param name="images">[N, input] inputs, N ≥ 2.</param>
    /// <param name="labels">[N] labels.</param>
    /// <returns>P@1, R-precision, MAP@R, recall@1 and the rest of the report.</returns>
    /// <exception cref="T:System.ArgumentException">Wrong shapes or any rule of <c>RetrievalMetrics.Evaluate</c>.</exception>
    member this.Evaluate(images: torch.Tensor, labels: int64[]) : RetrievalReport =
        Validation.nonEmpty "labels" labels
        use scope = torch.NewDisposeScope()
        let embeddings = VectorBatch.FromTensor(this.Embed(images, 1024))
        EmbeddingMetrics.retrievalWithin (distance, embeddings, labels, [| 1 |])
