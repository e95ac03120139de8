/*
 * squeeze_native.h — THE native API of SqueezeNative.
 *
 * This header is the only thing managed code sees. The C# bindings in
 * src/SqueezeNative.Bindings/Generated are generated from it by src/SqueezeNative.BindGen
 * (`./build.sh bindings`); never edit the generated file by hand.
 *
 * Rules (see DESIGN.md, "Native core"):
 *  - Every function returns an sn_status. SN_OK (0) is success; on any other value the
 *    calling thread's last-error text (sn_last_error) names the function, the argument and
 *    the reason. No C++ exception and no abort ever crosses this API.
 *  - Objects are opaque handles with explicit create/destroy pairs. The caller owns what a
 *    *_create function returns and must pass it to the matching *_destroy exactly once.
 *    Destroying NULL is a no-op returning SN_OK. Handles are validated on every call: a
 *    destroyed or foreign handle returns SN_ERR_INVALID_HANDLE instead of touching memory.
 *  - Tensors are dense, row-major (the last dimension is contiguous) and belong to one context
 *    (one backend, one device). An operation takes all its tensors from one context.
 *  - Operations write into caller-allocated output tensors; they never allocate tensors.
 *  - The backend is chosen explicitly when a context is created; asking for CUDA where no GPU
 *    or driver is present is an error (SN_ERR_BACKEND_UNAVAILABLE), never a silent fallback.
 */
#ifndef SQUEEZE_NATIVE_H
#define SQUEEZE_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SN_API __declspec(dllexport)
#else
#define SN_API __attribute__((visibility("default")))
#endif

/** Maximum number of dimensions of a tensor. */
#define SN_MAX_DIMS 4

/** Result of every API call. Non-zero values come with a message from sn_last_error(). */
typedef enum sn_status {
    /** Success. */
    SN_OK = 0,
    /** An argument is out of range or otherwise invalid (the message names it). */
    SN_ERR_INVALID_ARGUMENT = 1,
    /** A required pointer or handle argument was NULL. */
    SN_ERR_NULL_ARGUMENT = 2,
    /** A handle is not live: already destroyed, never created, or of another kind. */
    SN_ERR_INVALID_HANDLE = 3,
    /** A tensor has a dtype the operation does not accept. */
    SN_ERR_DTYPE_MISMATCH = 4,
    /** Tensor shapes do not agree with each other or with the operation. */
    SN_ERR_SHAPE_MISMATCH = 5,
    /** Host or device memory could not be allocated. */
    SN_ERR_OUT_OF_MEMORY = 6,
    /** The requested backend is not compiled in, or has no usable driver or device. */
    SN_ERR_BACKEND_UNAVAILABLE = 7,
    /** The backend does not implement this operation for these dtypes. */
    SN_ERR_UNSUPPORTED = 8,
    /** A CUDA runtime, driver or library call failed (the message names the call, file:line). */
    SN_ERR_CUDA = 9,
    /** Tensors from different contexts were mixed in one call. */
    SN_ERR_CONTEXT_MISMATCH = 10,
    /** An internal invariant failed; this is a bug in SqueezeNative. */
    SN_ERR_INTERNAL = 11
} sn_status;

/** Which implementation runs the operations of a context. */
typedef enum sn_backend_kind {
    /** Portable C++ reference backend: always present, multi-threaded. */
    SN_BACKEND_CPU = 0,
    /** NVIDIA CUDA backend: present when the library was built with nvcc. */
    SN_BACKEND_CUDA = 1
} sn_backend_kind;

/** Element type of a tensor. */
typedef enum sn_dtype {
    /** IEEE-754 binary32. */
    SN_DTYPE_F32 = 0,
    /** IEEE-754 binary16. */
    SN_DTYPE_F16 = 1,
    /** bfloat16 (the upper half of a binary32). */
    SN_DTYPE_BF16 = 2,
    /** Signed 32-bit integer (token ids, positions, packed quantized words). */
    SN_DTYPE_I32 = 3,
    /** Unsigned byte. */
    SN_DTYPE_U8 = 4
} sn_dtype;

/** Options of a context that change how (never what) it computes; combine with |. */
typedef enum sn_context_flags {
    /** The defaults. */
    SN_CONTEXT_FLAG_NONE = 0,
    /**
     * CUDA: every dense product (sn_matmul, sn_matmul_add) goes through cuBLAS, also where the
     * backend's own F16 GEMV would run (M <= 8). For benchmark baselines ("cuBLAS fp16 in the same
     * run"); ignored by the CPU backend.
     */
    SN_CONTEXT_FLAG_DENSE_CUBLAS = 1
} sn_context_flags;

