using System.Globalization;
using System.Text.RegularExpressions;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;
using SqueezeNative.Runtime.Quantization.Pipeline;
using SqueezeNative.Tests.Cli;
using Quantizer = SqueezeNative.Runtime.Quantization.Pipeline.QuantizationPipeline;

namespace SqueezeNative.Tests.QuantizationPipeline;

/// <summary>Quantized models running on the CPU backend: LUT linears (sn_lut_matmul), GPTQ's calibration passes, eval and generate.</summary>
[Collection("QuantizationPipeline")]
public sealed class QuantizedModelTests(TinyModel tiny)
{
    private const string Prompt = "The quick brown fox jumps over the lazy dog because";

    private QuantizationPipelineOptions Options(string output, QuantizationMethod method) => new()
    {
        Output = output,
        Method = method,
        WBits = method == QuantizationMethod.SqueezeLlm ? 3 : 4,
        SparsityPercent = method == QuantizationMethod.SqueezeLlm ? 0.45 : 0,
        SensitivePercent = 0,
        SharedRoot = TestPaths.Shared,
        NSamples = 8,
        SeqLen = 128,
    };

    /// <summary>Last-position logits of <paramref name="ids"/> from a fresh session.</summary>
    private static float[] LastLogits(DecoderWeights weights, NativeContext context, int[] ids)
    {
        using var session = new InferenceSession(weights, context, 64, 64);
        return session.Forward(ids, allPositions: false).ToArray();
    }

    private static float MaxAbsDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    [Theory]
    [InlineData(QuantizationMethod.SqueezeLlm)]
    [InlineData(QuantizationMethod.Rtn)]
    [InlineData(QuantizationMethod.Gptq)]
    public void CheckpointReadBackGivesTheLogitsOfTheQuantizedModelInMemory(QuantizationMethod method)
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        var inMemory = new Dictionary<string, QuantizedLinearData>(StringComparer.Ordinal);
        new Quantizer().Run(tiny.Path, Options(output, method), new QuantizationCallbacks { MatrixQuantized = (l, d) => inMemory.Add(l.Name, d) });
        Assert.Equal(7 * TinyModel.Layers, inMemory.Count);

        using var original = ModelDirectory.Open(tiny.Path);
        using var lm = LanguageModel.Load(output);
        var ids = lm.EncodePrompt(Prompt);

        using var context = NativeContext.Create(DeviceKind.Cpu);
        float[] expected, fp16;
        using (var source = QuantizedTensorSource.InMemory(original.Checkpoint!, inMemory))
        using (var weights = DecoderWeights.Create(original.Architecture.LoadWeights(source, original.Config), context, WeightSource.Checkpoint))
        {
            Assert.IsType<LutLinear>(weights.Layers[0].Down);
            expected = LastLogits(weights, context, ids);
        }
        using (var weights = DecoderWeights.Create(original.Weights!, context, WeightSource.Checkpoint))
            fp16 = LastLogits(weights, context, ids);

