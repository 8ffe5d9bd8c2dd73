// A C# program that uses DistEmbed from its NuGet package: `./build.sh sample` packs the library into
// artifacts/packages, restores this project from there (nuget.config) and runs it.
using DistEmbed;

// Three lines: two batches of distributions as float[N, T, d] arrays, and every pairwise marginal 2-Wasserstein distance.
float[,,] a = { { { 0f, 0f }, { 1f, 0f }, { 0f, 1f } }, { { 2f, 2f }, { 3f, 2f }, { 2f, 3f } }, { { 0f, 4f }, { 1f, 5f }, { 0f, 6f } } };
float[,,] b = { { { 0f, 0f }, { 1f, 1f } }, { { 5f, 5f }, { 6f, 5f } } };
double[,] d = ArrayDistances.Pairwise(a, b, "marginal-w2");

Console.WriteLine($"DistEmbed {typeof(ArrayDistances).Assembly.GetName().Version}: marginal W2 between a ({a.GetLength(0)}) and b ({b.GetLength(0)})");
for (var i = 0; i < d.GetLength(0); i++)
    Console.WriteLine(string.Join("  ", Enumerable.Range(0, d.GetLength(1)).Select(j => d[i, j].ToString("F4", System.Globalization.CultureInfo.InvariantCulture))));
