// Memory accounting per context (bytes of tensor storage, views free, peak and its reset) and
// the device description.
#include "test_support.h"

using sn_test::Context;
using sn_test::Tensor;

namespace {

sn_memory_info memory_of(sn_context* context) {
    sn_memory_info info{};
    EXPECT_EQ(sn_context_get_memory(context, &info), SN_OK) << sn_last_error();
    return info;
}

}  // namespace

TEST(Memory, CountsStorageNotViewsAndTracksThePeak) {
    Context context(1);
    EXPECT_EQ(memory_of(context).allocated_bytes, 0);
    EXPECT_EQ(memory_of(context).peak_allocated_bytes, 0);
    Tensor a(context, SN_DTYPE_F32, {10});      // 40 bytes
    Tensor b(context, SN_DTYPE_F16, {3, 5});    // 30 bytes
    Tensor c(context, SN_DTYPE_U8, {7, 1, 1});  // 7 bytes
    EXPECT_EQ(memory_of(context).allocated_bytes, 77);
    const int64_t dims[] = {4};
    sn_tensor* raw_view = nullptr;
    ASSERT_SN_OK(sn_tensor_view(a, 6, dims, 1, &raw_view));
    Tensor view(raw_view);
    EXPECT_EQ(memory_of(context).allocated_bytes, 77) << "a view allocates nothing";
    a.reset();
    EXPECT_EQ(memory_of(context).allocated_bytes, 77) << "the view keeps a's storage";
    view.reset();
    EXPECT_EQ(memory_of(context).allocated_bytes, 37);
    b.reset();
    const sn_memory_info after = memory_of(context);
    EXPECT_EQ(after.allocated_bytes, 7);
    EXPECT_EQ(after.peak_allocated_bytes, 77);
    EXPECT_EQ(after.device_free_bytes, 0);  // not reported on the CPU
    EXPECT_EQ(after.device_total_bytes, 0);
    ASSERT_SN_OK(sn_context_reset_peak_memory(context));
    EXPECT_EQ(memory_of(context).peak_allocated_bytes, 7);
    Tensor d(context, SN_DTYPE_I32, {5});
    d.reset();
    EXPECT_EQ(memory_of(context).peak_allocated_bytes, 27);
    EXPECT_EQ(memory_of(context).allocated_bytes, 7);
}

TEST(Memory, ContextsCountSeparately) {
    Context first(1);
    Context second(1);
    Tensor a(first, SN_DTYPE_F32, {100});
    EXPECT_EQ(memory_of(first).allocated_bytes, 400);
    EXPECT_EQ(memory_of(second).allocated_bytes, 0);
}

TEST(Memory, Misuse) {
    Context context(1);
    sn_memory_info info{};
    EXPECT_SN_ERROR(sn_context_get_memory(context, nullptr), SN_ERR_NULL_ARGUMENT, "out_info");
    EXPECT_SN_ERROR(sn_context_get_memory(nullptr, &info), SN_ERR_NULL_ARGUMENT, "context");
    EXPECT_SN_ERROR(sn_context_reset_peak_memory(nullptr), SN_ERR_NULL_ARGUMENT, "context");
}

TEST(DeviceName, DescribesTheCpuAndItsThreads) {
    Context context(3);
    const std::string name = sn_context_device_name(context);
    EXPECT_EQ(name.rfind("CPU, 3 threads", 0), 0u) << name;
    sn_clear_error();
    EXPECT_STREQ(sn_context_device_name(nullptr), "");
    EXPECT_NE(std::string(sn_last_error()).find("context is NULL"), std::string::npos) << sn_last_error();
    EXPECT_STREQ(sn_context_device_name(reinterpret_cast<const sn_context*>(0x40)), "");
}
