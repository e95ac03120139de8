// Graphs on the CPU backend: capture records calls without running them, a replay equals direct
// execution and reads the values uploaded into input tensors since the capture, the graph keeps
// the memory it uses alive, and every misuse returns its documented status.
#include "test_support.h"

using sn_test::Context;
using sn_test::download_f32;
using sn_test::make_f32;
using sn_test::make_i32;
using sn_test::Tensor;

namespace {

// Owns an sn_graph.
class Graph {
public:
    Graph() = default;
    explicit Graph(sn_graph* handle) : handle_(handle) {}
    ~Graph() { reset(); }
    Graph(const Graph&) = delete;
    Graph& operator=(const Graph&) = delete;
    sn_graph* get() const { return handle_; }
    operator sn_graph*() const { return handle_; }
    void reset() {
        if (handle_ != nullptr) {
            EXPECT_EQ(sn_graph_destroy(handle_), SN_OK) << sn_last_error();
            handle_ = nullptr;
        }
    }

private:
    sn_graph* handle_ = nullptr;
};

// One decoder-like step over a single token at a position held in a tensor: embedding, norm,
// a fused projection split by views, RoPE, cache writes, attention, a residual linear.
struct Step {
    static constexpr int64_t kVocab = 11, kHidden = 16, kHeads = 2, kHeadDim = 8, kCache = 6;
    Tensor table, norm_weight, w_qkv, w_out, ids, position;
    Tensor h, x, qkv, q, k, v, attn, attn_flat, k_cache, v_cache;

    explicit Step(sn_context* context) {
        table = make_f32(context, {kVocab, kHidden}, sn_test::random_floats(kVocab * kHidden, 1));
        norm_weight = make_f32(context, {kHidden}, sn_test::random_floats(kHidden, 2, 0.5f, 1.5f));
        w_qkv = make_f32(context, {3 * kHidden, kHidden}, sn_test::random_floats(3 * kHidden * kHidden, 3));
        w_out = make_f32(context, {kHidden, kHidden}, sn_test::random_floats(kHidden * kHidden, 4));
        ids = make_i32(context, {1}, {0});
        position = make_i32(context, {1}, {0});
        h = Tensor(context, SN_DTYPE_F32, {1, kHidden});
        x = Tensor(context, SN_DTYPE_F32, {1, kHidden});
        qkv = Tensor(context, SN_DTYPE_F32, {1, 3 * kHidden});
        q = view(qkv, 0, {1, kHeads, kHeadDim});
        k = view(qkv, kHidden, {1, kHeads, kHeadDim});
        v = view(qkv, 2 * kHidden, {1, kHeads, kHeadDim});
        attn = Tensor(context, SN_DTYPE_F32, {1, kHeads, kHeadDim});
        attn_flat = view(attn, 0, {1, kHidden});
        k_cache = Tensor(context, SN_DTYPE_F32, {kCache, kHeads, kHeadDim});
        v_cache = Tensor(context, SN_DTYPE_F32, {kCache, kHeads, kHeadDim});
    }

    static Tensor view(const Tensor& base, int64_t offset, const std::vector<int64_t>& dims) {
        sn_tensor* raw = nullptr;
        EXPECT_EQ(sn_tensor_view(base, offset, dims.data(), static_cast<int32_t>(dims.size()), &raw), SN_OK)
            << sn_last_error();
        return Tensor(raw);
    }

    // The ops of one step; 9 calls.
    void emit(sn_context* context) const {
        ASSERT_SN_OK(sn_embedding(context, table, ids, h));
        ASSERT_SN_OK(sn_rms_norm(context, h, norm_weight, 1e-5f, x));
        ASSERT_SN_OK(sn_matmul(context, x, w_qkv, nullptr, qkv));
        ASSERT_SN_OK(sn_rope(context, q, position, 10000.0f, q));
        ASSERT_SN_OK(sn_rope(context, k, position, 10000.0f, k));
        ASSERT_SN_OK(sn_kv_write(context, k, position, k_cache));
        ASSERT_SN_OK(sn_kv_write(context, v, position, v_cache));
        ASSERT_SN_OK(sn_attention(context, q, position, k_cache, v_cache, 0, 0.35f, attn));
        ASSERT_SN_OK(sn_matmul_add(context, attn_flat, w_out, nullptr, h));
    }
    static constexpr int64_t kOps = 9;

    void set_inputs(int32_t id, int32_t pos) const {
        ASSERT_SN_OK(sn_tensor_upload(ids, &id, sizeof id));
        ASSERT_SN_OK(sn_tensor_upload(position, &pos, sizeof pos));
    }
};

}  // namespace

