#include "error.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace sn {
namespace {

// Large enough for any message the library writes; longer text is truncated, never overflowed.
constexpr size_t kMessageCapacity = 1024;

thread_local char t_last_error[kMessageCapacity] = "";
thread_local const char* t_api_name = nullptr;

// "/abs/path/cpp/src/cpu/matmul.cpp" -> "src/cpu/matmul.cpp" (and ".../cpp/kernels/norm.cu" ->
// "kernels/norm.cu"): short, and stable across machines.
const char* short_source_path(const char* file) {
    const char* best = nullptr;
    for (const char* root : {"src/", "kernels/"}) {
        for (const char* at = std::strstr(file, root); at != nullptr; at = std::strstr(at + 1, root)) {
            if ((at == file || at[-1] == '/') && (best == nullptr || at > best)) best = at;
        }
    }
    if (best != nullptr) return best;
    const char* slash = std::strrchr(file, '/');
    return slash != nullptr ? slash + 1 : file;
}

void write_message(const char* file, int line, const char* format, va_list args) {
    size_t used = 0;
    if (t_api_name != nullptr) {
        const int written = std::snprintf(t_last_error, kMessageCapacity, "%s: ", t_api_name);
        used = written > 0 ? static_cast<size_t>(written) : 0;
    }
    if (used < kMessageCapacity) {
        const int written = std::vsnprintf(t_last_error + used, kMessageCapacity - used, format, args);
        used += written > 0 ? static_cast<size_t>(written) : 0;
    }
    if (used < kMessageCapacity) {
        std::snprintf(t_last_error + used, kMessageCapacity - used, " [%s:%d]", short_source_path(file), line);
    }
}

}  // namespace

sn_status record_error(sn_status status, const char* file, int line, const char* format, ...) noexcept {
    va_list args;
    va_start(args, format);
    write_message(file, line, format, args);
    va_end(args);
    return status;
}

void record_note(const char* file, int line, const char* format, ...) noexcept {
    va_list args;
    va_start(args, format);
    write_message(file, line, format, args);
    va_end(args);
}

ApiScope::ApiScope(const char* api_name) noexcept : previous_(t_api_name) {
    t_api_name = api_name;
}
ApiScope::~ApiScope() {
    t_api_name = previous_;
}

}  // namespace sn

// The two exports that read this file's thread-local state live here.
extern "C" SN_API const char* sn_last_error(void) {
    return sn::t_last_error;
}

extern "C" SN_API void sn_clear_error(void) {
    sn::t_last_error[0] = '\0';
}
