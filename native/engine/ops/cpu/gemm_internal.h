/*
 * gemm_internal.h: private contract between gemm.cc (dispatch, threading, reference) and the
 * per-ISA kernel files gemm_portable.cc / gemm_avx2.cc / gemm_avx512.cc. Not part of the
 * engine's API; nothing outside ops/cpu/gemm*.cc includes it.
 */
#pragma once
#include "ops/cpu/gemm.h"

namespace lshlab {
namespace gemm_detail {

// One float GEMM call, already validated (M, N, K > 0 and alpha != 0).
struct GemmArgs {
  bool transA, transB;
  int M, N, K;
  float alpha;
  const float* A;
  int lda;
  const float* B;
  int ldb;
  float beta;
  float* C;
  int ldc;
  const GemmEpilogue<float>* ep;  // null, or at least one of bias / gelu set
};

// A compiled kernel family. run() computes the C sub-block rows [m0,m1) x cols [n0,n1) of the
// whole product (all of K, beta and the epilogue included) with the caller's packing buffers,
// which hold at least pack_a_floats() / pack_b_floats() floats, 64-byte aligned.
struct KernelInfo {
  const char* name;
  int mr, nr;      // register block (micro-tile) of C
  int mc, kc, nc;  // cache blocks: A block mc x kc (L2), B block kc x nc (L3), B sliver kc x nr (L1)
  void (*run)(const GemmArgs& g, int m0, int m1, int n0, int n1, float* pack_a, float* pack_b);
  long pack_a_floats() const { return static_cast<long>(mc + mr) * kc; }
  long pack_b_floats() const { return static_cast<long>(nc + nr) * kc; }
};

// Each returns null when that kernel was not compiled in (e.g. a compiler without -mavx512f).
const KernelInfo* kernel_portable();
const KernelInfo* kernel_avx2();
const KernelInfo* kernel_avx512();

}  // namespace gemm_detail
}  // namespace lshlab
