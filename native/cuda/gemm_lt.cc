/*
 * gemm_lt.cc: row-major GEMM with bias / bias+GELU epilogues through cuBLASLt. Precision per
 * host thread (gemm_set_precision), a run's --precision:
 *   0 fp32 (default): CUBLAS_COMPUTE_32F, no TF32, so results match the CPU GEMM to float
 *     rounding;
 *   1 tf32: CUBLAS_COMPUTE_32F_FAST_TF32: tensor cores round the inputs to a 10-bit mantissa,
 *     fp32 accumulation and storage;
 *   2 bf16, autocast-style: op A and op B are rounded to bf16 (nearest even, bf16_convert.cu)
 *     into a library-owned scratch buffer, and cuBLASLt runs A/B CUDA_R_16BF, C/D CUDA_R_32F,
 *     CUBLAS_COMPUTE_32F (bf16 products are exact in fp32; accumulation, bias, output fp32).
 * Only the GEMMs change: every other kernel, the master weights, gradients and AdamW moments
 * stay fp32 (the callers hold fp32 only). Per thread because the mode is a run setting and the
 * engine already binds a run's device per thread (set_device) before each step.
 *
 *   C (M,N) = alpha op(A) op(B) + beta C  [+ bias (N) per column]  [then erf-GELU]
 *   op(A) (M,K): A (M,K) ld lda, or A^T of A stored (K,M);  op(B) (K,N): B (K,N) ld ldb, or B^T
 *   of B stored (N,K) (a Linear weight (out,in)). As ops/cpu/gemm.h.
 *
 * Row-major to cuBLAS's column-major: a row-major (R,S) matrix with leading dim ld is the
 * column-major (S,R) matrix with the same ld, so C^T = op(B)^T op(A)^T is computed with the
 * operands swapped: m' = N, n' = M, A' = B, B' = A, and the column-major bias epilogue (one
 * value per row of D^T, i.e. per column of C) is exactly bias[n]. The bias is fp32 in every
 * mode (cuBLASLt's bias type defaults to the D type, CUDA_R_32F; cublasLt.h's
 * CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE); should a cuBLASLt build find no bf16 algorithm with
 * the bias epilogue, the call runs without it and add_bias_rows adds the bias after.
 *
 * GELU: cuBLASLt's GELU epilogue is the tanh approximation, the engine's is erf-GELU, so the
 * bias epilogue writes the pre-activation (into pre_gelu, or C) and gelu_forward_strided
 * applies erf-GELU after. Descriptors are created per call (cheap, host-only); the handle, a
 * 32 MiB workspace and the bf16 scratch (grown to the largest pair of operands seen, 16-byte
 * aligned rows) are created once per process and held until it exits. The scratch is shared
 * by every thread (one stream), so a mutex covers its use from conversion to the enqueued
 * matmul. The heuristic's choice is cached per problem (types, ops, sizes, leading dims,
 * epilogue, operand and bias alignments: everything the query sees), because the query costs
 * more host time than launching a small GEMM and a training step asks the same few dozen
 * problems every step.
 */
#include <cublasLt.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <tuple>

#include "backend.h"

namespace lshlab_cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

// The calling thread's GEMM precision (gemm_set_precision): 0 fp32, 1 tf32, 2 bf16.
thread_local int t_precision = 0;

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

// The scratch for mode 2's bf16 operands (one per process, like the workspace; see the header).
struct Bf16Scratch {
  std::mutex mu;
  void* p = nullptr;
  size_t bytes = 0;
};

Bf16Scratch& bf16_scratch() {
  static Bf16Scratch s;
  return s;
}

