/*
 * heads.cc: the task heads on top of the encoder, as Hugging Face computes them.
 *   mlm:            gather labelled rows -> dense + GELU + LayerNorm -> decoder tied to the word
 *                   embeddings + bias -> cross-entropy (logits only at labelled positions).
 *   classification: tanh pooler on [CLS] -> dropout -> linear -> cross-entropy.
 *   qa:             linear to (start, end) logits per token -> (CE(start) + CE(end)) / 2, with
 *                   positions clamped to [0, T] and T ignored, as BertForQuestionAnswering.
 */
#include <algorithm>
#include <cstring>

#include "model/bert.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/ops.h"

namespace lshlab {

template <typename T>
ForwardResult BertModel<T>::head_forward(const ForwardOptions& opt) {
  const int N = B_ * T_, C = cfg_.hidden_size, V = cfg_.vocab_size;
  const T* hidden = x_[cfg_.num_hidden_layers].data();
  ForwardResult r;
  if (cfg_.task == Task::MaskedLM) {
    pos_.clear(); targets_.clear();
    for (int n = 0; n < N && !labels_.empty(); n++)
      if (labels_[n] != -100) {
        LSHLAB_CHECK(labels_[n] >= 0 && labels_[n] < V,
                     "labels[" + std::to_string(n) + "] = " + std::to_string(labels_[n]) +
                         " is neither -100 nor a vocabulary id");
        pos_.push_back(n);
        targets_.push_back(labels_[n]);
      }
    const int P = int(pos_.size());
    logits_count_ = int64_t(P) * V;
    if (P == 0) return r;
    head_in_.resize(size_t(P) * C); head_pre_.resize(size_t(P) * C); head_act_.resize(size_t(P) * C);
    head_ln_.resize(size_t(P) * C); head_mean_.resize(P); head_rstd_.resize(P);
    logits_.resize(size_t(P) * V);
    for (int i = 0; i < P; i++)
      std::memcpy(head_in_.data() + size_t(i) * C, hidden + size_t(pos_[i]) * C, sizeof(T) * C);
    GemmEpilogue<T> ep;
    ep.bias = nw(kMlmDenseB);
    ep.gelu = true;
    ep.pre_gelu = head_pre_.data();
    gemm<T>(false, true, P, C, C, T(1), head_in_.data(), C, nw(kMlmDenseW),
            C, T(0), head_act_.data(), C, &ep);
    layernorm_forward(head_ln_.data(), head_mean_.data(), head_rstd_.data(), head_act_.data(),
                      nw(kMlmLnW),
                      nw(kMlmLnB), P, C, cfg_.layer_norm_eps);
    GemmEpilogue<T> ep_dec;
    ep_dec.bias = nw(kMlmBias);
    gemm<T>(false, true, P, V, C, T(1), head_ln_.data(), C, nw(kWordEmb),
            C, T(0), logits_.data(), V, &ep_dec);
    dlogits_.resize(size_t(P) * V);
    r.loss = cross_entropy_forward_backward<T>(dlogits_.data(), logits_.data(), targets_.data(), P,
                                               V, -100, 1.0, &r.correct, &r.predictions);
  } else if (cfg_.task == Task::SequenceClassification) {
    const int L = cfg_.num_labels;
    head_in_.resize(size_t(B_) * C); head_pre_.resize(size_t(B_) * C); head_act_.resize(size_t(B_) * C);
    head_ln_.resize(size_t(B_) * C); keep_head_.resize(size_t(B_) * C);
    logits_.resize(size_t(B_) * L); dlogits_.resize(size_t(B_) * L);
    logits_count_ = int64_t(B_) * L;
    for (int b = 0; b < B_; b++)  // [CLS] = first token of each sequence
      std::memcpy(head_in_.data() + size_t(b) * C, hidden + size_t(b) * T_ * C, sizeof(T) * C);
    GemmEpilogue<T> ep;
    ep.bias = nw(kPoolB);
    gemm<T>(false, true, B_, C, C, T(1), head_in_.data(), C, nw(kPoolW), C, T(0),
            head_pre_.data(), C, &ep);
    tanh_forward(head_act_.data(), head_pre_.data(), int64_t(B_) * C);
    const double ph = opt.training ? cfg_.hidden_dropout_prob : 0.0;
    if (ph > 0) {
      dropout_mask(keep_head_.data(), int64_t(B_) * C, ph, opt.seed, opt.step, dropout_site::kClassifier);
      dropout_forward(head_ln_.data(), head_act_.data(), keep_head_.data(), ph, int64_t(B_) * C);
    } else {
      std::memcpy(head_ln_.data(), head_act_.data(), sizeof(T) * size_t(B_) * C);
    }
    ep.bias = nw(kClsB);
    gemm<T>(false, true, B_, L, C, T(1), head_ln_.data(), C, nw(kClsW), C, T(0),
            logits_.data(), L, &ep);
    if (!labels_.empty()) {
      for (int b = 0; b < B_; b++)
        LSHLAB_CHECK(labels_[b] >= 0 && labels_[b] < L,
                     "labels[" + std::to_string(b) + "] = " + std::to_string(labels_[b]) +
                         " is outside [0, num_labels)");
      r.loss = cross_entropy_forward_backward<T>(dlogits_.data(), logits_.data(), labels_.data(),
                                                 B_, L, -100, 1.0, &r.correct, &r.predictions);
    }
  } else {  // QuestionAnswering
    logits_.resize(size_t(N) * 2);
    logits_count_ = int64_t(N) * 2;
    GemmEpilogue<T> ep;
    ep.bias = nw(kQaB);
    gemm<T>(false, true, N, 2, C, T(1), hidden, C, nw(kQaW), C, T(0), logits_.data(), 2, &ep);
    if (!starts_.empty()) {
      // Split into contiguous (B,T) start and end rows; clamp targets like HF (ignored = T).
      head_pre_.resize(size_t(N) * 2); dlogits_.resize(size_t(N) * 2);
      T* s = head_pre_.data();
      T* e = s + N;
      for (int n = 0; n < N; n++) { s[n] = logits_[2 * n]; e[n] = logits_[2 * n + 1]; }
      targets_.resize(2 * size_t(B_));
      for (int b = 0; b < B_; b++) {
        targets_[b] = std::min(std::max(starts_[b], 0), T_);
        targets_[B_ + b] = std::min(std::max(ends_[b], 0), T_);
      }
      int64_t c1 = 0, c2 = 0, n1 = 0, n2 = 0;
      const double ls = cross_entropy_forward_backward<T>(dlogits_.data(), s, targets_.data(), B_, T_,
                                                          T_, 0.5, &c1, &n1);
      const double le = cross_entropy_forward_backward<T>(dlogits_.data() + N, e, targets_.data() + B_,
                                                          B_, T_, T_, 0.5, &c2, &n2);
      r.loss = 0.5 * (ls + le);
      r.predictions = B_;
      // An example is correct when both its start and end argmax are right.
      for (int b = 0; b < B_; b++) {
        auto argmax = [&](const T* row) { return int(std::max_element(row, row + T_) - row); };
        r.correct += argmax(s + size_t(b) * T_) == targets_[b] &&
                     argmax(e + size_t(b) * T_) == targets_[B_ + b];
      }
    }
  }
  return r;
}

template <typename T>
void BertModel<T>::head_backward() {
  const int N = B_ * T_, C = cfg_.hidden_size, V = cfg_.vocab_size;
  T* dh = d_hidden_.data();
  std::memset(dh, 0, sizeof(T) * size_t(N) * C);
  const T* hidden = x_[cfg_.num_hidden_layers].data();
  if (cfg_.task == Task::MaskedLM) {
    const int P = int(pos_.size());
    if (P == 0) return;
    d_head_.resize(size_t(P) * C * 2);
    T* dln = d_head_.data();
    T* dact = dln + size_t(P) * C;
    // logits = ln E^T + bias: the tied decoder adds into the word-embedding gradient.
    gemm<T>(true, false, V, C, P, T(1), dlogits_.data(), V, head_ln_.data(), C, T(1),
            ng(kWordEmb), C);
    bias_backward(ng(kMlmBias), dlogits_.data(), P, V, V);
    gemm<T>(false, false, P, C, V, T(1), dlogits_.data(), V, nw(kWordEmb),
            C, T(0), dln, C);
    layernorm_backward(dact, ng(kMlmLnW),
                       ng(kMlmLnB), dln, head_act_.data(),
                       nw(kMlmLnW), head_mean_.data(),
                       head_rstd_.data(), P, C);
    gelu_backward(dact, dact, head_pre_.data(), int64_t(P) * C);
    gemm<T>(true, false, C, C, P, T(1), dact, C, head_in_.data(), C, T(1),
            ng(kMlmDenseW), C);
    bias_backward(ng(kMlmDenseB), dact, P, C, C);
    gemm<T>(false, false, P, C, C, T(1), dact, C, nw(kMlmDenseW), C,
            T(0), dln, C);
    for (int i = 0; i < P; i++)  // scatter back to the labelled rows
      std::memcpy(dh + size_t(pos_[i]) * C, dln + size_t(i) * C, sizeof(T) * C);
  } else if (cfg_.task == Task::SequenceClassification) {
    if (labels_.empty()) return;
    const int L = cfg_.num_labels;
    d_head_.resize(size_t(B_) * C);
    T* d = d_head_.data();
    gemm<T>(true, false, L, C, B_, T(1), dlogits_.data(), L, head_ln_.data(), C, T(1),
            ng(kClsW), C);
    bias_backward(ng(kClsB), dlogits_.data(), B_, L, L);
    gemm<T>(false, false, B_, C, L, T(1), dlogits_.data(), L, nw(kClsW), C, T(0), d, C);
    const double ph = fopt_.training ? cfg_.hidden_dropout_prob : 0.0;
    if (ph > 0) dropout_backward(d, d, keep_head_.data(), ph, int64_t(B_) * C);
    tanh_backward(d, d, head_act_.data(), int64_t(B_) * C);
    gemm<T>(true, false, C, C, B_, T(1), d, C, head_in_.data(), C, T(1), ng(kPoolW), C);
    bias_backward(ng(kPoolB), d, B_, C, C);
    for (int b = 0; b < B_; b++)  // only [CLS] rows receive gradient
      gemm<T>(false, false, 1, C, C, T(1), d + size_t(b) * C, C, nw(kPoolW), C,
              T(0), dh + size_t(b) * T_ * C, C);
  } else {
    if (starts_.empty()) return;
    // Interleave the (B,T) start/end gradients back into (N,2).
    d_head_.resize(size_t(N) * 2);
    T* d = d_head_.data();
    for (int n = 0; n < N; n++) { d[2 * n] = dlogits_[n]; d[2 * n + 1] = dlogits_[N + n]; }
    gemm<T>(true, false, 2, C, N, T(1), d, 2, hidden, C, T(1), ng(kQaW), C);
    bias_backward(ng(kQaB), d, N, 2, 2);
    gemm<T>(false, false, N, C, 2, T(1), d, 2, nw(kQaW), C, T(0), dh, C);
  }
}

template ForwardResult BertModel<float>::head_forward(const ForwardOptions&);
template ForwardResult BertModel<double>::head_forward(const ForwardOptions&);
template void BertModel<float>::head_backward();
template void BertModel<double>::head_backward();

}  // namespace lshlab
