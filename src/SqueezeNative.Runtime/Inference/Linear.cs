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
/// Several linears reading the same input, run as one product whose output holds theirs side by
/// side (q|k|v, gate|up): one launch for a decode step instead of one per part, and better
/// bandwidth than several small products. Dense stacks keep their rows in one weight and
/// <see cref="Parts"/> are row views of it, for prefill, where each output must be contiguous on
/// its own. A stack of LUT linears is one <see cref="LutLinear"/> whose codes cannot be viewed by
/// part: it has no parts, and prefill splits <see cref="All"/>'s output instead (InferenceSession).
/// </summary>
public sealed class FusedLinear
{
    private readonly IReadOnlyList<ILinear>? _parts;
    private readonly int[] _widths;

    /// <summary>A stack with a linear per part (row views of All's weight, or the parts All runs).</summary>
    public FusedLinear(ILinear all, IReadOnlyList<ILinear> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        All = all;
        _parts = parts;
        _widths = [.. parts.Select(p => p.OutFeatures)];
        CheckWidths(all, _widths);
    }

    /// <summary>A stack that exists only as All: part i is columns [Offset(i), Offset(i) + widths[i]) of its output.</summary>
    public FusedLinear(ILinear all, IReadOnlyList<int> widths)
    {
        ArgumentNullException.ThrowIfNull(widths);
        All = all;
        _widths = [.. widths];
        CheckWidths(all, _widths);
    }

    private static void CheckWidths(ILinear all, int[] widths)
    {
        ArgumentNullException.ThrowIfNull(all);
        if (widths.Length == 0 || widths.Any(w => w < 1) || widths.Sum() != all.OutFeatures)
            throw new ArgumentException($"part widths [{string.Join(", ", widths)}] must be positive and add up to the {all.OutFeatures} outputs of the stack");
    }

    public ILinear All { get; }

    /// <summary>Whether <see cref="Parts"/> exist (false for a stacked LUT linear).</summary>
    public bool HasParts => _parts is not null;

    /// <summary>One linear per part, when <see cref="HasParts"/>.</summary>
    public IReadOnlyList<ILinear> Parts => _parts ?? throw new InvalidOperationException(
        "this stack is one LUT-quantized linear with no separate parts (a quantized model): split All's output by Widths instead");

    /// <summary>Output width of each part.</summary>
    public IReadOnlyList<int> Widths => _widths;

    /// <summary>
    /// For a gate|up stack: y[T, I] = silu(gate)·up in one op where the storage allows it: a dense
    /// stacked weight (<see cref="NativeContext.MatMulSwiGlu"/>) or one LUT-quantized stack of gate
    /// and up of equal widths (<see cref="NativeContext.LutMatMulSwiGlu"/>), whose CUDA GEMVs apply
    /// the activation in their epilogue, so the [T, 2I] product is never written. Returns false
    /// otherwise (e.g. parts of different kinds); the caller then runs <see cref="All"/> and SwiGLU
    /// itself.
    /// </summary>
    public bool TryForwardSwiGlu(NativeContext context, NativeTensor x, NativeTensor y)
    {
        if (_widths.Length != 2 || _widths[0] != _widths[1]) return false;
        switch (All)
        {
            case DenseLinear dense:
                context.MatMulSwiGlu(x, dense.Weight, dense.Bias, y);
                return true;
            case LutLinear lut:
                lut.ForwardSwiGlu(context, x, y);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Output column where part i starts in All's output.</summary>
    public int Offset(int part)
    {
        int offset = 0;
        for (int i = 0; i < part; i++) offset += _widths[i];
        return offset;
    }
}
