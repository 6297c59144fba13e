/*
 * test_attention_maps.cc: attention maps (attention/maps.h, model/attention_maps.h). For every
 * variant and the parameter modes that change its effective matrix, the replayed W times V must
 * equal the variant's own output to 1e-5 (the explorer's honesty check), softmax variants' rows
 * must sum to 1, bert-lsh's support must be the pairs its counters scored; then a tiny
 * model is saved and mapped from its checkpoint directory, including the length limit.
 */
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <unistd.h>
#include <random>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/bert_lsh.h"
#include "attention/maps.h"
#include "model/attention_maps.h"
#include "model/bert.h"
#include "test_registry.h"
#include "train/trainer.h"

using namespace lshlab;

namespace {

struct Run {
  std::vector<float> qkv, ctx;
  std::vector<int32_t> mask;
  std::unique_ptr<Attention<float>> attn;
  StandaloneAttentionParams<float> own;
  AttentionCall call;
};

// One inference call of `variant` on random float inputs (the last `padded` tokens of the last
// row are padding); scale > 1 sharpens the softmax like a trained model's logits.
Run run_variant(const std::string& variant, const AttentionParams& p, int B, int T, int H, int D,
                int padded, uint64_t seed, double scale = 1.0) {
  Run r;
  const int C = H * D;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  r.qkv.resize(size_t(B) * T * 3 * C);
  for (auto& x : r.qkv) x = float(nd(rng) * scale);
  r.mask.assign(size_t(B) * T, 1);
  for (int t = T - padded; t < T; t++) r.mask[size_t(B - 1) * T + t] = 0;
  r.ctx.assign(size_t(B) * T * C, 0.f);
  r.attn = make_attention<float>(variant, p);
  r.own.attach(*r.attn, H, D, seed);
  r.call = AttentionCall{B, T, H, D, false, 0.0, 1234 + seed, uint32_t(seed % 7), 6};
  r.attn->forward(r.ctx.data(), r.qkv.data(), r.mask.data(), r.call);
  return r;
}

// Replays every (b, h); expects W V = ctx and, for softmax variants, unit rows.
void expect_replay(const std::string& variant, const AttentionParams& p, int B, int T, int H, int D,
                   int padded, uint64_t seed, double scale = 1.0) {
  Run r = run_variant(variant, p, B, T, H, D, padded, seed, scale);
  const bool softmax = variant == "exact" || variant == "bert-lsh" || variant == "reformer";
  double worst = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      AttentionHead x{r.qkv.data(), r.mask.data(), r.call, b, h};
      const float* conv = r.own.data.empty() ? nullptr : r.own.data[0].data();
      EffectiveAttention W = attention_effective_forward(*r.attn, variant, p, x, conv);
      std::vector<double> P = attention_exact_forward(variant, x);
      AttentionMapErrors e = attention_map_errors(P, W, x, r.ctx.data());
      worst = std::max(worst, e.replay_error);
      LSHLAB_EXPECT(e.replay_error < 1e-5);
      LSHLAB_EXPECT(e.mean_tv >= 0 && e.mean_tv <= e.max_tv + 1e-12 && e.max_tv <= 1 + 1e-9);
      LSHLAB_EXPECT(e.support > 0 && e.support <= 1);
      if (variant == "exact") LSHLAB_EXPECT(e.max_tv < 1e-9 && e.output_rel_error < 1e-5);
      for (int i = 0; i < T; i++) {
        if (!r.mask[size_t(b) * T + i]) continue;
        double s = 0, ps = 0;
        for (int j = 0; j < T; j++) { s += W.weights[size_t(i) * T + j]; ps += P[size_t(i) * T + j]; }
        LSHLAB_EXPECT(std::fabs(ps - 1) < 1e-9);
        if (softmax) LSHLAB_EXPECT(std::fabs(s - 1) < 1e-9);
      }
    }
  if (worst >= 1e-5) {
    std::string ps;
    for (auto& kv : p) ps += " " + kv.first + "=" + kv.second;
    std::fprintf(stderr, "    %s%s T=%d: replay error %.3g\n", variant.c_str(), ps.c_str(), T, worst);
  }
}

}  // namespace

