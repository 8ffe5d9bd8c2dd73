namespace DistEmbed.Expecto.TestAdapter

open System
open System.Collections.Generic
open System.IO
open System.Reflection
open System.Threading
open Expecto
open Expecto.Impl
open Microsoft.VisualStudio.TestPlatform.ObjectModel
open Microsoft.VisualStudio.TestPlatform.ObjectModel.Adapter
open Microsoft.VisualStudio.TestPlatform.ObjectModel.Logging

type private ExpectoResult = Expecto.Impl.TestResult
type private VsTestResult = Microsoft.VisualStudio.TestPlatform.ObjectModel.TestResult

/// Marks a public static method without parameters that the adapter calls once per test assembly, before the first
/// test of a run (the test host runs no entry point: what a console runner's <c>main</c> sets up before running the
/// tests goes here, e.g. the default TorchSharp device).
[<AttributeUsage(AttributeTargets.Method, AllowMultiple = false)>]
[<Sealed>]
type BeforeTestsAttribute() =
    inherit Attribute()

/// Identity of the adapter within the VSTest platform.
module Executor =
    /// The executor URI that the discovered test cases name and the executor answers to.
    [<Literal>]
    let Uri = "executor://distembed.verified/expecto"

    /// The separator of the levels of a test's name (test list / test list / test), as Expecto's own runner prints it.
    [<Literal>]
    let Separator = "."

/// One Expecto test of an assembly, as flattened by Expecto, with the VSTest test case that stands for it.
type DiscoveredTest =
    { /// The test as Expecto flattens it (name levels, code, focus state).
      Flat: FlatTest
      /// The VSTest test case: FullyQualifiedName and DisplayName are both the full name.
      Case: TestCase
      /// The levels of the test's name joined by <see cref="Executor.Separator"/>.
      FullName: string }

/// Finds the Expecto tests of a test assembly.
module Discovery =
    let private executorUri = Uri Executor.Uri

    let private isManaged (source: string) =
        try
            AssemblyName.GetAssemblyName(source) |> ignore
            true
        with _ -> false

    /// The assembly at source, when it is a managed assembly that references Expecto.
    let load (source: string) : Assembly option =
        if not (File.Exists source) || not (isManaged source) then None
        else
            let assembly = Assembly.LoadFrom source
            let usesExpecto =
                assembly.GetReferencedAssemblies() |> Array.exists (fun a -> a.Name = "Expecto")
            if usesExpecto then Some assembly else None

    /// The tests of an Expecto test tree, flattened in Expecto's order, as test cases of the assembly at source.
    let flatten (source: string) (test: Test) : DiscoveredTest list =
        Test.toTestCodeList test
        |> List.map (fun flat ->
            let fullName = flat.fullName Executor.Separator
            let case = TestCase(fullName, executorUri, source)
            case.DisplayName <- fullName
            { Flat = flat; Case = case; FullName = fullName })

    /// Every Expecto test of the assembly (the values marked [<Tests>]), flattened in Expecto's order.
    let tests (source: string) (assembly: Assembly) : DiscoveredTest list =
        match testFromAssembly assembly with
        | None -> []
        | Some test -> flatten source test

    /// The full names that more than one test carries (Expecto's runner refuses to run such a suite).
    let duplicates (tests: DiscoveredTest list) : Set<string> =
        tests
        |> List.countBy (fun t -> t.FullName)
        |> List.filter (fun (_, n) -> n > 1)
        |> List.map fst
        |> Set.ofList

