/*
 * bert_cuda_attention.cc: CudaAttentionLayer (see the header): which variant's CUDA side a
 * layer gets, and the exact variant itself (the fused online-softmax kernels with attention
 * dropout; the log-sum-exp rows its backward needs; exact_tiled's counters).
 */
#include "model/bert_cuda_attention.h"

#include "attention/exact.h"

namespace lshlab {
namespace {

class CudaExact final : public CudaAttentionVariant {
 public:
  CudaExact(const lshlab_cuda_api_v1* a, const BertConfig& cfg)
      : a_(a), H_(cfg.num_attention_heads), D_(cfg.hidden_size / cfg.num_attention_heads) {
    lse_.bind(a); delta_.bind(a);
  }
  void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
               const lshlab_cuda_dropout* dropout, uint64_t, uint32_t, uint32_t,
               DeviceArray<unsigned char>&) override {
    lse_.resize(size_t(B) * H_ * T);
    ok(a_->attention_forward(ctx, lse_.data(), qkv, mask, B, T, H_, D_, dropout), "attention_forward");
  }
  void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                const int32_t* mask, int B, int T, const lshlab_cuda_dropout* dropout,
                DeviceArray<unsigned char>&) override {
    delta_.resize(size_t(B) * H_ * T);
    ok(a_->attention_backward(dqkv, delta_.data(), dctx, qkv, ctx, lse_.data(), mask, B, T, H_, D_,
                              dropout), "attention_backward");
  }
  void counters(AttentionCounters& k, const int32_t* mask, int B, int T, bool backward) const override {
    k.reset(H_);
    exact_tiled::set_forward_counters(k, mask, B, T, H_, D_);
    if (backward) k.flops_backward = double(B) * H_ * T * T * (10.0 * D_ + 4.0);
  }

 private:
  const lshlab_cuda_api_v1* a_;
  int H_, D_;
  DeviceArray<float> lse_, delta_;
  void ok(int rc, const char* what) const { cuda_ok(*a_, rc, what); }
};

}  // namespace

std::unique_ptr<CudaAttentionVariant> make_cuda_exact(const lshlab_cuda_api_v1* a, const BertConfig& cfg) {
  return std::make_unique<CudaExact>(a, cfg);
}

std::string CudaAttentionLayer::unsupported(const BertConfig& cfg) {
  const int D = cfg.hidden_size / cfg.num_attention_heads;
  if (D > 128) return "head size " + std::to_string(D) + " is above the CUDA attention kernels' 128";
  if (cfg.attention == "exact") return "";
  if (cfg.attention == "yoso" || cfg.attention == "yoso-e") return cuda_yoso_unsupported(cfg);
  if (cfg.attention == "bert-lsh") return cuda_bert_lsh_unsupported(cfg);
  if (cfg.attention == "reformer") return cuda_reformer_unsupported(cfg);
  return "attention '" + cfg.attention + "' has no CUDA kernels (exact, yoso, yoso-e, bert-lsh and reformer do)";
}

CudaAttentionLayer::CudaAttentionLayer(const lshlab_cuda_api_v1* a, const BertConfig& cfg) {
  const std::string why = unsupported(cfg);
  if (!why.empty()) throw Error("cannot run attention on CUDA: " + why);
  if (cfg.attention == "exact") v_ = make_cuda_exact(a, cfg);
  else if (cfg.attention == "bert-lsh") v_ = make_cuda_bert_lsh(a, cfg);
  else if (cfg.attention == "reformer") v_ = make_cuda_reformer(a, cfg);
  else v_ = make_cuda_yoso(a, cfg);
}

}  // namespace lshlab
