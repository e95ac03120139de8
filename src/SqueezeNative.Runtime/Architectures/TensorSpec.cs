namespace SqueezeNative.Runtime.Architectures;

/// <summary>One tensor a config implies, before any weights are read.</summary>
/// <param name="Name">Hugging Face tensor name, e.g. "model.layers.3.self_attn.q_proj.weight".</param>
/// <param name="Role">The generated property that holds it, e.g. "QProj".</param>
/// <param name="Layer">Decoder layer index, or null for a global tensor.</param>
/// <param name="Shape">Expected shape, outermost dimension first.</param>
/// <param name="Quantizable">A linear weight [out, in] that SqueezeLLM quantizes.</param>
public sealed record TensorSpec(string Name, string Role, int? Layer, IReadOnlyList<long> Shape, bool Quantizable)
{
    /// <summary>Number of elements (parameters) of the tensor.</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (var dimension in Shape)
                count *= dimension;
            return count;
        }
    }

    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
