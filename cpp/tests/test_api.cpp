// The C API's contract outside the kernels: library information, backends, contexts, tensors,
// views, transfers, and every kind of misuse returning its documented status with a message
// that names the argument.
#include "test_support.h"

#include <string>
#include <thread>

using sn_test::Context;
using sn_test::make_f32;
using sn_test::Tensor;

namespace {

sn_context* create_cpu_context(int32_t threads) {
    sn_context_options options{};
    options.backend = SN_BACKEND_CPU;
    options.num_threads = threads;
    sn_context* context = nullptr;
    EXPECT_EQ(sn_context_create(&options, &context), SN_OK) << sn_last_error();
    return context;
}

}  // namespace

TEST(Library, VersionStatusNamesAndDtypeSizes) {
    EXPECT_STREQ(sn_version(), "0.1.0");
    EXPECT_STREQ(sn_status_name(SN_OK), "SN_OK");
    EXPECT_STREQ(sn_status_name(SN_ERR_CONTEXT_MISMATCH), "SN_ERR_CONTEXT_MISMATCH");
    EXPECT_STREQ(sn_status_name(static_cast<sn_status>(99)), "SN_ERR_UNKNOWN_STATUS");
    EXPECT_EQ(sn_dtype_size(SN_DTYPE_F32), 4u);
    EXPECT_EQ(sn_dtype_size(SN_DTYPE_F16), 2u);
    EXPECT_EQ(sn_dtype_size(SN_DTYPE_BF16), 2u);
    EXPECT_EQ(sn_dtype_size(SN_DTYPE_I32), 4u);
    EXPECT_EQ(sn_dtype_size(SN_DTYPE_U8), 1u);
    EXPECT_EQ(sn_dtype_size(static_cast<sn_dtype>(42)), 0u);
}

TEST(Library, LastErrorIsPerThreadAndClearable) {
    EXPECT_SN_ERROR(sn_context_create(nullptr, nullptr), SN_ERR_NULL_ARGUMENT, "out_context");
    const std::string message = sn_last_error();
    EXPECT_NE(message.find("sn_context_create"), std::string::npos) << message;
    EXPECT_NE(message.find("[src/"), std::string::npos) << message;  // file:line of the failed check
    EXPECT_NE(message.find(".cpp:"), std::string::npos) << message;
    std::string other_thread_message = "not run";
    std::thread([&] { other_thread_message = sn_last_error(); }).join();
    EXPECT_EQ(other_thread_message, "");
    sn_clear_error();
    EXPECT_STREQ(sn_last_error(), "");
}

TEST(Backend, CpuIsAlwaysAvailable) {
    int32_t available = -1;
    ASSERT_SN_OK(sn_backend_available(SN_BACKEND_CPU, &available));
    EXPECT_EQ(available, 1);
    EXPECT_SN_ERROR(sn_backend_available(SN_BACKEND_CPU, nullptr), SN_ERR_NULL_ARGUMENT, "out_available");
    EXPECT_SN_ERROR(sn_backend_available(static_cast<sn_backend_kind>(5), &available), SN_ERR_INVALID_ARGUMENT,
                    "backend");
}

// In a CPU-only build (and on a machine without a GPU) CUDA is reported unavailable, with a
// reason, and creating a CUDA context fails instead of falling back to the CPU.
TEST(Backend, UnavailableCudaIsAnErrorNotAFallback) {
    int32_t available = -1;
    sn_clear_error();
    ASSERT_SN_OK(sn_backend_available(SN_BACKEND_CUDA, &available));
    if (available == 1) GTEST_SKIP() << "this build has a usable CUDA backend";
    EXPECT_EQ(available, 0);
    const std::string reason = sn_last_error();
    EXPECT_FALSE(reason.empty());
#ifndef SN_WITH_CUDA_BACKEND
    EXPECT_NE(reason.find("built without CUDA"), std::string::npos) << reason;
#endif
    sn_context_options options{};
    options.backend = SN_BACKEND_CUDA;
    sn_context* context = reinterpret_cast<sn_context*>(0x1);
    EXPECT_SN_ERROR(sn_context_create(&options, &context), SN_ERR_BACKEND_UNAVAILABLE, "options->backend");
    EXPECT_EQ(context, nullptr);
}

