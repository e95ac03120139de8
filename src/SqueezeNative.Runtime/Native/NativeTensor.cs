using System.Runtime.InteropServices;
using SqueezeNative.Bindings.Interop;

namespace SqueezeNative.Runtime.Native;

/// <summary>Element types of native tensors (the subset of <see cref="SnDtype"/> the runtime uses).</summary>
public enum NativeDType
{
    F32 = (int)SnDtype.F32,
    F16 = (int)SnDtype.F16,
    BF16 = (int)SnDtype.Bf16,
    I32 = (int)SnDtype.I32,
    U8 = (int)SnDtype.U8,
}

/// <summary>
/// A tensor living in a <see cref="NativeContext"/> (host memory for the CPU backend, device
/// memory for CUDA). Row-major, dense. Disposing releases the handle; storage shared with views
/// is freed when the last of them is gone (the library ref-counts it).
/// </summary>
public sealed class NativeTensor : IDisposable
{
    internal SnTensorHandle Handle { get; }
    public NativeContext Context { get; }
    public NativeDType DType { get; }
    public long[] Shape { get; }
    public long ElementCount { get; }
    /// <summary>True for a view that borrows another tensor's storage.</summary>
    public bool IsView { get; private init; }

    private int _disposed;

    internal NativeTensor(NativeContext context, SnTensorHandle handle, NativeDType dtype, long[] shape)
    {
        // The native library refuses to destroy a context that still has tensors: holding a
        // reference on the context's SafeHandle makes its release wait for the last tensor.
        bool added = false;
        context.Handle.DangerousAddRef(ref added);
        Context = context;
        Handle = handle;
        DType = dtype;
        Shape = shape;
        long n = 1;
        foreach (var d in shape) n *= d;
        ElementCount = n;
    }

    /// <summary>Size of one element in bytes.</summary>
    public int ElementSize => DType switch
    {
        NativeDType.F32 or NativeDType.I32 => 4,
        NativeDType.F16 or NativeDType.BF16 => 2,
        _ => 1,
    };

    public long ByteLength => ElementCount * ElementSize;

    /// <summary>
    /// A view of <paramref name="shape"/> over this tensor's storage starting at element
    /// <paramref name="offsetElements"/> (e.g. rows [a, b) of a KV cache). Dispose it when done.
    /// </summary>
    public NativeTensor View(long offsetElements, params long[] shape)
    {
        NativeContext.Check(NativeMethods.TensorView(Handle, offsetElements, shape, out var view), "sn_tensor_view");
        return new NativeTensor(Context, view, DType, shape) { IsView = true };
    }

    /// <summary>Rows [first, first + count) of a tensor whose leading dimension counts rows.</summary>
    public NativeTensor Rows(long first, long count)
    {
        var shape = (long[])Shape.Clone();
        long rowElements = ElementCount / Shape[0];
        shape[0] = count;
        return View(first * rowElements, shape);
    }

    public void Upload<T>(ReadOnlySpan<T> data) where T : unmanaged =>
        NativeContext.Check(NativeMethods.TensorUpload(Handle, data), "sn_tensor_upload");

    public void Download<T>(Span<T> data) where T : unmanaged =>
        NativeContext.Check(NativeMethods.TensorDownload(Handle, data), "sn_tensor_download");

    /// <summary>Downloads an F32 tensor into a new array.</summary>
    public float[] ToArray()
    {
        if (DType != NativeDType.F32) throw new InvalidOperationException($"ToArray needs an F32 tensor, this one is {DType}");
        var result = new float[ElementCount];
        Download<float>(result);
        return result;
    }

    public override string ToString() => $"{DType} [{string.Join(", ", Shape)}]";

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Handle.Dispose();
        Context.Handle.DangerousRelease();
    }
}
