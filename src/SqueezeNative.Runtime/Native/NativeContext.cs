using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SqueezeNative.Bindings.Interop;
using SqueezeNative.Runtime.Models;

namespace SqueezeNative.Runtime.Native;

/// <summary>Which backend runs a model: chosen explicitly, or <see cref="Auto"/> (CUDA when usable).</summary>
public enum DeviceKind { Cpu, Cuda, Auto }

/// <summary>Options that change how (never what) a context computes (<see cref="SnContextFlags"/>).</summary>
[Flags]
public enum NativeContextFlags : uint
{
    None = (uint)SnContextFlags.None,
    /// <summary>CUDA: every dense product through cuBLAS (the fp16 baseline of benchmarks); ignored on the CPU.</summary>
    DenseCublas = (uint)SnContextFlags.DenseCublas,
}

/// <summary>A native call failed; carries the library's status and message.</summary>
public sealed class NativeOperationException : SqueezeException
{
    public SnStatus Status { get; }

    public NativeOperationException(string function, SnStatus status, string nativeMessage)
        : base($"{function} failed ({status}): {nativeMessage}")
    {
        Status = status;
    }
}

/// <summary>
/// One native execution context (backend, device, stream, thread pool) and the typed operations
/// on it. All runtime code reaches libsqueezenative through this class and
/// <see cref="NativeTensor"/>, so the generated bindings are used in exactly one place.
/// </summary>
public sealed class NativeContext : IDisposable
{
    private static readonly SnTensorHandle NoTensor = SnTensorHandle.Null;

    internal SnContextHandle Handle { get; }
    public DeviceKind Device { get; }

    /// <summary>
    /// Held while a sequence of operations is issued. Graph capture is a mode of the whole context
    /// (and CUDA capture owns its one stream), so sessions sharing a context issue their steps one
    /// at a time; on the GPU they would serialise on the stream anyway.
    /// </summary>
    public object ExecutionLock { get; } = new();

    private NativeContext(SnContextHandle handle, DeviceKind device)
    {
        Handle = handle;
        Device = device;
    }

    /// <summary>
    /// Creates a context. <see cref="DeviceKind.Cuda"/> without a usable GPU is an error naming the
    /// reason; <see cref="DeviceKind.Auto"/> picks CUDA when available and logs the choice.
    /// </summary>
    public static NativeContext Create(DeviceKind device, int threads = 0, int deviceOrdinal = 0, ILogger? logger = null,
        NativeContextFlags flags = NativeContextFlags.None)
    {
        logger ??= NullLogger.Instance;
        try
        {
            return CreateCore(device, threads, deviceOrdinal, logger, flags);
        }
        catch (DllNotFoundException e)
        {
            throw new SqueezeException($"the native library libsqueezenative could not be loaded: {e.Message}", e);
        }
    }

    private static NativeContext CreateCore(DeviceKind device, int threads, int deviceOrdinal, ILogger logger, NativeContextFlags flags)
    {
        if (threads < 0) throw new InvalidOptionException("--threads", $"must be >= 0 (got {threads})");
        var chosen = device;
        if (device == DeviceKind.Auto)
        {
            Check(NativeMethods.BackendAvailable(SnBackendKind.Cuda, out var available), "sn_backend_available");
            chosen = available != 0 ? DeviceKind.Cuda : DeviceKind.Cpu;
            var reason = available != 0 ? "a CUDA device is available" : $"CUDA is not usable: {NativeMethods.LastError()}";
            logger.LogInformation("--device auto chose {Device} ({Reason})", chosen.ToString().ToLowerInvariant(), reason);
        }
        var options = new SnContextOptions
        {
            Backend = chosen == DeviceKind.Cuda ? SnBackendKind.Cuda : SnBackendKind.Cpu,
            Device = deviceOrdinal,
            NumThreads = threads,
            Flags = (uint)flags,
        };
        Check(NativeMethods.ContextCreate(options, out var handle), "sn_context_create");
        return new NativeContext(handle, chosen);
    }

