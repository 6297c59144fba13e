/*
 * bert_cuda.h: the BERT training step on a CUDA device. The same network, heads, dropout streams,
 * clipping and AdamW as model/bert.h and train/adamw.h, computed by the CUDA backend library
 * (backend/cuda_abi.h) in device memory. The CPU model stays the float64-checkable reference; this
 * one is checked against it step by step (the driver's cuda/train tests).
 *
 * Parameters, gradients, AdamW moments and activations live on the device. A step uploads the
 * batch once (ids, types, mask and the index lists the host derives from them: labelled rows,
 * embedding-gradient groups) and reads back once (per-row losses and hits, the gradient norm):
 * one host synchronisation per step. A non-finite loss makes a non-finite norm, and the device
 * then skips the update, as the CPU Trainer does.
 * Attention: exact, yoso and yoso-e (model/bert_cuda_attention.h); the others are refused here
 * with a clear message, and the run host keeps them on the CPU.
 * Shapes: legend of core/common.h; N = B*T rows; P = labelled (masked) rows.
 */
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/bert.h"
#include "train/adamw.h"
#include "train/trainer.h"

namespace lshlab {

// Why cfg cannot train on CUDA ("" when it can): an attention variant without CUDA kernels.
std::string cuda_training_unsupported(const BertConfig& cfg);

struct CudaStepResult {
  ForwardResult fr;
  double grad_norm = 0;     // before clipping; NaN when the loss or a gradient was not finite
  double forward_s = 0, backward_s = 0, optimizer_s = 0;  // device time of each part (0 under a graph)
  double device_s = 0;      // device time of the whole step
  bool graph = false;       // replayed as a CUDA graph (model/bert_cuda_graph.cc)
};

class CudaBert {
 public:
  // Binds to CUDA device `device` (throws "CUDA unavailable: <reason>" or a refusal naming the
  // attention variant), allocates the parameters in the layout of the CPU model `host` and
  // uploads its weights. gemm_precision: the ABI's gemm_set_precision mode (0 fp32, 1 tf32),
  // set on the calling thread before every step and evaluation (the mode is per host thread).
  CudaBert(const BertModel<float>& host, int device, int gemm_precision = 0);
  ~CudaBert();

  void upload_params(const ParamSet<float>& ps);
  void download_params(ParamSet<float>& ps) const;
  void upload_optimizer(const AdamWState& st);
  void download_optimizer(AdamWState& st) const;

  // Forward, backward, clipping and AdamW with learning rate lr as the update number t (1-based,
  // the CPU AdamWState::t after its increment). The update is skipped on the device when the
  // gradient norm is not finite.
  // tc.cuda_graphs: capture the step as a CUDA graph and replay it where that is safe
  // (model/bert_cuda_graph.cc); the results are the eager step's bit for bit.
  CudaStepResult train_step(const Batch& b, uint64_t seed, uint32_t step, const TrainConfig& tc,
                            double lr, int64_t t);
  // Why this model's steps do not run as CUDA graphs ("" when they can or do), and how many
  // graphs it has captured (one per key: batch shape, padded MLM rows, mask, labels).
  std::string graph_unsupported() const;
  int graph_captures() const;
  // Forward only, dropout off; logits copied out when asked (layout as BertModel::logits()).
  ForwardResult evaluate(const Batch& b, std::vector<float>* logits);

  // Each layer's attention counters for the last call (after it returned: synchronised), as the
  // CPU variants count them; b is that call's batch.
  void attention_counters(std::vector<AttentionCounters>& out, const Batch& b, bool backward) const;

  int device() const { return device_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int device_ = 0;
  int gemm_precision_ = 0;
};

}  // namespace lshlab
