using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// A linear layer as the decoder sees it: y[T, Out] = x[T, In] · Wᵀ (+ b). The decoder never asks
/// how the weight is stored (fp16 dense today; a LUT-quantized method plugs in here) — STYLE.md 6.
/// </summary>
public interface ILinear
{
    int InFeatures { get; }
    int OutFeatures { get; }
    /// <summary>y = x·Wᵀ (+ b).</summary>
    void Forward(NativeContext context, NativeTensor x, NativeTensor y);
    /// <summary>y += x·Wᵀ (+ b): the residual add fused into the product.</summary>
    void ForwardAdd(NativeContext context, NativeTensor x, NativeTensor y);
}

/// <summary>A dense 16/32-bit weight [Out, In] with an optional bias [Out] (tensors owned by the model).</summary>
public sealed class DenseLinear(NativeTensor weight, NativeTensor? bias) : ILinear
{
    public NativeTensor Weight { get; } = weight;
    public NativeTensor? Bias { get; } = bias;
    public int InFeatures => (int)Weight.Shape[1];
    public int OutFeatures => (int)Weight.Shape[0];

    public void Forward(NativeContext context, NativeTensor x, NativeTensor y) => context.MatMul(x, Weight, Bias, y);

    public void ForwardAdd(NativeContext context, NativeTensor x, NativeTensor y) => context.MatMulAdd(x, Weight, Bias, y);
}

/// <summary>
/// Several linears reading the same input, stored as one weight with their rows stacked
/// (q|k|v, gate|up). One product serves a decode step (a single GEMV reads all rows: fewer
/// launches, better bandwidth than three small ones); <see cref="Parts"/> are row views of the
/// same storage for prefill, where each output must be contiguous on its own.
/// </summary>
public sealed class FusedLinear(ILinear all, IReadOnlyList<ILinear> parts)
{
    public ILinear All { get; } = all;
    public IReadOnlyList<ILinear> Parts { get; } = parts;
    /// <summary>
    /// For a gate|up stack: y[T, I] = silu(gate)·up in one op where the storage allows it (a dense
    /// stacked weight: <see cref="NativeContext.MatMulSwiGlu"/>, whose CUDA GEMV applies the activation
    /// in its epilogue, so the [T, 2I] product is never written). Returns false otherwise (e.g. LUT
    /// parts, which keep their own weights); the caller then runs <see cref="All"/> and SwiGLU itself.
    /// </summary>
    public bool TryForwardSwiGlu(NativeContext context, NativeTensor x, NativeTensor y)
    {
        if (Parts.Count != 2 || All is not DenseLinear dense) return false;
        context.MatMulSwiGlu(x, dense.Weight, dense.Bias, y);
        return true;
    }

    /// <summary>Output column where part i starts in All's output.</summary>
    public int Offset(int part)
    {
        int offset = 0;
        for (int i = 0; i < part; i++) offset += Parts[i].OutFeatures;
        return offset;
    }
}
