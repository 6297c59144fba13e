/*
 * cublasLt.h (emulation): the subset of cuBLASLt that native/cuda/gemm_lt.cc uses, on the host,
 * so check.sh compiles the real gemm_lt.cc (operand swap, transposes, leading dims, epilogue,
 * bf16 scratch, plan cache) and the parity tests run it. Written from NVIDIA's cuBLASLt
 * documentation (cublasLt.h of cuBLAS 13.1 and the cuBLAS guide), not from gemm_lt.cc, so it is
 * an independent check of how gemm_lt.cc calls the library:
 *
 *   - descriptors (handle, matmul desc, layouts, preferences) are live objects; each call checks
 *     its arguments (null pointers, destroyed objects, attribute ids and buffer sizes, values)
 *     and refuses what the library refuses, naming the rule on stderr;
 *   - layouts are column-major (CUBLASLT_ORDER_COL, the default): element (r, c) at r + c * ld;
 *     ld >= rows (CUBLASLT_MATRIX_LAYOUT_LD); op(A) m x k, op(B) k x n, C and D m x n must agree;
 *   - type combinations: compute 32F or 32F_FAST_TF32 with A/B/C/D CUDA_R_32F, and compute 32F
 *     with A/B CUDA_R_16BF, C/D CUDA_R_32F (the cublasLtMatmul type table); scale CUDA_R_32F;
 *   - CUBLASLT_EPILOGUE_BIAS: bias of D's rows (m) elements, packed, of D's type unless
 *     BIAS_DATA_TYPE says otherwise, broadcast over the columns: D(i, j) += bias[i];
 *   - cublasLtMatmulAlgoGetHeuristic picks an "algorithm" whose alignment per matrix (the
 *     CUBLASLT_ALGO_CAP_MIN_ALIGNMENT_* rule: it covers the buffer pointer AND the leading
 *     dimension in bytes) is the largest of 16, 8, 4 (2 for bf16) bytes dividing both the
 *     preference's MIN_ALIGNMENT (default 256) and ld * element size, and for the bias the
 *     alignment of BIAS_POINTER itself (the heuristic "depends on its value to determine expected
 *     pointer alignment"); none (NOT_SUPPORTED, 0 found) if a preference is below the element;
 *   - cublasLtMatmul refuses an algorithm chosen for another operation or problem (stricter than
 *     cuBLASLt, which may accept a compatible one: a plan cache keyed wrongly shows here), buffers
 *     less aligned than the algorithm needs (a GPU fails or faults), a workspace smaller than it
 *     needs, reads or writes past a cudaMalloc allocation (emu::device_bytes_from), D overlapping
 *     A, B or the workspace, and C == D with different layouts (in place needs Cdesc == Ddesc);
 *     the workspace it needs is overwritten, so a caller's data there would show.
 *
 * Numerics: D = alpha * op(A) op(B) + beta * C (+ bias); C is not read when beta == 0. Each
 * element accumulates its k products in fp32 with fused multiply-adds in increasing k, a fixed
 * order (a GPU's order differs, within fp32 rounding). CUBLAS_COMPUTE_32F_FAST_TF32 rounds every
 * element of A and B to TF32 (10 explicit mantissa bits, round to nearest, ties away from zero as
 * cvt.rna.tf32.f32) before the products, so tf32 runs show TF32 error here; CUDA_R_16BF operands
 * are read as bf16 (exact in fp32). The library cannot tell host from device pointers here:
 * device memory is host memory (cuda_runtime_api.h).
 */
#pragma once
#include <cuda_runtime_api.h>  // the emulated runtime: cudaStream_t, emu::device_bytes_from

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>

