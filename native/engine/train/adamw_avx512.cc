/*
 * adamw_avx512.cc: AdamW's per-element update (adamw.cc) 16 wide, for CPUs with AVX-512F. Each
 * lane does adamw.cc's float operations in its order, as separate multiplies and adds (no FMA:
 * the file is built with -ffp-contract=off, see native/CMakeLists.txt), and IEEE sqrt and
 * division are correctly rounded, so the result is the scalar loop's, bit for bit (test
 * train/adamw_avx512_equals_the_scalar_update). Tails use the scalar loop.
 */
#include <cstddef>

#include "train/adamw_kernel.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace lshlab {
namespace adamw_detail {

bool have_avx512() { return true; }

void update_avx512(float* p, const float* g, float* m, float* v, size_t n, const AdamWConsts& k) {
  const __m512 gs = _mm512_set1_ps(k.grad_scale), decay = _mm512_set1_ps(k.decay);
  const __m512 b1 = _mm512_set1_ps(k.b1), b2 = _mm512_set1_ps(k.b2);
  const __m512 c1 = _mm512_set1_ps(1.0f - k.b1), c2 = _mm512_set1_ps(1.0f - k.b2);
  const __m512 inv = _mm512_set1_ps(k.inv_sqrt_bc2), eps = _mm512_set1_ps(k.eps);
  const __m512 step = _mm512_set1_ps(k.step_size);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), gs);
    const __m512 pi = _mm512_mul_ps(_mm512_loadu_ps(p + i), decay);
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_loadu_ps(m + i)), _mm512_mul_ps(c1, gi));
    const __m512 vi = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_loadu_ps(v + i)),
                                    _mm512_mul_ps(_mm512_mul_ps(c2, gi), gi));
    const __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vi), inv), eps);
    _mm512_storeu_ps(m + i, mi);
    _mm512_storeu_ps(v + i, vi);
    _mm512_storeu_ps(p + i, _mm512_sub_ps(pi, _mm512_div_ps(_mm512_mul_ps(step, mi), denom)));
  }
  update_scalar(p + i, g + i, m + i, v + i, n - i, k);
}

}  // namespace adamw_detail
}  // namespace lshlab

#else

namespace lshlab {
namespace adamw_detail {
bool have_avx512() { return false; }
void update_avx512(float* p, const float* g, float* m, float* v, size_t n, const AdamWConsts& k) {
  update_scalar(p, g, m, v, n, k);
}
}  // namespace adamw_detail
}  // namespace lshlab

#endif
