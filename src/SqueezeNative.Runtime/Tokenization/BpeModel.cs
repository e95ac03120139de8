using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace SqueezeNative.Runtime.Tokenization;

/// <summary>Options of a BPE model as tokenizer.json's "model" object states them.</summary>
internal sealed record BpeOptions
{
    public string? UnkToken { get; init; }
    public bool FuseUnk { get; init; }
    public bool ByteFallback { get; init; }
    public bool IgnoreMerges { get; init; }
    public string? ContinuingSubwordPrefix { get; init; }
    public string? EndOfWordSuffix { get; init; }
}

/// <summary>
/// Byte-pair-encoding model with the exact merge order of Hugging Face tokenizers: within a word,
/// repeatedly merge the adjacent pair with the lowest merge rank, the leftmost one on ties.
/// <para>
/// Cost: O(n log n) per word, through a min-heap keyed by (rank, position) with lazy invalidation
/// (an entry is skipped when its left symbol is gone or its pair has changed since it was pushed).
/// This matters because SentencePiece-style tokenizers (LLaMA) have no pre-tokenizer: a whole
/// document is one "word" of a million symbols. Where the merges provably never cross the start
/// of a "▁word" (see <see cref="FindChunkBoundary"/>), such a word is merged chunk by chunk instead,
/// with the same result. Short words and chunks are cached, as Hugging Face caches words.
/// </para>
/// </summary>
internal sealed class BpeModel
{
    /// <summary>Words this long or longer are not cached (Hugging Face's MAX_LENGTH).</summary>
    private const int MaxCachedWordLength = 256;
    /// <summary>Cache entries before the cache stops growing (Hugging Face stops at 10,000).</summary>
    private const int CacheCapacity = 100_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly string?[] _idToToken;
    /// <summary>(left id, right id) → (rank &lt;&lt; 32) | merged id.</summary>
    private readonly Dictionary<long, long> _merges;
    /// <summary>Id of "&lt;0xNN&gt;" per byte value, -1 where absent.</summary>
    private readonly int[] _byteTokenIds;
    private readonly int _unkId = -1;
    private readonly BpeOptions _options;
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheBySpan;
    private int _cacheCount;
    private const char NoChunkBoundary = '\0';
    private readonly char _chunkBoundary;

    /// <summary>Builds the model; <paramref name="sourcePath"/> names the file in error messages.</summary>
    /// <exception cref="ModelFormatException">A merge or the unk token refers to a missing vocabulary entry.</exception>
    public BpeModel(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        BpeOptions options, string sourcePath)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _options = options;

        var maxId = -1;
        foreach (var id in vocab.Values)
        {
            if (id < 0)
                throw new ModelFormatException($"BPE vocabulary has a negative id {id}", sourcePath);
            maxId = Math.Max(maxId, id);
        }
        _idToToken = new string?[maxId + 1];
        foreach (var (token, id) in vocab)
            _idToToken[id] = token;

