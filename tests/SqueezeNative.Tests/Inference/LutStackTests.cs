using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;
using SqueezeNative.Tests.Models;

namespace SqueezeNative.Tests.Inference;

/// <summary>
/// LUT linears on the CPU backend as the loader builds them: codes repacked, stacks of parts
/// concatenated along N into one linear, synthetic quantized models.
/// </summary>
public sealed class LutStackTests
{
    /// <summary>A small LLaMA with GQA (q 256, k and v 128 wide) whose every linear has K a multiple of 32.</summary>
    internal const string TinyConfig = """
        {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 256, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 320,
         "max_position_embeddings": 64, "tie_word_embeddings": false, "torch_dtype": "float16", "rms_norm_eps": 1e-5}
        """;

    private static float[] Random(Random rng, int count, float scale = 1f)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return values;
    }

    /// <summary>x [M, K] · Wᵀ + b in double, W dequantized on the host from the same stored bytes.</summary>
    private static double[] Reference(LutHostWeights w, float[] x, int m, float[] bias)
    {
        var sparse = w.HasSparse
            ? new SparseCsr(w.OutFeatures, w.InFeatures, MemoryMarshal.Cast<byte, int>(w.SparseRows.Span).ToArray(),
                MemoryMarshal.Cast<byte, int>(w.SparseCols.Span).ToArray(),
                LutPacking.FromHalf(MemoryMarshal.Cast<byte, Half>(w.SparseValues.Span)))
            : null;
        var dense = QuantizedLinearData.FromPacked(QuantizationMethod.SqueezeLlm, w.Bits, w.OutFeatures, w.InFeatures,
            MemoryMarshal.Cast<byte, int>(w.QWeight.Span), LutPacking.FromHalf(MemoryMarshal.Cast<byte, Half>(w.LookupTable.Span)), sparse)
            .Dequantize();
        var y = new double[m * w.OutFeatures];
        for (int r = 0; r < m; r++)
            for (int n = 0; n < w.OutFeatures; n++)
            {
                double sum = bias[n];
                for (int k = 0; k < w.InFeatures; k++) sum += (double)x[r * w.InFeatures + k] * dense[n * w.InFeatures + k];
                y[r * w.OutFeatures + n] = sum;
            }
        return y;
    }

    [Theory]
    [InlineData(3, 1)]
    [InlineData(3, 5)]
    [InlineData(4, 1)]
    [InlineData(4, 5)]
    public void StackedLinearEqualsItsPartsAndTheDequantizedProduct(int bits, int m)
    {
        const int k = 96;
        // q|k|v-like widths; the middle part has no sparse entries, the last a dense-ish 8 %.
        var parts = new[]
        {
            SyntheticLut.Generate(48, k, bits, 2.0, seed: 1),
            SyntheticLut.Generate(16, k, bits, 0, seed: 2),
            SyntheticLut.Generate(24, k, bits, 8.0, seed: 3),
        };
        Assert.False(parts[1].HasSparse);
        var rng = new Random(7);
        var biases = parts.Select(p => Random(rng, p.OutFeatures, 0.5f)).ToArray();
        var x = Random(rng, m * k);

        using var ctx = NativeContext.Create(DeviceKind.Cpu, threads: 2);
        var stackedHost = LutHostWeights.StackColumns(parts);
        Assert.Equal(88, stackedHost.OutFeatures);
        Assert.Equal(parts.Sum(p => p.NonZeros), stackedHost.NonZeros);
        using var stackedBias = ctx.FromHost<float>(NativeDType.F32, biases.SelectMany(b => b).ToArray(), 88);
        using var stacked = LutLinear.Create(ctx, stackedHost, stackedBias);
        using var xs = ctx.FromHost<float>(NativeDType.F32, x, m, k);
        using var ys = ctx.Tensor(NativeDType.F32, m, 88);
        stacked.Forward(ctx, xs, ys);
        var all = ys.ToArray();

        int offset = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            int n = parts[i].OutFeatures;
            using var b = ctx.FromHost<float>(NativeDType.F32, biases[i], n);
            using var part = LutLinear.Create(ctx, parts[i], b);
            using var y = ctx.Tensor(NativeDType.F32, m, n);
            part.Forward(ctx, xs, y);
            var alone = y.ToArray();
            var reference = Reference(parts[i], x, m, biases[i]);
            for (int r = 0; r < m; r++)
                for (int j = 0; j < n; j++)
                {
                    float inStack = all[r * 88 + offset + j];
                    Assert.Equal(alone[r * n + j], inStack, 1e-6f);
                    Assert.True(Math.Abs(inStack - reference[r * n + j]) <= 1e-4,
                        $"part {i}, row {r}, output {j}: {inStack} vs reference {reference[r * n + j]}");
                }
            offset += n;
        }
    }

    [Fact]
    public void StackingOffsetsTheSparseRowsOfLaterParts()
    {
        var a = SyntheticLut.Generate(4, 32, 4, 10.0, seed: 1);
        var b = SyntheticLut.Generate(3, 32, 4, 0, seed: 2);
        var c = SyntheticLut.Generate(2, 32, 4, 20.0, seed: 3);
        var s = LutHostWeights.StackColumns([a, b, c]);
        var rowsA = MemoryMarshal.Cast<byte, int>(a.SparseRows.Span).ToArray();
        var rowsC = MemoryMarshal.Cast<byte, int>(c.SparseRows.Span).ToArray();
        int nnzA = (int)a.NonZeros;
        int[] expected = [.. rowsA, nnzA, nnzA, nnzA, .. rowsC.Skip(1).Select(o => o + nnzA)];
        Assert.Equal(expected, MemoryMarshal.Cast<byte, int>(s.SparseRows.Span).ToArray());
        // qweight row 0 holds word 0 of every output channel, the parts side by side.
        var q = MemoryMarshal.Cast<byte, int>(s.QWeight.Span);
        Assert.Equal(MemoryMarshal.Cast<byte, int>(b.QWeight.Span)[3 + 2], q[9 + 4 + 2]);   // row 1, part b, channel 2
        Assert.Equal(MemoryMarshal.Cast<byte, int>(c.QWeight.Span)[2 * 3 + 1], q[3 * 9 + 7 + 1]);   // row 3, part c, channel 1
    }

    [Fact]
    public void SyntheticSparsePartIsSkewedAndWellFormed()
    {
        const int n = 400, k = 256;
        var w = SyntheticLut.Generate(n, k, 3, 0.45, seed: 5);
        Assert.Equal(Math.Round(n * k * 0.45 / 100), w.NonZeros);
        var rows = MemoryMarshal.Cast<byte, int>(w.SparseRows.Span);
        var cols = MemoryMarshal.Cast<byte, int>(w.SparseCols.Span);
        double mean = (double)w.NonZeros / n;
        int longest = 0;
        for (int r = 0; r < n; r++)
        {
            longest = Math.Max(longest, rows[r + 1] - rows[r]);
            for (int j = rows[r] + 1; j < rows[r + 1]; j++) Assert.True(cols[j] > cols[j - 1]);
        }
        Assert.InRange(longest, 10 * mean, 50 * mean + 1);
        Assert.All(cols.ToArray(), c => Assert.InRange(c, 0, k - 1));
        var lut = LutPacking.FromHalf(MemoryMarshal.Cast<byte, Half>(w.LookupTable.Span));
        for (int r = 0; r < n; r++)
            for (int i = 1; i < 8; i++) Assert.True(lut[r * 8 + i] >= lut[r * 8 + i - 1]);
        Assert.InRange(lut.Select(Math.Abs).Average(), 0.01, 0.03);   // |N(0, 0.02²)| averages 0.016
    }

    [Fact]
    public void CpuRepackKeepsTheCheckpointLayout()
    {
        using var ctx = NativeContext.Create(DeviceKind.Cpu, threads: 1);
        Assert.Equal([96L / 32 * 3, 40L], ctx.LutRepackedShape(3, 40, 96));
        var w = SyntheticLut.Generate(40, 96, 3, 0, seed: 9);
        using var packed = ctx.RepackLutCodes(w.QWeight.Span, 3, 40, 96);
        var back = new int[packed.ElementCount];
        packed.Download<int>(back);
        Assert.Equal(MemoryMarshal.Cast<byte, int>(w.QWeight.Span).ToArray(), back);
        var error = Assert.Throws<NativeOperationException>(() => ctx.LutRepackedShape(3, 40, 100));
        Assert.Contains("k: must be a positive multiple of 32", error.Message);
    }

    private static (ModelConfig Config, IArchitecture Arch) Tiny(TempDirectory temp)
    {
        temp.WriteText("config.json", TinyConfig);
        var config = ModelConfig.Load(temp.File("config.json"));
        return (config, ArchitectureRegistry.Resolve(config));
    }

    [Fact]
    public void StackedQuantizedModelGivesThePerPartLogitsInPrefillAndDecode()
    {
        using var temp = new TempDirectory();
        var (config, arch) = Tiny(temp);
        using var ctx = NativeContext.Create(DeviceKind.Cpu, threads: 2);
        using var source = QuantizedTensorSource.Open(SyntheticLut.CheckpointOf(arch, config, 3, 1.0, 3), QuantizationMethod.SqueezeLlm, 3);
        var typed = arch.LoadWeights(source, config);
        using var stacked = DecoderWeights.Create(typed, ctx, WeightSource.Synthetic(3));
        // Wrapping keeps one linear per part (the identity wrapper changes nothing else).
        using var perPart = DecoderWeights.Create(typed, ctx, WeightSource.Synthetic(3), (_, linear) => linear);
        Assert.IsType<LutLinear>(stacked.Layers[0].Qkv.All);
        Assert.Equal([256, 128, 128], stacked.Layers[0].Qkv.Widths);
        Assert.IsType<ColumnStackedLinear>(perPart.Layers[0].Qkv.All);

        int[] ids = [5, 17, 300, 2, 99, 41, 7];
        float[] Logits(DecoderWeights w, bool allPositions)
        {
            using var session = new InferenceSession(w, ctx, 16, 16);
            var prefill = session.Forward(ids.AsSpan(0, ids.Length - 1), allPositions).ToArray();
            var decoded = session.Forward(ids.AsSpan(ids.Length - 1), allPositions: false).ToArray();
            return [.. prefill, .. decoded];
        }
        var expected = Logits(perPart, allPositions: true);
        var actual = Logits(stacked, allPositions: true);
        Assert.Equal(expected.Length, actual.Length);
        float worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= 1e-5f * Math.Max(1, expected.Max(Math.Abs)), $"stacked and per-part logits differ by {worst}");
        Assert.True(expected.Max(Math.Abs) > 0.1f, "the logits carry signal");
    }

    [Fact]
    public void WeightBytesAreTheTensorsTheContextHolds()
    {
        using var temp = new TempDirectory();
        var (config, _) = Tiny(temp);
        using var ctx = NativeContext.Create(DeviceKind.Cpu, threads: 1);
        long quantizedBytes;
        using (var model = DecoderModel.SyntheticQuantized(config, ctx, bits: 4, sparsityPercent: 0.45))
        {
            quantizedBytes = model.Weights.WeightBytes;
            // The checkpoint-layout copies of the codes were freed after repacking: what is left is the model.
            Assert.Equal(ctx.Memory().AllocatedBytes, quantizedBytes);
            // Per layer: 4-bit codes of q,k,v,o (256×256, 2× 128×256, 256×256), gate/up (2× 512×256), down (256×512).
            long weights = 256 * 256 * 2 + 128 * 256 * 2 + 512 * 256 * 2 + 256 * 512;
            long codesPerLayer = weights / 2;
            long lutPerLayer = (512 + 256 + 1024 + 256) * 16 * 2;
            long dense = 2 * 320 * 256 * 2 + 256 * 2 + 2 * 2 * 256 * 2;   // embed, head, final norm, 2 norms per layer
            long sparse = quantizedBytes - 2 * (codesPerLayer + lutPerLayer) - dense;
            long nnzPerLayer = (long)Math.Round(256 * 256 * 0.0045) * 2 + (long)Math.Round(128 * 256 * 0.0045) * 2
                + (long)Math.Round(512 * 256 * 0.0045) * 2 + (long)Math.Round(256 * 512 * 0.0045);
            // One CSR per product: q|k|v, o, gate|up, down.
            long rowPointers = (512 + 1 + 256 + 1 + 1024 + 1 + 256 + 1) * 4;
            Assert.Equal(2 * (nnzPerLayer * 6 + rowPointers), sparse);
        }
        Assert.Equal(0, ctx.Memory().AllocatedBytes);
    }
}