TEST(Context, CreateQueryDestroy) {
    sn_context* context = create_cpu_context(3);
    sn_backend_kind backend = SN_BACKEND_CUDA;
    ASSERT_SN_OK(sn_context_get_backend(context, &backend));
    EXPECT_EQ(backend, SN_BACKEND_CPU);
    ASSERT_SN_OK(sn_context_synchronize(context));
    ASSERT_SN_OK(sn_context_destroy(context));
    ASSERT_SN_OK(sn_context_destroy(nullptr));
}

TEST(Context, InvalidOptions) {
    sn_context* context = nullptr;
    sn_context_options options{};
    options.backend = SN_BACKEND_CPU;
    options.num_threads = -1;
    EXPECT_SN_ERROR(sn_context_create(&options, &context), SN_ERR_INVALID_ARGUMENT, "num_threads");
    options.num_threads = 0;
    options.backend = static_cast<sn_backend_kind>(7);
    EXPECT_SN_ERROR(sn_context_create(&options, &context), SN_ERR_INVALID_ARGUMENT, "options->backend");
    EXPECT_SN_ERROR(sn_context_create(nullptr, &context), SN_ERR_NULL_ARGUMENT, "options");
    EXPECT_EQ(context, nullptr);
    // The device ordinal is ignored by the CPU backend.
    options.backend = SN_BACKEND_CPU;
    options.device = -3;
    ASSERT_SN_OK(sn_context_create(&options, &context));
    ASSERT_SN_OK(sn_context_destroy(context));
}

TEST(Context, UseAfterDestroyIsAnInvalidHandle) {
    sn_context* context = create_cpu_context(1);
    ASSERT_SN_OK(sn_context_destroy(context));
    sn_backend_kind backend{};
    // The registry answers without touching the freed memory (AddressSanitizer would notice).
    EXPECT_SN_ERROR(sn_context_get_backend(context, &backend), SN_ERR_INVALID_HANDLE, "context");
    EXPECT_SN_ERROR(sn_context_destroy(context), SN_ERR_INVALID_HANDLE, "not a live context");
    const int64_t dims[] = {4};
    sn_tensor* tensor = nullptr;
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, dims, 1, &tensor), SN_ERR_INVALID_HANDLE, "context");
    EXPECT_EQ(tensor, nullptr);
}

TEST(Context, DestroyWithLiveTensorsFailsAndKeepsTheContext) {
    sn_context* context = create_cpu_context(1);
    const int64_t dims[] = {2, 3};
    sn_tensor* tensor = nullptr;
    ASSERT_SN_OK(sn_tensor_create(context, SN_DTYPE_F32, dims, 2, &tensor));
    sn_tensor* view = nullptr;
    ASSERT_SN_OK(sn_tensor_view(tensor, 0, dims, 1, &view));
    EXPECT_SN_ERROR(sn_context_destroy(context), SN_ERR_INVALID_ARGUMENT, "2 live tensor");
    ASSERT_SN_OK(sn_tensor_destroy(tensor));
    EXPECT_SN_ERROR(sn_context_destroy(context), SN_ERR_INVALID_ARGUMENT, "1 live tensor");
    sn_backend_kind backend{};
    ASSERT_SN_OK(sn_context_get_backend(context, &backend));  // still alive
    ASSERT_SN_OK(sn_tensor_destroy(view));
    ASSERT_SN_OK(sn_context_destroy(context));
}

TEST(Context, WrongKindOfHandle) {
    Context context(1);
    Tensor tensor(context, SN_DTYPE_F32, {4});
    sn_backend_kind backend{};
    EXPECT_SN_ERROR(sn_context_get_backend(reinterpret_cast<const sn_context*>(tensor.get()), &backend),
                    SN_ERR_INVALID_HANDLE, "context");
    sn_tensor_info info{};
    EXPECT_SN_ERROR(sn_tensor_get_info(reinterpret_cast<const sn_tensor*>(context.get()), &info), SN_ERR_INVALID_HANDLE,
                    "tensor");
}

