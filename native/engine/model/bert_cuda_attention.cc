/*
 * bert_cuda_attention.cc: CudaAttentionLayer (see the header): which variant's CUDA side a
 * layer gets, the stage events every variant times itself with (CudaStageTimes), and the exact
 * variant itself (the fused online-softmax kernels with attention dropout; the log-sum-exp rows
 * its backward needs; exact_tiled's counters, whose backward recomputes the probabilities as
 * these kernels do: 10 D + 4 flops per (query, key) slot). Exact times two stages: the fused
 * forward (time_scores_s) and the backward (time_backward_s), as exact_tiled on the CPU. Under
 * --precision bf16 exact runs the bf16 tensor-core kernels at head sizes 64 and 128 (same
 * counters: the same pairs and products, on other arithmetic).
 */
#include "model/bert_cuda_attention.h"

#include <cstddef>

#include "attention/exact.h"

namespace lshlab {

CudaStageTimes::CudaStageTimes(const lshlab_cuda_api_v1* a) : a_(a) {
  try {
    for (auto& pair : ev_)
      for (void*& e : pair) cuda_ok(*a_, a_->event_create(&e), "event_create");
    cuda_ok(*a_, a_->event_create(&mark_), "event_create");
  } catch (...) {
    release();  // the events made so far
    throw;
  }
}

CudaStageTimes::~CudaStageTimes() { release(); }

void CudaStageTimes::release() {
  for (auto& pair : ev_)
    for (void*& e : pair)
      if (e) { a_->event_destroy(e); e = nullptr; }
  if (mark_) { a_->event_destroy(mark_); mark_ = nullptr; }
}

void CudaStageTimes::start(Stage s) {
  if (s == kScores) {
    for (bool& r : ran_) r = false;
    marked_ = false;
  }
  ran_[s] = false;
  if (!timing_) return;  // a graph step: timed as a whole only
  cuda_ok(*a_, a_->event_record(ev_[s][0]), "event_record");
}

void CudaStageTimes::mark_hash() {
  if (!timing_) return;  // a graph step: no split to time (the mark would record nothing usable)
  cuda_ok(*a_, a_->stage_mark_once(mark_), "stage_mark_once");
  marked_ = true;
}

void CudaStageTimes::stop(Stage s) {
  if (!timing_) return;
  cuda_ok(*a_, a_->event_record(ev_[s][1]), "event_record");
  ran_[s] = true;
}

double CudaStageTimes::seconds(Stage s) const {
  if (!ran_[s]) return 0;
  float ms = 0;
  cuda_ok(*a_, a_->event_elapsed_ms(&ms, ev_[s][0], ev_[s][1]), "event_elapsed_ms");
  return double(ms) / 1e3;
}

void CudaStageTimes::read(AttentionCounters& k, bool backward) const {
  k.time_hash_s = 0;
  k.time_scores_s = seconds(kScores);
  if (marked_ && ran_[kScores]) {  // split at the library's mark: hashing, then attention
    float h = 0, a = 0;
    cuda_ok(*a_, a_->event_elapsed_ms(&h, ev_[kScores][0], mark_), "event_elapsed_ms");
    cuda_ok(*a_, a_->event_elapsed_ms(&a, mark_, ev_[kScores][1]), "event_elapsed_ms");
    k.time_hash_s = double(h) / 1e3;
    k.time_scores_s = double(a) / 1e3;
  }
  k.time_values_s = seconds(kValues);
  if (backward) k.time_backward_s = seconds(kBackward);
}

namespace {

class CudaExact final : public CudaAttentionVariant {
 public:
  CudaExact(const lshlab_cuda_api_v1* a, const BertConfig& cfg, int precision)
      : CudaAttentionVariant(a), a_(a), H_(cfg.num_attention_heads),
        D_(cfg.hidden_size / cfg.num_attention_heads) {
    lse_.bind(a); delta_.bind(a);
    // bf16 (autocast-style, as PyTorch runs attention under autocast) where the library has the
    // bf16 kernels and the head size is theirs; fp32 kernels otherwise (fp32 and tf32 runs too).
    bf16_ = precision == 2 && (D_ == 64 || D_ == 128) && a->struct_size >= offsetof(lshlab_cuda_api_v1, attention_backward_bf16) + sizeof(a->attention_backward_bf16) &&
            a->attention_forward_bf16 && a->attention_backward_bf16;
  }
  void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
               const lshlab_cuda_dropout* dropout, uint64_t, uint32_t, uint32_t,
               DeviceArray<unsigned char>&) override {
    lse_.resize(size_t(B) * H_ * T);
    times_.start(CudaStageTimes::kScores);
    if (bf16_)
      ok(a_->attention_forward_bf16(ctx, lse_.data(), qkv, mask, B, T, H_, D_, dropout), "attention_forward_bf16");
    else
      ok(a_->attention_forward(ctx, lse_.data(), qkv, mask, B, T, H_, D_, dropout), "attention_forward");
    times_.stop(CudaStageTimes::kScores);
  }
  void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                const int32_t* mask, int B, int T, const lshlab_cuda_dropout* dropout,
                DeviceArray<unsigned char>&) override {
    delta_.resize(size_t(B) * H_ * T);
    times_.start(CudaStageTimes::kBackward);
    if (bf16_)
      ok(a_->attention_backward_bf16(dqkv, delta_.data(), dctx, qkv, ctx, lse_.data(), mask, B, T, H_, D_,
                                     dropout), "attention_backward_bf16");
    else
      ok(a_->attention_backward(dqkv, delta_.data(), dctx, qkv, ctx, lse_.data(), mask, B, T, H_, D_,
                                dropout), "attention_backward");
    times_.stop(CudaStageTimes::kBackward);
  }
  // No host work between launches, dropout from the device step constants: capturable.
  bool capturable() const override { return true; }
  void counters(AttentionCounters& k, const int32_t* mask, int B, int T, bool backward) const override {
    k.reset(H_);
    exact_tiled::set_forward_counters(k, mask, B, T, H_, D_);
    if (backward) k.flops_backward = double(B) * H_ * T * T * (10.0 * D_ + 4.0);  // as exact_tiled
    times_.read(k, backward);
  }

