using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace SqueezeNative.Runtime.Quantization;

/// <summary>
/// Exact order statistics of large float arrays without sorting or copying them: a radix select
/// on order-preserving 32-bit keys. Pass 1 (<see cref="HighHistogram(ReadOnlySpan{float}, ReadOnlySpan{bool}, Partition)"/>)
/// counts the 16 high bits of every key; pass 2 (<see cref="KeysAtRanks(ReadOnlySpan{float}, KeyHistogram, ReadOnlySpan{long}, Span{uint}, Partition)"/>)
/// counts the 16 low bits of the elements in the high bins that hold the wanted ranks — any number
/// of ranks from the same two passes, and the same pass 2 can gather the largest magnitudes.
/// <para>
/// Both passes run over the contiguous chunks of a <see cref="Partition"/> in parallel. Chunk
/// results are integer counts added together (or gathered values that are sorted afterwards), so
/// every result is the same whatever the chunking and the thread count. Pass 1 is a scalar
/// scatter, about 1 ns an element; pass 2 tests 8 keys a step and leaves the vector loop only for
/// the few elements it must count (measured on the 2-core dev VM: 11 ms and 3–4 ms for 16.7 M
/// floats of weights, where the old pair of passes, with a branch on the sign, took 180 ms for
/// each of the quartiles' four ranks).
/// Histograms (256 KiB each) come from <see cref="ArrayPool{T}"/>: a fresh one costs page faults.
/// NaN must not occur (callers check <see cref="KeyHistogram.HasNonFinite"/> first).
/// </para>
/// </summary>
internal static class FloatSelection
{
    public const int BinCount = 1 << 16;

    /// <summary>A key whose unsigned order is the float order (−0 sorts just below +0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Key(float value) => KeyOfBits(BitConverter.SingleToUInt32Bits(value));

    public static float FromKey(uint key)
    {
        var bits = (key & 0x8000_0000u) != 0 ? key & 0x7FFF_FFFFu : ~key;
        return BitConverter.UInt32BitsToSingle(bits);
    }

    /// <summary>
    /// <see cref="Key"/> without a branch (weights' signs are random, and a mispredicted branch
    /// per element cost more than the rest of the pass): negative floats flip every bit, the
    /// others only the sign bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint KeyOfBits(uint bits) => bits ^ (uint)(((int)bits >> 31) | int.MinValue);

    /// <summary><see cref="Key"/> of 8 floats given as their bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> KeysOfBits(Vector256<uint> bits)
        => bits ^ (Vector256.ShiftRightArithmetic(bits.AsInt32(), 31).AsUInt32() | Vector256.Create(0x8000_0000u));

    /// <summary>
    /// Pass 1: how many keys of <paramref name="data"/> fall in each high 16-bit bin, and, when
    /// <paramref name="marked"/> is given (same length; any non-zero byte is a mark), how many of
    /// the marked elements do. Dispose the result to give its histograms back to the pool.
    /// </summary>
    public static KeyHistogram HighHistogram(ReadOnlySpan<float> data, ReadOnlySpan<bool> marked, Partition partition)
    {
        partition.CheckLength(data.Length);
        if (!marked.IsEmpty && marked.Length != data.Length)
            throw new ArgumentException("one flag per element expected", nameof(marked));
        var result = new KeyHistogram(withMarked: !marked.IsEmpty);
        var gate = new object();
        var hasMarked = !marked.IsEmpty;
        ForEachChunk(data, marked, partition, (bits, markedChunk) =>
        {
            var counts = RentCleared();
            var markedCounts = hasMarked ? RentCleared() : null;
            if (markedCounts is null)
                CountHigh(bits, counts);
            else
                CountHigh(bits, MemoryMarshal.AsBytes(markedChunk), counts, markedCounts);
            lock (gate)
            {
                Add(result.AllCounts, counts);
                if (markedCounts is not null)
                    Add(result.MarkedCounts!, markedCounts);
            }
            ArrayPool<int>.Shared.Return(counts);
            if (markedCounts is not null)
                ArrayPool<int>.Shared.Return(markedCounts);
        });
        return result;
    }

