using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Evaluation;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Checkpoint;
using SqueezeNative.Runtime.Tokenization;

namespace SqueezeNative.Runtime.Quantization.Pipeline;

/// <summary>
/// <c>squeeze quantize</c>: a Hugging Face model folder in, a quantized folder out
/// (<see cref="QuantizedCheckpointFormat"/>). Stages, each timed and reported:
/// <list type="number">
/// <item>calibration — windows of the calibration text (GPTQ, and SqueezeLLM when its sensitivity
/// source needs them);</item>
/// <item>sensitivity — the <see cref="ISensitivityProvider"/> (SqueezeLLM only);</item>
/// <item>outlier range — with --sparsity, one range factor r for the whole model by bisection
/// over every matrix's <see cref="OutlierProfile"/> (<see cref="DenseSparseSplit.FindGlobalRange"/>);</item>
/// <item>layers — per decoder layer, per linear: the dense/sparse split and weighted k-means
/// (<see cref="SqueezeLlmMatrixQuantizer"/>), or <see cref="RtnQuantizer"/>, or
/// <see cref="GptqQuantizer"/> on Hessians captured by <see cref="GptqCalibrator"/>; then the
/// layer's file is written and recorded, so a killed run resumes after it;</item>
/// <item>finalize — shards, index, quant_config.json, config and tokenizer files, rename.</item>
/// </list>
/// Every LUT is rounded to fp16 before it is handed on or written, so the model in memory and the
/// checkpoint read back are the same numbers. A resumed run repeats the calibration, sensitivity
/// and outlier-range stages (all deterministic, so the layers it adds are the ones the first run
/// would have written) and skips the finished layers; GPTQ puts them back, quantized, into its
/// calibration model first.
/// </summary>
public sealed class QuantizationPipeline
{
    /// <summary>The reference builds every row's KMeans with random_state = 0.</summary>
    public const int KMeansSeed = 0;

    private readonly ISensitivityProvider _sensitivity;
    private readonly ILogger _log;

    /// <param name="sensitivity">SqueezeLLM's sensitivity pass; null = <see cref="UniformSensitivity"/>.</param>
    public QuantizationPipeline(ISensitivityProvider? sensitivity = null, ILogger? logger = null)
    {
        _sensitivity = sensitivity ?? UniformSensitivity.Instance;
        _log = logger ?? NullLogger.Instance;
    }

    /// <summary>The version recorded in quant_config.json and in the resume fingerprint.</summary>
    public static string Version { get; } =
        typeof(QuantizationPipeline).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(QuantizationPipeline).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <summary>Quantizes the model folder <paramref name="modelPath"/> into <see cref="QuantizationPipelineOptions.Output"/>.</summary>
    public QuantizationResult Run(string modelPath, QuantizationPipelineOptions options, QuantizationCallbacks? callbacks = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(modelPath);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var run = new RunState(this, modelPath, options, callbacks ?? new QuantizationCallbacks(), cancellationToken);
        return run.Execute();
    }

