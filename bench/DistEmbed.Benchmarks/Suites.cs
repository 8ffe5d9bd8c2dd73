using BenchmarkDotNet.Attributes;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Benchmarks;

/// <summary>BenchmarkDotNet suite over the CPU workloads W1–W4 and N1 (NNGS) (sizes scaled by DISTEMBED_BENCH_SCALE, default 1).</summary>
[MemoryDiagnoser]
public class CpuWorkloads
{
    private Workloads? _workloads;
    private Action? _run;

    [Params("W1", "W2", "W3", "W4", "N1")]
    public string Workload { get; set; } = "W1";

    [GlobalSetup]
    public void Setup()
    {
        NativeRuntime.EnsureInitialized();
        var scale = double.TryParse(Environment.GetEnvironmentVariable("DISTEMBED_BENCH_SCALE"),
            System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 1.0;
        _workloads = new Workloads(torch.CPU, scale);
        _run = _workloads.Build(Workload).Run;
    }

    [Benchmark]
    public void Run() => _run!();

    [GlobalCleanup]
    public void Cleanup() => _workloads?.Dispose();
}
