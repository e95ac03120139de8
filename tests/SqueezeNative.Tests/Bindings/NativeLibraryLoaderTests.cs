using SqueezeNative.Bindings.Interop;

namespace SqueezeNative.Tests.Bindings;

/// <summary>How the bindings find libsqueezenative, driven without touching the process environment.</summary>
public sealed class NativeLibraryLoaderTests
{
    [Fact]
    public void AnExplicitPathIsUsedAloneAndItsFailureNamesIt()
    {
        var error = Assert.Throws<DllNotFoundException>(() =>
            NativeLibraryLoader.Locate("/nonexistent/libsqueezenative.so", AppContext.BaseDirectory, () => 42));
        Assert.StartsWith("Cannot load the SqueezeNative native library from SQUEEZE_NATIVE_LIBRARY=/nonexistent/libsqueezenative.so: ", error.Message);
    }

    [Fact]
    public void AFileThatIsNotALibraryReportsTheLoadersReason()
    {
        using var directory = new TemporaryDirectory();
        var notALibrary = directory.Write(NativeLibraryLoader.FileName, "not an ELF file\n");
        var error = Assert.Throws<DllNotFoundException>(() => NativeLibraryLoader.Locate(null, directory.Path, () => 42));
        Assert.StartsWith($"Cannot load the SqueezeNative native library from {notALibrary}: ", error.Message);
        Assert.True(error.Message.Length > $"Cannot load the SqueezeNative native library from {notALibrary}: ".Length);
    }

    [Fact]
    public void WithoutAFileItFallsBackToDefaultProbing()
    {
        using var directory = new TemporaryDirectory();
        Assert.Equal(42, NativeLibraryLoader.Locate(null, directory.Path, () => 42));
        Assert.Equal(42, NativeLibraryLoader.Locate("  ", directory.Path, () => 42));
    }

    [Fact]
    public void WhenNothingLoadsTheMessageListsEverythingTried()
    {
        using var directory = new TemporaryDirectory();
        var error = Assert.Throws<DllNotFoundException>(() => NativeLibraryLoader.Locate(null, directory.Path, () => null));
        var expectedPath = Path.Combine(directory.Path, "libsqueezenative.so");
        Assert.Equal(
            "Cannot load the SqueezeNative native library (libsqueezenative.so). Tried: SQUEEZE_NATIVE_LIBRARY (not set); " +
            $"{expectedPath} (no such file); default probing for 'squeezenative' (not found). " +
            "Build it with ./build.sh build (the build copies it next to the assemblies) or set SQUEEZE_NATIVE_LIBRARY to its path.",
            error.Message);
    }
}
