using System.Buffers;
using System.Text;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// A piece of (normalized) input on its way to the model. <see cref="AtInputStart"/> says whether it
/// begins at offset 0 of the original text, which Metaspace's "first" prepend scheme asks.
/// </summary>
internal readonly record struct TextPiece(string Text, bool AtInputStart);

/// <summary>
/// A tokenizer.json "pre_tokenizer": splits a piece into the words the model tokenizes one by one.
/// Empty words are never emitted (Hugging Face drops them).
/// </summary>
internal interface IPreTokenizer
{
    void Split(TextPiece piece, List<TextPiece> words);
}

/// <summary><c>Sequence</c>: each pre-tokenizer applied to every word of the previous one.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> preTokenizers) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> words)
    {
        var current = new List<TextPiece> { piece };
        var next = new List<TextPiece>();
        foreach (var preTokenizer in preTokenizers)
        {
            next.Clear();
            foreach (var word in current)
                preTokenizer.Split(word, next);
            (current, next) = (next, current);
        }
        words.AddRange(current);
    }
}

/// <summary>
/// <c>ByteLevel</c> (GPT-2, OPT): optionally a leading space, the GPT-2 pattern split (see
/// <see cref="Gpt2Splitter"/>), then each word's UTF-8 bytes spelled with <see cref="ByteLevelAlphabet"/>.
/// </summary>
internal sealed class ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> words)
    {
        var text = addPrefixSpace && !piece.Text.StartsWith(' ') ? " " + piece.Text : piece.Text;
        if (!useRegex)
        {
            if (text.Length > 0)
                words.Add(new TextPiece(ToByteLevel(text), piece.AtInputStart));
            return;
        }
        var matches = new List<(int Start, int Length)>();
        Gpt2Splitter.Split(text, matches);
        foreach (var (start, length) in matches)
            words.Add(new TextPiece(ToByteLevel(text.AsSpan(start, length)), piece.AtInputStart && start == 0));
    }

    /// <summary>The byte-level spelling of <paramref name="text"/>'s UTF-8 encoding.</summary>
    public static string ToByteLevel(ReadOnlySpan<char> text)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        var rentedBytes = byteCount > 256 ? ArrayPool<byte>.Shared.Rent(byteCount) : null;
        var rentedChars = byteCount > 256 ? ArrayPool<char>.Shared.Rent(byteCount) : null;
        var bytes = rentedBytes is null ? stackalloc byte[byteCount] : rentedBytes.AsSpan(0, byteCount);
        var chars = rentedChars is null ? stackalloc char[byteCount] : rentedChars.AsSpan(0, byteCount);
        Encoding.UTF8.GetBytes(text, bytes);
        for (var i = 0; i < byteCount; i++)
            chars[i] = ByteLevelAlphabet.ByteToChar[bytes[i]];
        var result = new string(chars);
        if (rentedBytes is not null)
            ArrayPool<byte>.Shared.Return(rentedBytes);
        if (rentedChars is not null)
            ArrayPool<char>.Shared.Return(rentedChars);
        return result;
    }
}

/// <summary>Where Metaspace puts a "▁" in front of a piece.</summary>
internal enum PrependScheme { Always, First, Never }

/// <summary>
/// <c>Metaspace</c> (SentencePiece as a pre-tokenizer): spaces become the replacement character, a
/// replacement is prepended per <see cref="PrependScheme"/>, and with <c>split</c> the text is cut
/// before every replacement character (Hugging Face's "merged with next").
/// </summary>
internal sealed class MetaspacePreTokenizer(char replacement, PrependScheme prependScheme, bool split) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> words)
    {
        var text = piece.Text.Replace(' ', replacement);
        var prepend = prependScheme switch
        {
            PrependScheme.Always => true,
            PrependScheme.First => piece.AtInputStart,
            _ => false,
        };
        if (prepend && !text.StartsWith(replacement))
            text = replacement + text;

        if (!split)
        {
            if (text.Length > 0)
                words.Add(piece with { Text = text });
            return;
        }
        var start = 0;
        for (var i = 1; i <= text.Length; i++)
        {
            if (i == text.Length || text[i] == replacement)
            {
                words.Add(new TextPiece(text[start..i], piece.AtInputStart && start == 0));
                start = i;
            }
        }
    }
}

/// <summary>How a <c>Split</c> pre-tokenizer treats the matches of its pattern.</summary>
internal enum SplitDelimiterBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous }

/// <summary>
/// <c>Split</c>: cuts at the matches of a pattern; the behavior says what becomes of the matches,
/// and <c>invert</c> swaps matches and the text between them. Mirrors tokenizers'
/// <c>NormalizedString::split</c> rules.
/// </summary>
internal sealed class SplitPreTokenizer(TextPattern pattern, SplitDelimiterBehavior behavior, bool invert) : IPreTokenizer
{
    public void Split(TextPiece piece, List<TextPiece> words)
    {
        var text = piece.Text;
        var found = new List<(int Start, int Length)>();
        pattern.FindMatches(text, found);

        // The text tiled into (start, end, isMatch) segments.
        var segments = new List<(int Start, int End, bool IsMatch)>();
        var previous = 0;
        foreach (var (start, length) in found)
        {
            if (start > previous)
                segments.Add((previous, start, invert));
            segments.Add((start, start + length, !invert));
            previous = start + length;
        }
        if (previous < text.Length)
            segments.Add((previous, text.Length, invert));

        var kept = new List<(int Start, int End)>();
        switch (behavior)
        {
            case SplitDelimiterBehavior.Removed:
                foreach (var s in segments)
                    if (!s.IsMatch)
                        kept.Add((s.Start, s.End));
                break;
            case SplitDelimiterBehavior.Isolated:
                foreach (var s in segments)
                    kept.Add((s.Start, s.End));
                break;
            case SplitDelimiterBehavior.MergedWithPrevious:
            {
                var previousWasMatch = false;
                foreach (var s in segments)
                {
                    if (s.IsMatch && !previousWasMatch && kept.Count > 0)
                        kept[^1] = (kept[^1].Start, s.End);
                    else
                        kept.Add((s.Start, s.End));
                    previousWasMatch = s.IsMatch;
                }
                break;
            }
            case SplitDelimiterBehavior.MergedWithNext:
            {
                // Walk backwards: a match joins the segment after it unless that one is a match too.
                var nextWasMatch = false;
                for (var k = segments.Count - 1; k >= 0; k--)
                {
                    var s = segments[k];
                    if (s.IsMatch && !nextWasMatch && kept.Count > 0)
                        kept[^1] = (s.Start, kept[^1].End);
                    else
                        kept.Add((s.Start, s.End));
                    nextWasMatch = s.IsMatch;
                }
                kept.Reverse();
                break;
            }
            case SplitDelimiterBehavior.Contiguous:
            {
                var previousWasMatch = false;
                foreach (var s in segments)
                {
                    if (s.IsMatch == previousWasMatch && kept.Count > 0)
                        kept[^1] = (kept[^1].Start, s.End);
                    else
                        kept.Add((s.Start, s.End));
                    previousWasMatch = s.IsMatch;
                }
                break;
            }
        }

        foreach (var (start, end) in kept)
            if (end > start)
                words.Add(new TextPiece(text[start..end], piece.AtInputStart && start == 0));
    }
}
