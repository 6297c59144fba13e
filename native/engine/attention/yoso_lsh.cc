/*
 * yoso_lsh.cc: the sampling half of YOSO (see yoso.h), one (b, h) slice per call:
 *   planes   Gaussian hyperplanes from philox, keyed so any (site, b, h, hash) can be replayed
 *   hash     one gemm (n,D) x (D, m*tau) in row blocks, then tau sign bits per code
 *   cumulate scatter-add of V into per-hash bucket tables, gather by query code, mean over hashes
 *   grad_qk  the LSH estimate of dq, dk: per bucket either the colliding pairs or, when a bucket is
 *            big, two DxD matrices (sum_j k_j v_j^T and sum_i q_i g_i^T), so the cost is at most
 *            O(n m D^2) however the codes fall (linear in n).
 * Tables are compact: buckets are renumbered per hash to the codes that hold a key (at most n), so
 * memory is O(n D) for any tau up to 30, instead of 2^tau D; the renumbering is a direct array for
 * tau <= 16 and an open-addressing map above. Scratch is thread-local and only ever grows (no
 * allocation in steady state).
 * Float with AVX2+FMA (cpu_info(), D % 8 == 0) takes the kernels in yoso_avx2.cc; the loops here
 * are the portable fallback (and the double path the tests compare against):
 *   hash     planes reordered bit-major so 8 hashes' bit t come from one vector compare
 *   cumulate 4 hashes per sweep: their tables built (with prefetch), then one pass over out
 *   grad_qk  surrogate pairs per bucket on interleaved q|g and k|v row copies, bucket b+2's rows
 *            prefetched; dq_i accumulated in registers per query, dk_j per key
 * With AVX-512F (yoso_avx512.cc; yoso_force_kernel() picks a lower level for tests):
 *   hash     fused projection + sign bits, 8 rows x 16 hashes x 2 bits in registers (no proj
 *            matrix, no gemm call): ~2.5 - 3x the AVX2 gemm path on Zen 4
 *   grad_qk  register-blocked pair loop (S on transposed V for buckets of >= 12 keys), and dV
 *            summed in the same bucket walk (yoso.cc passes dv: no second cumulation pass)
 * The backward=exact mode needs q_i.k_j per colliding pair for its importance weight, so it stays
 * on the portable pair loop; only the surrogate can use the D x D bucket matrices.
 * Each (b, h) slice sums in a fixed order, so results do not depend on the thread count.
 * Does not: normalise (yoso.cc does), know about (B,T,3C) layouts beyond a row stride.
 */
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "attention/yoso.h"
#include "core/cpu_info.h"
#include "core/philox.h"
#include "ops/cpu/gemm.h"