/** Opaque execution context: one backend, one device, one stream, one thread pool. */
typedef struct sn_context sn_context;

/** Opaque tensor: a dtype, a shape and storage owned by (or, for a view, borrowed from) a context. */
typedef struct sn_tensor sn_tensor;

/**
 * Opaque recorded sequence of operations (a CUDA graph on the CUDA backend, an op list on the
 * CPU backend), replayed with sn_graph_launch. Tensors it uses must outlive it.
 */
typedef struct sn_graph sn_graph;

/** Options for sn_context_create. Zero-initialise, then set what you need. */
typedef struct sn_context_options {
    /** Backend that runs every operation of the context. */
    sn_backend_kind backend;
    /** CUDA device ordinal (ignored by the CPU backend). */
    int32_t device;
    /** CPU worker threads; 0 means one per available core. */
    int32_t num_threads;
    /** A combination of sn_context_flags; 0 for the defaults. */
    uint32_t flags;
} sn_context_options;

/** Shape and type of a tensor, as returned by sn_tensor_get_info. */
typedef struct sn_tensor_info {
    /** Element type. */
    sn_dtype dtype;
    /** Number of dimensions, 1..SN_MAX_DIMS. */
    int32_t ndim;
    /** Extent of each dimension; entries at and after ndim are 1. */
    int64_t dims[SN_MAX_DIMS];
    /** Number of elements (product of dims). */
    int64_t numel;
    /** Size of the tensor's data in bytes. */
    int64_t nbytes;
    /** 1 if the tensor is a view borrowing another tensor's storage, else 0. */
    int32_t is_view;
} sn_tensor_info;

/* ------------------------------------------------------------------------------------------ */
/* Errors and library information                                                             */
/* ------------------------------------------------------------------------------------------ */

/**
 * The message of the last failed call made on this thread, or "" if none failed yet.
 * The pointer stays valid until the next API call on the same thread; copy it to keep it.
 */
SN_API const char* sn_last_error(void);

/** Clears this thread's last-error message. */
SN_API void sn_clear_error(void);

/** The library version as "major.minor.patch". Never NULL; owned by the library. */
SN_API const char* sn_version(void);

/** A short human-readable name of a status code. Never NULL; owned by the library. */
SN_API const char* sn_status_name(sn_status status);

/** Size in bytes of one element of dtype; 0 for an unknown dtype. */
SN_API size_t sn_dtype_size(sn_dtype dtype);

/**
 * Whether a backend can be used on this machine: 1 if a context of that kind can be created,
 * else 0 (with the reason in sn_last_error, e.g. "built without CUDA" or "no CUDA driver").
 * Returns SN_ERR_NULL_ARGUMENT if out_available is NULL.
 */
SN_API sn_status sn_backend_available(sn_backend_kind backend, int32_t* out_available);

/* ------------------------------------------------------------------------------------------ */
/* Contexts                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/**
 * Creates a context for the backend named in options.
 * On success *out_context receives a new context the caller must destroy with
 * sn_context_destroy. Returns SN_ERR_BACKEND_UNAVAILABLE if the backend is not compiled in or
 * has no usable device, SN_ERR_NULL_ARGUMENT if options or out_context is NULL.
 */
SN_API sn_status sn_context_create(const sn_context_options* options, sn_context** out_context);

/**
 * Destroys a context. Every tensor created in it must have been destroyed first; live tensors
 * make this return SN_ERR_INVALID_ARGUMENT and leave the context alive. NULL is a no-op.
 */
SN_API sn_status sn_context_destroy(sn_context* context);

/** The backend of a context. */
SN_API sn_status sn_context_get_backend(const sn_context* context, sn_backend_kind* out_backend);

/** Waits until all work queued on the context has finished (a no-op on the CPU backend). */
SN_API sn_status sn_context_synchronize(sn_context* context);

/** Memory figures of a context, as returned by sn_context_get_memory. */
typedef struct sn_memory_info {
    /** Bytes of tensor storage currently allocated by the context. */
    int64_t allocated_bytes;
    /** Largest allocated_bytes seen since the context was created or the peak was reset. */
    int64_t peak_allocated_bytes;
    /** Device memory free right now (CUDA: cudaMemGetInfo; CPU: 0 = not reported). */
    int64_t device_free_bytes;
    /** Total device memory (CUDA), 0 on the CPU backend. */
    int64_t device_total_bytes;
} sn_memory_info;

