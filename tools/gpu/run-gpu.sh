#!/usr/bin/env bash
# Runs on the GPU machine, from inside the bundle made by `./build.sh gpu-bundle`:
#   gpu-bundle/run-gpu.sh RESULTS_DIR [STEP ...]
# Steps (default: build test): build | test | sanitize | bench-native | verify | bench-kernels | bench-decode
# Everything it measures is written under RESULTS_DIR (the device tool's $OUT).
set -euo pipefail
B="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RES="${1:?usage: run-gpu.sh RESULTS_DIR [STEP ...]}"; shift
mkdir -p "$RES"
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(build test)
export SQUEEZE_NATIVE_LIBRARY="$B/build/libsqueezenative.so"
export SQUEEZE_SHARED="$B"
SQUEEZE="$B/squeeze/squeeze"

unpack_models() {
    mkdir -p "$B/models"
    for f in "$B"/models/*.tar.xz; do
        [ -e "$f" ] || continue
        name="$(basename "$f" .tar.xz)"
        [ -d "$B/models/$name" ] || python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.argv[1])).extractall(sys.argv[2])" "$f" "$B/models"
    done
}

for step in "${steps[@]}"; do
    echo "==> $step"
    case "$step" in
        build)
            nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RES/gpu.txt"
            gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
            cmake -S "$B/cpp" -B "$B/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSN_ENABLE_CUDA=ON \
                -DSN_GTEST_SOURCE_DIR="$B/googletest" > "$RES/cmake.log" 2>&1 || { tail -50 "$RES/cmake.log"; exit 1; }
            cmake --build "$B/build" -j "$(nproc)" >> "$RES/cmake.log" 2>&1 || { tail -80 "$RES/cmake.log"; exit 1; }
            unpack_models ;;
        test)
            ctest --test-dir "$B/build" --output-on-failure -j 4 2>&1 | tee "$RES/ctest.log" | tail -30 ;;
        sanitize)
            for t in "$B"/build/sn_tests_cuda; do
                compute-sanitizer --tool memcheck --error-exitcode 3 "$t" 2>&1 | tee "$RES/memcheck.log" | tail -15
            done ;;
        bench-native)
            # cuBLAS F16 GEMV at the LLaMA-7B shapes and the device-to-device copy bandwidth.
            "$B/build/sn_bench_cuda" 2>&1 | tee "$RES/bench-native.txt" ;;
        *)
            echo "run-gpu.sh: unknown step '$step'" >&2; exit 2 ;;
    esac
done
