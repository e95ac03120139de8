using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Quantization.Pipeline;
using SqueezeNative.Runtime.Quantization.Sensitivity;
using Microsoft.Extensions.Logging.Abstractions;
using Quantizer = SqueezeNative.Runtime.Quantization.Pipeline.QuantizationPipeline;
using TinyModel = SqueezeNative.Tests.QuantizationPipeline.TinyModel;

namespace SqueezeNative.Tests.Sensitivity;

/// <summary>The Fisher pass as the quantization pipeline's sensitivity stage, on the pipeline's tiny LLaMA.</summary>
[Collection("QuantizationPipeline")]
public sealed class FisherPipelineTests(TinyModel tiny)
{
    /// <summary>Keeps what the pass gave the pipeline, to check how the pipeline used it.</summary>
    private sealed class Recording(FisherSensitivity pass) : ISensitivityProvider
    {
        public FisherResult? Result { get; private set; }
        public List<(long Done, long Total)> Progress { get; } = [];
        public string Name => pass.Name;
        public bool NeedsCalibration => pass.NeedsCalibration;

        public ISensitivitySource Compute(SensitivityRequest request)
        {
            var recorded = request with { Progress = (done, total) => { Progress.Add((done, total)); request.Progress(done, total); } };
            Result = (FisherResult)pass.Compute(recorded);
            return Result;
        }
    }

    [Fact]
    public void SqueezeLlmKeepsEachMatrixsMostSensitiveWeightInTheSparsePart()
    {
        var recording = new Recording(new FisherSensitivity());
        var options = new QuantizationPipelineOptions
        {
            Output = Path.Combine(tiny.NewOutputRoot(), "q"),
            SharedRoot = TestPaths.Shared,
            NSamples = 3,
            SeqLen = 64,
            WBits = 3,
            SparsityPercent = 0.45,
            SensitivePercent = 0.05,
        };
        int matrices = 0;
        var callbacks = new QuantizationCallbacks
        {
            MatrixQuantized = (linear, data) =>
            {
                var fisher = recording.Result!.Sensitivity(linear)!;
                int top = Array.IndexOf(fisher, fisher.Max());
                Assert.NotNull(data.Sparse.Find(top / data.Cols, top % data.Cols));
                matrices++;
            },
        };

        var result = new Quantizer(recording).Run(tiny.Path, options, callbacks);

        Assert.Equal("fisher", result.Config.Sensitivity);
        Assert.Equal(TinyModel.Layers * 7, matrices);
        Assert.Equal([(1L, 3L), (2L, 3L), (3L, 3L)], recording.Progress);
        Assert.Equal(3, recording.Result!.WindowLosses.Count);
    }

    [Fact]
    public void ARequestWithoutCalibrationIsRefused()
    {
        using var dir = ModelDirectory.Open(tiny.Path);
        var request = new SensitivityRequest(dir, Calibration: null, Threads: 0, NullLogger.Instance, (_, _) => { }, CancellationToken.None);

        var error = Assert.Throws<InvalidOptionException>(() => new FisherSensitivity().Compute(request));

        Assert.Equal("--calib", error.OptionName);
        Assert.True(new FisherSensitivity().NeedsCalibration);
    }
}
