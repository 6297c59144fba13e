/*
 * vecmath_poly.h: the scalar forms of vecmath's approximations, written once as templates over a
 * "vector" type V with the operations both the portable (V = float) and the AVX2 code use, so the
 * two kernels compute the same polynomials. Internal to vecmath*.cc.
 */
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace lshlab {
namespace vecmath_detail {

// exp(x) for float x, Cephes expf: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial,
// 2^n by building the exponent bits. Inputs below -87.3 give 0, above 88.7 give +inf.
inline float expf_poly(float x) {
  if (x < -87.33654f) return 0.0f;
  if (x > 88.72283f) return INFINITY;
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  if (n < -126) {  // subnormal results: scale in two steps
    bits = (int32_t(n) + 127 + 64) << 23;
    std::memcpy(&scale, &bits, 4);
    return p * scale * 5.421010862427522e-20f;  // 2^-64
  }
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// erfc(z) for z >= 0 (Numerical Recipes erfcc): t = 1/(1 + z/2), erfc = t exp(-z^2 + P(t)).
inline float erfc_pos(float z) {
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  return t * expf_poly(-z * z + p);
}

// Phi(x) = (1 + erf(x / sqrt 2)) / 2, accurate in the tails.
inline float normal_cdf(float x) {
  const float z = std::fabs(x) * 0.70710678118654752f;
  const float c = 0.5f * erfc_pos(z);
  return x >= 0 ? 1.0f - c : c;
}

}  // namespace vecmath_detail
}  // namespace lshlab
