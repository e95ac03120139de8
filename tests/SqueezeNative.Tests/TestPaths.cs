namespace SqueezeNative.Tests;

/// <summary>
/// Where the repository and the shared data live. The shared folder (models, configs, datasets)
/// is never copied into the repository: it is $SQUEEZE_SHARED when set, else the sibling
/// `shared` folder of the repository root.
/// </summary>
public static class TestPaths
{
    private static readonly Lazy<string> RepoRootPath = new(FindRepoRoot);
    private static readonly Lazy<string> SharedPath = new(FindShared);

    /// <summary>The folder holding SqueezeNative.sln.</summary>
    public static string RepoRoot => RepoRootPath.Value;

    /// <summary>The shared data folder.</summary>
    public static string Shared => SharedPath.Value;

    /// <summary>A test model folder: shared/models/{name} ("llama", "mistral", "opt").</summary>
    public static string Model(string name) => Path.Combine(Shared, "models", name);

    /// <summary>A config-only folder: shared/configs/{name} (e.g. "llama-2-7b").</summary>
    public static string Config(string name) => Path.Combine(Shared, "configs", name);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SqueezeNative.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException(
            $"cannot find SqueezeNative.sln in any parent of the test assembly folder {AppContext.BaseDirectory}");
    }

    private static string FindShared()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("SQUEEZE_SHARED");
        var shared = !string.IsNullOrEmpty(fromEnvironment)
            ? Path.GetFullPath(fromEnvironment)
            : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
        if (!Directory.Exists(shared))
            throw new InvalidOperationException(
                $"shared data folder not found at {shared} (set SQUEEZE_SHARED to the folder holding models/ and configs/)");
        return shared;
    }
}
