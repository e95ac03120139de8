using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Evaluation;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Quantization.Pipeline;

/// <summary>
/// Per-weight sensitivities of the quantizable linears (SqueezeLLM step 1): the weights of the
/// k-means and the ranking of the sensitive values. Implementations may be asked for the same
/// linear more than once (the outlier search and the layer pass both read it).
/// </summary>
public interface ISensitivitySource
{
    /// <summary>
    /// Sensitivities of <paramref name="linear"/>'s weight, row-major [Out, In], finite and ≥ 0;
    /// or null for uniform weights (plain k-means, SqueezeLLM's fallback), which also means no
    /// value can be chosen as sensitive.
    /// </summary>
    float[]? Sensitivity(QuantizableLinear linear);
}

/// <summary>What a sensitivity pass gets to work with.</summary>
/// <param name="Model">The model being quantized (its checkpoint is open).</param>
/// <param name="Calibration">The calibration windows; null when the provider said it needs none.</param>
/// <param name="Progress">(done, total) in the provider's own units, e.g. windows.</param>
public sealed record SensitivityRequest(ModelDirectory Model, CalibrationSample? Calibration, int Threads, ILogger Log,
    Action<long, long> Progress, CancellationToken CancellationToken);

/// <summary>
/// Makes the <see cref="ISensitivitySource"/> of a model: the pipeline's "sensitivity" stage.
/// The Fisher pass (forward and backward over the calibration windows) is one; uniform weights
/// are the other.
/// </summary>
public interface ISensitivityProvider
{
    /// <summary>Recorded in quant_config.json and in the resume fingerprint, e.g. "fisher".</summary>
    string Name { get; }

    /// <summary>Whether <see cref="Compute"/> reads calibration windows (then the pipeline samples them).</summary>
    bool NeedsCalibration { get; }

    ISensitivitySource Compute(SensitivityRequest request);
}

/// <summary>No sensitivity information: every weight counts the same. Sensitive values cannot be chosen (--sensitive must be 0).</summary>
public sealed class UniformSensitivity : ISensitivitySource, ISensitivityProvider
{
    public static UniformSensitivity Instance { get; } = new();

    private UniformSensitivity() { }

    public string Name => "uniform";

    public bool NeedsCalibration => false;

    public ISensitivitySource Compute(SensitivityRequest request) => this;

    public float[]? Sensitivity(QuantizableLinear linear) => null;
}
