namespace SqueezeNative.Generators.Tests;

/// <summary>Architecture descriptions written for the tests.</summary>
internal static class Samples
{
    /// <summary>
    /// A made-up architecture that uses every operator of the shape and condition language,
    /// a conditional quantizable linear, a tied tensor and internal accessibility.
    /// </summary>
    public static readonly SourceFile ExpressionSample = new("Samples/ExpressionSampleArchitecture.cs", """
        using SqueezeNative.Runtime.Architectures;

        namespace Samples.Expressions;

        [Architecture("expression-sample", HfClasses = ["SampleForCausalLM", "SampleLMHeadModel"],
            Norm = NormKind.LayerNorm, Activation = ActivationKind.GeLU, Mlp = MlpKind.TwoLayer,
            Positional = PositionalKind.Learned, PositionOffset = 2, Attention = AttentionKind.MultiHead,
            Biases = BiasSites.Norms)]
        [GlobalTensor("EmbedTokens", "transformer.wte.weight", "VocabSize", "HiddenSize")]
        [GlobalTensor("EmbedPositions", "transformer.wpe.weight", "MaxPositions + 2", "HiddenSize")]
        [LayerTensor("Attention", "transformer.h.{layer}.attn.c_attn.weight", "3 * (NumHeads * (HiddenSize / NumHeads))", "HiddenSize", Quantizable = true)]
        [LayerTensor("HeadScale", "transformer.h.{layer}.attn.head_scale", "NumHeads", "HiddenSize / NumHeads - (HeadDim - HeadDim)",
            Condition = "!(AttentionBias || MlpBias) && NumKvHeads == NumHeads")]
        [LayerTensor("Norm", "transformer.h.{layer}.ln.weight", "HiddenSize")]
        [LayerTensor("NormBias", "transformer.h.{layer}.ln.bias", "HiddenSize", Condition = "EnableBias == DoLayerNormBefore")]
        [LayerTensor("Mlp", "transformer.h.{layer}.mlp.weight", "IntermediateSize", "HiddenSize", Quantizable = true,
            Condition = "IntermediateSize >= 2 * HiddenSize")]
        [GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "HiddenSize", Condition = "!TieWordEmbeddings", TiedTo = "EmbedTokens")]
        internal sealed partial class ExpressionSampleArchitecture;
        """);

    public const string TinyPath = "Samples/TinyArchitecture.cs";

    public const string TinyTraits =
        "HfClasses = [\"TinyForCausalLM\"], Norm = NormKind.RmsNorm, Activation = ActivationKind.SiLU, Mlp = MlpKind.Gated, " +
        "Positional = PositionalKind.Rope, Attention = AttentionKind.GroupedQuery, Biases = BiasSites.None";

    public const string TinyTensors = """
        [GlobalTensor("EmbedTokens", "model.embed_tokens.weight", "VocabSize", "HiddenSize")]
        [LayerTensor("QProj", "model.layers.{layer}.self_attn.q_proj.weight", "QDim", "HiddenSize", Quantizable = true)]
        [GlobalTensor("LmHead", "lm_head.weight", "VocabSize", "HiddenSize", Condition = "!TieWordEmbeddings", TiedTo = "EmbedTokens")]
        """;

    public const string TinyClass = "public sealed partial class TinyArchitecture;";

    /// <summary>A small valid description, with any part replaced.</summary>
    public static string Tiny(string? tensors = null, string? architecture = null, string? declaration = null) => $$"""
        using SqueezeNative.Runtime.Architectures;

        namespace Samples;

        {{architecture ?? $"[Architecture(\"tiny\", {TinyTraits})]"}}
        {{tensors ?? TinyTensors}}
        {{declaration ?? TinyClass}}
        """;
}
