using System.Runtime.InteropServices;

namespace DistEmbed.Cli;

/// <summary>
/// Settings of the native runtime that must be in the process environment before libtorch (and its OpenMP runtime)
/// is loaded, which happens on the first tensor operation.
/// </summary>
public static class NativeEnvironment
{
    /// <summary>The OpenMP variable read by libgomp when it is loaded: <c>OMP_WAIT_POLICY</c>.</summary>
    public const string WaitPolicyVariable = "OMP_WAIT_POLICY";

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment unless the user has set it: libtorch's OpenMP
    /// threads then sleep between parallel regions instead of spinning. A command runs once and exits, and on a
    /// machine with more runnable threads than cores the spinning threads take the cores from the threads with work:
    /// `distembed distance` on W1 (two [512, 128, 64] batches, pairwise marginal W2, 2 threads) spent 43 % of its
    /// CPU time in libgomp's spin loop and took 18.4–19.9 s of wall time (3.7–3.9 s CPU) with the default policy,
    /// 8.7–9.9 s (1.9–2.1 s CPU) with PASSIVE, at load average 30 on 2 cores (docs/benchmarks.md).
    /// </summary>
    /// <remarks>.NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not reach the native
    /// environment on Unix, so libc's <c>setenv</c> is called (Linux and macOS; a no-op elsewhere).</remarks>
    /// <returns>True when the native environment now holds the variable (set here or by the user); false where
    /// libc's <c>setenv</c> is not available (Windows).</returns>
    public static bool PreferPassiveOpenMpWait()
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return false;
        try
        {
            // overwrite = 0: a value the user set wins.
            return SetEnv(WaitPolicyVariable, "PASSIVE", 0) == 0;
        }
        catch (DllNotFoundException) { return false; }
        catch (EntryPointNotFoundException) { return false; }
    }

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
