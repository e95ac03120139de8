namespace SqueezeNative.Runtime.Architectures;

// These attributes are the whole description of an architecture: SqueezeNative.Generators reads
// them at compile time and emits the typed weight classes, the loader and the registry entry.
// Expressions are strings because attribute arguments must be constants; the generator parses
// them and reports malformed ones (SNG0xx) at the attribute.
//
// Shape expressions: integer arithmetic (+ - * / and parentheses, integer literals) over the int
// properties of ModelConfig, e.g. "NumKvHeads * HeadDim".
// Conditions: boolean expressions (! && || and parentheses) over the bool properties of
// ModelConfig, and comparisons (== != < <= > >=) of shape expressions, e.g.
// "DoLayerNormBefore && !RemoveFinalLayerNorm" or "WordEmbedProjDim != HiddenSize".

/// <summary>
/// Declares the annotated partial class as the description of one Hugging Face architecture.
/// The generator completes the class as an <see cref="IArchitecture"/> singleton
/// (<c>Instance</c>) and emits <c>{Prefix}LayerWeights</c> and <c>{Prefix}ModelWeights</c>, where
/// Prefix is the class name without its "Architecture" suffix.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class ArchitectureAttribute : Attribute
{
    /// <param name="modelType">config.json `model_type`, e.g. "llama".</param>
    public ArchitectureAttribute(string modelType)
    {
        ModelType = modelType;
    }

    /// <summary>config.json `model_type` this description serves.</summary>
    public string ModelType { get; }

    /// <summary>HF model classes (config.json `architectures`), e.g. "LlamaForCausalLM".</summary>
    public string[] HfClasses { get; set; } = [];

    public NormKind Norm { get; set; }
    public ActivationKind Activation { get; set; }
    public MlpKind Mlp { get; set; }
    public PositionalKind Positional { get; set; }

    /// <summary>Row of the learned position table that holds position 0 (OPT: 2).</summary>
    public int PositionOffset { get; set; }

    public AttentionKind Attention { get; set; }

    /// <summary>Attention may be limited to a window of recent keys (ModelConfig.SlidingWindow).</summary>
    public bool SlidingWindow { get; set; }

    /// <summary>Where checkpoints may carry biases; must agree with the declared ".bias" tensors.</summary>
    public BiasSites Biases { get; set; }
}

/// <summary>
/// A tensor that occurs once per model (embeddings, final norm, LM head). Becomes a
/// <see cref="SqueezeNative.Runtime.Models.TensorRef"/> property on the generated model weights.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class GlobalTensorAttribute : Attribute
{
    /// <param name="property">Name of the generated property, e.g. "EmbedTokens".</param>
    /// <param name="hfName">Hugging Face tensor name, e.g. "model.embed_tokens.weight".</param>
    /// <param name="shape">One shape expression per dimension, outermost first.</param>
    public GlobalTensorAttribute(string property, string hfName, params string[] shape)
    {
        Property = property;
        HfName = hfName;
        Shape = shape;
    }

    public string Property { get; }
    public string HfName { get; }
    public string[] Shape { get; }

    /// <summary>When set, the tensor exists only where this condition holds on the config.</summary>
    public string? Condition { get; set; }

    /// <summary>
    /// Property of another global tensor that stands in for this one when <see cref="Condition"/>
    /// is false (tied embeddings: the LM head reuses the token embedding). The generated property
    /// is then never null, and a <c>{Property}IsTied</c> flag says which case holds.
    /// </summary>
    public string? TiedTo { get; set; }
}

/// <summary>
/// A tensor that occurs in every decoder layer. Its HF name contains "{layer}", replaced by the
/// layer index. Becomes a property on the generated layer weights.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class LayerTensorAttribute : Attribute
{
    /// <param name="property">Name of the generated property, e.g. "QProj".</param>
    /// <param name="hfName">Hugging Face name with a "{layer}" placeholder.</param>
    /// <param name="shape">One shape expression per dimension, outermost first.</param>
    public LayerTensorAttribute(string property, string hfName, params string[] shape)
    {
        Property = property;
        HfName = hfName;
        Shape = shape;
    }

    public string Property { get; }
    public string HfName { get; }
    public string[] Shape { get; }

    /// <summary>When set, the tensor exists only where this condition holds on the config.</summary>
    public string? Condition { get; set; }

    /// <summary>
    /// A linear weight [out_features, in_features] that SqueezeLLM quantizes. Only 2-D tensors
    /// qualify; embeddings, norms and the LM head stay 16-bit.
    /// </summary>
    public bool Quantizable { get; set; }
}

/// <summary>
/// Marks the static partial class that receives the generated <c>All</c> list: every
/// <see cref="ArchitectureAttribute"/> class of the assembly.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class ArchitectureRegistryAttribute : Attribute
{
}
