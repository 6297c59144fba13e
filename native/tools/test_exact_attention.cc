/*
 * test_exact_attention.cc: the tiled float path of exact attention (attention/exact_tiled.cc)
 * against the reference path (exact.cc), forward and backward, with padding and with attention
 * dropout (same Philox keep mask), at odd and block-straddling lengths; a float-vs-double check
 * of the tiled path; determinism; the automatic path choice and the counters.
 */
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "attention/exact.h"
#include "test_registry.h"

using namespace lshlab;

namespace {

template <typename A, typename B>
double rel_err(const std::vector<A>& a, const std::vector<B>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); i++) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

struct Inputs {
  std::vector<float> qkv, dctx;
  std::vector<int32_t> mask;
};
// pad: 0 none; 1 = last keys of batch 1 padded; 2 = also every key of batch 0 padded.
Inputs make_inputs(int B, int T, int H, int D, int pad, uint64_t seed) {
  Inputs in;
  const int C = H * D;
  std::mt19937_64 r(seed);
  std::normal_distribution<float> n;
  in.qkv.resize(size_t(B) * T * 3 * C);
  in.dctx.resize(size_t(B) * T * C);
  for (auto& x : in.qkv) x = 1.5f * n(r);
  for (auto& x : in.dctx) x = n(r);
  in.mask.assign(size_t(B) * T, 1);
  if (pad >= 1)
    for (int t = T - T / 3; t < T; t++) in.mask[size_t(B - 1) * T + t] = 0;
  if (pad >= 1 && T > 4)  // a padding hole inside too
    for (int t = 1; t < 3; t++) in.mask[size_t(B - 1) * T + t] = 0;
  if (pad >= 2)
    for (int t = 0; t < T; t++) in.mask[t] = 0;
  return in;
}

template <typename T>
void run(ExactAttention<T>& a, const Inputs& in, int B, int Tn, int H, int D, bool masked,
         double dropout, std::vector<T>& ctx, std::vector<T>& dqkv) {
  const int C = H * D;
  std::vector<T> qkv(in.qkv.begin(), in.qkv.end()), dctx(in.dctx.begin(), in.dctx.end());
  ctx.assign(size_t(B) * Tn * C, T(7));
  dqkv.assign(qkv.size(), T(7));
  AttentionCall c{B, Tn, H, D, dropout > 0, dropout, 1234, 17, 3};
  a.forward(ctx.data(), qkv.data(), masked ? in.mask.data() : nullptr, c);
  a.backward(dqkv.data(), dctx.data(), qkv.data(), masked ? in.mask.data() : nullptr, c);
}

}  // namespace

LSHLAB_TEST("exact_tiled_matches_reference") {
  const int B = 2, H = 2;
  for (int T : {1, 7, 64, 65, 200, 1000})
    for (int D : {5, 64})
      for (int mode = 0; mode < 4; mode++) {  // plain, padding, dropout, padding + dropout
        const int pad = (mode & 1) ? (T >= 7 && D == 5 ? 2 : 1) : 0;
        const double p = (mode & 2) ? 0.2 : 0.0;
        const Inputs in = make_inputs(B, T, H, D, pad, 11 + T + D);
        ExactAttention<float> ref, til;
        ref.set_path(ExactPath::Reference);
        til.set_path(ExactPath::Tiled);
        std::vector<float> c0, g0, c1, g1;
        run(ref, in, B, T, H, D, pad > 0, p, c0, g0);
        run(til, in, B, T, H, D, pad > 0, p, c1, g1);
        LSHLAB_EXPECT(!ref.last_was_tiled() && til.last_was_tiled());
        const double ef = rel_err(c1, c0), eb = rel_err(g1, g0);
        const bool ok = ef < 1e-5 && eb < 1e-5;
        if (!ok)
          std::fprintf(stderr, "    T=%d D=%d pad=%d p=%.1f: ctx rel %.3g, dqkv rel %.3g\n", T, D,
                       pad, p, ef, eb);
        LSHLAB_EXPECT(ok);
        // All-padding rows attend nowhere: zero context, exactly as the reference.
        if (pad == 2)
          for (int i = 0; i < T * H * D; i++) LSHLAB_EXPECT(c1[i] == 0.0f);
      }
}

LSHLAB_TEST("exact_tiled_float_vs_double_reference") {
  const int B = 2, H = 2, T = 300, D = 64;
  for (int mode = 0; mode < 2; mode++) {
    const double p = mode ? 0.1 : 0.0;
    const Inputs in = make_inputs(B, T, H, D, 1, 99);
    ExactAttention<double> ref;
    ExactAttention<float> til;
    til.set_path(ExactPath::Tiled);
    std::vector<double> c0, g0;
    std::vector<float> c1, g1;
    run(ref, in, B, T, H, D, true, p, c0, g0);
    run(til, in, B, T, H, D, true, p, c1, g1);
    const double ef = rel_err(c1, c0), eb = rel_err(g1, g0);
    if (!(ef < 1e-5 && eb < 1e-5))
      std::fprintf(stderr, "    p=%.1f: ctx %.3g dqkv %.3g\n", p, ef, eb);
    LSHLAB_EXPECT(ef < 1e-5 && eb < 1e-5);
  }
}

