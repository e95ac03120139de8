namespace SqueezeNative.Runtime.Models;

/// <summary>Sizes and safetensors spellings of <see cref="TensorDType"/>.</summary>
public static class TensorDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeInBytes(this TensorDType dtype) => dtype switch
    {
        TensorDType.F64 or TensorDType.I64 => 8,
        TensorDType.F32 or TensorDType.I32 => 4,
        TensorDType.F16 or TensorDType.BF16 or TensorDType.I16 => 2,
        TensorDType.I8 or TensorDType.U8 or TensorDType.Bool => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a tensor dtype"),
    };

    /// <summary>The dtype as a safetensors header spells it ("F16", "BOOL", ...).</summary>
    public static string ToSafetensorsName(this TensorDType dtype) => dtype switch
    {
        TensorDType.Bool => "BOOL",
        _ => dtype.ToString(),
    };

    /// <summary>The safetensors spellings this reader understands, for error messages.</summary>
    public static string SupportedSafetensorsNames { get; } =
        string.Join(", ", Enum.GetValues<TensorDType>().Select(d => d.ToSafetensorsName()));

    /// <summary>Parses a safetensors dtype name; case-sensitive as the format is.</summary>
    public static bool TryParseSafetensorsName(string name, out TensorDType dtype)
    {
        switch (name)
        {
            case "F64": dtype = TensorDType.F64; return true;
            case "F32": dtype = TensorDType.F32; return true;
            case "F16": dtype = TensorDType.F16; return true;
            case "BF16": dtype = TensorDType.BF16; return true;
            case "I64": dtype = TensorDType.I64; return true;
            case "I32": dtype = TensorDType.I32; return true;
            case "I16": dtype = TensorDType.I16; return true;
            case "I8": dtype = TensorDType.I8; return true;
            case "U8": dtype = TensorDType.U8; return true;
            case "BOOL": dtype = TensorDType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>
    /// product(shape) × element size without overflow; false when the shape holds a negative
    /// dimension or the product does not fit in a long. A zero dimension makes the product 0
    /// whatever the other dimensions are.
    /// </summary>
    public static bool TryComputeByteLength(ReadOnlySpan<long> shape, TensorDType dtype, out long byteLength)
    {
        byteLength = 0;
        foreach (var dim in shape)
        {
            if (dim < 0) return false;
            if (dim == 0) return true;
        }
        long product = dtype.SizeInBytes();
        foreach (var dim in shape)
        {
            if (product > long.MaxValue / dim) return false;
            product *= dim;
        }
        byteLength = product;
        return true;
    }
}
