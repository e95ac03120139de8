using System.Text.Json;
using System.Text.Unicode;

namespace SqueezeNative.Runtime.Models;

/// <summary>One validated tensor entry of a safetensors header; offsets are relative to the data section.</summary>
internal readonly record struct SafetensorsEntry(string Name, TensorDType DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
}

/// <summary>
/// Parses and validates the JSON header of a safetensors file. Layout of the file:
/// <code>
/// [u64 little-endian N][N bytes of UTF-8 JSON][data section: the tensors' bytes]
/// </code>
/// The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into
/// the data section) plus an optional "__metadata__" string→string map. Everything in it is
/// untrusted: this class checks every entry before any size from it is used.
/// </summary>
internal static class SafetensorsHeader
{
    public const string MetadataKey = "__metadata__";

    public sealed record Parsed(IReadOnlyList<SafetensorsEntry> Entries, IReadOnlyDictionary<string, string> Metadata);

    /// <param name="json">The header bytes (length prefix excluded).</param>
    /// <param name="dataLength">Bytes in the data section, the bound for every offset.</param>
    /// <param name="path">The file, for error messages.</param>
    public static Parsed Parse(ReadOnlyMemory<byte> json, long dataLength, string path)
    {
        // Checked up front: the JSON reader only validates UTF-8 lazily, when a string is read.
        if (!Utf8.IsValid(json.Span))
            throw new ModelFormatException("safetensors header is not valid UTF-8", path);

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"safetensors header is not valid JSON ({e.Message})", path, inner: e);
        }

        using (document)
        {
            try
            {
                return ParseDocument(document.RootElement, dataLength, path);
            }
            catch (InvalidOperationException e)
            {
                // Escapes that decode to lone surrogates pass the parser but fail on GetString.
                throw new ModelFormatException($"safetensors header holds an invalid string ({e.Message})", path, inner: e);
            }
        }
    }

    private static Parsed ParseDocument(JsonElement root, long dataLength, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException($"safetensors header must be a JSON object, found {JsonText.Describe(root.ValueKind)}", path);

        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (!seen.Add(property.Name))
                throw new ModelFormatException("safetensors header lists the tensor twice", path, property.Name);

            if (property.Name == MetadataKey)
            {
                ReadMetadata(property.Value, metadata, path);
                continue;
            }
            entries.Add(ReadEntry(property.Name, property.Value, dataLength, path));
        }

        CheckNoOverlap(entries, path);
        return new Parsed(entries, metadata);
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException($"'{MetadataKey}' must be an object of strings, found {JsonText.Describe(value.ValueKind)}", path);
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new ModelFormatException($"'{MetadataKey}.{item.Name}' must be a string, found {JsonText.Describe(item.Value.ValueKind)}", path);
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, long dataLength, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFormatException($"header entry must be an object, found {JsonText.Describe(value.ValueKind)}", path, name);

        if (!value.TryGetProperty("dtype", out var dtypeElement))
            throw new ModelFormatException("header entry has no 'dtype'", path, name);
        if (dtypeElement.ValueKind != JsonValueKind.String)
            throw new ModelFormatException($"'dtype' must be a string, found {JsonText.Describe(dtypeElement.ValueKind)}", path, name);
        var dtypeName = dtypeElement.GetString()!;
        if (!TensorDTypes.TryParseSafetensorsName(dtypeName, out var dtype))
            throw new ModelFormatException(
                $"unsupported dtype '{dtypeName}' (supported: {TensorDTypes.SupportedSafetensorsNames})", path, name);

        if (!value.TryGetProperty("shape", out var shapeElement))
            throw new ModelFormatException("header entry has no 'shape'", path, name);
        var shape = ReadNonNegativeIntegers(shapeElement, "shape", path, name);

        if (!value.TryGetProperty("data_offsets", out var offsetsElement))
            throw new ModelFormatException("header entry has no 'data_offsets'", path, name);
        var offsets = ReadNonNegativeIntegers(offsetsElement, "data_offsets", path, name);
        if (offsets.Length != 2)
            throw new ModelFormatException($"'data_offsets' must be [begin, end], found {offsets.Length} numbers", path, name);
        long begin = offsets[0], end = offsets[1];
        if (begin > end)
            throw new ModelFormatException($"'data_offsets' [{begin}, {end}] has begin > end", path, name);
        if (end > dataLength)
            throw new ModelFormatException(
                $"'data_offsets' [{begin}, {end}] reach past the end of the data section ({dataLength} bytes)", path, name);

        if (!TensorDTypes.TryComputeByteLength(shape, dtype, out var expected))
            throw new ModelFormatException(
                $"shape [{string.Join(", ", shape)}] × {dtypeName} overflows a 64-bit byte count", path, name);
        if (end - begin != expected)
            throw new ModelFormatException(
                $"holds {end - begin} bytes but shape [{string.Join(", ", shape)}] × {dtypeName} needs {expected}", path, name);

        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static long[] ReadNonNegativeIntegers(JsonElement element, string key, string path, string name)
    {
        if (element.ValueKind != JsonValueKind.Array)
            throw new ModelFormatException($"'{key}' must be an array of integers, found {JsonText.Describe(element.ValueKind)}", path, name);
        var values = new long[element.GetArrayLength()];
        int i = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var v) || v < 0)
                throw new ModelFormatException($"'{key}' must hold non-negative integers, found {JsonText.Abbreviate(item.GetRawText())}", path, name);
            values[i++] = v;
        }
        return values;
    }

    /// <summary>Tensors must not share bytes; sorted by begin, each must end before the next starts.</summary>
    private static void CheckNoOverlap(List<SafetensorsEntry> entries, string path)
    {
        var byOffset = entries.ToArray();
        Array.Sort(byOffset, static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        for (int i = 1; i < byOffset.Length; i++)
        {
            var previous = byOffset[i - 1];
            var current = byOffset[i];
            if (current.Begin < previous.End)
                throw new ModelFormatException(
                    $"bytes [{current.Begin}, {current.End}) overlap tensor '{previous.Name}' [{previous.Begin}, {previous.End})",
                    path, current.Name);
        }
    }
}
