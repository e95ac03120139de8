using System.Text.RegularExpressions;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// A tokenizer.json pattern: <c>{"String": "..."}</c> (a literal) or <c>{"Regex": "..."}</c>.
/// Regexes run on .NET's engine, which agrees with Oniguruma on the patterns tokenizers use, with
/// one known difference: .NET classifies UTF-16 code units, so a letter or digit outside the BMP
/// is not <c>\p{L}</c>/<c>\p{N}</c> there. Syntax .NET lacks (e.g. possessive quantifiers) fails
/// at load with a <see cref="ModelFormatException"/>, never at encode time.
/// </summary>
internal sealed class TextPattern
{
    private readonly string? _literal;
    private readonly Regex? _regex;

    private TextPattern(string? literal, Regex? regex)
    {
        _literal = literal;
        _regex = regex;
    }

    public static TextPattern Literal(string literal) => new(literal, null);

    /// <exception cref="ArgumentException">The pattern is not valid .NET regex syntax.</exception>
    public static TextPattern FromRegex(string pattern) =>
        new(null, new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled));

    /// <summary>Appends (start, length) of each non-overlapping match, left to right.</summary>
    public void FindMatches(string text, List<(int Start, int Length)> matches)
    {
        if (_literal is not null)
        {
            if (_literal.Length == 0)
                return;
            var from = 0;
            while (from <= text.Length - _literal.Length)
            {
                var at = text.IndexOf(_literal, from, StringComparison.Ordinal);
                if (at < 0)
                    break;
                matches.Add((at, _literal.Length));
                from = at + _literal.Length;
            }
            return;
        }
        for (var m = _regex!.Match(text); m.Success; m = m.NextMatch())
            matches.Add((m.Index, m.Length));
    }

    /// <summary>Every match replaced by <paramref name="content"/>, taken literally (no $-substitutions).</summary>
    public string ReplaceAll(string text, string content)
    {
        if (_literal is not null)
            return _literal.Length == 0 ? text : text.Replace(_literal, content, StringComparison.Ordinal);
        return _regex!.Replace(text, _ => content);
    }
}
