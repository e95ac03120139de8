using System.Buffers.Binary;
using System.Text.Json;

namespace SqueezeNative.Runtime.Models;

/// <summary>A tensor to write: its bytes must be little-endian and exactly product(shape) × dtype size long.</summary>
public sealed record SafetensorsTensor(string Name, TensorDType DType, long[] Shape, ReadOnlyMemory<byte> Data);

/// <summary>
/// Writes safetensors files atomically: everything goes to a temporary file in the target folder,
/// which is flushed and then renamed over the target, so a crash or a full disk never leaves a
/// partial checkpoint under the final name.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>The data section starts at a multiple of this, as Hugging Face's writer pads it.</summary>
    private const int HeaderAlignment = 8;

    /// <summary>
    /// Writes <paramref name="tensors"/> (in the given order, packed back to back) to <paramref name="path"/>.
    /// Throws <see cref="ArgumentException"/> for inconsistent tensors and <see cref="SqueezeException"/>
    /// naming the file when it cannot be written.
    /// </summary>
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = BuildHeader(list, metadata);

        var fullPath = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(fullPath)!;
        var temporary = Path.Combine(folder, $".{Path.GetFileName(fullPath)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> prefix = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                stream.Write(prefix);
                stream.Write(header);
                foreach (var tensor in list) stream.Write(tensor.Data.Span);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            throw new SqueezeException($"{path}: cannot write safetensors file ({e.Message})", e);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>The JSON header, padded with spaces to <see cref="HeaderAlignment"/>.</summary>
    private static byte[] BuildHeader(List<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsHeader.MetadataKey);
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var tensor in tensors)
            {
                if (tensor.Name == SafetensorsHeader.MetadataKey)
                    throw new ArgumentException($"'{SafetensorsHeader.MetadataKey}' is reserved and cannot name a tensor", nameof(tensors));
                if (!names.Add(tensor.Name))
                    throw new ArgumentException($"tensor '{tensor.Name}' is given twice", nameof(tensors));
                if (!TensorDTypes.TryComputeByteLength(tensor.Shape, tensor.DType, out var expected))
                    throw new ArgumentException($"tensor '{tensor.Name}': invalid shape [{string.Join(", ", tensor.Shape)}]", nameof(tensors));
                if (tensor.Data.Length != expected)
                    throw new ArgumentException(
                        $"tensor '{tensor.Name}': {tensor.Data.Length} bytes given but shape [{string.Join(", ", tensor.Shape)}] × {tensor.DType} needs {expected}",
                        nameof(tensors));

                json.WriteStartObject(tensor.Name);
                json.WriteString("dtype", tensor.DType.ToSafetensorsName());
                json.WriteStartArray("shape");
                foreach (var dim in tensor.Shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + expected);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += expected;
            }
            json.WriteEndObject();
        }

        int padding = (int)((HeaderAlignment - (buffer.Length + 8) % HeaderAlignment) % HeaderAlignment);
        for (int i = 0; i < padding; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the original error matters more */ }
    }
}
