/*
 * test_yoso.cc: native tests of the yoso-e and yoso attention variants (attention/yoso.h):
 * philox planes, collision rates against (1 - angle/pi)^tau, LSH means converging to the
 * expectation (forward and both backward estimators, pair and matrix bucket paths), the surrogate
 * backward against its own formula, the float (AVX2) kernels against the double ones, padding,
 * odd shapes, parameter errors, counters, and a tiny model training with yoso. Finite-difference
 * checks of yoso-e backward=exact live in gradcheck.cc.
 */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/yoso.h"
#include "core/philox.h"
#include "model/bert.h"
#include "test_registry.h"
#include "train/trainer.h"

using namespace lshlab;

namespace {

using Vec = std::vector<double>;
Vec randn(size_t n, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<double> d;
  Vec v(n);
  for (auto& x : v) x = d(r);
  return v;
}
void unit_rows(Vec& x, int n, int D) {
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int d = 0; d < D; d++) s += x[i * D + d] * x[i * D + d];
    for (int d = 0; d < D; d++) x[i * D + d] /= std::sqrt(s);
  }
}
double rel(const Vec& a, const Vec& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); i++) { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i]; }
  return std::sqrt(num / std::max(den, 1e-300));
}
double dotd(const double* a, const double* b, int D) {
  double s = 0;
  for (int d = 0; d < D; d++) s += a[d] * b[d];
  return s;
}
bool throws_naming(const std::string& variant, AttentionParams p, const std::string& word) {
  try {
    make_attention<float>(variant, p);
  } catch (const Error& e) {
    const bool ok = std::string(e.what()).find(word) != std::string::npos;
    if (!ok) std::fprintf(stderr, "    message lacks '%s': %s\n", word.c_str(), e.what());
    return ok;
  }
  return false;
}

// One attention call in double on random inputs; returns ctx and dqkv.
struct Run { Vec qkv, dctx, ctx, dqkv; std::vector<int32_t> mask; };
Run run(const std::string& variant, const AttentionParams& p, int B, int T, int H, int D,
        uint32_t step, int padded = 0, uint64_t seed = 5) {
  Run r;
  const int C = H * D;
  r.qkv = randn(size_t(B) * T * 3 * C, seed);
  r.dctx = randn(size_t(B) * T * C, seed + 1);
  r.ctx.assign(r.dctx.size(), 0);
  r.dqkv.assign(r.qkv.size(), 0);
  r.mask.assign(size_t(B) * T, 1);
  for (int t = T - padded; t < T; t++) r.mask[size_t(B - 1) * T + t] = 0;
  auto a = make_attention<double>(variant, p);
  AttentionCall c{B, T, H, D, true, 0.0, 9, step, 2};
  a->forward(r.ctx.data(), r.qkv.data(), r.mask.data(), c);
  a->backward(r.dqkv.data(), r.dctx.data(), r.qkv.data(), r.mask.data(), c);
  return r;
}

}  // namespace

LSHLAB_TEST("attention/yoso/planes-are-philox-normals") {
  std::vector<double> p(3 * 5 * 7);
  yoso_planes<double>(p.data(), 42, 3, 1, 2, 1, 3, 5, 7);
  const uint64_t base = ((((uint64_t(1) << 12 | 2) << 8 | 1) << 10 | 2) << 20);  // site 1 b 2 h 1 hash 2
  for (int e = 0; e < 35; e++)
    LSHLAB_EXPECT(p[2 * 35 + e] == philox_normal(42, uint32_t(Stream::Attention), 3, base + e));
}

LSHLAB_TEST("attention/yoso/collision-rate-matches-theory") {
  const int D = 8, N = 20000;
  for (double angle : {0.2, 0.8, 1.6, 2.6})
    for (int tau : {1, 3, 9}) {
      double x[D] = {1, 0, 0, 0, 0, 0, 0, 0}, y[D] = {std::cos(angle), std::sin(angle), 0, 0, 0, 0, 0, 0};
      int hits = 0;
      for (int k = 0; k < N; k++) hits += yoso_collide(x, y, D, tau, 17, uint64_t(k));
      const double p = yoso_collision_theory(angle, tau), rate = double(hits) / N;
      const double se = std::sqrt(std::max(p * (1 - p), 1e-12) / N);
      if (std::fabs(rate - p) > 3 * se)
        std::fprintf(stderr, "    angle %.2f tau %d: rate %.5f theory %.5f (3 se %.5f)\n", angle, tau, rate, p, 3 * se);
      LSHLAB_EXPECT(std::fabs(rate - p) <= 3 * se);
    }
}

