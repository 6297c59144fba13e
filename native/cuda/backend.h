/*
 * backend.h: what every translation unit of the CUDA backend library shares: the library's one
 * stream, error recording for lshlab_cuda_api_v1::last_error, the launch check, and the
 * declarations of the ops that api.cc puts into the ABI table. Internal to native/cuda/.
 *
 * Error rule (from the device method notes): check every CUDA call's return code and the last
 * error after every launch; a failing call records "<what>: <cuda message> (<code>)" and
 * returns the code, so the engine can say exactly what failed.
 */
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "backend/cuda_abi.h"

namespace lshlab_cuda {

// The library's stream (created on first use, non-blocking); every op runs on it, in order.
// While this host thread captures a graph (graph.cu), its capture stream instead.
cudaStream_t stream();

// ---- the capturable step (graph.cu) ----
// This host thread's capture stream while it captures (graph_capture_begin .. _end), else null.
cudaStream_t capture_stream();
// This host thread's device step constants (ABI set_step_constants), or null: dropout masks
// read seed and step from them when set (dropout.cuh).
const lshlab_cuda_step_constants* step_constants();
// Library-owned scratch that a captured graph may point at (gemm_lt.cc's bf16 operands) was
// reallocated: graphs captured before are stale (graph_launch then launches nothing).
void bump_scratch_generation();

// Records a message for last_error() and returns `code` (which must be non-zero).
int fail(int code, const char* what, const char* detail);
// Records the CUDA error `e` (if any) with `what`; returns 0 for cudaSuccess.
int check(cudaError_t e, const char* what);
// After a kernel launch: the launch error, if any.
int check_launch(const char* kernel);
// Clears the recorded message (at the start of each entry point).
void clear_error();
const char* last_error();

// The stage mark (ABI stage_mark_once): an attention forward entry takes it at its start (so a
// mark never outlives the call it was meant for) and records it on the stream once its buckets
// are ready, splitting the entry's device time into hashing and the rest. Null: nothing to do.
void* take_stage_mark();
int record_stage_mark(void* mark);

// Ceil division for grid sizes.
inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Shared memory a block of the current device may opt into (cudaDevAttrMaxSharedMemoryPerBlockOptin:
// 227 KiB on sm_90, 163 KiB on sm_80, 99 KiB on sm_86 / sm_89); 0 when the query fails.
size_t smem_optin_bytes();
// Opts `kernel` into `bytes` of dynamic shared memory (needed above 48 KiB), or fails naming the
// kernel, the bytes and the device's limit, so a shape that does not fit says so instead of
// failing at launch.
template <typename Kernel>
int opt_in_smem(Kernel kernel, size_t bytes, const char* name, int head_size) {
  const size_t limit = smem_optin_bytes();
  if (bytes > limit) {
    char msg[256];
    std::snprintf(msg, sizeof msg,
                  "needs %zu bytes of shared memory per block at head size %d; this GPU allows %zu",
                  bytes, head_size, limit);
    return fail(1, name, msg);
  }
  return check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), name);
}

// ---- ops (one .cu file each; shapes and semantics in backend/cuda_abi.h) ----
int layernorm_forward(float* out, float* mean, float* rstd, const float* x, const float* w,
                      const float* b, int N, int C, float eps);
int layernorm_backward(float* dx, float* dw, float* db, const float* dout, const float* x,
                       const float* w, const float* mean, const float* rstd, int N, int C);
int gelu_forward(float* out, const float* x, int64_t n);
int gelu_backward(float* dx, const float* dout, const float* x, int64_t n);
// out (M,N) ld ldo = gelu(pre (M,N) ld ldp), with pre kept; the GEMM's GELU epilogue.
int gelu_forward_strided(float* out, int ldo, const float* pre, int ldp, int M, int N);
int cross_entropy_forward_backward(float* losses, int32_t* correct, float* dlogits,
                                   const float* logits, const int32_t* targets, int N, int V,
                                   int ignore, float dscale);
int adamw_update(float* p, float* m, float* v, const float* g, int64_t n,
                 const lshlab_cuda_adamw_params* params);
int adamw_update_clipped(float* p, float* m, float* v, const float* g, int64_t n,
                         const lshlab_cuda_adamw_params* params, const double* sum_sq,
                         double max_norm);
int adamw_update_chunks(float* p, float* m, float* v, const float* g, const int64_t* chunks,
                        int nchunks, const lshlab_cuda_adamw_params* params, const double* sum_sq,
                        double max_norm);
int adamw_update_chunks_device(float* p, float* m, float* v, const float* g, const int64_t* chunks,
                               int nchunks, const lshlab_cuda_step_constants* constants,
                               const double* sum_sq, double max_norm);
int cross_entropy_forward_backward_device(float* losses, int32_t* correct, float* dlogits,
                                          const float* logits, const int32_t* targets, int N,
                                          int V, int ignore, const float* dscale);
int set_step_constants(const lshlab_cuda_step_constants* device_constants);
int graph_capture_begin();
int graph_capture_end(void** graph);
int graph_launch(void* graph, int* launched);
int graph_destroy(void* graph);
int gemm(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
         const float* B, int ldb, float beta, float* C, int ldc, const float* bias, int gelu,
         float* pre_gelu);
int attention_forward(float* ctx, float* lse, const float* qkv, const int32_t* mask, int B, int T,
                      int H, int D, const lshlab_cuda_dropout* dropout);
int attention_backward(float* dqkv, float* delta, const float* dctx, const float* qkv,
                       const float* ctx, const float* lse, const int32_t* mask, int B, int T,
                       int H, int D, const lshlab_cuda_dropout* dropout);
