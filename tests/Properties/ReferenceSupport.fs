/// Helpers shared by the suites of the float64 reference: orders p, re-representations of one distribution
/// (permuted, padded, translated), the exception check for validation rules, central finite differences, and the
/// readers of the golden JSON fixtures.
module DistEmbed.Properties.ReferenceSupport

open System
open System.IO
open System.Text.Json
open Expecto
open FsCheck
open FsCheck.FSharp
open DistEmbed.Core.Reference
open DistEmbed.Properties.Generators

/// The orders p every Wasserstein law is checked for.
let orders = [ 1.0; 1.5; 2.0; 3.0 ]

/// The largest |coordinate| over the given distributions, floored at the smallest scale the generators use
/// (so tolerances built from it are never zero).
let extent (distributions: Empirical list) =
    distributions
    |> List.map (fun e -> e.Points |> Seq.cast<float> |> Seq.map abs |> Seq.max)
    |> List.max
    |> max 1e-3

/// A cost tolerance at extent S: rounding in the cumulative weights moves a W_p^p by about
/// (n + m)·eps·(2S)^p, so allow 1e-13·(2S)^p plus 1e-12 relative.
let costTolerance (p: float) (s: float) (x: float) (y: float) =
    1e-13 * Math.Pow(2.0 * s, p) + 1e-12 * max (abs x) (abs y)

/// Fails unless |x − y| is within <c>costTolerance</c>.
let expectCostClose (p: float) (s: float) (what: string) (expected: float) (actual: float) =
    if Double.IsNaN actual || abs (expected - actual) > costTolerance p s expected actual then
        failtestf "%s: expected %.17g, got %.17g (|diff| = %.3g, tolerance %.3g)" what expected actual (abs (expected - actual)) (costTolerance p s expected actual)

/// The same distribution with its rows in the order given by <paramref name="permutation"/>.
let permute (permutation: int[]) (e: Empirical) =
    Empirical.Create(
        Array2D.init e.Count e.Dimension (fun i k -> e.Points.[permutation.[i], k]),
        Array.init e.Count (fun i -> e.Weights.[permutation.[i]])
    )

/// The same distribution with extra zero-weight rows <paramref name="padding"/> appended.
let pad (padding: float[,]) (e: Empirical) =
    let extra = Array2D.length1 padding
    Empirical.Create(
        Array2D.init (e.Count + extra) e.Dimension (fun i k -> if i < e.Count then e.Points.[i, k] else padding.[i - e.Count, k]),
        Array.append e.Weights (Array.zeroCreate extra)
    )

/// The distribution translated by the vector <paramref name="shift"/>.
let translate (shift: float[]) (e: Empirical) =
    Empirical.Create(Array2D.init e.Count e.Dimension (fun i k -> e.Points.[i, k] + shift.[k]), e.Weights)

/// A generator of the same measure written differently: rows shuffled, then 1–3 zero-weight rows at the given
/// scale appended, then shuffled again (so the padding sits anywhere).
let rewritten (s: float) (e: Empirical) : Gen<Empirical> =
    gen {
        let! first = Gen.shuffle [| 0 .. e.Count - 1 |]
        let! extra = Gen.choose (1, 3)
        let! padding = points extra e.Dimension s
        let padded = pad padding (permute first e)
        let! second = Gen.shuffle [| 0 .. padded.Count - 1 |]
        return permute second padded
    }

/// The same measure written differently, deterministically: rows reversed, the (new) first atom split into two
/// half-weight duplicates (rows 0 and Count), a zero-weight point far away appended.
let sameMeasure (e: Empirical) =
    let n = e.Count
    let far = 1.0 + 10.0 * (e.Points |> Seq.cast<float> |> Seq.map abs |> Seq.max)
    let source i = if i < n then n - 1 - i else n - 1
    Empirical.Create(
        Array2D.init (n + 2) e.Dimension (fun i k -> if i <= n then e.Points.[source i, k] else far),
        Array.init (n + 2) (fun i -> if i = 0 || i = n then 0.5 * e.Weights.[n - 1] elif i > n then 0.0 else e.Weights.[source i]))

/// Runs <paramref name="action"/> and checks that it throws exactly <typeparamref name="E"/> whose ParamName is
/// <paramref name="parameter"/> and whose message (not only .NET's suffix) names it.
let expectArgument<'E when 'E :> ArgumentException> (parameter: string) (action: unit -> obj) =
    let outcome =
        try
            Choice1Of2(action ())
        with e ->
            Choice2Of2 e
    match outcome with
    | Choice1Of2 value -> failtestf "expected %s naming '%s', but the call returned %A" typeof<'E>.Name parameter value
    | Choice2Of2 e when e.GetType() = typeof<'E> ->
        let ae = e :?> ArgumentException
        if ae.ParamName <> parameter then
            failtestf "expected ParamName '%s', got '%s' (message: %s)" parameter ae.ParamName ae.Message
        // .NET appends " (Parameter 'name')" to every message; the text before it must name the argument too.
        let text = ae.Message.Replace($" (Parameter '{parameter}')", "")
        if not (text.Contains parameter) then
            failtestf "the message does not name '%s': %s" parameter ae.Message
    | Choice2Of2 e -> failtestf "expected %s naming '%s', got %s: %s" typeof<'E>.Name parameter (e.GetType().Name) e.Message

