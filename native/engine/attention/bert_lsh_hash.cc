/*
 * bert_lsh_hash.cc: the hashing half of BERT-LSH (see bert_lsh.h): parameter parsing, the Philox
 * draw of hyperplanes and coefficients, bucket ids, collision enumeration by bucket sort, and the
 * collision-probability helpers for the benchmark. No attention math here (bert_lsh.cc).
 */
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "attention/bert_lsh.h"
#include "attention/params.h"
#include "core/cpu_info.h"
#include "core/philox.h"

namespace lshlab {

BertLshConfig bert_lsh_parse(const AttentionParams& p) {
  const char* v = "bert-lsh";
  check_known(v, p, {"bands", "table_size", "num_hashes", "fill", "symmetric", "combine", "reseed"});
  BertLshConfig c;
  c.bands = int(param_int(v, p, "bands", 2, 1, 64));
  c.table_size = int(param_int(v, p, "table_size", 64, 1, 1 << 30));
  c.num_hashes = int(param_int(v, p, "num_hashes", 1, 1, 64));
  c.fill_masked = param_choice(v, p, "fill", {"zero", "masked"}, 0) == 1;
  c.symmetric_none = param_choice(v, p, "symmetric", {"transposed-fill", "none"}, 0) == 1;
  c.combine_and = param_choice(v, p, "combine", {"or", "and"}, 0) == 1;
  c.reseed_fixed = param_choice(v, p, "reseed", {"per-call", "fixed"}, 0) == 1;
  return c;
}

namespace {
// Float Box-Muller on 24-bit uniforms with Cephes-style polynomials (logf, sinf, cosf on
// [-pi/4, pi/4]): rounding-level accuracy, no libm, and the same IEEE float operations in the SSE2
// path and the scalar one (the engine builds with -std=c++17, so no FMA contraction).
// Pair p of words (w0, w1): u1 = ((w0 >> 8) + 1) / 2^24 in (0, 1], u2 = (w1 >> 8) / 2^24 in
// [0, 1); r = sqrt(-2 ln u1); z0 = r cos(2 pi u2), z1 = r sin(2 pi u2). Quadrant q = floor(4 u2 +
// 1/2) mod 4 and f = u2 - q/4 in [-1/8, 1/8] are exact, so the only reduction error is 2 pi f.
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f, kSqrtHalf = 0.707106781186547524f;
constexpr float kL[9] = {7.0376836292E-2f, -1.1514610310E-1f, 1.1676998740E-1f, -1.2420140846E-1f,
                         1.4249322787E-1f, -1.6668057665E-1f, 2.0000714765E-1f, -2.4999993993E-1f,
                         3.3333331174E-1f};
constexpr float kS0 = -1.9515295891E-4f, kS1 = 8.3321608736E-3f, kS2 = -1.6666654611E-1f;
constexpr float kC0 = 2.443315711809948E-5f, kC1 = -1.388731625493765E-3f, kC2 = 4.166664568298827E-2f;
constexpr float kTwoPi = 6.28318530717958647692f;

// One Box-Muller pair, scalar (the definition; the SSE2 path below performs the same operations).
inline void normal_pair_scalar(uint32_t w0, uint32_t w1, float& z0, float& z1) {
  const float u1 = float((w0 >> 8) + 1u) * (1.0f / 16777216.0f);
  const float u2 = float(w1 >> 8) * (1.0f / 16777216.0f);
  // ln u1: u1 = m 2^e, m in [sqrt(1/2), sqrt(2)).
  uint32_t bits;
  std::memcpy(&bits, &u1, 4);
  int e = int((bits >> 23) & 0xff) - 126;
  bits = (bits & 0x007fffffu) | 0x3f000000u;  // m in [0.5, 1)
  float m;
  std::memcpy(&m, &bits, 4);
  const bool lo = m < kSqrtHalf;
  e -= lo ? 1 : 0;
  m = (lo ? m + m : m) - 1.0f;
  const float fe = float(e), zz = m * m;
  float y = kL[0];
  for (int i = 1; i < 9; i++) y = y * m + kL[i];
  y = y * m * zz;
  y = y + fe * kLn2Lo;
  y = y - 0.5f * zz;
  const float lnu = (m + y) + fe * kLn2Hi;
  const float r = std::sqrt(-2.0f * lnu);
  // cos, sin of 2 pi u2.
  const int q = int(u2 * 4.0f + 0.5f);
  const float a = (u2 - float(q) * 0.25f) * kTwoPi, a2 = a * a;
  const float s = a + a * a2 * ((kS0 * a2 + kS1) * a2 + kS2);
  const float c = (1.0f - 0.5f * a2) + a2 * a2 * ((kC0 * a2 + kC1) * a2 + kC2);
  const int qq = q & 3;
  const float cs = qq == 0 ? c : qq == 1 ? -s : qq == 2 ? -c : s;
  const float sn = qq == 0 ? s : qq == 1 ? c : qq == 2 ? -s : -c;
  z0 = r * cs;
  z1 = r * sn;
}
}  // namespace

namespace {
#if defined(__SSE2__)
// Four Philox-4x32-10 blocks at once, words in SoA vectors; bit-identical to Philox4x32::generate.
inline void mul_hilo(__m128i a, __m128i m, __m128i& lo, __m128i& hi) {
  const __m128i e = _mm_shuffle_epi32(_mm_mul_epu32(a, m), _MM_SHUFFLE(3, 1, 2, 0));  // l0 l2 h0 h2
  const __m128i o = _mm_shuffle_epi32(_mm_mul_epu32(_mm_srli_epi64(a, 32), m), _MM_SHUFFLE(3, 1, 2, 0));
  lo = _mm_unpacklo_epi32(e, o);
  hi = _mm_unpackhi_epi32(e, o);
}
void philox4_sse2(uint32_t blk[16], uint64_t seed) {  // blk[4 b + w]: word w of block b
  __m128i c0 = _mm_setr_epi32(int(blk[0]), int(blk[4]), int(blk[8]), int(blk[12]));
  __m128i c1 = _mm_setr_epi32(int(blk[1]), int(blk[5]), int(blk[9]), int(blk[13]));
  __m128i c2 = _mm_setr_epi32(int(blk[2]), int(blk[6]), int(blk[10]), int(blk[14]));
  __m128i c3 = _mm_setr_epi32(int(blk[3]), int(blk[7]), int(blk[11]), int(blk[15]));
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  const __m128i M0 = _mm_set1_epi32(int(0xD2511F53u)), M1 = _mm_set1_epi32(int(0xCD9E8D57u));
  for (int r = 0; r < 10; r++) {
    __m128i lo0, hi0, lo1, hi1;
    mul_hilo(c0, M0, lo0, hi0);
    mul_hilo(c2, M1, lo1, hi1);
    c0 = _mm_xor_si128(_mm_xor_si128(hi1, c1), _mm_set1_epi32(int(k0)));
    c1 = lo1;
    c2 = _mm_xor_si128(_mm_xor_si128(hi0, c3), _mm_set1_epi32(int(k1)));
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  alignas(16) uint32_t o[4][4];
  _mm_store_si128(reinterpret_cast<__m128i*>(o[0]), c0);
  _mm_store_si128(reinterpret_cast<__m128i*>(o[1]), c1);
  _mm_store_si128(reinterpret_cast<__m128i*>(o[2]), c2);
  _mm_store_si128(reinterpret_cast<__m128i*>(o[3]), c3);
  for (int b = 0; b < 4; b++)
    for (int w = 0; w < 4; w++) blk[4 * b + w] = o[w][b];
}
#endif
}  // namespace

void bert_lsh_normal8(const uint32_t w[8], float z[8]) {
#if defined(__SSE2__)
  // Lane p holds pair (w[2p], w[2p+1]).
  const __m128i wa = _mm_setr_epi32(int(w[0]), int(w[2]), int(w[4]), int(w[6]));
  const __m128i wb = _mm_setr_epi32(int(w[1]), int(w[3]), int(w[5]), int(w[7]));
  const __m128 inv24 = _mm_set1_ps(1.0f / 16777216.0f);
  const __m128 u1 = _mm_mul_ps(_mm_cvtepi32_ps(_mm_add_epi32(_mm_srli_epi32(wa, 8), _mm_set1_epi32(1))), inv24);
  const __m128 u2 = _mm_mul_ps(_mm_cvtepi32_ps(_mm_srli_epi32(wb, 8)), inv24);
  __m128i bits = _mm_castps_si128(u1);
  __m128i e = _mm_sub_epi32(_mm_and_si128(_mm_srli_epi32(bits, 23), _mm_set1_epi32(0xff)), _mm_set1_epi32(126));
  __m128 m = _mm_castsi128_ps(_mm_or_si128(_mm_and_si128(bits, _mm_set1_epi32(0x007fffff)), _mm_set1_epi32(0x3f000000)));
  const __m128 lo = _mm_cmplt_ps(m, _mm_set1_ps(kSqrtHalf));
  e = _mm_add_epi32(e, _mm_castps_si128(lo));  // lo lanes are all ones = -1
  m = _mm_sub_ps(_mm_or_ps(_mm_and_ps(lo, _mm_add_ps(m, m)), _mm_andnot_ps(lo, m)), _mm_set1_ps(1.0f));
  const __m128 fe = _mm_cvtepi32_ps(e), zz = _mm_mul_ps(m, m);
  __m128 y = _mm_set1_ps(kL[0]);
  for (int i = 1; i < 9; i++) y = _mm_add_ps(_mm_mul_ps(y, m), _mm_set1_ps(kL[i]));
  y = _mm_mul_ps(_mm_mul_ps(y, m), zz);
  y = _mm_add_ps(y, _mm_mul_ps(fe, _mm_set1_ps(kLn2Lo)));
  y = _mm_sub_ps(y, _mm_mul_ps(_mm_set1_ps(0.5f), zz));
  const __m128 lnu = _mm_add_ps(_mm_add_ps(m, y), _mm_mul_ps(fe, _mm_set1_ps(kLn2Hi)));
  const __m128 r = _mm_sqrt_ps(_mm_mul_ps(_mm_set1_ps(-2.0f), lnu));
  const __m128i q = _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(u2, _mm_set1_ps(4.0f)), _mm_set1_ps(0.5f)));
  const __m128 a = _mm_mul_ps(_mm_sub_ps(u2, _mm_mul_ps(_mm_cvtepi32_ps(q), _mm_set1_ps(0.25f))), _mm_set1_ps(kTwoPi));
  const __m128 a2 = _mm_mul_ps(a, a);
  const __m128 s = _mm_add_ps(a, _mm_mul_ps(_mm_mul_ps(a, a2),
      _mm_add_ps(_mm_mul_ps(_mm_add_ps(_mm_mul_ps(_mm_set1_ps(kS0), a2), _mm_set1_ps(kS1)), a2), _mm_set1_ps(kS2))));
  const __m128 c = _mm_add_ps(_mm_sub_ps(_mm_set1_ps(1.0f), _mm_mul_ps(_mm_set1_ps(0.5f), a2)), _mm_mul_ps(_mm_mul_ps(a2, a2),
      _mm_add_ps(_mm_mul_ps(_mm_add_ps(_mm_mul_ps(_mm_set1_ps(kC0), a2), _mm_set1_ps(kC1)), a2), _mm_set1_ps(kC2))));
  // Quadrant rotation without branches: (X, Y) = q odd ? (s, c) : (c, s); cos gets a minus sign
  // for q = 1, 2 ((q + 1) & 2), sin for q = 2, 3 (q & 2).
  const __m128 odd = _mm_castsi128_ps(_mm_cmpeq_epi32(_mm_and_si128(q, _mm_set1_epi32(1)), _mm_set1_epi32(1)));
  const __m128 X = _mm_or_ps(_mm_and_ps(odd, s), _mm_andnot_ps(odd, c));
  const __m128 Y = _mm_or_ps(_mm_and_ps(odd, c), _mm_andnot_ps(odd, s));
  const __m128 sa = _mm_castsi128_ps(_mm_slli_epi32(_mm_and_si128(_mm_add_epi32(q, _mm_set1_epi32(1)), _mm_set1_epi32(2)), 30));
  const __m128 sb = _mm_castsi128_ps(_mm_slli_epi32(_mm_and_si128(q, _mm_set1_epi32(2)), 30));
  const __m128 z0 = _mm_mul_ps(r, _mm_xor_ps(X, sa)), z1 = _mm_mul_ps(r, _mm_xor_ps(Y, sb));
  _mm_storeu_ps(z, _mm_unpacklo_ps(z0, z1));
  _mm_storeu_ps(z + 4, _mm_unpackhi_ps(z0, z1));
#else
  bert_lsh_normal8_scalar(w, z);
#endif
}

