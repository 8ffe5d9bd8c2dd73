using System.Runtime.InteropServices;
using Cloud.Unum.USearch;

namespace DistEmbed.Retrieval;

/// <summary>
/// The C entry points of USearch's <c>libusearch_c</c> (shipped by the NuGet package <c>Cloud.Unum.USearch</c>) that
/// <see cref="HnswIndex"/> calls. The package's own managed wrapper (<c>USearchIndex</c>) offers no way to set the search
/// expansion or the thread count of a loaded index, copies every vector into a new array and can load only from a file
/// path; these declarations follow its internal <c>NativeMethods</c> of version 2.26.6 (same names, argument order and
/// types; the options struct and the enums are the package's public <see cref="IndexOptions"/>,
/// <see cref="MetricKind"/> and <see cref="ScalarKind"/>), plus <c>usearch_change_expansion_search</c>,
/// <c>usearch_change_threads_add/search</c>, <c>usearch_serialized_length</c> and <c>usearch_save/load_buffer</c> of
/// <c>c/usearch.h</c>.
/// </summary>
internal static class USearchNative
{
    private const string Library = "libusearch_c";

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern IntPtr usearch_version();

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern IntPtr usearch_init(ref IndexOptions options, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_free(IntPtr index, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern UIntPtr usearch_serialized_length(IntPtr index, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_save_buffer(IntPtr index, IntPtr buffer, UIntPtr length, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_load_buffer(IntPtr index, IntPtr buffer, UIntPtr length, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern UIntPtr usearch_size(IntPtr index, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern UIntPtr usearch_dimensions(IntPtr index, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern UIntPtr usearch_connectivity(IntPtr index, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern UIntPtr usearch_capacity(IntPtr index, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_reserve(IntPtr index, UIntPtr capacity, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_change_expansion_search(IntPtr index, UIntPtr expansion, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_change_threads_add(IntPtr index, UIntPtr threads, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_change_threads_search(IntPtr index, UIntPtr threads, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern void usearch_add(IntPtr index, ulong key, IntPtr vector, ScalarKind vectorKind, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.I1)]
    public static extern bool usearch_contains(IntPtr index, ulong key, out IntPtr error);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
    public static extern UIntPtr usearch_search(IntPtr index, IntPtr query, ScalarKind queryKind, UIntPtr count,
        IntPtr foundKeys, IntPtr foundDistances, out IntPtr error);

    /// <summary>The version of the loaded native library (e.g. <c>2.26.6</c>).</summary>
    public static string Version() => Marshal.PtrToStringAnsi(usearch_version()) ?? "";

    /// <summary>Throws <see cref="InvalidOperationException"/> "USearch &lt;what&gt; failed: &lt;native message&gt;" when the
    /// native call reported an error.</summary>
    public static void Check(IntPtr error, string what)
    {
        if (error != IntPtr.Zero)
            throw new InvalidOperationException($"USearch {what} failed: {Marshal.PtrToStringAnsi(error)}.");
    }
}

/// <summary>Native memory of a given length (for serialising an index without a 2 GiB array limit), freed on dispose.</summary>
internal sealed class NativeBuffer : SafeBuffer
{
    public NativeBuffer(long bytes) : base(ownsHandle: true)
    {
        SetHandle(Marshal.AllocHGlobal((nint)Math.Max(1, bytes)));
        Initialize((ulong)Math.Max(1, bytes));
        Length = bytes;
    }

    /// <summary>The length in bytes.</summary>
    public long Length { get; }

    protected override bool ReleaseHandle()
    {
        Marshal.FreeHGlobal(handle);
        return true;
    }

    /// <summary>A stream over the buffer.</summary>
    public UnmanagedMemoryStream Stream(FileAccess access) => new(this, 0, Length, access);
}
