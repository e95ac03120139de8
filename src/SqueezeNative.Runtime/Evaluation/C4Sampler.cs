namespace SqueezeNative.Runtime.Evaluation;

/// <summary>
/// The C4 evaluation windows: window <c>i</c> is <c>Windows[i]</c>, cut at token
/// <c>Starts[i]</c> of document <c>DocumentIndices[i]</c> (an index into the document list).
/// </summary>
public sealed record C4Sample(IReadOnlyList<int[]> Windows, IReadOnlyList<int> DocumentIndices, IReadOnlyList<int> Starts);

/// <summary>
/// GPTQ's <c>get_c4</c> validation sampling (kept unchanged by SqueezeLLM's datautils.py):
/// <code>
/// random.seed(0)
/// for _ in range(256):
///     while True:
///         i = random.randint(0, len(valdata) - 1)
///         tmp = tokenizer(valdata[i]['text'])      # default call: BOS added for LLaMA
///         if len(tmp) >= seqlen: break
///     i = random.randint(0, len(tmp) - seqlen - 1)
///     window = tmp[i : i + seqlen]
/// </code>
/// With <see cref="PythonRandom"/> the documents and starts are the reference's, so the windows
/// are too as long as <c>tokenize</c> is the model's tokenizer with its default special tokens.
/// Taking fewer samples yields a prefix of the full sample (draws are sequential), which is how a
/// window limit can skip tokenizing documents it will not use.
/// </summary>
public static class C4Sampler
{
    /// <summary>The seed GPTQ hard-codes for validation ("for validation reproducibility").</summary>
    public const int ReferenceSeed = 0;

    /// <summary>GPTQ's number of validation windows.</summary>
    public const int ReferenceSampleCount = 256;

    /// <param name="documents">The C4 documents in file order (<see cref="EvalText.C4Documents"/>).</param>
    /// <param name="tokenize">The model tokenizer's default call (special tokens added as the model's
    /// tokenizer does); it is called at most once per distinct document.</param>
    /// <param name="seqlen">Tokens per window.</param>
    /// <param name="sampleCount">Windows to draw (the reference draws <see cref="ReferenceSampleCount"/>).</param>
    /// <param name="seed">The <c>random.seed</c> value (the reference uses <see cref="ReferenceSeed"/>).</param>
    public static C4Sample Sample(IReadOnlyList<string> documents, Func<string, int[]> tokenize, int seqlen,
                                  int sampleCount = ReferenceSampleCount, long seed = ReferenceSeed)
    {
        ArgumentNullException.ThrowIfNull(documents);
        ArgumentNullException.ThrowIfNull(tokenize);
        if (seqlen < 2)
            throw new InvalidOptionException("--seqlen", $"must be at least 2 (a window scores seqlen - 1 tokens), got {seqlen}");
        if (sampleCount < 1)
            throw new InvalidOptionException("--limit", $"must be at least 1, got {sampleCount}");
        if (documents.Count == 0)
            throw new InvalidOptionException("--dataset", "c4: there are no documents to sample from");

        var random = new PythonRandom(seed);
        var tokenized = new Dictionary<int, int[]>();
        // Documents found too short. Python would loop forever when every document is too short;
        // once all have been seen we know the draw can never succeed and stop with an error.
        var tooShort = new HashSet<int>();

        var windows = new List<int[]>(sampleCount);
        var documentIndices = new List<int>(sampleCount);
        var starts = new List<int>(sampleCount);
        for (int sample = 0; sample < sampleCount; sample++)
        {
            int documentIndex;
            int[] ids;
            while (true)
            {
                documentIndex = (int)random.RandInt(0, documents.Count - 1);
                if (!tokenized.TryGetValue(documentIndex, out ids!))
                {
                    ids = tokenize(documents[documentIndex]);
                    tokenized[documentIndex] = ids;
                }
                if (ids.Length >= seqlen) break;
                tooShort.Add(documentIndex);
                if (tooShort.Count == documents.Count)
                    throw new InvalidOptionException("--seqlen",
                        $"c4: no document has {seqlen} tokens or more (all {documents.Count} are shorter); use a smaller --seqlen");
            }
            if (ids.Length == seqlen)
            {
                // The reference calls randint(0, -1) here, which raises in Python: there is no
                // reference window to reproduce.
                throw new InvalidOptionException("--seqlen",
                    $"c4: document {documentIndex} has exactly {seqlen} tokens, where the GPTQ sampling " +
                    $"(randint(0, ntokens - seqlen - 1)) is undefined and the reference code fails; use another --seqlen");
            }
            int start = (int)random.RandInt(0, ids.Length - seqlen - 1);
            windows.Add(ids.AsSpan(start, seqlen).ToArray());
            documentIndices.Add(documentIndex);
            starts.Add(start);
        }
        return new C4Sample(windows, documentIndices, starts);
    }
}
