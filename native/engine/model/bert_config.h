/*
 * bert_config.h: the BERT encoder's hyperparameters, named as in Hugging Face's BertConfig so a
 * config.json maps one to one. Defaults are BERT-tiny (hidden 128, 2 layers, 2 heads, FFN 512).
 */
#pragma once
#include <cstdint>
#include <map>
#include <string>

namespace lshlab {

enum class Task { MaskedLM, SequenceClassification, QuestionAnswering };

inline const char* task_name(Task t) {
  switch (t) {
    case Task::MaskedLM: return "mlm";
    case Task::SequenceClassification: return "classification";
    case Task::QuestionAnswering: return "qa";
  }
  return "?";
}

struct BertConfig {
  int vocab_size = 30522;
  int hidden_size = 128;
  int num_hidden_layers = 2;
  int num_attention_heads = 2;
  int intermediate_size = 512;
  int max_position_embeddings = 512;
  int type_vocab_size = 2;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  double layer_norm_eps = 1e-12;
  double initializer_range = 0.02;
  int num_labels = 2;  // sequence classification only
  int pad_token_id = 0;  // its word-embedding row starts at zero and gets no lookup gradient
  Task task = Task::MaskedLM;
  std::string attention = "exact";  // attention variant name (see attention/attention.h)
  std::map<std::string, std::string> attention_params;  // the variant's parameters, by name

  // Throws lshlab::Error naming the first bad field.
  void validate() const;
};

}  // namespace lshlab
