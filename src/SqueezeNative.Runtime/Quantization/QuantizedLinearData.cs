namespace SqueezeNative.Runtime.Quantization;

/// <summary>Which algorithm produced a quantized linear (all of them decode through a per-row LUT).</summary>
public enum QuantizationMethod
{
    /// <summary>Sensitivity-weighted k-means, optionally dense-and-sparse.</summary>
    SqueezeLlm,

    /// <summary>Per-channel uniform min–max round-to-nearest.</summary>
    Rtn,

    /// <summary>GPTQ, per channel, optionally act-order.</summary>
    Gptq,
}

/// <summary>
/// One quantized linear weight W [Rows = out, Cols = in], whatever the method: a per-row LUT and
/// one code per weight (dense part) plus an optional sparse CSR part. W ≈ LUT_r[code] + S.
/// <para>
/// LUT and sparse values are float32 here; the checkpoint stores both as fp16. SqueezeLLM's
/// quantizer rounds them to fp16 before it codes (<see cref="SqueezeLlmMatrixQuantizer"/>), so
/// writing loses nothing; RTN and GPTQ LUTs are rounded when written.
/// </para>
/// <para>Equality is the record's: arrays compare by reference.</para>
/// </summary>
public sealed record QuantizedLinearData
{
    public QuantizedLinearData(QuantizationMethod method, int bits, int rows, int cols, float[] lut, byte[] codes, SparseCsr? sparse = null)
    {
        // LutQuantized validates the dense part's shape.
        var dense = new LutQuantized(rows, cols, bits, lut, codes);
        sparse ??= SparseCsr.Empty(rows, cols);
        if (sparse.Rows != rows || sparse.Cols != cols)
            throw new ArgumentException($"sparse part is {sparse.Rows}x{sparse.Cols}, the matrix {rows}x{cols}", nameof(sparse));
        for (var i = 0; i < codes.Length; i++)
        {
            if (codes[i] >= dense.LutSize)
                throw new ArgumentException($"code {codes[i]} at flat index {i} is outside a {dense.LutSize}-entry LUT", nameof(codes));
        }
        Method = method;
        Bits = bits;
        Rows = rows;
        Cols = cols;
        Lut = lut;
        Codes = codes;
        Sparse = sparse;
    }

    public QuantizationMethod Method { get; }
    public int Bits { get; }
    public int Rows { get; }
    public int Cols { get; }

    /// <summary>[Rows, 2^Bits], each row sorted ascending.</summary>
    public float[] Lut { get; }

    /// <summary>[Rows, Cols] indices into the row's LUT.</summary>
    public byte[] Codes { get; }

    /// <summary>The sparse part (possibly without entries).</summary>
    public SparseCsr Sparse { get; }

    public int LutSize => 1 << Bits;

    /// <summary>From a LUT quantization (RTN, GPTQ, or k-means) and an optional sparse part.</summary>
    public static QuantizedLinearData From(QuantizationMethod method, LutQuantized dense, SparseCsr? sparse = null)
    {
        ArgumentNullException.ThrowIfNull(dense);
        return new QuantizedLinearData(method, dense.Bits, dense.Rows, dense.Cols, dense.Lut, dense.Codes, sparse);
    }

    /// <summary>From the checkpoint layout: <c>qweight</c> [Cols/32·Bits, Rows] (see <see cref="LutPacking"/>).</summary>
    public static QuantizedLinearData FromPacked(QuantizationMethod method, int bits, int rows, int cols, ReadOnlySpan<int> qweight,
        float[] lut, SparseCsr? sparse = null, string? tensorName = null)
        => new(method, bits, rows, cols, lut, LutPacking.Unpack(qweight, rows, cols, bits, tensorName), sparse);

    /// <summary>The codes in the checkpoint layout (<see cref="LutPacking.Pack"/>).</summary>
    public int[] PackWeight(string? tensorName = null) => LutPacking.Pack(Codes, Rows, Cols, Bits, tensorName);

    /// <summary>The dense [Rows, Cols] matrix it stands for: LUT_r[code] + S (the sum in double, rounded once).</summary>
    public float[] Dequantize()
    {
        var result = new float[Rows * Cols];
        Dequantize(result);
        return result;
    }

    /// <summary>Writes the dense matrix into <paramref name="destination"/> [Rows, Cols].</summary>
    public void Dequantize(Span<float> destination)
    {
        QuantizationArguments.CheckLength(destination.Length, Rows, Cols, nameof(destination));
        for (var r = 0; r < Rows; r++)
        {
            var lut = Lut.AsSpan(r * LutSize, LutSize);
            var codes = Codes.AsSpan(r * Cols, Cols);
            var row = destination.Slice(r * Cols, Cols);
            for (var c = 0; c < Cols; c++)
                row[c] = lut[codes[c]];
            for (var n = Sparse.RowOffsets[r]; n < Sparse.RowOffsets[r + 1]; n++)
            {
                var c = Sparse.ColumnIndices[n];
                row[c] = (float)((double)lut[codes[c]] + Sparse.Values[n]);
            }
        }
    }
}
