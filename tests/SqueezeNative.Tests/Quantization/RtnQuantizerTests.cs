using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Quantization;

namespace SqueezeNative.Tests.Quantization;

public class RtnQuantizerTests
{
    [Fact]
    public void Levels_run_from_min_to_max_and_codes_round_to_nearest()
    {
        float[] w =
        [
            0f, 1f, 2f, 3f, 1.5f, 2.6f,          // 2 bits: levels 0, 1, 2, 3
            -1f, 0.2f, -0.1f, 1f, 0f, -0.3f,     // 1 bit: levels −1, 1 (0 is the midpoint → lower)
            0.7f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f,  // constant row
        ];
        var twoBit = RtnQuantizer.Quantize(w, 3, 6, 2);
        Assert.Equal([0f, 1f, 2f, 3f], twoBit.RowLut(0).ToArray());
        Assert.Equal([0, 1, 2, 3, 1, 3], twoBit.Codes.AsSpan(0, 6).ToArray());
        Assert.Equal([0.7f, 0.7f, 0.7f, 0.7f], twoBit.RowLut(2).ToArray());
        Assert.Equal(Enumerable.Repeat(0.7f, 6), twoBit.Dequantize().Skip(12));

        var oneBit = RtnQuantizer.Quantize(w, 3, 6, 1);
        Assert.Equal([-1f, 1f], oneBit.RowLut(1).ToArray());
        Assert.Equal([0, 1, 0, 1, 0, 0], oneBit.Codes.AsSpan(6, 6).ToArray());
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void Error_is_at_most_half_a_step(int bits)
    {
        var rng = new Random(bits);
        const int rows = 17, cols = 96;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var q = RtnQuantizer.Quantize(w, rows, cols, bits);
        var dq = q.Dequantize();
        for (var r = 0; r < rows; r++)
        {
            var lut = q.RowLut(r);
            Assert.Equal(w.Skip(r * cols).Take(cols).Min(), lut[0]);
            Assert.Equal(w.Skip(r * cols).Take(cols).Max(), lut[^1]);
            var step = ((double)lut[^1] - lut[0]) / ((1 << bits) - 1);
            for (var c = 0; c < cols; c++)
                Assert.True(Math.Abs((double)w[r * cols + c] - dq[r * cols + c]) <= step / 2 * (1 + 1e-6));
        }
    }

    [Fact]
    public void Bad_bits_name_the_option()
        => Assert.Equal("--bits", Assert.Throws<InvalidOptionException>(() => RtnQuantizer.Quantize(new float[4], 1, 4, 0)).OptionName);
}
