using System.Globalization;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// The SqueezeLLM checkpoint layout of the codes (the reference's <c>QuantLinearLUT.pack2</c>,
/// itself GPTQ's <c>Quant3Linear.pack</c> for 3 bits), bit-exact.
/// <para>
/// Codes are [N out, K in]; <c>qweight</c> is int32 [K/32 · bits, N], row-major: the codes of
/// output channel n run down column n, packed along the INPUT dimension, 32 input rows per group
/// of <c>bits</c> words. K must therefore be a multiple of 32 (every LLaMA/Mistral/OPT linear is).
/// </para>
/// <code>
/// 4 bits, word r of column n = input rows 8r .. 8r+7, row 8r+j in bits 4j .. 4j+3:
///   bit  31    28 27    24 23    20 19    16 15    12 11     8 7      4 3      0
///       [  8r+7  |  8r+6  |  8r+5  |  8r+4  |  8r+3  |  8r+2  |  8r+1  |  8r+0  ]
///
/// 3 bits, input rows 32g + t (t = 0..31) in words 3g, 3g+1, 3g+2; t = 10 and t = 21 straddle words:
///   bit    31 30   29 27  ...   5  3   2  0
///   3g+0: [t10 1:0][ t9 ] ... [ t1 ][ t0 ]        t0..t9 at bits 3t; low 2 bits of t10 at 30..31
///   bit    31    30 28  ...   4  2   1     0
///   3g+1: [t21 0][ t20 ] ... [ t11 ][t10 2]       t11..t20 at bits 3(t−11)+1; bit 2 of t10 at 0; bit 0 of t21 at 31
///   bit    31 29  ...   7  5   4  2   1  0
///   3g+2: [ t31 ] ... [ t23 ][ t22 ][t21 2:1]     t22..t31 at bits 3(t−22)+2; bits 1..2 of t21 at 0..1
/// </code>
/// The LUT (<c>lookup_table</c> [N, 2^bits]) and sparse values are written as fp16
/// (<see cref="ToHalf"/>).
/// </summary>
public static class LutPacking
{
    /// <summary>Input rows per packing group; a group occupies <c>bits</c> words.</summary>
    public const int GroupSize = 32;

    /// <summary>Rows of <c>qweight</c> for K input features.</summary>
    public static int PackedRows(int cols, int bits) => cols / GroupSize * bits;

