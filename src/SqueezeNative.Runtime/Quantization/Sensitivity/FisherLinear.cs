using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Quantization.Sensitivity;

/// <summary>
/// One quantizable linear as the backward pass sees it: its checkpoint tensor (name, layer, role),
/// its dense weight on the context, and its Fisher accumulator while its layer group is resident.
/// </summary>
internal sealed class FisherLinear(TensorSpec spec, DenseLinear linear)
{
    public TensorSpec Spec { get; } = spec;
    /// <summary>[N, K] weight the input gradient is taken through (any float dtype).</summary>
    public NativeTensor Weight { get; } = linear.Weight;
    public int OutFeatures => linear.OutFeatures;
    public int InFeatures => linear.InFeatures;
    /// <summary>F32 [N, K] Σ over windows of the squared weight gradient; null while not accumulated.</summary>
    public NativeTensor? Fisher { get; set; }

    public override string ToString() => Spec.ToString();
}

/// <summary>
/// The quantizable linears of one decoder layer in the decoder's neutral slots. Gated MLPs have
/// <see cref="Gate"/> and <see cref="Up"/>; two-layer MLPs (OPT) have <see cref="Fc1"/>.
/// <see cref="Down"/> is down_proj or fc2.
/// </summary>
internal sealed class LayerLinears
{
    public required FisherLinear Q { get; init; }
    public required FisherLinear K { get; init; }
    public required FisherLinear V { get; init; }
    public required FisherLinear O { get; init; }
    public FisherLinear? Gate { get; init; }
    public FisherLinear? Up { get; init; }
    public FisherLinear? Fc1 { get; init; }
    public required FisherLinear Down { get; init; }

    /// <summary>Every linear of the layer, in the architecture description's order.</summary>
    public required IReadOnlyList<FisherLinear> All { get; init; }

    /// <summary>
    /// Pairs every decoder layer's linears with the checkpoint tensors the architecture declares
    /// quantizable. The descriptions list a layer's quantizable linears in the decoder's neutral
    /// order — q, k, v, o, then gate, up, down (gated) or fc1, fc2 (two-layer), as DESIGN.md's
    /// "Quantized layers" does — so the pairing is positional; counts and shapes are checked.
    /// </summary>
    /// <exception cref="SqueezeException">A linear is not a dense weight, or the pairing does not hold.</exception>
    public static IReadOnlyList<LayerLinears> Resolve(DecoderWeights weights)
    {
        var specs = ArchitectureRegistry.Resolve(weights.Config).DescribeTensors(weights.Config)
            .Where(spec => spec.Quantizable)
            .ToLookup(spec => spec.Layer ?? -1);
        var result = new LayerLinears[weights.Layers.Count];
        for (int i = 0; i < weights.Layers.Count; i++)
        {
            var layer = weights.Layers[i];
            var slots = new List<ILinear> { layer.Qkv.Parts[0], layer.Qkv.Parts[1], layer.Qkv.Parts[2], layer.O };
            if (layer.GateUp is { } gateUp) slots.AddRange([gateUp.Parts[0], gateUp.Parts[1]]);
            else slots.Add(layer.Fc1 ?? throw new SqueezeException($"decoder layer {i} has neither gate/up nor fc1 linears"));
            slots.Add(layer.Down);

            var layerSpecs = specs[i].ToList();
            if (layerSpecs.Count != slots.Count)
                throw new SqueezeException(
                    $"{weights.Info.ModelType} layer {i}: the description declares {layerSpecs.Count} quantizable linears, the decoder has {slots.Count}");
            var linears = new FisherLinear[slots.Count];
            for (int j = 0; j < slots.Count; j++)
            {
                var spec = layerSpecs[j];
                if (slots[j] is not DenseLinear dense)
                    throw new SqueezeException(
                        $"tensor '{spec.Name}': the Fisher sensitivity needs the dense (unquantized) model, this linear is a {slots[j].GetType().Name}");
                if (spec.Shape[0] != dense.OutFeatures || spec.Shape[1] != dense.InFeatures)
                    throw new SqueezeException(
                        $"tensor '{spec.Name}': declared [{spec.Shape[0]}, {spec.Shape[1]}] but the decoder's linear in that slot is [{dense.OutFeatures}, {dense.InFeatures}]");
                linears[j] = new FisherLinear(spec, dense);
            }
            bool gated = layer.GateUp is not null;
            result[i] = new LayerLinears
            {
                Q = linears[0], K = linears[1], V = linears[2], O = linears[3],
                Gate = gated ? linears[4] : null,
                Up = gated ? linears[5] : null,
                Fc1 = gated ? null : linears[4],
                Down = linears[^1],
                All = linears,
            };
        }
        return result;
    }
}
