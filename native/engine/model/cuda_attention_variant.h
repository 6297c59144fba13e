/*
 * cuda_attention_variant.h: the seam between the CUDA model's attention layer
 * (model/bert_cuda_attention.h) and one attention variant's CUDA kernels. Each variant keeps, per
 * layer, what its backward needs between the two calls (codes, statistics), calls its entries
 * of the CUDA ABI (backend/cuda_abi.h) and reports counters equal to the CPU variant's.
 * Shapes: qkv (B,T,3C) as [q | k | v] per token, head h at columns h*D; ctx, dctx (B,T,C);
 * dqkv (B,T,3C), overwritten; mask (B,T) int32 (1 = real token) or null; device pointers
 * except host_mask.
 * Draws: (seed, step, site) are the AttentionCall's fields of the CPU model for this layer, so
 * a variant that hashes draws the CPU variant's hash functions. `dropout` is the attention
 * dropout of exact.cc's mask (p = 0 or null: none).
 * Stage times (AttentionCounters' time_*) are device time, from CUDA events a variant records
 * around its ABI calls (CudaStageTimes below). A hashing variant's forward is one ABI entry that
 * hashes, sorts and attends inside the library; the library records a mark event inside it once
 * the buckets are ready (ABI stage_mark_once), so time_hash_s is the entry up to the mark
 * (drawing the hash functions, hashing, and the bucket sort where it precedes the attention:
 * bert-lsh's sorted path, reformer) and time_scores_s the rest (scores, softmax and values,
 * fused). time_softmax_s stays 0; time_values_s is YOSO-C's conv, a kernel of its own.
 */
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "backend/device_buffer.h"
#include "model/bert_config.h"

namespace lshlab {

// Device time per stage of one layer's attention: a start and an end CUDA event per stage,
// recorded on the library's one stream (event_record enqueues the event behind the work queued
// before it, so nothing waits), read with event_elapsed_ms in counters(), after the step's one
// synchronisation: the events are complete by then and the read waits for nothing. The events
// are created once per layer and destroyed with it.
//   kScores    the forward's fused attention entry (hash, sort, scores, softmax, values)
//   kValues    YOSO-C's conv of V, after it
//   kBackward  the backward's entries
class CudaStageTimes {
 public:
  enum Stage { kScores, kValues, kBackward, kStages };
  explicit CudaStageTimes(const lshlab_cuda_api_v1* a);
  ~CudaStageTimes();
  CudaStageTimes(const CudaStageTimes&) = delete;
  CudaStageTimes& operator=(const CudaStageTimes&) = delete;
  // Around a stage's launches. start(kScores) begins a forward: the previous call's stages are
  // forgotten (a stage that has not run since reads 0).
  void start(Stage s);
  void stop(Stage s);
  // Between start(kScores) and a hashing variant's forward entry: the entry records the hash
  // mark (ABI stage_mark_once). Call it only when the entry has work (B, T, H > 0).
  void mark_hash();
  // time_scores_s and time_values_s of this forward, and time_backward_s when `backward`.
  void read(AttentionCounters& k, bool backward) const;
  // Off: start/stop record nothing and every stage reads 0. The CUDA model turns timing off for
  // steps captured into or replayed as a CUDA graph: an event recorded inside a capture is no
  // graph node and holds no time (model/bert_cuda_graph.cc).
  void set_timing(bool on) {
    timing_ = on;
    if (!on) {  // a replay runs no start(): forget the stages an earlier eager call timed
      for (bool& r : ran_) r = false;
      marked_ = false;
    }
  }

 private:
  const lshlab_cuda_api_v1* a_;
  void* ev_[kStages][2] = {};
  void* mark_ = nullptr;  // recorded by the library inside the forward entry
  bool ran_[kStages] = {};
  bool marked_ = false;
  bool timing_ = true;
  double seconds(Stage s) const;
  void release();
};

class CudaAttentionVariant {
 public:
  explicit CudaAttentionVariant(const lshlab_cuda_api_v1* a) : times_(a) {}
  virtual ~CudaAttentionVariant() = default;
  // workspace: scratch shared by every layer (nothing kept in it between calls); grow it here.
  virtual void forward(float* ctx, const float* qkv, const int32_t* mask, int B, int T,
                       const lshlab_cuda_dropout* dropout, uint64_t seed, uint32_t step,
                       uint32_t site, DeviceArray<unsigned char>& workspace) = 0;
  // After forward on the same inputs (ctx is its output, still intact).
  virtual void backward(float* dqkv, const float* dctx, const float* qkv, const float* ctx,
                        const int32_t* mask, int B, int T, const lshlab_cuda_dropout* dropout,
                        DeviceArray<unsigned char>& workspace) = 0;
  // The counters of the last forward (+ backward when `backward`), after the step synchronised;
  // host_mask: the batch's (B,T) mask on the host, or null.
  virtual void counters(AttentionCounters& out, const int32_t* host_mask, int B, int T,
                        bool backward) const = 0;
  // Variant-owned parameters (attention.h: parameter_specs), in the CUDA model's flat device
  // buffers, in parameter_specs order: read by forward, accumulated (+=) by backward.
  virtual void bind_parameters(const std::vector<float*>& data, const std::vector<float*>& grad) {
    (void)data; (void)grad;
  }
  // Whether forward and backward may be captured into a CUDA graph and replayed: no host work
  // between launches that depends on the step's data, nothing per step passed by value (the
  // dropout streams and, where the library says so, the hash draws read the device step
  // constants: cuda_hash_draws_device).
  virtual bool capturable() const { return false; }
  void set_timing(bool on) { times_.set_timing(on); }

 protected:
  CudaStageTimes times_;  // the layer's stage events; counters() reads them
};

// Whether the library draws yoso's, bert-lsh's and reformer's hash functions from the device step
// constants while they are set (ABI hash_draws_device). A library without it draws them from the
// forward's by-value (seed, step), which a replayed graph would freeze at the capture's step.
inline bool cuda_hash_draws_device(const lshlab_cuda_api_v1* a) {
  return a->struct_size >= offsetof(lshlab_cuda_api_v1, hash_draws_device) + sizeof(a->hash_draws_device) &&
         a->hash_draws_device == 1;
}

// Each variant's file: why cfg cannot run on CUDA ("" when it can), and the layer's state.
std::string cuda_bert_lsh_unsupported(const BertConfig& cfg);
std::unique_ptr<CudaAttentionVariant> make_cuda_bert_lsh(const lshlab_cuda_api_v1* a,
                                                         const BertConfig& cfg);
std::string cuda_reformer_unsupported(const BertConfig& cfg);
std::unique_ptr<CudaAttentionVariant> make_cuda_reformer(const lshlab_cuda_api_v1* a,
                                                         const BertConfig& cfg);

}  // namespace lshlab
