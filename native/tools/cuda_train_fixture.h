/*
 * cuda_train_fixture.h: the tiny model and the deterministic batches the CUDA training tests
 * (test_cuda_train.cc, test_cuda_graph.cc, test_cuda_precision.cc) run on the device and on the
 * CPU Trainer. Small enough for the host emulation, yet every part of a step is there: two
 * layers, two heads, padding in the last sequence, token types, dropout at the defaults.
 */
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "model/bert.h"

namespace lshlab_cuda_fixture {

// Vocabulary 97, hidden 32 (2 heads of 16), FFN 64, 2 layers, 3 labels; dropout 0.1.
inline lshlab::BertConfig tiny_config(lshlab::Task task) {
  lshlab::BertConfig c;
  c.vocab_size = 97;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 64;
  c.max_position_embeddings = 32;
  c.num_labels = 3;
  c.task = task;
  return c;
}

struct HostBatch {
  int B = 3, T = 11;
  std::vector<int32_t> ids, types, mask, labels, starts, ends;
  lshlab::Batch view() const {
    lshlab::Batch b;
    b.B = B; b.T = T;
    b.input_ids = ids.data(); b.token_type_ids = types.data(); b.attention_mask = mask.data();
    if (!labels.empty()) b.labels = labels.data();
    if (!starts.empty()) { b.start_positions = starts.data(); b.end_positions = ends.data(); }
    return b;
  }
};

// Step s's batch of B sequences of 11 tokens: ids in [1, V), the last sequence padded after 7
// tokens, token type 1 from position 5; masked-LM labels on every `every`-th token (so a plan of
// `every`s changes the masked count from step to step); class labels and QA spans cycling with
// s, one QA end past the sequence (clamped and ignored, as HF does).
inline HostBatch make_batch(const lshlab::BertConfig& c, int s, int B = 3, int every = 4) {
  HostBatch h;
  h.B = B;
  const int N = h.B * h.T;
  for (int n = 0; n < N; n++) {
    const int b = n / h.T, t = n % h.T;
    const bool pad = b == h.B - 1 && t >= 7;
    h.mask.push_back(pad ? 0 : 1);
    h.ids.push_back(pad ? 0 : 1 + (n * 31 + s * 17) % (c.vocab_size - 1));
    h.types.push_back(t >= 5 ? 1 : 0);
  }
  if (c.task == lshlab::Task::MaskedLM)
    for (int n = 0; n < N; n++)
      h.labels.push_back(h.mask[size_t(n)] && (n + s) % every == 0 ? h.ids[size_t(n)] : -100);
  if (c.task == lshlab::Task::SequenceClassification)
    for (int b = 0; b < h.B; b++) h.labels.push_back((b + s) % c.num_labels);
  if (c.task == lshlab::Task::QuestionAnswering)
    for (int b = 0; b < h.B; b++) {
      h.starts.push_back((b + s) % 6);
      h.ends.push_back(b == 0 ? h.T + 3 : (b + s) % 6 + 2);
    }
  return h;
}

inline double rel(double got, double ref) { return std::fabs(got - ref) / std::max(1e-12, std::fabs(ref)); }

}  // namespace lshlab_cuda_fixture
