using DistEmbed.Core;
using Xunit;

namespace DistEmbed.Facade.Tests;

public class NativeRuntimeTests
{
    [Fact]
    public void MissingGlibcxxSymbolIsExplainedInOneActionableMessage()
    {
        var message = NativeRuntime.explain("/app/libLibTorchSharp.so",
            "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by /app/libLibTorchSharp.so)");
        Assert.Contains("GLIBCXX_3.4.32", message);
        Assert.Contains("libLibTorchSharp.so", message);
        Assert.Contains("build.sh setup", message);
    }

    [Fact]
    public void UnknownDeviceNameIsRejectedWithTheValidNames()
    {
        var e = Assert.Throws<ArgumentException>(() => NativeRuntime.ResolveDevice("tpu"));
        Assert.Equal("device", e.ParamName);
        Assert.Contains("auto, cpu, cuda", e.Message);
    }

    [Fact]
    public void CpuDeviceResolvesAndTensorsWork()
    {
        var device = NativeRuntime.ResolveDevice("cpu");
        using var t = TorchSharp.torch.ones(3, device: device);
        Assert.Equal(3.0f, t.sum().item<float>());
    }
}
