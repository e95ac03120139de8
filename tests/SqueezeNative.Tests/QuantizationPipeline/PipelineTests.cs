using System.Text.Json;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Quantization;
using SqueezeNative.Runtime.Quantization.Checkpoint;
using SqueezeNative.Runtime.Quantization.Pipeline;
using Quantizer = SqueezeNative.Runtime.Quantization.Pipeline.QuantizationPipeline;

namespace SqueezeNative.Tests.QuantizationPipeline;

/// <summary>
/// The pipeline on the tiny model with methods that need no native code (SqueezeLLM with uniform
/// sensitivity, RTN): the folder it writes, resuming, and every way its input can be wrong.
/// </summary>
[Collection("QuantizationPipeline")]
public sealed class PipelineTests(TinyModel tiny)
{
    private static string Calib => Path.Combine(TestPaths.Shared, "data", "calib", "calib.txt");

    private QuantizationPipelineOptions Options(string output) => new()
    {
        Output = output,
        SharedRoot = TestPaths.Shared,
        NSamples = 8,
        SeqLen = 128,
    };

    /// <summary>The paper's dense-and-sparse setting, minus the sensitive share (no Fisher pass here).</summary>
    private QuantizationPipelineOptions Sparse(string output) => Options(output) with { WBits = 3, SparsityPercent = 0.45, SensitivePercent = 0 };

    private static QuantizationResult Run(string model, QuantizationPipelineOptions options, QuantizationCallbacks? callbacks = null,
        CancellationToken token = default) => new Quantizer().Run(model, options, callbacks, token);

    /// <summary>Runs until <paramref name="layers"/> layers are written, then cancels, as a killed run would stop.</summary>
    private void RunAndStopAfter(QuantizationPipelineOptions options, int layers)
    {
        using var cancel = new CancellationTokenSource();
        var callbacks = new QuantizationCallbacks
        {
            Progress = p => { if (p.Stage == QuantizationStage.Layers && p.Done == layers) cancel.Cancel(); },
        };
        Assert.ThrowsAny<OperationCanceledException>(() => Run(tiny.Path, options, callbacks, cancel.Token));
    }

