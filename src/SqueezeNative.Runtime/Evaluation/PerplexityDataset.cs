namespace SqueezeNative.Runtime.Evaluation;

/// <summary>The perplexity datasets of the GPTQ / SqueezeLLM protocol.</summary>
public enum PerplexityDataset
{
    /// <summary>WikiText-2 raw test split, rows joined with "\n\n", non-overlapping windows.</summary>
    WikiText2,
    /// <summary>C4 validation documents, 256 random windows (<see cref="C4Sampler"/>).</summary>
    C4,
    /// <summary>PTB test set, stripped rows joined with " ", non-overlapping windows.</summary>
    Ptb,
}

/// <summary>What the runtime knows about one <see cref="PerplexityDataset"/>.</summary>
/// <param name="Name">The name users type (<c>--dataset wikitext2</c>).</param>
/// <param name="RelativePath">The data file, relative to the shared folder.</param>
/// <param name="ExpectedTextSha256">sha256 of the reference evaluation string (null for C4, which
/// is sampled from documents rather than one string).</param>
public sealed record PerplexityDatasetInfo(PerplexityDataset Dataset, string Name, string RelativePath, string? ExpectedTextSha256);

/// <summary>Registry of <see cref="PerplexityDataset"/>: names, file locations, and window building.</summary>
public static class PerplexityDatasets
{
    /// <summary>Every dataset, in the order the paper reports them.</summary>
    public static IReadOnlyList<PerplexityDatasetInfo> All { get; } =
    [
        new(PerplexityDataset.WikiText2, "wikitext2", "data/wikitext2/wiki.test.raw", EvalText.WikiText2Sha256),
        new(PerplexityDataset.C4, "c4", "data/c4/c4_validation_2k.jsonl", null),
        new(PerplexityDataset.Ptb, "ptb", "data/ptb/ptb.test.txt", EvalText.PtbSha256),
    ];

    /// <summary>The registry entry of <paramref name="dataset"/>.</summary>
    public static PerplexityDatasetInfo Info(PerplexityDataset dataset) =>
        All.FirstOrDefault(info => info.Dataset == dataset)
        ?? throw new ArgumentOutOfRangeException(nameof(dataset), dataset, "not a registered perplexity dataset");

    /// <summary>
    /// The dataset a user named (case-insensitive). An unknown name throws
    /// <see cref="InvalidOptionException"/> for <paramref name="optionName"/> listing the valid names.
    /// </summary>
    public static PerplexityDataset Parse(string name, string optionName = "--dataset")
    {
        ArgumentNullException.ThrowIfNull(name);
        var trimmed = name.Trim();
        foreach (var info in All)
            if (string.Equals(info.Name, trimmed, StringComparison.OrdinalIgnoreCase))
                return info.Dataset;
        throw new InvalidOptionException(optionName,
            $"unknown dataset '{name}'; valid names: {string.Join(", ", All.Select(info => info.Name))}");
    }

    /// <summary>The data file of <paramref name="dataset"/> under <paramref name="sharedRoot"/>.</summary>
    public static string DataPath(PerplexityDataset dataset, string sharedRoot) =>
        Path.Combine(sharedRoot, Info(dataset).RelativePath.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>
    /// The windows the reference scores for <paramref name="dataset"/>: WikiText-2 and PTB build
    /// their string (<see cref="EvalText"/>), tokenize it once and cut non-overlapping windows; C4
    /// samples <see cref="C4Sampler.ReferenceSampleCount"/> windows (only the first
    /// <paramref name="limit"/> are drawn and tokenized when a limit is given: they are the same).
    /// </summary>
    /// <param name="dataPath">The dataset's file (see <see cref="DataPath"/>).</param>
    /// <param name="tokenize">The model tokenizer's default call (BOS added as the model's tokenizer does).</param>
    /// <param name="textSha256">sha256 of the evaluated string, null for C4; compare with
    /// <see cref="PerplexityDatasetInfo.ExpectedTextSha256"/> to warn about non-reference data.</param>
    public static PerplexityWindows BuildWindows(PerplexityDataset dataset, string dataPath, Func<string, int[]> tokenize,
                                                 int seqlen, int? limit, out string? textSha256)
    {
        ArgumentNullException.ThrowIfNull(tokenize);
        switch (dataset)
        {
            case PerplexityDataset.WikiText2:
            case PerplexityDataset.Ptb:
            {
                var text = dataset == PerplexityDataset.WikiText2 ? EvalText.WikiText2(dataPath) : EvalText.Ptb(dataPath);
                textSha256 = EvalText.Sha256Hex(text);
                return PerplexityWindows.FromTokens(tokenize(text), seqlen, limit);
            }
            case PerplexityDataset.C4:
            {
                if (limit is < 1)
                    throw new InvalidOptionException("--limit", $"must be at least 1 window, got {limit}");
                int sampleCount = Math.Min(C4Sampler.ReferenceSampleCount, limit ?? C4Sampler.ReferenceSampleCount);
                var sample = C4Sampler.Sample(EvalText.C4Documents(dataPath), tokenize, seqlen, sampleCount);
                textSha256 = null;
                return PerplexityWindows.FromSampled(sample.Windows, seqlen, limit: null, availableCount: C4Sampler.ReferenceSampleCount);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(dataset), dataset, "not a registered perplexity dataset");
        }
    }
}
