namespace DistTrain.Data.Tests;

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "disttrain-data-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

internal static class RepoPaths
{
    /// <summary>The repository's data/penguins.csv, found by walking up from the test binaries.</summary>
    public static string PenguinsCsv()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "data", "penguins.csv");
            if (System.IO.File.Exists(candidate) && System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "DistTrain.sln"))) return candidate;
        }
        throw new FileNotFoundException("data/penguins.csv not found above " + AppContext.BaseDirectory);
    }
}
