#!/usr/bin/env bash
# SqueezeNative — the one entry point for building, testing and benchmarking.
#
#   ./build.sh build        native library (CMake; CUDA backend when nvcc is found) + managed code
#   ./build.sh test         install what a fresh machine lacks, build, native tests (+ ASan/UBSan), xunit
#   ./build.sh verify       the slow checks that do not fit in `test` (all three models' full perplexity)
#   ./build.sh bindings     regenerate src/SqueezeNative.Bindings/Generated from cpp/include/squeeze_native.h
#   ./build.sh demo         the main job on the default model (../shared/models/llama)
#   ./build.sh bench ...    benchmarks (arguments go to `squeeze bench`)
#   ./build.sh gpu-bundle   self-contained CLI + native sources + models for the GPU machine (gpu-bundle/)
#
# Environment: SQUEEZE_SHARED (default ../shared), CONFIGURATION (default Release).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
export SQUEEZE_SHARED="${SQUEEZE_SHARED:-$(cd "$ROOT/.." && pwd)/shared}"
CONFIGURATION="${CONFIGURATION:-Release}"
JOBS="$(nproc 2>/dev/null || echo 2)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# Native CPU kernels use OpenMP; passive waiting keeps idle workers from spinning against the
# test runner and other processes on small machines (2 cores in CI).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

# Installs the Debian packages a fresh machine of this kind may lack. Only calls apt when
# something is actually missing, so a warm machine pays nothing.
ensure_deps() {
    local need=()
    command -v cmake >/dev/null || need+=(cmake)
    command -v g++ >/dev/null || need+=(g++)
    dpkg -s libgtest-dev >/dev/null 2>&1 || need+=(libgtest-dev)
    # BindGen P/Invokes the distribution's libclang (no CppSharp/ClangSharp in the registry).
    ls /usr/lib/x86_64-linux-gnu/libclang-*.so.1 >/dev/null 2>&1 || ls /usr/lib/*/libclang-*.so.1 >/dev/null 2>&1 || need+=(libclang1-14)
    dpkg -s libomp-14-dev >/dev/null 2>&1 || true
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    command -v dotnet >/dev/null || die "the .NET 10 SDK (dotnet) is not on PATH"
}

build_native() {
    local dir="$ROOT/build/native" type="${1:-Release}" extra=("${@:2}")
    log "native library ($type)"
    cmake -S "$ROOT/cpp" -B "$dir" -DCMAKE_BUILD_TYPE="$type" "${extra[@]}" >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

build_native_sanitized() {
    local dir="$ROOT/build/native-asan"
    log "native tests with AddressSanitizer + UndefinedBehaviorSanitizer"
    cmake -S "$ROOT/cpp" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DSN_SANITIZE=ON -DSN_ENABLE_CUDA=OFF >/dev/null
    cmake --build "$dir" -j "$JOBS"
}

build_managed() {
    log "managed code ($CONFIGURATION)"
    dotnet build "$ROOT/SqueezeNative.sln" -c "$CONFIGURATION" -v quiet -nologo -clp:NoSummary
}

squeeze() {
    dotnet "$ROOT/src/SqueezeNative.Cli/bin/$CONFIGURATION/net10.0/squeeze.dll" "$@"
}

cmd_build() { ensure_deps; build_native Release; build_managed; }

cmd_test() {
    ensure_deps
    build_native Release
    log "native tests"
    ctest --test-dir "$ROOT/build/native" --output-on-failure -j "$JOBS"
    build_native_sanitized
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ctest --test-dir "$ROOT/build/native-asan" --output-on-failure -j "$JOBS"
    build_managed
    log "managed tests"
    dotnet test "$ROOT/SqueezeNative.sln" -c "$CONFIGURATION" --no-build -nologo -v quiet \
        --logger "console;verbosity=minimal" --filter "${SQUEEZE_TEST_FILTER:-Category!=Verify}"
}

cmd_verify() {
    cmd_build
    log "full verification (slow)"
    dotnet test "$ROOT/SqueezeNative.sln" -c "$CONFIGURATION" --no-build -nologo \
        --logger "console;verbosity=minimal" --filter "Category=Verify"
}

cmd_bindings() {
    ensure_deps
    log "regenerating bindings from cpp/include/squeeze_native.h"
    dotnet run --project "$ROOT/src/SqueezeNative.BindGen" -c "$CONFIGURATION" -- \
        --header "$ROOT/cpp/include/squeeze_native.h" \
        --out "$ROOT/src/SqueezeNative.Bindings/Generated"
}

cmd_demo() {
    cmd_build
    local model="$SQUEEZE_SHARED/models/llama"
    [ -d "$model" ] || die "default model not found at $model (set SQUEEZE_SHARED)"
    log "squeeze inspect $model"
    squeeze inspect "$model"
    log "squeeze generate $model (greedy, CPU)"
    squeeze generate "$model" --prompt "The President of the United States said that" --max-tokens 48
    log "squeeze eval $model --dataset wikitext2 --limit 4"
    squeeze eval "$model" --dataset wikitext2 --limit 4
}

cmd_bench() {
    cmd_build
    squeeze bench "$@"
}

cmd_gpu_bundle() {
    ensure_deps
    exec "$ROOT/tools/gpu/make-bundle.sh" "$@"
}

verb="${1:-build}"; shift || true
case "$verb" in
    build) cmd_build ;;
    test) cmd_test ;;
    verify) cmd_verify ;;
    bindings) cmd_bindings ;;
    demo) cmd_demo ;;
    bench) cmd_bench "$@" ;;
    gpu-bundle) cmd_gpu_bundle "$@" ;;
    -h|--help|help) sed -n '2,12p' "$0" ;;
    *) die "unknown verb '$verb' (build | test | verify | bindings | demo | bench | gpu-bundle)" ;;
esac