TEST(Tensor, CreateIsZeroedAndReportsInfo) {
    Context context(1);
    Tensor tensor(context, SN_DTYPE_F16, {3, 5, 7});
    const sn_tensor_info info = sn_test::info_of(tensor);
    EXPECT_EQ(info.dtype, SN_DTYPE_F16);
    EXPECT_EQ(info.ndim, 3);
    EXPECT_EQ(info.dims[0], 3);
    EXPECT_EQ(info.dims[1], 5);
    EXPECT_EQ(info.dims[2], 7);
    EXPECT_EQ(info.dims[3], 1);
    EXPECT_EQ(info.numel, 105);
    EXPECT_EQ(info.nbytes, 210);
    EXPECT_EQ(info.is_view, 0);
    std::vector<uint16_t> contents(105, 0xFFFF);
    ASSERT_SN_OK(sn_tensor_download(tensor, contents.data(), contents.size() * 2));
    for (uint16_t value : contents) ASSERT_EQ(value, 0u);
}

TEST(Tensor, UploadDownloadRoundTrip) {
    Context context(1);
    const std::vector<int32_t> values = {1, -2, 3, 2147483647, -2147483647 - 1, 0};
    Tensor tensor = sn_test::make_i32(context, {2, 3}, values);
    std::vector<int32_t> back(6);
    ASSERT_SN_OK(sn_tensor_download(tensor, back.data(), back.size() * 4));
    EXPECT_EQ(back, values);
}

TEST(Tensor, InvalidCreateArguments) {
    Context context(1);
    sn_tensor* tensor = nullptr;
    const int64_t dims[] = {2, 0, 3};
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, dims, 3, &tensor), SN_ERR_INVALID_ARGUMENT, "dims[1]");
    const int64_t ok_dims[] = {2, 3, 4, 5, 6};
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, ok_dims, 5, &tensor), SN_ERR_INVALID_ARGUMENT, "ndim");
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, ok_dims, 0, &tensor), SN_ERR_INVALID_ARGUMENT, "ndim");
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, nullptr, 2, &tensor), SN_ERR_NULL_ARGUMENT, "dims");
    EXPECT_SN_ERROR(sn_tensor_create(context, static_cast<sn_dtype>(9), ok_dims, 2, &tensor), SN_ERR_INVALID_ARGUMENT,
                    "dtype");
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, ok_dims, 2, nullptr), SN_ERR_NULL_ARGUMENT, "out_tensor");
    EXPECT_SN_ERROR(sn_tensor_create(nullptr, SN_DTYPE_F32, ok_dims, 2, &tensor), SN_ERR_NULL_ARGUMENT, "context");
    const int64_t huge[] = {int64_t{1} << 40, int64_t{1} << 40};
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, huge, 2, &tensor), SN_ERR_INVALID_ARGUMENT, "overflows");
    const int64_t too_large[] = {int64_t{1} << 31, int64_t{1} << 30};
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, too_large, 2, &tensor), SN_ERR_INVALID_ARGUMENT,
                    "too large");
    EXPECT_EQ(tensor, nullptr);
}

TEST(Tensor, UploadAndDownloadNeedTheExactByteCount) {
    Context context(1);
    Tensor tensor(context, SN_DTYPE_F32, {2, 3});
    std::vector<float> host(7, 1.0f);
    EXPECT_SN_ERROR(sn_tensor_upload(tensor, host.data(), 7 * sizeof(float)), SN_ERR_INVALID_ARGUMENT, "nbytes: 28");
    EXPECT_SN_ERROR(sn_tensor_upload(tensor, host.data(), 5 * sizeof(float)), SN_ERR_INVALID_ARGUMENT, "24 bytes");
    EXPECT_SN_ERROR(sn_tensor_download(tensor, host.data(), 2), SN_ERR_INVALID_ARGUMENT, "nbytes");
    EXPECT_SN_ERROR(sn_tensor_upload(tensor, nullptr, 24), SN_ERR_NULL_ARGUMENT, "src");
    EXPECT_SN_ERROR(sn_tensor_download(tensor, nullptr, 24), SN_ERR_NULL_ARGUMENT, "dst");
    EXPECT_SN_ERROR(sn_tensor_upload(nullptr, host.data(), 24), SN_ERR_NULL_ARGUMENT, "tensor");
    sn_tensor_info info{};
    EXPECT_SN_ERROR(sn_tensor_get_info(tensor, nullptr), SN_ERR_NULL_ARGUMENT, "out_info");
    EXPECT_SN_ERROR(sn_tensor_get_info(nullptr, &info), SN_ERR_NULL_ARGUMENT, "tensor");
}

