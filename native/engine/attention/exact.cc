/*
 * exact.cc: exact softmax attention (see exact.h). Three phases per call (scores, softmax with
 * mask and dropout, values), each parallel over (batch, head) pairs and timed on its own so the
 * counters can report time per stage. This is the reference path; float at long sequences
 * goes to the tiled path (exact_tiled.cc), see exact.h.
 */
#include "attention/exact.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/threadpool.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/ops.h"
#include "ops/cpu/vecmath.h"

namespace lshlab {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
}  // namespace

int exact_tiled_min_seq() { return 12288; }

bool exact_use_tiled(const AttentionCall& c) {
  const bool drop = c.training && c.dropout > 0;
  // probs + scratch (dropout, or dP in the backward) floats, + the keep bytes under dropout.
  const double ref_bytes = double(c.B) * c.H * double(c.T) * c.T * (8.0 + (drop ? 1.0 : 0.0));
  return c.T >= exact_tiled_min_seq() || ref_bytes > 2.0 * 1024 * 1024 * 1024;
}

template <typename T>
void ExactAttention<T>::forward(T* ctx, const T* qkv, const int32_t* mask,
                                const AttentionCall& c) {
  tiled_ = false;
  if constexpr (std::is_same<T, float>::value) {
    if (path_ == ExactPath::Tiled || (path_ == ExactPath::Auto && exact_use_tiled(c))) {
      tiled_ = true;
      const size_t rows = size_t(c.B) * c.T;
      lse_.resize(rows * c.H);
      out_.resize(rows * c.H * c.D);
      this->counters_.reset(c.H);
      exact_tiled::forward(ctx, lse_.data(), qkv, mask, c, this->counters_);
      std::copy(ctx, ctx + rows * c.H * c.D, out_.data());
      return;
    }
  }
  forward_reference(ctx, qkv, mask, c);
}

template <typename T>
void ExactAttention<T>::backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                                 const AttentionCall& c) {
  if constexpr (std::is_same<T, float>::value) {
    if (tiled_) {
      exact_tiled::backward(dqkv, dctx, qkv, out_.data(), lse_.data(), mask, c, this->counters_);
      return;
    }
  }
  backward_reference(dqkv, dctx, qkv, mask, c);
}

template <typename T>
void ExactAttention<T>::forward_reference(T* ctx, const T* qkv, const int32_t* mask,
                                          const AttentionCall& c) {
  const int B = c.B, Tn = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C;
  const int64_t TT = int64_t(Tn) * Tn;
  const bool drop = c.training && c.dropout > 0;
  probs_.resize(size_t(B) * H * TT);
  if (drop) {
    keep_.resize(size_t(B) * H * TT);
    scratch_.resize(size_t(B) * H * TT);
    dropout_mask(keep_.data(), int64_t(B) * H * TT, c.dropout, c.seed, c.step, c.site);
  }
  ThreadPool& pool = ThreadPool::global();
  const T scale = T(1.0 / std::sqrt(double(D)));
  this->counters_.reset(H);

  // Phase 1: S = Q K^T / sqrt(D) for every (b, h).
  auto t0 = Clock::now();
  pool.parallel_for(B * H, [&](int bh) {
    const int b = bh / H, h = bh % H;
    const T* q = qkv + int64_t(b) * Tn * ld + h * D;
    const T* k = q + C;
    gemm<T>(false, true, Tn, Tn, D, scale, q, ld, k, ld, T(0), probs_.data() + bh * TT, Tn);
  });
  this->counters_.time_scores_s = seconds_since(t0);

  // Phase 2: padding keys out, row softmax, dropout.
  t0 = Clock::now();
  pool.parallel_for(B * H, [&](int bh) {
    const int b = bh / H;
    const int32_t* m = mask ? mask + int64_t(b) * Tn : nullptr;
    T* P = probs_.data() + bh * TT;
    for (int i = 0; i < Tn; i++) {
      T* row = P + int64_t(i) * Tn;
      if (m)  // padding keys get -inf: exp() makes them exactly 0
        for (int j = 0; j < Tn; j++)
          if (!m[j]) row[j] = -std::numeric_limits<T>::infinity();
      const T mx = vec_max(row, Tn);
      if (mx == -std::numeric_limits<T>::infinity()) {  // every key is padding: attend nowhere
        std::fill(row, row + Tn, T(0));
        continue;
      }
      const T inv = T(1.0 / vec_exp_shift_sum(row, row, Tn, mx));
      for (int j = 0; j < Tn; j++) row[j] *= inv;
    }
    if (drop) dropout_forward(scratch_.data() + bh * TT, P, keep_.data() + bh * TT, c.dropout, TT);
  });
  this->counters_.time_softmax_s = seconds_since(t0);

  // Phase 3: ctx = P' V.
  t0 = Clock::now();
  pool.parallel_for(B * H, [&](int bh) {
    const int b = bh / H, h = bh % H;
    const T* v = qkv + int64_t(b) * Tn * ld + 2 * C + h * D;
    const T* P = (drop ? scratch_.data() : probs_.data()) + bh * TT;
    gemm<T>(false, false, Tn, D, Tn, T(1), P, Tn, v, ld, T(0), ctx + int64_t(b) * Tn * C + h * D, C);
  });
  this->counters_.time_values_s = seconds_since(t0);

  const double pairs = double(B) * H * TT;  // slots the gemms multiply (flops)
  this->counters_.set_unpadded_pairs(mask, B, Tn, H);
  this->counters_.head_dot_products = this->counters_.head_pairs;  // density 1
  this->counters_.sum_heads();
  this->counters_.flops_scores = 2.0 * pairs * D;
  this->counters_.flops_softmax = 5.0 * pairs;  // max, subtract, exp, sum, scale per element
  this->counters_.flops_values = 2.0 * pairs * D;
}