// Grows the scratch (mu held) to at least `bytes`; the old buffer may still be read by queued
// GEMMs, so the stream drains before it is freed.
int grow_scratch(Bf16Scratch& s, size_t bytes) {
  if (bytes <= s.bytes) return 0;
  bytes = (bytes + (size_t(2) << 20) - 1) & ~((size_t(2) << 20) - 1);
  if (s.p) {
    if (int rc = check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize(bf16 scratch)")) return rc;
    if (int rc = check(cudaFree(s.p), "cudaFree(bf16 scratch)")) return rc;
    bump_scratch_generation();  // graphs captured with the old buffer must not replay (graph.cu)
    s.p = nullptr;
    s.bytes = 0;
  }
  if (int rc = check(cudaMalloc(&s.p, bytes), "cudaMalloc(bf16 GEMM scratch)")) return rc;
  s.bytes = bytes;
  return 0;
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// What cublasLtMatmulAlgoGetHeuristic sees of a call, and its answer (found = false: none).
// The bias entry is the bias pointer's alignment (0: no bias), not a flag: the heuristic reads
// BIAS_POINTER's value "to determine expected pointer alignment" (cublasLt.h,
// CUBLASLT_MATMUL_DESC_BIAS_POINTER), so an algorithm chosen for a 16-byte aligned bias may need
// it; the same problem with a less aligned bias (an ABI caller's bias + 1) must ask again.
using PlanKey = std::tuple<int, int, int, int, int, int, int, int, int64_t, int64_t, int, uint32_t, uint32_t,
                           uint32_t, uint32_t, uint32_t>;  // device first: GPUs may differ
struct Plan {
  bool found = false;
  cublasLtMatmulAlgo_t algo;
};
struct PlanCache {
  std::mutex mu;
  std::map<PlanKey, Plan> plans;
};
PlanCache& plan_cache() {
  static PlanCache c;
  return c;
}

// One cuBLASLt call in the column-major view: D' = alpha op'(A') op'(B') + beta C' [+ bias].
// A' = the row-major B operand (stored (transB ? N : K) rows), B' = the row-major A operand, of
// element type `type` with leading dims lda_, ldb_. *no_algo is set (and 0 returned) when the
// heuristic offers no algorithm, so the caller may retry without the bias epilogue.
int lt_matmul(LtState& st, cudaDataType_t type, cublasComputeType_t compute, int transA, int transB,
              int M, int N, int K, float alpha, const void* Aop, int64_t lda_, const void* Bop,
              int64_t ldb_, float beta, float* C, int ldc, float* D, const float* bias, bool* no_algo) {
  LtCall call;
  *no_algo = false;
  const cublasOperation_t opA = transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opB = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  int rc = 0;
  if ((rc = check_lt(cublasLtMatmulDescCreate(&call.op, compute, CUDA_R_32F), "cublasLtMatmulDescCreate")))
    return rc;
  if ((rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)),
                     "set TRANSA")) ||
      (rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)),
                     "set TRANSB")))
    return rc;
  if (bias) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    const int32_t bias_type = CUDA_R_32F;  // the default for D = fp32, stated
    if ((rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)),
                       "set EPILOGUE")) ||
        (rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                      sizeof(bias)),
                       "set BIAS_POINTER")) ||
        (rc = check_lt(cublasLtMatmulDescSetAttribute(call.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                      sizeof(bias_type)),
                       "set BIAS_DATA_TYPE")))
      return rc;
  }
  // Stored shapes (column-major rows, cols) of A' = B and B' = A before their op.
  const uint64_t a_rows = transB ? K : N, a_cols = transB ? N : K;
  const uint64_t b_rows = transA ? M : K, b_cols = transA ? K : M;
  if ((rc = check_lt(cublasLtMatrixLayoutCreate(&call.a, type, a_rows, a_cols, ldb_), "layout A")) ||
      (rc = check_lt(cublasLtMatrixLayoutCreate(&call.b, type, b_rows, b_cols, lda_), "layout B")) ||
      (rc = check_lt(cublasLtMatrixLayoutCreate(&call.c, CUDA_R_32F, N, M, ldc), "layout C")) ||
      (rc = check_lt(cublasLtMatrixLayoutCreate(&call.d, CUDA_R_32F, N, M, ldc), "layout D")))
    return rc;
  if ((rc = check_lt(cublasLtMatmulPreferenceCreate(&call.pref), "cublasLtMatmulPreferenceCreate")) ||
      (rc = check_lt(cublasLtMatmulPreferenceSetAttribute(call.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &kWorkspaceBytes, sizeof(kWorkspaceBytes)),
                     "set MAX_WORKSPACE_BYTES")))
    return rc;
  // A' = B, B' = A (the swap above); C is read only when beta != 0 but must be described anyway.
  const uint32_t align[4] = {alignment_of(Bop), alignment_of(Aop), alignment_of(C), alignment_of(D)};
  const cublasLtMatmulPreferenceAttributes_t align_attr[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (int i = 0; i < 4; i++)
    if ((rc = check_lt(cublasLtMatmulPreferenceSetAttribute(call.pref, align_attr[i], &align[i], sizeof(align[i])),
                       "set MIN_ALIGNMENT")))
      return rc;
  int device = 0;
  if ((rc = check(cudaGetDevice(&device), "cudaGetDevice"))) return rc;
  const PlanKey key{device, int(type), int(compute), transA, transB, M, N, K, lda_, ldb_, ldc,
                    bias ? alignment_of(bias) : 0u, align[0], align[1], align[2], align[3]};
  PlanCache& cache = plan_cache();
  Plan plan;
  bool cached = false;
  {
    std::lock_guard<std::mutex> l(cache.mu);
    auto it = cache.plans.find(key);
    if (it != cache.plans.end()) { plan = it->second; cached = true; }
  }
  if (!cached) {
    cublasLtMatmulHeuristicResult_t heur;
    std::memset(&heur, 0, sizeof heur);
    int found = 0;
    const cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(st.handle, call.op, call.a, call.b, call.c,
                                                             call.d, call.pref, 1, &heur, &found);
    if (hs != CUBLAS_STATUS_NOT_SUPPORTED && (rc = check_lt(hs, "cublasLtMatmulAlgoGetHeuristic"))) return rc;
    // A returned result is usable only if its state is SUCCESS (cublasLtMatmulHeuristicResult_t).
    plan.found = hs == CUBLAS_STATUS_SUCCESS && found > 0 && heur.state == CUBLAS_STATUS_SUCCESS;
    plan.algo = heur.algo;
    std::lock_guard<std::mutex> l(cache.mu);
    cache.plans.emplace(key, plan);
  }
  if (!plan.found) {
    *no_algo = true;
    return 0;
  }
  // beta reads C; with D = pre_gelu the C input is still C (D = alpha AB + beta C + bias).
  return check_lt(cublasLtMatmul(st.handle, call.op, &alpha, Bop, call.a, Aop, call.b, &beta, C, call.c, D,
                                 call.d, &plan.algo, st.workspace, kWorkspaceBytes, stream()),
                  "cublasLtMatmul");
}