        var prefixLength = options.ContinuingSubwordPrefix?.Length ?? 0;
        _merges = new Dictionary<long, long>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out var leftId) || !vocab.TryGetValue(right, out var rightId))
                throw new ModelFormatException(
                    $"BPE merge #{rank} \"{left} {right}\" uses a token that is not in the vocabulary", sourcePath);
            var merged = left + (right.Length >= prefixLength ? right[prefixLength..] : "");
            if (!vocab.TryGetValue(merged, out var mergedId))
                throw new ModelFormatException(
                    $"BPE merge #{rank} \"{left} {right}\" produces \"{merged}\", which is not in the vocabulary", sourcePath);
            // A repeated pair keeps its last rank, as Hugging Face's HashMap collection does.
            _merges[PairKey(leftId, rightId)] = ((long)rank << 32) | (uint)mergedId;
        }

        _byteTokenIds = new int[256];
        for (var b = 0; b < 256; b++)
            _byteTokenIds[b] = vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;

        _cacheBySpan = new ConcurrentDictionary<string, int[]>(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
        _chunkBoundary = FindChunkBoundary(vocab, merges, options);

        if (options.UnkToken is not null && !vocab.TryGetValue(options.UnkToken, out _unkId))
            throw new ModelFormatException($"BPE unk_token \"{options.UnkToken}\" is not in the vocabulary", sourcePath);
    }

    /// <summary>Largest id in the vocabulary.</summary>
    public int MaxId => _idToToken.Length - 1;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out var id) ? id : null;

    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>Appends the ids of one pre-tokenized word.</summary>
    public void Tokenize(string word, List<int> output)
    {
        if (word.Length == 0)
            return;
        if (_options.IgnoreMerges && _vocab.TryGetValue(word, out var wholeId))
        {
            output.Add(wholeId);
            return;
        }
        if (_chunkBoundary == NoChunkBoundary)
        {
            TokenizeChunk(word, output);
            return;
        }
        var start = 0;
        for (var i = 1; i < word.Length; i++)
        {
            if (word[i] == _chunkBoundary && word[i - 1] != _chunkBoundary)
            {
                TokenizeChunk(word.AsSpan(start, i - start), output);
                start = i;
            }
        }
        TokenizeChunk(word.AsSpan(start), output);
    }

    /// <summary>
    /// Whether <see cref="Tokenize"/> cuts words into independently merged chunks (see
    /// <see cref="FindChunkBoundary"/>); tests compare it with <see cref="TokenizeWithoutChunks"/>.
    /// </summary>
    internal bool CutsWordsIntoChunks => _chunkBoundary != NoChunkBoundary;

    /// <summary>The plain whole-word merge, uncached: the reference the chunked path must equal.</summary>
    internal void TokenizeWithoutChunks(string word, List<int> output) => output.AddRange(MergeWord(word));

    private void TokenizeChunk(ReadOnlySpan<char> chunk, List<int> output)
    {
        var cacheable = chunk.Length < MaxCachedWordLength;
        if (cacheable && _cacheBySpan.TryGetValue(chunk, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var ids = MergeWord(chunk);
        if (cacheable && Volatile.Read(ref _cacheCount) < CacheCapacity && _cacheBySpan.TryAdd(chunk, ids))
            Interlocked.Increment(ref _cacheCount);
        output.AddRange(ids);
    }

    /// <summary>
    /// The character before which a word can be cut into chunks that BPE merges independently, or
    /// <see cref="NoChunkBoundary"/>. Cutting before "▁" (where the previous character is not "▁")
    /// gives exactly the whole-word result when no merge can ever span such a cut: by induction, the
    /// first merge spanning it would join a left part not ending in "▁" to a right part starting with
    /// "▁", so it suffices that no such merge exists and "▁" itself is in the vocabulary (so it never
    /// fuses with a neighbouring unk). The LLaMA-2 vocabulary satisfies this; its documents then
    /// tokenize as cached "▁word" chunks instead of one million-symbol word.
    /// </summary>
    private static char FindChunkBoundary(Dictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        BpeOptions options)
    {
        const char candidate = '\u2581';
        if (options.ContinuingSubwordPrefix is not null || options.EndOfWordSuffix is not null
            || !vocab.ContainsKey(candidate.ToString()))
            return NoChunkBoundary;
        foreach (var (left, right) in merges)
            if (right.Length > 0 && right[0] == candidate && (left.Length == 0 || left[^1] != candidate))
                return NoChunkBoundary;
        return candidate;
    }

    private static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    private int[] MergeWord(ReadOnlySpan<char> word)
    {
        var symbols = new IntBuffer(word.Length + 1);
        try
        {
            InitialSymbols(word, ref symbols);
            return MergeAll(symbols.Span);
        }
        finally
        {
            symbols.Dispose();
        }
    }

    /// <summary>One symbol per code point (its vocabulary id), else its byte tokens, else unk.</summary>
    private void InitialSymbols(ReadOnlySpan<char> word, ref IntBuffer symbols)
    {
        var prefix = _options.ContinuingSubwordPrefix;
        var suffix = _options.EndOfWordSuffix;
        var pendingUnk = false;
        var i = 0;
        while (i < word.Length)
        {
            var width = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var isFirst = i == 0;
            var isLast = i + width == word.Length;
            var piece = word.Slice(i, width);
            string? decorated = null;
            if ((!isFirst && prefix is not null) || (isLast && suffix is not null))
            {
                decorated = (!isFirst ? prefix : "") + piece.ToString() + (isLast ? suffix : "");
                piece = decorated;
            }
            i += width;

            if (_vocabBySpan.TryGetValue(piece, out var id))
            {
                if (pendingUnk)
                {
                    symbols.Add(_unkId);
                    pendingUnk = false;
                }
                symbols.Add(id);
                continue;
            }
            if (_options.ByteFallback && TryAddByteTokens(piece, ref symbols))
                continue;   // like Hugging Face, a pending unk is not flushed before byte tokens
            if (_options.UnkToken is not null)
            {
                if (pendingUnk && !_options.FuseUnk)
                    symbols.Add(_unkId);
                pendingUnk = true;
            }
            // Without unk and byte fallback an unknown character is dropped, as in Hugging Face.
        }
        if (pendingUnk)
            symbols.Add(_unkId);
    }

    private bool TryAddByteTokens(ReadOnlySpan<char> piece, ref IntBuffer symbols)
    {
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(piece.Length)];
        var count = Encoding.UTF8.GetBytes(piece, utf8);
        for (var k = 0; k < count; k++)
            if (_byteTokenIds[utf8[k]] < 0)
                return false;
        for (var k = 0; k < count; k++)
            symbols.Add(_byteTokenIds[utf8[k]]);
        return true;
    }

    /// <summary>
    /// Applies merges to the symbol sequence until none applies; returns the surviving ids.
    /// Symbols form a doubly linked list over positions; a merged symbol keeps the left position,
    /// the right one is marked dead (id -1).
    /// </summary>
    private int[] MergeAll(Span<int> ids)
    {
        var n = ids.Length;
        if (n == 0)
            return [];
        if (n == 1)
            return [ids[0]];

        var prevArray = ArrayPool<int>.Shared.Rent(n);
        var nextArray = ArrayPool<int>.Shared.Rent(n);
        var heap = new MinHeap(n);
        try
        {
            var prev = prevArray.AsSpan(0, n);
            var next = nextArray.AsSpan(0, n);
            for (var p = 0; p < n; p++)
            {
                prev[p] = p - 1;
                next[p] = p + 1 < n ? p + 1 : -1;
            }
            for (var p = 0; p + 1 < n; p++)
                if (_merges.TryGetValue(PairKey(ids[p], ids[p + 1]), out var merge))
                    heap.Push((merge & ~0xFFFFFFFFL) | (uint)p);

            var alive = n;
            while (heap.TryPop(out var entry))
            {
                var pos = (int)(entry & 0xFFFFFFFF);
                var rank = entry >> 32;
                if (ids[pos] < 0)
                    continue;
                var right = next[pos];
                if (right < 0)
                    continue;
                if (!_merges.TryGetValue(PairKey(ids[pos], ids[right]), out var current) || current >> 32 != rank)
                    continue;   // stale: this position's pair changed after the entry was pushed

                ids[pos] = (int)(current & 0xFFFFFFFF);
                ids[right] = -1;
                alive--;
                var afterRight = next[right];
                next[pos] = afterRight;
                if (afterRight >= 0)
                    prev[afterRight] = pos;

                var left = prev[pos];
                if (left >= 0 && _merges.TryGetValue(PairKey(ids[left], ids[pos]), out var withLeft))
                    heap.Push((withLeft & ~0xFFFFFFFFL) | (uint)left);
                if (afterRight >= 0 && _merges.TryGetValue(PairKey(ids[pos], ids[afterRight]), out var withRight))
                    heap.Push((withRight & ~0xFFFFFFFFL) | (uint)pos);
            }

            var result = new int[alive];
            var k = 0;
            for (var p = 0; p >= 0; p = next[p])
                result[k++] = ids[p];
            return result;
        }
        finally
        {
            heap.Dispose();
            ArrayPool<int>.Shared.Return(prevArray);
            ArrayPool<int>.Shared.Return(nextArray);
        }
    }

    /// <summary>Replaces a full pooled array by one twice as large holding its first <paramref name="count"/> items.</summary>
    private static void GrowPooled<T>(ref T[] items, int count)
    {
        var larger = ArrayPool<T>.Shared.Rent(items.Length * 2);
        items.AsSpan(0, count).CopyTo(larger);
        ArrayPool<T>.Shared.Return(items);
        items = larger;
    }

    /// <summary>A growable int list on pooled memory.</summary>
    private struct IntBuffer(int capacity) : IDisposable
    {
        private int[] _items = ArrayPool<int>.Shared.Rent(Math.Max(capacity, 4));
        private int _count;

        public readonly Span<int> Span => _items.AsSpan(0, _count);

        public void Add(int value)
        {
            if (_count == _items.Length)
                GrowPooled(ref _items, _count);
            _items[_count++] = value;
        }

        public void Dispose() => ArrayPool<int>.Shared.Return(_items);
    }

    /// <summary>Binary min-heap of (rank &lt;&lt; 32 | position) keys on pooled memory.</summary>
    private struct MinHeap(int capacity) : IDisposable
    {
        private long[] _items = ArrayPool<long>.Shared.Rent(Math.Max(capacity, 4));
        private int _count;

        public void Push(long key)
        {
            if (_count == _items.Length)
                GrowPooled(ref _items, _count);
            var i = _count++;
            while (i > 0)
            {
                var parent = (i - 1) >> 1;
                if (_items[parent] <= key)
                    break;
                _items[i] = _items[parent];
                i = parent;
            }
            _items[i] = key;
        }

        public bool TryPop(out long key)
        {
            if (_count == 0)
            {
                key = 0;
                return false;
            }
            key = _items[0];
            var last = _items[--_count];
            var i = 0;
            while (true)
            {
                var child = 2 * i + 1;
                if (child >= _count)
                    break;
                if (child + 1 < _count && _items[child + 1] < _items[child])
                    child++;
                if (_items[child] >= last)
                    break;
                _items[i] = _items[child];
                i = child;
            }
            if (_count > 0)
                _items[i] = last;
            return true;
        }

        public void Dispose() => ArrayPool<long>.Shared.Return(_items);
    }
}
