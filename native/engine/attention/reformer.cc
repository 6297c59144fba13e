/*
 * reformer.cc: Reformer LSH attention forward (see reformer.h): parameters, the shape plan, the
 * hash + sort + gather stage (parallel over (b,h)), the chunked scores / softmax / values stages
 * (parallel over (b,h,chunk), one gemm per chunk against a contiguous halo'd key block) and the
 * unsort + round combination. The backward lives in reformer_backward.cc.
 * Not here: causal masking, caching for generation, factorised buckets (HF features we omit).
 */
#include "attention/reformer.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "attention/params.h"
#include "core/philox.h"
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
// HF's torch.where replacement values for float32/float64 logits.
constexpr double kSelfMask = -1e5;
constexpr double kPadMask = -1e9;
}  // namespace

ReformerParams ReformerParams::parse(const AttentionParams& p) {
  const char* v = "reformer";
  check_known(v, p, {"num_hashes", "num_buckets", "chunk_length", "num_chunks_before",
                     "num_chunks_after"});
  ReformerParams r;
  r.num_hashes = int(param_int(v, p, "num_hashes", 1, 1, 64));
  auto it = p.find("num_buckets");
  if (it != p.end() && it->second != "auto") {
    r.num_buckets = int(param_int(v, p, "num_buckets", 0, 2, 1 << 16));
    if (r.num_buckets % 2)
      throw Error("reformer: num_buckets must be even or 'auto' (got '" + it->second + "')");
  }
  r.chunk_length = int(param_int(v, p, "chunk_length", 64, 1, 16384));
  r.num_chunks_before = int(param_int(v, p, "num_chunks_before", 1, 0, 64));
  r.num_chunks_after = int(param_int(v, p, "num_chunks_after", 0, 0, 64));
  return r;
}

template <typename T>
void ReformerAttention<T>::plan(const AttentionCall& c, const int32_t* mask) {
  LSHLAB_CHECK(c.B >= 1 && c.T >= 1 && c.H >= 1 && c.D >= 1, "reformer: empty attention call");
  LSHLAB_CHECK(c.B < 65536 && c.H < 1024, "reformer: at most 65535 batch rows and 1023 heads");
  Plan s;
  s.B = c.B; s.n = c.T; s.H = c.H; s.D = c.D;
  s.standard = c.T <= p_.chunk_length;
  if (s.standard) {  // HF: full attention, one "chunk" of the whole sequence, no neighbours
    s.R = 1; s.nb = 0; s.c = c.T; s.Tp = c.T; s.G = 1; s.bef = s.aft = 0;
  } else {
    s.R = p_.num_hashes; s.c = p_.chunk_length;
    s.Tp = (c.T + s.c - 1) / s.c * s.c;
    const int nc = s.Tp / s.c;
    if (p_.num_buckets > 0) {
      s.nb = p_.num_buckets;
    } else {
      s.nb = 1;
      while (s.nb * 2 <= 2 * nc) s.nb *= 2;
    }
    s.G = s.R * nc; s.bef = p_.num_chunks_before; s.aft = p_.num_chunks_after;
    LSHLAB_CHECK(int64_t(s.D) * s.R * (s.nb / 2) < (int64_t(1) << 24),
                 "reformer: head_dim * num_hashes * num_buckets/2 must stay below 2^24");
  }
  s.W = (1 + s.bef + s.aft) * s.c;
  s.Gx = s.G + s.bef + s.aft;
  s.drop = c.training && c.dropout > 0;
  s.p = c.dropout;
  s.seed = c.seed; s.step = c.step; s.site = c.site;
  s_ = s;
  const size_t BH = size_t(s.B) * s.H, rows = size_t(s.G) * s.c, xrows = size_t(s.Gx) * s.c;
  valid_.resize(size_t(s.B) * s.Tp);
  for (int b = 0; b < s.B; b++)
    for (int t = 0; t < s.Tp; t++)
      valid_[size_t(b) * s.Tp + t] = t < s.n && (!mask || mask[size_t(b) * s.n + t]) ? 1 : 0;
  rot_.resize(BH * s.D * s.R * std::max(1, s.nb / 2));
  rotated_.resize(BH * s.n * s.R * std::max(1, s.nb / 2));
  bucket_.resize(BH * s.R * s.n);
  order_.resize(BH * rows);
  undo_.resize(BH * rows);
  count_.resize(BH * (s.nb + 2));
  xpos_.resize(BH * xrows);
  kscale_.resize(BH * s.Tp);
  qs_.resize(BH * rows * s.D);
  kx_.resize(BH * xrows * s.D);
  vx_.resize(BH * xrows * s.D);
  probs_.resize(BH * rows * s.W);
  if (s.drop) { pdrop_.resize(BH * rows * s.W); keep_.resize(BH * rows * s.W); }
  lse_.resize(BH * rows);
  outs_.resize(BH * rows * s.D);
  wts_.resize(BH * s.R * s.n);
  cvalid_.resize(BH * s.G);
}

