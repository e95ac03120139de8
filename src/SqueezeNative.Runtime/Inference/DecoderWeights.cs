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
    public required ILinear Q { get; init; }
    public required ILinear K { get; init; }
    public required ILinear V { get; init; }
    public required ILinear O { get; init; }
    /// <summary>Norm before the MLP.</summary>
    public required NativeTensor MlpNorm { get; init; }
    public NativeTensor? MlpNormBias { get; init; }
    /// <summary>Gated MLPs only (LLaMA/Mistral gate_proj); null for OPT's fc1/fc2.</summary>
    public ILinear? Gate { get; init; }
    /// <summary>up_proj (gated) or fc1.</summary>
    public required ILinear Up { get; init; }
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
    /// <summary>OPT's learned position table [MaxPositions + offset, Hidden]; null for RoPE models.</summary>
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

    /// <summary>Uploads every tensor of <paramref name="weights"/> into <paramref name="context"/>.</summary>
    public static DecoderWeights Upload(IModelWeights weights, NativeContext context, LinearFactory? linears = null)
    {
        var uploader = new Uploader(context, linears ?? DenseLinears);
        try
        {
            var result = weights switch
            {
                LlamaModelWeights w => FromLlama(w, uploader),
                MistralModelWeights w => FromMistral(w, uploader),
                OptModelWeights w => FromOpt(w, uploader),
                _ => throw new SqueezeException($"no decoder mapping for architecture '{weights.Architecture.ModelType}'"),
            };
            result._owned.AddRange(uploader.Owned);
            return result;
        }
        catch
        {
            foreach (var o in uploader.Owned) o.Dispose();
            throw;
        }
    }

    /// <summary>Builds the linear of one weight (dense by default; quantized methods substitute theirs).</summary>
    public delegate ILinear LinearFactory(TensorRef weight, TensorRef? bias, Func<TensorRef?, NativeTensor?> upload);

    private static readonly LinearFactory DenseLinears = (w, b, upload) => new DenseLinear(upload(w)!, upload(b));

    private sealed class Uploader(NativeContext context, LinearFactory linears)
    {
        private readonly Dictionary<TensorRef, NativeTensor> _tensors = new(ReferenceEqualityComparer.Instance);
        public List<IDisposable> Owned { get; } = [];

        public NativeTensor? this[TensorRef? source]
        {
            get
            {
                if (source is null) return null;
                if (_tensors.TryGetValue(source, out var t)) return t;
                t = context.FromCheckpoint(source);
                _tensors.Add(source, t);
                Owned.Add(t);
                return t;
            }
        }

        public NativeTensor Required(TensorRef source) => this[source]!;

        public ILinear Linear(TensorRef weight, TensorRef? bias)
        {
            var linear = linears(weight, bias, s => this[s]);
            Owned.Add(linear);
            return linear;
        }
    }

    private static DecoderWeights FromLlama(LlamaModelWeights w, Uploader up) => new()
    {
        Info = w.Architecture,
        Config = w.Config,
        Embed = up.Required(w.EmbedTokens),
        FinalNorm = up[w.Norm],
        LmHead = up.Required(w.LmHead ?? w.EmbedTokens),
        Layers = w.Layers.Select(l => new DecoderLayer
        {
            AttnNorm = up.Required(l.InputLayerNorm),
            Q = up.Linear(l.QProj, l.QProjBias),
            K = up.Linear(l.KProj, l.KProjBias),
            V = up.Linear(l.VProj, l.VProjBias),
            O = up.Linear(l.OProj, l.OProjBias),
            MlpNorm = up.Required(l.PostAttentionLayerNorm),
            Gate = up.Linear(l.GateProj, l.GateProjBias),
            Up = up.Linear(l.UpProj, l.UpProjBias),
            Down = up.Linear(l.DownProj, l.DownProjBias),
        }).ToArray(),
    };

    private static DecoderWeights FromMistral(MistralModelWeights w, Uploader up) => new()
    {
        Info = w.Architecture,
        Config = w.Config,
        Embed = up.Required(w.EmbedTokens),
        FinalNorm = up[w.Norm],
        LmHead = up.Required(w.LmHead ?? w.EmbedTokens),
        Layers = w.Layers.Select(l => new DecoderLayer
        {
            AttnNorm = up.Required(l.InputLayerNorm),
            Q = up.Linear(l.QProj, null),
            K = up.Linear(l.KProj, null),
            V = up.Linear(l.VProj, null),
            O = up.Linear(l.OProj, null),
            MlpNorm = up.Required(l.PostAttentionLayerNorm),
            Gate = up.Linear(l.GateProj, null),
            Up = up.Linear(l.UpProj, null),
            Down = up.Linear(l.DownProj, null),
        }).ToArray(),
    };

    private static DecoderWeights FromOpt(OptModelWeights w, Uploader up) => new()
    {
        Info = w.Architecture,
        Config = w.Config,
        Embed = up.Required(w.EmbedTokens),
        Positions = up.Required(w.EmbedPositions),
        ProjectIn = w.ProjectIn is null ? null : up.Linear(w.ProjectIn, null),
        ProjectOut = w.ProjectOut is null ? null : up.Linear(w.ProjectOut, null),
        FinalNorm = up[w.FinalLayerNorm],
        FinalNormBias = up[w.FinalLayerNormBias],
        LmHead = up.Required(w.LmHead ?? w.EmbedTokens),
        Layers = w.Layers.Select(l => new DecoderLayer
        {
            AttnNorm = up[l.SelfAttnLayerNorm] ?? throw Unsupported(w.Config),
            AttnNormBias = up[l.SelfAttnLayerNormBias],
            Q = up.Linear(l.QProj, l.QProjBias),
            K = up.Linear(l.KProj, l.KProjBias),
            V = up.Linear(l.VProj, l.VProjBias),
            O = up.Linear(l.OutProj, l.OutProjBias),
            MlpNorm = up[l.FinalLayerNorm] ?? throw Unsupported(w.Config),
            MlpNormBias = up[l.FinalLayerNormBias],
            Up = up.Linear(l.Fc1, l.Fc1Bias),
            Down = up.Linear(l.Fc2, l.Fc2Bias),
        }).ToArray(),
    };

    private static ModelFormatException Unsupported(ModelConfig config) =>
        new("layer_norm_elementwise_affine = false is not supported", config.SourcePath);

    public void Dispose()
    {
        foreach (var o in _owned) o.Dispose();
        _owned.Clear();
    }
}
