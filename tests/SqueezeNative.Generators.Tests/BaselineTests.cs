using Microsoft.CodeAnalysis;

namespace SqueezeNative.Generators.Tests;

/// <summary>
/// The generated code, compared with the checked-in golden files in Baselines/. After an
/// intended change to the generator or a description, regenerate them with
/// <c>SQUEEZE_UPDATE_BASELINES=1 dotnet test tests/SqueezeNative.Generators.Tests</c> and review the diff.
/// </summary>
public sealed class BaselineTests
{
    private static bool Updating => Environment.GetEnvironmentVariable("SQUEEZE_UPDATE_BASELINES") == "1";

    [Fact]
    public void RuntimeDescriptionsMatchBaselines() =>
        AssertMatchesBaselines("Runtime", GeneratorHarness.RuntimeDescriptions());

    [Fact]
    public void ExpressionSampleMatchesBaselines() =>
        AssertMatchesBaselines("Sample", [Samples.ExpressionSample]);

    [Fact]
    public void RuntimeDescriptionsCompileWithoutWarnings()
    {
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.ContractSources().Concat(GeneratorHarness.RuntimeDescriptions()));
        var (_, output, result) = GeneratorHarness.Run(compilation);

        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.ErrorsAndWarnings(output));
        // The generated types exist with the promised shapes.
        foreach (var prefix in new[] { "Llama", "Mistral", "Opt" })
        {
            var modelWeights = output.GetTypeByMetadataName($"SqueezeNative.Runtime.Architectures.{prefix}ModelWeights");
            Assert.NotNull(modelWeights);
            Assert.Contains(modelWeights!.AllInterfaces, i => i.Name == "IModelWeights");
            Assert.Single(modelWeights.GetMembers("Load"));
            Assert.Single(modelWeights.GetMembers("DescribeTensors"));
            Assert.NotNull(output.GetTypeByMetadataName($"SqueezeNative.Runtime.Architectures.{prefix}LayerWeights"));
        }
        var qProjBias = output.GetTypeByMetadataName("SqueezeNative.Runtime.Architectures.LlamaLayerWeights")!
            .GetMembers("QProjBias").OfType<IPropertySymbol>().Single();
        Assert.Equal(NullableAnnotation.Annotated, qProjBias.NullableAnnotation);
        var lmHead = output.GetTypeByMetadataName("SqueezeNative.Runtime.Architectures.OptModelWeights")!
            .GetMembers("LmHead").OfType<IPropertySymbol>().Single();
        Assert.Equal(NullableAnnotation.NotAnnotated, lmHead.NullableAnnotation);
    }

    [Fact]
    public void ExpressionSampleCompilesWithoutWarnings()
    {
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.ContractSources().Append(Samples.ExpressionSample));
        var (_, output, result) = GeneratorHarness.Run(compilation);

        Assert.Empty(result.Diagnostics);
        Assert.Empty(GeneratorHarness.ErrorsAndWarnings(output));
    }

    private static void AssertMatchesBaselines(string folder, IEnumerable<SourceFile> descriptions)
    {
        var compilation = GeneratorHarness.CreateCompilation(GeneratorHarness.ContractSources().Concat(descriptions));
        var (_, _, result) = GeneratorHarness.Run(compilation);
        Assert.Empty(result.Diagnostics);

        var directory = Path.Combine(GeneratorHarness.TestDirectory, "Baselines", folder);
        var generated = result.GeneratedSources.ToDictionary(source => source.HintName, source => source.SourceText.ToString());
        if (Updating)
        {
            Directory.CreateDirectory(directory);
            foreach (var stale in Directory.GetFiles(directory, "*.g.cs"))
                File.Delete(stale);
            foreach (var (hintName, text) in generated)
                File.WriteAllText(Path.Combine(directory, hintName), text);
            return;
        }

        var baselines = Directory.Exists(directory)
            ? Directory.GetFiles(directory, "*.g.cs").ToDictionary(path => Path.GetFileName(path), File.ReadAllText)
            : [];
        Assert.Equal(baselines.Keys.Order(StringComparer.Ordinal), generated.Keys.Order(StringComparer.Ordinal));
        foreach (var (hintName, text) in generated)
        {
            // Assert.Equal on strings reports the first differing position.
            Assert.Equal(baselines[hintName], text);
        }
    }
}