namespace lshlab {

namespace yoso_detail {  // yoso_avx2.cc (float, D % 8 == 0, only when cpu_info() has avx2 + fma)
void bucket_pairs_avx2(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
                       const float* KV, int64_t ld, float* dq, float* dk, int D, float w,
                       float* S);
void cumulate_group_avx2(float* tables, const int64_t* toff, int g, float* out, const float* val,
                         int ldv, const int32_t* kslot, const int32_t* qslot, int n, int D);
void codes_from_proj_avx2(int32_t* codes, int64_t ldc, const float* proj, int rows, int m,
                          int tau);
bool bucket_pairs_avx512(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
                         const float* KV, int64_t ld, float* dq, float* dk, int D, float w,
                         float* S, float* VT);  // yoso_avx512.cc (D in 16, 32, 64, 128; else false)
void hash_codes_avx512(int32_t* codes, int64_t ldc, const float* x, int64_t ldx, int n,
                       const float* pt, int m, int tau, int D);
void bucket_dv_avx512(const int32_t* Qc, int nq, const int32_t* Kc, int nk, const float* QG,
                      int64_t ld, float* dv, int D);
}  // namespace yoso_detail

namespace {

// Index of plane element e of (site, b, h, hash) in the Attention stream: disjoint bit fields.
uint64_t plane_index(uint32_t site, int b, int h, int hash, uint64_t e) {
  LSHLAB_CHECK(site < 4096 && b < 4096 && h < 256 && hash < 1024 && e < (1u << 20),
               "yoso: shape too large for the hash-plane stream (B < 4096, H < 256, tau*D < 2^20)");
  return ((((uint64_t(site) << 12 | uint64_t(b)) << 8 | uint64_t(h)) << 10 | uint64_t(hash)) << 20) | e;
}

// Two normals equal to philox_normal(i) and philox_normal(i + 1), i even, from one Philox block.
void philox_normal2(uint64_t seed, uint32_t step, uint64_t i, double out[2]) {
  const uint64_t blk = (2 * i) >> 2;  // u32 draws 2i .. 2i+3 share this counter
  uint32_t ctr[4] = {uint32_t(blk), uint32_t(blk >> 32), uint32_t(Stream::Attention), step};
  Philox4x32::generate(ctr, seed);
  for (int r = 0; r < 2; r++) {
    const double u1 = (double(ctr[2 * r] >> 8) + 1.0) / 16777217.0;
    const double u2 = double(ctr[2 * r + 1] >> 8) / 16777216.0;
    out[r] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
}

// Renumbers one hash's codes to compact bucket ids: kslot[j] in [0, nb) for unmasked keys (-1
// otherwise); qslot[i] = the id of a key bucket with the same code, -1 if none or masked.
struct SlotMap {
  std::vector<int32_t> dir;              // tau <= 16: code -> id (-1 = none)
  std::vector<int32_t> hcode, hid;       // tau > 16: open addressing (code, id)
  int map(const int32_t* kc, const int32_t* km, const int32_t* qc, const int32_t* qm, int n,
          int tau, int32_t* kslot, int32_t* qslot) {
    int nb = 0;
    if (tau <= 16) {
      dir.assign(size_t(1) << tau, -1);  // cheap next to n*D work for the taus that use it
      for (int j = 0; j < n; j++) {
        if (km && !km[j]) { kslot[j] = -1; continue; }
        int32_t& s = dir[kc[j]];
        if (s < 0) s = nb++;
        kslot[j] = s;
      }
      for (int i = 0; i < n; i++) qslot[i] = (qm && !qm[i]) ? -1 : dir[qc[i]];
      return nb;
    }
    size_t P = 16;
    while (P < size_t(2) * n) P <<= 1;
    hcode.assign(P, -1);
    hid.assign(P, -1);
    auto find = [&](int32_t c) {
      size_t p = (uint32_t(c) * 0x9E3779B1u) & (P - 1);
      while (hcode[p] != -1 && hcode[p] != c) p = (p + 1) & (P - 1);
      return p;
    };
    for (int j = 0; j < n; j++) {
      if (km && !km[j]) { kslot[j] = -1; continue; }
      const size_t p = find(kc[j]);
      if (hcode[p] == -1) { hcode[p] = kc[j]; hid[p] = nb++; }
      kslot[j] = hid[p];
    }
    for (int i = 0; i < n; i++) qslot[i] = (qm && !qm[i]) ? -1 : hid[find(qc[i])];
    return nb;
  }
};

// Kernel level: 2 = AVX-512 pair loop where the CPU has it, 1 = AVX2 only, 0 = portable loops.
// yoso_force_kernel() lowers it for tests and benchmarks; the default is the best the CPU runs.
int cpu_kernel_level() {
  static const int lv = (cpu_info().avx512f && cpu_info().fma) ? 2
                        : (cpu_info().avx2 && cpu_info().fma) ? 1 : 0;
  return lv;
}
std::atomic<int> g_kernel_level{-1};  // -1: auto
int kernel_level() {
  const int f = g_kernel_level.load(std::memory_order_relaxed);
  return f < 0 ? cpu_kernel_level() : f;
}

template <typename T>
bool use_avx2(int D) {
  return std::is_same<T, float>::value && kernel_level() >= 1 && D % 8 == 0;
}

// The first 64-byte aligned element of v after growing it to hold count of them past that point
// (vector keeps only 16-byte alignment; rows split across cache lines cost the kernels ~30%).
template <typename T>
T* aligned64(std::vector<T>& v, size_t count) {
  v.resize(count + 64 / sizeof(T));
  const uintptr_t p = reinterpret_cast<uintptr_t>(v.data());
  return reinterpret_cast<T*>((p + 63) & ~uintptr_t(63));
}

template <typename T>
struct Scratch {
  SlotMap slots;
  std::vector<int32_t> kslot, qslot, kstart, qstart, klist, qlist, cur;
  std::vector<T> table, proj, planes_t, A, Bm, pk, kv, sbuf, gsum, vtbuf;
};
template <typename T>
Scratch<T>& scratch() {
  thread_local Scratch<T> s;
  return s;
}

// Counting sort of ids (-1 skipped) into list, with bucket b's members at list[start[b]..start[b+1]).
// cur is scratch (no allocation once it has grown).
void bucket_sort(const int32_t* id, int n, int nb, std::vector<int32_t>& start,
                 std::vector<int32_t>& list, std::vector<int32_t>& cur) {
  start.assign(size_t(nb) + 1, 0);
  for (int i = 0; i < n; i++) if (id[i] >= 0) start[id[i] + 1]++;
  for (int b = 0; b < nb; b++) start[b + 1] += start[b];
  list.resize(size_t(start[nb]));
  cur.assign(start.begin(), start.end() - 1);  // a running cursor per bucket
  for (int i = 0; i < n; i++) if (id[i] >= 0) list[cur[id[i]]++] = i;
}

// Hints the cache lines of one row (count elements) in; a no-op where the compiler has no hint.
template <typename T>
inline void prefetch_row(const T* p, int count) {
#if defined(__GNUC__) || defined(__clang__)
  const char* c = reinterpret_cast<const char*>(p);
  for (size_t o = 0; o < sizeof(T) * size_t(count); o += 64) __builtin_prefetch(c + o);
#else
  (void)p; (void)count;
#endif
}

template <typename T>
inline T dot(const T* a, const T* b, int D) {
  T s[4] = {0, 0, 0, 0};  // four partial sums so the compiler can vectorise the reduction
  int d = 0;
  for (; d + 4 <= D; d += 4)
    for (int r = 0; r < 4; r++) s[r] += a[d + r] * b[d + r];
  for (; d < D; d++) s[0] += a[d] * b[d];
  return (s[0] + s[1]) + (s[2] + s[3]);
}

}  // namespace

double yoso_kernel(double x, int tau, double s) {
  x = s * std::min(1.0, std::max(-1.0, x));
  return std::pow(1.0 - std::acos(x) / M_PI, tau);
}

double yoso_kernel_grad(double x, int tau, double s) {
  x = s * std::min(1.0, std::max(-1.0, x));
  const double r = 1.0 - x * x;
  if (r <= 0) return 0;  // only reachable with s = 1 at |x| = 1, where f' is unbounded: report 0
  return s * tau * std::pow(1.0 - std::acos(x) / M_PI, tau - 1) / (M_PI * std::sqrt(r));
}

template <typename T>
void yoso_planes(T* planes, uint64_t seed, uint32_t step, uint32_t site, int b, int h, int m,
                 int tau, int D) {
  const int64_t per = int64_t(tau) * D;
  for (int hh = 0; hh < m; hh++) {
    LSHLAB_CHECK(per <= (int64_t(1) << 20), "yoso: tau*D must be at most 2^20");
    const uint64_t i0 = plane_index(site, b, h, hh, 0);  // checks the other ranges
    T* out = planes + hh * per;
    int64_t e = 0;
    for (; e + 2 <= per; e += 2) {
      double z[2];
      philox_normal2(seed, step, i0 + e, z);
      out[e] = T(z[0]);
      out[e + 1] = T(z[1]);
    }
    if (e < per) out[e] = T(philox_normal(seed, uint32_t(Stream::Attention), step, i0 + e));
  }
}

template <typename T>
void yoso_hash(int32_t* codes, const T* x, int ldx, int n, const T* planes, int m, int tau, int D) {
  const int cols = m * tau, RB = 128;
  auto& s = scratch<T>();
  if (std::is_same<T, float>::value && kernel_level() >= 2) {
    // AVX-512: planes (m, tau, D) -> pt[d][t * mp + hh] (mp = m rounded up to 16, zero padding),
    // then the fused projection + sign-bit kernel (no projection matrix in memory).
    const int mp = (m + 15) / 16 * 16;
    const int64_t ldp = int64_t(tau) * mp;
    s.planes_t.assign(size_t(ldp) * D, T(0));
    for (int hh = 0; hh < m; hh++)
      for (int t = 0; t < tau; t++)
        for (int d = 0; d < D; d++)
          s.planes_t[size_t(d) * ldp + t * mp + hh] = planes[int64_t(hh * tau + t) * D + d];
    yoso_detail::hash_codes_avx512(codes, n, reinterpret_cast<const float*>(x), ldx, n,
                                   reinterpret_cast<const float*>(s.planes_t.data()), m, tau, D);
    return;
  }
  s.proj.resize(size_t(RB) * cols);
  const bool fast = use_avx2<T>(8);  // float with AVX2: bit-major columns, vector compares
  if (fast) {  // planes (m, tau, D) -> (tau, m, D): column t*m + hh of proj is bit t of hash hh
    s.planes_t.resize(size_t(cols) * D);
    for (int hh = 0; hh < m; hh++)
      for (int t = 0; t < tau; t++)
        std::copy(planes + int64_t(hh * tau + t) * D, planes + int64_t(hh * tau + t + 1) * D,
                  s.planes_t.data() + int64_t(t * m + hh) * D);
  }
  const T* pl = fast ? s.planes_t.data() : planes;
  for (int r0 = 0; r0 < n; r0 += RB) {
    const int rows = std::min(RB, n - r0);
    // proj (rows, m*tau) = x[r0..] (rows,D) planes^T; planes is (m*tau, D) row-major.
    gemm<T>(false, true, rows, cols, D, T(1), x + int64_t(r0) * ldx, ldx, pl, D, T(0),
            s.proj.data(), cols);
    if (fast) {
      yoso_detail::codes_from_proj_avx2(codes + r0, n, reinterpret_cast<const float*>(s.proj.data()),
                                        rows, m, tau);
      continue;
    }
    for (int r = 0; r < rows; r++) {
      const T* p = s.proj.data() + int64_t(r) * cols;
      for (int hh = 0; hh < m; hh++) {
        int32_t c = 0;
        for (int t = 0; t < tau; t++) c |= int32_t(p[hh * tau + t] > 0) << t;
        codes[int64_t(hh) * n + r0 + r] = c;
      }
    }
  }
}

template <typename T>
void yoso_cumulate(T* out, const int32_t* qcode, const int32_t* qmask, const int32_t* kcode,
                   const int32_t* kmask, const T* val, int ldv, int n, int D, int m, int tau,
                   double* collisions) {
  auto& s = scratch<T>();
  s.kslot.resize(n);
  s.qslot.resize(n);
  std::fill(out, out + int64_t(n) * D, T(0));
  int64_t coll = 0;
  // Collisions of one hash from its slots: keys per slot, then the queries' slots. O(n + nb).
  auto count = [&](const int32_t* kslot, const int32_t* qslot, int nb) {
    if (!collisions) return;
    s.cur.assign(size_t(nb), 0);
    for (int j = 0; j < n; j++) if (kslot[j] >= 0) s.cur[size_t(kslot[j])]++;
    for (int i = 0; i < n; i++) if (qslot[i] >= 0) coll += s.cur[size_t(qslot[i])];
  };
  if (use_avx2<T>(D)) {  // groups of G hashes: out is swept once per group
    constexpr int G = 4;
    s.kslot.resize(size_t(G) * n);
    s.qslot.resize(size_t(G) * n);
    for (int h0 = 0; h0 < m; h0 += G) {
      const int g = std::min(G, m - h0);
      int64_t toff[G + 1] = {0};
      for (int u = 0; u < g; u++) {
        toff[u + 1] = toff[u] + s.slots.map(kcode + int64_t(h0 + u) * n, kmask,
                                            qcode + int64_t(h0 + u) * n, qmask, n, tau,
                                            s.kslot.data() + int64_t(u) * n,
                                            s.qslot.data() + int64_t(u) * n);
        count(s.kslot.data() + int64_t(u) * n, s.qslot.data() + int64_t(u) * n,
              int(toff[u + 1] - toff[u]));
      }
      T* tables = aligned64(s.table, size_t(toff[g]) * D);
      std::fill(tables, tables + toff[g] * D, T(0));
      yoso_detail::cumulate_group_avx2(reinterpret_cast<float*>(tables), toff, g,
                                       reinterpret_cast<float*>(out),
                                       reinterpret_cast<const float*>(val), ldv, s.kslot.data(),
                                       s.qslot.data(), n, D);
    }
  } else {  // portable: one hash at a time
    for (int hh = 0; hh < m; hh++) {
      const int nb = s.slots.map(kcode + int64_t(hh) * n, kmask, qcode + int64_t(hh) * n, qmask, n,
                                 tau, s.kslot.data(), s.qslot.data());
      count(s.kslot.data(), s.qslot.data(), nb);
      s.table.assign(size_t(nb) * D, T(0));
      for (int j = 0; j < n; j++) {  // scatter: Table[bucket(k_j)] += v_j
        if (s.kslot[j] < 0) continue;
        T* t = s.table.data() + int64_t(s.kslot[j]) * D;
        const T* v = val + int64_t(j) * ldv;
        for (int d = 0; d < D; d++) t[d] += v[d];
      }
      for (int i = 0; i < n; i++) {  // gather: X_i += Table[bucket(q_i)]
        if (s.qslot[i] < 0) continue;
        const T* t = s.table.data() + int64_t(s.qslot[i]) * D;
        T* o = out + int64_t(i) * D;
        for (int d = 0; d < D; d++) o[d] += t[d];
      }
    }
  }
  const T inv = T(1.0 / m);
  for (int64_t e = 0; e < int64_t(n) * D; e++) out[e] *= inv;
  if (collisions) *collisions = double(coll);
}

template <typename T>
double yoso_lsh_grad_qk(T* dq, T* dk, const T* g, const T* v, int ldv, const T* q, const T* k,
                        const int32_t* qcode, const int32_t* kcode, const int32_t* mask, int n,
                        int D, int m, int tau, bool exact, double* collisions_out, T* dv) {
  auto& s = scratch<T>();
  if (dv) std::fill(dv, dv + int64_t(n) * D, T(0));
  s.kslot.resize(n);
  s.qslot.resize(n);
  std::fill(dq, dq + int64_t(n) * D, T(0));
  std::fill(dk, dk + int64_t(n) * D, T(0));
  const double sc = 0.98;
  const T w0 = T(0.5 * tau / m);  // surrogate weight (tau/2), mean over hashes
  const bool fast = !exact && use_avx2<T>(D);
  const bool fast512 = fast && kernel_level() >= 2;
  double collisions = 0, flops = 0;
  // Interleaved rows q_i | g_i and k_j | v_j: one contiguous read per bucket member. The row
  // stride is padded off a power of two so the members of a bucket do not alias in L1 sets, and
  // a multiple of 64 bytes so every row starts a cache line.
  const int64_t ldi = 2 * int64_t(D) + 16;
  T *QG = nullptr, *KV = nullptr;
  if (fast) {
    QG = aligned64(s.kv, size_t(2) * n * ldi);
    KV = QG + int64_t(n) * ldi;
    for (int i = 0; i < n; i++) {
      std::copy(q + int64_t(i) * D, q + int64_t(i + 1) * D, QG + i * ldi);
      std::copy(g + int64_t(i) * D, g + int64_t(i + 1) * D, QG + i * ldi + D);
      std::copy(k + int64_t(i) * D, k + int64_t(i + 1) * D, KV + i * ldi);
      std::copy(v + int64_t(i) * ldv, v + int64_t(i) * ldv + D, KV + i * ldi + D);
    }
  }
  for (int hh = 0; hh < m; hh++) {
    const int nb = s.slots.map(kcode + int64_t(hh) * n, mask, qcode + int64_t(hh) * n, mask, n,
                               tau, s.kslot.data(), s.qslot.data());
    bucket_sort(s.kslot.data(), n, nb, s.kstart, s.klist, s.cur);
    bucket_sort(s.qslot.data(), n, nb, s.qstart, s.qlist, s.cur);
    for (int b = 0; b < nb; b++) {
      const int32_t* Kc = s.klist.data() + s.kstart[b];
      const int32_t* Qc = s.qlist.data() + s.qstart[b];
      const int nk = s.kstart[b + 1] - s.kstart[b], nq = s.qstart[b + 1] - s.qstart[b];
      if (fast && b + 2 < nb) {  // rows are scattered: start fetching bucket b+2's members now
        const int64_t pb = b + 2;
        for (int32_t a = s.qstart[pb]; a < s.qstart[pb + 1]; a++) {
          prefetch_row(QG + s.qlist[a] * ldi, 2 * D);
          prefetch_row(dq + int64_t(s.qlist[a]) * D, D);
        }
        for (int32_t a = s.kstart[pb]; a < s.kstart[pb + 1]; a++) {
          prefetch_row(KV + s.klist[a] * ldi, 2 * D);
          prefetch_row(dk + int64_t(s.klist[a]) * D, D);
        }
      }
      if (nq == 0) continue;
      collisions += double(nq) * nk;
      if (dv && fast512 && D % 16 == 0 && D <= 256) {
        yoso_detail::bucket_dv_avx512(Qc, nq, Kc, nk, reinterpret_cast<const float*>(QG), ldi,
                                      reinterpret_cast<float*>(dv), D);
      } else if (dv) {  // dv_j += sum of the bucket's g_i (queries in bucket order), for its keys
        T* gs = aligned64(s.gsum, size_t(D));
        std::fill(gs, gs + D, T(0));
        for (int a = 0; a < nq; a++) {
          const T* gi = fast ? QG + Qc[a] * ldi + D : g + int64_t(Qc[a]) * D;
          for (int d = 0; d < D; d++) gs[d] += gi[d];
        }
        for (int c = 0; c < nk; c++) {
          T* o = dv + int64_t(Kc[c]) * D;
          for (int d = 0; d < D; d++) o[d] += gs[d];
        }
      }
      if (!exact && 3.0 * nq * nk > 4.0 * (nq + nk) * D) {
        // Big bucket: dq_i += w (sum_j k_j v_j^T) g_i and dk_j += w (sum_i q_i g_i^T) v_j.
        flops += 4.0 * (nq + nk) * D * D;
        s.A.assign(size_t(D) * D, T(0));
        s.Bm.assign(size_t(D) * D, T(0));
        for (int a = 0; a < nk; a++) {
          const T *kj = k + int64_t(Kc[a]) * D, *vj = v + int64_t(Kc[a]) * ldv;
          for (int r = 0; r < D; r++)
            for (int c = 0; c < D; c++) s.A[r * D + c] += kj[r] * vj[c];
        }
        for (int a = 0; a < nq; a++) {
          const T *qi = q + int64_t(Qc[a]) * D, *gi = g + int64_t(Qc[a]) * D;
          for (int r = 0; r < D; r++)
            for (int c = 0; c < D; c++) s.Bm[r * D + c] += qi[r] * gi[c];
        }
        for (int a = 0; a < nq; a++) {
          const T* gi = g + int64_t(Qc[a]) * D;
          T* o = dq + int64_t(Qc[a]) * D;
          for (int r = 0; r < D; r++) o[r] += w0 * dot(s.A.data() + r * D, gi, D);
        }
        for (int a = 0; a < nk; a++) {
          const T* vj = v + int64_t(Kc[a]) * ldv;
          T* o = dk + int64_t(Kc[a]) * D;
          for (int r = 0; r < D; r++) o[r] += w0 * dot(s.Bm.data() + r * D, vj, D);
        }
        continue;
      }
      flops += (exact ? 8.0 : 6.0) * nq * nk * D;
      if (fast) {
        if (s.sbuf.size() < size_t(nq) * nk + 4) s.sbuf.resize(size_t(nq) * nk + 4);
        if (fast512) {
          const size_t vt = size_t(D) * ((nk + 15) / 16 * 16);
          if (s.vtbuf.size() < vt) s.vtbuf.resize(vt);
          if (yoso_detail::bucket_pairs_avx512(Qc, nq, Kc, nk, reinterpret_cast<const float*>(QG),
                                               reinterpret_cast<const float*>(KV), ldi,
                                               reinterpret_cast<float*>(dq),
                                               reinterpret_cast<float*>(dk), D, float(w0),
                                               reinterpret_cast<float*>(s.sbuf.data()),
                                               reinterpret_cast<float*>(s.vtbuf.data())))
            continue;
        }
        yoso_detail::bucket_pairs_avx2(Qc, nq, Kc, nk, reinterpret_cast<const float*>(QG),
                                       reinterpret_cast<const float*>(KV), ldi,
                                       reinterpret_cast<float*>(dq), reinterpret_cast<float*>(dk),
                                       D, float(w0), reinterpret_cast<float*>(s.sbuf.data()));
        continue;
      }
      // Small bucket: the colliding pairs themselves, on packed copies of the members' rows
      // (rows are scattered over the sequence; packing loads each once per hash, not per pair).
      s.pk.resize(size_t(4) * (nq + nk) * D);
      T *Kp = s.pk.data(), *Vp = Kp + int64_t(nk) * D, *dKp = Vp + int64_t(nk) * D;
      T *Qp = dKp + int64_t(nk) * D, *Gp = Qp + int64_t(nq) * D, *dQp = Gp + int64_t(nq) * D;
      for (int c = 0; c < nk; c++) {
        std::copy(k + int64_t(Kc[c]) * D, k + int64_t(Kc[c] + 1) * D, Kp + int64_t(c) * D);
        std::copy(v + int64_t(Kc[c]) * ldv, v + int64_t(Kc[c]) * ldv + D, Vp + int64_t(c) * D);
      }
      for (int a = 0; a < nq; a++) {
        std::copy(q + int64_t(Qc[a]) * D, q + int64_t(Qc[a] + 1) * D, Qp + int64_t(a) * D);
        std::copy(g + int64_t(Qc[a]) * D, g + int64_t(Qc[a] + 1) * D, Gp + int64_t(a) * D);
      }
      std::fill(dKp, dKp + int64_t(nk) * D, T(0));
      std::fill(dQp + 0, dQp + int64_t(nq) * D, T(0));
      for (int a = 0; a < nq; a++) {
        const T *gi = Gp + int64_t(a) * D, *qi = Qp + int64_t(a) * D;
        T* dqi = dQp + int64_t(a) * D;
        for (int c = 0; c < nk; c++) {
          const T *vj = Vp + int64_t(c) * D, *kj = Kp + int64_t(c) * D;
          T w = w0;
          if (exact) {  // importance weight: E[w 1{collide}] = s f'(s x)
            const double x = double(dot(qi, kj, D)), f = yoso_kernel(x, tau, 1.0);
            w = f > 1e-300 ? T(yoso_kernel_grad(x, tau, sc) / f / m) : T(0);
          }
          const T cf = w * dot(gi, vj, D);
          T* dkj = dKp + int64_t(c) * D;
          for (int d = 0; d < D; d++) { dqi[d] += cf * kj[d]; dkj[d] += cf * qi[d]; }
        }
      }
      for (int c = 0; c < nk; c++) {
        T* o = dk + int64_t(Kc[c]) * D;
        const T* p = dKp + int64_t(c) * D;
        for (int d = 0; d < D; d++) o[d] += p[d];
      }
      for (int a = 0; a < nq; a++) {
        T* o = dq + int64_t(Qc[a]) * D;
        const T* p = dQp + int64_t(a) * D;
        for (int d = 0; d < D; d++) o[d] += p[d];
      }
    }
  }
  if (dv) {
    const T inv = T(1.0 / m);
    for (int64_t e = 0; e < int64_t(n) * D; e++) dv[e] *= inv;  // FLOPs: the caller counts them
  }
  if (collisions_out) *collisions_out = collisions;
  return flops;
}

void yoso_force_kernel(const std::string& name) {
  if (name.empty()) { g_kernel_level = -1; return; }
  const int want = name == "avx512" ? 2 : name == "avx2" ? 1 : name == "portable" ? 0 : -2;
  LSHLAB_CHECK(want != -2, "yoso_force_kernel: unknown kernel '" + name + "' (avx512 | avx2 | portable)");
  LSHLAB_CHECK(want <= cpu_kernel_level(), "yoso_force_kernel: this CPU lacks " + name);
  g_kernel_level = want;
}

const char* yoso_kernel_name() {
  const int lv = kernel_level();
  return lv == 2 ? "avx512" : lv == 1 ? "avx2" : "portable";
}

bool yoso_collide(const double* x, const double* y, int D, int tau, uint64_t seed, uint64_t draw) {
  // Draw `draw` lives in the step (low 32 bits) and batch (next 12 bits) fields of site 4095,
  // a site no model layer uses.
  LSHLAB_CHECK((draw >> 44) == 0, "yoso_collide: draw must be < 2^44");
  std::vector<double> planes(size_t(tau) * D);
  yoso_planes<double>(planes.data(), seed, uint32_t(draw), 4095, int(draw >> 32), 0, 1, tau, D);
  for (int t = 0; t < tau; t++) {
    const double* r = planes.data() + int64_t(t) * D;
    double a = 0, b = 0;
    for (int d = 0; d < D; d++) { a += r[d] * x[d]; b += r[d] * y[d]; }
    if ((a > 0) != (b > 0)) return false;
  }
  return true;
}

double yoso_collision_theory(double angle, int tau) { return std::pow(1.0 - angle / M_PI, tau); }

#define YOSO_INSTANTIATE(T)                                                                    \
  template void yoso_planes<T>(T*, uint64_t, uint32_t, uint32_t, int, int, int, int, int);    \
  template void yoso_hash<T>(int32_t*, const T*, int, int, const T*, int, int, int);          \
  template void yoso_cumulate<T>(T*, const int32_t*, const int32_t*, const int32_t*,          \
                                 const int32_t*, const T*, int, int, int, int, int, double*); \
  template double yoso_lsh_grad_qk<T>(T*, T*, const T*, const T*, int, const T*, const T*,    \
                                      const int32_t*, const int32_t*, const int32_t*, int, int, \
                                      int, int, bool, double*, T*);
YOSO_INSTANTIATE(float)
YOSO_INSTANTIATE(double)

}  // namespace lshlab
