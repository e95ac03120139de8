using SqueezeNative.Bindings.Interop;

namespace SqueezeNative.Runtime.Native;

/// <summary>
/// A recorded sequence of operations replayed with <see cref="Launch"/> (a CUDA graph on the GPU):
/// the decode step is captured once and replayed per token, so launch overhead is paid once.
/// </summary>
public sealed class NativeGraph : IDisposable
{
    private readonly SnGraphHandle _handle;

    internal NativeGraph(SnGraphHandle handle) => _handle = handle;

    /// <summary>Operations (kernel launches on CUDA) per replay.</summary>
    public long NodeCount
    {
        get
        {
            NativeContext.Check(NativeMethods.GraphGetNodeCount(_handle, out var n), "sn_graph_get_node_count");
            return n;
        }
    }

    public void Launch() => NativeContext.Check(NativeMethods.GraphLaunch(_handle), "sn_graph_launch");

    public void Dispose() => _handle.Dispose();
}
