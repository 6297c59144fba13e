/*
 * yoso_sort.cu: stable sort of hash codes per segment (b, h, hash), the bucket index of YOSO.
 *   in : codes (B,H,m,T) of the chunk's heads [bh0, bh0 + nb) and hashes [h0, h0 + mc), mask (B,T)
 *   out: keys (S,n) sorted ascending, idx (S,n) the token of each sorted key; S = nb*mc
 *        segments (yoso_plan.cuh's order), key = code, or 2^tau for padding (so padding sorts
 *        last and never matches a real code). Equal codes keep token order, so a bucket's members are summed in the
 *        same (index) order as the CPU's scatter loop.
 * Why a sort and not a 2^tau table of lists: memory O(n) per segment for any tau (a lookup is a
 * binary search), and no atomics, so everything downstream is deterministic.
 * The sort is radix_sort.cuh's (stable LSD, 8 bits per pass over tau + 1 bits: 2 passes for
 * tau <= 15, 3 up to 23); this file loads the keys.
 */
#include "radix_sort.cuh"
#include "yoso_common.cuh"

namespace lshlab_cuda {
namespace yoso {
namespace {

__global__ void sort_load_kernel(uint32_t* keys, uint32_t* idx, const int32_t* codes,
                                 const int32_t* mask, Shape s, Seg c) {
  const int64_t g = blockIdx.x * int64_t(kThreads) + threadIdx.x, n = s.T;
  if (g >= c.S() * n) return;
  const int64_t seg = g / n;
  const int t = int(g % n), u = int(seg % c.mc), bh = c.bh0 + int(seg / c.mc), b = bh / s.H;
  const int32_t code = codes[code_at(bh, s.m, c.h0 + u, s.T, t)];
  keys[g] = token(mask, s, b, t) ? uint32_t(code) : (1u << s.tau);
  idx[g] = uint32_t(t);
}

}  // namespace

int sort_codes(Sorted* out, const int32_t* codes, const int32_t* mask, const Shape& s,
               const Seg& c, uint32_t* ka, uint32_t* ia, uint32_t* kb, uint32_t* ib,
               int32_t* counts) {
  unsigned grid = 0;
  if (int rc = grid_of(&grid, ceil_div(c.S() * s.T, kThreads), "sort_load_kernel")) return rc;
  sort_load_kernel<<<grid, kThreads, 0, stream()>>>(ka, ia, codes, mask, s, c);
  if (int rc = check_launch("sort_load_kernel")) return rc;
  if (int rc = radix::sort_segments(&ka, &ia, kb, ib, counts, c.S(), s.T, s.tau + 1)) return rc;
  out->keys = ka;
  out->idx = ia;
  return 0;
}

}  // namespace yoso
}  // namespace lshlab_cuda
