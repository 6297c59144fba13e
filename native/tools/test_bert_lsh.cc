/*
 * test_bert_lsh.cc: tests of the bert-lsh attention variant against a plain dense float64 replay of
 * the paper's Algorithm 1 (written here, independent of the engine's sparse code, fed the same
 * hash draws through debug_state()), against exact attention where everything collides, and its
 * counters, parameter errors, collision theory and a short training run. Timings are not tested
 * (bench_attention does that); test "attention/bert-lsh/timing" only prints them.
 */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/bert_lsh.h"
#include "core/philox.h"
#include "model/bert.h"
#include "test_registry.h"
#include "train/trainer.h"

using namespace lshlab;

namespace {

using Vec = std::vector<double>;
using Params = AttentionParams;

struct Case {
  int B = 2, T = 13, H = 2, D = 8, padded = 3;  // the last sequence has `padded` padding tokens
  Vec qkv, dctx;
  std::vector<int32_t> mask;
  Case(int B_, int T_, int H_, int D_, int padded_, uint64_t seed) : B(B_), T(T_), H(H_), D(D_), padded(padded_) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd(0, 1);
    qkv.resize(size_t(B) * T * 3 * H * D);
    dctx.resize(size_t(B) * T * H * D);
    for (auto& x : qkv) x = double(float(nd(rng)));  // float-exact, so float runs hash the same
    for (auto& x : dctx) x = double(float(nd(rng)));
    mask.assign(size_t(B) * T, 1);
    for (int t = T - padded; t < T; t++) mask[size_t(B - 1) * T + t] = 0;
  }
  AttentionCall call(bool training = false, double dropout = 0) const {
    return AttentionCall{B, T, H, D, training, dropout, 17, 4, 6};
  }
};

