namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// Round-to-nearest baseline: per output channel (row), 2^bits uniform levels from the row's
/// minimum to its maximum, level_i = min + i·(max − min)/(2^bits − 1), each weight coded by its
/// nearest level. Expressed as a LUT so that the LUT kernel serves it like every other method.
/// A constant row gets 2^bits copies of its value.
/// </summary>
public static class RtnQuantizer
{
    public static LutQuantized Quantize(ReadOnlySpan<float> weights, int rows, int cols, int bits, string? tensorName = null)
    {
        QuantizationArguments.CheckShape(rows, cols);
        QuantizationArguments.CheckLength(weights.Length, rows, cols, nameof(weights));
        QuantizationArguments.CheckBits(bits);
        QuantizationArguments.CheckFinite(weights, "weight", tensorName);

        var levels = 1 << bits;
        var lut = new float[rows * levels];
        var codes = new byte[rows * cols];
        Span<double> midpoints = stackalloc double[levels];
        for (var r = 0; r < rows; r++)
        {
            var row = weights.Slice(r * cols, cols);
            float min = row[0], max = row[0];
            foreach (var v in row)
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
            var rowLut = lut.AsSpan(r * levels, levels);
            // In double so that the top level is exactly max.
            for (var i = 0; i < levels; i++)
                rowLut[i] = (float)(min + ((double)max - min) * i / (levels - 1));
            LutMath.AssignCodes(row, ReadOnlySpan<bool>.Empty, rowLut, codes.AsSpan(r * cols, cols), midpoints);
        }
        return new LutQuantized(rows, cols, bits, lut, codes);
    }
}
