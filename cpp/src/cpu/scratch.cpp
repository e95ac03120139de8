#include "cpu/scratch.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace sn::cpu {
namespace {

struct FreeAligned {
    void operator()(float* pointer) const { std::free(pointer); }
};

struct ThreadScratch {
    std::unique_ptr<float, FreeAligned> buffer;
    size_t capacity = 0;
};

thread_local ThreadScratch t_scratch;
thread_local ThreadScratch t_outer_scratch;

float* grow(ThreadScratch& scratch, size_t count) {
    if (count <= scratch.capacity && scratch.buffer) return scratch.buffer.get();
    const size_t capacity = aligned_count(count == 0 ? 1 : count);
    scratch.buffer.reset();  // release the old buffer before taking a larger one
    scratch.capacity = 0;
    void* memory = std::aligned_alloc(64, capacity * sizeof(float));
    if (memory == nullptr) throw std::bad_alloc();
    scratch.buffer.reset(static_cast<float*>(memory));
    scratch.capacity = capacity;
    return scratch.buffer.get();
}

}  // namespace

float* scratch_floats(size_t count) {
    return grow(t_scratch, count);
}

float* outer_scratch_floats(size_t count) {
    return grow(t_outer_scratch, count);
}

}  // namespace sn::cpu
