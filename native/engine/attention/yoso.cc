/*
 * yoso.cc: the YOSO attention variant (see yoso.h): parameters, the per-(b, h) pipeline and the
 * gradients through the three L2 normalisations. Phases, each parallel over (b, h) and timed on
 * its own like exact.cc:
 *   hash    normalise Q, K; yoso: draw planes, hash the unit Q and K into codes
 *   scores  yoso-e only: E = mask_i mask_j f(s q_i.k_j) (T,T), and s f'(s x) for backward=exact
 *   values  X = E V (yoso-e) or the LSH cumulation (yoso_lsh.cc); ctx = X / |X|
 *           (+ the YOSO-C depthwise conv of V * mask when conv_window > 0)
 * Normalisation follows F.normalize: x / max(|x|, 1e-12), with the matching backward.
 */
#include "attention/yoso.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "attention/params.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"

namespace lshlab {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
constexpr double kEps = 1e-12;   // F.normalize's eps
constexpr double kScale = 0.98;  // v2's argument scale for backward=exact

// out (n,D) row stride ldo <- rows of x (stride ldx) / max(|x|, eps); nrm (n) <- max(|x|, eps).
template <typename T>
void l2_rows(T* out, int ldo, T* nrm, const T* x, int ldx, int n, int D) {
  for (int i = 0; i < n; i++) {
    const T* r = x + int64_t(i) * ldx;
    double s = 0;
    for (int d = 0; d < D; d++) s += double(r[d]) * r[d];
    const double nv = std::max(std::sqrt(s), kEps);
    nrm[i] = T(nv);
    const T inv = T(1.0 / nv);
    T* o = out + int64_t(i) * ldo;
    for (int d = 0; d < D; d++) o[d] = r[d] * inv;
  }
}

// dx (stride ldx) <- d/dx of y = x / max(|x|, eps), given dy (stride ldy), y (stride D), nrm.
template <typename T>
void l2_rows_backward(T* dx, int ldx, const T* dy, int ldy, const T* y, const T* nrm, int n, int D) {
  for (int i = 0; i < n; i++) {
    const T *g = dy + int64_t(i) * ldy, *yr = y + int64_t(i) * D;
    T* o = dx + int64_t(i) * ldx;
    const double nv = double(nrm[i]);
    double p = 0;
    if (nv > kEps)  // clamped norm is a constant: then the Jacobian is just 1/eps
      for (int d = 0; d < D; d++) p += double(yr[d]) * g[d];
    const T inv = T(1.0 / nv), pp = T(p);
    for (int d = 0; d < D; d++) o[d] = (g[d] - yr[d] * pp) * inv;
  }
}
}  // namespace

YosoOptions parse_yoso_options(const char* variant, const AttentionParams& p) {
  check_known(variant, p, {"tau", "num_hash", "backward", "conv_window"});
  YosoOptions o;
  o.lsh = std::string(variant) == "yoso";
  o.tau = int(param_int(variant, p, "tau", 9, 1, 30));                 // HF hash_code_len = 9
  o.num_hash = int(param_int(variant, p, "num_hash", 64, 1, 1024));    // HF num_hash = 64
  o.exact_backward = param_choice(variant, p, "backward", {"surrogate", "exact"}, 0) == 1;
  o.conv_window = int(param_int(variant, p, "conv_window", 0, 0, 4095));
  if (o.conv_window % 2 == 0 && o.conv_window != 0)
    throw Error(std::string(variant) + ": conv_window must be odd (HF's Conv2d with padding w // 2 "
                "keeps the sequence length only for odd windows) or 0 = off (got '" +
                p.at("conv_window") + "')");
  return o;
}

template <typename T>
std::vector<AttentionParamSpec> YosoAttention<T>::parameter_specs(int H, int D) const {
  (void)D;
  if (o_.conv_window == 0) return {};
  // HF: nn.Conv2d(H, H, (w, 1), groups=H, bias=False).weight, PyTorch's default init
  // kaiming_uniform_(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 1 * w * 1.
  const int w = o_.conv_window;
  return {{"attention.self.conv.weight", {H, 1, w, 1}, 1.0 / std::sqrt(double(w))}};
}

