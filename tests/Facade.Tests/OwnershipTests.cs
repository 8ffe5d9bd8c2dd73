using DistEmbed.Core;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>Public types that hold tensors (native memory) are IDisposable.</summary>
public sealed class OwnershipTests
{
    /// <summary>Types whose tensor properties are inputs the caller keeps owning (options), not results.</summary>
    private static readonly HashSet<Type> Borrowing = [typeof(DistanceOptions), typeof(DistanceSettings)];

    [Fact]
    public void EveryPublicTypeThatHoldsTensorsIsDisposable()
    {
        var offenders = ApiSurfaceTests.Assemblies
            .SelectMany(a => a.GetExportedTypes())
            .Where(t => !t.IsInterface && !Borrowing.Contains(t))
            .Where(t => t.GetProperties().Any(p => p.PropertyType == typeof(torch.Tensor)))
            .Where(t => !typeof(IDisposable).IsAssignableFrom(t))
            .Select(t => t.FullName)
            .ToList();
        Assert.True(offenders.Count == 0, "types that hold tensors but are not IDisposable: " + string.Join(", ", offenders));
    }

    [Fact]
    public void GaussianFitsDisposeTheirTensors()
    {
        using var points = torch.randn(new long[] { 2, 5, 3 }, dtype: torch.float64);
        using var batch = DistributionBatch.FromTensors(points.clone(), null);
        var fits = Bures.Fit(batch);
        Assert.Equal(new long[] { 2, 3, 3 }, fits.Covariances.shape);
        ((IDisposable)fits).Dispose();
        Assert.True(fits.Means.IsInvalid);
        Assert.True(fits.Covariances.IsInvalid);
    }
}