LSHLAB_TEST("attention/yoso/lsh-mean-converges-to-expectation") {
  // Raw cumulation X (before normalising) of one (b, h): mean over draws -> sum_j f(q.k) v_j.
  const int n = 33, D = 5, m = 4, tau = 3;
  Vec q = randn(n * D, 1), k = randn(n * D, 2), v = randn(n * D, 3);
  unit_rows(q, n, D); unit_rows(k, n, D);
  Vec ye(n * D, 0.0);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      const double f = yoso_kernel(dotd(&q[i * D], &k[j * D], D), tau, 1.0);
      for (int d = 0; d < D; d++) ye[i * D + d] += f * v[j * D + d];
    }
  Vec sum(n * D, 0.0), x(n * D), pl(m * tau * D);
  std::vector<int32_t> qc(m * n), kc(m * n);
  double err[2];
  int done = 0, at = 0;
  for (int draws : {100, 1600}) {
    for (; done < draws; done++) {
      yoso_planes<double>(pl.data(), 3, uint32_t(done), 0, 0, 0, m, tau, D);
      yoso_hash<double>(qc.data(), q.data(), D, n, pl.data(), m, tau, D);
      yoso_hash<double>(kc.data(), k.data(), D, n, pl.data(), m, tau, D);
      yoso_cumulate<double>(x.data(), qc.data(), nullptr, kc.data(), nullptr, v.data(), D, n, D, m, tau);
      for (int e = 0; e < n * D; e++) sum[e] += x[e];
    }
    Vec mean(sum);
    for (auto& e : mean) e /= draws;
    err[at++] = rel(mean, ye);
  }
  // 16x the samples: error / 4 expected (1/sqrt(m draws)); allow 2.5..6.5 for sampling noise.
  std::fprintf(stderr, "    rel err %.4f (m*draws=%d) -> %.4f (m*draws=%d), ratio %.2f\n", err[0], m * 100,
               err[1], m * 1600, err[0] / err[1]);
  LSHLAB_EXPECT(err[1] < 0.03);
  LSHLAB_EXPECT(err[0] / err[1] > 2.5 && err[0] / err[1] < 6.5);

  // Whole variant: mean of yoso's ctx over steps approaches yoso-e's, up to the O(1/m) bias of
  // normalising a noisy sum, so the error must fall as m grows (8x m: bias / 8, noise / sqrt 8).
  const int B = 1, T = 17, H = 2, Dh = 6, steps = 20;
  Run e = run("yoso-e", {{"tau", "4"}}, B, T, H, Dh, 0);
  double cerr[2];
  int ci = 0;
  for (const char* m_ : {"64", "512"}) {
    Vec mean(e.ctx.size(), 0.0);
    for (int s = 0; s < steps; s++) {
      Run r = run("yoso", {{"tau", "4"}, {"num_hash", m_}}, B, T, H, Dh, uint32_t(s));
      for (size_t i = 0; i < mean.size(); i++) mean[i] += r.ctx[i] / steps;
    }
    cerr[ci++] = rel(mean, e.ctx);
    std::fprintf(stderr, "    ctx: mean of %d yoso calls (m=%s) vs yoso-e: rel err %.4f\n", steps, m_, cerr[ci - 1]);
  }
  LSHLAB_EXPECT(cerr[1] < 0.03 && cerr[1] < cerr[0] / 2);
}

LSHLAB_TEST("attention/yoso/lsh-backward-expectation") {
  // Raw dq, dk of the LSH estimator averaged over draws vs the dense formula it estimates:
  // surrogate (tau/2) f(x) and exact s f'(s x), s = 0.98. tau 2 on 65 tokens forces the big-bucket
  // (matrix) path; tau 6 uses the pair path.
  struct Case { int n, D, tau, m, draws; bool exact; };
  for (Case cs : {Case{65, 3, 2, 8, 400, false}, Case{33, 5, 6, 16, 1500, false},
                  Case{33, 5, 4, 16, 1500, true}}) {
    const int n = cs.n, D = cs.D, tau = cs.tau, m = cs.m;
    Vec q = randn(n * D, 11), k = randn(n * D, 12), v = randn(n * D, 13), g = randn(n * D, 14);
    unit_rows(q, n, D); unit_rows(k, n, D);
    for (int d = 0; d < D; d++) { k[d] = q[d]; }  // one exactly parallel pair: f' is where it is largest
    std::vector<int32_t> mask(n, 1);
    mask[n - 1] = 0;
    Vec dq0(n * D, 0.0), dk0(n * D, 0.0);
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        if (!mask[i] || !mask[j]) continue;
        const double x = dotd(&q[i * D], &k[j * D], D);
        const double w = cs.exact ? yoso_kernel_grad(x, tau, 0.98) : 0.5 * tau * yoso_kernel(x, tau, 1.0);
        const double c = w * dotd(&g[i * D], &v[j * D], D);
        for (int d = 0; d < D; d++) { dq0[i * D + d] += c * k[j * D + d]; dk0[j * D + d] += c * q[i * D + d]; }
      }
    Vec sq(n * D, 0.0), sk(n * D, 0.0), dq(n * D), dk(n * D), pl(m * tau * D);
    std::vector<int32_t> qc(m * n), kc(m * n);
    for (int s = 0; s < cs.draws; s++) {
      yoso_planes<double>(pl.data(), 4, uint32_t(s), 1, 0, 0, m, tau, D);
      yoso_hash<double>(qc.data(), q.data(), D, n, pl.data(), m, tau, D);
      yoso_hash<double>(kc.data(), k.data(), D, n, pl.data(), m, tau, D);
      yoso_lsh_grad_qk<double>(dq.data(), dk.data(), g.data(), v.data(), D, q.data(), k.data(),
                               qc.data(), kc.data(), mask.data(), n, D, m, tau, cs.exact);
      for (int e = 0; e < n * D; e++) { sq[e] += dq[e] / cs.draws; sk[e] += dk[e] / cs.draws; }
    }
    const double eq = rel(sq, dq0), ek = rel(sk, dk0);
    std::fprintf(stderr, "    n %d D %d tau %d m %d draws %d %s: rel err dq %.4f dk %.4f\n", n, D, tau, m,
                 cs.draws, cs.exact ? "exact" : "surrogate", eq, ek);
    LSHLAB_EXPECT(eq < 0.05 && ek < 0.05);
    for (int d = 0; d < D; d++) LSHLAB_EXPECT(sq[(n - 1) * D + d] == 0 && sk[(n - 1) * D + d] == 0);
  }
}

