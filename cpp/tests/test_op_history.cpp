// Context::recent_ops and earlier_op_may_have_written (src/backend.h): which earlier ops an op's
// kernels may run beside, when the CUDA LUT-GEMV may read its weights before it waits.
#include "backend.h"
#include "objects.h"

#include <gtest/gtest.h>

#include <memory>

namespace {

// A tensor that only carries a storage identity (never dereferenced, never freed).
struct FakeTensor {
    alignas(8) char identity[8] = {};
    sn::Tensor tensor;
    FakeTensor() {
        // aliasing constructor with no owner: a pointer to compare, nothing to free
        tensor.storage =
            std::shared_ptr<sn::Storage>(std::shared_ptr<void>(), reinterpret_cast<sn::Storage*>(identity));
    }
};

void record(sn::Context& context, std::initializer_list<const FakeTensor*> tensors, bool releases_early) {
    sn::Context::OpRecord& op = context.push_op();
    op.count = 0;
    for (const FakeTensor* t : tensors) op.storages[op.count++] = t->tensor.storage.get();
    op.releases_early = releases_early;
}

}  // namespace

TEST(OpHistory, UnknownUntilAnOpRan) {
    sn::Context context;
    FakeTensor weight;
    EXPECT_TRUE(sn::earlier_op_may_have_written(context, &weight.tensor));
    EXPECT_FALSE(sn::earlier_op_may_have_written(context, nullptr));
}

TEST(OpHistory, OnlyTheLastOpWhenItWaitsFirst) {
    sn::Context context;
    FakeTensor weight, a, b;
    record(context, {&weight}, false);  // wrote the weight
    record(context, {&a, &b}, false);   // waits for it before releasing the next op
    EXPECT_FALSE(sn::earlier_op_may_have_written(context, &weight.tensor));
    EXPECT_TRUE(sn::earlier_op_may_have_written(context, &a.tensor));
}

TEST(OpHistory, LooksPastOpsThatReleaseEarly) {
    sn::Context context;
    FakeTensor weight, a, b, c;
    record(context, {&a}, false);
    record(context, {&weight}, false);  // may still run beside the op after the two below
    record(context, {&b}, true);
    record(context, {&c}, true);
    EXPECT_TRUE(sn::earlier_op_may_have_written(context, &weight.tensor));
    EXPECT_FALSE(sn::earlier_op_may_have_written(context, &a.tensor));  // the writer waited for it
}

TEST(OpHistory, BeyondTheTrackedOpsIsUnknown) {
    sn::Context context;
    FakeTensor weight, other;
    record(context, {&other}, false);
    for (int i = 0; i < sn::Context::kTrackedOps; ++i) record(context, {&other}, true);
    EXPECT_TRUE(sn::earlier_op_may_have_written(context, &weight.tensor));
}

TEST(OpHistory, AFailedOpIsUnknown) {
    sn::Context context;
    FakeTensor weight, other;
    record(context, {&other}, false);
    context.recent_ops[0].count = -1;
    EXPECT_TRUE(sn::earlier_op_may_have_written(context, &weight.tensor));
}