template <typename T>
void YosoAttention<T>::bind_parameters(const std::vector<T*>& data, const std::vector<T*>& grad) {
  const size_t want = o_.conv_window ? 1 : 0;
  LSHLAB_CHECK(data.size() == want && grad.size() == want,
               "yoso: bind_parameters got " + std::to_string(data.size()) + " tensors, expected " +
                   std::to_string(want));
  conv_w_ = want ? data[0] : nullptr;
  conv_g_ = want ? grad[0] : nullptr;
}

namespace {
// YOSO-C: out (T rows, stride ldo) += sum_k w[k] * mask[s] v[s], s = t + k - w/2 in [0, T) (HF's
// depthwise Conv2d over value * mask, kernel (w, 1), zero padding w // 2). Returns the taps done.
template <typename T>
double conv_add(T* out, int ldo, const T* v, int ldv, const int32_t* mk, const T* w, int W, int n,
                int D) {
  const int pad = W / 2;
  double taps = 0;
  for (int t = 0; t < n; t++) {
    T* o = out + int64_t(t) * ldo;
    for (int k = 0; k < W; k++) {
      const int s = t + k - pad;
      if (s < 0 || s >= n || (mk && !mk[s])) continue;
      const T wk = w[k];
      const T* vs = v + int64_t(s) * ldv;
      for (int d = 0; d < D; d++) o[d] += wk * vs[d];
      taps++;
    }
  }
  return taps;
}
// Backward of conv_add: dv[s] += mask[s] sum_k w[k] g[s - k + pad]; dw[k] += sum_t g[t].v[t+k-pad].
template <typename T>
void conv_backward(T* dv, int lddv, double* dw, const T* g, int ldg, const T* v, int ldv,
                   const int32_t* mk, const T* w, int W, int n, int D) {
  const int pad = W / 2;
  for (int t = 0; t < n; t++) {
    const T* gt = g + int64_t(t) * ldg;
    for (int k = 0; k < W; k++) {
      const int s = t + k - pad;
      if (s < 0 || s >= n || (mk && !mk[s])) continue;
      const T* vs = v + int64_t(s) * ldv;
      T* ds = dv + int64_t(s) * lddv;
      const T wk = w[k];
      double acc = 0;
      for (int d = 0; d < D; d++) { acc += double(gt[d]) * vs[d]; ds[d] += wk * gt[d]; }
      dw[k] += acc;
    }
  }
}
}  // namespace