    /// <summary>Throws <see cref="NativeOperationException"/> with the native message when status is not OK.</summary>
    internal static void Check(SnStatus status, string function)
    {
        if (status != SnStatus.Ok)
            throw new NativeOperationException(function, status, NativeMethods.LastError());
    }

    public NativeTensor Tensor(NativeDType dtype, params long[] shape)
    {
        Check(NativeMethods.TensorCreate(Handle, (SnDtype)dtype, shape, out var t), "sn_tensor_create");
        return new NativeTensor(this, t, dtype, shape);
    }

    /// <summary>A new tensor holding <paramref name="data"/>.</summary>
    public NativeTensor FromHost<T>(NativeDType dtype, ReadOnlySpan<T> data, params long[] shape) where T : unmanaged
    {
        var t = Tensor(dtype, shape);
        try { t.Upload(data); }
        catch { t.Dispose(); throw; }
        return t;
    }

    /// <summary>Copies a checkpoint tensor (F32, F16 or BF16) into this context, keeping its dtype.</summary>
    public NativeTensor FromCheckpoint(TensorRef source) => FromHost(FromCheckpointDType(source), source.Data.Span, source.Shape);

    /// <summary>The native dtype a checkpoint tensor is stored as on a context.</summary>
    public NativeDType FromCheckpointDType(TensorRef source) => source.DType switch
        {
            TensorDType.F32 => NativeDType.F32,
            TensorDType.F16 => NativeDType.F16,
            TensorDType.BF16 => NativeDType.BF16,
            TensorDType.I32 => NativeDType.I32,
            TensorDType.U8 => NativeDType.U8,
            _ => throw new ModelFormatException($"dtype {source.DType} cannot be loaded", source.FilePath, source.Name),
        };

    public void Synchronize() => Check(NativeMethods.ContextSynchronize(Handle), "sn_context_synchronize");

    // ---- operations: thin, typed, checked --------------------------------------------------

    public void Copy(NativeTensor src, NativeTensor dst) =>
        Check(NativeMethods.Copy(Handle, src.Handle, dst.Handle), "sn_copy");

    /// <summary>y[M,N] = x[M,K] · w[N,K]ᵀ (+ bias[N]).</summary>
    public void MatMul(NativeTensor x, NativeTensor w, NativeTensor? bias, NativeTensor y) =>
        Check(NativeMethods.Matmul(Handle, x.Handle, w.Handle, bias?.Handle ?? NoTensor, y.Handle), "sn_matmul");

    public void Add(NativeTensor a, NativeTensor b, NativeTensor y) =>
        Check(NativeMethods.Add(Handle, a.Handle, b.Handle, y.Handle), "sn_add");

    public void Mul(NativeTensor a, NativeTensor b, NativeTensor y) =>
        Check(NativeMethods.Mul(Handle, a.Handle, b.Handle, y.Handle), "sn_mul");

    public void RmsNorm(NativeTensor x, NativeTensor weight, float eps, NativeTensor y) =>
        Check(NativeMethods.RmsNorm(Handle, x.Handle, weight.Handle, eps, y.Handle), "sn_rms_norm");

    public void LayerNorm(NativeTensor x, NativeTensor weight, NativeTensor? bias, float eps, NativeTensor y) =>
        Check(NativeMethods.LayerNorm(Handle, x.Handle, weight.Handle, bias?.Handle ?? NoTensor, eps, y.Handle), "sn_layer_norm");

    public void Silu(NativeTensor x, NativeTensor y) => Check(NativeMethods.Silu(Handle, x.Handle, y.Handle), "sn_silu");

    public void Relu(NativeTensor x, NativeTensor y) => Check(NativeMethods.Relu(Handle, x.Handle, y.Handle), "sn_relu");

    public void Gelu(NativeTensor x, bool tanhApproximation, NativeTensor y) =>
        Check(NativeMethods.Gelu(Handle, x.Handle, tanhApproximation ? 1 : 0, y.Handle), "sn_gelu");

    public void SwiGlu(NativeTensor gate, NativeTensor up, NativeTensor y) =>
        Check(NativeMethods.Swiglu(Handle, gate.Handle, up.Handle, y.Handle), "sn_swiglu");

