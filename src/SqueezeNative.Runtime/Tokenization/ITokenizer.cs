namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// A text ⇄ token-id mapping that reproduces the Hugging Face tokenizer of a model folder id for id.
/// Implementations are immutable after loading and safe to use from several threads at once.
/// </summary>
public interface ITokenizer
{
    /// <summary>
    /// Token ids of <paramref name="text"/>. With <paramref name="addSpecialTokens"/> the model's
    /// post-processing applies (e.g. LLaMA's leading <c>&lt;s&gt;</c>, OPT's leading <c>&lt;/s&gt;</c>),
    /// exactly as <c>tokenizer(text)["input_ids"]</c> does in transformers.
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens = true);

    /// <summary>
    /// The text of <paramref name="ids"/>, as <c>tokenizer.decode(ids, skip_special_tokens)</c> gives it.
    /// Ids the tokenizer does not know are skipped, as Hugging Face does.
    /// </summary>
    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false);

    /// <summary>The vocabulary entry of <paramref name="id"/> (e.g. "▁the", "Ġthe", "&lt;0x0A&gt;").</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id has no token.</exception>
    string IdToToken(int id);

    /// <summary>Number of ids the tokenizer can produce: the largest id plus one.</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id from the model's tokenizer/model config, if it has one.</summary>
    int? BosTokenId { get; }

    /// <summary>Ids that end generation (generation_config.json, tokenizer_config.json, config.json).</summary>
    IReadOnlyList<int> EosTokenIds { get; }
}