template <typename T>
void YosoAttention<T>::forward(T* ctx, const T* qkv, const int32_t* mask, const AttentionCall& c) {
  const int B = c.B, Tn = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C, m = o_.num_hash,
            tau = o_.tau;
  B_ = B; T_ = Tn; H_ = H; D_ = D;
  const int64_t TD = int64_t(Tn) * D, TT = int64_t(Tn) * Tn, BH = int64_t(B) * H;
  qn_.resize(BH * TD); kn_.resize(BH * TD); y_.resize(BH * TD);
  qnrm_.resize(BH * Tn); knrm_.resize(BH * Tn); ynrm_.resize(BH * Tn);
  if (o_.lsh) {
    planes_.resize(BH * m * tau * D);
    qcode_.resize(BH * m * Tn); kcode_.resize(BH * m * Tn);
  } else {
    e_.resize(BH * TT);
    if (o_.exact_backward) fp_.resize(BH * TT);
  }
  const int W = o_.conv_window;
  LSHLAB_CHECK(W == 0 || conv_w_ != nullptr,
               "yoso: conv_window needs its conv weights bound (bind_parameters) before forward");
  ThreadPool& pool = ThreadPool::global();
  AttentionCounters& k = this->counters_;
  k.reset(H);
  std::vector<double> coll(o_.lsh ? size_t(BH) : 0, 0.0), taps(W ? size_t(BH) : 0, 0.0);

  // Phase 1: unit Q and K; yoso: planes and codes (hashing the unit rows, shared planes).
  auto t0 = Clock::now();
  pool.parallel_for(int(BH), [&](int bh) {
    const int b = bh / H, h = bh % H;
    const T* q = qkv + int64_t(b) * Tn * ld + h * D;
    T *qn = qn_.data() + bh * TD, *kn = kn_.data() + bh * TD;
    l2_rows(qn, D, qnrm_.data() + bh * Tn, q, ld, Tn, D);
    l2_rows(kn, D, knrm_.data() + bh * Tn, q + C, ld, Tn, D);
    if (!o_.lsh) return;
    T* pl = planes_.data() + bh * m * tau * D;
    yoso_planes(pl, c.seed, c.step, c.site, b, h, m, tau, D);
    yoso_hash(qcode_.data() + bh * m * Tn, qn, D, Tn, pl, m, tau, D);
    yoso_hash(kcode_.data() + bh * m * Tn, kn, D, Tn, pl, m, tau, D);
  });
  k.time_hash_s = seconds_since(t0);

  // Phase 2 (yoso-e): E = mask mask^T * f(s Qn Kn^T); fp = s f'(s x) for the exact backward.
  t0 = Clock::now();
  if (!o_.lsh) {
    const double s = o_.exact_backward ? kScale : 1.0;
    pool.parallel_for(int(BH), [&](int bh) {
      const int32_t* mk = mask ? mask + int64_t(bh / H) * Tn : nullptr;
      T* E = e_.data() + bh * TT;
      gemm<T>(false, true, Tn, Tn, D, T(1), qn_.data() + bh * TD, D, kn_.data() + bh * TD, D,
              T(0), E, Tn);
      for (int i = 0; i < Tn; i++)
        for (int j = 0; j < Tn; j++) {
          const int64_t e = int64_t(i) * Tn + j;
          const bool on = !mk || (mk[i] && mk[j]);
          if (o_.exact_backward)
            fp_[bh * TT + e] = on ? T(yoso_kernel_grad(double(E[e]), tau, s)) : T(0);
          E[e] = on ? T(yoso_kernel(double(E[e]), tau, s)) : T(0);
        }
    });
  }
  k.time_scores_s = seconds_since(t0);

  // Phase 3: X = E V or the LSH cumulation; ctx = X / |X| (padded queries: X = 0, ctx = 0).
  t0 = Clock::now();
  pool.parallel_for(int(BH), [&](int bh) {
    const int b = bh / H, h = bh % H;
    const int32_t* mk = mask ? mask + int64_t(b) * Tn : nullptr;
    const T* v = qkv + int64_t(b) * Tn * ld + 2 * C + h * D;
    T* X = y_.data() + bh * TD;
    if (o_.lsh)
      yoso_cumulate(X, qcode_.data() + bh * m * Tn, mk, kcode_.data() + bh * m * Tn, mk, v, ld,
                    Tn, D, m, tau, &coll[size_t(bh)]);
    else
      gemm<T>(false, false, Tn, D, Tn, T(1), e_.data() + bh * TT, Tn, v, ld, T(0), X, D);
    l2_rows(X, D, ynrm_.data() + bh * Tn, X, D, Tn, D);
    T* o = ctx + int64_t(b) * Tn * C + h * D;
    for (int i = 0; i < Tn; i++) std::copy(X + int64_t(i) * D, X + int64_t(i + 1) * D, o + int64_t(i) * C);
    // YOSO-C: + depthwise conv of V * mask, after the normalisation (HF: context_layer += conv).
    if (W) taps[size_t(bh)] = conv_add(o, C, v, ld, mk, conv_w_ + int64_t(h) * W, W, Tn, D);
  });
  k.time_values_s = seconds_since(t0);

  std::vector<double> head_coll(size_t(H), 0.0);
  for (int64_t bh = 0; bh < BH; bh++)
    if (o_.lsh) head_coll[size_t(bh % H)] += coll[size_t(bh)];
  yoso_forward_counters(k, o_, mask, B, Tn, H, D, head_coll.data());
  for (int64_t bh = 0; bh < BH && W; bh++) k.flops_values += 2.0 * taps[size_t(bh)] * D;
}