    /// <summary>
    /// y[M, I] = silu(g)·u with g | u = x[M, K] · w[2I, K]ᵀ (+ bias[2I]), w = gate rows stacked over up
    /// rows: <see cref="MatMul"/> into [M, 2I] and <see cref="SwiGlu"/> of its halves in one op
    /// (one GEMV launch for a decode step on CUDA).
    /// </summary>
    public void MatMulSwiGlu(NativeTensor x, NativeTensor w, NativeTensor? bias, NativeTensor y) =>
        Check(NativeMethods.MatmulSwiglu(Handle, x.Handle, w.Handle, bias?.Handle ?? NoTensor, y.Handle), "sn_matmul_swiglu");

    public void Softmax(NativeTensor x, NativeTensor y) => Check(NativeMethods.Softmax(Handle, x.Handle, y.Handle), "sn_softmax");

    /// <summary>Rotate-half RoPE of x [T, H, Dh] at positions (I32 [T]).</summary>
    public void Rope(NativeTensor x, NativeTensor positions, float theta, NativeTensor y) =>
        Check(NativeMethods.Rope(Handle, x.Handle, positions.Handle, theta, y.Handle), "sn_rope");

    public void Embedding(NativeTensor table, NativeTensor ids, NativeTensor y) =>
        Check(NativeMethods.Embedding(Handle, table.Handle, ids.Handle, y.Handle), "sn_embedding");

    /// <summary>Causal attention of q [T,Hq,Dh] at absolute positions (I32 [T]) over caches [S,Hkv,Dh].</summary>
    public void Attention(NativeTensor q, NativeTensor positions, NativeTensor kCache, NativeTensor vCache, int window, float scale, NativeTensor y) =>
        Check(NativeMethods.Attention(Handle, q.Handle, positions.Handle, kCache.Handle, vCache.Handle, window, scale, y.Handle), "sn_attention");

    /// <summary>cache[positions[t]] = src[t] for src [T,Hkv,Dh].</summary>
    public void KvWrite(NativeTensor src, NativeTensor positions, NativeTensor cache) =>
        Check(NativeMethods.KvWrite(Handle, src.Handle, positions.Handle, cache.Handle), "sn_kv_write");

    /// <summary>
    /// <see cref="Rope"/> of q [T,Hq,Dh] and k [T,Hkv,Dh] in place (none when <paramref name="theta"/> is 0),
    /// then <see cref="KvWrite"/> of k and v into the caches, as one op (one kernel launch on CUDA).
    /// </summary>
    public void RopeKvWrite(NativeTensor q, NativeTensor k, NativeTensor v, NativeTensor positions, float theta,
        NativeTensor kCache, NativeTensor vCache) =>
        Check(NativeMethods.RopeKvWrite(Handle, q.Handle, k.Handle, v.Handle, positions.Handle, theta, kCache.Handle, vCache.Handle),
            "sn_rope_kv_write");

    /// <summary>y[M,N] += x[M,K] · w[N,K]ᵀ (+ bias[N]): a linear with its residual add fused.</summary>
    public void MatMulAdd(NativeTensor x, NativeTensor w, NativeTensor? bias, NativeTensor y) =>
        Check(NativeMethods.MatmulAdd(Handle, x.Handle, w.Handle, bias?.Handle ?? NoTensor, y.Handle), "sn_matmul_add");

    /// <summary>
    /// A LUT-quantized linear: y[M,N] (=, or += with <paramref name="accumulate"/>) x[M,K] · Wᵀ
    /// (+ bias[N]), W = LUT part (qweight I32 in the checkpoint layout [K/32·bits, N] or repacked
    /// by <see cref="RepackLutCodes"/>; CUDA takes only the latter, lut F16 [N, 2^bits]) + the
    /// optional CSR part (rows, cols, vals: all or none).
    /// </summary>
    public void LutMatMul(NativeTensor x, NativeTensor qweight, NativeTensor lut, int bits, NativeTensor? sparseRows,
        NativeTensor? sparseCols, NativeTensor? sparseValues, NativeTensor? bias, bool accumulate, NativeTensor y)
    {
        SnStatus status;
        try
        {
            status = NativeMethods.LutMatmul(Handle, x.Handle, qweight.Handle, lut.Handle, bits, sparseRows?.Handle ?? NoTensor,
                sparseCols?.Handle ?? NoTensor, sparseValues?.Handle ?? NoTensor, bias?.Handle ?? NoTensor, accumulate ? 1 : 0, y.Handle);
        }
        catch (EntryPointNotFoundException e)
        {
            throw MissingLutApi("sn_lut_matmul", e);
        }
        Check(status, "sn_lut_matmul");
    }

