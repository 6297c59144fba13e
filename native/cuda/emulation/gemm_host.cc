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
 * float tolerance).
 */
#include <cmath>
#include <cstdint>

#include "backend.h"

namespace lshlab_cuda {

int gemm(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
         const float* B, int ldb, float beta, float* C, int ldc, const float* bias, int gelu,
         float* pre_gelu) {
  clear_error();
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0) return fail(1, "gemm", "K = 0 is not supported by the CUDA GEMM yet");
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        const float a = transA ? A[int64_t(k) * lda + i] : A[int64_t(i) * lda + k];
        const float b = transB ? B[int64_t(j) * ldb + k] : B[int64_t(k) * ldb + j];
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

}  // namespace lshlab_cuda
