/*
 * init_from.h: initialise a model's encoder from another model's weights (fine-tuning). The source
 * is a directory with config.json + model.safetensors: an lshlab checkpoint or a Hugging Face BERT
 * folder as `save_pretrained` writes it (BertForMaskedLM, BertForSequenceClassification,
 * BertForQuestionAnswering, BertForPreTraining or a bare BertModel).
 *
 * What is loaded: bert.embeddings.*, bert.encoder.* and bert.pooler.* (when the target has a
 * pooler). Source names are mapped to lshlab's (HF) names first: a bare BertModel's names get the
 * "bert." prefix, TF-era LayerNorm "gamma"/"beta" become "weight"/"bias". F32, F64, F16 and BF16
 * tensors are accepted (converted to float32).
 * What is not: the source's task heads (cls.*, classifier.*, qa_outputs.*: reported as ignored),
 * optimizer state and step count (the target keeps its fresh AdamW state and step 0).
 * Attention-variant parameters (YOSO-C's conv) load when the source has them with the same shape;
 * otherwise the target keeps its seed initialisation (reported); a source's variant parameters
 * that the target does not have are ignored (reported).
 * Errors (nothing is changed then): an encoder tensor whose shape differs (names the tensor and
 * both shapes), an encoder tensor missing on either side (names it), an unreadable file.
 */
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/bert_config.h"
#include "model/params.h"

namespace lshlab {

struct InitFromReport {
  std::string dir;
  int64_t source_step = -1;        // lshlab_step of the source's model.safetensors; -1 if absent
  std::string source_task;         // lshlab_task or from `architectures`; "" if unknown
  std::string source_attention;    // lshlab_attention; "" for a folder that does not say (HF)
  std::vector<std::string> loaded;       // target tensors copied from the source
  std::vector<std::string> ignored;      // source tensors not used (heads, variant parameters), source names
  std::vector<std::string> initialised;  // target tensors kept at their seed initialisation
  std::vector<std::string> notes;        // one line each, for people
};

// Copies the encoder tensors of `dir` into `ps` (whose layout is bert_param_layout(cfg)).
InitFromReport init_weights_from(const std::string& dir, const BertConfig& cfg, ParamSet<float>& ps);

// The lshlab name of a source tensor name (see above); unchanged if it needs no mapping.
std::string canonical_source_name(const std::string& name);

}  // namespace lshlab
