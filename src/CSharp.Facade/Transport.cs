using DistEmbed.Core;
using TorchSharp;
using Ref = DistEmbed.Core.Reference;

namespace DistEmbed;

/// <summary>The reference measure μ⊗ν of the entropic term ε·KL(P | μ⊗ν) of unbalanced transport.</summary>
public enum EntropyReference
{
    /// <summary>a⊗b, the product of the two measures (Séjourné et al. 2019; GeomLoss): the debiased divergence is ≥ 0 and
    /// zero for equal measures. The default.</summary>
    Product = 0,
    /// <summary>The counting measure on the support points (POT 0.8.2's <c>ot.unbalanced.sinkhorn_unbalanced</c>).</summary>
    Counting = 1,
}

/// <summary>The outcome of an unbalanced Sinkhorn solve between two measures with masses.</summary>
/// <param name="TransportCost">⟨P, C⟩ of the plan (POT's <c>sinkhorn_unbalanced2</c> for <see cref="EntropyReference.Counting"/>).</param>
/// <param name="Cost">The unbalanced entropic cost OT_ε,ρ (the dual value, = the primal objective with its KL terms at convergence).</param>
/// <param name="Mass">The plan's mass Σ P_ij.</param>
/// <param name="Plan">The plan, n × m.</param>
/// <param name="Converged">Whether the solver met its tolerance.</param>
public sealed record UnbalancedTransport(double TransportCost, double Cost, double Mass, double[,] Plan, bool Converged);

