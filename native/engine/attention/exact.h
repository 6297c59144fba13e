/*
 * exact.h: exact softmax attention, the baseline every LSH variant is measured against.
 *   S = Q K^T / sqrt(D), padding keys excluded, P = softmax(S), P' = dropout(P), ctx = P' V.
 * Parallel over (batch, head) pairs; each pair's score matrix (T,T) is kept for the backward.
 */
#pragma once
#include "attention/attention.h"
#include "core/common.h"

namespace lshlab {

template <typename T>
class ExactAttention : public Attention<T> {
 public:
  const char* name() const override { return "exact"; }
  void forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call) override;
  void backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                const AttentionCall& call) override;

 private:
  Buffer<T> probs_;      // (B,H,T,T) softmax output before dropout
  Buffer<uint8_t> keep_; // (B,H,T,T) dropout keep mask (training only)
  Buffer<T> scratch_;    // per-task (T,T) workspace for the backward
};

}  // namespace lshlab
