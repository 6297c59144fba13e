/*
 * adamw.cc: the optimiser step, clipping and schedule (see adamw.h). Parameter tensors are
 * updated in parallel chunks; the math per element is exactly torch.optim.AdamW's.
 */
#include "train/adamw.h"

#include <algorithm>
#include <cmath>

#include "core/threadpool.h"

namespace lshlab {

double linear_schedule_lr(const TrainConfig& tc, int64_t step) {
  if (tc.warmup_steps > 0 && step < tc.warmup_steps)
    return tc.lr * double(step) / double(tc.warmup_steps);
  if (tc.total_steps <= 0) return tc.lr;
  const double rest = double(tc.total_steps - step) / double(std::max<int64_t>(1, tc.total_steps - tc.warmup_steps));
  return tc.lr * std::max(0.0, rest);
}

double grad_global_norm(const ParamSet<float>& ps) {
  double s = 0;
  for (const auto& pi : ps.infos) {
    const float* g = ps.grad.data() + pi.offset;
    for (size_t i = 0; i < pi.size; i++) s += double(g[i]) * g[i];
  }
  return std::sqrt(s);
}

void clip_grad_norm(ParamSet<float>& ps, double norm, double max_norm) {
  if (max_norm <= 0) return;
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return;
  const float c = float(coef);
  for (const auto& pi : ps.infos) {
    float* g = ps.grad.data() + pi.offset;
    for (size_t i = 0; i < pi.size; i++) g[i] *= c;
  }
}

void adamw_update(ParamSet<float>& ps, AdamWState& st, const TrainConfig& tc, double lr) {
  st.t++;
  const double bc1 = 1.0 - std::pow(tc.beta1, double(st.t));
  const double bc2 = 1.0 - std::pow(tc.beta2, double(st.t));
  const float b1 = float(tc.beta1), b2 = float(tc.beta2);
  const float step_size = float(lr / bc1);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  const float eps = float(tc.eps);
  ThreadPool& pool = ThreadPool::global();
  const size_t chunk = 1 << 16;
  for (const auto& pi : ps.infos) {
    const float decay = pi.decay ? float(1.0 - lr * tc.weight_decay) : 1.0f;
    float* p = ps.data.data() + pi.offset;
    const float* g = ps.grad.data() + pi.offset;
    float* m = st.m.data() + pi.offset;
    float* v = st.v.data() + pi.offset;
    const int tasks = int((pi.size + chunk - 1) / chunk);
    auto run = [&](int t) {
      const size_t b = size_t(t) * chunk, e = std::min(pi.size, b + chunk);
      for (size_t i = b; i < e; i++) {
        p[i] *= decay;
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        const float denom = std::sqrt(v[i]) * inv_sqrt_bc2 + eps;
        p[i] -= step_size * m[i] / denom;
      }
    };
    if (tasks > 1) pool.parallel_for(tasks, run); else run(0);
  }
}

}  // namespace lshlab