LSHLAB_TEST("attention/maps/exact") {
  expect_replay("exact", {}, 2, 11, 2, 8, 3, 1);
  expect_replay("exact", {}, 1, 40, 3, 16, 0, 2, 3.0);
}

LSHLAB_TEST("attention/maps/bert-lsh") {
  expect_replay("bert-lsh", {}, 2, 13, 2, 8, 3, 3);
  expect_replay("bert-lsh", {{"table_size", "256"}, {"reseed", "fixed"}}, 1, 17, 2, 8, 0, 4, 2.0);
  expect_replay("bert-lsh", {{"fill", "masked"}}, 2, 13, 2, 8, 3, 5);
  expect_replay("bert-lsh", {{"fill", "masked"}, {"bands", "6"}}, 2, 19, 2, 8, 5, 6);  // fallbacks
  expect_replay("bert-lsh", {{"symmetric", "none"}, {"num_hashes", "3"}, {"bands", "3"}}, 2, 15, 2, 8, 2, 7);
  expect_replay("bert-lsh", {{"combine", "and"}, {"num_hashes", "2"}, {"bands", "1"}}, 2, 13, 2, 8, 3, 8);
  // The blocked path (T >= 96 by default) must replay the same way.
  expect_replay("bert-lsh", {}, 1, 120, 2, 16, 0, 9, 2.0);
  expect_replay("bert-lsh", {{"fill", "masked"}}, 2, 100, 2, 16, 7, 10, 2.0);
}

LSHLAB_TEST("attention/maps/bert-lsh-support-is-the-collisions") {
  // Transposed fill: the support is triu(C) and its transpose, so its upper triangle (with the
  // diagonal) is exactly the pairs the variant scored: its dot-product counter.
  Run r = run_variant("bert-lsh", {}, 1, 23, 2, 8, 0, 11);
  for (int h = 0; h < 2; h++) {
    AttentionHead x{r.qkv.data(), r.mask.data(), r.call, 0, h};
    EffectiveAttention W = attention_effective_forward(*r.attn, "bert-lsh", {}, x, nullptr);
    double upper = 0;
    for (int i = 0; i < 23; i++)
      for (int j = i; j < 23; j++) upper += W.computed[size_t(i) * 23 + j];
    LSHLAB_EXPECT(upper == r.attn->counters().head_dot_products[size_t(h)]);
  }
}

LSHLAB_TEST("attention/maps/yoso") {
  expect_replay("yoso-e", {}, 2, 13, 2, 8, 3, 12);
  expect_replay("yoso-e", {{"backward", "exact"}, {"tau", "4"}}, 2, 13, 2, 8, 0, 13);
  expect_replay("yoso", {{"tau", "4"}, {"num_hash", "16"}}, 2, 13, 2, 8, 3, 14);
  expect_replay("yoso", {}, 1, 64, 2, 16, 0, 15);
  expect_replay("yoso-e", {{"conv_window", "3"}}, 2, 11, 2, 8, 2, 16);
  expect_replay("yoso", {{"conv_window", "5"}, {"tau", "3"}, {"num_hash", "8"}}, 2, 11, 2, 8, 2, 17);
}

LSHLAB_TEST("attention/maps/reformer") {
  expect_replay("reformer", {{"chunk_length", "4"}}, 2, 13, 2, 8, 3, 19);
  expect_replay("reformer", {{"chunk_length", "4"}, {"num_hashes", "2"}}, 2, 16, 2, 8, 3, 20);
  expect_replay("reformer", {{"chunk_length", "3"}, {"num_hashes", "3"}, {"num_chunks_after", "1"},
                             {"num_buckets", "4"}}, 2, 14, 2, 8, 2, 21);
  expect_replay("reformer", {}, 2, 13, 2, 8, 3, 22);  // T <= chunk_length: full attention
  expect_replay("reformer", {{"chunk_length", "16"}, {"num_hashes", "2"}}, 1, 100, 2, 16, 0, 23, 2.0);
}

