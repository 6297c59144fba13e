/*
 * attention_tile.cuh: what the exact-attention kernels (and yoso_e.cu, tiled the same way) share:
 * the tile geometry, the qkv indexing, loading a (rows, D) tile of one head into shared memory,
 * and the register output tile's products with a weight tile and its store.
 *
 * Geometry: a block of 256 threads (8 warps) works on a tile pair, Tiles<kRows, kCols>: kRows
 * resident rows (the block's own queries, or keys, whose output rows it accumulates in
 * registers) x kCols streamed rows (the other side, loaded tile by tile). A score tile gives
 * thread t the kPasses pairs (row t / kCols + kStep p, column t % kCols); at kCols = 32 warp w
 * takes rows w, w+8, ... and lane l column l, so row reductions (max, sum) are warp shuffles. An
 * output tile (kRows x D) gives each thread up to kMaxOut elements idx = tid + 256 r, (row, col) =
 * (idx / D, idx % D): a warp reads one row of P (broadcast) and consecutive columns of V. Shared
 * tiles are padded to D + 1 floats per row, so the lanes of a warp reading column d of 32
 * different rows hit 32 banks; weight tiles (P, dS, dropout) to kCols + 1.
 *
 * Head sizes: Tiles32 (32 x 32) serves D <= 128 (kMaxD). D in 129..256 (kMaxDWide) takes 16
 * resident rows (Tiles<16, 32>; Tiles<16, 16> where four (rows, D + 1) tiles must fit), so the
 * output tile stays kMaxOut = 16 registers per thread and a block's tiles fit the 99 KiB of shared
 * memory a block may opt into on sm_86 / sm_89 (a (32, 257) tile is 33 KiB). The kernels are
 * templated on the geometry and the launch picks the instantiation by D, so the D <= 128 code is
 * the 32 x 32 code.
 *
 * Dropout (training): the keep multipliers of a (query, key) tile are drawn into shared memory
 * by the block before the scores, 4 keys of one query row per thread (one Philox group, or two
 * when T % 4 != 0 shifts the row off the group boundaries). The Philox code sits in a loop that
 * is not unrolled: inlined twice it raised the dropout kernels to ~100 registers (2 blocks per
 * SM); once, to 80 (3 blocks), measured with ptxas -v for sm_90.
 */
#pragma once
#include <cstdint>
#include <cstdio>

#include "backend.h"
#include "dropout.cuh"

namespace lshlab_cuda {
namespace attn {

constexpr int kTile = 32;          // query rows and key rows per tile (Tiles32)
constexpr int kThreads = 256;      // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerWarp = kTile / kWarps;  // 4 (Tiles32)
constexpr int kMaxD = 128;                    // head sizes of Tiles32
constexpr int kMaxDWide = 256;                // head sizes of the 16-row tiles
constexpr int kMaxOut = kTile * kMaxD / kThreads;  // 16 output elements per thread, any geometry

// A tile pair: kRows resident x kCols streamed rows (see the geometry above).
template <int kRows_, int kCols_>
struct Tiles {
  static constexpr int kRows = kRows_;
  static constexpr int kCols = kCols_;
  static constexpr int kStep = kThreads / kCols;           // score rows of one pass
  static constexpr int kPasses = kRows / kStep;            // score pairs per thread
  static constexpr int kMaxD = kThreads * kMaxOut / kRows;  // output tile in kMaxOut registers
  static constexpr int kLd = kCols + 1;                    // row stride of a weight tile
  static_assert(kThreads % kCols == 0 && kRows % kStep == 0, "whole passes over the score tile");
  __device__ static int col() { return threadIdx.x % kCols; }
  __device__ static int row(int pass) { return threadIdx.x / kCols + kStep * pass; }
};
using Tiles32 = Tiles<kTile, kTile>;
using Tiles16x32 = Tiles<16, kTile>;
using Tiles16 = Tiles<16, 16>;
static_assert(Tiles32::kMaxD == kMaxD && Tiles16x32::kMaxD == kMaxDWide &&
                  Tiles16::kMaxD == kMaxDWide, "head sizes of the geometries");

struct Shape {
  int B, T, H, D;
  float scale;  // 1 / sqrt(D)
  __host__ __device__ int C() const { return H * D; }
};

// 0 when the kernels take head size D (1..kMaxDWide); else fails naming `what` and D.
inline int check_head_size(const char* what, int D) {
  if (D >= 1 && D <= kMaxDWide) return 0;
  char msg[96];
  std::snprintf(msg, sizeof msg, "head size D = %d is outside 1..%d", D, kMaxDWide);
  return fail(1, what, msg);
}

// Row `t` of head `h` in batch `b`, part 0 = q, 1 = k, 2 = v, of qkv (B,T,3C).
__device__ __forceinline__ const float* qkv_row(const float* qkv, const Shape& s, int b, int t,
                                                int part, int h) {
  const int C = s.C();
  return qkv + (int64_t(b) * s.T + t) * 3 * C + part * C + h * s.D;
}

// Loads rows [t0, t0+kR) of a (T, D) slice (row stride `ld` floats from `base`, which points at
// row 0) into tile[kR][D+1]; rows at or past T are zero. Every thread of the block calls it.
template <int kR = kTile>
__device__ __forceinline__ void load_tile(float* tile, const float* base, int64_t ld, int t0,
                                          int T, int D) {
  for (int idx = threadIdx.x; idx < kR * D; idx += kThreads) {
    const int r = idx / D, c = idx % D;
    const int t = t0 + r;
    tile[r * (D + 1) + c] = t < T ? base[int64_t(t) * ld + c] : 0.f;
  }
}

// Dot product of row r1 of tile a with row r2 of tile b (both [rows][D+1]).
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

// Whether key t of batch b takes part: inside the sequence and not padding. t may be -1 (an
// empty slot of a sorted tile): no read then (found by the emulation under AddressSanitizer).
__device__ __forceinline__ bool key_valid(const int32_t* mask, const Shape& s, int b, int t) {
  return t >= 0 && t < s.T && (mask == nullptr || mask[int64_t(b) * s.T + t] != 0);
}

// ---- the output tile (G::kRows x D) in registers: acc[r] is this thread's element
// idx = tid + 256 r, (row, col) = (idx / D, idx % D), for idx < kRows D (see the geometry above).
// G defaults to Tiles32.

__device__ __forceinline__ void out_zero(float (&acc)[kMaxOut]) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) acc[r] = 0.f;
}

