// Graphs: sn_graph_begin_capture / end_capture / launch / get_node_count / destroy.
//
// Capturing is a mode of the context (Context::capture). While it is on, every op goes through
// capture_call() (backend.h): the CPU backend records the call, the CUDA backend launches it
// into a stream that the CUDA runtime is capturing. Either way the capture collects every
// storage the ops touch, and the finished Graph holds them, so a replay never writes freed
// memory. An op that fails while capturing (validation included) poisons the capture:
// end_capture then discards it and returns that failure.
#include "backend.h"
#include "error.h"
#include "registry.h"
#include "validate.h"

#include <memory>

namespace sn {
namespace {

sn_status resolve_graph(const sn_graph* handle, const char* arg, Graph** out_graph) {
    SN_CHECK(handle != nullptr, SN_ERR_NULL_ARGUMENT, "%s is NULL", arg);
    *out_graph = registry::find_graph(handle);
    SN_CHECK(*out_graph != nullptr, SN_ERR_INVALID_HANDLE,
             "%s (%p) is not a live graph: destroyed, never created, or another kind of handle", arg,
             static_cast<const void*>(handle));
    return SN_OK;
}

// Takes the capture out of the context, ending capture mode. Null if it was not capturing.
std::unique_ptr<Capture> take_capture(Context& context) {
    std::lock_guard<std::mutex> lock(context.capture_mutex);
    context.capturing.store(false, std::memory_order_release);
    return std::move(context.capture);
}

void release_graph(Graph* graph) noexcept {
    Context& context = *graph->context;
    if (graph->backend_graph != nullptr) context.backend->destroy_graph(context, graph->backend_graph);
    delete graph;  // drops its storages and recorded calls
    context.live_graphs.fetch_sub(1);
}

}  // namespace
}  // namespace sn

extern "C" {

SN_API sn_status sn_graph_begin_capture(sn_context* context) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        auto capture = std::make_unique<sn::Capture>();
        std::lock_guard<std::mutex> lock(live->capture_mutex);
        SN_CHECK(live->capture == nullptr, SN_ERR_INVALID_ARGUMENT,
                 "context is already capturing a graph (captures do not nest); call sn_graph_end_capture first");
        if (live->backend->begin_capture != nullptr) SN_TRY(live->backend->begin_capture(*live));
        live->capture = std::move(capture);
        live->capturing.store(true, std::memory_order_release);
        return SN_OK;
    });
}

SN_API sn_status sn_graph_end_capture(sn_context* context, sn_graph** out_graph) {
    return sn::guarded(__func__, [&]() -> sn_status {
        if (out_graph != nullptr) *out_graph = nullptr;
        sn::Context* live = nullptr;
        SN_TRY(sn::resolve_context(context, "context", &live));
        std::unique_ptr<sn::Capture> capture = sn::take_capture(*live);
        SN_CHECK(capture != nullptr, SN_ERR_INVALID_ARGUMENT,
                 "context is not capturing a graph (call sn_graph_begin_capture first)");
        // From here on the context is out of capture mode whatever happens: a failed end never
        // leaves it stuck capturing.
        const bool keep = capture->failure == SN_OK && out_graph != nullptr;
        void* backend_graph = nullptr;
        int64_t node_count = static_cast<int64_t>(capture->ops.size());
        if (live->backend->end_capture != nullptr) {
            SN_TRY(live->backend->end_capture(*live, keep, &backend_graph, &node_count));
        }
        if (capture->failure != SN_OK) {
            SN_FAIL(capture->failure, "an operation failed during capture, so the capture was discarded: %s",
                    capture->failure_message.c_str());
        }
        SN_TRY(sn::require_not_null(out_graph, "out_graph"));

        auto graph = std::make_unique<sn::Graph>();
        graph->context = live;
        graph->node_count = node_count;
        graph->ops = std::move(capture->ops);
        graph->backend_graph = backend_graph;
        graph->storages = std::move(capture->storages);
        live->live_graphs.fetch_add(1);
        try {
            *out_graph = sn::registry::add_graph(graph.get());
        } catch (...) {
            sn::release_graph(graph.release());
            throw;
        }
        graph.release();  // owned through the handle now
        return SN_OK;
    });
}

SN_API sn_status sn_graph_launch(sn_graph* graph) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Graph* live = nullptr;
        SN_TRY(sn::resolve_graph(graph, "graph", &live));
        sn::Context& context = *live->context;
        SN_CHECK(!context.capturing.load(), SN_ERR_INVALID_ARGUMENT,
                 "graph: its context is capturing another graph; launch it before sn_graph_begin_capture or after "
                 "sn_graph_end_capture");
        context.recent_ops[0].count = -1;  // whatever the graph ran last (Context::recent_ops)
        if (live->backend_graph != nullptr) return context.backend->launch_graph(context, live->backend_graph);
        for (const sn::RecordedOp& op : live->ops) SN_TRY(op(context));
        return SN_OK;
    });
}

SN_API sn_status sn_graph_get_node_count(const sn_graph* graph, int64_t* out_count) {
    return sn::guarded(__func__, [&]() -> sn_status {
        sn::Graph* live = nullptr;
        SN_TRY(sn::resolve_graph(graph, "graph", &live));
        SN_TRY(sn::require_not_null(out_count, "out_count"));
        *out_count = live->node_count;
        return SN_OK;
    });
}

SN_API sn_status sn_graph_destroy(sn_graph* graph) {
    return sn::guarded(__func__, [&]() -> sn_status {
        if (graph == nullptr) return SN_OK;
        // Unregistering is the validity check, so of two racing destroys only one frees.
        sn::Graph* live = sn::registry::remove_graph(graph);
        SN_CHECK(live != nullptr, SN_ERR_INVALID_HANDLE,
                 "graph (%p) is not a live graph: destroyed, never created, or another kind of handle",
                 static_cast<const void*>(graph));
        sn::release_graph(live);
        return SN_OK;
    });
}

}  // extern "C"
