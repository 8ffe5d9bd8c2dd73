namespace DistEmbed.Core.Bregman

open TorchSharp
open DistEmbed.Core

/// <summary>
/// The Bregman divergence D_φ(x, y) = φ(x) − φ(y) − ⟨∇φ(y), x − y⟩ of a learned convex generator φ, as an
/// <see cref="T:DistEmbed.Core.IDistance"/> on vector batches: usable with every loss, miner and metric of the toolkit.
/// </summary>
/// <remarks>
/// <para><b>Argument order.</b> <c>Paired(a, b)</c>[i] = D_φ(a_i, b_i) and <c>Pairwise(a, b)</c>[i, j] = D_φ(a_i, b_j):
/// the second argument b is the point of linearisation (where ∇φ is taken). Losses, miners and retrieval call
/// D(anchor, other) and D(query, gallery), so the gallery items are the points of linearisation.</para>
/// <para><b>Pairwise cost.</b> <code>D[i, j] = φ(a_i) − [φ(b_j) − ⟨∇φ(b_j), b_j⟩] − ⟨a_i, ∇φ(b_j)⟩</code>: φ once per
/// item of a and of b, ∇φ once per item of b (autograd with <c>create_graph = true</c>, or the generator's closed
/// form) and one [B, d] × [d, B'] matrix product; never B × B' gradient evaluations. The quadratic and max-affine
/// generators use their closed forms (½‖(a_i − b_j) L‖² and φ(a_i) − (w_{k*(b_j)}ᵀ a_i + c_{k*(b_j)})).</para>
/// <para><b>Properties.</b> D_φ ≥ 0 and D_φ(x, x) = 0 for convex φ (up to rounding: the pairwise form may return a
/// value of order −ulp·|φ| where a_i = b_j); not symmetric and no triangle inequality in general
/// (<c>IsMetric = false</c>, <c>IsSymmetric = false</c>). Results are differentiable with respect to the inputs and
/// the generator's parameters.</para>
/// <para>[1] L. M. Bregman, USSR Comput. Math. Math. Phys. 7(3), 1967. [2] A. Banerjee, S. Merugu, I. S. Dhillon,
/// J. Ghosh, "Clustering with Bregman Divergences", JMLR 6, 2005, Def. 1. [3] X. Li, Y. Liu, H. Zou, A. Ralescu,
/// "Learning Empirical Bregman Divergence for Uncertain Distance Representation", arXiv 2304.07689.
/// [4] H. K. Cilingir, R. Manzelli, B. Kulis, "Deep Divergence Learning", ICML 2020, arXiv 2005.02612.</para>
/// </remarks>
[<Sealed>]
type BregmanDivergence(generator: ConvexGenerator) =
    do
        NativeRuntime.EnsureInitialized()
        Validation.notNull "generator" generator

    let name = "bregman-" + generator.Kind

    let check (a: IEmbeddingBatch) (b: IEmbeddingBatch) (paired: bool) : VectorBatch * VectorBatch =
        let va = DistanceKernels.require<VectorBatch> name Representation.Vectors "a" a
        let vb = DistanceKernels.require<VectorBatch> name Representation.Vectors "b" b
        DistanceKernels.checkPair va va.Dimension vb vb.Dimension paired
        generator.CheckInput("a", va.Values)
        generator.CheckInput("b", vb.Values)
        va, vb

    /// <summary>The convex generator φ.</summary>
    member _.Generator = generator

    /// <summary>D_φ(a_i, b_i) for i = 1..B (b_i is the point of linearisation).</summary>
    /// <param name="a">[B, d] vectors (first argument).</param>
    /// <param name="b">[B, d] vectors (point of linearisation).</param>
    /// <returns>[B], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Not vector batches; counts, d, dtypes or devices differ from each
    /// other or from the generator's (names a or b).</exception>
    member _.Paired(a: IEmbeddingBatch, b: IEmbeddingBatch) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        let va, vb = check a b true
        use scope = torch.NewDisposeScope()
        generator.PairedDivergence(va.Values, vb.Values).MoveToOuterDisposeScope()

    /// <summary>D_φ(a_i, b_j) for all i, j (b_j is the point of linearisation).</summary>
    /// <param name="a">[B, d] vectors (first argument).</param>
    /// <param name="b">[B', d] vectors (points of linearisation).</param>
    /// <returns>[B, B'], differentiable.</returns>
    /// <exception cref="T:System.ArgumentException">Not vector batches; d, dtypes or devices differ from each other or
    /// from the generator's (names a or b).</exception>
    member _.Pairwise(a: IEmbeddingBatch, b: IEmbeddingBatch) : torch.Tensor =
        NativeRuntime.EnsureInitialized()
        let va, vb = check a b false
        use scope = torch.NewDisposeScope()
        generator.PairwiseDivergence(va.Values, vb.Values).MoveToOuterDisposeScope()

    interface IDistance with
        member _.Name = name
        member _.IsMetric = false
        member _.IsSymmetric = false
        member _.Accepts = Representation.Vectors
        member this.Paired(a, b) = this.Paired(a, b)
        member this.Pairwise(a, b) = this.Pairwise(a, b)
