/*
 * test_init_from.cc: native tests of Trainer::init_from (io/init_from.h): a classification model
 * takes an MLM checkpoint's encoder and keeps its own head and pooler; a bare BertModel with TF
 * gamma/beta names in F16 loads; shape and layer-count mismatches fail naming the tensor and both
 * shapes and leave the model untouched; a YOSO-C target keeps its seed conv when the source is exact.
 */
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/philox.h"
#include "io/checkpoint.h"
#include "io/init_from.h"
#include "io/safetensors.h"
#include "model/bert.h"
#include "test_registry.h"
#include "train/trainer.h"

using namespace lshlab;

namespace {

BertConfig small(Task task) {
  BertConfig c;
  c.vocab_size = 40; c.hidden_size = 32; c.num_hidden_layers = 2; c.num_attention_heads = 2;
  c.intermediate_size = 64; c.max_position_embeddings = 16; c.task = task; c.num_labels = 3;
  return c;
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/lshlab-test-initfrom-XXXXXX";
    LSHLAB_CHECK(mkdtemp(tmpl) != nullptr, "mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() { std::error_code ec; std::filesystem::remove_all(path, ec); }
};

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }
bool has(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) if (x == s) return true;
  return false;
}

// Values of one parameter of a trainer.
std::vector<float> values(Trainer& t, const std::string& name) {
  const ParamInfo* pi = t.model().params().find(name);
  LSHLAB_CHECK(pi != nullptr, "no parameter " + name);
  const float* p = t.model().params().data.data() + pi->offset;
  return std::vector<float>(p, p + pi->size);
}

std::string init_error(Trainer& t, const std::string& dir) {
  try { t.init_from(dir); } catch (const Error& e) { return e.what(); }
  return "";
}

}  // namespace

LSHLAB_TEST("init-from/mlm-checkpoint-into-classifier") {
  TempDir tmp;
  TrainConfig tc; tc.seed = 5;
  Trainer mlm(small(Task::MaskedLM), tc);
  mlm.save(tmp.path);
  TrainConfig tc2; tc2.seed = 9;
  Trainer cls(small(Task::SequenceClassification), tc2), fresh(small(Task::SequenceClassification), tc2);
  const InitFromReport r = cls.init_from(tmp.path);
  for (const char* n : {"bert.embeddings.word_embeddings.weight", "bert.encoder.layer.1.output.LayerNorm.bias",
                        "bert.encoder.layer.0.attention.self.key.weight"})
    LSHLAB_EXPECT(values(cls, n) == values(mlm, n));
  // Head and pooler keep the target seed's initialisation.
  for (const char* n : {"classifier.weight", "bert.pooler.dense.weight"}) {
    LSHLAB_EXPECT(values(cls, n) == values(fresh, n));
    LSHLAB_EXPECT(has(r.initialised, n));
  }
  LSHLAB_EXPECT(has(r.ignored, "cls.predictions.transform.dense.weight"));
  LSHLAB_EXPECT(has(r.ignored, "cls.predictions.bias"));
  LSHLAB_EXPECT(r.source_step == 0 && r.source_task == "mlm" && r.source_attention == "exact");
  LSHLAB_EXPECT(cls.step() == 0);
  std::string notes;
  for (const auto& n : r.notes) notes += n + "\n";
  std::fprintf(stderr, "    notes:\n%s", notes.c_str());
  LSHLAB_EXPECT(contains(notes, "ignored the source's masked-LM head"));
  LSHLAB_EXPECT(contains(notes, "the source has no pooler"));
}

LSHLAB_TEST("init-from/bare-bertmodel-gamma-beta-f16") {
  TempDir tmp;
  Trainer src(small(Task::SequenceClassification), TrainConfig{});
  src.save(tmp.path);
  // Rewrite as a bare BertModel: no "bert." prefix, LayerNorm gamma/beta, float16, no head.
  SafetensorsReader r(tmp.path + "/model.safetensors");
  std::vector<std::string> names;
  std::vector<std::vector<uint16_t>> halves;
  std::vector<TensorRef> refs;
  for (const auto& n : r.names()) {
    if (n.rfind("bert.", 0) != 0) continue;
    std::string m = n.substr(5);
    if (m.size() > 16 && m.compare(m.size() - 16, 16, "LayerNorm.weight") == 0) m = m.substr(0, m.size() - 6) + "gamma";
    else if (m.size() > 14 && m.compare(m.size() - 14, 14, "LayerNorm.bias") == 0) m = m.substr(0, m.size() - 4) + "beta";
    names.push_back(m);
    const size_t count = (r.info(n).end - r.info(n).begin) / 4;
    halves.emplace_back(count);
    const float* f = reinterpret_cast<const float*>(r.data(n));
    for (size_t i = 0; i < count; i++) {  // float -> half by truncation (exactly representable test values are not needed)
      uint32_t b; std::memcpy(&b, f + i, 4);
      const int e = int((b >> 23) & 0xff) - 127 + 15;
      halves.back()[i] = e <= 0 ? uint16_t((b >> 16) & 0x8000) : uint16_t(((b >> 16) & 0x8000) | (e << 10) | ((b >> 13) & 0x3ff));
    }
  }
  for (size_t k = 0; k < names.size(); k++)
    refs.push_back({names[k], DType::F16, r.info(canonical_source_name(names[k])).shape, halves[k].data()});
  save_safetensors(tmp.path + "/model.safetensors", refs);
  Trainer dst(small(Task::SequenceClassification), TrainConfig{});
  const InitFromReport rep = dst.init_from(tmp.path);
  LSHLAB_EXPECT(has(rep.loaded, "bert.embeddings.LayerNorm.weight"));
  LSHLAB_EXPECT(has(rep.loaded, "bert.pooler.dense.weight"));
  const auto a = values(dst, "bert.encoder.layer.0.output.LayerNorm.weight");
  const auto b = values(src, "bert.encoder.layer.0.output.LayerNorm.weight");
  bool close = a.size() == b.size();
  for (size_t i = 0; close && i < a.size(); i++) close = std::fabs(a[i] - b[i]) <= 2e-3f * std::fabs(b[i]) + 1e-6f;
  LSHLAB_EXPECT(close);
}

