/// Laws of the Gaussian (Bures–Wasserstein) distances, their analytic gradients against central differences,
/// and of the kernel MMD² and energy distance of the float64 reference.
module DistEmbed.Properties.ReferenceGaussianKernelTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators
open DistEmbed.Properties.ReferenceSupport

// ---------------------------------------------------------------- Gaussian

/// A mean at scale s and a PSD covariance A Aᵀ with A d × r (r from 0 to d + 1, so singular ones appear).
let private gaussianAt (d: int) (s: float) : Gen<float[] * float[,]> =
    gen {
        let entry = Gen.choose (-1000, 1000) |> Gen.map (fun i -> s * float i / 1000.0)
        let! mean = Gen.arrayOfLength d entry
        let! rank = Gen.choose (0, d + 1)
        let! factor = Gen.arrayOfLength (d * rank) entry
        let covariance =
            Array2D.init d d (fun i j -> Seq.sum (seq { for r in 0 .. rank - 1 -> factor.[i * rank + r] * factor.[j * rank + r] }))
        // Make it exactly symmetric (the products above are, but keep the intent explicit).
        return mean, Array2D.init d d (fun i j -> if i <= j then covariance.[i, j] else covariance.[j, i])
    }

/// Two centres and two standard-deviation vectors (non-negative) of one dimension at one scale: (m1, σ1, m2, σ2).
let private diagonalParameters =
    gen {
        let! d = dimension
        let! s = scale
        let entry = Gen.choose (-1000, 1000) |> Gen.map (fun i -> s * float i / 1000.0)
        let! values = Gen.arrayOfLength (4 * d) entry
        return values.[.. d - 1], Array.map abs values.[d .. 2 * d - 1], values.[2 * d .. 3 * d - 1], Array.map abs values.[3 * d ..]
    }

let private gaussianPair =
    gen {
        let! d = dimension
        let! s = scale
        let! g1 = gaussianAt d s
        let! g2 = gaussianAt d s
        return g1, g2
    }

let private trace (s: float[,]) = Seq.sum (seq { for i in 0 .. Array2D.length1 s - 1 -> s.[i, i] })
let private squaredNorm (x: float[]) = Array.sumBy (fun v -> v * v) x
let private difference (x: float[]) (y: float[]) = Array.map2 (-) x y
let private diagonalMatrix (values: float[]) = Array2D.init values.Length values.Length (fun i j -> if i = j then values.[i] else 0.0)

/// Size of a Bures problem, for tolerances: ‖m1 − m2‖² + tr S1 + tr S2.
let private size (m1, s1) (m2, s2) = squaredNorm (difference m1 m2) + trace s1 + trace s2 |> max 1e-300

let private bures (m1, s1) (m2, s2) = Bures.buresSquared (m1, s1, m2, s2)

/// A distribution whose weighted covariance is exactly diagonal: the 2d points c ± √d·σ_k e_k, uniform.
let private axisCross (centre: float[]) (sd: float[]) =
    let d = centre.Length
    let points =
        Array2D.init (2 * d) d (fun i k ->
            let axis, sign = i / 2, (if i % 2 = 0 then 1.0 else -1.0)
            centre.[k] + (if k = axis then sign * sqrt (float d) * sd.[k] else 0.0))
    Empirical.Uniform points

