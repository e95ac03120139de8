using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;

namespace SqueezeNative.Runtime.Models;

/// <summary>
/// One safetensors file, memory-mapped read-only. The header is validated completely when the
/// file is opened (see <see cref="SafetensorsHeader"/>), so every <see cref="TensorRef"/> handed
/// out points at bytes that exist, belong to no other tensor and match its shape and dtype.
/// Tensor bytes are borrowed from the mapping and valid until this object is disposed.
/// </summary>
public sealed unsafe class SafetensorsFile : ITensorSource
{
    /// <summary>Headers larger than this are refused as corrupt (the reference implementation uses the same bound).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const int LengthPrefixBytes = 8;

    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly MappedRegion _region;
    private readonly Dictionary<string, TensorRef> _byName;
    private readonly List<string> _names;
    private bool _disposed;

    private SafetensorsFile(string path, long fileLength, long dataStart, SafetensorsHeader.Parsed header,
        MemoryMappedFile mapping, MemoryMappedViewAccessor view, MappedRegion region)
    {
        FilePath = path;
        FileLength = fileLength;
        Metadata = header.Metadata;
        _mapping = mapping;
        _view = view;
        _region = region;
        _byName = new Dictionary<string, TensorRef>(header.Entries.Count, StringComparer.Ordinal);
        _names = new List<string>(header.Entries.Count);
        foreach (var entry in header.Entries)
        {
            _byName.Add(entry.Name, CreateTensorRef(entry, dataStart));
            _names.Add(entry.Name);
        }
    }

    /// <summary>The file this reads.</summary>
    public string FilePath { get; }

    public string Location => FilePath;

    /// <summary>Size of the file in bytes.</summary>
    public long FileLength { get; }

    /// <summary>The header's "__metadata__" map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Tensor names in header order.</summary>
    public IReadOnlyCollection<string> Names => _names;

    /// <summary>All tensors in header order.</summary>
    public IEnumerable<TensorRef> Tensors => _names.Select(n => _byName[n]);

    public bool TryGetTensor(string name, [NotNullWhen(true)] out TensorRef? tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _byName.TryGetValue(name, out tensor);
    }

    /// <summary>
    /// Opens and validates <paramref name="path"/>. Throws <see cref="ModelFormatException"/>
    /// naming the file (and tensor) when it is missing, truncated or malformed.
    /// </summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new ModelFormatException("safetensors file not found", path);

        FileStream? stream = null;
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        byte* basePointer = null;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
            long fileLength = stream.Length;
            var (header, dataStart) = ReadHeader(stream, fileLength, path);

            // Mapping only after the header is known to be sane; a zero-length mapping is not
            // allowed, but a file that got here has at least the 8-byte prefix.
            mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0,
                MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            stream = null; // owned by the mapping now
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            var region = new MappedRegion(basePointer + view.PointerOffset);
            return new SafetensorsFile(path, fileLength, dataStart, header, mapping, view, region);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Release(stream, mapping, view, basePointer);
            throw new ModelFormatException($"cannot read safetensors file ({e.Message})", path, inner: e);
        }
        catch
        {
            Release(stream, mapping, view, basePointer);
            throw;
        }
    }

    private static (SafetensorsHeader.Parsed Header, long DataStart) ReadHeader(FileStream stream, long fileLength, string path)
    {
        if (fileLength < LengthPrefixBytes)
            throw new ModelFormatException(
                $"truncated safetensors file: {fileLength} bytes, shorter than the 8-byte header length prefix", path);

        Span<byte> prefix = stackalloc byte[LengthPrefixBytes];
        stream.ReadExactly(prefix);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw new ModelFormatException(
                $"safetensors header length {headerLength} is over the {MaxHeaderBytes}-byte limit (corrupt length prefix?)", path);
        if ((long)headerLength > fileLength - LengthPrefixBytes)
            throw new ModelFormatException(
                $"safetensors header length {headerLength} reaches past the end of the file ({fileLength} bytes)", path);

        // Both bounds are checked, so this allocation is at most 100 MB and backed by real bytes.
        var json = new byte[(int)headerLength];
        stream.ReadExactly(json);
        long dataStart = LengthPrefixBytes + (long)headerLength;
        var header = SafetensorsHeader.Parse(json, fileLength - dataStart, path);
        return (header, dataStart);
    }

    private TensorRef CreateTensorRef(SafetensorsEntry entry, long dataStart)
    {
        ReadOnlyMemory<byte> data = default;
        if (entry.ByteLength <= int.MaxValue)
            data = new MappedMemoryManager(_region, dataStart + entry.Begin, (int)entry.ByteLength).Memory;

        return new TensorRef
        {
            Name = entry.Name,
            DType = entry.DType,
            Shape = entry.Shape,
            FilePath = FilePath,
            ByteLength = entry.ByteLength,
            DataAccessor = tensor =>
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                // Memory<T> is int-indexed; no architecture we load has a tensor this large.
                if (tensor.ByteLength > int.MaxValue)
                    throw new ModelFormatException(
                        $"tensor of {tensor.ByteLength} bytes is larger than the 2 GiB a memory block can address", FilePath, tensor.Name);
                return data;
            },
        };
    }

    private static void Release(FileStream? stream, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, byte* pointer)
    {
        if (pointer != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
        view?.Dispose();
        mapping?.Dispose();
        stream?.Dispose();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _region.IsOpen = false;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }

    public override string ToString() => $"{FilePath} ({_names.Count} tensors)";
}
