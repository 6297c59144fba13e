/*
 * init_from.cc: encoder weights from another model's directory (see init_from.h). Everything is
 * read and checked into a staging copy first, so an error leaves the target model untouched.
 */
#include "io/init_from.h"

#include <cstring>
#include <map>
#include <set>

#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/json.h"
#include "io/safetensors.h"

namespace lshlab {

namespace {

bool starts_with(const std::string& s, const char* p) { return s.compare(0, std::strlen(p), p) == 0; }

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

bool is_head(const std::string& n) {
  return starts_with(n, "cls.") || starts_with(n, "classifier.") || starts_with(n, "qa_outputs.");
}

// Buffers some transformers versions save beside the weights; never parameters.
bool is_buffer(const std::string& n) {
  return n == "bert.embeddings.position_ids" || n == "bert.embeddings.token_type_ids";
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      uint32_t m = man;
      do { e++; m <<= 1; } while ((m & 0x400) == 0);
      bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Copies tensor `name` into dst as float32, converting F64/F16/BF16; the shape was checked.
void read_as_f32(const SafetensorsReader& r, const std::string& name, size_t n, float* dst) {
  const SafetensorsReader::Info& in = r.info(name);
  const uint8_t* src = r.data(name);
  switch (in.dtype) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F64:
      for (size_t i = 0; i < n; i++) { double d; std::memcpy(&d, src + 8 * i, 8); dst[i] = float(d); }
      return;
    case DType::F16:
      for (size_t i = 0; i < n; i++) { uint16_t h; std::memcpy(&h, src + 2 * i, 2); dst[i] = half_to_float(h); }
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; i++) {
        uint16_t h; std::memcpy(&h, src + 2 * i, 2);
        const uint32_t bits = uint32_t(h) << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      return;
    default:
      throw Error(r.path() + ": tensor '" + name + "' has dtype " + dtype_name(in.dtype) +
                  ", expected a float type (F32, F64, F16 or BF16)");
  }
}

// "bert.encoder.layer.3.attention.self.query.weight" -> "attention.self.query.weight"; "" if not a layer tensor.
std::string layer_suffix(const std::string& n) {
  static const std::string p = "bert.encoder.layer.";
  if (!starts_with(n, p.c_str())) return "";
  size_t i = p.size();
  while (i < n.size() && n[i] >= '0' && n[i] <= '9') i++;
  if (i == p.size() || i >= n.size() || n[i] != '.') return "";
  return n.substr(i + 1);
}

std::string join_names(const std::vector<std::string>& v, size_t max = 6) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max; i++) s += (i ? ", " : "") + v[i];
  if (v.size() > max) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

}  // namespace

std::string canonical_source_name(const std::string& name) {
  std::string n = name;
  // A bare BertModel (or `model.bert.save_pretrained`) has no "bert." prefix.
  if (starts_with(n, "embeddings.") || starts_with(n, "encoder.") || starts_with(n, "pooler.")) n = "bert." + n;
  // Checkpoints converted from Google's TensorFlow BERT name LayerNorm parameters gamma / beta.
  if (n.find("LayerNorm.") != std::string::npos) {
    if (ends_with(n, ".gamma")) n = n.substr(0, n.size() - 6) + ".weight";
    else if (ends_with(n, ".beta")) n = n.substr(0, n.size() - 5) + ".bias";
  }
  return n;
}

