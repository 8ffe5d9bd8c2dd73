using DistEmbed;
using DistEmbed.Data;
using DistEmbed.Evaluation;
using DistEmbed.Sequences;
using Xunit;

namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>The C# example of docs/gpu.md: the device is one string everywhere, and "auto" gives the CPU's results
/// where no CUDA runtime is loaded (as on the machine the tests run on).</summary>
public sealed class GpuGuideExamples
{
    [Fact]
    public void ChooseTheDevice()
    {
        #region snippet:gpu-device
        var (a, aMask) = RandomDistributions.Generate(count: 4, minLength: 5, maxLength: 12, dimension: 2, seed: 1);
        var (b, bMask) = RandomDistributions.Generate(count: 3, minLength: 5, maxLength: 12, dimension: 2, seed: 2);

        // Devices.Default = "auto": CUDA when the loaded runtime has it (DISTEMBED_LIBTORCH, above), else the CPU;
        // "cpu", "cuda", "cuda:1" name one. Every device parameter and options record defaults to it.
        double[,] d = ArrayDistances.Pairwise(a, b, "sinkhorn-divergence", new DistanceSettings { Epsilon = 0.5 }, aMask, bMask);
        TorchSharp.torch.Device where = Devices.Resolve(Devices.Default);   // the device "auto" stands for here

        // The trainers and the evaluation take the same string: the model, the batches and the distances go there.
        var trainer = new TrainerOptions { Device = "auto" };
        var evaluation = new EvaluationOptions { Device = "auto" };
        // An unknown name fails by argument: "device = 'gpu' is not a device; valid values: auto (…), cpu, cuda, cuda:N."
        #endregion
        var onCpu = ArrayDistances.Pairwise(a, b, "sinkhorn-divergence", new DistanceSettings { Epsilon = 0.5 }, aMask, bMask, device: "cpu");
        Assert.Equal(TorchSharp.torch.cuda.is_available() ? TorchSharp.DeviceType.CUDA : TorchSharp.DeviceType.CPU, where.type);
        Assert.Equal("device", Assert.Throws<ArgumentException>(() => Devices.Resolve("gpu")).ParamName);
        if (where.type == TorchSharp.DeviceType.CPU) Assert.Equal(onCpu, d);
        else
            for (var i = 0; i < 4; i++)
                for (var j = 0; j < 3; j++) Assert.Equal(onCpu[i, j], d[i, j], 1e-4);
        trainer.Validate();
        float[,] vectors = { { 0, 0 }, { 0.1f, 0 }, { 5, 5 }, { 5.1f, 5 } };
        int[] labels = [0, 0, 1, 1];
        Assert.Equal(EmbeddingEvaluation.Evaluate(vectors, labels).MapAtR, EmbeddingEvaluation.Evaluate(vectors, labels, evaluation).MapAtR);
    }
}