/** Fills *out_info with the context's memory figures. */
SN_API sn_status sn_context_get_memory(const sn_context* context, sn_memory_info* out_info);

/** Sets the context's peak_allocated_bytes to its current allocated_bytes. */
SN_API sn_status sn_context_reset_peak_memory(sn_context* context);

/**
 * A short description of the context's device, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs,
 * 79.1 GiB)" or "CPU, 16 threads". Library-owned; valid until the context is destroyed.
 */
SN_API const char* sn_context_device_name(const sn_context* context);

/* ------------------------------------------------------------------------------------------ */
/* Graphs: record once, replay per token                                                      */
/*                                                                                            */
/* Between sn_graph_begin_capture and sn_graph_end_capture, operations on the context are      */
/* recorded instead of executed (CPU) or captured into a CUDA graph (CUDA). Values that change */
/* per replay must therefore live in tensors (positions, token ids), never in arguments.       */
/* Not allowed while capturing (SN_ERR_INVALID_ARGUMENT): uploads, downloads, synchronize,    */
/* creating tensors (views are fine), launching graphs, destroying the context. A context with */
/* live graphs cannot be destroyed. Capture is a mode of the whole context: issue from one     */
/* thread at a time.                                                                          */
/* ------------------------------------------------------------------------------------------ */

/** Starts recording the context's operations. Nested captures are an error. */
SN_API sn_status sn_graph_begin_capture(sn_context* context);

/**
 * Ends recording and returns the graph (owned by the caller; sn_graph_destroy). If an
 * operation failed during capture, the capture is discarded and that failure is returned.
 */
SN_API sn_status sn_graph_end_capture(sn_context* context, sn_graph** out_graph);

/** Replays a graph on its context (asynchronously on CUDA; synchronize or download to wait). */
SN_API sn_status sn_graph_launch(sn_graph* graph);

/** Number of operations (kernel launches on CUDA) one replay performs. */
SN_API sn_status sn_graph_get_node_count(const sn_graph* graph, int64_t* out_count);

/** Destroys a graph. NULL is a no-op. */
SN_API sn_status sn_graph_destroy(sn_graph* graph);

/* ------------------------------------------------------------------------------------------ */
/* Tensors                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/**
 * Creates a tensor of the given dtype and shape (ndim 1..SN_MAX_DIMS, every dim >= 1) in
 * context. Its contents are zero. The caller owns *out_tensor and destroys it with
 * sn_tensor_destroy. Returns SN_ERR_OUT_OF_MEMORY if the storage cannot be allocated.
 */
SN_API sn_status sn_tensor_create(sn_context* context, sn_dtype dtype, const int64_t* dims,
                                  int32_t ndim, sn_tensor** out_tensor);

/**
 * Creates a view: a tensor of shape dims that aliases `base`'s storage starting at element
 * offset_elements (counted in base's dtype; the view has base's dtype). The view must lie
 * entirely inside base. The view keeps base's storage alive: base may be destroyed first.
 * The caller owns *out_view and destroys it with sn_tensor_destroy.
 */
SN_API sn_status sn_tensor_view(sn_tensor* base, int64_t offset_elements, const int64_t* dims,
                                int32_t ndim, sn_tensor** out_view);

/** Destroys a tensor or view. Storage is freed when its last tensor is gone. NULL is a no-op. */
SN_API sn_status sn_tensor_destroy(sn_tensor* tensor);

/** Fills *out_info with the tensor's dtype and shape. */
SN_API sn_status sn_tensor_get_info(const sn_tensor* tensor, sn_tensor_info* out_info);

/**
 * Copies nbytes from host memory into the tensor. nbytes must equal the tensor's size in
 * bytes (SN_ERR_INVALID_ARGUMENT otherwise). On CUDA the copy is complete when this returns.
 */
SN_API sn_status sn_tensor_upload(sn_tensor* tensor, const void* src, size_t nbytes);

/**
 * Copies the tensor's contents into host memory; nbytes must equal its size in bytes.
 * Waits for queued work on the tensor's context first.
 */
SN_API sn_status sn_tensor_download(const sn_tensor* tensor, void* dst, size_t nbytes);

