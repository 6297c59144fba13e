/*
 * params.cc: the BERT parameter layout (HF names and shapes) and HF-style initialisation.
 */
#include "model/params.h"

#include "attention/attention.h"
#include "core/philox.h"

namespace lshlab {

namespace {
bool is_decayed(const std::string& name) {
  auto ends = [&](const char* s) {
    std::string suf(s);
    return name.size() >= suf.size() && name.compare(name.size() - suf.size(), suf.size(), suf) == 0;
  };
  return !ends("bias") && name.find("LayerNorm") == std::string::npos;
}
}  // namespace

std::vector<ParamInfo> bert_param_layout(const BertConfig& cfg) {
  const int64_t C = cfg.hidden_size, F = cfg.intermediate_size, V = cfg.vocab_size;
  std::vector<ParamInfo> L;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    ParamInfo pi;
    pi.name = name;
    pi.shape = shape;
    pi.size = 1;
    for (int64_t d : shape) pi.size *= size_t(d);
    pi.decay = is_decayed(name);
    L.push_back(pi);
  };
  const std::vector<AttentionParamSpec> attn_specs = attention_parameter_specs(
      cfg.attention, cfg.attention_params, cfg.num_attention_heads,
      cfg.num_attention_heads > 0 ? cfg.hidden_size / cfg.num_attention_heads : 0);
  const std::string e = "bert.embeddings.";
  add(e + "word_embeddings.weight", {V, C});
  add(e + "position_embeddings.weight", {cfg.max_position_embeddings, C});
  add(e + "token_type_embeddings.weight", {cfg.type_vocab_size, C});
  add(e + "LayerNorm.weight", {C});
  add(e + "LayerNorm.bias", {C});
  for (int l = 0; l < cfg.num_hidden_layers; l++) {
    const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
    // Q, K, V weights adjacent (one (3C,C) block), then their biases (one (3C) block).
    add(p + "attention.self.query.weight", {C, C});
    add(p + "attention.self.key.weight", {C, C});
    add(p + "attention.self.value.weight", {C, C});
    add(p + "attention.self.query.bias", {C});
    add(p + "attention.self.key.bias", {C});
    add(p + "attention.self.value.bias", {C});
    for (const AttentionParamSpec& sp : attn_specs) {  // variant-owned (e.g. YOSO-C conv)
      add(p + sp.name, sp.shape);
      L.back().init_uniform_bound = sp.init_uniform_bound;
    }
    add(p + "attention.output.dense.weight", {C, C});
    add(p + "attention.output.dense.bias", {C});
    add(p + "attention.output.LayerNorm.weight", {C});
    add(p + "attention.output.LayerNorm.bias", {C});
    add(p + "intermediate.dense.weight", {F, C});
    add(p + "intermediate.dense.bias", {F});
    add(p + "output.dense.weight", {C, F});
    add(p + "output.dense.bias", {C});
    add(p + "output.LayerNorm.weight", {C});
    add(p + "output.LayerNorm.bias", {C});
  }
  switch (cfg.task) {
    case Task::MaskedLM:
      add("cls.predictions.transform.dense.weight", {C, C});
      add("cls.predictions.transform.dense.bias", {C});
      add("cls.predictions.transform.LayerNorm.weight", {C});
      add("cls.predictions.transform.LayerNorm.bias", {C});
      add("cls.predictions.bias", {V});  // decoder weight is tied to the word embeddings
      break;
    case Task::SequenceClassification:
      add("bert.pooler.dense.weight", {C, C});
      add("bert.pooler.dense.bias", {C});
      add("classifier.weight", {cfg.num_labels, C});
      add("classifier.bias", {cfg.num_labels});
      break;
    case Task::QuestionAnswering:
      add("qa_outputs.weight", {2, C});
      add("qa_outputs.bias", {2});
      break;
  }
  size_t off = 0;
  for (auto& pi : L) {
    pi.offset = off;
    // Tensors start 64-byte aligned, except that V follows K follows Q with no gap, so the
    // fused QKV weight (3C,C) and bias (3C) are each one contiguous block.
    const bool fused_next = pi.name.find("attention.self.query.") != std::string::npos ||
                            pi.name.find("attention.self.key.") != std::string::npos;
    off += fused_next ? pi.size : (pi.size + 15) / 16 * 16;
  }
  return L;
}

template <typename T>
void ParamSet<T>::build(const std::vector<ParamInfo>& layout) {
  infos = layout;
  total = infos.empty() ? 0 : infos.back().offset + infos.back().size;
  data.resize(total);
  grad.resize(total);
  data.zero();
  grad.zero();
}

template <typename T>
const ParamInfo* ParamSet<T>::find(const std::string& name) const {
  for (const auto& pi : infos)
    if (pi.name == name) return &pi;
  return nullptr;
}

template <typename T>
T* ParamSet<T>::p(const std::string& name) {
  const ParamInfo* pi = find(name);
  if (!pi) throw Error("model has no parameter '" + name + "'");
  return data.data() + pi->offset;
}

template <typename T>
T* ParamSet<T>::g(const std::string& name) {
  const ParamInfo* pi = find(name);
  if (!pi) throw Error("model has no parameter '" + name + "'");
  return grad.data() + pi->offset;
}

template <typename T>
void bert_init_weights(ParamSet<T>& ps, const BertConfig& cfg, uint64_t seed) {
  ps.data.zero();
  for (size_t t = 0; t < ps.infos.size(); t++) {
    const ParamInfo& pi = ps.infos[t];
    T* w = ps.data.data() + pi.offset;
    const bool is_ln = pi.name.find("LayerNorm") != std::string::npos;
    if (pi.init_uniform_bound > 0) {
      const double b = pi.init_uniform_bound;
      for (size_t i = 0; i < pi.size; i++)
        w[i] = T(b * (2.0 * philox_uniform(seed, uint32_t(Stream::Init), 0, (uint64_t(t) << 36) + i) - 1.0));
    } else if (pi.shape.size() == 2) {
      for (size_t i = 0; i < pi.size; i++)
        w[i] = T(cfg.initializer_range *
                 philox_normal(seed, uint32_t(Stream::Init), 0, (uint64_t(t) << 36) + i));
    } else if (is_ln && pi.name.size() > 6 && pi.name.compare(pi.name.size() - 6, 6, "weight") == 0) {
      for (size_t i = 0; i < pi.size; i++) w[i] = T(1);
    }
  }
  if (cfg.pad_token_id >= 0 && cfg.pad_token_id < cfg.vocab_size) {
    T* row = ps.p("bert.embeddings.word_embeddings.weight") + size_t(cfg.pad_token_id) * cfg.hidden_size;
    for (int c = 0; c < cfg.hidden_size; c++) row[c] = T(0);
  }
}

template struct ParamSet<float>;
template struct ParamSet<double>;
template void bert_init_weights<float>(ParamSet<float>&, const BertConfig&, uint64_t);
template void bert_init_weights<double>(ParamSet<double>&, const BertConfig&, uint64_t);

}  // namespace lshlab