    /// <summary>
    /// A quantized gate|up stack's gated product: y[M, I] = silu(g)·u of g | u = x · Wᵀ (+ bias), W
    /// [2I, K] one LUT-quantized weight as in <see cref="LutMatMul"/> (gate rows first). Equals
    /// <see cref="LutMatMul"/> into [M, 2I] and <see cref="SwiGlu"/> of its halves; on CUDA a decode
    /// step's (M &lt;= 8) is one LUT-GEMV with the activation in its epilogue.
    /// </summary>
    public void LutMatMulSwiGlu(NativeTensor x, NativeTensor qweight, NativeTensor lut, int bits, NativeTensor? sparseRows,
        NativeTensor? sparseCols, NativeTensor? sparseValues, NativeTensor? bias, NativeTensor y)
    {
        SnStatus status;
        try
        {
            status = NativeMethods.LutMatmulSwiglu(Handle, x.Handle, qweight.Handle, lut.Handle, bits, sparseRows?.Handle ?? NoTensor,
                sparseCols?.Handle ?? NoTensor, sparseValues?.Handle ?? NoTensor, bias?.Handle ?? NoTensor, y.Handle);
        }
        catch (EntryPointNotFoundException e)
        {
            throw MissingLutApi("sn_lut_matmul_swiglu", e);
        }
        Check(status, "sn_lut_matmul_swiglu");
    }

    /// <summary>The shape of <paramref name="bits"/>-bit codes of an N×K weight in this backend's layout (sn_lut_repacked_shape).</summary>
    public long[] LutRepackedShape(int bits, long n, long k)
    {
        Span<long> dims = stackalloc long[NativeConstants.MaxDims];
        SnStatus status;
        int ndim;
        try
        {
            status = NativeMethods.LutRepackedShape(Handle, bits, n, k, out ndim, dims);
        }
        catch (EntryPointNotFoundException e)
        {
            throw MissingLutApi("sn_lut_repacked_shape", e);
        }
        Check(status, "sn_lut_repacked_shape");
        return dims[..ndim].ToArray();
    }

    /// <summary>Converts checkpoint-layout codes into <paramref name="packed"/> (of <see cref="LutRepackedShape"/>): sn_lut_repack.</summary>
    public void LutRepack(NativeTensor qweight, int bits, NativeTensor packed)
    {
        SnStatus status;
        try
        {
            status = NativeMethods.LutRepack(Handle, qweight.Handle, bits, packed.Handle);
        }
        catch (EntryPointNotFoundException e)
        {
            throw MissingLutApi("sn_lut_repack", e);
        }
        Check(status, "sn_lut_repack");
    }

    /// <summary>
    /// Uploads codes in the checkpoint layout (I32 [K/32·bits, N], little-endian bytes) and returns
    /// them in this backend's layout, the form every backend's sn_lut_matmul reads fastest (the
    /// only one CUDA reads). The checkpoint-layout copy exists only during the call.
    /// </summary>
    public NativeTensor RepackLutCodes(ReadOnlySpan<byte> qweight, int bits, long n, long k)
    {
        var packed = Tensor(NativeDType.I32, LutRepackedShape(bits, n, k));
        try
        {
            using var stored = FromHost(NativeDType.I32, qweight, k / 32 * bits, n);
            LutRepack(stored, bits, packed);
        }
        catch
        {
            packed.Dispose();
            throw;
        }
        return packed;
    }

