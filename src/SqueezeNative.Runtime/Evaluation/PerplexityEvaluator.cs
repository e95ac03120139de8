using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SqueezeNative.Runtime.Inference;
using SqueezeNative.Runtime.Native;

namespace SqueezeNative.Runtime.Evaluation;

/// <summary>Result of a perplexity run.</summary>
public sealed record PerplexityResult(
    string Dataset, int SeqLen, int Windows, long TokensScored, double Perplexity, double MeanLoss,
    IReadOnlyList<double> WindowLosses, TimeSpan Elapsed, string? TextSha256)
{
    /// <summary>Tokens pushed through the model per second (all window tokens, not only scored ones).</summary>
    public double TokensPerSecond => Windows * (double)SeqLen / Elapsed.TotalSeconds;
}

/// <summary>
/// Perplexity with the GPTQ / SqueezeLLM protocol (DESIGN.md): each window of seqlen tokens is
/// scored from an empty cache; loss = mean next-token cross-entropy over its seqlen − 1
/// predictions; ppl = exp(mean window loss).
/// </summary>
public sealed class PerplexityEvaluator(LanguageModel model, ILogger? logger = null)
{
    private readonly ILogger _log = logger ?? NullLogger.Instance;

    /// <summary>Scores a named dataset from the shared data folder.</summary>
    /// <param name="progress">Called after each window with (done, total).</param>
    public PerplexityResult Evaluate(PerplexityDataset dataset, string sharedRoot, int seqlen, int? limit = null,
        Action<int, int>? progress = null, CancellationToken cancellationToken = default)
    {
        if (seqlen < 2) throw new InvalidOptionException("--seqlen", $"must be at least 2 (got {seqlen})");
        if (seqlen > model.ContextLength)
            throw new InvalidOptionException("--seqlen", $"{seqlen} exceeds the model's maximum context of {model.ContextLength} tokens");
        if (limit is < 1) throw new InvalidOptionException("--limit", $"must be at least 1 (got {limit})");
        var info = PerplexityDatasets.Info(dataset);
        var path = PerplexityDatasets.DataPath(dataset, sharedRoot);
        var windows = PerplexityDatasets.BuildWindows(dataset, path, text => model.Tokenizer.Encode(text), seqlen, limit, out var sha);
        if (sha is not null && info.ExpectedTextSha256 is not null && sha != info.ExpectedTextSha256)
            _log.LogWarning("{Path}: the evaluation text's sha256 {Sha} differs from the reference {Expected}; numbers are not comparable",
                path, sha, info.ExpectedTextSha256);
        return Score(info.Name, windows, progress, cancellationToken) with { TextSha256 = sha };
    }

    /// <summary>Scores prepared windows.</summary>
    public PerplexityResult Score(string name, PerplexityWindows windows, Action<int, int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        int seqlen = windows.SeqLen;
        var ctx = model.Context;
        var clock = Stopwatch.StartNew();
        var acc = new PerplexityAccumulator();
        var losses = new List<double>(windows.Count);
        var lossHost = new float[seqlen - 1];
        using var session = model.CreateSession(seqlen);
        using var targets = ctx.Tensor(NativeDType.I32, seqlen - 1);
        using var lossDev = ctx.Tensor(NativeDType.F32, seqlen - 1);
        for (int w = 0; w < windows.Count; w++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var ids = windows[w].Span;
            session.Reset();
            var logits = session.Forward(ids, allPositions: true);
            lock (ctx.ExecutionLock)
            {
                using var predicting = logits.Rows(0, seqlen - 1);
                targets.Upload(ids[1..]);
                ctx.CrossEntropy(predicting, targets, lossDev);
                lossDev.Download<float>(lossHost);
            }
            double sum = 0;
            foreach (var l in lossHost) sum += l;
            double mean = sum / lossHost.Length;
            losses.Add(mean);
            acc.Add(mean, lossHost.Length);
            progress?.Invoke(w + 1, windows.Count);
        }
        clock.Stop();
        return new PerplexityResult(name, seqlen, acc.WindowCount, acc.TokenCount, acc.Perplexity, acc.MeanLoss,
            losses, clock.Elapsed, null);
    }
}
