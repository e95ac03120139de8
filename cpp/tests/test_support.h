// Shared helpers for the native tests: RAII handles over the C API, host-side dtype conversion
// (src/half.h, the scalar reference), random data and tolerance checks.
#pragma once

#include "half.h"
#include "squeeze_native.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

// Asserts SN_OK and shows the status name and the library's message otherwise.
#define ASSERT_SN_OK(expression)                                                                    \
    do {                                                                                            \
        const sn_status sn_test_status_ = (expression);                                             \
        ASSERT_EQ(sn_test_status_, SN_OK)                                                           \
            << #expression << " -> " << sn_status_name(sn_test_status_) << ": " << sn_last_error(); \
    } while (0)

// Expects `status` from `expression` and a last-error message that contains `fragment`.
#define EXPECT_SN_ERROR(expression, status, fragment)                                                         \
    do {                                                                                                      \
        sn_clear_error();                                                                                     \
        const sn_status sn_test_status_ = (expression);                                                       \
        EXPECT_EQ(sn_test_status_, status)                                                                    \
            << #expression << " -> " << sn_status_name(sn_test_status_) << ": " << sn_last_error();           \
        EXPECT_NE(std::string(sn_last_error()).find(fragment), std::string::npos)                             \
            << "message of " << #expression << " does not mention '" << fragment << "': " << sn_last_error(); \
    } while (0)

namespace sn_test {

class Context {
public:
    explicit Context(int32_t threads = 2) {
        sn_context_options options{};
        options.backend = SN_BACKEND_CPU;
        options.num_threads = threads;
        const sn_status status = sn_context_create(&options, &handle_);
        EXPECT_EQ(status, SN_OK) << sn_last_error();
    }
    ~Context() {
        if (handle_ != nullptr) {
            const sn_status status = sn_context_destroy(handle_);
            EXPECT_EQ(status, SN_OK) << sn_last_error();
        }
    }
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;
    sn_context* get() const { return handle_; }
    operator sn_context*() const { return handle_; }

private:
    sn_context* handle_ = nullptr;
};

// Owns an sn_tensor. Moves transfer ownership.
class Tensor {
public:
    Tensor() = default;
    explicit Tensor(sn_tensor* handle) : handle_(handle) {}
    Tensor(sn_context* context, sn_dtype dtype, const std::vector<int64_t>& dims) {
        const sn_status status =
            sn_tensor_create(context, dtype, dims.data(), static_cast<int32_t>(dims.size()), &handle_);
        EXPECT_EQ(status, SN_OK) << sn_last_error();
    }
    ~Tensor() { reset(); }
    Tensor(Tensor&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Tensor& operator=(Tensor&& other) noexcept {
        reset();
        handle_ = std::exchange(other.handle_, nullptr);
        return *this;
    }
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;

    void reset() {
        if (handle_ != nullptr) {
            const sn_status status = sn_tensor_destroy(handle_);
            EXPECT_EQ(status, SN_OK) << sn_last_error();
            handle_ = nullptr;
        }
    }
    sn_tensor* get() const { return handle_; }
    operator sn_tensor*() const { return handle_; }
    sn_tensor* release() { return std::exchange(handle_, nullptr); }

private:
    sn_tensor* handle_ = nullptr;
};

inline sn_tensor_info info_of(const sn_tensor* tensor) {
    sn_tensor_info info{};
    EXPECT_EQ(sn_tensor_get_info(tensor, &info), SN_OK) << sn_last_error();
    return info;
}

// Values as the library stores them for dtype (F32, F16, BF16), as raw bytes.
inline std::vector<uint8_t> encode(sn_dtype dtype, const std::vector<float>& values) {
    std::vector<uint8_t> bytes(values.size() * sn_dtype_size(dtype));
    for (size_t i = 0; i < values.size(); ++i) {
        if (dtype == SN_DTYPE_F32) {
            std::memcpy(bytes.data() + 4 * i, &values[i], 4);
        } else {
            const uint16_t half = dtype == SN_DTYPE_F16 ? sn::f32_to_f16(values[i]) : sn::f32_to_bf16(values[i]);
            std::memcpy(bytes.data() + 2 * i, &half, 2);
        }
    }
    return bytes;
}

// The values a dtype can represent: what the kernels actually see after encode().
inline std::vector<float> rounded_to(sn_dtype dtype, const std::vector<float>& values) {
    std::vector<float> rounded(values);
    for (float& value : rounded) {
        if (dtype == SN_DTYPE_F16) value = sn::f16_to_f32(sn::f32_to_f16(value));
        if (dtype == SN_DTYPE_BF16) value = sn::bf16_to_f32(sn::f32_to_bf16(value));
    }
    return rounded;
}

inline Tensor make_tensor(sn_context* context, sn_dtype dtype, const std::vector<int64_t>& dims,
                          const std::vector<float>& values) {
    Tensor tensor(context, dtype, dims);
    const std::vector<uint8_t> bytes = encode(dtype, values);
    const sn_status status = sn_tensor_upload(tensor, bytes.data(), bytes.size());
    EXPECT_EQ(status, SN_OK) << sn_last_error();
    return tensor;
}

inline Tensor make_f32(sn_context* context, const std::vector<int64_t>& dims, const std::vector<float>& values) {
    return make_tensor(context, SN_DTYPE_F32, dims, values);
}

inline Tensor make_i32(sn_context* context, const std::vector<int64_t>& dims, const std::vector<int32_t>& values) {
    Tensor tensor(context, SN_DTYPE_I32, dims);
    const sn_status status = sn_tensor_upload(tensor, values.data(), values.size() * sizeof(int32_t));
    EXPECT_EQ(status, SN_OK) << sn_last_error();
    return tensor;
}

inline std::vector<float> download_f32(const sn_tensor* tensor) {
    const sn_tensor_info info = info_of(tensor);
    EXPECT_EQ(info.dtype, SN_DTYPE_F32);
    std::vector<float> values(static_cast<size_t>(info.numel));
    const sn_status status = sn_tensor_download(tensor, values.data(), values.size() * sizeof(float));
    EXPECT_EQ(status, SN_OK) << sn_last_error();
    return values;
}

inline std::vector<float> random_floats(size_t count, uint32_t seed, float low = -1.0f, float high = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> uniform(low, high);
    std::vector<float> values(count);
    for (float& value : values) value = uniform(rng);
    return values;
}

// |actual − expected| <= abs_tol + rel_tol·|expected| for every element; reports the first
// few failures with their index.
inline void expect_close(const std::vector<float>& actual, const std::vector<double>& expected, double abs_tol,
                         double rel_tol, const std::string& what) {
    ASSERT_EQ(actual.size(), expected.size()) << what;
    int reported = 0;
    size_t failures = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
        const double error = std::fabs(static_cast<double>(actual[i]) - expected[i]);
        const bool ok = error <= abs_tol + rel_tol * std::fabs(expected[i]);
        if (!ok) {
            ++failures;
            if (reported++ < 5) {
                ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected " << expected[i]
                              << " (error " << error << ")";
            }
        }
    }
    EXPECT_EQ(failures, 0u) << what << ": " << failures << " of " << actual.size() << " elements out of tolerance";
}

}  // namespace sn_test
