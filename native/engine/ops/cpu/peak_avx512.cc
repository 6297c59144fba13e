/*
 * peak_avx512.cc: the AVX-512 FMA loop behind measure_peak_fma (see peak.h), used when the GEMM
 * runs its AVX-512 kernel: on CPUs with two 512-bit FMA units (most Xeons) its peak is twice the
 * AVX2 loop's, so an AVX2 yardstick would overstate the GEMM's fraction of peak there. 12
 * independent accumulators, as the AVX2 loop.
 */
#include "ops/cpu/peak.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

namespace lshlab {
namespace peak_detail {

bool have_fma_loop_avx512() { return true; }

float fma_loop_avx512(long iters) {
  __m512 a[12];
  for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(0.001f * float(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (long it = 0; it < iters; it++)
    for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
  __m512 s = a[0];
  for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace peak_detail
}  // namespace lshlab

#else  // compiled without AVX-512 flags (e.g. MSVC without /arch:AVX512): the loop is absent

namespace lshlab {
namespace peak_detail {
bool have_fma_loop_avx512() { return false; }
float fma_loop_avx512(long) { return 0.f; }
}  // namespace peak_detail
}  // namespace lshlab

#endif
