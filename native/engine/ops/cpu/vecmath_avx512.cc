/*
 * vecmath_avx512.cc: AVX-512F versions of the vecmath.h kernels, 16 floats at a time: the same
 * polynomials and operation order per element as vecmath_avx2.cc (so each element's value is the
 * same bits), tails in the scalar forms of vecmath_poly.h. Only exp_shift_sum's double sum
 * differs in order (16 lane partials instead of 8). Chosen by vecmath.cc when the CPU reports
 * AVX-512F; compiled with -mavx512f (a build without it leaves the functions absent).
 */
#include "ops/cpu/vecmath.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

#include "ops/cpu/vecmath_poly.h"

namespace lshlab {
namespace vecmath_detail {

namespace {

inline __m512 exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.33654f);
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
  x = _mm512_max_ps(x, lo);
  x = _mm512_min_ps(x, _mm512_set1_ps(88.72283f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  const __m512 res = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
  return _mm512_maskz_mov_ps(__mmask16(~underflow), res);
}

// Normal CDF Phi(x) via erfc of |x|/sqrt(2).
inline __m512 cdf16(__m512 x) {
  const __m512 z = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), z, one));
  __m512 p = _mm512_set1_ps(0.17087277f);
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
  p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
  const __m512 e = exp16(_mm512_fnmadd_ps(z, z, p));  // exp(-z^2 + P(t))
  const __m512 c = _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_mul_ps(t, e));
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(neg, _mm512_sub_ps(one, c), c);
}

}  // namespace

bool have_avx512() { return true; }

double exp_shift_sum_avx512(float* out, const float* x, int64_t n, float shift) {
  const __m512 s = _mm512_set1_ps(shift);
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), s));
    _mm512_storeu_ps(out + i, e);
    acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  double sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
  for (; i < n; i++) { out[i] = expf_poly(x[i] - shift); sum += out[i]; }
  return sum;
}

float max_avx512(const float* x, int64_t n) {
  int64_t i = 0;
  float m = x[0];
  if (n >= 16) {
    __m512 v = _mm512_loadu_ps(x);
    for (i = 16; i + 16 <= n; i += 16) v = _mm512_max_ps(v, _mm512_loadu_ps(x + i));
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, v);
    for (float l : lanes) m = l > m ? l : m;
  }
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

void gelu_forward_avx512(float* out, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(v, cdf16(v)));
  }
  for (; i < n; i++) out[i] = x[i] * normal_cdf(x[i]);
}

void gelu_backward_avx512(float* dx, const float* dout, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    const __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(0.3989422804014327f),
                                     exp16(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(v, v))));
    const __m512 g = _mm512_fmadd_ps(v, pdf, cdf16(v));
    _mm512_storeu_ps(dx + i, _mm512_mul_ps(_mm512_loadu_ps(dout + i), g));
  }
  for (; i < n; i++) {
    const float v = x[i];
    const float pdf = 0.3989422804014327f * expf_poly(-0.5f * v * v);
    dx[i] = dout[i] * (normal_cdf(v) + v * pdf);
  }
}

}  // namespace vecmath_detail
}  // namespace lshlab

#else

namespace lshlab {
namespace vecmath_detail {
bool have_avx512() { return false; }
double exp_shift_sum_avx512(float*, const float*, int64_t, float) { return 0; }
float max_avx512(const float*, int64_t) { return 0; }
void gelu_forward_avx512(float*, const float*, int64_t) {}
void gelu_backward_avx512(float*, const float*, const float*, int64_t) {}
}  // namespace vecmath_detail
}  // namespace lshlab

#endif
