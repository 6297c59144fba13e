/*
 * test_reformer.cc: native tests of the reformer attention variant (attention/reformer.h):
 * when every window covers every key it equals dense shared-QK attention with HF's self mask
 * (reference written here), gradient checks, padding, lengths that are not a multiple of
 * chunk_length, odd head sizes, parameter errors naming the parameter, counters, and a tiny
 * BERT with attention = "reformer" training 30 steps. HF parity itself is checked by
 * test/reference/test_hf_reformer.py.
 */
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "check/gradcheck.h"
#include "core/common.h"
#include "core/philox.h"
#include "model/bert.h"
#include "test_registry.h"
#include "train/trainer.h"

using namespace lshlab;

namespace {

// Dense shared-QK attention as HF computes it without hashing: keys = x / sqrt(|x|^2 + D*1e-6),
// logit(i,j) = q_i.k_j, self -> -1e5, padding key -> -1e9 (replacements), softmax, P V. Double.
std::vector<double> dense_reference(const std::vector<double>& qkv, const std::vector<int32_t>& mask,
                                    int B, int T, int H, int D) {
  const int C = H * D, ld = 3 * C;
  std::vector<double> ctx(size_t(B) * T * C, 0.0), k(size_t(T) * D), l(T);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      const double* q = qkv.data() + size_t(b) * T * ld + h * D;
      for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int d = 0; d < D; d++) ss += q[t * ld + d] * q[t * ld + d];
        for (int d = 0; d < D; d++) k[t * D + d] = q[t * ld + d] / std::sqrt(ss + D * 1e-6);
      }
      for (int i = 0; i < T; i++) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j < T; j++) {
          double s = 0;
          for (int d = 0; d < D; d++) s += q[i * ld + d] * k[j * D + d];
          l[j] = j == i ? -1e5 : (!mask[b * T + j] ? -1e9 : s);
          mx = std::max(mx, l[j]);
        }
        for (int j = 0; j < T; j++) sum += (l[j] = std::exp(l[j] - mx));
        for (int j = 0; j < T; j++)
          for (int d = 0; d < D; d++)
            ctx[(size_t(b) * T + i) * C + h * D + d] += l[j] / sum * q[j * ld + 2 * C + d];
      }
    }
  return ctx;
}

struct Case {
  int B, T, H, D, padded;
};

// Runs the variant on random inputs; returns the max |ctx - dense| / max |dense|.
template <typename T>
double vs_dense(const Case& cs, const AttentionParams& p, uint64_t seed = 1) {
  const int C = cs.H * cs.D;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0, 1);
  std::vector<double> qkv(size_t(cs.B) * cs.T * 3 * C);
  for (auto& x : qkv) x = nd(rng);
  std::vector<int32_t> mask(size_t(cs.B) * cs.T, 1);
  for (int t = cs.T - cs.padded; t < cs.T; t++) mask[size_t(cs.B - 1) * cs.T + t] = 0;
  const auto ref = dense_reference(qkv, mask, cs.B, cs.T, cs.H, cs.D);
  std::vector<T> in(qkv.begin(), qkv.end()), ctx(ref.size());
  auto attn = make_attention<T>("reformer", p);
  AttentionCall call{cs.B, cs.T, cs.H, cs.D, false, 0.0, 5, 2, 3};
  attn->forward(ctx.data(), in.data(), mask.data(), call);
  double err = 0, mag = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    err = std::max(err, std::fabs(double(ctx[i]) - ref[i]));
    mag = std::max(mag, std::fabs(ref[i]));
  }
  return err / mag;
}

bool throws_naming(const AttentionParams& p, const std::string& name) {
  try {
    make_attention<float>("reformer", p);
  } catch (const Error& e) {
    const bool ok = std::string(e.what()).find(name) != std::string::npos;
    if (!ok) std::fprintf(stderr, "    message lacks '%s': %s\n", name.c_str(), e.what());
    return ok;
  }
  std::fprintf(stderr, "    no error for %s\n", name.c_str());
  return false;
}

}  // namespace

