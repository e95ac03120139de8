using System.Text;

namespace SqueezeNative.BindGen;

/// <summary>Header in, C# files out; and the file-system side: atomic writes and the staleness check.</summary>
public static class BindingGenerator
{
    /// <summary>The file that marks the repository root; generated comments name the header relative to it.</summary>
    public const string RepositoryMarker = "SqueezeNative.sln";

    /// <summary>Pattern of the files the generator owns in its output folder.</summary>
    public const string GeneratedFilePattern = "*.g.cs";

    private static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Parses the header into the model the C# is generated from.</summary>
    public static HeaderModel Parse(string headerPath)
    {
        var fullPath = Path.GetFullPath(headerPath);
        return HeaderParser.Parse(fullPath, DisplayPath(fullPath));
    }

    /// <summary>Generates the bindings of <paramref name="headerPath"/>: file name → content.</summary>
    public static IReadOnlyDictionary<string, string> Generate(string headerPath) => new CSharpEmitter(Parse(headerPath)).Emit();

    /// <summary>
    /// How generated comments name the header: relative to the repository root (the folder holding
    /// <see cref="RepositoryMarker"/>) with '/' separators, or just its file name outside a repository,
    /// so the output never depends on where the checkout lives.
    /// </summary>
    public static string DisplayPath(string fullHeaderPath)
    {
        for (var directory = Path.GetDirectoryName(fullHeaderPath); directory is not null; directory = Path.GetDirectoryName(directory))
        {
            if (File.Exists(Path.Combine(directory, RepositoryMarker)))
                return Path.GetRelativePath(directory, fullHeaderPath).Replace(Path.DirectorySeparatorChar, '/');
        }
        return Path.GetFileName(fullHeaderPath);
    }

    /// <summary>
    /// Writes every file atomically (temporary file in the same folder, then rename) and deletes
    /// generated files the header no longer produces. Returns the names of files that changed.
    /// </summary>
    public static IReadOnlyList<string> Write(string outputDirectory, IReadOnlyDictionary<string, string> files)
    {
        Directory.CreateDirectory(outputDirectory);
        var changed = new List<string>();
        foreach (var (name, content) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var target = Path.Combine(outputDirectory, name);
            if (File.Exists(target) && File.ReadAllText(target, Utf8NoBom) == content)
                continue;
            var temporary = Path.Combine(outputDirectory, $".{name}.{Environment.ProcessId}.tmp");
            try
            {
                File.WriteAllText(temporary, content, Utf8NoBom);
                File.Move(temporary, target, overwrite: true);
            }
            finally
            {
                if (File.Exists(temporary))
                    File.Delete(temporary);
            }
            changed.Add(name);
        }
        foreach (var stale in StaleFiles(outputDirectory, files))
        {
            File.Delete(Path.Combine(outputDirectory, stale));
            changed.Add(stale);
        }
        return changed;
    }

    /// <summary>
    /// Names of the files in <paramref name="outputDirectory"/> that differ from <paramref name="files"/>:
    /// missing, different content, or generated files the header no longer produces. Empty when up to date.
    /// </summary>
    public static IReadOnlyList<string> Differences(string outputDirectory, IReadOnlyDictionary<string, string> files)
    {
        var differing = new List<string>();
        foreach (var (name, content) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            var path = Path.Combine(outputDirectory, name);
            if (!File.Exists(path) || File.ReadAllText(path, Utf8NoBom) != content)
                differing.Add(name);
        }
        differing.AddRange(StaleFiles(outputDirectory, files));
        return differing;
    }

    private static IEnumerable<string> StaleFiles(string outputDirectory, IReadOnlyDictionary<string, string> files) =>
        Directory.Exists(outputDirectory)
            ? Directory.EnumerateFiles(outputDirectory, GeneratedFilePattern)
                .Select(path => Path.GetFileName(path))
                .Where(name => !files.ContainsKey(name))
                .Order(StringComparer.Ordinal)
                .ToList()
            : [];
}
