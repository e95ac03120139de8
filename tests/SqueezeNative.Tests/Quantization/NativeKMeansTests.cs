using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Pipeline;

namespace SqueezeNative.Tests.Quantization;

/// <summary>
/// The native exact k-means (sn_kmeans_rows on the CPU backend) against the managed solver it
/// ports: the same LUT and codes bit for bit, with and without Fisher weights and exclusions, at
/// 3 and 4 bits, with fp16 LUTs, and on the llama test model's first layer.
/// </summary>
public class NativeKMeansTests
{
    private static (float[] Weights, float[] Fisher, bool[] Excluded) RandomMatrix(int rows, int cols, int seed)
    {
        var random = new Random(seed);
        var weights = new float[rows * cols];
        var fisher = new float[rows * cols];
        var excluded = new bool[rows * cols];
        for (var i = 0; i < weights.Length; i++)
        {
            // Heavy-tailed values, some exact duplicates, Fisher over six orders of magnitude.
            var u = random.NextDouble() * 2 - 1;
            weights[i] = i % 17 == 3 ? weights[i - 2] : (float)(0.05 * u * u * u + 0.01 * u);
            fisher[i] = (float)Math.Pow(10, -9 + 6 * random.NextDouble());
            excluded[i] = random.Next(100) == 0;
        }
        // Row 1: no sensitivity at all (uniform fallback); row 2: few distinct values; row 3: all excluded.
        Array.Clear(fisher, cols, cols);
        for (var i = 0; i < cols; i++)
            weights[2 * cols + i] = 0.25f * (i % 3);
        Array.Fill(excluded, true, 3 * cols, cols);
        return (weights, fisher, excluded);
    }

    private static void AssertSame(LutQuantized expected, LutQuantized actual, string what)
    {
        for (var i = 0; i < expected.Lut.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected.Lut[i]) != BitConverter.SingleToInt32Bits(actual.Lut[i])
                && expected.Lut[i] != actual.Lut[i])
                Assert.Fail($"{what}: LUT entry {i} (row {i / (1 << expected.Bits)}): native {actual.Lut[i]:R}, managed {expected.Lut[i]:R}");
        }
        for (var i = 0; i < expected.Codes.Length; i++)
        {
            if (expected.Codes[i] != actual.Codes[i])
                Assert.Fail($"{what}: code {i} (row {i / expected.Cols}): native {actual.Codes[i]}, managed {expected.Codes[i]}");
        }
    }

    [Theory]
    [InlineData(3, false, false, false)]
    [InlineData(4, false, false, false)]
    [InlineData(3, true, false, false)]
    [InlineData(4, true, true, false)]
    [InlineData(3, true, true, true)]
    [InlineData(4, false, true, true)]
    public void CpuBackendMatchesTheManagedSolverBitForBit(int bits, bool withFisher, bool withExcluded, bool halfLut)
    {
        const int rows = 24, cols = 320;
        var (weights, fisher, excluded) = RandomMatrix(rows, cols, 1000 + bits);
        ReadOnlySpan<float> f = withFisher ? fisher : ReadOnlySpan<float>.Empty;
        ReadOnlySpan<bool> e = withExcluded ? excluded : ReadOnlySpan<bool>.Empty;
        var managed = WeightedKMeans1D.Quantize(weights, f, e, rows, cols, bits, KMeansMethod.Exact, seed: 0, halfLut);
        using var context = NativeContext.Create(DeviceKind.Cpu, threads: 2);
        var native = WeightedKMeans1D.QuantizeExactNative(context, weights, f, e, rows, cols, bits, halfLut);
        AssertSame(managed, native, $"{bits}-bit fisher={withFisher} excluded={withExcluded} half={halfLut}");
    }

    [Fact]
    public void CpuBackendMatchesTheManagedSolverOnTheLlamaTestModelsFirstLayer()
    {
        using var model = ModelDirectory.Open(TestPaths.Model("llama"));
        using var context = NativeContext.Create(DeviceKind.Cpu, threads: 2);
        var linears = model.Weights!.QuantizableLinears.Where(l => l.Name.StartsWith("model.layers.0.", StringComparison.Ordinal)).ToList();
        Assert.Equal(7, linears.Count);
        foreach (var linear in linears)
        {
            int rows = (int)linear.OutFeatures, cols = (int)linear.InFeatures;
            var weights = TensorValues.ToSingle(linear.Weight);
            // A Fisher-like weighting: larger for larger weights, never zero.
            var fisher = weights.Select((w, i) => w * w + 1e-6f * (i % 7 + 1)).ToArray();
            var excluded = weights.Select((_, i) => i % 211 == 0).ToArray();
            var managed = WeightedKMeans1D.Quantize(weights, fisher, excluded, rows, cols, 3, KMeansMethod.Exact, 0, halfPrecisionLut: true);
            var native = WeightedKMeans1D.QuantizeExactNative(context, weights, fisher, excluded, rows, cols, 3, halfPrecisionLut: true);
            AssertSame(managed, native, linear.Name);
        }
    }

    [Fact]
    public void MatrixQuantizerTakesAKMeansContext()
    {
        const int rows = 8, cols = 64;
        var (weights, fisher, excluded) = RandomMatrix(rows, cols, 7);
        using var context = NativeContext.Create(DeviceKind.Cpu, threads: 1);
        var managed = SqueezeLlmMatrixQuantizer.Quantize(weights, fisher, excluded, rows, cols, 4, KMeansMethod.Exact, 0, "w");
        var native = SqueezeLlmMatrixQuantizer.Quantize(weights, fisher, excluded, rows, cols, 4, KMeansMethod.Exact, 0, "w", context);
        Assert.Equal(managed.Lut, native.Lut);
        Assert.Equal(managed.Codes, native.Codes);
    }

    [Fact]
    public void CudaDeviceNeedsTheExactSqueezeLlmKMeans()
    {
        var options = new QuantizationPipelineOptions { Output = "out", KMeans = KMeansMethod.Lloyd, KMeansDevice = DeviceKind.Cuda };
        var error = Assert.Throws<InvalidOptionException>(options.Validate);
        Assert.Contains("--device", error.Message);
    }
}
