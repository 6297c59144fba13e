/*
 * params.h: a model's parameters as named tensors in one flat buffer, with a gradient buffer of
 * the same layout. Names and shapes are Hugging Face's state-dict names, so checkpoints map one
 * to one; the order in the flat buffer is ours (Q, K and V weights sit next to each other so the
 * QKV projection is one GEMM). Flat storage makes AdamW, clipping and zeroing one loop each.
 */
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/common.h"
#include "model/bert_config.h"

namespace lshlab {

struct ParamInfo {
  std::string name;            // HF state-dict name, e.g. "bert.encoder.layer.0.attention.self.query.weight"
  std::vector<int64_t> shape;  // HF shape (Linear weights are (out, in))
  size_t offset = 0;           // in elements, into the flat buffer
  size_t size = 0;             // elements
  bool decay = true;           // AdamW weight decay applies (not to biases and LayerNorm weights)
  double init_uniform_bound = 0;  // > 0: initialised U(-b, b) (attention-variant parameters)
};

// The parameter list of a BERT model for cfg.task, in flat-buffer order. Parameters the attention
// variant declares (attention.h: parameter_specs) follow each layer's value bias, named
// "bert.encoder.layer.{i}." + the spec's suffix.
std::vector<ParamInfo> bert_param_layout(const BertConfig& cfg);

template <typename T>
struct ParamSet {
  std::vector<ParamInfo> infos;
  Buffer<T> data;   // all parameters
  Buffer<T> grad;   // their gradients, same layout
  size_t total = 0;

  void build(const std::vector<ParamInfo>& layout);
  const ParamInfo* find(const std::string& name) const;  // null if absent
  T* p(const std::string& name);   // throws lshlab::Error naming an unknown parameter
  T* g(const std::string& name);
};

// HF's BertPreTrainedModel._init_weights, drawn from Philox stream Init: weights N(0, std),
// biases 0, LayerNorm weight 1 / bias 0, the padding row of the word embeddings 0; tensors with
// init_uniform_bound b > 0 (attention-variant parameters, e.g. YOSO-C's conv, which HF leaves at
// PyTorch's default Conv2d init) get U(-b, b): element i of tensor t is b (2u - 1) with
// u = philox_uniform(seed, Init, 0, (t << 36) + i).
template <typename T>
void bert_init_weights(ParamSet<T>& ps, const BertConfig& cfg, uint64_t seed);

}  // namespace lshlab
