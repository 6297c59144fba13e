/*
 * cmd_optimizer_trace.cc: `lshlab-native optimizer-trace --spec FILE [--out FILE]` runs the
 * engine's optimiser step (train/adamw.h: the linear warmup/decay schedule, global-norm
 * clipping, AdamW) on given parameters and per-step gradients, exactly as Trainer::train_step
 * sequences them, and writes what each step did as JSON, so test/reference/test_optimizer.py
 * can replay the same steps with torch.optim.AdamW, clip_grad_norm_ and transformers'
 * get_linear_schedule_with_warmup. `--layout TASK` instead lists BERT-tiny's parameters with
 * their weight-decay flags (mlm | classification | qa), for the decay rule check.
 *
 * spec: {"lr", "beta1", "beta2", "eps", "weight_decay", "warmup_steps", "total_steps",
 *        "max_grad_norm", "params": [{"name", "decay": bool, "data": [floats]}],
 *        "grads": [step][param][floats]}
 * out:  {"steps": [{"lr", "grad_norm", "clip", "params": [[floats]]}]}
 */
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/common.h"
#include "io/atomic_file.h"
#include "io/json.h"
#include "model/bert_config.h"
#include "model/params.h"
#include "train/adamw.h"

using namespace lshlab;

namespace {

std::vector<float> floats(const Json& a, const std::string& what) {
  if (!a.is_array()) throw Error(what + ": must be an array of numbers");
  std::vector<float> v;
  v.reserve(a.size());
  for (size_t i = 0; i < a.size(); i++) v.push_back(float(a[i].as_double()));
  return v;
}

Json float_array(const float* p, size_t n) {
  Json a = Json::array();
  for (size_t i = 0; i < n; i++) a.push_back(double(p[i]));
  return a;
}

Json layout(const std::string& task) {
  BertConfig cfg;  // BERT-tiny
  if (task == "mlm") cfg.task = Task::MaskedLM;
  else if (task == "classification") cfg.task = Task::SequenceClassification;
  else if (task == "qa") cfg.task = Task::QuestionAnswering;
  else throw Error("optimizer-trace --layout: unknown task '" + task + "' (mlm | classification | qa)");
  Json out = Json::array();
  for (const ParamInfo& p : bert_param_layout(cfg)) {
    Json o = Json::object();
    o.set("name", p.name);
    o.set("decay", p.decay);
    out.push_back(o);
  }
  return out;
}

Json trace(const Json& spec) {
  TrainConfig tc;
  tc.lr = get_double(spec, "lr", "spec");
  tc.beta1 = get_double(spec, "beta1", "spec");
  tc.beta2 = get_double(spec, "beta2", "spec");
  tc.eps = get_double(spec, "eps", "spec");
  tc.weight_decay = get_double(spec, "weight_decay", "spec");
  tc.warmup_steps = get_int(spec, "warmup_steps", "spec");
  tc.total_steps = get_int(spec, "total_steps", "spec");
  tc.max_grad_norm = get_double(spec, "max_grad_norm", "spec");
  const Json& params = spec["params"];
  std::vector<ParamInfo> infos;
  size_t offset = 0;
  for (size_t i = 0; i < params.size(); i++) {
    ParamInfo p;
    p.name = get_string(params[i], "name", "spec.params[" + std::to_string(i) + "]");
    p.decay = get_bool(params[i], "decay", "spec.params[" + std::to_string(i) + "]");
    p.size = params[i]["data"].size();
    p.shape = {int64_t(p.size)};
    p.offset = offset;
    offset = (offset + p.size + 15) / 16 * 16;  // 64-byte starts, as the model's layout
    infos.push_back(p);
  }
  ParamSet<float> ps;
  ps.build(infos);
  for (size_t i = 0; i < params.size(); i++) {
    const std::vector<float> d = floats(params[i]["data"], "spec.params[" + std::to_string(i) + "].data");
    std::copy(d.begin(), d.end(), ps.p(infos[i].name));
  }
  AdamWState st;
  st.init(ps.total);
  const Json& grads = spec["grads"];
  Json steps = Json::array();
  for (size_t s = 0; s < grads.size(); s++) {
    ps.grad.zero();
    if (grads[s].size() != infos.size()) throw Error("spec.grads[" + std::to_string(s) + "]: one array per parameter");
    for (size_t i = 0; i < infos.size(); i++) {
      const std::vector<float> g = floats(grads[s][i], "spec.grads[" + std::to_string(s) + "][" + std::to_string(i) + "]");
      if (g.size() != infos[i].size) throw Error("spec.grads[" + std::to_string(s) + "][" + std::to_string(i) + "]: wrong length");
      std::copy(g.begin(), g.end(), ps.g(infos[i].name));
    }
    // Trainer::train_step's order: the schedule at the completed-step count, then the norm, the
    // clip coefficient and the update.
    const double lr = linear_schedule_lr(tc, st.t);
    const double norm = grad_global_norm(ps);
    const double clip = clip_coefficient(norm, tc.max_grad_norm);
    adamw_update(ps, st, tc, lr, clip);
    Json o = Json::object();
    o.set("lr", lr);
    o.set("grad_norm", norm);
    o.set("clip", clip);
    Json ps_out = Json::array();
    for (const ParamInfo& p : infos) ps_out.push_back(float_array(ps.p(p.name), p.size));
    o.set("params", ps_out);
    steps.push_back(o);
  }
  Json out = Json::object();
  out.set("steps", steps);
  return out;
}

}  // namespace

int cmd_optimizer_trace(int argc, char** argv) {
  std::string spec_path, out_path, task;
  try {
    DriverArgs a(argc, argv, {"--spec", "--out", "--layout"}, {});
    spec_path = a.str("--spec", "");
    out_path = a.str("--out", "");
    task = a.str("--layout", "");
    if (spec_path.empty() == task.empty()) throw std::invalid_argument("give --spec FILE or --layout TASK");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: optimizer-trace: %s\n", e.what());
    return 2;
  }
  const Json out = task.empty() ? trace(parse_json(read_file_string(spec_path), spec_path)) : layout(task);
  const std::string text = out.dump() + "\n";
  if (out_path.empty()) std::fputs(text.c_str(), stdout);
  else write_file_atomic(out_path, text);
  return 0;
}
