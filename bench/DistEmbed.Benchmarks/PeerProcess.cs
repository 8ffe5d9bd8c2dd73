using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace DistEmbed.Benchmarks;

/// <summary>
/// A peer script (bench/peers/*.py) started once in <c>--serve</c> mode (bench/peers/peer_common.py): it builds its
/// inputs, prints a header line (version, threads, BLAS) and then answers each <c>run ID</c> line with one timed run,
/// so that the harness can alternate single runs of ours and of the peer in the same process run.
/// </summary>
public sealed class PeerProcess : IDisposable
{
    private readonly Process _process;

    private PeerProcess(string name, Process process, JsonNode header)
    {
        Name = name;
        _process = process;
        Header = header;
        Workloads = header["workloads"]?.AsArray().Select(n => n!.GetValue<string>()).ToHashSet() ?? [];
    }

    /// <summary>OMP_WAIT_POLICY given to every peer process (the harness's own policy), or null for the default.</summary>
    public static string? WaitPolicy { get; set; }

    /// <summary>The peer's display name (PyTorch, POT, …).</summary>
    public string Name { get; }

    /// <summary>The header line: peer, version, threads, blas, blas_threads, openmp_threads, workloads.</summary>
    public JsonNode Header { get; }

    /// <summary>The workload ids this peer runs.</summary>
    public IReadOnlySet<string> Workloads { get; }

    /// <summary>Starts <paramref name="script"/> with <c>--serve</c>; null (with a line on stderr) when it cannot
    /// start or does not answer with a header.</summary>
    public static PeerProcess? Start(string name, string python, string script, string arguments)
    {
        if (!File.Exists(script)) { Console.Error.WriteLine($"peer script {script} not found"); return null; }
        Process process;
        try
        {
            var psi = new ProcessStartInfo(python, $"{script} {arguments} --serve")
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            };
            if (WaitPolicy is { } policy) psi.Environment["OMP_WAIT_POLICY"] = policy;
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"peer {script} could not start with '{python}': {e.Message}");
            return null;
        }
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        var line = process.StandardOutput.ReadLine();
        if (line is null || JsonNode.Parse(line) is not { } header || header["serve"] is null)
        {
            process.WaitForExit(5000);
            lock (stderr) Console.Error.WriteLine($"peer {Path.GetFileName(script)} gave no --serve header (exit {(process.HasExited ? process.ExitCode.ToString(CultureInfo.InvariantCulture) : "-")}): {line} {stderr}");
            if (!process.HasExited) process.Kill();
            process.Dispose();
            return null;
        }
        Console.Error.WriteLine($"peer {Path.GetFileName(script)}: {line}");
        return new PeerProcess(name, process, header);
    }

    /// <summary>One timed run of workload <paramref name="id"/> in the peer (a warm-up precedes its first run);
    /// milliseconds, or null when the peer failed.</summary>
    public double? Run(string id)
    {
        if (_process.HasExited) return null;
        _process.StandardInput.WriteLine($"run {id}");
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLine();
        if (line is null) { Console.Error.WriteLine($"peer {Name} ended while running {id}"); return null; }
        var answer = JsonNode.Parse(line);
        if (answer?["ms"] is { } ms) return ms.GetValue<double>();
        Console.Error.WriteLine($"peer {Name}: {line}");
        return null;
    }

    /// <summary>Asks the peer to quit and waits for it (killed after 10 s).</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("quit");
                _process.StandardInput.Close();
                if (!_process.WaitForExit(10_000)) _process.Kill();
            }
        }
        catch (InvalidOperationException) { }
        catch (IOException) { }
        _process.Dispose();
    }
}
