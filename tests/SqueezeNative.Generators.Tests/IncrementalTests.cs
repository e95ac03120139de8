using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace SqueezeNative.Generators.Tests;

/// <summary>
/// The pipeline's cache: an edit that does not touch a description must not regenerate code,
/// and moving a description must not either (only its diagnostics' locations change).
/// </summary>
public sealed class IncrementalTests
{
    private static readonly string[] AllSteps =
    [
        TrackingNames.Descriptions, TrackingNames.Models, TrackingNames.DescriptionDiagnostics,
        TrackingNames.Identities, TrackingNames.DuplicateModelTypes, TrackingNames.Registries,
        TrackingNames.RegistryChoice, TrackingNames.RegistryTarget, TrackingNames.RegistryEntries,
        TrackingNames.Registry,
    ];

    [Fact]
    public void UnrelatedEditLeavesEveryStepCached()
    {
        var compilation = CreateCompilation(Samples.Tiny());
        var (driver, _, first) = GeneratorHarness.Run(compilation);
        Assert.NotEmpty(first.GeneratedSources);

        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText(
            "namespace Samples; internal static class Unrelated { public const int Answer = 42; }", GeneratorHarness.ParseOptions, "Samples/Unrelated.cs"));
        var (_, _, second) = GeneratorHarness.Run(edited, driver);

        foreach (var step in AllSteps)
            AssertOutputs(second, step, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
        Assert.All(second.TrackedOutputSteps.SelectMany(pair => pair.Value).SelectMany(run => run.Outputs),
            output => Assert.Contains(output.Reason, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.Equal(first.GeneratedSources.Select(s => s.SourceText.ToString()), second.GeneratedSources.Select(s => s.SourceText.ToString()));
    }

    [Fact]
    public void MovingADescriptionChangesItsParseButNotTheModel()
    {
        var source = Samples.Tiny();
        var compilation = CreateCompilation(source);
        var (driver, _, _) = GeneratorHarness.Run(compilation);

        // Blank lines above the description shift every location in it.
        var tree = compilation.SyntaxTrees.Single(t => t.FilePath == Samples.TinyPath);
        var moved = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From("\n\n\n" + source)));
        var (_, _, second) = GeneratorHarness.Run(moved, driver);

        AssertOutputs(second, TrackingNames.Descriptions, IncrementalStepRunReason.Modified);
        AssertOutputs(second, TrackingNames.Models, IncrementalStepRunReason.Unchanged);
        AssertOutputs(second, TrackingNames.RegistryEntries, IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged);
    }

    [Fact]
    public void EditingADescriptionRegeneratesIt()
    {
        var compilation = CreateCompilation(Samples.Tiny());
        var (driver, _, first) = GeneratorHarness.Run(compilation);

        var tree = compilation.SyntaxTrees.Single(t => t.FilePath == Samples.TinyPath);
        var edited = compilation.ReplaceSyntaxTree(tree, tree.WithChangedText(Microsoft.CodeAnalysis.Text.SourceText.From(
            Samples.Tiny(Samples.TinyTensors.Replace("\"QDim\", \"HiddenSize\"", "\"KvDim\", \"HiddenSize\"")))));
        var (_, _, second) = GeneratorHarness.Run(edited, driver);

        AssertOutputs(second, TrackingNames.Models, IncrementalStepRunReason.Modified);
        var regenerated = second.GeneratedSources.Single(s => s.HintName == "Samples.TinyArchitecture.g.cs").SourceText.ToString();
        Assert.Contains("(long)config.KvDim, (long)config.HiddenSize", regenerated);
        Assert.NotEqual(first.GeneratedSources.Single(s => s.HintName == "Samples.TinyArchitecture.g.cs").SourceText.ToString(), regenerated);
    }

    [Fact]
    public void PipelineValuesHoldNoCompilerObjects()
    {
        var compilation = CreateCompilation(Samples.Tiny());
        var (_, _, result) = GeneratorHarness.Run(compilation);

        foreach (var step in AllSteps)
        {
            Assert.True(result.TrackedSteps.ContainsKey(step), $"step {step} was not tracked");
            foreach (var (value, _) in result.TrackedSteps[step].SelectMany(run => run.Outputs))
                AssertHoldsNoCompilerObjects(value, step, depth: 0);
        }
    }

    private static Compilation CreateCompilation(string tinySource) =>
        GeneratorHarness.CreateCompilation(GeneratorHarness.ContractSources().Append(new SourceFile(Samples.TinyPath, tinySource)));

    private static void AssertOutputs(GeneratorRunResult result, string step, params IncrementalStepRunReason[] allowed)
    {
        Assert.True(result.TrackedSteps.TryGetValue(step, out var runs), $"step {step} was not tracked");
        var outputs = runs.SelectMany(run => run.Outputs).ToList();
        Assert.NotEmpty(outputs);
        Assert.All(outputs, output => Assert.True(allowed.Contains(output.Reason),
            $"step {step}: output reason {output.Reason}, expected {string.Join(" or ", allowed)}"));
    }

    /// <summary>
    /// Walks a pipeline value: symbols, compilations, syntax and locations would pin a whole
    /// compilation in the cache and make equal input compare unequal (STYLE.md 8).
    /// </summary>
    private static void AssertHoldsNoCompilerObjects(object? value, string step, int depth)
    {
        Assert.True(depth < 20, $"step {step}: value nests too deeply");
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || value is DiagnosticDescriptor)
            return;
        Assert.False(value is ISymbol or Compilation or SyntaxNode or SyntaxTree or Location or SemanticModel,
            $"step {step} holds a {value.GetType().Name}");
        if (value is IEnumerable sequence)
        {
            foreach (var item in sequence)
                AssertHoldsNoCompilerObjects(item, step, depth + 1);
            return;
        }
        var type = value.GetType();
        foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            AssertHoldsNoCompilerObjects(field.GetValue(value), step, depth + 1);
    }
}