// Stage 1 for one (b,h): rotations, buckets, counting sort per round, gather Q, normalised K and
// V into sorted order (K and V with halo chunks so every window is one contiguous block).
template <typename T>
void ReformerAttention<T>::hash_and_gather(int bh, const T* qkv) {
  const Plan& s = s_;
  const int b = bh / s.H, h = bh % s.H, D = s.D, C = s.H * D, ld = 3 * C, c = s.c;
  const T* q = qkv + int64_t(b) * s.n * ld + h * D;  // (T,D) with leading dim 3C
  const T* v = q + 2 * C;
  const uint8_t* valid = valid_.data() + size_t(b) * s.Tp;
  int32_t* order = order_.data() + size_t(bh) * s.G * c;
  int32_t* undo = undo_.data() + size_t(bh) * s.G * c;
  if (s.standard) {
    for (int t = 0; t < s.n; t++) order[t] = undo[t] = t;
  } else {
    const int nb2 = s.nb / 2, RN = s.R * nb2;
    T* rot = rot_.data() + size_t(bh) * D * RN;  // (D, R, nb/2): HF's per-head layout
    // Philox offset: site, b, h in the high bits, element below 2^24 (checked in plan()).
    const uint64_t base = (uint64_t(s.site & 0xFFF) << 50) | (uint64_t(b) << 34) | (uint64_t(h) << 24);
    for (int i = 0; i < D * RN; i++)
      rot[i] = T(philox_normal(s.seed, uint32_t(Stream::Attention), s.step, base + uint64_t(i)));
    T* rx = rotated_.data() + size_t(bh) * s.n * RN;  // (T, R*nb/2)
    gemm<T>(false, false, s.n, RN, D, T(1), q, ld, rot, RN, T(0), rx, RN);
    int32_t* bk = bucket_.data() + size_t(bh) * s.R * s.n;
    int32_t* cnt = count_.data() + size_t(bh) * (s.nb + 2);
    for (int r = 0; r < s.R; r++) {
      for (int t = 0; t < s.n; t++) {  // argmax over [xR, -xR]; first maximum wins as torch
        const T* x = rx + size_t(t) * RN + r * nb2;
        int best = 0;
        T bv = x[0];
        for (int k = 1; k < nb2; k++) if (x[k] > bv) { bv = x[k]; best = k; }
        for (int k = 0; k < nb2; k++) if (-x[k] > bv) { bv = -x[k]; best = nb2 + k; }
        bk[r * s.n + t] = valid[t] ? best : s.nb;
      }
      // Stable counting sort of positions by bucket (padding bucket nb last).
      std::fill(cnt, cnt + s.nb + 2, 0);
      for (int t = 0; t < s.Tp; t++) cnt[1 + (t < s.n ? bk[r * s.n + t] : s.nb)]++;
      for (int k = 0; k <= s.nb; k++) cnt[k + 1] += cnt[k];
      for (int t = 0; t < s.Tp; t++) {
        const int slot = r * s.Tp + cnt[t < s.n ? bk[r * s.n + t] : s.nb]++;
        order[slot] = t;
        undo[r * s.Tp + t] = slot;
      }
    }
  }
  // Key normalisation factors (HF _len_and_dim_norm: x * rsqrt(mean(x^2) + 1e-6) / sqrt(D)).
  T* ks = kscale_.data() + size_t(bh) * s.Tp;
  const double sqrtD = std::sqrt(double(D));
  for (int t = 0; t < s.Tp; t++) {
    double ss = 0;
    if (t < s.n) for (int d = 0; d < D; d++) ss += double(q[int64_t(t) * ld + d]) * q[int64_t(t) * ld + d];
    ks[t] = T(1.0 / std::sqrt(ss / D + 1e-6) / sqrtD);
  }
  // Gather: sorted slot j holds position order[j]; halo chunk x holds sorted chunk (x-bef) mod G.
  T* qs = qs_.data() + size_t(bh) * s.G * c * D;
  T* kx = kx_.data() + size_t(bh) * s.Gx * c * D;
  T* vx = vx_.data() + size_t(bh) * s.Gx * c * D;
  int32_t* xp = xpos_.data() + size_t(bh) * s.Gx * c;
  int32_t* cv = cvalid_.data() + size_t(bh) * s.G;  // unpadded query slots per sorted chunk
  std::fill(cv, cv + s.G, 0);
  for (int j = 0; j < s.G * c; j++) {
    const int t = order[j];
    cv[j / c] += valid[t];
    T* dst = qs + size_t(j) * D;
    if (t < s.n) std::copy(q + int64_t(t) * ld, q + int64_t(t) * ld + D, dst);
    else std::fill(dst, dst + D, T(0));
  }
  for (int x = 0; x < s.Gx; x++) {
    const int g = ((x - s.bef) % s.G + s.G) % s.G;
    for (int i = 0; i < c; i++) {
      const int j = g * c + i, t = order[j], xr = x * c + i;
      xp[xr] = t;
      T* kd = kx + size_t(xr) * D;
      T* vd = vx + size_t(xr) * D;
      if (t < s.n) {
        const T* __restrict qt = q + int64_t(t) * ld;
        const T sc = ks[t];
        T* __restrict kr = kd;
        for (int d = 0; d < D; d++) kr[d] = qt[d] * sc;
        std::copy(v + int64_t(t) * ld, v + int64_t(t) * ld + D, vd);
      } else {
        std::fill(kd, kd + D, T(0));
        std::fill(vd, vd + D, T(0));
      }
    }
  }
}

