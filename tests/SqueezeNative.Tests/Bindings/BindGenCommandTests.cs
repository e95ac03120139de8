using SqueezeNative.BindGen;

namespace SqueezeNative.Tests.Bindings;

/// <summary>The BindGen command line: write mode, --check mode, usage errors.</summary>
public sealed class BindGenCommandTests
{
    private static (int ExitCode, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exitCode = SqueezeNative.BindGen.Program.Run(args, stdout, stderr);
        return (exitCode, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void CheckPassesOnTheCheckedInBindings()
    {
        var (exitCode, stdout, stderr) = Run("--header", BindingsTestPaths.Header, "--out", BindingsTestPaths.GeneratedDirectory, "--check");
        Assert.True(exitCode == 0, stderr);
        Assert.Contains("up to date", stdout);
    }

    [Fact]
    public void CheckListsChangedMissingAndStaleFilesThenWriteFixesThem()
    {
        using var directory = new TemporaryDirectory();
        foreach (var file in Directory.EnumerateFiles(BindingsTestPaths.GeneratedDirectory, "*.g.cs"))
            File.Copy(file, Path.Combine(directory.Path, Path.GetFileName(file)));
        File.AppendAllText(Path.Combine(directory.Path, "Structs.g.cs"), "// hand edit\n");
        File.Delete(Path.Combine(directory.Path, "Handles.g.cs"));
        File.WriteAllText(Path.Combine(directory.Path, "Removed.g.cs"), "// from an older header\n");
        File.WriteAllText(Path.Combine(directory.Path, "notes.txt"), "not generated, left alone\n");

        var check = Run("--header", BindingsTestPaths.Header, "--out", directory.Path, "--check");
        Assert.Equal(SqueezeNative.BindGen.Program.Stale, check.ExitCode);
        Assert.Contains("stale (run ./build.sh bindings)", check.Stderr);
        var listed = check.Stderr.Split('\n').Skip(1).Select(line => line.Trim()).Where(line => line.Length > 0).ToArray();
        Assert.Equal(["Handles.g.cs", "Structs.g.cs", "Removed.g.cs"], listed);

        var write = Run("--header", BindingsTestPaths.Header, "--out", directory.Path);
        Assert.True(write.ExitCode == 0, write.Stderr);
        Assert.Equal(
            ["Enums.g.cs", "Handles.g.cs", "NativeMethods.g.cs", "Structs.g.cs", "notes.txt"],
            Directory.EnumerateFiles(directory.Path).Select(path => Path.GetFileName(path)).Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(0, Run("--header", BindingsTestPaths.Header, "--out", directory.Path, "--check").ExitCode);
        Assert.Contains("already up to date", Run("--header", BindingsTestPaths.Header, "--out", directory.Path).Stdout);
    }

    [Fact]
    public void UsageErrorsExitWithTwoAndSayWhy()
    {
        var missingOut = Run("--header", BindingsTestPaths.Header);
        Assert.Equal(SqueezeNative.BindGen.Program.Failure, missingOut.ExitCode);
        Assert.Contains("--out is required", missingOut.Stderr);

        var unknown = Run("--header", BindingsTestPaths.Header, "--out", "x", "--force");
        Assert.Equal(SqueezeNative.BindGen.Program.Failure, unknown.ExitCode);
        Assert.Contains("unexpected argument '--force'", unknown.Stderr);

        var dangling = Run("--out", "x", "--header");
        Assert.Contains("'--header' (it needs a value)", dangling.Stderr);
    }

    [Fact]
    public void AnUnparsableHeaderExitsNonZeroWithTheDiagnostics()
    {
        using var directory = new TemporaryDirectory();
        var header = directory.Write("bad.h", "int xy_f(int a\n");
        var output = Path.Combine(directory.Path, "out");
        var (exitCode, _, stderr) = Run("--header", header, "--out", output);
        Assert.Equal(SqueezeNative.BindGen.Program.Failure, exitCode);
        Assert.Contains("bad.h: the header does not parse", stderr);
        Assert.Contains("bad.h:1:", stderr);
        Assert.False(Directory.Exists(output), "nothing may be written when the header does not parse");
    }
}

/// <summary>How BindGen finds the distribution's libclang.</summary>
public sealed class LibClangResolverTests
{
    [Fact]
    public void TheFirstCandidateThatLoadsWins()
    {
        var tried = new List<string>();
        var handle = SqueezeNative.BindGen.Clang.LibClangResolver.LoadFirst(["first", "second", "third"], candidate =>
        {
            tried.Add(candidate);
            return candidate == "second" ? 7 : null;
        });
        Assert.Equal(7, handle);
        Assert.Equal(["first", "second"], tried);
    }

    [Fact]
    public void FailureNamesEveryCandidateAndTheOverride()
    {
        var error = Assert.Throws<DllNotFoundException>(() =>
            SqueezeNative.BindGen.Clang.LibClangResolver.LoadFirst(["libclang-14.so.1", "/usr/lib/llvm-9/lib/libclang.so.1"], _ => null));
        Assert.StartsWith("SqueezeNative.BindGen could not load libclang. Tried: libclang-14.so.1, /usr/lib/llvm-9/lib/libclang.so.1. ", error.Message);
        Assert.Contains("apt-get install libclang1-14", error.Message);
        Assert.Contains("SQUEEZE_LIBCLANG", error.Message);
    }

    [Fact]
    public void CandidatesAreTheSonamesThenTheVersionedFilesFound()
    {
        var candidates = SqueezeNative.BindGen.Clang.LibClangResolver.Candidates().ToList();
        var sonames = candidates.SkipWhile(c => c != "libclang-14.so.1").ToList();
        Assert.Equal(["libclang-14.so.1", "libclang.so.1"], sonames.Take(2));
        Assert.All(sonames.Skip(2), path => Assert.True(File.Exists(path), path));
        Assert.Equal(sonames.Skip(2).Distinct().Count(), sonames.Skip(2).Count());
    }
}
