namespace SqueezeNative.Runtime.Inference;

/// <summary>
/// Streams text while watching for stop strings: text that might be the start of a stop string
/// is held back until it is known not to be, and nothing from a stop string on is ever emitted.
/// </summary>
public sealed class StopStringFilter(IReadOnlyList<string> stopStrings)
{
    private string _pending = "";

    /// <summary>
    /// Adds generated text; returns what can be emitted now. <paramref name="stopped"/> is true
    /// once a stop string appeared (the returned text ends right before it).
    /// </summary>
    public string Push(string text, out bool stopped)
    {
        stopped = false;
        if (stopStrings.Count == 0) return text;
        _pending += text;
        int cut = -1;
        foreach (var s in stopStrings)
        {
            int at = _pending.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            stopped = true;
            var head = _pending[..cut];
            _pending = "";
            return head;
        }
        // Hold back the longest suffix that is a proper prefix of some stop string.
        int hold = 0;
        foreach (var s in stopStrings)
            for (int len = Math.Min(s.Length - 1, _pending.Length); len > hold; len--)
                if (_pending.AsSpan(_pending.Length - len).SequenceEqual(s.AsSpan(0, len))) { hold = len; break; }
        var ready = _pending[..^hold];
        _pending = _pending[^hold..];
        return ready;
    }

    /// <summary>The held-back text at the end of generation (it did not become a stop string).</summary>
    public string Flush()
    {
        var rest = _pending;
        _pending = "";
        return rest;
    }
}