// S (c, W) = Qs_chunk (c, D) Kx_window^T (W, D); the window starts at halo row g*c.
template <typename T>
void ReformerAttention<T>::chunk_scores(int task) {
  const Plan& s = s_;
  const int bh = task / s.G, g = task % s.G, c = s.c, D = s.D;
  const T* qs = qs_.data() + (size_t(bh) * s.G + g) * c * D;
  const T* kw = kx_.data() + (size_t(bh) * s.Gx + g) * c * D;
  T* S = probs_.data() + (size_t(bh) * s.G + g) * c * s.W;
  gemm<T>(false, true, c, s.W, D, T(1), qs, D, kw, D, T(0), S, s.W);
}

// Masks (self -> -1e5, padding key -> -1e9, as HF's torch.where), lse, P = exp(S - lse), dropout.
template <typename T>
void ReformerAttention<T>::chunk_softmax(int task) {
  const Plan& s = s_;
  const int bh = task / s.G, g = task % s.G, b = bh / s.H, c = s.c, W = s.W;
  const size_t row0 = (size_t(bh) * s.G + g) * c;
  const int32_t* order = order_.data() + size_t(bh) * s.G * c + size_t(g) * c;
  const int32_t* xp = xpos_.data() + (size_t(bh) * s.Gx + g) * c;
  const uint8_t* valid = valid_.data() + size_t(b) * s.Tp;
  for (int i = 0; i < c; i++) {
    T* row = probs_.data() + (row0 + i) * W;
    const int qp = order[i];
    for (int w = 0; w < W; w++) {
      const int kp = xp[w];
      if (kp == qp) row[w] = T(kSelfMask);
      else if (!valid[kp]) row[w] = T(kPadMask);
    }
    const T mx = vec_max(row, W);
    const double sum = vec_exp_shift_sum(row, row, W, mx);
    const T inv = T(1.0 / sum);
    for (int w = 0; w < W; w++) row[w] *= inv;
    lse_[row0 + i] = T(double(mx) + std::log(sum));
  }
  if (s.drop)
    dropout_forward(pdrop_.data() + row0 * W, probs_.data() + row0 * W, keep_.data() + row0 * W,
                    s.p, int64_t(c) * W);
}

// out (c, D) = P' (c, W) Vx_window (W, D).
template <typename T>
void ReformerAttention<T>::chunk_values(int task) {
  const Plan& s = s_;
  const int bh = task / s.G, g = task % s.G, c = s.c, D = s.D;
  const size_t row0 = (size_t(bh) * s.G + g) * c;
  const T* P = (s.drop ? pdrop_.data() : probs_.data()) + row0 * s.W;
  const T* vw = vx_.data() + (size_t(bh) * s.Gx + g) * c * D;
  gemm<T>(false, false, c, D, s.W, T(1), P, s.W, vw, D, T(0), outs_.data() + row0 * D, D);
}

