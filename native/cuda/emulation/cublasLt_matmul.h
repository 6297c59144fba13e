/*
 * cublasLt_matmul.h (emulation, included by cublasLt.h): cublasLtMatmulAlgoGetHeuristic and
 * cublasLtMatmul on the host. The rules they enforce and the numerics are listed in cublasLt.h's
 * header; this file is their code. An "algorithm" records what it was chosen for (operation,
 * problem, alignments per matrix and for the bias, workspace) in cublasLtMatmulAlgo_t's words.
 */
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

namespace emu_lt {

constexpr uint64_t kAlgoMagic = 0x454d554c54414c47ull;  // "EMULTALG"
constexpr uint64_t kWorkspaceNeed = 64 << 10;             // what an algorithm asks of MAX_WORKSPACE

// What one matmul is: the checked operands of a descriptor and four layouts.
struct Problem {
  uint64_t m = 0, n = 0, k = 0;
  size_t ab_size = 4;  // bytes per A/B element (2 for bf16)
  uint64_t op_sig = 0, shape_sig = 0;
};

inline uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull + (h >> 29); }

// Validates desc + layouts as cuBLASLt's heuristic and matmul do; fills p.
inline cublasStatus_t check_problem(const char* fn, Desc* d, Layout* a, Layout* b, Layout* c, Layout* dd,
                                    Problem* p) {
  if (!is_live(d)) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "the matmul descriptor is NULL or not live");
  Layout* ls[4] = {a, b, c, dd};
  for (int i = 0; i < 4; i++)
    if (!is_live(ls[i])) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "layout %c is NULL or not live", "ABCD"[i]);
  if (a->type != b->type || c->type != CUDA_R_32F || dd->type != CUDA_R_32F || d->scale != CUDA_R_32F ||
      !((d->compute == CUBLAS_COMPUTE_32F && (a->type == CUDA_R_32F || a->type == CUDA_R_16BF)) ||
        (d->compute == CUBLAS_COMPUTE_32F_FAST_TF32 && a->type == CUDA_R_32F)))
    return refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn,
                  "compute %d, scale %d, A %d, B %d, C %d, D %d is not in cublasLtMatmul's type table (as emulated)",
                  d->compute, d->scale, a->type, b->type, c->type, dd->type);
  for (int i = 0; i < 4; i++) {
    if (ls[i]->rows == 0 || ls[i]->cols == 0 || ls[i]->rows > INT32_MAX || ls[i]->cols > INT32_MAX)
      return refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn, "layout %c is %llu x %llu (empty or past int32: not emulated)",
                    "ABCD"[i], (unsigned long long)ls[i]->rows, (unsigned long long)ls[i]->cols);
    if (ls[i]->ld < int64_t(ls[i]->rows))  // CUBLASLT_MATRIX_LAYOUT_LD: >= rows for column order
      return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "layout %c: ld %lld < rows %llu (columns would overlap)",
                    "ABCD"[i], (long long)ls[i]->ld, (unsigned long long)ls[i]->rows);
  }
  p->m = dd->rows;
  p->n = dd->cols;
  p->k = d->transa ? a->rows : a->cols;
  const uint64_t am = d->transa ? a->cols : a->rows;
  const uint64_t bk = d->transb ? b->cols : b->rows, bn = d->transb ? b->rows : b->cols;
  if (am != p->m || bk != p->k || bn != p->n || c->rows != p->m || c->cols != p->n)
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn,
                  "shapes disagree: D %llux%llu, op%s(A) %llux%llu, op%s(B) %llux%llu, C %llux%llu",
                  (unsigned long long)p->m, (unsigned long long)p->n, d->transa ? "T" : "N",
                  (unsigned long long)am, (unsigned long long)p->k, d->transb ? "T" : "N", (unsigned long long)bk,
                  (unsigned long long)bn, (unsigned long long)c->rows, (unsigned long long)c->cols);
  if (d->epilogue == CUBLASLT_EPILOGUE_BIAS) {
    if (!d->bias) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "EPILOGUE_BIAS with BIAS_POINTER NULL");
    if (d->bias_type != -1 && d->bias_type != dd->type)  // the bias is of D's type (BIAS_DATA_TYPE)
      return refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn, "bias type %d with D of type %d", d->bias_type, dd->type);
  }
  p->ab_size = a->type == CUDA_R_16BF ? 2 : 4;
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint64_t v : {uint64_t(d->compute), uint64_t(a->type), uint64_t(d->transa), uint64_t(d->transb),
                     uint64_t(d->epilogue)})
    h = mix(h, v);
  p->op_sig = h;
  for (int i = 0; i < 4; i++) h = mix(mix(mix(h, ls[i]->rows), ls[i]->cols), uint64_t(ls[i]->ld));
  p->shape_sig = h;
  return CUBLAS_STATUS_SUCCESS;
}