module internal Filtering =
    /// The test-case properties that `dotnet test --filter` may name for Expecto tests.
    let properties: IDictionary<string, TestProperty> =
        dict
            [ "FullyQualifiedName", TestCaseProperties.FullyQualifiedName
              "DisplayName", TestCaseProperties.DisplayName ]

    let private provider (name: string) : TestProperty =
        match properties.TryGetValue name with
        | true, p -> p
        | _ -> null

    /// The run's filter (None: run everything), or the reason it cannot be applied.
    let ofContext (context: IRunContext) : Result<ITestCaseFilterExpression option, string> =
        if isNull context then Ok None else
        try
            match context.GetTestCaseFilter(properties.Keys, Func<string, TestProperty>(provider)) with
            | null -> Ok None
            | filter -> Ok(Some filter)
        with :? TestPlatformFormatException as e ->
            Result.Error(
                sprintf "Expecto tests: the --filter expression cannot be applied: %s (supported properties: %s)"
                    e.Message (String.Join(", ", properties.Keys))
            )

    let matches (filter: ITestCaseFilterExpression option) (case: TestCase) =
        match filter with
        | None -> true
        | Some f ->
            f.MatchTestCase(
                case,
                Func<string, obj>(fun name ->
                    match properties.TryGetValue name with
                    | true, p -> case.GetPropertyValue p
                    | _ -> null)
            )

/// Runs Expecto tests one at a time and reports each result to VSTest.
module Execution =
    let private setUpOnce = HashSet<string>(StringComparer.Ordinal)

    /// Calls the assembly's [<BeforeTests>] methods, once per assembly and process.
    let internal setUp (assembly: Assembly) =
        if setUpOnce.Add assembly.FullName then
            let types =
                try
                    assembly.GetTypes()
                with :? ReflectionTypeLoadException as e -> e.Types |> Array.filter (isNull >> not)
            for t in types do
                for m in t.GetMethods(BindingFlags.Public ||| BindingFlags.Static) do
                    if m.IsDefined(typeof<BeforeTestsAttribute>, false) then
                        if m.GetParameters().Length <> 0 then
                            invalidOp (
                                sprintf "[<BeforeTests>] method %s.%s must take no parameters" t.FullName m.Name
                            )
                        try
                            m.Invoke(null, [||]) |> ignore
                        with :? TargetInvocationException as e when not (isNull e.InnerException) ->
                            raise (
                                InvalidOperationException(
                                    sprintf "[<BeforeTests>] method %s.%s failed: %s" t.FullName m.Name
                                        e.InnerException.Message,
                                    e.InnerException
                                )
                            )

    /// Expecto's configuration for one test: sequenced, silent (results go to VSTest, not to the console).
    let internal config =
        { ExpectoConfig.defaultConfig with
            runInParallel = false
            parallelWorkers = 1
            printer = TestPrinters.silent
            noSpinner = true }

    let private describe (e: exn) =
        let rec chain (e: exn) =
            let here = sprintf "%s: %s" (e.GetType().FullName) e.Message
            match e.InnerException with
            | null -> here
            | inner -> here + Environment.NewLine + " ---> " + chain inner
        chain e

    /// Runs one test on the calling thread, with its console output captured, and records its result.
    let private runOne (handle: IFrameworkHandle) (token: CancellationToken) (test: DiscoveredTest) (duplicate: bool) =
        let case = test.Case
        handle.RecordStart case
        let result = VsTestResult(case)
        result.StartTime <- DateTimeOffset.Now
        let out, err = Console.Out, Console.Error
        use capturedOut = new StringWriter()
        use capturedErr = new StringWriter()
        let summary =
            if duplicate then
                TestSummary.single
                    (ExpectoResult.Failed(
                        sprintf
                            "Another Expecto test has the same full name '%s': give every test a unique name (Expecto's own runner refuses duplicates too)."
                            test.FullName
                    ))
                    0.0
            else
                Console.SetOut capturedOut
                Console.SetError capturedErr
                try
                    execTestAsync token config test.Flat |> Async.RunSynchronously
                finally
                    Console.SetOut out
                    Console.SetError err
        result.EndTime <- DateTimeOffset.Now
        result.Duration <- summary.duration
        match summary.result with
        | ExpectoResult.Passed -> result.Outcome <- TestOutcome.Passed
        | ExpectoResult.Ignored reason ->
            result.Outcome <- TestOutcome.Skipped
            result.ErrorMessage <- reason
        | ExpectoResult.Failed message ->
            result.Outcome <- TestOutcome.Failed
            result.ErrorMessage <- message.Trim()
        | ExpectoResult.Error e ->
            result.Outcome <- TestOutcome.Failed
            result.ErrorMessage <- describe e
            result.ErrorStackTrace <- e.StackTrace
        let stdout = string capturedOut
        if stdout <> "" then
            result.Messages.Add(TestResultMessage(TestResultMessage.StandardOutCategory, stdout))
        let stderr = string capturedErr
        if stderr <> "" then
            result.Messages.Add(TestResultMessage(TestResultMessage.StandardErrorCategory, stderr))
        handle.RecordEnd(case, result.Outcome)
        handle.RecordResult result

    /// Runs the selected tests (of all, the tests of one assembly) one at a time on the calling thread, in Expecto's
    /// order, after calling beforeFirst once; stops before the next test once the token is cancelled. A test whose full
    /// name another test of all shares is reported as failed without running.
    let run (handle: IFrameworkHandle) (token: CancellationToken) (beforeFirst: unit -> unit) (all: DiscoveredTest list) (selected: DiscoveredTest list) =
        if not (List.isEmpty selected) then
            beforeFirst ()
            let duplicates = Discovery.duplicates all
            if not duplicates.IsEmpty then
                handle.SendMessage(
                    TestMessageLevel.Error,
                    sprintf "Expecto tests with duplicated names (each reported as failed): %s"
                        (String.Join("; ", duplicates))
                )
            for test in selected do
                if not token.IsCancellationRequested then
                    runOne handle token test (duplicates.Contains test.FullName)

