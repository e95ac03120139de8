using System.Collections;

namespace SqueezeNative.Runtime.Evaluation;

/// <summary>
/// The windows a perplexity run scores, each exactly <see cref="SeqLen"/> tokens. The loss of a
/// window is the mean cross-entropy of its tokens 1..seqlen-1 given the preceding ones
/// (<see cref="TokensScoredPerWindow"/> per window); see <see cref="PerplexityAccumulator"/>.
/// </summary>
public sealed class PerplexityWindows : IReadOnlyList<ReadOnlyMemory<int>>
{
    private readonly IReadOnlyList<ReadOnlyMemory<int>> _windows;

    private PerplexityWindows(IReadOnlyList<ReadOnlyMemory<int>> windows, int seqlen, int availableCount)
    {
        _windows = windows;
        SeqLen = seqlen;
        AvailableCount = availableCount;
    }

    /// <summary>Tokens per window.</summary>
    public int SeqLen { get; }

    /// <summary>Tokens whose loss each window contributes (the first token has no prediction).</summary>
    public int TokensScoredPerWindow => SeqLen - 1;

    /// <summary>Windows the data holds before any limit was applied.</summary>
    public int AvailableCount { get; }

    /// <summary>Windows to score (after the limit).</summary>
    public int Count => _windows.Count;

    public ReadOnlyMemory<int> this[int index] => _windows[index];

    /// <summary>
    /// The GPTQ windowing of one tokenized text (WikiText-2, PTB): <c>n = ntokens // seqlen</c>
    /// non-overlapping windows <c>[i·seqlen, (i+1)·seqlen)</c>; the tail shorter than a window is
    /// dropped. The windows share <paramref name="tokens"/> (no copy).
    /// </summary>
    /// <param name="limit">Score only the first <paramref name="limit"/> windows (the CLI's
    /// <c>--limit</c>); null scores all.</param>
    public static PerplexityWindows FromTokens(int[] tokens, int seqlen, int? limit = null)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        CheckSeqLen(seqlen);
        CheckLimit(limit);
        int available = tokens.Length / seqlen;
        if (available == 0)
            throw new InvalidOptionException("--seqlen",
                $"the text has {tokens.Length} tokens, fewer than one window of {seqlen}; use a smaller --seqlen");
        int count = Math.Min(available, limit ?? available);
        var windows = new ReadOnlyMemory<int>[count];
        for (int i = 0; i < count; i++)
            windows[i] = new ReadOnlyMemory<int>(tokens, i * seqlen, seqlen);
        return new PerplexityWindows(windows, seqlen, available);
    }

    /// <summary>
    /// Windows sampled elsewhere (C4: <see cref="C4Sampler"/>), each of exactly
    /// <paramref name="seqlen"/> tokens.
    /// </summary>
    public static PerplexityWindows FromSampled(IReadOnlyList<int[]> windows, int seqlen, int? limit = null) =>
        FromSampled(windows, seqlen, limit, availableCount: windows?.Count ?? 0);

    /// <summary><see cref="FromSampled(IReadOnlyList{int[]}, int, int?)"/> for a prefix of a larger
    /// sample (C4 under a limit draws only the windows it scores).</summary>
    internal static PerplexityWindows FromSampled(IReadOnlyList<int[]> windows, int seqlen, int? limit, int availableCount)
    {
        ArgumentNullException.ThrowIfNull(windows);
        CheckSeqLen(seqlen);
        CheckLimit(limit);
        if (windows.Count == 0)
            throw new InvalidOptionException("--seqlen", "there are no windows to score");
        for (int i = 0; i < windows.Count; i++)
            if (windows[i].Length != seqlen)
                throw new ArgumentException($"window {i} has {windows[i].Length} tokens, expected {seqlen}", nameof(windows));
        int count = Math.Min(windows.Count, limit ?? windows.Count);
        var selected = new ReadOnlyMemory<int>[count];
        for (int i = 0; i < count; i++) selected[i] = windows[i];
        return new PerplexityWindows(selected, seqlen, Math.Max(availableCount, windows.Count));
    }

    private static void CheckSeqLen(int seqlen)
    {
        if (seqlen < 2)
            throw new InvalidOptionException("--seqlen", $"must be at least 2 (a window scores seqlen - 1 tokens), got {seqlen}");
    }

    private static void CheckLimit(int? limit)
    {
        if (limit is < 1)
            throw new InvalidOptionException("--limit", $"must be at least 1 window, got {limit}");
    }

    public IEnumerator<ReadOnlyMemory<int>> GetEnumerator() => _windows.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
