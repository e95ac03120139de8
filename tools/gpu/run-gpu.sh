#!/usr/bin/env bash
# Runs on the GPU machine, inside the bundle made by `./build.sh gpu-bundle` (after unpack.sh):
#   gpu-bundle/run-gpu.sh RESULTS_DIR STEP...
# Steps:
#   build            CMake + nvcc build of libsqueezenative (CUDA on) and the native tests
#   test             ctest: every native test, including sn_tests_cuda (each CUDA op vs the CPU op) and
#                    sn_tests_lut_paths (every single-row LUT-GEMV override against the library's launch)
#   sanitize[=FILTER] compute-sanitizer memcheck over sn_tests_cuda (or the tests of a gtest FILTER)
#   bench-native     cuBLAS F16 GEMV at LLaMA-7B shapes + device copy bandwidth (sn_bench_cuda)
#   bench-lut[=ARGS] the LUT-GEMV kernels against cuBLAS fp16 (sn_bench_cuda --lut), with ARGS ('+' for
#                    spaces) passed on, e.g. bench-lut=--variant+s=4+--variant+x=2 or
#                    bench-lut=--lut-one+22016+4096+3+0+1+--swiglu; output in bench-lut-N.txt (N-th such step)
#   proto-rowlane[=ARGS] the pair-table LUT-GEMV prototype (cpp/tests/proto_rowlane_gemv.cu): its layout
#                    self-test, then every launch shape at M = 1, 2, 4, 8 for the issue's six products, each
#                    checked against a float64 reference and timed beside a read-only kernel (ARGS: '+' for
#                    spaces, e.g. proto-rowlane=2 for the first two shapes, --all for 8 splits at M = 1)
#   proto-rowlane-gemm[=SHAPES] the LUT-GEMM prototype on the same layout (cpp/tests/proto_rowlane_gemm.cu):
#                    M = 16 .. 256 for the first SHAPES of the issue's products (default 6), every launch
#                    shape checked against float64 on sampled rows, beside cuBLAS fp16 in the same run
#   proto-tilepair[=SHAPES] the pair table feeding mma A fragments (cpp/tests/proto_tilepair_gemv.cu):
#                    its layout self-test, then M = 1, 2, 4, 8, 16 for the first SHAPES of the issue's
#                    products (default 6), each launch shape checked against float64, beside a read-only kernel
#   eval=NAME[:LIMIT] squeeze eval models/NAME --device cuda (WikiText-2, LIMIT windows; e.g. a
#                    quantized folder packed with ./build.sh gpu-bundle --model-dir DIR)
#   verify=NAME      squeeze verify models/NAME --device cuda (reference ids, logits, full WikiText-2 ppl)
#   decode=CONFIG    squeeze bench decode --synthetic configs/CONFIG --device cuda --context 2048
#   decode-real=NAME squeeze bench decode models/NAME --device cuda
#   qdecode=CONFIG:BITS[:SPARSITY]
#                    squeeze bench decode --synthetic configs/CONFIG --wbits BITS --sparsity SPARSITY
#                    --device cuda (random SqueezeLLM model, then fp16, same run; cache = prompt + tokens)
#   kmeans=CONFIG:BITS[:SPARSITY]
#                    squeeze bench quantize --synthetic configs/CONFIG --wbits BITS --device cuda: the exact
#                    k-means (sn_kmeans_rows) of one layer's linears on random weights + Fisher, × layers,
#                    checked against the CPU op on a sample of rows
#   fisher-check=NAME
#                    squeeze bench fisher on a random model of models/NAME's shape, 4 windows of 512 tokens,
#                    on cuda and again on the CPU backend (same weights and windows): every Fisher matrix
#                    compared (relative L2 difference; fails above 5 %)
#   fisher=CONFIG[:WINDOWS]
#                    squeeze bench fisher --synthetic configs/CONFIG --device cuda --windows WINDOWS (default 100):
#                    the Fisher pass (forward + backward per 512-token window, accumulators downloaded) on a
#                    random fp16 model; per-window and download times, mean loss, peak memory
#   kernels          squeeze bench kernels --device cuda (default shapes, bits, sparsities, M), with
#                    RESULTS_DIR/kernels.json and kernels.svg
#   quantized=NAME   squeeze quantize models/NAME (3-bit, 0.45 % sparse, on the CPU) into RESULTS_DIR,
#                    then generate and eval (8 windows) of the quantized folder on cuda and on cpu
#   qfisher=NAME     squeeze quantize models/NAME (3-bit, 0.45 % sparse) with --device cpu and with
#                    --device cuda (Fisher pass and k-means on the GPU), each folder evaluated on cuda
#                    over the full WikiText-2: the GPU pass against the CPU's, stage times of both
#   table=NAME[:NSAMPLES]
#                    quant-table.sh models/NAME: RTN, GPTQ and SqueezeLLM (3/4 bits, sparsity 0 and
#                    0.45) quantized on this machine's CPU cores, every folder evaluated on cuda over
#                    the full WikiText-2 and C4 at seqlen 1024 (NSAMPLES calibration windows, default 100)
#   profile=CONFIG:BITS[:SPARSITY]
#                    Nsight Compute: the GPU time of every kernel of a short quantized decode run
#                    (then its fp16 run), as CSV in RESULTS_DIR/profile-*.csv (bits 16: fp16 alone)
#   ncu-lut=N:K:BITS:SPARSITY:M
#                    Nsight Compute's full set of metrics (stall reasons, issue slots, memory throughput) of
#                    one LUT-GEMV launch of sn_bench_cuda --lut-one N K BITS SPARSITY M, as text
#   lut-timeline[=ARGS] the library's LUT-GEMV at M = 1 with per-warp event times (sn_probe_lut_timeline,
#                    kernels/lut_gemv.cu built with SN_LUT_TIMELINE): lut-timeline.csv and its summary;
#                    ARGS ('+' for spaces): N K BITS STAGES X_PATH groups instead of the default cases
#                    (the library's launch beside x in shared memory, x_path 3, at 11008x4096, 4096x11008, 4096x4096)
#   ncu-pair=N:K:BITS:M:WARPS:DEPTH
#                    the same for the staged pair-table GEMV (kernels/lut_pair_gemv.cu) in one configuration,
#                    through sn_proto_tilepair --one N K BITS M WARPS DEPTH
# SN_CUDA_ARCHITECTURES (e.g. 90) limits the build to those architectures (faster; default 80;90).
# SN_RESULTS_TAR=FILE re-packs RESULTS_DIR into FILE (.tar.gz) after every step, so a call that runs
# past the device tool's limit still brings back every finished step's output as one file.
# Every step writes its output under RESULTS_DIR; a failing squeeze step does not stop the others,
# but makes the script exit non-zero at the end.
set -uo pipefail
B="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RES="${1:?usage: run-gpu.sh RESULTS_DIR STEP...}"; shift
mkdir -p "$RES"
# The build lives outside the bundle, so a warm machine keeps it when a new bundle is carried over.
BUILD="${SN_BUILD_DIR:-$B/../build/cuda}"
export SQUEEZE_NATIVE_LIBRARY="$BUILD/libsqueezenative.so"
export SQUEEZE_SHARED="$B"
SQUEEZE="$B/squeeze/squeeze"
failed=0

