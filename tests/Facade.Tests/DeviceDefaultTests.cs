using System.Reflection;
using DistEmbed.Autoencoders;
using DistEmbed.Bregman;
using DistEmbed.Cli;
using DistEmbed.Cli.Commands;
using DistEmbed.Data;
using DistEmbed.Evaluation;
using DistEmbed.Sequences;
using DistEmbed.Training;
using TorchSharp;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// The device default is written once (<see cref="Devices.Default"/>, <c>auto</c>): every public <c>device</c> parameter
/// and every options record's <c>Device</c> of the library and the command line default to it, every <c>--device</c>
/// option too; every facade entry point that takes a device name resolves <c>auto</c> and refuses an unknown name with
/// a message naming its argument.
/// </summary>
public sealed class DeviceDefaultTests
{
    private static readonly Assembly[] Assemblies = [typeof(Devices).Assembly, typeof(Program).Assembly];

    /// <summary>Every public method or constructor of the library and the CLI with a string parameter named device.</summary>
    private static IEnumerable<MethodBase> WithDeviceName(Assembly assembly) =>
        assembly.GetExportedTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly).Cast<MethodBase>()
                .Concat(t.GetConstructors()))
            .Where(m => m.GetParameters().Any(IsDeviceName));

    private static bool IsDeviceName(ParameterInfo p) =>
        p.ParameterType == typeof(string) && string.Equals(p.Name, "device", StringComparison.OrdinalIgnoreCase);

    private static string Signature(MethodBase m) =>
        $"{m.DeclaringType!.Name}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})";

    [Fact]
    public void TheDefaultIsAuto()
    {
        Assert.Equal("auto", Devices.Default);
        Assert.Equal(Devices.Default, DeviceOption.Default);
    }

    [Fact]
    public void EveryDeviceParameterDefaultsToTheOneConstant()
    {
        var methods = Assemblies.SelectMany(WithDeviceName).ToArray();
        // The facade alone has 24 such entry points (and Devices.Resolve); a reflection that finds none proves nothing.
        Assert.True(methods.Length >= 25, $"found only {methods.Length} methods with a device parameter");
        foreach (var m in methods)
        {
            var p = m.GetParameters().Single(IsDeviceName);
            Assert.True(p.HasDefaultValue && Equals(p.DefaultValue, Devices.Default),
                $"{Signature(m)}: {p.Name} defaults to {(p.HasDefaultValue ? $"'{p.DefaultValue}'" : "nothing")}, not Devices.Default ('{Devices.Default}')");
        }
    }

    [Fact]
    public void EveryOptionsRecordsDeviceDefaultsToTheOneConstant()
    {
        var records = Assemblies.SelectMany(a => a.GetExportedTypes())
            .Where(t => !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (Type: t, Property: t.GetProperty("Device", BindingFlags.Public | BindingFlags.Instance)))
            .Where(x => x.Property is { PropertyType: var type, CanWrite: true } && type == typeof(string))
            .ToArray();
        foreach (var name in new[] { nameof(MetricLearningOptions), nameof(TrainerOptions), nameof(EvaluationOptions), nameof(DemoSettings), nameof(BregmanTrainSettings) })
            Assert.Contains(records, r => r.Type.Name == name);
        foreach (var (type, property) in records)
            Assert.True(Equals(property!.GetValue(Activator.CreateInstance(type)), Devices.Default),
                $"{type.Name}.Device defaults to '{property.GetValue(Activator.CreateInstance(type))}', not Devices.Default ('{Devices.Default}')");
    }

    [Fact]
    public void EveryDeviceOptionOfTheCommandLineDefaultsToTheOneConstant()
    {
        var root = Program.CreateRoot();
        var paths = new List<string>();
        void Walk(System.CommandLine.Command command, string path)
        {
            if (command.Options.Any(o => o.Name == "--device")) paths.Add(path);
            foreach (var sub in command.Subcommands) Walk(sub, path.Length == 0 ? sub.Name : path + " " + sub.Name);
        }
        Walk(root, "");
        Assert.True(paths.Count >= 10, $"only {paths.Count} commands take --device");
        foreach (var path in paths)
            Assert.Equal(Devices.Default, root.Parse(path.Split(' ')).GetValue<string>("--device"));
    }

    [Fact]
    public void AutoIsCudaWhenAvailableElseTheCpuAndNamesAreCaseInsensitive()
    {
        var auto = Devices.Resolve();
        Assert.Equal(torch.cuda.is_available() ? DeviceType.CUDA : DeviceType.CPU, auto.type);
        Assert.Equal(auto.ToString(), Devices.Resolve(" AUTO ").ToString());
        Assert.Equal(DeviceType.CPU, Devices.Resolve("Cpu").type);
        Assert.Equal(["auto", "cpu", "cuda", "cuda:N"], Devices.Names);
    }

    /// <summary>One call of every facade entry point with a device name, with small valid other arguments.</summary>
    private static Dictionary<string, Action<string>> EntryPoints()
    {
        float[,] v = { { 0, 0 }, { 1, 0 }, { 0, 2 }, { 3, 1 } };
        float[,,] p = new float[3, 2, 2];
        for (var i = 0; i < 3; i++) { p[i, 0, 0] = i; p[i, 1, 1] = 2 * i; }
        var euclidean = Distance.Create("euclidean");
        var w2 = Distance.Create("marginal-w2");
        var images = new float[4, 16];
        var imageSet = new ImageSet(images, [0, 1, 0, 1], 4, 4);
        var tvae = new TvaeOptions { LatentSize = 2, HiddenSize = 4, BatchSize = 2, Epochs = 1, TripletsPerEpoch = 2 };
        var missing = Path.Combine(Path.GetTempPath(), "distembed-no-such-" + Guid.NewGuid().ToString("N"));
        return new()
        {
            ["ArrayDistances.Pairwise(Single[,,], Single[,,], Distance, Single[,], Single[,], String)"] = d => ArrayDistances.Pairwise(p, p, w2, device: d),
            ["ArrayDistances.Pairwise(Single[,,], Single[,,], String, DistanceSettings, Single[,], Single[,], String)"] = d => ArrayDistances.Pairwise(p, p, "marginal-w2", device: d),
            ["ArrayDistances.Pairwise(Single[,], Single[,], Distance, String)"] = d => ArrayDistances.Pairwise(v, v, euclidean, d),
            ["ArrayDistances.Pairwise(Single[,], Single[,], String, DistanceSettings, String)"] = d => ArrayDistances.Pairwise(v, v, "euclidean", device: d),
            ["ArrayDistances.Paired(Single[,,], Single[,,], Distance, Single[,], Single[,], String)"] = d => ArrayDistances.Paired(p, p, w2, device: d),
            ["ArrayDistances.Paired(Single[,,], Single[,,], String, DistanceSettings, Single[,], Single[,], String)"] = d => ArrayDistances.Paired(p, p, "marginal-w2", device: d),
            ["EmbeddingSpaceSimilarity.GromovWasserstein(Single[,], Single[,], String, Int32, Int32, Boolean, Nullable`1, String)"] = d => EmbeddingSpaceSimilarity.GromovWasserstein(v, v, sampleSize: 4, device: d),
            ["EmbeddingSpaceSimilarity.LinearCka(Single[,], Single[,], Boolean, String)"] = d => EmbeddingSpaceSimilarity.LinearCka(v, v, device: d),
            ["EmbeddingSpaceSimilarity.RbfCka(Single[,], Single[,], Double, Boolean, Boolean, String, String)"] = d => EmbeddingSpaceSimilarity.RbfCka(v, v, device: d),
            ["EmbeddingSpaceSimilarity.MutualKnn(Single[,], Single[,], Int32[], String, String)"] = d => EmbeddingSpaceSimilarity.MutualKnn(v, v, [1], device: d),
            ["EmbeddingSpaceSimilarity.Nngs(Single[,,], Single[,,], Int32[], String, String)"] = d => EmbeddingSpaceSimilarity.Nngs(p, p, [1], device: d),
            ["EmbeddingSpaceSimilarity.Nngs(Single[,], Single[,], Int32[], String, String)"] = d => EmbeddingSpaceSimilarity.Nngs(v, v, [1], device: d),
            ["EmbeddingSpaceSimilarity.NormalizedNngs(Single[,], Single[,], Int32[], String, String)"] = d => EmbeddingSpaceSimilarity.NormalizedNngs(v, v, [1], device: d),
            ["EmbeddingSpaceSimilarity.NearestNeighbours(Single[,], Int32, String, String)"] = d => EmbeddingSpaceSimilarity.NearestNeighbours(v, 1, device: d),
            ["Tvae.Create(Int32, Int32, TvaeOptions, String)"] = d => Tvae.Create(4, 4, tvae, d).Dispose(),
            ["Tvae.Load(String, String)"] = d => Tvae.Load(missing, d).Dispose(),
            ["Tvae.Resume(String, Single[,], Int32[], IProgress`1, CancellationToken, String)"] = d => Tvae.Resume(missing, images, [0, 1, 0, 1], device: d).Model.Dispose(),
            ["Tvae.Train(ImageSet, TvaeOptions, String, IProgress`1, CancellationToken)"] = d => Tvae.Train(imageSet, tvae, d).Model.Dispose(),
            ["BregmanModel.Create(DeepBregmanArchitecture, String)"] = d => BregmanModel.Create(new DeepBregmanArchitecture { InputDimension = 4, Hidden = 4, EmbeddingDimension = 2 }, d).Dispose(),
            ["ConvexGenerator.Create(String, Int32, Nullable`1, Nullable`1, Nullable`1, Int32[], Nullable`1, Nullable`1, ScalarType, String)"] = d => ConvexGenerator.Create("quadratic", 2, device: d).Dispose(),
            ["ConvexGenerator.Icnn(Int32, Int32[], Nullable`1, Nullable`1, ScalarType, String)"] = d => ConvexGenerator.Icnn(2, device: d).Dispose(),
            ["ConvexGenerator.MaxAffine(Int32, Nullable`1, Nullable`1, Nullable`1, ScalarType, String)"] = d => ConvexGenerator.MaxAffine(2, device: d).Dispose(),
            ["ConvexGenerator.Quadratic(Int32, Nullable`1, ScalarType, String)"] = d => ConvexGenerator.Quadratic(2, device: d).Dispose(),
            ["ConvexGenerator.SmoothMaxAffine(Int32, Nullable`1, Nullable`1, Nullable`1, ScalarType, String)"] = d => ConvexGenerator.SmoothMaxAffine(2, device: d).Dispose(),
            ["DeepBregmanTrainer.Load(String, String)"] = d => DeepBregmanTrainer.Load(missing, d).Dispose(),
            ["Devices.Resolve(String)"] = d => Devices.Resolve(d),
        };
    }

    [Fact]
    public void EveryFacadeEntryPointWithADeviceRefusesAnUnknownNameByArgument()
    {
        var calls = EntryPoints();
        var facade = WithDeviceName(typeof(Devices).Assembly).Select(Signature).Order().ToArray();
        // A new entry point with a device parameter gets a row here.
        Assert.Equal(facade, calls.Keys.Order().ToArray());
        foreach (var (signature, call) in calls)
            foreach (var bad in new[] { "gpu", "cuda:x", "" })
            {
                var e = Assert.ThrowsAny<ArgumentException>(() => call(bad));
                Assert.True(e.ParamName == "device" && e.Message.Contains($"device = '{bad}' is not a device", StringComparison.Ordinal) && e.Message.Contains("auto", StringComparison.Ordinal),
                    $"{signature} with device '{bad}': {e.GetType().Name} ParamName {e.ParamName}: {e.Message}");
            }
    }

    [Fact]
    public void EveryFacadeEntryPointRunsWithTheDefaultDevice()
    {
        // "auto" resolves here (the CPU on a machine without CUDA); the missing folders fail only after the device is read.
        foreach (var (signature, call) in EntryPoints())
        {
            var e = Record.Exception(() => call(Devices.Default));
            Assert.True(e is null || e is DirectoryNotFoundException or InvalidDataException or FileNotFoundException,
                $"{signature} with device '{Devices.Default}': {e}");
        }
        Assert.Equal(ArrayDistances.Pairwise(new float[,] { { 0, 1 }, { 2, 3 } }, new float[,] { { 1, 1 } }, "euclidean", device: "cpu"),
            ArrayDistances.Pairwise(new float[,] { { 0, 1 }, { 2, 3 } }, new float[,] { { 1, 1 } }, "euclidean"));
    }

    [Fact]
    public void OptionsRecordsRefuseAnUnknownDeviceByName()
    {
        var e = Assert.Throws<ArgumentException>(() => new MetricLearningOptions { Distance = "euclidean", Device = "gpu" }.Validate());
        Assert.Equal(nameof(MetricLearningOptions.Device), e.ParamName);
        Assert.Contains("Device = 'gpu' is not a device", e.Message);
        var s = Assert.Throws<ArgumentException>(() => new TrainerOptions { Device = "tpu" }.Validate());
        Assert.Equal(nameof(TrainerOptions.Device), s.ParamName);
        var ev = Assert.Throws<ArgumentException>(() => EmbeddingEvaluation.Evaluate(new float[,] { { 0 }, { 1 }, { 5 }, { 6 } }, [0, 0, 1, 1], new EvaluationOptions { Device = "gpu" }));
        Assert.Equal("options.Device", ev.ParamName);
        Assert.Contains("options.Device = 'gpu' is not a device", ev.Message);
    }
}