/**
 * Copies src into dst, converting the element type when they differ (among F32, F16, BF16).
 * Both must have the same number of elements (shapes may differ, e.g. to reshape).
 */
SN_API sn_status sn_copy(sn_context* context, const sn_tensor* src, sn_tensor* dst);

/* ------------------------------------------------------------------------------------------ */
/* Operations                                                                                 */
/*                                                                                            */
/* Activation dtype: the CPU backend computes in F32 (activations and outputs are F32); the    */
/* CUDA backend also accepts F16 activations. Weights may be F32, F16 or BF16 where stated;    */
/* reductions always accumulate in F32. "Rows" are all leading dimensions flattened.           */
/* An output may alias an input only where the operation says so.                             */
/* ------------------------------------------------------------------------------------------ */

/**
 * Linear layer: out[M,N] = x[M,K] · weight[N,K]ᵀ (+ bias[N]), the Hugging Face nn.Linear layout.
 * weight may be F32, F16 or BF16 (converted, accumulated in F32); bias is optional (NULL) and
 * may be any float dtype. x and out must not alias. On CUDA x and weight share one dtype and
 * out may be that dtype or F32 (e.g. F32 logits from an F16 LM head); the CPU computes in F32.
 */
SN_API sn_status sn_matmul(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                           const sn_tensor* bias, sn_tensor* out);

/**
 * Residual linear: out[M,N] += x[M,K] · weight[N,K]ᵀ (+ bias[N]); otherwise as sn_matmul.
 * Fuses a residual add into the product (cuBLAS beta = 1 on CUDA).
 */
SN_API sn_status sn_matmul_add(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                               const sn_tensor* bias, sn_tensor* out);

/**
 * Gated MLP input (LLaMA/Mistral): out[M, I] = silu(g) · u elementwise, where g | u = x[M, K] ·
 * weight[2I, K]ᵀ (+ bias[2I]) and weight stacks gate_proj's I rows over up_proj's I rows (bias
 * likewise): g is columns 0 .. I−1 of the product, u columns I .. 2I−1. g and u are rounded to
 * out's dtype before the activation, so the result is that of sn_matmul into [M, 2I] followed by
 * sn_swiglu of its two halves, without the [M, 2I] intermediate. On CUDA, F16 with M <= 8 (decode)
 * is one GEMV launch with the activation in its epilogue; otherwise the product goes through the
 * context's preallocated scratch in row slices (nothing is allocated). weight may be F32, F16 or
 * BF16 (on CUDA x, weight and out share one dtype); bias is optional (NULL). x and out must not
 * alias.
 */
SN_API sn_status sn_matmul_swiglu(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                                  const sn_tensor* bias, sn_tensor* out);

/**
 * out = a + b elementwise. b has a's shape, or is 1-D with a's last dimension (broadcast over
 * rows, e.g. a bias). out may alias a.
 */
SN_API sn_status sn_add(sn_context* context, const sn_tensor* a, const sn_tensor* b, sn_tensor* out);

/** out = a * b elementwise, with sn_add's broadcasting rule. out may alias a. */
SN_API sn_status sn_mul(sn_context* context, const sn_tensor* a, const sn_tensor* b, sn_tensor* out);

/**
 * RMSNorm over the last dimension D (as HF LLaMA): out = x / sqrt(mean(x²) + eps) * weight.
 * weight is 1-D [D], any float dtype. out may alias x.
 */
SN_API sn_status sn_rms_norm(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                             float eps, sn_tensor* out);

/**
 * LayerNorm over the last dimension D: out = (x − mean) / sqrt(var + eps) * weight + bias,
 * biased variance as torch.nn.LayerNorm. weight and bias are 1-D [D]; bias may be NULL.
 * out may alias x.
 */
SN_API sn_status sn_layer_norm(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                               const sn_tensor* bias, float eps, sn_tensor* out);

/** out = x · sigmoid(x) elementwise. out may alias x. */
SN_API sn_status sn_silu(sn_context* context, const sn_tensor* x, sn_tensor* out);

/** out = max(x, 0) elementwise. out may alias x. */
SN_API sn_status sn_relu(sn_context* context, const sn_tensor* x, sn_tensor* out);

/**
 * GELU elementwise. approximate = 0: the exact erf form (HF "gelu"); approximate = 1: the tanh
 * form (HF "gelu_new" / "gelu_pytorch_tanh"). out may alias x.
 */
