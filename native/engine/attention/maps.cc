/*
 * maps.cc: attention maps (see maps.h): the dense replays of exact, bert-lsh and yoso* from the
 * forward's own hash draws, the exact reference, and the errors. Reformer's replay lives in
 * maps_reformer.cc. Everything here is a plain O(T^2 D) reference loop in double: T <= 128 in
 * the explorer, and readability is the point (this is what the heatmaps claim the variant did).
 */
#include "attention/maps.h"

#include <algorithm>
#include <cmath>

#include "attention/bert_lsh.h"
#include "attention/yoso.h"
#include "core/common.h"

namespace lshlab {

// In maps_reformer.cc.
void reformer_effective_forward(EffectiveAttention& out, const Attention<float>& attn,
                                const AttentionParams& params, const AttentionHead& x);
std::vector<double> reformer_exact_forward(const AttentionHead& x);

namespace {

// Row accessors of one head.
struct Rows {
  const float* base;
  int ld, C, D, n;
  const int32_t* m;
  explicit Rows(const AttentionHead& x)
      : base(x.qkv + int64_t(x.b) * x.call.T * 3 * x.call.H * x.call.D + x.h * x.call.D),
        ld(3 * x.call.H * x.call.D), C(x.call.H * x.call.D), D(x.call.D), n(x.call.T),
        m(x.mask ? x.mask + int64_t(x.b) * x.call.T : nullptr) {}
  bool on(int t) const { return !m || m[t] != 0; }
  const float* q(int t) const { return base + int64_t(t) * ld; }
  const float* k(int t) const { return base + C + int64_t(t) * ld; }
  const float* v(int t) const { return base + 2 * C + int64_t(t) * ld; }
};

double dot(const float* a, const float* b, int D) {
  double s = 0;
  for (int d = 0; d < D; d++) s += double(a[d]) * b[d];
  return s;
}

// Row-wise softmax of logits S (n,n) over the keys allowed (allow[i*n+j] && key unpadded);
// other entries 0; a row with no allowed key stays 0.
void softmax_rows(double* W, const std::vector<double>& S, const std::vector<uint8_t>& allow,
                  const Rows& r) {
  const int n = r.n;
  for (int i = 0; i < n; i++) {
    double mx = -INFINITY, z = 0;
    for (int j = 0; j < n; j++)
      if (r.on(j) && allow[size_t(i) * n + j]) mx = std::max(mx, S[size_t(i) * n + j]);
    for (int j = 0; j < n; j++) {
      const bool ok = r.on(j) && allow[size_t(i) * n + j];
      W[size_t(i) * n + j] = ok ? std::exp(S[size_t(i) * n + j] - mx) : 0.0;
      z += W[size_t(i) * n + j];
    }
    for (int j = 0; j < n && z > 0; j++) W[size_t(i) * n + j] /= z;
  }
}

void exact_weights(EffectiveAttention& out, const Rows& r) {
  const int n = r.n;
  const double scale = 1.0 / std::sqrt(double(r.D));
  std::vector<double> S(size_t(n) * n);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) S[size_t(i) * n + j] = dot(r.q(i), r.k(j), r.D) * scale;
  out.computed.assign(size_t(n) * n, 1);
  softmax_rows(out.weights.data(), S, out.computed, r);
}

// bert-lsh: Algorithm 1 on the same draw as the forward (bert_lsh.cc phase_hash).
void bert_lsh_weights(EffectiveAttention& out, const AttentionParams& params, const AttentionHead& x,
                      const Rows& r) {
  const BertLshConfig cfg = bert_lsh_parse(params);
  const int n = r.n, nh = cfg.num_hashes;
  BertLshFamily fam;
  fam.draw(r.D, cfg, x.call.seed, cfg.reseed_fixed ? 0xFFFFFFFFu : x.call.step,
           bert_lsh_family_index(x.call.site, x.b, x.h));
  std::vector<int32_t> qb(size_t(nh) * n), kb(size_t(nh) * n);
  for (int g = 0; g < nh; g++)
    for (int t = 0; t < n; t++) {
      qb[size_t(g) * n + t] = fam.bucket(g, r.q(t));
      kb[size_t(g) * n + t] = fam.bucket(g, r.k(t));
    }
  auto collide = [&](int i, int j) {
    int hits = 0;
    for (int g = 0; g < nh; g++) hits += qb[size_t(g) * n + i] == kb[size_t(g) * n + j];
    return cfg.combine_and ? hits == nh : hits > 0;
  };
  // A: raw logits (0 where not set); set: the support.
  std::vector<double> A(size_t(n) * n, 0.0);
  std::vector<uint8_t>& set = out.computed;
  set.assign(size_t(n) * n, 0);
  for (int i = 0; i < n; i++)
    for (int j = cfg.symmetric_none ? 0 : i; j < n; j++)
      if (collide(i, j)) {
        const double s = dot(r.q(i), r.k(j), r.D);
        A[size_t(i) * n + j] = s; set[size_t(i) * n + j] = 1;
        if (!cfg.symmetric_none) { A[size_t(j) * n + i] = s; set[size_t(j) * n + i] = 1; }
      }
  if (cfg.fill_masked)  // a row with no colliding unpadded key keeps its diagonal
    for (int i = 0; i < n; i++) {
      bool any = false;
      for (int j = 0; j < n; j++) any = any || (set[size_t(i) * n + j] && r.on(j));
      if (!any && r.on(i)) { A[size_t(i) * n + i] = dot(r.q(i), r.k(i), r.D); set[size_t(i) * n + i] = 1; }
    }
  const double scale = 1.0 / std::sqrt(double(r.D));
  for (auto& a : A) a *= scale;
  const std::vector<uint8_t> all(size_t(n) * n, 1);
  softmax_rows(out.weights.data(), A, cfg.fill_masked ? set : all, r);
}

// F.normalize's arithmetic as yoso.cc's l2_rows (float rows, double norm): out (n,D).
void unit_rows(std::vector<float>& out, const Rows& r, bool keys) {
  out.resize(size_t(r.n) * r.D);
  for (int i = 0; i < r.n; i++) {
    const float* x = keys ? r.k(i) : r.q(i);
    const double nv = std::max(std::sqrt(dot(x, x, r.D)), 1e-12);
    const float inv = float(1.0 / nv);
    for (int d = 0; d < r.D; d++) out[size_t(i) * r.D + d] = x[d] * inv;
  }
}

// yoso-e / yoso: E as the forward used it, then W = E / max(|E V|, eps) (+ YOSO-C's taps).
void yoso_weights(EffectiveAttention& out, const std::string& variant, const AttentionParams& params,
                  const AttentionHead& x, const Rows& r, const float* conv_w) {
  const YosoOptions o = parse_yoso_options(variant.c_str(), params);
  const int n = r.n, D = r.D, m = o.num_hash, tau = o.tau;
  std::vector<float> qn, kn;
  unit_rows(qn, r, false);
  unit_rows(kn, r, true);
  std::vector<double>& W = out.weights;
  out.computed.assign(size_t(n) * n, 0);
  if (o.lsh) {  // the same planes and codes as yoso.cc phase 1
    std::vector<float> planes(size_t(m) * tau * D);
    yoso_planes(planes.data(), x.call.seed, x.call.step, x.call.site, x.b, x.h, m, tau, D);
    std::vector<int32_t> qc(size_t(m) * n), kc(size_t(m) * n);
    yoso_hash(qc.data(), qn.data(), D, n, planes.data(), m, tau, D);
    yoso_hash(kc.data(), kn.data(), D, n, planes.data(), m, tau, D);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        if (!r.on(i) || !r.on(j)) continue;
        int hits = 0;
        for (int g = 0; g < m; g++) hits += qc[size_t(g) * n + i] == kc[size_t(g) * n + j];
        W[size_t(i) * n + j] = double(hits) / m;
        out.computed[size_t(i) * n + j] = hits > 0;
      }
  } else {
    const double s = o.exact_backward ? 0.98 : 1.0;  // yoso.cc kScale
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        if (!r.on(i) || !r.on(j)) continue;
        W[size_t(i) * n + j] = yoso_kernel(dot(&qn[size_t(i) * D], &kn[size_t(j) * D], D), tau, s);
        out.computed[size_t(i) * n + j] = 1;
      }
  }
  for (int i = 0; i < n; i++) {  // divide row i by |X_i|, X = E V
    double ss = 0;
    for (int d = 0; d < D; d++) {
      double xd = 0;
      for (int j = 0; j < n; j++) xd += W[size_t(i) * n + j] * r.v(j)[d];
      ss += xd * xd;
    }
    const double inv = 1.0 / std::max(std::sqrt(ss), 1e-12);
    for (int j = 0; j < n; j++) W[size_t(i) * n + j] *= inv;
  }
  if (o.conv_window > 0) {
    LSHLAB_CHECK(conv_w != nullptr, "attention maps: yoso conv_window needs the layer's conv weights");
    const int w = o.conv_window, pad = w / 2;
    for (int i = 0; i < n; i++)
      for (int k = 0; k < w; k++) {
        const int j = i + k - pad;
        if (j >= 0 && j < n && r.on(j)) W[size_t(i) * n + j] += conv_w[size_t(x.h) * w + k];
      }
  }
}

}  // namespace

