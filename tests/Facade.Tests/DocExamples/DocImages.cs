namespace DistEmbed.Facade.Tests.DocExamples;

/// <summary>
/// Where the guides' examples write their figures: <c>$DISTEMBED_DOCS_IMAGES</c> when set (<c>./build.sh docs</c> sets it to
/// <c>docs/img</c>, which fsdocs copies into the site), otherwise a fresh temporary folder per test class.
/// </summary>
public sealed class DocImages : IDisposable
{
    private readonly bool _temporary;

    /// <summary>Chooses or creates the folder.</summary>
    public DocImages()
    {
        var configured = Environment.GetEnvironmentVariable("DISTEMBED_DOCS_IMAGES");
        _temporary = string.IsNullOrEmpty(configured);
        Folder = _temporary ? Directory.CreateTempSubdirectory("distembed-doc-img-").FullName : Path.GetFullPath(configured!);
        Directory.CreateDirectory(Folder);
    }

    /// <summary>The folder.</summary>
    public string Folder { get; }

    /// <summary>Removes a temporary folder.</summary>
    public void Dispose()
    {
        if (_temporary) Directory.Delete(Folder, recursive: true);
    }
}