    /// <summary>Packs codes [rows = N, cols = K] into <c>qweight</c> [K/32·bits, N].</summary>
    public static int[] Pack(ReadOnlySpan<byte> codes, int rows, int cols, int bits, string? tensorName = null)
    {
        CheckLayout(rows, cols, bits, tensorName);
        QuantizationArguments.CheckLength(codes.Length, rows, cols, nameof(codes));
        var limit = 1 << bits;
        for (var i = 0; i < codes.Length; i++)
        {
            if (codes[i] >= limit)
                throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                    $"code {codes[i]} at row {i / cols}, column {i % cols} does not fit in {bits} bits"), tensorName);
        }

        var packed = new int[PackedRows(cols, bits) * rows];
        var groups = cols / GroupSize;
        for (var n = 0; n < rows; n++)
        {
            var row = codes.Slice(n * cols, cols);
            for (var g = 0; g < groups; g++)
            {
                var t = row.Slice(g * GroupSize, GroupSize);
                if (bits == 4)
                {
                    for (var u = 0; u < 4; u++)
                    {
                        uint word = 0;
                        for (var j = 0; j < 8; j++)
                            word |= (uint)t[8 * u + j] << (4 * j);
                        packed[(4 * g + u) * rows + n] = unchecked((int)word);
                    }
                }
                else
                {
                    uint w0 = 0, w1 = 0, w2 = 0;
                    for (var j = 0; j < 10; j++)
                    {
                        w0 |= (uint)t[j] << (3 * j);
                        w1 |= (uint)t[11 + j] << (3 * j + 1);
                        w2 |= (uint)t[22 + j] << (3 * j + 2);
                    }
                    w0 |= (uint)t[10] << 30;          // bits 0..1 of t10 (bit 2 falls off the word)
                    w1 |= ((uint)t[10] >> 2) & 1;     // bit 2 of t10
                    w1 |= (uint)t[21] << 31;          // bit 0 of t21
                    w2 |= ((uint)t[21] >> 1) & 3;     // bits 1..2 of t21
                    packed[(3 * g) * rows + n] = unchecked((int)w0);
                    packed[(3 * g + 1) * rows + n] = unchecked((int)w1);
                    packed[(3 * g + 2) * rows + n] = unchecked((int)w2);
                }
            }
        }
        return packed;
    }

    /// <summary>Unpacks <c>qweight</c> [K/32·bits, N] into codes [rows = N, cols = K].</summary>
    public static byte[] Unpack(ReadOnlySpan<int> qweight, int rows, int cols, int bits, string? tensorName = null)
    {
        CheckLayout(rows, cols, bits, tensorName);
        var expected = (long)PackedRows(cols, bits) * rows;
        if (qweight.Length != expected)
            throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                $"qweight has {qweight.Length} words; a {rows}x{cols} {bits}-bit matrix packs into [{PackedRows(cols, bits)}, {rows}] = {expected}"),
                tensorName);

        var codes = new byte[rows * cols];
        var groups = cols / GroupSize;
        for (var n = 0; n < rows; n++)
        {
            var row = codes.AsSpan(n * cols, cols);
            for (var g = 0; g < groups; g++)
            {
                var t = row.Slice(g * GroupSize, GroupSize);
                if (bits == 4)
                {
                    for (var u = 0; u < 4; u++)
                    {
                        var word = unchecked((uint)qweight[(4 * g + u) * rows + n]);
                        for (var j = 0; j < 8; j++)
                            t[8 * u + j] = (byte)((word >> (4 * j)) & 15);
                    }
                }
                else
                {
                    var w0 = unchecked((uint)qweight[(3 * g) * rows + n]);
                    var w1 = unchecked((uint)qweight[(3 * g + 1) * rows + n]);
                    var w2 = unchecked((uint)qweight[(3 * g + 2) * rows + n]);
                    for (var j = 0; j < 10; j++)
                    {
                        t[j] = (byte)((w0 >> (3 * j)) & 7);
                        t[11 + j] = (byte)((w1 >> (3 * j + 1)) & 7);
                        t[22 + j] = (byte)((w2 >> (3 * j + 2)) & 7);
                    }
                    t[10] = (byte)((w0 >> 30) | ((w1 & 1) << 2));
                    t[21] = (byte)((w1 >> 31) | ((w2 & 3) << 1));
                }
            }
        }
        return codes;
    }

    /// <summary>A LUT or sparse values as the checkpoint stores them (fp16, round to nearest even).</summary>
    public static Half[] ToHalf(ReadOnlySpan<float> values)
    {
        var result = new Half[values.Length];
        for (var i = 0; i < values.Length; i++)
            result[i] = (Half)values[i];
        return result;
    }

    /// <summary>fp16 values of a checkpoint back to float (exact).</summary>
    public static float[] FromHalf(ReadOnlySpan<Half> values)
    {
        var result = new float[values.Length];
        for (var i = 0; i < values.Length; i++)
            result[i] = (float)values[i];
        return result;
    }

    private static void CheckLayout(int rows, int cols, int bits, string? tensorName)
    {
        QuantizationArguments.CheckShape(rows, cols);
        if (bits is not (3 or 4))
            throw new InvalidOptionException("--bits",
                $"the SqueezeLLM checkpoint layout packs 3- or 4-bit codes; got {bits.ToString(CultureInfo.InvariantCulture)}");
        if (cols % GroupSize != 0)
            throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                $"input dimension K = {cols} is not a multiple of {GroupSize}; the packed layout stores input rows in groups of {GroupSize}"),
                tensorName);
    }
}
