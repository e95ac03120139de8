using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Quantization.Pipeline;

namespace SqueezeNative.Runtime.Quantization.Sensitivity;

/// <summary>
/// The Fisher diagonal of one quantizable linear: F[n, k] = Σ over calibration windows of
/// (∂loss_window/∂W[n, k])², row-major [Rows = out features, Columns = in features], the layout
/// of the checkpoint's weight.
/// </summary>
/// <param name="Name">Hugging Face tensor name, e.g. "model.layers.0.self_attn.q_proj.weight".</param>
/// <param name="Layer">Decoder layer index.</param>
/// <param name="Role">The architecture description's property, e.g. "QProj".</param>
public sealed record FisherMatrix(string Name, int Layer, string Role, int Rows, int Columns, float[] Values)
{
    public override string ToString() => $"{Name} [{Rows}, {Columns}]";
}

/// <summary>
/// Fisher diagonals of quantizable linears, by Hugging Face weight name, in the architecture
/// description's order, with the calibration loss observed while computing them.
/// </summary>
public sealed class FisherResult : ISensitivitySource
{
    private readonly Dictionary<string, FisherMatrix> _byName;

    public FisherResult(IReadOnlyList<FisherMatrix> matrices, IReadOnlyList<double> windowLosses)
    {
        Matrices = matrices;
        WindowLosses = windowLosses;
        _byName = new Dictionary<string, FisherMatrix>(matrices.Count, StringComparer.Ordinal);
        foreach (var m in matrices)
        {
            if (!_byName.TryAdd(m.Name, m)) throw new ArgumentException($"two Fisher matrices for tensor '{m.Name}'", nameof(matrices));
        }
    }

    /// <summary>Every matrix, layer by layer in description order.</summary>
    public IReadOnlyList<FisherMatrix> Matrices { get; }

    /// <summary>The mean next-token cross-entropy of each calibration window (natural log).</summary>
    public IReadOnlyList<double> WindowLosses { get; }

    /// <summary>The matrix of a tensor name, or null when this result does not hold it.</summary>
    public FisherMatrix? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The matrix of a tensor name.</summary>
    /// <exception cref="KeyNotFoundException">This result holds no matrix of that name.</exception>
    public FisherMatrix this[string name] => _byName.TryGetValue(name, out var m) ? m
        : throw new KeyNotFoundException($"no Fisher matrix for tensor '{name}' (this result holds {Matrices.Count})");

    /// <summary>
    /// The sensitivity weights SqueezeLLM's k-means takes for <paramref name="linear"/>: its Fisher
    /// diagonal as [N·K] row-major, or null when this result does not hold that tensor (the
    /// quantizer then weighs every value alike).
    /// </summary>
    /// <exception cref="QuantizationException">The matrix's shape is not the linear's.</exception>
    public float[]? Sensitivity(QuantizableLinear linear)
    {
        ArgumentNullException.ThrowIfNull(linear);
        if (Find(linear.Name) is not { } m) return null;
        if (m.Rows != linear.OutFeatures || m.Columns != linear.InFeatures)
            throw new QuantizationException(
                $"the Fisher matrix is [{m.Rows}, {m.Columns}] but the weight is [{linear.OutFeatures}, {linear.InFeatures}]", linear.Name);
        return m.Values;
    }

    /// <summary>One result holding every matrix of <paramref name="parts"/> (e.g. layer groups of one run).</summary>
    public static FisherResult Combine(IReadOnlyList<FisherResult> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var losses = parts.Count > 0 ? parts[0].WindowLosses : [];
        return new FisherResult(parts.SelectMany(p => p.Matrices).ToArray(), losses);
    }
}
