using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Quantization.Checkpoint;

/// <summary>
/// A checkpoint seen through its quantized linears: every <c>P.qweight</c> (with its
/// <c>P.lookup_table</c> and sparse tensors) is presented as one logical tensor <c>P.weight</c>,
/// F16 [N, K], carrying its <see cref="QuantizedLinearRef"/>. The generated loaders then find and
/// shape-check quantized weights like dense ones, and the decoder builds LUT linears from them.
/// Reading <see cref="TensorRef.Data"/> of such a weight dequantizes it (F16 bytes, a new array
/// per access), for readers that do not know the format.
/// </summary>
public sealed class QuantizedTensorSource : ITensorSource
{
    private readonly ITensorSource _inner;
    private readonly bool _ownsInner;
    private readonly Dictionary<string, TensorRef> _weights;
    private readonly HashSet<string> _components = new(StringComparer.Ordinal);
    private readonly List<string> _names;

    private QuantizedTensorSource(ITensorSource inner, bool ownsInner, IReadOnlyList<QuantizedLinearRef> linears)
    {
        _inner = inner;
        _ownsInner = ownsInner;
        _weights = new Dictionary<string, TensorRef>(linears.Count, StringComparer.Ordinal);
        foreach (var linear in linears)
        {
            if (inner.TryGetTensor(linear.WeightName, out _))
                throw new ModelFormatException("the checkpoint holds both a dense weight and its quantized form", inner.Location, linear.WeightName);
            _weights.Add(linear.WeightName, LogicalWeight(linear));
            foreach (var part in new[] { linear.QWeight, linear.LookupTable, linear.SparseRows, linear.SparseCols, linear.SparseValues })
                if (part is not null) _components.Add(part.Name);
        }
        // The logical weight takes the place of its qweight, so the order stays the checkpoint's.
        _names = [];
        foreach (var name in inner.Names)
        {
            if (name.EndsWith(QuantizedCheckpointFormat.QWeightSuffix, StringComparison.Ordinal))
                _names.Add(name[..^QuantizedCheckpointFormat.QWeightSuffix.Length] + QuantizedCheckpointFormat.WeightSuffix);
            else if (!_components.Contains(name))
                _names.Add(name);
        }
    }

    /// <summary>The stored tensors underneath.</summary>
    public ITensorSource Inner => _inner;

    /// <summary>The quantized linears, by logical weight name.</summary>
    public IEnumerable<QuantizedLinearRef> QuantizedLinears => _weights.Values.Select(w => (QuantizedLinearRef)w.Quantized!);

    public string Location => _inner.Location;

    public IReadOnlyCollection<string> Names => _names;

