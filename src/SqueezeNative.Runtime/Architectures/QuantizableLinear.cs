using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Architectures;

/// <summary>A linear weight that SqueezeLLM quantizes, with its place in the model.</summary>
/// <param name="Layer">Decoder layer index.</param>
/// <param name="Role">The generated layer property, e.g. "QProj" (the same for every layer).</param>
/// <param name="Name">Hugging Face tensor name, e.g. "model.layers.0.self_attn.q_proj.weight".</param>
/// <param name="Weight">The checkpoint tensor, shape [OutFeatures, InFeatures] (validated).</param>
public sealed record QuantizableLinear(int Layer, string Role, string Name, TensorRef Weight)
{
    /// <summary>Rows of the weight: the linear's output width.</summary>
    public long OutFeatures => Weight.Shape[0];

    /// <summary>Columns of the weight: the linear's input width (the packed dimension).</summary>
    public long InFeatures => Weight.Shape[1];

    public override string ToString() => $"{Name} [{OutFeatures}, {InFeatures}]";
}
