// LUT-GEMV for SqueezeLLM-quantized linears at small M (decode): out[M, N] (+)= x[M, K] · Wᵀ
// (+ bias), W[n, k] = lut[n, code(n, k)] + sparse part; F16 x, LUT and out; F32 accumulation.
//
// At M = 1 the product is one pass over the codes (N·K·bits/8 bytes): a 3-bit 11008×4096 weight
// is 16.9 MB, 5.6 µs at 3 TB/s, which leaves about 5 instructions per weight for the whole GPU.
// A shared-memory table lookup per weight (the reference kernel's way) alone needs more issue
// slots than that; so this kernel looks codes up in registers and multiplies on the tensor cores:
//
// Lookup. A row's LUT (8 or 16 F16 entries) is split once into two byte planes held in registers:
// lo = the low bytes of all entries, hi = the high bytes (3 bits: 2 + 2 registers; 4 bits: 4 + 4).
// prmt (byte permute) picks 4 bytes out of 8 by 4 selector nibbles, so with 4 codes as the
// selector, prmt(lo0, lo1, codes) gives the low bytes of 4 table entries at once and the same on
// the hi plane the high bytes; two more prmt interleave them into two half2 (the A-fragment
// registers). 3 bits: 4 instructions per 4 weights. 4 bits: the 16 entries span 4 registers per
// plane, so each plane is looked up twice (entries 0-7 and 8-15) and merged by a byte mask made
// from bit 3 of each code (prmt's sign-replicate mode turns a bit into a 0x00/0xFF byte).
//
// Multiply. mma.m16n8k16 (F16 in, F32 accumulate) with W as A (16 rows of W × 16 k) and x as B
// (16 k × 8 rows of x): C[16 × 8] += W_tile · x_tileᵀ. The tiled layout (src/lut_layout.h, drawn
// there) stores, for every lane, exactly the codes of its A fragment in consumption order, so
// decoding needs no shuffles and one warp's code loads are contiguous 512-byte blocks. One
// decoded fragment serves every n-tile of x (M up to 32 as 4 n-tiles), which is why 16 rows of x
// cost little more than one.
//
// Blocks and warps. Block b owns tile b (W rows 16b .. 16b+15); its kWarps warps split the K
// units (256 inputs) round-robin, each issuing the 16-byte code loads of kUnroll units before
// decoding the first, to keep enough bytes in flight. Codes bypass L1 and carry an L2
// evict-first hint (read once); x goes through L1 (every block re-reads it). At the end each
// warp's C goes to shared memory and the block sums the warps in a fixed order (deterministic).
//
// Sparse part (the dense-and-sparse split's outliers, ~0.05-0.45 % of weights, CSR over rows):
// added in the same block after the dense loop, one warp per row of the tile with the lanes
// splitting the row's entries (32 entries per step) and a warp reduction; rows are dealt to warps
// round-robin. A skewed row (10-50× the mean count) costs its warp a few more steps, while the
// block's dense work is 16·K weights, so the sparse part stays a small share (sn_bench_cuda and
// `squeeze bench kernels` measure it on a skewed pattern).
//
// Ordering: programmatic dependent launch as in kernels/gemv.cu (wait before the first load,
// release the next grid after the last code load).
#include "kernels/lut_gemv.h"

#include "kernels/common.cuh"  // warp_sum, report_bad_value
#include "lut_layout.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace sn::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kUnroll = 2;

__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b, uint32_t selector) {
    uint32_t d;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(selector));
    return d;
}

// 16 bytes of codes, read once (see kernels/gemv.cu's load_weight_chunk).
__device__ __forceinline__ uint4 load_codes(const int32_t* address, uint64_t policy) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::cache_hint.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4], %5;"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(address), "l"(policy)
                 : "memory");
    return v;
}

// A row's LUT as byte planes: lo[i] byte j = low byte of entry 4i + j, hi[i] the high bytes.
template <int kBits>
struct RowTable {
    static constexpr int kRegisters = (1 << kBits) / 4;
    uint32_t lo[kRegisters], hi[kRegisters];

    __device__ __forceinline__ void load(const __half* row, bool live) {
#pragma unroll
        for (int i = 0; i < kRegisters / 2; ++i) {
            const uint4 v = live ? __ldg(reinterpret_cast<const uint4*>(row) + i) : make_uint4(0u, 0u, 0u, 0u);
            lo[2 * i] = prmt(v.x, v.y, 0x6420);
            hi[2 * i] = prmt(v.x, v.y, 0x7531);
            lo[2 * i + 1] = prmt(v.z, v.w, 0x6420);
            hi[2 * i + 1] = prmt(v.z, v.w, 0x7531);
        }
    }

