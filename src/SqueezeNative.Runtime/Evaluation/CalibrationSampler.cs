namespace SqueezeNative.Runtime.Evaluation;

/// <summary>Calibration windows: window <c>i</c> is <c>Windows[i]</c>, cut at token <c>Starts[i]</c>.</summary>
public sealed record CalibrationSample(IReadOnlyList<int[]> Windows, IReadOnlyList<int> Starts);

/// <summary>
/// Random calibration windows from one tokenized text, the way GPTQ / SqueezeLLM sample their
/// training split (<c>get_wikitext2</c>):
/// <code>
/// random.seed(seed)
/// for _ in range(nsamples):
///     i = random.randint(0, ntokens - seqlen - 1)
///     window = ids[i : i + seqlen]
/// </code>
/// Windows may overlap; the text is tokenized once, as a whole.
/// </summary>
public static class CalibrationSampler
{
    /// <summary>Samples from already tokenized text.</summary>
    public static CalibrationSample Sample(int[] tokens, int seqlen, int sampleCount, long seed)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (seqlen < 1)
            throw new InvalidOptionException("--seqlen", $"must be at least 1, got {seqlen}");
        if (sampleCount < 1)
            throw new InvalidOptionException("--nsamples", $"must be at least 1, got {sampleCount}");
        // randint(0, ntokens - seqlen - 1) needs ntokens - seqlen - 1 >= 0.
        if (tokens.Length < seqlen + 1)
            throw new InvalidOptionException("--calib",
                $"the calibration text has {tokens.Length} tokens; windows of {seqlen} tokens (--seqlen) need at least " +
                $"{seqlen + 1}: give a longer --calib text or a smaller --seqlen");

        var random = new PythonRandom(seed);
        var windows = new List<int[]>(sampleCount);
        var starts = new List<int>(sampleCount);
        for (int i = 0; i < sampleCount; i++)
        {
            int start = (int)random.RandInt(0, tokens.Length - seqlen - 1);
            windows.Add(tokens.AsSpan(start, seqlen).ToArray());
            starts.Add(start);
        }
        return new CalibrationSample(windows, starts);
    }

    /// <summary>Tokenizes <paramref name="text"/> once (<paramref name="tokenize"/> = the model
    /// tokenizer's default call) and samples from it.</summary>
    public static CalibrationSample Sample(string text, Func<string, int[]> tokenize, int seqlen, int sampleCount, long seed)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(tokenize);
        return Sample(tokenize(text), seqlen, sampleCount, seed);
    }
}
