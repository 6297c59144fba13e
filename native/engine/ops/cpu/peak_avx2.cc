/*
 * peak_avx2.cc: the AVX2 FMA loop behind measure_peak_fma (see peak.h); 12 independent
 * accumulators cover FMA latency (4 cycles) times 2 pipes with room to spare.
 */
#include <immintrin.h>

#include "ops/cpu/peak.h"

namespace lshlab {
namespace peak_detail {

float fma_loop_avx2(long iters) {
  __m256 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps(0.001f * float(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iters; it++)
    for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
  __m256 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

}  // namespace peak_detail
}  // namespace lshlab
