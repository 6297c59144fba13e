/*
 * convert.cc: JS values <-> engine structs. JS uses camelCase; the engine (and config.json) use
 * Hugging Face's snake_case. Every error names the field as the caller wrote it.
 */
#include <algorithm>
#include <cmath>
#include <regex>
#include <utility>

#include "addon.h"

namespace lshlab_addon {

namespace {

constexpr double kMaxSafeInt = 9007199254740991.0;  // 2^53 - 1

// JS camelCase name <-> engine snake_case name.
const std::vector<std::pair<const char*, const char*>>& bert_fields() {
  static const std::vector<std::pair<const char*, const char*>> f = {
      {"vocabSize", "vocab_size"},
      {"hiddenSize", "hidden_size"},
      {"numHiddenLayers", "num_hidden_layers"},
      {"numAttentionHeads", "num_attention_heads"},
      {"intermediateSize", "intermediate_size"},
      {"maxPositionEmbeddings", "max_position_embeddings"},
      {"typeVocabSize", "type_vocab_size"},
      {"hiddenDropoutProb", "hidden_dropout_prob"},
      {"attentionProbsDropoutProb", "attention_probs_dropout_prob"},
      {"layerNormEps", "layer_norm_eps"},
      {"initializerRange", "initializer_range"},
      {"numLabels", "num_labels"},
      {"task", "task"},
      {"attention", "attention"},
  };
  return f;
}

const std::vector<std::pair<const char*, const char*>>& train_fields() {
  static const std::vector<std::pair<const char*, const char*>> f = {
      {"weightDecay", "weight_decay"}, {"warmupSteps", "warmup_steps"},
      {"totalSteps", "total_steps"},   {"maxGradNorm", "max_grad_norm"},
      {"cudaDevice", "cuda_device"},   {"cudaGraphs", "cuda_graphs"},
  };
  return f;
}

}  // namespace

// ---- FieldReader -----------------------------------------------------------------------------

FieldReader::FieldReader(Napi::Env env, Napi::Value v, std::string what, bool optional_object)
    : env_(env), what_(std::move(what)) {
  if (v.IsUndefined() || v.IsNull()) {
    if (!optional_object) throw Napi::TypeError::New(env, what_ + " must be an object");
    return;
  }
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction())
    throw Napi::TypeError::New(env, what_ + " must be a plain object");
  obj_ = v.As<Napi::Object>();
  present_ = true;
}

bool FieldReader::has(const char* key) {
  seen_.emplace_back(key);
  if (!present_) return false;
  if (!obj_.Has(key)) return false;
  Napi::Value v = obj_.Get(key);
  return !v.IsUndefined() && !v.IsNull();  // null means "not given"

}

Napi::Value FieldReader::raw(const char* key) {
  seen_.emplace_back(key);
  return present_ ? obj_.Get(key) : env_.Undefined();
}

int FieldReader::get_int(const char* key, int def, int64_t min, int64_t max) {
  if (!has(key)) return def;
  Napi::Value v = obj_.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env_, path(key) + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d)
    throw Napi::TypeError::New(env_, path(key) + " must be an integer (got " + v.ToString().Utf8Value() + ")");
  if (d < static_cast<double>(min) || d > static_cast<double>(max))
    throw Napi::RangeError::New(env_, path(key) + " must be in " + std::to_string(min) + ".." +
                                          std::to_string(max) + " (got " +
                                          v.ToString().Utf8Value() + ")");
  return static_cast<int>(d);
}

int FieldReader::need_int(const char* key, int64_t min, int64_t max) {
  if (!has(key)) throw Napi::TypeError::New(env_, path(key) + " is required");
  return get_int(key, 0, min, max);
}

int64_t FieldReader::get_int64(const char* key, int64_t def, int64_t min) {
  if (!has(key)) return def;
  Napi::Value v = obj_.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env_, path(key) + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > kMaxSafeInt)
    throw Napi::TypeError::New(env_, path(key) + " must be an integer (got " + v.ToString().Utf8Value() + ")");
  if (d < static_cast<double>(min))
    throw Napi::RangeError::New(env_, path(key) + " must be >= " + std::to_string(min) + " (got " +
                                          v.ToString().Utf8Value() + ")");
  return static_cast<int64_t>(d);
}

