/*
 * ops.h: the CPU reference ops of the BERT encoder other than GEMM, as <op>_forward/_backward pairs
 * with outputs first (llm.c style). Every op is instantiated for float (training) and double
 * (gradient checks). Backward functions accumulate (+=) into parameter gradients and overwrite
 * input gradients unless noted. Rows are independent, so row loops run on ThreadPool::global().
 * Not here: matrix multiplies (gemm.h) and attention (attention/).
 */
#pragma once
#include <cstdint>

namespace lshlab {

// ---------------------------------------------------------------------------------------------
// LayerNorm over the last dimension: out = (x - mean) / sqrt(var + eps) * w + b.
// out, x: (N,C); w, b: (C); mean, rstd: (N) saved for backward.
template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* x, const T* w, const T* b, int N, int C,
                       double eps);
// dx: (N,C) overwritten; dw, db: (C) accumulated.
template <typename T>
void layernorm_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w, const T* mean,
                        const T* rstd, int N, int C);

// ---------------------------------------------------------------------------------------------
// erf-GELU: out = 0.5 x (1 + erf(x / sqrt 2)). In-place allowed (out == x) in forward.
template <typename T>
void gelu_forward(T* out, const T* x, int64_t n);
// dx = dout * gelu'(x); dx may alias dout.
template <typename T>
void gelu_backward(T* dx, const T* dout, const T* x, int64_t n);

// tanh: out = tanh(x); backward uses the output: dx = dout * (1 - out^2). dx may alias dout.
template <typename T>
void tanh_forward(T* out, const T* x, int64_t n);
template <typename T>
void tanh_backward(T* dx, const T* dout, const T* out, int64_t n);

// ---------------------------------------------------------------------------------------------
// Dropout with an explicit keep mask (1 = kept), drawn by dropout_mask() from Philox so it is a
// pure function of (seed, step, site). out = keep ? x / (1 - p) : 0. In-place allowed.
void dropout_mask(uint8_t* keep, int64_t n, double p, uint64_t seed, uint32_t step, uint32_t site);
template <typename T>
void dropout_forward(T* out, const T* x, const uint8_t* keep, double p, int64_t n);
template <typename T>
void dropout_backward(T* dx, const T* dout, const uint8_t* keep, double p, int64_t n);

// ---------------------------------------------------------------------------------------------
// BERT embeddings sum: out[b,t] = wte[ids[b,t]] + wpe[t] + wtt[types[b,t]] (types may be null = 0).
// out: (B,T,C); wte: (V,C); wpe: (maxT,C); wtt: (TV,C).
template <typename T>
void embeddings_forward(T* out, const int32_t* ids, const int32_t* types, const T* wte,
                        const T* wpe, const T* wtt, int B, int Tn, int C);
// Accumulates into dwte/dwpe/dwtt. Rows whose id == pad_id get no word-embedding gradient (as
// torch.nn.Embedding with padding_idx); pass pad_id = -1 to disable.
template <typename T>
void embeddings_backward(T* dwte, T* dwpe, T* dwtt, const T* dout, const int32_t* ids,
                         const int32_t* types, int B, int Tn, int C, int pad_id);

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy over rows of logits (N,V) with integer targets (N); rows whose target is
// `ignore` do not count. Returns the mean loss over counted rows (0 if none) and, if dlogits is
// given, writes d(mean loss)/d logits * scale (zero rows for ignored targets); dlogits may alias
// logits. correct (optional) counts rows whose argmax equals the target.
template <typename T>
double cross_entropy_forward_backward(T* dlogits, const T* logits, const int32_t* targets, int N,
                                      int V, int ignore, double scale, int64_t* correct,
                                      int64_t* counted);

// ---------------------------------------------------------------------------------------------
// db[c] += sum over rows of dout[n, c]; dout (N,C) with leading dim ld.
template <typename T>
void bias_backward(T* db, const T* dout, int N, int C, int ld);

// y += x, elementwise.
template <typename T>
void add_inplace(T* y, const T* x, int64_t n);

}  // namespace lshlab
