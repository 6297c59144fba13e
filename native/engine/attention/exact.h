/*
 * exact.h: exact softmax attention, the baseline every LSH variant is measured against.
 *   S = Q K^T / sqrt(D), padding keys excluded, P = softmax(S), P' = dropout(P), ctx = P' V.
 *
 * Two implementations of the same function:
 *   reference  (exact.cc) parallel over (batch, head) pairs; each pair's probability matrix (T,T)
 *              is kept for the backward. Used for double (gradient checks), as the test oracle,
 *              and for float at short sequences where it is as fast.
 *   tiled      (exact_tiled.cc, float only) FlashAttention-2 style: forward over query blocks x
 *              key blocks with an online softmax, keeping only the per-row logsumexp (B,H,T) and
 *              a copy of ctx; the backward recomputes the probabilities tile by tile. Memory
 *              O(T*D) per (batch, head), no (T,T) buffer. Same dropout keep mask (element
 *              (b,h,i,j) is index ((b*H+h)*T+i)*T+j of dropout_mask's stream), same padding rule.
 * Path choice (float): exact_use_tiled() unless forced with set_path(). Measured (2 threads, D 64,
 * forward+backward): the reference's big GEMMs run at the same FLOP rate as the tiles, so with
 * its 8*D backward FLOPs per pair against the tiled 10*D it stays ~15% faster up to T = 8192
 * (where its buffers already take B*H*T*T*8 bytes); at 16384 it is memory-bound and 2-4x slower.
 */
#pragma once
#include "attention/attention.h"
#include "core/common.h"

namespace lshlab {

enum class ExactPath { Auto, Reference, Tiled };

// Smallest sequence length at which float exact attention takes the tiled path (measured).
int exact_tiled_min_seq();
// Whether the automatic choice takes the tiled path for this float call:
// T >= exact_tiled_min_seq(), or the reference's (T,T) buffers would exceed 2 GiB.
bool exact_use_tiled(const AttentionCall& c);

namespace exact_tiled {
// Tiled float forward: ctx (B,T,C), lse (B,H,T) = per-row logsumexp of the masked scores
// (+inf for a row whose keys are all padding: it attends nowhere and its ctx row is 0).
void forward(float* ctx, float* lse, const float* qkv, const int32_t* mask, const AttentionCall& c,
             AttentionCounters& counters);
// Tiled float backward: dqkv (B,T,3C) overwritten, from the forward's ctx and lse.
void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx, const float* lse,
              const int32_t* mask, const AttentionCall& c, AttentionCounters& counters);
// The counters of a fused (tiled) exact forward: every unpadded pair is a dot product (density
// 1), flops over all (B,H,T,T) slots. The CPU tiled path and the CUDA kernel both report these;
// the caller sets the times.
void set_forward_counters(AttentionCounters& counters, const int32_t* mask, int B, int T, int H,
                          int D);
}  // namespace exact_tiled

template <typename T>
class ExactAttention : public Attention<T> {
 public:
  const char* name() const override { return "exact"; }
  void forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call) override;
  void backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                const AttentionCall& call) override;
  // Forces a path (tests, benchmarks); Tiled is honoured for float only.
  void set_path(ExactPath p) { path_ = p; }
  // The path the last forward took.
  bool last_was_tiled() const { return tiled_; }

 private:
  void forward_reference(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call);
  void backward_reference(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                          const AttentionCall& call);

  ExactPath path_ = ExactPath::Auto;
  bool tiled_ = false;
  Buffer<T> probs_;      // reference: (B,H,T,T) softmax output before dropout
  Buffer<uint8_t> keep_; // reference: (B,H,T,T) dropout keep mask (training only)
  Buffer<T> scratch_;    // reference: per-task (T,T) workspace for the backward
  Buffer<T> lse_;        // tiled: (B,H,T) row logsumexp
  Buffer<T> out_;        // tiled: (B,T,C) copy of ctx (for D_i = rowsum(dctx * ctx))
};

}  // namespace lshlab
