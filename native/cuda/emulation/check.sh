#!/usr/bin/env bash
# check.sh DRIVER [WORKDIR]: runs the CUDA parity tests (`DRIVER test cuda/...`) against the
# kernels of native/cuda compiled for the HOST through the emulation in this folder, on any
# machine (no GPU, no nvcc). It checks the kernels' indexing, tiling and arithmetic against the
# float64 CPU references, and, compiled with AddressSanitizer where the compiler has it (the
# default; LSHLAB_EMU_ASAN=0 turns it off), every kernel's reads and writes against the bounds
# of its device buffers (each cudaMalloc is a host allocation with red zones), of dynamic and
# static shared memory and of its own stack: an out-of-bounds access stops the run naming the
# kernel, the line and the buffer's allocation. It cannot check races, what a GPU does past a
# bound that ASan has no red zone for, or speed (a GPU run of bench/gpu-check.sh does that:
# compute-sanitizer memcheck and racecheck). The GEMM is the real gemm_lt.cc compiled against cublasLt.h here, a
# host cuBLASLt written from NVIDIA's documentation: it refuses what the library refuses (shapes,
# leading dims, types, alignment, workspace, out-of-allocation spans) and computes with fp32
# accumulation, TF32-rounded operands under CUBLAS_COMPUTE_32F_FAST_TF32 and bf16 operands as
# bf16, so the tf32 and bf16 tests see those numerics. The -I order puts this folder first, so
# `#include <cublasLt.h>` and <cuda_runtime_api.h> find the emulated headers.
# Needs a C++20 compiler and <ucontext.h> (glibc: the fibers of fibers.h). Exit status: the
# tests' (0 = all passed).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CUDA_DIR="$(dirname "$HERE")"
ENGINE_DIR="$(dirname "$CUDA_DIR")/engine"
DRIVER="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
WORK="${2:-$(mktemp -d)}"
CXX="${CXX:-c++}"
mkdir -p "$WORK/gen"
if ! printf '#include <ucontext.h>\n#include <span>\nint main(){ucontext_t c;return getcontext(&c);}\n' |
     "$CXX" -std=c++20 -x c++ - -o "$WORK/probe" 2>/dev/null; then
  echo "skipped: $CXX has no C++20 or no <ucontext.h>; the CUDA kernels were not emulated"
  exit 0
fi
for f in "$CUDA_DIR"/*.cu "$CUDA_DIR"/*.cuh; do
  python3 "$HERE/translate.py" "$f" >"$WORK/gen/$(basename "$f").cc"
done
cp "$CUDA_DIR/backend.h" "$WORK/gen/"
# One object per file, as many compilers at once as there are cores, then one link.
FLAGS=(-std=c++20 -O2 -fPIC -DLSHLAB_CUDA_BUILDING_LIBRARY -I"$HERE" -I"$WORK/gen" -I"$ENGINE_DIR")
LINK=()
ASAN_RT=""
if [ "${LSHLAB_EMU_ASAN:-1}" != "0" ] &&
   printf 'int main(){return 0;}\n' | "$CXX" -fsanitize=address -x c++ - -o "$WORK/probe-asan" 2>/dev/null &&
   ASAN_RT="$("$CXX" -print-file-name=libasan.so)" && [ -f "$ASAN_RT" ]; then
  # -O1 keeps ASan's reports readable; ISO C++ (-std=c++20) contracts no FMAs at any level, so
  # the arithmetic is the -O2 build's.
  FLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address -fPIC -DLSHLAB_CUDA_BUILDING_LIBRARY
         -I"$HERE" -I"$WORK/gen" -I"$ENGINE_DIR")
  LINK=(-fsanitize=address)
  echo "AddressSanitizer: on (out-of-bounds accesses of device buffers, shared memory and stacks stop the run)"
else
  ASAN_RT=""
  if [ "${LSHLAB_EMU_ASAN:-1}" = "0" ]; then why="LSHLAB_EMU_ASAN=0"; else why="$CXX cannot build with -fsanitize=address"; fi
  echo "AddressSanitizer: off ($why): out-of-bounds accesses are not checked"
fi
rm -f "$WORK"/gen/*.o
export CXX WORK
printf '%s\0' "$WORK"/gen/*.cu.cc "$CUDA_DIR/gemm_lt.cc" "$CUDA_DIR/api.cc" |
  xargs -0 -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
    '"$CXX" "$@" -c "$0" -o "$WORK/gen/$(basename "$0").o"' {} "${FLAGS[@]}"
"$CXX" -shared "${LINK[@]}" "$WORK"/gen/*.o -o "$WORK/liblshlab_cuda_emulated.so" -lpthread
export LSHLAB_CUDA_LIBRARY="$WORK/liblshlab_cuda_emulated.so"
if [ -n "$ASAN_RT" ]; then
  # The driver is not instrumented: ASan's runtime must be loaded before the library it dlopens.
  # Leaks are not checked (the emulation keeps process-lifetime state).
  export LD_PRELOAD="$ASAN_RT${LD_PRELOAD:+:$LD_PRELOAD}"
  export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
"$DRIVER" info | grep -E '^(cuda|device)'
passed=0 failed=0
for prefix in cuda/loader cuda/layernorm cuda/gelu cuda/cross_entropy cuda/adamw cuda/attention cuda/train_ops cuda/gemm cuda/yoso cuda/bert_lsh cuda/reformer "cuda/train " cuda/graph; do
  out="$("$DRIVER" test "$prefix" 2>&1)" || true
  printf '%s\n' "$out" | grep -v -E '^[0-9]+ passed, ' || true  # no test lines: grep fails
  line="$(printf '%s\n' "$out" | tail -n 1)"
  p="$(printf '%s' "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\1/p')"
  f="$(printf '%s' "$line" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed.*/\2/p')"
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
done
echo "emulated CUDA kernels and gemm_lt.cc (on the emulated cuBLASLt of cublasLt.h):"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