void bert_lsh_normal8_scalar(const uint32_t w[8], float z[8]) {
  for (int p = 0; p < 4; p++) normal_pair_scalar(w[2 * p], w[2 * p + 1], z[2 * p], z[2 * p + 1]);
}

void BertLshFamily::draw(int D_, const BertLshConfig& cfg, uint64_t seed, uint32_t step,
                         uint64_t family) {
  D = D_; bands = cfg.bands; num_hashes = cfg.num_hashes; table_size = cfg.table_size;
  const int64_t count = int64_t(num_hashes) * bands * D;
  LSHLAB_CHECK(count <= (int64_t(1) << 18),
               "bert-lsh: num_hashes * bands * head size must be <= 262144 (got " +
                   std::to_string(count) + ")");
  LSHLAB_CHECK(family < (uint64_t(1) << 44), "bert-lsh: hash family index out of range");
  planes.resize(size_t(count));
  coef.resize(size_t(num_hashes) * bands);
  const uint64_t base = family << 20;
  const uint32_t stream = uint32_t(Stream::Attention);
  // Normal j is half of a Box-Muller pair on words base + (j & ~1), base + (j | 1) (cos for even
  // j, sin for odd j): bert_lsh_normal8 turns two Philox blocks into 8 normals.
  // Four Philox blocks (16 words, 16 normals) per step, vectorised where SSE2 is there.
  uint32_t w[16];
  float z[16];
  for (int64_t k = 0; k < count; k += 16) {
    for (int blk = 0; blk < 4; blk++) {
      const uint64_t idx = base + uint64_t(k) + 4 * uint64_t(blk);
      uint32_t* ctr = w + 4 * blk;
      ctr[0] = uint32_t(idx >> 2); ctr[1] = uint32_t(idx >> 34); ctr[2] = stream; ctr[3] = step;
    }
#if defined(__SSE2__)
    philox4_sse2(w, seed);
#else
    for (int blk = 0; blk < 4; blk++) Philox4x32::generate(w + 4 * blk, seed);
#endif
    bert_lsh_normal8(w, z);
    bert_lsh_normal8(w + 8, z + 8);
    const int64_t lim = std::min<int64_t>(16, count - k);
    for (int64_t l = 0; l < lim; l++) planes[size_t(k + l)] = double(z[l]);
  }
  for (size_t k = 0; k < coef.size(); k++) {
    const uint32_t u = philox_u32(seed, stream, step, base + (uint64_t(1) << 19) + k);
    coef[k] = int32_t((uint64_t(u) * uint64_t(table_size)) >> 32);
  }
}