    // Entries of the 4 codes in the selector's low nibbles (bit 3 of each clear) → half2 of
    // codes 0, 1 and half2 of codes 2, 3. For 4 bits, `upper` has byte j = 0xFF where code j >= 8.
    __device__ __forceinline__ void lookup(uint32_t selector, uint32_t upper, uint32_t& first,
                                           uint32_t& second) const {
        uint32_t l = prmt(lo[0], lo[1], selector), h = prmt(hi[0], hi[1], selector);
        if constexpr (kBits == 4) {
            l = (l & ~upper) | (prmt(lo[2], lo[3], selector) & upper);
            h = (h & ~upper) | (prmt(hi[2], hi[3], selector) & upper);
        }
        first = prmt(l, h, 0x5140);
        second = prmt(l, h, 0x7362);
    }
};

// The A fragment of mma i of a unit from the lane's words (src/lut_layout.h):
//   a0 = row g, k slots 2t, 2t+1;  a1 = row g+8, same;  a2 = row g, slots 2t+8, 2t+9;  a3 = row g+8.
template <int kBits>
__device__ __forceinline__ void decode_fragment(const uint32_t (&words)[4 * kBits], int i, const RowTable<kBits>& row_g,
                                                const RowTable<kBits>& row_g8, uint32_t (&a)[4]) {
    if constexpr (kBits == 3) {
        const int s = i / 4, v = i % 4;
        const uint32_t low = words[3 * s + v / 2], high = words[3 * s + 2];
        const uint32_t low_bits = (v % 2 == 0 ? low : low >> 2) & 0x33333333u;
        const uint32_t high_bits = (v == 0 ? high << 2 : v == 1 ? high : v == 2 ? high >> 1 : high << 1) & 0x44444444u;
        const uint32_t selector = low_bits | high_bits;
        row_g.lookup(selector, 0u, a[0], a[2]);
        row_g8.lookup(selector >> 16, 0u, a[1], a[3]);
    } else {
        const uint32_t w = words[i];
        const uint32_t selector = w & 0x77777777u;
        const uint32_t shifted = w << 4;  // bit 3 of the even nibbles at the top of each byte
        row_g.lookup(selector, prmt(shifted, w, 0xD9C8), a[0], a[2]);
        row_g8.lookup(selector >> 16, prmt(shifted, w, 0xFBEA), a[1], a[3]);
    }
}

