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

}  // namespace

float* scratch_floats(size_t count) {
    if (count <= t_scratch.capacity && t_scratch.buffer) return t_scratch.buffer.get();
    const size_t capacity = aligned_count(count == 0 ? 1 : count);
    t_scratch.buffer.reset();  // release the old buffer before taking a larger one
    t_scratch.capacity = 0;
    void* memory = std::aligned_alloc(64, capacity * sizeof(float));
    if (memory == nullptr) throw std::bad_alloc();
    t_scratch.buffer.reset(static_cast<float*>(memory));
    t_scratch.capacity = capacity;
    return t_scratch.buffer.get();
}

}  // namespace sn::cpu
