// Embedding gather on CUDA: out[t, :] = table[ids[t], :], converted to out's dtype. ids are read
// on the device (graph-safe), so an id outside [0, V) cannot fail the call: its row is written
// as zeros and the id is reported through the context's data-error record (cuda/state.h) at the
// next synchronize or download.
#include "kernels/common.cuh"

namespace sn::cuda {
namespace {

template <class T>
__global__ void embedding_kernel(FloatInput table, const int32_t* ids, T* out, int64_t tokens, int64_t width,
                                 int64_t vocabulary, DataError* error) {
    allow_next_grid();  // before the wait: the next op's kernel may start streaming its weights (chained_launch.h)
    wait_for_previous_grid();  // a chained launch (common.cuh)
    const int64_t count = tokens * width;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t t = i / width, d = i % width;
        const int32_t id = ids[t];
        if (id < 0 || id >= vocabulary) {
            if (d == 0) report_bad_value(error, OpId::embedding, t, id, vocabulary);
            out[i] = from_float<T>(0.0f);
        } else {
            out[i] = from_float<T>(table[static_cast<int64_t>(id) * width + d]);
        }
    }
}

}  // namespace

sn_status embedding(Context& context, const EmbeddingArgs& args) {
    const State& state = state_of(context);
    SN_TRY(use_device(state));
    context.op_releases_early = true;  // embedding_kernel releases the next before its wait
    const int64_t tokens = args.ids->dims[0], width = args.table->dims[1], vocabulary = args.table->dims[0];
    return dispatch_float(args.out->dtype, [&](auto tag) {
        using T = decltype(tag);
        SN_CUDA_CHECK(launch_chained(state, embedding_kernel<T>, dim3(grid_blocks(state, tokens * width)),
                                     dim3(kElementwiseThreads), 0, float_input(args.table),
                                     args.ids->data_as<const int32_t>(), args.out->data_as<T>(), tokens, width,
                                     vocabulary, state.data_error_device));
        return SN_OK;
    });
}

}  // namespace sn::cuda
