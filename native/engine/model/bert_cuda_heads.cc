/*
 * bert_cuda_heads.cc: the task heads of CudaBert, as model/heads.cc computes them on the CPU:
 *   mlm:            gather labelled rows -> dense + GELU + LayerNorm -> tied decoder + bias -> CE
 *   classification: tanh pooler on [CLS] -> dropout -> linear -> CE
 *   qa:             linear to interleaved (start, end) logits -> CE(start), CE(end), halved
 * The host derives the labelled rows and targets from the batch it holds (head_prepare); the
 * device writes per-row losses and hits, which head_result reads back and reduces in float64.
 * Fixed shapes for a captured step (bert_cuda_graph.cc): in training the MLM head computes a
 * padded number of rows, the batch's labelled rows then padding rows (row index -1: gathered as
 * zeros, never scattered; target -100: loss 0, hit 0, zero gradient, so the decoder's and the
 * dense layer's gradients get nothing from them), and the loss scales that depend on the batch's
 * counts (1 / masked rows, QA's 0.5 / counted) are read from the device step constants. The
 * denominators stay the real counts, which the host knows.
 */
#include <algorithm>
#include <numeric>
#include <utility>

#include "core/common.h"
#include "model/bert_cuda_impl.h"

namespace lshlab {

void CudaBert::Impl::head_prepare(const Batch& b) {
  head_rows = 0;
  head_capacity = 0;
  counted[0] = counted[1] = 0;
  host_labels.clear();
  o_rows = staging.size();
  if (cfg.task == Task::MaskedLM) {
    std::vector<int32_t> targets;
    for (int n = 0; n < N && b.labels; n++)
      if (b.labels[n] != -100) {
        LSHLAB_CHECK(b.labels[n] >= 0 && b.labels[n] < cfg.vocab_size,
                     "labels[" + std::to_string(n) + "] = " + std::to_string(b.labels[n]) +
                         " is neither -100 nor a vocabulary id");
        staging.push_back(n);
        targets.push_back(b.labels[n]);
      }
    head_rows = int(targets.size());
    counted[0] = head_rows;
    head_capacity = head_rows;
    if (training) {
      // Padded to a high-water mark per (B, T) in steps of about N / 64 rows, at most N: the
      // shape (and so a captured graph) changes only when a batch has more masked rows than any
      // before it, by a margin; the extra rows cost at most ~1.6% of the rows' head work.
      const int granule = std::max(8, (N / 64 + 7) / 8 * 8);
      int& hw = mlm_capacity[std::make_pair(B, T)];
      hw = std::min(N, std::max(hw, (std::max(head_rows, 1) + granule - 1) / granule * granule));
      head_capacity = hw;
      staging.insert(staging.end(), size_t(head_capacity - head_rows), -1);
      targets.resize(size_t(head_capacity), -100);
      consts.loss_scale[0] = head_rows > 0 ? float(1.0 / head_rows) : 0.f;
    }
    o_targets = staging.size();
    staging.insert(staging.end(), targets.begin(), targets.end());
  } else if (cfg.task == Task::SequenceClassification) {
    for (int i = 0; i < B; i++) staging.push_back(i * T);  // [CLS] rows
    head_rows = B;
    o_targets = staging.size();
    if (b.labels) {
      for (int i = 0; i < B; i++)
        LSHLAB_CHECK(b.labels[i] >= 0 && b.labels[i] < cfg.num_labels,
                     "labels[" + std::to_string(i) + "] = " + std::to_string(b.labels[i]) +
                         " is outside [0, num_labels)");
      host_labels.assign(b.labels, b.labels + B);
      staging.insert(staging.end(), b.labels, b.labels + B);
      counted[0] = B;
    }
  } else {  // QuestionAnswering: rows 2n and 2n+1 of the (2N, 1) logits are start and end
    for (int n = 0; n < N; n++) staging.push_back(2 * n);
    for (int n = 0; n < N; n++) staging.push_back(2 * n + 1);
    o_targets = staging.size();
    if (b.start_positions && b.end_positions) {
      for (int i = 0; i < B; i++) host_labels.push_back(std::min(std::max(b.start_positions[i], 0), T));
      for (int i = 0; i < B; i++) host_labels.push_back(std::min(std::max(b.end_positions[i], 0), T));
      staging.insert(staging.end(), host_labels.begin(), host_labels.end());
      for (int i = 0; i < B; i++) { counted[0] += host_labels[size_t(i)] != T; counted[1] += host_labels[size_t(B + i)] != T; }
      head_rows = 2 * B;
      for (int k = 0; k < 2; k++) consts.loss_scale[k] = float(qa_scale(k));
    }
  }
}

void CudaBert::Impl::head_forward(bool want_grad) {
  const int C = cfg.hidden_size, V = cfg.vocab_size;
  const float* hidden = x[size_t(cfg.num_hidden_layers)].data();
  const int32_t* rows = dev_ints(o_rows);
  const int32_t* targets = dev_ints(o_targets);
  if (cfg.task == Task::MaskedLM) {
    const int P = head_capacity;  // head_rows, padded in training
    logits_count = int64_t(head_rows) * V;
    if (P == 0) return;
    for (auto* d : {&head_in, &head_pre, &head_act, &head_ln}) d->resize(size_t(P) * C);
    head_mean.resize(size_t(P)); head_rstd.resize(size_t(P));
    logits.resize(size_t(P) * V); losses.resize(size_t(P)); correct.resize(size_t(P));
    ok(a->gather_rows(head_in.data(), hidden, rows, P, C), "gather_rows");
    gemm(false, true, P, C, C, 1.f, head_in.data(), C, nw(BM::kMlmDenseW), C, 0.f, head_act.data(),
         C, nw(BM::kMlmDenseB), true, head_pre.data());
    ok(a->layernorm_forward(head_ln.data(), head_mean.data(), head_rstd.data(), head_act.data(),
                            nw(BM::kMlmLnW), nw(BM::kMlmLnB), P, C, float(cfg.layer_norm_eps)),
       "layernorm_forward");
    gemm(false, true, P, V, C, 1.f, head_ln.data(), C, nw(BM::kWordEmb), C, 0.f, logits.data(), V,
         nw(BM::kMlmBias));
    // Training overwrites the logits with their gradient (nobody reads them afterwards).
    cross_entropy(want_grad ? logits.data() : nullptr, logits.data(), targets, P, V, -100,
                  float(1.0 / head_rows), 0);
  } else if (cfg.task == Task::SequenceClassification) {
    const int L = cfg.num_labels;
    for (auto* d : {&head_in, &head_pre, &head_act, &head_ln, &d_head}) d->resize(size_t(B) * C);
    keep_head.resize(size_t(B) * C);
    logits.resize(size_t(B) * L); losses.resize(size_t(B)); correct.resize(size_t(B));
    logits_count = int64_t(B) * L;
    ok(a->gather_rows(head_in.data(), hidden, rows, B, C), "gather_rows");
    gemm(false, true, B, C, C, 1.f, head_in.data(), C, nw(BM::kPoolW), C, 0.f, head_pre.data(), C,
         nw(BM::kPoolB));
    ok(a->tanh_forward(head_act.data(), head_pre.data(), int64_t(B) * C), "tanh_forward");
    lshlab_cuda_dropout d;
    ok(a->dropout_add_forward(head_ln.data(), keep_head.data(), head_act.data(), nullptr,
                              int64_t(B) * C, dropout(d, cfg.hidden_dropout_prob, dropout_site::kClassifier)),
       "dropout_add_forward");
    gemm(false, true, B, L, C, 1.f, head_ln.data(), C, nw(BM::kClsW), C, 0.f, logits.data(), L,
         nw(BM::kClsB));
    if (counted[0] > 0)
      ok(a->cross_entropy_forward_backward(losses.data(), correct.data(),
                                           want_grad ? logits.data() : nullptr, logits.data(),
                                           targets, B, L, -100, float(1.0 / double(B))),
         "cross_entropy_forward_backward");
  } else {
    for (auto* d : {&logits, &head_pre, &head_act, &d_head}) d->resize(size_t(N) * 2);
    logits_count = int64_t(N) * 2;
    gemm(false, true, N, 2, C, 1.f, hidden, C, nw(BM::kQaW), C, 0.f, logits.data(), 2, nw(BM::kQaB));
    if (head_rows == 0) return;
    losses.resize(size_t(2 * B)); correct.resize(size_t(2 * B));
    float* s = head_pre.data();  // (B,T) start logits, then (B,T) end logits
    ok(a->gather_rows(s, logits.data(), rows, N, 1), "gather_rows");
    ok(a->gather_rows(s + N, logits.data(), rows + N, N, 1), "gather_rows");
    for (int k = 0; k < 2; k++)
      cross_entropy(want_grad ? head_act.data() + k * N : nullptr, s + k * N, targets + k * B, B, T,
                    T, float(qa_scale(k)), k, k * B);
  }
}

void CudaBert::Impl::head_backward() {
  const int C = cfg.hidden_size, V = cfg.vocab_size;
  float* dh = d_hidden.data();
  ok(a->memset(dh, 0, size_t(N) * C * sizeof(float)), "memset");
  const int32_t* rows = dev_ints(o_rows);
  if (cfg.task == Task::MaskedLM) {
    const int P = head_capacity;  // padding rows: zero gradients, skipped by the scatter
    if (P == 0) return;
    d_head.resize(size_t(P) * C);
    float* dln = d_head.data();
    float* dact = tmp.data();  // (P,C) fits in the encoder's free (N,C) scratch
    const float* dlogits = logits.data();
    gemm(true, false, V, C, P, 1.f, dlogits, V, head_ln.data(), C, 1.f, ng(BM::kWordEmb), C);
    ok(a->bias_backward(ng(BM::kMlmBias), dlogits, P, V, V), "bias_backward");
    gemm(false, false, P, C, V, 1.f, dlogits, V, nw(BM::kWordEmb), C, 0.f, dln, C);
    ok(a->layernorm_backward(dact, ng(BM::kMlmLnW), ng(BM::kMlmLnB), dln, head_act.data(),
                             nw(BM::kMlmLnW), head_mean.data(), head_rstd.data(), P, C),
       "layernorm_backward");
    ok(a->gelu_backward(dact, dact, head_pre.data(), int64_t(P) * C), "gelu_backward");
    gemm(true, false, C, C, P, 1.f, dact, C, head_in.data(), C, 1.f, ng(BM::kMlmDenseW), C);
    ok(a->bias_backward(ng(BM::kMlmDenseB), dact, P, C, C), "bias_backward");
    gemm(false, false, P, C, C, 1.f, dact, C, nw(BM::kMlmDenseW), C, 0.f, dln, C);
    ok(a->scatter_rows(dh, dln, rows, P, C), "scatter_rows");
  } else if (cfg.task == Task::SequenceClassification) {
    if (counted[0] == 0) return;
    const int L = cfg.num_labels;
    float* d = d_head.data();
    const float* dlogits = logits.data();
    gemm(true, false, L, C, B, 1.f, dlogits, L, head_ln.data(), C, 1.f, ng(BM::kClsW), C);
    ok(a->bias_backward(ng(BM::kClsB), dlogits, B, L, L), "bias_backward");
    gemm(false, false, B, C, L, 1.f, dlogits, L, nw(BM::kClsW), C, 0.f, d, C);
    if (training && cfg.hidden_dropout_prob > 0)
      ok(a->dropout_backward(d, d, keep_head.data(), int64_t(B) * C, cfg.hidden_dropout_prob),
         "dropout_backward");
    ok(a->tanh_backward(d, d, head_act.data(), int64_t(B) * C), "tanh_backward");
    gemm(true, false, C, C, B, 1.f, d, C, head_in.data(), C, 1.f, ng(BM::kPoolW), C);
    ok(a->bias_backward(ng(BM::kPoolB), d, B, C, C), "bias_backward");
    gemm(false, false, B, C, C, 1.f, d, C, nw(BM::kPoolW), C, 0.f, head_pre.data(), C);
    ok(a->scatter_rows(dh, head_pre.data(), rows, B, C), "scatter_rows");  // [CLS] rows only
  } else {
    if (head_rows == 0) return;
    float* d = d_head.data();  // (N,2) interleaved from the (B,T) start and end gradients
    ok(a->scatter_rows(d, head_act.data(), rows, N, 1), "scatter_rows");
    ok(a->scatter_rows(d, head_act.data() + N, rows + N, N, 1), "scatter_rows");
    const float* hidden = x[size_t(cfg.num_hidden_layers)].data();
    gemm(true, false, 2, C, N, 1.f, d, 2, hidden, C, 1.f, ng(BM::kQaW), C);
    ok(a->bias_backward(ng(BM::kQaB), d, N, 2, 2), "bias_backward");
    gemm(false, false, N, C, 2, 1.f, d, 2, nw(BM::kQaW), C, 0.f, dh, C);
  }
}

ForwardResult CudaBert::Impl::head_result() {
  ForwardResult r;
  r.tokens = has_mask ? std::accumulate(staging.begin() + long(o_mask), staging.begin() + long(o_mask) + N,
                                        int64_t(0), [](int64_t s, int32_t m) { return s + (m != 0); })
                      : int64_t(N);
  const bool has_loss = cfg.task == Task::MaskedLM ? head_rows > 0
                        : cfg.task == Task::SequenceClassification ? counted[0] > 0
                                                                   : head_rows > 0;
  if (!has_loss) {
    ok(a->synchronize(), "synchronize");
    return r;
  }
  const int R = cfg.task == Task::MaskedLM ? head_rows : cfg.task == Task::SequenceClassification ? B : 2 * B;
  std::vector<float> loss(static_cast<size_t>(R));
  std::vector<int32_t> hit(static_cast<size_t>(R));
  losses.download(loss.data(), size_t(R));  // synchronises: the step's work is done after this
  correct.download(hit.data(), size_t(R));
  if (cfg.task == Task::QuestionAnswering) {
    double sum[2] = {0, 0};
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < B; i++) sum[k] += loss[size_t(k * B + i)];
    const double ls = counted[0] > 0 ? sum[0] / double(counted[0]) : 0.0;
    const double le = counted[1] > 0 ? sum[1] / double(counted[1]) : 0.0;
    r.loss = 0.5 * (ls + le);
    r.predictions = B;
    for (int i = 0; i < B; i++) r.correct += hit[size_t(i)] && hit[size_t(B + i)];
  } else {
    double sum = 0;
    for (int i = 0; i < R; i++) { sum += loss[size_t(i)]; r.correct += hit[size_t(i)] != 0; }
    r.loss = sum / double(R);
    r.predictions = R;
  }
  return r;
}

}  // namespace lshlab