/// A test case named "<name> → ArgumentException(<parameter>)" that expects exactly ArgumentException naming
/// <paramref name="parameter"/> from <paramref name="action"/>.
let invalid (name: string) (parameter: string) (action: unit -> obj) =
    testCase $"{name} → ArgumentException({parameter})" <| fun () -> expectArgument<ArgumentException> parameter action

/// A test case named "<name> → ArgumentNullException(<parameter>)" that expects exactly ArgumentNullException naming
/// <paramref name="parameter"/> from <paramref name="action"/>.
let missing (name: string) (parameter: string) (action: unit -> obj) =
    testCase $"{name} → ArgumentNullException({parameter})" <| fun () -> expectArgument<ArgumentNullException> parameter action

/// Central finite differences of f at x (a flat vector), with step h.
let centralDifferences (h: float) (f: float[] -> float) (x: float[]) : float[] =
    Array.init x.Length (fun i ->
        let plus = Array.copy x
        let minus = Array.copy x
        plus.[i] <- x.[i] + h
        minus.[i] <- x.[i] - h
        (f plus - f minus) / (plus.[i] - minus.[i]))

/// Fails unless every entry of the analytic gradient is within <paramref name="tolerance"/> of the finite differences.
let expectGradient (what: string) (tolerance: float) (analytic: float[]) (numeric: float[]) =
    for i in 0 .. analytic.Length - 1 do
        if Double.IsNaN analytic.[i] || abs (analytic.[i] - numeric.[i]) > tolerance then
            failtestf
                "%s: entry %d analytic %.17g vs central differences %.17g (|diff| = %.3g > %.3g)\nanalytic %A\nnumeric  %A"
                what i analytic.[i] numeric.[i] (abs (analytic.[i] - numeric.[i])) tolerance analytic numeric

/// The row-major flattening of a matrix, and back.
let flatten (m: float[,]) = Array.init m.Length (fun i -> m.[i / Array2D.length2 m, i % Array2D.length2 m])

let unflatten (rows: int) (columns: int) (x: float[]) = Array2D.init rows columns (fun i k -> x.[i * columns + k])

/// Values at scale s that are pairwise at least 1e-3·s apart, so that a step of 1e-6·s crosses no tie
/// (the costs are not differentiable where atoms coincide).
let separated (count: int) (s: float) : Gen<float[]> =
    Gen.arrayOfLength count (Gen.choose (-4000000, 4000000) |> Gen.map (fun i -> s * float i / 1e6))
    |> Gen.filter (fun x ->
        let sorted = Array.sort x
        Seq.pairwise sorted |> Seq.forall (fun (l, r) -> r - l >= 1e-3 * s))

/// A human-readable dump of a distribution for failure messages.
let describe (e: Empirical) =
    let rows = [ for i in 0 .. e.Count - 1 -> sprintf "%A:%g" [ for k in 0 .. e.Dimension - 1 -> e.Points.[i, k] ] e.Weights.[i] ]
    String.Join("; ", rows)

/// A JSON array of numbers as float[].
let jsonVector (e: JsonElement) = [| for x in e.EnumerateArray() -> x.GetDouble() |]

/// A JSON array of integers as int64[].
let jsonIntegers (e: JsonElement) = [| for x in e.EnumerateArray() -> x.GetInt64() |]

/// A JSON array of equally long number arrays as float[,] (one row each).
let jsonMatrix (e: JsonElement) =
    let rows = [| for r in e.EnumerateArray() -> jsonVector r |]
    Array2D.init rows.Length rows.[0].Length (fun i k -> rows.[i].[k])

/// The elements of the array <paramref name="list"/> in fixtures/<paramref name="file"/>, parsed, or the reason the
/// fixture could not be read (reported by the test, not at discovery); <paramref name="describe"/> names what was
/// read in that reason.
let loadFixture (file: string) (list: string) (describe: string -> string) (parse: JsonElement -> 'T) : Result<'T[], string> =
    let path = Path.Combine(AppContext.BaseDirectory, "fixtures", file)
    try
        use document = JsonDocument.Parse(File.ReadAllText path)
        Ok [| for instance in document.RootElement.GetProperty(list).EnumerateArray() -> parse instance |]
    with e ->
        Error $"cannot read {describe path}: {e.Message}"

/// The number of fixture cases for a test name, or "unreadable".
let fixtureCount (cases: Result<'T[], string>) =
    match cases with
    | Ok c -> string c.Length
    | Error _ -> "unreadable"