let private gaussianLaws =
    testList
        "Bures"
        [ testCase "fit: weighted mean and biased covariance of {0, 4} with weights (3, 1) are 1 and 3" <| fun () ->
              let mean, covariance = Bures.fit (Empirical.OfValues([| 0.0; 4.0 |], [| 3.0; 1.0 |]))
              expectClose 1e-15 "mean" 1.0 mean.[0]
              expectClose 1e-15 "variance" 3.0 covariance.[0, 0]
          property "fit: one point has zero covariance; translation moves the mean only" 200 (Gen.zip pair (Gen.choose (-1000, 1000))) (fun ((a, _), c) ->
              let shift = Array.create a.Dimension (float c / 10.0)
              let m, s = Bures.fit a
              let m2, s2 = Bures.fit (translate shift a)
              let e = extent [ a ] + 100.0
              for k in 0 .. a.Dimension - 1 do
                  expectClose 1e-12 "mean + c" ((m.[k] + shift.[k]) / e) (m2.[k] / e)
                  for l in 0 .. a.Dimension - 1 do
                      expectClose 1e-12 "covariance" (s.[k, l] / (e * e)) (s2.[k, l] / (e * e))
              let one = Empirical.Uniform(Array2D.init 1 a.Dimension (fun _ k -> a.Points.[0, k]))
              let _, s1 = Bures.fit one
              if s1 |> Seq.cast<float> |> Seq.exists (fun x -> x <> 0.0) then failtestf "one-point covariance %A" s1)
          // B² is not Lipschitz at singular covariances (a perturbation δ of S moves it by ~√δ), so the rounding of
          // the eigendecomposition (~eps·tr S) shows as ~√eps·tr S ≈ 1e-8·tr S when a covariance is singular (the
          // generator makes ranks 0 … d + 1): these laws are checked to 1e-7 of ‖Δm‖² + tr S1 + tr S2.
          property "buresSquared(x, x) = 0 (to 1e-7 of 2 tr S)" 200 gaussianPair (fun (g, _) ->
              let value = bures g g
              if value > 1e-7 * size g g then failtestf "W_2²(x, x) = %g with tr S = %g" value (trace (snd g)))
          property "buresSquared symmetric (to 1e-7 of ‖Δm‖² + tr S1 + tr S2)" 200 gaussianPair (fun (g1, g2) ->
              let forward, backward = bures g1 g2, bures g2 g1
              if abs (forward - backward) > 1e-7 * size g1 g2 then failtestf "W_2²(1,2) = %.17g vs W_2²(2,1) = %.17g" forward backward)
          property "buresSquared ≥ 0, finite, and ≤ ‖Δm‖² + (√tr S1 + √tr S2)² (the Bures triangle through 0)" 200 gaussianPair (fun (g1, g2) ->
              let value = bures g1 g2
              let bound = squaredNorm (difference (fst g1) (fst g2)) + Math.Pow(sqrt (trace (snd g1)) + sqrt (trace (snd g2)), 2.0)
              if not (value >= 0.0 && Double.IsFinite value) || value > bound * (1.0 + 1e-9) then
                  failtestf "W_2² = %g, bound %g" value bound)
          property
              "√buresSquared satisfies the triangle inequality (slack 1e-7·√size)"
              200
              (gen {
                  let! d = dimension
                  let! s = scale
                  let! g1 = gaussianAt d s
                  let! g2 = gaussianAt d s
                  let! g3 = gaussianAt d s
                  return g1, g2, g3
              })
              (fun (g1, g2, g3) ->
                  let w x y = sqrt (bures x y)
                  let slack = 1e-7 * sqrt (size g1 g2 + trace (snd g3))
                  if w g1 g3 > w g1 g2 + w g2 g3 + slack then failtestf "W(1,3) = %g > W(1,2) + W(2,3) = %g + %g" (w g1 g3) (w g1 g2) (w g2 g3))
          // For 2 × 2 PSD M, tr √M = √(tr M + 2√det M); with M = S1^{1/2} S2 S1^{1/2}, tr M = tr(S1 S2) and
          // det M = det S1 · det S2: a closed form that needs no matrix square root (and no commuting covariances).
          property "2-D: buresSquared = ‖Δm‖² + tr S1 + tr S2 − 2√(tr(S1 S2) + 2√(det S1 det S2))" 200 (scale |> Gen.bind (fun s ->
              Gen.zip (gaussianAt 2 s) (gaussianAt 2 s))) (fun (g1, g2) ->
              let (m1, s1), (m2, s2) = g1, g2
              let det (s: float[,]) = s.[0, 0] * s.[1, 1] - s.[0, 1] * s.[1, 0]
              let trProduct = s1.[0, 0] * s2.[0, 0] + s1.[0, 1] * s2.[1, 0] + s1.[1, 0] * s2.[0, 1] + s1.[1, 1] * s2.[1, 1]
              let fidelity = sqrt (max 0.0 (trProduct + 2.0 * sqrt (max 0.0 (det s1 * det s2))))
              let expected = max 0.0 (squaredNorm (difference m1 m2) + trace s1 + trace s2 - 2.0 * fidelity)
              let actual = bures g1 g2
              // Singular covariances: the square roots amplify rounding to about √eps of the size.
              if abs (actual - expected) > 1e-7 * size g1 g2 then
                  failtestf "closed form %.17g, buresSquared %.17g\nS1 = %A\nS2 = %A" expected actual s1 s2)
          property "1-D Gaussians: W_2² = (m1 − m2)² + (s1 − s2)²" 200 (Gen.zip scale (Gen.arrayOfLength 4 (Gen.choose (-1000, 1000)))) (fun (s, v) ->
              let m1, m2 = s * float v.[0] / 100.0, s * float v.[1] / 100.0
              let s1, s2 = s * abs (float v.[2]) / 100.0, s * abs (float v.[3]) / 100.0
              let expected = (m1 - m2) ** 2.0 + (s1 - s2) ** 2.0
              let actual = Bures.buresSquared ([| m1 |], array2D [ [ s1 * s1 ] ], [| m2 |], array2D [ [ s2 * s2 ] ])
              if abs (actual - expected) > 1e-12 * ((m1 - m2) ** 2.0 + s1 * s1 + s2 * s2) then
                  failtestf "expected %.17g, got %.17g" expected actual)
          property
              "buresSquared with diagonal covariances equals buresDiagonalSquared"
              200
              diagonalParameters
              (fun (m1, sd1, m2, sd2) ->
                  let diagonal = Bures.buresDiagonalSquared (m1, sd1, m2, sd2)
                  let full = Bures.buresSquared (m1, diagonalMatrix (Array.map (fun x -> x * x) sd1), m2, diagonalMatrix (Array.map (fun x -> x * x) sd2))
                  let closedForm = squaredNorm (difference m1 m2) + squaredNorm (difference sd1 sd2)
                  let tolerance = 1e-12 * (squaredNorm (difference m1 m2) + squaredNorm sd1 + squaredNorm sd2)
                  if abs (diagonal - closedForm) > tolerance || abs (full - closedForm) > tolerance then
                      failtestf "closed form %.17g, diagonal %.17g, full %.17g" closedForm diagonal full)
          property
              "Bures of the fits of distributions with diagonal covariance (axis crosses): full = diagonal = ‖c1 − c2‖² + ‖σ1 − σ2‖²"
              200
              diagonalParameters
              (fun (c1, sd1, c2, sd2) ->
                  let a, b = axisCross c1 sd1, axisCross c2 sd2
                  let closedForm = squaredNorm (difference c1 c2) + squaredNorm (difference sd1 sd2)
                  let size = squaredNorm (difference c1 c2) + squaredNorm sd1 + squaredNorm sd2 + 1e-300
                  let full, diagonal = Bures.buresOfFitsSquared (a, b, false), Bures.buresOfFitsSquared (a, b, true)
                  // A zero σ_k makes the covariance singular: the full form's square roots then amplify rounding to
                  // about √eps of the size (see the symmetry law); the diagonal form has no square root of a matrix.
                  if abs (full - closedForm) > 1e-7 * size || abs (diagonal - closedForm) > 1e-12 * size then
                      failtestf "closed form %.17g, full %.17g, diagonal %.17g" closedForm full diagonal)
          property "buresOfFitsSquared(diagonal) = ‖m1 − m2‖² + Σ_k (√S1_kk − √S2_kk)² from fit" 200 pair (fun (a, b) ->
              let m1, s1 = Bures.fit a
              let m2, s2 = Bures.fit b
              let sd (s: float[,]) = Array.init a.Dimension (fun k -> sqrt s.[k, k])
              let expected = squaredNorm (difference m1 m2) + squaredNorm (difference (sd s1) (sd s2))
              expectClose 1e-12 "diagonal Bures of fits" (expected / size (m1, s1) (m2, s2)) (Bures.buresOfFitsSquared (a, b, true) / size (m1, s1) (m2, s2)))
          // Gelbrich's bound per coordinate: W_2²(a_k, b_k) ≥ (m1_k − m2_k)² + (σ1_k − σ2_k)², summed over k.
          property "Gelbrich: marginal W_2² ≥ diagonal Bures of the fits (and = full Bures in d = 1)" 200 pair (fun (a, b) ->
              let marginal = MarginalWasserstein.costP (2.0, a, b)
              let diagonal = Bures.buresOfFitsSquared (a, b, true)
              let s = extent [ a; b ]
              if diagonal > marginal + 1e-12 * s * s * float a.Dimension then
                  failtestf "diagonal Bures %.17g > marginal W_2² %.17g\na = %s\nb = %s" diagonal marginal (describe a) (describe b)
              if a.Dimension = 1 then
                  let full = Bures.buresOfFitsSquared (a, b, false)
                  if abs (full - diagonal) > 1e-12 * s * s then failtestf "d = 1: full %.17g vs diagonal %.17g" full diagonal) ]