namespace bert_lsh_detail {
void project2_avx2(const double* r, const double* q, const float* x, int D, double& pr, double& pq);
}
namespace {
// Projection r . x in double for a contiguous float row: four 2-wide accumulators, summed as
// ((a0 + a1) + (a2 + a3)) lane by lane, then lane 0 + lane 1, then the scalar tail.
inline double project(const double* r, const float* x, int D) {
#if defined(__SSE2__)
  __m128d a0 = _mm_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  int d = 0;
  for (; d + 7 < D; d += 8) {
    const __m128 x0 = _mm_loadu_ps(x + d), x1 = _mm_loadu_ps(x + d + 4);
    a0 = _mm_add_pd(a0, _mm_mul_pd(_mm_loadu_pd(r + d), _mm_cvtps_pd(x0)));
    a1 = _mm_add_pd(a1, _mm_mul_pd(_mm_loadu_pd(r + d + 2), _mm_cvtps_pd(_mm_movehl_ps(x0, x0))));
    a2 = _mm_add_pd(a2, _mm_mul_pd(_mm_loadu_pd(r + d + 4), _mm_cvtps_pd(x1)));
    a3 = _mm_add_pd(a3, _mm_mul_pd(_mm_loadu_pd(r + d + 6), _mm_cvtps_pd(_mm_movehl_ps(x1, x1))));
  }
  const __m128d t = _mm_add_pd(_mm_add_pd(a0, a1), _mm_add_pd(a2, a3));
  alignas(16) double l[2];
  _mm_store_pd(l, t);
  double acc = l[0] + l[1];
  for (; d < D; d++) acc += r[d] * double(x[d]);
  return acc;
#else
  double acc = 0;
  for (int d = 0; d < D; d++) acc += r[d] * double(x[d]);
  return acc;
#endif
}
inline double project(const double* r, const double* x, int D) {
  double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  int d = 0;
  for (; d + 3 < D; d += 4) { d0 += r[d] * x[d]; d1 += r[d + 1] * x[d + 1]; d2 += r[d + 2] * x[d + 2]; d3 += r[d + 3] * x[d + 3]; }
  for (; d < D; d++) d0 += r[d] * x[d];
  return (d0 + d1) + (d2 + d3);
}
// Two projections (bands r and s) in one pass over x, each summed exactly as project() does.
inline void project2(const double* r, const double* q, const float* x, int D, double& pr, double& pq) {
  static const bool avx2 = cpu_info().avx2;
  if (avx2) return bert_lsh_detail::project2_avx2(r, q, x, D, pr, pq);
#if defined(__SSE2__)
  __m128d a0 = _mm_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  int d = 0;
  for (; d + 7 < D; d += 8) {
    const __m128 x0 = _mm_loadu_ps(x + d), x1 = _mm_loadu_ps(x + d + 4);
    const __m128d y0 = _mm_cvtps_pd(x0), y1 = _mm_cvtps_pd(_mm_movehl_ps(x0, x0));
    const __m128d y2 = _mm_cvtps_pd(x1), y3 = _mm_cvtps_pd(_mm_movehl_ps(x1, x1));
    a0 = _mm_add_pd(a0, _mm_mul_pd(_mm_loadu_pd(r + d), y0));
    b0 = _mm_add_pd(b0, _mm_mul_pd(_mm_loadu_pd(q + d), y0));
    a1 = _mm_add_pd(a1, _mm_mul_pd(_mm_loadu_pd(r + d + 2), y1));
    b1 = _mm_add_pd(b1, _mm_mul_pd(_mm_loadu_pd(q + d + 2), y1));
    a2 = _mm_add_pd(a2, _mm_mul_pd(_mm_loadu_pd(r + d + 4), y2));
    b2 = _mm_add_pd(b2, _mm_mul_pd(_mm_loadu_pd(q + d + 4), y2));
    a3 = _mm_add_pd(a3, _mm_mul_pd(_mm_loadu_pd(r + d + 6), y3));
    b3 = _mm_add_pd(b3, _mm_mul_pd(_mm_loadu_pd(q + d + 6), y3));
  }
  alignas(16) double l[2], m[2];
  _mm_store_pd(l, _mm_add_pd(_mm_add_pd(a0, a1), _mm_add_pd(a2, a3)));
  _mm_store_pd(m, _mm_add_pd(_mm_add_pd(b0, b1), _mm_add_pd(b2, b3)));
  double acc = l[0] + l[1], acq = m[0] + m[1];
  for (; d < D; d++) { acc += r[d] * double(x[d]); acq += q[d] * double(x[d]); }
  pr = acc; pq = acq;
#else
  pr = project(r, x, D); pq = project(q, x, D);
#endif
}
inline void project2(const double* r, const double* q, const double* x, int D, double& pr, double& pq) {
  pr = project(r, x, D); pq = project(q, x, D);
}
}  // namespace

