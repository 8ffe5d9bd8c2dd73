namespace DistEmbed.Core.Bregman

open System
open System.Collections.Generic
open TorchSharp
open TorchSharp.Modules
open DistEmbed.Core

type private Tensor = torch.Tensor

/// Parameter initialisation from a seeded CPU generator (reproducible, independent of torch's global seed).
module internal GeneratorInit =

    let sc (x: float) : Scalar = Scalars.sc x

    /// A CPU random generator seeded by <paramref name="seed"/>.
    let random (seed: int64) = new torch.Generator(uint64 seed, torch.CPU)

    /// U(−bound, bound) of the given shape, drawn on the CPU in float64 and moved to (dtype, device).
    let uniform (g: torch.Generator) (shape: int64[]) (bound: float) (dtype: torch.ScalarType) (device: torch.Device) : Tensor =
        use scope = torch.NewDisposeScope()
        let u = torch.rand(shape, dtype = torch.float64, generator = g)
        u.mul(sc 2.0).sub(sc 1.0).mul(sc bound).to_type(dtype).``to``(device).MoveToOuterDisposeScope()

    /// N(mean, std²) of the given shape.
    let normal (g: torch.Generator) (shape: int64[]) (mean: float) (std: float) (dtype: torch.ScalarType) (device: torch.Device) : Tensor =
        use scope = torch.NewDisposeScope()
        let z = torch.randn(shape, dtype = torch.float64, generator = g)
        z.mul(sc std).add(sc mean).to_type(dtype).``to``(device).MoveToOuterDisposeScope()

    /// A trainable parameter holding (a detached copy of) t.
    let parameter (t: Tensor) = new Parameter(t.detach(), true)

    /// softplus⁻¹(v) = log(expm1(v)) for v &gt; 0: the raw value whose soft plus is v.
    let inverseSoftplus (v: float) = Math.Log(Math.Exp v - 1.0)

    let checkDType (dtype: torch.ScalarType) =
        if dtype <> torch.float32 && dtype <> torch.float64 then
            Validation.fail "dtype" $"dtype = {dtype} is invalid; a generator's parameters are float32 or float64."

/// <summary>Hyper-parameters of the convex generators made by <see cref="T:DistEmbed.Core.Bregman.ConvexGenerators"/>.</summary>
[<Sealed; AllowNullLiteral>]
type GeneratorOptions() =
    /// <summary>Quadratic: the rank r of L (d × r); 0 means r = d (default 0).</summary>
    member val Rank = 0 with get, set
    /// <summary>Max-affine and smooth max-affine: the number K ≥ 1 of affine pieces (default 16).</summary>
    member val Pieces = 16 with get, set
    /// <summary>Smooth max-affine: the temperature τ &gt; 0 of the log-sum-exp (default 0.1).</summary>
    member val Temperature = 0.1 with get, set
    /// <summary>ICNN: the widths of the hidden layers, at least one, each ≥ 1 (default [64, 64]).</summary>
    member val Hidden: int[] = [| 64; 64 |] with get, set
    /// <summary>ICNN and max-affine: the weight ε ≥ 0 of the strongly convex term ½ε‖x‖² (default 1, the scale of the quadratic
    /// generator's start L = I; ε &gt; 0 makes D a strict divergence, D ≥ ½ε‖x − y‖²).</summary>
    member val Strength = 1.0 with get, set
    /// <summary>Seed of the parameter initialisation (default 0).</summary>
    member val Seed = 0L with get, set

