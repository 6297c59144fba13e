/*
 * yoso_common.cuh: what the YOSO kernels (yoso_hash.cu, yoso_sort.cu, yoso_forward.cu,
 * yoso_backward.cu) share: strided row access, the chunk workspace, warp helpers, row registers
 * and the lookups into sorted codes; the shape, the plan and the index arithmetic are in
 * yoso_plan.cuh (plain C++, checked on the host). See attention/yoso.h for the maths. yoso_e.cu
 * and yoso_rows.cu use the shape and row helpers too.
 *
 * Shapes: B batch, T = n tokens, H heads, D head size (<= 256), m hashes, tau bits per code.
 *   qkv (B,T,3C), ctx (B,T,C), codes (B,H,m,T), planes (B,H,m,tau,D), per-head rows (B,H,T,D).
 * A "segment" is one (b, h, hash): the n codes of its keys (or queries), sorted by code with a
 * stable radix sort (yoso_sort.cu), so a bucket is a run of equal codes and a lookup is a binary
 * search: no 2^tau arrays anywhere, memory O(n) per segment for any tau <= 30. Segments run in
 * chunks of heads x hashes (yoso_plan.cuh).
 * Row kernels keep a row in registers, PL = 4 elements per lane (d = lane + 32 r) for D <= 128,
 * 8 for D <= 256: each is a template on PL, chosen at launch (with_lanes), so the common D <= 128
 * pays no registers for the larger sizes.
 */
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

#include "backend.h"
#include "hash_draw.cuh"
#include "yoso_plan.cuh"