    /// <summary>A chunk of the keys' bits and of the matching flags (empty when there are none).</summary>
    private delegate void ChunkBody(ReadOnlySpan<uint> bits, ReadOnlySpan<bool> flags);

    /// <summary>
    /// Runs <paramref name="body"/> on every chunk of <paramref name="partition"/> in parallel, with
    /// <paramref name="data"/> and <paramref name="flags"/> pinned for the run: spans cannot enter
    /// the partition's lambda, their pinned addresses can (as integers).
    /// </summary>
    private static unsafe void ForEachChunk(ReadOnlySpan<float> data, ReadOnlySpan<bool> flags, Partition partition, ChunkBody body)
    {
        fixed (float* dataPointer = data)
        fixed (bool* flagPointer = flags)
        {
            nint d = (nint)dataPointer, f = (nint)flagPointer;
            var hasFlags = !flags.IsEmpty;
            partition.Run(chunk =>
            {
                var (start, length) = partition.Chunk(chunk);
                body(new ReadOnlySpan<uint>((uint*)d + start, length),
                    hasFlags ? new ReadOnlySpan<bool>((bool*)f + start, length) : ReadOnlySpan<bool>.Empty);
            });
        }
    }

    /// <summary>Pass 1 over every element (nothing marked).</summary>
    public static KeyHistogram HighHistogram(ReadOnlySpan<float> data, Partition partition)
        => HighHistogram(data, ReadOnlySpan<bool>.Empty, partition);

    private static void CountHigh(ReadOnlySpan<uint> bits, int[] counts)
    {
        ref var count = ref MemoryMarshal.GetArrayDataReference(counts);
        foreach (var b in bits)
            Unsafe.Add(ref count, (nint)(KeyOfBits(b) >> 16))++;
    }

