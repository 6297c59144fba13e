/*
 * attention_bf16.cuh: what the bf16 tensor-core exact-attention kernels share
 * (attention_bf16_forward.cu, attention_bf16_backward.cu): the block geometry, the wmma fragment
 * types, fp32 rows loaded as bf16 tiles, the rows of an accumulator's elements, and a run of
 * dropout keep bits.
 *
 * Geometry: 128 threads (4 warps) per block, 64 resident rows per block, 16 per warp (one
 * m16n16k16 row of fragments), so each warp owns its rows' scores, softmax and outputs and
 * needs only __syncwarp between its own steps; the block shares the streamed bf16 tiles.
 * Tiles are bf16 [rows][D + 8]: wmma wants ldm a multiple of 8 (16-bit elements) and 32-byte
 * aligned fragment pointers, and the 8 extra elements (16 bytes) shift consecutive rows by 4
 * banks, so the 8 rows of a fragment load do not all hit the same banks. Every region of the
 * kernels' dynamic shared memory starts at a multiple of 128 bytes (the dynamic shared memory
 * itself starts aligned: the kernels declare no static shared memory).
 *
 * Why the rows of a fragment's elements (fragment_rows): the online softmax rescales O's rows,
 * and O lives in accumulator fragments whose element-to-(row, col) mapping wmma leaves
 * undocumented. Loading a tile whose element (r, c) is r into a fragment of the same type tells
 * each lane the row of each of its elements on any GPU (same type, same mapping), so O stays in
 * registers and no layout is assumed.
 */
#pragma once
#include <cuda_bf16.h>
#include <mma.h>

#include "attention_tile.cuh"

namespace lshlab_cuda {
namespace attn_bf16 {

using bf16 = __nv_bfloat16;
namespace wmma = nvcuda::wmma;
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;     // (k, n) at k*ld + n
using FragBt = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;    // (k, n) at n*ld + k
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
constexpr int kElems = FragC::num_elements;

constexpr int kThreads = 128;  // 4 warps
constexpr int kWarps = kThreads / 32;
constexpr int kWarpRows = 16;                  // resident rows per warp
constexpr int kBlockRows = kWarps * kWarpRows;  // 64 resident rows per block
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

// Row stride (elements) of a bf16 tile with `cols` columns; of an fp32 scratch tile.
__host__ __device__ constexpr int ld_bf16(int cols) { return cols + 8; }
__host__ __device__ constexpr int ld_f32(int cols) { return cols + 4; }

// 0 when the bf16 kernels take head size D (64 or 128); else fails naming `what`, D and both.
inline int check_head_size_bf16(const char* what, int D) {
  if (D == 64 || D == 128) return 0;
  char msg[160];
  std::snprintf(msg, sizeof msg,
                "head size D = %d: the bf16 kernels take D = 64 or 128 (attention_forward / "
                "attention_backward take the others in fp32)", D);
  return fail(1, what, msg);
}

// tile[r][c] (ld ld_bf16(D)) = bf16(row t0 + r of a (T, D) fp32 slice, row stride `ld` from
// `base`), rounded to nearest even; 0 for rows at or past T. Consecutive threads read
// consecutive floats (coalesced). Every thread of the block calls it.
template <int kRows, int D>
__device__ __forceinline__ void load_tile_bf16(bf16* tile, const float* base, int64_t ld, int t0, int T) {
  constexpr int kLd = ld_bf16(D);
#pragma unroll 4
  for (int idx = threadIdx.x; idx < kRows * D; idx += kThreads) {
    const int r = idx / D, c = idx % D;
    const int t = t0 + r;
    tile[r * kLd + c] = __float2bfloat16_rn(t < T ? base[int64_t(t) * ld + c] : 0.f);
  }
}

// rows[i] = the row (0..15) of element x[i] of an FragC (see the header); scratch: 256 floats of
// this warp's shared memory, 32-byte aligned, free during the call. All lanes call it.
__device__ __forceinline__ void fragment_rows(int (&rows)[kElems], float* scratch, int lane) {
  for (int e = lane; e < 256; e += 32) scratch[e] = float(e / 16);
  __syncwarp();
  FragC f;
  wmma::load_matrix_sync(f, scratch, 16, wmma::mem_row_major);
#pragma unroll
  for (int i = 0; i < kElems; i++) rows[i] = int(f.x[i]);
  __syncwarp();
}

// acc.x[i] *= factor[row of element i], for each fragment of an (16, 16 n) accumulator row.
template <int n>
__device__ __forceinline__ void scale_rows(FragC (&acc)[n], const int (&rows)[kElems], const float* factor) {
#pragma unroll
  for (int j = 0; j < n; j++)
#pragma unroll
    for (int i = 0; i < kElems; i++) acc[j].x[i] *= factor[rows[i]];
}

// Bit j (j < n <= 32): counter index first + j of the dropout site kept (dropout.cuh's rule),
// from whole Philox groups of four. Not unrolled: the Philox rounds once in the code.
__device__ __forceinline__ uint32_t keep_bits(const DropoutKeep& d, uint64_t first, int n) {
  uint32_t bits = 0;
  const uint64_t end = first + uint64_t(n);
#pragma unroll 1
  for (uint64_t g = first & ~uint64_t(3); g < end; g += 4) {
    uint32_t r[4];
    d.draw_group(r, g);
#pragma unroll
    for (int l = 0; l < 4; l++) {
      const uint64_t idx = g + uint64_t(l);
      if (idx >= first && idx < end && d.kept(r[l])) bits |= 1u << unsigned(idx - first);
    }
  }
  return bits;
}

// The 16 x (16 nfrag) fp32 tile at `out` (ld ldo) = rows of an accumulator row of fragments.
template <int n>
__device__ __forceinline__ void store_row(float* out, int ldo, const FragC (&acc)[n]) {
#pragma unroll
  for (int j = 0; j < n; j++) wmma::store_matrix_sync(out + 16 * j, acc[j], unsigned(ldo), wmma::mem_row_major);
}

}  // namespace attn_bf16
}  // namespace lshlab_cuda
