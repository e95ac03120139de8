using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace SqueezeNative.Generators.Tests;

/// <summary>A C# source file for a test compilation.</summary>
internal sealed record SourceFile(string Path, string Text);

/// <summary>
/// Builds compilations from the Runtime's real contract sources plus test input, and runs the
/// generator over them the way the compiler does (with step tracking on).
/// </summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>The Runtime project's implicit usings, which its sources rely on.</summary>
    private static readonly SourceFile ImplicitUsings = new("GlobalUsings.g.cs", """
        global using global::System;
        global using global::System.Collections.Generic;
        global using global::System.IO;
        global using global::System.Linq;
        global using global::System.Threading;
        global using global::System.Threading.Tasks;
        """);

    public static string RepoRoot { get; } = Path.GetFullPath(Path.Combine(ThisDirectory(), "..", ".."));

    public static string TestDirectory { get; } = ThisDirectory();

    private static string RuntimeDirectory => Path.Combine(RepoRoot, "src", "SqueezeNative.Runtime");

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(path => path.EndsWith(".dll", StringComparison.Ordinal))
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToImmutableArray());

    /// <summary>
    /// The types generated code is written against: ModelConfig, TensorRef/ITensorSource, the
    /// exceptions and the hand-written Architectures files, without the descriptions.
    /// </summary>
    public static IReadOnlyList<SourceFile> ContractSources(bool includeModelConfig = true)
    {
        var files = new List<string>
        {
            Path.Combine(RuntimeDirectory, "Models", "TensorSource.cs"),
            Path.Combine(RuntimeDirectory, "SqueezeException.cs"),
        };
        if (includeModelConfig)
            files.Add(Path.Combine(RuntimeDirectory, "Models", "ModelConfig.cs"));
        files.AddRange(ArchitectureFiles().Where(file => !IsDescription(file)));
        return files.Select(Read).ToList();
    }

    /// <summary>The real architecture descriptions of the Runtime (LLaMA, Mistral, OPT).</summary>
    public static IReadOnlyList<SourceFile> RuntimeDescriptions() =>
        ArchitectureFiles().Where(IsDescription).Select(Read).ToList();

    public static CSharpCompilation CreateCompilation(IEnumerable<SourceFile> sources) =>
        CSharpCompilation.Create(
            "GeneratorTestAssembly",
            sources.Append(ImplicitUsings).Select(source => CSharpSyntaxTree.ParseText(source.Text, ParseOptions, source.Path)),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));

    public static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(
            [new ArchitectureGenerator().AsSourceGenerator()],
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator once; returns the driver (for incremental re-runs) and what it produced.</summary>
    public static (GeneratorDriver Driver, Compilation Output, GeneratorRunResult Result) Run(Compilation compilation, GeneratorDriver? driver = null)
    {
        driver = (driver ?? CreateDriver()).RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        return (driver, output, driver.GetRunResult().Results.Single());
    }

    /// <summary>Errors and warnings of a compilation (the repository builds with warnings as errors).</summary>
    public static IReadOnlyList<Diagnostic> ErrorsAndWarnings(Compilation compilation) =>
        compilation.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();

    private static IEnumerable<string> ArchitectureFiles() =>
        Directory.GetFiles(Path.Combine(RuntimeDirectory, "Architectures"), "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    // A description is the file that applies [Architecture(...)]; the attribute's own definition
    // and the registry only mention it in documentation.
    private static bool IsDescription(string path) => File.ReadAllText(path).Contains("[Architecture(\"", StringComparison.Ordinal);

    private static SourceFile Read(string path) => new(path, File.ReadAllText(path));

    private static string ThisDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
