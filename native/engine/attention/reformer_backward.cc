/*
 * reformer_backward.cc: exact gradient of the Reformer forward (reformer.h) with the hash, the
 * sort and the dropout mask held at what the last forward drew. Per (b,h):
 *   combine:  ctx = sum_r w_r o_r, w = softmax_r(lse_r)
 *             -> d o_r = w_r dctx;  d lse_r = w_r (dctx.o_r - dctx.ctx)
 *   chunk:    o = P' V, P = exp(S - lse)
 *             -> dP = dO V^T (through dropout); dS = P (dP - dO.o + dlse), 0 where S was replaced
 *                by a mask constant; dQs = dS K; dK, dV gathered from every window holding them
 *   keys:     k = x s, s = (|x|^2 + D eps)^(-1/2) -> dx += s dk - s^3 (x.dk) x (shared QK)
 * dqkv: Q slice = query + key paths, K slice = 0 (unused by shared QK), V slice = dV.
 * Not here: gradients through the hash (argmax is piecewise constant, HF detaches it too).
 */
#include <algorithm>
#include <chrono>
#include <cmath>

#include "attention/reformer.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"

namespace lshlab {

// d out per sorted slot, and drow = dlse - delta (delta = dO.o, the softmax row correction).
template <typename T>
void ReformerAttention<T>::bwd_prepare(int bh, const T* dctx) {
  const Plan& s = s_;
  const int b = bh / s.H, h = bh % s.H, D = s.D, C = s.H * D;
  const int32_t* undo = undo_.data() + size_t(bh) * s.G * s.c;
  const T* outs = outs_.data() + size_t(bh) * s.G * s.c * D;
  const T* w = wts_.data() + size_t(bh) * s.R * s.n;
  T* dout = dout_.data() + size_t(bh) * s.G * s.c * D;
  T* drow = drow_.data() + size_t(bh) * s.G * s.c;
  double g[64];  // dctx . o_r per round (num_hashes <= 64, checked by the parameters)
  for (int t = 0; t < s.n; t++) {
    const T* dc = dctx + (int64_t(b) * s.n + t) * C + h * D;
    double gbar = 0;
    for (int r = 0; r < s.R; r++) {
      const T* o = outs + size_t(undo[r * s.Tp + t]) * D;
      double acc = 0;
      for (int d = 0; d < D; d++) acc += double(dc[d]) * o[d];
      g[r] = acc;
      gbar += double(w[r * s.n + t]) * acc;
    }
    for (int r = 0; r < s.R; r++) {
      const int slot = undo[r * s.Tp + t];
      const T wr = w[r * s.n + t];
      T* dst = dout + size_t(slot) * D;
      for (int d = 0; d < D; d++) dst[d] = wr * dc[d];
      const double dlse = s.R > 1 ? double(wr) * (g[r] - gbar) : 0.0;
      drow[slot] = T(dlse - double(wr) * g[r]);
    }
  }
  for (int t = s.n; t < s.Tp; t++)  // internal padding slots carry no gradient
    for (int r = 0; r < s.R; r++) {
      const int slot = undo[r * s.Tp + t];
      std::fill(dout + size_t(slot) * D, dout + size_t(slot + 1) * D, T(0));
      drow[slot] = T(0);
    }
}

// dS for one chunk (into ds_), then dQs = dS Kx_window.
template <typename T>
void ReformerAttention<T>::bwd_chunk_scores(int task) {
  const Plan& s = s_;
  const int bh = task / s.G, g = task % s.G, c = s.c, D = s.D, W = s.W;
  const size_t row0 = (size_t(bh) * s.G + g) * c;
  const T* kw = kx_.data() + (size_t(bh) * s.Gx + g) * c * D;
  const T* vw = vx_.data() + (size_t(bh) * s.Gx + g) * c * D;
  T* dS = ds_.data() + row0 * W;
  // dP' = dO V^T
  gemm<T>(false, true, c, W, D, T(1), dout_.data() + row0 * D, D, vw, D, T(0), dS, W);
  const int32_t* order = order_.data() + row0;
  const int32_t* xp = xpos_.data() + (size_t(bh) * s.Gx + g) * c;
  const uint8_t* valid = valid_.data() + size_t(bh / s.H) * s.Tp;
  const T keep_scale = s.drop ? T(1.0 / (1.0 - s.p)) : T(1);
  for (int i = 0; i < c; i++) {
    T* dr = dS + size_t(i) * W;
    const T* pr = probs_.data() + (row0 + i) * W;
    const T add = drow_[row0 + i];
    if (s.drop) {
      const uint8_t* kp = keep_.data() + (row0 + i) * W;
      for (int w = 0; w < W; w++) dr[w] = kp[w] ? dr[w] * keep_scale : T(0);
    }
    for (int w = 0; w < W; w++) dr[w] = pr[w] * (dr[w] + add);
    const int qp = order[i];
    for (int w = 0; w < W; w++)  // replaced logits are constants: no gradient
      if (xp[w] == qp || !valid[xp[w]]) dr[w] = T(0);
  }
  gemm<T>(false, false, c, D, W, T(1), dS, W, kw, D, T(0), dqs_.data() + row0 * D, D);
}

// dK, dV of sorted chunk g: sum over the windows (chunk g', slot j) that hold it.
template <typename T>
void ReformerAttention<T>::bwd_chunk_keys(int task) {
  const Plan& s = s_;
  const int bh = task / s.G, g = task % s.G, c = s.c, D = s.D, W = s.W;
  const size_t base = size_t(bh) * s.G;
  T* dk = dks_.data() + (base + g) * c * D;
  T* dv = dvs_.data() + (base + g) * c * D;
  const T* P = s.drop ? pdrop_.data() : probs_.data();
  for (int j = 0; j <= s.bef + s.aft; j++) {
    const int gp = ((g + s.bef - j) % s.G + s.G) % s.G;
    const size_t r0 = (base + gp) * c;
    const T beta = j == 0 ? T(0) : T(1);
    gemm<T>(true, false, c, D, c, T(1), ds_.data() + r0 * W + j * c, W, qs_.data() + r0 * D, D,
            beta, dk, D);
    gemm<T>(true, false, c, D, c, T(1), P + r0 * W + j * c, W, dout_.data() + r0 * D, D, beta, dv, D);
  }
}

// Unsort and sum the rounds; shared-QK key path through the normalisation.
template <typename T>
void ReformerAttention<T>::bwd_scatter(int bh, T* dqkv, const T* qkv) {
  const Plan& s = s_;
  const int b = bh / s.H, h = bh % s.H, D = s.D, C = s.H * D, ld = 3 * C;
  const int32_t* undo = undo_.data() + size_t(bh) * s.G * s.c;
  const T* ks = kscale_.data() + size_t(bh) * s.Tp;
  const T* dqs = dqs_.data() + size_t(bh) * s.G * s.c * D;
  const T* dks = dks_.data() + size_t(bh) * s.G * s.c * D;
  const T* dvs = dvs_.data() + size_t(bh) * s.G * s.c * D;
  for (int t = 0; t < s.n; t++) {
    const T* x = qkv + (int64_t(b) * s.n + t) * ld + h * D;
    T* dq = dqkv + (int64_t(b) * s.n + t) * ld + h * D;
    T* dk = dq + C;
    T* dv = dq + 2 * C;
    // One loop per array with restrict pointers so each vectorises (dq/dk/dv share dqkv).
    for (int r = 0; r < s.R; r++) {
      const size_t slot = size_t(undo[r * s.Tp + t]);
      const T* __restrict a = dqs + slot * D;
      const T* __restrict kk = dks + slot * D;
      const T* __restrict vv = dvs + slot * D;
      T* __restrict oq = dq;
      T* __restrict ok = dk;
      T* __restrict ov = dv;
      if (r == 0) {
        for (int d = 0; d < D; d++) oq[d] = a[d];
        for (int d = 0; d < D; d++) ok[d] = kk[d];
        for (int d = 0; d < D; d++) ov[d] = vv[d];
      } else {
        for (int d = 0; d < D; d++) oq[d] += a[d];
        for (int d = 0; d < D; d++) ok[d] += kk[d];
        for (int d = 0; d < D; d++) ov[d] += vv[d];
      }
    }
    // dk currently holds d(normalised key); fold it into dq and clear it.
    const double sc = ks[t];
    double xdk = 0;
    for (int d = 0; d < D; d++) xdk += double(x[d]) * dk[d];
    const T a1 = T(sc), a3 = T(sc * sc * sc * xdk);
    {
      T* __restrict oq = dq;
      const T* __restrict ik = dk;
      const T* __restrict ix = x;
      for (int d = 0; d < D; d++) oq[d] += a1 * ik[d] - a3 * ix[d];
    }
    std::fill(dk, dk + D, T(0));  // the K projection is unused by shared QK: zero gradient
  }
}

template <typename T>
void ReformerAttention<T>::backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                                    const AttentionCall& c) {
  (void)mask;  // the forward's padding and sort are reused as they were
  const Plan& s = s_;
  LSHLAB_CHECK(c.B == s.B && c.T == s.n && c.H == s.H && c.D == s.D,
               "reformer: backward called with a different shape than the last forward");
  const int BH = s.B * s.H, tasks = BH * s.G;
  const size_t rows = size_t(BH) * s.G * s.c;
  dout_.resize(rows * s.D);
  drow_.resize(rows);
  ds_.resize(rows * s.W);
  dqs_.resize(rows * s.D);
  dks_.resize(rows * s.D);
  dvs_.resize(rows * s.D);
  ThreadPool& pool = ThreadPool::global();
  auto t0 = std::chrono::steady_clock::now();
  pool.parallel_for(BH, [this, dctx](int bh) { bwd_prepare(bh, dctx); });
  pool.parallel_for(tasks, [this](int i) { bwd_chunk_scores(i); });
  pool.parallel_for(tasks, [this](int i) { bwd_chunk_keys(i); });
  struct Io { T* dqkv; const T* qkv; } io{dqkv, qkv};
  const Io* iop = &io;  // two captured pointers keep std::function from allocating
  pool.parallel_for(BH, [this, iop](int bh) { bwd_scatter(bh, iop->dqkv, iop->qkv); });
  this->counters_.time_backward_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double dots = double(BH) * s.G * s.c * s.W;
  this->counters_.flops_backward = dots * (8.0 * s.D + 4.0) + 10.0 * BH * s.n * s.R * s.D;
}

template void ReformerAttention<float>::backward(float*, const float*, const float*, const int32_t*,
                                                const AttentionCall&);
template void ReformerAttention<double>::backward(double*, const double*, const double*,
                                                 const int32_t*, const AttentionCall&);

}  // namespace lshlab
