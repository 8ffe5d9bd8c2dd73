/// Shared FsCheck generators and the property runner. Generators produce awkward inputs on purpose:
/// ties, duplicated points, one-point distributions, very unequal lengths, scales from 1e-3 to 1e3.
module DistEmbed.Properties.Generators

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference

/// The fixed seed used in CI; override with DISTEMBED_SEED="seed,gamma" to replay a reported failure.
let seed : uint64 * uint64 =
    match Environment.GetEnvironmentVariable "DISTEMBED_SEED" with
    | null | "" -> (20261123UL, 7919UL)
    | s ->
        let parts = s.Split(',')
        (UInt64.Parse parts.[0], UInt64.Parse parts.[1])

/// An Expecto test that checks an FsCheck property over <paramref name="gen"/> for <paramref name="count"/> cases
/// with the fixed seed; the failure message names the seed and the shrunk counter-example.
let property (name: string) (count: int) (gen: Gen<'T>) (body: 'T -> unit) =
    testCase name <| fun () ->
        let s, g = seed
        let config = Config.QuickThrowOnFailure.WithMaxTest(count).WithReplay(s, g).WithQuietOnSuccess(true)
        try
            Check.One(config, Prop.forAll (Arb.fromGen gen) body)
        with e ->
            failtestf "property '%s' failed (seed %d,%d; replay with DISTEMBED_SEED=%d,%d):\n%s" name s g s g e.Message

/// A scale drawn from 1e-3 … 1e3 (log-uniform over seven decades, endpoints included).
let scale : Gen<float> =
    Gen.oneof [ Gen.elements [ 1e-3; 1.0; 1e3 ]; Gen.choose (-30, 30) |> Gen.map (fun e -> 10.0 ** (float e / 10.0)) ]

/// A value at the given scale: either a fresh normal draw or one taken from a small grid (so ties happen).
let private value (s: float) : Gen<float> =
    Gen.oneof
        [ Gen.choose (-1000000, 1000000) |> Gen.map (fun i -> s * float i / 250000.0)
          Gen.choose (-3, 3) |> Gen.map (fun i -> s * float i) ]

/// A number of points: often 1 or 2, sometimes up to 40 (very unequal lengths between two draws).
let count : Gen<int> = Gen.frequency [ 2, Gen.constant 1; 2, Gen.choose (2, 4); 4, Gen.choose (5, 40) ]

/// Weights: uniform, random positive, or with some zeros (padding), never all zero.
let weights (n: int) : Gen<float[]> =
    Gen.oneof
        [ Gen.constant (Array.create n 1.0)
          Gen.arrayOfLength n (Gen.choose (1, 100) |> Gen.map float)
          Gen.arrayOfLength n (Gen.choose (0, 3) |> Gen.map float)
          |> Gen.map (fun w -> if Array.sum w = 0.0 then (w.[0] <- 1.0; w) else w) ]

/// A T × d point array at a scale, with duplicated rows now and then.
let points (n: int) (d: int) (s: float) : Gen<float[,]> =
    gen {
        let! rows = Gen.arrayOfLength n (Gen.arrayOfLength d (value s))
        let! duplicate = Gen.elements [ false; false; true ]
        if duplicate && n > 1 then rows.[n - 1] <- Array.copy rows.[0]
        return Array2D.init n d (fun i k -> rows.[i].[k])
    }

/// A weighted empirical distribution in ℝ^d at scale s.
let empiricalAt (d: int) (s: float) : Gen<Empirical> =
    gen {
        let! n = count
        let! p = points n d s
        let! w = weights n
        return Empirical.Create(p, w)
    }

/// A dimension from 1 to 5.
let dimension : Gen<int> = Gen.choose (1, 5)

/// Two distributions of one dimension at one scale.
let pair : Gen<Empirical * Empirical> =
    gen {
        let! d = dimension
        let! s = scale
        let! a = empiricalAt d s
        let! b = empiricalAt d s
        return a, b
    }

/// Three distributions of one dimension at one scale (triangle inequality).
let triple : Gen<Empirical * Empirical * Empirical> =
    gen {
        let! d = dimension
        let! s = scale
        let! a = empiricalAt d s
        let! b = empiricalAt d s
        let! c = empiricalAt d s
        return a, b, c
    }

/// |x − y| ≤ tol·max(1, |x|, |y|): a relative tolerance that falls back to absolute near zero.
let close (tol: float) (x: float) (y: float) =
    abs (x - y) <= tol * (max 1.0 (max (abs x) (abs y)))

/// Fails with both values and their relative error when they differ by more than the tolerance.
let expectClose (tol: float) (what: string) (expected: float) (actual: float) =
    if not (close tol expected actual) || Double.IsNaN actual then
        failtestf "%s: expected %.17g, got %.17g (|diff| = %.3g, tolerance %.1g relative)" what expected actual (abs (expected - actual)) tol
