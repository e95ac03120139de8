namespace SqueezeNative.Runtime.Architectures;

/// <summary>
/// OPT (HF OPTForCausalLM), as transformers' modeling_opt builds it:
/// <list type="bullet">
/// <item>LayerNorm with weight and bias wherever `layer_norm_elementwise_affine` (the default);
/// pre-norm except opt-350m (`do_layer_norm_before` false: the same tensors, applied after the
/// residual add).</item>
/// <item>Biases on q/k/v/out_proj and fc1/fc2 when `enable_bias` (the default).</item>
/// <item>Learned positions: the table has max_position_embeddings + 2 rows and position p reads
/// row p + 2 (fairseq's padding offset).</item>
/// <item>project_in / project_out (no bias) only when word_embed_proj_dim ≠ hidden_size
/// (opt-350m): embeddings and the LM head are word_embed_proj_dim wide.</item>
/// <item>The decoder's final LayerNorm exists only when `do_layer_norm_before` and not
/// `_remove_final_layer_norm`.</item>
/// </list>
/// ModelConfig.WordEmbedProjDim must hold hidden_size when config.json omits the key (HF default).
/// </summary>
[Architecture("opt", HfClasses = ["OPTForCausalLM"],
    Norm = NormKind.LayerNorm, Activation = ActivationKind.ReLU, Mlp = MlpKind.TwoLayer,
    Positional = PositionalKind.Learned, PositionOffset = 2, Attention = AttentionKind.MultiHead,
    Biases = BiasSites.AttentionProjections | BiasSites.MlpProjections | BiasSites.Norms)]
[GlobalTensor("EmbedTokens", "model.decoder.embed_tokens.weight", "VocabSize", "WordEmbedProjDim")]
[GlobalTensor("EmbedPositions", "model.decoder.embed_positions.weight", "OptPositionRows", "HiddenSize")]
[GlobalTensor("ProjectIn", "model.decoder.project_in.weight", "HiddenSize", "WordEmbedProjDim", Condition = "WordEmbedProjDim != HiddenSize")]
[LayerTensor("SelfAttnLayerNorm", "model.decoder.layers.{layer}.self_attn_layer_norm.weight", "HiddenSize", Condition = "LayerNormElementwiseAffine")]
[LayerTensor("SelfAttnLayerNormBias", "model.decoder.layers.{layer}.self_attn_layer_norm.bias", "HiddenSize", Condition = "LayerNormElementwiseAffine")]
[LayerTensor("QProj", "model.decoder.layers.{layer}.self_attn.q_proj.weight", "HiddenSize", "HiddenSize", Quantizable = true)]
[LayerTensor("QProjBias", "model.decoder.layers.{layer}.self_attn.q_proj.bias", "HiddenSize", Condition = "EnableBias")]
[LayerTensor("KProj", "model.decoder.layers.{layer}.self_attn.k_proj.weight", "HiddenSize", "HiddenSize", Quantizable = true)]
[LayerTensor("KProjBias", "model.decoder.layers.{layer}.self_attn.k_proj.bias", "HiddenSize", Condition = "EnableBias")]
[LayerTensor("VProj", "model.decoder.layers.{layer}.self_attn.v_proj.weight", "HiddenSize", "HiddenSize", Quantizable = true)]
[LayerTensor("VProjBias", "model.decoder.layers.{layer}.self_attn.v_proj.bias", "HiddenSize", Condition = "EnableBias")]
[LayerTensor("OutProj", "model.decoder.layers.{layer}.self_attn.out_proj.weight", "HiddenSize", "HiddenSize", Quantizable = true)]
[LayerTensor("OutProjBias", "model.decoder.layers.{layer}.self_attn.out_proj.bias", "HiddenSize", Condition = "EnableBias")]
[LayerTensor("FinalLayerNorm", "model.decoder.layers.{layer}.final_layer_norm.weight", "HiddenSize", Condition = "LayerNormElementwiseAffine")]
[LayerTensor("FinalLayerNormBias", "model.decoder.layers.{layer}.final_layer_norm.bias", "HiddenSize", Condition = "LayerNormElementwiseAffine")]
[LayerTensor("Fc1", "model.decoder.layers.{layer}.fc1.weight", "IntermediateSize", "HiddenSize", Quantizable = true)]
[LayerTensor("Fc1Bias", "model.decoder.layers.{layer}.fc1.bias", "IntermediateSize", Condition = "EnableBias")]
[LayerTensor("Fc2", "model.decoder.layers.{layer}.fc2.weight", "HiddenSize", "IntermediateSize", Quantizable = true)]
[LayerTensor("Fc2Bias", "model.decoder.layers.{layer}.fc2.bias", "HiddenSize", Condition = "EnableBias")]
[GlobalTensor("FinalLayerNorm", "model.decoder.final_layer_norm.weight", "HiddenSize",
    Condition = "DoLayerNormBefore && !RemoveFinalLayerNorm && LayerNormElementwiseAffine")]
[GlobalTensor("FinalLayerNormBias", "model.decoder.final_layer_norm.bias", "HiddenSize",
    Condition = "DoLayerNormBefore && !RemoveFinalLayerNorm && LayerNormElementwiseAffine")]
[GlobalTensor("ProjectOut", "model.decoder.project_out.weight", "WordEmbedProjDim", "HiddenSize", Condition = "WordEmbedProjDim != HiddenSize")]
[GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "WordEmbedProjDim", Condition = "!TieWordEmbeddings", TiedTo = "EmbedTokens")]
public sealed partial class OptArchitecture;