LSHLAB_TEST("exact_tiled_deterministic_and_counters") {
  const int B = 1, H = 2, D = 64, T = 300;
  const Inputs in = make_inputs(B, T, H, D, 1, 5);
  ExactAttention<float> a, b;
  a.set_path(ExactPath::Tiled);
  b.set_path(ExactPath::Tiled);
  std::vector<float> c0, g0, c1, g1;
  run(a, in, B, T, H, D, true, 0.1, c0, g0);
  run(b, in, B, T, H, D, true, 0.1, c1, g1);
  LSHLAB_EXPECT(a.last_was_tiled());
  LSHLAB_EXPECT(c0 == c1 && g0 == g1);
  const AttentionCounters& k = a.counters();
  const double pairs = double(B) * H * T * T;  // slots the tiles multiply
  const double n = T - T / 3 - 2, unpadded = H * n * n;  // pairs of unpadded tokens
  LSHLAB_EXPECT(k.pairs == unpadded && k.dot_products == unpadded && k.collision_density() == 1);
  LSHLAB_EXPECT(k.flops_scores == 2.0 * pairs * D && k.flops_values == 2.0 * pairs * D);
  LSHLAB_EXPECT(k.flops_softmax == 5.0 * pairs);
  LSHLAB_EXPECT(k.flops_backward == pairs * (10.0 * D + 4.0));
  LSHLAB_EXPECT(k.time_scores_s > 0 && k.time_backward_s > 0);
}

LSHLAB_TEST("exact_auto_path_choice") {
  AttentionCall c{8, 128, 2, 64, true, 0.1, 1, 0, 0};
  LSHLAB_EXPECT(!exact_use_tiled(c));  // the training shape stays on the reference path
  c.B = 1;
  c.T = 16384;
  LSHLAB_EXPECT(exact_use_tiled(c));
  c.T = 4096;
  LSHLAB_EXPECT(!exact_use_tiled(c));
  c.B = 64;  // the reference would need > 2 GiB of (T,T) buffers
  c.T = 2048;
  LSHLAB_EXPECT(exact_use_tiled(c));
  // The automatic path on a short float call, and double always on the reference path.
  const Inputs in = make_inputs(1, 65, 2, 8, 1, 3);
  ExactAttention<float> f;
  std::vector<float> cf, gf;
  run(f, in, 1, 65, 2, 8, true, 0.0, cf, gf);
  LSHLAB_EXPECT(!f.last_was_tiled());
  ExactAttention<double> d;
  d.set_path(ExactPath::Tiled);
  std::vector<double> cd, gd;
  run(d, in, 1, 65, 2, 8, true, 0.0, cd, gd);
  LSHLAB_EXPECT(!d.last_was_tiled());
}

LSHLAB_TEST("exact_counters_per_head_exclude_padding") {
  // Both paths: pairs and dot products count unpadded (query, key) pairs only, per head, so the
  // density is 1 per head even where a whole sequence is padding (pad = 2: batch 0 has none).
  for (int pad : {0, 1, 2}) {
    const int B = 2, H = 3, D = 8, T = 37;
    const Inputs in = make_inputs(B, T, H, D, pad, 9);
    double unpadded = 0;
    for (int b = 0; b < B; b++) {
      double n = 0;
      for (int t = 0; t < T; t++) n += in.mask[size_t(b) * T + t];
      unpadded += n * n;
    }
    for (ExactPath path : {ExactPath::Reference, ExactPath::Tiled}) {
      ExactAttention<float> a;
      a.set_path(path);
      std::vector<float> c, g;
      run(a, in, B, T, H, D, true, 0.0, c, g);
      const AttentionCounters& k = a.counters();
      LSHLAB_EXPECT(k.head_pairs.size() == size_t(H) && k.head_dot_products.size() == size_t(H));
      double sd = 0, sp = 0;
      for (int h = 0; h < H; h++) {
        LSHLAB_EXPECT(k.head_pairs[size_t(h)] == unpadded);
        LSHLAB_EXPECT(k.head_density(h) == 1.0);
        LSHLAB_EXPECT(k.head_collisions[size_t(h)] == 0);
        sd += k.head_dot_products[size_t(h)];
        sp += k.head_pairs[size_t(h)];
      }
      LSHLAB_EXPECT(sd == k.dot_products && sp == k.pairs && k.pairs == H * unpadded);
      LSHLAB_EXPECT(k.collision_density() == 1.0 && k.collisions == 0);
    }
  }
}
