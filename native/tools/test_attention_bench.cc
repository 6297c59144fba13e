/*
 * test_attention_bench.cc: native tests of the attention benchmark harness (engine/attention/
 * bench*.cc): the paper's KFLOP arithmetic, the counting and averaging against exact attention's
 * known counts, pairs at an exact angle, the scaling mode's skip logic, and (when the variants'
 * collision functions are built) the collision curves against their theory. Timing values are
 * only checked to be positive: the machine is shared.
 */
#include <cmath>
#include <string>

#include "attention/bench.h"
#include "test_registry.h"

using namespace lshlab;

namespace {
bool near(double a, double b, double tol = 1e-9) { return std::fabs(a - b) <= tol * std::max(1.0, std::fabs(b)); }
}  // namespace

LSHLAB_TEST("attention/bench/paper_kflops") {
  // BERT-LSH Table 1: 25.6 (exact QK^T) vs 10.24 (hash projection) KFLOPs at seq 10, 2 heads, D 64.
  LSHLAB_EXPECT(near(paper_kflops_exact(1, 2, 10, 64), 25.6));
  LSHLAB_EXPECT(near(paper_kflops_bert_lsh(1, 2, 10, 64, 2, 1), 10.24));
  // visualizations/lsh-params.txt: 8 bands, 4 hashes -> 163.84; linear in bands*hashes, no table.
  LSHLAB_EXPECT(near(paper_kflops_bert_lsh(1, 2, 10, 64, 8, 4), 163.84));
  LSHLAB_EXPECT(near(paper_kflops_bert_lsh(1, 2, 10, 64, 4, 2), 2 * 2 * 10.24));
}

LSHLAB_TEST("attention/bench/exact_counts") {
  AttentionBenchConfig c;
  c.B = 1; c.T = 16; c.H = 2; c.D = 8;
  c.iters = 3; c.warmup = 1; c.dot_iters = 5;
  const AttentionBenchResult r = run_attention_bench(c);
  const double pairs = 1.0 * 2 * 16 * 16;  // B*H*T^2
  LSHLAB_EXPECT(r.dot_products_mean == pairs);
  LSHLAB_EXPECT(r.dot_products_std == 0);
  LSHLAB_EXPECT(r.pairs == pairs);
  LSHLAB_EXPECT(near(r.collision_density_mean, 1.0));
  LSHLAB_EXPECT(near(r.kflops_total, (2 * pairs * 8 + 5 * pairs + 2 * pairs * 8) / 1e3));
  LSHLAB_EXPECT(r.flops_backward == 0);
  LSHLAB_EXPECT(r.time_s_mean > 0 && r.time_s_min <= r.time_s_mean);
  LSHLAB_EXPECT(r.iters == 3 && r.dot_iters == 5);
  LSHLAB_EXPECT(r.rel_error_vs_exact == 0);  // exact against itself, same inputs
  LSHLAB_EXPECT(std::isnan(r.rel_error_vs_yoso_e));
  Json j = to_json(r);
  LSHLAB_EXPECT(j["dot_products_mean"].as_double() == pairs);
  LSHLAB_EXPECT(j["rel_error_vs_yoso_e"].is_null());
}

LSHLAB_TEST("attention/bench/backward_counts") {
  AttentionBenchConfig c;
  c.B = 2; c.T = 8; c.H = 1; c.D = 4;
  c.iters = 2; c.warmup = 0; c.backward = true;
  const AttentionBenchResult r = run_attention_bench(c);
  const double pairs = 2.0 * 1 * 8 * 8;
  LSHLAB_EXPECT(near(r.flops_backward, pairs * (8.0 * 4 + 4)));
  LSHLAB_EXPECT(near(r.kflops_total, (2 * pairs * 4 * 2 + 5 * pairs + pairs * (8.0 * 4 + 4)) / 1e3));
  LSHLAB_EXPECT(r.grad_rel_error_vs_exact == 0);
}

LSHLAB_TEST("attention/bench/inputs_deterministic") {
  std::vector<float> a(1000), b(1000), c(1000);
  fill_normal(a.data(), a.size(), 7, 1);
  fill_normal(b.data(), b.size(), 7, 1);
  fill_normal(c.data(), c.size(), 7, 2);
  double mean = 0, var = 0;
  for (float x : a) mean += x;
  mean /= a.size();
  for (float x : a) var += (x - mean) * (x - mean);
  var /= a.size();
  LSHLAB_EXPECT(a == b);
  LSHLAB_EXPECT(a != c);
  LSHLAB_EXPECT(std::fabs(mean) < 0.15 && std::fabs(var - 1) < 0.15);
}

LSHLAB_TEST("attention/bench/pair_at_angle") {
  const int D = 64;
  std::vector<double> x(D), y(D);
  for (double a : {0.0, 0.3, 1.5707963267948966, 2.5, 3.141592653589793}) {
    make_pair_at_angle(a, D, 3, 11, x.data(), y.data());
    double xx = 0, yy = 0, xy = 0;
    for (int i = 0; i < D; i++) { xx += x[i] * x[i]; yy += y[i] * y[i]; xy += x[i] * y[i]; }
    LSHLAB_EXPECT(near(xx, 1, 1e-12) && near(yy, 1, 1e-12));
    LSHLAB_EXPECT(std::fabs(xy - std::cos(a)) < 1e-12);
  }
}

LSHLAB_TEST("attention/bench/params_accepted_by") {
  AttentionParams p = {{"bands", "2"}, {"tau", "8"}};
  LSHLAB_EXPECT(params_accepted_by("exact", p).empty());
}

LSHLAB_TEST("attention/bench/scaling_skips") {
  ScalingConfig c;
  c.variants = {"exact"};
  c.min_seq = 128; c.max_seq = 256;
  c.max_memory_gb = 100e3 / (1024.0 * 1024.0 * 1024.0);  // 100 kB: exact at 128 needs 128 KiB
  Json j = run_attention_scaling(c);
  LSHLAB_EXPECT(j["rows"].size() == 4);
  for (const Json& r : j["rows"].items()) {
    LSHLAB_EXPECT(r["status"].as_string() == "skipped");
    LSHLAB_EXPECT(r["reason"].as_string().find("needs") != std::string::npos);
  }
  c.max_memory_gb = 1;
  c.max_seq = 128;
  j = run_attention_scaling(c);
  LSHLAB_EXPECT(j["rows"].size() == 2);
  for (const Json& r : j["rows"].items()) {
    LSHLAB_EXPECT(r["status"].as_string() == "ok");
    LSHLAB_EXPECT(r["time_s_mean"].as_double() > 0);
    LSHLAB_EXPECT(r["dot_products_mean"].as_double() == 2.0 * 128 * 128);
  }
}

#if __has_include("attention/bert_lsh.h") && __has_include("attention/yoso.h")
LSHLAB_TEST("attention/bench/collision_curves") {
  CollisionConfig c;
  c.angles = 4; c.trials = 400;
  Json j = run_collision_curves(c);
  for (const char* fam : {"bert_lsh", "yoso"}) {
    const Json& rows = j[fam]["rows"];
    LSHLAB_EXPECT(rows.size() == 5);
    LSHLAB_EXPECT(rows[0]["empirical"].as_double() == 1.0);  // identical vectors always collide
    LSHLAB_EXPECT(j[fam]["max_abs_z"].as_double() < 5.0);   // within 5 standard errors of theory
  }
}
#endif
