using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Quantization;

namespace SqueezeNative.Tests.Quantization;

public class LutPackingTests
{
    /// <summary>One output channel (N = 1) of 32 inputs: codes [1, 32] pack into bits words of column 0.</summary>
    private static int[] PackColumn(byte[] codes, int bits) => LutPacking.Pack(codes, 1, 32, bits);

    [Fact]
    public void Four_bit_hand_example()
    {
        // Input rows 0..7 hold 1..8 (row j at bits 4j): 0x87654321; rows 8..15 hold 15 at row 8
        // and 10 at row 15: 0xA000000F; the other two words are 0.
        var codes = new byte[32];
        for (var j = 0; j < 8; j++)
            codes[j] = (byte)(j + 1);
        codes[8] = 15;
        codes[15] = 10;
        Assert.Equal([unchecked((int)0x87654321), unchecked((int)0xA000000F), 0, 0], PackColumn(codes, 4));
    }

    [Fact]
    public void Three_bit_hand_example_with_the_straddling_rows()
    {
        var codes = new byte[32];
        codes[0] = 1;   // word 0, bit 0
        codes[10] = 5;  // 0b101: bits 0..1 (=01) at word 0 bits 30..31, bit 2 (=1) at word 1 bit 0
        codes[11] = 1;  // word 1, bit 1
        codes[21] = 6;  // 0b110: bit 0 (=0) at word 1 bit 31, bits 1..2 (=11) at word 2 bits 0..1
        codes[22] = 1;  // word 2, bit 2
        codes[31] = 7;  // word 2, bits 29..31
        Assert.Equal([0x4000_0001, 0x0000_0003, unchecked((int)0xE000_0007)], PackColumn(codes, 3));

        codes[21] = 1;  // bit 0 of row 21 is word 1's top bit
        Assert.Equal([0x4000_0001, unchecked((int)0x8000_0003), unchecked((int)0xE000_0004)], PackColumn(codes, 3));

        Assert.Equal([-1, -1, -1], PackColumn(Enumerable.Repeat((byte)7, 32).ToArray(), 3));
    }

    [Fact]
    public void Columns_are_output_channels_and_rows_run_along_the_input()
    {
        // N = 3 channels, K = 64 inputs, 4 bits: qweight is [64/32·4 = 8, 3]; channel n's input
        // row k sits in word k/8 of column n.
        const int n = 3, k = 64;
        var codes = new byte[n * k];
        codes[1 * k + 63] = 9; // channel 1, input 63: word 7, bits 28..31
        codes[2 * k + 8] = 4;  // channel 2, input 8: word 1, bits 0..3
        var packed = LutPacking.Pack(codes, n, k, 4);
        Assert.Equal(8 * 3, packed.Length);
        Assert.Equal(unchecked((int)0x9000_0000), packed[7 * n + 1]);
        Assert.Equal(4, packed[1 * n + 2]);
        Assert.Equal(2, packed.Count(word => word != 0));
    }

    /// <summary>
    /// An independent statement of both layouts: per channel and group of 32 inputs, the codes are
    /// a little-endian bit stream (input t at bits t·b .. t·b + b − 1 of the group's b words).
    /// </summary>
    private static int[] BitStreamReference(byte[] codes, int rows, int cols, int bits)
    {
        var words = cols / 32 * bits;
        var result = new uint[words * rows];
        for (var n = 0; n < rows; n++)
            for (var k = 0; k < cols; k++)
                for (var b = 0; b < bits; b++)
                {
                    if ((codes[n * cols + k] >> b & 1) == 0)
                        continue;
                    var stream = (k / 32) * 32 * bits + (k % 32) * bits + b;
                    result[(stream / 32) * rows + n] |= 1u << (stream % 32);
                }
        return result.Select(w => unchecked((int)w)).ToArray();
    }

    [Theory]
    [InlineData(3, 1, 1)]
    [InlineData(3, 7, 2)]
    [InlineData(3, 33, 5)]
    [InlineData(3, 5, 4)]
    [InlineData(4, 1, 1)]
    [InlineData(4, 7, 2)]
    [InlineData(4, 33, 5)]
    [InlineData(4, 5, 4)]
    public void Pack_matches_the_bit_stream_and_unpack_inverts_it(int bits, int rows, int groups)
    {
        var cols = 32 * groups;
        var rng = new Random(bits * 1000 + rows * 10 + groups);
        var codes = new byte[rows * cols];
        for (var i = 0; i < codes.Length; i++)
            codes[i] = (byte)rng.Next(1 << bits);

        var packed = LutPacking.Pack(codes, rows, cols, bits);
        Assert.Equal(LutPacking.PackedRows(cols, bits) * rows, packed.Length);
        Assert.Equal(BitStreamReference(codes, rows, cols, bits), packed);
        Assert.Equal(codes, LutPacking.Unpack(packed, rows, cols, bits));
    }

    [Fact]
    public void Input_dimension_not_a_multiple_of_32_names_the_tensor()
    {
        var error = Assert.Throws<QuantizationException>(() => LutPacking.Pack(new byte[2 * 48], 2, 48, 4, "layers.0.mlp.down_proj.weight"));
        Assert.Contains("layers.0.mlp.down_proj.weight", error.Message);
        Assert.Contains("multiple of 32", error.Message);
    }

    [Fact]
    public void Bad_inputs_are_refused()
    {
        Assert.Equal("--bits", Assert.Throws<InvalidOptionException>(() => LutPacking.Pack(new byte[32], 1, 32, 2)).OptionName);
        var tooWide = new byte[32];
        tooWide[17] = 8;
        Assert.Contains("does not fit in 3 bits", Assert.Throws<QuantizationException>(() => LutPacking.Pack(tooWide, 1, 32, 3, "w")).Message);
        Assert.Contains("qweight has 5 words", Assert.Throws<QuantizationException>(() => LutPacking.Unpack(new int[5], 2, 32, 3, "w")).Message);
    }

    [Fact]
    public void Lookup_tables_round_trip_through_fp16()
    {
        float[] lut = [-0.0123f, 0f, 0.5f, 65504f];
        var half = LutPacking.ToHalf(lut);
        Assert.Equal((Half)(-0.0123f), half[0]);
        Assert.Equal(lut.Select(LutMath.RoundToHalf).ToArray(), LutPacking.FromHalf(half));
    }
}