LSHLAB_TEST("attention/reformer/short-equals-dense") {
  // T <= chunk_length: HF's full-attention path.
  LSHLAB_EXPECT(vs_dense<double>({2, 40, 2, 16, 7}, {}) < 1e-12);
  LSHLAB_EXPECT(vs_dense<float>({2, 40, 2, 16, 7}, {{"num_hashes", "4"}}) < 1e-5);
}

LSHLAB_TEST("attention/reformer/covering-window-equals-dense") {
  // Two chunks per round and one chunk before: every query's window holds every key once, so
  // the hashed, sorted, chunked result must equal dense attention whatever the buckets.
  LSHLAB_EXPECT(vs_dense<double>({2, 64, 2, 16, 9}, {{"chunk_length", "32"}}) < 1e-12);
  LSHLAB_EXPECT(vs_dense<float>({2, 64, 2, 16, 9}, {{"chunk_length", "32"}}) < 1e-5);
  // Several rounds: HF chunks the concatenated rounds, so the first chunk of round r looks back
  // into round r-1. Looking back over all G = 3 rounds x 2 chunks makes every window hold every
  // key once per round: same softmax and the same lse in each round, hence dense again.
  LSHLAB_EXPECT(vs_dense<double>({1, 64, 2, 8, 0}, {{"chunk_length", "32"}, {"num_hashes", "3"},
                                                    {"num_chunks_before", "5"}}) < 1e-12);
}

LSHLAB_TEST("attention/reformer/length-not-multiple-of-chunk") {
  // T = 50 with chunk 32 pads internally to 64 (2 chunks x 2 rounds): covering, so dense.
  LSHLAB_EXPECT(vs_dense<double>({2, 50, 2, 16, 11}, {{"chunk_length", "32"}, {"num_hashes", "2"},
                                                     {"num_chunks_before", "3"}}) < 1e-12);
  LSHLAB_EXPECT(vs_dense<float>({1, 50, 2, 16, 0}, {{"chunk_length", "32"}}) < 1e-5);
  // A real LSH case (T = 300, chunk 64 -> 5 chunks) runs and is finite.
  const int B = 2, T = 300, H = 2, D = 16, C = H * D;
  std::vector<float> qkv(size_t(B) * T * 3 * C), ctx(size_t(B) * T * C), dq(qkv.size());
  for (size_t i = 0; i < qkv.size(); i++) qkv[i] = float(philox_normal(3, 9, 0, i));
  std::vector<int32_t> mask(size_t(B) * T, 1);
  auto attn = make_attention<float>("reformer", {{"num_hashes", "2"}});
  AttentionCall call{B, T, H, D, false, 0.0, 5, 2, 3};
  attn->forward(ctx.data(), qkv.data(), mask.data(), call);
  attn->backward(dq.data(), ctx.data(), qkv.data(), mask.data(), call);
  bool finite = true;
  for (float x : ctx) finite = finite && std::isfinite(x);
  for (float x : dq) finite = finite && std::isfinite(x);
  LSHLAB_EXPECT(finite);
  // Counters over unpadded tokens: per round the 20 internal padding slots sort last (chunk 4 of
  // 5 holds 44 real slots), so the 10 sorted chunks hold [64 64 64 64 44] x 2 real queries and
  // chunk g sees chunks g-1 (circular) and g: per (b,h) 2 x (64*108 + 3*64*128 + 44*108) = 72480
  // dot products (the gemms multiply 2 x 320 x 128 slots: flops).
  const auto& k = attn->counters();
  LSHLAB_EXPECT(k.dot_products == double(B) * H * 72480);
  LSHLAB_EXPECT(k.flops_scores == 2.0 * D * B * H * 2 * 320 * 128);
  LSHLAB_EXPECT(k.pairs == double(B) * H * T * T);
  for (int h = 0; h < H; h++)
    LSHLAB_EXPECT(k.head_dot_products[size_t(h)] == B * 72480.0 && k.head_pairs[size_t(h)] == double(B) * T * T);
  LSHLAB_EXPECT(k.collisions == 0);
  LSHLAB_EXPECT(k.flops_hash == 2.0 * B * H * T * D * 2 * 4);  // auto buckets: 2*5 -> 8
}

