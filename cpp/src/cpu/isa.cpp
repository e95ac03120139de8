#include "cpu/isa.h"

#include <cstdlib>
#include <cstring>

namespace sn::cpu {
namespace {

Isa detect() {
    __builtin_cpu_init();
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    const bool v4 = __builtin_cpu_supports("x86-64-v4");
    const bool v3 = __builtin_cpu_supports("x86-64-v3");
#else
    const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
                    __builtin_cpu_supports("bmi2");
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    Isa best = v4 ? Isa::avx512 : (v3 ? Isa::avx2 : Isa::baseline);
    if (const char* cap = std::getenv("SN_CPU_MAX_ISA")) {
        if (std::strcmp(cap, "baseline") == 0) best = Isa::baseline;
        if (std::strcmp(cap, "avx2") == 0 && best == Isa::avx512) best = Isa::avx2;
    }
    return best;
}

}  // namespace

Isa host_isa() {
    static const Isa isa = detect();
    return isa;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::avx512:
            return "avx512 (x86-64-v4)";
        case Isa::avx2:
            return "avx2 (x86-64-v3)";
        case Isa::baseline:
            return "baseline (x86-64)";
    }
    return "unknown";
}

}  // namespace sn::cpu
