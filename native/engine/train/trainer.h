/*
 * trainer.h: the engine's front door. A Trainer owns one BERT model (float32), its gradients, the
 * AdamW state and every activation buffer; train_step() runs forward, backward, clipping and the
 * optimiser update on one batch with no allocation once buffers have grown to the batch shape.
 * The Node addon and the C++ driver both talk to the engine only through this header.
 * Not thread-safe: one caller at a time (the addon serialises calls on a Trainer).
 */
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "io/init_from.h"
#include "model/bert_config.h"

namespace lshlab {

struct TrainConfig {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-6;
  double weight_decay = 0.01;  // decoupled; not applied to biases and LayerNorm weights
  int64_t warmup_steps = 0;    // linear warmup from 0 to lr
  int64_t total_steps = 0;     // linear decay to 0 at total_steps; 0 = constant after warmup
  double max_grad_norm = 1.0;  // global-norm clipping; <= 0 disables
  uint64_t seed = 42;          // init, dropout, masking: the whole run is a function of it
  int cuda_device = -1;        // >= 0: steps run on this CUDA device (model/bert_cuda.h)
  // Arithmetic of the step's GEMMs (--precision): "fp32" everywhere, or on CUDA only "tf32"
  // (cuBLASLt's TF32 tensor-core compute) or "bf16" (autocast-style: GEMM operands rounded to
  // bf16, fp32 accumulation and output). Everything else stays fp32 (other kernels, master
  // weights, gradients, AdamW moments); tf32 and bf16 on the CPU are refused (fp32 GEMMs only).
  std::string precision = "fp32";
  // CUDA: replay the training step as a CUDA graph where it is capturable (every attention
  // variant, with a current CUDA library; the first step of a shape runs eagerly, the second is
  // captured; model/bert_cuda_graph.cc). Same results bit for bit; device time is then measured
  // for the whole step only (StepStats).
  bool cuda_graphs = true;
};

// The CUDA ABI's gemm_set_precision mode of a precision name: 0 fp32, 1 tf32, 2 bf16; throws
// lshlab::Error naming --precision for unknown names.
int gemm_precision_mode(const std::string& precision);

// One batch. Arrays are row-major (B,T) unless noted; the Trainer copies what it needs.
struct Batch {
  int B = 0, T = 0;
  const int32_t* input_ids = nullptr;       // (B,T)
  const int32_t* token_type_ids = nullptr;  // (B,T) or null (all zero)
  const int32_t* attention_mask = nullptr;  // (B,T) 1 = token, 0 = padding; or null (all ones)
  const int32_t* labels = nullptr;          // mlm: (B,T), -100 = not predicted; classification: (B)
  const int32_t* start_positions = nullptr; // qa: (B)
  const int32_t* end_positions = nullptr;   // qa: (B)
};

struct StepStats {
  int64_t step = 0;          // optimiser steps taken, after this one
  double loss = 0;
  double grad_norm = 0;      // global L2 norm before clipping
  double lr = 0;             // learning rate used for this step
  double seconds = 0;        // wall time of the step
  double forward_s = 0, backward_s = 0, optimizer_s = 0;  // its parts (optimizer: norm, clip, AdamW)
  // CUDA: the step ran as a CUDA graph (TrainConfig::cuda_graphs); forward_s, backward_s and
  // optimizer_s are then 0 (a graph is timed as a whole: device_s) as are the attention stage times.
  bool cuda_graph = false;
  double device_s = 0;       // CUDA: device time of the whole step (graph or not); 0 on the CPU
  int64_t tokens = 0;        // non-padding tokens in the batch
  int64_t predictions = 0;   // masked positions (mlm), examples (classification, qa)
  int64_t correct = 0;       // argmax hits among predictions (qa: start and end both right)
  double flops = 0;          // analytic forward+backward FLOPs of this step
  // Attention counters of every layer for this step (forward + backward), per head inside; see
  // attention/attention.h for what dot products, pairs and collisions count per variant.
  std::vector<AttentionCounters> attention;
};

struct EvalStats {
  double loss = 0;
  int64_t predictions = 0;
  int64_t correct = 0;
  std::vector<AttentionCounters> attention;  // per layer, forward only
};

// Sum of per-layer counters (per-head vectors elementwise).
AttentionCounters sum_attention_counters(const std::vector<AttentionCounters>& layers);

template <typename T>
class BertModel;  // model/bert.h

class Trainer {
 public:
  Trainer(const BertConfig& cfg, const TrainConfig& tcfg);  // initialises weights from tcfg.seed
  ~Trainer();

