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

/* yoso_conv_backward's weight gradient sums each (batch row, head) in this many row chunks. */
#define LSHLAB_CUDA_YOSO_CONV_CHUNKS 64

#ifdef __cplusplus
extern "C" {
#endif

#define LSHLAB_CUDA_ABI_VERSION 1
/* Doubles of workspace sum_squares needs (its per-block partial sums). */
#define LSHLAB_CUDA_SUM_SQ_WORKSPACE 1024

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

/* Dropout as ops/cpu/ops.h dropout_mask: element i of a site is kept when
   (philox_u32(seed, Stream::Dropout, step, (site << 36) + i) >> 8) >= uint32(p * 2^24), and
   scaled by 1 / (1 - p). p = 0 (or a NULL pointer) means no dropout. */
typedef struct lshlab_cuda_dropout {
  double p;
  uint64_t seed;
  uint32_t step;
  uint32_t site;
} lshlab_cuda_dropout;

/* The constants of one training step that change from step to step, in DEVICE memory, so a
   captured step (CUDA graph, graph_capture_begin below) replays with this step's values: kernel
   parameters are frozen at capture, device memory is read at run time. The engine writes the
   struct with the batch's upload (one host-to-device copy per step). seed and step: the dropout
   streams' (lshlab_cuda_dropout) and the hashing attention variants' draws, read by every
   dropout mask and hash draw while set_step_constants names the struct; adamw: the update's
   constants (adamw_update_chunks_device; grad_scale unused); loss_scale: the cross-entropy
   gradient scales of the step (cross_entropy_forward_backward_device: 1 / masked rows for MLM,
   0.5 / counted rows of start [0] and end [1] for QA). 8-byte aligned, 56 bytes. */
typedef struct lshlab_cuda_step_constants {
  uint64_t seed;
  uint32_t step;
  uint32_t reserved0;
  lshlab_cuda_adamw_params adamw;
  float loss_scale[2];
  float reserved1;
} lshlab_cuda_step_constants;

/* BERT-LSH options (attention/bert_lsh.h BertLshConfig): bands hyperplanes per hash function,
   bucket range table_size, num_hashes functions; flags 0/1: fill=masked (else zero),
   symmetric=none (else transposed-fill), combine=and (else or), reseed=fixed (else per-call). */
typedef struct lshlab_cuda_bert_lsh_params {
  int bands, table_size, num_hashes;
  int fill_masked, symmetric_none, combine_and, reseed_fixed;
} lshlab_cuda_bert_lsh_params;

/* Reformer LSH attention options (attention/reformer.h ReformerParams): num_hashes rounds (1..64),
   num_buckets per round (even >= 2, or 0 = auto: 2 * chunks rounded down to a power of 2),
   chunk_length (>= 1), num_chunks_before / num_chunks_after (0..64). */
typedef struct lshlab_cuda_reformer_params {
  int num_hashes, num_buckets, chunk_length, num_chunks_before, num_chunks_after;
} lshlab_cuda_reformer_params;

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

  /* Memory and synchronisation. memcpy_h2d is stream-ordered and returns without waiting for
     the device, once `src` (pageable host memory: never pass pinned memory) may be reused;
     memcpy_d2h returns when the data is on the host (it waits for the stream's work). */
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

  /* Row-major GEMM as ops/cpu/gemm.h through cuBLASLt, fp32 compute unless gemm_set_precision
     chose TF32 or bf16 operands on this thread (the GEMM precision entries below):
     C (M,N) = alpha op(A) op(B) + beta C, then + bias[n] (bias may be NULL), then erf-GELU if
     gelu != 0, with the pre-activation stored in pre_gelu (ldc layout) when pre_gelu != NULL. */
  int (*gemm)(int transA, int transB, int M, int N, int K, float alpha, const float* A, int lda,
              const float* B, int ldb, float beta, float* C, int ldc, const float* bias, int gelu,
              float* pre_gelu);

  /* Exact softmax attention, as attention/exact.h's tiled path: qkv (B,T,3C) with q, k, v of
     head h at columns h*D, C+h*D, 2C+h*D; mask (B,T) 1 = token (or NULL); ctx (B,T,C); lse
     (B,H,T) row logsumexp (+inf for a row whose keys are all padding: its ctx row is 0).
     D <= 256. dropout (or NULL = none) drops probabilities with the CPU's keep mask: element
     (b,h,i,j) is element ((b*H+h)*T+i)*T+j of site dropout->site (see lshlab_cuda_dropout). */
  int (*attention_forward)(float* ctx, float* lse, const float* qkv, const int32_t* mask, int B,
                           int T, int H, int D, const struct lshlab_cuda_dropout* dropout);
  /* dqkv (B,T,3C) overwritten from dctx (B,T,C) and the forward's ctx and lse; delta is a
     workspace of B*H*T floats; dropout as given to the forward. */
  int (*attention_backward)(float* dqkv, float* delta, const float* dctx, const float* qkv,
                            const float* ctx, const float* lse, const int32_t* mask, int B, int T,
                            int H, int D, const struct lshlab_cuda_dropout* dropout);

  /* ---- the rest of the training step (native/cuda/embeddings.cu, dropout.cu, reduce.cu,
     elementwise.cu) ---- */

  /* Device to device copy, asynchronous on the stream (no host synchronisation). */
  int (*memcpy_d2d)(void* dst, const void* src, size_t bytes);

  /* BERT embeddings sum, out (B,T,C): out[b,t] = wte[ids[b,t]] + wpe[t] + wtt[types[b,t]];
     types NULL means all 0. wte (V,C), wpe (maxT,C), wtt (TV,C). */
  int (*embeddings_forward)(float* out, const int32_t* ids, const int32_t* types,
                            const float* wte, const float* wpe, const float* wtt, int B, int T,
                            int C);
  /* Deterministic scatter-add of rows (embedding gradients without atomics): for each group g
     in [0, G): table[target[g]] += sum of src[rows[k]] for k in [offsets[g], offsets[g+1]),
     summed in k order, then added once. table (.,C), src (.,C), offsets (G+1). The targets of
     one call must be distinct (one group per table row). The host builds the groups (token
     ids, positions, token types) from the batch it already holds. An empty group (offsets[g] ==
     offsets[g+1]) writes nothing (its target is not read), so G may be a fixed bound. */
  int (*rows_segment_sum)(float* table, const int32_t* target, const int32_t* offsets,
                          const int32_t* rows, int G, const float* src, int C);

  /* out[i] = (dropout ? keep_i * x[i] / (1 - p) : x[i]) + (residual ? residual[i] : 0), and, when
     dropout is given, keep[i] (n bytes, 1 = kept) for the backward (keep may be NULL; without
     dropout a non-NULL keep is filled with 1). keep_i is the CPU's dropout_mask element i of
     site dropout->site. out may alias x or residual. */
  int (*dropout_add_forward)(float* out, uint8_t* keep, const float* x, const float* residual,
                             int64_t n, const struct lshlab_cuda_dropout* dropout);
  /* dx[i] = keep[i] ? dout[i] / (1 - p) : 0; dx may alias dout. */
  int (*dropout_backward)(float* dx, const float* dout, const uint8_t* keep, int64_t n, double p);

  /* db (C) += column sums of dout (N,C) with leading dimension ld, summed in a fixed order. */
  int (*bias_backward)(float* db, const float* dout, int N, int C, int ld);

  /* tanh: out = tanh(x); dx = dout * (1 - out^2) (dx may alias dout). */
  int (*tanh_forward)(float* out, const float* x, int64_t n);
  int (*tanh_backward)(float* dx, const float* dout, const float* out, int64_t n);

  /* Row gather and scatter, C columns each: gather out[r] = src[rows[r]] (out (R,C) dense);
     scatter dst[rows[r]] = src[r] (overwrites; other dst rows untouched). Leading dims = C.
     A negative rows[r] is a padding row: gather writes zeros to out[r], scatter skips src[r]. */
  int (*gather_rows)(float* out, const float* src, const int32_t* rows, int R, int C);
  int (*scatter_rows)(float* dst, const float* src, const int32_t* rows, int R, int C);

  /* *sum_sq = sum of g[i]^2 over n elements, accumulated in float64 in a fixed order
     (deterministic run to run). workspace: LSHLAB_CUDA_SUM_SQ_WORKSPACE doubles. */
  int (*sum_squares)(double* sum_sq, const float* g, int64_t n, double* workspace);

  /* AdamW as adamw_update, with the clipping coefficient computed on the device from the
     global norm: norm = sqrt(*sum_sq); if norm is not finite nothing is updated (the host sees
     the norm and does not count the step); else grad_scale = max_norm > 0 ?
     min(1, max_norm / (norm + 1e-6)) : 1 (in float64, as clip_coefficient), and params->grad_scale
     is ignored. */
  int (*adamw_update_clipped)(float* p, float* m, float* v, const float* g, int64_t n,
                              const lshlab_cuda_adamw_params* params, const double* sum_sq,
                              double max_norm);

  /* ---- attention variants: yoso (native/cuda/yoso_*.cu) ---- */

  /* YOSO attention (attention/yoso.h) with the CPU's draws and semantics, no YOSO-C conv.
     Common arguments: qkv (B,T,3C) as attention_forward; mask (B,T) 1 = token (or NULL); D <=
     256; tau (bits per code) in 1..30; num_hash = m in 1..1024; for the hash-plane stream
     B < 4096, H < 256, tau*D <= 2^20, site < 4096; any B*H and n (grids are one-dimensional,
     offsets int64). Deterministic (no atomics).
     workspace_size: *bytes of scratch yoso_forward and yoso_backward need for this shape (the
     same for both, nothing kept between calls): 3 B H T D + 2 B H T floats, plus the hashes'
     sort buffers and bucket tables, done in chunks of (heads x hashes) of about 1 GiB (linear in T). */
  int (*yoso_workspace_size)(size_t* bytes, int B, int T, int H, int D, int tau, int num_hash);
  /* yoso (LSH) forward: ctx (B,T,C) = X / max(|X|, 1e-12), X_i = (1/m) sum over hashes of the
     sum of v_j over unpadded keys j whose code equals q_i's; padded queries get 0. Also written:
     ynrm (B,H,T) max(|X|, 1e-12); qcode, kcode (B,H,m,T) the tau-bit codes of the unit q and k
     (every token; bit t = projection on plane t > 0); planes (B,H,m,tau,D) the hyperplanes of
     (seed, step, site), the CPU's yoso_planes draws; collisions (H doubles, or NULL): (query,
     key, hash) code matches among unpadded tokens per head, summed over the batch. */
  int (*yoso_forward)(float* ctx, float* ynrm, int32_t* qcode, int32_t* kcode, float* planes,
                      double* collisions, void* workspace, const float* qkv,
                      const int32_t* mask, int B, int T, int H, int D, int tau, int num_hash,
                      uint64_t seed, uint32_t step, uint32_t site);
  /* yoso backward: dqkv (B,T,3C) overwritten from dctx (B,T,C) and the forward's ctx, ynrm,
     qcode, kcode. exact = 0: the surrogate (default) backward, f' replaced by (tau/2) f;
     1: backward=exact, the importance-weighted 0.98 f'(0.98 x) per colliding pair. */
  int (*yoso_backward)(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                       const float* ctx, const float* ynrm, const int32_t* qcode,
                       const int32_t* kcode, const int32_t* mask, int B, int T, int H, int D,
                       int tau, int num_hash, int exact);
  /* yoso-e (the expectation, lsh = false), dense and fused (O(T^2 D), no (T,T) buffer):
     ctx (B,T,C) = X / max(|X|, 1e-12), X = E V, E_ij = mask_i mask_j f(s qn_i.kn_j), f(x) =
     (1 - acos(x)/pi)^tau, s = 1 (exact = 0, surrogate backward) or 0.98 (exact = 1, whose
     backward is the true gradient); ynrm (B,H,T) = max(|X|, 1e-12). workspace: (3 D + 2) B H T
     floats, scratch for both calls. The backward overwrites dqkv (B,T,3C) from dctx (B,T,C) and
     the forward's ctx and ynrm, with the same tau and exact. */
  int (*yoso_e_forward)(float* ctx, float* ynrm, float* workspace, const float* qkv,
                        const int32_t* mask, int B, int T, int H, int D, int tau, int exact);
  int (*yoso_e_backward)(float* dqkv, float* workspace, const float* dctx, const float* qkv,
                         const float* ctx, const float* ynrm, const int32_t* mask, int B, int T,
                         int H, int D, int tau, int exact);

  /* YOSO-C's depthwise conv of V * mask (conv_window W, odd), added after yoso/yoso-e: ctx (B,T,C)
     += sum_k w[h,k] mask[b,s] V[b,s,h,:], s = t + k - W/2 (attention/yoso.h). Backward: the V part
     of dqkv (B,T,3C) += the transpose on unpadded keys; dw (H,W) += the weight gradient, summed
     per batch row in float64 (workspace: B*H*LSHLAB_CUDA_YOSO_CONV_CHUNKS*W doubles) and added
     in batch order. Call after yoso_backward / yoso_e_backward, which overwrite dqkv. */
  int (*yoso_conv_forward)(float* ctx, const float* qkv, const int32_t* mask, const float* w,
                           int B, int T, int H, int D, int W);
  int (*yoso_conv_backward)(float* dqkv, float* dw, double* workspace, const float* dctx,
                            const float* qkv, const int32_t* mask, const float* w, int B, int T,
                            int H, int D, int W);

  /* ---- attention variants: bert-lsh (native/cuda/bert_lsh_*.cu) ---- */

  /* BERT-LSH attention (attention/bert_lsh.h), the CPU variant's draws and semantics, every
     option (params: lshlab_cuda_bert_lsh_params). Common arguments: qkv (B,T,3C) as
     attention_forward; mask (B,T) 1 = token (or NULL); D <= 128; B*H <= 65535, B, H <= 65536,
     site < 4096, num_hashes * bands * D <= 2^18, bands and num_hashes in 1..64. Deterministic
     (no atomics). workspace_size: *bytes of scratch for forward and backward (nothing kept
     between calls): B H T ints plus the draws when planes / coef are NULL, plus ~16 B H T ints
     for fill=masked with one hash or combine=and (the sorted path: rows grouped by bucket, only
     colliding pairs computed; env LSHLAB_CUDA_BERT_LSH_PATH=dense|sorted forces a path). */
  int (*bert_lsh_workspace_size)(size_t* bytes, int B, int T, int H, int D,
                                 const struct lshlab_cuda_bert_lsh_params* params);
  /* Forward: ctx (B,T,C) = softmax(A / sqrt(D)) V with A from the collisions of the hash codes
     (fill, symmetric, combine as the CPU: transposed fill A[j,i] = A[i,j] = q_i.k_j for colliding
     i <= j; fill=zero: other unpadded keys logit 0; fill=masked: excluded, an unpadded row with
     no colliding unpadded key keeps its diagonal), padded keys excluded, attention dropout with
     exact's mask (dropout NULL or p = 0: none). Also written: stats (2,B,H,T): row logsumexp
     (+inf where the row has no key), then 1 for a fill=masked diagonal fallback row, else 0;
     codes (2,B,H,nh,T) q then k bucket ids of every token; planes (B,H,nh,bands,D) and coef
     (B,H,nh,bands) the draws (either may be NULL: kept in the workspace); counts (2,H) doubles:
     per head, summed over the batch, the dot products scored between unpadded tokens (the CPU
     counters' head_dot_products) and the fill=masked fallbacks among them (head_collisions =
     the difference). The hash step is 0xFFFFFFFF for reseed=fixed, else `step`. */
  int (*bert_lsh_forward)(float* ctx, float* stats, int32_t* codes, float* planes, int32_t* coef,
                          double* counts, void* workspace, const float* qkv, const int32_t* mask,
                          int B, int T, int H, int D,
                          const struct lshlab_cuda_bert_lsh_params* params, uint64_t seed,
                          uint32_t step, uint32_t site, const struct lshlab_cuda_dropout* dropout);
  /* Backward: dqkv (B,T,3C) overwritten from dctx (B,T,C) and the forward's ctx, stats and
     codes (same mask, params and dropout). Hashing is not differentiated; a transposed-fill
     pair's two entries both send their gradient to q_i and k_j. */
  int (*bert_lsh_backward)(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                           const float* ctx, const float* stats, const int32_t* codes,
                           const int32_t* mask, int B, int T, int H, int D,
                           const struct lshlab_cuda_bert_lsh_params* params,
                           const struct lshlab_cuda_dropout* dropout);

  /* ---- attention variants: reformer (native/cuda/reformer_*.cu) ---- */

  /* Reformer LSH attention (attention/reformer.h), the CPU variant's draws and semantics:
     shared QK (keys = q / sqrt(|q|^2 + D 1e-6), the K slice unused), per (b,h) rotations
     (D, num_hashes, nb/2) ~ N(0,1) from Philox (seed, step, site), bucket = argmax([qR, -qR])
     (padding -> bucket nb), stable sort per round by (bucket, position), chunks of the
     concatenated rounds attend chunks g-before .. g+after (mod G, duplicates kept), self logit
     -1e5, padding key -1e9 (replacements), per-round lse, attention dropout with the CPU's mask
     (element ((b*H+h)*G*c + slot)*W + window key of site dropout->site; NULL or p = 0: none),
     rounds combined by softmax of their lses; T <= chunk_length: plain full attention (no
     hash). Common arguments: qkv (B,T,3C) as attention_forward; mask (B,T) 1 = token, or NULL;
     D <= 128; B < 65536, H < 1024, B*H*num_hashes <= 65535, D*num_hashes*nb/2 < 2^24.
     Deterministic (no atomics). Memory linear in T.
     sizes: *state_bytes the forward writes and the backward reads (per layer, keep it between
     the calls); *workspace_bytes scratch for either call (nothing kept). */
  int (*reformer_sizes)(size_t* state_bytes, size_t* workspace_bytes, int B, int T, int H, int D,
                        const struct lshlab_cuda_reformer_params* params);
  /* Forward: ctx (B,T,C); state as above. Optional outputs (NULL = not wanted, not written in
     standard mode): rotations (B,H,D,num_hashes,nb/2), the CPU debug_state's "rotations" rounded
     to float; buckets (B,H,num_hashes,T) int32, padding = nb. */
  int (*reformer_forward)(float* ctx, void* state, float* rotations, int32_t* buckets,
                          void* workspace, const float* qkv, const int32_t* mask, int B, int T,
                          int H, int D, const struct lshlab_cuda_reformer_params* params,
                          uint64_t seed, uint32_t step, uint32_t site,
                          const struct lshlab_cuda_dropout* dropout);
  /* Backward: dqkv (B,T,3C) overwritten (K slice 0) from dctx (B,T,C) and the forward's state,
     with the same qkv, mask, shape, params and dropout; the hash and sort stay fixed (exact
     gradient given them, as reformer_backward.cc). */
  int (*reformer_backward)(float* dqkv, void* workspace, const float* dctx, const float* qkv,
                           const void* state, const int32_t* mask, int B, int T, int H, int D,
                           const struct lshlab_cuda_reformer_params* params,
                           const struct lshlab_cuda_dropout* dropout);

  /* ---- GEMM precision (gemm_lt.cc) ---- */

  /* The compute type of `gemm` on the calling host thread (per thread, like set_device; default
     0): 0 = fp32 (CUBLAS_COMPUTE_32F), 1 = tf32 (CUBLAS_COMPUTE_32F_FAST_TF32: tensor cores
     round the inputs to TF32's 10-bit mantissa and accumulate in fp32; the run's --precision
     tf32), 2 = bf16 (autocast-style, --precision bf16: op A and op B rounded to bf16, nearest
     even, into a library-owned scratch; bf16 x bf16 products accumulated in fp32; C, D, bias
     and the epilogue fp32; the caller's arrays stay fp32). Any other mode fails and leaves the
     mode unchanged. The host emulation rounds to bf16 in mode 2 and ignores tf32 (fp32). */
  int (*gemm_set_precision)(int mode);
  /* cudaMemGetInfo of the current device: free and total bytes (device-wide, every process). */
  int (*mem_get_info)(size_t* free_bytes, size_t* total_bytes);

  /* AdamW over many parameters in one launch, as adamw_update_clipped per parameter: chunks is
     a device array of nchunks (begin, end, decay) int64 triples, each range inside one parameter
     of p/m/v/g; decay 1 applies params->decay, 0 applies none (1). */
  int (*adamw_update_chunks)(float* p, float* m, float* v, const float* g, const int64_t* chunks,
                             int nchunks, const lshlab_cuda_adamw_params* params,
                             const double* sum_sq, double max_norm);

  /* Stage mark: the next yoso_forward, bert_lsh_forward or reformer_forward on this host thread
     records `event` (from event_create) on the stream once its buckets are ready: after drawing
     the hash functions and hashing, and after the bucket sort where the kernels sort before
     attending (bert-lsh's sorted path, reformer); yoso sorts inside its attention loop, so its
     mark follows the hash codes; reformer's standard mode (no hashing) records it at once. The
     entry takes the mark when it starts (one use; NULL cancels) and records nothing when it has
     no work (B, T or H = 0) or fails first. With event_record around the entry this splits its
     device time into hashing (time_hash_s) and attention (time_scores_s). */
  int (*stage_mark_once)(void* event);

  /* Exact attention on bf16 tensor cores (--precision bf16; PyTorch's autocast runs attention in
     bf16 too): arguments, shapes, layout, masks, dropout and outputs exactly as
     attention_forward / attention_backward (everything in memory stays fp32), with Q, K, V
     (and dctx in the backward) rounded to bf16 (nearest even) as they are loaded, the
     probabilities P (and dS in the backward) rounded to bf16 before their products, products on
     tensor cores with fp32 accumulation; softmax, lse, delta and the outputs fp32. Head sizes
     D = 64 and 128 only: another D fails naming it (attention_forward/_backward take it in fp32).
     The backward needs the lse of attention_forward_bf16. */
  int (*attention_forward_bf16)(float* ctx, float* lse, const float* qkv, const int32_t* mask,
                                int B, int T, int H, int D, const struct lshlab_cuda_dropout* dropout);
  int (*attention_backward_bf16)(float* dqkv, float* delta, const float* dctx, const float* qkv,
                                 const float* ctx, const float* lse, const int32_t* mask, int B,
                                 int T, int H, int D, const struct lshlab_cuda_dropout* dropout);

  /* ---- a capturable training step (native/cuda/graph.cu; issue 10) ---- */

  /* The step constants (a device pointer to lshlab_cuda_step_constants, or NULL) of this host
     thread's next entries (per thread, like gemm_set_precision): while set, every dropout mask
     (dropout_add_forward, attention_forward/_backward and their bf16 forms, bert_lsh and
     reformer attention dropout) takes seed and step from the struct in device memory when the
     kernel runs, ignoring lshlab_cuda_dropout's seed and step (p and site are still read from
     it). NULL (the default) restores the by-value fields. The masks are the same bits either way
     for the same values. So do the hash draws of yoso_forward, bert_lsh_forward (its step unless
     reseed=fixed) and reformer_forward, ignoring their seed and step arguments (see
     hash_draws_device at the end). */
  int (*set_step_constants)(const lshlab_cuda_step_constants* device_constants);
  /* adamw_update_chunks with the AdamW constants read from device memory when the kernel runs
     (constants->adamw; its grad_scale ignored: the clip coefficient comes from sum_sq). */
  int (*adamw_update_chunks_device)(float* p, float* m, float* v, const float* g,
                                    const int64_t* chunks, int nchunks,
                                    const lshlab_cuda_step_constants* constants,
                                    const double* sum_sq, double max_norm);
  /* cross_entropy_forward_backward with dscale read from device memory (*dscale) when the kernel
     runs: a padded row count can keep the launch shape fixed while the real count, and so the
     scale, changes per batch (rows with target == ignore: loss 0, correct 0, zero gradient). */
  int (*cross_entropy_forward_backward_device)(float* losses, int32_t* correct, float* dlogits,
                                               const float* logits, const int32_t* targets,
                                               int N, int V, int ignore, const float* dscale);
  /* CUDA graphs. graph_capture_begin: this host thread's following entries are recorded, not
     run (cudaStreamBeginCapture, relaxed mode, on a capture stream of this thread: other
     threads' work is not captured), until graph_capture_end, which ends the capture and
     instantiates it: *graph = the executable graph, or NULL with an error (the capture has ended
     either way; nothing recorded ran). Inside a capture, no entry may allocate, synchronise or
     copy to or from the host (memcpy_h2d/_d2h, synchronize, event_elapsed_ms fail or invalidate
     the capture); event_record records nothing usable for timing. Kernel arguments are frozen at
     capture: what changes per step must be read from device memory (set_step_constants).
     graph_launch enqueues the graph on the library's stream (asynchronous) and sets *launched =
     1, or *launched = 0 and launches nothing when library-owned scratch that the graph uses (the
     bf16 GEMM operands) was reallocated since the capture: capture again. graph_destroy frees it. */
  int (*graph_capture_begin)(void);
  int (*graph_capture_end)(void** graph);
  int (*graph_launch)(void* graph, int* launched);
  int (*graph_destroy)(void* graph);
  /* 1: this library's yoso_forward, bert_lsh_forward and reformer_forward draw their hash
     functions from the step constants while set (above), so those variants' steps may be
     captured; a library without this field (or 0) draws them by value only. */
  int hash_draws_device;
} lshlab_cuda_api_v1;

typedef const void* (*lshlab_cuda_get_api_fn)(int abi_version);

/* The library's one exported symbol: the table for abi_version, or NULL if not served. */
LSHLAB_CUDA_EXPORT const void* lshlab_cuda_get_api(int abi_version);

#ifdef __cplusplus
}
#endif

#endif /* LSHLAB_CUDA_ABI_H */
