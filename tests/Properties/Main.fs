module DistEmbed.Properties.Main

open Expecto

/// Runs every [<Tests>] value in this assembly. FsCheck properties use a fixed seed (see Generators.config)
/// and print it on failure, so a failure can be replayed.
[<EntryPoint>]
let main argv =
    runTestsInAssemblyWithCLIArgs [ CLIArguments.Summary ] argv