SN_API sn_status sn_gelu(sn_context* context, const sn_tensor* x, int32_t approximate, sn_tensor* out);

/**
 * SwiGLU gate: out = silu(gate) * up elementwise (LLaMA/Mistral MLP). out may alias gate.
 */
SN_API sn_status sn_swiglu(sn_context* context, const sn_tensor* gate, const sn_tensor* up,
                           sn_tensor* out);

/** Softmax over the last dimension, max-subtracted, F32 accumulation. out may alias x. */
SN_API sn_status sn_softmax(sn_context* context, const sn_tensor* x, sn_tensor* out);

/**
 * Rotary position embedding, rotate-half layout as HF LLaMA (`rotate_half`): x is
 * [T, H, Dh] (Dh even); positions is I32 [T]; for each pair (i, i + Dh/2), i < Dh/2, with
 * inv_freq_i = theta^(−2i/Dh) and angle = position · inv_freq_i:
 *   out[i]        = x[i]·cos(angle) − x[i+Dh/2]·sin(angle)
 *   out[i + Dh/2] = x[i+Dh/2]·cos(angle) + x[i]·sin(angle)
 * out may alias x.
 */
SN_API sn_status sn_rope(sn_context* context, const sn_tensor* x, const sn_tensor* positions,
                         float theta, sn_tensor* out);

/**
 * Embedding gather: out[T, D] = table[ids[t], :]. table [V, D] may be F32, F16 or BF16;
 * ids is I32 [T]. An id outside [0, V) returns SN_ERR_INVALID_ARGUMENT naming the position;
 * on CUDA the ids live on the device, so the row is zeroed and the error (op, index, value) is
 * returned by the next sn_context_synchronize or download instead.
 */
SN_API sn_status sn_embedding(sn_context* context, const sn_tensor* table, const sn_tensor* ids,
                              sn_tensor* out);

/**
 * Writes new keys or values into a cache at the given positions:
 * cache[positions[t], :, :] = src[t, :, :] for t < T. src [T, Hkv, Dh] (any float dtype),
 * positions I32 [T] (read on the device: graph-safe), cache [S, Hkv, Dh]. A position outside
 * [0, S) is an error on the CPU backend and is skipped on CUDA (device code cannot report it).
 */
SN_API sn_status sn_kv_write(sn_context* context, const sn_tensor* src, const sn_tensor* positions,
                             sn_tensor* cache);

/**
 * A layer's attention inputs in one operation (one kernel launch on CUDA): RoPE on q and k, then
 * k and v into the caches. Exactly
 *   sn_rope(q, positions, theta, q); sn_rope(k, positions, theta, k);
 *   sn_kv_write(k, positions, k_cache); sn_kv_write(v, positions, v_cache)
 * (the same rotation and dtype conversions; bit for bit on the CPU backend).
 *   q:         [T, Hq, Dh]   rotated in place
 *   k:         [T, Hkv, Dh]  rotated in place, then written to k_cache
 *   v:         [T, Hkv, Dh]  written to v_cache
 *   positions: I32 [T]       (read on the device: graph-safe)
 *   k_cache, v_cache: [S, Hkv, Dh]
 * theta > 0 rotates (Dh even); theta = 0 rotates nothing (learned absolute positions, e.g. OPT)
 * and only writes the caches. q, k and v share one float dtype, the two caches share one float
 * dtype (converted as sn_kv_write does). No two of the tensors may overlap. A position outside
 * [0, S) is an error before anything is written on the CPU backend; on CUDA (device code cannot
 * report it) q and k are still rotated, that row is not written, and the next
 * sn_context_synchronize or download returns the error.
 */
SN_API sn_status sn_rope_kv_write(sn_context* context, sn_tensor* q, sn_tensor* k, const sn_tensor* v,
                                  const sn_tensor* positions, float theta, sn_tensor* k_cache, sn_tensor* v_cache);

/**
 * Causal multi-head attention over a KV cache (GQA and sliding window supported).
 *   q:         [T, Hq, Dh]  queries of T tokens
 *   positions: I32 [T]      absolute position of each query (read on the device: graph-safe)
 *   k_cache:   [S, Hkv, Dh] keys of every position up to the largest query position
 *   v_cache:   [S, Hkv, Dh] values, same layout; Hq must be a multiple of Hkv (GQA: query head h
 *              reads kv head h / (Hq / Hkv))
 *   out:       [T, Hq, Dh]
 * The query at position p attends to key positions j with j <= p and, if window > 0,
 * p − j < window (Mistral's sliding window). Scores are scaled by `scale` (usually 1/sqrt(Dh))
 * and accumulated in F32; softmax in F32. Positions must be < S.
 */