namespace lshlab_cuda {
namespace yoso {

constexpr int kPerLane = kMaxD / 32;       // row elements a lane holds for D <= 128
constexpr int kPerLaneMax = kMaxHeadD / 32;  // and for D <= 256
constexpr double kEps = 1e-12;  // F.normalize's eps, as attention/yoso.cc

// Row j of head h in batch b of a strided tensor: base + b*sb + h*sh + j*ld - off (floats);
// off = bh0 * T * D for a chunk's per-head rows that start at head bh0.
struct Rows {
  float* base;
  int64_t sb, sh, ld, off;
  __device__ float* row(int b, int h, int j) const {
    return base + (b * sb + h * sh + j * ld - off);
  }
};
// Part 0 = q, 1 = k, 2 = v of qkv (B,T,3C); ctx-like (B,T,C); per-head (B,H,T,D), or a chunk's
// (nb,T,D) of heads from bh0.
inline Rows qkv_rows(const float* qkv, const Shape& s, int part) {
  const int64_t C = s.C();
  return {const_cast<float*>(qkv) + part * C, int64_t(s.T) * 3 * C, s.D, 3 * C, 0};
}
inline Rows ctx_rows(const float* x, const Shape& s) {
  return {const_cast<float*>(x), int64_t(s.T) * s.C(), s.D, s.C(), 0};
}
inline Rows head_rows(const float* x, const Shape& s, int64_t bh0 = 0) {
  return {const_cast<float*>(x), int64_t(s.H) * s.T * s.D, int64_t(s.T) * s.D, s.D,
          head_row_at(bh0, s.T, 0, s.D)};
}

// Calls f(std::integral_constant<int, PL>) with the lanes' row width for head size D.
template <typename F>
int with_lanes(int D, F&& f) {
  if (D <= kMaxD) return f(std::integral_constant<int, kPerLane>());
  if (D <= kMaxHeadD) return f(std::integral_constant<int, kPerLaneMax>());
  return fail(1, "yoso", "head size D must be in 1..256");
}

// A one-dimensional grid of `blocks` (y and z stop at 65535, so every YOSO grid is flat), or a
// message naming the launch when it passes the hardware's 2^31 - 1 blocks.
inline int grid_of(unsigned* g, int64_t blocks, const char* what) {
  if (blocks < 1 || blocks > kMaxGrid) return fail(1, what, "grid of 0 or more than 2^31 - 1 blocks");
  *g = unsigned(blocks);
  return 0;
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

// The segments of one chunk: heads [bh0, bh0 + nb) x hashes [h0, h0 + mc), seg = (bh - bh0) *
// mc + (hash - h0).
struct Seg {
  int bh0, nb, h0, mc;  // B*H < 2^20 (yoso_check)
  __host__ __device__ int64_t S() const { return int64_t(nb) * mc; }
};

// Sorted codes of one side for the current chunk: keys[seg*n + p], idx[seg*n + p] (yoso_sort.cu).
struct Sorted {
  const uint32_t* keys;
  const uint32_t* idx;
};

// Shape checks shared by the forward, the backward and the workspace query (0 = fine).
int yoso_check(const char* what, const Shape& s);
// planes (B,H,m,tau,D) <- the CPU's yoso_planes draws (Philox, Box-Muller in float64, rounded).
int draw_planes(float* planes, const Shape& s, const HashDraw& draw, uint32_t site);
// qcode, kcode (B,H,m,T) <- tau sign bits (bit t = projection on plane t > 0) of the unit q, k.
int hash_codes(int32_t* qcode, int32_t* kcode, const float* qkv, const float* planes,
               const Shape& s);
// Per (b, t, h) row (yoso_rows.cu): qn, kn (B,H,T,D) unit q, k and qnrm, knrm (B,H,T) their
// max(|x|, 1e-12), as yoso.cc's l2_rows; g (B,H,T,D), unless null: d/dX of ctx = X / ynrm given
// dctx (0 on padded queries), as l2_rows_backward.
int prep_rows(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
              const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
              const Shape& s);
// The same for the heads [bh0, bh0 + nb) only, into (nb,T,D) and (nb,T) arrays.
int prep_rows(float* qn, float* kn, float* g, float* qnrm, float* knrm, const float* qkv,
              const float* dctx, const float* ctx, const float* ynrm, const int32_t* mask,
              const Shape& s, int bh0, int nb);
// dqkv's q, k parts hold dQn, dKn: take them through the input normalisations in place; the v
// part is multiplied by dv_scale. The second form: heads [bh0, bh0 + nb), rows as prep_rows'.
int finish_rows(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                const float* knrm, const Shape& s, float dv_scale);
int finish_rows(float* dqkv, const float* qn, const float* kn, const float* qnrm,
                const float* knrm, const Shape& s, float dv_scale, int bh0, int nb);
// Stable sort of the chunk's segments of codes (B,H,m,T) with their mask (masked tokens sort
// last with key 2^tau); a and b are the two buffer pairs of one side.
int sort_codes(Sorted* out, const int32_t* codes, const int32_t* mask, const Shape& s,
               const Seg& c, uint32_t* ka, uint32_t* ia, uint32_t* kb, uint32_t* ib,
               int32_t* counts);
// table[seg][row] = sum of val rows of each run of the sorted side, in sorted (= index) order.
int bucket_sums(float* table, const Sorted& sorted, Rows val, const Shape& s, const Plan& p,
                const Seg& c);
// out_i (+)= sum over the chunk's hashes of table[bucket of code_i] for unmasked rows i of the
// chunk's heads; the first chunk of hashes (h0 == 0) starts from 0. counts (B,H,T), if given,
// accumulate the run sizes.
int bucket_gather(Rows out, int64_t* counts, const int32_t* codes, const int32_t* mask,
                  const float* table, const Sorted& sorted, const Shape& s, const Plan& p,
                  const Seg& c);

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
    const int mid = int((unsigned(lo) + unsigned(hi)) >> 1);
    if (keys[mid] < c) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Loads row x (D floats) into lane registers r[k] = x[lane + 32 k] (0 past D).
template <int PL>
__device__ __forceinline__ void load_row(float (&r)[PL], const float* x, int D, int lane) {
#pragma unroll
  for (int k = 0; k < PL; k++) r[k] = lane + 32 * k < D ? x[lane + 32 * k] : 0.f;
}

}  // namespace yoso
}  // namespace lshlab_cuda
