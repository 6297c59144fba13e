/*
 * bert_cuda_impl.h: the state of CudaBert (model/bert_cuda.h), shared by its two source files:
 * bert_cuda.cc (batch upload, encoder forward/backward, the step) and bert_cuda_heads.cc (task
 * heads). Device arrays mirror the CPU model's buffers one to one, so the two read alike.
 */
#pragma once
#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda_loader.h"
#include "backend/device_buffer.h"
#include "model/bert_cuda.h"
#include "model/bert_cuda_attention.h"

namespace lshlab {

using BM = BertModel<float>;

// Rows of the batch grouped by a key (token id, position, token type), as offsets into the
// uploaded int32 staging array: the input of rows_segment_sum. Training pads G to a bound fixed
// by (B, T) with empty groups (which write nothing), so the launch shape never changes.
struct CudaRowGroups { int G = 0; size_t o_target = 0, o_offsets = 0, o_rows = 0; };

// The training step as CUDA graphs (bert_cuda_graph.cc): the executable graph of each key, and
// the eager step that must precede a capture (it grows every buffer the key needs).
struct CudaStepGraph {
  using Key = std::array<int64_t, 7>;  // B, T, mask, head rows, labels, max_norm bits, precision
  struct Entry {
    void* exec = nullptr;
    uint64_t growths = 0;   // device_array_growths() when captured: replay only while unchanged
  };
  std::map<Key, Entry> graphs;
  bool warm = false;        // an eager step of warm_key ran and nothing grew since warm_growths
  Key warm_key{};
  uint64_t warm_growths = 0;
  int captures = 0;         // how many graphs were captured (tests: re-capture on a new key)
  std::string failed;       // why a capture failed (graphs then stay off for this model)
};

struct CudaBert::Impl {
  const lshlab_cuda_api_v1* a = nullptr;
  BertConfig cfg;
  std::vector<ParamInfo> infos;
  size_t total = 0;
  std::vector<std::array<size_t, BM::kNumLayerParams>> layer_off;
  std::array<size_t, BM::kNumNamedParams> named_off{};

  DeviceArray<float> params, grads, m, v;

  // The batch of the current call, as the host derived it.
  int B = 0, T = 0, N = 0;
  bool has_mask = false, training = false;
  uint64_t seed = 0;
  uint32_t step = 0;
  std::vector<int32_t> staging;   // step constants + every int32 array of the batch: one copy
  DeviceArray<int32_t> ints;
  size_t o_ids = 0, o_types = 0, o_mask = 0, o_rows = 0, o_targets = 0;
  CudaRowGroups word, pos, type;         // embedding-gradient groups (rows_segment_sum)
  int head_rows = 0;              // P (mlm), B (classification), 2B targets (qa)
  int head_capacity = 0;          // mlm: rows the head computes, P padded (training; else P)
  std::map<std::pair<int, int>, int> mlm_capacity;  // per (B, T): the padded rows' high-water mark
  int64_t counted[2] = {0, 0};    // rows the loss counts (qa: start, end)
  std::vector<int32_t> host_labels;  // classification labels / qa clamped targets (host copy)

  // Activations (model/bert.h names).
  DeviceArray<float> emb_sum, emb_mean, emb_rstd;
  DeviceArray<uint8_t> keep_emb;
  std::vector<DeviceArray<float>> x;  // x[l] = input of layer l, x[L] = final hidden
  struct Layer {
    DeviceArray<float> qkv, ctx, h1_pre, h1, mean1, rstd1, ff_pre, ff, h2_pre, mean2, rstd2;
    DeviceArray<uint8_t> keep_attn, keep_ff;
  };
  std::vector<Layer> layers;
  std::vector<CudaAttentionLayer> attn;  // one per layer
  DeviceArray<unsigned char> attn_ws;    // their shared scratch
  DeviceArray<float> tmp, d_hidden, d_a, d_b, d_ff, d_qkv;
  // Heads.
  DeviceArray<float> head_in, head_pre, head_act, head_ln, head_mean, head_rstd, logits, losses,
      d_head;
  DeviceArray<int32_t> correct;
  DeviceArray<uint8_t> keep_head;
  int64_t logits_count = 0;
  // Optimiser.
  DeviceArray<double> sum_sq, sum_sq_work;
  DeviceArray<int64_t> adam_chunks;  // (begin, end, decay) per chunk: adamw_update_chunks
  int adam_nchunks = 0;
  lshlab_cuda_adamw_params adam_host{};  // this step's AdamW constants (by-value fallback)
  double max_grad_norm = 0;
  void* events[4] = {nullptr, nullptr, nullptr, nullptr};
  // ---- the capturable step (bert_cuda_graph.cc) ----
  // This step's constants, uploaded as the first words of `ints` (8-byte aligned: a cudaMalloc
  // base); the kernels read them there, so a graph replays with this step's values.
  lshlab_cuda_step_constants consts{};
  static constexpr size_t kConstWords = sizeof(lshlab_cuda_step_constants) / sizeof(int32_t);
  bool device_steps = false;  // the library has set_step_constants & co. (else all by value)
  int precision = 0;
  CudaStepGraph graph;
  const lshlab_cuda_step_constants* dev_consts() {
    return reinterpret_cast<const lshlab_cuda_step_constants*>(ints.data());
  }

