/*
 * yoso_avx2.cc: AVX2/FMA inner loops of the LSH half of YOSO (yoso_lsh.cc picks them at run time
 * when cpu_info() reports avx2 and fma, float, D a multiple of 8; the portable loops there are the
 * fallback and the reference). One (b, h) slice per call:
 *   cumulate_group  for a group of hashes: Table_u[kslot_u(j)] += v_j (keys in order), then
 *                   out_i += sum_u Table_u[qslot_u(i)]
 *   bucket_pairs    the surrogate dq/dk of one bucket: per query i, s_j = w (g_i.v_j) over the
 *                   bucket's keys, dq_i += sum_j s_j k_j; then per key dk_j += sum_i s_ij q_i.
 *                   Rows come from interleaved q|g and k|v copies (one padded row per token), so
 *                   each member costs one contiguous read however the bucket is scattered.
 *   codes_from_proj sign bits of bit-major projections -> tau-bit codes, 8 hashes per compare
 * Summation order is fixed by the data (never by threads), so results are bit-reproducible.
 */
#include <immintrin.h>

#include <cstdint>

namespace lshlab {
namespace yoso_detail {

namespace {
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// Four horizontal sums at once: {hsum(a), hsum(b), hsum(c), hsum(d)}.
inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
  const __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// DC = D when known at compile time (0 = runtime D). D % 8 == 0. QG rows are q_i | g_i and KV
// rows k_j | v_j (row stride ld >= 2D); the bucket's members are Qc (nq) and Kc (nk); dq, dk
// have row stride D. S: nq * nk floats of scratch.
template <int DC>
void pairs_impl(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
                const float* KV, int64_t ld, float* dq, float* dk, int Dr, float w, float* S) {
  const int D = DC ? DC : Dr;
  for (int a = 0; a < nq; a++) {
    const float* gi = QG + Qc[a] * ld + D;
    float* dqi = dq + int64_t(Qc[a]) * D;
    float* s = S + int64_t(a) * nk;  // s_j = w (g_i . v_j), four keys at a time, two chains each
    int c = 0;
    for (; c + 4 <= nk; c += 4) {
      const float *v0 = KV + Kc[c] * ld + D, *v1 = KV + Kc[c + 1] * ld + D,
                  *v2 = KV + Kc[c + 2] * ld + D, *v3 = KV + Kc[c + 3] * ld + D;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0,
             b3 = a0;
      int d = 0;
      for (; d + 16 <= D; d += 16) {
        const __m256 g0 = _mm256_loadu_ps(gi + d), g1 = _mm256_loadu_ps(gi + d + 8);
        a0 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v0 + d), a0);
        a1 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v1 + d), a1);
        a2 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v2 + d), a2);
        a3 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v3 + d), a3);
        b0 = _mm256_fmadd_ps(g1, _mm256_loadu_ps(v0 + d + 8), b0);
        b1 = _mm256_fmadd_ps(g1, _mm256_loadu_ps(v1 + d + 8), b1);
        b2 = _mm256_fmadd_ps(g1, _mm256_loadu_ps(v2 + d + 8), b2);
        b3 = _mm256_fmadd_ps(g1, _mm256_loadu_ps(v3 + d + 8), b3);
      }
      for (; d < D; d += 8) {
        const __m256 g0 = _mm256_loadu_ps(gi + d);
        a0 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v0 + d), a0);
        a1 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v1 + d), a1);
        a2 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v2 + d), a2);
        a3 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(v3 + d), a3);
      }
      const __m128 r = hsum4(_mm256_add_ps(a0, b0), _mm256_add_ps(a1, b1),
                             _mm256_add_ps(a2, b2), _mm256_add_ps(a3, b3));
      _mm_storeu_ps(s + c, _mm_mul_ps(r, _mm_set1_ps(w)));
    }
    for (; c < nk; c++) {
      const float* vj = KV + Kc[c] * ld + D;
      __m256 a0 = _mm256_setzero_ps(), b0 = a0;
      int d = 0;
      for (; d + 16 <= D; d += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(gi + d), _mm256_loadu_ps(vj + d), a0);
        b0 = _mm256_fmadd_ps(_mm256_loadu_ps(gi + d + 8), _mm256_loadu_ps(vj + d + 8), b0);
      }
      for (; d < D; d += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(gi + d), _mm256_loadu_ps(vj + d), a0);
      s[c] = w * hsum(_mm256_add_ps(a0, b0));
    }
    // dq_i += sum_j s_j k_j, in 64-float column chunks held in registers.
    for (int d0 = 0; d0 < D; d0 += 64) {
      const int nv = (D - d0) >= 64 ? 8 : (D - d0) / 8;
      __m256 acc[8];
      for (int u = 0; u < 8; u++) acc[u] = _mm256_setzero_ps();
      for (int j = 0; j < nk; j++) {
        const __m256 sj = _mm256_broadcast_ss(s + j);
        const float* kj = KV + Kc[j] * ld + d0;
        for (int u = 0; u < 8; u++) {
          if (u >= nv) break;
          acc[u] = _mm256_fmadd_ps(sj, _mm256_loadu_ps(kj + 8 * u), acc[u]);
        }
      }
      for (int u = 0; u < nv; u++)
        _mm256_storeu_ps(dqi + d0 + 8 * u,
                         _mm256_add_ps(_mm256_loadu_ps(dqi + d0 + 8 * u), acc[u]));
    }
  }
  // dk_j += sum_i S_ij q_i, queries in bucket order.
  for (int j = 0; j < nk; j++) {
    float* dkj = dk + int64_t(Kc[j]) * D;
    for (int d0 = 0; d0 < D; d0 += 64) {
      const int nv = (D - d0) >= 64 ? 8 : (D - d0) / 8;
      __m256 acc[8];
      for (int u = 0; u < 8; u++) acc[u] = _mm256_setzero_ps();
      for (int a = 0; a < nq; a++) {
        const __m256 sa = _mm256_broadcast_ss(S + int64_t(a) * nk + j);
        const float* qa = QG + Qc[a] * ld + d0;
        for (int u = 0; u < 8; u++) {
          if (u >= nv) break;
          acc[u] = _mm256_fmadd_ps(sa, _mm256_loadu_ps(qa + 8 * u), acc[u]);
        }
      }
      for (int u = 0; u < nv; u++)
        _mm256_storeu_ps(dkj + d0 + 8 * u,
                         _mm256_add_ps(_mm256_loadu_ps(dkj + d0 + 8 * u), acc[u]));
    }
  }
}
}  // namespace

