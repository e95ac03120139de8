using SqueezeNative.Bindings.Interop;

namespace SqueezeNative.Bindings;

/// <summary>
/// A libsqueezenative call returned an error status. Carries the status and the library's own
/// message (sn_last_error), which names the function, the argument and the reason.
/// </summary>
public sealed class SqueezeNativeException : Exception
{
    /// <summary>The C function that failed, e.g. "sn_tensor_create".</summary>
    public string Function { get; }

    /// <summary>The status it returned.</summary>
    public SnStatus Status { get; }

    /// <summary>The native last-error text of the failing thread ("" if the library gave none).</summary>
    public string NativeMessage { get; }

    public SqueezeNativeException(string function, SnStatus status, string nativeMessage)
        : base($"{function} failed ({status}): {(nativeMessage.Length > 0 ? nativeMessage : "the native library gave no message")}")
    {
        Function = function;
        Status = status;
        NativeMessage = nativeMessage;
    }
}
