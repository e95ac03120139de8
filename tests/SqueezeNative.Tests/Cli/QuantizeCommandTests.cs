using Microsoft.Extensions.Logging.Abstractions;
using SqueezeNative.Cli.Commands;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Pipeline;
using SqueezeNative.Runtime.Quantization.Sensitivity;
using SqueezeNative.Tests.QuantizationPipeline;

namespace SqueezeNative.Tests.Cli;

/// <summary>
/// `squeeze quantize`'s --device and --fisher-layers: the Fisher pass runs where --device says,
/// with --fisher-layers layers' accumulators at a time. (No GPU in CI: cuda is checked up to the
/// provider the command builds; the CUDA pass itself runs on the GPU machine.)
/// </summary>
[Collection("QuantizationPipeline")]
public sealed class QuantizeCommandTests(TinyModel tiny)
{
    private static (int ExitCode, string Output, string Error) Squeeze(params string[] args) => InspectCommandTests.Squeeze(args);

    [Theory]
    [InlineData(DeviceKind.Cpu, 0)]
    [InlineData(DeviceKind.Cuda, 4)]
    public void TheFisherPassGetsTheDeviceAndTheResidentLayers(DeviceKind device, int layers)
    {
        var provider = QuantizeCommand.Sensitivity("fisher", device, layers, NullLogger.Instance);
        var fisher = Assert.IsType<FisherSensitivity>(provider);
        Assert.Equal(device, fisher.Options.Device);
        Assert.Equal(layers, fisher.Options.MaxResidentLayers);
    }

    [Fact]
    public void UniformAndUnknownSensitivities()
    {
        Assert.Same(UniformSensitivity.Instance, QuantizeCommand.Sensitivity("uniform", DeviceKind.Cuda, 0, NullLogger.Instance));
        var error = Assert.Throws<InvalidOptionException>(() => QuantizeCommand.Sensitivity("hessian", DeviceKind.Cpu, 0, NullLogger.Instance));
        Assert.Equal("--sensitivity", error.OptionName);
    }

    [Fact]
    public void NegativeFisherLayersAreRejectedBeforeAnyWork()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        var (code, _, stderr) = Squeeze("quantize", tiny.Path, "--out", output, "--fisher-layers", "-2");
        Assert.Equal(1, code);
        Assert.Contains("error: --fisher-layers: must be >= 0 (0 = every layer at once); got -2", stderr);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("--kmeans", "lloyd")]
    [InlineData("--method", "rtn")]
    public void CudaStaysLimitedToSqueezeLlmWithTheExactKMeans(string option, string value)
    {
        var (code, _, stderr) = Squeeze("quantize", tiny.Path, "--out", Path.Combine(tiny.NewOutputRoot(), "q"), "--device", "cuda", option, value);
        Assert.Equal(1, code);
        Assert.Contains("error: --device: cuda runs the Fisher pass and the exact k-means of squeezellm", stderr);
    }

    [Fact]
    public void HelpDescribesWhereTheFisherPassRuns()
    {
        var (code, stdout, _) = Squeeze("quantize", "--help");
        Assert.Equal(0, code);
        var text = string.Join(' ', stdout.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--device", text);
        Assert.Contains("Where squeezellm's Fisher pass and exact k-means run", text);
        Assert.DoesNotContain("always runs on the CPU", text);
        Assert.Contains("--fisher-layers", text);
        Assert.Contains("4 bytes per quantizable weight (26 GB for LLaMA-2-7B)", text);
    }

    /// <summary>On the CPU: 4 layers in groups of 3 (a full group and a partial one) quantize like any run.</summary>
    [Fact]
    public void QuantizesWithLayerGroups()
    {
        var output = Path.Combine(tiny.NewOutputRoot(), "q");
        var (code, stdout, stderr) = Squeeze("quantize", tiny.Path, "--out", output, "--wbits", "4",
            "--nsamples", "2", "--seqlen", "16", "--fisher-layers", "3", "--device", "cpu");
        Assert.True(code == 0, stderr);
        Assert.Contains($"wrote {output}: squeezellm 4-bit, {7 * TinyModel.Layers} matrices", stdout);
        Assert.Contains("sensitivity", stdout);
    }
}
