using SqueezeNative.Runtime.Quantization;

namespace SqueezeNative.Tests.Quantization;

public class QuantizedLinearDataTests
{
    [Fact]
    public void Dequantize_is_the_LUT_plus_the_sparse_part()
    {
        // 2 channels x 32 inputs, 3 bits.
        var lut = new float[2 * 8];
        for (var i = 0; i < 16; i++)
            lut[i] = (i - 4) * 0.25f;
        var codes = new byte[64];
        for (var i = 0; i < 64; i++)
            codes[i] = (byte)(i % 8);
        var sparse = new SparseCsr(2, 32, [0, 1, 3], [7, 0, 31], [1.5f, -2f, 0.125f]);
        var data = new QuantizedLinearData(QuantizationMethod.SqueezeLlm, 3, 2, 32, lut, codes, sparse);

        var dq = data.Dequantize();
        Assert.Equal(lut[0 + 3], dq[3]);              // dense only
        Assert.Equal(lut[0 + 7] + 1.5f, dq[7]);       // row 0, col 7
        Assert.Equal(lut[8 + 0] - 2f, dq[32 + 0]);    // row 1, col 0
        Assert.Equal(lut[8 + 7] + 0.125f, dq[32 + 31]);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void The_packed_form_round_trips(int bits)
    {
        var rng = new Random(bits);
        const int rows = 11, cols = 64;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var data = QuantizedLinearData.From(QuantizationMethod.Rtn, RtnQuantizer.Quantize(w, rows, cols, bits));
        var packed = data.PackWeight("w");
        Assert.Equal(cols / 32 * bits * rows, packed.Length);
        var back = QuantizedLinearData.FromPacked(QuantizationMethod.Rtn, bits, rows, cols, packed, data.Lut, null, "w");
        Assert.Equal(data.Codes, back.Codes);
        Assert.Equal(data.Dequantize(), back.Dequantize());
    }

    [Fact]
    public void Inconsistent_parts_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new QuantizedLinearData(QuantizationMethod.Rtn, 2, 1, 4, new float[4], [0, 1, 4, 2]));
        Assert.Throws<ArgumentException>(() => new QuantizedLinearData(QuantizationMethod.Rtn, 2, 1, 4, new float[3], new byte[4]));
        Assert.Throws<ArgumentException>(() => new QuantizedLinearData(QuantizationMethod.Rtn, 2, 1, 4, new float[4], new byte[4], SparseCsr.Empty(2, 4)));
        Assert.Throws<ArgumentException>(() => new SparseCsr(1, 4, [0, 2], [3, 1], [1f, 2f]));
        Assert.Throws<ArgumentException>(() => new SparseCsr(1, 4, [0, 1], [4], [1f]));
    }
}
