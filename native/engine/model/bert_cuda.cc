/*
 * bert_cuda.cc: CudaBert (model/bert_cuda.h): the batch upload, the encoder's forward and
 * backward, and the step (zero gradients, forward, backward, global norm, clipped AdamW), as
 * model/bert.cc and train/trainer.cc compute them on the CPU, call for call. Heads live in
 * bert_cuda_heads.cc.
 */
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "core/common.h"
#include "model/bert_cuda_impl.h"

namespace lshlab {

std::string cuda_training_unsupported(const BertConfig& cfg) {
  return CudaAttentionLayer::unsupported(cfg);
}

CudaBert::CudaBert(const BertModel<float>& host, int device, int gemm_precision)
    : impl_(new Impl), device_(device), gemm_precision_(gemm_precision) {
  Impl& I = *impl_;
  const std::string why = cuda_training_unsupported(host.config());
  if (!why.empty()) throw Error("cannot train on CUDA: " + why);
  I.a = &cuda_require();
  const CudaStatus& st = cuda_status();
  if (device < 0 || size_t(device) >= st.devices.size())
    throw Error("CUDA device " + std::to_string(device) + " does not exist (" +
                std::to_string(st.devices.size()) + " found)");
  if (!st.devices[size_t(device)].usable)
    throw Error("CUDA device " + std::to_string(device) + " (" + st.devices[size_t(device)].name +
                ") has compute capability below 8.0");
  I.ok(I.a->set_device(device), "set_device");
  I.precision = gemm_precision;
  // The capturable step's entries (graph.cu): a library built before them runs every step eagerly
  // with the by-value constants.
  I.device_steps = I.a->struct_size >= offsetof(lshlab_cuda_api_v1, graph_destroy) + sizeof(I.a->graph_destroy) &&
                   I.a->set_step_constants && I.a->adamw_update_chunks_device &&
                   I.a->cross_entropy_forward_backward_device && I.a->graph_capture_begin &&
                   I.a->graph_capture_end && I.a->graph_launch && I.a->graph_destroy;
  I.cfg = host.config();
  I.infos = host.params().infos;
  I.total = host.params().total;
  const int L = I.cfg.num_hidden_layers;
  I.layer_off.resize(size_t(L));
  for (int l = 0; l < L; l++)
    for (int k = 0; k < BM::kNumLayerParams; k++)
      I.layer_off[size_t(l)][k] = host.layer_offset(l, BM::LayerParam(k));
  for (int k = 0; k < BM::kNumNamedParams; k++) I.named_off[k] = host.named_offset(BM::NamedParam(k));
  for (auto* d : {&I.params, &I.grads, &I.m, &I.v}) { d->bind(I.a); d->resize(I.total); }
  I.m.zero(); I.v.zero(); I.grads.zero();
  I.x.resize(size_t(L) + 1);
  I.layers.resize(size_t(L));
  const int H = I.cfg.num_attention_heads, D = I.cfg.hidden_size / H;
  for (int l = 0; l < L; l++) {
    I.attn.emplace_back(I.a, I.cfg, gemm_precision_);  // bf16 runs: bf16 exact attention
    // Variant-owned parameters (YOSO-C's conv) at the CPU layout's offsets in the device buffers.
    std::vector<float*> data, grad;
    for (const AttentionParamSpec& sp : attention_parameter_specs(I.cfg.attention, I.cfg.attention_params, H, D)) {
      const ParamInfo* pi = host.params().find("bert.encoder.layer." + std::to_string(l) + "." + sp.name);
      if (!pi) throw Error("layout lacks attention parameter " + sp.name);
      data.push_back(I.params.data() + pi->offset);
      grad.push_back(I.grads.data() + pi->offset);
    }
    I.attn.back().bind_parameters(data, grad);
  }
  auto bind_all = [&](auto&... arrays) { (arrays.bind(I.a), ...); };
  bind_all(I.ints, I.attn_ws, I.emb_sum, I.emb_mean, I.emb_rstd, I.keep_emb, I.tmp, I.d_hidden, I.d_a, I.d_b,
           I.d_ff, I.d_qkv, I.head_in, I.head_pre, I.head_act, I.head_ln, I.head_mean,
           I.head_rstd, I.logits, I.losses, I.d_head, I.correct, I.keep_head, I.sum_sq,
           I.sum_sq_work);
  for (auto& x : I.x) x.bind(I.a);
  for (auto& Ly : I.layers)
    bind_all(Ly.qkv, Ly.ctx, Ly.h1_pre, Ly.h1, Ly.mean1, Ly.rstd1, Ly.ff_pre, Ly.ff,
             Ly.h2_pre, Ly.mean2, Ly.rstd2, Ly.keep_attn, Ly.keep_ff);
  I.sum_sq.resize(1);
  I.sum_sq_work.resize(LSHLAB_CUDA_SUM_SQ_WORKSPACE);
  // The update's chunks: each parameter cut into pieces of at most kChunk elements (one block
  // each), so the whole model updates in one launch.
  constexpr int64_t kChunk = 8192;
  std::vector<int64_t> chunks;
  for (const ParamInfo& pi : I.infos)
    for (int64_t b = int64_t(pi.offset); b < int64_t(pi.offset + pi.size); b += kChunk)
      chunks.insert(chunks.end(), {b, std::min(b + kChunk, int64_t(pi.offset + pi.size)), pi.decay ? 1 : 0});
  I.adam_nchunks = int(chunks.size() / 3);
  I.adam_chunks.bind(I.a);
  I.adam_chunks.resize(chunks.size());
  I.adam_chunks.upload(chunks.data(), chunks.size());
  for (auto& e : I.events) I.ok(I.a->event_create(&e), "event_create");
  upload_params(host.params());
}

CudaBert::~CudaBert() {
  if (impl_ && impl_->a) {
    for (void* e : impl_->events) if (e) impl_->a->event_destroy(e);
    for (auto& kv : impl_->graph.graphs) impl_->a->graph_destroy(kv.second.exec);
  }
}

void CudaBert::upload_params(const ParamSet<float>& ps) { impl_->params.upload(ps.data.data(), ps.total); }
void CudaBert::download_params(ParamSet<float>& ps) const { impl_->params.download(ps.data.data(), ps.total); }
void CudaBert::upload_optimizer(const AdamWState& st) {
  impl_->m.upload(st.m.data(), impl_->total);
  impl_->v.upload(st.v.data(), impl_->total);
}
void CudaBert::download_optimizer(AdamWState& st) const {
  impl_->m.download(st.m.data(), impl_->total);
  impl_->v.download(st.v.data(), impl_->total);
}

// Rows grouped by key (keys in [0, K), rows in ascending order within a key; rows whose key is
// `skip` left out): the deterministic embedding-gradient sums (rows_segment_sum). `key` may
// point into `st`: it is read completely before `st` grows. Padded to g_cap groups (empty ones,
// which write nothing) and N rows, so the layout and the launch depend on (N, g_cap) only.
static CudaRowGroups append_groups(std::vector<int32_t>& st, const int32_t* key, int N, int K,
                                   int skip, int g_cap) {
  std::vector<int32_t> count(size_t(K) + 1, 0);
  for (int n = 0; n < N; n++) if (key[n] != skip) count[size_t(key[n]) + 1]++;
  CudaRowGroups g;
  std::vector<int32_t> target, offsets{0};
  for (int k = 0; k < K; k++)
    if (count[size_t(k) + 1] > 0) { target.push_back(k); offsets.push_back(offsets.back() + count[size_t(k) + 1]); }
  for (int k = 0; k < K; k++) count[size_t(k) + 1] += count[size_t(k)];  // start of each key
  std::vector<int32_t> rows(size_t(count[size_t(K)]));
  for (int n = 0; n < N; n++) if (key[n] != skip) rows[size_t(count[size_t(key[n])]++)] = n;
  LSHLAB_CHECK(int(target.size()) <= g_cap, "embedding row groups exceed their bound");
  target.resize(size_t(g_cap), 0);
  offsets.resize(size_t(g_cap) + 1, offsets.back());
  rows.resize(size_t(N), 0);
  g.G = g_cap;
  g.o_target = st.size(); st.insert(st.end(), target.begin(), target.end());
  g.o_offsets = st.size(); st.insert(st.end(), offsets.begin(), offsets.end());
  g.o_rows = st.size(); st.insert(st.end(), rows.begin(), rows.end());
  return g;
}

void CudaBert::Impl::load_batch(const Batch& b) {
  LSHLAB_CHECK(b.B > 0 && b.T > 0, "batch must have B > 0 and T > 0");
  LSHLAB_CHECK(b.input_ids != nullptr, "batch has no input_ids");
  LSHLAB_CHECK(b.T <= cfg.max_position_embeddings,
               "sequence length " + std::to_string(b.T) + " exceeds max_position_embeddings " +
                   std::to_string(cfg.max_position_embeddings));
  B = b.B; T = b.T; N = B * T;
  staging.assign(kConstWords, 0);  // the step constants, written below once the head set its scales
  o_ids = staging.size();
  staging.insert(staging.end(), b.input_ids, b.input_ids + N);
  for (int i = 0; i < N; i++)
    LSHLAB_CHECK(b.input_ids[i] >= 0 && b.input_ids[i] < cfg.vocab_size,
                 "input_ids[" + std::to_string(i) + "] = " + std::to_string(b.input_ids[i]) +
                     " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
  o_types = staging.size();
  if (b.token_type_ids) {
    staging.insert(staging.end(), b.token_type_ids, b.token_type_ids + N);
    for (int i = 0; i < N; i++)
      LSHLAB_CHECK(b.token_type_ids[i] >= 0 && b.token_type_ids[i] < cfg.type_vocab_size,
                   "token_type_ids[" + std::to_string(i) + "] is outside [0, type_vocab_size)");
  } else {
    staging.insert(staging.end(), size_t(N), 0);
  }
  has_mask = b.attention_mask != nullptr;
  o_mask = staging.size();
  if (has_mask) staging.insert(staging.end(), b.attention_mask, b.attention_mask + N);
  head_prepare(b);
  if (training) {
    std::vector<int32_t> tpos(static_cast<size_t>(N));
    for (int n = 0; n < N; n++) tpos[size_t(n)] = n % T;
    word = append_groups(staging, staging.data() + o_ids, N, cfg.vocab_size, cfg.pad_token_id,
                         std::min(N, cfg.vocab_size));
    pos = append_groups(staging, tpos.data(), N, T, -1, T);
    type = append_groups(staging, staging.data() + o_types, N, cfg.type_vocab_size, -1,
                         std::min(N, cfg.type_vocab_size));
  }
  std::memcpy(staging.data(), &consts, sizeof consts);
  ints.upload(staging.data(), staging.size());  // the batch and the step constants: one copy
}

void CudaBert::Impl::ensure_buffers() {
  const size_t n = size_t(N), C = size_t(cfg.hidden_size), F = size_t(cfg.intermediate_size);
  emb_sum.resize(n * C); emb_mean.resize(n); emb_rstd.resize(n); keep_emb.resize(n * C);
  for (auto& xl : x) xl.resize(n * C);
  for (auto& Ly : layers) {
    Ly.qkv.resize(n * 3 * C); Ly.ctx.resize(n * C);
    Ly.h1_pre.resize(n * C); Ly.h1.resize(n * C); Ly.mean1.resize(n); Ly.rstd1.resize(n);
    Ly.ff_pre.resize(n * F); Ly.ff.resize(n * F); Ly.h2_pre.resize(n * C);
    Ly.mean2.resize(n); Ly.rstd2.resize(n);
    Ly.keep_attn.resize(n * C); Ly.keep_ff.resize(n * C);
  }
  tmp.resize(n * C); d_hidden.resize(n * C); d_a.resize(n * C); d_b.resize(n * C);
  d_ff.resize(n * F); d_qkv.resize(n * 3 * C);
}

void CudaBert::Impl::encoder_forward() {
  const int C = cfg.hidden_size, F = cfg.intermediate_size;
  const int64_t NC = int64_t(N) * C;
  const float eps = float(cfg.layer_norm_eps);
  const double ph = cfg.hidden_dropout_prob, pa = cfg.attention_probs_dropout_prob;
  const int32_t* mask = has_mask ? dev_ints(o_mask) : nullptr;
  lshlab_cuda_dropout d;
  ok(a->embeddings_forward(emb_sum.data(), dev_ints(o_ids), dev_ints(o_types), nw(BM::kWordEmb),
                           nw(BM::kPosEmb), nw(BM::kTypeEmb), B, T, C), "embeddings_forward");
  ok(a->layernorm_forward(tmp.data(), emb_mean.data(), emb_rstd.data(), emb_sum.data(),
                          nw(BM::kEmbLnW), nw(BM::kEmbLnB), N, C, eps), "layernorm_forward");
  ok(a->dropout_add_forward(x[0].data(), keep_emb.data(), tmp.data(), nullptr, NC,
                            dropout(d, ph, dropout_site::embeddings())), "dropout_add_forward");
  for (int l = 0; l < cfg.num_hidden_layers; l++) {
    Layer& Ly = layers[size_t(l)];
    const float* xin = x[size_t(l)].data();
    gemm(false, true, N, 3 * C, C, 1.f, xin, C, lw(l, BM::kQkvW), C, 0.f, Ly.qkv.data(), 3 * C,
         lw(l, BM::kQkvB));
    attn[size_t(l)].forward(Ly.ctx.data(), Ly.qkv.data(), mask, B, T,
                            dropout(d, pa, dropout_site::attn_probs(l)), seed, step,
                            dropout_site::attn_probs(l), attn_ws);
    gemm(false, true, N, C, C, 1.f, Ly.ctx.data(), C, lw(l, BM::kAttnOutW), C, 0.f, tmp.data(),
         C, lw(l, BM::kAttnOutB));
    ok(a->dropout_add_forward(Ly.h1_pre.data(), Ly.keep_attn.data(), tmp.data(), xin, NC,
                              dropout(d, ph, dropout_site::attn_out(l))), "dropout_add_forward");
    ok(a->layernorm_forward(Ly.h1.data(), Ly.mean1.data(), Ly.rstd1.data(), Ly.h1_pre.data(),
                            lw(l, BM::kLn1W), lw(l, BM::kLn1B), N, C, eps), "layernorm_forward");
    gemm(false, true, N, F, C, 1.f, Ly.h1.data(), C, lw(l, BM::kFfnInW), C, 0.f, Ly.ff.data(), F,
         lw(l, BM::kFfnInB), true, Ly.ff_pre.data());
    gemm(false, true, N, C, F, 1.f, Ly.ff.data(), F, lw(l, BM::kFfnOutW), F, 0.f, tmp.data(), C,
         lw(l, BM::kFfnOutB));
    ok(a->dropout_add_forward(Ly.h2_pre.data(), Ly.keep_ff.data(), tmp.data(), Ly.h1.data(), NC,
                              dropout(d, ph, dropout_site::ffn_out(l))), "dropout_add_forward");
    ok(a->layernorm_forward(x[size_t(l) + 1].data(), Ly.mean2.data(), Ly.rstd2.data(),
                            Ly.h2_pre.data(), lw(l, BM::kLn2W), lw(l, BM::kLn2B), N, C, eps),
       "layernorm_forward");
  }
}

void CudaBert::Impl::encoder_backward() {
  const int C = cfg.hidden_size, F = cfg.intermediate_size;
  const int64_t NC = int64_t(N) * C;
  const double ph = cfg.hidden_dropout_prob, pa = cfg.attention_probs_dropout_prob;
  const bool drop_hidden = training && ph > 0;
  const int32_t* mask = has_mask ? dev_ints(o_mask) : nullptr;
  const size_t bytes = size_t(NC) * sizeof(float);
  float* dx = d_hidden.data();  // d loss / d (output of the current layer)
  float* dh1 = d_a.data();
  float* dtmp = d_b.data();
  lshlab_cuda_dropout d;
  for (int l = cfg.num_hidden_layers - 1; l >= 0; l--) {
    Layer& Ly = layers[size_t(l)];
    const float* xin = x[size_t(l)].data();
    ok(a->layernorm_backward(dtmp, lg(l, BM::kLn2W), lg(l, BM::kLn2B), dx, Ly.h2_pre.data(),
                             lw(l, BM::kLn2W), Ly.mean2.data(), Ly.rstd2.data(), N, C),
       "layernorm_backward");
    ok(a->memcpy_d2d(dh1, dtmp, bytes), "memcpy_d2d");  // residual branch
    if (drop_hidden) ok(a->dropout_backward(dtmp, dtmp, Ly.keep_ff.data(), NC, ph), "dropout_backward");
    gemm(true, false, C, F, N, 1.f, dtmp, C, Ly.ff.data(), F, 1.f, lg(l, BM::kFfnOutW), F);
    ok(a->bias_backward(lg(l, BM::kFfnOutB), dtmp, N, C, C), "bias_backward");
    gemm(false, false, N, F, C, 1.f, dtmp, C, lw(l, BM::kFfnOutW), F, 0.f, d_ff.data(), F);
    ok(a->gelu_backward(d_ff.data(), d_ff.data(), Ly.ff_pre.data(), int64_t(N) * F), "gelu_backward");
    gemm(true, false, F, C, N, 1.f, d_ff.data(), F, Ly.h1.data(), C, 1.f, lg(l, BM::kFfnInW), C);
    ok(a->bias_backward(lg(l, BM::kFfnInB), d_ff.data(), N, F, F), "bias_backward");
    gemm(false, false, N, C, F, 1.f, d_ff.data(), F, lw(l, BM::kFfnInW), C, 1.f, dh1, C);
    ok(a->layernorm_backward(dtmp, lg(l, BM::kLn1W), lg(l, BM::kLn1B), dh1, Ly.h1_pre.data(),
                             lw(l, BM::kLn1W), Ly.mean1.data(), Ly.rstd1.data(), N, C),
       "layernorm_backward");
    ok(a->memcpy_d2d(dx, dtmp, bytes), "memcpy_d2d");  // residual branch: d x starts here
    if (drop_hidden) ok(a->dropout_backward(dtmp, dtmp, Ly.keep_attn.data(), NC, ph), "dropout_backward");
    gemm(true, false, C, C, N, 1.f, dtmp, C, Ly.ctx.data(), C, 1.f, lg(l, BM::kAttnOutW), C);
    ok(a->bias_backward(lg(l, BM::kAttnOutB), dtmp, N, C, C), "bias_backward");
    gemm(false, false, N, C, C, 1.f, dtmp, C, lw(l, BM::kAttnOutW), C, 0.f, dh1, C);  // d ctx
    attn[size_t(l)].backward(d_qkv.data(), dh1, Ly.qkv.data(), Ly.ctx.data(), mask, B, T,
                             dropout(d, pa, dropout_site::attn_probs(l)), attn_ws);
    gemm(true, false, 3 * C, C, N, 1.f, d_qkv.data(), 3 * C, xin, C, 1.f, lg(l, BM::kQkvW), C);
    ok(a->bias_backward(lg(l, BM::kQkvB), d_qkv.data(), N, 3 * C, 3 * C), "bias_backward");
    gemm(false, false, N, C, 3 * C, 1.f, d_qkv.data(), 3 * C, lw(l, BM::kQkvW), C, 1.f, dx, C);
  }
  if (drop_hidden) ok(a->dropout_backward(dx, dx, keep_emb.data(), NC, ph), "dropout_backward");
  ok(a->layernorm_backward(dtmp, ng(BM::kEmbLnW), ng(BM::kEmbLnB), dx, emb_sum.data(),
                           nw(BM::kEmbLnW), emb_mean.data(), emb_rstd.data(), N, C),
     "layernorm_backward");
  const std::pair<CudaRowGroups*, BM::NamedParam> tables[] = {
      {&word, BM::kWordEmb}, {&pos, BM::kPosEmb}, {&type, BM::kTypeEmb}};
  for (const auto& [grp, k] : tables)
    if (grp->G > 0)
      ok(a->rows_segment_sum(ng(k), dev_ints(grp->o_target), dev_ints(grp->o_offsets),
                             dev_ints(grp->o_rows), grp->G, dtmp, C), "rows_segment_sum");
}

// Everything of a step after the batch upload, on the device in stream order: the part a CUDA
// graph captures (bert_cuda_graph.cc). timed: stage events between forward, backward and the
// optimiser (not inside a capture: such events are no graph nodes).
void CudaBert::Impl::step_body(bool timed) {
  grads.zero();
  encoder_forward();
  head_forward(true);
  if (timed) ok(a->event_record(events[1]), "event_record");
  head_backward();
  encoder_backward();
  if (timed) ok(a->event_record(events[2]), "event_record");
  ok(a->sum_squares(sum_sq.data(), grads.data(), int64_t(total), sum_sq_work.data()), "sum_squares");
  if (device_steps)
    ok(a->adamw_update_chunks_device(params.data(), m.data(), v.data(), grads.data(), adam_chunks.data(),
                                     adam_nchunks, dev_consts(), sum_sq.data(), max_grad_norm),
       "adamw_update_chunks_device");
  else
    ok(a->adamw_update_chunks(params.data(), m.data(), v.data(), grads.data(), adam_chunks.data(),
                              adam_nchunks, &adam_host, sum_sq.data(), max_grad_norm),
       "adamw_update_chunks");
}

// Sets this thread's device step constants for the step (ABI set_step_constants) and clears them
// however the step ends, so later by-value callers on the thread are unaffected.
struct StepConstantsScope {
  const lshlab_cuda_api_v1* a;
  bool on;
  StepConstantsScope(const lshlab_cuda_api_v1* api, bool enabled, const lshlab_cuda_step_constants* c)
      : a(api), on(enabled) {
    if (on) cuda_ok(*a, a->set_step_constants(c), "set_step_constants");
  }
  ~StepConstantsScope() { if (on) a->set_step_constants(nullptr); }
};

CudaStepResult CudaBert::train_step(const Batch& b, uint64_t seed, uint32_t step,
                                    const TrainConfig& tc, double lr, int64_t t) {
  Impl& I = *impl_;
  // The current device and the GEMM precision are per host thread, and the addon runs steps on
  // worker threads.
  I.ok(I.a->set_device(device_), "set_device");
  I.ok(I.a->gemm_set_precision(gemm_precision_), "gemm_set_precision");
  I.training = true; I.seed = seed; I.step = step;
  // AdamW constants exactly as train/adamw.cc computes them for update number t.
  const double bc1 = 1.0 - std::pow(tc.beta1, double(t)), bc2 = 1.0 - std::pow(tc.beta2, double(t));
  I.adam_host = lshlab_cuda_adamw_params{float(1.0 - lr * tc.weight_decay), float(tc.beta1), float(tc.beta2),
                                         float(lr / bc1), float(1.0 / std::sqrt(bc2)), float(tc.eps), 1.f};
  I.max_grad_norm = tc.max_grad_norm;
  I.consts = lshlab_cuda_step_constants{};
  I.consts.seed = seed;
  I.consts.step = step;
  I.consts.adamw = I.adam_host;
  I.load_batch(b);  // the head adds its loss scales to I.consts; one upload with the batch
  I.ensure_buffers();
  const StepConstantsScope scope(I.a, I.device_steps, I.dev_consts());
  CudaStepResult r;
  I.ok(I.a->event_record(I.events[0]), "event_record");
  r.graph = I.run_step(tc.cuda_graphs);
  I.ok(I.a->event_record(I.events[3]), "event_record");
  r.fr = I.head_result();  // the step's one synchronisation (the copies below find it done)
  double ss = 0;
  I.sum_sq.download(&ss, 1);
  r.grad_norm = std::sqrt(ss);
  float total_ms = 0;
  I.ok(I.a->event_elapsed_ms(&total_ms, I.events[0], I.events[3]), "event_elapsed_ms");
  r.device_s = total_ms / 1e3;
  if (!r.graph) {  // a graph is timed as a whole only (bert_cuda_graph.cc)
    float ms[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
      I.ok(I.a->event_elapsed_ms(&ms[i], I.events[i], I.events[i + 1]), "event_elapsed_ms");
    r.forward_s = ms[0] / 1e3; r.backward_s = ms[1] / 1e3; r.optimizer_s = ms[2] / 1e3;
  }
  return r;
}

std::string CudaBert::graph_unsupported() const { return impl_->graph_unsupported(); }
int CudaBert::graph_captures() const { return impl_->graph.captures; }

void CudaBert::attention_counters(std::vector<AttentionCounters>& out, const Batch& b,
                                  bool backward) const {
  out.resize(impl_->attn.size());
  for (size_t l = 0; l < out.size(); l++)
    impl_->attn[l].counters(out[l], b.attention_mask, b.B, b.T, backward);
}

ForwardResult CudaBert::evaluate(const Batch& b, std::vector<float>* logits) {
  Impl& I = *impl_;
  I.ok(I.a->set_device(device_), "set_device");
  I.ok(I.a->gemm_set_precision(gemm_precision_), "gemm_set_precision");
  I.training = false; I.seed = 0; I.step = 0;
  I.consts = lshlab_cuda_step_constants{};
  I.load_batch(b);
  I.ensure_buffers();
  for (CudaAttentionLayer& l : I.attn) l.set_timing(true);  // eager: stage times as usual
  I.encoder_forward();
  I.head_forward(false);
  ForwardResult fr = I.head_result();
  if (logits) {
    logits->resize(size_t(I.logits_count));
    I.logits.download(logits->data(), size_t(I.logits_count));
  }
  return fr;
}

}  // namespace lshlab
