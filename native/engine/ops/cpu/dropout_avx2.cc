/*
 * dropout_avx2.cc: AVX2 versions of the dropout hot loops of ops.cc, chosen at run time when
 * the CPU has AVX2 (ops.cc keeps the scalar forms as the reference):
 *
 *   dropout_mask_avx2:  keep[i] for elements [4 b0, 4 b1) of the site's stream: Philox-4x32-10
 *                       on 8 counter blocks at once (structure of arrays, one 32-bit lane per
 *                       block), the same bits as Philox4x32::generate; ~4% of a BERT-tiny step
 *                       was the scalar rounds.
 *   dropout_apply_avx2: out[i] = keep[i] ? x[i] * scale : 0 (forward and backward alike).
 *
 * The 32x32 -> 64-bit products of a round: _mm256_mul_epu32 multiplies the even lanes; the odd
 * lanes are shifted down and multiplied separately; low halves by _mm256_mullo_epi32.
 */
#include <immintrin.h>

#include <cstdint>

#include "core/philox.h"

namespace lshlab {
namespace dropout_detail {

namespace {

// hi and lo 32 bits of m * c in each 32-bit lane.
inline void mul_hi_lo(__m256i c, __m256i m, __m256i* hi, __m256i* lo) {
  const __m256i even = _mm256_mul_epu32(c, m);                              // lanes 0,2,4,6 (64-bit)
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);        // lanes 1,3,5,7
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  *lo = _mm256_mullo_epi32(c, m);
}

}  // namespace

void dropout_mask_avx2(uint8_t* keep, int64_t n, int64_t b0, int64_t b1, uint64_t base,
                       uint32_t stream, uint32_t step, uint32_t threshold, uint64_t seed) {
  const __m256i m0 = _mm256_set1_epi32(int(0xD2511F53u)), m1 = _mm256_set1_epi32(int(0xCD9E8D57u));
  // Unsigned >= on 24-bit values (the uniforms are shifted down by 8): signed compare is exact.
  const __m256i thr = _mm256_set1_epi32(int(threshold) - 1);
  int64_t blk = b0;
  for (; blk + 8 <= b1 && (blk + 8) * 4 <= n; blk += 8) {
    alignas(32) uint32_t c0[8], c1[8];
    for (int j = 0; j < 8; j++) {
      const uint64_t idx = base + uint64_t(blk + j) * 4;
      c0[j] = uint32_t(idx >> 2);
      c1[j] = uint32_t(idx >> 34);
    }
    __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(c0));
    __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(c1));
    __m256i x2 = _mm256_set1_epi32(int(stream)), x3 = _mm256_set1_epi32(int(step));
    uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
    for (int r = 0; r < 10; r++) {
      __m256i hi0, lo0, hi1, lo1;
      mul_hi_lo(x0, m0, &hi0, &lo0);
      mul_hi_lo(x2, m1, &hi1, &lo1);
      const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, x1), _mm256_set1_epi32(int(k0)));
      const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, x3), _mm256_set1_epi32(int(k1)));
      x0 = n0; x1 = lo1; x2 = n2; x3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    // Lane l of block j is element 4 (blk + j) + l.
    const __m256i words[4] = {x0, x1, x2, x3};
    int bits[4];
    for (int l = 0; l < 4; l++)
      bits[l] = _mm256_movemask_ps(_mm256_castsi256_ps(
          _mm256_cmpgt_epi32(_mm256_srli_epi32(words[l], 8), thr)));
    uint8_t* out = keep + blk * 4;
    for (int j = 0; j < 8; j++)
      for (int l = 0; l < 4; l++) out[j * 4 + l] = uint8_t((bits[l] >> j) & 1);
  }
  for (; blk < b1; blk++) {  // the tail: the scalar form
    const uint64_t idx = base + uint64_t(blk) * 4;
    uint32_t ctr[4] = {uint32_t(idx >> 2), uint32_t(idx >> 34), stream, step};
    Philox4x32::generate(ctr, seed);
    for (int l = 0; l < 4; l++) {
      const int64_t i = blk * 4 + l;
      if (i < n) keep[i] = (ctr[l] >> 8) >= threshold ? 1 : 0;
    }
  }
}

void dropout_apply_avx2(float* out, const float* x, const uint8_t* keep, float scale, int64_t b,
                        int64_t e) {
  const __m256 s = _mm256_set1_ps(scale);
  int64_t i = b;
  for (; i + 8 <= e; i += 8) {
    const __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(keep + i)));
    const __m256 on = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, _mm256_setzero_si256()));
    _mm256_storeu_ps(out + i, _mm256_and_ps(on, _mm256_mul_ps(_mm256_loadu_ps(x + i), s)));
  }
  for (; i < e; i++) out[i] = keep[i] ? x[i] * scale : 0.f;
}

}  // namespace dropout_detail
}  // namespace lshlab