TEST(Graph, ReplayEqualsDirectExecutionAndSeesNewInputs) {
    const std::vector<std::pair<int32_t, int32_t>> tokens = {{3, 0}, {7, 1}, {3, 2}, {10, 3}, {0, 4}};
    std::vector<std::vector<float>> direct_h, direct_cache;
    {
        Context context(2);
        Step step(context);
        for (const auto& [id, pos] : tokens) {
            step.set_inputs(id, pos);
            step.emit(context);
            direct_h.push_back(download_f32(step.h));
            direct_cache.push_back(download_f32(step.k_cache));
        }
    }
    Context context(2);
    Step step(context);
    ASSERT_SN_OK(sn_graph_begin_capture(context));
    step.emit(context);
    sn_graph* raw_graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(context, &raw_graph));
    Graph graph(raw_graph);
    // Recording ran nothing.
    EXPECT_EQ(download_f32(step.h), std::vector<float>(Step::kHidden, 0.0f));
    int64_t nodes = -1;
    ASSERT_SN_OK(sn_graph_get_node_count(graph, &nodes));
    EXPECT_EQ(nodes, Step::kOps);
    for (size_t i = 0; i < tokens.size(); ++i) {
        step.set_inputs(tokens[i].first, tokens[i].second);
        ASSERT_SN_OK(sn_graph_launch(graph));
        // The same kernels on the same data: bit-identical.
        EXPECT_EQ(download_f32(step.h), direct_h[i]) << "token " << i;
        EXPECT_EQ(download_f32(step.k_cache), direct_cache[i]) << "token " << i;
    }
}

TEST(Graph, KeepsItsMemoryAliveAfterTheHandlesAreDestroyed) {
    Context context(1);
    sn_memory_info memory{};
    Tensor a = make_f32(context, {4}, {1, 2, 3, 4});
    Tensor b = make_f32(context, {4}, {10, 20, 30, 40});
    Tensor out(context, SN_DTYPE_F32, {4});
    ASSERT_SN_OK(sn_graph_begin_capture(context));
    ASSERT_SN_OK(sn_add(context, a, b, out));
    sn_graph* raw_graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(context, &raw_graph));
    Graph graph(raw_graph);
    a.reset();
    b.reset();
    ASSERT_SN_OK(sn_context_get_memory(context, &memory));
    EXPECT_EQ(memory.allocated_bytes, 48) << "the graph holds a's and b's storage";
    ASSERT_SN_OK(sn_graph_launch(graph));
    EXPECT_EQ(download_f32(out), (std::vector<float>{11, 22, 33, 44}));
    graph.reset();
    ASSERT_SN_OK(sn_context_get_memory(context, &memory));
    EXPECT_EQ(memory.allocated_bytes, 16);
}

TEST(Graph, FailedOperationDiscardsTheCapture) {
    Context context(1);
    Tensor a = make_f32(context, {4}, {1, 2, 3, 4});
    Tensor wrong(context, SN_DTYPE_F32, {5});
    Tensor out(context, SN_DTYPE_F32, {4});
    ASSERT_SN_OK(sn_graph_begin_capture(context));
    ASSERT_SN_OK(sn_relu(context, a, out));
    EXPECT_SN_ERROR(sn_add(context, a, wrong, out), SN_ERR_SHAPE_MISMATCH, "b: expected a's shape");
    ASSERT_SN_OK(sn_silu(context, a, out));  // later ops still validate, but the capture is lost
    sn_graph* graph = reinterpret_cast<sn_graph*>(0x1);
    EXPECT_SN_ERROR(sn_graph_end_capture(context, &graph), SN_ERR_SHAPE_MISMATCH, "failed during capture");
    EXPECT_NE(std::string(sn_last_error()).find("b: expected a's shape"), std::string::npos) << sn_last_error();
    EXPECT_EQ(graph, nullptr);
    // The context is out of capture mode and works normally.
    ASSERT_SN_OK(sn_relu(context, a, out));
    EXPECT_EQ(download_f32(out), (std::vector<float>{1, 2, 3, 4}));
    ASSERT_SN_OK(sn_graph_begin_capture(context));
    ASSERT_SN_OK(sn_graph_end_capture(context, &graph));
    int64_t nodes = -1;
    ASSERT_SN_OK(sn_graph_get_node_count(graph, &nodes));
    EXPECT_EQ(nodes, 0);
    ASSERT_SN_OK(sn_graph_launch(graph));
    ASSERT_SN_OK(sn_graph_destroy(graph));
}

TEST(Graph, DataErrorsSurfaceAtReplay) {
    Context context(1);
    Tensor table = make_f32(context, {3, 2}, {1, 2, 3, 4, 5, 6});
    Tensor ids = make_i32(context, {1}, {2});
    Tensor out(context, SN_DTYPE_F32, {1, 2});
    ASSERT_SN_OK(sn_graph_begin_capture(context));
    ASSERT_SN_OK(sn_embedding(context, table, ids, out));
    sn_graph* raw_graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(context, &raw_graph));
    Graph graph(raw_graph);
    ASSERT_SN_OK(sn_graph_launch(graph));
    EXPECT_EQ(download_f32(out), (std::vector<float>{5, 6}));
    const int32_t bad = 3;
    ASSERT_SN_OK(sn_tensor_upload(ids, &bad, sizeof bad));
    EXPECT_SN_ERROR(sn_graph_launch(graph), SN_ERR_INVALID_ARGUMENT, "ids[0] = 3");
}

