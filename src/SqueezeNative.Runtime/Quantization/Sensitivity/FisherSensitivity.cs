using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;
using SqueezeNative.Runtime.Quantization.Pipeline;

namespace SqueezeNative.Runtime.Quantization.Sensitivity;

/// <summary>Settings of the Fisher pass.</summary>
public sealed record FisherOptions
{
    /// <summary>
    /// Decoder layers whose Fisher accumulators live on the context at once; 0 = every layer.
    /// With g groups the windows are run g times (a forward through the whole model and a
    /// backward down to the group's lowest layer each time), trading time for accumulator
    /// memory: F32 accumulators cost 4 bytes per quantizable weight, 26 GB for LLaMA-2-7B (its
    /// 6.5 G linear weights), so a 7B run on one GPU groups layers, e.g. 4 per group (3.2 GB).
    /// </summary>
    public int MaxResidentLayers { get; init; }

    /// <summary>
    /// Where the pipeline's pass (<see cref="FisherSensitivity.Compute(SensitivityRequest)"/>) loads
    /// the model. The backward ops have a CPU implementation; a backend without them fails at the
    /// first window with the native library's "unsupported" error naming the op.
    /// </summary>
    public DeviceKind Device { get; init; } = DeviceKind.Cpu;
}

/// <summary>
/// SqueezeLLM's sensitivity: the diagonal of the empirical Fisher information of every
/// quantizable linear, F = Σ over calibration windows of (∂loss_window/∂W)², loss_window the
/// mean next-token cross-entropy of the window's T−1 predictions — the reference's gradient per
/// sample of batch size 1, squared and summed. Runs forward + backward on the model's own
/// context (<see cref="DecoderTrainingPass"/>); the model must be dense (unquantized).
/// <para>
/// Memory: the weights, F32 activations of every layer for one window (about
/// 4·T·(4·D + 2·Dq + 2·Dkv + 3·I) bytes per layer: 135 MB per LLaMA-2-7B layer at T = 512,
/// 4.3 GB for all 32), and the accumulators of one layer group (<see cref="FisherOptions.MaxResidentLayers"/>).
/// The result is host memory, 4 bytes per weight: a 7B run should consume
/// <see cref="ComputeByLayerGroups"/> group by group (quantize, then drop) instead of holding
/// every matrix from <see cref="Compute(DecoderModel, IReadOnlyList{int[]}, Action{int, int}?, CancellationToken)"/>.
/// </para>
/// </summary>
public sealed class FisherSensitivity(FisherOptions? options = null, ILogger? logger = null) : ISensitivityProvider
{
    private readonly FisherOptions _options = options ?? new FisherOptions();
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    /// <summary>
    /// Called with (linear, dy [T, N], x [T, K]) at every quantizable linear of every window's
    /// backward, in every group: the window's weight gradient is dyᵀ·x. For tests and diagnostics;
    /// the tensors are valid only during the call.
    /// </summary>
    internal Action<FisherLinear, NativeTensor, NativeTensor>? WeightGradientProbe { get; set; }

    /// <summary>The settings this pass runs with.</summary>
    public FisherOptions Options => _options;

    /// <summary>Recorded in quant_config.json and the pipeline's resume fingerprint.</summary>
    public string Name => "fisher";

    public bool NeedsCalibration => true;

    /// <summary>The pipeline's sensitivity stage: the Fisher diagonals of the request's model over its calibration windows.</summary>
    public ISensitivitySource Compute(SensitivityRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var calibration = request.Calibration
            ?? throw new InvalidOptionException("--calib", "the Fisher sensitivity needs calibration windows");
        // The pipeline's logger when this pass was made without one.
        var fisher = _log == NullLogger.Instance ? new FisherSensitivity(_options, request.Log) : this;
        return fisher.Compute(request.Model, calibration.Windows, _options.Device, request.Threads,
            (done, total) => request.Progress(done, total), request.CancellationToken);
    }

    /// <summary>The Fisher diagonal of every quantizable linear of <paramref name="model"/>.</summary>
    /// <param name="windows">Calibration windows of equal length T ≥ 2 (e.g. CalibrationSampler's).</param>
    /// <param name="progress">(window passes done, window passes in all) after each window.</param>
    public FisherResult Compute(DecoderModel model, IReadOnlyList<int[]> windows, Action<int, int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Compute(model.Weights, windows, progress, cancellationToken);
    }

    /// <summary>
    /// Loads <paramref name="model"/>'s checkpoint on a new context of <paramref name="device"/>
    /// (as stored: fp16 weights stay fp16, activations and gradients are F32), computes the
    /// Fisher diagonals and frees the model: what the quantization pipeline's sensitivity stage needs.
    /// </summary>
    public FisherResult Compute(ModelDirectory model, IReadOnlyList<int[]> windows, DeviceKind device, int threads,
        Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var decoder = DecoderModel.Load(model, device, threads, deviceOrdinal: 0, _log);
        return Compute(decoder, windows, progress, cancellationToken);
    }

