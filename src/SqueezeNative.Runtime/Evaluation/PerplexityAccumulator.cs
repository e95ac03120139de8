namespace SqueezeNative.Runtime.Evaluation;

/// <summary>
/// Perplexity over windows, as GPTQ / SqueezeLLM report it: ppl = exp(mean over windows of the
/// window's mean token loss). Every window scores the same number of tokens, so this equals
/// exp(mean token loss). Losses are summed in double in the order added, which reproduces the
/// reference.json values (Python's <c>math.exp(sum(losses) / len(losses))</c>) bit for bit.
/// </summary>
public sealed class PerplexityAccumulator
{
    private double _lossSum;

    /// <summary>Windows added so far.</summary>
    public int WindowCount { get; private set; }

    /// <summary>Tokens scored so far (the sum of the counts given to <see cref="Add"/>).</summary>
    public long TokenCount { get; private set; }

    /// <summary>
    /// Adds one window: <paramref name="meanLoss"/> is its mean cross-entropy (natural log) over
    /// <paramref name="tokensScored"/> tokens. A non-finite loss is kept (it makes the perplexity
    /// NaN or infinite, which is the honest result of a numerically broken run).
    /// </summary>
    public void Add(double meanLoss, int tokensScored)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokensScored, 1);
        _lossSum += meanLoss;
        WindowCount++;
        TokenCount += tokensScored;
    }

    /// <summary>Mean of the window losses (nats per token).</summary>
    public double MeanLoss
    {
        get
        {
            if (WindowCount == 0)
                throw new InvalidOperationException("no window has been added; the perplexity of nothing is undefined");
            return _lossSum / WindowCount;
        }
    }

    /// <summary>exp(<see cref="MeanLoss"/>).</summary>
    public double Perplexity => Math.Exp(MeanLoss);
}
