/*
 * checkpoint.cc: checkpoint directories (see checkpoint.h). Each file is replaced atomically; the
 * model and optimizer files carry the step in their metadata so a mismatched pair (a crash between
 * the two renames) is detected on load rather than silently resumed.
 */
#include "io/checkpoint.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"

namespace lshlab {

namespace {

const char* architecture(Task t) {
  switch (t) {
    case Task::MaskedLM: return "BertForMaskedLM";
    case Task::SequenceClassification: return "BertForSequenceClassification";
    case Task::QuestionAnswering: return "BertForQuestionAnswering";
  }
  return "?";
}

void make_dirs(const std::string& dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); i++) {
    if (i == dir.size() || dir[i] == '/') {
      if (!cur.empty() && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
        throw Error("cannot create directory '" + cur + "': " + std::strerror(errno));
    }
    if (i < dir.size()) cur += dir[i];
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error("'" + dir + "' is not a directory");
}

std::vector<int64_t> shape_of(const ParamInfo& pi) { return pi.shape; }

}  // namespace

std::string bert_config_to_json(const BertConfig& c) {
  Json j = Json::object();
  Json arch = Json::array();
  arch.push_back(architecture(c.task));
  j.set("architectures", arch);
  j.set("model_type", "bert");
  j.set("vocab_size", c.vocab_size);
  j.set("hidden_size", c.hidden_size);
  j.set("num_hidden_layers", c.num_hidden_layers);
  j.set("num_attention_heads", c.num_attention_heads);
  j.set("intermediate_size", c.intermediate_size);
  j.set("hidden_act", "gelu");
  j.set("max_position_embeddings", c.max_position_embeddings);
  j.set("type_vocab_size", c.type_vocab_size);
  j.set("hidden_dropout_prob", c.hidden_dropout_prob);
  j.set("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  j.set("layer_norm_eps", c.layer_norm_eps);
  j.set("initializer_range", c.initializer_range);
  j.set("pad_token_id", c.pad_token_id);
  j.set("position_embedding_type", "absolute");
  if (c.task == Task::SequenceClassification) {
    j.set("num_labels", c.num_labels);
    Json id2label = Json::object(), label2id = Json::object();
    for (int i = 0; i < c.num_labels; i++) {
      id2label.set(std::to_string(i), "LABEL_" + std::to_string(i));
      label2id.set("LABEL_" + std::to_string(i), i);
    }
    j.set("id2label", id2label);
    j.set("label2id", label2id);
  }
  j.set("lshlab_task", task_name(c.task));
  j.set("lshlab_attention", c.attention);
  Json ap = Json::object();
  for (const auto& kv : c.attention_params) ap.set(kv.first, kv.second);
  j.set("lshlab_attention_params", ap);
  return j.dump_pretty() + "\n";
}

BertConfig bert_config_from_json(const std::string& text, const std::string& source) {
  Json j = parse_json(text, source);
  if (!j.is_object()) throw Error(source + ": expected a JSON object");
  BertConfig c;
  c.vocab_size = int(get_int(j, "vocab_size", source));
  c.hidden_size = int(get_int(j, "hidden_size", source));
  c.num_hidden_layers = int(get_int(j, "num_hidden_layers", source));
  c.num_attention_heads = int(get_int(j, "num_attention_heads", source));
  c.intermediate_size = int(get_int(j, "intermediate_size", source));
  c.max_position_embeddings = int(get_int_or(j, "max_position_embeddings", 512, source));
  c.type_vocab_size = int(get_int_or(j, "type_vocab_size", 2, source));
  c.hidden_dropout_prob = get_double_or(j, "hidden_dropout_prob", 0.1, source);
  c.attention_probs_dropout_prob = get_double_or(j, "attention_probs_dropout_prob", 0.1, source);
  c.layer_norm_eps = get_double_or(j, "layer_norm_eps", 1e-12, source);
  c.initializer_range = get_double_or(j, "initializer_range", 0.02, source);
  c.pad_token_id = int(get_int_or(j, "pad_token_id", 0, source));
  const std::string act = get_string_or(j, "hidden_act", "gelu", source);
  if (act != "gelu") throw Error(source + ": hidden_act '" + act + "' is not supported (only erf 'gelu')");
  std::string task = get_string_or(j, "lshlab_task", "", source);
  if (task.empty() && j.has("architectures") && j["architectures"].is_array() && j["architectures"].size() > 0) {
    const std::string a = j["architectures"][0].as_string();
    task = a == "BertForSequenceClassification" ? "classification"
         : a == "BertForQuestionAnswering"      ? "qa" : "mlm";
  }
  if (task == "classification") c.task = Task::SequenceClassification;
  else if (task == "qa") c.task = Task::QuestionAnswering;
  else if (task == "mlm" || task.empty()) c.task = Task::MaskedLM;
  else throw Error(source + ": unknown lshlab_task '" + task + "'");
  if (j.has("id2label") && j["id2label"].is_object()) c.num_labels = int(j["id2label"].size());
  c.num_labels = int(get_int_or(j, "num_labels", c.num_labels, source));
  c.attention = get_string_or(j, "lshlab_attention", "exact", source);
  if (const Json* ap = j.find("lshlab_attention_params")) {
    if (!ap->is_object()) throw Error(source + ": lshlab_attention_params must be an object");
    for (const auto& m : ap->members()) {
      if (!m.second.is_string())
        throw Error(source + ": lshlab_attention_params." + m.first + " must be a string");
      c.attention_params[m.first] = m.second.as_string();
    }
  }
  return c;
}

void save_checkpoint(const std::string& dir, const BertConfig& cfg, const ParamSet<float>& ps,
                     const AdamWState* opt, int64_t step) {
  make_dirs(dir);
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"lshlab_step", std::to_string(step)}};
  std::vector<TensorRef> model;
  for (const auto& pi : ps.infos)
    model.push_back({pi.name, DType::F32, shape_of(pi), ps.data.data() + pi.offset});
  save_safetensors(dir + "/model.safetensors", model, meta);
  if (opt) {
    std::vector<TensorRef> o;
    for (const auto& pi : ps.infos) {
      o.push_back({"m." + pi.name, DType::F32, shape_of(pi), opt->m.data() + pi.offset});
      o.push_back({"v." + pi.name, DType::F32, shape_of(pi), opt->v.data() + pi.offset});
    }
    meta["lshlab_adam_t"] = std::to_string(opt->t);
    save_safetensors(dir + "/optimizer.safetensors", o, meta);
  }
  write_file_atomic(dir + "/config.json", bert_config_to_json(cfg));
}

