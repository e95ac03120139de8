namespace SqueezeNative.Tests.Bindings;

/// <summary>Where the header and the checked-in bindings live, found from the test's output folder.</summary>
internal static class BindingsTestPaths
{
    /// <summary>The repository root: the nearest ancestor of the test output folder holding SqueezeNative.sln.</summary>
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Header => Path.Combine(RepositoryRoot, "cpp", "include", "squeeze_native.h");

    public static string GeneratedDirectory => Path.Combine(RepositoryRoot, "src", "SqueezeNative.Bindings", "Generated");

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SqueezeNative.sln")))
                return directory.FullName;
        }
        throw new InvalidOperationException(
            $"SqueezeNative.sln not found above {AppContext.BaseDirectory}; the bindings tests must run from a build inside the repository.");
    }
}

/// <summary>A temporary folder deleted with its contents on dispose.</summary>
internal sealed class TemporaryDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("squeeze-bindgen-").FullName;

    /// <summary>Writes <paramref name="content"/> to a file of the folder and returns its path.</summary>
    public string Write(string fileName, string content)
    {
        var path = System.IO.Path.Combine(Path, fileName);
        File.WriteAllText(path, content);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
