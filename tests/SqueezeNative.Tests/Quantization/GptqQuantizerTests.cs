using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Quantization;
using Xunit.Abstractions;

namespace SqueezeNative.Tests.Quantization;

public class GptqQuantizerTests(ITestOutputHelper output)
{
    /// <summary>Calibration activations with strongly correlated features and uneven scales, like a linear's inputs.</summary>
    private static float[] CorrelatedActivations(Random rng, int samples, int features, int factors = 12)
    {
        var basis = QuantizationTestData.Gaussian(rng, factors * features);
        var scales = Enumerable.Range(0, features).Select(_ => Math.Exp(rng.NextGaussian())).ToArray();
        var x = new float[samples * features];
        for (var t = 0; t < samples; t++)
        {
            var z = QuantizationTestData.Gaussian(rng, factors);
            for (var k = 0; k < features; k++)
            {
                double v = 0.1 * rng.NextGaussian();
                for (var f = 0; f < factors; f++)
                    v += z[f] * basis[f * features + k];
                x[t * features + k] = (float)(v * scales[k]);
            }
        }
        return x;
    }

    /// <summary>‖(W − Q)Xᵀ‖²: the layer-output error GPTQ minimises.</summary>
    private static double OutputError(float[] w, float[] q, float[] x, int rows, int cols)
    {
        var samples = x.Length / cols;
        double error = 0;
        for (var r = 0; r < rows; r++)
            for (var t = 0; t < samples; t++)
            {
                double dot = 0;
                for (var k = 0; k < cols; k++)
                    dot += ((double)w[r * cols + k] - q[r * cols + k]) * x[t * cols + k];
                error += dot * dot;
            }
        return error;
    }

    private static HessianAccumulator Hessian(float[] x, int cols)
    {
        var h = new HessianAccumulator(cols);
        h.Add(x, x.Length / cols);
        return h;
    }

    [Fact]
    public void Upper_factor_satisfies_UtU_equals_the_inverse()
    {
        const int k = 37;
        var rng = new Random(10);
        var a = QuantizationTestData.Gaussian(rng, k * k);
        var h = new double[k * k];
        for (var i = 0; i < k; i++)
            for (var j = 0; j < k; j++)
            {
                double s = i == j ? k : 0;
                for (var t = 0; t < k; t++)
                    s += (double)a[i * k + t] * a[j * k + t];
                h[i * k + j] = s;
            }

        var u = GptqLinearAlgebra.UpperCholeskyOfInverse((double[])h.Clone(), k, null);
        for (var i = 0; i < k; i++)
        {
            Assert.True(u[i * k + i] > 0);
            for (var j = 0; j < i; j++)
                Assert.Equal(0f, u[i * k + j]);
        }
        // (UᵀU)·H = I
        for (var i = 0; i < k; i++)
            for (var j = 0; j < k; j++)
            {
                double s = 0;
                for (var m = 0; m < k; m++)
                {
                    double utu = 0;
                    for (var t = 0; t <= Math.Min(i, m); t++)
                        utu += (double)u[t * k + i] * u[t * k + m];
                    s += utu * h[m * k + j];
                }
                Assert.Equal(i == j ? 1.0 : 0.0, s, 1e-4);
            }
    }

    [Fact]
    public void Hessian_is_two_XtX_over_n_whatever_the_batching()
    {
        var rng = new Random(20);
        const int cols = 19;
        var x = QuantizationTestData.Gaussian(rng, 50 * cols);
        var batched = new HessianAccumulator(cols);
        batched.Add(x.AsSpan(0, 20 * cols), 20);
        batched.Add(x.AsSpan(20 * cols), 30);
        Assert.Equal(50, batched.Rows);
        var h = batched.ToMatrix();
        for (var i = 0; i < cols; i++)
            for (var j = 0; j < cols; j++)
            {
                double s = 0;
                for (var t = 0; t < 50; t++)
                    s += (double)x[t * cols + i] * x[t * cols + j];
                Assert.Equal(2 * s / 50, h[i * cols + j], 1e-12);
            }
    }