InitFromReport init_weights_from(const std::string& dir, const BertConfig& cfg, ParamSet<float>& ps) {
  InitFromReport rep;
  rep.dir = dir;
  const std::string cpath = dir + "/config.json";
  const BertConfig src_cfg = bert_config_from_json(read_file_string(cpath), cpath);
  {
    const Json j = parse_json(read_file_string(cpath), cpath);
    rep.source_attention = get_string_or(j, "lshlab_attention", "", cpath);
    rep.source_task = task_name(src_cfg.task);
  }
  SafetensorsReader src(dir + "/model.safetensors");
  auto st = src.metadata().find("lshlab_step");
  if (st != src.metadata().end()) rep.source_step = std::stoll(st->second);

  // What a plain (exact-attention) model of the target's shape has: the standard BERT tensors.
  // Anything else in the target's layout is owned by its attention variant.
  BertConfig plain = cfg;
  plain.attention = "exact";
  plain.attention_params.clear();
  std::set<std::string> standard, standard_layer_suffixes;
  for (const auto& pi : bert_param_layout(plain)) {
    standard.insert(pi.name);
    const std::string suf = layer_suffix(pi.name);
    if (!suf.empty()) standard_layer_suffixes.insert(suf);
  }

  // Source name -> canonical name, refusing two source tensors that map to one.
  std::map<std::string, std::string> by_canonical;
  std::vector<std::string> source_variant;
  for (const auto& raw : src.names()) {
    const std::string n = canonical_source_name(raw);
    if (is_buffer(n)) continue;
    if (!by_canonical.emplace(n, raw).second)
      throw Error(src.path() + ": tensors '" + by_canonical[n] + "' and '" + raw + "' are the same parameter '" + n + "'");
    if (is_head(n)) { rep.ignored.push_back(raw); continue; }
    if (ps.find(n)) continue;  // loaded below
    const std::string suf = layer_suffix(n);
    if (starts_with(n, "bert.pooler.")) {
      rep.ignored.push_back(raw);  // the target task has no pooler (mlm, qa)
    } else if (!suf.empty() && !standard_layer_suffixes.count(suf)) {
      rep.ignored.push_back(raw);  // the source's attention variant owns it (e.g. YOSO-C conv)
      source_variant.push_back(raw);
    } else if (starts_with(n, "bert.")) {
      throw Error(src.path() + ": tensor '" + raw + "' has no counterpart in the target model (" +
                  std::to_string(cfg.num_hidden_layers) + " layers; the source's " + cpath + " says " +
                  std::to_string(src_cfg.num_hidden_layers) + ")");
    } else {
      rep.ignored.push_back(raw);  // not a BERT tensor lshlab knows
    }
  }

  Buffer<float> staged(ps.total);
  std::memcpy(staged.data(), ps.data.data(), sizeof(float) * ps.total);
  std::vector<std::string> init_head, init_pooler, init_variant;
  for (const auto& pi : ps.infos) {
    auto it = by_canonical.find(pi.name);
    const bool head = is_head(pi.name);
    if (head || it == by_canonical.end()) {
      if (head) init_head.push_back(pi.name);
      else if (starts_with(pi.name, "bert.pooler.")) init_pooler.push_back(pi.name);
      else if (!standard.count(pi.name)) init_variant.push_back(pi.name);
      else throw Error(src.path() + ": missing tensor '" + pi.name + "' (shape " + shape_str(pi.shape) +
                       " in the target model)");
      rep.initialised.push_back(pi.name);
      continue;
    }
    const SafetensorsReader::Info& in = src.info(it->second);
    if (in.shape != pi.shape) {
      if (!standard.count(pi.name)) {  // a variant parameter of another configuration: keep the seed's
        init_variant.push_back(pi.name);
        rep.initialised.push_back(pi.name);
        rep.ignored.push_back(it->second);
        continue;
      }
      throw Error(src.path() + ": tensor '" + pi.name + "' has shape " + shape_str(in.shape) +
                  " in the source but " + shape_str(pi.shape) + " in the target model" +
                  (ends_with(pi.name, "word_embeddings.weight")
                       ? " (vocabularies differ: tokenize the dataset with the source's tokenizer, "
                         "see 'lshlab tokenizer import')"
                       : ""));
    }
    read_as_f32(src, it->second, pi.size, staged.data() + pi.offset);
    rep.loaded.push_back(pi.name);
  }
  std::memcpy(ps.data.data(), staged.data(), sizeof(float) * ps.total);

  rep.notes.push_back("loaded " + std::to_string(rep.loaded.size()) + " encoder tensors from " + dir);
  std::vector<std::string> heads;
  for (const auto& n : rep.ignored)
    if (is_head(canonical_source_name(n))) heads.push_back(n);
  if (!heads.empty())
    rep.notes.push_back("ignored the source's " + std::string(src_cfg.task == Task::MaskedLM ? "masked-LM" : task_name(src_cfg.task)) +
                        " head: " + join_names(heads));
  std::vector<std::string> pooler;
  for (const auto& n : rep.ignored)
    if (starts_with(canonical_source_name(n), "bert.pooler.")) pooler.push_back(n);
  if (!pooler.empty()) rep.notes.push_back("ignored the source's pooler (the " + std::string(task_name(cfg.task)) + " task has none): " + join_names(pooler));
  if (!source_variant.empty())
    rep.notes.push_back("ignored the source's attention-variant parameters: " + join_names(source_variant));
  if (!init_pooler.empty())
    rep.notes.push_back("the source has no pooler: " + join_names(init_pooler) + " initialised from the seed");
  if (!init_variant.empty())
    rep.notes.push_back("attention-variant parameters not in the source (or of another shape), initialised from the seed: " +
                        join_names(init_variant));
  if (!init_head.empty()) rep.notes.push_back("task head initialised from the seed: " + join_names(init_head));
  if (src_cfg.layer_norm_eps != cfg.layer_norm_eps)
    rep.notes.push_back("the source's layer_norm_eps is " + Json(src_cfg.layer_norm_eps).dump() + ", this model uses " +
                        Json(cfg.layer_norm_eps).dump());
  return rep;
}

}  // namespace lshlab