TEST(Graph, Misuse) {
    Context context(1);
    Tensor a = make_f32(context, {4}, {1, 2, 3, 4});
    sn_graph* graph = nullptr;
    EXPECT_SN_ERROR(sn_graph_end_capture(context, &graph), SN_ERR_INVALID_ARGUMENT, "not capturing");
    EXPECT_SN_ERROR(sn_graph_begin_capture(nullptr), SN_ERR_NULL_ARGUMENT, "context");

    ASSERT_SN_OK(sn_graph_begin_capture(context));
    EXPECT_SN_ERROR(sn_graph_begin_capture(context), SN_ERR_INVALID_ARGUMENT, "already capturing");
    float host[4] = {};
    EXPECT_SN_ERROR(sn_tensor_upload(a, host, sizeof host), SN_ERR_INVALID_ARGUMENT, "an upload is not allowed");
    EXPECT_SN_ERROR(sn_tensor_download(a, host, sizeof host), SN_ERR_INVALID_ARGUMENT, "a download is not allowed");
    EXPECT_SN_ERROR(sn_context_synchronize(context), SN_ERR_INVALID_ARGUMENT, "capturing");
    const int64_t dims[] = {2};
    sn_tensor* created = nullptr;
    EXPECT_SN_ERROR(sn_tensor_create(context, SN_DTYPE_F32, dims, 1, &created), SN_ERR_INVALID_ARGUMENT,
                    "create tensors before sn_graph_begin_capture");
    sn_tensor* view = nullptr;
    ASSERT_SN_OK(sn_tensor_view(a, 2, dims, 1, &view));  // views allocate nothing: allowed
    ASSERT_SN_OK(sn_tensor_destroy(view));
    EXPECT_SN_ERROR(sn_context_destroy(context), SN_ERR_INVALID_ARGUMENT, "capturing");
    EXPECT_SN_ERROR(sn_graph_end_capture(context, nullptr), SN_ERR_NULL_ARGUMENT, "out_graph");
    // ... and that ended the capture.
    EXPECT_SN_ERROR(sn_graph_end_capture(context, &graph), SN_ERR_INVALID_ARGUMENT, "not capturing");

    ASSERT_SN_OK(sn_graph_begin_capture(context));
    ASSERT_SN_OK(sn_relu(context, a, a));
    ASSERT_SN_OK(sn_graph_end_capture(context, &graph));
    ASSERT_SN_OK(sn_graph_begin_capture(context));
    EXPECT_SN_ERROR(sn_graph_launch(graph), SN_ERR_INVALID_ARGUMENT, "capturing another graph");
    sn_graph* empty = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(context, &empty));
    ASSERT_SN_OK(sn_graph_destroy(empty));

    // A context with a live graph cannot be destroyed; handles are checked like the others.
    sn_context_options options{};
    options.backend = SN_BACKEND_CPU;
    sn_context* other = nullptr;
    ASSERT_SN_OK(sn_context_create(&options, &other));
    Tensor b = make_f32(other, {1}, {-1});
    ASSERT_SN_OK(sn_graph_begin_capture(other));
    ASSERT_SN_OK(sn_relu(other, b, b));
    sn_graph* other_graph = nullptr;
    ASSERT_SN_OK(sn_graph_end_capture(other, &other_graph));
    b.reset();
    EXPECT_SN_ERROR(sn_context_destroy(other), SN_ERR_INVALID_ARGUMENT, "1 live graph");
    ASSERT_SN_OK(sn_graph_destroy(other_graph));
    ASSERT_SN_OK(sn_context_destroy(other));

    int64_t nodes = 0;
    EXPECT_SN_ERROR(sn_graph_get_node_count(graph, nullptr), SN_ERR_NULL_ARGUMENT, "out_count");
    EXPECT_SN_ERROR(sn_graph_get_node_count(reinterpret_cast<sn_graph*>(a.get()), &nodes), SN_ERR_INVALID_HANDLE,
                    "not a live graph");
    ASSERT_SN_OK(sn_graph_destroy(graph));
    EXPECT_SN_ERROR(sn_graph_launch(graph), SN_ERR_INVALID_HANDLE, "not a live graph");
    EXPECT_SN_ERROR(sn_graph_destroy(graph), SN_ERR_INVALID_HANDLE, "graph");
    EXPECT_SN_ERROR(sn_graph_launch(nullptr), SN_ERR_NULL_ARGUMENT, "graph");
    ASSERT_SN_OK(sn_graph_destroy(nullptr));
}
