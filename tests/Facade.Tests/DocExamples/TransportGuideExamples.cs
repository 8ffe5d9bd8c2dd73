using DistEmbed;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/distances.md's section on unbalanced transport and barycenters.</summary>
public sealed class TransportGuideExamples
{
    [Fact]
    public void UnbalancedTransportAndBarycenters()
    {
        #region snippet:transport-unbalanced
        // Two measures on the line with different total masses (1 and 1.5), one far-away atom in b.
        double[,] x = { { 0.0 }, { 1.0 } }, y = { { 0.1 }, { 1.1 }, { 10.0 } };
        double[] a = [0.5, 0.5], b = [0.5, 0.5, 0.5];
        // ε = 0.05, ρ = 1: the far atom's mass is mostly destroyed rather than transported (cost 10² = 100).
        var r = Transport.UnbalancedSinkhorn(x, a, y, b, epsilon: 0.05, rho: 1.0);
        // POT's convention (entropy relative to the counting measure): ot.unbalanced.sinkhorn_unbalanced2.
        var pot = Transport.UnbalancedSinkhorn(x, a, y, b, epsilon: 0.05, rho: 1.0, reference: EntropyReference.Counting);
        double s = Transport.UnbalancedDivergence(x, a, y, b, epsilon: 0.05, rho: 1.0);   // ≥ 0, 0 for a = b

        // W2 barycenters: of two quantile functions (their mean), and free support from an initial guess.
        double[] q = Transport.QuantileBarycenter([[0.0, 1.0, 2.0], [2.0, 3.0, 6.0]]);          // [1, 2, 4]
        double[,] centre = Transport.FreeSupportBarycenter(
            [new double[,] { { 0, 0 }, { 2, 0 } }, new double[,] { { 0, 2 }, { 2, 2 } }], [[0.5, 0.5], [0.5, 0.5]],
            initialSupport: new double[,] { { 0.5, 0.5 }, { 1.5, 1.5 } });                       // (0, 1) and (2, 1)
        #endregion
        Assert.True(r.Converged);
        Assert.InRange(r.Mass, 0.9, 1.25);                    // less than b's 1.5: the far atom is not transported
        Assert.InRange(r.TransportCost, 0, 1.0);
        Assert.True(pot.TransportCost > 0);
        Assert.True(s > 0);
        Assert.InRange(Transport.UnbalancedDivergence(x, a, x, a, 0.05, 1.0), -1e-9, 1e-9);
        Assert.Equal([1.0, 2.0, 4.0], q);
        Assert.Equal(0.0, centre[0, 0], 9);
        Assert.Equal(1.0, centre[0, 1], 9);
        Assert.Equal(2.0, centre[1, 0], 9);
        Assert.Equal(1.0, centre[1, 1], 9);
        var bad = Assert.Throws<ArgumentException>(() => Transport.UnbalancedSinkhorn(x, a, y, [0.5, -1.0, 0.5], 0.05, 1.0));
        Assert.Equal("b", bad.ParamName);
        Assert.Equal("rho", Assert.Throws<ArgumentException>(() => Transport.UnbalancedSinkhorn(x, a, y, b, 0.05, -1.0)).ParamName);
    }
}
