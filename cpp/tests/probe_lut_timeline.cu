// sn_probe_lut_timeline: where the time of one LUT-GEMV launch goes, warp by warp. The library's
// kernel (kernels/lut_gemv.cu, compiled here with SN_LUT_TIMELINE) records for every warp when it
// started and ended (%globaltimer), on which SM, and the SM clock at each step: prologue requests
// issued, previous grid waited for, x in shared memory, each unit's codes arrived, decode done.
// The launches run as the decode step runs them (a CUDA graph of programmatic launches, weights
// settled, copies of W cycled past the L2: proto_rowlane.cuh's harness); the records of a few launches from the middle
// of the chain go to a CSV (one row per warp) for tools/gpu/lut-timeline-summary.py, and the median time per launch
// with and without recording is printed beside it (the recording costs a few stores).
//
//   sn_probe_lut_timeline OUT_DIR [N K BITS STAGES X_PATH]...   (default: the cases below; 0 = the
//   library's choice; X_PATH as LutGemvProblem::x_path: 1 ring, 3 shared memory)
#include "kernels/lut_gemv.h"
#include "lut_layout.h"
#include "proto_rowlane.cuh"  // CHECK, Weights (random copies past the L2), try_time_graph

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#if !defined(SN_LUT_TIMELINE)
#error "build with SN_LUT_TIMELINE (CMake target sn_probe_lut_timeline)"
#endif

namespace {

struct Case {
    int n, k, bits, stages, x_path;
};

// proto::Weights' packer for copy 0: random words (what the codes are does not change the time).
std::vector<uint32_t> random_words(const std::vector<uint8_t>&, int n, int k, int bits) {
    std::vector<uint32_t> words(static_cast<size_t>(n) * k * bits / 32);
    proto::Rng rng{0x5EED};
    for (uint32_t& word : words) word = rng.next();
    return words;
}

void run_case(const Case& c, cudaStream_t stream, FILE* csv) {
    // Whole tiles and units only, so that proto::Weights' copies are exactly the tiled layout's size.
    if (c.n % sn::lut::kTileRows != 0 || c.k % sn::lut::kUnitK != 0) {
        std::fprintf(stderr, "%d x %d: N must be a multiple of 16 and K of 256\n", c.n, c.k);
        std::exit(2);
    }
    const proto::Weights w(c.n, c.k, c.bits, 1, 0x7131 + c.n, 99, random_words);
    const int launches = std::max(24, 2 * w.copies);
    const int warps_per_block = 4;  // the single-row kernel's (kernels/lut_gemv.cu launch_warps)
    const size_t warps = static_cast<size_t>(sn::lut::tiles(c.n)) * warps_per_block;
    void* out = nullptr;
    CHECK(cudaMalloc(&out, static_cast<size_t>(c.n) * 2));
    uint64_t* timeline = nullptr;
    const size_t words_per_launch = warps * sn::cuda::kLutTimelineSlots;
    CHECK(cudaMalloc(&timeline, launches * words_per_launch * 8));
    CHECK(cudaMemset(timeline, 0, launches * words_per_launch * 8));
    const auto median_us = [&](bool record) {
        return proto::time_graph(stream, launches, [&](int i) {
            sn::cuda::LutGemvProblem p{};
            p.x = w.x_device;
            p.packed = reinterpret_cast<const int32_t*>(w.packed[i % w.copies]);
            p.lut = w.luts[i % w.copies];
            p.out = out;
            p.m = 1;
            p.n = c.n;
            p.k = c.k;
            p.bits = c.bits;
            p.stages = c.stages;
            p.x_path = c.x_path;
            p.weights_settled = true;
            p.timeline = record ? timeline + i * words_per_launch : nullptr;
            return sn::cuda::launch_lut_gemv(p, stream, true);
        });
    };
    const float plain = median_us(false);
    const float recorded = median_us(true);  // its last replay leaves the records
    std::printf(
        "%6d x %-6d %d-bit stages %d x_path %d: %7.2f us per launch (%7.2f recording), %d launches per graph, "
        "%d copies of W (%.1f MB each)\n",
        c.n, c.k, c.bits, c.stages, c.x_path, plain, recorded, launches, w.copies, w.code_bytes / 1e6);
    std::vector<uint64_t> host(words_per_launch);
    for (int launch = launches / 2; launch < launches / 2 + 3; ++launch) {
        CHECK(cudaMemcpy(host.data(), timeline + launch * words_per_launch, words_per_launch * 8,
                         cudaMemcpyDeviceToHost));
        for (size_t warp = 0; warp < warps; ++warp) {
            const uint64_t* r = host.data() + warp * sn::cuda::kLutTimelineSlots;
            std::fprintf(csv, "%d,%d,%d,%d,%d,%.3f,%d,%zu,%zu", c.n, c.k, c.bits, c.stages, c.x_path, plain, launch,
                         warp / warps_per_block, warp % warps_per_block);
            for (int s = 0; s < sn::cuda::kLutTimelineSlots; ++s) std::fprintf(csv, ",%llu", (unsigned long long)r[s]);
            std::fprintf(csv, "\n");
        }
    }
    CHECK(cudaFree(out));
    CHECK(cudaFree(timeline));
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
    CHECK(cudaGetDeviceProperties(&properties, 0));
    std::printf("device 0: %s, %d SMs\n", properties.name, properties.multiProcessorCount);
    cudaStream_t stream;
    CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const std::string path = std::string(argv[1]) + "/lut-timeline.csv";
    FILE* csv = std::fopen(path.c_str(), "w");
    if (csv == nullptr) {
        std::fprintf(stderr, "cannot write %s\n", path.c_str());
        return 1;
    }
    std::fprintf(csv,
                 "n,k,bits,stages,x_path,us,launch,block,warp,gt_start,gt_end,sm,clk_start,requested,waited,x_ready,"
                 "unit0,unit1,unit2,unit3,unit4,unit5,unit6,decoded,clk_end\n");
    for (const Case& c : cases) run_case(c, stream, csv);
    std::fclose(csv);
    std::printf("records: %s\n", path.c_str());
    return 0;
}