LSHLAB_TEST("init-from/shape-mismatch-names-tensor-and-shapes") {
  TempDir tmp;
  Trainer src(small(Task::MaskedLM), TrainConfig{});
  src.save(tmp.path);
  BertConfig wide = small(Task::SequenceClassification);
  wide.intermediate_size = 128;
  Trainer dst(wide, TrainConfig{});
  const auto before = values(dst, "bert.embeddings.word_embeddings.weight");
  const std::string msg = init_error(dst, tmp.path);
  std::fprintf(stderr, "    message: %s\n", msg.c_str());
  LSHLAB_EXPECT(contains(msg, "bert.encoder.layer.0.intermediate.dense.weight"));
  LSHLAB_EXPECT(contains(msg, "[64, 32]") && contains(msg, "[128, 32]"));
  LSHLAB_EXPECT(values(dst, "bert.embeddings.word_embeddings.weight") == before);  // untouched

  BertConfig vocab = small(Task::SequenceClassification);
  vocab.vocab_size = 50;
  Trainer dv(vocab, TrainConfig{});
  const std::string mv = init_error(dv, tmp.path);
  LSHLAB_EXPECT(contains(mv, "bert.embeddings.word_embeddings.weight") && contains(mv, "[40, 32]") &&
                contains(mv, "[50, 32]") && contains(mv, "tokenizer import"));
}

LSHLAB_TEST("init-from/layer-count-mismatch") {
  TempDir tmp;
  Trainer src(small(Task::MaskedLM), TrainConfig{});
  src.save(tmp.path);
  BertConfig one = small(Task::MaskedLM);
  one.num_hidden_layers = 1;
  Trainer d1(one, TrainConfig{});
  const std::string m1 = init_error(d1, tmp.path);
  LSHLAB_EXPECT(contains(m1, "bert.encoder.layer.1.") && contains(m1, "no counterpart"));
  BertConfig three = small(Task::MaskedLM);
  three.num_hidden_layers = 3;
  Trainer d3(three, TrainConfig{});
  const std::string m3 = init_error(d3, tmp.path);
  LSHLAB_EXPECT(contains(m3, "missing tensor 'bert.encoder.layer.2."));
}

LSHLAB_TEST("init-from/variant-parameters") {
  TempDir tmp, tmp2;
  Trainer src(small(Task::MaskedLM), TrainConfig{});
  src.save(tmp.path);
  BertConfig yc = small(Task::QuestionAnswering);
  yc.attention = "yoso";
  yc.attention_params["conv_window"] = "3";
  Trainer dst(yc, TrainConfig{}), fresh(yc, TrainConfig{});
  const InitFromReport r = dst.init_from(tmp.path);
  const std::string conv = "bert.encoder.layer.0.attention.self.conv.weight";
  LSHLAB_EXPECT(has(r.initialised, conv));
  LSHLAB_EXPECT(values(dst, conv) == values(fresh, conv));
  // And the other way: a YOSO-C source into an exact model ignores the conv.
  TrainConfig t2; t2.seed = 77;
  Trainer ysrc(yc, t2);
  ysrc.save(tmp2.path);
  Trainer ex(small(Task::SequenceClassification), TrainConfig{});
  const InitFromReport r2 = ex.init_from(tmp2.path);
  LSHLAB_EXPECT(has(r2.ignored, conv));
  LSHLAB_EXPECT(has(r2.ignored, "qa_outputs.weight"));
  LSHLAB_EXPECT(r2.source_attention == "yoso");
  // A YOSO-C source into a YOSO-C model loads the conv.
  Trainer y2(yc, TrainConfig{});
  y2.init_from(tmp2.path);
  LSHLAB_EXPECT(values(y2, conv) == values(ysrc, conv));
}

LSHLAB_TEST("init-from/only-before-first-step") {
  TempDir tmp;
  Trainer src(small(Task::MaskedLM), TrainConfig{});
  src.save(tmp.path);
  Trainer t(small(Task::MaskedLM), TrainConfig{});
  std::vector<int32_t> ids(2 * 8, 5), labels(2 * 8, -100);
  labels[3] = 7;
  Batch b;
  b.B = 2; b.T = 8; b.input_ids = ids.data(); b.labels = labels.data();
  t.train_step(b);
  LSHLAB_EXPECT(contains(init_error(t, tmp.path), "before the first step"));
}