inline uint32_t pow2_align(uintptr_t v, uint32_t cap) {  // largest power of two <= cap dividing v
  uint32_t a = cap;
  while (a > 1 && v % a) a /= 2;
  return a;
}

// x rounded to TF32: 10 explicit mantissa bits, to nearest, ties away from zero; inf/NaN kept.
inline float tf32_rn(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, 4);
  return x;
}
inline float load(const void* base, size_t es, int64_t i) {
  if (es == 4) return static_cast<const float*>(base)[i];
  const uint32_t u = uint32_t(static_cast<const uint16_t*>(base)[i]) << 16;  // bf16: fp32's top half
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
// acc[i] = fma(a[q * m + i], b[q], acc[i]) for q = 0, 1, ..., k - 1: each element's products in
// increasing q, one rounding each (fused), the same numbers in both builds; the AVX2/FMA one
// (chosen at run time) is the generic one vectorised over i.
inline void accumulate_generic(float* acc, const float* a, const float* b, uint64_t m, uint64_t k) {
  for (uint64_t q = 0; q < k; q++)
    for (uint64_t i = 0; i < m; i++) acc[i] = std::fma(a[q * m + i], b[q], acc[i]);
}
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2,fma"))) inline void accumulate_fma(float* acc, const float* a, const float* b,
                                                               uint64_t m, uint64_t k) {
  for (uint64_t q = 0; q < k; q++)
    for (uint64_t i = 0; i < m; i++) acc[i] = std::fma(a[q * m + i], b[q], acc[i]);
}
inline void accumulate(float* acc, const float* a, const float* b, uint64_t m, uint64_t k) {
  static const bool has_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  has_fma ? accumulate_fma(acc, a, b, m, k) : accumulate_generic(acc, a, b, m, k);
}
#else
inline void accumulate(float* acc, const float* a, const float* b, uint64_t m, uint64_t k) {
  accumulate_generic(acc, a, b, m, k);
}
#endif
// Bytes a column-major layout spans from its pointer.
inline uint64_t span(const Layout* l, size_t es) { return ((l->cols - 1) * uint64_t(l->ld) + l->rows) * es; }
inline bool overlap(const void* a, uint64_t na, const void* b, uint64_t nb) {
  const uintptr_t x = reinterpret_cast<uintptr_t>(a), y = reinterpret_cast<uintptr_t>(b);
  return x < y + nb && y < x + na;
}

}  // namespace emu_lt

inline cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t d,
                                                     cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                     cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dd,
                                                     cublasLtMatmulPreference_t pref, int requested,
                                                     cublasLtMatmulHeuristicResult_t results[], int* found) {
  using namespace emu_lt;
  const char* fn = "cublasLtMatmulAlgoGetHeuristic";
  if (!is_live(h)) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, fn, "the handle is NULL or not live");
  if (!found || !results) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "results or returnAlgoCount is NULL");
  *found = 0;
  if (requested <= 0) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "requestedAlgoCount %d <= 0", requested);
  if (!is_live(pref)) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "the preference is NULL or not live");
  Problem p;
  if (cublasStatus_t s = check_problem(fn, d, a, b, c, dd, &p)) return s;
  // Alignment per matrix: pointer (the preference) and ld in bytes (ALGO_CAP_MIN_ALIGNMENT_*).
  const Layout* ls[4] = {a, b, c, dd};
  uint64_t packed = 0;
  for (int i = 0; i < 4; i++) {
    const uint32_t es = i < 2 ? uint32_t(p.ab_size) : 4u;
    const uint32_t al = pow2_align(pref->align[i], pow2_align(uintptr_t(ls[i]->ld) * es, 16));
    if (al < es)
      return refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn, "MIN_ALIGNMENT_%c_BYTES %u is below the %u-byte element",
                    "ABCD"[i], pref->align[i], es);
    packed |= uint64_t(al) << (8 * i);
  }
  if (d->epilogue == CUBLASLT_EPILOGUE_BIAS) {
    const uint32_t al = pow2_align(reinterpret_cast<uintptr_t>(d->bias), 16);
    if (al < 4) return refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn, "BIAS_POINTER is not 4-byte aligned");
    packed |= uint64_t(al) << 32;
  }
  std::memset(&results[0], 0, sizeof results[0]);
  cublasLtMatmulAlgo_t& algo = results[0].algo;
  algo.data[0] = kAlgoMagic;
  algo.data[1] = p.op_sig;
  algo.data[2] = p.shape_sig;
  algo.data[3] = packed;
  algo.data[4] = pref->max_workspace < kWorkspaceNeed ? pref->max_workspace : kWorkspaceNeed;
  results[0].workspaceSize = size_t(algo.data[4]);
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.f;
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}

