/*
 * attention_tile.cuh: what the exact-attention kernels (and yoso_e.cu, tiled the same way) share:
 * the tile geometry, the qkv indexing, loading a (32, D) tile of one head into shared memory, and
 * the register output tile's products with a weight tile and its store.
 *
 * Geometry: a block of 256 threads (8 warps) works on 32 query rows x 32 key rows at a time.
 * A score tile (32 x 32) gives each thread 4 pairs: warp w takes rows w, w+8, w+16, w+24 and
 * lane l column l, so row reductions (max, sum) are warp shuffles. An output tile (32 x D) gives
 * each thread up to kMaxOut elements idx = tid + 256 r, (row, col) = (idx / D, idx % D): a warp
 * reads one row of P (broadcast) and consecutive columns of V. Shared tiles are padded to D + 1
 * floats per row, so the lanes of a warp reading column d of 32 different rows hit 32 banks.
 *
 * Dropout (training): the keep multipliers of a (32 query, 32 key) tile are drawn into shared
 * memory by the whole block before the scores, 4 keys of one query row per thread (one Philox
 * group, or two when T % 4 != 0 shifts the row off the group boundaries). The Philox code sits
 * in a loop that is not unrolled: inlined twice it raised the dropout kernels to ~100
 * registers (2 blocks per SM); once, to 80 (3 blocks), measured with ptxas -v for sm_90.
 */
#pragma once
#include <cstdint>

#include "backend.h"
#include "dropout.cuh"

namespace lshlab_cuda {
namespace attn {

constexpr int kTile = 32;          // query rows and key rows per tile
constexpr int kThreads = 256;      // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = kTile / kWarps;  // 4
constexpr int kMaxD = 128;
constexpr int kMaxOut = kTile * kMaxD / kThreads;  // 16 output elements per thread at D = 128

struct Shape {
  int B, T, H, D;
  float scale;  // 1 / sqrt(D)
  __host__ __device__ int C() const { return H * D; }
};

// Row `t` of head `h` in batch `b`, part 0 = q, 1 = k, 2 = v, of qkv (B,T,3C).
__device__ __forceinline__ const float* qkv_row(const float* qkv, const Shape& s, int b, int t,
                                                int part, int h) {
  const int C = s.C();
  return qkv + (int64_t(b) * s.T + t) * 3 * C + part * C + h * s.D;
}

// Loads rows [t0, t0+32) of a (T, D) slice (row stride `ld` floats from `base`, which points at
// row 0) into tile[32][D+1]; rows at or past T are zero. Every thread of the block calls it.
__device__ __forceinline__ void load_tile(float* tile, const float* base, int64_t ld, int t0,
                                          int T, int D) {
  for (int idx = threadIdx.x; idx < kTile * D; idx += kThreads) {
    const int r = idx / D, c = idx % D;
    const int t = t0 + r;
    tile[r * (D + 1) + c] = t < T ? base[int64_t(t) * ld + c] : 0.f;
  }
}

// Dot product of row r1 of tile a with row r2 of tile b (both [32][D+1]).
__device__ __forceinline__ float tile_dot(const float* a, int r1, const float* b, int r2, int D) {
  const float* x = a + r1 * (D + 1);
  const float* y = b + r2 * (D + 1);
  float s = 0.f;
  for (int d = 0; d < D; d++) s += x[d] * y[d];
  return s;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Whether key t of batch b takes part: inside the sequence and not padding.
__device__ __forceinline__ bool key_valid(const int32_t* mask, const Shape& s, int b, int t) {
  return t < s.T && (mask == nullptr || mask[int64_t(b) * s.T + t] != 0);
}

// ---- the output tile (32 x D) in registers: acc[r] is this thread's element idx = tid + 256 r,
// (row, col) = (idx / D, idx % D), for idx < 32 D (see the geometry above).

__device__ __forceinline__ void out_zero(float (&acc)[kMaxOut]) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) acc[r] = 0.f;
}

// acc (times corr[row] first when kRescale) += P X: P a [32][33] weight tile, X a [32][D+1] tile.
template <bool kRescale>
__device__ __forceinline__ void out_mac_impl(float (&acc)[kMaxOut], const float* corr,
                                             const float* P, const float* X, int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D;
      float a = kRescale ? acc[r] * corr[i] : acc[r];
      for (int j = 0; j < kTile; j++) a += P[i * 33 + j] * X[j * (D + 1) + d];
      acc[r] = a;
    }
  }
}
// acc += P X.
__device__ __forceinline__ void out_mac(float (&acc)[kMaxOut], const float* P, const float* X,
                                        int D) {
  out_mac_impl<false>(acc, nullptr, P, X, D);
}
// acc = acc * corr[row] + P X (the online softmax's rescale of O's rows).
__device__ __forceinline__ void out_mac_rescaled(float (&acc)[kMaxOut], const float* corr,
                                                 const float* P, const float* X, int D) {
  out_mac_impl<true>(acc, corr, P, X, D);
}
// acc1 += P1 X1 and acc2 += P2 X2 in one pass over the rows of the tiles.
__device__ __forceinline__ void out_mac2(float (&acc1)[kMaxOut], const float* P1, const float* X1,
                                         float (&acc2)[kMaxOut], const float* P2, const float* X2,
                                         int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D;
      float a1 = acc1[r], a2 = acc2[r];
      for (int j = 0; j < kTile; j++) {
        a1 += P1[i * 33 + j] * X1[j * (D + 1) + d];
        a2 += P2[i * 33 + j] * X2[j * (D + 1) + d];
      }
      acc1[r] = a1;
      acc2[r] = a2;
    }
  }
}