// acc (times corr[row] first when kRescale) += P X: P a [kRows][kCols+1] weight tile, X a
// [kCols][D+1] tile.
template <bool kRescale, class G>
__device__ __forceinline__ void out_mac_impl(float (&acc)[kMaxOut], const float* corr,
                                             const float* P, const float* X, int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < G::kRows * D) {
      const int i = idx / D, d = idx % D;
      float a = kRescale ? acc[r] * corr[i] : acc[r];
      for (int j = 0; j < G::kCols; j++) a += P[i * G::kLd + j] * X[j * (D + 1) + d];
      acc[r] = a;
    }
  }
}
// acc += P X.
template <class G = Tiles32>
__device__ __forceinline__ void out_mac(float (&acc)[kMaxOut], const float* P, const float* X,
                                        int D) {
  out_mac_impl<false, G>(acc, nullptr, P, X, D);
}
// acc = acc * corr[row] + P X (the online softmax's rescale of O's rows).
template <class G = Tiles32>
__device__ __forceinline__ void out_mac_rescaled(float (&acc)[kMaxOut], const float* corr,
                                                 const float* P, const float* X, int D) {
  out_mac_impl<true, G>(acc, corr, P, X, D);
}
// acc1 += P1 X1 and acc2 += P2 X2 in one pass over the rows of the tiles.
template <class G = Tiles32>
__device__ __forceinline__ void out_mac2(float (&acc1)[kMaxOut], const float* P1, const float* X1,
                                         float (&acc2)[kMaxOut], const float* P2, const float* X2,
                                         int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < G::kRows * D) {
      const int i = idx / D, d = idx % D;
      float a1 = acc1[r], a2 = acc2[r];
      if constexpr (G::kCols == kTile) {
        for (int j = 0; j < kTile; j++) {
          a1 += P1[i * G::kLd + j] * X1[j * (D + 1) + d];
          a2 += P2[i * G::kLd + j] * X2[j * (D + 1) + d];
        }
      } else {
        // 16 rows (Tiles16), 4 at a time: unrolled whole (the compiler's default), the dk/dv
        // kernels came out of ptxas at 64 registers with spills; so, at 74..100 and none (sm_90).
#pragma unroll 4
        for (int j = 0; j < G::kCols; j++) {
          a1 += P1[i * G::kLd + j] * X1[j * (D + 1) + d];
          a2 += P2[i * G::kLd + j] * X2[j * (D + 1) + d];
        }
      }
      acc1[r] = a1;
      acc2[r] = a2;
    }
  }
}

// out[(t0 + row) * ld + col] = acc * scale for the rows t0 + row < T (out points at row 0).
template <class G = Tiles32>
__device__ __forceinline__ void out_store(float* out, int64_t ld, const float (&acc)[kMaxOut],
                                          float scale, int t0, int T, int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < G::kRows * D) {
      const int i = idx / D, d = idx % D;
      if (t0 + i < T) out[int64_t(t0 + i) * ld + d] = acc[r] * scale;
    }
  }
}
// Two tiles in one pass: out[...] = acc1 * scale1 and out[... + off2] = acc2 * scale2.
template <class G = Tiles32>
__device__ __forceinline__ void out_store2(float* out, int64_t ld, const float (&acc1)[kMaxOut],
                                           float scale1, int64_t off2,
                                           const float (&acc2)[kMaxOut], float scale2, int t0,
                                           int T, int D) {
#pragma unroll
  for (int r = 0; r < kMaxOut; r++) {
    const int idx = threadIdx.x + kThreads * r;
    if (idx < G::kRows * D) {
      const int i = idx / D, d = idx % D;
      if (t0 + i < T) {
        float* o = out + int64_t(t0 + i) * ld + d;
        o[0] = acc1[r] * scale1;
        o[off2] = acc2[r] * scale2;
      }
    }
  }
}

// M[i * (kK + 1) + j] = keep ? scale : 0 for query q0 + i (i < kQ) and key k0 + j (j < kK) of
// head bh (b * H + h): element ((bh * T + q0 + i) * T + k0 + j) of the dropout site, as the
// CPU's exact_tiled.cc. Thread t draws query row t / (kK / 4), keys 4 (t % (kK / 4)) .. + 3
// (threads past the tile draw nothing). Every thread of the block calls it.
template <int kQ = kTile, int kK = kTile>
__device__ __forceinline__ void dropout_tile(float* M, const DropoutKeep& d, int bh, int T, int q0,
                                             int k0) {
  constexpr int kGroups = kK / 4;  // threads per query row
  static_assert(kK % 4 == 0 && kQ * kGroups <= kThreads, "dropout_tile: 4 keys per thread");
  const int i = threadIdx.x / kGroups, j0 = 4 * (threadIdx.x % kGroups);
  if (kQ * kGroups < kThreads && i >= kQ) return;
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
  for (int k = 0; k < 4; k++) M[i * (kK + 1) + j0 + k] = (bits >> k) & 1 ? d.scale : 0.f;
}

}  // namespace attn
}  // namespace lshlab_cuda