// ---- enums and structs, with cuBLAS 13's names and values (the subset gemm_lt.cc uses) ----
typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum cudaDataType_t { CUDA_R_32F = 0, CUDA_R_16BF = 14 } cudaDataType_t;
typedef cudaDataType_t cudaDataType;
typedef enum {
  CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0,  // int32_t
  CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1,    // int32_t (cudaDataType)
  CUBLASLT_MATMUL_DESC_POINTER_MODE = 2,  // int32_t; only host pointers (0) are emulated
  CUBLASLT_MATMUL_DESC_TRANSA = 3,        // int32_t (cublasOperation_t)
  CUBLASLT_MATMUL_DESC_TRANSB = 4,        // int32_t
  CUBLASLT_MATMUL_DESC_EPILOGUE = 7,      // uint32_t (cublasLtEpilogue_t)
  CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,  // const void*
  CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26  // int32_t; default -1: D's type
} cublasLtMatmulDescAttributes_t;
typedef enum { CUBLASLT_EPILOGUE_DEFAULT = 1, CUBLASLT_EPILOGUE_BIAS = 4 } cublasLtEpilogue_t;
typedef enum {
  CUBLASLT_MATMUL_PREF_SEARCH_MODE = 0,           // uint32_t
  CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,   // uint64_t, default 0
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5, // uint32_t, default 256 (B, C, D alike)
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
  CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8
} cublasLtMatmulPreferenceAttributes_t;
typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t;
typedef struct {
  cublasLtMatmulAlgo_t algo;
  size_t workspaceSize;
  cublasStatus_t state;
  float wavesCount;
  int reserved[4];
} cublasLtMatmulHeuristicResult_t;

namespace emu_lt {
struct Handle { int unused = 0; };
struct Desc {
  int compute, scale, transa = CUBLAS_OP_N, transb = CUBLAS_OP_N, pointer_mode = 0;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  int32_t bias_type = -1;
};
struct Layout { int type; uint64_t rows, cols; int64_t ld; };
struct Pref { uint64_t max_workspace = 0; uint32_t search = 0, align[4] = {256, 256, 256, 256}; };
}  // namespace emu_lt
typedef emu_lt::Handle* cublasLtHandle_t;
typedef emu_lt::Desc* cublasLtMatmulDesc_t;
typedef emu_lt::Layout* cublasLtMatrixLayout_t;
typedef emu_lt::Pref* cublasLtMatmulPreference_t;

inline const char* cublasLtGetStatusString(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized (emulated cuBLASLt)";
    case CUBLAS_STATUS_ALLOC_FAILED: return "resource allocation failed (emulated cuBLASLt)";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid value was used as an argument (emulated cuBLASLt)";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute (emulated cuBLASLt)";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported (emulated cuBLASLt)";
    default: return "an unknown cuBLAS status (emulated cuBLASLt)";
  }
}

namespace emu_lt {
// Says why on stderr, as the library's log would, and returns s.
inline cublasStatus_t refuse(cublasStatus_t s, const char* fn, const char* fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "emulated cuBLASLt: %s: %s (%s)\n", fn, msg, cublasLtGetStatusString(s));
  return s;
}
// Every live handle and descriptor: a destroyed or never-created one is refused.
inline std::mutex live_mu;
inline std::set<const void*> live;
template <typename T>
inline bool is_live(const T* p) {
  std::lock_guard<std::mutex> l(live_mu);
  return p && live.count(p);
}
template <typename T, typename... Args>
inline cublasStatus_t create(T** out, const char* fn, Args... args) {
  if (!out) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "the output pointer is NULL");
  *out = new T{args...};
  std::lock_guard<std::mutex> l(live_mu);
  live.insert(*out);
  return CUBLAS_STATUS_SUCCESS;
}
template <typename T>
inline cublasStatus_t destroy(T* p, const char* fn) {
  if (!p) return CUBLAS_STATUS_SUCCESS;  // destroying NULL is a no-op
  {
    std::lock_guard<std::mutex> l(live_mu);
    if (!live.erase(p)) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "not a live object (destroyed twice?)");
  }
  delete p;
  return CUBLAS_STATUS_SUCCESS;
}
// Copies an attribute value of the documented size, or refuses a wrong size or a NULL buffer.
template <typename V>
inline cublasStatus_t take(V* dst, const void* buf, size_t size, const char* fn, int attr) {
  if (!buf) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "attribute %d: buf is NULL", attr);
  if (size != sizeof(V))
    return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "attribute %d takes %zu bytes, got %zu", attr, sizeof(V), size);
  std::memcpy(dst, buf, sizeof(V));
  return CUBLAS_STATUS_SUCCESS;
}
}  // namespace emu_lt

inline cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) { return emu_lt::create(h, "cublasLtCreate"); }
inline cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) { return emu_lt::destroy(h, "cublasLtDestroy"); }

