/*
 * bench_collisions.cc: run_collision_curves: empirical collision probability against the angle
 * between two vectors, for bert-lsh (bands, table_size, num_hashes, or/and) and yoso (tau), next to
 * each variant's theory curve. For angle a_k = k*pi/angles (k = 0..angles) it builds `trials` pairs
 * at exactly that angle (make_pair_at_angle) and asks the variant's own collision function whether
 * they collide under a fresh hash draw per pair; p_hat = hits/trials with standard error
 * sqrt(p_hat (1 - p_hat) / trials), and z = (p_hat - theory) / se (se floored at 1/trials so a
 * p_hat of exactly 0 or 1 gives a finite z).
 *
 * The hashing itself is the variants' (bert_lsh_collide / yoso_collide, declared in their
 * headers), so this checks the real code paths, not a re-implementation. Built only when those
 * headers are present (__has_include), so the harness compiles without them.
 */
#include <algorithm>
#include <cmath>
#include <vector>

#include "attention/bench.h"
#include "core/common.h"
#include "core/philox.h"
#include "core/threadpool.h"

#if __has_include("attention/bert_lsh.h")
#include "attention/bert_lsh.h"
#define LSHLAB_BENCH_HAVE_BERT_LSH 1
#endif
#if __has_include("attention/yoso.h")
#include "attention/yoso.h"
#define LSHLAB_BENCH_HAVE_YOSO 1
#endif

namespace lshlab {

namespace {
constexpr double kPi = 3.141592653589793;

void normalize(double* v, int D) {
  double s = 0;
  for (int i = 0; i < D; i++) s += v[i] * v[i];
  s = 1.0 / std::sqrt(s);
  for (int i = 0; i < D; i++) v[i] *= s;
}

using CollideFn = bool (*)(const double*, const double*, int, const CollisionConfig&, uint64_t);

Json curve(const CollisionConfig& cfg, CollideFn collide, double (*theory)(double, const CollisionConfig&)) {
  const int A = cfg.angles + 1;
  std::vector<double> hits(A, 0);
  ThreadPool::global().parallel_for(A, [&](int k) {
    const double angle = kPi * k / cfg.angles;
    std::vector<double> x(cfg.D), y(cfg.D);
    for (int t = 0; t < cfg.trials; t++) {
      const uint64_t idx = uint64_t(k) * uint64_t(cfg.trials) + uint64_t(t);
      make_pair_at_angle(angle, cfg.D, cfg.seed, idx, x.data(), y.data());
      if (collide(x.data(), y.data(), cfg.D, cfg, idx)) hits[k] += 1;
    }
  });
  Json rows = Json::array();
  double max_z = 0;
  for (int k = 0; k < A; k++) {
    const double angle = kPi * k / cfg.angles, n = cfg.trials;
    const double p = hits[k] / n, th = theory(angle, cfg);
    const double se = std::sqrt(p * (1 - p) / n);
    const double z = (p - th) / std::max(se, 1.0 / n);
    max_z = std::max(max_z, std::fabs(z));
    Json r = Json::object();
    r.set("angle", angle);
    r.set("angle_deg", 180.0 * k / cfg.angles);
    r.set("cosine", std::cos(angle));
    r.set("empirical", p);
    r.set("stderr", se);
    r.set("theory", th);
    r.set("z", z);
    rows.push_back(r);
  }
  Json j = Json::object();
  j.set("rows", rows);
  j.set("max_abs_z", max_z);
  return j;
}
}  // namespace

void make_pair_at_angle(double angle, int D, uint64_t seed, uint64_t index, double* x, double* y) {
  LSHLAB_CHECK(D >= 2, "make_pair_at_angle: D must be >= 2");
  const uint32_t stream = uint32_t(Stream::RandomTokens), tag = 0x63000000u;
  std::vector<double> u(D);
  for (;;) {  // retried with the next draw in the (measure-zero) case g2 parallel to g1
    for (int i = 0; i < D; i++) {
      x[i] = philox_normal(seed, stream, tag, index * 2 * uint64_t(D) + i);
      u[i] = philox_normal(seed, stream, tag, index * 2 * uint64_t(D) + D + i);
    }
    normalize(x, D);
    double dot = 0;
    for (int i = 0; i < D; i++) dot += u[i] * x[i];
    double s = 0;
    for (int i = 0; i < D; i++) { u[i] -= dot * x[i]; s += u[i] * u[i]; }
    if (s > 1e-12) break;
    index += uint64_t(1) << 40;
  }
  normalize(u.data(), D);
  const double c = std::cos(angle), sn = std::sin(angle);
  for (int i = 0; i < D; i++) y[i] = c * x[i] + sn * u[i];
}

Json run_collision_curves(const CollisionConfig& cfg) {
  LSHLAB_CHECK(cfg.angles >= 1 && cfg.trials >= 1 && cfg.D >= 2, "bench attention --collisions: bad settings");
  Json j = Json::object();
  j.set("head_dim", cfg.D);
  j.set("angles", cfg.angles);
  j.set("trials", cfg.trials);
  j.set("seed", Json(uint64_t(cfg.seed)));
#ifdef LSHLAB_BENCH_HAVE_BERT_LSH
  {
    Json b = curve(
        cfg,
        [](const double* x, const double* y, int D, const CollisionConfig& c, uint64_t draw) {
          return bert_lsh_collide(x, y, D, c.bands, c.table_size, c.num_hashes, c.combine_and, c.seed, draw);
        },
        [](double a, const CollisionConfig& c) {
          return bert_lsh_collision_theory(a, c.bands, c.table_size, c.num_hashes, c.combine_and);
        });
    b.set("bands", cfg.bands);
    b.set("table_size", cfg.table_size);
    b.set("num_hashes", cfg.num_hashes);
    b.set("combine", cfg.combine_and ? "and" : "or");
    j.set("bert_lsh", b);
  }
#else
  j.set("bert_lsh", "unavailable: attention/bert_lsh.h not in this build");
#endif
#ifdef LSHLAB_BENCH_HAVE_YOSO
  {
    Json y = curve(
        cfg,
        [](const double* x, const double* yv, int D, const CollisionConfig& c, uint64_t draw) {
          return yoso_collide(x, yv, D, c.tau, c.seed, draw);
        },
        [](double a, const CollisionConfig& c) { return yoso_collision_theory(a, c.tau); });
    y.set("tau", cfg.tau);
    j.set("yoso", y);
  }
#else
  j.set("yoso", "unavailable: attention/yoso.h not in this build");
#endif
  return j;
}

}  // namespace lshlab
