/// Every validation rule of the float64 reference: the exception type and the ParamName it names.
module DistEmbed.Properties.ReferenceValidationTests

open System
open Expecto
open DistEmbed.Core.Reference
open DistEmbed.Properties.ReferenceSupport

let private line = Empirical.Uniform(array2D [ [ 0.0; 0.0 ]; [ 1.0; 1.0 ] ])
let private other = Empirical.Create(array2D [ [ 2.0; 0.0 ]; [ 0.0; 3.0 ]; [ 1.0; 1.0 ] ], [| 1.0; 2.0; 3.0 |])
let private plane = Empirical.Uniform(array2D [ [ 0.0; 0.0 ]; [ 1.0; 0.0 ]; [ 0.0; 1.0 ]; [ 1.0; 2.0 ] ])
let private line3 = Empirical.Uniform(array2D [ [ 0.0; 0.0; 0.0 ] ])
let private nullEmpirical = Unchecked.defaultof<Empirical>

let private empirical =
    testList
        "Empirical"
        [ missing "Create: points null" "points" (fun () -> box (Empirical.Create(null, [| 1.0 |])))
          invalid "Create: no rows" "points" (fun () -> box (Empirical.Create(Array2D.zeroCreate 0 2, [||])))
          invalid "Create: no columns" "points" (fun () -> box (Empirical.Create(Array2D.zeroCreate 2 0, [| 1.0; 1.0 |])))
          invalid "Create: a NaN point" "points" (fun () -> box (Empirical.Create(array2D [ [ 0.0 ]; [ nan ] ], [| 1.0; 1.0 |])))
          invalid "Create: an infinite point" "points" (fun () -> box (Empirical.Create(array2D [ [ infinity ] ], [| 1.0 |])))
          missing "Create: weights null" "weights" (fun () -> box (Empirical.Create(array2D [ [ 0.0 ] ], null)))
          invalid "Create: weights of the wrong length" "weights" (fun () -> box (Empirical.Create(array2D [ [ 0.0 ]; [ 1.0 ] ], [| 1.0 |])))
          invalid "Create: a NaN weight" "weights" (fun () -> box (Empirical.Create(array2D [ [ 0.0 ]; [ 1.0 ] ], [| 1.0; nan |])))
          invalid "Create: an infinite weight" "weights" (fun () -> box (Empirical.Create(array2D [ [ 0.0 ]; [ 1.0 ] ], [| 1.0; infinity |])))
          invalid "Create: a negative weight" "weights" (fun () -> box (Empirical.Create(array2D [ [ 0.0 ]; [ 1.0 ] ], [| 2.0; -1.0 |])))
          invalid "Create: all weights zero" "weights" (fun () -> box (Empirical.Create(array2D [ [ 0.0 ]; [ 1.0 ] ], [| 0.0; 0.0 |])))
          missing "Uniform: points null" "points" (fun () -> box (Empirical.Uniform null))
          invalid "Uniform: no rows" "points" (fun () -> box (Empirical.Uniform(Array2D.zeroCreate 0 3)))
          missing "OfValues: values null" "values" (fun () -> box (Empirical.OfValues(null, [| 1.0 |])))
          invalid "OfValues: no values" "values" (fun () -> box (Empirical.OfValues([||], [||])))
          invalid "OfValues: weights of the wrong length" "weights" (fun () -> box (Empirical.OfValues([| 1.0; 2.0 |], [| 1.0 |]))) ]

/// The three public 1-D functions, which share their checks: each rule is checked on all three.
let private oneDimensionalFunctions : (string * (float * float[] * float[] * float[] * float[] -> obj)) list =
    [ "costP", (OneDimensional.costP >> box)
      "wasserstein", (OneDimensional.wasserstein >> box)
      "costPGradient", (OneDimensional.costPGradient >> box) ]

