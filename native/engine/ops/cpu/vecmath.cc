/*
 * vecmath.cc: run-time dispatch and the portable kernels of vecmath.h.
 */
#include "ops/cpu/vecmath.h"

#include <cmath>

#include "core/cpu_info.h"
#include "ops/cpu/vecmath_poly.h"

namespace lshlab {

namespace {
bool use_avx2() {
  static const bool yes = cpu_info().avx2 && cpu_info().fma;
  return yes;
}
bool use_avx512() {
  static const bool yes = cpu_info().avx512f && cpu_info().fma && vecmath_detail::have_avx512();
  return yes;
}
}  // namespace

double vec_exp_shift_sum(float* out, const float* x, int64_t n, float shift) {
  if (use_avx512()) return vecmath_detail::exp_shift_sum_avx512(out, x, n, shift);
  if (use_avx2()) return vecmath_detail::exp_shift_sum_avx2(out, x, n, shift);
  double s = 0;
  for (int64_t i = 0; i < n; i++) { out[i] = vecmath_detail::expf_poly(x[i] - shift); s += out[i]; }
  return s;
}

double vec_exp_shift_sum(double* out, const double* x, int64_t n, double shift) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) { out[i] = std::exp(x[i] - shift); s += out[i]; }
  return s;
}

float vec_max(const float* x, int64_t n) {
  if (use_avx512()) return vecmath_detail::max_avx512(x, n);
  if (use_avx2()) return vecmath_detail::max_avx2(x, n);
  float m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

double vec_max(const double* x, int64_t n) {
  double m = x[0];
  for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

int64_t vec_index_of(const float* x, int64_t n, float v) {
  if (use_avx2()) return vecmath_detail::index_of_avx2(x, n, v);
  int64_t i = 0;
  while (i < n && x[i] != v) i++;
  return i;
}

int64_t vec_index_of(const double* x, int64_t n, double v) {
  int64_t i = 0;
  while (i < n && x[i] != v) i++;
  return i;
}

void vec_scale(float* x, int64_t n, float k) {
  if (use_avx2()) return vecmath_detail::scale_avx2(x, n, k);
  for (int64_t i = 0; i < n; i++) x[i] *= k;
}

void vec_scale(double* x, int64_t n, double k) {
  for (int64_t i = 0; i < n; i++) x[i] *= k;
}

void vec_gelu_forward(float* out, const float* x, int64_t n) {
  if (use_avx512()) return vecmath_detail::gelu_forward_avx512(out, x, n);
  if (use_avx2()) return vecmath_detail::gelu_forward_avx2(out, x, n);
  for (int64_t i = 0; i < n; i++) out[i] = x[i] * vecmath_detail::normal_cdf(x[i]);
}

void vec_gelu_forward(double* out, const double* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = 0.5 * x[i] * (1.0 + std::erf(x[i] * 0.70710678118654752440));
}

void vec_gelu_backward(float* dx, const float* dout, const float* x, int64_t n) {
  if (use_avx512()) return vecmath_detail::gelu_backward_avx512(dx, dout, x, n);
  if (use_avx2()) return vecmath_detail::gelu_backward_avx2(dx, dout, x, n);
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const float pdf = 0.3989422804014327f * vecmath_detail::expf_poly(-0.5f * v * v);
    dx[i] = dout[i] * (vecmath_detail::normal_cdf(v) + v * pdf);
  }
}

void vec_gelu_backward(double* dx, const double* dout, const double* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double v = x[i];
    const double cdf = 0.5 * (1.0 + std::erf(v * 0.70710678118654752440));
    const double pdf = 0.39894228040143267794 * std::exp(-0.5 * v * v);
    dx[i] = dout[i] * (cdf + v * pdf);
  }
}

}  // namespace lshlab
