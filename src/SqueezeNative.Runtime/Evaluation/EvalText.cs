using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace SqueezeNative.Runtime.Evaluation;

/// <summary>
/// Builds the evaluation strings exactly as the reference pipeline does (HF <c>datasets</c> scripts
/// + GPTQ/SqueezeLLM <c>datautils.py</c>; see shared/data/SOURCES.md), so that tokenizing them gives
/// the reference's token ids. The expected digests are constants here: a caller computes
/// <see cref="Sha256Hex(string)"/> of what it built and warns when it differs (different data,
/// different perplexities), rather than failing.
/// </summary>
public static class EvalText
{
    /// <summary>sha256 of the UTF-8 bytes of <see cref="WikiText2"/> for the canonical
    /// wikitext-2-raw-v1 test split (the string GPTQ tokenizes; also in reference.json).</summary>
    public const string WikiText2Sha256 = "696cca6b65a171b0a358a4be6732cdfdf2dd6164a32e20fd70e3c13fc4dfae83";

    /// <summary>Length of the canonical <see cref="WikiText2"/> string (it is all BMP, so UTF-16
    /// units = Python characters).</summary>
    public const int WikiText2Chars = 1_294_336;

    /// <summary>Rows of the canonical wiki.test.raw (= rows of the HF test split).</summary>
    public const int WikiText2Rows = 4358;

    /// <summary>sha256 of the canonical wiki.test.raw file bytes (the published digest).</summary>
    public const string WikiText2RawFileSha256 = "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08";

    /// <summary>sha256 of the UTF-8 bytes of <see cref="Ptb"/> for Mikolov's PTB test set
    /// (GPTQ <c>get_ptb_new</c>'s test string).</summary>
    public const string PtbSha256 = "900cfc61a7a63afcd086c5e1cce90554764eae65cb2ca9f5d4cac47be5f0f394";

    /// <summary>Length of the canonical <see cref="Ptb"/> string.</summary>
    public const int PtbChars = 442_422;

    /// <summary>sha256 of shared/data/c4/c4_validation_2k.jsonl (file bytes; 2000 documents).</summary>
    public const string C4ValidationFileSha256 = "495eeec67b113def07cf59a9fecb12003b7cc9a5bcfd877b4ec7640e57bf15b4";

    /// <summary>sha256 of shared/data/calib/calib.txt (file bytes = UTF-8 of the text, LF only).</summary>
    public const string CalibrationFileSha256 = "9748e4a3ba14420409c1422fd704c3ff8d36ab58f78bdee5626cb23ffc670024";

    /// <summary>
    /// The rows of a wikitext raw file as the HF <c>wikitext</c> dataset script yields them:
    /// <c>for row in open(path, encoding="utf-8")</c> (universal newlines, so CRLF files give the
    /// same rows as LF files); a row keeps its trailing "\n"; a row that is whitespace-only by
    /// Python's <c>str.strip</c> becomes "".
    /// </summary>
    public static IReadOnlyList<string> WikiTextRows(string rawPath)
    {
        var rows = new List<string>();
        foreach (var row in PythonText.Rows(PythonText.ReadAllText(rawPath)))
            rows.Add(PythonText.IsBlank(row) ? "" : row);
        return rows;
    }

    /// <summary>
    /// The WikiText-2 evaluation string: <c>"\n\n".join(rows)</c> of <see cref="WikiTextRows"/>.
    /// For the canonical file it has <see cref="WikiText2Chars"/> characters and sha256
    /// <see cref="WikiText2Sha256"/>.
    /// </summary>
    public static string WikiText2(string rawPath) => string.Join("\n\n", WikiTextRows(rawPath));

    /// <summary>
    /// The PTB evaluation string: <c>" ".join(row.strip() for row in open(path))</c>, with Python's
    /// <c>str.strip</c> whitespace (which includes U+001C..U+001F and U+0085). For the canonical
    /// file the sha256 is <see cref="PtbSha256"/>.
    /// </summary>
    public static string Ptb(string path)
    {
        var rows = PythonText.Rows(PythonText.ReadAllText(path)).Select(PythonText.Strip);
        return string.Join(" ", rows);
    }

    /// <summary>
    /// The <c>text</c> field of every document of a C4 JSON-lines file, in file order. Blank lines
    /// are skipped; a line that is not a JSON object with a string <c>text</c> is an error naming
    /// the file and line.
    /// </summary>
    public static IReadOnlyList<string> C4Documents(string jsonlPath)
    {
        var documents = new List<string>();
        int lineNumber = 0;
        foreach (var line in PythonText.Rows(PythonText.ReadAllText(jsonlPath)))
        {
            lineNumber++;
            if (PythonText.IsBlank(line)) continue;
            documents.Add(ParseC4Line(jsonlPath, lineNumber, line));
        }
        if (documents.Count == 0)
            throw new EvalDataException(jsonlPath, "no documents (the file is empty)");
        return documents;
    }

    private static string ParseC4Line(string path, int lineNumber, string line)
    {
        try
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                throw new EvalDataException(path, $"expected a JSON object, found {json.RootElement.ValueKind}", lineNumber);
            if (!json.RootElement.TryGetProperty("text", out var text))
                throw new EvalDataException(path, "the JSON object has no \"text\" field", lineNumber);
            if (text.ValueKind != JsonValueKind.String)
                throw new EvalDataException(path, $"\"text\" is a {text.ValueKind}, expected a string", lineNumber);
            return text.GetString()!;
        }
        catch (JsonException e)
        {
            throw new EvalDataException(path, $"malformed JSON: {e.Message}", lineNumber, e);
        }
    }

    /// <summary>
    /// A plain-text calibration file, read like Python's <c>open(path, encoding="utf-8").read()</c>
    /// (strict UTF-8, universal newlines). An empty or whitespace-only file is an error.
    /// </summary>
    public static string CalibrationText(string path)
    {
        var text = PythonText.ReadAllText(path);
        if (PythonText.IsBlank(text))
            throw new EvalDataException(path, "the calibration text is empty");
        return text;
    }

    /// <summary>Lower-case hex sha256 of the UTF-8 bytes of <paramref name="text"/>.</summary>
    public static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    /// <summary>Lower-case hex sha256 of a file's bytes; a missing file throws <see cref="EvalDataException"/>.</summary>
    public static string FileSha256Hex(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new EvalDataException(path, "file not found", inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EvalDataException(path, $"cannot read the file: {e.Message}", inner: e);
        }
    }

    /// <summary>
    /// Whether <paramref name="text"/> is the reference string with digest
    /// <paramref name="expectedSha256"/> (case-insensitive hex). <paramref name="actualSha256"/> is
    /// the digest of <paramref name="text"/>, for the warning when it is not.
    /// </summary>
    public static bool Verify(string text, string expectedSha256, out string actualSha256)
    {
        actualSha256 = Sha256Hex(text);
        return string.Equals(actualSha256, expectedSha256, StringComparison.OrdinalIgnoreCase);
    }
}
