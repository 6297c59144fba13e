/*
 * yoso_avx512.cc: AVX-512F inner loop of the surrogate LSH backward of YOSO (yoso_lsh.cc picks it
 * at run time when cpu_info() reports avx512f and fma, float, D a multiple of 16; otherwise the
 * AVX2 kernel in yoso_avx2.cc or the portable loops). Same contract as bucket_pairs_avx2: for one
 * bucket with queries Qc (nq) and keys Kc (nk), S_ac = w (g_a . v_c), dq_a += sum_c S_ac k_c,
 * dk_c += sum_a S_ac q_a, rows from the interleaved q|g and k|v copies (row stride ld >= 2D).
 * Register blocking is what makes it faster than the AVX2 loop: on Zen 4 a zmm load costs as much
 * as a zmm FMA, so each loaded row serves several FMAs:
 *   S    2 queries x 4 keys per block (g rows held in registers, 2 FMAs per v load)
 *   dq   4 queries per block, each k_c load feeds 4 FMAs
 *   dk   4 keys per block, each q_a load feeds 4 FMAs
 * Summation order is fixed by the data (bucket member order), never by threads.
 */
#include <immintrin.h>

#include <cstdint>

namespace lshlab {
namespace yoso_detail {

namespace {

inline float hsum512(__m512 v) {
  const __m256 lo = _mm512_castps512_ps256(v);
  const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline __m256 fold(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v),
                       _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
// {hsum(a), hsum(b), hsum(c), hsum(d)} of four zmm.
inline __m128 hsum4x512(__m512 a, __m512 b, __m512 c, __m512 d) {
  const __m256 ab = _mm256_hadd_ps(fold(a), fold(b)), cd = _mm256_hadd_ps(fold(c), fold(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

template <int NV, int R>
inline void rows_block(const float* s, int rs, int js, const float* X, const int32_t* xi, int nx,
                       int64_t ld, float* out, const int32_t* oi) {
  constexpr int D = 16 * NV;
  __m512 acc[R][NV];
  for (int i = 0; i < R; i++)
    for (int u = 0; u < NV; u++) acc[i][u] = _mm512_setzero_ps();
  for (int j = 0; j < nx; j++) {
    const float* x = X + xi[j] * ld;
    __m512 e[R];
    for (int i = 0; i < R; i++) e[i] = _mm512_set1_ps(s[int64_t(i) * rs + int64_t(j) * js]);
    for (int u = 0; u < NV; u++) {
      const __m512 xv = _mm512_loadu_ps(x + 16 * u);
      for (int i = 0; i < R; i++) acc[i][u] = _mm512_fmadd_ps(e[i], xv, acc[i][u]);
    }
  }
  for (int i = 0; i < R; i++) {
    float* o = out + int64_t(oi[i]) * D;
    for (int u = 0; u < NV; u++)
      _mm512_storeu_ps(o + 16 * u, _mm512_add_ps(_mm512_loadu_ps(o + 16 * u), acc[i][u]));
  }
}

// In-register transpose of a 16 x 16 block: r[i] holds row i on entry, column i on exit.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // Now r[4i + j] holds, in each 128-bit lane L, element j of rows 4i..4i+3 at columns 4L + j.
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 4; j++) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + 4 + j], 0xdd);
    }
  for (int j = 0; j < 8; j++) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
  }
}

// S rows a..a+R-1 (stride nk) <- w g_a . v_c for all c < nk, from the transposed values
// vt[d * nkp + c] (nkp = nk rounded up to 16, zero padded): lanes are keys, so no horizontal sums.
template <int D, int R, int NC>
inline void s_rows_t(const float* const* g, const float* vt, int nkp, int c0, int nk, float w,
                     float* S) {
  __m512 acc[R][NC];
  for (int i = 0; i < R; i++)
    for (int u = 0; u < NC; u++) acc[i][u] = _mm512_setzero_ps();
  for (int d = 0; d < D; d++) {
    const float* row = vt + int64_t(d) * nkp + c0;
    __m512 x[NC];
    for (int u = 0; u < NC; u++) x[u] = _mm512_loadu_ps(row + 16 * u);
    for (int i = 0; i < R; i++) {
      const __m512 e = _mm512_set1_ps(g[i][d]);
      for (int u = 0; u < NC; u++) acc[i][u] = _mm512_fmadd_ps(e, x[u], acc[i][u]);
    }
  }
  const __m512 wv = _mm512_set1_ps(w);
  for (int i = 0; i < R; i++)
    for (int u = 0; u < NC; u++) {
      const int c = c0 + 16 * u, left = nk - c;
      const __mmask16 k = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
      _mm512_mask_storeu_ps(S + int64_t(i) * nk + c, k, _mm512_mul_ps(acc[i][u], wv));
    }
}

template <int D, int R>
inline void s_rows_all(const float* const* g, const float* vt, int nkp, int nk, float w, float* S) {
  int c0 = 0;
  for (; c0 + 48 <= nkp; c0 += 48) s_rows_t<D, R, 3>(g, vt, nkp, c0, nk, w, S);
  if (nkp - c0 == 32) s_rows_t<D, R, 2>(g, vt, nkp, c0, nk, w, S);
  else if (nkp - c0 == 16) s_rows_t<D, R, 1>(g, vt, nkp, c0, nk, w, S);
}

// Keys per bucket from which S is computed on transposed values (below: per-dot reductions).
constexpr int kTransposeFrom = 12;

// NV = D / 16 zmm per row (compile-time: D = 16 * NV).
template <int NV>
void pairs512(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
              const float* KV, int64_t ld, float* dq, float* dk, float w, float* S, float* VT) {
  constexpr int D = 16 * NV;
  const __m128 w4 = _mm_set1_ps(w);
  int a = 0;
  if (nk >= kTransposeFrom) {
    // ---- S = w G V^T on V^T packed per bucket (16 x 16 register transposes) ----
    const int nkp = (nk + 15) / 16 * 16;
    float* vt = VT;
    for (int c0 = 0; c0 < nkp; c0 += 16)
      for (int d0 = 0; d0 < D; d0 += 16) {
        __m512 r[16];
        for (int i = 0; i < 16; i++)
          r[i] = c0 + i < nk ? _mm512_loadu_ps(KV + Kc[c0 + i] * ld + D + d0) : _mm512_setzero_ps();
        transpose16(r);
        for (int i = 0; i < 16; i++) _mm512_storeu_ps(vt + int64_t(d0 + i) * nkp + c0, r[i]);
      }
    for (; a < nq; a += 4) {
      const float* g[4];
      for (int i = 0; i < 4; i++) g[i] = QG + Qc[a + i < nq ? a + i : a] * ld + D;
      float* s = S + int64_t(a) * nk;
      switch (nq - a) {
        case 1: s_rows_all<D, 1>(g, vt, nkp, nk, w, s); break;
        case 2: s_rows_all<D, 2>(g, vt, nkp, nk, w, s); break;
        case 3: s_rows_all<D, 3>(g, vt, nkp, nk, w, s); break;
        default: s_rows_all<D, 4>(g, vt, nkp, nk, w, s); break;
      }
    }
  }
  // ---- S = w G V^T: 2 queries x 4 keys per block (small buckets; a = nq when done above) ----
  for (; a + 2 <= nq; a += 2) {
    const float *g0 = QG + Qc[a] * ld + D, *g1 = QG + Qc[a + 1] * ld + D;
    __m512 G0[NV], G1[NV];
    for (int u = 0; u < NV; u++) { G0[u] = _mm512_loadu_ps(g0 + 16 * u); G1[u] = _mm512_loadu_ps(g1 + 16 * u); }
    float *s0 = S + int64_t(a) * nk, *s1 = s0 + nk;
    for (int c = 0; c < nk; c += 4) {
      // A tail of 1 - 3 keys repeats the last key (results past nk are dropped): one code path.
      const int l = nk - 1;
      const float *v0 = KV + Kc[c] * ld + D, *v1 = KV + Kc[c + 1 > l ? l : c + 1] * ld + D,
                  *v2 = KV + Kc[c + 2 > l ? l : c + 2] * ld + D,
                  *v3 = KV + Kc[c + 3 > l ? l : c + 3] * ld + D;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (int u = 0; u < NV; u++) {
        const __m512 x0 = _mm512_loadu_ps(v0 + 16 * u), x1 = _mm512_loadu_ps(v1 + 16 * u),
                     x2 = _mm512_loadu_ps(v2 + 16 * u), x3 = _mm512_loadu_ps(v3 + 16 * u);
        a0 = _mm512_fmadd_ps(G0[u], x0, a0); b0 = _mm512_fmadd_ps(G1[u], x0, b0);
        a1 = _mm512_fmadd_ps(G0[u], x1, a1); b1 = _mm512_fmadd_ps(G1[u], x1, b1);
        a2 = _mm512_fmadd_ps(G0[u], x2, a2); b2 = _mm512_fmadd_ps(G1[u], x2, b2);
        a3 = _mm512_fmadd_ps(G0[u], x3, a3); b3 = _mm512_fmadd_ps(G1[u], x3, b3);
      }
      const __m128 r0 = _mm_mul_ps(hsum4x512(a0, a1, a2, a3), w4),
                   r1 = _mm_mul_ps(hsum4x512(b0, b1, b2, b3), w4);
      if (c + 4 <= nk) {
        _mm_storeu_ps(s0 + c, r0);
        _mm_storeu_ps(s1 + c, r1);
      } else {
        alignas(16) float t0[4], t1[4];
        _mm_store_ps(t0, r0);
        _mm_store_ps(t1, r1);
        for (int i = 0; c + i < nk; i++) { s0[c + i] = t0[i]; s1[c + i] = t1[i]; }
      }
    }
  }
  for (; a < nq; a++) {
    const float* g0 = QG + Qc[a] * ld + D;
    __m512 G0[NV];
    for (int u = 0; u < NV; u++) G0[u] = _mm512_loadu_ps(g0 + 16 * u);
    float* s0 = S + int64_t(a) * nk;
    int c = 0;
    for (; c + 4 <= nk; c += 4) {
      const float *v0 = KV + Kc[c] * ld + D, *v1 = KV + Kc[c + 1] * ld + D,
                  *v2 = KV + Kc[c + 2] * ld + D, *v3 = KV + Kc[c + 3] * ld + D;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int u = 0; u < NV; u++) {
        a0 = _mm512_fmadd_ps(G0[u], _mm512_loadu_ps(v0 + 16 * u), a0);
        a1 = _mm512_fmadd_ps(G0[u], _mm512_loadu_ps(v1 + 16 * u), a1);
        a2 = _mm512_fmadd_ps(G0[u], _mm512_loadu_ps(v2 + 16 * u), a2);
        a3 = _mm512_fmadd_ps(G0[u], _mm512_loadu_ps(v3 + 16 * u), a3);
      }
      _mm_storeu_ps(s0 + c, _mm_mul_ps(hsum4x512(a0, a1, a2, a3), w4));
    }
    for (; c < nk; c++) {
      const float* v = KV + Kc[c] * ld + D;
      __m512 a0 = _mm512_setzero_ps();
      for (int u = 0; u < NV; u++) a0 = _mm512_fmadd_ps(G0[u], _mm512_loadu_ps(v + 16 * u), a0);
      s0[c] = w * hsum512(a0);
    }
  }
  // ---- dq_a += sum_c S_ac k_c: 4 queries per block (a tail block of R < 4), keys in order ----
  for (a = 0; a < nq; a += 4) {
    const float* s = S + int64_t(a) * nk;
    switch (nq - a) {
      case 1: rows_block<NV, 1>(s, nk, 1, KV, Kc, nk, ld, dq, Qc + a); break;
      case 2: rows_block<NV, 2>(s, nk, 1, KV, Kc, nk, ld, dq, Qc + a); break;
      case 3: rows_block<NV, 3>(s, nk, 1, KV, Kc, nk, ld, dq, Qc + a); break;
      default: rows_block<NV, 4>(s, nk, 1, KV, Kc, nk, ld, dq, Qc + a); break;
    }
  }
  // ---- dk_c += sum_a S_ac q_a: 4 keys per block, queries in bucket order ----
  for (int c = 0; c < nk; c += 4) {
    const float* s = S + c;
    switch (nk - c) {
      case 1: rows_block<NV, 1>(s, 1, nk, QG, Qc, nq, ld, dk, Kc + c); break;
      case 2: rows_block<NV, 2>(s, 1, nk, QG, Qc, nq, ld, dk, Kc + c); break;
      case 3: rows_block<NV, 3>(s, 1, nk, QG, Qc, nq, ld, dk, Kc + c); break;
      default: rows_block<NV, 4>(s, 1, nk, QG, Qc, nq, ld, dk, Kc + c); break;
    }
  }
}
}  // namespace

