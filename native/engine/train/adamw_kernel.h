/*
 * adamw_kernel.h: AdamW's per-element update over a span, shared by adamw.cc (the scalar loop,
 * the reference) and adamw_avx512.cc (the same operations 16 wide). Internal to train/adamw*.cc
 * and its test. The operation order is torch.optim.AdamW's (adamw.h):
 *   g' = g * grad_scale; p *= decay; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g' g';
 *   p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps)
 */
#pragma once
#include <cmath>
#include <cstddef>

namespace lshlab {
namespace adamw_detail {

struct AdamWConsts {
  float grad_scale, decay, b1, b2, step_size, inv_sqrt_bc2, eps;
};

inline void update_scalar(float* p, const float* g, float* m, float* v, size_t n, const AdamWConsts& k) {
  for (size_t i = 0; i < n; i++) {
    const float gi = g[i] * k.grad_scale;
    p[i] *= k.decay;
    m[i] = k.b1 * m[i] + (1.0f - k.b1) * gi;
    v[i] = k.b2 * v[i] + (1.0f - k.b2) * gi * gi;
    const float denom = std::sqrt(v[i]) * k.inv_sqrt_bc2 + k.eps;
    p[i] -= k.step_size * m[i] / denom;
  }
}

// have_avx512(): compiled with AVX-512F; update_avx512 falls back to the scalar loop otherwise.
bool have_avx512();
void update_avx512(float* p, const float* g, float* m, float* v, size_t n, const AdamWConsts& k);

}  // namespace adamw_detail
}  // namespace lshlab
