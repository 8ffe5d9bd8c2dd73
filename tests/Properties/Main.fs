module DistEmbed.Properties.Main

open Expecto

/// Runs every [<Tests>] value in this assembly. FsCheck properties use a fixed seed (see Generators.seed)
/// and print it on failure, so a failure can be replayed.
[<EntryPoint>]
let main argv =
    // DISTEMBED_TEST_DEVICE=cuda runs the tensor suites on a GPU: every tensor the tests create lands there.
    match System.Environment.GetEnvironmentVariable "DISTEMBED_TEST_DEVICE" with
    | null | "" -> ()
    | name -> TorchSharp.torch.set_default_device (DistEmbed.Core.NativeRuntime.ResolveDevice name)
    runTestsInAssemblyWithCLIArgs [ CLIArguments.Colours 0; CLIArguments.No_Spinner ] argv
