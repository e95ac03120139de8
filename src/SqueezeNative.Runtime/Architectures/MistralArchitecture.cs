namespace SqueezeNative.Runtime.Architectures;

/// <summary>
/// Mistral (HF MistralForCausalLM): LLaMA's layer with grouped-query attention as the rule and a
/// sliding attention window (query i sees keys j with i − sliding_window &lt; j ≤ i). transformers'
/// MistralAttention and MistralMLP have no biases.
/// </summary>
[Architecture("mistral", HfClasses = ["MistralForCausalLM"],
    Norm = NormKind.RmsNorm, Activation = ActivationKind.SiLU, Mlp = MlpKind.Gated,
    Positional = PositionalKind.Rope, Attention = AttentionKind.GroupedQuery, SlidingWindow = true,
    Biases = BiasSites.None)]
[GlobalTensor("EmbedTokens", "model.embed_tokens.weight", "VocabSize", "HiddenSize")]
[LayerTensor("InputLayerNorm", "model.layers.{layer}.input_layernorm.weight", "HiddenSize")]
[LayerTensor("QProj", "model.layers.{layer}.self_attn.q_proj.weight", "QDim", "HiddenSize", Quantizable = true)]
[LayerTensor("KProj", "model.layers.{layer}.self_attn.k_proj.weight", "KvDim", "HiddenSize", Quantizable = true)]
[LayerTensor("VProj", "model.layers.{layer}.self_attn.v_proj.weight", "KvDim", "HiddenSize", Quantizable = true)]
[LayerTensor("OProj", "model.layers.{layer}.self_attn.o_proj.weight", "HiddenSize", "QDim", Quantizable = true)]
[LayerTensor("PostAttentionLayerNorm", "model.layers.{layer}.post_attention_layernorm.weight", "HiddenSize")]
[LayerTensor("GateProj", "model.layers.{layer}.mlp.gate_proj.weight", "IntermediateSize", "HiddenSize", Quantizable = true)]
[LayerTensor("UpProj", "model.layers.{layer}.mlp.up_proj.weight", "IntermediateSize", "HiddenSize", Quantizable = true)]
[LayerTensor("DownProj", "model.layers.{layer}.mlp.down_proj.weight", "HiddenSize", "IntermediateSize", Quantizable = true)]
[GlobalTensor("Norm", "model.norm.weight", "HiddenSize")]
[GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "HiddenSize", Condition = "!TieWordEmbeddings", TiedTo = "EmbedTokens")]
public sealed partial class MistralArchitecture;
