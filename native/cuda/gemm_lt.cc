/*
 * gemm_lt.cc: row-major GEMM with bias / bias+GELU epilogues through cuBLASLt, float32 compute
 * (CUBLAS_COMPUTE_32F: no TF32, so results match the CPU GEMM to float rounding).
 *
 *   C (M,N) = alpha op(A) op(B) + beta C  [+ bias (N) per column]  [then erf-GELU]
 *   op(A) (M,K): A (M,K) ld lda, or A^T of A stored (K,M);  op(B) (K,N): B (K,N) ld ldb, or B^T
 *   of B stored (N,K) (a Linear weight (out,in)). As ops/cpu/gemm.h.
 *
 * Row-major to cuBLAS's column-major: a row-major (R,S) matrix with leading dim ld is the
 * column-major (S,R) matrix with the same ld, so C^T = op(B)^T op(A)^T is computed with the
 * operands swapped: m' = N, n' = M, A' = B, B' = A, and the column-major bias epilogue (one
 * value per row of D^T, i.e. per column of C) is exactly bias[n].
 *
 * GELU: cuBLASLt's GELU epilogue is the tanh approximation, the engine's is erf-GELU, so the
 * bias epilogue writes the pre-activation (into pre_gelu, or C) and gelu_forward_strided
 * applies erf-GELU after. Descriptors are created per call (cheap, host-only); the handle and a
 * 32 MiB workspace are created once per process. Not cached yet: the heuristic query per call.
 */
#include <cublasLt.h>

#include <cstdint>
#include <mutex>

#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

struct LtState {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  int error = 0;
};

int check_lt(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return 0;
  return fail(int(s), what, cublasLtGetStatusString(s));
}

LtState& lt_state() {
  static LtState st;
  static std::once_flag once;
  std::call_once(once, [] {
    st.error = check_lt(cublasLtCreate(&st.handle), "cublasLtCreate");
    if (!st.error) st.error = check(cudaMalloc(&st.workspace, kWorkspaceBytes), "cudaMalloc(cuBLASLt workspace)");
  });
  return st;
}

// Owns the descriptors of one call and frees them however the call ends.
struct LtCall {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtCall() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// The alignment of p in bytes (its lowest set address bit, capped at 256): cuBLASLt assumes
// 256-byte aligned operands unless told, and engine views (qkv + C, a row offset) are not.
uint32_t alignment_of(const void* p) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  uint32_t al = 256;
  while (al > 4 && (a % al) != 0) al /= 2;
  return al;
}

}  // namespace

int gemm(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
         const float* B, int ldb, float beta, float* C, int ldc, const float* bias, int gelu,
         float* pre_gelu) {
  clear_error();
  if (M <= 0 || N <= 0) return 0;
  if (K <= 0) return fail(1, "gemm", "K = 0 is not supported by the CUDA GEMM yet");
  LtState& st = lt_state();
  if (st.error) return st.error;

  LtCall call;
  // Column-major view: D' (N,M) = op'(A') (N,K) * op'(B') (K,M), A' = B, B' = A.
  const cublasOperation_t opA = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opB = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  // The D output: pre_gelu when the pre-activation is kept, else C (GELU then runs in place).
  float* D = (gelu && pre_gelu) ? pre_gelu : C;
  int rc = 0;
  if ((rc = check_lt(cublasLtMatmulDescCreate(&call.op, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                     "cublasLtMatmulDescCreate")))
    return rc;
  if ((rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)),
                     "set TRANSA")) ||
      (rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)),
                     "set TRANSB")))
    return rc;
  if (bias) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    if ((rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
                       "set EPILOGUE")) ||
        (rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                      sizeof(bias)),
                       "set BIAS_POINTER")))
      return rc;
  }
  // Stored shapes (column-major rows, cols) of A' = B and B' = A before their op.
  const uint64_t a_rows = transB ? K : N, a_cols = transB ? N : K;
  const uint64_t b_rows = transA ? M : K, b_cols = transA ? K : M;
  if ((rc = check_lt(cublasLtMatrixLayoutCreate(&call.a, CUDA_R_32F, a_rows, a_cols, ldb), "layout A")) ||
      (rc = check_lt(cublasLtMatrixLayoutCreate(&call.b, CUDA_R_32F, b_rows, b_cols, lda), "layout B")) ||
      (rc = check_lt(cublasLtMatrixLayoutCreate(&call.c, CUDA_R_32F, N, M, ldc), "layout C")) ||
      (rc = check_lt(cublasLtMatrixLayoutCreate(&call.d, CUDA_R_32F, N, M, ldc), "layout D")))
    return rc;
  if ((rc = check_lt(cublasLtMatmulPreferenceCreate(&call.pref), "cublasLtMatmulPreferenceCreate")) ||
      (rc = check_lt(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &kWorkspaceBytes, sizeof(kWorkspaceBytes)),
                     "set MAX_WORKSPACE_BYTES")))
    return rc;
  // A' = B, B' = A (the swap above); C is read only when beta != 0 but must be described anyway.
  const uint32_t align[4] = {alignment_of(B), alignment_of(A), alignment_of(C), alignment_of(D)};
  const cublasLtMatmulPreferenceAttributes_t align_attr[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (int i = 0; i < 4; i++)
    if ((rc = check_lt(cublasLtMatmulPreferenceSetAttribute(call.pref, align_attr[i], &align[i], sizeof(align[i])),
                       "set MIN_ALIGNMENT")))
      return rc;
  cublasLtMatmulHeuristicResult_t heur;
  int found = 0;
  if ((rc = check_lt(cublasLtMatmulAlgoGetHeuristic(st.handle, call.op, call.a, call.b, call.c, call.d,
                                                    call.pref, 1, &heur, &found),
                     "cublasLtMatmulAlgoGetHeuristic")))
    return rc;
  if (found == 0) return fail(int(CUBLAS_STATUS_NOT_SUPPORTED), "gemm", "cuBLASLt found no algorithm");
  // beta reads C; with D = pre_gelu the C input is still C (D = alpha AB + beta C + bias).
  if ((rc = check_lt(cublasLtMatmul(st.handle, call.op, &alpha, B, call.a, A, call.b, &beta, C, call.c, D,
                                    call.d, &heur.algo, st.workspace, kWorkspaceBytes, stream()),
                     "cublasLtMatmul")))
    return rc;
  if (gelu) return gelu_forward_strided(C, ldc, D, ldc, M, N);
  return 0;
}

}  // namespace lshlab_cuda
