#!/usr/bin/env bash
# ./build.sh gpu-bundle [--models llama,mistral,opt] [--model-dir DIR]... [--out gpu-bundle]
#
# Gathers everything the GPU machine needs into one git-ignored folder (default gpu-bundle/):
#   squeeze/        the CLI, published self-contained and trimmed for linux-x64 (the GPU machine has no .NET)
#   cpp/            the native sources (CMake builds them there with nvcc)
#   googletest/     GoogleTest sources, for the native GPU tests (the GPU machine has no libgtest)
#   configs/        the real config.json files of ../shared/configs (synthetic benchmarks)
#   data/           WikiText-2, PTB, C4 and calibration text from ../shared/data
#   models/NAME.tar.xz   the chosen model folders from ../shared/models (and any --model-dir, e.g. a
#                        quantized checkpoint made here by `squeeze quantize`), compressed
#   quant-table.sh  the README's quantization results table (run-gpu.sh step table=NAME)
#   run-gpu.sh      builds libsqueezenative with CUDA, runs the GPU tests and benchmarks, writes results
#   profile-summary.py   per-kernel totals of an Nsight Compute CSV (run-gpu.sh step profile=...)
#   lut-timeline-summary.py  the LUT-GEMV's per-warp timeline in quantiles (run-gpu.sh step lut-timeline)
#   unpack.sh       run first on the GPU machine: expands payload.tar.xz (all but the models) and the models
# On the GPU machine:  gpu-bundle/unpack.sh && gpu-bundle/run-gpu.sh "$OUT" build test ...
# The whole folder must stay under the device tool's 64 MiB: pick models accordingly
# (llama 57 MB, mistral 46 MB, opt 39 MB uncompressed; send a big one in a call of its own).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SHARED="${SQUEEZE_SHARED:-$ROOT/../shared}"
OUT="$ROOT/gpu-bundle"
MODELS=""
MODEL_DIRS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --models) MODELS="$2"; shift 2 ;;
        --model-dir) MODEL_DIRS+=("$2"); shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        *) echo "make-bundle: unknown option '$1' (--models a,b | --model-dir DIR | --out DIR)" >&2; exit 2 ;;
    esac
done

rm -rf "$OUT.tmp"; mkdir -p "$OUT.tmp"
echo "==> publishing squeeze (self-contained, trimmed, linux-x64)"
dotnet publish "$ROOT/src/SqueezeNative.Cli" -c Release -r linux-x64 --self-contained true \
    -p:SqueezeTrimmed=true -p:DebugType=none -p:GenerateDocumentationFile=false \
    -o "$OUT.tmp/squeeze" -v quiet -nologo
rm -f "$OUT.tmp/squeeze/libsqueezenative.so"   # built for the GPU machine there, with CUDA
# Debugger support and alternative GCs of the runtime: not needed to run, 6 MB the tool must ship.
rm -f "$OUT.tmp/squeeze/"{libmscordbi.so,libmscordaccore.so,libclrgc.so,libclrgcexp.so,createdump}
cp -r "$ROOT/cpp" "$OUT.tmp/cpp"
rm -rf "$OUT.tmp/cpp/build"
cp -r /usr/src/googletest "$OUT.tmp/googletest"
cp "$ROOT/tools/gpu/run-gpu.sh" "$ROOT/tools/gpu/profile-summary.py" "$ROOT/tools/gpu/lut-timeline-summary.py" "$OUT.tmp/"
cp "$ROOT/tools/results/quant-table.sh" "$OUT.tmp/quant-table.sh"
# Evaluation and calibration data (squeeze eval/verify find it through SQUEEZE_SHARED=<bundle>).
mkdir -p "$OUT.tmp/data"
for d in wikitext2 ptb c4 calib; do cp -r "$SHARED/data/$d" "$OUT.tmp/data/$d"; done
# Real configs (config.json only) for `squeeze bench decode --synthetic` at real shapes.
for c in "$SHARED"/configs/*/; do mkdir -p "$OUT.tmp/configs/$(basename "$c")"; cp "$c/config.json" "$OUT.tmp/configs/$(basename "$c")/"; done
mkdir -p "$OUT.tmp/models"
IFS=',' read -ra names <<< "$MODELS"
for name in "${names[@]}"; do
    [ -n "$name" ] || continue
    [ -d "$SHARED/models/$name" ] || { echo "make-bundle: no model '$name' in $SHARED/models" >&2; exit 2; }
    echo "==> packing model $name"
    tar -C "$SHARED/models" -cf - "$name" | xz -9 -T0 -c > "$OUT.tmp/models/$name.tar.xz"
done
for dir in "${MODEL_DIRS[@]}"; do
    [ -f "$dir/config.json" ] || { echo "make-bundle: --model-dir $dir holds no config.json" >&2; exit 2; }
    echo "==> packing model folder $dir"
    tar -C "$(dirname "$dir")" -cf - "$(basename "$dir")" | xz -9 -T0 -c > "$OUT.tmp/models/$(basename "$dir").tar.xz"
done
# Everything but the models and the two scripts travels as one xz payload (the device tool ships at
# most 64 MiB with the tree); unpack.sh restores it on the GPU machine (xz or Python's lzma).
tar -C "$OUT.tmp" -cf - squeeze cpp googletest data configs | xz -9 -T0 -c > "$OUT.tmp/payload.tar.xz"
rm -rf "$OUT.tmp/squeeze" "$OUT.tmp/cpp" "$OUT.tmp/googletest" "$OUT.tmp/data" "$OUT.tmp/configs"
cp "$ROOT/tools/gpu/unpack.sh" "$OUT.tmp/unpack.sh"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
du -sh "$OUT" "$OUT"/* | sed 's/^/   /'
size=$(du -sb "$OUT" | cut -f1)
if [ "$size" -gt $((60 * 1024 * 1024)) ]; then
    echo "make-bundle: warning: bundle is $((size / 1024 / 1024)) MiB; the device tool ships at most 64 MiB with the tree" >&2
fi
