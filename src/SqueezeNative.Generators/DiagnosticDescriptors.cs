using Microsoft.CodeAnalysis;

namespace SqueezeNative.Generators;

/// <summary>
/// Errors in architecture descriptions. Each is reported at the attribute (or the argument of
/// it) that is wrong; a description with an error generates no code.
/// </summary>
public static class DiagnosticDescriptors
{
    private const string Category = "SqueezeNative.Architectures";

    public static readonly DiagnosticDescriptor InvalidShapeExpression = new(
        "SNG001", "Invalid shape expression",
        "Tensor '{0}': shape dimension \"{1}\" is not a valid expression: {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A shape dimension is integer arithmetic (+ - * / and parentheses, integer literals) over int properties of ModelConfig.");

    public static readonly DiagnosticDescriptor UnknownShapeProperty = new(
        "SNG002", "Shape expression names no int property of ModelConfig",
        "Tensor '{0}': \"{1}\" in shape dimension \"{2}\" is not an int property of ModelConfig",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidCondition = new(
        "SNG003", "Invalid condition",
        "Tensor '{0}': condition \"{1}\" is not a valid condition: {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "A condition combines bool properties of ModelConfig with ! && || and parentheses, and may compare int expressions with == != < <= > >=.");

    public static readonly DiagnosticDescriptor UnknownConditionProperty = new(
        "SNG004", "Condition names no property of ModelConfig",
        "Tensor '{0}': \"{1}\" in condition \"{2}\" is not a bool or int property of ModelConfig",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor LayerNameWithoutPlaceholder = new(
        "SNG005", "Layer tensor name without {layer}",
        "Layer tensor '{0}': the Hugging Face name \"{1}\" must contain \"{{layer}}\" where the layer index goes",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidNamePlaceholder = new(
        "SNG006", "Invalid placeholder in tensor name",
        "Tensor '{0}': the Hugging Face name \"{1}\" {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DuplicateProperty = new(
        "SNG007", "Duplicate tensor property",
        "Property '{0}' is declared more than once among the {1} tensors of this architecture",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DuplicateHfName = new(
        "SNG008", "Duplicate Hugging Face tensor name",
        "Tensor '{0}': the Hugging Face name \"{1}\" is already used by '{2}'",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor QuantizableNotMatrix = new(
        "SNG009", "Quantizable tensor is not a matrix",
        "Tensor '{0}' is marked Quantizable but has {1} dimension(s); only 2-D linear weights [out, in] can be quantized",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidPropertyName = new(
        "SNG010", "Invalid tensor property name",
        "Tensor property \"{0}\" {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor InvalidTiedTo = new(
        "SNG011", "Invalid TiedTo",
        "Tensor '{0}': TiedTo = \"{1}\" {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor MissingTrait = new(
        "SNG012", "Architecture trait not declared",
        "Architecture '{0}' must declare {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
        description: "Every trait is declared explicitly so that no architecture silently inherits the first enum member.");

    public static readonly DiagnosticDescriptor InvalidClass = new(
        "SNG013", "Invalid class for a generated partial",
        "Class '{0}' {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor ModelConfigMissing = new(
        "SNG014", "ModelConfig not found",
        "Architecture '{0}': the compilation has no type SqueezeNative.Runtime.Models.ModelConfig with an int NumLayers property to evaluate shapes against",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DuplicateModelType = new(
        "SNG015", "Duplicate model type",
        "model_type \"{0}\" is described by both '{1}' and '{2}'",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor BiasTraitMismatch = new(
        "SNG016", "Biases trait contradicts the tensors",
        "Architecture '{0}': {1}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor MultipleRegistries = new(
        "SNG017", "More than one architecture registry",
        "'{0}' is marked [ArchitectureRegistry] but '{1}' already is; an assembly has one registry",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor EmptyShape = new(
        "SNG018", "Tensor without dimensions",
        "Tensor '{0}' declares no shape dimensions",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true);
}