    /// <summary>
    /// sn_kmeans_rows: the exact weighted k-means of every row of <paramref name="values"/> F32 [R, C]
    /// (the C# solver's method Exact): <paramref name="lut"/> F32 [R, 2^bits] receives each row's sorted
    /// centroids (rounded to fp16 when <paramref name="halfPrecisionLut"/>), <paramref name="codes"/> U8
    /// [R, C] each value's nearest entry. <paramref name="weights"/> F32 [R, C] (null = uniform),
    /// <paramref name="excluded"/> U8 or I32 [R, C] (null = none; non-zero = moved to the sparse part).
    /// </summary>
    public void KMeansRows(NativeTensor values, NativeTensor? weights, NativeTensor? excluded, int bits, bool halfPrecisionLut,
        NativeTensor lut, NativeTensor codes)
    {
        SnStatus status;
        try
        {
            status = NativeMethods.KmeansRows(Handle, values.Handle, weights?.Handle ?? NoTensor, excluded?.Handle ?? NoTensor, bits,
                halfPrecisionLut ? 1 : 0, lut.Handle, codes.Handle);
        }
        catch (EntryPointNotFoundException e)
        {
            throw new SqueezeException("the loaded libsqueezenative has no sn_kmeans_rows (built from an older source?); rebuild it", e);
        }
        Check(status, "sn_kmeans_rows");
    }

    // An older libsqueezenative lacks the quantized entry points: say so instead of a bare EntryPointNotFound.
    private static SqueezeException MissingLutApi(string function, EntryPointNotFoundException e) =>
        new($"the loaded libsqueezenative has no {function} (built from an older source?); rebuild it to run quantized models", e);

    /// <summary>Uniform values in [-scale, scale) from a seeded counter-based generator (synthetic models).</summary>
    public void FillRandom(NativeTensor t, ulong seed, float scale) =>
        Check(NativeMethods.FillRandom(Handle, t.Handle, seed, scale), "sn_fill_random");

    /// <summary>Allocated / peak tensor bytes and device memory.</summary>
    public SnMemoryInfo Memory()
    {
        Check(NativeMethods.ContextGetMemory(Handle, out var info), "sn_context_get_memory");
        return info;
    }

    public void ResetPeakMemory() => Check(NativeMethods.ContextResetPeakMemory(Handle), "sn_context_reset_peak_memory");

    /// <summary>The device, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".</summary>
    public string DeviceName => System.Runtime.InteropServices.Marshal.PtrToStringUTF8(NativeMethods.ContextDeviceNameUtf8(Handle)) ?? "";

    /// <summary>Activations dtype of this backend: F32 on the CPU, F16 on CUDA (F32 accumulation).</summary>
    public NativeDType ActivationDType => Device == DeviceKind.Cuda ? NativeDType.F16 : NativeDType.F32;

    /// <summary>Records the operations <paramref name="record"/> issues into a replayable graph.</summary>
    public NativeGraph Capture(Action record)
    {
        Check(NativeMethods.GraphBeginCapture(Handle), "sn_graph_begin_capture");
        SnGraphHandle? graph = null;
        try
        {
            record();
        }
        finally
        {
            // Always end the capture, so a failure inside leaves the context usable.
            var status = NativeMethods.GraphEndCapture(Handle, out graph);
            if (status != SnStatus.Ok && graph is { IsInvalid: false }) graph.Dispose();
            Check(status, "sn_graph_end_capture");
        }
        return new NativeGraph(graph!);
    }

    /// <summary>losses[t] = logsumexp(logits[t]) − logits[t, targets[t]].</summary>
    public void CrossEntropy(NativeTensor logits, NativeTensor targets, NativeTensor losses) =>
        Check(NativeMethods.CrossEntropy(Handle, logits.Handle, targets.Handle, losses.Handle), "sn_cross_entropy");

    public void Dispose() => Handle.Dispose();

    // ---- backward operations (the Fisher sensitivity pass) ----------------------------------

