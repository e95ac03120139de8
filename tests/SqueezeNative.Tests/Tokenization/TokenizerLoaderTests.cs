using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Tokenization;

namespace SqueezeNative.Tests.Tokenization;

/// <summary>
/// Small hand-written tokenizer files: what this implementation cannot reproduce exactly is rejected
/// naming the file and component; the supported components compose.
/// </summary>
public sealed class TokenizerLoaderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("squeeze-tok-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private const string MinimalBpeModel =
        """{"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}""";

    private string WriteTokenizerJson(string model, string normalizer = "null", string preTokenizer = "null",
        string decoder = "null", string postProcessor = "null")
    {
        var path = Path.Combine(_folder, "tokenizer.json");
        File.WriteAllText(path, $$"""
            {"version": "1.0", "added_tokens": [], "normalizer": {{normalizer}}, "pre_tokenizer": {{preTokenizer}},
             "post_processor": {{postProcessor}}, "decoder": {{decoder}}, "model": {{model}}}
            """);
        return path;
    }

    [Theory]
    [InlineData("WordPiece")]
    [InlineData("Unigram")]
    [InlineData("WordLevel")]
    public void UnsupportedModelType_IsRejectedNamingFileAndType(string type)
    {
        var path = WriteTokenizerJson($$"""{"type": "{{type}}", "vocab": {"a": 0}, "unk_token": "a"}""");
        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(_folder));
        Assert.Equal(path, error.FilePath);
        Assert.Contains(path, error.Message);
        Assert.Contains($"model type \"{type}\"", error.Message);
    }

    [Theory]
    [InlineData("normalizer", """{"type": "Lowercase"}""", "Lowercase")]
    [InlineData("pre_tokenizer", """{"type": "Whitespace"}""", "Whitespace")]
    [InlineData("decoder", """{"type": "WordPiece", "prefix": "##"}""", "WordPiece")]
    [InlineData("post_processor", """{"type": "Mystery"}""", "Mystery")]
    public void UnsupportedComponent_IsRejectedNamingIt(string component, string json, string type)
    {
        var path = component switch
        {
            "normalizer" => WriteTokenizerJson(MinimalBpeModel, normalizer: json),
            "pre_tokenizer" => WriteTokenizerJson(MinimalBpeModel, preTokenizer: json),
            "decoder" => WriteTokenizerJson(MinimalBpeModel, decoder: json),
            _ => WriteTokenizerJson(MinimalBpeModel, postProcessor: json),
        };
        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(_folder));
        Assert.Equal(path, error.FilePath);
        Assert.Contains($"unsupported {component} type \"{type}\"", error.Message);
    }

    [Fact]
    public void MergeOutsideTheVocabulary_IsRejected()
    {
        WriteTokenizerJson("""{"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}""");
        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(_folder));
        Assert.Contains("\"ab\"", error.Message);
    }

    [Fact]
    public void RegexThatDotNetCannotRun_IsRejectedAtLoad()
    {
        WriteTokenizerJson(MinimalBpeModel,
            preTokenizer: """{"type": "Split", "pattern": {"Regex": "\\p{L}++"}, "behavior": "Isolated", "invert": false}""");
        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(_folder));
        Assert.Contains("regex", error.Message);
    }

    [Fact]
    public void TruncatedJson_IsRejectedNamingTheFile()
    {
        var path = Path.Combine(_folder, "tokenizer.json");
        File.WriteAllText(path, """{"model": {"type": "BPE", "vocab": {"a": """);
        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(_folder));
        Assert.Equal(path, error.FilePath);
    }

    [Fact]
    public void MissingFolderOrFiles_AreRejected()
    {
        Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(Path.Combine(_folder, "absent")));
        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(_folder));
        Assert.Contains("vocab.json", error.Message);
    }

    [Fact]
    public void MalformedMergesTxt_IsRejectedWithItsLine()
    {
        File.WriteAllText(Path.Combine(_folder, "vocab.json"), """{"a": 0, "b": 1, "ab": 2}""");
        var merges = Path.Combine(_folder, "merges.txt");
        File.WriteAllText(merges, "#version: 0.2\na b\nab\n");
        var error = Assert.Throws<ModelFormatException>(() => TokenizerLoader.Load(_folder));
        Assert.Equal(merges, error.FilePath);
        Assert.Contains("line 3", error.Message);
    }

    [Fact]
    public void SupportedPieces_BuildAWorkingTokenizer()
    {
        // A minimal Metaspace + Split pipeline, to check the supported components compose.
        WriteTokenizerJson(
            """{"type": "BPE", "vocab": {"▁": 0, "a": 1, "b": 2, "▁a": 3, "ab": 4, "▁ab": 5, "-": 6}, "merges": ["▁ a", "a b", "▁a b"]}""",
            preTokenizer: """{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": "-"}, "behavior": "Isolated", "invert": false}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}]}""",
            decoder: """{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true}""");
        var tokenizer = TokenizerLoader.Load(_folder);
        // "ab ab-ab": Split isolates "-"; only the piece at offset 0 gets a "▁" prepended.
        Assert.Equal([5, 5, 6, 4], tokenizer.Encode("ab ab-ab"));
        Assert.Equal("ab ab-ab", tokenizer.Decode([5, 5, 6, 4]));
    }

    [Fact]
    public void NfcNormalizer_ComposesBeforeBpe()
    {
        WriteTokenizerJson("""{"type": "BPE", "vocab": {"e": 0, "\u00e9": 1, "\u0301": 2}, "merges": []}""",
            normalizer: """{"type": "NFC"}""");
        var tokenizer = TokenizerLoader.Load(_folder);
        Assert.Equal([1, 0], tokenizer.Encode("e\u0301e"));
    }
}
