using System.Buffers.Binary;
using System.Diagnostics;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Models;
using Xunit.Abstractions;

namespace SqueezeNative.Tests.Models;

/// <summary>
/// Mutates a small valid safetensors file thousands of times and checks the reader's contract:
/// every attempt either loads (and every tensor's bytes can be read) or throws
/// <see cref="ModelFormatException"/>; any other exception, crash or hang is a bug.
/// </summary>
public class SafetensorsFuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20240611;
    private const int Attempts = 10000;
    private const int RequiredAttempts = 5000;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(90);

    // Bytes that steer mutations towards the JSON grammar and numbers rather than pure noise.
    private static readonly byte[] Interesting = "{}[]\",:-0123456789eE. \\"u8.ToArray().Concat(new byte[] { 0, 0x7F, 0x80, 0xC3, 0xFF }).ToArray();

    [Fact]
    public void MutatedFilesLoadOrFailWithModelFormatException()
    {
        using var temp = new TempDirectory();
        var validPath = temp.File("valid.safetensors");
        SafetensorsWriter.Write(validPath, SafetensorsTestFiles.SmallSet(), new Dictionary<string, string> { ["format"] = "pt" });
        var original = File.ReadAllBytes(validPath);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(original);

        var random = new Random(Seed);
        var path = temp.File("mutated.safetensors");
        int loaded = 0, rejected = 0, attempt = 0;
        var clock = Stopwatch.StartNew();
        for (; attempt < Attempts && clock.Elapsed < Budget; attempt++)
        {
            var mutated = Mutate(original, headerEnd, random);
            File.WriteAllBytes(path, mutated);
            try
            {
                using var file = SafetensorsFile.Open(path);
                ReadEveryTensor(file);
                loaded++;
            }
            catch (ModelFormatException e)
            {
                Assert.Equal(path, e.FilePath);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"attempt {attempt} (seed {Seed}) threw {e.GetType().Name}: {e.Message}\n" +
                    $"file bytes: {Convert.ToHexString(mutated)}\n{e}");
            }
        }

        output.WriteLine($"{attempt} attempts in {clock.Elapsed.TotalSeconds:F1} s: {loaded} loaded, {rejected} rejected");
        Assert.True(attempt >= RequiredAttempts, $"only {attempt} attempts ran within the {Budget.TotalSeconds} s budget");
        // Both outcomes must be exercised, or the mutations are not testing what they should.
        Assert.True(loaded > 50, $"only {loaded} mutated files loaded");
        Assert.True(rejected > 1000, $"only {rejected} mutated files were rejected");
    }

    private static void ReadEveryTensor(SafetensorsFile file)
    {
        foreach (var name in file.Names)
        {
            Assert.True(file.TryGetTensor(name, out var tensor));
            Assert.Equal(tensor.ElementCount * tensor.DType.SizeInBytes(), tensor.ByteLength);
            var span = tensor.Data.Span;
            Assert.Equal(tensor.ByteLength, span.Length);
            // Touch the first and last byte: they must be inside the mapping.
            if (span.Length > 0) _ = span[0] ^ span[^1];
        }
    }

    private static byte[] Mutate(byte[] original, int headerEnd, Random random)
    {
        var bytes = new List<byte>(original);
        int mutations = 1 + random.Next(3);
        for (int m = 0; m < mutations; m++)
        {
            if (bytes.Count == 0) break;
            // Two thirds of the mutations land in the length prefix or the header, where parsing happens.
            int position = random.Next(3) < 2
                ? random.Next(Math.Min(headerEnd, bytes.Count))
                : random.Next(bytes.Count);
            switch (random.Next(8))
            {
                case 0: // flip one bit
                    bytes[position] ^= (byte)(1 << random.Next(8));
                    break;
                case 1: // overwrite with a grammar byte
                    bytes[position] = Interesting[random.Next(Interesting.Length)];
                    break;
                case 2: // replace a digit by another digit: valid JSON, different numbers
                    int digit = bytes.FindIndex(position, b => b is >= (byte)'0' and <= (byte)'9');
                    if (digit >= 0) bytes[digit] = (byte)('0' + random.Next(10));
                    break;
                case 3: // insert bytes
                    int insertCount = 1 + random.Next(4);
                    for (int i = 0; i < insertCount; i++)
                        bytes.Insert(position, Interesting[random.Next(Interesting.Length)]);
                    break;
                case 4: // delete a run
                    bytes.RemoveRange(position, Math.Min(1 + random.Next(8), bytes.Count - position));
                    break;
                case 5: // truncate
                    bytes.RemoveRange(position, bytes.Count - position);
                    break;
                case 6: // rewrite the length prefix: near the true value, or anything
                    if (bytes.Count >= 8)
                    {
                        ulong length = random.Next(2) == 0
                            ? (ulong)Math.Max(0, headerEnd - 8 + random.Next(-16, 17))
                            : (ulong)random.NextInt64() << random.Next(2);
                        var prefix = new byte[8];
                        BinaryPrimitives.WriteUInt64LittleEndian(prefix, length);
                        for (int i = 0; i < 8; i++) bytes[i] = prefix[i];
                    }
                    break;
                default: // append bytes (grows the data section; offsets stay valid)
                    int appendCount = 1 + random.Next(16);
                    for (int i = 0; i < appendCount; i++) bytes.Add((byte)random.Next(256));
                    break;
            }
        }
        return bytes.ToArray();
    }
}
