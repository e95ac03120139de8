namespace SqueezeNative.Runtime.Architectures;

/// <summary>Normalisation used before attention, before the MLP and after the last layer.</summary>
public enum NormKind
{
    /// <summary>RMSNorm: x / rms(x) · weight (LLaMA, Mistral); no bias, no mean subtraction.</summary>
    RmsNorm,

    /// <summary>LayerNorm: (x − mean) / std · weight + bias (OPT).</summary>
    LayerNorm,
}

/// <summary>The MLP nonlinearity.</summary>
public enum ActivationKind
{
    /// <summary>x · sigmoid(x), HF "silu".</summary>
    SiLU,

    /// <summary>max(x, 0), HF "relu".</summary>
    ReLU,

    /// <summary>The exact (erf) GELU, HF "gelu".</summary>
    GeLU,
}

/// <summary>How the MLP block combines its linears.</summary>
public enum MlpKind
{
    /// <summary>down(act(gate(x)) ⊙ up(x)): three linears (LLaMA/Mistral SwiGLU).</summary>
    Gated,

    /// <summary>fc2(act(fc1(x))): two linears (OPT).</summary>
    TwoLayer,
}

/// <summary>How token positions enter the model.</summary>
public enum PositionalKind
{
    /// <summary>Rotary embeddings applied to queries and keys (HF rotate_half layout).</summary>
    Rope,

    /// <summary>A learned table added to the token embeddings; see <see cref="ArchitectureInfo.PositionOffset"/>.</summary>
    Learned,
}

/// <summary>How keys and values are shared between query heads.</summary>
public enum AttentionKind
{
    /// <summary>One key/value head per query head.</summary>
    MultiHead,

    /// <summary>Grouped-query attention: NumHeads / NumKvHeads query heads share one key/value head
    /// (plain multi-head attention when the config has as many KV heads as heads).</summary>
    GroupedQuery,
}

/// <summary>Where an architecture's checkpoints may carry bias vectors.</summary>
[Flags]
public enum BiasSites
{
    None = 0,

    /// <summary>The q, k, v and output projections of attention.</summary>
    AttentionProjections = 1,

    /// <summary>The MLP linears.</summary>
    MlpProjections = 2,

    /// <summary>The norms (LayerNorm's additive bias).</summary>
    Norms = 4,
}
