/*
 * yoso_common.cuh: what the YOSO kernels (yoso_hash.cu, yoso_sort.cu, yoso_forward.cu,
 * yoso_backward.cu) share: the shape, strided row access, the per-chunk workspace plan, warp
 * helpers and the lookups into sorted codes. See attention/yoso.h for the maths. yoso_e.cu and
 * yoso_rows.cu use the shape and row helpers too.
 *
 * Shapes: B batch, T = n tokens, H heads, D head size (<= 128), m hashes, tau bits per code.
 *   qkv (B,T,3C), ctx (B,T,C), codes (B,H,m,T), planes (B,H,m,tau,D), per-head rows (B,H,T,D).
 * A "segment" is one (b, h, hash): the n codes of its keys (or queries), sorted by code with a
 * stable radix sort (yoso_sort.cu), so a bucket is a run of equal codes and a lookup is a binary
 * search: no 2^tau arrays anywhere, memory O(n) per segment for any tau <= 30.
 * Hashes run in chunks of mc (the plan): per chunk, sort buffers (4 n ints per side per segment),
 * radix counts, one bucket table per segment with R = min(2^tau, n) rows of D floats (row = the
 * code itself when 2^tau <= n, else the run's first sorted position) and, for the backward's big
 * buckets, D x D matrices in ceil(n / L) slots per segment and side (~0.75 n D floats). A chunk
 * is sized to ~1 GiB (at least one hash), and the result does not depend on mc: every sum runs
 * hash by hash in the same order whatever the chunking.
 */
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "backend.h"

