/*
 * bert_config.cc: validation of BertConfig, with errors that name the field.
 */
#include "model/bert_config.h"

#include "core/common.h"

namespace lshlab {

void BertConfig::validate() const {
  auto positive = [](const char* field, long long v) {
    if (v <= 0) throw Error(std::string(field) + " must be positive (got " + std::to_string(v) + ")");
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("intermediate_size", intermediate_size);
  positive("max_position_embeddings", max_position_embeddings);
  positive("type_vocab_size", type_vocab_size);
  if (hidden_size % num_attention_heads != 0)
    throw Error("hidden_size (" + std::to_string(hidden_size) +
                ") must be a multiple of num_attention_heads (" +
                std::to_string(num_attention_heads) + ")");
  auto prob = [](const char* field, double p) {
    if (!(p >= 0.0 && p < 1.0))
      throw Error(std::string(field) + " must be in [0, 1) (got " + std::to_string(p) + ")");
  };
  prob("hidden_dropout_prob", hidden_dropout_prob);
  prob("attention_probs_dropout_prob", attention_probs_dropout_prob);
  if (!(layer_norm_eps > 0)) throw Error("layer_norm_eps must be positive");
  if (!(initializer_range > 0)) throw Error("initializer_range must be positive");
  if (task == Task::SequenceClassification && num_labels < 2)
    throw Error("num_labels must be at least 2 for classification (got " +
                std::to_string(num_labels) + ")");
  if (pad_token_id >= vocab_size)
    throw Error("pad_token_id (" + std::to_string(pad_token_id) + ") must be below vocab_size");
}

}  // namespace lshlab