void yoso_forward_counters(AttentionCounters& k, const YosoOptions& o, const int32_t* mask, int B,
                           int Tn, int H, int D, const double* head_collisions) {
  const int m = o.num_hash, tau = o.tau;
  const double BH = double(B) * H, pairs = BH * Tn * Tn, rows = BH * Tn;  // slots (flops)
  k.set_unpadded_pairs(mask, B, Tn, H);
  if (o.lsh) k.head_collisions.assign(head_collisions, head_collisions + H);
  if (!o.lsh) k.head_dot_products = k.head_pairs;  // the dense Qn Kn^T
  k.sum_heads();
  k.flops_hash = 2 * 3.0 * rows * D;  // two row normalisations (square-sum, scale)
  k.flops_values = 3.0 * rows * D;    // output normalisation
  if (o.lsh) {
    k.flops_hash += 2.0 * (2 * rows) * D * m * tau;  // projections of Q and K: the hashing gemm
    k.flops_values += 2.0 * rows * m * D + rows * D;  // scatter adds, gather adds, 1/m
    // dot_products stays 0: no query-key dot product is formed (values are summed by bucket)
  } else {
    k.flops_scores = 2.0 * pairs * D + 3.0 * pairs;  // Qn Kn^T; clamp, acos, pow as 1 each
    k.flops_values += 2.0 * pairs * D;
  }
}