void bucket_pairs_avx2(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
                       const float* KV, int64_t ld, float* dq, float* dk, int D, float w,
                       float* S) {
  if (D == 64) pairs_impl<64>(Qc, nq, Kc, nk, QG, KV, ld, dq, dk, D, w, S);
  else pairs_impl<0>(Qc, nq, Kc, nk, QG, KV, ld, dq, dk, D, w, S);
}

namespace {
template <int DC>
void cumulate_group_impl(float* tables, const int64_t* toff, int g, float* out, const float* val,
                         int ldv, const int32_t* kslot, const int32_t* qslot, int n, int Dr) {
  const int D = DC ? DC : Dr;
  constexpr int PF = 16;  // prefetch distance (rows) for the random table accesses
  for (int u = 0; u < g; u++) {
    const int32_t* ks = kslot + int64_t(u) * n;
    float* tb = tables + toff[u] * D;
    for (int j = 0; j < n; j++) {
      if (j + PF < n && ks[j + PF] >= 0) {
        const char* pf = reinterpret_cast<const char*>(tb + int64_t(ks[j + PF]) * D);
        for (int o = 0; o < D * 4; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
      }
      if (ks[j] < 0) continue;
      float* t = tb + int64_t(ks[j]) * D;
      const float* v = val + int64_t(j) * ldv;
      for (int d = 0; d < D; d += 8)
        _mm256_storeu_ps(t + d, _mm256_add_ps(_mm256_loadu_ps(t + d), _mm256_loadu_ps(v + d)));
    }
  }
  for (int i = 0; i < n; i++) {
    if (i + PF < n)
      for (int u = 0; u < g; u++) {
        const int32_t q = qslot[int64_t(u) * n + i + PF];
        if (q < 0) continue;
        const char* pf = reinterpret_cast<const char*>(tables + (toff[u] + q) * D);
        for (int o = 0; o < D * 4; o += 64) _mm_prefetch(pf + o, _MM_HINT_T0);
      }
    float* o = out + int64_t(i) * D;
    for (int d0 = 0; d0 < D; d0 += 64) {
      const int nv = (D - d0) >= 64 ? 8 : (D - d0) / 8;
      __m256 acc[8];
      for (int w = 0; w < 8; w++) acc[w] = _mm256_setzero_ps();
      for (int u = 0; u < g; u++) {
        const int32_t q = qslot[int64_t(u) * n + i];
        if (q < 0) continue;
        const float* t = tables + (toff[u] + q) * D + d0;
        for (int w = 0; w < 8; w++) {
          if (w >= nv) break;
          acc[w] = _mm256_add_ps(acc[w], _mm256_loadu_ps(t + 8 * w));
        }
      }
      for (int w = 0; w < nv; w++)
        _mm256_storeu_ps(o + d0 + 8 * w, _mm256_add_ps(_mm256_loadu_ps(o + d0 + 8 * w), acc[w]));
    }
  }
}
}  // namespace

// A group of g hash functions at once: Table_u[kslot_u[j]] += v_j (tables at toff[u] rows of
// `tables`, zeroed by the caller), then out_i += sum_u Table_u[qslot_u[i]] (u in order), so out
// is read and written once per group, not once per hash. kslot, qslot: g rows of n.
void cumulate_group_avx2(float* tables, const int64_t* toff, int g, float* out, const float* val,
                         int ldv, const int32_t* kslot, const int32_t* qslot, int n, int D) {
  if (D == 64) cumulate_group_impl<64>(tables, toff, g, out, val, ldv, kslot, qslot, n, D);
  else cumulate_group_impl<0>(tables, toff, g, out, val, ldv, kslot, qslot, n, D);
}

// codes[hh * ldc + r] (r < rows, hh < m) <- sum_t [proj[r, t * m + hh] > 0] 2^t: proj rows hold
// the projections bit-major (column t * m + hh), so 8 hashes' bit t are one vector compare.
void codes_from_proj_avx2(int32_t* codes, int64_t ldc, const float* proj, int rows, int m,
                          int tau) {
  const int cols = m * tau;
  const __m256 zero = _mm256_setzero_ps();
  for (int r = 0; r < rows; r++) {
    const float* p = proj + int64_t(r) * cols;
    int hh = 0;
    for (; hh + 8 <= m; hh += 8) {
      __m256i c = _mm256_setzero_si256();
      for (int t = 0; t < tau; t++) {
        const __m256 gt = _mm256_cmp_ps(_mm256_loadu_ps(p + t * m + hh), zero, _CMP_GT_OQ);
        c = _mm256_or_si256(c, _mm256_and_si256(_mm256_castps_si256(gt), _mm256_set1_epi32(1 << t)));
      }
      alignas(32) int32_t out[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), c);
      for (int u = 0; u < 8; u++) codes[int64_t(hh + u) * ldc + r] = out[u];
    }
    for (; hh < m; hh++) {
      int32_t c = 0;
      for (int t = 0; t < tau; t++) c |= int32_t(p[t * m + hh] > 0) << t;
      codes[int64_t(hh) * ldc + r] = c;
    }
  }
}

}  // namespace yoso_detail
}  // namespace lshlab
