/*
 * cmd_dump_reference.cc: `lshlab-native dump-reference --task T --out DIR [--seed S]` writes a small
 * model, a batch and the engine's float32 loss, logits and parameter gradients (dropout off), in
 * Hugging Face's layout, for test/reference/test_hf_reference.py to replay in transformers:
 *   DIR/config.json, DIR/model.safetensors   (an HF checkpoint: from_pretrained(DIR) loads it)
 *   DIR/batch.safetensors                    (I64 input_ids, token_type_ids, attention_mask, labels...)
 *   DIR/expected.safetensors                 (F32 loss, logits, grad.<parameter name>)
 */
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/philox.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "model/bert.h"

using namespace lshlab;

int cmd_dump_reference(int argc, char** argv) {
  std::string task_s, out;
  uint64_t seed;
  try {
    DriverArgs a(argc, argv, {"--task", "--out", "--seed"}, {});
    task_s = a.str("--task", "");
    out = a.str("--out", "");
    seed = uint64_t(a.integer("--seed", 7, 0, 1LL << 62));
    if (task_s != "mlm" && task_s != "classification" && task_s != "qa")
      throw std::invalid_argument("--task must be mlm, classification or qa");
    if (out.empty()) throw std::invalid_argument("--out DIR is required");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "error: dump-reference: %s\n", e.what());
    return 2;
  }
  BertConfig cfg;
  cfg.vocab_size = 120; cfg.hidden_size = 32; cfg.num_hidden_layers = 2; cfg.num_attention_heads = 4;
  cfg.intermediate_size = 64; cfg.max_position_embeddings = 40; cfg.type_vocab_size = 2;
  cfg.hidden_dropout_prob = 0; cfg.attention_probs_dropout_prob = 0;
  cfg.initializer_range = 0.2;  // larger than BERT's 0.02 so every gradient is well above rounding
  cfg.num_labels = 3;
  cfg.task = task_s == "mlm" ? Task::MaskedLM
           : task_s == "classification" ? Task::SequenceClassification : Task::QuestionAnswering;
  BertModel<float> model(cfg);
  bert_init_weights(model.params(), cfg, seed);

  const int B = 3, T = 12;
  const int lengths[B] = {12, 9, 5};  // rows 2 and 3 are padded
  std::vector<int32_t> ids(B * T), types(B * T), mask(B * T), labels, starts, ends;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const int i = b * T + t;
      const uint32_t u = philox_u32(seed, uint32_t(Stream::RandomTokens), 0, uint64_t(i));
      const bool real = t < lengths[b];
      ids[i] = real ? 1 + int32_t(u % uint32_t(cfg.vocab_size - 1)) : cfg.pad_token_id;
      types[i] = real && t >= lengths[b] / 2 ? 1 : 0;
      mask[i] = real ? 1 : 0;
    }
  Batch batch;
  batch.B = B; batch.T = T;
  batch.input_ids = ids.data(); batch.token_type_ids = types.data(); batch.attention_mask = mask.data();
  if (cfg.task == Task::MaskedLM) {
    labels.assign(B * T, -100);
    for (int i = 0; i < B * T; i++)
      if (mask[i] && philox_uniform(seed, uint32_t(Stream::MlmMask), 0, uint64_t(i)) < 0.3f)
        labels[i] = int32_t(philox_u32(seed, uint32_t(Stream::MlmMask), 1, uint64_t(i)) % uint32_t(cfg.vocab_size));
    labels[1] = 5;  // at least one labelled position
    batch.labels = labels.data();
  } else if (cfg.task == Task::SequenceClassification) {
    labels = {2, 0, 1};
    batch.labels = labels.data();
  } else {
    starts = {3, 0, T + 3};  // the last is outside the sequence: HF ignores it
    ends = {7, 4, 2};
    batch.start_positions = starts.data(); batch.end_positions = ends.data();
  }
  ForwardOptions fo;  // eval: no dropout
  ForwardResult fr = model.forward(batch, fo);
  model.params().grad.zero();
  model.backward();

  save_checkpoint(out, cfg, model.params(), nullptr, 0);
  auto i64 = [](const std::vector<int32_t>& v) { return std::vector<int64_t>(v.begin(), v.end()); };
  std::vector<int64_t> ids64 = i64(ids), types64 = i64(types), mask64 = i64(mask),
                       labels64 = i64(labels), starts64 = i64(starts), ends64 = i64(ends);
  std::vector<TensorRef> bt = {{"input_ids", DType::I64, {B, T}, ids64.data()},
                               {"token_type_ids", DType::I64, {B, T}, types64.data()},
                               {"attention_mask", DType::I64, {B, T}, mask64.data()}};
  if (cfg.task == Task::MaskedLM) bt.push_back({"labels", DType::I64, {B, T}, labels64.data()});
  if (cfg.task == Task::SequenceClassification) bt.push_back({"labels", DType::I64, {B}, labels64.data()});
  if (cfg.task == Task::QuestionAnswering) {
    bt.push_back({"start_positions", DType::I64, {B}, starts64.data()});
    bt.push_back({"end_positions", DType::I64, {B}, ends64.data()});
  }
  save_safetensors(out + "/batch.safetensors", bt);

  const float loss = float(fr.loss);
  std::vector<float> start_logits, end_logits;
  std::vector<TensorRef> ex = {{"loss", DType::F32, {}, &loss}};
  if (cfg.task == Task::MaskedLM) {
    ex.push_back({"logits", DType::F32, {fr.predictions, cfg.vocab_size}, model.logits()});
  } else if (cfg.task == Task::SequenceClassification) {
    ex.push_back({"logits", DType::F32, {B, cfg.num_labels}, model.logits()});
  } else {
    for (int i = 0; i < B * T; i++) {
      start_logits.push_back(model.logits()[2 * i]);
      end_logits.push_back(model.logits()[2 * i + 1]);
    }
    ex.push_back({"start_logits", DType::F32, {B, T}, start_logits.data()});
    ex.push_back({"end_logits", DType::F32, {B, T}, end_logits.data()});
  }
  std::vector<std::string> names;  // keep names alive for TensorRef
  for (const auto& pi : model.params().infos) names.push_back("grad." + pi.name);
  for (size_t k = 0; k < names.size(); k++) {
    const auto& pi = model.params().infos[k];
    ex.push_back({names[k], DType::F32, pi.shape, model.params().grad.data() + pi.offset});
  }
  save_safetensors(out + "/expected.safetensors", ex);
  std::printf("wrote %s reference to %s (loss %.6f)\n", task_s.c_str(), out.c_str(), fr.loss);
  return 0;
}
