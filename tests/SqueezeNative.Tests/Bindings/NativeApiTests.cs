using System.Text.RegularExpressions;
using SqueezeNative.Bindings;
using SqueezeNative.Bindings.Interop;
using static SqueezeNative.Bindings.Interop.NativeMethods;

namespace SqueezeNative.Tests.Bindings;

/// <summary>
/// libsqueezenative through the generated bindings, on the CPU backend. These need the native
/// library (./build.sh build puts it next to the test assemblies; SQUEEZE_NATIVE_LIBRARY overrides):
/// without it they fail with the loader's message listing what it tried, they are never skipped.
/// </summary>
public sealed class NativeApiTests
{
    private static SnContextHandle CreateCpuContext()
    {
        var options = new SnContextOptions { Backend = SnBackendKind.Cpu, NumThreads = 2 };
        Check(ContextCreate(options, out var context), "sn_context_create");
        return context;
    }

    private static SnTensorHandle CreateTensor(SnContextHandle context, SnDtype dtype, params long[] dims)
    {
        Check(TensorCreate(context, dtype, dims, out var tensor), "sn_tensor_create");
        return tensor;
    }

    private static SnTensorHandle CreateTensor<T>(SnContextHandle context, SnDtype dtype, T[] values, params long[] dims) where T : unmanaged
    {
        var tensor = CreateTensor(context, dtype, dims);
        Check(TensorUpload<T>(tensor, values), "sn_tensor_upload");
        return tensor;
    }

    private static T[] Download<T>(SnTensorHandle tensor, int count) where T : unmanaged
    {
        var values = new T[count];
        Check(TensorDownload<T>(tensor, values), "sn_tensor_download");
        return values;
    }

    private static SqueezeNativeException Fails(Func<SnStatus> call, string function, SnStatus expected)
    {
        var error = Assert.Throws<SqueezeNativeException>(() => Check(call(), function));
        Assert.Equal(expected, error.Status);
        Assert.Equal(function, error.Function);
        Assert.StartsWith($"{function} failed ({expected}): ", error.Message);
        // The header's contract: the last-error text names the function that failed.
        Assert.Contains(function, error.NativeMessage);
        return error;
    }

    [Fact]
    public void LibraryDescribesItself()
    {
        Assert.Matches(new Regex(@"^\d+\.\d+\.\d+$"), Version());
        Assert.NotEqual("", StatusName(SnStatus.ErrInvalidHandle));
        Assert.NotEqual(StatusName(SnStatus.Ok), StatusName(SnStatus.ErrInvalidHandle));
        Assert.Equal([4u, 2u, 2u, 4u, 1u, 0u],
            new[] { SnDtype.F32, SnDtype.F16, SnDtype.Bf16, SnDtype.I32, SnDtype.U8, (SnDtype)99 }.Select(d => (uint)DtypeSize(d)).ToArray());
        Check(BackendAvailable(SnBackendKind.Cpu, out var cpuAvailable), "sn_backend_available");
        Assert.Equal(1, cpuAvailable);
    }

    [Fact]
    public void CpuContextReportsItsBackend()
    {
        using var context = CreateCpuContext();
        Assert.False(context.IsInvalid);
        Check(ContextGetBackend(context, out var backend), "sn_context_get_backend");
        Assert.Equal(SnBackendKind.Cpu, backend);
        Check(ContextSynchronize(context), "sn_context_synchronize");
    }

    public static TheoryData<SnDtype> AllDtypes => new(Enum.GetValues<SnDtype>());

    [Theory]
    [MemberData(nameof(AllDtypes))]
    public void TensorsRoundTripEveryDtype(SnDtype dtype)
    {
        using var context = CreateCpuContext();
        switch (dtype)
        {
            case SnDtype.F32:
                RoundTrip(context, dtype, [1.5f, -2.25f, 0f, 3.0e30f, -1.0e-30f, float.Epsilon]);
                break;
            case SnDtype.F16:
                RoundTrip(context, dtype, new[] { 1.5, -2.25, 0, 65504, -0.000061035156, 0.333251953125 }.Select(v => (Half)v).ToArray());
                break;
            case SnDtype.Bf16: // raw bfloat16 bit patterns: the upper halves of binary32 values
                RoundTrip(context, dtype, new[] { 1.5f, -2.25f, 0f, 3.0e30f, -1.0e-30f, 1f / 3 }.Select(v => (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)).ToArray());
                break;
            case SnDtype.I32:
                RoundTrip(context, dtype, [0, -1, int.MaxValue, int.MinValue, 7, 32000]);
                break;
            case SnDtype.U8:
                RoundTrip(context, dtype, new byte[] { 0, 1, 127, 128, 254, 255 });
                break;
            default:
                Assert.Fail($"the test has no values for {dtype}; add them");
                break;
        }
    }

