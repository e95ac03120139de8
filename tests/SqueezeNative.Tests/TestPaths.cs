namespace SqueezeNative.Tests;

/// <summary>
/// Where the repository and the shared data folder (models, datasets, reference.json) are.
/// The shared folder is $SQUEEZE_SHARED when set, else the sibling "shared" of the folder that
/// holds SqueezeNative.sln (found by walking up from the test binaries).
/// </summary>
public static class TestPaths
{
    // Lazy so that a run with $SQUEEZE_SHARED set works from binaries outside the repository.
    private static readonly Lazy<string> LazyRepoRoot = new(FindRepoRoot);
    private static readonly Lazy<string> LazyShared = new(FindShared);

    public static string RepoRoot => LazyRepoRoot.Value;

    public static string Shared => LazyShared.Value;

    /// <summary>The folder of one test model, e.g. Model("llama") = shared/models/llama.</summary>
    public static string Model(string name) => Path.Combine(Shared, "models", name);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SqueezeNative.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException(
            $"no folder holding SqueezeNative.sln above {AppContext.BaseDirectory}; run the tests from the repository");
    }

    private static string FindShared()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("SQUEEZE_SHARED");
        if (!string.IsNullOrEmpty(fromEnvironment))
            return Path.GetFullPath(fromEnvironment);
        return Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
    }
}