// ctx[t] = sum_r w_r[t] out_r[undo(r,t)], w_r = exp(lse_r - logsumexp_r lse_r) (w = 1 if R = 1).
template <typename T>
void ReformerAttention<T>::combine(int bh, T* ctx) {
  const Plan& s = s_;
  const int b = bh / s.H, h = bh % s.H, D = s.D, C = s.H * D;
  const int32_t* undo = undo_.data() + size_t(bh) * s.G * s.c;
  const T* lse = lse_.data() + size_t(bh) * s.G * s.c;
  const T* outs = outs_.data() + size_t(bh) * s.G * s.c * D;
  T* w = wts_.data() + size_t(bh) * s.R * s.n;
  for (int t = 0; t < s.n; t++) {
    T* dst = ctx + (int64_t(b) * s.n + t) * C + h * D;
    if (s.R == 1) {
      w[t] = T(1);
      const T* o = outs + size_t(undo[t]) * D;
      std::copy(o, o + D, dst);
      continue;
    }
    double mx = -1e300;
    for (int r = 0; r < s.R; r++) mx = std::max(mx, double(lse[undo[r * s.Tp + t]]));
    double sum = 0;
    for (int r = 0; r < s.R; r++) sum += std::exp(double(lse[undo[r * s.Tp + t]]) - mx);
    const double L = mx + std::log(sum);
    std::fill(dst, dst + D, T(0));
    for (int r = 0; r < s.R; r++) {
      const int slot = undo[r * s.Tp + t];
      const T wr = T(std::exp(double(lse[slot]) - L));
      w[r * s.n + t] = wr;
      const T* o = outs + size_t(slot) * D;
      for (int d = 0; d < D; d++) dst[d] += wr * o[d];
    }
  }
}

template <typename T>
void ReformerAttention<T>::forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& call) {
  plan(call, mask);
  const Plan& s = s_;
  const int BH = s.B * s.H, tasks = BH * s.G;
  ThreadPool& pool = ThreadPool::global();
  AttentionCounters& k = this->counters_;
  k.reset(s.H);
  if (s.drop)  // one mask over every (b,h,slot,window key), keyed by the layer's dropout site
    dropout_mask(keep_.data(), int64_t(BH) * s.G * s.c * s.W, s.p, call.seed, call.step, call.site);

  auto t0 = Clock::now();
  pool.parallel_for(BH, [this, qkv](int bh) { hash_and_gather(bh, qkv); });
  k.time_hash_s = seconds_since(t0);
  t0 = Clock::now();
  pool.parallel_for(tasks, [this](int i) { chunk_scores(i); });
  k.time_scores_s = seconds_since(t0);
  t0 = Clock::now();
  pool.parallel_for(tasks, [this](int i) { chunk_softmax(i); });
  k.time_softmax_s = seconds_since(t0);
  t0 = Clock::now();
  pool.parallel_for(tasks, [this](int i) { chunk_values(i); });
  pool.parallel_for(BH, [this, ctx](int bh) { combine(bh, ctx); });
  k.time_values_s = seconds_since(t0);

  const double dots = double(BH) * s.G * s.c * s.W;  // every window entry is a computed dot
  k.flops_hash = s.standard ? 0 : 2.0 * BH * s.n * s.D * s.R * (s.nb / 2);
  // Counters over unpadded tokens (attention.h): chunk g's unpadded query slots times the
  // unpadded keys of its window (chunks g-bef .. g+aft mod G). O(G (1+bef+aft)) per (b, h).
  k.set_unpadded_pairs(mask, s.B, s.n, s.H);
  for (int bh = 0; bh < BH; bh++) {
    const int32_t* cv = cvalid_.data() + size_t(bh) * s.G;
    double d = 0;
    for (int g = 0; g < s.G; g++) {
      int64_t keys = 0;
      for (int x = -s.bef; x <= s.aft; x++) keys += cv[((g + x) % s.G + s.G) % s.G];
      d += double(cv[g]) * double(keys);
    }
    k.head_dot_products[size_t(bh % s.H)] += d;
  }
  k.sum_heads();
  k.flops_scores = 2.0 * dots * s.D;
  k.flops_softmax = 5.0 * dots;
  k.flops_values = 2.0 * dots * s.D + (s.R > 1 ? 2.0 * BH * s.n * s.R * s.D : 0.0);
}

template <typename T>
std::vector<std::pair<std::string, std::vector<double>>> ReformerAttention<T>::debug_state() const {
  const Plan& s = s_;
  std::vector<std::pair<std::string, std::vector<double>>> out;
  const size_t nrot = s.standard ? 0 : size_t(s.B) * s.H * s.D * s.R * (s.nb / 2);
  const size_t nbk = s.standard ? 0 : size_t(s.B) * s.H * s.R * s.n;
  out.push_back({"rotations", std::vector<double>(rot_.data(), rot_.data() + nrot)});
  out.push_back({"num_buckets", {double(s.nb)}});
  out.push_back({"buckets", std::vector<double>(bucket_.data(), bucket_.data() + nbk)});
  out.push_back({"standard", {s.standard ? 1.0 : 0.0}});
  return out;
}

template class ReformerAttention<float>;
template class ReformerAttention<double>;

}  // namespace lshlab