/// Well-conditioned distributions for the Bures gradient: d + 3 to 12 points of positive weight, continuous values,
/// weighted covariance with condition number below 100 (B² is not differentiable at singular covariances).
let private conditioned (d: int) (s: float) : Gen<Empirical> =
    gen {
        let! n = Gen.choose (d + 3, 12)
        let! values = Gen.arrayOfLength (n * d) (Gen.choose (-1000000, 1000000) |> Gen.map (fun i -> s * float i / 250000.0))
        let! w = Gen.arrayOfLength n (Gen.choose (1, 100) |> Gen.map float)
        return Empirical.Create(Array2D.init n d (fun i k -> values.[i * d + k]), w)
    }
    |> Gen.filter (fun e ->
        let _, covariance = Bures.fit e
        let evd = MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.DenseOfArray(covariance).Evd()
        let values = [| for c in evd.EigenValues -> c.Real |]
        Array.min values > 1e-2 * Array.max values)

let private gradientCase =
    gen {
        let! d = Gen.choose (1, 3)
        let! s = scale
        let! a = conditioned d s
        let! b = conditioned d s
        return s, a, b
    }

let private zeroVarianceGradient =
    testCase "diagonal gradient at a zero variance is 0 in that coordinate (the central-difference limit)" <| fun () ->
        let a = Empirical.Create(array2D [ [ 1.0; 0.0 ]; [ 1.0; 2.0 ] ], [| 1.0; 1.0 |])
        let b = Empirical.Create(array2D [ [ 0.0; 0.0 ]; [ 2.0; 1.0 ] ], [| 1.0; 1.0 |])
        let ga, _ = Bures.buresOfFitsGradient (a, b, true)
        // Coordinate 0 of a: mean 1, variance 0; the mean term alone: 2·w_i·(m1 − m2) = 2·0.5·(1 − 1) = 0.
        Expect.equal ga.[0, 0] 0.0 "a[0,0]"
        Expect.equal ga.[1, 0] 0.0 "a[1,0]"
        let h = 1e-6
        let f (x: float) = Bures.buresOfFitsSquared (Empirical.Create(array2D [ [ 1.0 + x; 0.0 ]; [ 1.0; 2.0 ] ], [| 1.0; 1.0 |]), b, true)
        expectClose 1e-8 "central difference" 0.0 ((f h - f -h) / (2.0 * h))