EffectiveAttention attention_effective_forward(const Attention<float>& attn,
                                               const std::string& variant,
                                               const AttentionParams& params,
                                               const AttentionHead& x, const float* conv_w) {
  LSHLAB_CHECK(!(x.call.training && x.call.dropout > 0),
               "attention maps: replay needs an inference call (dropout masks are not replayed)");
  LSHLAB_CHECK(variant == attn.name(), "attention maps: variant '" + variant +
                                           "' is not the one that ran ('" + attn.name() + "')");
  const Rows r(x);
  EffectiveAttention out;
  out.weights.assign(size_t(r.n) * r.n, 0.0);
  if (variant == "exact") exact_weights(out, r);
  else if (variant == "bert-lsh") bert_lsh_weights(out, params, x, r);
  else if (variant == "yoso" || variant == "yoso-e") yoso_weights(out, variant, params, x, r, conv_w);
  else if (variant == "reformer") reformer_effective_forward(out, attn, params, x);
  else throw Error("attention maps: no replay for variant '" + variant + "'");
  return out;
}

std::vector<double> attention_exact_forward(const std::string& variant, const AttentionHead& x) {
  if (variant == "reformer") return reformer_exact_forward(x);
  const Rows r(x);
  EffectiveAttention e;
  e.weights.assign(size_t(r.n) * r.n, 0.0);
  exact_weights(e, r);
  return e.weights;
}