 private:
  const lshlab_cuda_api_v1* a_;
  int H_, D_;
  bool bf16_ = false;  // the bf16 tensor-core kernels (attention_forward_bf16 / _backward_bf16)
  DeviceArray<float> lse_, delta_;
  void ok(int rc, const char* what) const { cuda_ok(*a_, rc, what); }
};

}  // namespace

std::unique_ptr<CudaAttentionVariant> make_cuda_exact(const lshlab_cuda_api_v1* a, const BertConfig& cfg,
                                                      int precision) {
  return std::make_unique<CudaExact>(a, cfg, precision);
}

// The largest head size a variant's CUDA kernels take (0: a variant without CUDA kernels).
static int cuda_max_head_size(const std::string& attention) {
  if (attention == "exact") return 256;     // attention_forward.cu, attention_backward.cu
  if (attention == "yoso-e") return 256;    // yoso_e.cu
  if (attention == "yoso") return 256;      // yoso_forward.cu, yoso_backward.cu, yoso_rows.cu
  if (attention == "bert-lsh") return 128;  // bert_lsh_*.cu
  if (attention == "reformer") return 128;  // reformer_*.cu
  return 0;
}

std::string CudaAttentionLayer::unsupported(const BertConfig& cfg) {
  const int D = cfg.hidden_size / cfg.num_attention_heads;
  const int max_d = cuda_max_head_size(cfg.attention);
  if (max_d > 0 && D > max_d)
    return "head size " + std::to_string(D) + " is above the " + std::to_string(max_d) +
           " that the CUDA kernels of attention '" + cfg.attention + "' take";
  if (cfg.attention == "exact") return "";
  if (cfg.attention == "yoso" || cfg.attention == "yoso-e") return cuda_yoso_unsupported(cfg);
  if (cfg.attention == "bert-lsh") return cuda_bert_lsh_unsupported(cfg);
  if (cfg.attention == "reformer") return cuda_reformer_unsupported(cfg);
  return "attention '" + cfg.attention + "' has no CUDA kernels (exact, yoso, yoso-e, bert-lsh and reformer do)";
}

CudaAttentionLayer::CudaAttentionLayer(const lshlab_cuda_api_v1* a, const BertConfig& cfg, int precision) {
  const std::string why = unsupported(cfg);
  if (!why.empty()) throw Error("cannot run attention on CUDA: " + why);
  if (cfg.attention == "exact") v_ = make_cuda_exact(a, cfg, precision);
  else if (cfg.attention == "bert-lsh") v_ = make_cuda_bert_lsh(a, cfg);
  else if (cfg.attention == "reformer") v_ = make_cuda_reformer(a, cfg);
  else v_ = make_cuda_yoso(a, cfg);
}

}  // namespace lshlab
