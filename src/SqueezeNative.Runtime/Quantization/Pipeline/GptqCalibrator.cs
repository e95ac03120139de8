using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Evaluation;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Quantization.Pipeline;

/// <summary>
/// GPTQ's calibration inputs, gathered the way GPTQ does: sequentially, layer by layer, each
/// layer seeing the outputs of the layers before it already quantized. The model runs on the
/// CPU backend (F32 activations) with every linear wrapped in a <see cref="CapturingLinear"/>;
/// for layer i the calibration windows go through the whole model while the wrappers of layer
/// i's linears add their inputs to Hessian accumulators, and once layer i is quantized its
/// weights are overwritten in place with their dequantized values (rounded to the weight's dtype;
/// a LUT that the checkpoint stores in fp16 reproduces exactly in an fp16 weight).
/// <para>
/// Linears that read the same input (q|k|v, gate|up) share one accumulator: their Hessians are
/// the same matrix, accumulated once.
/// </para>
/// </summary>
internal sealed class GptqCalibrator : IDisposable
{
    private readonly NativeContext _context;
    private readonly DecoderWeights _weights;
    private readonly InferenceSession _session;
    private readonly Dictionary<TensorRef, CapturingLinear> _linears = new(ReferenceEqualityComparer.Instance);
    private readonly CalibrationSample _sample;

    public GptqCalibrator(IModelWeights model, CalibrationSample sample, int seqlen, int threads)
    {
        _sample = sample;
        _context = NativeContext.Create(DeviceKind.Cpu, threads);
        try
        {
            _weights = DecoderWeights.Create(model, _context, WeightSource.Checkpoint, (weight, inner) =>
            {
                var capturing = new CapturingLinear(inner);
                _linears.Add(weight, capturing);
                return capturing;
            });
            _session = new InferenceSession(_weights, _context, seqlen, seqlen);
        }
        catch
        {
            _weights?.Dispose();
            _context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs every calibration window and returns, for each linear of <paramref name="layer"/>
    /// (by its weight), the Hessian accumulator of its inputs.
    /// </summary>
    public IReadOnlyDictionary<TensorRef, HessianAccumulator> CaptureLayer(int layer, Action<int, int> progress,
        CancellationToken cancellationToken)
    {
        var result = new Dictionary<TensorRef, HessianAccumulator>(ReferenceEqualityComparer.Instance);
        var recording = new List<CapturingLinear>();
        foreach (var group in InputGroups(_weights.Layers[layer]))
        {
            var accumulator = new HessianAccumulator(group[0].InFeatures);
            group[0].Capture = accumulator;
            recording.Add(group[0]);
            foreach (var linear in group)
                result.Add(WeightOf(linear), accumulator);
        }
        try
        {
            for (int w = 0; w < _sample.Windows.Count; w++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                _session.Reset();
                _session.Forward(_sample.Windows[w], allPositions: false);
                progress(w + 1, _sample.Windows.Count);
            }
        }
        finally
        {
            foreach (var linear in recording) linear.Capture = null;
        }
        return result;
    }

    /// <summary>Puts the quantized matrix in place of the original weight for the layers that follow.</summary>
    public void Replace(TensorRef weight, QuantizedLinearData data)
    {
        if (!_linears.TryGetValue(weight, out var linear))
            throw new InvalidOperationException($"{weight.Name} is not a linear of the calibration model");
        if (linear.Inner is not DenseLinear dense)
            throw new InvalidOperationException($"{weight.Name} is not a dense linear in the calibration model");
        TensorValues.Upload(dense.Weight, data.Dequantize());
    }

    /// <summary>A layer's linears grouped by the input they read, in forward order.</summary>
    private static IEnumerable<IReadOnlyList<CapturingLinear>> InputGroups(DecoderLayer layer)
    {
        yield return layer.Qkv.Parts.Select(Capturing).ToList();
        yield return [Capturing(layer.O)];
        if (layer.GateUp is { } gateUp) yield return gateUp.Parts.Select(Capturing).ToList();
        if (layer.Fc1 is { } fc1) yield return [Capturing(fc1)];
        yield return [Capturing(layer.Down)];
    }

    private static CapturingLinear Capturing(ILinear linear) => linear as CapturingLinear
        ?? throw new InvalidOperationException($"a {linear.GetType().Name} of the calibration model is not wrapped for capture");

    private TensorRef WeightOf(CapturingLinear linear) => _linears.First(p => ReferenceEquals(p.Value, linear)).Key;

    public void Dispose()
    {
        _session.Dispose();
        _weights.Dispose();
        _context.Dispose();
    }

    /// <summary>
    /// A linear that, while <see cref="Capture"/> is set, adds each input x [T, K] (F32, the CPU
    /// backend's activations) to a Hessian accumulator before running the product.
    /// </summary>
    internal sealed class CapturingLinear(ILinear inner) : ILinear
    {
        private float[] _host = [];

        public ILinear Inner { get; } = inner;
        public HessianAccumulator? Capture { get; set; }
        public int InFeatures => Inner.InFeatures;
        public int OutFeatures => Inner.OutFeatures;

        public void Forward(NativeContext context, NativeTensor x, NativeTensor y)
        {
            Record(x);
            Inner.Forward(context, x, y);
        }

        public void ForwardAdd(NativeContext context, NativeTensor x, NativeTensor y)
        {
            Record(x);
            Inner.ForwardAdd(context, x, y);
        }

        private void Record(NativeTensor x)
        {
            if (Capture is not { } accumulator) return;
            if (x.DType != NativeDType.F32)
                throw new InvalidOperationException($"calibration inputs are read as F32; this context's activations are {x.DType}");
            var count = (int)x.ElementCount;
            if (_host.Length < count) _host = new float[count];
            x.Download<float>(_host.AsSpan(0, count));
            accumulator.Add(_host.AsSpan(0, count), (int)x.Shape[0]);
        }
    }
}
