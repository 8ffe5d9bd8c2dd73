// Mutation testing of the core's tensor and reference code against the F# property suites.
//
//   dotnet fsi scripts/mutate.fsx [--only NAME[,NAME…]] [--full] [--list] [--timeout SECONDS]
//                                 [--mutations FILE] [--work DIR] [--min-score PERCENT]
//
// Every mutation in scripts/mutations.txt (name, file, test filters, an original snippet that must occur exactly once
// in the file, its replacement) is applied on its own to a scratch copy of the repository (never to this tree),
// the property suites are rebuilt and the declared test filters are run against the mutant, one test process per
// filter, until one fails. Outcomes:
//   killed   a filter failed (or ran past its time limit: reported as "killed (timeout)")
//   survived every declared filter passed
//   invalid  the mutant does not compile
//   stale    the original snippet does not occur exactly once in the file (the code moved on: update the mutation)
// The score is killed / (killed + survived). Results go to artifacts/mutate/results.md (and the test output of every
// mutant to artifacts/mutate/logs/); the last line printed is `mutation score: K killed of N (P %)`.
//
// Options
//   --only A,B        run only the named mutations
//   --full            run every suite of the property project (no filter) instead of the declared filters; used to
//                     confirm that a survivor survives everything, not just its filters
//   --list            print the mutations with their state (ok / stale) and exit
//   --timeout S       limit for one test process, in seconds (default: max(240, 5 × its baseline time))
//   --mutations FILE  the mutation file (default scripts/mutations.txt)
//   --work DIR        the scratch copy (default $TMPDIR/distembed-mutate-<hash of this path>; kept between runs so
//                     that restore and the first build are incremental)
//   --min-score P     exit 1 when the score is below P percent
//
// Before any mutant runs, the declared filters are run on the unmutated copy: each must pass and run at least one
// test, otherwise the run stops (a broken or empty baseline would count every mutant as killed).
//
// Builds: `dotnet build tests/Properties/Properties.fsproj -c Release --no-restore`. The property project is
// compiled against DistEmbed.Core's reference assembly (obj/refint), which carries the F# signature and
// optimisation data (the bodies the F# compiler may inline across assemblies); when a mutation leaves that
// reference assembly unchanged, MSBuild skips recompiling the tests and only copies the new DistEmbed.Core.dll,
// and when it changes anything a caller could have inlined, the reference assembly changes and the tests are
// recompiled. So no `-p:ProduceReferenceAssembly=false` is needed (it would recompile the tests for every mutant).
// The scratch builds use -p:TreatWarningsAsErrors=false, so that a mutation which only provokes a warning still
// counts as a mutant rather than as invalid.

open System
open System.Diagnostics
open System.IO
open System.Text
open System.Text.RegularExpressions

let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))

let fail (message: string) : 'a =
    eprintfn "mutate: %s" message
    exit 2

// ---------------------------------------------------------------------------------------------------------------------
// Command line

type Settings =
    { Only: Set<string> option
      Full: bool
      List: bool
      Timeout: float option
      MutationsFile: string
      Work: string option
      MinScore: float option }