    /// <summary>As <see cref="Compute(DecoderModel, IReadOnlyList{int[]}, Action{int, int}?, CancellationToken)"/>
    /// for weights already on a context (e.g. an F32 copy of a checkpoint).</summary>
    public FisherResult Compute(DecoderWeights weights, IReadOnlyList<int[]> windows, Action<int, int>? progress = null,
        CancellationToken cancellationToken = default) =>
        FisherResult.Combine(ComputeByLayerGroups(weights, windows, progress, cancellationToken).ToArray());

    /// <summary>
    /// The Fisher diagonals one layer group at a time, lowest layers first, each result holding
    /// the matrices of <see cref="FisherOptions.MaxResidentLayers"/> layers (all when 0). Nothing
    /// is computed until enumerated; stopping the enumeration frees the pass.
    /// </summary>
    public IEnumerable<FisherResult> ComputeByLayerGroups(DecoderWeights weights, IReadOnlyList<int[]> windows,
        Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(weights);
        int tokens = ValidateWindows(windows, weights);
        if (_options.MaxResidentLayers < 0)
            throw new InvalidOptionException("maxResidentLayers", $"must be >= 0 (0 = all layers), got {_options.MaxResidentLayers}");
        // Resolve eagerly so that a model the pass cannot handle fails at the call, not at enumeration.
        var linears = LayerLinears.Resolve(weights);
        return Groups(weights, linears, windows, tokens, progress, cancellationToken);
    }

    private IEnumerable<FisherResult> Groups(DecoderWeights weights, IReadOnlyList<LayerLinears> linears, IReadOnlyList<int[]> windows,
        int tokens, Action<int, int>? progress, CancellationToken cancellationToken)
    {
        int layers = linears.Count;
        int perGroup = _options.MaxResidentLayers == 0 ? Math.Max(layers, 1) : Math.Min(_options.MaxResidentLayers, Math.Max(layers, 1));
        int groups = (layers + perGroup - 1) / perGroup;
        int done = 0, total = groups * windows.Count;

        using var pass = new DecoderTrainingPass(weights, linears, tokens) { WeightGradientProbe = WeightGradientProbe };
        _log.LogInformation("Fisher pass: {Windows} windows of {Tokens} tokens, {Layers} layers in {Groups} group(s), {Buffers:F1} MiB of activations",
            windows.Count, tokens, layers, groups, pass.BufferBytes / 1048576.0);
        for (int first = 0; first < layers; first += perGroup)
        {
            var group = linears.Skip(first).Take(perGroup).SelectMany(l => l.All).ToArray();
            var clock = Stopwatch.StartNew();
            var losses = new double[windows.Count];
            FisherMatrix[] matrices;
            try
            {
                foreach (var linear in group)
                    linear.Fisher = weights.Embed.Context.Tensor(NativeDType.F32, linear.OutFeatures, linear.InFeatures);
                for (int w = 0; w < windows.Count; w++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    losses[w] = pass.Forward(windows[w]);
                    pass.Backward(lowestLayer: first);
                    progress?.Invoke(++done, total);
                }
                matrices = group.Select(l => new FisherMatrix(l.Spec.Name, l.Spec.Layer ?? -1, l.Spec.Role,
                    l.OutFeatures, l.InFeatures, l.Fisher!.ToArray())).ToArray();
            }
            finally
            {
                foreach (var linear in group)
                {
                    linear.Fisher?.Dispose();
                    linear.Fisher = null;
                }
            }
            _log.LogInformation("Fisher layers {First}..{Last}: {Windows} windows in {Seconds:F1} s, mean loss {Loss:F4}",
                first, Math.Min(first + perGroup, layers) - 1, windows.Count, clock.Elapsed.TotalSeconds, losses.Average());
            yield return new FisherResult(matrices, losses);
        }
    }

    /// <summary>The common length of the windows.</summary>
    private static int ValidateWindows(IReadOnlyList<int[]> windows, DecoderWeights weights)
    {
        ArgumentNullException.ThrowIfNull(windows);
        if (windows.Count == 0) throw new InvalidOptionException("--nsamples", "the Fisher pass needs at least one calibration window");
        int tokens = windows[0]?.Length ?? 0;
        int vocab = (int)weights.Embed.Shape[0];
        for (int w = 0; w < windows.Count; w++)
        {
            var window = windows[w] ?? throw new InvalidOptionException("windows", $"window {w} is null");
            if (window.Length != tokens)
                throw new InvalidOptionException("--seqlen", $"calibration windows must have one length: window 0 has {tokens} tokens, window {w} has {window.Length}");
            for (int t = 0; t < window.Length; t++)
            {
                if ((uint)window[t] >= (uint)vocab)
                    throw new InvalidOptionException("windows", $"window {w}, position {t}: token id {window[t]} is outside the vocabulary [0, {vocab})");
            }
        }
        if (tokens < 2) throw new InvalidOptionException("--seqlen", $"a window needs at least 2 tokens to predict one, got {tokens}");
        if (tokens > weights.Config.MaxPositions)
            throw new InvalidOptionException("--seqlen", $"{tokens} tokens exceed the model's context of {weights.Config.MaxPositions}");
        return tokens;
    }
}
