/*
 * yoso_sort.cu: stable sort of hash codes per segment (b, h, hash), the bucket index of YOSO.
 *   in : codes (B,H,m,T) of the chunk's hashes [h0, h0 + mc), mask (B,T)
 *   out: keys (S,n) sorted ascending, idx (S,n) the token of each sorted key; S = B*H*mc
 *        segments, key = code, or 2^tau for padding (so padding sorts last and never matches
 *        a real code). Equal codes keep token order, so a bucket's members are summed in the
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
                                 const int32_t* mask, Shape s, int mc, int h0) {
  const int64_t g = blockIdx.x * int64_t(kThreads) + threadIdx.x, n = s.T;
  if (g >= s.BH() * mc * n) return;
  const int64_t seg = g / n, bh = seg / mc;
  const int t = int(g % n), u = int(seg % mc), b = int(bh / s.H);
  const int32_t code = codes[(bh * s.m + h0 + u) * n + t];
  keys[g] = token(mask, s, b, t) ? uint32_t(code) : (1u << s.tau);
  idx[g] = uint32_t(t);
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
  if (int rc = radix::sort_segments(&ka, &ia, kb, ib, counts, S, int(n), s.tau + 1)) return rc;
  out->keys = ka;
  out->idx = ia;
  return 0;
}

}  // namespace yoso
}  // namespace lshlab_cuda