let settings =
    let rec parse (s: Settings) (args: string list) =
        match args with
        | [] -> s
        | "--only" :: names :: rest ->
            let set = names.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries) |> Set.ofArray
            if set.IsEmpty then fail "--only needs at least one mutation name (NAME[,NAME…])."
            parse { s with Only = Some set } rest
        | "--full" :: rest -> parse { s with Full = true } rest
        | "--list" :: rest -> parse { s with List = true } rest
        | "--timeout" :: v :: rest ->
            match Double.TryParse(v, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
            | true, t when t > 0.0 -> parse { s with Timeout = Some t } rest
            | _ -> fail $"--timeout {v} is invalid; it must be a number of seconds > 0."
        | "--mutations" :: f :: rest -> parse { s with MutationsFile = Path.GetFullPath f } rest
        | "--work" :: d :: rest -> parse { s with Work = Some(Path.GetFullPath d) } rest
        | "--min-score" :: v :: rest ->
            match Double.TryParse(v, Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture) with
            | true, p when p >= 0.0 && p <= 100.0 -> parse { s with MinScore = Some p } rest
            | _ -> fail $"--min-score {v} is invalid; it must be a percentage in [0, 100]."
        | ("--only" | "--timeout" | "--mutations" | "--work" | "--min-score") as o :: [] -> fail $"{o} needs a value."
        | other :: _ ->
            fail $"unknown option '{other}'; valid: --only NAME[,NAME…], --full, --list, --timeout SECONDS, --mutations FILE, --work DIR, --min-score PERCENT."
    parse
        { Only = None
          Full = false
          List = false
          Timeout = None
          MutationsFile = Path.Combine(root, "scripts", "mutations.txt")
          Work = None
          MinScore = None }
        (fsi.CommandLineArgs |> Array.toList |> List.tail)

// ---------------------------------------------------------------------------------------------------------------------
// The mutation file
//
//   [name]
//   file: src/Core.fs/…           (relative to the repository root)
//   tests: prefix                  (an Expecto hierarchical filter; repeat the line for more, run in this order)
//   what: one line saying what the mutant gets wrong
//   original: exact text           (a substring of one line; \n for a line break, \\ for a backslash)
//   mutant: replacement text
//
// Lines starting with # are comments. Leading spaces after the colon are not part of the snippet.

type Mutation =
    { Name: string
      File: string
      Tests: string list
      What: string
      Original: string
      Replacement: string
      Line: int }

let unescape (s: string) =
    let b = StringBuilder()
    let mutable i = 0
    while i < s.Length do
        if s.[i] = '\\' && i + 1 < s.Length then
            match s.[i + 1] with
            | 'n' -> b.Append('\n') |> ignore
            | '\\' -> b.Append('\\') |> ignore
            | c -> b.Append('\\').Append(c) |> ignore
            i <- i + 2
        else
            b.Append(s.[i]) |> ignore
            i <- i + 1
    b.ToString()

let parseMutations (path: string) : Mutation list =
    if not (File.Exists path) then fail $"the mutation file {path} does not exist."
    let result = ResizeArray<Mutation>()
    let mutable current: (string * int * Map<string, string> * string list) option = None
    let finish () =
        match current with
        | None -> ()
        | Some(name, line, fields, tests) ->
            let get key =
                match fields.TryFind key with
                | Some v when v <> "" -> v
                | _ -> fail $"{path}:{line}: mutation [{name}] has no '{key}:' line."
            if tests.IsEmpty then fail $"{path}:{line}: mutation [{name}] has no 'tests:' line."
            let original = unescape (get "original")
            let replacement = unescape (fields.TryFind "mutant" |> Option.defaultValue "")
            if original = replacement then fail $"{path}:{line}: mutation [{name}] replaces its original with itself."
            result.Add
                { Name = name
                  File = get "file"
                  Tests = List.rev tests
                  What = get "what"
                  Original = original
                  Replacement = replacement
                  Line = line }
        current <- None
    File.ReadAllLines path
    |> Array.iteri (fun i raw ->
        let lineNo = i + 1
        let line = raw.TrimEnd()
        if line.TrimStart().StartsWith "#" || line.Trim() = "" then ()
        elif line.StartsWith "[" && line.EndsWith "]" then
            finish ()
            let name = line.Substring(1, line.Length - 2).Trim()
            if not (Regex.IsMatch(name, "^[A-Za-z0-9][A-Za-z0-9._-]*$")) then
                fail $"{path}:{lineNo}: mutation name '{name}' is invalid; use letters, digits, '.', '_' and '-'."
            current <- Some(name, lineNo, Map.empty, [])
        else
            match current with
            | None -> fail $"{path}:{lineNo}: '{line}' is outside a [name] block."
            | Some(name, start, fields, tests) ->
                let colon = line.IndexOf ':'
                if colon < 0 then fail $"{path}:{lineNo}: expected 'key: value', got '{line}'."
                let key = line.Substring(0, colon).Trim()
                let value = line.Substring(colon + 1).TrimStart()
                if not (List.contains key [ "file"; "tests"; "what"; "original"; "mutant" ]) then
                    fail $"{path}:{lineNo}: unknown key '{key}'; valid: file, tests, what, original, mutant."
                if key = "tests" then
                    if value = "" then fail $"{path}:{lineNo}: an empty 'tests:' line in [{name}]."
                    current <- Some(name, start, fields, value :: tests)
                else
                    if fields.ContainsKey key then fail $"{path}:{lineNo}: '{key}' given twice in [{name}]."
                    current <- Some(name, start, fields.Add(key, value), tests))
    finish ()
    let list = List.ofSeq result
    list
    |> List.countBy (fun m -> m.Name)
    |> List.iter (fun (n, c) -> if c > 1 then fail $"{path}: mutation name [{n}] is used {c} times.")
    list

let occurrences (text: string) (snippet: string) =
    let mutable count = 0
    let mutable at = text.IndexOf(snippet, StringComparison.Ordinal)
    while at >= 0 do
        count <- count + 1
        at <- text.IndexOf(snippet, at + 1, StringComparison.Ordinal)
    count

/// None when the mutation applies; Some reason when it is stale.
let staleness (baseDir: string) (m: Mutation) =
    let path = Path.Combine(baseDir, m.File)
    if not (File.Exists path) then Some $"{m.File} does not exist"
    else
        match occurrences (File.ReadAllText path) m.Original with
        | 1 -> None
        | 0 -> Some "original text not found"
        | n -> Some $"original text found {n} times"

let area (m: Mutation) =
    if m.File.Replace('\\', '/').StartsWith "src/Core.fs/Reference/" then "reference" else "tensor"

// ---------------------------------------------------------------------------------------------------------------------
// Processes

type RunResult =
    { ExitCode: int
      TimedOut: bool
      Output: string
      Seconds: float }

let run (workDir: string) (file: string) (args: string list) (timeoutSeconds: float) : RunResult =
    let psi = ProcessStartInfo(file)
    for a in args do psi.ArgumentList.Add a
    psi.WorkingDirectory <- workDir
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.UseShellExecute <- false
    psi.Environment.["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
    psi.Environment.["DOTNET_NOLOGO"] <- "1"
    psi.Environment.["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] <- "1"
    let output = StringBuilder()
    let gate = obj ()
    let append (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then lock gate (fun () -> output.AppendLine e.Data |> ignore)
    let watch = Stopwatch.StartNew()
    use p = new Process(StartInfo = psi)
    p.OutputDataReceived.Add append
    p.ErrorDataReceived.Add append
    if not (p.Start()) then fail $"could not start {file}."
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    let finished = p.WaitForExit(int (timeoutSeconds * 1000.0))
    if not finished then
        try p.Kill(true) with _ -> ()
        p.WaitForExit()
    else p.WaitForExit() // drains the asynchronous readers
    { ExitCode = (if finished then p.ExitCode else -1)
      TimedOut = not finished
      Output = lock gate (fun () -> output.ToString())
      Seconds = watch.Elapsed.TotalSeconds }

let writeAtomically (path: string) (text: string) =
    Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
    let temp = path + ".tmp"
    File.WriteAllText(temp, text)
    File.Move(temp, path, true)

// ---------------------------------------------------------------------------------------------------------------------
// The scratch copy: the repository minus bin/obj/.git/artifacts/output, synchronised by content (so that a rerun only
// rebuilds what changed).

let excluded = set [ "bin"; "obj"; ".git"; "artifacts"; "output"; "node_modules"; ".vs"; "TestResults"; ".fsdocs"; "tmp"; ".gpu" ]

let rec files (dir: string) : string seq =
    seq {
        for f in Directory.EnumerateFiles dir do
            yield f
        for d in Directory.EnumerateDirectories dir do
            if not (excluded.Contains(Path.GetFileName d)) then yield! files d
    }

let sync (source: string) (target: string) =
    Directory.CreateDirectory target |> ignore
    let wanted = Collections.Generic.HashSet<string>()
    let mutable copied = 0
    for f in files source do
        let rel = Path.GetRelativePath(source, f)
        wanted.Add rel |> ignore
        let dest = Path.Combine(target, rel)
        let same =
            File.Exists dest
            && FileInfo(dest).Length = FileInfo(f).Length
            && File.ReadAllBytes(dest).AsSpan().SequenceEqual(ReadOnlySpan(File.ReadAllBytes f))
        if not same then
            Directory.CreateDirectory(Path.GetDirectoryName dest) |> ignore
            File.Copy(f, dest, true)
            copied <- copied + 1
    let mutable removed = 0
    for f in files target |> Seq.toArray do
        if not (wanted.Contains(Path.GetRelativePath(target, f))) then
            File.Delete f
            removed <- removed + 1
    copied, removed

// ---------------------------------------------------------------------------------------------------------------------
// Build and test

let project = "tests/Properties/Properties.fsproj"
let buildArgs restore =
    [ "build"; project; "-c"; "Release"; "-v"; "q"; "-nologo"; "-p:TreatWarningsAsErrors=false" ]
    @ (if restore then [] else [ "--no-restore" ])
let buildTimeout = 1800.0

let testExe (work: string) =
    let dir = Path.Combine(work, "tests", "Properties", "bin", "Release", "net10.0")
    let exe = Path.Combine(dir, "DistEmbed.Properties")
    if File.Exists exe then exe, []
    else "dotnet", [ Path.Combine(dir, "DistEmbed.Properties.dll") ]

let summaryRegex = Regex(@"(\d+) tests run in .*?(\d+) passed, (\d+) ignored, (\d+) failed, (\d+) errored")
let failedRegex = Regex(@"(?:ERR|\[ERR\])\]?\s+(.+?) (?:failed|errored) in ")

let testsRun (output: string) =
    let ms = summaryRegex.Matches output
    if ms.Count = 0 then None else Some(int ms.[ms.Count - 1].Groups.[1].Value)

/// Failed + errored tests of the last Expecto summary (0 when there is none).
let failures (output: string) =
    let ms = summaryRegex.Matches output
    if ms.Count = 0 then 0
    else
        let g = ms.[ms.Count - 1].Groups
        int g.[4].Value + int g.[5].Value

let firstFailure (output: string) =
    let m = failedRegex.Match output
    if m.Success then Some(m.Groups.[1].Value.Trim()) else None

/// One test process: `--sequenced`, with `--filter PREFIX` unless the filter is None (the whole project).
let runTests (work: string) (filter: string option) (timeout: float) =
    let exe, pre = testExe work
    let args = pre @ [ "--sequenced" ] @ (match filter with Some f -> [ "--filter"; f ] | None -> [])
    run work exe args timeout

// ---------------------------------------------------------------------------------------------------------------------
// Main

let allMutations = parseMutations settings.MutationsFile

let selected =
    match settings.Only with
    | None -> allMutations
    | Some names ->
        let known = allMutations |> List.map (fun m -> m.Name) |> Set.ofList
        let unknown = Set.difference names known
        if not unknown.IsEmpty then
            fail $"""--only names unknown mutations: {String.Join(", ", unknown)}; see {settings.MutationsFile}."""
        allMutations |> List.filter (fun m -> names.Contains m.Name)

if settings.List then
    for m in allMutations do
        let state = match staleness root m with None -> "ok" | Some why -> "STALE (" + why + ")"
        printfn "%-36s %-9s %-46s %s" m.Name (area m) m.File state
    exit 0

let outDir = Path.Combine(root, "artifacts", "mutate")
let logDir = Path.Combine(outDir, "logs")
Directory.CreateDirectory logDir |> ignore

let work =
    match settings.Work with
    | Some w -> w
    | None ->
        // A stable FNV-1a hash of the path (string.GetHashCode is randomised per process).
        let stable =
            let mutable h = 2166136261u
            for c in root do
                h <- (h ^^^ uint32 c) * 16777619u
            h
        Path.Combine(Path.GetTempPath(), $"distembed-mutate-{stable:x8}")

let log (s: string) =
    printfn "[mutate %s] %s" (DateTime.Now.ToString "HH:mm:ss") s

log $"{selected.Length} of {allMutations.Length} mutations selected; scratch copy {work}"
let copied, removed = sync root work
log $"scratch copy synchronised ({copied} files copied, {removed} removed)"

let restoreBuild = run work "dotnet" (buildArgs true) buildTimeout
if restoreBuild.ExitCode <> 0 then
    eprintfn "%s" restoreBuild.Output
    fail "the unmutated scratch copy does not build (output above); fix the build first."
log $"unmutated build: {restoreBuild.Seconds:F0} s"

// Baseline: every filter that will be run must pass, and match at least one test, on the unmutated code.
let stale = selected |> List.choose (fun m -> staleness work m |> Option.map (fun why -> m, why))
let live = selected |> List.filter (fun m -> (staleness work m).IsNone)
let filters: string option list =
    if settings.Full then [ None ]
    else live |> List.collect (fun m -> m.Tests) |> List.distinct |> List.map Some

let baseline =
    filters
    |> List.map (fun f ->
        let r = runTests work f 3600.0
        let name = defaultArg f "(all suites)"
        match testsRun r.Output with
        | _ when r.TimedOut -> fail $"baseline: {name} did not finish within an hour."
        | None ->
            eprintfn "%s" r.Output
            fail $"baseline: {name} printed no Expecto summary (exit {r.ExitCode}); output above."
        | Some 0 -> fail $"baseline: the filter '{name}' matches no test; fix the 'tests:' line of the mutations that name it."
        | Some n when r.ExitCode <> 0 ->
            File.WriteAllText(Path.Combine(logDir, "baseline.log"), r.Output)
            let first = firstFailure r.Output |> Option.defaultValue "?"
            fail $"baseline: {name} fails on the unmutated code ({n} tests, exit {r.ExitCode}; first failure: {first}); see artifacts/mutate/logs/baseline.log."
        | Some n ->
            log $"baseline {name}: {n} tests pass in {r.Seconds:F0} s"
            f, r.Seconds)
    |> Map.ofList

let timeoutFor (f: string option) =
    match settings.Timeout with
    | Some t -> t
    | None -> max 240.0 (5.0 * baseline.[f])

type Outcome =
    | Killed of filter: string * test: string
    | KilledByTimeout of filter: string
    | Survived
    | Invalid of error: string
    | Stale of reason: string

type Record =
    { Mutation: Mutation
      Outcome: Outcome
      Seconds: float }

let firstError (output: string) =
    output.Split('\n')
    |> Array.tryFind (fun l -> l.Contains "error FS" || l.Contains "error MSB" || l.Contains ": error ")
    |> Option.map (fun l -> l.Trim())
    |> Option.defaultValue "build failed"

let runMutation (index: int) (count: int) (m: Mutation) : Record =
    let path = Path.Combine(work, m.File)
    let original = File.ReadAllText path
    let at = original.IndexOf(m.Original, StringComparison.Ordinal)
    let mutated = original.Substring(0, at) + m.Replacement + original.Substring(at + m.Original.Length)
    let watch = Stopwatch.StartNew()
    log $"[{index}/{count}] {m.Name}: {m.What}"
    let outcome, logText =
        try
            File.WriteAllText(path, mutated)
            let build = run work "dotnet" (buildArgs false) buildTimeout
            if build.TimedOut || build.ExitCode <> 0 then
                Invalid(if build.TimedOut then "build timed out" else firstError build.Output), build.Output
            else
                let texts = StringBuilder()
                let rec go (remaining: string option list) =
                    match remaining with
                    | [] -> Survived
                    | f :: rest ->
                        let r = runTests work f (timeoutFor f)
                        let name = defaultArg f "(all suites)"
                        texts.AppendLine($"===== {name}: exit {r.ExitCode}, {r.Seconds:F0} s").AppendLine(r.Output) |> ignore
                        if r.TimedOut then KilledByTimeout name
                        elif r.ExitCode <> 0 || failures r.Output > 0 then
                            let exitText = $"exit code {r.ExitCode}"
                            Killed(name, firstFailure r.Output |> Option.defaultValue exitText)
                        else go rest
                let o = go (if settings.Full then [ None ] else m.Tests |> List.map Some)
                o, texts.ToString()
        finally
            File.WriteAllText(path, original)
    writeAtomically (Path.Combine(logDir, m.Name + ".log")) logText
    let seconds = watch.Elapsed.TotalSeconds
    let said =
        match outcome with
        | Killed(f, t) -> $"killed by {f} ({t})"
        | KilledByTimeout f -> $"killed (timeout) by {f}"
        | Survived -> "SURVIVED"
        | Invalid e -> $"invalid: {e}"
        | Stale r -> $"stale: {r}"
    log $"[{index}/{count}] {m.Name}: {said} ({seconds:F0} s)"
    { Mutation = m; Outcome = outcome; Seconds = seconds }

let records =
    let n = live.Length
    let ran = live |> List.mapi (fun i m -> runMutation (i + 1) n m)
    let staleRecords = stale |> List.map (fun (m, why) -> { Mutation = m; Outcome = Stale why; Seconds = 0.0 })
    // Report in the order of the mutation file.
    let order = selected |> List.mapi (fun i m -> m.Name, i) |> Map.ofList
    ran @ staleRecords |> List.sortBy (fun r -> order.[r.Mutation.Name])

// A final build leaves the scratch copy's binaries matching the unmutated sources.
run work "dotnet" (buildArgs false) buildTimeout |> ignore

// ---------------------------------------------------------------------------------------------------------------------
// Report

let isKilled r = match r.Outcome with Killed _ | KilledByTimeout _ -> true | _ -> false
let isSurvivor r = match r.Outcome with Survived -> true | _ -> false
let count p rs = rs |> List.filter p |> List.length
let score (rs: Record list) =
    let k, s = count isKilled rs, count isSurvivor rs
    k, k + s, (if k + s = 0 then 0.0 else 100.0 * float k / float (k + s))

let cell (s: string) = s.Replace("|", "\\|").Replace("\n", "\\n")
let code (s: string) = if s = "" then "(empty)" else "`` " + cell s + " ``"

let report =
    let b = StringBuilder()
    let line (s: string) = b.AppendLine s |> ignore
    let k, n, p = score records
    line "# Mutation testing results"
    line ""
    let source = Path.GetRelativePath(root, settings.MutationsFile)
    let stamp = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm", Globalization.CultureInfo.InvariantCulture)
    line $"Generated by `scripts/mutate.fsx` from `{source}` on {stamp} UTC."
    line (if settings.Full then "Mode: `--full` (every suite against every mutant)." else "Mode: the declared test filters of each mutation.")
    line ""
    line "| area | mutants | killed | survived | invalid | stale | score |"
    line "|---|---:|---:|---:|---:|---:|---:|"
    for a in [ "tensor"; "reference" ] do
        let rs = records |> List.filter (fun r -> area r.Mutation = a)
        let ka, na, pa = score rs
        line $"| {a} | {rs.Length} | {ka} | {count isSurvivor rs} | {count (fun r -> match r.Outcome with Invalid _ -> true | _ -> false) rs} | {count (fun r -> match r.Outcome with Stale _ -> true | _ -> false) rs} | {pa:F1} %% |"
    let ran = records |> List.filter (fun r -> match r.Outcome with Stale _ -> false | _ -> true)
    let mean = if ran.IsEmpty then 0.0 else ran |> List.averageBy (fun r -> r.Seconds)
    line ""
    line $"Mean time per mutant (build + tests): {mean:F0} s."
    line ""
    line "| # | mutation | area | file | what | original → mutant | result | detail | s |"
    line "|---:|---|---|---|---|---|---|---|---:|"
    records
    |> List.iteri (fun i r ->
        let m = r.Mutation
        let result, detail =
            match r.Outcome with
            | Killed(f, t) -> "killed", $"{f}: {t}"
            | KilledByTimeout f -> "killed (timeout)", f
            | Survived -> "**survived**", String.Join("; ", m.Tests)
            | Invalid e -> "invalid", e
            | Stale why -> "stale", why
        line $"| {i + 1} | {m.Name} | {area m} | {m.File} | {cell m.What} | {code m.Original} → {code m.Replacement} | {result} | {cell detail} | {r.Seconds:F0} |")
    line ""
    line $"mutation score: {k} killed of {n} ({p:F1} %%)"
    b.ToString()

writeAtomically (Path.Combine(outDir, "results.md")) report
let k, n, p = score records
for r in records do
    match r.Outcome with
    | Survived -> log $"survivor: {r.Mutation.Name} ({r.Mutation.File}): {r.Mutation.What}"
    | Stale why -> log $"stale: {r.Mutation.Name} ({r.Mutation.File}): {why}"
    | Invalid e -> log $"invalid: {r.Mutation.Name}: {e}"
    | _ -> ()
let resultsPath = Path.GetRelativePath(root, Path.Combine(outDir, "results.md"))
log $"results in {resultsPath}"
printfn "mutation score: %d killed of %d (%.1f %%)" k n p
match settings.MinScore with
| Some minimum when p < minimum ->
    eprintfn "mutate: the score %.1f %% is below --min-score %.1f %%." p minimum
    exit 1
| _ -> exit 0
