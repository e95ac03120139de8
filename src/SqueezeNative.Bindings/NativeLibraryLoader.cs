using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace SqueezeNative.Bindings.Interop;

/// <summary>The library name every generated import binds to.</summary>
internal static class NativeLibraryName
{
    public const string Value = "squeezenative";
}

/// <summary>
/// Decides which libsqueezenative the imports load: $SQUEEZE_NATIVE_LIBRARY if set (and then only
/// that file, so a wrong path is an error, not a silent fallback), else the copy next to this
/// assembly that the build places there, else the runtime's default probing.
/// </summary>
public static class NativeLibraryLoader
{
    /// <summary>Environment variable naming the native library file to load.</summary>
    public const string OverrideVariable = "SQUEEZE_NATIVE_LIBRARY";

    /// <summary>The library's file name on this platform.</summary>
    public static string FileName { get; } =
        OperatingSystem.IsWindows() ? "squeezenative.dll"
        : OperatingSystem.IsMacOS() ? "libsqueezenative.dylib"
        : "libsqueezenative.so";

    // A module initializer, so the resolver is in place before any import of this assembly runs,
    // whichever type is touched first. CA2255 warns that libraries rarely need one; installing the
    // assembly's own DllImport resolver is the case that does.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NativeLibraryName.Value)
            return nint.Zero;
        return Locate(
            Environment.GetEnvironmentVariable(OverrideVariable),
            // The build copies the library next to the assemblies (Assembly.Location would be
            // empty in a single-file app, AppContext.BaseDirectory is not).
            AppContext.BaseDirectory,
            () => NativeLibrary.TryLoad(libraryName, assembly, searchPath, out var handle) ? handle : null);
    }

    /// <summary>The resolution order, with the process state passed in so that tests can drive it.</summary>
    internal static nint Locate(string? explicitPath, string applicationDirectory, Func<nint?> defaultProbing)
    {
        if (!string.IsNullOrWhiteSpace(explicitPath))
            return Load(explicitPath, $"{OverrideVariable}={explicitPath}");

        var besideAssemblies = Path.Combine(applicationDirectory, FileName);
        if (File.Exists(besideAssemblies))
            return Load(besideAssemblies, besideAssemblies);

        if (defaultProbing() is { } handle)
            return handle;
        throw new DllNotFoundException(
            $"Cannot load the SqueezeNative native library ({FileName}). Tried: {OverrideVariable} (not set); " +
            $"{besideAssemblies} (no such file); default probing for '{NativeLibraryName.Value}' (not found). " +
            $"Build it with ./build.sh build (the build copies it next to the assemblies) or set {OverrideVariable} to its path.");
    }

    // The file exists (or was named explicitly), so a failure is reported with the loader's reason
    // (missing dependency, wrong architecture) instead of moving on to another candidate.
    private static nint Load(string path, string origin)
    {
        try
        {
            return NativeLibrary.Load(path);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new DllNotFoundException($"Cannot load the SqueezeNative native library from {origin}: {e.Message}", e);
        }
    }
}
