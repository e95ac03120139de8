namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// Picks the next token from last-position logits: repetition penalty, then greedy arg-max or
/// temperature → top-k → top-p sampling, in the order Hugging Face's logits processors apply
/// them. One sampler per generation (it owns its random generator and scratch buffers).
/// </summary>
public sealed class Sampler
{
    private readonly GenerationOptions _options;
    private readonly Random _random;
    private readonly HashSet<int> _seen = [];
    private int[] _order = [];
    private float[] _probs = [];
    private float[] _keys = [];
    private readonly PriorityQueue<int, (float, int)> _heap = new();

    public Sampler(GenerationOptions options)
    {
        options.Validate();
        _options = options;
        _random = new Random(options.Seed);
    }

    /// <summary>Remembers ids for the repetition penalty (prompt and each generated token).</summary>
    public void Observe(ReadOnlySpan<int> ids)
    {
        if (_options.RepetitionPenalty == 1f) return;
        foreach (var id in ids) _seen.Add(id);
    }

    /// <summary>Chooses a token; modifies <paramref name="logits"/> in place.</summary>
    public int Next(Span<float> logits)
    {
        var penalty = _options.RepetitionPenalty;
        if (penalty != 1f)
            foreach (var id in _seen)
                if ((uint)id < (uint)logits.Length)
                    logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty;

        if (_options.IsGreedy) return ArgMax(logits);

        int n = logits.Length;
        if (_order.Length != n) { _order = new int[n]; _probs = new float[n]; _keys = new float[n]; }
        for (int i = 0; i < n; i++) _order[i] = i;
        var invT = 1f / _options.Temperature;

        // Candidates sorted by logit, descending; ties broken by id for determinism.
        int keep = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;
        var order = _order.AsSpan();
        var src = logits;
        if (keep < n) PartialTopK(src, order, keep, _heap);
        order = order[..keep];
        var keys = _keys.AsSpan(0, keep);
        for (int i = 0; i < keep; i++) keys[i] = -src[order[i]];
        keys.Sort(order);

        // Softmax over the kept candidates (max-subtracted, double accumulation).
        double max = src[order[0]] * invT, sum = 0;
        for (int i = 0; i < keep; i++) { var p = Math.Exp(src[order[i]] * invT - max); _probs[i] = (float)p; sum += p; }

        // Nucleus: smallest prefix whose mass reaches TopP (at least one token).
        int cut = keep;
        if (_options.TopP < 1f)
        {
            double acc = 0;
            for (int i = 0; i < keep; i++)
            {
                acc += _probs[i] / sum;
                if (acc >= _options.TopP) { cut = i + 1; break; }
            }
            sum = 0;
            for (int i = 0; i < cut; i++) sum += _probs[i];
        }

        double r = _random.NextDouble() * sum;
        for (int i = 0; i < cut; i++)
        {
            r -= _probs[i];
            if (r <= 0) return order[i];
        }
        return order[cut - 1];
    }

    /// <summary>Index of the largest value (lowest index on ties, as torch.argmax).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    /// <summary>Moves the k largest logits' indices to the front of order (unsorted) in O(n log k).</summary>
    private static void PartialTopK(ReadOnlySpan<float> logits, Span<int> order, int k, PriorityQueue<int, (float, int)> heap)
    {
        heap.Clear();
        for (int i = 0; i < logits.Length; i++)
        {
            heap.Enqueue(i, (logits[i], -i));
            if (heap.Count > k) heap.Dequeue();
        }
        for (int i = 0; heap.Count > 0; i++) order[i] = heap.Dequeue();
    }
}