LSHLAB_TEST("attention/reformer/odd-head-dim") {
  LSHLAB_EXPECT(vs_dense<double>({2, 30, 3, 7, 4}, {{"chunk_length", "15"}, {"num_hashes", "2"},
                                                   {"num_chunks_before", "2"}, {"num_chunks_after", "1"}}) < 1e-12);
  LSHLAB_EXPECT(vs_dense<float>({2, 33, 1, 5, 2}, {}) < 1e-5);
}

LSHLAB_TEST("attention/reformer/padding-values-ignored") {
  // Real tokens' outputs must not depend on what the padded positions hold.
  const int B = 1, T = 200, H = 2, D = 8, C = H * D, pad = 37;
  std::vector<double> a(size_t(B) * T * 3 * C), ca(size_t(B) * T * C), cb(ca.size());
  for (size_t i = 0; i < a.size(); i++) a[i] = philox_normal(4, 9, 0, i);
  std::vector<double> b2 = a;
  for (int t = T - pad; t < T; t++)
    for (int j = 0; j < 3 * C; j++) b2[size_t(t) * 3 * C + j] += 3.0 * philox_normal(5, 9, 0, t * 97 + j);
  std::vector<int32_t> mask(T, 1);
  for (int t = T - pad; t < T; t++) mask[t] = 0;
  auto attn = make_attention<double>("reformer", {{"chunk_length", "32"}, {"num_hashes", "2"}});
  AttentionCall call{B, T, H, D, false, 0.0, 5, 2, 3};
  attn->forward(ca.data(), a.data(), mask.data(), call);
  attn->forward(cb.data(), b2.data(), mask.data(), call);
  double diff = 0;
  for (int t = 0; t < T - pad; t++)
    for (int j = 0; j < C; j++) diff = std::max(diff, std::fabs(ca[t * C + j] - cb[t * C + j]));
  LSHLAB_EXPECT(diff < 1e-12);
}

LSHLAB_TEST("attention/reformer/gradchecks") {
  const auto rs = run_gradchecks("attention/reformer");
  LSHLAB_EXPECT(rs.size() >= 3);
  for (const auto& r : rs) {
    if (!r.passed) std::fprintf(stderr, "    %s: rel error %.3g\n", r.name.c_str(), r.max_rel_error);
    LSHLAB_EXPECT(r.passed);
  }
}

LSHLAB_TEST("attention/reformer/bad-params-rejected") {
  LSHLAB_EXPECT(throws_naming({{"num_hashes", "0"}}, "num_hashes"));
  LSHLAB_EXPECT(throws_naming({{"num_hashes", "x"}}, "num_hashes"));
  LSHLAB_EXPECT(throws_naming({{"num_buckets", "7"}}, "num_buckets"));
  LSHLAB_EXPECT(throws_naming({{"num_buckets", "0"}}, "num_buckets"));
  LSHLAB_EXPECT(throws_naming({{"chunk_length", "0"}}, "chunk_length"));
  LSHLAB_EXPECT(throws_naming({{"num_chunks_before", "-1"}}, "num_chunks_before"));
  LSHLAB_EXPECT(throws_naming({{"num_chunks_after", "65"}}, "num_chunks_after"));
  LSHLAB_EXPECT(throws_naming({{"bucket_size", "4"}}, "bucket_size"));
  bool ok = true;
  try { make_attention<float>("reformer", {{"num_buckets", "auto"}, {"chunk_length", "16"}}); } catch (...) { ok = false; }
  LSHLAB_EXPECT(ok);
}