/// <summary>
/// A convex function φ: ℝ^d → ℝ as a TorchSharp module (<c>forward(x)</c> = φ(x), [N, d] → [N]), the generator of the
/// Bregman divergence D_φ(x, y) = φ(x) − φ(y) − ⟨∇φ(y), x − y⟩. Every implementation is convex by construction (not
/// by a penalty), so D_φ ≥ 0 with D_φ(x, x) = 0.
/// </summary>
/// <remarks>
/// <para><c>Gradient</c> is ∇φ row by row. The default evaluates it with autograd (<c>torch.autograd.grad</c> with
/// <c>create_graph = true</c> when gradients are enabled, so a loss can differentiate through ∇φ into the generator's
/// parameters and the inputs); generators with a closed form override it. Under <c>torch.no_grad()</c> the gradient
/// is still computed (autograd is enabled locally) and returned detached.</para>
/// <para>Inputs must be [N, d] tensors with the generator's d, dtype and device (the dtype and device of its parameters).</para>
/// <para>[1] L. M. Bregman, "The relaxation method of finding the common point of convex sets…", USSR Comput. Math. Math. Phys. 7(3), 1967.</para>
/// <para>[2] B. Amos, L. Xu, J. Z. Kolter, "Input Convex Neural Networks", ICML 2017, arXiv 1609.07152.</para>
/// <para>[3] H. K. Cilingir, R. Manzelli, B. Kulis, "Deep Divergence Learning", ICML 2020, arXiv 2005.02612.</para>
/// </remarks>
[<AbstractClass; AllowNullLiteral>]
type ConvexGenerator(name: string, dimension: int) =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>(name)

    /// <summary>The input dimension d.</summary>
    member _.Dimension = dimension

    /// <summary>The generator's kind as used on the command line (<c>quadratic</c>, <c>max-affine</c>, …).</summary>
    abstract Kind: string

    /// <summary>The hyper-parameters that rebuild this generator (for manifests), as invariant strings.</summary>
    abstract HyperParameters: IReadOnlyDictionary<string, string>

    /// <summary>φ(x) for each row.</summary>
    /// <param name="x">[N, d] points.</param>
    /// <returns>[N], differentiable.</returns>
    abstract Value: x: torch.Tensor -> torch.Tensor

    /// <summary>∇φ(x) for each row (autograd unless the generator has a closed form).</summary>
    /// <param name="x">[N, d] points.</param>
    /// <returns>[N, d], differentiable when gradients are enabled.</returns>
    abstract Gradient: x: torch.Tensor -> torch.Tensor

    default this.Gradient(x: torch.Tensor) = this.AutogradGradient x

    /// <summary>The paired divergence D_φ(a_i, b_i); the generic form unless the generator has a closed form.</summary>
    /// <param name="a">[B, d] first arguments.</param>
    /// <param name="b">[B, d] points of linearisation.</param>
    /// <returns>[B].</returns>
    abstract PairedDivergence: a: torch.Tensor * b: torch.Tensor -> torch.Tensor

    default this.PairedDivergence(a: torch.Tensor, b: torch.Tensor) = this.GenericPaired(a, b)

    /// <summary>The pairwise divergence D_φ(a_i, b_j); the generic form unless the generator has a closed form.</summary>
    /// <param name="a">[B, d] first arguments.</param>
    /// <param name="b">[B', d] points of linearisation.</param>
    /// <returns>[B, B'].</returns>
    abstract PairwiseDivergence: a: torch.Tensor * b: torch.Tensor -> torch.Tensor

    default this.PairwiseDivergence(a: torch.Tensor, b: torch.Tensor) = this.GenericPairwise(a, b)

    /// <summary>φ(x) (the module's forward pass).</summary>
    /// <param name="x">[N, d] points.</param>
    /// <returns>[N].</returns>
    override this.forward(x: torch.Tensor) = this.Value x

    /// <summary>The dtype of the generator's parameters (the dtype its inputs must have).</summary>
    member this.DType = (Seq.head (this.parameters ())).dtype

    /// <summary>The device of the generator's parameters (the device its inputs must be on).</summary>
    member this.Device = (Seq.head (this.parameters ())).device

    /// <summary>Checks that <paramref name="x"/> is an [N, d] tensor (N ≥ 1) of this generator's d, dtype and device.</summary>
    /// <param name="name">The argument name reported in the exception.</param>
    /// <param name="x">The tensor to check.</param>
    /// <exception cref="T:System.ArgumentException">Null, wrong rank, N = 0, wrong d, dtype or device (names <paramref name="name"/>).</exception>
    member this.CheckInput(name: string, x: torch.Tensor) =
        Validation.notNull name x
        if x.dim () <> 2L || x.shape.[0] = 0L then
            Validation.fail name $"{name} has shape {Validation.shape x}; the generator takes [N, {dimension}] with N ≥ 1."
        if x.shape.[1] <> int64 dimension then
            Validation.fail name $"{name} has dimension {x.shape.[1]} but the generator '{this.Kind}' has dimension {dimension}; they must match."
        if x.dtype <> this.DType then
            Validation.fail name $"{name} has dtype {x.dtype} but the generator's parameters are {this.DType}; they must match."
        if not (Validation.sameDevice x.device this.Device) then
            Validation.fail name $"{name} is on {x.device} but the generator's parameters are on {this.Device}; they must be on one device."

    /// <summary>∇φ(x) by automatic differentiation, whatever closed form the generator has.</summary>
    /// <remarks>One backward pass over Σ_n φ(x_n) (rows are independent). With gradients enabled the result keeps its
    /// graph (<c>create_graph = true</c>); under <c>torch.no_grad()</c> it is detached.</remarks>
    /// <param name="x">[N, d] points.</param>
    /// <returns>[N, d].</returns>
    member this.AutogradGradient(x: torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let outer = torch.is_grad_enabled ()
        let gradient =
            use _ = torch.enable_grad ()
            let leaf = if x.requires_grad then x else x.detach().requires_grad_ (true)
            let total = this.Value(leaf).sum ()
            let g = torch.autograd.grad([| total |], [| leaf |], retain_graph = outer, create_graph = outer).[0]
            if outer then g else g.detach ()
        gradient.MoveToOuterDisposeScope()

    /// <summary>The paired divergence in its generic form φ(a_i) − φ(b_i) − ⟨∇φ(b_i), a_i − b_i⟩ (∇φ from <c>Gradient</c>).</summary>
    /// <param name="a">[B, d] first arguments.</param>
    /// <param name="b">[B, d] points of linearisation.</param>
    /// <returns>[B].</returns>
    member this.GenericPaired(a: torch.Tensor, b: torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let g = this.Gradient b
        let inner = g.mul(a.sub b).sum (1L)
        this.Value(a).sub(this.Value b).sub(inner).MoveToOuterDisposeScope()

    /// <summary>
    /// The pairwise divergence in its generic form φ(a_i) − [φ(b_j) − ⟨∇φ(b_j), b_j⟩] − ⟨a_i, ∇φ(b_j)⟩: one φ
    /// evaluation per item of a and of b, one gradient evaluation per item of b and one [B, d] × [d, B'] matrix product.
    /// </summary>
    /// <param name="a">[B, d] first arguments.</param>
    /// <param name="b">[B', d] points of linearisation.</param>
    /// <returns>[B, B'].</returns>
    member this.GenericPairwise(a: torch.Tensor, b: torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let g = this.Gradient b
        let offset = this.Value(b).sub (g.mul(b).sum (1L))
        let fa = this.Value a
        fa.unsqueeze(1L).sub(offset.unsqueeze 0L).sub(a.mm (g.t ())).MoveToOuterDisposeScope()

/// <summary>
/// The quadratic generator φ(x) = ½ xᵀ L Lᵀ x with a learned L ∈ ℝ^{d×r}: its Bregman divergence is the squared
/// Mahalanobis distance ½ (x − y)ᵀ M (x − y), M = L Lᵀ ⪰ 0 (convex for every L).
/// </summary>
/// <remarks>
/// <para>∇φ(x) = L Lᵀ x in closed form. Paired: ½‖(a − b) L‖²; pairwise: ½‖a_i L − b_j L‖² through the library's
/// accurate pairwise squared Euclidean distance (one matrix product, cancelling entries recomputed). L starts as the
/// first r columns of the identity (L = I gives ½‖x − y‖²).</para>
/// <para>[1] E. P. Xing, A. Y. Ng, M. I. Jordan, S. Russell, "Distance metric learning with application to clustering
/// with side-information", NIPS 2002 (Mahalanobis metric learning).</para>
/// </remarks>
[<Sealed>]
type QuadraticGenerator(dimension: int, rank: int, dtype: torch.ScalarType, device: torch.Device) as this =
    inherit ConvexGenerator("quadratic", dimension)
    do
        Validation.atLeastInt "dimension" 1 dimension
        Validation.atLeastInt "rank" 0 rank
        GeneratorInit.checkDType dtype
    let r = if rank = 0 then dimension else rank
    let factor = GeneratorInit.parameter (torch.eye(int64 dimension, int64 r, dtype = dtype, device = device))
    do this.register_parameter ("factor", factor)

    /// <summary>The factor L, [d, r].</summary>
    member _.Factor : torch.Tensor = factor
    /// <summary>The rank r of L.</summary>
    member _.Rank = r
    /// <summary>"quadratic".</summary>
    override _.Kind = "quadratic"
    /// <summary>dimension and rank.</summary>
    override _.HyperParameters =
        readOnlyDict [ "dimension", string dimension; "rank", string r ]
    /// <summary>½‖x L‖² per row.</summary>
    override _.Value(x) =
        use scope = torch.NewDisposeScope()
        x.mm(factor).pow(GeneratorInit.sc 2.0).sum(1L).mul(GeneratorInit.sc 0.5).MoveToOuterDisposeScope()
    /// <summary>x L Lᵀ (closed form).</summary>
    override _.Gradient(x) =
        use scope = torch.NewDisposeScope()
        x.mm(factor).mm(factor.t ()).MoveToOuterDisposeScope()
    /// <summary>½‖(a − b) L‖².</summary>
    override _.PairedDivergence(a, b) =
        use scope = torch.NewDisposeScope()
        a.sub(b).mm(factor).pow(GeneratorInit.sc 2.0).sum(1L).mul(GeneratorInit.sc 0.5).MoveToOuterDisposeScope()
    /// <summary>½‖a_i L − b_j L‖², accurate near zero.</summary>
    override _.PairwiseDivergence(a, b) =
        use scope = torch.NewDisposeScope()
        let pa = VectorBatch.FromTensor(a.mm factor)
        let pb = VectorBatch.FromTensor(b.mm factor)
        VectorDistances.squaredEuclideanPairwise(pa, pb, 0).mul(GeneratorInit.sc 0.5).MoveToOuterDisposeScope()

/// <summary>
/// The max-affine generator φ(x) = max_k (w_kᵀ x + c_k) + ½ε‖x‖², k = 1..K (convex: a maximum of affine functions plus
/// a convex quadratic), the deep Bregman divergence of Cilingir et al. [1, §3] (ε = 0) with an optional strongly convex
/// term; its divergence has the closed form D(x, y) = φ_max(x) − (w_{k*}ᵀ x + c_{k*}) + ½ε‖x − y‖²,
/// k* = argmax_k (w_kᵀ y + c_k).
/// </summary>
/// <remarks>
/// <para>∇φ(y) = w_{k*(y)} + ε y (a subgradient; at ties the lowest k). The pairwise divergence is one [B, d] × [d, K]
/// product, a gather and the accurate pairwise squared Euclidean matrix when ε &gt; 0. With ε = 0, D is 0 whenever x
/// and y select the same piece, so a batch whose embeddings all select one piece has D ≡ 0 and no gradient; ε &gt; 0
/// keeps a Euclidean signal. W starts N(0, 1/d), c at N(0, 0.01).</para>
/// <para>[1] H. K. Cilingir, R. Manzelli, B. Kulis, "Deep Divergence Learning", ICML 2020, arXiv 2005.02612, §3.</para>
/// <para>[2] A. Siahkamari, X. Xia, V. Saligrama, D. Castañón, B. Kulis, "Learning to Approximate a Bregman Divergence", NeurIPS 2020, arXiv 2010.11343 (max-affine φ).</para>
/// </remarks>
[<Sealed>]
type MaxAffineGenerator(dimension: int, pieces: int, strength: float, seed: int64, dtype: torch.ScalarType, device: torch.Device) as this =
    inherit ConvexGenerator("max-affine", dimension)
    do
        Validation.atLeastInt "dimension" 1 dimension
        Validation.atLeastInt "pieces" 1 pieces
        Validation.atLeast "strength" 0.0 strength
        GeneratorInit.checkDType dtype
    let g = GeneratorInit.random seed
    let weight = GeneratorInit.parameter (GeneratorInit.normal g [| int64 pieces; int64 dimension |] 0.0 (1.0 / sqrt (float dimension)) dtype device)
    let bias = GeneratorInit.parameter (GeneratorInit.normal g [| int64 pieces |] 0.0 0.1 dtype device)
    do
        this.register_parameter ("weight", weight)
        this.register_parameter ("bias", bias)
    let half = GeneratorInit.sc (0.5 * strength)

    /// <summary>The slopes W, [K, d].</summary>
    member _.Weight : torch.Tensor = weight
    /// <summary>The intercepts c, [K].</summary>
    member _.Bias : torch.Tensor = bias
    /// <summary>The weight ε of ½ε‖x‖².</summary>
    member _.Strength = strength
    /// <summary>"max-affine".</summary>
    override _.Kind = "max-affine"
    /// <summary>dimension, pieces, strength, seed.</summary>
    override _.HyperParameters =
        readOnlyDict
            [ "dimension", string dimension
              "pieces", string pieces
              "strength", strength.ToString("R", Globalization.CultureInfo.InvariantCulture)
              "seed", string seed ]
    /// <summary>max_k (W x + c)_k + ½ε‖x‖² per row.</summary>
    override _.Value(x) =
        use scope = torch.NewDisposeScope()
        let m = torch.nn.functional.linear(x, weight, bias).amax([| 1L |])
        let m = if strength > 0.0 then m.add (x.pow(GeneratorInit.sc 2.0).sum(1L), half) else m
        m.MoveToOuterDisposeScope()
    /// <summary>w_{k*(x)} + ε x (closed form).</summary>
    override _.Gradient(x) =
        use scope = torch.NewDisposeScope()
        let k = torch.nn.functional.linear(x, weight, bias).argmax(1L)
        let w = weight.index_select(0L, k)
        let w = if strength > 0.0 then w.add (x, GeneratorInit.sc strength) else w
        w.MoveToOuterDisposeScope()
    /// <summary>φ_max(a_i) − (w_{k*(b_i)}ᵀ a_i + c_{k*(b_i)}) + ½ε‖a_i − b_i‖².</summary>
    override _.PairedDivergence(a, b) =
        use scope = torch.NewDisposeScope()
        let scores = torch.nn.functional.linear(a, weight, bias)
        let k = torch.nn.functional.linear(b, weight, bias).argmax(1L)
        let d = scores.amax([| 1L |]).sub(scores.gather(1L, k.unsqueeze 1L).squeeze(1L))
        let d = if strength > 0.0 then d.add (a.sub(b).pow(GeneratorInit.sc 2.0).sum(1L), half) else d
        d.MoveToOuterDisposeScope()
    /// <summary>φ_max(a_i) − (w_{k*(b_j)}ᵀ a_i + c_{k*(b_j)}) + ½ε‖a_i − b_j‖².</summary>
    override _.PairwiseDivergence(a, b) =
        use scope = torch.NewDisposeScope()
        let scores = torch.nn.functional.linear(a, weight, bias)
        let k = torch.nn.functional.linear(b, weight, bias).argmax(1L)
        let d = scores.amax([| 1L |]).unsqueeze(1L).sub(scores.index_select(1L, k))
        let d =
            if strength > 0.0 then
                let squared = VectorDistances.squaredEuclideanPairwise (VectorBatch.FromTensor a, VectorBatch.FromTensor b, 0)
                d.add (squared, half)
            else d
        d.MoveToOuterDisposeScope()

/// <summary>
/// The smooth max-affine generator φ(x) = τ log Σ_k exp((w_kᵀ x + c_k)/τ) (convex: the log-sum-exp of affine
/// functions), a differentiable relaxation of the max-affine generator that tends to it as τ → 0.
/// </summary>
/// <remarks>
/// <para>∇φ(x) = Σ_k softmax((W x + c)/τ)_k w_k in closed form; the divergence uses the generic pairwise form.
/// φ ≤ max_k(…) + τ log K.</para>
/// <para>[1] S. Boyd, L. Vandenberghe, Convex Optimization, Cambridge (2004), §3.1.5 (log-sum-exp is convex).</para>
/// <para>[2] H. K. Cilingir, R. Manzelli, B. Kulis, "Deep Divergence Learning", ICML 2020, arXiv 2005.02612, §3.</para>
/// </remarks>
[<Sealed>]
type SmoothMaxAffineGenerator(dimension: int, pieces: int, temperature: float, seed: int64, dtype: torch.ScalarType, device: torch.Device) as this =
    inherit ConvexGenerator("smooth-max-affine", dimension)
    do
        Validation.atLeastInt "dimension" 1 dimension
        Validation.atLeastInt "pieces" 1 pieces
        Validation.positive "temperature" temperature
        GeneratorInit.checkDType dtype
    let g = GeneratorInit.random seed
    let weight = GeneratorInit.parameter (GeneratorInit.normal g [| int64 pieces; int64 dimension |] 0.0 (1.0 / sqrt (float dimension)) dtype device)
    let bias = GeneratorInit.parameter (GeneratorInit.normal g [| int64 pieces |] 0.0 0.1 dtype device)
    do
        this.register_parameter ("weight", weight)
        this.register_parameter ("bias", bias)
    let scaled (x: torch.Tensor) = torch.nn.functional.linear(x, weight, bias).mul(GeneratorInit.sc (1.0 / temperature))

    /// <summary>The slopes W, [K, d].</summary>
    member _.Weight : torch.Tensor = weight
    /// <summary>The intercepts c, [K].</summary>
    member _.Bias : torch.Tensor = bias
    /// <summary>The temperature τ.</summary>
    member _.Temperature = temperature
    /// <summary>"smooth-max-affine".</summary>
    override _.Kind = "smooth-max-affine"
    /// <summary>dimension, pieces, temperature, seed.</summary>
    override _.HyperParameters =
        readOnlyDict
            [ "dimension", string dimension
              "pieces", string pieces
              "temperature", temperature.ToString("R", Globalization.CultureInfo.InvariantCulture)
              "seed", string seed ]
    /// <summary>τ logsumexp((W x + c)/τ) per row.</summary>
    override _.Value(x) =
        use scope = torch.NewDisposeScope()
        torch.logsumexp(scaled x, 1L).mul(GeneratorInit.sc temperature).MoveToOuterDisposeScope()
    /// <summary>softmax((W x + c)/τ) W (closed form).</summary>
    override _.Gradient(x) =
        use scope = torch.NewDisposeScope()
        (scaled x).softmax(1L).mm(weight).MoveToOuterDisposeScope()

/// <summary>
/// An input-convex neural network (ICNN) generator [1]: z₁ = s(A₀ x + c₀), z_{l+1} = s(W_l z_l + A_l x + c_l),
/// φ(x) = w_Lᵀ z_L + ½ ε ‖x‖², with s = softplus (convex, non-decreasing) and every hidden-to-hidden and output
/// weight W_l, w_L non-negative by construction (W_l = softplus(V_l) of an unconstrained V_l); the passthrough
/// weights A_l and biases c_l from x are unconstrained. (The final affine term aᵀx of [1] is left out: a Bregman
/// divergence does not depend on affine terms of φ.)
/// </summary>
/// <remarks>
/// <para>Convexity [1, Prop. 1]: a non-negative combination of convex functions, composed with a convex
/// non-decreasing activation, plus affine terms in x, is convex. ε ≥ 0 adds ½ε‖x‖², so D_φ ≥ ½ε‖x − y‖² (strictly
/// positive for x ≠ y when ε &gt; 0), the neural Bregman divergence of [2]. ∇φ by autograd.</para>
/// <para>[1] B. Amos, L. Xu, J. Z. Kolter, "Input Convex Neural Networks", ICML 2017, arXiv 1609.07152, eq. 2 and Prop. 1.</para>
/// <para>[2] F. Lu, E. Raff, F. Ferraro, "Neural Bregman Divergences for Distance Learning", ICLR 2023, arXiv 2206.04763.</para>
/// <para>[3] X. Li, Y. Liu, H. Zou, A. Ralescu, "Learning Empirical Bregman Divergence for Uncertain Distance Representation", arXiv 2304.07689.</para>
/// </remarks>
[<Sealed>]
type IcnnGenerator(dimension: int, hidden: int[], strength: float, seed: int64, dtype: torch.ScalarType, device: torch.Device) as this =
    inherit ConvexGenerator("icnn", dimension)
    do
        Validation.atLeastInt "dimension" 1 dimension
        Validation.nonEmpty "hidden" hidden
        hidden |> Array.iteri (fun i h -> if h < 1 then Validation.fail "hidden" $"hidden[{i}] = {h} is invalid; every layer width must be ≥ 1.")
        Validation.atLeast "strength" 0.0 strength
        GeneratorInit.checkDType dtype
    let g = GeneratorInit.random seed
    let d = int64 dimension
    let widths = hidden |> Array.map int64
    let passWeights =
        widths |> Array.map (fun h -> GeneratorInit.parameter (GeneratorInit.uniform g [| h; d |] (1.0 / sqrt (float d)) dtype device))
    let passBiases = widths |> Array.map (fun h -> GeneratorInit.parameter (torch.zeros([| h |], dtype = dtype, device = device)))
    // Raw hidden-to-hidden weights V_l: W_l = softplus(V_l) starts near 1/h_l (mean) with a small spread.
    let rawHidden =
        Array.init (widths.Length - 1) (fun l ->
            let h, previous = widths.[l + 1], widths.[l]
            GeneratorInit.parameter (GeneratorInit.normal g [| h; previous |] (GeneratorInit.inverseSoftplus (1.0 / float previous)) 0.1 dtype device))
    let last = widths.[widths.Length - 1]
    let rawOutput = GeneratorInit.parameter (GeneratorInit.normal g [| last |] (GeneratorInit.inverseSoftplus (1.0 / float last)) 0.1 dtype device)
    do
        passWeights |> Array.iteri (fun l p -> this.register_parameter ($"pass{l}_weight", p))
        passBiases |> Array.iteri (fun l p -> this.register_parameter ($"pass{l}_bias", p))
        rawHidden |> Array.iteri (fun l p -> this.register_parameter ($"hidden{l + 1}_raw", p))
        this.register_parameter ("output_raw", rawOutput)

    /// <summary>The hidden widths.</summary>
    member _.Hidden = Array.copy hidden
    /// <summary>The weight ε of ½ε‖x‖².</summary>
    member _.Strength = strength
    /// <summary>The effective (non-negative) hidden-to-hidden weights W_l = softplus(V_l), l = 1..L−1.</summary>
    /// <returns>L − 1 tensors [h_{l+1}, h_l].</returns>
    member _.HiddenWeights() : torch.Tensor[] = rawHidden |> Array.map (fun v -> torch.nn.functional.softplus (v))
    /// <summary>"icnn".</summary>
    override _.Kind = "icnn"
    /// <summary>dimension, hidden, strength, seed.</summary>
    override _.HyperParameters =
        readOnlyDict
            [ "dimension", string dimension
              "hidden", String.Join(",", hidden)
              "strength", strength.ToString("R", Globalization.CultureInfo.InvariantCulture)
              "seed", string seed ]
    /// <summary>φ(x) per row.</summary>
    override _.Value(x) =
        use scope = torch.NewDisposeScope()
        let mutable z = torch.nn.functional.softplus (torch.nn.functional.linear (x, passWeights.[0], passBiases.[0]))
        for l in 1 .. widths.Length - 1 do
            let w = torch.nn.functional.softplus (rawHidden.[l - 1])
            let pre = z.mm(w.t ()).add (torch.nn.functional.linear (x, passWeights.[l], passBiases.[l]), GeneratorInit.sc 1.0)
            z <- torch.nn.functional.softplus pre
        let result = z.mv (torch.nn.functional.softplus rawOutput)
        let result =
            if strength > 0.0 then result.add (x.pow(GeneratorInit.sc 2.0).sum(1L), GeneratorInit.sc (0.5 * strength))
            else result
        result.MoveToOuterDisposeScope()

/// <summary>Factory of the convex generators by kind name.</summary>
[<RequireQualifiedAccess>]
module ConvexGenerators =

    /// <summary>The kinds <see cref="M:DistEmbed.Core.Bregman.ConvexGenerators.Create"/> accepts.</summary>
    [<CompiledName("Kinds")>]
    let kinds = [| "quadratic"; "max-affine"; "smooth-max-affine"; "icnn" |]

    /// <summary>A generator of the given kind on ℝ^d.</summary>
    /// <param name="kind">quadratic, max-affine, smooth-max-affine or icnn (case-insensitive).</param>
    /// <param name="dimension">d ≥ 1.</param>
    /// <param name="options">Hyper-parameters; null for the defaults.</param>
    /// <param name="dtype">float32 or float64 parameters.</param>
    /// <param name="device">Device of the parameters; null means CPU.</param>
    /// <returns>The generator (a TorchSharp module).</returns>
    /// <exception cref="T:System.ArgumentException">An unknown kind (names kind) or an invalid hyper-parameter (names it).</exception>
    [<CompiledName("Create")>]
    let create (kind: string, dimension: int, options: GeneratorOptions, dtype: torch.ScalarType, device: torch.Device) : ConvexGenerator =
        NativeRuntime.EnsureInitialized()
        Validation.notNull "kind" kind
        let o = if isNull options then GeneratorOptions() else options
        let device = if isNull device then torch.CPU else device
        match kind.Trim().ToLowerInvariant() with
        | "quadratic" -> new QuadraticGenerator(dimension, o.Rank, dtype, device) :> ConvexGenerator
        | "max-affine" -> new MaxAffineGenerator(dimension, o.Pieces, o.Strength, o.Seed, dtype, device)
        | "smooth-max-affine" -> new SmoothMaxAffineGenerator(dimension, o.Pieces, o.Temperature, o.Seed, dtype, device)
        | "icnn" ->
            Validation.notNull "hidden" o.Hidden
            new IcnnGenerator(dimension, o.Hidden, o.Strength, o.Seed, dtype, device)
        | other ->
            let valid = String.Join(", ", kinds)
            Validation.fail "kind" $"kind = '{other}' is unknown; valid kinds: {valid}."