/// The VSTest discoverer and executor for Expecto test assemblies. The tests of an assembly run one at a time on one
/// thread (never in parallel: the property suites rely on it), with per-test results and `--filter` on
/// FullyQualifiedName and DisplayName (both the test's full name, its levels joined by ".").
[<FileExtension(".dll")>]
[<FileExtension(".exe")>]
[<DefaultExecutorUri(Executor.Uri)>]
[<ExtensionUri(Executor.Uri)>]
type ExpectoTestAdapter() =
    let mutable cancellation = new CancellationTokenSource()

    let runSources (sources: string seq) (context: IRunContext) (handle: IFrameworkHandle) (keep: TestCase -> bool) =
        cancellation <- new CancellationTokenSource()
        match Filtering.ofContext context with
        | Result.Error message -> handle.SendMessage(TestMessageLevel.Error, message)
        | Ok filter ->
            for source in sources do
                match Discovery.load source with
                | None -> ()
                | Some assembly ->
                    let all = Discovery.tests source assembly
                    let selected = all |> List.filter (fun t -> keep t.Case && Filtering.matches filter t.Case)
                    Execution.run handle cancellation.Token (fun () -> Execution.setUp assembly) all selected

    interface ITestDiscoverer with
        /// Sends a test case for every Expecto test of the sources.
        member _.DiscoverTests(sources, _context, logger, sink) =
            for source in sources do
                try
                    match Discovery.load source with
                    | None -> ()
                    | Some assembly -> Discovery.tests source assembly |> List.iter (fun t -> sink.SendTestCase t.Case)
                with e ->
                    logger.SendMessage(
                        TestMessageLevel.Error,
                        sprintf "Expecto test discovery failed for %s: %s" source (e.ToString())
                    )

    interface ITestExecutor with
        /// Runs every Expecto test of the sources that the run's filter selects.
        member _.RunTests(sources: string seq, context: IRunContext, handle: IFrameworkHandle) =
            runSources sources context handle (fun _ -> true)

        /// Runs the given test cases (as chosen in an IDE), one at a time.
        member _.RunTests(tests: TestCase seq, context: IRunContext, handle: IFrameworkHandle) =
            let wanted = tests |> Seq.map (fun t -> t.Source, t.FullyQualifiedName) |> Set.ofSeq
            let sources = wanted |> Seq.map fst |> Seq.distinct |> Seq.toList
            runSources sources context handle (fun case -> wanted.Contains(case.Source, case.FullyQualifiedName))

        /// Stops before the next test (the running one finishes: a native call cannot be interrupted).
        member _.Cancel() = cancellation.Cancel()
