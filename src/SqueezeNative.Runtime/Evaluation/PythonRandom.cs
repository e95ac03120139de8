using System.Buffers.Binary;
using System.Numerics;

namespace SqueezeNative.Runtime.Evaluation;

/// <summary>
/// CPython's <c>random.Random</c> (Modules/_randommodule.c + Lib/random.py), reproduced draw for
/// draw for the calls the reference data pipelines make: <c>seed(int)</c>, <c>getrandbits</c>,
/// <c>randint</c> / <c>randrange</c> (via <c>_randbelow_with_getrandbits</c>) and <c>random()</c>.
/// The GPTQ / SqueezeLLM C4 windows and calibration windows are defined by this generator's
/// output, so any deviation (e.g. a modulo instead of the rejection loop) picks different
/// windows and changes the measured perplexity.
/// </summary>
public sealed class PythonRandom
{
    // MT19937 parameters (Matsumoto & Nishimura), as in CPython's _randommodule.c.
    private const int StateSize = 624;           // N
    private const int ShiftSize = 397;           // M
    private const uint MatrixA = 0x9908b0dfU;
    private const uint UpperMask = 0x80000000U;  // most significant w-r bits
    private const uint LowerMask = 0x7fffffffU;  // least significant r bits

    private readonly uint[] _state = new uint[StateSize];
    private int _index = StateSize + 1;

    /// <summary>A generator seeded like <c>random.Random(seed)</c>.</summary>
    public PythonRandom(long seed) => Seed(seed);

    /// <summary>A generator seeded like <c>random.Random(seed)</c> for an arbitrary-size int.</summary>
    public PythonRandom(BigInteger seed) => Seed(seed);

    /// <summary><c>random.seed(seed)</c> for an int.</summary>
    public void Seed(long seed) => Seed(new BigInteger(seed));

    /// <summary>
    /// <c>random.seed(seed)</c> for an int: CPython takes |seed|, splits it into 32-bit words,
    /// least significant first (at least one word, so 0 gives the key [0]), and runs
    /// <c>init_by_array</c> on them.
    /// </summary>
    public void Seed(BigInteger seed)
    {
        var magnitude = BigInteger.Abs(seed);
        var bytes = magnitude.ToByteArray(isUnsigned: true, isBigEndian: false);
        int wordCount = Math.Max(1, (bytes.Length + 3) / 4);
        var key = new uint[wordCount];
        for (int i = 0; i < bytes.Length; i++)
            key[i / 4] |= (uint)bytes[i] << (8 * (i % 4));
        InitByArray(key);
    }

    private void InitGenrand(uint seed)
    {
        _state[0] = seed;
        for (int i = 1; i < StateSize; i++)
            _state[i] = 1812433253U * (_state[i - 1] ^ (_state[i - 1] >> 30)) + (uint)i;
        _index = StateSize;
    }

    private void InitByArray(uint[] key)
    {
        InitGenrand(19650218U);
        int i = 1, j = 0;
        for (int k = Math.Max(StateSize, key.Length); k > 0; k--)
        {
            // Non-linear mixing; the arithmetic wraps modulo 2^32 on purpose.
            _state[i] = (_state[i] ^ ((_state[i - 1] ^ (_state[i - 1] >> 30)) * 1664525U)) + key[j] + (uint)j;
            i++; j++;
            if (i >= StateSize) { _state[0] = _state[StateSize - 1]; i = 1; }
            if (j >= key.Length) j = 0;
        }
        for (int k = StateSize - 1; k > 0; k--)
        {
            _state[i] = (_state[i] ^ ((_state[i - 1] ^ (_state[i - 1] >> 30)) * 1566083941U)) - (uint)i;
            i++;
            if (i >= StateSize) { _state[0] = _state[StateSize - 1]; i = 1; }
        }
        _state[0] = 0x80000000U; // MSB is 1, assuring a non-zero initial state
    }

    /// <summary>MT19937 <c>genrand_uint32</c>: the next 32 random bits.</summary>
    public uint NextUInt32()
    {
        if (_index >= StateSize) Twist();
        uint y = _state[_index++];
        // Tempering.
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680U;
        y ^= (y << 15) & 0xefc60000U;
        y ^= y >> 18;
        return y;
    }

    private void Twist()
    {
        int kk;
        uint y;
        for (kk = 0; kk < StateSize - ShiftSize; kk++)
        {
            y = (_state[kk] & UpperMask) | (_state[kk + 1] & LowerMask);
            _state[kk] = _state[kk + ShiftSize] ^ (y >> 1) ^ ((y & 1U) * MatrixA);
        }
        for (; kk < StateSize - 1; kk++)
        {
            y = (_state[kk] & UpperMask) | (_state[kk + 1] & LowerMask);
            _state[kk] = _state[kk + (ShiftSize - StateSize)] ^ (y >> 1) ^ ((y & 1U) * MatrixA);
        }
        y = (_state[StateSize - 1] & UpperMask) | (_state[0] & LowerMask);
        _state[StateSize - 1] = _state[ShiftSize - 1] ^ (y >> 1) ^ ((y & 1U) * MatrixA);
        _index = 0;
    }

    /// <summary>
    /// <c>getrandbits(k)</c> for 0 ≤ k ≤ 64. CPython takes the top k bits of one 32-bit draw when
    /// k ≤ 32; otherwise it fills 32-bit words least significant first, the last word keeping the
    /// top bits of its draw.
    /// </summary>
    public ulong GetRandBits(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(k, 64);
        if (k == 0) return 0;
        if (k <= 32) return NextUInt32() >> (32 - k);
        ulong low = NextUInt32();
        ulong high = NextUInt32() >> (64 - k);
        return low | (high << 32);
    }

    /// <summary><c>getrandbits(k)</c> for any k ≥ 0, as an arbitrary-size int.</summary>
    public BigInteger GetRandBitsBig(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (k <= 64) return GetRandBits(k);
        var bytes = new byte[((k - 1) / 32 + 1) * 4];
        for (int offset = 0, remaining = k; remaining > 0; offset += 4, remaining -= 32)
        {
            uint word = NextUInt32();
            if (remaining < 32) word >>= 32 - remaining;
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offset), word);
        }
        return new BigInteger(bytes, isUnsigned: true, isBigEndian: false);
    }

    /// <summary>
    /// <c>_randbelow_with_getrandbits(n)</c>: uniform in [0, n) by drawing <c>n.bit_length()</c>
    /// bits and rejecting values ≥ n (no modulo, so no bias, and the number of draws matters).
    /// </summary>
    public long RandBelow(long n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        int bits = 64 - BitOperations.LeadingZeroCount((ulong)n); // n.bit_length()
        ulong r = GetRandBits(bits);
        while (r >= (ulong)n) r = GetRandBits(bits);
        return (long)r;
    }

    /// <summary>
    /// <c>randint(a, b)</c> = <c>randrange(a, b + 1)</c> = a + randbelow(b − a + 1), both ends
    /// included. Python raises for b &lt; a ("empty range"); so does this.
    /// </summary>
    public long RandInt(long a, long b)
    {
        if (b < a)
            throw new ArgumentException($"empty range for randint({a}, {b})");
        Int128 width = (Int128)b - a + 1;
        if (width > long.MaxValue)
            throw new ArgumentException($"randint({a}, {b}): the range is wider than 2^63 - 1");
        return a + RandBelow((long)width);
    }

    /// <summary><c>random()</c>: a 53-bit float in [0, 1) from two draws (27 + 26 bits).</summary>
    public double Random()
    {
        uint a = NextUInt32() >> 5, b = NextUInt32() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }
}