    /// <summary>
    /// <see cref="CountHigh(ReadOnlySpan{uint}, int[])"/>, and the marked elements on their own:
    /// the flags are tested 32 at a time in the same loop, so reading them is nearly free.
    /// </summary>
    private static void CountHigh(ReadOnlySpan<uint> bits, ReadOnlySpan<byte> flags, int[] counts, int[] markedCounts)
    {
        const int Block = 32;
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref var flag = ref MemoryMarshal.GetReference(flags);
            for (; i + Block <= bits.Length; i += Block)
            {
                CountHigh(bits.Slice(i, Block), counts);
                var zero = Vector256.Equals(Vector256.LoadUnsafe(ref flag, (nuint)i), Vector256<byte>.Zero);
                for (var lanes = ~zero.ExtractMostSignificantBits(); lanes != 0; lanes &= lanes - 1)
                    markedCounts[KeyOfBits(bits[i + BitOperations.TrailingZeroCount(lanes)]) >> 16]++;
            }
        }
        CountHigh(bits[i..], counts);
        for (; i < bits.Length; i++)
            if (flags[i] != 0)
                markedCounts[KeyOfBits(bits[i]) >> 16]++;
    }

    /// <summary>
    /// Pass 2: the keys of the elements of ascending ranks <paramref name="ranks"/> (0-based,
    /// among all elements, marked ones included) into <paramref name="keys"/>, given pass 1's
    /// <paramref name="histogram"/> of the same data.
    /// </summary>
    public static void KeysAtRanks(ReadOnlySpan<float> data, KeyHistogram histogram, ReadOnlySpan<long> ranks, Span<uint> keys,
        Partition partition)
        => KeysAtRanks(data, histogram, ranks, keys, ReadOnlySpan<bool>.Empty, 0, 0, partition);

    /// <summary>Both passes.</summary>
    public static void KeysAtRanks(ReadOnlySpan<float> data, ReadOnlySpan<long> ranks, Span<uint> keys, Partition partition)
    {
        using var histogram = HighHistogram(data, partition);
        KeysAtRanks(data, histogram, ranks, keys, partition);
    }

    /// <summary>The value of ascending rank <paramref name="rank"/>.</summary>
    public static float ValueAtRank(ReadOnlySpan<float> data, long rank)
    {
        Span<uint> key = stackalloc uint[1];
        KeysAtRanks(data, [rank], key, Partition.For(data.Length, 0));
        return FromKey(key[0]);
    }

    /// <summary>
    /// Pass 2 as <see cref="KeysAtRanks(ReadOnlySpan{float}, KeyHistogram, ReadOnlySpan{long}, Span{uint}, Partition)"/>,
    /// and in the same read of the data the magnitudes |x| of the elements not marked in
    /// <paramref name="skip"/> (empty = none) whose magnitude bin (the high 16 bits of the key of
    /// |x|, see <see cref="KeyHistogram.UnmarkedMagnitudes(int)"/>) is at least
    /// <paramref name="magnitudeBin"/>, in no particular order, in a pooled buffer the caller
    /// disposes. <paramref name="magnitudeCount"/> is how many there are (from the histogram);
    /// 0 gathers nothing.
    /// </summary>
    public static PooledFloats KeysAtRanks(ReadOnlySpan<float> data, KeyHistogram histogram, ReadOnlySpan<long> ranks, Span<uint> keys,
        ReadOnlySpan<bool> skip, int magnitudeBin, int magnitudeCount, Partition partition)
    {
        partition.CheckLength(data.Length);
        if (keys.Length != ranks.Length)
            throw new ArgumentException("one key per rank expected", nameof(keys));
        if (!skip.IsEmpty && skip.Length != data.Length)
            throw new ArgumentException("one flag per element expected", nameof(skip));
        // The high bin of every rank and the rank within that bin; each distinct bin gets one low histogram.
        var bins = new List<uint>();
        var binOf = new int[ranks.Length];
        var within = new long[ranks.Length];
        for (var r = 0; r < ranks.Length; r++)
        {
            if (ranks[r] < 0 || ranks[r] >= data.Length)
                throw new ArgumentOutOfRangeException(nameof(ranks), ranks[r], "rank is not below the number of elements");
            within[r] = ranks[r];
            var bin = (uint)FindBin(histogram.All, ref within[r]);
            binOf[r] = bins.IndexOf(bin);
            if (binOf[r] < 0)
            {
                binOf[r] = bins.Count;
                bins.Add(bin);
            }
        }
        var pass = new SecondPass(bins.ToArray(), magnitudeBin, new PooledFloats(magnitudeCount));
        if (pass.Bins.Length > 0 || magnitudeCount > 0)
            ForEachChunk(data, skip, partition, pass.Run);
        for (var r = 0; r < ranks.Length; r++)
        {
            var lowBits = (uint)FindBin(pass.Low[binOf[r]].AsSpan(0, BinCount), ref within[r]);
            keys[r] = (pass.Bins[binOf[r]] << 16) | lowBits;
        }
        pass.ReturnHistograms();
        if (pass.Filled != magnitudeCount)
        {
            pass.Magnitudes.Dispose();
            throw new InvalidOperationException($"expected {magnitudeCount} magnitudes, gathered {pass.Filled}");
        }
        return pass.Magnitudes;
    }

    /// <summary>One pass-2 job: low-bit histograms of some high bins, and the gathering of large magnitudes.</summary>
    private sealed class SecondPass
    {
        private readonly object _gate = new();
        private readonly int _minimumMagnitudeBits;
        private int _filled;

        public SecondPass(uint[] bins, int magnitudeBin, PooledFloats magnitudes)
        {
            Bins = bins;
            Low = new int[bins.Length][];
            for (var j = 0; j < Low.Length; j++)
                Low[j] = RentCleared();
            Magnitudes = magnitudes;
            // A magnitude key has its top bit set; the rest is the bits of |x|, which order like
            // non-negative ints, so "bin ≥ b" is "(bits & 0x7FFF_FFFF) ≥ (b & 0x7FFF) << 16".
            _minimumMagnitudeBits = (magnitudeBin & 0x7FFF) << 16;
        }

        public uint[] Bins { get; }

        public int[][] Low { get; }

        public PooledFloats Magnitudes { get; }

        public int Filled => _filled;

        private bool Gathers => Magnitudes.Length > 0;

        public void Run(ReadOnlySpan<uint> bits, ReadOnlySpan<bool> skip)
        {
            var low = new int[Bins.Length][];
            for (var j = 0; j < low.Length; j++)
                low[j] = RentCleared();
            // Gathered magnitudes go to the result a block at a time; the caller sorts them, so
            // where each block lands does not matter.
            Span<float> block = stackalloc float[256];
            var n = 0;
            var i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var wanted = new Vector256<uint>[Bins.Length];
                for (var j = 0; j < Bins.Length; j++)
                    wanted[j] = Vector256.Create(Bins[j]);
                var minimum = Vector256.Create(Gathers ? _minimumMagnitudeBits : int.MaxValue);
                var magnitude = Vector256.Create(0x7FFF_FFFFu);
                ref var first = ref MemoryMarshal.GetReference(bits);
                for (; i + Vector256<uint>.Count <= bits.Length; i += Vector256<uint>.Count)
                {
                    var values = Vector256.LoadUnsafe(ref first, (nuint)i);
                    var high = Vector256.ShiftRightLogical(KeysOfBits(values), 16);
                    var hit = Vector256.GreaterThanOrEqual((values & magnitude).AsInt32(), minimum).AsUInt32();
                    foreach (var w in wanted)
                        hit |= Vector256.Equals(high, w);
                    for (var lanes = hit.ExtractMostSignificantBits(); lanes != 0; lanes &= lanes - 1)
                        Visit(i + BitOperations.TrailingZeroCount(lanes), bits, skip, low, block, ref n);
                }
            }
            for (; i < bits.Length; i++)
                Visit(i, bits, skip, low, block, ref n);
            if (n > 0)
                Flush(block[..n]);
            lock (_gate)
            {
                for (var j = 0; j < low.Length; j++)
                    Add(Low[j], low[j]);
            }
            foreach (var histogram in low)
                ArrayPool<int>.Shared.Return(histogram);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Visit(int i, ReadOnlySpan<uint> bits, ReadOnlySpan<bool> skip, int[][] low, Span<float> block, ref int n)
        {
            var key = KeyOfBits(bits[i]);
            for (var j = 0; j < Bins.Length; j++)
            {
                if (key >> 16 == Bins[j])
                {
                    low[j][key & 0xFFFF]++;
                    break;
                }
            }
            var magnitudeBits = (int)(bits[i] & 0x7FFF_FFFFu);
            if (Gathers && magnitudeBits >= _minimumMagnitudeBits && (skip.IsEmpty || !skip[i]))
            {
                block[n++] = BitConverter.Int32BitsToSingle(magnitudeBits);
                if (n == block.Length)
                {
                    Flush(block);
                    n = 0;
                }
            }
        }

        private void Flush(ReadOnlySpan<float> block)
            => block.CopyTo(Magnitudes.Span.Slice(Interlocked.Add(ref _filled, block.Length) - block.Length, block.Length));

        public void ReturnHistograms()
        {
            foreach (var histogram in Low)
                ArrayPool<int>.Shared.Return(histogram);
        }
    }

    /// <summary>
    /// Sorts non-negative, non-NaN floats ascending: the order <see cref="Array.Sort(Array)"/>
    /// gives them (their bit patterns order as the values do, and equal values have equal bits),
    /// by a least-significant-digit radix sort of 11, 11 and 10 bits — linear time, where a
    /// comparison sort of a complete profile (every magnitude of a 4096 × 4096 matrix) took 2.6 s.
    /// </summary>
    public static void SortNonNegative(Span<float> values)
    {
        const int Digit = 11, Buckets = 1 << Digit;
        if (values.Length < 256)
        {
            values.Sort();
            return;
        }
        var counts = new int[3 * Buckets];
        var keys = MemoryMarshal.Cast<float, uint>(values);
        foreach (var key in keys)
        {
            counts[key & (Buckets - 1)]++;
            counts[Buckets + ((key >> Digit) & (Buckets - 1))]++;
            counts[2 * Buckets + (key >> (2 * Digit))]++;
        }
        var rented = ArrayPool<uint>.Shared.Rent(values.Length);
        Span<uint> source = keys;
        Span<uint> target = rented.AsSpan(0, values.Length);
        for (var pass = 0; pass < 3; pass++)
        {
            var digitCounts = counts.AsSpan(pass * Buckets, Buckets);
            var shift = pass * Digit;
            if (digitCounts[(int)((source[0] >> shift) & (Buckets - 1))] == values.Length)
                continue;   // every key has the same digit: this pass would not move anything
            var offset = 0;
            for (var b = 0; b < Buckets; b++)
                (digitCounts[b], offset) = (offset, offset + digitCounts[b]);
            foreach (var key in source)
                target[digitCounts[(int)((key >> shift) & (Buckets - 1))]++] = key;
            var swap = source;
            source = target;
            target = swap;
        }
        if (!source.Overlaps(keys))
            source.CopyTo(keys);
        ArrayPool<uint>.Shared.Return(rented);
    }

    /// <summary>The bin that holds ascending rank <paramref name="rank"/>; on return, the rank within that bin.</summary>
    public static int FindBin(ReadOnlySpan<int> histogram, ref long rank)
    {
        for (var bin = 0; bin < histogram.Length; bin++)
        {
            if (rank < histogram[bin])
                return bin;
            rank -= histogram[bin];
        }
        throw new ArgumentOutOfRangeException(nameof(rank), "rank is not below the number of selected elements");
    }

    /// <summary>A pooled histogram (at least <see cref="BinCount"/> entries), its first <see cref="BinCount"/> zeroed.</summary>
    internal static int[] RentCleared()
    {
        var histogram = ArrayPool<int>.Shared.Rent(BinCount);
        Array.Clear(histogram, 0, BinCount);
        return histogram;
    }

    private static void Add(int[] total, int[] part)
    {
        var t = MemoryMarshal.Cast<int, Vector256<int>>(total.AsSpan(0, BinCount));
        var p = MemoryMarshal.Cast<int, Vector256<int>>(part.AsSpan(0, BinCount));
        for (var v = 0; v < t.Length; v++)
            t[v] += p[v];
    }
}