LSHLAB_TEST("attention/yoso/float-kernels-match-double") {
  // The float building blocks (AVX2 kernels where the CPU has them: hash-group cumulation, pair
  // loops, bit-major hashing) against the double ones (portable loops) on the same inputs:
  // D = 64 (specialised), 24 and 128 (generic multiples of 8), 20 (portable fallback); masks;
  // m not a multiple of the hash group; small tau (big buckets: matrix path) and tau = 9.
  struct Case { int n, D, m, tau; bool masked; };
  const Case cases[] = {{300, 64, 13, 9, true}, {257, 24, 8, 6, false}, {200, 128, 5, 9, true},
                        {150, 20, 7, 9, true}, {400, 64, 6, 2, false}, {64, 8, 3, 4, true},
                        {700, 64, 9, 3, true}, {333, 32, 5, 5, false}, {260, 16, 4, 4, true}};
  // Every float kernel this CPU runs (AVX-512 pair loop, AVX2, portable), each against double.
  for (const char* kern : {"avx512", "avx2", "portable"}) {
  try { yoso_force_kernel(kern); } catch (const Error&) { continue; }
  std::fprintf(stderr, "    kernel %s\n", yoso_kernel_name());
  for (const Case& cs : cases) {
    const int n = cs.n, D = cs.D, m = cs.m, tau = cs.tau;
    Vec q = randn(size_t(n) * D, 11), k = randn(size_t(n) * D, 12), v = randn(size_t(n) * D, 13),
        g = randn(size_t(n) * D, 14), pl(size_t(m) * tau * D);
    unit_rows(q, n, D);
    unit_rows(k, n, D);
    std::vector<int32_t> mask(n, 1);
    if (cs.masked)
      for (int i = 0; i < n; i += 7) mask[i] = 0;
    yoso_planes<double>(pl.data(), 21, 1, 0, 0, 0, m, tau, D);
    std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end()),
        gf(g.begin(), g.end()), plf(pl.begin(), pl.end());
    std::vector<int32_t> qc(size_t(m) * n), kc(qc.size()), qcf(qc.size()), kcf(qc.size());
    yoso_hash<double>(qc.data(), q.data(), D, n, pl.data(), m, tau, D);
    yoso_hash<double>(kc.data(), k.data(), D, n, pl.data(), m, tau, D);
    yoso_hash<float>(qcf.data(), qf.data(), D, n, plf.data(), m, tau, D);
    yoso_hash<float>(kcf.data(), kf.data(), D, n, plf.data(), m, tau, D);
    size_t flips = 0;  // float rounding may flip a sign bit of a projection within ~1e-6 of 0
    for (size_t e = 0; e < qc.size(); e++) flips += (qc[e] != qcf[e]) + (kc[e] != kcf[e]);
    LSHLAB_EXPECT(flips <= qc.size() / 500);
    const int32_t* mk = cs.masked ? mask.data() : nullptr;
    Vec x(size_t(n) * D), dq(x.size()), dk(x.size());
    std::vector<float> xf(x.size()), dqf(x.size()), dkf(x.size());
    yoso_cumulate<double>(x.data(), qc.data(), mk, kc.data(), mk, v.data(), D, n, D, m, tau);
    yoso_cumulate<float>(xf.data(), qc.data(), mk, kc.data(), mk, vf.data(), D, n, D, m, tau);
    yoso_lsh_grad_qk<double>(dq.data(), dk.data(), g.data(), v.data(), D, q.data(), k.data(),
                             qc.data(), kc.data(), mk, n, D, m, tau, false);
    yoso_lsh_grad_qk<float>(dqf.data(), dkf.data(), gf.data(), vf.data(), D, qf.data(), kf.data(),
                            qc.data(), kc.data(), mk, n, D, m, tau, false);
    const double ex = rel(Vec(xf.begin(), xf.end()), x), eq = rel(Vec(dqf.begin(), dqf.end()), dq),
                 ek = rel(Vec(dkf.begin(), dkf.end()), dk);
    std::fprintf(stderr, "    n=%d D=%d m=%d tau=%d: code flips %zu, rel err X %.1e dq %.1e dk %.1e\n",
                 n, D, m, tau, flips, ex, eq, ek);
    LSHLAB_EXPECT(ex < 1e-5 && eq < 1e-5 && ek < 1e-5);
    // Same inputs, same bits (no dependence on call history or scratch state).
    std::vector<float> xf2(x.size()), dqf2(x.size()), dkf2(x.size());
    yoso_cumulate<float>(xf2.data(), qc.data(), mk, kc.data(), mk, vf.data(), D, n, D, m, tau);
    yoso_lsh_grad_qk<float>(dqf2.data(), dkf2.data(), gf.data(), vf.data(), D, qf.data(), kf.data(),
                            qc.data(), kc.data(), mk, n, D, m, tau, false);
    LSHLAB_EXPECT(xf2 == xf && dqf2 == dqf && dkf2 == dkf);
    // The value gradient summed in the same bucket walk equals the swapped-role cumulation,
    // and passing dv changes nothing else.
    std::vector<float> dvf(x.size()), dvc(x.size()), dqf3(x.size()), dkf3(x.size());
    yoso_cumulate<float>(dvc.data(), kc.data(), mk, qc.data(), mk, gf.data(), D, n, D, m, tau);
    yoso_lsh_grad_qk<float>(dqf3.data(), dkf3.data(), gf.data(), vf.data(), D, qf.data(),
                            kf.data(), qc.data(), kc.data(), mk, n, D, m, tau, false, nullptr,
                            dvf.data());
    LSHLAB_EXPECT(dqf3 == dqf && dkf3 == dkf);
    LSHLAB_EXPECT(rel(Vec(dvf.begin(), dvf.end()), Vec(dvc.begin(), dvc.end())) < 1e-6);
    Vec dvd(x.size()), dvd_c(x.size()), dq4(x.size()), dk4(x.size());
    yoso_cumulate<double>(dvd_c.data(), kc.data(), mk, qc.data(), mk, g.data(), D, n, D, m, tau);
    yoso_lsh_grad_qk<double>(dq4.data(), dk4.data(), g.data(), v.data(), D, q.data(), k.data(),
                             qc.data(), kc.data(), mk, n, D, m, tau, true, nullptr, dvd.data());
    LSHLAB_EXPECT(rel(dvd, dvd_c) < 1e-12);
  }
  }
  yoso_force_kernel("");
}

