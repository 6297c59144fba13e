/*
 * bert_lsh_avx2.cc: the AVX2 kernel of BERT-LSH's bucket projection (compiled with -mavx2 -mfma,
 * chosen at run time by bert_lsh_hash.cc). Same operations, in the same order, as the SSE2 path
 * (multiply then add, no FMA: the engine builds with -std=c++17, so nothing is contracted), so the
 * bucket of a row does not depend on the kernel.
 */
#include <immintrin.h>

namespace lshlab {
namespace bert_lsh_detail {

// Projections r . x and q . x in double of a float row: accumulators over d mod 8 in 2-wide
// pairs (0,1) (2,3) (4,5) (6,7), summed ((p01 + p23) + (p45 + p67)), then lane 0 + lane 1, then
// the scalar tail, exactly as the SSE2 code.
void project2_avx2(const double* r, const double* q, const float* x, int D, double& pr, double& pq) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, b0 = a0, b1 = a0;
  int d = 0;
  for (; d + 7 < D; d += 8) {
    const __m256d y0 = _mm256_cvtps_pd(_mm_loadu_ps(x + d)), y1 = _mm256_cvtps_pd(_mm_loadu_ps(x + d + 4));
    a0 = _mm256_add_pd(a0, _mm256_mul_pd(_mm256_loadu_pd(r + d), y0));
    a1 = _mm256_add_pd(a1, _mm256_mul_pd(_mm256_loadu_pd(r + d + 4), y1));
    b0 = _mm256_add_pd(b0, _mm256_mul_pd(_mm256_loadu_pd(q + d), y0));
    b1 = _mm256_add_pd(b1, _mm256_mul_pd(_mm256_loadu_pd(q + d + 4), y1));
  }
  const __m128d ta = _mm_add_pd(_mm_add_pd(_mm256_castpd256_pd128(a0), _mm256_extractf128_pd(a0, 1)),
                                _mm_add_pd(_mm256_castpd256_pd128(a1), _mm256_extractf128_pd(a1, 1)));
  const __m128d tb = _mm_add_pd(_mm_add_pd(_mm256_castpd256_pd128(b0), _mm256_extractf128_pd(b0, 1)),
                                _mm_add_pd(_mm256_castpd256_pd128(b1), _mm256_extractf128_pd(b1, 1)));
  alignas(16) double l[2], m[2];
  _mm_store_pd(l, ta);
  _mm_store_pd(m, tb);
  double acc = l[0] + l[1], acq = m[0] + m[1];
  for (; d < D; d++) { acc += r[d] * double(x[d]); acq += q[d] * double(x[d]); }
  pr = acc;
  pq = acq;
}

}  // namespace bert_lsh_detail
}  // namespace lshlab