// The same on bf16 tensor cores (attention_bf16_forward.cu, attention_bf16_backward.cu), D 64 or 128.
int attention_forward_bf16(float* ctx, float* lse, const float* qkv, const int32_t* mask, int B,
                           int T, int H, int D, const lshlab_cuda_dropout* dropout);
int attention_backward_bf16(float* dqkv, float* delta, const float* dctx, const float* qkv,
                            const float* ctx, const float* lse, const int32_t* mask, int B, int T,
                            int H, int D, const lshlab_cuda_dropout* dropout);
// The rest of the training step: embeddings.cu, dropout.cu, reduce.cu, elementwise.cu.
int embeddings_forward(float* out, const int32_t* ids, const int32_t* types, const float* wte,
                       const float* wpe, const float* wtt, int B, int T, int C);
int rows_segment_sum(float* table, const int32_t* target, const int32_t* offsets,
                     const int32_t* rows, int G, const float* src, int C);
int gather_rows(float* out, const float* src, const int32_t* rows, int R, int C);
int scatter_rows(float* dst, const float* src, const int32_t* rows, int R, int C);
int dropout_add_forward(float* out, uint8_t* keep, const float* x, const float* residual,
                        int64_t n, const lshlab_cuda_dropout* dropout);
int dropout_backward(float* dx, const float* dout, const uint8_t* keep, int64_t n, double p);
int tanh_forward(float* out, const float* x, int64_t n);
int tanh_backward(float* dx, const float* dout, const float* out, int64_t n);
int bias_backward(float* db, const float* dout, int N, int C, int ld);
int sum_squares(double* sum_sq, const float* g, int64_t n, double* workspace);

// ---- attention variants: yoso (yoso_*.cu) ----
int yoso_workspace_size(size_t* bytes, int B, int T, int H, int D, int tau, int num_hash);
int yoso_forward(float* ctx, float* ynrm, int32_t* qcode, int32_t* kcode, float* planes,
                 double* collisions, void* workspace, const float* qkv, const int32_t* mask,
                 int B, int T, int H, int D, int tau, int num_hash, uint64_t seed, uint32_t step,
                 uint32_t site);
int yoso_backward(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                  const float* ctx, const float* ynrm, const int32_t* qcode, const int32_t* kcode,
                  const int32_t* mask, int B, int T, int H, int D, int tau, int num_hash,
                  int exact);
int yoso_e_forward(float* ctx, float* ynrm, float* workspace, const float* qkv,
                   const int32_t* mask, int B, int T, int H, int D, int tau, int exact);
int yoso_e_backward(float* dqkv, float* workspace, const float* dctx, const float* qkv,
                    const float* ctx, const float* ynrm, const int32_t* mask, int B, int T, int H,
                    int D, int tau, int exact);
int yoso_conv_forward(float* ctx, const float* qkv, const int32_t* mask, const float* w, int B,
                      int T, int H, int D, int W);
int yoso_conv_backward(float* dqkv, float* dw, double* workspace, const float* dctx,
                       const float* qkv, const int32_t* mask, const float* w, int B, int T, int H,
                       int D, int W);

// ---- attention variants: bert-lsh (bert_lsh_*.cu) ----
int bert_lsh_workspace_size(size_t* bytes, int B, int T, int H, int D,
                            const lshlab_cuda_bert_lsh_params* params);
int bert_lsh_forward(float* ctx, float* stats, int32_t* codes, float* planes, int32_t* coef,
                     double* counts, void* workspace, const float* qkv, const int32_t* mask, int B,
                     int T, int H, int D, const lshlab_cuda_bert_lsh_params* params,
                     uint64_t seed, uint32_t step, uint32_t site, const lshlab_cuda_dropout* dropout);
int bert_lsh_backward(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                      const float* ctx, const float* stats, const int32_t* codes,
                      const int32_t* mask, int B, int T, int H, int D,
                      const lshlab_cuda_bert_lsh_params* params, const lshlab_cuda_dropout* dropout);

// ---- attention variants: reformer (reformer_*.cu) ----
int reformer_sizes(size_t* state_bytes, size_t* workspace_bytes, int B, int T, int H, int D,
                   const lshlab_cuda_reformer_params* params);
int reformer_forward(float* ctx, void* state, float* rotations, int32_t* buckets, void* workspace,
                     const float* qkv, const int32_t* mask, int B, int T, int H, int D,
                     const lshlab_cuda_reformer_params* params, uint64_t seed, uint32_t step,
                     uint32_t site, const lshlab_cuda_dropout* dropout);
int reformer_backward(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                      const void* state, const int32_t* mask, int B, int T, int H, int D,
                      const lshlab_cuda_reformer_params* params, const lshlab_cuda_dropout* dropout);

// ---- GEMM precision (gemm_lt.cc) ----
// mode 0 = fp32, 1 = tf32, 2 = bf16, per host thread (backend/cuda_abi.h); in the emulation
// gemm_lt.cc runs on emulation/cublasLt.h, which rounds TF32 and reads bf16 as the library does.
int gemm_set_precision(int mode);
// bf16_convert.cu (mode 2): dst (rows,cols) ld ldd = bf16 bits of src, round to nearest even;
// d (M,N) ld ldd += bias[n] (the bias when cuBLASLt has no bias epilogue for bf16 operands).
int f32_to_bf16_2d(uint16_t* dst, int ldd, const float* src, int lds, int rows, int cols);
int add_bias_rows(float* d, int ldd, const float* bias, int M, int N);

}  // namespace lshlab_cuda