let private gaussianGradients =
    testList
        "Bures gradients"
        [ yield zeroVarianceGradient
          for diagonal in [ true; false ] ->
              // f ~ s² and the eigensolver's rounding is ~1e-13·s², so central differences with h = 1e-4·s carry
              // ~1e-9·s of rounding and ~h²·|third derivative| ~ 1e-8·s·κ of truncation (κ < 100, the condition
              // number): 1e-6 of the largest entry (or of 1e-3·s) is above both.
              property $"buresOfFitsGradient (diagonal = {diagonal}) matches central differences" 150 gradientCase (fun (s, a, b) ->
                  let ga, gb = Bures.buresOfFitsGradient (a, b, diagonal)
                  let h = 1e-4 * s
                  let fa x = Bures.buresOfFitsSquared (Empirical.Create(unflatten a.Count a.Dimension x, a.Weights), b, diagonal)
                  let fb x = Bures.buresOfFitsSquared (a, Empirical.Create(unflatten b.Count b.Dimension x, b.Weights), diagonal)
                  let analytic = Array.append (flatten ga) (flatten gb)
                  let tolerance = 1e-6 * max (analytic |> Array.map abs |> Array.max) (1e-3 * s)
                  expectGradient "∂a" tolerance (flatten ga) (centralDifferences h fa (flatten a.Points))
                  expectGradient "∂b" tolerance (flatten gb) (centralDifferences h fb (flatten b.Points)))]


