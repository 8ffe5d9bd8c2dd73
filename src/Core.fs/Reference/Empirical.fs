namespace DistEmbed.Core.Reference

open DistEmbed.Core

/// <summary>
/// A weighted empirical distribution μ = Σ_i w_i δ_{x_i} in ℝ^d, in float64 on plain arrays:
/// the representation the float64 reference works on.
/// </summary>
/// <remarks>
/// <c>Points</c> is T × d (row i is the point x_i); <c>Weights</c> has length T, is non-negative and sums to one.
/// Points with zero weight are allowed (they are padding and change no distance).
/// </remarks>
[<Sealed>]
type Empirical private (points: float[,], weights: float[]) =
    /// <summary>The points, T × d (row i is x_i).</summary>
    member _.Points = points
    /// <summary>The weights, length T, non-negative, summing to one.</summary>
    member _.Weights = weights
    /// <summary>The number of points T (padding included).</summary>
    member _.Count = Array2D.length1 points
    /// <summary>The dimension d.</summary>
    member _.Dimension = Array2D.length2 points
    /// <summary>Coordinate <paramref name="k"/> of every point, length T.</summary>
    member _.Column(k: int) = Array.init (Array2D.length1 points) (fun i -> points.[i, k])

    /// <summary>
    /// Creates a weighted empirical distribution, checking the inputs and normalising the weights to sum to one.
    /// </summary>
    /// <param name="points">T × d points (T ≥ 1, d ≥ 1), all finite.</param>
    /// <param name="weights">Length T, finite, non-negative, not all zero.</param>
    /// <exception cref="T:System.ArgumentException">An argument is empty, not finite, has a negative or all-zero weight, or the lengths differ.</exception>
    static member Create(points: float[,], weights: float[]) =
        Validation.notNull "points" points
        if Array2D.length1 points = 0 || Array2D.length2 points = 0 then
            Validation.fail "points" $"points has shape [{Array2D.length1 points},{Array2D.length2 points}]; a distribution needs at least one point of dimension at least one."
        Validation.finite2D "points" points
        Validation.notNull "weights" weights
        Validation.sameLength "weights" (Array2D.length1 points) weights.Length "points (rows)"
        let w = Validation.weights "weights" weights
        Empirical(Array2D.copy points, w)

    /// <summary>Creates the uniform distribution on the T rows of <paramref name="points"/>.</summary>
    /// <param name="points">T × d points (T ≥ 1, d ≥ 1), all finite.</param>
    static member Uniform(points: float[,]) =
        Validation.notNull "points" points
        Empirical.Create(points, Array.create (Array2D.length1 points) 1.0)

    /// <summary>Creates a one-dimensional weighted distribution from values (a T × 1 distribution).</summary>
    /// <param name="values">Length T ≥ 1, finite.</param>
    /// <param name="weights">Length T, non-negative, not all zero.</param>
    static member OfValues(values: float[], weights: float[]) =
        Validation.nonEmpty "values" values
        Empirical.Create(Array2D.init values.Length 1 (fun i _ -> values.[i]), weights)
