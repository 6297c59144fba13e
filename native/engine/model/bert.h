/*
 * bert.h: the BERT encoder with its task heads (masked LM, sequence classification, span QA) on
 * the CPU: forward, backward, and every activation buffer the backward needs. The same template
 * runs in float32 (training) and float64 (gradient checks). Buffers grow to the largest batch
 * seen and are then reused: a steady-state step allocates nothing.
 * Shapes use the legend of core/common.h; N = B*T rows; P = labelled (masked) positions.
 * Not here: the optimiser (train/adamw.h), checkpoint files (io/checkpoint.h).
 */
#pragma once
#include <cstdint>
#include <array>
#include <memory>
#include <vector>

#include "attention/attention.h"
#include "core/common.h"
#include "model/bert_config.h"
#include "model/params.h"
#include "train/trainer.h"

namespace lshlab {

// Dropout sites (the Philox counter's site field): one per place in the network, shared by the
// CPU and CUDA models so both draw the same masks.
namespace dropout_site {
inline uint32_t embeddings() { return 1; }
inline uint32_t attn_probs(int l) { return 2 + 4 * uint32_t(l); }
inline uint32_t attn_out(int l) { return 3 + 4 * uint32_t(l); }
inline uint32_t ffn_out(int l) { return 4 + 4 * uint32_t(l); }
constexpr uint32_t kClassifier = 1u << 20;
}  // namespace dropout_site

struct ForwardOptions {
  bool training = false;  // dropout on
  uint64_t seed = 0;      // dropout stream
  uint32_t step = 0;
};

struct ForwardResult {
  double loss = 0;
  int64_t tokens = 0;       // non-padding tokens
  int64_t predictions = 0;  // labelled positions (mlm) or counted examples
  int64_t correct = 0;
};

template <typename T>
class BertModel {
 public:
  explicit BertModel(const BertConfig& cfg);

  const BertConfig& config() const { return cfg_; }
  ParamSet<T>& params() { return ps_; }
  const ParamSet<T>& params() const { return ps_; }

  // Runs the encoder and the head; keeps what backward() needs.
  ForwardResult forward(const Batch& batch, const ForwardOptions& opt);
  // Accumulates d loss / d params into params().grad (the caller zeroes it between steps).
  void backward();

  // Head outputs of the last forward: mlm (P,V) logits at labelled positions (row-major b,t
  // order); classification (B,num_labels); qa (B,T,2) start/end pairs.
  const T* logits() const { return logits_.data(); }
  int64_t logits_size() const { return logits_count_; }

  // Attention counters of layer l for the last call.
  const AttentionCounters& attention_counters(int layer) const { return attn_[layer]->counters(); }
  // Layer l's attention as the last forward left it (its variant, the (N,3C) qkv it was given,
  // the (N,C) context it returned): what attention maps replay (model/attention_maps.h).
  const Attention<T>& attention(int layer) const { return *attn_[layer]; }
  const T* layer_qkv(int layer) const { return layers_[layer].qkv.data(); }
  const T* layer_ctx(int layer) const { return layers_[layer].ctx.data(); }
  // The AttentionCall layer l's variant got in the last forward (shapes, seed, step, site).
  AttentionCall attention_call(int layer) const;
  // The input mask of the last forward (B,T), or null when it had none.
  const int32_t* attention_mask() const { return has_mask_ ? mask_.data() : nullptr; }

  // Analytic FLOPs (multiply-add = 2) of forward+backward for a batch shape: every GEMM (x3 for
  // forward, dX, dW) and attention scores/values (x3); element-wise ops are not counted.
  static double step_flops(const BertConfig& cfg, int B, int Tn, int64_t predictions);

  // Where each tensor sits in the flat parameter buffer, resolved once at construction (the CUDA
  // model, model/bert_cuda.h, uses the same layout on the device).
  enum LayerParam { kQkvW, kQkvB, kAttnOutW, kAttnOutB, kLn1W, kLn1B, kFfnInW, kFfnInB, kFfnOutW,
                    kFfnOutB, kLn2W, kLn2B, kNumLayerParams };
  enum NamedParam { kWordEmb, kPosEmb, kTypeEmb, kEmbLnW, kEmbLnB, kMlmDenseW, kMlmDenseB, kMlmLnW,
                    kMlmLnB, kMlmBias, kPoolW, kPoolB, kClsW, kClsB, kQaW, kQaB, kNumNamedParams };
  size_t layer_offset(int l, LayerParam k) const { return layer_off_[size_t(l)][k]; }
  size_t named_offset(NamedParam k) const { return named_off_[k]; }

 private:
  struct Layer {  // activations of one encoder layer, (N, .) each
    Buffer<T> qkv, ctx, attn_out, h1_pre, h1, mean1, rstd1, ff_pre, ff, ff_out, h2_pre, mean2, rstd2;
    Buffer<uint8_t> keep_attn, keep_ff;
  };
  void ensure_buffers(int B, int Tn);
  void encoder_forward(const ForwardOptions& opt);
  void encoder_backward();  // from d_hidden_ (N,C)
  ForwardResult head_forward(const ForwardOptions& opt);
  void head_backward();     // writes d_hidden_ (N,C)
  // Parameter offsets resolved once at construction, so a step never builds a name string.
  void resolve_offsets();
  T* lw(int l, LayerParam k) { return ps_.data.data() + layer_off_[l][k]; }
  T* lg(int l, LayerParam k) { return ps_.grad.data() + layer_off_[l][k]; }
  T* nw(NamedParam k) { return ps_.data.data() + named_off_[k]; }
  T* ng(NamedParam k) { return ps_.grad.data() + named_off_[k]; }
  std::vector<std::array<size_t, kNumLayerParams>> layer_off_;
  std::array<size_t, kNumNamedParams> named_off_{};

  BertConfig cfg_;
  ParamSet<T> ps_;
  std::vector<std::unique_ptr<Attention<T>>> attn_;
  std::vector<Layer> layers_;
  int B_ = 0, T_ = 0;
  ForwardOptions fopt_;

  // inputs (copied)
  std::vector<int32_t> ids_, types_, mask_, labels_, starts_, ends_;
  bool has_mask_ = false;
  // embeddings
  Buffer<T> emb_sum_, emb_ln_, emb_mean_, emb_rstd_;
  Buffer<uint8_t> keep_emb_;
  std::vector<Buffer<T>> x_;  // x_[l] = input of layer l, x_[L] = final hidden (N,C)
  // heads
  std::vector<int32_t> pos_, targets_;  // mlm: labelled rows and their labels
  Buffer<T> head_in_, head_pre_, head_act_, head_ln_, head_mean_, head_rstd_, logits_, dlogits_;
  Buffer<uint8_t> keep_head_;
  int64_t logits_count_ = 0;
  // gradient scratch
  Buffer<T> d_hidden_, d_a_, d_b_, d_ff_, d_qkv_, d_head_;
};

}  // namespace lshlab
