/*
 * bench.cc: run_attention_bench (one configuration of one variant) and the helpers the other modes
 * share: Philox inputs, memory accounting, JSON. See bench.h. Does not parse arguments or print.
 *
 * Memory, how it is measured (Linux; elsewhere only the retained heap is reported):
 *   peak_memory_bytes    peak resident-set growth while the variant runs its calls. Before the
 *                        first call: malloc_trim(0) (so freed heap pages must be faulted in again
 *                        rather than silently reused), then "5" -> /proc/self/clear_refs, which
 *                        resets VmHWM to the current VmRSS. After the calls: VmHWM - VmRSS(before).
 *                        It counts everything the variant touches, transient scratch included, and
 *                        also other threads of the process (noise in the Node addon: GC).
 *   retained_heap_bytes  mallinfo2 in-use bytes (arena + mmapped) after the calls minus before the
 *                        variant was created: what the instance keeps between calls.
 * The inputs (qkv, dctx, ctx, dqkv) are allocated before the reset and are not counted.
 */
#include "attention/bench.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/common.h"
#include "core/philox.h"
#include "core/threadpool.h"
#include "ops/cpu/gemm.h"

namespace lshlab {

namespace {
using Clock = std::chrono::steady_clock;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// A /proc/self/status field in bytes ("VmRSS:  1234 kB"), or -1.
double proc_status_bytes(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(f, line)) {
    if (line.compare(0, k.size(), k) == 0) {
      std::istringstream is(line.substr(k.size()));
      double kb = -1;
      is >> kb;
      return kb < 0 ? -1 : kb * 1024.0;
    }
  }
  return -1;
}

bool reset_peak_rss() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return bool(f);
}

double heap_in_use() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2();
  return double(m.uordblks) + double(m.hblkhd);
#else
  return -1;
#endif
}

double rel_error(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); i++) {
    const double d = double(a[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * double(ref[i]);
  }
  return den > 0 ? std::sqrt(num / den) : kNaN;
}

bool is_yoso_lsh(const std::string& v) { return v.rfind("yoso", 0) == 0 && v != "yoso-e"; }

// The engine allocates some scratch on first use per thread (GEMM packing buffers, thread_local
// in gemm.cc); whichever variant ran first would be charged for it. One exact forward+backward
// over enough (batch, head) tasks for every pool thread, and one pool-wide GEMM, create it first.
void warm_engine_scratch(int D) {
  const int H = 4 * ThreadPool::global().num_threads(), T = 64, C = H * D;
  std::vector<float> qkv(size_t(T) * 3 * C, 0.5f), ctx(size_t(T) * C), dqkv(qkv.size());
  auto ex = make_attention<float>("exact", {});
  AttentionCall call{1, T, H, D, false, 0.0, 0, 0, 0};
  ex->forward(ctx.data(), qkv.data(), nullptr, call);
  ex->backward(dqkv.data(), ctx.data(), qkv.data(), nullptr, call);
  const int n = 256;
  std::vector<float> a(size_t(n) * n, 1.0f), c(a.size());
  gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, a.data(), n, 0.0f, c.data(), n);
}
}  // namespace

AttentionParams params_accepted_by(const std::string& variant, AttentionParams p) {
  // Each rejection names one parameter ("x: unknown parameter 'k' (known: ...)", or exact's
  // "takes no parameters (got 'k')"); drop it and try again. Other errors (bad values) propagate.
  const size_t max_tries = p.size() + 1;
  for (size_t tries = 0; tries < max_tries; tries++) {
    try {
      make_attention<float>(variant, p);
      return p;
    } catch (const Error& e) {
      const std::string msg = e.what();
      size_t a = msg.find("unknown parameter '");
      size_t s = a == std::string::npos ? std::string::npos : a + 19;
      if (s == std::string::npos && (a = msg.find("(got '")) != std::string::npos &&
          msg.find("takes no parameters") != std::string::npos)
        s = a + 6;
      if (s == std::string::npos) throw;
      const size_t end = msg.find('\'', s);
      if (end == std::string::npos || !p.erase(msg.substr(s, end - s))) throw;
    }
  }
  throw Error(variant + ": could not find parameters it accepts");
}

void fill_normal(float* out, size_t n, uint64_t seed, uint32_t tag) {
  const uint32_t stream = uint32_t(Stream::RandomTokens);
  const int chunks = int(std::min<size_t>(64, (n + 4095) / 4096));
  ThreadPool::global().parallel_for(chunks, [&](int c) {
    const size_t lo = n * size_t(c) / size_t(chunks), hi = n * size_t(c + 1) / size_t(chunks);
    for (size_t i = lo; i < hi; i++) out[i] = float(philox_normal(seed, stream, 0x62000000u + tag, i));
  });
}

double available_memory_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kb;
  std::string unit;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024.0;
  return 0;
}

