using System.Text;
using SqueezeNative.Runtime.Evaluation;

namespace SqueezeNative.Tests.Evaluation;

public sealed class EvalTextTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("squeeze-evaltext-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static string SharedData(string relative) => Path.Combine(TestPaths.Shared, "data", relative);

    private string WriteScratch(string name, byte[] bytes)
    {
        var path = Path.Combine(_scratch, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void WikiText2_MatchesTheReferenceString()
    {
        var path = SharedData("wikitext2/wiki.test.raw");
        Assert.Equal(EvalText.WikiText2RawFileSha256, EvalText.FileSha256Hex(path));

        Assert.Equal(EvalText.WikiText2Rows, EvalText.WikiTextRows(path).Count);
        var text = EvalText.WikiText2(path);
        Assert.Equal(1_294_336, text.Length);
        Assert.Equal("696cca6b65a171b0a358a4be6732cdfdf2dd6164a32e20fd70e3c13fc4dfae83", EvalText.Sha256Hex(text));
        Assert.True(EvalText.Verify(text, EvalText.WikiText2Sha256, out var actual));
        Assert.Equal(EvalText.WikiText2Sha256, actual);
        // Rows "", " = Robert Boulter = \n", "", " Robert Boulter is ..." joined with "\n\n".
        Assert.StartsWith("\n\n = Robert Boulter = \n\n\n\n\n Robert Boulter is", text);
    }

    [Fact]
    public void WikiText2_CrlfFileGivesTheSameStringAsLf()
    {
        // Python's text mode reads "\r\n" and a lone "\r" as "\n"; the rows and the joined string
        // must not depend on how the file was checked out.
        var lf = EvalText.WikiText2(SharedData("wikitext2/wiki.test.raw"));
        var rawLf = File.ReadAllText(SharedData("wikitext2/wiki.test.raw"));
        var crlfPath = WriteScratch("wiki.test.crlf.raw", Encoding.UTF8.GetBytes(rawLf.Replace("\n", "\r\n")));
        Assert.Equal(lf, EvalText.WikiText2(crlfPath));
    }

    [Fact]
    public void WikiTextRows_KeepNewlinesAndBlankWhitespaceOnlyRowsWithPythonWhitespace()
    {
        // Rows: " \t\n" (blank), "\x1c\x1f\n" (blank for Python: FS/US are whitespace there),
        // " a \r\n" (kept, CRLF → LF), "\u200b\n" (zero-width space is NOT whitespace), "last" (no newline).
        var path = WriteScratch("rows.raw", Encoding.UTF8.GetBytes(" \t\n\u001c\u001f\n a \r\n\u200b\nlast"));
        Assert.Equal(["", "", " a \n", "\u200b\n", "last"], EvalText.WikiTextRows(path));
        Assert.Equal("\n\n\n\n a \n\n\n\u200b\n\n\nlast", EvalText.WikiText2(path));
    }

    [Fact]
    public void Ptb_MatchesTheReferenceString()
    {
        var text = EvalText.Ptb(SharedData("ptb/ptb.test.txt"));
        Assert.Equal(EvalText.PtbChars, text.Length);
        Assert.Equal(442_422, text.Length);
        Assert.Equal("900cfc61a7a63afcd086c5e1cce90554764eae65cb2ca9f5d4cac47be5f0f394", EvalText.Sha256Hex(text));
        Assert.StartsWith("no it was n't black monday but while the new york stock exchange", text);
    }

    [Fact]
    public void Ptb_StripsWithPythonWhitespaceSemantics()
    {
        // U+001C..U+001F, U+0085 and U+3000 are stripped by str.strip(); U+200B and U+FEFF are not.
        var path = WriteScratch("ptb.txt", Encoding.UTF8.GetBytes(" a b \n\u001c\u001dc\u001e\u001f\r\n\u0085d\u3000\n\u200be\ufeff\n\n"));
        Assert.Equal("a b c d \u200be\ufeff ", EvalText.Ptb(path));
    }

    [Fact]
    public void C4Documents_ReadsEveryTextInFileOrder()
    {
        var path = SharedData("c4/c4_validation_2k.jsonl");
        Assert.Equal(EvalText.C4ValidationFileSha256, EvalText.FileSha256Hex(path));
        var documents = EvalText.C4Documents(path);
        Assert.Equal(2000, documents.Count);
        // python3: docs=[json.loads(l)['text'] for l in open(p, encoding='utf-8')]
        Assert.Equal("6725cb35f10b50363351d699a4676c4f975cb29754730847b6e3f4673a91280d", EvalText.Sha256Hex(documents[0]));
        Assert.Equal("7ffc0f272006e6b692c0b9c7431100e01a8489e534f4a6558735d775653c5b2d", EvalText.Sha256Hex(string.Join("\n", documents)));
        Assert.StartsWith("In 2016 the Holland Festival – with the support of the EvS Music Foundation", documents[1999]);
    }

    [Fact]
    public void C4Documents_MalformedLineNamesFileAndLine()
    {
        var path = WriteScratch("bad.jsonl", Encoding.UTF8.GetBytes("{\"text\":\"one\"}\n\n{\"text\": 3}\n"));
        var error = Assert.Throws<EvalDataException>(() => EvalText.C4Documents(path));
        Assert.Equal(path, error.FilePath);
        Assert.Equal(3, error.LineNumber);
        Assert.Contains($"{path}:3:", error.Message);
        Assert.Contains("\"text\" is a Number", error.Message);

        var notJson = WriteScratch("notjson.jsonl", Encoding.UTF8.GetBytes("{\"text\":\"one\"}\n{\"text\":\"two\"\n"));
        var jsonError = Assert.Throws<EvalDataException>(() => EvalText.C4Documents(notJson));
        Assert.Equal(2, jsonError.LineNumber);
        Assert.Contains("malformed JSON", jsonError.Message);

        var noText = WriteScratch("notext.jsonl", Encoding.UTF8.GetBytes("{\"url\":\"x\"}\n"));
        Assert.Contains("no \"text\" field", Assert.Throws<EvalDataException>(() => EvalText.C4Documents(noText)).Message);

        var empty = WriteScratch("empty.jsonl", []);
        Assert.Contains("no documents", Assert.Throws<EvalDataException>(() => EvalText.C4Documents(empty)).Message);
    }

    [Fact]
    public void CalibrationText_ReadsTheFileAndRejectsEmptyOnes()
    {
        var text = EvalText.CalibrationText(SharedData("calib/calib.txt"));
        Assert.Equal(EvalText.CalibrationFileSha256, EvalText.Sha256Hex(text));

        var blank = WriteScratch("blank.txt", Encoding.UTF8.GetBytes(" \n\t\n"));
        Assert.Contains("empty", Assert.Throws<EvalDataException>(() => EvalText.CalibrationText(blank)).Message);
    }

    [Fact]
    public void MissingFilesAreNamedInTheError()
    {
        var missing = Path.Combine(_scratch, "nope", "wiki.test.raw");
        Action[] loaders =
        [
            () => EvalText.WikiText2(missing),
            () => EvalText.Ptb(missing),
            () => EvalText.C4Documents(missing),
            () => EvalText.CalibrationText(missing),
            () => EvalText.FileSha256Hex(missing),
        ];
        foreach (var load in loaders)
        {
            var error = Assert.Throws<EvalDataException>(load);
            Assert.Equal(missing, error.FilePath);
            Assert.Equal($"{missing}: file not found", error.Message);
        }
    }

    [Fact]
    public void InvalidUtf8IsAnError()
    {
        var path = WriteScratch("latin1.txt", [(byte)'a', 0xE9, (byte)'b', (byte)'\n']);
        var error = Assert.Throws<EvalDataException>(() => EvalText.WikiText2(path));
        Assert.Contains("not valid UTF-8", error.Message);
    }

    [Fact]
    public void VerifyReportsTheActualDigestOnMismatch()
    {
        Assert.False(EvalText.Verify("abc", EvalText.WikiText2Sha256, out var actual));
        // python3 -c "import hashlib; print(hashlib.sha256(b'abc').hexdigest())"
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", actual);
        Assert.True(EvalText.Verify("abc", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", out _));
    }
}
