/*
 * gemm_host.cc (emulation): the backend's `gemm` entry as a host loop, standing in for
 * gemm_lt.cc (cuBLASLt runs only on a GPU) so the emulated library is whole and tests that run
 * a full training step through the ABI (GEMMs included) can run on any machine. check.sh
 * compiles it instead of gemm_lt.cc. It checks the callers' use of the GEMM semantics, not
 * cuBLASLt.
 *
 * Semantics, as backend/cuda_abi.h and gemm_lt.cc: row-major C (M,N) = alpha op(A) op(B)
 * + beta C (C not read when beta = 0), + bias[n] (bias may be NULL), then if gelu: the
 * pre-activation is stored in pre_gelu (same ldc layout) when given, and C = erf-GELU of the
 * float pre-activation in float (as elementwise.cu's epilogue). K <= 0 fails as gemm_lt.cc
 * does. Products accumulate in double (more accurate than the device; well within the tests'
 * float tolerance). gemm_set_precision's mode is per host thread, as in gemm_lt.cc:
 *   - bf16 (mode 2) is emulated: every element of op A and op B is rounded to bf16 (round to
 *     nearest even, as bf16_convert.cu) before the loop, so the emulated bf16 training tests
 *     see bf16 GEMM numerics (the device accumulates the exact bf16 products in fp32, this loop
 *     in double: the difference is fp32 accumulation rounding, far below bf16's 2^-9);
 *   - tf32 (mode 1) is accepted and NOT emulated (no 10-bit rounding here), so tf32 tests pass
 *     trivially in the emulation and check only the plumbing; a GPU run checks TF32 itself.
 */
#include <cmath>
#include <cstdint>
#include <cstring>

#include "backend.h"

namespace lshlab_cuda {
namespace {

thread_local int t_precision = 0;  // 0 fp32, 1 tf32 (not emulated), 2 bf16

// x rounded to bf16 (nearest even; NaN kept) and widened back to float.
float round_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return x;
  u = ((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16) << 16;
  std::memcpy(&x, &u, sizeof u);
  return x;
}

}  // namespace

int gemm(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
         const float* B, int ldb, float beta, float* C, int ldc, const float* bias, int gelu,
         float* pre_gelu) {
  clear_error();
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0) return fail(1, "gemm", "K = 0 is not supported by the CUDA GEMM yet");
  const bool bf16 = t_precision == 2;
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        float a = transA ? A[int64_t(k) * lda + i] : A[int64_t(i) * lda + k];
        float b = transB ? B[int64_t(j) * ldb + k] : B[int64_t(k) * ldb + j];
        if (bf16) { a = round_bf16(a); b = round_bf16(b); }
        acc += double(a) * double(b);
      }
      float* c = C + int64_t(i) * ldc + j;
      double v = double(alpha) * acc;
      if (beta != 0.f) v += double(beta) * double(*c);
      if (bias) v += double(bias[j]);
      const float pre = float(v);
      if (!gelu) {
        *c = pre;
        continue;
      }
      if (pre_gelu) pre_gelu[int64_t(i) * ldc + j] = pre;
      *c = 0.5f * pre * (1.f + erff(pre * 0.70710678118654752f));
    }
  }
  return 0;
}

// The mode is checked as gemm_lt.cc checks it; bf16 is honoured above, tf32 is not emulated.
int gemm_set_precision(int mode) {
  clear_error();
  if (mode < 0 || mode > 2) return fail(1, "gemm_set_precision", "mode must be 0 (fp32), 1 (tf32) or 2 (bf16)");
  t_precision = mode;
  return 0;
}

}  // namespace lshlab_cuda