    [Fact]
    public void With_an_uncorrelated_Hessian_GPTQ_is_rounding_on_its_grid()
    {
        var rng = new Random(30);
        const int rows = 9, cols = 40, bits = 3;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var h = new double[cols * cols];
        for (var i = 0; i < cols; i++)
            h[i * cols + i] = 0.5 + i; // diagonal: no error can help another column
        var q = GptqQuantizer.Quantize(w, rows, cols, h, new GptqOptions { Bits = bits });
        for (var r = 0; r < rows; r++)
        {
            var row = w.AsSpan(r * cols, cols);
            float xmin = Math.Min(0f, row.ToArray().Min()), xmax = Math.Max(0f, row.ToArray().Max());
            var scale = (xmax - xmin) / 7f;
            var zero = MathF.Round(-xmin / scale);
            Assert.Equal(scale * (0 - zero), q.RowLut(r)[0]);
            Assert.Equal(0f, q.RowLut(r)[(int)zero]); // the grid holds 0 exactly
            for (var c = 0; c < cols; c++)
                Assert.Equal((byte)Math.Clamp(MathF.Round(row[c] / scale) + zero, 0, 7), q.Codes[r * cols + c]);
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void GPTQ_beats_RTN_on_the_layer_output_and_act_order_is_not_worse(int bits)
    {
        var rng = new Random(40 + bits);
        const int rows = 48, cols = 128;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var x = CorrelatedActivations(rng, 512, cols);
        var hessian = Hessian(x, cols);

        var rtn = OutputError(w, RtnQuantizer.Quantize(w, rows, cols, bits).Dequantize(), x, rows, cols);
        var gptq = OutputError(w, GptqQuantizer.Quantize(w, rows, cols, hessian, new GptqOptions { Bits = bits }).Dequantize(), x, rows, cols);
        var actOrder = OutputError(w, GptqQuantizer.Quantize(w, rows, cols, hessian, new GptqOptions { Bits = bits, ActOrder = true }).Dequantize(), x, rows, cols);

        output.WriteLine($"{bits}-bit ||(W - Q)X^T||^2: RTN {rtn:E3}, GPTQ {gptq:E3}, GPTQ act-order {actOrder:E3}");
        Assert.True(gptq < 0.6 * rtn, $"GPTQ {gptq:E3} vs RTN {rtn:E3}");
        Assert.True(actOrder < 1.25 * gptq, $"act-order {actOrder:E3} vs GPTQ {gptq:E3}");
        Assert.True(actOrder < 0.6 * rtn, $"act-order {actOrder:E3} vs RTN {rtn:E3}");
    }

    /// <summary>
    /// GPTQ as first written (OBQ order-fixed form): explicit H⁻¹, each column's error spread by
    /// H⁻¹'s row, then the column eliminated from H⁻¹ (Schur complement). Mathematically the same
    /// as the Cholesky form; shares no code with it.
    /// </summary>
    private static byte[] ObqReference(float[] w, int rows, int cols, double[] hessian, int bits, double percDamp)
    {
        var h = (double[])hessian.Clone();
        var damp = percDamp * Enumerable.Range(0, cols).Average(i => h[i * cols + i]);
        for (var i = 0; i < cols; i++)
            h[i * cols + i] += damp;
        // Gauss–Jordan inverse.
        var inv = new double[cols * cols];
        for (var i = 0; i < cols; i++)
            inv[i * cols + i] = 1;
        for (var p = 0; p < cols; p++)
        {
            var pivot = h[p * cols + p];
            for (var j = 0; j < cols; j++)
            {
                h[p * cols + j] /= pivot;
                inv[p * cols + j] /= pivot;
            }
            for (var r = 0; r < cols; r++)
            {
                if (r == p)
                    continue;
                var f = h[r * cols + p];
                for (var j = 0; j < cols; j++)
                {
                    h[r * cols + j] -= f * h[p * cols + j];
                    inv[r * cols + j] -= f * inv[p * cols + j];
                }
            }
        }

        var maxq = (1 << bits) - 1;
        var codes = new byte[rows * cols];
        for (var r = 0; r < rows; r++)
        {
            var row = w.Skip(r * cols).Take(cols).Select(v => (double)v).ToArray();
            double xmin = Math.Min(0, row.Min()), xmax = Math.Max(0, row.Max());
            var scale = (double)(((float)xmax - (float)xmin) / maxq);
            var zero = Math.Round(-xmin / scale, MidpointRounding.ToEven);
            var hinv = (double[])inv.Clone();
            for (var i = 0; i < cols; i++)
            {
                var q = Math.Clamp(Math.Round(row[i] / scale, MidpointRounding.ToEven) + zero, 0, maxq);
                codes[r * cols + i] = (byte)q;
                var error = (row[i] - scale * (q - zero)) / hinv[i * cols + i];
                for (var j = i + 1; j < cols; j++)
                    row[j] -= error * hinv[i * cols + j];
                var d = hinv[i * cols + i];
                for (var a = i + 1; a < cols; a++)
                    for (var b = i + 1; b < cols; b++)
                        hinv[a * cols + b] -= hinv[a * cols + i] * hinv[i * cols + b] / d;
            }
        }
        return codes;
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    public void Matches_the_explicit_inverse_formulation(int bits)
    {
        var rng = new Random(70 + bits);
        const int rows = 16, cols = 48;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var x = CorrelatedActivations(rng, 200, cols);
        var hessian = Hessian(x, cols).ToMatrix();
        var expected = ObqReference(w, rows, cols, hessian, bits, 0.01);
        var actual = GptqQuantizer.Quantize(w, rows, cols, hessian, new GptqOptions { Bits = bits, BlockSize = 16 }).Codes;
        // Float32 W updates against double: a code may flip where a value lands near a rounding edge.
        var same = expected.Zip(actual).Count(p => p.First == p.Second);
        Assert.True(same >= 0.99 * expected.Length, $"{same} of {expected.Length} codes agree");
    }

    [Fact]
    public void The_block_size_only_changes_rounding_order()
    {
        var rng = new Random(50);
        const int rows = 24, cols = 96;
        var w = QuantizationTestData.WeightsWithOutliers(rng, rows * cols);
        var x = CorrelatedActivations(rng, 256, cols);
        var hessian = Hessian(x, cols);
        var reference = GptqQuantizer.Quantize(w, rows, cols, hessian, new GptqOptions { Bits = 3, BlockSize = cols });
        foreach (var blockSize in new[] { 1, 7, 32 })
        {
            var q = GptqQuantizer.Quantize(w, rows, cols, hessian, new GptqOptions { Bits = 3, BlockSize = blockSize });
            Assert.Equal(reference.Lut, q.Lut);
            var same = reference.Codes.Zip(q.Codes).Count(p => p.First == p.Second);
            Assert.True(same >= 0.995 * q.Codes.Length, $"block size {blockSize}: {same} of {q.Codes.Length} codes agree");
        }
    }

    [Fact]
    public void Dead_inputs_quantize_to_zero()
    {
        var rng = new Random(60);
        const int rows = 6, cols = 32;
        var w = QuantizationTestData.Gaussian(rng, rows * cols, 0.05);
        var x = CorrelatedActivations(rng, 64, cols);
        for (var t = 0; t < 64; t++)
            x[t * cols + 5] = 0; // input 5 never fires
        var dq = GptqQuantizer.Quantize(w, rows, cols, Hessian(x, cols), new GptqOptions { Bits = 4, ActOrder = true }).Dequantize();
        for (var r = 0; r < rows; r++)
            Assert.Equal(0f, dq[r * cols + 5]);
    }

    [Fact]
    public void An_indefinite_Hessian_is_a_clear_error()
    {
        const int cols = 4;
        var h = new double[cols * cols];
        for (var i = 0; i < cols; i++)
            h[i * cols + i] = 1;
        h[1] = h[cols] = 2; // [[1, 2], [2, 1]] block: eigenvalue −1, far beyond 1 % dampening
        var error = Assert.Throws<QuantizationException>(() =>
            GptqQuantizer.Quantize(new float[2 * cols], 2, cols, h, new GptqOptions(), "layers.1.self_attn.o_proj.weight"));
        Assert.Contains("positive definite", error.Message);
        Assert.Contains("layers.1.self_attn.o_proj.weight", error.Message);
        Assert.Contains("--percdamp", error.Message);
    }

    [Theory]
    [InlineData(0, 0.01, 128, "--bits")]
    [InlineData(4, -0.1, 128, "--percdamp")]
    [InlineData(4, double.NaN, 128, "--percdamp")]
    [InlineData(4, 0.01, 0, "--blocksize")]
    public void Bad_options_name_the_option(int bits, double percDamp, int blockSize, string option)
    {
        var options = new GptqOptions { Bits = bits, PercDamp = percDamp, BlockSize = blockSize };
        var error = Assert.Throws<InvalidOptionException>(() => GptqQuantizer.Quantize(new float[4], 1, 4, new double[16], options));
        Assert.Equal(option, error.OptionName);
    }
}
