using SqueezeNative.Bindings;

namespace SqueezeNative.Bindings.Interop;

// Hand-written conveniences over the generated imports: status checking and span overloads.
public static unsafe partial class NativeMethods
{
    /// <summary>
    /// Throws a <see cref="SqueezeNativeException"/> carrying this thread's native last-error text
    /// when <paramref name="status"/> is not <see cref="SnStatus.Ok"/>. Call it right after the
    /// failing call, on the same thread: the text is per thread and the next call replaces it.
    /// </summary>
    /// <param name="status">What the call returned.</param>
    /// <param name="function">The C function called, e.g. "sn_tensor_create" (it starts the message).</param>
    public static void Check(SnStatus status, string function)
    {
        if (status != SnStatus.Ok)
            throw new SqueezeNativeException(function, status, LastError());
    }

    /// <summary><see cref="TensorCreate(SnContextHandle, SnDtype, long*, int, out SnTensorHandle)"/> with the shape as a span.</summary>
    public static SnStatus TensorCreate(SnContextHandle context, SnDtype dtype, ReadOnlySpan<long> dims, out SnTensorHandle tensor)
    {
        fixed (long* dimsPointer = dims)
            return TensorCreate(context, dtype, dimsPointer, dims.Length, out tensor);
    }

    /// <summary><see cref="TensorView(SnTensorHandle, long, long*, int, out SnTensorHandle)"/> with the shape as a span.</summary>
    public static SnStatus TensorView(SnTensorHandle @base, long offsetElements, ReadOnlySpan<long> dims, out SnTensorHandle view)
    {
        fixed (long* dimsPointer = dims)
            return TensorView(@base, offsetElements, dimsPointer, dims.Length, out view);
    }

    /// <summary>
    /// <see cref="LutRepackedShape(SnContextHandle, int, long, long, out int, long*)"/> into a span of at least
    /// <see cref="NativeConstants.MaxDims"/> extents (the library may write that many).
    /// </summary>
    public static SnStatus LutRepackedShape(SnContextHandle context, int bits, long n, long k, out int ndim, Span<long> dims)
    {
        if (dims.Length < NativeConstants.MaxDims)
            throw new ArgumentException($"needs room for {NativeConstants.MaxDims} extents, got {dims.Length}", nameof(dims));
        fixed (long* dimsPointer = dims)
            return LutRepackedShape(context, bits, n, k, out ndim, dimsPointer);
    }

    /// <summary>Uploads <paramref name="source"/>; its size in bytes must equal the tensor's (the library checks).</summary>
    public static SnStatus TensorUpload<T>(SnTensorHandle tensor, ReadOnlySpan<T> source) where T : unmanaged
    {
        fixed (T* sourcePointer = source)
            return TensorUpload(tensor, sourcePointer, (nuint)source.Length * (nuint)sizeof(T));
    }

    /// <summary>Downloads into <paramref name="destination"/>; its size in bytes must equal the tensor's (the library checks).</summary>
    public static SnStatus TensorDownload<T>(SnTensorHandle tensor, Span<T> destination) where T : unmanaged
    {
        fixed (T* destinationPointer = destination)
            return TensorDownload(tensor, destinationPointer, (nuint)destination.Length * (nuint)sizeof(T));
    }
}

public unsafe partial struct SnTensorInfo
{
    /// <summary>The extents of the first <see cref="Ndim"/> dimensions.</summary>
    public readonly long[] Shape()
    {
        var shape = new long[Math.Clamp(Ndim, 0, NativeConstants.MaxDims)];
        for (var i = 0; i < shape.Length; i++)
            shape[i] = Dims[i];
        return shape;
    }
}