inline void run_matmul(const emu_lt::Problem& p, const emu_lt::Desc& dd, const emu_lt::Layout& la,
                       const emu_lt::Layout& lb, const emu_lt::Layout& lc, const emu_lt::Layout& ld,
                       float al, float be, const void* A, const void* B, const void* C, void* D,
                       void* workspace, uint64_t ws_bytes);

inline cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void* alpha, const void* A,
                                     cublasLtMatrixLayout_t adesc, const void* B, cublasLtMatrixLayout_t bdesc,
                                     const void* beta, const void* C, cublasLtMatrixLayout_t cdesc, void* D,
                                     cublasLtMatrixLayout_t ddesc, const cublasLtMatmulAlgo_t* algo, void* workspace,
                                     size_t workspace_bytes, cudaStream_t stream) {
  using namespace emu_lt;
  const char* fn = "cublasLtMatmul";
  if (!is_live(h)) return refuse(CUBLAS_STATUS_NOT_INITIALIZED, fn, "the handle is NULL or not live");
  Problem p;
  if (cublasStatus_t s = check_problem(fn, d, adesc, bdesc, cdesc, ddesc, &p)) return s;
  if (!alpha || !beta) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "alpha or beta is NULL");
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  if (!A || !B || !D || (be != 0.f && !C))
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "A, B, D (and C when beta != 0) must not be NULL");
  cublasLtMatmulAlgo_t own;
  if (!algo) {  // NULL: an implicit heuristic query with default preferences
    cublasLtMatmulPreference_t pref = nullptr;
    cublasLtMatmulHeuristicResult_t r;
    int n = 0;
    cublasLtMatmulPreferenceCreate(&pref);
    const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(h, d, adesc, bdesc, cdesc, ddesc, pref, 1, &r, &n);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s || n == 0) return s ? s : CUBLAS_STATUS_NOT_SUPPORTED;
    own = r.algo;
    algo = &own;
  }
  if (algo->data[0] != kAlgoMagic)
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "algo was not returned by cublasLtMatmulAlgoGetHeuristic");
  if (algo->data[1] != p.op_sig)
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "algo was chosen for another operation (types, ops, epilogue)");
  if (algo->data[2] != p.shape_sig)
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn,
                  "algo was chosen for another problem (sizes or leading dims; the emulation's stricter rule)");
  // Alignment: each buffer as the algorithm was chosen for (MIN_ALIGNMENT_* / BIAS_POINTER).
  const void* ptr[4] = {A, B, C, D};
  for (int i = 0; i < 4; i++) {
    const uint32_t need = uint32_t(algo->data[3] >> (8 * i)) & 0xffu;
    if (ptr[i] && reinterpret_cast<uintptr_t>(ptr[i]) % need)
      return refuse(CUBLAS_STATUS_INVALID_VALUE, fn,
                    "%c at %p is not %u-byte aligned, as the algorithm chosen under MIN_ALIGNMENT_%c_BYTES needs",
                    "ABCD"[i], ptr[i], need, "ABCD"[i]);
  }
  const bool with_bias = d->epilogue == CUBLASLT_EPILOGUE_BIAS;
  const uint32_t bias_need = uint32_t(algo->data[3] >> 32) & 0xffu;
  if (with_bias && reinterpret_cast<uintptr_t>(d->bias) % bias_need)
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn,
                  "BIAS_POINTER %p is not %u-byte aligned, as it was when the algorithm was chosen", d->bias, bias_need);
  if (workspace_bytes < algo->data[4] || (algo->data[4] && !workspace))
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "workspace %p of %zu bytes; the algorithm needs %llu", workspace,
                  workspace_bytes, (unsigned long long)algo->data[4]);
  // Every byte read or written lies inside one cudaMalloc allocation; D overlaps no input.
  const uint64_t bytes[4] = {span(adesc, p.ab_size), span(bdesc, p.ab_size), span(cdesc, 4), span(ddesc, 4)};
  const bool reads_c = be != 0.f;
  for (int i = 0; i < 4; i++) {
    if (i == 2 && !reads_c) continue;
    const int64_t left = emu::device_bytes_from(ptr[i]);
    if (left < 0 || uint64_t(left) < bytes[i])
      return refuse(CUBLAS_STATUS_EXECUTION_FAILED, fn, "%c spans %llu bytes from %p; its allocation has %lld left",
                    "ABCD"[i], (unsigned long long)bytes[i], ptr[i], (long long)left);
  }
  if (with_bias && (emu::device_bytes_from(d->bias) < int64_t(p.m * 4)))
    return refuse(CUBLAS_STATUS_EXECUTION_FAILED, fn, "the bias (%llu floats) runs past its allocation",
                  (unsigned long long)p.m);
  if (workspace_bytes && workspace && emu::device_bytes_from(workspace) < int64_t(workspace_bytes))
    return refuse(CUBLAS_STATUS_EXECUTION_FAILED, fn, "the workspace runs past its allocation");
  for (int i = 0; i < 2; i++)
    if (overlap(D, bytes[3], ptr[i], bytes[i]))
      return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "D overlaps %c (a GPU would race)", "AB"[i]);
  if (with_bias && overlap(D, bytes[3], d->bias, p.m * 4))
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "D overlaps the bias");
  if (C == D && (cdesc->ld != ddesc->ld))
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "in place (C == D) needs Cdesc == Ddesc; ldc %lld, ldd %lld",
                  (long long)cdesc->ld, (long long)ddesc->ld);
  if (C != D && reads_c && overlap(C, bytes[2], D, bytes[3]))
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "C and D overlap without being the same matrix");
  for (int i = 0; i < 4; i++)
    if (algo->data[4] && ptr[i] && (i != 2 || reads_c) && overlap(workspace, algo->data[4], ptr[i], bytes[i]))
      return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "the workspace overlaps %c", "ABCD"[i]);
  // The product runs on the stream: now, or when a captured graph replays (stream capture,
  // cuda_runtime_api.h), so it keeps copies of the descriptors (the caller destroys them).
  const Desc dd = *d;
  const Layout la = *adesc, lb = *bdesc, lc = *cdesc, ld = *ddesc;
  const uint64_t ws_bytes = algo->data[4];
  emu::stream_op(stream, [=] { run_matmul(p, dd, la, lb, lc, ld, al, be, A, B, C, D, workspace, ws_bytes); });
  return CUBLAS_STATUS_SUCCESS;
}

