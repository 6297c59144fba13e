/*
 * vecmath.h: vectorised float kernels for the element-wise hot spots of a training step: the
 * exponentials of softmax/cross-entropy rows and erf-GELU. An AVX-512 (vecmath_avx512.cc) or
 * AVX2+FMA version (vecmath_avx2.cc) is chosen at run time when the CPU has it, a portable one
 * (vecmath.cc) otherwise. Both use the
 * same polynomial approximations (exp: Cephes-style range reduction, ~1 ulp; erfc: Numerical
 * Recipes' Chebyshev fit, relative error < 1.2e-7), so results do not depend on the kernel beyond
 * rounding. The double overloads call libm: gradient checks see exact functions.
 */
#pragma once
#include <cstdint>

namespace lshlab {

// out[i] = exp(x[i] - shift); returns the sum of out (accumulated in double). out may alias x.
double vec_exp_shift_sum(float* out, const float* x, int64_t n, float shift);
double vec_exp_shift_sum(double* out, const double* x, int64_t n, double shift);

// Largest element of x[0..n), n >= 1.
float vec_max(const float* x, int64_t n);
double vec_max(const double* x, int64_t n);

// First i with x[i] == v, or n when there is none (v NaN, or not an element).
int64_t vec_index_of(const float* x, int64_t n, float v);
int64_t vec_index_of(const double* x, int64_t n, double v);

// x[i] *= k.
void vec_scale(float* x, int64_t n, float k);
void vec_scale(double* x, int64_t n, double k);

// erf-GELU forward (out may alias x) and backward (dx = dout * gelu'(x), dx may alias dout).
void vec_gelu_forward(float* out, const float* x, int64_t n);
void vec_gelu_forward(double* out, const double* x, int64_t n);
void vec_gelu_backward(float* dx, const float* dout, const float* x, int64_t n);
void vec_gelu_backward(double* dx, const double* dout, const double* x, int64_t n);

namespace vecmath_detail {
// The AVX2 implementations (defined in vecmath_avx2.cc, compiled with -mavx2 -mfma).
double exp_shift_sum_avx2(float* out, const float* x, int64_t n, float shift);
float max_avx2(const float* x, int64_t n);
int64_t index_of_avx2(const float* x, int64_t n, float v);
void scale_avx2(float* x, int64_t n, float k);
void gelu_forward_avx2(float* out, const float* x, int64_t n);
void gelu_backward_avx2(float* dx, const float* dout, const float* x, int64_t n);
// The AVX-512F implementations (vecmath_avx512.cc); have_avx512() is false where not compiled.
bool have_avx512();
double exp_shift_sum_avx512(float* out, const float* x, int64_t n, float shift);
float max_avx512(const float* x, int64_t n);
void gelu_forward_avx512(float* out, const float* x, int64_t n);
void gelu_backward_avx512(float* dx, const float* dout, const float* x, int64_t n);
}  // namespace vecmath_detail

}  // namespace lshlab
