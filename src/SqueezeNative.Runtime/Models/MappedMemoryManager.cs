using System.Buffers;

namespace SqueezeNative.Runtime.Models;

/// <summary>
/// Exposes one range of a memory-mapped file as <see cref="Memory{T}"/>. The range was
/// bounds-checked against the mapping by the caller; the owner (<see cref="SafetensorsFile"/>)
/// keeps the mapping alive and flips <see cref="MappedRegion.IsOpen"/> when it unmaps, after
/// which new spans are refused (spans taken earlier must not be used: the documented contract of
/// <see cref="TensorRef.Data"/>).
/// </summary>
internal sealed unsafe class MappedMemoryManager : MemoryManager<byte>
{
    private readonly MappedRegion _region;
    private readonly long _offset;
    private readonly int _length;

    public MappedMemoryManager(MappedRegion region, long offset, int length)
    {
        _region = region;
        _offset = offset;
        _length = length;
    }

    public override Span<byte> GetSpan() => new(Pointer(), _length);

    // Mapped memory never moves, so "pinning" is just handing out the address.
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        return new MemoryHandle(Pointer() + elementIndex);
    }

    public override void Unpin() { }

    protected override void Dispose(bool disposing) { }

    private byte* Pointer()
    {
        ObjectDisposedException.ThrowIf(!_region.IsOpen, _region);
        return _region.BasePointer + _offset;
    }
}

/// <summary>The base address of a mapped view and whether it is still mapped.</summary>
internal sealed unsafe class MappedRegion
{
    public MappedRegion(byte* basePointer) => BasePointer = basePointer;

    public byte* BasePointer { get; }
    public bool IsOpen { get; set; } = true;
}
