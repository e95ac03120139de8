namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// A matrix W [Rows, Cols] (rows = output channels) quantized per row onto a look-up table:
/// row r has <see cref="LutSize"/> = 2^bits values <c>Lut[r·LutSize .. (r+1)·LutSize)</c>, sorted
/// ascending, and every weight W[r, c] is replaced by <c>Lut[r·LutSize + Codes[r·Cols + c]]</c>.
/// Every per-channel method (SqueezeLLM k-means, RTN, GPTQ) produces this form, so one kernel
/// serves them all.
/// </summary>
public sealed class LutQuantized
{
    public LutQuantized(int rows, int cols, int bits, float[] lut, byte[] codes)
    {
        QuantizationArguments.CheckShape(rows, cols);
        QuantizationArguments.CheckBits(bits);
        ArgumentNullException.ThrowIfNull(lut);
        ArgumentNullException.ThrowIfNull(codes);
        if (lut.Length != rows << bits)
            throw new ArgumentException($"expected {rows} x {1 << bits} LUT entries, got {lut.Length}", nameof(lut));
        QuantizationArguments.CheckLength(codes.Length, rows, cols, nameof(codes));
        Rows = rows;
        Cols = cols;
        Bits = bits;
        Lut = lut;
        Codes = codes;
    }

    public int Rows { get; }
    public int Cols { get; }
    public int Bits { get; }
    public int LutSize => 1 << Bits;

    /// <summary>[Rows, 2^Bits], each row sorted ascending.</summary>
    public float[] Lut { get; }

    /// <summary>[Rows, Cols], each an index into its row's LUT.</summary>
    public byte[] Codes { get; }

    /// <summary>The LUT of one row.</summary>
    public ReadOnlySpan<float> RowLut(int row) => Lut.AsSpan(row * LutSize, LutSize);

    /// <summary>The dense matrix the codes stand for: W'[r, c] = LUT_r[code].</summary>
    public float[] Dequantize()
    {
        var result = new float[Codes.Length];
        for (var r = 0; r < Rows; r++)
        {
            var lut = RowLut(r);
            var codes = Codes.AsSpan(r * Cols, Cols);
            var row = result.AsSpan(r * Cols, Cols);
            for (var c = 0; c < Cols; c++)
                row[c] = lut[codes[c]];
        }
        return result;
    }
}
