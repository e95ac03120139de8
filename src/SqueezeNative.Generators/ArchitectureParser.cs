using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace SqueezeNative.Generators;

/// <summary>
/// Reads one [Architecture] class into an <see cref="ArchitectureModel"/>, checking everything
/// the emitter relies on. Runs inside ForAttributeWithMetadataName's transform, the only place
/// that sees symbols; what it returns holds plain values only.
/// </summary>
internal static class ArchitectureParser
{
    public const string ArchitectureAttributeName = "SqueezeNative.Runtime.Architectures.ArchitectureAttribute";
    public const string GlobalTensorAttributeName = "SqueezeNative.Runtime.Architectures.GlobalTensorAttribute";
    public const string LayerTensorAttributeName = "SqueezeNative.Runtime.Architectures.LayerTensorAttribute";
    public const string RegistryAttributeName = "SqueezeNative.Runtime.Architectures.ArchitectureRegistryAttribute";
    public const string ModelConfigName = "SqueezeNative.Runtime.Models.ModelConfig";

    private const string ClassSuffix = "Architecture";
    private const string LayerPlaceholder = "{layer}";

    /// <summary>
    /// Member and local names the generated classes use themselves; a tensor property may not
    /// take one (nor, lower-cased, shadow a parameter of the generated methods).
    /// </summary>
    private static readonly HashSet<string> ReservedProperties = new(StringComparer.Ordinal)
    {
        "Architecture", "Config", "DescribeTensors", "Layer", "LayerCount", "Layers", "Load",
        "LayerWeights", "Linears", "QuantizableLinears", "Source", "Specs", "TensorNames", "TensorShapes", "Tensors",
    };

    private sealed class TensorDeclaration
    {
        public bool IsLayer { get; init; }
        public string Property { get; init; } = "";
        public string HfName { get; init; } = "";
        public string[] Shape { get; init; } = [];
        public string? Condition { get; init; }
        public string? TiedTo { get; init; }
        public bool Quantizable { get; init; }
        public bool BeforeLayers { get; init; }
        public AttributeSyntax? Syntax { get; init; }
    }

    public static ArchitectureParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var type = (INamedTypeSymbol)context.TargetSymbol;
        var classSyntax = (ClassDeclarationSyntax)context.TargetNode;
        var architectureAttribute = context.Attributes[0];
        var attributeSyntax = architectureAttribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax;
        var classLocation = LocationInfo.From(classSyntax.Identifier.GetLocation());

        // An attribute the compiler could not bind is already a compile error; say nothing more.
        if (architectureAttribute.AttributeConstructor is null)
            return new ArchitectureParseResult(null, null, EquatableArray<DiagnosticInfo>.Empty);

        var modelType = architectureAttribute.ConstructorArguments.Length > 0 ? architectureAttribute.ConstructorArguments[0].Value as string : null;
        var identity = string.IsNullOrEmpty(modelType)
            ? null
            : new ArchitectureIdentity(modelType!, type.ToDisplayString(), LocationInfo.From(PositionalArgument(attributeSyntax, 0, "modelType")));

        CheckClass(type, classSyntax, classLocation, diagnostics);