SN_API sn_status sn_attention(sn_context* context, const sn_tensor* q, const sn_tensor* positions,
                              const sn_tensor* k_cache, const sn_tensor* v_cache, int32_t window,
                              float scale, sn_tensor* out);

/**
 * Per-row cross-entropy: losses[t] = logsumexp(logits[t, :]) − logits[t, targets[t]].
 * logits [T, V] (F32), targets I32 [T], losses F32 [T]. A target outside [0, V) returns
 * SN_ERR_INVALID_ARGUMENT (on CUDA: that loss is NaN and the next synchronize or download
 * returns the error).
 */
SN_API sn_status sn_cross_entropy(sn_context* context, const sn_tensor* logits,
                                  const sn_tensor* targets, sn_tensor* losses);

/* ------------------------------------------------------------------------------------------ */
/* Quantized linears (SqueezeLLM LUT format)                                                  */
/*                                                                                            */
/* A LUT-quantized weight W [N, K] is stored in the reference checkpoint layout:               */
/*   qweight      I32 [K·bits/32, N]  codes packed along the input dimension K (K % 32 == 0):   */
/*                4-bit: word r of column n holds inputs 8r..8r+7, input 8r+j at bits 4j..4j+3; */
/*                3-bit: GPTQ's layout, 32 inputs in 3 words per column (inputs 10 and 21 span   */
/*                two words) — drawn in src/SqueezeNative.Runtime/Quantization/LutPacking.cs   */
/*   lut          F16 [N, 2^bits]     per-output-row look-up table: W[n,k] = lut[n, code(n,k)]  */
/*   sparse part  CSR over output rows (optional): rows I32 [N+1], cols I32 [nnz], vals F16     */
/*                [nnz]; W[n, cols[j]] += vals[j] for rows[n] <= j < rows[n+1]                  */
/* ------------------------------------------------------------------------------------------ */

/*                                                                                            */
/* Backends may read the codes faster from a layout of their own: sn_lut_repack converts the   */
/* checkpoint's qweight once, at load time, into the layout of the context's backend, and      */
/* sn_lut_matmul then takes either form. The CPU backend's layout is the checkpoint layout     */
/* itself (repack copies); the CUDA backend's is a tiled layout I32 [ceil(N/16), ceil(K/256),   */
/* 128·bits] (kernels/lut_layout.h draws it) and its sn_lut_matmul takes only that form.       */
/* ------------------------------------------------------------------------------------------ */

/**
 * Shape of a repacked qweight on this context's backend, for codes of `bits` (3 or 4) of an
 * N×K weight (K % 32 == 0): *out_ndim dimensions written to out_dims[0 .. *out_ndim), at most
 * SN_MAX_DIMS. Create an I32 tensor of that shape and pass it to sn_lut_repack.
 */
SN_API sn_status sn_lut_repacked_shape(const sn_context* context, int32_t bits, int64_t n, int64_t k,
                                       int32_t* out_ndim, int64_t* out_dims);

/**
 * Converts qweight I32 [K·bits/32, N] (the checkpoint layout) into `packed`, whose shape is the one
 * sn_lut_repacked_shape gives for (bits, N, K). Padding rows and inputs get code 0.
 */
SN_API sn_status sn_lut_repack(sn_context* context, const sn_tensor* qweight, int32_t bits, sn_tensor* packed);

/**
 * Quantized linear: out[M,N] (=, or += when accumulate != 0) x[M,K] · Wᵀ (+ bias[N]) with W the
 * dense LUT part plus the sparse part described above. bits is 3 or 4. qweight is in the
 * checkpoint layout or repacked by sn_lut_repack on this backend (the CUDA backend requires the
 * latter: SN_ERR_UNSUPPORTED otherwise). sparse_rows, sparse_cols and sparse_vals are all NULL
 * (no sparse part) or all set. Accumulates in F32.
 */
SN_API sn_status sn_lut_matmul(sn_context* context, const sn_tensor* x, const sn_tensor* qweight,
                               const sn_tensor* lut, int32_t bits, const sn_tensor* sparse_rows,
                               const sn_tensor* sparse_cols, const sn_tensor* sparse_vals,
                               const sn_tensor* bias, int32_t accumulate, sn_tensor* out);