// Mode 2: op A and op B rounded to bf16 into the scratch (stored layout kept, rows padded to a
// multiple of 8 elements), then one bf16 x bf16 -> fp32 call; the bias after, if no algorithm
// takes the epilogue.
int gemm_bf16(LtState& st, int transA, int transB, int M, int N, int K, float alpha, const float* A,
              int lda, const float* B, int ldb, float beta, float* C, int ldc, float* D, const float* bias) {
  const int ra = transA ? K : M, ca = transA ? M : K, rb = transB ? N : K, cb = transB ? K : N;
  const int64_t lda16 = round_up(ca, 8), ldb16 = round_up(cb, 8);
  const int64_t b_off = round_up(int64_t(ra) * lda16 * 2, 256);  // bytes; B' starts 256-aligned
  Bf16Scratch& s = bf16_scratch();
  std::lock_guard<std::mutex> lock(s.mu);
  if (int rc = grow_scratch(s, size_t(b_off + int64_t(rb) * ldb16 * 2))) return rc;
  uint16_t* a16 = static_cast<uint16_t*>(s.p);
  uint16_t* b16 = reinterpret_cast<uint16_t*>(static_cast<char*>(s.p) + b_off);
  if (int rc = f32_to_bf16_2d(a16, int(lda16), A, lda, ra, ca)) return rc;
  if (int rc = f32_to_bf16_2d(b16, int(ldb16), B, ldb, rb, cb)) return rc;
  bool no_algo = false;
  int rc = lt_matmul(st, CUDA_R_16BF, CUBLAS_COMPUTE_32F, transA, transB, M, N, K, alpha, a16, lda16, b16,
                     ldb16, beta, C, ldc, D, bias, &no_algo);
  if (rc || !no_algo) return rc;
  if (!bias) return fail(int(CUBLAS_STATUS_NOT_SUPPORTED), "gemm", "cuBLASLt found no bf16 algorithm");
  rc = lt_matmul(st, CUDA_R_16BF, CUBLAS_COMPUTE_32F, transA, transB, M, N, K, alpha, a16, lda16, b16, ldb16,
                 beta, C, ldc, D, nullptr, &no_algo);
  if (rc) return rc;
  if (no_algo) return fail(int(CUBLAS_STATUS_NOT_SUPPORTED), "gemm", "cuBLASLt found no bf16 algorithm");
  return add_bias_rows(D, ldc, bias, M, N);
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
  // The D output: pre_gelu when the pre-activation is kept, else C (GELU then runs in place).
  float* D = (gelu && pre_gelu) ? pre_gelu : C;
  int rc = 0;
  if (t_precision == 2) {
    rc = gemm_bf16(st, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, D, bias);
  } else {
    const cublasComputeType_t compute = t_precision == 1 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    bool no_algo = false;
    rc = lt_matmul(st, CUDA_R_32F, compute, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, D,
                   bias, &no_algo);
    if (!rc && no_algo) rc = fail(int(CUBLAS_STATUS_NOT_SUPPORTED), "gemm", "cuBLASLt found no algorithm");
  }
  if (rc) return rc;
  if (gelu) return gelu_forward_strided(C, ldc, D, ldc, M, N);
  return 0;
}

int gemm_set_precision(int mode) {
  clear_error();
  if (mode < 0 || mode > 2) return fail(1, "gemm_set_precision", "mode must be 0 (fp32), 1 (tf32) or 2 (bf16)");
  t_precision = mode;
  return 0;
}

}  // namespace lshlab_cuda
