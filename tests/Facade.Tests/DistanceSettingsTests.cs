using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed.Sequences;
using DistEmbed.Training;
using Xunit;

namespace DistEmbed.Facade.Tests;

/// <summary>
/// <see cref="DistanceSettings"/>: one object per trainer holds the distance's settings, each default is the
/// catalog's, and manifests written with the older flat trainer fields still load.
/// </summary>
public sealed class DistanceSettingsTests
{
    [Fact]
    public void EveryDefaultIsTheCatalogs()
    {
        var core = new Core.DistanceOptions();
        var s = new DistanceSettings();
        Assert.Equal((core.P, core.BlockSize, core.Projections, core.Seed, core.Biased), (s.P, s.BlockSize, s.Projections, s.Seed, s.Biased));
        Assert.Equal((core.Epsilon, core.MaxIterations, core.Tolerance, core.EpsilonScaling), (s.Epsilon, s.SinkhornIterations, s.Tolerance, s.EpsilonScaling));
        Assert.Equal(core.Bandwidths, s.Bandwidths);
        Assert.Equal((int)core.OnNonConvergence, (int)s.OnNonConvergence);
        Assert.Null(s.Directions);
        // The trainers hold the same object, not copies of its fields.
        Assert.Equal(s, new TrainerOptions().DistanceSettings);
        Assert.Equal(s, new MetricLearningOptions().DistanceSettings);
        Assert.Equal(Catalog.DefaultMargin, new MetricLearningOptions().Margin);
        Assert.Equal(new Core.TripletMarginLossOptions().Margin, new TrainerOptions().Margin);
    }

    [Fact]
    public void SettingsReachTheCoresOptions()
    {
        var s = new DistanceSettings
        {
            P = 3, BlockSize = 5, Projections = 9, Seed = 4, Bandwidths = [2.0], Biased = false, Epsilon = 0.25,
            SinkhornIterations = 17, Tolerance = 1e-5, EpsilonScaling = 0.5, OnNonConvergence = SinkhornNonConvergence.Throw,
        };
        var c = s.ToCore();
        Assert.Equal((3.0, 5, 9, 4L, false, 0.25, 17, 1e-5, 0.5), (c.P, c.BlockSize, c.Projections, c.Seed, c.Biased, c.Epsilon, c.MaxIterations, c.Tolerance, c.EpsilonScaling));
        Assert.Equal([2.0], c.Bandwidths);
        Assert.Equal(Core.SinkhornNonConvergence.Throw, c.OnNonConvergence);
    }

    [Fact]
    public void OutOfRangeSettingsAreNamed()
    {
        foreach (var (bad, name) in new (DistanceSettings, string)[]
                 {
                     (new() { P = 0.5 }, "P"), (new() { BlockSize = -1 }, "BlockSize"), (new() { Projections = 0 }, "Projections"),
                     (new() { Projections = DistanceSettings.MaxProjections + 1 }, "Projections"), (new() { Bandwidths = [] }, "Bandwidths"),
                     (new() { Bandwidths = [1.0, -2.0] }, "Bandwidths"), (new() { Epsilon = double.PositiveInfinity }, "Epsilon"),
                     (new() { SinkhornIterations = 0 }, "SinkhornIterations"), (new() { Tolerance = 0 }, "Tolerance"),
                     (new() { EpsilonScaling = -0.1 }, "EpsilonScaling"), (new() { OnNonConvergence = (SinkhornNonConvergence)7 }, "OnNonConvergence"),
                 })
        {
            Assert.Equal(name, Assert.Throws<ArgumentException>(() => bad.Validate()).ParamName);
            Assert.Equal("X." + name, Assert.Throws<ArgumentException>(() => bad.Validate("X.")).ParamName);
        }
        new DistanceSettings().Validate();
    }

    [Fact]
    public void ManifestsWithTheOldFlatDistanceFieldsStillLoad()
    {
        // The trainer options of a manifest written before the settings were grouped: flat fields, no "distanceSettings".
        var flat = new JsonObject
        {
            ["distance"] = "sinkhorn", ["epochs"] = 3, ["seed"] = 9, ["projections"] = 12, ["sinkhornEpsilon"] = 0.5,
            ["sinkhornMaxIterations"] = 7, ["sinkhornTolerance"] = 1e-4, ["sinkhornEpsilonScaling"] = 0.25,
        }.ToJsonString();
        var expected = new DistanceSettings { Projections = 12, Epsilon = 0.5, SinkhornIterations = 7, Tolerance = 1e-4, EpsilonScaling = 0.25 };
        var sequence = JsonSerializer.Deserialize<TrainerOptions>(flat, Checkpoint.Json)!;
        Assert.Equal(expected, sequence.DistanceSettings);
        Assert.Equal((3, 9L), (sequence.Epochs, sequence.Seed));
        var generic = JsonSerializer.Deserialize<MetricLearningOptions>(flat, Checkpoint.Json)!;
        Assert.Equal(expected, generic.DistanceSettings);

        // Written again, the settings are one object and the flat fields are gone; reading it back gives the same options.
        var written = JsonSerializer.Serialize(sequence, Checkpoint.Json);
        var node = JsonNode.Parse(written)!.AsObject();
        Assert.True(node.ContainsKey("distanceSettings"));
        foreach (var old in new[] { "projections", "sinkhornEpsilon", "sinkhornMaxIterations", "sinkhornTolerance", "sinkhornEpsilonScaling" })
            Assert.False(node.ContainsKey(old), old);
        Assert.Equal(sequence, JsonSerializer.Deserialize<TrainerOptions>(written, Checkpoint.Json));
        Assert.Equal(new TrainerOptions(), JsonSerializer.Deserialize<TrainerOptions>("{}", Checkpoint.Json));
    }
}