    /// <summary>dx[M,K] = dy[M,N] · w[N,K] (the input gradient of a linear); += when <paramref name="accumulate"/>.</summary>
    public void MatMulBackwardInput(NativeTensor dy, NativeTensor w, bool accumulate, NativeTensor dx) =>
        Check(NativeMethods.MatmulBackwardInput(Handle, dy.Handle, w.Handle, accumulate ? 1 : 0, dx.Handle), "sn_matmul_backward_input");

    /// <summary>fisher[N,K] += (dy[T,N]ᵀ · x[T,K])²: one sample's squared weight gradient (F32).</summary>
    public void FisherAccumulate(NativeTensor dy, NativeTensor x, NativeTensor fisher) =>
        Check(NativeMethods.FisherAccumulate(Handle, dy.Handle, x.Handle, fisher.Handle), "sn_fisher_accumulate");

    /// <summary>dx = ∂(RmsNorm(x)·dy)/∂x with the weight fixed.</summary>
    public void RmsNormBackward(NativeTensor x, NativeTensor weight, float eps, NativeTensor dy, NativeTensor dx) =>
        Check(NativeMethods.RmsNormBackward(Handle, x.Handle, weight.Handle, eps, dy.Handle, dx.Handle), "sn_rms_norm_backward");

    /// <summary>dx = ∂(LayerNorm(x)·dy)/∂x with weight and bias fixed.</summary>
    public void LayerNormBackward(NativeTensor x, NativeTensor weight, float eps, NativeTensor dy, NativeTensor dx) =>
        Check(NativeMethods.LayerNormBackward(Handle, x.Handle, weight.Handle, eps, dy.Handle, dx.Handle), "sn_layer_norm_backward");

    /// <summary>Backward of <see cref="SwiGlu"/>: dgate = dy·up·silu'(gate), dup = dy·silu(gate).</summary>
    public void SwiGluBackward(NativeTensor gate, NativeTensor up, NativeTensor dy, NativeTensor dgate, NativeTensor dup) =>
        Check(NativeMethods.SwigluBackward(Handle, gate.Handle, up.Handle, dy.Handle, dgate.Handle, dup.Handle), "sn_swiglu_backward");

    /// <summary>dx = dy · act'(x) for an elementwise activation evaluated at its input x; dx may alias dy.</summary>
    public void ActivationBackward(SnActivation activation, NativeTensor x, NativeTensor dy, NativeTensor dx) =>
        Check(NativeMethods.ActivationBackward(Handle, activation, x.Handle, dy.Handle, dx.Handle), "sn_activation_backward");

    /// <summary>Backward of <see cref="Rope"/> for dy [T, H, Dh]: the rotation by −angle; dx may alias dy.</summary>
    public void RopeBackward(NativeTensor dy, NativeTensor positions, float theta, NativeTensor dx) =>
        Check(NativeMethods.RopeBackward(Handle, dy.Handle, positions.Handle, theta, dx.Handle), "sn_rope_backward");

    /// <summary>
    /// Backward of <see cref="Attention"/> over a whole sequence (k, v [T,Hkv,Dh] hold positions
    /// 0..T−1): dout [T,Hq,Dh] → dq [T,Hq,Dh], dk and dv [T,Hkv,Dh].
    /// </summary>
    public void AttentionBackward(NativeTensor q, NativeTensor positions, NativeTensor k, NativeTensor v, int window, float scale,
        NativeTensor dout, NativeTensor dq, NativeTensor dk, NativeTensor dv) =>
        Check(NativeMethods.AttentionBackward(Handle, q.Handle, positions.Handle, k.Handle, v.Handle, window, scale,
            dout.Handle, dq.Handle, dk.Handle, dv.Handle), "sn_attention_backward");

    /// <summary>dlogits[t] = (softmax(logits[t]) − onehot(targets[t])) · scale (scale = 1/rows for a mean).</summary>
    public void CrossEntropyBackward(NativeTensor logits, NativeTensor targets, float scale, NativeTensor dlogits) =>
        Check(NativeMethods.CrossEntropyBackward(Handle, logits.Handle, targets.Handle, scale, dlogits.Handle), "sn_cross_entropy_backward");
}
