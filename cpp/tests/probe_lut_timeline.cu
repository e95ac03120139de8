// sn_probe_lut_timeline: where the time of one LUT-GEMV launch goes, warp by warp. The library's
// kernel (kernels/lut_gemv.cu, compiled here with SN_LUT_TIMELINE) records for every warp when it
// started and ended (%globaltimer), on which SM, and the SM clock at each step: prologue requests
// issued, previous grid waited for, x in shared memory, each unit's codes arrived, decode done.
// The launches run as the decode step runs them (a CUDA graph of programmatic launches, weights
// settled, copies of W cycled past the L2); the records of a few launches from the middle of the
// chain go to a CSV (one row per warp) for tools/gpu/lut-timeline-summary.py, and the median time
// per launch with and without recording is printed beside it (the recording costs a few stores).
//
//   sn_probe_lut_timeline OUT_DIR [N K BITS STAGES X_PATH]...   (default: the cases below; 0 = the
//   library's choice; X_PATH as LutGemvProblem::x_path: 1 ring, 3 shared memory)
#include "kernels/lut_gemv.h"
#include "lut_layout.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if !defined(SN_LUT_TIMELINE)
#error "build with SN_LUT_TIMELINE (CMake target sn_probe_lut_timeline)"
#endif

namespace {

#define PROBE_CHECK(call)                                                                                            \
    do {                                                                                                             \
        const cudaError_t status_ = (call);                                                                          \
        if (status_ != cudaSuccess) {                                                                                \
            std::fprintf(stderr, "%s failed: %s [%s:%d]\n", #call, cudaGetErrorString(status_), __FILE__, __LINE__); \
            std::exit(1);                                                                                            \
        }                                                                                                            \
    } while (0)

void fill_random(void* device, size_t bytes, uint64_t seed, bool halves) {
    std::vector<uint16_t> host(bytes / 2);
    uint64_t state = 0x9E3779B97F4A7C15ull ^ seed;
    for (uint16_t& value : host) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if (halves) {
            const __half h = __float2half(static_cast<float>(state >> 40) * (2.0f / 16777216.0f) - 1.0f);
            std::memcpy(&value, &h, 2);
        } else {
            value = static_cast<uint16_t>(state >> 24);
        }
    }
    PROBE_CHECK(cudaMemcpy(device, host.data(), bytes, cudaMemcpyHostToDevice));
}

struct Case {
    int n, k, bits, stages, x_path;
};

void run_case(const Case& c, const cudaDeviceProp& properties, cudaStream_t stream, FILE* csv) {
    const size_t code_bytes =
        static_cast<size_t>(sn::lut::tiles(c.n) * sn::lut::units(c.k) * sn::lut::unit_words(c.bits)) * 4;
    const size_t lut_bytes = static_cast<size_t>(c.n) << c.bits << 1;
    const int copies = static_cast<int>(
        std::max<size_t>(2, 3 * static_cast<size_t>(properties.l2CacheSize) / (code_bytes + lut_bytes) + 1));
    const int launches = std::max(24, 2 * copies);
    const int warps_per_block = 4;  // the single-row kernel's (kernels/lut_gemv.cu launch_warps)
    const size_t warps = static_cast<size_t>(sn::lut::tiles(c.n)) * warps_per_block;
    std::vector<void*> codes(copies), luts(copies);
    for (int i = 0; i < copies; ++i) {
        PROBE_CHECK(cudaMalloc(&codes[i], code_bytes));
        fill_random(codes[i], code_bytes, 11 + i, false);
        PROBE_CHECK(cudaMalloc(&luts[i], lut_bytes));
        fill_random(luts[i], lut_bytes, 101 + i, true);
    }
    void *x = nullptr, *out = nullptr;
    PROBE_CHECK(cudaMalloc(&x, static_cast<size_t>(c.k) * 2));
    PROBE_CHECK(cudaMalloc(&out, static_cast<size_t>(c.n) * 2));
    fill_random(x, static_cast<size_t>(c.k) * 2, 7, true);
    uint64_t* timeline = nullptr;
    const size_t words_per_launch = warps * sn::cuda::kLutTimelineSlots;
    PROBE_CHECK(cudaMalloc(&timeline, launches * words_per_launch * 8));
    PROBE_CHECK(cudaMemset(timeline, 0, launches * words_per_launch * 8));

    const auto median_us = [&](bool record) {
        cudaGraph_t graph = nullptr;
        cudaGraphExec_t exec = nullptr;
        PROBE_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        for (int i = 0; i < launches; ++i) {
            sn::cuda::LutGemvProblem p{};
            p.x = x;
            p.packed = static_cast<const int32_t*>(codes[i % copies]);
            p.lut = luts[i % copies];
            p.out = out;
            p.m = 1;
            p.n = c.n;
            p.k = c.k;
            p.bits = c.bits;
            p.stages = c.stages;
            p.x_path = c.x_path;
            p.weights_settled = true;
            p.timeline = record ? timeline + i * words_per_launch : nullptr;
            PROBE_CHECK(sn::cuda::launch_lut_gemv(p, stream, true));
        }
        PROBE_CHECK(cudaStreamEndCapture(stream, &graph));
        PROBE_CHECK(cudaGraphInstantiateWithFlags(&exec, graph, 0));
        cudaEvent_t start, stop;
        PROBE_CHECK(cudaEventCreate(&start));
        PROBE_CHECK(cudaEventCreate(&stop));
        std::vector<float> us;
        for (int replay = 0; replay < 25; ++replay) {
            PROBE_CHECK(cudaEventRecord(start, stream));
            PROBE_CHECK(cudaGraphLaunch(exec, stream));
            PROBE_CHECK(cudaEventRecord(stop, stream));
            PROBE_CHECK(cudaEventSynchronize(stop));
            float ms = 0.0f;
            PROBE_CHECK(cudaEventElapsedTime(&ms, start, stop));
            if (replay >= 5) us.push_back(ms * 1000.0f / launches);
        }
        std::sort(us.begin(), us.end());
        PROBE_CHECK(cudaEventDestroy(start));
        PROBE_CHECK(cudaEventDestroy(stop));
        PROBE_CHECK(cudaGraphExecDestroy(exec));
        PROBE_CHECK(cudaGraphDestroy(graph));
        return us[us.size() / 2];
    };
    const float plain = median_us(false);
    const float recorded = median_us(true);  // its last replay leaves the records
    std::printf(
        "%6d x %-6d %d-bit stages %d x_path %d: %7.2f us per launch (%7.2f recording), %d launches per graph, "
        "%d copies of W (%.1f MB each)\n",
        c.n, c.k, c.bits, c.stages, c.x_path, plain, recorded, launches, copies, (code_bytes + lut_bytes) / 1e6);
    std::vector<uint64_t> host(words_per_launch);
    for (int launch = launches / 2; launch < launches / 2 + 3; ++launch) {
        PROBE_CHECK(cudaMemcpy(host.data(), timeline + launch * words_per_launch, words_per_launch * 8,
                               cudaMemcpyDeviceToHost));
        for (size_t w = 0; w < warps; ++w) {
            const uint64_t* r = host.data() + w * sn::cuda::kLutTimelineSlots;
            std::fprintf(csv, "%d,%d,%d,%d,%d,%.3f,%d,%zu,%zu", c.n, c.k, c.bits, c.stages, c.x_path, plain, launch,
                         w / warps_per_block, w % warps_per_block);
            for (int s = 0; s < sn::cuda::kLutTimelineSlots; ++s) std::fprintf(csv, ",%llu", (unsigned long long)r[s]);
            std::fprintf(csv, "\n");
        }
    }
    for (int i = 0; i < copies; ++i) {
        PROBE_CHECK(cudaFree(codes[i]));
        PROBE_CHECK(cudaFree(luts[i]));
    }
    PROBE_CHECK(cudaFree(x));
    PROBE_CHECK(cudaFree(out));
    PROBE_CHECK(cudaFree(timeline));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || (argc - 2) % 5 != 0) {
        std::fprintf(stderr, "usage: sn_probe_lut_timeline OUT_DIR [N K BITS STAGES X_PATH]...\n");
        return 2;
    }
    std::vector<Case> cases;
    for (int i = 2; i + 4 < argc; i += 5) {
        cases.push_back({std::atoi(argv[i]), std::atoi(argv[i + 1]), std::atoi(argv[i + 2]), std::atoi(argv[i + 3]),
                         std::atoi(argv[i + 4])});
    }
    if (cases.empty()) {  // the library's launch, then x in shared memory at its depth and at 2
        cases = {{11008, 4096, 3, 0, 0}, {11008, 4096, 3, 0, 3}, {11008, 4096, 3, 2, 3}, {11008, 4096, 4, 0, 0},
                 {11008, 4096, 4, 0, 3}, {11008, 4096, 4, 2, 3}, {4096, 11008, 3, 0, 0}, {4096, 11008, 3, 0, 3},
                 {4096, 11008, 3, 4, 3}, {4096, 4096, 3, 0, 0},  {4096, 4096, 3, 0, 3}};
    }
    cudaDeviceProp properties{};
    PROBE_CHECK(cudaGetDeviceProperties(&properties, 0));
    std::printf("device 0: %s, %d SMs\n", properties.name, properties.multiProcessorCount);
    cudaStream_t stream;
    PROBE_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const std::string path = std::string(argv[1]) + "/lut-timeline.csv";
    FILE* csv = std::fopen(path.c_str(), "w");
    if (csv == nullptr) {
        std::fprintf(stderr, "cannot write %s\n", path.c_str());
        return 1;
    }
    std::fprintf(csv,
                 "n,k,bits,stages,x_path,us,launch,block,warp,gt_start,gt_end,sm,clk_start,requested,waited,x_ready,"
                 "unit0,unit1,unit2,unit3,unit4,unit5,unit6,decoded,clk_end\n");
    for (const Case& c : cases) run_case(c, properties, stream, csv);
    std::fclose(csv);
    std::printf("records: %s\n", path.c_str());
    return 0;
}
