using System.Diagnostics;
using SqueezeNative.Runtime.Inference;

namespace SqueezeNative.Cli.Commands;

/// <summary>Per-repetition timings of prefill and greedy decode steps.</summary>
/// <param name="PrefillTokensPerSecond">One entry per counted repetition.</param>
/// <param name="DecodeMsPerToken">One entry per counted repetition.</param>
internal sealed record DecodeTiming(IReadOnlyList<double> PrefillTokensPerSecond, IReadOnlyList<double> DecodeMsPerToken)
{
    /// <summary>Prompt ids spread over the vocabulary (the content does not change the cost).</summary>
    public static int[] PromptIds(int count, int vocabSize) =>
        Enumerable.Range(0, count).Select(i => 1 + (int)((i * 7919L) % (vocabSize - 1))).ToArray();

    /// <summary>
    /// Runs <paramref name="repetitions"/> + 1 times (the first warms up and is not counted): a
    /// prefill of <paramref name="promptIds"/>, one untimed decode step (it records the session's
    /// decode graph), then <paramref name="steps"/> − 1 timed greedy steps.
    /// </summary>
    public static DecodeTiming Measure(InferenceSession session, int[] promptIds, int steps, int repetitions, int vocabSize)
    {
        var prefill = new List<double>();
        var decode = new List<double>();
        var logits = new float[vocabSize];
        var one = new int[1];
        for (int r = 0; r <= repetitions; r++)
        {
            session.Reset();
            var clock = Stopwatch.StartNew();
            session.Forward(promptIds, logits);
            double prefillSeconds = clock.Elapsed.TotalSeconds;
            one[0] = Sampler.ArgMax(logits);
            session.Forward(one, logits);
            clock.Restart();
            for (int s = 1; s < steps; s++)
            {
                one[0] = Sampler.ArgMax(logits);
                session.Forward(one, logits);
            }
            double decodeSeconds = clock.Elapsed.TotalSeconds;
            if (r == 0) continue;
            prefill.Add(promptIds.Length / prefillSeconds);
            decode.Add(decodeSeconds * 1000 / (steps - 1));
        }
        return new DecodeTiming(prefill, decode);
    }
}
