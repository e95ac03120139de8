// Registry of live handles. A handle is an ID drawn from a 64-bit counter that is never reused,
// mapped to its object while the object lives. A destroyed, never-created or wrong-kind handle
// is therefore reported as SN_ERR_INVALID_HANDLE without dereferencing anything, even when the
// destroyed object's memory has since been reused for a new object (the ABA case a registry of
// raw pointers gets wrong). Contexts, tensors and graphs live in separate maps and share the
// counter, so a handle of one kind is never a valid handle of another.
#pragma once

#include "objects.h"

namespace sn::registry {

// Takes ownership of `context` and returns its new handle.
sn_context* add_context(Context* context);
// The live object of a handle, or null.
Context* find_context(const sn_context* handle);
// Unregisters the handle and returns its object (the caller deletes it), or null if not live.
Context* remove_context(const sn_context* handle);

sn_tensor* add_tensor(Tensor* tensor);
Tensor* find_tensor(const sn_tensor* handle);
Tensor* remove_tensor(const sn_tensor* handle);

sn_graph* add_graph(Graph* graph);
Graph* find_graph(const sn_graph* handle);
Graph* remove_graph(const sn_graph* handle);

}  // namespace sn::registry