let private oneDimensional =
    let u, w, v = [| 0.0; 1.0 |], [| 1.0; 1.0 |], [| 2.0 |]
    testList
        "OneDimensional"
        [ for name, f in oneDimensionalFunctions do
              yield invalid $"{name}: p < 1" "p" (fun () -> f (0.5, u, w, v, [| 1.0 |]))
              yield invalid $"{name}: p NaN" "p" (fun () -> f (nan, u, w, v, [| 1.0 |]))
              yield invalid $"{name}: p infinite" "p" (fun () -> f (infinity, u, w, v, [| 1.0 |]))
              yield missing $"{name}: u null" "u" (fun () -> f (1.0, null, w, v, [| 1.0 |]))
              yield invalid $"{name}: u empty" "u" (fun () -> f (1.0, [||], [||], v, [| 1.0 |]))
              yield invalid $"{name}: u NaN" "u" (fun () -> f (1.0, [| 0.0; nan |], w, v, [| 1.0 |]))
              yield missing $"{name}: uWeights null" "uWeights" (fun () -> f (1.0, u, null, v, [| 1.0 |]))
              yield invalid $"{name}: uWeights of the wrong length" "uWeights" (fun () -> f (1.0, u, [| 1.0 |], v, [| 1.0 |]))
              yield invalid $"{name}: uWeights negative" "uWeights" (fun () -> f (1.0, u, [| 1.0; -0.5 |], v, [| 1.0 |]))
              yield invalid $"{name}: uWeights all zero" "uWeights" (fun () -> f (1.0, u, [| 0.0; 0.0 |], v, [| 1.0 |]))
              yield invalid $"{name}: uWeights NaN" "uWeights" (fun () -> f (1.0, u, [| 1.0; nan |], v, [| 1.0 |]))
              yield missing $"{name}: v null" "v" (fun () -> f (1.0, u, w, null, [| 1.0 |]))
              yield invalid $"{name}: v empty" "v" (fun () -> f (1.0, u, w, [||], [||]))
              yield invalid $"{name}: v infinite" "v" (fun () -> f (1.0, u, w, [| -infinity |], [| 1.0 |]))
              yield missing $"{name}: vWeights null" "vWeights" (fun () -> f (1.0, u, w, v, null))
              yield invalid $"{name}: vWeights of the wrong length" "vWeights" (fun () -> f (1.0, u, w, v, [| 1.0; 1.0 |]))
              yield invalid $"{name}: vWeights negative" "vWeights" (fun () -> f (1.0, u, w, v, [| -1.0 |]))
              yield invalid $"{name}: vWeights all zero" "vWeights" (fun () -> f (1.0, u, w, v, [| 0.0 |])) ]

let private marginal =
    let functions : (string * (float * Empirical * Empirical -> obj)) list =
        [ "costP", (MarginalWasserstein.costP >> box); "wasserstein", (MarginalWasserstein.wasserstein >> box); "costPGradient", (MarginalWasserstein.costPGradient >> box) ]
    testList
        "Marginal"
        [ for name, f in functions do
              yield invalid $"{name}: p < 1" "p" (fun () -> f (0.99, line, other))
              yield missing $"{name}: a null" "a" (fun () -> f (1.0, nullEmpirical, other))
              yield missing $"{name}: b null" "b" (fun () -> f (1.0, line, nullEmpirical))
              yield invalid $"{name}: dimensions differ" "b" (fun () -> f (1.0, line, line3)) ]

let private sliced =
    let functions : (string * (float * Empirical * Empirical * float[,] -> obj)) list =
        [ "wasserstein", (SlicedWasserstein.wasserstein >> box); "maxSliced", (SlicedWasserstein.maxSliced >> box) ]
    let directions = array2D [ [ 1.0; 0.0 ] ]
    testList
        "Sliced"
        [ for name, f in functions do
              yield invalid $"{name}: p < 1" "p" (fun () -> f (0.0, line, other, directions))
              yield missing $"{name}: a null" "a" (fun () -> f (2.0, nullEmpirical, other, directions))
              yield missing $"{name}: b null" "b" (fun () -> f (2.0, line, nullEmpirical, directions))
              yield invalid $"{name}: dimensions differ" "b" (fun () -> f (2.0, line, line3, directions))
              yield missing $"{name}: directions null" "directions" (fun () -> f (2.0, line, other, null))
              yield invalid $"{name}: no directions (0 × d)" "directions" (fun () -> f (2.0, line, other, Array2D.zeroCreate 0 2))
              yield invalid $"{name}: directions of the wrong dimension" "directions" (fun () -> f (2.0, line, other, array2D [ [ 1.0; 0.0; 0.0 ] ]))
              yield invalid $"{name}: a NaN direction" "directions" (fun () -> f (2.0, line, other, array2D [ [ 1.0; nan ] ]))
          yield invalid "randomDirections: count 0" "count" (fun () -> box (SlicedWasserstein.randomDirections (0, 2, 1)))
          yield invalid "randomDirections: dimension 0" "dimension" (fun () -> box (SlicedWasserstein.randomDirections (3, 0, 1))) ]