// ---------------------------------------------------------------- kernel

let private bandwidthsAt (s: float) : Gen<float[]> =
    Gen.choose (1, 3) |> Gen.bind (fun n -> Gen.arrayOfLength n (Gen.choose (1, 300) |> Gen.map (fun i -> s * float i / 100.0)))

let private kernelCase =
    gen {
        let! d = dimension
        let! s = scale
        let! a = empiricalAt d s
        let! b = empiricalAt d s
        let! bandwidths = bandwidthsAt s
        return a, b, bandwidths
    }

/// Uniformly weighted distributions with at least 2 points (what the U-statistic needs).
let private uniformCase =
    gen {
        let! d = dimension
        let! s = scale
        let! n = Gen.choose (2, 20)
        let! m = Gen.choose (2, 20)
        let! x = points n d s
        let! y = points m d s
        let! bandwidths = bandwidthsAt s
        return Empirical.Uniform x, Empirical.Uniform y, bandwidths
    }

/// The merged, zero-free canonical form of a 1-D or d-D measure: distinct points with summed weights.
let private canonical (e: Empirical) =
    [ for i in 0 .. e.Count - 1 do
          if e.Weights.[i] > 0.0 then yield [ for k in 0 .. e.Dimension - 1 -> e.Points.[i, k] ], e.Weights.[i] ]
    |> List.groupBy fst
    |> List.map (fun (point, entries) -> point, List.sumBy snd entries)
    |> List.sortBy fst

/// Whether two measures are equal (weights to 1e-12) or clearly different (a weight differs by more than 1e-6).
let private compareMeasures (a: Empirical) (b: Empirical) =
    let ca, cb = canonical a, canonical b
    let points = List.map fst ca @ List.map fst cb |> List.distinct
    let weight c p = c |> List.tryFind (fun (q, _) -> q = p) |> Option.map snd |> Option.defaultValue 0.0
    let gap = points |> List.map (fun p -> abs (weight ca p - weight cb p)) |> List.fold max 0.0
    if gap <= 1e-12 then "equal" elif gap > 1e-6 then "different" else "borderline"

/// 2 ∫ (F − G)² in one dimension, by merging the supports: an independent formula for the energy distance.
let private cdfEnergy (a: Empirical) (b: Empirical) =
    let support = Array.append (a.Column 0) (b.Column 0) |> Array.distinct |> Array.sort
    let cdf (e: Empirical) t = Seq.sum (seq { for i in 0 .. e.Count - 1 do if e.Points.[i, 0] <= t then yield e.Weights.[i] })
    Seq.sum (
        seq {
            for k in 0 .. support.Length - 2 ->
                let diff = cdf a support.[k] - cdf b support.[k]
                2.0 * (support.[k + 1] - support.[k]) * diff * diff
        }
    )