    private static void RoundTrip<T>(SnContextHandle context, SnDtype dtype, T[] values) where T : unmanaged
    {
        using var tensor = CreateTensor(context, dtype, 2, 3);
        Assert.Equal(new T[6], Download<T>(tensor, 6)); // contents start at zero

        Check(TensorUpload<T>(tensor, values), "sn_tensor_upload");
        Assert.Equal(values, Download<T>(tensor, 6));

        Check(TensorGetInfo(tensor, out var info), "sn_tensor_get_info");
        Assert.Equal(dtype, info.Dtype);
        Assert.Equal(2, info.Ndim);
        Assert.Equal([2L, 3L], info.Shape());
        Assert.Equal(6, info.Numel);
        Assert.Equal(6 * (long)DtypeSize(dtype), info.Nbytes);
        Assert.Equal(0, info.IsView);
        unsafe
        {
            Assert.Equal(1, info.Dims[2]); // entries past ndim are 1
            Assert.Equal(1, info.Dims[3]);
        }
    }

    [Fact]
    public void MatmulMatchesAManagedReference()
    {
        const int m = 3, k = 5, n = 4;
        // Quarter-integers keep every product and sum exact in binary32.
        var x = Enumerable.Range(0, m * k).Select(i => (i * 7 % 11 - 5) * 0.25f).ToArray();
        var weight = Enumerable.Range(0, n * k).Select(i => (i * 5 % 13 - 6) * 0.25f).ToArray();
        var bias = new[] { 0.5f, -1f, 2f, 0f };
        var expected = new float[m * n];
        for (var row = 0; row < m; row++)
        for (var column = 0; column < n; column++)
        {
            var sum = 0f;
            for (var i = 0; i < k; i++)
                sum += x[row * k + i] * weight[column * k + i];
            expected[row * n + column] = sum;
        }

        using var context = CreateCpuContext();
        using var xTensor = CreateTensor(context, SnDtype.F32, x, m, k);
        using var weightTensor = CreateTensor(context, SnDtype.F32, weight, n, k);
        using var biasTensor = CreateTensor(context, SnDtype.F32, bias, n);
        using var output = CreateTensor(context, SnDtype.F32, m, n);

        using (var noBias = SnTensorHandle.Null)
            Check(Matmul(context, xTensor, weightTensor, noBias, output), "sn_matmul");
        Assert.Equal(expected, Download<float>(output, m * n));

        Check(Matmul(context, xTensor, weightTensor, biasTensor, output), "sn_matmul");
        Assert.Equal(expected.Select((value, i) => value + bias[i % n]), Download<float>(output, m * n));

        // F16 weights (exactly representable) give the same result: converted, accumulated in F32.
        using var halfWeight = CreateTensor(context, SnDtype.F16, weight.Select(v => (Half)v).ToArray(), n, k);
        using (var noBias = SnTensorHandle.Null)
            Check(Matmul(context, xTensor, halfWeight, noBias, output), "sn_matmul");
        Assert.Equal(expected, Download<float>(output, m * n));
    }

    [Fact]
    public void ViewsAndCopiesShareAndConvertData()
    {
        using var context = CreateCpuContext();
        var values = new[] { 1f, 2f, 3f, 4f, 5f, 6f };
        var @base = CreateTensor(context, SnDtype.F32, values, 2, 3);
        Check(TensorView(@base, 3, [3L], out var secondRow), "sn_tensor_view");
        using (secondRow)
        {
            Check(TensorGetInfo(secondRow, out var info), "sn_tensor_get_info");
            Assert.Equal(1, info.IsView);
            @base.Dispose(); // the view keeps the storage alive
            Assert.Equal([4f, 5f, 6f], Download<float>(secondRow, 3));

            using var half = CreateTensor(context, SnDtype.F16, 3);
            Check(Copy(context, secondRow, half), "sn_copy");
            Assert.Equal([(Half)4f, (Half)5f, (Half)6f], Download<Half>(half, 3));
        }
    }

