/*
 * bert.cc: the BERT encoder's forward and backward (embeddings, then per layer: fused QKV
 * projection, attention variant, output projection, residual + LayerNorm, GELU FFN, residual +
 * LayerNorm), exactly as Hugging Face's BertModel computes it. Heads live in heads.cc.
 */
#include "model/bert.h"

#include <cmath>
#include <cstring>

#include "ops/cpu/gemm.h"
#include "ops/cpu/ops.h"

namespace lshlab {

template <typename T>
BertModel<T>::BertModel(const BertConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  ps_.build(bert_param_layout(cfg_));
  const int H = cfg_.num_attention_heads, D = cfg_.hidden_size / H;
  for (int l = 0; l < cfg_.num_hidden_layers; l++) {
    attn_.push_back(make_attention<T>(cfg_.attention, cfg_.attention_params));
    // Variant-owned parameters live in the flat layout (bert_param_layout added them); the
    // variant reads and accumulates into them through these pointers.
    std::vector<T*> data, grad;
    for (const AttentionParamSpec& sp : attn_.back()->parameter_specs(H, D)) {
      const ParamInfo* pi = ps_.find("bert.encoder.layer." + std::to_string(l) + "." + sp.name);
      LSHLAB_CHECK(pi != nullptr, "layout lacks attention parameter " + sp.name);
      data.push_back(ps_.data.data() + pi->offset);
      grad.push_back(ps_.grad.data() + pi->offset);
    }
    attn_.back()->bind_parameters(data, grad);
  }
  layers_.resize(cfg_.num_hidden_layers);
  x_.resize(cfg_.num_hidden_layers + 1);
  resolve_offsets();
}

template <typename T>
void BertModel<T>::resolve_offsets() {
  static const char* const layer_names[kNumLayerParams] = {
      "attention.self.query.weight", "attention.self.query.bias", "attention.output.dense.weight",
      "attention.output.dense.bias", "attention.output.LayerNorm.weight",
      "attention.output.LayerNorm.bias", "intermediate.dense.weight", "intermediate.dense.bias",
      "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias"};
  static const char* const named[kNumNamedParams] = {
      "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
      "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
      "bert.embeddings.LayerNorm.bias", "cls.predictions.transform.dense.weight",
      "cls.predictions.transform.dense.bias", "cls.predictions.transform.LayerNorm.weight",
      "cls.predictions.transform.LayerNorm.bias", "cls.predictions.bias", "bert.pooler.dense.weight",
      "bert.pooler.dense.bias", "classifier.weight", "classifier.bias", "qa_outputs.weight",
      "qa_outputs.bias"};
  layer_off_.resize(cfg_.num_hidden_layers);
  for (int l = 0; l < cfg_.num_hidden_layers; l++)
    for (int k = 0; k < kNumLayerParams; k++) {
      const ParamInfo* pi = ps_.find("bert.encoder.layer." + std::to_string(l) + "." + layer_names[k]);
      LSHLAB_CHECK(pi != nullptr, std::string("layout lacks ") + layer_names[k]);
      layer_off_[l][k] = pi->offset;
    }
  for (int k = 0; k < kNumNamedParams; k++) {
    const ParamInfo* pi = ps_.find(named[k]);
    named_off_[k] = pi ? pi->offset : 0;  // heads of other tasks are absent and never touched
  }
}

template <typename T>
void BertModel<T>::ensure_buffers(int B, int Tn) {
  const size_t N = size_t(B) * Tn, C = cfg_.hidden_size, F = cfg_.intermediate_size;
  emb_sum_.resize(N * C); emb_ln_.resize(N * C); emb_mean_.resize(N); emb_rstd_.resize(N);
  keep_emb_.resize(N * C);
  for (auto& x : x_) x.resize(N * C);
  for (auto& L : layers_) {
    L.qkv.resize(N * 3 * C); L.ctx.resize(N * C); L.attn_out.resize(N * C);
    L.h1_pre.resize(N * C); L.h1.resize(N * C); L.mean1.resize(N); L.rstd1.resize(N);
    L.ff_pre.resize(N * F); L.ff.resize(N * F); L.ff_out.resize(N * C); L.h2_pre.resize(N * C);
    L.mean2.resize(N); L.rstd2.resize(N);
    L.keep_attn.resize(N * C); L.keep_ff.resize(N * C);
  }
  d_hidden_.resize(N * C); d_a_.resize(N * C); d_b_.resize(N * C);
  d_ff_.resize(N * F); d_qkv_.resize(N * 3 * C);
}

template <typename T>
ForwardResult BertModel<T>::forward(const Batch& b, const ForwardOptions& opt) {
  LSHLAB_CHECK(b.B > 0 && b.T > 0, "batch must have B > 0 and T > 0");
  LSHLAB_CHECK(b.input_ids != nullptr, "batch has no input_ids");
  LSHLAB_CHECK(b.T <= cfg_.max_position_embeddings,
               "sequence length " + std::to_string(b.T) + " exceeds max_position_embeddings " +
                   std::to_string(cfg_.max_position_embeddings));
  B_ = b.B; T_ = b.T; fopt_ = opt;
  const size_t N = size_t(B_) * T_;
  ids_.assign(b.input_ids, b.input_ids + N);
  for (size_t i = 0; i < N; i++)
    LSHLAB_CHECK(ids_[i] >= 0 && ids_[i] < cfg_.vocab_size,
                 "input_ids[" + std::to_string(i) + "] = " + std::to_string(ids_[i]) +
                     " is outside the vocabulary [0, " + std::to_string(cfg_.vocab_size) + ")");
  if (b.token_type_ids) {
    types_.assign(b.token_type_ids, b.token_type_ids + N);
    for (size_t i = 0; i < N; i++)
      LSHLAB_CHECK(types_[i] >= 0 && types_[i] < cfg_.type_vocab_size,
                   "token_type_ids[" + std::to_string(i) + "] is outside [0, type_vocab_size)");
  } else {
    types_.assign(N, 0);
  }
  has_mask_ = b.attention_mask != nullptr;
  if (has_mask_) mask_.assign(b.attention_mask, b.attention_mask + N); else mask_.assign(N, 1);
  labels_.clear(); starts_.clear(); ends_.clear();
  if (cfg_.task == Task::MaskedLM && b.labels) labels_.assign(b.labels, b.labels + N);
  if (cfg_.task == Task::SequenceClassification && b.labels) labels_.assign(b.labels, b.labels + B_);
  if (cfg_.task == Task::QuestionAnswering && b.start_positions && b.end_positions) {
    starts_.assign(b.start_positions, b.start_positions + B_);
    ends_.assign(b.end_positions, b.end_positions + B_);
  }
  ensure_buffers(B_, T_);
  encoder_forward(opt);
  ForwardResult r = head_forward(opt);
  r.tokens = 0;
  for (size_t i = 0; i < N; i++) r.tokens += mask_[i] != 0;
  return r;
}

template <typename T>
void BertModel<T>::encoder_forward(const ForwardOptions& opt) {
  const int N = B_ * T_, C = cfg_.hidden_size, F = cfg_.intermediate_size;
  const double eps = cfg_.layer_norm_eps;
  const double ph = opt.training ? cfg_.hidden_dropout_prob : 0.0;
  embeddings_forward(emb_sum_.data(), ids_.data(), types_.data(), nw(kWordEmb),
                     nw(kPosEmb), nw(kTypeEmb),
                     B_, T_, C);
  layernorm_forward(emb_ln_.data(), emb_mean_.data(), emb_rstd_.data(), emb_sum_.data(),
                    nw(kEmbLnW), nw(kEmbLnB), N, C, eps);
  if (ph > 0) {
    dropout_mask(keep_emb_.data(), int64_t(N) * C, ph, opt.seed, opt.step, dropout_site::embeddings());
    dropout_forward(x_[0].data(), emb_ln_.data(), keep_emb_.data(), ph, int64_t(N) * C);
  } else {
    std::memcpy(x_[0].data(), emb_ln_.data(), sizeof(T) * size_t(N) * C);
  }
  for (int l = 0; l < cfg_.num_hidden_layers; l++) {
    Layer& L = layers_[l];
    const T* x = x_[l].data();
    GemmEpilogue<T> ep_bias;
    ep_bias.bias = lw(l, kQkvB);  // (3C): Q, K, V biases
    gemm<T>(false, true, N, 3 * C, C, T(1), x, C, lw(l, kQkvW), C, T(0),
            L.qkv.data(), 3 * C, &ep_bias);
    AttentionCall call{B_, T_, cfg_.num_attention_heads, C / cfg_.num_attention_heads,
                       opt.training, opt.training ? cfg_.attention_probs_dropout_prob : 0.0,
                       opt.seed, opt.step, dropout_site::attn_probs(l)};
    attn_[l]->forward(L.ctx.data(), L.qkv.data(), has_mask_ ? mask_.data() : nullptr, call);
    ep_bias.bias = lw(l, kAttnOutB);
    gemm<T>(false, true, N, C, C, T(1), L.ctx.data(), C, lw(l, kAttnOutW),
            C, T(0), L.attn_out.data(), C, &ep_bias);
    if (ph > 0) {
      dropout_mask(L.keep_attn.data(), int64_t(N) * C, ph, opt.seed, opt.step, dropout_site::attn_out(l));
      dropout_forward(L.h1_pre.data(), L.attn_out.data(), L.keep_attn.data(), ph, int64_t(N) * C);
    } else {
      std::memcpy(L.h1_pre.data(), L.attn_out.data(), sizeof(T) * size_t(N) * C);
    }
    add_inplace(L.h1_pre.data(), x, int64_t(N) * C);
    layernorm_forward(L.h1.data(), L.mean1.data(), L.rstd1.data(), L.h1_pre.data(),
                      lw(l, kLn1W),
                      lw(l, kLn1B), N, C, eps);
    GemmEpilogue<T> ep_gelu;
    ep_gelu.bias = lw(l, kFfnInB);
    ep_gelu.gelu = true;
    ep_gelu.pre_gelu = L.ff_pre.data();
    gemm<T>(false, true, N, F, C, T(1), L.h1.data(), C, lw(l, kFfnInW), C,
            T(0), L.ff.data(), F, &ep_gelu);
    ep_bias.bias = lw(l, kFfnOutB);
    gemm<T>(false, true, N, C, F, T(1), L.ff.data(), F, lw(l, kFfnOutW), F, T(0),
            L.ff_out.data(), C, &ep_bias);
    if (ph > 0) {
      dropout_mask(L.keep_ff.data(), int64_t(N) * C, ph, opt.seed, opt.step, dropout_site::ffn_out(l));
      dropout_forward(L.h2_pre.data(), L.ff_out.data(), L.keep_ff.data(), ph, int64_t(N) * C);
    } else {
      std::memcpy(L.h2_pre.data(), L.ff_out.data(), sizeof(T) * size_t(N) * C);
    }
    add_inplace(L.h2_pre.data(), L.h1.data(), int64_t(N) * C);
    layernorm_forward(x_[l + 1].data(), L.mean2.data(), L.rstd2.data(), L.h2_pre.data(),
                      lw(l, kLn2W), lw(l, kLn2B), N,
                      C, eps);
  }
}

template <typename T>
AttentionCall BertModel<T>::attention_call(int l) const {
  const int C = cfg_.hidden_size, H = cfg_.num_attention_heads;
  return AttentionCall{B_, T_, H, C / H, fopt_.training,
                       fopt_.training ? cfg_.attention_probs_dropout_prob : 0.0, fopt_.seed,
                       fopt_.step, dropout_site::attn_probs(l)};
}

template <typename T>
void BertModel<T>::backward() {
  head_backward();     // d_hidden_ <- d loss / d x_[L]
  encoder_backward();  // parameters' gradients, down to the embeddings
}

template <typename T>
void BertModel<T>::encoder_backward() {
  const int N = B_ * T_, C = cfg_.hidden_size, F = cfg_.intermediate_size;
  const int64_t NC = int64_t(N) * C;
  const double ph = fopt_.training ? cfg_.hidden_dropout_prob : 0.0;
  T* dx = d_hidden_.data();  // d loss / d (output of the current layer), (N,C)
  T* dh1 = d_a_.data();
  T* dtmp = d_b_.data();
  for (int l = cfg_.num_hidden_layers - 1; l >= 0; l--) {
    Layer& L = layers_[l];
    const T* x = x_[l].data();
    // out = LN2(h2_pre); h2_pre = drop(ff_out) + h1.
    layernorm_backward(dtmp, lg(l, kLn2W), lg(l, kLn2B),
                       dx, L.h2_pre.data(), lw(l, kLn2W), L.mean2.data(),
                       L.rstd2.data(), N, C);
    std::memcpy(dh1, dtmp, sizeof(T) * NC);  // residual branch
    if (ph > 0) dropout_backward(dtmp, dtmp, L.keep_ff.data(), ph, NC);
    // ff_out = ff W2^T + b2.
    gemm<T>(true, false, C, F, N, T(1), dtmp, C, L.ff.data(), F, T(1), lg(l, kFfnOutW), F);
    bias_backward(lg(l, kFfnOutB), dtmp, N, C, C);
    gemm<T>(false, false, N, F, C, T(1), dtmp, C, lw(l, kFfnOutW), F, T(0), d_ff_.data(), F);
    gelu_backward(d_ff_.data(), d_ff_.data(), L.ff_pre.data(), int64_t(N) * F);
    // ff_pre = h1 W1^T + b1.
    gemm<T>(true, false, F, C, N, T(1), d_ff_.data(), F, L.h1.data(), C, T(1),
            lg(l, kFfnInW), C);
    bias_backward(lg(l, kFfnInB), d_ff_.data(), N, F, F);
    gemm<T>(false, false, N, C, F, T(1), d_ff_.data(), F, lw(l, kFfnInW), C,
            T(1), dh1, C);
    // h1 = LN1(h1_pre); h1_pre = drop(attn_out) + x.
    layernorm_backward(dtmp, lg(l, kLn1W),
                       lg(l, kLn1B), dh1, L.h1_pre.data(),
                       lw(l, kLn1W), L.mean1.data(), L.rstd1.data(), N, C);
    std::memcpy(dx, dtmp, sizeof(T) * NC);  // residual branch: d x starts here
    if (ph > 0) dropout_backward(dtmp, dtmp, L.keep_attn.data(), ph, NC);
    // attn_out = ctx Wo^T + bo.
    gemm<T>(true, false, C, C, N, T(1), dtmp, C, L.ctx.data(), C, T(1),
            lg(l, kAttnOutW), C);
    bias_backward(lg(l, kAttnOutB), dtmp, N, C, C);
    gemm<T>(false, false, N, C, C, T(1), dtmp, C, lw(l, kAttnOutW), C, T(0),
            dh1, C);  // dh1 now holds d ctx
    AttentionCall call{B_, T_, cfg_.num_attention_heads, C / cfg_.num_attention_heads,
                       fopt_.training, fopt_.training ? cfg_.attention_probs_dropout_prob : 0.0,
                       fopt_.seed, fopt_.step, dropout_site::attn_probs(l)};
    attn_[l]->backward(d_qkv_.data(), dh1, L.qkv.data(), has_mask_ ? mask_.data() : nullptr, call);
    // qkv = x Wqkv^T + bqkv.
    gemm<T>(true, false, 3 * C, C, N, T(1), d_qkv_.data(), 3 * C, x, C, T(1),
            lg(l, kQkvW), C);
    bias_backward(lg(l, kQkvB), d_qkv_.data(), N, 3 * C, 3 * C);
    gemm<T>(false, false, N, C, 3 * C, T(1), d_qkv_.data(), 3 * C,
            lw(l, kQkvW), C, T(1), dx, C);
  }
  // Embeddings: x_[0] = drop(LN(word + position + type)).
  if (ph > 0) dropout_backward(dx, dx, keep_emb_.data(), ph, NC);
  layernorm_backward(dtmp, ng(kEmbLnW), ng(kEmbLnB), dx,
                     emb_sum_.data(), nw(kEmbLnW), emb_mean_.data(),
                     emb_rstd_.data(), N, C);
  embeddings_backward(ng(kWordEmb), ng(kPosEmb),
                      ng(kTypeEmb), dtmp, ids_.data(), types_.data(),
                      B_, T_, C, cfg_.pad_token_id);
}

template <typename T>
double BertModel<T>::step_flops(const BertConfig& cfg, int B, int Tn, int64_t predictions) {
  const double N = double(B) * Tn, C = cfg.hidden_size, F = cfg.intermediate_size,
               V = cfg.vocab_size, H = cfg.num_attention_heads, D = C / H;
  // Per layer: QKV (3C*C), output (C*C), FFN (2*C*F) multiply-adds per token; attention scores
  // and values 2*T*D per token and head.
  const double layer_fwd = 2.0 * N * (3 * C * C + C * C + 2 * C * F) + 2.0 * 2.0 * B * H * Tn * Tn * D;
  double fwd = cfg.num_hidden_layers * layer_fwd;
  const double Pn = double(predictions);
  switch (cfg.task) {
    case Task::MaskedLM: fwd += 2.0 * Pn * (C * C + C * V); break;
    case Task::SequenceClassification: fwd += 2.0 * B * (C * C + C * cfg.num_labels); break;
    case Task::QuestionAnswering: fwd += 2.0 * N * C * 2; break;
  }
  return 3.0 * fwd;  // backward = two GEMMs (dX, dW) per forward GEMM
}

template class BertModel<float>;
template class BertModel<double>;

}  // namespace lshlab
