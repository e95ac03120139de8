using System.Buffers;
using System.Globalization;
using System.Text;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// An entry of tokenizer.json's "added_tokens" (or a special token named by tokenizer_config.json):
/// matched in the input before anything else and emitted as one id.
/// </summary>
/// <param name="Special">Skipped by Decode(skipSpecialTokens: true).</param>
/// <param name="Normalized">Matched against the normalized text (its content normalized too) rather than the raw input.</param>
/// <param name="LStrip">Swallows the whitespace on its left.</param>
/// <param name="RStrip">Swallows the whitespace on its right.</param>
/// <param name="SingleWord">Only matches when not glued to a word character on either side.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized = false,
    bool LStrip = false, bool RStrip = false, bool SingleWord = false);

/// <summary>A piece of input after added-token extraction: either an added token's id, or text to tokenize.</summary>
internal readonly record struct InputSegment(string Text, int AddedTokenId, bool AtInputStart)
{
    public bool IsAddedToken => AddedTokenId >= 0;
}

/// <summary>
/// Splits input on added tokens exactly as tokenizers' <c>AddedVocabulary::extract_and_normalize</c>:
/// first the raw text on the non-normalized tokens, then each remaining piece is normalized and split
/// on the normalized tokens. Matching is leftmost-longest and non-overlapping (its Aho–Corasick
/// mode); a single_word match glued to a word is dropped, lstrip/rstrip widen a match over whitespace.
/// </summary>
internal sealed class AddedVocabulary
{
    private readonly TokenMatcher _rawMatcher;
    private readonly TokenMatcher _normalizedMatcher;

    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, INormalizer? normalizer)
    {
        // Hugging Face orders special tokens before the others; with leftmost-longest matching the
        // order only matters for duplicate contents, which are dropped here.
        var ordered = tokens.Where(t => t.Special).Concat(tokens.Where(t => !t.Special))
            .Where(t => t.Content.Length > 0)
            .DistinctBy(t => t.Content, StringComparer.Ordinal)
            .ToList();
        _rawMatcher = new TokenMatcher(ordered.Where(t => !t.Normalized).Select(t => (t.Content, t)));
        _normalizedMatcher = new TokenMatcher(ordered.Where(t => t.Normalized)
            .Select(t => (normalizer is null ? t.Content : normalizer.Normalize(t.Content), t)));
    }

    /// <summary>Appends the segments of <paramref name="text"/>; empty text pieces are dropped.</summary>
    public void ExtractAndNormalize(string text, INormalizer? normalizer, List<InputSegment> segments)
    {
        var rawPieces = new List<InputSegment>();
        _rawMatcher.Split(text, atInputStart: true, rawPieces);
        foreach (var piece in rawPieces)
        {
            if (piece.IsAddedToken)
            {
                segments.Add(piece);
                continue;
            }
            var normalized = normalizer is null ? piece.Text : normalizer.Normalize(piece.Text);
            _normalizedMatcher.Split(normalized, piece.AtInputStart, segments);
        }
    }

    /// <summary>Leftmost-longest matching of a fixed set of strings.</summary>
    private sealed class TokenMatcher
    {
        /// <summary>Candidates by first character, longest first.</summary>
        private readonly Dictionary<char, (string Pattern, AddedToken Token)[]> _byFirstChar;

        public TokenMatcher(IEnumerable<(string Pattern, AddedToken Token)> patterns)
        {
            _byFirstChar = patterns
                .Where(p => p.Pattern.Length > 0)
                .GroupBy(p => p.Pattern[0])
                .ToDictionary(g => g.Key, g => g.OrderByDescending(p => p.Pattern.Length).ToArray());
        }

        /// <summary>tokenizers' <c>find_matches</c> + <c>split_with_indices</c>, dropping empty pieces.</summary>
        public void Split(string text, bool atInputStart, List<InputSegment> output)
        {
            if (text.Length == 0)
                return;
            if (_byFirstChar.Count == 0)
            {
                output.Add(new InputSegment(text, -1, atInputStart));
                return;
            }
            var pieceStart = 0;
            var pos = 0;
            while (pos < text.Length)
            {
                if (!TryMatchAt(text, pos, out var token, out var matchLength))
                {
                    pos++;
                    continue;
                }
                var start = pos;
                var stop = pos + matchLength;
                pos = stop;   // the matcher resumes after the match (before any rstrip), even when it is discarded
                if (token.SingleWord)
                {
                    var spaceBefore = start == 0 || !EndsWithWordChar(text.AsSpan(0, start));
                    var spaceAfter = stop == text.Length || !StartsWithWordChar(text.AsSpan(stop));
                    if (!spaceBefore || !spaceAfter)
                        continue;
                }
                if (token.LStrip)
                {
                    var whitespaceStart = start;
                    while (whitespaceStart > 0 && UnicodeWhiteSpace.IsWhiteSpace(text[whitespaceStart - 1]))
                        whitespaceStart--;
                    start = Math.Max(whitespaceStart, pieceStart);
                }
                if (token.RStrip)
                {
                    while (stop < text.Length && UnicodeWhiteSpace.IsWhiteSpace(text[stop]))
                        stop++;
                }
                if (pieceStart < start)
                    output.Add(new InputSegment(text[pieceStart..start], -1, atInputStart && pieceStart == 0));
                output.Add(new InputSegment(text[start..stop], token.Id, atInputStart && start == 0));
                pieceStart = stop;
            }
            if (pieceStart < text.Length)
                output.Add(new InputSegment(text[pieceStart..], -1, atInputStart && pieceStart == 0));
        }

        private bool TryMatchAt(string text, int pos, out AddedToken token, out int length)
        {
            if (_byFirstChar.TryGetValue(text[pos], out var candidates))
            {
                foreach (var (pattern, candidate) in candidates)
                {
                    if (text.AsSpan(pos).StartsWith(pattern, StringComparison.Ordinal))
                    {
                        token = candidate;
                        length = pattern.Length;
                        return true;
                    }
                }
            }
            token = null!;
            length = 0;
            return false;
        }

        private static bool EndsWithWordChar(ReadOnlySpan<char> text) =>
            Rune.DecodeLastFromUtf16(text, out var rune, out _) == OperationStatus.Done && IsWordChar(rune);

        private static bool StartsWithWordChar(ReadOnlySpan<char> text) =>
            Rune.DecodeFromUtf16(text, out var rune, out _) == OperationStatus.Done && IsWordChar(rune);

        /// <summary>Rust regex's Unicode <c>\w</c>: Alphabetic, marks, decimal digits, connector punctuation, joiners.</summary>
        private static bool IsWordChar(Rune rune)
        {
            if (rune.Value is 0x200C or 0x200D || (rune.Value >= 0x24B6 && rune.Value <= 0x24E9))
                return true;
            return Rune.GetUnicodeCategory(rune) switch
            {
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                    or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
                    or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
                    or UnicodeCategory.EnclosingMark or UnicodeCategory.DecimalDigitNumber
                    or UnicodeCategory.ConnectorPunctuation => true,
                _ => false,
            };
        }
    }
}
