using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DistEmbed.Autoencoders;

/// <summary>An encoder q(z | x) = N(μ(x), diag exp(v(x))) and a Bernoulli decoder p(x | z) with logits ℓ(z).</summary>
internal abstract class VaeNetwork : nn.Module
{
    protected VaeNetwork(string name) : base(name)
    {
    }

    /// <summary>Images [B, P] → (means [B, L], log-variances [B, L]).</summary>
    public abstract (Tensor Mean, Tensor LogVariance) Encode(Tensor images);

    /// <summary>Latents [B, L] → pixel logits [B, P].</summary>
    public abstract Tensor DecodeLogits(Tensor latents);

    /// <summary>Builds the network of <paramref name="architecture"/> for rows × cols images.</summary>
    public static VaeNetwork Create(TvaeArchitecture architecture, int rows, int cols, int hidden, int latent) => architecture switch
    {
        TvaeArchitecture.Mlp => new MlpVaeNetwork(rows * cols, hidden, latent),
        TvaeArchitecture.Conv => new ConvVaeNetwork(rows, cols, hidden, latent),
        _ => throw new ArgumentException($"architecture = {(int)architecture} is not one of Mlp, Conv.", nameof(architecture)),
    };
}

/// <summary>The TVAE paper's MLP: P→H ReLU → (H→L, H→L); L→H ReLU → H→P.</summary>
internal sealed class MlpVaeNetwork : VaeNetwork
{
    private readonly Linear hidden;
    private readonly Linear mean;
    private readonly Linear logVariance;
    private readonly Linear decodeHidden;
    private readonly Linear decodeOut;

    public MlpVaeNetwork(int pixels, int hiddenSize, int latentSize) : base("MlpVae")
    {
        hidden = nn.Linear(pixels, hiddenSize);
        mean = nn.Linear(hiddenSize, latentSize);
        logVariance = nn.Linear(hiddenSize, latentSize);
        decodeHidden = nn.Linear(latentSize, hiddenSize);
        decodeOut = nn.Linear(hiddenSize, pixels);
        RegisterComponents();
    }

    public override (Tensor Mean, Tensor LogVariance) Encode(Tensor images)
    {
        using var h = nn.functional.relu(hidden.forward(images));
        return (mean.forward(h), logVariance.forward(h));
    }

    public override Tensor DecodeLogits(Tensor latents)
    {
        using var h = nn.functional.relu(decodeHidden.forward(latents));
        return decodeOut.forward(h);
    }
}

/// <summary>Convolutional variant: 1→32→64 channels with stride-2 4×4 convolutions, then the MLP heads; mirrored decoder.</summary>
internal sealed class ConvVaeNetwork : VaeNetwork
{
    private readonly int rows;
    private readonly int cols;
    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly Linear hidden;
    private readonly Linear mean;
    private readonly Linear logVariance;
    private readonly Linear decodeHidden;
    private readonly Linear decodeGrid;
    private readonly ConvTranspose2d deconv1;
    private readonly ConvTranspose2d deconv2;

    public ConvVaeNetwork(int rows, int cols, int hiddenSize, int latentSize) : base("ConvVae")
    {
        if (rows % 4 != 0 || cols % 4 != 0)
            throw new ArgumentException($"images are {rows} × {cols}; the convolutional network needs rows and cols divisible by 4.", nameof(rows));
        this.rows = rows;
        this.cols = cols;
        var grid = 64 * (rows / 4) * (cols / 4);
        conv1 = nn.Conv2d(1, 32, 4, stride: 2, padding: 1);
        conv2 = nn.Conv2d(32, 64, 4, stride: 2, padding: 1);
        hidden = nn.Linear(grid, hiddenSize);
        mean = nn.Linear(hiddenSize, latentSize);
        logVariance = nn.Linear(hiddenSize, latentSize);
        decodeHidden = nn.Linear(latentSize, hiddenSize);
        decodeGrid = nn.Linear(hiddenSize, grid);
        deconv1 = nn.ConvTranspose2d(64, 32, 4, stride: 2, padding: 1);
        deconv2 = nn.ConvTranspose2d(32, 1, 4, stride: 2, padding: 1);
        RegisterComponents();
    }

    public override (Tensor Mean, Tensor LogVariance) Encode(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = images.view(images.shape[0], 1, rows, cols);
        x = nn.functional.relu(conv1.forward(x));
        x = nn.functional.relu(conv2.forward(x));
        var h = nn.functional.relu(hidden.forward(x.flatten(1)));
        var m = mean.forward(h).MoveToOuterDisposeScope();
        var v = logVariance.forward(h).MoveToOuterDisposeScope();
        return (m, v);
    }

    public override Tensor DecodeLogits(Tensor latents)
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.relu(decodeHidden.forward(latents));
        var g = nn.functional.relu(decodeGrid.forward(h)).view(latents.shape[0], 64, rows / 4, cols / 4);
        var x = nn.functional.relu(deconv1.forward(g));
        x = deconv2.forward(x);
        return x.flatten(1).MoveToOuterDisposeScope();
    }
}