template <typename T>
int32_t BertLshFamily::bucket(int h, const T* x, int64_t stride) const {
  int64_t sum = 0;
  if (stride == 1) {
    const double* r = planes.data() + size_t(h) * bands * D;
    const int32_t* cf = coef.data() + size_t(h) * bands;
    int b = 0;
    for (; b + 1 < bands; b += 2) {
      double p0, p1;
      project2(r + size_t(b) * D, r + size_t(b + 1) * D, x, D, p0, p1);
      if (p0 > 0) sum += cf[b];
      if (p1 > 0) sum += cf[b + 1];
    }
    if (b < bands && project(r + size_t(b) * D, x, D) > 0) sum += cf[b];
    if (bands <= 8) { while (sum >= table_size) sum -= table_size; return int32_t(sum); }  // no division
    return int32_t(sum % table_size);
  }
  for (int b = 0; b < bands; b++) {
    const double* r = planes.data() + (size_t(h) * bands + b) * D;
    double d0 = 0, d1 = 0, d2 = 0, d3 = 0;  // four chains: the projection is latency-bound otherwise
    int d = 0;
    for (; d + 3 < D; d += 4) {
      d0 += r[d] * double(x[d * stride]); d1 += r[d + 1] * double(x[(d + 1) * stride]);
      d2 += r[d + 2] * double(x[(d + 2) * stride]); d3 += r[d + 3] * double(x[(d + 3) * stride]);
    }
    for (; d < D; d++) d0 += r[d] * double(x[d * stride]);
    if ((d0 + d1) + (d2 + d3) > 0) sum += coef[size_t(h) * bands + b];  // torch.sign(0) = 0: a zero adds nothing
  }
  return int32_t(sum % table_size);
}
template int32_t BertLshFamily::bucket<float>(int, const float*, int64_t) const;
template int32_t BertLshFamily::bucket<double>(int, const double*, int64_t) const;

