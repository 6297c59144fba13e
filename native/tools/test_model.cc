/*
 * test_model.cc: native tests of the model and trainer: the gradient checks pass, a tiny model
 * memorises 8 sequences, a seed reproduces a run bit for bit, checkpoints round-trip and bad
 * checkpoints fail with messages naming the tensor or byte offset.
 */
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "check/gradcheck.h"
#include "core/philox.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/bert.h"
#include "test_registry.h"
#include "train/trainer.h"

using namespace lshlab;

namespace {

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 40; c.hidden_size = 32; c.num_hidden_layers = 2; c.num_attention_heads = 2;
  c.intermediate_size = 64; c.max_position_embeddings = 16;
  return c;
}

// 8 fixed sequences of length 12 with 3 masked positions each (labels = original ids).
struct FixedData {
  std::vector<int32_t> ids, labels, mask;
  FixedData() {
    const int B = 8, T = 12;
    ids.resize(B * T); labels.assign(B * T, -100); mask.assign(B * T, 1);
    for (int i = 0; i < B * T; i++) ids[i] = 4 + int32_t(philox_u32(99, 7, 0, uint64_t(i)) % 36);
    for (int b = 0; b < B; b++)
      for (int k = 0; k < 3; k++) {
        const int t = 1 + (b * 5 + k * 4) % 11, i = b * T + t;
        labels[i] = ids[i];
        ids[i] = 3;  // [MASK]
      }
  }
  Batch batch() {
    Batch b;
    b.B = 8; b.T = 12; b.input_ids = ids.data(); b.attention_mask = mask.data(); b.labels = labels.data();
    return b;
  }
};

