namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// GPT-2's reversible byte ⇄ character map (<c>bytes_to_unicode</c>): printable Latin-1 bytes map to
/// themselves and the other 68 bytes to U+0100.. in byte order, so that every byte string becomes a
/// string of printable characters that BPE can work on ("Ġ" is the space byte 0x20).
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Character standing for each byte value.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Byte value of each mapped character, -1 for characters outside the alphabet.</summary>
    private static readonly short[] CharToByteTable = BuildCharToByte();

    /// <summary>The byte a character stands for, or -1 when it is not one of the 256 characters.</summary>
    public static int CharToByte(char c) => c < CharToByteTable.Length ? CharToByteTable[c] : -1;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[256 + 68];
        Array.Fill(table, (short)-1);
        for (var b = 0; b < 256; b++)
            table[ByteToChar[b]] = (short)b;
        return table;
    }
}