TEST(Tensor, UseAfterDestroyIsAnInvalidHandle) {
    Context context(1);
    const int64_t dims[] = {4};
    sn_tensor* tensor = nullptr;
    ASSERT_SN_OK(sn_tensor_create(context, SN_DTYPE_F32, dims, 1, &tensor));
    ASSERT_SN_OK(sn_tensor_destroy(tensor));
    // New tensors may reuse the destroyed one's memory; its handle must stay dead regardless.
    Tensor reuse_candidates[] = {Tensor(context, SN_DTYPE_F32, {4}), Tensor(context, SN_DTYPE_F32, {4})};
    sn_tensor_info info{};
    EXPECT_SN_ERROR(sn_tensor_get_info(tensor, &info), SN_ERR_INVALID_HANDLE, "not a live tensor");
    EXPECT_SN_ERROR(sn_tensor_destroy(tensor), SN_ERR_INVALID_HANDLE, "tensor");
    float host[4] = {};
    EXPECT_SN_ERROR(sn_tensor_upload(tensor, host, sizeof host), SN_ERR_INVALID_HANDLE, "tensor");
    Tensor out(context, SN_DTYPE_F32, {4});
    EXPECT_SN_ERROR(sn_relu(context, tensor, out), SN_ERR_INVALID_HANDLE, "x");
    ASSERT_SN_OK(sn_tensor_destroy(nullptr));
}

