/*
 * bert_cuda_attention.cc: CudaAttentionLayer (see the header): which CUDA entry each variant
 * calls, the per-layer state its backward needs, and counters equal to the CPU variant's.
 */
#include "model/bert_cuda_attention.h"

#include <algorithm>

#include "attention/exact.h"

namespace lshlab {

std::string CudaAttentionLayer::unsupported(const BertConfig& cfg) {
  const int D = cfg.hidden_size / cfg.num_attention_heads;
  if (D > 128) return "head size " + std::to_string(D) + " is above the CUDA attention kernels' 128";
  if (cfg.attention == "exact") return "";
  if (cfg.attention == "yoso" || cfg.attention == "yoso-e") {
    const YosoOptions o = parse_yoso_options(cfg.attention.c_str(), cfg.attention_params);
    if (o.conv_window > 0) return "YOSO-C (conv_window) has no CUDA kernel yet";
    return "";
  }
  return "attention '" + cfg.attention + "' has no CUDA kernels yet (exact, yoso and yoso-e do)";
}

CudaAttentionLayer::CudaAttentionLayer(const lshlab_cuda_api_v1* a, const BertConfig& cfg)
    : a_(a), H_(cfg.num_attention_heads), D_(cfg.hidden_size / cfg.num_attention_heads) {
  if (cfg.attention != "exact") {
    yo_ = parse_yoso_options(cfg.attention.c_str(), cfg.attention_params);
    kind_ = yo_.lsh ? Kind::Yoso : Kind::YosoE;
  }
  for (auto* d : {&lse_, &delta_, &ynrm_, &planes_}) d->bind(a);
  qcode_.bind(a); kcode_.bind(a); collisions_.bind(a);
}

void CudaAttentionLayer::forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
                                 const lshlab_cuda_dropout* dropout, uint64_t seed, uint32_t step,
                                 uint32_t site, DeviceArray<unsigned char>& ws) {
  const size_t bht = size_t(B) * H_ * T;
  if (kind_ == Kind::Exact) {
    lse_.resize(bht);
    ok(a_->attention_forward(ctx, lse_.data(), qkv, mask, B, T, H_, D_, dropout), "attention_forward");
    return;
  }
  ynrm_.resize(bht);
  if (kind_ == Kind::YosoE) {  // yoso has no attention dropout (as HF): `dropout` is ignored
    ws.resize((3 * size_t(D_) + 2) * bht * sizeof(float));
    ok(a_->yoso_e_forward(ctx, ynrm_.data(), reinterpret_cast<float*>(ws.data()), qkv, mask, B, T,
                          H_, D_, yo_.tau, yo_.exact_backward), "yoso_e_forward");
    return;
  }
  const size_t m = size_t(yo_.num_hash);
  size_t bytes = 0;
  ok(a_->yoso_workspace_size(&bytes, B, T, H_, D_, yo_.tau, yo_.num_hash), "yoso_workspace_size");
  ws.resize(bytes);
  qcode_.resize(size_t(B) * H_ * m * T); kcode_.resize(size_t(B) * H_ * m * T);
  planes_.resize(size_t(B) * H_ * m * yo_.tau * D_);
  collisions_.resize(size_t(H_));
  ok(a_->yoso_forward(ctx, ynrm_.data(), qcode_.data(), kcode_.data(), planes_.data(),
                      collisions_.data(), ws.data(), qkv, mask, B, T, H_, D_, yo_.tau,
                      yo_.num_hash, seed, step, site), "yoso_forward");
}

void CudaAttentionLayer::backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                                  const int32_t* mask, int B, int T, const lshlab_cuda_dropout* dropout,
                                  DeviceArray<unsigned char>& ws) {
  if (kind_ == Kind::Exact) {
    delta_.resize(size_t(B) * H_ * T);
    ok(a_->attention_backward(dqkv, delta_.data(), dctx, qkv, ctx, lse_.data(), mask, B, T, H_, D_,
                              dropout), "attention_backward");
  } else if (kind_ == Kind::YosoE) {
    ok(a_->yoso_e_backward(dqkv, reinterpret_cast<float*>(ws.data()), dctx, qkv, ctx, ynrm_.data(),
                           mask, B, T, H_, D_, yo_.tau, yo_.exact_backward), "yoso_e_backward");
  } else {
    ok(a_->yoso_backward(dqkv, ws.data(), dctx, qkv, ctx, ynrm_.data(), qcode_.data(),
                         kcode_.data(), mask, B, T, H_, D_, yo_.tau, yo_.num_hash,
                         yo_.exact_backward), "yoso_backward");
  }
}

void CudaAttentionLayer::counters(AttentionCounters& k, const int32_t* mask, int B, int T,
                                  bool backward) const {
  k.reset(H_);
  if (kind_ == Kind::Exact) {
    exact_tiled::set_forward_counters(k, mask, B, T, H_, D_);
    if (backward) k.flops_backward = double(B) * H_ * T * T * (10.0 * D_ + 4.0);
    return;
  }
  std::vector<double> coll(size_t(H_), 0.0);
  if (kind_ == Kind::Yoso) collisions_.download(coll.data(), coll.size());
  yoso_forward_counters(k, yo_, mask, B, T, H_, D_, coll.data());
  // The exact LSH backward forms one q.k per collision, as the CPU counts it. The backward's
  // flops are not counted on CUDA (the CPU sums them per bucket walk): flops_backward stays 0.
  if (backward && kind_ == Kind::Yoso && yo_.exact_backward) {
    for (int h = 0; h < H_; h++) k.head_dot_products[size_t(h)] += coll[size_t(h)];
    k.sum_heads();
  }
}

}  // namespace lshlab
