namespace SqueezeNative.Runtime.Architectures;

/// <summary>
/// The traits of one architecture, as its description declares them. The generator builds one
/// per description; the decoder and the quantizer read it instead of branching on model_type.
/// </summary>
public sealed class ArchitectureInfo
{
    /// <summary>config.json `model_type`, e.g. "llama".</summary>
    public required string ModelType { get; init; }

    /// <summary>HF model classes (config.json `architectures`) this description serves.</summary>
    public required IReadOnlyList<string> HfClasses { get; init; }

    public required NormKind Norm { get; init; }
    public required ActivationKind Activation { get; init; }
    public required MlpKind Mlp { get; init; }
    public required PositionalKind Positional { get; init; }

    /// <summary>
    /// Row of the learned position table that holds position 0: OPT's table has
    /// MaxPositions + 2 rows and position p reads row p + 2 (fairseq reserved the first two).
    /// 0 for rotary embeddings.
    /// </summary>
    public required int PositionOffset { get; init; }

    public required AttentionKind Attention { get; init; }

    /// <summary>Attention may be limited to the last ModelConfig.SlidingWindow keys (Mistral).</summary>
    public required bool SlidingWindow { get; init; }

    /// <summary>Where checkpoints may carry biases (whether they do can depend on config.json).</summary>
    public required BiasSites Biases { get; init; }

    /// <summary>The LM head can be tied to the token embedding (ModelConfig.TieWordEmbeddings).</summary>
    public required bool TiedEmbeddings { get; init; }

    public override string ToString() => ModelType;
}