LSHLAB_TEST("attention/maps/checkpoint") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("lshlab-maps-" + std::to_string(::getpid()));
  for (const char* variant : {"exact", "bert-lsh", "yoso", "reformer"}) {
    BertConfig cfg;
    cfg.vocab_size = 50; cfg.hidden_size = 16; cfg.num_attention_heads = 2; cfg.num_hidden_layers = 2;
    cfg.intermediate_size = 32; cfg.max_position_embeddings = 160;
    cfg.attention = variant;
    if (cfg.attention == "reformer") cfg.attention_params = {{"chunk_length", "4"}, {"num_hashes", "2"}};
    if (cfg.attention == "yoso") cfg.attention_params = {{"tau", "4"}, {"num_hash", "16"}};
    Trainer tr(cfg, TrainConfig{});
    std::vector<int32_t> ids(24), labels(24, -100), mask(24, 1);
    for (int t = 0; t < 24; t++) ids[size_t(t)] = 5 + (t * 7) % 40;
    labels[3] = 9;
    Batch b; b.B = 2; b.T = 12; b.input_ids = ids.data(); b.labels = labels.data(); b.attention_mask = mask.data();
    for (int s = 0; s < 3; s++) tr.train_step(b);
    tr.save(dir.string());

    AttentionMapsRequest req;
    req.input_ids = {2, 7, 8, 9, 10, 11, 12, 13, 3, 0};
    req.attention_mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    AttentionMaps m = attention_maps_forward(dir.string(), req);
    LSHLAB_EXPECT(m.variant == variant && m.T == 10 && m.num_layers == 2 && m.num_heads == 2);
    LSHLAB_EXPECT(m.layers.size() == 2);
    for (const LayerMaps& lm : m.layers)
      for (const HeadMaps& hm : lm.heads) {
        LSHLAB_EXPECT(hm.exact.size() == 100 && hm.variant.size() == 100 && hm.computed.size() == 100);
        LSHLAB_EXPECT(hm.replay_error < 1e-5);
        if (m.variant == "exact") LSHLAB_EXPECT(hm.density == 1 && hm.max_tv < 1e-6);
        if (m.variant != "yoso") LSHLAB_EXPECT(hm.density > 0);
      }
    req.layer = 1;
    AttentionMaps one = attention_maps_forward(dir.string(), req);
    LSHLAB_EXPECT(one.layers.size() == 1 && one.layers[0].layer == 1);
    // Same input, same draws: the maps are a function of (checkpoint, input, seed, step).
    LSHLAB_EXPECT(one.layers[0].heads[1].variant == m.layers[1].heads[1].variant);
    req.layer = 2;
    bool threw = false;
    try { attention_maps_forward(dir.string(), req); } catch (const Error&) { threw = true; }
    LSHLAB_EXPECT(threw);
  }
  AttentionMapsRequest big;
  big.input_ids.assign(129, 5);
  std::string msg;
  try { attention_maps_forward(dir.string(), big); } catch (const Error& e) { msg = e.what(); }
  LSHLAB_EXPECT(msg.find("at most 128") != std::string::npos);
  std::string missing;
  try { attention_maps_forward((dir / "nope").string(), AttentionMapsRequest{{2, 3}}); }
  catch (const Error& e) { missing = e.what(); }
  LSHLAB_EXPECT(missing.find("config.json") != std::string::npos);
  fs::remove_all(dir);
}

LSHLAB_TEST("attention/maps/replay-check-has-teeth") {
  // Replaying with another draw (step + 1) must break W V = ctx: the check is not vacuous.
  for (const char* v : {"bert-lsh", "yoso"}) {
    const AttentionParams p = std::string(v) == "yoso" ? AttentionParams{{"tau", "3"}, {"num_hash", "4"}}
                                                         : AttentionParams{};
    Run r = run_variant(v, p, 1, 24, 2, 8, 0, 24, 2.0);
    AttentionCall other = r.call;
    other.step += 1;
    AttentionHead x{r.qkv.data(), r.mask.data(), other, 0, 0};
    EffectiveAttention W = attention_effective_forward(*r.attn, v, p, x, nullptr);
    AttentionMapErrors e = attention_map_errors(attention_exact_forward(v, x), W, x, r.ctx.data());
    LSHLAB_EXPECT(e.replay_error > 1e-3);
  }
}