/// <summary>
/// Optimal-transport tools on plain arrays: unbalanced Sinkhorn (KL-relaxed marginals) and its debiased divergence,
/// and Wasserstein-2 barycenters (quantile functions, 1-D distributions, free-support point clouds). Costs are
/// ‖x − y‖² (squared Euclidean); computation runs in float64 on the CPU.
/// </summary>
/// <remarks>
/// The unbalanced problem is min_P ⟨P, C⟩ + ε KL(P | μ⊗ν) + ρ KL(P1 | a) + ρ KL(Pᵀ1 | b) (Chizat et al. 2018;
/// Séjourné et al. 2019): ρ is POT's <c>reg_m</c>, GeomLoss's <c>reach</c>² for this cost; ρ = ∞ is balanced transport.
/// The catalog distances <c>sinkhorn-unbalanced</c> and <c>sinkhorn-divergence-unbalanced</c> (option <c>Rho</c>)
/// are the batched, differentiable forms on distribution batches.
/// </remarks>
public static class Transport
{
    /// <summary>Solves unbalanced entropic OT between a = Σ a_i δ_{x_i} and b = Σ b_j δ_{y_j} (masses not normalised).</summary>
    /// <param name="x">n × d points of a.</param>
    /// <param name="a">n masses of a (≥ 0, not all zero).</param>
    /// <param name="y">m × d points of b.</param>
    /// <param name="b">m masses of b.</param>
    /// <param name="epsilon">ε &gt; 0 in cost units.</param>
    /// <param name="rho">ρ &gt; 0 (<see cref="double.PositiveInfinity"/>: balanced).</param>
    /// <param name="reference">The entropy's reference measure: a⊗b (default; GeomLoss) or the counting measure (POT).</param>
    /// <param name="maxIterations">Iteration cap (≥ 1).</param>
    /// <param name="tolerance">Stopping tolerance on the potentials' change over ε (&gt; 0).</param>
    /// <returns>The costs, the mass and the plan.</returns>
    /// <exception cref="ArgumentException">A shape or value is invalid (the message names the argument).</exception>
    public static UnbalancedTransport UnbalancedSinkhorn(double[,] x, double[] a, double[,] y, double[] b, double epsilon, double rho,
        EntropyReference reference = EntropyReference.Product, int maxIterations = 10000, double tolerance = 1e-9)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Length != x.GetLength(0)) throw new ArgumentException($"a has {a.Length} masses but x has {x.GetLength(0)} points; they must match.", nameof(a));
        if (b.Length != y.GetLength(0)) throw new ArgumentException($"b has {b.Length} masses but y has {y.GetLength(0)} points; they must match.", nameof(b));
        NativeRuntime.EnsureInitialized();
        using var scope = torch.NewDisposeScope();
        var xa = torch.tensor(x, torch.ScalarType.Float64).unsqueeze(0);
        var ya = torch.tensor(y, torch.ScalarType.Float64).unsqueeze(0);
        var wa = torch.tensor(a, torch.ScalarType.Float64).unsqueeze(0);
        var wb = torch.tensor(b, torch.ScalarType.Float64).unsqueeze(0);
        var d = SinkhornOptions.Create(1.0);
        var options = new SinkhornOptions(epsilon, 2, maxIterations, tolerance, d.CheckEvery, 0.0, d.Gradient, d.BlockSize, true, Core.SinkhornNonConvergence.Ignore);
        try
        {
            using var r = Sinkhorn.SolveUnbalanced(xa, wa, ya, wb, rho, (Core.EntropyReference)(int)reference, options);
            var plan = r.Plan.squeeze(0).data<double>().ToArray();
            int n = x.GetLength(0), m = y.GetLength(0);
            var p = new double[n, m];
            for (var i = 0; i < n; i++)
                for (var j = 0; j < m; j++)
                    p[i, j] = plan[i * m + j];
            return new UnbalancedTransport(r.TransportCost.item<double>(), r.EntropicCost.item<double>(), r.Mass.item<double>(), p, r.Converged);
        }
        catch (ArgumentException e) when (e.ParamName is "pointsA" or "massesA" or "pointsB" or "massesB" or "options")
        {
            var name = e.ParamName switch { "pointsA" => nameof(x), "massesA" => nameof(a), "pointsB" => nameof(y), "massesB" => nameof(b), _ => nameof(epsilon) };
            throw new ArgumentException($"{name}: {e.Message.Split(" (Parameter")[0]}", name, e);
        }
    }

    /// <summary>
    /// The debiased unbalanced Sinkhorn divergence S = OT(a, b) − ½OT(a, a) − ½OT(b, b) + (ε/2)(m(a) − m(b))² (Séjourné
    /// et al. 2019), ≥ 0 and zero for a = b, between measures with masses (float64 reference solver).
    /// </summary>
    /// <param name="x">n × d points of a.</param>
    /// <param name="a">n masses of a.</param>
    /// <param name="y">m × d points of b.</param>
    /// <param name="b">m masses of b.</param>
    /// <param name="epsilon">ε &gt; 0.</param>
    /// <param name="rho">ρ &gt; 0.</param>
    /// <param name="maxIterations">Iteration cap of each of the three solves.</param>
    /// <param name="tolerance">Stopping tolerance of each solve.</param>
    /// <returns>S.</returns>
    /// <exception cref="ArgumentException">A shape or value is invalid (the message names the argument).</exception>
    public static double UnbalancedDivergence(double[,] x, double[] a, double[,] y, double[] b, double epsilon, double rho,
        int maxIterations = 10000, double tolerance = 1e-9) =>
        Ref.UnbalancedSinkhorn.Divergence(2.0, x, a, y, b, epsilon, rho, maxIterations, tolerance);

    /// <summary>The W2 barycenter of quantile functions on shared levels: their weighted mean (exact).</summary>
    /// <param name="quantiles">N quantile functions of one length Q.</param>
    /// <param name="lambdas">N barycentric weights, or null for uniform.</param>
    /// <returns>The barycenter's quantile function.</returns>
    /// <exception cref="ArgumentException">Unequal lengths, non-finite values or bad weights.</exception>
    public static double[] QuantileBarycenter(double[][] quantiles, double[]? lambdas = null) => Ref.Barycenters.OfQuantiles(quantiles, lambdas);

    /// <summary>The exact W2 barycenter of one-dimensional weighted distributions (quantile functions on the merged levels).</summary>
    /// <param name="values">N value arrays.</param>
    /// <param name="weights">N weight arrays (normalised per distribution).</param>
    /// <param name="lambdas">N barycentric weights, or null for uniform.</param>
    /// <returns>The barycenter's points and weights.</returns>
    /// <exception cref="ArgumentException">Mismatched lengths, non-finite values or bad weights.</exception>
    public static (double[] Points, double[] Weights) Barycenter1D(double[][] values, double[][] weights, double[]? lambdas = null) =>
        Ref.Barycenters.OneDimensional(values, weights, lambdas).ToValueTuple();

    /// <summary>
    /// The free-support W2 barycenter of point clouds with k atoms of fixed weights (Cuturi &amp; Doucet 2014, Alg. 2,
    /// exact plans; POT's <c>ot.lp.free_support_barycenter</c>), from an initial support.
    /// </summary>
    /// <param name="clouds">N point clouds (n_i × d).</param>
    /// <param name="weights">N weight arrays (normalised per cloud).</param>
    /// <param name="initialSupport">k × d initial atoms.</param>
    /// <param name="lambdas">N barycentric weights, or null for uniform.</param>
    /// <param name="supportWeights">k atom weights, or null for uniform.</param>
    /// <param name="maxIterations">Iteration cap (POT's default 100).</param>
    /// <param name="stopThreshold">Stop when the squared displacement of the support is ≤ this (POT's default 1e-7).</param>
    /// <returns>The barycenter's support, k × d.</returns>
    /// <exception cref="ArgumentException">Mismatched shapes, non-finite values or bad weights.</exception>
    public static double[,] FreeSupportBarycenter(double[][,] clouds, double[][] weights, double[,] initialSupport, double[]? lambdas = null,
        double[]? supportWeights = null, int maxIterations = 100, double stopThreshold = 1e-7)
    {
        ArgumentNullException.ThrowIfNull(clouds);
        ArgumentNullException.ThrowIfNull(weights);
        if (clouds.Length != weights.Length) throw new ArgumentException($"weights has {weights.Length} arrays but clouds has {clouds.Length}; they must match.", nameof(weights));
        var distributions = clouds.Select((c, i) => Ref.Empirical.Create(c, weights[i])).ToArray();
        return Ref.Barycenters.FreeSupport(distributions, lambdas, initialSupport, supportWeights, maxIterations, stopThreshold).Item1;
    }
}
