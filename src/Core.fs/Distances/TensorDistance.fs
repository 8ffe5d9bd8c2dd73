namespace DistEmbed.Core

open TorchSharp
open DistEmbed.Core.DistanceKernels

/// One distance: a name, its flags, the representation it accepts, and typed paired/pairwise kernels behind the
/// representation and compatibility checks of the <see cref="T:DistEmbed.Core.IDistance"/> contract (the shared
/// <c>DistanceKernels.require</c> / <c>checkPair</c>), pairwise matrices assembled from a <c>PairwisePlan</c> by <c>Blocked</c>.
/// Every catalog distance is one (the Sinkhorn family derives from it to add its diagnostics).
type internal TensorDistance<'B when 'B :> IEmbeddingBatch>
    (
        name: string,
        isMetric: bool,
        accepts: Representation,
        blockSize: int,
        dimension: 'B -> int,
        extraCheck: 'B -> 'B -> bool -> unit,
        paired: 'B -> 'B -> torch.Tensor,
        plan: 'B -> 'B -> PairwisePlan,
        ?gram: 'B -> 'B -> bool -> GramForm option
    ) =

    member private _.Prepare(a: IEmbeddingBatch, b: IEmbeddingBatch, isPaired: bool) =
        NativeRuntime.EnsureInitialized()
        let ta = require<'B> name accepts "a" a
        let tb = require<'B> name accepts "b" b
        checkPair a (dimension ta) b (dimension tb) isPaired
        extraCheck ta tb isPaired
        ta, tb

    override _.ToString() = name

    interface IBlockwiseDistance with
        member _.BlockSize = blockSize

        member this.PairwiseBlocks(a, b, sink) =
            let ta, tb = this.Prepare(a, b, false)
            streamPlan (fun () -> plan ta tb) sink

    interface IPlannedDistance with
        member this.Plan(a, b) =
            let ta, tb = this.Prepare(a, b, false)
            plan ta tb

    interface IGramDistance with
        member this.Gram(a, b) =
            match gram with
            | Some form ->
                let ta, tb = this.Prepare(a, b, false)
                form ta tb (obj.ReferenceEquals(a, b))
            | None -> None

    interface IDistance with
        member _.Name = name
        member _.IsMetric = isMetric
        member _.IsSymmetric = true
        member _.Accepts = accepts

        member this.Paired(a, b) =
            let ta, tb = this.Prepare(a, b, true)
            scoped (fun () -> paired ta tb)

        member this.Pairwise(a, b) =
            let ta, tb = this.Prepare(a, b, false)
            runPlan (fun () -> plan ta tb)
