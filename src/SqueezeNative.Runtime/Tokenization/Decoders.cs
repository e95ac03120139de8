using System.Text;
using System.Text.Unicode;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// A tokenizer.json "decoder": turns the token strings of some ids back into text. Like tokenizers'
/// <c>decode_chain</c>, each step maps a list of strings to a list of strings; the text is their
/// concatenation at the end.
/// </summary>
internal interface ITokenDecoder
{
    List<string> DecodeChain(List<string> tokens);
}

/// <summary><c>Sequence</c>: the decoders in order.</summary>
internal sealed class SequenceDecoder(IReadOnlyList<ITokenDecoder> decoders) : ITokenDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        foreach (var decoder in decoders)
            tokens = decoder.DecodeChain(tokens);
        return tokens;
    }
}

/// <summary>
/// <c>ByteLevel</c>: every token's characters back to bytes through <see cref="ByteLevelAlphabet"/>
/// (a token with a character outside the alphabet, e.g. an added "&lt;/s&gt;", contributes its own
/// UTF-8), then all bytes decoded as UTF-8 with U+FFFD for each maximal invalid subsequence
/// (Rust's <c>from_utf8_lossy</c> and .NET's decoder follow the same Unicode practice).
/// </summary>
internal sealed class ByteLevelDecoder : ITokenDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            var allMapped = true;
            foreach (var c in token)
            {
                if (ByteLevelAlphabet.CharToByte(c) < 0)
                {
                    allMapped = false;
                    break;
                }
            }
            if (allMapped)
            {
                foreach (var c in token)
                    bytes.Add((byte)ByteLevelAlphabet.CharToByte(c));
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(token));
            }
        }
        return [Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes))];
    }
}

/// <summary>
/// <c>ByteFallback</c>: runs of "&lt;0xNN&gt;" tokens become the UTF-8 text of their bytes; a run
/// that is not valid UTF-8 becomes one U+FFFD per byte (tokenizers' rule, not the lossy one).
/// </summary>
internal sealed class ByteFallbackDecoder : ITokenDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var pending = new List<byte>();
        foreach (var token in tokens)
        {
            if (TryParseByteToken(token, out var value))
            {
                pending.Add(value);
                continue;
            }
            Flush(pending, output);
            output.Add(token);
        }
        Flush(pending, output);
        return output;
    }

    /// <summary>"&lt;0xNN&gt;" with two hex digits.</summary>
    public static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        if (token.Length != 6 || !token.StartsWith("<0x", StringComparison.Ordinal) || token[5] != '>')
            return false;
        return byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
    }

    private static void Flush(List<byte> pending, List<string> output)
    {
        if (pending.Count == 0)
            return;
        var bytes = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pending);
        if (Utf8.IsValid(bytes))
            output.Add(Encoding.UTF8.GetString(bytes));
        else
            for (var i = 0; i < pending.Count; i++)
                output.Add("\uFFFD");
        pending.Clear();
    }
}

/// <summary><c>Fuse</c>: all tokens joined into one string.</summary>
internal sealed class FuseDecoder : ITokenDecoder
{
    public List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}

/// <summary>
/// <c>Strip</c>: from every token, up to <c>start</c> leading and <c>stop</c> trailing copies of the
/// content character (LLaMA: the one space its "▁" prefix leaves at the start of the text).
/// </summary>
internal sealed class StripDecoder(char content, int start, int stop) : ITokenDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        foreach (var token in tokens)
        {
            var from = 0;
            while (from < start && from < token.Length && token[from] == content)
                from++;
            var to = token.Length;
            for (var k = 0; k < stop && to > from && token[to - 1] == content; k++)
                to--;
            output.Add(from == 0 && to == token.Length ? token : token[from..to]);
        }
        return output;
    }
}

/// <summary><c>Replace</c>: in every token, each match of the pattern replaced by the content ("▁" → " ").</summary>
internal sealed class ReplaceDecoder(TextPattern pattern, string content) : ITokenDecoder
{
    public List<string> DecodeChain(List<string> tokens) =>
        tokens.ConvertAll(token => pattern.ReplaceAll(token, content));
}

/// <summary>
/// <c>Metaspace</c>: the replacement character becomes a space, except in the first token where,
/// unless the prepend scheme is "never", it is removed (it stood for the prepended space).
/// </summary>
internal sealed class MetaspaceDecoder(char replacement, PrependScheme prependScheme) : ITokenDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            output.Add(i == 0 && prependScheme != PrependScheme.Never
                ? token.Replace(replacement.ToString(), "", StringComparison.Ordinal)
                : token.Replace(replacement, ' '));
        }
        return output;
    }
}
