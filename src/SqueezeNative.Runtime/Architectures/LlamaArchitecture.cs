namespace SqueezeNative.Runtime.Architectures;

/// <summary>
/// LLaMA / LLaMA-2 (HF LlamaForCausalLM; also Vicuna and other LLaMA-shaped checkpoints):
/// pre-RMSNorm decoder, rotary positions, SwiGLU MLP, grouped-query attention when
/// num_key_value_heads &lt; num_attention_heads. Biases only where config.json asks for them
/// (`attention_bias` on q/k/v/o, `mlp_bias` on gate/up/down), as transformers' LlamaAttention
/// and LlamaMLP build them.
/// </summary>
[Architecture("llama", HfClasses = ["LlamaForCausalLM"],
    Norm = NormKind.RmsNorm, Activation = ActivationKind.SiLU, Mlp = MlpKind.Gated,
    Positional = PositionalKind.Rope, Attention = AttentionKind.GroupedQuery,
    Biases = BiasSites.AttentionProjections | BiasSites.MlpProjections)]
[GlobalTensor("EmbedTokens", "model.embed_tokens.weight", "VocabSize", "HiddenSize")]
[LayerTensor("InputLayerNorm", "model.layers.{layer}.input_layernorm.weight", "HiddenSize")]
[LayerTensor("QProj", "model.layers.{layer}.self_attn.q_proj.weight", "QDim", "HiddenSize", Quantizable = true)]
[LayerTensor("QProjBias", "model.layers.{layer}.self_attn.q_proj.bias", "QDim", Condition = "AttentionBias")]
[LayerTensor("KProj", "model.layers.{layer}.self_attn.k_proj.weight", "KvDim", "HiddenSize", Quantizable = true)]
[LayerTensor("KProjBias", "model.layers.{layer}.self_attn.k_proj.bias", "KvDim", Condition = "AttentionBias")]
[LayerTensor("VProj", "model.layers.{layer}.self_attn.v_proj.weight", "KvDim", "HiddenSize", Quantizable = true)]
[LayerTensor("VProjBias", "model.layers.{layer}.self_attn.v_proj.bias", "KvDim", Condition = "AttentionBias")]
[LayerTensor("OProj", "model.layers.{layer}.self_attn.o_proj.weight", "HiddenSize", "QDim", Quantizable = true)]
[LayerTensor("OProjBias", "model.layers.{layer}.self_attn.o_proj.bias", "HiddenSize", Condition = "AttentionBias")]
[LayerTensor("PostAttentionLayerNorm", "model.layers.{layer}.post_attention_layernorm.weight", "HiddenSize")]
[LayerTensor("GateProj", "model.layers.{layer}.mlp.gate_proj.weight", "IntermediateSize", "HiddenSize", Quantizable = true)]
[LayerTensor("GateProjBias", "model.layers.{layer}.mlp.gate_proj.bias", "IntermediateSize", Condition = "MlpBias")]
[LayerTensor("UpProj", "model.layers.{layer}.mlp.up_proj.weight", "IntermediateSize", "HiddenSize", Quantizable = true)]
[LayerTensor("UpProjBias", "model.layers.{layer}.mlp.up_proj.bias", "IntermediateSize", Condition = "MlpBias")]
[LayerTensor("DownProj", "model.layers.{layer}.mlp.down_proj.weight", "HiddenSize", "IntermediateSize", Quantizable = true)]
[LayerTensor("DownProjBias", "model.layers.{layer}.mlp.down_proj.bias", "HiddenSize", Condition = "MlpBias")]
[GlobalTensor("Norm", "model.norm.weight", "HiddenSize")]
[GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "HiddenSize", Condition = "!TieWordEmbeddings", TiedTo = "EmbedTokens")]
public sealed partial class LlamaArchitecture;
