// Shared by the CUDA test files (test_cuda.cpp, test_cuda_lut.cpp): contexts, reading a float
// tensor of any dtype, and the fixture that runs a test on one CPU and one CUDA context, skipping
// where no CUDA device is usable.
#pragma once

#include "test_support.h"

namespace sn_test {

inline sn_context* create_context(sn_backend_kind backend, int32_t device = 0) {
    sn_context_options options{};
    options.backend = backend;
    options.device = device;
    options.num_threads = backend == SN_BACKEND_CPU ? 4 : 0;
    sn_context* context = nullptr;
    EXPECT_EQ(sn_context_create(&options, &context), SN_OK) << sn_last_error();
    return context;
}

inline bool cuda_usable() {
    int32_t available = 0;
    return sn_backend_available(SN_BACKEND_CUDA, &available) == SN_OK && available == 1;
}

// A tensor's values as float, whatever its float dtype.
inline std::vector<float> values_of(const sn_tensor* tensor) {
    const sn_tensor_info info = sn_test::info_of(tensor);
    std::vector<float> values(static_cast<size_t>(info.numel));
    if (info.dtype == SN_DTYPE_F32) return sn_test::download_f32(tensor);
    std::vector<uint16_t> raw(values.size());
    EXPECT_EQ(sn_tensor_download(tensor, raw.data(), raw.size() * 2), SN_OK) << sn_last_error();
    for (size_t i = 0; i < raw.size(); ++i) {
        values[i] = info.dtype == SN_DTYPE_F16 ? sn::f16_to_f32(raw[i]) : sn::bf16_to_f32(raw[i]);
    }
    return values;
}

// The same values in both contexts: on the GPU in `dtype`, on the CPU as F32 (activations) or in
// `cpu_dtype` (weights, which the CPU also takes as F16/BF16).
struct Twin {
    Tensor cpu, gpu;
};

inline Twin twin(sn_context* cpu, sn_context* gpu, sn_dtype dtype, const std::vector<int64_t>& dims,
                 const std::vector<float>& values, sn_dtype cpu_dtype = SN_DTYPE_F32) {
    const std::vector<float> seen = rounded_to(dtype, values);
    return Twin{make_tensor(cpu, cpu_dtype, dims, seen), make_tensor(gpu, dtype, dims, seen)};
}

inline Twin twin_i32(sn_context* cpu, sn_context* gpu, const std::vector<int64_t>& dims,
                     const std::vector<int32_t>& values) {
    return Twin{make_i32(cpu, dims, values), make_i32(gpu, dims, values)};
}

inline size_t count_of(const std::vector<int64_t>& dims) {
    size_t count = 1;
    for (int64_t dim : dims) count *= static_cast<size_t>(dim);
    return count;
}

// One CPU and one CUDA context for a test; skips the test where CUDA is unusable.
class CudaVsCpu : public ::testing::Test {
protected:
    void SetUp() override {
        if (!cuda_usable()) GTEST_SKIP() << "no usable CUDA backend: " << sn_last_error();
        cpu = create_context(SN_BACKEND_CPU);
        gpu = create_context(SN_BACKEND_CUDA);
        ASSERT_NE(gpu, nullptr);
    }
    void TearDown() override {
        if (gpu != nullptr) {
            EXPECT_EQ(sn_context_destroy(gpu), SN_OK) << sn_last_error();
        }
        if (cpu != nullptr) {
            EXPECT_EQ(sn_context_destroy(cpu), SN_OK) << sn_last_error();
        }
    }
    sn_context* cpu = nullptr;
    sn_context* gpu = nullptr;
};

}  // namespace sn_test
