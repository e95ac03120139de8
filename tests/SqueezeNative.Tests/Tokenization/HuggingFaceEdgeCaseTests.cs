using static SqueezeNative.Tests.Tokenization.TokenizationTestData;

namespace SqueezeNative.Tests.Tokenization;

/// <summary>
/// Inputs beyond the reference.json strings, with the ids and texts that Hugging Face tokenizers
/// 0.23.2 (the Rust library behind transformers' fast tokenizers) gives for the same tokenizer files:
/// special tokens inside text, "normalized" special tokens, the GPT-2 pattern on letters and digits
/// outside the BMP, Unicode whitespace classes, contractions, and decoding of invalid byte runs.
/// </summary>
public sealed class HuggingFaceEdgeCaseTests
{
    public static TheoryData<string, string, int[], string> EncodeCases => new()
    {
        // LLaMA test model: special tokens are matched in the raw text, then every other piece
        // gets its own "▁" prefix from the Prepend normalizer.
        { "models/llama", "", [1], "" },
        { "models/llama", "Hello <s> world", [1, 15043, 29871, 1, 29871, 3186], "Hello   world" },
        { "models/llama", " <s> ", [1, 259, 1, 259], "   " },
        { "models/llama", "a</s>b", [1, 263, 2, 289], "a b" },
        { "models/llama", "<unk>", [1, 0], "" },
        { "models/llama", "x\u001cy \u001d z", [1, 921, 31, 29891, 29871, 32, 503], "x\u001cy \u001d z" },
        { "models/llama", "   \n  \n   x", [1, 268, 13, 259, 13, 259, 921], "   \n  \n   x" },
        { "models/llama", "😀😀😀", [1, 29871, 243, 162, 155, 131, 243, 162, 155, 131, 243, 162, 155, 131], "😀😀😀" },
        { "models/llama", "▁already▁meta", [1, 29871, 2307, 12700], " already meta" },
        // Real LLaMA-2 tokenizer.json: its special tokens are "normalized", so they match the
        // normalized text, where "<s>" reads "▁<s>" (after a space or at the start) only.
        // Ids as Hugging Face; decoding differs on purpose: tokenizers 0.23.2 stores these tokens'
        // content normalized ("▁<s>"), so its decode prints " <s>" and never skips them as special.
        // Here they decode like every special token (skipped with skipSpecialTokens).
        { "configs/llama-2-13b", "Hello <s> world", [1, 15043, 1, 3186], "Hello world" },
        { "configs/llama-2-13b", "Hello<s>", [1, 15043, 29966, 29879, 29958], "Hello<s>" },
        { "configs/llama-2-13b", "<s>Hello", [1, 1, 10994], "Hello" },
        { "configs/llama-2-13b", "a</s>b", [1, 263, 829, 29879, 29958, 29890], "a</s>b" },
        // OPT: byte-level BPE with the GPT-2 pattern over code points.
        { "models/opt", "", [2], "" },
        { "models/opt", "Hello <s> world", [2, 31414, 1437, 0, 232], "Hello  world" },
        { "models/opt", "<|endoftext|>", [2, 41552, 15483, 1397, 1116, 29015, 15483, 15698], "<|endoftext|>" },
        { "models/opt", "𝐀𝐁𝐂 𝐃 bold", [2, 40756, 16948, 7471, 40756, 16948, 10172, 40756, 16948, 9264, 1437, 40756, 16948, 862, 7457], "𝐀𝐁𝐂 𝐃 bold" },
        { "models/opt", "𠀀𠀁 ext-b", [2, 49585, 21402, 7471, 7471, 49585, 21402, 7471, 10172, 8935, 12, 428], "𠀀𠀁 ext-b" },
        { "models/opt", "𝟏𝟐𝟑 digits", [2, 40756, 4333, 9357, 40756, 4333, 16948, 40756, 4333, 3602, 15769], "𝟏𝟐𝟑 digits" },
        { "models/opt", "x\u001cy \u001d z", [2, 1178, 50136, 219, 1437, 50137, 992], "x\u001cy \u001d z" },
        { "models/opt", "a\u180eb", [2, 102, 1376, 21402, 12736, 428], "a\u180eb" },
        { "models/opt", "a\u2028b", [2, 102, 17, 11423, 428], "a\u2028b" },
        { "models/opt", "'S 'T 'Re 'LL", [2, 108, 104, 128, 565, 128, 9064, 128, 6006], "'S 'T 'Re 'LL" },
        { "models/opt", "''s", [2, 17809, 29], "''s" },
        { "models/opt", " 's", [2, 128, 29], " 's" },
        { "models/opt", "can't won't I'm we've they're she'll he'd", [2, 7424, 75, 351, 75, 38, 437, 52, 348, 51, 214, 79, 581, 37, 1017], "can't won't I'm we've they're she'll he'd" },
        { "models/opt", "   \n  \n   x", [2, 1437, 1437, 1437, 50118, 1437, 1437, 50118, 1437, 1437, 3023], "   \n  \n   x" },
    };

    [Theory]
    [MemberData(nameof(EncodeCases))]
    public void Encode_MatchesHuggingFace(string folder, string text, int[] expectedIds, string expectedDecodeSkippingSpecial)
    {
        var tokenizer = Tokenizer(Path.Combine(TestPaths.Shared, folder));
        var ids = tokenizer.Encode(text);
        Assert.Equal(expectedIds, ids);
        Assert.Equal(expectedDecodeSkippingSpecial, tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    public static TheoryData<string, int[], string, string> DecodeCases => new()
    {
        { "llama", [1, 2, 0], "<s></s><unk>", "" },
        { "llama", [243, 162], "\uFFFD\uFFFD", "\uFFFD\uFFFD" },                    // incomplete byte run: one U+FFFD per byte
        { "llama", [229, 160, 167, 29871, 243, 162, 169, 156], "❤ 🦙", "❤ 🦙" },
        { "llama", [29871], "", "" },                                                // the lone "▁" is the stripped prefix
        { "llama", [29871, 29871, 1], " <s>", " " },
        { "llama", [1, 29871, 15043], "<s>  Hello", " Hello" },
        { "llama", [226, 30000], "\uFFFDè", "\uFFFDè" },
        { "llama", [255, 13], "\uFFFD\uFFFD", "\uFFFD\uFFFD" },
        { "llama", [31999, 40000, 15043], "给 Hello", "给 Hello" },                 // unknown id 40000 is skipped
        { "opt", [2, 50118], "</s>\n", "\n" },
        { "opt", [17, 46], "”", "”" },
        { "opt", [17], "\uFFFD", "\uFFFD" },                                         // incomplete UTF-8: one U+FFFD (lossy)
        { "opt", [50260, 50270, 133], "<|endoftext|>The", "<|endoftext|>The" },      // 50270 has no token
        { "opt", [2, 5, 2], "</s> the</s>", " the" },
        { "opt", [1437, 1437], "  ", "  " },
    };

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void Decode_MatchesHuggingFace(string model, int[] ids, string expected, string expectedSkippingSpecial)
    {
        var tokenizer = ModelTokenizer(model);
        Assert.Equal(expected, tokenizer.Decode(ids));
        Assert.Equal(expectedSkippingSpecial, tokenizer.Decode(ids, skipSpecialTokens: true));
    }
}
