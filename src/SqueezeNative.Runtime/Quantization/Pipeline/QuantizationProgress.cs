using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Quantization.Checkpoint;

namespace SqueezeNative.Runtime.Quantization.Pipeline;

/// <summary>The stages of a quantization run, in the order they run.</summary>
public enum QuantizationStage
{
    /// <summary>Tokenizing the calibration text and drawing the windows.</summary>
    Calibration,
    /// <summary>The sensitivity (Fisher) pass; SqueezeLLM only.</summary>
    Sensitivity,
    /// <summary>The model-wide outlier range (bisection over every matrix); SqueezeLLM with --sparsity only.</summary>
    OutlierRange,
    /// <summary>Per layer: split, k-means / RTN / GPTQ, packing, writing.</summary>
    Layers,
    /// <summary>Shards, index, quant_config.json, copied files, the final rename.</summary>
    Finalize,
}

/// <summary>A progress report: <paramref name="Done"/> of <paramref name="Total"/> units of <paramref name="Stage"/>.</summary>
/// <param name="Item">What is being worked on, e.g. a tensor name (may be null).</param>
public readonly record struct QuantizationProgress(QuantizationStage Stage, long Done, long Total, string? Item = null);

/// <summary>Callbacks of a run; all optional, called on the pipeline's thread.</summary>
public sealed class QuantizationCallbacks
{
    /// <summary>Progress within a stage (a stage that runs reports at least its start and end).</summary>
    public Action<QuantizationProgress>? Progress { get; init; }

    /// <summary>Each matrix as it is quantized, before it is written (not called for layers a resumed run skips).</summary>
    public Action<QuantizableLinear, QuantizedLinearData>? MatrixQuantized { get; init; }
}

/// <summary>What a run did.</summary>
/// <param name="OutputPath">The finished folder.</param>
/// <param name="Config">What quant_config.json says.</param>
/// <param name="ResumedLayers">Layers a previous run had finished (0 for a fresh run).</param>
/// <param name="StageTimes">Wall time of each stage that ran.</param>
public sealed record QuantizationResult(string OutputPath, QuantConfig Config, int ResumedLayers,
    IReadOnlyDictionary<QuantizationStage, TimeSpan> StageTimes);