LSHLAB_TEST("attention/reformer/tiny-model-trains") {
  BertConfig cfg;
  cfg.vocab_size = 40; cfg.hidden_size = 32; cfg.num_hidden_layers = 2; cfg.num_attention_heads = 2;
  cfg.intermediate_size = 64; cfg.max_position_embeddings = 32;
  cfg.attention = "reformer";
  cfg.attention_params = {{"chunk_length", "8"}, {"num_hashes", "2"}};  // T = 20: 3 chunks, padded
  TrainConfig tc;
  tc.lr = 3e-3; tc.weight_decay = 0; tc.seed = 1;
  Trainer tr(cfg, tc);  // dropout on (0.1): exercises the reformer's probability dropout
  const int B = 4, T = 20;
  std::vector<int32_t> ids(B * T), labels(B * T, -100), mask(B * T, 1);
  for (int i = 0; i < B * T; i++) ids[i] = 4 + int32_t(philox_u32(77, 7, 0, uint64_t(i)) % 36);
  for (int b = 0; b < B; b++) {
    for (int k = 0; k < 4; k++) {
      const int i = b * T + 1 + (b * 3 + k * 5) % 17;
      labels[i] = ids[i];
      ids[i] = 3;
    }
    if (b == 3) for (int t = 16; t < T; t++) { mask[b * T + t] = 0; ids[b * T + t] = 0; labels[b * T + t] = -100; }
  }
  Batch bt;
  bt.B = B; bt.T = T; bt.input_ids = ids.data(); bt.attention_mask = mask.data(); bt.labels = labels.data();
  double first = 0, last = 0;
  bool finite = true;
  for (int s = 0; s < 30; s++) {
    const double l = tr.train_step(bt).loss;
    finite = finite && std::isfinite(l);
    if (s == 0) first = l;
    last = l;
  }
  std::fprintf(stderr, "    loss %.4f -> %.4f after 30 steps\n", first, last);
  LSHLAB_EXPECT(finite);
  LSHLAB_EXPECT(last < 0.7 * first);
}

LSHLAB_TEST("attention/reformer/counters-exclude-padding") {
  // Standard mode (T <= chunk_length): every unpadded pair is one window entry, density 1. LSH
  // mode with one round, chunks before 0: the chunks partition the sorted tokens, so the dot
  // products are the sum of (real slots per chunk)^2 <= pairs, and per-head sums give the totals.
  const int B = 2, H = 2, D = 4, C = H * D;
  for (int T : {12, 40}) {
    const int pad = 5;
    std::vector<double> qkv(size_t(B) * T * 3 * C), ctx(size_t(B) * T * C);
    for (size_t i = 0; i < qkv.size(); i++) qkv[i] = philox_normal(4, 9, 0, i);
    std::vector<int32_t> mask(size_t(B) * T, 1);
    for (int t = T - pad; t < T; t++) mask[size_t(T) + t] = 0;
    auto attn = make_attention<double>("reformer", {{"chunk_length", "16"}, {"num_chunks_before", "0"}});
    AttentionCall call{B, T, H, D, false, 0.0, 5, 2, 3};
    attn->forward(ctx.data(), qkv.data(), mask.data(), call);
    const auto& k = attn->counters();
    const double unpadded = double(T) * T + double(T - pad) * (T - pad);
    double sd = 0, sp = 0;
    for (int h = 0; h < H; h++) {
      LSHLAB_EXPECT(k.head_pairs[size_t(h)] == unpadded);
      if (T <= 16) LSHLAB_EXPECT(k.head_density(h) == 1.0);
      else LSHLAB_EXPECT(k.head_density(h) > 0 && k.head_density(h) < 1);
      sd += k.head_dot_products[size_t(h)];
      sp += k.head_pairs[size_t(h)];
    }
    LSHLAB_EXPECT(sd == k.dot_products && sp == k.pairs && k.collisions == 0);
  }
}
