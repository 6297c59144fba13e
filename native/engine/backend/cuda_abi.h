/*
 * cuda_abi.h: the C ABI between the engine and the run-time loaded CUDA backend library
 * (liblshlab_cuda.so / lshlab_cuda.dll, built from native/cuda/). Plain C, no CUDA header: the
 * engine includes it to call the library, the library includes it to fill the table.
 *
 * Why a C table of function pointers: the library is loaded with dlopen/LoadLibrary at first use
 * (the ggml/llama.cpp backend pattern), so a machine without an NVIDIA driver, cuBLAS or a GPU
 * still runs everything on the CPU, and the reason CUDA is unavailable can be reported. The one
 * exported symbol is lshlab_cuda_get_api(abi_version); it returns NULL for a version it does not
 * serve. Grow the ABI by appending fields to the struct (struct_size tells the caller how much
 * exists) or by adding a v2 struct; never reorder.
 *
 * Conventions: every entry returns 0 on success or a non-zero code (the CUDA/cuBLAS status)
 * with a message for last_error(); tensor pointers are device pointers; everything runs on the
 * library's one stream, in order; float32 only. Shape legend as native/engine/core/common.h:
 * B batch, T sequence, C channels, H heads, D head size, N rows, V vocabulary.
 */
#ifndef LSHLAB_CUDA_ABI_H
#define LSHLAB_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LSHLAB_CUDA_ABI_VERSION 1

/* Only the library exports; the engine finds the symbol with dlsym/GetProcAddress. */
#if !defined(LSHLAB_CUDA_BUILDING_LIBRARY)
#define LSHLAB_CUDA_EXPORT
#elif defined(_WIN32)
#define LSHLAB_CUDA_EXPORT __declspec(dllexport)
#else
#define LSHLAB_CUDA_EXPORT __attribute__((visibility("default")))
#endif

typedef struct lshlab_cuda_device_info {
  char name[256];
  uint64_t total_memory;      /* bytes */
  int cc_major, cc_minor;     /* compute capability */
  int multiprocessors;
} lshlab_cuda_device_info;

/* AdamW constants for one update, precomputed on the host exactly as train/adamw.cc does. */
typedef struct lshlab_cuda_adamw_params {
  float decay;         /* 1 - lr * weight_decay, or 1 for parameters without decay */
  float beta1, beta2;
  float step_size;     /* lr / (1 - beta1^t) */
  float inv_sqrt_bc2;  /* 1 / sqrt(1 - beta2^t) */
  float eps;
  float grad_scale;    /* the clipping coefficient */
} lshlab_cuda_adamw_params;

typedef struct lshlab_cuda_api_v1 {
  int abi_version;     /* LSHLAB_CUDA_ABI_VERSION */
  size_t struct_size;  /* sizeof(lshlab_cuda_api_v1) as the library was built */
  const char* build_info;  /* e.g. "CUDA 13.0; sm_80 sm_86 sm_89 sm_90 compute_90; cuBLASLt 13.1" */

  /* Message of the last failed call on this thread ("" if none). */
  const char* (*last_error)(void);

  /* Device discovery. device_count fails with the runtime's code (35 = no NVIDIA driver, 100 =
     no device) and a message; a count of 0 is success. */
  int (*device_count)(int* count);
  int (*device_info)(int index, lshlab_cuda_device_info* out);
  int (*set_device)(int index);

  /* Memory and synchronisation. */
  int (*malloc)(void** ptr, size_t bytes);
  int (*free)(void* ptr);
  int (*memcpy_h2d)(void* dst, const void* src, size_t bytes);
  int (*memcpy_d2h)(void* dst, const void* src, size_t bytes);
  int (*memset)(void* ptr, int value, size_t bytes);
  int (*synchronize)(void);

  /* Device timing: events on the library's stream. elapsed_ms synchronises on `end`. */
  int (*event_create)(void** event);
  int (*event_destroy)(void* event);
  int (*event_record)(void* event);
  int (*event_elapsed_ms)(float* ms, void* start, void* end);

  /* LayerNorm over the last dim. out, x (N,C); w, b (C); mean, rstd (N). */
  int (*layernorm_forward)(float* out, float* mean, float* rstd, const float* x, const float* w,
                           const float* b, int N, int C, float eps);
  /* dx (N,C) overwritten; dw, db (C) accumulated (+=), as ops/cpu/ops.h. */
  int (*layernorm_backward)(float* dx, float* dw, float* db, const float* dout, const float* x,
                            const float* w, const float* mean, const float* rstd, int N, int C);

  /* erf-GELU, elementwise over n; out may alias x, dx may alias dout. */
  int (*gelu_forward)(float* out, const float* x, int64_t n);
  int (*gelu_backward)(float* dx, const float* dout, const float* x, int64_t n);

  /* Softmax cross-entropy over rows of logits (N,V) with targets (N). Per row: losses[n] =
     logsumexp - logit[target] (0 for ignored rows), correct[n] = argmax == target (first
     maximum); dlogits (may alias logits, or NULL) = (softmax - onehot) * dscale, zero rows for
     ignored targets. The caller divides by the counted rows (dscale = scale / counted). */
  int (*cross_entropy_forward_backward)(float* losses, int32_t* correct, float* dlogits,
                                        const float* logits, const int32_t* targets, int N, int V,
                                        int ignore, float dscale);

  /* One AdamW update of n parameters, in place: p, m, v (n) updated from g (n). */
  int (*adamw_update)(float* p, float* m, float* v, const float* g, int64_t n,
                      const lshlab_cuda_adamw_params* params);

  /* Row-major GEMM as ops/cpu/gemm.h through cuBLASLt, fp32 compute (no TF32):
     C (M,N) = alpha op(A) op(B) + beta C, then + bias[n] (bias may be NULL), then erf-GELU if
     gelu != 0, with the pre-activation stored in pre_gelu (ldc layout) when pre_gelu != NULL. */
  int (*gemm)(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc, const float* bias, int gelu,
              float* pre_gelu);

  /* Exact softmax attention without dropout, as attention/exact.h's tiled path: qkv (B,T,3C)
     with q, k, v of head h at columns h*D, C+h*D, 2C+h*D; mask (B,T) 1 = token (or NULL);
     ctx (B,T,C); lse (B,H,T) row logsumexp (+inf for a row whose keys are all padding: its ctx
     row is 0). D <= 128. */
  int (*attention_forward)(float* ctx, float* lse, const float* qkv, const int32_t* mask, int B,
                           int T, int H, int D);
  /* dqkv (B,T,3C) overwritten from dctx (B,T,C) and the forward's ctx and lse; delta is a
     workspace of B*H*T floats. */
  int (*attention_backward)(float* dqkv, float* delta, const float* dctx, const float* qkv,
                            const float* ctx, const float* lse, const int32_t* mask, int B, int T,
                            int H, int D);
} lshlab_cuda_api_v1;

typedef const void* (*lshlab_cuda_get_api_fn)(int abi_version);

/* The library's one exported symbol: the table for abi_version, or NULL if not served. */
LSHLAB_CUDA_EXPORT const void* lshlab_cuda_get_api(int abi_version);

#ifdef __cplusplus
}
#endif

#endif /* LSHLAB_CUDA_ABI_H */