/**
 * Gated MLP input from a quantized gate|up stack: out[M, I] = silu(g) · u, where g | u = x[M, K] ·
 * Wᵀ (+ bias[2I]) with W [2I, K] one LUT-quantized weight as in sn_lut_matmul (qweight, lut,
 * sparse part and bias of all 2I rows; gate_proj's I rows first, then up_proj's). g and u are
 * rounded to out's dtype before the activation, so the result is that of sn_lut_matmul into
 * [M, 2I] followed by sn_swiglu of its two halves, without the [M, 2I] intermediate. On CUDA,
 * M <= 8 with I a multiple of 16 is one LUT-GEMV launch (each block decodes a 16-row tile of gate
 * and the matching tile of up, and applies the activation in its epilogue); otherwise the product
 * goes through the context's preallocated scratch in row slices (nothing is allocated).
 */
SN_API sn_status sn_lut_matmul_swiglu(sn_context* context, const sn_tensor* x, const sn_tensor* qweight,
                                      const sn_tensor* lut, int32_t bits, const sn_tensor* sparse_rows,
                                      const sn_tensor* sparse_cols, const sn_tensor* sparse_vals,
                                      const sn_tensor* bias, sn_tensor* out);

/**
 * SqueezeLLM's weighted non-uniform quantization of every row (output channel) of a matrix: for
 * each row r of values F32 [R, C], the 2^bits centroids c minimising Σ_i F_i (w_i − c(w_i))², F
 * the sample weights of the row, found exactly (1-D k-means is a partition of the sorted values
 * into contiguous groups: dynamic programming, divide and conquer per layer), and every value
 * coded by its nearest centroid. Exactly the method Exact of the C# solver
 * (src/SqueezeNative.Runtime/Quantization/KMeansRowSolver.cs):
 *   - the points of a row are its values at positions not excluded whose weight is > 0; a row
 *     whose weights are all 0 there falls back to uniform weights over its non-excluded positions;
 *   - equal values are merged (their weights summed); with m distinct points and m <= 2^bits
 *     every point is its own centroid and the LUT repeats the largest (all 0 when m = 0);
 *   - otherwise the centroids are the weighted means of the optimal groups;
 *   - half_precision_lut != 0 rounds each centroid to F16 (round to nearest even) before coding,
 *     so that the codes are nearest-entry codes of the LUT a checkpoint stores;
 *   - a value's code is the index of its nearest LUT entry, the lower one when exactly halfway
 *     (the C# LutMath rule); an excluded position is coded as the value 0 (it decodes to Q(0)).
 *   values:    F32 [R, C], finite
 *   weights:   F32 [R, C] sample weights (SqueezeLLM: the Fisher diagonal), finite and >= 0;
 *              NULL = uniform weights
 *   excluded:  U8 or I32 [R, C], non-zero = moved to the sparse part (weight 0, code of 0); NULL = none
 *   bits:      1..8 (the quantizers use 3 and 4)
 *   lut:       F32 [R, 2^bits] out: each row's centroids, ascending (entries may repeat)
 *   codes:     U8 [R, C] out
 * Non-finite values or weights give an unspecified (but in-range) LUT and codes. lut and codes
 * must not overlap each other or the inputs. The CPU backend runs rows in parallel, in double; the
 * CUDA backend runs many rows per launch (kernels/kmeans.cu), also in double, and agrees with the
 * CPU up to the rounding of its parallel sums (LUT within 1e-6 relative; codes equal except for
 * values within that of a midpoint). The CUDA backend takes its scratch per call, stream-ordered
 * (cudaMallocAsync), bounded by processing the rows in batches; a failure is SN_ERR_OUT_OF_MEMORY.
 */
SN_API sn_status sn_kmeans_rows(sn_context* context, const sn_tensor* values, const sn_tensor* weights,
                                const sn_tensor* excluded, int32_t bits, int32_t half_precision_lut, sn_tensor* lut,
                                sn_tensor* codes);

/* ------------------------------------------------------------------------------------------ */
/* Backward operations (gradients for the Fisher sensitivity of SqueezeLLM)                   */
/* Each mirrors a forward op; shapes as in the forward. "dy" is the gradient of the loss with  */
/* respect to the forward's output; results are written (not accumulated) unless stated.       */
/* ------------------------------------------------------------------------------------------ */