inline cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* d, cublasComputeType_t compute,
                                               cudaDataType_t scale) {
  return emu_lt::create(d, "cublasLtMatmulDescCreate", int(compute), int(scale));
}
inline cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
  return emu_lt::destroy(d, "cublasLtMatmulDescDestroy");
}
inline cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr,
                                                     const void* buf, size_t size) {
  using namespace emu_lt;
  const char* fn = "cublasLtMatmulDescSetAttribute";
  if (!is_live(d)) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "not a live matmul descriptor");
  const int a = int(attr);
  cublasStatus_t s = CUBLAS_STATUS_SUCCESS;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE: return take(&d->compute, buf, size, fn, a);
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE: return take(&d->scale, buf, size, fn, a);
    case CUBLASLT_MATMUL_DESC_POINTER_MODE:
      if ((s = take(&d->pointer_mode, buf, size, fn, a))) return s;
      if (d->pointer_mode != 0) return refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn, "only host alpha/beta are emulated");
      return s;
    case CUBLASLT_MATMUL_DESC_TRANSA:
    case CUBLASLT_MATMUL_DESC_TRANSB: {
      int32_t op = 0;
      if ((s = take(&op, buf, size, fn, a))) return s;
      if (op != CUBLAS_OP_N && op != CUBLAS_OP_T && op != CUBLAS_OP_C)
        return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "TRANS%c = %d is not a cublasOperation_t",
                      attr == CUBLASLT_MATMUL_DESC_TRANSA ? 'A' : 'B', op);
      (attr == CUBLASLT_MATMUL_DESC_TRANSA ? d->transa : d->transb) = op == CUBLAS_OP_N ? 0 : 1;  // C = T for reals
      return s;
    }
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      if ((s = take(&d->epilogue, buf, size, fn, a))) return s;
      if (d->epilogue != CUBLASLT_EPILOGUE_DEFAULT && d->epilogue != CUBLASLT_EPILOGUE_BIAS)
        return refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn, "epilogue %u is not emulated (DEFAULT and BIAS are)", d->epilogue);
      return s;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return take(&d->bias, buf, size, fn, a);
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: return take(&d->bias_type, buf, size, fn, a);
  }
  return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "attribute %d is not emulated", a);
}

inline cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* l, cudaDataType type, uint64_t rows,
                                                 uint64_t cols, int64_t ld) {
  const char* fn = "cublasLtMatrixLayoutCreate";
  if (type != CUDA_R_32F && type != CUDA_R_16BF)
    return emu_lt::refuse(CUBLAS_STATUS_NOT_SUPPORTED, fn, "type %d is not emulated (CUDA_R_32F, CUDA_R_16BF)", int(type));
  if (ld < 0) return emu_lt::refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "ld %lld < 0", (long long)ld);
  return emu_lt::create(l, fn, int(type), rows, cols, ld);
}
inline cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
  return emu_lt::destroy(l, "cublasLtMatrixLayoutDestroy");
}

inline cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* p) {
  return emu_lt::create(p, "cublasLtMatmulPreferenceCreate");
}
inline cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
  return emu_lt::destroy(p, "cublasLtMatmulPreferenceDestroy");
}
inline cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                           cublasLtMatmulPreferenceAttributes_t attr,
                                                           const void* buf, size_t size) {
  using namespace emu_lt;
  const char* fn = "cublasLtMatmulPreferenceSetAttribute";
  if (!is_live(p)) return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "not a live preference descriptor");
  const int a = int(attr);
  switch (attr) {
    case CUBLASLT_MATMUL_PREF_SEARCH_MODE: return take(&p->search, buf, size, fn, a);
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES: return take(&p->max_workspace, buf, size, fn, a);
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
    {
      uint32_t& al = p->align[a - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES];
      const cublasStatus_t s = take(&al, buf, size, fn, a);
      if (s == CUBLAS_STATUS_SUCCESS && al == 0) {
        al = 256;
        return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "attribute %d: an alignment of 0 bytes", a);
      }
      return s;
    }
  }
  return refuse(CUBLAS_STATUS_INVALID_VALUE, fn, "attribute %d is not emulated", a);
}

#include "cublasLt_matmul.h"  // cublasLtMatmulAlgoGetHeuristic and cublasLtMatmul