let private gaussian =
    let identity = array2D [ [ 1.0; 0.0 ]; [ 0.0; 1.0 ] ]
    let m = [| 0.0; 1.0 |]
    let bures (m1, s1, m2, s2) () = box (Bures.buresSquared (m1, s1, m2, s2))
    let diagonal (m1, sd1, m2, sd2) () = box (Bures.buresDiagonalSquared (m1, sd1, m2, sd2))
    testList
        "Gaussian"
        [ yield missing "fit: a null" "a" (fun () -> box (Bures.fit nullEmpirical))
          yield missing "buresSquared: m1 null" "m1" (bures (null, identity, m, identity))
          yield invalid "buresSquared: m1 empty" "m1" (bures ([||], identity, m, identity))
          yield invalid "buresSquared: m1 NaN" "m1" (bures ([| nan; 0.0 |], identity, m, identity))
          yield missing "buresSquared: s1 null" "s1" (bures (m, null, m, identity))
          yield invalid "buresSquared: s1 not d × d" "s1" (bures (m, array2D [ [ 1.0; 0.0 ] ], m, identity))
          yield invalid "buresSquared: s1 infinite" "s1" (bures (m, array2D [ [ infinity; 0.0 ]; [ 0.0; 1.0 ] ], m, identity))
          yield invalid "buresSquared: s1 not symmetric" "s1" (bures (m, array2D [ [ 1.0; 0.5 ]; [ 0.0; 1.0 ] ], m, identity))
          yield invalid "buresSquared: s1 not positive semi-definite" "s1" (bures (m, array2D [ [ 1.0; 2.0 ]; [ 2.0; 1.0 ] ], m, identity))
          yield missing "buresSquared: m2 null" "m2" (bures (m, identity, null, identity))
          yield invalid "buresSquared: m2 of the wrong length" "m2" (bures (m, identity, [| 1.0 |], identity))
          yield invalid "buresSquared: m2 NaN" "m2" (bures (m, identity, [| 0.0; nan |], identity))
          yield invalid "buresSquared: s2 not d × d" "s2" (bures (m, identity, m, array2D [ [ 1.0 ] ]))
          yield invalid "buresSquared: s2 not symmetric" "s2" (bures (m, identity, m, array2D [ [ 1.0; 0.0 ]; [ 1e-3; 1.0 ] ]))
          yield invalid "buresSquared: s2 not positive semi-definite" "s2" (bures (m, identity, m, array2D [ [ -1.0; 0.0 ]; [ 0.0; 1.0 ] ]))
          yield invalid "buresDiagonalSquared: m1 empty" "m1" (diagonal ([||], [||], [||], [||]))
          yield invalid "buresDiagonalSquared: sd1 of the wrong length" "sd1" (diagonal (m, [| 1.0 |], m, [| 1.0; 1.0 |]))
          yield invalid "buresDiagonalSquared: sd1 NaN" "sd1" (diagonal (m, [| 1.0; nan |], m, [| 1.0; 1.0 |]))
          yield invalid "buresDiagonalSquared: sd1 negative" "sd1" (diagonal (m, [| 1.0; -1.0 |], m, [| 1.0; 1.0 |]))
          yield invalid "buresDiagonalSquared: m2 of the wrong length" "m2" (diagonal (m, [| 1.0; 1.0 |], [| 0.0; 0.0; 0.0 |], [| 1.0; 1.0 |]))
          yield missing "buresDiagonalSquared: sd2 null" "sd2" (diagonal (m, [| 1.0; 1.0 |], m, null))
          yield invalid "buresDiagonalSquared: sd2 of the wrong length" "sd2" (diagonal (m, [| 1.0; 1.0 |], m, [| 1.0 |]))
          yield invalid "buresDiagonalSquared: sd2 negative" "sd2" (diagonal (m, [| 1.0; 1.0 |], m, [| -2.0; 1.0 |]))
          for diagonalForm in [ true; false ] do
              yield missing $"buresOfFitsSquared (diagonal = {diagonalForm}): a null" "a" (fun () -> box (Bures.buresOfFitsSquared (nullEmpirical, other, diagonalForm)))
              yield missing $"buresOfFitsSquared (diagonal = {diagonalForm}): b null" "b" (fun () -> box (Bures.buresOfFitsSquared (line, nullEmpirical, diagonalForm)))
              yield invalid $"buresOfFitsSquared (diagonal = {diagonalForm}): dimensions differ" "b" (fun () -> box (Bures.buresOfFitsSquared (line, line3, diagonalForm)))
              yield missing $"buresOfFitsGradient (diagonal = {diagonalForm}): a null" "a" (fun () -> box (Bures.buresOfFitsGradient (nullEmpirical, other, diagonalForm)))
              yield missing $"buresOfFitsGradient (diagonal = {diagonalForm}): b null" "b" (fun () -> box (Bures.buresOfFitsGradient (line, nullEmpirical, diagonalForm)))
              yield invalid $"buresOfFitsGradient (diagonal = {diagonalForm}): dimensions differ" "b" (fun () -> box (Bures.buresOfFitsGradient (line, line3, diagonalForm)))
          yield invalid "buresOfFitsGradient (full): a has a singular covariance (points on a line)" "a" (fun () -> box (Bures.buresOfFitsGradient (line, plane, false)))
          yield invalid "buresOfFitsGradient (full): b has a singular covariance (one point)" "b" (fun () -> box (Bures.buresOfFitsGradient (plane, Empirical.Uniform(array2D [ [ 1.0; 2.0 ] ]), false)))
          yield testCase "buresOfFitsGradient (diagonal): a one-point distribution is accepted and the gradient is finite" <| fun () ->
              let ga, gb = Bures.buresOfFitsGradient (Empirical.Uniform(array2D [ [ 1.0; 2.0 ] ]), plane, true)
              Expect.isTrue (Seq.cast<float> ga |> Seq.forall Double.IsFinite && Seq.cast<float> gb |> Seq.forall Double.IsFinite) "finite" ]

