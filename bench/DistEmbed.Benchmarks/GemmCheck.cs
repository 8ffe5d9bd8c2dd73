using TorchSharp;
using DistEmbed.Core;
namespace DistEmbed.Benchmarks;
public static class GemmCheck
{
    public static int Run()
    {
        NativeRuntime.EnsureInitialized();
        torch.manual_seed(1);
        var x = torch.randn(2000, 256);
        using var batch = VectorBatch.FromTensor(x);
        var distance = Distances.Euclidean();
        var p = distance.Pairwise(batch, batch);
        var f = StreamedRetrieval.fusedDistances(distance, batch, batch).Value;
        var ne = p.ne(f);
        Console.WriteLine($"differ: {ne.sum().item<long>()} of {p.numel()}");
        var idx = ne.nonzero();
        for (long k = 0; k < Math.Min(5, idx.shape[0]); k++)
        {
            long i = idx[k, 0].item<long>(), j = idx[k, 1].item<long>();
            Console.WriteLine($"({i},{j}) pairwise {p[i, j].item<float>():G9} fused {f[i, j].item<float>():G9}");
        }
        var sq = Distances.SquaredEuclidean();
        var ps = sq.Pairwise(batch, batch);
        var fs = StreamedRetrieval.fusedDistances(sq, batch, batch).Value;
        Console.WriteLine($"sqeuclidean differ: {ps.ne(fs).sum().item<long>()}");
        Console.WriteLine($"sqrt(pairwise sq) vs pairwise euclid differ: {ps.sqrt().ne(p).sum().item<long>()}; sqrt(fused sq) vs fused euclid: {fs.sqrt().ne(f).sum().item<long>()}");
        Console.WriteLine($"(0,7) sq pairwise {ps[0,7].item<float>():G9} fused {fs[0,7].item<float>():G9} sqrt {MathF.Sqrt(fs[0,7].item<float>()):G9} {(float)Math.Sqrt(fs[0,7].item<float>()):G9}");
        return 0;
    }
}
