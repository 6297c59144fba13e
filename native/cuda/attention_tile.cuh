/*
 * attention_tile.cuh: what the exact-attention kernels share: the tile geometry, the qkv
 * indexing, and loading a (32, D) tile of one head into shared memory.
 *
 * Geometry: a block of 256 threads (8 warps) works on 32 query rows x 32 key rows at a time.
 * A score tile (32 x 32) gives each thread 4 pairs: warp w takes rows w, w+8, w+16, w+24 and
 * lane l column l, so row reductions (max, sum) are warp shuffles. An output tile (32 x D) gives
 * each thread up to kMaxOut elements idx = tid + 256 r, (row, col) = (idx / D, idx % D): a warp
 * reads one row of P (broadcast) and consecutive columns of V. Shared tiles are padded to D + 1
 * floats per row, so the lanes of a warp reading column d of 32 different rows hit 32 banks.
 */
#pragma once
#include <cstdint>

#include "backend.h"

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

}  // namespace attn
}  // namespace lshlab_cuda