        var readBack = LastLogits(lm.Decoder.Weights, lm.Context, ids);
        Assert.True(MaxAbsDifference(expected, readBack) <= 1e-6f, $"read back differs by {MaxAbsDifference(expected, readBack)}");
        // And quantization did change the model (by a bounded amount).
        var change = MaxAbsDifference(fp16, readBack);
        Assert.InRange(change, 1e-3f, 0.5f * fp16.Max(Math.Abs));
    }

    [Fact]
    public void DecodeStepThroughTheStackedLutProductMatchesPrefill()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        new Quantizer().Run(tiny.Path, Options(output, QuantizationMethod.SqueezeLlm));
        using var lm = LanguageModel.Load(output);
        Assert.IsType<LutLinear>(lm.Decoder.Weights.Layers[0].Qkv.All);
        Assert.False(lm.Decoder.Weights.Layers[0].Qkv.HasParts);
        var ids = lm.EncodePrompt(Prompt);

        var prefill = LastLogits(lm.Decoder.Weights, lm.Context, ids);
        using var session = lm.CreateSession(64);
        session.Forward(ids.AsSpan(0, ids.Length - 1), allPositions: false);
        var decoded = session.Forward(ids.AsSpan(ids.Length - 1), allPositions: false).ToArray();
        Assert.True(MaxAbsDifference(prefill, decoded) <= 1e-4f, $"decode step differs from prefill by {MaxAbsDifference(prefill, decoded)}");
    }

    [Fact]
    public void GptqRunKilledAndResumedGivesTheSameBytes()
    {
        var root = tiny.NewOutputRoot();
        var whole = Path.Combine(root, "whole");
        new Quantizer().Run(tiny.Path, Options(whole, QuantizationMethod.Gptq));

        var resumed = Path.Combine(root, "resumed");
        using (var cancel = new CancellationTokenSource())
        {
            var stop = new QuantizationCallbacks { Progress = p => { if (p.Stage == QuantizationStage.Layers && p.Done == 2) cancel.Cancel(); } };
            Assert.ThrowsAny<OperationCanceledException>(() => new Quantizer().Run(tiny.Path, Options(resumed, QuantizationMethod.Gptq), stop, cancel.Token));
        }
        var result = new Quantizer().Run(tiny.Path, Options(resumed, QuantizationMethod.Gptq));
        Assert.Equal(2, result.ResumedLayers);
        foreach (var file in Directory.GetFiles(whole))
            Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(resumed, Path.GetFileName(file)))),
                $"{Path.GetFileName(file)} differs");
    }

    [Fact]
    public void QuantizeCommandWritesAFolderThatGenerateRuns()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        var (code, stdout, stderr) = InspectCommandTests.Squeeze("quantize", tiny.Path, "--out", output, "--wbits", "3",
            "--sparsity", "0.45", "--nsamples", "4", "--seqlen", "32");
        Assert.True(code == 0, stderr);
        Assert.Contains($"wrote {output}: squeezellm 3-bit, {7 * TinyModel.Layers} matrices", stdout);
        Assert.Matches(@"stages: calibration [\d.]+ s, sensitivity [\d.]+ s, outlier range [\d.]+ s, layers [\d.]+ s, finalize [\d.]+ s", stdout);

        (code, stdout, stderr) = InspectCommandTests.Squeeze("generate", output, "--prompt", "Hello", "--max-tokens", "4", "--ignore-eos");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("Hello", stdout);
    }

    [Fact]
    public void QuantizeCommandNamesTheBadOption()
    {
        var (code, _, stderr) = InspectCommandTests.Squeeze("quantize", tiny.Path, "--out", Path.Combine(tiny.NewOutputRoot(), "q"), "--wbits", "5");
        Assert.Equal(1, code);
        Assert.Contains("error: --wbits:", stderr);
    }

    /// <summary>
    /// RTN at 4 bits on the shared llama, scored by `squeeze eval` like any model: worse than fp16
    /// (quantization loses information) but within 3× of it.
    /// </summary>
    [Fact]
    public void RtnFourBitLlamaPerplexityIsAboveFp16AndWithinThreeTimesIt()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "llama-rtn4");
        var llama = TestPaths.Model("llama");
        new Quantizer().Run(llama, Options(output, QuantizationMethod.Rtn));

        double Perplexity(string model)
        {
            var (code, stdout, stderr) = InspectCommandTests.Squeeze("eval", model, "--dataset", "wikitext2", "--limit", "2");
            Assert.True(code == 0, stderr);
            var match = Regex.Match(stdout, @"wikitext2 ppl ([\d.]+)");
            Assert.True(match.Success, stdout);
            return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        }

        var fp16 = Perplexity(llama);
        var rtn = Perplexity(output);
        Assert.True(double.IsFinite(rtn));
        Assert.True(rtn > fp16, $"RTN w4 ppl {rtn} is not above fp16 {fp16}");
        Assert.True(rtn < 3 * fp16, $"RTN w4 ppl {rtn} is more than 3x fp16 {fp16}");
    }
}