__device__ __forceinline__ void mma_w_by_x(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float bias_at(const LutGemvProblem& p, int64_t n) {
    switch (p.bias_dtype) {
        case LutBias::f16:
            return __half2float(static_cast<const __half*>(p.bias)[n]);
        case LutBias::bf16:
            return __bfloat162float(static_cast<const __nv_bfloat16*>(p.bias)[n]);
        case LutBias::f32:
            return static_cast<const float*>(p.bias)[n];
        default:
            return 0.0f;
    }
}

template <int kBits, int kNTiles>
__global__ void __launch_bounds__(kWarps * 32) lut_gemv_kernel(const LutGemvProblem p) {
    constexpr int kRowsX = 8 * kNTiles;
    constexpr int kWords = 4 * kBits;  // per lane per unit: kBits 16-byte loads
    __shared__ float partial[kWarps][kRowsX][lut::kTileRows];
    __shared__ float sparse[kRowsX][lut::kTileRows];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int g = lane / 4, t = lane % 4;
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * lut::kTileRows;
    const int64_t units = lut::units(p.k);
    const int64_t unit_words = lut::unit_words(kBits);
    const int32_t* tile_codes = p.packed + static_cast<int64_t>(blockIdx.x) * units * unit_words + lane * 4;
    const __half* x = static_cast<const __half*>(p.x);
    const __half* lut_rows = static_cast<const __half*>(p.lut);

    uint64_t policy;
    asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    RowTable<kBits> row_g, row_g8;
    row_g.load(lut_rows + (n0 + g) * (1 << kBits), n0 + g < p.n);
    row_g8.load(lut_rows + (n0 + g + 8) * (1 << kBits), n0 + g + 8 < p.n);

    float c[kNTiles][4] = {};
    for (int64_t base = warp; base < units; base += static_cast<int64_t>(kWarps) * kUnroll) {
        uint4 codes[kUnroll][kBits];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t unit = base + static_cast<int64_t>(u) * kWarps;
#pragma unroll
            for (int j = 0; j < kBits; ++j) {
                codes[u][j] = unit < units ? load_codes(tile_codes + unit * unit_words + j * 32 * 4, policy)
                                           : make_uint4(0u, 0u, 0u, 0u);
            }
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t unit = base + static_cast<int64_t>(u) * kWarps;
            if (unit >= units) break;
            uint32_t words[kWords];
#pragma unroll
            for (int j = 0; j < kBits; ++j) {
                words[4 * j] = codes[u][j].x;
                words[4 * j + 1] = codes[u][j].y;
                words[4 * j + 2] = codes[u][j].z;
                words[4 * j + 3] = codes[u][j].w;
            }
            const int64_t k_unit = unit * lut::kUnitK;
#pragma unroll
            for (int pair = 0; pair < 8; ++pair) {
                const int64_t k_pair = k_unit + 32 * pair;
                if (k_pair >= p.k) break;  // padding of the last unit (uniform across the warp)
                uint4 xv[kNTiles];
#pragma unroll
                for (int j = 0; j < kNTiles; ++j) {
                    const int64_t row = 8 * j + g;
                    xv[j] = row < p.m ? __ldg(reinterpret_cast<const uint4*>(x + row * p.k + k_pair + 8 * t))
                                      : make_uint4(0u, 0u, 0u, 0u);
                }
#pragma unroll
                for (int half = 0; half < 2; ++half) {
                    uint32_t a[4];
                    decode_fragment<kBits>(words, 2 * pair + half, row_g, row_g8, a);
#pragma unroll
                    for (int j = 0; j < kNTiles; ++j) {
                        mma_w_by_x(c[j], a, half == 0 ? xv[j].x : xv[j].z, half == 0 ? xv[j].y : xv[j].w);
                    }
                }
            }
        }
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
    // C fragment: c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1] with C[W row][x row].
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
        partial[warp][8 * j + 2 * t][g] = c[j][0];
        partial[warp][8 * j + 2 * t + 1][g] = c[j][1];
        partial[warp][8 * j + 2 * t][g + 8] = c[j][2];
        partial[warp][8 * j + 2 * t + 1][g + 8] = c[j][3];
    }

    if (p.rows != nullptr) {
        const __half* vals = static_cast<const __half*>(p.vals);
        for (int r = warp; r < lut::kTileRows; r += kWarps) {
            const int64_t n = n0 + r;
            float acc[kRowsX] = {};
            if (n < p.n) {
                int64_t begin = p.rows[n], end = p.rows[n + 1];
                if (begin < 0 || end < begin || end > p.nnz) {
                    if (lane == 0) report_bad_value(p.data_error, static_cast<OpId>(p.op), n + 1, end, p.nnz);
                    begin = end = 0;
                }
                for (int64_t e = begin + lane; e < end; e += 32) {
                    const int64_t column = p.cols[e];
                    if (column < 0 || column >= p.k) {
                        report_bad_value(p.data_error, static_cast<OpId>(p.op), e, column, p.k);
                        continue;
                    }
                    const float value = __half2float(vals[e]);
#pragma unroll
                    for (int m = 0; m < kRowsX; ++m) {
                        if (m < p.m) acc[m] += value * __half2float(x[m * p.k + column]);
                    }
                }
            }
#pragma unroll
            for (int m = 0; m < kRowsX; ++m) {
                if (m < p.m) {
                    const float total = warp_sum(acc[m]);
                    if (lane == 0) sparse[m][r] = total;
                }
            }
        }
    }
    __syncthreads();

    for (int index = threadIdx.x; index < kRowsX * lut::kTileRows; index += kWarps * 32) {
        const int m = index / lut::kTileRows, r = index % lut::kTileRows;
        const int64_t n = n0 + r;
        if (m >= p.m || n >= p.n) continue;
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) sum += partial[w][m][r];
        if (p.rows != nullptr) sum += sparse[m][r];
        if (p.bias_dtype != LutBias::none) sum += bias_at(p, n);
        __half* at = static_cast<__half*>(p.out) + m * p.n + n;
        if (p.accumulate) sum += __half2float(*at);
        *at = __float2half_rn(sum);
    }
}