// A fresh directory under /tmp, removed with its files when the test ends (pass or fail).
struct TempDir {
  std::string path;
  explicit TempDir(const char* tag) {
    char tmpl[256];
    std::snprintf(tmpl, sizeof tmpl, "/tmp/lshlab-test-%s-XXXXXX", tag);
    char* d = mkdtemp(tmpl);
    LSHLAB_CHECK(d != nullptr, std::string("mkdtemp failed for ") + tmpl);
    path = d;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

}  // namespace

LSHLAB_TEST("model/gradchecks") {
  for (const auto& r : run_gradchecks()) {
    if (!r.passed) std::fprintf(stderr, "    %s: rel error %.3g\n", r.name.c_str(), r.max_rel_error);
    LSHLAB_EXPECT(r.passed);
  }
}

LSHLAB_TEST("model/overfit-8-sequences") {
  TrainConfig tc;
  tc.lr = 3e-3; tc.weight_decay = 0; tc.seed = 1;
  BertConfig cfg = tiny_config();
  cfg.hidden_dropout_prob = 0; cfg.attention_probs_dropout_prob = 0;
  Trainer tr(cfg, tc);
  FixedData d;
  double loss = 0, first = 0;
  for (int s = 0; s < 300; s++) {
    loss = tr.train_step(d.batch()).loss;
    if (s == 0) first = loss;
  }
  std::fprintf(stderr, "    loss %.4f -> %.4f after 300 steps\n", first, loss);
  LSHLAB_EXPECT(loss < 0.05);
}

LSHLAB_TEST("model/same-seed-bit-identical") {
  auto run = [](uint64_t seed) {
    TrainConfig tc;
    tc.lr = 1e-3; tc.seed = seed;
    Trainer tr(tiny_config(), tc);  // dropout on: masks come from the seed
    FixedData d;
    std::vector<double> losses;
    for (int s = 0; s < 5; s++) losses.push_back(tr.train_step(d.batch()).loss);
    return losses;
  };
  auto a = run(5), b = run(5), c = run(6);
  LSHLAB_EXPECT(std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
  LSHLAB_EXPECT(a != c);
}

LSHLAB_TEST("model/checkpoint-round-trip") {
  TrainConfig tc;
  tc.seed = 3;
  Trainer a(tiny_config(), tc);
  FixedData d;
  for (int s = 0; s < 3; s++) a.train_step(d.batch());
  const TempDir tmp("ckpt");
  const std::string& dir = tmp.path;
  a.save(dir);
  Trainer b(tiny_config(), TrainConfig{});
  b.load(dir);
  LSHLAB_EXPECT(b.step() == 3);
  // Same weights and optimizer state: the next step gives the same loss in both.
  const double la = a.train_step(d.batch()).loss;
  TrainConfig tc2 = tc;
  Trainer c(tiny_config(), tc2);
  c.load(dir);
  const double lc = c.train_step(d.batch()).loss;
  LSHLAB_EXPECT(la == lc);
  // Reloading config.json reproduces the config.
  std::ifstream f(dir + "/config.json");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  BertConfig back = bert_config_from_json(text, "config.json");
  LSHLAB_EXPECT(back.hidden_size == 32 && back.vocab_size == 40 && back.max_position_embeddings == 16);
}

LSHLAB_TEST("model/checkpoint-wrong-shape-names-tensor") {
  Trainer a(tiny_config(), TrainConfig{});
  const TempDir tmp("shape");
  const std::string& dir = tmp.path;
  a.save(dir);
  // Rewrite model.safetensors with one tensor of the wrong shape.
  SafetensorsReader r(dir + "/model.safetensors");
  std::vector<std::vector<float>> keep;
  std::vector<TensorRef> refs;
  for (const auto& n : r.names()) {
    auto info = r.info(n);
    size_t count = 1;
    for (auto s : info.shape) count *= size_t(s);
    keep.emplace_back(count);
    std::memcpy(keep.back().data(), r.data(n), count * 4);
  }
  size_t k = 0;
  for (const auto& n : r.names()) {
    auto shape = r.info(n).shape;
    if (n == "bert.encoder.layer.1.intermediate.dense.weight") shape = {32, 64};
    refs.push_back({n, DType::F32, shape, keep[k++].data()});
  }
  save_safetensors(dir + "/model.safetensors", refs);
  Trainer b(tiny_config(), TrainConfig{});
  std::string msg;
  try { b.load(dir); } catch (const Error& e) { msg = e.what(); }
  std::fprintf(stderr, "    message: %s\n", msg.c_str());
  LSHLAB_EXPECT(contains(msg, "bert.encoder.layer.1.intermediate.dense.weight"));
  LSHLAB_EXPECT(contains(msg, "[32, 64]"));
}

LSHLAB_TEST("model/checkpoint-truncated-names-offset") {
  Trainer a(tiny_config(), TrainConfig{});
  const TempDir tmp("trunc");
  const std::string& dir = tmp.path;
  a.save(dir);
  const std::string path = dir + "/model.safetensors";
  struct stat st;
  stat(path.c_str(), &st);
  LSHLAB_EXPECT(truncate(path.c_str(), st.st_size - 1000) == 0);
  Trainer b(tiny_config(), TrainConfig{});
  std::string msg;
  try { b.load(dir); } catch (const Error& e) { msg = e.what(); }
  std::fprintf(stderr, "    message: %s\n", msg.c_str());
  LSHLAB_EXPECT(contains(msg, "model.safetensors"));
  LSHLAB_EXPECT(contains(msg, "byte"));
}

LSHLAB_TEST("model/bad-config-names-field") {
  BertConfig c = tiny_config();
  c.num_attention_heads = 3;  // 32 is not a multiple of 3
  std::string msg;
  try { Trainer t(c, TrainConfig{}); } catch (const Error& e) { msg = e.what(); }
  LSHLAB_EXPECT(contains(msg, "num_attention_heads"));
}

LSHLAB_TEST("model/mlm-mask-rates") {
  const int B = 64, T = 128;
  std::vector<int32_t> ids(B * T, 50), labels(B * T), am(B * T, 1);
  mlm_mask(ids.data(), labels.data(), am.data(), B, T, 30522, 103, {0, 101, 102, 103}, 0.15, 9, 0);
  int chosen = 0, masked = 0, kept = 0;
  for (int i = 0; i < B * T; i++) {
    if (labels[i] == -100) continue;
    chosen++;
    masked += ids[i] == 103;
    kept += ids[i] == 50;
  }
  const double rate = double(chosen) / (B * T);
  LSHLAB_EXPECT(rate > 0.13 && rate < 0.17);
  LSHLAB_EXPECT(double(masked) / chosen > 0.76 && double(masked) / chosen < 0.84);
  LSHLAB_EXPECT(double(kept) / chosen > 0.07 && double(kept) / chosen < 0.13);
}