let private kernel =
    let mmd (a, b, bandwidths, biased) () = box (KernelDistances.mmdSquared (a, b, bandwidths, biased))
    let onePoint = Empirical.Uniform(array2D [ [ 0.0; 1.0 ] ])
    let padded = Empirical.Create(array2D [ [ 0.0; 0.0 ]; [ 1.0; 1.0 ]; [ 5.0; 5.0 ] ], [| 1.0; 1.0; 0.0 |])
    testList
        "Kernel"
        [ for biased in [ true; false ] do
              yield missing $"mmdSquared (biased = {biased}): a null" "a" (mmd (nullEmpirical, plane, [| 1.0 |], biased))
              yield missing $"mmdSquared (biased = {biased}): b null" "b" (mmd (plane, nullEmpirical, [| 1.0 |], biased))
              yield invalid $"mmdSquared (biased = {biased}): dimensions differ" "b" (mmd (plane, line3, [| 1.0 |], biased))
              yield missing $"mmdSquared (biased = {biased}): bandwidths null" "bandwidths" (mmd (plane, line, null, biased))
              yield invalid $"mmdSquared (biased = {biased}): bandwidths empty" "bandwidths" (mmd (plane, line, [||], biased))
              yield invalid $"mmdSquared (biased = {biased}): a zero bandwidth" "bandwidths" (mmd (plane, line, [| 1.0; 0.0 |], biased))
              yield invalid $"mmdSquared (biased = {biased}): a negative bandwidth" "bandwidths" (mmd (plane, line, [| -1.0 |], biased))
              yield invalid $"mmdSquared (biased = {biased}): a NaN bandwidth" "bandwidths" (mmd (plane, line, [| nan |], biased))
              yield invalid $"mmdSquared (biased = {biased}): an infinite bandwidth" "bandwidths" (mmd (plane, line, [| infinity |], biased))
          yield invalid "mmdSquared (unbiased): a has one point" "a" (mmd (onePoint, plane, [| 1.0 |], false))
          yield invalid "mmdSquared (unbiased): b has one point" "b" (mmd (plane, onePoint, [| 1.0 |], false))
          yield invalid "mmdSquared (unbiased): a has non-uniform weights" "a" (mmd (other, plane, [| 1.0 |], false))
          yield invalid "mmdSquared (unbiased): a has zero-weight padding" "a" (mmd (padded, plane, [| 1.0 |], false))
          yield invalid "mmdSquared (unbiased): b has non-uniform weights" "b" (mmd (plane, other, [| 1.0 |], false))
          yield testCase "mmdSquared (biased) accepts one point and padding" <| fun () ->
              Expect.isTrue (Double.IsFinite(KernelDistances.mmdSquared (onePoint, padded, [| 1.0 |], true))) "finite"
          yield missing "energyDistance: a null" "a" (fun () -> box (KernelDistances.energyDistance (nullEmpirical, plane)))
          yield missing "energyDistance: b null" "b" (fun () -> box (KernelDistances.energyDistance (plane, nullEmpirical)))
          yield invalid "energyDistance: dimensions differ" "b" (fun () -> box (KernelDistances.energyDistance (plane, line3))) ]

[<Tests>]
let tests = testList "reference.validation" [ empirical; oneDimensional; marginal; sliced; gaussian; kernel ]
