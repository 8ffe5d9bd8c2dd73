using System.Runtime.InteropServices;
using DistEmbed.Cli;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// <c>distembed</c> asks libtorch's OpenMP threads to sleep instead of spin (<c>OMP_WAIT_POLICY=PASSIVE</c> in the
/// native environment, read by libgomp when it loads) unless the user chose a policy.
/// </summary>
public sealed class CliNativeEnvironmentTests
{
    [DllImport("libc", EntryPoint = "getenv")]
    private static extern IntPtr GetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "unsetenv")]
    private static extern int UnsetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    private static string? Native(string name) => Marshal.PtrToStringUTF8(GetEnv(name));

    [Fact]
    public void SetsPassiveWhenUnsetAndKeepsTheUsersPolicy()
    {
        if (!OperatingSystem.IsLinux()) return;
        var name = NativeEnvironment.WaitPolicyVariable;
        var original = Native(name);
        try
        {
            Assert.Equal(0, UnsetEnv(name));
            Assert.True(NativeEnvironment.PreferPassiveOpenMpWait());
            Assert.Equal("PASSIVE", Native(name));

            Assert.Equal(0, SetEnv(name, "ACTIVE", 1));
            Assert.True(NativeEnvironment.PreferPassiveOpenMpWait());
            Assert.Equal("ACTIVE", Native(name));
        }
        finally
        {
            if (original is null) UnsetEnv(name); else SetEnv(name, original, 1);
        }
    }
}
