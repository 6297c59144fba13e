/*
 * trainer.cc: Trainer (see trainer.h): one float32 model, its AdamW state and the step loop
 * (zero grads, forward, backward, clip, update). A non-finite loss or gradient norm skips the
 * update and is reported in the stats, so the caller can stop the run as diverged.
 * With TrainConfig::cuda_device >= 0 the step runs on that GPU (model/bert_cuda.h); the CPU model
 * then holds the weights only for checkpoints and attention maps, refreshed on demand.
 */
#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "io/checkpoint.h"
#include "model/bert.h"
#include "model/bert_cuda.h"
#include "train/adamw.h"

namespace lshlab {

struct Trainer::Impl {
  Impl(const BertConfig& c, const TrainConfig& t) : model(c), tc(t) {}
  BertModel<float> model;
  TrainConfig tc;
  AdamWState opt;
  int64_t step = 0;
  std::unique_ptr<CudaBert> cuda;
  bool host_stale = false;  // the device has weights the CPU model lacks
  void sync_from_device() {
    if (cuda && host_stale) {
      cuda->download_params(model.params());
      cuda->download_optimizer(opt);
      host_stale = false;
    }
  }
  void sync_to_device() {
    if (cuda) { cuda->upload_params(model.params()); cuda->upload_optimizer(opt); }
  }
  StepStats cuda_step(const Batch& batch);
};

static void validate_train_config(const TrainConfig& t) {
  if (!(t.lr >= 0 && std::isfinite(t.lr))) throw Error("lr must be a finite number >= 0");
  if (!(t.beta1 >= 0 && t.beta1 < 1)) throw Error("beta1 must be in [0, 1)");
  if (!(t.beta2 >= 0 && t.beta2 < 1)) throw Error("beta2 must be in [0, 1)");
  if (!(t.eps > 0)) throw Error("eps must be positive");
  if (!(t.weight_decay >= 0)) throw Error("weight_decay must be >= 0");
  if (t.warmup_steps < 0) throw Error("warmup_steps must be >= 0");
  if (t.total_steps < 0) throw Error("total_steps must be >= 0");
  if (t.cuda_device < -1) throw Error("cuda_device must be -1 (CPU) or a device index");
  const int mode = gemm_precision_mode(t.precision);
  // The CPU GEMMs are fp32 FMA kernels: a tf32/bf16 run there would record a precision it never used.
  if (mode != 0 && t.cuda_device < 0)
    throw Error("--precision " + t.precision + " needs a CUDA device (the CPU engine computes in fp32); "
                "use --precision fp32 or --device cuda");
}

int gemm_precision_mode(const std::string& precision) {
  if (precision == "fp32") return 0;
  if (precision == "tf32") return 1;
  if (precision == "bf16") return 2;
  throw Error("--precision must be fp32, tf32 or bf16 (got '" + precision + "')");
}

// The counters every layer's variant kept for the last call (a copy: L small structs).
static void gather_attention(const BertModel<float>& m, std::vector<AttentionCounters>& out) {
  const int L = m.config().num_hidden_layers;
  out.resize(size_t(L));
  for (int l = 0; l < L; l++) out[size_t(l)] = m.attention_counters(l);
}

AttentionCounters sum_attention_counters(const std::vector<AttentionCounters>& layers) {
  AttentionCounters t;
  for (const auto& c : layers) t.add(c);
  return t;
}

Trainer::Trainer(const BertConfig& cfg, const TrainConfig& tcfg) {
  validate_train_config(tcfg);
  impl_ = std::make_unique<Impl>(cfg, tcfg);
  bert_init_weights(impl_->model.params(), impl_->model.config(), tcfg.seed);
  impl_->opt.init(impl_->model.params().total);
  if (tcfg.cuda_device >= 0)
    impl_->cuda = std::make_unique<CudaBert>(impl_->model, tcfg.cuda_device, gemm_precision_mode(tcfg.precision));
}

// The CUDA step: the same bookkeeping as the CPU step below; attention counters as the CPU
// variants count them, with stage times from device events (model/cuda_attention_variant.h).
StepStats Trainer::Impl::cuda_step(const Batch& batch) {
  auto t0 = std::chrono::steady_clock::now();
  StepStats st;
  st.lr = linear_schedule_lr(tc, step);
  const CudaStepResult r = cuda->train_step(batch, tc.seed, uint32_t(step), tc, st.lr, opt.t + 1);
  host_stale = true;
  st.loss = r.fr.loss;
  st.tokens = r.fr.tokens;
  st.predictions = r.fr.predictions;
  st.correct = r.fr.correct;
  st.flops = BertModel<float>::step_flops(model.config(), batch.B, batch.T, r.fr.predictions);
  st.forward_s = r.forward_s;
  st.backward_s = r.backward_s;
  st.optimizer_s = r.optimizer_s;
  st.device_s = r.device_s;
  st.cuda_graph = r.graph;
  // The device skipped the update exactly when the norm is not finite; a non-finite loss has
  // non-finite gradients, so the CPU's rule (no backward after a non-finite loss) agrees.
  st.grad_norm = std::isfinite(r.fr.loss) ? r.grad_norm : NAN;
  if (std::isfinite(r.grad_norm)) { opt.t++; step++; }
  st.step = step;
  cuda->attention_counters(st.attention, batch, true);
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

Trainer::~Trainer() = default;

StepStats Trainer::train_step(const Batch& batch) {
  if (impl_->cuda) return impl_->cuda_step(batch);
  auto t0 = std::chrono::steady_clock::now();
  Impl& I = *impl_;
  ParamSet<float>& ps = I.model.params();
  ps.grad.zero();
  ForwardOptions fo;
  fo.training = true;
  fo.seed = I.tc.seed;
  fo.step = uint32_t(I.step);
  ForwardResult fr = I.model.forward(batch, fo);
  auto t1 = std::chrono::steady_clock::now();
  StepStats st;
  st.forward_s = std::chrono::duration<double>(t1 - t0).count();
  st.loss = fr.loss;
  st.tokens = fr.tokens;
  st.predictions = fr.predictions;
  st.correct = fr.correct;
  st.lr = linear_schedule_lr(I.tc, I.step);
  st.flops = step_flops(batch.B, batch.T, fr.predictions);
  if (std::isfinite(fr.loss)) {
    I.model.backward();
    auto t2 = std::chrono::steady_clock::now();
    st.backward_s = std::chrono::duration<double>(t2 - t1).count();
    st.grad_norm = grad_global_norm(ps);
    if (std::isfinite(st.grad_norm)) {
      adamw_update(ps, I.opt, I.tc, st.lr, clip_coefficient(st.grad_norm, I.tc.max_grad_norm));
      I.step++;
    }
    st.optimizer_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t2).count();
  } else {
    st.grad_norm = NAN;
  }
  st.step = I.step;
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  gather_attention(I.model, st.attention);
  return st;
}

EvalStats Trainer::evaluate(const Batch& batch, std::vector<float>* logits) {
  if (impl_->cuda) {
    const ForwardResult fr = impl_->cuda->evaluate(batch, logits);
    EvalStats es;
    es.loss = fr.loss;
    es.predictions = fr.predictions;
    es.correct = fr.correct;
    impl_->cuda->attention_counters(es.attention, batch, false);
    return es;
  }
  ForwardOptions fo;  // training = false: no dropout
  ForwardResult fr = impl_->model.forward(batch, fo);
  EvalStats es;
  es.loss = fr.loss;
  es.predictions = fr.predictions;
  es.correct = fr.correct;
  gather_attention(impl_->model, es.attention);
  if (logits) logits->assign(impl_->model.logits(), impl_->model.logits() + impl_->model.logits_size());
  return es;
}

void Trainer::save(const std::string& dir) const {
  impl_->sync_from_device();
  save_checkpoint(dir, impl_->model.config(), impl_->model.params(), &impl_->opt, impl_->step);
}

void Trainer::load(const std::string& dir) {
  load_checkpoint(dir, impl_->model.config(), impl_->model.params(), &impl_->opt, &impl_->step);
  impl_->host_stale = false;
  impl_->sync_to_device();
}

InitFromReport Trainer::init_from(const std::string& dir) {
  if (impl_->step != 0)
    throw Error("init_from(" + dir + "): the model has taken " + std::to_string(impl_->step) +
                " steps; weights are initialised from another model only before the first step");
  InitFromReport r = init_weights_from(dir, impl_->model.config(), impl_->model.params());
  impl_->sync_to_device();
  return r;
}

const BertConfig& Trainer::config() const { return impl_->model.config(); }
const TrainConfig& Trainer::train_config() const { return impl_->tc; }
int64_t Trainer::step() const { return impl_->step; }
BertModel<float>& Trainer::model() {
  impl_->sync_from_device();
  return impl_->model;
}

std::string Trainer::device() const {
  return impl_->cuda ? "cuda:" + std::to_string(impl_->cuda->device()) : "cpu";
}

int64_t Trainer::num_parameters() const {
  int64_t n = 0;
  for (const auto& pi : impl_->model.params().infos) n += int64_t(pi.size);
  return n;
}

double Trainer::step_flops(int B, int T, int64_t predictions) const {
  return BertModel<float>::step_flops(impl_->model.config(), B, T, predictions);
}

}  // namespace lshlab