  StepStats train_step(const Batch& batch);
  // Forward only, dropout off. Optionally copies logits out: mlm (P,V) at the P labelled
  // positions in row-major order; classification (B,num_labels); qa (B,T,2) start/end.
  EvalStats evaluate(const Batch& batch, std::vector<float>* logits = nullptr);

  // Checkpoint = dir/model.safetensors (HF names) + dir/config.json + dir/optimizer.safetensors.
  // Writes are atomic (temp file + rename). load validates names, dtypes and shapes.
  void save(const std::string& dir) const;
  void load(const std::string& dir);
  // Fine-tuning: copies the encoder weights of another model's directory (an lshlab checkpoint or
  // a Hugging Face BERT folder) into this model, before its first step; the optimizer state, the
  // step count and the task head stay as initialised. See io/init_from.h for the rules.
  InitFromReport init_from(const std::string& dir);

  const BertConfig& config() const;
  const TrainConfig& train_config() const;
  int64_t step() const;
  int64_t num_parameters() const;
  // Analytic FLOPs of one forward+backward step for a batch shape (predictions = masked count).
  double step_flops(int B, int T, int64_t predictions) const;

  // The CPU model. On CUDA its weights are refreshed from the device first (attention maps,
  // tests); the device keeps training from its own copy.
  BertModel<float>& model();
  // "cpu" or "cuda:N": where steps run.
  std::string device() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// MLM masking as BERT: each non-special, non-padding position is chosen with probability `prob`
// (Philox stream MlmMask at `step`); chosen positions get label = original id and input
// [MASK] (80%), a random id in [0, V) (10%, as HF's collator) or unchanged (10%); others -100.
// input_ids is modified in place. special_ids lists ids never masked (CLS, SEP, PAD...).
void mlm_mask(int32_t* input_ids, int32_t* labels, const int32_t* attention_mask, int B, int T,
              int vocab_size, int mask_id, const std::vector<int32_t>& special_ids, double prob,
              uint64_t seed, uint32_t step);

// The `lshlab bench train` workload: MLM steps of a model on random tokens (Philox stream
// RandomTokens), first `warmup` steps not timed.
struct BenchTrainResult {
  int steps = 0;
  double seconds = 0;          // timed steps only
  double tokens_per_s = 0;
  double flops_per_token = 0;  // analytic, forward + backward
  double gflops = 0;
  double final_loss = 0;
  double forward_s = 0, backward_s = 0, optimizer_s = 0;  // mean per timed step
  int threads = 0;
  std::string gemm_kernel;
  double peak_gflops = 0;      // CPU: measured fp32 FMA peak right after the run (ops/cpu/peak.h)
  std::string peak_isa;
  std::string device;          // "cpu" or "cuda:N"
  std::string precision = "fp32";  // the steps' GEMM precision (TrainConfig::precision)
  // CUDA: the yardstick is cuBLASLt on the same GPU right after the steps (backend/cuda_peak.h),
  // per precision; peak_gflops above is the one of `precision`, peak_isa "cuBLASLt fp32|tf32|bf16".
  // The bf16 peak is measured only when the run is bf16 (0 otherwise).
  double peak_fp32_gflops = 0, peak_tf32_gflops = 0, peak_bf16_gflops = 0;
  std::string peak_method;     // how the peak was measured, in words (CPU and CUDA)
  // CUDA: device memory the run holds after the timed steps, cudaMemGetInfo's used bytes minus
  // those used before the Trainer existed (DeviceArrays only grow, so it is the steps'
  // high-water mark, cuBLASLt workspace included); -1 on the CPU (not measured).
  int64_t peak_memory_bytes = -1;
  // CUDA: whether steps may run as CUDA graphs (TrainConfig::cuda_graphs), how many timed steps
  // did, and the mean device time of a timed step (events around the whole step; 0 on the CPU).
  // A graph step has no forward/backward/optimizer split: those means cover eager steps only.
  bool cuda_graphs = false;
  int cuda_graph_steps = 0;
  double device_s = 0;
};
BenchTrainResult bench_train(const BertConfig& cfg, int B, int T, int steps, int warmup,
                             uint64_t seed, int cuda_device = -1,
                             const std::string& precision = "fp32", bool cuda_graphs = true);

}  // namespace lshlab
