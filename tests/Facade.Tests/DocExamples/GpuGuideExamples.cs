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

        // "auto": CUDA when the loaded runtime has it (DISTEMBED_LIBTORCH, above), else the CPU; "cpu", "cuda", "cuda:1" name one.
        double[,] d = ArrayDistances.Pairwise(a, b, "sinkhorn-divergence", new DistanceSettings { Epsilon = 0.5 }, aMask, bMask, device: "auto");

        // The trainers and the evaluation take the same string: the model, the batches and the distances go there.
        var trainer = new TrainerOptions { Device = "auto" };
        var evaluation = new EvaluationOptions { Device = "auto" };
        #endregion
        var onCpu = ArrayDistances.Pairwise(a, b, "sinkhorn-divergence", new DistanceSettings { Epsilon = 0.5 }, aMask, bMask, device: "cpu");
        if (DistEmbed.Core.NativeRuntime.ResolveDevice("auto").type == TorchSharp.DeviceType.CPU) Assert.Equal(onCpu, d);
        else
            for (var i = 0; i < 4; i++)
                for (var j = 0; j < 3; j++) Assert.Equal(onCpu[i, j], d[i, j], 1e-4);
        trainer.Validate();
        float[,] vectors = { { 0, 0 }, { 0.1f, 0 }, { 5, 5 }, { 5.1f, 5 } };
        int[] labels = [0, 0, 1, 1];
        Assert.Equal(EmbeddingEvaluation.Evaluate(vectors, labels).MapAtR, EmbeddingEvaluation.Evaluate(vectors, labels, evaluation).MapAtR);
    }
}