uint64_t FieldReader::get_uint64(const char* key, uint64_t def) {
  if (!has(key)) return def;
  Napi::Value v = obj_.Get(key);
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t u = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless)
      throw Napi::RangeError::New(env_, path(key) + " must fit in an unsigned 64-bit integer");
    return u;
  }
  if (!v.IsNumber())
    throw Napi::TypeError::New(env_, path(key) + " must be a non-negative integer or a BigInt");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < 0 || d > kMaxSafeInt)
    throw Napi::RangeError::New(env_, path(key) + " must be a non-negative safe integer (got " +
                                          v.ToString().Utf8Value() + "); use a BigInt for larger seeds");
  return static_cast<uint64_t>(d);
}

double FieldReader::get_double(const char* key, double def, double min, double max) {
  if (!has(key)) return def;
  Napi::Value v = obj_.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env_, path(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max) {
    std::string range = "[" + Napi::Number::New(env_, min).ToString().Utf8Value() + ", " +
                        Napi::Number::New(env_, max).ToString().Utf8Value() + "]";
    throw Napi::RangeError::New(env_, path(key) + " must be a finite number in " + range + " (got " +
                                          v.ToString().Utf8Value() + ")");
  }
  return d;
}

bool FieldReader::get_bool(const char* key, bool def) {
  if (!has(key)) return def;
  Napi::Value v = obj_.Get(key);
  if (!v.IsBoolean()) throw Napi::TypeError::New(env_, path(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string FieldReader::get_string(const char* key, const std::string& def) {
  if (!has(key)) return def;
  Napi::Value v = obj_.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(env_, path(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

void FieldReader::finish() {
  if (!present_) return;
  Napi::Array keys = obj_.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string k = keys.Get(i).ToString().Utf8Value();
    if (std::find(seen_.begin(), seen_.end(), k) == seen_.end()) {
      std::string known;
      for (auto& s : seen_) {
        if (known.find("'" + s + "'") != std::string::npos) continue;
        known += (known.empty() ? "'" : ", '") + s + "'";
      }
      throw Napi::TypeError::New(env_, what_ + ": unknown field '" + k + "' (known: " + known + ")");
    }
  }
}

// ---- configs ---------------------------------------------------------------------------------

lshlab::BertConfig read_bert_config(Napi::Env env, Napi::Value v, const std::string& what,
                                    const lshlab::BertConfig& base) {
  lshlab::BertConfig c = base;
  FieldReader r(env, v, what, /*optional_object=*/true);
  const int64_t big = 1LL << 30;
  c.vocab_size = r.get_int("vocabSize", c.vocab_size, 1, big);
  c.hidden_size = r.get_int("hiddenSize", c.hidden_size, 1, big);
  c.num_hidden_layers = r.get_int("numHiddenLayers", c.num_hidden_layers, 0, 4096);
  c.num_attention_heads = r.get_int("numAttentionHeads", c.num_attention_heads, 1, big);
  c.intermediate_size = r.get_int("intermediateSize", c.intermediate_size, 1, big);
  c.max_position_embeddings = r.get_int("maxPositionEmbeddings", c.max_position_embeddings, 1, big);
  c.type_vocab_size = r.get_int("typeVocabSize", c.type_vocab_size, 1, big);
  c.hidden_dropout_prob = r.get_double("hiddenDropoutProb", c.hidden_dropout_prob, 0.0, 1.0);
  c.attention_probs_dropout_prob =
      r.get_double("attentionProbsDropoutProb", c.attention_probs_dropout_prob, 0.0, 1.0);
  c.layer_norm_eps = r.get_double("layerNormEps", c.layer_norm_eps, 0.0, 1.0);
  c.initializer_range = r.get_double("initializerRange", c.initializer_range, 0.0, 1e3);
  c.num_labels = r.get_int("numLabels", c.num_labels, 1, big);
  if (r.has("task")) {
    std::string t = r.get_string("task", "mlm");
    if (t == "mlm") c.task = lshlab::Task::MaskedLM;
    else if (t == "classification") c.task = lshlab::Task::SequenceClassification;
    else if (t == "qa") c.task = lshlab::Task::QuestionAnswering;
    else
      throw Napi::RangeError::New(env, what + ".task must be 'mlm', 'classification' or 'qa' (got '" +
                                           t + "')");
  }
  c.attention = r.get_string("attention", c.attention);
  if (r.has("attentionParams")) {
    // {name: string | number}: passed to the variant as text; the variant validates each one.
    Napi::Value apv = r.raw("attentionParams");
    if (!apv.IsObject())
      throw Napi::TypeError::New(env, what + ".attentionParams must be an object");
    Napi::Object ap = apv.As<Napi::Object>();
    Napi::Array keys = ap.GetPropertyNames();
    c.attention_params.clear();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      const std::string k = keys.Get(i).ToString().Utf8Value();
      Napi::Value x = ap.Get(k);
      if (!x.IsString() && !x.IsNumber())
        throw Napi::TypeError::New(env, what + ".attentionParams." + k + " must be a string or a number");
      c.attention_params[k] = x.ToString().Utf8Value();
    }
  }
  r.finish();
  validate_bert_config(env, c, what);
  return c;
}

lshlab::TrainConfig read_train_config(Napi::Env env, Napi::Value v, const std::string& what) {
  lshlab::TrainConfig c;
  FieldReader r(env, v, what, /*optional_object=*/true);
  c.lr = r.get_double("lr", c.lr, 0.0, 1e3);
  c.beta1 = r.get_double("beta1", c.beta1, 0.0, 0.999999999);
  c.beta2 = r.get_double("beta2", c.beta2, 0.0, 0.999999999);
  c.eps = r.get_double("eps", c.eps, 0.0, 1.0);
  c.weight_decay = r.get_double("weightDecay", c.weight_decay, 0.0, 1e3);
  c.warmup_steps = r.get_int64("warmupSteps", c.warmup_steps, 0);
  c.total_steps = r.get_int64("totalSteps", c.total_steps, 0);
  c.max_grad_norm = r.get_double("maxGradNorm", c.max_grad_norm, -1e300, 1e300);
  c.seed = r.get_uint64("seed", c.seed);
  c.cuda_device = int(r.get_int64("cudaDevice", c.cuda_device, -1));
  c.precision = r.get_string("precision", c.precision);  // the Trainer checks it (and the device)
  c.cuda_graphs = r.get_bool("cudaGraphs", c.cuda_graphs);
  r.finish();
  if (c.total_steps > 0 && c.warmup_steps > c.total_steps)
    throw Napi::RangeError::New(env, what + ".warmupSteps (" + std::to_string(c.warmup_steps) +
                                         ") must not exceed " + what + ".totalSteps (" +
                                         std::to_string(c.total_steps) + ")");
  return c;
}

std::string camelize_fields(const std::string& msg) {
  std::string out = msg;
  for (const auto* table : {&bert_fields(), &train_fields()}) {
    for (const auto& [camel, snake] : *table) {
      if (std::string(camel) == snake) continue;
      out = std::regex_replace(out, std::regex(std::string("\\b") + snake + "\\b"), camel);
    }
  }
  return out;
}

void validate_bert_config(Napi::Env env, const lshlab::BertConfig& c, const std::string& what) {
  try {
    c.validate();
  } catch (const std::exception& e) {
    throw Napi::RangeError::New(env, what + ": " + camelize_fields(e.what()));
  }
}

Napi::Object bert_config_to_js(Napi::Env env, const lshlab::BertConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("vocabSize", c.vocab_size);
  o.Set("hiddenSize", c.hidden_size);
  o.Set("numHiddenLayers", c.num_hidden_layers);
  o.Set("numAttentionHeads", c.num_attention_heads);
  o.Set("intermediateSize", c.intermediate_size);
  o.Set("maxPositionEmbeddings", c.max_position_embeddings);
  o.Set("typeVocabSize", c.type_vocab_size);
  o.Set("hiddenDropoutProb", c.hidden_dropout_prob);
  o.Set("attentionProbsDropoutProb", c.attention_probs_dropout_prob);
  o.Set("layerNormEps", c.layer_norm_eps);
  o.Set("initializerRange", c.initializer_range);
  o.Set("numLabels", c.num_labels);
  o.Set("task", lshlab::task_name(c.task));
  o.Set("attention", c.attention);
  Napi::Object ap = Napi::Object::New(env);
  for (const auto& kv : c.attention_params) ap.Set(kv.first, kv.second);
  o.Set("attentionParams", ap);
  return o;
}

Napi::Object train_config_to_js(Napi::Env env, const lshlab::TrainConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("lr", c.lr);
  o.Set("beta1", c.beta1);
  o.Set("beta2", c.beta2);
  o.Set("eps", c.eps);
  o.Set("weightDecay", c.weight_decay);
  o.Set("warmupSteps", static_cast<double>(c.warmup_steps));
  o.Set("totalSteps", static_cast<double>(c.total_steps));
  o.Set("maxGradNorm", c.max_grad_norm);
  if (static_cast<double>(c.seed) <= kMaxSafeInt)
    o.Set("seed", static_cast<double>(c.seed));
  else
    o.Set("seed", Napi::BigInt::New(env, c.seed));
  if (c.cuda_device >= 0) o.Set("cudaDevice", c.cuda_device);
  o.Set("precision", c.precision);
  o.Set("cudaGraphs", c.cuda_graphs);
  return o;
}

// ---- attention counters ----------------------------------------------------------------------

namespace {
Napi::Array doubles_to_js(Napi::Env env, const std::vector<double>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), v[i]);
  return a;
}
// The counts, density and stage breakdown shared by the totals and each layer.
void set_counts(Napi::Env env, Napi::Object o, const lshlab::AttentionCounters& k) {
  o.Set("dotProducts", k.dot_products);
  o.Set("pairs", k.pairs);
  o.Set("density", k.collision_density());
  o.Set("collisions", k.collisions);
  Napi::Object f = Napi::Object::New(env);
  f.Set("hash", k.flops_hash);
  f.Set("scores", k.flops_scores);
  f.Set("softmax", k.flops_softmax);
  f.Set("values", k.flops_values);
  f.Set("backward", k.flops_backward);
  o.Set("flops", f);
  Napi::Object t = Napi::Object::New(env);
  t.Set("hash", k.time_hash_s);
  t.Set("scores", k.time_scores_s);
  t.Set("softmax", k.time_softmax_s);
  t.Set("values", k.time_values_s);
  t.Set("backward", k.time_backward_s);
  o.Set("timeS", t);
}
}  // namespace

Napi::Object attention_stats_to_js(Napi::Env env, const std::vector<lshlab::AttentionCounters>& layers) {
  Napi::Object o = Napi::Object::New(env);
  set_counts(env, o, lshlab::sum_attention_counters(layers));
  Napi::Array arr = Napi::Array::New(env, layers.size());
  for (size_t l = 0; l < layers.size(); l++) {
    const lshlab::AttentionCounters& k = layers[l];
    Napi::Object lo = Napi::Object::New(env);
    set_counts(env, lo, k);
    std::vector<double> dens(k.head_pairs.size());
    for (size_t h = 0; h < dens.size(); h++) dens[h] = k.head_density(int(h));
    lo.Set("headDensity", doubles_to_js(env, dens));
    lo.Set("headDotProducts", doubles_to_js(env, k.head_dot_products));
    lo.Set("headPairs", doubles_to_js(env, k.head_pairs));
    lo.Set("headCollisions", doubles_to_js(env, k.head_collisions));
    arr.Set(static_cast<uint32_t>(l), lo);
  }
  o.Set("layers", arr);
  return o;
}

// ---- batches ---------------------------------------------------------------------------------

Napi::Int32Array need_int32_array(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, what + " must be an Int32Array");
  return v.As<Napi::Int32Array>();
}

lshlab::Batch OwnedBatch::view() const {
  lshlab::Batch b;
  b.B = B;
  b.T = T;
  b.input_ids = input_ids.data();
  b.token_type_ids = token_type_ids.empty() ? nullptr : token_type_ids.data();
  b.attention_mask = attention_mask.empty() ? nullptr : attention_mask.data();
  b.labels = labels.empty() ? nullptr : labels.data();
  b.start_positions = start_positions.empty() ? nullptr : start_positions.data();
  b.end_positions = end_positions.empty() ? nullptr : end_positions.data();
  return b;
}

namespace {

// Copies batch.<key> (an Int32Array of `len` elements) into out, checking every value lies in
// [lo, hi) or equals `allowed` (e.g. -100 for unlabelled MLM positions).
void copy_ids(Napi::Env env, FieldReader& r, const char* key, size_t len, bool required,
              std::vector<int32_t>& out, int64_t lo, int64_t hi, const char* len_desc,
              bool has_allowed = false, int32_t allowed = 0) {
  const std::string name = r.what() + "." + key;
  if (!r.has(key)) {
    if (required) throw Napi::TypeError::New(env, name + " is required");
    return;
  }
  Napi::Int32Array a = need_int32_array(env, r.raw(key), name);
  if (a.ElementLength() != len)
    throw Napi::RangeError::New(env, name + " has " + std::to_string(a.ElementLength()) +
                                         " elements, expected " + len_desc + " = " +
                                         std::to_string(len));
  const int32_t* p = a.Data();
  for (size_t i = 0; i < len; i++) {
    if ((p[i] < lo || p[i] >= hi) && !(has_allowed && p[i] == allowed)) {
      std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + ")";
      if (has_allowed) range += " or " + std::to_string(allowed);
      throw Napi::RangeError::New(env, name + "[" + std::to_string(i) + "] = " +
                                           std::to_string(p[i]) + " is outside " + range);
    }
  }
  out.assign(p, p + len);
}

}  // namespace

OwnedBatch read_batch(Napi::Env env, Napi::Value v, const lshlab::BertConfig& cfg,
                      const std::string& what) {
  FieldReader r(env, v, what);
  OwnedBatch b;
  b.B = r.need_int("batchSize", 1, 1 << 20);
  b.T = r.need_int("seqLen", 1, cfg.max_position_embeddings);
  const size_t BT = static_cast<size_t>(b.B) * static_cast<size_t>(b.T);
  const size_t Bn = static_cast<size_t>(b.B);
  copy_ids(env, r, "inputIds", BT, true, b.input_ids, 0, cfg.vocab_size, "batchSize*seqLen");
  copy_ids(env, r, "tokenTypeIds", BT, false, b.token_type_ids, 0, cfg.type_vocab_size,
           "batchSize*seqLen");
  copy_ids(env, r, "attentionMask", BT, false, b.attention_mask, 0, 2, "batchSize*seqLen");
  switch (cfg.task) {
    case lshlab::Task::MaskedLM:
      copy_ids(env, r, "labels", BT, true, b.labels, 0, cfg.vocab_size, "batchSize*seqLen", true,
               -100);
      break;
    case lshlab::Task::SequenceClassification:
      copy_ids(env, r, "labels", Bn, true, b.labels, 0, cfg.num_labels, "batchSize");
      break;
    case lshlab::Task::QuestionAnswering:
      copy_ids(env, r, "startPositions", Bn, true, b.start_positions, 0, b.T, "batchSize");
      copy_ids(env, r, "endPositions", Bn, true, b.end_positions, 0, b.T, "batchSize");
      break;
  }
  r.finish();
  return b;
}

}  // namespace lshlab_addon