  float* w(size_t off) { return params.data() + off; }
  float* g(size_t off) { return grads.data() + off; }
  float* lw(int l, BM::LayerParam k) { return w(layer_off[size_t(l)][k]); }
  float* lg(int l, BM::LayerParam k) { return g(layer_off[size_t(l)][k]); }
  float* nw(BM::NamedParam k) { return w(named_off[k]); }
  float* ng(BM::NamedParam k) { return g(named_off[k]); }
  const int32_t* dev_ints(size_t off) { return ints.data() + off; }
  void ok(int rc, const char* what) const { cuda_ok(*a, rc, what); }
  // The dropout of a site, or null when dropout is off for this call.
  const lshlab_cuda_dropout* dropout(lshlab_cuda_dropout& d, double p, uint32_t site) const {
    if (!training || p <= 0) return nullptr;
    d = lshlab_cuda_dropout{p, seed, step, site};
    return &d;
  }
  void gemm(bool ta, bool tb, int M, int Nn, int K, float alpha, const float* A, int lda,
            const float* Bm, int ldb, float beta, float* Cm, int ldc, const float* bias = nullptr,
            bool gelu = false, float* pre_gelu = nullptr) {
    ok(a->gemm(ta, tb, M, Nn, K, alpha, A, lda, Bm, ldb, beta, Cm, ldc, bias, gelu, pre_gelu),
       "gemm");
  }

  void step_body(bool timed);             // bert_cuda.cc: zero grads .. AdamW, all on the device
  bool run_step(bool want_graph);          // bert_cuda_graph.cc: eager, captured or replayed
  std::string graph_unsupported() const;   // "" when the step may run as a graph
  // QA's gradient scale of the start (k = 0) or end (1) loss: 0.5 / counted rows.
  double qa_scale(int k) const { return counted[k] > 0 ? 0.5 / double(counted[k]) : 0.0; }
  // Cross-entropy of R rows into losses / correct from row `off`: a training step takes its scale
  // from the device step constants' loss_scale[k] (the value dscale, there), so a graph replays
  // with this batch's count; otherwise dscale by value.
  void cross_entropy(float* dlogits, const float* lg, const int32_t* targets, int R, int V,
                     int ignore, float dscale, int k, int off = 0) {
    if (training && device_steps && dlogits)
      ok(a->cross_entropy_forward_backward_device(losses.data() + off, correct.data() + off, dlogits, lg,
                                                  targets, R, V, ignore, &dev_consts()->loss_scale[k]),
         "cross_entropy_forward_backward_device");
    else
      ok(a->cross_entropy_forward_backward(losses.data() + off, correct.data() + off, dlogits, lg, targets,
                                           R, V, ignore, dscale),
         "cross_entropy_forward_backward");
  }
  void load_batch(const Batch& b);         // bert_cuda.cc
  void ensure_buffers();
  void encoder_forward();
  void encoder_backward();
  void head_prepare(const Batch& b);      // bert_cuda_heads.cc: host side of the heads
  void head_forward(bool want_grad);      // logits, per-row losses (and dlogits when want_grad)
  void head_backward();                   // d_hidden
  ForwardResult head_result();            // reads losses and hits back (synchronises)
};

}  // namespace lshlab