/// <summary>A pooled float buffer of a given length (<see cref="ArrayPool{T}"/>: a fresh megabyte costs page faults).</summary>
internal sealed class PooledFloats(int length) : IDisposable
{
    private float[]? _array = length > 0 ? ArrayPool<float>.Shared.Rent(length) : [];

    public int Length => length;

    public Span<float> Span => (_array ?? throw new ObjectDisposedException(nameof(PooledFloats))).AsSpan(0, length);

    public void Dispose()
    {
        if (_array is { Length: > 0 })
            ArrayPool<float>.Shared.Return(_array);
        _array = null;
    }
}

/// <summary>
/// Pass 1's result (<see cref="FloatSelection.HighHistogram(ReadOnlySpan{float}, ReadOnlySpan{bool}, Partition)"/>):
/// per high 16-bit key bin, how many elements, and how many marked elements, fall there.
/// Holds pooled arrays until disposed.
/// </summary>
internal sealed class KeyHistogram : IDisposable
{
    private int[]? _all;
    private int[]? _marked;

    public KeyHistogram(bool withMarked)
    {
        _all = FloatSelection.RentCleared();
        _marked = withMarked ? FloatSelection.RentCleared() : null;
    }

    internal int[] AllCounts => _all ?? throw new ObjectDisposedException(nameof(KeyHistogram));

