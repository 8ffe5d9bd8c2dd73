/// The Expecto adapter that `dotnet test` runs these suites with (tests/Expecto.TestAdapter): a small test tree with
/// every kind of outcome goes through it, and each result must reach VSTest with the right outcome and message, one
/// test at a time.
module DistEmbed.Properties.AdapterTests

open System
open System.Collections.Generic
open System.Threading
open Expecto
open Microsoft.VisualStudio.TestPlatform.ObjectModel
open Microsoft.VisualStudio.TestPlatform.ObjectModel.Adapter
open DistEmbed.Expecto.TestAdapter

/// A VSTest framework handle that records what the adapter reports, in order.
type private Recorder() =
    let events = ResizeArray<string>()
    let results = Dictionary<string, TestResult>()
    let messages = ResizeArray<string>()
    member _.Events = List.ofSeq events
    member _.Results = results
    member _.Messages = List.ofSeq messages
    interface IFrameworkHandle with
        member val EnableShutdownAfterTestRun = false with get, set
        member _.LaunchProcessWithDebuggerAttached(_, _, _, _) = 0
        member _.RecordStart case = events.Add("start " + case.FullyQualifiedName)
        member _.RecordEnd(case, _) = events.Add("end " + case.FullyQualifiedName)
        member _.RecordResult result =
            events.Add("result " + result.TestCase.FullyQualifiedName)
            results.[result.TestCase.FullyQualifiedName] <- result
        member _.RecordAttachments _ = ()
        member _.SendMessage(_, message) = messages.Add message

/// Runs a test tree through the adapter and returns what it reported.
let private runThrough (token: CancellationToken) (tree: Test) =
    let recorder = Recorder()
    let tests = Discovery.flatten "sample.dll" tree
    let mutable setUps = 0
    Execution.run recorder token (fun () -> setUps <- setUps + 1) tests tests
    recorder, tests, setUps

let private outcome (recorder: Recorder) name = recorder.Results.[name].Outcome
let private message (recorder: Recorder) name = recorder.Results.[name].ErrorMessage

[<Tests>]
let tests =
    testList "expecto adapter" [
        testCase "every outcome reaches VSTest, one test at a time" <| fun () ->
            let running = ref 0
            let most = ref 0
            let enter () =
                let now = Interlocked.Increment running
                most.Value <- max most.Value now
            let leave () = Interlocked.Decrement running |> ignore
            let tree =
                testList "sample" [
                    testCase "passes" (fun () -> enter (); printfn "hello from a test"; Thread.Sleep 20; leave ())
                    testCase "fails" (fun () -> enter (); leave (); Expect.equal 1 2 "one is not two")
                    testCase "throws" (fun () -> enter (); leave (); invalidOp "boom")
                    ptestCase "pending" (fun () -> failwith "a pending test must not run")
                    testCaseAsync "async" (
                        async {
                            enter ()
                            do! Async.Sleep 20
                            leave ()
                        }
                    )
                    testProperty "property holds" (fun (x: int) -> x + 0 = x)
                    testProperty "property fails" (fun (x: int) -> x < 5)
                ]
            let recorder, discovered, setUps = runThrough CancellationToken.None tree
            Expect.equal setUps 1 "the set-up runs once, before the first test"
            let names = discovered |> List.map (fun t -> t.FullName)
            Expect.equal names
                [ "sample.passes"; "sample.fails"; "sample.throws"; "sample.pending"; "sample.async"
                  "sample.property holds"; "sample.property fails" ]
                "full names join the levels with '.', in Expecto's order"
            for t in discovered do
                Expect.equal t.Case.FullyQualifiedName t.FullName "FullyQualifiedName is the full name"
                Expect.equal t.Case.DisplayName t.FullName "DisplayName is the full name"
            Expect.equal
                recorder.Events
                [ for n in names do yield! [ "start " + n; "end " + n; "result " + n ] ]
                "each test is started, ended and reported before the next one starts"
            Expect.equal most.Value 1 "no two tests ran at the same time"
            Expect.equal (outcome recorder "sample.passes") TestOutcome.Passed "a passing test"
            let out = recorder.Results.["sample.passes"].Messages |> Seq.map (fun m -> m.Category, m.Text) |> List.ofSeq
            Expect.exists out (fun (category, text) ->
                category = TestResultMessage.StandardOutCategory && text.Contains "hello from a test")
                (sprintf "a test's console output is attached to its result: %A" out)
            Expect.equal (outcome recorder "sample.fails") TestOutcome.Failed "a failed expectation"
            Expect.stringContains (message recorder "sample.fails") "one is not two" "the expectation's message"
            Expect.equal (outcome recorder "sample.throws") TestOutcome.Failed "an exception"
            Expect.stringContains (message recorder "sample.throws") "System.InvalidOperationException: boom"
                "the exception's type and message"
            Expect.isNotNull recorder.Results.["sample.throws"].ErrorStackTrace "the exception's stack trace"
            Expect.equal (outcome recorder "sample.pending") TestOutcome.Skipped "a pending test is skipped"
            Expect.equal (outcome recorder "sample.async") TestOutcome.Passed "an async test"
            Expect.equal (outcome recorder "sample.property holds") TestOutcome.Passed "a property that holds"
            Expect.equal (outcome recorder "sample.property fails") TestOutcome.Failed "a falsified property"
            let falsified = message recorder "sample.property fails"
            // Either shrunk to 5 or, when the first failing draw was 5 itself, reported as drawn.
            Expect.isMatch falsified @"(Shrunk \d+ times to:|Parameters:)\s+5\s" "FsCheck's report with the counterexample 5"
            Expect.stringContains falsified "seed" "and the seed that replays it"

        testCase "duplicated full names fail without running" <| fun () ->
            let ran = ref 0
            let tree =
                testList "twice" [
                    testList "a" [ testCase "b" (fun () -> ran.Value <- ran.Value + 1) ]
                    testCase "a.b" (fun () -> ran.Value <- ran.Value + 1)
                    testCase "unique" (fun () -> ran.Value <- ran.Value + 1)
                ]
            let recorder, _, _ = runThrough CancellationToken.None tree
            Expect.equal ran.Value 1 "only the uniquely named test ran"
            Expect.equal (outcome recorder "twice.a.b") TestOutcome.Failed "the duplicated name is reported as failed"
            Expect.stringContains (message recorder "twice.a.b") "same full name" "and says why"
            Expect.equal (outcome recorder "twice.unique") TestOutcome.Passed "the other test runs"
            Expect.exists recorder.Messages (fun m -> m.Contains "twice.a.b") "the run log names the duplicate"

        testCase "a cancelled run starts no further test" <| fun () ->
            use cancelled = new CancellationTokenSource()
            cancelled.Cancel()
            let ran = ref false
            let recorder, _, _ = runThrough cancelled.Token (testCase "never" (fun () -> ran.Value <- true))
            Expect.isFalse ran.Value "the test did not run"
            Expect.isEmpty recorder.Events "nothing was reported"
    ]
