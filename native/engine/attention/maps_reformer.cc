/*
 * maps_reformer.cc: reformer's effective attention matrix (see maps.h) as a dense replay of its
 * forward (reformer.cc): the buckets the forward recorded (debug_state), the same stable sort,
 * chunking, windows, masks and round combination, but one query at a time in double, writing
 * each window entry's weight at its key position. And reformer's exact counterpart: full
 * shared-QK attention (what the variant itself computes when T <= chunk_length).
 */
#include <algorithm>
#include <cmath>

#include "attention/maps.h"
#include "attention/reformer.h"
#include "core/common.h"

namespace lshlab {

namespace {
constexpr double kSelfMask = -1e5, kPadMask = -1e9;  // reformer.cc's HF replacement logits

struct Head {
  const float* x;  // Q slice (shared QK) of (b, h), row stride ld; V at x + 2C
  int ld, C, D, n;
  const int32_t* m;
  std::vector<double> ks;  // key normalisation 1/sqrt(|x|^2/D + 1e-6)/sqrt(D) per position
  explicit Head(const AttentionHead& a)
      : x(a.qkv + int64_t(a.b) * a.call.T * 3 * a.call.H * a.call.D + a.h * a.call.D),
        ld(3 * a.call.H * a.call.D), C(a.call.H * a.call.D), D(a.call.D), n(a.call.T),
        m(a.mask ? a.mask + int64_t(a.b) * a.call.T : nullptr) {
    ks.resize(size_t(n));
    for (int t = 0; t < n; t++) {
      double ss = 0;
      for (int d = 0; d < D; d++) ss += double(x[int64_t(t) * ld + d]) * x[int64_t(t) * ld + d];
      ks[size_t(t)] = 1.0 / std::sqrt(ss / D + 1e-6) / std::sqrt(double(D));
    }
  }
  bool valid(int t) const { return t < n && (!m || m[t] != 0); }
  // Logit of query position i against key position j (j may be internal padding >= n).
  double logit(int i, int j) const {
    if (j == i) return kSelfMask;
    if (!valid(j)) return kPadMask;
    double s = 0;
    for (int d = 0; d < D; d++) s += double(x[int64_t(i) * ld + d]) * x[int64_t(j) * ld + d];
    return s * ks[size_t(j)];
  }
};

// Softmax of the logits of query i over key positions keys[]; p gets the probabilities, the
// return value is the log-sum-exp.
double softmax_keys(std::vector<double>& p, const Head& hd, int i, const std::vector<int>& keys) {
  p.resize(keys.size());
  double mx = -INFINITY, z = 0;
  for (size_t w = 0; w < keys.size(); w++) mx = std::max(mx, p[w] = hd.logit(i, keys[w]));
  for (auto& v : p) z += (v = std::exp(v - mx));
  for (auto& v : p) v /= z;
  return mx + std::log(z);
}
}  // namespace

std::vector<double> reformer_exact_forward(const AttentionHead& a) {
  const Head hd(a);
  const int n = hd.n;
  std::vector<double> P(size_t(n) * n, 0.0), p;
  std::vector<int> keys(static_cast<size_t>(n));
  for (int j = 0; j < n; j++) keys[size_t(j)] = j;
  for (int i = 0; i < n; i++) {
    softmax_keys(p, hd, i, keys);
    std::copy(p.begin(), p.end(), P.begin() + int64_t(i) * n);
  }
  return P;
}

void reformer_effective_forward(EffectiveAttention& out, const Attention<float>& attn,
                                const AttentionParams& params, const AttentionHead& a) {
  const ReformerParams rp = ReformerParams::parse(params);
  const Head hd(a);
  const int n = hd.n;
  out.weights.assign(size_t(n) * n, 0.0);
  out.computed.assign(size_t(n) * n, 0);
  std::vector<double> p;
  if (n <= rp.chunk_length) {  // standard mode: full attention, no hashing
    out.weights = reformer_exact_forward(a);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) out.computed[size_t(i) * n + j] = hd.valid(j);
    return;
  }
  // The forward's buckets (B,H,R,T) and bucket count.
  const auto state = attn.debug_state();
  const std::vector<double>* buckets = nullptr;
  int nb = 0;
  for (const auto& s : state) {
    if (s.first == "buckets") buckets = &s.second;
    if (s.first == "num_buckets") nb = int(s.second.at(0));
  }
  const int R = rp.num_hashes, c = rp.chunk_length, Tp = (n + c - 1) / c * c, G = R * Tp / c;
  LSHLAB_CHECK(buckets && buckets->size() == size_t(a.call.B) * a.call.H * R * n,
               "attention maps: reformer's last forward does not match this call");
  const double* bk = buckets->data() + (size_t(a.b) * a.call.H + a.h) * R * n;
  // order[slot] = position; undo[r*Tp + t] = slot: stable sort by (bucket, position), padding
  // (masked tokens and internal padding) in bucket nb, as reformer.cc's counting sort.
  std::vector<int> order(size_t(R) * Tp), undo(size_t(R) * Tp);
  for (int r = 0; r < R; r++) {
    std::vector<int> pos(static_cast<size_t>(Tp));
    for (int t = 0; t < Tp; t++) pos[size_t(t)] = t;
    auto key = [&](int t) { return t < n && hd.valid(t) ? int(bk[size_t(r) * n + t]) : nb; };
    std::stable_sort(pos.begin(), pos.end(), [&](int u, int v) { return key(u) < key(v); });
    for (int k = 0; k < Tp; k++) {
      order[size_t(r) * Tp + k] = pos[size_t(k)];
      undo[size_t(r) * Tp + pos[size_t(k)]] = r * Tp + k;
    }
  }
  std::vector<int> keys;
  std::vector<double> lse(static_cast<size_t>(R));
  std::vector<std::vector<double>> probs(static_cast<size_t>(R));
  std::vector<std::vector<int>> wkeys(static_cast<size_t>(R));
  for (int t = 0; t < n; t++) {
    for (int r = 0; r < R; r++) {  // query t's slot in round r, its chunk's window
      const int g = undo[size_t(r) * Tp + t] / c;
      keys.clear();
      for (int dx = -rp.num_chunks_before; dx <= rp.num_chunks_after; dx++) {
        const int gg = ((g + dx) % G + G) % G;
        for (int i = 0; i < c; i++) keys.push_back(order[size_t(gg) * c + i]);
      }
      lse[size_t(r)] = softmax_keys(probs[size_t(r)], hd, t, keys);
      wkeys[size_t(r)] = keys;
    }
    double mx = -INFINITY, z = 0;
    for (double l : lse) mx = std::max(mx, l);
    for (double l : lse) z += std::exp(l - mx);
    const double L = mx + std::log(z);
    for (int r = 0; r < R; r++) {
      const double wr = R == 1 ? 1.0 : std::exp(lse[size_t(r)] - L);
      for (size_t w = 0; w < wkeys[size_t(r)].size(); w++) {
        const int j = wkeys[size_t(r)][w];
        if (j >= n) continue;  // internal padding: value 0
        out.weights[size_t(t) * n + j] += wr * probs[size_t(r)][w];
        if (hd.valid(j)) out.computed[size_t(t) * n + j] = 1;
      }
    }
  }
}

}  // namespace lshlab