namespace lshlab_cuda {
namespace yoso {

constexpr int kThreads = 256;  // every YOSO kernel: 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kMaxD = 128;
constexpr int kPerLane = kMaxD / 32;  // row elements a lane holds (d = lane + 32 r)
constexpr int kRadixBits = 8, kBins = 1 << kRadixBits;
constexpr double kEps = 1e-12;  // F.normalize's eps, as attention/yoso.cc

struct Shape {
  int B, T, H, D, m, tau;
  __host__ __device__ int C() const { return H * D; }
  __host__ __device__ int64_t BH() const { return int64_t(B) * H; }
};

// Row j of head h in batch b of a strided tensor: base + b*sb + h*sh + j*ld (floats).
struct Rows {
  float* base;
  int64_t sb, sh, ld;
  __device__ float* row(int b, int h, int j) const { return base + b * sb + h * sh + j * ld; }
};
// Part 0 = q, 1 = k, 2 = v of qkv (B,T,3C); ctx-like (B,T,C); per-head (B,H,T,D).
inline Rows qkv_rows(const float* qkv, const Shape& s, int part) {
  const int64_t C = s.C();
  return {const_cast<float*>(qkv) + part * C, int64_t(s.T) * 3 * C, s.D, 3 * C};
}
inline Rows ctx_rows(const float* x, const Shape& s) {
  return {const_cast<float*>(x), int64_t(s.T) * s.C(), s.D, s.C()};
}
inline Rows head_rows(const float* x, const Shape& s) {
  return {const_cast<float*>(x), int64_t(s.H) * s.T * s.D, int64_t(s.T) * s.D, s.D};
}

// Workspace of one chunk of mc hashes (S = B*H*mc segments), in bytes from a 256-byte aligned
// base. The backward's fixed part (unit q, k, the output-normalisation gradient g and the two
// norms) comes first; the forward uses the same offsets (its fixed part holds the collision
// counts only, which fit in it).
struct Plan {
  int mc = 1;              // hashes per chunk
  int64_t S = 0;           // segments per chunk
  int64_t tiles = 0;       // radix tiles of 256 per segment
  int64_t R = 0;           // table rows per segment
  bool dense = false;      // table row = code (2^tau <= n) vs run start
  int L = 1;               // big-bucket matrix slot = run start / L (backward)
  int64_t nslot = 0;       // matrix slots per segment
  size_t fixed = 0, key = 0, counts = 0, table = 0, mats = 0, total = 0;  // bytes
};

inline size_t align256(size_t x) { return (x + 255) / 256 * 256; }

inline Plan make_plan(const Shape& s) {
  Plan p;
  const int64_t n = s.T, BH = s.BH();
  p.tiles = (n + kThreads - 1) / kThreads;
  p.dense = s.tau < 31 && (int64_t(1) << s.tau) <= n;
  p.R = p.dense ? (int64_t(1) << s.tau) : n;
  // A big bucket (yoso_backward.cu) has more than 4D/3 members on each side, so two big runs
  // start at least L = floor(4D/3) + 1 apart and run start / L numbers them without a scan.
  p.L = 4 * s.D / 3 + 1;
  p.nslot = (n + p.L - 1) / p.L;
  const size_t DD = size_t(s.D) * s.D;
  const size_t per_hash = size_t(BH) * (8 * size_t(n) * 4 + size_t(kBins) * p.tiles * 4 +
                                        size_t(p.R) * s.D * 4 + 2 * size_t(p.nslot) * DD * 4);
  const size_t budget = size_t(1) << 30;
  int64_t mc = int64_t(budget / (per_hash ? per_hash : 1));
  if (mc > s.m) mc = s.m;
  // Tests only: LSHLAB_CUDA_YOSO_HASH_CHUNK=k caps the chunk at k hashes, so a small shape runs
  // the multi-chunk path (the results must not change).
  if (const char* e = std::getenv("LSHLAB_CUDA_YOSO_HASH_CHUNK"))
    if (std::atoi(e) > 0 && std::atoi(e) < mc) mc = std::atoi(e);
  if (mc > 65535 / (BH ? BH : 1)) mc = 65535 / (BH ? BH : 1);  // grid.y holds the segments
  p.mc = int(mc < 1 ? 1 : mc);
  p.S = BH * p.mc;
  p.fixed = align256(size_t(BH) * n * (3 * size_t(s.D) + 2) * 4);
  p.key = align256(size_t(p.S) * n * 4);  // one of the 8 key / index arrays
  p.counts = align256(size_t(p.S) * kBins * p.tiles * 4);
  p.table = align256(size_t(p.S) * p.R * s.D * 4);
  p.mats = align256(size_t(p.S) * p.nslot * DD * 4);  // one side's
  p.total = p.fixed + 8 * p.key + p.counts + p.table + 2 * p.mats;
  return p;
}

// Chunk workspace pointers carved from the plan.
struct Chunk {
  uint32_t* keys[4];   // side 0 (keys of attention) A, B; side 1 (queries) A, B
  uint32_t* idx[4];
  int32_t* counts;
  float* table;
  float* mats[2];      // big-bucket matrices (S, nslot, D, D), partner = keys, partner = queries
};
inline Chunk carve(void* ws, const Plan& p) {
  char* c = static_cast<char*>(ws) + p.fixed;
  Chunk k;
  for (int i = 0; i < 4; i++) k.keys[i] = reinterpret_cast<uint32_t*>(c + i * p.key);
  for (int i = 0; i < 4; i++) k.idx[i] = reinterpret_cast<uint32_t*>(c + (4 + i) * p.key);
  k.counts = reinterpret_cast<int32_t*>(c + 8 * p.key);
  k.table = reinterpret_cast<float*>(c + 8 * p.key + p.counts);
  k.mats[0] = reinterpret_cast<float*>(c + 8 * p.key + p.counts + p.table);
  k.mats[1] = reinterpret_cast<float*>(c + 8 * p.key + p.counts + p.table + p.mats);
  return k;
}

// Sorted codes of one side for the current chunk: keys[s*n + p], idx[s*n + p] (yoso_sort.cu).
struct Sorted {
  const uint32_t* keys;
  const uint32_t* idx;
};

// Shape checks shared by the forward, the backward and the workspace query (0 = fine).
int yoso_check(const char* what, const Shape& s);
// planes (B,H,m,tau,D) <- the CPU's yoso_planes draws (Philox, Box-Muller in float64, rounded).
int draw_planes(float* planes, const Shape& s, uint64_t seed, uint32_t step, uint32_t site);
// qcode, kcode (B,H,m,T) <- tau sign bits (bit t = projection on plane t > 0) of the unit q, k.
int hash_codes(int32_t* qcode, int32_t* kcode, const float* qkv, const float* planes,
               const Shape& s);
// Per (b, t, h) row (yoso_rows.cu): qn, kn (B,H,T,D) unit q, k and qnrm, knrm (B,H,T) their
// max(|x|, 1e-12), as yoso.cc's l2_rows; g (B,H,T,D), unless null: d/dX of ctx = X / ynrm given
// dctx (0 on padded queries), as l2_rows_backward.
int prep_rows(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
              const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
              const Shape& s);
// dqkv's q, k parts hold dQn, dKn: take them through the input normalisations in place; the v
// part is multiplied by dv_scale.
int finish_rows(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                const float* knrm, const Shape& s, float dv_scale);
// Stable sort of the chunk's segments [h0, h0 + mc) of codes (B,H,m,T) with their mask
// (masked tokens sort last with key 2^tau); a and b are the two buffer pairs of one side.
int sort_codes(Sorted* out, const int32_t* codes, const int32_t* mask, const Shape& s,
               const Plan& p, int h0, uint32_t* ka, uint32_t* ia, uint32_t* kb, uint32_t* ib,
               int32_t* counts);
// table[s][row] = sum of val rows of each run of the sorted side, in sorted (= index) order.
int bucket_sums(float* table, const Sorted& sorted, Rows val, const Shape& s, const Plan& p,
                int h0);
// out_i (+)= sum over the chunk's hashes of table[bucket of code_i] for unmasked rows i; the
// first chunk (h0 == 0) starts from 0. counts (B,H,T), if given, accumulate the run sizes.
int bucket_gather(Rows out, int64_t* counts, const int32_t* codes, const int32_t* mask,
                  const float* table, const Sorted& sorted, const Shape& s, const Plan& p,
                  int h0);

// ---- device helpers ----

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ bool token(const int32_t* mask, const Shape& s, int b, int t) {
  return mask == nullptr || mask[int64_t(b) * s.T + t] != 0;
}

// First sorted position in [0, n) whose key is >= c (n if none).
__device__ __forceinline__ int lower_bound(const uint32_t* keys, int n, uint32_t c) {
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = (lo + hi) >> 1;
    if (keys[mid] < c) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Loads row x (D floats) into lane registers r[k] = x[lane + 32 k] (0 past D).
__device__ __forceinline__ void load_row(float r[kPerLane], const float* x, int D, int lane) {
#pragma unroll
  for (int k = 0; k < kPerLane; k++) r[k] = lane + 32 * k < D ? x[lane + 32 * k] : 0.f;
}

}  // namespace yoso
}  // namespace lshlab_cuda
