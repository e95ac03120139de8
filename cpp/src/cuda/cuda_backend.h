// The CUDA backend (compiled when SN_WITH_CUDA_BACKEND is defined): contexts, storage and graphs in
// src/cuda/cuda_backend.cpp, the op table's kernels in cpp/kernels/*.cu.
#pragma once

#include "backend.h"

namespace sn::cuda {

const Backend& backend();

}  // namespace sn::cuda