let private kernelLaws =
    testList
        "kernel"
        [ property "MMD²_b ≥ 0 (to 1e-11 · #bandwidths) and finite" 200 kernelCase (fun (a, b, bandwidths) ->
              let value = KernelDistances.mmdSquared (a, b, bandwidths, true)
              if not (value >= -1e-11 * float bandwidths.Length && Double.IsFinite value) then failtestf "MMD²_b = %g" value)
          property "MMD²_b(a, a) = 0 exactly; MMD²_b of the same measure written differently ≈ 0" 200 (kernelCase |> Gen.bind (fun (a, b, bandwidths) ->
              rewritten (extent [ a; b ]) a |> Gen.map (fun a2 -> a, a2, bandwidths))) (fun (a, a2, bandwidths) ->
              let same = KernelDistances.mmdSquared (a, a, bandwidths, true)
              if same <> 0.0 then failtestf "MMD²_b(a, a) = %g" same
              let rewrittenValue = KernelDistances.mmdSquared (a, a2, bandwidths, true)
              if abs rewrittenValue > 1e-11 * float bandwidths.Length then failtestf "MMD²_b(a, a rewritten) = %g" rewrittenValue)
          property "MMD² is additive over bandwidths (biased and unbiased)" 200 uniformCase (fun (a, b, bandwidths) ->
              for biased in [ true; false ] do
                  let whole = KernelDistances.mmdSquared (a, b, bandwidths, biased)
                  let parts = bandwidths |> Array.sumBy (fun s -> KernelDistances.mmdSquared (a, b, [| s |], biased))
                  expectClose 1e-12 $"biased = {biased}" parts whole)
          property "MMD² is invariant to scaling points and bandwidths together, and to translation" 200 (Gen.zip kernelCase (Gen.choose (1, 1000))) (fun ((a, b, bandwidths), c) ->
              let c = float c / 37.0
              let scaleBy (e: Empirical) = Empirical.Create(Array2D.map (fun x -> c * x) e.Points, e.Weights)
              let shift = Array.create a.Dimension (extent [ a; b ])
              let original = KernelDistances.mmdSquared (a, b, bandwidths, true)
              expectClose 1e-11 "scaled" original (KernelDistances.mmdSquared (scaleBy a, scaleBy b, Array.map (fun s -> c * s) bandwidths, true))
              expectClose 1e-11 "translated" original (KernelDistances.mmdSquared (translate shift a, translate shift b, bandwidths, true)))
          property "MMD²_b of two points δx, δy = 2 Σ_σ (1 − exp(−‖x − y‖²/(2σ²)))" 200 kernelCase (fun (a, b, bandwidths) ->
              let x = Empirical.Uniform(Array2D.init 1 a.Dimension (fun _ k -> a.Points.[0, k]))
              let y = Empirical.Uniform(Array2D.init 1 b.Dimension (fun _ k -> b.Points.[0, k]))
              let squared = Seq.sum (seq { for k in 0 .. a.Dimension - 1 -> (x.Points.[0, k] - y.Points.[0, k]) ** 2.0 })
              let expected = bandwidths |> Array.sumBy (fun s -> 2.0 * (1.0 - exp (-squared / (2.0 * s * s))))
              expectClose 1e-12 "MMD²_b" expected (KernelDistances.mmdSquared (x, y, bandwidths, true)))
          property
              "MMD²_u is unbiased: its mean over every i.i.d. sample (enumerated) equals MMD²_b of the populations"
              60
              (gen {
                  let! d = Gen.choose (1, 3)
                  let! s = scale
                  let! supportA = Gen.choose (1, 3)
                  let! supportB = Gen.choose (1, 3)
                  let! a = points supportA d s
                  let! b = points supportB d s
                  let! wa = Gen.arrayOfLength supportA (Gen.choose (1, 5) |> Gen.map float)
                  let! wb = Gen.arrayOfLength supportB (Gen.choose (1, 5) |> Gen.map float)
                  let! m = Gen.choose (2, 3)
                  let! n = Gen.choose (2, 3)
                  let! bandwidths = bandwidthsAt s
                  return Empirical.Create(a, wa), Empirical.Create(b, wb), m, n, bandwidths
              })
              (fun (population1, population2, m, n, bandwidths) ->
                  // Every sequence of m draws from population1 with its probability.
                  let rec samples (population: Empirical) count : (int list * float) list =
                      if count = 0 then [ [], 1.0 ]
                      else
                          [ for rest, p in samples population (count - 1) do
                                for i in 0 .. population.Count - 1 -> i :: rest, p * population.Weights.[i] ]
                  let draw (population: Empirical) (indices: int list) =
                      Empirical.Uniform(Array2D.init indices.Length population.Dimension (fun r k -> population.Points.[indices.[r], k]))
                  let expectation =
                      Seq.sum (
                          seq {
                              for xs, px in samples population1 m do
                                  for ys, py in samples population2 n ->
                                      px * py * KernelDistances.mmdSquared (draw population1 xs, draw population2 ys, bandwidths, false)
                          }
                      )
                  expectClose 1e-12 "E[MMD²_u]" (KernelDistances.mmdSquared (population1, population2, bandwidths, true)) expectation)
          property "energy distance ≥ 0 (to 1e-12·S), symmetric, = 0 exactly for identical inputs" 200 pair (fun (a, b) ->
              let s = extent [ a; b ]
              let ab, ba = KernelDistances.energyDistance (a, b), KernelDistances.energyDistance (b, a)
              if not (ab >= -1e-12 * s) then failtestf "energy = %g" ab
              expectClose 1e-12 "symmetric" (ab / s) (ba / s)
              let aa = KernelDistances.energyDistance (a, a)
              if aa <> 0.0 then failtestf "energy(a, a) = %g" aa)
          property "energy distance = 0 iff the measures are equal (same support and weights)" 300 (pair |> Gen.bind (fun (a, b) ->
              gen {
                  let! a2 = rewritten (extent [ a; b ]) a
                  let! which = Gen.elements [ true; false ]
                  return a, (if which then a2 else b)
              })) (fun (a, b) ->
              let s = extent [ a; b ]
              let value = KernelDistances.energyDistance (a, b)
              match compareMeasures a b with
              | "equal" -> if abs value > 1e-12 * s then failtestf "equal measures, energy = %g\na = %s\nb = %s" value (describe a) (describe b)
              | "different" -> if not (value > 1e-12 * s) then failtestf "different measures, energy = %g\na = %s\nb = %s" value (describe a) (describe b)
              | _ -> ())
          property "energy distance of δx vs δy is 2‖x − y‖" 200 pair (fun (a, b) ->
              let s = extent [ a; b ]
              let x = Empirical.Uniform(Array2D.init 1 a.Dimension (fun _ k -> a.Points.[0, k]))
              let y = Empirical.Uniform(Array2D.init 1 b.Dimension (fun _ k -> b.Points.[0, k]))
              let distance = sqrt (Seq.sum (seq { for k in 0 .. a.Dimension - 1 -> (x.Points.[0, k] - y.Points.[0, k]) ** 2.0 }))
              expectClose 1e-12 "δx vs δy" (2.0 * distance / s) (KernelDistances.energyDistance (x, y) / s))
          property
              "1-D energy distance = 2 ∫ (F − G)² (Székely–Rizzo), computed independently by merging the supports"
              200
              (gen {
                  let! s = scale
                  let! a = empiricalAt 1 s
                  let! b = empiricalAt 1 s
                  return a, b
              })
              (fun (a, b) ->
                  let s = extent [ a; b ]
                  expectClose 1e-11 "2 ∫ (F − G)²" (cdfEnergy a b / s) (KernelDistances.energyDistance (a, b) / s)) ]

[<Tests>]
let tests = testList "reference.gaussian-kernel" [ gaussianLaws; gaussianGradients; kernelLaws ]