void load_checkpoint(const std::string& dir, const BertConfig& cfg, ParamSet<float>& ps,
                     AdamWState* opt, int64_t* step) {
  const std::string cpath = dir + "/config.json";
  BertConfig saved = bert_config_from_json(read_file_string(cpath), cpath);
  auto same = [&](const char* field, long long a, long long b) {
    if (a != b)
      throw Error(cpath + ": " + field + " is " + std::to_string(a) + " but the model has " + std::to_string(b));
  };
  same("vocab_size", saved.vocab_size, cfg.vocab_size);
  same("hidden_size", saved.hidden_size, cfg.hidden_size);
  same("num_hidden_layers", saved.num_hidden_layers, cfg.num_hidden_layers);
  same("num_attention_heads", saved.num_attention_heads, cfg.num_attention_heads);
  same("intermediate_size", saved.intermediate_size, cfg.intermediate_size);
  same("max_position_embeddings", saved.max_position_embeddings, cfg.max_position_embeddings);
  same("type_vocab_size", saved.type_vocab_size, cfg.type_vocab_size);

  SafetensorsReader model(dir + "/model.safetensors");
  // Read everything into a staging copy first so a failure leaves the model untouched.
  Buffer<float> staged(ps.total);
  std::set<std::string> expected;
  for (const auto& pi : ps.infos) {
    expected.insert(pi.name);
    if (!model.has(pi.name))
      throw Error(model.path() + ": missing tensor '" + pi.name + "'");
    model.read_into(pi.name, DType::F32, pi.shape, staged.data() + pi.offset);
  }
  // Names HF may store for tied or derived tensors are accepted and ignored.
  static const std::set<std::string> ignorable = {"cls.predictions.decoder.weight",
                                                  "cls.predictions.decoder.bias",
                                                  "bert.embeddings.position_ids"};
  for (const auto& n : model.names())
    if (!expected.count(n) && !ignorable.count(n))
      throw Error(model.path() + ": unexpected tensor '" + n + "' (not a parameter of this " +
                  task_name(cfg.task) + " model)");
  int64_t saved_step = 0;
  auto it = model.metadata().find("lshlab_step");
  if (it != model.metadata().end()) saved_step = std::stoll(it->second);

  Buffer<float> m, v;
  int64_t adam_t = 0;
  const std::string opath = dir + "/optimizer.safetensors";
  struct stat st;
  const bool have_opt = opt && ::stat(opath.c_str(), &st) == 0;
  if (have_opt) {
    SafetensorsReader o(opath);
    auto os = o.metadata().find("lshlab_step");
    if (os == o.metadata().end() || std::stoll(os->second) != saved_step)
      throw Error(opath + ": optimizer state is for a different step than model.safetensors (step " +
                  std::to_string(saved_step) + "); the checkpoint is inconsistent");
    m.resize(ps.total); v.resize(ps.total);
    for (const auto& pi : ps.infos) {
      o.read_into("m." + pi.name, DType::F32, pi.shape, m.data() + pi.offset);
      o.read_into("v." + pi.name, DType::F32, pi.shape, v.data() + pi.offset);
    }
    auto at = o.metadata().find("lshlab_adam_t");
    adam_t = at == o.metadata().end() ? saved_step : std::stoll(at->second);
  }
  // Commit.
  std::memcpy(ps.data.data(), staged.data(), sizeof(float) * ps.total);
  if (have_opt) {
    std::memcpy(opt->m.data(), m.data(), sizeof(float) * ps.total);
    std::memcpy(opt->v.data(), v.data(), sizeof(float) * ps.total);
    opt->t = adam_t;
  }
  if (step) *step = saved_step;
}

}  // namespace lshlab
