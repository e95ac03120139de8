// The CPU backend: host memory, OpenMP threads, the reference implementation of every op.
#pragma once

#include "backend.h"

namespace sn::cpu {

const Backend& backend();

}  // namespace sn::cpu
