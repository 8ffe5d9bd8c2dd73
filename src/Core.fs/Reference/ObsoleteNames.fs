namespace DistEmbed.Core.Reference

open System

// The reference modules' former names, kept as obsolete forwarding modules for one version: each reference module
// now has the name of its tensor counterpart (Reference.MarginalWasserstein ↔ MarginalWasserstein, …).

/// <summary>The former name of <see cref="T:DistEmbed.Core.Reference.MarginalWasserstein"/> (renamed to match the tensor module <c>DistEmbed.Core.MarginalWasserstein</c>); it forwards every call and goes in the next version.</summary>
[<Obsolete("Reference.Marginal is renamed Reference.MarginalWasserstein (the name of its tensor counterpart); this alias will be removed in the next version.")>]
[<RequireQualifiedAccess>]
module Marginal =

    /// <summary>Obsolete: calls <c>Reference.MarginalWasserstein.costP</c>.</summary>
    [<CompiledName("CostP")>]
    let costP (p: float, a: Empirical, b: Empirical) : float = DistEmbed.Core.Reference.MarginalWasserstein.costP (p, a, b)

    /// <summary>Obsolete: calls <c>Reference.MarginalWasserstein.wasserstein</c>.</summary>
    [<CompiledName("Wasserstein")>]
    let wasserstein (p: float, a: Empirical, b: Empirical) : float = DistEmbed.Core.Reference.MarginalWasserstein.wasserstein (p, a, b)

    /// <summary>Obsolete: calls <c>Reference.MarginalWasserstein.costPGradient</c>.</summary>
    [<CompiledName("CostPGradient")>]
    let costPGradient (p: float, a: Empirical, b: Empirical) : float[,] * float[,] = DistEmbed.Core.Reference.MarginalWasserstein.costPGradient (p, a, b)

/// <summary>The former name of <see cref="T:DistEmbed.Core.Reference.SlicedWasserstein"/> (renamed to match the tensor module <c>DistEmbed.Core.SlicedWasserstein</c>); it forwards every call and goes in the next version.</summary>
[<Obsolete("Reference.Sliced is renamed Reference.SlicedWasserstein (the name of its tensor counterpart); this alias will be removed in the next version.")>]
[<RequireQualifiedAccess>]
module Sliced =

    /// <summary>Obsolete: calls <c>Reference.SlicedWasserstein.wasserstein</c>.</summary>
    [<CompiledName("Wasserstein")>]
    let wasserstein (p: float, a: Empirical, b: Empirical, directions: float[,]) : float = DistEmbed.Core.Reference.SlicedWasserstein.wasserstein (p, a, b, directions)

    /// <summary>Obsolete: calls <c>Reference.SlicedWasserstein.maxSliced</c>.</summary>
    [<CompiledName("MaxSliced")>]
    let maxSliced (p: float, a: Empirical, b: Empirical, directions: float[,]) : float = DistEmbed.Core.Reference.SlicedWasserstein.maxSliced (p, a, b, directions)

    /// <summary>Obsolete: calls <c>Reference.SlicedWasserstein.randomDirections</c>.</summary>
    [<CompiledName("RandomDirections")>]
    let randomDirections (count: int, dimension: int, seed: int) : float[,] = DistEmbed.Core.Reference.SlicedWasserstein.randomDirections (count, dimension, seed)

/// <summary>The former name of <see cref="T:DistEmbed.Core.Reference.KernelDistances"/> (renamed to match the tensor module <c>DistEmbed.Core.KernelDistances</c>); it forwards every call and goes in the next version.</summary>
[<Obsolete("Reference.Kernel is renamed Reference.KernelDistances (the name of its tensor counterpart); this alias will be removed in the next version.")>]
[<RequireQualifiedAccess>]
module Kernel =

    /// <summary>Obsolete: calls <c>Reference.KernelDistances.mmdSquared</c>.</summary>
    [<CompiledName("MmdSquared")>]
    let mmdSquared (a: Empirical, b: Empirical, bandwidths: float[], biased: bool) : float = DistEmbed.Core.Reference.KernelDistances.mmdSquared (a, b, bandwidths, biased)

    /// <summary>Obsolete: calls <c>Reference.KernelDistances.energyDistance</c>.</summary>
    [<CompiledName("EnergyDistance")>]
    let energyDistance (a: Empirical, b: Empirical) : float = DistEmbed.Core.Reference.KernelDistances.energyDistance (a, b)