LSHLAB_TEST("attention/yoso/surrogate-backward-equals-formula") {
  // yoso-e backward=surrogate against a naive transcription of HF's YosoCumulation.backward with
  // F.normalize before (Q, K) and after (X), all in double.
  const int B = 2, T = 7, H = 2, D = 5, C = H * D, tau = 5;
  Run r = run("yoso-e", {{"tau", "5"}}, B, T, H, D, 0, 2);
  Vec ctx(r.ctx.size(), 0.0), dqkv(r.qkv.size(), 0.0);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      auto at = [&](int t, int part) { return &r.qkv[(size_t(b) * T + t) * 3 * C + part * C + h * D]; };
      const int32_t* mk = &r.mask[b * T];
      Vec qn(T * D), kn(T * D), qs(T), ks(T), X(T * D, 0.0), E(T * T), y(T * D), xs(T), gq(T * D, 0.0),
          gk(T * D, 0.0), g(T * D);
      for (int t = 0; t < T; t++) {
        qs[t] = std::sqrt(dotd(at(t, 0), at(t, 0), D)); ks[t] = std::sqrt(dotd(at(t, 1), at(t, 1), D));
        for (int d = 0; d < D; d++) { qn[t * D + d] = at(t, 0)[d] / qs[t]; kn[t * D + d] = at(t, 1)[d] / ks[t]; }
      }
      for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
          E[i * T + j] = mk[i] * mk[j] * std::pow(1 - std::acos(dotd(&qn[i * D], &kn[j * D], D)) / M_PI, tau);
          for (int d = 0; d < D; d++) X[i * D + d] += E[i * T + j] * at(j, 2)[d];
        }
      for (int i = 0; i < T; i++) {
        xs[i] = std::max(std::sqrt(dotd(&X[i * D], &X[i * D], D)), 1e-12);
        for (int d = 0; d < D; d++) ctx[(size_t(b) * T + i) * C + h * D + d] = y[i * D + d] = X[i * D + d] / xs[i];
        const double* dy = &r.dctx[(size_t(b) * T + i) * C + h * D];
        const double p = dotd(&y[i * D], dy, D);
        for (int d = 0; d < D; d++) g[i * D + d] = mk[i] ? (dy[d] - y[i * D + d] * p) / xs[i] : 0.0;
      }
      for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
          const double w = 0.5 * tau * E[i * T + j] * dotd(&g[i * D], at(j, 2), D);
          for (int d = 0; d < D; d++) {
            gq[i * D + d] += w * kn[j * D + d]; gk[j * D + d] += w * qn[i * D + d];
            dqkv[(size_t(b) * T + j) * 3 * C + 2 * C + h * D + d] += E[i * T + j] * g[i * D + d];
          }
        }
      for (int t = 0; t < T; t++) {
        const double pq = dotd(&qn[t * D], &gq[t * D], D), pk = dotd(&kn[t * D], &gk[t * D], D);
        for (int d = 0; d < D; d++) {
          dqkv[(size_t(b) * T + t) * 3 * C + h * D + d] = (gq[t * D + d] - qn[t * D + d] * pq) / qs[t];
          dqkv[(size_t(b) * T + t) * 3 * C + C + h * D + d] = (gk[t * D + d] - kn[t * D + d] * pk) / ks[t];
        }
      }
    }
  std::fprintf(stderr, "    ctx rel err %.2e, dqkv rel err %.2e\n", rel(r.ctx, ctx), rel(r.dqkv, dqkv));
  LSHLAB_EXPECT(rel(r.ctx, ctx) < 1e-12);
  LSHLAB_EXPECT(rel(r.dqkv, dqkv) < 1e-12);
}