template <int kBits, int kNTiles>
cudaError_t launch(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(lut::tiles(p.n)));
    config.blockDim = dim3(kWarps * 32);
    config.stream = stream;
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute.val.programmaticStreamSerializationAllowed = 1;
    if (programmatic_launch) {
        config.attrs = &attribute;
        config.numAttrs = 1;
    }
    return cudaLaunchKernelEx(&config, lut_gemv_kernel<kBits, kNTiles>, p);
}

template <int kBits>
cudaError_t launch_bits(const LutGemvProblem& p, cudaStream_t stream, bool programmatic_launch) {
    if (p.m <= 8) return launch<kBits, 1>(p, stream, programmatic_launch);
    if (p.m <= 16) return launch<kBits, 2>(p, stream, programmatic_launch);
    return launch<kBits, 4>(p, stream, programmatic_launch);
}

// Code of row n at input k in the checkpoint layout (src/cpu/lut_matmul.cpp draws it): the
// group's words form a little-endian bit stream, code t at bits bits·t .. bits·t + bits − 1.
__device__ __forceinline__ uint32_t checkpoint_code(const int32_t* qweight, int64_t n_total, int64_t n, int64_t k,
                                                    int bits) {
    const int64_t group = k / 32;
    const int offset = bits * static_cast<int>(k % 32);
    const int64_t row = bits * group + offset / 32;
    const int shift = offset % 32;
    uint32_t value = static_cast<uint32_t>(qweight[row * n_total + n]) >> shift;
    if (shift + bits > 32) value |= static_cast<uint32_t>(qweight[(row + 1) * n_total + n]) << (32 - shift);
    return value & ((1u << bits) - 1u);
}

// One block of 32 threads per (tile, unit); thread = lane, building its 4·bits words from its
// 128 codes (lut::lane_code walks them; the word indices depend only on the code number, so the
// unrolled loop keeps `words` in registers).
template <int kBits>
__global__ void lut_repack_kernel(const int32_t* qweight, int32_t* packed, int64_t n_total, int64_t k_total) {
    const int lane = threadIdx.x;
    const int64_t units = lut::units(k_total);
    const int64_t tile = blockIdx.x / units, unit = blockIdx.x % units;
    uint32_t words[4 * kBits] = {};
#pragma unroll
    for (int c = 0; c < 128; ++c) {
        int r, kk;
        lut::lane_code(lane, c, &r, &kk);
        const int64_t n = tile * lut::kTileRows + r, k = unit * lut::kUnitK + kk;
        const uint32_t code = n < n_total && k < k_total ? checkpoint_code(qweight, n_total, n, k, kBits) : 0u;
        const lut::CodePlace place = lut::code_place(kBits, r, kk);
        if constexpr (kBits == 4) {
            words[place.word] |= code << place.shift;
        } else {
            words[place.word] |= (code & 3u) << place.shift;
            words[place.high_word] |= (code >> 2) << place.high_bit;
        }
    }
    int32_t* out = packed + (tile * units + unit) * lut::unit_words(kBits);
#pragma unroll
    for (int w = 0; w < 4 * kBits; ++w) out[lut::lane_word(lane, w)] = static_cast<int32_t>(words[w]);
}

}  // namespace

cudaError_t launch_lut_gemv(const LutGemvProblem& problem, cudaStream_t stream, bool programmatic_launch) {
    if (problem.m < 1 || problem.m > kLutGemvMaxRows || problem.k % 32 != 0) return cudaErrorInvalidValue;
    return problem.bits == 3 ? launch_bits<3>(problem, stream, programmatic_launch)
           : problem.bits == 4 ? launch_bits<4>(problem, stream, programmatic_launch)
                               : cudaErrorInvalidValue;
}

cudaError_t launch_lut_repack(const int32_t* qweight, int32_t* packed, int64_t n, int64_t k, int bits,
                              cudaStream_t stream) {
    const int64_t blocks = lut::tiles(n) * lut::units(k);
    if (blocks == 0) return cudaSuccess;
    if (blocks > 0x7FFFFFFF || k % 32 != 0) return cudaErrorInvalidValue;
    if (bits == 3) {
        lut_repack_kernel<3><<<static_cast<unsigned>(blocks), 32, 0, stream>>>(qweight, packed, n, k);
    } else if (bits == 4) {
        lut_repack_kernel<4><<<static_cast<unsigned>(blocks), 32, 0, stream>>>(qweight, packed, n, k);
    } else {
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

}  // namespace sn::cuda
