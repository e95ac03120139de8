namespace SqueezeNative.Runtime.Models;

/// <summary>
/// The architecture-relevant settings of a Hugging Face config.json, normalised across model
/// families and across the transformers 4.x (`rope_theta`, `torch_dtype` at top level) and
/// 5.x (`rope_parameters`, `dtype`) styles. Parsing lives in ModelConfig.Parse.cs.
/// Property names are what architecture descriptions use in their shape expressions.
/// </summary>
public sealed partial class ModelConfig
{
    /// <summary>config.json path this was read from ("" when built in memory).</summary>
    public string SourcePath { get; init; } = "";

    /// <summary>HF `model_type`: "llama", "mistral", "opt".</summary>
    public required string ModelType { get; init; }

    /// <summary>HF `architectures[0]`, e.g. "LlamaForCausalLM" (may be empty).</summary>
    public string ArchitectureClass { get; init; } = "";

    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    /// <summary>Key/value heads (GQA); equals NumHeads when the config has no such key.</summary>
    public required int NumKvHeads { get; init; }
    /// <summary>Per-head dimension: `head_dim` if present, else hidden_size / num_attention_heads.</summary>
    public required int HeadDim { get; init; }
    /// <summary>MLP inner size: `intermediate_size` (LLaMA/Mistral) or `ffn_dim` (OPT).</summary>
    public required int IntermediateSize { get; init; }
    public required int VocabSize { get; init; }
    public required int MaxPositions { get; init; }

    /// <summary>RMSNorm or LayerNorm epsilon (OPT: 1e-5 as transformers hard-codes).</summary>
    public float NormEps { get; init; } = 1e-5f;
    /// <summary>RoPE base; 0 when the architecture has no rotary embedding.</summary>
    public float RopeTheta { get; init; }
    /// <summary>Mistral's sliding attention window in tokens; null = full causal attention.</summary>
    public int? SlidingWindow { get; init; }
    public bool TieWordEmbeddings { get; init; }
    /// <summary>HF `hidden_act` / `activation_function`, e.g. "silu", "relu", "gelu".</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>Checkpoint dtype from `dtype` (5.x) or `torch_dtype` (4.x), e.g. "float16".</summary>
    public string Dtype { get; init; } = "float16";

    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }

    /// <summary>LLaMA/Mistral `attention_bias` (q,k,v,o biases).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>LLaMA `mlp_bias`.</summary>
    public bool MlpBias { get; init; }

    /// <summary>OPT `do_layer_norm_before` (true for all sizes but 350m).</summary>
    public bool DoLayerNormBefore { get; init; } = true;
    /// <summary>OPT `word_embed_proj_dim` (embedding width; ≠ hidden_size only for opt-350m).</summary>
    public int WordEmbedProjDim { get; init; }
    /// <summary>OPT `enable_bias` (biases on every linear).</summary>
    public bool EnableBias { get; init; } = true;
    /// <summary>OPT `_remove_final_layer_norm`.</summary>
    public bool RemoveFinalLayerNorm { get; init; }
    /// <summary>OPT `layer_norm_elementwise_affine`.</summary>
    public bool LayerNormElementwiseAffine { get; init; } = true;

    /// <summary>OPT's learned positional table has MaxPositions + 2 rows (HF offset of 2).</summary>
    public int OptPositionRows => MaxPositions + 2;
    /// <summary>Width of the key/value projections: NumKvHeads × HeadDim.</summary>
    public int KvDim => NumKvHeads * HeadDim;
    /// <summary>Width of the query projection: NumHeads × HeadDim.</summary>
    public int QDim => NumHeads * HeadDim;
}