LSHLAB_TEST("attention/yoso/padding") {
  for (const char* variant : {"yoso-e", "yoso"}) {
    const int B = 2, T = 9, H = 2, D = 4, C = H * D, pad = 3;
    AttentionParams p = {{"tau", "3"}, {"num_hash", "8"}};
    Run a = run(variant, p, B, T, H, D, 1, pad);
    // Change the padded tokens' q, k, v: nothing real may move.
    Run b = a;
    auto attn = make_attention<double>(variant, p);
    for (int t = T - pad; t < T; t++)
      for (int e = 0; e < 3 * C; e++) b.qkv[(size_t(B - 1) * T + t) * 3 * C + e] += 3.0 + e;
    AttentionCall c{B, T, H, D, true, 0.0, 9, 1, 2};
    attn->forward(b.ctx.data(), b.qkv.data(), b.mask.data(), c);
    attn->backward(b.dqkv.data(), b.dctx.data(), b.qkv.data(), b.mask.data(), c);
    LSHLAB_EXPECT(rel(b.ctx, a.ctx) < 1e-14);
    LSHLAB_EXPECT(rel(b.dqkv, a.dqkv) < 1e-14);
    for (int t = T - pad; t < T; t++) {
      for (int e = 0; e < C; e++) LSHLAB_EXPECT(a.ctx[(size_t(B - 1) * T + t) * C + e] == 0);
      for (int e = 0; e < 3 * C; e++) LSHLAB_EXPECT(a.dqkv[(size_t(B - 1) * T + t) * 3 * C + e] == 0);
    }
  }
}

LSHLAB_TEST("attention/yoso/odd-shapes") {
  for (const char* variant : {"yoso-e", "yoso"})
    for (int T : {1, 7, 33})
      for (const char* bw : {"surrogate", "exact"}) {
        const int B = 2, H = 3, D = 5, C = H * D;
        AttentionParams p = {{"tau", "7"}, {"num_hash", "5"}, {"backward", bw}};
        Run r = run(variant, p, B, T, H, D, 0);
        bool finite = true;
        for (double x : r.dqkv) finite = finite && std::isfinite(x);
        LSHLAB_EXPECT(finite);
        for (int i = 0; i < B * T; i++)
          for (int h = 0; h < H; h++) {
            const double nn = dotd(&r.ctx[i * C + h * D], &r.ctx[i * C + h * D], D);
            LSHLAB_EXPECT(std::fabs(nn - 1) < 1e-9 || nn == 0);  // unit rows (0 only if no collision)
          }
        // float agrees with double (yoso: codes can flip on near-zero projections; compare ctx only
        // where the run is yoso-e).
        if (std::string(variant) == "yoso-e") {
          auto af = make_attention<float>(variant, p);
          std::vector<float> qf(r.qkv.begin(), r.qkv.end()), cf(r.ctx.size());
          AttentionCall c{B, T, H, D, true, 0.0, 9, 0, 2};
          af->forward(cf.data(), qf.data(), r.mask.data(), c);
          LSHLAB_EXPECT(rel(Vec(cf.begin(), cf.end()), r.ctx) < 1e-4);
        }
      }
  // yoso with tau 20 (open-addressing bucket map) matches its own tau-20 definition: with 20 bits
  // nearly nothing collides except identical directions, so q = k gives ctx = v / |v| direction.
  const int B = 1, T = 9, H = 1, D = 4;
  Vec qkv = randn(T * 3 * D, 8), ctx(T * D);
  for (int t = 0; t < T; t++)
    for (int d = 0; d < D; d++) qkv[t * 3 * D + D + d] = 2.0 * qkv[t * 3 * D + d];
  auto a = make_attention<double>("yoso", {{"tau", "20"}, {"num_hash", "4"}});
  AttentionCall c{B, T, H, D, false, 0.0, 1, 0, 0};
  a->forward(ctx.data(), qkv.data(), nullptr, c);
  for (int t = 0; t < T; t++) {
    const double* v = &qkv[t * 3 * D + 2 * D];
    const double nv = std::sqrt(dotd(v, v, D));
    LSHLAB_EXPECT(std::fabs(dotd(&ctx[t * D], v, D) / nv - 1) < 1e-9);
  }
}