template <typename T>
void YosoAttention<T>::backward(T* dqkv, const T* dctx, const T* qkv, const int32_t* mask,
                                const AttentionCall& c) {
  LSHLAB_CHECK(c.B == B_ && c.T == T_ && c.H == H_ && c.D == D_,
               "yoso: backward shape differs from the last forward");
  const int B = c.B, Tn = c.T, H = c.H, D = c.D, C = H * D, ld = 3 * C, m = o_.num_hash,
            tau = o_.tau;
  const int64_t TD = int64_t(Tn) * D, TT = int64_t(Tn) * Tn, BH = int64_t(B) * H;
  // g, dQn, dKn and dV (yoso) or W (yoso-e) per (b, h)
  const int64_t per = 3 * TD + (o_.lsh ? TD : TT);
  scratch_.resize(BH * per);
  const int W = o_.conv_window;
  std::vector<double> flops(BH, 0.0), coll(BH, 0.0), dw(size_t(BH) * W, 0.0);
  auto t0 = Clock::now();
  ThreadPool::global().parallel_for(int(BH), [&](int bh) {
    const int b = bh / H, h = bh % H;
    const int32_t* mk = mask ? mask + int64_t(b) * Tn : nullptr;
    const T* v = qkv + int64_t(b) * Tn * ld + 2 * C + h * D;
    T* dq = dqkv + int64_t(b) * Tn * ld + h * D;
    T *dk = dq + C, *dv = dq + 2 * C;
    const T *qn = qn_.data() + bh * TD, *kn = kn_.data() + bh * TD;
    T *g = scratch_.data() + bh * per, *dqn = g + TD, *dkn = dqn + TD;
    // g = dL/dX through the output normalisation; padded queries carry nothing.
    l2_rows_backward(g, D, dctx + int64_t(b) * Tn * C + h * D, C, y_.data() + bh * TD,
                     ynrm_.data() + bh * Tn, Tn, D);
    if (mk)
      for (int i = 0; i < Tn; i++)
        if (!mk[i]) std::fill(g + int64_t(i) * D, g + int64_t(i + 1) * D, T(0));
    double fl = 4.0 * Tn * D;
    if (o_.lsh) {
      // dV_j = (1/m) sum_h sum_{i collides} g_i (the cumulation with query and key roles
      // swapped), summed in the same bucket walk as dQn, dKn (into the third scratch slice).
      const int32_t *qc = qcode_.data() + bh * m * Tn, *kc = kcode_.data() + bh * m * Tn;
      T* dvs = dkn + TD;
      fl += 2.0 * Tn * m * D + Tn * D;
      fl += yoso_lsh_grad_qk(dqn, dkn, g, v, ld, qn, kn, qc, kc, mk, Tn, D, m, tau,
                             o_.exact_backward, &coll[bh], dvs);
      for (int j = 0; j < Tn; j++) std::copy(dvs + int64_t(j) * D, dvs + int64_t(j + 1) * D, dv + int64_t(j) * ld);
    } else {
      // W = (g V^T) * (tau/2 E | fp); dQn = W Kn; dKn = W^T Qn; dV = E^T g.
      const T* E = e_.data() + bh * TT;
      T* W = dkn + TD;
      gemm<T>(false, true, Tn, Tn, D, T(1), g, D, v, ld, T(0), W, Tn);
      if (o_.exact_backward) {
        const T* F = fp_.data() + bh * TT;
        for (int64_t e = 0; e < TT; e++) W[e] *= F[e];
      } else {
        const T half = T(0.5 * tau);
        for (int64_t e = 0; e < TT; e++) W[e] *= half * E[e];
      }
      gemm<T>(false, false, Tn, D, Tn, T(1), W, Tn, kn, D, T(0), dqn, D);
      gemm<T>(true, false, Tn, D, Tn, T(1), W, Tn, qn, D, T(0), dkn, D);
      gemm<T>(true, false, Tn, D, Tn, T(1), E, Tn, g, D, T(0), dv, ld);
      fl += 8.0 * TT * D + 2.0 * TT;
    }
    // Through the input normalisations of Q and K.
    l2_rows_backward(dq, ld, dqn, D, qn, qnrm_.data() + bh * Tn, Tn, D);
    l2_rows_backward(dk, ld, dkn, D, kn, knrm_.data() + bh * Tn, Tn, D);
    flops[bh] = fl + 8.0 * Tn * D;
    // YOSO-C: dV += conv^T(dctx) on unpadded keys; per-(b, h) partial dW, summed below in order.
    if (W) {
      conv_backward(dv, ld, dw.data() + bh * W, dctx + int64_t(b) * Tn * C + h * D, C, v, ld, mk,
                    conv_w_ + int64_t(h) * W, W, Tn, D);
      flops[bh] += 4.0 * double(Tn) * W * D;
    }
  });
  for (int64_t bh = 0; bh < BH; bh++)  // fixed order: deterministic for any thread count
    for (int kk = 0; kk < W; kk++) conv_g_[(bh % H) * W + kk] += T(dw[size_t(bh) * W + kk]);
  AttentionCounters& k = this->counters_;
  k.time_backward_s = seconds_since(t0);
  k.flops_backward = 0;
  for (int64_t i = 0; i < BH; i++) {
    k.flops_backward += flops[i];
    // exact LSH weights need q.k per collision (yoso-e's exact backward reuses fp_: none)
    if (o_.lsh && o_.exact_backward) k.head_dot_products[size_t(i % H)] += coll[size_t(i)];
  }
  k.sum_heads();
}

template <typename T>
std::vector<std::pair<std::string, std::vector<double>>> YosoAttention<T>::debug_state() const {
  if (!o_.lsh) return {};
  std::vector<double> p(planes_.data(), planes_.data() + planes_.size());
  return {{"hyperplanes", std::move(p)}};
}

template class YosoAttention<float>;
template class YosoAttention<double>;

}  // namespace lshlab
