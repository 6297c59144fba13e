/*
 * cmd_init_from.cc: `lshlab-native init-from --from SRC --task T --batch FILE --out DIR [--seed S]
 * [--num-labels N]` runs lshlab's fine-tuning initialisation outside Node, for
 * test/reference/test_hf_init_from.py: a model of task T with SRC's dimensions (SRC/config.json),
 * seed-initialised, then Trainer::init_from(SRC); it writes
 *   DIR/config.json, DIR/model.safetensors   the model after init_from (an HF checkpoint)
 *   DIR/logits.safetensors                   F32 "logits" of an eval forward on FILE's batch
 *                                            (classification (B,N); mlm (P,V) at labelled positions; qa (B,T,2))
 * and prints the InitFromReport as JSON on stdout. FILE holds I64 input_ids, token_type_ids,
 * attention_mask (B,T) and, for mlm, labels (B,T).
 */
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "train/trainer.h"

using namespace lshlab;

namespace {

std::vector<int32_t> read_i64_as_i32(const SafetensorsReader& r, const std::string& name, int B, int T) {
  std::vector<int64_t> v(size_t(B) * size_t(T));
  r.read_into(name, DType::I64, {B, T}, v.data());
  return std::vector<int32_t>(v.begin(), v.end());
}

Json string_array(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

}  // namespace

int cmd_init_from(int argc, char** argv) {
  std::string src, task_s, batch_path, out;
  uint64_t seed;
  int num_labels;
  try {
    DriverArgs a(argc, argv, {"--from", "--task", "--batch", "--out", "--seed", "--num-labels"}, {});
    src = a.str("--from", "");
    task_s = a.str("--task", "");
    batch_path = a.str("--batch", "");
    out = a.str("--out", "");
    seed = uint64_t(a.integer("--seed", 7, 0, 1LL << 62));
    num_labels = int(a.integer("--num-labels", 2, 1, 100000));
    if (task_s != "mlm" && task_s != "classification" && task_s != "qa")
      throw std::invalid_argument("--task must be mlm, classification or qa");
    if (src.empty() || batch_path.empty() || out.empty())
      throw std::invalid_argument("--from SRC, --batch FILE and --out DIR are required");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: init-from: %s\n", e.what());
    return 2;
  }
  const std::string cpath = src + "/config.json";
  BertConfig cfg = bert_config_from_json(read_file_string(cpath), cpath);
  cfg.task = task_s == "mlm" ? Task::MaskedLM
           : task_s == "classification" ? Task::SequenceClassification : Task::QuestionAnswering;
  cfg.num_labels = num_labels;
  cfg.attention = "exact";
  cfg.attention_params.clear();
  TrainConfig tc;
  tc.seed = seed;
  Trainer trainer(cfg, tc);
  const InitFromReport rep = trainer.init_from(src);
  trainer.save(out);

  SafetensorsReader br(batch_path);
  const std::vector<int64_t> shape = br.info("input_ids").shape;
  if (shape.size() != 2) throw Error(batch_path + ": input_ids must be (B, T)");
  const int B = int(shape[0]), T = int(shape[1]);
  std::vector<int32_t> ids = read_i64_as_i32(br, "input_ids", B, T), types = read_i64_as_i32(br, "token_type_ids", B, T),
                       mask = read_i64_as_i32(br, "attention_mask", B, T), labels;
  Batch batch;
  batch.B = B; batch.T = T;
  batch.input_ids = ids.data(); batch.token_type_ids = types.data(); batch.attention_mask = mask.data();
  if (cfg.task == Task::MaskedLM) {
    labels = read_i64_as_i32(br, "labels", B, T);
    batch.labels = labels.data();
  }
  std::vector<float> logits;
  const EvalStats es = trainer.evaluate(batch, &logits);
  std::vector<int64_t> lshape = cfg.task == Task::SequenceClassification ? std::vector<int64_t>{B, cfg.num_labels}
                              : cfg.task == Task::QuestionAnswering     ? std::vector<int64_t>{B, T, 2}
                                                                         : std::vector<int64_t>{es.predictions, cfg.vocab_size};
  save_safetensors(out + "/logits.safetensors", {{"logits", DType::F32, lshape, logits.data()}});

  Json j = Json::object();
  j.set("dir", rep.dir);
  j.set("source_step", rep.source_step);
  j.set("source_task", rep.source_task);
  j.set("source_attention", rep.source_attention);
  j.set("loaded", string_array(rep.loaded));
  j.set("ignored", string_array(rep.ignored));
  j.set("initialised", string_array(rep.initialised));
  j.set("notes", string_array(rep.notes));
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