    /// <summary>One run's state: the stages share the model, the sensitivities and the writer.</summary>
    private sealed class RunState(QuantizationPipeline owner, string modelPath, QuantizationPipelineOptions options,
        QuantizationCallbacks callbacks, CancellationToken cancellationToken)
    {
        private readonly ILogger _log = owner._log;
        private readonly DenseSparseOptions _split = options.DenseSparse;
        private readonly Dictionary<QuantizationStage, TimeSpan> _times = [];
        private ModelDirectory _model = null!;
        private IModelWeights _weights = null!;
        private CalibrationSample? _calibration;
        private CalibrationInfo? _calibrationInfo;
        private ISensitivitySource _sensitivity = UniformSensitivity.Instance;
        private OutlierRangeResult? _range;
        private readonly Dictionary<string, float> _thresholds = new(StringComparer.Ordinal);
        // --device cuda: the context that runs the exact k-means (sn_kmeans_rows); null = managed solver.
        private NativeContext? _kmeansContext;

        private NativeContext? KMeansContext() => _kmeansContext;

        private bool IsSqueezeLlm => options.Method == QuantizationMethod.SqueezeLlm;

        public QuantizationResult Execute()
        {
            QuantizedCheckpointWriter.CheckTarget(options.Output, options.Force, modelPath);
            if (IsSqueezeLlm && _split.SensitivePercent > 0 && owner._sensitivity is UniformSensitivity)
                throw new InvalidOptionException("--sensitive",
                    "choosing sensitive values needs a sensitivity (Fisher) pass, and this run has none; set --sensitive 0");

            // Created first, so that a missing GPU fails the run before the long sensitivity pass.
            using var kmeansContext = options.KMeansDevice == DeviceKind.Cuda ? NativeContext.Create(DeviceKind.Cuda, logger: _log) : null;
            _kmeansContext = kmeansContext;
            if (kmeansContext is not null)
                _log.LogInformation("k-means on {Device}", kmeansContext.DeviceName);

            using var model = ModelDirectory.Open(modelPath);
            _model = model;
            if (model.IsQuantized)
                throw new ModelFormatException("the folder is already quantized; quantize the original model", model.Path);
            _weights = model.Weights
                ?? throw new ModelFormatException("the folder has a config.json but no weights to quantize", model.Path);
            CheckPackable();
            var provider = IsSqueezeLlm ? owner._sensitivity : null;
            if (options.Method == QuantizationMethod.Gptq || provider is { NeedsCalibration: true })
                Stage(QuantizationStage.Calibration, SampleCalibration);

            using var writer = QuantizedCheckpointWriter.Open(options.Output, options.Force, modelPath, _weights.LayerCount, Settings());
            int resumed = writer.FinishedLayers;
            if (resumed > 0)
                _log.LogInformation("resuming {Partial}: {Done} of {Layers} layers were finished by an earlier run",
                    writer.PartialPath, resumed, _weights.LayerCount);

            if (provider is not null)
                Stage(QuantizationStage.Sensitivity, () => ComputeSensitivity(provider));
            if (IsSqueezeLlm && !_split.IsDenseOnly)
                Stage(QuantizationStage.OutlierRange, FindOutlierRange);
            Stage(QuantizationStage.Layers, () => QuantizeLayers(writer));
            var config = BuildConfig(writer.FinishedMatrices);
            Stage(QuantizationStage.Finalize, () => Finish(writer, config));
            _log.LogInformation("wrote {Out}: {Config}", writer.OutputPath, config);
            return new QuantizationResult(writer.OutputPath, config, resumed, _times);
        }

        private void Stage(QuantizationStage stage, Action body)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var name = StageName(stage);
            _log.LogInformation("stage {Stage}: started", name);
            var clock = Stopwatch.StartNew();
            body();
            _times[stage] = clock.Elapsed;
            _log.LogInformation("stage {Stage}: {Seconds} s", name, clock.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture));
        }

        private void Report(QuantizationStage stage, long done, long total, string? item = null) =>
            callbacks.Progress?.Invoke(new QuantizationProgress(stage, done, total, item));

        /// <summary>K must be a multiple of 32 for the packed layout: checked before any work.</summary>
        private void CheckPackable()
        {
            foreach (var linear in _weights.QuantizableLinears)
            {
                if (linear.InFeatures % LutPacking.GroupSize != 0)
                    throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                        $"input dimension {linear.InFeatures} is not a multiple of {LutPacking.GroupSize}, which the packed LUT layout needs"),
                        linear.Name);
            }
        }

        private void SampleCalibration()
        {
            Report(QuantizationStage.Calibration, 0, options.NSamples);
            var tokenizer = TokenizerLoader.Load(_model.Path);
            var (sample, info) = CalibrationData.Load(options, tokenizer, _model.Config.MaxPositions);
            _calibration = sample;
            _calibrationInfo = info;
            Report(QuantizationStage.Calibration, options.NSamples, options.NSamples, info.Source);
            _log.LogInformation("calibration: {Count} windows of {SeqLen} tokens from {Source} (seed {Seed})",
                sample.Windows.Count, options.SeqLen, info.Source, options.Seed);
        }

        private void ComputeSensitivity(ISensitivityProvider provider)
        {
            _sensitivity = provider.Compute(new SensitivityRequest(_model, _calibration, options.Threads, _log,
                (done, total) => Report(QuantizationStage.Sensitivity, done, total), cancellationToken));
            _log.LogInformation("sensitivity: {Name}", provider.Name);
        }

        /// <summary>The sensitivities of one linear, checked for shape; null = uniform.</summary>
        private float[]? SensitivityOf(QuantizableLinear linear)
        {
            var fisher = _sensitivity.Sensitivity(linear);
            if (fisher is not null && fisher.LongLength != linear.OutFeatures * linear.InFeatures)
                throw new QuantizationException(string.Create(CultureInfo.InvariantCulture,
                    $"the sensitivity source gave {fisher.LongLength} values for a [{linear.OutFeatures}, {linear.InFeatures}] weight"), linear.Name);
            return fisher;
        }

        /// <summary>The entries chosen by sensitivity (all false when none are to be chosen).</summary>
        private bool[] SensitiveMask(QuantizableLinear linear, float[]? fisher, int threads)
        {
            long elements = linear.OutFeatures * linear.InFeatures;
            long count = _split.SensitiveCount(elements);
            if (count == 0)
                return new bool[elements];
            if (fisher is null)
                throw new InvalidOptionException("--sensitive",
                    $"the sensitivity source gave no values for {linear.Name}, so no value can be chosen as sensitive; set --sensitive 0");
            return DenseSparseSplit.SelectSensitive(fisher, count, linear.Name, threads);
        }

        /// <summary>
        /// One range factor for the whole model. Profiles keep only the largest magnitudes of each
        /// matrix (memory); when the range falls below what a profile kept, they are rebuilt with more.
        /// </summary>
        private void FindOutlierRange()
        {
            var linears = _weights.QuantizableLinears;
            long totalElements = linears.Sum(l => l.OutFeatures * l.InFeatures);
            double fraction = DenseSparseSplit.InitialTrackedFraction(_split);
            while (true)
            {
                // Matrices in parallel, each on one thread (a few streaming passes over its values:
                // about 0.1 s per 4096 × 4096 on one core; a 7B model has 224); every result lands at
                // its index, so the outcome does not depend on the order.
                var profiles = new OutlierProfile[linears.Count];
                var sensitive = new long[linears.Count];
                var failures = new Exception?[linears.Count];
                int profiled = 0;
                var reportGate = new object();
                Parallel.For(0, linears.Count, new ParallelOptions { MaxDegreeOfParallelism = Workers(), CancellationToken = cancellationToken }, i =>
                {
                    var linear = linears[i];
                    try
                    {
                        var mask = SensitiveMask(linear, SensitivityOf(linear), threads: 1);
                        sensitive[i] = _split.SensitiveCount(mask.LongLength);
                        profiles[i] = OutlierProfile.Create(TensorValues.ToSingle(linear.Weight), mask, fraction, linear.Name, threads: 1);
                    }
                    catch (Exception e)
                    {
                        failures[i] = e;
                        return;
                    }
                    lock (reportGate) Report(QuantizationStage.OutlierRange, ++profiled, linears.Count, linear.Name);
                });
                // The first matrix's error, as the sequential loop would have thrown it.
                if (failures.FirstOrDefault(e => e is not null) is { } failure)
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
                long totalSensitive = sensitive.Sum();
                var target = DenseSparseSplit.TargetOutliers(_split, totalElements, totalSensitive);
                try
                {
                    _range = DenseSparseSplit.FindGlobalRange(profiles, target);
                }
                catch (QuantizationException e) when (fraction < 1)
                {
                    _log.LogInformation("outlier profiles kept {Fraction:P2} of each matrix, too few at the range found ({Reason}); rebuilding with more",
                        fraction, e.Message);
                    fraction = Math.Min(1.0, fraction * 4);
                    continue;
                }
                for (int i = 0; i < linears.Count; i++)
                    _thresholds[linears[i].Name] = profiles[i].Threshold(_range.Range);
                _log.LogInformation("outlier range r = {Range}: {Outliers} outliers for a target of {Target} (+ {Sensitive} sensitive) over {Elements} weights{Short}",
                    _range.Range.ToString("R", CultureInfo.InvariantCulture), _range.Outliers, target, totalSensitive, totalElements,
                    _range.Reached ? "" : " (the target cannot be reached: every candidate is an outlier)");
                return;
            }
        }

        /// <summary>Worker threads for per-matrix host work: --threads, or every core when 0.</summary>
        private int Workers() => options.Threads > 0 ? options.Threads : Environment.ProcessorCount;

        private void QuantizeLayers(QuantizedCheckpointWriter writer)
        {
            int layers = _weights.LayerCount;
            var byLayer = _weights.QuantizableLinears.ToLookup(l => l.Layer);
            using var gptq = options.Method == QuantizationMethod.Gptq && writer.FinishedLayers < layers
                ? new GptqCalibrator(_weights, _calibration!, options.SeqLen, options.Threads)
                : null;
            if (gptq is not null)
            {
                // The layers an earlier run finished go back in, quantized, before the next is calibrated.
                for (int layer = 0; layer < writer.FinishedLayers; layer++)
                {
                    using var stored = writer.OpenLayer(layer, options.Method, options.WBits);
                    foreach (var linear in byLayer[layer])
                        gptq.Replace(linear.Weight, stored.QuantizedLinears.Single(q => q.WeightName == linear.Name).Read());
                }
            }

            Report(QuantizationStage.Layers, writer.FinishedLayers, layers);
            for (int layer = writer.FinishedLayers; layer < layers; layer++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var clock = Stopwatch.StartNew();
                var hessians = gptq?.CaptureLayer(layer,
                    (done, total) => Report(QuantizationStage.Layers, layer, layers, $"layer {layer}: calibration window {done}/{total}"),
                    cancellationToken);
                if (hessians is not null)
                    _log.LogDebug("layer {Layer}: calibration inputs captured in {Ms} ms", layer, clock.ElapsedMilliseconds);

                var tensors = new List<SafetensorsTensor>();
                var stats = new List<MatrixStats>();
                var quantized = new Dictionary<string, QuantizedLinearData>(StringComparer.Ordinal);
                foreach (var linear in byLayer[layer])
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Report(QuantizationStage.Layers, layer, layers, linear.Name);
                    var matrixClock = Stopwatch.StartNew();
                    var data = Quantize(linear, hessians);
                    _log.LogDebug("{Name}: quantized in {Ms} ms", linear.Name, matrixClock.ElapsedMilliseconds);
                    gptq?.Replace(linear.Weight, data);
                    callbacks.MatrixQuantized?.Invoke(linear, data);
                    quantized.Add(linear.Name, data);
                    stats.Add(MatrixStats.Of(linear.Name, data));
                }
                // The layer's tensors in description order: quantized weights as their stored tensors, the rest unchanged.
                foreach (var spec in _model.DescribeTensors().Where(s => s.Layer == layer))
                {
                    if (quantized.TryGetValue(spec.Name, out var data))
                        tensors.AddRange(QuantizedCheckpointFormat.ToTensors(spec.Name, data));
                    else if (_model.Checkpoint!.TryGetTensor(spec.Name, out var tensor))
                        tensors.Add(Copy(tensor));
                }
                writer.WriteLayer(layer, tensors, stats);
                Report(QuantizationStage.Layers, layer + 1, layers, $"layer {layer}");
                _log.LogInformation("layer {Layer}/{Layers}: {Count} matrices in {Seconds} s", layer + 1, layers, stats.Count,
                    clock.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture));
            }
        }

        private QuantizedLinearData Quantize(QuantizableLinear linear, IReadOnlyDictionary<TensorRef, HessianAccumulator>? hessians)
        {
            int rows = (int)linear.OutFeatures, cols = (int)linear.InFeatures;
            var weights = TensorValues.ToSingle(linear.Weight);
            switch (options.Method)
            {
                case QuantizationMethod.SqueezeLlm:
                {
                    var fisher = SensitivityOf(linear);
                    bool[]? removed = null;
                    if (!_split.IsDenseOnly)
                    {
                        removed = SensitiveMask(linear, fisher, Workers());
                        DenseSparseSplit.MarkOutliers(weights, removed, _thresholds[linear.Name], Workers());
                    }
                    return SqueezeLlmMatrixQuantizer.Quantize(weights, fisher, removed, rows, cols, options.WBits, options.KMeans,
                        KMeansSeed, linear.Name, KMeansContext());
                }
                case QuantizationMethod.Rtn:
                    return RoundedToHalf(QuantizedLinearData.From(QuantizationMethod.Rtn,
                        RtnQuantizer.Quantize(weights, rows, cols, options.WBits, linear.Name)));
                case QuantizationMethod.Gptq:
                {
                    var gptqOptions = new GptqOptions { Bits = options.WBits, ActOrder = options.ActOrder };
                    return RoundedToHalf(QuantizedLinearData.From(QuantizationMethod.Gptq,
                        GptqQuantizer.Quantize(weights, rows, cols, hessians![linear.Weight], gptqOptions, linear.Name)));
                }
                default:
                    throw new InvalidOptionException("--method", $"unknown method {options.Method}");
            }
        }

        /// <summary>The same codes with the LUT as the checkpoint stores it (fp16; rounding keeps each row sorted).</summary>
        private static QuantizedLinearData RoundedToHalf(QuantizedLinearData data)
        {
            var lut = new float[data.Lut.Length];
            for (int i = 0; i < lut.Length; i++) lut[i] = LutMath.RoundToHalf(data.Lut[i]);
            return new QuantizedLinearData(data.Method, data.Bits, data.Rows, data.Cols, lut, data.Codes, data.Sparse);
        }

        private void Finish(QuantizedCheckpointWriter writer, QuantConfig config)
        {
            Report(QuantizationStage.Finalize, 0, 1);
            // Tensors outside the layers (embeddings, final norm, LM head, and any the architecture does not use), unchanged.
            var inLayers = _model.DescribeTensors().Where(s => s.Layer is not null).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
            var globals = _model.Checkpoint!.Names.Where(n => !inLayers.Contains(n))
                .Select(n => Copy(_model.Checkpoint.TryGetTensor(n, out var t) ? t : throw new InvalidOperationException(n)))
                .ToList();
            writer.Finish(globals, config, _model.Path);
            Report(QuantizationStage.Finalize, 1, 1, writer.OutputPath);
        }

        private static SafetensorsTensor Copy(TensorRef tensor) => new(tensor.Name, tensor.DType, tensor.Shape, tensor.Data);

        private QuantConfig BuildConfig(IReadOnlyList<MatrixStats> matrices) => new()
        {
            Method = options.Method,
            WBits = options.WBits,
            SparsityPercent = IsSqueezeLlm ? _split.SparsityPercent : 0,
            SensitivePercent = IsSqueezeLlm ? _split.SensitivePercent : 0,
            KMeans = IsSqueezeLlm ? options.KMeans : null,
            Sensitivity = IsSqueezeLlm ? owner._sensitivity.Name : null,
            OutlierRange = _range is { } r && double.IsFinite(r.Range) ? r.Range : null,
            ActOrder = options.Method == QuantizationMethod.Gptq ? options.ActOrder : null,
            Calibration = _calibrationInfo,
            Matrices = matrices,
            Version = Version,
        };

        /// <summary>Everything the output depends on; a resumed run must match it exactly.</summary>
        private Dictionary<string, string> Settings()
        {
            string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
            var settings = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["method"] = QuantConfig.MethodName(options.Method),
                ["wbits"] = options.WBits.ToString(CultureInfo.InvariantCulture),
                ["model"] = Path.GetFullPath(_model.Path),
                ["model_config_sha256"] = EvalText.FileSha256Hex(_model.Config.SourcePath),
                ["model_weights_bytes"] = _model.WeightBytes.ToString(CultureInfo.InvariantCulture),
                ["version"] = Version,
            };
            if (IsSqueezeLlm)
            {
                settings["sparsity_percent"] = F(_split.SparsityPercent);
                settings["sensitive_percent"] = F(_split.SensitivePercent);
                settings["kmeans"] = QuantConfig.KMeansName(options.KMeans);
                settings["sensitivity"] = owner._sensitivity.Name;
                // The CUDA Fisher pass (TF32 products) and k-means (parallel prefix sums) agree with
                // the CPU's only to rounding: a resumed run must not mix layers of both.
                settings["kmeans_device"] = options.KMeansDevice.ToString().ToLowerInvariant();
                if (owner._sensitivity is Sensitivity.FisherSensitivity fisher)
                    settings["sensitivity_device"] = fisher.Options.Device.ToString().ToLowerInvariant();
            }
            if (options.Method == QuantizationMethod.Gptq)
                settings["act_order"] = options.ActOrder ? "true" : "false";
            if (_calibrationInfo is { } c)
            {
                settings["calibration_source"] = c.Source;
                settings["calibration_sha256"] = c.FileSha256;
                settings["nsamples"] = c.NSamples.ToString(CultureInfo.InvariantCulture);
                settings["seqlen"] = c.SeqLen.ToString(CultureInfo.InvariantCulture);
                settings["seed"] = c.Seed.ToString(CultureInfo.InvariantCulture);
            }
            return settings;
        }
    }

    /// <summary>The stage as logs and progress bars name it.</summary>
    public static string StageName(QuantizationStage stage) => stage switch
    {
        QuantizationStage.Calibration => "calibration",
        QuantizationStage.Sensitivity => "sensitivity",
        QuantizationStage.OutlierRange => "outlier range",
        QuantizationStage.Layers => "layers",
        QuantizationStage.Finalize => "finalize",
        _ => stage.ToString(),
    };
}
