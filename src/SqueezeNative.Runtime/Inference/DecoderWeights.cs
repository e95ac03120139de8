using SqueezeNative.Runtime.Architectures;
using SqueezeNative.Runtime.Models;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Inference;

/// <summary>One decoder block's parameters in the architecture-neutral shape the forward uses.</summary>
public sealed class DecoderLayer
{
    /// <summary>Norm before attention (RMSNorm weight, or LayerNorm weight + bias).</summary>
    public required NativeTensor AttnNorm { get; init; }
    public NativeTensor? AttnNormBias { get; init; }
    /// <summary>q | k | v stacked (parts 0, 1, 2).</summary>
    public required FusedLinear Qkv { get; init; }
    public required ILinear O { get; init; }
    /// <summary>Norm before the MLP.</summary>
    public required NativeTensor MlpNorm { get; init; }
    public NativeTensor? MlpNormBias { get; init; }
    /// <summary>Gated MLPs (LLaMA/Mistral): gate | up stacked; null for OPT.</summary>
    public FusedLinear? GateUp { get; init; }
    /// <summary>fc1 of a two-layer MLP (OPT); null for gated MLPs.</summary>
    public ILinear? Fc1 { get; init; }
    /// <summary>down_proj (gated) or fc2.</summary>
    public required ILinear Down { get; init; }
}

