#include "registry.h"

#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace sn::registry {
namespace {

struct LiveHandles {
    std::mutex mutex;
    // Handle values: multiples of 16 from 2^20 upwards (non-null, pointer-aligned, never reused).
    uintptr_t next_handle = uintptr_t{1} << 20;
    std::unordered_map<uintptr_t, Context*> contexts;
    std::unordered_map<uintptr_t, Tensor*> tensors;
    std::unordered_map<uintptr_t, Graph*> graphs;
};

// Leaked on purpose: a host may destroy handles from its own static destructors or finalizers,
// after a function-local static would already be gone.
LiveHandles& live() {
    static LiveHandles* handles = new LiveHandles();
    return *handles;
}

template <class Object>
uintptr_t add(std::unordered_map<uintptr_t, Object*>& map, Object* object, LiveHandles& handles) {
    const uintptr_t handle = handles.next_handle;
    handles.next_handle += 16;
    map.emplace(handle, object);
    return handle;
}

template <class Object>
Object* find(const std::unordered_map<uintptr_t, Object*>& map, uintptr_t handle) {
    const auto found = map.find(handle);
    return found == map.end() ? nullptr : found->second;
}

template <class Object>
Object* remove(std::unordered_map<uintptr_t, Object*>& map, uintptr_t handle) {
    const auto found = map.find(handle);
    if (found == map.end()) return nullptr;
    Object* object = found->second;
    map.erase(found);
    return object;
}

uintptr_t value_of(const void* handle) {
    return reinterpret_cast<uintptr_t>(handle);
}

}  // namespace

sn_context* add_context(Context* context) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return reinterpret_cast<sn_context*>(add(handles.contexts, context, handles));
}

Context* find_context(const sn_context* handle) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return find(handles.contexts, value_of(handle));
}

Context* remove_context(const sn_context* handle) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return remove(handles.contexts, value_of(handle));
}

sn_tensor* add_tensor(Tensor* tensor) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return reinterpret_cast<sn_tensor*>(add(handles.tensors, tensor, handles));
}

Tensor* find_tensor(const sn_tensor* handle) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return find(handles.tensors, value_of(handle));
}

Tensor* remove_tensor(const sn_tensor* handle) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return remove(handles.tensors, value_of(handle));
}

sn_graph* add_graph(Graph* graph) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return reinterpret_cast<sn_graph*>(add(handles.graphs, graph, handles));
}

Graph* find_graph(const sn_graph* handle) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return find(handles.graphs, value_of(handle));
}

Graph* remove_graph(const sn_graph* handle) {
    LiveHandles& handles = live();
    std::lock_guard<std::mutex> lock(handles.mutex);
    return remove(handles.graphs, value_of(handle));
}

}  // namespace sn::registry
