/*
 * bert_cuda_graph.cc: the CUDA model's training step as a CUDA graph (issue 10). A BERT-tiny step
 * is a hundred-odd small launches, whose launch overhead is a large part of a ~2 ms step; one
 * graph launch replaces them. What makes the step capturable:
 *   - per-step values are read from device memory, not passed by value: the dropout streams'
 *     seed and step, AdamW's lr-derived constants and the MLM / QA loss scales live in
 *     lshlab_cuda_step_constants, the first words of the batch's one upload (bert_cuda.cc);
 *   - fixed shapes per key: the MLM head computes a padded number of rows (bert_cuda_heads.cc),
 *     the embedding gradients a fixed number of row groups (bert_cuda.cc);
 *   - stable pointers: a graph replays only while no DeviceArray has grown since its capture
 *     (device_array_growths) and the library's bf16 scratch has not moved (graph_launch says so).
 * The first step of a key runs eagerly (it grows the buffers, cuBLASLt's workspace and the bf16
 * scratch: nothing may allocate inside a capture), the next one is captured and launched, later
 * ones replay; a new key (batch shape, padded MLM rows, mask, labels) gets its own graph.
 * Eager and graph steps launch the same kernels with the same arguments, so they agree bit for bit.
 * Timing: a graph is timed as a whole (events around its launch: device_s). Events recorded
 * inside a capture are no graph nodes and hold no time, so for graph steps the forward /
 * backward / optimizer split and the attention stage times read 0.
 * Every attention variant is captured: exact and yoso-e (with or without YOSO-C's conv) have no
 * per-step values but dropout's; yoso (LSH), bert-lsh and reformer draw their hash functions from
 * (seed, step) in the step constants too (native/cuda/hash_draw.cuh), and pick their plans and
 * paths from the shape and options alone. A library that predates those device draws (ABI
 * hash_draws_device) keeps the hashing variants' steps eager.
 */
#include <cstring>

#include "model/bert_cuda_impl.h"

namespace lshlab {

std::string CudaBert::Impl::graph_unsupported() const {
  if (!device_steps)
    return "the CUDA library predates the capturable step (no set_step_constants / graph entries)";
  for (const CudaAttentionLayer& l : attn)
    if (!l.capturable())
      return "the CUDA library draws the hash functions of attention '" + cfg.attention +
             "' from (seed, step) by value only (it predates hash_draws_device): its steps run eagerly";
  if (!graph.failed.empty()) return "a capture failed: " + graph.failed;
  return "";
}

bool CudaBert::Impl::run_step(bool want_graph) {
  if (!want_graph || !graph_unsupported().empty()) {
    for (CudaAttentionLayer& l : attn) l.set_timing(true);
    step_body(true);
    return false;
  }
  int64_t norm_bits = 0;
  std::memcpy(&norm_bits, &max_grad_norm, sizeof norm_bits);
  const int64_t head_shape = cfg.task == Task::MaskedLM ? head_capacity : head_rows;
  const int64_t labels = cfg.task == Task::SequenceClassification && counted[0] > 0 ? 1 : 0;
  const CudaStepGraph::Key key{B, T, has_mask ? 1 : 0, head_shape, labels, norm_bits, precision};
  const uint64_t growths = device_array_growths().load();

  auto found = graph.graphs.find(key);
  if (found != graph.graphs.end()) {
    if (found->second.growths == growths) {
      for (CudaAttentionLayer& l : attn) l.set_timing(false);
      int launched = 0;
      ok(a->graph_launch(found->second.exec, &launched), "graph_launch");
      if (launched) return true;
    }
    // Stale: a buffer or the bf16 scratch moved since the capture.
    a->graph_destroy(found->second.exec);
    graph.graphs.erase(found);
  }
  if (!(graph.warm && graph.warm_key == key && graph.warm_growths == growths)) {
    // The key's first step (or the first since something grew): eagerly, growing what it needs.
    for (CudaAttentionLayer& l : attn) l.set_timing(true);
    step_body(true);
    graph.warm = true;
    graph.warm_key = key;
    graph.warm_growths = device_array_growths().load();
    return false;
  }

  // Capture: the step's launches are recorded, nothing runs until the launch below.
  for (CudaAttentionLayer& l : attn) l.set_timing(false);
  ok(a->graph_capture_begin(), "graph_capture_begin");
  std::string why;
  try {
    step_body(false);
  } catch (const Error& e) {
    why = e.what();
  }
  void* exec = nullptr;
  const int rc = a->graph_capture_end(&exec);
  if (why.empty() && (rc != 0 || !exec)) why = a->last_error();
  if (why.empty() && device_array_growths().load() != growths) why = "a device buffer grew during the capture";
  if (!why.empty()) {
    // Nothing captured has run: the step runs eagerly, and this model stays eager from now on.
    if (exec) a->graph_destroy(exec);
    graph.failed = why;
    for (CudaAttentionLayer& l : attn) l.set_timing(true);
    step_body(true);
    return false;
  }
  if (graph.graphs.size() >= 8) {  // many shapes: keep the memory of old graphs bounded
    for (auto& kv : graph.graphs) a->graph_destroy(kv.second.exec);
    graph.graphs.clear();
  }
  graph.graphs[key] = CudaStepGraph::Entry{exec, growths};
  graph.captures++;
  int launched = 0;
  ok(a->graph_launch(exec, &launched), "graph_launch");
  if (!launched) {  // another thread moved the bf16 scratch in between: run this step eagerly
    for (CudaAttentionLayer& l : attn) l.set_timing(true);
    step_body(true);
    return false;
  }
  return true;
}

}  // namespace lshlab