AttentionBenchResult run_attention_bench(const AttentionBenchConfig& cfg) {
  LSHLAB_CHECK(cfg.B >= 1 && cfg.T >= 1 && cfg.H >= 1 && cfg.D >= 1, "bench attention: B, T, H, D must be >= 1");
  LSHLAB_CHECK(cfg.iters >= 1, "bench attention: iters must be >= 1");
  const int B = cfg.B, T = cfg.T, H = cfg.H, D = cfg.D, C = H * D;
  AttentionBenchResult r;
  r.variant = cfg.variant;
  r.params = cfg.params;
  r.B = B; r.T = T; r.H = H; r.D = D;
  r.backward = cfg.backward;
  r.iters = cfg.iters;
  r.warmup = cfg.warmup;
  r.dot_iters = cfg.dot_iters > 0 ? cfg.dot_iters : cfg.iters;
  r.threads = ThreadPool::global().num_threads();
  r.rel_error_vs_exact = r.rel_error_vs_yoso_e = r.grad_rel_error_vs_exact = kNaN;

  std::vector<float> qkv(size_t(B) * T * 3 * C), dctx(size_t(B) * T * C), ctx(dctx.size());
  std::vector<float> dqkv(cfg.backward ? qkv.size() : 0);
  fill_normal(qkv.data(), qkv.size(), cfg.seed, 1);
  if (cfg.backward) fill_normal(dctx.data(), dctx.size(), cfg.seed, 2);
  AttentionCall call{B, T, H, D, false, 0.0, cfg.seed, 0, 0};

  // ---- timed calls (and the extra counting calls when dot_iters > iters) --------------------
  warm_engine_scratch(D);  // engine-wide lazily made scratch must not count as the variant's
  const double heap0 = heap_in_use();
  const bool rss_ok = reset_peak_rss();
  const double rss0 = proc_status_bytes("VmRSS");
  auto attn = make_attention<float>(cfg.variant, cfg.params);
  StandaloneAttentionParams<float> own;  // variant-owned weights (YOSO-C conv), model-style init
  own.attach(*attn, H, D, cfg.seed);
  auto run_call = [&](uint32_t step) {
    call.step = step;
    attn->forward(ctx.data(), qkv.data(), nullptr, call);
    if (cfg.backward) attn->backward(dqkv.data(), dctx.data(), qkv.data(), nullptr, call);
  };
  uint32_t step = 0;
  for (int i = 0; i < cfg.warmup; i++) run_call(step++);
  const int calls = std::max(r.iters, r.dot_iters);
  double tsum = 0, tsq = 0, tmin = 1e300, dsum = 0, dsq = 0, dens = 0;
  for (int i = 0; i < calls; i++) {
    const auto t0 = Clock::now();
    run_call(step++);
    const double t = std::chrono::duration<double>(Clock::now() - t0).count();
    const AttentionCounters& c = attn->counters();
    if (i < r.iters) {
      tsum += t; tsq += t * t; tmin = std::min(tmin, t);
      r.time_hash_s += c.time_hash_s; r.time_scores_s += c.time_scores_s;
      r.time_softmax_s += c.time_softmax_s; r.time_values_s += c.time_values_s;
      r.time_backward_s += c.time_backward_s;
      r.flops_hash += c.flops_hash; r.flops_scores += c.flops_scores;
      r.flops_softmax += c.flops_softmax; r.flops_values += c.flops_values;
      r.flops_backward += cfg.backward ? c.flops_backward : 0;
    }
    if (i < r.dot_iters) {
      dsum += c.dot_products; dsq += c.dot_products * c.dot_products;
      dens += c.collision_density();
      r.pairs = c.pairs;
    }
  }
  if (rss_ok && rss0 >= 0) {
    r.peak_memory_bytes = std::max(0.0, proc_status_bytes("VmHWM") - rss0);
    r.memory_method = "peak RSS growth (VmHWM after clear_refs reset and malloc_trim) over the variant's calls";
  } else {
    r.memory_method = "peak RSS not measurable here; retained_heap_bytes only";
  }
  const double heap1 = heap_in_use();
  if (heap0 >= 0 && heap1 >= 0) r.retained_heap_bytes = std::max(0.0, heap1 - heap0);

  const double n = r.iters, nd = r.dot_iters;
  r.time_s_mean = tsum / n;
  r.time_s_min = tmin;
  r.time_s_std = std::sqrt(std::max(0.0, tsq / n - r.time_s_mean * r.time_s_mean));
  for (double* x : {&r.time_hash_s, &r.time_scores_s, &r.time_softmax_s, &r.time_values_s,
                    &r.time_backward_s, &r.flops_hash, &r.flops_scores, &r.flops_softmax,
                    &r.flops_values, &r.flops_backward})
    *x /= n;
  r.kflops_total = (r.flops_hash + r.flops_scores + r.flops_softmax + r.flops_values + r.flops_backward) / 1e3;
  r.dot_products_mean = dsum / nd;
  r.dot_products_std = std::sqrt(std::max(0.0, dsq / nd - r.dot_products_mean * r.dot_products_mean));
  r.collision_density_mean = dens / nd;

  // ---- quality: same inputs, exact (and yoso-e) as references --------------------------------
  if (cfg.quality) {
    std::vector<float> ref(ctx.size()), dref(dqkv.size());
    auto exact = make_attention<float>("exact", {});
    call.step = 0;
    exact->forward(ref.data(), qkv.data(), nullptr, call);
    if (cfg.backward) exact->backward(dref.data(), dctx.data(), qkv.data(), nullptr, call);
    std::unique_ptr<Attention<float>> ye;
    StandaloneAttentionParams<float> ye_own;
    std::vector<float> yref(ctx.size());
    if (is_yoso_lsh(cfg.variant)) {
      try {
        ye = make_attention<float>("yoso-e", params_accepted_by("yoso-e", cfg.params));
        ye_own.attach(*ye, H, D, cfg.seed);  // the same conv weights as the variant's
        ye->forward(yref.data(), qkv.data(), nullptr, call);
      } catch (const std::exception& e) {
        r.quality_note = std::string("no yoso-e reference: ") + e.what() + "; ";
      }
    }
    const int qn = std::max(1, cfg.quality_calls);
    double e_exact = 0, e_grad = 0, e_ye = 0;
    for (int i = 0; i < qn; i++) {
      run_call(1000000u + uint32_t(i));
      e_exact += rel_error(ctx, ref);
      if (cfg.backward) e_grad += rel_error(dqkv, dref);
      if (ye) e_ye += rel_error(ctx, yref);
    }
    r.rel_error_vs_exact = e_exact / qn;
    if (cfg.backward) r.grad_rel_error_vs_exact = e_grad / qn;
    if (ye) r.rel_error_vs_yoso_e = e_ye / qn;
    if (cfg.variant.rfind("yoso", 0) == 0)
      r.quality_note += "yoso outputs are L2-normalised and have no softmax: rel_error_vs_exact is "
                        "information only" + std::string(ye ? "; compare rel_error_vs_yoso_e" : "");
    if (cfg.variant == "reformer")
      r.quality_note += "reformer shares Q and K (keys = normalised queries) and masks self-attention: "
                        "rel_error_vs_exact is information only";
    r.quality_note += (r.quality_note.empty() ? "" : "; ") + std::string("mean over ") +
                      std::to_string(qn) + " calls (fresh hashes each)";
  }
  return r;
}

