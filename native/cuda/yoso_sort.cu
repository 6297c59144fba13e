/*
 * yoso_sort.cu: stable sort of hash codes per segment (b, h, hash), the bucket index of YOSO.
 *   in : codes (B,H,m,T) of the chunk's hashes [h0, h0 + mc), mask (B,T)
 *   out: keys (S,n) sorted ascending, idx (S,n) the token of each sorted key; S = B*H*mc
 *        segments, key = code, or 2^tau for padding (so padding sorts last and never matches
 *        a real code). Equal codes keep token order, so a bucket's members are summed in the
 *        same (index) order as the CPU's scatter loop.
 * Why a sort and not a 2^tau table of lists: memory O(n) per segment for any tau (a lookup is a
 * binary search), and no atomics, so everything downstream is deterministic.
 * LSD radix sort, 8 bits per pass (tau + 1 bits: 2 passes for tau <= 15, 3 up to 23), each pass
 * three kernels over tiles of 256 keys:
 *   hist    per (segment, tile) digit counts, counts[s][digit][tile]
 *   scan    per segment, exclusive prefix over (digit, tile): each tile's first slot per digit
 *   scatter each key to slot + keys of its digit in earlier warps of the tile + its rank among
 *           equal digits of its warp (warp multisplit: 8 ballots give the lanes with the same
 *           digit, popc of those below the lane is the rank): stable, no atomics.
 */
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
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

__global__ void sort_load_kernel(uint32_t* keys, uint32_t* idx, const int32_t* codes,
                                 const int32_t* mask, Shape s, int mc, int h0) {
  const int64_t g = blockIdx.x * int64_t(kThreads) + threadIdx.x, n = s.T;
  if (g >= s.BH() * mc * n) return;
  const int64_t seg = g / n, bh = seg / mc;
  const int t = int(g % n), u = int(seg % mc), b = int(bh / s.H);
  const int32_t code = codes[(bh * s.m + h0 + u) * n + t];
  keys[g] = token(mask, s, b, t) ? uint32_t(code) : (1u << s.tau);
  idx[g] = uint32_t(t);
}

// Warp multisplit of one tile: per warp, the count of each digit (written by its first lane).
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
sort_hist_kernel(int32_t* counts, const uint32_t* keys, int n, int tiles, int shift) {
  __shared__ int32_t wh[kWarps][kBins];
  const int64_t seg = blockIdx.y;
  const int e = blockIdx.x * kThreads + threadIdx.x;
  const bool valid = e < n;
  const uint32_t dig = valid ? (keys[seg * n + e] >> shift) & (kBins - 1) : 0u;
  unsigned peers, rank;
  tile_digits(wh, dig, valid, &peers, &rank);
  int32_t c = 0;
  for (int w = 0; w < kWarps; w++) c += wh[w][threadIdx.x];
  counts[(seg * kBins + threadIdx.x) * tiles + blockIdx.x] = c;
}

// One block per segment: exclusive prefix sum of its kBins * tiles counts, in place. Thread t
// owns a contiguous range; thread 0 scans the 256 range totals.
__global__ void __launch_bounds__(kThreads)
sort_scan_kernel(int32_t* counts, int64_t total) {
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
sort_scatter_kernel(uint32_t* ko, uint32_t* io, const uint32_t* ki, const uint32_t* ii,
                    const int32_t* counts, int n, int tiles, int shift) {
  __shared__ int32_t wh[kWarps][kBins];
  const int64_t seg = blockIdx.y;
  const int e = blockIdx.x * kThreads + threadIdx.x, warp = threadIdx.x / 32;
  const bool valid = e < n;
  const uint32_t key = valid ? ki[seg * n + e] : 0u, dig = (key >> shift) & (kBins - 1);
  unsigned peers, rank;
  tile_digits(wh, dig, valid, &peers, &rank);
  if (!valid) return;
  int64_t pos = counts[(seg * kBins + dig) * tiles + blockIdx.x] + rank;
  for (int w = 0; w < warp; w++) pos += wh[w][dig];
  ko[seg * n + pos] = key;
  io[seg * n + pos] = ii[seg * n + e];
}

}  // namespace

int sort_codes(Sorted* out, const int32_t* codes, const int32_t* mask, const Shape& s,
               const Plan& p, int h0, uint32_t* ka, uint32_t* ia, uint32_t* kb, uint32_t* ib,
               int32_t* counts) {
  const int mc = s.m - h0 < p.mc ? s.m - h0 : p.mc;
  const int64_t S = s.BH() * mc, n = s.T;
  sort_load_kernel<<<unsigned(ceil_div(S * n, kThreads)), kThreads, 0, stream()>>>(
      ka, ia, codes, mask, s, mc, h0);
  if (int rc = check_launch("sort_load_kernel")) return rc;
  const dim3 grid(unsigned(p.tiles), unsigned(S));
  for (int shift = 0; shift < s.tau + 1; shift += kRadixBits) {
    sort_hist_kernel<<<grid, kThreads, 0, stream()>>>(counts, ka, int(n), int(p.tiles), shift);
    if (int rc = check_launch("sort_hist_kernel")) return rc;
    sort_scan_kernel<<<unsigned(S), kThreads, 0, stream()>>>(counts, kBins * p.tiles);
    if (int rc = check_launch("sort_scan_kernel")) return rc;
    sort_scatter_kernel<<<grid, kThreads, 0, stream()>>>(kb, ib, ka, ia, counts, int(n),
                                                         int(p.tiles), shift);
    if (int rc = check_launch("sort_scatter_kernel")) return rc;
    uint32_t* t = ka; ka = kb; kb = t;
    t = ia; ia = ib; ib = t;
  }
  out->keys = ka;
  out->idx = ia;
  return 0;
}

}  // namespace yoso
}  // namespace lshlab_cuda