// Dense replay of Algorithm 1 for one call, given the hash draws. Returns ctx and dqkv; counts
// the pairs it computes between unpadded tokens (upper-triangle collisions for transposed fill,
// plus fill=masked diagonals), per head, from its own dense collision matrix.
struct Ref {
  Vec ctx, dqkv;
  double pairs = 0;     // computed unpadded pairs (the counters' dot_products)
  double fallback = 0;  // of which fill=masked diagonals
  Vec head_dots, head_pairs;  // (H) computed unpadded pairs; existing unpadded pairs n_b^2
};
Ref reference(const Case& cs, const BertLshConfig& cfg,
              const std::vector<std::pair<std::string, Vec>>& state) {
  const int B = cs.B, n = cs.T, H = cs.H, D = cs.D, C = H * D, ld = 3 * C, nh = cfg.num_hashes, nb = cfg.bands;
  const Vec& planes = state[1].second;
  const Vec& coefs = state[2].second;
  Ref r;
  r.ctx.assign(size_t(B) * n * C, 0);
  r.dqkv.assign(size_t(B) * n * ld, 0);
  r.head_dots.assign(size_t(H), 0);
  r.head_pairs.assign(size_t(H), 0);
  const double scale = 1 / std::sqrt(double(D));
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const int bh = b * H + h;
      auto Q = [&](int t, int d) { return cs.qkv[size_t(b * n + t) * ld + h * D + d]; };
      auto K = [&](int t, int d) { return cs.qkv[size_t(b * n + t) * ld + C + h * D + d]; };
      auto V = [&](int t, int d) { return cs.qkv[size_t(b * n + t) * ld + 2 * C + h * D + d]; };
      auto bucket = [&](int g, bool key, int t) {
        long long sum = 0;
        for (int k = 0; k < nb; k++) {
          double p = 0;
          for (int d = 0; d < D; d++) p += planes[((size_t(bh) * nh + g) * nb + k) * D + d] * (key ? K(t, d) : Q(t, d));
          if (p > 0) sum += (long long)coefs[(size_t(bh) * nh + g) * nb + k];
        }
        return sum % cfg.table_size;
      };
      std::vector<std::vector<int>> col(n, std::vector<int>(n, 0));  // collision matrix
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
          int hits = 0;
          for (int g = 0; g < nh; g++) hits += bucket(g, false, i) == bucket(g, true, j);
          col[i][j] = cfg.combine_and ? hits == nh : hits > 0;
        }
      // A and which entries are set; U marks the computed pairs (the gradient's support).
      std::vector<Vec> A(n, Vec(n, 0));
      std::vector<std::vector<int>> set(n, std::vector<int>(n, 0));
      auto qk = [&](int i, int j) { double s = 0; for (int d = 0; d < D; d++) s += Q(i, d) * K(j, d); return s; };
      const int32_t* m = cs.mask.data() + size_t(b) * n;
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) r.head_pairs[size_t(h)] += m[i] && m[j];
      for (int i = 0; i < n; i++)
        for (int j = cfg.symmetric_none ? 0 : i; j < n; j++)
          if (col[i][j]) {
            if (m[i] && m[j]) { r.pairs++; r.head_dots[size_t(h)]++; }
            A[i][j] = qk(i, j); set[i][j] = 1;
            if (!cfg.symmetric_none) { A[j][i] = A[i][j]; set[j][i] = 1; }
          }
      if (cfg.fill_masked)
        for (int i = 0; i < n; i++) {
          bool any = false;
          for (int j = 0; j < n; j++) any = any || (set[i][j] && m[j]);
          if (!any && m[i]) { A[i][i] = qk(i, i); set[i][i] = 1; r.pairs++; r.fallback++; r.head_dots[size_t(h)]++; }
        }
      // Softmax over unpadded keys (and, masked, set entries only); P V; dense backward.
      std::vector<Vec> P(n, Vec(n, 0));
      for (int i = 0; i < n; i++) {
        double mx = -1e300, z = 0;
        for (int j = 0; j < n; j++) if (m[j] && (set[i][j] || !cfg.fill_masked)) mx = std::max(mx, A[i][j] * scale);
        for (int j = 0; j < n; j++) if (m[j] && (set[i][j] || !cfg.fill_masked)) z += (P[i][j] = std::exp(A[i][j] * scale - mx));
        for (int j = 0; j < n; j++) if (z > 0) P[i][j] /= z;
      }
      auto dc = [&](int t, int d) { return cs.dctx[size_t(b * n + t) * C + h * D + d]; };
      std::vector<Vec> G(n, Vec(n, 0));  // d loss / d A
      for (int i = 0; i < n; i++) {
        Vec dP(n, 0);
        double rd = 0;
        for (int j = 0; j < n; j++) {
          for (int d = 0; d < D; d++) {
            r.ctx[size_t(b * n + i) * C + h * D + d] += P[i][j] * V(j, d);
            r.dqkv[size_t(b * n + j) * ld + 2 * C + h * D + d] += P[i][j] * dc(i, d);
            dP[j] += dc(i, d) * V(j, d);
          }
          rd += P[i][j] * dP[j];
        }
        for (int j = 0; j < n; j++) G[i][j] = P[i][j] * (dP[j] - rd) * scale;
      }
      // Notes §A.4: g_ij = G[i,j] + G[j,i] (i < j, transposed fill), G[i,i] on the diagonal.
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
          if (!set[i][j]) continue;
          double g;
          if (cfg.symmetric_none || i == j) g = G[i][j];
          else if (i < j) g = G[i][j] + G[j][i];
          else continue;
          for (int d = 0; d < D; d++) {
            r.dqkv[size_t(b * n + i) * ld + h * D + d] += g * K(j, d);
            r.dqkv[size_t(b * n + j) * ld + C + h * D + d] += g * Q(i, d);
          }
        }
    }
  return r;
}

double max_diff(const Vec& a, const Vec& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); i++) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

struct Run {
  Vec ctx, dqkv;
  AttentionCounters counters;
  std::vector<std::pair<std::string, Vec>> state;
};
template <typename T>
Run run(const std::string& variant, const Params& p, const Case& cs, bool training = false, double dropout = 0) {
  auto attn = make_attention<T>(variant, p);
  std::vector<T> qkv(cs.qkv.begin(), cs.qkv.end()), dctx(cs.dctx.begin(), cs.dctx.end());
  std::vector<T> ctx(cs.dctx.size()), dqkv(cs.qkv.size());
  attn->forward(ctx.data(), qkv.data(), cs.mask.data(), cs.call(training, dropout));
  attn->backward(dqkv.data(), dctx.data(), qkv.data(), cs.mask.data(), cs.call(training, dropout));
  return {Vec(ctx.begin(), ctx.end()), Vec(dqkv.begin(), dqkv.end()), attn->counters(), attn->debug_state()};
}

