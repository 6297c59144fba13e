/*
 * gradcheck.cc: float64 central-difference checks of every op's backward and of the whole model
 * (see gradcheck.h). Each op check builds a scalar loss L = sum(out * R) with a fixed random R,
 * runs the op's backward with dout = R, and compares a sample of input entries with
 * (L(x + h) - L(x - h)) / 2h.
 */
#include "check/gradcheck.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

#include "attention/attention.h"
#include "model/bert.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/ops.h"

namespace lshlab {

namespace {

using Vec = std::vector<double>;

// Set while checking a hash-based attention variant (see check_entries).
bool g_allow_kinks = false;

Vec randn(size_t n, std::mt19937_64& rng, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double dot(const double* a, const double* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

// Compares analytic gradient entries of x with central differences of loss(); samples up to
// max_entries entries (all if fewer). Updates the result's worst error and count.
void check_entries(GradCheckResult& r, double* x, const double* analytic, size_t n,
                   const std::function<double()>& loss, std::mt19937_64& rng, int max_entries = 24,
                   const char* label = "") {
  // Five-point central difference: O(h^4) truncation error lets h be large enough that rounding
  // in the loss (about eps * |L| / h) stays far below the 1e-6 tolerance.
  const double h = 1e-3;
  static const bool verbose = std::getenv("LSHLAB_GRADCHECK_VERBOSE") != nullptr;
  std::vector<size_t> idx;
  if (n <= size_t(max_entries)) {
    for (size_t i = 0; i < n; i++) idx.push_back(i);
  } else {
    std::uniform_int_distribution<size_t> d(0, n - 1);
    for (int i = 0; i < max_entries; i++) idx.push_back(d(rng));
  }
  for (size_t i : idx) {
    const double saved = x[i];
    x[i] = saved + 2 * h;
    const double lp2 = loss();
    x[i] = saved + h;
    const double lp1 = loss();
    x[i] = saved - h;
    const double lm1 = loss();
    x[i] = saved - 2 * h;
    const double lm2 = loss();
    x[i] = saved;
    const double numeric = (-lp2 + 8 * lp1 - 8 * lm1 + lm2) / (12 * h);
    if (g_allow_kinks) {
      // Hash-based variants are piecewise smooth: a nudge can move a vector across a hyperplane
      // and change its bucket, a step in the loss that no derivative describes. There the
      // central differences at h and 2h disagree wildly (on smooth stretches they agree to
      // about 1e-7); such entries are counted as skipped, not compared.
      const double d1 = (lp1 - lm1) / (2 * h), d2 = (lp2 - lm2) / (4 * h);
      if (std::fabs(d1 - d2) > 1e-4 * (std::fabs(d1) + std::fabs(d2)) + 1e-7) {
        r.skipped++;
        continue;
      }
    }
    const double a = analytic[i];
    // Denominator floor: where the true gradient is zero (a key bias under softmax's shift
    // invariance, a padded position) both sides are rounding noise of about 1e-13; below 1e-5 the
    // check therefore demands an absolute agreement of 1e-11 instead of a relative one.
    const double err = std::fabs(a - numeric) / std::max(std::fabs(a) + std::fabs(numeric), 1e-5);
    if (verbose && err > 1e-7)
      std::fprintf(stderr, "  %s %s[%zu]: analytic %.10g numeric %.10g rel %.3g\n", r.name.c_str(),
                   label, i, a, numeric, err);
    r.max_rel_error = std::max(r.max_rel_error, err);
    r.checked++;
  }
}

GradCheckResult make(const std::string& name) {
  GradCheckResult r;
  r.name = name;
  return r;
}

// ---- ops ------------------------------------------------------------------------------------
GradCheckResult check_linear(bool gelu, std::mt19937_64& rng) {
  // y = act(x W^T + b), x (M,K), W (N,K): the model's Linear layers, forward via the fused gemm
  // epilogue and backward via the transposed gemms the model uses.
  GradCheckResult r = make(gelu ? "op/linear+gelu" : "op/linear");
  const int M = 5, N = 4, K = 3;
  Vec x = randn(M * K, rng), W = randn(N * K, rng), b = randn(N, rng), R = randn(M * N, rng);
  Vec y(M * N), pre(M * N);
  auto fwd = [&]() {
    GemmEpilogue<double> ep;
    ep.bias = b.data(); ep.gelu = gelu; ep.pre_gelu = gelu ? pre.data() : nullptr;
    gemm<double>(false, true, M, N, K, 1.0, x.data(), K, W.data(), K, 0.0, y.data(), N, &ep);
    return dot(y.data(), R.data(), y.size());
  };
  fwd();
  Vec dy = R, dx(M * K), dW(N * K, 0.0), db(N, 0.0);
  if (gelu) gelu_backward(dy.data(), dy.data(), pre.data(), M * N);
  gemm<double>(false, false, M, K, N, 1.0, dy.data(), N, W.data(), K, 0.0, dx.data(), K);
  gemm<double>(true, false, N, K, M, 1.0, dy.data(), N, x.data(), K, 1.0, dW.data(), K);
  bias_backward(db.data(), dy.data(), M, N, N);
  check_entries(r, x.data(), dx.data(), x.size(), fwd, rng);
  check_entries(r, W.data(), dW.data(), W.size(), fwd, rng);
  check_entries(r, b.data(), db.data(), b.size(), fwd, rng);
  return r;
}

GradCheckResult check_layernorm(std::mt19937_64& rng) {
  GradCheckResult r = make("op/layernorm");
  const int N = 4, C = 6;
  Vec x = randn(N * C, rng), w = randn(C, rng), b = randn(C, rng), R = randn(N * C, rng);
  Vec y(N * C), mean(N), rstd(N);
  auto fwd = [&]() {
    layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-12);
    return dot(y.data(), R.data(), y.size());
  };
  fwd();
  Vec dx(N * C), dw(C, 0.0), db(C, 0.0);
  layernorm_backward(dx.data(), dw.data(), db.data(), R.data(), x.data(), w.data(), mean.data(),
                     rstd.data(), N, C);
  check_entries(r, x.data(), dx.data(), x.size(), fwd, rng);
  check_entries(r, w.data(), dw.data(), w.size(), fwd, rng);
  check_entries(r, b.data(), db.data(), b.size(), fwd, rng);
  return r;
}

GradCheckResult check_pointwise(const std::string& which, std::mt19937_64& rng) {
  GradCheckResult r = make("op/" + which);
  const int n = 40;
  Vec x = randn(n, rng, 2.0), R = randn(n, rng), y(n), dx(n);
  std::vector<uint8_t> keep(n);
  dropout_mask(keep.data(), n, 0.3, 7, 1, 9);
  auto fwd = [&]() {
    if (which == "gelu") gelu_forward(y.data(), x.data(), n);
    else if (which == "tanh") tanh_forward(y.data(), x.data(), n);
    else dropout_forward(y.data(), x.data(), keep.data(), 0.3, n);
    return dot(y.data(), R.data(), n);
  };
  fwd();
  if (which == "gelu") gelu_backward(dx.data(), R.data(), x.data(), n);
  else if (which == "tanh") tanh_backward(dx.data(), R.data(), y.data(), n);
  else dropout_backward(dx.data(), R.data(), keep.data(), 0.3, n);
  check_entries(r, x.data(), dx.data(), n, fwd, rng, n);
  return r;
}

GradCheckResult check_embeddings(std::mt19937_64& rng) {
  GradCheckResult r = make("op/embeddings");
  const int B = 2, T = 3, C = 4, V = 6, TV = 2;
  std::vector<int32_t> ids = {1, 0, 5, 2, 2, 0}, types = {0, 1, 1, 0, 0, 1};
  Vec wte = randn(V * C, rng), wpe = randn(T * C, rng), wtt = randn(TV * C, rng), R = randn(B * T * C, rng);
  Vec y(B * T * C);
  auto fwd = [&]() {
    embeddings_forward(y.data(), ids.data(), types.data(), wte.data(), wpe.data(), wtt.data(), B, T, C);
    return dot(y.data(), R.data(), y.size());
  };
  Vec dwte(V * C, 0.0), dwpe(T * C, 0.0), dwtt(TV * C, 0.0);
  embeddings_backward(dwte.data(), dwpe.data(), dwtt.data(), R.data(), ids.data(), types.data(), B,
                      T, C, /*pad_id=*/-1);
  check_entries(r, wte.data(), dwte.data(), wte.size(), fwd, rng, 100);
  check_entries(r, wpe.data(), dwpe.data(), wpe.size(), fwd, rng, 100);
  check_entries(r, wtt.data(), dwtt.data(), wtt.size(), fwd, rng, 100);
  return r;
}

GradCheckResult check_cross_entropy(std::mt19937_64& rng) {
  GradCheckResult r = make("op/cross_entropy");
  const int N = 5, V = 7;
  Vec logits = randn(N * V, rng, 3.0), d(N * V);
  std::vector<int32_t> tg = {3, -100, 0, 6, 2};
  auto fwd = [&]() {
    return cross_entropy_forward_backward<double>(nullptr, logits.data(), tg.data(), N, V, -100,
                                                  1.0, nullptr, nullptr);
  };
  cross_entropy_forward_backward<double>(d.data(), logits.data(), tg.data(), N, V, -100, 1.0, nullptr, nullptr);
  check_entries(r, logits.data(), d.data(), logits.size(), fwd, rng, 100);
  return r;
}

// Attention variants: d ctx / d qkv with the variant's random draws (hashes, rotations) fixed,
// which holds because a draw is a pure function of (seed, step, site) and every call here uses the
// same AttentionCall. `label` names the check ("attention/<label>").
// Variant-owned parameters (e.g. YOSO-C's conv weights) are checked too; params_only skips qkv
// (for variants whose qkv backward is an estimate, not a derivative, while the parameters' is).
GradCheckResult check_attention(const std::string& label, const std::string& variant,
                                const AttentionParams& params, bool dropout, std::mt19937_64& rng,
                                int T = 5, int D = 3, bool params_only = false) {
  GradCheckResult r = make("attention/" + label);
  g_allow_kinks = variant != "exact" && variant != "yoso-e";
  struct Reset { ~Reset() { g_allow_kinks = false; } } reset;
  const int B = 2, H = 2, C = H * D;
  auto attn = make_attention<double>(variant, params);
  StandaloneAttentionParams<double> own;
  own.attach(*attn, H, D, 13);
  Vec qkv = randn(B * T * 3 * C, rng), R = randn(B * T * C, rng), ctx(B * T * C), dqkv(B * T * 3 * C);
  std::vector<int32_t> mask(B * T, 1);
  mask[B * T - 1] = mask[B * T - 2] = 0;  // second sequence padded
  AttentionCall call{B, T, H, D, true, dropout ? 0.25 : 0.0, 11, 3, 5};
  auto fwd = [&]() {
    attn->forward(ctx.data(), qkv.data(), mask.data(), call);
    return dot(ctx.data(), R.data(), ctx.size());
  };
  fwd();
  own.zero_grad();
  attn->backward(dqkv.data(), R.data(), qkv.data(), mask.data(), call);
  Vec g = dqkv;  // backward output is overwritten by later forwards' state, keep a copy
  if (!params_only) check_entries(r, qkv.data(), g.data(), qkv.size(), fwd, rng, 120);
  for (size_t i = 0; i < own.data.size(); i++) {
    const Vec gp = own.grad[i];
    check_entries(r, own.data[i].data(), gp.data(), gp.size(), fwd, rng, 60, own.specs[i].name.c_str());
  }
  return r;
}

// ---- whole model ----------------------------------------------------------------------------
GradCheckResult check_model(Task task, std::mt19937_64& rng, const std::string& attention = "exact",
                            const AttentionParams& attention_params = {}) {
  GradCheckResult r = make(std::string("model/") + task_name(task) +
                           (attention == "exact" ? "" : "+" + attention));
  BertConfig cfg;
  cfg.attention = attention;
  cfg.attention_params = attention_params;
  cfg.vocab_size = 23; cfg.hidden_size = 8; cfg.num_hidden_layers = 2; cfg.num_attention_heads = 2;
  cfg.intermediate_size = 12; cfg.max_position_embeddings = 9; cfg.type_vocab_size = 2;
  cfg.num_labels = 3; cfg.task = task;
  cfg.initializer_range = 0.5;  // large weights so every path carries a visible gradient
  BertModel<double> model(cfg);
  bert_init_weights(model.params(), cfg, 5);
  const int B = 2, T = 6;
  std::vector<int32_t> ids = {1, 5, 7, 3, 9, 2, 1, 4, 0, 8, 0, 0};  // 0 = [PAD]
  std::vector<int32_t> types = {0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0};
  std::vector<int32_t> mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  std::vector<int32_t> mlm = {-100, 6, -100, 11, -100, -100, -100, 2, 17, -100, -100, -100};
  std::vector<int32_t> cls = {2, 0}, starts = {2, 9}, ends = {4, 3};  // 9 > T: ignored, as HF
  Batch b;
  b.B = B; b.T = T; b.input_ids = ids.data(); b.token_type_ids = types.data();
  b.attention_mask = mask.data();
  if (task == Task::MaskedLM) b.labels = mlm.data();
  if (task == Task::SequenceClassification) b.labels = cls.data();
  if (task == Task::QuestionAnswering) { b.start_positions = starts.data(); b.end_positions = ends.data(); }
  ForwardOptions fo;
  fo.training = true;  // dropout on, masks fixed by (seed, step)
  fo.seed = 3;
  fo.step = 1;
  auto loss = [&]() { return model.forward(b, fo).loss; };
  ParamSet<double>& ps = model.params();
  ps.grad.zero();
  loss();
  model.backward();
  Vec g(ps.grad.data(), ps.grad.data() + ps.total);
  for (const auto& pi : ps.infos)
    check_entries(r, ps.data.data() + pi.offset, g.data() + pi.offset, pi.size, loss, rng, 4,
                  pi.name.c_str());
  return r;
}

}  // namespace

std::vector<GradCheckResult> run_gradchecks(const std::string& only) {
  std::mt19937_64 rng(1234);
  std::vector<std::pair<std::string, std::function<GradCheckResult()>>> all = {
      {"op/linear", [&] { return check_linear(false, rng); }},
      {"op/linear+gelu", [&] { return check_linear(true, rng); }},
      {"op/layernorm", [&] { return check_layernorm(rng); }},
      {"op/gelu", [&] { return check_pointwise("gelu", rng); }},
      {"op/tanh", [&] { return check_pointwise("tanh", rng); }},
      {"op/dropout", [&] { return check_pointwise("dropout", rng); }},
      {"op/embeddings", [&] { return check_embeddings(rng); }},
      {"op/cross_entropy", [&] { return check_cross_entropy(rng); }},
      {"attention/exact", [&] { return check_attention("exact", "exact", {}, false, rng); }},
      {"attention/exact+dropout", [&] { return check_attention("exact+dropout", "exact", {}, true, rng); }},
      // yoso-e: only backward=exact is a derivative (surrogate and LSH are tested in test_yoso.cc).
      {"attention/yoso-e+exact", [&] { return check_attention("yoso-e+exact", "yoso-e", {{"backward", "exact"}}, false, rng, 7, 5); }},
      {"attention/yoso-e+exact+tau2+dropout", [&] { return check_attention("yoso-e+exact+tau2+dropout", "yoso-e", {{"backward", "exact"}, {"tau", "2"}}, true, rng, 3, 4); }},
      // YOSO-C: conv weights and qkv through the conv path (exact backward: a true derivative);
      // with the LSH forward only the conv weights (hash-free, linear) have an exact gradient.
      {"attention/yoso-e+exact+conv", [&] { return check_attention("yoso-e+exact+conv", "yoso-e", {{"backward", "exact"}, {"conv_window", "3"}}, false, rng, 7, 4); }},
      {"attention/yoso-e+exact+conv5-wide", [&] { return check_attention("yoso-e+exact+conv5-wide", "yoso-e", {{"backward", "exact"}, {"conv_window", "5"}, {"tau", "3"}}, false, rng, 4, 3); }},
      {"attention/yoso+conv-weights", [&] { return check_attention("yoso+conv-weights", "yoso", {{"conv_window", "3"}, {"num_hash", "4"}, {"tau", "3"}}, false, rng, 7, 4, true); }},
      {"attention/bert-lsh", [&] { return check_attention("bert-lsh", "bert-lsh", {}, false, rng, 8, 4); }},
      {"attention/bert-lsh+masked", [&] { return check_attention("bert-lsh+masked", "bert-lsh", {{"fill", "masked"}}, false, rng, 8, 4); }},
      {"attention/bert-lsh+masked+dropout", [&] { return check_attention("bert-lsh+masked+dropout", "bert-lsh", {{"fill", "masked"}}, true, rng, 8, 4); }},
      {"attention/bert-lsh+dropout", [&] { return check_attention("bert-lsh+dropout", "bert-lsh", {}, true, rng, 8, 4); }},
      {"attention/bert-lsh+sym-none", [&] { return check_attention("bert-lsh+sym-none", "bert-lsh", {{"symmetric", "none"}}, false, rng, 8, 4); }},
      {"attention/bert-lsh+and", [&] { return check_attention("bert-lsh+and", "bert-lsh", {{"combine", "and"}, {"num_hashes", "2"}, {"bands", "1"}}, false, rng, 8, 4); }},
      {"attention/reformer", [&] { return check_attention("reformer", "reformer", {{"chunk_length", "2"}, {"num_hashes", "2"}, {"num_buckets", "4"}}, false, rng, 7, 3); }},
      {"attention/reformer+after+dropout", [&] { return check_attention("reformer+after+dropout", "reformer", {{"chunk_length", "3"}, {"num_chunks_after", "1"}, {"num_hashes", "3"}}, true, rng, 8, 4); }},
      {"attention/reformer+short", [&] { return check_attention("reformer+short", "reformer", {}, false, rng, 6, 5); }},
      {"model/mlm", [&] { return check_model(Task::MaskedLM, rng); }},
      {"model/classification", [&] { return check_model(Task::SequenceClassification, rng); }},
      {"model/qa", [&] { return check_model(Task::QuestionAnswering, rng); }},
      {"model/mlm+yoso-e", [&] { return check_model(Task::MaskedLM, rng, "yoso-e", {{"backward", "exact"}, {"tau", "3"}, {"conv_window", "3"}}); }},
  };
  std::vector<GradCheckResult> out;
  for (auto& [name, fn] : all) {
    if (!only.empty() && name.compare(0, only.size(), only) != 0) continue;
    // Each check draws its inputs from a generator seeded by its own name, so its result does
    // not depend on which other checks ran before it.
    uint64_t h = 1469598103934665603ull;
    for (char ch : name) h = (h ^ uint8_t(ch)) * 1099511628211ull;
    rng.seed(h);
    GradCheckResult r = fn();
    // Passing needs real comparisons: at most a quarter of the entries may be skipped as kinks.
    r.passed = r.checked > 0 && r.max_rel_error < r.tolerance && r.skipped * 3 <= r.checked;
    out.push_back(r);
  }
  return out;
}

}  // namespace lshlab