LSHLAB_TEST("attention/yoso/bad-params") {
  for (const char* v : {"yoso", "yoso-e"}) {
    LSHLAB_EXPECT(throws_naming(v, {{"tau", "31"}}, "tau"));
    LSHLAB_EXPECT(throws_naming(v, {{"tau", "0"}}, "tau"));
    LSHLAB_EXPECT(throws_naming(v, {{"tau", "x"}}, "tau"));
    LSHLAB_EXPECT(throws_naming(v, {{"num_hash", "0"}}, "num_hash"));
    LSHLAB_EXPECT(throws_naming(v, {{"backward", "autograd"}}, "backward"));
    LSHLAB_EXPECT(throws_naming(v, {{"conv_window", "34"}}, "odd"));  // HF's padding keeps T for odd w only
    LSHLAB_EXPECT(throws_naming(v, {{"conv_window", "-1"}}, "conv_window"));
    LSHLAB_EXPECT(throws_naming(v, {{"conv_window", "4097"}}, "conv_window"));
    LSHLAB_EXPECT(throws_naming(v, {{"hash_code_len", "9"}}, "hash_code_len"));
  }
  auto a = make_attention<float>("yoso", {{"conv_window", "0"}, {"tau", "30"}});
  LSHLAB_EXPECT(std::string(a->name()) == "yoso");
  LSHLAB_EXPECT(a->parameter_specs(2, 8).empty());
  // conv_window declares its weights; forward without bound weights is a clear error.
  auto c = make_attention<double>("yoso-e", {{"conv_window", "33"}});
  auto specs = c->parameter_specs(3, 8);
  LSHLAB_EXPECT(specs.size() == 1 && specs[0].name == "attention.self.conv.weight");
  LSHLAB_EXPECT(specs.size() == 1 && specs[0].shape == std::vector<int64_t>({3, 1, 33, 1}));
  LSHLAB_EXPECT(specs.size() == 1 && std::fabs(specs[0].init_uniform_bound - 1 / std::sqrt(33.0)) < 1e-15);
  Vec q(3 * 24, 0.5), o(24);
  bool threw = false;
  try {
    c->forward(o.data(), q.data(), nullptr, AttentionCall{1, 1, 3, 8, false, 0.0, 1, 0, 0});
  } catch (const Error& e) {
    threw = std::string(e.what()).find("conv_window") != std::string::npos;
  }
  LSHLAB_EXPECT(threw);
}

LSHLAB_TEST("attention/yoso/counters-and-state") {
  const int B = 1, T = 16, H = 2, D = 8, C = H * D, m = 4, tau = 5;
  Vec qkv = randn(T * 3 * C, 3), ctx(T * C), d(T * C, 1.0), dqkv(T * 3 * C);
  AttentionCall c{B, T, H, D, true, 0.0, 1, 0, 0};
  auto y = make_attention<double>("yoso", {{"tau", "5"}, {"num_hash", "4"}});
  y->forward(ctx.data(), qkv.data(), nullptr, c);
  const auto& k = y->counters();
  LSHLAB_EXPECT(k.dot_products == 0 && k.flops_scores == 0 && k.pairs == double(H) * T * T);
  LSHLAB_EXPECT(k.flops_hash >= 2.0 * 2 * T * D * m * tau * H && k.flops_values > 0);
  auto st = y->debug_state();
  LSHLAB_EXPECT(st.size() == 1 && st[0].first == "hyperplanes" && st[0].second.size() == size_t(H) * m * tau * D);
  y->backward(dqkv.data(), d.data(), qkv.data(), nullptr, c);
  LSHLAB_EXPECT(y->counters().flops_backward > 0);
  // Same (seed, step, site): same draws; another step: other draws.
  Vec ctx2(T * C), ctx3(T * C);
  y->forward(ctx2.data(), qkv.data(), nullptr, c);
  LSHLAB_EXPECT(ctx2 == ctx);
  c.step = 1;
  y->forward(ctx3.data(), qkv.data(), nullptr, c);
  LSHLAB_EXPECT(ctx3 != ctx);
  auto e = make_attention<double>("yoso-e", {});
  e->forward(ctx.data(), qkv.data(), nullptr, c);
  LSHLAB_EXPECT(e->counters().dot_products == double(H) * T * T && e->debug_state().empty());
  LSHLAB_EXPECT(e->counters().collisions == 0 && e->counters().collision_density() == 1);
}

