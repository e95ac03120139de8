using System.Globalization;
using SqueezeNative.Runtime.Evaluation;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Checkpoint;

namespace SqueezeNative.Runtime.Quantization.Pipeline;

/// <summary>
/// Everything <c>squeeze quantize</c> takes. <see cref="Validate"/> reports a bad value as an
/// <see cref="InvalidOptionException"/> naming the command-line option.
/// </summary>
public sealed record QuantizationPipelineOptions
{
    public const int DefaultNSamples = 100;
    public const int DefaultSeqLen = 512;

    /// <summary>The output folder (--out).</summary>
    public required string Output { get; init; }

    /// <summary>Replace an existing output folder (--force).</summary>
    public bool Force { get; init; }

    /// <summary>--method squeezellm | rtn | gptq.</summary>
    public QuantizationMethod Method { get; init; } = QuantizationMethod.SqueezeLlm;

    /// <summary>--wbits 3 | 4.</summary>
    public int WBits { get; init; } = 4;

    /// <summary>--sparsity: percent of each model's quantized weights moved to the sparse part (SqueezeLLM).</summary>
    public double SparsityPercent { get; init; }

    /// <summary>--sensitive: the part of <see cref="SparsityPercent"/> chosen by sensitivity.</summary>
    public double SensitivePercent { get; init; } = DenseSparseOptions.DefaultSensitivePercent;

    /// <summary>--kmeans exact | lloyd (SqueezeLLM).</summary>
    public KMeansMethod KMeans { get; init; } = KMeansMethod.Exact;

    /// <summary>
    /// --device cpu | cuda: where the exact k-means of SqueezeLLM runs. Cpu: the managed solver;
    /// Cuda: sn_kmeans_rows on the GPU (many rows per launch). The Fisher pass runs where its
    /// provider's <see cref="Sensitivity.FisherOptions.Device"/> says; <c>squeeze quantize</c> sets
    /// both from --device.
    /// </summary>
    public DeviceKind KMeansDevice { get; init; } = DeviceKind.Cpu;

    /// <summary>--calib FILE; null with no <see cref="CalibrationDataset"/> means &lt;shared&gt;/data/calib/calib.txt.</summary>
    public string? CalibrationFile { get; init; }

    /// <summary>--calib-dataset wikitext2 | c4 | ptb (from the shared data folder).</summary>
    public PerplexityDataset? CalibrationDataset { get; init; }

    /// <summary>The shared data folder (default calibration text and the datasets).</summary>
    public string? SharedRoot { get; init; }

    /// <summary>--nsamples: calibration windows.</summary>
    public int NSamples { get; init; } = DefaultNSamples;

    /// <summary>--seqlen: tokens per calibration window.</summary>
    public int SeqLen { get; init; } = DefaultSeqLen;

    /// <summary>--seed: Python's random.seed for the calibration windows.</summary>
    public long Seed { get; init; }

    /// <summary>--act-order (GPTQ).</summary>
    public bool ActOrder { get; init; }

    /// <summary>--threads for the CPU passes over the model (0 = one per core).</summary>
    public int Threads { get; init; }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Output))
            throw new InvalidOptionException(QuantizedCheckpointWriter.OutOption, "an output folder is required");
        if (!Enum.IsDefined(Method))
            throw new InvalidOptionException("--method", $"unknown method {Method}; valid: squeezellm, rtn, gptq");
        if (WBits is not (3 or 4))
            throw new InvalidOptionException("--wbits",
                $"must be 3 or 4 (the LUT checkpoint layout packs 3- or 4-bit codes); got {WBits.ToString(CultureInfo.InvariantCulture)}");
        var split = DenseSparse;
        if (!split.IsDenseOnly && Method != QuantizationMethod.SqueezeLlm)
            throw new InvalidOptionException("--sparsity", $"only squeezellm has a sparse part; {QuantConfig.MethodName(Method)} needs --sparsity 0");
        if (!Enum.IsDefined(KMeans))
            throw new InvalidOptionException("--kmeans", $"unknown k-means method {KMeans}; valid: exact, lloyd");
        if (KMeansDevice is not (DeviceKind.Cpu or DeviceKind.Cuda))
            throw new InvalidOptionException("--device", $"must be cpu or cuda; got {KMeansDevice}");
        if (KMeansDevice == DeviceKind.Cuda && (Method != QuantizationMethod.SqueezeLlm || KMeans != KMeansMethod.Exact))
            throw new InvalidOptionException("--device",
                "cuda runs the Fisher pass and the exact k-means of squeezellm; other methods and --kmeans lloyd run on the CPU (use --device cpu)");
        if (CalibrationFile is not null && CalibrationDataset is not null)
            throw new InvalidOptionException("--calib-dataset", "give either --calib FILE or --calib-dataset NAME, not both");
        if (NSamples < 1)
            throw new InvalidOptionException("--nsamples", $"must be at least 1; got {NSamples.ToString(CultureInfo.InvariantCulture)}");
        if (SeqLen < 2)
            throw new InvalidOptionException("--seqlen", $"must be at least 2 tokens; got {SeqLen.ToString(CultureInfo.InvariantCulture)}");
        if (Threads < 0)
            throw new InvalidOptionException("--threads", $"must be >= 0; got {Threads.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>The validated --sparsity / --sensitive pair.</summary>
    public DenseSparseOptions DenseSparse => DenseSparseOptions.Create(SparsityPercent, SensitivePercent);

    /// <summary>Parses --method.</summary>
    public static QuantizationMethod ParseMethod(string name) =>
        QuantConfig.TryParseMethod(name?.Trim() ?? "", out var method)
            ? method
            : throw new InvalidOptionException("--method", $"unknown method '{name}'; valid: squeezellm, rtn, gptq");

    /// <summary>Parses --kmeans.</summary>
    public static KMeansMethod ParseKMeans(string name) => (name?.Trim().ToLowerInvariant()) switch
    {
        "exact" => KMeansMethod.Exact,
        "lloyd" => KMeansMethod.Lloyd,
        _ => throw new InvalidOptionException("--kmeans", $"unknown k-means method '{name}'; valid: exact, lloyd"),
    };
}