// The arithmetic of cublasLtMatmul, after its checks (descriptors by value).
inline void run_matmul(const emu_lt::Problem& p, const emu_lt::Desc& dd, const emu_lt::Layout& la,
                       const emu_lt::Layout& lb, const emu_lt::Layout& lc, const emu_lt::Layout& ld,
                       float al, float be, const void* A, const void* B, const void* C, void* D,
                       void* workspace, uint64_t ws_bytes) {
  using namespace emu_lt;
  const Desc* d = &dd;
  const Layout *adesc = &la, *bdesc = &lb, *cdesc = &lc, *ddesc = &ld;
  const bool with_bias = d->epilogue == CUBLASLT_EPILOGUE_BIAS;
  const bool reads_c = be != 0.f;
  if (ws_bytes) std::memset(workspace, 0xA5, size_t(ws_bytes));  // as split-K partials would
  // op(A) dense column-major (m x k), op(B) as n rows of k, rounded to TF32 if asked.
  const uint64_t m = p.m, n = p.n, k = p.k;
  const bool tf32 = d->compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  thread_local std::vector<float> pa, pb, acc;
  pa.resize(m * k);
  pb.resize(n * k);
  acc.resize(m);
  for (uint64_t q = 0; q < k; q++)
    for (uint64_t i = 0; i < m; i++) {
      const float v = load(A, p.ab_size, int64_t(d->transa ? q + i * adesc->ld : i + q * adesc->ld));
      pa[q * m + i] = tf32 ? tf32_rn(v) : v;
    }
  for (uint64_t j = 0; j < n; j++)
    for (uint64_t q = 0; q < k; q++) {
      const float v = load(B, p.ab_size, int64_t(d->transb ? j + q * bdesc->ld : q + j * bdesc->ld));
      pb[j * k + q] = tf32 ? tf32_rn(v) : v;
    }
  const float* bias = static_cast<const float*>(with_bias ? d->bias : nullptr);
  const float* c = static_cast<const float*>(C);
  float* out = static_cast<float*>(D);
  for (uint64_t j = 0; j < n; j++) {
    std::fill(acc.begin(), acc.end(), 0.f);
    accumulate(acc.data(), pa.data(), &pb[j * k], m, k);
    for (uint64_t i = 0; i < m; i++) {
      float t = al * acc[i];
      if (reads_c) t += be * c[i + j * cdesc->ld];
      if (bias) t += bias[i];
      out[i + j * ddesc->ld] = t;
    }
  }
}
