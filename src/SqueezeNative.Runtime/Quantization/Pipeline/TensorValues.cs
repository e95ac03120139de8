using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Quantization.Pipeline;

/// <summary>Float32 copies of checkpoint weights, and float32 values written back into a model's weight tensors.</summary>
internal static class TensorValues
{
    /// <summary>The values of an F32, F16 or BF16 tensor as float32 (exact for all three).</summary>
    public static float[] ToSingle(TensorRef tensor)
    {
        var bytes = tensor.Data.Span;
        var result = new float[tensor.ElementCount];
        switch (tensor.DType)
        {
            case TensorDType.F32:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(result);
                break;
            case TensorDType.F16:
            {
                var half = MemoryMarshal.Cast<byte, Half>(bytes);
                for (var i = 0; i < result.Length; i++) result[i] = (float)half[i];
                break;
            }
            case TensorDType.BF16:
            {
                // bfloat16 is the upper half of a float32.
                var raw = MemoryMarshal.Cast<byte, ushort>(bytes);
                for (var i = 0; i < result.Length; i++) result[i] = BitConverter.Int32BitsToSingle(raw[i] << 16);
                break;
            }
            default:
                throw new ModelFormatException($"dtype {tensor.DType} is not a floating-point weight", tensor.FilePath, tensor.Name);
        }
        return result;
    }

    /// <summary>
    /// Overwrites <paramref name="weight"/> (a model's weight or a row view of a stacked one) with
    /// <paramref name="values"/>, rounded to its dtype (round to nearest even).
    /// </summary>
    public static void Upload(NativeTensor weight, ReadOnlySpan<float> values)
    {
        if (values.Length != weight.ElementCount)
            throw new ArgumentException($"{values.Length} values for a tensor of {weight.ElementCount}", nameof(values));
        switch (weight.DType)
        {
            case NativeDType.F32:
                weight.Upload(values);
                break;
            case NativeDType.F16:
            {
                var half = new Half[values.Length];
                for (var i = 0; i < half.Length; i++) half[i] = (Half)values[i];
                weight.Upload<Half>(half);
                break;
            }
            case NativeDType.BF16:
            {
                var raw = new ushort[values.Length];
                for (var i = 0; i < raw.Length; i++) raw[i] = ToBFloat16(values[i]);
                weight.Upload<ushort>(raw);
                break;
            }
            default:
                throw new ArgumentException($"cannot write float values into a {weight.DType} tensor", nameof(weight));
        }
    }

    private static ushort ToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        // Round to nearest even on the dropped 16 bits.
        bits += 0x7FFF + ((bits >> 16) & 1);
        return (ushort)(bits >> 16);
    }
}