// out[(t0 + row) * ld + col] = acc * scale for the rows t0 + row < T (out points at row 0).
__device__ __forceinline__ void out_store(float* out, int64_t ld, const float (&acc)[kMaxOut],
                                          float scale, int t0, int T, int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D;
      if (t0 + i < T) out[int64_t(t0 + i) * ld + d] = acc[r] * scale;
    }
  }
}
// Two tiles in one pass: out[...] = acc1 * scale1 and out[... + off2] = acc2 * scale2.
__device__ __forceinline__ void out_store2(float* out, int64_t ld, const float (&acc1)[kMaxOut],
                                           float scale1, int64_t off2,
                                           const float (&acc2)[kMaxOut], float scale2, int t0,
                                           int T, int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < kTile * D) {
      const int i = idx / D, d = idx % D;
      if (t0 + i < T) {
        float* o = out + int64_t(t0 + i) * ld + d;
        o[0] = acc1[r] * scale1;
        o[off2] = acc2[r] * scale2;
      }
    }
  }
}

static_assert(kThreads * 4 == kTile * kTile, "dropout_tile: 4 elements per thread");

// M[i * 33 + j] = keep ? scale : 0 for query q0 + i and key k0 + j of head bh (b * H + h):
// element ((bh * T + q0 + i) * T + k0 + j) of the dropout site, as the CPU's exact_tiled.cc.
// Thread t draws query row t / 8, keys 4 (t % 8) .. + 3. Every thread of the block calls it.
__device__ __forceinline__ void dropout_tile(float* M, const DropoutKeep& d, int bh, int T, int q0,
                                             int k0) {
  const int i = threadIdx.x / 8, j0 = 4 * (threadIdx.x % 8);
  const uint64_t first = d.base + (uint64_t(bh) * T + uint64_t(q0 + i)) * T + uint64_t(k0 + j0);
  const uint64_t group = first & ~uint64_t(3);
  const int off = int(first - group);  // 0 whenever T % 4 == 0
  uint32_t bits = 0;                   // bit k: key j0 + k kept
#pragma unroll 1
  for (int pass = 0; pass < 2; pass++) {  // one Philox call in the code, two when off != 0
    if (pass == 1 && off == 0) break;
    uint32_t r[4];
    d.draw_group(r, group + 4 * pass);
#pragma unroll
    for (int l = 0; l < 4; l++) {
      const int k = 4 * pass + l - off;
      if (k >= 0 && k < 4 && d.kept(r[l])) bits |= 1u << k;
    }
  }
#pragma unroll
  for (int k = 0; k < 4; k++) M[i * 33 + j0 + k] = (bits >> k) & 1 ? d.scale : 0.f;
}

}  // namespace attn
}  // namespace lshlab_cuda
