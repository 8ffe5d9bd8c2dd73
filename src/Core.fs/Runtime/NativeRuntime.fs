namespace DistEmbed.Core

open System
open System.IO
open System.Runtime.InteropServices
open System.Text.RegularExpressions
open TorchSharp

/// <summary>
/// Raised when TorchSharp's native runtime cannot be loaded. The message names the library, the missing
/// symbol or file, and what to do, in place of TorchSharp's long load trace.
/// </summary>
type NativeRuntimeException(message: string, inner: exn) =
    inherit Exception(message, inner)

/// <summary>
/// Loads TorchSharp's native runtime once, before the first tensor is made, and turns load failures into one
/// actionable <see cref="T:DistEmbed.Core.NativeRuntimeException"/>.
/// </summary>
/// <remarks>
/// When the environment variable <c>DISTEMBED_LIBTORCH</c> names a folder (a PyTorch install's <c>torch/lib</c>
/// or an unpacked libtorch archive), the libtorch libraries in it are loaded by absolute path — <c>libc10</c>,
/// <c>libtorch_cpu</c>, <c>libc10_cuda</c>, <c>libtorch_cuda</c>, <c>libtorch</c>, those present — followed by
/// TorchSharp's <c>libLibTorchSharp</c> from the application folder, so that TorchSharp uses that libtorch
/// (CUDA included) instead of a <c>libtorch-*</c> NuGet package.
/// </remarks>
[<RequireQualifiedAccess>]
module NativeRuntime =

    /// <summary>The environment variable that names an existing libtorch folder to load.</summary>
    [<Literal>]
    let LibTorchVariable = "DISTEMBED_LIBTORCH"

    let private libTorchOrder =
        [ "libc10.so"; "libtorch_cpu.so"; "libc10_cuda.so"; "libtorch_cuda.so"; "libtorch.so" ]

    let private torchSharpNativeName =
        if RuntimeInformation.IsOSPlatform OSPlatform.Windows then "LibTorchSharp.dll"
        elif RuntimeInformation.IsOSPlatform OSPlatform.OSX then "libLibTorchSharp.dylib"
        else "libLibTorchSharp.so"

    let private candidateTorchSharpPaths () =
        let baseDir = AppContext.BaseDirectory
        let rid = RuntimeInformation.RuntimeIdentifier
        let arch = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()
        let os =
            if RuntimeInformation.IsOSPlatform OSPlatform.Windows then "win"
            elif RuntimeInformation.IsOSPlatform OSPlatform.OSX then "osx"
            else "linux"
        [ Path.Combine(baseDir, torchSharpNativeName)
          Path.Combine(baseDir, "runtimes", rid, "native", torchSharpNativeName)
          Path.Combine(baseDir, "runtimes", $"{os}-{arch}", "native", torchSharpNativeName) ]
        |> List.distinct

    let private findTorchSharpNative () =
        candidateTorchSharpPaths () |> List.tryFind File.Exists

    let private glibcxxPattern = Regex(@"version `?'?(GLIBCXX_[0-9.]+)'? not found", RegexOptions.Compiled)

    /// <summary>Builds the one-paragraph explanation for a failed native load (exposed for tests).</summary>
    /// <param name="library">The library that failed to load.</param>
    /// <param name="loaderMessage">The dynamic loader's message.</param>
    /// <returns>An actionable message: which library, which symbol or file, what to do.</returns>
    let explain (library: string, loaderMessage: string) : string =
        let m = glibcxxPattern.Match(loaderMessage)
        if m.Success then
            let symbol = m.Groups.[1].Value
            $"TorchSharp's native library {library} needs the C++ runtime symbol version {symbol}, which this "
            + "machine's libstdc++.so.6 does not provide (TorchSharp 0.107 needs GCC 13's libstdc++). "
            + "Fix: on Debian 12 run `sudo ./build.sh setup` (installs libstdc++6 from Debian 13 with a low apt pin); "
            + "elsewhere install libstdc++ from GCC ≥ 13 (Ubuntu 24.04 and Debian 13 have it)."
        else
            $"TorchSharp's native library {library} could not be loaded: {loaderMessage.Trim()} "
            + "Fix: reference the TorchSharp-cpu package (or TorchSharp-cuda-linux) in the application, or set "
            + $"{LibTorchVariable} to a libtorch folder (for example a PyTorch install's torch/lib)."

    let private loadFromLibTorchFolder (folder: string) =
        if not (Directory.Exists folder) then
            raise (NativeRuntimeException($"{LibTorchVariable}={folder} is not a folder. Set it to a libtorch 'lib' folder, for example the output of: python3 -c 'import torch,os;print(os.path.dirname(torch.__file__)+\"/lib\")'", null))
        let present = libTorchOrder |> List.map (fun n -> Path.Combine(folder, n)) |> List.filter File.Exists
        if not (present |> List.exists (fun p -> p.EndsWith "libtorch_cpu.so")) then
            raise (NativeRuntimeException($"{LibTorchVariable}={folder} holds no libtorch_cpu.so; point it at the folder that contains libtorch's shared libraries.", null))
        for path in present do
            try NativeLibrary.Load path |> ignore
            with :? DllNotFoundException as e -> raise (NativeRuntimeException(explain (path, e.Message), e))
        match findTorchSharpNative () with
        | Some path ->
            try NativeLibrary.Load path |> ignore
            with :? DllNotFoundException as e -> raise (NativeRuntimeException(explain (path, e.Message), e))
        | None ->
            let looked = String.Join(", ", candidateTorchSharpPaths ())
            raise (NativeRuntimeException($"{LibTorchVariable} is set but {torchSharpNativeName} was not found (looked in {looked}); reference the TorchSharp package in the application.", null))

    /// <summary>Diagnoses a failed TorchSharp initialisation by loading its native library directly.</summary>
    let private diagnose (e: exn) : exn =
        match findTorchSharpNative () with
        | Some path ->
            try
                NativeLibrary.Load path |> ignore
                NativeRuntimeException(explain (path, e.Message.Split('\n').[0]), e) :> exn
            with :? DllNotFoundException as d -> NativeRuntimeException(explain (path, d.Message), e) :> exn
        | None ->
            NativeRuntimeException(
                $"TorchSharp's native library {torchSharpNativeName} is not next to the application. Reference the TorchSharp-cpu package (or TorchSharp-cuda-linux) in the application project, or set {LibTorchVariable} to a libtorch folder.",
                e) :> exn

    let private initialise =
        lazy
            (match Environment.GetEnvironmentVariable LibTorchVariable with
             | null
             | "" -> ()
             | folder -> loadFromLibTorchFolder folder
             try
                 torch.InitializeDeviceType DeviceType.CPU
             with
             | :? NativeRuntimeException -> reraise ()
             | e -> raise (diagnose e))

    /// <summary>
    /// Loads the native runtime on first call (idempotent, thread-safe); every public tensor function calls it.
    /// </summary>
    /// <exception cref="T:DistEmbed.Core.NativeRuntimeException">The native runtime cannot be loaded; the message says why and what to do.</exception>
    let EnsureInitialized () = initialise.Force()

    /// <summary>Resolves a device name: <c>auto</c> (CUDA when available, else CPU), <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    /// <param name="name">The device name (case-insensitive).</param>
    /// <exception cref="T:System.ArgumentException">Unknown name, or CUDA asked for but not available.</exception>
    let ResolveDevice (name: string) : torch.Device =
        EnsureInitialized ()
        let n = if isNull name then "auto" else name.Trim().ToLowerInvariant()
        match n with
        | "auto" -> if torch.cuda.is_available () then torch.CUDA else torch.CPU
        | "cpu" -> torch.CPU
        | s when s = "cuda" || s.StartsWith "cuda:" ->
            if not (torch.cuda.is_available ()) then
                Validation.fail "device" $"device '{name}' was asked for but CUDA is not available here; use 'cpu' or 'auto', or set {LibTorchVariable} to a CUDA-enabled libtorch."
            torch.device s
        | _ -> Validation.fail "device" $"device '{name}' is unknown; valid values: auto, cpu, cuda, cuda:N."
