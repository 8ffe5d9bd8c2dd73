using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DistEmbed.Sequences;

/// <summary>
/// AdamW with an explicit, serialisable state (step count and both moment estimates per parameter), so that a
/// checkpoint restores the optimiser exactly.
/// </summary>
/// <remarks>
/// One step with learning rate η_t, gradient g:
/// <code>θ ← θ (1 − η_t λ);  m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
/// θ ← θ − η_t (m / (1 − β₁^t)) / (√(v / (1 − β₂^t)) + ε)</code>
/// [1] I. Loshchilov, F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019, Algorithm 2.
/// </remarks>
public sealed class AdamW : IDisposable
{
    private const uint Magic = 0x57414431; // "1DAW"
    private readonly Parameter[] parameters;
    private readonly Tensor[] first;
    private readonly Tensor[] second;

    /// <summary>Creates the optimiser with zero moments.</summary>
    /// <param name="parameters">The parameters, in a fixed order.</param>
    /// <param name="weightDecay">λ ≥ 0.</param>
    /// <param name="beta1">β₁ in [0, 1).</param>
    /// <param name="beta2">β₂ in [0, 1).</param>
    /// <param name="epsilon">ε &gt; 0.</param>
    public AdamW(IEnumerable<Parameter> parameters, double weightDecay = 1e-4, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Require.NonNegative(nameof(weightDecay), weightDecay);
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentException($"beta1 = {beta1}; it must lie in [0, 1).", nameof(beta1));
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentException($"beta2 = {beta2}; it must lie in [0, 1).", nameof(beta2));
        Require.Positive(nameof(epsilon), epsilon);
        this.parameters = parameters.ToArray();
        WeightDecay = weightDecay;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        first = this.parameters.Select(p => torch.zeros_like(p).DetachFromDisposeScope()).ToArray();
        second = this.parameters.Select(p => torch.zeros_like(p).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>λ.</summary>
    public double WeightDecay { get; }
    /// <summary>β₁.</summary>
    public double Beta1 { get; }
    /// <summary>β₂.</summary>
    public double Beta2 { get; }
    /// <summary>ε.</summary>
    public double Epsilon { get; }
    /// <summary>The number of steps taken (t).</summary>
    public long Steps { get; private set; }

    /// <summary>Clears the gradients of all parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in parameters)
        {
            var g = p.grad;
            if (g is not null) g.zero_();
        }
    }

    /// <summary>Takes one step with learning rate η (parameters without a gradient are left alone).</summary>
    /// <param name="learningRate">η ≥ 0.</param>
    public void Step(double learningRate)
    {
        Require.NonNegative(nameof(learningRate), learningRate);
        Steps++;
        var c1 = 1.0 - Math.Pow(Beta1, Steps);
        var c2 = 1.0 - Math.Pow(Beta2, Steps);
        using var decay = (1.0 - learningRate * WeightDecay).ToScalar();
        using var beta1 = Beta1.ToScalar();
        using var beta2 = Beta2.ToScalar();
        using var oneMinusBeta1 = (1.0 - Beta1).ToScalar();
        using var oneMinusBeta2 = (1.0 - Beta2).ToScalar();
        using var correction2 = c2.ToScalar();
        using var epsilon = Epsilon.ToScalar();
        using var step = (-learningRate / c1).ToScalar();
        using var _ = torch.no_grad();
        using var scope = NewDisposeScope();
        for (var i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            var g = p.grad;
            if (g is null) continue;
            p.mul_(decay);
            first[i].mul_(beta1).add_(g, oneMinusBeta1);
            second[i].mul_(beta2).addcmul_(g, g, oneMinusBeta2);
            var denominator = second[i].div(correction2).sqrt().add_(epsilon, Scalars.One);
            p.addcdiv_(first[i], denominator, step);
        }
    }

    /// <summary>Writes the state (t and both moments, float32 raw) to a stream.</summary>
    /// <param name="stream">A writable stream.</param>
    public void Save(Stream stream)
    {
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Steps);
        w.Write(parameters.Length);
        for (var i = 0; i < parameters.Length; i++)
        {
            WriteTensor(w, first[i]);
            WriteTensor(w, second[i]);
        }
    }

    /// <summary>Restores the state written by <see cref="Save"/> for the same parameter list.</summary>
    /// <param name="stream">A readable stream.</param>
    /// <exception cref="InvalidDataException">Not an optimiser state, or one for other parameters.</exception>
    public void Load(Stream stream)
    {
        using var r = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        if (r.ReadUInt32() != Magic) throw new InvalidDataException("the optimiser state file has a wrong header.");
        var steps = r.ReadInt64();
        var count = r.ReadInt32();
        if (count != parameters.Length)
            throw new InvalidDataException($"the optimiser state has {count} parameters but the model has {parameters.Length}.");
        for (var i = 0; i < count; i++)
        {
            ReadTensor(r, first[i]);
            ReadTensor(r, second[i]);
        }
        Steps = steps;
    }

    private static void WriteTensor(BinaryWriter w, Tensor t)
    {
        var values = t.cpu().to_type(ScalarType.Float32).data<float>().ToArray();
        w.Write(values.Length);
        foreach (var v in values) w.Write(v);
    }

    private static void ReadTensor(BinaryReader r, Tensor target)
    {
        var n = r.ReadInt32();
        if (n != target.numel()) throw new InvalidDataException($"an optimiser moment has {n} values but its parameter has {target.numel()}.");
        var values = new float[n];
        for (var i = 0; i < n; i++) values[i] = r.ReadSingle();
        using var _ = torch.no_grad();
        using var t = torch.tensor(values, target.shape).to(target.device);
        target.copy_(t);
    }

    /// <summary>Frees the moment tensors.</summary>
    public void Dispose()
    {
        foreach (var t in first) t.Dispose();
        foreach (var t in second) t.Dispose();
    }
}