LSHLAB_TEST("attention/yoso/collision-counters") {
  // yoso counts (query, key, hash) code matches among unpadded tokens in its forward, per head;
  // checked against an independent count from the hyperplanes the call drew. dot_products: 0 in
  // forward, + one per collision in the exact backward; pairs: unpadded only.
  const int B = 2, T = 13, H = 3, D = 6, C = H * D, m = 5, tau = 3, pad = 4;
  for (const char* bw : {"surrogate", "exact"}) {
    Vec qkv = randn(size_t(B) * T * 3 * C, 21), ctx(size_t(B) * T * C), d = randn(size_t(B) * T * C, 22),
        dqkv(qkv.size());
    std::vector<int32_t> mask(size_t(B) * T, 1);
    for (int t = T - pad; t < T; t++) mask[size_t(T) + t] = 0;
    auto y = make_attention<double>("yoso", {{"tau", "3"}, {"num_hash", "5"}, {"backward", bw}});
    AttentionCall c{B, T, H, D, true, 0.0, 4, 2, 3};
    y->forward(ctx.data(), qkv.data(), mask.data(), c);
    const Vec planes = y->debug_state()[0].second;  // (B,H,m,tau,D)
    Vec want(H, 0.0);
    for (int b = 0; b < B; b++)
      for (int h = 0; h < H; h++)
        for (int g = 0; g < m; g++) {
          auto code = [&](int t, int off) {
            int cd = 0;
            for (int k = 0; k < tau; k++) {
              const double* pl = &planes[((size_t(b * H + h) * m + g) * tau + k) * D];
              cd |= int(dotd(pl, &qkv[(size_t(b) * T + t) * 3 * C + off + h * D], D) > 0) << k;
            }
            return cd;
          };
          for (int i = 0; i < T; i++)
            for (int j = 0; j < T; j++)
              if (mask[size_t(b) * T + i] && mask[size_t(b) * T + j]) want[size_t(h)] += code(i, 0) == code(j, C);
        }
    const AttentionCounters k = y->counters();
    const double unpadded = T * T + (T - pad) * (T - pad);
    double sum = 0;
    for (int h = 0; h < H; h++) {
      LSHLAB_EXPECT(k.head_collisions[size_t(h)] == want[size_t(h)]);
      LSHLAB_EXPECT(k.head_pairs[size_t(h)] == unpadded && k.head_dot_products[size_t(h)] == 0);
      sum += want[size_t(h)];
    }
    LSHLAB_EXPECT(k.collisions == sum && sum > 0 && k.dot_products == 0 && k.pairs == H * unpadded);
    y->backward(dqkv.data(), d.data(), qkv.data(), mask.data(), c);
    const AttentionCounters& kb = y->counters();
    const bool exact = std::string(bw) == "exact";
    for (int h = 0; h < H; h++)
      LSHLAB_EXPECT(kb.head_dot_products[size_t(h)] == (exact ? want[size_t(h)] : 0.0));
    LSHLAB_EXPECT(kb.dot_products == (exact ? sum : 0.0) && kb.collisions == sum);
  }
}

LSHLAB_TEST("attention/yoso/conv-window-forward-and-backward") {
  // YOSO-C = the plain variant + HF's depthwise conv of V * mask (kernel (w,1), zero padding
  // w // 2) after the normalisation; dV, dW against that formula written out here.
  const int B = 2, T = 9, H = 2, D = 3, C = H * D, w = 5, pad = 3;
  for (const char* v : {"yoso-e", "yoso"}) {
    AttentionParams p = {{"tau", "4"}, {"num_hash", "6"}};
    AttentionParams pc = p;
    pc["conv_window"] = std::to_string(w);
    Run base = run(v, p, B, T, H, D, 3, pad);
    auto a = make_attention<double>(v, pc);
    StandaloneAttentionParams<double> sp;
    sp.attach(*a, H, D, 77);
    LSHLAB_EXPECT(sp.data.size() == 1 && sp.data[0].size() == size_t(H) * w);
    const Vec W = sp.data[0];
    for (double x : W) LSHLAB_EXPECT(std::fabs(x) <= 1 / std::sqrt(double(w)) && x != 0);
    Vec ctx(base.ctx.size()), dqkv(base.qkv.size());
    AttentionCall c{B, T, H, D, true, 0.0, 9, 3, 2};
    a->forward(ctx.data(), base.qkv.data(), base.mask.data(), c);
    a->backward(dqkv.data(), base.dctx.data(), base.qkv.data(), base.mask.data(), c);
    Vec want_ctx = base.ctx, want_dqkv = base.dqkv, want_dw(size_t(H) * w, 0.0);
    for (int b = 0; b < B; b++)
      for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++)
          for (int k = 0; k < w; k++) {
            const int s = t + k - w / 2;
            if (s < 0 || s >= T || !base.mask[size_t(b) * T + s]) continue;
            for (int d = 0; d < D; d++) {
              const double vs = base.qkv[(size_t(b) * T + s) * 3 * C + 2 * C + h * D + d];
              const double g = base.dctx[(size_t(b) * T + t) * C + h * D + d];
              want_ctx[(size_t(b) * T + t) * C + h * D + d] += W[size_t(h) * w + k] * vs;
              want_dqkv[(size_t(b) * T + s) * 3 * C + 2 * C + h * D + d] += W[size_t(h) * w + k] * g;
              want_dw[size_t(h) * w + k] += g * vs;
            }
          }
    const double ec = rel(ctx, want_ctx), eg = rel(dqkv, want_dqkv), ew = rel(sp.grad[0], want_dw);
    if (ec > 1e-13 || eg > 1e-13 || ew > 1e-13) std::fprintf(stderr, "    %s: ctx %.2e dqkv %.2e dw %.2e\n", v, ec, eg, ew);
    LSHLAB_EXPECT(ec < 1e-13 && eg < 1e-13 && ew < 1e-13);
    // The gradient accumulates (the model zeroes it between steps).
    a->backward(dqkv.data(), base.dctx.data(), base.qkv.data(), base.mask.data(), c);
    for (size_t i = 0; i < want_dw.size(); i++) want_dw[i] *= 2;
    LSHLAB_EXPECT(rel(sp.grad[0], want_dw) < 1e-13);
  }
}

