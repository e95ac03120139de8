using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// A linear layer as the decoder sees it: y[T, Out] = x[T, In] · Wᵀ (+ b). The decoder never asks
/// how the weight is stored (fp16 dense today; a LUT-quantized method plugs in here) — STYLE.md 6.
/// </summary>
public interface ILinear : IDisposable
{
    int InFeatures { get; }
    int OutFeatures { get; }
    void Forward(NativeContext context, NativeTensor x, NativeTensor y);
}

/// <summary>A dense 16/32-bit weight [Out, In] with an optional bias [Out].</summary>
public sealed class DenseLinear(NativeTensor weight, NativeTensor? bias) : ILinear
{
    public NativeTensor Weight { get; } = weight;
    public NativeTensor? Bias { get; } = bias;
    public int InFeatures => (int)Weight.Shape[1];
    public int OutFeatures => (int)Weight.Shape[0];

    public void Forward(NativeContext context, NativeTensor x, NativeTensor y) => context.MatMul(x, Weight, Bias, y);

    // Weight and bias are owned by the model's tensor table, which disposes them.
    public void Dispose() { }
}
