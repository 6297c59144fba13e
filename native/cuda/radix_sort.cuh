/*
 * radix_sort.cuh: the stable segmented LSD radix sort the LSH variants share (yoso_sort.cu sorts
 * hash codes, reformer_sort.cu buckets): S segments of n (key, idx) pairs, keys sorted ascending
 * on bits [0, bits), equal keys kept in input order, so everything downstream sums in a fixed
 * order. 8 bits per pass, each pass three kernels over tiles of 256 keys (flat grids, block =
 * segment * tiles + tile, so the segment count is not bound by grid y's 65535):
 *   hist    per (segment, tile) digit counts, counts[s][digit][tile]
 *   scan    per segment, exclusive prefix over (digit, tile): each tile's first slot per digit
 *   scatter each key to slot + keys of its digit in earlier warps of the tile + its rank among
 *           equal digits of its warp (warp multisplit: 8 ballots give the lanes with the same
 *           digit, popc of those below the lane is the rank): stable, no atomics.
 * Why not a table of lists per bucket: memory O(n) per segment for any key width, no atomics.
 * Memory: the caller's second pair of (key, idx) buffers and counts of S * kBins * tiles ints.
 */
#pragma once
#include "backend.h"

namespace lshlab_cuda {
namespace radix {

constexpr int kRadixBits = 8, kBins = 1 << kRadixBits;
constexpr int kThreads = 256, kWarps = kThreads / 32;  // one tile of keys per block

// Tiles of one segment of n keys, and the counts (ints) a sort of S segments needs.
inline int tiles_of(int64_t n) { return int((n + kThreads - 1) / kThreads); }
inline int64_t counts_size(int64_t S, int64_t n) { return S * kBins * tiles_of(n); }

namespace {

// Lanes of this warp whose digit equals this lane's (valid lanes only).
__device__ __forceinline__ unsigned digit_peers(uint32_t dig, bool valid) {
  unsigned peers = __ballot_sync(0xffffffffu, valid);
  for (int bit = 0; bit < kRadixBits; bit++) {
    const bool set = (dig >> bit) & 1u;
    const unsigned vote = __ballot_sync(0xffffffffu, set);
    peers &= set ? vote : ~vote;
  }
  return peers;
}

// Per warp of the tile, the count of each digit (wh), this lane's peers and rank among them.
__device__ __forceinline__ void tile_digits(int32_t (*wh)[kBins], uint32_t dig, bool valid,
                                            unsigned* peers, unsigned* rank) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int i = threadIdx.x; i < kWarps * kBins; i += kThreads) wh[i / kBins][i % kBins] = 0;
  __syncthreads();
  *peers = digit_peers(dig, valid);
  *rank = __popc(*peers & ((1u << lane) - 1u));
  if (valid && *rank == 0) wh[warp][dig] = __popc(*peers);
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads)
radix_hist_kernel(int32_t* counts, const uint32_t* keys, int n, int tiles, int shift) {
  __shared__ int32_t wh[kWarps][kBins];
  const unsigned sg = blockIdx.x / unsigned(tiles);
  const int64_t seg = sg;
  const int tile = int(blockIdx.x - sg * unsigned(tiles));
  const int e = tile * kThreads + threadIdx.x;
  const bool valid = e < n;
  const uint32_t dig = valid ? (keys[seg * n + e] >> shift) & (kBins - 1) : 0u;
  unsigned peers, rank;
  tile_digits(wh, dig, valid, &peers, &rank);
  int32_t c = 0;
  for (int w = 0; w < kWarps; w++) c += wh[w][threadIdx.x];
  counts[(seg * kBins + threadIdx.x) * tiles + tile] = c;
}

// One block per segment: exclusive prefix sum of its kBins * tiles counts, in place. Thread t
// owns a contiguous range; thread 0 scans the 256 range totals.
__global__ void __launch_bounds__(kThreads)
radix_scan_kernel(int32_t* counts, int64_t total) {
  __shared__ int32_t part[kThreads];
  int32_t* c = counts + blockIdx.x * total;
  const int64_t L = (total + kThreads - 1) / kThreads, lo = threadIdx.x * L;
  const int64_t hi = lo + L < total ? lo + L : total;
  int32_t sum = 0;
  for (int64_t i = lo; i < hi; i++) sum += c[i];
  part[threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t run = 0;
    for (int t = 0; t < kThreads; t++) {
      const int32_t v = part[t];
      part[t] = run;
      run += v;
    }
  }
  __syncthreads();
  int32_t run = part[threadIdx.x];
  for (int64_t i = lo; i < hi; i++) {
    const int32_t v = c[i];
    c[i] = run;
    run += v;
  }
}

__global__ void __launch_bounds__(kThreads)
radix_scatter_kernel(uint32_t* ko, uint32_t* io, const uint32_t* ki, const uint32_t* ii,
                     const int32_t* counts, int n, int tiles, int shift) {
  __shared__ int32_t wh[kWarps][kBins];
  const unsigned sg = blockIdx.x / unsigned(tiles);
  const int64_t seg = sg;
  const int tile = int(blockIdx.x - sg * unsigned(tiles));
  const int e = tile * kThreads + threadIdx.x, warp = threadIdx.x / 32;
  const bool valid = e < n;
  const uint32_t key = valid ? ki[seg * n + e] : 0u, dig = (key >> shift) & (kBins - 1);
  unsigned peers, rank;
  tile_digits(wh, dig, valid, &peers, &rank);
  if (!valid) return;
  int64_t pos = counts[(seg * kBins + dig) * tiles + tile] + rank;
  for (int w = 0; w < warp; w++) pos += wh[w][dig];
  ko[seg * n + pos] = key;
  io[seg * n + pos] = ii[seg * n + e];
}

// Sorts S segments of n pairs (*keys, *idx) on key bits [0, bits), ping-ponging with (kb, ib);
// on return *keys and *idx point at whichever pair holds the result.
inline int sort_segments(uint32_t** keys, uint32_t** idx, uint32_t* kb, uint32_t* ib, int32_t* counts,
                  int64_t S, int n, int bits) {
  uint32_t *ka = *keys, *ia = *idx;
  const int tiles = tiles_of(n);
  if (S * tiles == 0) return 0;  // nothing to sort
  if (S * tiles > 0x7fffffff) return fail(1, "radix sort", "grid of more than 2^31 - 1 blocks");
  const unsigned grid = unsigned(S * tiles);
  for (int shift = 0; shift < bits; shift += kRadixBits) {
    radix_hist_kernel<<<grid, kThreads, 0, stream()>>>(counts, ka, n, tiles, shift);
    if (int rc = check_launch("radix_hist_kernel")) return rc;
    radix_scan_kernel<<<unsigned(S), kThreads, 0, stream()>>>(counts, int64_t(kBins) * tiles);
    if (int rc = check_launch("radix_scan_kernel")) return rc;
    radix_scatter_kernel<<<grid, kThreads, 0, stream()>>>(kb, ib, ka, ia, counts, n, tiles, shift);
    if (int rc = check_launch("radix_scatter_kernel")) return rc;
    uint32_t* t = ka; ka = kb; kb = t;
    t = ia; ia = ib; ib = t;
  }
  *keys = ka;
  *idx = ia;
  return 0;
}

}  // namespace
}  // namespace radix
}  // namespace lshlab_cuda