    private static Dictionary<string, byte[]> Files(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), File.ReadAllBytes);

    [Fact]
    public void WritesAShardedCheckpointWithQuantConfigThatLoadsAsTheOriginalArchitecture()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        var result = Run(tiny.Path, Sparse(output));

        Assert.Equal(output, result.OutputPath);
        Assert.False(Directory.Exists(output + QuantizedCheckpointWriter.PartialSuffix));
        foreach (var name in new[] { "config.json", "tokenizer.json", "tokenizer_config.json", "quant_config.json", "model.safetensors.index.json" })
            Assert.True(File.Exists(Path.Combine(output, name)), name);
        Assert.Equal(TinyModel.Layers + 1, Directory.GetFiles(output, "model-*-of-00005.safetensors").Length);
        Assert.False(File.Exists(Path.Combine(output, QuantizedCheckpointWriter.ProgressFileName)));

        using var original = ModelDirectory.Open(tiny.Path);
        using var quantized = ModelDirectory.Open(output);
        Assert.True(quantized.IsQuantized);
        Assert.Empty(quantized.UnusedTensorNames);
        Assert.Equal(original.ParameterCount, quantized.ParameterCount);
        var linears = quantized.Weights!.QuantizableLinears;
        Assert.Equal(7 * TinyModel.Layers, linears.Count);
        Assert.All(linears, l => Assert.Equal(3, l.Weight.Quantized!.Bits));
        // Tensors that are not quantized are the original bytes.
        foreach (var name in new[] { "model.embed_tokens.weight", "model.norm.weight", "model.layers.2.input_layernorm.weight" })
        {
            Assert.True(original.Checkpoint!.TryGetTensor(name, out var a));
            Assert.True(quantized.Checkpoint!.TryGetTensor(name, out var b));
            Assert.Equal(a.Data.ToArray(), b.Data.ToArray());
        }

        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "quant_config.json")));
        var root = config.RootElement;
        Assert.Equal("squeezellm", root.GetProperty("method").GetString());
        Assert.Equal(3, root.GetProperty("wbits").GetInt32());
        Assert.Equal(0.45, root.GetProperty("sparsity_percent").GetDouble());
        Assert.Equal("exact", root.GetProperty("kmeans").GetString());
        Assert.Equal("uniform", root.GetProperty("sensitivity").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("calibration").ValueKind);
        var matrices = root.GetProperty("matrices").EnumerateArray().ToList();
        Assert.Equal(linears.Count, matrices.Count);
        // ⌊0.45 % of all quantized weights⌋ go to the sparse parts (ties at the threshold may add a few).
        long total = linears.Sum(l => l.OutFeatures * l.InFeatures);
        long nnz = matrices.Sum(m => m.GetProperty("nnz").GetInt64());
        Assert.InRange(nnz, (long)(total * 0.0045), (long)(total * 0.0045) + 8);
        Assert.Equal(nnz, root.GetProperty("total_nnz").GetInt64());
        Assert.Equal(nnz, linears.Sum(l => ((QuantizedLinearRef)l.Weight.Quantized!).NonZeros));
        // 3-bit codes + an 8-entry fp16 LUT per row + the sparse part.
        Assert.InRange(root.GetProperty("average_bits_per_weight").GetDouble(), 3.0 + 128.0 / 128, 3.0 + 128.0 / 64 + 1);
        Assert.Equal(Quantizer.Version, root.GetProperty("squeezenative_version").GetString());
    }

    [Fact]
    public void KilledRunResumedGivesTheSameBytesAsAnUninterruptedRun()
    {
        var root = tiny.NewOutputRoot();
        var whole = Path.Combine(root, "whole");
        Run(tiny.Path, Sparse(whole));

        var resumedOut = Path.Combine(root, "resumed");
        RunAndStopAfter(Sparse(resumedOut), layers: 2);
        var partial = resumedOut + QuantizedCheckpointWriter.PartialSuffix;
        Assert.False(Directory.Exists(resumedOut));
        Assert.True(File.Exists(Path.Combine(partial, "layers", "layer-001.safetensors")));
        Assert.False(File.Exists(Path.Combine(partial, "layers", "layer-002.safetensors")));

        var quantizedAgain = new List<string>();
        var result = Run(tiny.Path, Sparse(resumedOut), new QuantizationCallbacks { MatrixQuantized = (l, _) => quantizedAgain.Add(l.Name) });
        Assert.Equal(2, result.ResumedLayers);
        Assert.All(quantizedAgain, name => Assert.DoesNotContain("layers.0.", name));
        Assert.Equal(7 * (TinyModel.Layers - 2), quantizedAgain.Count);

        var expected = Files(whole);
        var actual = Files(resumedOut);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, bytes) in expected)
            Assert.True(bytes.AsSpan().SequenceEqual(actual[name]), $"{name} differs");
    }

    [Fact]
    public void ForceReplacesAnExistingOutputOnlyOnceTheNewOneIsComplete()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        Run(tiny.Path, Options(output) with { Method = QuantizationMethod.Rtn, WBits = 4 });

        var e = Assert.Throws<InvalidOptionException>(() => Run(tiny.Path, Options(output) with { Method = QuantizationMethod.Rtn, WBits = 3 }));
        Assert.Equal("--out", e.OptionName);
        Assert.Contains("--force", e.Message);

        // Killed while forced: the old folder is untouched.
        RunAndStopAfter(Options(output) with { Method = QuantizationMethod.Rtn, WBits = 3, Force = true }, layers: 1);
        Assert.Contains("\"wbits\": 4", File.ReadAllText(Path.Combine(output, "quant_config.json")));

        Run(tiny.Path, Options(output) with { Method = QuantizationMethod.Rtn, WBits = 3, Force = true });
        Assert.Contains("\"wbits\": 3", File.ReadAllText(Path.Combine(output, "quant_config.json")));
        Assert.Single(Directory.GetDirectories(Path.GetDirectoryName(output)!));
    }

    [Fact]
    public void OutputHoldingADifferentRunIsRefusedNamingOut()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        RunAndStopAfter(Options(output) with { Method = QuantizationMethod.Rtn, WBits = 4 }, layers: 1);

        var e = Assert.Throws<InvalidOptionException>(() => Run(tiny.Path, Options(output) with { Method = QuantizationMethod.Rtn, WBits = 3 }));
        Assert.Equal("--out", e.OptionName);
        Assert.Contains("different settings", e.Message);
        Assert.Contains("wbits: 4 then, 3 now", e.Message);
    }

    [Fact]
    public void ResumingWithTheFisherPassOnAnotherDeviceIsRefused()
    {
        // The CUDA Fisher pass agrees with the CPU's only to rounding (TF32 products): layers of the
        // two must not end up in one checkpoint. The settings are compared before any device is used.
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        var options = Options(output) with { WBits = 3, SparsityPercent = 0.45, NSamples = 2, SeqLen = 32 };
        var cpuFisher = new Quantizer(new SqueezeNative.Runtime.Quantization.Sensitivity.FisherSensitivity(
            new SqueezeNative.Runtime.Quantization.Sensitivity.FisherOptions { Device = SqueezeNative.Runtime.Native.DeviceKind.Cpu }));
        using (var cancel = new CancellationTokenSource())
        {
            var callbacks = new QuantizationCallbacks
            {
                Progress = p => { if (p.Stage == QuantizationStage.Layers && p.Done == 1) cancel.Cancel(); },
            };
            Assert.ThrowsAny<OperationCanceledException>(() => cpuFisher.Run(tiny.Path, options, callbacks, cancel.Token));
        }
        var progress = File.ReadAllText(Path.Combine(output + QuantizedCheckpointWriter.PartialSuffix, QuantizedCheckpointWriter.ProgressFileName));
        Assert.Contains("\"sensitivity_device\": \"cpu\"", progress);
        Assert.Contains("\"kmeans_device\": \"cpu\"", progress);

        var cudaFisher = new Quantizer(new SqueezeNative.Runtime.Quantization.Sensitivity.FisherSensitivity(
            new SqueezeNative.Runtime.Quantization.Sensitivity.FisherOptions { Device = SqueezeNative.Runtime.Native.DeviceKind.Cuda }));
        var e = Assert.Throws<InvalidOptionException>(() => cudaFisher.Run(tiny.Path, options));
        Assert.Equal("--out", e.OptionName);
        Assert.Contains("sensitivity_device: cpu then, cuda now", e.Message);
    }

    [Fact]
    public void ANonFiniteWeightStopsTheOutlierSearchNamingItsTensor()
    {
        // The matrices' outlier profiles are built in parallel: the error must still be the
        // tensor's own (not an AggregateException), and that of the first bad matrix.
        var root = tiny.NewOutputRoot();
        var model = Path.Combine(root, "bad-model");
        TinyModel.Write(model, (name, values) =>
        {
            if (name is "model.layers.1.self_attn.k_proj.weight" or "model.layers.3.mlp.down_proj.weight") values[5] = float.PositiveInfinity;
        });
        var e = Assert.Throws<QuantizationException>(() => Run(model, Sparse(Path.Combine(root, "q"))));
        Assert.Equal("model.layers.1.self_attn.k_proj.weight", e.TensorName);
        Assert.Contains("weight at flat index 5 is", e.Message);
        Assert.Contains("only finite values can be quantized", e.Message);
    }

    [Fact]
    public void OutputFolderThatCannotBeCreatedIsAClearError()
    {
        var root = tiny.NewOutputRoot();
        var file = Path.Combine(root, "a-file");
        File.WriteAllText(file, "not a folder");
        var e = Assert.Throws<InvalidOptionException>(() => Run(tiny.Path, Options(Path.Combine(file, "q")) with { Method = QuantizationMethod.Rtn }));
        Assert.Equal("--out", e.OptionName);
        Assert.Contains("cannot create", e.Message);
    }

    [Fact]
    public void OutputInsideTheModelFolderIsRefused()
    {
        var e = Assert.Throws<InvalidOptionException>(() => Run(tiny.Path, Options(Path.Combine(tiny.Path, "q")) with { Method = QuantizationMethod.Rtn }));
        Assert.Equal("--out", e.OptionName);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(8)]
    public void UnsupportedBitsAreRefusedNamingWbits(int bits)
    {
        var e = Assert.Throws<InvalidOptionException>(() => Run(tiny.Path, Options(Path.Combine(tiny.NewOutputRoot(), "q")) with { WBits = bits }));
        Assert.Equal("--wbits", e.OptionName);
    }

    [Theory]
    [InlineData(100.0)]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    public void SparsityOutOfRangeIsRefused(double sparsity)
    {
        var e = Assert.Throws<InvalidOptionException>(() =>
            Run(tiny.Path, Options(Path.Combine(tiny.NewOutputRoot(), "q")) with { SparsityPercent = sparsity, SensitivePercent = 0 }));
        Assert.Equal("--sparsity", e.OptionName);
    }

    [Fact]
    public void SensitiveShareAboveTheSparsityIsRefused()
    {
        var e = Assert.Throws<InvalidOptionException>(() =>
            Run(tiny.Path, Options(Path.Combine(tiny.NewOutputRoot(), "q")) with { SparsityPercent = 0.05, SensitivePercent = 0.1 }));
        Assert.Equal("--sensitive", e.OptionName);
    }

    [Fact]
    public void SensitiveValuesWithoutASensitivitySourceAreRefused()
    {
        var e = Assert.Throws<InvalidOptionException>(() =>
            Run(tiny.Path, Options(Path.Combine(tiny.NewOutputRoot(), "q")) with { SparsityPercent = 0.45, SensitivePercent = 0.05 }));
        Assert.Equal("--sensitive", e.OptionName);
        Assert.Contains("--sensitive 0", e.Message);
    }

    [Fact]
    public void SparsityWithABaselineMethodIsRefused()
    {
        var e = Assert.Throws<InvalidOptionException>(() =>
            Run(tiny.Path, Options(Path.Combine(tiny.NewOutputRoot(), "q")) with { Method = QuantizationMethod.Rtn, SparsityPercent = 0.45, SensitivePercent = 0 }));
        Assert.Equal("--sparsity", e.OptionName);
    }

    [Fact]
    public void CalibrationTextTooShortIsRefusedBeforeAnythingIsWritten()
    {
        var root = tiny.NewOutputRoot();
        var calib = Path.Combine(root, "short.txt");
        File.WriteAllText(calib, "Only a few words of calibration text.");
        var output = Path.Combine(root, "q");
        var e = Assert.Throws<InvalidOptionException>(() =>
            Run(tiny.Path, Options(output) with { Method = QuantizationMethod.Gptq, CalibrationFile = calib }));
        Assert.Equal("--calib", e.OptionName);
        Assert.Contains("--seqlen", e.Message);
        Assert.False(Directory.Exists(output + QuantizedCheckpointWriter.PartialSuffix));
    }

    [Fact]
    public void CalibrationFromAFileAndADatasetAtOnceIsRefused()
    {
        var e = Assert.Throws<InvalidOptionException>(() => Run(tiny.Path, Options(Path.Combine(tiny.NewOutputRoot(), "q")) with
        {
            Method = QuantizationMethod.Gptq, CalibrationFile = Calib, CalibrationDataset = Runtime.Evaluation.PerplexityDataset.WikiText2,
        }));
        Assert.Equal("--calib-dataset", e.OptionName);
    }

    [Fact]
    public void AQuantizedFolderIsNotQuantizedAgain()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        Run(tiny.Path, Options(output) with { Method = QuantizationMethod.Rtn });
        var e = Assert.Throws<ModelFormatException>(() => Run(output, Options(output + "-again") with { Method = QuantizationMethod.Rtn }));
        Assert.Contains("already quantized", e.Message);
    }
}