void bert_lsh_collisions(std::vector<int32_t>& pi, std::vector<int32_t>& pj, const int32_t* qb,
                         const int32_t* kb, int n, int nh, int table, bool upper_only,
                         bool combine_and, BertLshScratch& s) {
  // Keys of each hash sorted by (bucket, row); query i of hash h gets the range [qlo, qhi) of
  // korder holding its bucket. Within a range rows ascend, so j >= i is a lower_bound.
  const int hashes_sorted = combine_and ? 1 : nh;  // and: hash 0 proposes, the rest verify
  s.korder.resize(size_t(hashes_sorted) * n);
  s.qlo.resize(size_t(hashes_sorted) * n);
  s.qhi.resize(size_t(hashes_sorted) * n);
  const bool counting = int64_t(table) <= 4 * int64_t(n) + 1024;
  for (int h = 0; h < hashes_sorted; h++) {
    const int32_t* kh = kb + size_t(h) * n;
    const int32_t* qh = qb + size_t(h) * n;
    int32_t* ord = s.korder.data() + size_t(h) * n;
    int32_t* lo = s.qlo.data() + size_t(h) * n;
    int32_t* hi = s.qhi.data() + size_t(h) * n;
    if (counting) {
      s.kstart.assign(size_t(table) + 1, 0);
      for (int j = 0; j < n; j++) s.kstart[size_t(kh[j]) + 1]++;
      for (int t = 0; t < table; t++) s.kstart[size_t(t) + 1] += s.kstart[size_t(t)];
      s.stamp.assign(s.kstart.begin(), s.kstart.end() - 1);  // write cursors
      for (int j = 0; j < n; j++) ord[s.stamp[size_t(kh[j])]++] = j;
      for (int i = 0; i < n; i++) { lo[i] = s.kstart[size_t(qh[i])]; hi[i] = s.kstart[size_t(qh[i]) + 1]; }
    } else {
      s.packed.resize(size_t(n));
      for (int j = 0; j < n; j++) s.packed[size_t(j)] = (uint64_t(uint32_t(kh[j])) << 32) | uint32_t(j);
      std::sort(s.packed.begin(), s.packed.end());
      for (int j = 0; j < n; j++) ord[j] = int32_t(uint32_t(s.packed[size_t(j)]));
      for (int i = 0; i < n; i++) {
        const uint64_t key = uint64_t(uint32_t(qh[i])) << 32;
        lo[i] = int32_t(std::lower_bound(s.packed.begin(), s.packed.end(), key) - s.packed.begin());
        hi[i] = int32_t(std::lower_bound(s.packed.begin(), s.packed.end(), key + (uint64_t(1) << 32)) -
                        s.packed.begin());
      }
    }
  }
  s.stamp.assign(size_t(n), -1);
  pi.clear();
  pj.clear();
  for (int i = 0; i < n; i++) {
    for (int h = 0; h < hashes_sorted; h++) {
      const int32_t* ord = s.korder.data() + size_t(h) * n;
      const int32_t* b = ord + s.qlo[size_t(h) * n + i];
      const int32_t* e = ord + s.qhi[size_t(h) * n + i];
      if (upper_only) b = std::lower_bound(b, e, i);
      for (; b < e; b++) {
        const int32_t j = *b;
        if (combine_and) {
          bool all = true;
          for (int g = 1; g < nh && all; g++) all = qb[size_t(g) * n + i] == kb[size_t(g) * n + j];
          if (!all) continue;
        } else if (nh > 1) {
          if (s.stamp[size_t(j)] == i) continue;  // already found under an earlier hash
          s.stamp[size_t(j)] = i;
        }
        pi.push_back(i);
        pj.push_back(j);
      }
    }
  }
}

bool bert_lsh_collide(const double* x, const double* y, int D, int bands, int table_size,
                      int num_hashes, bool combine_and, uint64_t seed, uint64_t draw) {
  BertLshConfig c;
  c.bands = bands; c.table_size = table_size; c.num_hashes = num_hashes;
  BertLshFamily f;
  f.draw(D, c, seed, 0, draw);
  bool any = false, all = true;
  for (int h = 0; h < num_hashes; h++) {
    const bool eq = f.bucket(h, x) == f.bucket(h, y);
    any = any || eq;
    all = all && eq;
  }
  return combine_and ? all : any;
}

double bert_lsh_collision_theory(double angle, int bands, int table_size, int num_hashes,
                                 bool combine_and) {
  const double p = 1.0 - angle / 3.141592653589793;
  const double pr = std::pow(p, bands);
  const double p1 = pr + (1.0 - pr) / double(table_size);
  return combine_and ? std::pow(p1, num_hashes) : 1.0 - std::pow(1.0 - p1, num_hashes);
}

}  // namespace lshlab
