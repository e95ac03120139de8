using System.Buffers;
using System.Globalization;
using System.Text;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// A hand-written matcher for GPT-2's pre-tokenization pattern, the one Hugging Face's ByteLevel
/// pre-tokenizer runs (with Oniguruma, over code points):
/// <code>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</code>
/// Why not .NET Regex: .NET matches UTF-16 code units, so a letter or digit outside the BMP (two
/// surrogates, category Cs) would fall into the "other" class and split differently from Hugging
/// Face. This scanner classifies whole code points and runs in one linear pass.
/// <para>
/// How each alternative maps to the code below, at a match start i:
/// 1. an ASCII apostrophe followed by s, t, m, d (2 chars) or re, ve, ll (3 chars);
/// 2–4. an optional U+0020 and then a maximal run of one class (letters, numbers, or "other" =
///    neither whitespace, letter nor number), the space only when the class run follows it;
/// 5. a whitespace run that reaches the end of the text, or otherwise the run minus its last code
///    point (the lookahead forbids ending right before a non-space), when that leaves at least one;
/// 6. else the whole whitespace run (one code point, followed by a non-space).
/// Every code point belongs to exactly one class, so the matches tile the text.
/// </para>
/// </summary>
internal static class Gpt2Splitter
{
    private enum CharClass : byte { Other, Letter, Number, Space }

    /// <summary>Class of every BMP code point (surrogates: Other; pairs are decoded first).</summary>
    private static readonly CharClass[] BmpClass = BuildBmpClasses();

    /// <summary>Appends (start, length) of each match to <paramref name="matches"/>, left to right.</summary>
    public static void Split(ReadOnlySpan<char> text, List<(int Start, int Length)> matches)
    {
        var i = 0;
        var n = text.Length;
        while (i < n)
        {
            var end = MatchAt(text, i);
            matches.Add((i, end - i));
            i = end;
        }
    }

    /// <summary>End (exclusive) of the match that starts at <paramref name="i"/>.</summary>
    private static int MatchAt(ReadOnlySpan<char> text, int i)
    {
        var n = text.Length;
        if (text[i] == '\'' && i + 1 < n)
        {
            var c1 = text[i + 1];
            if (c1 is 's' or 't' or 'm' or 'd')
                return i + 2;
            if (i + 2 < n)
            {
                var c2 = text[i + 2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
                    return i + 3;
            }
        }

        var start = i;
        if (text[i] == ' ' && i + 1 < n)
        {
            var afterSpace = ClassAt(text, i + 1, out _);
            if (afterSpace != CharClass.Space)
                return RunEnd(text, i + 1, afterSpace);
        }

        var cls = ClassAt(text, start, out var width);
        if (cls != CharClass.Space)
            return RunEnd(text, start, cls);

        // Whitespace: find the run and where its last code point begins.
        var lastStart = start;
        var pos = start + width;
        while (pos < n)
        {
            if (ClassAt(text, pos, out var w) != CharClass.Space)
                break;
            lastStart = pos;
            pos += w;
        }
        if (pos == n)
            return n;                                   // \s+(?!\S) at the end of the text
        return lastStart > start ? lastStart : pos;     // \s+(?!\S) backed off by one, else \s+
    }

    private static int RunEnd(ReadOnlySpan<char> text, int pos, CharClass cls)
    {
        var n = text.Length;
        while (pos < n)
        {
            if (ClassAt(text, pos, out var w) != cls)
                break;
            pos += w;
        }
        return pos;
    }

    private static CharClass ClassAt(ReadOnlySpan<char> text, int pos, out int width)
    {
        var c = text[pos];
        if (!char.IsSurrogate(c))
        {
            width = 1;
            return BmpClass[c];
        }
        if (Rune.DecodeFromUtf16(text[pos..], out var rune, out width) != OperationStatus.Done)
        {
            width = 1;
            return CharClass.Other;    // a lone surrogate; Encode replaces these before splitting
        }
        return Classify(Rune.GetUnicodeCategory(rune), isWhiteSpace: false);
    }

    private static CharClass[] BuildBmpClasses()
    {
        var table = new CharClass[0x10000];
        for (var c = 0; c < table.Length; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF)
                continue;
            table[c] = Classify(CharUnicodeInfo.GetUnicodeCategory(c), UnicodeWhiteSpace.IsWhiteSpace(c));
        }
        return table;
    }

    private static CharClass Classify(UnicodeCategory category, bool isWhiteSpace)
    {
        if (isWhiteSpace)
            return CharClass.Space;
        return category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber
                => CharClass.Number,
            _ => CharClass.Other,
        };
    }
}

/// <summary>
/// The Unicode White_Space property: what Oniguruma's and Rust's <c>\s</c> and Rust's
/// <c>char::is_whitespace</c> match. (.NET's char.IsWhiteSpace is the same set today, but spelling it
/// out keeps the tokenizer independent of runtime changes; no White_Space code point is outside the BMP.)
/// </summary>
internal static class UnicodeWhiteSpace
{
    public static bool IsWhiteSpace(int c) => c switch
    {
        >= 0x09 and <= 0x0D => true,
        0x20 or 0x85 or 0xA0 or 0x1680 => true,
        >= 0x2000 and <= 0x200A => true,
        0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        _ => false,
    };
}