template <typename T>
void ExactAttention<T>::backward_reference(T* dqkv, const T* dctx, const T* qkv,
                                           const int32_t* mask, const AttentionCall& c) {
  (void)mask;  // masked probabilities are exactly zero, so their gradients vanish on their own
  const int B = c.B, Tn = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C;
  const int64_t TT = int64_t(Tn) * Tn;
  const bool drop = c.training && c.dropout > 0;
  if (!drop) scratch_.resize(size_t(B) * H * TT);
  const T scale = T(1.0 / std::sqrt(double(D)));
  auto t0 = Clock::now();
  ThreadPool::global().parallel_for(B * H, [&](int bh) {
    const int b = bh / H, h = bh % H;
    const T* q = qkv + int64_t(b) * Tn * ld + h * D;
    const T* k = q + C;
    const T* v = q + 2 * C;
    T* dq = dqkv + int64_t(b) * Tn * ld + h * D;
    T* dk = dq + C;
    T* dv = dq + 2 * C;
    const T* dc = dctx + int64_t(b) * Tn * C + h * D;
    const T* P = probs_.data() + bh * TT;
    T* dP = scratch_.data() + bh * TT;  // holds P' (dropout) on entry; reused for dP then dS
    // dV = P'^T dctx (P' = dropped probabilities, or P itself).
    gemm<T>(true, false, Tn, D, Tn, T(1), drop ? dP : P, Tn, dc, C, T(0), dv, ld);
    // dP' = dctx V^T, then through dropout.
    gemm<T>(false, true, Tn, Tn, D, T(1), dc, C, v, ld, T(0), dP, Tn);
    if (drop) dropout_backward(dP, dP, keep_.data() + bh * TT, c.dropout, TT);
    // dS = P * (dP - rowsum(dP * P)).
    for (int i = 0; i < Tn; i++) {
      const T* pr = P + int64_t(i) * Tn;
      T* dr = dP + int64_t(i) * Tn;
      // Eight partial sums: a single accumulator is a serial chain of T dependent adds (the
      // compiler may not reorder float sums), which cost as much as a T x T x 64 gemm at n = 1024.
      T part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int j = 0;
      for (; j + 8 <= Tn; j += 8)
        for (int r = 0; r < 8; r++) part[r] += pr[j + r] * dr[j + r];
      for (; j < Tn; j++) part[0] += pr[j] * dr[j];
      const T dot = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
      for (j = 0; j < Tn; j++) dr[j] = pr[j] * (dr[j] - dot);
    }
    // dQ = dS K / sqrt(D); dK = dS^T Q / sqrt(D).
    gemm<T>(false, false, Tn, D, Tn, scale, dP, Tn, k, ld, T(0), dq, ld);
    gemm<T>(true, false, Tn, D, Tn, scale, dP, Tn, q, ld, T(0), dk, ld);
  });
  this->counters_.time_backward_s = seconds_since(t0);
  this->counters_.flops_backward = double(B) * H * TT * (8.0 * D + 4.0);
}

template class ExactAttention<float>;
template class ExactAttention<double>;

}  // namespace lshlab
