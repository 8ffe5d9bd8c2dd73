module DistEmbed.Properties.Main

open Expecto

/// DISTEMBED_TEST_DEVICE=cuda runs the tensor suites on a GPU: every tensor the tests create lands there. Called by
/// main below (`dotnet run`) and, through [<BeforeTests>], by the Expecto adapter before the first test (`dotnet test`).
[<DistEmbed.Expecto.TestAdapter.BeforeTests>]
let configureDevice () =
    match System.Environment.GetEnvironmentVariable "DISTEMBED_TEST_DEVICE" with
    | null | "" -> ()
    | name -> TorchSharp.torch.set_default_device (DistEmbed.Core.NativeRuntime.ResolveDevice name)

/// Runs every [<Tests>] value in this assembly. FsCheck properties use a fixed seed (see Generators.seed)
/// and print it on failure, so a failure can be replayed.
[<EntryPoint>]
let main argv =
    configureDevice ()
    runTestsInAssemblyWithCLIArgs [ CLIArguments.Colours 0; CLIArguments.No_Spinner ] argv
