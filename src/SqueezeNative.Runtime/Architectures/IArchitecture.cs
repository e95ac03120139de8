using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Architectures;

/// <summary>
/// One supported architecture: its traits, the tensors a config implies, and a loader that
/// checks a checkpoint against them. Implemented by the generator for every
/// <see cref="ArchitectureAttribute"/> class; found through <see cref="ArchitectureRegistry"/>.
/// </summary>
public interface IArchitecture
{
    ArchitectureInfo Info { get; }

    /// <summary>
    /// Every tensor a checkpoint of this config must hold, with its expected shape: globals first,
    /// then each layer's. Needs no weights (config-only folders print shapes and parameter counts
    /// from it). Tied tensors appear once.
    /// </summary>
    /// <exception cref="ModelFormatException">The config gives a non-positive dimension.</exception>
    IReadOnlyList<TensorSpec> DescribeTensors(ModelConfig config);

    /// <summary>Looks up and validates every tensor of the model in <paramref name="source"/>.</summary>
    /// <exception cref="ModelFormatException">
    /// A required tensor is missing, or a tensor's shape or dtype contradicts the config.
    /// </exception>
    IModelWeights LoadWeights(ITensorSource source, ModelConfig config);
}

/// <summary>
/// The validated tensors of one model. The generated <c>{Prefix}ModelWeights</c> classes add
/// typed properties for each tensor and <c>Layers</c> with typed per-layer weights.
/// </summary>
public interface IModelWeights
{
    ArchitectureInfo Architecture { get; }

    /// <summary>The config the shapes were validated against.</summary>
    ModelConfig Config { get; }

    int LayerCount { get; }

    /// <summary>Every tensor of the model that the checkpoint holds, each once, in description order.</summary>
    IReadOnlyList<TensorRef> Tensors { get; }

    /// <summary>The linears SqueezeLLM quantizes, layer by layer in description order.</summary>
    IReadOnlyList<QuantizableLinear> QuantizableLinears { get; }
}
