namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// Streams the text of ids generated one at a time. <see cref="Add"/> returns only text that later
/// ids cannot change: it holds back while the decoded tail ends in U+FFFD, i.e. while a UTF-8
/// character or a run of byte-fallback tokens is still incomplete, and never returns half a
/// surrogate pair. <see cref="Flush"/> returns what is left when the stream ends.
/// <para>
/// How (the scheme of tokenizers' DecodeStream): decode a short window of ids — those of the
/// previous emission plus the new ones — and return what extends the window's previous text.
/// Keeping the previous emission's ids as context makes context-dependent decoders agree with a
/// full decode: LLaMA's Strip removes the leading space of the window's first token only, which is
/// context, and byte-level runs are never cut in the middle. For the supported decoders the text
/// streamed equals <c>Decode(allIds)</c>; the one exception is a byte-fallback run that was valid
/// UTF-8, was streamed, and is then continued by more byte tokens into an invalid run, which a full
/// decode renders as U+FFFD throughout — streamed text is never taken back.
/// </para>
/// Not thread-safe: one instance per stream.
/// </summary>
public sealed class IncrementalDecoder
{
    /// <summary>
    /// Ids held back at most while the text ends in U+FFFD. An incomplete UTF-8 character needs at
    /// most 3 more bytes (each id carries at least one), so a U+FFFD that survives this many ids is
    /// permanent (invalid bytes, or a real U+FFFD) and is streamed rather than held forever.
    /// </summary>
    private const int MaxHeldIds = 8;

    private readonly ITokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<int> _window = [];
    /// <summary>Decoded text of the window's first <see cref="_prefixCount"/> ids (already streamed).</summary>
    private string _prefix = "";
    private int _prefixCount;

    public IncrementalDecoder(ITokenizer tokenizer, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>
    /// Ids already shown to the reader (a prompt) whose text must not be streamed again but
    /// which decide how the next ids read: a continuation keeps the space that a decode of the
    /// new ids alone would strip (LLaMA's Strip decoder), as a full decode of prompt + output does.
    /// Only the last few ids matter; call before the first <see cref="Add"/>.
    /// </summary>
    public void SetContext(ReadOnlySpan<int> ids)
    {
        const int contextIds = 4;
        _window.Clear();
        _window.AddRange(ids[Math.Max(0, ids.Length - contextIds)..]);
        _prefixCount = _window.Count;
        _prefix = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_window), _skipSpecialTokens);
    }

    /// <summary>Feeds one id; returns the newly completed text ("" when none is complete yet).</summary>
    public string Add(int id)
    {
        _window.Add(id);
        var text = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_window), _skipSpecialTokens);
        if (text.Length <= _prefix.Length)
            return "";
        var incomplete = text.EndsWith('\uFFFD') || char.IsHighSurrogate(text[^1]);
        if (incomplete && _window.Count - _prefixCount <= MaxHeldIds)
            return "";

        var added = NewText(text);
        // The ids just streamed become the next window's context.
        _window.RemoveRange(0, _prefixCount);
        _prefixCount = _window.Count;
        _prefix = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_window), _skipSpecialTokens);
        return added;
    }

    /// <summary>Ends the stream: returns the held-back text (e.g. a trailing incomplete character as U+FFFD).</summary>
    public string Flush()
    {
        var text = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_window), _skipSpecialTokens);
        var rest = text.Length > _prefix.Length ? NewText(text) : "";
        _window.Clear();
        _prefix = "";
        _prefixCount = 0;
        return rest;
    }

    /// <summary>The part of <paramref name="text"/> after the already streamed prefix.</summary>
    private string NewText(string text)
    {
        if (text.StartsWith(_prefix, StringComparison.Ordinal))
            return text[_prefix.Length..];
        // The context decodes differently now (the byte-fallback exception above): keep what was
        // streamed and continue after the longest common prefix.
        var common = 0;
        while (common < _prefix.Length && common < text.Length && text[common] == _prefix[common])
            common++;
        return text[Math.Max(common, _prefix.Length)..];
    }
}