        var properties = ReadConfigProperties(context.SemanticModel.Compilation);
        if (properties is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.ModelConfigMissing, classLocation, type.Name));
            return new ArchitectureParseResult(null, identity, diagnostics.ToEquatableArray());
        }

        var named = architectureAttribute.NamedArguments.ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal);
        var traits = ReadTraits(type.Name, modelType, named, LocationInfo.From(attributeSyntax) ?? classLocation, diagnostics);
        var hfClasses = named.TryGetValue("HfClasses", out var classesConstant) && !classesConstant.IsNull
            ? classesConstant.Values.Select(value => value.Value as string ?? "").ToArray()
            : Array.Empty<string>();

        var declarations = ReadTensorDeclarations(type, context.SemanticModel.Compilation, cancellationToken);
        var prefix = type.Name.EndsWith(ClassSuffix, StringComparison.Ordinal) ? type.Name.Substring(0, type.Name.Length - ClassSuffix.Length) : type.Name;
        var globals = new List<TensorModel>();
        var layers = new List<TensorModel>();
        foreach (var declaration in declarations)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var tensor = ReadTensor(declaration, properties, diagnostics);
            if (tensor is not null)
                (declaration.IsLayer ? layers : globals).Add(tensor);
        }
        CheckNames(declarations, prefix, diagnostics);
        CheckTiedTensors(declarations, diagnostics);
        CheckBiases(type.Name, declarations, named, LocationInfo.From(NamedArgument(attributeSyntax, "Biases")) ?? LocationInfo.From(attributeSyntax), diagnostics);

        bool valid = traits is not null && diagnostics.All(d => d.Descriptor.DefaultSeverity != DiagnosticSeverity.Error);
        var model = valid
            ? new ArchitectureModel(
                type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString(),
                type.Name,
                prefix,
                type.DeclaredAccessibility == Accessibility.Public ? "public" : "internal",
                modelType!,
                hfClasses.ToEquatableArray(),
                traits!,
                globals.ToEquatableArray(),
                layers.ToEquatableArray())
            : null;
        return new ArchitectureParseResult(model, identity, diagnostics.ToEquatableArray());
    }

    public static RegistryParseResult ParseRegistry(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        var type = (INamedTypeSymbol)context.TargetSymbol;
        var classSyntax = (ClassDeclarationSyntax)context.TargetNode;
        var location = LocationInfo.From(classSyntax.Identifier.GetLocation());
        var problem =
            !classSyntax.Modifiers.Any(SyntaxKind.PartialKeyword) ? "must be declared partial so that the generator can add the registry list" :
            !type.IsStatic ? "must be static: the registry is a list of singletons" :
            type.ContainingType is not null ? "must not be nested in another type" :
            type.IsGenericType ? "must not be generic" :
            null;
        if (problem is not null)
        {
            var diagnostic = DiagnosticInfo.Create(DiagnosticDescriptors.InvalidClass, location, type.Name, problem);
            return new RegistryParseResult(null, type.ToDisplayString(), location, new[] { diagnostic }.ToEquatableArray());
        }
        var target = new RegistryTarget(type.ContainingNamespace.IsGlobalNamespace ? "" : type.ContainingNamespace.ToDisplayString(), type.Name);
        return new RegistryParseResult(target, type.ToDisplayString(), location, EquatableArray<DiagnosticInfo>.Empty);
    }

    private static void CheckClass(INamedTypeSymbol type, ClassDeclarationSyntax syntax, LocationInfo? location, List<DiagnosticInfo> diagnostics)
    {
        var problem =
            !syntax.Modifiers.Any(SyntaxKind.PartialKeyword) ? "must be declared partial so that the generator can complete it as an IArchitecture" :
            type.IsStatic ? "must not be static: it is the IArchitecture singleton" :
            type.ContainingType is not null ? "must not be nested in another type" :
            type.IsGenericType ? "must not be generic" :
            !type.Name.EndsWith(ClassSuffix, StringComparison.Ordinal) || type.Name.Length == ClassSuffix.Length
                ? "must be named {Prefix}Architecture: the prefix names the generated {Prefix}LayerWeights and {Prefix}ModelWeights"
                : null;
        if (problem is not null)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidClass, location, type.Name, problem));
    }

    /// <summary>The public instance int and bool properties of ModelConfig, or null when it is missing.</summary>
    private static Dictionary<string, ConfigValueKind>? ReadConfigProperties(Compilation compilation)
    {
        var config = compilation.GetTypeByMetadataName(ModelConfigName);
        if (config is null)
            return null;
        var properties = new Dictionary<string, ConfigValueKind>(StringComparer.Ordinal);
        foreach (var property in config.GetMembers().OfType<IPropertySymbol>())
        {
            if (property.IsStatic || property.IsIndexer || property.GetMethod is null || property.DeclaredAccessibility != Accessibility.Public)
                continue;
            if (property.Type.SpecialType == SpecialType.System_Int32)
                properties[property.Name] = ConfigValueKind.Int;
            else if (property.Type.SpecialType == SpecialType.System_Boolean)
                properties[property.Name] = ConfigValueKind.Bool;
        }
        // The generated loaders size the layer list with NumLayers.
        return properties.TryGetValue("NumLayers", out var kind) && kind == ConfigValueKind.Int ? properties : null;
    }

    private static ArchitectureTraits? ReadTraits(string className, string? modelType, Dictionary<string, TypedConstant> named,
        LocationInfo? location, List<DiagnosticInfo> diagnostics)
    {
        var missing = new List<string>();
        if (string.IsNullOrEmpty(modelType))
            missing.Add("a non-empty model_type");
        if (!named.TryGetValue("HfClasses", out var classes) || classes.IsNull || classes.Values.Length == 0
            || classes.Values.Any(value => string.IsNullOrEmpty(value.Value as string)))
            missing.Add("HfClasses (the Hugging Face model classes, none empty)");
        string? Trait(string name)
        {
            if (named.TryGetValue(name, out var constant))
                return EnumExpression(constant);
            missing.Add(name);
            return null;
        }
        var norm = Trait("Norm");
        var activation = Trait("Activation");
        var mlp = Trait("Mlp");
        var positional = Trait("Positional");
        var attention = Trait("Attention");
        var biases = Trait("Biases");
        if (missing.Count > 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.MissingTrait, location, className, JoinWithAnd(missing)));
            return null;
        }
        int positionOffset = named.TryGetValue("PositionOffset", out var offset) && offset.Value is int offsetValue ? offsetValue : 0;
        bool slidingWindow = named.TryGetValue("SlidingWindow", out var window) && window.Value is true;
        return new ArchitectureTraits(norm!, activation!, mlp!, positional!, positionOffset, attention!, slidingWindow, biases!);
    }

    /// <summary>An enum constant as C#: a member name, a | of flag members, or a cast.</summary>
    private static string EnumExpression(TypedConstant constant)
    {
        var enumType = (INamedTypeSymbol)constant.Type!;
        var typeName = enumType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        long value = Convert.ToInt64(constant.Value);
        var members = enumType.GetMembers().OfType<IFieldSymbol>().Where(field => field.HasConstantValue)
            .Select(field => (field.Name, Value: Convert.ToInt64(field.ConstantValue))).ToList();
        foreach (var member in members)
        {
            if (member.Value == value)
                return typeName + "." + member.Name;
        }
        var flags = members.Where(member => member.Value != 0 && (member.Value & (member.Value - 1)) == 0 && (value & member.Value) == member.Value).ToList();
        if (flags.Count > 0 && flags.Aggregate(0L, (all, member) => all | member.Value) == value)
            return string.Join(" | ", flags.Select(member => typeName + "." + member.Name));
        return "(" + typeName + ")" + value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    private static List<TensorDeclaration> ReadTensorDeclarations(INamedTypeSymbol type, Compilation compilation, CancellationToken cancellationToken)
    {
        var globalAttribute = compilation.GetTypeByMetadataName(GlobalTensorAttributeName);
        var layerAttribute = compilation.GetTypeByMetadataName(LayerTensorAttributeName);
        var declarations = new List<TensorDeclaration>();
        bool layerSeen = false;
        foreach (var attribute in type.GetAttributes())
        {
            bool isLayer = SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, layerAttribute);
            bool isGlobal = SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, globalAttribute);
            if ((!isLayer && !isGlobal) || attribute.AttributeConstructor is null || attribute.ConstructorArguments.Length != 3)
                continue;
            layerSeen |= isLayer;
            var named = attribute.NamedArguments.ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal);
            var shape = attribute.ConstructorArguments[2];
            declarations.Add(new TensorDeclaration
            {
                IsLayer = isLayer,
                Property = attribute.ConstructorArguments[0].Value as string ?? "",
                HfName = attribute.ConstructorArguments[1].Value as string ?? "",
                Shape = shape.IsNull ? Array.Empty<string>() : shape.Values.Select(value => value.Value as string ?? "").ToArray(),
                Condition = named.TryGetValue("Condition", out var condition) ? condition.Value as string : null,
                TiedTo = named.TryGetValue("TiedTo", out var tiedTo) ? tiedTo.Value as string : null,
                Quantizable = named.TryGetValue("Quantizable", out var quantizable) && quantizable.Value is true,
                BeforeLayers = !layerSeen,
                Syntax = attribute.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax,
            });
        }
        return declarations;
    }

    private static TensorModel? ReadTensor(TensorDeclaration declaration, Dictionary<string, ConfigValueKind> properties, List<DiagnosticInfo> diagnostics)
    {
        int errorsBefore = diagnostics.Count;
        var syntax = declaration.Syntax;
        var name = declaration.Property;

        CheckHfName(declaration, diagnostics);

        if (declaration.Shape.Length == 0)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.EmptyShape, LocationInfo.From(syntax), name));
        var intProperties = properties.Where(pair => pair.Value == ConfigValueKind.Int).ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal);
        var dimensions = new List<string>();
        for (int i = 0; i < declaration.Shape.Length; i++)
        {
            var text = declaration.Shape[i];
            var result = ConfigExpression.Compile(text, ConfigValueKind.Int, intProperties);
            var location = LocationInfo.From(PositionalArgument(syntax, 2 + i, parameterName: null) ?? (SyntaxNode?)syntax);
            if (result.UnknownName is not null)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownShapeProperty, location, name, result.UnknownName, text));
            else if (result.Error is not null)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidShapeExpression, location, name, text, result.Error));
            else
                dimensions.Add(result.Code!);
        }

        string? conditionCode = null;
        string? negatedConditionCode = null;
        string? negatedConditionText = null;
        if (declaration.Condition is not null)
        {
            var result = ConfigExpression.Compile(declaration.Condition, ConfigValueKind.Bool, properties);
            var location = LocationInfo.From(NamedArgument(syntax, "Condition") ?? (SyntaxNode?)syntax);
            if (result.UnknownName is not null)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.UnknownConditionProperty, location, name, result.UnknownName, declaration.Condition));
            else if (result.Error is not null)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidCondition, location, name, declaration.Condition, result.Error));
            else
                (conditionCode, negatedConditionCode, negatedConditionText) = (result.Code, result.NegatedCode, result.NegatedText);
        }

        if (declaration.Quantizable && declaration.Shape.Length != 2)
        {
            var location = LocationInfo.From(NamedArgument(syntax, "Quantizable") ?? (SyntaxNode?)syntax);
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.QuantizableNotMatrix, location, name,
                declaration.Shape.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        if (diagnostics.Count != errorsBefore)
            return null;
        return new TensorModel(
            name,
            declaration.HfName,
            "[" + string.Join(", ", declaration.Shape.Select(dimension => dimension.Trim())) + "]",
            dimensions.ToEquatableArray(),
            declaration.Condition?.Trim(),
            conditionCode,
            negatedConditionCode,
            negatedConditionText,
            declaration.Quantizable,
            declaration.TiedTo,
            declaration.BeforeLayers);
    }

    private static void CheckHfName(TensorDeclaration declaration, List<DiagnosticInfo> diagnostics)
    {
        var location = LocationInfo.From(PositionalArgument(declaration.Syntax, 1, "hfName") ?? (SyntaxNode?)declaration.Syntax);
        var name = declaration.HfName;
        if (name.Length == 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidNamePlaceholder, location, declaration.Property, name, "is empty"));
            return;
        }
        if (name.IndexOfAny(['"', '\\']) >= 0 || name.Any(char.IsControl))
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidNamePlaceholder, location, declaration.Property, name,
                "contains a quote, backslash or control character, which no Hugging Face tensor name has"));
            return;
        }
        var withoutPlaceholder = name.Replace(LayerPlaceholder, "");
        if (withoutPlaceholder.IndexOfAny(['{', '}']) >= 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidNamePlaceholder, location, declaration.Property, name,
                "has a brace that is not part of \"{layer}\", the only placeholder"));
        }
        else if (declaration.IsLayer && withoutPlaceholder.Length == name.Length)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.LayerNameWithoutPlaceholder, location, declaration.Property, name));
        }
        else if (!declaration.IsLayer && withoutPlaceholder.Length != name.Length)
        {
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidNamePlaceholder, location, declaration.Property, name,
                "contains \"{layer}\" but belongs to a global tensor; declare it with [LayerTensor]"));
        }
    }

    private static void CheckNames(List<TensorDeclaration> declarations, string prefix, List<DiagnosticInfo> diagnostics)
    {
        var properties = new Dictionary<(bool IsLayer, string Name), TensorDeclaration>();
        var hfNames = new Dictionary<string, TensorDeclaration>(StringComparer.Ordinal);
        // "{Property}IsTied" is a generated member of the model weights; it takes a name too.
        foreach (var tied in declarations.Where(d => !d.IsLayer && d.TiedTo is not null))
            properties[(false, tied.Property + "IsTied")] = tied;

        foreach (var declaration in declarations)
        {
            var propertyLocation = LocationInfo.From(PositionalArgument(declaration.Syntax, 0, "property") ?? (SyntaxNode?)declaration.Syntax);
            var name = declaration.Property;
            var className = prefix + (declaration.IsLayer ? "LayerWeights" : "ModelWeights");
            string? problem =
                !SyntaxFacts.IsValidIdentifier(name) || SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "is not a valid C# identifier" :
                name[0] is < 'A' or > 'Z' ? "must start with an upper-case ASCII letter (it is a public property; its camel-case form names a parameter)" :
                ReservedProperties.Contains(name) ? "is a name the generated weight classes use themselves" :
                name == className ? "cannot have the name of its class, " + className :
                null;
            if (problem is not null)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidPropertyName, propertyLocation, name, problem));
            else if (properties.TryGetValue((declaration.IsLayer, name), out var first) && !ReferenceEquals(first, declaration))
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateProperty, propertyLocation, name, declaration.IsLayer ? "layer" : "global"));
            else
                properties[(declaration.IsLayer, name)] = declaration;

            if (declaration.HfName.Length > 0)
            {
                if (hfNames.TryGetValue(declaration.HfName, out var owner))
                {
                    var hfLocation = LocationInfo.From(PositionalArgument(declaration.Syntax, 1, "hfName") ?? (SyntaxNode?)declaration.Syntax);
                    diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.DuplicateHfName, hfLocation, name, declaration.HfName, owner.Property));
                }
                else
                {
                    hfNames[declaration.HfName] = declaration;
                }
            }
        }
    }

    private static void CheckTiedTensors(List<TensorDeclaration> declarations, List<DiagnosticInfo> diagnostics)
    {
        foreach (var tied in declarations.Where(d => d.TiedTo is not null))
        {
            var location = LocationInfo.From(NamedArgument(tied.Syntax, "TiedTo") ?? (SyntaxNode?)tied.Syntax);
            var target = declarations.FirstOrDefault(d => !d.IsLayer && d.Property == tied.TiedTo);
            string? problem =
                target is null ? "names no global tensor of this architecture" :
                ReferenceEquals(target, tied) ? "names the tensor itself" :
                declarations.IndexOf(target) > declarations.IndexOf(tied) ? "names a tensor declared after it; declare the stand-in first (it is loaded first)" :
                target.Condition is not null || target.TiedTo is not null ? "names a tensor that may be absent itself; a stand-in must always be present" :
                tied.Condition is null ? "needs a Condition: the stand-in is used exactly when the condition is false" :
                !SameShape(tied.Shape, target.Shape) ? "names a tensor of another shape; a stand-in must have the same shape expressions" :
                null;
            if (problem is not null)
                diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.InvalidTiedTo, location, tied.Property, tied.TiedTo!, problem));
        }
    }

    private static bool SameShape(string[] left, string[] right) =>
        left.Select(RemoveWhitespace).SequenceEqual(right.Select(RemoveWhitespace), StringComparer.Ordinal);

    private static string RemoveWhitespace(string text) => new(text.Where(c => !char.IsWhiteSpace(c)).ToArray());

    private static void CheckBiases(string className, List<TensorDeclaration> declarations, Dictionary<string, TypedConstant> named,
        LocationInfo? location, List<DiagnosticInfo> diagnostics)
    {
        if (!named.TryGetValue("Biases", out var biases) || biases.Value is null)
            return;
        long value = Convert.ToInt64(biases.Value);
        var biasTensor = declarations.FirstOrDefault(d => d.HfName.EndsWith(".bias", StringComparison.Ordinal));
        if (value == 0 && biasTensor is not null)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.BiasTraitMismatch, location, className,
                $"Biases is None but tensor '{biasTensor.Property}' ({biasTensor.HfName}) is a bias"));
        else if (value != 0 && biasTensor is null)
            diagnostics.Add(DiagnosticInfo.Create(DiagnosticDescriptors.BiasTraitMismatch, location, className,
                "Biases names bias sites but no tensor's Hugging Face name ends in \".bias\""));
    }

    /// <summary>The argument for constructor parameter <paramref name="index"/> (by name or by position).</summary>
    private static SyntaxNode? PositionalArgument(AttributeSyntax? syntax, int index, string? parameterName)
    {
        var arguments = syntax?.ArgumentList?.Arguments;
        if (arguments is null)
            return null;
        if (parameterName is not null)
        {
            var byName = arguments.Value.FirstOrDefault(argument => argument.NameColon?.Name.Identifier.ValueText == parameterName);
            if (byName is not null)
                return byName;
        }
        var positional = arguments.Value.Where(argument => argument.NameEquals is null && argument.NameColon is null).ToList();
        return index < positional.Count ? positional[index] : null;
    }

    /// <summary>The <c>Name = value</c> argument of a settable attribute property.</summary>
    private static SyntaxNode? NamedArgument(AttributeSyntax? syntax, string propertyName) =>
        syntax?.ArgumentList?.Arguments.FirstOrDefault(argument => argument.NameEquals?.Name.Identifier.ValueText == propertyName);

    private static string JoinWithAnd(List<string> items) =>
        items.Count == 1 ? items[0] : string.Join(", ", items.Take(items.Count - 1)) + " and " + items[items.Count - 1];
}
