// Error reporting inside the library: every failure becomes a status code plus a message in the
// calling thread's last-error buffer; no C++ exception and no abort crosses the C API.
//
// Message format (what sn_last_error returns):
//     "<api function>: <argument>: <reason> [<source file>:<line>]"
// e.g. "sn_matmul: weight: expected dtype F32, F16 or BF16, got I32 [src/api_ops.cpp:88]".
#pragma once

#include "squeeze_native.h"

#include <exception>
#include <new>

namespace sn {

// Records `status` and a printf-style message as this thread's last error and returns `status`.
// Never allocates (the buffer is a fixed thread-local array), so it is safe in catch handlers.
sn_status record_error(sn_status status, const char* file, int line, const char* format, ...) noexcept
    __attribute__((format(printf, 4, 5)));

// Sets this thread's last-error message without a failing status, for calls whose documented
// result is a reason rather than an error (sn_backend_available reporting "built without CUDA").
void record_note(const char* file, int line, const char* format, ...) noexcept __attribute__((format(printf, 3, 4)));

// The name of the API function the calling thread is executing (for message prefixes).
class ApiScope {
public:
    explicit ApiScope(const char* api_name) noexcept;
    ~ApiScope();
    ApiScope(const ApiScope&) = delete;
    ApiScope& operator=(const ApiScope&) = delete;

private:
    const char* previous_;
};

// Runs the body of an exported function: records the API name for messages and converts every
// escaping exception into a status (std::bad_alloc -> SN_ERR_OUT_OF_MEMORY, anything else ->
// SN_ERR_INTERNAL), so that nothing thrown inside the library reaches the caller.
template <class Body>
sn_status guarded(const char* api_name, Body&& body) noexcept {
    ApiScope scope(api_name);
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return record_error(SN_ERR_OUT_OF_MEMORY, __FILE__, __LINE__, "out of host memory");
    } catch (const std::exception& error) {
        return record_error(SN_ERR_INTERNAL, __FILE__, __LINE__, "internal error: %s", error.what());
    } catch (...) {
        return record_error(SN_ERR_INTERNAL, __FILE__, __LINE__, "internal error: unknown exception");
    }
}

}  // namespace sn

// Returns `status` from the current function after recording the message.
#define SN_FAIL(status, ...) return ::sn::record_error((status), __FILE__, __LINE__, __VA_ARGS__)

// Fails with `status` and the message unless `condition` holds.
#define SN_CHECK(condition, status, ...)    \
    do {                                    \
        if (!(condition)) {                 \
            SN_FAIL((status), __VA_ARGS__); \
        }                                   \
    } while (0)

// Propagates a non-OK status from a call that already recorded its message.
#define SN_TRY(expression)                                  \
    do {                                                    \
        const sn_status sn_try_status_ = (expression);      \
        if (sn_try_status_ != SN_OK) return sn_try_status_; \
    } while (0)
