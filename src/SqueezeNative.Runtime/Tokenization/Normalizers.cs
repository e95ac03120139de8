using System.Text;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>A tokenizer.json "normalizer": rewrites each piece of input text before pre-tokenization.</summary>
internal interface INormalizer
{
    string Normalize(string text);
}

/// <summary><c>Sequence</c>: the normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<INormalizer> normalizers) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (var normalizer in normalizers)
            text = normalizer.Normalize(text);
        return text;
    }
}

/// <summary><c>Prepend</c>: SentencePiece's "▁" in front of every non-empty piece.</summary>
internal sealed class PrependNormalizer(string prefix) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : prefix + text;
}

/// <summary><c>Replace</c>: every match of the pattern replaced by the content (LLaMA: " " → "▁").</summary>
internal sealed class ReplaceNormalizer(TextPattern pattern, string content) : INormalizer
{
    public string Normalize(string text) => pattern.ReplaceAll(text, content);
}

/// <summary><c>NFC</c>, <c>NFD</c>, <c>NFKC</c>, <c>NFKD</c>: Unicode normalization forms.</summary>
internal sealed class UnicodeFormNormalizer(NormalizationForm form) : INormalizer
{
    public string Normalize(string text) => text.IsNormalized(form) ? text : text.Normalize(form);

    /// <summary>
    /// Whether this process can normalize at all: with InvariantGlobalization (as the CLI is built)
    /// .NET's string.Normalize returns its input unchanged, which would tokenize silently wrong.
    /// </summary>
    public static bool IsAvailable(NormalizationForm form) => form switch
    {
        NormalizationForm.FormC => "e\u0301".Normalize(form) == "\u00e9",
        NormalizationForm.FormD => "\u00e9".Normalize(form) == "e\u0301",
        NormalizationForm.FormKC => "\ufb01\u00e9".Normalize(form) == "fi\u00e9",
        _ => "\ufb01\u00e9".Normalize(form) == "fie\u0301",
    };
}