/// <summary>
/// A model's weights on one native context, mapped from the generated typed weights of its
/// architecture into the neutral <see cref="DecoderLayer"/> form. Owns every native tensor.
/// </summary>
public sealed class DecoderWeights : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    public required ArchitectureInfo Info { get; init; }
    public required ModelConfig Config { get; init; }
    /// <summary>[Vocab, EmbedDim] token embeddings.</summary>
    public required NativeTensor Embed { get; init; }
    /// <summary>
    /// OPT's learned positions as a view that starts at the architecture's offset row, so that
    /// position p reads row p + offset with plain position ids; null for RoPE models.
    /// </summary>
    public NativeTensor? Positions { get; init; }
    /// <summary>OPT-350m's projections between embedding width and hidden size.</summary>
    public ILinear? ProjectIn { get; init; }
    public ILinear? ProjectOut { get; init; }
    /// <summary>Final norm before the LM head (null when the architecture has none).</summary>
    public NativeTensor? FinalNorm { get; init; }
    public NativeTensor? FinalNormBias { get; init; }
    /// <summary>[Vocab, EmbedDim] output projection; the same tensor as Embed when tied.</summary>
    public required NativeTensor LmHead { get; init; }
    public required IReadOnlyList<DecoderLayer> Layers { get; init; }

    /// <summary>Width of the embedding table (≠ hidden size only with project_in/out).</summary>
    public int EmbedDim => (int)Embed.Shape[1];

    /// <summary>Bytes of every weight tensor (what one decode step reads, plus the embedding row).</summary>
    public long WeightBytes { get; private set; }

    /// <summary>
    /// Builds the decoder's weights on <paramref name="context"/> from the typed weights of a
    /// checkpoint (<see cref="WeightSource.Checkpoint"/>) or of a synthetic model. Weights that
    /// carry a <see cref="TensorRef.Quantized"/> become <see cref="LutLinear"/>s, built from their
    /// stored tensors' host bytes whatever <paramref name="source"/> is; stacks of them (q|k|v,
    /// gate|up) of one bit width become a single LUT linear with no parts.
    /// </summary>
    /// <param name="wrapLinear">Called for every linear made from a checkpoint weight (the parts of
    /// a stack included), with that weight; returns the linear the decoder uses in its place, e.g.
    /// a decorator that records its inputs (GPTQ calibration). Null keeps them as they are. When
    /// set, quantized stacks keep one linear per part, so that every part can be wrapped.</param>
    public static DecoderWeights Create(IModelWeights weights, NativeContext context, WeightSource source,
        Func<TensorRef, ILinear, ILinear>? wrapLinear = null)
    {
        var b = new Builder(context, source, wrapLinear);
        try
        {
            var result = weights switch
            {
                LlamaModelWeights w => FromLlama(w, b),
                MistralModelWeights w => FromMistral(w, b),
                OptModelWeights w => FromOpt(w, b),
                _ => throw new SqueezeException($"no decoder mapping for architecture '{weights.Architecture.ModelType}'"),
            };
            result.WeightBytes = b.Bytes;
            result._owned.AddRange(b.Owned);
            return result;
        }
        catch
        {
            foreach (var o in b.Owned) o.Dispose();
            throw;
        }
    }

    /// <summary>Materialises checkpoint tensors on a context: one tensor, or several stacked by rows.</summary>
    private sealed class Builder(NativeContext context, WeightSource source, Func<TensorRef, ILinear, ILinear>? wrapLinear)
    {
        private readonly Dictionary<TensorRef, NativeTensor> _single = new(ReferenceEqualityComparer.Instance);
        public List<IDisposable> Owned { get; } = [];
        public long Bytes { get; private set; }

        private NativeTensor Own(NativeTensor t)
        {
            Owned.Add(t);
            if (!t.IsView) Bytes += t.ByteLength;
            return t;
        }

        public NativeTensor? this[TensorRef? tensor]
        {
            get
            {
                if (tensor is null) return null;
                if (!_single.TryGetValue(tensor, out var t))
                    _single.Add(tensor, t = Own(source.Materialize(context, [tensor])));
                return t;
            }
        }

        public NativeTensor Required(TensorRef tensor) => this[tensor]!;

        public ILinear Linear(TensorRef weight, TensorRef? bias) =>
            Wrap(weight, weight.Quantized is null ? new DenseLinear(Required(weight), this[bias]) : Lut(Host(weight), this[bias]));

        private ILinear Wrap(TensorRef weight, ILinear linear) => wrapLinear?.Invoke(weight, linear) ?? linear;

        private static LutHostWeights Host(TensorRef weight) =>
            LutHostWeights.From((Quantization.Checkpoint.QuantizedLinearRef)weight.Quantized!);

        /// <summary>A quantized weight on the context as a LUT linear, its codes repacked for the backend.</summary>
        private LutLinear Lut(LutHostWeights weights, NativeTensor? bias)
        {
            var linear = LutLinear.Create(context, weights, bias);
            Owned.Add(linear);
            Bytes += linear.ByteLength;
            return linear;
        }

        /// <summary>Stacks linears that read the same input (all with biases, or none).</summary>
        public FusedLinear Fused(TensorRef[] weights, TensorRef?[] biases)
        {
            bool hasBias = biases.All(x => x is not null);
            if (!hasBias && biases.Any(x => x is not null))
                throw new ModelFormatException("linears stacked for one product must all have a bias or none", weights[0].FilePath, weights[0].Name);
            if (weights.All(x => x.Quantized is not null) && weights.All(x => x.Quantized!.Bits == weights[0].Quantized!.Bits)
                && wrapLinear is null)
            {
                // One LUT linear over the concatenated parts: one launch per decode step. Its codes
                // cannot be viewed by part, so the parts exist only as column ranges of its output.
                var hosts = weights.Select(Host).ToArray();
                var stackedBias = hasBias ? Own(source.Materialize(context, biases!)) : null;
                return new FusedLinear(Lut(LutHostWeights.StackColumns(hosts), stackedBias), hosts.Select(h => h.OutFeatures).ToArray());
            }
            if (weights.Any(x => x.Quantized is not null))
            {
                // Parts that cannot share one weight (mixed bit widths or kinds, or wrapped one by
                // one): All runs each into its column range.
                var linears = weights.Select((x, i) => Linear(x, biases[i])).ToList();
                var all = new ColumnStackedLinear(linears);
                Owned.Add(all);
                return new FusedLinear(all, linears);
            }
            var w = Own(source.Materialize(context, weights));
            var bias = hasBias ? Own(source.Materialize(context, biases!)) : null;
            var parts = new List<ILinear>();
            long row = 0;
            foreach (var (part, i) in weights.Select((p, i) => (p, i)))
            {
                long n = part.Shape[0];
                var wv = Own(w.Rows(row, n));
                var bv = bias is null ? null : Own(bias.View(row, n));
                parts.Add(Wrap(part, new DenseLinear(wv, bv)));
                row += n;
            }
            return new FusedLinear(new DenseLinear(w, bias), parts);
        }

        /// <summary>Rows [offset, end) of a table, as a view (OPT's position offset).</summary>
        public NativeTensor FromRow(NativeTensor table, int offset) => Own(table.Rows(offset, table.Shape[0] - offset));
    }

    private static DecoderWeights FromLlama(LlamaModelWeights w, Builder b) => new()
    {
        Info = w.Architecture,
        Config = w.Config,
        Embed = b.Required(w.EmbedTokens),
        FinalNorm = b[w.Norm],
        LmHead = b.Required(w.LmHead),
        Layers = w.Layers.Select(l => new DecoderLayer
        {
            AttnNorm = b.Required(l.InputLayerNorm),
            Qkv = b.Fused([l.QProj, l.KProj, l.VProj], [l.QProjBias, l.KProjBias, l.VProjBias]),
            O = b.Linear(l.OProj, l.OProjBias),
            MlpNorm = b.Required(l.PostAttentionLayerNorm),
            GateUp = b.Fused([l.GateProj, l.UpProj], [l.GateProjBias, l.UpProjBias]),
            Down = b.Linear(l.DownProj, l.DownProjBias),
        }).ToArray(),
    };

    private static DecoderWeights FromMistral(MistralModelWeights w, Builder b) => new()
    {
        Info = w.Architecture,
        Config = w.Config,
        Embed = b.Required(w.EmbedTokens),
        FinalNorm = b[w.Norm],
        LmHead = b.Required(w.LmHead),
        Layers = w.Layers.Select(l => new DecoderLayer
        {
            AttnNorm = b.Required(l.InputLayerNorm),
            Qkv = b.Fused([l.QProj, l.KProj, l.VProj], [null, null, null]),
            O = b.Linear(l.OProj, null),
            MlpNorm = b.Required(l.PostAttentionLayerNorm),
            GateUp = b.Fused([l.GateProj, l.UpProj], [null, null]),
            Down = b.Linear(l.DownProj, null),
        }).ToArray(),
    };

    private static DecoderWeights FromOpt(OptModelWeights w, Builder b) => new()
    {
        Info = w.Architecture,
        Config = w.Config,
        Embed = b.Required(w.EmbedTokens),
        Positions = b.FromRow(b.Required(w.EmbedPositions), w.Architecture.PositionOffset),
        ProjectIn = w.ProjectIn is null ? null : b.Linear(w.ProjectIn, null),
        ProjectOut = w.ProjectOut is null ? null : b.Linear(w.ProjectOut, null),
        FinalNorm = b[w.FinalLayerNorm],
        FinalNormBias = b[w.FinalLayerNormBias],
        LmHead = b.Required(w.LmHead),
        Layers = w.Layers.Select(l => new DecoderLayer
        {
            AttnNorm = b[l.SelfAttnLayerNorm] ?? throw Unsupported(w.Config),
            AttnNormBias = b[l.SelfAttnLayerNormBias],
            Qkv = b.Fused([l.QProj, l.KProj, l.VProj], [l.QProjBias, l.KProjBias, l.VProjBias]),
            O = b.Linear(l.OutProj, l.OutProjBias),
            MlpNorm = b[l.FinalLayerNorm] ?? throw Unsupported(w.Config),
            MlpNormBias = b[l.FinalLayerNormBias],
            Fc1 = b.Linear(l.Fc1, l.Fc1Bias),
            Down = b.Linear(l.Fc2, l.Fc2Bias),
        }).ToArray(),
    };

    private static ModelFormatException Unsupported(ModelConfig config) =>
        new("layer_norm_elementwise_affine = false is not supported", config.SourcePath);

    public void Dispose()
    {
        // Views first, then the storage they borrow (the library ref-counts either way).
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