// False (nothing done) when D is not one of the sizes compiled here; the caller falls back.
// S: nq * nk floats; VT: D * round_up(nk, 16) floats (used from kTransposeFrom keys).
// No standard-library templates in this file: it is compiled for AVX-512, and an inline
// instantiation emitted here could be the copy the linker keeps for the baseline-ISA files.
bool bucket_pairs_avx512(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
                         const float* KV, int64_t ld, float* dq, float* dk, int D, float w,
                         float* S, float* VT) {
  switch (D) {
    case 16: pairs512<1>(Qc, nq, Kc, nk, QG, KV, ld, dq, dk, w, S, VT); return true;
    case 32: pairs512<2>(Qc, nq, Kc, nk, QG, KV, ld, dq, dk, w, S, VT); return true;
    case 64: pairs512<4>(Qc, nq, Kc, nk, QG, KV, ld, dq, dk, w, S, VT); return true;
    case 128: pairs512<8>(Qc, nq, Kc, nk, QG, KV, ld, dq, dk, w, S, VT); return true;
    default: return false;
  }
}

}  // namespace yoso_detail
}  // namespace lshlab

namespace lshlab {
namespace yoso_detail {

// The hash, fused: codes[hh * ldc + r] (r < n, hh < m) <- sum_t [x_r . plane(hh, t) > 0] 2^t,
// with the planes laid out pt[d * ldp + t * mp + hh] (mp = m rounded up to 16, padding columns
// zero; ldp = tau * mp): 16 hashes' bit t are one compare-to-mask. 8 rows x 2 bits per block,
// projections never leave the registers. x rows have stride ldx, D floats each.
void hash_codes_avx512(int32_t* codes, int64_t ldc, const float* x, int64_t ldx, int n,
                       const float* pt, int m, int tau, int D) {
  const int mp = (m + 15) / 16 * 16;
  const int64_t ldp = int64_t(tau) * mp;
  const __m512 zero = _mm512_setzero_ps();
  for (int r0 = 0; r0 < n; r0 += 8) {
    const float* xr[8];
    for (int r = 0; r < 8; r++) xr[r] = x + int64_t(r0 + r < n ? r0 + r : n - 1) * ldx;
    for (int h0 = 0; h0 < mp; h0 += 16) {
      __m512i code[8];
      for (int r = 0; r < 8; r++) code[r] = _mm512_setzero_si512();
      for (int t = 0; t < tau; t += 2) {
        const bool two = t + 1 < tau;
        const float* p0 = pt + int64_t(t) * mp + h0;
        const float* p1 = two ? p0 + mp : p0;
        __m512 a[8], b[8];
        for (int r = 0; r < 8; r++) { a[r] = zero; b[r] = zero; }
        for (int d = 0; d < D; d++) {
          const __m512 c0 = _mm512_loadu_ps(p0 + int64_t(d) * ldp),
                       c1 = _mm512_loadu_ps(p1 + int64_t(d) * ldp);
          for (int r = 0; r < 8; r++) {
            const __m512 xv = _mm512_set1_ps(xr[r][d]);
            a[r] = _mm512_fmadd_ps(xv, c0, a[r]);
            b[r] = _mm512_fmadd_ps(xv, c1, b[r]);
          }
        }
        const __m512i bit0 = _mm512_set1_epi32(1 << t), bit1 = _mm512_set1_epi32(two ? 1 << (t + 1) : 0);
        for (int r = 0; r < 8; r++) {
          code[r] = _mm512_mask_or_epi32(code[r], _mm512_cmp_ps_mask(a[r], zero, _CMP_GT_OQ),
                                         code[r], bit0);
          code[r] = _mm512_mask_or_epi32(code[r], _mm512_cmp_ps_mask(b[r], zero, _CMP_GT_OQ),
                                         code[r], bit1);
        }
      }
      const int hn = m - h0 < 16 ? m - h0 : 16;
      for (int r = 0; r < 8 && r0 + r < n; r++) {
        alignas(64) int32_t out[16];
        _mm512_store_si512(reinterpret_cast<__m512i*>(out), code[r]);
        for (int u = 0; u < hn; u++) codes[int64_t(h0 + u) * ldc + r0 + r] = out[u];
      }
    }
  }
}

}  // namespace yoso_detail
}  // namespace lshlab

namespace lshlab {
namespace yoso_detail {

// dv[Kc[c]] += sum_a g_a for the bucket's keys, g_a = QG row Qc[a] from column D (queries in
// bucket order). D % 16 == 0, D <= 256.
void bucket_dv_avx512(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
                      int64_t ld, float* dv, int D) {
  const int nv = D / 16;
  __m512 s[16];
  for (int u = 0; u < nv; u++) s[u] = _mm512_setzero_ps();
  for (int a = 0; a < nq; a++) {
    const float* g = QG + Qc[a] * ld + D;
    for (int u = 0; u < nv; u++) s[u] = _mm512_add_ps(s[u], _mm512_loadu_ps(g + 16 * u));
  }
  for (int c = 0; c < nk; c++) {
    float* o = dv + int64_t(Kc[c]) * D;
    for (int u = 0; u < nv; u++)
      _mm512_storeu_ps(o + 16 * u, _mm512_add_ps(_mm512_loadu_ps(o + 16 * u), s[u]));
  }
}

}  // namespace yoso_detail
}  // namespace lshlab