LSHLAB_TEST("attention/yoso/conv-window-model-trains-and-checkpoints") {
  // A model with conv_window: the conv weights sit in the parameter layout under HF's name and
  // shape, get gradients and AdamW updates, the loss falls, and a checkpoint round-trips them.
  BertConfig cfg;
  cfg.vocab_size = 40; cfg.hidden_size = 32; cfg.num_hidden_layers = 2; cfg.num_attention_heads = 2;
  cfg.intermediate_size = 64; cfg.max_position_embeddings = 16;
  cfg.hidden_dropout_prob = 0; cfg.attention_probs_dropout_prob = 0;
  cfg.attention = "yoso-e";
  cfg.attention_params = {{"tau", "6"}, {"conv_window", "5"}};
  TrainConfig tc;
  tc.lr = 3e-3; tc.weight_decay = 0; tc.seed = 1;
  Trainer tr(cfg, tc);
  ParamSet<float>& ps = tr.model().params();
  const ParamInfo* pi = ps.find("bert.encoder.layer.1.attention.self.conv.weight");
  LSHLAB_EXPECT(pi != nullptr);
  if (!pi) return;
  LSHLAB_EXPECT(pi->shape == std::vector<int64_t>({2, 1, 5, 1}) && pi->decay);
  const std::vector<float> w0(ps.data.data() + pi->offset, ps.data.data() + pi->offset + pi->size);
  for (float x : w0) LSHLAB_EXPECT(std::fabs(x) <= 1 / std::sqrt(5.0) && x != 0);
  const int B = 8, T = 12;
  std::vector<int32_t> ids(B * T), labels(B * T, -100), mask(B * T, 1);
  for (int i = 0; i < B * T; i++) ids[i] = 4 + int32_t(philox_u32(99, 7, 0, uint64_t(i)) % 36);
  for (int b = 0; b < B; b++)
    for (int kk = 0; kk < 3; kk++) {
      const int i = b * T + 1 + (b * 5 + kk * 4) % 11;
      labels[i] = ids[i];
      ids[i] = 3;
    }
  for (int t = 9; t < T; t++) mask[(B - 1) * T + t] = 0;
  Batch bt;
  bt.B = B; bt.T = T; bt.input_ids = ids.data(); bt.attention_mask = mask.data(); bt.labels = labels.data();
  double first = 0, last = 0;
  for (int s = 0; s < 30; s++) {
    last = tr.train_step(bt).loss;
    if (s == 0) first = last;
  }
  std::fprintf(stderr, "    yoso-e conv_window=5: loss %.4f -> %.4f in 30 steps\n", first, last);
  LSHLAB_EXPECT(std::isfinite(last) && last < 0.7 * first);
  const std::vector<float> w1(ps.data.data() + pi->offset, ps.data.data() + pi->offset + pi->size);
  LSHLAB_EXPECT(w1 != w0);  // trained
  char tmpl[] = "/tmp/lshlab-test-yoso-conv-XXXXXX";
  const char* made = mkdtemp(tmpl);
  LSHLAB_EXPECT(made != nullptr);
  if (!made) return;
  const std::string dir = made;
  tr.save(dir);
  Trainer tr2(cfg, tc);
  tr2.load(dir);
  const ParamInfo* p2 = tr2.model().params().find(pi->name);
  const float* d2 = tr2.model().params().data.data() + p2->offset;
  LSHLAB_EXPECT(std::vector<float>(d2, d2 + p2->size) == w1);
  LSHLAB_EXPECT(tr2.evaluate(bt).loss == tr.evaluate(bt).loss);
  std::filesystem::remove_all(dir);
}

LSHLAB_TEST("attention/yoso/tiny-model-trains") {
  for (const char* variant : {"yoso", "yoso-e"}) {
    BertConfig cfg;
    cfg.vocab_size = 40; cfg.hidden_size = 32; cfg.num_hidden_layers = 2; cfg.num_attention_heads = 2;
    cfg.intermediate_size = 64; cfg.max_position_embeddings = 16;
    cfg.hidden_dropout_prob = 0; cfg.attention_probs_dropout_prob = 0;
    cfg.attention = variant;
    cfg.attention_params = {{"tau", "6"}, {"num_hash", "16"}};
    TrainConfig tc;
    tc.lr = 3e-3; tc.weight_decay = 0; tc.seed = 1;
    Trainer tr(cfg, tc);
    const int B = 8, T = 12;
    std::vector<int32_t> ids(B * T), labels(B * T, -100), mask(B * T, 1);
    for (int i = 0; i < B * T; i++) ids[i] = 4 + int32_t(philox_u32(99, 7, 0, uint64_t(i)) % 36);
    for (int b = 0; b < B; b++)
      for (int kk = 0; kk < 3; kk++) {
        const int i = b * T + 1 + (b * 5 + kk * 4) % 11;
        labels[i] = ids[i];
        ids[i] = 3;
      }
    for (int t = 9; t < T; t++) mask[(B - 1) * T + t] = 0;  // one padded sequence
    Batch bt;
    bt.B = B; bt.T = T; bt.input_ids = ids.data(); bt.attention_mask = mask.data(); bt.labels = labels.data();
    double first = 0, last = 0;
    bool finite = true;
    for (int s = 0; s < 30; s++) {
      last = tr.train_step(bt).loss;
      finite = finite && std::isfinite(last);
      if (s == 0) first = last;
    }
    std::fprintf(stderr, "    %s: loss %.4f -> %.4f in 30 steps\n", variant, first, last);
    LSHLAB_EXPECT(finite);
    LSHLAB_EXPECT(last < 0.7 * first);
  }
}
