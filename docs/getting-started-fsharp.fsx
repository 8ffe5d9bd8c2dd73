(**
---
title: Getting started in F#
category: Guides
categoryindex: 2
index: 2
---
*)
(*** hide ***)
// Run by `./build.sh test` (dotnet fsi) and evaluated by `./build.sh docs` (fsdocs --eval), against the assemblies the
// test build made; TorchSharp's native libraries are loaded from there by absolute path.
let bin = System.IO.Path.Combine(__SOURCE_DIRECTORY__, "../tests/Facade.Tests/bin/Release/net10.0")
#r "../tests/Facade.Tests/bin/Release/net10.0/TorchSharp.dll"
#r "../tests/Facade.Tests/bin/Release/net10.0/DistEmbed.Core.dll"
#r "../tests/Facade.Tests/bin/Release/net10.0/DistEmbed.dll"
for lib in [ "libc10.so"; "libtorch_cpu.so"; "libtorch.so"; "libLibTorchSharp.so" ] do
    System.Runtime.InteropServices.NativeLibrary.Load(System.IO.Path.Combine(bin, "runtimes/linux-x64/native", lib)) |> ignore

(**
# Getting started in F#

Reference the packages (`DistEmbed.Core` is the F# core; `DistEmbed` adds array and file entry points; an
application also needs a native TorchSharp bundle):

    dotnet add package DistEmbed.Core
    dotnet add package TorchSharp-cpu

In a script: `#r "nuget: DistEmbed.Core"` and `#r "nuget: TorchSharp-cpu"`. This page is a literate F# script
(`docs/getting-started-fsharp.fsx`); `./build.sh test` runs it, so every line below works and every check holds.

## The float64 reference

`DistEmbed.Core.Reference` computes distances between weighted point sets on plain arrays, in float64, without
TorchSharp. An `Empirical` is T points in ℝ^d with weights that sum to one:
*)
open DistEmbed.Core
open DistEmbed.Core.Reference

let p = Empirical.Uniform(array2D [ [ 0.0; 0.0 ]; [ 1.0; 1.0 ] ]) // two points on the diagonal
let q = Empirical.Create(array2D [ [ 1.0; 0.0 ]; [ 0.0; 1.0 ] ], [| 1.0; 1.0 |]) // two on the anti-diagonal; weights are normalised

let exact = ExactTransport.wasserstein (2.0, p, q) // W₂ by the network simplex
let marginal = Reference.MarginalWasserstein.wasserstein (2.0, p, q) // MW₂: exact 1-D transport per coordinate
printfn "W2 = %.6f, MW2 = %.6f" exact marginal
(*** include-output ***)

(**
The two distributions differ, but their coordinate marginals are the same (each coordinate is 0 or 1 with
probability ½), so the marginal distance is zero while the full one is not. In general MW₂ ≤ W₂:
*)
if abs marginal > 1e-12 || abs (exact - 1.0) > 1e-12 then failwith "expected MW2 = 0 and W2 = 1"

(**
## Batched tensor distances

A `DistributionBatch` holds B distributions as points [B, T, d] and weights [B, T] (zero weight = padding), as
TorchSharp tensors. `Distances.Create(name, options)` returns an `IDistance`; `Pairwise` gives all B × B' distances,
`Paired` the B distances of pairs (a_i, b_i). Both are differentiable.
*)
open TorchSharp

let points = torch.randn ([| 4L; 12L; 2L |], dtype = torch.float64, generator = torch.manual_seed 1L)
// The last distribution has 8 points and 4 padding rows (weight 0); the others have 12.
let weights = torch.tensor (Array2D.init 4 12 (fun b t -> if b = 3 && t >= 8 then 0.0 else 1.0))

let batch = DistributionBatch.FromTensors(points, weights)
let marginalW2 = Distances.Create("marginal-w2", DistanceOptions())
let matrix = marginalW2.Pairwise(batch, batch) // [4, 4]
printfn "%s" (matrix.ToString(TensorStringStyle.Numpy))
(*** include-output ***)

(**
Each entry equals the float64 reference on the same points; `ToEmpirical(i)` drops the padding:
*)
for i in 0..3 do
    for j in 0..3 do
        let expected = Reference.MarginalWasserstein.wasserstein (2.0, batch.ToEmpirical i, batch.ToEmpirical j)
        let actual = matrix[int64 i, int64 j].item<float> ()
        if abs (actual - expected) > 1e-9 then failwithf "entry (%d, %d): %g vs %g" i j actual expected

(**
## Gradients

Gradients flow to points and weights through every distance. Here one gradient step moves four distributions
towards four targets under the debiased Sinkhorn divergence, and the divergence drops:
*)
let sinkhorn = Distances.Create("sinkhorn-divergence", DistanceOptions(Epsilon = 0.5))
let targets = DistributionBatch.FromTensors(torch.randn ([| 4L; 10L; 2L |], dtype = torch.float64, generator = torch.manual_seed 2L) + 3.0, null)
let moving = points.detach().requires_grad_ true
let before = sinkhorn.Paired(DistributionBatch.FromTensors(moving, weights), targets).sum ()
before.backward ()
let stepped = (moving.detach() - 0.5 * moving.grad).requires_grad_ false
let after = sinkhorn.Paired(DistributionBatch.FromTensors(stepped, weights), targets).sum ()
printfn "sum of S_0.5 before: %.4f, after one step: %.4f" (before.item<float> ()) (after.item<float> ())
(*** include-output ***)
if after.item<float> () >= before.item<float> () then failwith "a gradient step must decrease the divergence"

(**
## From arrays

The C# facade's array entry points work from F# too (`DistEmbed` package):
*)
let a = Array3D.init 3 5 2 (fun i t k -> float32 (i + t * k))
let d = DistEmbed.ArrayDistances.Pairwise(a, a, "sliced-w2", DistEmbed.DistanceSettings(Projections = 32, Seed = 7L))
printfn "sliced W2 between 3 distributions: %A" d
(*** include-output ***)

(**
Next: the [distances guide](distances.html) lists every distance and its options; the
[API reference](reference/index.html) documents every type and member.
*)