/// <summary>The former name of <see cref="T:DistEmbed.Core.Reference.Bures"/> (renamed to match the tensor module <c>DistEmbed.Core.Bures</c>); it forwards every call and goes in the next version.</summary>
[<Obsolete("Reference.Gaussian is renamed Reference.Bures (the name of its tensor counterpart); this alias will be removed in the next version.")>]
[<RequireQualifiedAccess>]
module Gaussian =

    /// <summary>Obsolete: calls <c>Reference.Bures.fit</c>.</summary>
    [<CompiledName("Fit")>]
    let fit (a: Empirical) : float[] * float[,] = DistEmbed.Core.Reference.Bures.fit (a)

    /// <summary>Obsolete: calls <c>Reference.Bures.buresSquared</c>.</summary>
    [<CompiledName("BuresSquared")>]
    let buresSquared (m1: float[], s1: float[,], m2: float[], s2: float[,]) : float = DistEmbed.Core.Reference.Bures.buresSquared (m1, s1, m2, s2)

    /// <summary>Obsolete: calls <c>Reference.Bures.buresDiagonalSquared</c>.</summary>
    [<CompiledName("BuresDiagonalSquared")>]
    let buresDiagonalSquared (m1: float[], sd1: float[], m2: float[], sd2: float[]) : float = DistEmbed.Core.Reference.Bures.buresDiagonalSquared (m1, sd1, m2, sd2)

    /// <summary>Obsolete: calls <c>Reference.Bures.buresOfFitsSquared</c>.</summary>
    [<CompiledName("BuresOfFitsSquared")>]
    let buresOfFitsSquared (a: Empirical, b: Empirical, diagonal: bool) : float = DistEmbed.Core.Reference.Bures.buresOfFitsSquared (a, b, diagonal)

    /// <summary>Obsolete: calls <c>Reference.Bures.buresOfFitsGradient</c>.</summary>
    [<CompiledName("BuresOfFitsGradient")>]
    let buresOfFitsGradient (a: Empirical, b: Empirical, diagonal: bool) : float[,] * float[,] = DistEmbed.Core.Reference.Bures.buresOfFitsGradient (a, b, diagonal)

/// <summary>The former name of <see cref="T:DistEmbed.Core.Reference.Barycenters"/> (renamed to match the tensor module <c>DistEmbed.Core.Barycenters</c>); it forwards every call and goes in the next version.</summary>
[<Obsolete("Reference.Barycenter is renamed Reference.Barycenters (the name of its tensor counterpart); this alias will be removed in the next version.")>]
[<RequireQualifiedAccess>]
module Barycenter =

    /// <summary>Obsolete: calls <c>Reference.Barycenters.ofQuantiles</c>.</summary>
    [<CompiledName("OfQuantiles")>]
    let ofQuantiles (quantiles: float[][], lambdas: float[]) : float[] = DistEmbed.Core.Reference.Barycenters.ofQuantiles (quantiles, lambdas)

    /// <summary>Obsolete: calls <c>Reference.Barycenters.oneDimensional</c>.</summary>
    [<CompiledName("OneDimensional")>]
    let oneDimensional (values: float[][], weights: float[][], lambdas: float[]) : float[] * float[] = DistEmbed.Core.Reference.Barycenters.oneDimensional (values, weights, lambdas)

    /// <summary>Obsolete: calls <c>Reference.Barycenters.marginal</c>.</summary>
    [<CompiledName("Marginal")>]
    let marginal (distributions: Empirical[], lambdas: float[]) : (float[] * float[])[] = DistEmbed.Core.Reference.Barycenters.marginal (distributions, lambdas)

    /// <summary>Obsolete: calls <c>Reference.Barycenters.freeSupport</c>.</summary>
    [<CompiledName("FreeSupport")>]
    let freeSupport (distributions: Empirical[], lambdas: float[], xInit: float[,], b: float[], maxIterations: int, stopThreshold: float) : float[,] * int = DistEmbed.Core.Reference.Barycenters.freeSupport (distributions, lambdas, xInit, b, maxIterations, stopThreshold)

    /// <summary>Obsolete: calls <c>Reference.Barycenters.objective</c>.</summary>
    [<CompiledName("Objective")>]
    let objective (distributions: Empirical[], lambdas: float[], candidate: Empirical) : float = DistEmbed.Core.Reference.Barycenters.objective (distributions, lambdas, candidate)