TEST(View, AliasesItsBaseAndOutlivesIt) {
    Context context(1);
    Tensor base = make_f32(context, {2, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    const int64_t dims[] = {2, 2};
    sn_tensor* raw_view = nullptr;
    ASSERT_SN_OK(sn_tensor_view(base, 5, dims, 2, &raw_view));
    Tensor view(raw_view);
    const sn_tensor_info info = sn_test::info_of(view);
    EXPECT_EQ(info.is_view, 1);
    EXPECT_EQ(info.numel, 4);
    EXPECT_EQ(sn_test::download_f32(view), (std::vector<float>{5, 6, 7, 8}));

    // Writes through the view land in the base.
    const float update[] = {50, 60, 70, 80};
    ASSERT_SN_OK(sn_tensor_upload(view, update, sizeof update));
    EXPECT_EQ(sn_test::download_f32(base), (std::vector<float>{0, 1, 2, 3, 4, 50, 60, 70, 80, 9, 10, 11}));

    // A view of a view counts offsets from its own base; destroying the base keeps the storage.
    const int64_t inner_dims[] = {2};
    sn_tensor* raw_inner = nullptr;
    ASSERT_SN_OK(sn_tensor_view(view, 1, inner_dims, 1, &raw_inner));
    Tensor inner(raw_inner);
    base.reset();
    view.reset();
    EXPECT_EQ(sn_test::download_f32(inner), (std::vector<float>{60, 70}));
}

TEST(View, MustLieInsideItsBase) {
    Context context(1);
    Tensor base(context, SN_DTYPE_F32, {3, 4});
    sn_tensor* view = nullptr;
    const int64_t dims[] = {2, 4};
    EXPECT_SN_ERROR(sn_tensor_view(base, 5, dims, 2, &view), SN_ERR_INVALID_ARGUMENT, "does not fit");
    EXPECT_SN_ERROR(sn_tensor_view(base, -1, dims, 2, &view), SN_ERR_INVALID_ARGUMENT, "offset_elements");
    EXPECT_SN_ERROR(sn_tensor_view(base, 12, dims, 1, &view), SN_ERR_INVALID_ARGUMENT, "offset_elements");
    const int64_t too_big[] = {13};
    EXPECT_SN_ERROR(sn_tensor_view(base, 0, too_big, 1, &view), SN_ERR_INVALID_ARGUMENT, "does not fit");
    EXPECT_SN_ERROR(sn_tensor_view(nullptr, 0, dims, 2, &view), SN_ERR_NULL_ARGUMENT, "base");
    EXPECT_SN_ERROR(sn_tensor_view(base, 0, dims, 2, nullptr), SN_ERR_NULL_ARGUMENT, "out_view");
    EXPECT_EQ(view, nullptr);
    ASSERT_SN_OK(sn_tensor_view(base, 4, dims, 2, &view));  // exactly the last 8 elements
    ASSERT_SN_OK(sn_tensor_destroy(view));
}

TEST(Ops, TensorsFromTwoContextsAreRejected) {
    Context first(1);
    Context second(1);
    Tensor a = make_f32(first, {4}, {1, 2, 3, 4});
    Tensor b = make_f32(second, {4}, {1, 2, 3, 4});
    Tensor out(first, SN_DTYPE_F32, {4});
    EXPECT_SN_ERROR(sn_add(first, a, b, out), SN_ERR_CONTEXT_MISMATCH, "b belongs to another context");
    EXPECT_SN_ERROR(sn_add(second, a, b, out), SN_ERR_CONTEXT_MISMATCH, "a belongs to another context");
    EXPECT_SN_ERROR(sn_copy(second, b, out), SN_ERR_CONTEXT_MISMATCH, "dst");
}

TEST(Ops, NullArgumentsAreNamed) {
    Context context(1);
    Tensor x = make_f32(context, {2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
    Tensor w = make_f32(context, {3, 4}, std::vector<float>(12, 1.0f));
    Tensor out(context, SN_DTYPE_F32, {2, 3});
    EXPECT_SN_ERROR(sn_matmul(nullptr, x, w, nullptr, out), SN_ERR_NULL_ARGUMENT, "context is NULL");
    EXPECT_SN_ERROR(sn_matmul(context, nullptr, w, nullptr, out), SN_ERR_NULL_ARGUMENT, "x is NULL");
    EXPECT_SN_ERROR(sn_matmul(context, x, nullptr, nullptr, out), SN_ERR_NULL_ARGUMENT, "weight is NULL");
    EXPECT_SN_ERROR(sn_matmul(context, x, w, nullptr, nullptr), SN_ERR_NULL_ARGUMENT, "out is NULL");
    EXPECT_SN_ERROR(sn_softmax(context, x, nullptr), SN_ERR_NULL_ARGUMENT, "out");
    EXPECT_SN_ERROR(sn_rms_norm(context, x, nullptr, 1e-5f, x), SN_ERR_NULL_ARGUMENT, "weight");
    EXPECT_SN_ERROR(sn_cross_entropy(context, x, nullptr, out), SN_ERR_NULL_ARGUMENT, "targets");
    EXPECT_SN_ERROR(sn_attention(context, nullptr, x, x, x, 0, 1.0f, out), SN_ERR_NULL_ARGUMENT, "q");
}

// The backend's op table decides what it accepts beyond the API contract: F16 activations are
// legal API-wise (the CUDA backend takes them) but outside the CPU backend's op table.
TEST(Ops, UnsupportedDtypeCombinationNamesOpAndDtypes) {
    Context context(1);
    Tensor x = sn_test::make_tensor(context, SN_DTYPE_F16, {2, 4}, std::vector<float>(8, 1.0f));
    Tensor w = make_f32(context, {3, 4}, std::vector<float>(12, 1.0f));
    Tensor out(context, SN_DTYPE_F16, {2, 3});
    EXPECT_SN_ERROR(sn_matmul(context, x, w, nullptr, out), SN_ERR_UNSUPPORTED,
                    "CPU backend does not implement matmul for dtypes (x=F16, weight=F32, bias=none, out=F16)");
    Tensor x_out(context, SN_DTYPE_F16, {2, 4});
    EXPECT_SN_ERROR(sn_silu(context, x, x_out), SN_ERR_UNSUPPORTED, "silu");
}

TEST(Ops, WrongDtypeIsADtypeMismatch) {
    Context context(1);
    Tensor x = sn_test::make_i32(context, {2, 4}, std::vector<int32_t>(8, 1));
    Tensor out(context, SN_DTYPE_I32, {2, 4});
    EXPECT_SN_ERROR(sn_relu(context, x, out), SN_ERR_DTYPE_MISMATCH, "x: expected dtype F32, F16 or BF16, got I32");
    Tensor fx = make_f32(context, {2, 4}, std::vector<float>(8, 1.0f));
    Tensor f16_out(context, SN_DTYPE_F16, {2, 4});
    EXPECT_SN_ERROR(sn_relu(context, fx, f16_out), SN_ERR_DTYPE_MISMATCH, "out has dtype F16 but x has F32");
}

TEST(Ops, ShapeMismatchIsReported) {
    Context context(1);
    Tensor x = make_f32(context, {2, 4}, std::vector<float>(8, 1.0f));
    Tensor out(context, SN_DTYPE_F32, {4, 2});
    EXPECT_SN_ERROR(sn_silu(context, x, out), SN_ERR_SHAPE_MISMATCH, "out has shape [4, 2] but x has [2, 4]");
}
