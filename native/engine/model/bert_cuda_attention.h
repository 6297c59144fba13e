/*
 * bert_cuda_attention.h: one encoder layer's attention on a CUDA device, behind one seam so the
 * CUDA model (model/bert_cuda.h) does not care which variant runs. Each variant's CUDA side is a
 * CudaAttentionVariant (model/cuda_attention_variant.h) in its own file: exact (the fused
 * online-softmax kernels, with attention dropout; here), yoso and yoso-e, bert-lsh, reformer.
 * unsupported() names what has no CUDA kernel (a head size above the variant's kernels: 256
 * for exact, yoso and yoso-e, 128 for bert-lsh and reformer), and the Trainer keeps such runs on the CPU. Each variant times its own stages on the device with
 * events created once per layer (CudaStageTimes), read in counters() after the step's one
 * synchronisation.
 * Shapes: qkv (B,T,3C), ctx (B,T,C), mask (B,T) or null; device pointers.
 */
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/cuda_attention_variant.h"

namespace lshlab {

class CudaAttentionLayer {
 public:
  // Why cfg's attention cannot run on CUDA ("" when it can).
  static std::string unsupported(const BertConfig& cfg);

  // precision: the run's gemm_set_precision mode (0 fp32, 1 tf32, 2 bf16); exact attention runs
  // on the bf16 tensor-core kernels in mode 2 at head sizes 64 and 128 (cuda_abi.h
  // attention_forward_bf16), on the fp32 kernels otherwise; the other variants ignore it.
  CudaAttentionLayer(const lshlab_cuda_api_v1* a, const BertConfig& cfg, int precision = 0);

  // workspace: scratch shared by every layer (nothing kept between calls), grown here as needed.
  void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
               const lshlab_cuda_dropout* dropout, uint64_t seed, uint32_t step, uint32_t site,
               DeviceArray<unsigned char>& workspace) {
    v_->forward(ctx, qkv, mask, B, T, dropout, seed, step, site, workspace);
  }
  // dqkv overwritten; ctx is the forward's output (still intact).
  void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                const int32_t* mask, int B, int T, const lshlab_cuda_dropout* dropout,
                DeviceArray<unsigned char>& workspace) {
    v_->backward(dqkv, dctx, qkv, ctx, mask, B, T, dropout, workspace);
  }
  // The counters of the last forward (+ backward when `backward`), after the step synchronised:
  // the kernels' counts read back, and the stage times of the layer's CUDA events
  // (CudaStageTimes, model/cuda_attention_variant.h). host_mask: the batch's (B,T) mask on the
  // host, or null.
  void counters(AttentionCounters& out, const int32_t* host_mask, int B, int T, bool backward) const {
    v_->counters(out, host_mask, B, T, backward);
  }
  void bind_parameters(const std::vector<float*>& data, const std::vector<float*>& grad) {
    v_->bind_parameters(data, grad);
  }
  // CUDA graphs (model/bert_cuda_graph.cc): whether the variant may be captured, and its stage
  // timing (off for graph steps).
  bool capturable() const { return v_->capturable(); }
  void set_timing(bool on) { v_->set_timing(on); }

 private:
  std::unique_ptr<CudaAttentionVariant> v_;
};

// The exact and yoso/yoso-e variants (bert_cuda_attention.cc, cuda_attention_yoso.cc).
std::unique_ptr<CudaAttentionVariant> make_cuda_exact(const lshlab_cuda_api_v1* a, const BertConfig& cfg,
                                                      int precision = 0);
std::string cuda_yoso_unsupported(const BertConfig& cfg);
std::unique_ptr<CudaAttentionVariant> make_cuda_yoso(const lshlab_cuda_api_v1* a, const BertConfig& cfg);

}  // namespace lshlab