    public bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor)
    {
        if (_weights.TryGetValue(name, out tensor))
            return true;
        if (_components.Contains(name))
        {
            tensor = null;
            return false;
        }
        return _inner.TryGetTensor(name, out tensor);
    }

    /// <summary>True when <paramref name="source"/> holds at least one <c>*.qweight</c> tensor.</summary>
    public static bool HoldsQuantizedLinears(ITensorSource source) =>
        source.Names.Any(n => n.EndsWith(QuantizedCheckpointFormat.QWeightSuffix, StringComparison.Ordinal));

    /// <summary>
    /// Wraps a stored checkpoint: every <c>P.qweight</c> it holds becomes <c>P.weight</c>. Takes
    /// ownership of <paramref name="stored"/> (disposed with this source, or on failure).
    /// </summary>
    /// <param name="method">From quant_config.json (SqueezeLLM when the folder has none).</param>
    /// <param name="expectedBits">wbits from quant_config.json, checked against every LUT; null = not checked.</param>
    public static QuantizedTensorSource Open(ITensorSource stored, QuantizationMethod method, int? expectedBits)
    {
        ArgumentNullException.ThrowIfNull(stored);
        try
        {
            var linears = new List<QuantizedLinearRef>();
            foreach (var name in stored.Names)
            {
                if (!name.EndsWith(QuantizedCheckpointFormat.QWeightSuffix, StringComparison.Ordinal))
                    continue;
                var weightName = name[..^QuantizedCheckpointFormat.QWeightSuffix.Length] + QuantizedCheckpointFormat.WeightSuffix;
                linears.Add(QuantizedLinearRef.Open(stored, weightName, method, expectedBits));
            }
            return new QuantizedTensorSource(stored, ownsInner: true, linears);
        }
        catch
        {
            stored.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A checkpoint with some of its linears replaced by in-memory quantized data (keyed by the
    /// weight name <c>P.weight</c>), exactly as a written checkpoint would present them: for
    /// comparing a model in memory with the one read back, and for building a quantized model
    /// without files. <paramref name="original"/> is not owned.
    /// </summary>
    public static QuantizedTensorSource InMemory(ITensorSource original, IReadOnlyDictionary<string, QuantizedLinearData> quantized)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(quantized);
        var location = $"{original.Location} (quantized in memory)";
        var overlay = new MemoryTensorSource(location);
        var linears = new List<QuantizedLinearRef>(quantized.Count);
        var replacements = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (weightName, data) in quantized)
        {
            if (!original.TryGetTensor(weightName, out _))
                throw new ArgumentException($"'{weightName}' is not a tensor of {original.Location}", nameof(quantized));
            var tensors = QuantizedCheckpointFormat.ToTensors(weightName, data);
            foreach (var t in tensors)
                overlay.Add(t);
            replacements.Add(weightName, tensors.Select(t => t.Name).ToList());
        }
        var combined = new OverlaySource(original, overlay, replacements);
        foreach (var (weightName, data) in quantized)
            linears.Add(QuantizedLinearRef.Open(overlay, weightName, data.Method, data.Bits));
        return new QuantizedTensorSource(combined, ownsInner: false, linears);
    }

    private static TensorRef LogicalWeight(QuantizedLinearRef linear) => new()
    {
        Name = linear.WeightName,
        DType = TensorDType.F16,
        Shape = [linear.OutFeatures, linear.InFeatures],
        FilePath = linear.QWeight.FilePath,
        ByteLength = (long)linear.OutFeatures * linear.InFeatures * sizeof(short),
        Quantized = linear,
        DataAccessor = _ => linear.DequantizeToHalfBytes(),
    };

    public void Dispose()
    {
        if (_ownsInner) _inner.Dispose();
    }

    /// <summary>Tensors held in managed arrays.</summary>
    private sealed class MemoryTensorSource(string location) : ITensorSource
    {
        private readonly Dictionary<string, TensorRef> _tensors = new(StringComparer.Ordinal);
        private readonly List<string> _names = [];

        public string Location { get; } = location;
        public IReadOnlyCollection<string> Names => _names;

        public void Add(SafetensorsTensor tensor)
        {
            var data = tensor.Data;
            _tensors.Add(tensor.Name, new TensorRef
            {
                Name = tensor.Name,
                DType = tensor.DType,
                Shape = tensor.Shape,
                FilePath = Location,
                ByteLength = data.Length,
                DataAccessor = _ => data,
            });
            _names.Add(tensor.Name);
        }

        public bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor) => _tensors.TryGetValue(name, out tensor);
        public void Dispose() { }
    }

    /// <summary>The original's tensors, each replaced weight swapped for its stored tensors in place.</summary>
    private sealed class OverlaySource(ITensorSource original, MemoryTensorSource overlay,
        Dictionary<string, IReadOnlyList<string>> replacements) : ITensorSource
    {
        private readonly List<string> _names = original.Names
            .SelectMany(n => replacements.TryGetValue(n, out var stored) ? stored : [n]).ToList();

        public string Location => overlay.Location;
        public IReadOnlyCollection<string> Names => _names;

        public bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor)
        {
            if (overlay.TryGetTensor(name, out tensor)) return true;
            if (replacements.ContainsKey(name)) { tensor = null; return false; }
            return original.TryGetTensor(name, out tensor);
        }

        public void Dispose() { }
    }
}
