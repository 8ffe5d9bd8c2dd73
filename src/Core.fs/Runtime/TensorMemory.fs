namespace DistEmbed.Core

#nowarn "9"

open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open Microsoft.FSharp.NativeInterop
open TorchSharp

/// The memory of contiguous CPU tensors, for the managed kernels that read or write it directly.
module internal TensorMemory =

    /// The address of the first element of a contiguous CPU tensor (its storage does not move while it lives).
    let address (t: torch.Tensor) : nativeint =
        let bytes = t.bytes
        NativePtr.toNativeInt (NativePtr.ofVoidPtr (Unsafe.AsPointer(&MemoryMarshal.GetReference(bytes))) : nativeptr<byte>)
