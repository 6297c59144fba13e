/*
 * adamw.cc: the optimiser step, clipping and schedule (see adamw.h). Parameter tensors are
 * updated in parallel chunks; the math per element is exactly torch.optim.AdamW's.
 */
#include "train/adamw.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_info.h"
#include "core/threadpool.h"
#include "train/adamw_kernel.h"

namespace lshlab {

double linear_schedule_lr(const TrainConfig& tc, int64_t step) {
  if (tc.warmup_steps > 0 && step < tc.warmup_steps)
    return tc.lr * double(step) / double(tc.warmup_steps);
  if (tc.total_steps <= 0) return tc.lr;
  const double rest = double(tc.total_steps - step) / double(std::max<int64_t>(1, tc.total_steps - tc.warmup_steps));
  return tc.lr * std::max(0.0, rest);
}

double grad_global_norm(const ParamSet<float>& ps) {
  // Fixed chunks of the flat buffer, summed in parallel, partials added in chunk order.
  const size_t chunk = size_t(1) << 16;
  const size_t n = ps.total;
  const int tasks = int((n + chunk - 1) / chunk);
  static thread_local std::vector<double> partial;
  if (partial.size() < size_t(tasks)) partial.resize(tasks);
  double* part = partial.data();
  const float* g = ps.grad.data();  // alignment gaps between tensors hold zeros
  ThreadPool::global().parallel_for(tasks, [&](int t) {
    const size_t b = size_t(t) * chunk, e = std::min(n, b + chunk);
    double s = 0;
    for (size_t i = b; i < e; i++) s += double(g[i]) * g[i];
    part[t] = s;
  });
  double s = 0;
  for (int t = 0; t < tasks; t++) s += part[t];
  return std::sqrt(s);
}

double clip_coefficient(double norm, double max_norm) {
  if (max_norm <= 0) return 1.0;
  const double coef = max_norm / (norm + 1e-6);
  return coef < 1.0 ? coef : 1.0;
}

void adamw_update(ParamSet<float>& ps, AdamWState& st, const TrainConfig& tc, double lr,
                  double grad_scale) {
  st.t++;
  const double bc1 = 1.0 - std::pow(tc.beta1, double(st.t));
  const double bc2 = 1.0 - std::pow(tc.beta2, double(st.t));
  const float b1 = float(tc.beta1), b2 = float(tc.beta2);
  const float step_size = float(lr / bc1);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  const float eps = float(tc.eps);
  const float gs = float(grad_scale);
  ThreadPool& pool = ThreadPool::global();
  const size_t chunk = 1 << 16;
  // 16 wide where the CPU has AVX-512F: the same float operations per element (adamw_kernel.h).
  static const bool wide = cpu_info().avx512f && adamw_detail::have_avx512();
  for (const auto& pi : ps.infos) {
    const float decay = pi.decay ? float(1.0 - lr * tc.weight_decay) : 1.0f;
    const adamw_detail::AdamWConsts k{gs, decay, b1, b2, step_size, inv_sqrt_bc2, eps};
    float* p = ps.data.data() + pi.offset;
    const float* g = ps.grad.data() + pi.offset;
    float* m = st.m.data() + pi.offset;
    float* v = st.v.data() + pi.offset;
    const int tasks = int((pi.size + chunk - 1) / chunk);
    auto run = [&](int t) {
      const size_t b = size_t(t) * chunk, e = std::min(pi.size, b + chunk);
      if (wide) adamw_detail::update_avx512(p + b, g + b, m + b, v + b, e - b, k);
      else adamw_detail::update_scalar(p + b, g + b, m + b, v + b, e - b, k);
    };
    if (tasks > 1) pool.parallel_for(tasks, run); else run(0);
  }
}

}  // namespace lshlab