    internal int[]? MarkedCounts => _marked;

    /// <summary>Every element, by the high 16 bits of its key.</summary>
    public ReadOnlySpan<int> All => AllCounts.AsSpan(0, FloatSelection.BinCount);

    public long MarkedCount => _marked is null ? 0 : Sum(_marked.AsSpan(0, FloatSelection.BinCount));

    /// <summary>
    /// Whether an element may be ±∞ or NaN: the bins of keys below −max finite (−∞, negative
    /// NaNs: bins 0x0000–0x007F) and above +max finite (+∞, positive NaNs: 0xFF80–0xFFFF).
    /// Exact: no finite float shares these bins.
    /// </summary>
    public bool HasNonFinite => Sum(All[..0x80]) + Sum(All[0xFF80..]) > 0;

    /// <summary>
    /// Whether an element may be negative, +∞ or NaN (not a valid sensitivity). Bin 0x7FFF holds
    /// −0 (valid) and the tiniest negative subnormals, so a count there is only a "may".
    /// </summary>
    public bool MayHaveNegativeOrNonFinite => Sum(All[..0x8000]) + Sum(All[0xFF80..]) > 0;

    /// <summary>
    /// Unmarked elements whose magnitude |x| has key bin <paramref name="bin"/> (0x8000–0xFFFF).
    /// A negative x's key is the bitwise not of its bits, so the key bin b of a negative x is the
    /// magnitude bin 0xFFFF − b (−0 joins +0 in bin 0x8000).
    /// </summary>
    public int UnmarkedMagnitudes(int bin)
    {
        var negative = 0xFFFF - bin;
        var all = AllCounts[bin] + AllCounts[negative];
        return _marked is null ? all : all - _marked[bin] - _marked[negative];
    }

