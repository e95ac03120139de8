using System.Text;

namespace SqueezeNative.Runtime.Evaluation;

/// <summary>
/// The few pieces of Python 3 text semantics the reference data pipelines rely on, so that the
/// strings we tokenize are byte-identical to the ones the reference (HF <c>datasets</c> scripts,
/// GPTQ / SqueezeLLM <c>datautils.py</c>) tokenized.
/// </summary>
internal static class PythonText
{
    /// <summary>
    /// Strict UTF-8 like Python's <c>encoding="utf-8"</c>: invalid bytes are an error, and a leading
    /// byte-order mark is kept as U+FEFF (Python's "utf-8" codec, unlike "utf-8-sig", keeps it;
    /// <see cref="Encoding.GetString(byte[])"/> never strips a preamble either).
    /// </summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// <c>str.isspace()</c> for one UTF-16 unit: Python's <c>Py_UNICODE_ISSPACE</c> (Unicode
    /// White_Space plus the bidi separators). It differs from <see cref="char.IsWhiteSpace(char)"/>
    /// by U+001C..U+001F (FS, GS, RS, US), which Python strips and .NET does not. Every such
    /// character is in the BMP, so a surrogate is never whitespace.
    /// </summary>
    public static bool IsWhitespace(char c) => c switch
    {
        >= '\t' and <= '\r' => true,        // \t \n \v \f \r
        >= '\u001C' and <= '\u001F' => true, // FS GS RS US
        ' ' or '\u0085' or '\u00A0' or '\u1680' => true,
        >= '\u2000' and <= '\u200A' => true,
        '\u2028' or '\u2029' or '\u202F' or '\u205F' or '\u3000' => true,
        _ => false,
    };

    /// <summary><c>str.strip()</c> with no argument.</summary>
    public static string Strip(string text)
    {
        int start = 0, end = text.Length;
        while (start < end && IsWhitespace(text[start])) start++;
        while (end > start && IsWhitespace(text[end - 1])) end--;
        return text.Substring(start, end - start);
    }

    /// <summary>True when <c>s.strip()</c> would be empty, without allocating.</summary>
    public static bool IsBlank(string text)
    {
        foreach (var c in text)
            if (!IsWhitespace(c)) return false;
        return true;
    }

    /// <summary><c>str.split()</c> with no argument: runs of whitespace separate, no empty items.</summary>
    public static List<string> Split(string text)
    {
        var parts = new List<string>();
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && IsWhitespace(text[i])) i++;
            int start = i;
            while (i < text.Length && !IsWhitespace(text[i])) i++;
            if (i > start) parts.Add(text.Substring(start, i - start));
        }
        return parts;
    }

    /// <summary>
    /// <c>open(path, encoding="utf-8").read()</c>: strict UTF-8 and universal newlines ("\r\n" and a
    /// lone "\r" both read as "\n"). Missing, unreadable or non-UTF-8 files throw
    /// <see cref="EvalDataException"/> naming the file.
    /// </summary>
    public static string ReadAllText(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new EvalDataException(path, "file not found", inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EvalDataException(path, $"cannot read the file: {e.Message}", inner: e);
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            var where = e.Index >= 0 ? $" at byte {e.Index}" : "";
            throw new EvalDataException(path, $"not valid UTF-8{where}", inner: e);
        }
        return TranslateNewlines(text);
    }

    /// <summary>Python's universal-newline input translation: "\r\n" → "\n", then "\r" → "\n".</summary>
    public static string TranslateNewlines(string text)
    {
        if (text.IndexOf('\r') < 0) return text;
        return text.Replace("\r\n", "\n").Replace('\r', '\n');
    }

    /// <summary>
    /// <c>for row in file</c> over text already read by <see cref="ReadAllText"/>: each row keeps
    /// its "\n"; the last row has none when the file does not end with one; an empty file has no
    /// rows. Only "\n" ends a row (text-mode file iteration, unlike <c>str.splitlines</c>, does not
    /// split on U+2028, U+0085 and the like).
    /// </summary>
    public static IEnumerable<string> Rows(string text)
    {
        int start = 0;
        while (start < text.Length)
        {
            int newline = text.IndexOf('\n', start);
            int end = newline < 0 ? text.Length : newline + 1;
            yield return text.Substring(start, end - start);
            start = end;
        }
    }
}
