using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace SqueezeNative.Generators;

// The values that flow through the incremental pipeline. They hold strings, numbers and
// EquatableArrays only (no ISymbol, Compilation, SyntaxNode or Location), so that equal input
// gives equal values and the emit steps stay cached across unrelated edits.

/// <summary>One validated architecture description: everything the emitter needs, nothing more.</summary>
internal sealed record ArchitectureModel(
    string Namespace,
    string ClassName,
    string Prefix,
    string Accessibility,
    string ModelType,
    EquatableArray<string> HfClasses,
    ArchitectureTraits Traits,
    EquatableArray<TensorModel> GlobalTensors,
    EquatableArray<TensorModel> LayerTensors)
{
    /// <summary>"global::Ns.Class", for references from other namespaces.</summary>
    public string QualifiedClassName => Namespace.Length == 0 ? "global::" + ClassName : "global::" + Namespace + "." + ClassName;

    public string LayerWeightsClass => Prefix + "LayerWeights";

    public string ModelWeightsClass => Prefix + "ModelWeights";
}

/// <summary>The declared traits, each already spelled as the C# expression to emit.</summary>
internal sealed record ArchitectureTraits(
    string Norm,
    string Activation,
    string Mlp,
    string Positional,
    int PositionOffset,
    string Attention,
    bool SlidingWindow,
    string Biases);

/// <summary>One [GlobalTensor] or [LayerTensor], with its expressions translated to C#.</summary>
/// <param name="ShapeText">The shape as written, e.g. "[QDim, HiddenSize]" (for docs and messages).</param>
/// <param name="Dimensions">One C# expression of type long per dimension, over a `config` variable.</param>
/// <param name="ConditionText">The condition as written, or null for a required tensor.</param>
/// <param name="ConditionCode">The condition as a C# bool expression over `config`.</param>
/// <param name="NegatedConditionCode">Its negation (for "the stand-in is used").</param>
/// <param name="NegatedConditionText">The negation in description notation, for docs.</param>
/// <param name="TiedTo">The global tensor property that stands in when the condition is false.</param>
/// <param name="BeforeLayers">A global declared before the first layer tensor (listed before the layers).</param>
internal sealed record TensorModel(
    string Property,
    string HfName,
    string ShapeText,
    EquatableArray<string> Dimensions,
    string? ConditionText,
    string? ConditionCode,
    string? NegatedConditionCode,
    string? NegatedConditionText,
    bool Quantizable,
    string? TiedTo,
    bool BeforeLayers)
{
    public bool IsConditional => ConditionCode is not null;

    /// <summary>The property may be null: conditional and without a stand-in.</summary>
    public bool IsNullable => ConditionCode is not null && TiedTo is null;
}

/// <summary>The class that receives the generated registry list.</summary>
internal sealed record RegistryTarget(string Namespace, string ClassName);

/// <summary>A description's identity, for checks across descriptions (duplicate model types).</summary>
internal sealed record ArchitectureIdentity(string ModelType, string ClassName, LocationInfo? Location);

/// <summary>What parsing one [Architecture] class yields: a model when it is valid, and its diagnostics.</summary>
internal sealed record ArchitectureParseResult(
    ArchitectureModel? Model,
    ArchitectureIdentity? Identity,
    EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>What parsing one [ArchitectureRegistry] class yields.</summary>
internal sealed record RegistryParseResult(RegistryTarget? Target, string ClassName, LocationInfo? Location, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>The registry class to fill (null when the assembly has none), and what is wrong with the choice.</summary>
internal sealed record RegistryChoice(RegistryTarget? Target, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>A source location as plain values (Location itself keeps the syntax tree alive).</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public Location ToLocation() => Location.Create(FilePath, Span, LineSpan);

    public static LocationInfo? From(SyntaxNode? node) => From(node?.GetLocation());

    public static LocationInfo? From(Location? location)
    {
        if (location is null || location.SourceTree is null)
            return null;
        return new LocationInfo(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span);
    }
}

/// <summary>A diagnostic as plain values, turned into a Diagnostic only when reported.</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        new(descriptor, location, arguments.ToEquatableArray());

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Descriptor, Location?.ToLocation(), Arguments.Cast<object>().ToArray());
}