    [Fact]
    public void ADestroyedHandleIsRejectedByTheLibrary()
    {
        using var context = CreateCpuContext();
        var tensor = CreateTensor(context, SnDtype.F32, 4);
        Check(TensorDestroy(tensor.DangerousGetHandle()), "sn_tensor_destroy");
        try
        {
            Fails(() => TensorGetInfo(tensor, out _), "sn_tensor_get_info", SnStatus.ErrInvalidHandle);
            Fails(() => TensorUpload<float>(tensor, new float[4]), "sn_tensor_upload", SnStatus.ErrInvalidHandle);
        }
        finally
        {
            tensor.SetHandleAsInvalid(); // already destroyed natively; the SafeHandle must not destroy it again
        }
    }

    [Fact]
    public void AHandleOfAnotherKindIsRejected()
    {
        using var context = CreateCpuContext();
        var foreign = new SnTensorHandle();
        System.Runtime.InteropServices.Marshal.InitHandle(foreign, context.DangerousGetHandle());
        try
        {
            Fails(() => TensorGetInfo(foreign, out _), "sn_tensor_get_info", SnStatus.ErrInvalidHandle);
        }
        finally
        {
            foreign.SetHandleAsInvalid();
        }
    }

    [Fact]
    public void ADisposedSafeHandleNeverReachesTheLibrary()
    {
        using var context = CreateCpuContext();
        var tensor = CreateTensor(context, SnDtype.F32, 4);
        tensor.Dispose();
        Assert.Throws<ObjectDisposedException>(() => TensorGetInfo(tensor, out _));
    }

    [Fact]
    public void WrongDtypesShapesAndSizesAreReported()
    {
        using var context = CreateCpuContext();
        using var x = CreateTensor(context, SnDtype.F32, 3, 5);
        using var xInt = CreateTensor(context, SnDtype.I32, 3, 5);
        using var weight = CreateTensor(context, SnDtype.F32, 4, 5);
        using var wrongWeight = CreateTensor(context, SnDtype.F32, 4, 6);
        using var output = CreateTensor(context, SnDtype.F32, 3, 4);
        using var noBias = SnTensorHandle.Null;

        Fails(() => Matmul(context, xInt, weight, noBias, output), "sn_matmul", SnStatus.ErrDtypeMismatch);
        Fails(() => Matmul(context, x, wrongWeight, noBias, output), "sn_matmul", SnStatus.ErrShapeMismatch);
        Fails(() => TensorUpload<float>(x, new float[14]), "sn_tensor_upload", SnStatus.ErrInvalidArgument);
        Fails(() => TensorDownload<float>(x, new float[16]), "sn_tensor_download", SnStatus.ErrInvalidArgument);

        Fails(() => TensorCreate(context, SnDtype.F32, [2L, 0L], out _), "sn_tensor_create", SnStatus.ErrInvalidArgument);
        Fails(() => TensorCreate(context, SnDtype.F32, [1L, 1L, 1L, 1L, 1L], out _), "sn_tensor_create", SnStatus.ErrInvalidArgument);
        Assert.Equal(SnStatus.ErrInvalidArgument, TensorCreate(context, SnDtype.F32, [2L, 0L], out var notCreated));
        Assert.True(notCreated.IsInvalid);
    }

    [Fact]
    public void AContextWithLiveTensorsRefusesToBeDestroyed()
    {
        using var context = CreateCpuContext();
        using var tensor = CreateTensor(context, SnDtype.F32, 2);
        Fails(() => ContextDestroy(context.DangerousGetHandle()), "sn_context_destroy", SnStatus.ErrInvalidArgument);
        Check(TensorGetInfo(tensor, out _), "sn_tensor_get_info"); // both still alive
        Check(ContextSynchronize(context), "sn_context_synchronize");
    }

    [Fact]
    public void CudaIsEitherAvailableOrAClearError()
    {
        Check(BackendAvailable(SnBackendKind.Cuda, out var available), "sn_backend_available");
        var options = new SnContextOptions { Backend = SnBackendKind.Cuda, Device = 0 };
        if (available == 1)
        {
            Check(ContextCreate(options, out var cuda), "sn_context_create");
            using (cuda)
            {
                Check(ContextGetBackend(cuda, out var backend), "sn_context_get_backend");
                Assert.Equal(SnBackendKind.Cuda, backend);
            }
            return;
        }
        Assert.NotEqual("", LastError()); // sn_backend_available said why
        SnContextHandle? notCreated = null;
        var error = Fails(() => ContextCreate(options, out notCreated), "sn_context_create", SnStatus.ErrBackendUnavailable);
        Assert.True(notCreated!.IsInvalid);
        Assert.True(error.NativeMessage.Length > "sn_context_create".Length, error.NativeMessage);
    }
}
