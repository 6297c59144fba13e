/*
 * bench_scaling.cc: run_attention_scaling: every registered variant (or the ones asked for) at
 * n = min_seq, 2*min_seq, ..., max_seq, forward and forward+backward: time per call and peak
 * memory. Built to finish in a few minutes on a 2-core machine without knowing the variants:
 *   - sizes are the outer loop, so when the time budget runs out it is the largest sizes of every
 *     variant that are skipped, not whole variants;
 *   - the next size's time and memory are extrapolated from the last two measured sizes of the
 *     same (variant, mode) by a power law (exponent clamped to [1, 2.2]; 2 with one point); exact
 *     attention's memory also has an analytic floor (B*H*n^2 floats per (T,T) buffer: probs, plus
 *     the backward's scratch), so "skipped: needs X GiB" appears before anything is allocated;
 *   - iterations adapt: as many calls as fit in the cell's share of the remaining budget (1..20).
 * Not a quality benchmark: no error against exact here (that needs exact at every n).
 */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "attention/bench.h"
#include "core/common.h"

namespace lshlab {

namespace {
using Clock = std::chrono::steady_clock;

struct History {
  std::vector<std::pair<double, double>> time, mem;  // (n, value) of measured cells
  std::string stop;                                   // once set, larger sizes are skipped too
};

// Power-law extrapolation to n from the last two (n, v) points.
double extrapolate(const std::vector<std::pair<double, double>>& h, double n, double lo, double hi) {
  if (h.empty()) return -1;
  const auto& b = h.back();
  double e = 2;
  if (h.size() >= 2) {
    const auto& a = h[h.size() - 2];
    if (a.second > 0 && b.second > 0 && b.first > a.first)
      e = std::log(b.second / a.second) / std::log(b.first / a.first);
  }
  e = std::min(hi, std::max(lo, e));
  return b.second * std::pow(n / b.first, e);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}
}  // namespace

Json run_attention_scaling(const ScalingConfig& cfg, const BenchProgress& progress) {
  std::vector<std::string> variants = cfg.variants;
  if (variants.empty())
    for (const char* const* n = attention_variant_names(); *n; n++) variants.push_back(*n);
  for (const std::string& v : variants) {  // a typo is the user's error, not a row of errors
    bool known = false;
    std::string list;
    for (const char* const* n = attention_variant_names(); *n; n++) {
      known = known || v == *n;
      list += (list.empty() ? "" : ", ") + std::string(*n);
    }
    if (!known) throw Error("unknown attention variant '" + v + "' (this build implements: " + list + ")");
  }
  LSHLAB_CHECK(cfg.min_seq >= 1 && cfg.max_seq >= cfg.min_seq, "bench attention --scaling: bad sequence range");
  const double gib = 1024.0 * 1024.0 * 1024.0;
  const double avail = available_memory_bytes();
  const double mem_limit = cfg.max_memory_gb > 0 ? cfg.max_memory_gb * gib
                                                 : std::min(8 * gib, avail > 0 ? avail / 2 : 4 * gib);
  std::vector<int> sizes;
  for (long long n = cfg.min_seq; n <= cfg.max_seq; n *= 2) sizes.push_back(int(n));

  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  std::map<std::pair<size_t, bool>, History> hist;
  Json rows = Json::array();
  const size_t cells_total = sizes.size() * variants.size() * 2;
  size_t cells_done = 0;

  for (int n : sizes) {
    for (size_t vi = 0; vi < variants.size(); vi++) {
      for (bool bwd : {false, true}) {
        History& h = hist[{vi, bwd}];
        const std::string& v = variants[vi];
        AttentionParams params;
        try {
          params = params_accepted_by(v, cfg.params);
        } catch (const std::exception&) {
          params = cfg.params;  // let the run report the variant's own error
        }
        Json row = Json::object();
        row.set("variant", v);
        Json pj = Json::object();
        for (const auto& kv : params) pj.set(kv.first, kv.second);
        row.set("params", pj);
        row.set("seq", n);
        row.set("backward", bwd);
        cells_done++;

        double t_est = extrapolate(h.time, n, 1.0, 2.2);
        double m_est = extrapolate(h.mem, n, 1.0, 2.0);
        if (v == "exact") {
          const double tt = double(cfg.B) * cfg.H * double(n) * n * sizeof(float);
          m_est = std::max(m_est, tt * (bwd ? 2.0 : 1.0));
        }
        const double remaining = cfg.budget_s - elapsed();
        std::string skip = h.stop;
        if (skip.empty() && m_est > mem_limit)
          skip = "needs ~" + fmt("%.1f", m_est / gib) + " GiB (limit " + fmt("%.1f", mem_limit / gib) + " GiB)";
        if (skip.empty() && t_est > cfg.max_call_s)
          skip = "estimated " + fmt("%.0f", t_est) + " s per call (limit " + fmt("%.0f", cfg.max_call_s) + " s)";
        if (skip.empty() && (remaining <= 0 || t_est > remaining))
          skip = "time budget (" + fmt("%.0f", cfg.budget_s) + " s) used up";
        if (t_est >= 0) row.set("estimated_time_s", t_est);
        if (m_est >= 0) row.set("estimated_memory_bytes", m_est);
        if (!skip.empty()) {
          h.stop = skip.rfind("time budget", 0) == 0 ? skip : "skipped at a smaller n: " + skip;
          row.set("status", "skipped");
          row.set("reason", "skipped: " + skip);
          rows.push_back(row);
          continue;
        }
        // The cell's share of what is left, so later cells still get a turn.
        const double share = std::max(0.2, std::min(cfg.cell_budget_s, remaining / double(cells_total - cells_done + 1)));
        AttentionBenchConfig c;
        c.variant = v;
        c.params = params;
        c.B = cfg.B; c.T = n; c.H = cfg.H; c.D = cfg.D;
        c.backward = bwd;
        c.seed = cfg.seed;
        c.quality = false;
        c.iters = t_est < 0 ? 3 : int(std::max(1.0, std::min(20.0, std::floor(share / std::max(t_est, 1e-6)))));
        c.warmup = (t_est < 0 || t_est < 0.5) ? 1 : 0;
        if (progress)
          progress("scaling " + std::to_string(cells_done) + "/" + std::to_string(cells_total) + ": " + v +
                   " n=" + std::to_string(n) + (bwd ? " fwd+bwd" : " fwd") + ", " + std::to_string(c.iters) +
                   " iter(s)" + (t_est > 0 ? ", ~" + fmt("%.2g", t_est) + " s each" : ""));
        try {
          const AttentionBenchResult r = run_attention_bench(c);
          row.set("status", "ok");
          row.set("iters", r.iters);
          row.set("warmup", r.warmup);
          row.set("time_s_mean", r.time_s_mean);
          row.set("time_s_min", r.time_s_min);
          row.set("peak_memory_bytes", r.peak_memory_bytes >= 0 ? Json(r.peak_memory_bytes) : Json());
          row.set("retained_heap_bytes", r.retained_heap_bytes >= 0 ? Json(r.retained_heap_bytes) : Json());
          row.set("kflops_total", r.kflops_total);
          row.set("dot_products_mean", r.dot_products_mean);
          row.set("collision_density", r.collision_density_mean);
          h.time.push_back({double(n), r.time_s_min});
          if (r.peak_memory_bytes > 0) h.mem.push_back({double(n), r.peak_memory_bytes});
        } catch (const std::bad_alloc&) {
          h.stop = "out of memory at a smaller n";
          row.set("status", "error");
          row.set("reason", "out of memory");
        } catch (const std::exception& e) {
          row.set("status", "error");
          row.set("reason", e.what());
        }
        rows.push_back(row);
      }
    }
  }
  Json j = Json::object();
  j.set("batch", cfg.B); j.set("heads", cfg.H); j.set("head_dim", cfg.D);
  j.set("min_seq", cfg.min_seq); j.set("max_seq", cfg.max_seq);
  j.set("budget_s", cfg.budget_s);
  j.set("memory_limit_bytes", mem_limit);
  j.set("elapsed_s", elapsed());
  j.set("rows", rows);
  return j;
}

}  // namespace lshlab