// Compares the variant (double, and float loosely) with the dense reference, on the default
// path choice and with the bucket-blocked path forced on (min tokens 0; it applies to one hash
// function or combine=and, the pair path runs otherwise).
void expect_matches_reference_once(const Params& p, const Case& cs);
void expect_matches_reference(const Params& p, const Case& cs) {
  const int saved = bert_lsh_block_min_tokens();
  for (int mt : {1 << 30, 0}) {
    bert_lsh_set_block_min_tokens(mt);
    expect_matches_reference_once(p, cs);
  }
  bert_lsh_set_block_min_tokens(saved);
}
void expect_matches_reference_once(const Params& p, const Case& cs) {
  Run r = run<double>("bert-lsh", p, cs);
  Ref ref = reference(cs, bert_lsh_parse(p), r.state);
  const double ec = max_diff(r.ctx, ref.ctx), eg = max_diff(r.dqkv, ref.dqkv);
  Run f = run<float>("bert-lsh", p, cs);
  const double fc = max_diff(f.ctx, ref.ctx), fg = max_diff(f.dqkv, ref.dqkv);
  if (ec > 1e-12 || eg > 1e-12 || fc > 1e-4 || fg > 1e-4 || r.counters.dot_products != ref.pairs)
    std::fprintf(stderr, "    ctx %.3g dqkv %.3g (float %.3g %.3g) dots %.0f vs %.0f\n", ec, eg, fc, fg,
                 r.counters.dot_products, ref.pairs);
  LSHLAB_EXPECT(ec < 1e-12 && eg < 1e-12);
  LSHLAB_EXPECT(fc < 1e-4 && fg < 1e-4);
  LSHLAB_EXPECT(r.counters.dot_products == ref.pairs);
  LSHLAB_EXPECT(f.counters.dot_products == ref.pairs);
  // Per head: scored pairs and existing unpadded pairs equal the replay's own counts, so the
  // density per head is the replay's; per-head vectors sum to the totals.
  for (const Run* x : {&r, &f}) {
    const AttentionCounters& k = x->counters;
    LSHLAB_EXPECT(k.head_dot_products == ref.head_dots);
    LSHLAB_EXPECT(k.head_pairs == ref.head_pairs);
    LSHLAB_EXPECT(k.collisions == ref.pairs - ref.fallback);
    double sd = 0, sp = 0, sc = 0;
    for (int h = 0; h < cs.H; h++) {
      sd += k.head_dot_products[size_t(h)]; sp += k.head_pairs[size_t(h)]; sc += k.head_collisions[size_t(h)];
      LSHLAB_EXPECT(k.head_density(h) == (ref.head_pairs[size_t(h)] > 0 ? ref.head_dots[size_t(h)] / ref.head_pairs[size_t(h)] : 0));
      LSHLAB_EXPECT(k.head_density(h) >= 0 && k.head_density(h) <= 1);
    }
    LSHLAB_EXPECT(sd == k.dot_products && sp == k.pairs && sc == k.collisions);
  }
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

LSHLAB_TEST("attention/bert-lsh/paper-algorithm-1") {
  // Defaults (zero fill, transposed fill, or) and the reference pretraining table size.
  expect_matches_reference({}, Case(2, 13, 2, 8, 3, 1));
  expect_matches_reference({{"table_size", "256"}}, Case(2, 13, 2, 8, 3, 2));
  expect_matches_reference({{"bands", "3"}, {"num_hashes", "3"}, {"table_size", "5"}}, Case(2, 17, 2, 8, 4, 3));
}

LSHLAB_TEST("attention/bert-lsh/modes") {
  expect_matches_reference({{"fill", "masked"}}, Case(2, 13, 2, 8, 3, 4));
  expect_matches_reference({{"fill", "masked"}, {"bands", "6"}}, Case(2, 19, 2, 8, 5, 5));  // sparse rows: diagonals
  expect_matches_reference({{"symmetric", "none"}}, Case(2, 13, 2, 8, 3, 6));
  expect_matches_reference({{"combine", "and"}, {"num_hashes", "2"}, {"bands", "1"}}, Case(2, 13, 2, 8, 3, 7));
  expect_matches_reference({{"fill", "masked"}, {"symmetric", "none"}, {"num_hashes", "4"}, {"bands", "4"}, {"table_size", "1000000"}},
                           Case(2, 16, 2, 8, 2, 8));  // sort path (table >> n)
  expect_matches_reference({{"reseed", "fixed"}}, Case(1, 9, 3, 4, 0, 9));
}

LSHLAB_TEST("attention/bert-lsh/length-1-and-odd-head-size") {
  expect_matches_reference({}, Case(2, 1, 2, 5, 0, 10));
  expect_matches_reference({{"fill", "masked"}}, Case(3, 1, 1, 7, 0, 11));
  expect_matches_reference({}, Case(2, 7, 3, 5, 6, 12));  // all but one token of a sequence padded
  expect_matches_reference({{"fill", "masked"}}, Case(2, 7, 3, 3, 6, 13));
}

LSHLAB_TEST("attention/bert-lsh/everything-collides-equals-exact") {
  // table_size 1: one bucket. Needs symmetric=none: the transposed fill gives A[j,i] = q_i.k_j.
  Case cs(2, 11, 2, 6, 3, 14);
  for (bool training : {false, true})
    for (const char* fill : {"zero", "masked"}) {
      Run e = run<double>("exact", {}, cs, training, 0.2);
      Run l = run<double>("bert-lsh", {{"table_size", "1"}, {"symmetric", "none"}, {"fill", fill}}, cs, training, 0.2);
      const double ec = max_diff(e.ctx, l.ctx), eg = max_diff(e.dqkv, l.dqkv);
      if (ec > 1e-12 || eg > 1e-12) std::fprintf(stderr, "    %s training=%d: ctx %.3g dqkv %.3g\n", fill, training, ec, eg);
      LSHLAB_EXPECT(ec < 1e-12 && eg < 1e-12);
      // Every unpadded pair scored: the same counts as exact (density 1 over unpadded pairs).
      const double unpadded = double(cs.H) * (cs.T * cs.T + (cs.T - cs.padded) * (cs.T - cs.padded));
      LSHLAB_EXPECT(l.counters.dot_products == unpadded && l.counters.pairs == unpadded);
      LSHLAB_EXPECT(e.counters.dot_products == unpadded && e.counters.pairs == unpadded);
      LSHLAB_EXPECT(l.counters.collision_density() == 1 && e.counters.collision_density() == 1);
    }
}

LSHLAB_TEST("attention/bert-lsh/draws-replayable") {
  // debug_state holds what bert_lsh_family_index + BertLshFamily::draw give, and the vectorised
  // draw (4 Philox blocks at once, SSE2 Box-Muller) equals the scalar definition on philox_u32
  // words; reseed=per-call changes with the step, fixed does not. (Before the float Box-Muller,
  // normal j was philox_normal(base / 2 + j); the bits changed, the distribution did not: see
  // normals-distribution.)
  Case cs(2, 5, 2, 4, 0, 15);
  Run r = run<double>("bert-lsh", {{"bands", "3"}}, cs);
  BertLshConfig cfg = bert_lsh_parse({{"bands", "3"}});
  BertLshFamily f;
  f.draw(4, cfg, 17, 4, bert_lsh_family_index(6, 1, 1));
  const size_t off = 3 * 3 * 4;  // (b, h) = (1, 1) is the fourth family
  bool same = true;
  for (size_t i = 0; i < f.planes.size(); i++) same = same && f.planes[i] == r.state[1].second[off + i];
  LSHLAB_EXPECT(same);
  const uint64_t base = bert_lsh_family_index(6, 1, 1) << 20;
  // Normal j: float Box-Muller pair on Philox words base + (j & ~1), base + (j | 1); the SSE2
  // kernel equals the scalar definition bit for bit.
  BertLshFamily big;  // 3 x 5 x 7 = 105 normals: several 16-normal steps and a partial one
  BertLshConfig bc = bert_lsh_parse({{"bands", "5"}, {"num_hashes", "3"}});
  big.draw(7, bc, 17, 4, bert_lsh_family_index(6, 1, 1));
  for (const BertLshFamily* fam : {&f, &big}) {
    const int cnt = int(fam->planes.size());
    bool all = true;
    for (int j = 0; j < cnt; j += 8) {
      uint32_t w[8];
      for (int l = 0; l < 8; l++) w[l] = philox_u32(17, uint32_t(Stream::Attention), 4, base + uint64_t(j + l));
      float z[8], zs[8];
      bert_lsh_normal8(w, z);
      bert_lsh_normal8_scalar(w, zs);
      for (int l = 0; l < 8 && j + l < cnt; l++) all = all && fam->planes[size_t(j + l)] == double(zs[l]) && z[l] == zs[l];
    }
    LSHLAB_EXPECT(all);
  }
  BertLshFamily g;
  g.draw(4, cfg, 17, 5, bert_lsh_family_index(6, 1, 1));
  LSHLAB_EXPECT(g.planes != f.planes);
}

LSHLAB_TEST("attention/bert-lsh/normals-distribution") {
  // The float Box-Muller: many words against the double libm Box-Muller (same pair, cos and sin)
  // and as a sample: moments and the CDF at fixed points of N(0,1) (KS-style, 1e6 draws).
  const int N = 1 << 20;
  std::vector<float> z(N);
  double maxerr = 0;
  for (int k = 0; k < N; k += 8) {
    uint32_t w[8];
    for (int l = 0; l < 8; l++) w[l] = philox_u32(3, 9, 1, uint64_t(k + l));
    bert_lsh_normal8(w, z.data() + k);
    for (int p = 0; p < 4; p++) {
      const double u1 = (double(w[2 * p] >> 8) + 1.0) / 16777216.0, u2 = double(w[2 * p + 1] >> 8) / 16777216.0;
      const double r = std::sqrt(-2.0 * std::log(u1));
      maxerr = std::max({maxerr, std::fabs(z[size_t(k + 2 * p)] - r * std::cos(6.283185307179586 * u2)),
                         std::fabs(z[size_t(k + 2 * p + 1)] - r * std::sin(6.283185307179586 * u2))});
    }
  }
  double m1 = 0, m2 = 0, m4 = 0;
  for (float x : z) { m1 += x; m2 += double(x) * x; m4 += double(x) * x * x * x; }
  m1 /= N; m2 /= N; m4 /= N;
  std::vector<float> sorted(z);
  std::sort(sorted.begin(), sorted.end());
  double ks = 0;
  for (int i = 0; i < N; i += 97) {
    const double cdf = 0.5 * std::erfc(-double(sorted[size_t(i)]) / std::sqrt(2.0));
    ks = std::max(ks, std::fabs(cdf - (i + 0.5) / N));
  }
  std::fprintf(stderr, "    max |float - double Box-Muller| %.3g, mean %.4f var %.4f kurt %.4f, KS %.5f\n", maxerr, m1, m2, m4, ks);
  LSHLAB_EXPECT(maxerr < 5e-5);
  LSHLAB_EXPECT(std::fabs(m1) < 5e-3 && std::fabs(m2 - 1) < 6e-3 && std::fabs(m4 - 3) < 4e-2);
  LSHLAB_EXPECT(ks < 2e-3);  // 1.36/sqrt(N) = 1.3e-3 at 5%
}

LSHLAB_TEST("attention/bert-lsh/blocked-path") {
  // Larger cases on the blocked path (default threshold) against the dense reference: dropout
  // with fill=masked (keep bits per entry), padding, several buckets, combine=and.
  const int saved = bert_lsh_block_min_tokens();
  bert_lsh_set_block_min_tokens(0);
  for (bool training : {false, true}) {
    Case cs(2, 40, 2, 8, 7, 30);
    Run e = run<double>("bert-lsh", {{"fill", "masked"}}, cs, training, 0.2);
    bert_lsh_set_block_min_tokens(1 << 30);
    Run p = run<double>("bert-lsh", {{"fill", "masked"}}, cs, training, 0.2);
    bert_lsh_set_block_min_tokens(0);
    const double ec = max_diff(e.ctx, p.ctx), eg = max_diff(e.dqkv, p.dqkv);
    if (ec > 1e-12 || eg > 1e-12) std::fprintf(stderr, "    training=%d: blocked vs pairs ctx %.3g dqkv %.3g\n", training, ec, eg);
    LSHLAB_EXPECT(ec < 1e-12 && eg < 1e-12);
    LSHLAB_EXPECT(e.counters.dot_products == p.counters.dot_products);
  }
  expect_matches_reference_once({}, Case(2, 70, 2, 8, 9, 31));
  expect_matches_reference_once({{"fill", "masked"}}, Case(2, 70, 2, 8, 9, 32));
  expect_matches_reference_once({{"fill", "masked"}, {"bands", "5"}, {"table_size", "7"}}, Case(2, 50, 2, 8, 9, 33));
  expect_matches_reference_once({{"combine", "and"}, {"num_hashes", "3"}, {"table_size", "3"}}, Case(2, 50, 2, 8, 9, 34));
  expect_matches_reference_once({{"symmetric", "none"}, {"fill", "masked"}}, Case(2, 50, 2, 8, 9, 35));
  expect_matches_reference_once({{"table_size", "1000000"}, {"bands", "12"}}, Case(1, 64, 2, 8, 0, 36));  // sort path
  bert_lsh_set_block_min_tokens(saved);
}

LSHLAB_TEST("attention/bert-lsh/counters") {
  Case cs(1, 10, 2, 64, 0, 16);
  Run r = run<float>("bert-lsh", {}, cs);
  const AttentionCounters& c = r.counters;
  LSHLAB_EXPECT(c.pairs == 200);
  LSHLAB_EXPECT(c.flops_hash == 10240);  // the paper's 10.24 KFLOPs per layer... x2 layers /2000
  LSHLAB_EXPECT(c.flops_scores == 2.0 * 64 * c.dot_products);
  LSHLAB_EXPECT(c.dot_products >= 5 && c.dot_products <= 110);  // triu incl. diagonal: 2 x 55 slots
  LSHLAB_EXPECT(c.time_hash_s >= 0 && c.time_backward_s >= 0);
}

LSHLAB_TEST("attention/bert-lsh/masked-work-follows-density") {
  // n = 2048, bands = 8: P(collide) ~ 2^-8 + 1/64 at 90 degrees, so pairs << n^2.
  const int n = 2048;
  Case cs(1, n, 4, 64, 0, 17);  // 4 heads: 4 draws of the coefficients
  const double theory = bert_lsh_collision_theory(1.5707963267948966, 8, 64, 1, false);
  double dens[2];
  int k = 0;
  for (const char* bands : {"8", "2"}) {
    Run r = run<float>("bert-lsh", {{"fill", "masked"}, {"bands", bands}}, cs);
    dens[k++] = r.counters.collision_density();  // dot products / (B H n^2)
    std::fprintf(stderr, "    bands %s: %.0f dot products over %d heads of %d^2 slots (%.4f)\n", bands,
                 r.counters.dot_products, cs.H, n, dens[k - 1]);
  }
  std::fprintf(stderr, "    theory (bands 8, 90 deg, upper triangle) %.4f\n", theory / 2);
  LSHLAB_EXPECT(dens[0] < 0.05);
  LSHLAB_EXPECT(dens[0] > 0.25 * theory / 2 && dens[0] < 4 * theory / 2);
  LSHLAB_EXPECT(dens[1] > 4 * dens[0]);
}

LSHLAB_TEST("attention/bert-lsh/collision-theory") {
  // Monte Carlo over draws at fixed angles: frequency within 4 sigma of the model.
  const int D = 16, draws = 4000;
  for (double angle : {0.3, 1.2, 2.5})
    for (auto [bands, table, hashes, andc] : {std::tuple{2, 64, 1, false}, {4, 3, 2, false}, {3, 5, 2, true}}) {
      Vec x(D, 0), y(D, 0);
      x[0] = 1; y[0] = std::cos(angle); y[1] = std::sin(angle);
      int hits = 0;
      for (int d = 0; d < draws; d++) hits += bert_lsh_collide(x.data(), y.data(), D, bands, table, hashes, andc, 99, uint64_t(d));
      const double p = bert_lsh_collision_theory(angle, bands, table, hashes, andc), f = double(hits) / draws;
      const double sigma = std::sqrt(p * (1 - p) / draws);
      if (std::fabs(f - p) > 4 * sigma + 1e-3) std::fprintf(stderr, "    angle %.1f bands %d: %.4f vs %.4f\n", angle, bands, f, p);
      LSHLAB_EXPECT(std::fabs(f - p) <= 4 * sigma + 1e-3);
    }
}

LSHLAB_TEST("attention/bert-lsh/bad-parameters") {
  for (auto [name, value] : {std::pair{"bands", "0"}, {"bands", "65"}, {"table_size", "0"}, {"num_hashes", "-1"},
                             {"fill", "inf"}, {"symmetric", "yes"}, {"combine", "xor"}, {"reseed", "never"}, {"bogus", "1"}}) {
    std::string msg;
    try { make_attention<float>("bert-lsh", {{name, value}}); } catch (const Error& e) { msg = e.what(); }
    if (!contains(msg, name)) std::fprintf(stderr, "    %s=%s: '%s'\n", name, value, msg.c_str());
    LSHLAB_EXPECT(contains(msg, name) && contains(msg, "bert-lsh"));
  }
}

LSHLAB_TEST("attention/bert-lsh/tiny-model-trains") {
  for (const char* fill : {"zero", "masked"}) {
    BertConfig cfg;
    cfg.vocab_size = 40; cfg.hidden_size = 32; cfg.num_hidden_layers = 2; cfg.num_attention_heads = 2;
    cfg.intermediate_size = 64; cfg.max_position_embeddings = 16;
    cfg.attention = "bert-lsh";
    cfg.attention_params = {{"fill", fill}};
    TrainConfig tc;
    tc.lr = 3e-3; tc.weight_decay = 0; tc.seed = 2;
    Trainer tr(cfg, tc);
    const int B = 8, T = 12;
    std::vector<int32_t> ids(B * T), labels(B * T, -100), am(B * T, 1);
    for (int i = 0; i < B * T; i++) ids[i] = 4 + int32_t(philox_u32(5, 7, 0, uint64_t(i)) % 36);
    for (int b = 0; b < B; b++) { am[b * T + T - 1] = 0; for (int k = 0; k < 3; k++) { const int i = b * T + 1 + (b + 3 * k) % 10; labels[i] = ids[i]; ids[i] = 3; } }
    Batch batch;
    batch.B = B; batch.T = T; batch.input_ids = ids.data(); batch.attention_mask = am.data(); batch.labels = labels.data();
    double first = 0, last = 0;
    bool finite = true;
    for (int s = 0; s < 30; s++) {
      const double l = tr.train_step(batch).loss;
      finite = finite && std::isfinite(l);
      if (s == 0) first = l;
      last = l;
    }
    std::fprintf(stderr, "    fill=%s: loss %.4f -> %.4f after 30 steps\n", fill, first, last);
    LSHLAB_EXPECT(finite && last < first - 0.5);
  }
}

LSHLAB_TEST("attention/bert-lsh/trainer-returns-counters-per-layer") {
  // train_step and evaluate hand back every layer's counters (per head inside): unpadded pairs
  // per head, densities in (0, 1], FLOPs by stage (the backward's only in the step), and the
  // per-layer counters sum to the totals.
  BertConfig cfg;
  cfg.vocab_size = 40; cfg.hidden_size = 32; cfg.num_hidden_layers = 3; cfg.num_attention_heads = 4;
  cfg.intermediate_size = 64; cfg.max_position_embeddings = 16;
  cfg.attention = "bert-lsh";
  TrainConfig tc;
  Trainer tr(cfg, tc);
  const int B = 3, T = 11;
  std::vector<int32_t> ids(B * T), labels(B * T, -100), mask(B * T, 1);
  for (int i = 0; i < B * T; i++) ids[i] = 4 + int32_t(philox_u32(5, 7, 0, uint64_t(i)) % 36);
  labels[3] = ids[3];
  for (int t = 7; t < T; t++) mask[2 * T + t] = 0;
  Batch bt;
  bt.B = B; bt.T = T; bt.input_ids = ids.data(); bt.attention_mask = mask.data(); bt.labels = labels.data();
  EvalStats ev = tr.evaluate(bt);
  StepStats st = tr.train_step(bt);
  LSHLAB_EXPECT(st.attention.size() == 3 && ev.attention.size() == 3);
  const double unpadded = 2.0 * T * T + 7.0 * 7;
  for (size_t l = 0; l < st.attention.size() && l < ev.attention.size(); l++) {
    const AttentionCounters& k = st.attention[l];
    LSHLAB_EXPECT(k.head_pairs.size() == 4 && k.pairs == 4 * unpadded);
    for (int h = 0; h < 4; h++) LSHLAB_EXPECT(k.head_density(h) > 0 && k.head_density(h) <= 1);
    LSHLAB_EXPECT(k.flops_scores > 0 && k.flops_backward > 0 && ev.attention[l].flops_backward == 0);
    LSHLAB_EXPECT(k.pairs == ev.attention[l].pairs);
  }
  const AttentionCounters sum = sum_attention_counters(st.attention);
  LSHLAB_EXPECT(sum.pairs == 3 * 4 * unpadded && sum.head_pairs.size() == 4);
  LSHLAB_EXPECT(sum.dot_products == st.attention[0].dot_products + st.attention[1].dot_products + st.attention[2].dot_products);
}

LSHLAB_TEST("attention/bert-lsh/timing") {
  // Prints one forward (+ backward) against exact; noisy on a shared machine, not asserted.
  auto time_one = [](const char* v, const Params& p, int n, int B, int H, bool bwd) {
    Case cs(B, n, H, 64, 0, 18);
    auto attn = make_attention<float>(v, p);
    std::vector<float> qkv(cs.qkv.begin(), cs.qkv.end()), ctx(cs.dctx.size()), dq(cs.qkv.size()), dc(cs.dctx.begin(), cs.dctx.end());
    const int reps = n <= 64 ? 2000 : n <= 512 ? 10 : 1;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
      auto t0 = std::chrono::steady_clock::now();
      attn->forward(ctx.data(), qkv.data(), nullptr, cs.call());
      if (bwd) attn->backward(dq.data(), dc.data(), qkv.data(), nullptr, cs.call());
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
  };
  const double e10 = time_one("exact", {}, 10, 1, 2, false), l10 = time_one("bert-lsh", {}, 10, 1, 2, false);
  std::fprintf(stderr, "    n=10 B=1 H=2 D=64 forward: exact %.2f us, bert-lsh %.2f us (%.2fx)\n", e10 * 1e6, l10 * 1e6, l10 / e10);
  for (int n : {512, 2048}) {
    const double e = time_one("exact", {}, n, 1, 2, true);
    const double m2 = time_one("bert-lsh", {{"fill", "masked"}}, n, 1, 2, true);
    const double m8 = time_one("bert-lsh", {{"fill", "masked"}, {"bands", "8"}}, n, 1, 2, true);
    const double z2 = time_one("bert-lsh", {}, n, 1, 2, true);
    std::fprintf(stderr, "    n=%d fwd+bwd: exact %.2f ms, masked b2 %.2f ms, masked b8 %.2f ms, zero b2 %.2f ms\n", n,
                 e * 1e3, m2 * 1e3, m8 * 1e3, z2 * 1e3);
  }
}