namespace {
Json num_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(); }
}  // namespace

Json to_json(const AttentionBenchResult& r) {
  Json params = Json::object();
  for (const auto& kv : r.params) params.set(kv.first, kv.second);
  Json j = Json::object();
  j.set("variant", r.variant);
  j.set("params", params);
  j.set("batch", r.B); j.set("seq", r.T); j.set("heads", r.H); j.set("head_dim", r.D);
  j.set("backward", r.backward);
  j.set("iters", r.iters); j.set("warmup", r.warmup); j.set("dot_iters", r.dot_iters);
  j.set("threads", r.threads);
  j.set("time_s_mean", r.time_s_mean); j.set("time_s_min", r.time_s_min); j.set("time_s_std", r.time_s_std);
  j.set("time_hash_s", r.time_hash_s); j.set("time_scores_s", r.time_scores_s);
  j.set("time_softmax_s", r.time_softmax_s); j.set("time_values_s", r.time_values_s);
  j.set("time_backward_s", r.time_backward_s);
  j.set("kflops_total", r.kflops_total);
  j.set("kflops_hash", r.flops_hash / 1e3); j.set("kflops_scores", r.flops_scores / 1e3);
  j.set("kflops_softmax", r.flops_softmax / 1e3); j.set("kflops_values", r.flops_values / 1e3);
  j.set("kflops_backward", r.flops_backward / 1e3);
  j.set("dot_products_mean", r.dot_products_mean); j.set("dot_products_std", r.dot_products_std);
  j.set("pairs", r.pairs); j.set("collision_density", r.collision_density_mean);
  j.set("peak_memory_bytes", num_or_null(r.peak_memory_bytes >= 0 ? r.peak_memory_bytes : kNaN));
  j.set("retained_heap_bytes", num_or_null(r.retained_heap_bytes >= 0 ? r.retained_heap_bytes : kNaN));
  j.set("memory_method", r.memory_method);
  j.set("rel_error_vs_exact", num_or_null(r.rel_error_vs_exact));
  j.set("rel_error_vs_yoso_e", num_or_null(r.rel_error_vs_yoso_e));
  j.set("grad_rel_error_vs_exact", num_or_null(r.grad_rel_error_vs_exact));
  j.set("quality_note", r.quality_note);
  return j;
}

}  // namespace lshlab
