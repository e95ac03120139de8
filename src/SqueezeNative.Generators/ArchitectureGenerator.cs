using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace SqueezeNative.Generators;

/// <summary>
/// Turns each [Architecture] description into typed weight classes and a registry entry.
/// <para>
/// Pipeline: the descriptions are parsed once (<see cref="TrackingNames.Descriptions"/>) into
/// a value holding the model and its diagnostics; the model alone feeds code emission
/// (<see cref="TrackingNames.Models"/>) and the diagnostics alone feed reporting, so moving a
/// description within its file changes diagnostic locations without regenerating code.
/// </para>
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ArchitectureGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var descriptions = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                ArchitectureParser.ArchitectureAttributeName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: ArchitectureParser.Parse)
            .WithTrackingName(TrackingNames.Descriptions);

        var models = descriptions
            .Where(static result => result.Model is not null)
            .Select(static (result, _) => result.Model!)
            .WithTrackingName(TrackingNames.Models);
        context.RegisterSourceOutput(models, static (output, model) =>
            output.AddSource(ArchitectureEmitter.HintName(model), ArchitectureEmitter.Emit(model)));

        var descriptionDiagnostics = descriptions
            .Select(static (result, _) => result.Diagnostics)
            .WithTrackingName(TrackingNames.DescriptionDiagnostics);
        context.RegisterSourceOutput(descriptionDiagnostics, Report);

        var duplicateModelTypes = descriptions
            .Where(static result => result.Identity is not null)
            .Select(static (result, _) => result.Identity!)
            .Collect()
            .Select(static (identities, _) => identities.ToEquatableArray())
            .WithTrackingName(TrackingNames.Identities)
            .Select(static (identities, _) => FindDuplicateModelTypes(identities))
            .WithTrackingName(TrackingNames.DuplicateModelTypes);
        context.RegisterSourceOutput(duplicateModelTypes, Report);

        var registryChoice = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                ArchitectureParser.RegistryAttributeName,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: ArchitectureParser.ParseRegistry)
            .WithTrackingName(TrackingNames.Registries)
            .Collect()
            .Select(static (registries, _) => ChooseRegistry(registries.ToEquatableArray()))
            .WithTrackingName(TrackingNames.RegistryChoice);
        context.RegisterSourceOutput(registryChoice.Select(static (choice, _) => choice.Diagnostics), Report);

        var registryTarget = registryChoice
            .Select(static (choice, _) => choice.Target)
            .WithTrackingName(TrackingNames.RegistryTarget);
        var registryEntries = models
            .Select(static (model, _) => (model.ModelType, model.QualifiedClassName))
            .Collect()
            .Select(static (entries, _) => entries
                .OrderBy(entry => entry.ModelType, StringComparer.Ordinal)
                .ThenBy(entry => entry.QualifiedClassName, StringComparer.Ordinal)
                .Select(entry => entry.QualifiedClassName)
                .ToEquatableArray())
            .WithTrackingName(TrackingNames.RegistryEntries);
        var registry = registryTarget
            .Combine(registryEntries)
            .WithTrackingName(TrackingNames.Registry);
        context.RegisterSourceOutput(registry, static (output, pair) =>
        {
            var (target, entries) = pair;
            if (target is not null)
                output.AddSource(RegistryEmitter.HintName(target), RegistryEmitter.Emit(target, entries));
        });
    }

    private static void Report(SourceProductionContext output, EquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
            output.ReportDiagnostic(diagnostic.ToDiagnostic());
    }

    private static EquatableArray<DiagnosticInfo> FindDuplicateModelTypes(EquatableArray<ArchitectureIdentity> identities)
    {
        var duplicates = identities
            .GroupBy(identity => identity.ModelType, StringComparer.OrdinalIgnoreCase)
            .Where(group => group.Count() > 1)
            .SelectMany(group => group.Skip(1).Select(duplicate =>
                DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateModelType, duplicate.Location, duplicate.ModelType, group.First().ClassName, duplicate.ClassName)));
        return duplicates.ToEquatableArray();
    }

    private static RegistryChoice ChooseRegistry(EquatableArray<RegistryParseResult> registries)
    {
        var diagnostics = registries.SelectMany(registry => registry.Diagnostics).ToList();
        RegistryParseResult? chosen = null;
        foreach (var registry in registries)
        {
            if (chosen is null)
                chosen = registry;
            else
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MultipleRegistries, registry.Location, registry.ClassName, chosen.ClassName));
        }
        return new RegistryChoice(chosen?.Target, diagnostics.ToEquatableArray());
    }
}