    /// <summary>The magnitude bin that holds ascending rank <paramref name="rank"/> among the unmarked magnitudes; on return, the rank within it.</summary>
    public int FindUnmarkedMagnitudeBin(ref long rank)
    {
        for (var bin = 0x8000; bin < FloatSelection.BinCount; bin++)
        {
            var count = UnmarkedMagnitudes(bin);
            if (rank < count)
                return bin;
            rank -= count;
        }
        throw new ArgumentOutOfRangeException(nameof(rank), "rank is not below the number of unmarked elements");
    }

    /// <summary>Unmarked elements whose magnitude bin is <paramref name="bin"/> or above.</summary>
    public long UnmarkedMagnitudesFrom(int bin)
    {
        var sum = 0L;
        for (var b = bin; b < FloatSelection.BinCount; b++)
            sum += UnmarkedMagnitudes(b);
        return sum;
    }

    private static long Sum(ReadOnlySpan<int> counts)
    {
        var sum = 0L;
        foreach (var count in counts)
            sum += count;
        return sum;
    }

    public void Dispose()
    {
        if (_all is not null)
            ArrayPool<int>.Shared.Return(_all);
        if (_marked is not null)
            ArrayPool<int>.Shared.Return(_marked);
        _all = _marked = null;
    }
}

/// <summary>
/// How a streaming pass splits its <see cref="Length"/> elements: <see cref="Chunks"/> contiguous
/// chunks, chunk c = [Length·c/Chunks, Length·(c+1)/Chunks), run on up to <see cref="Threads"/>
/// threads. Callers merge chunk results exactly (integer counts; chunk order where order
/// matters), so the chunking changes the time, never the result.
/// </summary>
internal readonly record struct Partition(int Length, int Chunks, int Threads)
{
    /// <summary>
    /// The smallest chunk worth a thread: a pass-1 chunk clears and merges 256 KiB of histogram,
    /// about the time of counting 50 000 elements (an empirical choice, on the 2-core dev VM).
    /// </summary>
    public const int MinChunk = 1 << 18;

    /// <summary>One chunk per worker (<paramref name="threads"/>, 0 = one per core), none smaller than <see cref="MinChunk"/>.</summary>
    public static Partition For(int length, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        var workers = threads > 0 ? threads : Environment.ProcessorCount;
        var chunks = Math.Clamp(length / MinChunk, 1, workers);
        return new Partition(length, chunks, workers);
    }

    public (int Start, int Length) Chunk(int chunk)
    {
        var start = (int)((long)Length * chunk / Chunks);
        var end = (int)((long)Length * (chunk + 1) / Chunks);
        return (start, end - start);
    }

    public void CheckLength(int length)
    {
        if (Length != length || Chunks < 1 || Threads < 1)
            throw new ArgumentException($"a partition of {Length} elements into {Chunks} chunks on {Threads} threads, for {length} elements");
    }

    /// <summary>Runs <paramref name="body"/> for every chunk (inline when there is one).</summary>
    public void Run(Action<int> body)
    {
        if (Chunks == 1)
            body(0);
        else
            Parallel.For(0, Chunks, new ParallelOptions { MaxDegreeOfParallelism = Threads }, body);
    }

    /// <summary>
    /// A zeroed flag per element, zeroed chunk by chunk in parallel: a fresh array's pages fault
    /// in when first written, and one thread faulting in 16 MiB took ~45 ms on the dev VM.
    /// </summary>
    public bool[] ZeroedMask()
    {
        var mask = GC.AllocateUninitializedArray<bool>(Length);
        var self = this;
        Run(chunk =>
        {
            var (start, length) = self.Chunk(chunk);
            mask.AsSpan(start, length).Clear();
        });
        return mask;
    }
}
