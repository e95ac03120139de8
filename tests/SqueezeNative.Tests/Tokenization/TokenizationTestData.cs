using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SqueezeNative.Runtime.Tokenization;

namespace SqueezeNative.Tests.Tokenization;

/// <summary>
/// Shared, lazily built inputs of the tokenizer tests: loaded tokenizers, the golden files of
/// shared/models/*, and the WikiText-2 evaluation string.
/// </summary>
internal static class TokenizationTestData
{
    /// <summary>sha256 of the joined WikiText-2 test string (shared/data/SOURCES.md).</summary>
    public const string WikiText2Sha256 = "696cca6b65a171b0a358a4be6732cdfdf2dd6164a32e20fd70e3c13fc4dfae83";

    private static readonly ConcurrentDictionary<string, BpeTokenizer> Tokenizers = new();
    private static readonly ConcurrentDictionary<string, JsonElement> JsonFiles = new();
    private static readonly Lazy<string> WikiText2Text = new(() => AssembleWikiText2(
        Path.Combine(TestPaths.Shared, "data", "wikitext2", "wiki.test.raw")));

    /// <summary>The tokenizer of a model or config folder, loaded once per test run.</summary>
    public static BpeTokenizer Tokenizer(string folder) => Tokenizers.GetOrAdd(folder, TokenizerLoader.Load);

    public static BpeTokenizer ModelTokenizer(string model) => Tokenizer(TestPaths.Model(model));

    /// <summary>shared/models/{model}/reference.json.</summary>
    public static JsonElement Reference(string model) => ReadJson(Path.Combine(TestPaths.Model(model), "reference.json"));

    /// <summary>shared/models/{model}/wikitext2_ids_head.json.</summary>
    public static JsonElement WikiTextHead(string model) => ReadJson(Path.Combine(TestPaths.Model(model), "wikitext2_ids_head.json"));

    /// <summary>The WikiText-2 test string exactly as the reference tokenized it.</summary>
    public static string WikiText2 => WikiText2Text.Value;

    public static int[] Ids(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToArray();

    /// <summary>
    /// The rows of wiki.test.raw as the HF `wikitext` dataset script yields them (each row keeps its
    /// "\n"; a row that is whitespace by Python's str.strip() becomes ""), joined with "\n\n".
    /// Private to the tests: Runtime's evaluation code owns the production version.
    /// </summary>
    private static string AssembleWikiText2(string rawPath)
    {
        var raw = File.ReadAllText(rawPath, Encoding.UTF8);
        var rows = new List<string>();
        var start = 0;
        while (start < raw.Length)
        {
            var newline = raw.IndexOf('\n', start);
            var end = newline < 0 ? raw.Length : newline + 1;
            var row = raw[start..end];
            rows.Add(row.All(IsPythonWhiteSpace) ? "" : row);
            start = end;
        }
        var text = string.Join("\n\n", rows);
        var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        if (sha != WikiText2Sha256)
            throw new InvalidOperationException($"WikiText-2 string from {rawPath} has sha256 {sha}, expected {WikiText2Sha256}");
        return text;
    }

    /// <summary>Python's str.isspace: .NET's white space plus the separators U+001C..U+001F.</summary>
    private static bool IsPythonWhiteSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    private static JsonElement ReadJson(string path) =>
        JsonFiles.GetOrAdd(path, p => JsonDocument.Parse(File.ReadAllBytes(p)).RootElement.Clone());
}
