/*
 * checkpoint.h: a model checkpoint as Hugging Face lays one out, in a directory:
 *   config.json              HF BertConfig (plus lshlab's attention variant and task)
 *   model.safetensors        parameters under HF state-dict names, float32
 *   optimizer.safetensors    AdamW moments ("m.<name>", "v.<name>") and the step (optional)
 * Every file is written atomically (temp file + rename); loading validates names, dtypes and
 * shapes and names the tensor, file or field at fault.
 */
#pragma once
#include <string>

#include "model/bert_config.h"
#include "model/params.h"
#include "train/adamw.h"
#include "train/trainer.h"

namespace lshlab {

std::string bert_config_to_json(const BertConfig& cfg);
// Parses config.json text; `source` names the file in errors.
BertConfig bert_config_from_json(const std::string& text, const std::string& source);

void save_checkpoint(const std::string& dir, const BertConfig& cfg, const ParamSet<float>& ps,
                     const AdamWState* opt, int64_t step);
// Loads into ps (whose layout must match cfg); opt and step are restored when given and present.
void load_checkpoint(const std::string& dir, const BertConfig& cfg, ParamSet<float>& ps,
                     AdamWState* opt, int64_t* step);

}  // namespace lshlab
