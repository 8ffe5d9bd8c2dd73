using System.Reflection;
using System.Text.Json.Serialization.Metadata;
using DistEmbed.Sequences;

namespace DistEmbed.Training;

/// <summary>
/// The one reader of the trainer fields of manifests written before the distance settings were grouped: the flat
/// <c>projections</c>, <c>sinkhornEpsilon</c>, <c>sinkhornMaxIterations</c>, <c>sinkhornTolerance</c> and
/// <c>sinkhornEpsilonScaling</c> of <see cref="MetricLearningOptions"/> and <see cref="TrainerOptions"/> are read into
/// their <c>DistanceSettings</c> (never written back). A contract modifier of <see cref="Checkpoint.Json"/>, so both
/// records share it and neither carries members for it.
/// </summary>
internal static class LegacyTrainerFields
{
    /// <summary>One flat field: its JSON name, its type and how it sets the grouped settings.</summary>
    private sealed record Field(string Name, Type Type, Func<DistanceSettings, object, DistanceSettings> Apply);

    private static readonly Field[] Fields =
    [
        new("projections", typeof(int), (s, v) => s with { Projections = (int)v }),
        new("sinkhornEpsilon", typeof(double), (s, v) => s with { Epsilon = (double)v }),
        new("sinkhornMaxIterations", typeof(int), (s, v) => s with { SinkhornIterations = (int)v }),
        new("sinkhornTolerance", typeof(double), (s, v) => s with { Tolerance = (double)v }),
        new("sinkhornEpsilonScaling", typeof(double), (s, v) => s with { EpsilonScaling = (double)v }),
    ];

    /// <summary>Adds the flat fields, read-only into <c>DistanceSettings</c>, to the contracts of the trainer options.</summary>
    /// <param name="info">A type's contract.</param>
    public static void Modify(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object || (info.Type != typeof(MetricLearningOptions) && info.Type != typeof(TrainerOptions))) return;
        var settings = info.Type.GetProperty(nameof(MetricLearningOptions.DistanceSettings), BindingFlags.Public | BindingFlags.Instance)!;
        foreach (var field in Fields)
        {
            var property = info.CreateJsonPropertyInfo(field.Type, field.Name);
            property.Get = null; // read, never written
            property.Set = (target, value) =>
            {
                if (value is null) return;
                var current = (DistanceSettings?)settings.GetValue(target) ?? new DistanceSettings();
                settings.SetValue(target, field.Apply(current, value));
            };
            info.Properties.Add(property);
        }
    }
}