run() {  # name command...  — runs, tees to RES/name.txt, records failure
    local name="$1"; shift
    echo "==> $name: $*"
    "$@" 2>&1 | tee "$RES/$name.txt"
    local rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] || { echo "==> $name FAILED (exit $rc)"; failed=1; }
}

for step in "$@"; do
    case "$step" in
        build)
            nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RES/gpu.txt"
            gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
            [ -n "${SN_CUDA_ARCHITECTURES:-}" ] && gen+=(-DCMAKE_CUDA_ARCHITECTURES="$SN_CUDA_ARCHITECTURES")
            cmake -S "$B/cpp" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSN_ENABLE_CUDA=ON \
                -DSN_GTEST_SOURCE_DIR="$B/googletest" > "$RES/cmake.log" 2>&1 || { tail -50 "$RES/cmake.log"; exit 1; }
            cmake --build "$BUILD" -j "$(nproc)" >> "$RES/cmake.log" 2>&1 || { tail -80 "$RES/cmake.log"; exit 1; } ;;
        test)
            run ctest ctest --test-dir "$BUILD" --output-on-failure -j 4 ;;
        sanitize|sanitize=*)
            filter=(); [ "$step" != sanitize ] && filter=(--gtest_filter="${step#sanitize=}")
            run memcheck compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 3 "$BUILD/sn_tests_cuda" \
                "${filter[@]}" ;;
        bench-native)
            run bench-native "$BUILD/sn_bench_cuda" ;;
        bench-lut|bench-lut=*)
            lut_runs=$(( ${lut_runs:-0} + 1 )); extra=()
            [ "$step" != bench-lut ] && IFS=' ' read -r -a extra <<< "$(printf '%s' "${step#bench-lut=}" | tr '+' ' ')"
            run "bench-lut-$lut_runs" "$BUILD/sn_bench_cuda" --lut "${extra[@]}" ;;
        proto-rowlane|proto-rowlane=*)
            extra=(); [ "$step" != proto-rowlane ] && IFS=' ' read -r -a extra <<< "$(printf '%s' "${step#proto-rowlane=}" | tr '+' ' ')"
            cmake --build "$BUILD" --target sn_proto_rowlane >> "$RES/cmake.log" 2>&1 || { tail -40 "$RES/cmake.log"; failed=1; continue; }
            run proto-rowlane "$BUILD/sn_proto_rowlane" "${extra[@]}" ;;
        proto-rowlane-gemm|proto-rowlane-gemm=*)
            shapes=(); [ "$step" != proto-rowlane-gemm ] && shapes=("${step#proto-rowlane-gemm=}")
            cmake --build "$BUILD" --target sn_proto_rowlane_gemm >> "$RES/cmake.log" 2>&1 || { tail -40 "$RES/cmake.log"; failed=1; continue; }
            run proto-rowlane-gemm "$BUILD/sn_proto_rowlane_gemm" "${shapes[@]}" ;;
        proto-tilepair|proto-tilepair=*)
            shapes=(); [ "$step" != proto-tilepair ] && shapes=("${step#proto-tilepair=}")
            cmake --build "$BUILD" --target sn_proto_tilepair >> "$RES/cmake.log" 2>&1 || { tail -40 "$RES/cmake.log"; failed=1; continue; }
            run proto-tilepair "$BUILD/sn_proto_tilepair" "${shapes[@]}" ;;
        eval=*)
            spec="${step#eval=}"; IFS=: read -r name limit <<< "$spec"
            run "eval-$name" "$SQUEEZE" eval "$B/models/$name" --device cuda --dataset wikitext2 ${limit:+--limit "$limit"} ;;
        verify=*)
            name="${step#verify=}"; run "verify-$name" "$SQUEEZE" verify "$B/models/$name" --device cuda ;;
        decode=*)
            cfg="${step#decode=}"; run "decode-$cfg" "$SQUEEZE" bench decode --synthetic "$B/configs/$cfg" --device cuda --context 2048 ;;
        decode-real=*)
            name="${step#decode-real=}"; run "decode-real-$name" "$SQUEEZE" bench decode "$B/models/$name" --device cuda ;;
        qdecode=*)
            spec="${step#qdecode=}"; IFS=: read -r cfg bits sparsity <<< "$spec"
            run "qdecode-$cfg-w$bits-s${sparsity:-0}" "$SQUEEZE" bench decode --synthetic "$B/configs/$cfg" \
                --wbits "$bits" --sparsity "${sparsity:-0}" --device cuda ;;
        kmeans=*)
            spec="${step#kmeans=}"; IFS=: read -r cfg bits sparsity <<< "$spec"
            run "kmeans-$cfg-w${bits:-4}-s${sparsity:-0}" "$SQUEEZE" bench quantize --synthetic "$B/configs/$cfg" \
                --wbits "${bits:-4}" --sparsity "${sparsity:-0}" --device cuda ;;
        fisher-check=*)
            name="${step#fisher-check=}"
            run "fisher-check-$name" "$SQUEEZE" bench fisher --synthetic "$B/models/$name" --device cuda --windows 4 \
                --seqlen 512 --compare-cpu ;;
        fisher=*)
            spec="${step#fisher=}"; IFS=: read -r cfg windows <<< "$spec"
            run "fisher-$cfg-n${windows:-100}" "$SQUEEZE" bench fisher --synthetic "$B/configs/$cfg" \
                --device cuda --windows "${windows:-100}" ;;
        kernels)
            run kernels "$SQUEEZE" bench kernels --device cuda --json "$RES/kernels.json" --chart "$RES/kernels.svg" ;;
        qfisher=*)
            name="${step#qfisher=}"
            for dev in cpu cuda; do
                q="$RES/qf-$name-$dev"
                run "qfisher-$name-quantize-$dev" "$SQUEEZE" quantize "$B/models/$name" --wbits 3 --sparsity 0.45 \
                    --device "$dev" --out "$q" --force
                run "qfisher-$name-eval-$dev" "$SQUEEZE" eval "$q" --device cuda --dataset wikitext2
                rm -rf "$q"
            done ;;
        quantized=*)
            name="${step#quantized=}"; q="$RES/q-$name"
            run "quantize-$name" "$SQUEEZE" quantize "$B/models/$name" --wbits 3 --sparsity 0.45 --out "$q" --force
            for dev in cuda cpu; do
                run "qgenerate-$name-$dev" "$SQUEEZE" generate "$q" --device "$dev" --prompt "The capital of France is" --max-tokens 24
                run "qeval-$name-$dev" "$SQUEEZE" eval "$q" --device "$dev" --dataset wikitext2 --limit 8
            done ;;
        table=*)
            spec="${step#table=}"; IFS=: read -r name nsamples <<< "$spec"
            run "table-$name" env SQUEEZE="$SQUEEZE" "$B/quant-table.sh" "$B/models/$name" "$RES/table-$name" \
                --device cuda --nsamples "${nsamples:-100}"
            # The quantized folders are large; keep the table and the logs only.
            find "$RES/table-$name" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} + ;;
        profile=*)
            spec="${step#profile=}"; IFS=: read -r cfg bits sparsity <<< "$spec"
            args=(bench decode --synthetic "$B/configs/$cfg" --device cuda --prompt 8 --tokens 2 --repeat 1)
            [ "$bits" != 16 ] && args+=(--wbits "$bits" --sparsity "${sparsity:-0}")
            PATH="$PATH:/usr/local/cuda/bin" run "profile-$cfg-w$bits" ncu --csv --metrics gpu__time_duration.sum --clock-control none \
                --log-file "$RES/profile-$cfg-w$bits.csv" "$SQUEEZE" "${args[@]}"
            # Per kernel (name and grid): launches, median and total µs, largest first (the CSV is ~2 MB).
            python3 "$B/profile-summary.py" "$RES/profile-$cfg-w$bits.csv" > "$RES/profile-$cfg-w$bits-summary.txt" \
                && rm -f "$RES/profile-$cfg-w$bits.csv" ;;
        ncu-lut=*)
            spec="${step#ncu-lut=}"; IFS=: read -r n k bits sparsity m <<< "$spec"
            PATH="$PATH:/usr/local/cuda/bin" run "ncu-lut-$n-$k-w$bits-s$sparsity-m$m" ncu --set full --clock-control none \
                -k regex:lut_gemv --launch-skip 20 --launch-count 1 "$BUILD/sn_bench_cuda" --lut-one "$n" "$k" "$bits" "$sparsity" "$m" ;;
        lut-timeline|lut-timeline=*)
            extra=(); [ "$step" != lut-timeline ] && IFS=' ' read -r -a extra <<< "$(printf '%s' "${step#lut-timeline=}" | tr '+' ' ')"
            cmake --build "$BUILD" --target sn_probe_lut_timeline >> "$RES/cmake.log" 2>&1 || { tail -40 "$RES/cmake.log"; failed=1; continue; }
            run lut-timeline "$BUILD/sn_probe_lut_timeline" "$RES" "${extra[@]}"
            python3 "$B/lut-timeline-summary.py" "$RES/lut-timeline.csv" > "$RES/lut-timeline-summary.txt" 2>&1
            cat "$RES/lut-timeline-summary.txt" ;;
        ncu-pair=*)
            spec="${step#ncu-pair=}"; IFS=: read -r n k bits m warps depth <<< "$spec"
            cmake --build "$BUILD" --target sn_proto_tilepair >> "$RES/cmake.log" 2>&1 || { tail -40 "$RES/cmake.log"; failed=1; continue; }
            PATH="$PATH:/usr/local/cuda/bin" run "ncu-pair-$n-$k-w$bits-m$m-$warps-$depth" ncu --set full \
                -k regex:lut_pair_gemv --launch-skip 20 --launch-count 1 "$BUILD/sn_proto_tilepair" --one "$n" "$k" "$bits" "$m" "$warps" "$depth" ;;
        *)
            echo "run-gpu.sh: unknown step '$step'" >&2; exit 2 ;;
    esac
    [ -n "${SN_RESULTS_TAR:-}" ] && tar -C "$RES" -czf "$SN_RESULTS_TAR.tmp" . && mv "$SN_RESULTS_TAR.tmp" "$SN_RESULTS_TAR"
done
exit $failed