/** Input gradient of a linear: dx[M,K] = dy[M,N] · weight[N,K] (+= when accumulate != 0). */
SN_API sn_status sn_matmul_backward_input(sn_context* context, const sn_tensor* dy, const sn_tensor* weight,
                                          int32_t accumulate, sn_tensor* dx);

/**
 * Fisher accumulation for a linear over one sample: G = dy[T,N]ᵀ · x[T,K] (the weight gradient of
 * the sample), then fisher[N,K] += G ⊙ G (F32). This is the empirical Fisher diagonal SqueezeLLM
 * uses: Σ over samples of the squared per-sample gradient.
 */
SN_API sn_status sn_fisher_accumulate(sn_context* context, const sn_tensor* dy, const sn_tensor* x,
                                      sn_tensor* fisher);

/** Backward of sn_rms_norm with respect to x (weight fixed): dx = ∂/∂x of out·dy. */
SN_API sn_status sn_rms_norm_backward(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                                      float eps, const sn_tensor* dy, sn_tensor* dx);

/** Backward of sn_layer_norm with respect to x (weight and bias fixed). */
SN_API sn_status sn_layer_norm_backward(sn_context* context, const sn_tensor* x, const sn_tensor* weight,
                                        float eps, const sn_tensor* dy, sn_tensor* dx);

/** Backward of sn_swiglu: dgate = dy·up·silu'(gate), dup = dy·silu(gate). */
SN_API sn_status sn_swiglu_backward(sn_context* context, const sn_tensor* gate, const sn_tensor* up,
                                    const sn_tensor* dy, sn_tensor* dgate, sn_tensor* dup);

/** Kinds of elementwise activation for sn_activation_backward. */
typedef enum sn_activation {
    /** max(x, 0). */
    SN_ACTIVATION_RELU = 0,
    /** x · sigmoid(x). */
    SN_ACTIVATION_SILU = 1,
    /** Exact (erf) GELU. */
    SN_ACTIVATION_GELU = 2,
    /** tanh-approximated GELU. */
    SN_ACTIVATION_GELU_TANH = 3
} sn_activation;

/** Backward of an elementwise activation at its input x: dx = dy · act'(x). dx may alias dy. */
SN_API sn_status sn_activation_backward(sn_context* context, sn_activation activation, const sn_tensor* x,
                                        const sn_tensor* dy, sn_tensor* dx);

/** Backward of sn_rope (a rotation): dx = rotation by −angle of dy. dx may alias dy. */
SN_API sn_status sn_rope_backward(sn_context* context, const sn_tensor* dy, const sn_tensor* positions,
                                  float theta, sn_tensor* dx);

/**
 * Backward of sn_attention for a whole sequence with no earlier cache: q [T,Hq,Dh] at positions
 * (I32 [T]), k and v [T,Hkv,Dh] holding the keys/values of the same T positions (k_cache rows
 * 0..T−1 with positions 0..T−1), dout [T,Hq,Dh] → dq [T,Hq,Dh], dk and dv [T,Hkv,Dh] (GQA heads
 * summed). Recomputes the softmax (F32).
 */
SN_API sn_status sn_attention_backward(sn_context* context, const sn_tensor* q, const sn_tensor* positions,
                                       const sn_tensor* k, const sn_tensor* v, int32_t window, float scale,
                                       const sn_tensor* dout, sn_tensor* dq, sn_tensor* dk, sn_tensor* dv);

/**
 * Backward of the mean cross-entropy over rows: dlogits[t] = (softmax(logits[t]) − onehot(targets[t]))
 * · scale (scale = 1/T for a mean). logits [T,V] F32, targets I32 [T], dlogits [T,V].
 */
SN_API sn_status sn_cross_entropy_backward(sn_context* context, const sn_tensor* logits, const sn_tensor* targets,
                                           float scale, sn_tensor* dlogits);

/**
 * Fills a float tensor with pseudo-random values uniform in [-scale, scale) from a counter-based
 * generator, identical on every backend: element i gets u = (z >> 40) · 2^-24 where z is
 * SplitMix64's output mix of the state seed + (i + 1) · 0x9E3779B97F4A7C15, and the value
 * scale · (2u − 1) rounded to the tensor's dtype. For synthetic benchmark models and tests.
 */
SN_API sn_status sn_fill_random(sn_context* context, sn_tensor* tensor, uint64_t seed, float scale);

#ifdef __cplusplus
}
#endif

#endif /* SQUEEZE_NATIVE_H */