AttentionMapErrors attention_map_errors(const std::vector<double>& P, const EffectiveAttention& W,
                                        const AttentionHead& x, const float* ctx) {
  const Rows r(x);
  const int n = r.n, D = r.D;
  const float* c = ctx + int64_t(x.b) * n * r.C + x.h * D;  // row stride C
  AttentionMapErrors e;
  double diff2 = 0, ref2 = 0, replay = 0, cmax = 0, tv_sum = 0, computed = 0, pairs = 0;
  int rows = 0;
  for (int i = 0; i < n; i++) {
    if (!r.on(i)) continue;
    rows++;
    const double* p = &P[size_t(i) * n];
    const double* w = &W.weights[size_t(i) * n];
    for (int d = 0; d < D; d++) {
      double pv = 0, wv = 0;
      for (int j = 0; j < n; j++) { pv += p[j] * r.v(j)[d]; wv += w[j] * r.v(j)[d]; }
      const double cd = c[int64_t(i) * r.C + d];
      diff2 += (cd - pv) * (cd - pv);
      ref2 += pv * pv;
      replay = std::max(replay, std::fabs(wv - cd));
      cmax = std::max(cmax, std::fabs(cd));
    }
    double wsum = 0;
    for (int j = 0; j < n; j++) if (r.on(j)) wsum += std::fabs(w[j]);
    double tv = 0;
    for (int j = 0; j < n; j++) {
      if (!r.on(j)) continue;
      tv += std::fabs(p[j] - (wsum > 0 ? std::fabs(w[j]) / wsum : 0.0));
      pairs++;
      computed += W.computed[size_t(i) * n + j];
    }
    tv *= 0.5;
    tv_sum += tv;
    e.max_tv = std::max(e.max_tv, tv);
  }
  e.output_rel_error = ref2 > 0 ? std::sqrt(diff2 / ref2) : 0;
  e.mean_tv = rows ? tv_sum / rows : 0;
  e.replay_error = cmax > 0 ? replay / cmax : replay;
  e.support = pairs > 0 ? computed / pairs : 0;
  return e;
}

}  // namespace lshlab
