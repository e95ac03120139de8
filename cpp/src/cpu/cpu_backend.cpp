// CPU backend: storage in 64-byte-aligned host memory, ops from the cpu/*.cpp families.
#include "cpu/cpu_backend.h"

#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/ops_quant_backward.h"
#include "error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sn::cpu {
namespace {

bool available(char* /*reason*/, size_t /*reason_capacity*/) {
    return true;
}

sn_status init_context(Context& /*context*/) {
    return SN_OK;
}

void release_context(Context& /*context*/) noexcept {}

sn_status allocate(Context& /*context*/, size_t nbytes, void** out_data) {
    // 64-byte alignment: a cache line, and whole AVX-512 vectors for the kernels.
    const size_t rounded = (nbytes + 63) / 64 * 64;
    void* data = std::aligned_alloc(64, rounded);
    SN_CHECK(data != nullptr, SN_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes of host memory", nbytes);
    std::memset(data, 0, rounded);
    *out_data = data;
    return SN_OK;
}

void release(Context& /*context*/, void* data) noexcept {
    std::free(data);
}

sn_status upload(Context& /*context*/, void* dst, const void* host_src, size_t nbytes) {
    std::memcpy(dst, host_src, nbytes);
    return SN_OK;
}

sn_status download(Context& /*context*/, void* host_dst, const void* src, size_t nbytes) {
    std::memcpy(host_dst, src, nbytes);
    return SN_OK;
}

sn_status synchronize(Context& /*context*/) {
    return SN_OK;
}

void describe_device(const Context& context, char* buffer, size_t capacity) {
    std::snprintf(buffer, capacity, "CPU, %d threads (%s kernels)", context.num_threads, isa_name(host_isa()));
}

// Host memory is not a device budget the library can report meaningfully: 0 = not reported.
sn_status device_memory(const Context& /*context*/, int64_t* out_free, int64_t* out_total) {
    *out_free = 0;
    *out_total = 0;
    return SN_OK;
}

// Activations and outputs are F32 on the CPU; weights, norm parameters, biases and embedding
// tables may be any float dtype; indices are I32. KV writes convert between any float dtypes.
// No device graph mechanism: the capture hooks stay null and graphs replay recorded calls.
OpTable make_ops() {
    OpTable ops;
    ops.copy = {cpu::copy, {kMaskAny, kMaskAny}};
    ops.matmul = {cpu::matmul, {kMaskF32, kMaskFloat, kMaskFloat, kMaskF32}};
    ops.matmul_add = {cpu::matmul_add, {kMaskF32, kMaskFloat, kMaskFloat, kMaskF32}};
    ops.matmul_swiglu = {cpu::matmul_swiglu, {kMaskF32, kMaskFloat, kMaskFloat, kMaskF32}};
    ops.add = {cpu::add, {kMaskF32, kMaskF32, kMaskF32}};
    ops.mul = {cpu::mul, {kMaskF32, kMaskF32, kMaskF32}};
    ops.rms_norm = {cpu::rms_norm, {kMaskF32, kMaskFloat, kMaskFloat, kMaskF32}};
    ops.layer_norm = {cpu::layer_norm, {kMaskF32, kMaskFloat, kMaskFloat, kMaskF32}};
    ops.silu = {cpu::silu, {kMaskF32, kMaskF32}};
    ops.relu = {cpu::relu, {kMaskF32, kMaskF32}};
    ops.gelu = {cpu::gelu, {kMaskF32, kMaskF32}};
    ops.swiglu = {cpu::swiglu, {kMaskF32, kMaskF32, kMaskF32}};
    ops.softmax = {cpu::softmax, {kMaskF32, kMaskF32}};
    ops.rope = {cpu::rope, {kMaskF32, kMaskI32, kMaskF32}};
    ops.embedding = {cpu::embedding, {kMaskFloat, kMaskI32, kMaskF32}};
    ops.kv_write = {cpu::kv_write, {kMaskFloat, kMaskI32, kMaskFloat}};
    ops.rope_kv_write = {cpu::rope_kv_write, {kMaskF32, kMaskF32, kMaskF32, kMaskI32, kMaskFloat, kMaskFloat}};
    ops.attention = {cpu::attention, {kMaskF32, kMaskI32, kMaskF32, kMaskF32, kMaskF32}};
    ops.cross_entropy = {cpu::cross_entropy, {kMaskF32, kMaskI32, kMaskF32}};
    ops.fill_random = {cpu::fill_random, {kMaskFloat}};
    add_quant_backward_ops(ops);
    return ops;
}

}  // namespace

const Backend& backend() {
    static const Backend instance = {
        SN_BACKEND_CPU, "CPU",  available, init_context, release_context, allocate,
        release,        upload, download,  synchronize,  describe_device, device_memory,
        nullptr,  // begin_capture
        nullptr,  // end_capture
        nullptr,  // launch_graph
        nullptr,  // destroy_graph
        make_ops(),
    };
    return instance;
}

}  // namespace sn::cpu
