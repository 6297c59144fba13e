/*
 * bert_cuda_attention.h: one encoder layer's attention on a CUDA device, behind one seam so the
 * CUDA model (model/bert_cuda.h) does not care which variant runs: exact (the fused online-softmax
 * kernels, with attention dropout), yoso and yoso-e (native/cuda/yoso_*.cu, the CPU variant's
 * draws and semantics). bert-lsh, reformer and YOSO-C's conv have no CUDA kernels yet: unsupported()
 * names them, and the Trainer keeps such runs on the CPU.
 * Shapes: qkv (B,T,3C), ctx (B,T,C), mask (B,T) or null; device pointers.
 */
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/yoso.h"
#include "backend/device_buffer.h"
#include "model/bert_config.h"

namespace lshlab {

class CudaAttentionLayer {
 public:
  // Why cfg's attention cannot run on CUDA ("" when it can).
  static std::string unsupported(const BertConfig& cfg);

  CudaAttentionLayer(const lshlab_cuda_api_v1* a, const BertConfig& cfg);

  // workspace: scratch shared by every layer (nothing kept between calls), grown here as needed.
  void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
               const lshlab_cuda_dropout* dropout, uint64_t seed, uint32_t step, uint32_t site,
               DeviceArray<unsigned char>& workspace);
  // dqkv overwritten; ctx is the forward's output (still intact).
  void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                const int32_t* mask, int B, int T, const lshlab_cuda_dropout* dropout,
                DeviceArray<unsigned char>& workspace);
  // The counters of the last forward (+ backward when `backward`), after the step synchronised.
  // host_mask: the batch's (B,T) mask on the host, or null.
  void counters(AttentionCounters& out, const int32_t* host_mask, int B, int T, bool backward) const;

 private:
  enum class Kind { Exact, Yoso, YosoE };
  const lshlab_cuda_api_v1* a_;
  Kind kind_ = Kind::Exact;
  YosoOptions yo_;
  int H_ = 0, D_ = 0;
  DeviceArray<float> lse_, delta_, ynrm_, planes_;
  DeviceArray<int32_t> qcode_, kcode_;
  DeviceArray<double> collisions_;
  void ok(int rc, const char* what) const { cuda_ok(*a_, rc, what); }
};

}  // namespace lshlab
